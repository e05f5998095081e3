"""The course website (`make site`): the students' page and every lesson, as a Sphinx book.

Sphinx with myst-nb and sphinx-book-theme (the parts of Jupyter Book 1) renders each lesson's student
copy with the outputs of its stored full run, executing nothing and reading nothing from the network:
search, contents, heading anchors, a Colab button and a download of the student notebook per lesson.
Equations are typeset at build time by the pinned MathJax (site_template/tex2svg.js), so pages load no
MathJax. This module is also the Sphinx extension that does that (`setup`).
"""
from __future__ import annotations

import argparse
import ast
import html
import io
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from docutils import nodes
from nbformat.v4 import new_markdown_cell
from pygments.lexers.python import PythonLexer
from pygments.token import Name, Punctuation, Text, Whitespace

from course_tools import config, lessons, notebook, release

TEMPLATE = Path(__file__).with_name("site_template")
STUDENTS_PAGE = Path("docs") / "students.md"  # the home page, relative to the course's root
PROJECT = "Sequence models with TensorFlow and Keras"
HOME_DESCRIPTION = ("A hands-on course on recurrent neural networks with TensorFlow and Keras: RNN, LSTM, GRU, "
                    "ConvLSTM, a text capstone and sequence generation, in notebooks that run in Google Colab.")
# The paragraph of the students' page that an instructor's own hand-in instructions replace.
HAND_IN_PLACE = re.compile(r"(?m)^\*\*Where to hand in:\*\*.*(?:\n(?!\n).*)*")
HIDDEN_OUTPUT = ("*The output of this cell is left out of the website: it shows what the exercise's answer gives. "
                 "Run the notebook to see yours.*")
BADGE = re.compile(r"\[!\[[^\]]*\]\(https://colab\.research\.google\.com/assets/colab-badge\.svg\)\]\(([^)]+)\)")
TEST_MARKER = re.compile(r"(?m)^[ \t]*# NBVAL_\w+[ \t]*(?:\n|$)")
# Calls (and keywords) whose first argument names a figure's title or axis.
FIGURE_TEXT = {"set_title": "title", "suptitle": "title", "title": "title",
               "set_xlabel": "x axis", "xlabel": "x axis", "set_ylabel": "y axis", "ylabel": "y axis"}
# matplotlib's animation player (to_jshtml) draws its buttons with Font Awesome from a CDN: text instead.
PLAYER_ICONS = {"minus": "−", "fast-backward": "⇤", "step-backward": "‹", "play fa-flip-horizontal": "◀",
                "pause": "❚❚", "play": "▶", "step-forward": "›", "fast-forward": "⇥", "plus": "+"}
# Signs in MathJax's output of TeX it could not typeset.
MATH_ERRORS = ("data-mjx-error", 'mathcolor="red"')
WIDE_INLINE_MATH = 36  # ex: an inline equation wider than this gets a box of its own that can scroll on a phone


class SiteError(RuntimeError):
    """The website cannot be built as it should be."""


def _text(node) -> str | None:
    """A string literal's text; None for anything else, f-strings with values included (their text is unknown)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and all(isinstance(v, ast.Constant) for v in node.values):
        return "".join(v.value for v in node.values)
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


def figure_texts(source: str, positions: dict[str, int]) -> list[tuple[str, str]]:
    """(what, text) for each title and axis label that `source` gives a figure as a literal, in order, once each."""
    found = []
    for call in (n for n in ast.walk(_parse(source)) if isinstance(n, ast.Call)):
        name = getattr(call.func, "attr", getattr(call.func, "id", ""))
        given = [(FIGURE_TEXT[kw.arg], kw.value) for kw in call.keywords if kw.arg in ("title", "xlabel", "ylabel")]
        if name in FIGURE_TEXT and call.args:
            given.append((FIGURE_TEXT[name], call.args[0]))
        if name in positions and len(call.args) > positions[name]:
            given.append(("title", call.args[positions[name]]))
        found += [(what, _text(node)) for what, node in given if _text(node)]
    return list(dict.fromkeys(found))


def figure_alt(source: str, plain: str, positions: dict[str, int]) -> str:
    """Alt text for a figure drawn by `source`: how many plots (from matplotlib's `plain` text), titles, axes."""
    axes = re.search(r"with (\d+) Axes", plain)
    kind = f"Figure with {axes.group(1)} plot{'s' * (axes.group(1) != '1')}" if axes else "Figure"
    return kind + "".join(f"; {what}: {text}" for what, text in figure_texts(source, positions))


def figure_caption(source: str, alt: str, positions: dict[str, int]) -> str:
    """A figure's caption: a diagram's description and formula (before its legend), else the plot's titles."""
    if alt.startswith("Diagram: "):
        return " ".join(part.split(" Legend:")[0].strip() for part in alt.split("Diagram: ") if part)
    return "; ".join(text for what, text in figure_texts(source, positions) if what == "title")


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


def _tag(cell, tag: str) -> None:
    cell.metadata.setdefault("tags", []).append(tag)


def lesson_notebook(solution_path: Path, repo: str, branch: str = config.BRANCH):
    """The page of a lesson: its student copy with the solution's stored outputs, except those of answers and
    checks; test markers removed, the setup cell and the checks folded away, figures with alt text and captions."""
    solution, student = notebook.read(solution_path), notebook.make_student(solution_path, repo, branch)
    positions = title_positions([c.source for c in solution.cells if c.cell_type == "code"])
    setup = notebook.setup_cell(student)
    cells = []
    for source_cell, cell in zip(solution.cells, student.cells):
        cells.append(cell)
        if cell.cell_type == "markdown":
            cell.source = BADGE.sub(r"[Open in Colab](\1)", cell.source)
            continue
        cell.source = TEST_MARKER.sub("", cell.source)
        if cell is setup or notebook.is_test_cell(cell):
            _tag(cell, "hide-input")
        if answer_cell(source_cell):
            if source_cell.outputs:
                cells.append(new_markdown_cell(HIDDEN_OUTPUT, id=f"{cell.id}-left-out"))
            continue
        cell.outputs, cell.execution_count = source_cell.outputs, source_cell.execution_count
        for output in cell.outputs:
            data = output.get("data", {})
            if "image/png" in data:
                alt = (output.metadata.get("alt")  # draw_cell writes its own
                       or figure_alt(cell.source, data.get("text/plain", ""), positions))
                figure = {"caption": caption} if (caption := figure_caption(cell.source, alt, positions)) else None
                image = {"alt": alt, "scale": 100}  # scaled: Sphinx links it to the full-size file
                cell.metadata["mystnb"] = {"image": image, **({"figure": figure} if figure else {})}
            elif 'class="animation"' in data.get("text/html", ""):
                alt = figure_alt(cell.source, "", positions).replace("Figure", "Animation", 1)
                data["text/html"] = offline_player(data["text/html"], alt)
    student.cells = cells
    return student


def colab_links(text: str, repo: str, branch: str) -> str:
    """`text` with each Colab link to a notebook pointing at that notebook in `repo` on `branch`."""
    return notebook.COLAB_LINK.sub(
        lambda link: config.colab_url(link.group(0).split("/blob/", 1)[1].split("/", 1)[1], repo, branch), text)


def home_page(root: Path, stems: list[str], repo: str, branch: str, hand_in: str | None) -> str:
    """The home page's MyST Markdown: the students' page, its links pointing at the site and the release."""
    text = (root / STUDENTS_PAGE).read_text(encoding="utf-8")
    text = re.sub(r"\]\(\.\./notebooks/(\w+)\.ipynb\)", r"](\1.ipynb)", text)
    text = colab_links(text, repo, branch).replace(f"https://github.com/{config.GITHUB_REPO}", f"https://github.com/{repo}")
    if hand_in:
        text = HAND_IN_PLACE.sub(lambda _: f"**Where to hand in:** {hand_in}", text, count=1)
    contents = "\n".join(stems)
    return f"{text.rstrip()}\n\n```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{contents}\n```\n"


def sphinx_config(repo: str, branch: str, descriptions: dict[str, str]) -> dict:
    """The Sphinx settings of the site (no conf.py: everything is here)."""
    return {
        "project": PROJECT, "language": "en", "extensions": ["myst_nb", "course_tools.site"],
        "html_theme": "sphinx_book_theme", "html_title": PROJECT, "templates_path": ["_templates"],
        "html_static_path": ["_static"], "html_css_files": ["course.css"], "html_js_files": ["course.js"],
        "html_favicon": "_static/favicon.svg", "html_math_renderer": "course_svg",
        "html_use_index": False, "html_domain_indices": False, "html_show_sourcelink": False,
        "html_show_copyright": False, "html_show_sphinx": False, "html_permalinks_icon": "#",
        "nb_execution_mode": "off", "suppress_warnings": ["app"],  # registered again by a second build in one process "myst_enable_extensions": ["dollarmath"],
        "course_descriptions": descriptions, "html_context": {"default_mode": "auto"},
        "html_theme_options": {
            "repository_url": f"https://github.com/{repo}", "repository_branch": branch,
            "path_to_docs": "notebooks",  # launch buttons open notebooks/NN_name.ipynb of the release
            "launch_buttons": {"colab_url": "https://colab.research.google.com"},
            "use_repository_button": True, "use_download_button": True, "use_fullscreen_button": False,
            "home_page_in_toc": True, "show_toc_level": 2,
        },
    }


def build(out: Path, repo: str = config.GITHUB_REPO, branch: str = config.BRANCH, root: Path = config.ROOT,
          hand_in: str | None = None) -> list[Path]:
    """Write the website into `out` (emptied first); return its home page and lesson pages.

    `hand_in` replaces the students' page's paragraph on where to hand in (an instructor's own instructions)."""
    from sphinx.application import Sphinx  # imported here: the release imports this module

    solutions = sorted((root / "solutions").glob("[0-9][0-9]_*.ipynb"))
    stems = [path.stem for path in solutions]
    descriptions = {"index": HOME_DESCRIPTION}
    with tempfile.TemporaryDirectory(prefix="site-") as tmp:
        source, html_dir = Path(tmp) / "source", Path(tmp) / "html"
        (source / "_static").mkdir(parents=True)
        (source / "_templates").mkdir()
        for name in ("layout.html", "search-button-field.html"):
            shutil.copyfile(TEMPLATE / name, source / "_templates" / name)
        for name in ("course.css", "course.js", "favicon.svg"):
            shutil.copyfile(TEMPLATE / name, source / "_static" / name)
        (source / "index.md").write_text(home_page(root, stems, repo, branch, hand_in), encoding="utf-8")
        for path in solutions:
            nb = lesson_notebook(path, repo, branch)
            notebook.write(nb, source / path.name)
            descriptions[path.stem] = f"{release.lesson_title(nb)}: {lessons.by_file(path.stem).topic}."
        warnings = io.StringIO()
        app = Sphinx(source, None, html_dir, Path(tmp) / "doctrees", "html", status=None, warning=warnings,
                     freshenv=True, confoverrides=sphinx_config(repo, branch, descriptions))
        app.build()
        if warnings.getvalue():
            raise SiteError(f"Sphinx warned while building the site:\n{warnings.getvalue()}")
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(html_dir, out, ignore=shutil.ignore_patterns(".buildinfo", ".doctrees"))
    (out / "notebooks").mkdir()
    for path in solutions:  # the download button's file and notebooks/: the student notebook itself
        student = notebook.dumps(notebook.make_student(path, repo, branch))
        for copy in (out / "notebooks" / path.name, out / "_sources" / path.name):
            copy.write_text(student, encoding="utf-8")
    return [out / "index.html", *(out / f"{stem}.html" for stem in stems)]


# The Sphinx extension: equations typeset once at build time, a description per page.

class CodeLexer(PythonLexer):
    """Python with plain names, punctuation and spaces left as text: the theme colours them as text anyway, and
    a span for each would double the elements of a lesson's page (and the time a phone takes to lay it out)."""

    def get_tokens_unprocessed(self, text):
        for index, token, value in super().get_tokens_unprocessed(text):
            yield index, Text if token in (Name, Punctuation, Whitespace) else token, value


def _collect_math(app, doctree) -> None:
    found = app.env.__dict__.setdefault("course_math", set())
    found.update((node.astext(), isinstance(node, nodes.math_block))
                 for node in doctree.findall(lambda n: isinstance(n, (nodes.math, nodes.math_block))))


def _typeset_math(app, env) -> None:
    """Typeset every equation of the site in one run of the pinned MathJax; add the style it needs to course.css."""
    equations = sorted(env.__dict__.get("course_math", set()))
    node = shutil.which("node")
    if node is None:
        raise SiteError("Node.js is missing: the site typesets its equations with it (install it, then `npm ci`).")
    try:
        result = subprocess.run([node, str(TEMPLATE / "tex2svg.js")], input=json.dumps(equations), text=True,
                                capture_output=True, check=True, cwd=config.ROOT)
    except subprocess.CalledProcessError as error:
        raise SiteError(f"MathJax failed (run `npm ci` for the pinned packages):\n{error.stderr}") from error
    typeset = json.loads(result.stdout)
    env.course_svg = dict(zip(equations, typeset["svg"]))
    failed = [tex for (tex, _), svg in env.course_svg.items() if any(sign in svg for sign in MATH_ERRORS)]
    if failed:
        raise SiteError(f"MathJax cannot typeset: {failed}")
    style = Path(app.srcdir) / "_static" / "course.css"
    style.write_text(f"{style.read_text(encoding='utf-8')}\n/* MathJax's SVG output */\n{typeset['css']}", encoding="utf-8")


def _visit_math(self, node) -> None:
    svg = self.builder.env.course_svg[(node.astext(), False)]
    if float(re.search(r'width="([\d.]+)ex"', svg).group(1)) > WIDE_INLINE_MATH:
        svg = f'<span class="math-wide" tabindex="0">{svg}</span>'
    self.body.append(svg)
    raise nodes.SkipNode


def _visit_folded_cell(self, node) -> None:
    """myst-nb's folded cell, its toggle named by its visible text ("Show code cell source")."""
    self.body.append(f'<details class="admonition hide {" ".join(node["classes"])}">\n<summary>\n'
                     f'<p class="collapsed admonition-title">{html.escape(node["prompt_show"])}</p>\n'
                     f'<p class="expanded admonition-title">{html.escape(node["prompt_hide"])}</p>\n</summary>\n')


def _visit_display_math(self, node) -> None:
    """A display equation in a box that scrolls sideways (focusable by keyboard) when wider than the column."""
    self.body.append(self.starttag(node, "div", CLASS="math-display", tabindex="0"))
    self.body.append(self.builder.env.course_svg[(node.astext(), True)] + "</div>\n")
    raise nodes.SkipNode


def _page_context(app, pagename, templatename, context, doctree) -> None:
    """A page's description for search engines; its script files deferred, so they do not hold up its first paint
    (except on the search page, whose inline scripts use them at once)."""
    description = app.config.course_descriptions.get(pagename)
    if description:
        context["metatags"] = context.get("metatags", "") + f'\n<meta name="description" content="{html.escape(description)}">'
    if pagename == "search":
        return
    context["script_files"] = [
        script if "body" in script.attributes or "async" in script.attributes
        else type(script)(script.filename, priority=script.priority, **{**script.attributes, "defer": "defer"})
        for script in context["script_files"]]


def setup(app):
    from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput

    app.add_node(HideCodeCellNode, override=True, html=(_visit_folded_cell, depart_HideCellInput))
    app.add_config_value("course_descriptions", {}, "html")
    app.add_lexer("python", CodeLexer)
    app.add_html_math_renderer("course_svg", (_visit_math, None), (_visit_display_math, None))
    app.connect("doctree-read", _collect_math)
    app.connect("env-updated", _typeset_math)
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": False, "parallel_write_safe": True}


def pages_workflow(branch: str = config.BRANCH) -> str:
    """The release's GitHub Pages workflow (.github/workflows/pages.yml), publishing its site/ from `branch`."""
    return (TEMPLATE / "pages.yml").read_text(encoding="utf-8").replace("branches: [main]", f"branches: [{branch}]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the course website.")
    parser.add_argument("out", type=Path, help="folder to write (emptied first), e.g. build/site")
    parser.add_argument("--repo", default=config.GITHUB_REPO, help="the student release, owner/name")
    parser.add_argument("--branch", default=config.BRANCH)
    parser.add_argument("--hand-in", help="where and how students hand in (Markdown), for the home page")
    arguments = parser.parse_args(argv)
    pages = build(arguments.out, arguments.repo, arguments.branch, hand_in=arguments.hand_in)
    print(f"{len(pages)} pages written to {arguments.out}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
