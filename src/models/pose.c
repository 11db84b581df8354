/*
 * pose.c - the head-pose net of faceplugin-face-recognition-js@0.0.1
 * (model/fr_pose.onnx, MIT; a ShuffleNetV2 with three 66-bin heads, in the
 * manner of Hopenet), loaded with the ONNX importer (nn/onnx.h), with the
 * pre- and post-processing of the package's lib/fr_pose.js.
 *
 * Crop    from the face box: x1, y1, x2, y2 truncated to integers, w = |x2 -
 *         x1|, h = |y2 - y1|; the box grown by a quarter of w and h on each
 *         side (each edge truncated), its corner clamped at 0 and its size
 *         at the image's (fk_pose_crop). The JS keeps the size when it
 *         clamps the corner, and OpenCV.js then throws for a rectangle that
 *         leaves the image; here the size is cut to the image instead.
 * Input   the crop resized to 224x224 (cv.resize INTER_LINEAR,
 *         fk_resize_linear), channels R, G, B, channel k as (x / 255 -
 *         mean[k]) / std[k] with ImageNet's mean (0.485, 0.456, 0.406) and
 *         std (0.229, 0.224, 0.225): [224][224][3]. The JS feeds B, G, R
 *         (its cvtColor(BGR2RGB) runs on the canvas's RGBA) with R's
 *         statistics on B; that is a bug: on face_c1.png, a face turned far
 *         to one side, B, G, R gives yaw -0.6 degrees and its mirror 2.6,
 *         R, G, B gives 50.1 and -45.8 (test_onnx.c); over the first 1,000
 *         central faces of LFW yaw's sign flips on the mirror image for
 *         99.71% of those with |yaw| >= 5 with R, G, B, 98.55% with B, G, R
 *         (bench/bench_quality.c --limit 1000).
 * Network 144 M multiply-adds; the channel shuffles reshape to rank 5
 *         (nn/onnx.c: merged_rank5).
 * Outputs 0 = yaw ("output"), 1 = pitch ("617"), 2 = roll ("618"): 66 logits
 *         each, bins of 3 degrees.
 * Decode  angle = sum over bins of softmax(logits)[i] * i, * 3 - 99, in
 *         degrees. Yaw is positive for a face turned towards the image's
 *         left (the person's right; face_c1.png: +50); yaw and roll change
 *         sign on a mirrored image (tests/test_onnx.c, bench/bench_quality.c).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "models/models.h"
#include "nn/onnx.h"

static const double pose_mean[3] = {0.485, 0.456, 0.406}, pose_std[3] = {0.229, 0.224, 0.225};

int fk_pose_load(const char *path, nn_graph **out, char *err, size_t errlen) {
  static const char *const names[3] = {"output", "617", "618"};
  *out = NULL;
  nn_graph *g = NULL;
  int st = nn_onnx_load(path, names, 3, &g, err, errlen);
  if (st != FK_OK) return st;
  nn_shape in = g->shapes[0];
  int ok = in.h == FK_POSE_SIZE && in.w == FK_POSE_SIZE && in.c == 3 && g->noutputs == 3;
  for (int i = 0; ok && i < 3; i++) ok = nn_shape_size(g->shapes[g->outputs[i]]) == FK_POSE_BINS;
  if (!ok) {
    if (err && errlen) snprintf(err, errlen, "%s: not a 224x224 -> 3 x %d-bin head-pose net", path, FK_POSE_BINS);
    nn_graph_free(g);
    return FK_EMODEL;
  }
  *out = g;
  return FK_OK;
}

int fk_pose_crop(fk_box box, int img_w, int img_h, fk_rect *crop) {
  *crop = (fk_rect){0, 0, 0, 0};
  double r = (double)box.x + box.w, b = (double)box.y + box.h;
  if (!isfinite(r) || !isfinite(b) || fabs(box.x) > 1e8 || fabs(box.y) > 1e8 || fabs(r) > 1e8 ||
      fabs(b) > 1e8 || img_w <= 0 || img_h <= 0)
    return 0;
  int x1 = (int)box.x, y1 = (int)box.y, x2 = (int)r, y2 = (int)b; /* parseInt */
  int w = abs(x2 - x1), h = abs(y2 - y1);
  int x11 = (int)(x1 - w / 4.0), y11 = (int)(y1 - h / 4.0);
  int x22 = (int)(x2 + w / 4.0), y22 = (int)(y2 + h / 4.0);
  fk_rect c = {x11 > 0 ? x11 : 0, y11 > 0 ? y11 : 0, x22 - x11, y22 - y11};
  if (c.w > img_w - c.x) c.w = img_w - c.x;
  if (c.h > img_h - c.y) c.h = img_h - c.y;
  if (c.w <= 0 || c.h <= 0) return 0;
  *crop = c;
  return 1;
}

void fk_pose_input(const fk_image *img, fk_rect crop, float *input) {
  fk_resize_linear(img, crop, FK_POSE_SIZE, FK_POSE_SIZE, input);
  for (size_t i = 0; i < (size_t)FK_POSE_SIZE * FK_POSE_SIZE * 3; i++)
    input[i] = (float)((input[i] / 255.0 - pose_mean[i % 3]) / pose_std[i % 3]);
}

/* softmax(logits) . (0, 1, ..., 65) * 3 - 99, in double as the JS does. */
static float bin_angle(const float *logits) {
  double hi = logits[0], sum = 0, mean = 0;
  for (int i = 1; i < FK_POSE_BINS; i++) hi = fmax(hi, logits[i]);
  for (int i = 0; i < FK_POSE_BINS; i++) {
    double e = exp(logits[i] - hi);
    sum += e;
    mean += e * i;
  }
  return (float)(mean / sum * 3 - 99);
}

void fk_pose_decode(const float *yaw, const float *pitch, const float *roll, float angles[3]) {
  angles[0] = bin_angle(yaw);
  angles[1] = bin_angle(pitch);
  angles[2] = bin_angle(roll);
}
