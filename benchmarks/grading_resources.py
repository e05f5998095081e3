"""Each lesson graded as Gradescope grades it: time and peak memory, for the README's Gradescope settings.

For every lesson (or those named), the lesson's autograder zip is laid out as /autograder would be
(course_tools.autograder.simulate, with the lesson's data from COURSE_DATA_DIR in the zip), the
solution notebook is handed in, and run_autograder runs it in the smoke profile, sandboxed, with no
network. The peak memory is the sum of the resident memory of run_autograder's whole process tree
(worker, sandbox, kernel), sampled every 0.1 s: shared pages count once per process, so it errs high.
It exits non-zero unless every solution scores the maximum.

    .venv/bin/python benchmarks/grading_resources.py [01 02 ...]
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_tools import autograder, runner  # noqa: E402


def tree_rss(process: psutil.Process) -> int:
    """Bytes resident in `process` and all its descendants now."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:  # ended between listing and reading
            pass
    return total


def grade(solution: Path, work: Path) -> dict:
    data = os.environ.get("COURSE_DATA_DIR")
    zip_path = autograder.build(solution.stem[:2], work / "zip", data=Path(data) if data else None)
    root = autograder.simulate(zip_path, work / "autograder")
    for folder in ("submission", "results"):
        (root / folder).mkdir()
    (root / "submission" / solution.name).write_bytes(solution.read_bytes())
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "COURSE_SANDBOX_USER": os.environ.get("COURSE_SANDBOX_USER", "nobody")}
    start, peak = time.monotonic(), 0
    run = subprocess.Popen([str(root / "run_autograder")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    watched = psutil.Process(run.pid)
    while run.poll() is None:
        peak = max(peak, tree_rss(watched))
        time.sleep(0.1)
    seconds = time.monotonic() - start
    if run.returncode != 0:
        raise RuntimeError(f"run_autograder failed for {solution.stem}: {run.stderr.read().decode()[-2000:]}")
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    maximum = sum(test["max_score"] for test in results["tests"])
    return {"lesson": solution.stem, "score": results["score"], "max": maximum, "seconds": seconds,
            "peak_mb": peak / 2**20, "output": results["output"]}


def main() -> int:
    rows = []
    print("| lesson | score | seconds | peak memory (MB) |\n|---|---:|---:|---:|", flush=True)
    for solution in runner.select(sys.argv[1:]):
        with tempfile.TemporaryDirectory(prefix="grading-resources-") as work:
            row = grade(solution, Path(work))
        rows.append(row)
        print(f"| {row['lesson']} | {row['score']:g} / {row['max']:g} | {row['seconds']:.0f} | {row['peak_mb']:.0f} |",
              flush=True)
        if row["score"] != row["max"]:
            print(f"  {row['output']}", flush=True)
    short = [row["lesson"] for row in rows if row["score"] != row["max"]]
    if short:
        print(f"The solution does not score the maximum in: {', '.join(short)}")
    return 1 if short else 0


if __name__ == "__main__":
    raise SystemExit(main())
