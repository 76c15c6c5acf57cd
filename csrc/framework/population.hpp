// Local losses of a population of dense layers (zenkai_np/framework/population_kernel.py):
//
//   loss[p] = 0.5 * sum_{i,j} (x_p W_p + b_p - t)[i, j]^2       (accumulated in double)
//
// for members p of a population of `Linear(n_in, n_out)` layers, x_p the shared
// batch x (N, n_in) or member p's own rows. The output is never materialised:
// each member is one pass of register tiles (population_body.inc) over x^T in
// panels, which each thread packs once per call (per member when x is per
// member). Members run in parallel; each is computed start to finish by one
// thread, so results are identical for any thread count. Arrays arrive
// validated from Python: C-contiguous, one dtype.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <new>
#include <utility>
#include <vector>

#include "../common/dispatch.hpp"
#include "../common/parallel.hpp"
#include "../common/simd.hpp"

namespace zk {
namespace population {

#define ZK_ISA_BODY "../framework/population_body.inc"
#include "../common/foreach_isa.hpp"

// src (rows, cols) packed by panel of R rows: dst[panel][c][r % R], the rows
// past `rows` of the last panel zero. Used for t (to double); x takes the same
// layout from pop_pack_x (population_body.inc), which transposes whole blocks in
// registers: at N = 64, n_in = 64 this loop was most of a call's fixed cost (a
// 1-member float32 call on Zen 5: 2.67 us with it for x, 1.72 us with pop_pack_x).
template <class S, class D>
void pack_panels(const S* src, std::ptrdiff_t rows, std::ptrdiff_t cols, std::ptrdiff_t R,
                 D* dst) {
  const std::ptrdiff_t padded = (rows + R - 1) / R * R;
  for (std::ptrdiff_t r0 = 0; r0 < padded; r0 += R) {
    D* d = dst + r0 * cols;
    const std::ptrdiff_t n = std::min(R, rows - r0);
    for (std::ptrdiff_t r = 0; r < n; ++r)
      for (std::ptrdiff_t c = 0; c < cols; ++c)
        d[c * R + r] = static_cast<D>(src[(r0 + r) * cols + c]);
    for (std::ptrdiff_t c = 0; c < cols; ++c) std::fill(d + c * R + n, d + c * R + R, D(0));
  }
}

// A thread's packed x and t, kept between calls up to kKeepBytes. Every thread
// packs from the caller's arrays into its own buffers, so no buffer is written by
// one thread and read by another: on this VM the vCPUs share no cache, and pulling
// another thread's freshly written lines cost more than packing again (2 members
// on 2 threads: 18-22 us with one copy packed by the calling thread, against
// 6-9 us on one thread). Kept rather than allocated per call: a fresh block per
// call measured 2-5 us slower at 2 members and 10-20% at 64 (N = 64).
template <class T>
struct Scratch {
  std::vector<T> xp;
  std::vector<double> tp;
  unsigned long call = 0;  // the call whose panels these are
};

template <class T>
Scratch<T>& thread_scratch() {
  thread_local Scratch<T> s;
  return s;
}

inline unsigned long next_call() {
  static std::atomic<unsigned long> calls{0};
  return ++calls;
}

// Larger panels are freed when the call ends.
constexpr std::size_t kKeepBytes = std::size_t(1) << 20;

// One member per chunk, handed out dynamically: the best balance when one vCPU
// is slowed. Two threads then write to one cache line of `loss`, but only once
// per member (about a microsecond apart), which costs nothing measurable.
constexpr std::ptrdiff_t kMembersPerChunk = 1;

// x: (N, n_in), or (P, N, n_in) when per_member; W: (P, n_in, n_out);
// b: (P, n_out) or null; t: (N, n_out); loss: (P,). Throws std::bad_alloc
// (after the parallel region) when a thread's buffers cannot grow.
template <class T>
void losses(const T* x, bool per_member, const T* W, const T* b, const T* t, double* loss, int P,
            std::ptrdiff_t N, int n_in, int n_out, int n_threads) {
  int rows = 1;
  ZK_ISA_CALL(pop_row_block<T>, &rows);
  const std::ptrdiff_t padded = (N + rows - 1) / rows * rows;
  const std::size_t nx = static_cast<std::size_t>(n_in) * padded;
  const std::size_t ntp = static_cast<std::size_t>(n_out) * padded;
  const unsigned long call = next_call();
  const int slots = std::max(n_threads, 1);  // parallel_chunks runs at most this many threads
  std::vector<Scratch<T>*> used(slots, nullptr);
  std::atomic<bool> failed{false};
  parallel_chunks(P, kMembersPerChunk, n_threads,
                  [&](std::ptrdiff_t, std::ptrdiff_t p0, std::ptrdiff_t p1) {
    Scratch<T>& s = thread_scratch<T>();
    if (s.call != call) {
      used[std::min(thread_index(), slots - 1)] = &s;
      try {
        s.xp.resize(nx);
        s.tp.resize(ntp);
      } catch (const std::bad_alloc&) {
        failed = true;
        return;
      }
      pack_panels(t, N, n_out, rows, s.tp.data());
      if (!per_member) ZK_ISA_CALL(pop_pack_x<T>, x, N, n_in, s.xp.data());
      s.call = call;
    }
    for (std::ptrdiff_t p = p0; p < p1; ++p) {
      if (per_member) ZK_ISA_CALL(pop_pack_x<T>, x + p * N * n_in, N, n_in, s.xp.data());
      const T* bp = b ? b + p * n_out : nullptr;
      ZK_ISA_CALL(pop_member_loss<T>, s.xp.data(), W + p * n_in * n_out, bp, s.tp.data(), N,
                  n_in, n_out, loss + p);
    }
  });
  // The threads are idle now (the region has ended): their buffers can be freed here.
  if (nx * sizeof(T) + ntp * sizeof(double) > kKeepBytes || failed)
    for (Scratch<T>* s : used)
      if (s) *s = Scratch<T>();
  if (failed) throw std::bad_alloc();
}

}  // namespace population
}  // namespace zk
