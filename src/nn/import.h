/*
 * import.h - the graph-import layer that the model-format readers share:
 * tfgraph.c (TFJS graph models) and onnx.c (ONNX) parse their files into
 * imp_node lists and evaluate them through this layer into an nn_graph
 * (nn.h). What a format adds is its parser, its attributes and its op table;
 * what every format needs lives here (import.c):
 *   - the value model: each node's value is a constant (known at load time)
 *     or an nn_graph tensor, with a logical shape (rank <= 4) and a storage
 *     layout (below);
 *   - the dependency-ordered walk from the outputs (an explicit-stack DFS:
 *     a cycle or a deep chain is an error, not a stack overflow);
 *   - constant folding, numpy broadcasting, and the ops whose semantics
 *     coincide across formats, each mapped onto nn_* builder calls with the
 *     layout in mind;
 *   - errors naming the node and its op: "model node NAME (OP): ...".
 *
 * Storage layouts. The graph is NHWC with batch 1, every tensor [h][w][c].
 *   IMP_ROWMAJOR  the tensor's values in row-major order of its logical
 *                 dims, right-aligned into [h][w][c] (a [1, n] value is
 *                 1 x 1 x n; leading dims beyond three must be 1). Every TF
 *                 tensor is stored so (TF is NHWC already).
 *   IMP_CHW       the logical values, in row-major order, are the graph
 *                 tensor [H][W][C] read in C, H, W order. An ONNX [1, C, H,
 *                 W] tensor is stored so, converted once at load time, and
 *                 stays so through reshapes (Flatten of [1, C, H, W] keeps
 *                 the tensor and only relabels it). It is "consistent" when
 *                 its logical shape is [1, C, H, W] of that very graph shape;
 *                 only then do its axes map onto graph axes.
 * Ops that need axes (concat, slice, softmax, ...) first bring their inputs
 * to a mapping layout (imp_rowmajor, imp_to_chw, inserting a transpose only
 * when the data really moves); elementwise ops keep the layout; an FC over a
 * flattened CHW value permutes its weights instead of the data.
 *
 * Everything a reader passes in comes from an untrusted file: dims, axes
 * and counts are checked here before any allocation that depends on them.
 */
#ifndef FK_NN_IMPORT_H
#define FK_NN_IMPORT_H

#include <stddef.h>

#include "base/hash.h"
#include "nn/files.h"
#include "nn/nn.h"

#define IMP_MAX_RANK 4
/* Largest dimension of any value, and largest constant, in elements. */
#define IMP_MAX_DIM (1 << 24)
#define IMP_MAX_ELEMS ((size_t)1 << 28)
/* Constants folded at load time hold at most IMP_MAX_FOLDED values each and
 * IMP_MAX_FOLDED_TOTAL in one load. Broadcasting multiplies sizes, so four
 * 64-value constants of shapes [64,1,1,1] .. [1,1,1,64] fold into 2^24
 * values, and a chain of such nodes into any amount; real models fold bias
 * vectors, batch-norm scales and shape arithmetic, far below either. */
#define IMP_MAX_FOLDED ((size_t)1 << 24)
#define IMP_MAX_FOLDED_TOTAL ((size_t)1 << 26)

typedef enum { IMP_ROWMAJOR = 0, IMP_CHW = 1 } imp_layout;

/* A node's value: a constant (t < 0, values in k) or graph tensor t. */
typedef struct imp_val {
  int rank, dims[IMP_MAX_RANK]; /* logical shape, outermost first */
  int t;                        /* graph tensor, or -1 for a constant */
  const float *k;               /* a constant's values, row-major */
  imp_layout lay;               /* a tensor's storage (see above) */
} imp_val;

typedef struct imp_node {
  const char *name;  /* the name inputs refer to; unique */
  const char *label; /* the node's name in messages */
  const char *op;
  int *in;           /* inputs (node indices; -1 = an omitted optional one) */
  int nin;
  int state;         /* 0 new, 1 on the walk's stack, 2 evaluated */
  imp_val v;
  const void *src;   /* the reader's own node */
  int out_index;     /* which output of src this node stands for */
} imp_node;

typedef struct imp_ctx imp_ctx;
/* The reader's evaluation of one node whose inputs are evaluated. */
typedef int (*imp_eval_fn)(imp_ctx *c, imp_node *n);

struct imp_ctx {
  imp_node *nodes;
  int n, cap;
  fk_map names;      /* node index by name */
  nn_graph *g;       /* created by imp_set_input */
  float **owned;     /* constants made while loading */
  int nowned;
  size_t folded;     /* values of the folded ones, against the caps above */
  imp_eval_fn eval;
  void *user;        /* the reader's state */
  char *err;
  size_t errlen;
};

/* ---- errors ------------------------------------------------------------- */

/* Formats err and returns status. */
int imp_seterr(imp_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* FK_EMODEL: "model node LABEL (OP): ...". */
int imp_bad(imp_ctx *c, const imp_node *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The message for a failed builder call or FK_ENOMEM. */
int imp_graph_err(imp_ctx *c, const imp_node *n);
/* Reads the model file `name` through fs (path names it in messages):
 * FK_OK with *data (NUL-terminated) and *len, or FK_ENOENT, FK_EIO,
 * FK_ENOMEM with the message set. */
int imp_read_model(imp_ctx *c, const nn_files *fs, const char *name, const char *path,
                   char **data, size_t *len);

/* ---- nodes and the walk ------------------------------------------------- */

/* Room for cap nodes (the name index is sized once, here). */
int imp_init(imp_ctx *c, int cap);
/* Appends a node; its index, or a negative FK_ status (duplicate name,
 * full). label may be NULL (then the name). */
int imp_add(imp_ctx *c, const char *name, const char *label, const char *op,
            const void *src, int out_index);
/* The node called s[0..len), or -1. */
int imp_find(const imp_ctx *c, const char *s, size_t len);
/* Evaluates node root and everything it depends on, inputs first, calling
 * c->eval once per node. */
int imp_eval(imp_ctx *c, int root);
/* Frees everything but c->g. */
void imp_free(imp_ctx *c);

/* ---- values ------------------------------------------------------------- */

/* The number of values, SIZE_MAX if that overflows (a reader may pass any
 * dims; a product that wrapped around could match another count). */
size_t imp_count(const imp_val *v);
const imp_val *imp_input(const imp_ctx *c, const imp_node *n, int i);
/* Whether input i is present (not omitted). */
int imp_has_input(const imp_node *n, int i);
int imp_need_inputs(imp_ctx *c, const imp_node *n, int lo, int hi);
/* Room for count floats owned by c; NULL (with err set) when out of memory. */
float *imp_new_const(imp_ctx *c, size_t count);
/* The same for the result of folding node n, within the folding caps
 * (IMP_MAX_FOLDED*): FK_OK with *out, FK_EMODEL naming n, or FK_ENOMEM. */
int imp_new_folded(imp_ctx *c, const imp_node *n, size_t count, float **out);
/* n's value becomes the constant (rank, dims, k); dims are checked. */
int imp_set_const(imp_ctx *c, imp_node *n, int rank, const int *dims,
                  const float *k);
/* Reads constant input i as up to max integers (|v| <= 2^30, else an
 * error; with clamp, larger values are clamped to +-2^30); count or a
 * negative status. */
int imp_const_ints(imp_ctx *c, const imp_node *n, int i, int *out, int max,
                   int clamp);
/* Creates the graph with its input: the logical shape (batch 1 if rank 4)
 * stored in layout lay. */
int imp_set_input(imp_ctx *c, imp_node *n, int rank, const int *dims,
                  imp_layout lay);
/* n's value becomes tensor t with the logical shape (rank, dims), stored
 * in layout lay (ROWMAJOR inserts a reshape when the graph shape differs;
 * CHW takes t as it is). */
int imp_set_tensor(imp_ctx *c, imp_node *n, int t, int rank, const int *dims,
                   imp_layout lay);
/* Graph axis (0..2) of logical axis a (>= 0) of v; -1 for an axis that is
 * not stored (size 1, before the three stored ones); -2 if v's layout maps
 * no axes (an inconsistent CHW value: bring it to row-major first). */
int imp_axis(const imp_ctx *c, const imp_val *v, int a);
/* Normalizes axis a (negative counts from the back) of a rank-r value. */
int imp_norm_axis(imp_ctx *c, const imp_node *n, int a, int rank, int *out);
/* x in row-major storage, moving data only when the order differs. */
int imp_rowmajor(imp_ctx *c, const imp_node *n, const imp_val *x,
                 imp_val *out);
/* x (rank 4, batch 1) as a consistent CHW value. */
int imp_to_chw(imp_ctx *c, const imp_node *n, const imp_val *x, imp_val *out);

/* ---- ops shared by the formats -------------------------------------------
 * Each sets n's value from its inputs (constants folded where it makes
 * sense) or returns an error naming n. */

/* a (kind) b for inputs 0 and 1, broadcast numpy-style, folded when both
 * are constant; max/min by a uniform constant become clamps. */
int imp_binary(imp_ctx *c, imp_node *n, nn_binary_kind kind);

typedef enum {
  IMP_UN_ABS, IMP_UN_SQUARE, IMP_UN_RSQRT, IMP_UN_SIGMOID, IMP_UN_TANH,
  IMP_UN_EXP, IMP_UN_RELU, IMP_UN_RELU6, IMP_UN_IDENTITY
} imp_unary_kind;
/* kind over input 0, folded when it is constant. */
int imp_unary(imp_ctx *c, imp_node *n, imp_unary_kind kind);
/* clamp(input 0, lo, hi), folded when constant. */
int imp_clamp(imp_ctx *c, imp_node *n, float lo, float hi);
/* x relabelled (rank, dims) with the same values (count checked). */
int imp_reshape(imp_ctx *c, imp_node *n, const imp_val *x, int rank,
                const int *dims);
/* Inputs [first, first + count) joined along logical axis `axis` (>= 0);
 * all constant: folded; else all must be tensors. */
int imp_concat(imp_ctx *c, imp_node *n, int first, int count, int axis);
/* Per logical axis a of x: out[i] = x[begin[a] + i * step[a]] for
 * i < size[a] (checked to be inside x); the result then takes the logical
 * shape (rank, dims) of the same values (dropping sliced-to-1 axes). */
int imp_slice(imp_ctx *c, imp_node *n, const imp_val *x, const int *begin,
              const int *step, const int *size, int rank, const int *dims);
/* Zero padding: pads[2a], pads[2a + 1] before and after logical axis a. */
int imp_pad(imp_ctx *c, imp_node *n, const imp_val *x, const int *pads);
/* kind over the logical axes in mask (bit a = axis a); keep keeps them as
 * size 1, else they are dropped. */
int imp_reduce(imp_ctx *c, imp_node *n, const imp_val *x, nn_reduce_kind kind,
               int mask, int keep);
/* Softmax over logical axes [axis, rank) taken as one (ONNX before opset
 * 13; TF's last-axis softmax is axis = rank - 1). */
int imp_softmax(imp_ctx *c, imp_node *n, const imp_val *x, int axis);
/* Logical permutation: out axis i = x's axis perm[i]. */
int imp_transpose(imp_ctx *c, imp_node *n, const imp_val *x, const int *perm);
/* x [1, k] times w ([k][cout], row-major) plus bias[cout] (may be NULL):
 * n's value [1, cout]. A flattened CHW x gets w's rows permuted. */
int imp_fc(imp_ctx *c, imp_node *n, const imp_val *x, const float *w,
           const float *bias, int cout, nn_act act);
/* A per-channel affine x * scale[ch] + shift[ch] over axis 1 of a [1, C,
 * H, W] (CHW) or a [1, C] value; either pointer may be NULL. */
int imp_channel_affine(imp_ctx *c, imp_node *n, const imp_val *x,
                       const float *scale, const float *shift);

#endif /* FK_NN_IMPORT_H */
