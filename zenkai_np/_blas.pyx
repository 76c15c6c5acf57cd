"""Typed BLAS layer of the Cython kernels (see ``_blas.pxd``).

``gemm_rm``: ``C (m, n) = alpha * op(A) @ op(B) + beta * C``, row-major, where
``op(A)`` is ``(m, k)`` and ``op(B)`` is ``(k, n)``; ``lda``/``ldb``/``ldc`` are
row strides in elements.  ``gemv_rm``: ``y = alpha * op(A) @ x + beta * y`` with
``A`` row-major ``(m, n)`` (``op(A) @ x`` has ``m`` entries, or ``n`` when
transposed).  ``axpy``: ``y += alpha x``; ``dot``: ``sum(x * y)`` (unit strides).

gemm and gemv call the BLAS the C++ kernels call (``zenkai_np._blas_choice``:
NumPy's bundled ILP64 OpenBLAS where there is one, through the entry points set
by ``_set_blas_ilp64``), else SciPy's ``cython_blas``; axpy and dot (level 1)
are always SciPy's.

The Python-level ``_gemm`` is for tests only (it checks nothing beyond shapes).
"""
from cython cimport floating
from scipy.linalg.cython_blas cimport (daxpy, ddot, dgemm, dgemv, saxpy, sdot, sgemm,
                                       sgemv)

ctypedef long long i64
ctypedef void (*sgemm64_t)(char *, char *, i64 *, i64 *, i64 *, float *, float *, i64 *,
                           float *, i64 *, float *, float *, i64 *) noexcept nogil
ctypedef void (*dgemm64_t)(char *, char *, i64 *, i64 *, i64 *, double *, double *, i64 *,
                           double *, i64 *, double *, double *, i64 *) noexcept nogil
ctypedef void (*sgemv64_t)(char *, i64 *, i64 *, float *, float *, i64 *, float *, i64 *,
                           float *, float *, i64 *) noexcept nogil
ctypedef void (*dgemv64_t)(char *, i64 *, i64 *, double *, double *, i64 *, double *, i64 *,
                           double *, double *, i64 *) noexcept nogil

# NumPy's ILP64 entry points, or NULL: SciPy's LP64 cython_blas
cdef sgemm64_t _sgemm64 = NULL
cdef dgemm64_t _dgemm64 = NULL
cdef sgemv64_t _sgemv64 = NULL
cdef dgemv64_t _dgemv64 = NULL


def blas():
    """'numpy' or 'scipy': the BLAS gemm_rm/gemv_rm call."""
    return "numpy" if _sgemm64 != NULL else "scipy"


def _set_blas_scipy():
    """Call SciPy's cython_blas (zenkai_np._blas_choice)."""
    global _sgemm64, _dgemm64, _sgemv64, _dgemv64
    _sgemm64, _dgemm64, _sgemv64, _dgemv64 = NULL, NULL, NULL, NULL


def _set_blas_ilp64(size_t sgemm, size_t ssyrk, size_t sgemv, size_t dgemm, size_t dsyrk,
                    size_t dgemv):
    """Call NumPy's OpenBLAS: its ILP64 ?gemm/?syrk/?gemv addresses (syrk unused here)."""
    global _sgemm64, _dgemm64, _sgemv64, _dgemv64
    if not (sgemm and ssyrk and sgemv and dgemm and dsyrk and dgemv):
        raise ValueError("_set_blas_ilp64: every entry point must be non-null")
    _sgemm64, _dgemm64 = <sgemm64_t> sgemm, <dgemm64_t> dgemm
    _sgemv64, _dgemv64 = <sgemv64_t> sgemv, <dgemv64_t> dgemv


cdef void gemm_rm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
                  const floating *A, int lda, const floating *B, int ldb,
                  floating beta, floating *C, int ldc) noexcept nogil:
    # column-major view: C^T (n, m) = op(B)^T (n, k) @ op(A)^T (k, m)
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef i64 M = n, N = m, K = k, la = ldb, lb = lda, lc = ldc
    if floating is float:
        if _sgemm64 != NULL:
            _sgemm64(&tb, &ta, &M, &N, &K, &alpha, <float *> B, &la, <float *> A, &lb,
                     &beta, C, &lc)
        else:
            sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *> B, &ldb, <float *> A, &lda,
                  &beta, C, &ldc)
    else:
        if _dgemm64 != NULL:
            _dgemm64(&tb, &ta, &M, &N, &K, &alpha, <double *> B, &la, <double *> A, &lb,
                     &beta, C, &lc)
        else:
            dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *> B, &ldb, <double *> A, &lda,
                  &beta, C, &ldc)


cdef void gemv_rm(bint trans_a, int m, int n, floating alpha, const floating *A,
                  int lda, const floating *x, floating beta, floating *y) noexcept nogil:
    # row-major A (m, n) is column-major A^T (n, m): flip the transpose flag
    cdef char t = b'N' if trans_a else b'T'
    cdef int one = 1
    cdef i64 M = n, N = m, la = lda, one64 = 1
    if floating is float:
        if _sgemv64 != NULL:
            _sgemv64(&t, &M, &N, &alpha, <float *> A, &la, <float *> x, &one64, &beta, y,
                     &one64)
        else:
            sgemv(&t, &n, &m, &alpha, <float *> A, &lda, <float *> x, &one, &beta, y, &one)
    else:
        if _dgemv64 != NULL:
            _dgemv64(&t, &M, &N, &alpha, <double *> A, &la, <double *> x, &one64, &beta, y,
                     &one64)
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
