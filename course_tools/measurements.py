"""docs/measurements.md, written from what the last runs left in build/: never edited by hand.

It reads build/report.json (`make course`, the full profile), build/smoke/report.json (`make smoke`)
and the benchmarks' outputs in build/benchmarks/ (`make benchmarks`), and writes them with the machine
it runs on (CPU, cores, memory, versions) and the date. Run it on the machine that made those runs:

    .venv/bin/python -m course_tools.measurements [--build build] [--out docs/measurements.md]

Every section is written whether or not its input exists, so the page keeps one form from run to run.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from course_tools import config
from course_tools.files import write_atomic
from course_tools.lessons import LESSONS

OUT = config.ROOT / "docs" / "measurements.md"
# Each benchmark's output file in build/benchmarks/, with the command that writes it and whether it is Markdown.
BENCHMARKS = {
    "grading_resources.md": ("Grading each lesson's solution through the real `run_autograder` (smoke profile, "
                             "sandboxed, no network): score, seconds and peak memory of the whole process tree",
                             "benchmarks/grading_resources.py", True),
    "sandbox_overhead.txt": ("What the sandbox adds to grading lesson 01's solution, with and without it in turns",
                             "benchmarks/sandbox_overhead.py", False),
    "similarity.txt": ("False alarms and missed copies of the similarity check at its threshold, on hand-written "
                       "answers and copies of lessons 01 and 05", "benchmarks/similarity.py", False),
}


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    if sys.platform == "darwin":
        brand = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True)
        if brand.returncode == 0 and brand.stdout.strip():
            return brand.stdout.strip()
    return platform.processor() or platform.machine()


def _vector_extensions() -> str:
    """The widest x86 vector instructions the CPU has (TensorFlow's speed depends on them), or 'not x86'."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return "unknown" if platform.machine().lower() in ("x86_64", "amd64") else "not x86"
    flags = next((line.split(":", 1)[1].split() for line in cpuinfo.read_text(encoding="utf-8", errors="replace")
                  .splitlines() if line.startswith("flags")), [])
    if not flags:
        return "not x86"
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "neither AVX2 nor AVX-512"


def _memory() -> str:
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 2**20:.1f} GiB"
    return "unknown"


def _version(*names: str) -> str:
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return "not installed"


def machine() -> dict[str, str]:
    """What this machine is, as the page names it."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "CPU": _cpu_model(),
        "vector instructions": _vector_extensions(),
        "cores": f"{os.cpu_count()} ({usable} usable by this process)",
        "memory": _memory(),
        "load average as this page was written (1, 5, 15 min)": (
            ", ".join(f"{load:.1f}" for load in os.getloadavg()) if hasattr(os, "getloadavg") else "unknown"),
        "system": platform.platform(),
        "Python": platform.python_version(),
        "TensorFlow": _version("tensorflow-cpu", "tensorflow"),
        "Keras": _version("keras"),
    }


def _stamp(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _read_report(path: Path) -> dict | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _full_run(build: Path) -> list[str]:
    path = build / "report.json"
    report = _read_report(path)
    lines = ["## Full run of every lesson", "",
             "`make course` (the full profile, one lesson after another), as `build/report.json` holds it. A lesson's "
             "budget is the time its full run must stay within on a 2-core CPU (`course_tools/lessons.py`).", ""]
    results = ["### Key results of that run", "",
               "Recorded by each lesson with `mu.record_metrics`; the lessons say which differences are ties.", ""]
    if report is None or report["profile"] != "full":
        found = "holds a smoke run" if report else "is missing"
        missing = (f"Not measured: `{path.relative_to(build.parent)}` {found}. Run `make course`, then "
                   "`make measurements`.")
        return lines + [missing, ""] + results + ["Not measured: no full run.", ""]
    lines += [f"Run finished {_stamp(path)}; {report['seconds'] / 60:.1f} min in all.", "",
              "| lesson | status | minutes | budget (min) | within budget | slowest cells (s) |",
              "|---|---|---:|---:|---|---|"]
    for lesson in LESSONS:
        result = report["notebooks"].get(lesson.file)
        if result is None:
            lines.append(f"| {lesson.file} | not in this run | | {lesson.budget_min} | | |")
            continue
        minutes = result["seconds"] / 60
        status = result["status"] + (f": {result['error']}" if result["error"] else "")
        slowest = ", ".join(f"{cell}: {seconds:.0f}" for cell, seconds in result["slowest_cells"])
        lines.append(f"| {lesson.file} | {status.replace('|', '/')} | {minutes:.1f} | {lesson.budget_min} | "
                     f"{'yes' if minutes <= lesson.budget_min else 'no'} | {slowest} |")
    lines += ["", *results, "| lesson | metric | value |", "|---|---|---:|"]
    for lesson in LESSONS:
        metrics = report["notebooks"].get(lesson.file, {}).get("metrics", {})
        lines += [f"| {lesson.file} | {name} | {value:.4g} |" for name, value in metrics.items()]
    return lines + [""]


def _smoke_run(build: Path) -> list[str]:
    path = build / "smoke" / "report.json"
    report = _read_report(path)
    lines = ["## Smoke run of every lesson", "",
             "`make smoke` (the small profile that CI and grading use), as `build/smoke/report.json` holds it.", ""]
    if report is None:
        return lines + [f"Not measured: `{path.relative_to(build.parent)}` is missing. Run `make smoke`, then "
                        "`make measurements`.", ""]
    lines += [f"Run finished {_stamp(path)}; {report['seconds'] / 60:.1f} min in all.", "",
              "| lesson | status | seconds |", "|---|---|---:|"]
    for lesson in LESSONS:
        result = report["notebooks"].get(lesson.file)
        lines.append(f"| {lesson.file} | not in this run | |" if result is None else
                     f"| {lesson.file} | {result['status']} | {result['seconds']:.0f} |")
    return lines + [""]


def _benchmarks(build: Path) -> list[str]:
    lines = ["## Benchmarks", "", "Each benchmark's output as `make benchmarks` saved it in `build/benchmarks/`.", ""]
    for name, (what, script, markdown) in BENCHMARKS.items():
        path = build / "benchmarks" / name
        lines += [f"### {Path(script).stem}", "", f"{what} (`{script}`).", ""]
        if not path.is_file():
            lines += [f"Not measured: `{path.relative_to(build.parent)}` is missing. Run `make benchmarks`, then "
                      "`make measurements`.", ""]
            continue
        output = path.read_text(encoding="utf-8").strip()
        lines += [f"Saved {_stamp(path)}.", "", output if markdown else f"```text\n{output}\n```", ""]
    return lines


def render(build: Path, this_machine: dict[str, str], now: datetime) -> str:
    """The page's Markdown from the runs in `build`, measured on `this_machine`, written at `now`."""
    lines = ["# Measurements", "",
             "<!-- Written by `make measurements` (course_tools/measurements.py): do not edit by hand. -->", "",
             f"Written {now.strftime('%Y-%m-%d %H:%M UTC')} from the runs in `build/`. The machine below is the one "
             "this page was written on, which is meant to be the one that made the runs. Times differ between "
             "machines (most between CPUs with and without AVX-512) and with other work running on the same one (a "
             "load average above the number of cores means other work competed for them); results repeat exactly "
             "on one CPU type.", "",
             "## Machine", "", "| | |", "|---|---|", *[f"| {key} | {value} |" for key, value in this_machine.items()], ""]
    lines += _full_run(build) + _smoke_run(build) + _benchmarks(build)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="course_tools.measurements", description=__doc__.splitlines()[0])
    parser.add_argument("--build", type=Path, default=config.BUILD, help="the folder of the runs (default build/)")
    parser.add_argument("--out", type=Path, default=OUT, help="the page to write (default docs/measurements.md)")
    args = parser.parse_args(argv)
    write_atomic(args.out, render(args.build, machine(), datetime.now(timezone.utc)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
