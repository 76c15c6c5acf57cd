// Keep compiled modules loadable on glibc 2.28 (manylinux_2_28) when built
// against a newer glibc (force-included into every C/C++ file by setup.py).
//
// glibc 2.29 gave exp, exp2, log, log2 and pow new symbol versions (same
// maths, no SVID error handling); glibc 2.34 moved pthread_once from
// libpthread into libc under a new version. References to them are pinned to
// the versions glibc 2.28 has: the old exp/log/pow entry points still exist in
// every later glibc, and pthread_once@GLIBC_2.2.5 is found in libpthread.so.0
// on glibc < 2.34 (loaded by Python and by libgomp there). Built against glibc
// < 2.29 (the manylinux_2_28 image), this header does nothing.
// The C++-runtime symbols newer than manylinux_2_28 are defined locally in
// manylinux_compat.cpp.
#pragma once

#if defined(__linux__) && !defined(ZK_NO_GLIBC_COMPAT)
#include <features.h>
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 29))
#if defined(__x86_64__)
#define ZK_GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define ZK_GLIBC_BASE "GLIBC_2.17"
#endif
#ifdef ZK_GLIBC_BASE
__asm__(".symver exp,exp@" ZK_GLIBC_BASE);
__asm__(".symver exp2,exp2@" ZK_GLIBC_BASE);
__asm__(".symver log,log@" ZK_GLIBC_BASE);
__asm__(".symver log2,log2@" ZK_GLIBC_BASE);
__asm__(".symver pow,pow@" ZK_GLIBC_BASE);
#if __GLIBC__ > 2 || __GLIBC_MINOR__ >= 34
__asm__(".symver pthread_once,pthread_once@" ZK_GLIBC_BASE);
#endif
#undef ZK_GLIBC_BASE
#endif
#endif
#endif
