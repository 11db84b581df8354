/*
 * golden.h - reading the committed golden outputs (tests/fixtures/
 * golden.json, written by tools/reference/golden.js) and other test inputs:
 * model paths, whole files, JSON number arrays, deterministic random input,
 * and comparing a graph's two backends. Include after testutil.h.
 */
#ifndef FK_GOLDEN_H
#define FK_GOLDEN_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "facekit.h"
#include "nn/nn.h"

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

/* max |a[i] - b[i]| over n values. */
static inline double tu_max_abs_diff(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
  return m;
}

/* Runs g on the XNNPACK and the reference backend with the same input,
 * amp * tu_fill_random(seed), CHECKing that both run; returns the worst over
 * all outputs of max |xnnpack - reference|, divided by max(1, max |reference|)
 * if rel; -1 if a runtime could not be made. */
static inline double tu_backend_diff(const nn_graph *g, unsigned seed, float amp,
                                     int rel) {
  nn_runtime *xr = NULL, *rr = NULL;
  int rc1 = nn_runtime_new(g, NN_BACKEND_XNNPACK, NULL, &xr);
  int rc2 = nn_runtime_new(g, NN_BACKEND_REFERENCE, NULL, &rr);
  CHECK_EQ_INT(rc1, FK_OK);
  CHECK_EQ_INT(rc2, FK_OK);
  double worst = -1;
  if (rc1 == FK_OK && rc2 == FK_OK) {
    size_t n = nn_shape_size(g->shapes[0]);
    float *in = nn_runtime_input(xr);
    tu_fill_random(in, n, seed);
    for (size_t i = 0; i < n; i++) in[i] *= amp;
    memcpy(nn_runtime_input(rr), in, n * sizeof *in);
    CHECK_EQ_INT(nn_runtime_run(xr), FK_OK);
    CHECK_EQ_INT(nn_runtime_run(rr), FK_OK);
    worst = 0;
    for (int o = 0; o < g->noutputs; o++) {
      size_t m = nn_shape_size(g->shapes[g->outputs[o]]);
      const float *a = nn_runtime_output(xr, o), *b = nn_runtime_output(rr, o);
      double vmax = 1;
      if (rel)
        for (size_t i = 0; i < m; i++) vmax = fmax(vmax, fabs((double)b[i]));
      worst = fmax(worst, tu_max_abs_diff(a, b, m) / vmax);
    }
  }
  nn_runtime_free(xr);
  nn_runtime_free(rr);
  return worst;
}

#endif /* FK_GOLDEN_H */
