"""zenkai_np: learning rules beyond backpropagation, in NumPy with C++ kernels.

* ``zenkai_np.fracexp`` / ``fracexp_grad`` -- fractional iterates of exp
  (compiled, SIMD + OpenMP).
* the learning-machine framework (``LearningMachine``, ``Sequential``, the
  learners) -- see ``zenkai_np.framework``.
* ``show_config()`` -- build and run-time configuration.
"""
__version__ = "0.1.0"

from . import _core  # noqa: F401  (compiled kernels; fails early if the build is missing)
from ._config import show_config
from ._simd import set_simd_path, simd_path, supported_simd_paths, use_simd_path
from .fractional import fracexp, fracexp_grad
from .framework import *  # noqa: F401,F403
from .framework import __all__ as _framework_all

from ._simd import _apply_environment

_apply_environment()
del _apply_environment

__all__ = [
    "fracexp",
    "fracexp_grad",
    "set_simd_path",
    "show_config",
    "simd_path",
    "supported_simd_paths",
    "use_simd_path",
] + list(_framework_all)
