/*
 * sqlite.h - the SQLite backend of the face index (fk_sqlite_ops), private
 * to src/store/sqlite/: its state behind fk_store.impl, its statement
 * helpers, and its operations in db.c (open, schema, migrations, meta,
 * transactions, the ops table), write.c (the writer and the single edits'
 * bodies) and read.c (vector rows, faces, listings, retrieval's queries).
 * The schema is store.h's.
 */
#ifndef FK_STORE_SQLITE_H
#define FK_STORE_SQLITE_H

#include <sqlite3.h>

#include "store/store.h"

/* What fk_store.impl points to for a SQLite index. */
typedef struct fk_sq {
  sqlite3 *db;
  int watching;          /* data_version was read (wait_change) */
  int64_t data_version;
} fk_sq;

#define SQ(st) ((fk_sq *)(st)->impl)

/* Records SQLite's message for a failed call (with `what` as context) and
 * returns the matching FK_E* code. */
int fk_store_sqlfail(fk_store *st, const char *what);

/* Runs one or more SQL statements without results. */
int fk_store_exec(fk_store *st, const char *sql);

/* Prepares sql; on failure records the error. */
int fk_store_prepare(fk_store *st, const char *sql, sqlite3_stmt **out);

/* The operations that live outside db.c. */
int fk_sq_vec_rows(fk_store *st, int64_t since, fk_vecs *v);                 /* read.c */
int fk_sq_tombstones(fk_store *st, int64_t since, int64_t **ids, int64_t *n);
int fk_sq_get_face(fk_store *st, int64_t face_id, fk_store_face *out);
int fk_sq_foreach_face(fk_store *st, int (*fn)(const fk_store_face *f, void *user), void *user);
int fk_sq_list_identities(fk_store *st, int64_t offset, int limit, fk_identity_info *out, int *n,
                          int64_t *total);
int fk_sq_identity_faces(fk_store *st, const char *identity, int64_t offset, int limit, fk_store_face *out,
                         int *n, int64_t *total);
int fk_sq_foreach_query(fk_store *st, int (*fn)(int64_t image, int64_t identity, int64_t n, void *user),
                        void *user);
int fk_sq_foreach_image(fk_store *st, int (*fn)(const fk_image_row *r, void *user), void *user); /* write.c */
int fk_sq_writer_init(fk_writer *w);
void fk_sq_writer_free(fk_writer *w);
int fk_sq_identity(fk_writer *w, const char *name, int64_t *id);
int fk_sq_put(fk_writer *w, const fk_entry *en, int64_t identity, const char *model, int64_t *image_id);
int fk_sq_move(fk_writer *w, int64_t image_id, const fk_entry *en, int64_t identity);
int fk_sq_touch(fk_writer *w, int64_t image_id, int64_t size, int64_t mtime_ns);
int fk_sq_delete_image(fk_writer *w, int64_t image_id);
int fk_sq_drop_orphans(fk_store *st);
int fk_sq_find_image(fk_store *st, const char *path, const char *hash, int64_t *id, int64_t *identity,
                     int *same);
int fk_sq_keep_image(fk_store *st, const fk_entry *e, int64_t id, int64_t identity);
int fk_sq_face_ids(fk_store *st, int64_t image_id, int64_t *ids, int cap, int *n);
int fk_sq_drop_identity(fk_store *st, int64_t identity);
int fk_sq_delete_face_body(fk_store *st, void *delete_job);
int fk_sq_delete_identity_body(fk_store *st, void *delete_job);
int fk_sq_foreach_deleted_file(fk_store *st, int (*fn)(const char *path, void *user), void *user);

#endif /* FK_STORE_SQLITE_H */
