"""Worker processes and their kernels: started in their own sessions, capped, always ended.

A worker (course_tools.worker) runs one notebook in a kernel that Jupyter starts in a session of
its own, so ending a worker's process group leaves its kernel running. The worker records the
kernel's pid in its state file; `Workers` kills the worker's group first, so that nothing changes
the state any more, then reads the state and kills the kernel's group: on a normal end, a time
limit, an error or an interrupt alike. A sandboxed worker's state is the submission's to write, so
it is never trusted with a pid: ending the sandbox ends everything in it.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

MAX_STATE_BYTES = 2**16
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def thread_caps(workers: int, cores: int | None = None) -> dict[str, str]:
    """Environment that keeps each of `workers` parallel processes to its share of the cores (default: all)."""
    threads = max(1, (cores or os.cpu_count() or 1) // workers)
    return {name: str(threads) for name in THREAD_VARIABLES}


def kill_group(pid: int | None) -> None:
    """SIGKILL the process group led by `pid`, if it still exists."""
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def read_state(path: Path) -> dict:
    """A worker's state file (written atomically), or {} when it wrote none or wrote something else."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            state = json.loads(handle.read(MAX_STATE_BYTES))
    except (OSError, ValueError, RecursionError):
        return {}
    return state if isinstance(state, dict) else {}


def raise_on_signals() -> None:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt, so that `finally` blocks end the workers.

    Set for SIGINT too: Python keeps SIGINT ignored when it starts with it ignored, as a background
    job of a script (`make test &`) does, and Ctrl-C or `kill -INT` would then do nothing.
    """
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


class Workers:
    """Worker processes of one batch; `close` ends those still running and refuses new ones."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live: dict[int, tuple[subprocess.Popen, Path | None]] = {}
        self._closed = False

    def run(self, command: list[str], state_file: Path, log: Path, timeout: float, env: dict, cwd: Path,
            heartbeat=None, trust_state: bool = True) -> tuple[int | None, dict]:
        """Run a worker to its end or `timeout`; (exit code or None on timeout, its final state).

        With `trust_state`, the kernel's process group named in the state file is killed at the end too."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the batch was interrupted")
            with open(log, "w", encoding="utf-8") as out:
                process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            self._live[process.pid] = (process, state_file if trust_state else None)
        start = time.monotonic()
        code = None
        try:
            while code is None and time.monotonic() - start < timeout:
                try:
                    code = process.wait(timeout=min(60.0, timeout - (time.monotonic() - start)))
                except subprocess.TimeoutExpired:
                    if heartbeat is not None and time.monotonic() - start < timeout:
                        heartbeat(time.monotonic() - start)
        finally:
            self._end(process, state_file if trust_state else None)
        return code, read_state(state_file)

    def _end(self, process: subprocess.Popen, state_file: Path | None) -> None:
        kill_group(process.pid)
        process.wait()
        if state_file is not None:
            kill_group(read_state(state_file).get("kernel_pid"))
        with self._lock:
            self._live.pop(process.pid, None)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            live = list(self._live.values())
        for process, state_file in live:
            self._end(process, state_file)
