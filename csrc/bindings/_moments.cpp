// zenkai_np._moments: compiled kernels (filled in by the moments issue).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "blas_loader.hpp"
#include "module_common.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_moments, m) {
  m.doc() = "zenkai_np compiled kernels: moments";
  zk::bind_module_common(m);
  zk::blas::load_scipy_blas();
}
