"""Grading one submission: rebuild it, run it in its sandbox, and score what it handed in.

The submission is rebuilt with the answer key's fixed cells (course_tools.rebuild) and executed
by a worker in a sandbox of its own (course_tools.execute, course_tools.sandbox). The kernel decides
nothing: a test cell earns its points when every value its checks handed in (course_tools.handin)
matches the key's reference value within the check's tolerance, compared here. What the student
reads is written by the grader or the key: a failed check's message comes from the key's source,
an error is named by its cell and, when it is one of a few common classes, its class only, and no
line of a hidden test or a solution survives `redact`. The executed notebook returned to the student
is the grader's own prepared notebook, its test cells shown as students see them (hidden tests
removed), with the outputs the worker told of, redacted alike.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_tools.execute import execute
from course_tools.files import write_atomic
from course_tools.handin import VISIBLE_CHECK
from course_tools.notebook import STUB_CODE, is_injected_parameters, student_source
from course_tools.processes import Workers
from course_tools.rebuild import AnswerKey, InvalidSubmission, prepare
from course_tools.sandbox import Sandbox
from course_tools.untrusted import markdown
from course_tools.worker import EXIT_KERNEL_DIED

PROFILE = "smoke"
STATUSES = ("ok", "error", "timeout", "invalid")  # how a submission's grading ended (docs/instructors.md)
DEFAULT_TIMEOUT = 300  # seconds per submission: several times the longest lesson's smoke run
DEFAULT_MEMORY_MB = 6144  # address space of a worker and its kernel (TensorFlow alone maps ~2.5 GB)
MIN_MEMORY_MB = 3072  # below this a kernel cannot import TensorFlow: every submission would fail
DEFAULT_MAX_OUTPUT_MB = 5.0  # outputs kept per notebook (the committed solutions stay under 1.5 MB)
# The exception classes a problem names; any other is "an exception". A short list, because which class a
# submission raises is a signal it chooses: the fewer names, the less it can say through them.
NAMED_EXCEPTIONS = ("AssertionError", "AttributeError", "ImportError", "IndentationError", "IndexError", "KeyError",
                    "MemoryError", "ModuleNotFoundError", "NameError", "NotImplementedError", "RecursionError",
                    "RuntimeError", "SyntaxError", "TypeError", "ValueError", "ZeroDivisionError")
REDACTED = "[a line that quoted the answer key was removed]"
MAX_PROBLEM = 300  # characters of a problem sentence (it may name files the student chose)


@dataclass
class Result:
    student: str
    status: str
    tests: dict[str, float] = field(default_factory=dict)  # grade_id -> points earned
    feedback: dict[str, str] = field(default_factory=dict)  # grade_id -> message ("" when passed)
    problem: str | None = None  # why the status is not ok
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    visible: dict[str, bool] = field(default_factory=dict)  # grade_id -> whether its visible checks passed

    @property
    def score(self) -> float:
        return sum(self.tests.values())


@dataclass
class Limits:
    timeout: float = DEFAULT_TIMEOUT
    memory_mb: int = DEFAULT_MEMORY_MB
    max_output_mb: float = DEFAULT_MAX_OUTPUT_MB
    threads: dict = field(default_factory=dict)  # thread-cap environment of each worker


def check_limits(limits: Limits) -> None:
    """ValueError, with what to do, for limits under which no submission could be graded."""
    if not limits.timeout > 0:
        raise ValueError(f"--timeout must be a positive number of seconds (got {limits.timeout:g}).")
    if limits.memory_mb < MIN_MEMORY_MB:
        raise ValueError(f"--memory-mb must be at least {MIN_MEMORY_MB}: a kernel needs about 2.5 GB of address "
                         f"space to import TensorFlow (got {limits.memory_mb}).")
    if not limits.max_output_mb > 0:
        raise ValueError(f"--max-output-mb must be positive (got {limits.max_output_mb:g}).")


def blank_result(student: str, key: AnswerKey, status: str = "invalid", problem: str | None = None) -> Result:
    """A result with no test run: every test at 0 points, "not run"."""
    return Result(student, status, {t.grade_id: 0.0 for t in key.tests}, {t.grade_id: "not run" for t in key.tests},
                  problem)


def exception_name(output) -> str:
    """The class of an error output when it is one of NAMED_EXCEPTIONS, else "an exception" (the kernel writes it)."""
    name = output.get("ename")
    return name if name in NAMED_EXCEPTIONS else "an exception"


def grade_one(student: str, text: str | None, key: AnswerKey, helpers: dict[str, bytes], limits: Limits,
              workers: Workers, sandbox: Sandbox | None, problem: str | None = None) -> tuple[Result, str | None]:
    """Grade one submission's text: (its result, the executed notebook as JSON or None); never raises for
    anything the submission does. `helpers` is the batch's copy of the course helpers (relative path -> bytes)."""
    result = blank_result(student, key, problem=problem)
    if problem is not None:
        return result, None
    try:
        nb, result.notes = prepare(text, key, PROFILE)
    except InvalidSubmission as error:
        result.problem = str(error)
        return result, None
    except Exception as error:  # noqa: BLE001 - a file the reader chokes on must not stop the batch
        result.problem = f"could not be read as a notebook ({type(error).__name__})"
        return result, None
    root = Path(tempfile.mkdtemp(prefix=f"grade-{key.lesson}-"))
    executed_text = None
    try:
        for relative, data in helpers.items():
            (root / "helpers" / relative).parent.mkdir(parents=True, exist_ok=True)
            (root / "helpers" / relative).write_bytes(data)
        write_atomic(root / "prepared.ipynb", nbformat.writes(nb))
        run = execute(root / "prepared.ipynb", root / "executed.ipynb", root / "box", profile=PROFILE,
                      timeout=limits.timeout, workers=workers, helpers=root / "helpers", allow_errors=True,
                      sandbox=sandbox, memory_mb=limits.memory_mb, max_output_mb=limits.max_output_mb,
                      threads=limits.threads)
        result.seconds = run.seconds
        executed_text = nbformat.writes(returned(run.notebook, key))
        score(result, key, nb, run.notebook, run.handed_in, run.code, run.state, limits.timeout)
    except Exception as error:  # noqa: BLE001 - the batch always completes
        result.status, result.problem = "error", f"the grader failed on it ({type(error).__name__})"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return result, executed_text


def returned(ran, key: AnswerKey):
    """The executed notebook as the student gets it back: test cells as in the student's copy (no hidden test),
    every text of every output redacted."""
    shown = copy.deepcopy(ran)
    tests = {t.id for t in key.tests}
    for cell in shown.cells:
        if cell.id in tests:
            cell.source = student_source(cell, f"test cell {cell.id}")
        for output in cell.get("outputs", []):
            for name in ("text", "evalue"):
                if isinstance(output.get(name), str):
                    output[name] = redact(output[name], key)
            if "traceback" in output:
                output["traceback"] = [redact(line, key) for line in output["traceback"]]
            data = output.get("data", {})
            for kind, value in list(data.items()):
                if isinstance(value, str):
                    data[kind] = redact(value, key)
                else:  # JSON data: dropped whole when its text holds a line of the key
                    text = json.dumps(value)
                    if redact(text, key) != text:
                        del data[kind]
    return shown


def _label(index: int, cell) -> str:
    """A cell as the student finds it: its number, and its id unless the grader made that up."""
    cell_id = re.sub(r"[^A-Za-z0-9_-]", "_", str(cell.get("id", "")))[:40]
    return f"cell {index + 1}" if cell_id.startswith("submitted-") else f"cell {index + 1} (id `{cell_id}`)"


def _stubbed(cell) -> bool:
    """Whether a cell still holds an exercise's untouched stub."""
    return cell.cell_type == "code" and all(line in cell.source for line in STUB_CODE)


def score(result: Result, key: AnswerKey, prepared, ran, handins: dict, code: int | None, state: dict,
          timeout: float) -> None:
    """Points from the handed-in values; status and messages from the grader's own reading of the run.

    Cells are labelled from `prepared`, the grader's notebook; `ran`, the same with the outputs the worker
    told of, only tells which cells ran and raised.
    """
    cells = [c for c in prepared.cells if not is_injected_parameters(c)]
    ran_cells = [c for c in ran.cells if not is_injected_parameters(c)]
    position = {c.id: i for i, c in enumerate(cells)}
    running = state.get("running")
    running_cell = prepared.cells[running] if type(running) is int and 0 <= running < len(prepared.cells) else None
    running_index = next((i for i, c in enumerate(cells) if c is running_cell), None)
    where = _label(running_index, running_cell) if running_index is not None else None
    previous = -1
    for test in key.tests:
        index = position.get(test.id)
        ran_cell = ran_cells[index] if index is not None else None
        result.visible[test.grade_id] = all(handins.get(VISIBLE_CHECK.format(name)) is True
                                            for name in test.visible_checks)
        failed = next((c for c in test.checks if not key.passes(c, handins)), None)
        stubbed = index is not None and any(_stubbed(c) for c in cells[previous + 1:index])
        previous = index if index is not None else previous
        if failed is None:
            result.tests[test.grade_id], result.feedback[test.grade_id] = test.points, ""
        elif failed.name in handins:
            result.feedback[test.grade_id] = failed.message
        elif ran_cell is None or ran_cell.get("execution_count") is None:
            stopped = f"ran out of time in {where}" if code is None and where else "stopped"
            result.feedback[test.grade_id] = f"not run: the notebook {stopped} before this test"
        elif stubbed:
            result.feedback[test.grade_id] = ("not attempted: the exercise before this test still raises "
                                              "NotImplementedError; replace it with your code")
        else:
            errors = [o for o in ran_cell.get("outputs", []) if o.get("output_type") == "error"]
            raised = f"it raised {exception_name(errors[0])}" if errors else "it stopped"
            result.feedback[test.grade_id] = f"{failed.message} (the check did not finish: {raised})"
    test_ids = {t.id for t in key.tests}
    first_error = next(((i, o) for i, c in enumerate(ran_cells) if cells[i].id not in test_ids
                        for o in c.get("outputs", []) if o.get("output_type") == "error"), None)
    if code is None:
        result.status = "timeout"
        result.problem = f"did not finish within {timeout:g} s (stopped {f'while running {where}' if where else 'before its first cell ran'})"
    elif code == EXIT_KERNEL_DIED:
        result.status = "error"
        result.problem = f"the kernel died while running {where or 'a cell'} (a crash or the memory limit)"
    elif code != 0:
        result.status, result.problem = "error", f"the grading worker failed (exit code {code})"
    elif first_error is not None:
        index, output = first_error
        result.status = "error"
        result.problem = f"{_label(index, cells[index])} raised {exception_name(output)}"
    elif state.get("truncated") is None:
        result.status = "ok"
    else:
        result.status, result.problem = "error", "the notebook printed more output than the grader keeps"
    if state.get("truncated") is not None:
        result.notes.append("Output over the grader's limit was dropped from the executed notebook.")


def redact(text: str, key: AnswerKey) -> str:
    """`text` with every line that holds a line of a hidden test or a solution replaced (defence in depth)."""
    return "\n".join(REDACTED if any(secret in line for secret in key.secrets_as_shown) else line
                     for line in text.split("\n"))


def points_text(value: float) -> str:
    """Points as grades.csv and the feedback write them: 3, 2.5."""
    return f"{value:g}"


def problem_sentence(result: Result) -> str:
    """Why a submission's status is not ok, as a sentence for the student."""
    what = {"invalid": "The submission could not be graded", "timeout": "The notebook was stopped",
            "error": "Running the notebook raised an error"}[result.status]
    problem = result.problem if len(result.problem) <= MAX_PROBLEM else result.problem[:MAX_PROBLEM] + "..."
    return f"{what}: {problem}."


def feedback_markdown(result: Result, key: AnswerKey) -> str:
    lines = [f"# {key.lesson}: feedback for {markdown(result.student[:100])}", "",
             f"**Score: {points_text(result.score)} / {points_text(key.max_score)}** (status: {result.status})", ""]
    if result.problem:
        lines += [problem_sentence(result), ""]
    lines += ["| test | result | points |", "|---|---|---:|"]
    for test in key.tests:
        passed = result.feedback[test.grade_id] == ""
        lines.append(f"| `{test.grade_id}` | {'passed' if passed else 'failed'} | "
                     f"{points_text(result.tests[test.grade_id])} / {points_text(test.points)} |")
    failed = [t for t in key.tests if result.feedback[t.grade_id]]
    if failed:
        lines += ["", "## What to fix", ""]
        for test in failed:
            lines.append(f"- `{test.grade_id}` ({points_text(test.points)} points): {result.feedback[test.grade_id]}")
    if result.notes:
        lines += ["", "## Notes", "", *[f"- {note}" for note in result.notes]]
    return redact("\n".join(lines) + "\n", key)
