/*
 * encode.c - fk_image_save_png(): writes an fk_image as an 8-bit RGB PNG with
 * libpng, for debugging dumps, tools and tests. libpng errors longjmp back
 * here; a failed write removes the partial file.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <png.h>

#include "facekit.h"

typedef struct penc {
  FILE *f;
  int status;
} penc;

static void on_error(png_structp png, png_const_charp msg) {
  penc *e = png_get_error_ptr(png);
  if (e->status == FK_OK)
    e->status = (msg && strstr(msg, "memory")) ? FK_ENOMEM : FK_EIO;
  png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void on_write(png_structp png, png_bytep data, size_t n) {
  penc *e = png_get_io_ptr(png);
  if (fwrite(data, 1, n, e->f) != n) {
    e->status = FK_EIO;
    png_error(png, "write failed");
  }
}

static void on_flush(png_structp png) { (void)png; }

static int png_write_run(penc *e, png_structp png, png_infop info,
                         const fk_image *img) {
  if (setjmp(png_jmpbuf(png))) return e->status ? e->status : FK_EIO;
  png_set_write_fn(png, e, on_write, on_flush);
  png_set_IHDR(png, info, (png_uint_32)img->width, (png_uint_32)img->height, 8,
               PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  size_t stride = (size_t)img->width * 3;
  for (int y = 0; y < img->height; y++)
    png_write_row(png, img->rgb + (size_t)y * stride);
  png_write_end(png, NULL);
  return FK_OK;
}

int fk_image_save_png(const fk_image *img, const char *path) {
  if (!img || !path || !img->rgb || img->width <= 0 || img->height <= 0 ||
      img->width > 0x7fffffff / 3)
    return FK_EINVAL;
  penc e = {NULL, FK_OK};
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &e, on_error, on_warning);
  if (!png) return FK_ENOMEM;
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    return FK_ENOMEM;
  }
  e.f = fopen(path, "wb");
  if (!e.f) {
    int st = (errno == ENOENT || errno == ENOTDIR) ? FK_ENOENT : FK_EIO;
    png_destroy_write_struct(&png, &info);
    return st;
  }
  int st = png_write_run(&e, png, info, img);
  png_destroy_write_struct(&png, &info);
  if (fclose(e.f) != 0 && st == FK_OK) st = FK_EIO;
  if (st != FK_OK) remove(path);
  return st;
}
