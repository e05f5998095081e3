"""Lesson 04 helper: the moving-digits generator (the lesson checks its own model's causality)."""
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



def test_graded_checks_read_only_what_they_define_the_answer_cell_and_shared_modules():
    """A graded check must not depend on a cell the student can edit without being graded (issue 29): every name
    it reads is assigned in the check itself, is the exercise's function, or is a module imported by the lesson."""
    import ast
    import builtins

    from conftest import ROOT
    from course_tools import notebook

    nb = notebook.read(ROOT / "solutions" / "04_convlstm.ipynb")
    allowed = set(dir(builtins)) | {"np", "tf", "keras", "layers", "mu"}
    answers = {"convlstm-shape-check": "convlstm_shape_and_params", "convlstm-step-check": "convlstm_step"}
    checks = {cell.id: cell.source for cell in nb.cells if cell.id in answers}
    assert set(checks) == set(answers)
    for cell_id, source in checks.items():
        tree = ast.parse(source)
        assigned = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
        read = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        outside = read - assigned - allowed - {answers[cell_id]}
        assert not outside, f"{cell_id} reads {sorted(outside)} from other cells"


def lesson_verdicts():
    """The lesson's verdict functions (sign, outcome, compare) and their constants, taken from its results cell."""
    import ast

    from conftest import ROOT
    from course_tools import notebook

    [source] = [c.source for c in notebook.read(ROOT / "solutions" / "04_convlstm.ipynb").cells if "def outcome(" in c.source]
    tree = ast.parse(source)
    tree.body = [node for node in tree.body if isinstance(node, ast.FunctionDef)
                 or isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) in ("TIE", "VERBS")]
    namespace = {}
    exec(compile(tree, "04_convlstm results cell", "exec"), namespace)
    return namespace


def test_a_model_beats_another_only_when_mse_and_ssim_do_not_disagree():
    verdicts = lesson_verdicts()
    outcome, compare = verdicts["outcome"], verdicts["compare"]
    assert outcome((0.0099, 0.758), (0.0102, 0.851)) is None, "a lower MSE with a much lower SSIM is no win"
    assert "neither the ConvLSTM nor the motion copy wins" in compare("the ConvLSTM", (0.0099, 0.758),
                                                                       "the motion copy", (0.0102, 0.851))
    assert outcome((0.0099, 0.758), (0.0107, 0.743)) == 1 and outcome((0.0107, 0.743), (0.0099, 0.758)) == -1
    assert outcome((0.0100, 0.80), (0.0101, 0.70)) == 1, "a tie on MSE and a clear SSIM gain is a win"
    assert outcome((0.0100, 0.80), (0.0101, 0.79)) == 0
    assert "ties with" in compare("a", (0.0100, 0.80), "b", (0.0101, 0.79))
