// Softmax cross-entropy on logits with integer labels, value and gradient in
// one pass (zenkai_np/framework/losses.py, CrossEntropyLoss):
//
//   z = y - max_row(y);  e = exp(z);  s = sum_row(e)
//   total = sum_i (log s_i - z[i, t_i])                  (accumulated in double)
//   g = (e / s - onehot(t)) * scale
//
// Scalar loops: a batch's rows hold a few classes, and the cost this replaces
// was a dozen NumPy calls per batch, not arithmetic. Labels arrive validated
// (0 <= t < k); NaN/inf in y propagate to total and g as in NumPy.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

namespace zk {
namespace dense {

template <class T>
double softmax_xent(const T* y, const std::int64_t* t, T* g, std::ptrdiff_t n, std::ptrdiff_t k,
                    T scale) {
  double total = 0.0;
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const T* yi = y + i * k;
    T* gi = g + i * k;
    T m = yi[0];
    for (std::ptrdiff_t j = 1; j < k; ++j) m = yi[j] > m ? yi[j] : m;
    T s = T(0);
    for (std::ptrdiff_t j = 0; j < k; ++j) {
      gi[j] = std::exp(yi[j] - m);
      s += gi[j];
    }
    const std::ptrdiff_t c = static_cast<std::ptrdiff_t>(t[i]);
    total += static_cast<double>(std::log(s)) - static_cast<double>(yi[c] - m);
    for (std::ptrdiff_t j = 0; j < k; ++j) gi[j] /= s;
    gi[c] -= T(1);
    for (std::ptrdiff_t j = 0; j < k; ++j) gi[j] *= scale;
  }
  return total;
}

}  // namespace dense
}  // namespace zk
