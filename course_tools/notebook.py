"""Notebook conventions: the setup cell, nbgrader markers, normalised metadata, student copies."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from course_tools import config
from course_tools.files import write_atomic

def setup_source(repo_url: str, branch: str = config.BRANCH) -> str:
    """The setup cell of every lesson, fetching `branch` of the course at `repo_url` when opened alone."""
    return f'''# Setup, the same in every lesson: make the course helpers importable and seed everything.
# Opened alone (Colab), it fetches the course next to the notebook and installs what is missing.
import importlib.util, os, subprocess, sys
from pathlib import Path

COURSE_REPO = os.environ.get("COURSE_REPO", "{repo_url}")
if importlib.util.find_spec("model_utils") is None:
    course = next((p for p in [Path.cwd(), *Path.cwd().parents] if (p / "model_utils.py").is_file()), None)
    if course is None:
        course = Path.cwd() / "sequence-models-course"
        if not course.exists():
            subprocess.run(["git", "clone", "--quiet", "--depth", "1", "--branch", "{branch}", COURSE_REPO, str(course)],
                           check=True)
        subprocess.run([sys.executable, str(course / "course_tools" / "install_missing.py")], check=True)
    sys.path.insert(0, str(course))

import model_utils as mu
mu.set_seed(42)'''


SETUP_SOURCE = setup_source(config.repo_url())

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
STUB_CODE = ("# YOUR CODE HERE", "raise NotImplementedError()")
STUB_MARKDOWN = ("YOUR ANSWER HERE",)
MIN_SECRET_LINE = 8  # shorter lines of an answer ("return h", "pass") say nothing on their own
KEPT_CELL_METADATA = ("tags", "nbgrader", "editable", "deletable")
COLAB_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"']+")
KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
# A line of TensorFlow's C++ log (absl format), e.g. "E0000 00:00:1795318700.292086    6738 util.cc:131] ...".
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.]+:\d+\]", re.MULTILINE)


class NotebookError(ValueError):
    """A notebook breaks one of the course's conventions."""


def read(path: Path):
    return nbformat.read(path, as_version=4)


def dumps(nb) -> str:
    return nbformat.writes(nb) + "\n"


def write(nb, path: Path) -> None:
    write_atomic(path, dumps(nb))


def normalize(nb, keep_outputs: bool):
    """Keep only the metadata the course uses; drop outputs unless `keep_outputs`."""
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = nbformat.NotebookNode(kernelspec=dict(KERNELSPEC), language_info={"name": "python"})
    for cell in nb.cells:
        cell.metadata = nbformat.NotebookNode(
            {key: cell.metadata[key] for key in KEPT_CELL_METADATA if key in cell.metadata}
        )
        if not cell.get("attachments"):
            cell.pop("attachments", None)
        if cell.cell_type == "code" and not keep_outputs:
            cell.outputs, cell.execution_count = [], None
    return nb


def _replace_regions(source: str, begin: str, end: str, stub: tuple[str, ...], where: str) -> str:
    """Replace every begin..end region (markers included) with `stub` at the marker's indent."""
    lines, out, indent = source.split("\n"), [], None
    for line in lines:
        stripped = line.strip()
        if stripped == begin:
            if indent is not None:
                raise NotebookError(f"{where}: '{begin}' inside another region.")
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + s for s in stub)
        elif stripped == end:
            if indent is None:
                raise NotebookError(f"{where}: '{end}' without '{begin}'.")
            indent = None
        elif indent is None:
            out.append(line)
    if indent is not None:
        raise NotebookError(f"{where}: '{begin}' is never closed by '{end}'.")
    return "\n".join(out)


def student_source(cell, where: str) -> str:
    """A cell's source as students see it: solutions stubbed, hidden tests removed."""
    stub = STUB_CODE if cell.cell_type == "code" else STUB_MARKDOWN
    source = _replace_regions(cell.source, BEGIN_SOLUTION, END_SOLUTION, stub, where)
    return _replace_regions(source, BEGIN_HIDDEN, END_HIDDEN, (), where).rstrip("\n")


def make_student(solution_path: Path, repo: str = config.GITHUB_REPO, branch: str = config.BRANCH):
    """The student notebook for a solution notebook, its badge and setup cell pointing at `repo`."""
    nb = normalize(read(solution_path), keep_outputs=False)
    badge = config.colab_url(f"notebooks/{solution_path.name}", repo, branch)
    for index, cell in enumerate(nb.cells):
        cell.source = student_source(cell, f"{solution_path.name} cell {index} ({cell.get('id')})")
        if cell.cell_type == "markdown":
            cell.source = COLAB_LINK.sub(badge, cell.source)
        if is_test_cell(cell):  # test cells locked, as nbgrader does
            cell.metadata.editable = cell.metadata.deletable = False
    setup = setup_cell(nb)
    if setup is not None and setup.source == SETUP_SOURCE:
        setup.source = setup_source(config.repo_url(repo), branch)
    return nb


def write_students(solutions_dir: Path = config.SOLUTIONS, notebooks_dir: Path = config.NOTEBOOKS) -> list[Path]:
    """Regenerate every student notebook; return the paths written."""
    notebooks_dir.mkdir(exist_ok=True)
    written = []
    for solution in sorted(solutions_dir.glob("[0-9][0-9]_*.ipynb")):
        target = notebooks_dir / solution.name
        write(make_student(solution), target)
        written.append(target)
    return written


def tf_log_lines(nb) -> list[str]:
    """TensorFlow C++ log lines in a notebook's stream outputs (students should never see them)."""
    return [match.group(0) for cell in nb.cells for output in cell.get("outputs", [])
            if output.get("output_type") == "stream" for match in TF_LOG_LINE.finditer(output.get("text", ""))]


def is_test_cell(cell) -> bool:
    """A graded test cell: nbgrader's `grade: true` (its points and grade_id in the same metadata)."""
    return bool(cell.metadata.get("nbgrader", {}).get("grade"))


def is_injected_parameters(cell) -> bool:
    """The cell papermill inserted after the parameters cell."""
    return "injected-parameters" in cell.metadata.get("tags", [])


def region_lines(source: str, regions: tuple[tuple[str, str], ...]) -> dict[int, str]:
    """Line number (from 1) -> stripped line, for the lines inside the `(begin, end)` marker regions of a source."""
    begins, ends = {begin for begin, _ in regions}, {end for _, end in regions}
    inside, lines = False, {}
    for number, line in enumerate(source.split("\n"), 1):
        stripped = line.strip()
        if stripped in begins:
            inside = True
        elif stripped in ends:
            inside = False
        elif inside:
            lines[number] = stripped
    return lines


def secret_lines(cell) -> set[str]:
    """The lines of a cell's solution regions and hidden tests (stripped, longer than a few characters)."""
    regions = ((BEGIN_SOLUTION, END_SOLUTION), (BEGIN_HIDDEN, END_HIDDEN))
    return {line for line in region_lines(cell.source, regions).values() if len(line) >= MIN_SECRET_LINE}


def setup_cell(nb):
    """The first code cell, which must be the course's setup cell."""
    return next((cell for cell in nb.cells if cell.cell_type == "code"), None)


def parameters_cell(nb):
    return next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)


def graded_cells(nb) -> list:
    """Test cells that carry points (nbgrader's `grade: true`)."""
    return [c for c in nb.cells if is_test_cell(c)]


def check_notebook(path: Path, relative: str, budget: int) -> list[str]:
    """Problems with one committed notebook (either copy)."""
    problems = []
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    if len(text.encode()) > budget:
        problems.append(f"{relative}: {len(text.encode()):,} bytes, over the budget of {budget:,}.")
    if dumps(normalize(nbformat.reads(text, as_version=4), keep_outputs=True)) != text:
        problems.append(f"{relative}: metadata not normalised (run `make student` or `make refresh`).")
    cell = setup_cell(nb)
    if cell is None or cell.source != SETUP_SOURCE:
        problems.append(f"{relative}: the first code cell is not the course's setup cell.")
    if parameters_cell(nb) is None:
        problems.append(f"{relative}: no cell tagged 'parameters'.")
    ids = [c.get("id") for c in nb.cells]
    if len(set(ids)) != len(ids):
        problems.append(f"{relative}: cell ids are not unique.")
    logged = tf_log_lines(nb)
    if logged:
        problems.append(f"{relative}: {len(logged)} TensorFlow log lines in outputs (first: {logged[0]}); "
                        "run it again with the course's model_utils, which silences them.")
    for c in graded_cells(nb):
        if not c.metadata["nbgrader"].get("points", 0) > 0:
            problems.append(f"{relative}: graded cell {c.get('id')} has no points.")
    expected_badge = config.colab_url(relative)
    for c in nb.cells:
        if c.cell_type != "markdown":
            continue
        for link in COLAB_LINK.findall(c.source):
            if link != expected_badge:
                problems.append(f"{relative}: Colab link {link} should be {expected_badge}.")
        for target in re.findall(r"\]\(([^)#\s]+\.(?:ipynb|py|md))\)", c.source):
            if "://" not in target and not (path.parent / target).exists():
                problems.append(f"{relative}: link to {target}, which does not exist.")
    if not any(COLAB_LINK.search(c.source) for c in nb.cells if c.cell_type == "markdown"):
        problems.append(f"{relative}: no Colab badge.")
    return problems


def check_repository(root: Path = config.ROOT) -> list[str]:
    """Everything about the committed notebooks that can be checked without running them."""
    from course_tools.rebuild import load_key  # imported here: rebuild builds on this module

    problems = []
    solutions = sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb"))
    if not solutions:
        return ["solutions/: no lesson notebooks."]
    for solution in solutions:
        relative = f"solutions/{solution.name}"
        problems += check_notebook(solution, relative, config.SOLUTION_BUDGET)
        nb = read(solution)
        if not graded_cells(nb):
            problems.append(f"{relative}: no graded test cells.")
        if not any(BEGIN_SOLUTION in c.source for c in nb.cells):
            problems.append(f"{relative}: no solution regions.")
        try:
            load_key(solution)  # checks and reference values that grade
        except ValueError as error:
            problems.append(f"{relative}: {error}")
        student = root / "notebooks" / solution.name
        if not student.exists():
            problems.append(f"notebooks/{solution.name}: missing (run `make student`).")
            continue
        problems += check_notebook(student, f"notebooks/{solution.name}", config.STUDENT_BUDGET)
        try:
            expected = dumps(make_student(solution))
        except NotebookError as error:
            problems.append(str(error))
            continue
        if student.read_text(encoding="utf-8") != expected:
            problems.append(f"notebooks/{solution.name}: out of date with its solution (run `make student`).")
    for student in sorted((root / "notebooks").glob("*.ipynb")):
        if not (root / "solutions" / student.name).exists():
            problems.append(f"notebooks/{student.name}: has no solution notebook.")
    return problems
