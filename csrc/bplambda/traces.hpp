// Eligibility traces of BP(lambda) (Pemberton & Costa 2024;
// docs/bplambda.md). For every batch element b the trace of a linear synthesiser
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
// For S <= inhouse_push_max_s() (use_inhouse_push) the push is the in-house
// register-blocked kernel push_tile (traces_body.inc), which adds the
// diagonal term and contracts while each output block is in registers.
// Otherwise the fused step works in column tiles (a few (b, j) units of width P of one
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
#include <cmath>
#include <cstddef>
#include <vector>

#include "../common/blas.hpp"
#include "../common/dispatch.hpp"
#include "../common/parallel.hpp"
#include "../common/simd.hpp"

namespace zk {
namespace traces {

#define ZK_ISA_BODY "../bplambda/traces_body.inc"
#include "../common/foreach_isa.hpp"

// Column tiles of the fused step. A tile is a column range of one sample b
// (all S rows): the GEMM A (S x S) @ E_in[:, tile] -> E_out[:, tile] is one
// BLAS call of M = S, K = S, N = cols (no extra row: an odd M runs the
// OpenBLAS kernels at a much lower rate, measured). Narrow tiles keep the
// tile (S rows x cols) in L1/L2 for the diagonal add and the contraction pass
// that follow, and S*S*cols <= ~1e6 keeps OpenBLAS on its unpacked
// small-matrix path, which ran 1.2-1.6x faster than the packed path at
// S = 60 (SciPy's OpenBLAS 0.3.30, SkylakeX kernels) in float32; float64 ran
// best with the longest calls. tile_cols() = 0: auto.
// Where the contraction happens (benchmark knob; -1: automatic):
// 0 "fold": as an extra output row of the GEMM (needs the spare row);
// 1 "before": one SIMD pass over the E_in tile with v = A_b^T delta_b (this
//   pass also brings the tile into cache for the GEMM);
// 2 "after": one SIMD pass over the freshly written E_out tile.
inline int& contract_mode() {
  static int v = -1;
  return v;
}
inline int& tile_cols() {
  static int v = 0;
  return v;
}
// Which code pushes the trace (benchmark and test knob): -1 automatic
// (use_inhouse_push), 0 BLAS GEMM per tile, 1 the in-house microkernel (push_tile).
inline int& push_kernel() {
  static int v = -1;
  return v;
}

// The rule for the automatic choice: the in-house push (push_tile) for
// S <= inhouse_push_max_s() on the v3 (AVX2+FMA) and v4 (AVX-512) paths; BLAS
// above, and on the baseline path. Each bound is the largest S measured
// (NumPy's OpenBLAS 0.3.31, one thread; docs/bplambda.md):
// - v3, AMD EPYC Zen 3 (2026-12): faster at every S tried, 30 to 150, float32
//   and float64, in place too (S = 30: 0.29 vs 0.36 ms float32; S = 150: 26 vs
//   31 ms). At K = S this small a BLAS call spends much of its time outside its
//   FMA loop (zeroing C for beta = 0, packing, set-up) and the diagonal add and
//   contraction take further passes. push_tile has no blocking of K: above
//   S ~ 150 the S x S matrix no longer sits in Zen 3's 512 KiB L2 beside the
//   panel, so BLAS keeps large S.
// - v4, AMD EPYC Zen 5 (2026-12): 1.9-2.2x the BLAS push at every S tried, 30
//   to 600, float32 and float64 (S = 30: 0.14 vs 0.30 ms float32), where
//   OpenBLAS takes its Haswell (AVX2) kernels for this CPU; against its
//   AVX-512 kernels (OPENBLAS_CORETYPE=SkylakeX, as on an Intel AVX-512 CPU)
//   as fast at S = 30 and 1.2-1.4x faster at S = 150 to 600.
// Baseline (SSE2, no FMA): push_tile ran 2.7x slower than the BLAS path (1.45
// vs 0.54 ms, float32 (10, 30, 30), Zen 3; OpenBLAS keeps its own AVX2 kernels
// whatever our path), and no pre-AVX2 CPU was at hand to measure.
constexpr int kInhousePushMaxSv3 = 150;
constexpr int kInhousePushMaxSv4 = 600;
constexpr std::ptrdiff_t kInhouseTileCols = 1024;  // columns per in-house tile (at most)
inline int inhouse_push_max_s() {
  switch (::zk::simd_level()) {
    case ::zk::SimdLevel::v3: return kInhousePushMaxSv3;
    case ::zk::SimdLevel::v4: return kInhousePushMaxSv4;
    default: return 0;
  }
}
inline bool use_inhouse_push(int S) {
  const int k = push_kernel();
  if (k >= 0) return k == 1;
  return S <= inhouse_push_max_s();
}

// Tile columns for S rows: the knob, or the largest multiple of 16 with
// S*S*cols <= 1e6 (at least 64, at most the sample's S*P columns); tiles of
// one sample are then balanced to equal widths (multiples of 16).
inline int auto_tile_cols(int S, std::ptrdiff_t per_b, std::size_t elem, bool in_place) {
  std::ptrdiff_t c = tile_cols();
  if (c <= 0) {
    if (elem == 4)  // float32: OpenBLAS's small-matrix sgemm path (S*S*cols <= 1e6)
      c = static_cast<std::ptrdiff_t>(1.0e6 / (static_cast<double>(S) * S));
    else  // float64 (the dgemm small-matrix path was slower): in place 512 KiB tiles
          // (tile and scratch stay in L2); out of place up to 2 MiB (one sample per
          // call at S = 60: fewer, longer dgemm calls ran faster there)
      c = static_cast<std::ptrdiff_t>((in_place ? 524288.0 : 2097152.0) /
                                      (static_cast<double>(S) * elem));
    c = std::max<std::ptrdiff_t>(64, c / 16 * 16);
  }
  if (c >= per_b) return static_cast<int>(per_b);
  const std::ptrdiff_t n = (per_b + c - 1) / c;
  std::ptrdiff_t w = (per_b + n - 1) / n;
  w = std::min<std::ptrdiff_t>(per_b, (w + 15) / 16 * 16);
  return static_cast<int>(w);
}

// Traces above this many bytes are best updated in place (see trace_sequence);
// zenkai_np.bplambda.traces.EligibilityTrace follows the same rule.
constexpr double kInPlaceBytes = 8.0 * 1024 * 1024;  // exported as _bplambda.IN_PLACE_BYTES
inline bool prefer_in_place(double trace_bytes) { return trace_bytes > kInPlaceBytes; }

// Below this many flops per call the kernels run on one thread: a thread team
// costs more than it saves there (and on an oversubscribed machine far more).
constexpr double kParallelMinFlops = 3.0e7;

struct Tiling {
  int cols;          // columns per tile (the last tile of a sample may be narrower)
  int tiles_per_b;
  std::ptrdiff_t per_b;  // S * P columns per sample
  std::ptrdiff_t n;  // number of tiles = B * tiles_per_b
};

inline Tiling make_tiling(int S, int B, int P, std::size_t elem, bool in_place = false) {
  Tiling t;
  t.per_b = static_cast<std::ptrdiff_t>(S) * P;
  t.cols = auto_tile_cols(S, t.per_b, elem, in_place);
  t.tiles_per_b = static_cast<int>((t.per_b + t.cols - 1) / t.cols);
  t.n = static_cast<std::ptrdiff_t>(B) * t.tiles_per_b;
  return t;
}

template <class T>
inline std::vector<T>& scratch_buffer() {
  thread_local std::vector<T> buf;
  return buf;
}

template <class T>
inline std::vector<T>& partial_buffer() {
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
// Per sample b: A_b = diag(decay * a_b) W (or decay J_b), formed once. Per
// tile (a column range of b): one BLAS GEMM E_out[:, tile] = A_b @ E_in[:, tile],
// then, on the cache-resident output tile, the diagonal term (E[j, b, j, :] += u_b
// for the units j the tile touches) and the contraction partials
// part[b, c] = sum_i delta_b[i] E_out[i, c] (one SIMD pass). dtheta is the sum of
// the partials over b in order, times scale.
//
// spare_row: E_out has one more row of B*S*P entries after its S rows
// (storage (S+1, B, S, P)); the partials are written there instead of into a
// per-thread buffer (out of place only).
template <class T>
void trace_step(const T* E_in, T* E_out, int S, int B, int P, const T* W, const T* a,
                const T* J, T decay, const T* u, const T* delta, T scale, T* dtheta,
                int n_threads, bool spare_row = false, const T* diag_in = nullptr) {
  if (S <= 0 || B <= 0 || P <= 0) return;
  const bool in_place = E_in == E_out;
  const Tiling tl = make_tiling(S, B, P, sizeof(T), in_place);
  const std::ptrdiff_t ld_e = static_cast<std::ptrdiff_t>(B) * S * P;
  const bool push = decay != T(0);
  if (2.0 * S * S * static_cast<double>(ld_e) < kParallelMinFlops) n_threads = 1;
  const bool inhouse = push && diag_in == nullptr && use_inhouse_push(S);
  int mode = contract_mode();
  // fold: out of place into the spare row, or in place through the scratch tile
  const bool can_fold = (spare_row || in_place) && push && delta != nullptr;
  // Measured (SciPy's OpenBLAS 0.3.30, SkylakeX kernels): folding costs an odd
  // M = S + 1, which the packed sgemm path runs far slower (S = 60: 64% vs 86%
  // of the GEMM rate), but it saves a pass and wins for float64 and whenever
  // a whole float32 sample is one small-matrix call (S = 30: 0.59 vs 0.72 ms).
  if (mode < 0)
    mode = can_fold && (sizeof(T) == 8 || static_cast<double>(S) * S * tl.per_b <= 1.0e6) ? 0
                                                                                         : 1;
  if (mode == 0 && !can_fold) mode = 1;
  if (!push || diag_in || inhouse) mode = 2;  // (in-house: contracted by push_tile)
  const bool fold = mode == 0;
  T* part = nullptr;
  if (delta) {
    if (spare_row && !in_place) {
      part = E_out + S * ld_e;
    } else {
      std::vector<T>& pb = partial_buffer<T>();
      if (pb.size() < static_cast<std::size_t>(ld_e)) pb.resize(static_cast<std::size_t>(ld_e));
      part = pb.data();
    }
  }
  // A_b = diag(decay a_b) W or decay J_b for every b (one matrix when shared
  // and unfolded); folded: row S is v_b = A_b^T delta_b.
  const bool per_b_matrix = J != nullptr || a != nullptr || fold;
  const int M_rows = fold ? S + 1 : S;
  const std::ptrdiff_t a_stride = static_cast<std::ptrdiff_t>(M_rows) * S;
  std::vector<T> Abuf;
  if (push) {
    const int nA = per_b_matrix ? B : 1;
    Abuf.resize(static_cast<std::size_t>(nA * a_stride));
    for (int b = 0; b < nA; ++b) {
      const T* M = J ? J + static_cast<std::ptrdiff_t>(b) * S * S : W;
      const T* ab = (J == nullptr && a != nullptr) ? a + static_cast<std::ptrdiff_t>(b) * S
                                                   : nullptr;
      T* Ab = Abuf.data() + b * a_stride;
      ZK_ISA_CALL(scale_rows<T>, M, ab, decay, S, Ab);
      if (fold)
        ZK_ISA_CALL(vec_mat<T>, delta + static_cast<std::ptrdiff_t>(b) * S, Ab, S,
                    Ab + static_cast<std::ptrdiff_t>(S) * S);
    }
  }
  if (push && diag_in) {  // (push_diagonal never reads E_in: in place is fine)
    // E_in is diagonal-only, E_in[i, b, i, :] = diag_in[b] (E_in is not read):
    // the push is an outer product per sample (push_diagonal), no GEMM.
    parallel_chunks(B, 1, n_threads, [&](std::ptrdiff_t, std::ptrdiff_t lo, std::ptrdiff_t hi) {
      for (std::ptrdiff_t b = lo; b < hi; ++b) {
        const T* A = Abuf.data() + (per_b_matrix ? b * a_stride : 0);
        T* Eb = E_out + b * tl.per_b;
        ZK_ISA_CALL(push_diagonal<T>, A, S, P, diag_in + b * P, u ? u + b * P : nullptr, Eb,
                    ld_e);
        if (delta)
          ZK_ISA_CALL(contract_cols<T>, Eb, ld_e, S, tl.per_b, delta + b * S, part + b * tl.per_b);
      }
    });
    if (delta && dtheta)
      ZK_ISA_CALL(reduce_batch<T>, part, static_cast<std::ptrdiff_t>(S) * P, B,
                  static_cast<std::ptrdiff_t>(S) * P, scale, dtheta);
    return;
  }
  if (inhouse) {
    // tiles: a sample's columns in pieces of at most kInhouseTileCols (multiples of 64)
    const std::ptrdiff_t per_b = tl.per_b;
    const std::ptrdiff_t n_pieces = (per_b + kInhouseTileCols - 1) / kInhouseTileCols;
    const std::ptrdiff_t w = ((per_b + n_pieces - 1) / n_pieces + 63) / 64 * 64;
    const std::ptrdiff_t pieces = (per_b + w - 1) / w;
    parallel_chunks(B * pieces, 1, n_threads,
                    [&](std::ptrdiff_t, std::ptrdiff_t lo, std::ptrdiff_t hi) {
      for (std::ptrdiff_t t = lo; t < hi; ++t) {
        const std::ptrdiff_t b = t / pieces, c0 = (t % pieces) * w;
        const std::ptrdiff_t cols = std::min(w, per_b - c0);
        const T* A = Abuf.data() + (per_b_matrix ? b * a_stride : 0);
        ZK_ISA_CALL(push_tile<T>, A, S, P, E_in + b * per_b, E_out + b * per_b, ld_e, c0, cols,
                    u ? u + b * P : nullptr, delta ? delta + b * S : nullptr,
                    part ? part + b * per_b : nullptr);
      }
    });
    if (delta && dtheta)
      ZK_ISA_CALL(reduce_batch<T>, part, static_cast<std::ptrdiff_t>(S) * P, B,
                  static_cast<std::ptrdiff_t>(S) * P, scale, dtheta);
    return;
  }
  parallel_chunks(tl.n, 1, n_threads, [&](std::ptrdiff_t, std::ptrdiff_t lo, std::ptrdiff_t hi) {
    std::vector<T>& scratch = scratch_buffer<T>();
    std::vector<T> v(static_cast<std::size_t>(S));
    for (std::ptrdiff_t t = lo; t < hi; ++t) {
      const int b = static_cast<int>(t / tl.tiles_per_b);
      const std::ptrdiff_t c0 = (t % tl.tiles_per_b) * tl.cols;
      const int cols = static_cast<int>(std::min<std::ptrdiff_t>(tl.cols, tl.per_b - c0));
      const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(b) * tl.per_b + c0;
      const T* ub = u ? u + static_cast<std::ptrdiff_t>(b) * P : nullptr;
      const T* db = delta ? delta + static_cast<std::ptrdiff_t>(b) * S : nullptr;
      T* part_b = part ? part + static_cast<std::ptrdiff_t>(b) * tl.per_b : nullptr;
      if (push) {
        const T* A = Abuf.data() + (per_b_matrix ? b * a_stride : 0);
        if (db && mode == 1) {
          ZK_ISA_CALL(vec_mat<T>, db, A, S, v.data());  // v = A^T delta_b
          ZK_ISA_CALL(contract_cols<T>, E_in + off, ld_e, S, static_cast<std::ptrdiff_t>(cols),
                      v.data(), part + off);
        }
        if (in_place) {  // folded: row S of the scratch tile holds the partials
          if (scratch.size() < static_cast<std::size_t>(M_rows) * cols)
            scratch.resize(static_cast<std::size_t>(M_rows) * cols);
          blas::gemm_rm<T>(false, false, M_rows, cols, S, T(1), A, S, E_in + off,
                           static_cast<int>(ld_e), T(0), scratch.data(), cols);
          ZK_ISA_CALL(copy_rows<T>, scratch.data(), static_cast<std::ptrdiff_t>(cols),
                      E_out + off, ld_e, S, static_cast<std::ptrdiff_t>(cols));
          if (fold)
            ZK_ISA_CALL(copy_rows<T>, scratch.data() + static_cast<std::ptrdiff_t>(S) * cols,
                        static_cast<std::ptrdiff_t>(cols), part + off, ld_e, 1,
                        static_cast<std::ptrdiff_t>(cols));
        } else {  // folded: row S of the output is the partials row (part == E_out + S ld_e)
          blas::gemm_rm<T>(false, false, M_rows, cols, S, T(1), A, S, E_in + off,
                           static_cast<int>(ld_e), T(0), E_out + off, static_cast<int>(ld_e));
        }
      } else {
        ZK_ISA_CALL(zero_rows<T>, E_out + off, ld_e, S, static_cast<std::ptrdiff_t>(cols));
      }
      if (ub)
        ZK_ISA_CALL(add_diag_cols<T>, E_out + static_cast<std::ptrdiff_t>(b) * tl.per_b, ld_e,
                    P, c0, static_cast<std::ptrdiff_t>(cols), ub);
      if (db && mode == 2)
        ZK_ISA_CALL(contract_cols<T>, E_out + off, ld_e, S, static_cast<std::ptrdiff_t>(cols),
                    db, part + off);
      else if (db && ub)  // modes 0 and 1 contracted the pushed part: add the diagonal's
        ZK_ISA_CALL(add_diag_partial<T>, part_b, P, c0, static_cast<std::ptrdiff_t>(cols), ub,
                    db);
    }
  });
  if (delta && dtheta)
    ZK_ISA_CALL(reduce_batch<T>, part, static_cast<std::ptrdiff_t>(S) * P, B,
                static_cast<std::ptrdiff_t>(S) * P, scale, dtheta);
}

// A whole sequence of fused steps for a shared Jacobian (the vanilla RNN's
// synthesiser update, docs/bplambda.md, update once per sequence), without
// returning to Python between steps. Step k = 0 .. n_steps-1 pushes
//   E <- decay * diag(a[k, b]) W E_b + [i = j] U[k, b],   dtheta_k = scale * sum_b,i Delta[k, b, i] E[i, b]
// and accumulates acc -= clip(dtheta_k) per tensor: the W part dtheta[:, :P-1]
// and the bias part dtheta[:, P-1] are each scaled to norm `clip` when their
// norm exceeds it (clip <= 0: no clip). The trace starts at zero, so step 0
// is the diagonal term only and step 1 pushes a diagonal-only trace (an outer
// product per sample, entry for entry what the GEMM would give); the GEMM
// runs from step 2 on. The trace alternates between E0 and E1, both
// (S + 1, B, S, P) with a spare row. a: (n_steps, B, S) or nullptr (ones).
// acc (S, P) is overwritten. Returns -1, or the first step whose dtheta is
// not finite (then acc holds the steps before it).
template <class T>
int trace_sequence(T* E0, T* E1, int S, int B, int P, int n_steps, const T* W, const T* a,
                   T decay, const T* U, const T* Delta, T scale, double clip, T* acc,
                   int n_threads) {
  const std::ptrdiff_t SP = static_cast<std::ptrdiff_t>(S) * P;
  for (std::ptrdiff_t q = 0; q < SP; ++q) acc[q] = T(0);
  std::vector<T> dtheta(static_cast<std::size_t>(SP));
  // Large traces are updated in place (through per-tile scratch): that saves
  // the write-allocate reads of a second buffer, which decide the rate once
  // E is far larger than L2 (float64 (50, 60, 60): 35.0 vs 38.1 ms per step);
  // small ones alternate E0 and E1 (toy float32: 0.25 vs 0.27 ms).
  const bool in_place = prefer_in_place(static_cast<double>(S) * B * S * P * sizeof(T));
  T* bufs[2] = {E0, in_place ? E0 : E1};
  const int D = P - 1;
  for (int k = 0; k < n_steps; ++k) {
    const T* src = bufs[k & 1];
    T* dst = bufs[1 - (k & 1)];
    const std::ptrdiff_t kB = static_cast<std::ptrdiff_t>(k) * B;
    // step 0: the trace is zero (no push); step 1: it is diagonal-only, [i = j] U[0]
    trace_step<T>(src, dst, S, B, P, W, a ? a + kB * S : nullptr, nullptr,
                  k == 0 ? T(0) : decay, U + kB * P, Delta + kB * S, scale, dtheta.data(),
                  n_threads, !in_place, k == 1 ? U : nullptr);
    double nw = 0, nb = 0;
    bool finite = true;
    for (int j = 0; j < S; ++j) {
      const T* row = dtheta.data() + static_cast<std::ptrdiff_t>(j) * P;
      for (int m = 0; m < D; ++m) {
        const double x = row[m];
        finite = finite && std::isfinite(x);
        nw += x * x;
      }
      finite = finite && std::isfinite(row[D]);
      nb += static_cast<double>(row[D]) * row[D];
    }
    if (!finite) return k;  // (a norm may overflow to inf: then the clip factor is 0)
    const double norm_w = std::sqrt(nw), norm_b = std::sqrt(nb);
    const bool cw = clip > 0 && norm_w > clip, cb = clip > 0 && norm_b > clip;
    const T fw = cw ? static_cast<T>(clip / norm_w) : T(1);
    const T fb = cb ? static_cast<T>(clip / norm_b) : T(1);
    for (int j = 0; j < S; ++j) {
      const T* row = dtheta.data() + static_cast<std::ptrdiff_t>(j) * P;
      T* out = acc + static_cast<std::ptrdiff_t>(j) * P;
      if (cw)
        for (int m = 0; m < D; ++m) out[m] -= row[m] * fw;
      else
        for (int m = 0; m < D; ++m) out[m] -= row[m];
      out[D] -= cb ? row[D] * fb : row[D];
    }
  }
  return -1;
}

// dtheta[j, p] = scale * sum_{b, i} delta[b, i] E[i, b, j, p]; E unchanged.
template <class T>
void trace_contract(const T* E, int S, int B, int P, const T* delta, T scale, T* dtheta,
                    int n_threads) {
  if (S <= 0 || B <= 0 || P <= 0) return;
  const Tiling tl = make_tiling(S, B, P, sizeof(T));
  const std::ptrdiff_t ld_e = static_cast<std::ptrdiff_t>(B) * S * P;
  std::vector<T>& pb = partial_buffer<T>();
  if (pb.size() < static_cast<std::size_t>(ld_e)) pb.resize(static_cast<std::size_t>(ld_e));
  T* part = pb.data();
  if (2.0 * S * static_cast<double>(ld_e) < kParallelMinFlops) n_threads = 1;
  parallel_chunks(tl.n, 1, n_threads, [&](std::ptrdiff_t, std::ptrdiff_t lo, std::ptrdiff_t hi) {
    for (std::ptrdiff_t t = lo; t < hi; ++t) {
      const int b = static_cast<int>(t / tl.tiles_per_b);
      const std::ptrdiff_t c0 = (t % tl.tiles_per_b) * tl.cols;
      const std::ptrdiff_t cols = std::min<std::ptrdiff_t>(tl.cols, tl.per_b - c0);
      const std::ptrdiff_t off = static_cast<std::ptrdiff_t>(b) * tl.per_b + c0;
      ZK_ISA_CALL(contract_cols<T>, E + off, ld_e, S, cols,
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
