/*
 * auth.c - API keys: the --keys file ("KEY ROLE" per line, roles read and
 * write, '#' comments) and checking a presented key.
 *
 * Keys are kept and compared as SHA-256 digests, so every comparison takes
 * the same time whatever the lengths, and every configured key is compared
 * on every request (nettle's memeql_sec, no early exit), so the time taken
 * says nothing about which key, or how much of one, matched. A key listed
 * twice (say once read, once write) is refused at start.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "server/server.h"

#define MIN_KEY 16 /* characters: anything shorter can be guessed */

static void digest(const char *key, size_t len, uint8_t out[32]) {
  struct sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, len, (const uint8_t *)key);
  sha256_digest(&c, 32, out);
}

/* Parses one line into key and role; 0 for a blank or comment line, 1 for
 * a key, -1 for a malformed line (message in err). */
static int parse_line(char *line, int lineno, srv_key *k, char *err, size_t errlen) {
  char *s = line;
  while (isspace((unsigned char)*s)) s++;
  if (!*s || *s == '#') return 0;
  char *key = s;
  while (*s && !isspace((unsigned char)*s)) s++;
  size_t klen = (size_t)(s - key);
  while (isspace((unsigned char)*s)) s++;
  char *role = s;
  while (*s && !isspace((unsigned char)*s)) s++;
  size_t rlen = (size_t)(s - role);
  while (isspace((unsigned char)*s)) s++;
  if (rlen == 0 || *s) {
    snprintf(err, errlen, "line %d: expected 'KEY ROLE' (role read or write)", lineno);
    return -1;
  }
  if (rlen == 4 && !strncmp(role, "read", 4)) k->role = ROLE_READ;
  else if (rlen == 5 && !strncmp(role, "write", 5)) k->role = ROLE_WRITE;
  else {
    snprintf(err, errlen, "line %d: the role must be read or write", lineno);
    return -1;
  }
  if (klen < MIN_KEY) {
    snprintf(err, errlen, "line %d: keys must have at least %d characters", lineno, MIN_KEY);
    return -1;
  }
  digest(key, klen, k->hash);
  return 1;
}

int srv_keys_load(const char *path, srv_keys *keys, char *err, size_t errlen) {
  memset(keys, 0, sizeof *keys);
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "cannot read the keys file %s", path);
    return -1;
  }
  struct stat sb;
  if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & 077))
    fprintf(stderr, "facekit serve: warning: %s can be read by other users (chmod 600 it)\n", path);
  char line[4096];
  int lineno = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f)) {
    lineno++;
    srv_key k = {.line = lineno};
    int r = parse_line(line, lineno, &k, err, errlen);
    if (r < 0) rc = -1;
    if (r <= 0) continue;
    /* A key listed twice is refused, whatever its roles: read and write for
     * one key would leave which was meant to a guess (the stronger won). */
    for (int i = 0; i < keys->n && rc == 0; i++)
      if (!memcmp(keys->k[i].hash, k.hash, sizeof k.hash)) {
        snprintf(err, errlen, "line %d: this key is listed already (line %d); give each key once, with one role",
                 lineno, keys->k[i].line);
        rc = -1;
      }
    if (rc) continue;
    srv_key *nk = realloc(keys->k, (size_t)(keys->n + 1) * sizeof *nk);
    if (!nk) {
      snprintf(err, errlen, "out of memory");
      rc = -1;
      continue;
    }
    keys->k = nk;
    keys->k[keys->n++] = k;
  }
  fclose(f);
  if (rc == 0 && keys->n == 0) {
    snprintf(err, errlen, "%s holds no keys", path);
    rc = -1;
  }
  if (rc) {
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s: %s", path, err);
    snprintf(err, errlen, "%s", tmp);
    srv_keys_free(keys);
  }
  return rc;
}

void srv_keys_free(srv_keys *keys) {
  free(keys->k);
  memset(keys, 0, sizeof *keys);
}

int srv_keys_role(const srv_keys *keys, const char *key, size_t len) {
  if (!key || keys->n == 0) return ROLE_NONE;
  uint8_t h[32];
  digest(key, len, h);
  int role = ROLE_NONE;
  for (int i = 0; i < keys->n; i++) {
    /* branch-free: every key is compared whether or not one matched */
    int eq = memeql_sec(h, keys->k[i].hash, 32);
    int mask = -eq;
    role |= mask & keys->k[i].role;
  }
  return role & ROLE_WRITE ? ROLE_WRITE : role;
}
