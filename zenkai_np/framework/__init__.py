"""The learning-machine framework: Zenkai's capabilities in NumPy.

The protocol and how to write a new layer or learner in a few lines:
docs/framework.md.
"""
from . import (containers, defaults, io, layers, learners, losses, machine, optim,  # noqa: F401
               run, state, train)
from .containers import *  # noqa: F401,F403
from .defaults import *  # noqa: F401,F403
from .io import *  # noqa: F401,F403
from .layers import *  # noqa: F401,F403
from .learners import *  # noqa: F401,F403
from .losses import *  # noqa: F401,F403
from .machine import *  # noqa: F401,F403
from .state import *  # noqa: F401,F403
from .optim import *  # noqa: F401,F403
from .train import *  # noqa: F401,F403

__all__ = (containers.__all__ + defaults.__all__ + io.__all__ + layers.__all__ + learners.__all__
           + losses.__all__ + machine.__all__ + state.__all__ + optim.__all__
           + train.__all__)
