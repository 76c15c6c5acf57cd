"""What a forward pass records (``State``), what one container walk shares
(``Context``) and the learning modes (``LMode``).  See docs/framework.md."""
from __future__ import annotations

__all__ = ["State", "Context", "LMode", "check_lmode"]


class State:
    """What a machine's ``forward`` recorded for its learning methods.

    A plain attribute namespace (``state.y``, ``state.mask`` ...).  Missing
    attributes read as ``None`` only through :meth:`get`.
    """

    def __init__(self, **items):
        self.__dict__.update(items)

    def get(self, name, default=None):
        return self.__dict__.get(name, default)

    def __contains__(self, name):
        return name in self.__dict__

    def __repr__(self):
        keys = ", ".join(sorted(self.__dict__))
        return f"State({keys})"


class Context:
    """Information shared by every machine of one container walk.

    ``y`` and ``t`` are the outermost output and its target; ``error`` is the
    global output error ``dL/dy`` (given by the loss, or ``y - t``).
    """

    __slots__ = ("y", "t", "_error")

    def __init__(self):
        self.y = None
        self.t = None
        self._error = None

    @property
    def error(self):
        if self._error is None:
            if self.y is None or self.t is None:
                raise ValueError("no global output error: the machine is not inside a "
                                 "container walk (use Sequential/Graph.learn)")
            self._error = self.y - self.t
        return self._error

    def set(self, y, t, error):
        self.y, self.t, self._error = y, t, error


class LMode:
    """Learning modes: the order of ``accumulate``, ``step`` and ``step_x``."""

    #: accumulate, step_x, step (input target sees the old parameters: backprop)
    DEFAULT = "accumulate_step_x_step"
    #: accumulate, step, step_x (input target sees the updated parameters)
    STEP_PRIORITY = "accumulate_step_step_x"
    #: accumulate, step_x; ``step`` is deferred to the container's ``step``
    DEFERRED = "accumulate_step_x"
    ALL = (DEFAULT, STEP_PRIORITY, DEFERRED)


def check_lmode(lmode):
    if lmode not in LMode.ALL:
        raise ValueError(f"lmode must be one of {LMode.ALL}, got {lmode!r}")
    return lmode
