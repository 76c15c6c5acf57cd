// Dense layers and optimizers of the learning-machine framework
// (zenkai_np/framework/fusion.py, optim.py): one call per layer and direction.
//
//   forward   a[n, f] = x[n, k] @ W[k, f] + b;  y = act(a)
//   backward  gz = gy * act'(a);  gW = x^T gz;  gb = sum_rows(gz);  gx = gz @ M^T
//             (M = W for backprop, the fixed feedback B for feedback alignment)
//   adam      m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//             p -= (m / (sqrt(v * ic2) + eps)) * step,  ic2 = 1/(1-b2^t), step = lr/(1-b1^t)
//             (g + wd p in place of g when wd != 0)
//   sgd       g' = g + wd p;  buf = mu buf + g';  p -= lr (g' + mu buf | buf)
//
// GEMMs go through the BLAS table (common/blas.hpp: NumPy's bundled OpenBLAS
// where there is one, the library np.matmul calls), elementwise passes are
// SIMD per path (dense_body.inc). All arrays are C-contiguous, validated in
// Python; one thread (the shapes of a training batch are small).
// Activation codes: 0 identity, 1 tanh, 2 sigmoid, 3 ReLU, 4 leaky ReLU.
#pragma once

#include <cmath>
#include <cstddef>

#include "../common/blas.hpp"
#include "../common/dispatch.hpp"
#include "../common/simd.hpp"

namespace zk {
namespace dense {

#define ZK_ISA_BODY "../framework/dense_body.inc"
#include "../common/foreach_isa.hpp"

template <class T>
void forward(const T* x, const T* W, const T* b, T* a, T* y, int n, int k, int f, int act,
             T slope) {
  blas::gemm_rm<T>(false, false, n, f, k, T(1), x, k, W, f, T(0), a, f);
  if (b || act != 0) ZK_ISA_CALL(bias_act<T>, a, b, y, n, f, act, slope);
}

// gz is scratch of gy's size (unused for identity); gb and gx may be null.
template <class T>
void backward(const T* x, const T* a, const T* y, const T* gy, const T* M, T* gz, T* gW, T* gb,
              T* gx, int n, int k, int f, int act, T slope) {
  const T* g = gy;
  if (act != 0) {
    ZK_ISA_CALL(act_grad<T>, gy, a, y, gz, static_cast<std::ptrdiff_t>(n) * f, act, slope);
    g = gz;
  }
  blas::gemm_rm<T>(true, false, k, f, n, T(1), x, k, g, f, T(0), gW, f);
  if (gb) ZK_ISA_CALL(column_sums<T>, g, gb, n, f);
  if (gx) blas::gemm_rm<T>(false, true, n, k, f, T(1), g, f, M, f, T(0), gx, k);
}

template <class T>
void activation_grad(const T* gy, const T* a, const T* y, T* gz, std::ptrdiff_t m, int act,
                     T slope) {
  ZK_ISA_CALL(act_grad<T>, gy, a, y, gz, m, act, slope);
}

// The scalar constants are rounded to T exactly as NumPy rounds the Python
// floats of optim.Adam (NEP 50: a Python float meets a T array as a T).
template <class T>
void adam(T* p, const T* g, T* m, T* v, std::ptrdiff_t count, double lr, double beta1,
          double beta2, double eps, double weight_decay, long t) {
  const double c1 = 1 - std::pow(beta1, static_cast<double>(t));
  const double c2 = 1 - std::pow(beta2, static_cast<double>(t));
  ZK_ISA_CALL(adam_pass<T>, p, g, m, v, count, T(beta1), T(beta2), T(1 - beta1), T(1 - beta2),
              T(1.0 / c2), T(lr / c1), T(eps), T(weight_decay));
}

template <class T>
void sgd(T* p, const T* g, T* buf, std::ptrdiff_t count, double lr, double momentum,
         double weight_decay, bool nesterov) {
  ZK_ISA_CALL(sgd_pass<T>, p, g, buf, count, T(lr), T(momentum), T(weight_decay), nesterov);
}

}  // namespace dense
}  // namespace zk
