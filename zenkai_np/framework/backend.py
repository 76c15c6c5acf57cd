"""Which formulation the framework's hot paths run: ``"compiled"`` or ``"numpy"``.

``"compiled"`` (the default when the extension is built) runs fused
dense layers (``act(x @ W + b)`` and its VJP in one call each, see
``fusion.py``) and one-pass SGD/Adam updates (``optim.py``) from
``zenkai_np._framework`` (``csrc/framework/dense.hpp``).  ``"numpy"`` runs the reference NumPy
formulation of ``layers.py`` / ``optim.py``.  The switch is global and read at
call time::

    with zk.framework.backend.use_backend("numpy"):
        zk.fit(net, X, y, ...)          # the NumPy reference, same results
"""
from __future__ import annotations

import contextlib

__all__ = ["get_backend", "set_backend", "use_backend", "BACKENDS"]

BACKENDS = ("compiled", "numpy")

try:
    from .. import _framework as _compiled
except ImportError:  # pragma: no cover (source tree without a build)
    _compiled = None

_current = "compiled" if _compiled is not None else "numpy"


def get_backend() -> str:
    """The backend in use now: ``"compiled"`` or ``"numpy"``."""
    return _current


def set_backend(name: str) -> None:
    """Select the backend of every framework hot path (global)."""
    global _current
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {name!r}")
    if name == "compiled" and _compiled is None:
        raise ValueError("backend 'compiled' is not available: the extension "
                         "zenkai_np._framework is not built")
    _current = name


@contextlib.contextmanager
def use_backend(name: str):
    """Context manager: run the block with backend ``name``, then restore."""
    old = _current
    set_backend(name)
    try:
        yield
    finally:
        set_backend(old)


def fused_module():
    """The compiled module when the compiled backend is selected, else None."""
    return _compiled if _current == "compiled" else None
