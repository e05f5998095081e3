import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# Kernels started by the tests import the course helpers from this checkout.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist, each worker's notebooks get their share of the cores.
from course_tools.processes import raise_on_sigterm, thread_caps  # noqa: E402

for name, value in thread_caps(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))).items():
    os.environ.setdefault(name, value)
raise_on_sigterm()  # `finally` blocks end workers and kernels when the test run is terminated


def all_gone(pids, within: float = 10.0) -> bool:
    """Whether every process in `pids` has ended, waiting up to `within` s (a killed process takes a moment)."""
    deadline = time.monotonic() + within
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


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
