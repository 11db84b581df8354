/*
 * files.c - nn_files (files.h): the directory reader the model loaders use
 * in production, and the path helpers they share.
 */
#include "nn/files.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"

int nn_files_name_ok(const char *name) {
  if (!name[0] || name[0] == '/' || name[0] == '\\') return 0;
  for (const char *s = name;;) {
    size_t n = strcspn(s, "/\\");
    if (n == 2 && s[0] == '.' && s[1] == '.') return 0;
    if (!s[n]) return 1;
    s += n + 1;
  }
}

char *nn_files_path(const nn_files *fs, const char *name) {
  const char *dir = fs->dir ? fs->dir : "";
  size_t a = strlen(dir), b = strlen(name);
  int slash = a > 0 && dir[a - 1] != '/';
  char *p = malloc(a + (size_t)slash + b + 1);
  if (!p) return NULL;
  memcpy(p, dir, a);
  if (slash) p[a] = '/';
  memcpy(p + a + (size_t)slash, name, b + 1);
  return p;
}

/* Reads f to its end; the size is not known in advance (pipes work too). */
static int read_stream(FILE *f, char **data, size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap + 1);
  if (!b) return FK_ENOMEM;
  for (;;) {
    n += fread(b + n, 1, cap - n, f);
    if (n < cap) break;
    char *nb = cap < NN_MAX_FILE_BYTES ? realloc(b, cap * 2 + 1) : NULL;
    if (!nb) {
      free(b);
      return FK_ENOMEM;
    }
    b = nb;
    cap *= 2;
  }
  if (ferror(f)) {
    free(b);
    return FK_EIO;
  }
  b[n] = '\0';
  *data = b;
  *len = n;
  return FK_OK;
}

static int dir_read(const nn_files *fs, const char *name, char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  char *path = nn_files_path(fs, name);
  if (!path) return FK_ENOMEM;
  FILE *f = fopen(path, "rb");
  int rc = f ? read_stream(f, data, len)
             : errno == ENOENT || errno == ENOTDIR ? FK_ENOENT : FK_EIO;
  if (f) fclose(f);
  free(path);
  return rc;
}

nn_files nn_files_dir(const char *dir) {
  return (nn_files){.read = dir_read, .dir = dir ? dir : ""};
}

int nn_files_split(const char *path, char **dir, const char **base) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) + (slash == path) : 0;
  *dir = malloc(n + 1);
  if (!*dir) return FK_ENOMEM;
  memcpy(*dir, path, n);
  (*dir)[n] = '\0';
  *base = slash ? slash + 1 : path;
  return FK_OK;
}
