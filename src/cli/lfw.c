/*
 * lfw.c - what the per-image benchmarks (`eval lfw`, `eval gender`) share:
 * finding the subject of a photo, and a loop over images on worker threads,
 * with their own sessions, and a progress bar on a TTY.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "cli/cli.h"

#define MAX_FACES 16

/* The best-scoring face whose centre lies within a fifth of the image side
 * of the image centre (faces come sorted by score), or -1. */
static int centred(const fk_face *f, int n, const fk_image *img) {
  double r = 0.2 * (img->width > img->height ? img->width : img->height);
  for (int i = 0; i < n; i++) {
    double dx = f[i].box.x + f[i].box.w / 2 - img->width / 2.0;
    double dy = f[i].box.y + f[i].box.h / 2 - img->height / 2.0;
    if (dx * dx + dy * dy <= r * r) return i;
  }
  return -1;
}

int cli_lfw_subject(fk_session *s, fk_session *low, const fk_image *img, fk_face *out,
                    int *no_face) {
  fk_face faces[MAX_FACES];
  int have_fallback = 0;
  fk_session *tries[2] = {s, low};
  *no_face = 0;
  for (int t = 0; t < 2; t++) {
    int n = 0;
    if (fk_detect(tries[t], img, faces, MAX_FACES, &n) != FK_OK) continue;
    if (n > MAX_FACES) n = MAX_FACES;
    if (t == 0) *no_face = n == 0;
    int i = centred(faces, n, img);
    if (i >= 0) {
      *out = faces[i];
      return t;
    }
    if (n && !have_fallback) {
      *out = faces[fk_central_face(faces, n, img->width, img->height)];
      have_fallback = 1;
    }
  }
  return have_fallback ? 2 : -1;
}

#define MAX_SESSIONS 4

typedef struct loop {
  const fk_models *m;
  const fk_options *opts;
  int nopts, n;
  void (*fn)(void *user, fk_session **s, int i);
  void *user;
  atomic_int next, done, failed;
  int tty;
  double t0;
  pthread_mutex_t progress;
} loop;

static void show_progress(loop *l, int done) {
  if (!l->tty) return;
  pthread_mutex_lock(&l->progress);
  double el = (cli_now_ms() - l->t0) / 1000.0, rate = done / (el > 0 ? el : 1);
  double eta = rate > 0 ? (l->n - done) / rate : 0;
  int w = 30, fill = (int)((double)done / l->n * w);
  fprintf(stderr, "\r[%.*s%*s] %d/%d images  %.1f img/s  ETA %dm%02ds ", fill,
          "##############################", w - fill, "", done, l->n, rate, (int)eta / 60,
          (int)eta % 60);
  if (done == l->n) fputc('\n', stderr);
  pthread_mutex_unlock(&l->progress);
}

static void *worker(void *arg) {
  loop *l = arg;
  fk_session *s[MAX_SESSIONS] = {0};
  int rc = FK_OK, k;
  for (k = 0; k < l->nopts && rc == FK_OK; k++) {
    fk_options o = l->opts[k];
    o.threads = 1;
    rc = fk_session_new(l->m, &o, &s[k]);
  }
  if (rc == FK_OK) {
    int i;
    while ((i = atomic_fetch_add(&l->next, 1)) < l->n) {
      l->fn(l->user, s, i);
      int d = atomic_fetch_add(&l->done, 1) + 1;
      if (d % 25 == 0 || d == l->n) show_progress(l, d);
    }
  } else {
    fprintf(stderr, "facekit: %s\n", fk_session_errmsg(s[k - 1]));
    atomic_store(&l->failed, 1);
  }
  for (k = 0; k < l->nopts; k++) fk_session_free(s[k]);
  return NULL;
}

int cli_for_each_image(const fk_models *m, const fk_options *opts, int nopts, int n, int jobs,
                       void (*fn)(void *user, fk_session **s, int i), void *user) {
  if (nopts < 1 || nopts > MAX_SESSIONS) return -1;
  loop l = {.m = m, .opts = opts, .nopts = nopts, .n = n, .fn = fn, .user = user,
            .tty = isatty(2), .t0 = cli_now_ms()};
  pthread_mutex_init(&l.progress, NULL);
  pthread_t th[256];
  int started = 0;
  if (jobs > 256) jobs = 256;
  for (int j = 0; j < jobs; j++)
    if (pthread_create(&th[started], NULL, worker, &l) == 0) started++;
  for (int j = 0; j < started; j++) pthread_join(th[j], NULL);
  pthread_mutex_destroy(&l.progress);
  return started && !atomic_load(&l.failed) && atomic_load(&l.done) == n ? 0 : -1;
}

void cli_lfw_sessions(const fk_options *opt, fk_options out[2]) {
  out[0] = out[1] = *opt;
  out[1].min_score = 0.05f;
}
