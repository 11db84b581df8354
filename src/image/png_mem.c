/*
 * png_mem.c - PNG encoding into memory and base64 data: URIs, so that
 * `facekit find --html` writes one self-contained page with its thumbnails
 * inline (compose.h). libpng errors longjmp back to encode_rows().
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "image/compose.h"

typedef struct membuf {
  uint8_t *p;
  size_t n, cap;
  int oom;
} membuf;

static void put(png_structp png, png_bytep data, size_t n) {
  membuf *b = png_get_io_ptr(png);
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    uint8_t *q = realloc(b->p, cap);
    if (!q) {
      b->oom = 1;
      png_error(png, "out of memory");
    }
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
}

static void no_flush(png_structp png) { (void)png; }
static void quiet(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static int encode_rows(png_structp png, png_infop info, const fk_image *img, membuf *b) {
  if (setjmp(png_jmpbuf(png))) return b->oom ? FK_ENOMEM : FK_EIO;
  png_set_write_fn(png, b, put, no_flush);
  png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8, PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < img->height; y++) png_write_row(png, img->rgb + (size_t)y * img->width * 3);
  png_write_end(png, NULL);
  return FK_OK;
}

int fk_png_encode_mem(const fk_image *img, uint8_t **out, size_t *size) {
  *out = NULL;
  *size = 0;
  if (!img || !img->rgb || img->width <= 0 || img->height <= 0) return FK_EINVAL;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, quiet, quiet);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  membuf b = {0};
  int rc = info ? encode_rows(png, info, img, &b) : FK_ENOMEM;
  png_destroy_write_struct(&png, info ? &info : NULL);
  if (rc) {
    free(b.p);
    return rc;
  }
  *out = b.p;
  *size = b.n;
  return FK_OK;
}

char *fk_png_data_uri(const fk_image *img) {
  static const char prefix[] = "data:image/png;base64,";
  static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  uint8_t *png;
  size_t n;
  if (fk_png_encode_mem(img, &png, &n)) return NULL;
  char *s = malloc(sizeof prefix + (n + 2) / 3 * 4);
  if (s) {
    char *o = s + sizeof prefix - 1;
    memcpy(s, prefix, sizeof prefix - 1);
    for (size_t i = 0; i < n; i += 3) {
      uint32_t v = (uint32_t)png[i] << 16 | (i + 1 < n ? (uint32_t)png[i + 1] << 8 : 0) | (i + 2 < n ? png[i + 2] : 0);
      *o++ = b64[v >> 18 & 63];
      *o++ = b64[v >> 12 & 63];
      *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
      *o++ = i + 2 < n ? b64[v & 63] : '=';
    }
    *o = '\0';
  }
  free(png);
  return s;
}
