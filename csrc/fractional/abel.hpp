// Real fractional iterate of exp via Abel's equation with a piecewise-linear
// seed (Köpp, van der Smagt, Urban 2016; docs/fractional.md):
//
//   psi(x)    = expm1(x)                (x < 0)
//             = x                       (0 <= x < 1)
//             = log^(k)(x) + k          (x >= 1, k smallest with log^(k) x < 1)
//   psi^-1(p) = log1p(p)                (-1 < p < 0)
//             = exp^(k)(p - k)          (p >= 0, k = floor p)
//   exp^(n)(x) = psi^-1(psi(x) + n),    NaN where psi(x) + n <= -1.
//
// Derivatives: dy/dx = psi'(x) / psi'(y), dy/dn = 1 / psi'(y), with psi'(x)
// a product over the log chain and 1/psi'(y) a product over the exp chain.
//
// Vector form with lane compaction (abel_body.inc): blocks of elements are
// swept by vectors that only compare and blend and queue the positions of
// the elements needing each transcendental stage (expm1, log chains, log1p,
// exp chains); the stages then run on whole vectors of queued elements, so no
// lane computes for an element that does not need it. Every chain has a fixed
// length bound (4 logs, 4 exps): in double and float, log^(4) of the largest
// finite value is < 1 and exp^(5) of anything >= 0 overflows.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../common/dispatch.hpp"
#include "../common/parallel.hpp"
#include "../common/simd.hpp"

namespace zk {
namespace fracexp {

#define ZK_ISA_BODY "../fractional/abel_body.inc"
#include "../common/foreach_isa.hpp"

// Elements are processed in chunks of a fixed size (so results do not depend
// on the thread count); the n-pattern of length `period` repeats along the
// flat array: x[i] pairs with n[i % period].
constexpr std::ptrdiff_t kAbelChunk = 8192;

// A call whose outputs (y, and dy/dx, dy/dn) take at least this many bytes
// writes them with non-temporal stores: past the caches, without first reading
// each output line from memory. Outputs that large would not stay cached for
// their consumer anyway (8 MiB is a quarter of a 32 MiB L3, the threshold
// glibc's memcpy uses for the same choice); smaller ones are stored normally.
// Results are the same bits either way. Zen 5, float64 with derivatives, 1M
// elements, NumPy's arrays (each at its own offset within a cache line), the
// two forms interleaved in one process: v4 x ~ U(-2.5, 6) 5.57 -> 4.98
// ns/element, N(0, 1) 3.83 -> 3.44, U(-5, 20) 6.72 -> 6.39, float32 U(-2.5, 6)
// 4.00 -> 3.69, two threads 2.75 -> 2.61; v3 U(-2.5, 6) 7.44 -> 7.10, N(0, 1)
// 6.27 -> 5.24. Settable for tests.
inline std::atomic<std::ptrdiff_t>& abel_stream_min_bytes() {
  static std::atomic<std::ptrdiff_t> bytes{std::ptrdiff_t(8) << 20};
  return bytes;
}

template <class T, bool Grad>
void abel_eval(const T* x, const T* n, std::ptrdiff_t period, T* y, T* dx, T* dn,
               std::ptrdiff_t size, int n_threads) {
  const std::ptrdiff_t out_bytes = size * static_cast<std::ptrdiff_t>(sizeof(T)) * (Grad ? 3 : 1);
  const bool stream = out_bytes >= abel_stream_min_bytes().load(std::memory_order_relaxed);
  parallel_chunks(size, kAbelChunk, n_threads,
                  [&](std::ptrdiff_t, std::ptrdiff_t lo, std::ptrdiff_t hi) {
                    const std::ptrdiff_t off = lo % period;
                    if (Grad)
                      ZK_ISA_CALL(abel_grad_chunk<T>, x + lo, n, period, off, y + lo, dx + lo,
                                  dn + lo, hi - lo, stream);
                    else
                      ZK_ISA_CALL(abel_value_chunk<T>, x + lo, n, period, off, y + lo, hi - lo,
                                  stream);
                  });
}

}  // namespace fracexp
}  // namespace zk
