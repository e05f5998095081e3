"""What the sandbox adds to grading one submission: lesson 01's solution graded with and without it, in one run.

Rounds alternate the two ways (one worker each, so they never compete), and each round grades the same
notebook. The figures: the submission's run (from starting its worker, and sandbox, to its end) and
the whole batch (reading the key, the run, scoring, writing OUT and its report).

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
    batch = {way: [] for way in seconds}
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
                batch[way].append(time.monotonic() - start)
                seconds[way].append(result.seconds)
                print(f"round {round_ + 1}, {way}: run {result.seconds:.1f} s, batch {batch[way][-1]:.1f} s", flush=True)
    for name, values in (("run", seconds), ("batch", batch)):
        means = {way: statistics.mean(v) for way, v in values.items()}
        print(f"{solution.stem}, {args.rounds} round(s), mean {name} seconds: sandboxed {means['sandboxed']:.1f}, "
              f"unsandboxed {means['unsandboxed']:.1f}; the sandbox adds {means['sandboxed'] / means['unsandboxed'] - 1:+.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
