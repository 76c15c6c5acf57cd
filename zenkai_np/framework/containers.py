"""Containers: ``Sequential`` and ``Graph`` drive the reverse walk of targets.

On ``forward(x, state)`` a container records each machine's ``(x, y, state)``.
On learning it turns the loss into the output target and walks the machines in
reverse, each machine running its learning methods in its own learning mode and
handing its input target to the machine before it.  Between two machines with
the gradient channel (``accepts_grad``) the gradient is passed directly (see
docs/framework.md).  A shared :class:`~zenkai_np.framework.state.Context` gives
every machine the global output error.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_batch, check_target
from . import fusion
from .machine import LearningMachine
from .run import run_machine
from .state import Context, LMode, State

__all__ = ["Sequential", "Graph"]


def _check_machine(m, where):
    if not isinstance(m, LearningMachine):
        raise TypeError(f"{where} must be a LearningMachine, got {type(m).__name__} "
                        f"(wrap layers in a learner, e.g. GradLearner(layer))")


class _Container(LearningMachine):
    def __init__(self):
        super().__init__(LMode.DEFAULT)

    @property
    def dtype(self):
        for m in self.children():
            d = m.dtype
            if d is not None:
                return d
        return None

    def _prefixed(self, method):
        """``{"<child name>.<key>": value}`` over the children's ``method()`` dicts."""
        return {f"{name}.{k}": v for name, m in self._named_children()
                for k, v in getattr(m, method)().items()}

    def parameters(self):
        return self._prefixed("parameters")

    def _state_items(self):
        return self._prefixed("_state_items")

    def load_state_dict(self, d, prefix=""):
        for name, m in self._named_children():
            m.load_state_dict(d, prefix=f"{prefix}{name}.")

    def step(self, x, t, state):
        """Apply the steps that machines in ``LMode.DEFERRED`` left to the container."""
        deferred = state.get("_deferred")
        if deferred:
            for m, mx, mt, ms in deferred:
                m.step(mx, mt, ms)
            deferred.clear()

    def step_x(self, x, t, state):
        xt = state.get("_x_target")
        if xt is None:          # not walked since the last forward
            self.accumulate(x, t, state)
            xt = state._x_target
        return xt

    def _context(self, state, y, t, g):
        ctx = state.__dict__.get("context")
        if ctx is None:
            ctx = state.context = Context()
            state._own_context = True
        if state.__dict__.get("_own_context"):
            ctx.set(y, t, g)
        return ctx

    def learn(self, x, t, loss=None, state=None):
        """One learning step on a batch; returns the loss value (or None).

        With ``loss``, ``t`` holds what the loss compares with (labels, values);
        otherwise ``t`` is the output target itself.
        """
        x = check_batch(x, "x", self.dtype)
        t = check_target(t, x.shape[0], "t", self.dtype)
        return self._learn(x, t, loss, state)

    def _learn(self, x, t, loss, state=None):
        if state is None:
            state = self.__dict__.get("_scratch_state")
            if state is None:
                state = self._scratch_state = State()
        y = self.forward(x, state)
        value = g = None
        if loss is not None:
            value, g = loss.value_and_grad(y, t)
            tt = None
        else:
            tt = t
        self._walk(x, state, g, tt, need_x=False)
        self.step(x, tt, state)
        return value


class Sequential(_Container):
    """Machines applied one after the other: ``Sequential(m1, m2, ...)``.

    ``forward(x, state)`` records every machine's input, output and sub-state.
    ``accumulate(x, t, state)`` performs the whole reverse walk: each machine,
    last to first, runs its learning methods in its own learning mode with the
    target handed back by its successor (so machines in the default mode are
    already updated when it returns).  ``step`` applies the steps that
    ``LMode.DEFERRED`` machines left to the container; ``step_x`` returns the
    input target the walk computed for the first machine.
    ``learn(x, t, loss)`` = forward, loss -> output target, walk, step (without
    computing the unused input target of the first machine).

    Consecutive machines must agree on feature counts and dtype (checked here).
    """

    def __init__(self, *machines):
        super().__init__()
        if len(machines) == 1 and isinstance(machines[0], (list, tuple)):
            machines = tuple(machines[0])
        if not machines:
            raise ValueError("Sequential needs at least one machine")
        for i, m in enumerate(machines):
            _check_machine(m, f"machines[{i}]")
        prev_out, prev_i = None, None
        for i, m in enumerate(machines):
            if m.n_in is not None and prev_out is not None and m.n_in != prev_out:
                raise ValueError(f"machines[{i}] ({m!r}) expects {m.n_in} input features "
                                 f"but machines[{prev_i}] produces {prev_out}")
            if m.n_out is not None:
                prev_out, prev_i = m.n_out, i
        dts = [(i, m.dtype) for i, m in enumerate(machines) if m.dtype is not None]
        for (i, a), (j, b) in zip(dts, dts[1:]):
            if a != b:
                raise TypeError(f"machines[{j}] computes in {b} but machines[{i}] in {a}; "
                                f"use one dtype throughout (no silent casts)")
        self.machines = list(machines)
        self.n_in = next((m.n_in for m in machines if m.n_in is not None), None)
        self.n_out = prev_out

    def children(self):
        return self.machines

    def _named_children(self):
        return [(str(i), m) for i, m in enumerate(self.machines)]

    def __len__(self):
        return len(self.machines)

    def __getitem__(self, i):
        return self.machines[i]

    def forward(self, x, state=None):
        fused = fusion.plan(self.machines)
        if state is None:
            if fused:
                return self._forward_fused(x, None, fused)
            for m in self.machines:
                x = m.forward(x)
            return x
        subs = state.__dict__.get("_subs")
        n = len(self.machines)
        if subs is None:
            subs = state._subs = [State() for _ in range(n)]
            state._xs = [None] * (n + 1)
            state._deferred = []
        xs = state._xs
        state._plan = fused           # the walk after this forward reuses it
        if fused:
            x = self._forward_fused(x, state, fused)
        else:
            for i, m in enumerate(self.machines):
                xs[i] = x
                s = subs[i]
                x = m.forward(x, s)
                s.y = x
        xs[n] = x
        state.y = x
        state._x_target = None
        state._x_grad = None
        return x

    def accumulate(self, x, t, state):
        self._walk(x, state, None, t, need_x=True)

    # gradient channel: a nested Sequential passes gradients straight through
    accepts_grad = True

    def accumulate_grad(self, x, gy, state):
        self._walk(x, state, gy, None, need_x=True)

    def grad_x(self, x, gy, state):
        gx = state.__dict__.get("_x_grad")
        if gx is None:
            xt = state.__dict__.get("_x_target")
            if xt is None:      # not walked since the last forward
                self.accumulate_grad(x, gy, state)
                return self.grad_x(x, gy, state)
            gx = x - xt
        return gx

    def step_x(self, x, t, state):
        xt = state.__dict__.get("_x_target")
        if xt is None:
            gx = state.__dict__.get("_x_grad")
            if gx is None:      # not walked since the last forward
                self.accumulate(x, t, state)
                return self.step_x(x, t, state)
            xt = state._x_target = x - gx
        return xt

    def _walk(self, x, state, g, t, need_x):
        subs = state.__dict__.get("_subs")
        if subs is None:
            raise ValueError("state was not recorded: call forward(x, state) first")
        xs = state._xs
        ctx = self._context(state, xs[-1], t, g)
        if state.__dict__.get("_ctx_given") is not ctx:
            for s in subs:
                s.context = ctx
            state._ctx_given = ctx
        deferred = state._deferred
        machines = self.machines
        default = LMode.DEFAULT
        fused = None
        if g is not None:
            fused = state.__dict__.get("_plan", False)
            if fused is False:
                fused = fusion.plan(machines)
        ends = {j: i for i, j in fused.items()} if fused else {}
        i = len(machines)
        while i > 0:
            i -= 1
            first = ends.get(i)
            if first is not None and g is not None:
                gx = self._backward_fused(first, i, g, state,
                                          machines[first - 1].uses_output_signal
                                          if first else need_x)
                if gx is not NotImplemented:
                    g, i = gx, first
                    continue
            m = machines[i]
            s = subs[i]
            xi = xs[i]
            # the input target (gradient) only when the machine before reads it
            need = machines[i - 1].uses_output_signal if i else need_x
            if m.accepts_grad and m.lmode == default and (
                    g is not None or (t is None and not m.uses_output_signal)):
                # fast path of run_machine: gradient channel, default mode
                g = m._default_backward(xi, g, s, need)
                continue
            t, g = run_machine(m, xi, t, s, need_x=need, g=g, deferred=deferred)
        if need_x:
            # keep whichever form the walk produced; the other is derived lazily
            state._x_target, state._x_grad = t, g

    def _forward_fused(self, x, state, fused):
        """Forward with dense segments fused (``fusion.plan``); records as unfused."""
        machines, i, n = self.machines, 0, len(self.machines)
        subs, xs = (state._subs, state._xs) if state is not None else (None, None)
        while i < n:
            j = fused.get(i)
            r = None
            if j is not None:
                r = fusion.dense_forward(machines[i].layer,
                                         machines[j].layer if j > i else None, x)
            if r is None:           # not fusable now: this machine unfused
                if state is None:
                    x = machines[i].forward(x)
                else:
                    xs[i] = x
                    x = machines[i].forward(x, subs[i])
                    subs[i].y = x
                i += 1
                continue
            x0, a, y = r
            if state is not None:
                xs[i], subs[i].y = x0, a
                if j > i:
                    xs[j], subs[j].y = a, y
            x, i = y, j + 1
        return x

    def _backward_fused(self, first, last, g, state, need_x):
        """One fused VJP + optimizer step of machines ``first..last``; the input
        gradient, or NotImplemented (the walk then runs them unfused)."""
        xs, subs = state._xs, state._subs
        act = self.machines[last].layer if last > first else None
        return fusion.dense_backward(self.machines[first], act, xs[first], subs[first].y,
                                     subs[last].y, g, need_x)

    def __repr__(self):
        inner = ",\n  ".join(repr(m) for m in self.machines)
        return f"Sequential(\n  {inner}\n)"


class Graph(_Container):
    """A small DAG of machines with branches and skips.

    Build it node by node in topological order::

        g = Graph()
        g.add("h", m1)                       # input defaults to the graph input "x"
        g.add("a", m2, inputs="h")
        g.add("out", m3, inputs=["h", "a"], combine="concat")   # or "sum" (skip)

    The last node added is the output.  Several inputs are combined by
    concatenating features (``"concat"``) or summing (``"sum"``).  On the way
    back a node whose output feeds several consumers gets the target
    ``y + sum_k (t_k - y)`` (the sum of the displacements, which for gradient
    targets is the sum of the gradients); a concatenated input gets its slice of
    the displacement, a summed input the whole displacement.
    """

    INPUT = "x"

    def __init__(self):
        super().__init__()
        self.nodes = {}       # name -> (machine, inputs tuple, combine)
        self.output = None

    def add(self, name, machine, inputs="x", combine="concat"):
        _check_machine(machine, f"node {name!r}")
        if not isinstance(name, str) or name == self.INPUT or name in self.nodes:
            raise ValueError(f"node name {name!r} must be a new string other than "
                             f"{self.INPUT!r}")
        if isinstance(inputs, str):
            inputs = (inputs,)
        inputs = tuple(inputs)
        if not inputs:
            raise ValueError("inputs must name at least one node")
        for i in inputs:
            if i != self.INPUT and i not in self.nodes:
                raise ValueError(f"node {name!r}: input {i!r} is not defined yet "
                                 f"(add nodes in topological order)")
        if combine not in ("concat", "sum"):
            raise ValueError(f"combine must be 'concat' or 'sum', got {combine!r}")
        self.nodes[name] = (machine, inputs, combine)
        self.output = name
        return self

    def children(self):
        return [v[0] for v in self.nodes.values()]

    def _named_children(self):
        return [(k, v[0]) for k, v in self.nodes.items()]

    @property
    def n_in(self):
        return None

    @property
    def n_out(self):
        return None if self.output is None else self.nodes[self.output][0].n_out

    @staticmethod
    def _combine(vals, combine):
        if len(vals) == 1:
            return vals[0]
        if combine == "concat":
            return np.concatenate(vals, axis=1)
        out = vals[0] + vals[1]
        for v in vals[2:]:
            out += v
        return out

    def forward(self, x, state=None):
        if self.output is None:
            raise ValueError("Graph has no nodes")
        vals = {self.INPUT: x}
        if state is not None:
            subs = state.get("_subs")
            if subs is None:
                subs = state._subs = {k: State() for k in self.nodes}
                state._deferred = []
            state._inx = {}
        for name, (m, inputs, combine) in self.nodes.items():
            xin = self._combine([vals[i] for i in inputs], combine)
            if state is None:
                vals[name] = m.forward(xin)
            else:
                s = subs[name]
                state._inx[name] = xin
                y = m.forward(xin, s)
                s.y = y
                vals[name] = y
        if state is not None:
            state._vals = vals
            state.y = vals[self.output]
            state._x_target = None
        return vals[self.output]

    def accumulate(self, x, t, state):
        self._walk(x, state, None, t, need_x=True)

    def _walk(self, x, state, g, t, need_x):
        if state.get("_vals") is None:
            raise ValueError("state was not recorded: call forward(x, state) first")
        vals, inx, subs = state._vals, state._inx, state._subs
        y_out = vals[self.output]
        if t is None:
            t = y_out - g
        ctx = self._context(state, y_out, t, g)
        disp = {}        # name -> accumulated displacement (t - y)
        names = list(self.nodes)
        for name in reversed(names):
            m, inputs, combine = self.nodes[name]
            y = vals[name]
            if name == self.output:
                tn = t
                if name in disp:
                    tn = t + disp[name]
            elif name in disp:
                tn = y + disp[name]
            else:
                continue          # no consumer asked anything of this node
            s = subs[name]
            s.context = ctx
            feeds_input = self.INPUT in inputs
            want_x = any(i != self.INPUT for i in inputs) or (need_x and feeds_input)
            xin = inx[name]
            xt, gx = run_machine(m, xin, tn, s, need_x=want_x, deferred=state._deferred)
            if not want_x:
                continue
            d = -gx if xt is None else xt - xin
            if combine == "concat" and len(inputs) > 1:
                off = 0
                for i in inputs:
                    w = vals[i].shape[1]
                    self._add(disp, i, d[:, off:off + w])
                    off += w
            else:
                for i in inputs:
                    self._add(disp, i, d)
        if need_x:
            d = disp.get(self.INPUT)
            state._x_target = x.copy() if d is None else x + d

    @staticmethod
    def _add(disp, name, d):
        if name in disp:
            disp[name] = disp[name] + d
        else:
            disp[name] = d

    def __repr__(self):
        inner = ",\n  ".join(f"{k} <- {v[1]} ({v[2]}): {v[0]!r}"
                             for k, v in self.nodes.items())
        return f"Graph(\n  {inner}\n)"
