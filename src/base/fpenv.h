/*
 * fpenv.h - the denormal mode of the calling thread's floating point unit.
 *
 * Why it matters: Intel cores take a microcode assist for every denormal
 * operand or result of an SSE/AVX instruction unless flush-to-zero (FTZ:
 * denormal results become 0) and denormals-are-zero (DAZ: denormal inputs
 * read as 0) are set in MXCSR. The default model's activations carry
 * denormals, and without the two bits its 1x1 convs ran 12x slower on a
 * Sapphire Rapids (AMD's Zen 3 hides the cost). Flushing does not change
 * the nets' outputs where it matters: values below 1.2e-38 are noise.
 *
 * The mode belongs to a thread. A library must not change its caller's, so
 * nn_runtime_run sets it for the run and restores it (fk_fpenv_set and
 * fk_fpenv_restore); the backends bring their worker threads to the
 * caller's mode (dnnl.c; XNNPACK asks pthreadpool to flush in every run);
 * the threads facekit starts itself flush from their first line
 * (fk_fpenv_set(1) and no restore).
 *
 * x86-64: MXCSR's FTZ and DAZ bits. AArch64: FPCR.FZ, which does both.
 * Elsewhere every call is a no-op and fk_fpenv_supported() is 0.
 */
#ifndef FK_BASE_FPENV_H
#define FK_BASE_FPENV_H

/* A thread's saved floating point control state (opaque). */
typedef unsigned long fk_fpenv;

/* Sets the calling thread's denormal flushing on (flush != 0: FTZ and DAZ)
 * or off (0: denormals computed exactly), leaving every other control bit
 * (rounding, exception masks) as it is; returns the state before, for
 * fk_fpenv_restore. */
fk_fpenv fk_fpenv_set(int flush);

/* Puts back a state fk_fpenv_set returned. */
void fk_fpenv_restore(fk_fpenv saved);

/* 1 if the calling thread flushes denormals (both bits on x86), else 0. */
int fk_fpenv_flushing(void);

/* 1 where this CPU architecture has the flush bits (x86-64, AArch64). */
int fk_fpenv_supported(void);

#endif /* FK_BASE_FPENV_H */
