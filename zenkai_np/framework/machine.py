"""``LearningMachine``: the base class of every learner and container.

A machine receives a *target* for its output, updates its own parameters by
any rule and hands a target for its input to the machine before it (Zenkai,
G. Short 2023).  The protocol (``forward``, ``accumulate``, ``step``,
``step_x``), the gradient channel and how to write a layer or a learner are
in docs/framework.md.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_batch, check_target
from .run import run_machine
from .state import Context, LMode, State, check_lmode

__all__ = ["LearningMachine"]


class LearningMachine:
    """Base class of every learner and container (see the module docstring).

    Subclasses implement ``forward``; learners implement ``accumulate``,
    ``step`` and ``step_x``.  ``lmode`` chooses the order of the last three.
    """

    #: True when the machine implements the gradient channel
    #: (``accumulate_grad(x, gy, state)`` and ``grad_x(x, gy, state)``).
    accepts_grad = False
    #: False when ``accumulate``/``step`` ignore the target or gradient handed to the
    #: machine (e.g. DFA reads the global error instead): containers then skip
    #: computing it, i.e. the successor's input target, and pass None.
    uses_output_signal = True
    #: number of input/output features when known (containers check them)
    n_in = None
    n_out = None

    def __init__(self, lmode=LMode.DEFAULT):
        self.lmode = check_lmode(lmode)

    # -- the protocol --------------------------------------------------------
    def forward(self, x, state=None):
        raise NotImplementedError

    def accumulate(self, x, t, state):
        """Stage a parameter update toward ``t`` (default: nothing to learn)."""

    def step(self, x, t, state):
        """Apply the staged update (default: nothing to learn)."""

    def step_x(self, x, t, state):
        raise NotImplementedError(f"{type(self).__name__} gives no input target")

    def _default_backward(self, x, gy, state, need_x):
        """Gradient channel, default mode: accumulate_grad, grad_x, step.

        Containers call this once per machine per batch; ``GradLearner``
        overrides it with an inlined version (same calls, fewer Python frames).
        """
        self.accumulate_grad(x, gy, state)
        gx = self.grad_x(x, gy, state) if need_x else None
        self.step(x, None, state)
        return gx

    # -- conveniences --------------------------------------------------------
    def __call__(self, x):
        return self.forward(x)

    def predict(self, x):
        """Forward pass of a batch ``(N, n_in)`` without recording state.

        ``x`` is converted to the model's dtype like in ``learn`` and ``fit``.
        """
        return self.forward(check_batch(x, "x", self.dtype))

    def learn(self, x, t, loss=None, state=None):
        """One learning step on a batch, in this machine's learning mode.

        With ``loss`` given, ``t`` is what the loss compares against (labels or
        values) and the output target is ``y - dL/dy``; without, ``t`` is the
        output target itself.  Returns the loss value (or None).
        """
        x = check_batch(x, "x", self.dtype)
        t = check_target(t, x.shape[0], "t", self.dtype)
        if state is None:
            state = State()
        y = self.forward(x, state)
        value = g = None
        if loss is not None:
            value, g = loss.value_and_grad(y, t)
            t = y - g
        ctx = state.get("context")
        if ctx is None:
            ctx = state.context = Context()
        ctx.set(y, t, g)
        run_machine(self, x, t, state, need_x=False, g=g)
        if self.lmode == LMode.DEFERRED:
            self.step(x, t, state)
        return value

    @property
    def dtype(self):
        for p in self.parameters().values():
            return p.dtype
        return None

    def children(self):
        """Sub-machines (containers override)."""
        return []

    def parameters(self):
        """Flat ``{name: array}`` of every learnable array (views, not copies)."""
        layer = getattr(self, "layer", None)
        if layer is not None and hasattr(layer, "params"):
            return dict(layer.params)
        return {}

    def _state_items(self):
        """Everything that save/load must round-trip, as ``{name: array}``."""
        items = {f"param.{k}": v for k, v in self.parameters().items()}
        opt = getattr(self, "optimizer", None)
        if opt is not None:
            items.update({f"optim.{k}": v for k, v in opt.state_dict().items()})
        return items

    def state_dict(self):
        """``{name: array}`` of parameters and optimizer state (copies)."""
        return {k: np.array(v, copy=True) for k, v in self._state_items().items()}

    def load_state_dict(self, d, prefix=""):
        """Copy arrays from ``d`` into this machine's parameters/optimizer, in place."""
        items = self._state_items()
        missing = [prefix + k for k in items if prefix + k not in d]
        if missing:
            raise ValueError(f"state dict is missing keys: {missing[:5]}")
        for k, dst in items.items():
            src = np.asarray(d[prefix + k])
            if src.shape != dst.shape:
                raise ValueError(f"{prefix + k}: shape {src.shape} does not match "
                                 f"{dst.shape}")
            if src.dtype != dst.dtype:
                raise TypeError(f"{prefix + k}: dtype {src.dtype} does not match "
                                f"{dst.dtype}")
            dst[...] = src
        opt = getattr(self, "optimizer", None)
        if opt is not None:
            opt._after_load()

    def __repr__(self):
        layer = getattr(self, "layer", None)
        inner = repr(layer) if layer is not None else ""
        return f"{type(self).__name__}({inner})"
