// Vector math for the Schröder kernel. (1) `CMath<T, Bytes>::sin(x)`,
// `::cos(x)` on the same vector types as zk::simd::Vec<T, Bytes>
// (libmvec, or a lanewise std:: fallback): the kernel only calls sin/cos, for
// arguments too large for its own range reduction. (2) The constants of the
// kernel's inline log / atan / exp / sincos (namespace zk::fracexp::cmath).
//
// glibc's libmvec has sin/cos since 2.22 (vector-ABI names _ZGV{b,d,e}N{2,4,8}v_*). Older glibc or other platforms get a
// lanewise std:: fallback. libmvec takes a slow scalar path for special
// inputs (NaN, inf, huge sin/cos arguments), so callers pass harmless values
// in lanes whose results they discard.
#pragma once

#include <cmath>
#include <cstring>

#include "../common/simd.hpp"

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
  }

#if ZK_X86

#if ZK_HAVE_LIBMVEC
ZK_MVEC_DECLARE(sin)
ZK_MVEC_DECLARE(cos)
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

#define ZK_CMATH_SPEC(ATTR, T, BYTES, V, PREFIX, SUFFIX) \
  template <>                                                      \
  struct CMath<T, BYTES> {                                         \
    ZK_CMATH_LANEWISE(ATTR, V, T)                                  \
    ZK_CMATH_SINCOS(ATTR, V, T, PREFIX, SUFFIX)                    \
  };
ZK_CMATH_SPEC(ZK_SSE2, double, 16, __m128d, _ZGVbN2v_, )
ZK_CMATH_SPEC(ZK_SSE2, float, 16, __m128, _ZGVbN4v_, f)
ZK_CMATH_SPEC(ZK_AVX2, double, 32, __m256d, _ZGVdN4v_, )
ZK_CMATH_SPEC(ZK_AVX2, float, 32, __m256, _ZGVdN8v_, f)
ZK_CMATH_SPEC(ZK_AVX512, double, 64, __m512d, _ZGVeN8v_, )
ZK_CMATH_SPEC(ZK_AVX512, float, 64, __m512, _ZGVeN16v_, f)
#undef ZK_CMATH_SPEC
#undef ZK_CMATH_SINCOS

#else  // !ZK_X86

template <class T, int B>
struct CMath {
  typedef typename Vec<T, B>::V V;
  ZK_CMATH_LANEWISE(ZK_INLINE, V, T)
  static ZK_INLINE V sin(V x) { return lanewise1(x, [](T a) { return std::sin(a); }); }
  static ZK_INLINE V cos(V x) { return lanewise1(x, [](T a) { return std::cos(a); }); }
};

#endif
#undef ZK_CMATH_LANEWISE

}  // namespace simd
}  // namespace zk

// ---- Constants of the inline complex log / exp of the Schröder kernel ----
// (schroeder_body.inc): polynomial coefficients and split constants. The
// atan and atanh coefficients are least-squares fits on 200 Chebyshev nodes in
// mpmath (50 digits); in double their relative error is below 2e-16 on the
// reduced ranges. Split constants: the high parts have few enough bits that
// q * hi is exact for the reduction counts q that occur.
namespace zk {
namespace fracexp {
namespace cmath {

// atan(t) = t + t z A(z), z = t^2, |t| <= tan(pi/8)
constexpr int kNAtan = 11;
constexpr double kAtan[kNAtan] = {
    -0.3333333333333333,  0.19999999999995652, -0.1428571428469138, 0.11111111017100327,
    -0.0909090464769568,  0.07692184699371778, -0.06664531369805009, 0.05858311810501153,
    -0.05086254885823143, 0.039253696320618564, -0.01920252926841228};
// log(m) = 2 atanh(s) = 2s + 2s z G(z), s = (m - 1) / (m + 1), z = s^2, |s| <= 3 - 2 sqrt 2
constexpr int kNLog = 7;
constexpr double kLog[kNLog] = {0.3333333333333335,  0.19999999999949503, 0.14285714313086528,
                                0.11111105553063545, 0.09091445502524885, 0.07665832399653132,
                                0.07308546618779102};
constexpr double kTanPi8 = 0.41421356237309503;
constexpr double kPi4 = 0.7853981633974483;
constexpr double kPi2 = 1.5707963267948966;
constexpr double kPi = 3.141592653589793;
constexpr double kTwoPi = 6.283185307179586;
constexpr double kSqrt2 = 1.4142135623730951;
constexpr double kLog2e = 1.4426950408889634;
constexpr double kTwoOverPi = 0.6366197723675814;

// Taylor coefficients: exp 1/j!; sin r = r + r z S(z), S_j = (-1)^(j+1)/(2j+3)!;
// cos r = 1 - z/2 + z^2 C(z), C_j = (-1)^j/(2j+4)!  (z = r^2)
constexpr double kExpTaylor[14] = {1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664, 0.008333333333333333, 0.001388888888888889, 0.0001984126984126984, 2.48015873015873e-05, 2.7557319223985893e-06, 2.755731922398589e-07, 2.505210838544172e-08, 2.08767569878681e-09, 1.6059043836821613e-10};
constexpr double kSinTaylor[9] = {-0.16666666666666666, 0.008333333333333333, -0.0001984126984126984, 2.7557319223985893e-06, -2.505210838544172e-08, 1.6059043836821613e-10, -7.647163731819816e-13, 2.8114572543455206e-15, -8.22063524662433e-18};
constexpr double kCosTaylor[9] = {0.041666666666666664, -0.001388888888888889, 2.48015873015873e-05, -2.755731922398589e-07, 2.08767569878681e-09, -1.1470745597729725e-11, 4.779477332387385e-14, -1.5619206968586225e-16, 4.110317623312165e-19};

// per-type splits: ln 2 = hi + lo; pi / 2 = p1 + p2 + p3
template <class T>
struct Split;
template <>
struct Split<double> {
  static constexpr double ln2_hi = 0.6931471805598903, ln2_lo = 5.497923018708371e-14;
  static constexpr double pio2_1 = 1.5707963267341256, pio2_2 = 6.077100506303966e-11,
                          pio2_3 = 2.0222662487959506e-21;
  static constexpr double trig_max = 1e5;  // |q| < 2^20: q * pio2_{1,2} exact
  static constexpr double exp_min = -746.0;
};
template <>
struct Split<float> {
  static constexpr double ln2_hi = 0.693145751953125, ln2_lo = 1.4286068203094173e-06;
  static constexpr double pio2_1 = 1.5703125, pio2_2 = 0.0004837512969970703,
                          pio2_3 = 7.549789954891882e-08;
  static constexpr double trig_max = 1e3;  // |q| < 2^11
  static constexpr double exp_min = -104.0;
};

}  // namespace cmath
}  // namespace fracexp
}  // namespace zk
