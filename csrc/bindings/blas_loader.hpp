// Fill zk::blas::table<T>() from one of the two BLAS builds every zenkai_np
// install has in memory:
//
//  * "scipy": SciPy's, through scipy.linalg.cython_blas.__pyx_capi__ — what
//    load_blas() sets at module import;
//  * "numpy": NumPy's bundled OpenBLAS (libscipy_openblas64_, ILP64, symbols
//    scipy_?gemm_64_), called through LP64 adapters. zenkai_np/_blas_choice.py
//    finds it (ctypes, the library NumPy has loaded) and hands the six entry
//    points to _set_blas_ilp64 right after import (no dlopen here: glibc 2.34
//    moved it to a symbol version manylinux_2_28 does not allow).
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "../common/blas.hpp"

namespace zk {
namespace blas {

inline void* capsule_pointer(const pybind11::dict& capi, const char* name) {
  pybind11::object cap = capi[name];
  PyObject* p = cap.ptr();
  void* fn = PyCapsule_GetPointer(p, PyCapsule_GetName(p));
  if (!fn) throw pybind11::error_already_set();
  return fn;
}

inline void load_scipy_blas() {
  pybind11::dict capi =
      pybind11::module_::import("scipy.linalg.cython_blas").attr("__pyx_capi__");
  auto& d = table<double>();
  auto& s = table<float>();
  d.gemm = reinterpret_cast<Fn<double>::gemm_t>(capsule_pointer(capi, "dgemm"));
  d.syrk = reinterpret_cast<Fn<double>::syrk_t>(capsule_pointer(capi, "dsyrk"));
  d.gemv = reinterpret_cast<Fn<double>::gemv_t>(capsule_pointer(capi, "dgemv"));
  s.gemm = reinterpret_cast<Fn<float>::gemm_t>(capsule_pointer(capi, "sgemm"));
  s.syrk = reinterpret_cast<Fn<float>::syrk_t>(capsule_pointer(capi, "ssyrk"));
  s.gemv = reinterpret_cast<Fn<float>::gemv_t>(capsule_pointer(capi, "sgemv"));
}

// ILP64 entry points of NumPy's OpenBLAS behind the LP64 signatures of Fn<T>
// (every int the kernels pass fits; the adapters only widen).
typedef long long i64;

template <class T>
struct Ilp64 {
  typedef void (*gemm_t)(const char*, const char*, const i64*, const i64*, const i64*,
                         const T*, const T*, const i64*, const T*, const i64*, const T*, T*,
                         const i64*);
  typedef void (*syrk_t)(const char*, const char*, const i64*, const i64*, const T*,
                         const T*, const i64*, const T*, T*, const i64*);
  typedef void (*gemv_t)(const char*, const i64*, const i64*, const T*, const T*, const i64*,
                         const T*, const i64*, const T*, T*, const i64*);
  static gemm_t& gemm() { static gemm_t f = nullptr; return f; }
  static syrk_t& syrk() { static syrk_t f = nullptr; return f; }
  static gemv_t& gemv() { static gemv_t f = nullptr; return f; }

  static void gemm_lp(const char* ta, const char* tb, const int* m, const int* n, const int* k,
                      const T* alpha, const T* A, const int* lda, const T* B, const int* ldb,
                      const T* beta, T* C, const int* ldc) {
    const i64 M = *m, N = *n, K = *k, la = *lda, lb = *ldb, lc = *ldc;
    gemm()(ta, tb, &M, &N, &K, alpha, A, &la, B, &lb, beta, C, &lc);
  }
  static void syrk_lp(const char* uplo, const char* trans, const int* n, const int* k,
                      const T* alpha, const T* A, const int* lda, const T* beta, T* C,
                      const int* ldc) {
    const i64 N = *n, K = *k, la = *lda, lc = *ldc;
    syrk()(uplo, trans, &N, &K, alpha, A, &la, beta, C, &lc);
  }
  static void gemv_lp(const char* t, const int* m, const int* n, const T* alpha, const T* A,
                      const int* lda, const T* x, const int* incx, const T* beta, T* y,
                      const int* incy) {
    const i64 M = *m, N = *n, la = *lda, ix = *incx, iy = *incy;
    gemv()(t, &M, &N, alpha, A, &la, x, &ix, beta, y, &iy);
  }
};

// NumPy's OpenBLAS: its ILP64 entry points as addresses (ValueError if any is 0).
inline void set_ilp64_blas(std::uintptr_t sgemm, std::uintptr_t ssyrk, std::uintptr_t sgemv,
                           std::uintptr_t dgemm, std::uintptr_t dsyrk, std::uintptr_t dgemv) {
  if (!sgemm || !ssyrk || !sgemv || !dgemm || !dsyrk || !dgemv)
    throw pybind11::value_error("_set_blas_ilp64: every entry point must be non-null");
  Ilp64<float>::gemm() = reinterpret_cast<Ilp64<float>::gemm_t>(sgemm);
  Ilp64<float>::syrk() = reinterpret_cast<Ilp64<float>::syrk_t>(ssyrk);
  Ilp64<float>::gemv() = reinterpret_cast<Ilp64<float>::gemv_t>(sgemv);
  Ilp64<double>::gemm() = reinterpret_cast<Ilp64<double>::gemm_t>(dgemm);
  Ilp64<double>::syrk() = reinterpret_cast<Ilp64<double>::syrk_t>(dsyrk);
  Ilp64<double>::gemv() = reinterpret_cast<Ilp64<double>::gemv_t>(dgemv);
  auto& s = table<float>();
  s.gemm = &Ilp64<float>::gemm_lp;
  s.syrk = &Ilp64<float>::syrk_lp;
  s.gemv = &Ilp64<float>::gemv_lp;
  auto& d = table<double>();
  d.gemm = &Ilp64<double>::gemm_lp;
  d.syrk = &Ilp64<double>::syrk_lp;
  d.gemv = &Ilp64<double>::gemv_lp;
}

inline std::string& blas_provider() {
  static std::string name;
  return name;
}

inline void load_blas() {
  load_scipy_blas();
  blas_provider() = "scipy";
}

inline void bind_blas_choice(pybind11::module_& m) {
  m.def("blas", [] { return blas_provider(); },
        "The BLAS this module calls: 'numpy' (NumPy's bundled OpenBLAS) or 'scipy'.");
  m.def("_set_blas_scipy", [] { load_blas(); }, "Call SciPy's BLAS (zenkai_np._blas_choice).");
  m.def(
      "_set_blas_ilp64",
      [](std::uintptr_t sg, std::uintptr_t ss, std::uintptr_t sv, std::uintptr_t dg,
         std::uintptr_t ds, std::uintptr_t dv) {
        set_ilp64_blas(sg, ss, sv, dg, ds, dv);
        blas_provider() = "numpy";
      },
      pybind11::arg("sgemm"), pybind11::arg("ssyrk"), pybind11::arg("sgemv"),
      pybind11::arg("dgemm"), pybind11::arg("dsyrk"), pybind11::arg("dgemv"),
      "Call NumPy's ILP64 OpenBLAS at these addresses (zenkai_np._blas_choice).");
}

}  // namespace blas
}  // namespace zk
