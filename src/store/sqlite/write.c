/*
 * write.c - the SQLite backend's writes (fk_sqlite_ops): the writer's
 * statements (images upserted with their faces, moves, touches, deletes),
 * the plan's images rows, and the single edits' bodies (edit.c's adding and
 * deleting), each in the caller's write transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/sqlite/sqlite.h"

/* ---- the writer ----------------------------------------------------------- */

typedef struct sq_writer {
  sqlite3_stmt *upsert, *del_faces, *ins_face, *ins_ident, *get_ident, *move, *del_image, *touch, *undelete;
} sq_writer;

int fk_sq_writer_init(fk_writer *w) {
  fk_store *st = w->st;
  sq_writer *q = calloc(1, sizeof *q);
  if (!q) return fk_store_fail(st, FK_ENOMEM, "out of memory");
  w->impl = q;
  int rc;
  if ((rc = fk_store_prepare(st,
                             "INSERT INTO images(path, size, mtime_ns, hash, width, height, status, error,"
                             " identity_id, nfaces, indexed_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                             " unixepoch()) ON CONFLICT(path) DO UPDATE SET size = ?2, mtime_ns = ?3,"
                             " hash = ?4, width = ?5, height = ?6, status = ?7, error = ?8,"
                             " identity_id = ?9, nfaces = ?10, indexed_at = unixepoch() RETURNING id",
                             &q->upsert)) ||
      (rc = fk_store_prepare(st, "DELETE FROM faces WHERE image_id = ?", &q->del_faces)) ||
      (rc = fk_store_prepare(st,
                             "INSERT INTO faces(image_id, idx, x, y, w, h, score, landmarks, model, central,"
                             " norm, emb_f32, emb_i8) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             &q->ins_face)) ||
      (rc = fk_store_prepare(st, "INSERT OR IGNORE INTO identities(name) VALUES(?)", &q->ins_ident)) ||
      (rc = fk_store_prepare(st, "SELECT id FROM identities WHERE name = ?", &q->get_ident)) ||
      (rc = fk_store_prepare(st,
                             "UPDATE images SET path = ?, size = ?, mtime_ns = ?, identity_id = ?,"
                             " indexed_at = unixepoch() WHERE id = ?", &q->move)) ||
      (rc = fk_store_prepare(st, "DELETE FROM images WHERE id = ?", &q->del_image)) ||
      (rc = fk_store_prepare(st, "UPDATE images SET size = ?, mtime_ns = ? WHERE id = ?", &q->touch)) ||
      (rc = fk_store_prepare(st, "DELETE FROM deleted_files WHERE path = ?", &q->undelete)))
    return rc;
  return FK_OK;
}

void fk_sq_writer_free(fk_writer *w) {
  sq_writer *q = w->impl;
  sqlite3_stmt *s[] = {q->upsert, q->del_faces, q->ins_face, q->ins_ident, q->get_ident, q->move,
                       q->del_image, q->touch, q->undelete};
  for (size_t i = 0; i < sizeof s / sizeof *s; i++) sqlite3_finalize(s[i]);
  free(q);
  w->impl = NULL;
}

/* Steps a statement with no result rows, then resets it. */
static int step(fk_writer *w, sqlite3_stmt *q, const char *what) {
  int rc = sqlite3_step(q) == SQLITE_DONE ? FK_OK : fk_store_sqlfail(w->st, what);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  return rc;
}

int fk_sq_identity(fk_writer *w, const char *name, int64_t *id) {
  sq_writer *q = w->impl;
  sqlite3_bind_text(q->ins_ident, 1, name, -1, SQLITE_TRANSIENT);
  int rc = step(w, q->ins_ident, "adding an identity");
  if (rc) return rc;
  sqlite3_bind_text(q->get_ident, 1, name, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(q->get_ident) == SQLITE_ROW ? FK_OK : fk_store_sqlfail(w->st, "reading an identity");
  *id = sqlite3_column_int64(q->get_ident, 0);
  sqlite3_reset(q->get_ident);
  return rc;
}

static void bind_id_or_null(sqlite3_stmt *q, int col, int64_t id) {
  if (id > 0) sqlite3_bind_int64(q, col, id);
  else sqlite3_bind_null(q, col);
}

static int insert_face(fk_writer *w, int64_t image_id, const fk_entry *en, int i, const char *model) {
  const fk_face *f = &en->faces[i];
  float unit[FK_EMBED_MAX];
  int8_t code[FK_EMBED_MAX];
  double norm;
  int rc = fk_face_codes(w->st, f, unit, code, &norm);
  if (rc) return rc;
  sqlite3_stmt *q = ((sq_writer *)w->impl)->ins_face;
  sqlite3_bind_int64(q, 1, image_id);
  sqlite3_bind_int(q, 2, i);
  sqlite3_bind_double(q, 3, f->box.x);
  sqlite3_bind_double(q, 4, f->box.y);
  sqlite3_bind_double(q, 5, f->box.w);
  sqlite3_bind_double(q, 6, f->box.h);
  sqlite3_bind_double(q, 7, f->score);
  sqlite3_bind_blob(q, 8, f->landmarks, sizeof f->landmarks, SQLITE_STATIC);
  sqlite3_bind_text(q, 9, model, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 10, i == en->central);
  sqlite3_bind_double(q, 11, norm);
  sqlite3_bind_blob(q, 12, unit, f->dim * (int)sizeof *unit, SQLITE_STATIC);
  sqlite3_bind_blob(q, 13, code, f->dim, SQLITE_STATIC);
  return step(w, q, "storing a face");
}

int fk_sq_put(fk_writer *w, const fk_entry *en, int64_t identity, const char *model, int64_t *image_id) {
  sq_writer *s = w->impl;
  sqlite3_stmt *q = s->upsert;
  sqlite3_bind_text(q, 1, en->path, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, en->size);
  sqlite3_bind_int64(q, 3, en->mtime_ns);
  sqlite3_bind_text(q, 4, en->hash, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 5, en->width);
  sqlite3_bind_int(q, 6, en->height);
  sqlite3_bind_text(q, 7, fk_entry_status_names[en->status], -1, SQLITE_STATIC);
  if (en->status == FK_ENTRY_ERROR) sqlite3_bind_text(q, 8, en->error, -1, SQLITE_STATIC);
  else sqlite3_bind_null(q, 8);
  bind_id_or_null(q, 9, identity);
  sqlite3_bind_int(q, 10, en->nfaces);
  int rc = sqlite3_step(q) == SQLITE_ROW ? FK_OK : fk_store_sqlfail(w->st, "storing an image");
  *image_id = sqlite3_column_int64(q, 0);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  if (rc) return rc;
  /* stored again: a deletion of this path no longer holds */
  sqlite3_bind_text(s->undelete, 1, en->path, -1, SQLITE_STATIC);
  if ((rc = step(w, s->undelete, "storing an image"))) return rc;
  /* Always: another writer may have stored this path since we looked. */
  sqlite3_bind_int64(s->del_faces, 1, *image_id);
  if ((rc = step(w, s->del_faces, "replacing faces"))) return rc;
  for (int i = 0; rc == FK_OK && i < en->nfaces; i++) rc = insert_face(w, *image_id, en, i, model);
  return rc;
}

int fk_sq_move(fk_writer *w, int64_t image_id, const fk_entry *en, int64_t identity) {
  sqlite3_stmt *u = ((sq_writer *)w->impl)->undelete;
  sqlite3_bind_text(u, 1, en->path, -1, SQLITE_STATIC);
  int rc = step(w, u, "moving an image");
  if (rc) return rc;
  sqlite3_stmt *q = ((sq_writer *)w->impl)->move;
  sqlite3_bind_text(q, 1, en->path, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, en->size);
  sqlite3_bind_int64(q, 3, en->mtime_ns);
  bind_id_or_null(q, 4, identity);
  sqlite3_bind_int64(q, 5, image_id);
  return step(w, q, "moving an image");
}

int fk_sq_touch(fk_writer *w, int64_t image_id, int64_t size, int64_t mtime_ns) {
  sqlite3_stmt *q = ((sq_writer *)w->impl)->touch;
  sqlite3_bind_int64(q, 1, size);
  sqlite3_bind_int64(q, 2, mtime_ns);
  sqlite3_bind_int64(q, 3, image_id);
  return step(w, q, "updating an image");
}

int fk_sq_delete_image(fk_writer *w, int64_t image_id) {
  sqlite3_stmt *q = ((sq_writer *)w->impl)->del_image;
  sqlite3_bind_int64(q, 1, image_id);
  return step(w, q, "deleting an image");
}

int fk_sq_foreach_image(fk_store *st, int (*fn)(const fk_image_row *r, void *user), void *user) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, "SELECT id, path, size, mtime_ns, hash, status FROM images", &q);
  if (rc) return rc;
  int s = SQLITE_DONE;
  while (rc == FK_OK && (s = sqlite3_step(q)) == SQLITE_ROW) {
    fk_image_row r = {
        .id = sqlite3_column_int64(q, 0),
        .path = (const char *)sqlite3_column_text(q, 1),
        .size = sqlite3_column_int64(q, 2),
        .mtime_ns = sqlite3_column_int64(q, 3),
        .hash = (const char *)sqlite3_column_text(q, 4),
        .is_error = !strcmp((const char *)sqlite3_column_text(q, 5), "error"),
    };
    rc = fn(&r, user);
  }
  if (rc == FK_OK && s != SQLITE_DONE) rc = fk_store_sqlfail(st, "reading images");
  sqlite3_finalize(q);
  return rc;
}

/* ---- single edits --------------------------------------------------------- */

/* One-row query helpers: binds int64 args, steps once. */
static int query_row(fk_store *st, sqlite3_stmt **q, const char *sql, int64_t a, int64_t b) {
  int rc = fk_store_prepare(st, sql, q);
  if (rc) return rc;
  sqlite3_bind_int64(*q, 1, a);
  if (sqlite3_bind_parameter_count(*q) > 1) sqlite3_bind_int64(*q, 2, b);
  int step = sqlite3_step(*q);
  if (step == SQLITE_ROW) return FK_OK;
  if (step == SQLITE_DONE) return FK_ENOENT;
  return fk_store_sqlfail(st, "querying");
}

static int exec_ids(fk_store *st, const char *sql, int64_t a, int64_t b) {
  sqlite3_stmt *q;
  int rc = query_row(st, &q, sql, a, b);
  sqlite3_finalize(q);
  return rc == FK_ENOENT ? FK_OK : rc;
}

int fk_sq_drop_identity(fk_store *st, int64_t identity) {
  if (identity <= 0) return FK_OK;
  return exec_ids(st, "DELETE FROM identities WHERE id = ?1 AND NOT EXISTS"
                      " (SELECT 1 FROM images WHERE identity_id = ?1)", identity, 0);
}

int fk_sq_drop_orphans(fk_store *st) {
  return fk_store_exec(st, "DELETE FROM identities WHERE id NOT IN"
                           " (SELECT identity_id FROM images WHERE identity_id IS NOT NULL)");
}

int fk_sq_face_ids(fk_store *st, int64_t image_id, int64_t *ids, int cap, int *n) {
  sqlite3_stmt *q;
  *n = 0;
  int rc = fk_store_prepare(st, "SELECT id FROM faces WHERE image_id = ? ORDER BY idx", &q);
  if (rc) return rc;
  sqlite3_bind_int64(q, 1, image_id);
  int step;
  while ((step = sqlite3_step(q)) == SQLITE_ROW) {
    if (*n < cap) ids[*n] = sqlite3_column_int64(q, 0);
    (*n)++;
  }
  if (step != SQLITE_DONE) rc = fk_store_sqlfail(st, "reading faces");
  sqlite3_finalize(q);
  return rc;
}

int fk_sq_find_image(fk_store *st, const char *path, const char *hash, int64_t *id, int64_t *identity,
                     int *same) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, "SELECT id, coalesce(identity_id, 0), hash = ?2 AND status = 'ok'"
                                " FROM images WHERE path = ?1", &q);
  if (rc) return rc;
  sqlite3_bind_text(q, 1, path, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, hash, -1, SQLITE_STATIC);
  int step = sqlite3_step(q);
  if (step == SQLITE_ROW) {
    *id = sqlite3_column_int64(q, 0);
    *identity = sqlite3_column_int64(q, 1);
    *same = sqlite3_column_int(q, 2);
  } else {
    rc = step == SQLITE_DONE ? FK_ENOENT : fk_store_sqlfail(st, "reading an image");
  }
  sqlite3_finalize(q);
  return rc;
}

/* Same content at the same path: only its size, mtime and identity may
 * have changed (a relabelling, which the change sequence records). */
int fk_sq_keep_image(fk_store *st, const fk_entry *e, int64_t id, int64_t identity) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, "UPDATE images SET size = ?2, mtime_ns = ?3, identity_id = nullif(?4, 0)"
                                " WHERE id = ?1", &q);
  if (rc) return rc;
  sqlite3_bind_int64(q, 1, id);
  sqlite3_bind_int64(q, 2, e->size);
  sqlite3_bind_int64(q, 3, e->mtime_ns);
  sqlite3_bind_int64(q, 4, identity);
  rc = sqlite3_step(q) == SQLITE_DONE ? FK_OK : fk_store_sqlfail(st, "updating an image");
  sqlite3_finalize(q);
  return rc;
}

int fk_sq_delete_face_body(fk_store *st, void *arg) {
  fk_delete_job *d = arg;
  sqlite3_stmt *q;
  int rc = query_row(st, &q, "SELECT f.image_id, i.path, coalesce(i.identity_id, 0),"
                             " (SELECT count(*) FROM faces WHERE image_id = f.image_id)"
                             " FROM faces f JOIN images i ON i.id = f.image_id WHERE f.id = ?", d->id, 0);
  int64_t image = 0, ident = 0, left = 0;
  if (rc == FK_OK) {
    image = sqlite3_column_int64(q, 0);
    ident = sqlite3_column_int64(q, 2);
    left = sqlite3_column_int64(q, 3) - 1;
    if (left == 0) rc = fk_removed_add(st, &d->removed, (const char *)sqlite3_column_text(q, 1));
  } else if (rc == FK_ENOENT) {
    rc = fk_store_fail(st, FK_ENOENT, "no face %lld in the index", (long long)d->id);
  }
  sqlite3_finalize(q);
  if (rc) return rc;
  d->removed.faces = 1;
  if (left > 0) return exec_ids(st, "DELETE FROM faces WHERE id = ?", d->id, 0);
  /* its image's last face: the image row goes, and its faces with it; the
   * file, if it stays, is not indexed again */
  if ((rc = exec_ids(st, "INSERT INTO deleted_files(path, deleted_at) SELECT path, unixepoch() FROM images"
                         " WHERE id = ?1 ON CONFLICT(path) DO UPDATE SET deleted_at = excluded.deleted_at",
                     image, 0)) ||
      (rc = exec_ids(st, "DELETE FROM images WHERE id = ?", image, 0)))
    return rc;
  return fk_sq_drop_identity(st, ident);
}

int fk_sq_delete_identity_body(fk_store *st, void *arg) {
  fk_delete_job *d = arg;
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, "SELECT id FROM identities WHERE name = ?", &q);
  if (rc) return rc;
  sqlite3_bind_text(q, 1, d->name, -1, SQLITE_STATIC);
  int step = sqlite3_step(q);
  if (step == SQLITE_ROW) d->id = sqlite3_column_int64(q, 0);
  else if (step == SQLITE_DONE) rc = fk_store_fail(st, FK_ENOENT, "no identity '%s' in the index", d->name);
  else rc = fk_store_sqlfail(st, "reading an identity");
  sqlite3_finalize(q);
  if (rc) return rc;
  if ((rc = fk_store_prepare(st, "SELECT path, nfaces, (SELECT count(*) FROM faces WHERE image_id = images.id)"
                                 " FROM images WHERE identity_id = ?", &q)))
    return rc;
  sqlite3_bind_int64(q, 1, d->id);
  while (rc == FK_OK && (step = sqlite3_step(q)) == SQLITE_ROW) {
    d->removed.faces += sqlite3_column_int64(q, 2);
    rc = fk_removed_add(st, &d->removed, (const char *)sqlite3_column_text(q, 0));
  }
  if (rc == FK_OK && step != SQLITE_DONE) rc = fk_store_sqlfail(st, "reading images");
  sqlite3_finalize(q);
  if (rc == FK_OK)
    rc = exec_ids(st, "INSERT INTO deleted_files(path, deleted_at) SELECT path, unixepoch() FROM images"
                      " WHERE identity_id = ?1 ON CONFLICT(path) DO UPDATE SET deleted_at = excluded.deleted_at",
                  d->id, 0);
  if (rc == FK_OK) rc = exec_ids(st, "DELETE FROM images WHERE identity_id = ?", d->id, 0);
  if (rc == FK_OK) rc = exec_ids(st, "DELETE FROM identities WHERE id = ?", d->id, 0);
  return rc;
}

int fk_sq_foreach_deleted_file(fk_store *st, int (*fn)(const char *path, void *user), void *user) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, "SELECT path FROM deleted_files", &q);
  if (rc) return rc;
  int step = SQLITE_DONE;
  while (rc == FK_OK && (step = sqlite3_step(q)) == SQLITE_ROW) rc = fn((const char *)sqlite3_column_text(q, 0), user);
  if (rc == FK_OK && step != SQLITE_DONE) rc = fk_store_sqlfail(st, "reading deleted files");
  sqlite3_finalize(q);
  return rc;
}
