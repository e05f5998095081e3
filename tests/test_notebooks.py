"""Every lesson, executed: each solution once in the smoke profile under nbval, untouched stubs.

The smoke run also proves the answer key: every graded check hands in a value that matches the reference
value stored from the full run (so the checks are profile-independent and the solution scores the maximum).
And it tries the plausible wrong answers listed in tests/wrong_answers/ against each exercise's checks
(tests/wrong_answer_probe.py, run in the lesson's kernel right after the check): each must fail the visible
check with an AssertionError that says what differs, and fail the hidden tests too.
"""
import json
import math
import os
import re
import runpy
import subprocess
import sys

import nbformat
import papermill
import pytest

from conftest import ROOT
from course_tools import notebook, processes, rebuild, runner
from course_tools.handin import read_handins

# The metrics each lesson records (the names the course report relies on).
EXPECTED_METRICS = {
    "01_rnn_basics": {
        "numpy_rnn_max_abs_diff", "synthetic_naive_mae", "synthetic_linear_mae", "synthetic_rnn_mae",
        "sunspots_naive_mae", "sunspots_ar_mae", "sunspots_rnn_mae", "adding_constant_mse", "adding_rnn_mse"},
    "02_lstm": {
        "numpy_lstm_max_abs_diff", "adding_rnn_mse", "adding_lstm_mse", "imdb_tfidf_lr_test_acc",
        "imdb_simplernn_test_acc", "imdb_lstm_test_acc", "imdb_bilstm_test_acc",
        "imdb_best_test_acc"},
    "03_gru": {
        "numpy_gru_max_abs_diff", "param_formula_errors", "sunspots_naive_mae", "sunspots_ar_mae",
        "sunspots_simplernn_mae", "sunspots_lstm_mae", "sunspots_gru_mae", "sunspots_conv1d_mae",
        "gru_lstm_epoch_time_ratio"},
    "04_convlstm": {
        "copy_last_frame_mse", "convlstm_mse", "convlstm_to_copy_mse_ratio", "copy_last_frame_ssim",
        "convlstm_ssim", "causality_max_abs_diff", "rollout_mse_step1", "rollout_mse_step5",
        "blank_frame_mse", "blurred_copy_mse", "convlstm_to_blurred_mse_ratio", "rollout_steps_better_than_blank",
        "motion_copy_mse", "frame_cnn_mse"},
    "05_disaster_tweets": {
        "tfidf_lr_val_acc", "tfidf_lr_val_f1", "lstm_val_f1", "bilstm_val_f1", "gru_val_f1",
        "bigru_val_f1", "word2vec_val_f1", "best_val_f1", "best_val_acc", "best_threshold",
        "val_test_overlap", "tfidf_test_f1", "best_test_f1", "best_test_acc", "test_f1_gain_ci_low", "test_f1_gain_ci_high"},
    "06_generation_attention": {
        "unigram_bpc", "ngram_bpc", "ngram_order", "char_lm_bpc", "char_lm_minus_ngram_bpc",
        "seq2seq_attention_exact_match", "seq2seq_no_attention_exact_match", "dateutil_exact_match",
        "attention_gain_longest_inputs", "attention_gain_standard_error", "mix_bpc", "mix_lambda", "mix_gain_ci_low",
        "mix_gain_ci_high", "gru_bpc_reset_8", "gru_bpc_reset_32", "gru_bpc_reset_128",
        "attention_gain_same_family_long", "attention_gain_same_family_long_standard_error",
        "attention_gain_same_family_short"},
}
LESSONS = [path.stem for path in runner.select([])]
SOLUTION_PROBE = "(the solution)"


def wrong_answers(stem: str) -> dict:
    """check cell id -> {what the answer gets wrong: the answer}, from tests/wrong_answers/<stem>.py."""
    path = ROOT / "tests" / "wrong_answers" / f"{stem}.py"
    return runpy.run_path(str(path))["WRONG_ANSWERS"] if path.exists() else {}


def hidden_part(source: str) -> str:
    lines = source.split("\n")
    begin, end = lines.index(notebook.BEGIN_HIDDEN), lines.index(notebook.END_HIDDEN)
    return "\n".join(lines[begin + 1:end])


def add_probes(nb, answers: dict, out_dir) -> None:
    """Insert after each check cell named in `answers` a cell that tries them (results in out_dir/wrong-<id>.json)."""
    for check_id, tried in answers.items():
        index = next(i for i, c in enumerate(nb.cells) if c.get("id") == check_id)
        solution = next(c for c in reversed(nb.cells[:index]) if notebook.BEGIN_SOLUTION in c.source)
        check = nb.cells[index]
        nb.cells.insert(index + 1, nbformat.v4.new_code_cell(
            f"import sys\nsys.path.insert(0, {str(ROOT / 'tests')!r})\nimport wrong_answer_probe\n"
            f"wrong_answer_probe.probe(globals(), {solution.source!r}, {notebook.student_source(check, check_id)!r}, "
            f"{hidden_part(check.source)!r}, {tried!r}, {str(out_dir / f'wrong-{check_id}.json')!r})"))


def wrong_answer_problems(stem: str, answers: dict, out_dir, key) -> list[str]:
    """What the probes found: a wrong answer that passes a visible check or the hidden tests, or fails the visible
    check with anything but an AssertionError and a message; the solution failing its own probe."""
    problems = []
    for check_id in answers:
        outcomes = json.loads((out_dir / f"wrong-{check_id}.json").read_text(encoding="utf-8"))
        checks = next(test.checks for test in key.tests if test.id == check_id)

        def hidden_catches(outcome):
            return outcome["hidden"] is not None or not all(key.passes(c, outcome["handins"]) for c in checks)

        solution = outcomes.pop(SOLUTION_PROBE)
        if solution["visible"] or hidden_catches(solution):
            problems.append(f"{check_id}: the solution fails its own probe ({solution['visible'] or solution['hidden']})")
        for label, outcome in outcomes.items():
            visible = outcome["visible"]
            if visible is None:
                problems.append(f"{check_id}: '{label}' passes the visible check")
            elif not visible.startswith("AssertionError: ") or visible == "AssertionError: ":
                problems.append(f"{check_id}: '{label}' stops the visible check with {visible[:300]!r}, "
                                "not an AssertionError that says what differs")
            if not hidden_catches(outcome):
                problems.append(f"{check_id}: '{label}' passes the hidden tests")
    return problems


@pytest.mark.notebooks
@pytest.mark.parametrize("stem", LESSONS)
def test_solution_runs_in_the_smoke_profile_matches_nbval_and_records_its_metrics(stem, tmp_path):
    """One smoke run per lesson: cells marked NBVAL_CHECK_OUTPUT print the same facts as the stored full
    run, the run records the metrics the course report relies on, and every graded check hands in its
    reference value."""
    prepared = tmp_path / f"{stem}.ipynb"
    papermill.execute_notebook(str(ROOT / "solutions" / f"{stem}.ipynb"), str(prepared),
                               parameters={"PROFILE": "smoke"}, prepare_only=True)
    nb = notebook.read(prepared)
    checked = [c for c in nb.cells if "NBVAL_CHECK_OUTPUT" in c.source]
    assert len(checked) >= 2, "a lesson checks at least two cells' outputs"
    answers = wrong_answers(stem)
    add_probes(nb, answers, tmp_path)
    nbformat.write(nb, prepared)
    metrics_file = tmp_path / "metrics.jsonl"
    handin_file = tmp_path / "handin.jsonl"
    env = {**os.environ, "COURSE_RUN_DIR": str(tmp_path), "COURSE_METRICS_FILE": str(metrics_file),
           "COURSE_HANDIN_FILE": str(handin_file), "COURSE_PROFILE": "smoke", "MPLBACKEND": "Agg"}  # checked outputs must not depend on the caller's backend
    # `-p course_tools`: the package loads before nbval and spares it jsonschema's 1.7 s IRI grammar build.
    nbval = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "course_tools", "-o", "addopts=", "-q",
         "--nbval-lax", "--nbval-current-env", "--nbval-cell-timeout=900",
         "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"), str(prepared)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = nbval.communicate()
    finally:
        processes.kill_group(nbval.pid)
    assert nbval.returncode == 0, output[-5000:]
    metrics = runner.read_metrics(metrics_file)
    assert EXPECTED_METRICS[stem] <= set(metrics), f"missing: {EXPECTED_METRICS[stem] - set(metrics)}"
    assert all(math.isfinite(value) for value in metrics.values())
    key, handins = rebuild.load_key(ROOT / "solutions" / f"{stem}.ipynb"), read_handins(handin_file)
    checks = [check for test in key.tests for check in test.checks]
    wrong = [c.name for c in checks if not key.passes(c, handins)]
    assert not wrong, f"the smoke run handed in other values than the stored full run for: {wrong}"
    problems = wrong_answer_problems(stem, answers, tmp_path, key)
    assert not problems, "\n".join(problems)


@pytest.mark.notebooks
@pytest.mark.parametrize("stem", LESSONS)
def test_untouched_student_notebook_fails_at_its_first_exercise(stem, tmp_path):
    student = ROOT / "notebooks" / f"{stem}.ipynb"
    result = runner.run_notebook(student, tmp_path, "smoke", timeout=900)
    assert result["status"] == "failed"
    first_check = notebook.graded_cells(notebook.read(student))[0]
    assert result["error"].startswith(f"cell {first_check.id}: AssertionError: Exercise '"), result["error"]
    assert "is not done yet" in result["error"]


@pytest.mark.parametrize("stem", LESSONS)
def test_every_exercise_is_tried_against_wrong_answers(stem):
    nb = notebook.read(ROOT / "solutions" / f"{stem}.ipynb")
    answers = wrong_answers(stem)
    assert set(answers) == {c.id for c in notebook.graded_cells(nb)}, \
        f"tests/wrong_answers/{stem}.py lists the wrong answers tried against each graded check cell, by its id"
    assert all(len(tried) >= 2 for tried in answers.values()), "at least two plausible wrong answers per exercise"
    key = rebuild.load_key(ROOT / "solutions" / f"{stem}.ipynb")
    assert all(test.visible_checks for test in key.tests), "every graded cell has a visible check (exercise_check)"


# The cells each lesson draws (mu.draw_cell), as its stored full run shows them.
DIAGRAMS = {"01_rnn_basics": {"rnn"}, "02_lstm": {"lstm"}, "03_gru": {"gru", "lstm"}, "04_convlstm": {"convlstm"},
            "05_disaster_tweets": set(), "06_generation_attention": {"seq2seq"}}


@pytest.mark.parametrize("stem", LESSONS)
def test_each_lesson_draws_the_cells_it_teaches_in_its_stored_outputs(stem):
    cells = [c for c in notebook.read(ROOT / "solutions" / f"{stem}.ipynb").cells if "mu.draw_cell(" in c.source]
    drawn = {kind for c in cells for kind in re.findall(r'"(\w+)"', c.source.split("mu.draw_cell(", 1)[1].split(")")[0])}
    assert drawn == DIAGRAMS[stem]
    assert all(any("image/png" in o.get("data", {}) and o.get("metadata", {}).get("alt") for o in c.outputs)
               for c in cells), "each diagram is stored as a PNG with its alt text"


def test_every_lesson_has_expected_metrics():
    assert set(LESSONS) <= set(EXPECTED_METRICS)
