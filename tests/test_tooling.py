"""course_tools: student notebooks, repository checks, the course runner and its report."""
import json
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from conftest import ROOT, all_gone, interrupt_cli
from course_tools import cli, config, lessons, notebook, runner

GRADED = {"nbgrader": {"grade": True, "grade_id": "square-check", "points": 2, "locked": True,
                       "solution": False, "schema_version": 3}}


def lesson(cells):
    """A minimal lesson: badge, setup cell, parameters cell, then `cells`."""
    nb = new_notebook(cells=[
        new_markdown_cell(f"# Demo\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                          f"({config.colab_url('solutions/00_demo.ipynb')})"),
        new_code_cell(notebook.SETUP_SOURCE),
        new_code_cell('PROFILE = "full"', metadata={"tags": ["parameters"]}),
        *cells,
    ])
    return notebook.normalize(nb, keep_outputs=True)


def bare(cells):
    """A parameters cell, then `cells`: no setup cell, so its kernel does not import TensorFlow."""
    nb = new_notebook(cells=[new_code_cell('PROFILE = "full"', metadata={"tags": ["parameters"]}), *cells])
    return notebook.normalize(nb, keep_outputs=True)


def exercise_cells():
    solution = new_code_cell(
        "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION", id="square")
    check = new_code_cell(
        "assert square(3) == 9, 'square(3) should be 9'\n### BEGIN HIDDEN TESTS\nassert square(-2) == 4\n"
        "### END HIDDEN TESTS", id="square-check", metadata=GRADED)
    return [solution, check]


def test_student_copy_stubs_solutions_and_removes_hidden_tests(tmp_path):
    nb = lesson(exercise_cells())
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="out")]
    nb.cells[3].execution_count = 3
    notebook.write(nb, tmp_path / "00_demo.ipynb")
    student = notebook.make_student(tmp_path / "00_demo.ipynb")
    assert student.cells[3].source == "def square(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    assert student.cells[4].source == "assert square(3) == 9, 'square(3) should be 9'"
    assert student.cells[4].id == "square-check"
    assert student.cells[4].metadata == {**GRADED, "editable": False, "deletable": False}
    assert all(not c.get("outputs") and not c.get("execution_count") for c in student.cells if c.cell_type == "code")
    assert config.colab_url("notebooks/00_demo.ipynb") in student.cells[0].source
    assert "solutions/" not in student.cells[0].source


@pytest.mark.parametrize("source, message", [
    ("### BEGIN SOLUTION\nx = 1", "never closed"),
    ("x = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_unbalanced_markers_are_reported_with_their_cell(tmp_path, source, message):
    notebook.write(lesson([new_code_cell(source, id="broken")]), tmp_path / "00_demo.ipynb")
    with pytest.raises(notebook.NotebookError, match=f"00_demo.ipynb cell 3 \\(broken\\).*{message}"):
        notebook.make_student(tmp_path / "00_demo.ipynb")


def test_markdown_answers_are_stubbed_too(tmp_path):
    cell = new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION")
    notebook.write(lesson([cell]), tmp_path / "00_demo.ipynb")
    assert notebook.make_student(tmp_path / "00_demo.ipynb").cells[3].source == "Why?\nYOUR ANSWER HERE"


def test_the_repository_passes_its_own_check():
    assert notebook.check_repository() == []


@pytest.fixture
def repo_copy(tmp_path):
    for folder in ("solutions", "notebooks"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def first_lesson(root, folder):
    return sorted((root / folder).glob("*.ipynb"))[0]


def test_check_finds_a_student_notebook_out_of_date(repo_copy):
    path = first_lesson(repo_copy, "solutions")
    nb = notebook.read(path)
    nb.cells.append(new_markdown_cell("A new paragraph."))
    notebook.write(notebook.normalize(nb, keep_outputs=True), path)
    assert any("out of date" in p for p in notebook.check_repository(repo_copy))


def test_check_finds_outputs_and_solutions_in_a_student_notebook(repo_copy):
    path = first_lesson(repo_copy, "notebooks")
    shutil.copy(first_lesson(repo_copy, "solutions"), path)
    problems = notebook.check_repository(repo_copy)
    assert any(path.name in p and "out of date" in p for p in problems)
    assert any("Colab link" in p for p in problems)


def test_check_finds_a_wrong_badge_a_changed_setup_cell_and_metadata(repo_copy):
    path = first_lesson(repo_copy, "solutions")
    nb = notebook.read(path)
    nb.cells[0].source = nb.cells[0].source.replace("solutions/", "notebooks/")
    notebook.setup_cell(nb).source += "\nprint('changed')"
    nb.metadata["widgets"] = {"state": {}}
    notebook.write(nb, path)
    problems = notebook.check_repository(repo_copy)
    assert any("Colab link" in p and "solutions/" in p for p in problems)
    assert any("setup cell" in p for p in problems)
    assert any("not normalised" in p for p in problems)


def test_check_finds_tensorflow_log_lines_in_outputs(repo_copy):
    path = first_lesson(repo_copy, "solutions")
    nb = notebook.read(path)
    notebook.setup_cell(nb).outputs = [nbformat.v4.new_output("stream", name="stderr", text=(
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "E0000 00:00:1795318702.042655    6738 util.cc:131] oneDNN supports DT_BOOL only on platforms with AVX-512.\n"))]
    notebook.write(nb, path)
    assert any("1 TensorFlow log lines" in p and "util.cc:131]" in p for p in notebook.check_repository(repo_copy))


def test_check_enforces_the_size_budget(repo_copy, monkeypatch):
    monkeypatch.setattr(config, "SOLUTION_BUDGET", 1000)
    assert any("over the budget" in p for p in notebook.check_repository(repo_copy))


def test_setup_cell_is_identical_in_every_notebook():
    paths = sorted(ROOT.glob("*/[0-9][0-9]_*.ipynb"))
    every_lesson = {ROOT / folder / f"{lesson.file}.ipynb" for lesson in lessons.LESSONS
                    for folder in ("solutions", "notebooks")}
    assert lessons.LESSONS and every_lesson <= set(paths), f"missing: {sorted(every_lesson - set(paths))}"
    for path in paths:
        assert notebook.setup_cell(notebook.read(path)).source == notebook.SETUP_SOURCE, path


def test_a_grading_worker_starts_without_building_the_iri_grammar():
    """jsonschema (through nbformat) would build rfc3987_syntax's grammar, 1.7 s in every worker process."""
    loaded = subprocess.run([sys.executable, "-c", "import sys, course_tools.worker\n"
                             "print(sys.modules.get('rfc3987_syntax') is not None)"],
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "False"


def test_only_missing_packages_are_installed(tmp_path):
    from course_tools.install_missing import missing_requirements

    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        "# pins\nnumpy==1.0\nno-such-package-here==2.0\n"
        'tensorflow-cpu==2.21.0; platform_machine == "x86_64"\ntensorflow==2.21.0; platform_machine != "x86_64"\n'
        'other-missing==1.0; sys_platform == "win32"\nlesson-only-package==3.0  # lesson 09 only\n')
    assert missing_requirements(requirements) == ["no-such-package-here==2.0",
                                                  'other-missing==1.0; sys_platform == "win32"']
    assert missing_requirements(requirements, ("lesson-only-package",)) == ["lesson-only-package==3.0"]
    with pytest.raises(ValueError, match="nonexistent: not pinned"):
        missing_requirements(requirements, ("nonexistent",))


def test_an_install_cut_off_by_the_network_is_tried_again(monkeypatch, capsys):
    from course_tools import install_missing

    codes = iter([2, 0])
    calls = []
    monkeypatch.setattr(install_missing, "missing_requirements", lambda *_: ["gensim==4.4.0"])
    monkeypatch.setattr(install_missing.subprocess, "run",
                        lambda command: calls.append(command) or subprocess.CompletedProcess(command, next(codes)))
    assert install_missing.main(["gensim"]) == 0
    assert len(calls) == 2 and calls[0][-1] == "gensim==4.4.0"
    assert "trying again (2 of 3)" in capsys.readouterr().out
    codes = iter([1, 1, 1])
    assert install_missing.main(["gensim"]) == 1 and len(calls) == 5


def write_lesson(folder, name, cells):
    folder.mkdir(exist_ok=True)
    notebook.write(lesson(cells), folder / name)


@pytest.mark.kernel
def test_runner_reports_status_time_metrics_and_errors(tmp_path):
    solutions = tmp_path / "solutions"
    write_lesson(solutions, "01_ok.ipynb", [new_code_cell(
        "mu.record_metrics(smoke_flag=float(PROFILE == 'smoke'))\nmu.record_metrics(other=2)")])
    notebook.write(bare([new_code_cell("raise ValueError('broken on purpose')", id="broken")]), solutions / "02_fails.ipynb")
    out = tmp_path / "out"
    report = runner.run_course(runner.select([], solutions), "smoke", out, tmp_path, timeout=600)
    assert report["profile"] == "smoke" and report["seconds"] > 0
    results = report["notebooks"]
    assert list(results) == ["01_ok", "02_fails"]
    assert results["01_ok"]["status"] == "ok" and results["01_ok"]["error"] is None
    assert results["01_ok"]["metrics"] == {"smoke_flag": 1.0, "other": 2.0}
    assert results["02_fails"]["status"] == "failed"
    assert results["02_fails"]["error"] == "cell broken: ValueError: broken on purpose"
    # setup, parameters, injected parameters and the metrics cell; the failing notebook stops at its broken cell
    assert len(results["01_ok"]["cell_seconds"]) == 4
    timed = results["02_fails"]["cell_seconds"]
    assert len(timed) == 3 and timed[-1]["cell"] == "broken" and all(cell["seconds"] >= 0 for cell in timed)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    assert (out / "01_ok.ipynb").exists()
    table = (tmp_path / "report.md").read_text()
    assert "| 02_fails | failed: cell broken: ValueError: broken on purpose |" in table
    assert "| broken | `raise ValueError('broken on purpose')` |" in table
    assert runner.failed(report) == ["02_fails"]


def timed_cell(cell_id, source, start, seconds):
    """A code cell as nbclient leaves it when it records timing: started `start` s, replied `seconds` s later."""
    began = datetime(2026, 1, 5, 9, 0) + timedelta(seconds=start)
    replied = began + timedelta(seconds=seconds)
    moments = {"iopub.status.busy": began, "iopub.execute_input": began, "shell.execute_reply": replied,
               "iopub.status.idle": replied + timedelta(seconds=0.01)}
    return new_code_cell(source, id=cell_id, metadata={"execution": {
        key: moment.isoformat() + "Z" for key, moment in moments.items()}})  # as nbclient writes them


def executed_lesson():
    """An executed notebook of five timed cells, a markdown cell and a cell that never ran (after an error)."""
    return new_notebook(cells=[
        timed_cell("setup", "import model_utils as mu", 0, 7.5),
        new_markdown_cell("## Training"),
        timed_cell("fit", "\n# the long one\nhistory = model.fit(x, y, epochs=EPOCHS)", 8, 120.4),
        timed_cell("table", "print(f'{a | b}') `quoted`", 130, 0.5),
        timed_cell("plot", "mu.plot_series(" + "x, " * 40 + "y)", 131, 12),
        timed_cell("broken", "raise ValueError('broken on purpose')", 144, 0.01),
        new_code_cell("print('never reached')", id="after"),
    ]).cells


def test_cell_seconds_are_every_executed_cell_in_order_with_its_first_line():
    assert runner.cell_seconds(executed_lesson()) == [
        {"cell": "setup", "seconds": 7.5, "line": "import model_utils as mu"},
        {"cell": "fit", "seconds": 120.4, "line": "# the long one"},
        {"cell": "table", "seconds": 0.5, "line": "print(f'{a | b}') `quoted`"},
        {"cell": "plot", "seconds": 12.0, "line": "mu.plot_series(" + "x, " * 40 + "y)"},
        {"cell": "broken", "seconds": 0.01, "line": "raise ValueError('broken on purpose')"},
    ]
    assert [cell["cell"] for cell in runner.slowest_cells(runner.cell_seconds(executed_lesson()), 3)] == [
        "fit", "plot", "setup"]


def test_the_report_lists_each_notebooks_slowest_cells_and_keeps_every_cells_seconds(tmp_path):
    timed = runner.cell_seconds(executed_lesson())
    report = {"profile": "full", "seconds": 300.0, "notebooks": {
        "01_fast": {"status": "ok", "seconds": 150.0, "metrics": {"mae": 0.5}, "error": None, "cell_seconds": timed,
                    "slowest_cells": [[c["cell"], c["seconds"]] for c in runner.slowest_cells(timed, 3)]},
        "02_failed": {"status": "failed", "seconds": 0.0, "metrics": {}, "error": "the worker exited with code 1",
                      "cell_seconds": [], "slowest_cells": []}}}
    runner.write_report(report, tmp_path, cells_listed=4)
    assert json.loads((tmp_path / "report.json").read_text()) == report
    text = (tmp_path / "report.md").read_text()
    section = text.split("### 01_fast\n")[1].split("###")[0]
    assert "140 s in 5 cells of 150 s." in section
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert rows == [
        "| fit | `# the long one` | 120.4 | 80% |",
        "| plot | `" + ("mu.plot_series(" + "x, " * 40)[:59] + "…` | 12.0 | 8% |",
        "| setup | `import model_utils as mu` | 7.5 | 5% |",
        "| table | `print(f'{a \\| b}') 'quoted'` | 0.5 | 0% |",
    ]
    assert "### 02_failed\n\n0 s in 0 cells of 0 s." in text
    assert "| 01_fast | ok | 150 | mae = 0.5 |" in text


@pytest.mark.kernel
def test_runner_stops_a_notebook_at_its_time_limit_and_leaves_no_process(tmp_path):
    pids = tmp_path / "pids"
    notebook.write(bare([new_code_cell(
        f"import os, subprocess, time\nopen({str(pids)!r}, 'w').write(f\"{{os.getpid()}} "
        "{subprocess.Popen(['sleep', '600']).pid}\")\ntime.sleep(600)")]), tmp_path / "03_slow.ipynb")
    # 30 s: time for the kernel (no TensorFlow) to reach the sleeping cell on a loaded machine.
    result = runner.run_notebook(tmp_path / "03_slow.ipynb", tmp_path / "out", "smoke", timeout=30)
    assert result["status"] == "timeout" and result["error"] == "did not finish within 30 s"
    assert result["seconds"] < 90
    assert all_gone([int(pid) for pid in pids.read_text().split()])


@pytest.mark.kernel
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_course_run_leaves_no_process(tmp_path, signum):
    solutions, pids = tmp_path / "solutions", tmp_path / "pids"
    solutions.mkdir()
    notebook.write(bare([new_code_cell(
        f"import os, subprocess, time\nopen({str(pids)!r}, 'w').write(f\"{{os.getpid()}} "
        "{subprocess.Popen(['sleep', '600']).pid}\")\ntime.sleep(600)")]), solutions / "01_slow.ipynb")
    assert interrupt_cli(["run", "--profile", "smoke", "--out", str(tmp_path / "out")], solutions,
                         lambda: pids.exists() and len(pids.read_text().split()) == 2, signum) == 130
    assert all_gone([int(pid) for pid in pids.read_text().split()])


def test_select_rejects_unknown_lessons():
    with pytest.raises(ValueError, match="No lesson matches 99"):
        runner.select(["99"])


@pytest.mark.kernel
def test_refresh_stores_the_outputs_of_a_full_run(tmp_path, monkeypatch):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    notebook.write(bare([new_code_cell("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"),
                         new_code_cell("print('hello from', PROFILE)")]), solutions / "01_ok.ipynb")
    monkeypatch.setenv("MPLBACKEND", "Agg")  # as in CI: the stored outputs must keep their figures anyway
    monkeypatch.setattr(config, "SOLUTIONS", solutions)
    monkeypatch.setattr(config, "ROOT", tmp_path)
    report_dir = tmp_path / "build"
    runner.run_course(runner.select([], solutions), "full", tmp_path / "executed", report_dir, timeout=120)
    runner.refresh_solutions(report_dir / "report.json", [])
    refreshed = notebook.read(solutions / "01_ok.ipynb")
    assert [c.metadata.get("tags") for c in refreshed.cells if "injected-parameters" in c.metadata.get("tags", [])] == []
    assert refreshed.cells[-1].outputs[0]["text"] == "hello from full\n"
    assert "image/png" in refreshed.cells[-2].outputs[0]["data"]
    nb = notebook.read(solutions / "01_ok.ipynb")
    nb.cells[-1].source += "\nprint('edited')"
    notebook.write(nb, solutions / "01_ok.ipynb")
    with pytest.raises(ValueError, match="changed since that run"):
        runner.refresh_solutions(report_dir / "report.json", [])


def test_refresh_refuses_a_smoke_run(tmp_path):
    report = {"profile": "smoke", "seconds": 1, "notebooks": {}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    with pytest.raises(ValueError, match="is a smoke run; solutions keep outputs of a full run"):
        runner.refresh_solutions(tmp_path / "report.json", [])


def test_refresh_checks_every_lesson_before_writing_any(tmp_path, monkeypatch):
    solutions = tmp_path / "solutions"
    write_lesson(solutions, "01_ok.ipynb", [new_code_cell("print('one')")])
    write_lesson(solutions, "02_not_run.ipynb", [new_code_cell("print('two')")])
    executed = notebook.read(solutions / "01_ok.ipynb")
    executed.cells[-1].outputs = [nbformat.v4.new_output("stream", text="one\n")]
    notebook.write(executed, tmp_path / "01_ok.ipynb")
    report = {"profile": "full", "seconds": 1, "notebooks": {"01_ok": {"status": "ok", "executed": "01_ok.ipynb"}}}
    (tmp_path / "report.json").write_text(json.dumps(report))
    monkeypatch.setattr(config, "SOLUTIONS", solutions)
    monkeypatch.setattr(config, "ROOT", tmp_path)
    before = (solutions / "01_ok.ipynb").read_text()
    with pytest.raises(ValueError, match="02_not_run did not run successfully"):
        runner.refresh_solutions(tmp_path / "report.json", [])
    assert (solutions / "01_ok.ipynb").read_text() == before


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    from course_tools.files import write_atomic

    target = tmp_path / "report.md"
    write_atomic(target, "old")
    with pytest.raises(UnicodeEncodeError):
        write_atomic(target, "new \ud800")
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_cli_check_exits_non_zero_on_problems(monkeypatch, capsys):
    monkeypatch.setattr(notebook, "check_repository", lambda: ["notebooks/x.ipynb: out of date"])
    assert cli.main(["check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert cli.main(["run", "99"]) == 2
