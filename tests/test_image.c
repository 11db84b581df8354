/*
 * test_image.c - tests of the image module (src/image/): decoding JPEG, PNG
 * and WebP (colour conversions, alpha, EXIF orientation, every error path),
 * PNG encoding, the face-api crop/pad/resize tensor against a slow reference,
 * the affine warp and the small drawing utilities.
 *
 * Inputs are generated at test time with libjpeg, libpng and libwebp, or
 * crafted byte by byte; scratch files go to tu_tmp() and are removed.
 */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

#include "facekit.h"
#include "image/image.h"
#include "testutil.h"

/* ---- helpers: deterministic random numbers, files ------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (uint32_t)(rng_state >> 16);
}
static int rnd_range(int lo, int hi) { /* inclusive */
  return lo + (int)(rnd() % (uint32_t)(hi - lo + 1));
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(2);
  }
  if (n && fwrite(data, 1, n, f) != n) exit(2);
  fclose(f);
}

static uint8_t *random_rgb(int w, int h) {
  size_t n = (size_t)w * h * 3;
  uint8_t *p = malloc(n);
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
  return p;
}

/* A smooth, asymmetric test pattern that JPEG keeps almost intact. */
static uint8_t *gradient_rgb(int w, int h) {
  uint8_t *p = malloc((size_t)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      uint8_t *q = p + ((size_t)y * w + x) * 3;
      q[0] = (uint8_t)(40 + 150 * x / (w > 1 ? w - 1 : 1));
      q[1] = (uint8_t)(40 + 150 * y / (h > 1 ? h - 1 : 1));
      q[2] = 120;
    }
  return p;
}

static int image_zeroed(const fk_image *img) {
  return img->width == 0 && img->height == 0 && img->rgb == NULL;
}

static const uint8_t *px_at(const fk_image *img, int x, int y) {
  return img->rgb + ((size_t)y * img->width + x) * 3;
}

/* ---- helpers: encoders ---------------------------------------------------- */

/* Encodes w x h pixels of `comps` components in colour space in_cs as a
 * baseline (or progressive) JPEG with 1x1 sampling; the result is malloc'd. */
static uint8_t *make_jpeg_ex(const uint8_t *px, int w, int h, int comps,
                             J_COLOR_SPACE in_cs, J_COLOR_SPACE jpeg_cs,
                             int quality, int adobe, int progressive,
                             size_t *len) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr err;
  unsigned char *out = NULL;
  unsigned long n = 0;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, &out, &n);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = comps;
  c.in_color_space = in_cs;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, jpeg_cs);
  for (int i = 0; i < c.num_components; i++)
    c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  if (adobe >= 0) c.write_Adobe_marker = adobe ? TRUE : FALSE;
  jpeg_set_quality(&c, quality, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * comps);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  *len = n;
  return out;
}

static uint8_t *make_jpeg(const uint8_t *rgb, int w, int h, int quality,
                          size_t *len) {
  return make_jpeg_ex(rgb, w, h, 3, JCS_RGB, JCS_YCbCr, quality, -1, 0, len);
}

typedef struct membuf {
  uint8_t *p;
  size_t n, cap;
} membuf;

static void mb_write(png_structp png, png_bytep d, size_t n) {
  membuf *m = png_get_io_ptr(png);
  if (m->n + n > m->cap) {
    m->cap = (m->n + n) * 2;
    m->p = realloc(m->p, m->cap);
  }
  memcpy(m->p + m->n, d, n);
  m->n += n;
}
static void mb_flush(png_structp png) { (void)png; }

typedef struct png_spec {
  int ctype, depth, interlace;
  const png_color *palette;
  int npalette;
  const png_byte *trans; /* palette alpha */
  int ntrans;
  const png_color_16 *trans_color; /* gray / RGB colour key */
} png_spec;

/* Encodes raw rows (rowbytes each, PNG byte order) as a PNG; malloc'd. */
static uint8_t *make_png(const uint8_t *raw, size_t rowbytes, int w, int h,
                         const png_spec *s, size_t *len) {
  membuf m = {0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  png_bytep *rows = malloc(sizeof *rows * (size_t)h);
  if (setjmp(png_jmpbuf(png))) {
    fprintf(stderr, "make_png failed\n");
    exit(2);
  }
  png_set_write_fn(png, &m, mb_write, mb_flush);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, s->depth, s->ctype,
               s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (s->palette) png_set_PLTE(png, info, s->palette, s->npalette);
  if (s->trans || s->trans_color)
    png_set_tRNS(png, info, s->trans, s->ntrans, s->trans_color);
  png_write_info(png, info);
  for (int y = 0; y < h; y++) rows[y] = (png_bytep)(raw + (size_t)y * rowbytes);
  png_write_image(png, rows);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  free(rows);
  *len = m.n;
  return m.p;
}

static uint8_t *make_png_rgb(const uint8_t *rgb, int w, int h, size_t *len) {
  png_spec s = {PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
  return make_png(rgb, (size_t)w * 3, w, h, &s, len);
}

/* Copies a libwebp buffer into a malloc'd one (so tests free() everything). */
static uint8_t *webp_copy(uint8_t *wp, size_t n, size_t *len) {
  uint8_t *p = malloc(n);
  memcpy(p, wp, n);
  WebPFree(wp);
  *len = n;
  return p;
}

static uint8_t *make_webp_rgba(const uint8_t *rgba, int w, int h, int lossless,
                               size_t *len) {
  uint8_t *out = NULL;
  size_t n = lossless ? WebPEncodeLosslessRGBA(rgba, w, h, w * 4, &out)
                      : WebPEncodeRGBA(rgba, w, h, w * 4, 90, &out);
  if (!n) exit(2);
  return webp_copy(out, n, len);
}

static uint8_t *make_webp_rgb(const uint8_t *rgb, int w, int h, size_t *len) {
  uint8_t *out = NULL;
  size_t n = WebPEncodeRGB(rgb, w, h, w * 3, 95, &out);
  if (!n) exit(2);
  return webp_copy(out, n, len);
}

/* Inserts `seg` (n bytes) right after a JPEG's SOI; malloc'd. */
static uint8_t *jpeg_insert_after_soi(const uint8_t *jpg, size_t len,
                                      const uint8_t *seg, size_t n,
                                      size_t *out_len) {
  uint8_t *p = malloc(len + n);
  memcpy(p, jpg, 2);
  memcpy(p + 2, seg, n);
  memcpy(p + 2 + n, jpg + 2, len - 2);
  *out_len = len + n;
  return p;
}

/* An APP1 Exif segment holding only IFD0 with an Orientation entry of the
 * given TIFF type and value, in little- or big-endian byte order. Returns
 * its length; buf must hold 40 bytes. */
static size_t exif_app1(uint8_t *buf, int le, unsigned type, uint32_t value) {
  uint8_t t[26];
  size_t k = 0;
#define P16(v) (le ? (t[k++] = (uint8_t)(v), t[k++] = (uint8_t)((v) >> 8)) \
                   : (t[k++] = (uint8_t)((v) >> 8), t[k++] = (uint8_t)(v)))
#define P32(v) (le ? (P16((v) & 0xFFFF), P16((v) >> 16)) : (P16((v) >> 16), P16((v) & 0xFFFF)))
  t[k++] = le ? 'I' : 'M';
  t[k++] = le ? 'I' : 'M';
  P16(42u);
  P32(8u);            /* IFD0 at offset 8 */
  P16(1u);            /* one entry */
  P16(0x0112u);       /* Orientation */
  P16(type);
  P32(1u);            /* count */
  if (type == 3) {
    P16(value);
    P16(0u);
  } else if (type == 4) {
    P32(value);
  } else {
    t[k++] = (uint8_t)value, t[k++] = 0, t[k++] = 0, t[k++] = 0;
  }
  P32(0u); /* no next IFD */
#undef P16
#undef P32
  size_t seglen = 2 + 6 + k;
  buf[0] = 0xFF;
  buf[1] = 0xE1;
  buf[2] = (uint8_t)(seglen >> 8);
  buf[3] = (uint8_t)seglen;
  memcpy(buf + 4, "Exif\0\0", 6);
  memcpy(buf + 10, t, k);
  return 2 + seglen;
}

static uint32_t crc32_png(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* ---- decoding errors ------------------------------------------------------ */

static void test_load_reports_missing_file_as_enoent(void) {
  fk_image img = {1, 1, (uint8_t *)&img};
  CHECK_EQ_INT(fk_image_load(tu_tmp("does-not-exist.jpg"), 0, &img), FK_ENOENT);
  CHECK(image_zeroed(&img));
  CHECK_EQ_INT(fk_image_load("/nonexistent-dir-fk/x.png", 0, &img), FK_ENOENT);
  CHECK_EQ_INT(fk_image_load("", 0, &img), FK_ENOENT);
}

static void test_load_reports_empty_file_as_eempty(void) {
  const char *p = tu_tmp("empty.jpg");
  write_file(p, "", 0);
  fk_image img;
  CHECK_EQ_INT(fk_image_load(p, 0, &img), FK_EEMPTY);
  CHECK(image_zeroed(&img));
  remove(p);
}

static void test_load_reports_directory_and_unreadable_as_eio(void) {
  fk_image img;
  CHECK_EQ_INT(fk_image_load("/tmp", 0, &img), FK_EIO);
  CHECK(image_zeroed(&img));
  if (geteuid() != 0) { /* root reads anything */
    const char *p = tu_tmp("unreadable.png");
    write_file(p, "x", 1);
    chmod(p, 0);
    CHECK_EQ_INT(fk_image_load(p, 0, &img), FK_EIO);
    remove(p);
  }
}

static void test_load_rejects_text_file_named_jpg(void) {
  const char *p = tu_tmp("notes.jpg");
  const char *text = "this is not a JPEG at all, just some text\n";
  write_file(p, text, strlen(text));
  fk_image img;
  CHECK_EQ_INT(fk_image_load(p, 0, &img), FK_EFORMAT);
  CHECK(image_zeroed(&img));
  remove(p);
  /* Other known-but-unsupported formats are FK_EFORMAT too. */
  CHECK_EQ_INT(fk_image_decode("GIF89a\1\0\1\0", 10, 0, &img), FK_EFORMAT);
  CHECK_EQ_INT(fk_image_decode("RIFF\0\0\0\0WAVE", 12, 0, &img), FK_EFORMAT);
}

static void test_decode_reports_short_magic_prefix_as_corrupt(void) {
  fk_image img;
  CHECK_EQ_INT(fk_image_decode("\xFF\xD8", 2, 0, &img), FK_ECORRUPT);
  CHECK_EQ_INT(fk_image_decode("\x89PNG", 4, 0, &img), FK_ECORRUPT);
  CHECK_EQ_INT(fk_image_decode("RIFF\0\0", 6, 0, &img), FK_ECORRUPT);
  CHECK_EQ_INT(fk_image_decode("\xFF\xD8\xFF", 3, 0, &img), FK_ECORRUPT);
  CHECK(image_zeroed(&img));
}

static void test_decode_rejects_bad_arguments(void) {
  fk_image img;
  uint8_t byte = 0;
  CHECK_EQ_INT(fk_image_decode(NULL, 10, 0, &img), FK_EINVAL);
  CHECK_EQ_INT(fk_image_decode(&byte, 0, 0, &img), FK_EEMPTY);
  CHECK_EQ_INT(fk_image_decode(&byte, 1, 0, NULL), FK_EINVAL);
  CHECK_EQ_INT(fk_image_load(NULL, 0, &img), FK_EINVAL);
  CHECK_EQ_INT(fk_image_load("x", 0, NULL), FK_EINVAL);
  fk_image_free(NULL);
  fk_image_free(&img); /* zeroed by the failures above: no-op */
  CHECK(image_zeroed(&img));
}

static void test_decode_rejects_truncated_jpeg(void) {
  int w = 40, h = 30;
  uint8_t *rgb = gradient_rgb(w, h);
  size_t n;
  uint8_t *jpg = make_jpeg(rgb, w, h, 90, &n);
  const char *p = tu_tmp("half.jpg");
  write_file(p, jpg, n / 2);
  fk_image img;
  CHECK_EQ_INT(fk_image_load(p, 0, &img), FK_ECORRUPT);
  CHECK(image_zeroed(&img));
  remove(p);
  /* Every proper prefix fails, including one missing only the EOI marker. */
  int bad = 0;
  for (size_t k = 1; k < n; k++) {
    int st = fk_image_decode(jpg, k, 0, &img);
    if (st == FK_OK || !image_zeroed(&img)) bad++;
    fk_image_free(&img);
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(fk_image_decode(jpg, n, 0, &img), FK_OK);
  fk_image_free(&img);
  free(jpg);

  /* Progressive too: the decoder buffers all scans before output. */
  jpg = make_jpeg_ex(rgb, w, h, 3, JCS_RGB, JCS_YCbCr, 90, -1, 1, &n);
  CHECK_EQ_INT(fk_image_decode(jpg, n, 0, &img), FK_OK);
  fk_image_free(&img);
  CHECK_EQ_INT(fk_image_decode(jpg, n * 2 / 3, 0, &img), FK_ECORRUPT);
  CHECK_EQ_INT(fk_image_decode(jpg, n - 1, 0, &img), FK_ECORRUPT);
  free(jpg);
  free(rgb);
}

static void test_decode_rejects_truncated_png_and_webp(void) {
  int w = 13, h = 11;
  uint8_t *rgb = gradient_rgb(w, h);
  size_t n;
  uint8_t *png = make_png_rgb(rgb, w, h, &n);
  fk_image img;
  int bad = 0;
  for (size_t k = 1; k < n; k++) {
    if (fk_image_decode(png, k, 0, &img) == FK_OK || !image_zeroed(&img)) bad++;
    fk_image_free(&img);
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(fk_image_decode(png, n / 2, 0, &img), FK_ECORRUPT);
  free(png);

  uint8_t *webp = make_webp_rgb(rgb, w, h, &n);
  bad = 0;
  for (size_t k = 1; k < n; k++) {
    if (fk_image_decode(webp, k, 0, &img) == FK_OK || !image_zeroed(&img)) bad++;
    fk_image_free(&img);
  }
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(fk_image_decode(webp, n / 2, 0, &img), FK_ECORRUPT);
  free(webp);
  free(rgb);
}

/* Patches the SOF0 frame size of a baseline JPEG. */
static void jpeg_patch_size(uint8_t *jpg, size_t n, unsigned w, unsigned h) {
  for (size_t i = 2; i + 9 < n; i++)
    if (jpg[i] == 0xFF && jpg[i + 1] == 0xC0) {
      jpg[i + 5] = (uint8_t)(h >> 8), jpg[i + 6] = (uint8_t)h;
      jpg[i + 7] = (uint8_t)(w >> 8), jpg[i + 8] = (uint8_t)w;
      return;
    }
  fprintf(stderr, "no SOF0\n");
  exit(2);
}

static void test_decode_rejects_jpeg_claiming_60000x60000(void) {
  uint8_t rgb[8 * 8 * 3] = {0};
  size_t n;
  uint8_t *jpg = make_jpeg(rgb, 8, 8, 90, &n);
  jpeg_patch_size(jpg, n, 60000, 60000);
  fk_image img;
  /* 3.6e9 pixels: refused from the header, before any pixel buffer (ASan
   * would report a multi-GB allocation otherwise). */
  CHECK_EQ_INT(fk_image_decode(jpg, n, 0, &img), FK_ETOOBIG);
  CHECK(image_zeroed(&img));
  const char *p = tu_tmp("huge.jpg");
  write_file(p, jpg, n);
  CHECK_EQ_INT(fk_image_load(p, 0, &img), FK_ETOOBIG);
  remove(p);
  free(jpg);
}

static void test_decode_rejects_png_claiming_60000x60000(void) {
  uint8_t rgb[3] = {1, 2, 3};
  size_t n;
  uint8_t *png = make_png_rgb(rgb, 1, 1, &n);
  /* IHDR: length at 8, type at 12, width 16, height 20, CRC at 29. */
  CHECK(memcmp(png + 12, "IHDR", 4) == 0);
  put_be32(png + 16, 60000);
  put_be32(png + 20, 60000);
  put_be32(png + 29, crc32_png(png + 12, 17));
  fk_image img;
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_ETOOBIG);
  CHECK(image_zeroed(&img));
  /* Wider than libpng's default 1e6 limit: still our FK_ETOOBIG. */
  put_be32(png + 16, 3000000);
  put_be32(png + 20, 100);
  put_be32(png + 29, crc32_png(png + 12, 17));
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_ETOOBIG);
  /* libpng's own width limit would report corruption before our check. */
  put_be32(png + 20, 1);
  put_be32(png + 29, crc32_png(png + 12, 17));
  CHECK_EQ_INT(fk_image_decode(png, n, 2999999, &img), FK_ETOOBIG);
  /* A bad IHDR CRC is corruption. */
  png[29] ^= 1;
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_ECORRUPT);
  free(png);
}

static void test_decode_enforces_max_pixels_exactly(void) {
  int w = 10, h = 10;
  uint8_t *rgb = gradient_rgb(w, h);
  uint8_t *rgba = calloc((size_t)w * h, 4);
  size_t nj, np, nw;
  uint8_t *jpg = make_jpeg(rgb, w, h, 90, &nj);
  uint8_t *png = make_png_rgb(rgb, w, h, &np);
  uint8_t *webp = make_webp_rgba(rgba, w, h, 1, &nw);
  const uint8_t *files[3] = {jpg, png, webp};
  size_t lens[3] = {nj, np, nw};
  for (int i = 0; i < 3; i++) {
    fk_image img;
    CHECK_EQ_INT(fk_image_decode(files[i], lens[i], 99, &img), FK_ETOOBIG);
    CHECK(image_zeroed(&img));
    CHECK_EQ_INT(fk_image_decode(files[i], lens[i], 100, &img), FK_OK);
    CHECK_EQ_INT(img.width * img.height, 100);
    fk_image_free(&img);
  }
  free(jpg), free(png), free(webp), free(rgb), free(rgba);
}

/* Random byte flips and cuts must give a status, never a crash or a leak. */
static void test_decode_survives_mutated_inputs(void) {
  int w = 24, h = 16;
  uint8_t *rgb = gradient_rgb(w, h);
  uint8_t *rgba = malloc((size_t)w * h * 4);
  for (int i = 0; i < w * h; i++) {
    memcpy(rgba + 4 * i, rgb + 3 * i, 3);
    rgba[4 * i + 3] = (uint8_t)(i * 7);
  }
  size_t lens[5];
  uint8_t *files[5];
  files[0] = make_jpeg(rgb, w, h, 80, &lens[0]);
  files[1] = make_jpeg_ex(rgb, w, h, 3, JCS_RGB, JCS_YCbCr, 80, -1, 1, &lens[1]);
  files[2] = make_png_rgb(rgb, w, h, &lens[2]);
  files[3] = make_webp_rgba(rgba, w, h, 1, &lens[3]);
  files[4] = make_webp_rgba(rgba, w, h, 0, &lens[4]);
  int bad = 0;
  for (int f = 0; f < 5; f++) {
    uint8_t *buf = malloc(lens[f]);
    for (int it = 0; it < 400; it++) {
      memcpy(buf, files[f], lens[f]);
      int flips = rnd_range(1, 4);
      for (int k = 0; k < flips; k++) buf[rnd() % lens[f]] = (uint8_t)rnd();
      size_t n = (it % 4 == 0) ? (size_t)rnd_range(1, (int)lens[f]) : lens[f];
      fk_image img;
      int st = fk_image_decode(buf, n, 0, &img);
      if (st == FK_OK) {
        if (img.width <= 0 || img.height <= 0 || !img.rgb) bad++;
      } else if (!image_zeroed(&img) ||
                 (st != FK_ECORRUPT && st != FK_EFORMAT && st != FK_ETOOBIG &&
                  st != FK_EUNSUPPORTED)) {
        bad++;
      }
      fk_image_free(&img);
    }
    free(buf);
    free(files[f]);
  }
  CHECK_EQ_INT(bad, 0);
  free(rgb);
  free(rgba);
}

/* ---- decoding pixels ------------------------------------------------------ */

static void test_decode_jpeg_rgb_keeps_colours_at_odd_sizes(void) {
  int sizes[][2] = {{1, 1}, {17, 9}, {3, 31}, {64, 48}};
  for (int s = 0; s < 4; s++) {
    int w = sizes[s][0], h = sizes[s][1];
    uint8_t *rgb = gradient_rgb(w, h);
    size_t n;
    uint8_t *jpg = make_jpeg(rgb, w, h, 100, &n);
    const char *p = tu_tmp("rgb.jpg");
    write_file(p, jpg, n);
    fk_image img;
    CHECK_EQ_INT(fk_image_load(p, 0, &img), FK_OK);
    CHECK_EQ_INT(img.width, w);
    CHECK_EQ_INT(img.height, h);
    int maxdiff = 0;
    for (size_t i = 0; img.rgb && i < (size_t)w * h * 3; i++) {
      int d = abs((int)img.rgb[i] - rgb[i]);
      if (d > maxdiff) maxdiff = d;
    }
    CHECK(maxdiff <= 4);
    fk_image_free(&img);
    CHECK(image_zeroed(&img));
    remove(p);
    free(jpg);
    free(rgb);
  }
}

static void test_decode_grayscale_jpeg_to_equal_rgb(void) {
  int w = 9, h = 7;
  uint8_t gray[9 * 7];
  for (int i = 0; i < w * h; i++) gray[i] = 77;
  size_t n;
  uint8_t *jpg = make_jpeg_ex(gray, w, h, 1, JCS_GRAYSCALE, JCS_GRAYSCALE, 95, -1, 0, &n);
  fk_image img;
  CHECK_EQ_INT(fk_image_decode(jpg, n, 0, &img), FK_OK);
  CHECK_EQ_INT(img.width, w);
  int ok = 1;
  for (int i = 0; img.rgb && i < w * h; i++) {
    const uint8_t *q = img.rgb + 3 * i;
    if (q[0] != q[1] || q[1] != q[2] || abs(q[0] - 77) > 1) ok = 0;
  }
  CHECK(ok);
  fk_image_free(&img);
  free(jpg);
}

/* Four 8x8 blocks of known inks (C, M, Y, K as amounts 0..255) and the RGB
 * they must decode to: R = (255-C)(255-K)/255 etc. */
static const uint8_t CMYK_INKS[4][4] = {
    {0, 255, 255, 0}, {0, 0, 0, 128}, {255, 0, 0, 0}, {64, 128, 192, 32}};
static const uint8_t CMYK_RGB[4][3] = {
    {255, 0, 0}, {127, 127, 127}, {0, 255, 255}, {167, 111, 55}};

static uint8_t *cmyk_blocks(int inverted) {
  uint8_t *px = malloc(32 * 8 * 4);
  for (int y = 0; y < 8; y++)
    for (int x = 0; x < 32; x++)
      for (int c = 0; c < 4; c++) {
        uint8_t ink = CMYK_INKS[x / 8][c];
        px[(y * 32 + x) * 4 + c] = inverted ? (uint8_t)(255 - ink) : ink;
      }
  return px;
}

static void check_cmyk_decode(const uint8_t *jpg, size_t n) {
  fk_image img;
  CHECK_EQ_INT(fk_image_decode(jpg, n, 0, &img), FK_OK);
  CHECK_EQ_INT(img.width, 32);
  CHECK_EQ_INT(img.height, 8);
  if (!img.rgb) return;
  for (int b = 0; b < 4; b++) {
    const uint8_t *q = px_at(&img, b * 8 + 4, 4);
    for (int c = 0; c < 3; c++) CHECK_NEAR(q[c], CMYK_RGB[b][c], 3);
  }
  fk_image_free(&img);
}

static void test_decode_adobe_cmyk_jpeg_to_rgb(void) {
  /* Adobe APP14 present: values are stored inverted (255 - ink). */
  uint8_t *px = cmyk_blocks(1);
  size_t n;
  uint8_t *jpg = make_jpeg_ex(px, 32, 8, 4, JCS_CMYK, JCS_CMYK, 100, 1, 0, &n);
  check_cmyk_decode(jpg, n);
  free(jpg);
  /* YCCK (always Adobe): libjpeg converts back to inverted CMYK. */
  jpg = make_jpeg_ex(px, 32, 8, 4, JCS_CMYK, JCS_YCCK, 100, 1, 0, &n);
  check_cmyk_decode(jpg, n);
  free(jpg);
  free(px);
}

static void test_decode_plain_cmyk_jpeg_to_rgb(void) {
  /* No Adobe marker: values are ink amounts as they are. */
  uint8_t *px = cmyk_blocks(0);
  size_t n;
  uint8_t *jpg = make_jpeg_ex(px, 32, 8, 4, JCS_CMYK, JCS_CMYK, 100, 0, 0, &n);
  check_cmyk_decode(jpg, n);
  free(jpg);
  free(px);
}

/* Expected 8-bit channel of value v (8-bit) with alpha a over white. */
static int over_white(int v, int a) {
  return (int)floor((v * a + 255.0 * (255 - a)) / 255.0 + 0.5);
}

static void test_decode_16bit_rgba_png_composites_over_white(void) {
  /* 4x1: opaque, transparent, half, quarter alpha; 16-bit big-endian. */
  const uint16_t px[4][4] = {{0x1234, 0xABCD, 0xFFFF, 0xFFFF},
                             {0x0000, 0x0000, 0x0000, 0x0000},
                             {0x8000, 0x4000, 0x0000, 0x8000},
                             {0xFFFF, 0x0000, 0x2000, 0x4000}};
  uint8_t raw[4 * 8];
  for (int i = 0; i < 4; i++)
    for (int c = 0; c < 4; c++) {
      raw[i * 8 + c * 2] = (uint8_t)(px[i][c] >> 8);
      raw[i * 8 + c * 2 + 1] = (uint8_t)px[i][c];
    }
  png_spec s = {PNG_COLOR_TYPE_RGBA, 16, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
  size_t n;
  uint8_t *png = make_png(raw, sizeof raw, 4, 1, &s, &n);
  fk_image img;
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_OK);
  CHECK_EQ_INT(img.width, 4);
  CHECK_EQ_INT(img.height, 1);
  if (img.rgb) {
    CHECK_EQ_INT(img.rgb[0], 0x12);
    CHECK_EQ_INT(img.rgb[1], 0xAB);
    CHECK_EQ_INT(img.rgb[2], 0xFF);
    for (int c = 0; c < 3; c++) CHECK_EQ_INT(img.rgb[3 + c], 255);
    for (int i = 2; i < 4; i++)
      for (int c = 0; c < 3; c++)
        CHECK_EQ_INT(img.rgb[i * 3 + c], over_white(px[i][c] >> 8, px[i][3] >> 8));
    CHECK_EQ_INT(img.rgb[6], 191); /* 128 at alpha 128: 64.25 + 127 */
  }
  fk_image_free(&img);
  free(png);
}

static void test_decode_palette_png_with_trns_and_gray_pngs(void) {
  /* Palette: red opaque, green transparent, blue half; 2-bit indices. */
  png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
  png_byte trans[3] = {255, 0, 128};
  uint8_t raw[1] = {(0 << 6) | (1 << 4) | (2 << 2) | 0}; /* 4 pixels */
  png_spec s = {PNG_COLOR_TYPE_PALETTE, 2, PNG_INTERLACE_NONE, pal, 3, trans, 3, NULL};
  size_t n;
  uint8_t *png = make_png(raw, 1, 4, 1, &s, &n);
  fk_image img;
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_OK);
  if (img.rgb) {
    const uint8_t want[4][3] = {{255, 0, 0}, {255, 255, 255}, {127, 127, 255}, {255, 0, 0}};
    CHECK(memcmp(img.rgb, want, 12) == 0);
  }
  fk_image_free(&img);
  free(png);

  /* 8-bit gray. */
  uint8_t g[6] = {0, 50, 100, 150, 200, 255};
  png_spec sg = {PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
  png = make_png(g, 3, 3, 2, &sg, &n);
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_OK);
  CHECK_EQ_INT(img.width, 3);
  CHECK_EQ_INT(img.height, 2);
  int ok = 1;
  for (int i = 0; img.rgb && i < 6; i++)
    for (int c = 0; c < 3; c++) ok &= img.rgb[i * 3 + c] == g[i];
  CHECK(ok);
  fk_image_free(&img);
  free(png);

  /* 1-bit gray expands to 0 / 255. */
  uint8_t bits[1] = {0xA0}; /* 1 0 1 0 */
  png_spec sb = {PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
  png = make_png(bits, 1, 4, 1, &sb, &n);
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_OK);
  if (img.rgb) {
    CHECK_EQ_INT(img.rgb[0], 255);
    CHECK_EQ_INT(img.rgb[3], 0);
    CHECK_EQ_INT(img.rgb[6], 255);
    CHECK_EQ_INT(img.rgb[11], 0);
  }
  fk_image_free(&img);
  free(png);

  /* Gray + alpha. */
  uint8_t ga[4] = {100, 255, 100, 0};
  png_spec sga = {PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, NULL};
  png = make_png(ga, 4, 2, 1, &sga, &n);
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_OK);
  if (img.rgb) {
    CHECK_EQ_INT(img.rgb[0], 100);
    CHECK_EQ_INT(img.rgb[5], 255);
  }
  fk_image_free(&img);
  free(png);

  /* RGB with a tRNS colour key: the key colour becomes white. */
  uint8_t rgb[6] = {10, 20, 30, 40, 50, 60};
  png_color_16 key = {0, 40, 50, 60, 0};
  png_spec sk = {PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0, &key};
  png = make_png(rgb, 6, 2, 1, &sk, &n);
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_OK);
  if (img.rgb) {
    const uint8_t want[6] = {10, 20, 30, 255, 255, 255};
    CHECK(memcmp(img.rgb, want, 6) == 0);
  }
  fk_image_free(&img);
  free(png);
}

static void test_decode_interlaced_png_exactly(void) {
  int w = 13, h = 7;
  uint8_t *rgb = random_rgb(w, h);
  png_spec s = {PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0, NULL};
  size_t n;
  uint8_t *png = make_png(rgb, (size_t)w * 3, w, h, &s, &n);
  fk_image img;
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_OK);
  CHECK(img.rgb && memcmp(img.rgb, rgb, (size_t)w * h * 3) == 0);
  fk_image_free(&img);
  free(png);

  /* Interlaced RGBA: composited after all passes. */
  uint8_t *rgba = malloc((size_t)w * h * 4);
  for (int i = 0; i < w * h; i++) {
    memcpy(rgba + 4 * i, rgb + 3 * i, 3);
    rgba[4 * i + 3] = (uint8_t)rnd();
  }
  png_spec sa = {PNG_COLOR_TYPE_RGBA, 8, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0, NULL};
  png = make_png(rgba, (size_t)w * 4, w, h, &sa, &n);
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_OK);
  int bad = 0;
  for (int i = 0; img.rgb && i < w * h; i++)
    for (int c = 0; c < 3; c++)
      bad += img.rgb[3 * i + c] != over_white(rgba[4 * i + c], rgba[4 * i + 3]);
  CHECK(img.rgb != NULL);
  CHECK_EQ_INT(bad, 0);
  fk_image_free(&img);
  free(png);
  free(rgba);
  free(rgb);
}

static void test_decode_webp_alpha_composites_over_white(void) {
  int w = 5, h = 3;
  uint8_t rgba[5 * 3 * 4];
  for (int i = 0; i < w * h; i++) {
    rgba[4 * i] = (uint8_t)(i * 17);
    rgba[4 * i + 1] = 200;
    rgba[4 * i + 2] = (uint8_t)(255 - i * 9);
    rgba[4 * i + 3] = i == 0 ? 0 : i == 1 ? 255 : (uint8_t)(i * 18);
  }
  size_t n;
  uint8_t *webp = make_webp_rgba(rgba, w, h, 1, &n); /* lossless: exact */
  const char *p = tu_tmp("alpha.webp");
  write_file(p, webp, n);
  fk_image img;
  CHECK_EQ_INT(fk_image_load(p, 0, &img), FK_OK);
  CHECK_EQ_INT(img.width, w);
  CHECK_EQ_INT(img.height, h);
  int bad = 0;
  for (int i = 0; img.rgb && i < w * h; i++)
    for (int c = 0; c < 3; c++)
      bad += img.rgb[3 * i + c] != over_white(rgba[4 * i + c], rgba[4 * i + 3]);
  CHECK(img.rgb != NULL);
  CHECK_EQ_INT(bad, 0);
  if (img.rgb) CHECK(img.rgb[0] == 255 && img.rgb[1] == 255 && img.rgb[2] == 255);
  fk_image_free(&img);
  remove(p);
  free(webp);

  /* Lossy with alpha: a fully transparent area is white. */
  uint8_t big[16 * 16 * 4];
  for (int i = 0; i < 256; i++) {
    big[4 * i] = 0, big[4 * i + 1] = 0, big[4 * i + 2] = 200;
    big[4 * i + 3] = (i % 16) < 8 ? 0 : 255;
  }
  webp = make_webp_rgba(big, 16, 16, 0, &n);
  CHECK_EQ_INT(fk_image_decode(webp, n, 0, &img), FK_OK);
  if (img.rgb) {
    const uint8_t *t = px_at(&img, 2, 8), *o = px_at(&img, 13, 8);
    CHECK(t[0] == 255 && t[1] == 255 && t[2] == 255);
    CHECK_NEAR(o[0], 0, 8);
    CHECK_NEAR(o[2], 200, 8);
  }
  fk_image_free(&img);
  free(webp);
}

static void test_decode_lossy_webp_rgb_and_1x1(void) {
  int w = 21, h = 11;
  uint8_t *rgb = gradient_rgb(w, h);
  size_t n;
  uint8_t *webp = make_webp_rgb(rgb, w, h, &n);
  fk_image img;
  CHECK_EQ_INT(fk_image_decode(webp, n, 0, &img), FK_OK);
  CHECK_EQ_INT(img.width, w);
  CHECK_EQ_INT(img.height, h);
  double sum = 0;
  for (size_t i = 0; img.rgb && i < (size_t)w * h * 3; i++)
    sum += abs((int)img.rgb[i] - rgb[i]);
  CHECK(img.rgb && sum / (w * h * 3) < 4.0);
  fk_image_free(&img);
  free(webp);
  free(rgb);

  uint8_t one[4] = {9, 99, 199, 255};
  webp = make_webp_rgba(one, 1, 1, 1, &n);
  CHECK_EQ_INT(fk_image_decode(webp, n, 0, &img), FK_OK);
  CHECK(img.width == 1 && img.height == 1 && img.rgb && img.rgb[0] == 9 &&
        img.rgb[1] == 99 && img.rgb[2] == 199);
  fk_image_free(&img);
  free(webp);

  uint8_t one_rgb[3] = {9, 99, 199};
  uint8_t *png = make_png_rgb(one_rgb, 1, 1, &n);
  CHECK_EQ_INT(fk_image_decode(png, n, 0, &img), FK_OK);
  CHECK(img.width == 1 && img.height == 1 && img.rgb && memcmp(img.rgb, one_rgb, 3) == 0);
  fk_image_free(&img);
  free(png);
}

/* ---- EXIF orientation ----------------------------------------------------- */

static void test_exif_orientation_reads_both_byte_orders_and_types(void) {
  uint8_t rgb[8 * 8 * 3] = {0};
  size_t n;
  uint8_t *jpg = make_jpeg(rgb, 8, 8, 90, &n);
  CHECK_EQ_INT(fk_exif_orientation(jpg, n), 1); /* no APP1 */
  for (int le = 0; le < 2; le++)
    for (unsigned o = 1; o <= 8; o++) {
      uint8_t seg[40];
      size_t sn = exif_app1(seg, le, 3, o), m;
      uint8_t *j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
      CHECK_EQ_INT(fk_exif_orientation(j2, m), (int)o);
      free(j2);
    }
  uint8_t seg[40];
  size_t sn = exif_app1(seg, 0, 4, 6), m; /* LONG */
  uint8_t *j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
  CHECK_EQ_INT(fk_exif_orientation(j2, m), 6);
  free(j2);
  free(jpg);
}

static void test_exif_orientation_is_1_for_malformed_exif(void) {
  uint8_t rgb[8 * 8 * 3] = {0};
  size_t n, m, sn;
  uint8_t *jpg = make_jpeg(rgb, 8, 8, 90, &n);
  uint8_t seg[40], *j2;

  sn = exif_app1(seg, 1, 3, 9); /* out of range */
  j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
  CHECK_EQ_INT(fk_exif_orientation(j2, m), 1);
  free(j2);
  sn = exif_app1(seg, 1, 3, 0);
  j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
  CHECK_EQ_INT(fk_exif_orientation(j2, m), 1);
  free(j2);
  sn = exif_app1(seg, 1, 2, 6); /* ASCII type */
  j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
  CHECK_EQ_INT(fk_exif_orientation(j2, m), 1);
  free(j2);

  sn = exif_app1(seg, 1, 3, 6);
  seg[14] = 0xF0; /* IFD0 offset far past the segment */
  j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
  CHECK_EQ_INT(fk_exif_orientation(j2, m), 1);
  free(j2);

  sn = exif_app1(seg, 1, 3, 6);
  seg[18] = 0xFF, seg[19] = 0xFF; /* 65535 entries in a tiny segment */
  seg[20] = 0x00;                 /* and the first is not Orientation */
  j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
  CHECK_EQ_INT(fk_exif_orientation(j2, m), 1);
  free(j2);

  sn = exif_app1(seg, 1, 3, 6);
  seg[10] = 'X'; /* bad byte order mark */
  j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
  CHECK_EQ_INT(fk_exif_orientation(j2, m), 1);
  free(j2);

  sn = exif_app1(seg, 1, 3, 6);
  seg[2] = 0x7F; /* segment length past the end of the file */
  j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
  CHECK_EQ_INT(fk_exif_orientation(j2, 2 + sn), 1);
  free(j2);

  /* Cut anywhere inside the segment: 1 (and no out-of-bounds read). */
  sn = exif_app1(seg, 0, 3, 6);
  j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
  int bad = 0;
  for (size_t k = 0; k < 2 + sn; k++) bad += fk_exif_orientation(j2, k) != 1;
  CHECK_EQ_INT(bad, 0);
  CHECK_EQ_INT(fk_exif_orientation(j2, m), 6);
  free(j2);

  /* An XMP APP1 before the Exif one is skipped. */
  uint8_t xmp[4 + 29] = {0xFF, 0xE1, 0, 31};
  memcpy(xmp + 4, "http://ns.adobe.com/xap/1.0/", 29);
  sn = exif_app1(seg, 1, 3, 8);
  uint8_t both[80];
  memcpy(both, xmp, sizeof xmp);
  memcpy(both + sizeof xmp, seg, sn);
  j2 = jpeg_insert_after_soi(jpg, n, both, sizeof xmp + sn, &m);
  CHECK_EQ_INT(fk_exif_orientation(j2, m), 8);
  free(j2);

  CHECK_EQ_INT(fk_exif_orientation(NULL, 100), 1);
  CHECK_EQ_INT(fk_exif_orientation((const uint8_t *)"\x89PNG\r\n\x1a\n", 8), 1);
  free(jpg);
}

/* Stored image for the orientation test: a 32 x 16 image of four 16 x 8
 * quadrants, TL red, TR green, BL blue, BR white (whole JPEG blocks, so the
 * colours survive compression). */
enum { Q_TL, Q_TR, Q_BL, Q_BR };
static const uint8_t QCOL[4][3] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {255, 255, 255}};

static int nearest_quadrant(const uint8_t *p) {
  int best = -1, bestd = 1 << 30;
  for (int q = 0; q < 4; q++) {
    int d = 0;
    for (int c = 0; c < 3; c++) d += abs(p[c] - QCOL[q][c]);
    if (d < bestd) bestd = d, best = q;
  }
  return bestd < 60 ? best : -1;
}

static void test_decode_applies_exif_orientation_to_pixels(void) {
  int w = 32, h = 16;
  uint8_t *rgb = malloc((size_t)w * h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      memcpy(rgb + ((size_t)y * w + x) * 3, QCOL[(y >= 8) * 2 + (x >= 16)], 3);
  size_t n;
  uint8_t *jpg = make_jpeg(rgb, w, h, 95, &n);
  /* For each orientation, which stored quadrant shows at display TL, TR,
   * BL, BR, from the EXIF definitions (6 = rotate 90 clockwise to view). */
  static const int want[9][4] = {
      {0},
      {Q_TL, Q_TR, Q_BL, Q_BR}, /* 1 as stored */
      {Q_TR, Q_TL, Q_BR, Q_BL}, /* 2 mirror left-right */
      {Q_BR, Q_BL, Q_TR, Q_TL}, /* 3 rotate 180 */
      {Q_BL, Q_BR, Q_TL, Q_TR}, /* 4 mirror top-bottom */
      {Q_TL, Q_BL, Q_TR, Q_BR}, /* 5 transpose */
      {Q_BL, Q_TL, Q_BR, Q_TR}, /* 6 rotate 90 cw */
      {Q_BR, Q_TR, Q_BL, Q_TL}, /* 7 transverse */
      {Q_TR, Q_BR, Q_TL, Q_BL}, /* 8 rotate 90 ccw */
  };
  for (int le = 0; le < 2; le++)
    for (int o = 1; o <= 8; o++) {
      uint8_t seg[40];
      size_t sn = exif_app1(seg, le, 3, (uint32_t)o), m;
      uint8_t *j2 = jpeg_insert_after_soi(jpg, n, seg, sn, &m);
      fk_image img;
      CHECK_EQ_INT(fk_image_decode(j2, m, 0, &img), FK_OK);
      int ew = o >= 5 ? h : w, eh = o >= 5 ? w : h;
      CHECK_EQ_INT(img.width, ew);
      CHECK_EQ_INT(img.height, eh);
      if (img.rgb && img.width == ew) {
        CHECK_EQ_INT(nearest_quadrant(px_at(&img, 2, 2)), want[o][0]);
        CHECK_EQ_INT(nearest_quadrant(px_at(&img, ew - 3, 2)), want[o][1]);
        CHECK_EQ_INT(nearest_quadrant(px_at(&img, 2, eh - 3)), want[o][2]);
        CHECK_EQ_INT(nearest_quadrant(px_at(&img, ew - 3, eh - 3)), want[o][3]);
      }
      fk_image_free(&img);
      free(j2);
    }
  free(jpg);
  free(rgb);
}

static void test_orient_transforms_pixels_exactly(void) {
  /* 3 x 2 stored image, pixel value = 10*y + x in every channel. */
  uint8_t base[2][3][3];
  for (int y = 0; y < 2; y++)
    for (int x = 0; x < 3; x++) memset(base[y][x], 10 * y + x, 3);
  /* Expected display rows, read off the EXIF definitions. */
  static const uint8_t want[9][6] = {
      {0},
      {0, 1, 2, 10, 11, 12},   /* 1 */
      {2, 1, 0, 12, 11, 10},   /* 2 */
      {12, 11, 10, 2, 1, 0},   /* 3 */
      {10, 11, 12, 0, 1, 2},   /* 4 */
      {0, 10, 1, 11, 2, 12},   /* 5: 2 wide x 3 tall */
      {10, 0, 11, 1, 12, 2},   /* 6 */
      {12, 2, 11, 1, 10, 0},   /* 7 */
      {2, 12, 1, 11, 0, 10},   /* 8 */
  };
  for (int o = 1; o <= 8; o++) {
    fk_image img = {3, 2, malloc(18)};
    memcpy(img.rgb, base, 18);
    CHECK_EQ_INT(fk_image_orient(&img, o), FK_OK);
    CHECK_EQ_INT(img.width, o >= 5 ? 2 : 3);
    CHECK_EQ_INT(img.height, o >= 5 ? 3 : 2);
    int bad = 0;
    for (int i = 0; i < 6; i++) bad += img.rgb[i * 3] != want[o][i] || img.rgb[i * 3 + 2] != want[o][i];
    if (bad) fprintf(stderr, "orientation %d wrong\n", o);
    CHECK_EQ_INT(bad, 0);
    fk_image_free(&img);
  }
  fk_image img = {3, 2, malloc(18)};
  CHECK_EQ_INT(fk_image_orient(&img, 0), FK_EINVAL);
  CHECK_EQ_INT(fk_image_orient(&img, 9), FK_EINVAL);
  CHECK_EQ_INT(fk_image_orient(NULL, 6), FK_EINVAL);
  fk_image_free(&img);
  CHECK_EQ_INT(fk_image_orient(&img, 6), FK_EINVAL); /* empty image */
}

/* ---- PNG encoding --------------------------------------------------------- */

static void test_save_png_round_trips_exactly(void) {
  int w = 19, h = 5;
  fk_image img = {w, h, random_rgb(w, h)};
  const char *p = tu_tmp("out.png");
  CHECK_EQ_INT(fk_image_save_png(&img, p), FK_OK);
  fk_image back;
  CHECK_EQ_INT(fk_image_load(p, 0, &back), FK_OK);
  CHECK(back.width == w && back.height == h && back.rgb &&
        memcmp(back.rgb, img.rgb, (size_t)w * h * 3) == 0);
  fk_image_free(&back);
  remove(p);
  CHECK_EQ_INT(fk_image_save_png(&img, "/nonexistent-dir-fk/out.png"), FK_ENOENT);
  CHECK_EQ_INT(fk_image_save_png(&img, "/tmp"), FK_EIO); /* a directory */
  CHECK_EQ_INT(fk_image_save_png(NULL, p), FK_EINVAL);
  CHECK_EQ_INT(fk_image_save_png(&img, NULL), FK_EINVAL);
  fk_image empty = {0, 0, NULL};
  CHECK_EQ_INT(fk_image_save_png(&empty, p), FK_EINVAL);
  fk_image_free(&img);
}

/* ---- crop to square tensor ------------------------------------------------ */

/* The slow reference: materialize the zero-padded square exactly as face-api's
 * padToSquare does (concat of [prepend, image, append] along the short axis),
 * then TF legacy bilinear with TF's own index formulas (ceil for the upper
 * neighbour), all in float32. */
static void ref_crop_to_square(const fk_image *img, fk_rect r, int centered,
                               int size, float *out) {
  int w = r.w, h = r.h, side = w > h ? w : h;
  int diff = abs(w - h);
  int append = (int)floor(diff * (centered ? 0.5 : 1.0) + 0.5); /* Math.round */
  int prepend = centered ? diff - append : 0;
  float *sq = calloc((size_t)side * side * 3, sizeof *sq);
  int ox = w < h ? prepend : 0, oy = h < w ? prepend : 0;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++)
        sq[((size_t)(y + oy) * side + (x + ox)) * 3 + c] =
            img->rgb[((size_t)(r.y + y) * img->width + (r.x + x)) * 3 + c];
  float scale = (float)side / (float)size;
  for (int i = 0; i < size; i++) {
    float in_y = (float)i * scale;
    int top = (int)floorf(in_y) > 0 ? (int)floorf(in_y) : 0;
    int bot = (int)ceilf(in_y) < side - 1 ? (int)ceilf(in_y) : side - 1;
    float fy = in_y - floorf(in_y);
    for (int j = 0; j < size; j++) {
      float in_x = (float)j * scale;
      int left = (int)floorf(in_x) > 0 ? (int)floorf(in_x) : 0;
      int right = (int)ceilf(in_x) < side - 1 ? (int)ceilf(in_x) : side - 1;
      float fx = in_x - floorf(in_x);
      for (int c = 0; c < 3; c++) {
        float tl = sq[((size_t)top * side + left) * 3 + c];
        float tr = sq[((size_t)top * side + right) * 3 + c];
        float bl = sq[((size_t)bot * side + left) * 3 + c];
        float br = sq[((size_t)bot * side + right) * 3 + c];
        float t = tl + (tr - tl) * fx;
        float b = bl + (br - bl) * fx;
        out[((size_t)i * size + j) * 3 + c] = t + (b - t) * fy;
      }
    }
  }
  free(sq);
}

static void test_crop_to_square_tensor_matches_reference(void) {
  int mismatches = 0, cases = 0;
  for (int it = 0; it < 300; it++) {
    int iw = rnd_range(1, 40), ih = rnd_range(1, 40);
    fk_image img = {iw, ih, random_rgb(iw, ih)};
    fk_rect r;
    r.w = rnd_range(1, iw), r.h = rnd_range(1, ih);
    r.x = rnd_range(0, iw - r.w), r.y = rnd_range(0, ih - r.h);
    if (it % 5 == 0) r = (fk_rect){0, 0, iw, ih};
    int side = r.w > r.h ? r.w : r.h;
    int sizes[4] = {rnd_range(1, 64), side, side * 2 + 1, side > 2 ? side / 2 : 1};
    for (int s = 0; s < 4; s++)
      for (int centered = 0; centered < 2; centered++) {
        int size = sizes[s];
        size_t n = (size_t)size * size * 3;
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        fk_crop_to_square_tensor(&img, r, centered, size, a);
        ref_crop_to_square(&img, r, centered, size, b);
        if (memcmp(a, b, n * sizeof *a) != 0) mismatches++;
        cases++;
        free(a);
        free(b);
      }
    fk_image_free(&img);
  }
  CHECK_EQ_INT(mismatches, 0);
  CHECK(cases == 2400);
}

static void test_crop_to_square_tensor_pins_hand_values(void) {
  /* A 1 wide x 3 tall gray column 30, 60, 90; centered pads 1 column on each
   * side: rows [0 v 0]. */
  uint8_t col[9] = {30, 30, 30, 60, 60, 60, 90, 90, 90};
  fk_image img = {1, 3, col};
  float out[3 * 3 * 3];
  fk_crop_to_square_tensor(&img, (fk_rect){0, 0, 1, 3}, 1, 3, out);
  for (int y = 0; y < 3; y++) {
    CHECK_EQ_INT(out[(y * 3 + 0) * 3], 0);
    CHECK_EQ_INT(out[(y * 3 + 1) * 3], 30 * (y + 1));
    CHECK_EQ_INT(out[(y * 3 + 2) * 3 + 2], 0);
  }
  /* Down to 2: scale 1.5, index 1 samples 1.5. */
  fk_crop_to_square_tensor(&img, (fk_rect){0, 0, 1, 3}, 1, 2, out);
  CHECK_NEAR(out[0], 0, 0);            /* (0,0) */
  CHECK_NEAR(out[3], 15, 0);           /* (0,1): (30 + 0) / 2 */
  CHECK_NEAR(out[6], 0, 0);            /* (1,0) */
  CHECK_NEAR(out[9], 37.5, 0);         /* (1,1): (30 + 45) / 2 */
  /* Not centered: the column stays at x = 0. */
  fk_crop_to_square_tensor(&img, (fk_rect){0, 0, 1, 3}, 0, 3, out);
  CHECK_EQ_INT(out[0], 30);
  CHECK_EQ_INT(out[3], 0);

  /* A 4 x 1 row: d = 3, Math.round(1.5) = 2 rows after, 1 before. */
  uint8_t row[12] = {10, 0, 0, 20, 0, 0, 30, 0, 0, 40, 0, 0};
  fk_image im2 = {4, 1, row};
  float o2[4 * 4 * 3];
  fk_crop_to_square_tensor(&im2, (fk_rect){0, 0, 4, 1}, 1, 4, o2);
  for (int x = 0; x < 4; x++) {
    CHECK_EQ_INT(o2[(0 * 4 + x) * 3], 0);
    CHECK_EQ_INT(o2[(1 * 4 + x) * 3], 10 * (x + 1));
    CHECK_EQ_INT(o2[(2 * 4 + x) * 3], 0);
  }
  fk_crop_to_square_tensor(&im2, (fk_rect){0, 0, 4, 1}, 0, 4, o2);
  CHECK_EQ_INT(o2[3], 20);
  CHECK_EQ_INT(o2[(1 * 4) * 3], 0);

  /* A 2 x 1 row A B, bottom padding, up to 4: scale 0.5, edge clamped. */
  uint8_t ab[6] = {10, 20, 30, 50, 60, 70};
  fk_image im3 = {2, 1, ab};
  float o3[4 * 4 * 3];
  fk_crop_to_square_tensor(&im3, (fk_rect){0, 0, 2, 1}, 0, 4, o3);
  CHECK_NEAR(o3[0], 10, 0);
  CHECK_NEAR(o3[3], 30, 0);          /* x = 0.5 */
  CHECK_NEAR(o3[6 + 1], 60, 0);      /* x = 1 */
  CHECK_NEAR(o3[9 + 2], 70, 0);      /* x = 1.5 clamps to B */
  CHECK_NEAR(o3[12], 5, 0);          /* y = 0.5 into the zero row */
  CHECK_NEAR(o3[15], 15, 0);
  CHECK_NEAR(o3[24], 0, 0);          /* row 2 samples y = 1: padding */
  /* The crop offset is honoured. */
  uint8_t grid[3 * 2 * 3];
  for (int i = 0; i < 18; i++) grid[i] = (uint8_t)i;
  fk_image im4 = {3, 2, grid};
  float o4[3];
  fk_crop_to_square_tensor(&im4, (fk_rect){2, 1, 1, 1}, 0, 1, o4);
  CHECK(o4[0] == 15 && o4[1] == 16 && o4[2] == 17);
}

static void test_crop_to_square_tensor_copies_when_side_equals_size(void) {
  int w = 37, h = 37;
  fk_image img = {w, h, random_rgb(w, h)};
  float *out = malloc((size_t)w * h * 3 * sizeof *out);
  fk_crop_to_square_tensor(&img, (fk_rect){0, 0, w, h}, 1, w, out);
  int bad = 0;
  for (size_t i = 0; i < (size_t)w * h * 3; i++) bad += out[i] != img.rgb[i];
  CHECK_EQ_INT(bad, 0);
  free(out);
  fk_image_free(&img);
}

static void test_crop_to_square_tensor_survives_bad_input(void) {
  uint8_t px[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  fk_image img = {2, 2, px};
  float out[4 * 4 * 3];
  for (int i = 0; i < 48; i++) out[i] = 99;
  fk_crop_to_square_tensor(&img, (fk_rect){5, 5, 2, 2}, 0, 4, out); /* outside */
  int nz = 0;
  for (int i = 0; i < 48; i++) nz += out[i] != 0;
  CHECK_EQ_INT(nz, 0);
  fk_crop_to_square_tensor(NULL, (fk_rect){0, 0, 1, 1}, 0, 4, out);
  fk_crop_to_square_tensor(&img, (fk_rect){0, 0, 1, 1}, 0, 0, out);
  fk_crop_to_square_tensor(&img, (fk_rect){0, 0, 1, 1}, 0, 4, NULL);
  /* Overhanging crops are clipped to the image. */
  fk_crop_to_square_tensor(&img, (fk_rect){-1, -1, 0x7fffffff, 0x7fffffff}, 0, 2, out);
  CHECK_EQ_INT(out[0], 1);
  CHECK_EQ_INT(out[3 * 3 + 2], 12);
}

static void test_crop_to_square_tensor_on_1000px(void) {
  int w = 1000, h = 750;
  fk_image img = {w, h, random_rgb(w, h)};
  float *out = malloc((size_t)512 * 512 * 3 * sizeof *out);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 5; i++) fk_crop_to_square_tensor(&img, (fk_rect){0, 0, w, h}, 0, 512, out);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ms = ((t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6) / 5;
  fprintf(stderr, "  crop_to_square 1000x750 -> 512: %.2f ms\n", ms);
  CHECK_EQ_INT(out[0], img.rgb[0]); /* its speed is bench_pipeline's to measure */
  free(out);
  fk_image_free(&img);
}

/* ---- affine warp ---------------------------------------------------------- */

static void test_warp_affine_identity_copies(void) {
  int w = 11, h = 7;
  fk_image img = {w, h, random_rgb(w, h)};
  float *out = malloc((size_t)w * h * 3 * sizeof *out);
  const double id[6] = {1, 0, 0, 0, 1, 0};
  fk_warp_affine(&img, id, w, h, out);
  int bad = 0;
  for (size_t i = 0; i < (size_t)w * h * 3; i++) bad += out[i] != img.rgb[i];
  CHECK_EQ_INT(bad, 0);
  free(out);
  fk_image_free(&img);
}

static void test_warp_affine_translation_and_scale(void) {
  int w = 6, h = 5;
  fk_image img = {w, h, random_rgb(w, h)};
  float out[12 * 10 * 3];
  /* Integer shift: out(u, v) = img(u + 2, v + 1), 0 beyond the image. */
  const double sh[6] = {1, 0, 2, 0, 1, 1};
  fk_warp_affine(&img, sh, w, h, out);
  int bad = 0;
  for (int v = 0; v < h; v++)
    for (int u = 0; u < w; u++)
      for (int c = 0; c < 3; c++) {
        float want = (u + 2 < w && v + 1 < h) ? px_at(&img, u + 2, v + 1)[c] : 0;
        bad += out[(v * w + u) * 3 + c] != want;
      }
  CHECK_EQ_INT(bad, 0);
  /* Half-pixel shift: average of horizontal neighbours; the right-most
   * output pixel mixes with an outside (zero) neighbour. */
  const double half[6] = {1, 0, 0.5, 0, 1, 0};
  fk_warp_affine(&img, half, w, h, out);
  bad = 0;
  for (int v = 0; v < h; v++)
    for (int u = 0; u < w; u++)
      for (int c = 0; c < 3; c++) {
        double right = u + 1 < w ? px_at(&img, u + 1, v)[c] : 0;
        double want = 0.5 * px_at(&img, u, v)[c] + 0.5 * right;
        bad += fabs(out[(v * w + u) * 3 + c] - want) > 1e-4;
      }
  CHECK_EQ_INT(bad, 0);
  /* Scale 2 up: even outputs hit pixels, odd ones average neighbours. */
  const double up[6] = {0.5, 0, 0, 0, 0.5, 0};
  fk_warp_affine(&img, up, 2 * w, 2 * h, out);
  CHECK_NEAR(out[((2 * 2) * (2 * w) + 2 * 3) * 3 + 1], px_at(&img, 3, 2)[1], 1e-4);
  double mid = (px_at(&img, 1, 1)[0] + px_at(&img, 2, 1)[0] + px_at(&img, 1, 2)[0] +
                px_at(&img, 2, 2)[0]) / 4.0;
  CHECK_NEAR(out[((3) * (2 * w) + 3) * 3], mid, 1e-4);
  /* Negative sample positions read the zero border. */
  const double neg[6] = {1, 0, -0.25, 0, 1, 0};
  fk_warp_affine(&img, neg, w, h, out);
  CHECK_NEAR(out[0], 0.75 * px_at(&img, 0, 0)[0], 1e-4);
  fk_image_free(&img);
}

static void test_warp_affine_survives_bad_input(void) {
  uint8_t px[3] = {50, 60, 70};
  fk_image img = {1, 1, px};
  float out[4 * 3];
  const double nan_m[6] = {NAN, 0, 0, 0, 1, 0};
  fk_warp_affine(&img, nan_m, 2, 2, out);
  CHECK(out[0] == 0 && out[11] == 0);
  const double huge[6] = {1e300, 0, 0, 0, 1e300, -1e308};
  fk_warp_affine(&img, huge, 2, 2, out);
  CHECK(out[3] == 0);
  fk_warp_affine(NULL, nan_m, 2, 2, out);
  CHECK(out[0] == 0);
  fk_warp_affine(&img, NULL, 2, 2, out);
  fk_warp_affine(&img, nan_m, -1, 2, out);
  fk_warp_affine(&img, nan_m, 2, 2, NULL);
  const double id[6] = {1, 0, 0, 0, 1, 0};
  fk_warp_affine(&img, id, 2, 2, out);
  CHECK(out[0] == 50 && out[2] == 70 && out[3] == 0);
}

/* ---- utilities ------------------------------------------------------------- */

static void test_image_crop_copies_and_clips(void) {
  uint8_t px[4 * 3 * 3];
  for (int i = 0; i < 36; i++) px[i] = (uint8_t)i;
  fk_image img = {4, 3, px}, out;
  CHECK_EQ_INT(fk_image_crop(&img, (fk_rect){1, 1, 2, 2}, &out), FK_OK);
  CHECK(out.width == 2 && out.height == 2 && out.rgb);
  if (out.rgb) {
    CHECK_EQ_INT(out.rgb[0], 15);  /* pixel (1,1) */
    CHECK_EQ_INT(out.rgb[6], 27);  /* pixel (1,2) */
  }
  fk_image_free(&out);
  CHECK_EQ_INT(fk_image_crop(&img, (fk_rect){-5, 2, 100, 100}, &out), FK_OK);
  CHECK(out.width == 4 && out.height == 1);
  if (out.rgb) CHECK_EQ_INT(out.rgb[0], 24);
  fk_image_free(&out);
  CHECK_EQ_INT(fk_image_crop(&img, (fk_rect){10, 10, 2, 2}, &out), FK_EINVAL);
  CHECK(image_zeroed(&out));
  CHECK_EQ_INT(fk_image_crop(&img, (fk_rect){0x7fffffff, 0, 0x7fffffff, 1}, &out), FK_EINVAL);
  CHECK_EQ_INT(fk_image_crop(NULL, (fk_rect){0, 0, 1, 1}, &out), FK_EINVAL);
  CHECK_EQ_INT(fk_image_crop(&img, (fk_rect){0, 0, 1, 1}, NULL), FK_EINVAL);
}

static void test_draw_rect_draws_clipped_outline(void) {
  int w = 10, h = 8;
  fk_image img = {w, h, calloc((size_t)w * h, 3)};
  const uint8_t red[3] = {255, 0, 0};
  fk_draw_rect(&img, (fk_rect){2, 2, 5, 4}, 1, red);
  CHECK_EQ_INT(px_at(&img, 2, 2)[0], 255); /* corner */
  CHECK_EQ_INT(px_at(&img, 6, 5)[0], 255); /* opposite corner */
  CHECK_EQ_INT(px_at(&img, 4, 2)[0], 255); /* top edge */
  CHECK_EQ_INT(px_at(&img, 4, 3)[0], 0);   /* inside */
  CHECK_EQ_INT(px_at(&img, 7, 2)[0], 0);   /* outside */
  CHECK_EQ_INT(px_at(&img, 2, 2)[1], 0);
  /* Partly and wholly outside, huge values: clipped, no crash. */
  fk_draw_rect(&img, (fk_rect){-3, -3, 5, 5}, 2, red);
  CHECK_EQ_INT(px_at(&img, 0, 0)[0], 255);
  CHECK_EQ_INT(px_at(&img, 1, 1)[0], 255);
  fk_draw_rect(&img, (fk_rect){0x7fffff00, 0x7fffff00, 0x7fffffff, 0x7fffffff}, 3, red);
  fk_draw_rect(&img, (fk_rect){-0x7fffffff, -0x7fffffff, 0x7fffffff, 0x7fffffff}, 0x7fffffff, red);
  fk_draw_rect(NULL, (fk_rect){0, 0, 1, 1}, 1, red);
  fk_draw_rect(&img, (fk_rect){0, 0, 1, 1}, 1, NULL);
  fk_image_free(&img);
}

static void test_image_from_float_rounds_and_clamps(void) {
  const float src[6] = {0.49f, 0.5f, 254.5f, -3.0f, 300.0f, NAN};
  fk_image img;
  CHECK_EQ_INT(fk_image_from_float(src, 2, 1, &img), FK_OK);
  if (img.rgb) {
    const uint8_t want[6] = {0, 1, 255, 0, 255, 0};
    CHECK(memcmp(img.rgb, want, 6) == 0);
  }
  fk_image_free(&img);
  CHECK_EQ_INT(fk_image_from_float(src, 0, 1, &img), FK_EINVAL);
  CHECK_EQ_INT(fk_image_from_float(NULL, 1, 1, &img), FK_EINVAL);
  CHECK_EQ_INT(fk_image_from_float(src, 0x7fffffff, 0x7fffffff, &img), FK_ENOMEM);
  CHECK(image_zeroed(&img));
}

/* ---- threads --------------------------------------------------------------- */

typedef struct thread_job {
  const uint8_t *data;
  size_t n;
  int failures;
  const uint8_t *expect;
} thread_job;

static void *decode_many(void *arg) {
  thread_job *j = arg;
  for (int i = 0; i < 20; i++) {
    fk_image img;
    if (fk_image_decode(j->data, j->n, 0, &img) != FK_OK ||
        memcmp(img.rgb, j->expect, (size_t)img.width * img.height * 3) != 0)
      j->failures++;
    fk_image_free(&img);
    if (fk_image_decode(j->data, j->n / 2, 0, &img) != FK_ECORRUPT) j->failures++;
  }
  return NULL;
}

static void test_decode_is_thread_safe(void) {
  int w = 48, h = 32;
  uint8_t *rgb = gradient_rgb(w, h);
  size_t n;
  uint8_t *jpg = make_jpeg(rgb, w, h, 85, &n);
  fk_image first;
  CHECK_EQ_INT(fk_image_decode(jpg, n, 0, &first), FK_OK);
  thread_job jobs[3];
  pthread_t th[3];
  for (int i = 0; i < 3; i++) {
    jobs[i] = (thread_job){jpg, n, 0, first.rgb};
    pthread_create(&th[i], NULL, decode_many, &jobs[i]);
  }
  for (int i = 0; i < 3; i++) {
    pthread_join(th[i], NULL);
    CHECK_EQ_INT(jobs[i].failures, 0);
  }
  fk_image_free(&first);
  free(jpg);
  free(rgb);
}

static void test_mirror_tensor_reverses_columns_and_keeps_channels(void) {
  float t[2 * 3 * 3];
  for (int i = 0; i < 18; i++) t[i] = (float)i;
  fk_mirror_tensor(t, 3, 2);
  /* Row 0 was pixels (0,1,2),(3,4,5),(6,7,8): now (6,7,8),(3,4,5),(0,1,2). */
  static const float want[18] = {6, 7, 8, 3, 4, 5, 0, 1, 2, 15, 16, 17, 12, 13, 14, 9, 10, 11};
  for (int i = 0; i < 18; i++) CHECK_NEAR(t[i], want[i], 0);
  fk_mirror_tensor(t, 3, 2);
  for (int i = 0; i < 18; i++) CHECK_NEAR(t[i], (float)i, 0);
}

int main(void) {
  RUN(test_load_reports_missing_file_as_enoent);
  RUN(test_load_reports_empty_file_as_eempty);
  RUN(test_load_reports_directory_and_unreadable_as_eio);
  RUN(test_load_rejects_text_file_named_jpg);
  RUN(test_decode_reports_short_magic_prefix_as_corrupt);
  RUN(test_decode_rejects_bad_arguments);
  RUN(test_decode_rejects_truncated_jpeg);
  RUN(test_decode_rejects_truncated_png_and_webp);
  RUN(test_decode_rejects_jpeg_claiming_60000x60000);
  RUN(test_decode_rejects_png_claiming_60000x60000);
  RUN(test_decode_enforces_max_pixels_exactly);
  RUN(test_decode_survives_mutated_inputs);
  RUN(test_decode_jpeg_rgb_keeps_colours_at_odd_sizes);
  RUN(test_decode_grayscale_jpeg_to_equal_rgb);
  RUN(test_decode_adobe_cmyk_jpeg_to_rgb);
  RUN(test_decode_plain_cmyk_jpeg_to_rgb);
  RUN(test_decode_16bit_rgba_png_composites_over_white);
  RUN(test_decode_palette_png_with_trns_and_gray_pngs);
  RUN(test_decode_interlaced_png_exactly);
  RUN(test_decode_webp_alpha_composites_over_white);
  RUN(test_decode_lossy_webp_rgb_and_1x1);
  RUN(test_exif_orientation_reads_both_byte_orders_and_types);
  RUN(test_exif_orientation_is_1_for_malformed_exif);
  RUN(test_decode_applies_exif_orientation_to_pixels);
  RUN(test_orient_transforms_pixels_exactly);
  RUN(test_save_png_round_trips_exactly);
  RUN(test_crop_to_square_tensor_matches_reference);
  RUN(test_crop_to_square_tensor_pins_hand_values);
  RUN(test_crop_to_square_tensor_copies_when_side_equals_size);
  RUN(test_crop_to_square_tensor_survives_bad_input);
  RUN(test_crop_to_square_tensor_on_1000px);
  RUN(test_warp_affine_identity_copies);
  RUN(test_warp_affine_translation_and_scale);
  RUN(test_warp_affine_survives_bad_input);
  RUN(test_image_crop_copies_and_clips);
  RUN(test_draw_rect_draws_clipped_outline);
  RUN(test_image_from_float_rounds_and_clamps);
  RUN(test_decode_is_thread_safe);
  RUN(test_mirror_tensor_reverses_columns_and_keeps_channels);
  return tu_summary();
}
