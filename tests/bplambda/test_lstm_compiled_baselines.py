"""The LSTM's compiled BPTT(n) / DNI(n) pass (``_lstm_sequence.lstm_bptt_grads``) against
the NumPy loops of lstm_baselines.py (full BPTT there is checked against finite
differences in test_lstm.py's oracle test and test_conditioned_synthesiser.py)."""
import numpy as np
import pytest

from zenkai_np.bplambda import ConditionedSynthesiser
from zenkai_np.bplambda.lstm import LSTM
from zenkai_np.bplambda.lstm_baselines import DNILSTM, TruncatedBPTTLSTM
from zenkai_np.bplambda.traces import limit_blas_threads

from bplambda_reference import fd_grads

TOL = {np.float64: 1e-12, np.float32: 2e-5}


def _batch(dtype, T=7, B=4):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((B, T, 3)).astype(dtype)
    Y = rng.random((B, T, 2)).astype(dtype)
    mask = rng.random(T) < 0.5
    mask[-1] = True
    return X, Y, mask


def _pair(cls, dtype, loss="mse", **kw):
    out = []
    for backend in ("compiled", "numpy"):
        L = cls(LSTM(3, 5, 2, rng=2, dtype=dtype), backend=backend, **kw)
        L.loss = loss
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
        assert ga[k].dtype == v.dtype
        np.testing.assert_allclose(ga[k], v, rtol=0, atol=rtol * max(np.abs(v).max(), 1e-30),
                                   err_msg=k)
    assert ia["mse"] == pytest.approx(ib["mse"], rel=rtol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("truncation", [None, 1, 2, 3, 7, 9])
@pytest.mark.parametrize("loss", ["mse", "softmax", "bce"])
def test_compiled_truncated_bptt_equals_numpy(dtype, truncation, loss):
    X, Y, mask = _batch(dtype)
    _compare(*_pair(TruncatedBPTTLSTM, dtype, loss, truncation=truncation), X, Y, mask,
             TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("truncation", [1, 2, 3, 4])
@pytest.mark.parametrize("sg_last_window", [True, False])
def test_compiled_dni_equals_numpy(dtype, truncation, sg_last_window):
    X, Y, mask = _batch(dtype)
    a, b = _pair(DNILSTM, dtype, truncation=truncation, sg_weight=0.7,
                 sg_last_window=sg_last_window, lr_rnn=1e-2, lr_readout=1e-2, lr_synth=1e-2)
    rtol = TOL[dtype]
    _compare(a, b, X, Y, mask, rtol)
    for _ in range(4):                          # and over Adam steps
        assert a.train_batch(X, Y, mask) == pytest.approx(b.train_batch(X, Y, mask),
                                                          rel=10 * rtol)
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=0,
                                   atol=10 * rtol * np.abs(b.params[k]).max(), err_msg=k)


def test_compiled_full_bptt_equals_finite_differences():
    X, Y, mask = _batch(np.float64, T=5, B=2)
    L = TruncatedBPTTLSTM(LSTM(3, 4, 2, rng=0))
    assert L._compiled()
    grads, _ = L.gradients(X, Y, mask)
    for k, v in fd_grads(L.model, X, Y, mask, ("W_x", "W_h", "b", "W_out", "b_out")).items():
        np.testing.assert_allclose(grads[k], v, rtol=1e-6, atol=1e-9, err_msg=k)


def test_thread_counts_and_inputs():
    X, Y, mask = _batch(np.float32, T=12, B=64)
    X.flags.writeable = False
    X0 = X.copy()
    out = []
    for n in (1, 2):
        with limit_blas_threads(n):
            out.append(_pair(DNILSTM, np.float32, truncation=3)[0].gradients(X, Y, mask)[0])
    for k, v in out[0].items():
        np.testing.assert_array_equal(out[1][k], v, err_msg=k)
    np.testing.assert_array_equal(X, X0)


def test_conditioned_synthesiser_falls_back_and_backend_is_validated():
    X, Y, mask = _batch(np.float64)
    ls = [DNILSTM(LSTM(3, 5, 2, rng=2), synthesiser=ConditionedSynthesiser(10, 2),
                  backend=be) for be in ("compiled", "numpy")]
    assert not ls[0]._compiled()
    (ga, _), (gb, _) = (L.gradients(X, Y, mask) for L in ls)
    for k in gb:
        np.testing.assert_array_equal(ga[k], gb[k])
    with pytest.raises(ValueError, match="backend"):
        TruncatedBPTTLSTM(LSTM(2, 3, 1, rng=0), backend="torch")
    with pytest.raises(ValueError, match="backend"):
        DNILSTM(LSTM(2, 3, 1, rng=0), backend="c")


def test_kernel_checks_truncation():
    from zenkai_np.bplambda import _lstm_sequence as ks
    X, Y, mask = _batch(np.float64)
    L = TruncatedBPTTLSTM(LSTM(3, 5, 2, rng=2))
    p = L.model.params
    g = {k: np.empty_like(v) for k, v in p.items()}
    sW, sb = np.zeros((10, 10)), np.zeros(10)
    work = np.empty(ks.workspace_size(4, 7, 3, 5, 2))
    with pytest.raises(ValueError, match="truncation"):
        ks.lstm_bptt_grads(X, Y, mask.view(np.uint8), p["W_x"], p["W_h"], p["b"], p["W_out"],
                           p["b_out"], sW, sb, 0, -1, False, False, 0.0, g["W_x"], g["W_h"],
                           g["b"], g["W_out"], g["b_out"], sW.copy(), sb.copy(), work)
