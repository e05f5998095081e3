"""Roster, class report, similarity report, regrading one student and the gradebook, on a class of the demo lesson."""
import csv
import json
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, write_lesson
from course_tools import cli, gradebook, grading, notebook
from test_similarity import HONEST, ORIGINAL, RENAMED, answered

pytestmark = [pytest.mark.notebooks, pytest.mark.xdist_group("gradebook")]
TIMEOUT = 60
ROSTER = ("student,id,name,email\n"
          "alice,1001,\"Liddell, Alice\",alice@example.org\n"
          "bob.ipynb,1002,\"Builder, Bob\",bob@example.org\n"
          "copier,1003,\"Copy, Cat\",cat@example.org\n"
          "dora,1004,\"Explorer, Dora\",dora@example.org\n")


def rows(path):
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.reader(handle))


@pytest.fixture(scope="session")  # once per xdist worker
def graded(tmp_path_factory):
    """A class of five (one not on the roster, one on the roster without a submission), graded with a roster;
    then bob, who handed in a wrong cube, fixes it and is regraded alone."""
    root = tmp_path_factory.mktemp("gradebook")
    solutions = root / "solutions"
    student = notebook.make_student(write_lesson(solutions))
    subs = root / "subs"
    subs.mkdir()
    texts = {"alice": answered(student, *ORIGINAL), "copier": answered(student, *RENAMED),
             "bob": answered(student, HONEST["chloe"][0], "return x * x"),
             "zed": nbformat.writes(student), "eve": answered(student, *HONEST["farid"])}
    for name, text in texts.items():
        (subs / f"{name}.ipynb").write_text(text, encoding="utf-8")
    (root / "roster.csv").write_text(ROSTER, encoding="utf-8")
    out, printed = root / "graded", []
    first = grading.grade("00", subs, out, workers=2, timeout=TIMEOUT, solutions=solutions,
                          roster=root / "roster.csv", progress=printed.append)
    gradebook.record_override(out, "eve", "square-check", 1, "Ann", "half the marks: see the forum", solutions)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    (subs / "bob.ipynb").write_text(answered(student, *HONEST["chloe"]), encoding="utf-8")
    regraded = grading.grade("00", subs, out, workers=1, timeout=TIMEOUT, solutions=solutions, only="bob",
                             progress=printed.append)
    return root, out, {r.student: r for r in first}, {r.student: r for r in regraded}, before, printed


def test_the_roster_names_each_student_and_who_is_missing(graded):
    root, out, first, _, before, printed = graded
    got = list(csv.reader(before[Path("grades.csv")].decode().splitlines()))
    assert got[0][:6] == ["student", "id", "name", "email", "status", "score"]
    assert got[1][:6] == ["alice", "1001", "Liddell, Alice", "alice@example.org", "ok", "5"]
    assert got[2][:6] == ["bob", "1002", "Builder, Bob", "bob@example.org", "ok", "2"]
    assert [r[:2] for r in got[4:]] == [["eve", ""], ["zed", ""]]
    assert "roster: submission not on the roster: eve" in printed and "roster: submission not on the roster: zed" in printed
    assert any(line.startswith("roster: no submission from Explorer, Dora (id 1004") for line in printed)
    report = (out / "report.md").read_text()
    assert "- submission not on the roster: eve" in report and "- no submission from Explorer, Dora" in report
    assert rows(out / "roster.csv")[1] == ["alice", "1001", "Liddell, Alice", "alice@example.org", ""]


def test_regrading_one_student_changes_only_their_row(graded):
    root, out, first, regraded, before, printed = graded
    assert first["bob"].score == 2 and regraded["bob"].score == 5 and len(regraded) == 5
    old, new = before[Path("grades.csv")].decode().splitlines(), (out / "grades.csv").read_text().splitlines()
    assert [i for i, (a, b) in enumerate(zip(old, new)) if a != b] == [2] and len(old) == len(new)
    assert new[2].startswith("bob,1002,") and ",ok,5,5," in new[2]
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    changed = {str(p) for p in after if after[p] != before.get(p)}
    assert changed - {"grades.csv", "results.json", "batch.json", "report.md", "similarity.md"} <= {
        "feedback/bob.md", "executed/bob.ipynb", "figures/scores.png", "figures/pass_rate.png", "figures/statuses.png"}
    assert "feedback/bob.md" in changed and set(before) == set(after)
    batch = json.loads((out / "batch.json").read_text())
    assert batch["regraded"] == ["bob"] and "mean score 3.80 / 5" in batch["summary"] and batch["summary"] in printed
    assert any("mean score 3.40 / 5" in line for line in printed)  # the first batch
    assert "mean score 3.80 / 5" in (out / "report.md").read_text()  # eve's points set by hand, bob's regrade


def test_points_set_by_hand_outlive_a_regrade(graded):
    root, out, first, regraded, before, printed = graded
    assert first["eve"].score == 5 and regraded["eve"].score == 5  # the grader's own points, as in results.json
    eve = next(row for row in csv.reader((out / "grades.csv").read_text().splitlines()) if row[0] == "eve")
    assert eve[4:8] == ["ok", "4", "5", "1"]
    assert "Ann" in (out / "feedback" / "eve.md").read_text()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no copy left beside OUT


def test_the_class_report_and_its_figures(graded):
    _, out, _, _, _, _ = graded
    report = (out / "report.md").read_text()
    for figure in ("scores", "pass_rate", "statuses"):
        assert f"(figures/{figure}.png)" in report
        assert (out / "figures" / f"{figure}.png").read_bytes()[:4] == b"\x89PNG"
    assert ("| `square-check` | 2 | 4 / 5 | 80% | not attempted: the exercise before this test still raises "
            "NotImplementedError; replace it with your code (1) |") in report
    assert "| `cube-check` | 3 | 4 / 5 | 80% |" in report  # after bob's regrade
    assert "| error | 1 |" in report and "| ok | 4 |" in report
    assert "raised NotImplementedError (1)" in report
    assert "## Slowest submissions" in report


def test_copied_work_ranks_first(graded):
    _, out, _, _, _, _ = graded
    similar = (out / "similarity.md").read_text()
    assert "| 1 | alice | copier |" in similar and "1 pair(s) at or above the threshold" in similar


def test_gradebook_joins_lessons_for_canvas_and_as_a_plain_table(graded, tmp_path):
    _, out, _, _, _, _ = graded
    other = tmp_path / "other"  # a second lesson's batch: the same class, without a roster
    shutil.copytree(out, other)
    batch = json.loads((other / "batch.json").read_text())
    (other / "batch.json").write_text(json.dumps({**batch, "lesson": "00_other"}))
    (other / "roster.csv").unlink()
    (other / "grades.csv").write_text("student,status,score,max_score,a\nalice,ok,1,4,1\nzed,error,0,4,0\n")
    (other / "results.json").write_text(json.dumps([{"student": "alice", "status": "ok", "tests": {"a": 1}},
                                                    {"student": "zed", "status": "error", "tests": {"a": 0}}]))
    assert cli.main(["gradebook", str(out), str(other), "--out", str(tmp_path / "book")]) == 0
    canvas = rows(tmp_path / "book" / "canvas.csv")
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "00_demo", "00_other"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "5", "4"]
    by_name = {row[0]: row for row in canvas[2:]}
    assert by_name["Liddell, Alice"] == ["Liddell, Alice", "", "1001", "", "", "5", ""]
    assert by_name["Explorer, Dora"][5:] == ["", ""] and by_name["zed"][5:] == ["0", "0"]
    plain = rows(tmp_path / "book" / "gradebook.csv")
    assert plain[0] == ["student", "id", "name", "email", "00_demo", "00_demo status", "00_other", "00_other status",
                        "total", "notes"]
    assert ["alice", "", "", "", "", "", "1", "ok", "1", ""] in plain  # no id in the second lesson: its own row
    assert ["dora", "1004", "Explorer, Dora", "dora@example.org", "", "missing", "", "", "0", ""] in plain
    assert ["zed", "", "", "", "0", "error", "0", "error", "0", ""] in plain
    with pytest.raises(ValueError, match="given twice"):
        gradebook.write_gradebook([out, out], tmp_path / "again")


def test_regrade_refuses_a_folder_graded_with_another_key(graded, tmp_path, capsys):
    root, out, _, _, _, _ = graded
    solutions = tmp_path / "solutions"
    solution = write_lesson(solutions)
    solution.write_text(solution.read_text().replace("square(3) should be 9", "square(3) must be 9"))
    with pytest.raises(ValueError, match="another answer key"):
        grading.grade("00", root / "subs", out, solutions=solutions, only="bob", progress=lambda *_: None)
    with pytest.raises(ValueError, match="no submission named 'nobody'"):
        grading.grade("00", root / "subs", out, solutions=root / "solutions", only="nobody", progress=lambda *_: None)


def test_make_gradebook_calls_the_cli():
    made = subprocess.run(["make", "-n", "gradebook", "GRADED=a b", "OUT=book"], cwd=ROOT, capture_output=True,
                          text=True, check=True).stdout
    assert "-m course_tools gradebook a b --out \"book\"" in made
