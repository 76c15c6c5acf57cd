"""The task generators against small hand-written cases: the authors' line-drawing
patterns and noise, the copy-repeat layout and curriculum rule; bad input."""
import math

import numpy as np
import pytest

from zenkai_np.bplambda import BPLambdaRNN, VanillaRNN
from zenkai_np.bplambda.copy_repeat import CopyRepeatTask
from zenkai_np.bplambda.tasks import LineDrawTask, authors_patterns, circle_points


def test_authors_patterns_are_randomstate_123_choices_in_binary():
    numbers = np.random.RandomState(123).choice(1024, size=3, replace=False)
    want = np.array([[int(c) for c in format(int(n), "010b")] for n in numbers], float)
    np.testing.assert_array_equal(authors_patterns(10, 3), want)
    assert len({tuple(r) for r in authors_patterns(4, 16)}) == 16    # distinct
    with pytest.raises(ValueError, match="n_points"):
        authors_patterns(2, 5)


def test_circle_points_start_at_the_top_and_go_round():
    np.testing.assert_allclose(circle_points(1), [[0.0, 1.0]], atol=1e-15)
    np.testing.assert_allclose(circle_points(4), [[0, 1], [1, 0], [0, -1], [-1, 0]],
                               atol=1e-15)


def test_line_draw_noise_is_on_every_step_with_the_given_std():
    task = LineDrawTask(5, n_points=3, noise_std=0.1)
    X, Y, mask = task.sample(4000, np.random.default_rng(0))
    clean = np.zeros_like(X)
    k = np.argmin(((X[:, 0, None, :] - task.patterns[None]) ** 2).sum(-1), axis=1)
    clean[:, 0] = task.patterns[k]
    noise = X - clean
    assert abs(noise.std() - 0.1) < 2e-3 and abs(noise.mean()) < 2e-3
    assert np.all(np.abs(noise[:, 1:]).mean(axis=(0, 2)) > 0.05)   # every later step too
    np.testing.assert_allclose(Y[:, -1], task.points[k])
    assert mask.tolist() == [False] * 4 + [True]
    X0, _, _ = LineDrawTask(5).sample(3, np.random.default_rng(0))
    assert not X0[:, 1:].any()


def test_copy_repeat_layout_by_hand():
    task = CopyRepeatTask(bits=2, N=2, R=1)
    X, Y, mask = task.sample(1, np.random.default_rng(5))
    T = (1 + 1) * 2 + 3
    assert X.shape == (1, T, 4) and Y.shape == (1, T, 3)
    seq = X[0, 1:3, :2]
    want_X = np.zeros((T, 4))
    want_X[0, 2] = 1
    want_X[1:3, :2] = seq
    want_X[3, 3] = 0.1
    want_Y = np.zeros((T, 3))
    want_Y[4:6, :2] = seq
    want_Y[6, 2] = 1
    np.testing.assert_array_equal(X[0], want_X)
    np.testing.assert_array_equal(Y[0], want_Y)
    assert mask.tolist() == [False] * 4 + [True] * 3


def test_copy_repeat_curriculum_rule():
    task = CopyRepeatTask()
    below, above = 0.1 * math.log(2), 0.2 * math.log(2)      # 0.1 and 0.2 bits
    assert not task.update(above) and task.level == (1, 1)
    levels = []
    for _ in range(5):
        assert task.update(below)
        levels.append(task.level)
    assert levels == [(2, 1), (2, 2), (3, 2), (3, 3), (4, 3)]   # R += 1 if R < N else N += 1


def test_curriculum_that_cannot_advance_and_bad_task_input():
    task = CopyRepeatTask(N=2, R=2, max_N=2)
    with pytest.raises(ValueError, match="cannot advance"):
        task.update(0.0)
    with pytest.raises(ValueError, match="threshold"):
        CopyRepeatTask(threshold=0.0)
    with pytest.raises(ValueError, match="batch_bce_nats"):
        CopyRepeatTask().update(float("nan"))
    with pytest.raises(ValueError, match="R"):
        CopyRepeatTask(N=1, R=2)
    for T in (1, 0):
        with pytest.raises(ValueError, match="seq_len"):
            LineDrawTask(T)
    with pytest.raises(ValueError, match="noise_std"):
        LineDrawTask(5, noise_std=float("nan"))


def test_learner_bad_input():
    model = VanillaRNN(2, 3, 1, rng=0)
    for name, kw in (("lam", {"lam": 1.5}), ("gamma", {"gamma": -0.1}),
                     ("lam", {"lam": float("nan")}), ("lr_synth", {"lr_synth": -1.0})):
        with pytest.raises(ValueError, match=name):
            BPLambdaRNN(model, **kw)
    with pytest.raises(ValueError, match="n_hidden"):
        VanillaRNN(2, 0, 1)
    X = np.ones((2, 4, 2))
    X[0, 1, 0] = np.nan
    with pytest.raises(ValueError, match="X"):
        BPLambdaRNN(model).gradients(X, np.zeros((2, 4, 1)))
