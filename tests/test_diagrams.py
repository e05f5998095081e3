"""Cell diagrams: each caption states its lesson's equations, symbol for symbol, and each stored drawing is current."""
import base64
import re
import struct

import pytest

import model_utils as mu
from conftest import ROOT
from course_tools import notebook

# The lesson whose text gives each diagram's equations.
LESSON_OF = {"rnn": "01_rnn_basics", "lstm": "02_lstm", "gru": "03_gru", "convlstm": "04_convlstm",
             "seq2seq": "06_generation_attention"}
SIZING = r"\\(?:big|Big|bigg|Bigg|left|right)(?![a-zA-Z])|\\[,;! ]"


def normalised(latex: str) -> str:
    """One equation with layout removed: alignment marks, sizing commands, spaces and end punctuation."""
    latex = re.sub(SIZING, "", latex.replace("&", ""))
    return re.sub(r"\s+", "", latex).rstrip(",.;")


def lesson_equations(stem: str) -> set:
    """Every equation in a lesson's markdown: display rows and the parts a \\qquad or \\quad separates."""
    markdown = "\n".join(c.source for c in notebook.read(ROOT / "solutions" / f"{stem}.ipynb").cells
                         if c.cell_type == "markdown")
    equations = set()
    for math in re.findall(r"\$\$(.+?)\$\$|\$([^$\n]+)\$", markdown, flags=re.S):
        body = re.sub(r"\\(?:begin|end)\{aligned\}", "", "".join(math))
        for row in re.split(r"\\\\", body):
            row = re.sub(r"&&.*", "", row)  # the comment column of an aligned row
            row = re.sub(r"\\text\{[^}]*\}", "", row)
            equations.update(normalised(part) for part in re.split(r"\\qquad|\\quad", row))
    return equations


@pytest.mark.parametrize("kind", sorted(LESSON_OF))
def test_each_caption_equation_is_written_so_in_its_lesson(kind):
    written = lesson_equations(LESSON_OF[kind])
    missing = [equation for equation in mu.cell_equations(kind) if normalised(equation) not in written]
    assert not missing, f"{LESSON_OF[kind]}'s markdown does not state the {kind} diagram's {missing}"


def test_the_comparison_ignores_layout_but_not_symbols():
    assert normalised(r"h_t &= z_t \odot h_{t-1} + \big(1 - z_t\big) \odot \tilde h_t,") == \
        normalised(r"h_t = z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t")
    assert normalised(r"h_t = (1 - z_t) \odot h_{t-1} + z_t \odot \tilde h_t") != \
        normalised(r"h_t = z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t")
    assert normalised(r"f_t = \sigma(W_f [h_{t-1}, x_t] + b_f)") != normalised(r"f_t = \sigma(W_f [x_t, h_{t-1}] + b_f)")


def test_the_gru_caption_keeps_the_old_state_with_z_and_resets_before_the_candidate():
    equations = mu.cell_equations("gru")
    assert r"h_t = z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t" in equations
    assert r"\tilde h_t = \tanh(x_t W_h + (r_t \odot h_{t-1}) U_h + b_h)" in equations
    reads = {start for start, end, *_ in mu._CELL_DIAGRAMS["gru"]["edges"] if end == "candidate"}
    assert reads == {"reset", "x"}, "the candidate reads x_t and r_t * h_{t-1}, never the un-reset h_{t-1}"


def test_the_attention_score_reads_the_decoder_state():
    edges = {(start, end) for start, end, *_ in mu._CELL_DIAGRAMS["seq2seq"]["edges"]}
    assert ("s2", "score") in edges and {(f"h{i}", "score") for i in range(1, 5)} <= edges


@pytest.mark.parametrize("stem", sorted(set(LESSON_OF.values())))
def test_each_stored_diagram_is_drawn_by_the_current_code_at_150_dpi(stem):
    for cell in notebook.read(ROOT / "solutions" / f"{stem}.ipynb").cells:
        call = re.search(r"mu\.draw_cell\(([^)]*)\)", cell.source)
        if not call:
            continue
        kinds = re.findall(r'"(\w+)"', call.group(1))
        [shown] = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        assert shown["metadata"]["alt"] == mu.diagram_alt_text(*kinds), f"{stem}: rerun the lesson to store the diagram"
        png = base64.b64decode(shown["data"]["image/png"])
        width, height = struct.unpack(">II", png[16:24])
        assert width >= mu._DIAGRAM_WIDTH_INCHES * 150 and shown["metadata"]["image/png"]["width"] == 800
