/*
 * testutil.h - a tiny test harness shared by tests/test_*.c: CHECK macros
 * that count failures, fixture lookup, and the closing summary line.
 * Each test program prints "N passed, N failed" and exits non-zero on failure.
 */
#ifndef FK_TESTUTIL_H
#define FK_TESTUTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int tu_pass, tu_fail;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (cond) {                                                            \
      tu_pass++;                                                           \
    } else {                                                               \
      tu_fail++;                                                           \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                      \
  } while (0)

#define CHECK_EQ_INT(a, b)                                                 \
  do {                                                                     \
    long long tu_a = (long long)(a), tu_b = (long long)(b);                \
    if (tu_a == tu_b) {                                                    \
      tu_pass++;                                                           \
    } else {                                                               \
      tu_fail++;                                                           \
      fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__,   \
              __LINE__, #a, #b, tu_a, tu_b);                               \
    }                                                                      \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                              \
  do {                                                                     \
    double tu_a = (double)(a), tu_b = (double)(b);                         \
    if (fabs(tu_a - tu_b) <= (tol)) {                                      \
      tu_pass++;                                                           \
    } else {                                                               \
      tu_fail++;                                                           \
      fprintf(stderr, "%s:%d: |%s - %s| <= %g failed: %.9g vs %.9g\n",      \
              __FILE__, __LINE__, #a, #b, (double)(tol), tu_a, tu_b);      \
    }                                                                      \
  } while (0)

/* Seconds on the monotonic clock. */
static inline double tu_now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void tu_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits for a condition instead of sleeping a fixed time: evaluates cond
 * every 10 ms until it holds or timeout_s seconds have passed, and CHECKs
 * that it held, saying what was awaited (msg) when it did not. A bound
 * that only a stuck program reaches, never a guess at how long it takes. */
#define tu_wait_until(cond, timeout_s, msg)                                \
  do {                                                                     \
    double tu_w0 = tu_now_s();                                             \
    int tu_ok;                                                             \
    while (!(tu_ok = !!(cond)) && tu_now_s() - tu_w0 < (timeout_s)) tu_sleep_ms(10); \
    if (tu_ok) {                                                           \
      tu_pass++;                                                           \
    } else {                                                               \
      tu_fail++;                                                           \
      fprintf(stderr, "%s:%d: waited %g s in vain for %s (%s)\n", __FILE__, \
              __LINE__, (double)(timeout_s), msg, #cond);                  \
    }                                                                      \
  } while (0)

/* Runs one test function, named after the behaviour it checks. */
#define RUN(fn)                                                            \
  do {                                                                     \
    int tu_before = tu_fail;                                               \
    fn();                                                                  \
    fprintf(stderr, "%s %s\n", tu_fail == tu_before ? "ok  " : "FAIL", #fn); \
  } while (0)

/* Path of a committed fixture: $FK_FIXTURES/name (tests/fixtures). */
static inline const char *tu_fixture(const char *name) {
  static char buf[4096];
  const char *dir = getenv("FK_FIXTURES");
  snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "tests/fixtures", name);
  return buf;
}

/* A scratch path under $TMPDIR, unique to this process. */
static inline const char *tu_tmp(const char *name) {
  static char buf[4096];
  const char *dir = getenv("TMPDIR");
  snprintf(buf, sizeof buf, "%s/fk-test-%d-%s", dir ? dir : "/tmp", (int)getpid(), name);
  return buf;
}

/* Writes n bytes of data to path, replacing it. */
static inline void tu_write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return;
  if (n) fwrite(data, 1, n, f);
  fclose(f);
}

static inline void tu_write_text(const char *path, const char *s) { tu_write_file(path, s, strlen(s)); }

/* Removes an index file and what lives beside it: WAL, shared memory, the
 * vector sidecar and the ANN graph. */
static inline void tu_remove_index(const char *path) {
  static const char *const sfx[] = {"", "-wal", "-shm", ".vec", ".faiss"};
  char p[4200];
  for (size_t i = 0; i < sizeof sfx / sizeof *sfx; i++) {
    snprintf(p, sizeof p, "%s%s", path, sfx[i]);
    remove(p);
  }
}

static inline int tu_summary(void) {
  printf("%d passed, %d failed\n", tu_pass, tu_fail);
  return tu_fail ? 1 : 0;
}

#endif /* FK_TESTUTIL_H */
