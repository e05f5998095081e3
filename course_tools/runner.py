"""Run lesson notebooks and report their status, time and metrics.

Each notebook is parameterised by papermill (PROFILE injected after its parameters cell, and
COURSE_PROFILE set for `profile_settings`) and executed by a worker process (course_tools.worker)
that stops at the first error; the worker and its kernel are ended on any exit.
"""
from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

from course_tools import config
from course_tools.execute import execute
from course_tools.files import write_atomic
from course_tools.handin import VISIBLE_CHECK, read_handins
from course_tools.notebook import is_injected_parameters, normalize, read, write
from course_tools.processes import Workers
from course_tools.rebuild import reference_path


def select(lessons: list[str] | None, folder: Path | None = None) -> list[Path]:
    """Notebooks in `folder` (default solutions/) whose stem starts with one of `lessons` (all when empty)."""
    notebooks = sorted((folder or config.SOLUTIONS).glob("[0-9][0-9]_*.ipynb"))
    if lessons:
        unknown = [l for l in lessons if not any(nb.stem.startswith(l) for nb in notebooks)]
        if unknown:
            raise ValueError(f"No lesson matches {', '.join(unknown)}; lessons: {', '.join(nb.stem for nb in notebooks)}.")
        notebooks = [nb for nb in notebooks if any(nb.stem.startswith(l) for l in lessons)]
    return notebooks


def _display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(config.ROOT))
    except ValueError:
        return str(path.resolve())


def executed_cells(executed: Path) -> list:
    """The cells of an executed notebook; none where the worker left no readable notebook."""
    try:
        return read(executed).cells
    except (OSError, ValueError):
        return []


def first_error(cells: list) -> str | None:
    """'cell <id>: Error: message' for the first error output among executed cells."""
    for cell in cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {cell.get('id')}: {output['ename']}: {output['evalue']}"
    return None


def cell_seconds(cells: list) -> list[dict]:
    """{"cell": id, "seconds": s, "line": its first line} for every executed cell, in notebook order, from the
    start and end times nbclient keeps in a cell's metadata (cells that did not run have none)."""
    timed = []
    for cell in cells:
        timing = cell.metadata.get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start, end = (datetime.fromisoformat(timing[key]) for key in ("iopub.execute_input", "shell.execute_reply"))
            line = next((text.strip() for text in cell.source.splitlines() if text.strip()), "")
            timed.append({"cell": cell.get("id"), "seconds": round((end - start).total_seconds(), 2), "line": line})
    return timed


def slowest_cells(timed: list[dict], count: int) -> list[dict]:
    """The `count` longest cells of `cell_seconds`, longest first."""
    return sorted(timed, key=lambda cell: -cell["seconds"])[:count]


def _code_in_table(text: str, width: int = 60) -> str:
    """`text` as a Markdown code span that fits a table cell: cut to `width` characters, pipes escaped."""
    text = text if len(text) <= width else text[:width - 1] + "…"
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def read_metrics(metrics_file: Path) -> dict:
    metrics = {}
    if metrics_file.exists():
        for line in metrics_file.read_text(encoding="utf-8").splitlines():
            metrics.update(json.loads(line))
    return metrics


def run_notebook(notebook: Path, out_dir: Path, profile: str, timeout: float) -> dict:
    """Execute one notebook into `out_dir`; its files (saved models, submissions) go to out_dir/<stem>/."""
    import papermill  # imported here: slow to import

    executed = out_dir / notebook.name
    executed.unlink(missing_ok=True)  # a notebook from an earlier run must not pass for this one's
    work = (out_dir / notebook.stem).resolve()
    work.mkdir(parents=True, exist_ok=True)
    for earlier in ("metrics.jsonl", "handin.jsonl"):
        (work / earlier).unlink(missing_ok=True)
    papermill.execute_notebook(str(notebook), str(work / "prepared.ipynb"), parameters={"PROFILE": profile},
                               kernel_name="python3", prepare_only=True, progress_bar=False)
    run = execute(work / "prepared.ipynb", executed.resolve(), work, profile=profile, timeout=timeout,
                  workers=Workers(), helpers=config.ROOT, figures_inline=True, record_timing=True,
                  heartbeat=lambda elapsed: print(f"    {notebook.stem}: still running, {elapsed:.0f} s", flush=True))
    status = "timeout" if run.code is None else "ok" if run.code == 0 else "failed"
    cells = executed_cells(executed)
    timed = cell_seconds(cells)
    error = None
    if status == "timeout":
        error = f"did not finish within {timeout:.0f} s"
    elif status == "failed":
        log_tail = run.log.read_text(encoding="utf-8").strip().splitlines()[-1:]
        error = first_error(cells) or (log_tail[0] if log_tail else f"the worker exited with code {run.code}")
    return {
        "status": status,
        "seconds": run.seconds,
        "metrics": read_metrics(run.metrics),
        "handins": read_handins(run.handins),
        "cell_seconds": timed,
        "slowest_cells": [[cell["cell"], cell["seconds"]] for cell in slowest_cells(timed, 3)],
        "executed": _display_path(executed),
        "error": error,
    }


def run_course(notebooks: list[Path], profile: str, out_dir: Path, report_dir: Path, timeout: float) -> dict:
    """Run the notebooks one after another; write report.json and report.md into `report_dir`."""
    if not timeout > 0:
        raise ValueError(f"--timeout must be a positive number of seconds (got {timeout:g}).")
    out_dir.mkdir(parents=True, exist_ok=True)
    report_dir.mkdir(parents=True, exist_ok=True)
    report = {"profile": profile, "seconds": 0.0, "notebooks": {}}
    start = time.monotonic()
    for number, notebook in enumerate(notebooks, 1):
        print(f"[{number}/{len(notebooks)}] {notebook.stem} ({profile} profile) ...", flush=True)
        result = run_notebook(notebook, out_dir, profile, timeout)
        report["notebooks"][notebook.stem] = result
        report["seconds"] = round(time.monotonic() - start, 1)
        print(f"[{number}/{len(notebooks)}] {notebook.stem}: {result['status']} in {result['seconds']:.0f} s"
              + (f" ({result['error']})" if result["error"] else ""), flush=True)
        write_report(report, report_dir)
    return report


def write_report(report: dict, report_dir: Path, cells_listed: int = 5) -> None:
    """report.json as it is; report.md: a table of the notebooks, then each one's `cells_listed` slowest cells."""
    write_atomic(report_dir / "report.json", json.dumps(report, indent=2) + "\n")
    lines = [
        f"# Course run ({report['profile']} profile)", "",
        f"Total time: {report['seconds'] / 60:.1f} min", "",
        "| notebook | status | time (s) | metrics |",
        "|---|---|---:|---|",
    ]
    for stem, result in report["notebooks"].items():
        metrics = "<br>".join(f"{name} = {value:.4g}" for name, value in result["metrics"].items())
        status = result["status"] + (f": {result['error']}" if result["error"] else "")
        lines.append(f"| {stem} | {status} | {result['seconds']:.0f} | {metrics or '-'} |")
    lines += ["", "## Slowest cells", "",
              "Each cell's seconds from starting it to its reply; the rest of a notebook's time starts the kernel and "
              "saves the notebook. Every cell's time is in report.json (`cell_seconds`).", ""]
    for stem, result in report["notebooks"].items():
        timed = result["cell_seconds"]
        in_cells = sum(cell["seconds"] for cell in timed)
        lines += [f"### {stem}", "", f"{in_cells:.0f} s in {len(timed)} cells of {result['seconds']:.0f} s.", "",
                  "| cell | first line | seconds | share |", "|---|---|---:|---:|"]
        for cell in slowest_cells(timed, cells_listed):
            share = cell["seconds"] / result["seconds"] if result["seconds"] else 0
            lines.append(f"| {cell['cell']} | {_code_in_table(cell['line'])} | {cell['seconds']:.1f} | {share:.0%} |")
        lines.append("")
    write_atomic(report_dir / "report.md", "\n".join(lines))


def refresh_solutions(report_path: Path, lessons: list[str] | None) -> list[Path]:
    """Copy the outputs of a successful full run back into solutions/, with the values its graded checks handed in
    as the lesson's reference values: every lesson checked before any is written."""
    report = json.loads(report_path.read_text(encoding="utf-8"))
    if report["profile"] != "full":
        raise ValueError(f"{report_path} is a {report['profile']} run; solutions keep outputs of a full run.")
    refreshed = []
    for solution in select(lessons):
        result = report["notebooks"].get(solution.stem)
        if result is None or result["status"] != "ok":
            raise ValueError(f"{solution.stem} did not run successfully in {report_path}.")
        executed = read(config.ROOT / result["executed"])
        executed.cells = [c for c in executed.cells if not is_injected_parameters(c)]
        current = read(solution)
        if [c.source for c in executed.cells] != [c.source for c in current.cells]:
            raise ValueError(f"{solution.name} changed since that run: run the course again first.")
        for cell, run_cell in zip(current.cells, executed.cells):
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = run_cell.outputs, run_cell.execution_count
        refreshed.append((solution, normalize(current, keep_outputs=True), result.get("handins", {})))
    for solution, nb, handins in refreshed:
        write(nb, solution)
        lines = [f"{json.dumps(name)}: {json.dumps(handins[name])}" for name in sorted(handins)
                 if not name.startswith(VISIBLE_CHECK.format(""))]  # what the key compares, not the visible checks
        write_atomic(reference_path(solution), "{\n" + ",\n".join(lines) + "\n}\n")
    return [solution for solution, _, _ in refreshed]


def failed(report: dict) -> list[str]:
    return [stem for stem, result in report["notebooks"].items() if result["status"] != "ok"]

