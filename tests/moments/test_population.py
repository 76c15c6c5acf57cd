"""Empirical contractions converge to the population moments; control variates are unbiased."""
import numpy as np

from zenkai_np.moments import hermite_contract, hermite_scaled, relu_hermite_coefficient
from zenkai_np.moments.estimator import control_variate_residual
from zenkai_np.moments.teachers import make_teacher


def _population(teacher, g, order):
    c = relu_hermite_coefficient(order)
    proj = teacher.directions @ g
    return c * np.einsum("i,i,ia,ib->ab", teacher.coef, proj ** (order - 2),
                         teacher.directions, teacher.directions)


def test_population_identity_error_halves_when_n_quadruples():
    # d = 5, k = 3: ‖M̂ℓ(g) − cℓ Σ λ_i <u_i,g>^{ℓ−2} u_i u_iᵀ‖ ∝ 1/√N; ratio N vs 4N ≈ 2.
    rng = np.random.default_rng(0)
    teacher = make_teacher("generic", 5, 3, rng)
    G = rng.standard_normal((5, 10))
    G /= np.linalg.norm(G, axis=0)
    ratios = []
    for order in (2, 4):
        errs = []
        for N in (125_000, 500_000):
            errs_rep = []
            for _rep in range(4):  # independent data sets at each N
                X, y = teacher.sample(N, rng)
                M = hermite_contract(X, y, G, order)
                errs_rep.append([np.linalg.norm(M[q] - _population(teacher, G[:, q], order))
                                 for q in range(G.shape[1])])
            errs.append(np.sqrt(np.mean(np.square(errs_rep))))
        ratios.append(errs[0] / errs[1])
    assert all(1.5 <= ratio <= 2.5 for ratio in ratios), ratios


def test_moments_converge_to_population_value():
    rng = np.random.default_rng(1)
    teacher = make_teacher("generic", 5, 3, rng)
    X, y = teacher.sample(1_000_000, rng)
    g = teacher.directions.sum(axis=0)
    for order in (2, 4, 6):
        pop = _population(teacher, g, order)
        M = hermite_contract(X, y, g, order)
        assert np.linalg.norm(M - pop) < 0.1 * np.linalg.norm(pop) + 0.02 * (order - 1)


def _per_sample_entry(X, w, g, v):
    """w_j He_4(x_j)[g, g, v, v] per sample (docs/moments.md, n = 2), plain NumPy."""
    s, t = X @ g, X @ v
    s2 = g @ g
    H2, H1, H0 = hermite_scaled(2, s, s2), s, np.ones_like(s)
    val = H2 * (t * t - v @ v) - 2 * H1 * (2 * (g @ v) * t) + 2 * H0 * (g @ v) ** 2
    return w * val


def test_control_variate_is_unbiased_and_reduces_variance():
    rng = np.random.default_rng(2)
    teacher = make_teacher("generic", 6, 3, rng)
    X, y = teacher.sample(400_000, rng)
    _, _, r, _, _ = control_variate_residual(X, y)
    g = teacher.directions.T @ rng.standard_normal(3)  # inside the span
    v = teacher.directions[0]
    a = _per_sample_entry(X, y, g, v)
    b = _per_sample_entry(X, r, g, v)
    diff = a - b
    se = diff.std() / np.sqrt(len(diff))
    assert abs(diff.mean()) < 3 * se
    assert a.var() / b.var() >= 3.0
    # the kernel agrees with the per-sample mean
    M = hermite_contract(X, r, g, 4)
    assert abs(v @ M @ v - b.mean()) < 1e-10 * max(1.0, abs(b.mean()))
