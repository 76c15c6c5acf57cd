"""Learning machines: the protocol every layer-learner of zenkai_np follows.

The idea (Zenkai, G. Short 2023)
================================
A network is split into semi-autonomous **learning machines**.  A machine
receives a **target** ``t`` for its output ``y`` (not a gradient), updates its
own parameters by any rule it likes, and hands a target ``x'`` for its input
``x`` to the machine before it.  Backprop is the special case
``t = y - dL/dy`` with the local loss ``0.5 * ||y - t||^2`` (summed over the
batch) and the input target ``x - dL/dx``.

Vocabulary: ``x`` input, ``y`` output, ``t`` target, ``state`` (a :class:`State`
in which ``forward`` records what the learning methods will need).

Usage::

    import zenkai_np as zk
    net = zk.Sequential(
        zk.FALearner(zk.Linear(64, 256), zk.Adam(lr=1e-3)), zk.GradLearner(zk.ReLU()),
        zk.DFALearner(zk.Linear(256, 256), zk.ReLU(), n_error=10, optimizer=zk.Adam()),
        zk.GradLearner(zk.Linear(256, 10), zk.Adam(lr=1e-3)))
    history = zk.fit(net, x, labels, loss=zk.CrossEntropyLoss(), epochs=20, rng=0)
    zk.save(net, "net.npz"); zk.load(net, "net.npz")

The protocol
------------
Every :class:`LearningMachine` has four methods::

    y  = machine.forward(x, state)        # state may be None (plain prediction)
    machine.accumulate(x, t, state)       # stage a parameter update toward t
    machine.step(x, t, state)             # apply the staged update
    x2 = machine.step_x(x, t, state)      # the target for the input

The order of the last three is the machine's **learning mode** ``lmode``
(see :class:`LMode`): ``accumulate, step_x, step`` (default: the input
target sees the old parameters, exactly like backprop), ``accumulate, step,
step_x`` (the input target sees the new parameters) or ``accumulate, step_x``
with the step deferred to the container's own ``step`` (e.g. to apply all
updates after the whole backward walk).

Containers (:class:`~zenkai_np.framework.containers.Sequential`,
:class:`~zenkai_np.framework.containers.Graph`) record each machine's
``(x, y, state)`` on the forward pass, turn the loss into the output target and
walk the machines in reverse, giving each the target produced by the machine
after it.  They also put a shared :class:`Context` in every sub-state
(``state.context``): ``context.error`` is the *global* output error ``dL/dy``
of the outermost container (what direct feedback alignment needs).

The gradient channel (speed, and bit-exact backprop)
----------------------------------------------------
A machine whose rule is gradient-like may set ``accepts_grad = True`` and
implement ``accumulate_grad(x, gy, state)`` and ``grad_x(x, gy, state)`` (the
latter returning ``gx`` such that the input target is ``x - gx``).  Between two
such machines a container passes ``gy = y - t`` directly instead of
materialising ``t = y - gy`` and recovering ``gy = y - t``: the same
mathematics, two array operations cheaper per boundary and bit-identical to
hand-written backprop.  In that channel ``step`` receives ``t=None``.
``GradLearner`` derives ``accumulate``/``step_x`` from these two methods, so a
gradient-like rule only implements the gradient methods.  (In the default mode
a container calls ``_default_backward(x, gy, state, need_x)`` = accumulate_grad,
grad_x, step once per machine and batch; ``GradLearner`` inlines it, honouring
overrides of the three methods.)  ``Sequential`` itself joins the channel, so
nested containers behave exactly like flat ones.

Writing a new layer (a few lines)
=================================
A *layer* is pure mathematics with hand-written vector-Jacobian products; a
*learner* (a ``LearningMachine``) decides how a layer learns.  Subclass
:class:`~zenkai_np.framework.layers.Layer`::

    import numpy as np
    from zenkai_np import (CrossEntropyLoss, GradLearner, Layer, LearningMachine,
                           Linear, Sequential, Tanh, fit)

    class Scale(Layer):
        '''y = x * s, with a learnable per-unit scale s.'''
        def __init__(self, n, dtype=np.float64):
            super().__init__()
            self.n_in = self.n_out = n
            self.params["s"] = np.ones(n, dtype)    # the arrays are updated in place

        def forward(self, x, state=None):
            return x * self.params["s"]

        def vjp_x(self, x, y, gy, state=None):       # dL/dx given gy = dL/dy
            return gy * self.params["s"]

        def vjp_params(self, x, y, gy, state=None, out=None):
            return {"s": (gy * x).sum(axis=0)}        # one entry per params key

Rules for layers:

* ``params`` maps names to arrays; optimizers update those arrays **in place**
  (never rebind them).  ``param_options`` (name -> dict) gives per-parameter
  optimizer overrides, e.g. ``{"n": {"lr": 1e-3}}`` puts ``n`` in its own
  optimizer group with its own learning rate (learners may override it too).
* ``forward`` may store intermediates in ``state`` (an attribute namespace; do
  not use the names ``y``, ``context`` or names starting with ``_``) when it is
  not None; ``vjp_x``/``vjp_params`` receive the same state.
* keep the input's dtype (float32 in -> float32 compute, no silent upcasting).
* never modify ``x``, ``y`` or ``gy`` in place (they are recorded or shared);
  a VJP may return ``gy`` itself (identity-like layers do).
* optionally ``forward_population(x, params)``: ``params`` carry a leading
  population axis ``P``; return ``(P, N, n_out)`` in one batched call (the base
  class falls back to a Python loop).  Needed by ES/GA/hill-climbing learners.
* optionally set ``supports_out = True`` and honour ``out=`` (a dict of
  preallocated gradient buffers) in ``vjp_params`` to avoid allocations.

``Chain(*layers)`` composes layers into one layer (params named ``"0.W"``...).

Writing a new learner (a few lines)
===================================
Gradient-like rules subclass :class:`~zenkai_np.framework.learners.grad.GradLearner`
and override one method.  Feedback alignment is::

    class FALearner(GradLearner):
        def grad_x(self, x, gy, state):            # input target is x - gy B^T
            return (gy @ self.B.T) * self.x_lr

Any other rule subclasses :class:`LearningMachine`::

    class DeltaRule(LearningMachine):
        '''Widrow-Hoff on a Linear layer; input target through W^T.'''
        def __init__(self, layer, lr=0.01):
            super().__init__()                        # lmode=LMode.DEFAULT
            self.layer, self.lr = layer, lr           # self.layer: saved/loaded for free
            self.n_in, self.n_out = layer.n_in, layer.n_out
        def forward(self, x, state=None):
            y = self.layer.forward(x)
            if state is not None:
                state.y = y                           # always record y
            return y
        def accumulate(self, x, t, state):           # stage an update toward t
            state.dW = x.T @ (t - state.y)
        def step(self, x, t, state):                 # apply it
            self.layer.params["W"] += self.lr * state.dW
        def step_x(self, x, t, state):               # the target for the input
            return x + (t - state.y) @ self.layer.W.T

    net = Sequential(GradLearner(Linear(4, 8)), GradLearner(Tanh()),
                     GradLearner(Scale(8)), DeltaRule(Linear(8, 3)))
    fit(net, x, labels, loss=CrossEntropyLoss(), epochs=10)

A layer with a parameter that needs its own learning rate (e.g. the per-unit
order ``n`` of a fractional-iterate layer) declares
``self.param_options = {"n": {"lr": 1e-4}}``, or the learner is told:
``GradLearner(layer, Adam(lr=1e-3), param_options={"n": {"lr": 1e-4}})``.

``parameters()``/``state_dict()``/``load_state_dict()`` are inherited: the base
class collects the params of ``self.layer`` and the state of
``self.optimizer`` when present; override ``_state_items`` for more.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "State",
    "Context",
    "LMode",
    "LearningMachine",
    "check_input",
    "check_target",
]


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


def _check_lmode(lmode):
    if lmode not in LMode.ALL:
        raise ValueError(f"lmode must be one of {LMode.ALL}, got {lmode!r}")
    return lmode


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def check_input(x, name="x", dtype=None, n_features=None):
    """Validate a batch: 2-D, non-empty, float32/float64 matching ``dtype``.

    Non-float inputs are converted to ``dtype`` (float64 when ``dtype`` is None);
    a float32/float64 mismatch is a ``TypeError`` (never silently narrowed or
    upcast).  Returns the (possibly converted) array.
    """
    if not isinstance(x, np.ndarray):
        if isinstance(x, (list, tuple)) or np.isscalar(x):
            x = np.asarray(x)
        else:
            raise TypeError(f"{name} must be a numpy array, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name}: expected 2D array (n_samples, n_features), got "
                         f"{x.ndim}D array of shape {x.shape} instead")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (0 samples); need at least 1")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"{name} has {x.shape[1]} features, expected {n_features}")
    dt = x.dtype
    if dt in _FLOATS:
        if dtype is not None and dt != dtype:
            raise TypeError(f"{name} has dtype {dt}, but the model computes in "
                            f"{np.dtype(dtype)}; convert it explicitly (no silent casts)")
        return x
    if dt.kind == "c":
        raise TypeError(f"{name} has complex dtype {dt}; expected a real float array")
    if dt.kind not in "biuf":
        raise TypeError(f"{name} has dtype {dt}; expected a numeric array")
    return x.astype(dtype if dtype is not None else np.float64)


def check_target(t, n_samples, name="t", dtype=None):
    """Validate a target/label array: ndarray, matching batch size, no NaN.

    Float targets must have the model's ``dtype`` when it is given (a float64
    target for a float32 model is a ``TypeError``: no silent narrowing).
    Integer arrays (labels) pass unchanged.
    """
    if not isinstance(t, np.ndarray):
        t = np.asarray(t)
    if (dtype is not None and t.dtype.kind == "f" and t.dtype != dtype
            and t.dtype in _FLOATS):
        raise TypeError(f"{name} has dtype {t.dtype}, but the model computes in "
                        f"{np.dtype(dtype)}; convert it explicitly (no silent casts)")
    if t.ndim == 0:
        raise ValueError(f"{name}: expected an array with a batch axis, got a scalar")
    if t.shape[0] != n_samples:
        raise ValueError(f"{name} has {t.shape[0]} samples but x has {n_samples}")
    if t.dtype.kind == "f" and np.isnan(t).any():
        raise ValueError(f"{name} contains NaN")
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{name} has dtype {t.dtype}; expected a numeric array")
    return t


class LearningMachine:
    """Base class of every learner and container (see the module docstring).

    Subclasses implement ``forward``; learners implement ``accumulate``,
    ``step`` and ``step_x``.  ``lmode`` chooses the order of the last three.
    """

    #: True when the machine implements the gradient channel
    #: (``accumulate_grad(x, gy, state)`` and ``grad_x(x, gy, state)``).
    accepts_grad = False
    #: number of input/output features when known (containers check them)
    n_in = None
    n_out = None

    def __init__(self, lmode=LMode.DEFAULT):
        self.lmode = _check_lmode(lmode)

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
        """Forward pass without recording state."""
        return self.forward(x)

    def learn(self, x, t, loss=None, state=None):
        """One learning step on a batch, in this machine's learning mode.

        With ``loss`` given, ``t`` is what the loss compares against (labels or
        values) and the output target is ``y - dL/dy``; without, ``t`` is the
        output target itself.  Returns the loss value (or None).
        """
        x = check_input(x, "x", self.dtype)
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

    def fit(self, x, y, *, loss, **kwargs):
        """Estimator-style training: ``zenkai_np.fit(self, x, y, loss=..., **kwargs)``.

        Stores the :class:`~zenkai_np.framework.train.History` in ``history_``
        and the per-epoch losses in ``loss_curve_``; returns ``self``.
        """
        from .train import fit as _fit
        self.history_ = _fit(self, x, y, loss=loss, **kwargs)
        self.loss_curve_ = list(self.history_.loss)
        return self

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


def run_machine(m, x, t, state, need_x=True, g=None, deferred=None):
    """Run one machine's learning methods in its learning mode.

    ``t`` (target) or ``g`` (output gradient, gradient channel) or both are
    given; gradient-channel machines use ``g`` when present, others ``t``.
    Returns ``(x_target, gx)``: for gradient-channel machines ``gx`` (so the
    input target is ``x - gx``), else ``x_target``.  With
    ``need_x=False`` no input target is computed.  Deferred steps are appended
    to ``deferred`` as ``(machine, x, t, state)`` (or skipped when it is None,
    leaving the caller to step).
    """
    mode = m.lmode
    if m.accepts_grad:
        if g is None:
            g = state.y - t
        m.accumulate_grad(x, g, state)
        gx = None
        if mode == LMode.DEFAULT:
            if need_x:
                gx = m.grad_x(x, g, state)
            m.step(x, t, state)
        elif mode == LMode.STEP_PRIORITY:
            m.step(x, t, state)
            if need_x:
                gx = m.grad_x(x, g, state)
        else:
            if need_x:
                gx = m.grad_x(x, g, state)
            if deferred is not None:
                deferred.append((m, x, t, state))
        return None, gx
    if t is None:
        t = state.y - g
    m.accumulate(x, t, state)
    xt = None
    if mode == LMode.DEFAULT:
        if need_x:
            xt = m.step_x(x, t, state)
        m.step(x, t, state)
    elif mode == LMode.STEP_PRIORITY:
        m.step(x, t, state)
        if need_x:
            xt = m.step_x(x, t, state)
    else:
        if need_x:
            xt = m.step_x(x, t, state)
        if deferred is not None:
            deferred.append((m, x, t, state))
    return xt, None
