import os
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


def interrupt_cli(arguments: list[str], solutions: Path, pid_file: Path, signum: int) -> int:
    """Run the course CLI on `solutions`, send `signum` once the notebook wrote its two pids, return the exit code.

    The CLI starts with SIGINT ignored, as a background job of a script does: it must handle it all the same.
    """
    process = subprocess.Popen([sys.executable, "-c", (
        "import signal, sys; from pathlib import Path; from course_tools import cli, config\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        f"config.SOLUTIONS = Path({str(solutions)!r})\n"
        f"sys.exit(cli.main({arguments!r}))")], cwd=ROOT)
    deadline = time.monotonic() + 600  # a loaded machine starts kernels slowly
    while not pid_file.exists() or len(pid_file.read_text().split()) < 2:
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


def pytest_collection_modifyitems(items):
    """Tests that execute lessons first: under pytest-xdist, short tests then fill the end of the run."""
    items.sort(key=lambda item: item.get_closest_marker("notebooks") is None)
