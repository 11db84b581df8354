/*
 * hash.c - FNV-1a, murmur3's finalizer and the open-addressing map
 * (hash.h).
 */
#include "base/hash.h"

#include <stdlib.h>
#include <string.h>

#include "facekit.h"

uint64_t fk_fnv1a(const void *p, size_t n) {
  const unsigned char *s = p;
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 1099511628211ull;
  return h;
}

uint64_t fk_fnv1a_str(const char *s) { return fk_fnv1a(s, strlen(s)); }

uint64_t fk_hash_mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

/* The slot of key: where it is, or the empty one where it would go. */
static size_t slot(const fk_map *m, const void *key, size_t len) {
  size_t i = (size_t)fk_fnv1a(key, len) & (m->cap - 1);
  while (m->keys[i] && !(m->lens[i] == len && !memcmp(m->keys[i], key, len))) i = (i + 1) & (m->cap - 1);
  return i;
}

static int grow(fk_map *m) {
  fk_map bigger = {0};
  bigger.cap = m->cap ? m->cap * 2 : 64;
  bigger.keys = calloc(bigger.cap, sizeof *bigger.keys);
  bigger.lens = malloc(bigger.cap * sizeof *bigger.lens);
  bigger.vals = malloc(bigger.cap * sizeof *bigger.vals);
  if (!bigger.keys || !bigger.lens || !bigger.vals) {
    fk_map_free(&bigger);
    return FK_ENOMEM;
  }
  for (size_t i = 0; i < m->cap; i++)
    if (m->keys[i]) {
      size_t k = slot(&bigger, m->keys[i], m->lens[i]);
      bigger.keys[k] = m->keys[i];
      bigger.lens[k] = m->lens[i];
      bigger.vals[k] = m->vals[i];
      bigger.n++;
    }
  fk_map_free(m);
  *m = bigger;
  return FK_OK;
}

int fk_map_put(fk_map *m, const void *key, size_t len, int64_t val) {
  if ((m->n + 1) * 2 > m->cap && grow(m)) return FK_ENOMEM;
  size_t i = slot(m, key, len);
  if (!m->keys[i]) {
    m->keys[i] = key;
    m->lens[i] = len;
    m->n++;
  }
  m->vals[i] = val;
  return FK_OK;
}

int64_t fk_map_get(const fk_map *m, const void *key, size_t len) {
  if (!m->cap) return -1;
  size_t i = slot(m, key, len);
  return m->keys[i] ? m->vals[i] : -1;
}

void fk_map_free(fk_map *m) {
  free(m->keys);
  free(m->lens);
  free(m->vals);
  memset(m, 0, sizeof *m);
}
