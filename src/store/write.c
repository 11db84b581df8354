/*
 * write.c - turning one image file into what the index stores, and storing
 * it: reading and hashing the file, decoding, detecting and embedding its
 * faces (fk_entry: on any thread, with that thread's session), and the
 * statements that write an image row with all its faces (fk_writer: on the
 * store's thread, inside the caller's transaction). fk_store_index() (many
 * files, batched) and fk_store_add_entry() (one file) both go through here,
 * so an image registered alone is stored exactly as indexing would store it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/clock.h"
#include "face/face.h"
#include "store/store.h"

#define MAX_FILE_BYTES ((int64_t)1 << 30)

/* ---- entries ----------------------------------------------------------- */

int fk_entry_read(const char *path, uint8_t **buf, size_t *cap, size_t *n, fk_entry *en) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  struct stat sb;
  int err = 0;
  if (fstat(fd, &sb) != 0) err = errno;
  else if (!S_ISREG(sb.st_mode)) err = EISDIR;
  else if (sb.st_size > MAX_FILE_BYTES) err = EFBIG;
  size_t want = err ? 0 : (size_t)sb.st_size;
  if (!err && want + 1 > *cap) {
    uint8_t *p = realloc(*buf, want + 1);
    if (!p) err = ENOMEM;
    else *buf = p, *cap = want + 1;
  }
  size_t got = 0;
  while (!err && got < want) {
    ssize_t r = read(fd, *buf + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) err = errno;
    else if (r == 0) break; /* shrank while reading: hash what is there */
    else got += (size_t)r;
  }
  close(fd);
  *n = got;
  if (err) return err;
  en->size = (int64_t)got;
  en->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
  fk_sha256_hex(*buf, got, en->hash);
  return 0;
}

void fk_entry_embed(fk_session *s, const uint8_t *data, size_t n, fk_face *scratch, fk_entry *en) {
  fk_image img = {0};
  double t = fk_now_s();
  int rc = fk_image_decode(data, n, s->opt.max_pixels, &img);
  en->t_decode = fk_now_s() - t;
  en->rc = rc;
  if (rc) {
    en->status = FK_ENTRY_ERROR;
    snprintf(en->error, sizeof en->error, "%s", fk_strerror(rc));
    return;
  }
  en->width = img.width;
  en->height = img.height;
  int cap = s->opt.max_faces, nd = 0;
  t = fk_now_s();
  rc = fk_detect(s, &img, scratch, cap, &nd);
  en->t_detect = fk_now_s() - t;
  if (nd > cap) nd = cap;
  t = fk_now_s();
  for (int i = 0; rc == FK_OK && i < nd; i++) rc = fk_represent(s, &img, &scratch[i]);
  en->t_represent = fk_now_s() - t;
  if (rc == FK_OK && nd > 0 && !(en->faces = malloc((size_t)nd * sizeof *en->faces)))
    rc = fk_session_fail(s, FK_ENOMEM, "out of memory");
  en->rc = rc;
  if (rc) {
    en->status = FK_ENTRY_ERROR;
    snprintf(en->error, sizeof en->error, "%s", fk_session_errmsg(s));
  } else if (nd == 0) {
    en->status = FK_ENTRY_NOFACE;
  } else {
    memcpy(en->faces, scratch, (size_t)nd * sizeof *en->faces);
    en->nfaces = nd;
    en->central = fk_central_face(en->faces, nd, img.width, img.height);
    en->status = FK_ENTRY_OK;
  }
  fk_image_free(&img);
}

/* An entry named `path`: of the file there (data NULL), or of the n bytes
 * at data (size and hash from them; the file comes later). */
static int entry_make(fk_session *s, const char *path, const uint8_t *data, size_t n, fk_entry **out) {
  *out = NULL;
  if (!s || !path) return FK_EINVAL;
  fk_entry *en = calloc(1, sizeof *en);
  fk_face *scratch = calloc((size_t)s->opt.max_faces, sizeof *scratch);
  uint8_t *buf = NULL;
  size_t cap = 0;
  int rc = en && scratch && (en->path = strdup(path)) ? FK_OK : FK_ENOMEM;
  if (rc) fk_session_fail(s, rc, "out of memory");
  if (rc == FK_OK && (rc = fk_model_id(s->m, s->opt.model, en->model, sizeof en->model)))
    fk_session_fail(s, rc, "the nets of model %s are not loaded", fk_model_name(s->opt.model));
  if (rc == FK_OK && data) {
    en->size = (int64_t)n;
    fk_sha256_hex(data, n, en->hash);
  } else if (rc == FK_OK) {
    int err = fk_entry_read(path, &buf, &cap, &n, en);
    if (err) {
      rc = err == ENOENT ? FK_ENOENT : err == ENOMEM ? FK_ENOMEM : FK_EIO;
      fk_session_fail(s, rc, "cannot read %s: %s", path, err == EFBIG ? "larger than 1 GiB" : strerror(err));
    }
    data = buf;
  }
  if (rc == FK_OK) {
    en->opt = s->opt;
    fk_entry_embed(s, data, n, scratch, en);
    if ((rc = en->rc) && en->width == 0) fk_session_fail(s, rc, "%s: %s", path, fk_strerror(rc)); /* decoding */
  }
  free(buf);
  free(scratch);
  if (rc) {
    fk_entry_free(en);
    return rc;
  }
  *out = en;
  return FK_OK;
}

int fk_entry_new(fk_session *s, const char *path, fk_entry **out) { return entry_make(s, path, NULL, 0, out); }

int fk_entry_new_bytes(fk_session *s, const void *data, size_t n, const char *name, fk_entry **out) {
  if (!data) {
    *out = NULL;
    return FK_EINVAL;
  }
  if ((int64_t)n > MAX_FILE_BYTES) {
    *out = NULL;
    return fk_session_fail(s, FK_ETOOBIG, "%s: larger than 1 GiB", name ? name : "the image");
  }
  return entry_make(s, name ? name : "the image", data, n, out);
}

int fk_entry_faces(const fk_entry *e, const fk_face **faces, int *central) {
  if (faces) *faces = e->faces;
  if (central) *central = e->nfaces ? e->central : -1;
  return e->nfaces;
}

int fk_entry_keep_face(fk_entry *e, int k) {
  if (!e || e->nfaces == 0) return FK_ENOFACE;
  if (k < 0) k = e->central;
  if (k < 0 || k >= e->nfaces) return FK_EINVAL;
  if (k) e->faces[0] = e->faces[k];
  e->nfaces = 1;
  e->central = 0;
  return k;
}

void fk_entry_free(fk_entry *e) {
  if (!e) return;
  free(e->faces);
  free(e->path);
  free(e);
}

/* ---- the writer (shared) ------------------------------------------------- */

int fk_writer_init(fk_writer *w, fk_store *st) {
  memset(w, 0, sizeof *w);
  w->st = st;
  return st->ops->writer_init(w);
}

void fk_writer_free(fk_writer *w) {
  if (w->st && w->impl) w->st->ops->writer_free(w);
  fk_map_free(&w->identities);
  for (size_t i = 0; i < w->nnames; i++) free(w->names[i]);
  free(w->names);
  memset(w, 0, sizeof *w);
}

int fk_writer_identity(fk_writer *w, const char *name, size_t len, int64_t *id) {
  *id = 0;
  if (!name || len == 0) return FK_OK;
  char buf[1024];
  snprintf(buf, sizeof buf, "%.*s", (int)len, name);
  if ((*id = fk_map_get_str(&w->identities, buf)) >= 0) return FK_OK;
  int rc = w->st->ops->identity(w, buf, id);
  if (rc) return rc;
  char *copy = strdup(buf);
  char **names = copy ? realloc(w->names, (w->nnames + 1) * sizeof *names) : NULL;
  if (!names) {
    free(copy);
    return fk_store_fail(w->st, FK_ENOMEM, "out of memory");
  }
  w->names = names;
  names[w->nnames++] = copy;
  return fk_map_put_str(&w->identities, copy, *id);
}

int fk_writer_put(fk_writer *w, const fk_entry *en, int64_t identity, const char *model, int64_t *image_id) {
  return w->st->ops->put(w, en, identity, model, image_id);
}

int fk_face_codes(fk_store *st, const fk_face *f, float *unit, int8_t *code, double *norm) {
  const int dim = f->dim;
  if (dim != st->dim)
    return fk_store_fail(st, FK_EMISMATCH, "a %d-d embedding for an index of %d-d ones", dim, st->dim);
  *norm = fk_vec_norm(f->embedding, dim);
  memcpy(unit, f->embedding, (size_t)dim * sizeof *unit);
  fk_vec_normalize(unit, dim);
  fk_vec_quantize_i8(unit, code, dim);
  return FK_OK;
}

/* ---- the SQLite writer --------------------------------------------------- */

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

const char *const fk_entry_status_names[] = {[FK_ENTRY_OK] = "ok", [FK_ENTRY_NOFACE] = "no_face",
                                              [FK_ENTRY_ERROR] = "error"};

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
