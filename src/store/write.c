/*
 * write.c - turning one image file into what the index stores, and storing
 * it: reading and hashing the file, decoding, detecting and embedding its
 * faces (fk_entry: on any thread, with that thread's session), and the
 * writer that stores an image row with all its faces (fk_writer: on the
 * store's thread, inside the caller's transaction, through the backend's
 * statements). fk_store_index() (many
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
  const fk_options *opt = fk_session_options(s);
  int rc = fk_image_decode(data, n, opt->max_pixels, &img);
  en->t_decode = fk_now_s() - t;
  en->rc = rc;
  if (rc) {
    en->status = FK_ENTRY_ERROR;
    snprintf(en->error, sizeof en->error, "%s", fk_strerror(rc));
    return;
  }
  en->width = img.width;
  en->height = img.height;
  int cap = opt->max_faces, nd = 0;
  double stage[2];
  rc = fk_faces_timed(s, &img, scratch, cap, &nd, stage);
  en->t_detect = stage[0];
  en->t_represent = stage[1];
  if (nd > cap) nd = cap;
  /* a pipeline failure is the session's to explain; the entry's own is not */
  const char *why = rc ? fk_session_errmsg(s) : "out of memory";
  if (rc == FK_OK && nd > 0 && !(en->faces = malloc((size_t)nd * sizeof *en->faces))) rc = FK_ENOMEM;
  en->rc = rc;
  if (rc) {
    en->status = FK_ENTRY_ERROR;
    snprintf(en->error, sizeof en->error, "%s", why);
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
  const fk_options *opt = fk_session_options(s);
  fk_entry *en = calloc(1, sizeof *en);
  fk_face *scratch = calloc((size_t)opt->max_faces, sizeof *scratch);
  uint8_t *buf = NULL;
  size_t cap = 0;
  int rc = en && scratch && (en->path = strdup(path)) ? FK_OK : FK_ENOMEM;
  if (rc) fk_session_set_error(s, rc, "out of memory");
  if (rc == FK_OK && (rc = fk_session_model_id(s, en->model, sizeof en->model)))
    fk_session_set_error(s, rc, "the nets of model %s are not loaded", fk_model_name(opt->model));
  if (rc == FK_OK && data) {
    en->size = (int64_t)n;
    fk_sha256_hex(data, n, en->hash);
  } else if (rc == FK_OK) {
    int err = fk_entry_read(path, &buf, &cap, &n, en);
    if (err) {
      rc = err == ENOENT ? FK_ENOENT : err == ENOMEM ? FK_ENOMEM : FK_EIO;
      fk_session_set_error(s, rc, "cannot read %s: %s", path, err == EFBIG ? "larger than 1 GiB" : strerror(err));
    }
    data = buf;
  }
  if (rc == FK_OK) {
    en->opt = *opt;
    fk_entry_embed(s, data, n, scratch, en);
    if ((rc = en->rc) && en->width == 0) fk_session_set_error(s, rc, "%s: %s", path, fk_strerror(rc)); /* decoding */
    else if (rc) fk_session_set_error(s, rc, "%s", en->error); /* fk_entry_new's caller reads the session's */
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
    return fk_session_set_error(s, FK_ETOOBIG, "%s: larger than 1 GiB", name ? name : "the image");
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

const char *const fk_entry_status_names[] = {[FK_ENTRY_OK] = "ok", [FK_ENTRY_NOFACE] = "no_face",
                                              [FK_ENTRY_ERROR] = "error"};
