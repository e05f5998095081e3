"""What the sandbox adds to grading one submission: lesson 01's solution graded with and without it, in one run.

Rounds alternate the two ways (one worker each, so they never compete), and each round grades the same
notebook; the figures are each submission's grading time (rebuild, kernel, run, scoring).

    .venv/bin/python benchmarks/sandbox_overhead.py [--rounds 3] [--lesson 01]
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from course_tools import grading, runner  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lesson", default="01")
    args = parser.parse_args()
    [solution] = runner.select([args.lesson])
    seconds = {"sandboxed": [], "unsandboxed": []}
    with tempfile.TemporaryDirectory() as work:
        subs = Path(work) / "subs"
        subs.mkdir()
        (subs / "solved.ipynb").write_bytes(solution.read_bytes())
        for round_ in range(args.rounds):
            for way in seconds:
                start = time.monotonic()
                [result] = grading.grade(args.lesson, subs, Path(work) / f"{way}-{round_}", workers=1,
                                         unsandboxed=way == "unsandboxed", progress=lambda *_: None)
                assert result.status == "ok", result
                seconds[way].append(time.monotonic() - start)
                print(f"round {round_ + 1}, {way}: {seconds[way][-1]:.1f} s ({result.status}, {result.score:g})",
                      flush=True)
    means = {way: statistics.mean(values) for way, values in seconds.items()}
    print(f"{solution.stem}, {args.rounds} round(s), mean seconds per submission: sandboxed {means['sandboxed']:.1f}, "
          f"unsandboxed {means['unsandboxed']:.1f}; the sandbox adds {means['sandboxed'] / means['unsandboxed'] - 1:+.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
