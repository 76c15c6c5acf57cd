"""A repaired wheel's grafted OpenMP runtime is the one in use, and threadpoolctl limits it.

Meaningful only against an installed repaired wheel (zenkai_np.libs/ next to
the package, as .ci/run tests it); skipped for a source-tree build.
"""
import glob
import os

import numpy as np
import pytest

import zenkai_np as zk
from zenkai_np import _build_info

threadpoolctl = pytest.importorskip("threadpoolctl")

SITE = os.path.dirname(os.path.dirname(os.path.abspath(zk.__file__)))
LIBS = os.path.join(SITE, "zenkai_np.libs")
GRAFTED = sorted(glob.glob(os.path.join(LIBS, "libgomp*.so*")))
pytestmark = pytest.mark.skipif(not GRAFTED,
                                reason="no grafted OpenMP runtime (not a repaired wheel)")


def _our_openmp():
    return [d for d in threadpoolctl.threadpool_info()
            if d["user_api"] == "openmp" and os.path.dirname(os.path.realpath(d["filepath"]))
            == os.path.realpath(LIBS)]


def test_one_grafted_runtime_is_loaded_and_seen():
    assert len(GRAFTED) == 1
    seen = _our_openmp()
    assert len(seen) == 1
    assert os.path.realpath(seen[0]["filepath"]) == os.path.realpath(GRAFTED[0])


def test_threadpool_limits_reaches_the_kernels():
    x = np.linspace(-3, 3, 200_000)
    want = zk.fracexp(x, 0.5, n_threads=1)
    with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
        assert _build_info.omp_max_threads() == 1
        assert _our_openmp()[0]["num_threads"] == 1
        np.testing.assert_array_equal(zk.fracexp(x, 0.5), want)
    assert _build_info.omp_max_threads() == _our_openmp()[0]["num_threads"]
