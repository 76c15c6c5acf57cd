// Streaming contractions of empirical Hermite moment tensors
// (docs/moments.md). For data X (N x d), weights r (N) and R
// directions g_r (columns of G, d x R), with n = order - 2, s = <g, x>,
// sigma2 = |g|^2 and H_m the scaled Hermite polynomials,
//   w0 = r H_n(s), w1 = r H_{n-1}(s), w2 = r H_{n-2}(s),
// one pass over X accumulates, per direction r:
//   sums    sum w0, sum w1, sum w2
//   b1      X^T w1                                     (d)
//   b0      X^T w0            (optional; vector contractions)
//   A       X^T diag(w0) X    (gram mode; upper triangle)       (d x d)
//   P       X^T (w0 * X B)    (apply mode, against B: d x m)    (d x m)
//   c       w1^T X B          (apply mode)                      (m)
// The identity and g-corrections are assembled by the caller (O(R d^2)).
//
// Determinism: rows are cut into blocks whose size depends only on N; each
// block is processed serially (in fixed chunks) into its own accumulator;
// the blocks run in parallel and are summed in block order. Results are
// therefore bitwise identical for every thread count. BLAS is called from
// inside the parallel region, so the caller limits BLAS to one thread.
//
// Gram mode with one direction (the fused path; SIMD paths v3 and v4) writes the
// scaled rows w0 x of each sub-chunk of kGramRows rows while computing the
// weights (one pass over the rows of X), then accumulates X^T diag(w0) X, upper
// block triangle, with a register-tiled FMA microkernel on the sub-chunk and its
// scaled copy (no BLAS; at N = 2e5, d = 100 the microkernel alone took 45-60 ms
// against 67-73 ms for OpenBLAS's dsyrk on the same rows). Otherwise (several directions with larger d, or
// the baseline path) each chunk's rows are split by the sign of w0 and go to two
// rank-k updates (SYRK) on sqrt|w0|-scaled copies per direction.
#pragma once

#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "../common/blas.hpp"
#include "../common/dispatch.hpp"
#include "../common/parallel.hpp"
#include "../common/simd.hpp"

namespace zk {
namespace moments {

#define ZK_ISA_BODY "../moments/contract_body.inc"
#include "../common/foreach_isa.hpp"

constexpr std::ptrdiff_t kChunkRows = 512;     // rows per BLAS call (measured best at d = 100)
constexpr std::ptrdiff_t kMaxBlocks = 16;      // accumulators alive at once
constexpr std::ptrdiff_t kMinBlockRows = 4096;
constexpr int kMaxN = 64;                      // bound on order - 2
constexpr std::ptrdiff_t kGramRows = 128;      // rows per sub-chunk of the fused gram path: the
                                               // sub-chunk and its scaled copy stay in L1/L2
                                               // (measured at d = 100: 256 rows 10% slower,
                                               // 512 rows 20% slower)
// Gram mode with several directions and small d: accumulate the pair products
// x_a x_b (a <= b) of each row once per chunk and do one GEMM for all R
// directions instead of 2R rank-k updates.
constexpr std::ptrdiff_t kMaxPairs = 1024;

inline bool use_pair_gram(int d, int R) {
  return R >= 2 && (std::ptrdiff_t)d * (d + 1) / 2 <= kMaxPairs;
}

inline std::ptrdiff_t block_rows_for(std::ptrdiff_t N, std::ptrdiff_t chunk = kChunkRows) {
  std::ptrdiff_t b = std::max<std::ptrdiff_t>(kMinBlockRows, (N + kMaxBlocks - 1) / kMaxBlocks);
  return (b + chunk - 1) / chunk * chunk;
}

struct ContractOut {
  double* sums;  // 3 x R  (sum w0, sum w1, sum w2)
  double* b1;    // R x d
  double* b0;    // R x d or nullptr
  double* A;     // R x d x d (upper triangle) or nullptr
  double* P;     // d x (R*m) or nullptr
  double* c;     // R x m or nullptr
};

struct BlockAccum {  // one per row block: reduced in block order
  std::vector<double> sums, b1, b0, A, Apair, P, c;
};

// Scratch of the fused gram path (the scaled sub-chunk and the d x d accumulator,
// ~200 KB that the microkernel keeps in L2), in one 2 MiB-aligned block that
// Linux may back by a huge page: physically contiguous, so it spreads evenly
// over the L2 sets. On 4 KiB pages the physical placement decides how many of
// those lines collide in L2, and the gram's time moved by 15% from one process
// to the next (55 or 64 ms at N = 2e5, d = 100 on Zen 3).
class GramScratch {
 public:
  GramScratch() = default;
  GramScratch(const GramScratch&) = delete;
  GramScratch& operator=(const GramScratch&) = delete;
  ~GramScratch() { std::free(p_); }
  // n doubles; `huge`: in a huge page where the OS gives one (for long passes:
  // the page's first touch zeroes 2 MiB, ~0.1 ms)
  double* alloc(std::size_t n, bool huge) {
    constexpr std::size_t kHuge = std::size_t(2) << 20;
    const std::size_t align = huge ? kHuge : 64;
    const std::size_t bytes = (n * sizeof(double) + align - 1) / align * align;
    void* p = nullptr;
    if (posix_memalign(&p, align, bytes) != 0) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
    if (huge) madvise(p, bytes, MADV_HUGEPAGE);  // advice only: ignored where THP is off
#endif
    std::free(p_);
    p_ = static_cast<double*>(p);
    return p_;
  }

 private:
  double* p_ = nullptr;
};

struct Workspace {  // one per thread
  std::vector<double> Xd, S, W0, W1, W2, Xp, Xn, XB, Y, Pc;
  GramScratch gram;       // fused gram: Gp (scaled sub-chunk), then Gc (accumulator)
  double* Gp = nullptr;
  double* Gc = nullptr;
};

template <class T>
void hermite_contract(const T* X, const double* r, std::ptrdiff_t N, int d, const double* G,
                      int R, int n, const double* B, int m, bool want_b0, bool gram,
                      const ContractOut& out, int n_threads, std::ptrdiff_t chunk_rows = 0) {
  const bool apply = B != nullptr && m > 0;
  std::vector<double> sigma2(R, 0.0);
  for (int i = 0; i < d; ++i)
    for (int q = 0; q < R; ++q) sigma2[q] += G[i * R + q] * G[i * R + q];
  // Rows per BLAS call: fixed by the shape only (never by the thread count).
  const std::ptrdiff_t L = chunk_rows > 0 ? chunk_rows : kChunkRows;
  const std::ptrdiff_t brows = block_rows_for(N, L);
  const std::ptrdiff_t nblocks = (N + brows - 1) / brows;
  const std::ptrdiff_t dd = (std::ptrdiff_t)d * d;
  const bool pairs = gram && use_pair_gram(d, R);
  // Fused gram (one direction) on the microkernel where vectors hold >= 4 doubles
  // (v3, v4); the 2-lane baseline path takes the SYRK path, where BLAS is faster.
  // Rows of the scaled copy Gp and of the accumulator Gc (d x ldp) are padded to a
  // whole number of vectors.
  int lanes = 1;
  ZK_ISA_CALL(gram_lanes, &lanes);
  const bool fused = gram && !pairs && R == 1 && !want_b0 && !apply && lanes >= 4;
  const std::ptrdiff_t ldp = (std::ptrdiff_t)(d + lanes - 1) / lanes * lanes;
  const int npairs = d * (d + 1) / 2;
  std::vector<BlockAccum> acc(nblocks);
  for (auto& a : acc) {  // allocate everything before the parallel region
    a.sums.assign(3 * R, 0.0);
    a.b1.assign((std::ptrdiff_t)R * d, 0.0);
    if (want_b0) a.b0.assign((std::ptrdiff_t)R * d, 0.0);
    if (gram && pairs) a.Apair.assign(R * npairs, 0.0);
    else if (gram) a.A.assign(R * dd, 0.0);
    if (apply) {
      a.P.assign((std::ptrdiff_t)d * R * m, 0.0);
      a.c.assign((std::ptrdiff_t)R * m, 0.0);
    }
  }
  const int nws = static_cast<int>(std::max<std::ptrdiff_t>(
      1, std::min<std::ptrdiff_t>(std::max(n_threads, 1), nblocks)));
  std::vector<Workspace> wss(nws);
  for (auto& w : wss) {
    if (gram && pairs) w.Pc.resize(L * npairs);
    else if (fused) {
      w.Gp = w.gram.alloc(kGramRows * ldp + d * ldp, N >= 64 * kGramRows);
      w.Gc = w.Gp + kGramRows * ldp;
    } else if (gram) {
      w.Xp.resize(L * d);
      w.Xn.resize(L * d);
    }
    if (apply) {
      w.XB.resize(L * m);
      w.Y.resize(L * R * m);
    }
    if (!std::is_same<T, double>::value) w.Xd.resize(L * d);
    w.S.resize(R * L);
    w.W0.resize(R * L);
    w.W1.resize(R * L);
    w.W2.resize(R * L);
  }

  parallel_chunks(N, brows, n_threads, [&](std::ptrdiff_t bi, std::ptrdiff_t lo,
                                           std::ptrdiff_t hi) {
    BlockAccum& a = acc[bi];
    Workspace& w = wss[std::min(thread_index(), nws - 1)];
    if (fused) std::fill(w.Gc, w.Gc + d * ldp, 0.0);
    for (std::ptrdiff_t c0 = lo; c0 < hi; c0 += L) {
      const std::ptrdiff_t len = std::min(L, hi - c0);
      const int ilen = static_cast<int>(len);
      const double* Xc;
      if (std::is_same<T, double>::value) {
        Xc = reinterpret_cast<const double*>(X) + c0 * d;
      } else {
        ZK_ISA_CALL(to_double<T>, X + c0 * d, len * d, w.Xd.data());
        Xc = w.Xd.data();
      }
      if (fused) {  // gram, one direction: scale a sub-chunk, then the microkernel on it
        for (std::ptrdiff_t s0 = 0; s0 < len; s0 += kGramRows) {
          const std::ptrdiff_t sl = std::min(kGramRows, len - s0);
          double sums3[3] = {0.0, 0.0, 0.0};
          ZK_ISA_CALL(fused_gram_scale, Xc + s0 * d, r + c0 + s0, sl, d, G, sigma2[0], n,
                      w.Gp, ldp, a.b1.data(), sums3);
          a.sums[0] += sums3[0];
          a.sums[1] += sums3[1];
          a.sums[2] += sums3[2];
          // Prefetch the block's next sub-chunk of X during the microkernel.
          const std::ptrdiff_t next = c0 + s0 + sl;
          const std::ptrdiff_t nrows = std::min(kGramRows, hi - next);
          const char* pf = nullptr;
          if (nrows > 0 && std::is_same<T, double>::value)
            pf = reinterpret_cast<const char*>(reinterpret_cast<const double*>(X) + next * d);
          ZK_ISA_CALL(gram_rows, Xc + s0 * d, d, w.Gp, ldp, sl, w.Gc, ldp, pf,
                      nrows * d * (std::ptrdiff_t)sizeof(double));
        }
        continue;
      }
      // S (R x len) = G^T Xc^T
      blas::gemm_rm<double>(true, true, R, ilen, d, 1.0, G, R, Xc, d, 0.0, w.S.data(), ilen);
      for (int q = 0; q < R; ++q) {
        double* w0 = w.W0.data() + q * len;
        double* w1 = w.W1.data() + q * len;
        double* w2 = w.W2.data() + q * len;
        ZK_ISA_CALL(hermite_weights, w.S.data() + q * len, r + c0, len, n, sigma2[q], w0, w1,
                    w2);
        double s0 = 0, s1 = 0, s2 = 0;
        for (std::ptrdiff_t j = 0; j < len; ++j) {
          s0 += w0[j];
          s1 += w1[j];
          s2 += w2[j];
        }
        a.sums[q] += s0;
        a.sums[R + q] += s1;
        a.sums[2 * R + q] += s2;
      }
      // b1 (R x d) += W1 Xc ; b0 += W0 Xc
      blas::gemm_rm<double>(false, false, R, d, ilen, 1.0, w.W1.data(), ilen, Xc, d, 1.0,
                            a.b1.data(), d);
      if (want_b0)
        blas::gemm_rm<double>(false, false, R, d, ilen, 1.0, w.W0.data(), ilen, Xc, d, 1.0,
                              a.b0.data(), d);
      if (pairs) {
        // Apair (R x npairs) += W0 (R x len) Pc (len x npairs)
        ZK_ISA_CALL(pair_products, Xc, len, d, w.Pc.data());
        blas::gemm_rm<double>(false, false, R, npairs, ilen, 1.0, w.W0.data(), ilen,
                              w.Pc.data(), npairs, 1.0, a.Apair.data(), npairs);
      } else if (gram) {
        for (int q = 0; q < R; ++q) {
          std::ptrdiff_t np = 0, nn = 0;
          ZK_ISA_CALL(split_scaled_rows, Xc, w.W0.data() + q * len, len, d, w.Xp.data(),
                      w.Xn.data(), &np, &nn);
          double* Aq = a.A.data() + q * dd;
          if (np > 0) blas::syrk_ata_upper_rm<double>(d, (int)np, 1.0, w.Xp.data(), d, 1.0, Aq, d);
          if (nn > 0)
            blas::syrk_ata_upper_rm<double>(d, (int)nn, -1.0, w.Xn.data(), d, 1.0, Aq, d);
        }
      }
      if (apply) {
        // XB (len x m) = Xc B
        blas::gemm_rm<double>(false, false, ilen, m, d, 1.0, Xc, d, B, m, 0.0, w.XB.data(), m);
        ZK_ISA_CALL(weight_blocks, w.W0.data(), w.XB.data(), len, R, m, w.Y.data());
        // P (d x R*m) += Xc^T Y
        blas::gemm_rm<double>(true, false, d, R * m, ilen, 1.0, Xc, d, w.Y.data(), R * m, 1.0,
                              a.P.data(), R * m);
        // c (R x m) += W1 XB
        blas::gemm_rm<double>(false, false, R, m, ilen, 1.0, w.W1.data(), ilen, w.XB.data(), m,
                              1.0, a.c.data(), m);
      }
    }
    if (fused) {  // the block's upper triangle
      for (int i = 0; i < d; ++i)
        for (int j = i; j < d; ++j) a.A[(std::ptrdiff_t)i * d + j] = w.Gc[i * ldp + j];
    }
  });

  auto reduce = [&](double* dst, std::vector<double> BlockAccum::*field) {
    if (!dst) return;
    const std::size_t size = (acc[0].*field).size();
    std::memcpy(dst, (acc[0].*field).data(), size * sizeof(double));
    for (std::ptrdiff_t b = 1; b < nblocks; ++b) {
      const double* src = (acc[b].*field).data();
      for (std::size_t i = 0; i < size; ++i) dst[i] += src[i];
    }
  };
  if (nblocks == 0) return;
  reduce(out.sums, &BlockAccum::sums);
  reduce(out.b1, &BlockAccum::b1);
  if (want_b0) reduce(out.b0, &BlockAccum::b0);
  if (pairs) {
    std::vector<double> tmp(R * (std::ptrdiff_t)npairs);
    reduce(tmp.data(), &BlockAccum::Apair);
    for (int q = 0; q < R; ++q) {
      const double* src = tmp.data() + q * (std::ptrdiff_t)npairs;
      double* Aq = out.A + q * dd;
      for (int i = 0; i < d; ++i)
        for (int j = i; j < d; ++j) Aq[(std::ptrdiff_t)i * d + j] = *src++;
    }
  } else if (gram) {
    reduce(out.A, &BlockAccum::A);
  }
  if (apply) {
    reduce(out.P, &BlockAccum::P);
    reduce(out.c, &BlockAccum::c);
  }
}

// q[j] = x_j^T A x_j for A (d x d); chunked, no reduction across chunks.
template <class T>
void quadratic_form(const T* X, std::ptrdiff_t N, int d, const double* A, double* q,
                    int n_threads) {
  const std::ptrdiff_t L = kChunkRows;
  const std::ptrdiff_t brows = block_rows_for(N);
  const std::ptrdiff_t nblocks = (N + brows - 1) / brows;
  std::vector<std::vector<double>> Xd(nblocks), XA(nblocks);
  for (std::ptrdiff_t b = 0; b < nblocks; ++b) {
    if (!std::is_same<T, double>::value) Xd[b].resize(L * d);
    XA[b].resize(L * d);
  }
  parallel_chunks(N, brows, n_threads, [&](std::ptrdiff_t bi, std::ptrdiff_t lo,
                                           std::ptrdiff_t hi) {
    for (std::ptrdiff_t c0 = lo; c0 < hi; c0 += L) {
      const std::ptrdiff_t len = std::min(L, hi - c0);
      const double* Xc;
      if (std::is_same<T, double>::value) {
        Xc = reinterpret_cast<const double*>(X) + c0 * d;
      } else {
        ZK_ISA_CALL(to_double<T>, X + c0 * d, len * d, Xd[bi].data());
        Xc = Xd[bi].data();
      }
      blas::gemm_rm<double>(false, false, (int)len, d, d, 1.0, Xc, d, A, d, 0.0, XA[bi].data(),
                            d);
      ZK_ISA_CALL(row_dots, XA[bi].data(), Xc, len, d, q + c0);
    }
  });
}

}  // namespace moments
}  // namespace zk
