/*
 * fuzz.h - what the fuzz targets (tests/fuzz/fuzz_*.c) share: the check
 * macro that turns a broken promise of the library into a crash the fuzzer
 * records, the flag that says an input got all the way through, and the
 * multi-file input format of the model loaders' targets.
 *
 * Multi-file inputs. A loader reads a main file (a manifest, model.json)
 * and the shards it names, so one fuzz input carries several files:
 *
 *   <main file bytes>
 *   \n%%file NAME\n<bytes of NAME>
 *   \n%%file NAME\n<bytes of NAME> ...
 *
 * The main file runs from the start to the first "\n%%file "; each section
 * runs from the end of its name line to the next "\n%%file " or the end of
 * the input. The main file answers to the name the target asks for
 * ("model.json", "manifest.json", "model.onnx"), so `"paths": ["w.bin"]` in it is served
 * by the section "%%file w.bin". A name the input does not hold is
 * FK_ENOENT; the first of two sections with one name wins; sections after
 * the FUZZ_MAX_FILES-th are ignored. Shard bytes are raw: a shard that
 * happens to contain "\n%%file " is simply split there.
 *
 * Each target includes this header once (it defines fuzz_accepted and
 * fuzz_sink).
 */
#ifndef FK_FUZZ_H
#define FK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"
#include "nn/files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Set by a target when the input was fully accepted (decoded, loaded, run).
 * The replay driver (replay.c) requires it for the seeds named ok-*, so a
 * seed that stops reaching deep code fails the test. */
int fuzz_accepted;

/* A property the library promises, checked on every input: if it fails,
 * the target aborts, and the fuzzer keeps the input as a crash. */
#define FUZZ_CHECK(cond)                                                   \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: library promise broken: %s\n", __FILE__,     \
              __LINE__, #cond);                                            \
      abort();                                                             \
    }                                                                      \
  } while (0)

/* Reads n bytes at p, so that ASan checks that they are all there. */
volatile unsigned char fuzz_sink;
static inline void fuzz_touch(const void *p, size_t n) {
  const unsigned char *b = p;
  unsigned char x = 0;
  for (size_t i = 0; i < n; i++) x ^= b[i];
  fuzz_sink = x;
}

#define FUZZ_MAX_FILES 16
#define FUZZ_SEP "\n%%file "

typedef struct fuzz_file {
  const char *name; /* not NUL-terminated */
  size_t name_len;
  const uint8_t *data;
  size_t len;
} fuzz_file;

typedef struct fuzz_archive {
  fuzz_file f[FUZZ_MAX_FILES];
  int n;
} fuzz_archive;

static inline const uint8_t *fuzz_find_sep(const uint8_t *p, const uint8_t *end) {
  const size_t k = sizeof FUZZ_SEP - 1;
  for (; (size_t)(end - p) >= k; p++)
    if (*p == '\n' && !memcmp(p, FUZZ_SEP, k)) return p;
  return end;
}

/* Splits an input into its files (see the top of this file); the main file
 * is f[0], called main_name. */
static inline void fuzz_split(const uint8_t *data, size_t size, const char *main_name,
                       fuzz_archive *a) {
  const uint8_t *end = data + size, *p = fuzz_find_sep(data, end);
  a->f[0] = (fuzz_file){main_name, strlen(main_name), data, (size_t)(p - data)};
  a->n = 1;
  while (p < end && a->n < FUZZ_MAX_FILES) {
    const uint8_t *name = p + sizeof FUZZ_SEP - 1, *nl = name;
    while (nl < end && *nl != '\n') nl++;
    const uint8_t *body = nl < end ? nl + 1 : end;
    p = fuzz_find_sep(body, end);
    a->f[a->n++] = (fuzz_file){(const char *)name, (size_t)(nl - name), body,
                               (size_t)(p - body)};
  }
}

/* The file of that name, or NULL. */
static inline const fuzz_file *fuzz_lookup(const fuzz_archive *a, const char *name) {
  size_t n = strlen(name);
  for (int i = 0; i < a->n; i++)
    if (a->f[i].name_len == n && !memcmp(a->f[i].name, name, n)) return &a->f[i];
  return NULL;
}

/* nn_files read callback over a fuzz_archive (ctx). */
static inline int fuzz_read(const nn_files *fs, const char *name, char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  const fuzz_file *f = fuzz_lookup(fs->ctx, name);
  if (!f) return FK_ENOENT;
  char *b = malloc(f->len + 1);
  if (!b) return FK_ENOMEM;
  if (f->len) memcpy(b, f->data, f->len);
  b[f->len] = '\0';
  *data = b;
  *len = f->len;
  return FK_OK;
}

static inline nn_files fuzz_files(const fuzz_archive *a) {
  return (nn_files){.read = fuzz_read, .dir = "", .ctx = a};
}

#endif /* FK_FUZZ_H */
