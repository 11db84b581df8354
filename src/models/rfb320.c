/*
 * rfb320.c - the RFB-320 face detector of faceplugin-face-recognition-js@0.0.1
 * (model/fr_detect.onnx, MIT; an Ultra-Light-Fast-Generic-Face-Detector
 * RFB-320), loaded with the ONNX importer (nn/onnx.h), with the pre- and
 * post-processing of the package's lib/fr_detect.js.
 *
 * Input   the whole image resized to 320x240 (cv.resize INTER_LINEAR,
 *         fk_resize_linear), channels B, G, R (what the JS feeds: its
 *         cvtColor(BGR2RGB) runs on the canvas's RGBA), (x - 127) / 128,
 *         NHWC [240][320][3].
 * Network 100 M multiply-adds; 4420 anchors on 40x30, 20x15, 10x8 and 5x4
 *         grids (min sizes 10/16/24, 32/48, 64/96, 128/192/256; strides 8,
 *         16, 32, 64). The prior decoding (variances 0.1, 0.2) is inside the
 *         graph, so the JS's own decodeBBox is dead code.
 * Outputs 0 = scores [4420][2] (softmax; [1] is the face), 1 = boxes
 *         [4420][4]: x1, y1, x2, y2 in [0, 1] of the input.
 * Decode  fr_detect.js: boxes x [320, 240, 320, 240]; keep face scores
 *         >= min_score (the JS: 0.65); sort by score, keep 750; its NMS
 *         (below); scale x by cols / 320 and y by rows / 240; make each box a
 *         square of side y2 - y1 about its centre, clamped to [0, cols - 1]
 *         x [0, rows - 1]. The JS's NMS is not the usual one: it visits the
 *         boxes by their bottom edge (y2 ascending, not by score) and
 *         suppresses a box when its overlap, counted with +1 pixel sizes,
 *         covers >= 0.4 of the box's own area. It is kept as it is, since
 *         the landmark net's crop follows these boxes. Unlike the JS, the
 *         result is sorted by score.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "models/models.h"
#include "nn/onnx.h"

#define TOP_K 750
#define NMS_OVERLAP 0.4

int fk_rfb320_load(const char *path, nn_graph **out, char *err, size_t errlen) {
  static const char *const names[2] = {"scores", "boxes"};
  *out = NULL;
  nn_graph *g = NULL;
  int st = nn_onnx_load(path, names, 2, &g, err, errlen);
  if (st != FK_OK) return st;
  nn_shape in = g->shapes[0];
  if (in.h != FK_RFB320_H || in.w != FK_RFB320_W || in.c != 3 ||
      nn_shape_size(g->shapes[g->outputs[0]]) != (size_t)FK_RFB320_ANCHORS * 2 ||
      nn_shape_size(g->shapes[g->outputs[1]]) != (size_t)FK_RFB320_ANCHORS * 4) {
    if (err && errlen) snprintf(err, errlen, "%s: not a 320x240 RFB detector", path);
    nn_graph_free(g);
    return FK_EMODEL;
  }
  *out = g;
  return FK_OK;
}

void fk_rfb320_input(const fk_image *img, float *input) {
  fk_rect all = {0, 0, img->width, img->height};
  fk_resize_linear(img, all, FK_RFB320_W, FK_RFB320_H, input);
  for (size_t i = 0; i < (size_t)FK_RFB320_W * FK_RFB320_H; i++) {
    float *p = input + 3 * i, r = p[0];
    p[0] = (p[2] - 127.0f) / 128.0f;
    p[1] = (p[1] - 127.0f) / 128.0f;
    p[2] = (r - 127.0f) / 128.0f;
  }
}

/* A candidate: its box at the 320x240 scale (float, as the JS's
 * Float32Arrays hold it), score, and rank in score order. */
typedef struct cand {
  float b[4];
  float score;
  int order;
} cand;

static int by_score(const void *pa, const void *pb) {
  const cand *a = pa, *b = pb;
  if (a->score != b->score) return a->score < b->score ? 1 : -1;
  return a->order - b->order; /* JS's sort is stable */
}

static int by_bottom(const void *pa, const void *pb) {
  const cand *a = pa, *b = pb;
  if (a->b[3] != b->b[3]) return a->b[3] < b->b[3] ? -1 : 1;
  return a->order - b->order;
}

static int det_by_score(const void *pa, const void *pb) {
  const fk_det *a = pa, *b = pb;
  return a->score < b->score ? 1 : a->score > b->score ? -1 : 0;
}

/* The JS's cpuNMS over c[0..n) (sorted by y2): keeps the survivors in
 * place, in visiting order; returns their count. */
static int nms(cand *c, int n) {
  int kept = 0;
  for (int i = 0; i < n; i++) {
    if (c[i].score < 0) continue; /* suppressed */
    const cand *p = &c[i];
    for (int j = i + 1; j < n; j++) {
      cand *q = &c[j];
      if (q->score < 0) continue;
      double w = fmax(0.0, fmin(q->b[2], p->b[2]) - fmax(q->b[0], p->b[0]) + 1);
      double h = fmax(0.0, fmin(q->b[3], p->b[3]) - fmax(q->b[1], p->b[1]) + 1);
      double area = ((double)q->b[2] - q->b[0]) * ((double)q->b[3] - q->b[1]);
      if (w * h / area >= NMS_OVERLAP) q->score = -1;
    }
    c[kept++] = c[i];
  }
  return kept;
}

int fk_rfb320_decode(const float *scores, const float *boxes, int img_w, int img_h,
                     float min_score, fk_det *dets, int cap, int *n) {
  static const float scale[4] = {FK_RFB320_W, FK_RFB320_H, FK_RFB320_W, FK_RFB320_H};
  *n = 0;
  if (img_w <= 0 || img_h <= 0) return FK_EINVAL;
  cand *c = malloc((size_t)FK_RFB320_ANCHORS * sizeof *c);
  if (!c) return FK_ENOMEM;
  int m = 0;
  for (int i = 0; i < FK_RFB320_ANCHORS; i++) {
    float s = scores[2 * i + 1];
    if (!(s >= min_score)) continue;
    cand *k = &c[m];
    for (int j = 0; j < 4; j++) k->b[j] = boxes[4 * i + j] * scale[j];
    k->score = s;
    k->order = m++;
  }
  qsort(c, (size_t)m, sizeof *c, by_score);
  if (m > TOP_K) m = TOP_K;
  /* Only boxes of positive size take part; "order" now ranks by score. */
  int v = 0;
  for (int i = 0; i < m; i++) {
    int ok = c[i].b[2] - (double)c[i].b[0] > 0 && c[i].b[3] - (double)c[i].b[1] > 0;
    if (ok) {
      c[v] = c[i];
      c[v++].order = i;
    }
  }
  qsort(c, (size_t)v, sizeof *c, by_bottom);
  int kept = nms(c, v);
  const double sx = img_w / (double)FK_RFB320_W, sy = img_h / (double)FK_RFB320_H;
  fk_det *all = malloc((size_t)(kept ? kept : 1) * sizeof *all);
  if (!all) {
    free(c);
    return FK_ENOMEM;
  }
  for (int i = 0; i < kept; i++) {
    double x1 = c[i].b[0] * sx, y1 = c[i].b[1] * sy, x2 = c[i].b[2] * sx, y2 = c[i].b[3] * sy;
    double side = y2 - y1, cx = (x1 + x2) / 2, cy = (y1 + y2) / 2;
    float bx1 = (float)fmax(cx - side / 2, 0.0), by1 = (float)fmax(cy - side / 2, 0.0);
    float bx2 = (float)fmin(cx + side / 2, img_w - 1.0), by2 = (float)fmin(cy + side / 2, img_h - 1.0);
    all[i] = (fk_det){bx1, by1, bx2 - bx1, by2 - by1, c[i].score};
  }
  free(c);
  qsort(all, (size_t)kept, sizeof *all, det_by_score);
  for (int i = 0; i < kept && i < cap; i++) dets[i] = all[i];
  free(all);
  int out = kept;
  *n = out;
  return FK_OK;
}

/* ---- the detector's operations (models.h) ---- */

static void rfb320_input_op(const fk_image *img, int size, float *input) {
  (void)size;
  fk_rfb320_input(img, input);
}

static int rfb320_decode_op(const nn_runtime *rt, const void *state, int size, int img_w, int img_h,
                            float min_score, fk_det *dets, int cap, int *n) {
  (void)state, (void)size;
  return fk_rfb320_decode(nn_runtime_output(rt, 0), nn_runtime_output(rt, 1), img_w, img_h, min_score,
                          dets, cap, n);
}

const fk_detector_def fk_rfb320_detector = {
    .fixed_w = FK_RFB320_W,
    .fixed_h = FK_RFB320_H,
    .open = fk_rfb320_load,
    .input = rfb320_input_op,
    .decode = rfb320_decode_op,
};
