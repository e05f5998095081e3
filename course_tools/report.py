"""The class report in OUT: report.md and its figures (PNG), for the instructor to read before releasing grades.

Everything in it comes from the batch's results (statuses, points, the key's failure messages, the grader's
problems and times): no text a student's code printed.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from course_tools.files import write_atomic
from course_tools.rebuild import AnswerKey
from course_tools.scoring import STATUSES, Result, points_text
from course_tools.untrusted import markdown

COMMONEST = 3  # failure messages shown per test
SLOWEST = 5  # submissions shown by grading time


def table_cell(text: str) -> str:
    """Text safe in a Markdown table cell (a student's name, a problem that quotes a file name)."""
    return markdown(text)


def _figures(folder: Path, results: list[Result], key: AnswerKey, statuses: Counter) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(6, 3.5))
    axis.hist([r.score for r in results], bins=max(1, min(20, int(key.max_score) + 1)), range=(0, key.max_score),
              color="tab:blue", edgecolor="white")
    axis.set(title=f"{key.lesson}: scores", xlabel=f"score (of {points_text(key.max_score)})", ylabel="submissions")
    figure.tight_layout()
    figure.savefig(folder / "scores.png", dpi=100)
    figure, axis = plt.subplots(figsize=(6, 0.6 + 0.4 * len(key.tests)))
    rates = [sum(r.feedback[t.grade_id] == "" for r in results) / len(results) for t in key.tests]
    axis.barh([t.grade_id for t in key.tests][::-1], rates[::-1], color="tab:green")
    axis.set(title=f"{key.lesson}: pass rate per test", xlabel="share of submissions that passed", xlim=(0, 1))
    figure.tight_layout()
    figure.savefig(folder / "pass_rate.png", dpi=100)
    figure, axis = plt.subplots(figsize=(6, 3))
    axis.bar(list(statuses), list(statuses.values()), color="tab:orange")
    axis.set(title=f"{key.lesson}: statuses", ylabel="submissions")
    figure.tight_layout()
    figure.savefig(folder / "statuses.png", dpi=100)
    plt.close("all")


def write_report(folder: Path, results: list[Result], key: AnswerKey, summary: str,
                 roster_lines: list[str] | None = None) -> None:
    """Write `folder`/report.md and `folder`/figures/*.png for a batch's results."""
    statuses = Counter({status: 0 for status in STATUSES})
    statuses.update(r.status for r in results)
    lines = [f"# {key.lesson}: class report", "", summary, "",
             "![score distribution](figures/scores.png)", "",
             "## Statuses", "", "| status | submissions |", "|---|---:|",
             *[f"| {status} | {count} |" for status, count in statuses.items()], "",
             "![statuses](figures/statuses.png)", "",
             "## Tests", "", "| test | points | passed | pass rate | commonest failures |", "|---|---:|---:|---:|---|"]
    for test in key.tests:
        passed = sum(r.feedback[test.grade_id] == "" for r in results)
        failures = Counter(r.feedback[test.grade_id] for r in results if r.feedback[test.grade_id])
        common = "; ".join(f"{table_cell(message)} ({count})" for message, count in failures.most_common(COMMONEST))
        lines.append(f"| `{test.grade_id}` | {points_text(test.points)} | {passed} / {len(results)} | "
                     f"{passed / len(results):.0%} | {common} |")
    lines += ["", "![pass rate per test](figures/pass_rate.png)", "", "## Why runs did not finish cleanly", ""]
    problems = Counter(r.problem for r in results if r.problem)
    lines += ([f"- {table_cell(problem)} ({count})" for problem, count in problems.most_common()] or ["None."])
    lines += ["", "## Slowest submissions", "", "| student | status | seconds |", "|---|---|---:|"]
    lines += [f"| {table_cell(r.student)} | {r.status} | {r.seconds:g} |"
              for r in sorted(results, key=lambda r: (-r.seconds, r.student))[:SLOWEST]]
    if roster_lines is not None:
        lines += ["", "## Roster", "", *(roster_lines or ["Every submission matched a student, and every student submitted."])]
    lines += ["", "Copied work: see [similarity.md](similarity.md)."]
    _figures(folder / "figures", results, key, statuses)
    write_atomic(folder / "report.md", "\n".join(lines) + "\n")
