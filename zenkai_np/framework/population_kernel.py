"""Population forward and local losses for the gradient-free learners.

``population_losses_of(layer, x, pop, t)`` is what ES, GA and hill climbing
ask for: ``0.5 * ||f(x; theta_p) - t||^2`` for every member ``p``.  For a
``Linear`` under the compiled backend it runs ``_framework.population_losses``
(``csrc/framework/population.hpp``: register-tiled SIMD member passes fused
with the loss, members in parallel over ``n_threads`` OpenMP threads, float64
accumulation; identical for any thread count); otherwise the NumPy
formulation ``population_losses(layer.forward_population(x, pop), t)``.
``forward_population`` materialises the outputs with ``_population.forward``
(one BLAS GEMM per member, ``prange``).  Compiled and NumPy results agree to
rounding (the NumPy one sums in the parameters' dtype): rtol 1e-5 in float32,
1e-12 in float64 (``tests/framework/test_population_kernel.py``).
"""
from __future__ import annotations

import numpy as np

from .._threads import resolve_n_threads
from . import backend
from .layers import Linear

__all__ = ["population_losses", "population_losses_of", "forward_population"]

try:
    from . import _population
except ImportError:  # pragma: no cover (source tree without a build)
    _population = None


def _linear_args(layer, x, pop):
    """C-contiguous ``(x2d, per_member, W, b)`` for the kernels, or None."""
    if type(layer) is not Linear or pop.keys() != layer.params.keys():
        return None
    W, b = pop["W"], pop.get("b")
    dt, n_in, n_out = layer.params["W"].dtype, layer.n_in, layer.n_out
    if type(W) is not np.ndarray or W.dtype != dt or W.shape[1:] != (n_in, n_out) \
            or W.shape[0] == 0:
        return None
    P = W.shape[0]
    if b is not None and (type(b) is not np.ndarray or b.dtype != dt or b.shape != (P, n_out)):
        return None
    if type(x) is not np.ndarray or x.dtype != dt or x.shape[-1] != n_in:
        return None
    if x.ndim == 2 and x.shape[0] > 0:
        per_member = False
    elif x.ndim == 3 and x.shape[0] == P and x.shape[1] > 0:
        per_member, x = True, x.reshape(-1, n_in)
    else:
        return None
    return (np.ascontiguousarray(x), per_member, np.ascontiguousarray(W),
            None if b is None else np.ascontiguousarray(b))


def population_losses(ypop, t):
    """``0.5 * ||y_p - t||^2`` summed over the batch, for each member: ``(P,)`` (NumPy)."""
    d = ypop - t
    return 0.5 * np.einsum("pnf,pnf->p", d, d)


def forward_population(layer, x, pop, n_threads=None):
    """``(P, N, n_out)`` outputs of every member (compiled for a ``Linear``)."""
    compiled = _population is not None and backend.get_backend() == "compiled"
    args = _linear_args(layer, x, pop) if compiled else None
    if args is None:
        return layer.forward_population(x, pop)
    x2, per_member, W, b = args
    N = x2.shape[0] // W.shape[0] if per_member else x2.shape[0]
    out = np.empty((W.shape[0], N, layer.n_out), W.dtype)
    _population.forward(x2, per_member, W, b, out, resolve_n_threads(n_threads))
    return out


def population_losses_of(layer, x, pop, t, n_threads=None):
    """``(P,)`` local losses of every member on the batch ``(x, t)``."""
    compiled = backend.fused_module()
    args = None if compiled is None else _linear_args(layer, x, pop)
    if (args is None or type(t) is not np.ndarray or t.dtype != args[2].dtype
            or t.shape != (x.shape[-2], layer.n_out)):
        return population_losses(layer.forward_population(x, pop), t)
    out = np.empty(args[2].shape[0])
    compiled.population_losses(*args, np.ascontiguousarray(t), out,
                               resolve_n_threads(n_threads))
    return out
