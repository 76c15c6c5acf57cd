"""Experiment grids (grid × seeds) run locally or over a dask Client / an Executor.

    from zenkai_np.sweep import sweep
    rows = sweep(run_one, {"N": [2_000, 10_000], "family": ["generic"]}, seeds=range(3),
                 executor=client)      # None: in this process

``run_one(**point, seed=s)`` returns a dict of results; each row is
``{**point, "seed": s, **result}``.  Rows come back in a fixed order (grid
points in ``itertools.product`` order of the keys as given, seeds innermost),
whatever the executor or the number of workers, so a table built from them is
the same on a laptop and on a cluster.  One failed point fails the sweep
(RuntimeError); no partial table is returned.  On an executor each task runs
with one BLAS/OpenMP thread (locally, the libraries' defaults).
"""
from __future__ import annotations

import itertools

from .distributed import as_runner

__all__ = ["sweep", "grid_points"]


def grid_points(grid):
    """The grid's points as dicts, in ``itertools.product`` order of its keys."""
    if not isinstance(grid, dict):
        raise TypeError(f"grid: expected a dict of name -> list of values, got "
                        f"{type(grid).__name__}")
    keys = list(grid)
    values = []
    for k in keys:
        v = grid[k]
        if isinstance(v, (str, bytes)) or not hasattr(v, "__iter__"):
            raise TypeError(f"grid[{k!r}]: expected a list of values, got {v!r}")
        v = list(v)
        if not v:
            raise ValueError(f"grid[{k!r}]: expected at least one value")
        values.append(v)
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def _row(fn, point, seed):
    result = fn(**point, seed=seed)
    if not isinstance(result, dict):
        raise TypeError(f"sweep: the experiment must return a dict, got "
                        f"{type(result).__name__} for {point} seed {seed}")
    return {**point, "seed": seed, **result}


def sweep(fn, grid, seeds=(0,), *, executor=None):
    """Run ``fn(**point, seed=s)`` for every grid point and seed; a list of row dicts.

    ``executor``: None (here, in order), a ``concurrent.futures.Executor`` or a
    ``dask.distributed.Client``.  ``fn`` must be picklable for process workers
    (a module-level function).
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable, got {type(fn).__name__}")
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds: expected at least one seed")
    tasks = [(fn, p, s) for p in grid_points(grid) for s in seeds]
    runner = as_runner(executor)
    if runner is None:
        return [_row(*t) for t in tasks]
    return runner.map(_row, tasks, what="sweep")
