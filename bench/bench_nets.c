/*
 * bench_nets.c - per-face latency of the landmark, descriptor, age/gender,
 * expression and gear graphs on every fast backend (oneDNN, XNNPACK), at 1
 * and 2 threads, all in one run so that the figures compare.
 *
 * Usage: bench_nets [runs] [-b onednn|xnnpack|reference]
 *   (models from $FACEKIT_MODELS, else ./models)
 * Prints the median ms of `runs` timed runs after 3 warm-up runs, and
 * GFLOP/s = 2 * nn_graph_macs / time. The 2-thread runs are forced onto two
 * threads (NN_SCHED_PARALLEL), so they show the raw parallel speed; bench_load
 * shows what the adaptive default does under a competing load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "facekit.h"
#include "models/models.h"

static void bench(const char *name, const nn_graph *g, nn_backend be, int threads, int runs) {
  nn_threads *th = NULL;
  nn_runtime *rt = NULL;
  int st = nn_threads_new(threads, NULL, &th);
  if (st == FK_OK) st = nn_runtime_new(g, be, th, &rt);
  if (st != FK_OK) {
    fprintf(stderr, "%s: runtime: %s\n", name, fk_strerror(st));
    nn_threads_free(th);
    return;
  }
  nn_runtime_set_sched(rt, NN_SCHED_PARALLEL);
  float *in = nn_runtime_input(rt);
  size_t n = nn_shape_size(g->shapes[0]);
  for (size_t i = 0; i < n; i++) in[i] = (float)((i * 7919) % 255) / 255.0f - 0.5f;
  double min, med = time_runs(rt, 3, runs, &min);
  printf("%-10s %-8s %d thread%s  median %8.3f ms  (min %8.3f)  %6.1f GFLOP/s  (%.1f MMAC)\n",
         name, nn_backend_name(be), threads, threads > 1 ? "s" : " ", med, min,
         2 * nn_graph_macs(g) / (med * 1e6), nn_graph_macs(g) / 1e6);
  fflush(stdout);
  nn_runtime_free(rt);
  nn_threads_free(th);
}

int main(int argc, char **argv) {
  int runs = 50, only = -1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-b") && i + 1 < argc) {
      only = bench_backend(argv[++i]);
      if (only < 0) return 2;
    } else {
      runs = atoi(argv[i]);
    }
  }
  if (runs < 1) runs = 1;
  const char *names[5] = {"landmarks", "descriptor", "agegender", "expression", "gear"};
  nn_graph *g[5] = {bench_net(FK_LANDMARKS_FILE, fk_landmarks_build),
                    bench_net(FK_DESCRIPTOR_FILE, fk_descriptor_build),
                    bench_net(FK_AGEGENDER_FILE, fk_agegender_build),
                    bench_net(FK_EXPRESSION_FILE, fk_expression_build), bench_gear()};
  int rc = 0;
  for (int i = 0; i < 5; i++) rc |= !g[i];
  const nn_backend fast[2] = {NN_BACKEND_DNNL, NN_BACKEND_XNNPACK};
  for (int th = 1; th <= 2 && !rc; th++)
    for (int i = 0; i < 5; i++)
      for (int b = 0; b < 2; b++)
        if (only < 0 || (int)fast[b] == only) bench(names[i], g[i], fast[b], th, runs);
  if (only == NN_BACKEND_REFERENCE)
    for (int i = 0; i < 5 && !rc; i++) bench(names[i], g[i], NN_BACKEND_REFERENCE, 1, runs);
  for (int i = 0; i < 5; i++) nn_graph_free(g[i]);
  return rc;
}
