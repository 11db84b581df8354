/*
 * decode.c - the public image decoders fk_image_load() and fk_image_decode():
 * reads a file fully into memory, sniffs JPEG / PNG / WebP from the magic
 * bytes (never the file name), dispatches to decode_jpeg.c, decode_png.c or
 * decode_webp.c and applies a JPEG's EXIF orientation (exif.c). Also holds
 * the small pixel helpers the decoders share (decode_priv.h).
 */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image/decode_priv.h"
#include "image/image.h"

/* Files larger than this are refused (FK_ETOOBIG) before being read. */
#define FK_MAX_FILE_BYTES ((size_t)1 << 30)

enum { FMT_UNKNOWN, FMT_JPEG, FMT_PNG, FMT_WEBP, FMT_TRUNCATED };

static const uint8_t JPEG_MAGIC[3] = {0xFF, 0xD8, 0xFF};
static const uint8_t PNG_MAGIC[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

/* Does data[0..size) match magic[0..n) where both are defined? Returns 2 for
 * a full match, 1 when data is a proper prefix of magic, 0 otherwise. */
static int magic_match(const uint8_t *data, size_t size, const uint8_t *magic,
                       size_t n) {
  size_t k = size < n ? size : n;
  if (memcmp(data, magic, k) != 0) return 0;
  return size >= n ? 2 : 1;
}

/* WebP is "RIFF" <u32 size> "WEBP". A file too short to hold its magic but
 * starting like one of the formats is reported as truncated, not unknown. */
static int sniff(const uint8_t *d, size_t n) {
  int j = magic_match(d, n, JPEG_MAGIC, sizeof JPEG_MAGIC);
  int p = magic_match(d, n, PNG_MAGIC, sizeof PNG_MAGIC);
  if (j == 2) return FMT_JPEG;
  if (p == 2) return FMT_PNG;
  int w = magic_match(d, n, (const uint8_t *)"RIFF", 4);
  if (w == 2) {
    if (n < 12) return FMT_TRUNCATED;
    if (memcmp(d + 8, "WEBP", 4) == 0) return FMT_WEBP;
    w = 0;
  }
  return (j == 1 || p == 1 || w == 1) ? FMT_TRUNCATED : FMT_UNKNOWN;
}

int fk_check_dims(int64_t w, int64_t h, size_t max_pixels) {
  if (w <= 0 || h <= 0) return FK_ECORRUPT;
  if (w > INT32_MAX || h > INT32_MAX) return FK_ETOOBIG;
  uint64_t n = (uint64_t)w * (uint64_t)h; /* < 2^62, no overflow */
  if (n > (uint64_t)max_pixels) return FK_ETOOBIG;
  if (n > (uint64_t)(SIZE_MAX / 4)) return FK_ETOOBIG;
  return FK_OK;
}

void fk_rgba_to_rgb_over_white(uint8_t *buf, size_t n) {
  /* Forward order is safe in place: the write index 3i never passes the
   * read index 4i. */
  for (size_t i = 0; i < n; i++) {
    const uint8_t *s = buf + 4 * i;
    uint8_t *d = buf + 3 * i;
    unsigned a = s[3], wa = 255u * (255u - a);
    uint8_t r = (uint8_t)((s[0] * a + wa + 127u) / 255u);
    uint8_t g = (uint8_t)((s[1] * a + wa + 127u) / 255u);
    uint8_t b = (uint8_t)((s[2] * a + wa + 127u) / 255u);
    d[0] = r;
    d[1] = g;
    d[2] = b;
  }
}

uint8_t *fk_shrink_to_rgb(uint8_t *buf, size_t npixels) {
  uint8_t *p = realloc(buf, npixels * 3);
  return p ? p : buf;
}

int fk_image_decode(const void *data, size_t size, size_t max_pixels,
                    fk_image *img) {
  if (!img) return FK_EINVAL;
  memset(img, 0, sizeof *img);
  if (size == 0) return FK_EEMPTY;
  if (!data) return FK_EINVAL;
  if (max_pixels == 0) max_pixels = FK_DEFAULT_MAX_PIXELS;

  const uint8_t *d = data;
  int st;
  switch (sniff(d, size)) {
    case FMT_JPEG:
      st = fk_decode_jpeg(d, size, max_pixels, img);
      if (st == FK_OK) {
        st = fk_image_orient(img, fk_exif_orientation(d, size));
        if (st != FK_OK) fk_image_free(img);
      }
      return st;
    case FMT_PNG: return fk_decode_png(d, size, max_pixels, img);
    case FMT_WEBP: return fk_decode_webp(d, size, max_pixels, img);
    case FMT_TRUNCATED: return FK_ECORRUPT;
    default: return FK_EFORMAT;
  }
}

/* Reads all of fd into a fresh buffer. The size from fstat is only a hint:
 * the loop reads until EOF, so files that grow or have no size (pipes) work. */
static int read_all(int fd, size_t hint, uint8_t **out, size_t *out_len) {
  size_t cap = hint + 1, len = 0; /* +1 so a file of exactly `hint` bytes hits EOF without growing */
  uint8_t *buf = malloc(cap);
  if (!buf) return FK_ENOMEM;
  for (;;) {
    if (len == cap) {
      if (cap > FK_MAX_FILE_BYTES) {
        free(buf);
        return FK_ETOOBIG;
      }
      size_t ncap = cap * 2 > FK_MAX_FILE_BYTES + 1 ? FK_MAX_FILE_BYTES + 1 : cap * 2;
      uint8_t *nb = realloc(buf, ncap);
      if (!nb) {
        free(buf);
        return FK_ENOMEM;
      }
      buf = nb;
      cap = ncap;
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0) {
      if (errno == EINTR) continue;
      free(buf);
      return FK_EIO;
    }
    if (r == 0) break;
    len += (size_t)r;
  }
  if (len > FK_MAX_FILE_BYTES) {
    free(buf);
    return FK_ETOOBIG;
  }
  *out = buf;
  *out_len = len;
  return FK_OK;
}

int fk_image_load(const char *path, size_t max_pixels, fk_image *img) {
  if (!img) return FK_EINVAL;
  memset(img, 0, sizeof *img);
  if (!path) return FK_EINVAL;
  if (!*path) return FK_ENOENT;

  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return (errno == ENOENT || errno == ENOTDIR) ? FK_ENOENT : FK_EIO;
  struct stat sb;
  if (fstat(fd, &sb) != 0 || S_ISDIR(sb.st_mode)) {
    close(fd);
    return FK_EIO;
  }
  size_t hint = 64 * 1024;
  if (S_ISREG(sb.st_mode)) {
    if (sb.st_size == 0) {
      close(fd);
      return FK_EEMPTY;
    }
    if ((uint64_t)sb.st_size > FK_MAX_FILE_BYTES) {
      close(fd);
      return FK_ETOOBIG;
    }
    hint = (size_t)sb.st_size;
  }
  uint8_t *buf = NULL;
  size_t len = 0;
  int st = read_all(fd, hint, &buf, &len);
  close(fd);
  if (st != FK_OK) return st;
  st = len ? fk_image_decode(buf, len, max_pixels, img) : FK_EEMPTY;
  free(buf);
  return st;
}

void fk_image_free(fk_image *img) {
  if (!img) return;
  free(img->rgb);
  memset(img, 0, sizeof *img);
}
