"""Save and load a machine's parameters and optimizer state to ``.npz`` (no pickle).

The file holds one array per entry of ``machine.state_dict()`` plus a format
marker.  Loading copies the arrays into the existing machine in place (the
architecture comes from code, not from the file), checking every key, shape
and dtype; a round trip reproduces predictions bit for bit.  Random-number
generator states of stochastic learners are not saved.
"""
from __future__ import annotations

import os

import numpy as np

from .machine import LearningMachine

__all__ = ["save", "load"]

_FORMAT_KEY = "__zenkai_np_format__"
_FORMAT = "zenkai_np.framework/1"


def save(machine, path):
    """Write ``machine.state_dict()`` to ``path`` (``.npz``); returns the path."""
    if not isinstance(machine, LearningMachine):
        raise TypeError(f"machine must be a LearningMachine, got {type(machine).__name__}")
    d = machine.state_dict()
    for k, v in d.items():
        if v.dtype == object:
            raise TypeError(f"state entry {k!r} is an object array (would need pickle)")
    if _FORMAT_KEY in d:
        raise ValueError(f"reserved key {_FORMAT_KEY!r} in state dict")
    d[_FORMAT_KEY] = np.array(_FORMAT)
    path = os.fspath(path)
    np.savez(path, **d)
    if not path.endswith(".npz"):
        path += ".npz"
    return path


def load(machine, path, strict=True):
    """Load a file written by :func:`save` into ``machine`` (in place); returns it.

    ``strict``: the file may not hold keys the machine does not have.
    """
    if not isinstance(machine, LearningMachine):
        raise TypeError(f"machine must be a LearningMachine, got {type(machine).__name__}")
    with np.load(os.fspath(path), allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    fmt = d.pop(_FORMAT_KEY, None)
    if fmt is None or str(fmt) != _FORMAT:
        raise ValueError(f"{path!s} is not a zenkai_np framework file (format {fmt!r})")
    if strict:
        extra = set(d) - set(machine._state_items())
        if extra:
            raise ValueError(f"file has keys the machine does not: {sorted(extra)[:5]}")
    machine.load_state_dict(d)
    return machine
