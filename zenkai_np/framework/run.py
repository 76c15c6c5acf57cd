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
    if m.accepts_grad:
        if g is None and t is not None:     # both None: m ignores its output signal
            g = state.y - t
        m.accumulate_grad(x, g, state)

        def input_signal():
            return m.grad_x(x, g, state)
    else:
        if t is None and g is not None:
            t = state.y - g
        m.accumulate(x, t, state)

        def input_signal():
            return m.step_x(x, t, state)
    mode = m.lmode
    signal = None
    if mode == LMode.STEP_PRIORITY:
        m.step(x, t, state)
        if need_x:
            signal = input_signal()
    else:
        if need_x:
            signal = input_signal()
        if mode == LMode.DEFAULT:
            m.step(x, t, state)
        elif deferred is not None:
            deferred.append((m, x, t, state))
    return (None, signal) if m.accepts_grad else (signal, None)
