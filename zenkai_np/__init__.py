"""zenkai_np: learning rules beyond backpropagation, in NumPy with C++ kernels.

* ``zenkai_np.framework`` -- the learning-machine framework (``LearningMachine``,
  ``Sequential``, layers, learners, losses, optimizers, ``fit``); its public
  names are also exported here.
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

try:
    from . import _build_info  # noqa: F401  (compiled; fails early if the build is missing)
except ImportError:  # pragma: no cover - depends on how the package was obtained
    import os as _os
    _here = _os.path.dirname(_os.path.abspath(__file__))
    if _os.path.exists(_os.path.join(_os.path.dirname(_here), "setup.py")):
        raise ImportError(
            f"zenkai_np is being imported from its source tree ({_here}), whose compiled "
            "modules are not built. Either install it (pip install .) and run from another "
            "directory or use the console scripts (zenkai-np-tour, zenkai-np-bench, "
            "zenkai-np-example), or build in place with "
            "`python setup.py build_ext --inplace`.") from None
    raise

from ._config import show_config
from ._blas_choice import kernel_blas, set_kernel_blas
from ._simd import set_simd_path, simd_path, supported_simd_paths, use_simd_path
from . import bplambda, fractional, framework, moments
from .bplambda import BPLambdaLSTM, BPLambdaRNN
from .fractional import FracExp, FracExpLinear, fracexp, fracexp_grad
from .moments import MomentReLULearner, ReLUMomentRegressor
from .framework import (
    SGD, Adam, ArgmaxSTE, Chain, CrossEntropyLoss, DFALearner, DTPLearner, EnsembleLearner,
    ESLearner, FALearner, GALearner, Graph, GradLearner, HillClimbLearner, History, Identity,
    Layer, LeakyReLU, LearningMachine, LeastSquaresLearner, Linear, LMode, Loss, Mean,
    MSELoss, Optimizer, ReLU, Sequential, Sigmoid, Sign, SklearnLearner, Softmax, State,
    Step, StopTraining, Tanh, TPLearner, accuracy, default_dtype, evaluate, fit, load, save,
    AlignmentCallback, AvgPool2d, Conv2d, DRTPLearner, Flatten, KPLearner, MaxPool2d,
    SignSymmetryLearner, Unflatten, alignment, angle_between)

from ._simd import _apply_environment
from ._blas_choice import _apply_environment as _apply_blas_environment

_apply_environment()
_apply_blas_environment()
del _apply_environment, _apply_blas_environment

__all__ = [
    "__version__",
    # parts
    "bplambda", "fractional", "framework", "moments",
    # configuration
    "show_config", "set_simd_path", "simd_path", "supported_simd_paths", "use_simd_path",
    "kernel_blas", "set_kernel_blas",
    # framework: machines, containers, training
    "LearningMachine", "State", "LMode", "Sequential", "Graph", "fit", "evaluate", "accuracy",
    "History",
    "StopTraining", "save", "load", "default_dtype",
    # framework: layers
    "Layer", "Linear", "Identity", "Tanh", "Sigmoid", "ReLU", "LeakyReLU", "Softmax", "Sign",
    "Step", "ArgmaxSTE", "Chain", "Mean", "Conv2d", "MaxPool2d", "AvgPool2d", "Flatten",
    "Unflatten",
    # framework: learners
    "GradLearner", "FALearner", "DFALearner", "TPLearner", "DTPLearner", "LeastSquaresLearner",
    "HillClimbLearner", "ESLearner", "GALearner", "SklearnLearner", "EnsembleLearner",
    "KPLearner", "SignSymmetryLearner", "DRTPLearner",
    # framework: instruments
    "alignment", "angle_between", "AlignmentCallback",
    # framework: losses and optimizers
    "Loss", "MSELoss", "CrossEntropyLoss", "Optimizer", "SGD", "Adam",
    # the other parts' entry points
    "FracExp", "FracExpLinear", "fracexp", "fracexp_grad",
    "BPLambdaRNN", "BPLambdaLSTM",
    "ReLUMomentRegressor", "MomentReLULearner",
]
