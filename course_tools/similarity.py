"""Copied work: how alike the students' answers are, pair by pair, for the instructor (OUT/similarity.md).

Only what a student wrote in an exercise cell counts: each submission cell anchored to a solution cell
with a solution region (as `rebuild` anchors them), less the lines the student copy already had there
(the given code and the stub's own lines). Answers are compared with copydetect (Stanford MOSS's
k-gram fingerprints over Python tokens with names, strings and comments normalised, so renamed
variables still match). Every k-gram is kept (a window of 1), so the scores do not depend on
Python's per-process string hashing. A pair's similarity is the larger of the two shares of answer
tokens that the other answer also holds; `THRESHOLD` flags a pair, calibrated in
tests/test_similarity.py on independently written correct answers.
"""
from __future__ import annotations

import difflib
import io
import re
from dataclasses import dataclass
from itertools import combinations

from course_tools.notebook import BEGIN_SOLUTION, student_source
from course_tools.rebuild import AnswerKey, InvalidSubmission, anchor, pair_gaps, read_submission
from course_tools.report import table_cell

K = 15  # characters of normalised code in a fingerprint (about one short statement)
THRESHOLD = 0.6  # pairs at or above it are flagged: independent correct demo answers reach 0.47, copies 1
SHOWN = 20  # pairs listed in the report


@dataclass
class Pair:
    first: str
    second: str
    similarity: float
    lines: list[tuple[str, str]]  # matching lines side by side


def answers(text: str, key: AnswerKey) -> str:
    """The code a submission added to the lesson's exercise cells ("" when none can be found)."""
    try:
        cells = read_submission(text)
    except InvalidSubmission:
        return ""
    paired = pair_gaps(cells, key, anchor(cells, key))
    written = []
    for index, position in sorted(paired.items()):
        solution = key.cells[position]
        if solution.cell_type != "code" or BEGIN_SOLUTION not in solution.source:
            continue
        given = student_source(solution, key.lesson).split("\n")
        mine = cells[index].cell.source.split("\n")
        matcher = difflib.SequenceMatcher(None, [line.strip() for line in given], [line.strip() for line in mine],
                                          autojunk=False)
        written += [line for tag, _, _, start, end in matcher.get_opcodes() if tag in ("replace", "insert")
                    for line in mine[start:end] if line.strip()]
    return "\n".join(written)


def _normalised(line: str) -> str:
    from copydetect.utils import filter_code

    return filter_code(line, "answer.py", "python")[0]


def _side_by_side(first: str, second: str) -> list[tuple[str, str]]:
    """Lines of the two answers that are the same once names, strings and comments are normalised."""
    a, b = first.split("\n"), second.split("\n")
    matcher = difflib.SequenceMatcher(None, [_normalised(x) for x in a], [_normalised(y) for y in b], autojunk=False)
    return [(a[i + n], b[j + n]) for i, j, size in matcher.get_matching_blocks() for n in range(size)]


def compare(written: dict[str, str]) -> list[Pair]:
    """Every pair of students with an answer, most similar first."""
    codes = {student: code for student, code in sorted(written.items()) if code.strip()}
    if len(codes) < 2:
        return []  # one submission (as on Gradescope): nothing to compare, and copydetect is not needed
    from copydetect import CodeFingerprint, compare_files

    prints = {student: CodeFingerprint("answer.py", K, 1, fp=io.StringIO(code), language="python")
              for student, code in codes.items()}
    prints = {student: fingerprint for student, fingerprint in prints.items() if fingerprint.hashes}
    pairs = []
    for first, second in combinations(prints, 2):
        _, shares, _ = compare_files(prints[first], prints[second])
        pairs.append(Pair(first, second, round(float(max(shares)), 3), []))
    pairs.sort(key=lambda p: (-p.similarity, p.first, p.second))
    for pair in pairs[:SHOWN]:
        pair.lines = _side_by_side(written[pair.first], written[pair.second])
    return pairs


def _fenced(text: str) -> str:
    fence = "`" * max([3, *(len(run) + 1 for run in re.findall("`+", text))])
    return f"{fence}text\n{text}\n{fence}"


def markdown(pairs: list[Pair], lesson: str, students: int) -> str:
    """The similarity report: the most similar pairs, flagged ones with their matching lines side by side."""
    flagged = [p for p in pairs if p.similarity >= THRESHOLD]
    lines = [f"# {lesson}: similar answers", "",
             f"{students} submission(s), {len(pairs)} pair(s) compared over the code written in the exercise cells; "
             f"{len(flagged)} pair(s) at or above the threshold {THRESHOLD:g}. A high similarity is a reason to read "
             "both notebooks, not a finding: short exercises leave little room to differ.", "",
             "| rank | student | student | similarity | flagged |", "|---:|---|---|---:|---|"]
    lines += [f"| {rank} | {table_cell(p.first)} | {table_cell(p.second)} | {p.similarity:.2f} | "
              f"{'yes' if p.similarity >= THRESHOLD else ''} |" for rank, p in enumerate(pairs[:SHOWN], 1)]
    for rank, pair in enumerate(flagged[:SHOWN], 1):
        width = max((len(a) for a, _ in pair.lines), default=0)
        rows = "\n".join(f"{a.ljust(width)}  |  {b}" for a, b in pair.lines)
        lines += ["", f"## {rank}. {table_cell(pair.first)} and {table_cell(pair.second)}: {pair.similarity:.2f}", "",
                  f"Matching lines ({table_cell(pair.first)} left, {table_cell(pair.second)} right):", "",
                  _fenced(rows or "(no whole line in common)")]
    return "\n".join(lines) + "\n"
