# Typed BLAS for zenkai_np's Cython kernels (float and double): the kernels' BLAS choice,
# NumPy's bundled OpenBLAS or SciPy's cython_blas (see _blas.pyx).
#
# Row-major (C-contiguous) matrices throughout: a row-major ``C = op(A) op(B)``
# is the column-major ``C^T = op(B)^T op(A)^T``, so the wrappers swap the
# operands (and m/n) instead of transposing anything.  All functions are
# ``nogil`` and do no validation: callers check shapes, dtypes and contiguity
# in Python first.  ``trans_*`` is 0 (as is) or 1 (transposed).
from cython cimport floating

cdef void gemm_rm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                  const floating *A, int lda, const floating *B, int ldb,
                  floating beta, floating *C, int ldc) noexcept nogil
cdef void gemv_rm(bint trans_a, int m, int n, floating alpha, const floating *A,
                  int lda, const floating *x, floating beta, floating *y) noexcept nogil
cdef void axpy(int n, floating alpha, const floating *x, floating *y) noexcept nogil
cdef floating dot(int n, const floating *x, const floating *y) noexcept nogil
