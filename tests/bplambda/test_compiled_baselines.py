"""The compiled BPTT(n) / DNI(n) pass (``_sequence.rnn_bptt_grads``) against the NumPy
loops of baselines.py (themselves checked against finite differences)."""
import numpy as np
import pytest

from zenkai_np.bplambda import DNIRNN, TruncatedBPTTRNN, VanillaRNN


def _batch(dtype, T=7, B=4):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((B, T, 3)).astype(dtype)
    Y = rng.standard_normal((B, T, 2)).astype(dtype)
    mask = rng.random(T) < 0.5
    mask[-1] = True
    return X, Y, mask


def _pair(cls, activation, dtype, **kw):
    out = []
    for backend in ("compiled", "numpy"):
        model = VanillaRNN(3, 6, 2, activation=activation, rng=2, dtype=dtype)
        L = cls(model, backend=backend, **kw)
        if hasattr(L, "synth"):
            rng = np.random.default_rng(7)
            for v in L.synth.params.values():
                v[...] = 0.3 * rng.standard_normal(v.shape)
        out.append(L)
    return out


def _compare(a, b, X, Y, mask, rtol):
    (ga, ia), (gb, ib) = a.gradients(X, Y, mask), b.gradients(X, Y, mask)
    assert set(ga) == set(gb)
    for k, v in gb.items():
        np.testing.assert_allclose(ga[k], v, rtol=0, atol=rtol * max(np.abs(v).max(), 1e-30),
                                   err_msg=k)
        assert ga[k].dtype == v.dtype
    assert ia["mse"] == pytest.approx(ib["mse"], rel=rtol)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("activation", ["identity", "tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("truncation", [None, 1, 2, 3, 5, 7, 9])
def test_compiled_truncated_bptt_equals_numpy(dtype, rtol, activation, truncation):
    X, Y, mask = _batch(dtype)
    _compare(*_pair(TruncatedBPTTRNN, activation, dtype, truncation=truncation), X, Y, mask,
             rtol)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("activation", ["identity", "tanh"])
@pytest.mark.parametrize("truncation", [1, 2, 3, 4])
@pytest.mark.parametrize("sg_last_window", [True, False])
def test_compiled_dni_equals_numpy(dtype, rtol, activation, truncation, sg_last_window):
    X, Y, mask = _batch(dtype)
    a, b = _pair(DNIRNN, activation, dtype, truncation=truncation, sg_weight=0.7,
                 sg_last_window=sg_last_window)
    _compare(a, b, X, Y, mask, rtol)
    for _ in range(3):                          # and over Adam steps
        a.train_batch(X, Y, mask)
        b.train_batch(X, Y, mask)
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=10 * rtol, atol=10 * rtol)


def test_backend_is_validated():
    with pytest.raises(ValueError, match="backend"):
        TruncatedBPTTRNN(VanillaRNN(2, 3, 1, rng=0), backend="torch")
    with pytest.raises(ValueError, match="backend"):
        DNIRNN(VanillaRNN(2, 3, 1, rng=0), backend="c")
