"""Table 2 toy (learning), the authors' first-commit setting (commit 2b54de3).

3 patterns from RandomState(123) with targets on the unit circle, Gaussian noise
std 0.1 on every input step (train and test), 100 epochs × 100 batches of 10 =
10,000 iterations, lr 1e-3 for every group, γ = 0.9, sg_weight 0.5, T = 10
(T = 20: ours, an extension). Metric of the authors: the last epoch's mean
training MSE × 2 (``linedraw.py`` multiplies ``nn.MSELoss`` by the output size);
also a held-out MSE on 1000 fresh noisy samples.

BPTT+SG(n) without suffix injects the synthetic gradient after every window,
the last included (the authors' ``rnn_bp_lambda.py``); "zero-last" injects
none after the last window, as the authors' Table 2 model (``lstm_bp_lambda.py``)
does. Why the former and BP(0) diverge here: :mod:`.table2_diagnose`.
"""
from __future__ import annotations

import time

import numpy as np

from zenkai_np.bplambda import VanillaRNN
from zenkai_np.bplambda.tasks import LineDrawTask

from ._common import DIVERGED, H, method_label, rnn_learner

BATCH = 10
DTYPE = np.float32
EPOCH = 100     # batches per epoch (1000 samples / batch 10)

TABLE2 = {"full": {"Ts": (10,), "n_iter": 10000, "ns": (1, 2, 3, 4, 5), "seeds": 5,
                   "old_sg": True},
          "quick": {"Ts": (10,), "n_iter": 200, "ns": (2,), "seeds": 1, "old_sg": True}}
SOURCES = {"3 patterns, noise std 0.1 (train and test), lr 1e-3 all groups, gamma 0.9, "
           "sg_weight 0.5, 100 epochs": "authors' first commit 2b54de3, "
           "scripts/configs/*_linedraw.yaml",
           "vanilla linear RNN H = 30, batch 10, Adam (0.9, 0.98, 1e-9), clip": "authors' "
           "HEAD configs and src/",
           "metric: last-epoch training MSE x 2": "authors' scripts/linedraw.py",
           "held-out MSE (1000 samples), T = 20, seeds, divergence threshold 1e3": "ours",
           "BPTT+SG(n) zero-last rows (no synthetic gradient after the last window)":
               "authors' first commit: the Table 2 model lstm_bp_lambda returns before "
               "injecting in the last truncation ('define sg as 0')",
           "BPTT+SG(n) rows without suffix (synthetic gradient after every window)":
               "authors' rnn_bp_lambda.py DNI path; diverges here, see table2_diagnose.py"}


def methods(cfg):
    out = [("bp", None, lam, "") for lam in (0.0, 0.5, 1.0)]
    out.append(("bptt", None, None, ""))
    out += [("bptt", n, None, "") for n in cfg["ns"]]
    out += [("sg", n, None, "") for n in cfg["ns"]]
    if cfg.get("old_sg"):
        out += [("sg", n, None, " zero-last") for n in cfg["ns"]]
    return out


def one_run(T, method, n, lam, suffix, seed, n_iter):
    task = LineDrawTask(T, n_points=3, noise_std=0.1)
    model = VanillaRNN(task.n_in, H, 2, dtype=DTYPE, rng=seed)
    learner = rnn_learner(method, model, n=n, lam=lam, gamma=0.9, sg_weight=0.5,
                          lrs={"lr_rnn": 1e-3, "lr_readout": 1e-3, "lr_synth": 1e-3},
                          sg_last_window=suffix == "")
    rng = np.random.default_rng(2000 + seed)
    mses, diverged = [], False
    try:
        for _ in range(n_iter):
            mse = learner.train_batch(*task.sample(BATCH, rng, dtype=DTYPE))
            mses.append(mse)
            if not np.isfinite(mse) or mse > DIVERGED:
                diverged = True
                break
    except FloatingPointError:
        diverged = True
    tail = mses[-min(EPOCH, len(mses)):]
    train = float("nan") if diverged else 2 * float(np.mean(tail))
    test = float("nan")
    if not diverged:
        X, Y, mask = task.sample(1000, np.random.default_rng(3000 + seed), dtype=DTYPE)
        test = model.loss(X, Y, mask)
        diverged = not np.isfinite(test) or test > DIVERGED
    return train, test, diverged


def run_table2(cfg, seeds, sink, log=print, Ts=None):
    for T in (Ts or cfg["Ts"]):
        for method, n, lam, suffix in methods(cfg):
            for seed in range(seeds):
                t0 = time.time()
                train, test, div = one_run(T, method, n, lam, suffix, seed, cfg["n_iter"])
                row = sink.add({"T": T, "method": method_label(method, n, lam, suffix),
                                "n": n, "lam": lam, "seed": seed,
                                "train_mse2": None if not np.isfinite(train) else train,
                                "test_mse": None if not np.isfinite(test) else test,
                                "diverged": bool(div), "seconds": time.time() - t0})
                log(f"table2 T={T} {row['method']:22s} seed={seed} train_mse2 {train:.4g} "
                    f"test {test:.4g} diverged={div} ({row['seconds']:.1f} s)")
