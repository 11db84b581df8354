/*
 * lmk64.c - the 68-point landmark net of faceplugin-face-recognition-js@0.0.1
 * (model/fr_landmark.onnx, MIT), loaded with the ONNX importer (nn/onnx.h),
 * with the pre- and post-processing of the package's lib/fr_landmark.js.
 *
 * Crop    from a detection box (fk_rfb320_decode's): x1, y1, x2, y2 truncated
 *         to integers, w = x2 - x1, h = y2 - y1; alignLandmarkImage at scale
 *         1.0: the box scaled by min(1, (rows - 1) / h, (cols - 1) / w) about
 *         its centre, shifted inside [0, cols - 1] x [0, rows - 1], its
 *         corner and size truncated (fk_lmk64_crop).
 * Input   the crop resized to 64x64 (cv.resize INTER_LINEAR,
 *         fk_resize_linear), then gray as the JS makes it: cvtColor(BGR2GRAY)
 *         on the canvas's RGBA, i.e. 0.114 R + 0.587 G + 0.299 B, in
 *         OpenCV's 15-bit fixed point (fk_faceplugin_gray), bit-exact with
 *         it; / 256: [64][64][1].
 * Network 40 convolutions, a 4x4 depthwise, fc 512 -> 136 and a batch norm
 *         (folded); 15.6 M multiply-adds.
 * Output  136 values x0 y0 x1 y1 ... in [0, 1] of the crop: point i is
 *         (out[2i] * w + x, out[2i + 1] * h + y) for the crop (x, y, w, h).
 *         The JS maps them onto the detection box instead (the same
 *         rectangle unless the box leaves the image, when the crop is the
 *         right frame) and truncates them to integers; facekit does
 *         neither.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "models/models.h"
#include "nn/onnx.h"

int fk_lmk64_load(const char *path, nn_graph **out, char *err, size_t errlen) {
  *out = NULL;
  nn_graph *g = NULL;
  int st = nn_onnx_load(path, NULL, 0, &g, err, errlen);
  if (st != FK_OK) return st;
  nn_shape in = g->shapes[0];
  if (in.h != FK_LMK64_SIZE || in.w != FK_LMK64_SIZE || in.c != 1 || g->noutputs != 1 ||
      nn_shape_size(g->shapes[g->outputs[0]]) != 2 * FK_NUM_LANDMARKS) {
    if (err && errlen) snprintf(err, errlen, "%s: not a 64x64 gray -> 68-point landmark net", path);
    nn_graph_free(g);
    return FK_EMODEL;
  }
  *out = g;
  return FK_OK;
}

int fk_lmk64_crop(const fk_det *d, int img_w, int img_h, fk_rect *crop) {
  *crop = (fk_rect){0, 0, 0, 0};
  double r = (double)d->x + d->w, b = (double)d->y + d->h;
  if (!isfinite(r) || !isfinite(b) || img_w <= 1 || img_h <= 1 || fabs(r) > 1e8 || fabs(b) > 1e8)
    return 0;
  int x1 = (int)d->x, y1 = (int)d->y, x2 = (int)r, y2 = (int)b; /* parseInt */
  int w = abs(x2 - x1), h = abs(y2 - y1);
  if (w <= 0 || h <= 0) return 0;
  double cols = img_w, rows = img_h;
  double scale = fmin((rows - 1) / h, fmin((cols - 1) / w, 1.0));
  double nw = w * scale, nh = h * scale, cx = w / 2.0 + x1, cy = h / 2.0 + y1;
  double ltx = cx - nw / 2, lty = cy - nh / 2, rbx = cx + nw / 2, rby = cy + nh / 2;
  if (ltx < 0) rbx -= ltx, ltx = 0;
  if (lty < 0) rby -= lty, lty = 0;
  if (rbx > cols - 1) ltx -= rbx - cols + 1, rbx = cols - 1;
  if (rby > rows - 1) lty -= rby - rows + 1, rby = rows - 1;
  fk_rect c = {(int)fmax(trunc(ltx), 0), (int)fmax(trunc(lty), 0),
               (int)fmin(trunc(rbx - ltx), cols - 1), (int)fmin(trunc(rby - lty), rows - 1)};
  if (c.w <= 0 || c.h <= 0 || c.x + c.w > img_w || c.y + c.h > img_h) return 0;
  *crop = c;
  return 1;
}

void fk_lmk64_input(const fk_image *img, fk_rect crop, float *input) {
  float rgb[FK_LMK64_SIZE * FK_LMK64_SIZE * 3];
  fk_resize_linear(img, crop, FK_LMK64_SIZE, FK_LMK64_SIZE, rgb);
  for (int i = 0; i < FK_LMK64_SIZE * FK_LMK64_SIZE; i++) {
    input[i] = (float)fk_faceplugin_gray((int)rgb[3 * i], (int)rgb[3 * i + 1], (int)rgb[3 * i + 2]) / 256.0f;
  }
}

void fk_lmk64_decode(const float *out136, fk_rect crop, fk_point pts[FK_NUM_LANDMARKS]) {
  for (int i = 0; i < FK_NUM_LANDMARKS; i++) {
    pts[i].x = out136[2 * i] * (float)crop.w + (float)crop.x;
    pts[i].y = out136[2 * i + 1] * (float)crop.h + (float)crop.y;
  }
}

/* ---- the landmark net's operations (models.h) ---- */

static void lmk64_decode_op(const float *out, const fk_det *det, fk_rect crop, fk_point pts[FK_NUM_LANDMARKS]) {
  (void)det;
  fk_lmk64_decode(out, crop, pts);
}

const fk_landmarker_def fk_lmk64_landmarker = {
    .crop = fk_lmk64_crop,
    .input = fk_lmk64_input,
    .decode = lmk64_decode_op,
};
