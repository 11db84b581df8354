/*
 * warp.c - fk_warp_affine(): bilinear affine resampling of an fk_image into a
 * float RGB chip, used for 5-point face alignment. m maps output pixel
 * (u, v) to source (sx, sy), pixel centres at integer coordinates; each of
 * the four bilinear neighbours that falls outside the image reads 0 (so
 * edges fade to black over one pixel, like OpenCV's BORDER_CONSTANT).
 */
#include <math.h>
#include <string.h>

#include "image/image.h"

void fk_warp_affine(const fk_image *img, const double m[6], int ow, int oh,
                    float *out) {
  if (!out || ow <= 0 || oh <= 0) return;
  size_t n_out = (size_t)ow * (size_t)oh * 3;
  if (!img || !img->rgb || !m || img->width <= 0 || img->height <= 0) {
    memset(out, 0, n_out * sizeof *out);
    return;
  }
  const int w = img->width, h = img->height;
  const size_t stride = (size_t)w * 3;
  for (int v = 0; v < oh; v++) {
    for (int u = 0; u < ow; u++) {
      double sx = m[0] * u + m[1] * v + m[2];
      double sy = m[3] * u + m[4] * v + m[5];
      float *o = out + ((size_t)v * (size_t)ow + (size_t)u) * 3;
      o[0] = o[1] = o[2] = 0.0f;
      /* Also rejects NaN, and keeps the int conversions below defined. */
      if (!(sx > -1.0 && sx < (double)w && sy > -1.0 && sy < (double)h))
        continue;
      double fx0 = floor(sx), fy0 = floor(sy);
      int x0 = (int)fx0, y0 = (int)fy0;
      double fx = sx - fx0, fy = sy - fy0;
      double wt[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
      int xs[4] = {x0, x0 + 1, x0, x0 + 1}, ys[4] = {y0, y0, y0 + 1, y0 + 1};
      double acc[3] = {0, 0, 0};
      for (int k = 0; k < 4; k++) {
        if (xs[k] < 0 || xs[k] >= w || ys[k] < 0 || ys[k] >= h || wt[k] == 0.0)
          continue;
        const uint8_t *p = img->rgb + (size_t)ys[k] * stride + (size_t)xs[k] * 3;
        acc[0] += wt[k] * p[0];
        acc[1] += wt[k] * p[1];
        acc[2] += wt[k] * p[2];
      }
      o[0] = (float)acc[0];
      o[1] = (float)acc[1];
      o[2] = (float)acc[2];
    }
  }
}

void fk_mirror_tensor(float *t, int w, int h) {
  for (int y = 0; y < h; y++) {
    float *row = t + (size_t)y * (size_t)w * 3;
    for (int x = 0; x < w / 2; x++) {
      float *a = row + (size_t)x * 3, *b = row + (size_t)(w - 1 - x) * 3;
      for (int k = 0; k < 3; k++) {
        float tmp = a[k];
        a[k] = b[k];
        b[k] = tmp;
      }
    }
  }
}
