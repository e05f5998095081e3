"""The worker: executes one notebook in a fresh kernel, in a process of its own, and tells its parent what happened.

Started by the grader and the course runner (`python -m course_tools.worker --channel-fd N ...`), it
reads the notebook from its standard input (so that no file holds the cells not yet run), makes
itself unreadable to the kernel's user (no core dumps, no /proc access, no ptrace), and writes JSON
lines to the channel, a pipe its parent reads and the kernel cannot: the kernel's pid, each cell as
it starts, each executed cell's outputs and what the kernel appended to the hand-in file meanwhile (read
as a regular file with a cap, or not at all). Exit codes: 0 done, 1 a cell raised
(without --allow-errors) or timed out, 3 the kernel died.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import resource
import sys
import threading
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from course_tools.files import read_regular
from course_tools.handin import HANDIN_FILE_ENV, MAX_HANDIN_BYTES
from course_tools.processes import kill_group

EXIT_CELL_FAILED = 1
EXIT_KERNEL_DIED = 3
MAX_FILE_MB = 1024  # largest file a notebook may write under a memory limit
PR_SET_DUMPABLE = 4


class Channel:
    """JSON lines to the parent, on a file descriptor no child inherits."""

    def __init__(self, fd: int):
        os.set_inheritable(fd, False)
        self.out = os.fdopen(fd, "w", encoding="utf-8")
        self.lock = threading.Lock()

    def say(self, **message) -> None:
        with self.lock:
            self.out.write(json.dumps(message, default=str) + "\n")
            self.out.flush()


class CourseClient(NotebookClient):
    """nbclient with an optional output cap (error outputs always kept), telling the channel what runs."""

    def __init__(self, nb, channel: Channel, max_output_mb: float | None, **kwargs):
        super().__init__(nb, **kwargs)
        self.channel = channel
        self.max_output_mb = max_output_mb
        self.budget = None if max_output_mb is None else int(max_output_mb * 2**20)
        self.truncated = None

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "error":
            content = msg["content"]
            content["traceback"] = content.get("traceback", [])[-20:]
            content["evalue"] = str(content.get("evalue", ""))[:2000]
        elif self.budget is not None:
            size = len(json.dumps(msg.get("content", {}), default=str))
            if size > self.budget:
                self.budget = 0
                if self.truncated is None:
                    self.truncated = cell_index
                    self.channel.say(truncated=cell_index)
                    outs.append(nbformat.v4.new_output(
                        "stream", name="stderr", text=f"\n[grader: output over {self.max_output_mb:g} MB; the rest "
                                                      "of this notebook's output was dropped]\n"))
                return None
            self.budget -= size
        return super().output(outs, msg, display_id, cell_index)


def limit_memory(memory_mb: int) -> None:
    """Address-space, file-size and core-dump limits, inherited by the kernel."""
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_MB * 2**20, MAX_FILE_MB * 2**20))


def hide_from_kernel() -> None:
    """No other process of this user may read this one's memory, file descriptors or environment (the kernel runs as
    the same user, and this process holds the cells not yet run)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def end_with_parent(kernel: dict) -> None:
    """When the process that started this worker is gone, kill the kernel's group and exit."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        kill_group(kernel.get("pid"))
        os._exit(EXIT_CELL_FAILED)

    threading.Thread(target=watch, daemon=True).start()


def execute(nb, channel: Channel, cwd: str, cell_timeout: float, allow_errors: bool, memory_mb: int | None = None,
            max_output_mb: float | None = None, record_timing: bool = False) -> int:
    """Run the notebook, telling the channel each cell's outputs; return the exit code.

    `record_timing` keeps nbclient's start and end times in each cell's metadata (the runner's report reads
    them; graded notebooks go without, so that grading a folder twice writes the same files).
    """
    if memory_mb is not None:
        limit_memory(memory_mb)
    kernel: dict = {}
    end_with_parent(kernel)

    def started(**_):
        kernel["pid"] = getattr(client.km.provisioner, "pid", None)
        channel.say(kernel_pid=kernel["pid"])

    handins = {"path": os.environ.get(HANDIN_FILE_ENV), "sent": 0}

    def executed(cell, cell_index, **_):
        channel.say(cell=cell_index, outputs=cell.get("outputs", []), execution_count=cell.get("execution_count"),
                    execution=cell.metadata.get("execution", {}))
        new = read_regular(handins["path"], MAX_HANDIN_BYTES - handins["sent"], handins["sent"]) if handins["path"] else None
        if new:
            handins["sent"] += len(new)
            channel.say(handins=new.decode("utf-8", errors="replace"))

    client = CourseClient(
        nb, channel, max_output_mb, timeout=cell_timeout, allow_errors=allow_errors, kernel_name="python3",
        record_timing=record_timing, resources={"metadata": {"path": cwd}}, on_notebook_start=started,
        on_cell_execute=lambda cell_index, **_: channel.say(running=cell_index), on_cell_executed=executed)
    code = 0
    try:
        client.execute()
    except DeadKernelError:
        channel.say(kernel_died=True)
        code = EXIT_KERNEL_DIED
    except (CellExecutionError, CellTimeoutError):
        code = EXIT_CELL_FAILED
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="notebook worker (started by the grader and the runner); the "
                                                 "notebook comes on standard input")
    parser.add_argument("--channel-fd", type=int, required=True)
    parser.add_argument("--cwd", required=True)
    parser.add_argument("--cell-timeout", type=float, required=True)
    parser.add_argument("--allow-errors", action="store_true")
    parser.add_argument("--memory-mb", type=int)
    parser.add_argument("--max-output-mb", type=float)
    parser.add_argument("--record-timing", action="store_true")
    args = parser.parse_args(argv)
    hide_from_kernel()
    channel = Channel(args.channel_fd)
    nb = nbformat.reads(sys.stdin.buffer.read().decode("utf-8"), as_version=4)
    with open(os.devnull, "rb") as nothing:
        os.dup2(nothing.fileno(), 0)  # the kernel inherits this standard input, not the notebook's pipe
    return execute(nb, channel, args.cwd, args.cell_timeout, args.allow_errors, args.memory_mb,
                   args.max_output_mb, args.record_timing)


if __name__ == "__main__":
    sys.exit(main())
