"""Grade a folder of student submissions against a lesson's solution notebook: the batch.

The answer key and the course helpers are read once, before any kernel starts, and hashed
(`batch.json` records both digests). Each submission is graded by `scoring.grade_one` (rebuilt with
the key's cells, run in a sandbox of its own in the smoke profile, scored from the values it handed
in), in a pool of threads here or one Dask task each on a dask.distributed cluster (`--scheduler`),
with a progress line per submission (done/total, rate, time left). A submission that fails in any
way costs only its own result. Nothing is written until every sandbox of the batch is gone; then
everything goes into a fresh folder beside OUT, which is moved into place: the submissions and
anything already there are never touched. `--only NAME` regrades one student into an existing OUT
the same way: a complete new copy of OUT, swapped in when done.

Run `python -m course_tools grade LESSON SUBMISSIONS OUT [--roster roster.csv] [--only NAME]`.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path

from course_tools import cgroups, config, sandbox
from course_tools.files import write_atomic
from course_tools.processes import Workers, thread_caps
from course_tools.rebuild import AnswerKey, load_key
from course_tools.sandbox import Sandbox, SandboxUnavailable
from course_tools.untrusted import markdown, terminal
from course_tools.scoring import (DEFAULT_MAX_OUTPUT_MB, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT, STATUSES, Limits, Result,
                                  blank_result, check_limits, feedback_markdown, grade_one, points_text)

CONNECT_TIMEOUT = 20  # seconds to reach a Dask scheduler
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads such a cell as a formula (OWASP)


def read_helpers(root: Path = config.ROOT) -> dict[str, bytes]:
    """The course helpers a submission runs with (relative path -> bytes): model_utils, data/, course_tools/."""
    paths = [root / "model_utils.py", *sorted((root / "data").glob("*")), *sorted((root / "course_tools").glob("*.py"))]
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in paths if path.is_file()}


def digest(files: dict[str, bytes]) -> str:
    """sha256 over the files' names and contents."""
    hasher = hashlib.sha256()
    for name, data in sorted(files.items()):
        hasher.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    return hasher.hexdigest()


def read_submission_file(folder: Path, path: Path | None, problem: str | None) -> tuple[str | None, str | None]:
    """(the notebook's text, None), or (None, why it cannot be read). A symbolic link is refused: it could
    point at anything this user can read, the answer key included."""
    if problem is not None:
        return None, problem
    if any(p.is_symlink() for p in [path, *path.parents] if p.is_relative_to(folder) and p != folder):
        return None, "a symbolic link, not a notebook"
    try:
        return path.read_text(encoding="utf-8", errors="replace"), None
    except OSError as error:
        return None, f"could not be read ({error.strerror})"


def grade_on_dask_worker(student: str, text: str | None, key: AnswerKey, helpers: dict[str, bytes], limits: Limits,
                         slots: dict[str, int], sandboxed: bool, problem: str | None = None) -> tuple[Result, str | None]:
    """`grade_one` as a Dask task: the worker process runs on the Dask worker's machine, in a sandbox made there,
    which gives each of its `slots` (Dask worker threads on that host, from the scheduler) its share of the cores
    (those its CPU affinity and cgroup allow: a Slurm job's or a Kubernetes pod's)."""
    from dask.system import CPU_COUNT
    from distributed import get_worker
    from distributed.comm import get_address_host

    worker = get_worker()
    try:
        box = sandbox.make() if sandboxed else None
    except SandboxUnavailable as error:
        return blank_result(student, key, "error", f"no sandbox could be made on its grading machine ({error})"), None
    share = slots.get(get_address_host(worker.address), worker.state.nthreads)
    running = Workers()
    try:
        return grade_one(student, text, key, helpers, replace(limits, threads=thread_caps(share, CPU_COUNT)), running,
                         box, problem)
    finally:
        running.close()


# ------------------------------------------------------------------------------------ the batch

def student_name(entry: str) -> str:
    """A file name as text, with bytes that are not UTF-8 shown escaped (`\\xff`)."""
    return os.fsencode(entry).decode("utf-8", errors="backslashreplace")


def find_submissions(folder: Path, lesson: str) -> list[tuple[str, Path | None, str | None]]:
    """(student, notebook, problem) for `<folder>/<student>.ipynb` and `<folder>/<student>/**/*.ipynb`."""
    found: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.suffix == ".ipynb" and (entry.is_file() or entry.is_symlink()):
            found.setdefault(student_name(entry.stem), []).append(entry)
        elif entry.is_dir():
            notebooks = [p for p in sorted(entry.rglob("*.ipynb"))
                         if not any(part.startswith(".") for part in p.relative_to(entry).parts)]
            found.setdefault(student_name(entry.name), []).extend(notebooks)
    submissions = []
    for student, notebooks in sorted(found.items()):
        named = [p for p in notebooks if p.stem == lesson]
        if len(notebooks) == 1:
            submissions.append((student, notebooks[0], None))
        elif len(named) == 1:
            submissions.append((student, named[0], None))
        elif not notebooks:
            submissions.append((student, None, f"no notebook in {markdown(student)}/"))
        else:
            names = ", ".join(markdown(student_name(str(p.relative_to(folder)))) for p in notebooks)
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
        stem = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.@+") else "_" for ch in student).lstrip(".") or "_"
        names[student] = stem if stem == student and len(stem) <= 100 else tagged(student, stem)
    folded = [name.casefold() for name in names.values()]
    return {student: tagged(student, name) if folded.count(name.casefold()) > 1 else name
            for student, name in names.items()}


def spreadsheet_safe(text: str) -> str:
    """A CSV cell that no spreadsheet runs as a formula: a leading `'` where it starts like one (OWASP)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def csv_text(results: list[Result], key: AnswerKey, roster: dict[str, dict[str, str]] | None = None) -> str:
    """grades.csv; with a roster, each student's id, name and email follow their name."""
    handle = io.StringIO()
    writer = csv.writer(handle, lineterminator="\n")
    who = ["id", "name", "email"] if roster is not None else []
    writer.writerow(["student", *who, "status", "score", "max_score", *[t.grade_id for t in key.tests]])
    for r in sorted(results, key=lambda r: r.student):
        person = (roster or {}).get(r.student, {})
        writer.writerow([spreadsheet_safe(r.student), *[spreadsheet_safe(person.get(c, "")) for c in who], r.status,
                         points_text(r.score), points_text(key.max_score), *[points_text(r.tests[t.grade_id]) for t in key.tests]])
    return handle.getvalue()


def write_results(folder: Path, results: list[Result], executed: dict[str, str], names: dict[str, str],
                  key: AnswerKey, roster: dict[str, dict[str, str]] | None = None) -> list[str]:
    """grades.csv, then each student's feedback and executed notebook; the students whose files could not be written."""
    write_atomic(folder / "grades.csv", csv_text(results, key, roster))
    unwritten = []
    for result in results:
        name = names[result.student]
        try:
            if result.student in executed:
                write_atomic(folder / "executed" / f"{name}.ipynb", executed[result.student])
            write_atomic(folder / "feedback" / f"{name}.md", feedback_markdown(result, key))
        except OSError as error:
            unwritten.append(f"{result.student} ({error})")
    return unwritten


def summary(results: list[Result], key: AnswerKey, seconds: float) -> str:
    graded = [r for r in results if r.status != "invalid"]
    counts = ", ".join(f"{s} {sum(r.status == s for r in results)}" for s in STATUSES)
    mean = sum(r.score for r in results) / len(results) if results else 0.0
    return (f"{key.lesson}: {len(results)} submission(s), {len(graded)} executed, mean score "
            f"{mean:.2f} / {points_text(key.max_score)}; status: {counts}; {seconds:.0f} s")


def check_arguments(submissions: Path, out: Path, workers: int, limits: Limits, regrade: bool = False) -> None:
    """ValueError or FileNotFoundError, with what to do, for arguments that cannot give a good batch (`regrade`:
    OUT must hold one)."""
    if workers < 1:
        raise ValueError(f"--workers must be at least 1 (got {workers}).")
    check_limits(limits)
    if not submissions.is_dir():
        raise FileNotFoundError(f"{submissions} is not a folder of submissions.")
    if out == submissions or submissions in out.parents:
        raise ValueError("OUT must not be SUBMISSIONS or inside it (its notebooks would count as submissions).")
    if out in submissions.parents:
        raise ValueError("SUBMISSIONS must not be inside OUT (OUT is where the grades go).")
    if regrade and not out.is_dir():
        raise ValueError(f"--only regrades one student into a folder a batch wrote, and {out} is not one.")
    if not regrade and out.exists() and (not out.is_dir() or any(out.iterdir())):
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
def _local_pool(workers: int, key: AnswerKey, helpers: dict[str, bytes], limits: Limits, box: Sandbox | None):
    """(submit, as_completed, description) for worker processes on this machine."""
    running = Workers()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        try:
            yield (lambda student, text, problem: pool.submit(grade_one, student, text, key, helpers, limits, running,
                                                              box, problem),
                   as_completed, f"with {workers} worker(s) and {limits.threads['OMP_NUM_THREADS']} thread(s) each")
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            running.close()


@contextmanager
def _dask_cluster(scheduler: str, key: AnswerKey, helpers: dict[str, bytes], limits: Limits, sandboxed: bool):
    """(submit, as_completed, description) for one Dask task per submission on the cluster at `scheduler`."""
    from distributed import Client
    from distributed import as_completed as dask_completed

    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError) as error:
        raise OSError(f"cannot reach the Dask scheduler at {scheduler} ({error}); start one with `dask scheduler` "
                      "and give its address, such as tcp://host:8786 (see 'On a Dask cluster' in docs/instructors.md).") from None
    with client:
        slots = Counter()
        for worker in client.scheduler_info()["workers"].values():
            slots[worker["host"]] += worker["nthreads"]
        joined = (f"{len(client.scheduler_info()['workers'])} worker(s), {sum(slots.values())} thread(s)" if slots
                  else "no worker yet: the batch starts when workers join")
        yield (lambda student, text, problem: client.submit(grade_on_dask_worker, student, text, key, helpers, limits,
                                                            dict(slots), sandboxed, problem, pure=False),
               dask_completed, f"on the Dask cluster at {scheduler} ({joined})")


def _previous_batch(out: Path, key: AnswerKey) -> tuple[dict, list[Result]]:
    """(batch.json, the results) of the graded folder `out`, which must have been graded with this answer key."""
    from course_tools.gradebook import read_graded

    batch, results = read_graded(out)
    if batch.get("answer_key_sha256") != key.digest:
        raise ValueError(f"{out} was graded with another answer key than {key.lesson}'s as it is now: regrade the "
                         "whole class into a new folder instead, so that every student is graded alike.")
    return batch, results


def write_batch(folder: Path, results: list[Result], executed: dict[str, str], names: dict[str, str], key: AnswerKey,
                texts: dict[str, str | None], roster: dict[str, dict[str, str]] | None, batch: dict) -> list[str]:
    """Everything a batch writes into `folder`: grades, feedback, executed notebooks, results.json, batch.json, the
    roster's copy, report.md with its figures and similarity.md; grades, feedback and report with the points set by hand
    in `folder`/overrides.csv (results.json keeps the grader's own). Returns the students whose files could not be
    written."""
    from course_tools import gradebook, report, similarity

    shown = gradebook.apply_overrides(results, gradebook.read_overrides(folder))  # points set by hand, kept
    batch["summary"] = summary(shown, key, batch["seconds"])
    unwritten = write_results(folder, shown, executed, names, key, roster)
    write_atomic(folder / "results.json", json.dumps([asdict(r) for r in sorted(results, key=lambda r: r.student)],
                                                     indent=1) + "\n")
    write_atomic(folder / "batch.json", json.dumps(batch, indent=2) + "\n")
    roster_lines = None
    if roster is not None:
        gradebook.write_roster(folder / "roster.csv", roster)
        roster_lines = gradebook.roster_problems(roster, [r.student for r in results])
    report.write_report(folder, shown, key, batch["summary"], roster_lines)
    written = {student: similarity.answers(text, key) for student, text in texts.items() if text is not None}
    write_atomic(folder / "similarity.md", similarity.markdown(similarity.compare(written), key.lesson, len(texts)))
    return unwritten


def _move_into_place(fresh: Path, out: Path, replace: bool) -> None:
    """Make the complete folder `fresh` the new `out`; with `replace`, the earlier batch in `out` is swapped out."""
    if not replace:
        if out.exists():
            out.rmdir()  # empty, checked before grading; fails rather than replace anything that appeared since
        fresh.rename(out)
        return
    previous = fresh.with_name(fresh.name.replace(".grading-", ".previous-"))
    out.rename(previous)
    try:
        fresh.rename(out)
    except OSError:
        previous.rename(out)
        raise
    shutil.rmtree(previous, ignore_errors=True)


def grade(lesson: str, submissions: Path, out: Path, workers: int | None = None, timeout: float = DEFAULT_TIMEOUT,
          memory_mb: int = DEFAULT_MEMORY_MB, max_output_mb: float = DEFAULT_MAX_OUTPUT_MB,
          solutions: Path | None = None, scheduler: str | None = None, unsandboxed: bool = False,
          key: AnswerKey | None = None, roster: Path | None = None, only: str | None = None,
          progress=print) -> list[Result]:
    """Grade every submission in `submissions`; write grades.csv, feedback/, executed/, results.json, batch.json,
    report.md and similarity.md into a new `out`.

    Submissions run in `workers` worker processes here, or with `scheduler` (a Dask scheduler's address)
    one Dask task each on that cluster; each in a sandbox unless `unsandboxed`. `key`, when given, is the
    lesson's answer key already read. `roster` (a CSV, see course_tools.gradebook) adds each student's id,
    name and email. `only` regrades that one student into the existing `out` (graded with the same key):
    the other rows stay as they were; report, similarity and summary are written again.
    """
    from course_tools.gradebook import read_roster, roster_problems
    from course_tools.runner import select

    def say(line: str) -> None:
        progress(terminal(line))  # names and problems may hold what a submission chose

    if scheduler is not None and workers is not None:
        raise ValueError("--workers applies to grading on this machine; with --scheduler the cluster's workers "
                         "decide how many submissions run at once.")
    workers = (os.cpu_count() or 1) if workers is None else workers
    limits = Limits(timeout, memory_mb, max_output_mb, thread_caps(workers))
    submissions, out = submissions.resolve(), out.resolve()
    check_arguments(submissions, out, workers, limits, regrade=only is not None)
    matching = select([lesson], solutions)
    if len(matching) != 1:
        raise ValueError(f"{lesson!r} names {len(matching)} lessons: {', '.join(p.stem for p in matching)}.")
    key, helpers = key or load_key(matching[0]), read_helpers()  # read once, before any kernel starts
    batch, previous = ({}, []) if only is None else _previous_batch(out, key)
    if roster is None and only is not None and (out / "roster.csv").is_file():
        roster = out / "roster.csv"
    students = read_roster(roster) if roster is not None else None
    found = find_submissions(submissions, key.lesson)
    if not found:
        raise ValueError(f"no submissions in {submissions}: expected <student>.ipynb or <student>/<notebook>.ipynb.")
    if only is not None and only not in [student for student, _, _ in found]:
        raise ValueError(f"no submission named {only!r} in {submissions}.")
    texts = {student: read_submission_file(submissions, path, problem) for student, path, problem in found}
    box = None if unsandboxed or scheduler else sandbox.make()
    unshared = None if box is None else cgroups.unavailable()
    if unshared:
        say(f"note: {unshared}, so each sandbox gets no control group: submissions graded side by side share the "
            "cores and memory, and a greedy one can slow the others (grade as root, or with --workers 1)")
    if unsandboxed:
        say(f"WARNING: grading without a sandbox (--unsandboxed). {sandbox.ADVICE.split('. ', 1)[1]}")
    if students is not None:
        for line in roster_problems(students, list(texts)):
            say(f"roster: {line[2:]}")
    names = file_names(list(texts))
    start = time.monotonic()
    out.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{out.name}.grading-", dir=out.parent))
    try:
        pool = (_dask_cluster(scheduler, key, helpers, limits, not unsandboxed) if scheduler
                else _local_pool(workers, key, helpers, limits, box))
        graded = [only] if only is not None else list(texts)
        results, executed = [], {}
        with pool as (submit, completed, where):
            say(f"grading {len(graded)} submission(s) of {key.lesson} {where}, {timeout:g} s and {memory_mb} MB "
                     f"each, {'unsandboxed' if unsandboxed else 'each in a sandbox'}")
            futures = {submit(student, *texts[student]): student for student in graded}
            for future in completed(futures):
                student = futures[future]
                try:
                    result, notebook_text = future.result()
                except Exception as error:  # noqa: BLE001 - e.g. the Dask workers running it kept dying
                    result, notebook_text = blank_result(student, key, "error", f"its grading task was lost "
                                                                                f"({type(error).__name__})"), None
                results.append(result)
                if notebook_text is not None:
                    executed[student] = notebook_text
                say(f"  {progress_line(len(results), len(graded), time.monotonic() - start)} {student}: "
                         f"{result.status}, {points_text(result.score)} / {points_text(key.max_score)}"
                         f"{f' ({result.problem})' if result.problem else ''}")
        # Every sandbox of the batch is gone: only now is anything written.
        if only is None:
            for folder in ("feedback", "executed"):
                (fresh / folder).mkdir()
            batch = {"lesson": key.lesson, "answer_key_sha256": key.digest, "helpers_sha256": digest(helpers),
                     "sandbox": "none (--unsandboxed)" if unsandboxed else "bubblewrap, one per submission"
                     + (f" (no control groups: {unshared})" if unshared else ""),
                     "seconds": round(time.monotonic() - start, 1)}
        else:
            shutil.copytree(out, fresh, dirs_exist_ok=True)
            (fresh / "executed" / f"{names[only]}.ipynb").unlink(missing_ok=True)
            batch["regraded"] = [*batch.get("regraded", []), only]
            results = [r for r in previous if r.student != only] + results
        batch["submissions"] = len(results)
        unwritten = write_batch(fresh, results, executed, names, key, {s: texts[s][0] for s in texts}, students,
                                batch)
        _move_into_place(fresh, out, replace=only is not None)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    say(batch["summary"])
    say(f"wrote {out / 'grades.csv'}, {out / 'report.md'}, {out / 'similarity.md'}, {out / 'feedback'}/, "
             f"{out / 'executed'}/, {out / 'batch.json'}")
    if unwritten:
        raise OSError(f"the feedback of {len(unwritten)} student(s) could not be written: {'; '.join(unwritten)}")
    return results
