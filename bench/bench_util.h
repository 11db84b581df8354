/*
 * bench_util.h - the timing helpers the benches share, all static inline
 * (each bench is a single-file program): a monotonic clock in ms, a double
 * comparator for qsort, the median of a set of timings, the timed
 * forward-pass loop of the net benches, and the process's memory.
 */
#ifndef FK_BENCH_UTIL_H
#define FK_BENCH_UTIL_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nn/nn.h"

/* Milliseconds on CLOCK_MONOTONIC: only differences mean anything. */
static inline double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

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
 * the median ms and stores the fastest run's in *min (both -1 when out of
 * memory). */
static inline double time_runs(nn_runtime *rt, int warmup, int runs,
                               double *min) {
  double *t = malloc((size_t)runs * sizeof *t);
  *min = -1;
  if (!t) return -1;
  for (int i = 0; i < warmup; i++) nn_runtime_run(rt);
  for (int i = 0; i < runs; i++) {
    double t0 = now_ms();
    nn_runtime_run(rt);
    t[i] = now_ms() - t0;
  }
  double med = median_of(t, (size_t)runs);
  *min = t[0];
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

#endif /* FK_BENCH_UTIL_H */
