/*
 * open.c - the face index handle, whatever its backend: fk_store_open picks
 * one by the locator (a PostgreSQL URI, else a SQLite file) and checks its
 * table's version; the meta helpers, the change waiting and closing reach
 * the backend through st->ops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int fk_store_meta_get_int(fk_store *st, const char *key, int64_t *out) {
  char buf[64];
  int rc = fk_store_meta_get(st, key, buf, sizeof buf);
  if (rc == FK_OK) *out = strtoll(buf, NULL, 10);
  return rc;
}

int fk_store_meta_get(fk_store *st, const char *key, char *buf, size_t size) {
  return st->ops->meta_get(st, key, buf, size);
}

int fk_store_meta_set(fk_store *st, const char *key, const char *value) {
  return st->ops->meta_set(st, key, value);
}

int fk_store_bump_generation(fk_store *st) { return st->ops->bump_generation(st); }

/* A PostgreSQL index has no files beside it: its vectors load with COPY. */
int fk_store_sidecar_path(const fk_store *st, char *buf, size_t size) {
  if (st->ops != &fk_sqlite_ops) return FK_EINVAL;
  return snprintf(buf, size, "%s.vec", st->path) < (int)size ? FK_OK : FK_EINVAL;
}

int fk_store_read_dim(fk_store *st, int absent) {
  int64_t dim = 0;
  int rc = fk_store_meta_get_int(st, "dim", &dim);
  if (rc == FK_ENOENT) {
    st->dim = absent;
    return FK_OK;
  }
  if (rc) return rc;
  if (dim < 1 || dim > FK_EMBED_MAX)
    return fk_store_fail(st, FK_ECORRUPT, "%s: meta.dim %lld is not an embedding width", st->path,
                         (long long)dim);
  st->dim = (int)dim;
  return FK_OK;
}

int fk_store_is_pg(const char *locator) {
  return !strncmp(locator, "postgresql:", 11) || !strncmp(locator, "postgres:", 9);
}

int fk_store_open(const char *path, int mode, fk_store **out) {
  *out = NULL;
  fk_store *st = calloc(1, sizeof *st);
  if (!st) return FK_ENOMEM;
  fk_vectors_init(&st->vs);
  st->data_lock = -1;
  st->ops = &fk_sqlite_ops;
  *out = st;
  if (!path || !*path || (mode != FK_STORE_READ && mode != FK_STORE_WRITE))
    return fk_store_fail(st, FK_EINVAL, "fk_store_open: bad arguments");
#ifdef FK_WITH_POSTGRES
  if (fk_store_is_pg(path)) st->ops = &fk_pg_ops;
#else
  if (fk_store_is_pg(path))
    return fk_store_fail(st, FK_EUNSUPPORTED, "PostgreSQL indexes are not available: facekit was built without "
                         "libpq (FK_WITH_POSTGRES=OFF)");
#endif
  if (st->ops->version != FK_STORE_OPS_VERSION)
    return fk_store_fail(st, FK_EUNSUPPORTED, "the %s backend's table is version %d; this facekit reads %d",
                         st->ops->name, st->ops->version, FK_STORE_OPS_VERSION);
  int rc = st->ops->open(st, path, mode);
  if (rc == FK_OK) st->err[0] = '\0'; /* an immutable retry may have succeeded */
  return rc;
}

const char *fk_store_errmsg(const fk_store *st) {
  if (!st) return "out of memory";
  return st->err[0] ? st->err : "ok";
}

void fk_store_close(fk_store *st) {
  if (!st) return;
  fk_store_ann_close(st);
  fk_vectors_destroy(&st->vs);
  st->ops->close(st);
  fk_store_data_dir_close(st);
  free(st->path);
  free(st);
}

int fk_store_wait_change(fk_store *st, int timeout_ms) {
  if (timeout_ms < 0) return fk_store_fail(st, FK_EINVAL, "fk_store_wait_change: negative timeout");
  return st->ops->wait_change(st, timeout_ms);
}
