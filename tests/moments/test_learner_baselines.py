"""The framework learning machine initialised by moments; the baselines' behaviour."""
import numpy as np
import pytest

from zenkai_np import GradLearner, MSELoss, SGD, fit
from zenkai_np.moments import (MomentReLULearner, fit_random_init, fit_zhong_style,
                               make_teacher, relative_mse)


def _data(family, d, k, N, seed):
    rng = np.random.default_rng(seed)
    teacher = make_teacher(family, d, k, rng)
    X, y = teacher.sample(N, rng)
    return teacher, X, y


def test_learner_forward_matches_estimator_after_moment_init():
    teacher, X, y = _data("generic", 8, 2, 8000, 0)
    m = MomentReLULearner(8, 2, rng=0)
    before = relative_mse(m.predict(X)[:, 0], y)
    m.init_from_moments(X, y, rng=0, n_random_starts=5)
    np.testing.assert_allclose(m.predict(X)[:, 0], m.estimator_.predict(X), rtol=1e-12,
                               atol=1e-12)
    assert relative_mse(m.predict(X)[:, 0], y) < 1e-10 < before


def test_learner_then_trains_by_another_rule():
    teacher, X, y = _data("generic", 8, 2, 4000, 1)
    m = MomentReLULearner(8, 2, rng=0,
                          rule=lambda layer: GradLearner(layer, SGD(lr=0.05)))
    m.init_from_moments(X, y, rng=0, n_random_starts=5)
    W1 = m.layer.layers[0].params["W"]
    W1 += 0.05 * np.random.default_rng(2).standard_normal(W1.shape)  # perturb in place
    perturbed = relative_mse(m.predict(X)[:, 0], y)
    fit(m, X, y[:, None], loss=MSELoss(), epochs=3, batch_size=128, rng=0, metrics=())
    assert relative_mse(m.predict(X)[:, 0], y) < 0.5 * perturbed


def test_learner_bad_arguments():
    with pytest.raises(ValueError, match="n_neurons"):
        MomentReLULearner(3, 4)
    with pytest.raises(TypeError, match="rule"):
        MomentReLULearner(3, 2, rule=lambda layer: None)


def test_random_init_recovers_an_easy_generic_teacher():
    teacher, X, y = _data("generic", 6, 1, 3000, 3)
    runs = fit_random_init(X, y, 1, n_restarts=2, rng=0)
    Xt, yt = teacher.sample(5000, np.random.default_rng(4))
    errs = [relative_mse(np.maximum(Xt @ u.T, 0) @ c, yt) for c, u, _ in runs]
    assert min(errs) < 1e-10


def test_zhong_style_cannot_see_a_t2_cancelling_plane():
    teacher, X, y = _data("t2cancel", 10, 4, 8000, 5)
    c, u, _ = fit_zhong_style(X, y, 4, rng=0, maxiter=60, full_maxiter=10)
    Xt, yt = teacher.sample(5000, np.random.default_rng(6))
    assert relative_mse(np.maximum(Xt @ u.T, 0) @ c, yt) > 1e-4
