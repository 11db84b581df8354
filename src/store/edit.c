/*
 * edit.c - changing an index one image at a time, as a service does:
 * adding an image under an identity (fk_store_add_entry, from an fk_entry
 * made on any thread), deleting a face or a whole identity. Each change is
 * one transaction, committed, and applied to loaded vectors (vectors.c)
 * before the call returns; the triggers of the change sequence (store.h)
 * record it for every other reader. Removed images are reported after the
 * commit, so a caller deleting their files never deletes one whose row is
 * still there; those below the store's data directory (uploads.c) are
 * removed here, after the commit and under the directory's lock. The transactions are shared; their bodies are the
 * backend's (here SQLite's, pg_write.c PostgreSQL's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

/* Runs one transaction body on st: BEGIN IMMEDIATE, body, generation bump,
 * COMMIT (ROLLBACK on failure), then the refresh of loaded vectors. */
typedef int (*txn_body)(fk_store *st, void *arg);

static int in_transaction(fk_store *st, txn_body body, void *arg) {
  if (!st->writable) return fk_store_fail(st, FK_EREADONLY, "%s was opened for reading only", st->path);
  int rc = st->ops->begin(st, FK_TXN_WRITE);
  if (rc) return rc;
  if ((rc = body(st, arg)) == FK_OK && (rc = fk_store_bump_generation(st)) == FK_OK &&
      (rc = st->ops->commit(st)) == FK_OK)
    return st->vs.loaded ? fk_store_refresh(st) : FK_OK;
  char err[FK_STORE_ERRMSG_MAX];
  snprintf(err, sizeof err, "%s", st->err); /* ROLLBACK must not overwrite why */
  st->ops->rollback(st);
  memcpy(st->err, err, sizeof err);
  return rc;
}

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

/* ---- adding ---------------------------------------------------------------- */

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

/* Shared by both backends, through their ops. */
static int add_body(fk_store *st, void *arg) {
  fk_add_job *a = arg;
  const fk_entry *e = a->e;
  int rc = fk_store_claim_entry_model(st, e);
  if (rc) return rc;
  fk_writer w;
  int64_t ident = 0, old_ident = 0, image_id = 0;
  int same = 0;
  const char *name = a->identity ? a->identity : "";
  if ((rc = fk_writer_init(&w, st)) == FK_OK && (rc = fk_writer_identity(&w, name, strlen(name), &ident)) == FK_OK) {
    rc = st->ops->find_image(st, e->path, e->hash, &image_id, &old_ident, &same);
    if (rc == FK_ENOENT) rc = FK_OK;
  }
  a->out->created = !same;
  if (rc == FK_OK) rc = same ? st->ops->keep_image(st, e, image_id, ident) : fk_writer_put(&w, e, ident, e->model, &image_id);
  fk_writer_free(&w);
  if (rc == FK_OK && ident != old_ident) rc = st->ops->drop_identity(st, old_ident);
  a->out->image_id = image_id;
  if (rc == FK_OK) rc = st->ops->face_ids(st, image_id, a->face_ids, a->cap, &a->out->nfaces);
  return rc;
}

int fk_store_add_entry(fk_store *st, const fk_entry *e, const char *identity, int64_t *face_ids, int cap,
                       fk_added *out) {
  fk_added dummy;
  if (!out) out = &dummy;
  memset(out, 0, sizeof *out);
  if (!e || cap < 0 || (cap > 0 && !face_ids)) return fk_store_fail(st, FK_EINVAL, "fk_store_add_entry: bad arguments");
  if (e->nfaces == 0) return fk_store_fail(st, FK_ENOFACE, "no face detected in %s: nothing stored", e->path);
  fk_add_job a = {e, identity, face_ids, cap, out};
  return in_transaction(st, add_body, &a);
}

int fk_store_add_image(fk_store *st, fk_session *s, const char *path, const char *identity, int64_t *face_ids,
                       int cap, fk_added *out) {
  fk_entry *e;
  int rc = fk_entry_new(s, path, &e);
  if (rc) return fk_store_fail(st, rc, "%s", fk_session_errmsg(s));
  rc = fk_store_add_entry(st, e, identity, face_ids, cap, out);
  fk_entry_free(e);
  return rc;
}

/* ---- deleting -------------------------------------------------------------- */

int fk_removed_add(fk_store *st, fk_removed_list *l, const char *path) {
  char *copy = strdup(path);
  char **p = copy ? realloc(l->paths, (l->n + 1) * sizeof *p) : NULL;
  if (!p) {
    free(copy);
    return fk_store_fail(st, FK_ENOMEM, "out of memory");
  }
  l->paths = p;
  p[l->n++] = copy;
  return FK_OK;
}

static void report(fk_removed_list *l, int ok, fk_removed_fn fn, void *user) {
  for (size_t i = 0; i < l->n; i++) {
    if (ok && fn) fn(l->paths[i], user);
    free(l->paths[i]);
  }
  free(l->paths);
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

/* A delete's transaction and, once committed, the removal of the files of
 * the rows it removed from the data directory (uploads.c), under its lock. */
typedef struct locked_delete {
  txn_body body;
  fk_delete_job *d;
} locked_delete;

static int delete_locked(fk_store *st, void *arg) {
  locked_delete *l = arg;
  int rc = in_transaction(st, l->body, l->d);
  if (rc == FK_OK) fk_store_unlink_removed(st, &l->d->removed);
  return rc;
}

static int run_delete(fk_store *st, txn_body body, fk_delete_job *d) {
  locked_delete l = {body, d};
  return fk_store_edit_locked(st, delete_locked, &l);
}

int fk_store_delete_face(fk_store *st, int64_t face_id, fk_removed_fn removed, void *user) {
  fk_delete_job d = {.id = face_id};
  int rc = run_delete(st, st->ops->delete_face_body, &d);
  report(&d.removed, rc == FK_OK, removed, user);
  return rc;
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

int fk_store_delete_identity(fk_store *st, const char *identity, int64_t *faces, fk_removed_fn removed,
                             void *user) {
  if (faces) *faces = 0;
  if (!identity || !*identity) return fk_store_fail(st, FK_EINVAL, "fk_store_delete_identity: no name");
  fk_delete_job d = {.name = identity};
  int rc = run_delete(st, st->ops->delete_identity_body, &d);
  if (rc == FK_OK && faces) *faces = d.removed.faces;
  report(&d.removed, rc == FK_OK, removed, user);
  return rc;
}
