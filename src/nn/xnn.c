/*
 * xnn.c - runs an nn_graph on XNNPACK's subgraph API.
 *
 * Each nn_xnn owns one XNNPACK subgraph and runtime built from the graph. The
 * graph's weights are referenced, not copied (XNNPACK packs its own copy when
 * the runtime is created), so the graph must outlive this object. XNNPACK
 * may rewrite a subgraph while creating a runtime, which is why every
 * session builds its own subgraph instead of sharing one.
 *
 * Value ids: the graph input is external id 0, output i is external id 1 + i,
 * every other tensor is an internal value.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <pthreadpool.h>
#include <xnnpack.h>

#include "facekit.h"
#include "nn/xnn.h"

struct nn_xnn {
  xnn_runtime_t rt;
  int noutputs;
  float *input;
  float **outputs;
  float **zero_bias;  /* zero biases for convs built without one */
  int nzero;
};

static void act_range(nn_act act, float *lo, float *hi) {
  *lo = -INFINITY;
  *hi = INFINITY;
  if (act == NN_ACT_RELU || act == NN_ACT_RELU6) *lo = 0.0f;
  if (act == NN_ACT_RELU6) *hi = 6.0f;
}

/* Defines tensor t as a value: 4D NHWC, except FC outputs, which XNNPACK
 * wants 2D ([1, cout] with the TF reshape flag). */
static int define_value(xnn_subgraph_t sg, const nn_graph *g, int t,
                        const int *external, int fc_out, uint32_t *id) {
  nn_shape s = g->shapes[t];
  size_t dims[4] = {1, (size_t)s.h, (size_t)s.w, (size_t)s.c};
  size_t ndims = 4;
  if (fc_out) {
    dims[1] = (size_t)s.c;
    ndims = 2;
  }
  uint32_t ext = XNN_INVALID_VALUE_ID, flags = 0;
  if (t == 0) {
    ext = 0;
    flags = XNN_VALUE_FLAG_EXTERNAL_INPUT;
  } else if (external[t] > 0) {
    ext = (uint32_t)external[t];
    flags = XNN_VALUE_FLAG_EXTERNAL_OUTPUT;
  }
  return xnn_define_tensor_value(sg, xnn_datatype_fp32, ndims, dims, NULL, ext,
                                 flags, id) == xnn_status_success
             ? FK_OK
             : FK_EBACKEND;
}

static int define_static(xnn_subgraph_t sg, size_t ndims, const size_t *dims,
                         const float *data, uint32_t *id) {
  return xnn_define_tensor_value(sg, xnn_datatype_fp32, ndims, dims, data,
                                 XNN_INVALID_VALUE_ID, 0, id) == xnn_status_success
             ? FK_OK
             : FK_EBACKEND;
}

/* A zero bias of n floats, owned by x (XNNPACK's convs want one). */
static const float *zero_bias(nn_xnn *x, int n) {
  float **grown = realloc(x->zero_bias, (size_t)(x->nzero + 1) * sizeof *grown);
  if (!grown) return NULL;
  x->zero_bias = grown;
  float *z = calloc((size_t)n, sizeof(float));
  if (!z) return NULL;
  x->zero_bias[x->nzero++] = z;
  return z;
}

/* Adds one op as an XNNPACK node; ids[] maps tensor ids to value ids. */
static int define_op(nn_xnn *x, xnn_subgraph_t sg, const nn_graph *g,
                     const nn_op *op, const uint32_t *ids) {
  nn_shape in = g->shapes[op->in[0]], out = g->shapes[op->out];
  uint32_t a = ids[op->in[0]], o = ids[op->out];
  uint32_t pt = (uint32_t)op->pad[0], pb = (uint32_t)op->pad[1];
  uint32_t pl = (uint32_t)op->pad[2], pr = (uint32_t)op->pad[3];
  uint32_t kh = (uint32_t)op->kh, kw = (uint32_t)op->kw, st = (uint32_t)op->stride;
  float lo, hi;
  act_range(op->act, &lo, &hi);
  enum xnn_status s = xnn_status_invalid_parameter;
  uint32_t w, b;

  switch (op->kind) {
    case NN_OP_CONV: {
      size_t wd[4] = {(size_t)out.c, kh, kw, (size_t)in.c}, bd[1] = {(size_t)out.c};
      const float *bias = op->bias ? op->bias : zero_bias(x, out.c);
      if (!bias) return FK_ENOMEM;
      if (define_static(sg, 4, wd, op->weights, &w) || define_static(sg, 1, bd, bias, &b))
        return FK_EBACKEND;
      s = xnn_define_convolution_2d(sg, pt, pr, pb, pl, kh, kw, st, st, 1, 1, 1,
                                    (size_t)in.c, (size_t)out.c, lo, hi, a, w, b, o, 0);
      break;
    }
    case NN_OP_DEPTHWISE: {
      size_t wd[4] = {1, kh, kw, (size_t)in.c}, bd[1] = {(size_t)in.c};
      const float *bias = op->bias ? op->bias : zero_bias(x, in.c);
      if (!bias) return FK_ENOMEM;
      if (define_static(sg, 4, wd, op->weights, &w) || define_static(sg, 1, bd, bias, &b))
        return FK_EBACKEND;
      s = xnn_define_depthwise_convolution_2d(sg, pt, pr, pb, pl, kh, kw, st, st, 1, 1,
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
      size_t pre[4] = {0, pt, pl, 0};
      size_t post[4] = {0, pb, pr, (size_t)op->pad_c};
      s = xnn_define_static_constant_pad(sg, pre, post, 0.0f, a, o, 0);
      break;
    }
  }
  return s == xnn_status_success ? FK_OK : FK_EBACKEND;
}

static int build(nn_xnn *x, const nn_graph *g, struct pthreadpool *pool) {
  int rc = FK_ENOMEM;
  int *external = calloc((size_t)g->ntensors, sizeof *external);
  char *fc_out = calloc((size_t)g->ntensors, 1);
  uint32_t *ids = calloc((size_t)g->ntensors, sizeof *ids);
  xnn_subgraph_t sg = NULL;
  if (!external || !fc_out || !ids) goto done;
  for (int i = 0; i < g->noutputs; i++) external[g->outputs[i]] = 1 + i;

  rc = FK_EBACKEND;
  if (xnn_create_subgraph((uint32_t)(1 + g->noutputs), 0, &sg) != xnn_status_success)
    goto done;
  for (int i = 0; i < g->nops; i++)
    if (g->ops[i].kind == NN_OP_FC) fc_out[g->ops[i].out] = 1;
  for (int t = 0; t < g->ntensors; t++)
    if ((rc = define_value(sg, g, t, external, fc_out[t], &ids[t])) != FK_OK) goto done;
  for (int i = 0; i < g->nops; i++)
    if ((rc = define_op(x, sg, g, &g->ops[i], ids)) != FK_OK) goto done;
  rc = xnn_create_runtime_v2(sg, (pthreadpool_t)pool, 0, &x->rt) == xnn_status_success
           ? FK_OK
           : FK_EBACKEND;
done:
  if (sg) xnn_delete_subgraph(sg);
  free(external);
  free(fc_out);
  free(ids);
  return rc;
}

int nn_xnn_new(const nn_graph *g, struct pthreadpool *pool, nn_xnn **out) {
  *out = NULL;
  if (xnn_initialize(NULL) != xnn_status_success) return FK_EBACKEND;
  nn_xnn *x = calloc(1, sizeof *x);
  if (!x) return FK_ENOMEM;
  x->noutputs = g->noutputs;
  x->input = malloc(nn_shape_size(g->shapes[0]) * sizeof(float) + XNN_EXTRA_BYTES);
  x->outputs = calloc((size_t)g->noutputs, sizeof *x->outputs);
  int rc = x->input && x->outputs ? FK_OK : FK_ENOMEM;
  for (int i = 0; rc == FK_OK && i < g->noutputs; i++) {
    x->outputs[i] = malloc(nn_shape_size(g->shapes[g->outputs[i]]) * sizeof(float));
    if (!x->outputs[i]) rc = FK_ENOMEM;
  }
  if (rc == FK_OK) rc = build(x, g, pool);
  if (rc == FK_OK) {
    struct xnn_external_value *ev = calloc((size_t)g->noutputs + 1, sizeof *ev);
    if (!ev) {
      rc = FK_ENOMEM;
    } else {
      ev[0].id = 0;
      ev[0].data = x->input;
      for (int i = 0; i < g->noutputs; i++) {
        ev[1 + i].id = (uint32_t)(1 + i);
        ev[1 + i].data = x->outputs[i];
      }
      if (xnn_setup_runtime(x->rt, (size_t)g->noutputs + 1, ev) != xnn_status_success)
        rc = FK_EBACKEND;
      free(ev);
    }
  }
  if (rc != FK_OK) {
    nn_xnn_free(x);
    return rc;
  }
  *out = x;
  return FK_OK;
}

float *nn_xnn_input(nn_xnn *x) { return x->input; }

int nn_xnn_run(nn_xnn *x) {
  return xnn_invoke_runtime(x->rt) == xnn_status_success ? FK_OK : FK_EBACKEND;
}

const float *nn_xnn_output(const nn_xnn *x, int i) { return x->outputs[i]; }

void nn_xnn_free(nn_xnn *x) {
  if (!x) return;
  if (x->rt) xnn_delete_runtime(x->rt);
  if (x->outputs)
    for (int i = 0; i < x->noutputs; i++) free(x->outputs[i]);
  free(x->outputs);
  for (int i = 0; i < x->nzero; i++) free(x->zero_bias[i]);
  free(x->zero_bias);
  free(x->input);
  free(x);
}
