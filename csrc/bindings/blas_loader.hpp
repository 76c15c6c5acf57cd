// Fill zk::blas::table<T>() from scipy.linalg.cython_blas.__pyx_capi__.
// Call load_scipy_blas() once in PYBIND11_MODULE of every module that uses BLAS.
#pragma once

#include <pybind11/pybind11.h>

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

}  // namespace blas
}  // namespace zk
