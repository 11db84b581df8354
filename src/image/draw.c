/*
 * draw.c - small fk_image utilities for tools and tests: copying out a
 * rectangle (fk_image_crop), drawing a box outline (fk_draw_rect) and
 * turning a float RGB tensor back into 8-bit pixels (fk_image_from_float).
 * All clip to the image; none reads or writes out of bounds on bad input.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

/* Clips the rectangle (x, y, w, h) to img as half-open [x0, x1) x [y0, y1),
 * in 64-bit so no int sum can overflow; 0 if the result is empty. */
static int clip_box(const fk_image *img, long long x, long long y,
                    long long w, long long h, long long *x0, long long *y0,
                    long long *x1, long long *y1) {
  *x0 = x < 0 ? 0 : x;
  *y0 = y < 0 ? 0 : y;
  *x1 = x + w;
  *y1 = y + h;
  if (*x1 > img->width) *x1 = img->width;
  if (*y1 > img->height) *y1 = img->height;
  return *x1 > *x0 && *y1 > *y0;
}

static int image_ok(const fk_image *img) {
  return img && img->rgb && img->width > 0 && img->height > 0;
}

int fk_image_crop(const fk_image *img, fk_rect r, fk_image *out) {
  if (!out) return FK_EINVAL;
  memset(out, 0, sizeof *out);
  long long x0, y0, x1, y1;
  if (!image_ok(img) || !clip_box(img, r.x, r.y, r.w, r.h, &x0, &y0, &x1, &y1))
    return FK_EINVAL;
  size_t w = (size_t)(x1 - x0), h = (size_t)(y1 - y0);
  uint8_t *px = malloc(w * h * 3);
  if (!px) return FK_ENOMEM;
  size_t stride = (size_t)img->width * 3;
  for (size_t y = 0; y < h; y++)
    memcpy(px + y * w * 3, img->rgb + ((size_t)y0 + y) * stride + (size_t)x0 * 3,
           w * 3);
  out->width = (int)w;
  out->height = (int)h;
  out->rgb = px;
  return FK_OK;
}

static void fill(fk_image *img, long long x, long long y, long long w,
                 long long h, const uint8_t rgb[3]) {
  long long x0, y0, x1, y1;
  if (!clip_box(img, x, y, w, h, &x0, &y0, &x1, &y1)) return;
  size_t stride = (size_t)img->width * 3;
  for (long long yy = y0; yy < y1; yy++) {
    uint8_t *p = img->rgb + (size_t)yy * stride + (size_t)x0 * 3;
    for (long long xx = x0; xx < x1; xx++, p += 3) memcpy(p, rgb, 3);
  }
}

/* The outline lies inside r: four bands of thickness t (a t of half the
 * rectangle or more fills it). */
void fk_draw_rect(fk_image *img, fk_rect r, int t, const uint8_t rgb[3]) {
  if (!image_ok(img) || !rgb || t <= 0 || r.w <= 0 || r.h <= 0) return;
  long long x = r.x, y = r.y, w = r.w, h = r.h;
  long long tx = t < w ? t : w, ty = t < h ? t : h;
  fill(img, x, y, w, ty, rgb);          /* top */
  fill(img, x, y + h - ty, w, ty, rgb); /* bottom */
  fill(img, x, y, tx, h, rgb);          /* left */
  fill(img, x + w - tx, y, tx, h, rgb); /* right */
}

int fk_image_from_float(const float *src, int w, int h, fk_image *out) {
  if (!out) return FK_EINVAL;
  memset(out, 0, sizeof *out);
  if (!src || w <= 0 || h <= 0) return FK_EINVAL;
  /* Beyond PTRDIFF_MAX no allocation can succeed: fail without asking. */
  if ((size_t)w > (size_t)PTRDIFF_MAX / 3 / (size_t)h) return FK_ENOMEM;
  size_t n = (size_t)w * (size_t)h * 3;
  uint8_t *px = malloc(n);
  if (!px) return FK_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    float v = src[i];
    /* Round half up; NaN fails both comparisons and lands on 0. */
    px[i] = v >= 255.0f ? 255 : v > 0.0f ? (uint8_t)(v + 0.5f) : 0;
  }
  out->width = w;
  out->height = h;
  out->rgb = px;
  return FK_OK;
}
