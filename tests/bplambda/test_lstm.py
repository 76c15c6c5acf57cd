"""T9 done right: the LSTM's Jacobian and BP(λ) quantities against finite differences."""
import numpy as np
import pytest

from zenkai_np.bplambda import future_gradients, lambda_targets
from zenkai_np.bplambda.lstm import LSTM, BPLambdaLSTM

from bplambda_reference import fd_grads, lstm_sequence_quantities


def _setup(T=4, B=2, H=3, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    model = LSTM(2, H, 2, rng=rng, dtype=dtype)
    X = rng.standard_normal((B, T, 2)).astype(dtype)
    Y = rng.standard_normal((B, T, 2)).astype(dtype)
    return model, X, Y, rng


_quantities = lstm_sequence_quantities


def test_jacobian_is_exact_including_output_gate_path():
    model, X, _, rng = _setup(B=2)
    H = 3
    h0, c0 = rng.standard_normal((2, H)), rng.standard_normal((2, H))
    _, _, cache = model.cell(X[:, 0], h0, c0)
    J = model.jacobian(cache)
    eps = 1e-6
    for k in range(2 * H):
        dh, dc = np.zeros((2, H)), np.zeros((2, H))
        (dh if k < H else dc)[:, k % H] = eps
        hp, cp, _ = model.cell(X[:, 0], h0 + dh, c0 + dc)
        hm, cm, _ = model.cell(X[:, 0], h0 - dh, c0 - dc)
        col = np.concatenate([hp - hm, cp - cm], axis=1) / (2 * eps)
        np.testing.assert_allclose(J[:, :, k], col, rtol=1e-7, atol=1e-9)


def test_T9_probe_first_td_error_is_exact_gradient_of_the_next_loss():
    model, X, Y, _ = _setup(T=2)
    mask = np.array([False, True])
    L = BPLambdaLSTM(model, gamma=1.0, lam=1.0)        # g = 0: zero-initialised synthesiser
    _, info = L.gradients(X, Y, mask, record=True)
    delta0 = info["delta"][0]
    B, H, eps = 2, 3, 1e-6
    h0, c0, _ = model.cell(X[:, 0], np.zeros((B, H)), np.zeros((B, H)))
    p = model.params

    def loss1(h, c):
        h1, _, _ = model.cell(X[:, 1], h, c)
        return np.sum((h1 @ p["W_out"] + p["b_out"] - Y[:, 1]) ** 2) / (2 * B)

    ref = np.zeros((B, 2 * H))
    for b in range(B):
        for k in range(2 * H):
            d = np.zeros((B, 2 * H))
            d[b, k] = eps
            ref[b, k] = (loss1(h0 + d[:, :H], c0 + d[:, H:])
                         - loss1(h0 - d[:, :H], c0 - d[:, H:])) / (2 * eps)
    np.testing.assert_allclose(delta0, ref, rtol=1e-7, atol=1e-10)


def test_oracle_synthesiser_gives_full_bptt_gradient():
    model, X, Y, _ = _setup(T=5)
    mask = np.array([False, True, False, True, True])
    S, L, J = _quantities(model, X, Y, mask)
    grads, _ = BPLambdaLSTM(model).gradients(X, Y, mask, g_override=future_gradients(L, J))
    ref = fd_grads(model, X, Y, mask, ("W_x", "W_h", "b", "W_out", "b_out"))
    for k, v in ref.items():
        np.testing.assert_allclose(grads[k], v, rtol=1e-6, atol=1e-9, err_msg=k)


@pytest.mark.parametrize("gamma,lam", [(1.0, 1.0), (0.9, 0.5), (0.8, 0.0)])
@pytest.mark.parametrize("traces", ["unrolled", "recursive"])
def test_lstm_backward_view_equals_forward_view(gamma, lam, traces):
    model, X, Y, rng = _setup(T=5)
    mask = np.ones(5, bool)
    learner = BPLambdaLSTM(model, gamma=gamma, lam=lam, clip=None, traces=traces)
    for v in learner.synth.params.values():
        v[...] = 0.3 * rng.standard_normal(v.shape)
    grads, _ = learner.gradients(X, Y, mask)
    S, L, J = _quantities(model, X, Y, mask)
    g = learner.synth.predict(S)
    r = (lambda_targets(L, g, J, gamma, lam) - g)[:-1] / 2
    np.testing.assert_allclose(grads["synth_W"], -np.einsum("tbd,tbs->ds", S[:-1], r),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads["synth_b"], -r.sum(axis=(0, 1)), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_lstm_unrolled_equals_recursive_with_clip(dtype, rtol):
    model, X, Y, rng = _setup(T=9, B=4, H=5, dtype=dtype)
    mask = rng.random(9) < 0.5
    mask[-1] = True
    theta = [0.3 * rng.standard_normal(v.shape) for v in
             BPLambdaLSTM(model).synth.params.values()]
    out = {}
    for traces in ("unrolled", "recursive"):
        learner = BPLambdaLSTM(model, gamma=0.9, lam=0.8, clip=0.05, traces=traces)
        for v, t in zip(learner.synth.params.values(), theta):
            v[...] = t
        out[traces] = learner.gradients(X, Y, mask)[0]
    for k, v in out["recursive"].items():
        np.testing.assert_allclose(out["unrolled"][k], v, rtol=0,
                                   atol=rtol * np.abs(v).max(), err_msg=k)
    with pytest.raises(ValueError, match="traces"):
        BPLambdaLSTM(model, traces="stored")


def test_state_vjp_equals_the_explicit_jacobian():
    model, X, _, rng = _setup(B=3, H=4)
    h0, c0 = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    _, _, cache = model.cell(X[:, 0], h0, c0)
    J = model.jacobian(cache)
    v = rng.standard_normal((3, 8))
    np.testing.assert_allclose(model.state_vjp(cache, v), np.einsum("bi,bij->bj", v, J),
                               rtol=1e-13, atol=1e-14)
    V = rng.standard_normal((3, 5, 8))                     # several rows per sample
    np.testing.assert_allclose(model.state_vjp(cache, V), np.einsum("bmi,bij->bmj", V, J),
                               rtol=1e-13, atol=1e-14)


def test_lstm_float32():
    model, X, Y, _ = _setup(dtype=np.float32)
    grads, info = BPLambdaLSTM(model).gradients(X, Y)
    assert all(v.dtype == np.float32 for v in grads.values())
    assert np.isfinite(info["mse"])


@pytest.mark.parametrize("loss", ["mse", "softmax", "bce"])
def test_lstm_bptt_baseline_and_losses_match_finite_differences(loss):
    from finite_differences import central_differences

    from zenkai_np.bplambda.lstm_baselines import TruncatedBPTTLSTM
    rng = np.random.default_rng(7)
    B, T, I, H, O = 2, 4, 3, 3, 3
    model = LSTM(I, H, O, rng=1)
    X = rng.standard_normal((B, T, I))
    Y = np.eye(O)[rng.integers(0, O, (B, T))] if loss != "mse" else rng.standard_normal((B, T, O))
    mask = np.array([False, True, False, True])
    L = TruncatedBPTTLSTM(model)
    L.loss = loss
    grads, info = L.gradients(X, Y, mask)

    def total():
        a = model.predict(X)[:, mask]
        y = Y[:, mask]
        if loss == "mse":
            return np.sum((a - y) ** 2) / (2 * B)
        if loss == "softmax":
            z = a - a.max(-1, keepdims=True)
            return -np.sum(y * (z - np.log(np.exp(z).sum(-1, keepdims=True)))) / B
        return np.sum(np.maximum(a, 0) - a * y + np.log1p(np.exp(-np.abs(a)))) / (B * O)
    for k in ("W_x", "W_h", "b", "W_out", "b_out"):
        np.testing.assert_allclose(grads[k], central_differences(total, model.params[k]),
                                   rtol=1e-6, atol=1e-8, err_msg=k)
    with pytest.raises(ValueError, match="loss"):
        L.loss = "hinge"
