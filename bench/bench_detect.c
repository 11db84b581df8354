/*
 * bench_detect.c - times the two detector graphs (SSD-MobileNetV1 and
 * TinyFaceDetector) on the XNNPACK backend: median and min ms per forward
 * pass, plus GFLOP/s (2 x MACs), single-threaded unless -t N is given.
 *
 * Usage: bench_detect [-m models_dir] [-n runs] [-t threads]
 *                     [ssd:SIZE | tiny:SIZE ...]   (default ssd:512 ssd:320
 *                                                   tiny:416)
 */
#include <pthreadpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "models/models.h"

static int bench_one(const char *dir, const char *spec, int runs,
                     pthreadpool_t pool) {
  int tiny = strncmp(spec, "tiny:", 5) == 0;
  if (!tiny && strncmp(spec, "ssd:", 4) != 0) {
    fprintf(stderr, "bad spec %s (want ssd:SIZE or tiny:SIZE)\n", spec);
    return 1;
  }
  int size = atoi(strchr(spec, ':') + 1);
  char path[4096], err[256] = "";
  snprintf(path, sizeof path, "%s/%s", dir, tiny ? FK_TINY_FILE : FK_SSD_FILE);
  nn_weights w = {0};
  nn_graph *g = NULL;
  nn_runtime *rt = NULL;
  int rc = nn_weights_load(path, &w, err, sizeof err);
  if (rc == FK_OK)
    rc = tiny ? fk_tiny_build(&w, size, &g, err, sizeof err)
              : fk_ssd_build(&w, size, &g, err, sizeof err);
  if (rc == FK_OK) rc = nn_runtime_new(g, NN_BACKEND_XNNPACK, pool, &rt);
  if (rc != FK_OK) {
    fprintf(stderr, "%s: %s %s\n", spec, fk_strerror(rc), err);
    nn_graph_free(g);
    nn_weights_free(&w);
    return 1;
  }
  float *in = nn_runtime_input(rt);
  size_t n = nn_shape_size(g->shapes[0]);
  for (size_t i = 0; i < n; i++) in[i] = (float)((i * 7919) % 255) / 127.5f - 1;
  double min, med = time_runs(rt, 3, runs, &min);
  printf("%-9s median %7.2f ms  min %7.2f ms  %6.1f GFLOP/s\n", spec, med, min,
         2 * nn_graph_macs(g) / (med * 1e6));
  nn_runtime_free(rt);
  nn_graph_free(g);
  nn_weights_free(&w);
  return 0;
}

int main(int argc, char **argv) {
  const char *dir = getenv("FACEKIT_MODELS");
  if (!dir) dir = "models";
  int runs = 30, threads = 1, first = 1;
  for (; first < argc && argv[first][0] == '-'; first += 2) {
    if (first + 1 >= argc) break;
    if (!strcmp(argv[first], "-m")) dir = argv[first + 1];
    else if (!strcmp(argv[first], "-n")) runs = atoi(argv[first + 1]);
    else if (!strcmp(argv[first], "-t")) threads = atoi(argv[first + 1]);
  }
  if (runs < 1) runs = 1;
  pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t)threads) : NULL;
  static const char *defaults[] = {"ssd:512", "ssd:320", "tiny:416"};
  int rc = 0;
  if (first >= argc)
    for (int i = 0; i < 3; i++) rc |= bench_one(dir, defaults[i], runs, pool);
  for (int i = first; i < argc; i++) rc |= bench_one(dir, argv[i], runs, pool);
  if (pool) pthreadpool_destroy(pool);
  return rc;
}
