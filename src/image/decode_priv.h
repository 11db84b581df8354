/*
 * decode_priv.h - internal interface between decode.c (file reading, format
 * sniffing, EXIF orientation) and the per-format decoders decode_jpeg.c,
 * decode_png.c and decode_webp.c, plus the pixel helpers they share.
 *
 * Each decoder takes the whole encoded file in memory, checks the header's
 * width * height against max_pixels (already defaulted, never 0) before
 * allocating any pixel buffer, and fills img with packed 8-bit RGB. On
 * failure it returns an FK_E* code, leaves img zeroed and has freed
 * everything it allocated.
 */
#ifndef FK_DECODE_PRIV_H
#define FK_DECODE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "facekit.h"

int fk_decode_jpeg(const uint8_t *data, size_t size, size_t max_pixels,
                   fk_image *img);
int fk_decode_png(const uint8_t *data, size_t size, size_t max_pixels,
                  fk_image *img);
int fk_decode_webp(const uint8_t *data, size_t size, size_t max_pixels,
                   fk_image *img);

/* FK_OK when a w x h image is non-empty and within max_pixels (and its RGBA
 * buffer fits in size_t); FK_ECORRUPT for a zero or negative side;
 * FK_ETOOBIG otherwise. */
int fk_check_dims(int64_t w, int64_t h, size_t max_pixels);

/* Rewrites n RGBA pixels in buf as n RGB pixels at the start of the same
 * buffer, composited over white (rounded). */
void fk_rgba_to_rgb_over_white(uint8_t *buf, size_t n);

/* Shrinks a w*h*channels buffer that now holds w*h RGB pixels; returns the
 * (possibly moved) buffer, or buf itself if realloc fails. */
uint8_t *fk_shrink_to_rgb(uint8_t *buf, size_t npixels);

#endif /* FK_DECODE_PRIV_H */
