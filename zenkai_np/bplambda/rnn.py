"""BP(λ) for a vanilla RNN (Pemberton & Costa 2024; docs/bplambda.md).

Online, without backpropagation through time: a linear synthesiser
``g(h_t) ≈ ∂L_{>t}/∂h_t`` is trained by TD(λ) with eligibility traces, and
the RNN learns from the one-step signal ``LS_t = l_t + sg_weight · g(h_t)``.

Per step t (θ = synthesiser parameters, ``J_t = diag(f'(c_t)) W_hhᵀ``):

1. t ≥ 1: ``E ← γλ J_{t−1} E + ∂g(h_{t−1})/∂θ``   (trace kernel, fused with 3.)
2. t ≥ 1: ``δ_{t−1} = (l_t + γ g(h_t)) J_t − g(h_{t−1})``  (g := 0 at the last step)
3. t ≥ 1: ``θ.grad −= clip₁(mean_b δ_{t−1} · E)`` (clip per tensor after the mean)
4. ``∇W_hh += h_{t−1}ᵀ (LS_t ⊙ f'(c_t))``, likewise W_ih, b; readout grads from e_t.

``update="sequence"`` (the authors' default) accumulates over the sequence and
takes one Adam step per batch; ``update="step"`` takes an Adam step of every
group after every time step (online). The trace is reset at every sequence.

With parameters fixed during the sequence, step 1's trace need not be stored:
``traces="unrolled"`` computes the same updates from vector–Jacobian chains
(``unrolled.py``; ≈80× fewer flops on the toy task), and the compiled backend
then runs the whole pass in one ``nogil`` call (``_sequence.pyx``).
"""
from __future__ import annotations

import numpy as np

from .._threads import one_blas_thread, resolve_n_threads
from ._sequence_training import SequenceLearner, set_synthesiser_options
from .model import ACT_CODES, _act
from .synthesiser import LinearSynthesiser, clip_unit_norm, sequence_context
from .synthesiser_mlp import DenseTrace, check_synthesiser
from .traces import EligibilityTrace, raise_if_diverged
from .unrolled import row_factor_vjp, unrolled_synth_grads

__all__ = ["BPLambdaRNN"]


def dense_trace_sequence(learner, Hs, As, Delta):
    """Synthesiser gradients ``−Σ_k clip₁(mean_b δ_k E_k)`` with a dense trace (any g).

    Hs (T−1, B, H) the states read, As (T, B, H) f' or None (linear), Delta (T−1, B, H).
    """
    synth, W_hhT = learner.synth, learner.model.params["W_hh"].T
    n, B, H = Hs.shape
    trace = DenseTrace(H, B, synth.n_params, learner.dtype)
    decay = learner.gamma * learner.lam
    out = {k: np.zeros_like(v) for k, v in synth.params.items()}
    for k in range(n):
        J = np.broadcast_to(W_hhT, (B, H, H)) if As is None else As[k][:, :, None] * W_hhT
        d = trace.step(synth.jacobian_params(Hs[k]), J, decay, Delta[k], 1.0 / B)
        if not np.isfinite(d).all():
            raise_if_diverged(k + 1)
        for name, v in synth.unflatten(d).items():
            out[name] -= clip_unit_norm(v, learner.clip)
    return out


class BPLambdaRNN(SequenceLearner):
    """BP(λ) learner of a :class:`~zenkai_np.bplambda.model.VanillaRNN`.

    Parameters
    ----------
    model : VanillaRNN
    gamma, lam : float in [0, 1]
        Discount γ and trace parameter λ (λ = γ = 1: the target is the exact
        BPTT future gradient; λ = 0: one-step bootstrapping, TD(0)).
    sg_weight : float
        Weight of the synthetic gradient in the RNN's learning signal.
    clip : float or None
        clip₁ of the synthesiser update per tensor (None: no clip).
    update : {"sequence", "step"}
    lr_rnn, lr_readout, lr_synth : Adam learning rates per group.
    readout : LearningMachine, optional (see ``SequenceLearner``).
    n_threads : int, optional — threads of the trace kernel.
    backend : {"compiled", "numpy"}
        Compiled kernels, or their best plain-NumPy formulations (for tests and
        benchmarks): the fused C++ trace step vs ``_reference.trace_step_numpy``;
        for unrolled traces the whole pass in ``_sequence.pyx`` vs ``unrolled.py``.
    traces : {"recursive", "unrolled"}, optional
        The synthesiser's eligibility traces as the recursion of the module
        docstring (stored, O(T B H³ P) flops per sequence), or unrolled into
        vector–Jacobian chains (O(T² B H²); same updates up to rounding; needs
        ``update="sequence"`` and a linear synthesiser). Default: unrolled
        where it applies.

    synthesiser : LinearSynthesiser, ConditionedSynthesiser or MLPSynthesiser, optional
        Default: a zero linear one (S = D = H, compiled traces). A conditioned one
        (cDNI) also reads the label, ``sequence_context(Y, mask)`` (C = n_out).
        An MLP uses the dense NumPy trace (``dense_trace_sequence``;
        ``update="sequence"`` only).

    Attributes: ``synth``, ``loss_curve_``.
    """

    uses_synthesiser = True

    def __init__(self, model, *, gamma=1.0, lam=1.0, sg_weight=1.0, clip=1.0,
                 update="sequence", lr_rnn=1e-3, lr_readout=1e-3, lr_synth=1e-4,
                 readout=None, n_threads=None, backend="compiled", synthesiser=None,
                 traces=None):
        if backend not in ("compiled", "numpy"):
            raise ValueError(f"backend: expected 'compiled' or 'numpy', got {backend!r}")
        self.backend = backend
        set_synthesiser_options(self, gamma, lam, sg_weight, clip)
        if update not in ("sequence", "step"):
            raise ValueError(f"update: expected 'sequence' or 'step', got {update!r}")
        self.update = update
        self.n_threads = resolve_n_threads(n_threads)
        H = model.n_hidden
        self.synth = check_synthesiser(synthesiser, H, model.dtype, model.n_out)
        self.dense = not isinstance(self.synth, LinearSynthesiser)
        if self.dense and update != "sequence":
            raise ValueError("update: a non-linear synthesiser needs update='sequence'")
        unrollable = update == "sequence" and not self.dense
        if traces is None:
            traces = "unrolled" if unrollable else "recursive"
        if traces not in ("recursive", "unrolled"):
            raise ValueError(f"traces: expected 'recursive' or 'unrolled', got {traces!r}")
        if traces == "unrolled" and not unrollable:
            raise ValueError("traces: 'unrolled' needs update='sequence' and a linear "
                             "synthesiser")
        self.traces = traces
        self._work = None
        super().__init__(model, lr_rnn=lr_rnn, lr_readout=lr_readout, lr_synth=lr_synth,
                         readout=readout)
        self._trace = None
        self._stepwise = False  # tests: force the step-by-step schedule in "sequence" mode

    def _trace_for(self, B):
        """The eligibility trace (H, B, H, D+1) for batch size B, double-buffered
        (D = H, or H + C for a conditioned synthesiser)."""
        H, P = self.model.n_hidden, self.synth.n_in + 1
        if self._trace is None or self._trace.shape[1] != B:
            self._trace = EligibilityTrace(H, B, P, self.dtype, double_buffer=True)
            self._u = np.ones((B, P), self.dtype)
        return self._trace

    def _pass(self, X, Y, mask, *, g_override=None, record=False):
        """One sequence. ``g_override`` (T, B, H) replaces g(h_t) (tests: an oracle).

        ``update="sequence"``: parameters are fixed during the sequence, so
        everything but the trace recursion is done for all steps at once, and
        the trace steps run in one compiled call (``_bplambda.trace_sequence``,
        no GIL). ``update="step"`` (and ``_stepwise = True``, for tests) runs
        the step-by-step schedule of the module docstring.
        """
        if (self.update == "step" or self._stepwise) and not self.dense:
            return self._pass_stepwise(X, Y, mask, g_override=g_override, record=record)
        if (self.traces == "unrolled" and self.backend == "compiled" and g_override is None
                and not record and self.readout is None and self.loss == "mse"
                and not self.synth.n_context):
            return self._pass_compiled(X, Y, mask)
        return self._pass_sequence(X, Y, mask, g_override=g_override, record=record)

    def _pass_compiled(self, X, Y, mask):
        """``_pass_sequence`` with unrolled traces, in one ``nogil`` call."""
        from . import _sequence
        p, sp = self.model.params, self.synth.params
        B, T, _ = X.shape
        H, O = self.model.n_hidden, self.model.n_out
        size = _sequence.workspace_size(B, T, H, O)
        if self._work is None or self._work.size < size:
            self._work = np.empty(size, self.dtype)
        g = {k: np.empty_like(v) for k, v in self.params.items()}
        with one_blas_thread():
            sse, n_targets, bad = _sequence.rnn_sequence_grads(
                np.ascontiguousarray(X), np.ascontiguousarray(Y), mask.view(np.uint8),
                p["W_ih"], p["W_hh"], p["b"], p["W_out"], p["b_out"], sp["W"], sp["b"],
                ACT_CODES[self.model.activation], self.gamma, self.gamma * self.lam,
                self.sg_weight, 0.0 if self.clip is None else float(self.clip),
                g["W_ih"], g["W_hh"], g["b"], g["W_out"], g["b_out"], g["synth_W"],
                g["synth_b"], self._work)
        if bad >= 0:
            raise_if_diverged(bad + 1)
        mse = sse / (n_targets * B * O) if n_targets else float("nan")
        return g, {"mse": float(mse)}

    def _pass_sequence(self, X, Y, mask, *, g_override=None, record=False):
        model, synth = self.model, self.synth
        p = model.params
        dt = self.dtype
        B, T, _ = X.shape
        H = model.n_hidden
        linear = model.activation == "identity"  # f' = 1: no row factors, no q = LS * f'
        grads = self._zero_grads()
        # forward over the sequence: h_t, f'(c_t), readout signals l_t at target steps
        Hs = np.empty((T, B, H), dt)
        As = None if linear else np.empty((T, B, H), dt)
        L = np.zeros((T, B, H), dt)
        h_prev = np.zeros((B, H), dt)
        yhats, ys = [], []
        XW = X @ p["W_ih"]            # (B, T, H): the input part of c_t for all steps
        XW += p["b"]
        for t in range(T):
            c = XW[:, t] + h_prev @ p["W_hh"] if t else XW[:, 0].copy()
            if linear:
                h = c
            else:
                h, As[t] = _act(model.activation, c)
            Hs[t] = h
            if mask[t]:
                yhat, L[t] = self._readout(h, Y[:, t], B, grads)
                yhats.append(yhat)
                ys.append(Y[:, t])
            h_prev = h
        # g(h_t), 0 at the last step; g reads Us = h_t (or [h_t, context])
        Us = synth.inputs(Hs, sequence_context(Y, mask) if synth.n_context else None)
        if g_override is not None:
            G = np.array(g_override, dtype=dt, copy=True).reshape(T, B, H)
        else:
            G = synth.predict(Us)
        G[T - 1] = 0
        if T >= 2:
            # delta_{t-1} = (l_t + gamma g_t) J_t - g_{t-1}, J_t = diag(f'_t) W_hh^T
            V = L[1:] + dt.type(self.gamma) * G[1:]
            if not linear:
                V *= As[1:]
            Delta = V @ p["W_hh"].T
            Delta -= G[:-1]
            if self.dense:
                for k, v in dense_trace_sequence(self, Hs[:-1], As, Delta).items():
                    grads["synth_" + k] += v
            elif self.traces == "unrolled":
                vjp = row_factor_vjp(p["W_hh"], None if linear else As[:-1])
                gW, gb = unrolled_synth_grads(Us[:-1], Delta, self.gamma * self.lam, 1.0 / B,
                                              self.clip, vjp)
                grads["synth_W"] += gW
                grads["synth_b"] += gb
            else:
                D = synth.n_in
                U = np.empty((T - 1, B, D + 1), dt)
                U[:, :, :D] = Us[:-1]
                U[:, :, D] = 1
                acc = self._trace_sequence(U, Delta, None if linear else As[:-1], p["W_hh"])
                grads["synth_W"] += acc[:, :D].T
                grads["synth_b"] += acc[:, D]
        # the RNN's one-step rule: q_t = LS_t (* f'_t), summed over t and b
        sgw = dt.type(self.sg_weight)
        LS = L + sgw * G if self.sg_weight != 0 else L
        Q = LS if linear else LS * As
        Qf = Q.reshape(T * B, H)
        if T >= 2:
            grads["W_hh"] += Hs[:-1].reshape((T - 1) * B, H).T @ Q[1:].reshape((T - 1) * B, H)
        grads["W_ih"] += X.transpose(1, 0, 2).reshape(T * B, -1).T @ Qf
        grads["b"] += Qf.sum(axis=0)
        info = {"mse": self._mse(yhats, ys)}
        if record:
            info.update({"LS": LS.copy(), "g": G, "l": L,
                         "delta": Delta if T >= 2 else np.zeros((0, B, H), dt)})
        return grads, info

    def _trace_sequence(self, U, Delta, A, W_hh):
        """acc (H, D+1) = -Σ_k clip₁(dΘ_k) over the T−1 trace steps (trace from zero)."""
        n, B, P = U.shape
        H, D = W_hh.shape[0], P - 1
        dt = self.dtype
        decay = self.gamma * self.lam
        trace = self._trace_for(B)
        W_hhT = np.ascontiguousarray(W_hh.T)
        acc = np.empty((H, P), dt)
        clip = 0.0 if self.clip is None else float(self.clip)
        if self.backend == "compiled":
            bad = trace.sequence_unchecked(W_hhT, None if A is None else np.ascontiguousarray(A),
                                           decay, U, np.ascontiguousarray(Delta), 1.0 / B,
                                           clip, acc, self.n_threads)
            raise_if_diverged(bad if bad < 0 else bad + 1)
            return acc
        acc.fill(0)
        trace.reset()
        for k in range(n):
            dtheta = trace.step_numpy(U[k], Delta[k], W=W_hhT, a=None if A is None else A[k],
                                      decay=decay, scale=1.0 / B)
            if not np.isfinite(dtheta).all():
                raise_if_diverged(k + 1)
            acc[:, :D] -= clip_unit_norm(dtheta[:, :D], self.clip)
            acc[:, D] -= clip_unit_norm(dtheta[:, D], self.clip)
        return acc

    def _pass_stepwise(self, X, Y, mask, *, g_override=None, record=False):
        """The step-by-step schedule (module docstring); ``update="step"`` needs it."""
        model, synth = self.model, self.synth
        p = model.params
        dt = self.dtype
        B, T, _ = X.shape
        H = model.n_hidden
        trace = self._trace_for(B).reset()
        u = self._u
        decay = self.gamma * self.lam
        gamma, sgw = dt.type(self.gamma), dt.type(self.sg_weight)
        step_mode = self.update == "step"
        linear = model.activation == "identity"  # f' = 1: no row factors, no q = LS * f'
        grads = self._zero_grads()
        W_hhT = np.ascontiguousarray(p["W_hh"].T)
        zeros = np.zeros((B, H), dt)
        ctx = sequence_context(Y, mask) if synth.n_context else None
        D = synth.n_in
        h_prev = zeros
        g_prev = a_prev = None
        yhats, ys, rec = [], [], {"LS": [], "g": [], "l": [], "delta": []}
        for t in range(T):
            x_t = X[:, t]
            h, a = model.cell(x_t, h_prev)
            if mask[t]:
                yhat, l = self._readout(h, Y[:, t], B, grads)
                yhats.append(yhat)
                ys.append(Y[:, t])
            else:
                l = zeros
            last = t == T - 1
            g = self._synth_target(t, T, synth.inputs(h, ctx), g_override, zeros)
            if t >= 1:
                v = l + gamma * g
                delta = (v if linear else v * a) @ p["W_hh"].T - g_prev
                u[:, :D] = synth.inputs(h_prev, ctx)
                delta = np.ascontiguousarray(delta)
                if self.backend == "compiled":
                    dtheta = trace.step_unchecked(u, delta, W=W_hhT,
                                                  a=None if linear else a_prev, decay=decay,
                                                  scale=1.0 / B, n_threads=self.n_threads)
                else:
                    dtheta = trace.step_numpy(u, delta, W=W_hhT, a=a_prev, decay=decay,
                                              scale=1.0 / B)
                self._subtract_synth_grads(dtheta, t, grads)
                if record:
                    rec["delta"].append(delta.copy())
                if step_mode:  # online: update θ now; g(h_t) then uses the new θ
                    self.apply({k: grads[k] for k in ("synth_W", "synth_b")})
                    grads["synth_W"].fill(0)
                    grads["synth_b"].fill(0)
                    if not last and g_override is None:
                        g = synth.predict(synth.inputs(h, ctx))
            ls = l + sgw * g if sgw != 0 else l
            q = ls if linear else ls * a
            grads["W_hh"] += h_prev.T @ q
            grads["W_ih"] += x_t.T @ q
            grads["b"] += q.sum(axis=0)
            if record:
                rec["LS"].append(ls.copy())
                rec["g"].append(g.copy())
                rec["l"].append(l.copy())
            if step_mode:  # online: the RNN and readout learn at every step too
                self.apply({k: v for k, v in grads.items() if not k.startswith("synth_")})
                for v in grads.values():
                    v.fill(0)
                W_hhT = np.ascontiguousarray(p["W_hh"].T)
            g_prev, a_prev, h_prev = g, a, h
        info = {"mse": self._mse(yhats, ys)}
        if record:
            info.update({k: np.array(v) for k, v in rec.items()})
        return grads, info

    def train_batch(self, X, Y, mask=None):
        if self.update == "step":
            _, info = self.gradients(X, Y, mask)  # updates applied inside the pass
            self.loss_curve_.append(info["mse"])
            return info["mse"]
        return super().train_batch(X, Y, mask)
