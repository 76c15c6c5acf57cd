"""Learning rules, each a LearningMachine."""
from .ensemble import EnsembleLearner
from .drtp import DRTPLearner
from .feedback_alignment import DFALearner, FALearner
from .grad import GradLearner, bind_optimizer
from .kolen_pollack import KPLearner
from .least_squares import LeastSquaresLearner, ridge_solve
from .population import (ESLearner, GALearner, HillClimbLearner, hill_climb_x,
                         population_losses)
from .sign_symmetry import SignSymmetryLearner
from .sklearn_learner import SklearnLearner
from .target_prop import DTPLearner, TPLearner

__all__ = ["GradLearner", "FALearner", "DFALearner", "TPLearner", "DTPLearner",
           "LeastSquaresLearner", "HillClimbLearner", "ESLearner", "GALearner",
           "SklearnLearner", "EnsembleLearner", "hill_climb_x", "population_losses",
           "ridge_solve", "bind_optimizer", "KPLearner", "SignSymmetryLearner",
           "DRTPLearner"]
