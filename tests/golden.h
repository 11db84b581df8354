/*
 * golden.h - reading the committed golden outputs (tests/fixtures/
 * golden.json, written by tools/reference/golden.js) and other test inputs:
 * model paths, whole files, JSON number arrays, deterministic random input.
 * Include after testutil.h.
 */
#ifndef FK_GOLDEN_H
#define FK_GOLDEN_H

#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

/* $FACEKIT_MODELS/file (default models/file). */
static inline const char *tu_model_path(const char *file) {
  static char buf[4096];
  const char *dir = getenv("FACEKIT_MODELS");
  snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "models", file);
  return buf;
}

/* A whole file, NUL-terminated, or NULL; *n gets its size if n != NULL. */
static inline char *tu_read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = len >= 0 ? malloc((size_t)len + 1) : NULL;
  if (s && fread(s, 1, (size_t)len, f) != (size_t)len) {
    free(s);
    s = NULL;
  }
  if (s) s[len] = '\0';
  fclose(f);
  if (s && n) *n = (size_t)len;
  return s;
}

/* Parses tests/fixtures/golden.json; NULL (with a message) if absent. */
static inline cJSON *tu_golden_load(void) {
  char *text = tu_read_file(tu_fixture("golden.json"), NULL);
  cJSON *g = text ? cJSON_Parse(text) : NULL;
  free(text);
  if (!g) fprintf(stderr, "golden.json missing or unreadable\n");
  return g;
}

/* golden.images.<name> */
static inline const cJSON *tu_golden_image(const cJSON *g, const char *name) {
  return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, "images"), name);
}

/* golden.nets.<net>.<field> */
static inline const cJSON *tu_golden_net(const cJSON *g, const char *net, const char *field) {
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, "nets"), net);
  return cJSON_GetObjectItemCaseSensitive(n, field);
}

/* Reads a JSON array of exactly n numbers into out; 0 if it is not one. */
static inline int tu_json_floats(const cJSON *a, float *out, int n) {
  if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n) return 0;
  int i = 0;
  const cJSON *v;
  cJSON_ArrayForEach(v, a) {
    if (!cJSON_IsNumber(v)) return 0;
    out[i++] = (float)v->valuedouble;
  }
  return 1;
}

/* Deterministic pseudo-random values in [-1, 1). */
static inline void tu_fill_random(float *x, size_t n, unsigned seed) {
  unsigned s = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    x[i] = (float)((s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
  }
}

#endif /* FK_GOLDEN_H */
