"""Build script: pybind11 extensions with run-time SIMD dispatch and OpenMP.

The build never tunes for the build machine's CPU (the wheel must run on any
x86-64 CPU: SIMD paths are chosen at run time) and never enables fast-math
(at link time that turns on flush-to-zero for the whole Python process).

Modules compile in parallel (one module per job), one job per CPU core;
ZENKAI_NP_BUILD_JOBS=N sets the number of jobs (also for `pip install .`,
which passes no -j; `setup.py build_ext -j N` overrides it). On Linux every
module is kept loadable on glibc 2.28 (manylinux_2_28) even when built against
a newer glibc:
csrc/common/manylinux_compat.hpp is force-included and manylinux_compat.cpp linked in.
"""
import glob
import os
import sys

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import Extension, setup


def build_jobs():
    """Parallel build jobs: ZENKAI_NP_BUILD_JOBS, else the number of usable cores."""
    value = os.environ.get("ZENKAI_NP_BUILD_JOBS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise SystemExit(f"ZENKAI_NP_BUILD_JOBS must be a positive integer, got {value!r}")
        return int(value)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class parallel_build_ext(build_ext):
    """pybind11's build_ext, building the extension modules in parallel threads.

    Each module is one large translation unit, so parallelism across modules
    (setuptools' ``build_ext --parallel``) is what shortens the build; by default
    it uses build_jobs() workers.
    """

    def finalize_options(self):
        if not self.parallel:
            self.parallel = build_jobs()
        super().finalize_options()
        if self.parallel == 1:
            self.parallel = None  # serial

if sys.platform == "darwin":
    OPENMP_COMPILE, OPENMP_LINK = ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
else:
    OPENMP_COMPILE, OPENMP_LINK = ["-fopenmp"], ["-fopenmp"]

COMPILE_FLAGS = ["-O3", "-fno-math-errno", "-Wno-psabi"] + OPENMP_COMPILE
BUILD_FLAGS = " ".join(COMPILE_FLAGS)

if sys.platform.startswith("linux"):
    COMPAT_FLAGS = ["-include", "csrc/common/manylinux_compat.hpp"]
    COMPAT_SOURCES = ["csrc/common/manylinux_compat.cpp"]
else:
    COMPAT_FLAGS, COMPAT_SOURCES = [], []


def extension(name, sources, **kwargs):
    """One compiled module of the package, built with the project's flags."""
    return Pybind11Extension(
        name,
        list(sources) + COMPAT_SOURCES,
        include_dirs=["csrc"],
        # Kernels live in headers: rebuild when any of them changes.
        depends=sorted(glob.glob("csrc/**/*.hpp", recursive=True)
                       + glob.glob("csrc/**/*.inc", recursive=True)),
        cxx_std=17,
        extra_compile_args=COMPILE_FLAGS + COMPAT_FLAGS + kwargs.pop("extra_compile_args", []),
        extra_link_args=OPENMP_LINK + kwargs.pop("extra_link_args", []),
        define_macros=[("ZK_BUILD_FLAGS", '"%s"' % BUILD_FLAGS)]
        + kwargs.pop("define_macros", []),
        **kwargs,
    )


def cython_extension(name, **kwargs):
    """One Cython module (``zenkai_np/<...>.pyx``), same flags and OpenMP runtime as C++.

    C, not C++: gcc's ``-fopenmp`` links the same libgomp as the pybind11 modules.
    No target attributes: the compiled code is one path (x86-64 baseline).
    """
    return Extension(
        name,
        [name.replace(".", "/") + ".pyx"],
        extra_compile_args=COMPILE_FLAGS + kwargs.pop("extra_compile_args", []),
        extra_link_args=OPENMP_LINK + kwargs.pop("extra_link_args", []),
        **kwargs,
    )


CYTHON_MODULES = ["zenkai_np._blas", "zenkai_np.framework._population",
                  "zenkai_np.bplambda._sequence", "zenkai_np.bplambda._lstm_sequence"]
CYTHON_DIRECTIVES = {"language_level": 3, "boundscheck": False, "wraparound": False,
                     "cdivision": True, "initializedcheck": False, "nonecheck": False}


def cython_modules():
    from Cython.Build import cythonize  # build-time requirement (pyproject.toml)
    return cythonize([cython_extension(m) for m in CYTHON_MODULES],
                     compiler_directives=CYTHON_DIRECTIVES, include_path=["."],
                     nthreads=build_jobs() if build_jobs() > 1 else 0)


# Longest compile first (the parallel build starts them in this order).
ext_modules = [
    extension("zenkai_np._fractional", ["csrc/bindings/_fractional.cpp"]),
    extension("zenkai_np._build_info", ["csrc/bindings/_build_info.cpp"]),
    extension("zenkai_np._bplambda", ["csrc/bindings/_bplambda.cpp"]),
    extension("zenkai_np._moments", ["csrc/bindings/_moments.cpp"]),
    # No FMA contraction (GCC contracts by default in C++, even with -std=c++17):
    # the framework's passes keep NumPy's roundings, bitwise (csrc/framework/dense.hpp).
    extension("zenkai_np._framework", ["csrc/bindings/_framework.cpp"],
              extra_compile_args=["-ffp-contract=off"]),
]

ext_modules += cython_modules()

setup(ext_modules=ext_modules, cmdclass={"build_ext": parallel_build_ext})
