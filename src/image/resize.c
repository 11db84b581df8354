/*
 * resize.c - fk_crop_to_square_tensor(): face-api's NetInput.toBatchTensor on
 * a crop of an image (pad to a square with zeros, then TF legacy bilinear
 * resize), producing the float RGB input of the detectors and the landmark /
 * descriptor nets. See image.h for the contract.
 *
 * The padded square is never built: output samples read the crop directly
 * and a tap that lands in the padding reads 0. Arithmetic is float32 in TF's
 * order so results match tfjs to the last bit:
 *   scale = (float)in / out, src = i * scale, i0 = floor(src),
 *   i1 = min(i0 + 1, in - 1), frac = src - i0,
 *   top = tl + (tr - tl) * fx, bottom = bl + (br - bl) * fx,
 *   value = top + (bottom - top) * fy.
 */
#include <math.h>
#include <string.h>

#include "image/image.h"

/* Output columns are processed in blocks whose taps live on the stack, so
 * the call never allocates (and cannot fail). */
#define TAP_BLOCK 512

/* One horizontal or vertical tap pair: offsets of the two neighbours in the
 * crop (bytes within a row for x, row index for y), -1 for padding. */
typedef struct tap {
  ptrdiff_t o0, o1;
  float frac;
} tap;

/* Padded-square index p maps to crop index p - before, or -1 outside [0, n). */
static ptrdiff_t crop_index(ptrdiff_t p, ptrdiff_t before, ptrdiff_t n) {
  ptrdiff_t c = p - before;
  return c >= 0 && c < n ? c : -1;
}

static tap make_tap(int i, float scale, int side, ptrdiff_t before,
                    ptrdiff_t n) {
  float src = (float)i * scale;
  float f0 = floorf(src);
  ptrdiff_t i0 = (ptrdiff_t)f0;
  if (i0 > side - 1) i0 = side - 1;
  ptrdiff_t i1 = i0 + 1 < side ? i0 + 1 : side - 1;
  tap t = {crop_index(i0, before, n), crop_index(i1, before, n), src - f0};
  return t;
}

static float at(const uint8_t *row, ptrdiff_t off, int c) {
  return row && off >= 0 ? (float)row[off + c] : 0.0f;
}

void fk_crop_to_square_tensor(const fk_image *img, fk_rect crop, int centered,
                              int size, float *out) {
  if (!out || size <= 0) return;
  size_t n_out = (size_t)size * (size_t)size * 3;
  /* Clip the crop to the image so bad input cannot read out of bounds. */
  long long x0 = crop.x, y0 = crop.y, x1 = x0 + crop.w, y1 = y0 + crop.h;
  if (img && img->rgb) {
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 > img->width) x1 = img->width;
    if (y1 > img->height) y1 = img->height;
  }
  if (!img || !img->rgb || x1 <= x0 || y1 <= y0) {
    memset(out, 0, n_out * sizeof *out);
    return;
  }
  ptrdiff_t w = (ptrdiff_t)(x1 - x0), h = (ptrdiff_t)(y1 - y0);
  int side = (int)(w > h ? w : h);
  ptrdiff_t d = side - (w < h ? w : h);
  ptrdiff_t before = centered ? d - (d + 1) / 2 : 0; /* after = JS Math.round(d/2) */
  ptrdiff_t bx = w < h ? before : 0, by = h < w ? before : 0;

  size_t stride = (size_t)img->width * 3;
  const uint8_t *base = img->rgb + (size_t)y0 * stride + (size_t)x0 * 3;
  float scale = (float)side / (float)size;

  for (int j0 = 0; j0 < size; j0 += TAP_BLOCK) {
    int nj = size - j0 < TAP_BLOCK ? size - j0 : TAP_BLOCK;
    tap xt[TAP_BLOCK];
    for (int j = 0; j < nj; j++) {
      xt[j] = make_tap(j0 + j, scale, side, bx, w);
      if (xt[j].o0 >= 0) xt[j].o0 *= 3;
      if (xt[j].o1 >= 0) xt[j].o1 *= 3;
    }
    for (int i = 0; i < size; i++) {
      tap yt = make_tap(i, scale, side, by, h);
      const uint8_t *r0 = yt.o0 >= 0 ? base + (size_t)yt.o0 * stride : NULL;
      const uint8_t *r1 = yt.o1 >= 0 ? base + (size_t)yt.o1 * stride : NULL;
      float fy = yt.frac;
      float *o = out + ((size_t)i * (size_t)size + (size_t)j0) * 3;
      for (int j = 0; j < nj; j++, o += 3) {
        ptrdiff_t a = xt[j].o0, b = xt[j].o1;
        float fx = xt[j].frac;
        for (int c = 0; c < 3; c++) {
          float tl = at(r0, a, c), tr = at(r0, b, c);
          float bl = at(r1, a, c), br = at(r1, b, c);
          float top = tl + (tr - tl) * fx;
          float bottom = bl + (br - bl) * fx;
          o[c] = top + (bottom - top) * fy;
        }
      }
    }
  }
}
