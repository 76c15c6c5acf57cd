"""The LSTM's compiled BP(λ) pass (``_lstm_sequence.lstm_sequence_grads``) against the
NumPy pass of ``BPLambdaLSTM`` (itself checked against finite differences and the forward
view in test_lstm.py), and against the forward view directly."""
import numpy as np
import pytest

from zenkai_np.bplambda import ConditionedSynthesiser, lambda_targets
from zenkai_np.bplambda.lstm import LSTM, BPLambdaLSTM
from zenkai_np.bplambda.traces import limit_blas_threads
from zenkai_np.framework import Adam, GradLearner, Linear

from bplambda_reference import lstm_sequence_quantities

TOL = {np.float64: 1e-12, np.float32: 2e-5}


def _batch(dtype, B=4, T=9, I=3, O=4, loss="mse", seed=5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((B, T, I)).astype(dtype)
    if loss == "softmax":
        Y = np.eye(O, dtype=dtype)[rng.integers(0, O, (B, T))]
    else:
        Y = rng.random((B, T, O)).astype(dtype)
    mask = rng.random(T) < 0.4
    mask[-1] = True
    return X, Y, mask


def _learner(backend, dtype, *, I=3, H=5, O=4, loss="mse", synth_scale=0.3, **kw):
    model = LSTM(I, H, O, rng=1, dtype=dtype)
    opts = {"gamma": 0.9, "lam": 0.7, "clip": 0.05, "sg_weight": 0.5, **kw}
    L = BPLambdaLSTM(model, backend=backend, lr_synth=1e-3, **opts)
    L.loss = loss
    rng = np.random.default_rng(3)
    for v in L.synth.params.values():
        v[...] = synth_scale * rng.standard_normal(v.shape)
    return L


def _assert_close(ga, gb, rtol):
    assert set(ga) == set(gb)
    for k, v in gb.items():
        assert ga[k].dtype == v.dtype, k
        np.testing.assert_allclose(ga[k], v, rtol=0, atol=rtol * max(np.abs(v).max(), 1e-30),
                                   err_msg=k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("gamma,lam,clip", [(0.9, 0.0, None), (0.9, 0.7, 0.05),
                                            (1.0, 1.0, None), (1.0, 1.0, 1.0),
                                            (0.5, 0.9, 0.2)])
@pytest.mark.parametrize("loss", ["mse", "softmax", "bce"])
def test_compiled_pass_equals_numpy(dtype, gamma, lam, clip, loss):
    X, Y, mask = _batch(dtype, loss=loss)
    kw = {"gamma": gamma, "lam": lam, "clip": clip, "loss": loss}
    (ga, ia), (gb, ib) = (_learner(be, dtype, **kw).gradients(X, Y, mask)
                          for be in ("compiled", "numpy"))
    _assert_close(ga, gb, TOL[dtype])
    assert ia["mse"] == pytest.approx(ib["mse"], rel=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("B,T,mask_steps", [(1, 1, [0]), (1, 2, [1]), (3, 2, [0]),
                                            (2, 6, [2]), (5, 4, [])])
def test_small_shapes_and_masks(dtype, B, T, mask_steps):
    """T = 1 (no trace step), B = 1, a target only before the end, no target at all."""
    X, Y, _ = _batch(dtype, B=B, T=T)
    mask = np.zeros(T, bool)
    mask[mask_steps] = True
    (ga, ia), (gb, ib) = (_learner(be, dtype).gradients(X, Y, mask)
                          for be in ("compiled", "numpy"))
    _assert_close(ga, gb, TOL[dtype])
    if mask_steps:
        assert ia["mse"] == pytest.approx(ib["mse"], rel=TOL[dtype])
    else:
        assert np.isnan(ia["mse"]) and np.isnan(ib["mse"])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("loss", ["mse", "softmax"])
def test_training_steps_agree(dtype, loss):
    """Six Adam steps (every group learning): the same parameters either way."""
    X, Y, mask = _batch(dtype, B=6, T=8, loss=loss)
    a, b = (_learner(be, dtype, loss=loss, lr_rnn=1e-2, lr_readout=1e-2)
            for be in ("compiled", "numpy"))
    for _ in range(6):
        la, lb = a.train_batch(X, Y, mask), b.train_batch(X, Y, mask)
        assert la == pytest.approx(lb, rel=10 * TOL[dtype])
    for k in a.params:
        moved = np.abs(b.params[k] - _learner("numpy", dtype).params[k]).max()
        assert moved > 0, k                                  # the group did learn
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=0,
                                   atol=10 * TOL[dtype] * np.abs(b.params[k]).max(),
                                   err_msg=k)


def test_compiled_pass_equals_the_forward_view():
    """λ-returns from explicit Jacobians (float64 einsum): the synthesiser's gradients."""
    X, Y, mask = _batch(np.float64, T=6)
    L = _learner("compiled", np.float64, gamma=0.8, lam=0.6, clip=None)
    assert L._compiled(None, False)
    grads, _ = L.gradients(X, Y, mask)
    S, Ls, Js = lstm_sequence_quantities(L.model, X, Y, mask)
    g = L.synth.predict(S)
    g[-1] = 0
    r = (lambda_targets(Ls, g, Js, 0.8, 0.6) - g)[:-1] / X.shape[0]
    np.testing.assert_allclose(grads["synth_W"], -np.einsum("tbd,tbs->ds", S[:-1], r),
                               rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(grads["synth_b"], -r.sum(axis=(0, 1)), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_thread_counts_do_not_change_the_result(dtype):
    X, Y, mask = _batch(dtype, B=64, T=12, I=6, O=3)
    threadpoolctl = pytest.importorskip("threadpoolctl")
    out = []
    for n in (1, 2):
        with limit_blas_threads(n):
            out.append(_learner("compiled", dtype, I=6, H=16, O=3,
                                n_threads=n).gradients(X, Y, mask))
            # the pass ran BLAS at one thread and put the caller's setting back
            assert {d["num_threads"] for d in threadpoolctl.threadpool_info()
                    if d["user_api"] == "blas"} == {n}
    for k, v in out[0][0].items():
        np.testing.assert_array_equal(out[1][0][k], v, err_msg=k)
    assert out[0][1]["mse"] == out[1][1]["mse"]


def test_inputs_untouched_and_non_contiguous_batch():
    X, Y, mask = _batch(np.float64)
    X.flags.writeable = False
    Y.flags.writeable = False
    X0, Y0, mask0 = X.copy(), Y.copy(), mask.copy()
    L = _learner("compiled", np.float64)
    params0 = {k: v.copy() for k, v in L.params.items()}
    g1, _ = L.gradients(X, Y, mask)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    np.testing.assert_array_equal(mask, mask0)
    for k, v in params0.items():                          # gradients() does not update
        np.testing.assert_array_equal(L.params[k], v)
    g2, _ = L.gradients(np.asfortranarray(X0), Y0[:, ::-1][:, ::-1], mask)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])


def test_other_options_fall_back_to_numpy():
    """A conditioned synthesiser, a machine readout, recorded signals, stored traces: the
    NumPy loop, identical for both backends."""
    X, Y, mask = _batch(np.float64)
    H, O = 5, 4
    rng = np.random.default_rng(0)
    cases = [lambda: {"synthesiser": ConditionedSynthesiser(2 * H, O)},
             lambda: {"readout": GradLearner(Linear(H, O, rng=0), Adam(lr=1e-3))},
             lambda: {"traces": "recursive"}]
    for kw in cases:
        ls = [_learner(be, np.float64, **kw()) for be in ("compiled", "numpy")]
        assert not ls[0]._compiled(None, False)
        W = 0.3 * rng.standard_normal(ls[0].synth.params["W"].shape)
        for L in ls:
            L.synth.params["W"][...] = W
        (ga, _), (gb, _) = (L.gradients(X, Y, mask) for L in ls)
        for k in gb:
            np.testing.assert_array_equal(ga[k], gb[k], err_msg=k)
    L = _learner("compiled", np.float64)
    _, info = L.gradients(X, Y, mask, record=True)
    assert info["delta"].shape == (X.shape[1] - 1, X.shape[0], 2 * H)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning",
                            "ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_divergence_raises(backend):
    X, Y, mask = _batch(np.float32, T=30)
    L = _learner(backend, np.float32, gamma=1.0, lam=1.0, clip=None, synth_scale=3e37)
    with pytest.raises(FloatingPointError, match="diverged at step"):
        L.gradients(X, Y, mask)


def test_bad_input_names_the_argument():
    X, Y, mask = _batch(np.float64)
    L = _learner("compiled", np.float64)
    with pytest.raises(ValueError, match="backend"):
        _learner("torch", np.float64)
    with pytest.raises(TypeError, match="X"):
        L.gradients(X.astype(np.float32), Y, mask)
    with pytest.raises(TypeError, match="Y"):
        L.gradients(X, Y.astype(np.float32), mask)
    Yn = Y.copy()
    Yn[0, 2, 1] = np.nan
    with pytest.raises(ValueError, match="Y"):
        L.gradients(X, Yn, mask)
    Xi = X.copy()
    Xi[1, 0, 0] = np.inf
    with pytest.raises(ValueError, match="X"):
        L.gradients(Xi, Y, mask)
    with pytest.raises(ValueError, match="mask"):
        L.gradients(X, Y, mask[:-1])
    with pytest.raises(ValueError, match="X"):
        L.gradients(X[:, :, :2], Y, mask)


def test_kernel_checks_shapes_and_buffers():
    from zenkai_np.bplambda import _lstm_sequence as ks
    X, Y, mask = _batch(np.float64)
    L = _learner("compiled", np.float64)
    p, sp = L.model.params, L.synth.params
    B, T, I = X.shape
    g = {k: np.empty_like(v) for k, v in L.params.items()}
    work = np.empty(ks.workspace_size(B, T, I, 5, 4))

    def call(**over):
        a = {"X": X, "Y": Y, "mask": mask.view(np.uint8), "W_x": p["W_x"], "W_h": p["W_h"],
             "b": p["b"], "W_out": p["W_out"], "b_out": p["b_out"], "sW": sp["W"],
             "sb": sp["b"], "loss": 0, "gW_x": g["W_x"], "gW_h": g["W_h"], "gb": g["b"],
             "gW_out": g["W_out"], "gb_out": g["b_out"], "gsW": g["synth_W"],
             "gsb": g["synth_b"], "work": work, **over}
        return ks.lstm_sequence_grads(
            a["X"], a["Y"], a["mask"], a["W_x"], a["W_h"], a["b"], a["W_out"], a["b_out"],
            a["sW"], a["sb"], a["loss"], 0.9, 0.5, 1.0, 1.0, a["gW_x"], a["gW_h"], a["gb"],
            a["gW_out"], a["gb_out"], a["gsW"], a["gsb"], a["work"])

    assert call()[1] == mask.sum()
    for name, bad in (("sW", np.zeros((10, 9))), ("b", np.zeros(19)), ("gsb", np.zeros(9)),
                      ("mask", np.ones(T + 1, np.uint8)), ("Y", Y[:, :, :3].copy()),
                      ("work", work[:-1])):
        with pytest.raises(ValueError, match=name):
            call(**{name: bad})
    with pytest.raises(ValueError, match="loss"):
        call(loss=3)
    with pytest.raises(ValueError, match="contiguous"):
        call(W_h=np.asfortranarray(p["W_h"]))


@pytest.mark.parametrize("dtype,scale", [(np.float64, 1e-6), (np.float64, 30.0),
                                         (np.float64, 1e3), (np.float32, 1e-6),
                                         (np.float32, 30.0)])
def test_saturated_and_tiny_gates(dtype, scale):
    """The compiled cell's own exp/sigmoid/tanh: pre-activations from ~1e-7 to ~1e4
    (past exp's clamp at −708) give NumPy's results. (float32 with every gate saturated
    is left out: there 1 − tanh² of a rounded tanh differs by % between any two tanh.)"""
    X, Y, mask = _batch(dtype)
    out = []
    for be in ("compiled", "numpy"):
        L = _learner(be, dtype)
        for k in ("W_x", "W_h", "b"):
            L.model.params[k] *= dtype(scale)
        out.append(L.gradients(X, Y, mask))
    _assert_close(out[0][0], out[1][0], TOL[dtype])
    assert out[0][1]["mse"] == pytest.approx(out[1][1]["mse"], rel=TOL[dtype])


def test_concurrent_learners_from_python_threads():
    """The pass releases the GIL: two learners in two Python threads (BLAS limited around
    the pool) give their serial results."""
    from concurrent.futures import ThreadPoolExecutor
    X, Y, mask = _batch(np.float64, B=16, T=10)
    learners = [_learner("compiled", np.float64, lam=lam) for lam in (0.3, 0.9)]
    serial = [L.gradients(X, Y, mask)[0] for L in learners]
    with limit_blas_threads(1), ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(lambda L=L: [L.gradients(X, Y, mask)[0] for _ in range(5)])
                for L in learners]
        results = [r.result() for r in runs]
    for ref, got in zip(serial, results):
        for g in got:
            for k, v in ref.items():
                np.testing.assert_array_equal(g[k], v, err_msg=k)
