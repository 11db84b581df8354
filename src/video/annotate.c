/*
 * annotate.c - what `facekit stream --output` draws on a frame: each
 * track's box in a colour of its own (by id) and up to three label lines
 * (id and identity, attributes) on a filled band above the box, or inside
 * it at the top edge of the picture. Uses the image code's rectangles and
 * built-in font (src/image/draw.c, compose.c); everything clips.
 */
#include <string.h>

#include "image/compose.h"
#include "video/video.h"

/* Distinct, saturated colours, cycled by track id. */
static const uint8_t palette[][3] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200},
                                     {245, 130, 48}, {145, 30, 180}, {70, 240, 240}, {240, 50, 230},
                                     {210, 245, 60}, {250, 190, 212}};

void fkv_draw_track(fk_image *img, fk_box box, int id, const char *const *lines, int nlines, int detected) {
  const uint8_t *c = palette[(unsigned)id % (sizeof palette / sizeof *palette)];
  static const uint8_t black[3] = {0, 0, 0};
  int side = img->width < img->height ? img->width : img->height;
  int t = side >= 720 ? 3 : 2;
  if (!detected) t = 1; /* a predicted box: thinner */
  fk_rect r = {(int)box.x, (int)box.y, (int)(box.w + 0.5f), (int)(box.h + 0.5f)};
  fk_draw_rect(img, r, t, c);
  if (nlines > 3) nlines = 3;
  int wmax = 0;
  for (int i = 0; i < nlines; i++) {
    int w = fk_text_width(lines[i]);
    if (w > wmax) wmax = w;
  }
  if (wmax == 0) return;
  int pad = 2, lh = FK_FONT_H + 1, bh = nlines * lh + pad;
  int bw = wmax + 2 * pad, max_w = img->width - (r.x > 0 ? r.x : 0);
  if (bw > max_w) bw = max_w;
  int bx = r.x < 0 ? 0 : r.x, by = r.y - bh >= 0 ? r.y - bh : r.y + t;
  fk_fill_rect(img, (fk_rect){bx, by, bw, bh}, c);
  for (int i = 0; i < nlines; i++) fk_draw_text(img, bx + pad, by + pad / 2 + i * lh, lines[i], black, bw - 2 * pad);
}
