"""The sandbox a submission runs in: bubblewrap, one per submission.

Each grading worker, its kernel and everything they start run in new PID, IPC, network, UTS and
mount namespaces (bubblewrap, `bwrap`). The sandbox sees the system's programs and libraries, the
Python installation, the batch's read-only copy of the course helpers, the data folders read-only,
and its own work folder, the one place it can write; not the answer key, `solutions/`, other
submissions, OUT, the grader's processes or the network. Started as root (Gradescope, a
container), it also drops to an unprivileged user (`nobody`, or COURSE_SANDBOX_USER) that owns
only its work folder. Ending the bwrap process ends the namespace's first process, and with it
every process in the namespace: nothing the submission started outlives its grading.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

USER_ENV = "COURSE_SANDBOX_USER"
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
ADVICE = ("Grading runs each submission in a sandbox made with bubblewrap, on Linux with user namespaces "
          "(Debian/Ubuntu: `apt-get install bubblewrap`). Without one, student code runs as you, with your files "
          "and network: it can read the answer key and other submissions and change grades. To grade anyway, "
          "on work you trust, pass --unsandboxed.")


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine."""


@dataclass(frozen=True)
class Sandbox:
    """How to wrap a command: bwrap's path, and the unprivileged user to become when started as root."""
    bwrap: str
    uid: int | None = None
    gid: int | None = None

    def own(self, path: Path) -> None:
        """Give `path` (a work folder and what is in it) to the sandbox's user."""
        if self.uid is None:
            return
        for folder, _, files in os.walk(path):
            for name in [folder, *(os.path.join(folder, f) for f in files)]:
                os.chown(name, self.uid, self.gid)

    def wrap(self, command: list[str], readable: list[Path], writable: Path, cwd: Path) -> list[str]:
        """`command` inside the sandbox, seeing `readable` (read-only) and `writable` at their own paths."""
        arguments = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
                     "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
        if self.uid is None:
            arguments.append("--unshare-user")
        for path in SYSTEM_PATHS:
            if os.path.islink(path):
                arguments += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                arguments += ["--ro-bind", path, path]
        arguments += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        made = set(SYSTEM_PATHS) | {"/", "/tmp"}
        for path, mode in [*((p, "--ro-bind") for p in readable), (writable, "--bind")]:
            for parent in reversed(Path(path).parents):  # bwrap would copy a parent's mode, /root's 0700 say
                if str(parent) not in made:
                    made.add(str(parent))
                    arguments += ["--dir", str(parent)]
            arguments += [mode, str(path), str(path)]
        arguments += ["--chdir", str(cwd)]
        if self.uid is not None:
            arguments += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "setpriv", f"--reuid={self.uid}",
                          f"--regid={self.gid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                          "--no-new-privs", "--"]
        return arguments + command


def python() -> str:
    """This Python's executable by a path the sandbox has: its folder's symbolic links resolved, not its own
    (a venv's python links to the base installation, but must be started by its path in the venv)."""
    return str(Path(sys.executable).parent.resolve() / Path(sys.executable).name)


def python_paths() -> list[Path]:
    """The folders this Python runs from: its venv and the installation the venv was made from."""
    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent.parent}
    return sorted(p for p in paths if not any(p.is_relative_to(s) for s in map(Path, SYSTEM_PATHS)))


def make() -> Sandbox:
    """The sandbox of this machine, tried once; SandboxUnavailable saying why and what to do."""
    bwrap = shutil.which("bwrap")
    if bwrap is None or sys.platform != "linux":
        raise SandboxUnavailable(f"bubblewrap (bwrap) was not found on this machine. {ADVICE}")
    sandbox = Sandbox(bwrap)
    if os.geteuid() == 0:
        import pwd  # imported here: Unix only, and the course runner imports this module on every system

        name = os.environ.get(USER_ENV, "nobody")
        try:
            user = pwd.getpwnam(name)
        except KeyError:
            raise SandboxUnavailable(f"the sandbox's user {name!r} ({USER_ENV}) does not exist. {ADVICE}") from None
        if shutil.which("setpriv") is None:
            raise SandboxUnavailable(f"setpriv (util-linux) was not found; root needs it to drop privileges. {ADVICE}")
        sandbox = Sandbox(bwrap, user.pw_uid, user.pw_gid)
    probe = subprocess.run(sandbox.wrap([python(), "-c", ""], python_paths(), Path("/tmp"), Path("/")),
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        raise SandboxUnavailable(f"bubblewrap could not make a sandbox here ({probe.stderr.strip()[-300:]}). {ADVICE}")
    return sandbox
