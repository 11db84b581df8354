/*
 * sidecar.c - the index's vector cache, PATH.vec: the fk_vecs block (see
 * vecs.h) written to a file so that loading 1M faces is one mmap instead of
 * 1M row fetches. The faces table stays the source of truth: the sidecar
 * carries the index's uuid and the change sequence it reflects, so a reader
 * maps it and catches up from there (vectors.c); a missing, foreign or
 * corrupt one is rebuilt from the table (and rewritten atomically, tmp +
 * fsync + rename, when the directory is writable).
 *
 * Damage (issue 19: 16 bytes flipped in a 3-face index's sidecar made find
 * answer another person at distance 0). Format 4 follows the block with a
 * CRC-32C of every SUM_CHUNK bytes of it, the first chunk covering the
 * header. A sidecar is verified whole when it is mapped, before anything
 * is read from it, and a mapped one is verified again a few chunks at a
 * time as the store refreshes (fk_sidecar_check, vectors.c), so that damage
 * done to the file later is found too. A damaged or older sidecar is never
 * searched: the vectors are rebuilt from the database and the sidecar
 * rewritten, and stderr says so.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "store/store.h"

#define SUM_CHUNK 65536u

/* ---- CRC-32C (Castagnoli), SSE4.2's crc32 where the CPU has it ---------- */

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t n) {
  uint32_t table[256];
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
  while (n--) crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t n) {
  uint64_t c = crc;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
  }
  uint32_t c32 = (uint32_t)c;
  for (; n; p++, n--) c32 = _mm_crc32_u8(c32, *p);
  return c32;
}
#endif

static uint32_t crc32c(uint32_t crc, const void *data, size_t n) {
  crc = ~crc;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) return ~crc32c_hw(crc, data, n);
#endif
  return ~crc32c_sw(crc, data, n);
}

/* The checksum of chunk i of a block of `size` bytes whose header is at
 * hdr and whose other bytes are at block (a file's header is a changed
 * copy of the block's own). */
static uint32_t chunk_sum(const void *hdr, const void *block, uint64_t size, uint64_t i) {
  uint64_t a = i * SUM_CHUNK, b = a + SUM_CHUNK < size ? a + SUM_CHUNK : size;
  uint32_t crc = 0;
  if (a < sizeof(fk_vecs_header)) {
    uint64_t e = b < sizeof(fk_vecs_header) ? b : sizeof(fk_vecs_header);
    crc = crc32c(crc, (const char *)hdr + a, e - a);
    a = e;
  }
  return crc32c(crc, (const char *)block + a, b - a);
}

static uint64_t chunks_of(uint64_t size) { return (size + SUM_CHUNK - 1) / SUM_CHUNK; }

uint64_t fk_sidecar_check(const fk_vecs *v, uint64_t *next, uint64_t count) {
  if (!v->mapped || !v->sums) return 0;
  uint64_t n = chunks_of(v->size);
  for (uint64_t k = 0; k < count && k < n; k++) {
    uint64_t i = (*next)++ % n;
    if (chunk_sum(v->hdr, v->hdr, v->size, i) != v->sums[i]) return i + 1;
  }
  return 0;
}

/* Says on stderr why a sidecar is not used, and that it is rebuilt. */
static void say_rebuilt(const char *path, const char *why) {
  fprintf(stderr, "facekit: %s: %s; its vectors are rebuilt from the database and the file rewritten\n", path, why);
}

void fk_sidecar_damaged(fk_store *st, const fk_vecs *v, uint64_t chunk) {
  char path[4200], why[160];
  if (fk_store_sidecar_path(st, path, sizeof path)) return;
  snprintf(why, sizeof why, "damaged (block %llu of %llu fails its checksum)", (unsigned long long)chunk,
           (unsigned long long)chunks_of(v->size));
  say_rebuilt(path, why);
}

void fk_sidecar_unmap(fk_vecs *v) {
  if (v->mapped) munmap(v->hdr, v->map_size ? v->map_size : v->size);
  else fk_vecs_free(v);
  memset(v, 0, sizeof *v);
}

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

int fk_sidecar_save(fk_store *st, const fk_vecs *v, const char *uuid, int64_t generation, int64_t seq) {
  char path[4200], tmp[4300];
  if (fk_store_sidecar_path(st, path, sizeof path)) return FK_EINVAL;
  fk_vecs exact = {0};
  int rc = FK_OK;
  int64_t live = 0;
  for (int64_t i = 0; i < v->n; i++) live += !(v->flags[i] & FK_VEC_DELETED);
  if (v->cap != live) { /* spare rows or tombstones: write a compact copy */
    if ((rc = fk_vecs_copy(v, live, 1, &exact))) return rc;
    v = &exact;
  }
  fk_vecs_header h = *v->hdr;
  snprintf(h.uuid, sizeof h.uuid, "%s", uuid);
  h.generation = generation;
  h.seq = seq;
  h.version = FK_VECS_VERSION;
  h.sum_chunk = SUM_CHUNK;
  h.reserved = 0;
  uint64_t nsums = chunks_of(v->size);
  uint32_t *sums = malloc(nsums * sizeof *sums);
  if (!sums) {
    fk_vecs_free(&exact);
    return FK_ENOMEM;
  }
  for (uint64_t i = 0; i < nsums; i++) sums[i] = chunk_sum(&h, v->hdr, v->size, i);
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) rc = FK_EIO;
  if (rc == FK_OK) {
    int ok = write_all(fd, &h, sizeof h) == 0 &&
             write_all(fd, (const char *)v->hdr + sizeof h, v->size - sizeof h) == 0 &&
             write_all(fd, sums, nsums * sizeof *sums) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
      unlink(tmp);
      rc = FK_EIO;
    }
  }
  free(sums);
  fk_vecs_free(&exact);
  return rc;
}

/* Checks a mapped sidecar of `size` bytes: the header's format, the size
 * of the block and its sums, every chunk's checksum. FK_OK, or
 * FK_ECORRUPT after saying why on stderr. */
static int verify(const char *path, const void *p, size_t size) {
  const fk_vecs_header *h = p;
  char why[200];
  if (memcmp(h->magic, FK_VECS_MAGIC, sizeof h->magic)) {
    say_rebuilt(path, "not a vector sidecar (damaged header)");
    return FK_ECORRUPT;
  }
  if (h->version < FK_VECS_VERSION) {
    snprintf(why, sizeof why, "sidecar format %u, older than %d (no checksums)", h->version, FK_VECS_VERSION);
    say_rebuilt(path, why);
    return FK_ECORRUPT;
  }
  if (h->version != FK_VECS_VERSION || h->sum_chunk != SUM_CHUNK || h->size < sizeof *h || h->size > size ||
      (size - h->size) / sizeof(uint32_t) != chunks_of(h->size) || (size - h->size) % sizeof(uint32_t)) {
    say_rebuilt(path, "damaged (its header does not fit the file)");
    return FK_ECORRUPT;
  }
  uint64_t n = chunks_of(h->size);
  const uint32_t *sums = (const uint32_t *)((const char *)p + h->size);
  for (uint64_t i = 0; i < n; i++) {
    uint32_t want;
    memcpy(&want, sums + i, sizeof want);
    if (chunk_sum(p, p, h->size, i) != want) {
      snprintf(why, sizeof why, "damaged (block %llu of %llu fails its checksum)", (unsigned long long)i + 1,
               (unsigned long long)n);
      say_rebuilt(path, why);
      return FK_ECORRUPT;
    }
  }
  return FK_OK;
}

int fk_sidecar_map(fk_store *st, const char *uuid, fk_vecs *v) {
  char path[4200];
  memset(v, 0, sizeof *v);
  if (fk_store_sidecar_path(st, path, sizeof path)) return FK_EINVAL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return FK_ENOENT;
  struct stat sb;
  void *p = MAP_FAILED;
  int stated = fstat(fd, &sb) == 0, small = stated && sb.st_size < (off_t)sizeof(fk_vecs_header);
  if (stated && !small) p = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    if (small) say_rebuilt(path, "damaged (truncated)");
    return FK_EIO;
  }
  int rc = verify(path, p, (size_t)sb.st_size);
  if (rc == FK_OK && (rc = fk_vecs_attach(v, p, (size_t)((fk_vecs_header *)p)->size, 1)))
    say_rebuilt(path, "damaged (its layout is inconsistent)");
  if (rc == FK_OK) {
    v->map_size = (size_t)sb.st_size;
    v->sums = (const uint32_t *)((const char *)p + v->size);
  }
  if (rc == FK_OK && (strncmp(v->hdr->uuid, uuid, sizeof v->hdr->uuid) || (v->n > 0 && v->dim != st->dim)))
    rc = FK_ENOENT;
  if (rc) {
    munmap(p, (size_t)sb.st_size);
    memset(v, 0, sizeof *v);
    return rc;
  }
  madvise(p, (size_t)sb.st_size, MADV_WILLNEED);
  return FK_OK;
}
