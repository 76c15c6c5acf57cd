// Vector atan2 / sin / cos for the complex log and exp chains of the Schröder
// kernel, next to simd.hpp's exp/log: `CMath<T, Bytes>::atan2(y, x)`,
// `::sin(x)`, `::cos(x)` on the same vector types as zk::simd::Vec<T, Bytes>.
//
// glibc's libmvec has atan2 since 2.35 and sin/cos since 2.22 (vector-ABI
// names _ZGV{b,d,e}N{2,4,8}{v,vv}_*). Older glibc or other platforms get a
// lanewise std:: fallback. libmvec takes a slow scalar path for special
// inputs (NaN, inf, huge sin/cos arguments), so callers pass harmless values
// in lanes whose results they discard.
#pragma once

#include <cmath>
#include <cstring>

#include "../common/simd.hpp"

#if ZK_HAVE_LIBMVEC && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 35)
#define ZK_HAVE_MVEC_ATAN2 1
#endif
#endif
#ifndef ZK_HAVE_MVEC_ATAN2
#define ZK_HAVE_MVEC_ATAN2 0
#endif

namespace zk {
namespace simd {

template <class T, int Bytes>
struct CMath;

#define ZK_CMATH_LANEWISE(ATTR, V, T)                                             \
  static ATTR V lanewise1(V x, T (*f)(T)) {                                        \
    constexpr int W = sizeof(V) / sizeof(T);                                       \
    alignas(64) T b[W];                                                            \
    std::memcpy(b, &x, sizeof(V));                                                 \
    for (int i = 0; i < W; ++i) b[i] = f(b[i]);                                    \
    std::memcpy(&x, b, sizeof(V));                                                 \
    return x;                                                                      \
  }                                                                                \
  static ATTR V lanewise2(V y, V x, T (*f)(T, T)) {                                \
    constexpr int W = sizeof(V) / sizeof(T);                                       \
    alignas(64) T a[W], b[W];                                                      \
    std::memcpy(a, &y, sizeof(V));                                                 \
    std::memcpy(b, &x, sizeof(V));                                                 \
    for (int i = 0; i < W; ++i) a[i] = f(a[i], b[i]);                              \
    std::memcpy(&y, a, sizeof(V));                                                 \
    return y;                                                                      \
  }

#if ZK_X86

#if ZK_HAVE_LIBMVEC
ZK_MVEC_DECLARE(sin)
ZK_MVEC_DECLARE(cos)
#endif
#if ZK_HAVE_MVEC_ATAN2
extern "C" __m128d _ZGVbN2vv_atan2(__m128d, __m128d);
extern "C" __m256d _ZGVdN4vv_atan2(__m256d, __m256d);
extern "C" __m512d _ZGVeN8vv_atan2(__m512d, __m512d);
extern "C" __m128 _ZGVbN4vv_atan2f(__m128, __m128);
extern "C" __m256 _ZGVdN8vv_atan2f(__m256, __m256);
extern "C" __m512 _ZGVeN16vv_atan2f(__m512, __m512);
#endif

#if ZK_HAVE_LIBMVEC
#define ZK_CMATH_SINCOS(ATTR, V, T, PREFIX, SUFFIX)                  \
  static ATTR V sin(V x) { return PREFIX##sin##SUFFIX(x); }         \
  static ATTR V cos(V x) { return PREFIX##cos##SUFFIX(x); }
#else
#define ZK_CMATH_SINCOS(ATTR, V, T, PREFIX, SUFFIX)                                \
  static ATTR V sin(V x) { return lanewise1(x, [](T a) { return std::sin(a); }); } \
  static ATTR V cos(V x) { return lanewise1(x, [](T a) { return std::cos(a); }); }
#endif
#if ZK_HAVE_MVEC_ATAN2
#define ZK_CMATH_ATAN2(ATTR, V, T, PREFIX2, SUFFIX) \
  static ATTR V atan2(V y, V x) { return PREFIX2##atan2##SUFFIX(y, x); }
#else
#define ZK_CMATH_ATAN2(ATTR, V, T, PREFIX2, SUFFIX) \
  static ATTR V atan2(V y, V x) { return lanewise2(y, x, [](T a, T b) { return std::atan2(a, b); }); }
#endif

#define ZK_CMATH_SPEC(ATTR, T, BYTES, V, PREFIX, PREFIX2, SUFFIX) \
  template <>                                                      \
  struct CMath<T, BYTES> {                                         \
    ZK_CMATH_LANEWISE(ATTR, V, T)                                  \
    ZK_CMATH_SINCOS(ATTR, V, T, PREFIX, SUFFIX)                    \
    ZK_CMATH_ATAN2(ATTR, V, T, PREFIX2, SUFFIX)                    \
  };
ZK_CMATH_SPEC(ZK_SSE2, double, 16, __m128d, _ZGVbN2v_, _ZGVbN2vv_, )
ZK_CMATH_SPEC(ZK_SSE2, float, 16, __m128, _ZGVbN4v_, _ZGVbN4vv_, f)
ZK_CMATH_SPEC(ZK_AVX2, double, 32, __m256d, _ZGVdN4v_, _ZGVdN4vv_, )
ZK_CMATH_SPEC(ZK_AVX2, float, 32, __m256, _ZGVdN8v_, _ZGVdN8vv_, f)
ZK_CMATH_SPEC(ZK_AVX512, double, 64, __m512d, _ZGVeN8v_, _ZGVeN8vv_, )
ZK_CMATH_SPEC(ZK_AVX512, float, 64, __m512, _ZGVeN16v_, _ZGVeN16vv_, f)
#undef ZK_CMATH_SPEC
#undef ZK_CMATH_SINCOS
#undef ZK_CMATH_ATAN2

#else  // !ZK_X86

template <class T, int B>
struct CMath {
  typedef typename Vec<T, B>::V V;
  ZK_CMATH_LANEWISE(ZK_INLINE, V, T)
  static ZK_INLINE V sin(V x) { return lanewise1(x, [](T a) { return std::sin(a); }); }
  static ZK_INLINE V cos(V x) { return lanewise1(x, [](T a) { return std::cos(a); }); }
  static ZK_INLINE V atan2(V y, V x) {
    return lanewise2(y, x, [](T a, T b) { return std::atan2(a, b); });
  }
};

#endif
#undef ZK_CMATH_LANEWISE

}  // namespace simd
}  // namespace zk
