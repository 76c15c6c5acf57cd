"""Ensembles: a machine made of members plus an aggregator.

``forward`` runs every member on ``x``, concatenates their outputs along the
features and feeds them to the aggregator (by default a parameterless mean,
``GradLearner(Mean(k))``).  Learning runs the aggregator first; its
``step_x`` target for the concatenated outputs is split into one target per
member, each member learns toward its slice, and the ensemble's input target
is ``x + sum_m (x'_m - x)`` (the sum of the members' displacements; for
gradient targets, the sum of the gradients).
"""
from __future__ import annotations

import numpy as np

from ..layers import Mean
from ..machine import LearningMachine
from ..run import run_machine
from ..state import LMode, State
from .grad import GradLearner

__all__ = ["EnsembleLearner"]


class EnsembleLearner(LearningMachine):
    """``EnsembleLearner(members, aggregator=None)``.

    ``state.member_targets`` holds the targets the members received (the
    slices of the aggregator's input target) after ``accumulate``.
    """

    def __init__(self, members, aggregator=None):
        super().__init__(LMode.DEFAULT)
        members = list(members)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        for i, m in enumerate(members):
            if not isinstance(m, LearningMachine):
                raise TypeError(f"members[{i}] must be a LearningMachine, got "
                                f"{type(m).__name__}")
        outs = {m.n_out for m in members}
        if aggregator is None:
            if len(outs) != 1 or None in outs:
                raise ValueError("the default mean aggregator needs members with one "
                                 "known output size")
            aggregator = GradLearner(Mean(len(members)))
        if not isinstance(aggregator, LearningMachine):
            raise TypeError("aggregator must be a LearningMachine")
        self.members, self.aggregator = members, aggregator
        ins = {m.n_in for m in members} - {None}
        if len(ins) > 1:
            raise ValueError(f"members disagree on the input size: {sorted(ins)}")
        self.n_in = ins.pop() if ins else None
        self.n_out = aggregator.n_out if aggregator.n_out is not None else (
            outs.pop() if len(outs) == 1 else None)

    def children(self):
        return self.members + [self.aggregator]

    def _named(self):
        return [(f"member{i}", m) for i, m in enumerate(self.members)] + \
            [("aggregator", self.aggregator)]

    def parameters(self):
        return {f"{n}.{k}": v for n, m in self._named() for k, v in m.parameters().items()}

    def _state_items(self):
        return {f"{n}.{k}": v for n, m in self._named() for k, v in m._state_items().items()}

    def load_state_dict(self, d, prefix=""):
        for n, m in self._named():
            m.load_state_dict(d, prefix=f"{prefix}{n}.")

    @property
    def dtype(self):
        for m in self.children():
            if m.dtype is not None:
                return m.dtype
        return None

    def forward(self, x, state=None):
        if state is None:
            ys = [m.forward(x) for m in self.members]
            return self.aggregator.forward(np.concatenate(ys, axis=1))
        subs = state.get("_subs")
        if subs is None:
            subs = state._subs = [State() for _ in range(len(self.members) + 1)]
        ys = []
        for m, s in zip(self.members, subs):
            y = m.forward(x, s)
            s.y = y
            ys.append(y)
        cat = np.concatenate(ys, axis=1)
        sa = subs[-1]
        y = self.aggregator.forward(cat, sa)
        sa.y = y
        state._cat = cat
        state._widths = [y_.shape[1] for y_ in ys]
        state.y = y
        state._x_target = None
        return y

    def accumulate(self, x, t, state):
        subs = state._subs
        ctx = state.get("context")
        for s in subs:
            s.context = ctx
        cat = state._cat
        deferred = state._deferred = []
        xt, gx = run_machine(self.aggregator, cat, t, subs[-1], need_x=True,
                             deferred=deferred)
        cat_t = cat - gx if xt is None else xt
        targets, off = [], 0
        disp = None
        for m, s, w in zip(self.members, subs, state._widths):
            tm = cat_t[:, off:off + w]
            off += w
            targets.append(tm)
            mxt, mgx = run_machine(m, x, tm, s, need_x=True, deferred=deferred)
            d = -mgx if mxt is None else mxt - x
            disp = d if disp is None else disp + d
        state.member_targets = targets
        state._x_target = x + disp

    def step(self, x, t, state):
        for m, mx, mt, ms in state.get("_deferred") or ():
            m.step(mx, mt, ms)
        state._deferred = []

    def step_x(self, x, t, state):
        if state.get("_x_target") is None:
            self.accumulate(x, t, state)
        return state._x_target

    def __repr__(self):
        return f"EnsembleLearner({self.members!r}, aggregator={self.aggregator!r})"
