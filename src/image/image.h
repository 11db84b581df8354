/*
 * image.h - internal image operations: the geometry that turns an fk_image
 * (8-bit RGB, see facekit.h) into the float tensors the networks eat.
 *
 * Decoding and PNG encoding are public (fk_image_load & co. in facekit.h)
 * and live in decode.c / encode.c. This header holds the rest.
 *
 * Resampling follows TF's legacy bilinear resize (align_corners = false,
 * half_pixel_centers = false), which face-api uses everywhere: the source
 * coordinate of output pixel i is i * (in / out) with no 0.5 offset, and
 * neighbour indices are clamped to the last row/column.
 */
#ifndef FK_IMAGE_H
#define FK_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "facekit.h"

/* An integer rectangle inside an image. */
typedef struct fk_rect { int x, y, w, h; } fk_rect;

/*
 * face-api's NetInput.toBatchTensor on a crop of img: takes the pixels of
 * `crop` (which must lie inside img, w, h > 0), zero-pads them to a square and
 * resizes that square to size x size with TF legacy bilinear. Output is
 * float RGB [size][size][3] with raw 0..255 values.
 *   centered = 0: padding goes to the bottom / right only (SSD, Tiny);
 *   centered = 1: face-api's padToSquare(isCenterImage = true): for a
 *     difference d, round(d / 2) rows/cols go after and the rest before.
 * If the padded square already has side `size`, pixels are copied unchanged.
 */
void fk_crop_to_square_tensor(const fk_image *img, fk_rect crop, int centered,
                              int size, float *out);

/*
 * OpenCV's cv::resize INTER_LINEAR of the pixels of `crop` (clipped to img)
 * to ow x oh, bit-exact with its 8-bit result: half-pixel centres, edge
 * clamping, 11-bit fixed-point weights. Output float RGB [oh][ow][3] of
 * integers 0..255. The faceplugin nets' resize (resize_linear.c).
 */
void fk_resize_linear(const fk_image *img, fk_rect crop, int ow, int oh,
                      float *out);

/*
 * Bilinear affine warp: out pixel (u, v), u along x, samples img at
 *   sx = m[0] * u + m[1] * v + m[2],  sy = m[3] * u + m[4] * v + m[5]
 * (so m maps output to source coordinates, pixel centres at integers).
 * Samples outside the image read as 0. Output float RGB [oh][ow][3], 0..255.
 */
void fk_warp_affine(const fk_image *img, const double m[6], int ow, int oh,
                    float *out);

/* Mirrors a float RGB [h][w][3] tensor left to right, in place. */
void fk_mirror_tensor(float *t, int w, int h);

/* Float RGB [h][w][3] 0..255 to an 8-bit image (rounded, clamped); for
 * dumping chips in tests and tools. Returns FK_OK or FK_ENOMEM. */
int fk_image_from_float(const float *src, int w, int h, fk_image *out);

/* A copy of the pixels of `r` (clipped to the image). */
int fk_image_crop(const fk_image *img, fk_rect r, fk_image *out);

/* Draws a rectangle outline of thickness t in colour rgb (clipped). */
void fk_draw_rect(fk_image *img, fk_rect r, int t, const uint8_t rgb[3]);

/* Reads the EXIF orientation (1..8) from a JPEG's APP1 segment; 1 when absent
 * or unreadable. */
int fk_exif_orientation(const uint8_t *data, size_t size);

/* The variance of the Laplacian (the 4-neighbour kernel) of box b of img
 * resampled to FK_SHARPNESS_SIZE x FK_SHARPNESS_SIZE gray (nearest pixel,
 * 0.299 R + 0.587 G + 0.114 B), so that faces of any size compare; edges
 * clamp (a NaN or infinite box reads edge pixels). 0 for a flat region,
 * about 700 to 6,000 for LFW's faces, in 8-bit gray levels squared
 * (sharpness.c). */
#define FK_SHARPNESS_SIZE 32
double fk_laplacian_variance(const fk_image *img, fk_box b);

/* Applies an EXIF orientation (2..8) in place; 1 is a no-op. */
int fk_image_orient(fk_image *img, int orientation);

#endif /* FK_IMAGE_H */
