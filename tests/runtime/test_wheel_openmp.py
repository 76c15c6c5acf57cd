"""A repaired wheel's grafted OpenMP runtime is the one in use, and threadpoolctl limits it.

Meaningful only against an installed repaired wheel (zenkai_np.libs/ next to
the package); skipped for a source-tree build, unless ZENKAI_NP_REQUIRE_WHEEL=1
(as .ci/wheel_check sets it), where a missing grafted runtime fails instead.
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
REQUIRED = os.environ.get("ZENKAI_NP_REQUIRE_WHEEL") == "1"
pytestmark = pytest.mark.skipif(not GRAFTED and not REQUIRED,
                                reason="no grafted OpenMP runtime (not a repaired wheel)")


def test_package_comes_from_the_installed_wheel():
    assert GRAFTED, f"no {LIBS}/libgomp*.so*: zenkai_np imported from {zk.__file__}"


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
