"""The roster and the gradebook: who each submission belongs to, and every lesson's scores in one table.

A roster is a CSV with a header: `student` (the submission's name: its file name, with or without
`.ipynb`, or its folder), `id` (the student id, Canvas's SIS User ID), and optionally `name` and
`email`. `grade --roster` adds a student's id, name and email to their row of grades.csv and keeps a
copy of the roster in OUT. The gradebook joins several lessons' OUT folders by student id (by
submission name where there is none) into `gradebook.csv` and `canvas.csv`, the layout Canvas's
gradebook import reads: Student, ID, SIS User ID, SIS Login ID, Section, one column per lesson, and a
"Points Possible" row under the header; students are matched by SIS User ID (the roster's id), the other
identifying columns are left empty.

Run `python -m course_tools gradebook OUT... --out DIR`.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from course_tools.files import write_atomic

ROSTER_COLUMNS = ("student", "id", "name", "email")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")


def _csv(rows: list[list[str]]) -> str:
    handle = io.StringIO()
    csv.writer(handle, lineterminator="\n").writerows(rows)
    return handle.getvalue()


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
                             f"(name and email optional); {', '.join(missing)} missing.")
        roster, ids = {}, set()
        for line, row in enumerate(reader, 2):
            entry = {column: (row.get(column) or "").strip() for column in ROSTER_COLUMNS}
            entry["student"] = entry["student"].removesuffix(".ipynb")
            if not entry["student"] or not entry["id"]:
                raise ValueError(f"{path}, line {line}: every student needs a `student` (submission name) and an `id`.")
            if entry["student"] in roster or entry["id"] in ids:
                raise ValueError(f"{path}, line {line}: {entry['student']} / {entry['id']} appears twice.")
            roster[entry["student"]] = entry
            ids.add(entry["id"])
    return roster


def write_roster(path: Path, roster: dict[str, dict[str, str]]) -> None:
    write_atomic(path, _csv([list(ROSTER_COLUMNS), *[[row[c] for c in ROSTER_COLUMNS] for row in roster.values()]]))


def roster_problems(roster: dict[str, dict[str, str]], students: list[str]) -> list[str]:
    """Lines naming the submissions no roster student matches and the roster students with no submission."""
    unmatched = sorted(set(students) - set(roster))
    absent = [row for name, row in sorted(roster.items()) if name not in students]
    return ([f"- submission not on the roster: {name}" for name in unmatched]
            + [f"- no submission from {row['name'] or row['student']} (id {row['id']}, expected "
               f"{row['student']}.ipynb)" for row in absent])


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def join(outs: list[Path]) -> tuple[list[str], dict[str, str], list[dict]]:
    """(lessons, max score by lesson, one row per student with its score in each lesson) from graded folders."""
    lessons, maxima, rows = [], {}, {}
    for out in outs:
        if not (out / "batch.json").is_file() or not (out / "grades.csv").is_file():
            raise ValueError(f"{out} is not a graded folder (no batch.json or grades.csv): give the OUT of `grade`.")
        lesson = json.loads((out / "batch.json").read_text(encoding="utf-8"))["lesson"]
        if lesson in lessons:
            raise ValueError(f"{lesson} is given twice: give one graded folder per lesson.")
        lessons.append(lesson)
        roster = _read_csv(out / "roster.csv") if (out / "roster.csv").is_file() else []
        for person in [*roster, *_read_csv(out / "grades.csv")]:
            identity = person.get("id") or f"submission {person['student']}"
            row = rows.setdefault(identity, {"student": person["student"], "id": person.get("id", ""),
                                             "name": person.get("name", ""), "email": person.get("email", "")})
            if "score" in person:
                row[lesson] = person["score"]
                maxima[lesson] = person["max_score"]
    return lessons, maxima, sorted(rows.values(), key=lambda r: (r["name"] or r["student"], r["id"]))


def write_gradebook(outs: list[Path], folder: Path) -> tuple[Path, Path]:
    """gradebook.csv (every lesson and the total, per student) and canvas.csv (Canvas's import layout) in `folder`."""
    lessons, maxima, rows = join(outs)
    plain = [["student", "id", "name", "email", *lessons, "total"]]
    for row in rows:
        total = sum(float(row[lesson]) for lesson in lessons if row.get(lesson))
        plain.append([_safe(row[c]) for c in ("student", "id", "name", "email")]
                     + [row.get(lesson, "") for lesson in lessons] + [f"{total:g}"])
    canvas = [[*CANVAS_COLUMNS, *lessons], ["Points Possible", "", "", "", "", *[maxima.get(l, "") for l in lessons]]]
    canvas += [[_safe(row["name"] or row["student"]), "", _safe(row["id"]), "", "",
                *[row.get(lesson, "") for lesson in lessons]] for row in rows]
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "gradebook.csv", _csv(plain))
    write_atomic(folder / "canvas.csv", _csv(canvas))
    return folder / "gradebook.csv", folder / "canvas.csv"
