"""Complex fractional iterates of exp by Schröder's equation.

Derivation and accuracy: docs/fractional.md, "The Schröder kernel".

exp^(n)(z) = chi^-1(c^n chi(z)), with c = exp(c) the upper fixed point of exp
(c = 0.3181315 + 1.3372357i), chi the Schröder function chi(exp z) = c chi(z)
built with the logarithm L whose imaginary part lies in [-0.5, 2 pi - 0.5),
and c^n = exp(n c). It is holomorphic in z and real-analytic in n; for real z
and non-integer n the value is complex. Exact: exp^(m) is the m-fold exp for
integers m >= 0, exp^(-1) = L, exp^(n)(c) = c.

Singular points: chi blows up on the forward orbit of 0, {0, 1, e, e^e, ...};
near them exp^(n) swings wildly (a true property of the function). Guards:
``min_modulus`` floors |z| inside the log (exact zeros such as log(1) = 0 do
not give -inf); more than 64 logs or exps (never reached for finite input of
moderate size), NaN or inf input give NaN; an exp chain that overflows at
exp(a + ib) gives ``sign(cos b) inf + sign(sin b) inf j`` (zero parts stay
zero, so a real overflow is ``inf + 0j``), and so do its derivatives.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _fractional
from .._threads import resolve_n_threads
from .._validation import as_float_array, check_out, is_weak_scalar, output_arrays
from ._broadcast import broadcast_pair
from ._schroeder_coeffs import FIXED_POINT

__all__ = ["fracexp_schroeder", "fracexp_schroeder_grad", "SCHROEDER_FIXED_POINT"]

#: the upper fixed point c = exp(c) of exp (the generated table's, as the kernel's)
SCHROEDER_FIXED_POINT = FIXED_POINT

def _as_z(z):
    """z as a C-contiguous float32/float64/complex64/complex128 array."""
    try:
        arr = np.asarray(z)
    except Exception as exc:  # ragged lists
        raise TypeError(f"z: could not be converted to an array ({exc})") from None
    if arr.dtype.kind == "c":
        if arr.dtype not in (np.dtype(np.complex64), np.dtype(np.complex128)):
            arr = arr.astype(np.complex128)
        return np.ascontiguousarray(arr) if arr.ndim else np.asarray(arr, order="C")
    return as_float_array(arr, "z")


def _prepare(z, n, min_modulus):
    za = _as_z(z)
    if np.asarray(n).dtype.kind == "c":
        raise TypeError(f"n: expected a real array, got dtype {np.asarray(n).dtype}")
    # single precision only if every array operand is float32/complex64
    # (plain Python scalars adopt the other operand's precision)
    ops = [v for v in (z, n) if not (is_weak_scalar(v) or type(v) is complex)]
    single = bool(ops) and all(
        np.asarray(v).dtype in (np.dtype(np.float32), np.dtype(np.complex64)) for v in ops)
    real_t = np.dtype(np.float32) if single else np.dtype(np.float64)
    if za.dtype.kind == "c":
        za = za.astype(np.complex64 if single else np.complex128, copy=False)
    else:
        za = za.astype(real_t, copy=False)
    na = as_float_array(n, "n", dtype=real_t)
    if min_modulus is None:
        min_modulus = float(np.finfo(real_t).tiny)
    if not isinstance(min_modulus, numbers.Real) or isinstance(min_modulus, bool):
        raise TypeError(f"min_modulus: expected a float, got {type(min_modulus).__name__}")
    min_modulus = float(min_modulus)
    if not (min_modulus > 0 and np.isfinite(min_modulus)):
        raise ValueError(f"min_modulus: expected a finite value > 0, got {min_modulus}")
    scalar = za.ndim == 0 and na.ndim == 0 and not (
        isinstance(z, np.ndarray) or isinstance(n, np.ndarray))
    z_flat, n_pattern, shape = broadcast_pair(za, na, "z", "n")
    cdtype = np.dtype(np.complex64) if single else np.dtype(np.complex128)
    return z_flat, n_pattern, shape, cdtype, min_modulus, scalar


def fracexp_schroeder(z, n, *, min_modulus=None, out=None, n_threads=None):
    """``y = exp^(n)(z)`` in the complex Schröder form, elementwise.

    Parameters
    ----------
    z : array_like, real or complex
    n : array_like, real; broadcast against ``z`` (per-unit ``(units,)`` n
        against a ``(batch, units)`` z is the common case).
    min_modulus : float, optional
        Floor (> 0) on |z| inside the logarithm; default the dtype's smallest
        normal number (the authors used 0.02). Where |z|^2 would under- or
        overflow, log|z| is computed from the rescaled modulus.
    out : ndarray, optional
        complex128 (complex64 when every array operand is single precision),
        C-contiguous, writeable, of the broadcast shape.
    n_threads : int, optional
        OpenMP threads (None: OpenMP's current maximum).

    Returns
    -------
    y : complex ndarray of the broadcast shape (a Python complex scalar for
        scalar inputs).
    """
    z_flat, n_pat, shape, cdtype, mm, scalar = _prepare(z, n, min_modulus)
    nt = resolve_n_threads(n_threads)
    if out is None:
        out = np.empty(shape, dtype=cdtype)
    else:
        check_out(out, "out", shape, cdtype)
    _fractional.fracexp_schroeder(z_flat, n_pat, out.reshape(-1), mm, nt)
    return out[()] if scalar else out


def fracexp_schroeder_grad(z, n, *, min_modulus=None, out=None, n_threads=None):
    """Value and derivatives ``(y, dy_dz, dy_dn)`` of the Schröder ``exp^(n)(z)``.

    ``dy_dz`` is the complex (holomorphic) derivative, ``dy_dn`` the derivative
    in the real parameter n; all three complex, of the broadcast shape.
    Backprop with a real loss L: with ``g = dL/dRe y + i dL/dIm y``,
    ``dL/dz`` (as the same complex encoding) is ``conj(dy_dz) * g`` and
    ``dL/dn = Re(conj(g) * dy_dn)``. ``out``: optional tuple of three complex
    arrays to write into.
    """
    z_flat, n_pat, shape, cdtype, mm, scalar = _prepare(z, n, min_modulus)
    nt = resolve_n_threads(n_threads)
    y, dz, dn = output_arrays(out, "out", shape, cdtype, 3)
    _fractional.fracexp_schroeder_grad(z_flat, n_pat, y.reshape(-1), dz.reshape(-1),
                                 dn.reshape(-1), mm, nt)
    if scalar:
        return y[()], dz[()], dn[()]
    return y, dz, dn
