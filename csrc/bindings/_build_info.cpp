// zenkai_np._build_info: how the compiled modules were built and what the CPU
// and OpenMP runtime offer. zenkai_np/_config.py (show_config) and
// zenkai_np/_simd.py read it; it carries no kernels.
#include <pybind11/pybind11.h>

#include <string>

#include "../common/dispatch.hpp"
#include "../common/simd.hpp"
#include "module_common.hpp"

namespace py = pybind11;

namespace {

std::string compiler_string() {
#if defined(__clang__)
  return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  return std::string("gcc ") + __VERSION__;
#else
  return "unknown";
#endif
}

}  // namespace

PYBIND11_MODULE(_build_info, m) {
  m.doc() = "zenkai_np build and run-time configuration";
  zk::bind_module_common(m);
  m.def("supported_simd_levels", [] {
    py::list out;
    for (auto l : {zk::SimdLevel::baseline, zk::SimdLevel::v3, zk::SimdLevel::v4})
      if (zk::cpu_supports(l)) out.append(zk::simd_level_name(l));
    return out;
  });
  m.attr("compiler") = compiler_string();
#ifdef _OPENMP
  m.attr("openmp") = _OPENMP;
#else
  m.attr("openmp") = py::none();
#endif
  m.attr("have_libmvec") = bool(ZK_HAVE_LIBMVEC);
#ifdef ZK_BUILD_FLAGS
  m.attr("build_flags") = ZK_BUILD_FLAGS;
#else
  m.attr("build_flags") = "";
#endif
}
