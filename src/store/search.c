/*
 * search.c - the read side of the face index: k-NN over the loaded vectors
 * (fk_store_search: vecs.c's exact scan, or ann_cache.c's graph for large
 * indexes or when asked), and the lookups that
 * turn a face id into its image, box, landmarks and identity
 * (fk_store_get_face, fk_store_foreach_face for exports).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

#define FACE_COLUMNS                                                                        \
  "SELECT f.id, f.image_id, i.path, coalesce(d.name, ''), i.width, i.height, f.idx,"       \
  " f.central, f.x, f.y, f.w, f.h, f.score, f.landmarks, f.emb_f32, f.emb_i8, f.norm,"     \
  " f.model"                                                                                \
  " FROM faces f JOIN images i ON i.id = f.image_id"                                        \
  " LEFT JOIN identities d ON d.id = i.identity_id"

void fk_search_options_init(fk_search_options *o) {
  memset(o, 0, sizeof *o);
  o->k = 10;
  o->metric = FK_METRIC_COSINE;
  o->threshold = -1;
  o->codes = FK_CODES_F32;
  o->threads = 1;
  o->search = FK_SEARCH_AUTO;
}

int fk_store_search_method(fk_store *st, const fk_search_options *o) {
  if (o->search != FK_SEARCH_AUTO) return o->search;
  int64_t n = 0;
  int rc = fk_store_load(st, &n);
  return rc ? rc : n >= FK_ANN_AUTO_MIN ? FK_SEARCH_ANN : FK_SEARCH_EXACT;
}

int fk_store_search(fk_store *st, const float *embedding, int dim, const fk_search_options *o,
                    fk_match *out, int *n) {
  *n = 0;
  fk_search_options d;
  if (!o) fk_search_options_init(&d), o = &d;
  if (o->k < 1 || o->k > 1000000 || o->metric < FK_METRIC_COSINE || o->metric > FK_METRIC_EUCLIDEAN_L2 ||
      (o->codes != FK_CODES_F32 && o->codes != FK_CODES_INT8) || o->threads < 1 || o->threads > 256 ||
      o->search < FK_SEARCH_EXACT || o->search > FK_SEARCH_AUTO || o->ef < 0 || o->ef > 1000000)
    return fk_store_fail(st, FK_EINVAL, "bad search options (k %d, metric %d, codes %d, threads %d, search %d, ef %d)",
                         o->k, o->metric, o->codes, o->threads, o->search, o->ef);
  double ss = 0;
  for (int i = 0; embedding && i < dim && dim <= FK_EMBED_MAX; i++) ss += (double)embedding[i] * embedding[i];
  if (!(ss > 0 && ss < INFINITY))
    return fk_store_fail(st, FK_EINVAL, "the query embedding is empty, zero or not finite");
  int rc = fk_store_load(st, NULL);
  if (rc) return rc;
  if (st->vecs.n == 0) return FK_OK;
  if (dim != st->vecs.dim)
    return fk_store_fail(st, FK_EMISMATCH, "%s holds %d-d embeddings; the query has %d: use the model "
                         "the index was built with", st->path, st->vecs.dim, dim);
  fk_scan s;
  fk_scan_init(&s, &st->vecs, embedding, o->metric, o->codes, o->k, o->threshold);
  fk_hit *hits = malloc((size_t)o->k * sizeof *hits);
  if (!hits) return fk_store_fail(st, FK_ENOMEM, "out of memory");
  int cnt = 0;
  if (fk_store_search_method(st, o) == FK_SEARCH_ANN) {
    /* These set their own messages. */
    if ((rc = fk_store_load_ann(st, o->threads)) == FK_OK)
      rc = fk_store_ann_search(st, &s, o->ef > 0 ? o->ef : FK_ANN_EF_DEFAULT, hits, &cnt);
    if (rc) {
      free(hits);
      return rc;
    }
  } else {
    rc = fk_scan_run(&s, fk_store_pool(st, o->threads), hits, &cnt);
  }
  for (int i = 0; rc == FK_OK && i < cnt; i++) {
    out[i].face_id = st->vecs.face_id[hits[i].row];
    out[i].distance = fk_scan_distance(&s, &hits[i]);
    out[i].similarity = fk_scan_similarity(&s, &hits[i]);
  }
  free(hits);
  if (rc) return fk_store_fail(st, rc, "search: %s", fk_strerror(rc));
  *n = cnt;
  return FK_OK;
}

static void copy_blob(sqlite3_stmt *q, int col, void *dst, size_t size) {
  memset(dst, 0, size);
  if ((size_t)sqlite3_column_bytes(q, col) == size) memcpy(dst, sqlite3_column_blob(q, col), size);
}

static void read_face(sqlite3_stmt *q, fk_store_face *f) {
  f->id = sqlite3_column_int64(q, 0);
  f->image_id = sqlite3_column_int64(q, 1);
  snprintf(f->path, sizeof f->path, "%s", (const char *)sqlite3_column_text(q, 2));
  snprintf(f->identity, sizeof f->identity, "%s", (const char *)sqlite3_column_text(q, 3));
  f->image_width = sqlite3_column_int(q, 4);
  f->image_height = sqlite3_column_int(q, 5);
  f->index = sqlite3_column_int(q, 6);
  f->central = sqlite3_column_int(q, 7);
  f->box = (fk_box){(float)sqlite3_column_double(q, 8), (float)sqlite3_column_double(q, 9),
                    (float)sqlite3_column_double(q, 10), (float)sqlite3_column_double(q, 11)};
  f->score = (float)sqlite3_column_double(q, 12);
  copy_blob(q, 13, f->landmarks, sizeof f->landmarks);
  f->dim = sqlite3_column_bytes(q, 15);
  if (f->dim > FK_EMBED_MAX || sqlite3_column_bytes(q, 14) != f->dim * (int)sizeof(float)) f->dim = 0;
  copy_blob(q, 14, f->embedding, (size_t)f->dim * sizeof(float));
  copy_blob(q, 15, f->code, (size_t)f->dim);
  f->norm = (float)sqlite3_column_double(q, 16);
  snprintf(f->model, sizeof f->model, "%s", (const char *)sqlite3_column_text(q, 17));
}

int fk_store_get_face(fk_store *st, int64_t face_id, fk_store_face *out) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, FACE_COLUMNS " WHERE f.id = ?", &q);
  if (rc) return rc;
  sqlite3_bind_int64(q, 1, face_id);
  int step = sqlite3_step(q);
  if (step == SQLITE_ROW) read_face(q, out);
  else if (step == SQLITE_DONE) rc = fk_store_fail(st, FK_ENOENT, "%s: no face %lld", st->path, (long long)face_id);
  else rc = fk_store_sqlfail(st, "reading a face");
  sqlite3_finalize(q);
  return rc;
}

int fk_store_foreach_face(fk_store *st, int (*fn)(const fk_store_face *f, void *user), void *user) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, FACE_COLUMNS " ORDER BY f.id", &q);
  if (rc) return rc;
  fk_store_face *f = malloc(sizeof *f);
  if (!f) rc = fk_store_fail(st, FK_ENOMEM, "out of memory");
  int step = SQLITE_DONE;
  while (rc == FK_OK && (step = sqlite3_step(q)) == SQLITE_ROW) {
    read_face(q, f);
    rc = fn(f, user);
  }
  if (rc == FK_OK && step != SQLITE_DONE) rc = fk_store_sqlfail(st, "reading faces");
  free(f);
  sqlite3_finalize(q);
  return rc;
}
