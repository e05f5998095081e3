"""Lesson 06: its Kneser-Ney code gives distributions that sum to 1 and scores that agree with them, and its
stored full run records the investigation's metrics and prints verdicts that follow its own intervals."""
import re

import nbformat
import numpy as np
import pytest

from course_tools import config

SOLUTION = config.ROOT / "solutions" / "06_generation_attention.ipynb"
NEW_METRICS = ["mix_bpc", "mix_lambda", "mix_gain_ci_low", "mix_gain_ci_high", "gru_bpc_reset_8", "gru_bpc_reset_32",
               "gru_bpc_reset_128", "attention_gain_same_family_long", "attention_gain_same_family_long_standard_error"]


def cell(cell_id):
    return next(c for c in nbformat.read(SOLUTION, as_version=4).cells if c.get("id") == cell_id)


def printed(cell_id):
    return "".join(o.get("text", "") for o in cell(cell_id).outputs if o.get("output_type") == "stream")


@pytest.fixture(scope="module")
def kneser_ney():
    """The lesson's Kneser-Ney functions, fitted on a small text of the lesson's alphabet."""
    namespace = {}
    exec(next(c for c in nbformat.read(SOLUTION, as_version=4).cells if c.get("id") == "gen-05").source.split(
        "\n\n\nprint(")[0].replace("# NBVAL_CHECK_OUTPUT\n", ""), namespace)
    source = cell("gen-10").source
    exec("import collections, math\nimport numpy as np\n" + source[:source.index("started = time.perf_counter()")],
         namespace)
    rng = np.random.default_rng(0)
    words = ["the", "film", "was", "not", "bad", "at", "all", "a", "plot", "of", "it's", "(really)", "\"good\""]
    namespace["text"] = " ".join(rng.choice(words, size=600))
    namespace["levels"] = namespace["kneser_ney_levels"](namespace["text"], 5)
    return namespace


@pytest.mark.parametrize("discounts", ["one discount", "three discounts"])
def test_every_distribution_sums_to_one_and_matches_the_scores(kneser_ney, discounts):
    ns, text = kneser_ney, kneser_ney["text"] + " the zq"  # ends in a context never seen
    log2 = ns["kneser_ney_log2_probs"](ns["levels"], text, discounts, 5)
    assert np.isfinite(log2).all(), "every character, even one never seen in training, has a probability above 0"
    for i in [1, 2, 3, 50, 333, len(text) - 1]:
        distribution = ns["kneser_ney_distribution"](ns["levels"], text[:i], discounts, 5)
        assert distribution.shape == (5, ns["V"])
        np.testing.assert_allclose(distribution.sum(axis=1), 1, atol=1e-12)
        assert (distribution > 0).all(), "smoothing leaves no character at probability 0"
        np.testing.assert_allclose(np.log2(distribution[:, ns["CHAR_ID"][text[i]]]), log2[:, i - 1], atol=1e-12)
        top = ns["kneser_ney_distribution"](ns["levels"], text[:i], discounts, 5, every_order=False)
        np.testing.assert_allclose(top, distribution[-1:], atol=1e-15)
    np.testing.assert_allclose(ns["kneser_ney_log2_probs"](ns["levels"], text, discounts, 5, every_order=False),
                               log2[-1:], atol=1e-15)


def test_stored_full_run_records_the_investigation_metrics():
    recorded = "".join(printed(cell_id) for cell_id in ["gen-16m", "gen-16q", "gen-33g"])
    for name in NEW_METRICS:
        assert re.search(rf"^{name}\s+-?[\d.e+-]+$", recorded, re.MULTILINE), name


def test_stored_verdicts_follow_their_intervals():
    text = printed("gen-16m")
    low, high = (float(v) for v in re.search(r"95 % interval ([-\d.]+) to ([-\d.]+)", text).groups())
    assert ("the mixture is better than either model alone" in text) == (low > 0), text
    text = printed("gen-15r")
    low, high = (float(v) for v in re.search(r"block bootstrap ([-+\d.]+) to ([-+\d.]+)", text).groups())
    assert ("a tie" in text) == (low <= 0 <= high), text
