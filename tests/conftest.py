import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Kernels started by the tests import the course helpers from this checkout.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("MPLBACKEND", "Agg")
# Under pytest-xdist, each worker's notebooks get their share of the cores.
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook  # noqa: E402

from course_tools import autograder, config, notebook  # noqa: E402
from course_tools.processes import raise_on_signals, thread_caps  # noqa: E402

for name, value in thread_caps(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))).items():
    os.environ.setdefault(name, value)
raise_on_signals()  # `finally` blocks end workers and kernels when the test run is interrupted


def all_gone(pids, within: float = 10.0) -> bool:
    """Whether every process in `pids` has ended, waiting up to `within` s (a killed process takes a moment)."""
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def processes_with(marker: str) -> list[int]:
    """The processes whose command line holds `marker` (the way to find a sandboxed notebook's processes)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def start_marked(marker: str) -> str:
    """Notebook code that starts a process holding `marker` in its command line, sleeping 600 s (`sleep` itself
    would refuse the extra argument); it needs `subprocess` and `sys` imported."""
    return f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)', {marker!r}])"


def interrupt_cli(arguments: list[str], solutions: Path, ready, signum: int) -> int:
    """Run the course CLI on `solutions`, send `signum` once `ready()` says the notebook runs, return the exit code.

    The CLI starts with SIGINT ignored, as a background job of a script does: it must handle it all the same.
    """
    process = subprocess.Popen([sys.executable, "-c", (
        "import signal, sys; from pathlib import Path; from course_tools import cli, config\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        f"config.SOLUTIONS = Path({str(solutions)!r})\n"
        f"sys.exit(cli.main({arguments!r}))")], cwd=ROOT)
    deadline = time.monotonic() + 600  # a loaded machine starts kernels slowly
    while not ready():
        assert time.monotonic() < deadline and process.poll() is None, "the notebook never started"
        time.sleep(0.5)
    process.send_signal(signum)
    return process.wait(timeout=60)


def alive(pid):
    """Whether a process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[-1][0] != "Z"
    except FileNotFoundError:
        return False


# `make check` skips tests marked `kernel`. Besides those marked so in their module, these start a kernel or a
# browser: the tests of the website served to Chromium (the served_site fixture) and a student notebook that
# fetches the release.
STARTS_A_KERNEL = ("tests/test_release.py::test_a_lesson_opened_alone_fetches_the_release",)
STARTS_A_BROWSER = "served_site"


def pytest_collection_modifyitems(items):
    """Mark the tests above; then longest first, so that under pytest-xdist short tests fill the end of the run:
    the lessons' smoke runs (the capstone, the longest, first), the grading batches, the other tests that execute
    notebooks, the tests that start a kernel or a browser, the rest. (pytest-xdist hands out its groups, most tests
    first, before the tests outside a group, which keep this order.)"""
    for item in items:
        if item.nodeid.startswith(STARTS_A_KERNEL) or STARTS_A_BROWSER in getattr(item, "fixturenames", ()):
            item.add_marker("kernel")

    def order(item):
        if item.originalname == "test_solution_runs_in_the_smoke_profile_matches_nbval_and_records_its_metrics":
            return 0, -int(item.callspec.params["stem"][:2])
        if item.get_closest_marker("xdist_group"):
            return 1, 0
        if item.get_closest_marker("notebooks"):
            return 2, 0
        return (3 if item.get_closest_marker("kernel") else 4), 0

    items.sort(key=order)


# A small lesson for the grader's tests: setup, parameters, two exercises with visible and hidden
# tests (the hidden ones hand their values to the grader), markdown between. It runs in about a
# second, so every case gets a real worker and kernel.
def graded_cell(grade_id, points, visible, hidden):
    return new_code_cell(f"{visible}\n### BEGIN HIDDEN TESTS\n{hidden}\n### END HIDDEN TESTS", id=grade_id, metadata={
        "nbgrader": {"grade": True, "grade_id": grade_id, "points": points, "locked": True, "solution": False,
                     "schema_version": 3}})


DEMO_REFERENCE = {"square of -2": 4, "square of 1.5": 2.25, "cube of -1": -1, "cube of 0.5": 0.125}


def write_lesson(folder):
    nb = new_notebook(cells=[
        new_markdown_cell(f"# Demo\n[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
                          f"({config.colab_url('solutions/00_demo.ipynb')})", id="title"),
        new_code_cell("import os\nfrom course_tools.handin import exercise_check, hand_in", id="setup"),
        new_code_cell('PROFILE = "full"', id="parameters", metadata={"tags": ["parameters"]}),
        new_code_cell("print(PROFILE, os.environ.get('COURSE_PROFILE'), os.environ.get('TF_NUM_INTRAOP_THREADS'))",
                      id="show-profile"),
        new_markdown_cell("## Exercise 1: square a number", id="ex1-text"),
        new_code_cell("def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION", id="ex1"),
        graded_cell("square-check", 2, "with exercise_check('square'):\n    assert square(3) == 9, 'square(3) should be 9'",
                    'hand_in("square of -2", square(-2), message="square is wrong for a negative number")\n'
                    'hand_in("square of 1.5", square(1.5), atol=1e-9, message="square is wrong for a fraction")'),
        new_markdown_cell("## Exercise 2: cube a number", id="ex2-text"),
        new_code_cell("def cube(x):\n    ### BEGIN SOLUTION\n    return x ** 3\n    ### END SOLUTION", id="ex2"),
        graded_cell("cube-check", 3, "with exercise_check('cube'):\n    assert cube(2) == 8, 'cube(2) should be 8'",
                    'hand_in("cube of -1", cube(-1), message="cube is wrong for a negative number")\n'
                    'hand_in("cube of 0.5", cube(0.5), atol=1e-9, message="cube is wrong for a fraction")'),
        new_markdown_cell("## Summary", id="summary"),
        new_code_cell("print('done', square(2) + cube(2))", id="last"),
    ])
    folder.mkdir(parents=True, exist_ok=True)
    notebook.write(notebook.normalize(nb, keep_outputs=False), folder / "00_demo.ipynb")
    (folder / "00_demo.reference.json").write_text(json.dumps(DEMO_REFERENCE), encoding="utf-8")
    return folder / "00_demo.ipynb"


def simulated_autograder(work, lesson, solutions, **options):
    """What Gradescope makes of a lesson's autograder zip, in `work`/autograder: source/, run_autograder, the
    venv that setup.sh would install (here this one) and the data that setup.sh's install_data.sh installs."""
    zip_path = autograder.build(lesson, work / "zip", solutions=solutions, timeout=120, **options)
    return autograder.simulate(zip_path, work / "autograder")


def run_gradescope(root, name, text=None, link_to=None):
    """Gradescope's steps for one submission: a fresh submission/ (the file `name` holding `text`, or a symbolic
    link to `link_to`) and results/, then run_autograder (as root, its sandbox user is `nobody`); results.json."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    if link_to is not None:
        (root / "submission" / name).symlink_to(link_to)
    else:
        (root / "submission" / name).write_text(text, encoding="utf-8")
    subprocess.run([str(root / "run_autograder")], check=True, capture_output=True, timeout=600,
                   env={**os.environ, "AUTOGRADER_ROOT": str(root), "COURSE_SANDBOX_USER": "nobody"})
    return json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
