/*
 * test_nn_ref.c - the graph builder (shape inference, layout conversion,
 * sticky failures) and the plain-C reference kernels, checked against tiny
 * hand-computed cases and, for conv, a naive loop over TF's own HWIO layout.
 * The graphs are run op by op through nn_ref_run_op, so this test does not
 * depend on the runtime.
 */
#include "nn/nn.h"

#include "facekit.h"
#include "testutil.h"
#include "golden.h"

/* Runs every op of g on `in` and returns a malloc'd copy of tensor t. */
static float *run_graph(const nn_graph *g, const float *in, int t) {
  float **buf = calloc((size_t)g->ntensors, sizeof *buf);
  for (int i = 0; i < g->ntensors; i++)
    buf[i] = calloc(nn_shape_size(g->shapes[i]), sizeof(float));
  memcpy(buf[0], in, nn_shape_size(g->shapes[0]) * sizeof(float));
  int ok = 1;
  for (int i = 0; i < g->nops; i++) {
    const nn_op *op = &g->ops[i];
    const float *b = op->kind == NN_OP_ADD ? buf[op->in[1]] : NULL;
    if (nn_ref_run_op(g, op, buf[op->in[0]], b, buf[op->out]) != FK_OK) ok = 0;
  }
  CHECK(ok);
  float *out = buf[t];
  for (int i = 0; i < g->ntensors; i++)
    if (i != t) free(buf[i]);
  free(buf);
  return out;
}

static void check_shape(const nn_graph *g, int t, int h, int w, int c) {
  CHECK(t >= 0 && t < g->ntensors);
  if (t < 0 || t >= g->ntensors) return;
  CHECK_EQ_INT(g->shapes[t].h, h);
  CHECK_EQ_INT(g->shapes[t].w, w);
  CHECK_EQ_INT(g->shapes[t].c, c);
}

static void check_vals(const float *got, const float *want, int n) {
  for (int i = 0; i < n; i++) CHECK_NEAR(got[i], want[i], 1e-5);
}

static const float in3x3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const float k2x2[4] = {1, 2, 3, 4}; /* HWIO with cin = cout = 1 */

static void test_conv_valid_stride1_3x3_input_2x2_kernel(void) {
  nn_graph *g = nn_graph_new(3, 3, 1);
  int t = nn_conv2d(g, 0, k2x2, NULL, 2, 2, 1, 1, NN_VALID, NN_ACT_NONE);
  CHECK_EQ_INT(nn_graph_status(g), FK_OK);
  check_shape(g, t, 2, 2, 1);
  float *y = run_graph(g, in3x3, t);
  check_vals(y, (const float[]){37, 47, 67, 77}, 4);
  free(y);
  nn_graph_free(g);
}

static void test_conv_same_stride2_pads_bottom_right(void) {
  nn_graph *g = nn_graph_new(3, 3, 1);
  int t = nn_conv2d(g, 0, k2x2, NULL, 2, 2, 1, 2, NN_SAME, NN_ACT_NONE);
  check_shape(g, t, 2, 2, 1);
  const nn_op *op = &g->ops[0];
  CHECK_EQ_INT(op->pad[0], 0);
  CHECK_EQ_INT(op->pad[1], 1);
  CHECK_EQ_INT(op->pad[2], 0);
  CHECK_EQ_INT(op->pad[3], 1);
  float *y = run_graph(g, in3x3, t);
  /* [1 2;4 5], [3 0;6 0], [7 8;0 0], [9 0;0 0] against [1 2;3 4] */
  check_vals(y, (const float[]){37, 21, 23, 9}, 4);
  free(y);
  nn_graph_free(g);
}

static void test_conv_valid_stride2_drops_remainder(void) {
  nn_graph *g = nn_graph_new(3, 3, 1);
  int t = nn_conv2d(g, 0, k2x2, NULL, 2, 2, 1, 2, NN_VALID, NN_ACT_NONE);
  check_shape(g, t, 1, 1, 1);
  float *y = run_graph(g, in3x3, t);
  CHECK_NEAR(y[0], 37, 1e-5);
  free(y);
  nn_graph_free(g);
}

static void test_conv_1x1_multichannel_bias_relu(void) {
  /* HWIO [ci][co] = {{1,2,3},{4,5,6}}; x = [1, 10] */
  const float w[6] = {1, 2, 3, 4, 5, 6};
  const float bias[3] = {0.5f, 0, -100};
  nn_graph *g = nn_graph_new(1, 1, 2);
  int t = nn_conv2d(g, 0, w, bias, 1, 1, 3, 1, NN_SAME, NN_ACT_RELU);
  check_shape(g, t, 1, 1, 3);
  /* stored OHWI = [co][ci] */
  check_vals(g->ops[0].weights, (const float[]){1, 4, 2, 5, 3, 6}, 6);
  float *y = run_graph(g, (const float[]){1, 10}, t);
  check_vals(y, (const float[]){41.5f, 52, 0}, 3);
  free(y);
  nn_graph_free(g);
}

/* Direct conv over TF's HWIO weights with TF SAME padding. */
static void naive_conv_hwio(const float *x, int h, int w, int cin,
                            const float *k, int kh, int kw, int cout, int s,
                            float *y, int oh, int ow) {
  int pt = ((oh - 1) * s + kh - h) / 2, pl = ((ow - 1) * s + kw - w) / 2;
  if (pt < 0) pt = 0;
  if (pl < 0) pl = 0;
  for (int oy = 0; oy < oh; oy++)
    for (int ox = 0; ox < ow; ox++)
      for (int co = 0; co < cout; co++) {
        double acc = 0;
        for (int ky = 0; ky < kh; ky++)
          for (int kx = 0; kx < kw; kx++)
            for (int ci = 0; ci < cin; ci++) {
              int iy = oy * s - pt + ky, ix = ox * s - pl + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc += x[(iy * w + ix) * cin + ci] *
                     k[((ky * kw + kx) * cin + ci) * cout + co];
            }
        y[(oy * ow + ox) * cout + co] = (float)acc;
      }
}

static void test_conv_matches_naive_hwio_loop(void) {
  enum { H = 5, W = 7, CI = 3, CO = 4, K = 3, S = 2, OH = 3, OW = 4 };
  float x[H * W * CI], k[K * K * CI * CO], want[OH * OW * CO];
  tu_fill_random(x, H * W * CI, 1);
  tu_fill_random(k, K * K * CI * CO, 2);
  naive_conv_hwio(x, H, W, CI, k, K, K, CO, S, want, OH, OW);
  nn_graph *g = nn_graph_new(H, W, CI);
  int t = nn_conv2d(g, 0, k, NULL, K, K, CO, S, NN_SAME, NN_ACT_NONE);
  check_shape(g, t, OH, OW, CO);
  float *y = run_graph(g, x, t);
  check_vals(y, want, OH * OW * CO);
  free(y);
  nn_graph_free(g);
}

static void test_depthwise_same_two_channels_with_bias(void) {
  /* ch0 = 1..9 with kernel [1 2;3 4]; ch1 = all ones with kernel of ones */
  float x[18], w[8];
  for (int i = 0; i < 9; i++) {
    x[2 * i] = in3x3[i];
    x[2 * i + 1] = 1;
  }
  for (int i = 0; i < 4; i++) {
    w[2 * i] = k2x2[i];
    w[2 * i + 1] = 1;
  }
  const float bias[2] = {0, 10};
  nn_graph *g = nn_graph_new(3, 3, 2);
  int t = nn_depthwise(g, 0, w, bias, 2, 2, 1, NN_SAME, NN_ACT_NONE);
  check_shape(g, t, 3, 3, 2);
  float *y = run_graph(g, x, t);
  const float want0[9] = {37, 47, 3 * 1 + 6 * 3, 67, 77, 6 + 9 * 3,
                          7 + 8 * 2, 8 + 9 * 2, 9};
  const float want1[9] = {14, 14, 12, 14, 14, 12, 12, 12, 11};
  for (int i = 0; i < 9; i++) {
    CHECK_NEAR(y[2 * i], want0[i], 1e-5);
    CHECK_NEAR(y[2 * i + 1], want1[i], 1e-5);
  }
  free(y);
  nn_graph_free(g);
}

static void test_depthwise_valid_stride2(void) {
  nn_graph *g = nn_graph_new(3, 3, 1);
  int t = nn_depthwise(g, 0, k2x2, NULL, 2, 2, 2, NN_VALID, NN_ACT_NONE);
  check_shape(g, t, 1, 1, 1);
  float *y = run_graph(g, in3x3, t);
  CHECK_NEAR(y[0], 37, 1e-5);
  free(y);
  nn_graph_free(g);
}

static void test_relu6_clamps_both_ends(void) {
  const float one = 1;
  nn_graph *g = nn_graph_new(1, 3, 1);
  int t = nn_conv2d(g, 0, &one, NULL, 1, 1, 1, 1, NN_VALID, NN_ACT_RELU6);
  int d = nn_depthwise(g, 0, &one, NULL, 1, 1, 1, NN_VALID, NN_ACT_RELU6);
  float *y = run_graph(g, (const float[]){-1, 3, 7}, t);
  check_vals(y, (const float[]){0, 3, 6}, 3);
  free(y);
  y = run_graph(g, (const float[]){-1, 3, 7}, d);
  check_vals(y, (const float[]){0, 3, 6}, 3);
  free(y);
  nn_graph_free(g);
}

static void test_add_with_relu(void) {
  const float one = 1, neg = -2;
  nn_graph *g = nn_graph_new(1, 2, 1);
  int a = nn_conv2d(g, 0, &one, NULL, 1, 1, 1, 1, NN_VALID, NN_ACT_NONE);
  int b = nn_conv2d(g, 0, &neg, NULL, 1, 1, 1, 1, NN_VALID, NN_ACT_NONE);
  int s = nn_add(g, a, b, NN_ACT_NONE);
  int r = nn_add(g, a, 0, NN_ACT_RELU);
  float *y = run_graph(g, (const float[]){3, -4}, s);
  check_vals(y, (const float[]){-3, 4}, 2);
  free(y);
  y = run_graph(g, (const float[]){3, -4}, r);
  check_vals(y, (const float[]){6, 0}, 2);
  free(y);
  nn_graph_free(g);
}

static void test_maxpool_same_ignores_padding(void) {
  float x[9];
  for (int i = 0; i < 9; i++) x[i] = -in3x3[i];
  nn_graph *g = nn_graph_new(3, 3, 1);
  int t = nn_maxpool(g, 0, 2, 2, NN_SAME);
  int v = nn_maxpool(g, 0, 2, 1, NN_VALID);
  check_shape(g, t, 2, 2, 1);
  check_shape(g, v, 2, 2, 1);
  float *y = run_graph(g, x, t);
  check_vals(y, (const float[]){-1, -3, -7, -9}, 4); /* a padded 0 would win */
  free(y);
  y = run_graph(g, in3x3, v);
  check_vals(y, (const float[]){5, 6, 8, 9}, 4);
  free(y);
  nn_graph_free(g);
}

static void test_maxpool_3x3_stride2_same_even_input(void) {
  float x[16];
  for (int i = 0; i < 16; i++) x[i] = (float)i;
  nn_graph *g = nn_graph_new(4, 4, 1);
  int t = nn_maxpool(g, 0, 3, 2, NN_SAME);
  check_shape(g, t, 2, 2, 1);
  CHECK_EQ_INT(g->ops[0].pad[0], 0);
  CHECK_EQ_INT(g->ops[0].pad[1], 1);
  float *y = run_graph(g, x, t);
  check_vals(y, (const float[]){10, 11, 14, 15}, 4);
  free(y);
  nn_graph_free(g);
}

static void test_avgpool_valid_odd_input_drops_last_row(void) {
  float x[25];
  for (int i = 0; i < 25; i++) x[i] = (float)i;
  nn_graph *g = nn_graph_new(5, 5, 1);
  int t = nn_avgpool(g, 0, 2, 2);
  check_shape(g, t, 2, 2, 1);
  float *y = run_graph(g, x, t);
  /* windows {0,1,5,6}, {2,3,7,8}, {10,11,15,16}, {12,13,17,18} */
  check_vals(y, (const float[]){3, 5, 13, 15}, 4);
  free(y);
  nn_graph_free(g);
}

static void test_global_avgpool_means_each_channel(void) {
  nn_graph *g = nn_graph_new(2, 2, 2);
  int t = nn_global_avgpool(g, 0);
  check_shape(g, t, 1, 1, 2);
  float *y = run_graph(g, (const float[]){1, 10, 2, 20, 3, 30, 4, 40}, t);
  check_vals(y, (const float[]){2.5f, 25}, 2);
  free(y);
  nn_graph_free(g);
}

static void test_fc_flattens_hwc_order(void) {
  /* x is [h=2][w=1][c=2] = {1,2,3,4}; W is TF [cin=4][cout=2] */
  const float w[8] = {1, 0, 10, 0, 100, 0, 1000, 1};
  const float bias[2] = {1, -10};
  nn_graph *g = nn_graph_new(2, 1, 2);
  int t = nn_fc(g, 0, w, bias, 2, NN_ACT_RELU);
  int u = nn_fc(g, 0, w, NULL, 2, NN_ACT_NONE);
  check_shape(g, t, 1, 1, 2);
  check_vals(g->ops[0].weights, (const float[]){1, 10, 100, 1000, 0, 0, 0, 1},
             8);
  float *y = run_graph(g, (const float[]){1, 2, 3, 4}, t);
  check_vals(y, (const float[]){4322, 0}, 2);
  free(y);
  y = run_graph(g, (const float[]){1, 2, 3, 4}, u);
  check_vals(y, (const float[]){4321, 4}, 2);
  free(y);
  CHECK_NEAR(nn_graph_macs(g), 16, 0);
  nn_graph_free(g);
}

static void test_leaky_relu_scales_negatives(void) {
  nn_graph *g = nn_graph_new(1, 3, 1);
  int t = nn_leaky_relu(g, 0, 0.1f);
  float *y = run_graph(g, (const float[]){-2, 0, 3}, t);
  check_vals(y, (const float[]){-0.2f, 0, 3}, 3);
  free(y);
  nn_graph_free(g);
}

static void test_zero_pad_adds_rows_cols_and_channels(void) {
  nn_graph *g = nn_graph_new(1, 2, 2);
  int t = nn_zero_pad(g, 0, 1, 0, 0, 1, 1);
  check_shape(g, t, 2, 3, 3);
  float *y = run_graph(g, (const float[]){1, 2, 3, 4}, t);
  const float want[18] = {0, 0, 0, 0, 0, 0, 0, 0, 0,
                          1, 2, 0, 3, 4, 0, 0, 0, 0};
  check_vals(y, want, 18);
  free(y);
  nn_graph_free(g);
}

static void test_same_valid_shape_inference_matches_tf(void) {
  static const float w[7 * 7 * 3];
  struct { int in, k, s, pad, out, before, after; } cases[] = {
      {5, 3, 2, NN_SAME, 3, 1, 1},    {4, 3, 2, NN_SAME, 2, 0, 1},
      {6, 1, 2, NN_SAME, 3, 0, 0},    {150, 7, 2, NN_SAME, 75, 2, 3},
      {5, 3, 2, NN_VALID, 2, 0, 0},   {7, 7, 1, NN_VALID, 1, 0, 0},
      {1, 3, 1, NN_SAME, 1, 1, 1},    {2, 1, 4, NN_SAME, 1, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    nn_graph *g = nn_graph_new(cases[i].in, cases[i].in, 1);
    int t = nn_depthwise(g, 0, w, NULL, cases[i].k, cases[i].k, cases[i].s,
                         (nn_padding)cases[i].pad, NN_ACT_NONE);
    check_shape(g, t, cases[i].out, cases[i].out, 1);
    if (t >= 0) {
      CHECK_EQ_INT(g->ops[0].pad[0], cases[i].before);
      CHECK_EQ_INT(g->ops[0].pad[1], cases[i].after);
      CHECK_EQ_INT(g->ops[0].pad[2], cases[i].before);
      CHECK_EQ_INT(g->ops[0].pad[3], cases[i].after);
    }
    nn_graph_free(g);
  }
}

static void test_graph_macs_counts_conv_depthwise_fc(void) {
  static const float w[3 * 3 * 4 * 8];
  nn_graph *g = nn_graph_new(6, 6, 4);
  int a = nn_conv2d(g, 0, w, NULL, 3, 3, 8, 2, NN_SAME, NN_ACT_NONE);
  int b = nn_depthwise(g, a, w, NULL, 3, 3, 1, NN_SAME, NN_ACT_NONE);
  int c = nn_maxpool(g, b, 3, 1, NN_SAME);
  nn_fc(g, c, w, NULL, 2, NN_ACT_NONE);
  double want = 3.0 * 3 * 8 * 3 * 3 * 4 + 3.0 * 3 * 8 * 3 * 3 + 72.0 * 2;
  CHECK_NEAR(nn_graph_macs(g), want, 0);
  nn_graph_free(g);
}

static void test_mark_output_records_ids_in_order(void) {
  nn_graph *g = nn_graph_new(2, 2, 1);
  int a = nn_leaky_relu(g, 0, 0.5f);
  int b = nn_global_avgpool(g, a);
  nn_mark_output(g, b);
  nn_mark_output(g, a);
  CHECK_EQ_INT(g->noutputs, 2);
  CHECK_EQ_INT(g->outputs[0], b);
  CHECK_EQ_INT(g->outputs[1], a);
  nn_mark_output(g, 99);
  CHECK_EQ_INT(nn_graph_status(g), FK_EINVAL);
  CHECK_EQ_INT(g->noutputs, 2);
  nn_graph_free(g);
}

static void test_add_rejects_mismatched_shapes(void) {
  nn_graph *g = nn_graph_new(4, 4, 2);
  int p = nn_maxpool(g, 0, 2, 2, NN_VALID);
  CHECK(p > 0);
  CHECK_EQ_INT(nn_add(g, 0, p, NN_ACT_NONE), -1);
  CHECK_EQ_INT(nn_graph_status(g), FK_EINVAL);
  CHECK(strstr(g->err, "add") != NULL);
  nn_graph_free(g);
}

static void test_valid_window_larger_than_input_fails(void) {
  static const float w[9];
  nn_graph *g = nn_graph_new(2, 2, 1);
  CHECK_EQ_INT(nn_conv2d(g, 0, w, NULL, 3, 3, 1, 1, NN_VALID, NN_ACT_NONE), -1);
  CHECK_EQ_INT(nn_graph_status(g), FK_EINVAL);
  CHECK(g->err[0] != 0);
  nn_graph_free(g);
  g = nn_graph_new(2, 2, 1);
  CHECK_EQ_INT(nn_avgpool(g, 0, 3, 1), -1);
  CHECK_EQ_INT(nn_graph_status(g), FK_EINVAL);
  nn_graph_free(g);
}

/* A dilated window's span, (k - 1) * dilation + 1, overflows int for
 * kernels and dilations that are each in range: refused, not computed. */
static void test_dilated_window_too_wide_fails_without_overflow(void) {
  enum { K = 40000 };
  static float w[K];
  nn_graph *g = nn_graph_new(1, 1, 1);
  CHECK_EQ_INT(nn_depthwise_dilated(g, 0, w, NULL, K, 1, 1, 60000, NN_SAME, NN_ACT_NONE), -1);
  CHECK_EQ_INT(nn_graph_status(g), FK_EINVAL);
  CHECK(strstr(g->err, "dilat") != NULL);
  nn_graph_free(g);
  g = nn_graph_new(1, 1, 1);
  CHECK_EQ_INT(nn_conv2d_dilated(g, 0, w, NULL, 1, K, 1, 1, 65536, NN_VALID, NN_ACT_NONE), -1);
  CHECK_EQ_INT(nn_graph_status(g), FK_EINVAL);
  nn_graph_free(g);
}

/* Two tensors of 2^30 values side by side would have a side of 2^31. */
static void test_concat_of_largest_tensors_fails_without_overflow(void) {
  nn_graph *g = nn_graph_new(1, 1, 1 << 30);
  CHECK_EQ_INT(nn_graph_status(g), FK_OK);
  CHECK_EQ_INT(nn_concat(g, 0, 0, 2), -1);
  CHECK_EQ_INT(nn_graph_status(g), FK_EINVAL);
  nn_graph_free(g);
}

static void test_failure_is_sticky_and_keeps_first_message(void) {
  static const float w[9];
  nn_graph *g = nn_graph_new(4, 4, 1);
  CHECK_EQ_INT(nn_maxpool(g, 0, 2, 0, NN_SAME), -1); /* stride 0 */
  char first[sizeof g->err];
  memcpy(first, g->err, sizeof first);
  CHECK(first[0] != 0);
  /* perfectly valid calls now fail too, and -1 inputs do not crash */
  CHECK_EQ_INT(nn_leaky_relu(g, 0, 0.1f), -1);
  int x = nn_conv2d(g, 0, w, NULL, 3, 3, 1, 1, NN_SAME, NN_ACT_NONE);
  CHECK_EQ_INT(x, -1);
  CHECK_EQ_INT(nn_depthwise(g, x, w, NULL, 3, 3, 1, NN_SAME, NN_ACT_NONE), -1);
  CHECK_EQ_INT(nn_add(g, x, x, NN_ACT_NONE), -1);
  CHECK_EQ_INT(nn_fc(g, x, w, NULL, 1, NN_ACT_NONE), -1);
  nn_mark_output(g, x);
  CHECK_EQ_INT(nn_graph_status(g), FK_EINVAL);
  CHECK(strcmp(first, g->err) == 0);
  CHECK_EQ_INT(g->ntensors, 1);
  nn_graph_free(g);
}

static void test_bad_arguments_fail_without_crashing(void) {
  static const float w[9];
  nn_graph *g = nn_graph_new(4, 4, 1);
  CHECK_EQ_INT(nn_conv2d(g, -1, w, NULL, 3, 3, 1, 1, NN_SAME, NN_ACT_NONE), -1);
  CHECK_EQ_INT(nn_graph_status(g), FK_EINVAL);
  nn_graph_free(g);

  g = nn_graph_new(4, 4, 1);
  CHECK_EQ_INT(nn_global_avgpool(g, 7), -1);
  nn_graph_free(g);

  g = nn_graph_new(4, 4, 1);
  CHECK_EQ_INT(nn_conv2d(g, 0, NULL, NULL, 3, 3, 1, 1, NN_SAME, NN_ACT_NONE),
               -1);
  nn_graph_free(g);

  g = nn_graph_new(4, 4, 1);
  CHECK_EQ_INT(nn_conv2d(g, 0, w, NULL, 3, 3, 0, 1, NN_SAME, NN_ACT_NONE), -1);
  nn_graph_free(g);

  g = nn_graph_new(4, 4, 1);
  CHECK_EQ_INT(nn_zero_pad(g, 0, -1, 0, 0, 0, 0), -1);
  nn_graph_free(g);

  g = nn_graph_new(4, 4, 1);
  CHECK_EQ_INT(nn_conv2d(g, 0, w, NULL, 3, 3, 1, 1, (nn_padding)7,
                         NN_ACT_NONE), -1);
  nn_graph_free(g);

  /* an impossible input shape gives a failed graph, not NULL */
  g = nn_graph_new(0, 4, 1);
  CHECK(g != NULL);
  CHECK_EQ_INT(nn_graph_status(g), FK_EINVAL);
  CHECK_EQ_INT(nn_leaky_relu(g, 0, 0.1f), -1);
  nn_graph_free(g);
  g = nn_graph_new(1 << 20, 1 << 20, 1 << 20);
  CHECK(g != NULL && nn_graph_status(g) == FK_EINVAL);
  nn_graph_free(g);

  /* NULL graph */
  CHECK_EQ_INT(nn_leaky_relu(NULL, 0, 0.1f), -1);
  nn_mark_output(NULL, 0);
  nn_graph_free(NULL);
}

static void test_ref_run_op_rejects_bad_arguments(void) {
  nn_graph *g = nn_graph_new(1, 2, 1);
  int a = nn_add(g, 0, 0, NN_ACT_NONE);
  CHECK(a == 1);
  float x[2] = {1, 2}, y[2];
  CHECK_EQ_INT(nn_ref_run_op(g, &g->ops[0], x, NULL, y), FK_EINVAL);
  CHECK_EQ_INT(nn_ref_run_op(g, &g->ops[0], NULL, x, y), FK_EINVAL);
  CHECK_EQ_INT(nn_ref_run_op(NULL, &g->ops[0], x, x, y), FK_EINVAL);
  CHECK_EQ_INT(nn_ref_run_op(g, &g->ops[0], x, x, y), FK_OK);
  CHECK_NEAR(y[1], 4, 0);
  nn_graph_free(g);
}

int main(void) {
  RUN(test_conv_valid_stride1_3x3_input_2x2_kernel);
  RUN(test_conv_same_stride2_pads_bottom_right);
  RUN(test_conv_valid_stride2_drops_remainder);
  RUN(test_conv_1x1_multichannel_bias_relu);
  RUN(test_conv_matches_naive_hwio_loop);
  RUN(test_depthwise_same_two_channels_with_bias);
  RUN(test_depthwise_valid_stride2);
  RUN(test_relu6_clamps_both_ends);
  RUN(test_add_with_relu);
  RUN(test_maxpool_same_ignores_padding);
  RUN(test_maxpool_3x3_stride2_same_even_input);
  RUN(test_avgpool_valid_odd_input_drops_last_row);
  RUN(test_global_avgpool_means_each_channel);
  RUN(test_fc_flattens_hwc_order);
  RUN(test_leaky_relu_scales_negatives);
  RUN(test_zero_pad_adds_rows_cols_and_channels);
  RUN(test_same_valid_shape_inference_matches_tf);
  RUN(test_graph_macs_counts_conv_depthwise_fc);
  RUN(test_mark_output_records_ids_in_order);
  RUN(test_add_rejects_mismatched_shapes);
  RUN(test_valid_window_larger_than_input_fails);
  RUN(test_dilated_window_too_wide_fails_without_overflow);
  RUN(test_concat_of_largest_tensors_fails_without_overflow);
  RUN(test_failure_is_sticky_and_keeps_first_message);
  RUN(test_bad_arguments_fail_without_crashing);
  RUN(test_ref_run_op_rejects_bad_arguments);
  return tu_summary();
}
