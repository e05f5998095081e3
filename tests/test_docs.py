"""The README and docs/: short, true to the code, their commands runnable, their measurements generated."""
import json
import re
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import ROOT
from course_tools import lessons, measurements

DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md", *DOCS]
# Pages this suite keeps: docs/students.md is also the website's home page, tested with the website.
OWN_PAGES = [page for page in PAGES if page.name != "students.md"]
FENCED = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
# A figure that a run changes: a time, a size, a share, a speed-up.
RUN_FIGURE = re.compile(r"\b\d+(\.\d+)?\s?(ms|s|sec|seconds?|min|minutes?|h|hours?|[KMGT]i?B|%|x)(?![\w.])"
                        r"|\b\d+(\.\d+)? times\b", re.I)
MACHINE = {"CPU": "Test CPU", "cores": "2"}
NOW = datetime(2030, 1, 2, 3, 4, tzinfo=timezone.utc)


def page_commands(page: Path) -> list[list[str]]:
    """The commands of a page's fenced shell blocks that name make, course_tools or dask, as argument lists."""
    found = []
    for language, block in FENCED.findall(page.read_text(encoding="utf-8")):
        if language not in ("bash", "sh", "shell"):
            continue
        for line in block.splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before the command
                    words.pop(0)
                if words and (words[0] == "make" or words[0].endswith("/dask")
                              or any(word.startswith("course_tools") for word in words)):
                    found.append(words)
    return found


def help_text(arguments: list[str]) -> str:
    result = subprocess.run(arguments, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{' '.join(arguments)}: {result.stderr[-2000:]}"
    return result.stdout


def test_the_readme_is_short_and_states_no_figure_a_run_changes():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 100
    figures = [match.group(0) for match in RUN_FIGURE.finditer(readme)]
    assert not figures, f"README.md states run figures {figures}: they belong in docs/measurements.md"


def test_the_readme_opens_with_the_two_commands_and_links_every_reader():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = FENCED.search(readme).group(2)
    assert [line.split("#")[0].strip() for line in first_block.splitlines()] == ["make course", "make test"]
    for page in ("docs/students.md", "docs/instructors.md", "docs/authors.md", "docs/design.md",
                 "docs/measurements.md", "CHANGELOG.md", "CONTRIBUTING.md"):
        assert f"]({page})" in readme, page
    for need in ("bubblewrap", "npm ci", "Chromium"):  # what make test installs or asks for
        assert need in readme, need


def test_the_lessons_table_names_every_lesson_and_the_readme_lists_it():
    solutions = [path.stem for path in sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))]
    assert [lesson.file for lesson in lessons.LESSONS] == solutions
    assert [lesson.number for lesson in lessons.LESSONS] == list(range(1, len(solutions) + 1))
    assert all((ROOT / lesson.notebook).is_file() and lesson.budget_min > 0 for lesson in lessons.LESSONS)
    listed = re.findall(r"^(\d+)\. \[([^\]]+)\]\(([^)]+)\): (.+)\.$", (ROOT / "README.md").read_text(), re.M)
    assert listed == [(str(lesson.number), lesson.title, lesson.notebook, lesson.topic) for lesson in lessons.LESSONS]


def test_no_code_reads_the_readme():
    """The README is for people: tools read course_tools/lessons.py and docs/, never its headings or tables."""
    code = [*(ROOT / "course_tools").rglob("*.py"), *(ROOT / "benchmarks").glob("*"), *(ROOT / ".ci").glob("*"),
            ROOT / "model_utils.py", ROOT / "Makefile",
            *(path for path in (ROOT / "tests").glob("*.py") if path.name != "test_docs.py")]
    reading = re.compile(r"\b(ROOT|root)\s*/\s*[\"']README\.md|(\bcat|<|open\(|read_text\()\s*[\"']?(\./)?README\.md")
    readers = [path.relative_to(ROOT).as_posix() for path in code
               if path.is_file() and reading.search(path.read_text(encoding="utf-8", errors="replace"))]
    assert not readers, f"these read the main README.md: {readers}"


@pytest.mark.parametrize("page", OWN_PAGES, ids=lambda page: page.relative_to(ROOT).as_posix())
def test_every_relative_link_of_a_page_resolves(page):
    text = page.read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if not re.match(r"[a-z]+:", target):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_every_make_command_in_the_docs_dry_runs():
    commands = [words for page in PAGES for words in page_commands(page) if words[0] == "make"]
    assert len(commands) >= 15, commands
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for words in commands:
        result = subprocess.run(["make", "-n", *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{' '.join(words)}: {result.stderr[-2000:]}"
        for variable in (word.split("=")[0] for word in words[1:] if "=" in word):
            assert f"$({variable})" in makefile, f"{' '.join(words)}: the Makefile does not read {variable}"
    for page in PAGES:  # `make target ...` written inline in the prose and tables
        for target in re.findall(r"`make ([a-z][\w-]*)", page.read_text(encoding="utf-8")):
            assert re.search(rf"^{target}:", makefile, re.M), f"{page.name}: make {target} is no Makefile target"


def test_every_course_tools_and_dask_command_in_the_docs_exists_with_its_options():
    commands = [words for page in PAGES for words in page_commands(page) if words[0] != "make"]
    assert len(commands) >= 5, commands
    helps = {}
    for words in commands:
        if words[0].endswith("/dask"):
            arguments = [str(Path(sys.executable).with_name("dask")), words[1], "--help"]
        else:
            module = words[words.index("-m") + 1]
            rest = words[words.index("-m") + 2:]
            subcommand = [rest[0]] if module == "course_tools" else []
            arguments = [sys.executable, "-m", module, *subcommand, "--help"]
        key = tuple(arguments)
        helps[key] = helps.get(key) or help_text(arguments)
        for option in (word.split("=")[0] for word in words if word.startswith("--")):
            assert re.search(rf"{option}\b", helps[key]), f"{' '.join(words)}: {option} is not an option"


def test_every_python_example_in_the_docs_is_valid_python():
    blocks = [(page, block) for page in OWN_PAGES for language, block in FENCED.findall(page.read_text())
              if language == "python"]
    assert blocks
    for page, block in blocks:
        compile(block, str(page), "exec")


def fake_build(folder: Path, over_budget: str | None = None) -> Path:
    """A build/ folder with a full run, a smoke run and both benchmarks' outputs, as the commands write them."""
    def report(profile, seconds):
        return {"profile": profile, "seconds": seconds * len(lessons.LESSONS), "notebooks": {
            lesson.file: {"status": "ok", "seconds": lesson.budget_min * 60 * (2 if lesson.file == over_budget else 0.5)
                          if profile == "full" else seconds, "error": None, "metrics": {"test_mae": 1.25},
                          "slowest_cells": [["cell-a", 12.0]]} for lesson in lessons.LESSONS}}
    (folder / "smoke").mkdir(parents=True)
    (folder / "benchmarks").mkdir()
    (folder / "report.json").write_text(json.dumps(report("full", 100.0)))
    (folder / "smoke" / "report.json").write_text(json.dumps(report("smoke", 30.0)))
    for name in measurements.BENCHMARKS:
        (folder / "benchmarks" / name).write_text(f"{name}: the sandbox adds +3.0%\n")
    (folder / "benchmarks" / "grading_resources.md").write_text("| lesson | score |\n|---|---:|\n| 01 | 5 / 5 |\n")
    return folder


def form(page: str) -> list[str]:
    """What stays when the measurements change: the title, the generator's note and every heading."""
    return [line for line in page.splitlines() if line.startswith(("#", "<!--"))]


def test_measurements_keep_one_form_with_or_without_runs(tmp_path):
    empty = measurements.render(tmp_path / "empty", MACHINE, NOW)
    full = measurements.render(fake_build(tmp_path / "build", over_budget="02_lstm"), MACHINE, NOW)
    assert measurements.render(tmp_path / "build", MACHINE, NOW) == full  # the same runs, the same page
    assert form(full) == form(empty)
    assert "Written 2030-01-02 03:04 UTC" in full and "| CPU | Test CPU |" in full
    assert empty.count("Not measured") == 3 + len(measurements.BENCHMARKS)
    assert "Not measured" not in full
    full_run = full.split("## Smoke run")[0]
    rows = {line.split(" | ")[0].strip("| "): line for line in full_run.splitlines() if "| ok |" in line}
    assert rows["02_lstm"].split(" | ")[4] == "no" and rows["01_rnn_basics"].split(" | ")[4] == "yes"
    assert "| 03_gru | test_mae | 1.25 |" in full and "| 01 | 5 / 5 |" in full and "sandbox_overhead.txt: the sandbox adds +3.0%" in full


def test_the_committed_measurements_page_is_the_generators(tmp_path):
    committed = (ROOT / "docs" / "measurements.md").read_text(encoding="utf-8")
    generated = measurements.render(fake_build(tmp_path / "build"), MACHINE, NOW)
    assert committed.startswith("# Measurements\n\n<!-- Written by `make measurements`")
    assert form(committed) == form(generated)
    machine_rows = [line.split(" | ")[0].strip("| ") for line in committed.split("## Machine")[1].split("##")[0]
                    .splitlines() if line.startswith("| ") and not line.startswith("| |")]
    assert machine_rows == list(measurements.machine())


def test_make_measurements_writes_the_page(tmp_path):
    out = tmp_path / "measurements.md"
    assert measurements.main(["--build", str(fake_build(tmp_path / "build")), "--out", str(out)]) == 0
    assert "| vector instructions |" in out.read_text() and "## Full run of every lesson" in out.read_text()
    assert "measurements:" in (ROOT / "Makefile").read_text()
