// Eligibility traces of BP(lambda) (Pemberton & Costa 2024; spec bplambda.md
// §1.4, §2). For every batch element b the trace of a linear synthesiser
// g(u) = Theta [u; 1] (Theta: S x P, P = D + 1 with the bias as last column) is
//
//   E_b <- decay * J_b E_b + dg(u_b)/dTheta,   (dg/dTheta)[i, j, p] = [i == j] u_b[p]
//   dTheta[j, p] = scale * sum_{b, i} delta[b, i] E[i, b, j, p]
//
// Layout "i-major": E has shape (S, B, S, P), i.e. an S x (B*S*P) matrix
// whose row i holds every (b, j, p). Then J_b E_b for a Jacobian shared up to
// row factors, J_b = diag(a_b) W, is one GEMM W @ E followed by a row scale.
// Explicit per-sample Jacobians J (B, S, S) use one GEMM per b.
//
// The fused step works in column tiles (a few (b, j) units of width P of one
// b): the row factors are folded into the tile's S x S matrix, one BLAS GEMM
// pushes the tile, one BLAS GEMV on the same cache-resident tile gives its
// contraction, and the diagonal term is added to both, so E is read once and
// written once per step (out of place: straight from the GEMM).
// Tiles are independent; per-(b, j) contraction partials are reduced over b
// in a fixed order, so results do not depend on the thread count.
//
// BLAS threads: our OpenMP threads each call BLAS on their own tiles; limit
// BLAS to one thread (threadpoolctl) around loops that use n_threads > 1.
// BLAS never splits the K dimension, so results do not depend on its threads.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "../common/blas.hpp"
#include "../common/dispatch.hpp"
#include "../common/parallel.hpp"
#include "../common/simd.hpp"

namespace zk {
namespace traces {

#define ZK_ISA_BODY "../traces/traces_body.inc"
#include "../common/foreach_isa.hpp"

// Bytes of one tile of E (S rows x cols): small enough that the GEMM's input
// and output tiles and the GEMV's re-read stay in L2.
inline double& tile_bytes() {
  static double v = 524288.0;
  return v;
}

// Below this many flops per call the kernels run on one thread: a thread team
// costs more than it saves there (and on an oversubscribed machine far more).
constexpr double kParallelMinFlops = 3.0e7;

struct Tiling {
  int units;         // (b, j) units per tile
  int tiles_per_b;   // ceil(S / units)
  std::ptrdiff_t n;  // number of tiles = B * tiles_per_b
};

inline Tiling make_tiling(int S, int B, int P, std::size_t elem) {
  Tiling t;
  const double per_unit = static_cast<double>(S) * P * elem;
  int u = static_cast<int>(tile_bytes() / std::max(per_unit, 1.0));
  t.units = std::max(1, std::min(u, S));
  t.tiles_per_b = (S + t.units - 1) / t.units;
  t.n = static_cast<std::ptrdiff_t>(B) * t.tiles_per_b;
  return t;
}

template <class T>
inline std::vector<T>& scratch_buffer() {
  thread_local std::vector<T> buf;
  return buf;
}

// The fused trace step. E_in: (S, B, S, P); the new trace goes to E_out
// (E_out == E_in: in place, through a per-tile scratch; else E_in is left
// unchanged and E_out must not overlap it).
// Jacobian: batched J (B, S, S) if J != nullptr, else shared W (S, S) with
// optional row factors a (B, S) (nullptr = ones). u: (B, P) or nullptr (no
// diagonal add). delta: (B, S) or nullptr (no contraction); dtheta: (S, P),
// written when delta is given. decay == 0 skips the GEMM (E = diagonal only).
//
// Per tile (one b, units j0..j0+nu): A = diag(decay * a_b) W (or decay J_b),
// one GEMM E_out[:, tile] = A @ E_in[:, tile]; the contraction of the pushed
// part is one GEMV with v = A^T delta_b on the same (cache-resident) tile,
//   sum_i delta_i (A E_in)[i, c] = (A^T delta)^T E_in[:, c],
// and the diagonal term adds u_b to E_out and delta_b[j] u_b to the partials.
//
// spare_row: E_out has one more row of B*S*P entries after its S rows
// (storage (S+1, B, S, P)); then the contraction row v^T is appended to the
// tile matrix and the GEMM itself writes the per-(b, j) partials into that
// row, so no separate GEMV pass over the tile is needed (out of place only).
template <class T>
void trace_step(const T* E_in, T* E_out, int S, int B, int P, const T* W, const T* a,
                const T* J, T decay, const T* u, const T* delta, T scale, T* dtheta,
                int n_threads, bool spare_row = false) {
  if (S <= 0 || B <= 0 || P <= 0) return;
  const Tiling tl = make_tiling(S, B, P, sizeof(T));
  const std::ptrdiff_t ld_e = static_cast<std::ptrdiff_t>(B) * S * P;
  const bool in_place = E_in == E_out;
  const bool push = decay != T(0);
  if (2.0 * S * S * static_cast<double>(ld_e) < kParallelMinFlops) n_threads = 1;
  const bool fold = spare_row && !in_place && push && delta != nullptr;
  std::vector<T> partial;
  if (delta && !fold) partial.assign(static_cast<std::size_t>(ld_e), T(0));
  T* part = delta ? (fold ? E_out + S * ld_e : partial.data()) : nullptr;
  const int M_rows = fold ? S + 1 : S;
  parallel_chunks(tl.n, 1, n_threads, [&](std::ptrdiff_t, std::ptrdiff_t lo, std::ptrdiff_t hi) {
    std::vector<T>& scratch = scratch_buffer<T>();
    std::vector<T> A(static_cast<std::size_t>(S + 1) * S), v(static_cast<std::size_t>(S));
    for (std::ptrdiff_t t = lo; t < hi; ++t) {
      const int b = static_cast<int>(t / tl.tiles_per_b);
      const int j0 = static_cast<int>(t % tl.tiles_per_b) * tl.units;
      const int nu = std::min(tl.units, S - j0);
      const int cols = nu * P;
      const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(b) * S + j0) * P;
      const T* ub = u ? u + static_cast<std::ptrdiff_t>(b) * P : nullptr;
      const T* db = delta ? delta + static_cast<std::ptrdiff_t>(b) * S : nullptr;
      T* acc = part ? part + off : nullptr;
      if (push) {
        const T* M = J ? J + static_cast<std::ptrdiff_t>(b) * S * S : W;
        const T* ab = (J == nullptr && a != nullptr) ? a + static_cast<std::ptrdiff_t>(b) * S
                                                     : nullptr;
        ZK_ISA_CALL(scale_rows<T>, M, ab, decay, S, A.data());
        if (fold) {  // row S of the tile matrix: v = A^T delta_b
          ZK_ISA_CALL(vec_mat<T>, db, A.data(), S, A.data() + static_cast<std::ptrdiff_t>(S) * S);
        } else if (db) {
          ZK_ISA_CALL(vec_mat<T>, db, A.data(), S, v.data());  // v = A^T delta_b
          blas::gemv_rm<T>(true, S, cols, T(1), E_in + off, static_cast<int>(ld_e), v.data(),
                           T(0), acc);
        }
        if (in_place) {
          if (scratch.size() < static_cast<std::size_t>(S) * cols)
            scratch.resize(static_cast<std::size_t>(S) * cols);
          blas::gemm_rm<T>(false, false, S, cols, S, T(1), A.data(), S, E_in + off,
                           static_cast<int>(ld_e), T(0), scratch.data(), cols);
          ZK_ISA_CALL(copy_rows<T>, scratch.data(), static_cast<std::ptrdiff_t>(cols),
                      E_out + off, ld_e, S, static_cast<std::ptrdiff_t>(cols));
        } else {
          blas::gemm_rm<T>(false, false, M_rows, cols, S, T(1), A.data(), S, E_in + off,
                           static_cast<int>(ld_e), T(0), E_out + off, static_cast<int>(ld_e));
        }
      } else {
        ZK_ISA_CALL(zero_rows<T>, E_out + off, ld_e, S, static_cast<std::ptrdiff_t>(cols));
        if (acc)
          for (int c = 0; c < cols; ++c) acc[c] = T(0);
      }
      if (ub)
        ZK_ISA_CALL(add_diag_tile<T>, E_out + off, ld_e, P, nu, j0, ub, db, acc);
    }
  });
  if (delta && dtheta)
    ZK_ISA_CALL(reduce_batch<T>, part, static_cast<std::ptrdiff_t>(S) * P, B,
                static_cast<std::ptrdiff_t>(S) * P, scale, dtheta);
}

// dtheta[j, p] = scale * sum_{b, i} delta[b, i] E[i, b, j, p]; E unchanged.
template <class T>
void trace_contract(const T* E, int S, int B, int P, const T* delta, T scale, T* dtheta,
                    int n_threads) {
  if (S <= 0 || B <= 0 || P <= 0) return;
  const Tiling tl = make_tiling(S, B, P, sizeof(T));
  const std::ptrdiff_t ld_e = static_cast<std::ptrdiff_t>(B) * S * P;
  std::vector<T> partial(static_cast<std::size_t>(ld_e));
  T* part = partial.data();
  if (2.0 * S * static_cast<double>(ld_e) < kParallelMinFlops) n_threads = 1;
  parallel_chunks(tl.n, 1, n_threads, [&](std::ptrdiff_t, std::ptrdiff_t lo, std::ptrdiff_t hi) {
    for (std::ptrdiff_t t = lo; t < hi; ++t) {
      const int b = static_cast<int>(t / tl.tiles_per_b);
      const int j0 = static_cast<int>(t % tl.tiles_per_b) * tl.units;
      const int nu = std::min(tl.units, S - j0);
      const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(b) * S + j0) * P;
      ZK_ISA_CALL(contract_tile<T>, E + off, ld_e, S, P, nu,
                  delta + static_cast<std::ptrdiff_t>(b) * S, part + off);
    }
  });
  ZK_ISA_CALL(reduce_batch<T>, part, static_cast<std::ptrdiff_t>(S) * P, B,
              static_cast<std::ptrdiff_t>(S) * P, scale, dtheta);
}

// E[i, b, i, :] += u[b, :] (the diagonal term dg/dTheta), in place.
template <class T>
void trace_add_diag(T* E, int S, int B, int P, const T* u) {
  const std::ptrdiff_t ld_e = static_cast<std::ptrdiff_t>(B) * S * P;
  for (int i = 0; i < S; ++i)
    for (int b = 0; b < B; ++b) {
      T* dst = E + i * ld_e + (static_cast<std::ptrdiff_t>(b) * S + i) * P;
      const T* src = u + static_cast<std::ptrdiff_t>(b) * P;
      for (int p = 0; p < P; ++p) dst[p] += src[p];
    }
}

}  // namespace traces
}  // namespace zk
