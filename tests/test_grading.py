"""Instructor grading on the real lesson 01: answer key, submission rebuilding, and one whole batch.

The batch runs every submission for real (a whole lesson-01 smoke run each), so it
holds only the cases that need the real lesson; every other fault is in test_grading_faults.py.
"""
import csv
import json
import subprocess

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from conftest import ROOT
from course_tools import cli, grading, notebook, rebuild

SOLUTION = ROOT / "solutions" / "01_rnn_basics.ipynb"
STUDENT = ROOT / "notebooks" / "01_rnn_basics.ipynb"
HEADER = "student,status,score,max_score,rnn-forward-check,rnn-shape-check"


def student_copy():
    return notebook.read(STUDENT)


def index_of(nb, cell_id):
    return next(i for i, c in enumerate(nb.cells) if c.id == cell_id)


def solve(nb, *cell_ids):
    """Fill in the student's answer cells with the solution's code."""
    solution = notebook.read(SOLUTION)
    for cell_id in cell_ids:
        nb.cells[index_of(nb, cell_id)].source = solution.cells[index_of(solution, cell_id)].source
    return nb


def insert_after(nb, cell_id, source):
    nb.cells.insert(index_of(nb, cell_id) + 1, new_code_cell(source))
    return nb


def save(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))


@pytest.fixture(scope="module")
def key():
    return rebuild.load_key(SOLUTION)


def rows(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


# ---------------------------------------------------------------------------- without execution

def test_the_key_takes_points_and_hidden_tests_from_the_solution(key):
    assert [(t.grade_id, t.points) for t in key.tests] == [("rnn-forward-check", 3), ("rnn-shape-check", 2)]
    assert key.max_score == 5
    assert all(notebook.BEGIN_HIDDEN in t.cell.source for t in key.tests)
    assert all(notebook.BEGIN_HIDDEN not in text for t in key.tests for text in key.texts[t.position]
               if text != t.cell.source.strip())


def test_prepared_notebook_runs_the_solution_tests_in_the_smoke_profile(key):
    nb = student_copy()
    check = nb.cells[index_of(nb, "rnn-forward-check")]
    check.source = "pass  # trust me"
    check.metadata["nbgrader"]["points"] = 100
    del nb.cells[index_of(nb, "rnn-shape-check")]
    fake = new_code_cell("print('bonus')", metadata={"nbgrader": {"grade": True, "grade_id": "bonus", "points": 50}})
    nb.cells.append(fake)
    nb.cells.insert(3, new_code_cell('PROFILE = "full"', metadata={"tags": ["injected-parameters"]}))
    prepared, notes = rebuild.prepare(nbformat.writes(nb), key)

    solution = notebook.read(SOLUTION)
    for test in ("rnn-forward-check", "rnn-shape-check"):
        cell = prepared.cells[index_of(prepared, test)]
        assert cell.source == solution.cells[index_of(solution, test)].source
        assert cell.metadata["nbgrader"] == solution.cells[index_of(solution, test)].metadata["nbgrader"]
    # The deleted test is back right after the cell that precedes it in the solution.
    assert [c.id for c in prepared.cells].index("rnn-shape-check") == index_of(prepared, "rnn-shape") + 1
    assert "bonus" not in "".join(c.source for c in prepared.cells)
    injected = [c for c in prepared.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'PROFILE = "smoke"' in injected[0].source
    assert prepared.cells.index(injected[0]) == index_of(prepared, "parameters") + 1
    assert any("`rnn-forward-check` was edited" in n for n in notes)
    assert any("`rnn-shape-check` was missing" in n for n in notes)


def test_cells_without_ids_are_matched_by_source(key):
    """Colab and older Jupyter drop cell ids; unchanged test cells are still recognised."""
    raw = json.loads(STUDENT.read_text(encoding="utf-8"))
    raw["nbformat_minor"] = 4
    for cell in raw["cells"]:
        cell.pop("id", None)
        cell["metadata"].pop("nbgrader", None)
    prepared, _ = rebuild.prepare(json.dumps(raw), key)
    sources = [c.source for c in prepared.cells]
    for test in key.tests:
        assert sources.count(test.cell.source) == 1
    assert sum(c.source == notebook.SETUP_SOURCE for c in prepared.cells) == 1


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ('{"cells": []}', "not a Jupyter notebook"),
    (json.dumps(nbformat.v4.new_notebook(cells=[new_code_cell("print(1)", id="other")])), "no cell in common"),
], ids=["invalid-json", "not-a-notebook", "unrelated-notebook"])  # ids that every xdist worker collects alike
def test_ungradable_files_are_invalid(key, text, message):
    with pytest.raises(rebuild.InvalidSubmission, match=message):
        rebuild.prepare(text, key)


def test_submission_layouts(tmp_path):
    (tmp_path / "alice.ipynb").write_text("{}")
    (tmp_path / "bob" / "week1").mkdir(parents=True)
    (tmp_path / "bob" / "week1" / "my work.ipynb").write_text("{}")
    (tmp_path / "bob" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "bob" / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "01_rnn_basics.ipynb").write_text("{}")
    (tmp_path / "carol" / "scratch.ipynb").write_text("{}")
    (tmp_path / "dave").mkdir()
    (tmp_path / "erin").mkdir()
    (tmp_path / "erin" / "a.ipynb").write_text("{}")
    (tmp_path / "erin" / "b.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    found = {s: (p and p.relative_to(tmp_path).as_posix(), problem)
             for s, p, problem in grading.find_submissions(tmp_path, "01_rnn_basics")}
    assert found["alice"] == ("alice.ipynb", None)
    assert found["bob"] == ("bob/week1/my work.ipynb", None)
    assert found["carol"] == ("carol/01_rnn_basics.ipynb", None)
    assert found["dave"][0] is None and "no notebook" in found["dave"][1]
    assert found["erin"][0] is None and "several notebooks" in found["erin"][1]
    assert list(found) == sorted(found)


def test_the_csv_is_sorted_by_student_and_independent_of_completion_order(key, tmp_path):
    results = [grading.Result(name, "ok", {"rnn-forward-check": 3.0, "rnn-shape-check": 0.0})
               for name in ("zoe", "adam", "mia")]
    text = grading.csv_text(results, key)
    assert text == grading.csv_text(list(reversed(results)), key)
    assert text.splitlines() == [HEADER, "adam,ok,3,5,3,0", "mia,ok,3,5,3,0", "zoe,ok,3,5,3,0"]


@pytest.mark.parametrize("layout, options, message", [
    ("out_inside", [], "OUT must not be SUBMISSIONS or inside it"),
    ("same", [], "OUT must not be SUBMISSIONS or inside it"),
    ("subs_inside", [], "SUBMISSIONS must not be inside OUT"),
    ("out_not_empty", [], "exists and is not an empty folder"),
    ("apart", ["--timeout", "0"], "--timeout must be a positive"),
    ("apart", ["--workers", "-3"], "--workers must be at least 1"),
    ("apart", ["--memory-mb", "500"], "--memory-mb must be at least"),
    ("apart", ["--max-output-mb", "0"], "--max-output-mb must be positive"),
    ("no_submissions", [], "no submissions in"),
])
def test_grade_refuses_bad_arguments_and_touches_nothing(tmp_path, capsys, layout, options, message):
    subs, out = {"out_inside": (tmp_path, tmp_path / "out"), "same": (tmp_path, tmp_path),
                 "subs_inside": (tmp_path / "subs", tmp_path), "out_not_empty": (tmp_path / "subs", tmp_path / "empty_not"),
                 "apart": (tmp_path / "subs", tmp_path / "out"),
                 "no_submissions": (tmp_path / "empty", tmp_path / "out")}[layout]
    (tmp_path / "subs").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "subs" / "alice.ipynb").write_text("{}")
    (tmp_path / "empty_not").mkdir()
    (tmp_path / "empty_not" / "grades.csv").write_text("earlier grades")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert cli.main(["grade", "01", str(subs), str(out), *options]) == 2
    assert message in capsys.readouterr().err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_a_feedback_file_that_cannot_be_written_loses_no_grade(tmp_path, monkeypatch):
    """The batch goes on, grades.csv holds every student, and the error names the one left without feedback."""
    subs, out = tmp_path / "subs", tmp_path / "graded"
    subs.mkdir()
    for student in ("alice", "bob"):
        (subs / f"{student}.ipynb").write_text('{"cells": [', encoding="utf-8")  # invalid: no kernel needed
    write_atomic = grading.write_atomic

    def disk_full_for_bob(path, text):
        if path.name == "bob.md":
            raise OSError(28, "No space left on device")
        write_atomic(path, text)
    monkeypatch.setattr(grading, "write_atomic", disk_full_for_bob)
    with pytest.raises(OSError, match=r"the feedback of 1 student\(s\) could not be written: bob \("):
        grading.grade("01", subs, out, workers=1, progress=lambda *_: None)
    assert (out / "grades.csv").read_text().splitlines() == [
        HEADER, "alice,invalid,0,5,0,0", "bob,invalid,0,5,0,0"]
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["alice.md"]


def test_file_names_are_unique_stable_and_safe():
    names = grading.file_names(["alice", "a b", "a_b", "a:b", "Bob", "bob", "x" * 300, "../up"])
    assert len(set(n.casefold() for n in names.values())) == len(names)
    assert names["alice"] == "alice" and names["a_b"] == "a_b"
    assert names["a b"].startswith("a_b-") and names["a:b"].startswith("a_b-")
    assert all(len(n) <= 110 and "/" not in n and not n.startswith(".") for n in names.values())
    assert grading.file_names(["a b"]) == {"a b": names["a b"]}


def test_make_grade_calls_the_cli():
    dry = subprocess.run(["make", "-n", "grade", "LESSON=01", "SUBMISSIONS=subs", "OUT=out", "WORKERS=2"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "-m course_tools grade 01 \"subs\" \"out\" --workers 2" in dry


# ------------------------------------------------------------------------------ whole batches

@pytest.fixture(scope="session")  # once per xdist worker, however its tests are interleaved
def full_batch(tmp_path_factory):
    """Submissions that run the whole lesson, graded in one batch with two workers.

    Two of them run the lesson; the untouched and the solved cases are in the fault corpus
    (test_grading_faults.py), and the untouched lesson 01 runs in test_notebooks.py.
    """
    subs, out = tmp_path_factory.mktemp("submissions"), tmp_path_factory.mktemp("graded")
    # One exercise solved, in a student folder, with a cell that raises before the exercises.
    save(insert_after(solve(student_copy(), "rnn-forward"), "parameters", "raise RuntimeError('oops')"),
         subs / "one_solved" / "submission" / "anything.ipynb")
    # Saved by Colab: no cell ids, nbgrader metadata lost, exercises solved, the first test and the
    # parameters cell edited. The edited test is recognised where it stands, and the run stays smoke.
    colab = solve(student_copy(), "rnn-forward", "rnn-shape")
    colab.cells[index_of(colab, "rnn-forward-check")].source += "\nprint('checked')"
    colab.cells[index_of(colab, "parameters")].source = 'PROFILE = "full"  # the real thing'
    raw = json.loads(nbformat.writes(colab))
    raw["nbformat_minor"] = 4
    for cell in raw["cells"]:
        cell.pop("id", None)
        cell["metadata"].pop("nbgrader", None)
    (subs / "colab.ipynb").write_text(json.dumps(raw), encoding="utf-8")
    (subs / "broken_json.ipynb").write_text('{"cells": [', encoding="utf-8")
    results = grading.grade("01", subs, out, workers=2, timeout=600, progress=lambda *_: None)
    return out, {r.student: r for r in results}


@pytest.mark.notebooks
@pytest.mark.xdist_group("grading_lesson_01")
def test_batch_scores_and_statuses(full_batch):
    out, results = full_batch
    assert (out / "grades.csv").read_text().splitlines() == [
        HEADER,
        "broken_json,invalid,0,5,0,0",
        "colab,ok,5,5,3,2",
        "one_solved,error,3,5,3,0",
    ]
    assert results["one_solved"].problem.startswith("cell 4 (id `") and results["one_solved"].problem.endswith(
        "`) raised RuntimeError")
    assert "not valid JSON" in results["broken_json"].problem
    assert results["one_solved"].feedback["rnn-shape-check"] == (
        "not attempted: the exercise before this test still raises NotImplementedError; replace it with your code")


@pytest.mark.notebooks
@pytest.mark.xdist_group("grading_lesson_01")
def test_batch_feedback_and_executed_notebooks(full_batch):
    out, results = full_batch
    assert sorted(p.name for p in (out / "feedback").iterdir()) == [
        "broken_json.md", "colab.md", "one_solved.md"]
    assert sorted(p.name for p in (out / "executed").iterdir()) == ["colab.ipynb", "one_solved.ipynb"]
    feedback = (out / "feedback" / "colab.md").read_text()
    assert "**Score: 5 / 5** (status: ok)" in feedback
    assert "`rnn-forward-check` was edited" in feedback and "missing" not in feedback
    executed = notebook.read(out / "executed" / "colab.ipynb")
    assert not any("the real thing" in c.source for c in executed.cells)
    profile = next(c for c in executed.cells if "P = mu.profile_settings" in c.source)
    assert "forecast_epochs=2" in str(profile.outputs), "the smoke profile's sizes"
    assert "not attempted" in (out / "feedback" / "one_solved.md").read_text()


def test_a_wrong_answer_gets_the_message_written_in_the_key(key):
    """A value handed in that differs from the key's earns nothing, and the feedback is the key's message."""
    from course_tools.scoring import blank_result, score
    prepared, _ = rebuild.prepare(nbformat.writes(student_copy()), key)
    handins = dict(key.reference)
    handins["rnn_forward first step"] = [[0.0] * 3] * 2
    result = blank_result("x", key)
    score(result, key, prepared, prepared, handins, 0, {}, 60)
    assert result.tests == {"rnn-forward-check": 0.0, "rnn-shape-check": 2.0}
    check = next(c for c in key.tests[0].checks if c.name == "rnn_forward first step")
    assert result.feedback["rnn-forward-check"] == check.message


def test_without_a_sandbox_grading_refuses_to_start_and_says_what_unsandboxed_allows(tmp_path, capsys, monkeypatch):
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.ipynb").write_text("{}")
    monkeypatch.setattr("course_tools.sandbox.shutil.which", lambda name: None)  # no bubblewrap here
    assert cli.main(["grade", "01", str(subs), str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert "bubblewrap (bwrap) was not found" in error and "--unsandboxed" in error
    assert "can read the answer key and other submissions" in error
    assert sorted(p.name for p in tmp_path.iterdir()) == ["subs"]


def test_a_feedback_line_that_quotes_the_key_is_replaced(key):
    """Defence in depth: a student's name (a file name, theirs to choose) that holds a hidden test's line."""
    from course_tools.scoring import REDACTED, blank_result, feedback_markdown
    hidden = next(line for line in sorted(key.secret_lines) if "hand_in" in line)
    text = feedback_markdown(blank_result(f"x {hidden}", key), key)
    assert hidden not in text and REDACTED in text
