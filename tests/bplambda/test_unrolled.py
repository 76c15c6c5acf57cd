"""Unrolled traces (unrolled.py, _sequence.pyx) against the stored-trace recursion."""
import numpy as np
import pytest

from zenkai_np.bplambda import BPLambdaRNN, VanillaRNN
from zenkai_np.bplambda.unrolled import row_factor_vjp, unrolled_synth_grads

KINDS = [("recursive", "compiled"), ("unrolled", "numpy"), ("unrolled", "compiled")]


def _learner(traces, backend, activation, dtype, lam=0.7, clip=0.5, synth_scale=0.3,
             H=9, n_threads=1):
    model = VanillaRNN(4, H, 3, activation=activation, rng=1, dtype=dtype)
    L = BPLambdaRNN(model, gamma=0.9, lam=lam, clip=clip, sg_weight=0.5, traces=traces,
                    backend=backend, n_threads=n_threads)
    rng = np.random.default_rng(3)
    L.synth.params["W"][...] = synth_scale * rng.standard_normal((H, H))
    L.synth.params["b"][...] = synth_scale * rng.standard_normal(H)
    return L


def _batch(dtype, B=5, T=7, H_in=4, O=3):
    rng = np.random.default_rng(4)
    X = rng.standard_normal((B, T, H_in)).astype(dtype)
    Y = rng.standard_normal((B, T, O)).astype(dtype)
    mask = np.zeros(T, bool)
    mask[[2, T - 1]] = True
    return X, Y, mask


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
@pytest.mark.parametrize("activation", ["identity", "tanh", "relu", "sigmoid"])
@pytest.mark.parametrize("lam,clip", [(0.0, None), (0.7, 0.05), (1.0, None), (1.0, 1.0)])
def test_unrolled_equals_recursive(dtype, rtol, activation, lam, clip):
    X, Y, mask = _batch(dtype)
    out = {k: _learner(*k, activation, dtype, lam=lam, clip=clip).gradients(X, Y, mask)
           for k in KINDS}
    ref, ref_info = out[KINDS[0]]
    for kind in KINDS[1:]:
        grads, info = out[kind]
        assert set(grads) == set(ref)
        for name, v in ref.items():
            assert grads[name].dtype == dtype
            scale = np.abs(v).max()
            np.testing.assert_allclose(grads[name], v, rtol=0, atol=rtol * scale,
                                       err_msg=f"{kind} {name}")
        assert info["mse"] == pytest.approx(ref_info["mse"], rel=rtol)


def test_compiled_pass_is_the_default_and_matches_over_training():
    """Ten Adam steps on the line-drawing-like batch: same weights either way."""
    X, Y, mask = _batch(np.float64, T=10)
    a = _learner("unrolled", "compiled", "tanh", np.float64)
    b = _learner("recursive", "compiled", "tanh", np.float64)
    assert BPLambdaRNN(VanillaRNN(2, 3, 1, rng=0)).traces == "unrolled"
    for _ in range(10):
        la, lb = a.train_batch(X, Y, mask), b.train_batch(X, Y, mask)
        assert la == pytest.approx(lb, rel=1e-12)
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-10, atol=1e-13)


def test_thread_count_does_not_change_the_compiled_pass():
    X, Y, mask = _batch(np.float32)
    g1, _ = _learner("unrolled", "compiled", "tanh", np.float32).gradients(X, Y, mask)
    g2, _ = _learner("unrolled", "compiled", "tanh", np.float32,
                     n_threads=2).gradients(X, Y, mask)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])


def test_blas_thread_count_does_not_change_the_compiled_pass():
    """OpenBLAS's threaded GEMMs round differently: the pass runs BLAS at one thread
    (a shape large enough for OpenBLAS to thread), and gives the caller's setting back."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from zenkai_np.bplambda.traces import limit_blas_threads
    X, Y, mask = _batch(np.float32, B=256, T=32, O=3)
    out = []
    for n in (1, 2):
        with limit_blas_threads(n):
            out.append(_learner("unrolled", "compiled", "tanh", np.float32,
                                H=32).gradients(X, Y, mask)[0])
            assert {d["num_threads"] for d in threadpoolctl.threadpool_info()
                    if d["user_api"] == "blas"} == {n}
    for k in out[0]:
        np.testing.assert_array_equal(out[0][k], out[1][k], err_msg=k)


def test_unrolled_numpy_against_explicit_traces():
    """dΘ_k = scale Σ_b δ_k E_k with E built by the recursion in float64 einsum."""
    rng = np.random.default_rng(0)
    n, B, S = 5, 3, 4
    Hs, Delta = rng.standard_normal((n, B, S)), rng.standard_normal((n, B, S))
    A, W = rng.uniform(0.2, 1, (n, B, S)), rng.standard_normal((S, S)) / 2
    decay = 0.8
    E = np.zeros((B, S, S, S + 1))
    gW, gb = np.zeros((S, S)), np.zeros(S)
    for k in range(n):
        J = A[k][:, :, None] * W.T                        # (B, S, S)
        E = decay * np.einsum("bim,bmjp->bijp", J, E)
        u = np.concatenate([Hs[k], np.ones((B, 1))], axis=1)
        E += np.einsum("ij,bp->bijp", np.eye(S), u)
        d = np.einsum("bi,bijp->jp", Delta[k], E) / B
        gW -= d[:, :S].T
        gb -= d[:, S]
    uW, ub = unrolled_synth_grads(Hs, Delta, decay, 1.0 / B, None, row_factor_vjp(W, A))
    np.testing.assert_allclose(uW, gW, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(ub, gb, rtol=1e-12, atol=1e-13)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning",
                            "ignore:invalid value:RuntimeWarning")  # the forward overflows too
@pytest.mark.parametrize("backend", ["compiled", "numpy"])
def test_divergence_raises(backend):
    X, Y, mask = _batch(np.float32, T=40)
    L = _learner("unrolled", backend, "identity", np.float32, lam=1.0, synth_scale=1e3)
    L.gamma = 1.0
    L.model.params["W_hh"][...] = 60 * np.eye(9, dtype=np.float32)
    with pytest.raises(FloatingPointError, match="diverged at step"):
        L.gradients(X, Y, mask)


def test_options_and_inputs_untouched():
    model = VanillaRNN(4, 9, 3, rng=0)
    with pytest.raises(ValueError, match="traces"):
        BPLambdaRNN(model, traces="stored")
    with pytest.raises(ValueError, match="traces"):
        BPLambdaRNN(model, traces="unrolled", update="step")
    assert BPLambdaRNN(model, update="step").traces == "recursive"
    X, Y, mask = _batch(np.float64)
    X.flags.writeable = False
    Y.flags.writeable = False
    X0, Y0 = X.copy(), Y.copy()
    L = BPLambdaRNN(model)
    L.gradients(X, Y, mask)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(Y, Y0)
    # a non-contiguous batch gives the contiguous batch's result
    Xn = np.asfortranarray(X0)
    g1, _ = L.gradients(X0, Y0, mask)
    g2, _ = L.gradients(Xn, Y0, mask)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])
