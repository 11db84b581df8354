/*
 * test_nn_backends.c - the fast backends (oneDNN in src/nn/dnnl.c, XNNPACK
 * in xnn.c) against the reference kernels on the cases the nets do not
 * reach: every post-op fusion of a conv, residual sums whose other operand
 * is read again later or is the conv's own input, broadcast shapes and
 * operand orders of the binary ops, the padding modes, kernel taps that
 * only ever meet padding, channel counts that are not whole blocks (max
 * pooling, XNNPACK's inside the oneDNN backend, included), paddings too
 * wide for oneDNN's direct convs (run over a zero-bordered copy), a
 * reference fallback in the middle of a graph, and outputs that are
 * internal values in a blocked layout. Each graph runs on every set-up of
 * tests/golden.h (each backend on one thread and on two, forced either way),
 * in f32, and in bf16 on oneDNN where the CPU has it.
 * Also: every backend and thread count flushes denormals in its runs, on
 * the caller's thread and its workers alike, and leaves the caller's own
 * floating point mode as it was.
 */
#include <math.h>

#include "base/fpenv.h"
#include "facekit.h"
#include "nn/nn.h"
#include "testutil.h"
#include "golden.h"

static float W[5 * 5 * 24 * 24], B[64], K[6 * 5 * 13];

/* Every set-up agrees with the reference within tol (relative to
 * max(1, |reference|)); returns oneDNN's step count on one thread. */
static int agree(nn_graph *g, float amp, double tol, const char *what) {
  int steps = -1;
  if (tu_backends_agree(g, 9, amp, tol, what) >= 0) {
    nn_runtime *rt = NULL;
    if (nn_runtime_new(g, NN_BACKEND_DNNL, NULL, &rt) == FK_OK) steps = nn_runtime_steps(rt);
    nn_runtime_free(rt);
  }
  nn_graph_free(g);
  return steps;
}

static int conv(nn_graph *g, int x, int k, int cout, int stride, nn_padding pad, nn_act act) {
  return nn_conv2d(g, x, W, B, k, k, cout, stride, pad, act);
}

static void test_each_activation_fuses_into_the_conv(void) {
  const struct { const char *name; int kind; } cases[] = {
      {"relu", 0}, {"relu6", 1}, {"clamp", 2}, {"leaky", 3}, {"sigmoid", 4}, {"tanh", 5}, {"abs", 6}, {"square", 7},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    nn_graph *g = nn_graph_new(9, 11, 8);
    int k = cases[i].kind;
    int x = conv(g, 0, 3, 16, 1, NN_SAME, k == 0 ? NN_ACT_RELU : k == 1 ? NN_ACT_RELU6 : NN_ACT_NONE);
    if (k == 2) x = nn_clamp(g, x, -0.3f, 0.7f);
    if (k == 3) x = nn_leaky_relu(g, x, 0.2f);
    if (k >= 4) x = nn_unary(g, x, k == 4 ? NN_UN_SIGMOID : k == 5 ? NN_UN_TANH : k == 6 ? NN_UN_ABS : NN_UN_SQUARE);
    nn_mark_output(g, x);
    char what[64];
    snprintf(what, sizeof what, "conv + %s", cases[i].name);
    int steps = agree(g, 1.0f, 1e-5, what);
    /* the input's reorder (if any), the conv, the output's reorder */
    CHECK(steps >= 1 && steps <= 3);
  }
}

/* relu(conv(relu(conv(x))) + x): the ResNet block; x is read by the first
 * conv only before the sum, so the sum may write over it. */
static void test_residual_sum_fuses_into_the_second_conv(void) {
  nn_graph *g = nn_graph_new(12, 12, 16);
  int x = conv(g, 0, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  int y = conv(g, x, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  y = conv(g, y, 3, 16, 1, NN_SAME, NN_ACT_NONE);
  nn_mark_output(g, nn_add(g, y, x, NN_ACT_RELU));
  int fused = agree(g, 1.0f, 1e-5, "residual block");
  g = nn_graph_new(12, 12, 16);
  x = conv(g, 0, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  y = conv(g, x, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  y = conv(g, y, 3, 16, 1, NN_SAME, NN_ACT_NONE);
  int s = nn_add(g, y, x, NN_ACT_RELU);
  nn_mark_output(g, nn_clamp(g, s, 0.0f, 0.5f)); /* absorbed after the sum */
  int fused_clamp = agree(g, 1.0f, 1e-5, "residual block + clamp");
  CHECK_EQ_INT(fused_clamp, fused);
}

/* The sum's other operand is read again after the sum (a copy is needed),
 * is a graph output, or is the conv's own input (no writing over it). */
static void test_residual_sum_keeps_operands_read_later(void) {
  nn_graph *g = nn_graph_new(10, 10, 16);
  int x = conv(g, 0, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  int y = conv(g, x, 3, 16, 1, NN_SAME, NN_ACT_NONE);
  int s = nn_add(g, y, x, NN_ACT_RELU);
  nn_mark_output(g, nn_add(g, s, x, NN_ACT_NONE)); /* x again */
  agree(g, 1.0f, 1e-5, "sum operand read later");

  g = nn_graph_new(10, 10, 16);
  x = conv(g, 0, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  nn_mark_output(g, x);
  y = conv(g, x, 3, 16, 1, NN_SAME, NN_ACT_NONE);
  nn_mark_output(g, nn_add(g, x, y, NN_ACT_NONE));
  agree(g, 1.0f, 1e-5, "sum operand is an output");

  g = nn_graph_new(10, 10, 16);
  x = conv(g, 0, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  y = conv(g, x, 1, 16, 1, NN_SAME, NN_ACT_NONE);
  nn_mark_output(g, nn_add(g, y, x, NN_ACT_NONE)); /* x is y's input too */
  agree(g, 1.0f, 1e-5, "sum operand is the conv's input");

  g = nn_graph_new(10, 10, 16);
  float dw[9 * 16];
  tu_fill_random(dw, 9 * 16, 7);
  x = conv(g, 0, 1, 16, 1, NN_SAME, NN_ACT_NONE);
  y = nn_depthwise(g, x, dw, B, 3, 3, 1, NN_SAME, NN_ACT_NONE);
  nn_mark_output(g, nn_binary(g, x, y, NN_BIN_ADD, NN_ACT_RELU6)); /* a BINARY add */
  agree(g, 1.0f, 1e-5, "depthwise + sum");
}

static void test_binary_broadcasts_either_operand_in_any_order(void) {
  nn_shape shapes[] = {{6, 5, 13}, {6, 1, 13}, {1, 5, 1}, {1, 1, 13}, {6, 5, 1}, {1, 1, 1}};
  for (int kind = NN_BIN_ADD; kind <= NN_BIN_MIN; kind++) {
    nn_graph *g = nn_graph_new(6, 5, 13);
    int pos = nn_clamp(g, nn_unary(g, 0, NN_UN_ABS), 0.5f, 4.0f); /* safe divisors */
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
      nn_shape s = shapes[i];
      int small = nn_reduce(g, pos, NN_RED_MEAN, (s.h == 1 ? NN_AXIS_H : 0) | (s.w == 1 ? NN_AXIS_W : 0) |
                                                     (s.c == 1 ? NN_AXIS_C : 0));
      if (s.h == 6 && s.w == 5 && s.c == 13) small = pos;
      nn_mark_output(g, nn_binary(g, 0, small, kind, NN_ACT_NONE));  /* full (op) small */
      nn_mark_output(g, nn_binary(g, small, pos, kind, NN_ACT_NONE)); /* small (op) full */
      nn_mark_output(g, nn_binary_const(g, pos, kind, K, s, 1, NN_ACT_NONE)); /* k (op) x */
      nn_mark_output(g, nn_binary_const(g, 0, kind, K, s, 0, NN_ACT_NONE));   /* x (op) k */
    }
    char what[32];
    snprintf(what, sizeof what, "binary kind %d", kind);
    agree(g, 2.0f, 1e-5, what);
  }
}

static void test_padding_modes_and_strides_match(void) {
  for (int in = 7; in <= 8; in++) /* odd and even sides */
    for (int s = 1; s <= 2; s++)
      for (int k = 1; k <= 5; k += 2) {
        nn_graph *g = nn_graph_new(in, in + 3, 8);
        nn_mark_output(g, conv(g, 0, k, 8, s, NN_SAME, NN_ACT_NONE));
        if (k <= in) nn_mark_output(g, conv(g, 0, k, 8, s, NN_VALID, NN_ACT_NONE));
        nn_mark_output(g, nn_depthwise(g, 0, W, B, k, k, s, NN_SAME, NN_ACT_NONE));
        nn_mark_output(g, nn_pool2d(g, 0, 1, k, k, s, NN_SAME));
        nn_mark_output(g, nn_pool2d(g, 0, 0, k, k, s, NN_SAME));
        nn_mark_output(g, nn_conv2d_dilated(g, 0, W, NULL, 3, 3, 8, 1, 2, NN_SAME, NN_ACT_NONE));
        char what[48];
        snprintf(what, sizeof what, "in %dx%d, k %d, stride %d", in, in + 3, k, s);
        agree(g, 1.0f, 1e-5, what);
      }
}

/* A 3x3 SAME conv on a 1x1 input is a 1x1 conv; a 5x5 one on 2x2 uses the
 * middle 4x4 of its kernel only (then with stride 2). */
static void test_taps_in_the_padding_only_are_dropped(void) {
  nn_graph *g = nn_graph_new(1, 1, 24);
  nn_mark_output(g, conv(g, 0, 3, 24, 1, NN_SAME, NN_ACT_RELU));
  nn_mark_output(g, nn_depthwise(g, 0, W, B, 3, 3, 1, NN_SAME, NN_ACT_NONE));
  agree(g, 1.0f, 1e-5, "3x3 on 1x1");
  g = nn_graph_new(2, 2, 24);
  nn_mark_output(g, conv(g, 0, 5, 24, 1, NN_SAME, NN_ACT_NONE));
  nn_mark_output(g, conv(g, 0, 5, 24, 2, NN_SAME, NN_ACT_NONE));
  agree(g, 1.0f, 1e-5, "5x5 on 2x2");
}

/* Paddings wider than oneDNN's AVX2 direct conv takes (rfb320's 3x3
 * dilation 5, ONNX's asymmetric explicit pads): the conv reads a
 * zero-bordered copy of its input, blocked or NHWC (the graph input), with
 * a residual sum and a relu fused into it, twice in a row. */
static void test_wide_paddings_match(void) {
  nn_graph *g = nn_graph_new(12, 13, 16);
  int x = conv(g, 0, 1, 16, 1, NN_SAME, NN_ACT_RELU);
  int y = nn_conv2d_dilated(g, x, W, B, 3, 3, 16, 1, 5, NN_SAME, NN_ACT_NONE);
  y = nn_add(g, y, x, NN_ACT_RELU);
  y = nn_conv2d_dilated(g, y, W, B, 3, 3, 16, 1, 5, NN_SAME, NN_ACT_NONE);
  nn_mark_output(g, y);
  nn_mark_output(g, nn_conv2d_dilated(g, 0, W, NULL, 3, 3, 8, 1, 4, NN_SAME, NN_ACT_NONE));
  const nn_window win = {5, 5, 1, 2, {7, 5, 6, 8}};
  nn_mark_output(g, nn_conv2d_win(g, x, W, B, 8, &win, NN_ACT_NONE));
  nn_mark_output(g, nn_depthwise_win(g, x, W, B, &win, NN_ACT_NONE));
  agree(g, 1.0f, 1e-5, "wide paddings");
}

/* 13 channels are not a whole 8- or 16-channel block: eltwise ops on the
 * blocked layout must not leak into the padding, and channel pads, concat
 * and softmax must see exact channels. */
static void test_channels_that_are_not_whole_blocks(void) {
  nn_graph *g = nn_graph_new(5, 6, 5);
  int x = conv(g, 0, 3, 13, 1, NN_SAME, NN_ACT_NONE);
  int s = nn_unary(g, x, NN_UN_SIGMOID); /* sigmoid(0) = 0.5 in padding */
  int r = nn_reduce(g, s, NN_RED_SUM, NN_AXIS_C);
  nn_mark_output(g, r);
  nn_mark_output(g, nn_softmax(g, x));
  const int pads[6] = {1, 0, 0, 2, 3, 4};
  int p = nn_pad(g, s, pads);
  nn_mark_output(g, conv(g, p, 1, 8, 1, NN_SAME, NN_ACT_NONE));
  nn_mark_output(g, nn_concat(g, s, x, 2));
  nn_mark_output(g, nn_global_avgpool(g, s));
  nn_mark_output(g, nn_maxpool(g, nn_unary(g, x, NN_UN_TANH), 3, 2, NN_SAME)); /* XNNPACK's, blocked */
  agree(g, 1.0f, 1e-5, "13 channels");

  g = nn_graph_new(6, 6, 16); /* whole blocks: the pad stays blocked */
  x = conv(g, 0, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  x = nn_avgpool(g, x, 2, 2);
  x = nn_zero_pad(g, x, 0, 1, 0, 1, 16);
  nn_mark_output(g, nn_add(g, x, conv(g, x, 3, 32, 1, NN_SAME, NN_ACT_NONE), NN_ACT_RELU));
  agree(g, 1.0f, 1e-5, "channel pad by whole blocks");
}

/* SLICE runs on the reference kernel between two convs: NHWC on either
 * side of it, blocked around it. */
static void test_reference_fallback_in_the_middle_of_a_graph(void) {
  nn_graph *g = nn_graph_new(9, 9, 8);
  int x = conv(g, 0, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  const int begin[3] = {1, 0, 2}, step[3] = {2, 1, 1};
  int sl = nn_slice(g, x, begin, step, (nn_shape){4, 9, 14});
  int y = conv(g, sl, 3, 16, 1, NN_SAME, NN_ACT_NONE);
  nn_mark_output(g, nn_add(g, y, conv(g, sl, 1, 16, 1, NN_SAME, NN_ACT_NONE), NN_ACT_NONE));
  nn_mark_output(g, nn_fc(g, nn_reshape(g, y, (nn_shape){1, 1, 4 * 9 * 16}), W, B, 10, NN_ACT_RELU));
  agree(g, 1.0f, 1e-5, "slice between convs");
}

/* An output that another conv reads on, kept in the blocked layout inside. */
static void test_internal_blocked_values_can_be_outputs(void) {
  nn_graph *g = nn_graph_new(8, 8, 8);
  int x = conv(g, 0, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  int y = conv(g, x, 3, 24, 2, NN_SAME, NN_ACT_RELU);
  nn_mark_output(g, y);
  nn_mark_output(g, nn_fc(g, y, W, NULL, 7, NN_ACT_NONE));
  nn_mark_output(g, x);
  nn_mark_output(g, nn_maxpool(g, x, 3, 2, NN_SAME));
  agree(g, 1.0f, 1e-5, "blocked outputs");
}

/* Input channels 0-7 hold a denormal (1e-39), 8-15 a small normal (1e-20).
 * Output A sums channels 0-7 times 1e20: 8e-19 if denormal inputs are read
 * as they are, 0 under DAZ. Output B sums channels 8-15 times 1e-20:
 * products of 1e-40, a denormal 8e-40 unless FTZ makes each 0. The image
 * is large enough that a two-thread run gives every thread a share. */
enum { DN_H = 48, DN_W = 40, DN_C = 16 };
static float DN_WA[DN_C * 8], DN_WB[DN_C * 8], DN_ZERO[8];

static nn_graph *denormal_graph(void) {
  for (int ci = 0; ci < DN_C; ci++)
    for (int co = 0; co < 8; co++) {
      DN_WA[ci * 8 + co] = ci < 8 ? 1e20f : 0;
      DN_WB[ci * 8 + co] = ci < 8 ? 0 : 1e-20f;
    }
  nn_graph *g = nn_graph_new(DN_H, DN_W, DN_C);
  nn_mark_output(g, nn_conv2d(g, 0, DN_WA, DN_ZERO, 1, 1, 8, 1, NN_SAME, NN_ACT_NONE));
  nn_mark_output(g, nn_conv2d(g, 0, DN_WB, DN_ZERO, 1, 1, 8, 1, NN_SAME, NN_ACT_NONE));
  return g;
}

/* Runs rt on the denormal input with the caller's own mode set to
 * `caller_flush`; CHECKs that the run left that mode as it was; returns
 * how many of the two outputs' values are not 0. */
static size_t denormal_run(nn_runtime *rt, int caller_flush) {
  float *in = nn_runtime_input(rt);
  for (int p = 0; p < DN_H * DN_W; p++)
    for (int c = 0; c < DN_C; c++) in[p * DN_C + c] = c < 8 ? 1e-39f : 1e-20f;
  fk_fpenv saved = fk_fpenv_set(caller_flush);
  int rc = nn_runtime_run(rt);
  int after = fk_fpenv_flushing();
  fk_fpenv_restore(saved);
  CHECK_EQ_INT(rc, FK_OK);
  CHECK_EQ_INT(after, caller_flush);
  size_t nonzero = 0;
  for (int o = 0; o < 2 && rc == FK_OK; o++) {
    const float *y = nn_runtime_output(rt, o);
    for (int i = 0; i < DN_H * DN_W * 8; i++) nonzero += y[i] != 0;
  }
  return nonzero;
}

static void test_denormals_are_flushed_on_every_backend_and_thread(void) {
  if (!fk_fpenv_supported()) {
    fprintf(stderr, "SKIP denormal flushing: this CPU architecture has no flush bits\n");
    return;
  }
  nn_graph *g = denormal_graph();
  const size_t all = 2 * DN_H * DN_W * 8;
  /* The reference backend on one thread, then every fast set-up. For the
   * backends whose mode nn_runtime_set_denormals sets (all but XNNPACK,
   * which flushes in every operator), a run that keeps denormals first
   * shows the input really makes them (so the flushed run's zeros are the
   * flush's doing) and leaves the workers in the other mode, which the
   * next runs must undo; the caller's own mode is either. */
  for (int i = -1; i < TU_NSETUPS; i++) {
    nn_threads *th = NULL;
    nn_runtime *rt = NULL;
    const char *name = i < 0 ? "reference" : TU_SETUPS[i].name;
    if (i < 0) CHECK_EQ_INT(nn_runtime_new(g, NN_BACKEND_REFERENCE, NULL, &rt), FK_OK);
    else rt = tu_runtime(g, i, &th);
    if (!rt) continue;
    int settable = i < 0 || TU_SETUPS[i].backend != NN_BACKEND_XNNPACK;
    for (int round = 0; round < 2; round++) {
      if (settable) {
        nn_runtime_set_denormals(rt, 1);
        size_t kept = denormal_run(rt, round);
        if (kept != all) fprintf(stderr, "%s keeping denormals: %zu of %zu values not 0\n", name, kept, all);
        CHECK(kept == all);
        nn_runtime_set_denormals(rt, 0);
      }
      for (int caller = 0; caller < 2; caller++) {
        size_t left = denormal_run(rt, caller);
        if (left) fprintf(stderr, "%s (caller flushing %d): %zu of %zu values not flushed\n", name, caller, left, all);
        CHECK(left == 0);
      }
    }
    tu_runtime_free(rt, th);
  }
  nn_graph_free(g);
}

/* bf16 on oneDNN (where the CPU has it natively; else skipped by name), on
 * one thread and two, follows the reference kernels' f32 through every
 * fusion, layout and fallback the f32 cases above reach; the reference and
 * XNNPACK backends refuse it rather than emulate it. */
static void test_bf16_follows_f32(void) {
  nn_graph *g = nn_graph_new(12, 12, 16);
  int x = conv(g, 0, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  x = nn_add(g, conv(g, x, 3, 16, 1, NN_SAME, NN_ACT_NONE), 0, NN_ACT_RELU); /* a residual sum */
  x = nn_prelu(g, x, K);
  int p = nn_maxpool(g, x, 3, 2, NN_SAME);
  x = nn_depthwise(g, p, K, B, 3, 3, 1, NN_SAME, NN_ACT_RELU6);
  x = nn_concat(g, x, p, 2);
  static const int pads[6] = {1, 1, 1, 1, 0, 0};
  x = nn_pad(g, x, pads);
  x = conv(g, x, 3, 24, 2, NN_VALID, NN_ACT_NONE);
  nn_mark_output(g, x);
  nn_mark_output(g, nn_fc(g, nn_global_avgpool(g, x), W, B, 7, NN_ACT_NONE));
  nn_mark_output(g, nn_unary(g, x, NN_UN_SIGMOID));
  CHECK_EQ_INT(nn_graph_status(g), FK_OK);
  double c = tu_bf16_cosine(g, 5, 1.0f, "conv, sum, prelu, pool, depthwise, concat, pad, fc");
  CHECK(c >= 0.999);
  for (int b = 0; b < 2; b++) {
    nn_runtime *rt = NULL;
    CHECK_EQ_INT(nn_runtime_new_prec(g, b ? NN_BACKEND_REFERENCE : NN_BACKEND_XNNPACK, NULL, NN_PREC_BF16, &rt),
                 FK_EUNSUPPORTED);
    CHECK(rt == NULL);
    CHECK_EQ_INT(nn_precision_native(b ? NN_BACKEND_REFERENCE : NN_BACKEND_XNNPACK, NN_PREC_BF16), 0);
  }
  nn_graph_free(g);
}

int main(void) {
  tu_fill_random(W, sizeof W / sizeof *W, 1);
  tu_fill_random(B, sizeof B / sizeof *B, 2);
  tu_fill_random(K, sizeof K / sizeof *K, 3);
  for (size_t i = 0; i < sizeof K / sizeof *K; i++) K[i] = K[i] < 0 ? K[i] - 0.5f : K[i] + 0.5f; /* |k| >= 0.5 */
  for (size_t i = 0; i < sizeof W / sizeof *W; i++) W[i] *= 0.2f; /* keep activations O(1) */
  RUN(test_each_activation_fuses_into_the_conv);
  RUN(test_residual_sum_fuses_into_the_second_conv);
  RUN(test_residual_sum_keeps_operands_read_later);
  RUN(test_binary_broadcasts_either_operand_in_any_order);
  RUN(test_padding_modes_and_strides_match);
  RUN(test_taps_in_the_padding_only_are_dropped);
  RUN(test_wide_paddings_match);
  RUN(test_channels_that_are_not_whole_blocks);
  RUN(test_reference_fallback_in_the_middle_of_a_graph);
  RUN(test_internal_blocked_values_can_be_outputs);
  RUN(test_denormals_are_flushed_on_every_backend_and_thread);
  RUN(test_bf16_follows_f32);
  return tu_summary();
}
