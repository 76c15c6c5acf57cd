"""Fused elementwise passes of dense layers, and one-pass optimizers (GIL released).

Design: every ``def`` here is a thin entry point that takes C-contiguous
buffers *already validated* in Python (``fusion.py``, ``optim.py``: dtype,
shapes, contiguity, writability) and runs ``nogil`` loops whose bounds are the
buffer shapes.  The arithmetic is written in the same operation order as the
NumPy formulation of ``layers.py`` / ``optim.py`` (this build has no FMA
contraction and no fast-math), so the results are bitwise equal to NumPy's.
The GEMMs around these passes stay NumPy's (see ``fusion.py`` for why).
Compiled without target attributes: one (x86-64 baseline, SSE2) path,
whatever ``use_simd_path`` says.

Activation codes: 0 identity, 1 tanh, 2 sigmoid, 3 ReLU, 4 leaky ReLU.  tanh
itself is NumPy's (SIMD, called by the Python wrapper between the passes):
glibc's scalar ``tanh`` would be several times slower than NumPy's here.
"""
from cython cimport floating
from libc.math cimport sqrt, sqrtf


ACT_IDENTITY, ACT_TANH, ACT_SIGMOID, ACT_RELU, ACT_LEAKY = 0, 1, 2, 3, 4


cdef void _bias_act(floating *a, const floating *b, floating *y, Py_ssize_t n,
                    Py_ssize_t f, int act, floating slope) noexcept nogil:
    """a (n, f) += b; then y = act(a) for identity/ReLU/leaky, y = a * 0.5 for sigmoid."""
    cdef Py_ssize_t i, j
    cdef floating v
    cdef floating *ar
    cdef floating *yr
    for i in range(n):
        ar = a + i * f
        yr = y + i * f
        if b != NULL:
            for j in range(f):
                ar[j] = ar[j] + b[j]
        if act == 3:
            for j in range(f):
                v = ar[j]
                yr[j] = v if (v > 0 or v != v) else 0     # np.maximum(v, 0)
        elif act == 4:
            for j in range(f):
                v = ar[j]
                yr[j] = v if v > 0 else v * slope         # np.where(v > 0, v, v*slope)
        elif act == 2:
            for j in range(f):
                yr[j] = ar[j] * <floating> 0.5


cdef void _act_grad(const floating *gy, const floating *a, const floating *y,
                    floating *gz, Py_ssize_t n, int act, floating slope) noexcept nogil:
    """gz = gy * act'(a) over n elements (NumPy's operation order; gz may be gy)."""
    cdef Py_ssize_t i
    cdef floating one = 1        # typed: Cython writes a bare 1 as the double 1.0
    if act == 1:
        for i in range(n):
            gz[i] = (one - y[i] * y[i]) * gy[i]
    elif act == 2:
        for i in range(n):
            gz[i] = ((one - y[i]) * y[i]) * gy[i]
    elif act == 3:
        for i in range(n):
            gz[i] = gy[i] * <floating> (a[i] > 0)
    elif act == 4:
        for i in range(n):
            gz[i] = gy[i] if a[i] > 0 else gy[i] * slope
    elif gz != gy:
        for i in range(n):
            gz[i] = gy[i]


def bias_act(floating[:, ::1] a, const floating[::1] b, floating[:, ::1] y, int act,
             double slope):
    """In place: ``a += b`` (``b`` may be None); ``y = act(a)`` (see module doc)."""
    cdef const floating *bp = NULL if b is None else &b[0]
    with nogil:
        _bias_act(&a[0, 0], bp, &y[0, 0], a.shape[0], a.shape[1], act, <floating> slope)


def sigmoid_finish(floating[:, ::1] y):
    """In place ``y = (y + 1) * 0.5`` (after ``y = tanh(a * 0.5)``)."""
    cdef Py_ssize_t i, n = y.shape[0] * y.shape[1]
    cdef floating *p = &y[0, 0]
    cdef floating one = 1, half = 0.5
    with nogil:
        for i in range(n):
            p[i] = (p[i] + one) * half


def act_grad(const floating[:, ::1] gy, const floating[:, ::1] a,
             const floating[:, ::1] y, floating[:, ::1] gz, int act, double slope):
    """``gz = gy * act'(a)`` elementwise (``gz`` may be ``gy``)."""
    with nogil:
        _act_grad(&gy[0, 0], &a[0, 0], &y[0, 0], &gz[0, 0],
                  gy.shape[0] * gy.shape[1], act, <floating> slope)


def sgd_step(floating[::1] p, const floating[::1] g, floating[::1] buf, double lr,
             double momentum, double weight_decay, bint nesterov):
    """One fused SGD pass, as ``optim.SGD`` (PyTorch convention).

    ``g' = g + wd p``; ``buf = mu buf + g'``; ``d = g' + mu buf`` (Nesterov) or
    ``buf``; ``p -= lr d``.  ``buf`` is only touched when ``momentum != 0``.
    """
    cdef Py_ssize_t i, n = p.shape[0]
    cdef floating lr_ = <floating> lr, mu = <floating> momentum
    cdef floating wd = <floating> weight_decay
    cdef floating gi
    cdef bint use_wd = weight_decay != 0, use_mu = momentum != 0
    with nogil:
        if not use_wd and not use_mu:
            for i in range(n):
                p[i] = p[i] - g[i] * lr_
        else:
            for i in range(n):
                gi = g[i]
                if use_wd:
                    gi = p[i] * wd + gi
                if use_mu:
                    buf[i] = buf[i] * mu + gi
                    gi = buf[i] * mu + gi if nesterov else buf[i]
                p[i] = p[i] - gi * lr_


def adam_step(floating[::1] p, const floating[::1] g, floating[::1] m, floating[::1] v,
              double lr, double beta1, double beta2, double eps, double weight_decay,
              long t):
    """One fused Adam pass (bias-corrected), operation order of ``optim.Adam``.

    ``m = b1 m + (1-b1) g``; ``v = b2 v + (1-b2) g^2``;
    ``p -= (lr/c1) * m / (sqrt(v / c2) + eps)``, ``c_k = 1 - b_k^t``.
    """
    cdef Py_ssize_t i, n = p.shape[0]
    cdef double c1 = 1 - beta1 ** t, c2 = 1 - beta2 ** t
    cdef floating b1 = <floating> beta1, b2 = <floating> beta2
    cdef floating omb1 = <floating> (1 - beta1), omb2 = <floating> (1 - beta2)
    cdef floating ic2 = <floating> (1.0 / c2), step = <floating> (lr / c1)
    cdef floating e = <floating> eps, wd = <floating> weight_decay
    cdef floating gi, mi, vi, s
    cdef bint use_wd = weight_decay != 0
    with nogil:
        for i in range(n):
            gi = g[i]
            if use_wd:
                gi = gi + wd * p[i]
            mi = m[i] * b1 + gi * omb1
            vi = v[i] * b2 + (gi * gi) * omb2
            m[i] = mi
            v[i] = vi
            if floating is float:
                s = sqrtf(vi * ic2) + e
            else:
                s = sqrt(vi * ic2) + e
            p[i] = p[i] - (mi / s) * step
