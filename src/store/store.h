/*
 * store.h - internals of the face index (src/store/): the fk_store handle,
 * the SQLite schema and statement helpers shared by db.c (open, schema,
 * meta), index.c (building), sidecar.c (the memory-mapped vector cache),
 * search.c (k-NN and face lookup), ann_cache.c (the ANN graph cache,
 * PATH.faiss, over the faiss shim ann.h) and retrieval.c (eval retrieval).
 *
 * Schema (application_id 'FKIX', user_version FK_STORE_SCHEMA):
 *   meta(key PRIMARY KEY, value)     format, model, detector, input_size,
 *                                    min_score, max_faces, align, flip, uuid,
 *                                    generation, created
 *   identities(id, name UNIQUE)      parent folder names
 *   images(id, path UNIQUE, size, mtime_ns, hash, width, height, status
 *          'ok'|'no_face'|'error', error, identity_id, nfaces, indexed_at)
 *   faces(id, image_id -> images ON DELETE CASCADE, idx, x, y, w, h, score,
 *         landmarks BLOB (68 x {f32 x, f32 y}), model, central, norm,
 *         emb_f32 BLOB (dim f32, unit), emb_i8 BLOB (dim int8),
 *         UNIQUE(image_id, idx))
 * meta.dim is the embedding width of meta.model. BLOBs are little-endian
 * (the only byte order facekit builds for).
 *
 * Schema versions: 1 fixed the width at 128 in CHECK constraints (facekit
 * 0.1 with the one 128-d model); 2 takes any width. A version-1 index opens
 * as it is for reading and is migrated to 2, in one transaction, when opened
 * for writing.
 */
#ifndef FK_STORE_H
#define FK_STORE_H

#include <pthreadpool.h>
#include <sqlite3.h>
#include <stdint.h>

#include "facekit.h"
#include "store/vecs.h"

#define FK_STORE_APP_ID 0x464B4958 /* 'FKIX' */
#define FK_STORE_SCHEMA 2
#define FK_STORE_ERRMSG_MAX 1024

struct fk_ann;
struct fk_ann_searcher;

struct fk_store {
  sqlite3 *db;
  char *path;
  int writable;
  int dim;                 /* meta.dim: embedding width, 0 before a model */
  fk_vecs vecs;            /* loaded lazily by fk_store_load() */
  int vecs_loaded;
  int64_t vecs_generation; /* generation the loaded vectors belong to */
  pthreadpool_t pool;      /* scan threads, made on first multi-thread search */
  int pool_threads;
  struct fk_ann *ann;      /* HNSW graph (ann_cache.c), loaded on first ANN use */
  struct fk_ann_searcher *ann_searcher;
  int64_t ann_generation;  /* generation the graph is current with */
  char err[FK_STORE_ERRMSG_MAX];
};

/* Records a formatted message in st->err and returns status. */
int fk_store_fail(fk_store *st, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records SQLite's message for a failed call (with `what` as context) and
 * returns the matching FK_E* code. */
int fk_store_sqlfail(fk_store *st, const char *what);

/* Runs one or more SQL statements without results. */
int fk_store_exec(fk_store *st, const char *sql);

/* Prepares sql; on failure records the error. */
int fk_store_prepare(fk_store *st, const char *sql, sqlite3_stmt **out);

/* meta table access; get returns FK_ENOENT when the key is absent. */
int fk_store_meta_get(fk_store *st, const char *key, char *buf, size_t size);
int fk_store_meta_set(fk_store *st, const char *key, const char *value);
int fk_store_meta_get_int(fk_store *st, const char *key, int64_t *out);

/* Increments meta.generation (inside the caller's transaction). */
int fk_store_bump_generation(fk_store *st);

/* The sidecar path: PATH.vec. */
int fk_store_sidecar_path(const fk_store *st, char *buf, size_t size);

/* Rebuilds the sidecar from the faces table and writes it atomically; keeps
 * the result loaded. Used by index.c at the end of a run. */
int fk_store_sync_vectors(fk_store *st);

/* Drops loaded vectors (after the faces table changed). */
void fk_store_unload(fk_store *st);

/* ann_cache.c: the ANN graph cache, PATH.faiss. */
int fk_store_ann_path(const fk_store *st, char *buf, size_t size);
void fk_store_ann_unload(fk_store *st);
/* Refreshes the graph after an indexing run when the index is big enough
 * for auto searches to use it, or already has one. */
void fk_store_ann_refresh(fk_store *st, int threads);
/* The ANN candidates of s (ef explored in graph a, labelled by the face
 * ids of s->v) ranked exactly, as fk_scan_run would rank all rows. */
int fk_scan_ann(const struct fk_ann *a, struct fk_ann_searcher *sr, const fk_scan *s, int ef, fk_hit *out,
                int *n, char *err, size_t errsize);
/* fk_scan_ann over st's graph, current (fk_store_load_ann) with st->vecs. */
int fk_store_ann_search(fk_store *st, const fk_scan *s, int ef, fk_hit *out, int *n);

/* The pool for `threads` scan threads (NULL for 1), made on demand. */
pthreadpool_t fk_store_pool(fk_store *st, int threads);

/* SHA-256 of data as 64 lowercase hex digits and a NUL. */
void fk_sha256_hex(const void *data, size_t n, char out[65]);

/* Canonical text of the preprocessing options, as compared between runs. */
void fk_store_opt_describe(const fk_options *o, char *buf, size_t size);

/* A string -> int64 hash map (open addressing); keys are not copied. */
typedef struct fk_strmap {
  const char **keys;
  int64_t *vals;
  size_t cap, n;
} fk_strmap;

int fk_strmap_put(fk_strmap *m, const char *key, int64_t val); /* FK_OK / FK_ENOMEM */
int64_t fk_strmap_get(const fk_strmap *m, const char *key);    /* -1 if absent */
void fk_strmap_free(fk_strmap *m);

/* One image file found under the indexed directory. */
typedef struct fk_walk_entry {
  char *path;            /* absolute */
  const char *identity;  /* points into path: the parent folder's name, or NULL
                            for files directly in the root */
  size_t identity_len;
  int64_t size, mtime_ns;
} fk_walk_entry;

typedef struct fk_walk {
  fk_walk_entry *e;
  size_t n, cap;
  int64_t skipped;       /* non-image files */
  char *root;            /* realpath of the directory, no trailing slash */
} fk_walk;

/* Lists the image files (.jpg .jpeg .png .webp, any case) under dir,
 * recursively, sorted by path. Hidden entries (".name") are skipped and
 * symlinked directories are not followed. on_error (may be NULL) hears of
 * unreadable subdirectories. */
int fk_walk_dir(fk_store *st, const char *dir, fk_walk *w,
                void (*on_error)(const char *path, const char *msg, void *user), void *user);
void fk_walk_free(fk_walk *w);

/* Records the model fingerprint, its width and the preprocessing in meta
 * (inside the caller's transaction). */
int fk_store_record_model(fk_store *st, const char *model, int dim, const fk_options *o);

#endif /* FK_STORE_H */
