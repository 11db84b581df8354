/*
 * facekit_index.h - the face index: reverse face search over SQLite or
 * PostgreSQL. One part of facekit.h, which includes every part.
 */
#ifndef FACEKIT_INDEX_H
#define FACEKIT_INDEX_H

#include "facekit_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== face index: reverse face search over SQLite or PostgreSQL ========== */
/*
 * An fk_store is one index - a SQLite file (WAL mode), or a PostgreSQL
 * database that many processes on many machines index into and search at
 * once - holding every face of a photo collection: tables images (path, size, mtime, SHA-256, size, status),
 * faces (box, landmarks, score, model, L2-normalized embedding as f32 and
 * int8 BLOBs of the model's width), identities (the parent folder's name) and meta (the model
 * fingerprint and the preprocessing the embeddings were made with).
 *
 * Searching does not read the faces table row by row: the vectors live in a
 * sidecar file next to a SQLite index (PATH.vec: one contiguous f32 matrix,
 * one int8 matrix and per-face ids), memory-mapped on load. It is a cache:
 * it carries the index's uuid and generation and is rebuilt from the faces
 * table whenever it is missing or stale. A PostgreSQL index has no files:
 * its vectors load into the same layout with one binary COPY. Either way
 * they then follow the index by its change sequence, reading only what
 * changed.
 *
 * Codes: a unit vector v quantizes to int8 as round(127 * v[i]) (never
 * -128); the cosine of two codes, dot / (|a| |b|), estimates the cosine of
 * the vectors. An int8 scan reads dim bytes + a 4-byte scale per face.
 *
 * Threads: an fk_store serves one thread at a time; other threads open
 * their own on the same index (the database serializes writers). The one thing
 * threads share is the loaded vectors (fk_store_vectors below): any thread
 * may search them while the store's own thread writes.
 */
typedef struct fk_store fk_store;

enum {
  FK_STORE_READ = 0,   /* open an existing index for searching */
  FK_STORE_WRITE = 1,  /* open or create an index for writing */
};

/* Opens (or with FK_STORE_WRITE creates) the index at path: a SQLite file,
 * or, for a locator that starts with "postgresql:" or "postgres:", a
 * PostgreSQL database (any libpq URI, e.g. postgresql://user@host/db, or
 * "postgresql:" alone to take every parameter from the PG* environment
 * variables); the database must exist, and its schema is made on the first
 * FK_STORE_WRITE. *out is set even on failure so that fk_store_errmsg() can
 * explain; close it in both cases. FK_ENOENT: no such file or database
 * (FK_STORE_READ); FK_ENOTINDEX: not SQLite, a SQLite or PostgreSQL
 * database of something else, or an empty one (FK_STORE_READ);
 * FK_EREADONLY: FK_STORE_WRITE on a file or directory that cannot be
 * written; FK_EUNSUPPORTED: made by a newer facekit, or a PostgreSQL
 * locator in a build without it (FK_WITH_POSTGRES=OFF); FK_EAUTH: the server
 * refused the credentials; FK_EIO: the server cannot be reached. Messages
 * never show a password. */
FK_API int fk_store_open(const char *path, int mode, fk_store **out);
FK_API const char *fk_store_errmsg(const fk_store *st);
FK_API void fk_store_close(fk_store *st);

/* What an index holds and how it was made. */
typedef struct fk_store_info {
  int has_model;            /* 0 until the first fk_store_index() */
  char model[64];           /* "resnet128-<fingerprint of the weights>" */
  int dim;                  /* embedding width (0 until has_model) */
  fk_options opt;           /* detector, input sizes, min score, max faces,
                               align and flip recorded at creation; the
                               other fields are the defaults */
  int64_t images, faces, identities;
  int64_t no_face, errors;  /* images without a face / unreadable */
  int64_t generation;       /* bumped by every commit that changes faces */
  int64_t seq;              /* change sequence: bumped by every face added,
                               deleted or relabelled (0 before format 3) */
} fk_store_info;

FK_API int fk_store_get_info(fk_store *st, fk_store_info *info);

/* The fingerprint of a recognition model as loaded in m (its name, "-",
 * and 16 hex digits of a hash over its nets' weights), as recorded in
 * indexes. buf holds >= 64 bytes. FK_EINVAL if a net it needs is not
 * loaded. */
FK_API int fk_model_id(const fk_models *m, int model, char *buf, size_t size);

/* FK_OK if embeddings made with (m, opt) belong in this index: the same
 * model (opt->model), alignment and flip (what defines the embedding space) and, when
 * strict, the same detector settings too. Otherwise FK_EMISMATCH and
 * fk_store_errmsg() names the difference. An index with no model yet
 * accepts anything. */
FK_API int fk_store_check(fk_store *st, const fk_models *m, const fk_options *opt,
                          int strict);

/* ---- building an index ---- */

/* Counters of one fk_store_index() run (seconds are wall time, except the
 * stage times, which are summed over the worker threads). */
typedef struct fk_index_stats {
  int64_t found;      /* image files found under the directory */
  int64_t skipped;    /* other files seen and ignored */
  int64_t todo;       /* new or changed files this run must process (less
                         those another run had claimed) */
  int64_t done;       /* of those, processed so far (all committed when the run returns) */
  int64_t unchanged;  /* same path, size and mtime: not read */
  int64_t added, updated;  /* embedded: new paths / changed contents */
  int64_t retried;    /* unreadable last time, read again (and counted here only) */
  int64_t moved;      /* known content at a new path: row moved, not re-embedded */
  int64_t touched;    /* new mtime, same content: only the mtime is updated */
  int64_t missing;    /* rows whose file is gone (kept unless pruned) */
  int64_t pruned;     /* of those, deleted (prune option) */
  int64_t faces;      /* faces stored by this run */
  int64_t no_face, errors;  /* images of this run with no face / unreadable
                               or not storable (a path too long, not a
                               regular file): each told to on_error */
  int64_t other_shards;     /* files left to the other shards (shards > 1) */
  int64_t elsewhere;        /* files another process was indexing, or had
                               just indexed (claims, PostgreSQL) */
  int64_t taken_over;       /* files whose claim had expired: a worker that
                               stopped without finishing them */
  int64_t deleted;          /* files left out because their faces were
                               deleted (fk_store_delete_face or _identity)
                               while the file stayed: see forget_deletions */
  double elapsed;
  double t_read, t_decode, t_detect, t_represent;  /* worker stages */
  double t_db;        /* the writer thread's database time */
} fk_index_stats;

typedef struct fk_index_options {
  size_t size;           /* sizeof the struct, set by fk_index_options_init (first, always) */
  int jobs;          /* worker threads, one fk_session each; 0 = all cores */
  int prune;         /* delete rows of files under the directory that are gone */
  int batch;         /* images per transaction (default 64) */
  int commit_ms;     /* ... or commit at least this often (default 1000) */
  int progress_ms;   /* minimum interval between progress calls (200) */
  /* Called on the calling thread after commits, at most every progress_ms,
   * and once at the end. */
  void (*progress)(const fk_index_stats *s, void *user);
  /* Called on the calling thread for each unreadable image. */
  void (*on_error)(const char *path, const char *message, void *user);
  void *user;
  /* If set, the run stops once *cancel != 0: work in flight is committed and
   * fk_store_index() returns FK_ECANCELED. Safe to set from a signal
   * handler or another thread. */
  const volatile int *cancel;
  /* Many processes on one index (issue 11). shards > 1: this run takes only
   * the files whose stored path hashes (FNV-1a 64, mixed) to shard in [0, shards),
   * so N runs with shard 0..N-1 split a folder deterministically. */
  int shard, shards;
  /* If set, paths are stored relative to this directory (which must contain
   * the indexed one), so workers that mount the photos elsewhere agree. */
  const char *root;
  /* PostgreSQL: every file is claimed before it is read, so concurrent runs
   * never embed one twice; a claim not renewed for lease_s seconds (a
   * worker killed) may be taken over (default 60). */
  int lease_s;
  /* Deleting an image's faces (fk_store_delete_face, _identity) leaves a
   * tombstone on its path, so that a run over a folder still holding the
   * file leaves it out (stats.deleted): a deletion sticks. It lasts until
   * the path is stored again: by fk_store_add_entry (registering it
   * explicitly), or by a run with forget_deletions set, which indexes such
   * files as new. */
  int forget_deletions;
} fk_index_options;

FK_API void fk_index_options_init(fk_index_options *o);

/* Indexes every .jpg/.jpeg/.png/.webp (any case) under dir, recursively.
 * Incremental: files with a known path, size and mtime are skipped; a file
 * whose content (SHA-256) is that of a row whose file is gone moves the row;
 * changed files are re-embedded. Every image is committed together with its
 * faces, so a crash or kill at any moment loses at most the uncommitted
 * batch and never duplicates a row. opt: the pipeline options (NULL for
 * the defaults); opt->threads is per session. FK_EMISMATCH if the index was
 * made with another model or preprocessing; FK_ENOENT if dir holds no image
 * (unless prune). stats may be NULL. */
FK_API int fk_store_index(fk_store *st, const fk_models *m, const fk_options *opt,
                          const char *dir, const fk_index_options *io,
                          fk_index_stats *stats);

/* ---- searching ---- */

enum { FK_CODES_F32 = 0, FK_CODES_INT8 = 1 };

/* How a search finds its candidates:
 *   FK_SEARCH_EXACT  scans every vector;
 *   FK_SEARCH_ANN    walks an HNSW graph over the int8 codes (faiss), kept
 *                    in a cache file beside the index (PATH.faiss, rebuilt
 *                    or updated when stale, like PATH.vec), then ranks its
 *                    candidates exactly: the matches are the exact scan's
 *                    when the graph finds them, with the same distances;
 *   FK_SEARCH_AUTO   exact below FK_ANN_AUTO_MIN faces, ANN from there.
 * A build without faiss (FK_WITH_FAISS=OFF) has no graph: FK_SEARCH_AUTO
 * always scans, and FK_SEARCH_ANN fails with FK_EUNSUPPORTED. */
enum { FK_SEARCH_EXACT = 0, FK_SEARCH_ANN = 1, FK_SEARCH_AUTO = 2 };

/* Where the ANN search starts to beat the exact scan at recall@10 >= 0.99
 * (README, "Searching millions of faces"). */
#define FK_ANN_AUTO_MIN 50000
/* Candidates an ANN search explores unless told (fk_search_options.ef):
 * recall@10 >= 0.99 on face-like vectors at 100k (README). */
#define FK_ANN_EF_DEFAULT 384

typedef struct fk_search_options {
  size_t size;           /* sizeof the struct, set by fk_search_options_init (first, always) */
  int k;            /* matches wanted (default 10) */
  int metric;       /* FK_METRIC_* (default cosine) */
  float threshold;  /* keep only distance <= threshold; < 0: no limit */
  int codes;        /* FK_CODES_F32 (default) or FK_CODES_INT8 */
  int threads;      /* scan threads (default 1); an ANN search uses one,
                       and this many to build its graph */
  int search;       /* FK_SEARCH_* (default FK_SEARCH_AUTO) */
  int ef;           /* ANN candidates explored, >= k (0: FK_ANN_EF_DEFAULT);
                       more is slower and nearer to exact */
} fk_search_options;

FK_API void fk_search_options_init(fk_search_options *o);

typedef struct fk_match {
  int64_t face_id;
  float distance;    /* under the metric */
  float similarity;  /* cosine similarity of the unit vectors */
} fk_match;

/* Loads the vectors (maps the sidecar, catching up with the index's later
 * changes or rebuilding it from the faces table, and saving it again when
 * it had to); searching does this on first use, so calling it is only
 * needed to time it. *count (may be NULL) gets the number of faces. */
FK_API int fk_store_load(fk_store *st, int64_t *count);

/* Brings loaded vectors up to date with every commit to the index, this
 * handle's and other processes', incrementally: only the faces added,
 * deleted or relabelled since are read (the change sequence, see
 * src/store/store.h). Loads them when not loaded. */
FK_API int fk_store_refresh(fk_store *st);

/* Waits up to timeout_ms (0: just looks) for a commit to the index by any
 * process: 1 when there may be one (call fk_store_refresh), 0 when none
 * came, or a negative FK_E* (fk_store_errmsg says why; a PostgreSQL
 * connection lost is made again by the next call or refresh). PostgreSQL:
 * LISTEN for the writers' NOTIFY, woken as the commit lands; SQLite:
 * polls the file's data version every 20 ms. The first call starts
 * listening and returns 1, so that what came before it is not missed.
 * Call it on the store's thread, outside any other call on it. */
FK_API int fk_store_wait_change(fk_store *st, int timeout_ms);

/* k-nearest search for a raw (not necessarily normalized) embedding of dim
 * floats, which must be the index's width (FK_EMISMATCH otherwise): exact,
 * or approximate as o->search says. Writes up to o->k matches, best first,
 * to out and their number to *n. */
FK_API int fk_store_search(fk_store *st, const float *embedding, int dim,
                           const fk_search_options *o, fk_match *out, int *n);

/* FK_SEARCH_EXACT or FK_SEARCH_ANN: what a search with o would do now (it
 * loads the vectors to count them). Negative on error. */
FK_API int fk_store_search_method(fk_store *st, const fk_search_options *o);

/* Loads the ANN graph over the loaded vectors: reads PATH.faiss, applies
 * the faces added or deleted since it was written, or builds it (with
 * `threads` threads, 0 for all; minutes for millions of faces) and writes
 * it back when the directory is writable. From then on the graph follows
 * the vectors (fk_store_refresh, single-image writes) incrementally, and
 * fk_store_close saves it again if faces came or went. fk_store_search
 * does this on first ANN use; indexing does it at the end of a run once
 * the index holds FK_ANN_AUTO_MIN faces or has a graph. Call it on the
 * store's thread before other threads search shared vectors by ANN.
 * FK_EUNSUPPORTED in a build without faiss (FK_WITH_FAISS=OFF). */
FK_API int fk_store_load_ann(fk_store *st, int threads);

/* ---- sharing the vectors between threads ---- */

/* The loaded vectors of one fk_store, searchable from any thread. */
typedef struct fk_vectors fk_vectors;

/* Loads st's vectors (fk_store_load) and gives a handle on them that any
 * number of threads may search at once with fk_vectors_search(), while the
 * thread that owns st writes through it (fk_store_add_entry,
 * fk_store_delete_face, fk_store_delete_identity) or calls
 * fk_store_refresh(): each of those applies its changes to the vectors
 * incrementally, under a reader-writer lock, before it returns, so a search
 * that starts after a write returns sees it. Valid until fk_store_close(st). */
FK_API int fk_store_vectors(fk_store *st, fk_vectors **out);

/* fk_store_search on shared vectors: thread-safe, no SQLite. Matches are
 * face ids; look them up with each thread's own fk_store, where a face
 * deleted since the search gives FK_ENOENT. An ANN search walks the graph
 * fk_store_load_ann loaded: without one, FK_SEARCH_AUTO scans and
 * FK_SEARCH_ANN fails with FK_EINVAL. On failure err (errlen bytes, may be
 * NULL) gets the reason. */
FK_API int fk_vectors_search(fk_vectors *v, const float *embedding, int dim, const fk_search_options *o,
                             fk_match *out, int *n, char *err, size_t errlen);
/* Faces searchable, and the change sequence they reflect. Thread-safe. */
FK_API int64_t fk_vectors_count(fk_vectors *v);
FK_API int64_t fk_vectors_seq(fk_vectors *v);

/* One stored face with its image and identity. */
typedef struct fk_store_face {
  int64_t id, image_id;
  char path[4096];
  char identity[256];   /* "" when the image has none */
  int image_width, image_height;
  int index;            /* rank of the face in its image, by detector score */
  int central;          /* the face nearest the image centre */
  char model[64];       /* fingerprint of the model that embedded it */
  fk_box box;
  float score;
  fk_point landmarks[FK_NUM_LANDMARKS];
  int dim;                        /* the index's embedding width */
  float embedding[FK_EMBED_MAX];  /* [0..dim), L2-normalized */
  int8_t code[FK_EMBED_MAX];      /* [0..dim), its int8 code */
  float norm;                     /* L2 norm of the raw embedding */
} fk_store_face;

FK_API int fk_store_get_face(fk_store *st, int64_t face_id, fk_store_face *out);

/* Calls fn for every face, in id order; a non-zero return from fn stops the
 * walk and is returned. */
FK_API int fk_store_foreach_face(fk_store *st,
                                 int (*fn)(const fk_store_face *f, void *user),
                                 void *user);

/* The identities of the index, by name, with their counts. */
typedef struct fk_identity_info {
  int64_t id;
  char name[256];
  int64_t images, faces;
} fk_identity_info;

/* Identities in name order (byte order), from `offset`, at most `limit`
 * (1..100000) into out[]; *n gets how many were written, *total (may be
 * NULL) how many there are. */
FK_API int fk_store_list_identities(fk_store *st, int64_t offset, int limit, fk_identity_info *out, int *n,
                                    int64_t *total);

/* The faces of one identity in id order, paged the same way. FK_ENOENT
 * when the index has no identity of that name. */
FK_API int fk_store_identity_faces(fk_store *st, const char *identity, int64_t offset, int limit,
                                   fk_store_face *out, int *n, int64_t *total);

/* A size x size thumbnail (16..1024) of a stored face read from its image
 * file: the square around the box, enlarged by a quarter on each side (as
 * `facekit find --html` shows matches). The file's decode error when it
 * can no longer be read. */
FK_API int fk_store_face_crop(const fk_store_face *f, int size, size_t max_pixels, fk_image *out);
/* The file of a stored path: below root when the path is relative and root
 * is not NULL (an index built with fk_index_options.root), else the path
 * itself. FK_ETOOBIG if it does not fit in size bytes. */
FK_API int fk_store_path_below(const char *root, const char *path, char *out, size_t size);

/* ---- file names that are not UTF-8 ---- */

/* Paths are bytes; where they must be text (a PostgreSQL index stores them
 * so, and JSON output is UTF-8) facekit escapes them reversibly: each byte
 * b that is not part of a well-formed UTF-8 sequence becomes the character
 * U+10FF00 + b (U+10FF80..U+10FFFF, the end of plane 16's private use
 * area), and a name holding one of those characters has each of its bytes
 * escaped too. Valid UTF-8 names are unchanged. fk_text_unescape maps each
 * U+10FF80..U+10FFFF back to its byte: the real file name. Both write up to
 * size bytes with a NUL (like snprintf) and return the whole length;
 * unescaping never lengthens, escaping at most quadruples. */
FK_API size_t fk_text_escape(const char *s, char *out, size_t size);
FK_API size_t fk_text_unescape(const char *s, char *out, size_t size);
/* 1 when fk_text_escape would change s. */
FK_API int fk_text_needs_escape(const char *s);

/* ---- adding and removing single images ---- */

/* One image file read, hashed, decoded, and its faces detected and embedded
 * by a session: what fk_store_add_entry() commits. Made on any thread (with
 * that thread's session) so that a single writer only commits. */
typedef struct fk_entry fk_entry;

/* Makes the entry of the image file at path with session s (whose options
 * the index must accept, strictly: see fk_store_check). Finding no face is
 * not an error here. On failure *out is NULL: FK_ENOENT / FK_EIO for the
 * file, the decode errors (FK_EFORMAT, FK_ECORRUPT, FK_ETOOBIG...), and
 * fk_session_errmsg(s) says more. */
FK_API int fk_entry_new(fk_session *s, const char *path, fk_entry **out);
/* The same for an image held in memory (n bytes; `name`, or "the image",
 * is what messages call it): what fk_store_add_upload stores as a file of
 * the index's data directory. */
FK_API int fk_entry_new_bytes(fk_session *s, const void *data, size_t n, const char *name, fk_entry **out);
/* The entry's faces (by detector score) and which of them is nearest the
 * image centre (-1 when none); returns their number. */
FK_API int fk_entry_faces(const fk_entry *e, const fk_face **faces, int *central);
/* Labels one person: keeps only face k of the entry (k < 0: its central
 * face, the one nearest the image centre, which is how an index represents
 * a labelled photo: retrieval and eval use it), so that
 * fk_store_add_entry stores that face alone, as the image's central face,
 * and no bystander is filed under the identity. Returns the index (in
 * fk_entry_faces order) of the face kept, or FK_ENOFACE when the entry has
 * none, FK_EINVAL when k is not one of its faces. */
FK_API int fk_entry_keep_face(fk_entry *e, int k);
FK_API void fk_entry_free(fk_entry *e);

typedef struct fk_added {
  int64_t image_id;
  int created;  /* 0: the path already held this content, nothing was stored */
  int nfaces;   /* the image's faces in the index */
} fk_added;

/* Commits one entry: its image row under `identity` (NULL or "": none) and
 * all its faces, in one transaction, as fk_store_index() stores an image
 * (a later index run over the same file sees it unchanged). The first
 * entry of an index without a model records the entry's model and options;
 * after that FK_EMISMATCH refuses an entry made another way. A path the
 * index holds with other content is replaced; with the same content it is
 * left as it is (relabelled if the identity differs) and out->created = 0.
 * The image's face ids, in detector order, go to face_ids[0..min(n, cap))
 * (may be NULL when cap = 0). FK_ENOFACE (nothing stored) when the entry
 * has no face. Loaded vectors are updated before it returns. */
FK_API int fk_store_add_entry(fk_store *st, const fk_entry *e, const char *identity, int64_t *face_ids, int cap,
                              fk_added *out);
/* fk_entry_new, then fk_store_add_entry. */
FK_API int fk_store_add_image(fk_store *st, fk_session *s, const char *path, const char *identity,
                              int64_t *face_ids, int cap, fk_added *out);

/* Called after the commit of a delete for each image row it removed (an
 * image loses its row with its last face), e.g. to delete the file (one
 * below the store's data directory, fk_store_set_data_dir, is gone
 * already). */
typedef void (*fk_removed_fn)(const char *path, void *user);

/* Deletes one face; when it was its image's last, the image row too, and
 * the identity when that was its last image. Committed, and loaded vectors
 * updated, before it returns. FK_ENOENT when there is no such face.
 * removed may be NULL. An image row removed leaves a tombstone on its path:
 * fk_store_index() does not bring the file back (see forget_deletions). */
FK_API int fk_store_delete_face(fk_store *st, int64_t face_id, fk_removed_fn removed, void *user);
/* Deletes an identity with all its images and faces; *faces (may be NULL)
 * gets how many faces went. FK_ENOENT when there is no such identity. */
FK_API int fk_store_delete_identity(fk_store *st, const char *identity, int64_t *faces, fk_removed_fn removed,
                                    void *user);

/* ---- the index's data directory: the photos a service is sent ----
 *
 * A service that keeps the images it is sent gives its store a directory
 * for them (facekit serve: --data-dir). From then on the files there are
 * written and removed only in step with the rows that name them, so that
 * an acknowledged register always keeps its file: fk_store_add_upload
 * writes DIR/IDENTITY/<sha256>.<ext> (atomically and durably) before the
 * commit of its row, and takes a file it made away again when that commit
 * fails; fk_store_delete_face and fk_store_delete_identity remove the files
 * below DIR of the image rows their commit removed (and an identity's
 * folder once empty), after the commit, before `removed` hears of them.
 * Both hold an exclusive lock on DIR/.lock from the file to the commit,
 * which orders them across threads' and processes' stores on one DIR. */
FK_API int fk_store_set_data_dir(fk_store *st, const char *dir);
/* Stores the n bytes that entry e was made from (fk_entry_new_bytes) as
 * the file DIR/IDENTITY/<sha256>.<ext> (kept as it is when there already)
 * and commits the entry under identity (a folder name: not empty, not
 * hidden, no '/'), as fk_store_add_entry does. FK_EINVAL without a data
 * directory or for another entry's bytes; FK_EREADONLY when the file
 * cannot be written. */
FK_API int fk_store_add_upload(fk_store *st, fk_entry *e, const void *data, size_t n, const char *identity,
                               int64_t *face_ids, int cap, fk_added *out);
/* Removes what a writer killed between a file and its commit left in the
 * data directory: files named like uploads (64 hex digits and .jpg, .png
 * or .webp, in an identity's folder) that no image row names, temporary
 * files, then empty identity folders; other files are left alone.
 * *removed (may be NULL) gets how many files went. */
FK_API int fk_store_sweep_data_dir(fk_store *st, int64_t *removed);

#ifdef __cplusplus
}
#endif
#endif /* FACEKIT_INDEX_H */
