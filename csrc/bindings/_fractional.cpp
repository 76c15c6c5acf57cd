// zenkai_np._fractional: the fractional-iterate kernels (Abel and Schröder
// forms, csrc/fractional). Arguments arrive validated from Python (zenkai_np/_validation.py):
// C-contiguous, the right dtype, matching sizes. Bindings use .noconvert() so
// that a mismatched array is an error rather than a silent copy.
#include <pybind11/complex.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <complex>
#include <cstddef>
#include <stdexcept>
#include <type_traits>

#include "../common/dispatch.hpp"
#include "../common/parallel.hpp"
#include "../fractional/abel.hpp"
#include "../fractional/schroeder.hpp"
#include "module_common.hpp"

namespace py = pybind11;

namespace {

template <class T>
using carray = py::array_t<T, py::array::c_style>;

template <class T>
void check_sizes(const carray<T>& x, const carray<T>& n, std::ptrdiff_t out_size) {
  // n is a pattern repeating along x (x[i] pairs with n[i % n.size]).
  if (n.size() == 0) throw std::invalid_argument("n: empty pattern");
  if (out_size != x.size()) throw std::invalid_argument("out: size differs from x");
}

template <class T>
void bind_abel(py::module_& m) {
  m.def(
      "fracexp_abel",
      [](carray<T> x, carray<T> n, carray<T> out, int n_threads) {
        check_sizes<T>(x, n, out.size());
        const T* px = x.data();
        const T* pn = n.data();
        T* py_ = out.mutable_data();
        const std::ptrdiff_t size = x.size(), period = n.size();
        py::gil_scoped_release release;
        zk::fracexp::abel_eval<T, false>(px, pn, period, py_, nullptr, nullptr, size, n_threads);
      },
      py::arg("x").noconvert(), py::arg("n").noconvert(), py::arg("out").noconvert(),
      py::arg("n_threads"),
      "y = exp^(n)(x) on flat C-contiguous arrays; n repeats with period n.size.");
  m.def(
      "fracexp_abel_grad",
      [](carray<T> x, carray<T> n, carray<T> y, carray<T> dydx, carray<T> dydn,
         int n_threads) {
        check_sizes<T>(x, n, y.size());
        if (dydx.size() != x.size() || dydn.size() != x.size())
          throw std::invalid_argument("dydx/dydn: size differs from x");
        const T* px = x.data();
        const T* pn = n.data();
        T* py_ = y.mutable_data();
        T* pdx = dydx.mutable_data();
        T* pdn = dydn.mutable_data();
        const std::ptrdiff_t size = x.size(), period = n.size();
        py::gil_scoped_release release;
        zk::fracexp::abel_eval<T, true>(px, pn, period, py_, pdx, pdn, size, n_threads);
      },
      py::arg("x").noconvert(), py::arg("n").noconvert(), py::arg("y").noconvert(),
      py::arg("dydx").noconvert(), py::arg("dydn").noconvert(), py::arg("n_threads"),
      "(y, dy/dx, dy/dn) of exp^(n)(x), written into the three output arrays.");
}

// Schröder (complex) form: z real (ZT = T) or complex (ZT = std::complex<T>),
// outputs complex. Overloaded on the dtype of z; no conversion.
template <class T, class ZT>
void bind_schroeder(py::module_& m) {
  constexpr bool Cplx = !std::is_same<ZT, T>::value;
  typedef std::complex<T> C;
  m.def(
      "fracexp_schroeder",
      [](carray<ZT> z, carray<T> n, carray<C> out, double min_modulus, int n_threads) {
        if (n.size() == 0) throw std::invalid_argument("n: empty pattern");
        if (out.size() != z.size()) throw std::invalid_argument("out: size differs from z");
        const T* pz = reinterpret_cast<const T*>(z.data());
        const T* pn = n.data();
        T* py_ = reinterpret_cast<T*>(out.mutable_data());
        const std::ptrdiff_t size = z.size(), period = n.size();
        py::gil_scoped_release release;
        zk::fracexp::schroeder_eval<T, false, Cplx>(pz, pn, period, py_, nullptr, nullptr,
                                                    size, min_modulus, n_threads);
      },
      py::arg("z").noconvert(), py::arg("n").noconvert(), py::arg("out").noconvert(),
      py::arg("min_modulus"), py::arg("n_threads"),
      "y = exp^(n)(z) (Schröder form) on flat C-contiguous arrays; n repeats.");
  m.def(
      "fracexp_schroeder_grad",
      [](carray<ZT> z, carray<T> n, carray<C> y, carray<C> dydz, carray<C> dydn,
         double min_modulus, int n_threads) {
        if (n.size() == 0) throw std::invalid_argument("n: empty pattern");
        if (y.size() != z.size() || dydz.size() != z.size() || dydn.size() != z.size())
          throw std::invalid_argument("y/dydz/dydn: size differs from z");
        const T* pz = reinterpret_cast<const T*>(z.data());
        const T* pn = n.data();
        T* py_ = reinterpret_cast<T*>(y.mutable_data());
        T* pdz = reinterpret_cast<T*>(dydz.mutable_data());
        T* pdn = reinterpret_cast<T*>(dydn.mutable_data());
        const std::ptrdiff_t size = z.size(), period = n.size();
        py::gil_scoped_release release;
        zk::fracexp::schroeder_eval<T, true, Cplx>(pz, pn, period, py_, pdz, pdn, size,
                                                   min_modulus, n_threads);
      },
      py::arg("z").noconvert(), py::arg("n").noconvert(), py::arg("y").noconvert(),
      py::arg("dydz").noconvert(), py::arg("dydn").noconvert(), py::arg("min_modulus"),
      py::arg("n_threads"),
      "(y, dy/dz, dy/dn) of exp^(n)(z) (Schröder form), written into the outputs.");
}

}  // namespace

PYBIND11_MODULE(_fractional, m) {
  m.doc() = "zenkai_np compiled kernels: fractional iterates of exp";

  bind_abel<float>(m);
  bind_abel<double>(m);
  m.def(
      "_set_abel_stream_min_bytes",
      [](std::ptrdiff_t bytes) {
        if (bytes < 0) throw std::invalid_argument("bytes: expected >= 0");
        return zk::fracexp::abel_stream_min_bytes().exchange(bytes);
      },
      py::arg("bytes"),
      "For tests: outputs of at least this many bytes per call are stored non-temporally "
      "(abel.hpp); returns the previous threshold.");
  bind_schroeder<float, float>(m);
  bind_schroeder<double, double>(m);
  bind_schroeder<float, std::complex<float>>(m);
  bind_schroeder<double, std::complex<double>>(m);

  zk::bind_module_common(m);
}
