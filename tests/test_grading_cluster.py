"""Grading on a Dask cluster: a real LocalCluster (2 worker processes) against the local pool.

The demo lesson of conftest runs in about a second, so the batches are small and cheap: the same
folder graded both ways gives the same grades.csv, and a Dask worker killed in the middle of a
submission loses nothing (the submission is run again, or reported when every worker it ran on was lost).
"""
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import dask
import pytest
from distributed import Client, LocalCluster
from nbformat.v4 import new_code_cell

from conftest import ROOT, all_gone, processes_with, start_marked, write_lesson
from course_tools import cli, grading, notebook, scoring

pytestmark = [pytest.mark.notebooks, pytest.mark.xdist_group("grading_faults")]


def kill_dask_workers_of(cluster, markers, stop):
    """Kill the Dask worker whose submission started a process with one of `markers` ({marker: once?}):
    the first time for a marker that says once, every time for the others (the kernel runs in a sandbox,
    which cannot see the Dask worker: the killing comes from outside, as a lost node would)."""
    def ancestors(pid):
        while pid > 1:
            yield pid
            with open(f"/proc/{pid}/stat") as stat:
                pid = int(stat.read().rsplit(") ", 1)[1].split()[1])

    killed = {marker: 0 for marker in markers}
    with Client(cluster) as client:
        while not stop.is_set():
            try:
                dask_workers = set(client.run(os.getpid).values())
            except OSError:  # a worker killed a moment ago: ask again (distributed's CommClosedError is an OSError)
                time.sleep(0.2)
                continue
            for marker, once in markers.items():
                for pid in processes_with(marker):
                    try:
                        worker = next((p for p in ancestors(pid) if p in dask_workers), None)
                    except OSError:
                        continue
                    if worker is not None and not (once and killed[marker]):
                        os.kill(worker, signal.SIGKILL)
                        killed[marker] += 1
            time.sleep(0.2)
    return killed


def with_cell(solution, after, source):
    nb = notebook.read(solution)
    nb.cells.insert(next(i for i, c in enumerate(nb.cells) if c.id == after) + 1, new_code_cell(source))
    return nb


def submissions(folder, solution, **edits):
    """The solved notebook, the student copy, and the solution with a cell inserted for each name:
    (cell id after which, source)."""
    folder.mkdir()
    notebook.write(notebook.read(solution), folder / "solved.ipynb")
    notebook.write(notebook.make_student(solution), folder / "stub.ipynb")
    for name, (after, source) in edits.items():
        notebook.write(with_cell(solution, after, source), folder / f"{name}.ipynb")
    return folder


def grades(out):
    return (out / "grades.csv").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def lesson(tmp_path_factory):
    root = tmp_path_factory.mktemp("cluster")
    return root, write_lesson(root / "solutions")


def test_a_cluster_grades_a_folder_exactly_as_the_local_pool(lesson):
    root, solution = lesson
    subs = submissions(root / "subs", solution, kernel_crash=("square-check", "import os\nos._exit(1)"),
                       memory_hog=("parameters", "hog = bytearray(64 * 2**30)"),
                       flood=("ex2", "for _ in range(8):\n    print('x' * 1_000_000)"))
    (subs / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    options = {"timeout": 120, "solutions": root / "solutions"}
    printed = {"local": [], "cluster": []}
    grading.grade("00", subs, root / "local", workers=2, progress=printed["local"].append, **options)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        grading.grade("00", subs, root / "cluster", scheduler=cluster.scheduler_address,
                      progress=printed["cluster"].append, **options)
    for lines in printed.values():  # one progress line per submission, done/total counting up
        assert [line.split(",")[0].strip() for line in lines if line.startswith("  [")] == [f"[{n}/6" for n in range(1, 7)]
    assert grades(root / "cluster") == grades(root / "local")
    assert "solved,ok,5,5,2,3" in grades(root / "cluster") and "broken,invalid,0,5,0,0" in grades(root / "cluster")
    # The same files too; executed/solved.ipynb shows the thread cap: two 1-thread Dask workers on this host
    # give each submission half the cores, as the local pool's two workers do.
    for name in ("feedback/solved.md", "feedback/memory_hog.md", "feedback/flood.md", "executed/solved.ipynb"):
        assert (root / "cluster" / name).read_text() == (root / "local" / name).read_text(), name
    # Where a flood of output is cut depends on how the kernel's messages were batched: both are cut.
    for way in ("local", "cluster"):
        assert (root / way / "executed" / "flood.ipynb").stat().st_size <= scoring.DEFAULT_MAX_OUTPUT_MB * 2**20 * 1.1


def test_a_killed_dask_worker_loses_no_submission(lesson):
    root, solution = lesson
    def waits(marker):
        return f"import subprocess, sys, time\n{start_marked(marker)}\ntime.sleep(5)"

    subs = submissions(root / "kill_subs", solution, kills_once=("square-check", waits("kill-its-worker-once")),
                       kills_always=("square-check", waits("kill-its-worker-always")))
    # One task at a time on each 1-thread worker (so only that submission's task is on a killed worker),
    # and a task that has lost 2 workers is reported.
    stop = threading.Event()
    with dask.config.set({"distributed.scheduler.allowed-failures": 1, "distributed.scheduler.worker-saturation": 1.0}):
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
            with ThreadPoolExecutor(1) as pool:
                killer = pool.submit(kill_dask_workers_of, cluster, {"kill-its-worker-once": True,
                                                                     "kill-its-worker-always": False}, stop)
                try:
                    results = {r.student: r for r in grading.grade(
                        "00", subs, root / "kill_out", timeout=120, solutions=root / "solutions",
                        scheduler=cluster.scheduler_address, progress=lambda *_: None)}
                finally:
                    stop.set()
                killed = killer.result()
    assert killed == {"kill-its-worker-once": 1, "kill-its-worker-always": 2}
    assert all_gone(processes_with("kill-its-worker"))
    assert (results["kills_once"].status, results["kills_once"].score) == ("ok", 5)
    assert (results["solved"].status, results["solved"].score) == ("ok", 5)
    assert (results["stub"].status, results["stub"].score) == ("error", 0)
    assert results["kills_always"].status == "error" and results["kills_always"].score == 0
    assert "grading task was lost (KilledWorker" in results["kills_always"].problem
    assert "grading task was lost" in (root / "kill_out" / "feedback" / "kills_always.md").read_text()


def test_an_unreachable_scheduler_is_a_clear_error_and_writes_nothing(lesson, tmp_path, capsys, monkeypatch):
    root, _ = lesson
    monkeypatch.setattr(grading, "CONNECT_TIMEOUT", 2)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{free.getsockname()[1]}"
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "alice.ipynb").write_text("{}")
    monkeypatch.setattr("course_tools.config.SOLUTIONS", root / "solutions")
    assert cli.main(["grade", "00", str(subs), str(tmp_path / "out"), "--scheduler", address]) == 2
    assert f"cannot reach the Dask scheduler at {address}" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["subs"]
    assert cli.main(["grade", "00", str(subs), str(tmp_path / "out"), "--scheduler", address, "--workers", "2"]) == 2
    assert "--workers applies to grading on this machine" in capsys.readouterr().err


def test_progress_shows_done_rate_and_time_left():
    assert grading.progress_line(5, 20, 150) == "[5/20, 2.0/min, 8 min left]"
    assert grading.progress_line(20, 20, 600) == "[20/20, 2.0/min, 0 s left]"
    assert grading.progress_line(1, 1000, 30) == "[1/1000, 2.0/min, 8.3 h left]"


def test_make_grade_passes_the_scheduler():
    dry = subprocess.run(["make", "-n", "grade", "LESSON=01", "SUBMISSIONS=subs", "OUT=out", "SCHEDULER=tcp://h:8786"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert '-m course_tools grade 01 "subs" "out"' in dry and '--scheduler "tcp://h:8786"' in dry
