/*
 * nn.h - the small network graph that every model in src/models/ builds.
 *
 * A model file loads its weights (weights.h), then describes its network once
 * with the nn_* builder calls below. The resulting nn_graph is immutable and
 * owns copies of all weights in backend-ready layouts, so it can be shared
 * read-only between threads. To run it, each thread creates an nn_runtime
 * over the graph with one of two backends:
 *   NN_BACKEND_XNNPACK    XNNPACK subgraph (nn_xnn.c), the fast path;
 *   NN_BACKEND_REFERENCE  plain-C kernels (nn_ref.c), for cross-checking.
 *
 * Layouts (part of the contract):
 *   activations  NHWC with N = 1; a tensor is [h][w][c] floats.
 *   conv weights stored OHWI: [cout][kh][kw][cin]. The builder takes TF's
 *                HWIO ([kh][kw][cin][cout]) as found in TFJS manifests and
 *                converts once.
 *   depthwise    stored [kh][kw][c] (XNNPACK's [1][KH][KW][C]); the builder
 *                takes TF's [kh][kw][c][1].
 *   fc weights   stored [cout][cin]; the builder takes TF's [cin][cout]. The
 *                input is flattened in [h][w][c] order.
 *
 * Padding follows TF: NN_SAME pads so that out = ceil(in / stride), with the
 * odd extra pixel at the bottom/right; NN_VALID does not pad. Max pooling
 * ignores padded cells. Average pooling supports NN_VALID only (TF's SAME
 * average excludes padded cells from the count, which no face-api net uses).
 */
#ifndef FK_NN_H
#define FK_NN_H

#include <stddef.h>

typedef enum { NN_VALID = 0, NN_SAME = 1 } nn_padding;

/* Activation fused into conv/depthwise/fc/add. */
typedef enum {
  NN_ACT_NONE = 0,
  NN_ACT_RELU,   /* max(x, 0) */
  NN_ACT_RELU6,  /* min(max(x, 0), 6) */
} nn_act;

typedef enum {
  NN_OP_CONV,        /* conv2d, optional bias, fused act */
  NN_OP_DEPTHWISE,   /* depthwise conv2d (multiplier 1), optional bias */
  NN_OP_ADD,         /* elementwise a + b (same shape), fused act */
  NN_OP_MAXPOOL,
  NN_OP_AVGPOOL,     /* VALID only */
  NN_OP_GLOBAL_AVG,  /* mean over h, w -> [1][1][c] */
  NN_OP_FC,          /* flatten, then x * W^T + b, fused act */
  NN_OP_LEAKY_RELU,  /* x >= 0 ? x : alpha * x */
  NN_OP_PAD,         /* zero pad: pad[0..3] = top,bottom,left,right; pad_c
                        channels appended after the existing ones */
} nn_op_kind;

/* A tensor's shape; tensors are numbered by the order they are created. */
typedef struct nn_shape { int h, w, c; } nn_shape;

typedef struct nn_op {
  nn_op_kind kind;
  int in[2];          /* input tensor ids (in[1] only for ADD) */
  int out;            /* output tensor id */
  int kh, kw, stride; /* CONV, DEPTHWISE, MAXPOOL, AVGPOOL */
  int pad[4];         /* explicit padding: top, bottom, left, right */
  int pad_c;          /* PAD: extra zero channels at the end */
  nn_act act;
  float alpha;        /* LEAKY_RELU */
  float *weights;     /* owned, layout per the header comment; NULL if none */
  float *bias;        /* owned, [cout]; NULL if none */
} nn_op;

typedef struct nn_graph {
  nn_shape *shapes;   /* shapes[t] for tensor id t; tensor 0 is the input */
  int ntensors, cap_tensors;
  nn_op *ops;
  int nops, cap_ops;
  int *outputs;       /* tensor ids marked as outputs, in order */
  int noutputs;
  int failed;         /* sticky: set when a builder call failed */
  char err[160];      /* what failed */
} nn_graph;

/* Builder. Every call returns the new tensor id, or -1 once the graph has
 * failed (a bad shape or out of memory); the failure is sticky, so a model can
 * build its whole network and check nn_graph_status() once at the end. */
nn_graph *nn_graph_new(int h, int w, int c); /* tensor 0 = the input */
int nn_conv2d(nn_graph *g, int x, const float *w_hwio, const float *bias,
              int kh, int kw, int cout, int stride, nn_padding pad, nn_act act);
int nn_depthwise(nn_graph *g, int x, const float *w_hwc1, const float *bias,
                 int kh, int kw, int stride, nn_padding pad, nn_act act);
int nn_add(nn_graph *g, int a, int b, nn_act act);
int nn_maxpool(nn_graph *g, int x, int k, int stride, nn_padding pad);
int nn_avgpool(nn_graph *g, int x, int k, int stride);
int nn_global_avgpool(nn_graph *g, int x);
int nn_fc(nn_graph *g, int x, const float *w_io, const float *bias, int cout,
          nn_act act);
int nn_leaky_relu(nn_graph *g, int x, float alpha);
int nn_zero_pad(nn_graph *g, int x, int top, int bottom, int left, int right,
                int extra_c);
/* Marks t as the next output. */
void nn_mark_output(nn_graph *g, int t);
/* FK_OK, or the status of the first failed builder call (err says why). */
int nn_graph_status(const nn_graph *g);
void nn_graph_free(nn_graph *g);

static inline size_t nn_shape_size(nn_shape s) {
  return (size_t)s.h * (size_t)s.w * (size_t)s.c;
}

/* Multiply-accumulates of one forward pass (for FLOP/s figures). */
double nn_graph_macs(const nn_graph *g);

/* ---- runtime --------------------------------------------------------------- */

typedef enum { NN_BACKEND_XNNPACK = 0, NN_BACKEND_REFERENCE = 1 } nn_backend;

typedef struct nn_runtime nn_runtime;
struct pthreadpool;

/* Creates a runtime for g (which must outlive it). pool may be NULL (run on
 * the calling thread). Returns FK_OK or an FK_E* status. */
int nn_runtime_new(const nn_graph *g, nn_backend backend,
                   struct pthreadpool *pool, nn_runtime **out);
/* The input buffer, shape of tensor 0, with slack for XNNPACK's over-reads. */
float *nn_runtime_input(nn_runtime *rt);
int nn_runtime_run(nn_runtime *rt);
/* Output i, in nn_mark_output order, valid until the next run. */
const float *nn_runtime_output(const nn_runtime *rt, int i);
void nn_runtime_free(nn_runtime *rt);

/* Reference backend internals, shared with the XNNPACK backend's tests. */
int nn_ref_run_op(const nn_graph *g, const nn_op *op, const float *a,
                  const float *b, float *out);

#endif /* FK_NN_H */
