/*
 * ssd.c - the SSD-MobileNetV1 face detector of face-api (ssdMobilenetv1/).
 *
 * Input   size x size x 3 (size a multiple of 32, face-api uses 512): the
 *         image zero-padded bottom/right to a square, resized with TF legacy
 *         bilinear, scaled to x / 127.5 - 1.
 * Network MobileNetV1 (conv 3x3/2, then 13 depthwise + pointwise pairs, the
 *         depthwise batchnorm folded into its weights, relu6 everywhere),
 *         then 8 extra convs and 6 box predictors on feature maps of strides
 *         16 (conv 11), 32 (conv 13), 64, 128, 256, 512.
 * Outputs 12 tensors, box0, cls0, ..., box5, cls5: per cell and anchor, 4 box
 *         encodings [ty, tx, th, tw] and 3 class logits (background, face,
 *         unused); concatenated in that order they match the anchors.
 * Decode  anchors from TF Object Detection's ssd_anchor_generator (equal to
 *         the stored Output/extra_dim at 512), variances 10, 10, 5, 5, score
 *         sigmoid(logit 1), face-api's greedy NMS at IoU 0.5, and face-api's
 *         box scaling to image pixels (SsdMobilenetv1.locateFaces).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/models.h"

#define SSD_LAYERS 6
#define SSD_BN_EPS 0.0010000000474974513

/* Output channels of MobileNetV1's pointwise convs 0..13. */
static const int mobilenet_cout[14] = {32,  64,  128, 128, 256, 256, 512,
                                       512, 512, 512, 512, 512, 1024, 1024};
/* Output channels and kernel sizes of the Prediction/Conv2d_i convs. */
static const int pred_cout[8] = {256, 512, 128, 256, 128, 256, 64, 128};
/* Anchors per cell of each prediction layer. */
static const int layer_anchors[SSD_LAYERS] = {3, 6, 6, 6, 6, 6};

/* face-api's pointwiseConvLayer: conv 'same', + batch_norm_offset, relu6. */
static int pointwise(nn_graph *g, nn_wlookup *c, int x, const char *prefix,
                     int idx, int k, int cin, int cout, int stride) {
  const float *wt =
      nn_wlookup_get(c, (size_t)k * k * cin * cout,
                     "%s/Conv2d_%d_pointwise/weights", prefix, idx);
  const float *b =
      nn_wlookup_get(c, (size_t)cout,
                     "%s/Conv2d_%d_pointwise/convolution_bn_offset", prefix,
                     idx);
  if (!wt || !b) return -1;
  return nn_conv2d(g, x, wt, b, k, k, cout, stride, NN_SAME, NN_ACT_RELU6);
}

/* face-api's depthwiseConvLayer: depthwise 3x3 'same', batchnorm, relu6. The
 * batchnorm (x - mean) * gamma / sqrt(var + eps) + beta is folded into the
 * weights and a bias. */
static int depthwise_bn(nn_graph *g, nn_wlookup *c, int x, int idx, int ch,
                        int stride) {
  static const char *parts[5] = {"depthwise_weights", "BatchNorm/gamma",
                                 "BatchNorm/beta", "BatchNorm/moving_mean",
                                 "BatchNorm/moving_variance"};
  const float *p[5];
  for (int i = 0; i < 5; i++) {
    p[i] = nn_wlookup_get(c, i == 0 ? (size_t)9 * ch : (size_t)ch,
                          "MobilenetV1/Conv2d_%d_depthwise/%s", idx, parts[i]);
    if (!p[i]) return -1;
  }
  float *wf = malloc((size_t)9 * ch * sizeof *wf);
  float *bf = malloc((size_t)ch * sizeof *bf);
  int t = -1;
  if (wf && bf) {
    for (int k = 0; k < ch; k++) {
      double s = p[1][k] / sqrt((double)p[4][k] + SSD_BN_EPS);
      bf[k] = (float)(p[2][k] - p[3][k] * s);
      for (int j = 0; j < 9; j++) wf[j * ch + k] = (float)(p[0][j * ch + k] * s);
    }
    t = nn_depthwise(g, x, wf, bf, 3, 3, stride, NN_SAME, NN_ACT_RELU6);
  } else {
    snprintf(c->err, c->errlen, "out of memory");
    c->failed = 1;
  }
  free(wf);
  free(bf);
  return t;
}

/* face-api's boxPredictionLayer: two 1x1 'same' convs with bias. */
static void box_predictor(nn_graph *g, nn_wlookup *c, int x, int idx,
                          int cin) {
  static const char *kinds[2] = {"BoxEncodingPredictor", "ClassPredictor"};
  const int per_anchor[2] = {4, 3};
  for (int i = 0; i < 2; i++) {
    int cout = layer_anchors[idx] * per_anchor[i];
    const float *wt =
        nn_wlookup_get(c, (size_t)cin * cout,
                       "Prediction/BoxPredictor_%d/%s/weights", idx, kinds[i]);
    const float *b =
        nn_wlookup_get(c, (size_t)cout, "Prediction/BoxPredictor_%d/%s/biases",
                       idx, kinds[i]);
    if (!wt || !b) return;
    nn_mark_output(g, nn_conv2d(g, x, wt, b, 1, 1, cout, 1, NN_SAME,
                                NN_ACT_NONE));
  }
}

int fk_ssd_build(const nn_weights *w, int size, nn_graph **out, char *err,
                 size_t errlen) {
  *out = NULL;
  if (!w || size < 64 || size > 2048 || size % 32) {
    if (errlen) snprintf(err, errlen, "ssd: invalid input size %d", size);
    return FK_EINVAL;
  }
  nn_graph *g = nn_graph_new(size, size, 3);
  if (!g) {
    if (errlen) snprintf(err, errlen, "ssd: out of memory");
    return FK_ENOMEM;
  }
  nn_wlookup c = {w, err, errlen, 0};

  /* MobileNetV1; depthwise layers 2, 4, 6 and 12 have stride 2. */
  int x = pointwise(g, &c, 0, "MobilenetV1", 0, 3, 3, mobilenet_cout[0], 2);
  int conv11 = -1;
  for (int i = 1; i <= 13; i++) {
    int stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
    x = depthwise_bn(g, &c, x, i, mobilenet_cout[i - 1], stride);
    x = pointwise(g, &c, x, "MobilenetV1", i, 1, mobilenet_cout[i - 1],
                  mobilenet_cout[i], 1);
    if (i == 11) conv11 = x;
  }

  /* Prediction layer: 1x1 / 3x3-stride-2 pairs. */
  int feat[SSD_LAYERS] = {conv11, x};
  int cin = 1024, y = x;
  for (int i = 0; i < 8; i++) {
    int k = (i & 1) ? 3 : 1;
    y = pointwise(g, &c, y, "Prediction", i, k, cin, pred_cout[i],
                  (i & 1) ? 2 : 1);
    cin = pred_cout[i];
    if (i & 1) feat[2 + i / 2] = y;
  }
  const int feat_c[SSD_LAYERS] = {512, 1024, 512, 256, 256, 128};
  for (int i = 0; i < SSD_LAYERS; i++) box_predictor(g, &c, feat[i], i, feat_c[i]);

  int rc = c.failed ? FK_EMODEL : nn_graph_status(g);
  if (rc != FK_OK) {
    if (!c.failed && errlen) snprintf(err, errlen, "ssd: %s", g->err);
    nn_graph_free(g);
    return rc;
  }
  *out = g;
  return FK_OK;
}

/* Side of each prediction layer's grid: TF 'same' stride-2 convs give
 * ceil(in / 2) per step; layer 0 is conv 11 (stride 16). */
static void ssd_grids(int size, int grid[SSD_LAYERS]) {
  grid[0] = (size + 15) / 16;
  grid[1] = (size + 31) / 32;
  for (int i = 2; i < SSD_LAYERS; i++) grid[i] = (grid[i - 1] + 1) / 2;
}

static int ssd_anchor_count(int size) {
  int grid[SSD_LAYERS], n = 0;
  ssd_grids(size, grid);
  for (int i = 0; i < SSD_LAYERS; i++) n += grid[i] * grid[i] * layer_anchors[i];
  return n;
}

/*
 * TF Object Detection's create_ssd_anchors + MultipleGridAnchorGenerator for
 * the ssd_mobilenet_v1 config (num_layers 6, scales 0.2..0.95, aspect ratios
 * 1, 2, 0.5, 3, 0.3333, reduce_boxes_in_lowest_layer, interpolated scale with
 * aspect ratio 1), square image, default strides (1 / grid) and offsets
 * (stride / 2). Order: layer, row, column, then the cell's anchors as
 * (scale, aspect) = layer 0: (0.1, 1), (0.2, 2), (0.2, 0.5); layer l > 0:
 * (s, 1), (sqrt(s * s_next), 1), (s, 2), (s, 0.5), (s, 3), (s, 0.3333).
 * TF computes in float32 and we do the same, so the corners agree with
 * Output/extra_dim to an ulp or two (max 1.2e-7). The centres and sizes are
 * then derived from the corners in float32 exactly as face-api's outputLayer
 * does.
 */
int fk_ssd_anchors_make(int size, fk_ssd_anchors *a) {
  memset(a, 0, sizeof *a);
  if (size < 64 || size > 2048 || size % 32) return FK_EINVAL;
  int grid[SSD_LAYERS];
  ssd_grids(size, grid);
  int n = ssd_anchor_count(size);
  a->yxhw = malloc((size_t)n * 4 * sizeof *a->yxhw);
  if (!a->yxhw) return FK_ENOMEM;
  a->n = n;

  static const double ratios[5] = {1.0, 2.0, 0.5, 3.0, 0.3333};
  double scales[SSD_LAYERS + 1];
  for (int i = 0; i < SSD_LAYERS; i++)
    scales[i] = 0.2 + (0.95 - 0.2) * i / (SSD_LAYERS - 1);
  scales[SSD_LAYERS] = 1.0;

  /* The box predictors learned anchor sizes in pixels of a 512 input, not
   * in fractions of the image: at another input size the same pixel sizes
   * keep the predicted boxes right (measured: with size-relative anchors,
   * boxes shrink in proportion to the input size). At 512 this is 1. */
  float pixel_scale = 512.0f / (float)size;
  float *o = a->yxhw;
  for (int l = 0; l < SSD_LAYERS; l++) {
    float sc[6], ar[6];
    int na = layer_anchors[l];
    if (l == 0) {
      sc[0] = 0.1f, ar[0] = 1.0f;
      sc[1] = (float)scales[0], ar[1] = 2.0f;
      sc[2] = (float)scales[0], ar[2] = 0.5f;
    } else {
      /* The 2017 create_ssd_anchors that exported this model inserts the
       * interpolated scale right after aspect ratio 1.0 (later versions
       * append it last). */
      for (int j = 0, k = 0; j < 5; j++) {
        sc[k] = (float)scales[l], ar[k++] = (float)ratios[j];
        if (ratios[j] == 1.0)
          sc[k] = (float)sqrt(scales[l] * scales[l + 1]), ar[k++] = 1.0f;
      }
    }
    float hs[6], ws[6];
    for (int j = 0; j < na; j++) {
      float r = sqrtf(ar[j]);
      hs[j] = sc[j] / r * pixel_scale;
      ws[j] = sc[j] * r * pixel_scale;
    }
    float stride = 1.0f / (float)grid[l], offset = 0.5f * stride;
    for (int gy = 0; gy < grid[l]; gy++) {
      for (int gx = 0; gx < grid[l]; gx++) {
        float cy = (float)gy * stride + offset, cx = (float)gx * stride + offset;
        for (int j = 0; j < na; j++) {
          float ymin = cy - 0.5f * hs[j], xmin = cx - 0.5f * ws[j];
          float ymax = cy + 0.5f * hs[j], xmax = cx + 0.5f * ws[j];
          float h = ymax - ymin, w = xmax - xmin;
          o[0] = ymin + h / 2;
          o[1] = xmin + w / 2;
          o[2] = h;
          o[3] = w;
          o += 4;
        }
      }
    }
  }
  return FK_OK;
}

void fk_ssd_anchors_free(fk_ssd_anchors *a) {
  if (!a) return;
  free(a->yxhw);
  a->yxhw = NULL;
  a->n = 0;
}

void fk_ssd_input(const fk_image *img, int size, float *input) {
  fk_rect all = {0, 0, img->width, img->height};
  fk_crop_to_square_tensor(img, all, 0, size, input);
  size_t n = (size_t)size * size * 3;
  for (size_t i = 0; i < n; i++) input[i] = input[i] / 127.5f - 1.0f;
}

typedef struct ssd_cand {
  float score;
  int idx;
  float box[4]; /* ymin, xmin, ymax, xmax, normalized */
} ssd_cand;

/* Descending score; equal scores keep anchor order (JS's sort is stable). */
static int cand_cmp(const void *pa, const void *pb) {
  const ssd_cand *a = pa, *b = pb;
  if (a->score != b->score) return a->score < b->score ? 1 : -1;
  return (a->idx > b->idx) - (a->idx < b->idx);
}

/* face-api's ssdMobilenetv1 IOU: corners re-ordered with min/max, 0 when
 * either box is empty. */
static double ssd_iou(const float *a, const float *b) {
  double ay0 = fminf(a[0], a[2]), ax0 = fminf(a[1], a[3]);
  double ay1 = fmaxf(a[0], a[2]), ax1 = fmaxf(a[1], a[3]);
  double by0 = fminf(b[0], b[2]), bx0 = fminf(b[1], b[3]);
  double by1 = fmaxf(b[0], b[2]), bx1 = fmaxf(b[1], b[3]);
  double area_a = (ay1 - ay0) * (ax1 - ax0);
  double area_b = (by1 - by0) * (bx1 - bx0);
  if (area_a <= 0 || area_b <= 0) return 0.0;
  double ih = fmin(ay1, by1) - fmax(ay0, by0);
  double iw = fmin(ax1, bx1) - fmax(ax0, bx0);
  double inter = fmax(ih, 0.0) * fmax(iw, 0.0);
  return inter / (area_a + area_b - inter);
}

/* face-api's outputLayer decode, in float32 and in the same op order. */
static void ssd_decode_box(const float *anc, const float *enc, float *box) {
  float hh = expf(enc[2] / 5.0f) * anc[2] / 2.0f;
  float cy = enc[0] / 10.0f * anc[2] + anc[0];
  float hw = expf(enc[3] / 5.0f) * anc[3] / 2.0f;
  float cx = enc[1] / 10.0f * anc[3] + anc[1];
  box[0] = cy - hh;
  box[1] = cx - hw;
  box[2] = cy + hh;
  box[3] = cx + hw;
}

int fk_ssd_decode(const nn_runtime *rt, const fk_ssd_anchors *a, int size,
                  int img_w, int img_h, float min_score, int max_results,
                  fk_det *dets, int cap, int *n) {
  *n = 0;
  if (!rt || !a || !a->yxhw || a->n != ssd_anchor_count(size) || img_w <= 0 ||
      img_h <= 0 || max_results < 0 || cap < 0)
    return FK_EINVAL;
  int grid[SSD_LAYERS];
  ssd_grids(size, grid);

  /* Candidates: sigmoid(face logit) > min_score. */
  int ncand = 0;
  ssd_cand *cand = NULL;
  for (int pass = 0; pass < 2; pass++) {
    int k = 0, c = 0;
    for (int l = 0; l < SSD_LAYERS; l++) {
      const float *box = nn_runtime_output(rt, 2 * l);
      const float *cls = nn_runtime_output(rt, 2 * l + 1);
      if (!box || !cls) {
        free(cand);
        return FK_EINVAL;
      }
      int m = grid[l] * grid[l] * layer_anchors[l];
      for (int i = 0; i < m; i++, k++) {
        float score = 1.0f / (1.0f + expf(-cls[3 * i + 1]));
        if (!(score > min_score)) continue;
        if (pass == 1) {
          cand[c].score = score;
          cand[c].idx = k;
          ssd_decode_box(a->yxhw + 4 * (size_t)k, box + 4 * (size_t)i, cand[c].box);
        }
        c++;
      }
    }
    if (pass == 0) {
      ncand = c;
      if (ncand == 0) return FK_OK;
      cand = malloc((size_t)ncand * sizeof *cand);
      if (!cand) return FK_ENOMEM;
    }
  }
  qsort(cand, (size_t)ncand, sizeof *cand, cand_cmp);

  /* Greedy NMS: keep a candidate unless it overlaps a kept one by > 0.5.
   * Kept candidates are compacted to the front of cand[]. */
  int limit = max_results < a->n ? max_results : a->n, kept = 0;
  for (int i = 0; i < ncand && kept < limit; i++) {
    int keep = 1;
    for (int j = kept - 1; j >= 0 && keep; j--)
      if (ssd_iou(cand[i].box, cand[j].box) > 0.5) keep = 0;
    if (keep) cand[kept++] = cand[i];
  }

  /* face-api's scaling: boxes are relative to the padded square, so undo the
   * padding with size / reshaped dims, then scale to the image. */
  double scale = (double)size / (img_w > img_h ? img_w : img_h);
  double pad_x = size / floor(img_w * scale + 0.5);
  double pad_y = size / floor(img_h * scale + 0.5);
  for (int i = 0; i < kept && i < cap; i++) {
    const float *b = cand[i].box;
    double top = fmax(0.0, b[0]) * pad_y, bottom = fmin(1.0, b[2]) * pad_y;
    double left = fmax(0.0, b[1]) * pad_x, right = fmin(1.0, b[3]) * pad_x;
    dets[i].x = (float)(left * img_w);
    dets[i].y = (float)(top * img_h);
    dets[i].w = (float)((right - left) * img_w);
    dets[i].h = (float)((bottom - top) * img_h);
    dets[i].score = cand[i].score;
  }
  *n = kept;
  free(cand);
  return FK_OK;
}

/* ---- the detector's operations (models.h) ---- */

const int fk_ssd_auto_sizes[FK_SSD_AUTO_SIZES] = {256, 384, 512};

static int ssd_state_new(int size, void **state) {
  fk_ssd_anchors *a = calloc(1, sizeof *a);
  if (!a) return FK_ENOMEM;
  int rc = fk_ssd_anchors_make(size, a);
  if (rc) {
    free(a);
    return rc;
  }
  *state = a;
  return FK_OK;
}

static void ssd_state_free(void *state) {
  fk_ssd_anchors_free(state);
  free(state);
}

/* NMS keeps at most cap boxes: the session's max faces. */
static int ssd_decode_op(const nn_runtime *rt, const void *state, int size, int img_w, int img_h,
                         float min_score, fk_det *dets, int cap, int *n) {
  return fk_ssd_decode(rt, state, size, img_w, img_h, min_score, cap, dets, cap, n);
}

const fk_detector_def fk_ssd_detector = {
    .size_option = offsetof(fk_options, ssd_input_size),
    .nauto = FK_SSD_AUTO_SIZES,
    .auto_sizes = fk_ssd_auto_sizes,
    .build = fk_ssd_build,
    .state_new = ssd_state_new,
    .state_free = ssd_state_free,
    .input = fk_ssd_input,
    .decode = ssd_decode_op,
};
