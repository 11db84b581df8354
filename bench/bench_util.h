/*
 * bench_util.h - the timing helpers the benches share, all static inline
 * (each bench is a single-file program): a monotonic clock in ms, a double
 * comparator for qsort, the median of a set of timings, the timed
 * forward-pass loop of the net benches, loading their graphs, the
 * process's memory, and the face entry of the PostgreSQL benches.
 */
#ifndef FK_BENCH_UTIL_H
#define FK_BENCH_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "facekit.h"
#include "models/models.h"
#include "nn/nn.h"

/* The clocks are base/clock.h's: fk_now_ms (differences only) and
 * fk_thread_cpu_ms (on a shared machine the time a one-thread run spent on
 * a core, without the time it waited for one). */
/* qsort comparator: ascending doubles. */
static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sorts v[0..n) ascending in place (so v[0] is then the minimum) and returns
 * its median, the mean of the middle two when n is even; 0 when n is 0. */
static inline double median_of(double *v, size_t n) {
  if (!n) return 0;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Runs rt `warmup` times untimed, then `runs` (>= 1) times timed; returns
 * the median ms and stores the fastest run's in *min and the median thread
 * CPU ms of the calling thread in *cpu (all -1 when out of memory). */
static inline double time_runs(nn_runtime *rt, int warmup, int runs,
                               double *min, double *cpu) {
  double *t = malloc(2 * (size_t)runs * sizeof *t), *c = t + runs;
  *min = *cpu = -1;
  if (!t) return -1;
  for (int i = 0; i < warmup; i++) nn_runtime_run(rt);
  for (int i = 0; i < runs; i++) {
    double t0 = fk_now_ms(), c0 = fk_thread_cpu_ms();
    nn_runtime_run(rt);
    t[i] = fk_now_ms() - t0;
    c[i] = fk_thread_cpu_ms() - c0;
  }
  double med = median_of(t, (size_t)runs);
  *min = t[0];
  *cpu = median_of(c, (size_t)runs);
  free(t);
  return med;
}

/* kB of a /proc/self/status field (VmRSS, VmHWM); -1 if absent. */
static inline long status_kb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (!strncmp(line, field, n) && line[n] == ':') kb = strtol(line + n + 1, NULL, 10);
  if (f) fclose(f);
  return kb;
}

/* $FACEKIT_MODELS/file (default models/file) into buf. */
static inline const char *bench_model_path(const char *file, char *buf, size_t n) {
  const char *dir = getenv("FACEKIT_MODELS");
  snprintf(buf, n, "%s/%s", dir && *dir ? dir : "models", file);
  return buf;
}

/* A face-api net built from its manifest, or NULL (with a message). */
static inline nn_graph *bench_net(const char *file,
                                  int (*build)(const nn_weights *, nn_graph **, char *, size_t)) {
  char path[4096], err[256] = "";
  nn_weights w = {0};
  nn_graph *g = NULL;
  int st = nn_weights_load(bench_model_path(file, path, sizeof path), &w, err, sizeof err);
  if (st == FK_OK) st = build(&w, &g, err, sizeof err);
  if (st != FK_OK) fprintf(stderr, "%s: %s (%s)\n", file, fk_strerror(st), err);
  nn_weights_free(&w);
  return g;
}

/* The SSD (tiny = 0) or Tiny detector at size, or NULL (with a message). */
static inline nn_graph *bench_detector(int tiny, int size) {
  char path[4096], err[256] = "";
  nn_weights w = {0};
  nn_graph *g = NULL;
  int rc = nn_weights_load(bench_model_path(tiny ? FK_TINY_FILE : FK_SSD_FILE, path, sizeof path), &w, err,
                           sizeof err);
  if (rc == FK_OK)
    rc = tiny ? fk_tiny_build(&w, size, &g, err, sizeof err) : fk_ssd_build(&w, size, &g, err, sizeof err);
  if (rc != FK_OK) fprintf(stderr, "%s:%d: %s (%s)\n", tiny ? "tiny" : "ssd", size, fk_strerror(rc), err);
  nn_weights_free(&w);
  return g;
}

/* A model file loaded by its own loader (gear, the ONNX nets), or NULL
 * (with a message). */
static inline nn_graph *bench_file(const char *file,
                                   int (*load)(const char *, nn_graph **, char *, size_t)) {
  char path[4096], err[256] = "";
  nn_graph *g = NULL;
  int st = load(bench_model_path(file, path, sizeof path), &g, err, sizeof err);
  if (st != FK_OK) fprintf(stderr, "%s: %s (%s)\n", file, fk_strerror(st), err);
  return g;
}

/* A net by name: landmarks, descriptor, agegender, expression, gear,
 * mbf512, rfb320, lmk64, ssd:SIZE or tiny:SIZE; NULL (with a message) if it
 * cannot be loaded. */
static inline nn_graph *bench_graph(const char *name) {
  if (!strcmp(name, "landmarks")) return bench_net(FK_LANDMARKS_FILE, fk_landmarks_build);
  if (!strcmp(name, "descriptor")) return bench_net(FK_DESCRIPTOR_FILE, fk_descriptor_build);
  if (!strcmp(name, "agegender")) return bench_net(FK_AGEGENDER_FILE, fk_agegender_build);
  if (!strcmp(name, "expression")) return bench_net(FK_EXPRESSION_FILE, fk_expression_build);
  if (!strcmp(name, "gear")) return bench_file(FK_GEAR_FILE, fk_gear_load);
  if (!strcmp(name, "mbf512")) return bench_file(FK_MBF512_FILE, fk_mbf512_load);
  if (!strcmp(name, "rfb320")) return bench_file(FK_RFB320_FILE, fk_rfb320_load);
  if (!strcmp(name, "lmk64")) return bench_file(FK_LMK64_FILE, fk_lmk64_load);
  if (!strcmp(name, "pose")) return bench_file(FK_POSE_FILE, fk_pose_load);
  if (!strcmp(name, "eye")) return bench_file(FK_EYE_FILE, fk_eye_load);
  if (!strncmp(name, "ssd:", 4)) return bench_detector(0, atoi(name + 4));
  if (!strncmp(name, "tiny:", 5)) return bench_detector(1, atoi(name + 5));
  fprintf(stderr, "unknown net %s\n", name);
  return NULL;
}

/* The nn_backend named s ("onednn", "xnnpack", "reference"), or -1 with a
 * message. */
static inline int bench_backend(const char *s) {
  for (int b = 0; b < NN_BACKEND_COUNT; b++)
    if (!strcmp(s, nn_backend_name((nn_backend)b))) return b;
  fprintf(stderr, "unknown backend %s (onednn, xnnpack, reference)\n", s);
  return -1;
}

/* The default pipeline's models and session, and the entry of img: the
 * real face the PostgreSQL benches store. 0, or 1 after saying why. */
static inline int bench_face_entry(const char *img, fk_models **m, fk_session **s, fk_entry **e) {
  fk_options o;
  fk_options_init(&o);
  *s = NULL;
  if (fk_models_open(NULL, fk_model_nets(o.model) | FK_NET_SSD | FK_NET_LANDMARKS, m)) {
    fprintf(stderr, "%s\n", fk_models_errmsg(*m));
    return 1;
  }
  if (fk_session_new(*m, &o, s) || fk_entry_new(*s, img, e)) {
    fprintf(stderr, "%s: %s\n", img, fk_session_errmsg(*s));
    return 1;
  }
  return 0;
}

#endif /* FK_BENCH_UTIL_H */
