"""Lane compaction in the Abel kernel (csrc/fractional/abel_body.inc).

The kernel queues the elements that need each stage (expm1, log chains sorted
by their estimated length, log1p, exp chains by their length) and runs each
stage on whole vectors of queued elements. These tests check what that must
not change: values at the chain-length thresholds (against mpmath), results
that depend on the element alone (not on its neighbours, its position in a
block, or how the n pattern wraps), and blocks whose elements all take the
same branch. Every test runs on every SIMD path of this CPU.
"""
import contextlib

import numpy as np
import pytest

import zenkai_np as zk
from abel_reference import fracexp as mp_fracexp

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.filterwarnings("ignore:.*encountered:RuntimeWarning"),
]

EPS = np.finfo(np.float64).eps
E1, E2, E3 = np.e, np.exp(np.e), np.exp(np.exp(np.e))  # log chain length 2, 3, 4 from here


def reference(x, n):
    out = np.array([[float(v) for v in mp_fracexp(a, b)] for a, b in zip(x, n)])
    return out[:, 0], out[:, 1], out[:, 2]


def assert_matches_mpmath(x, n, y, dx, dn):
    """The error bound of test_abel_kernel: a few ulp times the algorithm's condition."""
    y_ref, dx_ref, dn_ref = reference(x, n)
    inside = ~np.isnan(y_ref)
    assert np.array_equal(np.isnan(y), ~inside), "domain (NaN pattern) differs"
    assert np.all(y[np.isinf(y_ref)] == np.inf)
    finite = inside & (np.abs(y_ref) < 1e300)
    p = np.abs(n) + 1 + np.log1p(np.abs(x))
    cond = 1 + (np.abs(x * dx_ref) + p * np.abs(dn_ref)) / np.abs(y_ref)
    for got, want in ((y, y_ref), (dx, dx_ref), (dn, dn_ref)):
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(got == want, 0.0, np.abs(got - want) / np.abs(want))
        assert np.all(rel[finite] <= 8 * EPS * cond[finite] + 1e-15)


def ulps_around(t, k=6):
    """t and its k neighbouring doubles on each side."""
    out = [t]
    lo = hi = t
    for _ in range(k):
        lo, hi = np.nextafter(lo, -np.inf), np.nextafter(hi, np.inf)
        out += [lo, hi]
    return np.array(sorted(out))


def test_log_chain_length_thresholds(simd_path):
    # x at 1, e, e^e, e^e^e (to the ulp): the kernel sorts elements by an
    # estimate of their chain length there; each must still get its own count.
    x = np.concatenate([ulps_around(t) for t in (1.0, E1, E2, E3)])
    x = np.concatenate([x, x])
    n = np.concatenate([np.full(x.size // 2, 0.4), np.full(x.size // 2, -0.7)])
    rng = np.random.default_rng(10)
    perm = rng.permutation(x.size)  # mixed with each other in the vectors
    x, n = x[perm], n[perm]
    assert_matches_mpmath(x, n, *zk.fracexp_grad(x, n))


def test_exp_chain_length_thresholds(simd_path):
    # p = psi(x) + n at 0, 1, 2, 3, 4 and 5 (to the ulp): the boundaries of the
    # log1p queue and of the exp-chain queues (5 and above overflows).
    x = np.array([0.25, 0.5, 0.75, 2.0, 10.0, -0.3])
    psi_x = np.array([0.25, 0.5, 0.75, 1 + np.log(2.0), 2 + np.log(np.log(10.0)), np.expm1(-0.3)])
    xs, ns = [], []
    for a, pa in zip(x, psi_x):
        for j in range(6):
            for nv in ulps_around(j - pa, 3):
                xs.append(a)
                ns.append(nv)
    x, n = np.array(xs), np.array(ns)
    assert_matches_mpmath(x, n, *zk.fracexp_grad(x, n))


def mixed_points(rng, size):
    """Every branch of psi and psi^-1, overflow and the domain's edge, shuffled."""
    x = np.concatenate([rng.uniform(-5, 0, size), rng.uniform(0, 1, size),
                        rng.uniform(1, 30, size), np.exp(rng.uniform(3, 40, size)),
                        rng.standard_normal(size), [np.inf, -np.inf, np.nan, 0.0, 1e308]])
    n = rng.uniform(-1.5, 5.5, x.size)
    perm = rng.permutation(x.size)
    return x[perm], n[perm]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_element_results_do_not_depend_on_neighbours(simd_path, dtype):
    rng = np.random.default_rng(11)
    x, n = (a.astype(dtype) for a in mixed_points(rng, 1500))
    full = zk.fracexp_grad(x, n)
    perm = rng.permutation(x.size)
    shuffled = zk.fracexp_grad(x[perm], n[perm])
    for a, b in zip(full, shuffled):
        assert np.array_equal(a[perm], b, equal_nan=True)
    # other block boundaries and vector tails
    for lo, hi in ((3, x.size), (0, x.size - 5), (257, 1000), (100, 101)):
        part = zk.fracexp_grad(x[lo:hi], n[lo:hi])
        for a, b in zip(full, part):
            assert np.array_equal(a[lo:hi], b, equal_nan=True)
    value = zk.fracexp(x, n)
    assert np.array_equal(value, full[0], equal_nan=True)
    one = [zk.fracexp_grad(x[i], n[i]) for i in range(0, x.size, 97)]
    for k, i in enumerate(range(0, x.size, 97)):
        assert np.array_equal(np.array(one[k], dtype), [a[i] for a in full], equal_nan=True)


@pytest.mark.parametrize("period", [1, 3, 255, 257, 700])
def test_repeating_n_pattern_wraps_inside_blocks(simd_path, period):
    rng = np.random.default_rng(12)
    x = rng.uniform(-3, 20, (23, period))
    n = rng.uniform(-0.9, 1.5, period)
    got = zk.fracexp_grad(x, n)
    want = zk.fracexp_grad(x, np.ascontiguousarray(np.broadcast_to(n, x.shape)))
    for a, b in zip(got, want):
        assert np.array_equal(a, b, equal_nan=True)


@pytest.mark.parametrize("lo, hi, nlo, nhi", [
    (-4.0, -0.01, 0.0, 0.5),    # every element in the expm1 queue, no other stage
    (0.0, 0.99, 0.0, 0.0),      # no stage at all: y = x
    (1.0, 2.7, -0.9, -0.1),     # one log each, then log1p or nothing
    (16.0, 3e6, 0.5, 1.5),      # three logs each, then two or three exps
    (1e7, 1e300, -2.0, -1.5),   # four logs each
])
def test_blocks_of_one_branch(simd_path, lo, hi, nlo, nhi):
    rng = np.random.default_rng(13)
    x = np.exp(rng.uniform(np.log(lo), np.log(hi), 600)) if lo > 0 else rng.uniform(lo, hi, 600)
    n = rng.uniform(nlo, nhi, 600) if nhi > nlo else np.full(600, nlo)
    y, dx, dn = zk.fracexp_grad(x, n)
    sample = slice(0, 600, 7)
    assert_matches_mpmath(x[sample], n[sample], y[sample], dx[sample], dn[sample])
    if nlo == nhi == 0.0:
        assert np.array_equal(y, x) and np.all(dx == 1) and np.all(dn == 1)


@contextlib.contextmanager
def stream_min_bytes(nbytes):
    """Abel outputs of at least ``nbytes`` per call stored non-temporally (normally 8 MiB,
    csrc/fractional/abel.hpp), restored afterwards."""
    from zenkai_np import _fractional
    before = _fractional._set_abel_stream_min_bytes(nbytes)
    try:
        yield
    finally:
        _fractional._set_abel_stream_min_bytes(before)


@pytest.fixture
def stream_everything():
    """Non-temporal output stores for every call."""
    with stream_min_bytes(0):
        yield


def _at_offset(size, dtype, offset):
    """An empty array of ``size`` starting ``offset`` bytes past a 64-byte boundary."""
    item = np.dtype(dtype).itemsize
    buf = np.empty(size + 128 // item, dtype)
    start = (-buf.ctypes.data % 64 + offset) // item
    out = buf[start:start + size]
    assert out.ctypes.data % 64 == offset
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("offsets", [(0, 0, 0), (16, 16, 16), (8, 8, 8), (48, 48, 48),
                                     (4, 4, 4), (0, 16, 0), (48, 16, 32), (56, 8, 0),
                                     (16, 48, 4)])
@pytest.mark.parametrize("size", [5, 13, 300, 8193, 20000])
def test_streamed_outputs_equal_cached_ones(simd_path, stream_everything, dtype, offsets,
                                            size):
    """Streamed stores never change a bit: a first block up to y's next cache line,
    outputs at any offset within their lines (streamed as they are, streamed line by line
    from pairs of vectors on AVX-512, or stored normally), partial last vectors, several
    chunks, 1 and 2 threads, value and gradient."""
    if np.dtype(dtype).itemsize == 8 and 4 in offsets:
        pytest.skip("a float64 array is 8-byte aligned")
    rng = np.random.default_rng(14)
    x = rng.uniform(-3, 20, size).astype(dtype)
    n = rng.uniform(-0.9, 1.5, 257).astype(dtype)
    with stream_min_bytes(1 << 62):
        want = zk.fracexp_grad(x, np.resize(n, size))
    for n_threads in (1, 2):
        outs = tuple(_at_offset(size, dtype, o) for o in offsets)
        got = zk.fracexp_grad(x, np.resize(n, size), out=outs, n_threads=n_threads)
        for a, b in zip(got, want):
            assert np.array_equal(a, b, equal_nan=True)
        y = _at_offset(size, dtype, offsets[0])
        assert np.array_equal(zk.fracexp(x, np.resize(n, size), out=y, n_threads=n_threads),
                              want[0], equal_nan=True)


@pytest.mark.parametrize("size", [300, 20000])
def test_streamed_outputs_may_alias_the_inputs(simd_path, stream_everything, size):
    """In place (y over x, dy/dx over n): a streamed line put together from two vectors
    is written only after both vectors' inputs were read."""
    rng = np.random.default_rng(15)
    x = rng.uniform(-3, 20, size)
    n = rng.uniform(-0.9, 1.5, size)
    want = zk.fracexp_grad(x, n)
    for n_threads in (1, 2):
        xc, nc = _at_offset(size, np.float64, 16), _at_offset(size, np.float64, 40)
        xc[:], nc[:] = x, n
        got = zk.fracexp_grad(xc, nc, out=(xc, nc, _at_offset(size, np.float64, 8)),
                              n_threads=n_threads)
        for a, b in zip(got, want):
            assert np.array_equal(a, b, equal_nan=True)
