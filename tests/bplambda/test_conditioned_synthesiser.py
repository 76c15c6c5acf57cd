"""The label-conditioned (cDNI) synthesiser: forward view, trace backends, LSTM, bad input."""
import numpy as np
import pytest

from zenkai_np.bplambda import (BPLambdaLSTM, BPLambdaRNN, ConditionedSynthesiser,
                                LinearSynthesiser, MLPSynthesiser, VanillaRNN, lambda_targets,
                                sequence_context)
from zenkai_np.bplambda.lstm import LSTM

from bplambda_reference import lstm_sequence_quantities, sequence_quantities


def _batch(T=7, B=3, n_in=2, n_out=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, T, n_in))
    Y = rng.standard_normal((B, T, n_out))
    mask = rng.random(T) < 0.5
    mask[-2] = True
    mask[-1] = False                       # the context is the last *target* step
    return X, Y, mask, rng


def _conditioned(n_state, n_context, rng):
    synth = ConditionedSynthesiser(n_state, n_context)
    synth.params["W"][...] = 0.3 * rng.standard_normal(synth.params["W"].shape)
    synth.params["b"][...] = 0.3 * rng.standard_normal(synth.params["b"].shape)
    return synth


def test_context_is_the_last_target_and_inputs_concatenate():
    X, Y, mask, rng = _batch()
    ctx = sequence_context(Y, mask)
    np.testing.assert_array_equal(ctx, Y[:, len(mask) - 2])
    synth = ConditionedSynthesiser(4, 3)
    h = rng.standard_normal((5, 3, 4))
    u = synth.inputs(h, ctx)
    assert u.shape == (5, 3, 7)
    np.testing.assert_array_equal(u[2, :, 4:], ctx)
    np.testing.assert_array_equal(u[..., :4], h)
    assert LinearSynthesiser(4, 4).inputs(h, ctx) is h


@pytest.mark.parametrize("activation", ["identity", "tanh"])
@pytest.mark.parametrize("traces,backend,stepwise", [
    ("unrolled", "compiled", False), ("unrolled", "numpy", False),
    ("recursive", "compiled", False), ("recursive", "numpy", False),
    ("recursive", "compiled", True)])
def test_forward_view_with_context(activation, traces, backend, stepwise):
    """−Σ_t mean_b (G^λ_t − g_t) ⊗ [h_t, y*, 1], G^λ from lambda_targets (einsum)."""
    X, Y, mask, rng = _batch()
    gamma, lam = 0.9, 0.6
    model = VanillaRNN(2, 5, 3, activation=activation, rng=1)
    synth = _conditioned(5, 3, rng)
    L = BPLambdaRNN(model, gamma=gamma, lam=lam, clip=None, synthesiser=synth, traces=traces,
                    backend=backend)
    L._stepwise = stepwise
    grads, _ = L.gradients(X, Y, mask)
    h, l, _, J = sequence_quantities(model, LinearSynthesiser(5, 5), X, Y, mask)
    u = np.concatenate([h, np.broadcast_to(Y[:, 5], h.shape[:2] + (3,))], axis=2)
    g = synth.predict(u)
    r = (lambda_targets(l, g, J, gamma, lam) - g)[:-1] / X.shape[0]
    W_ref = -np.einsum("tbd,tbs->ds", u[:-1], r)
    b_ref = -r.sum(axis=(0, 1))
    scale = np.abs(W_ref).max()
    np.testing.assert_allclose(grads["synth_W"], W_ref, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(grads["synth_b"], b_ref, rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("traces", ["unrolled", "recursive"])
def test_lstm_forward_view_with_context(traces):
    X, Y, mask, rng = _batch(T=6, n_out=2)
    H = 3
    model = LSTM(2, H, 2, rng=0)
    synth = _conditioned(2 * H, 2, rng)
    L = BPLambdaLSTM(model, gamma=0.9, lam=0.5, clip=None, synthesiser=synth, traces=traces)
    grads, _ = L.gradients(X, Y, mask)
    B, T, _ = X.shape
    S, Ls, Js = lstm_sequence_quantities(model, X, Y, mask)
    u = np.concatenate([S, np.broadcast_to(sequence_context(Y, mask), (T, B, 2))], axis=2)
    g = synth.predict(u)
    r = (lambda_targets(Ls, g, Js, 0.9, 0.5) - g)[:-1] / B
    np.testing.assert_allclose(grads["synth_W"], -np.einsum("tbd,tbs->ds", u[:-1], r),
                               rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(grads["synth_b"], -r.sum(axis=(0, 1)), rtol=1e-11, atol=1e-13)


def test_bad_input():
    model = VanillaRNN(2, 5, 3, rng=0)
    with pytest.raises(ValueError, match="n_context"):
        ConditionedSynthesiser(5, 0)
    with pytest.raises(ValueError, match="n_state"):
        ConditionedSynthesiser(-1, 2)
    with pytest.raises(ValueError, match="n_context = 2"):
        BPLambdaRNN(model, synthesiser=ConditionedSynthesiser(5, 2))
    with pytest.raises(ValueError, match="state features"):
        BPLambdaRNN(model, synthesiser=ConditionedSynthesiser(4, 3))
    with pytest.raises(ValueError, match="context"):
        ConditionedSynthesiser(5, 3).inputs(np.zeros((2, 5)))
    with pytest.raises(TypeError, match="LSTM learner"):
        BPLambdaLSTM(LSTM(2, 3, 2, rng=0), synthesiser=MLPSynthesiser(6, 6))


@pytest.mark.parametrize("lstm", [False, True])
def test_dni_with_context_rows_zero_is_plain_dni_and_context_rows_learn(lstm):
    """Zero context rows: every gradient equals plain DNI's, and the context rows get
    ``Σ_windows ctxᵀ r`` where plain DNI's bias gradient is ``Σ_windows Σ_b r``."""
    from zenkai_np.bplambda import DNIRNN
    from zenkai_np.bplambda.lstm_baselines import DNILSTM
    X, Y, mask, rng = _batch(T=9, n_out=2)
    Y[:, :, :] = 0
    Y[:, -2, 0] = 1.0                                  # the context: the same label for all b
    if lstm:
        model, S, cls = LSTM(2, 3, 2, rng=0), 6, DNILSTM
    else:
        model, S, cls = VanillaRNN(2, 4, 2, activation="tanh", rng=0), 4, DNIRNN
    W = 0.3 * rng.standard_normal((S, S))
    plain = LinearSynthesiser(S, S)
    plain.params["W"][...] = W
    cond = ConditionedSynthesiser(S, 2)
    cond.params["W"][:S] = W
    g_plain, _ = cls(model, truncation=2, synthesiser=plain).gradients(X, Y, mask)
    g_cond, _ = cls(model, truncation=2, synthesiser=cond).gradients(X, Y, mask)
    for k, v in g_plain.items():
        if k == "synth_W":
            np.testing.assert_allclose(g_cond[k][:S], v, rtol=1e-12, atol=1e-14)
        else:
            np.testing.assert_allclose(g_cond[k], v, rtol=1e-12, atol=1e-14, err_msg=k)
    # context (1, 0) for every sample: its row is the bias gradient, the other row is 0
    np.testing.assert_allclose(g_cond["synth_W"][S], g_plain["synth_b"], rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_array_equal(g_cond["synth_W"][S + 1], 0)
