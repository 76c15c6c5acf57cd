"""T1 (forward view = backward view), T2 (λ = γ = 1 is BPTT), T3 (λ = 0 limit)."""
import numpy as np
import pytest

from zenkai_np.bplambda import (BPLambdaRNN, VanillaRNN, future_gradients, lambda_targets,
                                td_errors)

from bplambda_reference import fd_future_gradient, sequence_quantities


def _setup(activation="tanh", T=7, B=3, H=5, seed=0, dense=True):
    rng = np.random.default_rng(seed)
    model = VanillaRNN(2, H, 3, activation=activation, rng=rng)
    X = rng.standard_normal((B, T, 2))
    Y = rng.standard_normal((B, T, 3))
    mask = np.ones(T, bool) if dense else (rng.random(T) < 0.5)
    mask[-1] = True
    return model, X, Y, mask, rng


def _random_synth(learner, rng):
    for v in learner.synth.params.values():
        v[...] = 0.3 * rng.standard_normal(v.shape)


def _forward_view_update(model, synth, X, Y, mask, gamma, lam):
    """−Σ_t mean_b (G^λ_t − g_t) ⊗ [h_t, 1]: the offline λ-SG gradient of (W, b)."""
    h, l, g, J = sequence_quantities(model, synth, X, Y, mask)
    T, B = h.shape[:2]
    G = lambda_targets(l, g, J, gamma, lam)
    r = (G - g)[: T - 1] / B
    return -np.einsum("tbd,tbs->ds", h[: T - 1], r), -r.sum(axis=(0, 1))


@pytest.mark.parametrize("activation", ["identity", "tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (0.9, 0.7), (1.0, 0.5), (0.5, 0.0),
                                       (0.95, 0.3)])
@pytest.mark.parametrize("traces,backend", [("recursive", "compiled"), ("recursive", "numpy"),
                                            ("unrolled", "compiled"), ("unrolled", "numpy")])
def test_T1_backward_view_equals_forward_view(activation, gamma, lam, traces, backend):
    model, X, Y, mask, rng = _setup(activation, dense=activation != "relu")
    L = BPLambdaRNN(model, gamma=gamma, lam=lam, clip=None, traces=traces, backend=backend)
    _random_synth(L, rng)
    grads, _ = L.gradients(X, Y, mask)
    W_ref, b_ref = _forward_view_update(model, L.synth, X, Y, mask, gamma, lam)
    scale = max(np.abs(W_ref).max(), np.abs(b_ref).max())
    assert np.abs(grads["synth_W"] - W_ref).max() <= 1e-12 * scale
    assert np.abs(grads["synth_b"] - b_ref).max() <= 1e-12 * scale


@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_T2_lambda_one_target_is_bptt_future_gradient(activation):
    model, X, Y, mask, rng = _setup(activation, T=6)
    from zenkai_np.bplambda import LinearSynthesiser
    synth = LinearSynthesiser(5, 5)
    synth.params["W"][...] = rng.standard_normal((5, 5))   # G^1 must not depend on g
    h, l, g, J = sequence_quantities(model, synth, X, Y, mask)
    G = lambda_targets(l, g, J, 1.0, 1.0)
    for t in range(6):
        np.testing.assert_allclose(G[t], fd_future_gradient(model, X, Y, mask, t),
                                   rtol=1e-7, atol=1e-9)
    # gamma < 1: the gamma-discounted BPTT recursion
    np.testing.assert_allclose(lambda_targets(l, g, J, 0.8, 1.0), future_gradients(l, J, 0.8),
                               rtol=1e-13, atol=1e-15)


def test_T3_lambda_zero_update_is_td0_outer_product():
    model, X, Y, mask, rng = _setup("tanh")
    L = BPLambdaRNN(model, gamma=0.9, lam=0.0, clip=None)
    _random_synth(L, rng)
    grads, _ = L.gradients(X, Y, mask)
    h, l, g, J = sequence_quantities(model, L.synth, X, Y, mask)
    d = td_errors(l, g, J, 0.9) / X.shape[0]
    T = h.shape[0]
    np.testing.assert_allclose(grads["synth_W"], -np.einsum("tbd,tbs->ds", h[: T - 1], d),
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(grads["synth_b"], -d.sum(axis=(0, 1)), rtol=1e-12, atol=1e-15)


def test_clip_is_per_tensor_unit_norm_after_batch_mean():
    model, X, Y, mask, rng = _setup("tanh", T=2)
    L = BPLambdaRNN(model, gamma=1.0, lam=1.0, clip=1e-3)
    _random_synth(L, rng)
    grads, _ = L.gradients(X, Y, mask)
    W_ref, b_ref = _forward_view_update(model, L.synth, X, Y, mask, 1.0, 1.0)  # one update
    np.testing.assert_allclose(grads["synth_W"], W_ref * 1e-3 / np.linalg.norm(W_ref),
                               rtol=1e-12)
    np.testing.assert_allclose(grads["synth_b"], b_ref * 1e-3 / np.linalg.norm(b_ref),
                               rtol=1e-12)
