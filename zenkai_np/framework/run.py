"""``run_machine``: one machine's learning methods in its learning mode."""
from __future__ import annotations

from .state import LMode

__all__ = ["run_machine"]


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
