"""Property-based tests (hypothesis) of the fractional-iterate kernels.

* group law exp^(a)∘exp^(b) = exp^(a+b) of the Abel form where both sides are
  defined (docs/fractional.md: exact for the Abel construction), within a bound
  built from the derivatives the kernel returns (the error of each evaluation,
  a few ulp of |y| + |x dy/dx| + (1 + |n|)|dy/dn|, carried through the outer iterate);
* the Schröder form's exp(exp^(b)(z)) = exp^(b+1)(z) (χ⁻¹(c w) = exp χ⁻¹(w), no
  branch involved), everywhere in a box of the complex plane;
* broadcasting equals the element-by-element computation, bit for bit;
* an element's bits do not depend on the thread count, on the length of the array
  or on its position in it (chunking), on every SIMD path.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays, mutually_broadcastable_shapes

import zenkai_np as zk
from zenkai_np.fractional import fracexp_schroeder, fracexp_schroeder_grad

pytestmark = pytest.mark.kernel
SETTINGS = settings(max_examples=50, deadline=None)


def _finite(lo, hi, dtype=np.float64):
    width = 32 if dtype == np.float32 else 64
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=width)


def _cond(x, n, y, dx, dn):
    """Scale of the rounding error of one evaluation of exp^(n)(x)."""
    return np.abs(y) + np.abs(x * dx) + (1 + np.abs(n)) * np.abs(dn)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@SETTINGS
@given(data=st.data())
def test_abel_group_law(dtype, data):
    x = dtype(data.draw(_finite(-4, 4, dtype), label="x"))
    a = dtype(data.draw(_finite(-1.5, 1.5, dtype), label="a"))
    b = dtype(data.draw(_finite(-1.5, 1.5, dtype), label="b"))
    y1, d1x, d1n = zk.fracexp_grad(np.array([x]), np.array([b]))
    y2, d2x, d2n = zk.fracexp_grad(y1, np.array([a]))
    y, dx, dn = zk.fracexp_grad(np.array([x]), np.array([a + b]))
    vals = np.concatenate([y1, y2, y, d1x, d1n, d2x, d2n, dx, dn]).astype(np.float64)
    assume(np.all(np.isfinite(vals)) and np.all(np.abs(vals) < 1e30))  # defined, no overflow
    assert y2.dtype == y.dtype == dtype
    eps = float(np.finfo(dtype).eps)
    f64 = [v.astype(np.float64) for v in (y1, d1x, d1n, y2, d2x, d2n, y, dx, dn)]
    y1, d1x, d1n, y2, d2x, d2n, y, dx, dn = f64
    bound = 16 * eps * (_cond(y1, a, y2, d2x, d2n) + np.abs(d2x) * _cond(x, b, y1, d1x, d1n)
                        + _cond(x, a + b, y, dx, dn))
    assert np.abs(y2 - y)[0] <= bound[0], (x, a, b, y2, y, bound)


@SETTINGS
@given(re=_finite(-3, 3), im=_finite(-3, 3), b=_finite(-1, 1))
def test_schroeder_exp_of_iterate_is_next_iterate(re, im, b):
    z = np.array([complex(re, im)])
    yb, dzb, dnb = fracexp_schroeder_grad(z, np.array([b]))
    y1, dz1, dn1 = fracexp_schroeder_grad(z, np.array([b + 1.0]))
    vals = np.concatenate([yb, dzb, dnb, y1, dz1, dn1])
    assume(np.all(np.isfinite(vals)) and np.all(np.abs(vals) < 1e8))
    lhs = np.exp(yb)
    eps = np.finfo(np.float64).eps
    # kernel error of exp^(b) (relative to its condition) carried through exp, plus
    # the error of exp^(b+1) itself; 2e-14 is the series truncation (docs/fractional.md)
    err_b = (64 * eps + 2e-14) * _cond(z, b, yb, dzb, dnb)
    err_1 = (64 * eps + 2e-14) * _cond(z, b + 1, y1, dz1, dn1)
    assert abs(lhs[0] - y1[0]) <= abs(lhs[0]) * err_b[0] + err_1[0], (z, b, lhs, y1)


@SETTINGS
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4),
       seed=st.integers(0, 2**32 - 1), method=st.sampled_from(["abel", "schroeder"]))
def test_broadcasting_equals_elementwise(shapes, seed, method):
    (xs, ns), shape = shapes.input_shapes, shapes.result_shape
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs) * 2
    n = rng.uniform(-0.5, 1.2, ns)
    got = zk.fracexp_grad(x, n, method=method)
    xf = np.broadcast_to(x, shape).ravel()
    nf = np.broadcast_to(n, shape).ravel()
    for k, g in enumerate(got):
        assert g.shape == shape
        want = np.array([zk.fracexp_grad(np.array([a]), np.array([m]), method=method)[k][0]
                         for a, m in zip(xf, nf)], dtype=g.dtype).reshape(shape)
        assert np.array_equal(g, want, equal_nan=True), (k, method)


@SETTINGS
@given(x=arrays(np.float64, st.integers(1, 5000), elements=_finite(-30, 30)),
       n=_finite(-1.5, 1.5), cut=st.tuples(st.integers(0, 5000), st.integers(0, 5000)),
       method=st.sampled_from(["abel", "schroeder"]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_bits_independent_of_threads_and_chunking(x, n, cut, method, dtype):
    x = x.astype(dtype)
    n = dtype(n)
    i, j = sorted(c % (x.size + 1) for c in cut)
    for path in zk.supported_simd_paths():
        with zk.use_simd_path(path):
            one = zk.fracexp_grad(x, n, method=method, n_threads=1)
            two = zk.fracexp_grad(x, n, method=method, n_threads=2)
            part = zk.fracexp_grad(x[i:j], n, method=method, n_threads=2)
            for a, b, p in zip(one, two, part):
                assert np.array_equal(a, b, equal_nan=True), path
                assert np.array_equal(a[i:j], p, equal_nan=True), path
            assert np.array_equal(zk.fracexp(x, n, method=method, n_threads=2), one[0],
                                  equal_nan=True), path


@SETTINGS
@given(rows=st.integers(1, 700), units=st.integers(1, 9), seed=st.integers(0, 2**32 - 1))
def test_per_unit_n_equals_its_broadcast_copy(rows, units, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, units)) * 3
    n = rng.uniform(-1, 1.5, units)
    full_n = np.ascontiguousarray(np.broadcast_to(n, x.shape))
    for a, b in zip(zk.fracexp_grad(x, n, n_threads=2), zk.fracexp_grad(x, full_n, n_threads=1)):
        assert np.array_equal(a, b, equal_nan=True)
    assert np.array_equal(fracexp_schroeder(x, n, n_threads=2), fracexp_schroeder(x, full_n),
                          equal_nan=True)
