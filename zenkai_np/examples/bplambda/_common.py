"""Shared pieces of the BP(λ) experiment blocks: learners by name, BPTT reference
signals, the three alignment cosines, and streaming of result rows."""
from __future__ import annotations

import json
import math

import numpy as np

from zenkai_np.bplambda import DNIRNN, BPLambdaRNN, TruncatedBPTTRNN, future_gradients

H = 30
DIVERGED = 1e3   # a loss above this (targets lie on the unit circle) counts as diverged


def cos(a, b) -> float:
    """Cosine of two arrays seen as flat vectors (0 if either is zero)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else 0.0


def bptt_signal(model, X, Y, mask):
    """BPTT's ``∂L/∂h_t`` (T, B, H) at the current weights, with h and f' (time-major)."""
    B = X.shape[0]
    h, fp, yhat = model.run(X)
    e = (yhat - Y.transpose(1, 0, 2)) / B * mask[:, None, None]
    l = e @ model.params["W_out"].T
    return l + future_gradients(l, model.jacobians(fp)), h, fp


def rnn_grad(X, h, fp, sig):
    """The RNN weight gradient (flat) the one-step rule gives from a signal (T, B, H)."""
    h_prev = np.concatenate([np.zeros_like(h[:1]), h[:-1]])
    q = sig * fp
    return np.concatenate([np.einsum("tbi,tbj->ij", h_prev, q).ravel(),
                           np.einsum("tbi,tbj->ij", X.transpose(1, 0, 2), q).ravel(),
                           q.sum((0, 1))])


def alignment(model, X, Y, mask, LS):
    """(cos_step, cos_seq, cos_weight) of a learning signal LS (T, B, H) against BPTT.

    cos_step: mean over t < T−1 of the per-step cosine; cos_seq: cosine of the
    whole sequence of signals; cos_weight: cosine of the RNN weight gradients.
    """
    X = X.astype(np.float64)
    G, h, fp = bptt_signal(model, X, Y.astype(np.float64), mask)
    LS = np.asarray(LS, np.float64)
    T = X.shape[1]
    steps = [cos(LS[t], G[t]) for t in range(T - 1)]
    return (float(np.mean(steps)), cos(LS, G),
            cos(rnn_grad(X, h, fp, LS), rnn_grad(X, h, fp, G)))


def rnn_learner(method, model, *, n=None, lam=None, gamma, sg_weight, lrs,
                sg_last_window=True):
    """A vanilla-RNN learner by method name: 'bp', 'bptt' (n = None: full), 'sg'."""
    if method == "bp":
        return BPLambdaRNN(model, gamma=gamma, lam=lam, sg_weight=sg_weight, n_threads=1,
                           **lrs)
    if method == "bptt":
        return TruncatedBPTTRNN(model, truncation=n, lr_rnn=lrs["lr_rnn"],
                                lr_readout=lrs["lr_readout"])
    if method == "sg":
        return DNIRNN(model, truncation=n, sg_weight=sg_weight, sg_last_window=sg_last_window,
                      **lrs)
    raise ValueError(f"method: expected 'bp', 'bptt' or 'sg', got {method!r}")


def method_label(method, n=None, lam=None, suffix=""):
    if method == "bp":
        return f"BP({lam:g})"
    if method == "bptt":
        return "BPTT" if n is None else f"BPTT({n})"
    return f"BPTT+SG({n}){suffix}"


def finite_or_none(v):
    v = float(v)
    return v if math.isfinite(v) else None


class RowSink:
    """Collects a block's rows; with ``path`` also appends each row as a JSON line."""

    def __init__(self, path=None):
        self.rows = []
        self.path = path

    def add(self, row):
        self.rows.append(row)
        if self.path:
            with open(self.path, "a") as f:
                f.write(json.dumps(row) + "\n")
        return row


def _one_thread_job(fn, cfg, job):
    from zenkai_np.bplambda import limit_blas_threads
    with limit_blas_threads(1):
        return fn(cfg, job)


def run_jobs(fn, cfg, jobs, sink, log):
    """``fn(cfg, job) -> (row, message)`` for every job, on ``cfg["jobs"]`` processes.

    Each run is seeded by its job alone, so the rows do not depend on the number
    of processes; they are added to ``sink`` as they finish, then put in job order.
    Worker processes are spawned (not forked: OpenMP and BLAS thread pools do not
    survive a fork) and run one BLAS thread each.
    """
    n_jobs = int(cfg.get("jobs", 1))
    if n_jobs < 1:
        raise ValueError(f"jobs: expected a positive int, got {n_jobs}")
    order = {}
    if n_jobs == 1:
        for i, job in enumerate(jobs):
            row, msg = fn(cfg, job)
            order[id(sink.add(row))] = i
            log(msg)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
            futures = {pool.submit(_one_thread_job, fn, cfg, job): i
                       for i, job in enumerate(jobs)}
            for fut in as_completed(futures):
                row, msg = fut.result()
                order[id(sink.add(row))] = futures[fut]
                log(msg)
    sink.rows.sort(key=lambda r: order[id(r)])


def median_spread(values):
    """(median, 25th, 75th percentile) of the finite values; NaNs if none."""
    v = np.array([x for x in values if x is not None and np.isfinite(x)], float)
    if v.size == 0:
        return float("nan"), float("nan"), float("nan")
    return float(np.median(v)), float(np.percentile(v, 25)), float(np.percentile(v, 75))


def mean_sem(values):
    v = np.array([x for x in values if x is not None and np.isfinite(x)], float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else 0.0
