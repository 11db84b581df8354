/*
 * tiny.c - face-api's TinyFaceDetector (tinyFaceDetector/ on top of
 * tinyYolov2/TinyYolov2Base with separable convs).
 *
 * Input   size x size x 3 (a multiple of 32, default 416): the image
 *         zero-padded bottom/right to a square, resized with TF legacy
 *         bilinear, then (x - [117.001, 114.697, 97.404]) / 255.
 * Network conv 3x3 'valid' + bias, then 5 separable convs (depthwise 3x3 on
 *         a 1-pixel zero border, pointwise 1x1 + bias), each followed by
 *         leaky relu 0.1 and a 2x2 'same' max pool (stride 2, the last one
 *         stride 1), then a 1x1 conv: [size/32][size/32][5 anchors * 5].
 * Decode  YOLOv2: per cell and anchor [tx, ty, tw, th, to]; score =
 *         sigmoid(to), centre = (cell + sigmoid(t)) / cells, size =
 *         exp(t) * anchor / cells; face-api's NMS at IoU 0.4 and box scaling.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/models.h"

#define TINY_ANCHORS 5
#define TINY_IOU 0.4

/* tinyFaceDetector/const.ts */
static const double tiny_anchor_wh[TINY_ANCHORS][2] = {
    {1.603231, 2.094468}, {6.041143, 7.080126}, {2.882459, 3.518061},
    {4.266906, 5.178857}, {9.041765, 10.66308}};
static const float tiny_mean_rgb[3] = {117.001f, 114.697f, 97.404f};
static const int tiny_filters[7] = {3, 16, 32, 64, 128, 256, 512};

/* face-api's leaky(): relu(x - 0.1x) + 0.1x, which is leaky relu 0.1. */
static int leaky(nn_graph *g, int x) {
  return nn_leaky_relu(g, x, 0.10000000149011612f);
}

/* depthwiseSeparableConv: tf.pad 1 then 'valid' 3x3 depthwise, which is
 * exactly 'same' at stride 1; pointwise 1x1 with bias; leaky. */
static int separable(nn_graph *g, nn_wlookup *l, int x, int idx, int cin,
                     int cout) {
  const float *dw =
      nn_wlookup_get(l, (size_t)9 * cin, "conv%d/depthwise_filter", idx);
  const float *pw =
      nn_wlookup_get(l, (size_t)cin * cout, "conv%d/pointwise_filter", idx);
  const float *b = nn_wlookup_get(l, (size_t)cout, "conv%d/bias", idx);
  if (!dw || !pw || !b) return -1;
  x = nn_depthwise(g, x, dw, NULL, 3, 3, 1, NN_SAME, NN_ACT_NONE);
  x = nn_conv2d(g, x, pw, b, 1, 1, cout, 1, NN_VALID, NN_ACT_NONE);
  return leaky(g, x);
}

int fk_tiny_build(const nn_weights *w, int size, nn_graph **out, char *err,
                  size_t errlen) {
  *out = NULL;
  if (!w || size < 64 || size > 2048 || size % 32) {
    if (errlen) snprintf(err, errlen, "tiny: invalid input size %d", size);
    return FK_EINVAL;
  }
  nn_graph *g = nn_graph_new(size, size, 3);
  if (!g) {
    if (errlen) snprintf(err, errlen, "tiny: out of memory");
    return FK_ENOMEM;
  }
  nn_wlookup l = {w, err, errlen, 0};
  const float *w0 = nn_wlookup_get(&l, 9 * 3 * 16, "conv0/filters");
  const float *b0 = nn_wlookup_get(&l, 16, "conv0/bias");
  int x = -1;
  if (w0 && b0) {
    x = nn_conv2d(g, 0, w0, b0, 3, 3, 16, 1, NN_VALID, NN_ACT_NONE);
    x = leaky(g, x);
  }
  x = nn_maxpool(g, x, 2, 2, NN_SAME);
  for (int i = 1; i <= 5; i++) {
    x = separable(g, &l, x, i, tiny_filters[i], tiny_filters[i + 1]);
    x = nn_maxpool(g, x, 2, i < 5 ? 2 : 1, NN_SAME);
  }
  const int nout = TINY_ANCHORS * 5;
  const float *w8 = nn_wlookup_get(&l, (size_t)512 * nout, "conv8/filters");
  const float *b8 = nn_wlookup_get(&l, (size_t)nout, "conv8/bias");
  if (w8 && b8)
    nn_mark_output(g, nn_conv2d(g, x, w8, b8, 1, 1, nout, 1, NN_VALID,
                                NN_ACT_NONE));

  int rc = l.failed ? FK_EMODEL : nn_graph_status(g);
  if (rc != FK_OK) {
    if (!l.failed && errlen) snprintf(err, errlen, "tiny: %s", g->err);
    nn_graph_free(g);
    return rc;
  }
  *out = g;
  return FK_OK;
}

void fk_tiny_input(const fk_image *img, int size, float *input) {
  fk_rect all = {0, 0, img->width, img->height};
  fk_crop_to_square_tensor(img, all, 0, size, input);
  size_t npix = (size_t)size * size;
  for (size_t i = 0; i < npix; i++)
    for (int c = 0; c < 3; c++)
      input[3 * i + c] = (input[3 * i + c] - tiny_mean_rgb[c]) / 255.0f;
}

typedef struct tiny_cand {
  double score;
  int idx;
  double l, t, r, b; /* relative to the input square, face-api's BoundingBox */
} tiny_cand;

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* Highest score first; among equal scores the later cell first, as face-api
 * pops the end of an ascending stable sort. */
static int cand_cmp(const void *pa, const void *pb) {
  const tiny_cand *a = pa, *b = pb;
  if (a->score != b->score) return a->score < b->score ? 1 : -1;
  return (a->idx < b->idx) - (a->idx > b->idx);
}

/* ops/iou.ts on boxes rescaled to input pixels (x * size, width * size). */
static double tiny_iou(const tiny_cand *p, const tiny_cand *q, double s) {
  double px = p->l * s, py = p->t * s, pw = (p->r - p->l) * s,
         ph = (p->b - p->t) * s;
  double qx = q->l * s, qy = q->t * s, qw = (q->r - q->l) * s,
         qh = (q->b - q->t) * s;
  double w = fmax(0.0, fmin(px + pw, qx + qw) - fmax(px, qx));
  double h = fmax(0.0, fmin(py + ph, qy + qh) - fmax(py, qy));
  double inter = w * h;
  return inter / (pw * ph + qw * qh - inter);
}

int fk_tiny_decode(const nn_runtime *rt, int size, int img_w, int img_h,
                   float min_score, fk_det *dets, int cap, int *n) {
  *n = 0;
  const float *out = rt ? nn_runtime_output(rt, 0) : NULL;
  if (!out || size < 64 || size % 32 || img_w <= 0 || img_h <= 0 || cap < 0)
    return FK_EINVAL;
  int cells = size / 32;

  /* TinyYolov2Base.extractBoxes: the correction factors undo the
   * bottom/right padding of the non-square image. */
  double scale = (double)size / (img_w > img_h ? img_w : img_h);
  double rw = floor(img_w * scale + 0.5), rh = floor(img_h * scale + 0.5);
  double in_size = fmax(rw, rh);
  double cfx = in_size / rw, cfy = in_size / rh;

  size_t total = (size_t)cells * cells * TINY_ANCHORS;
  tiny_cand *cand = malloc(total * sizeof *cand);
  if (!cand) return FK_ENOMEM;
  int nc = 0;
  for (int row = 0; row < cells; row++) {
    for (int col = 0; col < cells; col++) {
      for (int k = 0; k < TINY_ANCHORS; k++) {
        int idx = (row * cells + col) * TINY_ANCHORS + k;
        const float *v = out + (size_t)idx * 5;
        double score = sigmoid(v[4]);
        if (min_score != 0 && !(score > min_score)) continue;
        double cx = ((col + sigmoid(v[0])) / cells) * cfx;
        double cy = ((row + sigmoid(v[1])) / cells) * cfy;
        double w = ((exp(v[2]) * tiny_anchor_wh[k][0]) / cells) * cfx;
        double h = ((exp(v[3]) * tiny_anchor_wh[k][1]) / cells) * cfy;
        tiny_cand *c = &cand[nc++];
        c->score = score;
        c->idx = idx;
        c->l = cx - w / 2;
        c->t = cy - h / 2;
        c->r = c->l + w;
        c->b = c->t + h;
      }
    }
  }
  qsort(cand, (size_t)nc, sizeof *cand, cand_cmp);

  /* ops/nonMaxSuppression.ts: take the best, drop the rest with IoU > 0.4. */
  int kept = 0;
  for (int i = 0; i < nc; i++) {
    int keep = 1;
    for (int j = 0; j < kept && keep; j++)
      if (!(tiny_iou(&cand[j], &cand[i], size) <= TINY_IOU)) keep = 0;
    if (keep) cand[kept++] = cand[i];
  }

  for (int i = 0; i < kept && i < cap; i++) {
    const tiny_cand *c = &cand[i];
    dets[i].x = (float)(c->l * img_w);
    dets[i].y = (float)(c->t * img_h);
    dets[i].w = (float)((c->r - c->l) * img_w);
    dets[i].h = (float)((c->b - c->t) * img_h);
    dets[i].score = (float)c->score;
  }
  *n = kept;
  free(cand);
  return FK_OK;
}

/* ---- the detector's operations (models.h) ---- */

static int tiny_decode_op(const nn_runtime *rt, const void *state, int size, int img_w, int img_h,
                          float min_score, fk_det *dets, int cap, int *n) {
  (void)state;
  return fk_tiny_decode(rt, size, img_w, img_h, min_score, dets, cap, n);
}

const fk_detector_def fk_tiny_detector = {
    .size_option = offsetof(fk_options, tiny_input_size),
    .default_size = FK_TINY_DEFAULT_SIZE,
    .build = fk_tiny_build,
    .input = fk_tiny_input,
    .decode = tiny_decode_op,
};
