/*
 * nn.h - the small network graph that every model in src/models/ builds.
 *
 * A model file loads its weights (weights.h), then describes its network once
 * with the nn_* builder calls below. The resulting nn_graph is immutable and
 * owns copies of all weights in backend-ready layouts, so it can be shared
 * read-only between threads. To run it, each thread creates an nn_runtime
 * over the graph with one of the backends (backend.h):
 *   NN_BACKEND_DNNL       oneDNN primitives (dnnl.c), blocked layouts inside;
 *   NN_BACKEND_XNNPACK    XNNPACK subgraphs (xnn.c);
 *   NN_BACKEND_REFERENCE  plain-C kernels (ref.c), for cross-checking.
 * Whatever the backend, a runtime's input and outputs are NHWC.
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
 * odd extra pixel at the bottom/right; NN_VALID does not pad. Pooling ignores
 * padded cells: max over the cells inside the input, average over their
 * count (TF's SAME average; nn_avgpool itself is VALID only, nn_pool2d takes
 * either).
 *
 * Explicit padding: the *_win builders take an nn_window (kernel, stride,
 * dilation and pads top, bottom, left, right) as ONNX states them, for
 * PyTorch's symmetric pads that SAME cannot express; out = (in + pads -
 * ((k - 1) * dilation + 1)) / stride + 1, rounded down.
 *
 * The ops after NN_OP_PAD serve imported graph models (import.h: TFJS and
 * ONNX). The importers map their tensors onto [h][w][c] (import.h says
 * how), so reshapes never move data. Elementwise
 * binary ops broadcast numpy-style: each input dimension equals the output's
 * or is 1. A backend runs the kinds its library lacks with the reference
 * kernels (nn_ref_run_op), converting layouts around them.
 */
#ifndef FK_NN_H
#define FK_NN_H

#include <stddef.h>
#include <stdint.h>

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
                        channels appended after the existing ones, pad_c0
                        before them */
  NN_OP_BINARY,      /* a (sub) b, broadcast; b is tensor in[1], or, when
                        in[1] < 0, the constant `weights` of shape bshape;
                        rev: b (sub) a; fused act (ADD/SUB/MUL/DIV only) */
  NN_OP_UNARY,       /* elementwise nn_unary_kind (sub) */
  NN_OP_CLAMP,       /* min(max(x, lo), hi) */
  NN_OP_PRELU,       /* x >= 0 ? x : weights[c] * x */
  NN_OP_REDUCE,      /* nn_reduce_kind (sub) over the axes in the `axes` mask
                        (NN_AXIS_*); reduced axes become 1 */
  NN_OP_SOFTMAX,     /* softmax over c */
  NN_OP_CONCAT,      /* a ++ b along axis `axes` (0 = h, 1 = w, 2 = c) */
  NN_OP_SLICE,       /* out[i] = in[begin + i * step] per axis (h, w, c) */
  NN_OP_RESHAPE,     /* same values, new shape */
  NN_OP_TRANSPOSE,   /* out axis i is in axis perm[i] (0 = h, 1 = w, 2 = c) */
} nn_op_kind;

typedef enum {
  NN_BIN_ADD, NN_BIN_SUB, NN_BIN_MUL, NN_BIN_DIV, NN_BIN_MAX, NN_BIN_MIN
} nn_binary_kind;

typedef enum {
  NN_UN_ABS, NN_UN_SQUARE, NN_UN_RSQRT, NN_UN_SIGMOID, NN_UN_TANH, NN_UN_EXP
} nn_unary_kind;

typedef enum { NN_RED_SUM, NN_RED_MEAN, NN_RED_MAX } nn_reduce_kind;

/* Axis bits of NN_OP_REDUCE's mask. */
enum { NN_AXIS_H = 1, NN_AXIS_W = 2, NN_AXIS_C = 4 };

/* A tensor's shape; tensors are numbered by the order they are created. */
typedef struct nn_shape { int h, w, c; } nn_shape;

typedef struct nn_op {
  nn_op_kind kind;
  int in[2];          /* input tensor ids (in[1] for ADD, CONCAT and tensor
                         BINARY; -1 otherwise) */
  int out;            /* output tensor id */
  int kh, kw, stride; /* CONV, DEPTHWISE, MAXPOOL, AVGPOOL */
  int dilation;       /* CONV, DEPTHWISE: 0 or 1 = none */
  int pad[4];         /* explicit padding: top, bottom, left, right */
  int pad_c;          /* PAD: extra zero channels at the end */
  int pad_c0;         /* PAD: extra zero channels at the start */
  nn_act act;
  float alpha;        /* LEAKY_RELU */
  int sub;            /* BINARY, UNARY, REDUCE: which function */
  int rev;            /* BINARY with a constant: the constant is the left
                         operand */
  nn_shape bshape;    /* BINARY with a constant: its shape */
  float lo, hi;       /* CLAMP */
  int axes;           /* REDUCE: NN_AXIS_* mask; CONCAT: axis 0..2 */
  int begin[3], step[3]; /* SLICE, per axis h, w, c */
  int perm[3];        /* TRANSPOSE */
  float *weights;     /* owned, layout per the header comment; the BINARY
                         constant ([h][w][c] of bshape); PRELU slopes [c];
                         NULL if none */
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
/* Graph-model builders (see the op kinds above). Dilation 1 = none. */
int nn_conv2d_dilated(nn_graph *g, int x, const float *w_hwio,
                      const float *bias, int kh, int kw, int cout, int stride,
                      int dilation, nn_padding pad, nn_act act);
int nn_depthwise_dilated(nn_graph *g, int x, const float *w_hwc1,
                         const float *bias, int kh, int kw, int stride,
                         int dilation, nn_padding pad, nn_act act);
int nn_pool2d(nn_graph *g, int x, int is_max, int kh, int kw, int stride,
              nn_padding pad);
int nn_pad(nn_graph *g, int x, const int pads[6]); /* h0 h1 w0 w1 c0 c1 */
int nn_binary(nn_graph *g, int a, int b, nn_binary_kind kind, nn_act act);
/* a (kind) k, or k (kind) a if k_first; k has shape ks (copied). */
int nn_binary_const(nn_graph *g, int a, nn_binary_kind kind, const float *k,
                    nn_shape ks, int k_first, nn_act act);
int nn_unary(nn_graph *g, int x, nn_unary_kind kind);
int nn_clamp(nn_graph *g, int x, float lo, float hi);
int nn_prelu(nn_graph *g, int x, const float *slope); /* slope[c] */
int nn_reduce(nn_graph *g, int x, nn_reduce_kind kind, int axes);
int nn_softmax(nn_graph *g, int x);
int nn_concat(nn_graph *g, int a, int b, int axis);
/* out has shape `out`; begin/step per axis; every index must be inside x. */
int nn_slice(nn_graph *g, int x, const int begin[3], const int step[3],
             nn_shape out);
int nn_reshape(nn_graph *g, int x, nn_shape s);
/* perm is a permutation of {0, 1, 2}: out axis i = x's axis perm[i]. */
int nn_transpose(nn_graph *g, int x, const int perm[3]);

/* Window geometry with explicit pads (see the header comment). */
typedef struct nn_window {
  int kh, kw, stride, dilation; /* dilation 1 = none */
  int pad[4];                   /* top, bottom, left, right */
} nn_window;
int nn_conv2d_win(nn_graph *g, int x, const float *w_hwio, const float *bias,
                  int cout, const nn_window *win, nn_act act);
int nn_depthwise_win(nn_graph *g, int x, const float *w_hwc1,
                     const float *bias, const nn_window *win, nn_act act);
/* Max or average over the cells inside the input (padded cells ignored). */
int nn_pool2d_win(nn_graph *g, int x, int is_max, const nn_window *win);

/* Rewrites g into an equivalent graph with fewer ops (fuse.c): folds
 * per-channel scales and offsets and relu/relu6 clamps into the op before
 * them and recognises PReLU spelled out elementwise. Tensor 0 and the
 * outputs keep their meaning; other tensor ids change. The importers'
 * last step; FK_OK or FK_ENOMEM (g is then unusable). */
int nn_graph_fuse(nn_graph *g);

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

/* A 64-bit hash of what defines g's function: op kinds and the weights of
 * convolutions and fully connected layers (fk_model_id, index
 * fingerprints). nn_hash_mix is the mixing step, for combining hashes. */
uint64_t nn_graph_fingerprint(const nn_graph *g);
uint64_t nn_hash_mix(uint64_t h, uint64_t x);

/* ---- runtime --------------------------------------------------------------- */

typedef enum {
  NN_BACKEND_XNNPACK = 0,   /* xnn.c: XNNPACK subgraphs */
  NN_BACKEND_REFERENCE = 1, /* ref.c: the plain-C kernels, for cross-checks */
  NN_BACKEND_DNNL = 2,      /* dnnl.c: oneDNN primitives */
  NN_BACKEND_COUNT
} nn_backend;

/* The backend's name ("xnnpack", "reference", "onednn"). */
const char *nn_backend_name(nn_backend b);

/* The cores shared by every session of one model context: a run uses more
 * than one thread only while the threads inside runs (callers and helpers
 * of all the sessions drawing on the budget) stay within `cores`, so
 * concurrent sessions never oversubscribe the machine. Thread-safe. */
typedef struct nn_budget nn_budget;
/* cores <= 0: the number of CPUs this process may run on. */
int nn_budget_new(int cores, nn_budget **out);
void nn_budget_free(nn_budget *b);

/* The threads of one session: every runtime made with it runs on at most n
 * threads (the caller plus n - 1 helpers), drawing on budget (may be NULL).
 * Used by one thread at a time, like the session. */
typedef struct nn_threads nn_threads;
int nn_threads_new(int n, nn_budget *budget, nn_threads **out);
int nn_threads_count(const nn_threads *th);
void nn_threads_free(nn_threads *th);

typedef struct nn_runtime nn_runtime;

/* The number type a runtime computes in. F32 everywhere; BF16 (oneDNN on
 * CPUs with native bf16 dot products: AVX512-BF16 or AMX): weights
 * converted once at creation, convolutions, pooling, activations and sums
 * in bf16 between the layers, accumulation in f32, the graph's input and
 * outputs and what runs on reference kernels in f32. */
typedef enum { NN_PREC_F32 = 0, NN_PREC_BF16, NN_PREC_COUNT } nn_precision;
const char *nn_precision_name(nn_precision p);
/* 1 if the backend runs p on this CPU natively (never emulated). */
int nn_precision_native(nn_backend backend, nn_precision p);

/* Creates a runtime for g (which must outlive it), with everything a run
 * needs prepared. th NULL means one thread; th must outlive the runtime.
 * Returns FK_OK or an FK_E* status (FK_EUNSUPPORTED: the backend does not
 * run that precision on this CPU). nn_runtime_new is the f32 one. */
int nn_runtime_new(const nn_graph *g, nn_backend backend, nn_threads *th,
                   nn_runtime **out);
int nn_runtime_new_prec(const nn_graph *g, nn_backend backend, nn_threads *th, nn_precision prec,
                        nn_runtime **out);
/* The input buffer, shape of tensor 0, NHWC, with XNN_EXTRA_BYTES slack. */
float *nn_runtime_input(nn_runtime *rt);
int nn_runtime_run(nn_runtime *rt);
/* Output i, in nn_mark_output order, NHWC, valid until the next run. */
const float *nn_runtime_output(const nn_runtime *rt, int i);
void nn_runtime_free(nn_runtime *rt);

/* How a runtime of n > 1 threads picks each run's thread count.
 * ADAPTIVE (the default) times its runs and uses n threads only while that
 * is faster than one and the budget has room: under a competing load a
 * fork-join run waits for whichever helper the scheduler parked, and can
 * take many times longer than a serial one. SERIAL and PARALLEL fix the
 * count (PARALLEL still respects the budget); for tests and benches. */
typedef enum { NN_SCHED_ADAPTIVE = 0, NN_SCHED_SERIAL, NN_SCHED_PARALLEL } nn_sched;
void nn_runtime_set_sched(nn_runtime *rt, nn_sched s);
/* Whether runs flush denormals (FTZ and DAZ: the default; see
 * base/fpenv.h) or compute them exactly (keep != 0), on the calling thread
 * and the backend's workers alike; the caller's own mode is restored after
 * every run either way. Keeping them is for benches that measure what
 * flushing saves. XNNPACK's runs flush whatever is set here: it asks
 * pthreadpool to, in every operator it runs. */
void nn_runtime_set_denormals(nn_runtime *rt, int keep);
/* Threads the last run used (1 before the first). */
int nn_runtime_last_threads(const nn_runtime *rt);
/* Steps one run executes, or -1 if the backend does not say: an op (ops
 * fused into one count once, and so does a whole XNNPACK segment) or a
 * layout conversion. */
int nn_runtime_steps(const nn_runtime *rt);

/* C = A B^T for row-major A (m x k), B (n x k) and C (m x n), by oneDNN's
 * sgemm on `threads` threads, denormals flushed (the caller's mode
 * restored): the all-pairs dot products of the face clustering's graph.
 * FK_OK, or FK_EUNSUPPORTED when oneDNN fails. */
int nn_sgemm_abt(int64_t m, int64_t n, int k, const float *a, const float *b, float *c, int threads);

/* One NN_BIN_* elementwise operation (shared with tfgraph.c's folding). */
float nn_binary_apply(int kind, float a, float b);
/* The reference kernel of one op over NHWC buffers: the other backends'
 * fallback for what their library lacks. b is in[1]'s buffer or NULL. */
int nn_ref_run_op(const nn_graph *g, const nn_op *op, const float *a,
                  const float *b, float *out);

#endif /* FK_NN_H */
