"""Copied work: how alike the students' answers are, pair by pair, for the instructor (OUT/similarity.md).

What counts: per exercise (each solution cell with a solution region, found in a submission as `rebuild`
anchors cells), the lines a student added to the cell as handed out. An exercise still the stub is
unanswered, and a pair is compared only on the exercises both of them answered.

Code is compared as Python tokens (`tokenize`): comments dropped; strings and numbers kept as their values,
so two different regular expressions differ; the names a cell binds (its variables, parameters, functions)
renamed by first occurrence within each run of K tokens, so renamed variables still match, and so do
statements moved around; other names (modules, attributes, builtins, the lesson's globals) kept as written.

Matching code counts by how rare it is in the class: a run of K tokens that both students wrote weighs
log2(n / (m + 1)) bits, n the students who answered the exercise and m how many others wrote that run too,
so an idiom most of the class wrote weighs almost nothing; runs of the cell as handed out weigh nothing.
A pair's similarity is the weight of the runs both wrote over the mean weight of their two answers plus
EVIDENCE bits, summed over the exercises both answered: near 1 only when much code is alike that the rest
of the class did not write. Calibrated with benchmarks/similarity.py (lessons 01 and 05).

A crafted submission cannot hold the batch up: an exercise cell is read up to MAX_ANSWER_CHARS characters
(so each pair is a bounded amount of work), the class phase stops comparing at CLASS_SECONDS, and the report
says what was cut or skipped. Every string from a submission is escaped.
"""
from __future__ import annotations

import ast
import builtins
import difflib
import io
import keyword
import math
import re
import time
import tokenize
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from itertools import combinations

from course_tools import untrusted
from course_tools.notebook import BEGIN_SOLUTION, student_source
from course_tools.rebuild import AnswerKey, InvalidSubmission, anchor, pair_gaps, read_submission

K = 6  # tokens in a run (about half a statement)
EVIDENCE = 32.0  # bits of rare matching code a pair needs before its similarity can approach 1
THRESHOLD = 0.5  # pairs at or above it are flagged (benchmarks/similarity.py: 0 false alarms, no copy missed)
SHOWN = 20  # pairs listed in the report
MAX_ANSWER_CHARS = 20_000  # of an exercise cell's source
MAX_LINE_CHARS = 120  # of a line shown in the report
MAX_SHOWN_LINES = 60  # matching lines shown per pair
CLASS_SECONDS = 60.0  # for comparing a whole class


@dataclass(frozen=True)
class Answer:
    """What a student wrote in one exercise cell."""
    source: str  # the cell as the student left it (its first MAX_ANSWER_CHARS characters)
    written: frozenset[int]  # lines (from 0) of `source` that the cell as handed out did not have
    given: str  # the cell as handed out
    cut: bool = False  # the cell was longer than MAX_ANSWER_CHARS


@dataclass
class Pair:
    first: str
    second: str
    similarity: float
    exercises: int  # exercises both answered
    lines: list[tuple[str, str]] = field(default_factory=list)  # matching lines side by side


@dataclass
class Comparison:
    pairs: list[Pair]  # most similar first
    cut: list[str] = field(default_factory=list)  # students whose answers were cut to the size budget
    not_read: list[str] = field(default_factory=list)  # students left out when the time budget ran out
    not_compared: int = 0  # pairs left out when the time budget ran out
    seconds: float = CLASS_SECONDS  # the time budget


def answers(text: str, key: AnswerKey) -> dict[str, Answer]:
    """A submission's answered exercises, by the id of the exercise's cell in the key ({} when none is found)."""
    try:
        cells = read_submission(text)
    except InvalidSubmission:
        return {}
    found = {}
    for index, position in sorted(pair_gaps(cells, key, anchor(cells, key)).items()):
        solution = key.cells[position]
        if solution.cell_type != "code" or BEGIN_SOLUTION not in solution.source:
            continue
        given, source = student_source(solution, key.lesson), cells[index].cell.source
        mine = source[:MAX_ANSWER_CHARS].split("\n")
        matcher = difflib.SequenceMatcher(None, [line.strip() for line in given.split("\n")],
                                          [line.strip() for line in mine], autojunk=False)
        written = frozenset(n for tag, _, _, start, end in matcher.get_opcodes() if tag in ("replace", "insert")
                            for n in range(start, end) if mine[n].strip())
        if written:
            found[solution.id] = Answer("\n".join(mine), written, given, len(source) > MAX_ANSWER_CHARS)
    return found


def _bound_names(source: str) -> set[str] | None:
    """The names a cell's code binds (assigned, parameters, loop variables, its functions); None if it won't parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _literal(kind: str, text: str):
    try:
        return kind, repr(ast.literal_eval(text))
    except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError):
        return kind, text  # an f-string: as written


CRUDE_TOKEN = re.compile(r"[A-Za-z_]\w*|\d[\w.]*|'[^']*'|\"[^\"]*\"|\S")


def _tokens(source: str, lines: frozenset[int] | None = None) -> list[tuple[int, object]]:
    """(line, token) for the code on `lines` (every line when None): names the source binds
    become ("name", name), strings and numbers (kind, value), other tokens their text; comments left out."""
    bound = _bound_names(source)
    out, previous, done = [], None, 0
    wanted = (lambda row: True) if lines is None else (lambda row: row in lines)

    def add(row, kind, text):
        nonlocal previous
        if kind == tokenize.NAME and not keyword.iskeyword(text) and previous != "." and (
                text in bound if bound is not None else not hasattr(builtins, text)):
            value = ("name", text)
        elif kind == tokenize.STRING:
            value = _literal("str", text)
        elif kind == tokenize.NUMBER:
            value = _literal("num", text)
        else:
            value = text
        previous = text
        if wanted(row):
            out.append((row, value))

    structure = {tokenize.NEWLINE: "NEWLINE", tokenize.INDENT: "INDENT", tokenize.DEDENT: "DEDENT"}
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            done = token.start[0] - 1
            if token.type in structure:
                add(done, token.type, structure[token.type])
            elif token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER) and token.string.strip():
                add(done, token.type, token.string)
        return out
    except (tokenize.TokenError, SyntaxError):  # an unfinished answer: the rest split crudely
        out = [(row, token) for row, token in out if row < done]
    for row, line in enumerate(source.split("\n")[done:], done):
        for text in CRUDE_TOKEN.findall(line.split("#")[0]):
            kind = (tokenize.NAME if text[0].isalpha() or text[0] == "_" else tokenize.NUMBER if text[0].isdigit()
                    else tokenize.STRING if text[0] in "'\"" else tokenize.OP)
            add(row, kind, text)
        add(row, tokenize.NEWLINE, "NEWLINE")
    return out


def _canonical(tokens) -> tuple:
    """Tokens with the bound names numbered by first occurrence among them."""
    seen: dict[str, int] = {}
    return tuple(seen.setdefault(t[1], len(seen)) if isinstance(t, tuple) and t[0] == "name" else t for t in tokens)


def _runs(tokens: list) -> set[tuple]:
    return {_canonical(tokens[start:start + K]) for start in range(max(1, len(tokens) - K + 1))} if tokens else set()


def _fingerprint(answer: Answer) -> set[tuple]:
    """The runs of K tokens of what the student wrote, less those of the cell as handed out."""
    written = [token for _, token in _tokens(answer.source, answer.written)]
    return _runs(written) - _runs([token for _, token in _tokens(answer.given)])


@dataclass
class _Exercise:
    """One exercise across the class: how many students answered it, and how many wrote each run of tokens."""
    answered: int
    counts: Counter  # run -> students who wrote it

    def alone(self, run) -> float:
        """The weight of a run one student of a pair wrote: log2(n / (others with it + 1))."""
        return math.log2(self.answered / self.counts[run])

    def shared(self, run) -> float:
        """The weight of a run both students of a pair wrote."""
        return math.log2(self.answered / (self.counts[run] - 1))


def _similarity(mine: dict[str, set], theirs: dict[str, set], my_weight: dict[str, float],
                their_weight: dict[str, float], exercises: dict[str, _Exercise]) -> float:
    """The weight of the runs both wrote over their answers' mean weight plus EVIDENCE, on the exercises both answered.
    The weights of the two answers are summed with every run weighed `alone`; a run both wrote weighs `shared`."""
    shared = total = 0.0
    for exercise in mine.keys() & theirs.keys():
        both, about = mine[exercise] & theirs[exercise], exercises[exercise]
        shared_weight = sum(about.shared(run) for run in both)
        shared += shared_weight
        total += (my_weight[exercise] + their_weight[exercise]) / 2 + shared_weight - sum(
            about.alone(run) for run in both)
    return shared / (total + EVIDENCE)


def _line_signatures(answer: Answer) -> dict[int, tuple]:
    rows: dict[int, list] = {}
    for row, token in _tokens(answer.source, answer.written):
        rows.setdefault(row, []).append(token)
    return {row: _canonical(tokens) for row, tokens in rows.items() if tokens != ["NEWLINE"]}


def _matching_lines(mine: dict[str, Answer], theirs: dict[str, Answer]) -> list[tuple[str, str]]:
    """Lines the two wrote alike (the same tokens once bound names are numbered), in the first student's order."""
    matched = []
    for exercise in sorted(mine.keys() & theirs.keys()):
        a, b = mine[exercise], theirs[exercise]
        unused: dict[tuple, list[int]] = {}
        for row, signature in sorted(_line_signatures(b).items()):
            unused.setdefault(signature, []).append(row)
        a_lines, b_lines = a.source.split("\n"), b.source.split("\n")
        for row, signature in sorted(_line_signatures(a).items()):
            if unused.get(signature):
                matched.append((a_lines[row], b_lines[unused[signature].pop(0)]))
    return matched[:MAX_SHOWN_LINES]


def compare(written: dict[str, dict[str, Answer]], seconds: float = CLASS_SECONDS) -> Comparison:
    """Every pair of students with an answer, most similar first, within `seconds`."""
    deadline, result = time.monotonic() + seconds, Comparison([], seconds=seconds)
    prints = {}
    for student, found in sorted(written.items()):
        if time.monotonic() > deadline:
            result.not_read.append(student)
            continue
        prints[student] = {exercise: runs for exercise, answer in found.items() if (runs := _fingerprint(answer))}
        if any(answer.cut for answer in found.values()):
            result.cut.append(student)
    prints = {student: found for student, found in prints.items() if found}
    exercises: dict[str, _Exercise] = {}
    for found in prints.values():
        for exercise, runs in found.items():
            about = exercises.setdefault(exercise, _Exercise(0, Counter()))
            about.answered += 1
            about.counts.update(runs)
    weights = {student: {exercise: sum(map(exercises[exercise].alone, runs)) for exercise, runs in found.items()}
               for student, found in prints.items()}
    for first, second in combinations(prints, 2):
        if time.monotonic() > deadline:
            result.not_compared += 1
            continue
        similar = _similarity(prints[first], prints[second], weights[first], weights[second], exercises)
        result.pairs.append(Pair(first, second, round(similar, 3), len(prints[first].keys() & prints[second].keys())))
    result.pairs.sort(key=lambda p: (-p.similarity, p.first, p.second))
    for pair in result.pairs[:SHOWN]:
        pair.lines = _matching_lines(written[pair.first], written[pair.second])
    return result


def _shown(text: str) -> str:
    """A line of a submission as shown in a code block: control and format characters replaced, length capped."""
    text = "".join("?" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c
                   for c in text.replace("\t", "    ").rstrip())
    return text if len(text) <= MAX_LINE_CHARS else text[:MAX_LINE_CHARS - 3] + "..."


def _name(text: str) -> str:
    """A student's name as Markdown text (escaped as all text from a submission is), length capped."""
    return untrusted.markdown(text[:MAX_LINE_CHARS])


def _fenced(text: str) -> str:
    """A code block that no backtick run in `text` can close."""
    fence = "`" * max([3, *(len(run) + 1 for run in re.findall("`+", text))])
    return f"{fence}text\n{text}\n{fence}"


def markdown(comparison: Comparison, lesson: str, students: int) -> str:
    """The similarity report: the most similar pairs, flagged ones with their matching lines side by side."""
    pairs = comparison.pairs
    flagged = [p for p in pairs if p.similarity >= THRESHOLD]
    lines = [f"# {lesson}: similar answers", "",
             f"{students} submission(s), {len(pairs)} pair(s) compared on the exercises both answered; "
             f"{len(flagged)} pair(s) at or above the threshold {THRESHOLD:g}. Code is compared as Python tokens with "
             "renamed variables still matching, and matching code counts by how rare it is in this class (an idiom "
             "most students wrote counts for little, the code handed out for nothing). A high similarity is a "
             "reason to read both notebooks, not a finding.", ""]
    if comparison.cut:
        lines += [f"- Exercise cells longer than {MAX_ANSWER_CHARS:,} characters were compared on "
                  f"their beginning only: {', '.join(_name(s) for s in comparison.cut)}.", ""]
    if comparison.not_read or comparison.not_compared:
        names = ", ".join(map(_name, comparison.not_read))
        not_read = f", submissions not read: {names}" if names else ""
        lines += [f"- The comparison stopped at its time budget of {comparison.seconds:g} s: "
                  f"{comparison.not_compared} pair(s) not compared{not_read}.", ""]
    lines += ["| rank | student | student | exercises compared | similarity | flagged |",
              "|---:|---|---|---:|---:|---|"]
    lines += [f"| {rank} | {_name(p.first)} | {_name(p.second)} | {p.exercises} | {p.similarity:.2f} | "
              f"{'yes' if p.similarity >= THRESHOLD else ''} |" for rank, p in enumerate(pairs[:SHOWN], 1)]
    for rank, pair in enumerate(flagged[:SHOWN], 1):
        rows = [(_shown(a), _shown(b)) for a, b in pair.lines]
        width = max((len(a) for a, _ in rows), default=0)
        lines += ["", f"## {rank}. {_name(pair.first)} and {_name(pair.second)}: {pair.similarity:.2f}", "",
                  f"Lines written alike ({_name(pair.first)} left, {_name(pair.second)} right):", "",
                  _fenced("\n".join(f"{a.ljust(width)}  |  {b}" for a, b in rows) or "(no whole line alike)")]
    return "\n".join(lines) + "\n"
