"""Fig 4 analogue (sequential digits) and Fig 5 analogue (copy-repeat), LSTM.

Sequential digits: scikit-learn's digits (1797 images 8×8, pixels / 16), row by row
(T = 8, 8 inputs) or pixel by pixel (T = 64, 1 input); classification from the
last step (softmax cross-entropy). LSTM H = 30, batch 50, Adam 3e-4 for every
group, γ = 0.9, sg_weight 0.1 (the authors' seqmnist configs); a fixed 20% test
split, 20% of the rest for validation; test accuracy at the best-validation epoch.

Copy-repeat: :class:`~zenkai_np.bplambda.copy_repeat.CopyRepeatTask` with the
authors' curriculum, LSTM H = 64 (authors: 100), batch 32 (authors: 100), lr 1e-3
(RNN, readout) and 1e-5 (synthesiser), γ = 0.9, sg_weight 1, sigmoid BCE; a fixed
iteration budget; the level (N, R) reached is reported.
"""
from __future__ import annotations

import time

import numpy as np

from zenkai_np.bplambda.copy_repeat import CopyRepeatTask
from zenkai_np.bplambda.lstm import LSTM, BPLambdaLSTM
from zenkai_np.bplambda.lstm_baselines import DNILSTM, TruncatedBPTTLSTM

from ._common import run_jobs

DTYPE = np.float32
SEQDIGITS = {"full": {"modes": ("row", "pixel"), "epochs": {"row": 100, "pixel": 20},
                      "ns": (1, 2, 4, 8), "lams": (0.0, 0.5, 1.0), "seeds": 3, "jobs": 1},
             "quick": {"modes": ("row",), "epochs": {"row": 1}, "ns": (2,), "lams": (1.0,),
                       "seeds": 1, "n_train": 100, "jobs": 1}}
COPYREPEAT = {"full": {"n_iter": 3000, "ns": (1, 2, 4), "lams": (1.0,), "seeds": 3,
                       "jobs": 1},
              "quick": {"n_iter": 20, "ns": (2,), "lams": (1.0,), "seeds": 1, "H": 16,
                        "jobs": 1}}
SOURCES_DIGITS = {"H 30, batch 50, Adam 3e-4 all groups, gamma 0.9, sg_weight 0.1, "
                  "last-step classification, 20% validation, best-validation test":
                  "authors' scripts/configs/*_seqmnist.yaml and seqmnist.py",
                  "scikit-learn digits instead of MNIST, row/pixel modes, epochs (100 row, "
                  "20 pixel: 1,800 / 360 Adam steps), seeds": "ours (no download; this 2-core "
                  "machine)"}
SOURCES_COPY = {"task, curriculum (< 0.15 bits: R += 1 if R < N else N += 1), lr 1e-3 / "
                "1e-5, gamma 0.9, sg_weight 1": "authors' copy_repeat.py, copy-repeat.py, "
                "configs/*_copy_repeat.yaml", "H 64, batch 32, iteration budget": "ours "
                "(scaled to this machine; authors: H 100, batch 100, 150,000 iterations)"}


def _lstm_learner(method, model, *, n, lam, gamma, sg_weight, lrs):
    if method == "bp":
        return BPLambdaLSTM(model, gamma=gamma, lam=lam, sg_weight=sg_weight, n_threads=1,
                            **lrs)
    if method == "bptt":
        return TruncatedBPTTLSTM(model, truncation=n, lr_rnn=lrs["lr_rnn"],
                                 lr_readout=lrs["lr_readout"])
    return DNILSTM(model, truncation=n, sg_weight=sg_weight, **lrs)


def _methods(cfg):
    out = [("bp", None, lam) for lam in cfg["lams"]] + [("bptt", None, None)]
    out += [("bptt", n, None) for n in cfg["ns"]] + [("sg", n, None) for n in cfg["ns"]]
    return out


def _label(method, n, lam):
    if method == "bp":
        return f"BP({lam:g})"
    if method == "bptt":
        return "BPTT" if n is None else f"BPTT({n})"
    return f"BPTT+SG({n})"


def digits_data(mode, seed, n_train=None):
    """(train, val, test) splits of (X (N, T, I), Y one-hot (N, T, 10), labels)."""
    from sklearn.datasets import load_digits
    d = load_digits()
    img = (d.images / 16.0).astype(DTYPE)
    X = img.reshape(-1, 8, 8) if mode == "row" else img.reshape(-1, 64, 1)
    T = X.shape[1]
    Y = np.zeros((len(X), T, 10), DTYPE)
    Y[np.arange(len(X)), T - 1, d.target] = 1
    perm = np.random.default_rng(0).permutation(len(X))          # fixed test split
    n_test = len(X) // 5
    test, rest = perm[:n_test], perm[n_test:]
    rest = np.random.default_rng(seed).permutation(rest)
    n_val = len(rest) // 5
    val, train = rest[:n_val], rest[n_val:]
    if n_train:
        train = train[:n_train]
    return [(X[i], Y[i], d.target[i]) for i in (train, val, test)]


def _accuracy(model, X, labels):
    return float(np.mean(model.predict(X)[:, -1].argmax(1) == labels))


def _digits_run(cfg, job):
    """One sequential-digits run: job = (mode, method, n, lam, seed) -> row."""
    mode, method, n, lam, seed = job
    t0 = time.time()
    (Xtr, Ytr, _), (Xv, _, lv), (Xte, _, lte) = digits_data(mode, seed, cfg.get("n_train"))
    T = Xtr.shape[1]
    mask = np.zeros(T, bool)
    mask[-1] = True
    model = LSTM(Xtr.shape[2], 30, 10, dtype=DTYPE, rng=seed)
    L = _lstm_learner(method, model, n=n, lam=lam, gamma=0.9, sg_weight=0.1,
                      lrs={"lr_rnn": 3e-4, "lr_readout": 3e-4, "lr_synth": 3e-4})
    L.loss = "softmax"
    rng = np.random.default_rng(100 + seed)
    best = (-1.0, 0, 0.0)
    for epoch in range(cfg["epochs"][mode]):
        order = rng.permutation(len(Xtr))
        for s in range(0, len(order) - 49, 50):
            idx = order[s:s + 50]
            L.train_batch(Xtr[idx], Ytr[idx], mask)
        va = _accuracy(model, Xv, lv)
        if va > best[0]:
            best = (va, epoch, _accuracy(model, Xte, lte))
    row = {"mode": mode, "method": _label(method, n, lam), "n": n, "lam": lam, "seed": seed,
           "test_acc": best[2], "val_acc": best[0], "best_epoch": best[1],
           "seconds": time.time() - t0}
    return row, (f"seqdigits {mode} {row['method']:12s} seed={seed} test_acc "
                 f"{row['test_acc']:.3f} (best epoch {row['best_epoch']}, "
                 f"{row['seconds']:.1f} s)")


def run_seqdigits(cfg, seeds, sink, log=print):
    jobs = [(mode, method, n, lam, seed) for mode in cfg["modes"]
            for method, n, lam in _methods(cfg) for seed in range(seeds)]
    run_jobs(_digits_run, cfg, jobs, sink, log)


def _copy_run(cfg, job):
    """One copy-repeat run: job = (method, n, lam, seed) -> row."""
    method, n, lam, seed = job
    H = cfg.get("H", 64)
    t0 = time.time()
    task = CopyRepeatTask()
    model = LSTM(task.n_in, H, task.n_out, dtype=DTYPE, rng=seed)
    L = _lstm_learner(method, model, n=n, lam=lam, gamma=0.9, sg_weight=1.0,
                      lrs={"lr_rnn": 1e-3, "lr_readout": 1e-3, "lr_synth": 1e-5})
    L.loss = "bce"
    rng = np.random.default_rng(200 + seed)
    levels, done, diverged = [], 0, False
    for it in range(cfg["n_iter"]):
        loss = L.train_batch(*task.sample(32, rng, dtype=DTYPE))
        done = it + 1
        if not np.isfinite(loss):
            diverged = True
            break
        if task.update(loss):
            levels.append([it, task.N, task.R])
    row = {"method": _label(method, n, lam), "n": n, "lam": lam, "seed": seed,
           "level_N": task.N, "level_R": task.R, "iterations": done, "diverged": diverged,
           "increments": levels, "seconds": time.time() - t0}
    return row, (f"copyrepeat {row['method']:12s} seed={seed} level N={task.N} "
                 f"R={task.R} ({row['seconds']:.1f} s)")


def run_copyrepeat(cfg, seeds, sink, log=print):
    jobs = [(method, n, lam, seed) for method, n, lam in _methods(cfg)
            for seed in range(seeds)]
    run_jobs(_copy_run, cfg, jobs, sink, log)
