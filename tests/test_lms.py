"""Points set by hand, due dates and late penalties, Canvas's bulk download, the gradebook's columns and encodings,
and `autograder simulate`: on graded folders written here without running a kernel."""
import csv
import json
import os
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import write_lesson
from course_tools import cli, gradebook, grading, lms
from course_tools.rebuild import load_key
from course_tools.scoring import Result

ROSTER = ("student,id,name,email,canvas_id\n"
          "alice,1001,\"Liddell, Alice\",alice@example.org,501\n"
          "bob,1002,\"Schäfer, Bob\",bob@example.org,502\n"
          "dora,1004,\"Explorer, Dora\",dora@example.org,504\n")
DUE = datetime(2026, 12, 1, 23, 59, tzinfo=timezone.utc)


def rows(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))


@pytest.fixture
def graded(tmp_path):
    """A graded folder of the demo lesson as `grade --roster` writes it: alice solved both checks, bob only the
    square, eve (not on the roster) neither; dora handed nothing in. Returns (folder, solutions, key)."""
    solutions = tmp_path / "solutions"
    key = load_key(write_lesson(solutions))
    points = {t.grade_id: t.points for t in key.tests}
    results = [Result("alice", "ok", dict(points), {g: "" for g in points}),
               Result("bob", "ok", {"square-check": 2.0, "cube-check": 0.0}, {"square-check": "", "cube-check": "cube is wrong"}),
               Result("eve", "error", {g: 0.0 for g in points}, {g: "not run" for g in points}, "cell 3 raised NameError")]
    folder = tmp_path / "graded"
    (folder / "feedback").mkdir(parents=True)
    roster_path = tmp_path / "roster.csv"
    roster_path.write_text(ROSTER, encoding="utf-8")
    roster = gradebook.read_roster(roster_path)
    names = grading.file_names([r.student for r in results])
    grading.write_results(folder, results, {}, names, key, roster)
    gradebook.write_roster(folder / "roster.csv", roster)
    (folder / "results.json").write_text(json.dumps([r.__dict__ for r in results]), encoding="utf-8")
    (folder / "batch.json").write_text(json.dumps({"lesson": key.lesson, "answer_key_sha256": key.digest}))
    return folder, solutions, key


def test_points_set_by_hand_are_recorded_checked_and_shown(graded):
    folder, solutions, key = graded
    assert dict((t.grade_id, t.points) for t in key.tests) == {"square-check": 2.0, "cube-check": 3.0}
    at = datetime(2026, 12, 5, 9, 30, tzinfo=timezone.utc)
    line = gradebook.record_override(folder, "bob", "cube-check", 1.5, "Ann Teacher", "partial credit", solutions, at)
    assert line.startswith("bob: cube-check 0 -> 1.5 (score 3.5 / 5), set by Ann Teacher at 2026-12-05T09:30:00+00:00")
    assert rows(folder / "overrides.csv") == [list(gradebook.OVERRIDE_COLUMNS), [
        "bob", "cube-check", "1.5", "Ann Teacher", "2026-12-05T09:30:00+00:00", "partial credit"]]
    grades = {row[0]: row for row in rows(folder / "grades.csv")}
    assert grades["bob"][4:] == ["ok", "3.5", "5", "2", "1.5"] and grades["alice"][4:6] == ["ok", "5"]
    feedback = (folder / "feedback" / "bob.md").read_text()
    assert "**Score: 3.5 / 5**" in feedback
    assert "`cube-check`: 1.5 point(s) set by hand by Ann Teacher on 2026-12-05T09:30:00+00:00 (partial credit)." in feedback
    # a second override of the same check replaces the first; both stay on record
    gradebook.record_override(folder, "bob", "cube-check", 3, "Ben Assistant", "", solutions, at + timedelta(hours=1))
    assert len(rows(folder / "overrides.csv")) == 3
    [shown] = gradebook.apply_overrides([Result("bob", "ok", {"square-check": 2.0, "cube-check": 0.0})],
                                        gradebook.read_overrides(folder))
    assert shown.tests == {"square-check": 2.0, "cube-check": 3.0} and shown.score == 5
    for student, check, points, message in [("nobody", "cube-check", 1, "has no student 'nobody'; its students: alice, bob, eve"),
                                            ("bob", "cube", 1, "has no check 'cube'; its checks: square-check, cube-check"),
                                            ("bob", "cube-check", 3.5, "worth 3 point.* from 0 to 3 \\(got 3.5\\)"),
                                            ("bob", "cube-check", -1, "from 0 to 3 \\(got -1\\)"),
                                            ("bob", "cube-check", float("nan"), "from 0 to 3")]:
        with pytest.raises(ValueError, match=message):
            gradebook.record_override(folder, student, check, points, "Ann", "", solutions)
    with pytest.raises(ValueError, match="--by must name who"):
        gradebook.record_override(folder, "bob", "cube-check", 1, "  ", "", solutions)
    assert len(rows(folder / "overrides.csv")) == 3, "a refused override records nothing"


def test_an_override_is_refused_when_the_key_changed_since_grading(graded):
    folder, solutions, _ = graded
    solution = solutions / "00_demo.ipynb"
    solution.write_text(solution.read_text().replace("square(3) should be 9", "square(3) must be 9"))
    with pytest.raises(ValueError, match="graded with another answer key"):
        gradebook.record_override(folder, "bob", "cube-check", 1, "Ann", "", solutions)
    assert not (folder / "overrides.csv").exists()


def test_late_policy_counts_each_day_begun_up_to_the_cap_after_the_grace_period():
    policy = lms.LatePolicy.parse("2026-12-01T23:59+00:00", "10%/day", "25%", "15min")
    assert lms.lateness(policy, DUE - timedelta(hours=3)) == ("on time", 0.0)
    assert lms.lateness(policy, DUE + timedelta(minutes=10))[1] == 0.0
    assert lms.lateness(policy, DUE + timedelta(minutes=16)) == ("late 16 min, -10%", 10.0)
    assert lms.lateness(policy, DUE + timedelta(days=1, hours=2)) == ("late 1 d 2 h, -20%", 20.0)
    assert lms.lateness(policy, DUE + timedelta(days=9)) == ("late 9 d, -25%", 25.0)
    assert lms.lateness(policy, None) == ("submission time unknown", 0.0)
    hourly = lms.LatePolicy.parse("2026-12-01T23:59+00:00", "2%/hour")
    assert hourly.penalty(DUE + timedelta(hours=2, minutes=1))[1] == 6.0
    local = lms.LatePolicy.parse("2026-12-01T23:59")
    assert local.due.utcoffset() is not None, "a time without an offset is this machine's local time"
    for options, message in [({"late_penalty": "10"}, "--late-penalty must look like 10%/day"),
                             ({"late_cap": "150%"}, "at most 100%"), ({"grace": "soon"}, "--grace must look like"),
                             ({"due": "1 December"}, "--due: '1 December' is not a date and time")]:
        with pytest.raises(ValueError, match=message):
            lms.LatePolicy.parse(**{"due": "2026-12-01T23:59", **options})


def test_submission_times_from_gradescope_metadata_file_times_and_a_csv(tmp_path):
    subs = tmp_path / "subs"
    (subs / "alice").mkdir(parents=True)
    (subs / "alice" / "00_demo.ipynb").write_text("{}")
    (subs / "alice" / "submission_metadata.json").write_text(json.dumps({"created_at": "2026-12-02T10:00:00.5-08:00"}))
    (subs / "bob.ipynb").write_text("{}")
    stamp = DUE.timestamp() - 60
    os.utime(subs / "bob.ipynb", (stamp, stamp))
    times = lms.times_from_folder(subs, "00_demo")
    assert datetime.fromisoformat(times["alice"][0]) == datetime(2026, 12, 2, 18, 0, 0, tzinfo=timezone.utc)
    assert times["alice"][1] == "Gradescope's created_at"
    assert datetime.fromisoformat(times["bob"][0]) == DUE - timedelta(minutes=1)
    assert times["bob"][1] == "the file's modification time"
    table = tmp_path / "times.csv"
    table.write_text("\ufeffstudent,id,submitted\nalice.ipynb,1001,2026-12-02T01:00+01:00\nbob,1002,\n", encoding="utf-8")
    assert lms.times_from_csv(table) == {"alice": ("2026-12-02T01:00:00+01:00", "times.csv")}
    table.write_text("student,submitted\nalice,yesterday\n", encoding="utf-8")
    with pytest.raises(ValueError, match="times.csv, line 2: 'yesterday' is not a date and time"):
        lms.times_from_csv(table)


def test_gradebook_shows_status_overrides_and_late_penalties_and_excel_reads_it(graded, tmp_path, capsys):
    folder, solutions, _ = graded
    gradebook.record_override(folder, "bob", "cube-check", 1, "Ann Teacher", "regrade request", solutions,
                              datetime(2026, 12, 5, tzinfo=timezone.utc))
    times = tmp_path / "times.csv"
    times.write_text("student,submitted\nalice,2026-12-01T20:00+00:00\nbob,2026-12-03T08:00+00:00\n"
                     "someone,2026-12-01T20:00+00:00\n", encoding="utf-8")
    assert cli.main(["due", str(folder), "--due", "2026-12-01T23:59+00:00", "--late-penalty", "10%/day",
                     "--late-cap", "50%", "--times", str(times)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:3] == ["alice: on time (submitted 2026-12-01T20:00:00+00:00, times.csv)",
                           "bob: late 1 d 8 h 1 min, -20% (submitted 2026-12-03T08:00:00+00:00, times.csv)",
                           "eve: submission time unknown"]
    assert "- a submission time for a student not graded here, ignored: someone" in printed
    book = tmp_path / "book"
    assert cli.main(["gradebook", str(folder), "--out", str(book), "--canvas-column", "00_demo=Demo (4711)"]) == 0
    assert (book / "gradebook.csv").read_bytes().startswith(b"\xef\xbb\xbf"), "Excel reads it as UTF-8"
    assert "Schäfer".encode() in (book / "gradebook.csv").read_bytes()
    plain = rows(book / "gradebook.csv")
    assert plain[0] == ["student", "id", "name", "email", "00_demo", "00_demo status", "total", "notes"]
    by_student = {row[0]: row for row in plain[1:]}
    assert by_student["alice"][4:7] == ["5", "ok; on time", "5"]
    # bob: 2 + 1 set by hand = 3, less 20% of 5 points = 2
    assert by_student["bob"][4:7] == ["2", "ok; points set by hand; late 1 d 8 h 1 min, -20%", "2"]
    assert by_student["bob"][7] == ("00_demo: cube-check 1 point(s) by Ann Teacher at 2026-12-05T00:00:00+00:00 "
                                    "(regrade request); 00_demo: submitted 2026-12-03T08:00:00+00:00, due "
                                    "2026-12-01T23:59:00+00:00: -20% of 5 points")
    assert by_student["eve"][1] == "" and by_student["eve"][4:6] == ["0", "error; submission time unknown"]
    assert by_student["dora"][4:7] == ["", "missing", "0"]
    canvas = (book / "canvas.csv").read_bytes()
    assert not canvas.startswith(b"\xef\xbb\xbf"), "Canvas's import reads plain UTF-8"
    canvas = rows(book / "canvas.csv")
    assert canvas[0][5:] == ["Demo (4711)"] and canvas[1][5:] == ["5"]
    assert ["Schäfer, Bob", "", "1002", "", "", "2"] in canvas
    assert cli.main(["gradebook", str(folder), "--out", str(book), "--canvas-column", "01=Lesson 1"]) == 2
    assert "--canvas-column names 01, not a lesson given here (00_demo)" in capsys.readouterr().err


def test_a_regrade_keeps_the_overrides_and_the_due_record(graded, tmp_path):
    """`grade --only` copies OUT before writing the student's row again: overrides.csv and due.json come along, and
    the gradebook applies them to the new results."""
    folder, solutions, _ = graded
    gradebook.record_override(folder, "alice", "square-check", 1, "Ann", "", solutions)
    regraded = json.loads((folder / "results.json").read_text())
    regraded[1]["tests"]["cube-check"] = 3.0  # bob's regrade now passes the cube
    (folder / "results.json").write_text(json.dumps(regraded))
    _, _, joined = gradebook.join([folder])
    scores = {row["student"]: row["00_demo"] for row in joined}
    assert scores == {"alice": "4", "bob": "5", "eve": "0", "dora": ""}


def test_canvas_bulk_download_is_mapped_to_the_roster(tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    download = tmp_path / "submissions.zip"
    stamp = (2026, 12, 1, 22, 15, 0)
    with zipfile.ZipFile(download, "w") as archive:
        for name in ("liddellalice_501_9001_00_demo.ipynb", "schaferbob_LATE_502_9002_00_demo-1.ipynb",
                     "schaferbob_LATE_502_9003_notes.txt", "strangerzed_599_9004_00_demo.ipynb", "readme.txt"):
            archive.writestr(zipfile.ZipInfo(name, stamp), name)
    out = tmp_path / "subs"
    assert cli.main(["collect", str(download), str(out), "--roster", str(roster)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == f"collected 3 file(s) of 2 student(s) into {out}"
    assert set(printed[1:]) == {"- not a Canvas download name, left out: readme.txt",
                                "- Canvas user 599 is not on the roster, left out: strangerzed_599_9004_00_demo.ipynb",
                                "- no file from Explorer, Dora (canvas_id 504)", "- late by Canvas's due date: bob"}
    assert (out / "alice" / "00_demo.ipynb").read_text() == "liddellalice_501_9001_00_demo.ipynb"
    assert sorted(p.name for p in (out / "bob").iterdir()) == ["00_demo-1.ipynb", "notes.txt"]
    assert datetime.fromtimestamp((out / "alice" / "00_demo.ipynb").stat().st_mtime).timetuple()[:6] == stamp
    assert [s for s, _, _ in grading.find_submissions(out, "00_demo")] == ["alice", "bob"]
    assert cli.main(["collect", str(download), str(out), "--roster", str(roster)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    bare = tmp_path / "bare.csv"
    bare.write_text("student,id\nalice,1001\n", encoding="utf-8")
    with pytest.raises(ValueError, match="gives no student a canvas_id"):
        lms.collect(download, bare, tmp_path / "other")


def test_roster_with_a_byte_order_mark_and_canvas_ids_round_trips(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text("\ufeff" + ROSTER, encoding="utf-8")
    roster = gradebook.read_roster(path)
    assert roster["bob"] == {"student": "bob", "id": "1002", "name": "Schäfer, Bob", "email": "bob@example.org",
                             "canvas_id": "502"}
    gradebook.write_roster(tmp_path / "copy.csv", roster)
    assert gradebook.read_roster(tmp_path / "copy.csv") == roster
    path.write_text(ROSTER + "zed,1005,Zed,,502\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 5: zed / 1005 / 502 appears twice"):
        gradebook.read_roster(path)


def test_autograder_simulate_lays_out_gradescope_root(tmp_path, capsys):
    zip_path = tmp_path / "00_demo-autograder.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:  # the scripts' shape; what they run is tested in test_autograder
        archive.writestr("run_autograder", "#!/usr/bin/env bash\necho graded\n")
        archive.writestr("install_data.sh", 'mkdir -p "$AUTOGRADER_ROOT/data"\n')
    root = tmp_path / "autograder"
    assert cli.main(["autograder", "simulate", str(zip_path), str(root)]) == 0
    printed = capsys.readouterr().out
    assert f"AUTOGRADER_ROOT={root}" in printed and f"{root}/run_autograder" in printed
    assert {p.name for p in root.iterdir()} == {"source", "run_autograder", "venv", "data", "submission", "results"}
    assert os.access(root / "run_autograder", os.X_OK) and (root / "venv" / "bin").is_dir()
    assert cli.main(["autograder", "simulate", str(zip_path), str(root)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert cli.main(["autograder", "simulate", str(tmp_path / "none.zip"), str(tmp_path / "r")]) == 2
