"""Learning rules, each a LearningMachine."""
from .grad import FALearner, GradLearner, bind_optimizer

__all__ = ["GradLearner", "FALearner", "bind_optimizer"]
