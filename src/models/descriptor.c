/*
 * descriptor.c - face-api's FaceRecognitionNet: a 128-d descriptor of a face
 * chip (dlib's ResNet-34-like metric net, ported to TFJS by face-api).
 *
 * Input   a 150x150 RGB chip, (x - fk_faceapi_mean_rgb) / 255: [150][150][3].
 * Network conv32_down: 7x7 stride 2 VALID conv + bias, scale layer, relu
 *         (150 -> 72); maxPool 3 stride 2 VALID (-> 35); residual blocks
 *         conv32_1..3; residualDown conv64_down (-> 17), conv64_1..3;
 *         conv128_down (-> 8), conv128_1..2; conv256_down (-> 4),
 *         conv256_1..2; conv256_down_out (-> 2); global average; fc
 *         256 -> 128 without bias.
 * Output  128 floats, not L2-normalized (norm about 1.4).
 *
 * Every conv layer is conv + bias followed by face-api's scale layer
 * (x * weights + biases, per channel); the scale is folded into the conv's
 * weights and bias when the graph is built:
 *   (conv(x, W) + b) * s + t = conv(x, W * s) + (b * s + t).
 *
 * Weights (face_recognition_model): <layer>/conv/filters (HWIO),
 * <layer>/conv/bias, <layer>/scale/weights, <layer>/scale/biases, where a
 * residual block's layers are <block>/conv1 and <block>/conv2; fc [256][128].
 */
#include <stdio.h>
#include <stdlib.h>

#include "models/models.h"

const float fk_faceapi_mean_rgb[3] = {122.782f, 117.001f, 104.298f};

/* The graph being built and its sticky weight lookup, as in landmarks.c;
 * nomem: folding a scale layer into a conv ran out of memory. */
typedef struct build_ctx {
  nn_graph *g;
  nn_wlookup wl;
  int nomem;
} build_ctx;

/* convLayer.ts: conv (k x k, given stride and padding) + bias, scale layer,
 * optional relu; the scale folded into the conv as the header says. */
static int conv_layer(build_ctx *c, const char *layer, int x, int k, int cin,
                      int cout, int stride, nn_padding pad, nn_act act) {
  const size_t n = (size_t)k * k * cin * cout;
  const float *f = nn_wlookup_get(&c->wl, n, "%s/conv/filters", layer);
  const float *b = nn_wlookup_get(&c->wl, (size_t)cout, "%s/conv/bias", layer);
  const float *s =
      nn_wlookup_get(&c->wl, (size_t)cout, "%s/scale/weights", layer);
  const float *t =
      nn_wlookup_get(&c->wl, (size_t)cout, "%s/scale/biases", layer);
  if (!f || !b || !s || !t) return -1;

  float *fw = malloc(n * sizeof *fw);
  float *fb = malloc((size_t)cout * sizeof *fb);
  int y = -1;
  if (fw && fb) {
    for (size_t i = 0; i < n; i++) /* HWIO: cout is the fastest axis */
      fw[i] = (float)((double)f[i] * s[i % (size_t)cout]);
    for (int o = 0; o < cout; o++)
      fb[o] = (float)((double)b[o] * s[o] + t[o]);
    y = nn_conv2d(c->g, x, fw, fb, k, k, cout, stride, pad, act);
  } else {
    c->nomem = 1;
  }
  free(fw);
  free(fb);
  return y;
}

/* residualLayer.ts residual: relu(convNoRelu(conv(x)) + x), 3x3 SAME. */
static int residual(build_ctx *c, const char *block, int x, int ch) {
  char l1[64], l2[64];
  snprintf(l1, sizeof l1, "%s/conv1", block);
  snprintf(l2, sizeof l2, "%s/conv2", block);
  int out = conv_layer(c, l1, x, 3, ch, ch, 1, NN_SAME, NN_ACT_RELU);
  out = conv_layer(c, l2, out, 3, ch, ch, 1, NN_SAME, NN_ACT_NONE);
  return nn_add(c->g, out, x, NN_ACT_RELU);
}

/*
 * residualLayer.ts residualDown: the conv branch is convDown (3x3 stride 2
 * VALID, relu) then convNoRelu (3x3 SAME); the shortcut is avgPool 2 stride
 * 2 VALID. When the spatial shapes differ (even input side: the conv branch
 * is one smaller), face-api concatenates one zero row at the bottom and one
 * zero column at the right of the conv branch; when the channels differ it
 * concatenates the shortcut with zeros of its own shape. Then relu(sum).
 */
static int residual_down(build_ctx *c, const char *block, int x, int cin,
                         int cout) {
  char l1[64], l2[64];
  snprintf(l1, sizeof l1, "%s/conv1", block);
  snprintf(l2, sizeof l2, "%s/conv2", block);
  int out = conv_layer(c, l1, x, 3, cin, cout, 2, NN_VALID, NN_ACT_RELU);
  out = conv_layer(c, l2, out, 3, cout, cout, 1, NN_SAME, NN_ACT_NONE);
  int pooled = nn_avgpool(c->g, x, 2, 2);
  if (out < 0 || pooled < 0) return -1;

  nn_shape so = c->g->shapes[out], sp = c->g->shapes[pooled];
  if (so.h != sp.h || so.w != sp.w) out = nn_zero_pad(c->g, out, 0, 1, 0, 1, 0);
  if (sp.c != so.c) pooled = nn_zero_pad(c->g, pooled, 0, 0, 0, 0, sp.c);
  return nn_add(c->g, pooled, out, NN_ACT_RELU);
}

int fk_descriptor_build(const nn_weights *w, nn_graph **out, char *err,
                        size_t errlen) {
  *out = NULL;
  if (err && errlen) err[0] = '\0';
  nn_graph *g = nn_graph_new(FK_DESCRIPTOR_SIZE, FK_DESCRIPTOR_SIZE, 3);
  if (!g) return FK_ENOMEM;
  build_ctx c = {g, {w, err, errlen, 0}, 0};

  int x = conv_layer(&c, "conv32_down", 0, 7, 3, 32, 2, NN_VALID, NN_ACT_RELU);
  x = nn_maxpool(g, x, 3, 2, NN_VALID);
  x = residual(&c, "conv32_1", x, 32);
  x = residual(&c, "conv32_2", x, 32);
  x = residual(&c, "conv32_3", x, 32);
  x = residual_down(&c, "conv64_down", x, 32, 64);
  x = residual(&c, "conv64_1", x, 64);
  x = residual(&c, "conv64_2", x, 64);
  x = residual(&c, "conv64_3", x, 64);
  x = residual_down(&c, "conv128_down", x, 64, 128);
  x = residual(&c, "conv128_1", x, 128);
  x = residual(&c, "conv128_2", x, 128);
  x = residual_down(&c, "conv256_down", x, 128, 256);
  x = residual(&c, "conv256_1", x, 256);
  x = residual(&c, "conv256_2", x, 256);
  x = residual_down(&c, "conv256_down_out", x, 256, 256);
  x = nn_global_avgpool(g, x);
  const float *fc = nn_wlookup_get(&c.wl, (size_t)256 * 128, "fc");
  x = fc ? nn_fc(g, x, fc, NULL, 128, NN_ACT_NONE) : -1;

  int st = FK_OK;
  if (c.wl.failed) {
    st = FK_EMODEL;
  } else if (c.nomem) {
    st = FK_ENOMEM;
    if (err && errlen) snprintf(err, errlen, "descriptor: out of memory");
  } else if ((st = nn_graph_status(g)) != FK_OK) {
    if (err && errlen) snprintf(err, errlen, "descriptor: %s", g->err);
  } else if (nn_shape_size(g->shapes[x]) != FK_DESCRIPTOR_DIM) {
    st = FK_EMODEL;
    if (err && errlen) snprintf(err, errlen, "descriptor: unexpected output shape");
  }
  if (st != FK_OK) {
    nn_graph_free(g);
    return st;
  }
  nn_mark_output(g, x);
  *out = g;
  return FK_OK;
}

void fk_descriptor_normalize(float *chip, size_t npix) {
  for (size_t i = 0; i < npix; i++)
    for (int k = 0; k < 3; k++)
      chip[3 * i + k] = (chip[3 * i + k] - fk_faceapi_mean_rgb[k]) / 255.0f;
}
