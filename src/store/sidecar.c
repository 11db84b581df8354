/*
 * sidecar.c - the index's vector cache, PATH.vec: the fk_vecs block (see
 * vecs.h) written to a file so that loading 1M faces is one mmap instead of
 * 1M row fetches. The faces table stays the source of truth: the sidecar
 * carries the index's uuid and the change sequence it reflects, so a reader
 * maps it and catches up from there (vectors.c); a missing, foreign or
 * corrupt one is rebuilt from the table (and rewritten atomically, tmp +
 * fsync + rename, when the directory is writable).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

void fk_sidecar_unmap(fk_vecs *v) {
  if (v->mapped) munmap(v->hdr, v->size);
  else fk_vecs_free(v);
  memset(v, 0, sizeof *v);
}

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

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

int fk_sidecar_save(fk_store *st, const fk_vecs *v, const char *uuid, int64_t generation, int64_t seq) {
  char path[4200], tmp[4300];
  if (fk_store_sidecar_path(st, path, sizeof path)) return FK_EINVAL;
  fk_vecs exact = {0};
  int rc = FK_OK;
  int64_t live = 0;
  for (int64_t i = 0; i < v->n; i++) live += !(v->flags[i] & FK_VEC_DELETED);
  if (v->cap != live) { /* spare rows or tombstones: write a compact copy */
    if ((rc = fk_vecs_copy(v, live, 1, &exact))) return rc;
    v = &exact;
  }
  fk_vecs_header h = *v->hdr;
  snprintf(h.uuid, sizeof h.uuid, "%s", uuid);
  h.generation = generation;
  h.seq = seq;
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) rc = FK_EIO;
  if (rc == FK_OK) {
    int ok = write_all(fd, &h, sizeof h) == 0 &&
             write_all(fd, (const char *)v->hdr + sizeof h, v->size - sizeof h) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
      unlink(tmp);
      rc = FK_EIO;
    }
  }
  fk_vecs_free(&exact);
  return rc;
}

int fk_sidecar_map(fk_store *st, const char *uuid, fk_vecs *v) {
  char path[4200];
  memset(v, 0, sizeof *v);
  if (fk_store_sidecar_path(st, path, sizeof path)) return FK_EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FK_ENOENT;
  struct stat sb;
  void *p = MAP_FAILED;
  if (fstat(fd, &sb) == 0 && sb.st_size >= (off_t)sizeof(fk_vecs_header))
    p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) return FK_EIO;
  int rc = fk_vecs_attach(v, p, (size_t)sb.st_size, 1);
  if (rc == FK_OK && (strncmp(v->hdr->uuid, uuid, sizeof v->hdr->uuid) || (v->n > 0 && v->dim != st->dim)))
    rc = FK_ENOENT;
  if (rc) {
    munmap(p, (size_t)sb.st_size);
    memset(v, 0, sizeof *v);
    return rc;
  }
  madvise(p, (size_t)sb.st_size, MADV_WILLNEED);
  return FK_OK;
}
