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
    """Print the full path of a file the student should keep and, in Colab, how to download it."""
    path = Path(path).resolve()
    print(f"{what}: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    if "google.colab" in sys.modules:
        print(f"  Colab deletes it with the runtime: download it from the file browser on the left, or run "
              f"`from google.colab import files; files.download({str(path)!r})`")
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

_NODE_COLORS = {"input": "#fde9c9", "gate": "#cfe3f5", "op": "#ffffff", "state": "#d7efd2", "frame": "#eeeeee"}
_CELL_DIAGRAMS = {
    "rnn": {
        "title": "A SimpleRNN unrolled over four steps: one cell, the same weights at every step",
        "caption": r"$h_t = \tanh(x_t W + h_{t-1} U + b)$; $h_0 = 0$; the layer returns $h_4$, or every $h_t$ "
                   r"with return_sequences=True",
        "nodes": {"h0": (0, 1, "$h_0$", "state"),
                  **{f"x{t}": (2 * t, 0, f"$x_{t}$", "input") for t in range(1, 5)},
                  **{f"cell{t}": (2 * t, 1, "tanh", "gate") for t in range(1, 5)},
                  **{f"h{t}": (2 * t, 2, f"$h_{t}$", "state") for t in range(1, 5)}},
        "edges": [("h0", "cell1"), *[(f"cell{t}", f"cell{t + 1}") for t in range(1, 4)],
                  *[(f"x{t}", f"cell{t}") for t in range(1, 5)], *[(f"cell{t}", f"h{t}") for t in range(1, 5)]],
    },
    "lstm": {
        "title": "An LSTM cell: three sigmoid gates and a cell state that passes through a product and a sum",
        "caption": r"$c_t = f \odot c_{t-1} + i \odot g$,  $h_t = o \odot \tanh(c_t)$;  $f, i, o = \sigma(\cdot)$, "
                   r"$g = \tanh(\cdot)$ of $[x_t, h_{t-1}]$",
        "nodes": {"c_prev": (0, 3, "$c_{t-1}$", "state"), "forget": (2, 3, "×", "op"), "add": (4, 3, "+", "op"),
                  "c": (7, 3, "$c_t$", "state"), "f": (1, 0, "f: σ", "gate"), "i": (2.6, 0, "i: σ", "gate"),
                  "g": (4.2, 0, "g: tanh", "gate"), "o": (5.8, 0, "o: σ", "gate"), "write": (3.4, 1.5, "×", "op"),
                  "squash": (5.8, 2.2, "tanh", "gate"), "read": (5.8, 1.2, "×", "op"), "h": (7, 1.2, "$h_t$", "state"),
                  "input": (3.4, -1.4, "$[x_t,\\ h_{t-1}]$", "input")},
        "edges": [("c_prev", "forget"), ("forget", "add"), ("add", "c"), ("f", "forget"), ("i", "write"),
                  ("g", "write"), ("write", "add"), ("add", "squash"), ("squash", "read"), ("o", "read"),
                  ("read", "h"), ("input", "f"), ("input", "i"), ("input", "g"), ("input", "o")],
    },
    "gru": {
        "title": "A GRU cell: two gates and no separate cell state; the update gate mixes old and new state",
        "caption": r"$h_t = (1 - z) \odot h_{t-1} + z \odot \tilde h$,  $\tilde h = \tanh(x_t W + (r \odot h_{t-1}) U)$;  "
                   r"$z, r = \sigma(\cdot)$ of $[x_t, h_{t-1}]$",
        "nodes": {"h_prev": (0, 3, "$h_{t-1}$", "state"), "keep": (3.8, 3, "× (1−z)", "op"), "add": (5.5, 3, "+", "op"),
                  "h": (7, 3, "$h_t$", "state"), "r": (1, 0, "r: σ", "gate"), "z": (4.4, 0.3, "z: σ", "gate"),
                  "reset": (1, 1.5, "× r", "op"), "candidate": (2.6, 1.5, "$\\tilde h$: tanh", "gate"),
                  "mix": (5.5, 1.5, "× z", "op"), "input": (2.5, -1.4, "$[x_t,\\ h_{t-1}]$", "input")},
        "edges": [("h_prev", "keep"), ("keep", "add"), ("add", "h"), ("h_prev", "reset"), ("r", "reset"),
                  ("reset", "candidate"), ("candidate", "mix"), ("z", "mix"), ("z", "keep"), ("mix", "add"),
                  ("input", "r"), ("input", "z"), ("input", "candidate")],
    },
    "convlstm": {
        "title": "A ConvLSTM cell: the LSTM's gates, each computed by convolutions over whole frames",
        "caption": "each gate: $\\sigma$ or $\\tanh$ of $W * X_t + U * H_{t-1} + b$, $*$ a convolution\n"
                   "every pixel's gates see only its neighbourhood; $C_t$ and $H_t$ are stacks of feature maps",
        "nodes": {"x": (0, 0, "frame $X_t$\n(rows, cols, channels)", "frame"),
                  "h_prev": (0, 2.4, "$H_{t-1}$\n(rows, cols, filters)", "frame"),
                  "conv": (3, 1.2, "k × k convolutions\n$W * X_t + U * H_{t-1}$", "gate"),
                  "gates": (6, 1.2, "gate maps i, f, o, g\n(rows, cols, 4 filters)", "frame"),
                  "c_prev": (6, 3.4, "$C_{t-1}$", "state"),
                  "c": (9, 3.4, "$C_t = f \\odot C_{t-1} + i \\odot g$", "state"),
                  "h": (9, 1.2, "$H_t = o \\odot \\tanh(C_t)$", "state")},
        "edges": [("x", "conv"), ("h_prev", "conv"), ("conv", "gates"), ("gates", "c"), ("c_prev", "c"),
                  ("gates", "h"), ("c", "h")],
    },
    "seq2seq": {
        "title": "An encoder-decoder with attention: each output step weighs every encoder state",
        "caption": r"$\alpha_{j} = \mathrm{softmax}_i(s_{j-1} \cdot h_i)$,  $c_j = \sum_i \alpha_{ji} h_i$; line width "
                   r"shows the weights of output step 2 (an illustration, not a trained model)",
        "nodes": {**{f"x{i}": (i, 0, f"$x_{i}$", "input") for i in range(1, 6)},
                  **{f"h{i}": (i, 1, f"$h_{i}$", "state") for i in range(1, 6)},
                  "context": (5.2, 2.2, "$c_2$", "op"),
                  **{f"s{j}": (5.5 + 1.4 * j, 3.2, f"$s_{j}$", "gate") for j in range(1, 5)},
                  **{f"y{j}": (5.5 + 1.4 * j, 4.3, f"$y_{j}$", "input") for j in range(1, 5)}},
        "edges": [*[(f"x{i}", f"h{i}") for i in range(1, 6)], *[(f"h{i}", f"h{i + 1}") for i in range(1, 5)],
                  ("h5", "s1"), *[(f"s{j}", f"s{j + 1}") for j in range(1, 4)], *[(f"s{j}", f"y{j}") for j in range(1, 5)],
                  *[(f"y{j}", f"s{j + 1}") for j in range(1, 4)], ("context", "s2"),
                  *[(f"h{i}", "context", width) for i, width in zip(range(1, 6), (0.4, 0.6, 3.0, 1.0, 0.3))]],
    },
}


def _draw_diagram(ax, spec: dict) -> None:
    boxes = {name: ax.text(x, y, label, ha="center", va="center", fontsize=10, zorder=3, bbox={
        "boxstyle": "round,pad=0.4", "facecolor": _NODE_COLORS[role], "edgecolor": "0.3"})
        for name, (x, y, label, role) in spec["nodes"].items()}
    for start, end, *width in spec["edges"]:
        ax.annotate("", xy=boxes[end].get_position(), xytext=boxes[start].get_position(), zorder=2, arrowprops={
            "arrowstyle": "-|>", "color": "0.35", "lw": width[0] if width else 1.2, "shrinkA": 2, "shrinkB": 2,
            "patchA": boxes[start].get_bbox_patch(), "patchB": boxes[end].get_bbox_patch()})
    xs, ys = zip(*[(x, y) for x, y, *_ in spec["nodes"].values()])
    ax.set(xlim=(min(xs) - 1, max(xs) + 1), ylim=(min(ys) - 0.8, max(ys) + 0.8), xticks=[], yticks=[])
    ax.set_title(spec["title"], fontsize=11)
    ax.set_xlabel(spec["caption"], fontsize=10)
    for side in ax.spines.values():
        side.set_visible(False)


def cell_diagram(*kinds: str):
    """A figure of the named cells side by side, from "rnn", "lstm", "gru", "convlstm", "seq2seq"."""
    unknown = [kind for kind in kinds if kind not in _CELL_DIAGRAMS]
    if not kinds or unknown:
        raise ValueError(f"No diagram of {', '.join(map(repr, unknown)) or 'nothing'}: name one or more of "
                         f"{', '.join(_CELL_DIAGRAMS)} (two side by side: draw_cell(\"gru\", \"lstm\")).")
    fig, axes = plt.subplots(1, len(kinds), figsize=(9 * len(kinds), 4.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        _draw_diagram(ax, _CELL_DIAGRAMS[kind])
    fig.tight_layout()
    return fig


def draw_cell(*kinds: str) -> None:
    """Show `cell_diagram(*kinds)` with its alt text: drawn in the notebook, so Colab, JupyterLab and GitHub
    show it with no image file and no network."""
    from IPython.display import display

    fig = cell_diagram(*kinds)
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    alt = " ".join(f"Diagram: {_CELL_DIAGRAMS[kind]['title']}. Arrows: "
                   f"{', '.join(f'{a} to {b}' for a, b, *_ in _CELL_DIAGRAMS[kind]['edges'])}." for kind in kinds)
    display({"image/png": png.getvalue(), "text/plain": alt}, raw=True, metadata={"alt": alt})


# ---------------------------------------------------------------- sequences

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

