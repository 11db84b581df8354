/*
 * make_seeds.c - writes the seed corpora of the fuzz targets: small valid
 * and near-valid inputs of every kind each target reads, into
 * OUT/image/corpus, OUT/weights/corpus, OUT/tfgraph/corpus and (seeds_onnx.c)
 * OUT/onnx/corpus.
 *
 *   fuzz_make_seeds FIXTURES_DIR OUT_DIR     (make fuzz-seeds)
 *
 * Seeds named ok-* must get all the way through their target (the replay
 * test checks it); the others are near misses that stop at one particular
 * check. Images are tests/fixtures/face_a1.png shrunk to a few pixels and
 * re-encoded with libjpeg, libpng and libwebp; manifests and graphs are
 * built here with cJSON, in the multi-file input format of fuzz.h. The
 * output is deterministic, so a rerun only changes what the code changes.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <nettle/base64.h>
#include <png.h>
#include <webp/encode.h>

#include "facekit.h"
#include "seeds.h"

/* ---- output ------------------------------------------------------------------ */

static char out_dir[4096];

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "make_seeds: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

void mkdirs(const char *target) {
  char p[4200];
  snprintf(p, sizeof p, "%s/%s", out_dir, target);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/%s/corpus", out_dir, target);
  if (mkdir(p, 0755) != 0 && errno != EEXIST) die("cannot create %s", p);
}

void emit(const char *target, const char *name, const void *d, size_t n) {
  char p[4400];
  snprintf(p, sizeof p, "%s/%s/corpus/%s", out_dir, target, name);
  FILE *f = fopen(p, "wb");
  if (!f || (n && fwrite(d, 1, n, f) != n) || fclose(f) != 0) die("cannot write %s", p);
}

void put(buf *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p) die("out of memory");
  }
  if (n) memcpy(b->p + b->n, d, n); /* d may be NULL when n is 0 */
  b->n += n;
}

void put_str(buf *b, const char *s) { put(b, s, strlen(s)); }

static void put_le(buf *b, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; i++) {
    uint8_t c = (uint8_t)(v >> (8 * i));
    put(b, &c, 1);
  }
}

static void put_f32(buf *b, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  put_le(b, u, 4);
}

void section(buf *b, const char *name) {
  put_str(b, "\n%%file ");
  put_str(b, name);
  put_str(b, "\n");
}

/* ---- images -------------------------------------------------------------------- */

/* The centre square of src box-averaged down to w x h. */
static fk_image shrink(const fk_image *src, int w, int h) {
  fk_image o = {w, h, malloc((size_t)w * h * 3)};
  int side = src->width < src->height ? src->width : src->height;
  int x0 = (src->width - side) / 2, y0 = (src->height - side) / 2;
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) {
        int sx0 = x0 + x * side / w, sx1 = x0 + (x + 1) * side / w;
        int sy0 = y0 + y * side / h, sy1 = y0 + (y + 1) * side / h;
        long sum = 0, n = 0;
        for (int sy = sy0; sy < sy1; sy++)
          for (int sx = sx0; sx < sx1; sx++, n++)
            sum += src->rgb[((size_t)sy * src->width + sx) * 3 + c];
        o.rgb[((size_t)y * w + x) * 3 + c] = (uint8_t)(sum / (n ? n : 1));
      }
  return o;
}

static uint8_t luma(const uint8_t *p) { return (uint8_t)((p[0] * 77 + p[1] * 150 + p[2] * 29) >> 8); }

typedef struct jopt {
  int gray, progressive, arith, restart, quality;
  int cmyk;   /* 0 RGB, 1 CMYK with the Adobe marker, 2 CMYK without, 3 YCCK */
  int h0, v0; /* luma sampling factors; 0 = libjpeg's 2x2 */
  const uint8_t *app1;
  size_t app1_len;
} jopt;

static buf jpeg_encode(const fk_image *img, const jopt *o) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr e;
  c.err = jpeg_std_error(&e);
  jpeg_create_compress(&c);
  unsigned char *mem = NULL;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &mem, &len);
  c.image_width = (JDIMENSION)img->width;
  c.image_height = (JDIMENSION)img->height;
  c.input_components = o->gray ? 1 : o->cmyk ? 4 : 3;
  c.in_color_space = o->gray ? JCS_GRAYSCALE : o->cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, o->quality ? o->quality : 75, TRUE);
  if (o->cmyk == 3) jpeg_set_colorspace(&c, JCS_YCCK);
  if (o->cmyk == 2) c.write_Adobe_marker = FALSE;
  if (o->progressive) jpeg_simple_progression(&c);
  c.arith_code = o->arith ? TRUE : FALSE;
  c.restart_interval = (unsigned)o->restart;
  if (o->h0) {
    c.comp_info[0].h_samp_factor = o->h0;
    c.comp_info[0].v_samp_factor = o->v0;
  }
  jpeg_start_compress(&c, TRUE);
  if (o->app1) jpeg_write_marker(&c, JPEG_APP0 + 1, o->app1, (unsigned)o->app1_len);
  JSAMPLE row[64 * 4];
  for (int y = 0; y < img->height; y++) {
    for (int x = 0; x < img->width; x++) {
      const uint8_t *p = img->rgb + ((size_t)y * img->width + x) * 3;
      if (o->gray) row[x] = luma(p);
      else if (o->cmyk)
        for (int k = 0; k < 4; k++) row[4 * x + k] = k < 3 ? (JSAMPLE)(255 - p[k]) : luma(p);
      else memcpy(row + 3 * x, p, 3);
    }
    JSAMPROW r = row;
    jpeg_write_scanlines(&c, &r, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  buf b = {0};
  put(&b, mem, len);
  free(mem);
  return b;
}

/* An APP1 payload: "Exif\0\0" and a TIFF header whose IFD0 holds a Make
 * entry, then the orientation as a field of TIFF type `type` (3 SHORT,
 * 4 LONG, 1 BYTE). */
static buf exif_app1(int little, int orientation, int type) {
  buf b = {0};
  put(&b, "Exif\0\0", 6);
  uint8_t t[64] = {0};
  int n = 0;
#define W16(v) (little ? (t[n] = (uint8_t)(v), t[n + 1] = (uint8_t)((v) >> 8)) \
                       : (t[n] = (uint8_t)((v) >> 8), t[n + 1] = (uint8_t)(v)), n += 2)
#define W32(v) (little ? (W16((v) & 0xffff), W16((uint32_t)(v) >> 16)) \
                       : (W16((uint32_t)(v) >> 16), W16((v) & 0xffff)))
  t[n++] = little ? 'I' : 'M';
  t[n++] = little ? 'I' : 'M';
  W16(42);
  W32(8);
  W16(2);                           /* entries */
  W16(0x010F); W16(2); W32(4);      /* Make, ASCII, 4 bytes inline */
  memcpy(t + n, "fk\0\0", 4);
  n += 4;
  W16(0x0112); W16(type); W32(1);   /* Orientation */
  if (type == 4) W32(orientation);
  else if (type == 3) { W16(orientation); W16(0); }
  else { t[n++] = (uint8_t)orientation; t[n++] = 0; t[n++] = 0; t[n++] = 0; }
  W32(0);                           /* no next IFD */
#undef W16
#undef W32
  put(&b, t, (size_t)n);
  return b;
}

typedef struct popt {
  int ctype, depth, interlace;
  int trns; /* add a tRNS chunk */
} popt;

static void png_write_mem(png_structp png, png_bytep d, size_t n) { put(png_get_io_ptr(png), d, n); }
static void png_flush_mem(png_structp png) { (void)png; }

/* Sample v (0..255) at the PNG bit depth. */
static unsigned at_depth(unsigned v, int depth) {
  return depth == 16 ? v * 257 : v >> (8 - depth);
}

/* One row of img in PNG format o: samples packed MSB first, 16-bit big
 * endian; alpha is a left-to-right ramp; palette indices are gray levels. */
static void png_row(const fk_image *img, int y, const popt *o, uint8_t *row, size_t rowbytes) {
  memset(row, 0, rowbytes);
  int spp = o->ctype == PNG_COLOR_TYPE_RGB ? 3 : o->ctype == PNG_COLOR_TYPE_RGBA ? 4
            : o->ctype == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
  size_t bit = 0;
  for (int x = 0; x < img->width; x++) {
    const uint8_t *p = img->rgb + ((size_t)y * img->width + x) * 3;
    unsigned s[4], alpha = (unsigned)(255 * x / (img->width > 1 ? img->width - 1 : 1));
    if (o->ctype & PNG_COLOR_MASK_COLOR && o->ctype != PNG_COLOR_TYPE_PALETTE) {
      s[0] = p[0], s[1] = p[1], s[2] = p[2], s[3] = alpha;
    } else {
      s[0] = luma(p), s[1] = alpha;
    }
    for (int k = 0; k < spp; k++) {
      unsigned v = at_depth(s[k], o->depth);
      for (int i = o->depth - 1; i >= 0; i--, bit++)
        if (v >> i & 1) row[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
    }
  }
}

/* header_only: stop after the header chunks, as a file cut there. */
static buf png_encode(const fk_image *img, const popt *o, int header_only) {
  buf b = {0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (!png || !info || setjmp(png_jmpbuf(png))) die("libpng failed");
  png_set_write_fn(png, &b, png_write_mem, png_flush_mem);
  png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, o->depth, o->ctype,
               o->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (o->ctype == PNG_COLOR_TYPE_PALETTE) {
    png_color pal[256];
    int n = 1 << o->depth;
    for (int i = 0; i < n; i++) pal[i].red = pal[i].green = pal[i].blue = (png_byte)(i * 255 / (n - 1));
    png_set_PLTE(png, info, pal, n);
    if (o->trns) {
      png_byte a[4] = {0, 64, 128, 192};
      png_set_tRNS(png, info, a, 4, NULL);
    }
  } else if (o->trns) {
    png_color_16 tc = {0};
    tc.gray = tc.red = tc.green = tc.blue = (png_uint_16)at_depth(128, o->depth);
    png_set_tRNS(png, info, NULL, 0, &tc);
  }
  png_write_info(png, info);
  if (!header_only) {
    int passes = png_set_interlace_handling(png);
    size_t rowbytes = png_get_rowbytes(png, info);
    uint8_t *row = malloc(rowbytes);
    for (int p = 0; p < passes; p++)
      for (int y = 0; y < img->height; y++) {
        png_row(img, y, o, row, rowbytes);
        png_write_row(png, row);
      }
    free(row);
    png_write_end(png, NULL);
  }
  png_destroy_write_struct(&png, &info);
  return b;
}

static void emit_webp(const char *name, const fk_image *img, int lossless, int alpha) {
  uint8_t *rgba = malloc((size_t)img->width * img->height * 4), *out = NULL;
  for (int i = 0; i < img->width * img->height; i++) {
    memcpy(rgba + 4 * i, img->rgb + 3 * i, 3);
    rgba[4 * i + 3] = (uint8_t)(i % img->width * 255 / (img->width - 1));
  }
  int w = img->width, h = img->height;
  size_t n = alpha ? (lossless ? WebPEncodeLosslessRGBA(rgba, w, h, 4 * w, &out)
                               : WebPEncodeRGBA(rgba, w, h, 4 * w, 60, &out))
                   : (lossless ? WebPEncodeLosslessRGB(img->rgb, w, h, 3 * w, &out)
                               : WebPEncodeRGB(img->rgb, w, h, 3 * w, 60, &out));
  if (!n) die("WebP encoding of %s failed", name);
  emit("image", name, out, n);
  WebPFree(out);
  free(rgba);
}

static void emit_jpeg(const char *name, const fk_image *img, const jopt *o) {
  buf b = jpeg_encode(img, o);
  emit("image", name, b.p, b.n);
  free(b.p);
}

static void emit_png(const char *name, const fk_image *img, const popt *o) {
  buf b = png_encode(img, o, 0);
  emit("image", name, b.p, b.n);
  free(b.p);
}

/* Patches the first SOF marker's height and width. */
static void patch_sof(buf *b, unsigned h, unsigned w) {
  for (size_t i = 2; i + 9 < b->n; i++)
    if (b->p[i] == 0xFF && (b->p[i + 1] == 0xC0 || b->p[i + 1] == 0xC2)) {
      b->p[i + 5] = (uint8_t)(h >> 8), b->p[i + 6] = (uint8_t)h;
      b->p[i + 7] = (uint8_t)(w >> 8), b->p[i + 8] = (uint8_t)w;
      return;
    }
}

static void image_seeds(const char *fixtures) {
  char path[4200];
  snprintf(path, sizeof path, "%s/face_a1.png", fixtures);
  fk_image face;
  if (fk_image_load(path, 0, &face) != FK_OK) die("cannot load %s", path);
  fk_image sq = shrink(&face, 16, 16), odd = shrink(&face, 13, 9);
  fk_image_free(&face);
  mkdirs("image");

  emit_jpeg("ok-baseline.jpg", &sq, &(jopt){0});
  emit_jpeg("ok-444.jpg", &odd, &(jopt){.h0 = 1, .v0 = 1, .quality = 90});
  emit_jpeg("ok-422-restart.jpg", &sq, &(jopt){.h0 = 2, .v0 = 1, .restart = 1});
  emit_jpeg("ok-gray.jpg", &odd, &(jopt){.gray = 1});
  emit_jpeg("ok-progressive.jpg", &sq, &(jopt){.progressive = 1});
  emit_jpeg("ok-arith.jpg", &odd, &(jopt){.arith = 1});
  emit_jpeg("ok-cmyk-adobe.jpg", &odd, &(jopt){.cmyk = 1});
  emit_jpeg("ok-cmyk-plain.jpg", &odd, &(jopt){.cmyk = 2});
  emit_jpeg("ok-ycck.jpg", &odd, &(jopt){.cmyk = 3});
  for (int o = 1; o <= 8; o++) {
    char name[64];
    buf x = exif_app1(o % 2, o, 3);
    snprintf(name, sizeof name, "ok-exif-%d-%s.jpg", o, o % 2 ? "ii" : "mm");
    emit_jpeg(name, &odd, &(jopt){.app1 = x.p, .app1_len = x.n});
    free(x.p);
  }
  buf x = exif_app1(1, 6, 4);
  emit_jpeg("ok-exif-long.jpg", &odd, &(jopt){.app1 = x.p, .app1_len = x.n});
  free(x.p);
  x = exif_app1(0, 8, 1);
  emit_jpeg("ok-exif-byte.jpg", &odd, &(jopt){.app1 = x.p, .app1_len = x.n});
  x.p[12] = 0x7f; /* IFD0 offset far outside the segment */
  emit_jpeg("ok-exif-bad-offset.jpg", &odd, &(jopt){.app1 = x.p, .app1_len = x.n});
  free(x.p);

  buf j = jpeg_encode(&sq, &(jopt){0});
  emit("image", "trunc-scan.jpg", j.p, j.n * 2 / 3);
  emit("image", "trunc-header.jpg", j.p, 40);
  patch_sof(&j, 4000, 3000);
  emit("image", "big-sof.jpg", j.p, j.n);
  free(j.p);

  emit_png("ok-rgb.png", &odd, &(popt){PNG_COLOR_TYPE_RGB, 8, 0, 0});
  emit_png("ok-rgb16-trns.png", &odd, &(popt){PNG_COLOR_TYPE_RGB, 16, 0, 1});
  emit_png("ok-rgba.png", &odd, &(popt){PNG_COLOR_TYPE_RGBA, 8, 0, 0});
  emit_png("ok-rgba16-interlaced.png", &odd, &(popt){PNG_COLOR_TYPE_RGBA, 16, 1, 0});
  emit_png("ok-gray.png", &odd, &(popt){PNG_COLOR_TYPE_GRAY, 8, 0, 0});
  emit_png("ok-gray1.png", &odd, &(popt){PNG_COLOR_TYPE_GRAY, 1, 0, 0});
  emit_png("ok-gray4-trns.png", &odd, &(popt){PNG_COLOR_TYPE_GRAY, 4, 0, 1});
  emit_png("ok-gray16.png", &odd, &(popt){PNG_COLOR_TYPE_GRAY, 16, 0, 0});
  emit_png("ok-gray-alpha.png", &odd, &(popt){PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, 0});
  emit_png("ok-gray-alpha16.png", &odd, &(popt){PNG_COLOR_TYPE_GRAY_ALPHA, 16, 0, 0});
  emit_png("ok-palette2.png", &odd, &(popt){PNG_COLOR_TYPE_PALETTE, 2, 0, 0});
  emit_png("ok-palette8-trns-interlaced.png", &odd, &(popt){PNG_COLOR_TYPE_PALETTE, 8, 1, 1});
  buf p = png_encode(&odd, &(popt){PNG_COLOR_TYPE_RGB, 8, 0, 0}, 0);
  emit("image", "trunc.png", p.p, p.n - 20);
  p.p[p.n - 20] ^= 0x55; /* inside IDAT: its CRC no longer matches */
  emit("image", "bad-crc.png", p.p, p.n);
  free(p.p);
  /* A 5000 x 4000 header followed by a small image's IDAT and IEND:
   * refused from the header, before any pixel is read. */
  fk_image huge = {5000, 4000, odd.rgb};
  p = png_encode(&huge, &(popt){PNG_COLOR_TYPE_RGB, 8, 0, 0}, 1);
  buf small = png_encode(&odd, &(popt){PNG_COLOR_TYPE_RGB, 8, 0, 0}, 0);
  for (size_t i = 12; i + 4 <= small.n; i++)
    if (!memcmp(small.p + i, "IDAT", 4)) {
      put(&p, small.p + i - 4, small.n - (i - 4));
      break;
    }
  emit("image", "big-ihdr.png", p.p, p.n);
  free(p.p);
  free(small.p);

  emit_webp("ok-lossy.webp", &odd, 0, 0);
  emit_webp("ok-lossy-alpha.webp", &odd, 0, 1);
  emit_webp("ok-lossless.webp", &sq, 1, 0);
  emit_webp("ok-lossless-alpha.webp", &odd, 1, 1);
  /* An animated file's VP8X header (animation flag, 16 x 16 canvas). */
  static const uint8_t anim[] = {'R', 'I', 'F', 'F', 36, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P',
                                 '8', 'X', 10, 0, 0, 0, 0x02, 0, 0, 0, 15, 0, 0, 15, 0, 0,
                                 'A', 'N', 'I', 'M', 6, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  emit("image", "anim.webp", anim, sizeof anim);
  emit("image", "magic-only.jpg", "\xFF\xD8\xFF", 3);
  emit("image", "short.webp", "RIFF\x04\0\0\0WEB", 11);
  emit("image", "unknown.gif", "GIF89a\x01\0\x01\0", 10);
  free(sq.rgb);
  free(odd.rgb);
}

/* ---- weights manifests ------------------------------------------------------------ */

static void emit_archive(const char *target, const char *name, const char *main, const buf *shards,
                         const char *const *shard_names, int nshards) {
  buf b = {0};
  put_str(&b, main);
  for (int i = 0; i < nshards; i++) {
    section(&b, shard_names[i]);
    put(&b, shards[i].p, shards[i].n);
  }
  emit(target, name, b.p, b.n);
  free(b.p);
}

/* A manifest of one group reading shard "w.bin", holding `bytes`. */
static void weights_one(const char *name, const char *weights_json, const buf *bytes) {
  char main[2048];
  snprintf(main, sizeof main, "[{\"paths\":[\"w.bin\"],\"weights\":[%s]}]", weights_json);
  const char *names[] = {"w.bin"};
  emit_archive("weights", name, main, bytes, names, 1);
}

static void weights_seeds(void) {
  mkdirs("weights");
  buf f32 = {0};
  for (int i = 0; i < 10; i++) put_f32(&f32, (float)i * 0.5f - 2.0f);
  weights_one("ok-float32",
              "{\"name\":\"conv/w\",\"shape\":[2,3],\"dtype\":\"float32\"},"
              "{\"name\":\"conv/b\",\"shape\":[4],\"dtype\":\"float32\"}",
              &f32);
  weights_one("ok-6d-and-empty",
              "{\"name\":\"e\",\"shape\":[0,3],\"dtype\":\"float32\"},"
              "{\"name\":\"s\",\"shape\":[],\"dtype\":\"float32\"},"
              "{\"name\":\"six\",\"shape\":[1,3,1,1,3,1],\"dtype\":\"float32\"}",
              &f32);

  buf f16 = {0}; /* 1, -2, smallest subnormal, inf, NaN, -0, 1/3, 65504 */
  static const uint16_t h[] = {0x3c00, 0xc000, 0x0001, 0x7c00, 0x7e00, 0x8000, 0x3555, 0x7bff};
  for (int i = 0; i < 8; i++) put_le(&f16, h[i], 2);
  weights_one("ok-float16", "{\"name\":\"h\",\"shape\":[8],\"dtype\":\"float16\"}", &f16);
  weights_one("ok-float16-quantized",
              "{\"name\":\"q\",\"shape\":[2,4],\"dtype\":\"float32\","
              "\"quantization\":{\"dtype\":\"float16\",\"original_dtype\":\"float32\"}}",
              &f16);
  weights_one("ok-int32-float16-quantized",
              "{\"name\":\"qi\",\"shape\":[4,2],\"dtype\":\"int32\","
              "\"quantization\":{\"dtype\":\"float16\"}}",
              &f16);

  buf i32 = {0};
  static const int32_t iv[] = {0, -1, 2147483647, -2147483647 - 1, 7};
  for (int i = 0; i < 5; i++) put_le(&i32, (uint32_t)iv[i], 4);
  weights_one("ok-int32", "{\"name\":\"shape\",\"shape\":[5],\"dtype\":\"int32\"}", &i32);

  buf u8 = {0};
  for (int i = 0; i < 6; i++) put_le(&u8, (uint32_t)(i * 51), 1);
  weights_one("ok-uint8-quantized",
              "{\"name\":\"u\",\"shape\":[2,3],\"dtype\":\"float32\","
              "\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.0078125,\"min\":-1}}",
              &u8);
  weights_one("ok-int32-uint8-quantized",
              "{\"name\":\"ui\",\"shape\":[6],\"dtype\":\"int32\","
              "\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.3,\"min\":-2.5}}",
              &u8);
  weights_one("ok-uint16-quantized",
              "{\"name\":\"w\",\"shape\":[3],\"dtype\":\"float32\","
              "\"quantization\":{\"dtype\":\"uint16\",\"scale\":1e-4,\"min\":-3.25}}",
              &u8);

  /* Two groups, the first over two shards, one in a subdirectory. */
  buf parts[3] = {{0}, {0}, {0}};
  put(&parts[0], f32.p, 12);
  put(&parts[1], f32.p + 12, 12);
  put(&parts[2], u8.p, 4);
  const char *names[] = {"w1.bin", "./sub/w2.bin", "g2.bin"};
  emit_archive("weights", "ok-groups-shards",
               "[{\"paths\":[\"w1.bin\",\"./sub/w2.bin\"],\"weights\":["
               "{\"name\":\"a\",\"shape\":[2,2],\"dtype\":\"float32\"},"
               "{\"name\":\"b\",\"shape\":[2],\"dtype\":\"float32\"}]},"
               "{\"paths\":[\"g2.bin\"],\"weights\":["
               "{\"name\":\"a\",\"shape\":[2],\"dtype\":\"float16\"}]}]",
               parts, names, 3);
  for (int i = 0; i < 3; i++) free(parts[i].p);

  /* Near misses. */
  weights_one("short-shard", "{\"name\":\"w\",\"shape\":[11],\"dtype\":\"float32\"}", &f32);
  weights_one("long-shard", "{\"name\":\"w\",\"shape\":[9],\"dtype\":\"float32\"}", &f32);
  weights_one("huge-shape",
              "{\"name\":\"w\",\"shape\":[1073741824,1073741824,64],\"dtype\":\"float32\"}",
              &f32);
  weights_one("bad-dtype", "{\"name\":\"w\",\"shape\":[10],\"dtype\":\"complex64\"}", &f32);
  weights_one("bad-quantization",
              "{\"name\":\"w\",\"shape\":[40],\"dtype\":\"float32\","
              "\"quantization\":{\"dtype\":\"uint8\",\"min\":0}}",
              &f32);
  emit_archive("weights", "escape",
               "[{\"paths\":[\"sub/../../w.bin\"],\"weights\":[]}]", &f32,
               (const char *[]){"w.bin"}, 1);
  emit_archive("weights", "missing-shard",
               "[{\"paths\":[\"absent.bin\"],\"weights\":[]}]", NULL, NULL, 0);
  emit("weights", "nul", "[]\0[]", 5);
  emit("weights", "not-array", "{\"paths\":[]}", 12);
  free(f32.p);
  free(f16.p);
  free(i32.p);
  free(u8.p);
}

/* ---- graph models ------------------------------------------------------------------ */

/* How a constant is stored in the manifest. */
typedef enum { E_F32, E_F16, E_F16Q, E_U8Q, E_U16Q, E_I32 } enc;

/* A graph model being built: model.json's node list and manifest, and the
 * one shard "w.bin". */
typedef struct gb {
  cJSON *root, *nodes, *weights;
  buf shard;
} gb;

static void set_type(cJSON *n, const char *key, const char *type) {
  cJSON *a = cJSON_GetObjectItem(n, "attr");
  cJSON *t = cJSON_AddObjectToObject(a, key);
  cJSON_AddStringToObject(t, "type", type);
}

/* attr key = {"list": {"i": ["a", "b", ...]}}, n values. */
static void set_ints(cJSON *n, const char *key, int count, ...) {
  cJSON *l = cJSON_AddObjectToObject(cJSON_AddObjectToObject(cJSON_GetObjectItem(n, "attr"), key),
                                     "list");
  cJSON *is = cJSON_AddArrayToObject(l, "i");
  va_list ap;
  va_start(ap, count);
  for (int i = 0; i < count; i++) {
    char s[16];
    snprintf(s, sizeof s, "%d", va_arg(ap, int));
    cJSON_AddItemToArray(is, cJSON_CreateString(s));
  }
  va_end(ap);
}

static char *b64(const char *s, char *out) {
  size_t n = strlen(s);
  base64_encode_raw(out, n, (const uint8_t *)s);
  out[BASE64_ENCODE_RAW_LENGTH(n)] = '\0';
  return out;
}

/* attr key = {"s": base64(text)}. */
static void set_s(cJSON *n, const char *key, const char *text) {
  char e[128];
  cJSON *a = cJSON_AddObjectToObject(cJSON_GetObjectItem(n, "attr"), key);
  cJSON_AddStringToObject(a, "s", b64(text, e));
}

/* fused_ops = {"list": {"s": [base64(op)...]}}, NULL-terminated. */
static void set_fused(cJSON *n, const char *first, ...) {
  cJSON *l = cJSON_AddObjectToObject(
      cJSON_AddObjectToObject(cJSON_GetObjectItem(n, "attr"), "fused_ops"), "list");
  cJSON *ss = cJSON_AddArrayToObject(l, "s");
  va_list ap;
  va_start(ap, first);
  for (const char *s = first; s; s = va_arg(ap, const char *)) {
    char e[64];
    cJSON_AddItemToArray(ss, cJSON_CreateString(b64(s, e)));
  }
  va_end(ap);
}

static void set_b(cJSON *n, const char *key, int v) {
  cJSON_AddBoolToObject(cJSON_AddObjectToObject(cJSON_GetObjectItem(n, "attr"), key), "b", v);
}

static void set_f(cJSON *n, const char *key, double v) {
  cJSON_AddNumberToObject(cJSON_AddObjectToObject(cJSON_GetObjectItem(n, "attr"), key), "f", v);
}

static void set_i(cJSON *n, const char *key, int v) {
  char s[16];
  snprintf(s, sizeof s, "%d", v);
  cJSON_AddStringToObject(cJSON_AddObjectToObject(cJSON_GetObjectItem(n, "attr"), key), "i", s);
}

/* A node; inputs NULL-terminated. Float ops get T = DT_FLOAT. */
static cJSON *node(gb *g, const char *name, const char *op, ...) {
  cJSON *n = cJSON_CreateObject();
  cJSON_AddStringToObject(n, "name", name);
  cJSON_AddStringToObject(n, "op", op);
  cJSON *in = cJSON_CreateArray();
  va_list ap;
  va_start(ap, op);
  for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *))
    cJSON_AddItemToArray(in, cJSON_CreateString(s));
  va_end(ap);
  if (cJSON_GetArraySize(in)) cJSON_AddItemToObject(n, "input", in);
  else cJSON_Delete(in);
  cJSON_AddObjectToObject(n, "attr");
  if (strcmp(op, "Const") && strcmp(op, "Placeholder")) set_type(n, "T", "DT_FLOAT");
  cJSON_AddItemToArray(g->nodes, n);
  return n;
}

static uint16_t to_half(float v) {
  if (v == 0) return 0;
  int e;
  float m = frexpf(fabsf(v), &e); /* v = m 2^e, m in [0.5, 1) */
  unsigned mant = (unsigned)lrintf((m * 2 - 1) * 1024);
  return (uint16_t)((v < 0 ? 0x8000 : 0) | (unsigned)(e - 1 + 15) << 10 | mant);
}

/* A Const node and its manifest entry; values appended to the shard. */
static void constant(gb *g, const char *name, enc e, int ndim, const int *shape, const float *v) {
  cJSON *n = node(g, name, "Const", NULL);
  set_type(n, "dtype", e == E_I32 ? "DT_INT32" : "DT_FLOAT");
  cJSON *w = cJSON_CreateObject();
  cJSON_AddStringToObject(w, "name", name);
  cJSON_AddItemToObject(w, "shape", cJSON_CreateIntArray(shape, ndim));
  cJSON_AddStringToObject(w, "dtype", e == E_I32 ? "int32" : e == E_F16 ? "float16" : "float32");
  size_t count = 1;
  for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
  float lo = 0, hi = 0;
  for (size_t i = 0; i < count; i++) {
    lo = i == 0 || v[i] < lo ? v[i] : lo;
    hi = i == 0 || v[i] > hi ? v[i] : hi;
  }
  double qmax = e == E_U8Q ? 255 : 65535, scale = hi > lo ? (hi - lo) / qmax : 1;
  if (e == E_F16Q || e == E_U8Q || e == E_U16Q) {
    cJSON *q = cJSON_AddObjectToObject(w, "quantization");
    cJSON_AddStringToObject(q, "dtype", e == E_F16Q ? "float16" : e == E_U8Q ? "uint8" : "uint16");
    if (e != E_F16Q) {
      cJSON_AddNumberToObject(q, "scale", scale);
      cJSON_AddNumberToObject(q, "min", lo);
    }
  }
  cJSON_AddItemToArray(g->weights, w);
  for (size_t i = 0; i < count; i++) switch (e) {
      case E_F32: put_f32(&g->shard, v[i]); break;
      case E_F16:
      case E_F16Q: put_le(&g->shard, to_half(v[i]), 2); break;
      case E_U8Q: put_le(&g->shard, (uint32_t)lrint((v[i] - lo) / scale), 1); break;
      case E_U16Q: put_le(&g->shard, (uint32_t)lrint((v[i] - lo) / scale), 2); break;
      case E_I32: put_le(&g->shard, (uint32_t)(int32_t)v[i], 4); break;
    }
}

/* count values k/8 for k in -8..8, a fixed pattern (exact in float16). */
static const float *pattern(size_t count, int seed) {
  static float v[4096];
  for (size_t i = 0; i < count && i < 4096; i++) v[i] = (float)((int)((i * 7 + (size_t)seed) % 17) - 8) / 8;
  return v;
}

#define SHAPE(...) (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (int[]){__VA_ARGS__}
#define SCALAR 0, (int[]){0}
#define VALS(...) (const float[]){__VA_ARGS__}

static size_t shape_count(int ndim, const int *shape) {
  size_t c = 1;
  for (int i = 0; i < ndim; i++) c *= (size_t)shape[i];
  return c;
}

/* A constant holding pattern values. */
static void pconst(gb *g, const char *name, enc e, int ndim, const int *shape, int seed) {
  constant(g, name, e, ndim, shape, pattern(shape_count(ndim, shape), seed));
}

/* A graph whose input "x" has the given TF shape (a leading 1 is written as -1). */
static void gb_begin(gb *g, int rank, const int *dims) {
  memset(g, 0, sizeof *g);
  g->root = cJSON_CreateObject();
  cJSON_AddStringToObject(g->root, "format", "graph-model");
  g->nodes = cJSON_AddArrayToObject(cJSON_AddObjectToObject(g->root, "modelTopology"), "node");
  cJSON *group = cJSON_CreateObject();
  cJSON_AddItemToObject(group, "paths", cJSON_CreateStringArray((const char *[]){"w.bin"}, 1));
  g->weights = cJSON_AddArrayToObject(group, "weights");
  cJSON_AddItemToArray(cJSON_AddArrayToObject(g->root, "weightsManifest"), group);
  cJSON *x = node(g, "x", "Placeholder", NULL);
  set_type(x, "dtype", "DT_FLOAT");
  cJSON *dim = cJSON_AddArrayToObject(
      cJSON_AddObjectToObject(cJSON_AddObjectToObject(cJSON_GetObjectItem(x, "attr"), "shape"),
                              "shape"),
      "dim");
  for (int i = 0; i < rank; i++) {
    char s[16];
    snprintf(s, sizeof s, "%d", i == 0 && rank == 4 ? -1 : dims[i]);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "size", s);
    cJSON_AddItemToArray(dim, d);
  }
}

/* Writes model.json, the shard and (when not NULL) an @outputs section. */
static void gb_emit(gb *g, const char *name, const char *outputs) {
  char *json = cJSON_PrintUnformatted(g->root);
  buf b = {0};
  put_str(&b, json);
  section(&b, "w.bin");
  put(&b, g->shard.p, g->shard.n);
  if (outputs) {
    section(&b, "@outputs");
    put_str(&b, outputs);
  }
  emit("tfgraph", name, b.p, b.n);
  free(b.p);
  free(json);
  free(g->shard.p);
  cJSON_Delete(g->root);
}

/* conv -> bias -> relu -> depthwise -> pools -> reshape -> matmul -> softmax */
static void graph_conv_chain(void) {
  gb g;
  gb_begin(&g, SHAPE(1, 6, 6, 2));
  pconst(&g, "w1", E_F32, SHAPE(3, 3, 2, 4), 1);
  pconst(&g, "b1", E_F32, SHAPE(4), 2);
  pconst(&g, "dw", E_F16Q, SHAPE(3, 3, 4, 1), 3);
  constant(&g, "flat", E_I32, SHAPE(2), VALS(1, -1));
  pconst(&g, "fc", E_U8Q, SHAPE(4, 3), 4);
  cJSON *n = node(&g, "conv", "Conv2D", "x", "w1", NULL);
  set_s(n, "padding", "SAME");
  set_s(n, "data_format", "NHWC");
  set_ints(n, "strides", 4, 1, 1, 1, 1);
  set_ints(n, "dilations", 4, 1, 1, 1, 1);
  node(&g, "bias", "BiasAdd", "conv", "b1", NULL);
  node(&g, "relu", "Relu", "bias", NULL);
  n = node(&g, "dwconv", "DepthwiseConv2dNative", "relu", "dw", NULL);
  set_s(n, "padding", "VALID");
  set_ints(n, "strides", 4, 1, 2, 2, 1);
  n = node(&g, "maxpool", "MaxPool", "dwconv", NULL);
  set_s(n, "padding", "SAME");
  set_ints(n, "ksize", 4, 1, 2, 2, 1);
  set_ints(n, "strides", 4, 1, 2, 2, 1);
  n = node(&g, "avgpool", "AvgPool", "maxpool", NULL);
  set_s(n, "padding", "VALID");
  set_ints(n, "ksize", 4, 1, 1, 1, 1);
  set_ints(n, "strides", 4, 1, 1, 1, 1);
  node(&g, "reshape", "Reshape", "avgpool", "flat", NULL);
  node(&g, "matmul", "MatMul", "reshape", "fc", NULL);
  node(&g, "softmax", "Softmax", "matmul", NULL);
  node(&g, "Identity", "Identity", "softmax", NULL);
  gb_emit(&g, "ok-conv-chain", NULL);
}

/* Every fused_ops form of _FusedConv2D, FusedDepthwiseConv2dNative and
 * _FusedMatMul, with dilation, stride and both paddings. */
static void graph_fused(void) {
  gb g;
  gb_begin(&g, SHAPE(1, 7, 5, 3));
  pconst(&g, "w", E_F32, SHAPE(2, 2, 3, 3), 5);
  pconst(&g, "b", E_F32, SHAPE(3), 6);
  pconst(&g, "dw", E_F32, SHAPE(3, 3, 3, 1), 7);
  pconst(&g, "alpha", E_F32, SHAPE(3), 8);
  pconst(&g, "alpha1", E_F32, SHAPE(1), 9);
  /* 7x5 SAME convs, then a VALID one: 6x4. The last has no activation. */
  const char *acts[] = {"Relu", "Relu6", "LeakyRelu", "Sigmoid", "Tanh", NULL};
  const char *prev = "x";
  char names[6][16];
  for (int i = 0; i < 6; i++) {
    snprintf(names[i], sizeof names[i], "conv%d", i);
    cJSON *n = node(&g, names[i], "_FusedConv2D", prev, "w", "b", NULL);
    set_fused(n, "BiasAdd", acts[i], NULL);
    set_s(n, "padding", i == 5 ? "VALID" : "SAME");
    set_ints(n, "strides", 4, 1, 1, 1, 1);
    set_ints(n, "dilations", 4, 1, i == 0 ? 2 : 1, i == 0 ? 2 : 1, 1);
    if (i == 2) set_f(n, "leakyrelu_alpha", 0.1);
    prev = names[i];
  }
  cJSON *n = node(&g, "dwp", "FusedDepthwiseConv2dNative", prev, "dw", "b", "alpha", NULL);
  set_fused(n, "BiasAdd", "Prelu", NULL);
  set_s(n, "padding", "SAME");
  set_ints(n, "strides", 4, 1, 2, 2, 1);
  n = node(&g, "dwp1", "FusedDepthwiseConv2dNative", "dwp", "dw", "b", "alpha1", NULL);
  set_fused(n, "BiasAdd", "Prelu", NULL);
  set_s(n, "padding", "SAME");
  n = node(&g, "dwb", "FusedDepthwiseConv2dNative", "dwp1", "dw", "b", NULL);
  set_fused(n, "BiasAdd", NULL);
  set_s(n, "padding", "SAME");
  /* 6x4 -> stride 2 -> 3x2, 3 channels */
  constant(&g, "flat", E_I32, SHAPE(2), VALS(1, 18));
  node(&g, "flatten", "Reshape", "dwb", "flat", NULL);
  pconst(&g, "fcT", E_F16, SHAPE(2, 18), 10);
  pconst(&g, "fcb", E_F32, SHAPE(2), 11);
  n = node(&g, "fc", "_FusedMatMul", "flatten", "fcT", "fcb", NULL);
  set_fused(n, "BiasAdd", "Sigmoid", NULL);
  set_b(n, "transpose_b", 1);
  set_b(n, "transpose_a", 0);
  gb_emit(&g, "ok-fused", NULL);
}

/* Binary ops with every broadcast form, constants on either side, uniform
 * max/min constants (clamps), folding of constant-only subgraphs. */
static void graph_binary(void) {
  gb g;
  gb_begin(&g, SHAPE(1, 3, 4, 2));
  pconst(&g, "c", E_F32, SHAPE(2), 1);
  pconst(&g, "c4", E_F32, SHAPE(1, 1, 1, 2), 2);
  constant(&g, "s", E_F32, SCALAR, VALS(1.5f));
  pconst(&g, "col", E_U16Q, SHAPE(3, 1, 1), 3);
  constant(&g, "half", E_F32, SHAPE(2), VALS(0.5f, 0.5f));
  constant(&g, "axes12", E_I32, SHAPE(2), VALS(1, 2));
  constant(&g, "axis3", E_I32, SHAPE(1), VALS(3));
  pconst(&g, "full", E_F32, SHAPE(3, 4, 2), 4);
  node(&g, "add", "Add", "x", "c", NULL);
  node(&g, "sub", "Sub", "c4", "add", NULL);
  node(&g, "mul", "Mul", "sub", "s", NULL);
  node(&g, "div", "RealDiv", "mul", "col", NULL);
  node(&g, "max", "Maximum", "div", "half", NULL);
  node(&g, "min", "Minimum", "c", "max", NULL);
  cJSON *n = node(&g, "mean", "Mean", "min", "axes12", NULL);
  set_b(n, "keep_dims", 1);
  node(&g, "addv2", "AddV2", "min", "mean", NULL);
  n = node(&g, "sum", "Sum", "addv2", "axis3", NULL);
  set_b(n, "keep_dims", 1);
  node(&g, "mul2", "Mul", "addv2", "sum", NULL);
  node(&g, "sub2", "Sub", "mul2", "full", NULL);
  /* constants only: folded at load time */
  node(&g, "kadd", "Add", "c", "col", NULL);
  node(&g, "ksq", "Square", "kadd", NULL);
  node(&g, "kabs", "Abs", "ksq", NULL);
  node(&g, "krs", "Rsqrt", "kabs", NULL);
  node(&g, "ksig", "Sigmoid", "krs", NULL);
  node(&g, "ktanh", "Tanh", "ksig", NULL);
  node(&g, "krelu6", "Relu6", "ktanh", NULL);
  node(&g, "kid", "Identity", "krelu6", NULL);
  node(&g, "kmax", "Maximum", "kid", "s", NULL);
  node(&g, "kdiv", "RealDiv", "kmax", "c4", NULL);
  node(&g, "use", "Mul", "sub2", "kdiv", NULL);
  n = node(&g, "rmax", "Max", "use", "axis3", NULL);
  set_b(n, "keep_dims", 0);
  node(&g, "abs", "Abs", "rmax", NULL);
  node(&g, "sq", "Square", "abs", NULL);
  node(&g, "rsqrt", "Rsqrt", "sq", NULL);
  node(&g, "sig", "Sigmoid", "rsqrt", NULL);
  node(&g, "tanh", "Tanh", "sig", NULL);
  node(&g, "relu6", "Relu6", "tanh", NULL);
  gb_emit(&g, "ok-binary-broadcast", NULL);
}

/* Pad, StridedSlice (masks, negative stride, shrink), ConcatV2, Reshape,
 * Squeeze, ExpandDims, and two named outputs in reverse file order. */
static void graph_shapes(void) {
  gb g;
  gb_begin(&g, SHAPE(1, 4, 4, 3));
  constant(&g, "pads", E_I32, SHAPE(4, 2), VALS(0, 0, 1, 0, 0, 2, 0, 1));
  constant(&g, "b", E_I32, SHAPE(4), VALS(0, 1, 0, 0));
  constant(&g, "e", E_I32, SHAPE(4), VALS(1, 5, 6, 4));
  constant(&g, "st", E_I32, SHAPE(4), VALS(1, 1, 2, 1));
  constant(&g, "b2", E_I32, SHAPE(3), VALS(0, -1, 0));
  constant(&g, "e2", E_I32, SHAPE(3), VALS(1, 0, 3));
  constant(&g, "st2", E_I32, SHAPE(3), VALS(1, -1, 1));
  constant(&g, "axis", E_I32, SCALAR, VALS(3));
  constant(&g, "axis0", E_I32, SCALAR, VALS(0));
  constant(&g, "shape", E_I32, SHAPE(3), VALS(1, -1, 4));
  node(&g, "pad", "Pad", "x", "pads", NULL);
  cJSON *n = node(&g, "slice", "StridedSlice", "pad", "b", "e", "st", NULL);
  set_i(n, "begin_mask", 1);
  set_i(n, "end_mask", 8);
  node(&g, "concat", "ConcatV2", "slice", "slice", "axis", NULL);
  node(&g, "reshape", "Reshape", "concat", "shape", NULL);
  node(&g, "expand", "ExpandDims", "reshape", "axis0", NULL);
  n = node(&g, "squeeze", "Squeeze", "expand", NULL);
  set_ints(n, "squeeze_dims", 1, 0);
  n = node(&g, "rev", "StridedSlice", "squeeze", "b2", "e2", "st2", NULL);
  set_i(n, "shrink_axis_mask", 1);
  node(&g, "squeeze_all", "Squeeze", "x", NULL);
  node(&g, "tail", "Relu", "squeeze_all", NULL);
  gb_emit(&g, "ok-shapes-named-outputs", "rev\ntail:0");
}

/* A rank-2 input: matmul chain with LeakyRelu-free activations. */
static void graph_rank2(void) {
  gb g;
  gb_begin(&g, 2, (int[]){1, 8});
  pconst(&g, "w", E_U8Q, SHAPE(8, 5), 1);
  pconst(&g, "b", E_F16Q, SHAPE(5), 2);
  cJSON *n = node(&g, "fc", "_FusedMatMul", "x", "w", "b", NULL);
  set_fused(n, "BiasAdd", "Relu", NULL);
  pconst(&g, "w2", E_F32, SHAPE(5, 4), 3);
  pconst(&g, "b2", E_F32, SHAPE(4), 4);
  n = node(&g, "fc2", "_FusedMatMul", "fc", "w2", "b2", NULL);
  set_fused(n, "BiasAdd", "Tanh", NULL);
  node(&g, "softmax", "Softmax", "fc2", NULL);
  gb_emit(&g, "ok-rank2", NULL);
}

/* The patterns nn_graph_fuse() rewrites (fuse.c, 1-6): batch norm after a
 * conv, ReLU6 as Minimum and Maximum, PReLU spelled out, a scale and shift
 * after a pad, a positive scale before max pooling and a VALID conv, a
 * reshape feeding a matmul. */
static void graph_fusions(void) {
  gb g;
  gb_begin(&g, SHAPE(1, 6, 6, 2));
  pconst(&g, "w1", E_F32, SHAPE(1, 1, 2, 3), 1);
  pconst(&g, "w2", E_F32, SHAPE(3, 3, 3, 3), 2);
  pconst(&g, "w3", E_F32, SHAPE(3, 3, 3, 2), 3);
  pconst(&g, "fcw", E_F32, SHAPE(8, 2), 4);
  pconst(&g, "shift", E_F32, SHAPE(3), 5);
  pconst(&g, "k", E_F32, SHAPE(3), 6);
  constant(&g, "scale", E_F32, SHAPE(3), VALS(0.5f, 1, 1.5f));
  constant(&g, "six", E_F32, SHAPE(1), VALS(6));
  constant(&g, "zero", E_F32, SCALAR, VALS(0));
  constant(&g, "pads", E_I32, SHAPE(4, 2), VALS(0, 0, 1, 1, 1, 1, 0, 0));
  constant(&g, "flat", E_I32, SHAPE(2), VALS(1, -1));
  cJSON *n = node(&g, "c1", "Conv2D", "x", "w1", NULL);
  set_s(n, "padding", "SAME");
  node(&g, "bn_mul", "Mul", "c1", "scale", NULL);
  node(&g, "bn_add", "Add", "bn_mul", "shift", NULL);
  node(&g, "r1", "Relu", "bn_add", NULL);
  n = node(&g, "c2", "Conv2D", "r1", "w2", NULL);
  set_s(n, "padding", "SAME");
  node(&g, "min6", "Minimum", "c2", "six", NULL);
  node(&g, "max0", "Maximum", "min6", "zero", NULL);
  node(&g, "p_relu", "Relu", "max0", NULL);
  node(&g, "p_abs", "Abs", "max0", NULL);
  node(&g, "p_sub", "Sub", "max0", "p_abs", NULL);
  node(&g, "p_mul", "Mul", "p_sub", "k", NULL);
  node(&g, "prelu", "AddV2", "p_relu", "p_mul", NULL);
  node(&g, "pad", "Pad", "prelu", "pads", NULL);
  node(&g, "s_mul", "Mul", "pad", "scale", NULL);
  node(&g, "s_add", "Sub", "s_mul", "shift", NULL);
  node(&g, "f_mul", "Mul", "s_add", "scale", NULL);
  node(&g, "f_add", "Add", "f_mul", "shift", NULL);
  n = node(&g, "pool", "MaxPool", "f_add", NULL);
  set_s(n, "padding", "VALID");
  set_ints(n, "ksize", 4, 1, 2, 2, 1);
  set_ints(n, "strides", 4, 1, 2, 2, 1);
  n = node(&g, "c3", "Conv2D", "pool", "w3", NULL);
  set_s(n, "padding", "VALID");
  node(&g, "flatten", "Reshape", "c3", "flat", NULL);
  node(&g, "fc", "MatMul", "flatten", "fcw", NULL);
  gb_emit(&g, "ok-fusions", NULL);
}

/* A valid one-op graph with one thing wrong (op, attr value or wiring). */
static void graph_miss(const char *name, const char *op, const char *padding, const char *input,
                       const char *format) {
  gb g;
  gb_begin(&g, SHAPE(1, 4, 4, 2));
  pconst(&g, "w", E_F32, SHAPE(1, 1, 2, 2), 1);
  cJSON *n = node(&g, "conv", op, input, "w", NULL);
  set_s(n, "padding", padding);
  set_s(n, "data_format", format);
  gb_emit(&g, name, NULL);
}

static void tfgraph_seeds(void) {
  mkdirs("tfgraph");
  graph_conv_chain();
  graph_fused();
  graph_binary();
  graph_shapes();
  graph_rank2();
  graph_fusions();
  graph_miss("ok-minimal", "Conv2D", "VALID", "x", "NHWC");
  graph_miss("unsupported-op", "Conv3D", "VALID", "x", "NHWC");
  graph_miss("explicit-padding", "Conv2D", "EXPLICIT", "x", "NHWC");
  graph_miss("nchw", "Conv2D", "SAME", "x", "NCHW");
  graph_miss("dangling-input", "Conv2D", "SAME", "y", "NHWC");
  graph_miss("second-output", "Conv2D", "SAME", "x:1", "NHWC");
  graph_miss("control-input", "Conv2D", "SAME", "^x", "NHWC");
  gb g;
  gb_begin(&g, SHAPE(1, 2, 2, 1));
  node(&g, "a", "Relu", "b", NULL);
  node(&g, "b", "Relu", "a", NULL);
  node(&g, "out", "Add", "x", "b", NULL);
  gb_emit(&g, "cycle", NULL);
  gb_begin(&g, SHAPE(1, 2, 2, 1));
  node(&g, "out", "Relu", "x", NULL);
  gb_emit(&g, "missing-output", "nope");
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s FIXTURES_DIR OUT_DIR\n", argv[0]);
    return 2;
  }
  snprintf(out_dir, sizeof out_dir, "%s", argv[2]);
  image_seeds(argv[1]);
  weights_seeds();
  tfgraph_seeds();
  onnx_seeds();
  return 0;
}
