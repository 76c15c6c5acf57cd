"""Build/runtime plumbing: configuration, SIMD selection, threads, fork safety, validation."""
import multiprocessing
import os
import subprocess
import sys

import numpy as np
import pytest

import zenkai_np as zk
from zenkai_np._threads import resolve_n_threads
from zenkai_np._validation import as_float_array, check_random_state


def test_show_config_reports_build_and_runtime(capsys):
    info = zk.show_config()
    assert capsys.readouterr().out == ""
    for key in ("zenkai_np", "compiler", "build_flags", "openmp", "openmp_max_threads",
                "simd_path", "simd_supported"):
        assert key in info
    assert info["simd_path"] in info["simd_supported"]
    assert "-march=native" not in info["build_flags"]
    assert "fast-math" not in info["build_flags"]
    zk.show_config(display=True)
    assert "simd_path" in capsys.readouterr().out


def test_blas_hint_names_avx2_openblas_on_an_avx512_cpu():
    from zenkai_np._config import blas_hint
    haswell = [{"internal_api": "openblas", "architecture": "Haswell"},
               {"internal_api": "openmp"}]
    skx = [{"internal_api": "openblas", "architecture": "SkylakeX"}]
    assert "OPENBLAS_CORETYPE=SkylakeX" in blas_hint(haswell, ["baseline", "v3", "v4"])
    assert "OPENBLAS_CORETYPE" in blas_hint([{"internal_api": "openblas", "architecture": "Zen"}],
                                            ["v4"])
    assert blas_hint(haswell, ["baseline", "v3"]) is None      # an AVX2 CPU: nothing better
    assert blas_hint(skx, ["baseline", "v3", "v4"]) is None    # already AVX-512 kernels
    assert blas_hint("unknown (install threadpoolctl)", ["v4"]) is None
    assert blas_hint([{"internal_api": "mkl"}], ["v4"]) is None
    # what this machine reports agrees with its own BLAS and CPU
    info = zk.show_config()
    assert info["blas_hint"] == blas_hint(info["blas"], info["simd_supported"])


def test_show_config_names_the_cpu():
    cpu = zk.show_config()["cpu"]
    assert isinstance(cpu, str) and cpu
    if os.path.exists("/proc/cpuinfo"):
        text = open("/proc/cpuinfo").read()
        first = dict(line.split(":", 1) for line in text.split("\n\n")[0].splitlines()
                     if ":" in line)
        first = {k.strip(): v.strip() for k, v in first.items()}
        if "model name" in first:
            assert cpu.startswith(first["model name"])
        if "cpu family" in first and "model" in first:
            assert cpu.endswith(f"(family {first['cpu family']} model {first['model']})")


def _subnormal(dtype, k):
    """The subnormal k * 2**-1074 (float64) or k * 2**-149 (float32), built from its bits."""
    ints = np.uint64 if dtype == np.float64 else np.uint32
    return np.array([k], ints).view(dtype)


def test_subnormals_survive_import_and_kernels():
    # -ffast-math at link time (crtfastmath.o) turns on flush-to-zero and
    # denormals-are-zero for the whole process when a compiled module is loaded.
    # Under DAZ a subnormal compares equal to 0, so compare bit patterns: halving the
    # subnormal 16 * 2**-1074 gives exactly 8 * 2**-1074 (FTZ/DAZ give 0).
    # Seen failing: with a tiny extension module linked with -ffast-math placed beside
    # the package's (gcc -shared -fPIC -ffast-math), this test stops at "NumPy flushes"
    # (0 == 8); the older `tiny * 1.0 == tiny` comparison passed there.
    import importlib
    import importlib.machinery

    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    compiled = sorted({f.split(".")[0] for f in os.listdir(zk.__path__[0])
                       if f.endswith(suffixes)})
    assert compiled, "no compiled module found next to zenkai_np/__init__.py"
    for name in compiled:
        importlib.import_module(f"zenkai_np.{name}")
    from zenkai_np.bplambda import trace_contract

    for dtype, bits in ((np.float64, np.uint64), (np.float32, np.uint32)):
        tiny, half = _subnormal(dtype, 16), _subnormal(dtype, 8)
        assert (tiny * dtype(0.5)).view(bits)[0] == half.view(bits)[0], "NumPy flushes"
        # the same inside two compiled kernels (exp^(0) is the identity on [0, 1))
        assert zk.fracexp(half, dtype(0)).view(bits)[0] == half.view(bits)[0], "fracexp"
        E = np.full((1, 1, 1, 1), tiny[0], dtype)
        got = trace_contract(E, np.full((1, 1), 0.5, dtype))
        assert got.view(bits)[0, 0] == half.view(bits)[0], "trace_contract"


def test_set_simd_path_rejects_unknown_and_restores():
    before = zk.simd_path()
    with pytest.raises(ValueError, match="unknown SIMD path"):
        zk.set_simd_path("avx9000")
    with pytest.raises(TypeError):
        zk.set_simd_path(3)
    for path in zk.supported_simd_paths():
        with zk.use_simd_path(path):
            assert zk.simd_path() == path
    assert zk.simd_path() == before


def test_environment_override_selects_path_and_bad_value_is_clear(tmp_path):
    # Run outside the source tree so the installed package is imported.
    code = "import zenkai_np as z; print(z.simd_path())"
    env = dict(os.environ, ZENKAI_NP_SIMD="baseline")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "baseline"
    env["ZENKAI_NP_SIMD"] = "v9"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode != 0
    assert "ZENKAI_NP_SIMD" in out.stderr and "unknown SIMD path" in out.stderr


def test_n_threads_rules():
    assert resolve_n_threads(3) == 3
    assert resolve_n_threads(None) >= 1
    assert resolve_n_threads(-1) == (len(os.sched_getaffinity(0)))
    assert resolve_n_threads(-1000) == 1
    with pytest.raises(ValueError, match="n_threads"):
        resolve_n_threads(0)
    for bad in (1.0, "2", True):
        with pytest.raises(TypeError, match="n_threads"):
            resolve_n_threads(bad)


def test_n_threads_none_reads_openmp_setting_at_call_time():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
        assert resolve_n_threads(None) == 1


def _child_runs_kernel(queue):
    x = np.random.default_rng(0).standard_normal(200_000)
    queue.put(float(zk.fracexp(x, 0.5).sum()))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_of_multithreaded_parent_does_not_hang():
    x = np.random.default_rng(0).standard_normal(200_000)
    expected = float(zk.fracexp(x, 0.5, n_threads=2).sum())  # parent starts a team
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_runs_kernel, args=(queue,))
    child.start()
    child.join(timeout=120)
    if child.is_alive():
        child.kill()
        pytest.fail("forked child hung in the kernel")
    assert child.exitcode == 0
    assert queue.get(timeout=10) == expected


def test_validation_dtype_rules():
    assert as_float_array([1, 2], "a").dtype == np.float64
    assert as_float_array(np.ones(2, np.float32), "a").dtype == np.float32
    assert as_float_array(np.ones(2, np.float16), "a").dtype == np.float64
    assert as_float_array(np.array(True), "a").ndim == 0
    with pytest.raises(TypeError, match="a: expected a real array"):
        as_float_array(np.ones(2, complex), "a")
    with pytest.raises(TypeError, match="a: expected a numeric array"):
        as_float_array(np.array(["x"]), "a")
    with pytest.raises(ValueError, match="a: expected a 2D array, got 1D"):
        as_float_array(np.ones(3), "a", ndim=2)
    with pytest.raises(ValueError, match="a: expected a non-empty"):
        as_float_array(np.ones((0, 2)), "a", allow_empty=False)
    with pytest.raises(ValueError, match="a: contains NaN"):
        as_float_array([1.0, np.nan], "a", finite=True)
    with pytest.raises(ValueError, match="a: contains inf"):
        as_float_array([1.0, np.inf], "a", finite=True)


def test_check_random_state():
    g = np.random.default_rng(3)
    assert check_random_state(g) is g
    assert check_random_state(5).random() == np.random.default_rng(5).random()
    with pytest.raises(TypeError, match="rng"):
        check_random_state("seed")


def test_unbuilt_source_tree_says_what_to_do(tmp_path):
    """A checkout without compiled modules fails with advice, not a circular-import riddle."""
    import shutil
    pkg = tmp_path / "zenkai_np"
    pkg.mkdir()
    here = os.path.dirname(zk.__file__)
    for name in ("__init__.py", "_version.py"):
        shutil.copy(os.path.join(here, name), pkg / name)
    (tmp_path / "setup.py").write_text("")
    out = subprocess.run([sys.executable, "-c", "import zenkai_np"], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path,
                         env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "source tree" in last and "build_ext --inplace" in last, last
    assert "circular" not in last, last
