"""The grader's defences that need no kernel: the sandbox's arguments and seccomp filter, the checked file reader,
the worker's channel, the executed notebook rebuilt from it, and text a student chose made safe where it is shown."""
import os
import platform
import struct
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from course_tools import cgroups, execute, processes, sandbox, untrusted
from course_tools.files import read_regular


def test_the_sandbox_binds_nothing_writable_and_keeps_its_files_in_memory(tmp_path):
    box = sandbox.Sandbox("/usr/bin/bwrap")
    work = tmp_path / "box"
    arguments = box.wrap(["python"], [ROOT / "model_utils.py", tmp_path / "helpers"], work, 7)
    assert "--bind" not in arguments and "--dev-bind" not in arguments
    assert arguments[arguments.index("--seccomp") + 1] == "7"
    mounted = {arguments[i + 1]: arguments[i - 2:i] for i, a in enumerate(arguments) if a == "--tmpfs"}
    assert {path: mounted[path][0] for path in (str(work), "/tmp", "/dev/shm")} == dict.fromkeys(
        (str(work), "/tmp", "/dev/shm"), "--size")
    bound = [arguments[i + 1] for i, a in enumerate(arguments) if a == "--ro-bind"]
    assert not [p for p in bound if Path(p).is_relative_to(ROOT / "build") or Path(p).is_relative_to(ROOT / "solutions")]
    assert arguments[arguments.index("--chdir") + 1] == str(work)


def test_the_seccomp_filter_refuses_keyrings_and_user_namespaces():
    """Decoded instruction by instruction: every listed system call leads to EPERM (or ENOSYS for clone3)."""
    for machine, (arch, clone, unshare, clone3, keyrings) in sandbox._SYSCALLS.items():
        program = [struct.unpack("=HBBI", sandbox.seccomp_filter(machine)[i:i + 8])
                   for i in range(0, len(sandbox.seccomp_filter(machine)), 8)]

        def verdict(number, flags=0, architecture=arch):
            data, pc = {0: number, 4: architecture, 16: flags}, 0
            accumulator = None
            while True:
                code, true, false, value = program[pc]
                if code == sandbox._LOAD:
                    accumulator = data[value]
                elif code == sandbox._RETURN:
                    return value
                else:
                    taken = {sandbox._EQUAL: accumulator == value, sandbox._AT_LEAST: accumulator >= value,
                             sandbox._ANY_BIT: bool(accumulator & value)}[code]
                    pc += true if taken else false
                pc += 1

        deny, nosys = sandbox._ERRNO | sandbox._EPERM, sandbox._ERRNO | sandbox._ENOSYS
        assert [verdict(n) for n in keyrings] == [deny] * 3, machine
        assert verdict(clone3) == nosys
        assert verdict(unshare, sandbox._CLONE_NEWUSER | 0x20000) == deny
        assert verdict(clone, sandbox._CLONE_NEWUSER) == deny
        assert verdict(clone, 0x3D0F00) == sandbox._ALLOW  # what pthread_create asks for
        assert verdict(unshare, 0x20000) == sandbox._ALLOW  # a mount namespace alone needs privileges anyway
        assert verdict(0, architecture=0x40000003) == deny  # i386 calls on a 64-bit kernel
    with pytest.raises(sandbox.SandboxUnavailable, match="knows no riscv64"):
        sandbox.seccomp_filter("riscv64")


@pytest.mark.skipif(platform.machine() not in sandbox._SYSCALLS or not Path("/usr/bin/bwrap").exists(),
                    reason="needs bubblewrap on x86_64 or aarch64")
def test_the_filter_holds_in_a_real_sandbox(tmp_path):
    code = ("import ctypes, os, platform, threading\n"
            "libc = ctypes.CDLL(None, use_errno=True)\nlibc.syscall.restype = ctypes.c_long\n"
            "add_key = {'x86_64': 248, 'aarch64': 217}[platform.machine()]\n"
            "print(libc.syscall(add_key, b'user', b'note', b'x', 1, -4), libc.unshare(0x10000000))\n"
            "t = threading.Thread(target=print, args=('threads work',)); t.start(); t.join()\n"
            "open('file', 'w').write('x'); print(os.listdir('.'))")
    box = sandbox.make()
    with sandbox.filter_file() as seccomp:
        done = subprocess.run(box.wrap([sandbox.python(), "-c", code], sandbox.python_paths(), tmp_path / "box",
                                       seccomp.fileno()), capture_output=True, text=True, pass_fds=[seccomp.fileno()])
    assert done.stdout.splitlines() == ["-1 -1", "threads work", "['file']"], done.stderr
    assert not (tmp_path / "box").exists(), "the work folder was memory of the sandbox's own"


@pytest.mark.parametrize("make", ["link", "device", "fifo", "directory", "sparse", "missing"])
def test_the_checked_reader_reads_regular_files_only(tmp_path, make):
    target, path = tmp_path / "secret", tmp_path / "file"
    target.write_text("secret")
    if make == "link":
        path.symlink_to(target)
    elif make == "device":
        path.symlink_to("/dev/zero")
    elif make == "fifo":
        os.mkfifo(path)  # an open() that waited for a writer would block here for ever
    elif make == "directory":
        path.mkdir()
    elif make == "sparse":
        with open(path, "wb") as out:
            out.truncate(10 * 2**30)
    started = time.monotonic()
    data = read_regular(path, 2**20)
    assert time.monotonic() - started < 5
    assert data == (b"\0" * 2**20 if make == "sparse" else None)


def test_the_checked_reader_reads_from_an_offset_within_its_cap(tmp_path):
    (tmp_path / "f").write_bytes(b"0123456789")
    assert read_regular(tmp_path / "f", 4, 3) == b"3456"


def test_a_drained_pipe_keeps_its_cap_and_ends_with_its_writer():
    read_end, write_end = os.pipe()
    drain = processes.Drain(read_end, 10)
    os.write(write_end, b"0123456789abcdef")
    os.close(write_end)
    assert drain.finish() == b"0123456789" and drain.overflow


def test_a_pipe_whose_writer_never_closes_is_not_waited_for(monkeypatch):
    monkeypatch.setattr(processes, "DRAIN_SECONDS", 0.5)
    read_end, write_end = os.pipe()
    drain = processes.Drain(read_end, 10)
    started = time.monotonic()
    assert drain.finish() == b""
    assert time.monotonic() - started < 3
    os.close(write_end)


def test_channel_messages_skip_anything_but_json_objects():
    assert processes.messages(b'{"a": 1}\n[1]\nnot json\n' + b"[" * 100000 + b'\n{"b": 2}') == [{"a": 1}, {"b": 2}]


def test_the_executed_notebook_is_the_graders_own_with_valid_outputs_only():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# title"), nbformat.v4.new_code_cell("x = 1")])
    good = {"output_type": "stream", "name": "stdout", "text": "hello\n"}
    said = [{"cell": 0, "outputs": [good]},  # a markdown cell
            {"cell": 1, "outputs": [good, {"output_type": "evil"}, "text", {"output_type": "stream"}],
             "execution_count": 3, "execution": {"a": "b"}},
            {"cell": 9, "outputs": [good]}, {"cell": "1", "outputs": [good]}, {"cell": True, "outputs": [good]}]
    ran = execute.merged(nb, said, record_timing=False)
    assert ran.cells[0] == nb.cells[0] and ran.cells[1].source == "x = 1"
    assert ran.cells[1].outputs == [nbformat.from_dict(good)] and ran.cells[1].execution_count == 3
    assert "execution" not in ran.cells[1].metadata
    nbformat.validate(ran)


def test_state_and_hand_ins_from_the_channel():
    said = [{"running": 2}, {"running": "x"}, {"running": 99}, {"kernel_died": True}, {"truncated": 1},
            {"handins": '{"name": "a", "value": 1}\n{"name": "b", '}, {"handins": '"value": 2}\n'}, {"handins": 5}]
    assert execute.state_of(said, 5) == {"running": 2, "kernel_died": 2, "truncated": 1}
    assert execute.handed_in(said) == {"a": 1, "b": 2}


def test_a_data_folder_named_through_a_link_is_passed_resolved(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "data")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "link"))
    assert execute.data_folder() == tmp_path / "data"


def test_text_a_student_chose_is_escaped_for_the_terminal_and_markdown():
    hostile = "<img src=x onerror=alert(1)>**`x`**|\x1b[2K\r[9/9] ok\u202e\n# heading"
    shown = untrusted.terminal(hostile)
    assert "\x1b" not in shown and "\r" not in shown and "\u202e" not in shown and "\\x1b[2K\\r[9/9] ok\\u202e" in shown
    written = untrusted.markdown(hostile)
    assert "<" not in written and "\x1b" not in written and "\n" not in written
    assert written.startswith("&lt;img src=x onerror=alert\\(1\\)&gt;\\*\\*\\`x\\`\\*\\*\\|")


@pytest.mark.skipif(cgroups.unavailable() is not None, reason="no cgroups this process may make here")
def test_a_control_group_caps_cpu_and_ends_what_is_left_in_it():
    group = cgroups.Group(f"course-test-{os.getpid()}", 0.5, 512)
    try:
        assert (group.paths["cpu"] / "cpu.cfs_quota_us").read_text().strip() == "50000"
        assert (group.paths["memory"] / "memory.limit_in_bytes").read_text().strip() == str(512 * 2**20)
        process = subprocess.Popen(group.joining([sys.executable, "-c", "import time; time.sleep(60)"]))
        deadline = time.monotonic() + 10
        while process.pid not in group.processes() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert process.pid in group.processes()
    finally:
        group.remove()
    assert process.wait(timeout=10) == -9
    assert not any(path.exists() for path in group.paths.values())
