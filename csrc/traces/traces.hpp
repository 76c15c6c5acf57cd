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
// The fused step works in column tiles (a few (b, j) units of width P): a
// BLAS GEMM writes the tile's J @ E into a small scratch (cache resident),
// and one streaming pass scales the rows, adds the diagonal term and
// accumulates the contraction, so E is read once and written once per step.
// Tiles are independent; per-(b, j) contraction partials are reduced over b
// in a fixed order, so results do not depend on the thread count.
//
// BLAS threads: each tile GEMM is kept below OpenBLAS's single-thread size
// threshold (M*N*K <= 2^18) where the shape allows, so our OpenMP tiles do
// not oversubscribe the cores; callers should still limit BLAS threads
// (threadpoolctl) around training loops.
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

// M*N*K of one tile GEMM stays at or below this when S allows (see above).
constexpr double kTileMNK = 262144.0;

struct Tiling {
  int units;         // (b, j) units per tile
  int tiles_per_b;   // ceil(S / units)
  std::ptrdiff_t n;  // number of tiles = B * tiles_per_b
};

inline Tiling make_tiling(int S, int B, int P) {
  Tiling t;
  const double per_unit = static_cast<double>(S) * S * P;
  int u = static_cast<int>(kTileMNK / std::max(per_unit, 1.0));
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

// The fused trace step. E: (S, B, S, P) updated in place.
// Jacobian: batched J (B, S, S) if J != nullptr, else shared W (S, S) with
// optional row factors a (B, S) (nullptr = ones). u: (B, P) or nullptr (no
// diagonal add). delta: (B, S) or nullptr (no contraction); dtheta: (S, P),
// written when delta is given. decay == 0 skips the GEMM (E = diagonal only).
template <class T>
void trace_step(T* E, int S, int B, int P, const T* W, const T* a, const T* J, T decay,
                const T* u, const T* delta, T scale, T* dtheta, int n_threads) {
  if (S <= 0 || B <= 0 || P <= 0) return;
  const Tiling tl = make_tiling(S, B, P);
  const std::ptrdiff_t ld_e = static_cast<std::ptrdiff_t>(B) * S * P;
  std::vector<T> partial;
  if (delta) partial.assign(static_cast<std::size_t>(ld_e), T(0));
  T* part = delta ? partial.data() : nullptr;
  const bool push = decay != T(0);
  parallel_chunks(tl.n, 1, n_threads, [&](std::ptrdiff_t, std::ptrdiff_t lo, std::ptrdiff_t hi) {
    std::vector<T>& scratch = scratch_buffer<T>();
    std::vector<T> rowscale(static_cast<std::size_t>(S));
    for (std::ptrdiff_t t = lo; t < hi; ++t) {
      const int b = static_cast<int>(t / tl.tiles_per_b);
      const int j0 = static_cast<int>(t % tl.tiles_per_b) * tl.units;
      const int nu = std::min(tl.units, S - j0);
      const int cols = nu * P;
      const std::ptrdiff_t off = (static_cast<std::ptrdiff_t>(b) * S + j0) * P;
      for (int i = 0; i < S; ++i)
        rowscale[i] = (J == nullptr && a != nullptr) ? decay * a[b * S + i] : decay;
      const T* src = nullptr;
      if (push) {
        if (scratch.size() < static_cast<std::size_t>(S) * cols)
          scratch.resize(static_cast<std::size_t>(S) * cols);
        const T* M = J ? J + static_cast<std::ptrdiff_t>(b) * S * S : W;
        blas::gemm_rm<T>(false, false, S, cols, S, T(1), M, S, E + off,
                         static_cast<int>(ld_e), T(0), scratch.data(), cols);
        src = scratch.data();
      }
      ZK_ISA_CALL(stream_tile<T>, src, static_cast<std::ptrdiff_t>(cols), E + off, ld_e, S, P,
                  nu, j0, rowscale.data(), u ? u + static_cast<std::ptrdiff_t>(b) * P : nullptr,
                  delta ? delta + static_cast<std::ptrdiff_t>(b) * S : nullptr,
                  part ? part + off : nullptr);
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
  const Tiling tl = make_tiling(S, B, P);
  const std::ptrdiff_t ld_e = static_cast<std::ptrdiff_t>(B) * S * P;
  std::vector<T> partial(static_cast<std::size_t>(ld_e));
  T* part = partial.data();
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
