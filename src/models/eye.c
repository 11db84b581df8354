/*
 * eye.c - the eye-state net of faceplugin-face-recognition-js@0.0.1
 * (model/fr_eye.onnx, MIT), loaded with the ONNX importer (nn/onnx.h), with
 * the pre- and post-processing of the package's lib/fr_eye.js.
 *
 * Crop    per eye, from the 68 landmarks (getEyeBBox; fk_eye_boxes): the
 *         "left" eye is points 36-41 (the left one in the image, the
 *         person's right), the right one 42-47. Centre = the mean of the
 *         eyelid points (37, 38, 40, 41; 43, 44, 46, 47) truncated; side =
 *         (x of the outer minus x of the inner corner, 39 - 36; 45 - 42) *
 *         1.6 truncated; corner = centre - side / 2 truncated and clamped at
 *         0; the side cut to width - x - 1, then to height - y - 1. The JS
 *         truncates the landmarks first; facekit keeps them as floats.
 * Input   the square resized to 24x24 (cv.resize INTER_LINEAR,
 *         fk_resize_linear), gray as the JS makes it (fk_faceplugin_gray:
 *         cvtColor(BGR2GRAY) on the canvas's RGBA), / 255: [24][24][1].
 * Network a small CNN, 2 logits.
 * Decode  softmax; [1] is the probability that the eye is open ([0], which
 *         the JS reports as p[0] > p[1], is closed). The package does not
 *         say which is which: on the fixtures a plainly open pair of eyes
 *         gives [1] > 0.97, eyes narrowed by a smile [0] > 0.95.
 */
#include <math.h>
#include <stdio.h>

#include "models/models.h"
#include "nn/onnx.h"

int fk_eye_load(const char *path, nn_graph **out, char *err, size_t errlen) {
  *out = NULL;
  nn_graph *g = NULL;
  int st = nn_onnx_load(path, NULL, 0, &g, err, errlen);
  if (st != FK_OK) return st;
  nn_shape in = g->shapes[0];
  if (in.h != FK_EYE_SIZE || in.w != FK_EYE_SIZE || in.c != 1 || g->noutputs != 1 ||
      nn_shape_size(g->shapes[g->outputs[0]]) != 2) {
    if (err && errlen) snprintf(err, errlen, "%s: not a 24x24 gray -> 2-class eye net", path);
    nn_graph_free(g);
    return FK_EMODEL;
  }
  *out = g;
  return FK_OK;
}

/* One eye's square: eyelid points a..d, corners lo, hi; 0 if empty. */
static int eye_box(const fk_point *p, int a, int b, int c, int d, int lo, int hi, int img_w, int img_h,
                   fk_rect *r) {
  double cx = trunc((p[a].x + p[b].x + p[c].x + p[d].x) / 4.0);
  double cy = trunc((p[a].y + p[b].y + p[c].y + p[d].y) / 4.0);
  double side = trunc(((double)p[hi].x - p[lo].x) * 1.6);
  if (!isfinite(cx) || !isfinite(cy) || !isfinite(side) || fabs(cx) > 1e8 || fabs(cy) > 1e8 || side > 1e8)
    return 0;
  int s = (int)side, x = (int)(cx - s / 2.0), y = (int)(cy - s / 2.0);
  if (x < 0) x = 0;
  if (y < 0) y = 0;
  if (x + s >= img_w) s = img_w - x - 1;
  if (y + s >= img_h) s = img_h - y - 1;
  if (s <= 0) return 0;
  *r = (fk_rect){x, y, s, s};
  return 1;
}

int fk_eye_boxes(const fk_point pts[FK_NUM_LANDMARKS], int img_w, int img_h, fk_rect eyes[2]) {
  eyes[0] = eyes[1] = (fk_rect){0, 0, 0, 0};
  int left = eye_box(pts, 37, 38, 40, 41, 36, 39, img_w, img_h, &eyes[0]);
  int right = eye_box(pts, 43, 44, 46, 47, 42, 45, img_w, img_h, &eyes[1]);
  return left | right << 1;
}

void fk_eye_input(const fk_image *img, fk_rect eye, float *input) {
  float rgb[FK_EYE_SIZE * FK_EYE_SIZE * 3];
  fk_resize_linear(img, eye, FK_EYE_SIZE, FK_EYE_SIZE, rgb);
  for (int i = 0; i < FK_EYE_SIZE * FK_EYE_SIZE; i++)
    input[i] = (float)fk_faceplugin_gray((int)rgb[3 * i], (int)rgb[3 * i + 1], (int)rgb[3 * i + 2]) / 255.0f;
}

float fk_eye_decode(const float *out2) {
  double hi = fmax(out2[0], out2[1]), e0 = exp(out2[0] - hi), e1 = exp(out2[1] - hi);
  return (float)(e1 / (e0 + e1));
}
