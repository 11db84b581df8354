/*
 * bench_analyze.c - the attribute heads per face, and a memory soak.
 *
 * Usage: bench_analyze [--runs N] [--soak N] [IMAGE]
 *   (models from $FACEKIT_MODELS, else ./models; IMAGE defaults to
 *   tests/fixtures/face_a1.png)
 *
 * Heads: median ms per face of fk_analyze() with one head at a time (crop,
 * resample, normalize, forward pass, decode), on 1 and 2 threads, after 5
 * warm-up calls. The tfjs-wasm reference times per face are 27.6 ms
 * (face-api age/gender), 8.5 ms (expression) and 104 ms (gear).
 *
 * Soak: fk_detect + fk_analyze(all actions) on the image N times in one
 * process, printing the resident set size every N/10 iterations; after
 * warm-up it must stay flat.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "facekit.h"

static long rss_kb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long pages = 0, resident = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
  }
  return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static int fail(const char *what, const char *msg) {
  fprintf(stderr, "bench_analyze: %s: %s\n", what, msg);
  return 1;
}

static int heads(const fk_models *m, const fk_image *img, int runs) {
  static const struct { const char *name; unsigned actions; int model; double ref_ms; } h[] = {
      {"face-api age/gender", FK_ACTION_AGE | FK_ACTION_GENDER, FK_ATTR_MODEL_FACEAPI, 27.6},
      {"face-api expression", FK_ACTION_EMOTION, FK_ATTR_MODEL_FACEAPI, 8.5},
      {"gear (race/age/gender)", FK_ACTION_ALL & ~FK_ACTION_EMOTION, FK_ATTR_MODEL_GEAR, 104},
  };
  double *t = malloc((size_t)runs * sizeof *t);
  if (!t) return fail("heads", "out of memory");
  for (int threads = 1; threads <= 2; threads++)
    for (size_t k = 0; k < sizeof h / sizeof *h; k++) {
      fk_options o;
      fk_options_init(&o);
      o.threads = threads;
      o.attribute_model = h[k].model;
      fk_session *s = NULL;
      fk_face face;
      int n = 0;
      if (fk_session_new(m, &o, &s) || fk_detect(s, img, &face, 1, &n) || n < 1) {
        fk_session_free(s);
        free(t);
        return fail(h[k].name, n < 1 ? "no face in the image" : fk_session_errmsg(s));
      }
      fk_attributes a;
      for (int i = 0; i < 5; i++) fk_analyze(s, img, &face, h[k].actions, &a);
      for (int i = 0; i < runs; i++) {
        double t0 = fk_now_ms();
        fk_analyze(s, img, &face, h[k].actions, &a);
        t[i] = fk_now_ms() - t0;
      }
      double med = median_of(t, (size_t)runs);
      printf("%-24s %d thread%s  median %7.3f ms  (min %7.3f)  %5.1fx tfjs-wasm's %.1f ms\n",
             h[k].name, threads, threads > 1 ? "s" : " ", med, t[0], h[k].ref_ms / med, h[k].ref_ms);
      fk_session_free(s);
    }
  free(t);
  return 0;
}

static int soak(const fk_models *m, const fk_image *img, int iters) {
  fk_session *s = NULL;
  if (fk_session_new(m, NULL, &s)) {
    fk_session_free(s);
    return fail("soak", "cannot create a session");
  }
  fk_face faces[8];
  fk_attributes a;
  long first = 0, warm = 0, last = 0, peak = 0;
  int step = iters >= 10 ? iters / 10 : 1;
  double t0 = fk_now_ms();
  printf("soak: detect + analyze (all actions) x %d\n", iters);
  for (int i = 1; i <= iters; i++) {
    int n = 0;
    int rc = fk_detect(s, img, faces, 8, &n);
    for (int k = 0; rc == FK_OK && k < n && k < 8; k++) rc = fk_analyze(s, img, &faces[k], FK_ACTION_ALL, &a);
    if (rc) {
      fail("soak", fk_session_errmsg(s));
      fk_session_free(s);
      return 1;
    }
    long r = rss_kb();
    if (r > peak) peak = r;
    if (i == 1) first = r;
    if (i == step) warm = r;
    if (i % step == 0) printf("  iteration %6d  rss %7ld kB\n", i, r);
    last = r;
  }
  printf("soak: rss after 1: %ld kB, after warm-up (%d): %ld kB, at end: %ld kB, peak %ld kB; "
         "growth after warm-up %+ld kB over %d iterations (%.1f s)\n",
         first, step, warm, last, peak, last - warm, iters - step, (fk_now_ms() - t0) / 1000);
  fk_session_free(s);
  return 0;
}

int main(int argc, char **argv) {
  int runs = 100, soak_iters = 0;
  const char *path = "tests/fixtures/face_a1.png";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--soak") && i + 1 < argc) soak_iters = atoi(argv[++i]);
    else if (argv[i][0] != '-') path = argv[i];
    else {
      fprintf(stderr, "usage: bench_analyze [--runs N] [--soak N] [IMAGE]\n");
      return 2;
    }
  }
  if (runs < 1) runs = 1;
  fk_image img = {0};
  int rc = fk_image_load(path, 0, &img);
  if (rc) return fail(path, fk_strerror(rc));
  fk_models *m = NULL;
  if (fk_models_open(NULL, FK_NET_SSD | FK_NET_LANDMARKS | FK_NET_ATTRIBUTES, &m)) {
    rc = fail("models", fk_models_errmsg(m));
  } else {
    rc = soak_iters > 0 ? soak(m, &img, soak_iters) : heads(m, &img, runs);
  }
  fk_models_free(m);
  fk_image_free(&img);
  return rc;
}
