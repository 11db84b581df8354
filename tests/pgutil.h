/*
 * pgutil.h - the tests' PostgreSQL server: one real PostgreSQL 15 per test
 * program, started by tests/helpers/pg_server.sh ($FK_PG_SERVER) in a
 * scratch directory and stopped (and removed) at exit; a fresh database per
 * name, and one-number queries and statements against it through libpq.
 * In a build without PostgreSQL (FK_WITH_POSTGRES=OFF) it never starts:
 * the --pg cases skip.
 */
#ifndef FK_PGUTIL_H
#define FK_PGUTIL_H

#ifdef FK_WITH_POSTGRES
#include <libpq-fe.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "testutil.h"

static char tu_pg_dir[512];
static char tu_pg_socket_uri[1024]; /* database "postgres", trusted, on the socket */
static char tu_pg_tcp_uri[1024];    /* the same over loopback TCP, with the password */

static inline void tu_pg_stop(void) {
  if (!tu_pg_dir[0]) return;
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "bash '%s' stop '%s'", getenv("FK_PG_SERVER"), tu_pg_dir);
  if (system(cmd) != 0) fprintf(stderr, "pg_server stop failed\n");
  tu_pg_dir[0] = '\0';
}

/* 0 when the server runs; else what the test program exits with, having
 * said why: 77 (ctest's skip) when there is no server to run, 1 when it
 * failed to start. */
static inline int tu_pg_start(void) {
#ifndef FK_WITH_POSTGRES
  fprintf(stderr, "skipped: facekit was built without PostgreSQL (FK_WITH_POSTGRES=OFF)\n");
  return 77;
#endif
  const char *script = getenv("FK_PG_SERVER");
  if (!script) {
    fprintf(stderr, "FK_PG_SERVER is not set (run the tests through ctest)\n");
    return 1;
  }
  /* short: a Unix socket path holds ~100 bytes; under /tmp so that the
   * unprivileged server user can reach it */
  snprintf(tu_pg_dir, sizeof tu_pg_dir, "/tmp/fkpg-%d", (int)getpid());
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "bash '%s' start '%s'", script, tu_pg_dir);
  FILE *p = popen(cmd, "r");
  if (!p) {
    fprintf(stderr, "could not run %s\n", script);
    return 1;
  }
  int ok = fgets(tu_pg_socket_uri, sizeof tu_pg_socket_uri, p) != NULL &&
           fgets(tu_pg_tcp_uri, sizeof tu_pg_tcp_uri, p) != NULL;
  int status = pclose(p);
  tu_pg_socket_uri[strcspn(tu_pg_socket_uri, "\n")] = '\0';
  tu_pg_tcp_uri[strcspn(tu_pg_tcp_uri, "\n")] = '\0';
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
    tu_pg_dir[0] = '\0';
    fprintf(stderr, "skipped: no PostgreSQL server binaries (install postgresql-15)\n");
    return 77;
  }
  if (!ok || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    tu_pg_stop();
    fprintf(stderr, "could not start a PostgreSQL server\n");
    return 1;
  }
  atexit(tu_pg_stop);
  return 0;
}

/* Restarts the server (same directory and port): every connection drops. */
static inline int tu_pg_restart(void) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "bash '%s' restart '%s'", getenv("FK_PG_SERVER"), tu_pg_dir);
  return system(cmd);
}

/* base with its database ("/postgres") replaced by db. */
static inline void tu_pg_uri_of(const char *base, const char *db, char *out, size_t size) {
  const char *slash = strstr(base, "/postgres");
  snprintf(out, size, "%.*s/%s%s", (int)(slash - base), base, db, slash + strlen("/postgres"));
}

/* Runs sql on the database at uri; 0 on success. */
static inline int tu_pg_exec(const char *uri, const char *sql) {
#ifndef FK_WITH_POSTGRES
  (void)uri, (void)sql;
  return -1;
#else
  PGconn *c = PQconnectdb(uri);
  int rc = -1;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    rc = s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK ? 0 : -1;
    if (rc) fprintf(stderr, "  sql: %s", PQresultErrorMessage(r));
    PQclear(r);
  } else {
    fprintf(stderr, "  pg: %s", PQerrorMessage(c));
  }
  PQfinish(c);
  return rc;
#endif
}

/* The first column of sql's first row as a number; -1 on failure. */
static inline long long tu_pg_int(const char *uri, const char *sql) {
#ifndef FK_WITH_POSTGRES
  (void)uri, (void)sql;
  return -1;
#else
  PGconn *c = PQconnectdb(uri);
  long long v = -1;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
      v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
      fprintf(stderr, "  sql: %s", PQresultErrorMessage(r));
    PQclear(r);
  }
  PQfinish(c);
  return v;
#endif
}

/* The socket URI of database `name` (letters, digits, _), made empty if it
 * does not exist yet. */
static inline const char *tu_pg_db(const char *name) {
  static char buf[4][1024];
  static int i;
  i = (i + 1) % 4;
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT 1 FROM pg_database WHERE datname = '%s'", name);
  if (tu_pg_int(tu_pg_socket_uri, sql) != 1) {
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    tu_pg_exec(tu_pg_socket_uri, sql);
  }
  tu_pg_uri_of(tu_pg_socket_uri, name, buf[i], sizeof buf[i]);
  return buf[i];
}

#endif /* FK_PGUTIL_H */
