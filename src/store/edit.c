/*
 * edit.c - changing an index one image at a time, as a service does:
 * adding an image under an identity (fk_store_add_entry, from an fk_entry
 * made on any thread), deleting a face or a whole identity. Each change is
 * one transaction, committed, and applied to loaded vectors (vectors.c)
 * before the call returns; the triggers of the change sequence (store.h)
 * record it for every other reader. Removed images are reported after the
 * commit, so a caller deleting their files never deletes one whose row is
 * still there; those below the store's data directory (uploads.c) are
 * removed here, after the commit and under the directory's lock. The
 * transactions are shared; their bodies are the backend's (sqlite/write.c,
 * pg/pg_write.c).
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

/* ---- adding ---------------------------------------------------------------- */

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
