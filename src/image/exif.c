/*
 * exif.c - EXIF orientation: fk_exif_orientation() finds tag 0x0112 in IFD0
 * of a JPEG's APP1 "Exif" segment (parsed by hand, every offset bounds
 * checked, so hostile files cannot make it read out of bounds), and
 * fk_image_orient() applies orientations 2..8 to decoded pixels so the image
 * is upright as a viewer would show it.
 */
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

static unsigned rd16(const uint8_t *p, int le) {
  return le ? (unsigned)p[0] | (unsigned)p[1] << 8
            : (unsigned)p[0] << 8 | (unsigned)p[1];
}

static uint32_t rd32(const uint8_t *p, int le) {
  return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                  (uint32_t)p[3] << 24
            : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                  (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Orientation from a TIFF structure t[0..n); 1 if absent or malformed. */
static int tiff_orientation(const uint8_t *t, size_t n) {
  if (n < 8) return 1;
  int le;
  if (t[0] == 'I' && t[1] == 'I') le = 1;
  else if (t[0] == 'M' && t[1] == 'M') le = 0;
  else return 1;
  if (rd16(t + 2, le) != 42) return 1;
  uint32_t ifd = rd32(t + 4, le);
  if (ifd > n || n - ifd < 2) return 1;
  unsigned count = rd16(t + ifd, le);
  for (unsigned i = 0; i < count; i++) {
    size_t e = (size_t)ifd + 2 + (size_t)12 * i;
    if (e > n || n - e < 12) return 1;
    if (rd16(t + e, le) != 0x0112) continue;
    unsigned type = rd16(t + e + 2, le);
    uint32_t v;
    if (rd32(t + e + 4, le) < 1) return 1;
    if (type == 3) v = rd16(t + e + 8, le);      /* SHORT, the standard */
    else if (type == 4) v = rd32(t + e + 8, le); /* LONG, seen in the wild */
    else if (type == 1) v = t[e + 8];            /* BYTE */
    else return 1;
    return v >= 1 && v <= 8 ? (int)v : 1;
  }
  return 1;
}

int fk_exif_orientation(const uint8_t *data, size_t size) {
  if (!data || size < 4 || data[0] != 0xFF || data[1] != 0xD8) return 1;
  size_t pos = 2;
  while (size - pos >= 4) {
    if (data[pos] != 0xFF) return 1; /* lost sync: give up */
    unsigned marker = data[pos + 1];
    if (marker == 0xFF) { /* fill byte */
      pos++;
      continue;
    }
    pos += 2;
    if (marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7))
      continue; /* stand-alone markers have no length */
    if (marker == 0xDA || marker == 0xD9) return 1; /* EXIF precedes the scan */
    size_t len = rd16(data + pos, 0);
    if (len < 2 || len > size - pos) return 1;
    if (marker == 0xE1 && len >= 2 + 6 && memcmp(data + pos + 2, "Exif\0", 5) == 0)
      return tiff_orientation(data + pos + 8, len - 8);
    pos += len;
  }
  return 1;
}

/* Display pixel (X, Y) of the oriented image comes from stored pixel
 * (sx, sy) = (ax + bx*X + cx*Y, ay + by*X + cy*Y); the coefficients per EXIF
 * orientation, with W = w - 1, H = h - 1 of the stored image:
 *   2 mirror:      (W - X, Y)        3 rotate 180: (W - X, H - Y)
 *   4 flip:        (X, H - Y)        5 transpose:  (Y, X)
 *   6 rotate 90cw: (Y, H - X)        7 transverse: (W - Y, H - X)
 *   8 rotate 90ccw:(W - Y, X)                                        */
int fk_image_orient(fk_image *img, int orientation) {
  if (!img) return FK_EINVAL;
  if (orientation == 1) return FK_OK;
  if (orientation < 1 || orientation > 8) return FK_EINVAL;
  if (!img->rgb || img->width <= 0 || img->height <= 0) return FK_EINVAL;

  ptrdiff_t w = img->width, h = img->height, W = w - 1, H = h - 1;
  ptrdiff_t ax = 0, bx = 0, cx = 0, ay = 0, by = 0, cy = 0;
  switch (orientation) {
    case 2: ax = W, bx = -1, cy = 1; break;
    case 3: ax = W, bx = -1, ay = H, cy = -1; break;
    case 4: bx = 1, ay = H, cy = -1; break;
    case 5: cx = 1, by = 1; break;
    case 6: cx = 1, ay = H, by = -1; break;
    case 7: ax = W, cx = -1, ay = H, by = -1; break;
    default: ax = W, cx = -1, by = 1; break; /* 8 */
  }
  int swap = orientation >= 5;
  ptrdiff_t ow = swap ? h : w, oh = swap ? w : h;
  uint8_t *dst = malloc((size_t)w * (size_t)h * 3);
  if (!dst) return FK_ENOMEM;
  /* In pixel units: src index = start + X * step_x + Y * step_y. */
  ptrdiff_t start = ay * w + ax, step_x = by * w + bx, step_y = cy * w + cx;
  const uint8_t *src = img->rgb;
  uint8_t *o = dst;
  for (ptrdiff_t y = 0; y < oh; y++) {
    ptrdiff_t s = start + y * step_y;
    for (ptrdiff_t x = 0; x < ow; x++, s += step_x, o += 3)
      memcpy(o, src + 3 * s, 3);
  }
  free(img->rgb);
  img->rgb = dst;
  img->width = (int)ow;
  img->height = (int)oh;
  return FK_OK;
}
