"""Real fractional iterates of exp by Abel's equation (Köpp, van der Smagt, Urban 2016).

exp^(n)(x) = psi^-1(psi(x) + n) with the piecewise seed psi(x) = x on [0, 1)
extended by psi(e^x) = psi(x) + 1, so that exp^(0) = id, exp^(1) = exp,
exp^(-1) = log and exp^(a) o exp^(b) = exp^(a+b). n = 0 makes a neuron
additive, n = 1 multiplicative (x (+)_n y = exp^(n)(exp^(-n)(x) + exp^(-n)(y))).

Domain: exp^(n)(x) is defined where psi(x) + n > -1 (every x for n >= 0;
x > 0 for n = -1; x > psi^-1(-1 - n) in general). Outside it the kernels
return NaN; NaN in gives NaN out. x = +inf gives +inf, and values too large
for the dtype overflow to +inf.
"""
from __future__ import annotations

import numpy as np

from .. import _fractional
from .._threads import resolve_n_threads
from .._validation import (as_float_array, check_choice, check_out, output_arrays,
                           result_dtype)
from ._broadcast import broadcast_pair
from .schroeder import fracexp_schroeder, fracexp_schroeder_grad

__all__ = ["fracexp", "fracexp_grad"]

METHODS = ("abel", "schroeder")


def _prepare(x, n, method):
    check_choice(method, "method", METHODS)
    dtype = result_dtype(x, n)
    xa = as_float_array(x, "x", dtype=dtype)
    na = as_float_array(n, "n", dtype=dtype)
    scalar_result = xa.ndim == 0 and na.ndim == 0 and not (
        isinstance(x, np.ndarray) or isinstance(n, np.ndarray))
    x_flat, n_pattern, shape = broadcast_pair(xa, na)
    return x_flat, n_pattern, shape, dtype, scalar_result


def fracexp(x, n, *, method="abel", out=None, n_threads=None, min_modulus=None):
    """Fractional iterate of exp, ``y = exp^(n)(x)``, elementwise.

    Parameters
    ----------
    x, n : array_like
        Real arrays broadcast against each other; a per-unit ``n`` of shape
        ``(units,)`` against ``x`` of shape ``(batch, units)`` is the common case.
        float32 stays float32 (if both are float32 or Python scalars); anything
        else is computed in float64.
    method : {"abel", "schroeder"}
        ``"abel"``: the real Abel construction (C^1 in x and n). ``"schroeder"``:
        the complex Schröder form (holomorphic; ``x`` may be complex; the result
        is complex128, complex64 for single-precision input), see
        :func:`zenkai_np.fractional.schroeder.fracexp_schroeder`.
    out : ndarray, optional
        C-contiguous, writeable, of the broadcast shape and result dtype.
    n_threads : int, optional
        OpenMP threads; None = OpenMP's current maximum, negative counts back
        from the CPU count.

    Returns
    -------
    y : ndarray of the broadcast shape (a scalar for two scalar inputs).
        NaN where psi(x) + n <= -1 (outside the domain).
    min_modulus : float, optional
        Schröder form only: floor on |x| inside the logarithm.
    """
    if method == "schroeder":
        return fracexp_schroeder(x, n, min_modulus=min_modulus, out=out, n_threads=n_threads)
    if min_modulus is not None:
        raise ValueError("min_modulus: only used by method='schroeder'")
    x_flat, n_pattern, shape, dtype, scalar = _prepare(x, n, method)
    nt = resolve_n_threads(n_threads)
    if out is None:
        out = np.empty(shape, dtype=dtype)
    else:
        check_out(out, "out", shape, dtype)
    _fractional.fracexp_abel(x_flat, n_pattern, out.reshape(-1), nt)
    return out[()] if scalar else out


def fracexp_grad(x, n, *, method="abel", out=None, n_threads=None, min_modulus=None):
    """Value and both partial derivatives of ``exp^(n)(x)``.

    Returns ``(y, dy_dx, dy_dn)``, each of the broadcast shape of ``x`` and
    ``n``. dy/dx = psi'(x)/psi'(y) and dy/dn = 1/psi'(y); both are continuous,
    while second derivatives jump where psi(x) or psi(x)+n is an integer. For
    a per-unit ``n``, the gradient of a loss L is ``(g * dy_dn).sum(axis=0)``
    with ``g = dL/dy``. NaN outside the domain. ``out`` is an optional tuple of
    three arrays (C-contiguous, writeable, broadcast shape, result dtype) to
    write into -- reusing them in a training loop saves the allocation and
    page faults of fresh arrays.

    ``method="schroeder"``: complex ``(y, dy_dz, dy_dn)``, see
    :func:`zenkai_np.fractional.schroeder.fracexp_schroeder_grad`.
    """
    if method == "schroeder":
        return fracexp_schroeder_grad(x, n, min_modulus=min_modulus, out=out,
                                      n_threads=n_threads)
    if min_modulus is not None:
        raise ValueError("min_modulus: only used by method='schroeder'")
    x_flat, n_pattern, shape, dtype, scalar = _prepare(x, n, method)
    nt = resolve_n_threads(n_threads)
    y, dydx, dydn = output_arrays(out, "out", shape, dtype, 3)
    _fractional.fracexp_abel_grad(x_flat, n_pattern, y.reshape(-1), dydx.reshape(-1),
                            dydn.reshape(-1), nt)
    if scalar:
        return y[()], dydx[()], dydn[()]
    return y, dydx, dydn
