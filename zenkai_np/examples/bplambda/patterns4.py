"""Our 4-pattern task (a labelled extension, not the paper's) and the diagnosis of BP(1).

LineDrawTask(T, n_points=4): four RandomState(123) patterns at t = 0, four targets
on the circle at the last step, no noise; the input must be carried through T steps.
Logged during BP(1)'s training, at the current weights on the training batch: the
per-tensor cosine between BP(1)'s update and BPTT's gradient (W_ih, W_hh, b,
W_out), and the size of BPTT's future gradient at t = 0 relative to t = T − 2.
Remedies tested: two time-scales (lr_rnn = lr_readout = 1e-4, lr_synth 1e-3),
k = 5 synthesiser-only passes per RNN step, W_hh orthogonal × 0.95.
"""
from __future__ import annotations

import time

import numpy as np

from zenkai_np.bplambda import BPLambdaRNN, TruncatedBPTTRNN, VanillaRNN
from zenkai_np.bplambda.tasks import LineDrawTask

from ._common import DIVERGED, H, bptt_signal, cos

BATCH = 10
DTYPE = np.float64
PATTERNS4 = {"full": {"Ts": (10, 20), "n_iter": 1000, "log_every": 50, "seeds": 5},
             "quick": {"Ts": (10,), "n_iter": 30, "log_every": 10, "seeds": 1}}
SOURCES = {"everything in this block": "ours (an extension; the paper has no such task)",
           "lr 1e-3 (all groups), gamma 1, sg_weight 1, batch 10": "ours, as in the "
           "previous version of this example"}
VARIANTS = ("BPTT", "BP(1)", "BP(1) two time-scales", "BP(1) 5 synth steps",
            "BP(1) orthogonal W_hh")


def _model(T, seed, variant):
    model = VanillaRNN(10, H, 2, dtype=DTYPE, rng=seed)
    if variant == "BP(1) orthogonal W_hh":
        q, r = np.linalg.qr(np.random.default_rng(seed + 500).standard_normal((H, H)))
        model.params["W_hh"][...] = 0.95 * q * np.sign(np.diag(r))
    return model


def _learner(model, variant):
    if variant == "BPTT":
        return TruncatedBPTTRNN(model, lr_rnn=1e-3, lr_readout=1e-3)
    lr = 1e-4 if variant == "BP(1) two time-scales" else 1e-3
    return BPLambdaRNN(model, gamma=1.0, lam=1.0, lr_rnn=lr, lr_readout=lr, lr_synth=1e-3,
                       n_threads=1)


def _diagnose(learner, model, X, Y, mask, grads):
    ref, _ = TruncatedBPTTRNN(model).gradients(X, Y, mask)
    G, _, _ = bptt_signal(model, X, Y, mask)
    T = X.shape[1]
    ratio = float(np.linalg.norm(G[0]) / max(np.linalg.norm(G[T - 2]), 1e-300))
    return {k: cos(grads[k], ref[k]) for k in ("W_ih", "W_hh", "b", "W_out")}, ratio


def one_run(T, seed, variant, cfg):
    task = LineDrawTask(T, n_points=4)
    model = _model(T, seed, variant)
    learner = _learner(model, variant)
    rng = np.random.default_rng(2000 + seed)
    k_synth = 5 if variant == "BP(1) 5 synth steps" else 0
    curve, diverged = [], False
    try:
        for it in range(cfg["n_iter"]):
            for _ in range(k_synth):       # synthesiser-only passes (RNN frozen meanwhile)
                g, _ = learner.gradients(*task.sample(BATCH, rng, dtype=DTYPE))
                learner.apply({k: v for k, v in g.items() if k.startswith("synth_")})
            X, Y, mask = task.sample(BATCH, rng, dtype=DTYPE)
            grads, info = learner.gradients(X, Y, mask)
            if (it % cfg["log_every"] == 0 or it == cfg["n_iter"] - 1) and variant != "BPTT":
                cosines, ratio = _diagnose(learner, model, X, Y, mask, grads)
                curve.append([it, cosines["W_ih"], cosines["W_hh"], cosines["b"],
                              cosines["W_out"], ratio, info["mse"]])
            learner.apply(grads)
            if not np.isfinite(info["mse"]) or info["mse"] > DIVERGED:
                diverged = True
                break
    except FloatingPointError:
        diverged = True
    X, Y, mask = task.sample(400, np.random.default_rng(3000 + seed), dtype=DTYPE)
    test = float("nan") if diverged else model.loss(X, Y, mask)
    return test, diverged, curve


def run_patterns4(cfg, seeds, sink, log=print):
    for T in cfg["Ts"]:
        for variant in VARIANTS:
            for seed in range(seeds):
                t0 = time.time()
                test, div, curve = one_run(T, seed, variant, cfg)
                row = sink.add({"T": T, "method": variant, "seed": seed,
                                "test_mse": None if not np.isfinite(test) else test,
                                "diverged": bool(div),
                                "curve": curve, "curve_columns": [
                                    "iter", "cos_W_ih", "cos_W_hh", "cos_b", "cos_W_out",
                                    "future_grad_t0_over_tTm2", "train_mse"],
                                "seconds": time.time() - t0})
                last = curve[-1] if curve else [None] * 7
                log(f"patterns4 T={T} {variant:22s} seed={seed} test {test:.4g} "
                    f"cos W_hh {last[2] if last[2] is None else round(last[2], 3)} "
                    f"|G0|/|G_T-2| {last[5] if last[5] is None else f'{last[5]:.2e}'} "
                    f"({row['seconds']:.1f} s)")
