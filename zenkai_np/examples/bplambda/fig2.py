"""Fig 2 (frozen RNN, only the synthesiser learns) and Fig 3 analogue (the RNN learns).

The authors' HEAD config (``scripts/configs/*_linedraw.yaml``, commit f26dffd): linear
RNN H = 30, U(±1/√H) init, the RandomState(123) pattern at t = 0 only, one target
on the unit circle at the last step, no noise, batch 10, γ = 1, sg_weight 1,
lr_rnn = lr_readout = 0, lr_synth 1e-4, Adam (0.9, 0.98, 1e-9), clip₁ on,
10 epochs × 100 iterations. Every ``log_every`` iterations the learning signal of
the training batch, ``LS_t = l_t + g(h_t)``, is compared with BPTT's ``∂L/∂h_t``
at the current weights (three cosines, see ``_common.alignment``).
"""
from __future__ import annotations

import time

import numpy as np

from zenkai_np.bplambda import VanillaRNN
from zenkai_np.bplambda.tasks import LineDrawTask

from ._common import DIVERGED, H, alignment, method_label, rnn_learner

BATCH = 10
DTYPE = np.float32     # the authors' PyTorch default

FIG2 = {"full": {"Ts": (10, 20, 40, 60), "lams": (0.0, 0.25, 0.5, 0.75, 1.0), "n_iter": 1000,
                 "log_every": 10, "lr_synths": (1e-4, 1e-3), "seeds": 5},
        "quick": {"Ts": (10,), "lams": (0.0, 1.0), "n_iter": 1500, "log_every": 250,
                  "lr_synths": (1e-4,), "seeds": 1}}
FIG3 = {"full": {"Ts": (10, 20, 40, 60), "lams": (0.0, 0.25, 0.5, 0.75, 1.0), "n_iter": 1000,
                 "log_every": 10, "lr_synths": (1e-4, 1e-3), "seeds": 5},
        "quick": {"Ts": (10,), "lams": (1.0,), "n_iter": 100, "log_every": 25,
                  "lr_synths": (1e-3,), "seeds": 1}}
SOURCES = {"task, H, init, batch, gamma=1, sg_weight=1, Adam betas/eps, clip": "authors' HEAD "
           "configs scripts/configs/*_linedraw.yaml and src/ (commit f26dffd)",
           "lr_synth 1e-4, lr_rnn = lr_readout = 0, 1000 iterations": "authors' HEAD "
           "training_linedraw.yaml (10 epochs x 1000/10 batches)",
           "lr_synth 1e-3 rows": "ours (labelled)",
           "Fig 3: lr_rnn = lr_readout = 1e-3": "authors' first commit training_linedraw.yaml",
           "T in {20, 40, 60}, seeds, log every 10 iterations": "ours (the paper's figure "
           "axes as the reviews describe them)", "float32": "the authors' PyTorch default"}


def train_logged(learner, model, task, *, n_iter, log_every, rng, signal=True):
    """Train; every ``log_every`` iterations (and at the end) log the cosines.

    Returns (curve [[iter, cos_step, cos_seq, cos_weight, mse]], mses per iteration).
    """
    curve, mses = [], []
    for it in range(n_iter):
        X, Y, mask = task.sample(BATCH, rng, dtype=model.dtype)
        log = it % log_every == 0 or it == n_iter - 1
        if log and signal:
            grads, info = learner.gradients(X, Y, mask, record=True)
            c = alignment(model, X, Y, mask, info["LS"])
            learner.apply(grads)
            curve.append([it, *c, info["mse"]])
        else:
            grads, info = learner.gradients(X, Y, mask)
            learner.apply(grads)
            if log:
                curve.append([it, 1.0, 1.0, 1.0, info["mse"]])
        mses.append(info["mse"])
        if not np.isfinite(info["mse"]) or info["mse"] > DIVERGED:
            break
    return curve, mses


def run_fig2(cfg, seeds, sink, log=print):
    for lr_synth in cfg["lr_synths"]:
        for seed in range(seeds):
            for T in cfg["Ts"]:
                for lam in cfg["lams"]:
                    t0 = time.time()
                    task = LineDrawTask(T)
                    model = VanillaRNN(task.n_in, H, 2, dtype=DTYPE, rng=seed)
                    learner = rnn_learner("bp", model, lam=lam, gamma=1.0, sg_weight=1.0,
                                          lrs={"lr_rnn": 0.0, "lr_readout": 0.0,
                                               "lr_synth": lr_synth})
                    curve, _ = train_logged(learner, model, task, n_iter=cfg["n_iter"],
                                            log_every=cfg["log_every"],
                                            rng=np.random.default_rng(1000 + seed))
                    last = curve[-1]
                    row = sink.add({"T": T, "lam": lam, "seed": seed, "lr_synth": lr_synth,
                                    "cos_step": last[1], "cos_seq": last[2],
                                    "cos_weight": last[3],
                                    "curve": [c[:4] for c in curve],
                                    "seconds": time.time() - t0})
                    log(f"fig2 lr_synth={lr_synth:g} seed={seed} T={T:2d} lam={lam:4.2f} "
                        f"cos_step {row['cos_step']:.4f} cos_seq {row['cos_seq']:.4f} "
                        f"cos_weight {row['cos_weight']:.4f} ({row['seconds']:.1f} s)")


def run_fig3(cfg, seeds, sink, log=print):
    """The RNN learns (lr_rnn = lr_readout = 1e-3); BP(λ) grid plus full BPTT."""
    methods = [("bp", lam) for lam in cfg["lams"]] + [("bptt", None)]
    for lr_synth in cfg["lr_synths"]:
        for seed in range(seeds):
            for T in cfg["Ts"]:
                for method, lam in methods:
                    if method == "bptt" and lr_synth != cfg["lr_synths"][0]:
                        continue       # BPTT has no synthesiser: run it once
                    t0 = time.time()
                    task = LineDrawTask(T)
                    model = VanillaRNN(task.n_in, H, 2, dtype=DTYPE, rng=seed)
                    learner = rnn_learner(method, model, lam=lam, gamma=1.0, sg_weight=1.0,
                                          lrs={"lr_rnn": 1e-3, "lr_readout": 1e-3,
                                               "lr_synth": lr_synth})
                    curve, mses = train_logged(learner, model, task, n_iter=cfg["n_iter"],
                                               log_every=cfg["log_every"],
                                               rng=np.random.default_rng(1000 + seed),
                                               signal=method == "bp")
                    last = curve[-1]
                    tail = mses[-max(1, len(mses) // 10):]
                    row = sink.add({"T": T, "lam": lam, "method": method_label(method, lam=lam),
                                    "seed": seed,
                                    "lr_synth": lr_synth if method == "bp" else None,
                                    "cos_step": last[1], "cos_seq": last[2],
                                    "cos_weight": last[3],
                                    "final_train_mse": float(np.mean(tail)),
                                    "curve": curve, "seconds": time.time() - t0})
                    log(f"fig3 lr_synth={lr_synth:g} seed={seed} T={T:2d} {row['method']:7s} "
                        f"cos_step {row['cos_step']:.4f} cos_weight {row['cos_weight']:.4f} "
                        f"mse {row['final_train_mse']:.2e} ({row['seconds']:.1f} s)")
