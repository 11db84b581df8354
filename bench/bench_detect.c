/*
 * bench_detect.c - times the two detector graphs (SSD-MobileNetV1 and
 * TinyFaceDetector) on every fast backend (oneDNN, XNNPACK): median and min
 * ms per forward pass, plus GFLOP/s (2 x MACs), at 1 and 2 threads unless
 * -t N picks one count (2-thread runs are forced onto two threads, see
 * bench_nets); on one thread also the median thread CPU time ("cpu"),
 * robust on a shared machine.
 *
 * Usage: bench_detect [-n runs] [-t threads] [-b backend]
 *                     [ssd:SIZE | tiny:SIZE ...]
 * (default ssd:512 ssd:256 tiny:416; models from $FACEKIT_MODELS)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "models/models.h"

static void bench_one(const nn_graph *g, const char *spec, nn_backend be, int threads, int runs) {
  nn_threads *th = NULL;
  nn_runtime *rt = NULL;
  int rc = nn_threads_new(threads, NULL, &th);
  if (rc == FK_OK) rc = nn_runtime_new(g, be, th, &rt);
  if (rc != FK_OK) {
    fprintf(stderr, "%s: %s\n", spec, fk_strerror(rc));
    nn_threads_free(th);
    return;
  }
  nn_runtime_set_sched(rt, NN_SCHED_PARALLEL);
  float *in = nn_runtime_input(rt);
  size_t n = nn_shape_size(g->shapes[0]);
  for (size_t i = 0; i < n; i++) in[i] = (float)((i * 7919) % 255) / 127.5f - 1;
  double min, cpu, med = time_runs(rt, 3, runs, &min, &cpu);
  printf("%-9s %-8s %d thread%s  median %8.2f ms  min %8.2f ms  %6.1f GFLOP/s", spec,
         nn_backend_name(be), threads, threads > 1 ? "s" : " ", med, min,
         2 * nn_graph_macs(g) / (med * 1e6));
  if (threads == 1) printf("  cpu %8.2f ms", cpu);
  printf("  (%.0f MMAC)\n", nn_graph_macs(g) / 1e6);
  fflush(stdout);
  nn_runtime_free(rt);
  nn_threads_free(th);
}

int main(int argc, char **argv) {
  int runs = 30, threads = 0, only = -1, first = 1;
  for (; first + 1 < argc && argv[first][0] == '-'; first += 2) {
    if (!strcmp(argv[first], "-n")) runs = atoi(argv[first + 1]);
    else if (!strcmp(argv[first], "-t")) threads = atoi(argv[first + 1]);
    else if (!strcmp(argv[first], "-b") && (only = bench_backend(argv[first + 1])) < 0) return 2;
  }
  if (runs < 1) runs = 1;
  static const char *defaults[] = {"ssd:512", "ssd:256", "tiny:416"};
  const char **specs = first < argc ? (const char **)argv + first : defaults;
  int nspecs = first < argc ? argc - first : 3, rc = 0;
  const nn_backend fast[2] = {NN_BACKEND_DNNL, NN_BACKEND_XNNPACK};
  int counts[2] = {threads ? threads : 1, 2}, ncounts = threads ? 1 : 2;
  for (int i = 0; i < nspecs; i++) {
    nn_graph *g = bench_graph(specs[i]);
    rc |= !g;
    for (int t = 0; g && t < ncounts; t++) {
      for (int b = 0; b < 2; b++)
        if (only < 0 || (int)fast[b] == only) bench_one(g, specs[i], fast[b], counts[t], runs);
      if (only == NN_BACKEND_REFERENCE) bench_one(g, specs[i], NN_BACKEND_REFERENCE, counts[t], runs);
    }
    nn_graph_free(g);
  }
  return rc;
}
