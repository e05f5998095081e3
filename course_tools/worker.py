"""The worker: executes one prepared notebook in a fresh kernel, in a process of its own.

Started by the grader and the course runner (`python -m course_tools.worker PREPARED EXECUTED ...`).
It saves the notebook after every cell and keeps a state file (the kernel's pid, the cell
running, why it stopped), both written atomically. Exit codes: 0 done, 1 a cell raised (without
--allow-errors) or timed out, 3 the kernel died.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

from course_tools.files import write_atomic
from course_tools.notebook import read
from course_tools.processes import kill_group

EXIT_CELL_FAILED = 1
EXIT_KERNEL_DIED = 3
MAX_FILE_MB = 1024  # largest file a notebook may write under a memory limit


class CourseClient(NotebookClient):
    """nbclient with an optional output cap (error outputs always kept), reporting to a state file."""

    def __init__(self, nb, state: "State", max_output_mb: float | None, **kwargs):
        super().__init__(nb, **kwargs)
        self.state = state
        self.max_output_mb = max_output_mb
        self.budget = None if max_output_mb is None else int(max_output_mb * 2**20)

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "error":
            content = msg["content"]
            content["traceback"] = content.get("traceback", [])[-20:]
            content["evalue"] = str(content.get("evalue", ""))[:2000]
        elif self.budget is not None:
            size = len(json.dumps(msg.get("content", {}), default=str))
            if size > self.budget:
                self.budget = 0
                if self.state["truncated"] is None:
                    self.state.update(truncated=cell_index)
                    outs.append(nbformat.v4.new_output(
                        "stream", name="stderr", text=f"\n[grader: output over {self.max_output_mb:g} MB; the rest "
                                                      "of this notebook's output was dropped]\n"))
                return None
            self.budget -= size
        return super().output(outs, msg, display_id, cell_index)


class State(dict):
    """What the parent reads after the worker ends: kernel pid, running cell, how it stopped."""

    def __init__(self, path: Path):
        super().__init__(kernel_pid=None, running=None, kernel_died=None, truncated=None)
        self.path = path

    def update(self, **values):
        super().update(**values)
        write_atomic(self.path, json.dumps(self))


def limit_memory(memory_mb: int) -> None:
    """Address-space, file-size and core-dump limits, inherited by the kernel."""
    limit = memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_MB * 2**20, MAX_FILE_MB * 2**20))


def end_with_parent(state: State) -> None:
    """When the process that started this worker is gone, kill the kernel's group and exit."""
    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(1)
        kill_group(state["kernel_pid"])
        os._exit(EXIT_CELL_FAILED)

    threading.Thread(target=watch, daemon=True).start()


def execute(prepared: Path, executed: Path, state_file: Path, cwd: Path, cell_timeout: float,
            allow_errors: bool, memory_mb: int | None = None, max_output_mb: float | None = None,
            record_timing: bool = False) -> int:
    """Run the notebook; save it after each cell and at the end; return the exit code.

    `record_timing` keeps nbclient's start and end times in each cell's metadata (the runner's report reads
    them; graded notebooks go without, so that grading a folder twice writes the same files).
    """
    if memory_mb is not None:
        limit_memory(memory_mb)
    state = State(state_file)
    state.update()
    end_with_parent(state)
    nb = read(prepared)

    def save(**_):
        write_atomic(executed, nbformat.writes(nb))

    client = CourseClient(
        nb, state, max_output_mb, timeout=cell_timeout, allow_errors=allow_errors, kernel_name="python3",
        record_timing=record_timing, resources={"metadata": {"path": str(cwd)}},
        on_notebook_start=lambda **_: state.update(kernel_pid=getattr(client.km.provisioner, "pid", None)),
        on_cell_execute=lambda cell_index, **_: state.update(running=cell_index),
        on_cell_executed=save)
    code = 0
    try:
        client.execute()
    except DeadKernelError:
        state.update(kernel_died=state["running"])
        code = EXIT_KERNEL_DIED
    except (CellExecutionError, CellTimeoutError):
        code = EXIT_CELL_FAILED
    save()
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="notebook worker (started by the grader and the runner)")
    parser.add_argument("prepared", type=Path)
    parser.add_argument("executed", type=Path)
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--cwd", type=Path, required=True)
    parser.add_argument("--cell-timeout", type=float, required=True)
    parser.add_argument("--allow-errors", action="store_true")
    parser.add_argument("--memory-mb", type=int)
    parser.add_argument("--max-output-mb", type=float)
    parser.add_argument("--record-timing", action="store_true")
    args = parser.parse_args(argv)
    return execute(args.prepared, args.executed, args.state, args.cwd, args.cell_timeout, args.allow_errors,
                   args.memory_mb, args.max_output_mb, args.record_timing)


if __name__ == "__main__":
    sys.exit(main())
