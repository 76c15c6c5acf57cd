// Local (hidden) definitions of the C/C++ run-time symbols that modules built
// with GCC >= 11 against glibc >= 2.32 would otherwise import from versions
// newer than manylinux_2_28 allows (GLIBC_2.28, GLIBCXX_3.4.25, CXXABI_1.3.11:
// glibc 2.28 and GCC 8's libstdc++). Linked into every compiled module on
// Linux (setup.py); manylinux_compat.hpp handles the libm/libpthread side.
// This is the job libstdc++_nonshared.a does in the manylinux images' GCC
// toolsets; `-static-libstdc++` instead would import arc4random@GLIBC_2.36.
// All are weak, so a toolset that brings its own (libstdc++_nonshared.a in the
// manylinux images) links without duplicate definitions.
#include <exception>
#include <new>

#if defined(__linux__) && defined(__GLIBC__) && !defined(ZK_NO_GLIBC_COMPAT)

#if __has_include(<sys/single_threaded.h>)
// libstdc++'s headers read glibc's __libc_single_threaded (GLIBC_2.32) to skip
// atomic reference counts while no thread exists. Our copy says "threads may
// exist", so shared_ptr and friends always use atomics: correct, never unsafe.
extern "C" {
__attribute__((weak, visibility("hidden"))) char __libc_single_threaded = 0;
}
#endif

#if defined(_GLIBCXX_RELEASE) && _GLIBCXX_RELEASE >= 11
// std::allocator<T>::allocate calls this for impossible sizes; libstdc++.so
// exports it only from GLIBCXX_3.4.29 (GCC 11). Same behaviour as libstdc++'s.
namespace std {
__attribute__((weak, visibility("hidden"), noreturn)) void __throw_bad_array_new_length() {
  throw std::bad_array_new_length();
}
}  // namespace std

// GCC >= 11 headers inline exception_ptr's copy and destruction and call
// exception_ptr::_M_addref/_M_release, exported only from CXXABI_1.3.13. Both
// are done here through the out-of-line copy constructor and destructor that
// every libstdc++ since GCC 4.4 exports (CXXABI_1.3.3), bound to exactly that
// version so they cannot resolve to the headers' inline copies (which would
// call back into these functions).
extern "C" void zk_exception_ptr_copy_(void* self, const void* other) noexcept;
extern "C" void zk_exception_ptr_destroy_(void* self) noexcept;
__asm__(".symver zk_exception_ptr_copy_,_ZNSt15__exception_ptr13exception_ptrC1ERKS0_@CXXABI_1.3.3");
__asm__(".symver zk_exception_ptr_destroy_,_ZNSt15__exception_ptr13exception_ptrD1Ev@CXXABI_1.3.3");

namespace std {
namespace __exception_ptr {
__attribute__((weak)) void exception_ptr::_M_addref() noexcept {
  // A copy made by libstdc++ adds one reference; the copy is dropped unreleased.
  void* extra = nullptr;
  zk_exception_ptr_copy_(&extra, this);
}
__attribute__((weak)) void exception_ptr::_M_release() noexcept {
  // libstdc++ destroys a bitwise copy: one reference fewer, freed at zero.
  void* copy = _M_exception_object;
  zk_exception_ptr_destroy_(&copy);
}
}  // namespace __exception_ptr
}  // namespace std
// The class is declared with default visibility, so hide the two members in
// the assembler: they must not be exported from our module.
__asm__(".hidden _ZNSt15__exception_ptr13exception_ptr9_M_addrefEv");
__asm__(".hidden _ZNSt15__exception_ptr13exception_ptr10_M_releaseEv");
#endif

#endif
