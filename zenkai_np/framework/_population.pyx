"""Population forward of a dense layer, members in parallel (``prange``, GIL released).

``forward``: ``out[p] = x_p @ W[p] + b[p]`` for every member ``p`` (``x_p`` is
the shared ``x`` or member ``p``'s rows).  The local losses without the
outputs are ``_framework.population_losses`` (``csrc/framework/population.hpp``).
Each member is computed start to finish by one thread with the kernels'
BLAS (single-threaded at these sizes: OpenBLAS runs GEMMs below
m*n*k = 262144 on the calling thread), so results are identical for any
thread count; members are handed out dynamically (on a VM one vCPU is often
slowed, and the other then takes more members).  Callers validate shapes,
dtypes, contiguity in Python (``population_kernel.py``).  With one thread no
OpenMP region is entered.
Compiled without target attributes: one (x86-64 baseline) path.
"""
from cython cimport floating
from cython.parallel cimport parallel, prange

from zenkai_np._blas cimport gemm_rm


cdef void _member(const floating *x, const floating *W, const floating *b, floating *y,
                  int N, int n_in, int n_out) noexcept nogil:
    cdef Py_ssize_t i, j
    gemm_rm(0, 0, N, n_out, n_in, <floating> 1, x, n_in, W, n_out, <floating> 0, y, n_out)
    if b != NULL:
        for i in range(N):
            for j in range(n_out):
                y[i * n_out + j] = y[i * n_out + j] + b[j]


def forward(const floating[:, ::1] x, bint per_member, const floating[:, :, ::1] W,
            const floating[:, ::1] b, floating[:, :, ::1] out, int n_threads):
    """``out (P, N, n_out) = x_p @ W[p] + b[p]``; ``x`` is (N, n_in) shared or
    (P*N, n_in) per member; ``W`` (P, n_in, n_out); ``b`` (P, n_out) or None."""
    cdef int P = W.shape[0], n_in = W.shape[1], n_out = W.shape[2], N = out.shape[1]
    cdef Py_ssize_t p, xstep = <Py_ssize_t> N * n_in if per_member else 0
    cdef const floating *bp = NULL if b is None else &b[0, 0]
    cdef const floating *xp = &x[0, 0]
    if n_threads == 1:
        with nogil:
            for p in range(P):
                _member(xp + p * xstep, &W[p, 0, 0], NULL if bp == NULL else bp + p * n_out,
                        &out[p, 0, 0], N, n_in, n_out)
        return
    with nogil, parallel(num_threads=n_threads):
        for p in prange(P, schedule="dynamic", chunksize=2):
            _member(xp + p * xstep, &W[p, 0, 0], NULL if bp == NULL else bp + p * n_out,
                    &out[p, 0, 0], N, n_in, n_out)

