"""RC-learn end to end: subspace step on cancelling teachers, planted recovery, errors."""
import numpy as np
import pytest

from zenkai_np.moments import ReLUMomentRegressor
from zenkai_np.moments.estimator import control_variate_residual, moment_subspace
from zenkai_np.moments.metrics import parameter_error, relative_mse, subspace_error
from zenkai_np.moments.network import relu_net_loss_grad
from zenkai_np.moments.teachers import make_teacher


# Smaller search budgets than the defaults keep the suite fast; recovery is still exact.
FAST = {"n_random_starts": 10, "search_rows": 5000, "n_candidate_draws": 50}


def _recover(family, d, k, N, seed, **kw):
    rng = np.random.default_rng(seed)
    teacher = make_teacher(family, d, k, rng)
    X, y = teacher.sample(N, rng)
    Xt, yt = teacher.sample(20_000, rng)
    est = ReLUMomentRegressor(k, rng=seed, **{**FAST, **kw}).fit(X, y)
    return teacher, est, relative_mse(est.predict(Xt), yt), parameter_error(
        teacher.coef, teacher.directions, est.coef_, est.directions_)


def test_cancellation_subspace_step():
    # t2cancel, d = 20, k = 4, N = 4e4: T₂-only subspace misses the plane; step 2 finds it.
    rng = np.random.default_rng(0)
    teacher = make_teacher("t2cancel", 20, 4, rng)
    X, y = teacher.sample(40_000, rng)
    t1, T2, r, tau1, tau2 = control_variate_residual(X, y)
    V, m_A, t2_basis = moment_subspace(X, r, 4, t1, T2, tau1, tau2, np.random.default_rng(1))
    assert subspace_error(teacher.directions, t2_basis) > 0.5
    assert subspace_error(teacher.directions, V) < 0.15
    assert m_A < 4
    np.testing.assert_allclose(V.T @ V, np.eye(4), atol=1e-12)


def test_generic_planted_recovery():
    teacher, est, rel, perr = _recover("generic", 30, 3, 20_000, seed=3, n_random_starts=30)
    assert rel < 1e-10 and perr < 1e-5
    assert est.n_subspace_from_t2_ == 3
    assert est.coef_.shape == (3,) and est.directions_.shape == (3, 30)
    np.testing.assert_allclose(np.linalg.norm(est.directions_, axis=1), 1.0, rtol=1e-12)


def test_t2cancel_recovery_in_at_least_4_of_5_seeds():
    exact = 0
    for seed in range(5):
        _, _, rel, perr = _recover("t2cancel", 20, 4, 40_000, seed=seed)
        exact += rel < 1e-10 and perr < 1e-5
    assert exact >= 4


def test_same_seed_same_result_and_float32_input():
    rng = np.random.default_rng(5)
    teacher = make_teacher("generic", 8, 2, rng)
    X, y = teacher.sample(5000, rng)
    a = ReLUMomentRegressor(2, rng=7, **FAST).fit(X, y)
    b = ReLUMomentRegressor(2, rng=7, **FAST).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_array_equal(a.directions_, b.directions_)
    c = ReLUMomentRegressor(2, rng=7, **FAST).fit(X.astype(np.float32), y)
    Xt, yt = teacher.sample(5000, rng)
    assert relative_mse(c.predict(Xt), yt) < 1e-6  # the float32 grid of X limits the fit


def test_noisy_labels_reach_parametric_rate():
    sigma, d, k, N = 0.1, 10, 2, 20_000
    rng = np.random.default_rng(6)
    teacher = make_teacher("generic", d, k, rng)
    X, y = teacher.sample(N, rng, noise=sigma)
    Xt, yt = teacher.sample(50_000, rng)
    est = ReLUMomentRegressor(k, rng=0, **FAST).fit(X, y)
    rate = sigma ** 2 * k * (d + 1) / (N * np.mean(yt ** 2))
    assert relative_mse(est.predict(Xt), yt) < 3 * rate


def test_loss_gradient_matches_finite_differences():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((200, 4))
    y = rng.standard_normal(200)
    a, W = rng.standard_normal(3), rng.standard_normal((3, 4))
    _, ga, gW = relu_net_loss_grad(X, y, a, W)
    eps = 1e-6
    for i in range(3):
        e = np.zeros(3)
        e[i] = eps
        fd = (relu_net_loss_grad(X, y, a + e, W)[0] - relu_net_loss_grad(X, y, a - e, W)[0])
        assert fd / (2 * eps) == pytest.approx(ga[i], rel=1e-6, abs=1e-9)
    for i, j in [(0, 0), (1, 3), (2, 2)]:
        E = np.zeros((3, 4))
        E[i, j] = eps
        fd = (relu_net_loss_grad(X, y, a, W + E)[0] - relu_net_loss_grad(X, y, a, W - E)[0])
        assert fd / (2 * eps) == pytest.approx(gW[i, j], rel=1e-6, abs=1e-9)


def test_permutation_and_rescaling_leave_labels_and_moments_unchanged():
    from zenkai_np.moments import hermite_contract
    rng = np.random.default_rng(8)
    teacher = make_teacher("generic", 6, 3, rng)
    X = rng.standard_normal((3000, 6))
    scales = np.array([0.5, 2.0, 3.0])
    perm = [2, 0, 1]
    W = teacher.directions * scales[:, None]  # (λ/s, s·u) is the same network
    y1 = teacher.predict(X)
    y2 = np.maximum(X @ W[perm].T, 0) @ (teacher.coef / scales)[perm]
    np.testing.assert_allclose(y2, y1, rtol=1e-13, atol=1e-13)
    G = rng.standard_normal((6, 2))
    np.testing.assert_allclose(hermite_contract(X, y2, G, 4), hermite_contract(X, y1, G, 4),
                               rtol=1e-11, atol=1e-12)


def test_bad_input_errors():
    rng = np.random.default_rng(9)
    X = rng.standard_normal((50, 6))
    y = X[:, 0]
    with pytest.raises(ValueError, match="n_neurons.*larger"):
        ReLUMomentRegressor(7).fit(X, y)
    with pytest.raises(ValueError, match="X.*samples"):
        ReLUMomentRegressor(2).fit(X[:5], y[:5])
    Xn = X.copy()
    Xn[1, 1] = np.nan
    with pytest.raises(ValueError, match="X.*NaN"):
        ReLUMomentRegressor(2).fit(Xn, y)
    with pytest.raises(ValueError, match="y"):
        ReLUMomentRegressor(2).fit(X, y[:-1])
    with pytest.raises(ValueError, match="n_neurons"):
        ReLUMomentRegressor(0).fit(X, y)
    with pytest.raises(TypeError, match="n_neurons"):
        ReLUMomentRegressor(2.0).fit(X, y)
    with pytest.raises(ValueError, match="fit"):
        ReLUMomentRegressor(2).predict(X)
    est = ReLUMomentRegressor(1, rng=0, n_random_starts=2, n_candidate_draws=10).fit(
        X, np.maximum(X[:, 0], 0))
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])
    assert est.set_params(n_neurons=3) is est and est.get_params()["n_neurons"] == 3


def test_faithful_mode_small_d():
    # full-space ℓ = 4, 6 directions in step 2 and ℓ = 8 candidates in step 3 (d ≲ 20)
    teacher, est, rel, perr = _recover("t2cancel", 8, 4, 40_000, seed=0, faithful=True)
    assert rel < 1e-10 and perr < 1e-5
    assert subspace_error(teacher.directions, est.subspace_) < 0.15
