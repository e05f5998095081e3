"""model_utils: seeding, profiles, metrics, callbacks, plots, sequences, packaged data."""
import json
import os
import random
import subprocess
import sys
import types

import keras
import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pytest

import model_utils as mu


def tiny_model(name="tiny"):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"), keras.layers.Dense(1)], name=name)
    model.compile(optimizer="adam", loss="mse")
    return model


def train_once(seed):
    mu.set_seed(seed)
    x = np.random.rand(64, 3).astype("float32")
    model = tiny_model()
    model.fit(x, x.sum(axis=1), epochs=2, batch_size=16, verbose=0)
    return [w.copy() for w in model.get_weights()]


def test_set_seed_makes_training_repeat_bit_for_bit():
    first, second, other = train_once(7), train_once(7), train_once(8)
    assert all(np.array_equal(a, b) for a, b in zip(first, second))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_set_seed_seeds_python_and_numpy_too():
    draws = []
    for _ in range(2):
        mu.set_seed(3)
        draws.append((random.random(), np.random.rand()))
    assert draws[0] == draws[1]


def test_profile_settings_picks_the_profile_and_rejects_mistakes(monkeypatch):
    monkeypatch.delenv(mu.PROFILE_ENV, raising=False)
    sizes = dict(full=dict(epochs=20, n=1000), smoke=dict(epochs=1, n=50))
    assert mu.profile_settings("full", **sizes).epochs == 20
    assert mu.profile_settings("smoke", **sizes).n == 50
    with pytest.raises(ValueError, match="Unknown profile 'fast'"):
        mu.profile_settings("fast", **sizes)
    with pytest.raises(ValueError, match="different settings"):
        mu.profile_settings("full", full=dict(epochs=2), smoke=dict(steps=1))


def test_the_profile_from_the_environment_wins_over_the_notebook(monkeypatch):
    """The grader and runner set COURSE_PROFILE: a submission that sets PROFILE = "full" still runs small."""
    sizes = dict(full=dict(epochs=20), smoke=dict(epochs=1))
    monkeypatch.setenv(mu.PROFILE_ENV, "smoke")
    assert mu.profile_settings("full", **sizes).epochs == 1
    monkeypatch.setenv(mu.PROFILE_ENV, "fast")
    with pytest.raises(ValueError, match="Unknown profile 'fast'"):
        mu.profile_settings("full", **sizes)


def test_record_metrics_shows_values_and_appends_to_the_runner_file(tmp_path, monkeypatch, capsys):
    target = tmp_path / "metrics.jsonl"
    monkeypatch.setenv(mu.METRICS_FILE_ENV, str(target))
    mu.record_metrics(mae=1.5, acc=np.float32(0.25))
    mu.record_metrics(mae=1.25)
    assert "mae" in capsys.readouterr().out
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert lines == [{"mae": 1.5, "acc": 0.25}, {"mae": 1.25}]


def test_record_metrics_without_runner_only_shows(monkeypatch, capsys):
    monkeypatch.delenv(mu.METRICS_FILE_ENV, raising=False)
    mu.record_metrics(x=2)
    assert capsys.readouterr().out == "x  2\n"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "abc"])
def test_record_metrics_rejects_non_numbers(bad):
    with pytest.raises(ValueError):
        mu.record_metrics(score=bad)


def test_exercise_check_turns_a_stub_into_an_actionable_message():
    with pytest.raises(AssertionError, match="Exercise 'rnn_forward' is not done yet.*NotImplementedError"):
        with mu.exercise_check("rnn_forward"):
            raise NotImplementedError()
    with pytest.raises(AssertionError, match="wrong shape"):
        with mu.exercise_check("rnn_forward"):
            raise AssertionError("wrong shape")


def test_early_stopping_is_fresh_for_each_fit_and_keeps_the_best_epoch():
    assert mu.early_stopping() is not mu.early_stopping()
    mu.set_seed(0)
    x = np.random.rand(64, 3).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.9), loss="mse")  # too large a step: the loss jumps about
    epochs = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs.append(
        (logs["val_loss"], [w.copy() for w in model.get_weights()])))
    model.fit(x, x.sum(axis=1), validation_split=0.25, epochs=8, verbose=0,
              callbacks=[record, mu.early_stopping(patience=8)])
    best_loss, best_weights = min(epochs, key=lambda e: e[0])
    assert best_loss < epochs[-1][0], "the check needs a last epoch worse than the best"
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), best_weights))


def test_plot_loss_and_accuracy_accepts_history_and_dict():
    model = tiny_model()
    history = model.fit(np.ones((8, 3)), np.ones(8), validation_split=0.25, epochs=2, verbose=0)
    fig = mu.plot_loss_and_accuracy(history)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 1
    assert len(fig.axes[0].lines) == 2
    fig = mu.plot_loss_and_accuracy({"loss": [1, 0.5], "accuracy": [0.5, 0.7], "val_accuracy": [0.4, 0.6]})
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 2
    with pytest.raises(ValueError, match="Nothing to plot"):
        mu.plot_loss_and_accuracy({"mae": [1.0]})


def test_plot_series_and_confusion_matrix_return_figures():
    fig = mu.plot_series(np.arange(5), {"truth": np.arange(5), "forecast": np.arange(5) + 1})
    assert len(fig.axes[0].lines) == 2
    fig = mu.plot_confusion_matrix([0, 1, 1, 0], [0, 1, 0, 0], labels=["no", "yes"])
    assert isinstance(fig, matplotlib.figure.Figure)


def test_windows_pair_each_window_with_the_next_value_as_keras_does():
    series = np.arange(10, dtype="float32")
    inputs, targets = mu.windows(series, 3)
    assert inputs.shape == (7, 3, 1) and targets.shape == (7,)
    np.testing.assert_array_equal(inputs[0, :, 0], [0, 1, 2])
    np.testing.assert_array_equal(targets, np.arange(3, 10))
    keras_pairs = keras.utils.timeseries_dataset_from_array(series[:-1], series[3:], sequence_length=3, batch_size=64)
    keras_inputs, keras_targets = next(iter(keras_pairs))
    np.testing.assert_array_equal(inputs[..., 0], keras_inputs)
    np.testing.assert_array_equal(targets, keras_targets)


@pytest.mark.parametrize("series, window, message", [
    (np.arange(10), 10, "longer than it"), (np.arange(10), 0, "positive"), (np.zeros((10, 2)), 3, "1-D"),
])
def test_windows_reject_impossible_arguments(series, window, message):
    with pytest.raises(ValueError, match=message):
        mu.windows(series, window)


def test_fit_on_windows_shuffles_the_same_way_after_the_same_seed():
    inputs, targets = mu.windows(np.sin(np.arange(200, dtype="float32") / 5), 8)

    def fitted(seed):
        mu.set_seed(seed)
        model = keras.Sequential([keras.Input((8, 1)), keras.layers.Flatten(), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(inputs, targets, batch_size=16, epochs=2, verbose=0)
        return model.get_weights()[0]

    np.testing.assert_array_equal(fitted(1), fitted(1))
    assert not np.array_equal(fitted(1), fitted(2))


def test_synthetic_series_is_the_course_series_and_repeats():
    time, series = mu.synthetic_series()
    assert time.shape == series.shape == (4 * 365 + 1,)
    np.testing.assert_array_equal(series, mu.synthetic_series()[1])
    noiseless = mu.synthetic_series(noise_level=0)[1]
    assert noiseless[0] == pytest.approx(10 + 40 * np.cos(2 * np.pi / 365), rel=1e-5)
    assert 4 < np.std(series - noiseless) < 6


def test_adding_problem_targets_are_the_sum_of_the_marked_values():
    x, y = mu.adding_problem(200, 50, seed=3)
    assert x.shape == (200, 50, 2) and y.shape == (200,)
    assert np.all(x[:, :, 1].sum(axis=1) == 2)
    assert np.all(x[:, :25, 1].sum(axis=1) == 1)
    np.testing.assert_allclose(y, (x[:, :, 0] * x[:, :, 1]).sum(axis=1))
    np.testing.assert_array_equal(x, mu.adding_problem(200, 50, seed=3)[0])
    with pytest.raises(ValueError):
        mu.adding_problem(0, 50)


def test_monthly_sunspots_come_from_the_file_the_course_ships():
    assert mu.dataset_path("sunspots_monthly.dat") == mu.COURSE_ROOT / "data" / "sunspots_monthly.dat"
    sunspots = mu.load_monthly_sunspots()
    assert len(sunspots) == 260 * 12
    assert str(sunspots.index[0].date()) == "1749-01-01" and str(sunspots.index[-1].date()) == "2008-12-01"
    assert sunspots.min() >= 0 and 200 < sunspots.max() < 300
    assert sunspots.iloc[0] == 58.0


def test_tensorflow_logs_nothing_even_when_the_caller_lowered_the_level(tmp_path):
    script = "import model_utils, tensorflow as tf; list(tf.data.Dataset.range(3).map(lambda v: v * 2))"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0", "PYTHONPATH": str(mu.COURSE_ROOT)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "0000 " not in result.stderr, result.stderr


def test_announce_saved_prints_the_path_from_the_notebooks_folder_and_in_colab_how_to_download(
        tmp_path, monkeypatch, capsys):
    path = tmp_path / "run" / "submission.csv"
    path.parent.mkdir()
    path.write_text("id,target\n1,0\n")
    monkeypatch.chdir(tmp_path)
    assert mu.announce_saved("run/submission.csv", "Kaggle submission") == path.resolve()
    shown = capsys.readouterr().out
    assert shown.startswith("Kaggle submission: run/submission.csv (") and "download" not in shown
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    mu.announce_saved(path, "Kaggle submission")
    assert "files.download('run/submission.csv')" in capsys.readouterr().out
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    mu.announce_saved(path, "Kaggle submission")
    assert f"Kaggle submission: {path.resolve()} (" in capsys.readouterr().out, "outside the folder: the full path"


def test_input_gradient_norms_gives_the_size_of_each_steps_gradient():
    model = keras.Sequential([keras.Input((3, 2)), keras.layers.Flatten(), keras.layers.Dense(1, use_bias=False)])
    weights = np.array([[3.0], [4.0], [0.0], [0.0], [0.0], [2.0]], dtype="float32")  # step 0: (3, 4), step 2: (0, 2)
    model.set_weights([weights])
    x = np.random.default_rng(0).normal(size=(5, 3, 2)).astype("float32")
    np.testing.assert_allclose(mu.input_gradient_norms(model, x), [5.0, 0.0, 2.0], rtol=1e-6)


def test_draw_cell_shows_each_diagram_as_a_png_with_its_alt_text(monkeypatch):
    import IPython.display

    shown, open_figures = [], plt.get_fignums()
    monkeypatch.setattr(IPython.display, "display", lambda data, raw, metadata: shown.append((data, metadata)))
    mu.draw_cell("gru", "lstm")
    [(data, metadata)] = shown
    assert data["image/png"].startswith(b"\x89PNG")
    assert metadata["alt"] == data["text/plain"]
    assert "A GRU cell" in metadata["alt"] and "An LSTM cell" in metadata["alt"]
    assert "h_t = z_t ⊙ h_{t-1} + (1 - z_t) ⊙ h~_t" in metadata["alt"], "the alt text states the formula"
    assert metadata["image/png"]["width"] == 800, "shown at a notebook column's width"
    assert plt.get_fignums() == open_figures, "the figure is shown once, not again by the inline backend"
    with pytest.raises(ValueError, match="name one or more of rnn, lstm, gru, convlstm, seq2seq"):
        mu.draw_cell("transformer")


def test_cell_diagrams_need_no_network(monkeypatch):
    import socket

    def offline(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "socket", offline)
    monkeypatch.setattr(socket, "create_connection", offline)
    for kind in ("rnn", "lstm", "gru", "convlstm", "seq2seq"):
        assert len(mu.cell_diagram(kind).axes) == 1
        plt.close("all")


def test_paired_comparison_calls_a_difference_within_two_standard_errors_a_tie():
    rng = np.random.default_rng(0)
    errors = rng.normal(size=400)
    mean, margin, verdict = mu.paired_comparison(errors * 0.5, errors)
    assert mean < -margin < 0 and verdict == 1, "a's errors are half of b's on every step: a is better"
    assert mu.paired_comparison(errors, errors * 0.5)[2] == -1
    noise = rng.normal(scale=0.05, size=400)
    mean, margin, verdict = mu.paired_comparison(errors + noise, errors - noise)
    assert abs(mean) <= margin and verdict == 0, "differences that change sign at random are a tie"
    np.testing.assert_allclose(margin, 2 * (np.abs(errors + noise) - np.abs(errors - noise)).std(ddof=1) / 20)
