/*
 * bench_pg_write.c - the write path of an index run on PostgreSQL alone,
 * without reading or embedding: N images of F faces each (copies of one
 * real face) put with the writer (fk_writer_put, as index.c does, one
 * identity per two images) in write transactions of B images, each image's
 * claim released as a run's is; prints the writer's seconds and images and
 * faces per second.
 *
 *   bench_pg_write URI [N] [F] [B] [IMAGE]   (an empty or facekit database;
 *                                            N 2000, F 1, B 64, IMAGE the
 *                                            tests' face_a1.png)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "facekit.h"
#include "store/store.h"

/* The N images in transactions of B; FK_OK or the first failure. */
static int write_all(fk_store *st, fk_entry *e, int n, int batch) {
  fk_writer w;
  int rc = fk_writer_init(&w, st);
  char path[64], name[32];
  char *orig = e->path;
  for (int i = 0; rc == FK_OK && i < n; i += batch) {
    rc = st->ops->begin(st, FK_TXN_WRITE);
    for (int k = i; rc == FK_OK && k < i + batch && k < n; k++) {
      int64_t ident, image_id;
      snprintf(path, sizeof path, "bench/%d/%d.png", (int)getpid(), k);
      snprintf(name, sizeof name, "person_%d", k / 2);
      snprintf(e->hash, sizeof e->hash, "%064d", k);
      e->path = path;
      rc = st->ops->release(st, "bench", path);
      if (rc == FK_OK) rc = fk_writer_identity(&w, name, strlen(name), &ident);
      if (rc == FK_OK) rc = fk_writer_put(&w, e, ident, e->model, &image_id);
    }
    if (rc == FK_OK && (rc = fk_store_bump_generation(st)) == FK_OK) rc = st->ops->commit(st);
    else st->ops->rollback(st);
  }
  e->path = orig;
  fk_writer_free(&w);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: bench_pg_write URI [N] [F] [B] [IMAGE]\n");
    return 2;
  }
  int n = argc > 2 ? atoi(argv[2]) : 2000, f = argc > 3 ? atoi(argv[3]) : 1, batch = argc > 4 ? atoi(argv[4]) : 64;
  const char *img = argc > 5 ? argv[5] : "tests/fixtures/face_a1.png";
  if (n < 1 || f < 1 || f > 100 || batch < 1) {
    fprintf(stderr, "N and B must be >= 1, F in [1, 100]\n");
    return 2;
  }
  fk_models *m;
  fk_session *sess;
  fk_entry *e;
  if (bench_face_entry(img, &m, &sess, &e)) return 1;
  if (e->nfaces < 1) {
    fprintf(stderr, "%s: no face\n", img);
    return 1;
  }
  fk_face *faces = malloc((size_t)f * sizeof *faces);
  for (int i = 0; i < f; i++) faces[i] = e->faces[0];
  free(e->faces);
  e->faces = faces, e->nfaces = f, e->central = 0;
  /* the first add records the model, as an index run's first image does */
  fk_store *st;
  if (fk_store_open(argv[1], FK_STORE_WRITE, &st) || fk_store_add_entry(st, e, "bench", NULL, 0, NULL)) {
    fprintf(stderr, "%s\n", fk_store_errmsg(st));
    return 1;
  }
  double t0 = fk_now_ms();
  int rc = write_all(st, e, n, batch);
  double dt = (fk_now_ms() - t0) / 1e3;
  if (rc) fprintf(stderr, "%s\n", fk_store_errmsg(st));
  else
    printf("{\"images\":%d,\"faces_per_image\":%d,\"batch\":%d,\"seconds\":%.3f,\"images_per_s\":%.0f,"
           "\"faces_per_s\":%.0f}\n", n, f, batch, dt, n / dt, (double)n * f / dt);
  fk_store_close(st);
  fk_entry_free(e);
  fk_session_free(sess);
  fk_models_free(m);
  return rc ? 1 : 0;
}
