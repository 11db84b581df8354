/*
 * seeds.h - what the seed writers of `make fuzz-seeds` share: make_seeds.c
 * (images, weights manifests, TFJS graphs; it defines these) and
 * seeds_onnx.c (ONNX models).
 */
#ifndef FK_FUZZ_SEEDS_H
#define FK_FUZZ_SEEDS_H

#include <stddef.h>
#include <stdint.h>

/* Prints the message and exits 1. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* Creates OUT/target/corpus. */
void mkdirs(const char *target);
/* Writes OUT/target/corpus/name. */
void emit(const char *target, const char *name, const void *d, size_t n);

/* A growing byte buffer. */
typedef struct buf {
  uint8_t *p;
  size_t n, cap;
} buf;

void put(buf *b, const void *d, size_t n);
void put_str(buf *b, const char *s);
/* A section header of the multi-file input format (fuzz.h). */
void section(buf *b, const char *name);

/* The ONNX seeds (seeds_onnx.c). */
void onnx_seeds(void);

#endif /* FK_FUZZ_SEEDS_H */
