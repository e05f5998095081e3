"""Fair shares: a control group for each sandbox, capping its CPU, memory and processes.

A group gets `cores` of CPU time per second (so that submissions graded side by side, whose caps add up
to the machine's cores, cannot take each other's time, and a time limit measures what the submission
itself was given), `memory_mb` of memory counting the files it keeps in its tmpfs and shared memory,
and at most MAX_PROCESSES processes and threads. Made with cgroup v1's cpu, memory and pids hierarchies,
where this process may write them (root on a machine that mounts them); `make_group` returns None
elsewhere, and `unavailable` says why.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CONTROLLERS = ("cpu", "memory", "pids")
MAX_PROCESSES = 1024  # TensorFlow starts a few hundred threads; a fork bomb stops here
PERIOD_US = 100_000


def _own(controller: str) -> Path:
    """This process's group in a v1 hierarchy (its line in /proc/self/cgroup)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(","):
            return CGROUP_ROOT / controller / path.lstrip("/")
    raise FileNotFoundError(f"no {controller} cgroup")


def unavailable() -> str | None:
    """Why no group can be made here, or None when one can."""
    missing = [c for c in CONTROLLERS if not (CGROUP_ROOT / c / "cgroup.procs").is_file()]
    if missing:
        return f"this machine mounts no cgroup v1 {', '.join(missing)} hierarchy"
    try:
        parents = [_own(c) for c in CONTROLLERS]
    except (OSError, ValueError) as error:
        return f"this process's cgroups could not be read ({error})"
    if not all(os.access(p, os.W_OK) for p in parents):
        return "this user may not make cgroups (run as root)"
    return None


class Group:
    """One sandbox's group in each controller's hierarchy; `remove` ends what is left in it and deletes it."""

    def __init__(self, name: str, cores: float, memory_mb: int):
        self.paths = {c: _own(c) / name for c in CONTROLLERS}
        for path in self.paths.values():
            path.mkdir()
        try:
            (self.paths["cpu"] / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.paths["cpu"] / "cpu.cfs_quota_us").write_text(str(int(cores * PERIOD_US)))
            (self.paths["memory"] / "memory.limit_in_bytes").write_text(str(memory_mb * 2**20))
            (self.paths["pids"] / "pids.max").write_text(str(MAX_PROCESSES))
        except BaseException:
            self.remove()
            raise

    def joining(self, command: list[str]) -> list[str]:
        """`command`, started by a shell that first moves itself into the group (so does everything it starts)."""
        procs = [str(path / "cgroup.procs") for path in self.paths.values()]
        join = 'for procs in "$@"; do [ "$procs" = -- ] && break; echo $$ > "$procs" || exit 125; shift; done; shift; exec "$@"'
        return ["/bin/sh", "-c", join, "sh", *procs, "--", *command]

    def processes(self) -> list[int]:
        try:
            return [int(p) for p in (self.paths["pids"] / "cgroup.procs").read_text().split()]
        except (KeyError, OSError):
            return []

    def remove(self) -> None:
        for _ in range(50):
            left = self.processes()
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for path in list(self.paths.values()):
                try:
                    path.rmdir()
                except FileNotFoundError:
                    pass
                except OSError:
                    continue
                self.paths = {c: p for c, p in self.paths.items() if p != path}
            if not self.paths:
                return
            time.sleep(0.1)


def make_group(name: str, cores: float, memory_mb: int) -> Group | None:
    """A new group, or None where `unavailable()`."""
    return None if unavailable() else Group(name, cores, memory_mb)
