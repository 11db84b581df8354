/*
 * sharpness.c - how sharp a region of an image is: the variance of its
 * Laplacian, the usual focus measure. One implementation for the stream's
 * choice of a track's best face (video/engine.c) and a face's quality
 * (fk_analyze's FK_ACTION_QUALITY, face/analyze.c).
 */
#include "image/image.h"

/* v clamped to [0, hi] (NaN to 0) and truncated: a pixel index for any box,
 * with no float-to-int conversion out of range. */
static int clamp_index(double v, int hi) { return v >= 0 ? (int)(v < hi ? v : hi) : 0; }

double fk_laplacian_variance(const fk_image *img, fk_box b) {
  enum { N = FK_SHARPNESS_SIZE };
  float g[N][N];
  for (int y = 0; y < N; y++)
    for (int x = 0; x < N; x++) {
      int sx = clamp_index(b.x + (x + 0.5f) * b.w / N, img->width - 1);
      int sy = clamp_index(b.y + (y + 0.5f) * b.h / N, img->height - 1);
      const uint8_t *p = img->rgb + ((size_t)sy * img->width + sx) * 3;
      g[y][x] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
    }
  double sum = 0, sum2 = 0;
  int n = 0;
  for (int y = 1; y < N - 1; y++)
    for (int x = 1; x < N - 1; x++) {
      double l = 4 * g[y][x] - g[y - 1][x] - g[y + 1][x] - g[y][x - 1] - g[y][x + 1];
      sum += l, sum2 += l * l, n++;
    }
  return sum2 / n - (sum / n) * (sum / n);
}
