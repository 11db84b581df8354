/*
 * agegender.c - face-api's AgeGenderNet: age in years and P(male) of a face.
 *
 * Input   face-api's alignedRect crop (fk_attr_box: the 68 landmarks' bounding
 *         box padded by 20%, clipped and floored), zero-padded centred to a
 *         square, resized to 112x112 (TF legacy bilinear), then
 *         (x - fk_faceapi_mean_rgb) / 255: [112][112][3]. The same
 *         preprocessing as the landmark net (TinyXception.forwardInput and
 *         FaceFeatureExtractor.forwardInput both call toBatchTensor(112, true)
 *         and normalize), so fk_landmarks_input() prepares it.
 * Network TinyXception with 2 main blocks:
 *           conv_in 3x3 stride 2 + bias, relu          112 -> 56, 32 ch
 *           entry reduction_block_0 (input not relu'd)  56 -> 28, 64 ch
 *           entry reduction_block_1                     28 -> 14, 128 ch
 *           middle main_block_0, main_block_1           14, 128 ch
 *           exit reduction_block                        14 -> 7, 256 ch
 *           exit separable_conv, relu                   7, 512 ch
 *         then avgPool 7x7 stride 2 VALID -> [1][1][512] and two fc heads:
 *         fc/age 512 -> 1 and fc/gender 512 -> 2.
 * Output  0: age [1], a raw regression in years; 1: gender logits [2].
 * Decode  softmax of the gender logits; index 0 is P(male) (AgeGenderNet.
 *         predictAgeAndGender reads probMale from [0]).
 *
 * Weights (age_gender_model): entry_flow/conv_in/{filters,bias};
 * <block>/separable_conv<k>/{depthwise_filter,pointwise_filter,bias} for the
 * separable convs; <reduction block>/expansion_conv/{filters,bias} (1x1);
 * exit_flow/separable_conv/...; fc/age/{weights,bias}, fc/gender/{...}.
 *
 * TF applies relu to a block's input while the block's shortcut reads it
 * unactivated, so those relus are separate ops (a leaky relu with slope 0);
 * every other relu is fused into the conv before it.
 */
#include <math.h>
#include <stdio.h>

#include "models/models.h"

#define AG_OUT_AGE 0
#define AG_OUT_GENDER 1

/* The graph being built and its sticky weight lookup, as in landmarks.c. */
typedef struct build_ctx {
  nn_graph *g;
  nn_wlookup wl;
} build_ctx;

static int relu(build_ctx *c, int x) { return nn_leaky_relu(c->g, x, 0.0f); }

static int sep_conv(build_ctx *c, const char *block, int k, int x, int cin,
                    int cout, nn_act act) {
  char prefix[96];
  snprintf(prefix, sizeof prefix, "%s/separable_conv%d", block, k);
  return fk_separable_conv(c->g, &c->wl, prefix, x, cin, cout, 1, act);
}

/* TinyXception.ts conv(): k x k SAME conv + bias, no activation. */
static int conv(build_ctx *c, const char *name, int x, int k, int cin,
                int cout, int stride, nn_act act) {
  const float *f = nn_wlookup_get(&c->wl, (size_t)k * k * cin * cout,
                                  "%s/filters", name);
  const float *b = nn_wlookup_get(&c->wl, (size_t)cout, "%s/bias", name);
  if (!f || !b) return -1;
  return nn_conv2d(c->g, x, f, b, k, k, cout, stride, NN_SAME, act);
}

/* reductionBlock:
 *   out = sep0(relu(x) or x); out = sep1(relu(out));
 *   return maxPool 3x3 stride 2 SAME (out) + expansion_conv 1x1 stride 2 (x)
 * The relu between sep0 and sep1 is fused into sep0. */
static int reduction_block(build_ctx *c, const char *block, int x, int cin,
                           int cout, int activate_input) {
  char name[96];
  int in = activate_input ? relu(c, x) : x;
  int out = sep_conv(c, block, 0, in, cin, cout, NN_ACT_RELU);
  out = sep_conv(c, block, 1, out, cout, cout, NN_ACT_NONE);
  out = nn_maxpool(c->g, out, 3, 2, NN_SAME);
  snprintf(name, sizeof name, "%s/expansion_conv", block);
  int shortcut = conv(c, name, x, 1, cin, cout, 2, NN_ACT_NONE);
  return nn_add(c->g, out, shortcut, NN_ACT_NONE);
}

/* mainBlock: three separable convs, each on the relu of what precedes it,
 * plus x. */
static int main_block(build_ctx *c, const char *block, int x, int ch) {
  int out = sep_conv(c, block, 0, relu(c, x), ch, ch, NN_ACT_RELU);
  out = sep_conv(c, block, 1, out, ch, ch, NN_ACT_RELU);
  out = sep_conv(c, block, 2, out, ch, ch, NN_ACT_NONE);
  return nn_add(c->g, out, x, NN_ACT_NONE);
}

/* fullyConnectedLayer on the pooled features: <name>/weights, <name>/bias. */
static int fc(build_ctx *c, const char *name, int x, int cin, int cout) {
  const float *w =
      nn_wlookup_get(&c->wl, (size_t)cin * cout, "%s/weights", name);
  const float *b = nn_wlookup_get(&c->wl, (size_t)cout, "%s/bias", name);
  return w && b ? nn_fc(c->g, x, w, b, cout, NN_ACT_NONE) : -1;
}

int fk_agegender_build(const nn_weights *w, nn_graph **out, char *err,
                       size_t errlen) {
  *out = NULL;
  if (err && errlen) err[0] = '\0';
  nn_graph *g = nn_graph_new(FK_LANDMARKS_SIZE, FK_LANDMARKS_SIZE, 3);
  if (!g) return FK_ENOMEM;
  build_ctx c = {g, {w, err, errlen, 0}};

  int x = conv(&c, "entry_flow/conv_in", 0, 3, 3, 32, 2, NN_ACT_RELU);
  x = reduction_block(&c, "entry_flow/reduction_block_0", x, 32, 64, 0);
  x = reduction_block(&c, "entry_flow/reduction_block_1", x, 64, 128, 1);
  x = main_block(&c, "middle_flow/main_block_0", x, 128);
  x = main_block(&c, "middle_flow/main_block_1", x, 128);
  x = reduction_block(&c, "exit_flow/reduction_block", x, 128, 256, 1);
  x = fk_separable_conv(g, &c.wl, "exit_flow/separable_conv", x, 256, 512, 1,
                        NN_ACT_RELU);
  x = nn_avgpool(g, x, 7, 2);
  int age = fc(&c, "fc/age", x, 512, 1);
  int gender = fc(&c, "fc/gender", x, 512, 2);

  int st = FK_OK;
  if (c.wl.failed) {
    st = FK_EMODEL;
  } else if ((st = nn_graph_status(g)) != FK_OK) {
    if (err && errlen) snprintf(err, errlen, "age/gender: %s", g->err);
  } else if (nn_shape_size(g->shapes[x]) != 512) {
    st = FK_EMODEL;
    if (err && errlen) snprintf(err, errlen, "age/gender: unexpected feature shape");
  }
  if (st != FK_OK) {
    nn_graph_free(g);
    return st;
  }
  nn_mark_output(g, age);    /* AG_OUT_AGE */
  nn_mark_output(g, gender); /* AG_OUT_GENDER */
  *out = g;
  return FK_OK;
}

/*
 * FaceLandmarks.align() with its defaults (alignMinBbox, padding 0.2) and
 * the way the pipeline cuts it, all in doubles as JS numbers:
 *   minBbox   min over the points from +Infinity, max from 0 (sic);
 *   pad       x - 0.2 w / 2, width + 0.2 w (likewise y, h);
 *   rescale   extendWithFaceLandmarks makes alignedRect relative (x * (1/W))
 *             and FaceDetection scales it back (* W); extractFaceTensors's
 *             FaceDetection.forSize(W, H) does that round trip twice more
 *             (ObjectDetection.forSize, then its own constructor);
 *   clip      Box.clipAtImageBorders, then floor.
 * The round trips can move a value by an ulp, which matters only when it
 * sits on an integer; doing them keeps the floor the same as face-api's.
 */
int fk_attr_box(const fk_point pts[FK_NUM_LANDMARKS], int img_w, int img_h,
                fk_rect *box) {
  double minx = INFINITY, miny = INFINITY, maxx = 0, maxy = 0;
  for (int i = 0; i < FK_NUM_LANDMARKS; i++) {
    double x = pts[i].x, y = pts[i].y;
    if (x < minx) minx = x;
    if (y < miny) miny = y;
    if (maxx < x) maxx = x;
    if (maxy < y) maxy = y;
  }
  double w = maxx - minx, h = maxy - miny;
  double px = w * 0.2, py = h * 0.2;
  double r[4] = {minx - px / 2, miny - py / 2, w + px, h + py};
  if (img_w > 0 && img_h > 0) {
    const double W = img_w, H = img_h, sx = 1.0 / W, sy = 1.0 / H;
    for (int pass = 0; pass < 3; pass++)
      for (int k = 0; k < 4; k++)
        r[k] = k % 2 == 0 ? r[k] * sx * W : r[k] * sy * H;
  }
  return fk_faceapi_clip_box(r[0], r[1], r[2], r[3], img_w, img_h, box);
}

void fk_agegender_decode(const nn_runtime *rt, float *age, float *p_male) {
  const float *a = nn_runtime_output(rt, AG_OUT_AGE);
  const float *g = nn_runtime_output(rt, AG_OUT_GENDER);
  *age = a[0];
  /* softmax over two: 1 / (1 + exp(female - male)), stable for any logits. */
  *p_male = (float)(1.0 / (1.0 + exp((double)g[1] - (double)g[0])));
}
