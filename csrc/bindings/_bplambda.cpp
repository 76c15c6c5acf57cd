// zenkai_np._bplambda: eligibility-trace kernels of BP(lambda) (csrc/bplambda).
// Arguments arrive validated from Python (zenkai_np/bplambda/traces.py):
// C-contiguous, one dtype, consistent shapes. Bindings use .noconvert() so a
// mismatched array is an error rather than a silent copy; optional arrays are
// passed as size-0 arrays.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <stdexcept>

#include "../bplambda/traces.hpp"
#include "blas_loader.hpp"
#include "module_common.hpp"

namespace py = pybind11;

namespace {

template <class T>
using carray = py::array_t<T, py::array::c_style>;

struct Dims {
  int S, B, P;
};

template <class T>
Dims trace_dims(const carray<T>& E) {
  if (E.ndim() != 4 || E.shape(0) != E.shape(2))
    throw std::invalid_argument("E: expected shape (S, B, S, P)");
  if (static_cast<double>(E.shape(1)) * E.shape(2) * E.shape(3) > 2147483647.0)
    throw std::invalid_argument("E: B*S*P exceeds the BLAS int range");
  return Dims{static_cast<int>(E.shape(0)), static_cast<int>(E.shape(1)),
              static_cast<int>(E.shape(3))};
}

template <class T>
const T* opt(const carray<T>& a, std::ptrdiff_t size, const char* name) {
  if (a.size() == 0) return nullptr;
  if (a.size() != size) throw std::invalid_argument(std::string(name) + ": wrong size");
  return a.data();
}

template <class T>
void bind(py::module_& m) {
  m.def(
      "trace_step",
      [](carray<T> E, carray<T> E_out, carray<T> W, carray<T> a, carray<T> J, T decay,
         carray<T> u, carray<T> delta, T scale, carray<T> dtheta, int n_threads) {
        const Dims d = trace_dims<T>(E);
        T* pE = E.mutable_data();
        T* pO = pE;
        bool spare = false;
        if (E_out.size() != 0) {
          const std::ptrdiff_t row = E.size() / d.S;
          if (E_out.size() == E.size() + row)
            spare = true;
          else if (E_out.size() != E.size())
            throw std::invalid_argument("E_out: wrong size");
          pO = E_out.mutable_data();
          if (pO != pE && pO < pE + E.size() && pE < pO + E_out.size())
            throw std::invalid_argument("E_out: overlaps E");
        }
        const std::ptrdiff_t SS = static_cast<std::ptrdiff_t>(d.S) * d.S;
        const T* pW = opt<T>(W, SS, "W");
        const T* pJ = opt<T>(J, SS * d.B, "J");
        if ((pW == nullptr) == (pJ == nullptr))
          throw std::invalid_argument("exactly one of W and J must be given");
        const T* pa = opt<T>(a, static_cast<std::ptrdiff_t>(d.B) * d.S, "a");
        const T* pu = opt<T>(u, static_cast<std::ptrdiff_t>(d.B) * d.P, "u");
        const T* pd = opt<T>(delta, static_cast<std::ptrdiff_t>(d.B) * d.S, "delta");
        T* pt = nullptr;
        if (pd) {
          if (dtheta.size() != static_cast<std::ptrdiff_t>(d.S) * d.P)
            throw std::invalid_argument("dtheta: wrong size");
          pt = dtheta.mutable_data();
        }
        py::gil_scoped_release release;
        zk::traces::trace_step<T>(pE, pO, d.S, d.B, d.P, pW, pa, pJ, decay, pu, pd, scale, pt,
                                  n_threads, spare);
      },
      py::arg("E").noconvert(), py::arg("E_out").noconvert(), py::arg("W").noconvert(), py::arg("a").noconvert(),
      py::arg("J").noconvert(), py::arg("decay"), py::arg("u").noconvert(),
      py::arg("delta").noconvert(), py::arg("scale"), py::arg("dtheta").noconvert(),
      py::arg("n_threads"),
      "E_out <- decay * J_b E_b + [i==j] u_b; dtheta = scale * sum delta E_out (fused; E_out empty: in place).");
  m.def(
      "trace_sequence",
      [](carray<T> E0, carray<T> E1, carray<T> W, carray<T> a, T decay, carray<T> U,
         carray<T> Delta, T scale, double clip, carray<T> acc, int n_threads) {
        if (E0.ndim() != 4 || E0.shape(0) != E0.shape(2) + 1)
          throw std::invalid_argument("E0: expected shape (S + 1, B, S, P)");
        const int S = static_cast<int>(E0.shape(2)), B = static_cast<int>(E0.shape(1)),
                  P = static_cast<int>(E0.shape(3));
        if (static_cast<double>(B) * S * P > 2147483647.0)
          throw std::invalid_argument("E0: B*S*P exceeds the BLAS int range");
        if (E1.size() != E0.size()) throw std::invalid_argument("E1: wrong size");
        if (E1.data() < E0.data() + E0.size() && E0.data() < E1.data() + E1.size())
          throw std::invalid_argument("E1: overlaps E0");
        if (U.ndim() != 3 || U.shape(1) != B || U.shape(2) != P)
          throw std::invalid_argument("U: expected shape (n_steps, B, P)");
        const int n = static_cast<int>(U.shape(0));
        const std::ptrdiff_t nBS = static_cast<std::ptrdiff_t>(n) * B * S;
        if (Delta.size() != nBS) throw std::invalid_argument("Delta: wrong size");
        if (W.size() != static_cast<std::ptrdiff_t>(S) * S)
          throw std::invalid_argument("W: wrong size");
        const T* pa = opt<T>(a, nBS, "a");
        if (acc.size() != static_cast<std::ptrdiff_t>(S) * P)
          throw std::invalid_argument("acc: wrong size");
        T* p0 = E0.mutable_data();
        T* p1 = E1.mutable_data();
        const T* pW = W.data();
        const T* pU = U.data();
        const T* pD = Delta.data();
        T* pacc = acc.mutable_data();
        py::gil_scoped_release release;
        return zk::traces::trace_sequence<T>(p0, p1, S, B, P, n, pW, pa, decay, pU, pD, scale,
                                             clip, pacc, n_threads);
      },
      py::arg("E0").noconvert(), py::arg("E1").noconvert(), py::arg("W").noconvert(),
      py::arg("a").noconvert(), py::arg("decay"), py::arg("U").noconvert(),
      py::arg("Delta").noconvert(), py::arg("scale"), py::arg("clip"),
      py::arg("acc").noconvert(), py::arg("n_threads"),
      "A sequence of fused shared-W steps from a zero trace; acc = -sum_k clip(dtheta_k) "
      "per tensor. Returns -1 or the first non-finite step.");
  m.def(
      "trace_contract",
      [](carray<T> E, carray<T> delta, T scale, carray<T> dtheta, int n_threads) {
        const Dims d = trace_dims<T>(E);
        if (delta.size() != static_cast<std::ptrdiff_t>(d.B) * d.S)
          throw std::invalid_argument("delta: wrong size");
        if (dtheta.size() != static_cast<std::ptrdiff_t>(d.S) * d.P)
          throw std::invalid_argument("dtheta: wrong size");
        const T* pE = E.data();
        const T* pd = delta.data();
        T* pt = dtheta.mutable_data();
        py::gil_scoped_release release;
        zk::traces::trace_contract<T>(pE, d.S, d.B, d.P, pd, scale, pt, n_threads);
      },
      py::arg("E").noconvert(), py::arg("delta").noconvert(), py::arg("scale"),
      py::arg("dtheta").noconvert(), py::arg("n_threads"),
      "dtheta[j, p] = scale * sum_{b, i} delta[b, i] E[i, b, j, p].");
  m.def(
      "trace_add_diag",
      [](carray<T> E, carray<T> u) {
        const Dims d = trace_dims<T>(E);
        if (u.size() != static_cast<std::ptrdiff_t>(d.B) * d.P)
          throw std::invalid_argument("u: wrong size");
        T* pE = E.mutable_data();
        const T* pu = u.data();
        py::gil_scoped_release release;
        zk::traces::trace_add_diag<T>(pE, d.S, d.B, d.P, pu);
      },
      py::arg("E").noconvert(), py::arg("u").noconvert(), "E[i, b, i, :] += u[b, :].");
}

}  // namespace

PYBIND11_MODULE(_bplambda, m) {
  m.doc() = "zenkai_np compiled kernels: BP(lambda) eligibility traces";
  zk::bind_module_common(m);
  zk::blas::load_blas();
  zk::blas::bind_blas_choice(m);
  bind<float>(m);
  bind<double>(m);
  m.attr("IN_PLACE_BYTES") = static_cast<long long>(zk::traces::kInPlaceBytes);
  m.def(
      "_set_tile_cols", [](int v) { zk::traces::tile_cols() = v > 0 ? v : 0; },
      py::arg("cols"), "Tuning knob for benchmarks: columns of one tile of E (0: automatic).");
  m.def("_tile_cols", [] { return zk::traces::tile_cols(); });

  m.def(
      "_set_push_kernel", [](int v) { zk::traces::push_kernel() = v < 0 || v > 1 ? -1 : v; },
      py::arg("kernel"),
      "Test/benchmark knob: -1 auto (in-house for S <= _inhouse_push_max_s(), else BLAS), 0 BLAS GEMM, 1 in-house microkernel.");
  m.def("_push_kernel", [] { return zk::traces::push_kernel(); });
  m.def("_inhouse_push_max_s", [] { return zk::traces::inhouse_push_max_s(); },
        "The largest S the automatic rule pushes in-house on the current SIMD path (0: never).");
  m.def(
      "_set_contract_mode", [](int v) { zk::traces::contract_mode() = v < 0 || v > 2 ? -1 : v; },
      py::arg("mode"),
      "Tuning knob for benchmarks: -1 auto, 0 fold into the GEMM, 1 before (E_in), 2 after (E_out).");
}
