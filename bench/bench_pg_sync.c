/*
 * bench_pg_sync.c - how soon a reader of a PostgreSQL index sees a face
 * that another connection commits: one thread adds an image under a new
 * path every 200 ms on its own fk_store (one transaction each), another
 * waits on its fk_store with fk_store_wait_change (LISTEN/NOTIFY) and
 * refreshes; prints the median and largest delay from the writer's commit
 * returning to the face being in the reader's vectors.
 *
 *   bench_pg_sync URI [IMAGE] [N]    (an existing, empty or facekit database;
 *                                     IMAGE has one face, default the
 *                                     tests' face_a1.png; N commits, 20)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "facekit.h"
#include "store/store.h"

typedef struct shared {
  const char *uri;
  fk_entry *e;
  int n;
  double *committed; /* when add_entry returned, per commit */
  int failed;
} shared;

static void *writer(void *arg) {
  shared *s = arg;
  fk_store *st;
  if (fk_store_open(s->uri, FK_STORE_WRITE, &st)) {
    fprintf(stderr, "writer: %s\n", fk_store_errmsg(st));
    s->failed = 1;
    fk_store_close(st);
    return NULL;
  }
  char *orig = s->e->path;
  for (int i = 0; i < s->n && !s->failed; i++) {
    usleep(200000);
    char path[4200];
    snprintf(path, sizeof path, "%s#sync-%d-%d", orig, (int)getpid(), i);
    s->e->path = path;
    int64_t ids[4];
    if (fk_store_add_entry(st, s->e, "sync", ids, 4, NULL)) {
      fprintf(stderr, "writer: %s\n", fk_store_errmsg(st));
      s->failed = 1;
    }
    s->committed[i] = fk_now_s();
  }
  s->e->path = orig;
  fk_store_close(st);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_pg_sync URI [IMAGE] [N]\n");
    return 2;
  }
  const char *img = argc > 2 ? argv[2] : "tests/fixtures/face_a1.png";
  int n = argc > 3 ? atoi(argv[3]) : 20;
  fk_models *m;
  fk_session *sess;
  fk_entry *e;
  if (bench_face_entry(img, &m, &sess, &e)) return 1;
  /* the first add records the model, so the reader opens a facekit index */
  fk_store *rd;
  shared s = {.uri = argv[1], .e = e, .n = n, .committed = calloc((size_t)n, sizeof(double))};
  if (fk_store_open(argv[1], FK_STORE_WRITE, &rd) || fk_store_add_entry(rd, e, "sync", NULL, 0, NULL)) {
    fprintf(stderr, "%s\n", fk_store_errmsg(rd));
    return 1;
  }
  fk_vectors *v;
  if (fk_store_vectors(rd, &v) || fk_store_wait_change(rd, 0) < 0) {
    fprintf(stderr, "%s\n", fk_store_errmsg(rd));
    return 1;
  }
  int64_t base = fk_vectors_count(v);
  double *seen = calloc((size_t)n, sizeof *seen);
  pthread_t th;
  pthread_create(&th, NULL, writer, &s);
  int got = 0;
  double t0 = fk_now_s();
  while (got < n && !s.failed && fk_now_s() - t0 < 30 + n) {
    int rc = fk_store_wait_change(rd, 1000);
    if (rc < 0 || (rc == 1 && fk_store_refresh(rd))) {
      fprintf(stderr, "reader: %s\n", fk_store_errmsg(rd));
      break;
    }
    int64_t c = fk_vectors_count(v) - base;
    for (double t = fk_now_s(); got < c && got < n; got++) seen[got] = t;
  }
  pthread_join(th, NULL);
  double *lag = calloc((size_t)n, sizeof *lag);
  for (int i = 0; i < got; i++) lag[i] = (seen[i] - s.committed[i]) * 1e3;
  qsort(lag, (size_t)got, sizeof *lag, cmp_double);
  printf("{\"commits\":%d,\"seen\":%d,\"lag_ms_median\":%.2f,\"lag_ms_max\":%.2f}\n", n, got,
         got ? lag[got / 2] : -1.0, got ? lag[got - 1] : -1.0);
  free(lag);
  free(seen);
  free(s.committed);
  fk_store_close(rd);
  fk_entry_free(e);
  fk_session_free(sess);
  fk_models_free(m);
  return got == n ? 0 : 1;
}
