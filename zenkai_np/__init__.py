"""zenkai_np: learning rules beyond backpropagation, in NumPy with C++ kernels.

* the learning-machine framework (``LearningMachine``, ``Sequential``, the
  learners) -- see ``zenkai_np.framework``.
* ``zenkai_np.fractional`` -- fractional iterates of exp (``fracexp``,
  ``fracexp_grad``; Abel and Schröder forms) and the ``FracExp`` /
  ``FracExpLinear`` neurons whose iterate order n is learned.
* ``zenkai_np.bplambda`` -- BP(λ) synthetic gradients (eligibility-trace
  kernels, RNN/LSTM learners, BPTT/TBPTT/DNI baselines).
* ``zenkai_np.moments`` -- Hermite-moment contractions and
  ``ReLUMomentRegressor`` for narrow one-hidden-layer ReLU networks.
* ``show_config()`` -- build and run-time configuration.
"""
from ._version import __version__

from . import _core  # noqa: F401  (compiled kernels; fails early if the build is missing)
from ._config import show_config
from ._simd import set_simd_path, simd_path, supported_simd_paths, use_simd_path
from . import bplambda, fractional, moments
from .bplambda import BPLambdaLSTM, BPLambdaRNN
from .fractional import FracExp, FracExpLinear, fracexp, fracexp_grad
from .moments import MomentReLULearner, ReLUMomentRegressor
from .framework import *  # noqa: F401,F403
from .framework import __all__ as _framework_all

from ._simd import _apply_environment

_apply_environment()
del _apply_environment

__all__ = [
    "BPLambdaLSTM",
    "BPLambdaRNN",
    "FracExp",
    "FracExpLinear",
    "MomentReLULearner",
    "ReLUMomentRegressor",
    "bplambda",
    "fracexp",
    "fracexp_grad",
    "fractional",
    "moments",
    "set_simd_path",
    "show_config",
    "simd_path",
    "supported_simd_paths",
    "use_simd_path",
] + list(_framework_all)
