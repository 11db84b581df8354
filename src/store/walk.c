/*
 * walk.c - what fk_store_index() reads before it works: the recursive list
 * of image files under a directory (by extension, any case; path, size,
 * mtime and the identity taken from the parent folder).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "store/store.h"

/* ---- directory walk ------------------------------------------------------ */

static int is_image_name(const char *name) {
  const char *dot = strrchr(name, '.');
  if (!dot) return 0;
  static const char *const ext[] = {".jpg", ".jpeg", ".png", ".webp"};
  for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
    if (!strcasecmp(dot, ext[i])) return 1;
  return 0;
}

typedef struct walker {
  fk_store *st;
  fk_walk *w;
  size_t root_len;
  void (*on_error)(const char *path, const char *msg, void *user);
  void *user;
} walker;

static int add(walker *k, const char *path, const struct stat *sb) {
  fk_walk *w = k->w;
  if (w->n == w->cap) {
    size_t cap = w->cap ? w->cap * 2 : 1024;
    fk_walk_entry *e = realloc(w->e, cap * sizeof *e);
    if (!e) return FK_ENOMEM;
    w->e = e;
    w->cap = cap;
  }
  fk_walk_entry *e = &w->e[w->n];
  if (!(e->path = strdup(path))) return FK_ENOMEM;
  e->size = sb->st_size;
  e->mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec;
  /* identity: the last folder of the path below the root, if any */
  const char *rel = e->path + k->root_len + 1, *slash = strrchr(rel, '/');
  e->identity = NULL;
  e->identity_len = 0;
  if (slash) {
    const char *start = slash;
    while (start > rel && start[-1] != '/') start--;
    e->identity = start;
    e->identity_len = (size_t)(slash - start);
  }
  w->n++;
  return FK_OK;
}

static int walk(walker *k, char *path, size_t len) {
  DIR *d = opendir(path);
  if (!d) {
    if (k->on_error) k->on_error(path, strerror(errno), k->user);
    return FK_OK;
  }
  int rc = FK_OK;
  struct dirent *de;
  while (rc == FK_OK && (de = readdir(d))) {
    const char *name = de->d_name;
    if (name[0] == '.') continue; /* ., .., and hidden files (._x.jpg, .thumbnails) */
    size_t nlen = strlen(name);
    if (len + 1 + nlen >= PATH_MAX) {
      k->w->errors += is_image_name(name); /* an image that cannot be stored */
      if (k->on_error) k->on_error(path, "path too long below this directory", k->user);
      continue;
    }
    path[len] = '/';
    memcpy(path + len + 1, name, nlen + 1);
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
      rc = walk(k, path, len + 1 + nlen);
    } else if (is_image_name(name)) {
      /* symlinks to files are followed */
      if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) rc = add(k, path, &sb);
      else if (k->w->errors++, k->on_error) k->on_error(path, "not a regular file", k->user);
    } else {
      k->w->skipped++;
    }
    path[len] = '\0';
  }
  closedir(d);
  return rc;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const fk_walk_entry *)a)->path, ((const fk_walk_entry *)b)->path);
}

int fk_walk_dir(fk_store *st, const char *dir, fk_walk *w,
                void (*on_error)(const char *path, const char *msg, void *user), void *user) {
  memset(w, 0, sizeof *w);
  char path[PATH_MAX];
  struct stat sb;
  if (stat(dir, &sb) != 0)
    return fk_store_fail(st, errno == ENOENT ? FK_ENOENT : FK_EIO, "%s: %s", dir, strerror(errno));
  if (!S_ISDIR(sb.st_mode)) return fk_store_fail(st, FK_EINVAL, "%s is not a directory", dir);
  if (!realpath(dir, path)) return fk_store_fail(st, FK_EIO, "%s: %s", dir, strerror(errno));
  size_t len = strlen(path);
  if (len == 1) len = 0, path[0] = '\0'; /* the root directory: no double slash */
  if (!(w->root = strdup(len ? path : "/"))) return fk_store_fail(st, FK_ENOMEM, "out of memory");
  walker k = {st, w, len, on_error, user};
  int rc = walk(&k, len ? path : strcpy(path, "/") /* opendir("/") */, len);
  if (rc) return fk_store_fail(st, rc, "listing %s: %s", dir, fk_strerror(rc));
  if (w->n) qsort(w->e, w->n, sizeof *w->e, cmp_entry);
  return FK_OK;
}

void fk_walk_free(fk_walk *w) {
  for (size_t i = 0; i < w->n; i++) free(w->e[i].path);
  free(w->e);
  free(w->root);
  memset(w, 0, sizeof *w);
}
