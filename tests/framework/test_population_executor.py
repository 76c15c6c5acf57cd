"""Population learners on executors: bitwise equal to local evaluation, all-or-nothing.

Uses a real dask.distributed LocalCluster (2 worker processes, 1 thread each),
a ThreadPoolExecutor and a ProcessPoolExecutor; never a mock.
"""
import concurrent.futures as cf
import os

import numpy as np
import pytest

import zenkai_np as zk
from zenkai_np.framework.learners._executor import member_noise, perturbed, population_noise

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None, silence_logs=40)
        c = distributed.Client(cluster)
        yield c
        c.close()
        cluster.close()


def _data(seed=0, n=120, d=7, k=3):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)), rng.standard_normal((n, k))


def _es(executor=None, n_tasks=None, antithetic=True, dtype=np.float64):
    lin = zk.Linear(7, 3, dtype=dtype, rng=4)
    return zk.ESLearner(lin, zk.Adam(lr=0.01), pop_size=10, sigma=0.05, antithetic=antithetic,
                        x_search="none", rng=5, executor=executor, n_tasks=n_tasks)


def _run(machine, x, t, steps=4):
    out = []
    for _ in range(steps):
        machine.learn(x, t)
        out.append({k: v.copy() for k, v in machine.layer.params.items()})
    if isinstance(machine, zk.GALearner):
        out.append({k: v.copy() for k, v in machine.population.items()})
    return out


def _assert_bitwise(a, b):
    assert len(a) == len(b)
    for pa, pb in zip(a, b):
        for k in pa:
            np.testing.assert_array_equal(pa[k], pb[k])


@pytest.mark.parametrize("w_dtype", [np.float64, np.float32])
def test_member_noise_depends_only_on_key_and_index(w_dtype):
    # 3 x 3 float32 draws leave half a 64-bit word buffered: the next member must not see it
    params = {"W": np.zeros((3, 3), w_dtype), "b": np.zeros(2, np.float32)}
    key = 2 ** 63 - 5
    whole = population_noise(params, key, range(6))
    part = population_noise(params, key, [4, 2])
    for k in params:
        np.testing.assert_array_equal(part[k], whole[k][[4, 2]])
        assert whole[k].dtype == params[k].dtype
    # an independent reference: a fresh generator on member i's counter block
    for i in range(6):
        ref = np.random.Generator(np.random.Philox(key=key, counter=[0, i, 0, 0]))
        for k, v in params.items():
            np.testing.assert_array_equal(whole[k][i], ref.standard_normal(v.shape, v.dtype))
            np.testing.assert_array_equal(member_noise(params, key, i)[k], whole[k][i])
    assert not np.array_equal(whole["W"][0], population_noise(params, key - 1, [0])["W"][0])
    assert not np.array_equal(whole["W"][0], whole["W"][1])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_perturbed_members_are_the_plain_expressions(dtype):
    rng = np.random.default_rng(8)
    theta = rng.standard_normal((5, 3)).astype(dtype)
    e = rng.standard_normal((4, 5, 3)).astype(dtype)
    plus, minus = theta[None] + 0.3 * e, theta[None] - 0.3 * e
    both = perturbed(theta, e, 0.3, True)
    assert both.dtype == dtype and both.shape == (8, 5, 3) and both.flags.c_contiguous
    np.testing.assert_array_equal(both, np.concatenate([plus, minus]))
    np.testing.assert_array_equal(perturbed(theta, e, 0.3, False), plus)
    assert perturbed(theta, e[:0], 0.3, True).shape == (0, 5, 3)


@pytest.mark.parametrize("antithetic", [True, False])
def test_es_on_dask_cluster_is_bitwise_local(client, antithetic):
    x, t = _data()
    local = _run(_es(antithetic=antithetic), x, t)
    for n_tasks in (None, 3, 10):
        _assert_bitwise(local, _run(_es(client, n_tasks, antithetic), x, t))


def test_ga_and_hill_climb_on_dask_cluster_are_bitwise_local(client):
    x, t = _data(1)

    def ga(ex=None):
        return zk.GALearner(zk.Linear(7, 3, rng=2), pop_size=9, elite=2, mutation_std=0.1,
                            x_search="none", rng=3, executor=ex)

    def hc(ex=None):
        return zk.HillClimbLearner(zk.Linear(7, 3, rng=2), n_candidates=7, std=0.1,
                                   x_search="none", rng=3, executor=ex)

    _assert_bitwise(_run(ga(), x, t), _run(ga(client), x, t))
    _assert_bitwise(_run(hc(), x, t), _run(hc(client), x, t))


def test_es_float32_on_thread_and_process_pools_is_bitwise_local():
    x, t = _data(2)
    x, t = x.astype(np.float32), t.astype(np.float32)
    local = _run(_es(dtype=np.float32), x, t, steps=3)
    with cf.ThreadPoolExecutor(2) as ex:
        _assert_bitwise(local, _run(_es(ex, 4, dtype=np.float32), x, t, steps=3))
    with cf.ProcessPoolExecutor(2) as ex:
        _assert_bitwise(local, _run(_es(ex, dtype=np.float32), x, t, steps=3))
    assert local[-1]["W"].dtype == np.float32


@pytest.mark.parametrize("learner", ["es", "ga", "hill_climb"])
def test_local_linear_evaluation_on_n_threads_gives_the_same_bits(monkeypatch, learner):
    # the compiled kernel's losses do not depend on the thread count
    from zenkai_np.framework.learners import _executor
    seen, kernel = [], _executor.population_losses_of

    def spy(layer, x, pop, t, n_threads=None):
        seen.append(n_threads)
        return kernel(layer, x, pop, t, n_threads)

    monkeypatch.setattr(_executor, "population_losses_of", spy)
    x, t = _data(3)
    x, t = x.astype(np.float32), t.astype(np.float32)

    def make(n_threads):
        lin = zk.Linear(7, 3, dtype=np.float32, rng=2)
        if learner == "es":
            return zk.ESLearner(lin, zk.Adam(lr=0.01), pop_size=10, sigma=0.05,
                                x_search="none", rng=5, n_threads=n_threads)
        if learner == "ga":
            return zk.GALearner(lin, pop_size=9, elite=2, mutation_std=0.1, x_search="none",
                                rng=3, n_threads=n_threads)
        return zk.HillClimbLearner(lin, n_candidates=7, std=0.1, x_search="none", rng=3,
                                   n_threads=n_threads)
    runs = {}
    for n in (1, 2, 3):
        seen.clear()
        runs[n] = _run(make(n), x, t, steps=3)
        assert seen and set(seen) == {n}
    _assert_bitwise(runs[1], runs[2])
    _assert_bitwise(runs[1], runs[3])
    assert make(None).evaluator.n_threads >= 1
    with pytest.raises(ValueError, match="n_threads"):
        make(0)
    with pytest.raises(TypeError, match="n_threads"):
        make(1.5)


def test_es_gradient_matches_the_formula():
    """The ES estimate from executor losses equals the antithetic formula on the noise."""
    x, t = _data(3)
    es = _es()
    key_rng = np.random.default_rng(5)
    g = es.estimate_grad(x, t)
    key = int(key_rng.integers(2 ** 63))
    lin, P, s = es.layer, es.pop_size, es.sigma
    eps = population_noise(lin.params, key, range(P))
    w = np.empty(P)
    for i in range(P):
        yp = x @ (lin.W + s * eps["W"][i]) + (lin.b + s * eps["b"][i])
        ym = x @ (lin.W - s * eps["W"][i]) + (lin.b - s * eps["b"][i])
        w[i] = (0.5 * ((yp - t) ** 2).sum() - 0.5 * ((ym - t) ** 2).sum()) / (2 * s * P)
    np.testing.assert_allclose(g["W"], np.einsum("p,pij->ij", w, eps["W"]), rtol=1e-10)


def test_bad_executors():
    with pytest.raises(TypeError, match="executor"):
        _es(executor="cluster")
    with pytest.raises(ValueError, match="n_tasks"):
        _es(executor=cf.ThreadPoolExecutor(1), n_tasks=0)
    ex = cf.ThreadPoolExecutor(1)
    ex.shutdown()
    with pytest.raises(ValueError, match="executor"):
        _es(executor=ex)
    ex = cf.ThreadPoolExecutor(1)
    es = _es(executor=ex)
    ex.shutdown()
    x, t = _data()
    with pytest.raises(ValueError, match="executor"):
        es.learn(x, t)


def test_closed_client_is_a_clear_error():
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                       dashboard_address=None)
    c = distributed.Client(cluster)
    es = _es(executor=c)
    c.close()
    cluster.close()
    x, t = _data()
    with pytest.raises(ValueError, match="Client"):
        es.learn(x, t)
    with pytest.raises(ValueError, match="Client"):
        _es(executor=c)


class _Dying(zk.Linear):
    """A Linear whose population forward kills its worker process (not the test process)."""

    def forward_population(self, x, params):
        if os.getpid() != self.owner_pid:
            os._exit(1)
        return super().forward_population(x, params)


def test_dying_worker_fails_loudly_without_partial_result(client):
    lin = _Dying(7, 3, rng=0)
    lin.owner_pid = os.getpid()
    es = zk.ESLearner(lin, pop_size=6, x_search="none", rng=0, executor=client)
    before = lin.W.copy()
    x, t = _data()
    with pytest.raises(RuntimeError, match="no partial result"):
        es.learn(x, t)
    np.testing.assert_array_equal(lin.W, before)  # nothing applied
    client.wait_for_workers(2, timeout=60)


def test_dying_process_pool_fails_loudly():
    lin = _Dying(7, 3, rng=0)
    lin.owner_pid = os.getpid()
    x, t = _data()
    with cf.ProcessPoolExecutor(2) as ex:
        es = zk.ESLearner(lin, pop_size=6, x_search="none", rng=0, executor=ex)
        with pytest.raises(RuntimeError, match="no partial result"):
            es.learn(x, t)
