/*
 * graph.c - the nn_* graph builder (nn.h): shape inference with TF's
 * SAME/VALID rules or explicit pads (nn_window), validation of every call,
 * and the one-time conversion of
 * TF weight layouts (HWIO, [kh][kw][c][1], [cin][cout]) into the layouts the
 * backends use (OHWI, [kh][kw][c], [cout][cin]).
 *
 * Errors are sticky: the first failing call records its FK_* status and a
 * message in the graph, and every later builder call returns -1 at once, so a
 * model can describe its whole network and check nn_graph_status() once.
 * Invalid shapes and arguments are FK_EINVAL; allocation failures FK_ENOMEM.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "facekit.h"
#include "nn/nn.h"

/* Largest tensor we accept, in elements (4 GiB of floats): keeps every size
 * computation well inside size_t and int ranges on any 64-bit host. */
#define NN_MAX_ELEMS ((size_t)1 << 30)

static void fail(nn_graph *g, int status, const char *fmt, ...) {
  if (g->failed) return;
  g->failed = status;
  va_list ap;
  va_start(ap, fmt);
  fk_vfail(g->err, sizeof g->err, status, fmt, ap);
  va_end(ap);
}

/* a * b into *r, false on size_t overflow. */
static int mul_ok(size_t a, size_t b, size_t *r) {
  if (a != 0 && b > SIZE_MAX / a) return 0;
  *r = a * b;
  return 1;
}

static int shape_ok(nn_shape s) {
  if (s.h <= 0 || s.w <= 0 || s.c <= 0) return 0;
  size_t n;
  if (!mul_ok((size_t)s.h, (size_t)s.w, &n) || !mul_ok(n, (size_t)s.c, &n))
    return 0;
  return n <= NN_MAX_ELEMS;
}

/* Common entry check: graph usable and x an existing tensor. */
static int check_in(nn_graph *g, int x, const char *what) {
  if (!g) return 0;
  if (g->failed) return 0;
  if (x < 0 || x >= g->ntensors) {
    fail(g, FK_EINVAL, "%s: input tensor %d does not exist", what, x);
    return 0;
  }
  return 1;
}

static int add_tensor(nn_graph *g, nn_shape s, const char *what) {
  if (!shape_ok(s)) {
    fail(g, FK_EINVAL, "%s: invalid output shape %dx%dx%d", what, s.h, s.w,
         s.c);
    return -1;
  }
  if (g->ntensors == g->cap_tensors) {
    int cap = g->cap_tensors ? g->cap_tensors * 2 : 16;
    nn_shape *p = realloc(g->shapes, (size_t)cap * sizeof *p);
    if (!p) {
      fail(g, FK_ENOMEM, "%s: out of memory", what);
      return -1;
    }
    g->shapes = p;
    g->cap_tensors = cap;
  }
  g->shapes[g->ntensors] = s;
  return g->ntensors++;
}

/* Appends op (taking ownership of its weights/bias, freed on failure) with a
 * new output tensor of shape s; returns the tensor id or -1. */
static int add_op(nn_graph *g, nn_op *op, nn_shape s, const char *what) {
  if (g->nops == g->cap_ops) {
    int cap = g->cap_ops ? g->cap_ops * 2 : 16;
    nn_op *p = realloc(g->ops, (size_t)cap * sizeof *p);
    if (!p) {
      fail(g, FK_ENOMEM, "%s: out of memory", what);
      goto bad;
    }
    g->ops = p;
    g->cap_ops = cap;
  }
  int t = add_tensor(g, s, what);
  if (t < 0) goto bad;
  op->out = t;
  g->ops[g->nops++] = *op;
  return t;
bad:
  free(op->weights);
  free(op->bias);
  return -1;
}

/* TF output size and padding along one axis. Returns false (with the graph
 * failed) when a VALID window does not fit. */
static int out_dim(nn_graph *g, const char *what, int in, int k, int stride,
                   nn_padding pad, int *out, int *before, int *after) {
  if (pad == NN_SAME) {
    int o = in / stride + (in % stride != 0);
    long long total = (long long)(o - 1) * stride + k - in;
    if (total < 0) total = 0;
    *out = o;
    *before = (int)(total / 2);
    *after = (int)(total - total / 2);
    return 1;
  }
  if (pad != NN_VALID) {
    fail(g, FK_EINVAL, "%s: unknown padding mode %d", what, (int)pad);
    return 0;
  }
  if (in < k) {
    fail(g, FK_EINVAL, "%s: VALID window %d larger than input %d", what, k,
         in);
    return 0;
  }
  *out = (in - k) / stride + 1;
  *before = *after = 0;
  return 1;
}

static int window_args_ok(nn_graph *g, const char *what, int kh, int kw,
                          int stride, int dil) {
  const int lim = 1 << 16;
  if (kh > 0 && kw > 0 && stride > 0 && dil > 0 && kh <= lim && kw <= lim &&
      stride <= lim && dil <= lim)
    return 1;
  fail(g, FK_EINVAL,
       "%s: kernel %dx%d / stride %d / dilation %d must be in 1..65536", what,
       kh, kw, stride, dil);
  return 0;
}

/* Spatial part shared by conv, depthwise and pooling, TF padding. */
static int window(nn_graph *g, const char *what, nn_shape in, int kh, int kw,
                  int stride, int dil, nn_padding pad, nn_op *op,
                  nn_shape *out) {
  if (!window_args_ok(g, what, kh, kw, stride, dil)) return 0;
  op->kh = kh;
  op->kw = kw;
  op->stride = stride;
  op->dilation = dil;
  /* The dilated window spans (k - 1) * dil + 1 input cells: up to 2^32,
   * so computed in 64 bits and kept within a tensor's largest side. */
  long long eh = (long long)(kh - 1) * dil + 1, ew = (long long)(kw - 1) * dil + 1;
  if (eh > (long long)NN_MAX_ELEMS || ew > (long long)NN_MAX_ELEMS) {
    fail(g, FK_EINVAL, "%s: dilated window %lldx%lld is too large", what, eh, ew);
    return 0;
  }
  if (!out_dim(g, what, in.h, (int)eh, stride, pad, &out->h, &op->pad[0],
               &op->pad[1]) ||
      !out_dim(g, what, in.w, (int)ew, stride, pad, &out->w, &op->pad[2],
               &op->pad[3]))
    return 0;
  out->c = in.c;
  return 1;
}

/* The same with explicit pads (nn_window). */
static int window_explicit(nn_graph *g, const char *what, nn_shape in,
                           const nn_window *win, nn_op *op, nn_shape *out) {
  if (!win) {
    fail(g, FK_EINVAL, "%s: missing window", what);
    return 0;
  }
  if (!window_args_ok(g, what, win->kh, win->kw, win->stride, win->dilation))
    return 0;
  for (int i = 0; i < 4; i++)
    if (win->pad[i] < 0 || win->pad[i] > (1 << 16)) {
      fail(g, FK_EINVAL, "%s: padding %d outside 0..65536", what, win->pad[i]);
      return 0;
    }
  /* Every term is below 2^32: long long cannot overflow. */
  long long eh = (long long)(win->kh - 1) * win->dilation + 1;
  long long ew = (long long)(win->kw - 1) * win->dilation + 1;
  long long ph = (long long)in.h + win->pad[0] + win->pad[1];
  long long pw = (long long)in.w + win->pad[2] + win->pad[3];
  if (ph < eh || pw < ew) {
    fail(g, FK_EINVAL, "%s: window %lldx%lld larger than the padded input %lldx%lld",
         what, eh, ew, ph, pw);
    return 0;
  }
  op->kh = win->kh;
  op->kw = win->kw;
  op->stride = win->stride;
  op->dilation = win->dilation;
  memcpy(op->pad, win->pad, sizeof op->pad);
  out->h = (int)((ph - eh) / win->stride + 1);
  out->w = (int)((pw - ew) / win->stride + 1);
  out->c = in.c;
  return 1;
}

static int valid_act(nn_graph *g, const char *what, nn_act act) {
  if (act == NN_ACT_NONE || act == NN_ACT_RELU || act == NN_ACT_RELU6)
    return 1;
  fail(g, FK_EINVAL, "%s: unknown activation %d", what, (int)act);
  return 0;
}

static float *alloc_floats(nn_graph *g, const char *what, size_t n) {
  float *p = malloc(n ? n * sizeof(float) : 1);
  if (!p) fail(g, FK_ENOMEM, "%s: out of memory", what);
  return p;
}

/* Copies an optional [n] bias; *ok = 0 on OOM. */
static float *copy_bias(nn_graph *g, const char *what, const float *bias,
                        size_t n, int *ok) {
  *ok = 1;
  if (!bias) return NULL;
  float *p = alloc_floats(g, what, n);
  if (!p) {
    *ok = 0;
    return NULL;
  }
  memcpy(p, bias, n * sizeof(float));
  return p;
}

nn_graph *nn_graph_new(int h, int w, int c) {
  nn_graph *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  nn_shape s = {h, w, c};
  if (add_tensor(g, s, "input") < 0 && g->failed == FK_ENOMEM) {
    nn_graph_free(g);
    return NULL;
  }
  return g;
}

int nn_conv2d(nn_graph *g, int x, const float *w_hwio, const float *bias,
              int kh, int kw, int cout, int stride, nn_padding pad,
              nn_act act) {
  return nn_conv2d_dilated(g, x, w_hwio, bias, kh, kw, cout, stride, 1, pad,
                           act);
}

/* Conv with its window set in op and spatial output in out. */
static int conv_finish(nn_graph *g, nn_shape in, nn_op *op, nn_shape out,
                       const float *w_hwio, const float *bias, int cout) {
  const char *what = "conv2d";
  out.c = cout;
  const int kh = op->kh, kw = op->kw;
  size_t cin = (size_t)in.c, n;
  if (!mul_ok((size_t)kh * (size_t)kw, cin, &n) ||
      !mul_ok(n, (size_t)cout, &n) || n > NN_MAX_ELEMS) {
    fail(g, FK_EINVAL, "conv2d: weight tensor too large");
    return -1;
  }
  float *wt = alloc_floats(g, what, n);
  if (!wt) return -1;
  /* HWIO [ky][kx][ci][co] -> OHWI [co][ky][kx][ci] */
  for (int ky = 0; ky < kh; ky++)
    for (int kx = 0; kx < kw; kx++)
      for (size_t ci = 0; ci < cin; ci++) {
        const float *src = w_hwio + (((size_t)ky * kw + kx) * cin + ci) * cout;
        for (int co = 0; co < cout; co++)
          wt[(((size_t)co * kh + ky) * kw + kx) * cin + ci] = src[co];
      }
  int ok;
  op->weights = wt;
  op->bias = copy_bias(g, what, bias, (size_t)cout, &ok);
  if (!ok) {
    free(wt);
    return -1;
  }
  return add_op(g, op, out, what);
}

static int conv_args_ok(nn_graph *g, const float *w, int cout, nn_act act) {
  if (!w || cout <= 0) {
    fail(g, FK_EINVAL, "conv2d: %s", w ? "cout must be positive"
                                       : "missing weights");
    return 0;
  }
  return valid_act(g, "conv2d", act);
}

int nn_conv2d_dilated(nn_graph *g, int x, const float *w_hwio,
                      const float *bias, int kh, int kw, int cout, int stride,
                      int dilation, nn_padding pad, nn_act act) {
  const char *what = "conv2d";
  if (!check_in(g, x, what)) return -1;
  nn_shape in = g->shapes[x], out;
  nn_op op = {.kind = NN_OP_CONV, .in = {x, -1}, .act = act};
  if (!conv_args_ok(g, w_hwio, cout, act) ||
      !window(g, what, in, kh, kw, stride, dilation, pad, &op, &out))
    return -1;
  return conv_finish(g, in, &op, out, w_hwio, bias, cout);
}

int nn_conv2d_win(nn_graph *g, int x, const float *w_hwio, const float *bias,
                  int cout, const nn_window *win, nn_act act) {
  const char *what = "conv2d";
  if (!check_in(g, x, what)) return -1;
  nn_shape in = g->shapes[x], out;
  nn_op op = {.kind = NN_OP_CONV, .in = {x, -1}, .act = act};
  if (!conv_args_ok(g, w_hwio, cout, act) ||
      !window_explicit(g, what, in, win, &op, &out))
    return -1;
  return conv_finish(g, in, &op, out, w_hwio, bias, cout);
}

int nn_depthwise(nn_graph *g, int x, const float *w_hwc1, const float *bias,
                 int kh, int kw, int stride, nn_padding pad, nn_act act) {
  return nn_depthwise_dilated(g, x, w_hwc1, bias, kh, kw, stride, 1, pad,
                              act);
}

/* Depthwise with its window set in op and spatial output in out. */
static int depthwise_finish(nn_graph *g, nn_shape in, nn_op *op, nn_shape out,
                            const float *w_hwc1, const float *bias) {
  const char *what = "depthwise";
  size_t n;
  if (!mul_ok((size_t)op->kh * (size_t)op->kw, (size_t)in.c, &n) ||
      n > NN_MAX_ELEMS) {
    fail(g, FK_EINVAL, "depthwise: weight tensor too large");
    return -1;
  }
  /* [kh][kw][c][1] is already [kh][kw][c] in memory. */
  float *wt = alloc_floats(g, what, n);
  if (!wt) return -1;
  memcpy(wt, w_hwc1, n * sizeof(float));
  int ok;
  op->weights = wt;
  op->bias = copy_bias(g, what, bias, (size_t)in.c, &ok);
  if (!ok) {
    free(wt);
    return -1;
  }
  return add_op(g, op, out, what);
}

static int depthwise_args_ok(nn_graph *g, const float *w, nn_act act) {
  if (!w) {
    fail(g, FK_EINVAL, "depthwise: missing weights");
    return 0;
  }
  return valid_act(g, "depthwise", act);
}

int nn_depthwise_dilated(nn_graph *g, int x, const float *w_hwc1,
                         const float *bias, int kh, int kw, int stride,
                         int dilation, nn_padding pad, nn_act act) {
  const char *what = "depthwise";
  if (!check_in(g, x, what)) return -1;
  nn_shape in = g->shapes[x], out;
  nn_op op = {.kind = NN_OP_DEPTHWISE, .in = {x, -1}, .act = act};
  if (!depthwise_args_ok(g, w_hwc1, act) ||
      !window(g, what, in, kh, kw, stride, dilation, pad, &op, &out))
    return -1;
  return depthwise_finish(g, in, &op, out, w_hwc1, bias);
}

int nn_depthwise_win(nn_graph *g, int x, const float *w_hwc1,
                     const float *bias, const nn_window *win, nn_act act) {
  const char *what = "depthwise";
  if (!check_in(g, x, what)) return -1;
  nn_shape in = g->shapes[x], out;
  nn_op op = {.kind = NN_OP_DEPTHWISE, .in = {x, -1}, .act = act};
  if (!depthwise_args_ok(g, w_hwc1, act) ||
      !window_explicit(g, what, in, win, &op, &out))
    return -1;
  return depthwise_finish(g, in, &op, out, w_hwc1, bias);
}

int nn_add(nn_graph *g, int a, int b, nn_act act) {
  const char *what = "add";
  if (!check_in(g, a, what) || !check_in(g, b, what)) return -1;
  nn_shape sa = g->shapes[a], sb = g->shapes[b];
  if (sa.h != sb.h || sa.w != sb.w || sa.c != sb.c) {
    fail(g, FK_EINVAL, "add: shapes differ: %dx%dx%d vs %dx%dx%d", sa.h, sa.w,
         sa.c, sb.h, sb.w, sb.c);
    return -1;
  }
  if (!valid_act(g, what, act)) return -1;
  nn_op op = {.kind = NN_OP_ADD, .in = {a, b}, .act = act};
  return add_op(g, &op, sa, what);
}

int nn_maxpool(nn_graph *g, int x, int k, int stride, nn_padding pad) {
  const char *what = "maxpool";
  if (!check_in(g, x, what)) return -1;
  nn_shape out;
  nn_op op = {.kind = NN_OP_MAXPOOL, .in = {x, -1}};
  if (!window(g, what, g->shapes[x], k, k, stride, 1, pad, &op, &out))
    return -1;
  return add_op(g, &op, out, what);
}

int nn_avgpool(nn_graph *g, int x, int k, int stride) {
  const char *what = "avgpool";
  if (!check_in(g, x, what)) return -1;
  nn_shape out;
  nn_op op = {.kind = NN_OP_AVGPOOL, .in = {x, -1}};
  if (!window(g, what, g->shapes[x], k, k, stride, 1, NN_VALID, &op, &out))
    return -1;
  return add_op(g, &op, out, what);
}

int nn_global_avgpool(nn_graph *g, int x) {
  const char *what = "global_avgpool";
  if (!check_in(g, x, what)) return -1;
  nn_shape out = {1, 1, g->shapes[x].c};
  nn_op op = {.kind = NN_OP_GLOBAL_AVG, .in = {x, -1}};
  return add_op(g, &op, out, what);
}

int nn_fc(nn_graph *g, int x, const float *w_io, const float *bias, int cout,
          nn_act act) {
  const char *what = "fc";
  if (!check_in(g, x, what)) return -1;
  if (!w_io || cout <= 0) {
    fail(g, FK_EINVAL, "fc: %s",
         w_io ? "cout must be positive" : "missing weights");
    return -1;
  }
  if (!valid_act(g, what, act)) return -1;
  size_t cin = nn_shape_size(g->shapes[x]), n;
  if (!mul_ok(cin, (size_t)cout, &n) || n > NN_MAX_ELEMS) {
    fail(g, FK_EINVAL, "fc: weight tensor too large");
    return -1;
  }
  float *wt = alloc_floats(g, what, n);
  if (!wt) return -1;
  for (size_t i = 0; i < cin; i++)
    for (int o = 0; o < cout; o++)
      wt[(size_t)o * cin + i] = w_io[i * (size_t)cout + o];
  int ok;
  nn_op op = {.kind = NN_OP_FC, .in = {x, -1}, .act = act, .weights = wt};
  op.bias = copy_bias(g, what, bias, (size_t)cout, &ok);
  if (!ok) {
    free(wt);
    return -1;
  }
  nn_shape out = {1, 1, cout};
  return add_op(g, &op, out, what);
}

int nn_leaky_relu(nn_graph *g, int x, float alpha) {
  const char *what = "leaky_relu";
  if (!check_in(g, x, what)) return -1;
  nn_op op = {.kind = NN_OP_LEAKY_RELU, .in = {x, -1}, .alpha = alpha};
  return add_op(g, &op, g->shapes[x], what);
}

int nn_zero_pad(nn_graph *g, int x, int top, int bottom, int left, int right,
                int extra_c) {
  const int pads[6] = {top, bottom, left, right, 0, extra_c};
  return nn_pad(g, x, pads);
}

int nn_pad(nn_graph *g, int x, const int pads[6]) {
  const char *what = "pad";
  if (!check_in(g, x, what)) return -1;
  const int lim = 1 << 20;
  for (int i = 0; i < 6; i++)
    if (pads[i] < 0 || pads[i] > lim) {
      fail(g, FK_EINVAL, "pad: invalid padding %d,%d,%d,%d,%d,%d", pads[0],
           pads[1], pads[2], pads[3], pads[4], pads[5]);
      return -1;
    }
  nn_shape in = g->shapes[x];
  /* in dims are <= 2^30, pads <= 2^20: no int overflow. */
  nn_shape out = {in.h + pads[0] + pads[1], in.w + pads[2] + pads[3],
                  in.c + pads[4] + pads[5]};
  nn_op op = {.kind = NN_OP_PAD,
              .in = {x, -1},
              .pad = {pads[0], pads[1], pads[2], pads[3]},
              .pad_c0 = pads[4],
              .pad_c = pads[5]};
  return add_op(g, &op, out, what);
}

/* ---- graph-model ops -------------------------------------------------------- */

int nn_pool2d(nn_graph *g, int x, int is_max, int kh, int kw, int stride,
              nn_padding pad) {
  const char *what = is_max ? "maxpool" : "avgpool";
  if (!check_in(g, x, what)) return -1;
  nn_shape out;
  nn_op op = {.kind = is_max ? NN_OP_MAXPOOL : NN_OP_AVGPOOL, .in = {x, -1}};
  if (!window(g, what, g->shapes[x], kh, kw, stride, 1, pad, &op, &out))
    return -1;
  return add_op(g, &op, out, what);
}

int nn_pool2d_win(nn_graph *g, int x, int is_max, const nn_window *win) {
  const char *what = is_max ? "maxpool" : "avgpool";
  if (!check_in(g, x, what)) return -1;
  nn_shape out;
  nn_op op = {.kind = is_max ? NN_OP_MAXPOOL : NN_OP_AVGPOOL, .in = {x, -1}};
  if (!window_explicit(g, what, g->shapes[x], win, &op, &out)) return -1;
  if (win->dilation != 1) {
    fail(g, FK_EINVAL, "%s: dilated pooling is not supported", what);
    return -1;
  }
  return add_op(g, &op, out, what);
}

/* Numpy broadcast of one dimension; 0 if a and b are incompatible. */
static int bcast(int a, int b) {
  if (a == b || b == 1) return a;
  return a == 1 ? b : 0;
}

static int bcast_shape(nn_graph *g, const char *what, nn_shape a, nn_shape b,
                       nn_shape *out) {
  out->h = bcast(a.h, b.h);
  out->w = bcast(a.w, b.w);
  out->c = bcast(a.c, b.c);
  if (out->h && out->w && out->c) return 1;
  fail(g, FK_EINVAL, "%s: shapes %dx%dx%d and %dx%dx%d do not broadcast",
       what, a.h, a.w, a.c, b.h, b.w, b.c);
  return 0;
}

static int valid_binary(nn_graph *g, nn_binary_kind kind, nn_act act) {
  if ((unsigned)kind > NN_BIN_MIN) {
    fail(g, FK_EINVAL, "binary: unknown kind %d", (int)kind);
    return 0;
  }
  if (!valid_act(g, "binary", act)) return 0;
  if (act != NN_ACT_NONE && (kind == NN_BIN_MAX || kind == NN_BIN_MIN)) {
    fail(g, FK_EINVAL, "binary: max/min take no activation");
    return 0;
  }
  return 1;
}

int nn_binary(nn_graph *g, int a, int b, nn_binary_kind kind, nn_act act) {
  const char *what = "binary";
  if (!check_in(g, a, what) || !check_in(g, b, what) ||
      !valid_binary(g, kind, act))
    return -1;
  nn_shape out;
  if (!bcast_shape(g, what, g->shapes[a], g->shapes[b], &out)) return -1;
  nn_op op = {.kind = NN_OP_BINARY, .in = {a, b}, .sub = kind, .act = act};
  return add_op(g, &op, out, what);
}

int nn_binary_const(nn_graph *g, int a, nn_binary_kind kind, const float *k,
                    nn_shape ks, int k_first, nn_act act) {
  const char *what = "binary";
  if (!check_in(g, a, what) || !valid_binary(g, kind, act)) return -1;
  if (!k || !shape_ok(ks)) {
    fail(g, FK_EINVAL, "binary: invalid constant");
    return -1;
  }
  nn_shape out;
  if (!bcast_shape(g, what, g->shapes[a], ks, &out)) return -1;
  float *kc = alloc_floats(g, what, nn_shape_size(ks));
  if (!kc) return -1;
  memcpy(kc, k, nn_shape_size(ks) * sizeof(float));
  nn_op op = {.kind = NN_OP_BINARY, .in = {a, -1}, .sub = kind, .act = act,
              .weights = kc, .bshape = ks, .rev = k_first != 0};
  return add_op(g, &op, out, what);
}

int nn_unary(nn_graph *g, int x, nn_unary_kind kind) {
  const char *what = "unary";
  if (!check_in(g, x, what)) return -1;
  if ((unsigned)kind > NN_UN_EXP) {
    fail(g, FK_EINVAL, "unary: unknown kind %d", (int)kind);
    return -1;
  }
  nn_op op = {.kind = NN_OP_UNARY, .in = {x, -1}, .sub = kind};
  return add_op(g, &op, g->shapes[x], what);
}

int nn_clamp(nn_graph *g, int x, float lo, float hi) {
  const char *what = "clamp";
  if (!check_in(g, x, what)) return -1;
  if (!(lo <= hi)) {
    fail(g, FK_EINVAL, "clamp: empty range [%g, %g]", lo, hi);
    return -1;
  }
  nn_op op = {.kind = NN_OP_CLAMP, .in = {x, -1}, .lo = lo, .hi = hi};
  return add_op(g, &op, g->shapes[x], what);
}

int nn_prelu(nn_graph *g, int x, const float *slope) {
  const char *what = "prelu";
  if (!check_in(g, x, what)) return -1;
  if (!slope) {
    fail(g, FK_EINVAL, "prelu: missing slopes");
    return -1;
  }
  int ok;
  float *s = copy_bias(g, what, slope, (size_t)g->shapes[x].c, &ok);
  if (!ok) return -1;
  nn_op op = {.kind = NN_OP_PRELU, .in = {x, -1}, .weights = s};
  return add_op(g, &op, g->shapes[x], what);
}

int nn_reduce(nn_graph *g, int x, nn_reduce_kind kind, int axes) {
  const char *what = "reduce";
  if (!check_in(g, x, what)) return -1;
  if ((unsigned)kind > NN_RED_MAX || axes < 0 || axes > 7) {
    fail(g, FK_EINVAL, "reduce: unknown kind %d or axes %d", (int)kind, axes);
    return -1;
  }
  nn_shape out = g->shapes[x];
  if (axes & NN_AXIS_H) out.h = 1;
  if (axes & NN_AXIS_W) out.w = 1;
  if (axes & NN_AXIS_C) out.c = 1;
  nn_op op = {.kind = NN_OP_REDUCE, .in = {x, -1}, .sub = kind, .axes = axes};
  return add_op(g, &op, out, what);
}

int nn_softmax(nn_graph *g, int x) {
  if (!check_in(g, x, "softmax")) return -1;
  nn_op op = {.kind = NN_OP_SOFTMAX, .in = {x, -1}};
  return add_op(g, &op, g->shapes[x], "softmax");
}

int nn_concat(nn_graph *g, int a, int b, int axis) {
  const char *what = "concat";
  if (!check_in(g, a, what) || !check_in(g, b, what)) return -1;
  nn_shape sa = g->shapes[a], sb = g->shapes[b];
  int da[3] = {sa.h, sa.w, sa.c}, db[3] = {sb.h, sb.w, sb.c};
  if (axis < 0 || axis > 2) {
    fail(g, FK_EINVAL, "concat: invalid axis %d", axis);
    return -1;
  }
  for (int i = 0; i < 3; i++)
    if (i != axis && da[i] != db[i]) {
      fail(g, FK_EINVAL, "concat: shapes %dx%dx%d and %dx%dx%d differ off axis %d",
           sa.h, sa.w, sa.c, sb.h, sb.w, sb.c, axis);
      return -1;
    }
  if (da[axis] > INT_MAX - db[axis]) {
    fail(g, FK_EINVAL, "concat: axis %d grows past %d", axis, INT_MAX);
    return -1;
  }
  da[axis] += db[axis]; /* then add_tensor() checks the size */
  nn_shape out = {da[0], da[1], da[2]};
  nn_op op = {.kind = NN_OP_CONCAT, .in = {a, b}, .axes = axis};
  return add_op(g, &op, out, what);
}

int nn_slice(nn_graph *g, int x, const int begin[3], const int step[3],
             nn_shape out) {
  const char *what = "slice";
  if (!check_in(g, x, what)) return -1;
  nn_shape in = g->shapes[x];
  const int din[3] = {in.h, in.w, in.c}, dout[3] = {out.h, out.w, out.c};
  for (int i = 0; i < 3; i++) {
    long long last = begin[i] + (long long)(dout[i] - 1) * step[i];
    if (dout[i] <= 0 || step[i] == 0 || begin[i] < 0 || begin[i] >= din[i] ||
        last < 0 || last >= din[i]) {
      fail(g, FK_EINVAL, "slice: axis %d: begin %d step %d size %d outside %d",
           i, begin[i], step[i], dout[i], din[i]);
      return -1;
    }
  }
  nn_op op = {.kind = NN_OP_SLICE,
              .in = {x, -1},
              .begin = {begin[0], begin[1], begin[2]},
              .step = {step[0], step[1], step[2]}};
  return add_op(g, &op, out, what);
}

int nn_reshape(nn_graph *g, int x, nn_shape s) {
  const char *what = "reshape";
  if (!check_in(g, x, what)) return -1;
  if (!shape_ok(s) || nn_shape_size(s) != nn_shape_size(g->shapes[x])) {
    fail(g, FK_EINVAL, "reshape: %dx%dx%d does not hold the %zu values of the input",
         s.h, s.w, s.c, nn_shape_size(g->shapes[x]));
    return -1;
  }
  nn_op op = {.kind = NN_OP_RESHAPE, .in = {x, -1}};
  return add_op(g, &op, s, what);
}

int nn_transpose(nn_graph *g, int x, const int perm[3]) {
  const char *what = "transpose";
  if (!check_in(g, x, what)) return -1;
  int seen = 0;
  for (int i = 0; perm && i < 3; i++)
    if (perm[i] >= 0 && perm[i] < 3) seen |= 1 << perm[i];
  if (seen != 7) {
    fail(g, FK_EINVAL, "transpose: not a permutation of the three axes");
    return -1;
  }
  nn_shape in = g->shapes[x];
  const int d[3] = {in.h, in.w, in.c};
  nn_shape out = {d[perm[0]], d[perm[1]], d[perm[2]]};
  nn_op op = {.kind = NN_OP_TRANSPOSE, .in = {x, -1},
              .perm = {perm[0], perm[1], perm[2]}};
  return add_op(g, &op, out, what);
}

void nn_mark_output(nn_graph *g, int t) {
  if (!check_in(g, t, "mark_output")) return;
  int *p = realloc(g->outputs, (size_t)(g->noutputs + 1) * sizeof *p);
  if (!p) {
    fail(g, FK_ENOMEM, "mark_output: out of memory");
    return;
  }
  g->outputs = p;
  g->outputs[g->noutputs++] = t;
}

int nn_graph_status(const nn_graph *g) {
  if (!g) return FK_ENOMEM;
  return g->failed;
}

void nn_graph_free(nn_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->nops; i++) {
    free(g->ops[i].weights);
    free(g->ops[i].bias);
  }
  free(g->ops);
  free(g->shapes);
  free(g->outputs);
  free(g);
}

double nn_graph_macs(const nn_graph *g) {
  if (!g) return 0;
  double macs = 0;
  for (int i = 0; i < g->nops; i++) {
    const nn_op *op = &g->ops[i];
    nn_shape in = g->shapes[op->in[0]], out = g->shapes[op->out];
    double pix = (double)out.h * out.w;
    switch (op->kind) {
      case NN_OP_CONV:
        macs += pix * out.c * op->kh * op->kw * in.c;
        break;
      case NN_OP_DEPTHWISE:
        macs += pix * out.c * op->kh * op->kw;
        break;
      case NN_OP_FC:
        macs += (double)nn_shape_size(in) * out.c;
        break;
      default:
        break;
    }
  }
  return macs;
}

/* ---- fingerprint ----------------------------------------------------------- */

/* Floats of weights and of bias of one op (layouts at the top of nn.h). */
static size_t op_weight_count(const nn_graph *g, const nn_op *op, size_t *nbias) {
  nn_shape in = g->shapes[op->in[0]], out = g->shapes[op->out];
  *nbias = op->bias ? (size_t)out.c : 0;
  switch (op->kind) {
    case NN_OP_CONV: return (size_t)out.c * op->kh * op->kw * in.c;
    case NN_OP_DEPTHWISE: return (size_t)op->kh * op->kw * in.c;
    case NN_OP_FC: return nn_shape_size(in) * (size_t)out.c;
    default: return 0;
  }
}

uint64_t nn_hash_mix(uint64_t h, uint64_t x) {
  h ^= x + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h *= 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

static uint64_t hash_floats(uint64_t h, const float *p, size_t n) {
  for (size_t i = 0; p && i < n; i++) {
    uint32_t u;
    memcpy(&u, &p[i], sizeof u);
    h = nn_hash_mix(h, u);
  }
  return h;
}

/* Op kinds and the conv/depthwise/fc weights and biases, in op order: what
 * makes two graphs give different embeddings. Indexes made before this
 * function moved here recorded the same value. */
uint64_t nn_graph_fingerprint(const nn_graph *g) {
  uint64_t h = 0x666b6d6f64656c31ull;
  for (int i = 0; i < g->nops; i++) {
    const nn_op *op = &g->ops[i];
    size_t nb, nw = op_weight_count(g, op, &nb);
    h = nn_hash_mix(h, (uint64_t)op->kind);
    h = hash_floats(h, op->weights, nw);
    h = hash_floats(h, op->bias, nb);
  }
  return h;
}
