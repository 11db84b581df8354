/*
 * landmarks.c - face-api's FaceLandmark68Net: 68 facial points from a face box.
 *
 * Input   the detection box clipped to the image and floored (face-api's
 *         extractFaceTensors: Box.clipAtImageBorders), zero-padded centred to a
 *         square, resized to 112x112 (TF legacy bilinear), then
 *         (x - fk_faceapi_mean_rgb) / 255: [112][112][3].
 * Network FaceFeatureExtractor, four denseBlock4 of 32, 64, 128 and 256
 *         channels, each halving the side (112 -> 56 -> 28 -> 14 -> 7); then
 *         avgPool 7x7 stride 2 VALID -> [1][1][256] and fc 256 -> 136.
 * Output  136 values x0 y0 x1 y1 ..., in [0, 1] of the padded square.
 * Decode  FaceLandmark68NetBase.postProcess (in float32, as TF does), then
 *         FaceLandmarks scaling to the crop's pixels and the shift by the
 *         detection's unfloored x, y that extendWithFaceLandmarks applies.
 *
 * Weights (face_landmark_68_model): dense{0..3}/conv{0..3}/..., where
 * dense0/conv0 is a plain conv (filters, bias) and every other conv is a
 * separable conv (depthwise_filter without bias, pointwise_filter, bias);
 * fc/weights [256][136] and fc/bias [136].
 *
 * Shared through models.h: the feature extractor (dense blocks and pooling,
 * fk_face_features) with expression.c, the separable conv
 * (fk_separable_conv) also with agegender.c, and the clip (fk_faceapi_clip_box)
 * with fk_attr_box.
 */
#include <math.h>
#include <stdio.h>

#include "models/models.h"

/* A build step's graph and weights; the lookup's failure is sticky like the
 * graph's, so the net is described in one go and checked once. */
typedef struct build_ctx {
  nn_graph *g;
  nn_wlookup *wl;
} build_ctx;

/* depthwiseSeparableConv.ts: 3x3 depthwise (no bias), 1x1 pointwise + bias,
 * both SAME, with `act` fused into the pointwise conv. */
int fk_separable_conv(nn_graph *g, nn_wlookup *wl, const char *prefix, int x,
                      int cin, int cout, int stride, nn_act act) {
  const float *dw =
      nn_wlookup_get(wl, (size_t)9 * cin, "%s/depthwise_filter", prefix);
  const float *pw =
      nn_wlookup_get(wl, (size_t)cin * cout, "%s/pointwise_filter", prefix);
  const float *b = nn_wlookup_get(wl, (size_t)cout, "%s/bias", prefix);
  if (!dw || !pw || !b) return -1;
  int t = nn_depthwise(g, x, dw, NULL, 3, 3, stride, NN_SAME, NN_ACT_NONE);
  return nn_conv2d(g, t, pw, b, 1, 1, cout, 1, NN_SAME, act);
}

/* dense<block>/conv<conv> as a separable conv; act is the relu that
 * denseBlock4 applies to conv0. */
static int sep_conv(build_ctx *c, int block, int conv, int x, int cin, int cout,
                    int stride, nn_act act) {
  char prefix[32];
  snprintf(prefix, sizeof prefix, "dense%d/conv%d", block, conv);
  return fk_separable_conv(c->g, c->wl, prefix, x, cin, cout, stride, act);
}

/* denseBlock.ts denseBlock4, with its exact add nesting:
 *   out1 = relu(conv0(x))            stride 2
 *   out2 = conv1(out1)
 *   out3 = conv2(relu(out1 + out2))
 *   out4 = conv3(relu(out1 + (out2 + out3)))
 *   return relu(out1 + (out2 + (out3 + out4))) */
static int dense_block4(build_ctx *c, int block, int x, int cin, int cout) {
  nn_graph *g = c->g;
  int out1;
  if (block == 0) {
    const float *f =
        nn_wlookup_get(c->wl, (size_t)9 * cin * cout, "dense0/conv0/filters");
    const float *b = nn_wlookup_get(c->wl, (size_t)cout, "dense0/conv0/bias");
    out1 = f && b ? nn_conv2d(g, x, f, b, 3, 3, cout, 2, NN_SAME, NN_ACT_RELU)
                  : -1;
  } else {
    out1 = sep_conv(c, block, 0, x, cin, cout, 2, NN_ACT_RELU);
  }
  int out2 = sep_conv(c, block, 1, out1, cout, cout, 1, NN_ACT_NONE);
  int in3 = nn_add(g, out1, out2, NN_ACT_RELU);
  int out3 = sep_conv(c, block, 2, in3, cout, cout, 1, NN_ACT_NONE);
  int in4 = nn_add(g, out1, nn_add(g, out2, out3, NN_ACT_NONE), NN_ACT_RELU);
  int out4 = sep_conv(c, block, 3, in4, cout, cout, 1, NN_ACT_NONE);
  int sum = nn_add(g, out3, out4, NN_ACT_NONE);
  sum = nn_add(g, out2, sum, NN_ACT_NONE);
  return nn_add(g, out1, sum, NN_ACT_RELU);
}

/* FaceFeatureExtractor.forwardInput after normalization: four denseBlock4
 * (the first with a plain conv0) and avgPool 7x7 stride 2 VALID. */
int fk_face_features(nn_graph *g, nn_wlookup *wl, int x) {
  static const int channels[4] = {32, 64, 128, 256};
  build_ctx c = {g, wl};
  int cin = 3;
  for (int b = 0; b < 4; b++) {
    x = dense_block4(&c, b, x, cin, channels[b]);
    cin = channels[b];
  }
  return nn_avgpool(g, x, 7, 2);
}

int fk_landmarks_build(const nn_weights *w, nn_graph **out, char *err,
                       size_t errlen) {
  *out = NULL;
  if (err && errlen) err[0] = '\0';
  nn_graph *g = nn_graph_new(FK_LANDMARKS_SIZE, FK_LANDMARKS_SIZE, 3);
  if (!g) return FK_ENOMEM;
  nn_wlookup wl = {w, err, errlen, 0};

  int x = fk_face_features(g, &wl, 0);
  const float *fw = nn_wlookup_get(&wl, (size_t)256 * 136, "fc/weights");
  const float *fb = nn_wlookup_get(&wl, 136, "fc/bias");
  x = fw && fb ? nn_fc(g, x, fw, fb, 136, NN_ACT_NONE) : -1;

  if (wl.failed) {
    nn_graph_free(g);
    return FK_EMODEL;
  }
  int st = nn_graph_status(g);
  if (st == FK_OK && (g->shapes[x].h != 1 || g->shapes[x].w != 1 ||
                      g->shapes[x].c != 136)) {
    st = FK_EMODEL;
    snprintf(g->err, sizeof g->err, "landmarks: unexpected output shape");
  }
  if (st != FK_OK) {
    if (err && errlen) snprintf(err, errlen, "landmarks: %s", g->err);
    nn_graph_free(g);
    return st;
  }
  nn_mark_output(g, x);
  *out = g;
  return FK_OK;
}

/* Box.clipAtImageBorders in doubles, as JS numbers: clip the left/top edge
 * at 0, the width/height at the image, then floor all four. */
int fk_faceapi_clip_box(double x, double y, double w, double h, int img_w,
                        int img_h, fk_rect *box) {
  *box = (fk_rect){0, 0, 0, 0};
  double right = x + w, bottom = y + h;
  if (!isfinite(right) || !isfinite(bottom) || img_w <= 0 || img_h <= 0)
    return 0;
  double cx = fmax(x, 0.0), cy = fmax(y, 0.0);
  double cw = fmin(right - cx, (double)img_w - cx);
  double ch = fmin(bottom - cy, (double)img_h - cy);
  /* floor(cw) > 0 iff cw >= 1; that also bounds cx, cy below the image. */
  if (!(cw >= 1.0) || !(ch >= 1.0)) return 0;
  *box = (fk_rect){(int)floor(cx), (int)floor(cy), (int)floor(cw),
                   (int)floor(ch)};
  return 1;
}

int fk_landmarks_box(const fk_det *d, int img_w, int img_h, fk_rect *box) {
  return fk_faceapi_clip_box(d->x, d->y, d->w, d->h, img_w, img_h, box);
}

void fk_landmarks_input(const fk_image *img, fk_rect box, float *input) {
  const int n = FK_LANDMARKS_SIZE * FK_LANDMARKS_SIZE;
  fk_crop_to_square_tensor(img, box, 1, FK_LANDMARKS_SIZE, input);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 3; k++)
      input[3 * i + k] = (input[3 * i + k] - fk_faceapi_mean_rgb[k]) / 255.0f;
}

/*
 * postProcess works on the crop scaled so its long side is 112 (JS doubles),
 * removes half the size difference from the short side's coordinates and
 * divides by the scaled side, in float32 tensors. With an odd difference
 * that half-pixel is not what padToSquare really added (round(d/2) after,
 * the rest before); face-api lives with that, and so do we. The relative
 * points are then scaled by the crop's size and shifted by the detection's
 * own x, y: not the clipped, floored crop origin.
 */
void fk_landmarks_decode(const float *out136, const fk_det *det, fk_rect box,
                         fk_point pts[FK_NUM_LANDMARKS]) {
  const double w = box.w, h = box.h;
  const double scale = FK_LANDMARKS_SIZE / fmax(h, w);
  const double sw = w * scale, sh = h * scale;
  const float pad_x = (float)(sw < sh ? fabs(sw - sh) / 2 : 0.0);
  const float pad_y = (float)(sh < sw ? fabs(sw - sh) / 2 : 0.0);
  const float fsw = (float)sw, fsh = (float)sh;
  const float size = (float)FK_LANDMARKS_SIZE;
  for (int i = 0; i < FK_NUM_LANDMARKS; i++) {
    float rx = (out136[2 * i] * size - pad_x) / fsw;
    float ry = (out136[2 * i + 1] * size - pad_y) / fsh;
    pts[i].x = (float)((double)rx * w + (double)det->x);
    pts[i].y = (float)((double)ry * h + (double)det->y);
  }
}

/* ---- the landmark net's operations (models.h) ---- */

const fk_landmarker_def fk_faceapi_landmarker = {
    .crop = fk_landmarks_box,
    .input = fk_landmarks_input,
    .decode = fk_landmarks_decode,
};
