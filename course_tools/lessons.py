"""The lessons of the course, in order: the one table that the release, the website and the docs read.

Each lesson's `file` is the stem of its notebook in solutions/ and notebooks/. `budget_min` is the
time a full-profile run must stay within on a 2-core CPU (a target, not a measurement: measured
times are in docs/measurements.md). `colab` says how far the lesson has been checked on Colab.
"""
from __future__ import annotations

from dataclasses import dataclass

# How far a lesson has been checked on Colab: its test runs in a copy of Colab's runtime (.ci/colab_runtime.sh).
COLAB_RUNTIME = "tested with Colab's package versions; not yet timed on a Colab GPU"


@dataclass(frozen=True)
class Lesson:
    number: int
    file: str
    title: str
    topic: str
    data: str
    budget_min: int
    colab: str = COLAB_RUNTIME

    @property
    def notebook(self) -> str:
        """The student notebook's path in the repository and in the release."""
        return f"notebooks/{self.file}.ipynb"


LESSONS = (
    Lesson(1, "01_rnn_basics", "RNN basics",
           "hidden state, shapes, forecasting with windows, vanishing and exploding gradients",
           "synthetic series, monthly sunspots (shipped in `data/`), the adding problem", 5),
    Lesson(2, "02_lstm", "LSTM",
           "gates and cell state, a NumPy LSTM, the text pipeline, IMDB sentiment against TF-IDF",
           "the adding problem, IMDB reviews (downloaded)", 9),
    Lesson(3, "03_gru", "GRU",
           "update and reset gates, parameter counts, SimpleRNN vs LSTM vs GRU vs Conv1D measured",
           "monthly sunspots (shipped in `data/`)", 8),
    Lesson(4, "04_convlstm", "ConvLSTM",
           "convolutional gates, causal next-frame video prediction, rollouts against copy baselines",
           "moving digits generated from scikit-learn's digits", 10),
    Lesson(5, "05_disaster_tweets", "Disaster tweets capstone",
           "a text project end to end, from exploring the data to a Kaggle submission",
           "Kaggle's disaster tweets (free Kaggle account)", 12),
    Lesson(6, "06_generation_attention", "Generating and translating sequences",
           "character language models, sampling, encoder-decoder and attention",
           "IMDB reviews as characters, dates from a seeded grammar", 6),
)


def by_file(file: str) -> Lesson:
    """The lesson whose notebook stem is `file`, such as 01_rnn_basics."""
    for lesson in LESSONS:
        if lesson.file == file:
            return lesson
    raise ValueError(f"{file} is not a lesson of course_tools/lessons.py: add it to LESSONS.")
