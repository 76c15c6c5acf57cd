// zenkai_np._framework: dense layers, optimizers and population losses of the
// learning-machine framework (csrc/framework/dense.hpp, xent.hpp, population.hpp).
// Arguments arrive validated from Python
// (zenkai_np/framework/fused_ops.py, optim.py, population_kernel.py): C-contiguous, one dtype,
// writable outputs. .noconvert() makes a mismatch an error instead of a silent
// copy; the size checks here only guard memory safety. Optional arrays: None.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <stdexcept>
#include <string>

#include "../framework/dense.hpp"
#include "../framework/population.hpp"
#include "../framework/xent.hpp"
#include "blas_loader.hpp"
#include "module_common.hpp"

namespace py = pybind11;

namespace {

template <class T>
using carray = py::array_t<T, py::array::c_style>;

void need(bool ok, const char* msg) {
  if (!ok) throw std::invalid_argument(msg);
}

template <class T>
T* writable(carray<T>& a, std::ptrdiff_t size, const char* name) {
  if (a.size() != size) throw std::invalid_argument(std::string(name) + ": wrong size");
  return a.mutable_data();  // raises for a read-only array
}

// An optional array argument: nullptr for None, else `keep` holds an array of
// `size` elements (dtype and C order checked: never a silent copy).
template <class T>
bool optional_array(const py::object& o, carray<T>& keep, std::ptrdiff_t size,
                    const char* name) {
  if (o.is_none()) return false;
  if (!py::isinstance<carray<T>>(o))
    throw std::invalid_argument(std::string(name) + ": expected a C-contiguous array of the "
                                "layer's dtype");
  keep = py::reinterpret_borrow<carray<T>>(o);
  if (keep.size() != size) throw std::invalid_argument(std::string(name) + ": wrong size");
  return true;
}

template <class T>
T* optional(const py::object& o, carray<T>& keep, std::ptrdiff_t size, const char* name) {
  return optional_array<T>(o, keep, size, name) ? keep.mutable_data() : nullptr;
}

template <class T>
const T* optional_input(const py::object& o, carray<T>& keep, std::ptrdiff_t size,
                        const char* name) {
  return optional_array<T>(o, keep, size, name) ? keep.data() : nullptr;
}

int dim(std::ptrdiff_t v) {
  need(v >= 0 && v <= 2147483647, "dimension exceeds the BLAS int range");
  return static_cast<int>(v);
}

template <class T>
void bind(py::module_& m) {
  m.def(
      "dense_forward",
      [](carray<T> x, carray<T> W, py::object b_obj, carray<T> a, carray<T> y, int act,
         double slope) {
        need(x.ndim() == 2 && W.ndim() == 2 && x.shape(1) == W.shape(0),
             "x, W: expected shapes (n, k), (k, f)");
        const int n = dim(x.shape(0)), k = dim(x.shape(1)), f = dim(W.shape(1));
        const std::ptrdiff_t nf = static_cast<std::ptrdiff_t>(n) * f;
        carray<T> b;
        const T* pb = optional_input<T>(b_obj, b, f, "b");
        T* pa = writable<T>(a, nf, "a");
        T* py_ = writable<T>(y, nf, "y");
        need(act >= 0 && act <= 4, "act: unknown activation code");
        need(act == 0 || pa != py_, "y: must not be a for an activation");
        const T* px = x.data();
        const T* pW = W.data();
        py::gil_scoped_release release;
        zk::dense::forward<T>(px, pW, pb, pa, py_, n, k, f, act, static_cast<T>(slope));
      },
      py::arg("x").noconvert(), py::arg("W").noconvert(), py::arg("b"),
      py::arg("a").noconvert(), py::arg("y").noconvert(), py::arg("act"), py::arg("slope"),
      "a = x @ W + b, y = act(a) (y may be a for identity); see dense.hpp.");
  m.def(
      "dense_backward",
      [](carray<T> x, carray<T> a, carray<T> y, carray<T> gy, carray<T> M, py::object gz_obj,
         carray<T> gW, py::object gb_obj, py::object gx_obj, int act, double slope) {
        need(x.ndim() == 2 && M.ndim() == 2 && x.shape(1) == M.shape(0),
             "x, M: expected shapes (n, k), (k, f)");
        const int n = dim(x.shape(0)), k = dim(x.shape(1)), f = dim(M.shape(1));
        const std::ptrdiff_t nf = static_cast<std::ptrdiff_t>(n) * f;
        need(a.size() == nf && y.size() == nf && gy.size() == nf, "a, y, gy: expected (n, f)");
        need(act >= 0 && act <= 4, "act: unknown activation code");
        carray<T> gz, gb, gx;
        T* pgz = optional<T>(gz_obj, gz, nf, "gz");
        need(act == 0 || pgz != nullptr, "gz: scratch required for an activation");
        T* pgW = writable<T>(gW, static_cast<std::ptrdiff_t>(k) * f, "gW");
        T* pgb = optional<T>(gb_obj, gb, f, "gb");
        T* pgx = optional<T>(gx_obj, gx, static_cast<std::ptrdiff_t>(n) * k, "gx");
        const T *px = x.data(), *pa = a.data(), *pyv = y.data(), *pgy = gy.data(), *pM = M.data();
        py::gil_scoped_release release;
        zk::dense::backward<T>(px, pa, pyv, pgy, pM, pgz, pgW, pgb, pgx, n, k, f, act,
                               static_cast<T>(slope));
      },
      py::arg("x").noconvert(), py::arg("a").noconvert(), py::arg("y").noconvert(),
      py::arg("gy").noconvert(), py::arg("M").noconvert(), py::arg("gz"),
      py::arg("gW").noconvert(), py::arg("gb"), py::arg("gx"), py::arg("act"),
      py::arg("slope"), "gz = gy act'(a); gW = x^T gz; gb = sum gz; gx = gz M^T (dense.hpp).");
  m.def(
      "act_grad",
      [](carray<T> gy, carray<T> a, carray<T> y, carray<T> gz, int act, double slope) {
        const std::ptrdiff_t n = gy.size();
        need(a.size() == n && y.size() == n, "a, y: expected gy's size");
        need(act >= 0 && act <= 4, "act: unknown activation code");
        T* pgz = writable<T>(gz, n, "gz");
        const T *pgy = gy.data(), *pa = a.data(), *pyv = y.data();
        py::gil_scoped_release release;
        zk::dense::activation_grad<T>(pgy, pa, pyv, pgz, n, act, static_cast<T>(slope));
      },
      py::arg("gy").noconvert(), py::arg("a").noconvert(), py::arg("y").noconvert(),
      py::arg("gz").noconvert(), py::arg("act"), py::arg("slope"),
      "gz = gy * act'(a) elementwise (gz may be gy).");
  m.def(
      "adam_step",
      [](carray<T> p, carray<T> g, carray<T> mm, carray<T> v, double lr, double beta1,
         double beta2, double eps, double weight_decay, long t) {
        const std::ptrdiff_t n = p.size();
        need(g.size() == n, "g: expected p's size");
        need(t >= 1, "t: expected a step count >= 1");
        T* pp = writable<T>(p, n, "p");
        T* pm = writable<T>(mm, n, "m");
        T* pv = writable<T>(v, n, "v");
        const T* pg = g.data();
        py::gil_scoped_release release;
        zk::dense::adam<T>(pp, pg, pm, pv, n, lr, beta1, beta2, eps, weight_decay, t);
      },
      py::arg("p").noconvert(), py::arg("g").noconvert(), py::arg("m").noconvert(),
      py::arg("v").noconvert(), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
      py::arg("eps"), py::arg("weight_decay"), py::arg("t"),
      "One bias-corrected Adam pass in place (dense.hpp).");
  m.def(
      "sgd_step",
      [](carray<T> p, carray<T> g, py::object buf_obj, double lr, double momentum,
         double weight_decay, bool nesterov) {
        const std::ptrdiff_t n = p.size();
        need(g.size() == n, "g: expected p's size");
        carray<T> buf;
        T* pbuf = optional<T>(buf_obj, buf, n, "buf");
        need(momentum == 0 || pbuf != nullptr, "buf: required with momentum");
        T* pp = writable<T>(p, n, "p");
        const T* pg = g.data();
        py::gil_scoped_release release;
        zk::dense::sgd<T>(pp, pg, pbuf, n, lr, momentum, weight_decay, nesterov);
      },
      py::arg("p").noconvert(), py::arg("g").noconvert(), py::arg("buf"), py::arg("lr"),
      py::arg("momentum"), py::arg("weight_decay"), py::arg("nesterov"),
      "One SGD pass in place, PyTorch convention (dense.hpp).");
  m.def(
      "softmax_xent",
      [](carray<T> y, py::array_t<std::int64_t, py::array::c_style> t, carray<T> g,
         double scale) {
        need(y.ndim() == 2 && y.shape(0) >= 1 && y.shape(1) >= 1, "y: expected (n, k)");
        const std::ptrdiff_t n = y.shape(0), k = y.shape(1);
        need(t.ndim() == 1 && t.shape(0) == n, "t: expected (n,) labels");
        T* pg = writable<T>(g, n * k, "g");
        const T* pyv = y.data();
        const std::int64_t* pt = t.data();
        py::gil_scoped_release release;
        return zk::dense::softmax_xent<T>(pyv, pt, pg, n, k, static_cast<T>(scale));
      },
      py::arg("y").noconvert(), py::arg("t").noconvert(), py::arg("g").noconvert(),
      py::arg("scale"),
      "Softmax cross-entropy of logits y with labels t in [0, k): returns the summed loss, "
      "writes g = (softmax(y) - onehot(t)) * scale (xent.hpp).");
  m.def(
      "population_losses",
      [](carray<T> x, bool per_member, carray<T> W, py::object b_obj, carray<T> t,
         py::array_t<double, py::array::c_style> out, int n_threads) {
        need(W.ndim() == 3 && W.shape(0) >= 1, "W: expected (P, n_in, n_out)");
        const int P = dim(W.shape(0)), n_in = dim(W.shape(1)), n_out = dim(W.shape(2));
        need(t.ndim() == 2 && t.shape(0) >= 1 && t.shape(1) == n_out, "t: expected (N, n_out)");
        const std::ptrdiff_t N = t.shape(0);
        need(x.ndim() == 2 && x.shape(1) == n_in &&
                 x.shape(0) == (per_member ? static_cast<std::ptrdiff_t>(P) * N : N),
             "x: expected (N, n_in), or (P * N, n_in) per member");
        need(n_threads >= 1, "n_threads: expected >= 1");
        carray<T> b;
        const T* pb = optional_input<T>(b_obj, b, static_cast<std::ptrdiff_t>(P) * n_out, "b");
        need(out.size() == P, "out: expected (P,)");
        double* pout = out.mutable_data();  // raises for a read-only array
        const T *px = x.data(), *pW = W.data(), *pt = t.data();
        py::gil_scoped_release release;
        zk::population::losses<T>(px, per_member, pW, pb, pt, pout, P, N, n_in, n_out,
                                  n_threads);
      },
      py::arg("x").noconvert(), py::arg("per_member"), py::arg("W").noconvert(), py::arg("b"),
      py::arg("t").noconvert(), py::arg("out").noconvert(), py::arg("n_threads"),
      "out[p] = 0.5 * ||x_p @ W[p] + b[p] - t||^2 in double for every member (population.hpp).");
}

}  // namespace

PYBIND11_MODULE(_framework, m) {
  m.doc() = "zenkai_np compiled kernels: dense layers and optimizers of the framework";
  zk::bind_module_common(m);
  zk::blas::load_blas();
  zk::blas::bind_blas_choice(m);
  bind<float>(m);
  bind<double>(m);
}
