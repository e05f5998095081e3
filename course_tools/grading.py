"""Grade a folder of student submissions against a lesson's solution notebook.

The solution notebook is the answer key: its test cells (nbgrader metadata `grade: true`, with
`points`) hold the visible checks and the hidden tests. Each submission is rebuilt with the
solution's test cells (and its setup and parameters cells) in place of its own, matched by cell
id, nbgrader `grade_id` or unchanged visible source; it then runs in its own worker process and
fresh kernel (papermill's parameter injection, smoke profile; nbclient with `allow_errors`, so
every cell runs and each test cell passes or fails on its own), in a temporary working directory,
under a memory limit, an output cap and a time limit. A test cell passes when it runs and shows
no error; its points come from the solution only.

Run `python -m course_tools grade LESSON SUBMISSIONS OUT`; this module is also the worker
(`python -m course_tools.grading --worker ...`), started once per submission.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_tools import config
from course_tools.notebook import normalize, parameters_cell, read, setup_cell, student_source

STATUSES = ("ok", "error", "timeout", "invalid")
DEFAULT_TIMEOUT = 300  # seconds per submission; lesson 01 takes about 30 s in the smoke profile
DEFAULT_MEMORY_MB = 6144  # address space of a worker and its kernel (TensorFlow alone maps ~2.5 GB)
DEFAULT_MAX_OUTPUT_MB = 5.0  # outputs kept per notebook (the committed solutions stay under 1.5 MB)
MAX_FILE_MB = 1024  # largest file a submission may write
WORKER_EXIT_KERNEL_DIED = 3


class InvalidSubmission(ValueError):
    """A submission that cannot be graded at all (not a notebook, wrong lesson, ambiguous)."""


# ------------------------------------------------------------------------------ the answer key

@dataclass
class FixedCell:
    """A cell the grader takes from the solution: the setup, parameters and test cells."""
    cell: nbformat.NotebookNode
    position: int  # index in the solution
    visible: str  # the source a student's copy shows (hidden tests removed)
    grade_id: str | None = None
    points: float = 0.0

    @property
    def id(self) -> str:
        return self.cell.id


@dataclass
class AnswerKey:
    lesson: str
    solution_ids: list[str]
    fixed: list[FixedCell]  # in solution order

    @property
    def tests(self) -> list[FixedCell]:
        return [f for f in self.fixed if f.grade_id is not None]

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests)


def load_key(solution: Path) -> AnswerKey:
    nb = normalize(read(solution), keep_outputs=False)
    fixed = []
    for position, cell in enumerate(nb.cells):
        grader = cell.metadata.get("nbgrader", {})
        is_test = bool(grader.get("grade")) and cell.cell_type == "code"
        if is_test or cell is setup_cell(nb) or cell is parameters_cell(nb):
            visible = student_source(cell, f"{solution.name} cell {position}")
            fixed.append(FixedCell(
                cell=cell, position=position, visible=visible.strip(),
                grade_id=(grader.get("grade_id") or cell.id) if is_test else None,
                points=float(grader.get("points", 0)) if is_test else 0.0))
    key = AnswerKey(solution.stem, [c.id for c in nb.cells], fixed)
    if not key.tests:
        raise ValueError(f"{solution.name} has no graded test cells (nbgrader `grade: true` with points).")
    return key


# ------------------------------------------------------------------------ preparing a submission

def _read_submission(text: str):
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidSubmission(f"not valid JSON ({error})") from None
    if not isinstance(raw, dict) or raw.get("nbformat") != 4 or not isinstance(raw.get("cells"), list):
        raise InvalidSubmission("not a Jupyter notebook in format 4")
    try:
        nb = nbformat.reads(text, as_version=4, capture_validation_error={})
    except Exception as error:  # noqa: BLE001 - any reader failure makes the file ungradable
        raise InvalidSubmission(f"not a readable notebook ({type(error).__name__}: {error})") from None
    seen = set()
    for index, cell in enumerate(nb.cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise InvalidSubmission(f"cell {index} is not a notebook cell")
        if not isinstance(cell.get("source", ""), str):
            raise InvalidSubmission(f"cell {index} has no readable source")
        cell.setdefault("source", "")
        cell.setdefault("metadata", nbformat.NotebookNode())
        if cell.cell_type == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
        # Cells without ids (older Jupyter, Colab) get stable ones; duplicates are renamed.
        cell_id = cell.get("id") if isinstance(cell.get("id"), str) and cell.get("id") else f"submitted-{index}"
        while cell_id in seen:
            cell_id = f"{cell_id}-{index}"
        cell["id"] = cell_id
        seen.add(cell_id)
    return normalize(nb, keep_outputs=False)


def _matches(cell, fixed: FixedCell) -> bool:
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    return (cell.id == fixed.id or (fixed.grade_id is not None and grade_id == fixed.grade_id)
            or (cell.cell_type == "code" and cell.source.strip() == fixed.visible))


def prepare(text: str, key: AnswerKey, profile: str = "smoke") -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to execute: the submission with the solution's fixed cells in place.

    Returns the notebook and notes for the feedback (test cells that were missing or edited).
    """
    from papermill.parameterize import parameterize_notebook  # imported here: slow to import

    nb = _read_submission(text)
    notes = []
    known_ids = set(key.solution_ids)
    if not any(cell.id in known_ids or any(_matches(cell, f) for f in key.fixed) for cell in nb.cells):
        raise InvalidSubmission(f"no cell in common with lesson {key.lesson}: is this the right notebook?")
    cells = []
    placed: dict[str, int] = {}
    for cell in nb.cells:
        matched = next((f for f in key.fixed if _matches(cell, f)), None)
        claims_test = bool(cell.metadata.get("nbgrader", {}).get("grade"))
        if matched is not None and matched.id not in placed:
            if matched.grade_id is not None and cell.source.strip() not in (matched.visible, matched.cell.source.strip()):
                notes.append(f"Test cell `{matched.grade_id}` was edited; the original was run instead.")
            placed[matched.id] = len(cells)
            cells.append(copy.deepcopy(matched.cell))
        elif matched is None and not claims_test and "injected-parameters" not in cell.metadata.get("tags", []):
            if "parameters" in cell.metadata.get("tags", []):
                cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != "parameters"]
            cells.append(cell)
        # else: a second copy of a fixed cell, a cell that claims to be a test the key does not have,
        # or parameters papermill injected in an earlier run: dropped, so that only the solution's
        # tests run and score, in the profile the grader sets.
    for fixed in key.fixed:
        if fixed.id in placed:
            continue
        if fixed.grade_id is not None:
            notes.append(f"Test cell `{fixed.grade_id}` was missing; the original was run in its place.")
        at = 0
        for earlier in reversed(key.solution_ids[: fixed.position]):
            index = next((i for i, c in enumerate(cells) if c.id == earlier), None)
            if index is not None:
                at = index + 1
                break
        cells.insert(at, copy.deepcopy(fixed.cell))
        placed = {c.id: i for i, c in enumerate(cells)}
    nb.cells = cells
    nb.metadata["papermill"] = {}
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])  # papermill looks for the parameters tag in every cell
    nb = parameterize_notebook(nb, {"PROFILE": profile})
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata["tags"]:
            cell.id = "injected-parameters"  # a stable id instead of a random one
        if not cell.metadata.get("tags"):
            cell.metadata.pop("tags", None)
    return nb, notes


# ------------------------------------------------------------------------------------ the worker

def _worker(prepared: Path, executed: Path, cwd: Path, memory_mb: int, max_output_mb: float) -> int:
    """Execute one prepared notebook in a fresh kernel; save it after every cell."""
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))  # inherited by the kernel
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_MB * 2**20, MAX_FILE_MB * 2**20))
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    state_file = executed.with_suffix(".state.json")
    state = {"kernel_pid": None, "running": None, "kernel_died": None, "truncated": None}

    def save_state():
        state_file.write_text(json.dumps(state), encoding="utf-8")

    def save_notebook(nb):
        partial = executed.with_suffix(".partial")
        nbformat.write(nb, str(partial))
        partial.replace(executed)

    class CappedClient(NotebookClient):
        """Keeps at most `max_output_mb` of outputs; error outputs are always kept."""
        budget = int(max_output_mb * 2**20)

        def output(self, outs, msg, display_id, cell_index):
            try:
                size = len(json.dumps(msg.get("content", {})))
            except (TypeError, ValueError):
                size = len(str(msg.get("content", "")))
            if msg["msg_type"] == "error":
                content = msg["content"]
                content["traceback"] = content.get("traceback", [])[-20:]
                content["evalue"] = str(content.get("evalue", ""))[:2000]
            elif size > self.budget:
                self.budget = 0
                if state["truncated"] is None:
                    state["truncated"] = cell_index
                    save_state()
                    outs.append(nbformat.v4.new_output(
                        "stream", name="stderr",
                        text=f"\n[grader: output over {max_output_mb:g} MB; the rest of this notebook's output "
                             "was dropped]\n"))
                return None
            else:
                self.budget -= size
            return super().output(outs, msg, display_id, cell_index)

    nb = read(prepared)

    def on_start(**_):
        state["kernel_pid"] = getattr(client.km.provisioner, "pid", None)
        save_state()

    def on_cell_start(cell_index, **_):
        state["running"] = cell_index
        save_state()

    def on_cell_executed(**_):
        save_notebook(nb)

    client = CappedClient(
        nb, timeout=None, allow_errors=True, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(cwd)}}, on_notebook_start=on_start,
        on_cell_execute=on_cell_start, on_cell_executed=on_cell_executed)
    try:
        client.execute()
    except DeadKernelError:
        state["kernel_died"] = state["running"]
        save_state()
        save_notebook(nb)
        return WORKER_EXIT_KERNEL_DIED
    save_notebook(nb)
    return 0


# ---------------------------------------------------------------------------------- one submission

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


def _error_text(output) -> str:
    message = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}".strip()
    return message.rstrip(":")


def _kill_group(pid: int | None) -> None:
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def grade_one(student: str, submission: Path | None, key: AnswerKey, out: Path, timeout: float,
              memory_mb: int, max_output_mb: float, problem: str | None = None) -> Result:
    """Grade one submission; never raises for anything the submission does."""
    result = Result(student, "invalid", {t.grade_id: 0.0 for t in key.tests},
                    {t.grade_id: "not run" for t in key.tests})
    if problem is not None:
        result.problem = problem
        return result
    try:
        nb, result.notes = prepare(submission.read_text(encoding="utf-8", errors="replace"), key)
    except (InvalidSubmission, OSError) as error:
        result.problem = str(error)
        return result
    except Exception as error:  # noqa: BLE001 - a file the reader chokes on must not stop the batch
        result.problem = f"could not be read as a notebook ({type(error).__name__}: {error})"
        return result
    work = Path(tempfile.mkdtemp(prefix=f"grade-{key.lesson}-"))
    executed = out / "executed" / f"{student}.ipynb"
    try:
        prepared = work / "prepared.ipynb"
        nbformat.write(nb, str(prepared))
        run_dir = work / "run"
        run_dir.mkdir()
        worker_out = work / "executed.ipynb"
        env = {
            **os.environ,
            "COURSE_RUN_DIR": str(run_dir),
            "COURSE_METRICS_FILE": str(work / "metrics.jsonl"),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(config.ROOT), os.environ.get("PYTHONPATH")])),
            "MPLBACKEND": "Agg",
            "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
        }
        command = [sys.executable, "-m", "course_tools.grading", "--worker", str(prepared), str(worker_out),
                   "--cwd", str(run_dir), "--memory-mb", str(memory_mb), "--max-output-mb", str(max_output_mb)]
        start = time.monotonic()
        with open(work / "worker.log", "w", encoding="utf-8") as log:
            process = subprocess.Popen(command, cwd=run_dir, stdout=log, stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True)
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                code = None
            state_file = worker_out.with_suffix(".state.json")
            state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.exists() else {}
            # The kernel runs in its own session: end it and anything it started, then the worker.
            _kill_group(state.get("kernel_pid"))
            _kill_group(process.pid)
            process.wait()
        result.seconds = round(time.monotonic() - start, 1)
        ran = read(worker_out) if worker_out.exists() else nb
        if worker_out.exists():
            shutil.copyfile(worker_out, executed)
        else:
            nbformat.write(nb, str(executed))
        _score(result, ran, key, code, state, timeout, work / "worker.log")
    except Exception as error:  # noqa: BLE001 - the batch always completes
        result.status, result.problem = "error", f"the grader failed on it ({type(error).__name__}: {error})"
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _score(result: Result, ran, key: AnswerKey, code: int | None, state: dict, timeout: float, log: Path) -> None:
    cells = [c for c in ran.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    by_id = {c.id: c for c in cells}
    label = {c.id: f"cell {i + 1} (id `{c.id}`)" for i, c in enumerate(cells)}
    running = state.get("running")
    running_id = ran.cells[running].id if running is not None and running < len(ran.cells) else None
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
    elif code == WORKER_EXIT_KERNEL_DIED:
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


def _safe(student: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.@+" else "_" for ch in student).lstrip(".") or "_"


def _points(value: float) -> str:
    return f"{value:g}"


def write_csv(results: list[Result], key: AnswerKey, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["student", "status", "score", "max_score", *[t.grade_id for t in key.tests]])
        for r in sorted(results, key=lambda r: r.student):
            writer.writerow([r.student, r.status, _points(r.score), _points(key.max_score),
                             *[_points(r.tests[t.grade_id]) for t in key.tests]])


def feedback_markdown(result: Result, key: AnswerKey) -> str:
    lines = [f"# {key.lesson}: feedback for {result.student}", "",
             f"**Score: {_points(result.score)} / {_points(key.max_score)}** (status: {result.status})", ""]
    if result.problem:
        what = {"invalid": "The submission could not be graded", "timeout": "The notebook was stopped",
                "error": "Running the notebook raised an error"}[result.status]
        lines += [f"{what}: {result.problem}.", ""]
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


def summary(results: list[Result], key: AnswerKey, seconds: float) -> str:
    graded = [r for r in results if r.status != "invalid"]
    counts = ", ".join(f"{s} {sum(r.status == s for r in results)}" for s in STATUSES)
    mean = sum(r.score for r in results) / len(results) if results else 0.0
    return (f"{key.lesson}: {len(results)} submission(s), {len(graded)} executed, mean score "
            f"{mean:.2f} / {_points(key.max_score)}; status: {counts}; {seconds:.0f} s")


def grade(lesson: str, submissions: Path, out: Path, workers: int | None = None, timeout: float = DEFAULT_TIMEOUT,
          memory_mb: int = DEFAULT_MEMORY_MB, max_output_mb: float = DEFAULT_MAX_OUTPUT_MB,
          solutions: Path = config.SOLUTIONS, progress=print) -> list[Result]:
    """Grade every submission in `submissions`; write grades.csv, feedback/ and executed/ into `out`."""
    from course_tools.runner import select

    matching = select([lesson], solutions)
    if len(matching) != 1:
        raise ValueError(f"{lesson!r} names {len(matching)} lessons: {', '.join(p.stem for p in matching)}.")
    key = load_key(matching[0])
    submissions, out = submissions.resolve(), out.resolve()
    if not submissions.is_dir():
        raise FileNotFoundError(f"{submissions} is not a folder of submissions.")
    if out == submissions or submissions in out.parents:
        raise ValueError("OUT must not be inside SUBMISSIONS (the executed notebooks would count as submissions).")
    for folder in ("feedback", "executed"):
        shutil.rmtree(out / folder, ignore_errors=True)
        (out / folder).mkdir(parents=True)
    found = [(_safe(student), path, problem) for student, path, problem in find_submissions(submissions, key.lesson)]
    workers = max(1, workers or os.cpu_count() or 1)
    progress(f"grading {len(found)} submission(s) of {key.lesson} with {workers} worker(s), "
             f"{timeout:g} s and {memory_mb} MB each")
    start = time.monotonic()

    def one(item):
        student, path, problem = item
        result = grade_one(student, path, key, out, timeout, memory_mb, max_output_mb, problem)
        (out / "feedback" / f"{student}.md").write_text(feedback_markdown(result, key), encoding="utf-8")
        progress(f"  {student}: {result.status}, {_points(result.score)} / {_points(key.max_score)}"
                 f"{f' ({result.problem})' if result.problem else ''}")
        return result

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = sorted(pool.map(one, found), key=lambda r: r.student)
    write_csv(results, key, out / "grades.csv")
    progress(summary(results, key, time.monotonic() - start))
    progress(f"wrote {out / 'grades.csv'}, {out / 'feedback'}/, {out / 'executed'}/")
    return results


def _worker_main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="grading worker (started by the grader)")
    parser.add_argument("--worker", nargs=2, type=Path, metavar=("PREPARED", "EXECUTED"), required=True)
    parser.add_argument("--cwd", type=Path, required=True)
    parser.add_argument("--memory-mb", type=int, required=True)
    parser.add_argument("--max-output-mb", type=float, required=True)
    args = parser.parse_args(argv)
    return _worker(*args.worker, args.cwd, args.memory_mb, args.max_output_mb)


if __name__ == "__main__":
    sys.exit(_worker_main())
