/*
 * store.h - internals of the face index (src/store/): the fk_store handle,
 * the backend interface (fk_store_ops: SQLite in sqlite/, PostgreSQL in
 * pg/), the schema both keep, and the backend-neutral code: open.c (the
 * handle, meta), recorded.c (the recorded pipeline and its checks), write.c
 * (storing images with their faces), index.c (building from a directory),
 * edit.c (adding and deleting single images), sidecar.c (the memory-mapped
 * vector file), vectors.c (the loaded
 * vectors and how they follow the index), ann_cache.c (the ANN graph over
 * them and its cache file PATH.faiss, on the faiss shim ann.h), search.c
 * (k-NN and face lookup) and retrieval.c (eval retrieval).
 *
 * Schema (application_id 'FKIX', user_version FK_STORE_SCHEMA):
 *   meta(key PRIMARY KEY, value)     format, model, dim, detector, input_size,
 *                                    min_score, max_faces, align, flip, uuid,
 *                                    generation, seq, created
 *   identities(id, name UNIQUE)      parent folder names
 *   images(id, path UNIQUE, size, mtime_ns, hash, width, height, status
 *          'ok'|'no_face'|'error', error, identity_id, nfaces, indexed_at)
 *   faces(id AUTOINCREMENT, image_id -> images ON DELETE CASCADE, idx, x, y,
 *         w, h, score, landmarks BLOB (68 x {f32 x, f32 y}), model, central,
 *         norm, emb_f32 BLOB (dim f32, unit), emb_i8 BLOB (dim int8), seq,
 *         UNIQUE(image_id, idx))
 *   deleted(seq PRIMARY KEY, face_id)   tombstones of deleted faces
 *   deleted_files(path PRIMARY KEY, deleted_at)   paths whose image row a
 *         delete removed (fk_store_delete_face / _identity): an index run
 *         leaves such a file out until the path is stored again (put and
 *         move clear it) or the run has forget_deletions
 * meta.dim is the embedding width of meta.model. BLOBs are little-endian
 * (the only byte order facekit builds for).
 *
 * The change sequence. meta.seq counts changes to the set of face vectors.
 * Triggers (sqlite/db.c), which no writer can bypass, keep it:
 *   - a face inserted takes the next seq in faces.seq;
 *   - a face deleted (directly, or by cascade from its image) leaves a
 *     tombstone (next seq, its id) in deleted;
 *   - an image whose identity changes gives each of its faces the next seq,
 *     as if inserted again.
 * SQLite serializes writers, so seq grows in commit order, and a reader
 * whose vectors reflect seq S reaches any later state S' by reading, in one
 * read transaction, the tombstones with seq in (S, S'] and then the faces
 * with seq in (S, S'] (inserted or relabelled): it marks the first deleted
 * and upserts the second, by face id. Face ids are never reused
 * (AUTOINCREMENT), so new faces always sort after every loaded one and the
 * vectors stay in id order by appending. Tombstones are kept (16 bytes a
 * deleted face), so a reader at any earlier seq can catch up. meta.generation
 * still counts commits that change faces, as before.
 * The PostgreSQL backend (pg/pg.c) keeps the same three rules with the same
 * columns, by triggers too, and its writers also run one at a time (an
 * advisory lock held to commit), so its readers follow it the same way.
 *
 * Schema versions: 1 fixed the width at 128 in CHECK constraints (facekit
 * 0.1 with the one 128-d model); 2 takes any width; 3 adds the change
 * sequence (faces.seq, deleted, the triggers, meta.seq) and AUTOINCREMENT
 * face ids; 4 adds deleted_files. An older index opens as it is for
 * reading (its vectors then reload whole when meta.generation moves) and is
 * migrated to 4, in one transaction, when opened for writing.
 */
#ifndef FK_STORE_H
#define FK_STORE_H

#include <pthread.h>
#include <pthreadpool.h>
#include <stdint.h>

#include "base/error.h"
#include "base/hash.h" /* fk_map */
#include "facekit.h"
#include "store/vecs.h"

#define FK_STORE_APP_ID 0x464B4958 /* 'FKIX' */
#define FK_STORE_SCHEMA 4
#define FK_STORE_ERRMSG_MAX 1024
#define FK_STR_(x) #x
#define FK_STR(x) FK_STR_(x)

/* The loaded vectors of an index (fk_vectors in facekit.h). v is written
 * only by the thread that owns the store, which holds the write lock while
 * it changes rows that searches may read; searches from other threads hold
 * the read lock. Rows are in face id order; deleted ones are flagged until
 * a compaction drops them. */
struct fk_vectors {
  pthread_rwlock_t lock;
  fk_vecs v;
  int loaded;
  int64_t deleted;         /* rows flagged FK_VEC_DELETED */
  char uuid[40];           /* the index they belong to, and the generation */
  int64_t generation, seq; /* and change sequence they reflect (seq -1: an
                              index of format < 3) */
  pthread_mutex_t pool_mu; /* the scan pool, for searches with threads > 1 */
  pthreadpool_t pool;
  int pool_threads;
  struct fk_vectors_ann *ann; /* the ANN graph over v, once loaded (ann_cache.c) */
  uint64_t check_next;     /* the next chunk of a mapped sidecar to verify */
};

typedef struct fk_store_ops fk_store_ops;

struct fk_store {
  const fk_store_ops *ops; /* the backend: fk_sqlite_ops or fk_pg_ops */
  void *impl;              /* the backend's own state (sqlite/sqlite.h's
                              fk_sq, pg/pg.h's fk_pg), made by ops->open */
  char *path;              /* the file, or the connection URI without its
                              password: what messages name */
  int writable;
  int schema;              /* SQLite user_version (< 3: no change sequence);
                              FK_STORE_SCHEMA for PostgreSQL, which has it */
  int dim;                 /* meta.dim: embedding width, 0 before a model */
  fk_vectors vs;           /* loaded lazily (vectors.c) */
  char *data_dir;          /* realpath of the data directory, or NULL (uploads.c) */
  int data_lock;           /* its .lock file, -1 without one */
  char err[FK_STORE_ERRMSG_MAX];
};

/* ---- backends ------------------------------------------------------------
 *
 * An index lives in a SQLite file (src/store/sqlite/) or in a PostgreSQL
 * database (src/store/pg/); each backend's headers and state (st->impl)
 * are private to its folder, and no backend calls the other. fk_store_open
 * (open.c) picks one by the locator; everything else - planning an index
 * run and embedding (index.c, write.c), the loaded vectors and their
 * catch-up (vectors.c, sidecar.c), search and retrieval scoring, the model
 * checks (recorded.c) - is shared and reaches the database only through
 * st->ops. Every operation records a failure's reason in st->err and
 * returns its FK_E* code.
 *
 * Growing the table (SQLite's sqlite3_io_methods.iVersion is the model):
 * new slots go at the end, never between or in place of old ones, and
 * FK_STORE_OPS_VERSION is raised with each addition; a table sets version
 * to the FK_STORE_OPS_VERSION it was written for, and fk_store_open refuses
 * one that is not this build's (a backend built against another layout),
 * so that a slot is never read past the end of a shorter table.
 *
 * Transactions: FK_TXN_READ reads one snapshot; FK_TXN_WRITE also excludes
 * every other writer of the index until commit or rollback, so that the
 * change sequence grows in commit order (store.h top) on both backends.
 * rollback keeps st->err. */
enum { FK_TXN_READ, FK_TXN_WRITE };

/* What the index is at the moment of the caller's read transaction. */
typedef struct fk_store_state {
  char uuid[40];
  int64_t generation, seq;
  int schema, dim;
} fk_store_state;

/* An images row, as an index run compares it with the files. */
typedef struct fk_image_row {
  int64_t id;
  const char *path, *hash;
  int64_t size, mtime_ns;
  int is_error;           /* status 'error' */
} fk_image_row;

typedef struct fk_writer fk_writer;

/* 1: the 35 slots from open to foreach_query. */
#define FK_STORE_OPS_VERSION 1

struct fk_store_ops {
  int version;             /* FK_STORE_OPS_VERSION, first (see above) */
  const char *name;
  int (*open)(fk_store *st, const char *locator, int mode);
  void (*close)(fk_store *st);
  int (*begin)(fk_store *st, int kind);
  int (*commit)(fk_store *st);
  void (*rollback)(fk_store *st);
  /* meta: get gives FK_ENOENT when the key is absent */
  int (*meta_get)(fk_store *st, const char *key, char *buf, size_t size);
  int (*meta_set)(fk_store *st, const char *key, const char *value);
  int (*bump_generation)(fk_store *st);            /* in a write transaction */
  int (*counts)(fk_store *st, fk_store_info *info); /* images ... errors */
  int (*read_state)(fk_store *st, fk_store_state *s);
  /* The vectors of the faces with seq > since (every face when since < 0),
   * in id order, into a new block; the face ids of tombstones with seq >
   * since. In the caller's read transaction. */
  int (*vec_rows)(fk_store *st, int64_t since, fk_vecs *v);
  int (*tombstones)(fk_store *st, int64_t since, int64_t **ids, int64_t *n);
  /* Every images row, for an index run's plan. */
  int (*foreach_image)(fk_store *st, int (*fn)(const fk_image_row *r, void *user), void *user);
  /* Every path of deleted_files (the tombstones of deleted images). */
  int (*foreach_deleted_file)(fk_store *st, int (*fn)(const char *path, void *user), void *user);
  /* The writer (write.c's fk_writer), in the caller's write transaction. */
  int (*writer_init)(fk_writer *w);
  void (*writer_free)(fk_writer *w);
  int (*identity)(fk_writer *w, const char *name, int64_t *id); /* made if new */
  int (*put)(fk_writer *w, const fk_entry *en, int64_t identity, const char *model, int64_t *image_id);
  int (*move)(fk_writer *w, int64_t image_id, const fk_entry *en, int64_t identity);
  int (*touch)(fk_writer *w, int64_t image_id, int64_t size, int64_t mtime_ns);
  int (*delete_image)(fk_writer *w, int64_t image_id);
  int (*drop_orphans)(fk_store *st); /* identities no image has */
  /* Single edits (edit.c), in a write transaction. find_image: the row at
   * path (FK_ENOENT: none), its identity (0: none) and whether it holds
   * that content already (*same); keep_image: same content, only size,
   * mtime and identity change; face_ids: an image's face ids by rank (*n
   * of them, at most cap written); drop_identity: drops it if no image has
   * it. The delete bodies take an fk_delete_job. */
  int (*find_image)(fk_store *st, const char *path, const char *hash, int64_t *id, int64_t *identity, int *same);
  int (*keep_image)(fk_store *st, const fk_entry *e, int64_t id, int64_t identity);
  int (*face_ids)(fk_store *st, int64_t image_id, int64_t *ids, int cap, int *n);
  int (*drop_identity)(fk_store *st, int64_t identity);
  int (*delete_face_body)(fk_store *st, void *delete_job);
  int (*delete_identity_body)(fk_store *st, void *delete_job);
  /* Reads (search.c, retrieval.c). */
  int (*get_face)(fk_store *st, int64_t face_id, fk_store_face *out);
  int (*foreach_face)(fk_store *st, int (*fn)(const fk_store_face *f, void *user), void *user);
  int (*list_identities)(fk_store *st, int64_t offset, int limit, fk_identity_info *out, int *n,
                         int64_t *total);
  int (*identity_faces)(fk_store *st, const char *identity, int64_t offset, int limit, fk_store_face *out,
                        int *n, int64_t *total);
  /* Claims of files by concurrent index runs (NULL for SQLite, whose
   * writers run one at a time anyway): claim decides, in one transaction,
   * for each of n files (stored path, size, mtime) got[i] = 1 claimed, 2
   * claimed from an expired lease, 0 not (another worker holds it, or the
   * index already has that file); renew extends every claim of worker;
   * release drops worker's claim of path (every claim when NULL), inside
   * the caller's write transaction if there is one. */
  int (*claim)(fk_store *st, const char *worker, int lease_s, const char *const *paths, const int64_t *size,
               const int64_t *mtime_ns, int n, uint8_t *got);
  int (*renew)(fk_store *st, const char *worker, int lease_s);
  int (*release)(fk_store *st, const char *worker, const char *path);
  /* fk_store_wait_change */
  int (*wait_change)(fk_store *st, int timeout_ms);
  /* Retrieval's queries: (image id, identity id, images of the identity)
   * of readable images of identities with >= 2, grouped by identity. */
  int (*foreach_query)(fk_store *st, int (*fn)(int64_t image, int64_t identity, int64_t n, void *user),
                       void *user);
};

extern const fk_store_ops fk_sqlite_ops, fk_pg_ops;

/* "ok", "no_face", "error" by FK_ENTRY_* */
extern const char *const fk_entry_status_names[];

/* SQL both backends run as it is. FK_FACE_COLUMNS: what read_face() of
 * sqlite/read.c and pg/pg.c read, in that order; FK_QUERY_ROWS: retrieval's
 * queries (fk_store_ops.foreach_query). */
#define FK_FACE_COLUMNS                                                                     \
  "SELECT f.id, f.image_id, i.path, coalesce(d.name, ''), i.width, i.height, f.idx,"       \
  " f.central, f.x, f.y, f.w, f.h, f.score, f.landmarks, f.emb_f32, f.emb_i8, f.norm,"     \
  " f.model"                                                                                \
  " FROM faces f JOIN images i ON i.id = f.image_id"                                        \
  " LEFT JOIN identities d ON d.id = i.identity_id"
#define FK_QUERY_ROWS                                                               \
  "SELECT i.id, i.identity_id, c.n FROM images i JOIN (SELECT identity_id,"       \
  " count(*) AS n FROM images WHERE status != 'error' AND identity_id IS NOT NULL" \
  " GROUP BY identity_id HAVING count(*) >= 2) c USING (identity_id)"              \
  " WHERE i.status != 'error' ORDER BY i.identity_id, i.id"

/* The shard (0..shards-1) of a stored path for index --shard (index.c). */
int fk_store_shard_of(const char *key, int shards);

/* Is locator a PostgreSQL connection URI (postgresql:... or postgres:...)? */
int fk_store_is_pg(const char *locator);

/* Records a formatted message in st->err and returns status. */
#define fk_store_fail(st, ...) fk_fail((st)->err, sizeof (st)->err, __VA_ARGS__)

/* meta table access; get returns FK_ENOENT when the key is absent. */
int fk_store_meta_get(fk_store *st, const char *key, char *buf, size_t size);
int fk_store_meta_set(fk_store *st, const char *key, const char *value);
int fk_store_meta_get_int(fk_store *st, const char *key, int64_t *out);

/* st->dim from meta.dim; `absent` when the index has none yet. */
int fk_store_read_dim(fk_store *st, int absent);

/* Increments meta.generation (inside the caller's transaction). */
int fk_store_bump_generation(fk_store *st);

/* The sidecar path: PATH.vec. */
int fk_store_sidecar_path(const fk_store *st, char *buf, size_t size);

/* sidecar.c: the sidecar file mapped if its uuid is `uuid`; written
 * atomically, without deleted rows, stamped with the uuid, generation and
 * seq the vectors reflect. */
int fk_sidecar_map(fk_store *st, const char *uuid, fk_vecs *v);
int fk_sidecar_save(fk_store *st, const fk_vecs *v, const char *uuid, int64_t generation, int64_t seq);
void fk_sidecar_unmap(fk_vecs *v);
/* Verifies `count` chunks of a mapped sidecar's block, from chunk *next on
 * (round robin, *next advanced): 0 when they hold, else the damaged
 * chunk's number (from 1), which fk_sidecar_damaged then reports on
 * stderr. Blocks in memory have no sums: 0. */
uint64_t fk_sidecar_check(const fk_vecs *v, uint64_t *next, uint64_t count);
void fk_sidecar_damaged(fk_store *st, const fk_vecs *v, uint64_t chunk);

/* vectors.c: set up and tear down st->vs. */
void fk_vectors_init(fk_vectors *vs);
void fk_vectors_destroy(fk_vectors *vs);

/* The pool for `threads` scan threads (NULL for 1), made on demand; hold
 * vs->pool_mu around making and using it. */
pthreadpool_t fk_vectors_pool(fk_vectors *vs, int threads);

/* vectors.c: the row of face id in v (rows in id order), or -1. */
int64_t fk_vecs_find_row(const fk_vecs *v, int64_t id);

/* ---- ann_cache.c: the ANN graph over the loaded vectors ----
 * It follows the vectors: vectors.c calls these with the write lock held
 * (apply) or from the store's thread (sync, close). */
struct fk_ann;
struct fk_ann_searcher;
/* Mirrors a catch-up that flagged the faces gone[0..ngone) deleted and
 * upserted the rows of ch: marks their nodes deleted and inserts the new
 * faces (write lock held). A graph not current with the vectors before the
 * catch-up is left for fk_vectors_ann_sync. */
void fk_vectors_ann_apply(fk_vectors *vs, const int64_t *gone, int64_t ngone, const fk_vecs *ch,
                          int64_t generation);
/* Brings a loaded graph that fell behind (a whole reload of the vectors)
 * back to them; store's thread. */
int fk_vectors_ann_sync(fk_store *st);
/* Writes the graph if it changed since read (a cache: errors are
 * ignored), then frees it. */
void fk_store_ann_close(fk_store *st);
/* 1 when an ANN graph is loaded and current; the graph (tests, bench). */
int fk_vectors_ann_ready(const fk_vectors *vs);
const struct fk_ann *fk_vectors_ann_graph(const fk_vectors *vs);
/* The ANN candidates of s, ef explored, ranked exactly (read lock held). */
int fk_vectors_ann_search(fk_vectors *vs, const fk_scan *s, int ef, fk_hit *out, int *n, char *err, size_t errsize);
/* The same for any graph a labelled by the face ids of s->v (bench_ann). */
int fk_scan_ann(const struct fk_ann *a, struct fk_ann_searcher *sr, const fk_scan *s, int ef, fk_hit *out,
                int *n, char *err, size_t errsize);
/* Refreshes the graph after an indexing run when the index is big enough
 * for auto searches to use it, or already has one. */
void fk_store_ann_refresh(fk_store *st, int threads);

/* SHA-256 of data as 64 lowercase hex digits and a NUL. */
void fk_sha256_hex(const void *data, size_t n, char out[65]);

/* fk_store_check for embeddings made by the model of fingerprint model_id
 * with opt (what an fk_entry records). */
int fk_store_check_id(fk_store *st, const char *model_id, const fk_options *opt, int strict);


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
  int64_t errors;        /* image files that cannot be indexed: a path too
                            long to store, not a regular file (on_error
                            heard of each) */
  char *root;            /* realpath of the directory, no trailing slash */
} fk_walk;

/* Lists the image files (.jpg .jpeg .png .webp, any case) under dir,
 * recursively, sorted by path. Hidden entries (".name") are skipped and
 * symlinked directories are not followed. on_error (may be NULL) hears of
 * unreadable subdirectories. */
int fk_walk_dir(fk_store *st, const char *dir, fk_walk *w,
                void (*on_error)(const char *path, const char *msg, void *user), void *user);
void fk_walk_free(fk_walk *w);

/* ---- write.c ---- */

enum { FK_ENTRY_OK, FK_ENTRY_NOFACE, FK_ENTRY_ERROR };

/* An image file read and embedded (fk_entry in facekit.h; index.c's jobs
 * hold one each, with path pointing into the walk). */
struct fk_entry {
  char *path;
  int64_t size, mtime_ns;
  char hash[65];           /* SHA-256 of the bytes read */
  int width, height;
  int status;              /* FK_ENTRY_* */
  int rc;                  /* FK_ENTRY_ERROR: the status code... */
  char error[256];         /* ...and its message */
  fk_face *faces;          /* nfaces, by detector score (malloc'd) */
  int nfaces, central;
  char model[64];          /* fingerprint of the model that embedded them */
  fk_options opt;          /* the session's options */
  double t_decode, t_detect, t_represent;
};

/* Reads the file at path into *buf (grown as needed, *n bytes) and fills
 * en's size, mtime and hash. 0 or an errno (EFBIG past 1 GiB). */
int fk_entry_read(const char *path, uint8_t **buf, size_t *cap, size_t *n, fk_entry *en);
/* Decodes the n bytes read (EXIF orientation applied), then face/'s
 * fk_faces pipeline with s's options (scratch holds s's max_faces faces)
 * and the central face; sets en's status, faces, size in pixels, the stage
 * times, and on failure en->rc and en->error (never s's error). */
void fk_entry_embed(fk_session *s, const uint8_t *data, size_t n, fk_face *scratch, fk_entry *en);

/* Stores images with their faces, inside the caller's write transaction:
 * the backend's statements (impl) and a cache of identity ids. */
struct fk_writer {
  fk_store *st;
  fk_map identities;
  char **names;
  size_t nnames;
  void *impl;
};

int fk_writer_init(fk_writer *w, fk_store *st);
void fk_writer_free(fk_writer *w);
/* The identities.id of name[0..len) (made if new), or 0 when len is 0. */
int fk_writer_identity(fk_writer *w, const char *name, size_t len, int64_t *id);
/* Upserts en's image row by path, with its status and identity (0: none),
 * and replaces its faces, stored with the model fingerprint `model`. */
int fk_writer_put(fk_writer *w, const fk_entry *en, int64_t identity, const char *model, int64_t *image_id);

/* A face's unit vector, int8 code and raw norm, as both backends store
 * them; FK_EMISMATCH when its width is not the index's. */
int fk_face_codes(fk_store *st, const fk_face *f, float *unit, int8_t *code, double *norm);

/* ---- edit.c's single changes, which the backends' bodies carry out ---- */

/* Paths of the image rows a delete removed, reported after its commit. */
typedef struct fk_removed_list {
  char **paths;
  size_t n;
  int64_t faces;
} fk_removed_list;

int fk_removed_add(fk_store *st, fk_removed_list *l, const char *path);

typedef struct fk_add_job {
  const fk_entry *e;
  const char *identity;
  int64_t *face_ids;
  int cap;
  fk_added *out;
} fk_add_job;

typedef struct fk_delete_job {
  int64_t id;           /* the face (delete_face) */
  const char *name;     /* the identity (delete_identity) */
  fk_removed_list removed;
} fk_delete_job;

/* uploads.c: the data directory. fn(st, arg) with its lock held (fn alone
 * without one); the files below it of rows a committed delete removed
 * unlinked; the directory forgotten (fk_store_close). */
int fk_store_edit_locked(fk_store *st, int (*fn)(fk_store *st, void *arg), void *arg);
void fk_store_unlink_removed(fk_store *st, const fk_removed_list *l);
void fk_store_data_dir_close(fk_store *st);

/* Records the entry's model in an index without one; else refuses another. */
int fk_store_claim_entry_model(fk_store *st, const fk_entry *e);

/* Records the model fingerprint, its width and the preprocessing in meta
 * (inside the caller's transaction). */
int fk_store_record_model(fk_store *st, const char *model, int dim, const fk_options *o);

#endif /* FK_STORE_H */
