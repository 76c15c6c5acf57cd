// zenkai_np._moments: streaming contractions of empirical Hermite moment
// tensors (csrc/moments/contract.hpp). Arguments arrive validated from Python
// (zenkai_np/moments/contract.py): C-contiguous, the right dtype, matching
// sizes; .noconvert() makes a mismatch an error instead of a silent copy.
// Outputs are float64 (accumulation is always in float64).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <stdexcept>

#include "../moments/contract.hpp"
#include "blas_loader.hpp"
#include "module_common.hpp"

namespace py = pybind11;

namespace {

template <class T>
using carray = py::array_t<T, py::array::c_style>;
using darray = py::array_t<double, py::array::c_style>;

void need(bool ok, const char* msg) {
  if (!ok) throw std::invalid_argument(msg);
}

template <class T>
void bind_contract(py::module_& m) {
  m.def(
      "contract",
      [](carray<T> X, darray r, darray G, int n, py::object B_obj, bool want_b0, bool gram,
         darray sums, darray b1, py::object b0_obj, py::object A_obj, py::object P_obj,
         py::object c_obj, int n_threads, std::ptrdiff_t chunk_rows) {
        need(X.ndim() == 2, "X: expected 2D");
        const std::ptrdiff_t N = X.shape(0);
        const int d = static_cast<int>(X.shape(1));
        need(r.ndim() == 1 && r.shape(0) == N, "r: expected shape (N,)");
        need(G.ndim() == 2 && G.shape(0) == d, "G: expected shape (d, R)");
        const int R = static_cast<int>(G.shape(1));
        need(n >= 0 && n <= zk::moments::kMaxN, "order: out of range");
        need(sums.size() == 3 * R, "sums: expected 3*R entries");
        need(b1.size() == (std::ptrdiff_t)R * d, "b1: expected R*d entries");
        const double* pB = nullptr;
        int mcols = 0;
        darray B, b0, A, P, c;
        zk::moments::ContractOut out{sums.mutable_data(), b1.mutable_data(), nullptr, nullptr,
                                     nullptr, nullptr};
        if (!B_obj.is_none()) {
          B = B_obj.cast<darray>();
          need(B.ndim() == 2 && B.shape(0) == d, "apply_to: expected shape (d, m)");
          mcols = static_cast<int>(B.shape(1));
          P = P_obj.cast<darray>();
          c = c_obj.cast<darray>();
          need(P.size() == (std::ptrdiff_t)d * R * mcols, "P: expected d*R*m entries");
          need(c.size() == (std::ptrdiff_t)R * mcols, "c: expected R*m entries");
          pB = B.data();
          out.P = P.mutable_data();
          out.c = c.mutable_data();
        }
        if (want_b0) {
          b0 = b0_obj.cast<darray>();
          need(b0.size() == (std::ptrdiff_t)R * d, "b0: expected R*d entries");
          out.b0 = b0.mutable_data();
        }
        if (gram) {
          A = A_obj.cast<darray>();
          need(A.size() == (std::ptrdiff_t)R * d * d, "A: expected R*d*d entries");
          out.A = A.mutable_data();
        }
        const T* pX = X.data();
        const double* pr = r.data();
        const double* pG = G.data();
        py::gil_scoped_release release;
        zk::moments::hermite_contract<T>(pX, pr, N, d, pG, R, n, pB, mcols, want_b0, gram, out,
                                         n_threads, chunk_rows);
      },
      py::arg("X").noconvert(), py::arg("r").noconvert(), py::arg("G").noconvert(),
      py::arg("n"), py::arg("B"), py::arg("want_b0"), py::arg("gram"),
      py::arg("sums").noconvert(), py::arg("b1").noconvert(), py::arg("b0"), py::arg("A"),
      py::arg("P"), py::arg("c"), py::arg("n_threads"), py::arg("chunk_rows") = 0,
      "One pass of the Hermite contraction kernel; raw sums (see contract.hpp).");
  m.def(
      "quadratic_form",
      [](carray<T> X, darray A, darray q, int n_threads) {
        need(X.ndim() == 2, "X: expected 2D");
        const std::ptrdiff_t N = X.shape(0);
        const int d = static_cast<int>(X.shape(1));
        need(A.ndim() == 2 && A.shape(0) == d && A.shape(1) == d, "A: expected shape (d, d)");
        need(q.ndim() == 1 && q.shape(0) == N, "out: expected shape (N,)");
        const T* pX = X.data();
        const double* pA = A.data();
        double* pq = q.mutable_data();
        py::gil_scoped_release release;
        zk::moments::quadratic_form<T>(pX, N, d, pA, pq, n_threads);
      },
      py::arg("X").noconvert(), py::arg("A").noconvert(), py::arg("out").noconvert(),
      py::arg("n_threads"), "q[j] = x_j^T A x_j (float64 out).");
}

}  // namespace

PYBIND11_MODULE(_moments, m) {
  m.doc() = "zenkai_np compiled kernels: streaming Hermite moment contractions";
  zk::bind_module_common(m);
  zk::blas::load_blas();
  zk::blas::bind_blas_choice(m);
  bind_contract<float>(m);
  bind_contract<double>(m);
  m.attr("chunk_rows") = zk::moments::kChunkRows;
  m.attr("max_order") = zk::moments::kMaxN + 2;
}
