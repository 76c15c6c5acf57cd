"""Benchmark: training epochs through the framework vs hand-written NumPy loops,
and ``Conv2d`` forward + both VJPs vs PyTorch.

Network 64-256-256-10 (tanh, softmax cross-entropy), batch 64, float32 (and
float64), one epoch over 1437 samples (the digits training split size), one
BLAS thread.  Rules: backprop (``GradLearner``), feedback alignment
(``FALearner``) and direct feedback alignment (``DFALearner`` hidden blocks,
backprop readout), each with Adam(1e-3) -- the setting of the issue's target --
and backprop with plain SGD(0.05), where a hand-written loop has the least
overhead of its own.  The hand-written loops use the same initial weights, the
same feedback matrices, the same shuffles and the same Adam arithmetic
(NumPy's in-place ufunc passes, ``optim.Adam``'s NumPy formulation), and compute
the same loss per batch, so the ratio measures the framework against plain
NumPy code doing the same work.

Conv: two chained 3x3 convolutions 1->16->32 (padding 1) on a synthetic batch
of 64 28x28 images, float32, one thread: forward, then ``dL/dW, dL/db`` of
both and ``dL/dx`` of both (PyTorch: the same graph with ``x.requires_grad``
and ``backward`` with the same output gradient).  PyTorch runs in-process when
importable, else in a worker subprocess of ``$ZENKAI_TORCH_PYTHON`` (default
``/work/venv-torch/bin/python``) fed one timing request at a time, so both
sides are timed alternately in the same run.  Without PyTorch the row reports
ours only.  ``benchmarks/peer_framework.py`` times the MLP epoch against PyTorch
and Zenkai 0.0.9.
"""
from __future__ import annotations


import numpy as np

from ..framework.init import glorot_uniform
from ._harness import (Result, interleaved_pairs, limit_blas_threads, seconds_per_call,
                       thread_scaling)

N_TRAIN = 1437
SIZES = (64, 256, 256, 10)
BATCH = 64
SGD_LR = 0.05
ADAM_LR = 1e-3
RULES = ("bp", "fa", "dfa")
#: (rule, optimizer) rows of the epoch benchmark
CASES = (("bp", "adam"), ("fa", "adam"), ("dfa", "adam"), ("bp", "sgd"))


def _data(dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N_TRAIN, SIZES[0])).astype(dtype)
    y = rng.integers(0, SIZES[-1], N_TRAIN)
    return x, y


def make_framework_net(dtype=np.float32, seed=0, rule="bp", optimizer="adam"):
    """The network of the benchmark, trained by ``rule`` with ``optimizer``."""
    import zenkai_np as zk

    def opt():
        return zk.Adam(lr=ADAM_LR) if optimizer == "adam" else zk.SGD(lr=SGD_LR)
    lins = [zk.Linear(SIZES[i], SIZES[i + 1], dtype=dtype, rng=seed + i) for i in range(3)]
    if rule == "dfa":
        return zk.Sequential(
            *[zk.DFALearner(lins[i], zk.Tanh(), n_error=SIZES[-1], optimizer=opt(),
                            rng=seed + 10 + i) for i in range(2)],
            zk.GradLearner(lins[2], opt()))
    ms = []
    for i, lin in enumerate(lins):
        ms.append(zk.FALearner(lin, opt(), rng=seed + 10 + i) if rule == "fa"
                  else zk.GradLearner(lin, opt()))
        if i < 2:
            ms.append(zk.GradLearner(zk.Tanh()))
    return zk.Sequential(*ms)


class NumpyAdam:
    """Adam as a NumPy user writes it: in-place ufunc passes through one scratch
    buffer per parameter (the arithmetic of ``optim.Adam``'s NumPy formulation)."""

    def __init__(self, params, lr=ADAM_LR, b1=0.9, b2=0.999, eps=1e-8):
        self.params, self.lr, self.b1, self.b2, self.eps, self.t = params, lr, b1, b2, eps, 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.s = [np.empty_like(p) for p in params]

    def step(self, grads):
        self.t += 1
        b1, b2 = self.b1, self.b2
        c1, c2 = 1 - b1 ** self.t, 1 - b2 ** self.t
        for p, g, m, v, s in zip(self.params, grads, self.m, self.v, self.s):
            m *= b1
            np.multiply(g, 1 - b1, out=s)
            m += s
            v *= b2
            np.multiply(g, g, out=s)
            s *= 1 - b2
            v += s
            np.multiply(v, 1.0 / c2, out=s)
            np.sqrt(s, out=s)
            s += self.eps
            np.divide(m, s, out=s)
            s *= self.lr / c1
            p -= s


class HandWritten:
    """Plain NumPy training loop of the same network and rule (the reference).

    ``feedback``: the fixed random matrices of FA (``B_l``, the shape of ``W_l``) or
    DFA (``B_l``, shape ``(10, n_out)``), taken from the framework's learners.
    """

    def __init__(self, dtype=np.float32, seed=0, rule="bp", optimizer="adam", feedback=None):
        self.rule, self.optimizer = rule, optimizer
        self.Ws, self.bs = [], []
        for i in range(3):
            rng = np.random.default_rng(seed + i)   # the same draw as zk.Linear(rng=seed + i)
            self.Ws.append(glorot_uniform(rng, (SIZES[i], SIZES[i + 1]), dtype))
            self.bs.append(np.zeros(SIZES[i + 1], dtype))
        self.Bs = [np.array(B) for B in feedback] if feedback is not None else None
        self.adam = NumpyAdam(self.Ws + self.bs) if optimizer == "adam" else None

    def batch(self, x, labels):
        W1, W2, W3 = self.Ws
        b1, b2, b3 = self.bs
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
        if self.rule == "bp":
            d2 = (d3 @ W3.T) * (1 - h2 * h2)
            d1 = (d2 @ W2.T) * (1 - h1 * h1)
        elif self.rule == "fa":
            B1, B2, B3 = self.Bs
            d2 = (d3 @ B3.T) * (1 - h2 * h2)
            d1 = (d2 @ B2.T) * (1 - h1 * h1)
        else:                                   # dfa: the output error straight to each layer
            B1, B2 = self.Bs
            d2 = (e @ B2) * (1 - h2 * h2)
            d1 = (e @ B1) * (1 - h1 * h1)
        grads = [x.T @ d1, h1.T @ d2, h2.T @ d3, d1.sum(axis=0), d2.sum(axis=0),
                 d3.sum(axis=0)]
        if self.adam is not None:
            self.adam.step(grads)
        else:
            for p, g in zip(self.Ws + self.bs, grads):
                p -= SGD_LR * g
        return loss

    def epoch(self, x, y, rng):
        perm = rng.permutation(x.shape[0])
        xe, ye = x[perm], y[perm]
        total = 0.0
        for a in range(0, x.shape[0], BATCH):
            total += self.batch(xe[a:a + BATCH], ye[a:a + BATCH])
        return total


def feedback_of(net, rule):
    """The fixed feedback matrices of a framework net (None for backprop)."""
    if rule == "fa":
        return [m.B for m in net.machines if hasattr(m, "B")]
    if rule == "dfa":
        return [m.B for m in net.machines[:2]]
    return None


def measure(dtype=np.float32, pairs=31, epochs_per_sample=2, rule="bp", optimizer="adam"):
    """(framework s/epoch, hand-written s/epoch, median of the per-pair ratios ours/theirs).

    The two are timed alternately, ``epochs_per_sample`` epochs at a time, so
    both see the same load on a shared machine; medians resist the outliers.
    """

    import zenkai_np as zk
    x, y = _data(dtype)
    net = make_framework_net(dtype, rule=rule, optimizer=optimizer)
    ref = HandWritten(dtype, rule=rule, optimizer=optimizer, feedback=feedback_of(net, rule))
    loss = zk.CrossEntropyLoss()
    rng_a, rng_b = np.random.default_rng(1), np.random.default_rng(1)

    def ours():
        zk.fit(net, x, y, loss=loss, epochs=epochs_per_sample, batch_size=BATCH, rng=rng_a)

    def theirs():
        for _ in range(epochs_per_sample):
            ref.epoch(x, y, rng_b)

    with limit_blas_threads(1):
        a, b, ratio = interleaved_pairs(ours, theirs, pairs=pairs, alternate=True)
    return a / epochs_per_sample, b / epochs_per_sample, ratio


CONV = dict(batch=64, size=28, channels=(1, 16, 32), k=3)

_TORCH_WORKER = r"""
import sys, time, torch
torch.set_num_threads(1)
torch.manual_seed(0)
b, hw, (c0, c1, c2), k = {batch}, {size}, {channels}, {k}
l1 = torch.nn.Conv2d(c0, c1, k, padding=k // 2)
l2 = torch.nn.Conv2d(c1, c2, k, padding=k // 2)
x = torch.randn(b, c0, hw, hw, requires_grad=True)
gy = torch.randn(b, c2, hw, hw)
def once():
    for p in (x, *l1.parameters(), *l2.parameters()):
        p.grad = None
    l2(l1(x)).backward(gy)
once()
print("ready " + torch.__version__, flush=True)
for line in sys.stdin:
    n = int(line)
    t0 = time.perf_counter()
    for _ in range(n):
        once()
    print(repr((time.perf_counter() - t0) / n), flush=True)
"""


def _torch_timer():
    """``(time_one_call(n) -> seconds, description, close)`` or None without PyTorch."""
    import os
    import subprocess
    import sys
    script = _TORCH_WORKER.format(**CONV)
    try:
        import torch  # noqa: F401
        python = sys.executable
    except ImportError:
        python = os.environ.get("ZENKAI_TORCH_PYTHON", "/work/venv-torch/bin/python")
        if not os.path.exists(python):
            return None
    proc = subprocess.Popen([python, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    head = proc.stdout.readline().split()
    if not head or head[0] != "ready":
        proc.kill()
        return None

    def timed(n):
        proc.stdin.write(f"{n}\n")
        proc.stdin.flush()
        return float(proc.stdout.readline())

    def close():
        proc.stdin.close()
        proc.wait(timeout=30)
    return timed, f"PyTorch {head[1]} CPU (1 thread)", close


def measure_conv(pairs=11, reps=3):
    """(ours s/call, torch s/call or nan, median per-pair ratio, torch name)."""

    import zenkai_np as zk
    from zenkai_np.framework.state import State
    b, hw, (c0, c1, c2), k = CONV["batch"], CONV["size"], CONV["channels"], CONV["k"]
    rng = np.random.default_rng(0)
    l1 = zk.Conv2d(c0, c1, k, padding=k // 2, dtype=np.float32, rng=1)
    l2 = zk.Conv2d(c1, c2, k, padding=k // 2, dtype=np.float32, rng=2)
    x = rng.standard_normal((b, c0, hw, hw)).astype(np.float32)
    gy = rng.standard_normal((b, c2, hw, hw)).astype(np.float32)

    def ours():
        s1, s2 = State(), State()
        y1 = l1.forward(x, s1)
        y2 = l2.forward(y1, s2)
        l2.vjp_params(y1, y2, gy, s2)
        g1 = l2.vjp_x(y1, y2, gy, s2)
        l1.vjp_params(x, y1, g1, s1)
        l1.vjp_x(x, y1, g1, s1)

    def ours_timed(n):
        return seconds_per_call(ours, n)

    with limit_blas_threads(1):
        ours()
        torch_t = _torch_timer()
        a, t = [], []
        try:
            for i in range(pairs):
                if torch_t is None:
                    a.append(ours_timed(reps))
                    continue
                if i % 2 == 0:
                    a.append(ours_timed(reps))
                    t.append(torch_t[0](reps))
                else:
                    t.append(torch_t[0](reps))
                    a.append(ours_timed(reps))
        finally:
            if torch_t is not None:
                torch_t[2]()
    if not t:
        return float(np.median(a)), float("nan"), float("nan"), "PyTorch (not found)"
    ratio = float(np.median(np.array(a) / np.array(t)))
    return float(np.median(a)), float(np.median(t)), ratio, torch_t[1]


def population_rows(quick: bool) -> list:
    """ES-style population losses, P = 64 members of a 64-10 ``Linear``, float32, on a
    minibatch (N = 64) and, unless quick, on the whole digits training split (N = 1437,
    full-batch fitness): the compiled kernel at 1 and 2 threads against each other
    (interleaved pairs), against two processes running it at once (the machine's
    ceiling) and against the NumPy formulation."""
    rows = []
    for N in ((64,) if quick else (64, N_TRAIN)):
        rows += _population_rows(N, quick)
    rows += _es_generation_rows(N_TRAIN, 10, quick)
    return rows + _es_generation_rows(64, 256, quick)


def _es_generation_rows(N: int, n_out: int, quick: bool) -> list:
    """One ``ESLearner.learn`` generation (64 antithetic pairs of a 64-``n_out`` layer,
    a batch of N, float32) with the population kernel on 1 and 2 threads, BLAS at one
    thread. 64-10 on the training split is kernel-bound; 64-256 on a minibatch is
    bound by the noise draws, which stay on one thread."""
    from ..framework.layers import Linear
    from ..framework.learners.population import ESLearner
    rng = np.random.default_rng(1)
    x = rng.standard_normal((N, 64)).astype(np.float32)
    t = rng.standard_normal((N, n_out)).astype(np.float32)

    def learner(n_threads):
        return ESLearner(Linear(64, n_out, dtype=np.float32, rng=0), pop_size=64, sigma=0.05,
                         x_search="none", rng=0, n_threads=n_threads)
    es1, es2 = learner(1), learner(2)
    reps = 3 if quick else 10

    def block(es):
        return lambda: [es.learn(x, t) for _ in range(reps)]
    with limit_blas_threads(1):
        t1, t2, t_pair = thread_scaling(block(es1), block(es2), block(es1),
                                        5 if quick else 15)
    return _scaling_rows("ES generation, n_threads=2", f"P=64 pairs 64-{n_out} N={N}",
                         [t / reps for t in (t1, t2, t_pair / 2)],
                         "same, n_threads=1 (interleaved blocks)", 1e3, ".2f", "ms/generation")


def _scaling_rows(kernel, case, seconds, ref_name, scale, fmt, unit):
    """The 2-thread row and the machine's ceiling, from ``seconds`` = (1 thread,
    2 threads, two processes) per call; throughput ``seconds * scale`` in ``unit``."""
    t1, t2, t_procs = seconds
    common = dict(case=case, dtype="float32", simd=_simd(), threads=2, ref_ms=t1 * 1e3,
                  ref_name=ref_name)
    return [Result(kernel=kernel, ours_ms=t2 * 1e3, throughput=f"{t2 * scale:{fmt}} {unit}",
                   **common),
            Result(kernel="machine ceiling: 2 procs x 1 thr", ours_ms=t_procs * 1e3,
                   throughput=f"{t_procs * scale:{fmt}} {unit}", **common)]


def _population_rows(N: int, quick: bool, scaling: bool = True) -> list:
    """The kernel against the NumPy formulation, and unless ``scaling=False`` its
    2-thread scaling and the machine's ceiling."""
    from ..framework.layers import Linear
    from ..framework.population_kernel import population_losses, population_losses_of
    rng = np.random.default_rng(0)
    P = 64
    layer = Linear(64, 10, dtype=np.float32, rng=0)
    pop = {"W": rng.standard_normal((P, 64, 10)).astype(np.float32),
           "b": rng.standard_normal((P, 10)).astype(np.float32)}
    x = rng.standard_normal((N, 64)).astype(np.float32)
    t = rng.standard_normal((N, 10)).astype(np.float32)
    one = lambda: population_losses_of(layer, x, pop, t, n_threads=1)  # noqa: E731
    two = lambda: population_losses_of(layer, x, pop, t, n_threads=2)  # noqa: E731
    numpy_ref = lambda: population_losses(layer.forward_population(x, pop), t)  # noqa: E731
    reps = max(1, (20 if quick else 200) * 64 // N)

    def block(fn):
        return lambda: [fn() for _ in range(reps)]
    case = f"P={P} 64-10 N={N}"
    with limit_blas_threads(1):
        tn, t_one, _ = interleaved_pairs(block(numpy_ref), block(one), pairs=5 if quick else 11)
        rows = [Result(kernel="population_losses", case=case, dtype="float32", threads=1,
                       simd=_simd(), ours_ms=t_one / reps * 1e3, ref_ms=tn / reps * 1e3,
                       ref_name="NumPy forward_population + einsum loss",
                       throughput=f"{t_one / reps * 1e6:.0f} us/call")]
        if not scaling:
            return rows
        t1, t2, t_pair = thread_scaling(block(one), block(two), block(one),
                                        5 if quick else 15)
    return rows + _scaling_rows("population_losses 2-thread scaling", case,
                                [t / reps for t in (t1, t2, t_pair / 2)],
                                "same kernel, 1 thread (interleaved blocks)", 1e6, ".0f",
                                "us/call")


def run(*, quick: bool, threads: list[int]) -> list[Result]:
    """float32 (the figure of merit) and, unless quick, float64.

    Always one BLAS thread (``threads`` is ignored): the comparison is about the
    framework's per-batch overhead, and the task asks for one thread.
    """
    rows = []
    for dtype in ((np.float32,) if quick else (np.float32, np.float64)):
        for rule, optimizer in CASES:
            rows.append(_epoch_row(dtype, rule, optimizer, pairs=11 if quick else 41))
    ours, ref, ratio, name = measure_conv(pairs=5 if quick else 15)
    rows.append(Result(kernel="conv2d_fwd_bwd", case="b64 1->16->32 3x3 28x28 pad 1",
                       dtype="float32", threads=1, simd="n/a (BLAS)", ours_ms=ours * 1e3,
                       ref_ms=ref * 1e3, ref_name=name,
                       throughput=f"{ours * 1e3:.1f} ms/call",
                       extra={"ratio": ours / ref, "median_pair_ratio": ratio}))
    rows += population_rows(quick)
    return rows + _other_path_rows(quick)


def _simd():
    from .. import _framework
    return _framework.simd_level()


def _epoch_row(dtype, rule, optimizer, pairs):
    ours, ref, ratio = measure(dtype, pairs=pairs, rule=rule, optimizer=optimizer)
    return Result(kernel=f"framework_{rule}_epoch",
                  case=f"64-256-256-10 b64 {'Adam' if optimizer == 'adam' else 'SGD'}",
                  dtype=np.dtype(dtype).name, threads=1, simd=_simd(), ours_ms=ours * 1e3,
                  ref_ms=ref * 1e3, ref_name=f"hand-written NumPy {rule}, same optimizer",
                  throughput=f"{ours * 1e3:.2f} ms/epoch = {ours / ref:.2f}x time",
                  extra={"ratio": ours / ref, "median_pair_ratio": ratio, "rule": rule,
                         "optimizer": optimizer, "n_train": N_TRAIN, "batch": BATCH})


def _other_path_rows(quick: bool) -> list:
    """The other SIMD paths this CPU has, one thread: the float32 backprop Adam epoch and
    the population losses on the minibatch, each against its NumPy formulation."""
    from .. import supported_simd_paths, use_simd_path
    rows, default = [], _simd()
    for path in supported_simd_paths():
        if path != default:
            with use_simd_path(path):
                rows.append(_epoch_row(np.float32, "bp", "adam", pairs=11 if quick else 21))
                rows += _population_rows(64, quick, scaling=False)
    return rows


if __name__ == "__main__":  # pragma: no cover
    from ._harness import format_table
    print(format_table(run(quick=False, threads=[1])))
