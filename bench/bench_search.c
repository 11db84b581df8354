/*
 * bench_search.c - exact k-NN search speed of the face index's scan
 * (src/store/vecs.c) at collection scale: N random unit vectors (Gaussian,
 * so uniform on the sphere), their int8 codes, and the median latency of
 * one top-k query for f32 and int8 codes at 1 and 2 threads, with the
 * memory the matrix takes and the int8 recall@k against f32.
 *
 * Usage: bench_search [N (default 1000000)] [queries (default 50)] [k (10)] [dim (128)]
 * Prints one JSON object.
 */
#include <math.h>
#include <pthreadpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "facekit.h"
#include "store/vecs.h"

/* The vectors' width (argv[4]). */
static int DIM = 128;

/* xorshift64* and Box-Muller: a Gaussian sample. */
static double gauss(uint64_t *s) {
  double u[2];
  for (int i = 0; i < 2; i++) {
    *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
    u[i] = ((*s * 2685821657736338717ull) >> 11) * (1.0 / 9007199254740992.0);
  }
  return sqrt(-2 * log(u[0] + 1e-300)) * cos(2 * M_PI * u[1]);
}

static void random_unit(float *v, uint64_t *s) {
  for (int i = 0; i < DIM; i++) v[i] = (float)gauss(s);
  fk_l2_normalize(v, DIM);
}

typedef struct result { double median, p90; } result;

static result run(const fk_vecs *v, const float *queries, int nq, int codes, int k, pthreadpool_t pool,
                  int64_t *rows_out) {
  double *ms = malloc((size_t)nq * sizeof *ms);
  fk_hit *hits = malloc((size_t)k * sizeof *hits);
  fk_scan s;
  int n;
  for (int w = 0; w < 3; w++) { /* warm-up: page the matrix in */
    fk_scan_init(&s, v, queries, FK_METRIC_COSINE, codes, k, -1);
    fk_scan_run(&s, pool, hits, &n);
  }
  for (int q = 0; q < nq; q++) {
    fk_scan_init(&s, v, queries + (size_t)q * DIM, FK_METRIC_COSINE, codes, k, -1);
    double t = fk_now_ms();
    fk_scan_run(&s, pool, hits, &n);
    ms[q] = fk_now_ms() - t;
    for (int i = 0; rows_out && i < k; i++) rows_out[(size_t)q * k + i] = i < n ? hits[i].row : -1;
  }
  qsort(ms, (size_t)nq, sizeof *ms, cmp_double);
  result r = {ms[nq / 2], ms[(nq * 9) / 10]};
  free(ms);
  free(hits);
  return r;
}

int main(int argc, char **argv) {
  int64_t n = argc > 1 ? atoll(argv[1]) : 1000000;
  int nq = argc > 2 ? atoi(argv[2]) : 50, k = argc > 3 ? atoi(argv[3]) : 10;
  if (argc > 4) DIM = atoi(argv[4]);
  if (n < 1 || nq < 1 || k < 1 || DIM < 1 || DIM > FK_EMBED_MAX) {
    fprintf(stderr, "usage: bench_search [N] [queries] [k] [dim]\n");
    return 2;
  }
  long rss0 = status_kb("VmRSS");
  fk_vecs v;
  if (fk_vecs_alloc(&v, n, DIM)) {
    fprintf(stderr, "bench_search: no memory for %lld vectors\n", (long long)n);
    return 1;
  }
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  double t0 = fk_now_ms();
  for (int64_t i = 0; i < n; i++) {
    random_unit(v.f32 + i * DIM, &seed);
    fk_quantize_i8(v.f32 + i * DIM, v.i8 + i * DIM, DIM);
    fk_vecs_code_norm(&v, i);
    v.norm[i] = 1;
    v.face_id[i] = v.image_id[i] = i;
    v.identity[i] = -1;
  }
  double build_ms = fk_now_ms() - t0;
  /* Queries: half random, half near a stored vector (a realistic hit). */
  float *queries = malloc((size_t)nq * DIM * sizeof *queries);
  for (int q = 0; q < nq; q++) {
    float *x = queries + (size_t)q * DIM;
    random_unit(x, &seed);
    if (q % 2) {
      const float *row = v.f32 + (int64_t)(seed % (uint64_t)n) * DIM;
      for (int i = 0; i < DIM; i++) x[i] = row[i] + 0.05f * x[i];
      fk_l2_normalize(x, DIM);
    }
  }
  long rss1 = status_kb("VmRSS");
  int64_t *ref = malloc((size_t)nq * k * sizeof *ref), *got = malloc((size_t)nq * k * sizeof *got);
  pthreadpool_t pool = pthreadpool_create(2);
  result f1 = run(&v, queries, nq, FK_CODES_F32, k, NULL, ref);
  result f2 = run(&v, queries, nq, FK_CODES_F32, k, pool, NULL);
  result i1 = run(&v, queries, nq, FK_CODES_INT8, k, NULL, got);
  result i2 = run(&v, queries, nq, FK_CODES_INT8, k, pool, NULL);
  int64_t found = 0;
  for (int q = 0; q < nq; q++)
    for (int i = 0; i < k; i++)
      for (int j = 0; j < k; j++) found += got[(size_t)q * k + i] == ref[(size_t)q * k + j];
  printf("{\"n\":%lld,\"dim\":%d,\"queries\":%d,\"k\":%d,\"kernels\":\"%s\",\n"
         " \"f32_ms\":{\"1_thread\":%.2f,\"2_threads\":%.2f,\"1_thread_p90\":%.2f,\"2_threads_p90\":%.2f},\n"
         " \"int8_ms\":{\"1_thread\":%.2f,\"2_threads\":%.2f,\"1_thread_p90\":%.2f,\"2_threads_p90\":%.2f},\n"
         " \"int8_recall_at_k\":%.4f,\n"
         " \"memory_mb\":{\"f32_matrix\":%.1f,\"int8_matrix\":%.1f,\"ids_norms_flags\":%.1f,\"block_total\":%.1f,"
         "\"rss_delta\":%.1f,\"peak_rss\":%.1f},\n"
         " \"build_ms\":%.0f}\n",
         (long long)n, DIM, nq, k, fk_dot_simd() ? "avx2" : "plain C", f1.median, f2.median, f1.p90, f2.p90,
         i1.median, i2.median, i1.p90, i2.p90, (double)found / ((double)nq * k), n * DIM * 4 / 1048576.0,
         n * DIM / 1048576.0, n * 29 / 1048576.0, v.size / 1048576.0, (rss1 - rss0) / 1024.0,
         status_kb("VmHWM") / 1024.0, build_ms);
  pthreadpool_destroy(pool);
  free(ref);
  free(got);
  free(queries);
  fk_vecs_free(&v);
  return 0;
}
