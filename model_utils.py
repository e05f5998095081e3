"""Helpers shared by the sequence-models course notebooks.

Seeding, profiles, metrics, exercise checks, callbacks, plots, forecasting windows, the
course's synthetic data, and the real datasets behind one verified data resolver.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import importlib.util
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import warnings
import zipfile
from pathlib import Path
from types import SimpleNamespace


@contextlib.contextmanager
def _stderr_silenced():
    """Send the process's stderr (file descriptor 2, where C++ libraries write) to the null device."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


# TensorFlow's C++ log lines (`E0000 ...` graph warnings) would fill the lessons' outputs; a lower
# level set by the caller (a test runner, a hosted runtime) would let them through, so the level is
# set here, before TensorFlow is imported. The import itself writes start-up notices before any
# level applies ("oneDNN custom operations are on", on CPUs with AVX-512 VNNI), so it runs with
# stderr silenced; an import error still raises as usual.
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
with _stderr_silenced():
    import keras  # noqa: E402
    import tensorflow as tf  # noqa: E402

import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from course_tools.handin import exercise_check, hand_in  # noqa: E402,F401 - graded checks hand their values to the grader

COURSE_ROOT = Path(__file__).resolve().parent
MANIFEST_PATH = COURSE_ROOT / "data" / "manifest.json"
DATA_DIR_ENV = "COURSE_DATA_DIR"
CACHE_DIR_ENV = "COURSE_CACHE_DIR"
RUN_DIR_ENV = "COURSE_RUN_DIR"
METRICS_FILE_ENV = "COURSE_METRICS_FILE"
PROFILE_ENV = "COURSE_PROFILE"
PROFILES = ("full", "smoke")

# Retracing notices when several models predict in one notebook are expected here.
tf.get_logger().setLevel("ERROR")
# Keras warns that fit() ignores `shuffle` for tf.data input; the course's datasets shuffle themselves.
warnings.filterwarnings("ignore", message=r"`shuffle=True` was passed")
# Figures at modest resolution keep the committed notebooks small.
matplotlib.rcParams["figure.dpi"] = 72
matplotlib.rcParams["figure.figsize"] = (8, 4)


# ---------------------------------------------------------------- seeding, profiles, runs

def set_seed(seed: int = 42) -> None:
    """Seed Python, NumPy and TensorFlow (`keras.utils.set_random_seed`) and make TensorFlow ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def profile_settings(profile: str, *, full: dict, smoke: dict) -> SimpleNamespace:
    """Return the sizes for `profile` ("full" or "smoke") as attributes; `COURSE_PROFILE`, when set, wins."""
    profile = os.environ.get(PROFILE_ENV) or profile
    if profile not in PROFILES:
        raise ValueError(f"Unknown profile {profile!r}: use one of {', '.join(PROFILES)}.")
    if set(full) != set(smoke):
        raise ValueError(f"Profiles name different settings: {sorted(set(full) ^ set(smoke))}.")
    return SimpleNamespace(**(full if profile == "full" else smoke))


def run_dir() -> Path:
    """The folder where this run writes its files, such as saved models (`COURSE_RUN_DIR` or build/runs)."""
    path = Path(os.environ.get(RUN_DIR_ENV) or COURSE_ROOT / "build" / "runs")
    path.mkdir(parents=True, exist_ok=True)
    return path


def record_metrics(**values: float) -> None:
    """Show key results and, when the course runner asks for them, append them to its file."""
    if not values:
        raise ValueError("record_metrics needs at least one name=value.")
    metrics = {}
    for name, value in values.items():
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"Metric {name} is {number}: only finite numbers can be recorded.")
        metrics[name] = number
    width = max(map(len, metrics))
    for name, number in metrics.items():
        print(f"{name:<{width}}  {number:.6g}")
    target = os.environ.get(METRICS_FILE_ENV)
    if target:
        with open(target, "a", encoding="utf-8") as f:
            f.write(json.dumps(metrics) + "\n")


def announce_saved(path, what: str) -> Path:
    """Print where a file the student should keep is (relative to the notebook's folder when inside it, so the
    printed path is the same on every machine) and, in Colab, how to download it; returns its full path."""
    path = Path(path).resolve()
    shown = path.relative_to(Path.cwd().resolve()) if path.is_relative_to(Path.cwd().resolve()) else path
    print(f"{what}: {shown} ({path.stat().st_size / 1e6:.2f} MB)")
    if "google.colab" in sys.modules:
        print(f"  Colab deletes it with the runtime: download it from the file browser on the left, or run "
              f"`from google.colab import files; files.download({str(shown)!r})`")
    return path


# ---------------------------------------------------------------- callbacks

def early_stopping(patience: int = 3) -> keras.callbacks.EarlyStopping:
    """A fresh callback that stops when validation loss stalls and keeps the best epoch's weights."""
    return keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience, restore_best_weights=True)


# ---------------------------------------------------------------- plots

def plot_loss_and_accuracy(history, title: str | None = None):
    """Plot loss and accuracy curves (training and validation) from a History or a dict."""
    logs = history.history if hasattr(history, "history") else dict(history)
    panels = [key for key in ("loss", "accuracy") if key in logs or f"val_{key}" in logs]
    if not panels:
        raise ValueError(f"Nothing to plot: expected loss or accuracy, found {sorted(logs)}.")
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.5), squeeze=False)
    for ax, key in zip(axes[0], panels):
        for name, style in ((key, "-"), (f"val_{key}", "--")):
            if name in logs:
                ax.plot(range(1, len(logs[name]) + 1), logs[name], style, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_series(x, series: dict, title: str = "", xlabel: str = "time", ylabel: str = "value"):
    """Plot several curves that share an x axis, for example truth against forecasts."""
    fig, ax = plt.subplots()
    for label, y in series.items():
        ax.plot(x, y, label=label, linewidth=1)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true, y_pred, labels=None, title: str = "Confusion matrix"):
    """Plot a confusion matrix with counts in each cell."""
    from sklearn.metrics import ConfusionMatrixDisplay

    display = ConfusionMatrixDisplay.from_predictions(
        y_true, y_pred, display_labels=labels, cmap="Blues", colorbar=False
    )
    display.ax_.set_title(title)
    display.figure_.set_size_inches(4, 4)
    display.figure_.tight_layout()
    return display.figure_


# ---------------------------------------------------------------- cell diagrams

# How each role is drawn: learned layers are square boxes, pointwise operations ellipses, states, inputs and outputs
# rounded boxes of their own colours, and a concatenation a dot where arrows join.
_ROLE_STYLES = {
    "layer": {"boxstyle": "square,pad=0.35", "facecolor": "#cfe3f5", "edgecolor": "#1f4e79", "linewidth": 1.6},
    "op": {"boxstyle": "ellipse,pad=0.1", "facecolor": "#ffffff", "edgecolor": "0.25", "linewidth": 1.0},
    "state": {"boxstyle": "round,pad=0.35", "facecolor": "#d7efd2", "edgecolor": "#2e6b2e", "linewidth": 1.0},
    "input": {"boxstyle": "round,pad=0.35", "facecolor": "#fde9c9", "edgecolor": "#9a5b00", "linewidth": 1.0},
    "join": {"boxstyle": "circle,pad=0.18", "facecolor": "0.15", "edgecolor": "0.15", "linewidth": 1.0},
    "output": {"boxstyle": "round,pad=0.35", "facecolor": "#f6d3d3", "edgecolor": "#8a2b2b", "linewidth": 1.0},
}
_LEGEND = {"layer": "learned layer (weights)", "op": "pointwise operation", "state": "state", "input": "input",
           "join": "concatenation", "output": "output"}
# Drawn 8 inches wide at 150 dpi and shown 800 px wide (a notebook column): 9-point text is then 12.5 px high.
_DIAGRAM_DPI = 150
_DIAGRAM_WIDTH_INCHES = 8
_DIAGRAM_DISPLAY_PIXELS = 800


def _gated_cell(title: str, symbols: dict, equations: list, note: str) -> dict:
    """The LSTM's picture, for the LSTM and the ConvLSTM: the cell state along the top, four learned gate layers
    reading the input and the previous hidden state, and the pointwise products and sums between them."""
    s = symbols
    return {
        "title": title, "equations": equations, "note": note, "height": 4.6,
        "nodes": {"c_prev": (0, 4, s["c_prev"], "state"), "forget": (2, 4, s["times"], "op"),
                  "add": (4.4, 4, "+", "op"), "c": (7.6, 4, s["c"], "state"),
                  "f": (1, 1.3, s["f"], "layer"), "i": (2.8, 1.3, s["i"], "layer"),
                  "candidate": (4.6, 1.3, s["candidate"], "layer"), "o": (6.4, 1.3, s["o"], "layer"),
                  "write": (4.4, 2.6, s["times"], "op"), "squash": (6.4, 3.25, "tanh", "op"),
                  "read": (6.4, 2.3, s["times"], "op"),
                  "h": (7.6, 1.3, s["h"], "state"), "join": (3.7, 0.05, " ", "join"),
                  "h_prev": (0, 0.05, s["h_prev"], "state"), "x": (3.7, -1.1, s["x"], "input")},
        "edges": [("c_prev", "forget"), ("forget", "add"), ("add", "c"), ("add", "squash"),
                  ("f", "forget", {"label": s["f_short"]}), ("i", "write", {"label": s["i_short"]}),
                  ("candidate", "write", {"label": s["candidate_short"]}), ("write", "add"),
                  ("squash", "read"), ("o", "read", {"label": s["o_short"]}), ("read", "h"),
                  ("h_prev", "join"), ("x", "join"),
                  *[("join", gate) for gate in ("f", "i", "candidate", "o")]],
    }


_CELL_DIAGRAMS = {
    "rnn": {
        "title": "A SimpleRNN unrolled over four steps: one cell, the same weights at every step",
        "equations": [[r"h_t = \tanh(W_x x_t + W_h h_{t-1} + b)", r"h_0 = 0"]],
        "note": "the layer returns $h_4$, or every $h_t$ with return_sequences=True",
        "height": 2.6,
        "nodes": {"h0": (0, 1, "$h_0$", "state"),
                  **{f"x{t}": (2 * t - 1, 0, f"$x_{t}$", "input") for t in range(1, 5)},
                  **{f"cell{t}": (2 * t - 1, 1, "tanh", "layer") for t in range(1, 5)},
                  **{f"h{t}": (2 * t, 1, f"$h_{t}$", "state") for t in range(1, 5)}},
        "edges": [*[(f"h{t - 1}", f"cell{t}", {"label": "$W_h$", "label_offset": (0, 0.3)}) for t in range(1, 5)],
                  *[(f"x{t}", f"cell{t}", {"label": "$W_x$"}) for t in range(1, 5)],
                  *[(f"cell{t}", f"h{t}") for t in range(1, 5)]],
    },
    "lstm": _gated_cell(
        "An LSTM cell: four learned layers, and a cell state touched only by a product and a sum",
        {"times": r"$\odot$", "c_prev": "$C_{t-1}$", "c": "$C_t$", "h_prev": "$h_{t-1}$", "h": "$h_t$", "x": "$x_t$",
         "f": r"$\sigma$", "i": r"$\sigma$", "candidate": r"$\tanh$", "o": r"$\sigma$",
         "f_short": "$f_t$", "i_short": "$i_t$", "candidate_short": r"$\tilde C_t$", "o_short": "$o_t$"},
        [[r"f_t = \sigma(W_f [x_t, h_{t-1}] + b_f)", r"i_t = \sigma(W_i [x_t, h_{t-1}] + b_i)",
          r"o_t = \sigma(W_o [x_t, h_{t-1}] + b_o)"],
         [r"\tilde C_t = \tanh(W_C [x_t, h_{t-1}] + b_C)", r"C_t = f_t \odot C_{t-1} + i_t \odot \tilde C_t",
          r"h_t = o_t \odot \tanh(C_t)"]],
        "each learned layer reads the concatenation $[x_t, h_{t-1}]$"),
    "gru": {
        "title": "A GRU cell: two gates, one state; $z_t$ keeps the old state, $1 - z_t$ lets the candidate in",
        "equations": [[r"z_t = \sigma(x_t W_z + h_{t-1} U_z + b_z)", r"r_t = \sigma(x_t W_r + h_{t-1} U_r + b_r)"],
                      [r"\tilde h_t = \tanh(x_t W_h + (r_t \odot h_{t-1}) U_h + b_h)",
                       r"h_t = z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t"]],
        "note": r"the gates read $x_t$ and $h_{t-1}$; the candidate reads $x_t$ and only the reset $r_t \odot h_{t-1}$",
        "height": 4.6,
        "nodes": {"h_prev": (0, 4, "$h_{t-1}$", "state"), "keep": (5.2, 4, r"$\odot$", "op"),
                  "add": (6.6, 4, "+", "op"), "h": (7.8, 4, "$h_t$", "state"), "r": (1.0, 1.3, r"$\sigma$", "layer"),
                  "reset": (1.0, 2.6, r"$\odot$", "op"), "candidate": (3.2, 1.3, r"$\tanh$", "layer"),
                  "z": (5.2, 1.3, r"$\sigma$", "layer"), "flip": (6.6, 1.3, "1−", "op"),
                  "mix": (6.6, 2.6, r"$\odot$", "op"), "join": (2.0, 0.05, " ", "join"),
                  "x": (2.9, -1.1, "$x_t$", "input")},
        "edges": [("h_prev", "keep"), ("keep", "add"), ("add", "h"), ("h_prev", "reset"),
                  ("h_prev", "join", {"style": "angle,angleA=-90,angleB=180,rad=0"}),
                  ("x", "join"), ("join", "r"), ("join", "z"),
                  ("r", "reset", {"label": "$r_t$"}), ("reset", "candidate", {"label": r"$r_t \odot h_{t-1}$"}),
                  ("x", "candidate"), ("z", "keep", {"label": "$z_t$", "label_offset": (0, 0.6)}), ("z", "flip"),
                  ("flip", "mix", {"label": "$1 - z_t$"}),
                  ("candidate", "mix", {"label": r"$\tilde h_t$", "label_offset": (-0.7, 0.65),
                                        "style": "angle,angleA=90,angleB=180,rad=0"}),
                  ("mix", "add")],
    },
    "convlstm": _gated_cell(
        "A ConvLSTM cell: the LSTM's picture with every learned layer a k × k convolution",
        {"times": r"$\circ$", "c_prev": r"$\mathcal{C}_{t-1}$", "c": r"$\mathcal{C}_t$",
         "h_prev": r"$\mathcal{H}_{t-1}$", "h": r"$\mathcal{H}_t$",
         "x": r"$\mathcal{X}_t$" + "\n(rows, cols, channels)",
         "f": "conv, $\\sigma$", "i": "conv, $\\sigma$", "candidate": "conv, $\\tanh$", "o": "conv, $\\sigma$",
         "f_short": "$f_t$", "i_short": "$i_t$", "candidate_short": r"$\tilde{\mathcal{C}}_t$", "o_short": "$o_t$"},
        [[r"i_t = \sigma(W_{xi} * \mathcal{X}_t + W_{hi} * \mathcal{H}_{t-1} + b_i)",
          r"f_t = \sigma(W_{xf} * \mathcal{X}_t + W_{hf} * \mathcal{H}_{t-1} + b_f)"],
         [r"\tilde{\mathcal{C}}_t = \tanh(W_{xc} * \mathcal{X}_t + W_{hc} * \mathcal{H}_{t-1} + b_c)",
          r"o_t = \sigma(W_{xo} * \mathcal{X}_t + W_{ho} * \mathcal{H}_{t-1} + b_o)"],
         [r"\mathcal{C}_t = f_t \circ \mathcal{C}_{t-1} + i_t \circ \tilde{\mathcal{C}}_t",
          r"\mathcal{H}_t = o_t \circ \tanh(\mathcal{C}_t)"]],
        "states and gate maps are (rows, cols, filters); the four convolutions give 4 × filters maps"),
}
_ENCODER_X = (0, 1.6, 3.2, 4.8)
_DECODER_X = (7.4, 9.0, 10.6)
_CELL_DIAGRAMS["seq2seq"] = {
    "title": "An encoder-decoder with dot-product attention, drawn at output step t = 2",
    "equations": [[r"e_{t,i} = s_t \cdot h_i", r"\alpha_{t,i} = \frac{\exp(e_{t,i})}{\sum_{j=1}^{T} \exp(e_{t,j})}",
                   r"c_t = \sum_{i=1}^{T} \alpha_{t,i}\, h_i"]],
    "note": r"$h_i = [\overrightarrow{h}_i; \overleftarrow{h}_i]$, the forward and backward GRU states at $i$; "
            "the output at step $t$ is read\n"
            r"from $[s_t; c_t]$; line widths show made-up weights $\alpha_{2,i}$, not a trained model's",
    "height": 5.4,
    "nodes": {**{f"x{i}": (x, 0, f"$x_{i}$", "input") for i, x in enumerate(_ENCODER_X, 1)},
              **{f"enc{i}": (x, 1.2, "GRU", "layer") for i, x in enumerate(_ENCODER_X, 1)},
              **{f"h{i}": (x, 2.4, f"$h_{i}$", "state") for i, x in enumerate(_ENCODER_X, 1)},
              **{f"y_in{t}": (x, 0, "start" if t == 1 else f"$y_{t - 1}$", "input")
                 for t, x in enumerate(_DECODER_X, 1)},
              **{f"dec{t}": (x, 1.2, "GRU", "layer") for t, x in enumerate(_DECODER_X, 1)},
              **{f"s{t}": (x, 2.4, f"$s_{t}$", "state") for t, x in enumerate(_DECODER_X, 1)},
              "score": (6.2, 3.6, "dot", "op"), "softmax": (6.2, 4.8, "softmax", "op"),
              "sum": (2.4, 4.8, "Σ", "op"), "context": (2.4, 6.0, "$c_2$", "state"),
              "join": (9.0, 6.0, " ", "join"), "dense": (10.8, 6.0, "Dense,\nsoftmax", "layer"),
              "y2": (12.2, 6.0, "$y_2$", "output")},
    "edges": [*[(f"x{i}", f"enc{i}") for i in range(1, 5)], *[(f"enc{i}", f"h{i}") for i in range(1, 5)],
              *[(f"enc{i}", f"enc{i + 1}", {"style": "arc3,rad=0.35"}) for i in range(1, 4)],
              *[(f"enc{i + 1}", f"enc{i}", {"style": "arc3,rad=0.35"}) for i in range(1, 4)],
              ("enc4", "dec1", {"label": r"$s_0 = [\overrightarrow{h}_4; \overleftarrow{h}_1]$",
                                "label_offset": (0, -0.45)}),
              *[(f"y_in{t}", f"dec{t}") for t in range(1, 4)], *[(f"dec{t}", f"s{t}") for t in range(1, 4)],
              *[(f"dec{t}", f"dec{t + 1}") for t in range(1, 3)],
              *[(f"h{i}", "score", {"width": 0.6, "color": "0.6"}) for i in range(1, 5)],
              ("s2", "score", {"label": "$s_2$"}), ("score", "softmax", {"label": "$e_{2,i}$"}),
              ("softmax", "sum", {"label": r"$\alpha_{2,i}$"}),
              *[(f"h{i}", "sum", {"width": width}) for i, width in zip(range(1, 5), (0.5, 3.2, 1.0, 0.4))],
              ("sum", "context"), ("context", "join"), ("s2", "join"),
              ("join", "dense", {"label": "$[s_2; c_2]$", "label_offset": (-0.3, -0.4)}),
              ("dense", "y2")],
}


def _plain(latex: str) -> str:
    """A LaTeX formula as plain text for alt text: h_t = tanh(W_x x_t + ...), C~_t, ⊙, σ, (a) / (b)."""
    while r"\frac{" in latex:  # \frac{a}{b} -> (a) / (b); a and b may hold braces
        start = latex.index(r"\frac{")
        parts, end = [], start + len(r"\frac")
        for _ in range(2):
            depth, begin = 0, end
            for end in range(begin, len(latex)):
                depth += {"{": 1, "}": -1}.get(latex[end], 0)
                if depth == 0:
                    break
            parts.append(latex[begin + 1:end])
            end += 1
        latex = f"{latex[:start]}({parts[0]}) / ({parts[1]}){latex[end:]}"
    for pattern, replacement in [(r"\\mathcal\{(\w)\}", r"\1"), (r"\\mathrm\{(\w+)\}", r"\1"),
                                 (r"\\tilde\s*\{?(\w)\}?", r"\1~"), (r"\\overrightarrow\{(\w)\}", r"\1→"),
                                 (r"\\overleftarrow\{(\w)\}", r"\1←"), (r"\\sigma", "σ"), (r"\\odot", "⊙"),
                                 (r"\\circ", "∘"), (r"\\alpha", "α"), (r"\\sum", "Σ"), (r"\\cdot", "·"),
                                 (r"\\(tanh|exp)", r"\1"), (r"\\,", ""), (r"(?<![_^])\{([^{}]*)\}", r"\1"),
                                 (r"\$", ""), ("\n", " ")]:
        latex = re.sub(pattern, replacement, latex)
    return latex


def cell_equations(kind: str) -> list:
    """The equations a diagram's caption states, in LaTeX, as its lesson's markdown writes them."""
    return [equation for row in _CELL_DIAGRAMS[kind]["equations"] for equation in row]


def _draw_diagram(ax, spec: dict) -> None:
    boxes = {name: ax.text(x, y, label, ha="center", va="center", fontsize=10, zorder=3, bbox=_ROLE_STYLES[role])
             for name, (x, y, label, role) in spec["nodes"].items()}
    for start, end, *options in spec["edges"]:
        style = options[0] if options else {}
        ax.annotate("", xy=boxes[end].get_position(), xytext=boxes[start].get_position(), zorder=2, arrowprops={
            "arrowstyle": "-" if spec["nodes"][end][3] == "join" else "-|>", "color": style.get("color", "0.3"),
            "lw": style.get("width", 1.2), "shrinkA": 1, "shrinkB": 1, "connectionstyle": style.get("style", "arc3"),
            "patchA": boxes[start].get_bbox_patch(), "patchB": boxes[end].get_bbox_patch()})
        if "label" in style:
            (x0, y0), (x1, y1), (dx, dy) = (boxes[start].get_position(), boxes[end].get_position(),
                                            style.get("label_offset", (0, 0)))
            ax.text((x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy, style["label"], ha="center", va="center", fontsize=10,
                    zorder=4, bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "edgecolor": "none"})
    xs, ys = zip(*[(x, y) for x, y, *_ in spec["nodes"].values()])
    ax.set(xlim=(min(xs) - 0.7, max(xs) + 0.7), ylim=(min(ys) - 0.5, max(ys) + 0.5), xticks=[], yticks=[])
    ax.set_title(spec["title"], fontsize=11, loc="left", pad=26)
    caption = "\n".join(",   ".join(f"${equation}$" for equation in row) for row in spec["equations"])
    caption = caption.replace(r"\frac", r"\dfrac")  # a fraction as large as the text around it
    ax.set_xlabel(f"{caption}\n{spec['note']}", fontsize=10)
    roles = {role for *_, role in spec["nodes"].values()}
    ax.legend(handles=[matplotlib.lines.Line2D(
        [], [], linestyle="none", marker="o" if role in ("op", "join") else "s", markersize=5 if role == "join" else 11,
        markerfacecolor=_ROLE_STYLES[role]["facecolor"], markeredgecolor=_ROLE_STYLES[role]["edgecolor"],
        label=_LEGEND[role]) for role in _LEGEND if role in roles],
        loc="lower left", bbox_to_anchor=(0, 1.0), ncol=len(roles), fontsize=9, frameon=False,
        handletextpad=0.3, columnspacing=1.2, borderaxespad=0.1)
    for side in ax.spines.values():
        side.set_visible(False)


def cell_diagram(*kinds: str):
    """A figure of the named cells one above the other, from "rnn", "lstm", "gru", "convlstm", "seq2seq"."""
    unknown = [kind for kind in kinds if kind not in _CELL_DIAGRAMS]
    if not kinds or unknown:
        raise ValueError(f"No diagram of {', '.join(map(repr, unknown)) or 'nothing'}: name one or more of "
                         f"{', '.join(_CELL_DIAGRAMS)} (two, one above the other: draw_cell(\"gru\", \"lstm\")).")
    heights = [_CELL_DIAGRAMS[kind]["height"] for kind in kinds]
    fig, axes = plt.subplots(len(kinds), 1, figsize=(_DIAGRAM_WIDTH_INCHES, sum(heights)), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, kind in zip(axes[:, 0], kinds):
        _draw_diagram(ax, _CELL_DIAGRAMS[kind])
    fig.tight_layout()
    return fig


def diagram_alt_text(*kinds: str) -> str:
    """What the diagrams show, in words and formulas, for readers who cannot see them."""
    texts = []
    for kind in kinds:
        spec = _CELL_DIAGRAMS[kind]
        roles = {role for *_, role in spec["nodes"].values()}
        legend = ", ".join(_LEGEND[role] for role in _LEGEND if role in roles)
        texts.append(f"Diagram: {_plain(spec['title'])}. Formula: {'; '.join(map(_plain, cell_equations(kind)))}; "
                     f"{_plain(spec['note'])}. Legend: {legend}.")
    return " ".join(texts)


def draw_cell(*kinds: str) -> None:
    """Show `cell_diagram(*kinds)` with its alt text: drawn in the notebook, so Colab, JupyterLab and GitHub
    show it with no image file and no network."""
    from IPython.display import display

    fig = cell_diagram(*kinds)
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=_DIAGRAM_DPI)
    plt.close(fig)
    alt = diagram_alt_text(*kinds)
    display({"image/png": png.getvalue(), "text/plain": alt}, raw=True,
            metadata={"alt": alt, "image/png": {"width": _DIAGRAM_DISPLAY_PIXELS}})


# ---------------------------------------------------------------- sequences

def paired_comparison(errors_a, errors_b) -> tuple[float, float, int]:
    """Two forecasts' errors on the same steps, compared step by step: the mean difference of their absolute errors
    (a's minus b's), two standard errors of that mean, and the verdict: 1 when a's errors are lower beyond that
    margin, -1 when b's are, 0 for a tie. The one rule by which the lessons call one forecast better than another."""
    difference = np.abs(np.asarray(errors_a, "float64")) - np.abs(np.asarray(errors_b, "float64"))
    mean, margin = float(difference.mean()), float(2 * difference.std(ddof=1) / np.sqrt(len(difference)))
    return mean, margin, 0 if abs(mean) <= margin else (1 if mean < 0 else -1)


def input_gradient_norms(model, x) -> np.ndarray:
    """Mean |d prediction / d x_t| over the sequences in x, one value per time step."""
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        prediction = model(x)
    return np.linalg.norm(tape.gradient(prediction, x).numpy(), axis=2).mean(axis=0)


def windows(series, window: int):
    """Inputs (the `window` values before t) and targets (the value at t) for every t of a 1-D series.

    Returns NumPy arrays of shape (n, window, 1) and (n,), n = len(series) - window, in time order
    (`sliding_window_view`, no copy). `model.fit(inputs, targets)` shuffles them every epoch,
    seeded by `set_seed`.
    """
    values = np.asarray(series, dtype="float32")
    if values.ndim != 1:
        raise ValueError(f"series must be 1-D, got shape {values.shape}.")
    if not 0 < window < len(values):
        raise ValueError(f"window must be positive and the series longer than it: got window {window} "
                         f"for {len(values)} values.")
    rows = np.lib.stride_tricks.sliding_window_view(values, window + 1)
    return rows[:, :-1, np.newaxis], rows[:, -1]


def synthetic_series(n_steps: int = 4 * 365 + 1, baseline: float = 10.0, slope: float = 0.05,
                     amplitude: float = 40.0, period: int = 365, noise_level: float = 5.0,
                     seed: int = 42):
    """Trend + seasonality + noise, the series used across TensorFlow courses.

    Returns (time, series) as float32 arrays.
    """
    time = np.arange(n_steps, dtype="float32")
    season_time = ((time + 1) % period) / period
    pattern = np.where(season_time < 0.4, np.cos(season_time * 2 * np.pi), 1 / np.exp(3 * season_time))
    noise = np.random.default_rng(seed).standard_normal(n_steps) * noise_level
    series = baseline + slope * time + amplitude * pattern + noise
    return time, series.astype("float32")


def adding_problem(n_samples: int, length: int, seed: int = 0):
    """The adding problem (proposed by Hochreiter & Schmidhuber 1997), in the form of Le et al. 2015.

    Each sequence has two channels: random values in [0, 1) and a marker that is 1 at two
    positions (one in each half). The target is the sum of the two marked values.
    Returns x of shape (n_samples, length, 2) and y of shape (n_samples,).
    """
    if n_samples <= 0 or length < 2:
        raise ValueError(f"Need n_samples > 0 and length >= 2, got {n_samples} and {length}.")
    rng = np.random.default_rng(seed)
    values = rng.random((n_samples, length), dtype="float32")
    markers = np.zeros_like(values)
    rows = np.arange(n_samples)
    half = length // 2
    markers[rows, rng.integers(0, half, n_samples)] = 1.0
    markers[rows, rng.integers(half, length, n_samples)] = 1.0
    x = np.stack([values, markers], axis=-1)
    y = (values * markers).sum(axis=1)
    return x, y


def install_lesson_package(name: str) -> None:
    """Install the course's pin of a package that only one lesson needs (gensim), if it is missing."""
    if importlib.util.find_spec(name) is not None:
        return
    script = COURSE_ROOT / "course_tools" / "install_missing.py"
    if subprocess.run([sys.executable, str(script), name]).returncode != 0:
        raise RuntimeError(f"Could not install {name}. Install the version pinned in "
                           f"{COURSE_ROOT / 'requirements-runtime.txt'} with pip, then run this cell again.")
    importlib.invalidate_caches()


# ---------------------------------------------------------------- data resolver

class DataError(RuntimeError):
    """A dataset file failed its checksum or could not be provided."""


class DataUnavailableError(DataError):
    """No verified copy of a dataset file is here and none could be downloaded."""


def load_manifest() -> dict:
    """The dataset manifest: file name -> urls, sha256, size, licence, citation."""
    return json.loads(MANIFEST_PATH.read_text(encoding="utf-8"))["files"]


def cache_dir() -> Path:
    """Where downloaded datasets are kept (`COURSE_CACHE_DIR` or ~/.cache/seqcourse)."""
    return Path(os.environ.get(CACHE_DIR_ENV) or Path.home() / ".cache" / "seqcourse")


def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def verified(path: Path, name: str, entry: dict) -> Path:
    """`path`, if its sha256 is the manifest `entry`'s; DataError otherwise."""
    actual = _sha256(path)
    if actual != entry["sha256"]:
        raise DataError(
            f"Checksum mismatch for {name} at {path}: expected sha256 {entry['sha256']}, "
            f"got {actual}. Delete or replace that file."
        )
    return path


def _download(url: str, target: Path, name: str, entry: dict) -> None:
    """Download to a temporary file beside `target`, verify it, then move it into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            total = entry.get("size") or 0
            done, shown = 0, -1
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                digest.update(block)
                done += len(block)
                if total and done * 10 // total > shown:
                    shown = done * 10 // total
                    print(f"  {name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB", flush=True)
        declared = int(response.headers.get("Content-Length") or 0)
        if declared and done != declared:
            raise http.client.IncompleteRead(b"", declared - done)
        if digest.hexdigest() != entry["sha256"]:
            raise DataError(
                f"Checksum mismatch for {name} downloaded from {url}: expected sha256 "
                f"{entry['sha256']}, got {digest.hexdigest()}. Nothing was saved."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def dataset_path(name: str) -> Path:
    """Local, verified path of a manifest file: data directory, then cache, then download."""
    manifest = load_manifest()
    if name not in manifest:
        raise KeyError(f"{name!r} is not in {MANIFEST_PATH}; known files: {', '.join(sorted(manifest))}.")
    entry = manifest[name]
    bundled = MANIFEST_PATH.parent / name  # small files the course ships in data/
    if bundled.is_file():
        return verified(bundled, name, entry)
    data_dir = os.environ.get(DATA_DIR_ENV)
    if data_dir and (Path(data_dir) / name).is_file():
        return verified(Path(data_dir) / name, name, entry)
    cached = cache_dir() / name
    if cached.is_file():
        return verified(cached, name, entry)
    failures = []
    for url in entry["urls"]:
        print(f"Downloading {name} from {url}", flush=True)
        try:
            _download(url, cached, name, entry)
            return cached
        except (OSError, http.client.HTTPException) as error:  # network trouble: next address
            failures.append(f"{url}: {error}")
    sources = "; ".join(failures) or "no public download address"
    raise DataUnavailableError(
        f"Dataset file {name} is not available ({sources}). Download it from "
        f"{entry['source']} and put it at {cached}, or set {DATA_DIR_ENV} to a folder "
        f"that contains {name}."
    )


def load_monthly_sunspots() -> pd.Series:
    """Monthly mean sunspot numbers 1749-2008, from the file the course ships in data/."""
    raw = dataset_path("sunspots_monthly.dat")
    values, start = [], None
    for line in raw.read_text().splitlines():
        fields = line.split()
        if len(fields) == 13 and fields[0].isdigit():
            start = start or fields[0]
            values.extend(float(v) for v in fields[1:])
    index = pd.date_range(f"{start}-01-01", periods=len(values), freq="MS")
    return pd.Series(values, index=index, name="sunspots")


IMDB_ARCHIVES = ("imdb/aclImdb_labelled.tar.gz", "imdb/aclImdb_v1.tar.gz")


def load_imdb(split: str):
    """IMDB reviews (Maas et al. 2011) for split "train" or "test": (texts, labels 1=positive)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    labelled, official = IMDB_ARCHIVES
    try:  # the labelled-only copy used offline, else the official archive
        archive_path = dataset_path(labelled)
    except DataUnavailableError:
        archive_path = dataset_path(official)
    texts, labels = [], []
    with tarfile.open(archive_path) as archive:
        for member in archive:
            parts = member.name.split("/")
            if member.isfile() and len(parts) == 4 and parts[1] == split and parts[2] in ("pos", "neg"):
                texts.append(archive.extractfile(member).read().decode("utf-8"))
                labels.append(int(parts[2] == "pos"))
    return texts, np.array(labels, dtype="int32")


TWEET_PARTS = ("train", "test", "sample_submission")
KAGGLE_COMPETITION = "nlp-getting-started"


def load_disaster_tweets():
    """Kaggle disaster tweets: (train, test, sample_submission) as DataFrames.

    From the data directory or the cache when they are there; else fetched once into the cache
    through kagglehub (a Kaggle sign-in and the competition's rules accepted), or uploaded in Colab.
    """
    names = [f"disaster_tweets/{part}.csv" for part in TWEET_PARTS]
    try:
        paths = [dataset_path(name) for name in names]
    except DataUnavailableError:
        fetch_disaster_tweets()
        paths = [dataset_path(name) for name in names]
    return tuple(pd.read_csv(path) for path in paths)


# The data files each loader reads (any one of each tuple): what a grading machine with no network needs.
LOADER_FILES = {"load_imdb": (IMDB_ARCHIVES,),
                "load_disaster_tweets": tuple((f"disaster_tweets/{part}.csv",) for part in TWEET_PARTS)}


def fetch_disaster_tweets() -> None:
    """Put the three competition files, verified, into the cache: kagglehub first, then a Colab upload."""
    page = f"https://www.kaggle.com/competitions/{KAGGLE_COMPETITION}"
    rules = f"{page}/rules"
    try:
        install_lesson_package("kagglehub")
        import kagglehub

        folder = Path(kagglehub.competition_download(KAGGLE_COMPETITION))
    except Exception as error:  # not signed in, rules not accepted, offline, not installable
        reason = f"{type(error).__name__}: {error}"
        if "google.colab" not in sys.modules:
            raise DataUnavailableError(
                f"The disaster tweets come from Kaggle, which needs a login ({reason}). Sign in at "
                f"kaggle.com, accept the rules at {rules}, create an API token (Settings > API) and "
                "save it as ~/.kaggle/kaggle.json or set KAGGLE_USERNAME and KAGGLE_KEY, then run this "
                f"cell again. Or download train.csv, test.csv and sample_submission.csv from {page}/data "
                f"into {cache_dir() / 'disaster_tweets'}, or set {DATA_DIR_ENV} to a folder holding "
                "disaster_tweets/."
            ) from error
        print(f"kagglehub could not fetch the tweets ({reason}). Either add KAGGLE_USERNAME and KAGGLE_KEY "
              f"as Colab secrets, accept the rules at {rules} and run this cell again, or upload "
              "the competition's zip (Download all on its Data tab), or train.csv, test.csv and "
              "sample_submission.csv, now.")
        folder = _colab_upload()
    manifest = load_manifest()
    for part in TWEET_PARTS:
        name = f"disaster_tweets/{part}.csv"
        source = folder / f"{part}.csv"
        if not source.is_file():
            raise DataUnavailableError(f"{source} is missing: the competition files are {', '.join(TWEET_PARTS)} (.csv).")
        verified(source, name, manifest[name])
        target = cache_dir() / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp_name)
            os.replace(tmp_name, target)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
    print(f"The disaster tweets are in {cache_dir() / 'disaster_tweets'}.")


def _colab_upload() -> Path:
    """Files the user uploads in Colab, in a new temporary folder; the CSV files of an uploaded zip (Kaggle's
    download, nlp-getting-started.zip) are taken out of it."""
    from google.colab import files

    folder = Path(tempfile.mkdtemp(prefix="tweets-"))
    for name, content in files.upload().items():
        if name.lower().endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                for member in archive.namelist():
                    if member.endswith(".csv"):
                        (folder / Path(member).name).write_bytes(archive.read(member))
        else:
            (folder / Path(name).name).write_bytes(content)
    return folder


# ---------------------------------------------------------------- lesson 04: moving digits

def moving_digits(n_videos: int, n_frames: int = 12, canvas: int = 32, n_digits: int = 2,
                  digit_size: int = 12, max_speed: int = 2, seed: int = 0):
    """Videos of handwritten digits moving in straight lines and bouncing off the borders.

    The digits are the 8x8 images of `sklearn.datasets.load_digits`, upscaled (bilinear) to
    `digit_size` pixels. Each digit starts at a random place with a random whole-pixel velocity
    (1 to `max_speed` pixels per frame along each axis, either sign) and bounces off the borders
    of the `canvas`; overlapping digits combine by their maximum. The same arguments give the
    same videos. Returns float32 values in [0, 1] of shape (n_videos, n_frames, canvas, canvas, 1).
    """
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits

    if n_videos <= 0 or n_frames <= 0 or n_digits <= 0 or max_speed <= 0:
        raise ValueError("n_videos, n_frames, n_digits and max_speed must be positive, got "
                         f"{n_videos}, {n_frames}, {n_digits} and {max_speed}.")
    if not 8 <= digit_size <= canvas:
        raise ValueError(f"digit_size must be between 8 and canvas ({canvas}), got {digit_size}.")
    if max_speed > canvas - digit_size:
        raise ValueError(f"max_speed must be at most canvas - digit_size ({canvas - digit_size}), got {max_speed}: "
                         "a faster digit would bounce beyond the opposite border.")
    images = load_digits().images.astype("float32") / 16.0
    rng = np.random.default_rng(seed)
    limit = canvas - digit_size  # largest top-left coordinate
    videos = np.zeros((n_videos, n_frames, canvas, canvas), dtype="float32")
    for video in videos:
        for _ in range(n_digits):
            digit = np.clip(zoom(images[rng.integers(len(images))], digit_size / 8, order=1), 0.0, 1.0)
            position = rng.integers(0, limit + 1, size=2)
            velocity = rng.integers(1, max_speed + 1, size=2) * rng.choice([-1, 1], size=2)
            for frame in video:
                row, col = position
                patch = frame[row:row + digit_size, col:col + digit_size]
                np.maximum(patch, digit, out=patch)
                position = position + velocity
                for axis in range(2):  # reflect off the borders
                    if position[axis] < 0:
                        position[axis], velocity[axis] = -position[axis], -velocity[axis]
                    elif position[axis] > limit:
                        position[axis], velocity[axis] = 2 * limit - position[axis], -velocity[axis]
    return videos[..., np.newaxis]

