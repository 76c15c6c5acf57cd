"""zenkai_np.sweep: grid × seeds in a fixed row order, locally and on executors."""
import concurrent.futures as cf

import numpy as np
import pytest

from zenkai_np.sweep import grid_points, sweep


def experiment(a, b, seed):
    """A small experiment whose result depends on every argument."""
    rng = np.random.default_rng(seed)
    return {"value": float(a * 10 + len(b) + rng.standard_normal())}


def failing(a, seed):
    if a == 2:
        raise ArithmeticError("boom")
    return {"ok": 1}


def test_rows_follow_the_grid_and_seeds_on_every_executor():
    grid = {"a": [1, 2, 3], "b": ["x", "yy"]}
    local = sweep(experiment, grid, seeds=[5, 6])
    expect = [{"a": a, "b": b, "seed": s, **experiment(a, b, s)}
              for a in (1, 2, 3) for b in ("x", "yy") for s in (5, 6)]
    assert local == expect
    with cf.ProcessPoolExecutor(2) as ex:
        assert sweep(experiment, grid, seeds=[5, 6], executor=ex) == expect
    with cf.ThreadPoolExecutor(3) as ex:
        assert sweep(experiment, grid, seeds=[5, 6], executor=ex) == expect


def test_sweep_on_a_dask_cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=40) as cluster, \
            distributed.Client(cluster) as client:
        got = sweep(experiment, {"a": [1, 2], "b": ["z"]}, seeds=range(3), executor=client)
        with pytest.raises(RuntimeError, match="sweep"):
            sweep(failing, {"a": [1, 2, 3]}, executor=client)
    assert got == sweep(experiment, {"a": [1, 2], "b": ["z"]}, seeds=range(3))


def test_bad_sweeps():
    with pytest.raises(TypeError, match="grid"):
        grid_points([1, 2])
    with pytest.raises(TypeError, match="grid\\['a'\\]"):
        grid_points({"a": "abc"})
    with pytest.raises(ValueError, match="grid\\['a'\\]"):
        grid_points({"a": []})
    with pytest.raises(ValueError, match="seeds"):
        sweep(experiment, {"a": [1], "b": ["x"]}, seeds=[])
    with pytest.raises(TypeError, match="executor"):
        sweep(experiment, {"a": [1], "b": ["x"]}, executor=object())
    with pytest.raises(TypeError, match="fn"):
        sweep(3, {"a": [1]})
    with pytest.raises(ArithmeticError):
        sweep(failing, {"a": [1, 2]})
