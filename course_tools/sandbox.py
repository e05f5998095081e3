"""The sandbox a submission runs in: bubblewrap, one per submission.

Each grading worker, its kernel and everything they start run in new PID, IPC, network, UTS and
mount namespaces (bubblewrap, `bwrap`). The sandbox sees the system's programs and libraries, the
Python installation, the batch's read-only copy of the course helpers and the data folders, all
read-only, and writes only to memory of its own: its work folder, /tmp and /dev/shm are tmpfs of a
fixed size that vanish with it. It sees no folder of the grader's it could write, nor the answer
key, `solutions/`, the course's `build/`, other submissions, OUT, the grader's processes or the
network. A seccomp filter refuses the kernel keyrings (shared by every process of one user, so a
channel between submissions) and new user namespaces (in which a submission could mount what it
likes). Started as root (Gradescope, a container), it also drops to an unprivileged user
(`nobody`, or COURSE_SANDBOX_USER). Ending the bwrap process ends the namespace's first process,
and with it every process in the namespace: nothing the submission started outlives its grading.
"""
from __future__ import annotations

import os
import platform
import shutil
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

USER_ENV = "COURSE_SANDBOX_USER"
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc")
WORK_MB = 256  # the sandbox's work folder (hand-ins, files a notebook saves), in memory
TMP_MB = 256  # its /tmp and its /dev/shm, each
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

    def wrap(self, command: list[str], readable: list[Path], work: Path, seccomp_fd: int) -> list[str]:
        """`command` inside the sandbox, in a new empty work folder at the path `work`, seeing `readable` read-only
        at their own paths; `seccomp_fd` is a file descriptor holding `seccomp_filter()`, passed to bwrap."""
        arguments = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
                     "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--seccomp", str(seccomp_fd)]
        if self.uid is None:
            arguments.append("--unshare-user")
        for path in SYSTEM_PATHS:
            if os.path.islink(path):
                arguments += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                arguments += ["--ro-bind", path, path]
        arguments += ["--proc", "/proc", "--dev", "/dev"]
        for path, megabytes in (("/tmp", TMP_MB), ("/dev/shm", TMP_MB)):
            arguments += ["--perms", "1777", "--size", str(megabytes * 2**20), "--tmpfs", path]
        made = set(SYSTEM_PATHS) | {"/", "/tmp"}
        for path in [*readable, work]:
            for parent in reversed(Path(path).parents):  # bwrap would copy a parent's mode, /root's 0700 say
                if str(parent) not in made:
                    made.add(str(parent))
                    arguments += ["--dir", str(parent)]
            arguments += ["--ro-bind", str(path), str(path)] if path != work else \
                ["--perms", "1777", "--size", str(WORK_MB * 2**20), "--tmpfs", str(work)]
        arguments += ["--chdir", str(work)]
        if self.uid is not None:
            arguments += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "setpriv", f"--reuid={self.uid}",
                          f"--regid={self.gid}", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
                          "--no-new-privs", "--"]
        return arguments + command


# Linux's seccomp filter language (classic BPF): what `seccomp_filter` is written in.
_LOAD, _EQUAL, _AT_LEAST, _ANY_BIT, _RETURN = 0x20, 0x15, 0x35, 0x45, 0x06
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_EPERM, _ENOSYS = 1, 38
_CLONE_NEWUSER = 0x10000000
# Per machine: its audit architecture, and the numbers of clone, unshare, clone3, add_key, request_key, keyctl.
_SYSCALLS = {"x86_64": (0xC000003E, 56, 272, 435, (248, 249, 250)),
             "aarch64": (0xC00000B7, 220, 97, 435, (217, 218, 219))}
_X32_BIT = 0x40000000  # x86_64's other system-call numbering, refused whole


def seccomp_filter(machine: str | None = None) -> bytes:
    """The sandbox's seccomp program: the kernel keyrings (add_key, request_key, keyctl) and clone or unshare of a
    user namespace fail with EPERM; clone3, whose flags a filter cannot read, with ENOSYS (the C library then uses
    clone); any other architecture's system calls with EPERM. Everything else is allowed."""
    machine = machine or platform.machine()
    if machine not in _SYSCALLS:
        raise SandboxUnavailable(f"the sandbox's seccomp filter knows no {machine} machine (only "
                                 f"{', '.join(_SYSCALLS)}). {ADVICE}")
    arch, clone, unshare, clone3, keyrings = _SYSCALLS[machine]
    # (instruction, jump if true, jump if false, value); jumps are labels resolved below.
    program = [(_LOAD, 0, 0, 4), (_EQUAL, 0, "deny", arch), (_LOAD, 0, 0, 0)]
    if machine == "x86_64":
        program.append((_AT_LEAST, "deny", 0, _X32_BIT))
    program += [(_EQUAL, "nosys", 0, clone3), *[(_EQUAL, "deny", 0, number) for number in keyrings],
                (_EQUAL, "flags", 0, clone), (_EQUAL, "flags", 0, unshare), (_RETURN, 0, 0, _ALLOW),
                ("flags", _LOAD, 0, 0, 16), (_ANY_BIT, "deny", 0, _CLONE_NEWUSER), (_RETURN, 0, 0, _ALLOW),
                ("deny", _RETURN, 0, 0, _ERRNO | _EPERM), ("nosys", _RETURN, 0, 0, _ERRNO | _ENOSYS)]
    labels = {step[0]: index for index, step in enumerate(program) if isinstance(step[0], str)}
    code = b""
    for index, step in enumerate(program):
        operation, true, false, value = step[1:] if isinstance(step[0], str) else step
        true, false = (labels[j] - index - 1 if isinstance(j, str) else j for j in (true, false))
        code += struct.pack("=HBBI", operation, true, false, value)
    return code


def python() -> str:
    """This Python's executable by a path the sandbox has: its folder's symbolic links resolved, not its own
    (a venv's python links to the base installation, but must be started by its path in the venv)."""
    return str(Path(sys.executable).parent.resolve() / Path(sys.executable).name)


def python_paths() -> list[Path]:
    """The folders this Python runs from: its venv and the installation the venv was made from."""
    paths = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent.parent}
    return sorted(p for p in paths if not any(p.is_relative_to(s) for s in map(Path, SYSTEM_PATHS)))


def filter_file():
    """`seccomp_filter()` in an anonymous file, read from its start: the file descriptor bwrap reads it from."""
    handle = os.fdopen(os.memfd_create("seccomp"), "w+b")
    handle.write(seccomp_filter())
    handle.flush()
    handle.seek(0)
    return handle


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
    with filter_file() as seccomp:
        probe = subprocess.run(sandbox.wrap([python(), "-c", ""], python_paths(), Path("/sandbox"), seccomp.fileno()),
                               capture_output=True, text=True, timeout=60, pass_fds=[seccomp.fileno()])
    if probe.returncode != 0:
        raise SandboxUnavailable(f"bubblewrap could not make a sandbox here ({probe.stderr.strip()[-300:]}). {ADVICE}")
    return sandbox
