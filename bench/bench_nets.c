/*
 * bench_nets.c - per-face latency of the landmark, descriptor, age/gender and
 * expression graphs and of the faceplugin ONNX nets (mbf512, rfb320, lmk64)
 * on the XNNPACK backend, at 1 thread (no pool) and 2 threads (pthreadpool);
 * the ONNX nets also on the reference backend (1 thread).
 *
 * Usage: bench_nets [runs] [onnx]   (models from $FACEKIT_MODELS, else ./models)
 * "onnx" benches only the ONNX nets, in the same order and format as
 * tools/reference/bench-onnx.js (onnxruntime-node), for bench/compare_onnx.sh.
 * Prints the median ms of `runs` timed runs after 3 warm-up runs, and
 * GFLOP/s = 2 * nn_graph_macs / time.
 */
#include <pthreadpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "facekit.h"
#include "models/models.h"

static void bench_on(const char *name, const nn_graph *g, nn_backend be, int threads,
                     int runs) {
  pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t)threads) : NULL;
  nn_runtime *rt = NULL;
  int st = nn_runtime_new(g, be, pool, &rt);
  if (st != FK_OK) {
    fprintf(stderr, "%s: runtime: %s\n", name, fk_strerror(st));
    if (pool) pthreadpool_destroy(pool);
    return;
  }
  float *in = nn_runtime_input(rt);
  size_t n = nn_shape_size(g->shapes[0]);
  for (size_t i = 0; i < n; i++) in[i] = (float)((i * 7919) % 255) / 255.0f - 0.5f;
  double min, med = time_runs(rt, 3, runs, &min);
  printf("%-10s %d thread%s  median %7.3f ms  (min %7.3f)  %6.1f GFLOP/s  "
         "(%.1f MMAC)%s\n",
         name, threads, threads > 1 ? "s" : " ", med, min,
         2 * nn_graph_macs(g) / (med * 1e6), nn_graph_macs(g) / 1e6,
         be == NN_BACKEND_REFERENCE ? "  reference" : "");
  nn_runtime_free(rt);
  if (pool) pthreadpool_destroy(pool);
}

static void bench(const char *name, const nn_graph *g, int threads, int runs) {
  bench_on(name, g, NN_BACKEND_XNNPACK, threads, runs);
}

static nn_graph *load_onnx(const char *file,
                           int (*load)(const char *, nn_graph **, char *, size_t)) {
  char path[4096], err[256];
  const char *dir = getenv("FACEKIT_MODELS");
  snprintf(path, sizeof path, "%s/%s", dir ? dir : "models", file);
  nn_graph *g = NULL;
  int st = load(path, &g, err, sizeof err);
  if (st != FK_OK) fprintf(stderr, "%s: %s (%s)\n", file, fk_strerror(st), err);
  return g;
}

/* The faceplugin nets: XNNPACK at 1 and 2 threads, reference at 1. */
static int bench_onnx(int runs) {
  nn_graph *g[3] = {load_onnx(FK_MBF512_FILE, fk_mbf512_load),
                    load_onnx(FK_RFB320_FILE, fk_rfb320_load),
                    load_onnx(FK_LMK64_FILE, fk_lmk64_load)};
  static const char *const names[3] = {"mbf512", "rfb320", "lmk64"};
  int rc = g[0] && g[1] && g[2] ? 0 : 1;
  for (int th = 1; th <= 2 && !rc; th++)
    for (int i = 0; i < 3; i++) bench(names[i], g[i], th, runs);
  for (int i = 0; i < 3 && !rc; i++) bench_on(names[i], g[i], NN_BACKEND_REFERENCE, 1, runs);
  for (int i = 0; i < 3; i++) nn_graph_free(g[i]);
  return rc;
}

static nn_graph *load(const char *file,
                      int (*build)(const nn_weights *, nn_graph **, char *,
                                   size_t)) {
  char path[4096], err[256];
  const char *dir = getenv("FACEKIT_MODELS");
  snprintf(path, sizeof path, "%s/%s", dir ? dir : "models", file);
  nn_weights w = {0};
  nn_graph *g = NULL;
  int st = nn_weights_load(path, &w, err, sizeof err);
  if (st == FK_OK) st = build(&w, &g, err, sizeof err);
  if (st != FK_OK) fprintf(stderr, "%s: %s (%s)\n", file, fk_strerror(st), err);
  nn_weights_free(&w);
  return g;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 50;
  if (runs < 1) runs = 1;
  if (argc > 2 && !strcmp(argv[2], "onnx")) return bench_onnx(runs);
  nn_graph *lm = load(FK_LANDMARKS_FILE, fk_landmarks_build);
  nn_graph *desc = load(FK_DESCRIPTOR_FILE, fk_descriptor_build);
  nn_graph *ag = load(FK_AGEGENDER_FILE, fk_agegender_build);
  nn_graph *ex = load(FK_EXPRESSION_FILE, fk_expression_build);
  int rc = lm && desc && ag && ex ? 0 : 1;
  for (int th = 1; th <= 2 && !rc; th++) {
    bench("landmarks", lm, th, runs);
    bench("descriptor", desc, th, runs);
    bench("agegender", ag, th, runs);
    bench("expression", ex, th, runs);
  }
  nn_graph_free(lm);
  nn_graph_free(desc);
  nn_graph_free(ag);
  nn_graph_free(ex);
  return rc ? rc : bench_onnx(runs);
}
