"""Compiled population passes against the NumPy formulation and an einsum.

``population_losses_of`` runs ``_framework.population_losses`` (C++, one body per
SIMD path: tested on every path this CPU has); ``forward_population`` runs
``_population.forward`` (Cython over SciPy's BLAS, one x86-64 baseline path).
Both accumulate differently from NumPy, so results are compared to the NumPy
formulation to a stated tolerance (outputs rtol 1e-6 / 1e-13, losses rtol
1e-5 / 1e-12 for float32 / float64) and to an einsum on float64 copies; they
are compared **bitwise** across thread counts.
"""
import numpy as np
import pytest

import zenkai_np as zk
from zenkai_np.framework import population_kernel as pk
from zenkai_np.framework.backend import use_backend
from zenkai_np.framework.learners import population_losses

pytest.importorskip("zenkai_np.framework._population")
pytest.importorskip("zenkai_np._framework")

pytestmark = pytest.mark.kernel

DTYPES = (np.float32, np.float64)
RTOL_Y = {np.float32: 1e-6, np.float64: 1e-13}
RTOL_L = {np.float32: 1e-5, np.float64: 1e-12}


def _case(dtype, P=9, N=13, n_in=7, n_out=5, per_member=False, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    layer = zk.Linear(n_in, n_out, dtype=dtype, bias=bias, rng=seed)
    pop = {"W": rng.standard_normal((P, n_in, n_out)).astype(dtype)}
    if bias:
        pop["b"] = rng.standard_normal((P, n_out)).astype(dtype)
    shape = (P, N, n_in) if per_member else (N, n_in)
    x = rng.standard_normal(shape).astype(dtype)
    t = rng.standard_normal((N, n_out)).astype(dtype)
    return layer, x, pop, t


def _einsum_reference(x, pop, t):
    """float64 einsum of the population forward and loss (independent of both paths)."""
    x64, W = x.astype(np.float64), pop["W"].astype(np.float64)
    sub = "pni,pio->pno" if x.ndim == 3 else "ni,pio->pno"
    y = np.einsum(sub, x64, W)
    if "b" in pop:
        y += pop["b"].astype(np.float64)[:, None, :]
    d = y - t.astype(np.float64)
    return y, 0.5 * (d * d).sum(axis=(1, 2))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("per_member", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_forward_and_losses_match_numpy(dtype, per_member, bias, n_threads):
    layer, x, pop, t = _case(dtype, per_member=per_member, bias=bias)
    copies = {k: v.copy() for k, v in pop.items()}, x.copy(), t.copy()
    with use_backend("compiled"):
        y = pk.forward_population(layer, x, pop, n_threads=n_threads)
        L = pk.population_losses_of(layer, x, pop, t, n_threads=n_threads)
    with use_backend("numpy"):
        y_np = pk.forward_population(layer, x, pop)
        L_np = pk.population_losses_of(layer, x, pop, t)
    y64, L64 = _einsum_reference(x, pop, t)
    np.testing.assert_allclose(y, y_np, rtol=RTOL_Y[dtype], atol=RTOL_Y[dtype])
    np.testing.assert_allclose(y, y64, rtol=10 * RTOL_Y[dtype], atol=10 * RTOL_Y[dtype])
    np.testing.assert_allclose(L, L_np, rtol=RTOL_L[dtype])
    np.testing.assert_allclose(L, L64, rtol=RTOL_L[dtype])
    for k, v in copies[0].items():              # inputs never modified
        np.testing.assert_array_equal(pop[k], v)
    np.testing.assert_array_equal(x, copies[1])
    np.testing.assert_array_equal(t, copies[2])


@pytest.mark.parametrize("dtype", DTYPES)
def test_identical_for_any_thread_count(dtype):
    layer, x, pop, t = _case(dtype, P=64, N=40, n_in=64, n_out=10)
    with use_backend("compiled"):
        ys = [pk.forward_population(layer, x, pop, n_threads=n) for n in (1, 2, 3)]
        Ls = [pk.population_losses_of(layer, x, pop, t, n_threads=n) for n in (1, 2, 3)]
    for y, L in zip(ys[1:], Ls[1:]):
        np.testing.assert_array_equal(y, ys[0])
        np.testing.assert_array_equal(L, Ls[0])


# Rows and columns around the tile sizes: panels of 2W rows (8 .. 32), tiles of 5 columns.
LOSS_SHAPES = [(1, 1, 1, 1), (3, 1, 5, 7), (4, 7, 3, 4), (5, 13, 9, 6), (6, 16, 8, 10),
               (7, 17, 64, 10), (3, 33, 2, 12), (2, 65, 11, 3), (2, 100, 7, 2),
               (3, 4100, 64, 2)]   # panels above the kernel's 1 MiB kept per thread


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", LOSS_SHAPES, ids=lambda s: "P%dN%di%do%d" % s)
@pytest.mark.parametrize("per_member", [False, True])
def test_losses_every_simd_path_and_tail(simd_path, dtype, shape, per_member):
    """Every row and column tail on every SIMD path: losses to the float64 einsum,
    bitwise equal for 1, 2 and 3 threads."""
    P, N, n_in, n_out = shape
    for bias in (True, False):
        layer, x, pop, t = _case(dtype, P=P, N=N, n_in=n_in, n_out=n_out,
                                 per_member=per_member, bias=bias, seed=N)
        with use_backend("compiled"):
            Ls = [pk.population_losses_of(layer, x, pop, t, n_threads=n) for n in (1, 2, 3)]
        _, L64 = _einsum_reference(x, pop, t)
        np.testing.assert_allclose(Ls[0], L64, rtol=RTOL_L[dtype])
        for L in Ls[1:]:
            np.testing.assert_array_equal(L, Ls[0])


@pytest.mark.parametrize("dtype", DTYPES)
def test_losses_nonfinite_members(simd_path, dtype):
    """A NaN or inf in one member's weights or bias reaches only that member's loss,
    as in NumPy (padding rows never pick it up: N = 13 leaves a partial panel)."""
    layer, x, pop, t = _case(dtype, P=5, N=13, n_in=6, n_out=7)
    pop["W"][1, 2, 3] = np.nan
    pop["b"][3, 0] = np.inf
    with use_backend("compiled"):
        L = pk.population_losses_of(layer, x, pop, t)
    with use_backend("numpy"), np.errstate(invalid="ignore", over="ignore"):
        L_np = pk.population_losses_of(layer, x, pop, t)
    assert np.isnan(L[1]) and np.isposinf(L[3])
    np.testing.assert_array_equal(np.isfinite(L), np.isfinite(L_np))
    ok = np.isfinite(L_np)
    np.testing.assert_allclose(L[ok], L_np[ok], rtol=RTOL_L[dtype])


def test_losses_binding_refuses_bad_buffers():
    """The binding's own checks (memory safety behind the Python layer)."""
    from zenkai_np import _framework
    layer, x, pop, t = _case(np.float64, P=3, N=4, n_in=2, n_out=3)
    W, b = pop["W"], pop["b"]
    out = np.empty(3)
    with pytest.raises(ValueError, match="x"):
        _framework.population_losses(x[:, :1].copy(), False, W, b, t, out, 1)
    with pytest.raises(ValueError, match="t"):
        _framework.population_losses(x, False, W, b, t[:, :2].copy(), out, 1)
    with pytest.raises(ValueError, match="b"):
        _framework.population_losses(x, False, W, b[:2].copy(), t, out, 1)
    with pytest.raises(ValueError, match="out"):
        _framework.population_losses(x, False, W, b, t, np.empty(2), 1)
    with pytest.raises(ValueError, match="n_threads"):
        _framework.population_losses(x, False, W, b, t, out, 0)
    with pytest.raises(TypeError):
        _framework.population_losses(x.astype(np.float32), False, W, b, t, out, 1)
    ro = np.empty(3)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _framework.population_losses(x, False, W, b, t, ro, 1)


def test_falls_back_for_other_layers_and_bad_input():
    layer, x, pop, t = _case(np.float64)
    with use_backend("compiled"):
        chain = zk.Chain(zk.Linear(7, 5, rng=0), zk.Tanh())
        cpop = {"0.W": pop["W"], "0.b": pop["b"]}
        np.testing.assert_allclose(pk.population_losses_of(chain, x, cpop, t),
                                   population_losses(chain.forward_population(x, cpop), t))
        with pytest.raises(ValueError, match="W"):
            pk.forward_population(layer, x, {"W": pop["W"][:, :3], "b": pop["b"]})
        with pytest.raises(ValueError, match="n_threads"):
            pk.forward_population(layer, x, pop, n_threads=0)
        with pytest.raises(TypeError, match="n_threads"):
            pk.population_losses_of(layer, x, pop, t, n_threads=1.5)


@pytest.mark.parametrize("learner", ["es", "ga", "hill"])
def test_learners_same_trajectory_both_backends(learner):
    """ES/GA/hill climbing make the same decisions with either backend (float64)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 6))
    t = x @ rng.standard_normal((6, 3))

    def run(backend):
        lin = zk.Linear(6, 3, rng=2)
        kw = dict(rng=3, x_search="none")
        m = {"es": lambda: zk.ESLearner(lin, zk.SGD(lr=0.05), pop_size=16, **kw),
             "ga": lambda: zk.GALearner(lin, pop_size=16, **kw),
             "hill": lambda: zk.HillClimbLearner(lin, n_candidates=8, **kw)}[learner]()
        net = zk.Sequential(m)
        losses = []
        with use_backend(backend):
            for _ in range(5):
                net.learn(x, t)
                d = net.forward(x) - t
                losses.append(0.5 * float((d * d).sum()))
        return lin.params["W"], losses

    Wc, Lc = run("compiled")
    Wn, Ln = run("numpy")
    np.testing.assert_allclose(Wc, Wn, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(Lc, Ln, rtol=1e-10)
    if learner != "es":
        assert all(b <= a + 1e-12 for a, b in zip(Lc, Lc[1:]))   # elitism / best-of


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_blas_layer_row_major(dtype, ta, tb):
    """``_blas`` row-major wrappers (operand swap) against NumPy products."""
    from zenkai_np import _blas
    rng = np.random.default_rng(4)
    m, k, n = 5, 7, 3
    A = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    B = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    C = rng.standard_normal((m, n)).astype(dtype)
    ref = 0.5 * (A.T if ta else A) @ (B.T if tb else B) + 2.0 * C
    _blas._gemm(A, B, C, ta, tb, 0.5, 2.0)
    np.testing.assert_allclose(C, ref, rtol=RTOL_Y[dtype], atol=RTOL_Y[dtype])
    G = rng.standard_normal((m, k)).astype(dtype)
    x = rng.standard_normal(m if ta else k).astype(dtype)
    yv = np.zeros(k if ta else m, dtype)
    _blas._gemv(G, x, yv, ta)
    np.testing.assert_allclose(yv, (G.T if ta else G) @ x, rtol=RTOL_Y[dtype],
                               atol=RTOL_Y[dtype])
    u, w = x.copy(), rng.standard_normal(x.shape).astype(dtype)
    w_ref = w.astype(np.float64) + 1.5 * u.astype(np.float64)
    r = _blas._axpy_dot(u, w, 1.5)
    np.testing.assert_allclose(w, w_ref, rtol=RTOL_Y[dtype], atol=RTOL_Y[dtype])
    assert r == pytest.approx(float(u.astype(np.float64) @ w_ref), rel=10 * RTOL_Y[dtype])
