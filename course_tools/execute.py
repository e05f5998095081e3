"""Executing a prepared notebook in a worker process: the one entry point for the course runner and the grader.

`execute` starts `python -m course_tools.worker` with the course's environment (profile, run folder,
metrics and hand-in files, helpers on PYTHONPATH), optionally inside a sandbox, waits for it within
its time limit and ends it and everything it started. The notebook runs in `work`, where the worker
also keeps its state and log, and the notebook its metrics, hand-ins and files.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from course_tools.processes import Workers
from course_tools.sandbox import Sandbox, python, python_paths

# What a sandboxed worker gets of the grader's environment; everything else (tokens, keys) stays out.
PASSED_TO_SANDBOX = ("LANG", "LC_ALL", "TZ", "COURSE_DATA_DIR")


@dataclass
class Execution:
    code: int | None  # the worker's exit code; None when it ran out of time
    state: dict
    seconds: float
    work: Path

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


def data_folders() -> list[Path]:
    """The dataset folders a lesson may read: COURSE_DATA_DIR and the download cache, where they exist."""
    return [Path(p).resolve() for p in (os.environ.get("COURSE_DATA_DIR"), cache_folder()) if p and Path(p).is_dir()]


def execute(prepared: Path, executed: Path, work: Path, *, profile: str, timeout: float, workers: Workers,
            helpers: Path, allow_errors: bool = False, sandbox: Sandbox | None = None, memory_mb: int | None = None,
            max_output_mb: float | None = None, threads: dict | None = None, figures_inline: bool = False,
            record_timing: bool = False, heartbeat=None) -> Execution:
    """Run `prepared` into `executed` (both in `work` when sandboxed) with the course helpers in `helpers`."""
    work.mkdir(parents=True, exist_ok=True)
    execution = Execution(None, {}, 0.0, work)
    course = {
        "COURSE_RUN_DIR": str(work), "COURSE_METRICS_FILE": str(execution.metrics),
        "COURSE_HANDIN_FILE": str(execution.handins), "COURSE_PROFILE": profile, "PYTHONPATH": str(helpers),
        # Figures belong in an executed lesson, even when the caller exported MPLBACKEND=Agg.
        "MPLBACKEND": "module://matplotlib_inline.backend_inline" if figures_inline else "Agg",
        **(threads or {}),
    }
    command = [python() if sandbox else sys.executable, "-m", "course_tools.worker", str(prepared), str(executed),
               "--state", str(work / "state.json"), "--cwd", str(work), "--cell-timeout", str(timeout)]
    command += ["--allow-errors"] if allow_errors else []
    command += ["--memory-mb", str(memory_mb)] if memory_mb is not None else []
    command += ["--max-output-mb", str(max_output_mb)] if max_output_mb is not None else []
    command += ["--record-timing"] if record_timing else []
    if sandbox is None:
        env = {**os.environ, **course,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(helpers), os.environ.get("PYTHONPATH")]))}
    else:
        home = work / "home"
        home.mkdir(exist_ok=True)
        env = {**{k: os.environ[k] for k in PASSED_TO_SANDBOX if k in os.environ}, **course,
               "PATH": f"{Path(python()).parent}:/usr/bin:/bin", "HOME": str(home),
               "COURSE_CACHE_DIR": str(cache_folder())}
        sandbox.own(work)
        command = sandbox.wrap(command, [*python_paths(), helpers, *data_folders()], work, work)
    start = time.monotonic()
    execution.code, execution.state = workers.run(command, work / "state.json", execution.log, timeout, env, work,
                                                  heartbeat=heartbeat, trust_state=sandbox is None)
    execution.seconds = round(time.monotonic() - start, 1)
    return execution
