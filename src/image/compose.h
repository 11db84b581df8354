/*
 * compose.h - building result pictures from fk_images: face thumbnails,
 * a canvas to lay them out on, filled boxes, text in a small built-in font
 * (DejaVu Sans Mono, 7x14 px, 4-bit alpha; font.c), and PNG encoding to
 * memory and to a data: URI for self-contained HTML (png_mem.c). Used by
 * find's --html and --sheet, serve's face crops, the search's thumbnails
 * and stream's annotated video. Everything clips to the canvas.
 */
#ifndef FK_COMPOSE_H
#define FK_COMPOSE_H

#include <stddef.h>
#include <stdint.h>

#include "facekit.h"
#include "image/image.h"

#define FK_FONT_W 7
#define FK_FONT_H 14

/* A w x h image filled with rgb. */
int fk_canvas_new(int w, int h, const uint8_t rgb[3], fk_image *out);

/* Fills r (clipped) with rgb. */
void fk_fill_rect(fk_image *img, fk_rect r, const uint8_t rgb[3]);

/* Copies src onto dst with its top-left corner at (x, y), clipped. */
void fk_blit(fk_image *dst, const fk_image *src, int x, int y);

/* A size x size thumbnail of a face: the square around box enlarged by
 * `margin` (0.3 = 30% more on each side), area-averaged; what lies outside
 * the image is grey. */
int fk_face_thumbnail(const fk_image *img, fk_box box, float margin, int size, fk_image *out);

/* Width in pixels of s in the built-in font (ASCII; other bytes draw '?'). */
int fk_text_width(const char *s);

/* Draws s with its top-left at (x, y); cut with "..." to fit max_w pixels
 * when max_w > 0. Returns the width drawn. */
int fk_draw_text(fk_image *img, int x, int y, const char *s, const uint8_t rgb[3], int max_w);

/* The glyph of an ASCII character 32..126: FK_FONT_W * FK_FONT_H hex
 * digits, row-major, each an alpha 0..f. */
const char *fk_font_glyph(int c);

/* Encodes img as an 8-bit RGB PNG into a malloc'd buffer. */
int fk_png_encode_mem(const fk_image *img, uint8_t **out, size_t *size);

/* "data:image/png;base64,..." for img, malloc'd, or NULL. */
char *fk_png_data_uri(const fk_image *img);

#endif /* FK_COMPOSE_H */
