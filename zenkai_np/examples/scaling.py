"""The scaling measurements of docs/scaling.md.

    python -m zenkai_np.examples.scaling es        # ES on digits: local vs a 2-worker LocalCluster
    python -m zenkai_np.examples.scaling moments   # RC-learn on a lazy 2e6 x 50 dask array

Run each in a fresh process (the client's peak RSS is read from getrusage).
"""
from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def _cluster():
    import distributed
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    return cluster, distributed.Client(cluster)


def _es_run(X, y, Xt, yt, generations, executor):
    import zenkai_np as zk
    net = zk.Sequential(zk.ESLearner(zk.Linear(64, 10, rng=0), zk.Adam(lr=0.01), pop_size=64,
                                     sigma=0.05, x_search="none", rng=1, executor=executor))
    loss = zk.CrossEntropyLoss()
    acc, secs = [], []
    for _ in range(generations):
        t0 = time.perf_counter()
        net.learn(X, y, loss)
        secs.append(time.perf_counter() - t0)
        acc.append(zk.accuracy(net.forward(Xt), yt))
    return np.array(acc), np.array(secs), net[0].layer.W.copy()


def es(generations=150):
    """ES (64-10, P = 64 antithetic pairs, full batch of 1500 digits): local, cluster, local."""
    from sklearn.datasets import load_digits
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    data = (X[:1500], y[:1500], X[1500:], y[1500:])
    a0, s0, W0 = _es_run(*data, generations, None)
    cluster, client = _cluster()
    a1, s1, W1 = _es_run(*data, generations, client)
    a2, s2, W2 = _es_run(*data, generations, None)
    client.close()
    cluster.close()
    print("accuracy curves identical:", np.array_equal(a0, a1), "| weights identical:",
          np.array_equal(W0, W1), "| local rerun identical:", np.array_equal(a0, a2)
          and np.array_equal(W0, W2))
    marks = sorted({0, min(9, generations - 1), min(49, generations - 1), generations - 1})
    print("test accuracy at generations", [m + 1 for m in marks], ":", a0[marks])
    print(f"median time per generation: local {np.median(s0) * 1e3:.0f} ms and "
          f"{np.median(s2) * 1e3:.0f} ms, 2-worker cluster {np.median(s1) * 1e3:.0f} ms "
          f"(first generation with the scatter {s1[0] * 1e3:.0f} ms)")


def moments(N=2_000_000, d=50, k=4, rows=100_000):
    """ReLUMomentRegressor on X generated block by block on the workers (never on the client)."""
    import dask
    import dask.array as da

    from zenkai_np.moments import ReLUMomentRegressor, make_teacher
    teacher = make_teacher("generic", d, k, rng=0)

    def block(i):
        return np.random.default_rng([7, i]).standard_normal((rows, d))

    cluster, client = _cluster()
    X = da.concatenate([da.from_delayed(dask.delayed(block)(i), (rows, d), np.float64)
                        for i in range(N // rows)])
    y = X.map_blocks(teacher.predict, drop_axis=1, dtype=np.float64)
    t0 = time.perf_counter()
    est = ReLUMomentRegressor(k, rng=0, verbose=1).fit(X, y)
    seconds = time.perf_counter() - t0
    client.close()
    cluster.close()
    Xt, yt = teacher.sample(20000, rng=99)
    rel = np.mean((est.predict(Xt) - yt) ** 2) / np.mean(yt ** 2)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"fit {seconds:.0f} s ({ {k: round(v, 1) for k, v in est.timings_.items()} }), "
          f"{est.n_iter_} refinement iterations")
    print(f"test relMSE {rel:.2e}; client peak RSS {rss:.0f} MB (with the in-process scheduler)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["es", "moments"])
    args = p.parse_args(argv)
    if args.what == "es":
        es()
    else:
        moments()


if __name__ == "__main__":
    main()
