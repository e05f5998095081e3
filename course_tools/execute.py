"""Executing a prepared notebook in a worker process: the one entry point for the course runner and the grader.

`execute` starts `python -m course_tools.worker` with the course's environment (profile, run folder,
metrics and hand-in files, helpers on PYTHONPATH), optionally inside a sandbox and a control group of
its own, feeds it the notebook, waits for it within its time limit and ends it and everything it
started. What the notebook did comes back only through the worker's channel (course_tools.processes):
the executed notebook is the prepared one, the grader's own, with the outputs the channel told of put
into its cells; nothing is read from the folder the notebook ran in. The notebook runs in `work`,
which in a sandbox is a new tmpfs at that path, gone when the sandbox ends.
"""
from __future__ import annotations

import copy
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course_tools import cgroups
from course_tools.files import write_atomic
from course_tools.handin import HANDIN_FILE_ENV, MAX_HANDIN_BYTES, parse_handins
from course_tools.notebook import read
from course_tools.processes import Workers
from course_tools.sandbox import Sandbox, filter_file, python, python_paths

# What a sandboxed worker gets of the grader's environment; everything else (tokens, keys) stays out.
PASSED_TO_SANDBOX = ("LANG", "LC_ALL", "TZ")
MAX_NOTEBOOK_MB = 64  # what the channel may carry when the outputs are not capped (the course runner)


@dataclass
class Execution:
    code: int | None  # the worker's exit code; None when it ran out of time
    work: Path
    notebook: nbformat.NotebookNode  # the prepared notebook with the outputs the worker told of
    handed_in: dict = field(default_factory=dict)  # hand-in name -> value
    state: dict = field(default_factory=dict)  # running: the last cell started; kernel_died, truncated
    seconds: float = 0.0

    @property
    def log(self) -> Path:
        return self.work / "worker.log"

    @property
    def metrics(self) -> Path:
        return self.work / "metrics.jsonl"

    @property
    def handins(self) -> Path:
        return self.work / "handin.jsonl"


def cache_folder() -> Path:
    """The lessons' download cache as model_utils.cache_dir finds it here (COURSE_CACHE_DIR or ~/.cache/seqcourse)."""
    return Path(os.environ.get("COURSE_CACHE_DIR") or Path.home() / ".cache" / "seqcourse").resolve()


def data_folder() -> Path | None:
    """COURSE_DATA_DIR with its links resolved (the path the sandbox binds and its kernel is told), if it is a folder."""
    named = os.environ.get("COURSE_DATA_DIR")
    folder = Path(named).resolve() if named else None
    return folder if folder is not None and folder.is_dir() else None


def data_folders() -> list[Path]:
    """The dataset folders a lesson may read: COURSE_DATA_DIR and the download cache, where they exist."""
    return [p for p in (data_folder(), cache_folder()) if p is not None and p.is_dir()]


def _valid_output(output) -> bool:
    """Whether a worker's description of one output is an nbformat output (the kernel chose its content)."""
    try:
        cell = nbformat.v4.new_code_cell(outputs=[nbformat.from_dict(output)])
        nbformat.validate(nbformat.v4.new_notebook(cells=[cell]))
        return True
    except Exception:  # noqa: BLE001 - anything that is not an output
        return False


def merged(nb, said: list[dict], record_timing: bool):
    """`nb` with each executed cell's outputs and execution count as the channel told them; what is not a valid
    output of one of its code cells is dropped."""
    ran = copy.deepcopy(nb)
    for message in said:
        index = message.get("cell")
        if type(index) is not int or not 0 <= index < len(ran.cells) or ran.cells[index].cell_type != "code":
            continue
        cell, outputs, count = ran.cells[index], message.get("outputs"), message.get("execution_count")
        cell.outputs = [nbformat.from_dict(o) for o in outputs if _valid_output(o)] if isinstance(outputs, list) else []
        cell.execution_count = count if type(count) is int else None
        timing = message.get("execution")
        if record_timing and isinstance(timing, dict) and all(isinstance(v, str) for v in timing.values()):
            cell.metadata["execution"] = {str(k): v for k, v in timing.items()}
    return ran


def state_of(said: list[dict], cells: int) -> dict:
    """The last cell started, whether the kernel died and the cell whose output was cut, from the channel."""
    state = {"running": None, "kernel_died": None, "truncated": None}
    for message in said:
        for name, value in message.items():
            if name in ("running", "truncated") and type(value) is int and 0 <= value < cells:
                state[name] = value
            elif name == "kernel_died":
                state[name] = state["running"]
    return state


def handed_in(said: list[dict]) -> dict:
    """The hand-ins the channel passed on, cell by cell."""
    return parse_handins("".join(m["handins"] for m in said if isinstance(m.get("handins"), str))[:MAX_HANDIN_BYTES])


def execute(prepared: Path, executed: Path, work: Path, *, profile: str, timeout: float, workers: Workers,
            helpers: Path, allow_errors: bool = False, sandbox: Sandbox | None = None, memory_mb: int | None = None,
            max_output_mb: float | None = None, threads: dict | None = None, figures_inline: bool = False,
            record_timing: bool = False, heartbeat=None) -> Execution:
    """Run `prepared` (a file of the caller's) into `executed` with the course helpers in `helpers`."""
    work.mkdir(parents=True, exist_ok=True)
    nb, data = read(prepared), data_folder()
    course = {
        "COURSE_RUN_DIR": str(work), "COURSE_METRICS_FILE": str(work / "metrics.jsonl"),
        HANDIN_FILE_ENV: str(work / "handin.jsonl"), "COURSE_PROFILE": profile, "PYTHONPATH": str(helpers),
        # Figures belong in an executed lesson, even when the caller exported MPLBACKEND=Agg.
        "MPLBACKEND": "module://matplotlib_inline.backend_inline" if figures_inline else "Agg",
        **({"COURSE_DATA_DIR": str(data)} if data else {}),
        **(threads or {}),
    }
    channel = os.pipe()  # Workers.run closes both ends
    command = [python() if sandbox else sys.executable, "-m", "course_tools.worker", "--channel-fd", str(channel[1]),
               "--cwd", str(work), "--cell-timeout", str(timeout)]
    command += ["--allow-errors"] if allow_errors else []
    command += ["--memory-mb", str(memory_mb)] if memory_mb is not None else []
    command += ["--max-output-mb", str(max_output_mb)] if max_output_mb is not None else []
    command += ["--record-timing"] if record_timing else []
    cap = int((max_output_mb or MAX_NOTEBOOK_MB) * 2**20 * 1.5) + 2 * MAX_HANDIN_BYTES  # outputs travel as JSON
    group, seccomp, started = None, None, False
    try:
        if sandbox is None:
            env = {**os.environ, **course,
                   "PYTHONPATH": os.pathsep.join(filter(None, [str(helpers), os.environ.get("PYTHONPATH")]))}
        else:
            env = {**{k: os.environ[k] for k in PASSED_TO_SANDBOX if k in os.environ}, **course,
                   "PATH": f"{Path(python()).parent}:/usr/bin:/bin", "HOME": str(work),
                   "COURSE_CACHE_DIR": str(cache_folder())}
            seccomp = filter_file()
            command = sandbox.wrap(command, [*python_paths(), helpers, *data_folders()], work, seccomp.fileno())
            if memory_mb is not None:
                cores = float((threads or {}).get("OMP_NUM_THREADS", os.cpu_count() or 1))
                group = cgroups.make_group(f"course-sandbox-{uuid.uuid4().hex[:12]}", cores, memory_mb)
                command = group.joining(command) if group else command
        start, started = time.monotonic(), True
        code, said, overflow = workers.run(
            command, channel=channel, channel_cap=cap, stdin=nbformat.writes(nb).encode(), log=work / "worker.log",
            timeout=timeout, env=env, cwd=work, pass_fds=(seccomp.fileno(),) if seccomp else (),
            trusted=sandbox is None, heartbeat=heartbeat)
        seconds = round(time.monotonic() - start, 1)
    finally:
        if not started:
            for fd in channel:
                os.close(fd)
        if group is not None:
            group.remove()
        if seccomp is not None:
            seccomp.close()
    execution = Execution(code, work, merged(nb, said, record_timing), handed_in(said), state_of(said, len(nb.cells)),
                          seconds)
    if overflow and execution.state["truncated"] is None:
        execution.state["truncated"] = execution.state["running"] or 0
    write_atomic(executed, nbformat.writes(execution.notebook))
    return execution
