/*
 * pg_write.c - the PostgreSQL backend's writes: the writer an index run
 * and single additions store images with (fk_writer, in the caller's write
 * transaction, which holds FK_PG_LOCK), and the bodies of edit.c's single
 * changes. The same statements as SQLite's in write.c and edit.c, in
 * PostgreSQL's dialect, but for the faces, which a batch sends with one
 * COPY; the triggers (pg.c) keep the change sequence.
 * Also the claims concurrent index runs take on files (index.c).
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg/pg.h"

/* ---- face rows by COPY -------------------------------------------------------
 *
 * An image's faces are not sent one INSERT each: fk_pg_put appends them to
 * PG(st)->rows as COPY (FORMAT binary) tuples - an int16 field count (13),
 * then per field an int32 length and the value, big-endian: bigint 8
 * bytes, integer 4, double precision 8 (IEEE), bytea and text their bytes -
 * and fk_pg_flush sends them all with one COPY faces FROM STDIN. fk_pg_exec
 * flushes before every statement but the writer's own image and identity
 * statements and claim releases, which touch no face, so the commit and
 * anything that reads or changes faces see the rows in place. COPY fires
 * the row triggers as INSERT does (each face takes its seq), and the face
 * ids come from the sequence in row order inside the transaction that
 * holds FK_PG_LOCK, so they still grow in commit order. A rollback, or a
 * kill, drops the rows with the transaction. */

#define FACE_COLUMNS "image_id, idx, x, y, w, h, score, landmarks, model, central, norm, emb_f32, emb_i8"
#define FACE_FIELDS 13
#define FLUSH_BYTES (4u << 20) /* sent early past this, to bound the memory */

static char *put32(char *p, uint32_t v) {
  v = htobe32(v);
  memcpy(p, &v, 4);
  return p + 4;
}

static char *put64(char *p, uint64_t v) {
  v = htobe64(v);
  memcpy(p, &v, 8);
  return p + 8;
}

static char *field(char *p, const void *v, size_t n) {
  p = put32(p, (uint32_t)n);
  memcpy(p, v, n);
  return p + n;
}

static char *int8_field(char *p, int64_t v) { return put64(put32(p, 8), (uint64_t)v); }
static char *int4_field(char *p, int32_t v) { return put32(put32(p, 4), (uint32_t)v); }

static char *double_field(char *p, double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return put64(put32(p, 8), u);
}

/* Room for `bytes` more bytes and one more row in b. */
static int rows_reserve(fk_pg_rows *b, size_t bytes) {
  if (b->len + bytes > b->cap) {
    size_t cap = b->cap ? b->cap : 65536;
    while (cap < b->len + bytes) cap *= 2;
    char *buf = realloc(b->buf, cap);
    if (!buf) return -1;
    b->buf = buf, b->cap = cap;
  }
  if (b->n == b->ncap) {
    int ncap = b->ncap ? 2 * b->ncap : 256;
    int64_t *image = realloc(b->image, (size_t)ncap * sizeof *image);
    if (!image) return -1;
    b->image = image, b->ncap = ncap;
  }
  return 0;
}

static int rows_hold_image(const fk_pg_rows *b, int64_t image_id) {
  for (int i = 0; i < b->n; i++)
    if (b->image[i] == image_id) return 1;
  return 0;
}

static int queue_face(fk_writer *w, int64_t image_id, const fk_entry *en, int i, const char *model) {
  fk_store *st = w->st;
  const fk_face *f = &en->faces[i];
  float unit[FK_EMBED_MAX];
  int8_t code[FK_EMBED_MAX];
  double norm;
  int rc = fk_face_codes(st, f, unit, code, &norm);
  if (rc) return rc;
  fk_pg_rows *b = &PG(st)->rows;
  size_t dim = (size_t)f->dim, mlen = strlen(model);
  if (rows_reserve(b, 2 + FACE_FIELDS * 4 + 8 + 4 + 5 * 8 + sizeof f->landmarks + mlen + 4 + 8 + dim * 5))
    return fk_store_fail(st, FK_ENOMEM, "out of memory");
  char *p = b->buf + b->len;
  uint16_t nf = htobe16(FACE_FIELDS);
  memcpy(p, &nf, 2);
  p = int8_field(p + 2, image_id);
  p = int4_field(p, i);
  p = double_field(p, f->box.x);
  p = double_field(p, f->box.y);
  p = double_field(p, f->box.w);
  p = double_field(p, f->box.h);
  p = double_field(p, f->score);
  p = field(p, f->landmarks, sizeof f->landmarks);
  p = field(p, model, mlen);
  p = int4_field(p, i == en->central);
  p = double_field(p, norm);
  p = field(p, unit, dim * sizeof *unit);
  p = field(p, code, dim);
  b->len = (size_t)(p - b->buf);
  b->image[b->n++] = image_id;
  return b->len >= FLUSH_BYTES ? fk_pg_flush(st) : FK_OK;
}

int fk_pg_flush(fk_store *st) {
  fk_pg_rows *b = &PG(st)->rows;
  if (b->n == 0) return FK_OK;
  static const char head[19] = "PGCOPY\n\377\r\n"; /* signature, then flags 0 and no extension */
  static const char tail[2] = {'\377', '\377'};  /* field count -1 */
  PGconn *c = PG(st)->conn;
  size_t len = b->len;
  b->n = 0, b->len = 0; /* sent or failed, they are not sent again */
  PGresult *r = PQexec(c, "COPY faces(" FACE_COLUMNS ") FROM STDIN (FORMAT binary)");
  int rc = FK_OK;
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    rc = fk_pg_fail(st, "storing faces", r);
    PQclear(r);
    return rc;
  }
  PQclear(r);
  int sent = PQputCopyData(c, head, sizeof head) == 1 && PQputCopyData(c, b->buf, (int)len) == 1 &&
             PQputCopyData(c, tail, sizeof tail) == 1;
  sent = PQputCopyEnd(c, sent ? NULL : "facekit could not send the faces") == 1 && sent;
  while ((r = PQgetResult(c))) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == FK_OK) rc = fk_pg_fail(st, "storing faces", r);
    PQclear(r);
  }
  return rc == FK_OK && !sent ? fk_pg_fail(st, "storing faces", NULL) : rc;
}

/* A writer statement that touches no face, run without sending the rows. */
static int held(int (*run)(fk_store *, const char *, const char *, const fk_pg_params *, PGresult **), fk_store *st,
                const char *what, const char *sql, const fk_pg_params *p, PGresult **out) {
  PG(st)->hold = 1;
  int rc = run(st, what, sql, p, out);
  PG(st)->hold = 0;
  return rc;
}

void fk_pg_rows_drop(fk_pg_rows *b, int all) {
  b->n = 0, b->len = 0;
  if (!all) return;
  free(b->buf);
  free(b->image);
  memset(b, 0, sizeof *b);
}

int fk_pg_writer_init(fk_writer *w) {
  (void)w; /* no statements to prepare: each is sent with its parameters */
  return FK_OK;
}

void fk_pg_writer_free(fk_writer *w) { (void)w; }

int fk_pg_identity(fk_writer *w, const char *name, int64_t *id) {
  fk_pg_params p = {0};
  fk_pg_name(&p, name);
  PGresult *r;
  int rc = held(fk_pg_exec, w->st, "adding an identity",
                "INSERT INTO identities(name) VALUES($1) ON CONFLICT(name) DO NOTHING", &p, NULL);
  if (rc == FK_OK)
    rc = held(fk_pg_row, w->st, "reading an identity", "SELECT id FROM identities WHERE name = $1", &p, &r);
  if (rc) return rc == FK_ENOENT ? fk_store_fail(w->st, FK_EDB, "identity '%s' vanished", name) : rc;
  *id = fk_pg_get_int(r, 0, 0);
  PQclear(r);
  return FK_OK;
}

static void id_or_null(fk_pg_params *p, int64_t id) {
  if (id > 0) fk_pg_int(p, id);
  else fk_pg_text(p, NULL);
}

/* Drops the tombstone of a path stored again (store.h, deleted_files). */
static int undelete(fk_store *st, const char *path) {
  fk_pg_params p = {0};
  fk_pg_name(&p, path);
  return held(fk_pg_exec, st, "storing an image", "DELETE FROM deleted_files WHERE path = $1", &p, NULL);
}

int fk_pg_put(fk_writer *w, const fk_entry *en, int64_t identity, const char *model, int64_t *image_id) {
  fk_pg_params p = {0};
  fk_pg_name(&p, en->path);
  fk_pg_int(&p, en->size);
  fk_pg_int(&p, en->mtime_ns);
  fk_pg_text(&p, en->hash);
  fk_pg_int(&p, en->width);
  fk_pg_int(&p, en->height);
  fk_pg_text(&p, fk_entry_status_names[en->status]);
  fk_pg_name(&p, en->status == FK_ENTRY_ERROR ? en->error : NULL);
  id_or_null(&p, identity);
  fk_pg_int(&p, en->nfaces);
  PGresult *r;
  int rc = held(fk_pg_row, w->st, "storing an image",
                "INSERT INTO images(path, size, mtime_ns, hash, width, height, status, error, identity_id,"
                " nfaces, indexed_at) VALUES($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
                " extract(epoch FROM now())::bigint) ON CONFLICT(path) DO UPDATE SET size = $2,"
                " mtime_ns = $3, hash = $4, width = $5, height = $6, status = $7, error = $8,"
                " identity_id = $9, nfaces = $10, indexed_at = extract(epoch FROM now())::bigint"
                " RETURNING id", &p, &r);
  if (rc) return rc;
  *image_id = fk_pg_get_int(r, 0, 0);
  PQclear(r);
  /* stored again: a deletion of this path no longer holds */
  if ((rc = undelete(w->st, en->path))) return rc;
  /* Always: another writer may have stored this path since we looked.
   * Rows of this image put earlier in the batch go first, to be replaced. */
  fk_pg_params d = {0};
  fk_pg_int(&d, *image_id);
  if (rows_hold_image(&PG(w->st)->rows, *image_id) && (rc = fk_pg_flush(w->st))) return rc;
  if ((rc = held(fk_pg_exec, w->st, "replacing faces", "DELETE FROM faces WHERE image_id = $1", &d, NULL)))
    return rc;
  for (int i = 0; rc == FK_OK && i < en->nfaces; i++) rc = queue_face(w, *image_id, en, i, model);
  return rc;
}

int fk_pg_move(fk_writer *w, int64_t image_id, const fk_entry *en, int64_t identity) {
  int rc = undelete(w->st, en->path);
  if (rc) return rc;
  fk_pg_params p = {0};
  fk_pg_name(&p, en->path);
  fk_pg_int(&p, en->size);
  fk_pg_int(&p, en->mtime_ns);
  id_or_null(&p, identity);
  fk_pg_int(&p, image_id);
  return fk_pg_exec(w->st, "moving an image",
                    "UPDATE images SET path = $1, size = $2, mtime_ns = $3, identity_id = $4,"
                    " indexed_at = extract(epoch FROM now())::bigint WHERE id = $5", &p, NULL);
}

int fk_pg_touch(fk_writer *w, int64_t image_id, int64_t size, int64_t mtime_ns) {
  fk_pg_params p = {0};
  fk_pg_int(&p, size);
  fk_pg_int(&p, mtime_ns);
  fk_pg_int(&p, image_id);
  return fk_pg_exec(w->st, "updating an image", "UPDATE images SET size = $1, mtime_ns = $2 WHERE id = $3", &p,
                    NULL);
}

static int exec_id(fk_store *st, const char *what, const char *sql, int64_t id) {
  fk_pg_params p = {0};
  fk_pg_int(&p, id);
  return fk_pg_exec(st, what, sql, &p, NULL);
}

int fk_pg_delete_image(fk_writer *w, int64_t image_id) {
  return exec_id(w->st, "deleting an image", "DELETE FROM images WHERE id = $1", image_id);
}

int fk_pg_drop_orphans(fk_store *st) {
  return fk_pg_exec(st, "pruning identities",
                    "DELETE FROM identities d WHERE NOT EXISTS (SELECT 1 FROM images WHERE identity_id = d.id)",
                    NULL, NULL);
}

/* ---- single edits (edit.c) ------------------------------------------------ */

int fk_pg_drop_identity(fk_store *st, int64_t identity) {
  if (identity <= 0) return FK_OK;
  return exec_id(st, "dropping an identity",
                 "DELETE FROM identities WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM images WHERE identity_id = $1)",
                 identity);
}

int fk_pg_face_ids(fk_store *st, int64_t image_id, int64_t *ids, int cap, int *n) {
  fk_pg_params p = {0};
  fk_pg_int(&p, image_id);
  PGresult *r;
  int rc = fk_pg_exec(st, "reading faces", "SELECT id FROM faces WHERE image_id = $1 ORDER BY idx", &p, &r);
  if (rc) return rc;
  *n = PQntuples(r);
  for (int i = 0; i < *n && i < cap; i++) ids[i] = fk_pg_get_int(r, i, 0);
  PQclear(r);
  return FK_OK;
}

int fk_pg_find_image(fk_store *st, const char *path, const char *hash, int64_t *id, int64_t *identity, int *same) {
  fk_pg_params p = {0};
  fk_pg_name(&p, path);
  fk_pg_text(&p, hash);
  PGresult *r;
  int rc = fk_pg_row(st, "reading an image",
                     "SELECT id, coalesce(identity_id, 0), (hash = $2 AND status = 'ok')::int FROM images"
                     " WHERE path = $1", &p, &r);
  if (rc) return rc;
  *id = fk_pg_get_int(r, 0, 0);
  *identity = fk_pg_get_int(r, 0, 1);
  *same = (int)fk_pg_get_int(r, 0, 2);
  PQclear(r);
  return FK_OK;
}

int fk_pg_keep_image(fk_store *st, const fk_entry *e, int64_t id, int64_t identity) {
  fk_pg_params p = {0};
  fk_pg_int(&p, id);
  fk_pg_int(&p, e->size);
  fk_pg_int(&p, e->mtime_ns);
  fk_pg_int(&p, identity);
  return fk_pg_exec(st, "updating an image",
                    "UPDATE images SET size = $2, mtime_ns = $3, identity_id = nullif($4::bigint, 0) WHERE id = $1", &p,
                    NULL);
}

/* The tombstones of the image rows a delete removes (store.h). */
#define TOMBSTONE "INSERT INTO deleted_files(path, deleted_at) SELECT path, extract(epoch FROM now())::bigint FROM images"
#define TOMBSTONE_AGAIN " ON CONFLICT(path) DO UPDATE SET deleted_at = EXCLUDED.deleted_at"

int fk_pg_delete_face_body(fk_store *st, void *arg) {
  fk_delete_job *d = arg;
  fk_pg_params p = {0};
  fk_pg_int(&p, d->id);
  PGresult *r;
  int rc = fk_pg_row(st, "reading a face",
                     "SELECT f.image_id, i.path, coalesce(i.identity_id, 0),"
                     " (SELECT count(*) FROM faces WHERE image_id = f.image_id)"
                     " FROM faces f JOIN images i ON i.id = f.image_id WHERE f.id = $1", &p, &r);
  if (rc == FK_ENOENT) return fk_store_fail(st, FK_ENOENT, "no face %lld in the index", (long long)d->id);
  if (rc) return rc;
  int64_t image = fk_pg_get_int(r, 0, 0), ident = fk_pg_get_int(r, 0, 2), left = fk_pg_get_int(r, 0, 3) - 1;
  if (left == 0) rc = fk_removed_add(st, &d->removed, fk_pg_name_value(r, 0, 1));
  PQclear(r);
  if (rc) return rc;
  d->removed.faces = 1;
  if (left > 0) return exec_id(st, "deleting a face", "DELETE FROM faces WHERE id = $1", d->id);
  /* its image's last face: the image row goes, and its faces with it; the
   * file, if it stays, is not indexed again */
  if ((rc = exec_id(st, "deleting an image", TOMBSTONE " WHERE id = $1" TOMBSTONE_AGAIN, image)) ||
      (rc = exec_id(st, "deleting an image", "DELETE FROM images WHERE id = $1", image)))
    return rc;
  return fk_pg_drop_identity(st, ident);
}

int fk_pg_delete_identity_body(fk_store *st, void *arg) {
  fk_delete_job *d = arg;
  fk_pg_params p = {0};
  fk_pg_name(&p, d->name);
  PGresult *r;
  int rc = fk_pg_row(st, "reading an identity", "SELECT id FROM identities WHERE name = $1", &p, &r);
  if (rc == FK_ENOENT) return fk_store_fail(st, FK_ENOENT, "no identity '%s' in the index", d->name);
  if (rc) return rc;
  d->id = fk_pg_get_int(r, 0, 0);
  PQclear(r);
  fk_pg_params q = {0};
  fk_pg_int(&q, d->id);
  if ((rc = fk_pg_exec(st, "reading images",
                       "SELECT path, (SELECT count(*) FROM faces WHERE image_id = images.id) FROM images"
                       " WHERE identity_id = $1", &q, &r)))
    return rc;
  for (int i = 0; rc == FK_OK && i < PQntuples(r); i++) {
    d->removed.faces += fk_pg_get_int(r, i, 1);
    rc = fk_removed_add(st, &d->removed, fk_pg_name_value(r, i, 0));
  }
  PQclear(r);
  if (rc == FK_OK) rc = exec_id(st, "deleting images", TOMBSTONE " WHERE identity_id = $1" TOMBSTONE_AGAIN, d->id);
  if (rc == FK_OK) rc = exec_id(st, "deleting images", "DELETE FROM images WHERE identity_id = $1", d->id);
  if (rc == FK_OK) rc = exec_id(st, "deleting an identity", "DELETE FROM identities WHERE id = $1", d->id);
  return rc;
}

/* ---- claims (index.c) ----------------------------------------------------- *
 *
 * A claim is taken under FK_PG_LOCK, which every write transaction holds
 * until its commit: the claim then sees every image committed before it,
 * so a file another run has just stored (same path, size and mtime) is not
 * claimed again, and a claim held by a live run (not expired) is never
 * taken. A killed run's claims expire; the next claimer takes them over. */

#define EPOCH_NOW "extract(epoch FROM clock_timestamp())"

int fk_pg_claim(fk_store *st, const char *worker, int lease_s, const char *const *paths, const int64_t *size,
                const int64_t *mtime_ns, int n, uint8_t *got) {
  int rc = fk_pg_exec(st, "claiming files", "BEGIN; SELECT pg_advisory_xact_lock(" FK_STR(FK_PG_LOCK) ")", NULL,
                      NULL);
  for (int i = 0; rc == FK_OK && i < n; i++) {
    fk_pg_params p = {0};
    fk_pg_name(&p, paths[i]);
    fk_pg_text(&p, worker);
    fk_pg_int(&p, size[i]);
    fk_pg_int(&p, mtime_ns[i]);
    fk_pg_int(&p, lease_s);
    PGresult *r;
    /* xmax is set on a row the ON CONFLICT branch updated: a takeover */
    rc = fk_pg_exec(st, "claiming a file",
                    "INSERT INTO claims(path, worker, expires) SELECT $1, $2, " EPOCH_NOW " + $5"
                    " WHERE NOT EXISTS (SELECT 1 FROM images WHERE path = $1 AND size = $3 AND mtime_ns = $4"
                    " AND status != 'error') ON CONFLICT(path) DO UPDATE SET worker = EXCLUDED.worker,"
                    " expires = EXCLUDED.expires WHERE claims.expires < " EPOCH_NOW
                    " RETURNING (xmax::text <> '0')::int", &p, &r);
    if (rc == FK_OK) {
      got[i] = PQntuples(r) == 0 ? 0 : fk_pg_get_int(r, 0, 0) ? 2 : 1;
      PQclear(r);
    }
  }
  if (rc == FK_OK) return fk_pg_exec(st, "claiming files", "COMMIT", NULL, NULL);
  PQclear(PQexec(PG(st)->conn, "ROLLBACK"));
  return rc;
}

int fk_pg_renew(fk_store *st, const char *worker, int lease_s) {
  fk_pg_params p = {0};
  fk_pg_text(&p, worker);
  fk_pg_int(&p, lease_s);
  return fk_pg_exec(st, "renewing claims", "UPDATE claims SET expires = " EPOCH_NOW " + $2 WHERE worker = $1", &p,
                    NULL);
}

int fk_pg_release(fk_store *st, const char *worker, const char *path) {
  fk_pg_params p = {0};
  fk_pg_text(&p, worker);
  if (!path) return fk_pg_exec(st, "releasing claims", "DELETE FROM claims WHERE worker = $1", &p, NULL);
  fk_pg_name(&p, path);
  /* inside the run's write transaction, between its puts: held */
  return held(fk_pg_exec, st, "releasing a claim", "DELETE FROM claims WHERE worker = $1 AND path = $2", &p, NULL);
}
