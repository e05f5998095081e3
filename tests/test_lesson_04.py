"""Lesson 04 helpers: the moving-digits generator and the causal next-frame ConvLSTM."""
import numpy as np
import pytest

import model_utils as mu


def test_moving_digits_shapes_and_value_range():
    videos = mu.moving_digits(5, n_frames=7, canvas=24, n_digits=2, digit_size=10, seed=0)
    assert videos.shape == (5, 7, 24, 24, 1)
    assert videos.dtype == np.float32
    assert videos.min() >= 0.0 and videos.max() <= 1.0
    assert (videos.reshape(5 * 7, -1).max(axis=1) > 0.5).all(), "every frame shows a digit"


def test_moving_digits_repeat_for_a_seed_and_differ_across_seeds():
    first = mu.moving_digits(4, n_frames=6, seed=3)
    assert np.array_equal(first, mu.moving_digits(4, n_frames=6, seed=3))
    assert not np.array_equal(first, mu.moving_digits(4, n_frames=6, seed=4))


def test_moving_digits_move_with_constant_speed_inside_the_canvas():
    video = mu.moving_digits(1, n_frames=30, canvas=32, n_digits=1, digit_size=12, max_speed=2, seed=5)[0, ..., 0]
    centres = np.array([np.argwhere(frame > 0).mean(axis=0) for frame in video])
    steps = np.abs(np.diff(centres, axis=0))
    assert steps.max() <= 2 + 1e-6, "a digit moves at most max_speed pixels per frame along each axis"
    assert steps.max() > 0, "the digit moves"
    assert (video[:, 0].max(axis=1) > 0).any() or (video[:, :, 0].max(axis=1) > 0).any(), \
        "within 30 frames the digit reaches a border"


def test_moving_digits_rejects_bad_sizes():
    with pytest.raises(ValueError, match="digit_size"):
        mu.moving_digits(1, canvas=16, digit_size=20)
    with pytest.raises(ValueError, match="positive"):
        mu.moving_digits(0)
    with pytest.raises(ValueError, match="max_speed"):
        mu.moving_digits(1, canvas=16, digit_size=12, max_speed=5)
    assert mu.moving_digits(1, n_frames=3, canvas=16, digit_size=12, max_speed=4).shape == (1, 3, 16, 16, 1)


def test_causal_convlstm_predictions_up_to_t_ignore_later_frames():
    mu.set_seed(0)
    model = mu.causal_convlstm((16, 16, 1), filters=4, n_layers=2)
    videos = mu.moving_digits(3, n_frames=6, canvas=16, n_digits=1, digit_size=8, seed=1)
    before = model.predict(videos, verbose=0)
    assert before.shape == videos.shape
    assert before.min() >= 0.0 and before.max() <= 1.0
    for t in range(videos.shape[1] - 1):
        changed = videos.copy()
        changed[:, t + 1:] = np.random.default_rng(t).random(changed[:, t + 1:].shape, dtype="float32")
        after = model.predict(changed, verbose=0)
        assert np.array_equal(before[:, : t + 1], after[:, : t + 1]), f"predictions up to step {t} changed"
        assert not np.array_equal(before[:, t + 1:], after[:, t + 1:]), "later predictions must read the new frames"


def test_causal_convlstm_takes_any_batch_size_and_number_of_frames():
    mu.set_seed(0)
    model = mu.causal_convlstm((16, 16, 1), filters=4, n_layers=1)
    videos = mu.moving_digits(4, n_frames=7, canvas=16, n_digits=1, digit_size=8, seed=2)
    full = model.predict(videos, verbose=0)
    for batch, steps in [(4, 7), (2, 3), (3, 5), (1, 1)]:
        part = model.predict(videos[:batch, :steps], verbose=0)
        assert part.shape == (batch, steps, 16, 16, 1)
        # Other shapes may pick other convolution algorithms: equal up to float rounding.
        np.testing.assert_allclose(part, full[:batch, :steps], atol=1e-5,
                                   err_msg="a shorter video gives the same first predictions")
