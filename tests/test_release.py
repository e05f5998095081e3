"""The student release: complete, committed, pointing at its own address, and free of answers."""
import json
import re
import subprocess

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from conftest import ROOT
from course_tools import cli, config, lessons, notebook, release

pytestmark = pytest.mark.xdist_group("release")  # one release for the module
REPO, BRANCH = "a-teacher/seq-course-students", "spring"


@pytest.fixture(scope="session")  # once per xdist worker, however its tests are interleaved
def released(tmp_path_factory):
    out = tmp_path_factory.mktemp("release") / "students"
    assert cli.main(["release", str(out), "--repo", REPO, "--branch", BRANCH]) == 0
    return out


def test_the_release_is_a_committed_repository_on_its_branch(released):
    def git(*args):
        return subprocess.run(["git", "-C", str(released), *args], capture_output=True, text=True, check=True).stdout

    assert git("branch", "--show-current").strip() == BRANCH
    assert git("status", "--porcelain") == ""
    tracked = set(git("ls-files").split())
    notebooks = {f"notebooks/{path.name}" for path in (ROOT / "solutions").glob("[0-9][0-9]_*.ipynb")}
    site = {path.relative_to(released).as_posix() for path in (released / "site").rglob("*") if path.is_file()}
    assert {"site/index.html", "site/01_rnn_basics.html", "site/notebooks/01_rnn_basics.ipynb"} <= site
    assert tracked == (set(release.RELEASED_FILES) | notebooks | site
                       | {"README.md", ".gitignore", ".github/workflows/pages.yml", "data/README.md"})


def test_students_are_told_how_to_hand_in_and_what_each_lesson_needs(released):
    readme = (released / "README.md").read_text()
    for told in ("File > Download > Download .ipynb", "do not edit the setup cell", "leave `PROFILE = \"full\"`",
                 "check cells after each exercise", "Kaggle account"):
        assert told in readme, told
    rows = [line for line in readme.splitlines() if "colab-badge.svg" in line]
    assert len(rows) == len(lessons.LESSONS)
    for row, lesson in zip(rows, lessons.LESSONS):  # in order, each from the lessons' table
        assert row.startswith(f"| {lesson.number}. [{lesson.title}]({lesson.notebook}) |"), row
        assert row.endswith(f"| {lesson.data} | up to {lesson.budget_min} min | {lesson.colab} |"), row
    assert "not measured" not in readme
    data = (released / "data" / "README.md").read_text()
    assert "nlp-getting-started.zip" in data and "COURSE_DATA_DIR" in data and "CI" not in data.split()
    assert "build/" in (released / ".gitignore").read_text().split()


def test_no_solution_code_or_hidden_test_reaches_the_release(released):
    solutions = sorted((ROOT / "solutions").glob("[0-9][0-9]_*.ipynb"))
    visible = (ROOT / "model_utils.py").read_text() + "".join(  # what students may see: lines shown anywhere
        cell.source for path in solutions for cell in notebook.make_student(path).cells)
    contents = {path: path.read_bytes() for path in released.rglob("*")  # images and fonts too, as bytes
                if path.is_file() and ".git" not in path.relative_to(released).parts}
    for solution in solutions:
        secrets = set().union(*(notebook.secret_lines(cell) for cell in notebook.read(solution).cells))
        secrets = {line for line in secrets if len(line) > 12 and line not in visible}
        assert len(secrets) > 10, f"{solution.name}: too few answer lines to scan"
        for path, content in contents.items():
            leaked = [line for line in secrets if line.encode() in content]
            assert not leaked, f"{path.relative_to(released)} holds answers of {solution.name}: {leaked[:3]}"
    for path, content in contents.items():
        for marker in (notebook.BEGIN_SOLUTION, notebook.BEGIN_HIDDEN, '"grade_id"' + ": " + '"solution'):
            assert marker.encode() not in content, f"{path.relative_to(released)}: {marker}"


def test_badges_and_setup_cell_point_at_the_published_repository(released):
    for path in sorted((released / "notebooks").glob("*.ipynb")):
        nb = notebook.read(path)
        links = {link for c in nb.cells if c.cell_type == "markdown" for link in notebook.COLAB_LINK.findall(c.source)}
        assert links == {config.colab_url(f"notebooks/{path.name}", REPO, BRANCH)}, path.name
        assert notebook.setup_cell(nb).source == notebook.setup_source(config.repo_url(REPO), BRANCH)
        assert config.GITHUB_REPO not in path.read_text()
    readme = (released / "README.md").read_text()
    assert config.colab_url("notebooks/01_rnn_basics.ipynb", REPO, BRANCH) in readme
    assert json.loads((released / "data" / "manifest.json").read_text()) == json.loads(
        (ROOT / "data" / "manifest.json").read_text())


def test_a_lesson_opened_alone_fetches_the_release(released, tmp_path, monkeypatch):
    """A student notebook copied out of everything, its setup cell cloning the release's branch."""
    published = tmp_path / "published"  # the release pushed where another branch is the default
    subprocess.run(["git", "clone", "--quiet", str(released), str(published)], check=True)
    subprocess.run(["git", "-C", str(published), "checkout", "--quiet", "--orphan", "unrelated"], check=True)
    subprocess.run(["git", "-C", str(published), "rm", "-r", "--quiet", "--cached", "."], check=True)
    subprocess.run(["git", "-C", str(published), "-c", "user.name=t", "-c", "user.email=t@t", "commit",
                    "--quiet", "--allow-empty", "--message", "not the course"], check=True)
    nb = notebook.read(released / "notebooks" / "01_rnn_basics.ipynb")
    nb = new_notebook(cells=[notebook.setup_cell(nb), new_code_cell(
        "print(mu.__file__)\nprint(len(mu.load_monthly_sunspots()))")])
    monkeypatch.delenv("PYTHONPATH")
    monkeypatch.setenv("COURSE_REPO", str(published))
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.outputs)
    assert str(tmp_path / "sequence-models-course" / "model_utils.py") in printed
    assert "3120" in printed and not (tmp_path / "sequence-models-course" / "solutions").exists()


def test_release_refuses_a_folder_that_holds_anything(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert cli.main(["release", str(tmp_path)]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_release_notebooks_draw_their_diagrams_with_code_and_link_no_image(released):
    """Colab ignores markdown attachments and relative image paths: every picture is drawn by a code cell."""
    for path in sorted((released / "notebooks").glob("*.ipynb")):
        nb = notebook.read(path)
        images = [c.id for c in nb.cells if c.get("attachments") or c.cell_type == "markdown"
                  and re.search(r"!\[[^\]]*\]\((?!https://colab\.research\.google\.com/assets/colab-badge\.svg)|<img", c.source)]
        assert not images, f"{path.name}: cells {images} show an image file (only the Colab badge may)"
    drawing = [path.name for path in sorted((released / "notebooks").glob("*.ipynb"))
               if "mu.draw_cell(" in path.read_text(encoding="utf-8")]
    assert len(drawing) >= 5, f"lessons 01-04 and 06 draw their cells: {drawing}"
