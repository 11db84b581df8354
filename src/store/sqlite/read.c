/*
 * read.c - the SQLite backend's reads (fk_sqlite_ops): the vectors' rows
 * and tombstones for loading and catching up (vectors.c), faces and
 * listings (search.c), and retrieval's queries (retrieval.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sqlite/sqlite.h"

/* ---- the vectors ------------------------------------------------------- */

/* Copies one faces row into row r of v; FK_ECORRUPT on a malformed row. */
static int fill_row(sqlite3_stmt *q, fk_vecs *v, int64_t r) {
  const void *f = sqlite3_column_blob(q, 5), *c = sqlite3_column_blob(q, 6);
  const int dim = v->dim;
  if (sqlite3_column_bytes(q, 5) != dim * (int)sizeof(float) || sqlite3_column_bytes(q, 6) != dim)
    return FK_ECORRUPT;
  v->face_id[r] = sqlite3_column_int64(q, 0);
  v->image_id[r] = sqlite3_column_int64(q, 1);
  v->identity[r] = (int32_t)sqlite3_column_int64(q, 2);
  v->flags[r] = sqlite3_column_int(q, 3) ? FK_VEC_CENTRAL : 0;
  v->norm[r] = (float)sqlite3_column_double(q, 4);
  memcpy(v->f32 + r * dim, f, (size_t)dim * sizeof(float));
  memcpy(v->i8 + r * dim, c, (size_t)dim);
  fk_vecs_code_norm(v, r);
  return FK_OK;
}

/* The columns fill_row() reads, for the faces matching `where`. */
#define VEC_ROWS(where)                                                              \
  "SELECT f.id, f.image_id, coalesce(i.identity_id, -1), f.central, f.norm,"         \
  " f.emb_f32, f.emb_i8 FROM faces f JOIN images i ON i.id = f.image_id " where      \
  " ORDER BY f.id"

/* Reads the rows of q (with `n` rows at most) into a new block v of width
 * dim. */
static int read_rows(fk_store *st, sqlite3_stmt *q, int64_t n, int dim, fk_vecs *v) {
  int rc = fk_vecs_alloc(v, n, dim);
  if (rc) return fk_store_fail(st, rc, "no memory for %lld vectors of %d", (long long)n, dim);
  int64_t r = 0;
  int step;
  while ((step = sqlite3_step(q)) == SQLITE_ROW) {
    if (r == n || fill_row(q, v, r) != FK_OK) {
      rc = fk_store_fail(st, FK_ECORRUPT, "%s: faces row %lld is malformed", st->path,
                         (long long)sqlite3_column_int64(q, 0));
      break;
    }
    r++;
  }
  if (rc == FK_OK && step != SQLITE_DONE) rc = fk_store_sqlfail(st, "reading faces");
  if (rc == FK_OK && r != n) rc = fk_store_fail(st, FK_EDB, "%s: faces changed while reading", st->path);
  if (rc) fk_vecs_free(v);
  return rc;
}

static int count_rows(fk_store *st, const char *sql, int64_t seq, int64_t *n) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, sql, &q);
  if (rc) return rc;
  sqlite3_bind_int64(q, 1, seq);
  if (sqlite3_step(q) != SQLITE_ROW) rc = fk_store_sqlfail(st, "counting faces");
  *n = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return rc;
}

/* Every face when since < 0 (an index of format < 3 has no seq column).
 * An index without a model yet holds no faces: any width does. */
int fk_sq_vec_rows(fk_store *st, int64_t since, fk_vecs *v) {
  int64_t n;
  sqlite3_stmt *q;
  const char *where = since < 0 ? "WHERE ?1 = ?1" : "WHERE f.seq > ?1";
  char sql[512];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM faces f JOIN images i ON i.id = f.image_id %s", where);
  int rc = count_rows(st, sql, since, &n);
  if (rc) return rc;
  if ((rc = fk_store_prepare(st, since < 0 ? VEC_ROWS("WHERE ?1 = ?1") : VEC_ROWS("WHERE f.seq > ?1"), &q)))
    return rc;
  sqlite3_bind_int64(q, 1, since);
  rc = read_rows(st, q, n, st->dim ? st->dim : 1, v);
  sqlite3_finalize(q);
  return rc;
}

/* The face ids of the tombstones with seq > since. */
int fk_sq_tombstones(fk_store *st, int64_t since, int64_t **ids, int64_t *n) {
  sqlite3_stmt *q;
  int64_t cap = 0;
  *ids = NULL;
  *n = 0;
  int rc = fk_store_prepare(st, "SELECT face_id FROM deleted WHERE seq > ?", &q);
  if (rc) return rc;
  sqlite3_bind_int64(q, 1, since);
  int step;
  while ((step = sqlite3_step(q)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? 2 * cap : 64;
      int64_t *p = realloc(*ids, (size_t)cap * sizeof *p);
      if (!p) {
        rc = fk_store_fail(st, FK_ENOMEM, "out of memory");
        break;
      }
      *ids = p;
    }
    (*ids)[(*n)++] = sqlite3_column_int64(q, 0);
  }
  if (rc == FK_OK && step != SQLITE_DONE) rc = fk_store_sqlfail(st, "reading deleted faces");
  sqlite3_finalize(q);
  return rc;
}

/* ---- faces and listings ------------------------------------------------ */

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

static int count_of(fk_store *st, sqlite3_stmt *q, int64_t *total) {
  int rc = sqlite3_step(q) == SQLITE_ROW ? FK_OK : fk_store_sqlfail(st, "counting");
  if (rc == FK_OK && total) *total = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return rc;
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

/* ---- retrieval --------------------------------------------------------- */

/* SQLite's foreach_query (fk_store_ops): FK_QUERY_ROWS row by row. */
int fk_sq_foreach_query(fk_store *st, int (*fn)(int64_t image, int64_t identity, int64_t n, void *user),
                        void *user) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, FK_QUERY_ROWS, &q), step = SQLITE_DONE;
  while (rc == FK_OK && (step = sqlite3_step(q)) == SQLITE_ROW)
    rc = fn(sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 2), user);
  if (rc == FK_OK && step != SQLITE_DONE) rc = fk_store_sqlfail(st, "reading images");
  sqlite3_finalize(q);
  return rc;
}
