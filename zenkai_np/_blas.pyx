"""Typed BLAS layer over ``scipy.linalg.cython_blas`` (see ``_blas.pxd``).

``gemm_rm``: ``C (m, n) = alpha * op(A) @ op(B) + beta * C``, row-major, where
``op(A)`` is ``(m, k)`` and ``op(B)`` is ``(k, n)``; ``lda``/``ldb``/``ldc`` are
row strides in elements.  ``gemv_rm``: ``y = alpha * op(A) @ x + beta * y`` with
``A`` row-major ``(m, n)`` (``op(A) @ x`` has ``m`` entries, or ``n`` when
transposed).  ``axpy``: ``y += alpha * x``; ``dot``: ``sum(x * y)`` (unit strides).

The Python-level ``_gemm`` is for tests only (it checks nothing beyond shapes).
"""
from cython cimport floating
from scipy.linalg.cython_blas cimport (daxpy, ddot, dgemm, dgemv, saxpy, sdot, sgemm,
                                       sgemv)


cdef void gemm_rm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                  const floating *A, int lda, const floating *B, int ldb,
                  floating beta, floating *C, int ldc) noexcept nogil:
    # column-major view: C^T (n, m) = op(B)^T (n, k) @ op(A)^T (k, m)
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *> B, &ldb, <float *> A, &lda,
              &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *> B, &ldb, <double *> A, &lda,
              &beta, C, &ldc)


cdef void gemv_rm(bint trans_a, int m, int n, floating alpha, const floating *A,
                  int lda, const floating *x, floating beta, floating *y) noexcept nogil:
    # row-major A (m, n) is column-major A^T (n, m): flip the transpose flag
    cdef char t = b'N' if trans_a else b'T'
    cdef int one = 1
    if floating is float:
        sgemv(&t, &n, &m, &alpha, <float *> A, &lda, <float *> x, &one, &beta, y, &one)
    else:
        dgemv(&t, &n, &m, &alpha, <double *> A, &lda, <double *> x, &one, &beta, y, &one)


cdef void axpy(int n, floating alpha, const floating *x, floating *y) noexcept nogil:
    cdef int one = 1
    if floating is float:
        saxpy(&n, &alpha, <float *> x, &one, y, &one)
    else:
        daxpy(&n, &alpha, <double *> x, &one, y, &one)


cdef floating dot(int n, const floating *x, const floating *y) noexcept nogil:
    cdef int one = 1
    if floating is float:
        return sdot(&n, <float *> x, &one, <float *> y, &one)
    else:
        return ddot(&n, <double *> x, &one, <double *> y, &one)


def _gemm(floating[:, ::1] A, floating[:, ::1] B, floating[:, ::1] C, bint trans_a,
          bint trans_b, double alpha=1.0, double beta=0.0):
    """Test hook: ``C = alpha op(A) op(B) + beta C`` in place (C-contiguous arrays)."""
    cdef int m = C.shape[0], n = C.shape[1]
    cdef int k = A.shape[0] if trans_a else A.shape[1]
    if (A.shape[1] if trans_a else A.shape[0]) != m or \
            (B.shape[1] if trans_b else B.shape[0]) != k or \
            (B.shape[0] if trans_b else B.shape[1]) != n:
        raise ValueError("_gemm: shapes do not match")
    with nogil:
        gemm_rm(trans_a, trans_b, m, n, k, <floating> alpha, &A[0, 0], A.shape[1],
                &B[0, 0], B.shape[1], <floating> beta, &C[0, 0], C.shape[1])


def _gemv(floating[:, ::1] A, floating[::1] x, floating[::1] y, bint trans_a,
          double alpha=1.0, double beta=0.0):
    """Test hook: ``y = alpha op(A) x + beta y`` in place."""
    cdef int m = A.shape[0], n = A.shape[1]
    if x.shape[0] != (m if trans_a else n) or y.shape[0] != (n if trans_a else m):
        raise ValueError("_gemv: shapes do not match")
    with nogil:
        gemv_rm(trans_a, m, n, <floating> alpha, &A[0, 0], n, &x[0], <floating> beta,
                &y[0])


def _axpy_dot(floating[::1] x, floating[::1] y, double alpha):
    """Test hook: ``y += alpha x`` in place, then return ``dot(x, y)``."""
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ValueError("_axpy_dot: x and y need the same positive length")
    cdef floating r
    with nogil:
        axpy(<int> x.shape[0], <floating> alpha, &x[0], &y[0])
        r = dot(<int> x.shape[0], &x[0], &y[0])
    return r
