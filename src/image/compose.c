/*
 * compose.c - laying out result pictures (see compose.h): canvases, filled
 * boxes, blits, face thumbnails by area averaging (a box filter, so a
 * 250 px face shrinks to 112 px without aliasing) and alpha-blended text in
 * the built-in font.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/compose.h"

static const uint8_t GREY[3] = {128, 128, 128};

int fk_canvas_new(int w, int h, const uint8_t rgb[3], fk_image *out) {
  memset(out, 0, sizeof *out);
  if (w <= 0 || h <= 0 || (size_t)w > (size_t)0x7fffffff / 3 / (size_t)h) return FK_EINVAL;
  out->rgb = malloc((size_t)w * h * 3);
  if (!out->rgb) return FK_ENOMEM;
  out->width = w;
  out->height = h;
  fk_fill_rect(out, (fk_rect){0, 0, w, h}, rgb);
  return FK_OK;
}

void fk_fill_rect(fk_image *img, fk_rect r, const uint8_t rgb[3]) {
  int x0 = r.x < 0 ? 0 : r.x, y0 = r.y < 0 ? 0 : r.y;
  long long x1 = (long long)r.x + r.w, y1 = (long long)r.y + r.h;
  if (x1 > img->width) x1 = img->width;
  if (y1 > img->height) y1 = img->height;
  for (int y = y0; y < y1; y++) {
    uint8_t *p = img->rgb + ((size_t)y * img->width + x0) * 3;
    for (int x = x0; x < x1; x++, p += 3) memcpy(p, rgb, 3);
  }
}

void fk_blit(fk_image *dst, const fk_image *src, int x, int y) {
  for (int sy = 0; sy < src->height; sy++) {
    int dy = y + sy;
    if (dy < 0 || dy >= dst->height) continue;
    int sx0 = x < 0 ? -x : 0, sx1 = src->width;
    if (x + sx1 > dst->width) sx1 = dst->width - x;
    if (sx0 >= sx1) continue;
    memcpy(dst->rgb + ((size_t)dy * dst->width + x + sx0) * 3,
           src->rgb + ((size_t)sy * src->width + sx0) * 3, (size_t)(sx1 - sx0) * 3);
  }
}

/* Mean of the source pixels under output pixel (ox, oy), the source square
 * being [x0, x0 + side)^2 and each output pixel covering `step` source
 * pixels a side; outside the image counts as grey. */
static void area_pixel(const fk_image *img, double x0, double y0, double step, int ox, int oy,
                       uint8_t out[3]) {
  double sx0 = x0 + ox * step, sy0 = y0 + oy * step, sum[3] = {0, 0, 0}, wsum = 0;
  int ix0 = (int)floor(sx0), iy0 = (int)floor(sy0);
  int ix1 = (int)ceil(sx0 + step), iy1 = (int)ceil(sy0 + step);
  for (int y = iy0; y < iy1; y++) {
    double wy = fmin(y + 1, sy0 + step) - fmax(y, sy0);
    if (wy <= 0) continue;
    for (int x = ix0; x < ix1; x++) {
      double wx = fmin(x + 1, sx0 + step) - fmax(x, sx0), w = wx * wy;
      if (w <= 0) continue;
      const uint8_t *p = x >= 0 && y >= 0 && x < img->width && y < img->height
                             ? img->rgb + ((size_t)y * img->width + x) * 3
                             : GREY;
      for (int k = 0; k < 3; k++) sum[k] += w * p[k];
      wsum += w;
    }
  }
  for (int k = 0; k < 3; k++) out[k] = (uint8_t)(wsum > 0 ? sum[k] / wsum + 0.5 : GREY[k]);
}

int fk_face_thumbnail(const fk_image *img, fk_box box, float margin, int size, fk_image *out) {
  memset(out, 0, sizeof *out);
  if (!img || !img->rgb || size <= 0 || size > 4096) return FK_EINVAL;
  double side = fmax(box.w, box.h) * (1 + 2 * (double)margin);
  if (!(side >= 1)) side = fmin(img->width, img->height);
  double cx = box.x + box.w / 2.0, cy = box.y + box.h / 2.0;
  double x0 = cx - side / 2, y0 = cy - side / 2, step = side / size;
  int rc = fk_canvas_new(size, size, GREY, out);
  if (rc) return rc;
  for (int oy = 0; oy < size; oy++)
    for (int ox = 0; ox < size; ox++)
      area_pixel(img, x0, y0, step, ox, oy, out->rgb + ((size_t)oy * size + ox) * 3);
  return FK_OK;
}

int fk_text_width(const char *s) { return (int)strlen(s) * FK_FONT_W; }

static int hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

static void draw_glyph(fk_image *img, int x, int y, int c, const uint8_t rgb[3]) {
  const char *g = fk_font_glyph(c);
  for (int gy = 0; gy < FK_FONT_H; gy++) {
    int py = y + gy;
    if (py < 0 || py >= img->height) continue;
    for (int gx = 0; gx < FK_FONT_W; gx++) {
      int px = x + gx, a = hexval(g[gy * FK_FONT_W + gx]);
      if (a == 0 || px < 0 || px >= img->width) continue;
      uint8_t *p = img->rgb + ((size_t)py * img->width + px) * 3;
      for (int k = 0; k < 3; k++) p[k] = (uint8_t)((p[k] * (15 - a) + rgb[k] * a + 7) / 15);
    }
  }
}

int fk_draw_text(fk_image *img, int x, int y, const char *s, const uint8_t rgb[3], int max_w) {
  int n = (int)strlen(s), fit = max_w > 0 ? max_w / FK_FONT_W : n, cut = n > fit;
  int shown = cut ? (fit > 3 ? fit - 3 : 0) : n;
  for (int i = 0; i < shown; i++) draw_glyph(img, x + i * FK_FONT_W, y, (unsigned char)s[i], rgb);
  for (int i = 0; cut && i < 3 && i < fit; i++) draw_glyph(img, x + (shown + i) * FK_FONT_W, y, '.', rgb);
  return (cut ? (fit < 3 ? fit : shown + 3) : n) * FK_FONT_W;
}
