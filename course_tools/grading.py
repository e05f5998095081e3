"""Grade a folder of student submissions against a lesson's solution notebook: the batch.

Each submission is rebuilt with the answer key's cells (course_tools.rebuild), then runs in a
worker process of its own (course_tools.worker) with a fresh kernel, in the smoke profile
(papermill's parameter injection, and COURSE_PROFILE, which `profile_settings` honours), in a
temporary working directory, under a memory limit, an output cap, a time limit and its share of
the cores. A test cell passes when it ran and shows no error; its points come from the solution.
Submissions run in a pool of threads here, or one Dask task each on a dask.distributed cluster
(`--scheduler`); either way `grade_one` returns the result and the executed notebook, and the batch
writes them, with a progress line per submission (done/total, rate, time left). Everything is
written into a fresh folder beside OUT, which is moved into place at the end: the submissions and
anything already there are never touched.

Run `python -m course_tools grade LESSON SUBMISSIONS OUT`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat

from course_tools import config
from course_tools.files import write_atomic
from course_tools.notebook import read
from course_tools.processes import Workers, thread_caps
from course_tools.rebuild import AnswerKey, InvalidSubmission, load_key, prepare
from course_tools.worker import EXIT_KERNEL_DIED

STATUSES = ("ok", "error", "timeout", "invalid")
DEFAULT_TIMEOUT = 300  # seconds per submission; lesson 01 takes about 30 s in the smoke profile
DEFAULT_MEMORY_MB = 6144  # address space of a worker and its kernel (TensorFlow alone maps ~2.5 GB)
MIN_MEMORY_MB = 3072  # below this a kernel cannot import TensorFlow: every submission would fail
DEFAULT_MAX_OUTPUT_MB = 5.0  # outputs kept per notebook (the committed solutions stay under 1.5 MB)
PROFILE = "smoke"
CONNECT_TIMEOUT = 20  # seconds to reach a Dask scheduler


@dataclass
class Result:
    student: str
    status: str
    tests: dict[str, float] = field(default_factory=dict)  # grade_id -> points earned
    feedback: dict[str, str] = field(default_factory=dict)  # grade_id -> message ("" when passed)
    problem: str | None = None  # why the status is not ok
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(self.tests.values())


@dataclass
class Limits:
    timeout: float = DEFAULT_TIMEOUT
    memory_mb: int = DEFAULT_MEMORY_MB
    max_output_mb: float = DEFAULT_MAX_OUTPUT_MB
    threads: dict = field(default_factory=dict)  # thread-cap environment of each worker


def _error_text(output) -> str:
    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    return message.rstrip(":")


def blank_result(student: str, key: AnswerKey, status: str = "invalid", problem: str | None = None) -> Result:
    """A result with no test run: every test at 0 points, "not run"."""
    return Result(student, status, {t.grade_id: 0.0 for t in key.tests}, {t.grade_id: "not run" for t in key.tests},
                  problem)


def read_submission_file(path: Path | None, problem: str | None) -> tuple[str | None, str | None]:
    """(the notebook's text, None), or (None, why it cannot be read)."""
    if problem is not None:
        return None, problem
    try:
        return path.read_text(encoding="utf-8", errors="replace"), None
    except OSError as error:
        return None, str(error)


def grade_one(student: str, text: str | None, key: AnswerKey, limits: Limits, workers: Workers,
              problem: str | None = None) -> tuple[Result, str | None]:
    """Grade one submission's text: (its result, the executed notebook as JSON or None); never raises for
    anything the submission does."""
    result = blank_result(student, key, problem=problem)
    if problem is not None:
        return result, None
    try:
        nb, result.notes = prepare(text, key, PROFILE)
    except InvalidSubmission as error:
        result.problem = str(error)
        return result, None
    except Exception as error:  # noqa: BLE001 - a file the reader chokes on must not stop the batch
        result.problem = f"could not be read as a notebook ({type(error).__name__}: {error})"
        return result, None
    work = Path(tempfile.mkdtemp(prefix=f"grade-{key.lesson}-"))
    executed_text = None
    try:
        prepared, executed, state_file = work / "prepared.ipynb", work / "executed.ipynb", work / "state.json"
        write_atomic(prepared, nbformat.writes(nb))
        run_dir = work / "run"
        run_dir.mkdir()
        env = {
            **os.environ, **limits.threads,
            "COURSE_RUN_DIR": str(run_dir),
            "COURSE_METRICS_FILE": str(work / "metrics.jsonl"),
            "COURSE_PROFILE": PROFILE,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(config.ROOT), os.environ.get("PYTHONPATH")])),
            "MPLBACKEND": "Agg",
        }
        command = [sys.executable, "-m", "course_tools.worker", str(prepared), str(executed), "--state", str(state_file),
                   "--cwd", str(run_dir), "--cell-timeout", str(limits.timeout), "--allow-errors",
                   "--memory-mb", str(limits.memory_mb), "--max-output-mb", str(limits.max_output_mb)]
        start = time.monotonic()
        code, state = workers.run(command, state_file, work / "worker.log", limits.timeout, env, run_dir)
        result.seconds = round(time.monotonic() - start, 1)
        ran = read(executed) if executed.exists() else nb
        executed_text = nbformat.writes(ran)
        _score(result, ran, key, code, state, limits.timeout, work / "worker.log")
    except Exception as error:  # noqa: BLE001 - the batch always completes
        result.status, result.problem = "error", f"the grader failed on it ({type(error).__name__}: {error})"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result, executed_text


def grade_on_dask_worker(student: str, text: str | None, key: AnswerKey, limits: Limits, slots: dict[str, int],
                         problem: str | None = None) -> tuple[Result, str | None]:
    """`grade_one` as a Dask task: the worker process runs on the Dask worker's machine, which gives each of
    its `slots` (Dask worker threads on that host, from the scheduler) its share of the cores (those its
    CPU affinity and cgroup allow: a Slurm job's or a Kubernetes pod's)."""
    from dask.system import CPU_COUNT
    from distributed import get_worker
    from distributed.comm import get_address_host

    worker = get_worker()
    share = slots.get(get_address_host(worker.address), worker.state.nthreads)
    running = Workers()
    try:
        return grade_one(student, text, key, replace(limits, threads=thread_caps(share, CPU_COUNT)), running, problem)
    finally:
        running.close()


def _score(result: Result, ran, key: AnswerKey, code: int | None, state: dict, timeout: float, log: Path) -> None:
    cells = [c for c in ran.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    by_id = {c.id: c for c in cells}
    label = {c.id: f"cell {i + 1} (id `{c.id}`)" for i, c in enumerate(cells)}
    running = state.get("running")
    running_id = ran.cells[running].id if isinstance(running, int) and 0 <= running < len(ran.cells) else None
    for test in key.tests:
        cell = by_id.get(test.id)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"] if cell else []
        if cell is None or cell.get("execution_count") is None:
            result.feedback[test.grade_id] = "not run: the notebook stopped before this test"
        elif errors:
            result.feedback[test.grade_id] = _error_text(errors[0])
        else:
            result.tests[test.grade_id] = test.points
            result.feedback[test.grade_id] = ""
    test_ids = {t.id for t in key.tests}
    first_error = next(((c, o) for c in cells if c.id not in test_ids for o in c.get("outputs", [])
                        if o.get("output_type") == "error"), None)
    if code is None:
        result.status = "timeout"
        where = f"while running {label[running_id]}" if running_id in label else "before its first cell ran"
        result.problem = f"did not finish within {timeout:g} s (stopped {where})"
    elif code == EXIT_KERNEL_DIED:
        result.status = "error"
        result.problem = f"the kernel died while running {label.get(running_id, 'a cell')} (a crash or the memory limit)"
    elif code != 0:
        result.status = "error"
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines() if log.exists() else []
        result.problem = f"the grading worker failed: {lines[-1] if lines else f'exit code {code}'}"
    elif first_error is not None:
        result.status = "error"
        cell, output = first_error
        result.problem = f"{label[cell.id]} raised {_error_text(output)}"
    elif state.get("truncated") is None:
        result.status = "ok"
    else:
        result.status = "error"
        result.problem = "the notebook printed more output than the grader keeps"
    if state.get("truncated") is not None:
        result.notes.append("Output over the grader's limit was dropped from the executed notebook.")


# ------------------------------------------------------------------------------------ the batch

def find_submissions(folder: Path, lesson: str) -> list[tuple[str, Path | None, str | None]]:
    """(student, notebook, problem) for `<folder>/<student>.ipynb` and `<folder>/<student>/**/*.ipynb`."""
    found: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            found.setdefault(entry.stem, []).append(entry)
        elif entry.is_dir():
            notebooks = [p for p in sorted(entry.rglob("*.ipynb"))
                         if not any(part.startswith(".") for part in p.relative_to(entry).parts)]
            found.setdefault(entry.name, []).extend(notebooks)
    submissions = []
    for student, notebooks in sorted(found.items()):
        named = [p for p in notebooks if p.stem == lesson]
        if len(notebooks) == 1:
            submissions.append((student, notebooks[0], None))
        elif len(named) == 1:
            submissions.append((student, named[0], None))
        elif not notebooks:
            submissions.append((student, None, f"no notebook in {student}/"))
        else:
            names = ", ".join(str(p.relative_to(folder)) for p in notebooks)
            submissions.append((student, None, f"several notebooks, none named {lesson}.ipynb: {names}"))
    return submissions


def file_names(students: list[str]) -> dict[str, str]:
    """A file name for each student, unique even on case-insensitive disks and stable across runs.

    A name that is already a safe file name is kept; any other (spaces, punctuation, over 100
    characters), and any that would clash ignoring case, gets a short hash of the student's name.
    """
    def tagged(student, stem):
        return f"{stem[:100]}-{hashlib.sha256(student.encode()).hexdigest()[:8]}"

    names = {}
    for student in students:
        stem = "".join(ch if ch.isalnum() or ch in "-_.@+" else "_" for ch in student).lstrip(".") or "_"
        names[student] = stem if stem == student and len(stem) <= 100 else tagged(student, stem)
    folded = [name.casefold() for name in names.values()]
    return {student: tagged(student, name) if folded.count(name.casefold()) > 1 else name
            for student, name in names.items()}


def _points(value: float) -> str:
    return f"{value:g}"


def csv_text(results: list[Result], key: AnswerKey) -> str:
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(["student", "status", "score", "max_score", *[t.grade_id for t in key.tests]])
    for r in sorted(results, key=lambda r: r.student):
        writer.writerow([r.student, r.status, _points(r.score), _points(key.max_score),
                         *[_points(r.tests[t.grade_id]) for t in key.tests]])
    return handle.getvalue()


def problem_sentence(result: Result) -> str:
    """Why a submission's status is not ok, as a sentence for the student."""
    what = {"invalid": "The submission could not be graded", "timeout": "The notebook was stopped",
            "error": "Running the notebook raised an error"}[result.status]
    return f"{what}: {result.problem}."


def feedback_markdown(result: Result, key: AnswerKey) -> str:
    lines = [f"# {key.lesson}: feedback for {result.student}", "",
             f"**Score: {_points(result.score)} / {_points(key.max_score)}** (status: {result.status})", ""]
    if result.problem:
        lines += [problem_sentence(result), ""]
    lines += ["| test | result | points |", "|---|---|---:|"]
    for test in key.tests:
        passed = result.feedback[test.grade_id] == ""
        lines.append(f"| `{test.grade_id}` | {'passed' if passed else 'failed'} | "
                     f"{_points(result.tests[test.grade_id])} / {_points(test.points)} |")
    failed = [t for t in key.tests if result.feedback[t.grade_id]]
    if failed:
        lines += ["", "## What to fix", ""]
        for test in failed:
            message = result.feedback[test.grade_id].replace("\n", "\n  ")
            lines.append(f"- `{test.grade_id}` ({_points(test.points)} points): {message}")
    if result.notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in result.notes]]
    return "\n".join(lines) + "\n"


def _write_feedback(folder: Path, name: str, result: Result, executed: str | None, key: AnswerKey) -> list[str]:
    """Write a student's feedback and executed notebook into `folder`; what could not be written."""
    try:
        if executed is not None:
            write_atomic(folder / "executed" / f"{name}.ipynb", executed)
        write_atomic(folder / "feedback" / f"{name}.md", feedback_markdown(result, key))
    except OSError as error:
        return [f"{result.student} ({error})"]
    return []


def summary(results: list[Result], key: AnswerKey, seconds: float) -> str:
    graded = [r for r in results if r.status != "invalid"]
    counts = ", ".join(f"{s} {sum(r.status == s for r in results)}" for s in STATUSES)
    mean = sum(r.score for r in results) / len(results) if results else 0.0
    return (f"{key.lesson}: {len(results)} submission(s), {len(graded)} executed, mean score "
            f"{mean:.2f} / {_points(key.max_score)}; status: {counts}; {seconds:.0f} s")


def check_limits(limits: Limits) -> None:
    """ValueError, with what to do, for limits under which no submission could be graded."""
    if not limits.timeout > 0:
        raise ValueError(f"--timeout must be a positive number of seconds (got {limits.timeout:g}).")
    if limits.memory_mb < MIN_MEMORY_MB:
        raise ValueError(f"--memory-mb must be at least {MIN_MEMORY_MB}: a kernel needs about 2.5 GB of address "
                         f"space to import TensorFlow (got {limits.memory_mb}).")
    if not limits.max_output_mb > 0:
        raise ValueError(f"--max-output-mb must be positive (got {limits.max_output_mb:g}).")


def check_arguments(submissions: Path, out: Path, workers: int, limits: Limits) -> None:
    """ValueError or FileNotFoundError, with what to do, for arguments that cannot give a good batch."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1 (got {workers}).")
    check_limits(limits)
    if not submissions.is_dir():
        raise FileNotFoundError(f"{submissions} is not a folder of submissions.")
    if out == submissions or submissions in out.parents:
        raise ValueError("OUT must not be SUBMISSIONS or inside it (its notebooks would count as submissions).")
    if out in submissions.parents:
        raise ValueError("SUBMISSIONS must not be inside OUT (OUT is where the grades go).")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder: grading writes a new folder, "
                         "so name one that does not exist yet (nothing is overwritten).")


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def progress_line(done: int, total: int, seconds: float) -> str:
    """Submissions done of total, the rate so far and the time left at that rate."""
    rate = done / seconds * 60 if seconds > 0 else 0.0
    left = f"{_duration((total - done) / rate * 60)} left" if rate else "time left unknown"
    return f"[{done}/{total}, {rate:.1f}/min, {left}]"


@contextmanager
def _local_pool(workers: int, key: AnswerKey, limits: Limits):
    """(submit, as_completed, description) for worker processes on this machine."""
    running = Workers()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            yield (lambda student, text, problem: pool.submit(grade_one, student, text, key, limits, running, problem),
                   as_completed, f"with {workers} worker(s) and {limits.threads['OMP_NUM_THREADS']} thread(s) each")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            running.close()


@contextmanager
def _dask_cluster(scheduler: str, key: AnswerKey, limits: Limits):
    """(submit, as_completed, description) for one Dask task per submission on the cluster at `scheduler`."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError) as error:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler} ({error}); start one with `dask scheduler` "
                      "and give its address, such as tcp://host:8786 (see the README's grading section).") from None
    with client:
        slots = Counter()
        for worker in client.scheduler_info()["workers"].values():
            slots[worker["host"]] += worker["nthreads"]
        joined = (f"{len(client.scheduler_info()['workers'])} worker(s), {sum(slots.values())} thread(s)" if slots
                  else "no worker yet: the batch starts when workers join")
        yield (lambda student, text, problem: client.submit(grade_on_dask_worker, student, text, key, limits,
                                                            dict(slots), problem, pure=False),
               dask_completed, f"on the Dask cluster at {scheduler} ({joined})")


def grade(lesson: str, submissions: Path, out: Path, workers: int | None = None, timeout: float = DEFAULT_TIMEOUT,
          memory_mb: int = DEFAULT_MEMORY_MB, max_output_mb: float = DEFAULT_MAX_OUTPUT_MB,
          solutions: Path | None = None, scheduler: str | None = None, progress=print) -> list[Result]:
    """Grade every submission in `submissions`; write grades.csv, feedback/ and executed/ into a new `out`.

    Submissions run in `workers` worker processes here, or with `scheduler` (a Dask scheduler's address)
    one Dask task each on that cluster.
    """
    from course_tools.runner import select

    if scheduler is not None and workers is not None:
        raise ValueError("--workers applies to grading on this machine; with --scheduler the cluster's workers "
                         "decide how many submissions run at once.")
    workers = (os.cpu_count() or 1) if workers is None else workers
    limits = Limits(timeout, memory_mb, max_output_mb, thread_caps(workers))
    submissions, out = submissions.resolve(), out.resolve()
    check_arguments(submissions, out, workers, limits)
    matching = select([lesson], solutions)
    if len(matching) != 1:
        raise ValueError(f"{lesson!r} names {len(matching)} lessons: {', '.join(p.stem for p in matching)}.")
    key = load_key(matching[0])
    found = find_submissions(submissions, key.lesson)
    if not found:
        raise ValueError(f"no submissions in {submissions}: expected <student>.ipynb or <student>/<notebook>.ipynb.")
    names = file_names([student for student, _, _ in found])
    start = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}.grading-", dir=out.parent))
    unwritten = []
    try:
        for folder in ("feedback", "executed"):
            (fresh / folder).mkdir()
        pool = _dask_cluster(scheduler, key, limits) if scheduler else _local_pool(workers, key, limits)
        with pool as (submit, completed, where):
            progress(f"grading {len(found)} submission(s) of {key.lesson} {where}, {timeout:g} s and {memory_mb} MB each")
            futures = {submit(student, *read_submission_file(path, problem)): student for student, path, problem in found}
            results = []
            for future in completed(futures):
                student = futures[future]
                try:
                    result, executed = future.result()
                except Exception as error:  # noqa: BLE001 - e.g. the Dask workers running it kept dying
                    result, executed = blank_result(student, key, "error", f"its grading task was lost "
                                                                           f"({type(error).__name__}: {error})"), None
                results.append(result)
                unwritten += _write_feedback(fresh, names[student], result, executed, key)
                progress(f"  {progress_line(len(results), len(found), time.monotonic() - start)} {student}: "
                         f"{result.status}, {_points(result.score)} / {_points(key.max_score)}"
                         f"{f' ({result.problem})' if result.problem else ''}")
        write_atomic(fresh / "grades.csv", csv_text(results, key))
        if out.exists():
            out.rmdir()  # empty, checked above; fails rather than replace anything that appeared since
        fresh.rename(out)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    progress(summary(results, key, time.monotonic() - start))
    progress(f"wrote {out / 'grades.csv'}, {out / 'feedback'}/, {out / 'executed'}/")
    if unwritten:
        raise OSError(f"the feedback of {len(unwritten)} student(s) could not be written: {'; '.join(unwritten)}")
    return results
