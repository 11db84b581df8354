/*
 * hash.h - the one hash function (FNV-1a 64) and the one hash map of
 * facekit.
 *
 * fk_map maps byte strings to int64 values by open addressing (linear
 * probing, at most half full, a power-of-two table). It borrows its keys:
 * they must stay valid and unchanged while in the map (a path the caller
 * owns, a name inside a parsed model, an int64 in the caller's array).
 * Keys of any bytes, NULs included, so an id is its own 8 bytes rather
 * than its text.
 */
#ifndef FK_BASE_HASH_H
#define FK_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 of n bytes, and of a NUL-terminated string. */
uint64_t fk_fnv1a(const void *p, size_t n);
uint64_t fk_fnv1a_str(const char *s);
/* murmur3's 64-bit finalizer: spreads every input bit over all output
 * bits (FNV-1a's low bits alone follow the input's low bits). */
uint64_t fk_hash_mix(uint64_t h);

typedef struct fk_map {
  const void **keys; /* NULL: an empty slot */
  size_t *lens;
  int64_t *vals;
  size_t cap, n;
} fk_map;

/* Sets key's value (adding the key, or replacing its value); FK_OK or
 * FK_ENOMEM. */
int fk_map_put(fk_map *m, const void *key, size_t len, int64_t val);
/* key's value, or -1 when absent. */
int64_t fk_map_get(const fk_map *m, const void *key, size_t len);
/* Frees the table (not the keys) and empties m; a zeroed fk_map is empty. */
void fk_map_free(fk_map *m);

static inline int fk_map_put_str(fk_map *m, const char *key, int64_t val);
static inline int64_t fk_map_get_str(const fk_map *m, const char *key);

#include <string.h>

static inline int fk_map_put_str(fk_map *m, const char *key, int64_t val) {
  return fk_map_put(m, key, strlen(key), val);
}
static inline int64_t fk_map_get_str(const fk_map *m, const char *key) {
  return fk_map_get(m, key, strlen(key));
}

#endif /* FK_BASE_HASH_H */
