"""Population forward and local losses for the gradient-free learners.

``population_losses_of(layer, x, pop, t)`` is what ES, GA and hill climbing
ask for: ``0.5 * ||f(x; theta_p) - t||^2`` for every member ``p``.  For a
``Linear`` under the compiled backend it runs ``_population.losses`` (members
in parallel over ``n_threads`` OpenMP threads, fused with the loss, float64
accumulation; identical for any thread count); otherwise the NumPy
formulation ``population_losses(layer.forward_population(x, pop), t)``.
The two agree to rounding (the NumPy one sums in the parameters' dtype):
rtol 1e-5 in float32, 1e-12 in float64 (``tests/framework/test_population_kernel.py``).
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
    """C-contiguous ``(x2d, per_member, W, b)`` for the kernel, or None."""
    if (_population is None or backend.get_backend() != "compiled"
            or type(layer) is not Linear or set(pop) != set(layer.params)):
        return None
    W = pop["W"]
    dt = layer.params["W"].dtype
    if type(W) is not np.ndarray or W.dtype != dt or W.ndim != 3 or \
            W.shape[1:] != (layer.n_in, layer.n_out) or W.shape[0] == 0:
        return None
    P = W.shape[0]
    b = pop.get("b")
    if b is not None and (type(b) is not np.ndarray or b.dtype != dt
                          or b.shape != (P, layer.n_out)):
        return None
    if type(x) is not np.ndarray or x.dtype != dt or x.shape[-1] != layer.n_in:
        return None
    if x.ndim == 2 and x.shape[0] > 0:
        per_member, x2 = False, x
    elif x.ndim == 3 and x.shape[0] == P and x.shape[1] > 0:
        per_member, x2 = True, x.reshape(-1, layer.n_in)
    else:
        return None
    return (np.ascontiguousarray(x2), per_member, np.ascontiguousarray(W),
            None if b is None else np.ascontiguousarray(b))


def population_losses(ypop, t):
    """``0.5 * ||y_p - t||^2`` summed over the batch, for each member: ``(P,)`` (NumPy)."""
    d = ypop - t
    return 0.5 * np.einsum("pnf,pnf->p", d, d)


def forward_population(layer, x, pop, n_threads=None):
    """``(P, N, n_out)`` outputs of every member (compiled for a ``Linear``)."""
    args = _linear_args(layer, x, pop)
    if args is None:
        return layer.forward_population(x, pop)
    x2, per_member, W, b = args
    N = x2.shape[0] // W.shape[0] if per_member else x2.shape[0]
    out = np.empty((W.shape[0], N, layer.n_out), W.dtype)
    _population.forward(x2, per_member, W, b, out, resolve_n_threads(n_threads))
    return out


def population_losses_of(layer, x, pop, t, n_threads=None):
    """``(P,)`` local losses of every member on the batch ``(x, t)``."""
    args = _linear_args(layer, x, pop)
    N = x.shape[-2] if args is not None else 0
    if (args is None or type(t) is not np.ndarray or t.dtype != args[2].dtype
            or t.shape != (N, layer.n_out)):
        return population_losses(layer.forward_population(x, pop), t)
    x2, per_member, W, b = args
    nt = min(resolve_n_threads(n_threads), W.shape[0])
    out = np.empty(W.shape[0], np.float64)
    buf = np.empty((nt, N * layer.n_out), W.dtype)
    _population.losses(x2, per_member, W, b, np.ascontiguousarray(t), out, buf, nt)
    return out
