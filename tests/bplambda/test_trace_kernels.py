"""T5: the compiled trace kernels against a plain NumPy loop; validation of bad input."""
import numpy as np
import pytest

from zenkai_np._simd import supported_simd_paths, use_simd_path
from zenkai_np.bplambda import EligibilityTrace, trace_add_diag, trace_contract, trace_step
from zenkai_np.bplambda._reference import trace_contract_naive, trace_step_naive

pytestmark = pytest.mark.kernel  # compiled-kernel tests: CI runs them on every SIMD path

TOL = {np.float32: 1e-5, np.float64: 1e-12}
SHAPES = [(4, 3, 5), (30, 10, 31), (13, 2, 61)]


def _operands(S, B, P, dtype, rng):
    c = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    return dict(E=c(S, B, S, P), W=c(S, S) / float(np.sqrt(S)), a=c(B, S),
                J=c(B, S, S) / float(np.sqrt(S)),
                u=c(B, P), delta=c(B, S))


def _close(x, ref, dtype):
    scale = max(np.abs(ref).max(), 1e-30)
    assert np.abs(x - ref).max() <= TOL[dtype] * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("S,B,P", SHAPES)
@pytest.mark.parametrize("path", ["shared", "shared_no_a", "batched"])
def test_fused_step_matches_naive_loop(dtype, S, B, P, path):
    rng = np.random.default_rng(S * 100 + B)
    ops = _operands(S, B, P, dtype, rng)
    jac = {"shared": dict(W=ops["W"], a=ops["a"]), "shared_no_a": dict(W=ops["W"]),
           "batched": dict(J=ops["J"])}[path]
    for decay in (0.0, 0.5, 1.0):
        E_ref, th_ref = trace_step_naive(ops["E"].astype(np.float64), ops["u"], decay=decay,
                                         delta=ops["delta"], scale=1 / B,
                                         **{k: v.astype(np.float64) for k, v in jac.items()})
        for threads in (1, 2):
            for simd in supported_simd_paths():
                E = ops["E"].copy()
                with use_simd_path(simd):
                    th = trace_step(E, ops["u"], decay=decay, delta=ops["delta"], scale=1 / B,
                                    n_threads=threads, **jac)
                assert E.dtype == dtype and th.dtype == dtype
                _close(E, E_ref, dtype)
                _close(th, th_ref, dtype)
                E_in, E_new = ops["E"].copy(), np.full_like(ops["E"], np.nan)
                th = trace_step(E_in, ops["u"], decay=decay, delta=ops["delta"], scale=1 / B,
                                E_out=E_new, n_threads=threads, **jac)
                np.testing.assert_array_equal(E_in, ops["E"])   # out of place: E unchanged
                _close(E_new, E_ref, dtype)
                _close(th, th_ref, dtype)
                E_sp = np.full((S + 1, B, S, P), np.nan, dtype)  # spare row: GEMM contracts
                th = trace_step(E_in, ops["u"], decay=decay, delta=ops["delta"], scale=1 / B,
                                E_out=E_sp, n_threads=threads, **jac)
                _close(E_sp[:S], E_ref, dtype)
                _close(th, th_ref, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("path", ["shared", "batched"])
def test_parallel_size_matches_naive_loop(dtype, path):
    # 2 S^2 B S P >= 3e7 flops: the kernel really runs its OpenMP tiles
    S, B, P = 40, 6, 41
    rng = np.random.default_rng(9)
    ops = _operands(S, B, P, dtype, rng)
    jac = dict(W=ops["W"], a=ops["a"]) if path == "shared" else dict(J=ops["J"])
    E_ref, th_ref = trace_step_naive(ops["E"].astype(np.float64), ops["u"], decay=0.9,
                                     delta=ops["delta"], scale=1 / B,
                                     **{k: v.astype(np.float64) for k, v in jac.items()})
    for spare in (False, True):
        E_out = np.empty((S + 1 if spare else S, B, S, P), dtype)
        th = trace_step(ops["E"], ops["u"], decay=0.9, delta=ops["delta"], scale=1 / B,
                        E_out=E_out, n_threads=2, **jac)
        _close(E_out[:S], E_ref, dtype)
        _close(th, th_ref, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("S,B,P", [(30, 10, 31), (60, 4, 61)])   # serial / parallel sizes
@pytest.mark.parametrize("spare", [False, True])
def test_thread_count_does_not_change_results(dtype, S, B, P, spare):
    rng = np.random.default_rng(7)
    ops = _operands(S, B, P, dtype, rng)
    outs = []
    for threads in (1, 2, 3):
        E = ops["E"].copy()
        E_out = np.empty((S + 1, B, S, P), dtype) if spare else None
        th = trace_step(E, ops["u"], W=ops["W"], a=ops["a"], decay=0.9, delta=ops["delta"],
                        E_out=E_out, n_threads=threads)
        outs.append((E_out[:S] if spare else E, th))
    for E, th in outs[1:]:
        np.testing.assert_array_equal(E, outs[0][0])
        np.testing.assert_array_equal(th, outs[0][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_push_only_and_separate_pieces_compose_to_fused_step(dtype):
    rng = np.random.default_rng(3)
    ops = _operands(6, 4, 7, dtype, rng)
    E1 = ops["E"].copy()
    th1 = trace_step(E1, ops["u"], J=ops["J"], decay=0.7, delta=ops["delta"], scale=0.25)
    E2 = ops["E"].copy()
    assert trace_step(E2, J=ops["J"], decay=0.7) is None       # push only
    trace_add_diag(E2, ops["u"])
    th2 = trace_contract(E2, ops["delta"], scale=0.25)
    _close(E2, E1, dtype)
    _close(th2, th1, dtype)
    _close(th2, trace_contract_naive(E2.astype(np.float64), ops["delta"], scale=0.25), dtype)


def test_inputs_are_not_modified_and_out_is_used():
    rng = np.random.default_rng(5)
    ops = _operands(5, 3, 6, np.float64, rng)
    keep = {k: v.copy() for k, v in ops.items()}
    out = np.empty((5, 6))
    E = ops["E"]
    res = trace_step(E, ops["u"], W=ops["W"], a=ops["a"], decay=0.5, delta=ops["delta"], out=out)
    assert res is out
    for k in ("W", "a", "u", "delta", "J"):
        np.testing.assert_array_equal(ops[k], keep[k])
    assert not np.array_equal(E, keep["E"])  # E is the in-place state


def test_eligibility_trace_object_alternates_buffers_like_in_place_steps():
    rng = np.random.default_rng(11)
    ops = _operands(5, 2, 4, np.float64, rng)
    tr = EligibilityTrace(5, 2, 4)
    E = np.zeros((5, 2, 5, 4))
    for _ in range(4):
        u = rng.standard_normal((2, 4))
        th_obj = tr.step(u, W=ops["W"], a=ops["a"], decay=0.8, delta=ops["delta"]).copy()
        th = trace_step(E, u, W=ops["W"], a=ops["a"], decay=0.8, delta=ops["delta"])
        np.testing.assert_allclose(tr.E, E, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(th_obj, th, rtol=1e-13, atol=1e-15)


def test_eligibility_trace_object_reset_and_lambda_zero():
    tr = EligibilityTrace(3, 2, 4)
    u = np.arange(8.0).reshape(2, 4)
    tr.step(u, W=np.eye(3), decay=0.0)
    tr.step(u, W=np.eye(3), decay=0.0)          # decay 0: only the latest diagonal term
    expect = np.zeros((3, 2, 3, 4))
    for i in range(3):
        expect[i, :, i] = u
    np.testing.assert_array_equal(tr.E, expect)
    tr.reset()
    assert not tr.E.any()


class TestBadInput:
    def setup_method(self):
        rng = np.random.default_rng(0)
        self.ops = _operands(4, 3, 5, np.float64, rng)

    def test_wrong_shapes_name_the_argument(self):
        o = self.ops
        with pytest.raises(ValueError, match="u"):
            trace_step(o["E"], o["u"][:, :4], W=o["W"], decay=1.0)
        with pytest.raises(ValueError, match="delta"):
            trace_step(o["E"], o["u"], W=o["W"], decay=1.0, delta=o["delta"][:2])
        with pytest.raises(ValueError, match="J"):
            trace_step(o["E"], o["u"], J=o["J"][:2], decay=1.0)
        with pytest.raises(ValueError, match="E"):
            trace_step(o["E"][:, :, :3], o["u"], W=o["W"], decay=1.0)
        with pytest.raises(ValueError, match="E_out: overlaps"):
            trace_step(o["E"], o["u"], W=o["W"], decay=1.0, E_out=o["E"])
        with pytest.raises(ValueError, match="E_out"):
            trace_step(o["E"], o["u"], W=o["W"], decay=1.0, E_out=o["E"][:1].copy())
        with pytest.raises(ValueError, match="W, J"):
            trace_step(o["E"], o["u"], W=o["W"], J=o["J"], decay=1.0)
        with pytest.raises(ValueError, match="out"):
            trace_step(o["E"], o["u"], W=o["W"], decay=1.0, delta=o["delta"],
                       out=np.empty((4, 4)))

    def test_nan_and_dtype_and_layout(self):
        o = self.ops
        u = o["u"].copy()
        u[0, 0] = np.nan
        with pytest.raises(ValueError, match="u: contains NaN"):
            trace_step(o["E"], u, W=o["W"], decay=1.0)
        with pytest.raises(ValueError, match="decay"):
            trace_step(o["E"], o["u"], W=o["W"], decay=np.inf)
        E32 = o["E"].astype(np.float32)
        with pytest.raises(TypeError, match="W"):
            trace_step(E32, o["u"].astype(np.float32), W=o["W"], decay=1.0)
        ro = o["E"].copy()
        ro.flags.writeable = False
        with pytest.raises(ValueError, match="read-only"):
            trace_step(ro, o["u"], W=o["W"], decay=1.0)
        nc = np.asfortranarray(o["E"])
        with pytest.raises(ValueError, match="C-contiguous"):
            trace_step(nc, o["u"], W=o["W"], decay=1.0)
        with pytest.raises(TypeError, match="E"):
            trace_step(o["E"].tolist(), o["u"], W=o["W"], decay=1.0)
        with pytest.raises(ValueError, match="n_threads"):
            trace_step(o["E"], o["u"], W=o["W"], decay=1.0, n_threads=0)
        with pytest.raises(TypeError, match="n_threads"):
            trace_step(o["E"], o["u"], W=o["W"], decay=1.0, n_threads=1.5)

    def test_unstable_jacobian_overflows_to_non_finite_as_documented(self):
        E = np.zeros((2, 1, 2, 2), np.float32)
        u = np.ones((1, 2), np.float32)
        W = np.eye(2, dtype=np.float32) * 1e3
        for _ in range(20):
            trace_step(E, u, W=W, decay=1.0)
        assert not np.isfinite(E).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", [0, 1, 2])
@pytest.mark.parametrize("cols", [0, 16, 48])
def test_every_contraction_placement_and_tile_width_matches_naive_loop(dtype, mode, cols):
    # the benchmark knobs: where the contraction runs (folded into the GEMM,
    # over E_in before it, over E_out after it) and tiles that split units
    from zenkai_np import _bplambda
    S, B, P = 13, 3, 21
    rng = np.random.default_rng(mode * 10 + cols)
    ops = _operands(S, B, P, dtype, rng)
    E_ref, th_ref = trace_step_naive(ops["E"].astype(np.float64), ops["u"], decay=0.7,
                                     delta=ops["delta"], scale=1 / B, W=ops["W"].astype(
                                         np.float64), a=ops["a"].astype(np.float64))
    try:
        _bplambda._set_push_kernel(0)    # the placements and tiles of the BLAS path
        _bplambda._set_contract_mode(mode)
        _bplambda._set_tile_cols(cols)
        for threads in (1, 2):
            for spare in (False, True):
                E_out = np.full((S + 1 if spare else S, B, S, P), np.nan, dtype)
                th = trace_step(ops["E"], ops["u"], W=ops["W"], a=ops["a"], decay=0.7,
                                delta=ops["delta"], scale=1 / B, E_out=E_out, n_threads=threads)
                _close(E_out[:S], E_ref, dtype)
                _close(th, th_ref, dtype)
            E = ops["E"].copy()
            th = trace_step(E, ops["u"], W=ops["W"], a=ops["a"], decay=0.7, delta=ops["delta"],
                            scale=1 / B, n_threads=threads)
            _close(E, E_ref, dtype)
            _close(th, th_ref, dtype)
    finally:
        _bplambda._set_push_kernel(-1)
        _bplambda._set_contract_mode(-1)
        _bplambda._set_tile_cols(0)


# The two push kernels: the in-house register-blocked microkernel (blocks of
# 6 rows x 2 vectors, the diagonal add and contraction fused) and BLAS GEMM per
# tile. Shapes whose S, P, B are not multiples of the blocks (S % 6 = 1..5, a
# partial last column block, one row, one column).
PUSH_SHAPES = [(7, 3, 5), (13, 2, 21), (1, 1, 1), (17, 5, 40), (31, 3, 33), (50, 2, 17),
               (12, 1, 16)]


def _push_kernel_step(kernel, E, u, jac, decay, delta, scale, threads, E_out=None):
    from zenkai_np import _bplambda
    try:
        _bplambda._set_push_kernel(kernel)
        return trace_step(E, u, decay=decay, delta=delta, scale=scale, E_out=E_out,
                          n_threads=threads, **jac)
    finally:
        _bplambda._set_push_kernel(-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("S,B,P", PUSH_SHAPES)
def test_inhouse_push_matches_blas_push_and_naive_loop(dtype, S, B, P):
    rng = np.random.default_rng(S * 7 + P)
    ops = _operands(S, B, P, dtype, rng)
    jacs = (dict(W=ops["W"], a=ops["a"]), dict(W=ops["W"]), dict(J=ops["J"]))
    for jac in jacs:
        for u, delta in ((ops["u"], ops["delta"]), (None, ops["delta"]), (ops["u"], None)):
            E_ref, th_ref = trace_step_naive(
                ops["E"].astype(np.float64), u, decay=0.8, delta=delta, scale=1 / B,
                **{k: v.astype(np.float64) for k, v in jac.items()})
            for simd in supported_simd_paths():
                with use_simd_path(simd):
                    results = {}
                    for kernel in (1, 0):
                        for where in ("in_place", "out", "spare"):
                            E = ops["E"].copy()
                            E_out = {"in_place": None,
                                     "out": np.full_like(E, np.nan),
                                     "spare": np.full((S + 1, B, S, P), np.nan, dtype)}[where]
                            th = _push_kernel_step(kernel, E, u, jac, 0.8, delta, 1 / B, 1, E_out)
                            E_new = E if E_out is None else E_out[:S]
                            if E_out is not None:
                                np.testing.assert_array_equal(E, ops["E"])
                            _close(E_new, E_ref, dtype)
                            if delta is None:
                                assert th is None
                            else:
                                _close(th, th_ref, dtype)
                            results[kernel, where] = (E_new.copy(), th)
                    for where in ("in_place", "out", "spare"):   # the two kernels agree
                        _close(results[1, where][0], results[0, where][0].astype(np.float64),
                               dtype)
                        if delta is not None:
                            _close(results[1, where][1], results[0, where][1].astype(
                                np.float64), dtype)
                        # the in-house kernel: the same numbers in place and out of place
                        np.testing.assert_array_equal(results[1, where][0],
                                                      results[1, "out"][0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("S,B,P", [(31, 7, 33), (40, 6, 41)])   # serial / parallel sizes
def test_inhouse_push_thread_count_does_not_change_results(dtype, S, B, P):
    rng = np.random.default_rng(21)
    ops = _operands(S, B, P, dtype, rng)
    outs = []
    for threads in (1, 2, 3):
        E = ops["E"].copy()
        th = _push_kernel_step(1, E, ops["u"], dict(W=ops["W"], a=ops["a"]), 0.9, ops["delta"],
                               1 / B, threads)
        outs.append((E, th))
    for E, th in outs[1:]:
        np.testing.assert_array_equal(E, outs[0][0])
        np.testing.assert_array_equal(th, outs[0][1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("simd", supported_simd_paths())
def test_automatic_push_kernel_follows_the_documented_rule(dtype, simd):
    # the in-house kernel for S up to the path's bound (v3 150, v4 600, baseline none),
    # else BLAS (bit for bit)
    from zenkai_np import _bplambda
    with use_simd_path(simd):
        max_s = _bplambda._inhouse_push_max_s()
    assert max_s == {"baseline": 0, "v3": 150, "v4": 600}[simd]
    for S, B, P in ((30, 2, 31), (max_s + 1, 1, 2))[:2 if max_s else 1]:
        rng = np.random.default_rng(S)
        ops = _operands(S, B, P, dtype, rng)
        jac = dict(W=ops["W"], a=ops["a"])
        kernel = 1 if S <= max_s else 0
        with use_simd_path(simd):
            E_auto = ops["E"].copy()
            th_auto = trace_step(E_auto, ops["u"], decay=0.9, delta=ops["delta"], n_threads=1,
                                 **jac)
            E_k = ops["E"].copy()
            th_k = _push_kernel_step(kernel, E_k, ops["u"], jac, 0.9, ops["delta"], 1.0, 1)
            E_other = ops["E"].copy()
            th_other = _push_kernel_step(1 - kernel, E_other, ops["u"], jac, 0.9, ops["delta"],
                                         1.0, 1)
        np.testing.assert_array_equal(E_auto, E_k)
        np.testing.assert_array_equal(th_auto, th_k)
        # the other kernel rounds differently somewhere (in place, the BLAS path
        # contracts through A^T delta, the in-house one contracts the new E)
        assert not (np.array_equal(E_other, E_k) and np.array_equal(th_other, th_k))
        _close(E_other, E_k.astype(np.float64), dtype)
        _close(th_other, th_k.astype(np.float64), dtype)


def _sequence_naive(W, A, decay, U, Delta, scale, clip):
    """-sum_k clip(dtheta_k) of trace steps from E = 0, by the naive loop (float64)."""
    n, B, P = U.shape
    S = W.shape[0]
    E = np.zeros((S, B, S, P))
    acc = np.zeros((S, P))
    for k in range(n):
        E, th = trace_step_naive(E, U[k], W=W, a=None if A is None else A[k],
                                 decay=decay, delta=Delta[k], scale=scale)
        for part in (np.s_[:, :P - 1], np.s_[:, P - 1]):
            nrm = np.sqrt(np.sum(th[part] ** 2))
            f = clip / nrm if clip > 0 and nrm > clip else 1.0
            acc[part] -= th[part] * f
    return acc


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("S,B,P,n", [(5, 3, 6, 4), (30, 10, 31, 9), (40, 6, 41, 3)])
@pytest.mark.parametrize("rows", [False, True])
def test_trace_sequence_matches_naive_loop(dtype, S, B, P, n, rows):
    from zenkai_np import _bplambda
    rng = np.random.default_rng(S + n)
    W = (rng.standard_normal((S, S)) / np.sqrt(S)).astype(dtype)
    A = rng.uniform(0.2, 1.0, (n, B, S)).astype(dtype) if rows else None
    U = rng.standard_normal((n, B, P)).astype(dtype)
    Delta = rng.standard_normal((n, B, S)).astype(dtype)
    empty = np.empty(0, dtype)
    for decay in (0.0, 0.8):
        for clip in (0.0, 0.5):
            ref = _sequence_naive(W.astype(np.float64), None if A is None else A.astype(
                np.float64), decay, U.astype(np.float64), Delta.astype(np.float64), 1 / B, clip)
            results = []
            for simd in supported_simd_paths():
                for threads in (1, 2):
                    E0 = np.full((S + 1, B, S, P), np.nan, dtype)   # never read unset
                    E1 = np.full((S + 1, B, S, P), np.nan, dtype)
                    acc = np.full((S, P), np.nan, dtype)
                    with use_simd_path(simd):
                        bad = _bplambda.trace_sequence(E0, E1, W, empty if A is None else A,
                                                     decay, U, Delta, 1 / B, clip, acc, threads)
                    assert bad == -1
                    _close(acc, ref, dtype)
                    results.append((simd, threads, acc))
            for simd, _threads, acc in results:   # thread count: bit for bit
                same = [r for s, t, r in results if s == simd]
                np.testing.assert_array_equal(acc, same[0])


def test_trace_sequence_reports_the_first_non_finite_step():
    from zenkai_np import _bplambda
    S, B, P, n = 4, 2, 5, 6
    W = 10 * np.eye(S)
    U = np.full((n, B, P), np.inf)
    U[:2] = 1.0
    Delta = np.ones((n, B, S))
    acc = np.empty((S, P))
    bufs = [np.zeros((S + 1, B, S, P)) for _ in range(2)]
    with np.errstate(over="ignore", invalid="ignore"):
        bad = _bplambda.trace_sequence(bufs[0], bufs[1], W, np.empty(0), 1.0, U, Delta, 0.5, 0.0,
                                     acc, 1)
    assert bad == 2
    ref = _sequence_naive(W, None, 1.0, U[:2], Delta[:2], 0.5, 0.0)
    np.testing.assert_allclose(acc, ref, rtol=1e-12)


def test_large_bplambda_update_in_place_and_match_naive_loop():
    # above IN_PLACE_BYTES (8 MiB) trace_sequence and EligibilityTrace update E in place
    from zenkai_np import _bplambda
    from zenkai_np.bplambda.traces import IN_PLACE_BYTES
    S, B, P, n = 40, 20, 41, 3
    assert S * B * S * P * 8 > IN_PLACE_BYTES
    rng = np.random.default_rng(11)
    W = rng.standard_normal((S, S)) / np.sqrt(S)
    A = rng.uniform(0.2, 1.0, (n, B, S))
    U = rng.standard_normal((n, B, P))
    Delta = rng.standard_normal((n, B, S))
    ref = _sequence_naive(W, A, 0.9, U, Delta, 1 / B, 0.5)
    E1 = np.full((S + 1, B, S, P), np.nan)          # in place: E1 is never touched
    accs = []
    for simd in supported_simd_paths():
        for threads in (1, 2):
            E0 = np.full((S + 1, B, S, P), np.nan)
            acc = np.empty((S, P))
            with use_simd_path(simd):
                assert _bplambda.trace_sequence(E0, E1, W, A, 0.9, U, Delta, 1 / B, 0.5, acc,
                                              threads) == -1
            _close(acc, ref, np.float64)
            accs.append(acc)
    assert np.isnan(E1).all()
    np.testing.assert_array_equal(accs[0], accs[1])  # 1 vs 2 threads, bit for bit
    tr = EligibilityTrace(S, B, P)
    assert tr.in_place
    E_ref = np.zeros((S, B, S, P))
    for k in range(n):
        th = tr.step(U[k], W=W, a=A[k], decay=0.9, delta=Delta[k], scale=1 / B)
        E_ref, th_ref = trace_step_naive(E_ref, U[k], W=W, a=A[k], decay=0.9,
                                         delta=Delta[k], scale=1 / B)
        _close(tr.E, E_ref, np.float64)
        _close(th, th_ref, np.float64)
