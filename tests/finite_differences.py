"""Central finite differences shared by the gradient tests of every part.

The one implementation lives in ``zenkai_np.testing`` (the contract checks use
it too); tests import it from here with the default step 1e-6.
"""
from zenkai_np.testing._arrays import central_differences as _central_differences


def central_differences(f, p, eps=1e-6):
    """d f() / d p (shape of ``p``) by central differences of the scalar ``f()``."""
    return _central_differences(f, p, eps)
