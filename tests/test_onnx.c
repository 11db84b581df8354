/*
 * test_onnx.c - the ONNX importer (src/nn/onnx.c) and the faceplugin nets
 * built on it (src/models/mbf512.c, rfb320.c, lmk64.c, pose.c, eye.c):
 *   - small models written here with protobuf-c, against direct NCHW
 *     arithmetic: the layout change (Flatten into Gemm, Transpose, Concat,
 *     Softmax, Slice, Gather over NCHW axes), padded/strided/grouped Conv,
 *     pooling, opset-dependent attributes;
 *   - the five nets on every backend against onnxruntime's outputs in
 *     tests/fixtures/golden_onnx.json and golden_quality.json
 *     (tools/reference/golden-onnx.js, golden-quality.js), raw on fixed
 *     inputs and end to end with the package's pre/post-processing; the
 *     pose net's yaw and roll change sign on a mirrored face;
 *   - every model the package ships loads (fr_pose through the rank-5
 *     channel shuffle, which has its own small test and limits);
 *   - one malformed file per class: each a clear FK_EMODEL;
 *   - external data: a model whose weights live in a file beside it loads
 *     like the inline one; bad locations, offsets and lengths are errors.
 * Needs the models ($FACEKIT_MODELS, else ./models) and the fixtures.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <sys/stat.h>

#include "facekit.h"
#include "image/image.h"
#include "models/models.h"
#include "nn/nn.h"
#include "nn/onnx.h"
#include "onnx_builder.h"
#include "testutil.h"
#include "golden.h"

/* ---- writing small models ------------------------------------------------------ */

/* Packs the model into a temp file; its path. */
static const char *mb_write(mb *b, const char *file) {
  size_t n;
  uint8_t *buf = mb_pack(b, &n);
  const char *path = tu_tmp(file);
  tu_write_file(path, buf, n);
  free(buf);
  return path;
}

/* The backends every test runs, the reference first. */
static const nn_backend backends[] = {NN_BACKEND_REFERENCE, NN_BACKEND_XNNPACK, NN_BACKEND_DNNL};
enum { NBACKENDS = sizeof backends / sizeof *backends };

/* Loads path and runs it on every backend with the NCHW input x (c x h x
 * w, filled into the graph's HWC input); writes output o (ONNX order) of
 * the reference run to y (n values) and CHECKs that the backends agree.
 * Returns the load status. */
static int run_all(const char *path, const float *x, int c, int h, int w, float *y, size_t n) {
  nn_graph *g = NULL;
  char err[300];
  int rc = nn_onnx_load(path, NULL, 0, &g, err, sizeof err);
  if (rc != FK_OK) {
    fprintf(stderr, "  load: %s\n", err);
    return rc;
  }
  CHECK_EQ_INT(nn_shape_size(g->shapes[g->outputs[0]]), n);
  float *res[NBACKENDS];
  for (int bk = 0; bk < NBACKENDS; bk++) {
    nn_runtime *r = NULL;
    res[bk] = calloc(n, sizeof(float));
    CHECK_EQ_INT(nn_runtime_new(g, backends[bk], NULL, &r), FK_OK);
    if (!r) continue;
    float *in = nn_runtime_input(r);
    for (int ch = 0; ch < c; ch++)
      for (int i = 0; i < h * w; i++) in[(size_t)i * c + ch] = x[(size_t)ch * h * w + i];
    CHECK_EQ_INT(nn_runtime_run(r), FK_OK);
    memcpy(res[bk], nn_runtime_output(r, 0), n * sizeof(float));
    nn_runtime_free(r);
  }
  memcpy(y, res[0], n * sizeof(float));
  for (int bk = 1; bk < NBACKENDS; bk++) {
    if (tu_max_abs_diff(res[0], res[bk], n) >= 1e-4) fprintf(stderr, "  %s differs\n", nn_backend_name(backends[bk]));
    CHECK(tu_max_abs_diff(res[0], res[bk], n) < 1e-4);
  }
  for (int bk = 0; bk < NBACKENDS; bk++) free(res[bk]);
  nn_graph_free(g);
  return FK_OK;
}

/* ---- the layout change ----------------------------------------------------------- */

static void test_flatten_of_nchw_feeds_gemm_in_onnx_order(void) {
  /* [1, 3, 2, 2] -> Flatten -> Gemm (transB) 12 -> 4: the Gemm must see
   * the values in C, H, W order although the graph stores H, W, C. */
  float x[12], wt[4 * 12], bias[4], y[4];
  tu_fill_random(x, 12, 1);
  tu_fill_random(wt, 48, 2);
  tu_fill_random(bias, 4, 3);
  for (int pass = 0; pass < 2; pass++) {
    mb b;
    mb_init(&b, 9);
    const int in[4] = {1, 3, 2, 2}, wd[2] = {4, 12}, bd[1] = {4};
    mb_value(&b, 0, "x", 4, in);
    mb_floats(&b, "W", 2, wd, wt);
    mb_floats(&b, "B", 1, bd, bias);
    if (pass == 0) {
      mb_attr_i(&b, mb_node(&b, "Flatten", "x", "f"), "axis", 1);
    } else { /* Reshape by a shape computed from Shape/Gather/Unsqueeze/Concat */
      const long long minus1[1] = {-1}, zero[1] = {0}, ax0[1] = {0};
      mb_int64s(&b, "m1", 1, minus1);
      mb_int64s(&b, "i0", 1, zero);
      b.g.initializer[b.g.n_initializer - 1]->n_dims = 0; /* a scalar index */
      mb_node(&b, "Shape", "x", "s");
      Onnx__NodeProto *gth = mb_node(&b, "Gather", "s,i0", "n");
      mb_attr_i(&b, gth, "axis", 0);
      mb_attr_ints(&b, mb_node(&b, "Unsqueeze", "n", "n1"), "axes", 1, ax0);
      mb_attr_i(&b, mb_node(&b, "Concat", "n1,m1", "shape"), "axis", 0);
      mb_node(&b, "Reshape", "x,shape", "f");
    }
    Onnx__NodeProto *gm = mb_node(&b, "Gemm", "f,W,B", "y");
    mb_attr_i(&b, gm, "transB", 1);
    mb_value(&b, 1, "y", 0, NULL);
    CHECK_EQ_INT(run_all(mb_write(&b, "flat.onnx"), x, 3, 2, 2, y, 4), FK_OK);
    mb_free(&b);
    for (int o = 0; o < 4; o++) {
      double s = bias[o];
      for (int i = 0; i < 12; i++) s += (double)wt[o * 12 + i] * x[i];
      CHECK_NEAR(y[o], s, 1e-5);
    }
  }
}

/* Direct NCHW convolution with ONNX pads [top, left, bottom, right]. */
static void conv_nchw(const float *x, int c, int h, int w, const float *wt, const float *bias,
                      int m, int kh, int kw, int group, int stride, int dil, const int *pads,
                      float *y, int oh, int ow) {
  int gin = c / group, gout = m / group;
  for (int o = 0; o < m; o++)
    for (int i = 0; i < oh; i++)
      for (int j = 0; j < ow; j++) {
        double s = bias ? bias[o] : 0;
        for (int ci = 0; ci < gin; ci++)
          for (int u = 0; u < kh; u++)
            for (int v = 0; v < kw; v++) {
              int yy = i * stride - pads[0] + u * dil, xx = j * stride - pads[1] + v * dil;
              if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
              int cc = (o / gout) * gin + ci;
              s += (double)x[((size_t)cc * h + yy) * w + xx] * wt[(((size_t)o * gin + ci) * kh + u) * kw + v];
            }
        y[((size_t)o * oh + i) * ow + j] = (float)s;
      }
}

static void test_conv_pads_strides_groups_match_direct_nchw(void) {
  struct { int c, m, group, k, stride, dil, pads[4]; } cases[] = {
      {4, 6, 1, 3, 2, 1, {1, 1, 1, 1}},  /* PyTorch's symmetric pad, stride 2 */
      {6, 6, 6, 3, 1, 2, {2, 2, 2, 2}},  /* depthwise, dilated */
      {4, 6, 2, 3, 1, 1, {0, 1, 2, 0}},  /* grouped, uneven pads */
      {3, 6, 3, 3, 2, 1, {1, 0, 1, 1}},  /* depth multiplier 2 */
  };
  const int h = 7, w = 9;
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
    int c = cases[t].c, m = cases[t].m, k = cases[t].k, s = cases[t].stride, d = cases[t].dil;
    const int *p = cases[t].pads;
    int oh = (h + p[0] + p[2] - ((k - 1) * d + 1)) / s + 1, ow = (w + p[1] + p[3] - ((k - 1) * d + 1)) / s + 1;
    int gin = c / cases[t].group;
    float x[6 * 7 * 9], wt[6 * 6 * 9], bias[6], want[6 * 7 * 9], got[6 * 7 * 9];
    tu_fill_random(x, (size_t)c * h * w, 10 + (unsigned)t);
    tu_fill_random(wt, (size_t)m * gin * k * k, 20 + (unsigned)t);
    tu_fill_random(bias, (size_t)m, 30 + (unsigned)t);
    conv_nchw(x, c, h, w, wt, bias, m, k, k, cases[t].group, s, d, p, want, oh, ow);
    mb b;
    mb_init(&b, 11);
    const int in[4] = {1, c, h, w}, wd[4] = {m, gin, k, k}, bd[1] = {m};
    mb_value(&b, 0, "x", 4, in);
    mb_floats(&b, "W", 4, wd, wt);
    mb_floats(&b, "B", 1, bd, bias);
    Onnx__NodeProto *n = mb_node(&b, "Conv", "x,W,B", "y");
    const long long pads[4] = {p[0], p[1], p[2], p[3]}, st[2] = {s, s}, dl[2] = {d, d};
    mb_attr_ints(&b, n, "pads", 4, pads);
    mb_attr_ints(&b, n, "strides", 2, st);
    mb_attr_ints(&b, n, "dilations", 2, dl);
    mb_attr_i(&b, n, "group", cases[t].group);
    mb_value(&b, 1, "y", 0, NULL);
    size_t cnt = (size_t)m * oh * ow;
    CHECK_EQ_INT(run_all(mb_write(&b, "conv.onnx"), x, c, h, w, got, cnt), FK_OK);
    mb_free(&b);
    CHECK(tu_max_abs_diff(want, got, cnt) < 1e-5);
  }
}

/* Transpose(0,2,3,1) -> Reshape [1, H*W, C] -> Softmax(axis 2) -> Slice
 * along the last axis -> Concat with itself along axis 1: the SSD head
 * pattern, all over NCHW-stored data. */
static void test_transpose_softmax_slice_concat_follow_onnx_axes(void) {
  const int C = 4, H = 3, W = 5;
  float x[4 * 3 * 5], got[2 * 15 * 2];
  tu_fill_random(x, sizeof x / sizeof x[0], 7);
  mb b;
  mb_init(&b, 9);
  const int in[4] = {1, C, H, W};
  const long long perm[4] = {0, 2, 3, 1}, shape[3] = {1, -1, 4};
  const long long st[1] = {1}, en[1] = {3}, ax[1] = {2};
  mb_value(&b, 0, "x", 4, in);
  mb_int64s(&b, "shape", 3, shape);
  mb_attr_ints(&b, mb_node(&b, "Transpose", "x", "t"), "perm", 4, perm);
  mb_node(&b, "Reshape", "t,shape", "r");
  mb_attr_i(&b, mb_node(&b, "Softmax", "r", "s"), "axis", 2);
  Onnx__NodeProto *sl = mb_node(&b, "Slice", "s", "sl");
  mb_attr_ints(&b, sl, "starts", 1, st);
  mb_attr_ints(&b, sl, "ends", 1, en);
  mb_attr_ints(&b, sl, "axes", 1, ax);
  mb_attr_i(&b, mb_node(&b, "Concat", "sl,sl", "y"), "axis", 1);
  mb_value(&b, 1, "y", 0, NULL);
  CHECK_EQ_INT(run_all(mb_write(&b, "head.onnx"), x, C, H, W, got, 2 * 15 * 2), FK_OK);
  mb_free(&b);
  double worst = 0;
  for (int rep = 0; rep < 2; rep++)
    for (int p = 0; p < H * W; p++) {
      double mx = -1e30, sum = 0;
      for (int ch = 0; ch < C; ch++) mx = fmax(mx, x[ch * H * W + p]);
      for (int ch = 0; ch < C; ch++) sum += exp(x[ch * H * W + p] - mx);
      for (int ch = 1; ch < 3; ch++) {
        double want = exp(x[ch * H * W + p] - mx) / sum;
        worst = fmax(worst, fabs(got[(rep * H * W + p) * 2 + ch - 1] - want));
      }
    }
  CHECK(worst < 1e-6);
}

/* ShuffleNet's channel shuffle, Reshape [1, C, H, W] -> [1, 2, C/2, H, W],
 * Transpose (0, 2, 1, 3, 4), Reshape to [1, C, H, W], then a Relu so the
 * result is read in NCHW order: out channel 2 j + i = in channel i C/2 + j.
 * Rank 5 anywhere else is still an error naming the node. */
static void test_rank5_channel_shuffle_and_its_limits(void) {
  enum { C = 6, H = 3, W = 4 };
  float x[C * H * W], got[C * H * W];
  tu_fill_random(x, C * H * W, 11);
  const int in[4] = {1, C, H, W};
  const long long five[5] = {1, 2, C / 2, H, W}, back[4] = {1, C, H, W};
  const long long shuffle[5] = {0, 2, 1, 3, 4}, moves_hw[5] = {0, 2, 1, 4, 3};
  for (int variant = 0; variant < 3; variant++) {
    mb b;
    mb_init(&b, 9);
    mb_value(&b, 0, "x", 4, in);
    mb_int64s(&b, "five", 5, five);
    mb_int64s(&b, "back", 4, back);
    mb_node(&b, "Reshape", "x,five", "r5");
    if (variant == 2) {
      mb_node(&b, "Relu", "r5", "y5"); /* rank 5 read by a Relu */
      mb_node(&b, "Reshape", "y5,back", "r4");
    } else {
      mb_attr_ints(&b, mb_node(&b, "Transpose", "r5", "t5"), "perm", 5, variant ? moves_hw : shuffle);
      mb_node(&b, "Reshape", "t5,back", "r4");
    }
    mb_node(&b, "Relu", "r4", "y");
    mb_value(&b, 1, "y", 0, NULL);
    const char *path = mb_write(&b, "shuffle.onnx");
    mb_free(&b);
    if (variant == 0) {
      CHECK_EQ_INT(run_all(path, x, C, H, W, got, C * H * W), FK_OK);
      double worst = 0;
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < C / 2; j++)
          for (int p = 0; p < H * W; p++)
            worst = fmax(worst, fabs(got[(2 * j + i) * H * W + p] - fmaxf(x[(i * C / 2 + j) * H * W + p], 0)));
      CHECK(worst == 0);
      continue;
    }
    nn_graph *g = NULL;
    char err[300] = "";
    CHECK_EQ_INT(nn_onnx_load(path, NULL, 0, &g, err, sizeof err), FK_EMODEL);
    fprintf(stderr, "  %s\n", err);
    CHECK(strstr(err, variant == 1 ? "(Transpose)" : "(Reshape)") != NULL);
    nn_graph_free(g);
  }
}

/* Pooling with PyTorch pads and ceil_mode, GlobalAveragePool, and Clip
 * from inputs (opset 11) against direct computation. */
static void test_pools_and_clip_follow_onnx_semantics(void) {
  const int C = 2, H = 6, W = 7;
  float x[2 * 6 * 7], got[2 * 4 * 4];
  tu_fill_random(x, sizeof x / sizeof x[0], 9);
  for (int is_max = 0; is_max < 2; is_max++) {
    mb b;
    mb_init(&b, 11);
    const int in[4] = {1, C, H, W}, sd[1] = {1};
    const long long k[2] = {3, 3}, st[2] = {2, 2}, pads[4] = {1, 1, 1, 1};
    const float lo = -0.25f, hi = 0.5f;
    mb_value(&b, 0, "x", 4, in);
    mb_floats(&b, "lo", 0, sd, &lo);
    mb_floats(&b, "hi", 0, sd, &hi);
    Onnx__NodeProto *n = mb_node(&b, is_max ? "MaxPool" : "AveragePool", "x", "p");
    mb_attr_ints(&b, n, "kernel_shape", 2, k);
    mb_attr_ints(&b, n, "strides", 2, st);
    mb_attr_ints(&b, n, "pads", 4, pads);
    mb_attr_i(&b, n, "ceil_mode", 1);
    mb_node(&b, "Clip", "p,lo,hi", "y");
    mb_value(&b, 1, "y", 0, NULL);
    /* ceil((6 + 2 - 3) / 2) + 1 = 4, ceil((7 + 2 - 3) / 2) + 1 = 4 */
    CHECK_EQ_INT(run_all(mb_write(&b, "pool.onnx"), x, C, H, W, got, 2 * 4 * 4), FK_OK);
    mb_free(&b);
    double worst = 0;
    for (int ch = 0; ch < C; ch++)
      for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) {
          double acc = 0, mx = -1e30;
          int cnt = 0;
          for (int u = 0; u < 3; u++)
            for (int v = 0; v < 3; v++) {
              int yy = 2 * i - 1 + u, xx = 2 * j - 1 + v;
              if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
              double val = x[(ch * H + yy) * W + xx];
              acc += val;
              mx = fmax(mx, val);
              cnt++;
            }
          double want = fmin(fmax(is_max ? mx : acc / cnt, lo), hi);
          worst = fmax(worst, fabs(got[(ch * 4 + i) * 4 + j] - want));
        }
    CHECK(worst < 1e-6);
  }
}

/* Opset 13 inputs (Split sizes, Pad pads, Squeeze/Unsqueeze axes), a
 * second Split output, ReduceMean and a broadcasting Mul of two tensors,
 * over NCHW axes:
 *   s0, s1 = Split(x, [1, 3], axis 1); p = Pad(s1, H +1 before, W +2 after)
 *   r = Unsqueeze(Squeeze(ReduceMean(p, [2, 3]), [3]), [3]); y = s0 * r */
static void test_opset13_split_pad_reduce_and_broadcast(void) {
  const int C = 4, H = 3, W = 3;
  float x[4 * 3 * 3], got[3 * 3 * 3];
  tu_fill_random(x, sizeof x / sizeof x[0], 5);
  mb b;
  mb_init(&b, 13);
  const int in[4] = {1, C, H, W};
  const long long split[2] = {1, 3}, pads[8] = {0, 0, 1, 0, 0, 0, 0, 2}, a3[1] = {3};
  const long long axes[2] = {2, 3};
  mb_value(&b, 0, "x", 4, in);
  mb_int64s(&b, "split", 2, split);
  mb_int64s(&b, "pads", 8, pads);
  mb_int64s(&b, "a3", 1, a3);
  mb_attr_i(&b, mb_node(&b, "Split", "x,split", "s0,s1"), "axis", 1);
  mb_node(&b, "Pad", "s1,pads", "p");
  Onnx__NodeProto *r = mb_node(&b, "ReduceMean", "p", "r");
  mb_attr_ints(&b, r, "axes", 2, axes);
  mb_node(&b, "Squeeze", "r,a3", "q");
  mb_node(&b, "Unsqueeze", "q,a3", "u");
  mb_node(&b, "Mul", "s0,u", "y");
  mb_value(&b, 1, "y", 0, NULL);
  CHECK_EQ_INT(run_all(mb_write(&b, "split.onnx"), x, C, H, W, got, 3 * 3 * 3), FK_OK);
  mb_free(&b);
  double worst = 0;
  for (int ch = 0; ch < 3; ch++) {
    double mean = 0; /* of the padded 4 x 5 plane of channel ch + 1 */
    for (int i = 0; i < H * W; i++) mean += x[(ch + 1) * H * W + i];
    mean /= 4 * 5;
    for (int i = 0; i < H * W; i++) worst = fmax(worst, fabs(got[ch * H * W + i] - x[i] * mean));
  }
  CHECK(worst < 1e-6);
}

/* Slice from inputs (opset 10 on): axes out of order, a negative step,
 * INT64_MAX / INT64_MIN bounds that clamp to the axis. */
static void test_slice_inputs_clamp_and_step_backwards(void) {
  const int C = 2, H = 4, W = 5;
  float x[2 * 4 * 5], got[2 * 2 * 3];
  tu_fill_random(x, sizeof x / sizeof x[0], 6);
  mb b;
  mb_init(&b, 10);
  const int in[4] = {1, C, H, W};
  const long long starts[2] = {INT64_MAX, 1}, ends[2] = {INT64_MIN, 4}, axes[2] = {3, -2};
  const long long steps[2] = {-2, 2};
  mb_value(&b, 0, "x", 4, in);
  mb_int64s(&b, "st", 2, starts);
  mb_int64s(&b, "en", 2, ends);
  mb_int64s(&b, "ax", 2, axes);
  mb_int64s(&b, "sp", 2, steps);
  mb_node(&b, "Slice", "x,st,en,ax,sp", "y");
  mb_value(&b, 1, "y", 0, NULL);
  CHECK_EQ_INT(run_all(mb_write(&b, "slice.onnx"), x, C, H, W, got, 2 * 2 * 3), FK_OK);
  mb_free(&b);
  double worst = 0; /* rows 1, 3; columns 4, 2, 0 */
  for (int ch = 0; ch < C; ch++)
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++)
        worst = fmax(worst, fabs(got[(ch * 2 + i) * 3 + j] - x[(ch * H + 1 + 2 * i) * W + 4 - 2 * j]));
  CHECK(worst == 0);
}

/* ---- the faceplugin nets against onnxruntime ---------------------------------------- */

static cJSON *golden, *quality; /* golden_onnx.json, golden_quality.json */

static const cJSON *gget(const cJSON *o, const char *path) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *tok = strtok(buf, "."); tok && o; tok = strtok(NULL, "."))
    o = cJSON_GetObjectItemCaseSensitive(o, tok);
  return o;
}

/* Runs g on every backend with input `in`; output o copied to out[bk]. */
static void run_backends(const nn_graph *g, const float *in, int o, float *out[NBACKENDS]) {
  for (int bk = 0; bk < NBACKENDS; bk++) {
    nn_runtime *rt = NULL;
    CHECK_EQ_INT(nn_runtime_new(g, backends[bk], NULL, &rt), FK_OK);
    if (!rt) continue;
    memcpy(nn_runtime_input(rt), in, nn_shape_size(g->shapes[0]) * sizeof *in);
    CHECK_EQ_INT(nn_runtime_run(rt), FK_OK);
    memcpy(out[bk], nn_runtime_output(rt, o), nn_shape_size(g->shapes[g->outputs[o]]) * sizeof(float));
    nn_runtime_free(rt);
  }
}

static double cosine(const float *a, const float *b, int n) {
  double ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; i++) {
    ab += (double)a[i] * b[i];
    aa += (double)a[i] * a[i];
    bb += (double)b[i] * b[i];
  }
  return ab / sqrt(aa * bb);
}

static void test_recognizer_matches_onnxruntime_on_every_backend(void) {
  nn_graph *g = NULL;
  char err[300];
  int rc = fk_mbf512_load(tu_model_path(FK_MBF512_FILE), &g, err, sizeof err);
  if (rc) fprintf(stderr, "%s\n", err);
  CHECK_EQ_INT(rc, FK_OK);
  fk_image img;
  static float got[NBACKENDS][FK_MBF512_DIM];
  float want[FK_MBF512_DIM], *out[NBACKENDS];
  for (int bk = 0; bk < NBACKENDS; bk++) out[bk] = got[bk];
  static float chip[112 * 112 * 3];
  if (!g || fk_image_load(tu_fixture("chip112.png"), 0, &img) != FK_OK ||
      !tu_json_floats(gget(golden, "raw.fr_feature_chip112"), want, FK_MBF512_DIM)) {
    CHECK(0);
    nn_graph_free(g);
    return;
  }
  for (int i = 0; i < 112 * 112 * 3; i++) chip[i] = img.rgb[i];
  fk_image_free(&img);
  fk_mbf512_normalize(chip, 112 * 112);
  run_backends(g, chip, 0, out);
  for (int bk = 0; bk < NBACKENDS; bk++) {
    double cs = cosine(got[bk], want, FK_MBF512_DIM), dm = tu_max_abs_diff(got[bk], want, FK_MBF512_DIM);
    fprintf(stderr, "  mbf512 %-9s vs onnxruntime: cosine %.9f, max |d| %.3g; vs reference %.3g\n",
            nn_backend_name(backends[bk]), cs, dm, tu_max_abs_diff(got[bk], got[0], FK_MBF512_DIM));
    CHECK(cs >= 0.9999);
    CHECK(dm < 1e-3);
  }
  nn_graph_free(g);
}

static void test_landmark_net_matches_onnxruntime_on_every_backend(void) {
  nn_graph *g = NULL;
  char err[300];
  CHECK_EQ_INT(fk_lmk64_load(tu_model_path(FK_LMK64_FILE), &g, err, sizeof err), FK_OK);
  fk_image img;
  float in[64 * 64], want[136], got[NBACKENDS][136], *out[NBACKENDS];
  for (int bk = 0; bk < NBACKENDS; bk++) out[bk] = got[bk];
  if (!g || fk_image_load(tu_fixture("chip64_gray.png"), 0, &img) != FK_OK ||
      !tu_json_floats(gget(golden, "raw.fr_landmark_chip64"), want, 136)) {
    CHECK(0);
    nn_graph_free(g);
    return;
  }
  for (int i = 0; i < 64 * 64; i++) in[i] = img.rgb[3 * i] / 256.0f;
  fk_image_free(&img);
  run_backends(g, in, 0, out);
  for (int bk = 0; bk < NBACKENDS; bk++) {
    double dm = tu_max_abs_diff(got[bk], want, 136);
    fprintf(stderr, "  lmk64 %-9s vs onnxruntime: max |d| %.3g (of the crop side)\n", nn_backend_name(backends[bk]), dm);
    CHECK(dm < 1e-5);
  }
  nn_graph_free(g);
}

static void test_detector_net_matches_onnxruntime_on_every_backend(void) {
  nn_graph *g = NULL;
  char err[300];
  CHECK_EQ_INT(fk_rfb320_load(tu_model_path(FK_RFB320_FILE), &g, err, sizeof err), FK_OK);
  fk_image img;
  const cJSON *rec = gget(golden, "raw.fr_detect_group4_crop");
  if (!g || !rec || fk_image_load(tu_fixture("group4.png"), 0, &img) != FK_OK) {
    CHECK(0);
    nn_graph_free(g);
    return;
  }
  /* The top-left 320x240 of group4.png, B, G, R, (x - 127) / 128. */
  static float in[240 * 320 * 3], sc[NBACKENDS][4420 * 2], bx[NBACKENDS][4420 * 4];
  for (int y = 0; y < 240; y++)
    for (int x = 0; x < 320; x++)
      for (int k = 0; k < 3; k++)
        in[(y * 320 + x) * 3 + k] = (img.rgb[((size_t)y * img.width + x) * 3 + 2 - k] - 127.0f) / 128.0f;
  fk_image_free(&img);
  float *o0[NBACKENDS], *o1[NBACKENDS];
  for (int bk = 0; bk < NBACKENDS; bk++) o0[bk] = sc[bk], o1[bk] = bx[bk];
  run_backends(g, in, 0, o0);
  run_backends(g, in, 1, o1);
  for (int bk = 0; bk < NBACKENDS; bk++) {
    double ds = 0, db = 0, sum = 0, bsum = 0;
    const cJSON *t;
    cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(rec, "top")) {
      int i = cJSON_GetObjectItemCaseSensitive(t, "index")->valueint;
      float s[2], b[4];
      tu_json_floats(cJSON_GetObjectItemCaseSensitive(t, "scores"), s, 2);
      tu_json_floats(cJSON_GetObjectItemCaseSensitive(t, "box"), b, 4);
      ds = fmax(ds, fabs(sc[bk][2 * i + 1] - s[1]));
      for (int k = 0; k < 4; k++) db = fmax(db, fabs(bx[bk][4 * i + k] - b[k]));
    }
    int stride = cJSON_GetObjectItemCaseSensitive(rec, "stride")->valueint, i = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(rec, "scores_samples"))
      ds = fmax(ds, fabs(sc[bk][(i++) * stride * 2] - v->valuedouble));
    i = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(rec, "boxes_samples"))
      db = fmax(db, fabs(bx[bk][(i++) * stride * 4] - v->valuedouble));
    for (int k = 0; k < 4420 * 2; k++) sum += sc[bk][k];
    for (int k = 0; k < 4420 * 4; k++) bsum += bx[bk][k];
    double dsum = fabs(sum - gget(rec, "scores_sum")->valuedouble);
    double dbsum = fabs(bsum - gget(rec, "boxes_sum")->valuedouble) / gget(rec, "boxes_abs_sum")->valuedouble;
    fprintf(stderr, "  rfb320 %-9s vs onnxruntime: scores max |d| %.3g, boxes %.3g (of the side); "
            "sum of scores %.3g, of boxes (relative) %.3g\n", nn_backend_name(backends[bk]), ds, db, dsum, dbsum);
    CHECK(ds < 1e-5 && db < 1e-5 && dsum < 1e-3 && dbsum < 1e-6);
  }
  nn_graph_free(g);
}

/* Detector and landmarks with their pre/post-processing on the fixture
 * photos, against the package's own pipeline in onnxruntime. */
static void test_detector_and_landmarks_match_the_package_pipeline(void) {
  nn_graph *dg = NULL, *lg = NULL;
  char err[300];
  CHECK_EQ_INT(fk_rfb320_load(tu_model_path(FK_RFB320_FILE), &dg, err, sizeof err), FK_OK);
  CHECK_EQ_INT(fk_lmk64_load(tu_model_path(FK_LMK64_FILE), &lg, err, sizeof err), FK_OK);
  nn_runtime *dr = NULL, *lr = NULL;
  if (dg) CHECK_EQ_INT(nn_runtime_new(dg, NN_BACKEND_XNNPACK, NULL, &dr), FK_OK);
  if (lg) CHECK_EQ_INT(nn_runtime_new(lg, NN_BACKEND_XNNPACK, NULL, &lr), FK_OK);
  const char *names[] = {"face_a1", "face_a2", "face_b1", "face_c1", "group4", "noface"};
  double dbox = 0, dscore = 0, dpts = 0;
  int faces = 0;
  for (size_t i = 0; dr && lr && i < sizeof names / sizeof names[0]; i++) {
    char file[64];
    snprintf(file, sizeof file, "%s.png", names[i]);
    fk_image img;
    if (fk_image_load(tu_fixture(file), 0, &img) != FK_OK) {
      CHECK(0);
      continue;
    }
    fk_rfb320_input(&img, nn_runtime_input(dr));
    CHECK_EQ_INT(nn_runtime_run(dr), FK_OK);
    fk_det dets[16];
    int n = 0;
    CHECK_EQ_INT(fk_rfb320_decode(nn_runtime_output(dr, 0), nn_runtime_output(dr, 1), img.width,
                                  img.height, FK_RFB320_MIN_SCORE, dets, 16, &n), FK_OK);
    char path[96];
    snprintf(path, sizeof path, "images.%s.faces", names[i]);
    const cJSON *gf = gget(golden, path);
    CHECK_EQ_INT(n, cJSON_GetArraySize(gf));
    for (int f = 0; f < n && f < cJSON_GetArraySize(gf); f++) {
      const cJSON *rec = cJSON_GetArrayItem(gf, f);
      float box[4], pts[68 * 2];
      int crop[4] = {0};
      tu_json_floats(cJSON_GetObjectItemCaseSensitive(rec, "box"), box, 4);
      const fk_det *d = &dets[f];
      const float mine[4] = {d->x, d->y, d->x + d->w, d->y + d->h};
      for (int k = 0; k < 4; k++) dbox = fmax(dbox, fabs(mine[k] - box[k]));
      dscore = fmax(dscore, fabs(d->score - gget(rec, "score")->valuedouble));
      fk_rect r;
      CHECK(fk_lmk64_crop(d, img.width, img.height, &r));
      const cJSON *gc = cJSON_GetObjectItemCaseSensitive(rec, "landmark_crop");
      for (int k = 0; k < 4; k++) crop[k] = cJSON_GetArrayItem(gc, k)->valueint;
      CHECK(r.x == crop[0] && r.y == crop[1] && r.w == crop[2] && r.h == crop[3]);
      /* Landmarks from the reference's own crop, so that a one-pixel crop
       * difference (checked above) does not hide in the point bound. */
      fk_rect gr = {crop[0], crop[1], crop[2], crop[3]};
      fk_lmk64_input(&img, gr, nn_runtime_input(lr));
      CHECK_EQ_INT(nn_runtime_run(lr), FK_OK);
      fk_point p[68];
      fk_lmk64_decode(nn_runtime_output(lr, 0), gr, p);
      const cJSON *gl = cJSON_GetObjectItemCaseSensitive(rec, "landmarks");
      for (int k = 0; k < 68; k++) tu_json_floats(cJSON_GetArrayItem(gl, k), pts + 2 * k, 2);
      for (int k = 0; k < 68; k++)
        dpts = fmax(dpts, fmax(fabs(p[k].x - pts[2 * k]), fabs(p[k].y - pts[2 * k + 1])));
      faces++;
    }
    fk_image_free(&img);
  }
  fprintf(stderr, "  rfb320 + lmk64 end to end, %d faces: box max |d| %.3g px, score %.3g, "
          "landmarks %.3g px\n", faces, dbox, dscore, dpts);
  CHECK_EQ_INT(faces, 8);
  CHECK(dbox < 1e-2 && dscore < 1e-5 && dpts < 1e-2);
  nn_runtime_free(dr);
  nn_runtime_free(lr);
  nn_graph_free(dg);
  nn_graph_free(lg);
}

/* The pose net on the 224x224 of face_a1.png at (13, 13), channels as they
 * lie, ImageNet-normalized: logits and angles against onnxruntime. */
static void test_pose_net_matches_onnxruntime_on_every_backend(void) {
  nn_graph *g = NULL;
  char err[300];
  CHECK_EQ_INT(fk_pose_load(tu_model_path(FK_POSE_FILE), &g, err, sizeof err), FK_OK);
  static const char *const heads[3] = {"yaw", "pitch", "roll"};
  static const double mean[3] = {0.485, 0.456, 0.406}, sd[3] = {0.229, 0.224, 0.225};
  static float in[224 * 224 * 3], got[3][NBACKENDS][FK_POSE_BINS];
  float want[3][FK_POSE_BINS];
  fk_image img;
  int ok = g && fk_image_load(tu_fixture("face_a1.png"), 0, &img) == FK_OK;
  for (int h = 0; ok && h < 3; h++) {
    char path[64];
    snprintf(path, sizeof path, "raw.fr_pose_a1_crop.%s", heads[h]);
    ok = tu_json_floats(gget(quality, path), want[h], FK_POSE_BINS);
  }
  if (!ok) {
    CHECK(0);
    nn_graph_free(g);
    return;
  }
  for (int y = 0; y < 224; y++)
    for (int x = 0; x < 224; x++)
      for (int k = 0; k < 3; k++)
        in[(y * 224 + x) * 3 + k] =
            (float)((img.rgb[((size_t)(y + 13) * img.width + x + 13) * 3 + k] / 255.0 - mean[k]) / sd[k]);
  fk_image_free(&img);
  for (int h = 0; h < 3; h++) {
    float *out[NBACKENDS];
    for (int bk = 0; bk < NBACKENDS; bk++) out[bk] = got[h][bk];
    run_backends(g, in, h, out);
  }
  float wa[3], ga[3];
  fk_pose_decode(want[0], want[1], want[2], wa);
  for (int bk = 0; bk < NBACKENDS; bk++) {
    double dm = 0;
    for (int h = 0; h < 3; h++) dm = fmax(dm, tu_max_abs_diff(got[h][bk], want[h], FK_POSE_BINS));
    fk_pose_decode(got[0][bk], got[1][bk], got[2][bk], ga);
    double da = fmax(fabs(ga[0] - wa[0]), fmax(fabs(ga[1] - wa[1]), fabs(ga[2] - wa[2])));
    fprintf(stderr, "  pose %-9s vs onnxruntime: logits max |d| %.3g, angles %.3g deg (yaw %.2f)\n",
            nn_backend_name(backends[bk]), dm, da, (double)ga[0]);
    CHECK(dm < 1e-3 && da < 1e-3);
  }
  nn_graph_free(g);
}

/* The eye net on the 24x24 of chip64_gray.png at (8, 14), / 255. */
static void test_eye_net_matches_onnxruntime_on_every_backend(void) {
  nn_graph *g = NULL;
  char err[300];
  CHECK_EQ_INT(fk_eye_load(tu_model_path(FK_EYE_FILE), &g, err, sizeof err), FK_OK);
  fk_image img;
  float in[24 * 24], want[2], got[NBACKENDS][2], *out[NBACKENDS];
  for (int bk = 0; bk < NBACKENDS; bk++) out[bk] = got[bk];
  if (!g || fk_image_load(tu_fixture("chip64_gray.png"), 0, &img) != FK_OK ||
      !tu_json_floats(gget(quality, "raw.fr_eye_chip64"), want, 2)) {
    CHECK(0);
    nn_graph_free(g);
    return;
  }
  for (int y = 0; y < 24; y++)
    for (int x = 0; x < 24; x++) in[y * 24 + x] = img.rgb[((y + 14) * 64 + x + 8) * 3] / 255.0f;
  fk_image_free(&img);
  run_backends(g, in, 0, out);
  for (int bk = 0; bk < NBACKENDS; bk++) {
    double dm = tu_max_abs_diff(got[bk], want, 2);
    fprintf(stderr, "  eye %-9s vs onnxruntime: max |d| %.3g\n", nn_backend_name(backends[bk]), dm);
    CHECK(dm < 1e-5);
  }
  nn_graph_free(g);
}

/* The crops at and past the image's edges: cut to the image, or empty
 * (0) when nothing is left, never out of bounds; NaN boxes are empty. */
static void test_pose_and_eye_crops_stay_inside_the_image(void) {
  fk_rect r;
  CHECK(fk_pose_crop((fk_box){-20, -10, 60, 60}, 100, 80, &r));
  /* x1 -20, w 60: x11 = -35 clamps to 0 with the JS's width 90; cut to 90 */
  CHECK(r.x == 0 && r.y == 0 && r.w == 90 && r.h == 80);
  CHECK(fk_pose_crop((fk_box){90, 70, 40, 40}, 100, 80, &r));
  CHECK(r.x + r.w == 100 && r.y + r.h == 80);
  CHECK(!fk_pose_crop((fk_box){200, 10, 20, 20}, 100, 80, &r) && r.w == 0);
  CHECK(!fk_pose_crop((fk_box){NAN, 10, 20, 20}, 100, 80, &r));
  CHECK(!fk_pose_crop((fk_box){1e30f, 10, 20, 20}, 100, 80, &r));
  fk_point p[68];
  for (int i = 0; i < 68; i++) p[i] = (fk_point){50, 40};
  /* Eye corners 10 apart: squares of side 16 about (50, 40). */
  p[36].x = p[42].x = 45, p[39].x = p[45].x = 55;
  fk_rect eyes[2];
  CHECK_EQ_INT(fk_eye_boxes(p, 100, 80, eyes), 3);
  CHECK(eyes[0].x == 42 && eyes[0].y == 32 && eyes[0].w == 16 && eyes[0].h == 16);
  /* At the right edge the side is cut to width - x - 1; past it, empty. */
  for (int i = 42; i <= 47; i++) p[i].x += 49;
  CHECK_EQ_INT(fk_eye_boxes(p, 100, 80, eyes), 3);
  CHECK(eyes[1].x + eyes[1].w == 99);
  for (int i = 42; i <= 47; i++) p[i].x += 20;
  CHECK_EQ_INT(fk_eye_boxes(p, 100, 80, eyes), 1);
  p[36].x = NAN;
  CHECK_EQ_INT(fk_eye_boxes(p, 100, 80, eyes), 0);
}

/* Pose (yaw, pitch, roll) of the face box on img; 0 if the crop is empty. */
static int pose_of(nn_runtime *rt, const fk_image *img, fk_box box, fk_rect *crop, float angles[3]) {
  if (!fk_pose_crop(box, img->width, img->height, crop)) return 0;
  fk_pose_input(img, *crop, nn_runtime_input(rt));
  CHECK_EQ_INT(nn_runtime_run(rt), FK_OK);
  fk_pose_decode(nn_runtime_output(rt, 0), nn_runtime_output(rt, 1), nn_runtime_output(rt, 2), angles);
  return 1;
}

/* Pose and eyes with their pre/post-processing on the faces (boxes and
 * landmarks) of golden_onnx.json, against the package's JS in onnxruntime. */
static void test_pose_and_eyes_match_the_package_pipeline(void) {
  nn_graph *pg = NULL, *eg = NULL;
  char err[300];
  CHECK_EQ_INT(fk_pose_load(tu_model_path(FK_POSE_FILE), &pg, err, sizeof err), FK_OK);
  CHECK_EQ_INT(fk_eye_load(tu_model_path(FK_EYE_FILE), &eg, err, sizeof err), FK_OK);
  nn_runtime *pr = NULL, *er = NULL;
  if (pg) CHECK_EQ_INT(nn_runtime_new(pg, NN_BACKEND_XNNPACK, NULL, &pr), FK_OK);
  if (eg) CHECK_EQ_INT(nn_runtime_new(eg, NN_BACKEND_XNNPACK, NULL, &er), FK_OK);
  const char *names[] = {"face_a1", "face_a2", "face_b1", "face_c1", "group4"};
  double dangle = 0, dopen = 0;
  int faces = 0;
  for (size_t i = 0; pr && er && i < sizeof names / sizeof names[0]; i++) {
    char file[64], path[96];
    snprintf(file, sizeof file, "%s.png", names[i]);
    fk_image img;
    if (fk_image_load(tu_fixture(file), 0, &img) != FK_OK) {
      CHECK(0);
      continue;
    }
    snprintf(path, sizeof path, "images.%s.faces", names[i]);
    const cJSON *gf = gget(golden, path), *qf = gget(quality, path);
    CHECK_EQ_INT(cJSON_GetArraySize(gf), cJSON_GetArraySize(qf));
    for (int f = 0; f < cJSON_GetArraySize(gf) && f < cJSON_GetArraySize(qf); f++) {
      const cJSON *rec = cJSON_GetArrayItem(gf, f), *q = cJSON_GetArrayItem(qf, f);
      float b[4], want[3], crop[4];
      fk_point pts[68];
      tu_json_floats(cJSON_GetObjectItemCaseSensitive(rec, "box"), b, 4);
      const cJSON *gl = cJSON_GetObjectItemCaseSensitive(rec, "landmarks");
      for (int k = 0; k < 68; k++) {
        float xy[2];
        tu_json_floats(cJSON_GetArrayItem(gl, k), xy, 2);
        pts[k] = (fk_point){xy[0], xy[1]};
      }
      fk_rect r;
      float got[3];
      CHECK(pose_of(pr, &img, (fk_box){b[0], b[1], b[2] - b[0], b[3] - b[1]}, &r, got));
      tu_json_floats(gget(q, "pose.crop"), crop, 4);
      CHECK(r.x == crop[0] && r.y == crop[1] && r.w == crop[2] && r.h == crop[3]);
      want[0] = (float)gget(q, "pose.yaw")->valuedouble;
      want[1] = (float)gget(q, "pose.pitch")->valuedouble;
      want[2] = (float)gget(q, "pose.roll")->valuedouble;
      for (int k = 0; k < 3; k++) dangle = fmax(dangle, fabs(got[k] - want[k]));
      fk_rect eyes[2];
      CHECK_EQ_INT(fk_eye_boxes(pts, img.width, img.height, eyes), 3);
      static const char *const side[2] = {"eyes.left", "eyes.right"};
      for (int e = 0; e < 2; e++) {
        float eb[4], p[2];
        snprintf(path, sizeof path, "%s.box", side[e]);
        tu_json_floats(gget(q, path), eb, 4);
        CHECK(eyes[e].x == eb[0] && eyes[e].y == eb[1] && eyes[e].w == eb[2] && eyes[e].h == eb[3]);
        snprintf(path, sizeof path, "%s.p", side[e]);
        tu_json_floats(gget(q, path), p, 2);
        fk_eye_input(&img, eyes[e], nn_runtime_input(er));
        CHECK_EQ_INT(nn_runtime_run(er), FK_OK);
        dopen = fmax(dopen, fabs(fk_eye_decode(nn_runtime_output(er, 0)) - p[1]));
      }
      faces++;
    }
    fk_image_free(&img);
  }
  fprintf(stderr, "  pose + eyes end to end, %d faces: angles max |d| %.3g deg, P(open) %.3g\n", faces,
          dangle, dopen);
  CHECK_EQ_INT(faces, 8);
  CHECK(dangle < 0.05 && dopen < 1e-3);
  nn_runtime_free(pr);
  nn_runtime_free(er);
  nn_graph_free(pg);
  nn_graph_free(eg);
}

/* A face and its mirror image: yaw and roll change sign, pitch stays. The
 * net is not exactly symmetric: within 8 degrees on these faces, one of
 * them (face_c1) turned 50 degrees. */
static void test_pose_yaw_and_roll_flip_on_a_mirrored_face(void) {
  nn_graph *g = NULL;
  char err[300];
  CHECK_EQ_INT(fk_pose_load(tu_model_path(FK_POSE_FILE), &g, err, sizeof err), FK_OK);
  nn_runtime *rt = NULL;
  if (g) CHECK_EQ_INT(nn_runtime_new(g, NN_BACKEND_XNNPACK, NULL, &rt), FK_OK);
  const char *names[] = {"face_a1", "face_a2", "face_b1", "face_c1"};
  double worst = 0;
  for (size_t i = 0; rt && i < sizeof names / sizeof names[0]; i++) {
    char file[64], path[96];
    snprintf(file, sizeof file, "%s.png", names[i]);
    snprintf(path, sizeof path, "images.%s.faces", names[i]);
    fk_image img, mir;
    float b[4];
    if (fk_image_load(tu_fixture(file), 0, &img) != FK_OK) {
      CHECK(0);
      continue;
    }
    CHECK(tu_json_floats(gget(cJSON_GetArrayItem(gget(golden, path), 0), "box"), b, 4));
    CHECK_EQ_INT(tu_mirror(&img, &mir), FK_OK);
    fk_box box = {b[0], b[1], b[2] - b[0], b[3] - b[1]};
    fk_box mbox = {(float)img.width - b[2], b[1], b[2] - b[0], b[3] - b[1]};
    fk_rect r;
    float a[3], m[3];
    CHECK(mir.rgb && pose_of(rt, &img, box, &r, a) && pose_of(rt, &mir, mbox, &r, m));
    fprintf(stderr, "  %s: yaw %.2f / %.2f, pitch %.2f / %.2f, roll %.2f / %.2f (mirror)\n", names[i],
            (double)a[0], (double)m[0], (double)a[1], (double)m[1], (double)a[2], (double)m[2]);
    worst = fmax(worst, fmax(fabs(a[0] + m[0]), fmax(fabs(a[1] - m[1]), fabs(a[2] + m[2]))));
    if (fabs(a[0]) > 10) CHECK((a[0] > 0) != (m[0] > 0)); /* a turned face */
    free(mir.rgb);
    fk_image_free(&img);
  }
  fprintf(stderr, "  mirror: worst |yaw + yaw'|, |pitch - pitch'|, |roll + roll'| %.2f deg\n", worst);
  CHECK(worst < 8);
  nn_runtime_free(rt);
  nn_graph_free(g);
}

/* ---- every model of the package ------------------------------------------------------ */

static void test_every_package_model_loads(void) {
  static const char *const models[] = {
      "fr_feature.onnx", "fr_detect.onnx", "fr_landmark.onnx", "fr_liveness.onnx", "fr_eye.onnx",
      "fr_age.onnx",     "fr_gender.onnx", "fr_expression.onnx",
      "fr_pose.onnx", /* ShuffleNet: its channel shuffle reshapes to rank 5 and back */
  };
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
    nn_graph *g = NULL;
    char err[300] = "";
    int rc = nn_onnx_load(tu_model_path(models[i]), NULL, 0, &g, err, sizeof err);
    fprintf(stderr, "  %-20s %s\n", models[i], rc == FK_OK ? "loads" : err);
    CHECK_EQ_INT(rc, FK_OK);
    /* Both backends agree (not on the 2.8 GMAC expression net, whose
     * reference run would dominate the suite under the sanitizers). */
    if (g && nn_graph_macs(g) < 1e9) CHECK(tu_backend_diff(g, 3, 1.0f, 1) < 1e-4);
    if (g && nn_graph_macs(g) < 1e9) CHECK(tu_bf16_cosine(g, 3, 1.0f, models[i]) >= 0.99);
    nn_graph_free(g);
  }
}

/* ---- malformed files ------------------------------------------------------------------- */

/* fr_eye.onnx (small) edited by `edit`, written and loaded: the status and
 * message. */
static int load_edited(void (*edit)(Onnx__ModelProto *), char *err, size_t errlen) {
  size_t n = 0;
  uint8_t *bytes = (uint8_t *)tu_read_file(tu_model_path("fr_eye.onnx"), &n);
  Onnx__ModelProto *m = bytes ? onnx__model_proto__unpack(NULL, n, bytes) : NULL;
  free(bytes);
  if (!m) return -999;
  edit(m);
  size_t len = onnx__model_proto__get_packed_size(m);
  uint8_t *out = malloc(len);
  onnx__model_proto__pack(m, out);
  onnx__model_proto__free_unpacked(m, NULL);
  const char *path = tu_tmp("edited.onnx");
  tu_write_file(path, out, len);
  free(out);
  nn_graph *g = NULL;
  int rc = nn_onnx_load(path, NULL, 0, &g, err, errlen);
  CHECK((rc == FK_OK) == (g != NULL));
  nn_graph_free(g);
  remove(path);
  return rc;
}

static Onnx__TensorProto *init_named(Onnx__ModelProto *m, const char *name) {
  for (size_t i = 0; i < m->graph->n_initializer; i++)
    if (!strcmp(m->graph->initializer[i]->name, name)) return m->graph->initializer[i];
  return NULL;
}

/* The weight initializer of the first Conv. */
static Onnx__TensorProto *first_weight(Onnx__ModelProto *m) {
  return init_named(m, m->graph->node[0]->input[1]);
}

/* Replaces a string field (the old one is freed with the message). */
static void set_str(char **field, const char *v) {
  free(*field);
  *field = strdup(v);
}

static void edit_none(Onnx__ModelProto *m) { (void)m; }
static void edit_unknown_op(Onnx__ModelProto *m) { set_str(&m->graph->node[1]->op_type, "FancyOp"); }
static void edit_dangling(Onnx__ModelProto *m) { set_str(&m->graph->node[1]->input[0], "does_not_exist"); }
/* Node ops called like the reader's own nodes for graph inputs and
 * initializers: unsupported ops, not a NodeProto read as a ValueInfoProto
 * or TensorProto (found by fuzz_onnx). */
static void edit_op_input(Onnx__ModelProto *m) { set_str(&m->graph->node[1]->op_type, "Input"); }
static void edit_op_initializer(Onnx__ModelProto *m) {
  set_str(&m->graph->node[1]->op_type, "Initializer");
}
static void edit_cycle(Onnx__ModelProto *m) {
  Onnx__GraphProto *g = m->graph;
  set_str(&g->node[1]->input[0], g->node[3]->output[0]);
}
static void edit_bad_dims(Onnx__ModelProto *m) { first_weight(m)->dims[1] = -3; }
static void edit_short_initializer(Onnx__ModelProto *m) { first_weight(m)->raw_data.len -= 4; }
static void edit_huge_dims(Onnx__ModelProto *m) {
  Onnx__TensorProto *t = first_weight(m);
  t->dims[0] = (int64_t)1 << 40;
  t->dims[1] = (int64_t)1 << 40;
}
static void edit_old_opset(Onnx__ModelProto *m) { m->opset_import[0]->version = 6; }
static void edit_dynamic_input(Onnx__ModelProto *m) {
  Onnx__TensorShapeProto__Dimension *d = m->graph->input[0]->type->tensor_type->shape->dim[2];
  d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE__NOT_SET;
}
static void edit_bad_attr(Onnx__ModelProto *m) {
  Onnx__NodeProto *n = m->graph->node[0];
  for (size_t i = 0; i < n->n_attribute; i++)
    if (!strcmp(n->attribute[i]->name, "strides")) n->attribute[i]->ints[1] = 3;
}

/* One file in memory, for an nn_files reader (files.h). */
typedef struct mem_file {
  const char *name;
  const void *data;
  size_t len;
} mem_file;

static int mem_read(const nn_files *fs, const char *name, char **data, size_t *len) {
  const mem_file *f = fs->ctx;
  *data = NULL;
  *len = 0;
  if (strcmp(name, f->name)) return FK_ENOENT;
  if (!(*data = malloc(f->len + 1))) return FK_ENOMEM;
  if (f->len) memcpy(*data, f->data, f->len);
  (*data)[f->len] = '\0';
  *len = f->len;
  return FK_OK;
}

static void test_malformed_files_are_clear_model_errors(void) {
  char err[300];
  CHECK_EQ_INT(load_edited(edit_none, err, sizeof err), FK_OK);
  static const struct { void (*edit)(Onnx__ModelProto *); const char *needle; } cases[] = {
      {edit_unknown_op, "unsupported op FancyOp"},
      {edit_op_input, "unsupported op Input"},
      {edit_op_initializer, "unsupported op Initializer"},
      {edit_dangling, "does_not_exist names no value"},
      {edit_cycle, "cycle"},
      {edit_bad_dims, "constant dimension -3"},
      {edit_short_initializer, "raw_data holds"},
      {edit_huge_dims, "constant dimension 1099511627776"},
      {edit_old_opset, "opset 6"},
      {edit_dynamic_input, "dynamic"},
      {edit_bad_attr, "strides 1x3"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    err[0] = '\0';
    CHECK_EQ_INT(load_edited(cases[i].edit, err, sizeof err), FK_EMODEL);
    if (!strstr(err, cases[i].needle)) fprintf(stderr, "  \"%s\" lacks \"%s\"\n", err, cases[i].needle);
    CHECK(strstr(err, cases[i].needle) != NULL);
  }
  /* Truncated, garbage, empty and missing files. */
  size_t n = 0;
  char *bytes = tu_read_file(tu_model_path("fr_eye.onnx"), &n);
  const char *path = tu_tmp("broken.onnx");
  nn_graph *g = NULL;
  CHECK(bytes != NULL);
  /* Files served from memory (as the fuzz target does) read the same way. */
  mem_file mf = {"m.onnx", bytes, n};
  nn_files fs = {.read = mem_read, .dir = "", .ctx = &mf};
  CHECK_EQ_INT(nn_onnx_load_files(&fs, "m.onnx", NULL, 0, &g, err, sizeof err), FK_OK);
  nn_graph_free(g);
  mf.len = n / 2;
  CHECK_EQ_INT(nn_onnx_load_files(&fs, "m.onnx", NULL, 0, &g, err, sizeof err), FK_EMODEL);
  mf.len = 0;
  CHECK_EQ_INT(nn_onnx_load_files(&fs, "m.onnx", NULL, 0, &g, err, sizeof err), FK_EMODEL);
  CHECK(strstr(err, "m.onnx is empty") != NULL);
  CHECK_EQ_INT(nn_onnx_load_files(&fs, "other.onnx", NULL, 0, &g, err, sizeof err), FK_ENOENT);
  CHECK(g == NULL);
  for (size_t cut = 1; bytes && cut < 8; cut *= 2) {
    tu_write_file(path, bytes, n - n / cut / 3 - 1);
    CHECK_EQ_INT(nn_onnx_load(path, NULL, 0, &g, err, sizeof err), FK_EMODEL);
  }
  for (size_t i = 0; bytes && i < n; i += 7) bytes[i] = (char)(bytes[i] * 31 + 7);
  if (bytes) tu_write_file(path, bytes, n);
  CHECK_EQ_INT(nn_onnx_load(path, NULL, 0, &g, err, sizeof err), FK_EMODEL);
  tu_write_text(path, "this is not a protobuf");
  CHECK_EQ_INT(nn_onnx_load(path, NULL, 0, &g, err, sizeof err), FK_EMODEL);
  CHECK(strstr(err, "not a valid ONNX model") != NULL);
  tu_write_file(path, "", 0);
  CHECK_EQ_INT(nn_onnx_load(path, NULL, 0, &g, err, sizeof err), FK_EMODEL);
  CHECK(g == NULL);
  remove(path);
  free(bytes);
  CHECK_EQ_INT(nn_onnx_load("/nonexistent/x.onnx", NULL, 0, &g, err, sizeof err), FK_ENOENT);
  const char *missing[] = {"no_such_output"};
  CHECK_EQ_INT(nn_onnx_load(tu_model_path("fr_eye.onnx"), missing, 1, &g, err, sizeof err), FK_EMODEL);
  CHECK(strstr(err, "no_such_output") != NULL);
}

/* A rank-0 tensor (a mean over every axis, keepdims 0) fed to MatMul: an
 * error, not a read of dims[-1]. */
static void test_matmul_of_a_rank0_tensor_is_an_error(void) {
  mb b;
  mb_init(&b, 13);
  const int in[2] = {1, 3}, wd[2] = {1, 2};
  const float w[2] = {1, 2};
  mb_value(&b, 0, "x", 2, in);
  mb_floats(&b, "w", 2, wd, w);
  mb_attr_i(&b, mb_node(&b, "ReduceMean", "x", "m"), "keepdims", 0);
  mb_node(&b, "MatMul", "m,w", "y");
  mb_value(&b, 1, "y", 0, NULL);
  nn_graph *g = NULL;
  char err[300] = "";
  CHECK_EQ_INT(nn_onnx_load(mb_write(&b, "rank0.onnx"), NULL, 0, &g, err, sizeof err), FK_EMODEL);
  CHECK(g == NULL && strstr(err, "MatMul_1 (MatMul)") && strstr(err, "rank 0"));
  mb_free(&b);
}

/* ---- external data ------------------------------------------------------------------- */

static void set_entry(Onnx__StringStringEntryProto *e, const char *key, const char *value) {
  onnx__string_string_entry_proto__init(e);
  e->key = strdup(key);
  e->value = strdup(value);
}

/* fr_eye.onnx with every raw_data initializer moved, in order, into one
 * file eye.data beside it, then `edit`ed; written to a scratch directory
 * and loaded from there. The status, the graph in *g. */
static int load_external(void (*edit)(Onnx__ModelProto *), nn_graph **g, char *err,
                         size_t errlen) {
  size_t n = 0;
  uint8_t *bytes = (uint8_t *)tu_read_file(tu_model_path("fr_eye.onnx"), &n);
  Onnx__ModelProto *m = bytes ? onnx__model_proto__unpack(NULL, n, bytes) : NULL;
  free(bytes);
  if (!m) return -999;
  uint8_t *data = NULL;
  size_t len = 0;
  int moved = 0;
  for (size_t i = 0; i < m->graph->n_initializer; i++) {
    Onnx__TensorProto *t = m->graph->initializer[i];
    if (!t->has_raw_data || !t->raw_data.len) continue;
    data = realloc(data, len + t->raw_data.len);
    memcpy(data + len, t->raw_data.data, t->raw_data.len);
    char off[32], size[32];
    snprintf(off, sizeof off, "%zu", len);
    snprintf(size, sizeof size, "%zu", t->raw_data.len);
    len += t->raw_data.len;
    t->has_raw_data = 0; /* not packed; still freed with the message */
    t->n_external_data = 3;
    t->external_data = malloc(3 * sizeof *t->external_data);
    const char *kv[3][2] = {{"location", "eye.data"}, {"offset", off}, {"length", size}};
    for (int k = 0; k < 3; k++) {
      t->external_data[k] = malloc(sizeof **t->external_data);
      set_entry(t->external_data[k], kv[k][0], kv[k][1]);
    }
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    moved++;
  }
  CHECK(moved > 0);
  edit(m);
  size_t mlen = onnx__model_proto__get_packed_size(m);
  uint8_t *out = malloc(mlen);
  onnx__model_proto__pack(m, out);
  onnx__model_proto__free_unpacked(m, NULL);
  char dir[4096], path[4200], dpath[4200];
  snprintf(dir, sizeof dir, "%s", tu_tmp("external"));
  mkdir(dir, 0700);
  snprintf(path, sizeof path, "%s/eye.onnx", dir);
  snprintf(dpath, sizeof dpath, "%s/eye.data", dir);
  tu_write_file(path, out, mlen);
  tu_write_file(dpath, data, len);
  free(out);
  free(data);
  int rc = nn_onnx_load(path, NULL, 0, g, err, errlen);
  CHECK((rc == FK_OK) == (*g != NULL));
  remove(path);
  remove(dpath);
  rmdir(dir);
  return rc;
}

/* Output 0 of g on the reference backend for a fixed input, malloc'd. */
static float *reference_output(const nn_graph *g, size_t *n) {
  nn_runtime *r = NULL;
  *n = nn_shape_size(g->shapes[g->outputs[0]]);
  float *y = malloc(*n * sizeof *y);
  CHECK_EQ_INT(nn_runtime_new(g, NN_BACKEND_REFERENCE, NULL, &r), FK_OK);
  if (!r) return y;
  tu_fill_random(nn_runtime_input(r), nn_shape_size(g->shapes[0]), 5);
  CHECK_EQ_INT(nn_runtime_run(r), FK_OK);
  memcpy(y, nn_runtime_output(r, 0), *n * sizeof *y);
  nn_runtime_free(r);
  return y;
}

static void ext_set(Onnx__ModelProto *m, const char *key, const char *value) {
  Onnx__TensorProto *t = first_weight(m);
  for (size_t i = 0; i < t->n_external_data; i++)
    if (!strcmp(t->external_data[i]->key, key)) set_str(&t->external_data[i]->value, value);
}
static void ext_outside(Onnx__ModelProto *m) { ext_set(m, "location", "../eye.data"); }
static void ext_missing(Onnx__ModelProto *m) { ext_set(m, "location", "nope.data"); }
static void ext_past_end(Onnx__ModelProto *m) { ext_set(m, "offset", "100000000"); }
static void ext_short(Onnx__ModelProto *m) { ext_set(m, "length", "4"); }
static void ext_bad_offset(Onnx__ModelProto *m) { ext_set(m, "offset", "-8"); }
static void ext_no_location(Onnx__ModelProto *m) {
  set_str(&first_weight(m)->external_data[0]->key, "where");
}

static void test_external_data_loads_like_inline_data(void) {
  char err[300];
  nn_graph *inl = NULL, *ext = NULL;
  CHECK_EQ_INT(nn_onnx_load(tu_model_path("fr_eye.onnx"), NULL, 0, &inl, err, sizeof err), FK_OK);
  CHECK_EQ_INT(load_external(edit_none, &ext, err, sizeof err), FK_OK);
  if (inl && ext) {
    size_t a, b;
    float *ya = reference_output(inl, &a), *yb = reference_output(ext, &b);
    CHECK_EQ_INT(a, b);
    CHECK(a == b && !memcmp(ya, yb, a * sizeof *ya));
    free(ya);
    free(yb);
  }
  nn_graph_free(inl);
  nn_graph_free(ext);
}

static void test_bad_external_data_is_a_clear_error(void) {
  static const struct { void (*edit)(Onnx__ModelProto *); int rc; const char *needle; } cases[] = {
      {ext_outside, FK_EMODEL, "../eye.data is not inside the model directory"},
      {ext_missing, FK_ENOENT, "cannot read external data file"},
      {ext_past_end, FK_EMODEL, "lies outside eye.data"},
      {ext_short, FK_EMODEL, "external data holds 4 bytes"},
      {ext_bad_offset, FK_EMODEL, "offset \"-8\" is not a size"},
      {ext_no_location, FK_EMODEL, "without a location"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[300] = "";
    nn_graph *g = NULL;
    CHECK_EQ_INT(load_external(cases[i].edit, &g, err, sizeof err), cases[i].rc);
    if (!strstr(err, cases[i].needle)) fprintf(stderr, "  \"%s\" lacks \"%s\"\n", err, cases[i].needle);
    CHECK(strstr(err, cases[i].needle) != NULL);
    nn_graph_free(g);
  }
}

int main(void) {
  char *text = tu_read_file(tu_fixture("golden_onnx.json"), NULL);
  golden = text ? cJSON_Parse(text) : NULL;
  free(text);
  CHECK(golden != NULL);
  text = tu_read_file(tu_fixture("golden_quality.json"), NULL);
  quality = text ? cJSON_Parse(text) : NULL;
  free(text);
  CHECK(quality != NULL);
  RUN(test_flatten_of_nchw_feeds_gemm_in_onnx_order);
  RUN(test_conv_pads_strides_groups_match_direct_nchw);
  RUN(test_transpose_softmax_slice_concat_follow_onnx_axes);
  RUN(test_rank5_channel_shuffle_and_its_limits);
  RUN(test_pools_and_clip_follow_onnx_semantics);
  RUN(test_opset13_split_pad_reduce_and_broadcast);
  RUN(test_slice_inputs_clamp_and_step_backwards);
  if (golden) {
    RUN(test_recognizer_matches_onnxruntime_on_every_backend);
    RUN(test_landmark_net_matches_onnxruntime_on_every_backend);
    RUN(test_detector_net_matches_onnxruntime_on_every_backend);
    RUN(test_detector_and_landmarks_match_the_package_pipeline);
  }
  if (golden && quality) {
    RUN(test_pose_net_matches_onnxruntime_on_every_backend);
    RUN(test_pose_and_eye_crops_stay_inside_the_image);
    RUN(test_eye_net_matches_onnxruntime_on_every_backend);
    RUN(test_pose_and_eyes_match_the_package_pipeline);
    RUN(test_pose_yaw_and_roll_flip_on_a_mirrored_face);
  }
  RUN(test_every_package_model_loads);
  RUN(test_malformed_files_are_clear_model_errors);
  RUN(test_matmul_of_a_rank0_tensor_is_an_error);
  RUN(test_external_data_loads_like_inline_data);
  RUN(test_bad_external_data_is_a_clear_error);
  cJSON_Delete(golden);
  cJSON_Delete(quality);
  return tu_summary();
}
