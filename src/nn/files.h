/*
 * files.h - how the model loaders read a model's files: the manifest or
 * model.json they are given, and the shards it names.
 *
 * Production reads a directory (nn_files_dir); the fuzz targets
 * (tests/fuzz/) serve the same names from memory. Either way the loaders run
 * the same code and the same checks (a shard name may not leave the model's
 * directory, sizes are compared with the bytes read), so fuzzing the
 * in-memory path tests the on-disk one.
 */
#ifndef FK_NN_FILES_H
#define FK_NN_FILES_H

#include <stddef.h>

/* Files larger than this are refused (FK_ENOMEM, "too large") before the
 * buffer grows past it. */
#define NN_MAX_FILE_BYTES ((size_t)1 << 30)

typedef struct nn_files nn_files;
struct nn_files {
  /* Reads all of file `name` (relative to the model's directory, already
   * checked by the loader) into a malloc'd buffer with a NUL after its *len
   * bytes. Returns FK_OK, FK_ENOENT (no such file), FK_EIO or FK_ENOMEM
   * (out of memory, or larger than NN_MAX_FILE_BYTES); on failure *data is
   * NULL. */
  int (*read)(const nn_files *fs, const char *name, char **data, size_t *len);
  const char *dir; /* the directory ("" = current), also for messages */
  const void *ctx; /* the reader's own state */
};

/* A reader of the files in dir (not copied; "" or NULL = current directory). */
nn_files nn_files_dir(const char *dir);

/* Splits path into its directory (malloc'd into *dir, "" when path has no
 * '/') and base name (*base points into path). FK_OK or FK_ENOMEM. */
int nn_files_split(const char *path, char **dir, const char **base);

/* Whether name, from a model file, may be read through an nn_files: it is
 * relative and stays inside the model's directory (no ".." component; '\\'
 * counts as a separator too). */
int nn_files_name_ok(const char *name);

/* "dir/name" (or name when dir is empty), malloc'd, for messages and for
 * opening; NULL when out of memory. */
char *nn_files_path(const nn_files *fs, const char *name);

#endif /* FK_NN_FILES_H */
