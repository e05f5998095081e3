"""The grader's fault corpus: one file per fault, graded in one batch on a small lesson.

The lesson (setup, parameters, two exercises with visible and hidden tests, markdown between)
runs in about a second, so every fault gets a real worker and kernel. Each case is a file this
module writes; each gets its status and score, the batch completes, a second grading of the same
folder gives the same grades.csv, and no process of a stopped submission survives.
"""
import copy
import csv
import json
import os
import signal
import subprocess
import threading
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from conftest import all_gone, interrupt_cli, processes_with, start_marked, write_lesson
from course_tools import grading, notebook, rebuild

pytestmark = [pytest.mark.notebooks, pytest.mark.xdist_group("grading_faults")]
# Seconds per submission: the lesson takes seconds, and many times as long on a loaded machine. The infinite
# loop sleeps (the grader ends it the same way as a busy one) so that waiting for it costs no CPU.
TIMEOUT = 30
MARKER = "fault-corpus-loop-4242"  # in the command line of the process the infinite loop starts


def at(nb, cell_id):
    return next(i for i, c in enumerate(nb.cells) if c.id == cell_id)


def colab_json(nb, keep_nbgrader=True):
    """The notebook as Colab saves it: nbformat 4.4, no cell ids (and maybe no nbgrader metadata)."""
    raw = json.loads(nbformat.writes(nb))
    raw["nbformat_minor"] = 4
    for cell in raw["cells"]:
        cell.pop("id", None)
        if not keep_nbgrader:
            cell["metadata"].pop("nbgrader", None)
    return json.dumps(raw)


def write_corpus(subs, solution):
    """Each fault as a file; returns {student: (status, score)} expected."""
    solved = notebook.read(solution)
    student = notebook.make_student(solution)

    def save(nb, name):
        path = subs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(nb if isinstance(nb, str) else nbformat.writes(nb), encoding="utf-8")

    def changed(edit):
        nb = copy.deepcopy(solved)
        edit(nb)
        return nb

    def insert(nb, after, source):
        nb.cells.insert(at(nb, after) + 1, new_code_cell(source))

    save('{"cells": [', "invalid_json.ipynb")
    save('["not", "a", "notebook"]', "not_a_notebook.ipynb")
    save(new_notebook(), "empty.ipynb")
    save(student, "untouched.ipynb")
    save(solved, "solved.ipynb")
    save(changed(lambda nb: insert(nb, "square-check", f"import subprocess, sys, time\n{start_marked(MARKER)}\n"
                                   "while True:\n    time.sleep(0.1)")),
         "infinite_loop.ipynb")
    save(changed(lambda nb: insert(nb, "parameters", "hog = bytearray(64 * 2**30)")), "memory_hog.ipynb")
    save(changed(lambda nb: insert(nb, "ex2", "for _ in range(8):\n    print('x' * 1_000_000)")), "output_flood.ipynb")
    save(changed(lambda nb: insert(nb, "square-check", "import os\nos._exit(1)")), "kernel_crash.ipynb")
    save(changed(lambda nb: nb.cells.pop(at(nb, "cube-check"))), "deleted_test.ipynb")

    def wrong_square_edited_test(nb):
        nb.cells[at(nb, "ex1")].source = "def square(x):\n    return x + x"
        nb.cells[at(nb, "square-check")].source = "pass  # trust me"
    save(changed(wrong_square_edited_test), "edited_test.ipynb")
    save(changed(lambda nb: nb.cells[at(nb, "square-check")].metadata["nbgrader"].update(points=100)),
         "edited_points.ipynb")
    save(changed(lambda nb: nb.cells.append(new_code_cell("print('bonus')", metadata={
        "nbgrader": {"grade": True, "grade_id": "bonus", "points": 50}}))), "extra_fake_test.ipynb")
    save(colab_json(solved), "colab.ipynb")

    def colab_edits(nb):
        nb.cells[at(nb, "square-check")].source += "\nprint('I was here')"
        nb.cells[at(nb, "parameters")].source = 'PROFILE = "full"  # I want the real thing'
    save(colab_json(changed(colab_edits), keep_nbgrader=False), "colab_no_metadata_edited_test.ipynb")

    def copied_test(nb):
        copy_of_test = copy.deepcopy(nb.cells[at(nb, "square-check")])
        copy_of_test.id, copy_of_test.source = "my-copy", "assert square(2) == 5"
        nb.cells.insert(at(nb, "cube-check") + 1, copy_of_test)
    save(changed(copied_test), "copied_test.ipynb")
    save(student, "two_notebooks/first.ipynb")
    save(solved, "two_notebooks/second.ipynb")
    save(solved, "a b.ipynb")
    save(student, "a_b.ipynb")
    save("not json", "a:b.ipynb")
    return {
        "a b": ("ok", 5), "a:b": ("invalid", 0), "a_b": ("error", 0),
        "colab": ("ok", 5), "colab_no_metadata_edited_test": ("ok", 5), "copied_test": ("ok", 5),
        "deleted_test": ("ok", 5), "edited_points": ("ok", 5), "edited_test": ("ok", 3), "empty": ("invalid", 0),
        "extra_fake_test": ("ok", 5), "infinite_loop": ("timeout", 2), "invalid_json": ("invalid", 0),
        "kernel_crash": ("error", 2), "memory_hog": ("error", 5), "not_a_notebook": ("invalid", 0),
        "output_flood": ("error", 5), "solved": ("ok", 5), "two_notebooks": ("invalid", 0), "untouched": ("error", 0),
    }


@pytest.fixture(scope="session")  # once per xdist worker, however its tests are interleaved
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    solutions = root / "solutions"
    solution = write_lesson(solutions)
    expected = write_corpus(root / "subs", solution)
    outs = [root / "graded", root / "graded_again"]
    looping, finished = set(), threading.Event()  # the processes the infinite loops start, seen while the batches run

    def watch():
        while not finished.wait(0.2):
            looping.update(processes_with(MARKER))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(len(outs)) as pool:  # at once: the two infinite loops wait side by side
            results = list(pool.map(lambda out: {r.student: r for r in grading.grade(
                "00", root / "subs", out, workers=2, timeout=TIMEOUT, solutions=solutions, progress=lambda *_: None)},
                outs))
    finally:
        finished.set()
        watcher.join()
    return root, solution, expected, outs, results[0], looping


def test_every_fault_gets_its_status_and_score(corpus):
    _, _, expected, outs, _, _ = corpus
    with open(outs[0] / "grades.csv", newline="") as handle:
        got = {row["student"]: (row["status"], float(row["score"])) for row in csv.DictReader(handle)}
    assert got == expected


def test_grading_the_same_folder_twice_gives_the_same_grades(corpus):
    _, _, _, outs, _, _ = corpus
    assert (outs[0] / "grades.csv").read_text() == (outs[1] / "grades.csv").read_text()


def test_each_student_has_a_feedback_file_of_their_own(corpus):
    _, _, expected, outs, results, _ = corpus
    names = grading.file_names(list(expected))
    assert sorted(p.name for p in (outs[0] / "feedback").iterdir()) == sorted(f"{n}.md" for n in names.values())
    assert "feedback for a:b" in (outs[0] / "feedback" / f"{names['a:b']}.md").read_text()
    assert "feedback for a b" in (outs[0] / "feedback" / f"{names['a b']}.md").read_text()


def test_problems_and_notes_say_what_happened(corpus):
    _, _, _, _, results, _ = corpus
    assert f"did not finish within {TIMEOUT} s" in results["infinite_loop"].problem
    assert "kernel died" in results["kernel_crash"].problem
    assert "MemoryError" in results["memory_hog"].problem
    assert "more output than the grader keeps" in results["output_flood"].problem
    assert "no cells" in results["empty"].problem
    assert "several notebooks" in results["two_notebooks"].problem
    assert any("`cube-check` was missing" in n for n in results["deleted_test"].notes)
    assert any("`square-check` was edited" in n for n in results["edited_test"].notes)
    assert any("`square-check` was edited" in n for n in results["colab_no_metadata_edited_test"].notes)
    assert not any("missing" in n for n in results["colab_no_metadata_edited_test"].notes)
    assert any("marked as test square\\-check," in n for n in results["copied_test"].notes)
    assert any("marked as test bonus," in n for n in results["extra_fake_test"].notes)
    assert results["infinite_loop"].feedback["cube-check"].startswith("not run: the notebook ran out of time in cell ")
    assert results["untouched"].feedback["square-check"].startswith("not attempted")
    assert results["solved"].notes == [] and results["colab"].notes == []


def test_workers_run_in_the_smoke_profile_with_their_share_of_the_cores(corpus):
    _, _, _, outs, _, _ = corpus
    executed = notebook.read(outs[0] / "executed" / "solved.ipynb")
    shown = executed.cells[at(executed, "show-profile")].outputs[0]["text"]
    assert shown == f"smoke smoke {max(1, os.cpu_count() // 2)}\n"


def test_no_process_of_a_stopped_submission_survives(corpus):
    looping = corpus[-1]
    assert len(looping) >= 2, "the infinite loops' processes were never seen running: nothing to outlive the batch"
    assert all_gone(looping | set(processes_with(MARKER)))


def test_restored_cells_land_where_they_belong_without_ids_or_metadata(corpus):
    root, solution, _, _, _, _ = corpus
    key = rebuild.load_key(solution)
    prepared, notes = rebuild.prepare((root / "subs" / "colab_no_metadata_edited_test.ipynb").read_text(), key)
    sources = [c.source for c in prepared.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    assert sources == [c.source for c in notebook.read(solution).cells]
    assert not any("I want the real thing" in s for s in sources)
    injected = [c.source for c in prepared.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and 'PROFILE = "smoke"' in injected[0]


def test_an_interrupted_batch_ends_its_workers_and_kernels_and_writes_nothing(tmp_path):
    solutions = tmp_path / "solutions"
    solution = write_lesson(solutions)
    subs, out = tmp_path / "subs", tmp_path / "graded"
    write_corpus(subs, solution)
    for path in subs.iterdir():
        if path.name != "infinite_loop.ipynb":
            subprocess.run(["rm", "-r", str(path)], check=True)
    for signum in (signal.SIGINT, signal.SIGTERM):
        assert interrupt_cli(["grade", "00", str(subs), str(out), "--timeout", "300"], solutions,
                             lambda: processes_with(MARKER), signum) == 130
        assert all_gone(processes_with(MARKER)), signum
        assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["solutions", "subs"]
