/*
 * xnn.c - the XNNPACK backend (backend.h): runs an nn_graph on XNNPACK's
 * subgraph API, falling back to the reference kernels (ref.c) for the ops
 * this XNNPACK snapshot lacks. The only file that touches XNNPACK's API,
 * which changed upstream after the Debian snapshot.
 *
 * The graph's ops (already in execution order) are cut into steps: each
 * maximal run of ops XNNPACK supports becomes one XNNPACK subgraph and
 * runtime (a "segment"), and every other op is a step of its own that calls
 * nn_ref_run_op(). A tensor gets a buffer of its own only when it crosses a
 * step boundary (or is the graph's input or an output); inside a segment
 * XNNPACK keeps its internal values in its own arena. A face-api net, whose
 * ops XNNPACK all supports, is one segment, as before.
 *
 * Weights are referenced, not copied (XNNPACK packs conv and FC weights when
 * a runtime is created), so the graph must outlive this object; constants
 * XNNPACK reads while running (binary operands) are copied with
 * XNN_EXTRA_BYTES of slack. XNNPACK may rewrite a subgraph while creating a
 * runtime, which is why every session builds its own subgraphs instead of
 * sharing them.
 *
 * Threads: the runtimes of one session share one pthreadpool of n threads
 * (nn_threads.shared). An XNNPACK runtime is bound to its pool when it is
 * created, so with n > 1 every segment is built twice, once on the pool and
 * once without, for the runs that get one thread (runtime.c); that doubles
 * the packed weights of multi-thread sessions. The pooled runtimes pass
 * XNN_FLAG_YIELD_WORKERS, so the pool's workers sleep between runs instead
 * of spinning beside the session's other work.
 *
 * Value ids: within a segment, external ids 0..k-1 are the segment's
 * boundary tensors in order of first use; every other tensor is internal.
 * Tensors are 4D NHWC values, except that FC outputs are 2D [1, cout] (as
 * XNNPACK's TF-reshape FC wants) and so are the outputs of elementwise ops
 * over 2D values in the same segment.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "facekit.h"
#include "nn/backend.h"

typedef struct xnn_step {
  xnn_runtime_t rt[2]; /* the XNNPACK segment on 1 and n threads, unless ref;
                          rt[1] is NULL when n == 1 */
  int first, last;  /* ops [first, last) */
  int ref;          /* a single op XNNPACK lacks, run by ref.c */
} xnn_step;

typedef struct nn_xnn {
  const nn_graph *g;
  float **buf;      /* per tensor: its buffer if it crosses a step, else NULL */
  xnn_step *steps;
  int nsteps;
  float **owned;    /* zero biases and padded constants, freed with x */
  int nowned;
} nn_xnn;

static void act_range(nn_act act, float *lo, float *hi) {
  *lo = -INFINITY;
  *hi = INFINITY;
  if (act == NN_ACT_RELU || act == NN_ACT_RELU6) *lo = 0.0f;
  if (act == NN_ACT_RELU6) *hi = 6.0f;
}

/* Ops that want a 4D input, so cannot take a 2D (FC-produced) value. */
static int wants_4d(nn_op_kind k) {
  return k == NN_OP_CONV || k == NN_OP_DEPTHWISE || k == NN_OP_MAXPOOL ||
         k == NN_OP_AVGPOOL || k == NN_OP_GLOBAL_AVG || k == NN_OP_PAD ||
         k == NN_OP_PRELU || k == NN_OP_REDUCE;
}

/* Elementwise ops whose output keeps the input's rank. */
static int keeps_rank(nn_op_kind k) {
  return k == NN_OP_UNARY || k == NN_OP_CLAMP || k == NN_OP_SOFTMAX ||
         k == NN_OP_LEAKY_RELU || k == NN_OP_BINARY || k == NN_OP_ADD;
}

/* Whether XNNPACK can run op. from_fc[t]: t may be a 2D value. */
static int supported(const nn_graph *g, const nn_op *op, const char *from_fc) {
  nn_shape in = g->shapes[op->in[0]];
  if (wants_4d(op->kind) && from_fc[op->in[0]]) return 0;
  switch (op->kind) {
    case NN_OP_MAXPOOL:
    case NN_OP_AVGPOOL:
      return op->kh * op->kw > 1; /* XNNPACK rejects 1x1 pooling */
    case NN_OP_UNARY:
      return op->sub != NN_UN_TANH && op->sub != NN_UN_EXP;
    case NN_OP_REDUCE:
      return op->axes == (NN_AXIS_H | NN_AXIS_W) && in.h * in.w > 1 &&
             (op->sub == NN_RED_MEAN || op->sub == NN_RED_MAX);
    case NN_OP_CONCAT:
    case NN_OP_SLICE:
    case NN_OP_TRANSPOSE:
      return 0;
    default:
      return 1;
  }
}

/* A copy of n floats with XNNPACK's over-read slack, owned by x. */
static const float *own_copy(nn_xnn *x, const float *src, size_t n) {
  float **grown = realloc(x->owned, (size_t)(x->nowned + 1) * sizeof *grown);
  if (!grown) return NULL;
  x->owned = grown;
  float *p = calloc(1, n * sizeof(float) + XNN_EXTRA_BYTES);
  if (!p) return NULL;
  if (src) memcpy(p, src, n * sizeof(float));
  x->owned[x->nowned++] = p;
  return p;
}

static int define_static(xnn_subgraph_t sg, size_t ndims, const size_t *dims,
                         const float *data, uint32_t *id) {
  return xnn_define_tensor_value(sg, xnn_datatype_fp32, ndims, dims, data,
                                 XNN_INVALID_VALUE_ID, 0, id) == xnn_status_success
             ? FK_OK
             : FK_EBACKEND;
}

static int define_internal(xnn_subgraph_t sg, nn_shape s, int is2d, uint32_t *id) {
  size_t dims[4] = {1, (size_t)s.h, (size_t)s.w, (size_t)s.c};
  if (is2d) dims[1] = (size_t)s.c;
  return xnn_define_tensor_value(sg, xnn_datatype_fp32, is2d ? 2 : 4, dims, NULL,
                                 XNN_INVALID_VALUE_ID, 0, id) == xnn_status_success
             ? FK_OK
             : FK_EBACKEND;
}

/* Per-segment state while its subgraph is being defined. */
typedef struct seg {
  xnn_subgraph_t sg;
  uint32_t *ids;      /* tensor -> value id, XNN_INVALID_VALUE_ID if none */
  char *is2d;         /* tensor defined as a 2D value */
  const int *prod;    /* tensor -> producing step, -1 for the input */
  int step;
  uint32_t next_ext;  /* external ids handed out */
  struct xnn_external_value *ev;
} seg;

/* Defines tensor t in the segment: external if it has a buffer. */
static int define_value(nn_xnn *x, seg *s, int t, int is2d) {
  if (s->ids[t] != XNN_INVALID_VALUE_ID) return FK_OK;
  nn_shape sh = x->g->shapes[t];
  size_t dims[4] = {1, (size_t)sh.h, (size_t)sh.w, (size_t)sh.c};
  if (is2d) dims[1] = (size_t)sh.c;
  uint32_t ext = XNN_INVALID_VALUE_ID, flags = 0;
  if (x->buf[t]) {
    ext = s->next_ext++;
    flags = s->prod[t] == s->step ? XNN_VALUE_FLAG_EXTERNAL_OUTPUT
                                  : XNN_VALUE_FLAG_EXTERNAL_INPUT;
    s->ev[ext].id = ext;
    s->ev[ext].data = x->buf[t];
  }
  s->is2d[t] = (char)is2d;
  return xnn_define_tensor_value(s->sg, xnn_datatype_fp32, is2d ? 2 : 4, dims,
                                 NULL, ext, flags, &s->ids[t]) == xnn_status_success
             ? FK_OK
             : FK_EBACKEND;
}

static enum xnn_status define_binary(xnn_subgraph_t sg, int kind, float lo, float hi,
                                     uint32_t a, uint32_t b, uint32_t o) {
  switch (kind) {
    case NN_BIN_ADD: return xnn_define_add2(sg, lo, hi, a, b, o, 0);
    case NN_BIN_SUB: return xnn_define_subtract(sg, lo, hi, a, b, o, 0);
    case NN_BIN_MUL: return xnn_define_multiply2(sg, lo, hi, a, b, o, 0);
    case NN_BIN_DIV: return xnn_define_divide(sg, lo, hi, a, b, o, 0);
    case NN_BIN_MAX: return xnn_define_maximum2(sg, a, b, o, 0);
    default: return xnn_define_minimum2(sg, a, b, o, 0);
  }
}

/* 1 / sqrt(a) as square_root then divide: both correctly rounded, so the
 * result equals the reference's 1.0f / sqrtf(v). */
static enum xnn_status define_rsqrt(nn_xnn *x, xnn_subgraph_t sg, nn_shape sh,
                                    int is2d, uint32_t a, uint32_t o) {
  static const float one = 1.0f;
  uint32_t tmp, k;
  size_t d1[1] = {1};
  const float *p = own_copy(x, &one, 1);
  if (!p || define_internal(sg, sh, is2d, &tmp) || define_static(sg, 1, d1, p, &k))
    return xnn_status_out_of_memory;
  enum xnn_status s = xnn_define_square_root(sg, a, tmp, 0);
  if (s != xnn_status_success) return s;
  return xnn_define_divide(sg, -INFINITY, INFINITY, k, tmp, o, 0);
}

/* Adds one op as an XNNPACK node (its values already defined). */
static int define_op(nn_xnn *x, seg *sg_state, const nn_op *op) {
  xnn_subgraph_t sg = sg_state->sg;
  const nn_graph *g = x->g;
  const uint32_t *ids = sg_state->ids;
  nn_shape in = g->shapes[op->in[0]], out = g->shapes[op->out];
  uint32_t a = ids[op->in[0]], o = ids[op->out];
  uint32_t pt = (uint32_t)op->pad[0], pb = (uint32_t)op->pad[1];
  uint32_t pl = (uint32_t)op->pad[2], pr = (uint32_t)op->pad[3];
  uint32_t kh = (uint32_t)op->kh, kw = (uint32_t)op->kw, st = (uint32_t)op->stride;
  uint32_t dl = op->dilation > 1 ? (uint32_t)op->dilation : 1;
  float lo, hi;
  act_range(op->act, &lo, &hi);
  enum xnn_status s = xnn_status_invalid_parameter;
  uint32_t w, b;

  switch (op->kind) {
    case NN_OP_CONV: {
      size_t wd[4] = {(size_t)out.c, kh, kw, (size_t)in.c}, bd[1] = {(size_t)out.c};
      const float *bias = op->bias ? op->bias : own_copy(x, NULL, (size_t)out.c);
      if (!bias) return FK_ENOMEM;
      if (define_static(sg, 4, wd, op->weights, &w) || define_static(sg, 1, bd, bias, &b))
        return FK_EBACKEND;
      s = xnn_define_convolution_2d(sg, pt, pr, pb, pl, kh, kw, st, st, dl, dl, 1,
                                    (size_t)in.c, (size_t)out.c, lo, hi, a, w, b, o, 0);
      break;
    }
    case NN_OP_DEPTHWISE: {
      size_t wd[4] = {1, kh, kw, (size_t)in.c}, bd[1] = {(size_t)in.c};
      const float *bias = op->bias ? op->bias : own_copy(x, NULL, (size_t)in.c);
      if (!bias) return FK_ENOMEM;
      if (define_static(sg, 4, wd, op->weights, &w) || define_static(sg, 1, bd, bias, &b))
        return FK_EBACKEND;
      s = xnn_define_depthwise_convolution_2d(sg, pt, pr, pb, pl, kh, kw, st, st, dl, dl,
                                              1, (size_t)in.c, lo, hi, a, w, b, o, 0);
      break;
    }
    case NN_OP_ADD:
      s = xnn_define_add2(sg, lo, hi, a, ids[op->in[1]], o, 0);
      break;
    case NN_OP_MAXPOOL:
      s = xnn_define_max_pooling_2d(sg, pt, pr, pb, pl, kh, kw, st, st, 1, 1,
                                    -INFINITY, INFINITY, a, o, 0);
      break;
    case NN_OP_AVGPOOL:
      s = xnn_define_average_pooling_2d(sg, pt, pr, pb, pl, kh, kw, st, st,
                                        -INFINITY, INFINITY, a, o, 0);
      break;
    case NN_OP_GLOBAL_AVG:
      s = xnn_define_global_average_pooling_2d(sg, -INFINITY, INFINITY, a, o, 0);
      break;
    case NN_OP_FC: {
      size_t cin = nn_shape_size(in);
      size_t wd[2] = {(size_t)out.c, cin}, bd[1] = {(size_t)out.c};
      if (define_static(sg, 2, wd, op->weights, &w)) return FK_EBACKEND;
      b = XNN_INVALID_VALUE_ID;
      if (op->bias && define_static(sg, 1, bd, op->bias, &b)) return FK_EBACKEND;
      s = xnn_define_fully_connected(sg, lo, hi, a, w, b, o, XNN_FLAG_TENSORFLOW_RESHAPE_2D);
      break;
    }
    case NN_OP_LEAKY_RELU:
      s = xnn_define_leaky_relu(sg, op->alpha, a, o, 0);
      break;
    case NN_OP_PAD: {
      size_t pre[4] = {0, pt, pl, (size_t)op->pad_c0};
      size_t post[4] = {0, pb, pr, (size_t)op->pad_c};
      s = xnn_define_static_constant_pad(sg, pre, post, 0.0f, a, o, 0);
      break;
    }
    case NN_OP_BINARY: {
      if (op->in[1] >= 0) {
        s = define_binary(sg, op->sub, lo, hi, a, ids[op->in[1]], o);
        break;
      }
      nn_shape k = op->bshape;
      const float *data = own_copy(x, op->weights, nn_shape_size(k));
      if (!data) return FK_ENOMEM;
      /* Beside a 2D value a per-channel constant is [1, c] too. */
      size_t d4[4] = {1, (size_t)k.h, (size_t)k.w, (size_t)k.c};
      size_t d2[2] = {1, (size_t)k.c};
      int two = sg_state->is2d[op->in[0]] && k.h == 1 && k.w == 1;
      if (define_static(sg, two ? 2 : 4, two ? d2 : d4, data, &b)) return FK_EBACKEND;
      s = op->rev ? define_binary(sg, op->sub, lo, hi, b, a, o)
                  : define_binary(sg, op->sub, lo, hi, a, b, o);
      break;
    }
    case NN_OP_UNARY:
      switch (op->sub) {
        case NN_UN_ABS: s = xnn_define_abs(sg, a, o, 0); break;
        case NN_UN_SQUARE: s = xnn_define_square(sg, a, o, 0); break;
        case NN_UN_SIGMOID: s = xnn_define_sigmoid(sg, a, o, 0); break;
        case NN_UN_RSQRT:
          s = define_rsqrt(x, sg, out, sg_state->is2d[op->out], a, o);
          break;
        default: break;
      }
      break;
    case NN_OP_CLAMP:
      s = xnn_define_clamp(sg, op->lo, op->hi, a, o, 0);
      break;
    case NN_OP_PRELU: {
      size_t sd[1] = {(size_t)in.c};
      if (define_static(sg, 1, sd, op->weights, &w)) return FK_EBACKEND;
      s = xnn_define_prelu(sg, a, w, o, 0);
      break;
    }
    case NN_OP_REDUCE:
      if (op->sub == NN_RED_MEAN)
        s = xnn_define_global_average_pooling_2d(sg, -INFINITY, INFINITY, a, o, 0);
      else /* max over the whole plane: one pooling window */
        s = xnn_define_max_pooling_2d(sg, 0, 0, 0, 0, (uint32_t)in.h, (uint32_t)in.w, 1,
                                      1, 1, 1, -INFINITY, INFINITY, a, o, 0);
      break;
    case NN_OP_SOFTMAX:
      s = xnn_define_softmax(sg, a, o, 0);
      break;
    case NN_OP_RESHAPE: {
      size_t d[4] = {1, (size_t)out.h, (size_t)out.w, (size_t)out.c};
      s = xnn_define_static_reshape(sg, 4, d, a, o, 0);
      break;
    }
    case NN_OP_CONCAT:
    case NN_OP_SLICE:
    case NN_OP_TRANSPOSE:
      break;
  }
  return s == xnn_status_success ? FK_OK
         : s == xnn_status_out_of_memory ? FK_ENOMEM
                                         : FK_EBACKEND;
}

/* Builds an XNNPACK runtime of step si (ops [first, last)) on pool (NULL:
 * the calling thread) into *rt. */
static int build_segment(nn_xnn *x, int si, const int *prod, pthreadpool_t pool,
                         xnn_runtime_t *rt) {
  const nn_graph *g = x->g;
  xnn_step *st = &x->steps[si];
  int rc = FK_ENOMEM;
  seg s = {.prod = prod, .step = si};
  s.ids = malloc((size_t)g->ntensors * sizeof *s.ids);
  s.is2d = calloc((size_t)g->ntensors, 1);
  s.ev = calloc((size_t)g->ntensors, sizeof *s.ev);
  if (!s.ids || !s.is2d || !s.ev) goto done;
  for (int t = 0; t < g->ntensors; t++) s.ids[t] = XNN_INVALID_VALUE_ID;
  rc = FK_EBACKEND;
  /* Every tensor is at most one external value: ntensors ids suffice. */
  if (xnn_create_subgraph((uint32_t)g->ntensors, 0, &s.sg) != xnn_status_success)
    goto done;
  for (int i = st->first; i < st->last; i++) {
    const nn_op *op = &g->ops[i];
    int in2d = 1;
    for (int k = 0; k < 2; k++) {
      if (op->in[k] < 0) continue;
      if ((rc = define_value(x, &s, op->in[k], 0)) != FK_OK) goto done;
      in2d &= s.is2d[op->in[k]];
    }
    if (op->kind == NN_OP_BINARY && op->in[1] < 0 &&
        (op->bshape.h != 1 || op->bshape.w != 1))
      in2d = 0;
    int out2d = op->kind == NN_OP_FC || (keeps_rank(op->kind) && in2d);
    if ((rc = define_value(x, &s, op->out, out2d)) != FK_OK) goto done;
    if ((rc = define_op(x, &s, op)) != FK_OK) goto done;
  }
  rc = FK_EBACKEND;
  uint32_t flags = pool ? XNN_FLAG_YIELD_WORKERS : 0;
  if (xnn_create_runtime_v2(s.sg, pool, flags, rt) != xnn_status_success) goto done;
  rc = xnn_setup_runtime(*rt, s.next_ext, s.ev) == xnn_status_success ? FK_OK : FK_EBACKEND;
done:
  if (s.sg) xnn_delete_subgraph(s.sg);
  free(s.ids);
  free(s.is2d);
  free(s.ev);
  return rc;
}

/* Cuts the ops into steps and gives every boundary tensor a buffer. */
static int plan(nn_xnn *x, int *prod) {
  const nn_graph *g = x->g;
  char *from_fc = calloc((size_t)g->ntensors, 1);
  char *sup = calloc((size_t)g->nops + 1, 1);
  char *need = calloc((size_t)g->ntensors, 1);
  x->steps = calloc((size_t)g->nops + 1, sizeof *x->steps);
  int rc = FK_ENOMEM;
  if (!from_fc || !sup || !need || !x->steps) goto done;
  /* from_fc: may be a 2D value (an FC output, or elementwise over one). */
  for (int i = 0; i < g->nops; i++) {
    const nn_op *op = &g->ops[i];
    sup[i] = (char)supported(g, op, from_fc);
    int two = keeps_rank(op->kind) && from_fc[op->in[0]];
    if (op->in[1] >= 0) two = two || from_fc[op->in[1]];
    if (op->kind == NN_OP_FC || two) from_fc[op->out] = 1;
  }
  for (int i = 0; i < g->nops;) {
    int j = i + 1;
    if (sup[i])
      while (j < g->nops && sup[j]) j++;
    x->steps[x->nsteps++] = (xnn_step){.first = i, .last = j, .ref = !sup[i]};
    i = j;
  }
  for (int t = 0; t < g->ntensors; t++) prod[t] = -1;
  for (int s = 0; s < x->nsteps; s++)
    for (int i = x->steps[s].first; i < x->steps[s].last; i++) {
      const nn_op *op = &g->ops[i];
      int ref = !sup[i];
      prod[op->out] = s;
      if (ref) need[op->out] = 1;
      for (int k = 0; k < 2; k++)
        if (op->in[k] >= 0 && (ref || prod[op->in[k]] != s)) need[op->in[k]] = 1;
    }
  need[0] = 1;
  for (int i = 0; i < g->noutputs; i++) need[g->outputs[i]] = 1;
  for (int t = 0; t < g->ntensors; t++) {
    if (!need[t]) continue;
    size_t bytes = nn_shape_size(g->shapes[t]) * sizeof(float) + XNN_EXTRA_BYTES;
    if (!(x->buf[t] = calloc(1, bytes))) goto done;
  }
  rc = FK_OK;
done:
  free(from_fc);
  free(sup);
  free(need);
  return rc;
}

static void xnn_free(void *state) {
  nn_xnn *x = state;
  if (!x) return;
  for (int s = 0; s < x->nsteps; s++)
    for (int m = 0; m < 2; m++)
      if (x->steps[s].rt[m]) xnn_delete_runtime(x->steps[s].rt[m]);
  free(x->steps);
  if (x->buf)
    for (int t = 0; t < x->g->ntensors; t++) free(x->buf[t]);
  free(x->buf);
  for (int i = 0; i < x->nowned; i++) free(x->owned[i]);
  free(x->owned);
  free(x);
}

/* The session's pool of n threads, made on first use. */
static pthreadpool_t shared_pool(nn_threads *th) {
  if (!th || th->n < 2) return NULL;
  if (!th->shared[NN_BACKEND_XNNPACK])
    th->shared[NN_BACKEND_XNNPACK] = pthreadpool_create((size_t)th->n);
  return th->shared[NN_BACKEND_XNNPACK];
}

static void xnn_shared_free(void *shared) { pthreadpool_destroy(shared); }

static int xnn_create(const nn_graph *g, nn_threads *th, nn_precision prec, void **state) {
  if (prec != NN_PREC_F32) return FK_EUNSUPPORTED;
  if (xnn_initialize(NULL) != xnn_status_success) return FK_EBACKEND;
  pthreadpool_t pool = shared_pool(th);
  if (th && th->n > 1 && !pool) return FK_ENOMEM;
  nn_xnn *x = calloc(1, sizeof *x);
  if (!x) return FK_ENOMEM;
  x->g = g;
  int *prod = malloc((size_t)g->ntensors * sizeof *prod);
  x->buf = calloc((size_t)g->ntensors, sizeof *x->buf);
  int rc = prod && x->buf ? plan(x, prod) : FK_ENOMEM;
  for (int s = 0; rc == FK_OK && s < x->nsteps; s++) {
    if (x->steps[s].ref) continue;
    rc = build_segment(x, s, prod, NULL, &x->steps[s].rt[0]);
    if (rc == FK_OK && pool) rc = build_segment(x, s, prod, pool, &x->steps[s].rt[1]);
  }
  free(prod);
  if (rc != FK_OK) {
    xnn_free(x);
    return rc;
  }
  *state = x;
  return FK_OK;
}

static float *xnn_input(void *state) { return ((nn_xnn *)state)->buf[0]; }

static int xnn_run(void *state, int threads) {
  nn_xnn *x = state;
  const nn_graph *g = x->g;
  for (int s = 0; s < x->nsteps; s++) {
    const xnn_step *st = &x->steps[s];
    if (!st->ref) {
      xnn_runtime_t rt = threads > 1 && st->rt[1] ? st->rt[1] : st->rt[0];
      if (xnn_invoke_runtime(rt) != xnn_status_success) return FK_EBACKEND;
      continue;
    }
    const nn_op *op = &g->ops[st->first];
    const float *b = op->in[1] >= 0 ? x->buf[op->in[1]] : NULL;
    int rc = nn_ref_run_op(g, op, x->buf[op->in[0]], b, x->buf[op->out]);
    if (rc != FK_OK) return rc;
  }
  return FK_OK;
}

static int xnn_steps(const void *state) { return ((const nn_xnn *)state)->nsteps; }

static const float *xnn_output(const void *state, int i) {
  const nn_xnn *x = state;
  return x->buf[x->g->outputs[i]];
}

const nn_backend_ops nn_xnn_backend = {
    .name = "xnnpack",
    .create = xnn_create,
    .input = xnn_input,
    .run = xnn_run,
    .output = xnn_output,
    .free = xnn_free,
    .shared_free = xnn_shared_free,
    .steps = xnn_steps,
};

/* ---- max pooling lent to other backends ------------------------------------ */

/* Debian's oneDNN 2.6 pools 5 to 8 times slower than XNNPACK (bench_kernels
 * on this machine), so the oneDNN backend borrows this one op. It runs on
 * the calling thread: the borrower's own threads are OpenMP's. */
struct nn_xnn_maxpool {
  xnn_operator_t op;
  size_t batch;
  nn_shape in;
};

int nn_xnn_maxpool_new(const nn_graph *g, const nn_op *op, size_t batch, size_t channels,
                       nn_xnn_maxpool **out) {
  *out = NULL;
  if (op->kind != NN_OP_MAXPOOL || op->kh * op->kw < 2) return FK_EUNSUPPORTED; /* no 1x1 windows */
  if (xnn_initialize(NULL) != xnn_status_success) return FK_EBACKEND;
  nn_xnn_maxpool *p = calloc(1, sizeof *p);
  if (!p) return FK_ENOMEM;
  p->batch = batch;
  p->in = g->shapes[op->in[0]];
  uint32_t s = (uint32_t)op->stride;
  enum xnn_status st = xnn_create_max_pooling2d_nhwc_f32(
      (uint32_t)op->pad[0], (uint32_t)op->pad[3], (uint32_t)op->pad[1], (uint32_t)op->pad[2],
      (uint32_t)op->kh, (uint32_t)op->kw, s, s, 1, 1, channels, channels, channels, -INFINITY, INFINITY,
      0, &p->op);
  if (st != xnn_status_success) {
    free(p);
    return st == xnn_status_out_of_memory ? FK_ENOMEM : FK_EUNSUPPORTED;
  }
  *out = p;
  return FK_OK;
}

int nn_xnn_maxpool_setup(nn_xnn_maxpool *p, const float *in, float *out) {
  return xnn_setup_max_pooling2d_nhwc_f32(p->op, p->batch, (size_t)p->in.h, (size_t)p->in.w, in, out,
                                          NULL) == xnn_status_success
             ? FK_OK
             : FK_EBACKEND;
}

int nn_xnn_maxpool_run(nn_xnn_maxpool *p) {
  return xnn_run_operator(p->op, NULL) == xnn_status_success ? FK_OK : FK_EBACKEND;
}

void nn_xnn_maxpool_free(nn_xnn_maxpool *p) {
  if (!p) return;
  xnn_delete_operator(p->op);
  free(p);
}
