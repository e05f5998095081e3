"""Worker processes and their kernels: started in their own sessions, capped, always ended, heard only through pipes.

A worker (course_tools.worker) runs one notebook in a kernel that Jupyter starts in a session of
its own, so ending a worker's process group leaves its kernel running. The worker tells its parent
what happens (the kernel's pid, the cell running, each executed cell's outputs, the hand-ins) as
JSON lines on a pipe, the channel; its output and the kernel's go to a second pipe, the log. The
parent reads both with a cap on their size and never waits on them past the worker's end: it
opens no file the worker could have replaced. `Workers` kills the worker's group first, then,
for a worker it trusts (one not in a sandbox), the kernel's group: on a normal end, a time limit,
an error or an interrupt alike. A sandboxed worker is never trusted with a pid: ending the
sandbox ends everything in it.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
MAX_LOG_BYTES = 2**20  # what the parent keeps of a worker's output
DRAIN_SECONDS = 5.0  # how long the parent reads a pipe after the worker ended


def thread_caps(workers: int, cores: int | None = None) -> dict[str, str]:
    """Environment that keeps each of `workers` parallel processes to its share of the cores (default: all)."""
    threads = max(1, (cores or os.cpu_count() or 1) // workers)
    return {name: str(threads) for name in THREAD_VARIABLES}


def kill_group(pid: int | None) -> None:
    """SIGKILL the process group led by `pid`, if it still exists."""
    if type(pid) is int and pid > 1:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def raise_on_signals() -> None:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt, so that `finally` blocks end the workers.

    Set for SIGINT too: Python keeps SIGINT ignored when it starts with it ignored, as a background
    job of a script (`make test &`) does, and Ctrl-C or `kill -INT` would then do nothing.
    """
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)


class Drain(threading.Thread):
    """Reads a pipe to its end in the background, keeping its first `cap` bytes (and writing them to `sink`)."""

    def __init__(self, fd: int, cap: int, sink: Path | None = None):
        super().__init__(daemon=True)
        self.fd, self.cap, self.sink = fd, cap, sink
        self.data, self.overflow = bytearray(), False
        self._halt = threading.Event()
        os.set_blocking(fd, False)
        self.start()

    def run(self):
        try:
            while not self._halt.is_set():
                if not select.select([self.fd], [], [], 0.2)[0]:
                    continue
                try:
                    chunk = os.read(self.fd, 2**16)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                room = self.cap - len(self.data)
                self.overflow |= len(chunk) > room
                self.data += chunk[:max(room, 0)]
        finally:
            os.close(self.fd)
            if self.sink is not None:
                self.sink.write_bytes(bytes(self.data))

    def finish(self) -> bytes:
        """The bytes kept, once the pipe ended or DRAIN_SECONDS passed (a writer that never closes is not waited for)."""
        self.join(DRAIN_SECONDS)
        self._halt.set()
        self.join()
        return bytes(self.data)


def messages(data: bytes) -> list[dict]:
    """The channel's JSON lines that are objects; anything else is skipped."""
    found = []
    for line in data.split(b"\n"):
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(message, dict):
            found.append(message)
    return found


class Workers:
    """Worker processes of one batch; `close` ends those still running and refuses new ones."""

    def __init__(self):
        self._lock = threading.Lock()
        self._live: dict[int, tuple[subprocess.Popen, Drain, bool]] = {}
        self._closed = False

    def run(self, command: list[str], *, channel: tuple[int, int], channel_cap: int, stdin: bytes, log: Path,
            timeout: float, env: dict, cwd: Path, pass_fds: tuple[int, ...] = (), trusted: bool = True,
            heartbeat=None) -> tuple[int | None, list[dict], bool]:
        """Run a worker to its end or `timeout`, feeding it `stdin`; (exit code or None on timeout, the channel's
        messages, whether the channel said more than `channel_cap` bytes). `channel` is the pipe (read end,
        write end) whose write end the command names; with `trusted`, the kernel it names is killed at the end too."""
        read_end, write_end = channel
        try:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the batch was interrupted")
                process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, start_new_session=True,
                                           pass_fds=(write_end, *pass_fds))
                said = Drain(read_end, channel_cap)
                self._live[process.pid] = (process, said, trusted)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        output = Drain(os.dup(process.stdout.fileno()), MAX_LOG_BYTES, log)
        process.stdout.close()
        threading.Thread(target=_feed, args=(process.stdin, stdin), daemon=True).start()
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
            self._end(process)
            output.finish()
        return code, messages(said.finish()), said.overflow

    def _end(self, process: subprocess.Popen) -> None:
        kill_group(process.pid)
        process.wait()
        with self._lock:
            _, said, trusted = self._live.pop(process.pid, (None, None, False))
        if trusted and said is not None:
            for message in messages(bytes(said.data)):  # what it said so far: the kernel's pid comes first
                kill_group(message.get("kernel_pid"))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            live = [process for process, _, _ in self._live.values()]
        for process in live:
            self._end(process)


def _feed(pipe, data: bytes) -> None:
    """Write `data` to a worker's stdin and close it; a worker that ended early just does not get it."""
    try:
        pipe.write(data)
        pipe.close()
    except OSError:
        pass
