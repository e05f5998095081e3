"""The course website (`make site`): each lesson's student copy with the outputs of its stored full run.

Pages are rendered by nbconvert's HTML exporter (JupyterLab's look) through the small template in
site_template/, with no network and no execution; math is typeset by a local copy of MathJax.
"""
from __future__ import annotations

import argparse
import ast
import html
import re
import shutil
from pathlib import Path

from nbconvert import HTMLExporter
from nbformat.v4 import new_markdown_cell, new_notebook

from course_tools import config, notebook, release

TEMPLATE = Path(__file__).with_name("site_template")
MATHJAX = config.ROOT / "node_modules" / "mathjax" / "es5" / "tex-svg-full.js"
HIDDEN_OUTPUT = ("*The output of this cell is left out of the website: it shows what the exercise's answer gives. "
                 "Run the notebook to see yours.*")
BADGE = re.compile(r"\[!\[[^\]]*\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\(([^)]+)\)")
# Instructor parts of the README, after the paragraphs that follow the course table.
INSTRUCTOR_SECTIONS = ("Instructor commands", "Grading submissions", "Changing a lesson", "Course website")
# Calls (and keywords) whose first argument names a figure's title or axis.
FIGURE_TEXT = {"set_title": "title", "suptitle": "title", "title": "title",
               "set_xlabel": "x axis", "xlabel": "x axis", "set_ylabel": "y axis", "ylabel": "y axis"}
# matplotlib's animation player (to_jshtml) draws its buttons with Font Awesome from a CDN: text instead.
PLAYER_ICONS = {"minus": "−", "fast-backward": "⇤", "step-backward": "‹", "play fa-flip-horizontal": "◀",
                "pause": "❚❚", "play": "▶", "step-forward": "›", "fast-forward": "⇥", "plus": "+"}


def _text(node) -> str | None:
    """A string literal's text; an f-string's with '…' for each value it formats."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return None


def _parse(source: str) -> ast.Module:
    """A code cell's syntax tree; an empty one for a cell that is not plain Python (IPython magics)."""
    try:
        return ast.parse(source)
    except SyntaxError:
        return ast.Module(body=[], type_ignores=[])


def title_positions(sources: list[str]) -> dict[str, int]:
    """Functions defined in `sources` that take a `title`, with its position."""
    return {f.name: [a.arg for a in f.args.args].index("title") for source in sources
            for f in ast.walk(_parse(source))
            if isinstance(f, ast.FunctionDef) and "title" in [a.arg for a in f.args.args]}


def figure_alt(source: str, plain: str, positions: dict[str, int]) -> str:
    """Alt text for a figure drawn by `source`: what matplotlib says of it (`plain`), its titles and axis labels."""
    parts = []
    for call in (n for n in ast.walk(_parse(source)) if isinstance(n, ast.Call)):
        name = getattr(call.func, "attr", getattr(call.func, "id", ""))
        found = [(FIGURE_TEXT[kw.arg], kw.value) for kw in call.keywords if kw.arg in ("title", "xlabel", "ylabel")]
        if name in FIGURE_TEXT and call.args:
            found.append((FIGURE_TEXT[name], call.args[0]))
        if name in positions and len(call.args) > positions[name]:
            found.append(("title", call.args[positions[name]]))
        parts += [f"{what}: {_text(node)}" for what, node in found if _text(node)]
    axes = re.search(r"with (\d+) Axes", plain)
    kind = f"Figure with {axes.group(1)} plot{'s' * (axes.group(1) != '1')}" if axes else "Figure"
    return f"{kind}, drawn by the code above" + "".join(f"; {part}" for part in dict.fromkeys(parts))


def offline_player(player: str, alt: str) -> str:
    """matplotlib's animation player with nothing from the network, alt text on its frames and a labelled slider."""
    player = re.sub(r'<link rel="stylesheet"\s+href="[^"]*font-awesome[^"]*">', "", player)
    player = re.sub(r'<i class="fa fa-([\w -]+)"></i>',
                    lambda icon: f'<span aria-hidden="true">{PLAYER_ICONS[icon.group(1)]}</span>', player)
    player = player.replace('<img id="_anim_img', f'<img alt="{html.escape(alt)}" id="_anim_img')
    return player.replace('class="anim-slider"', 'class="anim-slider" aria-label="Frame"')


def answer_cell(cell) -> bool:
    """Whether a cell's outputs come from an exercise's answer or its check (which show the answer's values)."""
    return notebook.BEGIN_SOLUTION in cell.source or notebook.is_test_cell(cell)


def lesson_notebook(solution_path: Path, repo: str, branch: str = config.BRANCH):
    """The student copy of a lesson with the solution's stored outputs, except those of answers and checks."""
    solution, student = notebook.read(solution_path), notebook.make_student(solution_path, repo, branch)
    positions = title_positions([c.source for c in solution.cells if c.cell_type == "code"])
    cells = []
    for source_cell, cell in zip(solution.cells, student.cells):
        cells.append(cell)
        if cell.cell_type == "markdown":
            cell.source = BADGE.sub(r"[Open in Colab](\1)", cell.source)
        elif answer_cell(source_cell):
            if source_cell.outputs:
                cells.append(new_markdown_cell(HIDDEN_OUTPUT))
        else:
            cell.outputs, cell.execution_count = source_cell.outputs, source_cell.execution_count
            for output in cell.outputs:
                data = output.get("data", {})
                if "image/png" in data:
                    output.metadata["alt"] = (output.metadata.get("alt")  # draw_cell writes its own
                                              or figure_alt(cell.source, data.get("text/plain", ""), positions))
                elif 'class="animation"' in data.get("text/html", ""):
                    alt = figure_alt(cell.source, "", positions).replace("Figure", "Animation", 1)
                    data["text/html"] = offline_player(data["text/html"], alt)
    student.cells = cells
    return student


def readme_pages(readme: str, repo: str, branch: str) -> tuple[str, str]:
    """The home page's and the instructors' page's Markdown, from the README."""
    readme = re.sub(r"\]\(notebooks/(\w+)\.ipynb\)", r"](\1.html)", readme)
    readme = re.sub(r"\]\((?!https?://|#|\w+\.html\))([^)]+)\)", rf"](https://github.com/{repo}/blob/{branch}/\1)", readme)
    title, *sections = re.split(r"(?m)^## ", readme)
    by_heading = {section.split("\n", 1)[0]: "## " + section for section in sections}
    course = by_heading["The course"]
    table_end = course.index("\n\n", course.index("\n|"))
    home = title.split("\n", 1)[0] + "\n\n" + course[:table_end]
    instructors = ("# For instructors\n\n## The student release and its runtime" + course[table_end:] + "\n"
                   + "".join(by_heading[heading] for heading in INSTRUCTOR_SECTIONS))
    return home, instructors


def build(out: Path, repo: str = config.GITHUB_REPO, branch: str = config.BRANCH, root: Path = config.ROOT) -> list[Path]:
    """Write the website into `out` (emptied first); return the pages written."""
    if not MATHJAX.is_file():
        raise SystemExit(f"{MATHJAX} is missing: run `npm ci` (make site does) to install the pinned MathJax.")
    shutil.rmtree(out, ignore_errors=True)
    (out / "notebooks").mkdir(parents=True)
    (out / "mathjax").mkdir()
    shutil.copyfile(MATHJAX, out / "mathjax" / MATHJAX.name)
    exporter = HTMLExporter(template_name="lab", extra_template_paths=[str(TEMPLATE)], template_file="page.html.j2",
                            exclude_anchor_links=True)
    solutions = sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb"))
    lessons = [(path.stem + ".html", release.lesson_title(notebook.read(path))) for path in solutions]
    pages = [("index.html", "Home"), *lessons, ("instructors.html", "For instructors")]
    home, instructors = readme_pages((root / "README.md").read_text(encoding="utf-8"), repo, branch)
    written = []
    for index, (page, title) in enumerate(pages):
        site = {"pages": pages, "current": page}
        if page == "index.html":
            nb = new_notebook(cells=[new_markdown_cell(home)])
        elif page == "instructors.html":
            nb = new_notebook(cells=[new_markdown_cell(instructors)])
        else:
            solution = solutions[index - 1]
            nb = lesson_notebook(solution, repo, branch)
            student = notebook.dumps(notebook.make_student(solution, repo, branch))
            (out / "notebooks" / solution.name).write_text(student, encoding="utf-8")
            site.update(colab=config.colab_url(f"notebooks/{solution.name}", repo, branch),
                        download=f"notebooks/{solution.name}",
                        previous=lessons[index - 2] if index > 1 else None,
                        next=lessons[index] if index < len(lessons) else None)
        nb.metadata.title = f"{title} | Sequence models with TensorFlow and Keras"
        html, _ = exporter.from_notebook_node(nb, resources={"site": site})
        (out / page).write_text(html, encoding="utf-8")
        written.append(out / page)
    return written


def pages_workflow(branch: str = config.BRANCH) -> str:
    """The release's GitHub Pages workflow (.github/workflows/pages.yml), publishing its site/ from `branch`."""
    return (TEMPLATE / "pages.yml").read_text(encoding="utf-8").replace("branches: [main]", f"branches: [{branch}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the course website.")
    parser.add_argument("out", type=Path, help="folder to write (emptied first), e.g. build/site")
    parser.add_argument("--repo", default=config.GITHUB_REPO, help="the student release, owner/name")
    parser.add_argument("--branch", default=config.BRANCH)
    arguments = parser.parse_args(argv)
    pages = build(arguments.out, arguments.repo, arguments.branch)
    print(f"{len(pages)} pages written to {arguments.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
