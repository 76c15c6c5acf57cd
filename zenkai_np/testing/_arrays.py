"""Array helpers of the contract checks: snapshots, comparisons, finite differences."""
from __future__ import annotations

import copy

import numpy as np

from .._validation import _FLOATS  # noqa: F401 (the one definition; re-exported to the checks)


def fail(check, message):
    """Raise the AssertionError of a failed contract property."""
    raise AssertionError(f"{check}: {message}")


def snapshot(arrays):
    """Bitwise copies ``{name: (dtype, shape, bytes)}`` of a dict of arrays."""
    return {k: (v.dtype, v.shape, np.ascontiguousarray(v).tobytes()) for k, v in arrays.items()}


def changed(before, arrays):
    """Names whose dtype, shape or bits differ from the snapshot ``before``."""
    out = [k for k in before if k not in arrays]
    for k, v in arrays.items():
        if k not in before:
            out.append(k)
            continue
        dt, shape, data = before[k]
        if v.dtype != dt or v.shape != shape or np.ascontiguousarray(v).tobytes() != data:
            out.append(k)
    return out


def assert_untouched(check, before, arrays, what):
    """Fail unless every array equals its snapshot bit for bit."""
    bad = changed(before, arrays)
    if bad:
        fail(check, f"{what} modified in place: {sorted(bad)}")


def assert_array_shape(check, name, a, shape, dtype):
    """Fail unless ``a`` is an ndarray of ``shape`` and ``dtype``."""
    if not isinstance(a, np.ndarray):
        fail(check, f"{name} must be a numpy array, got {type(a).__name__}")
    if a.shape != tuple(shape):
        fail(check, f"{name} has shape {a.shape}, expected {tuple(shape)}")
    if dtype is not None and a.dtype != dtype:
        fail(check, f"{name} has dtype {a.dtype}, expected {np.dtype(dtype)} (dtype not kept)")


def assert_close(check, name, got, want, rtol, atol):
    """Fail unless ``max|got - want| <= atol + rtol * max|want|``; says by how much."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        fail(check, f"{name} has shape {got.shape}, expected {want.shape}")
    if got.size == 0:
        return
    if not np.array_equal(np.isfinite(got), np.isfinite(want)):
        fail(check, f"{name}: non-finite entries at different places "
                    f"({int((~np.isfinite(got)).sum())} got, "
                    f"{int((~np.isfinite(want)).sum())} expected)")
    fin = np.isfinite(want)
    if not fin.any():
        return
    err = np.abs(got - want)
    err[~fin] = 0
    scale = float(np.max(np.abs(want[fin])))
    tol = atol + rtol * scale
    worst = np.unravel_index(int(np.argmax(err)), err.shape)
    if err[worst] > tol:
        fail(check, f"{name} differs by {err[worst]:.3g} at index {tuple(int(i) for i in worst)}"
                    f" (got {got[worst]:.6g}, expected {want[worst]:.6g}); tolerance "
                    f"{tol:.3g} = atol {atol:g} + rtol {rtol:g} * max|expected| {scale:.3g}")


def central_differences(f, p, eps):
    """``d f() / d p`` (float64, shape of ``p``) by central differences of the scalar ``f()``.

    Perturbs each entry of ``p`` in place and restores its exact bits.
    """
    g = np.zeros(p.shape)
    for idx in np.ndindex(p.shape):
        old = p[idx].copy()
        p[idx] = old + eps
        fp = f()
        p[idx] = old - eps
        fm = f()
        p[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g


def float64_twin(obj, arrays):
    """A deep copy of ``obj`` in which every float32 array of ``arrays`` is float64.

    The copy shares no array with ``obj``; two references to one array (e.g. a
    ``Chain``'s params and its sub-layer's) stay one array in the copy.
    """
    memo = {}
    for a in arrays:
        if isinstance(a, np.ndarray) and a.dtype == np.float32:
            memo[id(a)] = a.astype(np.float64)
    memo[id(memo)] = list(arrays)   # keep the originals alive while copying
    return copy.deepcopy(obj, memo)
