// Fixed-width SIMD vectors for kernels written once and compiled per ISA.
//
// `Vec<T, Bytes>` gives a vector type V (GCC vector type, so + - * / work as
// operators), a native mask type M, and always_inline helpers for compares,
// blends, min/max, "any lane" tests and vector math. Kernel bodies are
// always_inline templates instantiated inside functions carrying
// __attribute__((target(...))) (dispatch.hpp): Bytes = 16 in the baseline
// (SSE2) wrapper, 32 in the x86-64-v3 (AVX2+FMA) one and 64 in the x86-64-v4
// (AVX-512) one. Masks are native (k-registers on AVX-512), because compares
// and blends written with generic vector extensions get scalarised by GCC.
//
// Transcendentals: exp and log use glibc's vector math library (libmvec,
// glibc >= 2.22) through its vector-ABI names; expm1 and log1p are the
// project's own (vec_expm1_log1p.inc), built on them, because libmvec's
// expm1/log1p need glibc 2.35 and the wheel targets manylinux_2_28. libmvec
// takes a slow scalar path for special inputs (negative log arguments, NaN,
// inf), so callers pass a harmless value (1 or 0) in lanes whose result they
// discard.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define ZK_X86 1
#else
#define ZK_X86 0
#endif

#define ZK_INLINE __attribute__((always_inline)) inline

#if ZK_X86 && defined(__GLIBC__) && !defined(ZK_NO_LIBMVEC)
#define ZK_HAVE_LIBMVEC 1
#else
#define ZK_HAVE_LIBMVEC 0
#endif

namespace zk {
namespace simd {

template <class T, int Bytes>
struct Vec;

#if ZK_X86

#if ZK_HAVE_LIBMVEC
// b = SSE2 (16 B), d = AVX2 (32 B), e = AVX-512 (64 B). Other headers reuse
// ZK_MVEC_DECLARE for further one-argument functions (e.g. sin, cos).
#define ZK_MVEC_DECLARE(NAME)                          \
  extern "C" __m128d _ZGVbN2v_##NAME(__m128d);       \
  extern "C" __m256d _ZGVdN4v_##NAME(__m256d);       \
  extern "C" __m512d _ZGVeN8v_##NAME(__m512d);       \
  extern "C" __m128 _ZGVbN4v_##NAME##f(__m128);      \
  extern "C" __m256 _ZGVdN8v_##NAME##f(__m256);      \
  extern "C" __m512 _ZGVeN16v_##NAME##f(__m512);
// Only names that glibc 2.28 has (GLIBC_2.22): never declare expm1/log1p here.
ZK_MVEC_DECLARE(exp)
ZK_MVEC_DECLARE(log)
#define ZK_MATH_FUNCS(ATTR, V, PREFIX, SUFFIX)                                     \
  static ATTR V exp(V x) { return PREFIX##exp##SUFFIX(x); }                        \
  static ATTR V log(V x) { return PREFIX##log##SUFFIX(x); }
#else
#define ZK_MATH_FUNCS(ATTR, V, PREFIX, SUFFIX)                                     \
  static ATTR V lanewise(V x, scalar (*f)(scalar)) {                               \
    alignas(64) scalar b[W];                                                       \
    std::memcpy(b, &x, sizeof(V));                                                 \
    for (int i = 0; i < W; ++i) b[i] = f(b[i]);                                    \
    std::memcpy(&x, b, sizeof(V));                                                 \
    return x;                                                                      \
  }                                                                                \
  static ATTR V exp(V x) { return lanewise(x, [](scalar a) { return std::exp(a); }); }     \
  static ATTR V log(V x) { return lanewise(x, [](scalar a) { return std::log(a); }); }
#endif
// expm1 and log1p from exp/log (the include sits inside each `struct math`).
#define ZK_VEC_EXPM1_LOG1P "vec_expm1_log1p.inc"

#define ZK_SSE2 __attribute__((always_inline)) inline
// Helpers carry exactly the target string of the wrappers they inline into
// (dispatch.hpp): GCC refuses to inline across differing arch/tune options.
#define ZK_TARGET_STRING_V3 "arch=x86-64-v3"
#define ZK_TARGET_STRING_V4 "arch=x86-64-v4,prefer-vector-width=512"
#define ZK_AVX2 __attribute__((always_inline, target(ZK_TARGET_STRING_V3))) inline
#define ZK_AVX512 __attribute__((always_inline, target(ZK_TARGET_STRING_V4))) inline

// Members common to every specialisation.
#define ZK_VEC_COMMON(ATTR, T, VT, SET1)                                        \
  typedef T scalar;                                                             \
  typedef VT V;                                                                 \
  static constexpr int W = sizeof(VT) / sizeof(T);                              \
  static ATTR V set1(T a) { return SET1(a); }                                   \
  static ATTR V load(const T* p) {                                              \
    V v;                                                                        \
    std::memcpy(&v, p, sizeof(V));                                              \
    return v;                                                                   \
  }                                                                             \
  static ATTR void store(T* p, V v) { std::memcpy(p, &v, sizeof(V)); }

// ---- SSE2: 16 bytes ----
template <>
struct Vec<double, 16> {
  ZK_VEC_COMMON(ZK_SSE2, double, __m128d, _mm_set1_pd)
  typedef __m128d M;
  static ZK_SSE2 M lt(V a, V b) { return _mm_cmplt_pd(a, b); }
  static ZK_SSE2 M le(V a, V b) { return _mm_cmple_pd(a, b); }
  static ZK_SSE2 M gt(V a, V b) { return _mm_cmpgt_pd(a, b); }
  static ZK_SSE2 M ge(V a, V b) { return _mm_cmpge_pd(a, b); }
  static ZK_SSE2 M eq(V a, V b) { return _mm_cmpeq_pd(a, b); }
  static ZK_SSE2 M mand(M a, M b) { return _mm_and_pd(a, b); }
  static ZK_SSE2 M mandnot(M a, M b) { return _mm_andnot_pd(b, a); }  // a & ~b
  static ZK_SSE2 V sel(M m, V a, V b) { return _mm_or_pd(_mm_and_pd(m, a), _mm_andnot_pd(m, b)); }
  static ZK_SSE2 bool any(M m) { return _mm_movemask_pd(m) != 0; }
  static ZK_SSE2 V min(V a, V b) { return _mm_min_pd(a, b); }
  static ZK_SSE2 V max(V a, V b) { return _mm_max_pd(a, b); }
  static ZK_SSE2 V fmadd(V a, V b, V c) { return a * b + c; }  // no FMA on this path
  struct math {
    ZK_MATH_FUNCS(ZK_SSE2, __m128d, _ZGVbN2v_, )
#define ZK_VM_ATTR ZK_SSE2
#include ZK_VEC_EXPM1_LOG1P
#undef ZK_VM_ATTR
  };
};
template <>
struct Vec<float, 16> {
  ZK_VEC_COMMON(ZK_SSE2, float, __m128, _mm_set1_ps)
  typedef __m128 M;
  static ZK_SSE2 void widen(V v, __m128d& lo, __m128d& hi) {  // lanes as doubles
    lo = _mm_cvtps_pd(v);
    hi = _mm_cvtps_pd(_mm_movehl_ps(v, v));
  }
  static ZK_SSE2 M lt(V a, V b) { return _mm_cmplt_ps(a, b); }
  static ZK_SSE2 M le(V a, V b) { return _mm_cmple_ps(a, b); }
  static ZK_SSE2 M gt(V a, V b) { return _mm_cmpgt_ps(a, b); }
  static ZK_SSE2 M ge(V a, V b) { return _mm_cmpge_ps(a, b); }
  static ZK_SSE2 M eq(V a, V b) { return _mm_cmpeq_ps(a, b); }
  static ZK_SSE2 M mand(M a, M b) { return _mm_and_ps(a, b); }
  static ZK_SSE2 M mandnot(M a, M b) { return _mm_andnot_ps(b, a); }
  static ZK_SSE2 V sel(M m, V a, V b) { return _mm_or_ps(_mm_and_ps(m, a), _mm_andnot_ps(m, b)); }
  static ZK_SSE2 bool any(M m) { return _mm_movemask_ps(m) != 0; }
  static ZK_SSE2 V min(V a, V b) { return _mm_min_ps(a, b); }
  static ZK_SSE2 V max(V a, V b) { return _mm_max_ps(a, b); }
  static ZK_SSE2 V fmadd(V a, V b, V c) { return a * b + c; }  // no FMA on this path
  struct math {
    ZK_MATH_FUNCS(ZK_SSE2, __m128, _ZGVbN4v_, f)
#define ZK_VM_ATTR ZK_SSE2
#include ZK_VEC_EXPM1_LOG1P
#undef ZK_VM_ATTR
  };
};

// ---- AVX2 + FMA: 32 bytes ----
#define ZK_AVX2_BODY(T, VT, SFX, MOVEMASK)                                              \
  ZK_VEC_COMMON(ZK_AVX2, T, VT, _mm256_set1_##SFX)                                      \
  typedef VT M;                                                                         \
  static ZK_AVX2 M lt(V a, V b) { return _mm256_cmp_##SFX(a, b, _CMP_LT_OQ); }          \
  static ZK_AVX2 M le(V a, V b) { return _mm256_cmp_##SFX(a, b, _CMP_LE_OQ); }          \
  static ZK_AVX2 M gt(V a, V b) { return _mm256_cmp_##SFX(a, b, _CMP_GT_OQ); }          \
  static ZK_AVX2 M ge(V a, V b) { return _mm256_cmp_##SFX(a, b, _CMP_GE_OQ); }          \
  static ZK_AVX2 M eq(V a, V b) { return _mm256_cmp_##SFX(a, b, _CMP_EQ_OQ); }          \
  static ZK_AVX2 M mand(M a, M b) { return _mm256_and_##SFX(a, b); }                    \
  static ZK_AVX2 M mandnot(M a, M b) { return _mm256_andnot_##SFX(b, a); }              \
  static ZK_AVX2 V sel(M m, V a, V b) { return _mm256_blendv_##SFX(b, a, m); }          \
  static ZK_AVX2 bool any(M m) { return MOVEMASK(m) != 0; }                             \
  static ZK_AVX2 V min(V a, V b) { return _mm256_min_##SFX(a, b); }                     \
  static ZK_AVX2 V max(V a, V b) { return _mm256_max_##SFX(a, b); }                     \
  static ZK_AVX2 V fmadd(V a, V b, V c) { return _mm256_fmadd_##SFX(a, b, c); }
template <>
struct Vec<double, 32> {
  ZK_AVX2_BODY(double, __m256d, pd, _mm256_movemask_pd)
  struct math {
    ZK_MATH_FUNCS(ZK_AVX2, __m256d, _ZGVdN4v_, )
#define ZK_VM_ATTR ZK_AVX2
#include ZK_VEC_EXPM1_LOG1P
#undef ZK_VM_ATTR
  };
};
template <>
struct Vec<float, 32> {
  ZK_AVX2_BODY(float, __m256, ps, _mm256_movemask_ps)
  static ZK_AVX2 void widen(V v, __m256d& lo, __m256d& hi) {
    lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
  }
  struct math {
    ZK_MATH_FUNCS(ZK_AVX2, __m256, _ZGVdN8v_, f)
#define ZK_VM_ATTR ZK_AVX2
#include ZK_VEC_EXPM1_LOG1P
#undef ZK_VM_ATTR
  };
};
#undef ZK_AVX2_BODY

// ---- AVX-512: 64 bytes, k-register masks ----
#define ZK_AVX512_BODY(T, VT, MT, SFX)                                                  \
  ZK_VEC_COMMON(ZK_AVX512, T, VT, _mm512_set1_##SFX)                                    \
  typedef MT M;                                                                         \
  static ZK_AVX512 M lt(V a, V b) { return _mm512_cmp_##SFX##_mask(a, b, _CMP_LT_OQ); } \
  static ZK_AVX512 M le(V a, V b) { return _mm512_cmp_##SFX##_mask(a, b, _CMP_LE_OQ); } \
  static ZK_AVX512 M gt(V a, V b) { return _mm512_cmp_##SFX##_mask(a, b, _CMP_GT_OQ); } \
  static ZK_AVX512 M ge(V a, V b) { return _mm512_cmp_##SFX##_mask(a, b, _CMP_GE_OQ); } \
  static ZK_AVX512 M eq(V a, V b) { return _mm512_cmp_##SFX##_mask(a, b, _CMP_EQ_OQ); } \
  static ZK_AVX512 M mand(M a, M b) { return a & b; }                                   \
  static ZK_AVX512 M mandnot(M a, M b) { return a & ~b; }                               \
  static ZK_AVX512 V sel(M m, V a, V b) { return _mm512_mask_blend_##SFX(m, b, a); }    \
  static ZK_AVX512 bool any(M m) { return m != 0; }                                     \
  static ZK_AVX512 V min(V a, V b) { return _mm512_min_##SFX(a, b); }                   \
  static ZK_AVX512 V max(V a, V b) { return _mm512_max_##SFX(a, b); }                   \
  static ZK_AVX512 V fmadd(V a, V b, V c) { return _mm512_fmadd_##SFX(a, b, c); }
template <>
struct Vec<double, 64> {
  ZK_AVX512_BODY(double, __m512d, __mmask8, pd)
  struct math {
    ZK_MATH_FUNCS(ZK_AVX512, __m512d, _ZGVeN8v_, )
#define ZK_VM_ATTR ZK_AVX512
#include ZK_VEC_EXPM1_LOG1P
#undef ZK_VM_ATTR
  };
};
template <>
struct Vec<float, 64> {
  ZK_AVX512_BODY(float, __m512, __mmask16, ps)
  static ZK_AVX512 void widen(V v, __m512d& lo, __m512d& hi) {
    lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
  }
  struct math {
    ZK_MATH_FUNCS(ZK_AVX512, __m512, _ZGVeN16v_, f)
#define ZK_VM_ATTR ZK_AVX512
#include ZK_VEC_EXPM1_LOG1P
#undef ZK_VM_ATTR
  };
};
#undef ZK_AVX512_BODY
#undef ZK_VEC_COMMON
#undef ZK_MATH_FUNCS
#undef ZK_VEC_EXPM1_LOG1P

#else  // !ZK_X86: portable fallback on generic vector extensions

template <class T, int B>
struct Vec {
  typedef T scalar;
  typedef T V __attribute__((vector_size(B)));
  typedef decltype(V{} < V{}) M;
  static constexpr int W = B / sizeof(T);
  static ZK_INLINE V set1(T a) { V v = {}; for (int i = 0; i < W; ++i) v[i] = a; return v; }
  static ZK_INLINE V load(const T* p) { V v; std::memcpy(&v, p, sizeof(V)); return v; }
  static ZK_INLINE void store(T* p, V v) { std::memcpy(p, &v, sizeof(V)); }
  static ZK_INLINE M lt(V a, V b) { return a < b; }
  static ZK_INLINE M le(V a, V b) { return a <= b; }
  static ZK_INLINE M gt(V a, V b) { return a > b; }
  static ZK_INLINE M ge(V a, V b) { return a >= b; }
  static ZK_INLINE M eq(V a, V b) { return a == b; }
  static ZK_INLINE M mand(M a, M b) { return a & b; }
  static ZK_INLINE M mandnot(M a, M b) { return a & ~b; }
  static ZK_INLINE V sel(M m, V a, V b) { return m ? a : b; }
  static ZK_INLINE bool any(M m) { bool r = false; for (int i = 0; i < W; ++i) r |= m[i] != 0; return r; }
  static ZK_INLINE V min(V a, V b) { return a < b ? a : b; }
  static ZK_INLINE V max(V a, V b) { return a > b ? a : b; }
  static ZK_INLINE V fmadd(V a, V b, V c) { return a * b + c; }
  typedef double DV __attribute__((vector_size(B)));
  static ZK_INLINE void widen(V v, DV& lo, DV& hi) {  // float vectors only
    for (int i = 0; i < W / 2; ++i) lo[i] = v[i], hi[i] = v[W / 2 + i];
  }
  struct math {
#define ZK_LANEWISE(NAME) \
    static ZK_INLINE V NAME(V x) { for (int i = 0; i < W; ++i) x[i] = std::NAME(x[i]); return x; }
    ZK_LANEWISE(exp) ZK_LANEWISE(log) ZK_LANEWISE(expm1) ZK_LANEWISE(log1p)
#undef ZK_LANEWISE
  };
};

#endif

}  // namespace simd
}  // namespace zk
