/*
 * bench_nets.c - per-face latency of the landmark, descriptor, age/gender and
 * expression graphs on the XNNPACK backend, at 1 thread (no pool) and 2 threads (pthreadpool).
 *
 * Usage: bench_nets [runs]   (models from $FACEKIT_MODELS, else ./models)
 * Prints the median ms of `runs` timed runs after 3 warm-up runs, and
 * GFLOP/s = 2 * nn_graph_macs / time.
 */
#include <pthreadpool.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "facekit.h"
#include "models/models.h"

static void bench(const char *name, const nn_graph *g, int threads, int runs) {
  pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t)threads) : NULL;
  nn_runtime *rt = NULL;
  int st = nn_runtime_new(g, NN_BACKEND_XNNPACK, pool, &rt);
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
         "(%.1f MMAC)\n",
         name, threads, threads > 1 ? "s" : " ", med, min,
         2 * nn_graph_macs(g) / (med * 1e6), nn_graph_macs(g) / 1e6);
  nn_runtime_free(rt);
  if (pool) pthreadpool_destroy(pool);
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
  return rc;
}
