// Run-time choice of the SIMD path.
//
// Each kernel body is compiled three times (foreach_isa.hpp): for baseline
// x86-64 (SSE2), x86-64-v3 (AVX2+FMA) and x86-64-v4 (AVX-512); ZK_ISA_CALL
// picks the copy for `simd_level()`. The level is chosen once per extension module from the CPU
// and may be lowered (never raised past what the CPU supports) by
// set_simd_level(), which the Python side drives from ZENKAI_NP_SIMD.
#pragma once

#include <stdexcept>
#include <string>

#include "simd.hpp"

namespace zk {

enum class SimdLevel : int { baseline = 0, v3 = 1, v4 = 2 };

inline const char* simd_level_name(SimdLevel l) {
  switch (l) {
    case SimdLevel::v4: return "v4";
    case SimdLevel::v3: return "v3";
    default: return "baseline";
  }
}

inline bool cpu_supports(SimdLevel l) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  switch (l) {
    case SimdLevel::baseline: return true;
    case SimdLevel::v3:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") &&
             __builtin_cpu_supports("movbe");
    case SimdLevel::v4:
      return cpu_supports(SimdLevel::v3) && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }
  return false;
#else
  return l == SimdLevel::baseline;
#endif
}

inline SimdLevel best_simd_level() {
  if (cpu_supports(SimdLevel::v4)) return SimdLevel::v4;
  if (cpu_supports(SimdLevel::v3)) return SimdLevel::v3;
  return SimdLevel::baseline;
}

// Per-module current level (one per shared object, set from Python).
inline SimdLevel& simd_level_ref() {
  static SimdLevel level = best_simd_level();
  return level;
}
inline SimdLevel simd_level() { return simd_level_ref(); }

inline SimdLevel parse_simd_level(const std::string& name) {
  if (name == "baseline") return SimdLevel::baseline;
  if (name == "v3") return SimdLevel::v3;
  if (name == "v4") return SimdLevel::v4;
  throw std::invalid_argument("unknown SIMD path '" + name +
                              "': expected one of 'baseline', 'v3', 'v4'");
}

inline void set_simd_level(const std::string& name) {
  SimdLevel l = parse_simd_level(name);
  if (!cpu_supports(l))
    throw std::invalid_argument("SIMD path '" + name +
                                "' is not supported by this CPU (best available: '" +
                                simd_level_name(best_simd_level()) + "')");
  simd_level_ref() = l;
}

}  // namespace zk

// Call FN(args...) from the namespace of the current SIMD path. FN is
// defined once per path by including its body through foreach_isa.hpp.
#define ZK_ISA_CALL(FN, ...)                                               \
  do {                                                                     \
    switch (::zk::simd_level()) {                                          \
      case ::zk::SimdLevel::v4: isa_v4::FN(__VA_ARGS__); break;            \
      case ::zk::SimdLevel::v3: isa_v3::FN(__VA_ARGS__); break;            \
      default: isa_baseline::FN(__VA_ARGS__); break;                       \
    }                                                                      \
  } while (0)
