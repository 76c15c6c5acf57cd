"""``check_learning_machine``: the forward/accumulate/step/step_x protocol of a machine.

Each ``check_machine_*`` function tests one property on deep copies of the
machine (the user's machine is never changed) and raises ``AssertionError``
naming the property and by how much it failed. The protocol is the one of
``docs/framework.md``: ``forward(x, state)``, then ``accumulate``, ``step_x`` and
``step`` in the order of the machine's ``lmode``.
"""
from __future__ import annotations

import copy
import os
import tempfile

import numpy as np

from ..framework import Context, LearningMachine, LMode, State, load, save
from ._arrays import (
    _FLOATS,
    assert_array_shape,
    assert_close,
    assert_untouched,
    changed,
    fail,
    snapshot,
)

__all__ = [
    "check_learning_machine",
    "check_machine_deterministic",
    "check_machine_forward",
    "check_machine_protocol",
    "check_machine_save_load",
]


def _start(machine, x, t):
    """forward(x, state) with a shared context, as a container walk would give it."""
    state = State()
    y = machine.forward(x, state)
    ctx = state.get("context")
    if ctx is None:
        ctx = state.context = Context()
    ctx.set(y, t, y - t)
    return state, y


def _learn(machine, x, t, state):
    """accumulate, step_x and step in the machine's learning mode; returns the input target."""
    machine.accumulate(x, t, state)
    if machine.lmode == LMode.STEP_PRIORITY:
        machine.step(x, t, state)
        return machine.step_x(x, t, state)
    xt = machine.step_x(x, t, state)
    machine.step(x, t, state)        # DEFERRED: the step a container would apply
    return xt


def _out_dtype(machine, x):
    return machine.dtype if machine.dtype is not None else x.dtype


def check_machine_forward(machine, x, t):
    """``forward`` gives ``(N, n_out)`` in the machine's dtype, t's shape, the same with
    and without a state, records ``state.y`` and leaves x untouched."""
    name = "check_machine_forward"
    machine = copy.deepcopy(machine)
    xs = snapshot({"x": x})
    y = machine.forward(x)
    n_out = machine.n_out if machine.n_out is not None else t.shape[1]
    assert_array_shape(name, "forward(x)", y, (x.shape[0], n_out), _out_dtype(machine, x))
    if y.shape != t.shape:
        fail(name, f"forward(x) has shape {y.shape} but the target t has {t.shape}")
    state = State()
    ys = machine.forward(x, state)
    tol = 64 * float(np.finfo(y.dtype).eps) if y.dtype in _FLOATS else 0.0
    assert_close(name, "forward(x, state) against forward(x)", ys, y, tol, tol)
    sy = state.get("y")
    if sy is None:
        fail(name, "forward(x, state) did not record state.y")
    if sy is not ys and not np.array_equal(sy, ys, equal_nan=True):
        fail(name, "state.y differs from the output of forward(x, state)")
    assert_untouched(name, xs, {"x": x}, "forward: x")


def check_machine_protocol(machine, x, t, *, frozen=(), expect_change=True):
    """The learning methods in the machine's learning mode.

    ``step`` before ``accumulate`` changes nothing; ``accumulate`` of a machine without
    sub-machines only stages (no parameter changes); ``step_x`` changes no parameter
    and returns an input target of x's shape and dtype; after the step at least one
    parameter changed (``expect_change``) and none of ``frozen``; the user's x and t
    are untouched bit for bit.
    """
    name = "check_machine_protocol"
    machine = copy.deepcopy(machine)
    user = snapshot({"x": x, "t": t})
    state, y = _start(machine, x, t)
    before = snapshot(machine.state_dict())
    machine.step(x, t, state)
    bad = changed(before, machine.state_dict())
    if bad:
        fail(name, f"step before accumulate changed {sorted(bad)[:5]} (nothing was staged)")
    params0 = snapshot(machine.parameters())
    machine.accumulate(x, t, state)
    if not machine.children():
        bad = changed(params0, machine.parameters())
        if bad:
            fail(name, f"accumulate changed parameters {sorted(bad)[:5]} (it must only stage "
                       "the update; step applies it)")
    if machine.lmode == LMode.STEP_PRIORITY:
        machine.step(x, t, state)
        mid = snapshot(machine.parameters())
        xt = machine.step_x(x, t, state)
    else:
        mid = snapshot(machine.parameters())
        xt = machine.step_x(x, t, state)
    bad = changed(mid, machine.parameters())
    if bad:
        fail(name, f"step_x changed parameters {sorted(bad)[:5]}")
    if machine.lmode != LMode.STEP_PRIORITY:
        machine.step(x, t, state)
    assert_array_shape(name, "step_x(x, t, state) (the input target)", xt, x.shape, x.dtype)
    assert_untouched(name, user, {"x": x, "t": t}, "the learning methods: the user's array")
    moved = changed(params0, machine.parameters())
    if expect_change and machine.parameters() and not moved:
        fail(name, "accumulate + step changed no parameter (the target differs from y by "
                   f"max {float(np.max(np.abs(y - t))):.3g})")
    bad = sorted(set(moved) & set(frozen))
    if bad:
        fail(name, f"frozen parameters changed: {bad}")


def check_machine_save_load(machine, x, t):
    """After one learning step, save/load into a fresh copy reproduces the state dict
    and the predictions bit for bit."""
    name = "check_machine_save_load"
    src = copy.deepcopy(machine)
    dst = copy.deepcopy(machine)
    state, _ = _start(src, x, t)
    _learn(src, x, t, state)
    with tempfile.TemporaryDirectory() as tmp:
        path = save(src, os.path.join(tmp, "machine.npz"))
        load(dst, path)
    want = src.state_dict()
    got = dst.state_dict()
    bad = changed(snapshot(want), got)
    if bad:
        fail(name, f"state entries differ after load: {sorted(bad)[:5]}")
    if want and not np.array_equal(dst.forward(x), src.forward(x), equal_nan=True):
        diff = float(np.max(np.abs(dst.forward(x) - src.forward(x))))
        fail(name, f"forward(x) after load differs from before save by max {diff:.3g}")


def check_machine_deterministic(machine, x, t):
    """Two copies (same rng state) give bitwise the same outputs, input targets and
    state after one learning step (no global random state, no hidden inputs)."""
    name = "check_machine_deterministic"
    runs = []
    for _ in range(2):
        m = copy.deepcopy(machine)
        state, y = _start(m, x, t)
        xt = _learn(m, x, t, state)
        runs.append((y, xt, m.state_dict(), m.forward(x)))
    (y0, xt0, s0, f0), (y1, xt1, s1, f1) = runs
    for what, a, b in (("forward(x, state)", y0, y1), ("step_x", xt0, xt1),
                       ("forward after the step", f0, f1)):
        if not np.array_equal(a, b, equal_nan=True):
            fail(name, f"{what} differs between two identical copies by max "
                       f"{float(np.max(np.abs(np.asarray(a) - np.asarray(b)))):.3g}")
    bad = changed(snapshot(s0), s1)
    if bad:
        fail(name, f"state entries differ between two identical copies: {sorted(bad)[:5]}")


def check_learning_machine(machine, x, t, *, frozen=(), expect_change=True):
    """Check that ``machine`` keeps the learning-machine protocol; raise AssertionError if not.

    Parameters
    ----------
    machine : LearningMachine
        Not modified (every check works on a deep copy).
    x : ndarray (N, n_in)
        A batch in the machine's dtype.
    t : ndarray (N, n_out)
        An output target of ``forward(x)``'s shape and dtype, different from it.
    frozen : iterable of str
        Names of ``machine.parameters()`` that no step may change.
    expect_change : bool
        Require that one accumulate + step changes a parameter (False for rules
        that may keep their parameters, e.g. hill climbing without a better candidate).

    Properties: output and input-target shapes and dtypes, ``state.y`` recorded,
    accumulate before step (step alone changes nothing, accumulate only stages),
    step_x changes no parameter, the user's arrays untouched, save/load round trip,
    deterministic given the machine's own random state.
    """
    if not isinstance(machine, LearningMachine):
        raise TypeError(f"machine: expected a zenkai_np LearningMachine, got "
                        f"{type(machine).__name__}")
    for label, a in (("x", x), ("t", t)):
        if not isinstance(a, np.ndarray) or a.ndim != 2:
            raise ValueError(f"{label}: expected a 2D numpy array, got {type(a).__name__} "
                             f"{getattr(a, 'shape', '')}")
        if a.dtype not in _FLOATS:
            raise TypeError(f"{label}: expected float32 or float64, got {a.dtype}")
    if t.shape[0] != x.shape[0]:
        raise ValueError(f"t: expected {x.shape[0]} rows like x, got {t.shape[0]}")
    before = snapshot(machine.state_dict())
    check_machine_forward(machine, x, t)
    check_machine_protocol(machine, x, t, frozen=tuple(frozen), expect_change=expect_change)
    check_machine_save_load(machine, x, t)
    check_machine_deterministic(machine, x, t)
    assert_untouched("check_learning_machine", before, machine.state_dict(),
                     "the user's machine state")
