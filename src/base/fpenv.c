/*
 * fpenv.c - the calling thread's denormal mode (fpenv.h).
 */
#include "base/fpenv.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>

#define FLUSH_BITS 0x8040u /* MXCSR.FTZ (bit 15) | MXCSR.DAZ (bit 6) */

static unsigned get_csr(void) { return _mm_getcsr(); }
static void set_csr(unsigned v) { _mm_setcsr(v); }
int fk_fpenv_supported(void) { return 1; }

#elif defined(__aarch64__)
#define FLUSH_BITS (1u << 24) /* FPCR.FZ */

static unsigned get_csr(void) {
  unsigned long v;
  __asm__ volatile("mrs %0, fpcr" : "=r"(v));
  return (unsigned)v;
}
static void set_csr(unsigned v) {
  unsigned long x = v;
  __asm__ volatile("msr fpcr, %0" : : "r"(x));
}
int fk_fpenv_supported(void) { return 1; }

#else
#define FLUSH_BITS 0u
static unsigned get_csr(void) { return 0; }
static void set_csr(unsigned v) { (void)v; }
int fk_fpenv_supported(void) { return 0; }
#endif

fk_fpenv fk_fpenv_set(int flush) {
  unsigned old = get_csr(), want = flush ? old | FLUSH_BITS : old & ~FLUSH_BITS;
  if (want != old) set_csr(want); /* writing the register costs more than reading it */
  return old;
}

void fk_fpenv_restore(fk_fpenv saved) {
  if (get_csr() != (unsigned)saved) set_csr((unsigned)saved);
}

int fk_fpenv_flushing(void) { return FLUSH_BITS && (get_csr() & FLUSH_BITS) == FLUSH_BITS; }
