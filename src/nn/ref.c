/*
 * ref.c - plain-C reference kernels for every nn_op kind (nn.h), and the
 * NN_BACKEND_REFERENCE backend that runs a graph with them: the oracle the
 * other backends are tested against, and their fallback for the ops their
 * library lacks. The loops are deliberately direct; the only concession to
 * speed is the loop order of conv (output pixel -> cout -> kh -> kw -> cin,
 * with the inner loop over contiguous cin in both NHWC input and OHWI
 * weights). Sums are accumulated in double.
 */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include <xnnpack.h> /* XNN_EXTRA_BYTES: every runtime input has that slack */

#include "facekit.h"
#include "nn/backend.h"
#include "nn/nn.h"

static inline float act_apply(float v, nn_act act) {
  switch (act) {
    case NN_ACT_RELU: return v > 0.0f ? v : 0.0f;
    case NN_ACT_RELU6: return v > 0.0f ? (v < 6.0f ? v : 6.0f) : 0.0f;
    default: return v;
  }
}

/* Dot product of n floats; four double partial sums break the add latency
 * chain (about 3x faster than one accumulator) and stay deterministic. */
static double dot(const float *a, const float *b, size_t n) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += (double)a[i] * b[i];
    s1 += (double)a[i + 1] * b[i + 1];
    s2 += (double)a[i + 2] * b[i + 2];
    s3 += (double)a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += (double)a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

static void conv(const nn_op *op, nn_shape in, nn_shape out, const float *x,
                 float *y) {
  const int kh = op->kh, kw = op->kw, s = op->stride, cin = in.c;
  const int d = op->dilation > 1 ? op->dilation : 1;
  const float *w = op->weights;
  for (int oy = 0; oy < out.h; oy++)
    for (int ox = 0; ox < out.w; ox++) {
      float *dst = y + ((size_t)oy * out.w + ox) * out.c;
      const int iy0 = oy * s - op->pad[0], ix0 = ox * s - op->pad[2];
      for (int co = 0; co < out.c; co++) {
        double acc = op->bias ? op->bias[co] : 0.0;
        for (int ky = 0; ky < kh; ky++) {
          const int iy = iy0 + ky * d;
          if (iy < 0 || iy >= in.h) continue;
          for (int kx = 0; kx < kw; kx++) {
            const int ix = ix0 + kx * d;
            if (ix < 0 || ix >= in.w) continue;
            const float *xp = x + ((size_t)iy * in.w + ix) * cin;
            const float *wp = w + (((size_t)co * kh + ky) * kw + kx) * cin;
            acc += dot(xp, wp, (size_t)cin);
          }
        }
        dst[co] = act_apply((float)acc, op->act);
      }
    }
}

static void depthwise(const nn_op *op, nn_shape in, nn_shape out,
                      const float *x, float *y) {
  const int kh = op->kh, kw = op->kw, s = op->stride, c = in.c;
  const int d = op->dilation > 1 ? op->dilation : 1;
  for (int oy = 0; oy < out.h; oy++)
    for (int ox = 0; ox < out.w; ox++) {
      float *dst = y + ((size_t)oy * out.w + ox) * c;
      const int iy0 = oy * s - op->pad[0], ix0 = ox * s - op->pad[2];
      for (int ch = 0; ch < c; ch++) {
        double acc = op->bias ? op->bias[ch] : 0.0;
        for (int ky = 0; ky < kh; ky++) {
          const int iy = iy0 + ky * d;
          if (iy < 0 || iy >= in.h) continue;
          for (int kx = 0; kx < kw; kx++) {
            const int ix = ix0 + kx * d;
            if (ix < 0 || ix >= in.w) continue;
            acc += (double)x[((size_t)iy * in.w + ix) * c + ch] *
                   op->weights[((size_t)ky * kw + kx) * c + ch];
          }
        }
        dst[ch] = act_apply((float)acc, op->act);
      }
    }
}

/* Max (padded cells ignored) or VALID mean over each k x k window. */
static void pool(const nn_op *op, nn_shape in, nn_shape out, const float *x,
                 float *y, int is_max) {
  const int c = in.c;
  for (int oy = 0; oy < out.h; oy++)
    for (int ox = 0; ox < out.w; ox++) {
      float *dst = y + ((size_t)oy * out.w + ox) * c;
      const int iy0 = oy * op->stride - op->pad[0];
      const int ix0 = ox * op->stride - op->pad[2];
      for (int ch = 0; ch < c; ch++) {
        double acc = 0.0;
        float mx = 0.0f;
        int n = 0;
        for (int ky = 0; ky < op->kh; ky++) {
          const int iy = iy0 + ky;
          if (iy < 0 || iy >= in.h) continue;
          for (int kx = 0; kx < op->kw; kx++) {
            const int ix = ix0 + kx;
            if (ix < 0 || ix >= in.w) continue;
            float v = x[((size_t)iy * in.w + ix) * c + ch];
            if (n == 0 || v > mx) mx = v;
            acc += v;
            n++;
          }
        }
        if (is_max)
          dst[ch] = mx;
        else
          dst[ch] = n ? (float)(acc / n) : 0.0f;
      }
    }
}

static void global_avg(nn_shape in, const float *x, float *y) {
  const size_t pix = (size_t)in.h * in.w;
  for (int ch = 0; ch < in.c; ch++) {
    double acc = 0.0;
    for (size_t p = 0; p < pix; p++) acc += x[p * in.c + ch];
    y[ch] = (float)(acc / (double)pix);
  }
}

static void fc(const nn_op *op, nn_shape in, nn_shape out, const float *x,
               float *y) {
  const size_t cin = nn_shape_size(in);
  for (int o = 0; o < out.c; o++) {
    const float *wp = op->weights + (size_t)o * cin;
    double acc = op->bias ? op->bias[o] : 0.0;
    acc += dot(x, wp, cin);
    y[o] = act_apply((float)acc, op->act);
  }
}

static void zero_pad(const nn_op *op, nn_shape in, nn_shape out,
                     const float *x, float *y) {
  for (size_t i = 0, n = nn_shape_size(out); i < n; i++) y[i] = 0.0f;
  for (int iy = 0; iy < in.h; iy++)
    for (int ix = 0; ix < in.w; ix++) {
      const float *src = x + ((size_t)iy * in.w + ix) * in.c;
      float *dst = y + ((size_t)(iy + op->pad[0]) * out.w + ix + op->pad[2]) *
                           out.c + op->pad_c0;
      for (int ch = 0; ch < in.c; ch++) dst[ch] = src[ch];
    }
}

/* ---- graph-model ops ------------------------------------------------------- */

float nn_binary_apply(int kind, float a, float b) {
  switch (kind) {
    case NN_BIN_ADD: return a + b;
    case NN_BIN_SUB: return a - b;
    case NN_BIN_MUL: return a * b;
    case NN_BIN_DIV: return a / b;
    case NN_BIN_MAX: return a > b ? a : b;
    default: return a < b ? a : b;
  }
}

/* Broadcasting elementwise a (op) b: a zero stride repeats a size-1 axis. */
static void binary(const nn_op *op, nn_shape sa, nn_shape sb, nn_shape out,
                   const float *a, const float *b, float *y) {
  const size_t ah = sa.h > 1 ? (size_t)sa.w * sa.c : 0, aw = sa.w > 1 ? sa.c : 0;
  const size_t bh = sb.h > 1 ? (size_t)sb.w * sb.c : 0, bw = sb.w > 1 ? sb.c : 0;
  const int ac = sa.c > 1, bc = sb.c > 1;
  for (int i = 0; i < out.h; i++)
    for (int j = 0; j < out.w; j++) {
      const float *pa = a + i * ah + j * aw, *pb = b + i * bh + j * bw;
      float *dst = y + ((size_t)i * out.w + j) * out.c;
      for (int k = 0; k < out.c; k++) {
        float u = pa[ac ? k : 0], v = pb[bc ? k : 0];
        dst[k] = act_apply(op->rev ? nn_binary_apply(op->sub, v, u)
                                   : nn_binary_apply(op->sub, u, v),
                           op->act);
      }
    }
}

static float unary_apply(int kind, float v) {
  switch (kind) {
    case NN_UN_ABS: return fabsf(v);
    case NN_UN_SQUARE: return v * v;
    case NN_UN_RSQRT: return 1.0f / sqrtf(v);
    case NN_UN_SIGMOID: return (float)(1.0 / (1.0 + exp(-(double)v)));
    case NN_UN_EXP: return expf(v);
    default: return tanhf(v);
  }
}

/* Sum, mean or max over the masked axes; out keeps them as size 1. */
static void reduce(const nn_op *op, nn_shape in, nn_shape out, const float *x,
                   float *y) {
  const int rh = op->axes & NN_AXIS_H ? in.h : 1;
  const int rw = op->axes & NN_AXIS_W ? in.w : 1;
  const int rc = op->axes & NN_AXIS_C ? in.c : 1;
  for (int i = 0; i < out.h; i++)
    for (int j = 0; j < out.w; j++)
      for (int k = 0; k < out.c; k++) {
        double acc = 0.0;
        float mx = -INFINITY;
        for (int u = 0; u < rh; u++)
          for (int v = 0; v < rw; v++)
            for (int w = 0; w < rc; w++) {
              float val = x[((size_t)(i + u) * in.w + (j + v)) * in.c + k + w];
              acc += val;
              if (val > mx || isnan(val)) mx = val;
            }
        float r = (float)acc;
        if (op->sub == NN_RED_MEAN) r = (float)(acc / ((double)rh * rw * rc));
        if (op->sub == NN_RED_MAX) r = mx;
        y[((size_t)i * out.w + j) * out.c + k] = r;
      }
}

/* Softmax over c with the max subtracted first, as TF does. */
static void softmax(nn_shape in, const float *x, float *y) {
  const size_t rows = (size_t)in.h * in.w;
  for (size_t r = 0; r < rows; r++) {
    const float *p = x + r * in.c;
    float *q = y + r * in.c;
    float mx = p[0];
    for (int k = 1; k < in.c; k++) mx = p[k] > mx ? p[k] : mx;
    double sum = 0.0;
    for (int k = 0; k < in.c; k++) sum += exp((double)p[k] - mx);
    for (int k = 0; k < in.c; k++) q[k] = (float)(exp((double)p[k] - mx) / sum);
  }
}

static void concat(const nn_op *op, nn_shape sa, nn_shape sb, nn_shape out,
                   const float *a, const float *b, float *y) {
  /* Viewed as [outer][inner] rows, each output row is a's row then b's. */
  size_t outer = 1, ia = 1, ib = 1;
  const int da[3] = {sa.h, sa.w, sa.c}, db[3] = {sb.h, sb.w, sb.c};
  for (int i = 0; i < 3; i++) {
    if (i < op->axes) outer *= (size_t)da[i];
    else {
      ia *= (size_t)da[i];
      ib *= (size_t)db[i];
    }
  }
  (void)out;
  for (size_t o = 0; o < outer; o++) {
    float *dst = y + o * (ia + ib);
    for (size_t i = 0; i < ia; i++) dst[i] = a[o * ia + i];
    for (size_t i = 0; i < ib; i++) dst[ia + i] = b[o * ib + i];
  }
}

static void slice(const nn_op *op, nn_shape in, nn_shape out, const float *x,
                  float *y) {
  for (int i = 0; i < out.h; i++)
    for (int j = 0; j < out.w; j++)
      for (int k = 0; k < out.c; k++) {
        size_t si = (size_t)(op->begin[0] + i * op->step[0]);
        size_t sj = (size_t)(op->begin[1] + j * op->step[1]);
        size_t sk = (size_t)(op->begin[2] + k * op->step[2]);
        y[((size_t)i * out.w + j) * out.c + k] =
            x[(si * in.w + sj) * in.c + sk];
      }
}

/* out[i][j][k] = x at the index whose axis perm[a] is (i, j, k)[a]. */
static void transpose(const nn_op *op, nn_shape in, nn_shape out,
                      const float *x, float *y) {
  const size_t st[3] = {(size_t)in.w * in.c, (size_t)in.c, 1};
  const size_t s0 = st[op->perm[0]], s1 = st[op->perm[1]], s2 = st[op->perm[2]];
  for (int i = 0; i < out.h; i++)
    for (int j = 0; j < out.w; j++)
      for (int k = 0; k < out.c; k++)
        *y++ = x[i * s0 + j * s1 + k * s2];
}

static int valid_tensor(const nn_graph *g, int t) {
  return t >= 0 && t < g->ntensors;
}

int nn_ref_run_op(const nn_graph *g, const nn_op *op, const float *a,
                  const float *b, float *out) {
  if (!g || !op || !a || !out || !valid_tensor(g, op->in[0]) ||
      !valid_tensor(g, op->out))
    return FK_EINVAL;
  const nn_shape in = g->shapes[op->in[0]], os = g->shapes[op->out];
  const size_t n = nn_shape_size(os);
  switch (op->kind) {
    case NN_OP_CONV:
      if (!op->weights) return FK_EINVAL;
      conv(op, in, os, a, out);
      return FK_OK;
    case NN_OP_DEPTHWISE:
      if (!op->weights) return FK_EINVAL;
      depthwise(op, in, os, a, out);
      return FK_OK;
    case NN_OP_ADD:
      if (!b || !valid_tensor(g, op->in[1])) return FK_EINVAL;
      for (size_t i = 0; i < n; i++) out[i] = act_apply(a[i] + b[i], op->act);
      return FK_OK;
    case NN_OP_MAXPOOL:
      pool(op, in, os, a, out, 1);
      return FK_OK;
    case NN_OP_AVGPOOL:
      pool(op, in, os, a, out, 0);
      return FK_OK;
    case NN_OP_GLOBAL_AVG:
      global_avg(in, a, out);
      return FK_OK;
    case NN_OP_FC:
      if (!op->weights) return FK_EINVAL;
      fc(op, in, os, a, out);
      return FK_OK;
    case NN_OP_LEAKY_RELU:
      for (size_t i = 0; i < n; i++)
        out[i] = a[i] >= 0.0f ? a[i] : op->alpha * a[i];
      return FK_OK;
    case NN_OP_PAD:
      zero_pad(op, in, os, a, out);
      return FK_OK;
    case NN_OP_BINARY:
      if (op->in[1] >= 0) {
        if (!b || !valid_tensor(g, op->in[1])) return FK_EINVAL;
        binary(op, in, g->shapes[op->in[1]], os, a, b, out);
      } else {
        if (!op->weights) return FK_EINVAL;
        binary(op, in, op->bshape, os, a, op->weights, out);
      }
      return FK_OK;
    case NN_OP_UNARY:
      for (size_t i = 0; i < n; i++) out[i] = unary_apply(op->sub, a[i]);
      return FK_OK;
    case NN_OP_CLAMP:
      for (size_t i = 0; i < n; i++) {
        float v = a[i] < op->lo ? op->lo : a[i];
        out[i] = v > op->hi ? op->hi : v;
      }
      return FK_OK;
    case NN_OP_PRELU:
      if (!op->weights) return FK_EINVAL;
      for (size_t i = 0; i < n; i++) {
        float v = a[i];
        out[i] = v >= 0.0f ? v : v * op->weights[i % (size_t)in.c];
      }
      return FK_OK;
    case NN_OP_REDUCE:
      reduce(op, in, os, a, out);
      return FK_OK;
    case NN_OP_SOFTMAX:
      softmax(in, a, out);
      return FK_OK;
    case NN_OP_CONCAT:
      if (!b || !valid_tensor(g, op->in[1])) return FK_EINVAL;
      concat(op, in, g->shapes[op->in[1]], os, a, b, out);
      return FK_OK;
    case NN_OP_SLICE:
      slice(op, in, os, a, out);
      return FK_OK;
    case NN_OP_RESHAPE:
      for (size_t i = 0; i < n; i++) out[i] = a[i];
      return FK_OK;
    case NN_OP_TRANSPOSE:
      transpose(op, in, os, a, out);
      return FK_OK;
  }
  return FK_EINVAL;
}

/* ---- the reference backend ---------------------------------------------- */

/* One buffer per tensor, every op run in graph order on one thread. */
typedef struct ref_rt {
  const nn_graph *g;
  float **buf;
} ref_rt;

static void ref_free(void *state) {
  ref_rt *r = state;
  if (!r) return;
  if (r->buf)
    for (int t = 0; t < r->g->ntensors; t++) free(r->buf[t]);
  free(r->buf);
  free(r);
}

static int ref_create(const nn_graph *g, nn_threads *th, nn_precision prec, void **state) {
  (void)th;
  if (prec != NN_PREC_F32) return FK_EUNSUPPORTED;
  ref_rt *r = calloc(1, sizeof *r);
  if (!r) return FK_ENOMEM;
  r->g = g;
  r->buf = calloc((size_t)g->ntensors, sizeof *r->buf);
  for (int t = 0; r->buf && t < g->ntensors; t++) {
    r->buf[t] = calloc(1, nn_shape_size(g->shapes[t]) * sizeof(float) + XNN_EXTRA_BYTES);
    if (!r->buf[t]) break;
  }
  if (!r->buf || !r->buf[g->ntensors - 1]) {
    ref_free(r);
    return FK_ENOMEM;
  }
  *state = r;
  return FK_OK;
}

static float *ref_input(void *state) { return ((ref_rt *)state)->buf[0]; }

static int ref_run(void *state, int threads) {
  (void)threads;
  ref_rt *r = state;
  for (int i = 0; i < r->g->nops; i++) {
    const nn_op *op = &r->g->ops[i];
    const float *b = op->in[1] >= 0 ? r->buf[op->in[1]] : NULL;
    int rc = nn_ref_run_op(r->g, op, r->buf[op->in[0]], b, r->buf[op->out]);
    if (rc != FK_OK) return rc;
  }
  return FK_OK;
}

static int ref_steps(const void *state) { return ((const ref_rt *)state)->g->nops; }

static const float *ref_output(const void *state, int i) {
  const ref_rt *r = state;
  return r->buf[r->g->outputs[i]];
}

const nn_backend_ops nn_ref_backend = {
    .name = "reference",
    .create = ref_create,
    .input = ref_input,
    .run = ref_run,
    .output = ref_output,
    .free = ref_free,
    .steps = ref_steps,
};
