/*
 * decode_png.c - PNG to 8-bit RGB with libpng (see decode_priv.h).
 *
 * libpng errors longjmp back to png_run() with an FK_E* code; warnings are
 * silent. Palette, low-bit gray and tRNS are expanded, 16-bit samples are
 * stripped to their high byte (as OpenCV does), gray becomes RGB and any
 * alpha is composited over white. Interlaced images are handled. The whole
 * stream up to IEND is read, so a file cut anywhere is FK_ECORRUPT.
 */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "image/decode_priv.h"

/* All state that must survive a longjmp lives here, in the caller's frame. */
typedef struct pdec {
  const uint8_t *data;
  size_t size, pos;
  int status;
  uint8_t *pixels;
  int width, height;
} pdec;

static void on_error(png_structp png, png_const_charp msg) {
  pdec *d = png_get_error_ptr(png);
  if (d->status == FK_OK)
    d->status = (msg && strstr(msg, "memory")) ? FK_ENOMEM : FK_ECORRUPT;
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void on_read(png_structp png, png_bytep out, size_t n) {
  pdec *d = png_get_io_ptr(png);
  if (n > d->size - d->pos) {
    d->status = FK_ECORRUPT;
    png_error(png, "truncated");
  }
  memcpy(out, d->data + d->pos, n);
  d->pos += n;
}

static int png_run(pdec *d, png_structp png, png_infop info,
                   size_t max_pixels) {
  if (setjmp(png_jmpbuf(png))) return d->status ? d->status : FK_ECORRUPT;

  png_set_read_fn(png, d, on_read);
  /* Our own pixel limit decides, with FK_ETOOBIG; libpng's default 1e6
   * width/height limit would say "corrupt". */
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_read_info(png, info);

  png_uint_32 w = 0, h = 0;
  int depth = 0, ctype = 0;
  png_get_IHDR(png, info, &w, &h, &depth, &ctype, NULL, NULL, NULL);
  int st = fk_check_dims(w, h, max_pixels);
  if (st != FK_OK) return st;

  png_set_expand(png);
  png_set_strip_16(png);
  png_set_gray_to_rgb(png);
  int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);

  size_t ch = png_get_channels(png, info);
  if ((ch != 3 && ch != 4) || png_get_rowbytes(png, info) != (size_t)w * ch)
    return FK_ECORRUPT;
  d->pixels = malloc((size_t)w * h * ch);
  if (!d->pixels) return FK_ENOMEM;
  /* With interlace handling, each pass fills in its own pixels of the same
   * rows ("sparkle" mode), so rows are read straight into place. */
  for (int p = 0; p < passes; p++)
    for (png_uint_32 y = 0; y < h; y++)
      png_read_row(png, d->pixels + (size_t)y * w * ch, NULL);
  png_read_end(png, NULL);

  if (ch == 4) {
    fk_rgba_to_rgb_over_white(d->pixels, (size_t)w * h);
    d->pixels = fk_shrink_to_rgb(d->pixels, (size_t)w * h);
  }
  d->width = (int)w;
  d->height = (int)h;
  return FK_OK;
}

int fk_decode_png(const uint8_t *data, size_t size, size_t max_pixels,
                  fk_image *img) {
  pdec d = {.data = data, .size = size};
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &d, on_error, on_warning);
  if (!png) return FK_ENOMEM;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return FK_ENOMEM;
  }
  int st = png_run(&d, png, info, max_pixels);
  png_destroy_read_struct(&png, &info, NULL);
  if (st == FK_OK) {
    img->width = d.width;
    img->height = d.height;
    img->rgb = d.pixels;
  } else {
    free(d.pixels);
  }
  return st;
}
