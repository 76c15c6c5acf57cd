"""The project's vector expm1/log1p (csrc/common/vec_expm1_log1p.inc) against mpmath.

They are reached through the Abel kernel, on every SIMD path:
* fracexp(0, n) = log1p(n) for -1 < n < 0 (psi(0) = 0, psi^-1 = log1p there);
* fracexp(x, n) = log1p(expm1(x) + n) for x < 0; with n = -expm1(x)/2 the sum
  is exact (Sterbenz) and lies in (-1/2, 0), so a relative error e in expm1
  shows up as at most about 4e in the result (|log1p(p)| >= |p|, 1 + p >= 1/2).
"""
import mpmath
import numpy as np
import pytest

import zenkai_np as zk

mpmath.mp.dps = 40
EPS = {np.float64: np.finfo(np.float64).eps, np.float32: np.finfo(np.float32).eps}
# Lengths that leave a partial vector at the end on every path.
SIZE = 1003


def _rel_err(got, want):
    got = np.asarray(got, dtype=np.float64)
    return np.abs(got - want) / np.abs(want)


@pytest.mark.parametrize("dtype, ulps", [(np.float64, 4), (np.float32, 1)])
def test_log1p_matches_mpmath(simd_path, dtype, ulps):
    rng = np.random.default_rng(11)
    n = np.concatenate([
        -rng.uniform(0, 1, SIZE // 3),                       # the whole interval
        -(10.0 ** rng.uniform(-30 if dtype is np.float32 else -300, -1, SIZE // 3)),  # tiny
        -1 + 10.0 ** rng.uniform(-6, -1, SIZE - 2 * (SIZE // 3)),   # near -1
    ]).astype(dtype)
    n = n[(n > -1) & (n < 0)]
    y = zk.fracexp(np.zeros_like(n), n)
    assert y.dtype == dtype
    want = np.array([float(mpmath.log1p(mpmath.mpf(float(v)))) for v in n])
    assert np.max(_rel_err(y, want)) <= ulps * EPS[dtype]


@pytest.mark.parametrize("dtype, ulps", [(np.float64, 10), (np.float32, 8)])
def test_expm1_matches_mpmath(simd_path, dtype, ulps):
    rng = np.random.default_rng(12)
    lo = -30 if dtype is np.float32 else -290
    top = 1.6 if dtype is np.float32 else 2.6   # up to -40 (float) / -400 (double)
    x = -(10.0 ** rng.uniform(lo, top, SIZE))
    # Both sides of the range-reduction boundaries |x| = (j + 1/2) ln 2.
    edges = (np.arange(0, 12) + 0.5) * np.log(2)
    x = np.concatenate([x, -edges * (1 - 1e-9), -edges * (1 + 1e-9)]).astype(dtype)
    em = [mpmath.expm1(mpmath.mpf(float(v))) for v in x]
    n = np.array([-float(e) / 2 for e in em]).astype(dtype)
    want = np.array([float(mpmath.log1p(e + mpmath.mpf(float(m)))) for e, m in zip(em, n)])
    y = zk.fracexp(x, n)
    assert y.dtype == dtype
    assert np.max(_rel_err(y, want)) <= ulps * EPS[dtype]

