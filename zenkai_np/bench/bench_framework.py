"""Benchmark: backprop through the framework vs hand-written NumPy backprop.

Network 64-256-256-10 (tanh, softmax cross-entropy), batch 64, plain SGD,
float32, one epoch over 1437 samples (the digits training split size), one BLAS
thread.  Both sides shuffle the same way and compute the same loss value per
batch, so the ratio measures the framework's overhead.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ._harness import Result, median_time  # noqa: F401 (shared harness)

N_TRAIN = 1437
SIZES = (64, 256, 256, 10)
BATCH = 64
LR = 0.05


def _blas_one_thread():
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # optional: fall back to whatever BLAS uses
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_TRAIN, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], N_TRAIN)
    return x, y


def make_framework_net(dtype=np.float32, seed=0, lr=LR):
    import zenkai_np as zk
    ms = []
    for i in range(3):
        ms.append(zk.GradLearner(zk.Linear(SIZES[i], SIZES[i + 1], dtype=dtype,
                                           rng=seed + i), zk.SGD(lr=lr)))
        if i < 2:
            ms.append(zk.GradLearner(zk.Tanh()))
    return zk.Sequential(*ms)


class HandWritten:
    """Plain NumPy backprop of the same network (the reference)."""

    def __init__(self, dtype=np.float32, seed=0, lr=LR):
        self.lr = lr
        self.Ws, self.bs = [], []
        for i in range(3):
            rng = np.random.default_rng(seed + i)
            lim = np.sqrt(6.0 / (SIZES[i] + SIZES[i + 1]))
            self.Ws.append(rng.uniform(-lim, lim, (SIZES[i], SIZES[i + 1])).astype(dtype))
            self.bs.append(np.zeros(SIZES[i + 1], dtype))

    def batch(self, x, labels):
        W1, W2, W3 = self.Ws
        b1, b2, b3 = self.bs
        lr = self.lr
        h1 = np.tanh(x @ W1 + b1)
        h2 = np.tanh(h1 @ W2 + b2)
        z = h2 @ W3 + b3
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1)
        n = x.shape[0]
        rows = np.arange(n)
        loss = float((np.log(s).sum() - z[rows, labels].sum()) / n)
        e /= s[:, None]
        e[rows, labels] -= 1
        e *= 1.0 / n
        d3 = e
        d2 = (d3 @ W3.T) * (1 - h2 * h2)
        d1 = (d2 @ W2.T) * (1 - h1 * h1)
        W3 -= lr * (h2.T @ d3)
        b3 -= lr * d3.sum(axis=0)
        W2 -= lr * (h1.T @ d2)
        b2 -= lr * d2.sum(axis=0)
        W1 -= lr * (x.T @ d1)
        b1 -= lr * d1.sum(axis=0)
        return loss

    def epoch(self, x, y, rng):
        perm = rng.permutation(x.shape[0])
        xe, ye = x[perm], y[perm]
        total = 0.0
        for a in range(0, x.shape[0], BATCH):
            total += self.batch(xe[a:a + BATCH], ye[a:a + BATCH])
        return total


def measure(dtype=np.float32, pairs=31, epochs_per_sample=2):
    """(framework s/epoch, hand-written s/epoch, median of the per-pair ratios).

    The two are timed alternately, ``epochs_per_sample`` epochs at a time, so
    both see the same load on a shared machine; medians resist the outliers.
    """
    import gc
    import time

    import zenkai_np as zk
    x, y = _data(dtype)
    net = make_framework_net(dtype)
    ref = HandWritten(dtype)
    loss = zk.CrossEntropyLoss()
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)

    def ours():
        zk.fit(net, x, y, loss=loss, epochs=epochs_per_sample, batch_size=BATCH, rng=rng_a)

    def theirs():
        for _ in range(epochs_per_sample):
            ref.epoch(x, y, rng_b)

    a, b = [], []
    with _blas_one_thread():
        ours()          # warm-up
        theirs()
        gc_was = gc.isenabled()
        gc.disable()
        try:
            for i in range(pairs):
                order = (ours, theirs) if i % 2 == 0 else (theirs, ours)
                for f in order:
                    t0 = time.perf_counter()
                    f()
                    dt = (time.perf_counter() - t0) / epochs_per_sample
                    (a if f is ours else b).append(dt)
        finally:
            if gc_was:
                gc.enable()
    ratios = np.array(a) / np.array(b)
    return float(np.median(a)), float(np.median(b)), float(np.median(ratios))


def run(*, quick: bool, threads: list[int]) -> list[Result]:
    """float32 (the figure of merit) and, unless quick, float64.

    Always one BLAS thread (``threads`` is ignored): the comparison is about the
    framework's per-batch overhead, and the task asks for one thread.
    """
    rows = []
    for dtype in ((np.float32,) if quick else (np.float32, np.float64)):
        ours, ref, ratio = measure(dtype, pairs=11 if quick else 41)
        rows.append(Result(kernel="framework_bp_epoch", case="64-256-256-10 b64",
                           dtype=np.dtype(dtype).name, threads=1, simd="n/a",
                           ours_ms=ours * 1e3, ref_ms=ref * 1e3,
                           ref_name="hand-written NumPy backprop",
                           throughput=f"{ours * 1e3:.2f} ms/epoch",
                           extra={"ratio": ours / ref, "median_pair_ratio": ratio,
                                  "n_train": N_TRAIN, "batch": BATCH}))
    return rows


if __name__ == "__main__":  # pragma: no cover
    from ._harness import format_table
    print(format_table(run(quick=False, threads=[1])))
