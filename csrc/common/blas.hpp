// BLAS without linking one: function pointers taken from SciPy's
// scipy.linalg.cython_blas (its __pyx_capi__ capsules; see
// bindings/blas_loader.hpp, which fills the table at module import).
// Fortran convention: column-major, every argument by pointer, LP64 ints.
// The row-major helpers below swap operands so callers can think in C order.
#pragma once

#include <stdexcept>

namespace zk {
namespace blas {

template <class T>
struct Fn {
  typedef void (*gemm_t)(const char*, const char*, const int*, const int*, const int*,
                         const T*, const T*, const int*, const T*, const int*, const T*, T*,
                         const int*);
  typedef void (*syrk_t)(const char*, const char*, const int*, const int*, const T*,
                         const T*, const int*, const T*, T*, const int*);
  typedef void (*gemv_t)(const char*, const int*, const int*, const T*, const T*, const int*,
                         const T*, const int*, const T*, T*, const int*);
  gemm_t gemm = nullptr;
  syrk_t syrk = nullptr;
  gemv_t gemv = nullptr;
};

// One table per extension module (each module loads its own at import).
template <class T>
inline Fn<T>& table() {
  static Fn<T> t;
  return t;
}

template <class T>
inline const Fn<T>& checked() {
  const Fn<T>& t = table<T>();
  if (!t.gemm || !t.syrk || !t.gemv)
    throw std::runtime_error("BLAS function table not loaded (module initialisation failed)");
  return t;
}

// Row-major C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C.
// lda/ldb/ldc are row strides (elements) of the stored row-major matrices.
template <class T>
inline void gemm_rm(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A,
                    int lda, const T* B, int ldb, T beta, T* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  // Row-major C = op(A) op(B)  <=>  column-major C^T = op(B)^T op(A)^T.
  const char ta = trans_b ? 'T' : 'N', tb = trans_a ? 'T' : 'N';
  checked<T>().gemm(&ta, &tb, &N, &M, &K, &alpha, B, &ldb, A, &lda, &beta, C, &ldc);
}

// Row-major C[N,N] (upper triangle, row-major sense) = alpha * A^T A + beta * C,
// A row-major [K, N] with row stride lda. Only the upper triangle of C is written.
template <class T>
inline void syrk_ata_upper_rm(int N, int K, T alpha, const T* A, int lda, T beta, T* C,
                              int ldc) {
  if (N <= 0) return;
  // Row-major A[K,N] is column-major A^T[N,K]; column-major C = A^T (A^T)^T = A^T A,
  // 'N' trans; row-major upper == column-major lower.
  const char uplo = 'L', trans = 'N';
  checked<T>().syrk(&uplo, &trans, &N, &K, &alpha, A, &lda, &beta, C, &ldc);
}

// Row-major y[M] = alpha * A[M,N] @ x + beta * y (trans=false) or
// y[N] = alpha * A^T x + beta * y (trans=true).
template <class T>
inline void gemv_rm(bool trans, int M, int N, T alpha, const T* A, int lda, const T* x,
                    T beta, T* y) {
  if (M <= 0 || N <= 0) return;
  const char t = trans ? 'N' : 'T';
  const int one = 1;
  checked<T>().gemv(&t, &N, &M, &alpha, A, &lda, x, &one, &beta, y, &one);
}

}  // namespace blas
}  // namespace zk
