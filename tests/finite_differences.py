"""Central finite differences shared by the gradient tests of every part."""
import numpy as np


def central_differences(f, p, eps=1e-6):
    """d f() / d p (shape of ``p``) by central differences of the scalar ``f()``.

    Perturbs each entry of ``p`` in place and restores it, so ``f`` must read ``p``.
    """
    g = np.zeros(p.shape)
    for idx in np.ndindex(p.shape):
        old = p[idx]
        p[idx] = old + eps
        fp = f()
        p[idx] = old - eps
        fm = f()
        p[idx] = old
        g[idx] = (fp - fm) / (2 * eps)
    return g
