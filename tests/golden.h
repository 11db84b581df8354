/*
 * golden.h - reading the committed golden outputs (tests/fixtures/
 * golden.json, written by tools/reference/golden.js) and other test inputs:
 * model paths, whole files, JSON number arrays, deterministic random input,
 * comparing a graph's two backends, and mirrored images. Include after testutil.h.
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

/* The recognition model a run uses when none is named (fk_options_init's):
 * tests that are not about one model follow it, with its name, width
 * (fk_model_dim) and thresholds (fk_model_threshold). */
static inline int tu_default_model(void) {
  fk_options o;
  fk_options_init(&o);
  return o.model;
}

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

/* Member k of a JSON object as a string ("" if it is none) and as a number
 * (-1 if it is none). */
static inline const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : "";
}

static inline double jnum(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
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

/* The backends a golden comparison runs on. */
static const nn_backend TU_FAST[] = {NN_BACKEND_XNNPACK, NN_BACKEND_DNNL};
#define TU_NFAST 2

/* The fast backends and thread set-ups every parity check covers: each
 * backend on one thread, and a two-thread runtime forced to run on two
 * threads and forced to run on one (the two ways runtime.c runs it). */
typedef struct tu_setup {
  nn_backend backend;
  int threads;
  nn_sched sched;
  const char *name;
} tu_setup;

static const tu_setup TU_SETUPS[] = {
    {NN_BACKEND_XNNPACK, 1, NN_SCHED_ADAPTIVE, "xnnpack"},
    {NN_BACKEND_XNNPACK, 2, NN_SCHED_PARALLEL, "xnnpack 2T"},
    {NN_BACKEND_XNNPACK, 2, NN_SCHED_SERIAL, "xnnpack 2T-serial"},
    {NN_BACKEND_DNNL, 1, NN_SCHED_ADAPTIVE, "onednn"},
    {NN_BACKEND_DNNL, 2, NN_SCHED_PARALLEL, "onednn 2T"},
    {NN_BACKEND_DNNL, 2, NN_SCHED_SERIAL, "onednn 2T-serial"},
};
#define TU_NSETUPS ((int)(sizeof TU_SETUPS / sizeof TU_SETUPS[0]))

/* A runtime for g as set-up i in precision prec, or NULL (CHECKed); *th
 * gets its threads (NULL for one). Free both with tu_runtime_free. */
static inline nn_runtime *tu_runtime_prec(const nn_graph *g, int i, nn_precision prec, nn_threads **thp) {
  const tu_setup *su = &TU_SETUPS[i];
  nn_threads *th = NULL;
  nn_runtime *rt = NULL;
  *thp = NULL;
  int rc = su->threads > 1 ? nn_threads_new(su->threads, NULL, &th) : FK_OK;
  if (rc == FK_OK) rc = nn_runtime_new_prec(g, su->backend, th, prec, &rt);
  if (rc != FK_OK) fprintf(stderr, "%s %s runtime: %s\n", su->name, nn_precision_name(prec), fk_strerror(rc));
  CHECK_EQ_INT(rc, FK_OK);
  if (rc != FK_OK) {
    nn_threads_free(th);
    return NULL;
  }
  nn_runtime_set_sched(rt, su->sched);
  *thp = th;
  return rt;
}

static inline nn_runtime *tu_runtime(const nn_graph *g, int i, nn_threads **thp) {
  return tu_runtime_prec(g, i, NN_PREC_F32, thp);
}

static inline void tu_runtime_free(nn_runtime *rt, nn_threads *th) {
  nn_runtime_free(rt);
  nn_threads_free(th);
}

/* Runs g on the reference backend and on every set-up with the same input,
 * amp * tu_fill_random(seed), CHECKing that all run; returns the worst over
 * set-ups and outputs of max |fast - reference|, divided by
 * max(1, max |reference|) if rel (each set-up's figure goes to stderr); -1
 * if a runtime could not be made. */
static inline double tu_backend_diff(const nn_graph *g, unsigned seed, float amp, int rel) {
  nn_runtime *rr = NULL;
  int rc = nn_runtime_new(g, NN_BACKEND_REFERENCE, NULL, &rr);
  CHECK_EQ_INT(rc, FK_OK);
  if (rc != FK_OK) return -1;
  size_t n = nn_shape_size(g->shapes[0]);
  float *in = nn_runtime_input(rr);
  tu_fill_random(in, n, seed);
  for (size_t i = 0; i < n; i++) in[i] *= amp;
  CHECK_EQ_INT(nn_runtime_run(rr), FK_OK);
  double worst = 0;
  for (int s = 0; s < TU_NSETUPS && worst >= 0; s++) {
    nn_threads *th;
    nn_runtime *xr = tu_runtime(g, s, &th);
    if (!xr) {
      worst = -1;
      break;
    }
    memcpy(nn_runtime_input(xr), in, n * sizeof *in);
    CHECK_EQ_INT(nn_runtime_run(xr), FK_OK);
    double d = 0;
    for (int o = 0; o < g->noutputs; o++) {
      size_t m = nn_shape_size(g->shapes[g->outputs[o]]);
      const float *a = nn_runtime_output(xr, o), *b = nn_runtime_output(rr, o);
      double vmax = 1;
      if (rel)
        for (size_t i = 0; i < m; i++) vmax = fmax(vmax, fabs((double)b[i]));
      d = fmax(d, tu_max_abs_diff(a, b, m) / vmax);
    }
    fprintf(stderr, "    %-18s vs reference %.3g\n", TU_SETUPS[s].name, d);
    worst = fmax(worst, d);
    tu_runtime_free(xr, th);
  }
  nn_runtime_free(rr);
  return worst;
}

/* The lower precisions against the reference kernels: g on oneDNN in bf16
 * on each of its set-ups (one thread, two forced onto two, two forced onto
 * one) and on the reference backend in f32, with the same input (amp *
 * tu_fill_random(seed)); returns the least cosine similarity over set-ups
 * and outputs of the bf16 output to the reference one (each set-up's
 * figure to stderr), or 2 when this CPU has no native bf16 (said on
 * stderr: the path is skipped by name). */
static inline double tu_bf16_cosine(const nn_graph *g, unsigned seed, float amp, const char *what) {
  if (!nn_precision_native(NN_BACKEND_DNNL, NN_PREC_BF16)) {
    fprintf(stderr, "  SKIP %s in bf16 on onednn: this CPU has no native bf16 (AVX512-BF16 or AMX)\n", what);
    return 2;
  }
  nn_runtime *f = NULL;
  CHECK_EQ_INT(nn_runtime_new(g, NN_BACKEND_REFERENCE, NULL, &f), FK_OK);
  if (!f) return -1;
  size_t n = nn_shape_size(g->shapes[0]);
  float *in = nn_runtime_input(f);
  tu_fill_random(in, n, seed);
  for (size_t i = 0; i < n; i++) in[i] *= amp;
  CHECK_EQ_INT(nn_runtime_run(f), FK_OK);
  double least = 1;
  for (int s = 0; s < TU_NSETUPS; s++) {
    if (TU_SETUPS[s].backend != NN_BACKEND_DNNL) continue;
    nn_threads *th;
    nn_runtime *b = tu_runtime_prec(g, s, NN_PREC_BF16, &th);
    if (!b) {
      least = -1;
      break;
    }
    memcpy(nn_runtime_input(b), in, n * sizeof *in);
    CHECK_EQ_INT(nn_runtime_run(b), FK_OK);
    double worst = 1;
    for (int o = 0; o < g->noutputs; o++) {
      size_t m = nn_shape_size(g->shapes[g->outputs[o]]);
      const float *x = nn_runtime_output(b, o), *y = nn_runtime_output(f, o);
      double xy = 0, xx = 0, yy = 0;
      for (size_t i = 0; i < m; i++) xy += (double)x[i] * y[i], xx += (double)x[i] * x[i], yy += (double)y[i] * y[i];
      double c = xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : (xx == yy ? 1 : 0);
      worst = fmin(worst, c);
    }
    fprintf(stderr, "  %s: %s bf16 against the reference, least cosine %.6f\n", what, TU_SETUPS[s].name, worst);
    least = fmin(least, worst);
    tu_runtime_free(b, th);
  }
  nn_runtime_free(f);
  return least;
}

/* tu_backend_diff on a built graph, relative, CHECKed against tol (a failed
 * graph fails the check, with its message); the figure goes to stderr and
 * is returned (-1 for a failed graph). Does not free g. */
static inline double tu_backends_agree(const nn_graph *g, unsigned seed, float amp, double tol,
                                       const char *what) {
  CHECK_EQ_INT(nn_graph_status(g), FK_OK);
  if (nn_graph_status(g) != FK_OK) {
    fprintf(stderr, "%s: %s\n", what, g->err);
    return -1;
  }
  double d = tu_backend_diff(g, seed, amp, 1);
  fprintf(stderr, "  %s: fast backends vs reference %.3g\n", what, d);
  CHECK(d >= 0 && d <= tol);
  return d;
}

/* img mirrored left to right into *out, a copy (free out->rgb); FK_OK or
 * FK_ENOMEM. Pixel column x goes to width - 1 - x, a box's x to width - x
 * - w. */
static inline int tu_mirror(const fk_image *img, fk_image *out) {
  *out = *img;
  out->rgb = malloc((size_t)img->width * img->height * 3);
  if (!out->rgb) return FK_ENOMEM;
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      memcpy(out->rgb + ((size_t)y * img->width + x) * 3,
             img->rgb + ((size_t)y * img->width + img->width - 1 - x) * 3, 3);
  return FK_OK;
}

#endif /* FK_GOLDEN_H */
