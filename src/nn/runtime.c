/*
 * runtime.c - nn_runtime: one thread's way of running an nn_graph.
 *
 * The reference backend keeps one buffer per tensor and calls the plain-C
 * kernel of each op in order (ref.c). The XNNPACK backend hands the graph to
 * xnn.c, which builds XNNPACK subgraphs and runtimes for the runs of ops
 * XNNPACK supports and calls the reference kernels for the rest. Either way the caller
 * sees the same three things: an input buffer, run, and output pointers.
 */
#include <stdlib.h>
#include <string.h>

#include <xnnpack.h>

#include "facekit.h"
#include "nn/nn.h"
#include "nn/xnn.h"

struct nn_runtime {
  const nn_graph *g;
  nn_backend backend;
  float **buf;        /* reference: one buffer per tensor */
  nn_xnn *xnn;        /* XNNPACK */
};

static int ref_alloc(nn_runtime *rt) {
  const nn_graph *g = rt->g;
  rt->buf = calloc((size_t)g->ntensors, sizeof *rt->buf);
  if (!rt->buf) return FK_ENOMEM;
  for (int t = 0; t < g->ntensors; t++) {
    size_t bytes = nn_shape_size(g->shapes[t]) * sizeof(float) + XNN_EXTRA_BYTES;
    rt->buf[t] = malloc(bytes);
    if (!rt->buf[t]) return FK_ENOMEM;
    memset(rt->buf[t], 0, bytes);
  }
  return FK_OK;
}

int nn_runtime_new(const nn_graph *g, nn_backend backend,
                   struct pthreadpool *pool, nn_runtime **out) {
  *out = NULL;
  if (!g || nn_graph_status(g) != FK_OK || g->noutputs == 0) return FK_EINVAL;
  nn_runtime *rt = calloc(1, sizeof *rt);
  if (!rt) return FK_ENOMEM;
  rt->g = g;
  rt->backend = backend;
  int rc = backend == NN_BACKEND_REFERENCE ? ref_alloc(rt)
                                           : nn_xnn_new(g, pool, &rt->xnn);
  if (rc != FK_OK) {
    nn_runtime_free(rt);
    return rc;
  }
  *out = rt;
  return FK_OK;
}

float *nn_runtime_input(nn_runtime *rt) {
  return rt->backend == NN_BACKEND_REFERENCE ? rt->buf[0] : nn_xnn_input(rt->xnn);
}

int nn_runtime_run(nn_runtime *rt) {
  if (rt->backend != NN_BACKEND_REFERENCE) return nn_xnn_run(rt->xnn);
  const nn_graph *g = rt->g;
  for (int i = 0; i < g->nops; i++) {
    const nn_op *op = &g->ops[i];
    const float *b = op->in[1] >= 0 ? rt->buf[op->in[1]] : NULL;
    int rc = nn_ref_run_op(g, op, rt->buf[op->in[0]], b, rt->buf[op->out]);
    if (rc != FK_OK) return rc;
  }
  return FK_OK;
}

const float *nn_runtime_output(const nn_runtime *rt, int i) {
  if (i < 0 || i >= rt->g->noutputs) return NULL;
  if (rt->backend != NN_BACKEND_REFERENCE) return nn_xnn_output(rt->xnn, i);
  return rt->buf[rt->g->outputs[i]];
}

void nn_runtime_free(nn_runtime *rt) {
  if (!rt) return;
  if (rt->buf) {
    for (int t = 0; t < rt->g->ntensors; t++) free(rt->buf[t]);
    free(rt->buf);
  }
  nn_xnn_free(rt->xnn);
  free(rt);
}
