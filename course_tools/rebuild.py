"""The answer key, and rebuilding a submission with the key's cells put back in place before it runs.

The solution notebook is the answer key: its test cells (nbgrader `grade: true`, with `points`, and
the `hand_in` checks in their source), with the reference value of every check beside it in
`NN_name.reference.json` (recorded from a full run by `make refresh`). The test cells, the setup
cell and the parameters cell are "fixed" cells, taken from the solution in place of the
submission's own. Submission cells are anchored to solution cells by, in this order: cell id,
Colab's metadata id, nbgrader `grade_id`, then unchanged source (code and markdown alike, each
solution source that occurs once). Cells with no id of their own (Colab or older Jupyter dropped them)
that lie between two anchors are then paired with the solution's cells between the same anchors,
from both ends, while their types agree: an edited test cell is recognised where it stands. A
fixed cell found is replaced ("edited" when its source changed); one not found is "missing" and
put back after the nearest solution cell before it that the submission has.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import nbformat

from course_tools.handin import matches
from course_tools.notebook import (BEGIN_HIDDEN, COLAB_LINK, END_HIDDEN, is_injected_parameters, is_test_cell,
                                   normalize, parameters_cell, region_lines, secret_lines, setup_cell, student_source)
from course_tools.untrusted import markdown


CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # what nbformat accepts as a cell id


class InvalidSubmission(ValueError):
    """A submission that cannot be graded at all (not a notebook, wrong lesson, ambiguous)."""


@dataclass(frozen=True)
class Check:
    """One `hand_in` call of a test cell, as written in the key."""
    name: str
    message: str
    atol: float = 0.0
    rtol: float = 0.0
    hidden: bool = False  # inside the cell's hidden tests


def called(call: ast.Call) -> str | None:
    """The name a call calls: `hand_in` for both `hand_in(...)` and `mu.hand_in(...)`."""
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", None)


def checks_in(source: str, where: str) -> list[Check]:
    """The `hand_in(...)` calls of a test cell's source; ValueError unless name, message and tolerances are literals."""
    hidden = region_lines(source, ((BEGIN_HIDDEN, END_HIDDEN),))
    checks = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or called(node) != "hand_in":
            continue
        try:
            name = ast.literal_eval(node.args[0])
            options = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        except (IndexError, ValueError) as error:
            raise ValueError(f"{where}: line {node.lineno}: hand_in needs a literal name, message and tolerances "
                             f"({error or 'no name'}).") from None
        if not isinstance(name, str) or not isinstance(options.get("message"), str) or len(node.args) != 2:
            raise ValueError(f"{where}: line {node.lineno}: write hand_in(\"name\", value, message=\"...\").")
        checks.append(((node.lineno, node.col_offset), Check(
            name, options["message"], float(options.get("atol", 0.0)), float(options.get("rtol", 0.0)),
            node.lineno in hidden)))
    return [check for _, check in sorted(checks)]


def visible_checks_in(source: str) -> list[str]:
    """The names of the `exercise_check("name")` blocks outside a test cell's hidden tests."""
    hidden = region_lines(source, ((BEGIN_HIDDEN, END_HIDDEN),))
    return [node.args[0].value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Call) and called(node) == "exercise_check" and node.lineno not in hidden
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)]


@dataclass
class FixedCell:
    """A cell the grader takes from the solution: the setup, parameters and test cells."""
    cell: nbformat.NotebookNode
    position: int  # index in the solution
    grade_id: str | None = None  # set for test cells
    points: float = 0.0
    checks: list[Check] = field(default_factory=list)  # a test cell's hand_in calls
    visible_checks: list[str] = field(default_factory=list)  # the exercise_check names of its visible part

    @property
    def id(self) -> str:
        return self.cell.id


@dataclass
class AnswerKey:
    lesson: str
    cells: list  # the solution's cells, without outputs
    texts: list[set[str]]  # per solution cell, the sources that count as unchanged
    fixed: dict[int, FixedCell]  # by position in the solution
    reference: dict  # check name -> the key's value
    secret_lines: set[str]  # lines of solutions and hidden tests, which no feedback may quote
    digest: str  # sha256 of the solution and its reference values, as read

    @cached_property
    def secrets_as_shown(self) -> set[str]:
        """The secret lines, and each as Markdown shows text a student chose (escaped): what `redact` looks for."""
        return self.secret_lines | {markdown(line) for line in self.secret_lines}

    @property
    def tests(self) -> list[FixedCell]:
        return [f for f in self.fixed.values() if f.grade_id is not None]

    @property
    def max_score(self) -> float:
        return sum(t.points for t in self.tests)

    def passes(self, check: Check, handins: dict) -> bool:
        """Whether `handins` holds `check`'s value and it matches the key's reference within the check's tolerance."""
        return check.name in handins and matches(handins[check.name], self.reference[check.name], check.atol, check.rtol)


def plain(source: str) -> str:
    """A source as compared for 'unchanged': Colab links (which differ by release) and edges ignored."""
    return COLAB_LINK.sub("", source).strip()


def reference_path(solution: Path) -> Path:
    """Where a solution's reference values are kept: NN_name.reference.json beside it."""
    return solution.with_name(f"{solution.stem}.reference.json")


def load_key(solution: Path) -> AnswerKey:
    """The answer key of a solution notebook, read once; ValueError when it cannot grade."""
    source, reference_text = solution.read_bytes(), None
    try:
        reference_text = reference_path(solution).read_bytes()
    except FileNotFoundError:
        pass
    nb = normalize(nbformat.reads(source.decode("utf-8"), as_version=4), keep_outputs=False)
    fixed, texts, secrets = {}, [], set()
    for position, cell in enumerate(nb.cells):
        texts.append({plain(cell.source), plain(student_source(cell, f"{solution.name} cell {position}"))} - {""})
        secrets |= secret_lines(cell)
        if is_test_cell(cell) and cell.cell_type == "code":
            grader = cell.metadata["nbgrader"]
            fixed[position] = FixedCell(cell, position, grader.get("grade_id") or cell.id, float(grader.get("points", 0)),
                                        checks_in(cell.source, f"{solution.name} cell {cell.id}"),
                                        visible_checks_in(cell.source))
        elif cell is setup_cell(nb) or cell is parameters_cell(nb):
            fixed[position] = FixedCell(cell, position)
    reference = json.loads(reference_text) if reference_text is not None else {}
    key = AnswerKey(solution.stem, nb.cells, texts, fixed, reference, secrets,
                    hashlib.sha256(source + b"\0" + (reference_text or b"")).hexdigest())
    if not key.tests:
        raise ValueError(f"{solution.name} has no graded test cells (nbgrader `grade: true` with points).")
    names = [check.name for test in key.tests for check in test.checks]
    empty = [test.grade_id for test in key.tests if not test.checks]
    if empty:
        raise ValueError(f"{solution.name}: test cell(s) {', '.join(empty)} hand in no value (mu.hand_in), "
                         "so they could never score.")
    if len(set(names)) != len(names):
        raise ValueError(f"{solution.name}: a hand_in name is used twice: {sorted(n for n in set(names) if names.count(n) > 1)}.")
    missing = [name for name in names if name not in reference]
    if missing:
        raise ValueError(f"{reference_path(solution).name} has no reference value for {', '.join(missing)}: run "
                         f"`make course LESSONS={solution.stem[:2]}` then `make refresh LESSONS={solution.stem[:2]}`.")
    return key


@dataclass
class Submitted:
    """A submission cell and what it can be recognised by."""
    cell: nbformat.NotebookNode
    own_id: str | None  # the id in the file, if any
    colab_id: str | None  # Colab's metadata id, if any

    @property
    def anonymous(self) -> bool:
        """No cell id of its own: Colab drops them and writes its own random metadata.id on every cell, which says
        nothing about where a cell came from (one equal to a key cell's id is anchored by `anchor` first)."""
        return self.own_id is None

    @property
    def grade_id(self) -> str | None:
        return self.cell.metadata.get("nbgrader", {}).get("grade_id")

    @property
    def claims_test(self) -> bool:
        return is_test_cell(self.cell)


def read_submission(text: str) -> list[Submitted]:
    """The cells of a submitted notebook, or InvalidSubmission saying why it is not one."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidSubmission(f"not valid JSON ({error})") from None
    if not isinstance(raw, dict) or raw.get("nbformat") != 4 or not isinstance(raw.get("cells"), list):
        raise InvalidSubmission("not a Jupyter notebook in format 4")
    if not raw["cells"]:
        raise InvalidSubmission("the notebook has no cells")
    cells, seen = [], set()
    for index, cell in enumerate(raw["cells"]):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise InvalidSubmission(f"cell {index} is not a notebook cell")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise InvalidSubmission(f"cell {index} has no readable source")
        metadata = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
        if not isinstance(metadata.get("tags", []), list) or not isinstance(metadata.get("nbgrader", {}), dict):
            metadata = {k: v for k, v in metadata.items() if k not in ("tags", "nbgrader")}
        own_id, colab_id = cell.get("id"), metadata.get("id")
        own_id = own_id if isinstance(own_id, str) and CELL_ID.fullmatch(own_id) and own_id not in seen else None
        colab_id = colab_id if isinstance(colab_id, str) and colab_id else None
        seen.add(own_id)
        node = nbformat.from_dict({"cell_type": cell["cell_type"], "source": source, "metadata": metadata,
                                   "id": own_id or f"submitted-{index}"})  # no id, or a duplicate: a stable one
        if node.cell_type == "code":
            node.outputs, node.execution_count = [], None
        cells.append(Submitted(node, own_id, colab_id))
    normalize(nbformat.v4.new_notebook(cells=[s.cell for s in cells]), keep_outputs=False)  # course metadata only
    return cells


def anchor(cells: list[Submitted], key: AnswerKey) -> dict[int, int]:
    """Submission cell index -> solution cell index, each solution cell claimed at most once."""
    ids = {cell.id: i for i, cell in enumerate(key.cells)}
    grade_ids = {f.grade_id: i for i, f in key.fixed.items() if f.grade_id is not None}
    unique = {}
    for i, texts in enumerate(key.texts):
        for text in texts:
            unique[text] = i if text not in unique else None
    matched: dict[int, int] = {}

    def claim(target_of, order=range(len(cells))):
        for index in order:
            target = target_of(cells[index])
            if index not in matched and target is not None and target not in matched.values():
                matched[index] = target

    def unchanged_test(index):
        target = grade_ids.get(cells[index].grade_id)
        return target is not None and plain(cells[index].cell.source) in key.texts[target]

    claim(lambda s: ids.get(s.own_id))
    claim(lambda s: ids.get(s.colab_id))
    # Two cells with one grade_id (a copied test cell): the one with the test's own source wins.
    claim(lambda s: grade_ids.get(s.grade_id), sorted(range(len(cells)), key=lambda i: not unchanged_test(i)))
    claim(lambda s: unique.get(plain(s.cell.source)) if s.cell.cell_type != "raw" else None)
    return matched


def pair_gaps(cells: list[Submitted], key: AnswerKey, matched: dict[int, int]) -> dict[int, int]:
    """Anonymous cells between two anchors, paired from both ends with the solution's cells there."""
    paired = dict(matched)
    anchors = [(-1, -1)] + sorted(matched.items()) + [(len(cells), len(key.cells))]
    for (sub_start, sol_start), (sub_end, sol_end) in zip(anchors, anchors[1:]):
        if sol_end <= sol_start:
            continue  # cells moved out of the solution's order: no gap to pair
        taken = set(paired.values())
        mine = [i for i in range(sub_start + 1, sub_end)
                if i not in paired and cells[i].anonymous and not cells[i].claims_test]
        theirs = [j for j in range(sol_start + 1, sol_end) if j not in taken]
        for ends in (slice(None), slice(None, None, -1)):
            for i, j in zip(mine[ends], theirs[ends]):
                if i in paired or j in paired.values() or cells[i].cell.cell_type != key.cells[j].cell_type:
                    break
                paired[i] = j
    return paired


def prepare(text: str, key: AnswerKey, profile: str = "smoke") -> tuple[nbformat.NotebookNode, list[str]]:
    """The notebook to execute: the submission with the solution's fixed cells in place.

    Returns the notebook and notes for the feedback (test cells edited, missing or copied).
    """
    from papermill.parameterize import parameterize_notebook  # imported here: slow to import

    cells = read_submission(text)
    matched = anchor(cells, key)
    if not matched:
        raise InvalidSubmission(f"no cell in common with lesson {key.lesson}: is this the right notebook?")
    paired = pair_gaps(cells, key, matched)
    notes, out, placed = [], [], {}
    for index, submitted in enumerate(cells):
        cell, position = submitted.cell, paired.get(index)
        fixed = key.fixed.get(position)
        if fixed is not None:
            if fixed.grade_id is not None and plain(cell.source) not in key.texts[position]:
                notes.append(f"Test cell `{fixed.grade_id}` was edited; the original was run instead.")
            placed[position] = len(out)
            out.append(copy.deepcopy(fixed.cell))
        elif submitted.claims_test:
            notes.append(f"Cell {index + 1} is marked as test {markdown(str(submitted.grade_id)[:64])}, which the lesson "
                         "has elsewhere or not at all (a copied or added test cell); it was not run.")
        elif not is_injected_parameters(cell):
            if position is not None:
                placed[position] = len(out)
            cell.metadata["tags"] = [t for t in cell.metadata.get("tags", []) if t != "parameters"]
            out.append(cell)
    for position, fixed in sorted(key.fixed.items()):
        if position in placed:
            continue
        if fixed.grade_id is not None:
            notes.append(f"Test cell `{fixed.grade_id}` was missing; the original was run in its place.")
        before = [placed[p] for p in placed if p < position]
        at = max(before) + 1 if before else 0
        out.insert(at, copy.deepcopy(fixed.cell))
        placed = {p: i + (i >= at) for p, i in placed.items()}
        placed[position] = at
    nb = nbformat.v4.new_notebook(cells=out)
    normalize(nb, keep_outputs=False)
    nb.metadata["papermill"] = {}
    for cell in nb.cells:
        cell.metadata.setdefault("tags", [])  # papermill looks for the parameters tag in every cell
    nb = parameterize_notebook(nb, {"PROFILE": profile})
    for cell in nb.cells:
        if is_injected_parameters(cell):
            cell.id = "injected-parameters"  # a stable id instead of a random one
        if not cell.metadata.get("tags"):
            cell.metadata.pop("tags", None)
    return nb, notes
