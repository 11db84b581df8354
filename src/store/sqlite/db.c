/*
 * db.c - the SQLite backend of the face index (fk_sqlite_ops): opening a
 * file and telling a facekit index from anything else, creating the schema
 * (see store.h) and migrating older ones, meta, transactions, counts, the
 * change sequence's state and waiting for another writer's commit; the
 * statement helpers and error reporting of sqlite.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/abi.h"
#include "store/sqlite/sqlite.h"

/* The faces table under a name (the schema, and the migration to it). Ids
 * are AUTOINCREMENT: a face id is never reused, so a client holding one can
 * never delete or read another face by it, and the vectors, kept in id
 * order, grow by appending. seq is the change sequence (store.h). */
#define FACES_TABLE(name)                                                    \
  "CREATE TABLE " name "("                                                   \
  " id INTEGER PRIMARY KEY AUTOINCREMENT,"                                   \
  " image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"      \
  " idx INTEGER NOT NULL,"                                                   \
  " x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,"     \
  " score REAL NOT NULL,"                                                    \
  " landmarks BLOB NOT NULL CHECK(length(landmarks) = 544),"                 \
  " model TEXT NOT NULL,"                                                    \
  " central INTEGER NOT NULL,"                                               \
  " norm REAL NOT NULL,"                                                     \
  " emb_f32 BLOB NOT NULL,"                                                  \
  " emb_i8 BLOB NOT NULL CHECK(length(emb_f32) = 4 * length(emb_i8)),"       \
  " seq INTEGER NOT NULL DEFAULT 0,"                                         \
  " UNIQUE(image_id, idx));"

/* The change sequence (store.h): triggers, so that no writer (this library,
 * another facekit, the sqlite3 shell) can change faces without a reader
 * hearing of it. Made after the faces table is filled, so migrated rows
 * keep seq 0. */
#define NEXT_SEQ "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'seq';"
#define CUR_SEQ "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'seq')"
#define CHANGE_SEQUENCE                                                                    \
  "CREATE INDEX faces_seq ON faces(seq);"                                                  \
  "CREATE TABLE deleted(seq INTEGER PRIMARY KEY, face_id INTEGER NOT NULL);"               \
  "CREATE TRIGGER faces_added AFTER INSERT ON faces BEGIN " NEXT_SEQ                       \
  " UPDATE faces SET seq = " CUR_SEQ " WHERE id = NEW.id; END;"                            \
  "CREATE TRIGGER faces_removed AFTER DELETE ON faces BEGIN " NEXT_SEQ                     \
  " INSERT INTO deleted(seq, face_id) VALUES(" CUR_SEQ ", OLD.id); END;"                   \
  "CREATE TRIGGER images_relabelled AFTER UPDATE OF identity_id ON images"                 \
  " WHEN OLD.identity_id IS NOT NEW.identity_id BEGIN " NEXT_SEQ                           \
  " UPDATE faces SET seq = " CUR_SEQ " WHERE image_id = NEW.id; END;"

/* Files whose faces were deleted one by one (fk_store_delete_face, _identity)
 * while the file may stay on disk: an index run leaves them out, so that a
 * deletion sticks, until the path is stored again (fk_store_add_entry, or
 * an index run with forget_deletions). Format 4. */
#define DELETED_FILES "CREATE TABLE IF NOT EXISTS deleted_files(path TEXT PRIMARY KEY, deleted_at INTEGER NOT NULL) WITHOUT ROWID;"

static const char schema_sql[] =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE identities(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE images("
    " id INTEGER PRIMARY KEY,"
    " path TEXT NOT NULL UNIQUE,"
    " size INTEGER NOT NULL,"
    " mtime_ns INTEGER NOT NULL,"
    " hash TEXT NOT NULL,"
    " width INTEGER NOT NULL DEFAULT 0,"
    " height INTEGER NOT NULL DEFAULT 0,"
    " status TEXT NOT NULL CHECK(status IN ('ok','no_face','error')),"
    " error TEXT,"
    " identity_id INTEGER REFERENCES identities(id),"
    " nfaces INTEGER NOT NULL DEFAULT 0,"
    " indexed_at INTEGER NOT NULL);"
    "CREATE INDEX images_hash ON images(hash);"
    "CREATE INDEX images_identity ON images(identity_id);"
    FACES_TABLE("faces")
    CHANGE_SEQUENCE
    DELETED_FILES;

/* FK_E* for a SQLite result code. */
static int status_of(int rc) {
  switch (rc & 0xff) {
    case SQLITE_NOMEM: return FK_ENOMEM;
    case SQLITE_NOTADB: return FK_ENOTINDEX;
    case SQLITE_READONLY: return FK_EREADONLY;
    case SQLITE_CANTOPEN: case SQLITE_IOERR: case SQLITE_FULL: return FK_EIO;
    default: return FK_EDB;
  }
}

int fk_store_sqlfail(fk_store *st, const char *what) {
  int rc = sqlite3_extended_errcode(SQ(st)->db);
  const char *msg = sqlite3_errmsg(SQ(st)->db);
  if ((rc & 0xff) == SQLITE_READONLY)
    return fk_store_fail(st, FK_EREADONLY, "%s: %s is read-only (%s)", what, st->path, msg);
  return fk_store_fail(st, status_of(rc), "%s: %s: %s", st->path, what, msg);
}

int fk_store_exec(fk_store *st, const char *sql) {
  char *msg = NULL;
  if (sqlite3_exec(SQ(st)->db, sql, NULL, NULL, &msg) == SQLITE_OK) return FK_OK;
  sqlite3_free(msg);
  return fk_store_sqlfail(st, "query failed");
}

int fk_store_prepare(fk_store *st, const char *sql, sqlite3_stmt **out) {
  if (sqlite3_prepare_v2(SQ(st)->db, sql, -1, out, NULL) == SQLITE_OK) return FK_OK;
  *out = NULL;
  return fk_store_sqlfail(st, "query failed");
}

static int sq_meta_get(fk_store *st, const char *key, char *buf, size_t size) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, "SELECT value FROM meta WHERE key = ?", &q);
  if (rc) return rc;
  sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
  int step = sqlite3_step(q);
  if (step == SQLITE_ROW) {
    snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
    rc = FK_OK;
  } else {
    rc = step == SQLITE_DONE ? FK_ENOENT : fk_store_sqlfail(st, "reading meta");
  }
  sqlite3_finalize(q);
  return rc;
}

static int sq_meta_set(fk_store *st, const char *key, const char *value) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st, "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", &q);
  if (rc) return rc;
  sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, value, -1, SQLITE_STATIC);
  rc = sqlite3_step(q) == SQLITE_DONE ? FK_OK : fk_store_sqlfail(st, "writing meta");
  sqlite3_finalize(q);
  return rc;
}

static int sq_bump_generation(fk_store *st) {
  return fk_store_exec(st, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'");
}

/* ---- SQLite transactions ------------------------------------------------- */

/* BEGIN IMMEDIATE takes the write lock at once: SQLite then serializes the
 * writers (store.h, the change sequence). */
static int sq_begin(fk_store *st, int kind) {
  return fk_store_exec(st, kind == FK_TXN_WRITE ? "BEGIN IMMEDIATE" : "BEGIN");
}

static int sq_commit(fk_store *st) { return fk_store_exec(st, "COMMIT"); }

static void sq_rollback(fk_store *st) { sqlite3_exec(SQ(st)->db, "ROLLBACK", NULL, NULL, NULL); }

/* ---- opening ----------------------------------------------------------- */

static int64_t pragma_int(fk_store *st, const char *sql, int *rc) {
  sqlite3_stmt *q;
  int64_t v = 0;
  if ((*rc = fk_store_prepare(st, sql, &q))) return 0;
  int step = sqlite3_step(q);
  if (step == SQLITE_ROW) v = sqlite3_column_int64(q, 0);
  else *rc = fk_store_sqlfail(st, "reading the database header");
  sqlite3_finalize(q);
  return v;
}

/* Lists the tables of a foreign database into buf, for the message. */
static int64_t list_tables(fk_store *st, char *buf, size_t size) {
  sqlite3_stmt *q;
  int64_t n = 0;
  buf[0] = '\0';
  if (fk_store_prepare(st, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name", &q))
    return -1;
  while (sqlite3_step(q) == SQLITE_ROW) {
    size_t len = strlen(buf);
    if (len + 2 < size) snprintf(buf + len, size - len, "%s%s", n ? ", " : "", sqlite3_column_text(q, 0));
    n++;
  }
  sqlite3_finalize(q);
  return n;
}

static int create_schema(fk_store *st) {
  unsigned char r[16];
  char uuid[33], sql[512];
  if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
    for (int i = 0; i < 16; i++) r[i] = (unsigned char)(rand() ^ getpid() ^ (i * 131));
  for (int i = 0; i < 16; i++) snprintf(uuid + 2 * i, 3, "%02x", r[i]);
  int rc = fk_store_exec(st, "BEGIN IMMEDIATE");
  if (rc) return rc;
  /* Another process may have created it while we waited for the lock. */
  int64_t tables = pragma_int(st, "SELECT count(*) FROM sqlite_schema", &rc);
  if (rc == FK_OK && tables == 0) {
    snprintf(sql, sizeof sql,
             "PRAGMA application_id = %d; PRAGMA user_version = %d;"
             "INSERT INTO meta VALUES('format', 'facekit-index'), ('uuid', '%s'),"
             " ('generation', '0'), ('seq', '0'), ('created', strftime('%%Y-%%m-%%dT%%H:%%M:%%SZ', 'now'))",
             FK_STORE_APP_ID, FK_STORE_SCHEMA, uuid);
    if ((rc = fk_store_exec(st, schema_sql)) == FK_OK) rc = fk_store_exec(st, sql);
  }
  if (rc == FK_OK) return fk_store_exec(st, "COMMIT");
  sqlite3_exec(SQ(st)->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* Versions 1 and 2 -> 3 (see store.h): the faces table is rebuilt under
 * the same name with AUTOINCREMENT ids, the seq column (0 for the rows it
 * had) and, for version 1, without the 128-d CHECKs; SQLite can alter none
 * of these in place. Rows and ids are unchanged. 3 -> 4 adds the
 * deleted_files table (empty: deletions made before it did not stick). One
 * transaction. */
static int migrate(fk_store *st) {
  int rc = fk_store_exec(st, "BEGIN IMMEDIATE");
  if (rc) return rc;
  int64_t ver = pragma_int(st, "PRAGMA user_version", &rc);
  if (rc == FK_OK && ver < 3) {
    static const char sql[] =
        FACES_TABLE("faces_v3")
        "INSERT INTO faces_v3 SELECT id, image_id, idx, x, y, w, h, score, landmarks, model,"
        " central, norm, emb_f32, emb_i8, 0 FROM faces;"
        "DROP TABLE faces;"
        "ALTER TABLE faces_v3 RENAME TO faces;"
        CHANGE_SEQUENCE
        "INSERT OR IGNORE INTO meta VALUES('seq', '0');";
    /* format 1 had no meta.dim: its embeddings were 128-d */
    if (ver == 1)
      rc = fk_store_exec(st, "INSERT OR IGNORE INTO meta SELECT 'dim', '128' WHERE EXISTS"
                             " (SELECT 1 FROM meta WHERE key = 'model')");
    if (rc == FK_OK) rc = fk_store_exec(st, sql);
  }
  if (rc == FK_OK && ver < 4) rc = fk_store_exec(st, DELETED_FILES);
  if (rc == FK_OK && ver < FK_STORE_SCHEMA) rc = fk_store_exec(st, "PRAGMA user_version = " FK_STR(FK_STORE_SCHEMA));
  if (rc == FK_OK) return fk_store_exec(st, "COMMIT");
  sqlite3_exec(SQ(st)->db, "ROLLBACK", NULL, NULL, NULL);
  return fk_store_fail(st, rc, "%s: upgrading the index from format %lld to %d failed (nothing was changed): %s",
                       st->path, (long long)ver, FK_STORE_SCHEMA, st->err);
}

/* Decides what the opened file is; creates the schema in an empty database
 * opened for writing, and upgrades an older one. */
static int identify(fk_store *st, int mode) {
  int rc;
  int64_t app = pragma_int(st, "PRAGMA application_id", &rc);
  if (rc == FK_ENOTINDEX)
    return fk_store_fail(st, rc, "%s is not a facekit index (not even a SQLite database)", st->path);
  if (rc) return rc;
  if (app == FK_STORE_APP_ID) {
    int64_t ver = pragma_int(st, "PRAGMA user_version", &rc);
    if (rc) return rc;
    if (ver > FK_STORE_SCHEMA)
      return fk_store_fail(st, FK_EUNSUPPORTED,
                           "%s uses index format %lld; this facekit reads up to %d: upgrade facekit",
                           st->path, (long long)ver, FK_STORE_SCHEMA);
    if (ver < 1)
      return fk_store_fail(st, FK_ENOTINDEX, "%s: unknown index format %lld", st->path, (long long)ver);
    st->schema = (int)ver;
    if (ver == FK_STORE_SCHEMA || mode != FK_STORE_WRITE) return FK_OK;
    if ((rc = migrate(st))) return rc;
    st->schema = FK_STORE_SCHEMA;
    return FK_OK;
  }
  if (app != 0)
    return fk_store_fail(st, FK_ENOTINDEX,
                         "%s is a SQLite database of another application (application_id 0x%llx), "
                         "not a facekit index", st->path, (unsigned long long)app);
  char tables[256];
  int64_t n = list_tables(st, tables, sizeof tables);
  if (n > 0)
    return fk_store_fail(st, FK_ENOTINDEX,
                         "%s is a SQLite database but not a facekit index (it holds tables %s)",
                         st->path, tables);
  if (n < 0) return fk_store_sqlfail(st, "reading the schema");
  if (mode != FK_STORE_WRITE)
    return fk_store_fail(st, FK_ENOTINDEX, "%s is an empty database, not a facekit index", st->path);
  st->schema = FK_STORE_SCHEMA;
  return create_schema(st);
}

/* Why a path cannot be opened for writing, or FK_OK if it seems it can. */
static int check_writable(fk_store *st) {
  struct stat sb;
  if (stat(st->path, &sb) == 0) {
    if (S_ISDIR(sb.st_mode)) return fk_store_fail(st, FK_ENOTINDEX, "%s is a directory", st->path);
    if (access(st->path, W_OK) != 0)
      return fk_store_fail(st, FK_EREADONLY, "cannot write the index %s: %s", st->path, strerror(errno));
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", st->path);
  char *slash = strrchr(dir, '/');
  if (slash) *(slash == dir ? slash + 1 : slash) = '\0';
  else snprintf(dir, sizeof dir, ".");
  /* WAL mode needs the -wal and -shm files next to the database. */
  if (access(dir, W_OK) != 0)
    return fk_store_fail(st, errno == ENOENT ? FK_ENOENT : FK_EREADONLY,
                         "cannot write the index %s: directory %s: %s", st->path, dir, strerror(errno));
  return FK_OK;
}

/* A read-only WAL database in a directory we cannot write to can only be
 * read as immutable: reopen it through a URI. */
static int reopen_immutable(fk_store *st) {
  char uri[8192] = "file:";
  size_t o = strlen(uri);
  for (const char *p = st->path; *p && o + 4 < sizeof uri; p++) {
    if (*p == '?' || *p == '#' || *p == '%') o += (size_t)snprintf(uri + o, 4, "%%%02X", (unsigned char)*p);
    else uri[o++] = *p;
  }
  snprintf(uri + o, sizeof uri - o, "?immutable=1");
  sqlite3_close(SQ(st)->db);
  SQ(st)->db = NULL;
  int rc = sqlite3_open_v2(uri, &SQ(st)->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
  return rc == SQLITE_OK ? FK_OK : fk_store_sqlfail(st, "opening");
}

/* Format 1 recorded no meta.dim: its embeddings were 128-d. */
static int read_dim(fk_store *st) {
  int rc;
  int64_t ver = pragma_int(st, "PRAGMA user_version", &rc);
  return rc ? rc : fk_store_read_dim(st, ver == 1 ? 128 : 0);
}

static int sq_open(fk_store *st, const char *locator, int mode) {
  if (!(st->impl = calloc(1, sizeof(fk_sq))) || !(st->path = strdup(locator)))
    return fk_store_fail(st, FK_ENOMEM, "out of memory");
  struct stat sb;
  int exists = stat(st->path, &sb) == 0;
  if (mode != FK_STORE_WRITE && !exists)
    return fk_store_fail(st, FK_ENOENT, "no index at %s (build one with `facekit index DIR --db %s`)",
                         st->path, st->path);
  if (exists && S_ISDIR(sb.st_mode))
    return fk_store_fail(st, FK_ENOTINDEX, "%s is a directory, not a facekit index", st->path);
  int rc;
  if (mode == FK_STORE_WRITE && (rc = check_writable(st))) return rc;
  int flags = mode == FK_STORE_WRITE ? SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE : SQLITE_OPEN_READONLY;
  if (sqlite3_open_v2(st->path, &SQ(st)->db, flags, NULL) != SQLITE_OK) {
    if (!SQ(st)->db) return fk_store_fail(st, FK_ENOMEM, "out of memory");
    return fk_store_sqlfail(st, "opening");
  }
  sqlite3_extended_result_codes(SQ(st)->db, 1);
  sqlite3_busy_timeout(SQ(st)->db, 10000);
  if (mode == FK_STORE_WRITE && sqlite3_db_readonly(SQ(st)->db, "main") == 1)
    return fk_store_fail(st, FK_EREADONLY, "cannot write the index %s: it is read-only", st->path);
  rc = identify(st, mode);
  if ((rc == FK_EIO || rc == FK_EREADONLY) && mode != FK_STORE_WRITE && (rc = reopen_immutable(st)) == FK_OK)
    rc = identify(st, mode);
  if (rc) return rc;
  if (mode == FK_STORE_WRITE) {
    char jm[16] = "";
    sqlite3_stmt *q;
    if ((rc = fk_store_prepare(st, "PRAGMA journal_mode = WAL", &q))) return rc;
    if (sqlite3_step(q) == SQLITE_ROW) snprintf(jm, sizeof jm, "%s", sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    if (strcmp(jm, "wal"))
      return fk_store_fail(st, FK_EREADONLY, "cannot write the index %s: WAL mode unavailable (%s)",
                           st->path, sqlite3_errmsg(SQ(st)->db));
    /* In WAL mode NORMAL syncs at checkpoints: a killed process loses no
     * committed transaction; a power cut may lose the last ones, never the
     * database. */
    if ((rc = fk_store_exec(st, "PRAGMA synchronous = NORMAL"))) return rc;
  }
  st->writable = mode == FK_STORE_WRITE;
  if ((rc = fk_store_exec(st, "PRAGMA foreign_keys = ON"))) return rc;
  return read_dim(st);
}

static void sq_close(fk_store *st) {
  fk_sq *q = SQ(st);
  if (!q) return;
  /* Fold the WAL back so the index is one self-contained file. */
  if (q->db && st->writable) sqlite3_exec(q->db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
  sqlite3_close(q->db);
  free(q);
  st->impl = NULL;
}

static int count(fk_store *st, const char *sql, int64_t *out) {
  int rc;
  *out = pragma_int(st, sql, &rc);
  return rc;
}

static int sq_counts(fk_store *st, fk_store_info *info) {
  int rc;
  if ((rc = count(st, "SELECT count(*) FROM images", &info->images)) ||
      (rc = count(st, "SELECT count(*) FROM faces", &info->faces)) ||
      (rc = count(st, "SELECT count(*) FROM identities", &info->identities)) ||
      (rc = count(st, "SELECT count(*) FROM images WHERE status = 'no_face'", &info->no_face)) ||
      (rc = count(st, "SELECT count(*) FROM images WHERE status = 'error'", &info->errors)))
    return rc;
  return FK_OK;
}

/* What the index is, read in the caller's read transaction. */
static int sq_read_state(fk_store *st, fk_store_state *s) {
  memset(s, 0, sizeof *s);
  sqlite3_stmt *q;
  int rc = fk_store_prepare(st,
                            "SELECT (SELECT user_version FROM pragma_user_version),"
                            " (SELECT value FROM meta WHERE key = 'uuid'),"
                            " (SELECT value FROM meta WHERE key = 'generation'),"
                            " (SELECT value FROM meta WHERE key = 'seq'),"
                            " (SELECT value FROM meta WHERE key = 'dim')", &q);
  if (rc) return rc;
  if (sqlite3_step(q) != SQLITE_ROW) {
    rc = fk_store_sqlfail(st, "reading meta");
  } else if (sqlite3_column_type(q, 1) == SQLITE_NULL || sqlite3_column_type(q, 2) == SQLITE_NULL) {
    rc = fk_store_fail(st, FK_ENOTINDEX, "%s: meta table incomplete", st->path);
  } else {
    s->schema = sqlite3_column_int(q, 0);
    snprintf(s->uuid, sizeof s->uuid, "%s", (const char *)sqlite3_column_text(q, 1));
    s->generation = sqlite3_column_int64(q, 2);
    s->seq = s->schema >= 3 ? sqlite3_column_int64(q, 3) : -1;
    /* format 1 recorded no width: its embeddings were 128-d */
    s->dim = sqlite3_column_type(q, 4) != SQLITE_NULL ? sqlite3_column_int(q, 4) : s->schema == 1 ? 128 : 0;
    if (s->dim < 0 || s->dim > FK_EMBED_MAX)
      rc = fk_store_fail(st, FK_ECORRUPT, "%s: meta.dim %d is not an embedding width", st->path, s->dim);
  }
  sqlite3_finalize(q);
  return rc;
}

/* Another connection's commit changes PRAGMA data_version (this one's own
 * do not, and need no refresh). */
static int sq_wait_change(fk_store *st, int timeout_ms) {
  double t0 = fk_now_ms();
  for (;;) {
    int rc;
    int64_t v = pragma_int(st, "PRAGMA data_version", &rc);
    if (rc) return rc;
    if (!SQ(st)->watching || v != SQ(st)->data_version) {
      SQ(st)->watching = 1;
      SQ(st)->data_version = v;
      return 1;
    }
    double left = timeout_ms - (fk_now_ms() - t0);
    if (left <= 0) return 0;
    usleep((useconds_t)(left < 20 ? left * 1000 : 20000));
  }
}

const fk_store_ops fk_sqlite_ops = {
    .version = FK_STORE_OPS_VERSION,
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .meta_get = sq_meta_get,
    .meta_set = sq_meta_set,
    .bump_generation = sq_bump_generation,
    .counts = sq_counts,
    .read_state = sq_read_state,
    .vec_rows = fk_sq_vec_rows,
    .tombstones = fk_sq_tombstones,
    .foreach_image = fk_sq_foreach_image,
    .foreach_deleted_file = fk_sq_foreach_deleted_file,
    .writer_init = fk_sq_writer_init,
    .writer_free = fk_sq_writer_free,
    .identity = fk_sq_identity,
    .put = fk_sq_put,
    .move = fk_sq_move,
    .touch = fk_sq_touch,
    .delete_image = fk_sq_delete_image,
    .drop_orphans = fk_sq_drop_orphans,
    .find_image = fk_sq_find_image,
    .keep_image = fk_sq_keep_image,
    .face_ids = fk_sq_face_ids,
    .drop_identity = fk_sq_drop_identity,
    .delete_face_body = fk_sq_delete_face_body,
    .delete_identity_body = fk_sq_delete_identity_body,
    .get_face = fk_sq_get_face,
    .foreach_face = fk_sq_foreach_face,
    .list_identities = fk_sq_list_identities,
    .identity_faces = fk_sq_identity_faces,
    .foreach_query = fk_sq_foreach_query,
    .wait_change = sq_wait_change,
};
