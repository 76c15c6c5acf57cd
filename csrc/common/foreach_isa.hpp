// Include the kernel body named by ZK_ISA_BODY once per SIMD path (no include
// guard: included once per body). Each copy lives in its own namespace,
// isa_baseline / isa_v3 / isa_v4, is compiled under the matching GCC target,
// and sees ZK_BYTES = 16 / 32 / 64, the vector width in bytes to use with
// zk::simd::Vec<T, ZK_BYTES>, and ZK_ISA_TARGET, the function attribute that
// every function of the body must carry so that it can inline the matching
// simd.hpp helpers. (An attribute, not `#pragma GCC target`: GCC 12 drops the
// pragma's target from the first instantiation of a template.)
//
//   #define ZK_ISA_BODY "fractional/abel_body.inc"
//   #include "common/foreach_isa.hpp"
//   ... ZK_ISA_CALL(abel_span<T, true>, args...);
#include "simd.hpp"

namespace isa_baseline {
#define ZK_BYTES 16
#define ZK_ISA_TARGET
#include ZK_ISA_BODY
#undef ZK_ISA_TARGET
#undef ZK_BYTES
}  // namespace isa_baseline

#if ZK_X86
namespace isa_v3 {
#define ZK_BYTES 32
#define ZK_ISA_TARGET __attribute__((target(ZK_TARGET_STRING_V3)))
#include ZK_ISA_BODY
#undef ZK_ISA_TARGET
#undef ZK_BYTES
}  // namespace isa_v3

namespace isa_v4 {
#define ZK_BYTES 64
#define ZK_ISA_TARGET __attribute__((target(ZK_TARGET_STRING_V4)))
#include ZK_ISA_BODY
#undef ZK_ISA_TARGET
#undef ZK_BYTES
}  // namespace isa_v4
#else
namespace isa_v3 = isa_baseline;
namespace isa_v4 = isa_baseline;
#endif

#undef ZK_ISA_BODY
