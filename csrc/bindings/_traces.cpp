// zenkai_np._traces: compiled kernels (filled in by the traces issue).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "blas_loader.hpp"
#include "module_common.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_traces, m) {
  m.doc() = "zenkai_np compiled kernels: traces";
  zk::bind_module_common(m);
  zk::blas::load_scipy_blas();
}
