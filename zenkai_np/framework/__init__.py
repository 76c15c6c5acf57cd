"""The learning-machine framework: Zenkai's capabilities in NumPy.

The protocol and how to write a new layer or learner in a few lines:
docs/framework.md.
"""
from . import (alignment_metrics, containers, conv, defaults, io, layers, learners, losses,  # noqa: F401
               machine, optim, run, state, train)
from .alignment_metrics import *  # noqa: F401,F403
from .containers import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .defaults import *  # noqa: F401,F403
from .io import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .learners import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .machine import *  # noqa: F401,F403
from .state import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
from .train import *  # noqa: F401,F403

__all__ = (alignment_metrics.__all__ + conv.__all__ + containers.__all__ + defaults.__all__
           + io.__all__ + layers.__all__ + learners.__all__ + losses.__all__ + machine.__all__
           + state.__all__ + optim.__all__ + train.__all__)
