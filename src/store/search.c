/*
 * search.c - the read side of the face index: k-NN over the loaded vectors
 * (fk_store_search: vectors.c's search, the exact scan or, for a large
 * index or when asked, ann_cache.c's graph), and the lookups that turn a
 * face id into its image, box, landmarks and identity
 * (fk_store_get_face, fk_store_foreach_face for exports), and listings;
 * the queries here are the SQLite backend's (pg.c has PostgreSQL's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "image/compose.h"
#include "store/store.h"

void fk_search_options_init(fk_search_options *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->k = 10;
  o->metric = FK_METRIC_COSINE;
  o->threshold = -1;
  o->codes = FK_CODES_F32;
  o->threads = 1;
  o->search = FK_SEARCH_AUTO;
}

int fk_store_search_method(fk_store *st, const fk_search_options *o) {
  fk_search_options d;
  if (FK_ABI_IMPORT(fk_search_options_init, &d, o))
    return fk_store_fail(st, FK_EINVAL, "search options not filled by fk_search_options_init");
  o = &d;
  if (o->search < FK_SEARCH_EXACT || o->search > FK_SEARCH_AUTO)
    return fk_store_fail(st, FK_EINVAL, "bad search options (search %d)", o->search);
  int64_t n = 0;
  int rc = fk_store_load(st, &n); /* refreshes the vectors */
  if (rc) return rc;
#ifndef FK_WITH_FAISS
  if (o->search == FK_SEARCH_AUTO) return FK_SEARCH_EXACT; /* no graph to walk in this build */
#endif
  return o->search != FK_SEARCH_AUTO ? o->search : n >= FK_ANN_AUTO_MIN ? FK_SEARCH_ANN : FK_SEARCH_EXACT;
}

int fk_store_search(fk_store *st, const float *embedding, int dim, const fk_search_options *o,
                    fk_match *out, int *n) {
  *n = 0;
  int method = fk_store_search_method(st, o);
  if (method < 0) return method;
  /* An ANN search needs the graph, which only the store's thread may load. */
  fk_search_options d;
  FK_ABI_IMPORT(fk_search_options_init, &d, o); /* checked by fk_store_search_method */
  if (method == FK_SEARCH_ANN && (method = fk_store_load_ann(st, d.threads))) return method;
  /* Searched as fk_vectors_search decides: the same method now. */
  char err[512];
  int rc = fk_vectors_search(&st->vs, embedding, dim, o, out, n, err, sizeof err);
  return rc ? fk_store_fail(st, rc, "%s: %s", st->path, err) : FK_OK;
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

int fk_sq_get_face(fk_store *st, int64_t face_id, fk_store_face *out) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, FK_FACE_COLUMNS " WHERE f.id = ?", &q);
  if (rc) return rc;
  sqlite3_bind_int64(q, 1, face_id);
  int step = sqlite3_step(q);
  if (step == SQLITE_ROW) read_face(q, out);
  else if (step == SQLITE_DONE) rc = fk_store_fail(st, FK_ENOENT, "%s: no face %lld", st->path, (long long)face_id);
  else rc = fk_store_sqlfail(st, "reading a face");
  sqlite3_finalize(q);
  return rc;
}

int fk_sq_foreach_face(fk_store *st, int (*fn)(const fk_store_face *f, void *user), void *user) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, FK_FACE_COLUMNS " ORDER BY f.id", &q);
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

int fk_store_get_face(fk_store *st, int64_t face_id, fk_store_face *out) {
  return st->ops->get_face(st, face_id, out);
}

int fk_store_foreach_face(fk_store *st, int (*fn)(const fk_store_face *f, void *user), void *user) {
  return st->ops->foreach_face(st, fn, user);
}

/* ---- listing ---------------------------------------------------------------- */

static int check_page(fk_store *st, int64_t offset, int limit) {
  if (offset < 0 || limit < 1 || limit > 100000)
    return fk_store_fail(st, FK_EINVAL, "bad page (offset %lld, limit %d)", (long long)offset, limit);
  return FK_OK;
}

static int count_of(fk_store *st, sqlite3_stmt *q, int64_t *total) {
  int rc = sqlite3_step(q) == SQLITE_ROW ? FK_OK : fk_store_sqlfail(st, "counting");
  if (rc == FK_OK && total) *total = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return rc;
}

/* Ends the read transaction of a page and its total (one snapshot). */
static int end_read(fk_store *st, int rc) {
  if (rc) {
    st->ops->rollback(st);
    return rc;
  }
  return st->ops->commit(st);
}

int fk_sq_list_identities(fk_store *st, int64_t offset, int limit, fk_identity_info *out, int *n,
                           int64_t *total) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, "SELECT count(*) FROM identities", &q);
  if (rc || (rc = count_of(st, q, total))) return rc;
  if ((rc = fk_store_prepare(st,
                             /* the page first (name's index), then the counts of its rows only */
                             "SELECT d.id, d.name, (SELECT count(*) FROM images WHERE identity_id = d.id),"
                             " (SELECT count(*) FROM faces f JOIN images i ON i.id = f.image_id"
                             " WHERE i.identity_id = d.id) FROM identities d ORDER BY d.name LIMIT ? OFFSET ?", &q)))
    return rc;
  sqlite3_bind_int(q, 1, limit);
  sqlite3_bind_int64(q, 2, offset);
  int step;
  while ((step = sqlite3_step(q)) == SQLITE_ROW && *n < limit) {
    fk_identity_info *d = &out[(*n)++];
    d->id = sqlite3_column_int64(q, 0);
    snprintf(d->name, sizeof d->name, "%s", (const char *)sqlite3_column_text(q, 1));
    d->images = sqlite3_column_int64(q, 2);
    d->faces = sqlite3_column_int64(q, 3);
  }
  if (step != SQLITE_DONE && step != SQLITE_ROW) rc = fk_store_sqlfail(st, "listing identities");
  sqlite3_finalize(q);
  return rc;
}

int fk_store_list_identities(fk_store *st, int64_t offset, int limit, fk_identity_info *out, int *n,
                             int64_t *total) {
  *n = 0;
  int rc = check_page(st, offset, limit);
  if (rc || (rc = st->ops->begin(st, FK_TXN_READ))) return rc;
  rc = st->ops->list_identities(st, offset, limit, out, n, total);
  return end_read(st, rc);
}

int fk_sq_identity_faces(fk_store *st, const char *identity, int64_t offset, int limit, fk_store_face *out,
                          int *n, int64_t *total) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, "SELECT id FROM identities WHERE name = ?", &q);
  if (rc) return rc;
  sqlite3_bind_text(q, 1, identity, -1, SQLITE_STATIC);
  int step = sqlite3_step(q);
  int64_t id = step == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
  sqlite3_finalize(q);
  if (step == SQLITE_DONE) return fk_store_fail(st, FK_ENOENT, "no identity '%s' in the index", identity);
  if (step != SQLITE_ROW) return fk_store_sqlfail(st, "reading an identity");
  if ((rc = fk_store_prepare(st, "SELECT count(*) FROM faces f JOIN images i ON i.id = f.image_id"
                                 " WHERE i.identity_id = ?", &q)))
    return rc;
  sqlite3_bind_int64(q, 1, id);
  if ((rc = count_of(st, q, total))) return rc;
  if ((rc = fk_store_prepare(st, FK_FACE_COLUMNS " WHERE i.identity_id = ? ORDER BY f.id LIMIT ? OFFSET ?", &q)))
    return rc;
  sqlite3_bind_int64(q, 1, id);
  sqlite3_bind_int(q, 2, limit);
  sqlite3_bind_int64(q, 3, offset);
  while ((step = sqlite3_step(q)) == SQLITE_ROW && *n < limit) read_face(q, &out[(*n)++]);
  if (step != SQLITE_DONE && step != SQLITE_ROW) rc = fk_store_sqlfail(st, "listing faces");
  sqlite3_finalize(q);
  return rc;
}

int fk_store_identity_faces(fk_store *st, const char *identity, int64_t offset, int limit, fk_store_face *out,
                            int *n, int64_t *total) {
  *n = 0;
  if (!identity) return fk_store_fail(st, FK_EINVAL, "fk_store_identity_faces: no name");
  int rc = check_page(st, offset, limit);
  if (rc || (rc = st->ops->begin(st, FK_TXN_READ))) return rc;
  rc = st->ops->identity_faces(st, identity, offset, limit, out, n, total);
  return end_read(st, rc);
}

/* ---- crops ------------------------------------------------------------------- */

int fk_store_path_below(const char *root, const char *path, char *out, size_t size) {
  int n = root && path[0] != '/' ? snprintf(out, size, "%s/%s", root, path) : snprintf(out, size, "%s", path);
  return n < 0 || (size_t)n >= size ? FK_ETOOBIG : FK_OK;
}

int fk_store_face_crop(const fk_store_face *f, int size, size_t max_pixels, fk_image *out) {
  memset(out, 0, sizeof *out);
  if (!f || size < 16 || size > 1024) return FK_EINVAL;
  fk_image img;
  int rc = fk_image_load(f->path, max_pixels, &img);
  if (rc) return rc;
  /* Another picture at the same path: the box would frame nothing. */
  if ((f->image_width || f->image_height) && (img.width != f->image_width || img.height != f->image_height))
    rc = FK_EMISMATCH;
  else
    rc = fk_face_thumbnail(&img, f->box, 0.25f, size, out);
  fk_image_free(&img);
  return rc;
}
