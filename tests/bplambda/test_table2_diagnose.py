"""The Table 2 divergence diagnostics (examples/bplambda/table2_diagnose.py).

The synthesiser's mean-update operator K, its fixed point and the stability
number kappa are checked against the learners' own synthesiser gradients
(BPLambdaRNN's TD(0) trace step, DNIRNN's windowed regression), which are
computed by different code (traces, backward passes over the windows).
"""
import numpy as np
import pytest

from zenkai_np.bplambda import DNIRNN, BPLambdaRNN, VanillaRNN
from zenkai_np.examples.bplambda.table2_diagnose import (DNIEndTarget, bootstrap_pairs, kappa,
                                                         mean_fixed_point, synth_operator)

H, T, B, I = 4, 7, 5, 3


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    model = VanillaRNN(I, H, 2, rng=seed)
    model.params["W_hh"] *= 2.0     # a spectral radius near or above 1, as in the runs
    X = rng.standard_normal((B, T, I))
    Y = rng.standard_normal((B, T, 2))
    mask = np.zeros(T, bool)
    mask[-1] = True
    return model, X, Y, mask


def _h_l(model, X, Y, mask):
    h, _, yhat = model.run(X)
    e = (yhat - Y.transpose(1, 0, 2)) / B * mask[:, None, None]
    return h, e @ model.params["W_out"].T


def _synth_grad(learner, X, Y, mask, theta):
    learner.synth.params["W"][...] = theta[:H]
    learner.synth.params["b"][...] = theta[H]
    grads, _ = learner.gradients(X, Y, mask)
    return np.vstack([grads["synth_W"], grads["synth_b"][None]])


def _learners(model):
    return {("bp0", None, True): BPLambdaRNN(model, gamma=0.9, lam=0.0, clip=None,
                                             backend="numpy", n_threads=1),
            ("dni", 2, True): DNIRNN(model, truncation=2, sg_weight=0.5),
            ("dni", 3, False): DNIRNN(model, truncation=3, sg_weight=0.5,
                                      sg_last_window=False),
            ("dni", 3, "end"): DNIEndTarget(model, truncation=3, sg_weight=0.5)}


KEYS = [("bp0", None, True), ("dni", 2, True), ("dni", 3, False), ("dni", 3, "end")]


def _pairs(key):
    method, n, last = key
    return bootstrap_pairs(method, T, n, last is not False, gamma=0.9, sg_weight=0.5,
                           end_target=last == "end")


@pytest.mark.parametrize("key", KEYS)
def test_operator_is_the_learners_mean_synthesiser_update(key):
    model, X, Y, mask = _batch()
    learner = _learners(model)[key]
    trained, pairs = _pairs(key)
    h, _ = _h_l(model, X, Y, mask)
    K, _ = synth_operator(h, model.params["W_hh"], trained, pairs)
    theta = np.random.default_rng(1).standard_normal((H + 1, H))
    # the learners return descent directions: -(grad(θ) - grad(0)) * B = K vec θ
    d = -(_synth_grad(learner, X, Y, mask, theta) - _synth_grad(learner, X, Y, mask, 0 * theta))
    np.testing.assert_allclose(d * B, (K @ theta.reshape(-1, order="F")).reshape(
        (H + 1, H), order="F"), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("key", KEYS)
def test_fixed_point_zeroes_the_learners_update(key):
    model, X, Y, mask = _batch(2)
    learner = _learners(model)[key]
    method, n, last = key
    h, l = _h_l(model, X, Y, mask)
    theta = mean_fixed_point(h, l, model.params["W_hh"], method, n, last is not False,
                             end_target=last == "end")
    g0 = _synth_grad(learner, X, Y, mask, 0 * theta)
    np.testing.assert_allclose(_synth_grad(learner, X, Y, mask, theta), 0,
                               atol=1e-9 * np.abs(g0).max())


def test_kappa_block_form_matches_dense_spectrum():
    rng = np.random.default_rng(3)
    W = rng.standard_normal((6, 6)) * 0.5
    h = rng.standard_normal((10, 20, 6))
    for method, n, last in [("bp0", None, True), ("dni", 2, True), ("dni", 4, False),
                            ("dni", 5, True)]:
        trained, pairs = bootstrap_pairs(method, 10, n, last)
        K, C0 = synth_operator(h, W, trained, pairs)
        dense = np.linalg.eigvals(K).real.max() / np.linalg.eigvalsh(C0).max()
        assert kappa(h, W, trained, pairs) == pytest.approx(dense, rel=1e-8, abs=1e-12)


def test_bootstrap_pairs():
    assert bootstrap_pairs("bp0", 4) == ([0, 1, 2], [(0, 1, 1, 0.9), (1, 2, 1, 0.9)])
    # T = 7, n = 3: windows (0, 1), (1, 4), (4, 7)
    assert bootstrap_pairs("dni", 7, 3, True) == ([0, 3], [(0, 3, 3, 0.5), (3, 6, 3, 0.5)])
    assert bootstrap_pairs("dni", 7, 3, False) == ([0, 3], [(0, 3, 3, 0.5)])
    with pytest.raises(ValueError):
        bootstrap_pairs("bp1", 4)


def test_end_target_regresses_the_last_state_on_zero():
    """DNIEndTarget = DNIRNN + the gradient of mean_b ½‖g(h_{T−1})‖² (finite differences)."""
    model, X, Y, mask = _batch(4)
    theta = np.random.default_rng(5).standard_normal((H + 1, H))
    a = DNIRNN(model, truncation=2, sg_weight=0.5)
    b = DNIEndTarget(model, truncation=2, sg_weight=0.5)
    diff = _synth_grad(b, X, Y, mask, theta) - _synth_grad(a, X, Y, mask, theta)
    hT = model.run(X)[0][-1]

    def f(th):
        g = hT @ th[:H] + th[H]
        return 0.5 * np.mean(np.sum(g * g, axis=1))
    eps, fd = 1e-6, np.zeros_like(theta)
    for idx in np.ndindex(theta.shape):
        tp, tm = theta.copy(), theta.copy()
        tp[idx] += eps
        tm[idx] -= eps
        fd[idx] = (f(tp) - f(tm)) / (2 * eps)
    np.testing.assert_allclose(diff, fd, rtol=1e-6, atol=1e-9)


def test_cli_quick_smoke(capsys):
    from zenkai_np.examples.bplambda.table2_diagnose import main
    out = main(["--quick", "--only", "runs", "--variants", "dni_end_target", "--ns", "2"])
    (r,) = out["runs"]
    assert r["variant"] == "dni_end_target" and r["n"] == 2 and len(r["log"]) == 3
    assert all(np.isfinite(row["kappa"]) for row in r["log"])
    assert "dni_end_target" in capsys.readouterr().out
