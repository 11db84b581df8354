/*
 * sidecar.c - the index's vector cache, PATH.vec: the fk_vecs block (see
 * vecs.h) written to a file so that loading 1M faces is one mmap instead of
 * 1M row fetches. The faces table stays the source of truth: the sidecar
 * carries the index's uuid and generation, and a missing, foreign or stale
 * one is rebuilt from the table in one read transaction (and rewritten
 * atomically, tmp + fsync + rename, when the directory is writable).
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

void fk_store_unload(fk_store *st) {
  if (st->vecs.mapped) munmap(st->vecs.hdr, st->vecs.size);
  fk_vecs_free(&st->vecs);
  st->vecs_loaded = 0;
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

static int read_rows(fk_store *st, fk_vecs *v) {
  int64_t n;
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, "SELECT count(*) FROM faces", &q);
  if (rc) return rc;
  if (sqlite3_step(q) != SQLITE_ROW) rc = fk_store_sqlfail(st, "counting faces");
  n = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  if (rc) return rc;
  /* An index without a model yet holds no faces: any width does. */
  int dim = st->dim ? st->dim : 1;
  if ((rc = fk_vecs_alloc(v, n, dim)))
    return fk_store_fail(st, rc, "no memory for %lld vectors of %d", (long long)n, dim);
  rc = fk_store_prepare(st,
                        "SELECT f.id, f.image_id, coalesce(i.identity_id, -1), f.central, f.norm,"
                        " f.emb_f32, f.emb_i8 FROM faces f JOIN images i ON i.id = f.image_id"
                        " ORDER BY f.id", &q);
  int64_t r = 0;
  int step;
  while (rc == FK_OK && (step = sqlite3_step(q)) == SQLITE_ROW) {
    if (r == n || fill_row(q, v, r) != FK_OK)
      rc = fk_store_fail(st, FK_ECORRUPT, "%s: faces row %lld is malformed", st->path,
                         (long long)sqlite3_column_int64(q, 0));
    r++;
  }
  if (rc == FK_OK && step != SQLITE_DONE) rc = fk_store_sqlfail(st, "reading faces");
  if (rc == FK_OK && r != n) rc = fk_store_fail(st, FK_EDB, "%s: faces changed while reading", st->path);
  sqlite3_finalize(q);
  if (rc) fk_vecs_free(v);
  return rc;
}

/* Builds the vectors from the faces table, with the uuid and generation
 * read in the same transaction. */
static int build(fk_store *st, fk_vecs *v) {
  char uuid[40];
  int64_t gen;
  int rc = fk_store_exec(st, "BEGIN");
  if (rc) return rc;
  if ((rc = fk_store_meta_get(st, "uuid", uuid, sizeof uuid)) == FK_OK &&
      (rc = fk_store_meta_get_int(st, "generation", &gen)) == FK_OK && (rc = read_rows(st, v)) == FK_OK) {
    memcpy(v->hdr->uuid, uuid, sizeof uuid);
    v->hdr->generation = gen;
  }
  sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
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

/* Writes v to the sidecar atomically; failure leaves no partial file. */
static int save(fk_store *st, const fk_vecs *v) {
  char path[4200], tmp[4300];
  if (fk_store_sidecar_path(st, path, sizeof path)) return FK_EINVAL;
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return FK_EIO;
  int ok = write_all(fd, v->hdr, v->size) == 0 && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (ok && rename(tmp, path) == 0) return FK_OK;
  unlink(tmp);
  return FK_EIO;
}

/* Maps the sidecar if it belongs to this index at this generation. */
static int map_sidecar(fk_store *st, const char *uuid, int64_t gen, fk_vecs *v) {
  char path[4200];
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
  if (rc == FK_OK && (strncmp(v->hdr->uuid, uuid, sizeof v->hdr->uuid) || v->hdr->generation != gen ||
                      (v->n > 0 && v->dim != st->dim)))
    rc = FK_ENOENT;
  if (rc) {
    munmap(p, (size_t)sb.st_size);
    memset(v, 0, sizeof *v);
    return rc;
  }
  madvise(p, (size_t)sb.st_size, MADV_WILLNEED);
  return FK_OK;
}

int fk_store_sync_vectors(fk_store *st) {
  fk_vecs v;
  int rc = build(st, &v);
  if (rc) return rc;
  fk_store_unload(st);
  save(st, &v); /* a cache: searching works without it */
  st->vecs = v;
  st->vecs_generation = v.hdr->generation;
  st->vecs_loaded = 1;
  return FK_OK;
}

int fk_store_load(fk_store *st, int64_t *count) {
  char uuid[40];
  int64_t gen;
  int rc = fk_store_meta_get(st, "uuid", uuid, sizeof uuid);
  if (rc == FK_OK) rc = fk_store_meta_get_int(st, "generation", &gen);
  if (rc) return rc == FK_ENOENT ? fk_store_fail(st, FK_ENOTINDEX, "%s: meta table incomplete", st->path) : rc;
  if (!st->vecs_loaded || st->vecs_generation != gen) {
    fk_store_unload(st);
    fk_vecs v;
    if (map_sidecar(st, uuid, gen, &v) == FK_OK) {
      st->vecs = v;
      st->vecs_generation = gen;
      st->vecs_loaded = 1;
    } else if ((rc = fk_store_sync_vectors(st))) {
      return rc;
    }
  }
  if (count) *count = st->vecs.n;
  return FK_OK;
}
