"""BP(λ) for an LSTM with the exact state Jacobian (docs/bplambda.md; variant (a) done exactly).

Gates (i, f, g, o) = (σ, σ, tanh, σ)(x_t W_x + h_{t−1} W_h + b), W_x (I, 4H),
W_h (H, 4H); ``c_t = f c_{t−1} + i g``, ``h_t = o tanh(c_t)``. The state is
``s_t = [h_t, c_t]`` (S = 2H); the synthesiser reads s_t (D = 2H) and predicts
``∂L_{>t}/∂s_t``. The Jacobian ``J_t = ∂s_t/∂s_{t−1}`` (B, 2H, 2H) is exact:

    ∂c/∂h' = diag(g i(1−i)) W_iᵀ + diag(c' f(1−f)) W_fᵀ + diag(i(1−g²)) W_gᵀ
    ∂c/∂c' = diag(f)
    ∂h/∂h' = diag(tanh(c) o(1−o)) W_oᵀ + diag(o(1−tanh²c)) ∂c/∂h'   (output-gate path kept)
    ∂h/∂c' = diag(o(1−tanh²c) f)

and the immediate loss gradient is ``l_t = [e_t W_outᵀ, 0]`` (the loss reads
h_t only; no doubled cell target). The LSTM weights learn from the one-step
signal ``LS_t = l_t + sg_weight · g(s_t)`` through the immediate derivative
``∂s_t/∂Ψ`` (s_{t−1} held fixed), so an exact g gives the BPTT gradient. The
traces are unrolled by default (``unrolled.py``: per-sample vector–Jacobian
chains, O(T² B S²) flops); ``traces="recursive"`` stores them and uses the
explicit per-sample Jacobian path of the kernels (O(T B S³ P)). With unrolled
traces, the built-in readout and a plain linear synthesiser, ``backend="compiled"``
runs the whole pass in one ``nogil`` call (``_lstm_sequence.pyx``).
"""
from __future__ import annotations


import numpy as np

from .._threads import one_blas_thread, resolve_n_threads
from ..framework.layers import Sigmoid
from ._sequence_training import LOSSES, SequenceLearner, set_synthesiser_options
from .baselines import check_backend
from .model import uniform_initialiser
from .synthesiser import LinearSynthesiser, sequence_context
from .synthesiser_mlp import check_synthesiser
from .traces import EligibilityTrace, raise_if_diverged
from .unrolled import unrolled_synth_grads

__all__ = ["LSTM", "BPLambdaLSTM"]

_sig = Sigmoid().forward     # the framework's overflow-free sigmoid




def compiled_batch_loss(loss, total, n_targets, B, O):
    """The ``_mse`` figure from a compiled pass's loss sum over target steps and batch
    (and outputs, except for softmax); NaN without target steps."""
    if not n_targets:
        return float("nan")
    return float(total / (n_targets * (B if loss == "softmax" else B * O)))


class LSTM:
    """LSTM parameters, cell, exact Jacobian and immediate parameter gradients."""

    rnn_keys = ("W_x", "W_h", "b")

    def __init__(self, n_in, n_hidden, n_out, *, dtype=np.float64, rng=None):
        dtype, H, u = uniform_initialiser(n_hidden, dtype, rng)
        self.n_in, self.n_hidden, self.n_out = int(n_in), H, int(n_out)
        self.dtype = dtype
        self.params = {"W_x": u(n_in, 4 * H), "W_h": u(H, 4 * H), "b": u(4 * H) + u(4 * H),
                       "W_out": u(H, n_out), "b_out": u(n_out)}

    def cell(self, x, h_prev, c_prev):
        """Returns (h, c, cache) for one step; cache holds gates and tanh(c)."""
        p, H = self.params, self.n_hidden
        z = x @ p["W_x"] + h_prev @ p["W_h"] + p["b"]
        i, f, o = _sig(z[:, :H]), _sig(z[:, H:2 * H]), _sig(z[:, 3 * H:])
        g = np.tanh(z[:, 2 * H:3 * H])
        c = f * c_prev + i * g
        tc = np.tanh(c)
        h = o * tc
        return h, c, (i, f, g, o, tc, c_prev)

    def run(self, X):
        """Time-major h, c (T, B, H) and ŷ (T, B, O)."""
        B, T, _ = X.shape
        H = self.n_hidden
        hs = np.empty((T, B, H), self.dtype)
        cs = np.empty((T, B, H), self.dtype)
        h = c = np.zeros((B, H), self.dtype)
        for t in range(T):
            h, c, _ = self.cell(X[:, t], h, c)
            hs[t], cs[t] = h, c
        return hs, cs, hs @ self.params["W_out"] + self.params["b_out"]

    def predict(self, X):
        return self.run(X)[2].transpose(1, 0, 2)

    def jacobian(self, cache):
        """Exact ∂[h_t, c_t]/∂[h_{t−1}, c_{t−1}]: (B, 2H, 2H)."""
        i, f, g, o, tc, c_prev = cache
        H = self.n_hidden
        Wh = self.params["W_h"]
        Wi, Wf, Wg, Wo = (Wh[:, k * H:(k + 1) * H].T for k in range(4))
        dc_dh = ((g * i * (1 - i))[:, :, None] * Wi + (c_prev * f * (1 - f))[:, :, None] * Wf
                 + (i * (1 - g * g))[:, :, None] * Wg)
        dh_dc = o * (1 - tc * tc)                       # ∂h_t/∂c_t
        B = i.shape[0]
        J = np.zeros((B, 2 * H, 2 * H), self.dtype)
        J[:, :H, :H] = (tc * o * (1 - o))[:, :, None] * Wo + dh_dc[:, :, None] * dc_dh
        idx = np.arange(H)
        J[:, idx, H + idx] = dh_dc * f
        J[:, H:, :H] = dc_dh
        J[:, H + idx, H + idx] = f
        return J

    def state_vjp(self, cache, v):
        """``v J_t`` without forming J_t: v (B, 2H) or (B, m, 2H) (m rows per sample).

        With ``sc = v_h ⊙ o(1−tanh²c) + v_c`` (the cotangent of c_t), the rows
        through h_{t−1} are one GEMM with the gate-stacked W_h, those through
        c_{t−1} are ``sc ⊙ f``.
        """
        i, f, g, o, tc, c_prev = cache
        if v.ndim == 3:
            i, f, g, o, tc, c_prev = (a[:, None, :] for a in cache)
        H = self.n_hidden
        vh, vc = v[..., :H], v[..., H:]
        sc = vc + vh * (o * (1 - tc * tc))
        dz = np.concatenate([sc * (g * i * (1 - i)), sc * (c_prev * f * (1 - f)),
                             sc * (i * (1 - g * g)), vh * (tc * o * (1 - o))], axis=-1)
        return np.concatenate([dz @ self.params["W_h"].T, sc * f], axis=-1)

    def immediate_grads(self, x, h_prev, cache, ls, grads):
        """Add LS_t · ∂s_t/∂Ψ (s_{t−1} fixed) to grads; ls (B, 2H) = (LS^h, LS^c)."""
        i, f, g, o, tc, c_prev = cache
        H = self.n_hidden
        lh, lc = ls[:, :H], ls[:, H:]
        sc = lc + lh * o * (1 - tc * tc)
        dz = np.concatenate([sc * g * i * (1 - i), sc * c_prev * f * (1 - f),
                             sc * i * (1 - g * g), lh * tc * o * (1 - o)], axis=1)
        grads["W_x"] += x.T @ dz
        grads["W_h"] += h_prev.T @ dz
        grads["b"] += dz.sum(axis=0)


class BPLambdaLSTM(SequenceLearner):
    """BP(λ) learner of an :class:`LSTM` (parameters as :class:`BPLambdaRNN`; updates
    are accumulated per sequence, one Adam step per batch; ``traces`` "unrolled"
    (default) or "recursive", the same updates up to rounding; ``synthesiser`` a
    LinearSynthesiser(2H, 2H) (default, zero) or ConditionedSynthesiser(2H, n_out));
    ``backend`` "compiled" (default) runs unrolled passes with the built-in readout and
    a plain linear synthesiser in one compiled call, "numpy" (and every other case)
    the NumPy loop of ``_pass``)."""

    uses_synthesiser = True

    def __init__(self, model, *, gamma=1.0, lam=1.0, sg_weight=1.0, clip=1.0, lr_rnn=1e-3,
                 lr_readout=1e-3, lr_synth=1e-4, readout=None, n_threads=None,
                 traces="unrolled", synthesiser=None, backend="compiled"):
        if traces not in ("recursive", "unrolled"):
            raise ValueError(f"traces: expected 'recursive' or 'unrolled', got {traces!r}")
        self.traces = traces
        self.backend = check_backend(backend)
        self._work = None
        set_synthesiser_options(self, gamma, lam, sg_weight, clip)
        self.n_threads = resolve_n_threads(n_threads)
        H = model.n_hidden
        self.synth = check_synthesiser(synthesiser, 2 * H, model.dtype, model.n_out)
        if not isinstance(self.synth, LinearSynthesiser):
            raise TypeError("synthesiser: the LSTM learner takes a LinearSynthesiser or "
                            f"ConditionedSynthesiser, got {type(self.synth).__name__}")
        super().__init__(model, lr_rnn=lr_rnn, lr_readout=lr_readout, lr_synth=lr_synth,
                         readout=readout)

    def _compiled(self, g_override, record):
        """Whether this pass runs in ``_lstm_sequence`` (else the NumPy loop)."""
        return (self.backend == "compiled" and self.traces == "unrolled" and g_override is None
                and not record and self.readout is None and not self.synth.n_context)

    def _pass_compiled(self, X, Y, mask):
        """``_pass`` with unrolled traces, in one ``nogil`` call."""
        from . import _lstm_sequence
        p, sp = self.model.params, self.synth.params
        B, T, I = X.shape
        H, O = self.model.n_hidden, self.model.n_out
        size = _lstm_sequence.workspace_size(B, T, I, H, O)
        if self._work is None or self._work.size < size:
            self._work = np.empty(size, self.dtype)
        g = {k: np.empty_like(v) for k, v in self.params.items()}
        with one_blas_thread():
            total, n_targets, bad = _lstm_sequence.lstm_sequence_grads(
                np.ascontiguousarray(X), np.ascontiguousarray(Y), mask.view(np.uint8),
                p["W_x"], p["W_h"], p["b"], p["W_out"], p["b_out"], sp["W"], sp["b"],
                LOSSES.index(self.loss), self.gamma, self.gamma * self.lam, self.sg_weight,
                0.0 if self.clip is None else float(self.clip), g["W_x"], g["W_h"], g["b"],
                g["W_out"], g["b_out"], g["synth_W"], g["synth_b"], self._work)
        if bad >= 0:
            raise_if_diverged(bad + 1)
        return g, {"mse": compiled_batch_loss(self.loss, total, n_targets, B, O)}

    def _pass(self, X, Y, mask, *, g_override=None, record=False):
        if self._compiled(g_override, record):
            return self._pass_compiled(X, Y, mask)
        model, dt = self.model, self.dtype
        B, T, _ = X.shape
        H = model.n_hidden
        S = 2 * H
        unrolled = self.traces == "unrolled"
        if unrolled:
            states, deltas, caches = [], [], []
        else:
            if getattr(self, "_trace", None) is None or self._trace.shape[1] != B:
                self._trace = EligibilityTrace(S, B, self.synth.n_in + 1, dt)
            trace = self._trace.reset()
        D = self.synth.n_in
        u = np.ones((B, D + 1), dt)
        ctx = sequence_context(Y, mask) if self.synth.n_context else None
        gamma, sgw = dt.type(self.gamma), dt.type(self.sg_weight)
        grads = self._zero_grads()
        zeros = np.zeros((B, S), dt)
        h = c = np.zeros((B, H), dt)
        s_prev = J_prev = g_prev = cache_prev = None
        yhats, ys, rec = [], [], {"delta": [], "LS": []}
        for t in range(T):
            h_prev = h
            h, c, cache = model.cell(X[:, t], h_prev, c)
            s = np.concatenate([h, c], axis=1)
            J = None if unrolled else model.jacobian(cache)
            l = zeros.copy()
            if mask[t]:
                yhat, l[:, :H] = self._readout(h, Y[:, t], B, grads)
                yhats.append(yhat)
                ys.append(Y[:, t])
            g = self._synth_target(t, T, self.synth.inputs(s, ctx), g_override, zeros)
            if t >= 1:
                if unrolled:
                    delta = model.state_vjp(cache, l + gamma * g) - g_prev
                    states.append(self.synth.inputs(s_prev, ctx))
                    deltas.append(delta)
                    caches.append(cache_prev)
                else:
                    delta = np.einsum("bi,bij->bj", l + gamma * g, J) - g_prev
                    u[:, :D] = self.synth.inputs(s_prev, ctx)
                    dtheta = trace.step_unchecked(u, np.ascontiguousarray(delta), J=J_prev,
                                                  decay=self.gamma * self.lam, scale=1.0 / B,
                                                  n_threads=self.n_threads)
                    self._subtract_synth_grads(dtheta, t, grads)
                if record:
                    rec["delta"].append(delta.copy())
            ls = l + sgw * g
            model.immediate_grads(X[:, t], h_prev, cache, ls, grads)
            if record:
                rec["LS"].append(ls.copy())
            s_prev, J_prev, g_prev, cache_prev = s, J, g, cache
        if unrolled and T >= 2:
            gW, gb = unrolled_synth_grads(np.array(states), np.array(deltas),
                                          self.gamma * self.lam, 1.0 / B, self.clip,
                                          lambda k, C: model.state_vjp(caches[k], C))
            grads["synth_W"] += gW
            grads["synth_b"] += gb
        info = {"mse": self._mse(yhats, ys)}
        if record:
            info.update({k: np.array(v) for k, v in rec.items()})
        return grads, info
