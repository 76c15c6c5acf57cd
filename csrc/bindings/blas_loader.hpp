// Fill zk::blas::table<T>() at module import, from one of the two BLAS builds
// every zenkai_np install has in memory:
//
//  * "numpy": NumPy's bundled OpenBLAS (libscipy_openblas64_, ILP64, symbols
//    scipy_?gemm_64_), found among the loaded libraries (Linux: dl_iterate_phdr)
//    and called through LP64 adapters;
//  * "scipy": SciPy's, through scipy.linalg.cython_blas.__pyx_capi__.
//
// The rule (README, "Benchmarks"): NumPy's when present — it is the newer build
// in current wheels and faster at the kernels' shapes on the machines measured
// (AVX2 Zen 3: float32 (30x30)@(30x9300) GEMM 61 vs 43 GFLOP/s, float64 syrk
// of 2e5 x 100 85 vs 154 ms) — else SciPy's. ZENKAI_NP_BLAS=scipy|numpy
// overrides it; set_blas(name) switches a module at run time (tests, benchmarks).
// Call load_blas() once in PYBIND11_MODULE of every module that uses BLAS.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__linux__)
#include <dlfcn.h>
#include <link.h>
#endif

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

#if defined(__linux__)
inline int find_numpy_openblas(struct dl_phdr_info* info, size_t, void* data) {
  if (info->dlpi_name && std::strstr(info->dlpi_name, "libscipy_openblas64_")) {
    *static_cast<std::string*>(data) = info->dlpi_name;
    return 1;
  }
  return 0;
}
#endif

// NumPy's bundled OpenBLAS, if this NumPy has one and it is loaded; else false.
inline bool load_numpy_blas() {
#if defined(__linux__)
  pybind11::module_::import("numpy");  // loads its BLAS
  std::string path;
  dl_iterate_phdr(find_numpy_openblas, &path);
  if (path.empty()) return false;
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);  // already loaded: no new handle
  if (!h) return false;
  void* f[6] = {dlsym(h, "scipy_sgemm_64_"), dlsym(h, "scipy_ssyrk_64_"),
                dlsym(h, "scipy_sgemv_64_"), dlsym(h, "scipy_dgemm_64_"),
                dlsym(h, "scipy_dsyrk_64_"), dlsym(h, "scipy_dgemv_64_")};
  for (void* p : f)
    if (!p) return false;
  Ilp64<float>::gemm() = reinterpret_cast<Ilp64<float>::gemm_t>(f[0]);
  Ilp64<float>::syrk() = reinterpret_cast<Ilp64<float>::syrk_t>(f[1]);
  Ilp64<float>::gemv() = reinterpret_cast<Ilp64<float>::gemv_t>(f[2]);
  Ilp64<double>::gemm() = reinterpret_cast<Ilp64<double>::gemm_t>(f[3]);
  Ilp64<double>::syrk() = reinterpret_cast<Ilp64<double>::syrk_t>(f[4]);
  Ilp64<double>::gemv() = reinterpret_cast<Ilp64<double>::gemv_t>(f[5]);
  auto& s = table<float>();
  s.gemm = &Ilp64<float>::gemm_lp;
  s.syrk = &Ilp64<float>::syrk_lp;
  s.gemv = &Ilp64<float>::gemv_lp;
  auto& d = table<double>();
  d.gemm = &Ilp64<double>::gemm_lp;
  d.syrk = &Ilp64<double>::syrk_lp;
  d.gemv = &Ilp64<double>::gemv_lp;
  return true;
#else
  return false;
#endif
}

inline std::string& blas_provider() {
  static std::string name;
  return name;
}

// Select "numpy" or "scipy" (ValueError if unknown; "numpy" falls back to
// SciPy's where NumPy has no bundled OpenBLAS). Returns the provider in use.
inline std::string set_blas(const std::string& name) {
  if (name != "numpy" && name != "scipy")
    throw pybind11::value_error("blas: expected 'numpy' or 'scipy', got '" + name + "'");
  if (name == "numpy" && load_numpy_blas()) {
    blas_provider() = "numpy";
  } else {
    load_scipy_blas();
    blas_provider() = "scipy";
  }
  return blas_provider();
}

inline void load_blas() {
  const char* env = std::getenv("ZENKAI_NP_BLAS");
  set_blas(env && *env ? std::string(env) : std::string("numpy"));
}

inline void bind_blas_choice(pybind11::module_& m) {
  m.def("blas", [] { return blas_provider(); },
        "The BLAS this module calls: 'numpy' (NumPy's bundled OpenBLAS) or 'scipy'.");
  m.def("set_blas", &set_blas, pybind11::arg("name"),
        "Switch this module's BLAS ('numpy' or 'scipy'); returns the one in use.");
}

}  // namespace blas
}  // namespace zk
