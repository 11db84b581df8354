/*
 * uploads.c - an index's data directory: the photos a service is sent,
 * kept as DIR/IDENTITY/<sha256>.<ext> and written and removed only in step
 * with the rows that name them (issue 19).
 *
 * The order that keeps every acknowledged register's file:
 *   - a register (fk_store_add_upload) writes the file - a hidden temporary
 *     file, fsync, rename, fsync of the folder - before the transaction
 *     that stores its row, and removes it again if that transaction fails
 *     and the file was its own;
 *   - a delete removes the files of the image rows its commit removed,
 *     after the commit, and the identity's folder only when that leaves it
 *     empty (rmdir, which fails on a folder with anything in it);
 *   - both hold an exclusive flock on DIR/.lock from the file to the
 *     commit, so that a delete can never fall between a register's file and
 *     its commit, whichever thread or process either runs in (one
 *     fk_store is used by one thread; the lock orders several stores).
 * A writer killed between the file and the commit leaves a file that no
 * row names; fk_store_sweep_data_dir (facekit serve at start) removes
 * those, and temporary files, under the same lock, so that a later `index
 * DIR` never registers what no client was told was stored.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"

#define LOCK_NAME ".lock"
#define TMP_PREFIX ".upload-"

int fk_store_set_data_dir(fk_store *st, const char *dir) {
  if (!dir || !*dir) return fk_store_fail(st, FK_EINVAL, "fk_store_set_data_dir: no directory");
  char real[PATH_MAX], lock[PATH_MAX + 16];
  if (mkdir(dir, 0755) && errno != EEXIST)
    return fk_store_fail(st, FK_EREADONLY, "cannot make the data directory %s: %s", dir, strerror(errno));
  if (!realpath(dir, real)) return fk_store_fail(st, FK_EREADONLY, "data directory %s: %s", dir, strerror(errno));
  snprintf(lock, sizeof lock, "%s/" LOCK_NAME, real);
  int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fk_store_fail(st, FK_EREADONLY, "data directory %s: %s: %s", real, lock, strerror(errno));
  char *copy = strdup(real);
  if (!copy) {
    close(fd);
    return fk_store_fail(st, FK_ENOMEM, "out of memory");
  }
  fk_store_data_dir_close(st);
  st->data_dir = copy;
  st->data_lock = fd;
  return FK_OK;
}

void fk_store_data_dir_close(fk_store *st) {
  if (st->data_lock >= 0) close(st->data_lock);
  st->data_lock = -1;
  free(st->data_dir);
  st->data_dir = NULL;
}

/* The exclusive lock of the data directory (none without one). */
static int lock_dir(fk_store *st) {
  if (!st->data_dir) return FK_OK;
  while (flock(st->data_lock, LOCK_EX) != 0)
    if (errno != EINTR) return fk_store_fail(st, FK_EIO, "locking %s/" LOCK_NAME ": %s", st->data_dir, strerror(errno));
  return FK_OK;
}

static void unlock_dir(fk_store *st) {
  if (st->data_dir) flock(st->data_lock, LOCK_UN);
}

/* Is path a file below the data directory (DIR/...)? */
static int in_data_dir(const fk_store *st, const char *path) {
  size_t n = st->data_dir ? strlen(st->data_dir) : 0;
  return n && !strncmp(path, st->data_dir, n) && path[n] == '/';
}

/* Removes path's parent folder when it is an identity's folder of the data
 * directory and empty (rmdir refuses any other). */
static void drop_empty_parent(const fk_store *st, const char *path) {
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash && slash > dir + strlen(st->data_dir)) *slash = '\0', rmdir(dir);
}

void fk_store_unlink_removed(fk_store *st, const fk_removed_list *l) {
  for (size_t i = 0; i < l->n; i++)
    if (in_data_dir(st, l->paths[i]) && unlink(l->paths[i]) == 0) drop_empty_parent(st, l->paths[i]);
}

int fk_store_edit_locked(fk_store *st, int (*fn)(fk_store *st, void *arg), void *arg) {
  int rc = lock_dir(st);
  if (rc) return rc;
  rc = fn(st, arg);
  unlock_dir(st);
  return rc;
}

/* ---- registering ------------------------------------------------------------ */

/* The file name extension of the bytes' format, or NULL. */
static const char *image_ext(const uint8_t *d, size_t n) {
  if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "jpg";
  if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) return "png";
  if (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4)) return "webp";
  return NULL;
}

/* One folder name: not empty, not hidden, no '/'. */
static int valid_folder(const char *s) {
  size_t n = strlen(s);
  return n > 0 && n <= 255 && s[0] != '.' && !strchr(s, '/');
}

static int fsync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* Does the file at path hold exactly data[0..n)? */
static int same_bytes(const char *path, const uint8_t *data, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct stat sb;
  int same = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && (uint64_t)sb.st_size == n;
  uint8_t buf[65536];
  for (size_t at = 0; same && at < n;) {
    ssize_t r = read(fd, buf, n - at < sizeof buf ? n - at : sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    same = r > 0 && !memcmp(buf, data + at, (size_t)r);
    if (r > 0) at += (size_t)r;
  }
  close(fd);
  return same;
}

/* Puts data at path (in folder dir, which exists) durably: a temporary
 * file, fsync, rename over, fsync of the folder. */
static int write_file(fk_store *st, const char *dir, const char *path, const uint8_t *data, size_t n) {
  char tmp[PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s/" TMP_PREFIX "XXXXXX", dir);
  int fd = mkstemp(tmp);
  if (fd < 0) return fk_store_fail(st, FK_EREADONLY, "cannot store an upload under %s: %s", dir, strerror(errno));
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += (size_t)w;
  }
  int ok = done == n && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
  int err = errno;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) || fsync_dir(dir)) {
    if (ok) err = errno;
    unlink(tmp);
    return fk_store_fail(st, FK_EREADONLY, "cannot store an upload as %s: %s", path, strerror(err ? err : EIO));
  }
  return FK_OK;
}

typedef struct upload_job {
  fk_entry *e;
  const uint8_t *data;
  size_t n;
  const char *identity;
  int64_t *face_ids;
  int cap;
  fk_added *out;
} upload_job;

static int add_upload_locked(fk_store *st, void *arg) {
  upload_job *u = arg;
  fk_entry *e = u->e;
  char dir[PATH_MAX], path[PATH_MAX + 80];
  if ((size_t)snprintf(dir, sizeof dir, "%s/%s", st->data_dir, u->identity) >= sizeof dir)
    return fk_store_fail(st, FK_EINVAL, "identity '%s' is too long for a folder name", u->identity);
  snprintf(path, sizeof path, "%s/%s.%s", dir, e->hash, image_ext(u->data, u->n));
  char *p = strdup(path);
  if (!p) return fk_store_fail(st, FK_ENOMEM, "out of memory");
  free(e->path);
  e->path = p;
  int made_dir = mkdir(dir, 0755) == 0, created = 0, rc = FK_OK;
  struct stat sb;
  if (!made_dir && (errno != EEXIST || stat(dir, &sb) || !S_ISDIR(sb.st_mode)))
    return fk_store_fail(st, FK_EREADONLY, "cannot make the folder %s: %s", dir,
                         strerror(errno == EEXIST ? ENOTDIR : errno));
  if (made_dir && fsync_dir(st->data_dir))
    rc = fk_store_fail(st, FK_EREADONLY, "cannot store an upload under %s: %s", dir, strerror(errno));
  if (rc == FK_OK && !same_bytes(path, u->data, u->n)) {
    rc = write_file(st, dir, path, u->data, u->n);
    created = rc == FK_OK;
  }
  /* what a later index run compares: the file's size and time */
  if (rc == FK_OK && stat(path, &sb))
    rc = fk_store_fail(st, FK_EREADONLY, "cannot store an upload as %s: %s", path, strerror(errno));
  if (rc == FK_OK) {
    e->size = (int64_t)sb.st_size;
    e->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    rc = fk_store_add_entry(st, e, u->identity, u->face_ids, u->cap, u->out);
  }
  if (rc && created) unlink(path); /* ours, and no row names it */
  if (rc && (created || made_dir)) rmdir(dir);
  return rc;
}

int fk_store_add_upload(fk_store *st, fk_entry *e, const void *data, size_t n, const char *identity,
                        int64_t *face_ids, int cap, fk_added *out) {
  fk_added dummy;
  if (!out) out = &dummy;
  memset(out, 0, sizeof *out);
  if (!st->data_dir) return fk_store_fail(st, FK_EINVAL, "fk_store_add_upload: the index has no data directory");
  if (!e || !data || !identity || cap < 0 || (cap > 0 && !face_ids))
    return fk_store_fail(st, FK_EINVAL, "fk_store_add_upload: bad arguments");
  if (!valid_folder(identity))
    return fk_store_fail(st, FK_EINVAL, "identity '%s' cannot name a folder (empty, hidden or with '/')", identity);
  if (!image_ext(data, n)) return fk_store_fail(st, FK_EFORMAT, "the upload is not a JPEG, PNG or WebP image");
  char hash[65];
  fk_sha256_hex(data, n, hash);
  if ((int64_t)n != e->size || strcmp(hash, e->hash))
    return fk_store_fail(st, FK_EINVAL, "fk_store_add_upload: the entry was made from other bytes");
  if (e->nfaces == 0) return fk_store_fail(st, FK_ENOFACE, "no face detected in the upload: nothing stored");
  upload_job u = {e, data, n, identity, face_ids, cap, out};
  return fk_store_edit_locked(st, add_upload_locked, &u);
}

/* ---- sweeping ----------------------------------------------------------------- */

/* "IDENTITY/NAME" of a file that looks like an upload: 64 hex digits and
 * an image extension. */
static int upload_name(const char *name) {
  size_t i = 0;
  while (name[i] && ((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) i++;
  return i == 64 && (!strcmp(name + 64, ".jpg") || !strcmp(name + 64, ".png") || !strcmp(name + 64, ".webp"));
}

typedef struct sweep {
  fk_store *st;
  char **keys;   /* "IDENTITY/NAME" of the candidates */
  uint8_t *named;
  size_t n, cap;
  fk_map map;
} sweep;

static int add_candidate(sweep *s, const char *ident, const char *name) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    char **k = realloc(s->keys, cap * sizeof *k);
    if (!k) return FK_ENOMEM;
    s->keys = k;
    s->cap = cap;
  }
  size_t len = strlen(ident) + strlen(name) + 2;
  if (!(s->keys[s->n] = malloc(len))) return FK_ENOMEM;
  snprintf(s->keys[s->n], len, "%s/%s", ident, name);
  s->n++;
  return FK_OK;
}

/* The last two components of a stored path (relative or absolute alike). */
static const char *last_two(const char *path) {
  const char *a = path + strlen(path);
  for (int slashes = 0; a > path; a--)
    if (a[-1] == '/' && ++slashes == 2) break;
  return a;
}

static int mark_named(const fk_image_row *r, void *user) {
  sweep *s = user;
  int64_t i = fk_map_get_str(&s->map, last_two(r->path));
  if (i >= 0) s->named[i] = 1;
  return FK_OK;
}

typedef struct sweep_job {
  int64_t removed;
} sweep_job;

static int sweep_locked(fk_store *st, void *arg) {
  sweep_job *job = arg;
  sweep s = {.st = st};
  int64_t removed = 0;
  int rc = FK_OK;
  DIR *top = opendir(st->data_dir);
  if (!top) return fk_store_fail(st, FK_EREADONLY, "data directory %s: %s", st->data_dir, strerror(errno));
  struct dirent *d;
  char dir[PATH_MAX], path[PATH_MAX + 300];
  /* temporary files go at once; files named like uploads are candidates */
  while (rc == FK_OK && (d = readdir(top))) {
    if (d->d_name[0] == '.') continue;
    snprintf(dir, sizeof dir, "%s/%s", st->data_dir, d->d_name);
    DIR *sub = opendir(dir);
    if (!sub) continue; /* a file, or unreadable: not ours */
    struct dirent *f;
    while (rc == FK_OK && (f = readdir(sub))) {
      if (!strncmp(f->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) {
        snprintf(path, sizeof path, "%s/%s", dir, f->d_name);
        removed += unlink(path) == 0;
      } else if (upload_name(f->d_name)) {
        rc = add_candidate(&s, d->d_name, f->d_name) ? fk_store_fail(st, FK_ENOMEM, "out of memory") : FK_OK;
      }
    }
    closedir(sub);
  }
  closedir(top);
  if (rc == FK_OK && s.n) {
    if (!(s.named = calloc(s.n, 1))) rc = fk_store_fail(st, FK_ENOMEM, "out of memory");
    for (size_t i = 0; rc == FK_OK && i < s.n; i++)
      if (fk_map_put_str(&s.map, s.keys[i], (int64_t)i)) rc = fk_store_fail(st, FK_ENOMEM, "out of memory");
    /* every image row, whatever its path's form (absolute, or relative to
     * an index root), names its file by these two components */
    if (rc == FK_OK && (rc = st->ops->begin(st, FK_TXN_READ)) == FK_OK) {
      rc = st->ops->foreach_image(st, mark_named, &s);
      if (rc) st->ops->rollback(st);
      else rc = st->ops->commit(st);
    }
    for (size_t i = 0; rc == FK_OK && i < s.n; i++) {
      if (s.named[i]) continue;
      snprintf(path, sizeof path, "%s/%s", st->data_dir, s.keys[i]);
      if (unlink(path) == 0) removed++;
    }
  }
  /* and the identity folders that left empty */
  if (rc == FK_OK && (top = opendir(st->data_dir))) {
    while ((d = readdir(top)))
      if (d->d_name[0] != '.') {
        snprintf(dir, sizeof dir, "%s/%s", st->data_dir, d->d_name);
        rmdir(dir);
      }
    closedir(top);
  }
  for (size_t i = 0; i < s.n; i++) free(s.keys[i]);
  free(s.keys);
  free(s.named);
  fk_map_free(&s.map);
  job->removed = removed;
  return rc;
}

int fk_store_sweep_data_dir(fk_store *st, int64_t *removed) {
  if (removed) *removed = 0;
  if (!st->data_dir) return fk_store_fail(st, FK_EINVAL, "fk_store_sweep_data_dir: the index has no data directory");
  sweep_job job = {0};
  int rc = fk_store_edit_locked(st, sweep_locked, &job);
  if (removed) *removed = job.removed;
  return rc;
}
