"""The Gradescope autograder: the zip's layout, and its real run_autograder on a simulated /autograder.

The simulated root holds what Gradescope makes of the zip (source/, run_autograder, the venv that
setup.sh would install: here this one), a submission and results/. The demo lesson of conftest keeps
each run to a few seconds.
"""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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
    assert [(t["name"], t["score"], t["max_score"], t["status"], t["visibility"]) for t in results["tests"]] == [
        ("square-check: the check in your notebook", 0, 0, "passed", "visible"),
        ("square-check", 2, 2, "passed", "after_published"),
        ("cube-check: the check in your notebook", 0, 0, "passed", "visible"),
        ("cube-check", 3, 3, "passed", "after_published")], "visible checks at once, hidden tests when published"
    assert results["output"] == "Every cell of the notebook ran."


def test_the_student_copy_scores_0_and_is_told_its_checks_failed(gradescope):
    root, solution = gradescope
    results = run_autograder(root, "00_demo.ipynb", notebook.dumps(notebook.make_student(solution)))
    assert results["score"] == 0 and {t["status"] for t in results["tests"]} == {"failed"}
    visible = [t for t in results["tests"] if t["visibility"] == "visible"]
    assert [t["output"] for t in visible] == [autograder.VISIBLE_FAILED] * 2
    assert all(t["output"].startswith("not attempted") for t in results["tests"] if t not in visible)
    assert results["output"].startswith("Running the notebook raised an error: cell")


def test_an_answer_that_passes_its_visible_check_is_told_so_at_once_and_scored_by_the_hidden_tests(gradescope):
    root, solution = gradescope
    hard_coded = solution.read_text(encoding="utf-8").replace("return x * x", "return 9")
    results = run_autograder(root, "00_demo.ipynb", hard_coded)
    square = {t["name"]: t for t in results["tests"] if t["name"].startswith("square-check")}
    assert (square["square-check: the check in your notebook"]["status"],
            square["square-check: the check in your notebook"]["visibility"]) == ("passed", "visible")
    assert (square["square-check"]["status"], square["square-check"]["score"]) == ("failed", 0)
    assert square["square-check"]["visibility"] == "after_published"
    assert results["score"] == 3


def test_a_broken_file_gets_a_clear_failure_message(gradescope):
    root, _ = gradescope
    results = run_autograder(root, "00_demo.ipynb", '{"cells": [')
    assert results["score"] == 0
    assert results["output"].startswith("The submission could not be graded: not valid JSON")
    assert all(t["output"] == ("not run" if t["max_score"] else autograder.VISIBLE_FAILED) for t in results["tests"])


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


DATA = Path(os.environ.get("COURSE_DATA_DIR", "/nonexistent"))
needs_data = pytest.mark.skipif(not (DATA / "disaster_tweets" / "train.csv").is_file(),
                                reason="COURSE_DATA_DIR holds no copy of the tweets")


@needs_data
def test_lesson_05_zip_carries_the_tweets_from_the_instructors_copy_and_setup_installs_them(tmp_path):
    with pytest.raises(ValueError, match=r"disaster_tweets/train.csv, which cannot be downloaded .*DATA=<dir>"):
        autograder.build("05", tmp_path / "none")
    corrupt = tmp_path / "corrupt"
    shutil.copytree(DATA / "disaster_tweets", corrupt / "disaster_tweets")
    with open(corrupt / "disaster_tweets" / "test.csv", "a", encoding="utf-8") as handle:
        handle.write("1,,,one more row\n")
    with pytest.raises(ValueError, match="Checksum mismatch for disaster_tweets/test.csv"):
        autograder.build("05", tmp_path / "corrupt-zip", data=corrupt)
    path = autograder.build("05", tmp_path / "zip", data=DATA)
    with zipfile.ZipFile(path) as archive:
        assert {n for n in archive.namelist() if n.startswith("datasets/")} == {
            f"datasets/disaster_tweets/{part}.csv" for part in ("train", "test", "sample_submission")}
    root = autograder.simulate(path, tmp_path / "autograder")
    installed = root / "data" / "disaster_tweets" / "train.csv"
    assert installed.read_bytes() == (DATA / "disaster_tweets" / "train.csv").read_bytes()
    assert installed.stat().st_mode & 0o004, "the sandbox's user reads the data"


def test_lesson_02_zip_downloads_imdb_once_at_image_build_when_no_copy_is_given(tmp_path):
    path = autograder.build("02", tmp_path)
    with zipfile.ZipFile(path) as archive:
        install = archive.read("install_data.sh").decode()
        setup = archive.read("setup.sh").decode()
        run = archive.read("run_autograder").decode()
        assert not [n for n in archive.namelist() if n.startswith("datasets/")]
    assert "model_utils.dataset_path(name)" in install and install.rstrip().splitlines()[-2].endswith(
        "imdb/aclImdb_v1.tar.gz"), "fetched and verified by the course's data resolver"
    assert setup.rstrip().endswith("bash /autograder/source/install_data.sh")
    assert 'export COURSE_DATA_DIR="$root/data"' in run


def test_make_autograder_calls_the_cli():
    dry = subprocess.run(["make", "-n", "autograder", "LESSON=05", "OUT=dir", "DATA=data dir", "HIDDEN_VISIBILITY=hidden"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert '-m course_tools autograder 05 "dir" --data "data dir"' in dry and "--hidden-visibility hidden" in dry
