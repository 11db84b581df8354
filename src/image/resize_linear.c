/*
 * resize_linear.c - fk_resize_linear(): bilinear resampling with
 * half-pixel centres (OpenCV's cv::resize INTER_LINEAR), the resize the
 * faceplugin nets' JavaScript uses (src/models/rfb320.c, lmk64.c). See
 * image.h for the contract.
 *
 * Bit-exact with OpenCV's 8-bit path (its scalar code, as in OpenCV.js):
 * the source coordinate of output pixel i is (float)((i + 0.5) / (out / in)
 * - 0.5), clamped to the first and last pixel with weight 0 beyond them;
 * the two weights are rounded to 11-bit fixed point (2048 = 1), each row is
 * interpolated in integers, and two rows r0, r1 are combined as OpenCV's
 * VResizeLinear for 8 bits does, (((b0 * (r0 >> 4)) >> 16) + ((b1 * (r1 >>
 * 4)) >> 16) + 2) >> 2. An exact halving is the same
 * as OpenCV's INTER_AREA shortcut for it.
 */
#include <math.h>
#include <stdint.h>

#include "image/image.h"

#define ONE 2048 /* INTER_RESIZE_COEF_SCALE */

/* One axis of output index i: the first neighbour and the two weights. */
static void linear_tap(int i, int out, int in, int *s0, int w[2]) {
  double scale = 1.0 / ((double)out / in);
  float f = (float)((i + 0.5) * scale - 0.5);
  int s = (int)floorf(f);
  f -= (float)s;
  if (s < 0) s = 0, f = 0.0f;
  if (s >= in - 1) s = in - 1, f = 0.0f;
  *s0 = s;
  w[0] = (int)lrintf((1.0f - f) * ONE);
  w[1] = (int)lrintf(f * ONE);
}

/* Row r of the crop resampled horizontally at output column u, channel k. */
static int64_t hpass(const uint8_t *row, int u, int ow, int w, int k) {
  int c0, a[2];
  linear_tap(u, ow, w, &c0, a);
  int64_t v = (int64_t)row[3 * c0 + k] * a[0];
  if (c0 + 1 < w) v += (int64_t)row[3 * (c0 + 1) + k] * a[1];
  return v;
}

void fk_resize_linear(const fk_image *img, fk_rect crop, int ow, int oh, float *out) {
  if (!out || ow <= 0 || oh <= 0) return;
  /* Clip the crop to the image so bad input cannot read out of bounds. */
  long long x0 = crop.x, y0 = crop.y, x1 = x0 + crop.w, y1 = y0 + crop.h;
  if (img && img->rgb) {
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > img->width ? img->width : x1;
    y1 = y1 > img->height ? img->height : y1;
  }
  if (!img || !img->rgb || x1 <= x0 || y1 <= y0) {
    for (size_t i = 0; i < (size_t)ow * oh * 3; i++) out[i] = 0.0f;
    return;
  }
  const int w = (int)(x1 - x0), h = (int)(y1 - y0);
  const size_t stride = (size_t)img->width * 3;
  for (int v = 0; v < oh; v++) {
    int r0, b[2];
    linear_tap(v, oh, h, &r0, b);
    int r1 = r0 + 1 < h ? r0 + 1 : r0;
    const uint8_t *ra = img->rgb + (size_t)(y0 + r0) * stride + (size_t)x0 * 3;
    const uint8_t *rb = img->rgb + (size_t)(y0 + r1) * stride + (size_t)x0 * 3;
    for (int u = 0; u < ow; u++)
      for (int k = 0; k < 3; k++) {
        int64_t p = (((b[0] * (hpass(ra, u, ow, w, k) >> 4)) >> 16) +
                     ((b[1] * (hpass(rb, u, ow, w, k) >> 4)) >> 16) + 2) >> 2;
        out[((size_t)v * ow + u) * 3 + k] = (float)(p < 0 ? 0 : p > 255 ? 255 : p);
      }
  }
}
