"""The roster, points set by hand, and the gradebook: every lesson's scores in one table.

A roster is a CSV with a header: `student` (the submission's name: its file name, with or without
`.ipynb`, or its folder), `id` (the student id, Canvas's SIS User ID), and optionally `name`, `email`
and `canvas_id` (the Canvas user id in the names of Canvas's bulk download, see course_tools.lms).
`grade --roster` adds a student's id, name and email to their row of grades.csv and keeps a copy of
the roster in OUT.

`override` records points set by hand for one student's check in OUT/overrides.csv (who, when, why);
the latest row for a student and check wins, and every row stays as a record. `apply_overrides` puts
them in place of the grader's points wherever grades are shown.

The gradebook joins several lessons' OUT folders by student id (by submission name where there is
none): `gradebook.csv` (for a spreadsheet: each lesson's score and status, the total, and notes on
overrides and late work) and `canvas.csv`, the layout Canvas's gradebook import reads: Student, ID,
SIS User ID, SIS Login ID, Section, one column per lesson, and a "Points Possible" row under the
header; students are matched by SIS User ID (the roster's id), the other identifying columns are left
empty. A lesson's score there is the grader's, with the overrides, less its late penalty
(course_tools.lms).

Run `python -m course_tools gradebook OUT... --out DIR`.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from course_tools.files import write_atomic

ROSTER_COLUMNS = ("student", "id", "name", "email", "canvas_id")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
OVERRIDE_COLUMNS = ("student", "check", "points", "by", "at", "reason")
BOM = "\ufeff"  # Excel reads a CSV as UTF-8 only when it starts with this mark ("Schäfer", not "SchÃ¤fer")


def write_csv(path: Path, rows: list[list[str]], bom: bool = True) -> None:
    """`rows` as a CSV file, written atomically; with a byte-order mark unless `bom` is false."""
    handle = io.StringIO()
    csv.writer(handle, lineterminator="\n").writerows(rows)
    write_atomic(path, (BOM if bom else "") + handle.getvalue())


def read_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file written here or by a spreadsheet, with or without a byte-order mark."""
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _safe(text: str) -> str:
    from course_tools.grading import spreadsheet_safe

    return spreadsheet_safe(text)


def read_roster(path: Path) -> dict[str, dict[str, str]]:
    """The roster's students by submission name; ValueError, saying what to fix, for a roster that cannot be used."""
    with open(path, newline="", encoding="utf-8-sig") as handle:  # Excel writes a byte-order mark
        reader = csv.DictReader(handle)
        missing = [c for c in ("student", "id") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: the roster needs a header with the columns {', '.join(ROSTER_COLUMNS)} "
                             f"(name, email and canvas_id optional); {', '.join(missing)} missing.")
        roster, seen = {}, {"id": set(), "canvas_id": set()}
        for line, row in enumerate(reader, 2):
            entry = {column: (row.get(column) or "").strip() for column in ROSTER_COLUMNS}
            entry["student"] = entry["student"].removesuffix(".ipynb")
            if not entry["student"] or not entry["id"]:
                raise ValueError(f"{path}, line {line}: every student needs a `student` (submission name) and an `id`.")
            if entry["student"] in roster or entry["id"] in seen["id"] or entry["canvas_id"] in seen["canvas_id"]:
                raise ValueError(f"{path}, line {line}: {entry['student']} / {entry['id']}"
                                 f"{' / ' + entry['canvas_id'] if entry['canvas_id'] else ''} appears twice.")
            roster[entry["student"]] = entry
            seen["id"].add(entry["id"])
            if entry["canvas_id"]:
                seen["canvas_id"].add(entry["canvas_id"])
    return roster


def write_roster(path: Path, roster: dict[str, dict[str, str]]) -> None:
    write_csv(path, [list(ROSTER_COLUMNS), *[[row[c] for c in ROSTER_COLUMNS] for row in roster.values()]])


def roster_problems(roster: dict[str, dict[str, str]], students: list[str]) -> list[str]:
    """Lines naming the submissions no roster student matches and the roster students with no submission."""
    unmatched = sorted(set(students) - set(roster))
    absent = [row for name, row in sorted(roster.items()) if name not in students]
    return ([f"- submission not on the roster: {name}" for name in unmatched]
            + [f"- no submission from {row['name'] or row['student']} (id {row['id']}, expected "
               f"{row['student']}.ipynb)" for row in absent])


# ------------------------------------------------------------------------------------ points set by hand

def read_graded(folder: Path) -> tuple[dict, list]:
    """(batch.json, the grader's results) of a folder `grade` wrote; ValueError naming what is missing."""
    from course_tools.scoring import Result

    try:
        batch = json.loads((folder / "batch.json").read_text(encoding="utf-8"))
        results = [Result(**row) for row in json.loads((folder / "results.json").read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError) as error:
        raise ValueError(f"{folder} is not a graded folder (no readable batch.json and results.json: "
                         f"{type(error).__name__}): give the OUT of `grade`.") from None
    return batch, results


def read_overrides(folder: Path) -> list[dict[str, str]]:
    """The rows of `folder`/overrides.csv, oldest first (none when it does not exist)."""
    path = folder / "overrides.csv"
    return read_csv(path) if path.is_file() else []


def apply_overrides(results: list, overrides: list[dict[str, str]]) -> list:
    """The results with the latest override of each student's check in place of the grader's points, and a note
    saying who set them, when and why; the results themselves are left as they are."""
    from course_tools.scoring import points_text

    latest = {(row["student"], row["check"]): row for row in overrides}
    shown = []
    for result in results:
        rows = [row for (student, check), row in latest.items()
                if student == _safe(result.student) and check in result.tests]
        if not rows:
            shown.append(result)
            continue
        tests, notes = dict(result.tests), list(result.notes)
        for row in rows:
            tests[row["check"]] = float(row["points"])
            reason = f" ({row['reason']})" if row["reason"] else ""
            notes.append(f"`{row['check']}`: {points_text(float(row['points']))} point(s) set by hand by {row['by']} "
                         f"on {row['at']}{reason}.")
        shown.append(replace(result, tests=tests, notes=notes))
    return shown


def record_override(folder: Path, student: str, check: str, points: float, by: str, reason: str = "",
                    solutions: Path | None = None, now: datetime | None = None) -> str:
    """Record `points` set by hand for `student`'s `check` in `folder`/overrides.csv, then write grades.csv and that
    student's feedback again with every override; a line saying what changed. ValueError, saying what to give
    instead, for an unknown student or check, points outside 0 to the check's points, or no name in `by`."""
    from course_tools import grading
    from course_tools.rebuild import load_key
    from course_tools.runner import select
    from course_tools.scoring import feedback_markdown, points_text

    batch, results = read_graded(folder)
    solution = [path for path in select([batch["lesson"]], solutions) if path.stem == batch["lesson"]]
    key = load_key(solution[0]) if solution else None
    if key is None or key.digest != batch.get("answer_key_sha256"):
        raise ValueError(f"{folder} was graded with another answer key than {batch['lesson']}'s as it is now, so the "
                         "checks' points cannot be confirmed: regrade the class, then set points by hand.")
    students = {r.student: r for r in results}
    checks = {t.grade_id: t.points for t in key.tests}
    if student not in students:
        raise ValueError(f"{folder} has no student {student!r}; its students: {', '.join(sorted(students))}.")
    if check not in checks:
        raise ValueError(f"{key.lesson} has no check {check!r}; its checks: {', '.join(checks)}.")
    if not 0 <= points <= checks[check]:
        raise ValueError(f"{check} is worth {points_text(checks[check])} point(s): give points from 0 to "
                         f"{points_text(checks[check])} (got {points:g}).")
    if not by.strip():
        raise ValueError("--by must name who sets the points.")
    at = (now or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    rows = [*read_overrides(folder), {"student": _safe(student), "check": check, "points": points_text(points),
                                      "by": _safe(by.strip()), "at": at, "reason": _safe(reason.strip())}]
    write_csv(folder / "overrides.csv", [list(OVERRIDE_COLUMNS), *[[row[c] for c in OVERRIDE_COLUMNS] for row in rows]])
    shown = {r.student: r for r in apply_overrides(results, rows)}
    roster = read_roster(folder / "roster.csv") if (folder / "roster.csv").is_file() else None
    write_atomic(folder / "grades.csv", grading.csv_text(list(shown.values()), key, roster))
    name = grading.file_names(list(students))[student]
    write_atomic(folder / "feedback" / f"{name}.md", feedback_markdown(shown[student], key))
    return (f"{student}: {check} {points_text(students[student].tests[check])} -> {points_text(points)} "
            f"(score {points_text(shown[student].score)} / {points_text(key.max_score)}), set by {by.strip()} at {at}; "
            f"wrote {folder / 'overrides.csv'}, {folder / 'grades.csv'} and {folder / 'feedback' / (name + '.md')}")


# ------------------------------------------------------------------------------------ the gradebook

def _lesson(folder: Path) -> tuple[str, float, list[dict[str, str]], dict[str, dict]]:
    """(lesson, its points, its roster rows, per graded student: status, score and notes with overrides and the
    late penalty applied) of one graded folder."""
    from course_tools import lms
    from course_tools.scoring import points_text

    batch, results = read_graded(folder)
    grades = read_csv(folder / "grades.csv") if (folder / "grades.csv").is_file() else []
    if not grades:
        raise ValueError(f"{folder} has no grades.csv with a row: give the OUT of `grade`.")
    lesson, maximum = batch["lesson"], float(grades[0]["max_score"])
    overrides, due = read_overrides(folder), lms.read_due(folder)
    graded = {}
    for result, shown in zip(results, apply_overrides(results, overrides)):
        status, notes = [result.status], []
        mine = {row["check"]: row for row in overrides if row["student"] == _safe(result.student)}
        if mine:
            status.append("points set by hand")
            notes += [f"{lesson}: {check} {row['points']} point(s) by {row['by']} at {row['at']}"
                      f"{' (' + row['reason'] + ')' if row['reason'] else ''}" for check, row in mine.items()]
        percent = 0.0
        if due is not None:
            policy, times = due
            words, percent = lms.lateness(policy, times.get(result.student))
            status.append(words)
            if percent:
                notes.append(f"{lesson}: submitted {times[result.student].isoformat()}, due "
                             f"{policy.due.isoformat()}: -{percent:g}% of {points_text(maximum)} points")
        score = max(0.0, shown.score - maximum * percent / 100)
        graded[result.student] = {"status": "; ".join(status), "score": points_text(round(score, 6)), "notes": notes}
    roster = read_csv(folder / "roster.csv") if (folder / "roster.csv").is_file() else []
    return lesson, maximum, roster, graded


def join(outs: list[Path]) -> tuple[list[str], dict[str, float], list[dict]]:
    """(lessons, points by lesson, one row per student with each lesson's score, status and notes) from graded
    folders; a roster student without a submission has the status "missing"."""
    lessons, maxima, rows = [], {}, {}
    for out in outs:
        lesson, maximum, roster, graded = _lesson(out)
        if lesson in lessons:
            raise ValueError(f"{lesson} is given twice: give one graded folder per lesson.")
        lessons.append(lesson)
        maxima[lesson] = maximum
        on_roster = {person["student"]: person for person in roster}
        for student in [*on_roster, *[s for s in graded if s not in on_roster]]:
            person = on_roster.get(student, {"student": student})
            identity = person.get("id") or f"submission {student}"
            row = rows.setdefault(identity, {"student": student, "id": person.get("id", ""),
                                             "name": person.get("name", ""), "email": person.get("email", ""),
                                             "notes": []})
            entry = graded.get(student, {"status": "missing", "score": "", "notes": []})
            row[lesson], row[f"{lesson} status"] = entry["score"], entry["status"]
            row["notes"] += entry["notes"]
    return lessons, maxima, sorted(rows.values(), key=lambda r: (r["name"] or r["student"], r["id"]))


def write_gradebook(outs: list[Path], folder: Path, canvas_columns: dict[str, str] | None = None) -> tuple[Path, Path]:
    """gradebook.csv (per student: each lesson's score and status, the total, notes; with a byte-order mark for
    spreadsheets) and canvas.csv (Canvas's import layout, plain UTF-8 as Canvas's import reads it) in `folder`.
    `canvas_columns` names a lesson's column in canvas.csv (default: the lesson's name); a name Canvas does not
    know becomes a new assignment, so give an existing one as Canvas's export writes it ("Lesson 1 (123456)")."""
    from course_tools.scoring import points_text

    lessons, maxima, rows = join(outs)
    names = canvas_columns or {}
    unknown = sorted(set(names) - set(lessons))
    if unknown:
        raise ValueError(f"--canvas-column names {', '.join(unknown)}, not a lesson given here ({', '.join(lessons)}).")
    plain = [["student", "id", "name", "email", *[c for l in lessons for c in (l, f"{l} status")], "total", "notes"]]
    for row in rows:
        total = sum(float(row[lesson]) for lesson in lessons if row.get(lesson))
        plain.append([_safe(row[c]) for c in ("student", "id", "name", "email")]
                     + [row.get(c, "") for l in lessons for c in (l, f"{l} status")]
                     + [points_text(round(total, 6)), _safe("; ".join(row["notes"]))])
    canvas = [[*CANVAS_COLUMNS, *[names.get(l, l) for l in lessons]],
              ["Points Possible", "", "", "", "", *[points_text(maxima[l]) for l in lessons]]]
    canvas += [[_safe(row["name"] or row["student"]), "", _safe(row["id"]), "", "",
                *[row.get(lesson, "") for lesson in lessons]] for row in rows]
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "gradebook.csv", plain)
    write_csv(folder / "canvas.csv", canvas, bom=False)
    return folder / "gradebook.csv", folder / "canvas.csv"
