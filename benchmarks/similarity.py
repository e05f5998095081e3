"""The similarity check (course_tools/similarity.py) measured: false alarms and missed copies at the threshold
similarity.md uses, on student notebooks of lessons 01 and 05.

Two classes per lesson, every submission a notebook made from the lesson's student copy:
- trial: eight submissions as an instructor's first class brings: the key's solution regions (`solved`), an own
  solution, two half solved (one exercise each), one untouched, one unfinished, a copy of `solved` with its
  variables renamed and a comment added (`renamed`, the one copy), and one saved as Colab saves notebooks;
- synthetic: 22 independently written answers per exercise (benchmarks/similarity_answers/, written by hand in
  different plausible ways; two students answered one exercise only), one untouched notebook, and 3 copies of
  other students' whole notebooks made with renames, reordering and added comments.
A pair is a copy when one notebook was made from the other; every other pair is honest.

Run: .venv/bin/python benchmarks/similarity.py   (writes build/benchmarks/similarity.json, prints a table)
"""
from __future__ import annotations

import ast
import copy
import json
import random
import re
import string
import sys
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_tools import notebook, rebuild, similarity  # noqa: E402
from course_tools.notebook import BEGIN_SOLUTION, END_SOLUTION, STUB_CODE, region_lines  # noqa: E402

ANSWERS = Path(__file__).with_name("similarity_answers")
LESSONS = ("01_rnn_basics", "05_disaster_tweets")
OUT = ROOT / "build" / "benchmarks" / "similarity.json"
HEADER = "# === "


def read_answers(exercise: str) -> tuple[list[str], dict[int, str]]:
    """The independent answers to an exercise in student order, and the copies by the student they copy."""
    own, copies, current = [], {}, None
    for line in (ANSWERS / f"{exercise}.txt").read_text(encoding="utf-8").split("\n"):
        if line.startswith(HEADER):
            current, copied = [], re.match(r"copy of (\d+):", line[len(HEADER):])
            if copied:
                copies[int(copied.group(1))] = current
            else:
                own.append(current)
        elif current is not None:
            current.append(line)
    return ["\n".join(a).strip("\n") for a in own], {n: "\n".join(a).strip("\n") for n, a in copies.items()}


def filled(given: str, body: str) -> str:
    """An exercise cell as handed out, its stub replaced by `body` at the stub's indent."""
    lines = given.split("\n")
    at = next(i for i, line in enumerate(lines) if line.strip() == STUB_CODE[0])
    indent = lines[at][:len(lines[at]) - len(lines[at].lstrip())]
    return "\n".join(lines[:at] + [indent + line if line.strip() else "" for line in body.split("\n")]
                     + lines[at + len(STUB_CODE):])


def submission(student_nb, bodies: dict[str, str]) -> str:
    """The student copy with the exercises in `bodies` (by cell id) answered, as a file's text."""
    nb = copy.deepcopy(student_nb)
    for cell in nb.cells:
        if cell.id in bodies:
            cell.source = filled(cell.source, bodies[cell.id])
    return nbformat.writes(nb)


def colab_saved(text: str, seed: int = 0) -> str:
    """A notebook as Colab saves it: nbformat 4.0 without cell ids, Colab's own random `metadata.id` on every cell,
    `metadata.colab` on code cells and the notebook."""
    rng = random.Random(seed)
    raw = json.loads(text)
    raw["nbformat_minor"] = 0
    raw["metadata"]["colab"] = {"provenance": []}
    for cell in raw["cells"]:
        cell.pop("id", None)
        cell["metadata"]["id"] = "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(12))
        if cell["cell_type"] == "code":
            cell["metadata"]["colab"] = {"base_uri": "https://localhost:8080/"}
    return json.dumps(raw, indent=1)


def key_answers(key) -> dict[str, str]:
    """The key's solution regions, by exercise cell id, as function bodies."""
    bodies = {}
    for cell in key.cells:
        if cell.cell_type == "code" and BEGIN_SOLUTION in cell.source:
            lines = cell.source.split("\n")
            inside = [lines[n - 1] for n in region_lines(cell.source, ((BEGIN_SOLUTION, END_SOLUTION),))]
            indent = min(len(line) - len(line.lstrip()) for line in inside if line.strip())
            bodies[cell.id] = "\n".join(line[indent:] for line in inside)
    return bodies


def renamed(body: str) -> str:
    """A body with every name it assigns renamed (as find and replace would) and a comment on top."""
    for name in {n.id for n in ast.walk(ast.parse(body)) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}:
        body = re.sub(rf"(?<![\w.]){name}(?!\w)", f"my_{name}", body)
    return "# my solution\n" + body


def trial_class(key, student_nb, own: dict[str, list[str]]) -> tuple[dict[str, str], set[frozenset]]:
    exercises = list(own)
    solved = key_answers(key)
    unfinished = {e: "\n".join(own[e][4].split("\n")[:max(1, own[e][4].count("\n") // 2)]) for e in exercises}
    texts = {"solved": submission(student_nb, solved),
             "solved_own": submission(student_nb, {e: own[e][0] for e in exercises}),
             "half_first": submission(student_nb, {exercises[0]: own[exercises[0]][1]}),
             "half_last": submission(student_nb, {exercises[-1]: own[exercises[-1]][2]}),
             "untouched": submission(student_nb, {}),
             "unfinished": submission(student_nb, unfinished),
             "renamed": submission(student_nb, {e: renamed(body) for e, body in solved.items()}),
             "colab": colab_saved(submission(student_nb, {e: own[e][5] for e in exercises}))}
    return texts, {frozenset(("solved", "renamed"))}


def synthetic_class(student_nb, own: dict[str, list[str]], copies: dict[str, dict[int, str]]):
    exercises = list(own)
    students = min(len(answers) for answers in own.values())
    texts = {}
    for n in range(students):
        answered = exercises[:1] if n == students - 2 else exercises[-1:] if n == students - 1 else exercises
        texts[f"s{n:02d}"] = submission(student_nb, {e: own[e][n] for e in answered})
    texts["untouched"] = submission(student_nb, {})
    for source in copies[exercises[0]]:
        texts[f"copy_of_s{source:02d}"] = submission(student_nb, {e: copies[e][source] for e in exercises})
    return texts, {frozenset((f"copy_of_s{source:02d}", f"s{source:02d}")) for source in copies[exercises[0]]}


def classes() -> dict[str, tuple[str, dict[str, str], set[frozenset]]]:
    """Class name -> (lesson, submissions by student, the pairs that are copies)."""
    built = {}
    for lesson in LESSONS:
        solution = ROOT / "solutions" / f"{lesson}.ipynb"
        key, student_nb = rebuild.load_key(solution), notebook.make_student(solution)
        exercises = [cell.id for cell in key.cells if cell.cell_type == "code" and BEGIN_SOLUTION in cell.source]
        read = {e: read_answers(e) for e in exercises}
        own, copies = {e: read[e][0] for e in exercises}, {e: read[e][1] for e in exercises}
        built[f"{lesson[:2]} trial"] = (lesson, *trial_class(key, student_nb, own))
        built[f"{lesson[:2]} synthetic"] = (lesson, *synthetic_class(student_nb, own, copies))
    return built


def measure(lesson: str, texts: dict[str, str], copied: set[frozenset]) -> dict:
    """False alarms and misses at similarity.THRESHOLD for one class."""
    key = rebuild.load_key(ROOT / "solutions" / f"{lesson}.ipynb")
    start = time.perf_counter()
    written = {student: similarity.answers(text, key) for student, text in texts.items()}
    pairs = similarity.compare(written).pairs
    seconds = time.perf_counter() - start
    scores = {frozenset((p.first, p.second)): p.similarity for p in pairs}
    honest = sorted(((s, sorted(p)) for p, s in scores.items() if p not in copied), reverse=True)
    copies = sorted((scores.get(p, 0.0), sorted(p)) for p in copied)
    return {
        "lesson": lesson, "submissions": len(texts), "with_answers": sum(bool(w) for w in written.values()),
        "pairs": len(pairs), "copies": len(copied), "threshold": similarity.THRESHOLD,
        "false_alarms": [{"pair": p, "similarity": s} for s, p in honest if s >= similarity.THRESHOLD],
        "misses": [{"pair": p, "similarity": s} for s, p in copies if s < similarity.THRESHOLD],
        "highest_honest": {"pair": honest[0][1], "similarity": honest[0][0]} if honest else None,
        "copy_scores": [{"pair": p, "similarity": s} for s, p in copies],
        "seconds": round(seconds, 2)}


def main() -> None:
    results = {name: measure(*built) for name, built in classes().items()}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"threshold {similarity.THRESHOLD:g}")
    print(f"{'class':<14} {'subs':>4} {'read':>4} {'pairs':>5} {'copies':>6} {'false alarms':>12} {'misses':>6} "
          f"{'top honest':>10} {'lowest copy':>11} {'s':>5}")
    for name, r in results.items():
        print(f"{name:<14} {r['submissions']:>4} {r['with_answers']:>4} {r['pairs']:>5} {r['copies']:>6} "
              f"{len(r['false_alarms']):>12} {len(r['misses']):>6} {r['highest_honest']['similarity']:>10.3f} "
              f"{min(c['similarity'] for c in r['copy_scores']):>11.3f} {r['seconds']:>5.1f}")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
