/*
 * pg.c - the PostgreSQL backend of the face index (fk_pg_ops): an index
 * that is a whole PostgreSQL database, shared by many indexing processes
 * and many readers (issue 11). Here: connecting and naming failures,
 * the schema and its versioned migrations, transactions, meta, the reads,
 * and the vectors, which load with COPY ... (FORMAT binary) into the same
 * fk_vecs block a SQLite index maps from its sidecar (a PostgreSQL index
 * has no files beside it: readers load it again at each start). The
 * writer and single edits are in pg_write.c.
 *
 * Schema (meta.schema_version FK_PG_SCHEMA): the tables, columns and
 * change sequence of store.h, in PostgreSQL types - ids bigserial, REALs
 * double precision, BLOBs bytea (little-endian floats, as in SQLite), times
 * bigint. The change sequence is kept by triggers, as in SQLite: the next
 * seq comes from UPDATE meta ... 'seq', whose row lock is held until
 * commit, so any two transactions that change faces commit in seq order -
 * even a psql session that bypasses facekit. facekit's own writers also
 * take the advisory lock FK_PG_LOCK before anything else, so their face ids
 * (sequence values, drawn before the seq trigger runs) grow in commit order
 * too: a reader's catch-up can then always append (vectors.c).
 *
 * One table SQLite has not: claims(path, worker, expires), the files that
 * running index workers have taken (pg_write.c).
 *
 * Migrations: migrations[v] brings the schema from version v - 1 to v, all
 * in the transaction (under FK_PG_LOCK) that opens the index for writing.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "store/pg/pg.h"

#define FK_PG_SCHEMA 2

static const char schema_v1[] =
    "CREATE TABLE meta(key text PRIMARY KEY, value text NOT NULL);"
    "CREATE TABLE identities(id bigserial PRIMARY KEY, name text NOT NULL UNIQUE);"
    "CREATE TABLE images("
    " id bigserial PRIMARY KEY,"
    " path text NOT NULL UNIQUE,"
    " size bigint NOT NULL,"
    " mtime_ns bigint NOT NULL,"
    " hash text NOT NULL,"
    " width integer NOT NULL DEFAULT 0,"
    " height integer NOT NULL DEFAULT 0,"
    " status text NOT NULL CHECK(status IN ('ok','no_face','error')),"
    " error text,"
    " identity_id bigint REFERENCES identities(id),"
    " nfaces integer NOT NULL DEFAULT 0,"
    " indexed_at bigint NOT NULL);"
    "CREATE INDEX images_hash ON images(hash);"
    "CREATE INDEX images_identity ON images(identity_id);"
    "CREATE TABLE faces("
    " id bigserial PRIMARY KEY,"
    " image_id bigint NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    " idx integer NOT NULL,"
    " x double precision NOT NULL, y double precision NOT NULL,"
    " w double precision NOT NULL, h double precision NOT NULL,"
    " score double precision NOT NULL,"
    " landmarks bytea NOT NULL CHECK(length(landmarks) = 544),"
    " model text NOT NULL,"
    " central integer NOT NULL,"
    " norm double precision NOT NULL,"
    " emb_f32 bytea NOT NULL,"
    " emb_i8 bytea NOT NULL CHECK(length(emb_f32) = 4 * length(emb_i8)),"
    " seq bigint NOT NULL DEFAULT 0,"
    " UNIQUE(image_id, idx));"
    "CREATE INDEX faces_seq ON faces(seq);"
    "CREATE INDEX faces_image ON faces(image_id);"
    "CREATE TABLE deleted(seq bigint PRIMARY KEY, face_id bigint NOT NULL);"
    /* files claimed by running index workers (index.c): expires in epoch seconds */
    "CREATE TABLE claims(path text PRIMARY KEY, worker text NOT NULL, expires double precision NOT NULL);"
    "CREATE INDEX claims_worker ON claims(worker);"
    /* the change sequence (store.h) */
    "CREATE FUNCTION fk_next_seq() RETURNS bigint LANGUAGE sql AS"
    " $$UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'seq' RETURNING value::bigint$$;"
    "CREATE FUNCTION fk_face_added() RETURNS trigger LANGUAGE plpgsql AS"
    " $$BEGIN NEW.seq := fk_next_seq(); RETURN NEW; END$$;"
    "CREATE TRIGGER faces_added BEFORE INSERT ON faces FOR EACH ROW EXECUTE FUNCTION fk_face_added();"
    "CREATE FUNCTION fk_face_removed() RETURNS trigger LANGUAGE plpgsql AS"
    " $$BEGIN INSERT INTO deleted(seq, face_id) VALUES (fk_next_seq(), OLD.id); RETURN OLD; END$$;"
    "CREATE TRIGGER faces_removed AFTER DELETE ON faces FOR EACH ROW EXECUTE FUNCTION fk_face_removed();"
    "CREATE FUNCTION fk_image_relabelled() RETURNS trigger LANGUAGE plpgsql AS"
    " $$DECLARE s bigint; BEGIN s := fk_next_seq(); UPDATE faces SET seq = s WHERE image_id = NEW.id;"
    " RETURN NEW; END$$;"
    "CREATE TRIGGER images_relabelled AFTER UPDATE OF identity_id ON images FOR EACH ROW"
    " WHEN (OLD.identity_id IS DISTINCT FROM NEW.identity_id) EXECUTE FUNCTION fk_image_relabelled();";

/* 2: the paths whose images a delete removed (store.h, deleted_files). */
static const char schema_v2[] = "CREATE TABLE deleted_files(path text PRIMARY KEY, deleted_at bigint NOT NULL);";

/* migrations[v]: from version v - 1 to v (1: from an empty database). */
static const char *const migrations[FK_PG_SCHEMA + 1] = {NULL, schema_v1, schema_v2};

/* ---- parameters and statements ------------------------------------------ */

static void param(fk_pg_params *p, const char *v, int len, int fmt) {
  if (p->n == FK_PG_MAXP) return; /* a programming error: the server will say a parameter is missing */
  p->v[p->n] = v;
  p->len[p->n] = len;
  p->fmt[p->n] = fmt;
  p->n++;
}

void fk_pg_int(fk_pg_params *p, int64_t x) {
  if (p->n < FK_PG_MAXP) snprintf(p->buf[p->n], sizeof p->buf[p->n], "%lld", (long long)x);
  param(p, p->n < FK_PG_MAXP ? p->buf[p->n] : NULL, 0, 0);
}

void fk_pg_double(fk_pg_params *p, double x) {
  if (p->n < FK_PG_MAXP) snprintf(p->buf[p->n], sizeof p->buf[p->n], "%.17g", x);
  param(p, p->n < FK_PG_MAXP ? p->buf[p->n] : NULL, 0, 0);
}

void fk_pg_text(fk_pg_params *p, const char *s) { param(p, s, 0, 0); }

void fk_pg_name(fk_pg_params *p, const char *s) {
  if (s && fk_text_needs_escape(s) && p->nesc < 2 &&
      fk_text_escape(s, p->esc[p->nesc], sizeof p->esc[0]) < sizeof p->esc[0])
    s = p->esc[p->nesc++];
  param(p, s, 0, 0); /* one too long stays as it is: the server refuses it */
}

char *fk_pg_name_value(const PGresult *r, int row, int col) {
  char *v = PQgetvalue(r, row, col);
  fk_text_unescape(v, v, strlen(v) + 1); /* never longer */
  return v;
}

void fk_pg_bytes(fk_pg_params *p, const void *data, int n) { param(p, data, n, 1); }

int fk_pg_fail(fk_store *st, const char *what, const PGresult *r) {
  PGconn *c = PG(st)->conn;
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  if (!msg) msg = PQerrorMessage(c);
  char m[512];
  snprintf(m, sizeof m, "%s", msg);
  for (size_t n = strlen(m); n && (m[n - 1] == '\n' || m[n - 1] == ' '); n--) m[n - 1] = '\0';
  /* class 08: connection exceptions; 57P0x: the server shutting down */
  if (PQstatus(c) == CONNECTION_BAD || (state && (!strncmp(state, "08", 2) || !strncmp(state, "57P0", 4)))) {
    PG(st)->broken = 1;
    return fk_store_fail(st, FK_EIO, "%s: %s: lost the connection to the server (%s)", st->path, what, m);
  }
  int status = FK_EDB;
  if (state && !strcmp(state, "25006")) status = FK_EREADONLY; /* read_only_sql_transaction */
  if (state && !strncmp(state, "42501", 5)) status = FK_EREADONLY; /* insufficient_privilege */
  return fk_store_fail(st, status, "%s: %s: %s", st->path, what, m);
}

static int reconnect(fk_store *st);

int fk_pg_exec(fk_store *st, const char *what, const char *sql, const fk_pg_params *p, PGresult **out) {
  if (out) *out = NULL;
  int rc = PG(st)->in_txn ? FK_OK : reconnect(st);
  if (rc == FK_OK && PG(st)->rows.n && !PG(st)->hold) rc = fk_pg_flush(st);
  if (rc) return rc;
  PGresult *r = p ? PQexecParams(PG(st)->conn, sql, p->n, NULL, p->v, p->len, p->fmt, 0)
                  : PQexec(PG(st)->conn, sql);
  ExecStatusType s = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
    rc = fk_pg_fail(st, what, r); /* no result: it could not even be sent */
    PQclear(r);
    return rc;
  }
  if (out) *out = r;
  else PQclear(r);
  return FK_OK;
}

int fk_pg_row(fk_store *st, const char *what, const char *sql, const fk_pg_params *p, PGresult **out) {
  int rc = fk_pg_exec(st, what, sql, p, out);
  if (rc == FK_OK && PQntuples(*out) == 0) {
    PQclear(*out);
    *out = NULL;
    return FK_ENOENT;
  }
  return rc;
}

int64_t fk_pg_get_int(const PGresult *r, int row, int col) {
  return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Runs sql in single-row mode, calling fn for each row: results of any
 * size stream through without being held whole. */
static int foreach_row(fk_store *st, const char *what, const char *sql, const fk_pg_params *p,
                       int (*fn)(const PGresult *r, void *user), void *user) {
  PGconn *c = PG(st)->conn;
  int rc = PG(st)->in_txn ? FK_OK : reconnect(st);
  if (rc == FK_OK && PG(st)->rows.n) rc = fk_pg_flush(st);
  if (rc) return rc;
  if (!PQsendQueryParams(c, sql, p ? p->n : 0, NULL, p ? p->v : NULL, p ? p->len : NULL, p ? p->fmt : NULL, 0))
    return fk_pg_fail(st, what, NULL);
  PQsetSingleRowMode(c);
  PGresult *r;
  while ((r = PQgetResult(c))) {
    ExecStatusType s = PQresultStatus(r);
    if (s == PGRES_SINGLE_TUPLE && rc == FK_OK) rc = fn(r, user);
    else if (s != PGRES_SINGLE_TUPLE && s != PGRES_TUPLES_OK && rc == FK_OK) rc = fk_pg_fail(st, what, r);
    PQclear(r); /* drained to the end, so the connection is ready again */
  }
  return rc;
}

/* ---- connecting ------------------------------------------------------------ */

/* The connection as messages name it: no password, whatever was given. */
static void describe(PGconn *c, char *buf, size_t size) {
  const char *host = PQhost(c), *port = PQport(c), *db = PQdb(c), *user = PQuser(c);
  if (host && host[0] == '/') /* a Unix socket directory */
    snprintf(buf, size, "postgresql://%s@/%s?host=%s%s%s", user ? user : "", db ? db : "", host,
             port && *port ? "&port=" : "", port ? port : "");
  else
    snprintf(buf, size, "postgresql://%s@%s%s%s/%s", user ? user : "", host && *host ? host : "localhost",
             port && *port ? ":" : "", port ? port : "", db ? db : "");
}

/* Why a connection failed, by the FK_E* it deserves. */
static int connect_failure(fk_store *st, const char *msg) {
  char m[512];
  snprintf(m, sizeof m, "%s", msg);
  for (size_t n = strlen(m); n && (m[n - 1] == '\n' || m[n - 1] == ' '); n--) m[n - 1] = '\0';
  for (char *c = m; *c; c++)
    if (*c == '\n' || *c == '\t') *c = ' '; /* libpq's hints come on lines of their own */
  if (strstr(m, "password authentication failed") || strstr(m, "no password supplied") ||
      strstr(m, "authentication failed") || strstr(m, "role") != NULL)
    return fk_store_fail(st, FK_EAUTH, "%s: the server refused the credentials (%s)", st->path, m);
  if (strstr(m, "database") && strstr(m, "does not exist"))
    return fk_store_fail(st, FK_ENOENT, "%s: %s (create it first, e.g. with createdb)", st->path, m);
  return fk_store_fail(st, FK_EIO, "cannot connect to %s: %s", st->path, m);
}

/* Creates the schema (an empty database) or brings it to FK_PG_SCHEMA. */
static int migrate(fk_store *st, int64_t from) {
  int rc = FK_OK;
  for (int64_t v = from + 1; rc == FK_OK && v <= FK_PG_SCHEMA; v++)
    rc = fk_pg_exec(st, "creating the schema", migrations[v], NULL, NULL);
  if (rc) return rc;
  char ver[16];
  snprintf(ver, sizeof ver, "%d", FK_PG_SCHEMA);
  if (from > 0) return fk_store_meta_set(st, "schema_version", ver);
  unsigned char r[16];
  char uuid[33];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
    for (int i = 0; i < 16; i++) r[i] = (unsigned char)(rand() ^ getpid() ^ (i * 131));
  for (int i = 0; i < 16; i++) snprintf(uuid + 2 * i, 3, "%02x", r[i]);
  fk_pg_params p = {0};
  fk_pg_text(&p, uuid);
  fk_pg_text(&p, ver);
  return fk_pg_exec(st, "creating the schema",
                    "INSERT INTO meta VALUES('format', 'facekit-index'), ('uuid', $1), ('schema_version', $2),"
                    " ('generation', '0'), ('seq', '0'),"
                    " ('created', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
                    &p, NULL);
}

/* The tables of a database that is not a facekit index, for the message. */
static int64_t list_tables(fk_store *st, char *buf, size_t size) {
  PGresult *r;
  buf[0] = '\0';
  if (fk_pg_exec(st, "reading the schema",
                 "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                 " ORDER BY 1", NULL, &r))
    return -1;
  int n = PQntuples(r);
  for (int i = 0; i < n; i++) {
    size_t len = strlen(buf);
    if (len + 2 < size) snprintf(buf + len, size - len, "%s%s", i ? ", " : "", PQgetvalue(r, i, 0));
  }
  PQclear(r);
  return n;
}

/* Decides what the database is, under FK_PG_LOCK; creates or migrates the
 * schema when opening for writing. */
static int identify(fk_store *st, int mode) {
  PGresult *r;
  int rc = fk_pg_row(st, "reading the schema", "SELECT 1 WHERE to_regclass('meta') IS NOT NULL", NULL, &r);
  PQclear(r);
  if (rc == FK_OK)
    rc = fk_pg_row(st, "reading the schema",
                   "SELECT (SELECT value FROM meta WHERE key = 'format'),"
                   " (SELECT value FROM meta WHERE key = 'schema_version')", NULL, &r);
  if (rc == FK_OK) {
    int facekit = !PQgetisnull(r, 0, 0) && !strcmp(PQgetvalue(r, 0, 0), "facekit-index");
    int64_t ver = fk_pg_get_int(r, 0, 1);
    PQclear(r);
    if (!facekit)
      return fk_store_fail(st, FK_ENOTINDEX, "%s is a database with a meta table, but not a facekit index",
                           st->path);
    if (ver > FK_PG_SCHEMA)
      return fk_store_fail(st, FK_EUNSUPPORTED,
                           "%s uses index schema version %lld; this facekit knows up to %d: upgrade facekit",
                           st->path, (long long)ver, FK_PG_SCHEMA);
    if (ver < 1) return fk_store_fail(st, FK_ENOTINDEX, "%s: unknown index schema version %lld", st->path,
                                      (long long)ver);
    return ver < FK_PG_SCHEMA && mode == FK_STORE_WRITE ? migrate(st, ver) : FK_OK;
  }
  if (rc != FK_ENOENT) return rc;
  char tables[256];
  int64_t n = list_tables(st, tables, sizeof tables);
  if (n < 0) return FK_EDB;
  if (n > 0)
    return fk_store_fail(st, FK_ENOTINDEX, "%s is a database but not a facekit index (it holds tables %s)",
                         st->path, tables);
  if (mode != FK_STORE_WRITE)
    return fk_store_fail(st, FK_ENOTINDEX, "%s is an empty database, not a facekit index (build one with "
                         "`facekit index DIR --db %s`)", st->path, st->path);
  return migrate(st, 0);
}


static int pg_begin(fk_store *st, int kind);
static int pg_commit(fk_store *st);
static void pg_rollback(fk_store *st);

/* "postgresql:" alone: every parameter from the PG* environment. */
static const char *conninfo(const char *locator) {
  return !strcmp(locator, "postgresql:") || !strcmp(locator, "postgres:") ? "" : locator;
}

static int pg_open(fk_store *st, const char *locator, int mode) {
  if (!(st->impl = calloc(1, sizeof(fk_pg)))) return fk_store_fail(st, FK_ENOMEM, "out of memory");
  PG(st)->conn = PQconnectdb(conninfo(locator));
  if (!PG(st)->conn) return fk_store_fail(st, FK_ENOMEM, "out of memory");
  char name[1024];
  describe(PG(st)->conn, name, sizeof name);
  if (!(st->path = strdup(name))) return fk_store_fail(st, FK_ENOMEM, "out of memory");
  if (PQstatus(PG(st)->conn) != CONNECTION_OK) return connect_failure(st, PQerrorMessage(PG(st)->conn));
  st->schema = FK_STORE_SCHEMA; /* what the SQLite format 3 has: the change sequence */
  int rc = fk_pg_exec(st, "setting up the session", "SET client_min_messages = warning", NULL, NULL);
  if (rc == FK_OK) rc = pg_begin(st, mode == FK_STORE_WRITE ? FK_TXN_WRITE : FK_TXN_READ);
  if (rc) return rc;
  if ((rc = identify(st, mode)) == FK_OK && (rc = fk_store_read_dim(st, 0)) == FK_OK && (rc = pg_commit(st)) == FK_OK) {
    st->writable = mode == FK_STORE_WRITE;
    return FK_OK;
  }
  pg_rollback(st);
  return rc;
}

static void pg_close(fk_store *st) {
  if (!st->impl) return;
  PQfinish(PG(st)->conn);
  fk_pg_rows_drop(&PG(st)->rows, 1);
  free(st->impl);
  st->impl = NULL;
}

/* ---- transactions ---------------------------------------------------------- */

/* A connection lost between transactions is made again by the next
 * statement or transaction (a server restart): nothing was in flight, and
 * the loaded vectors catch up from their seq as they would after any other
 * writer's commits. The statement that found it lost fails with FK_EIO:
 * it is not run again, as it may have been a write. */
static int reconnect(fk_store *st) {
  PGconn *c = PG(st)->conn;
  if (PQstatus(c) == CONNECTION_OK && !PG(st)->broken) return FK_OK;
  PQreset(c);
  PG(st)->broken = 0;
  if (PQstatus(c) != CONNECTION_OK)
    return fk_store_fail(st, FK_EIO, "%s: lost the connection to the server, and reconnecting failed: %s",
                         st->path, PQerrorMessage(c));
  PG(st)->listening = 0;
  return fk_pg_exec(st, "setting up the session", "SET client_min_messages = warning", NULL, NULL);
}

static int pg_begin(fk_store *st, int kind) {
  int rc = reconnect(st);
  if (rc) return rc;
  /* REPEATABLE READ: one snapshot for the state and the rows read with it */
  if (kind == FK_TXN_READ)
    rc = fk_pg_exec(st, "starting a transaction", "BEGIN ISOLATION LEVEL REPEATABLE READ", NULL, NULL);
  else
    rc = fk_pg_exec(st, "starting a transaction", "BEGIN; SELECT pg_advisory_xact_lock(" FK_STR(FK_PG_LOCK) ")",
                    NULL, NULL);
  if (rc == FK_OK) PG(st)->in_txn = 1, PG(st)->write_txn = kind == FK_TXN_WRITE;
  return rc;
}

/* A write commit tells the readers (LISTEN FK_PG_CHANNEL) the new seq;
 * PostgreSQL delivers it when, and only if, the transaction commits. */
static int pg_commit(fk_store *st) {
  int rc = FK_OK;
  if (PG(st)->write_txn)
    rc = fk_pg_exec(st, "notifying readers",
                    "SELECT pg_notify('" FK_PG_CHANNEL "', value) FROM meta WHERE key = 'seq'", NULL, NULL);
  if (rc == FK_OK) rc = fk_pg_exec(st, "committing", "COMMIT", NULL, NULL);
  if (rc) pg_rollback(st);
  PG(st)->in_txn = PG(st)->write_txn = 0;
  return rc;
}

static void pg_rollback(fk_store *st) {
  if (PQstatus(PG(st)->conn) == CONNECTION_OK && PQtransactionStatus(PG(st)->conn) != PQTRANS_IDLE)
    PQclear(PQexec(PG(st)->conn, "ROLLBACK"));
  fk_pg_rows_drop(&PG(st)->rows, 0);
  PG(st)->in_txn = PG(st)->write_txn = 0;
}

/* ---- waiting for changes ----------------------------------------------------
 *
 * Writers NOTIFY FK_PG_CHANNEL in the transaction that commits (pg_commit);
 * PostgreSQL delivers it to every session that LISTENs, once committed. */

/* Takes the notifications that came in; 1 if there was any. */
static int drain(PGconn *c) {
  int any = 0;
  PGnotify *n;
  while ((n = PQnotifies(c))) {
    any = 1;
    PQfreemem(n);
  }
  return any;
}

static int pg_wait_change(fk_store *st, int timeout_ms) {
  PGconn *c = PG(st)->conn;
  int rc = reconnect(st);
  if (rc) return rc;
  if (!PG(st)->listening) {
    if ((rc = fk_pg_exec(st, "listening for changes", "LISTEN " FK_PG_CHANNEL, NULL, NULL))) return rc;
    PG(st)->listening = 1;
    drain(c);
    return 1; /* what was committed before the LISTEN */
  }
  if (!PQconsumeInput(c)) return fk_pg_fail(st, "waiting for changes", NULL);
  if (drain(c)) return 1;
  struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
  int n = poll(&p, 1, timeout_ms);
  if (n < 0 && errno != EINTR) return fk_store_fail(st, FK_EIO, "%s: waiting for changes: %s", st->path, strerror(errno));
  if (n <= 0) return 0;
  if (!PQconsumeInput(c)) return fk_pg_fail(st, "waiting for changes", NULL);
  return drain(c);
}

/* ---- meta and counts ------------------------------------------------------- */

static int pg_meta_get(fk_store *st, const char *key, char *buf, size_t size) {
  fk_pg_params p = {0};
  fk_pg_text(&p, key);
  PGresult *r;
  int rc = fk_pg_row(st, "reading meta", "SELECT value FROM meta WHERE key = $1", &p, &r);
  if (rc) return rc;
  snprintf(buf, size, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  return FK_OK;
}

static int pg_meta_set(fk_store *st, const char *key, const char *value) {
  fk_pg_params p = {0};
  fk_pg_text(&p, key);
  fk_pg_text(&p, value);
  return fk_pg_exec(st, "writing meta",
                    "INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT(key) DO UPDATE SET value = $2", &p,
                    NULL);
}

static int pg_bump_generation(fk_store *st) {
  return fk_pg_exec(st, "writing meta",
                    "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'generation'", NULL, NULL);
}

static int pg_counts(fk_store *st, fk_store_info *info) {
  PGresult *r;
  int rc = fk_pg_row(st, "counting",
                     "SELECT (SELECT count(*) FROM images), (SELECT count(*) FROM faces),"
                     " (SELECT count(*) FROM identities),"
                     " (SELECT count(*) FROM images WHERE status = 'no_face'),"
                     " (SELECT count(*) FROM images WHERE status = 'error')", NULL, &r);
  if (rc) return rc;
  info->images = fk_pg_get_int(r, 0, 0);
  info->faces = fk_pg_get_int(r, 0, 1);
  info->identities = fk_pg_get_int(r, 0, 2);
  info->no_face = fk_pg_get_int(r, 0, 3);
  info->errors = fk_pg_get_int(r, 0, 4);
  PQclear(r);
  return FK_OK;
}

static int pg_read_state(fk_store *st, fk_store_state *s) {
  memset(s, 0, sizeof *s);
  PGresult *r;
  int rc = fk_pg_row(st, "reading meta",
                     "SELECT (SELECT value FROM meta WHERE key = 'uuid'),"
                     " (SELECT value FROM meta WHERE key = 'generation'),"
                     " (SELECT value FROM meta WHERE key = 'seq'),"
                     " (SELECT value FROM meta WHERE key = 'dim')", NULL, &r);
  if (rc) return rc == FK_ENOENT ? fk_store_fail(st, FK_ENOTINDEX, "%s: meta table empty", st->path) : rc;
  if (PQgetisnull(r, 0, 0) || PQgetisnull(r, 0, 1) || PQgetisnull(r, 0, 2)) {
    rc = fk_store_fail(st, FK_ENOTINDEX, "%s: meta table incomplete", st->path);
  } else {
    s->schema = FK_STORE_SCHEMA;
    snprintf(s->uuid, sizeof s->uuid, "%s", PQgetvalue(r, 0, 0));
    s->generation = fk_pg_get_int(r, 0, 1);
    s->seq = fk_pg_get_int(r, 0, 2);
    s->dim = (int)fk_pg_get_int(r, 0, 3);
    if (s->dim < 0 || s->dim > FK_EMBED_MAX)
      rc = fk_store_fail(st, FK_ECORRUPT, "%s: meta.dim %d is not an embedding width", st->path, s->dim);
  }
  PQclear(r);
  return rc;
}

/* ---- vectors: COPY (FORMAT binary) ------------------------------------------
 *
 * The stream: an 11-byte signature "PGCOPY\n\377\r\n\0", int32 flags,
 * int32 length of a header extension (skipped), then per row an int16
 * field count (-1 ends the stream) and per field an int32 length (-1:
 * NULL) and the value, all integers big-endian: bigint 8 bytes, integer 4,
 * double precision 8 (IEEE), bytea its bytes. */

static const char copy_signature[11] = "PGCOPY\n\377\r\n";

typedef struct copy_reader {
  fk_vecs *v;
  int64_t rows;
  int header_done, ended;
} copy_reader;

static uint16_t be16(const char *p) { uint16_t x; memcpy(&x, p, 2); return be16toh(x); }
static uint32_t be32(const char *p) { uint32_t x; memcpy(&x, p, 4); return be32toh(x); }
static uint64_t be64(const char *p) { uint64_t x; memcpy(&x, p, 8); return be64toh(x); }

static double be_double(const char *p) {
  uint64_t u = be64(p);
  double d;
  memcpy(&d, &u, 8);
  return d;
}

/* One row (id bigint, image bigint, identity bigint, central integer, norm
 * double, emb_f32 bytea, emb_i8 bytea) of len bytes at p into the next
 * row of v; -1 if it is malformed. */
static int copy_row(copy_reader *cr, const char *p, size_t len) {
  fk_vecs *v = cr->v;
  const int dim = v->dim;
  static const int want[7] = {8, 8, 8, 4, 8, -1, -1};
  const char *f[7];
  size_t o = 2;
  if (len < 2 || (int16_t)be16(p) != 7) return -1;
  for (int i = 0; i < 7; i++) {
    if (o + 4 > len) return -1;
    int32_t n = (int32_t)be32(p + o);
    o += 4;
    int expect = i == 5 ? dim * 4 : i == 6 ? dim : want[i];
    if (n != expect || o + (size_t)n > len) return -1;
    f[i] = p + o;
    o += (size_t)n;
  }
  if (o != len || cr->rows >= v->n) return -1;
  int64_t r = cr->rows++;
  v->face_id[r] = (int64_t)be64(f[0]);
  v->image_id[r] = (int64_t)be64(f[1]);
  v->identity[r] = (int32_t)(int64_t)be64(f[2]);
  v->flags[r] = be32(f[3]) ? FK_VEC_CENTRAL : 0;
  v->norm[r] = (float)be_double(f[4]);
  memcpy(v->f32 + r * dim, f[5], (size_t)dim * sizeof(float)); /* stored little-endian, as in SQLite */
  memcpy(v->i8 + r * dim, f[6], (size_t)dim);
  fk_vecs_code_norm(v, r);
  return 0;
}

/* One CopyData message: libpq hands over one row at a time, the first one
 * after the header. */
static int copy_message(copy_reader *cr, const char *p, size_t len) {
  if (!cr->header_done) {
    if (len < 19 || memcmp(p, copy_signature, 11)) return -1;
    size_t ext = be32(p + 15);
    if (19 + ext > len) return -1;
    p += 19 + ext;
    len -= 19 + ext;
    cr->header_done = 1;
    if (len == 0) return 0;
  }
  if (cr->ended) return -1;
  if (len == 2 && (int16_t)be16(p) == -1) {
    cr->ended = 1;
    return 0;
  }
  return copy_row(cr, p, len);
}

/* Reads the COPY sql into v (n rows); drains the stream whatever happens. */
static int copy_rows(fk_store *st, const char *sql, fk_vecs *v) {
  PGconn *c = PG(st)->conn;
  int rc = PG(st)->rows.n ? fk_pg_flush(st) : FK_OK; /* faces put in this transaction */
  if (rc) return rc;
  PGresult *r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COPY_OUT) {
    rc = fk_pg_fail(st, "reading faces", r);
    PQclear(r);
    return rc;
  }
  PQclear(r);
  copy_reader cr = {.v = v};
  int bad = 0, len;
  char *buf;
  while ((len = PQgetCopyData(c, &buf, 0)) > 0) {
    if (!bad && copy_message(&cr, buf, (size_t)len) != 0) bad = 1;
    PQfreemem(buf);
  }
  while ((r = PQgetResult(c))) {
    if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == FK_OK) rc = fk_pg_fail(st, "reading faces", r);
    PQclear(r);
  }
  if (rc == FK_OK && len == -2) rc = fk_pg_fail(st, "reading faces", NULL);
  if (rc == FK_OK && (bad || !cr.ended))
    rc = fk_store_fail(st, FK_ECORRUPT, "%s: faces row %lld is malformed", st->path, (long long)cr.rows);
  if (rc == FK_OK && cr.rows != v->n)
    rc = fk_store_fail(st, FK_EDB, "%s: faces changed while reading", st->path);
  return rc;
}

static int pg_vec_rows(fk_store *st, int64_t since, fk_vecs *v) {
  char where[64], sql[512];
  snprintf(where, sizeof where, "WHERE f.seq > %lld", (long long)(since < 0 ? -1 : since));
  snprintf(sql, sizeof sql, "SELECT count(*) FROM faces f JOIN images i ON i.id = f.image_id %s", where);
  PGresult *r;
  int rc = fk_pg_row(st, "counting faces", sql, NULL, &r);
  if (rc) return rc;
  int64_t n = fk_pg_get_int(r, 0, 0);
  PQclear(r);
  const int dim = st->dim ? st->dim : 1; /* no model yet: no faces, any width */
  if ((rc = fk_vecs_alloc(v, n, dim))) return fk_store_fail(st, rc, "no memory for %lld vectors of %d", (long long)n, dim);
  snprintf(sql, sizeof sql,
           "COPY (SELECT f.id, f.image_id, coalesce(i.identity_id, -1), f.central, f.norm, f.emb_f32, f.emb_i8"
           " FROM faces f JOIN images i ON i.id = f.image_id %s ORDER BY f.id) TO STDOUT (FORMAT binary)",
           where);
  if ((rc = copy_rows(st, sql, v))) fk_vecs_free(v);
  return rc;
}

static int pg_tombstones(fk_store *st, int64_t since, int64_t **ids, int64_t *n) {
  *ids = NULL;
  *n = 0;
  fk_pg_params p = {0};
  fk_pg_int(&p, since);
  PGresult *r;
  int rc = fk_pg_exec(st, "reading deleted faces", "SELECT face_id FROM deleted WHERE seq > $1", &p, &r);
  if (rc) return rc;
  int64_t cnt = PQntuples(r);
  if (cnt && !(*ids = malloc((size_t)cnt * sizeof **ids))) rc = fk_store_fail(st, FK_ENOMEM, "out of memory");
  for (int64_t i = 0; rc == FK_OK && i < cnt; i++) (*ids)[i] = fk_pg_get_int(r, (int)i, 0);
  if (rc == FK_OK) *n = cnt;
  PQclear(r);
  return rc;
}

/* ---- reads ------------------------------------------------------------------ */

typedef struct row_fn {
  int (*image)(const fk_image_row *r, void *user);
  int (*face)(const fk_store_face *f, void *user);
  int (*query)(int64_t image, int64_t identity, int64_t n, void *user);
  void *user;
  fk_store_face *f;
} row_fn;

static int image_row(const PGresult *r, void *user) {
  row_fn *c = user;
  fk_image_row row = {
      .id = fk_pg_get_int(r, 0, 0),
      .path = fk_pg_name_value(r, 0, 1),
      .size = fk_pg_get_int(r, 0, 2),
      .mtime_ns = fk_pg_get_int(r, 0, 3),
      .hash = PQgetvalue(r, 0, 4),
      .is_error = !strcmp(PQgetvalue(r, 0, 5), "error"),
  };
  return c->image(&row, c->user);
}

typedef struct path_fn {
  int (*fn)(const char *path, void *user);
  void *user;
} path_fn;

static int deleted_row(const PGresult *r, void *user) {
  path_fn *c = user;
  return c->fn(fk_pg_name_value(r, 0, 0), c->user);
}

static int pg_foreach_deleted_file(fk_store *st, int (*fn)(const char *path, void *user), void *user) {
  path_fn c = {fn, user};
  return foreach_row(st, "reading deleted files", "SELECT path FROM deleted_files", NULL, deleted_row, &c);
}

static int pg_foreach_image(fk_store *st, int (*fn)(const fk_image_row *r, void *user), void *user) {
  row_fn c = {.image = fn, .user = user};
  return foreach_row(st, "reading images", "SELECT id, path, size, mtime_ns, hash, status FROM images", NULL,
                     image_row, &c);
}

/* A bytea column (text format, hex) of exactly size bytes into dst, else
 * zeros; returns the decoded length. */
static size_t copy_bytea(const PGresult *r, int row, int col, void *dst, size_t size) {
  size_t n = 0;
  unsigned char *b = PQunescapeBytea((const unsigned char *)PQgetvalue(r, row, col), &n);
  memset(dst, 0, size);
  if (b && n == size) memcpy(dst, b, size);
  PQfreemem(b);
  return b ? n : 0;
}

/* A row of FK_FACE_COLUMNS (as search.c's read_face for SQLite). */
static void read_face(const PGresult *r, int i, fk_store_face *f) {
  f->id = fk_pg_get_int(r, i, 0);
  f->image_id = fk_pg_get_int(r, i, 1);
  snprintf(f->path, sizeof f->path, "%s", fk_pg_name_value(r, i, 2));
  snprintf(f->identity, sizeof f->identity, "%s", fk_pg_name_value(r, i, 3));
  f->image_width = (int)fk_pg_get_int(r, i, 4);
  f->image_height = (int)fk_pg_get_int(r, i, 5);
  f->index = (int)fk_pg_get_int(r, i, 6);
  f->central = (int)fk_pg_get_int(r, i, 7);
  f->box = (fk_box){strtof(PQgetvalue(r, i, 8), NULL), strtof(PQgetvalue(r, i, 9), NULL),
                    strtof(PQgetvalue(r, i, 10), NULL), strtof(PQgetvalue(r, i, 11), NULL)};
  f->score = strtof(PQgetvalue(r, i, 12), NULL);
  copy_bytea(r, i, 13, f->landmarks, sizeof f->landmarks);
  /* the width is the code's length; a row that disagrees reads as 0-d */
  int8_t code[FK_EMBED_MAX + 1];
  size_t dim = copy_bytea(r, i, 15, code, 0);
  f->dim = dim <= FK_EMBED_MAX ? (int)dim : 0;
  if (copy_bytea(r, i, 14, f->embedding, (size_t)f->dim * sizeof(float)) != (size_t)f->dim * sizeof(float))
    f->dim = 0;
  copy_bytea(r, i, 15, f->code, (size_t)f->dim);
  f->norm = strtof(PQgetvalue(r, i, 16), NULL);
  snprintf(f->model, sizeof f->model, "%s", PQgetvalue(r, i, 17));
}

static int pg_get_face(fk_store *st, int64_t face_id, fk_store_face *out) {
  fk_pg_params p = {0};
  fk_pg_int(&p, face_id);
  PGresult *r;
  int rc = fk_pg_row(st, "reading a face", FK_FACE_COLUMNS " WHERE f.id = $1", &p, &r);
  if (rc == FK_ENOENT) return fk_store_fail(st, FK_ENOENT, "%s: no face %lld", st->path, (long long)face_id);
  if (rc) return rc;
  read_face(r, 0, out);
  PQclear(r);
  return FK_OK;
}

static int face_row(const PGresult *r, void *user) {
  row_fn *c = user;
  read_face(r, 0, c->f);
  return c->face(c->f, c->user);
}

static int pg_foreach_face(fk_store *st, int (*fn)(const fk_store_face *f, void *user), void *user) {
  row_fn c = {.face = fn, .user = user, .f = malloc(sizeof(fk_store_face))};
  if (!c.f) return fk_store_fail(st, FK_ENOMEM, "out of memory");
  int rc = foreach_row(st, "reading faces", FK_FACE_COLUMNS " ORDER BY f.id", NULL, face_row, &c);
  free(c.f);
  return rc;
}

static int pg_list_identities(fk_store *st, int64_t offset, int limit, fk_identity_info *out, int *n,
                              int64_t *total) {
  PGresult *r;
  int rc = fk_pg_row(st, "counting", "SELECT count(*) FROM identities", NULL, &r);
  if (rc) return rc;
  if (total) *total = fk_pg_get_int(r, 0, 0);
  PQclear(r);
  fk_pg_params p = {0};
  fk_pg_int(&p, limit);
  fk_pg_int(&p, offset);
  /* byte order, as SQLite's: COLLATE "C" */
  if ((rc = fk_pg_exec(st, "listing identities",
                       "SELECT d.id, d.name, (SELECT count(*) FROM images WHERE identity_id = d.id),"
                       " (SELECT count(*) FROM faces f JOIN images i ON i.id = f.image_id"
                       " WHERE i.identity_id = d.id) FROM identities d ORDER BY d.name COLLATE \"C\""
                       " LIMIT $1 OFFSET $2", &p, &r)))
    return rc;
  for (int i = 0; i < PQntuples(r) && *n < limit; i++) {
    fk_identity_info *d = &out[(*n)++];
    d->id = fk_pg_get_int(r, i, 0);
    snprintf(d->name, sizeof d->name, "%s", fk_pg_name_value(r, i, 1));
    d->images = fk_pg_get_int(r, i, 2);
    d->faces = fk_pg_get_int(r, i, 3);
  }
  PQclear(r);
  return FK_OK;
}

static int pg_identity_faces(fk_store *st, const char *identity, int64_t offset, int limit, fk_store_face *out,
                             int *n, int64_t *total) {
  fk_pg_params p = {0};
  fk_pg_name(&p, identity);
  PGresult *r;
  int rc = fk_pg_row(st, "reading an identity",
                     "SELECT d.id, (SELECT count(*) FROM faces f JOIN images i ON i.id = f.image_id"
                     " WHERE i.identity_id = d.id) FROM identities d WHERE d.name = $1", &p, &r);
  if (rc == FK_ENOENT) return fk_store_fail(st, FK_ENOENT, "no identity '%s' in the index", identity);
  if (rc) return rc;
  int64_t id = fk_pg_get_int(r, 0, 0);
  if (total) *total = fk_pg_get_int(r, 0, 1);
  PQclear(r);
  fk_pg_params q = {0};
  fk_pg_int(&q, id);
  fk_pg_int(&q, limit);
  fk_pg_int(&q, offset);
  if ((rc = fk_pg_exec(st, "listing faces", FK_FACE_COLUMNS " WHERE i.identity_id = $1 ORDER BY f.id LIMIT $2 OFFSET $3",
                       &q, &r)))
    return rc;
  for (int i = 0; i < PQntuples(r) && *n < limit; i++) read_face(r, i, &out[(*n)++]);
  PQclear(r);
  return FK_OK;
}

static int query_row(const PGresult *r, void *user) {
  row_fn *c = user;
  return c->query(fk_pg_get_int(r, 0, 0), fk_pg_get_int(r, 0, 1), fk_pg_get_int(r, 0, 2), c->user);
}

static int pg_foreach_query(fk_store *st, int (*fn)(int64_t image, int64_t identity, int64_t n, void *user),
                            void *user) {
  row_fn c = {.query = fn, .user = user};
  return foreach_row(st, "reading images", FK_QUERY_ROWS, NULL, query_row, &c);
}

const fk_store_ops fk_pg_ops = {
    .version = FK_STORE_OPS_VERSION,
    .name = "postgresql",
    .open = pg_open,
    .close = pg_close,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .meta_get = pg_meta_get,
    .meta_set = pg_meta_set,
    .bump_generation = pg_bump_generation,
    .counts = pg_counts,
    .read_state = pg_read_state,
    .vec_rows = pg_vec_rows,
    .tombstones = pg_tombstones,
    .foreach_image = pg_foreach_image,
    .foreach_deleted_file = pg_foreach_deleted_file,
    .writer_init = fk_pg_writer_init,
    .writer_free = fk_pg_writer_free,
    .identity = fk_pg_identity,
    .put = fk_pg_put,
    .move = fk_pg_move,
    .touch = fk_pg_touch,
    .delete_image = fk_pg_delete_image,
    .drop_orphans = fk_pg_drop_orphans,
    .find_image = fk_pg_find_image,
    .keep_image = fk_pg_keep_image,
    .face_ids = fk_pg_face_ids,
    .drop_identity = fk_pg_drop_identity,
    .delete_face_body = fk_pg_delete_face_body,
    .delete_identity_body = fk_pg_delete_identity_body,
    .get_face = pg_get_face,
    .foreach_face = pg_foreach_face,
    .list_identities = pg_list_identities,
    .identity_faces = pg_identity_faces,
    .foreach_query = pg_foreach_query,
    .claim = fk_pg_claim,
    .renew = fk_pg_renew,
    .release = fk_pg_release,
    .wait_change = pg_wait_change,
};
