/*
 * clock.c - CLOCK_MONOTONIC and CLOCK_THREAD_CPUTIME_ID (clock.h).
 */
#include "base/clock.h"

#include <time.h>

static double seconds(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

double fk_now_s(void) { return seconds(CLOCK_MONOTONIC); }
double fk_now_ms(void) { return seconds(CLOCK_MONOTONIC) * 1e3; }
double fk_thread_cpu_ms(void) { return seconds(CLOCK_THREAD_CPUTIME_ID) * 1e3; }
