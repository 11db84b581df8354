/*
 * pg.h - internals of the PostgreSQL backend of the face index (fk_pg_ops),
 * private to src/store/pg/: its state behind fk_store.impl, shared by pg.c
 * (connection, schema and migrations, transactions, reads, the vector COPY)
 * and pg_write.c (the writer and single edits). The schema is the
 * SQLite one of store.h in PostgreSQL types; see pg.c.
 */
#ifndef FK_STORE_PG_H
#define FK_STORE_PG_H

#include <libpq-fe.h>

#include "store/store.h"

/* The advisory lock every facekit write transaction takes first ('FKIX'):
 * writers run one at a time, so face ids and the change sequence grow in
 * commit order. */
#define FK_PG_LOCK 1179340120 /* 0x464B4958 */
/* The channel writers NOTIFY after a commit that changed faces; the
 * payload is the new meta.seq. */
#define FK_PG_CHANNEL "facekit_changes"

/* Face rows the writer has put and not yet sent (pg_write.c): COPY
 * (FORMAT binary) tuples, and the image of each. */
typedef struct fk_pg_rows {
  char *buf;
  size_t len, cap;
  int64_t *image;
  int n, ncap;
} fk_pg_rows;

/* What fk_store.impl points to for a PostgreSQL index. */
typedef struct fk_pg {
  PGconn *conn;
  int in_txn, write_txn;
  int listening;          /* LISTEN issued on this connection */
  int broken;             /* a statement found the connection lost */
  fk_pg_rows rows;        /* sent by fk_pg_flush before the next statement */
  int hold;               /* the writer's own statement: rows stay unsent */
} fk_pg;

#define PG(st) ((fk_pg *)(st)->impl)

/* Statement parameters: text, except bytea values sent in binary. */
#define FK_PG_MAXP 16
typedef struct fk_pg_params {
  int n;
  const char *v[FK_PG_MAXP];
  int len[FK_PG_MAXP], fmt[FK_PG_MAXP];
  char buf[FK_PG_MAXP][32];
  /* names that are not UTF-8 (fk_pg_name), escaped: a path of the walk
   * (< 4096 bytes) at most quadruples */
  char esc[2][4 * 4096 + 1];
  int nesc;
} fk_pg_params;

void fk_pg_int(fk_pg_params *p, int64_t x);
void fk_pg_double(fk_pg_params *p, double x);
void fk_pg_text(fk_pg_params *p, const char *s); /* NULL: SQL NULL */
/* A file path or an identity name: bytes, stored as text escaped by
 * fk_text_escape when they are not UTF-8 (PostgreSQL refuses such text);
 * fk_pg_name_value reads one back, unescaped in place. */
void fk_pg_name(fk_pg_params *p, const char *s);
char *fk_pg_name_value(const PGresult *r, int row, int col);
void fk_pg_bytes(fk_pg_params *p, const void *data, int n);

/* Runs sql with p (may be NULL); *out (may be NULL: cleared) gets the
 * result. The writer's unsent face rows go first (fk_pg_flush). On failure
 * records "what: the server's message" and returns the FK_E* code: FK_EIO
 * for a lost connection. */
int fk_pg_exec(fk_store *st, const char *what, const char *sql, const fk_pg_params *p, PGresult **out);
/* Like fk_pg_exec for a query expected to return one row; FK_ENOENT when
 * it returns none. */
int fk_pg_row(fk_store *st, const char *what, const char *sql, const fk_pg_params *p, PGresult **out);
int64_t fk_pg_get_int(const PGresult *r, int row, int col);
/* The FK_E* of a failed statement (r may be NULL), its message in st. */
int fk_pg_fail(fk_store *st, const char *what, const PGresult *r);

/* pg_write.c: sends the writer's face rows with one COPY; FK_OK if none. */
int fk_pg_flush(fk_store *st);
/* Drops the unsent rows (a rollback); with all, their memory too. */
void fk_pg_rows_drop(fk_pg_rows *b, int all);

/* pg_write.c: the writer and edit operations of fk_pg_ops. */
int fk_pg_writer_init(fk_writer *w);
void fk_pg_writer_free(fk_writer *w);
int fk_pg_identity(fk_writer *w, const char *name, int64_t *id);
int fk_pg_put(fk_writer *w, const fk_entry *en, int64_t identity, const char *model, int64_t *image_id);
int fk_pg_move(fk_writer *w, int64_t image_id, const fk_entry *en, int64_t identity);
int fk_pg_touch(fk_writer *w, int64_t image_id, int64_t size, int64_t mtime_ns);
int fk_pg_delete_image(fk_writer *w, int64_t image_id);
int fk_pg_drop_orphans(fk_store *st);
int fk_pg_find_image(fk_store *st, const char *path, const char *hash, int64_t *id, int64_t *identity, int *same);
int fk_pg_keep_image(fk_store *st, const fk_entry *e, int64_t id, int64_t identity);
int fk_pg_face_ids(fk_store *st, int64_t image_id, int64_t *ids, int cap, int *n);
int fk_pg_drop_identity(fk_store *st, int64_t identity);
int fk_pg_delete_face_body(fk_store *st, void *delete_job);
int fk_pg_delete_identity_body(fk_store *st, void *delete_job);
int fk_pg_claim(fk_store *st, const char *worker, int lease_s, const char *const *paths, const int64_t *size,
                const int64_t *mtime_ns, int n, uint8_t *got);
int fk_pg_renew(fk_store *st, const char *worker, int lease_s);
int fk_pg_release(fk_store *st, const char *worker, const char *path);

#endif /* FK_STORE_PG_H */
