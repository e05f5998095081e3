"""The Gradescope autograder: the zip's layout, and its real run_autograder on a simulated /autograder.

The simulated root holds what Gradescope makes of the zip (source/, run_autograder, the venv that
setup.sh would install: here this one), a submission and results/. The demo lesson of conftest keeps
each run to a few seconds.
"""
import subprocess
import zipfile

import jsonschema
import pytest

from conftest import ROOT, run_gradescope, simulated_autograder, write_lesson
from course_tools import autograder, notebook

pytestmark = [pytest.mark.notebooks, pytest.mark.xdist_group("grading_faults")]
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
# Gradescope's documented results.json (autograder specifications, "Output format"), as a JSON schema.
RESULTS_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "score": {"type": "number"}, "execution_time": {"type": "number"}, "output": {"type": "string"},
        "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
        "visibility": VISIBILITY, "stdout_visibility": VISIBILITY, "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "additionalProperties": False,
            "required": ["score", "max_score", "name"],
            "properties": {
                "score": {"type": "number"}, "max_score": {"type": "number"},
                "status": {"enum": ["passed", "failed"]}, "name": {"type": "string"},
                "name_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
                "number": {"type": "string"}, "output": {"type": "string"},
                "output_format": {"enum": ["text", "html", "simple_format", "md", "ansi"]},
                "tags": {"type": "array", "items": {"type": "string"}}, "visibility": VISIBILITY,
                "extra_data": {"type": "object"}}}},
        "leaderboard": {"type": "array"},
    },
    "anyOf": [{"required": ["score"]}, {"required": ["tests"]}],
}


@pytest.fixture(scope="module")
def gradescope(tmp_path_factory):
    """A simulated /autograder built from the demo lesson's zip, and the lesson's solution."""
    work = tmp_path_factory.mktemp("gradescope")
    solution = write_lesson(work / "solutions")
    return simulated_autograder(work, "00", work / "solutions"), solution


def run_autograder(root, name, text):
    results = run_gradescope(root, name, text)
    jsonschema.validate(results, RESULTS_SCHEMA)
    return results


def test_a_solved_notebook_scores_the_maximum(gradescope):
    root, solution = gradescope
    results = run_autograder(root, "my work.ipynb", solution.read_text(encoding="utf-8"))
    assert results["score"] == 5
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in results["tests"]] == [
        ("square-check", 2, 2, "passed"), ("cube-check", 3, 3, "passed")]
    assert all(t["visibility"] == "after_published" for t in results["tests"]), "both tests hold hidden tests"
    assert results["output"] == "Every cell of the notebook ran."


def test_the_student_copy_scores_0_with_the_checks_messages(gradescope):
    root, solution = gradescope
    results = run_autograder(root, "00_demo.ipynb", notebook.dumps(notebook.make_student(solution)))
    assert results["score"] == 0 and {t["status"] for t in results["tests"]} == {"failed"}
    assert all("NotImplementedError" in t["output"] for t in results["tests"])
    assert results["output"].startswith("Running the notebook raised an error: cell")


def test_a_broken_file_gets_a_clear_failure_message(gradescope):
    root, _ = gradescope
    results = run_autograder(root, "00_demo.ipynb", '{"cells": [')
    assert results["score"] == 0
    assert results["output"].startswith("The submission could not be graded: not valid JSON")
    assert all(t["output"] == "not run" for t in results["tests"])


def test_the_zip_of_lesson_01_has_what_gradescope_runs(tmp_path):
    path = autograder.build("01", tmp_path)
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        requirements = archive.read("requirements.txt").decode()
        run = archive.read("run_autograder").decode()
    assert path.name == "01_rnn_basics-autograder.zip"
    assert {"setup.sh", "run_autograder", "model_utils.py", "requirements-runtime.txt", "course_tools/worker.py",
            "course_tools/grading.py", "data/sunspots_monthly.dat", "solutions/01_rnn_basics.ipynb"} <= names
    assert {n for n in names if n.startswith("solutions/")} == {"solutions/01_rnn_basics.ipynb",
                                                                "solutions/01_rnn_basics.reference.json"}
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert requirements.splitlines()[0] == "-r requirements-runtime.txt" and "papermill==" in requirements
    assert "autograde 01_rnn_basics" in run and "--hidden-visibility after_published" in run
    with pytest.raises(ValueError, match="exists"):
        autograder.build("01", tmp_path)


def test_make_autograder_calls_the_cli():
    dry = subprocess.run(["make", "-n", "autograder", "LESSON=01", "OUT=dir", "HIDDEN_VISIBILITY=hidden"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    assert '-m course_tools autograder 01 "dir"' in dry and "--hidden-visibility hidden" in dry
