// Definitions every compiled module of zenkai_np exports: its SIMD-path
// switch (zenkai_np/_simd.py drives all modules together) and OpenMP query.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "../common/dispatch.hpp"
#include "../common/parallel.hpp"

namespace zk {

inline void bind_module_common(pybind11::module_& m) {
  m.def("simd_level", [] { return std::string(simd_level_name(simd_level())); },
        "The SIMD path in use: 'baseline', 'v3' or 'v4'.");
  m.def("set_simd_level", [](const std::string& name) { set_simd_level(name); },
        pybind11::arg("name"), "Select the SIMD path (ValueError if unknown or unsupported).");
  m.def("omp_max_threads", &omp_max_threads,
        "omp_get_max_threads() read now (honours OMP_NUM_THREADS and threadpoolctl).");
}

}  // namespace zk
