"""Canvas's bulk download mapped to the roster, and due dates with their late policy.

`collect` turns the folder or zip Canvas's "Download Submissions" gives
(`lastnamefirstname_12345_67890_anything.ipynb`, with `_LATE` after the name when Canvas counted it
late; 12345 is the student's Canvas user id, 67890 the file's) into a folder `grade` reads,
`OUT/<student>/<anything>.ipynb`, by the roster's `canvas_id` column, as nbgrader's `zip_collect`
does with its file-name pattern. Files keep their modification times (from the zip, as unzip sets them).

`record_due` keeps a lesson's due date, late policy and each student's submission time in
OUT/due.json, beside the grades; the gradebook takes each late submission's penalty from it. A
penalty is a share of the lesson's points for every day (or hour) begun after the due date, as
Canvas's late policy counts it, up to a cap; a submission within the grace period is on time.
Submission times come from a CSV with the columns `student` and `submitted` (the roster can carry
them), or from the submissions folder: Gradescope's `submission_metadata.json` (`created_at`) in a
student's folder, else the notebook's modification time. A time without a UTC offset is this
machine's local time.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from course_tools.files import write_atomic
from course_tools.gradebook import read_csv, read_roster

CANVAS_NAME = re.compile(r"(?P<name>.+?)(?P<late>_LATE)?_(?P<user>\d+)_(?P<attachment>\d+)_(?P<file>.+)")
UNIT_SECONDS = {"min": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
TIME_EXAMPLE = "a date and time such as 2026-12-01T23:59 (this machine's time zone) or 2026-12-01T23:59+01:00"


# ------------------------------------------------------------------------------------ Canvas's bulk download

def _unzip(archive: Path, folder: Path) -> None:
    """The files of a flat zip (Canvas's) into `folder`, by their base names, with the zip's modification times."""
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            name = PurePosixPath(info.filename.replace("\\", "/")).name
            if info.is_dir() or not name or name.startswith("."):
                continue
            target = folder / name
            target.write_bytes(bundle.read(info))
            stamp = time.mktime((*info.date_time, 0, 0, -1))
            os.utime(target, (stamp, stamp))


def collect(download: Path, roster_path: Path, out: Path) -> list[str]:
    """Copy Canvas's downloaded submissions (a folder or its zip) into `out`/<student>/ by the roster's canvas_id;
    lines saying what was collected and what was left out. ValueError, saying what to do, when nothing can be."""
    roster = read_roster(roster_path)
    by_canvas_id = {row["canvas_id"]: row["student"] for row in roster.values() if row["canvas_id"]}
    if not by_canvas_id:
        raise ValueError(f"{roster_path} gives no student a canvas_id: add that column with each student's Canvas "
                         "user id (the first number in the names of Canvas's download, or the ID column of its "
                         "gradebook export).")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder: name a new one (nothing is overwritten).")
    if not (download.is_dir() or zipfile.is_zipfile(download)):
        raise ValueError(f"{download} is neither a folder nor a zip file: give Canvas's download (submissions.zip) "
                         "or the folder it was unpacked into.")
    with tempfile.TemporaryDirectory(prefix="canvas-") as unpacked:
        if download.is_dir():
            folder = download
        else:
            folder = Path(unpacked)
            _unzip(download, folder)
        lines, collected, late = [], {}, set()
        for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
            match = CANVAS_NAME.fullmatch(path.name)
            if match is None:
                lines.append(f"- not a Canvas download name, left out: {path.name}")
                continue
            student = by_canvas_id.get(match["user"])
            if student is None:
                lines.append(f"- Canvas user {match['user']} is not on the roster, left out: {path.name}")
                continue
            target = out / student / match["file"]
            if target.exists():  # two files of one student with the same name
                target = target.with_name(path.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
            collected.setdefault(student, []).append(target.name)
            if match["late"]:
                late.add(student)
    missing = [row for row in roster.values() if row["student"] not in collected]
    lines += [f"- no file from {row['name'] or row['student']} (canvas_id {row['canvas_id'] or 'not given'})"
              for row in missing]
    if late:
        lines.append(f"- late by Canvas's due date: {', '.join(sorted(late))}")
    files = sum(len(names) for names in collected.values())
    return [f"collected {files} file(s) of {len(collected)} student(s) into {out}", *lines]


# ------------------------------------------------------------------------------------ due dates and late work

def parse_time(text: str, what: str) -> datetime:
    """An ISO date and time with its offset; one without is this machine's local time. ValueError naming `what`."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not {TIME_EXAMPLE}.") from None
    return moment.astimezone() if moment.tzinfo is None else moment


def _number(pattern: str, text: str, what: str, example: str) -> re.Match:
    match = re.fullmatch(pattern, text.strip())
    if match is None:
        raise ValueError(f"{what} must look like {example} (got {text!r}).")
    return match


@dataclass(frozen=True)
class LatePolicy:
    due: datetime
    percent: float = 0.0  # of the lesson's points, taken for every `per` begun after `due`
    per: str = "day"
    cap: float = 100.0  # the most percent taken
    grace: float = 0.0  # seconds after `due` that still count as on time

    @classmethod
    def parse(cls, due: str, late_penalty: str = "0%/day", late_cap: str = "100%", grace: str = "0min") -> LatePolicy:
        """The policy the command line states (`--due 2026-12-01T23:59 --late-penalty 10%/day --late-cap 50%
        --grace 15min`); ValueError saying which option is wrong."""
        rate = _number(r"(\d+(?:\.\d+)?)\s*%\s*/\s*(day|hour)", late_penalty, "--late-penalty", "10%/day or 2%/hour")
        cap = _number(r"(\d+(?:\.\d+)?)\s*%", late_cap, "--late-cap", "50%")
        wait = _number(r"(\d+(?:\.\d+)?)\s*(min|h|d)", grace, "--grace", "15min, 2h or 1d")
        if float(cap[1]) > 100:
            raise ValueError(f"--late-cap is a share of the lesson's points, at most 100% (got {late_cap!r}).")
        return cls(parse_time(due, "--due"), float(rate[1]), rate[2], float(cap[1]),
                   float(wait[1]) * UNIT_SECONDS[wait[2]])

    def penalty(self, submitted: datetime) -> tuple[float, float]:
        """(seconds after the due date, percent of the lesson's points taken: 0 within the grace period)."""
        late = (submitted - self.due).total_seconds()
        if late <= self.grace:
            return late, 0.0
        return late, min(self.cap, self.percent * math.ceil(late / UNIT_SECONDS[self.per]))


def _duration(seconds: float) -> str:
    days, rest = divmod(round(seconds / 60), 24 * 60)
    hours, minutes = divmod(rest, 60)
    return " ".join(f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n) or "0 min"


def lateness(policy: LatePolicy, submitted: datetime | None) -> tuple[str, float]:
    """(what to show: "on time", "late 1 d 2 h, -10%", "submission time unknown"; the percent taken)."""
    if submitted is None:
        return "submission time unknown", 0.0
    late, percent = policy.penalty(submitted)
    if late <= 0:
        return "on time", 0.0
    if late <= policy.grace:
        return f"on time (within the grace period, {_duration(late)} after the due date)", 0.0
    return f"late {_duration(late)}, -{percent:g}%", percent


def times_from_csv(path: Path) -> dict[str, tuple[str, str]]:
    """student -> (submission time, where it came from) from a CSV with the columns student and submitted."""
    rows = read_csv(path)
    if rows and not {"student", "submitted"} <= set(rows[0]):
        raise ValueError(f"{path} needs the columns student and submitted ({TIME_EXAMPLE}).")
    return {row["student"].strip().removesuffix(".ipynb"):
            (parse_time(row["submitted"], f"{path}, line {line}").isoformat(timespec="seconds"), f"{path.name}")
            for line, row in enumerate(rows, 2) if (row.get("submitted") or "").strip()}


def times_from_folder(submissions: Path, lesson: str) -> dict[str, tuple[str, str]]:
    """student -> (submission time, where it came from): Gradescope's submission_metadata.json in the student's
    folder when there is one, else the notebook's modification time."""
    from course_tools.grading import find_submissions

    times = {}
    for student, path, _ in find_submissions(submissions, lesson):
        if path is None:
            continue
        parts = path.relative_to(submissions).parts
        metadata = submissions / parts[0] / "submission_metadata.json"
        if len(parts) > 1 and metadata.is_file():
            try:
                created = json.loads(metadata.read_text(encoding="utf-8"))["created_at"]
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{metadata} holds no created_at (Gradescope's submission time).") from None
            times[student] = (parse_time(created, str(metadata)).isoformat(timespec="seconds"),
                              "Gradescope's created_at")
        else:
            modified = datetime.fromtimestamp(path.lstat().st_mtime, timezone.utc).astimezone()
            times[student] = (modified.isoformat(timespec="seconds"), "the file's modification time")
    return times


def record_due(folder: Path, policy_options: dict[str, str], times: dict[str, tuple[str, str]]) -> list[str]:
    """Keep the lesson's due date, late policy (LatePolicy.parse's options) and the graded students' submission
    times in `folder`/due.json; one line per student saying whether they were late and what it costs."""
    from course_tools.gradebook import read_graded

    policy = LatePolicy.parse(**policy_options)
    _, results = read_graded(folder)
    students = sorted(r.student for r in results)
    unknown = sorted(set(times) - set(students))
    if unknown and not set(times) & set(students):
        raise ValueError(f"none of the submission times names a student of {folder} (such as {unknown[0]!r}): "
                         f"the students are {', '.join(students[:5])}{'...' if len(students) > 5 else ''}.")
    document = {**policy_options, "due": policy.due.isoformat(timespec="seconds"),  # with its offset, read alike anywhere
                "submitted": {s: {"at": times[s][0], "from": times[s][1]} for s in students if s in times}}
    write_atomic(folder / "due.json", json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    lines = []
    for student in students:
        at = datetime.fromisoformat(times[student][0]) if student in times else None
        lines.append(f"{student}: {lateness(policy, at)[0]}"
                     f"{f' (submitted {times[student][0]}, {times[student][1]})' if at else ''}")
    return lines + [f"- a submission time for a student not graded here, ignored: {name}" for name in unknown]


def read_due(folder: Path) -> tuple[LatePolicy, dict[str, datetime]] | None:
    """The late policy and submission times `record_due` kept in `folder`, or None when it kept none."""
    path = folder / "due.json"
    if not path.is_file():
        return None
    document = json.loads(path.read_text(encoding="utf-8"))
    submitted = document.pop("submitted")
    return LatePolicy.parse(**document), {s: datetime.fromisoformat(t["at"]) for s, t in submitted.items()}
