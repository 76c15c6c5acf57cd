"""Alignment of any network's updates with the true backprop gradient.

``alignment(net, x, y, loss=...)`` measures, at the current weights and on one
batch ``(x, y)``, for every parameterised machine of a ``Sequential`` (nested
ones included):

* ``angle``: the angle (degrees) between the update direction the machine's
  rule produces and the negative true gradient ``-dL/dtheta`` of the same loss,
  over all of the machine's parameters (``angle_W``: over ``W`` alone).  The
  direction is the raw gradient estimate handed to the optimizer, negated
  (gradient-like rules: GradLearner, FA, DFA, KP, sign symmetry, DRTP, ES, TP),
  or else the parameter change the rule would apply (least squares, GA, hill
  climbing).  0 deg = backprop's direction, 90 deg = orthogonal.
* ``norm_ratio``: ``|estimate| / |true gradient|`` (same parameters).
* for learners with a feedback array of ``W``'s shape (FA, KP, sign symmetry):
  ``fb_angle``, the angle between ``W`` and ``B`` (our ``B`` stands where
  column notation's ``B`` stands transposed, so ``B = W`` is backprop; biotorch's
  ``compute_matrix_angle(weight_backward, weight)``), and ``fb_norm_ratio``
  ``|B| / |W|``.

The true gradient comes from a *shadow* backprop walk through the same layers'
VJPs, and the rule's update from one learning step; both run on a deep copy of
the network, so no parameter, optimizer state or random generator of ``net``
changes.  ``AlignmentCallback`` records the rows once per epoch into ``History``.
"""
from __future__ import annotations

import copy

import numpy as np

from .containers import Sequential
from .layers import Layer
from .._validation import check_batch, check_target
from .machine import LearningMachine
from .state import State

__all__ = ["AlignmentCallback", "alignment", "angle_between"]


def angle_between(a, b):
    """Angle in degrees between two arrays seen as flat vectors (NaN if one is 0 or
    not finite)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0 or not np.isfinite(na * nb):
        return float("nan")
    c = float(np.dot(a, b) / (na * nb))
    return float(np.degrees(np.arccos(min(1.0, max(-1.0, c)))))


class _Recorder:
    """Stands in for a learner's optimizer: keeps the gradients, changes nothing."""

    bound = True

    def __init__(self):
        self.grads = None

    def step(self, grads, consume=False):
        if self.grads is None:
            self.grads = {k: np.array(v, dtype=np.float64) for k, v in grads.items()}
        else:
            for k, v in grads.items():
                self.grads[k] = self.grads[k] + v

    def _after_load(self):
        pass

    def state_dict(self):
        return {}


def _leaves(m, prefix=""):
    """``[(name, machine)]`` of the non-container machines, in forward order."""
    if isinstance(m, Sequential):
        out = []
        for i, c in enumerate(m.machines):
            out += _leaves(c, f"{prefix}{i}.")
        return out
    if m.children():
        raise TypeError(f"alignment supports Sequential containers of learners, got "
                        f"{type(m).__name__}")
    return [(prefix[:-1] or "0", m)]


def _layers_of(m):
    """The layers a leaf machine computes, in order (its function for the VJPs)."""
    layer = getattr(m, "layer", None)
    if not isinstance(layer, Layer):
        raise TypeError(f"{type(m).__name__} has no layer with VJPs; alignment needs "
                        f"learners that wrap a Layer")
    act = getattr(m, "activation", None)
    return [layer] + ([act] if isinstance(act, Layer) else [])


def _true_gradients(leaves, x, t, loss):
    """Shadow backprop: ``{leaf name: {param: dL/dparam}}`` and the loss value."""
    tape = []
    h = x
    for name, m in leaves:
        for layer in _layers_of(m):
            s = State()
            y = layer.forward(h, s)
            tape.append((name, layer, h, y, s))
            h = y
    value, g = loss.value_and_grad(h, t)
    grads = {}
    for i in range(len(tape) - 1, -1, -1):
        name, layer, xi, yi, s = tape[i]
        if layer.params:
            grads.setdefault(name, {}).update(
                {k: np.array(v, dtype=np.float64)
                 for k, v in layer.vjp_params(xi, yi, g, s).items()})
        if i > 0:
            g = layer.vjp_x(xi, yi, g, s)
    return grads, value


def alignment(net, x, y, *, loss):
    """Per-layer alignment rows of ``net`` on the batch ``(x, y)`` (see the module doc).

    Returns a list of dicts, one per machine with parameters, with keys
    ``layer`` (position, e.g. ``"0"`` or ``"2.1"``), ``machine`` (class name),
    ``angle``, ``angle_W``, ``norm_ratio``, ``fb_angle``, ``fb_norm_ratio``
    (NaN when not applicable) and ``note``.
    """
    if not isinstance(net, LearningMachine):
        raise TypeError(f"net must be a LearningMachine, got {type(net).__name__}")
    if loss is None or not hasattr(loss, "value_and_grad"):
        raise TypeError(f"loss must be a Loss, got {loss!r}")
    x = check_batch(x, "x", net.dtype)
    y = check_target(y, x.shape[0], "y", net.dtype)
    shadow = copy.deepcopy(net)          # nothing below touches `net`
    leaves = _leaves(shadow)
    true, _ = _true_gradients(leaves, x, y, loss)
    before = {}
    for name, m in leaves:
        if m.parameters():
            before[name] = {k: np.array(v, dtype=np.float64)
                            for k, v in m.parameters().items()}
            if getattr(m, "optimizer", None) is not None:
                m.optimizer = _Recorder()
    shadow.learn(x, y, loss=loss)
    rows = []
    first = True
    for name, m in leaves:
        if name not in before:
            continue
        params = m.parameters()
        rec = getattr(m, "optimizer", None)
        if isinstance(rec, _Recorder) and rec.grads is not None:
            est = {k: rec.grads[k] for k in params if k in rec.grads}
        else:
            est = {k: before[name][k] - np.asarray(params[k], np.float64) for k in params}
        tg = true.get(name, {})
        keys = [k for k in params if k in tg and k in est]
        def cat(d, keys=keys):
            return np.concatenate([d[k].ravel() for k in keys])
        row = {"layer": name, "machine": type(m).__name__,
               "angle": angle_between(cat(est), cat(tg)) if keys else float("nan"),
               "angle_W": angle_between(est["W"], tg["W"]) if "W" in keys else float("nan"),
               "norm_ratio": (float(np.linalg.norm(cat(est)) / np.linalg.norm(cat(tg)))
                              if keys and np.linalg.norm(cat(tg)) > 0 else float("nan")),
               "fb_angle": float("nan"), "fb_norm_ratio": float("nan"), "note": ""}
        fb = getattr(m, "feedback_weights", None)
        W = params.get("W")
        if fb is not None and W is not None:
            B = fb()
            if B.shape == W.shape:
                row["fb_angle"] = angle_between(W, B)
                row["fb_norm_ratio"] = float(np.linalg.norm(B) / np.linalg.norm(W))
            if first:
                row["note"] = ("first layer: its own B is never used (the rule acts "
                               "like a GradLearner here)")
        first = False
        rows.append(row)
    return rows


class AlignmentCallback:
    """``fit`` callback: alignment on ``(x, y)`` after every ``every``-th epoch.

    Appends to ``history.metrics`` the keys ``"angle/<layer>"`` and, where
    defined, ``"fb_angle/<layer>"`` (NaN on epochs that are skipped), and keeps
    every epoch's rows in ``self.rows``.  ``fit(..., callback=[cb, other])``
    combines it with other callbacks.
    """

    def __init__(self, x, y, *, loss, every=1):
        if not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        self.x, self.y, self.loss, self.every = x, y, loss, int(every)
        self.rows = []

    def __call__(self, epoch, history, model):
        rows = (alignment(model, self.x, self.y, loss=self.loss)
                if (epoch + 1) % self.every == 0 else None)
        self.rows.append(rows)
        if rows is None:
            return False
        for r in rows:
            history.metrics.setdefault(f"angle/{r['layer']}", []).append(r["angle"])
            if not np.isnan(r["fb_angle"]):
                history.metrics.setdefault(f"fb_angle/{r['layer']}", []).append(
                    r["fb_angle"])
        return False
