/*
 * bench_cluster.c - grouping faces into persons at scale, on synthetic
 * embeddings (LFW has 13k faces; `facekit eval cluster` measures quality
 * there): n faces of persons whose sizes fall off as in a photo collection
 * (a few people in many photos, most in one or two), each face a noisy
 * copy of its person's direction in 512 dimensions, noise set so that two
 * faces of one person have a cosine of about 0.6 and two of different
 * persons about 0. Easier than real faces, which have a long tail of poor
 * ones: this bench is for time and memory, LFW for quality. Prints the seconds of the k-NN graph (exact or HNSW)
 * and of the clustering, the peak memory, and the scores against the
 * synthetic persons.
 *
 *   bench_cluster [-n FACES] [--exact] [-k N] [-t THREADS]
 *
 * 1,000,000 faces need about 2 GB for the vectors alone (4 bytes x 512
 * each) and as much again for the clustering's cluster sums.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>

#include "bench_util.h"
#include "store/cluster.h"

#define DIM 512

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static double uniform(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(uniform() + 1e-300)) * cos(6.283185307179586 * uniform()); }

static void unit(float *v) {
  double n = 0;
  for (int i = 0; i < DIM; i++) n += (double)v[i] * v[i];
  for (int i = 0; i < DIM; i++) v[i] = (float)(v[i] / sqrt(n));
}

int main(int argc, char **argv) {
  int64_t n = 100000;
  int exact = 0, k = 32, threads = 2;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n") && i + 1 < argc) n = atoll(argv[++i]);
    else if (!strcmp(argv[i], "-k") && i + 1 < argc) k = atoi(argv[++i]);
    else if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--exact")) exact = 1;
    else {
      fprintf(stderr, "usage: bench_cluster [-n FACES] [--exact] [-k N] [-t THREADS]\n");
      return 2;
    }
  }
  if (n < 2 || k < 1 || threads < 1) return 2;
  float *v = malloc((size_t)n * DIM * sizeof *v), centre[DIM];
  int32_t *truth = malloc((size_t)n * sizeof *truth), *label = malloc((size_t)n * sizeof *label);
  if (!v || !truth || !label) return fprintf(stderr, "out of memory\n"), 1;
  /* a person's face count is Pareto-distributed, 1 / u^0.8 for uniform u
   * (mean 5, capped at 1,000): most persons in one or two photos, a few in
   * hundreds, as in LFW (13,233 faces of 5,749 persons) */
  int64_t i = 0, persons = 0;
  const double sd = sqrt((1 / 0.6 - 1) / DIM); /* cosine ~0.6 between two faces of one person */
  while (i < n) {
    double u = uniform() + 1e-12, fsize = pow(u, -0.8);
    int64_t size = fsize > 1000 ? 1000 : (int64_t)fsize;
    for (int d = 0; d < DIM; d++) centre[d] = (float)gauss();
    unit(centre);
    for (int64_t j = 0; j < size && i < n; j++, i++) {
      for (int d = 0; d < DIM; d++) v[i * DIM + d] = centre[d] + (float)(sd * gauss());
      unit(v + i * DIM);
      truth[i] = (int32_t)persons;
    }
    persons++;
  }
  pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t)threads) : NULL;
  fk_knn g;
  double t0 = fk_now_ms();
  int rc = (exact ? fk_knn_exact : fk_knn_ann)(v, n, DIM, k, threads, pool, &g);
  double graph_s = (fk_now_ms() - t0) / 1000;
  if (rc) return fprintf(stderr, "graph: %s\n", fk_strerror(rc)), 1;
  t0 = fk_now_ms();
  int64_t found = fk_cluster_link(v, n, DIM, &g, NULL, NULL, 0.40f, 0.12f, label);
  double cluster_s = (fk_now_ms() - t0) / 1000;
  if (found < 0) return fprintf(stderr, "cluster: %s\n", fk_strerror((int)found)), 1;
  fk_cluster_scores s;
  fk_cluster_score(label, truth, n, &s);
  printf("{\"faces\":%lld,\"true_persons\":%lld,\"persons\":%lld,\"graph\":\"%s\",\"k\":%d,\"threads\":%d,"
         "\"graph_seconds\":%.2f,\"cluster_seconds\":%.2f,\"peak_rss_mb\":%.0f,"
         "\"bcubed_f\":%.4f,\"pairwise_f\":%.4f}\n",
         (long long)n, (long long)persons, (long long)found, exact ? "exact" : "ann", k, threads, graph_s, cluster_s,
         status_kb("VmHWM") / 1024.0, s.bcubed_f, s.pair_f);
  fk_knn_free(&g);
  if (pool) pthreadpool_destroy(pool);
  free(v), free(truth), free(label);
  return 0;
}
