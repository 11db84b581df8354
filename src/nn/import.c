/*
 * import.c - the graph-import layer (import.h) shared by the TFJS and ONNX
 * readers: node index and dependency walk, values and their storage
 * layouts, constant folding, broadcasting, and the ops whose meaning is
 * the same in every format, as nn_* builder calls.
 */
#include "base/error.h"
#include "nn/import.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"

/* ---- errors ----------------------------------------------------------------- */

int imp_seterr(imp_ctx *c, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fk_vfail(c->err, c->errlen, status, fmt, ap);
  va_end(ap);
  return status;
}

int imp_bad(imp_ctx *c, const imp_node *n, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return imp_seterr(c, FK_EMODEL, "model node %s (%s): %s", n->label, n->op, msg);
}

int imp_graph_err(imp_ctx *c, const imp_node *n) {
  int st = c->g ? nn_graph_status(c->g) : FK_ENOMEM;
  if (st == FK_ENOMEM) return imp_seterr(c, FK_ENOMEM, "out of memory");
  return imp_bad(c, n, "%s", c->g->err);
}

int imp_read_model(imp_ctx *c, const nn_files *fs, const char *name, const char *path,
                   char **data, size_t *len) {
  int rc = fs->read(fs, name, data, len);
  if (rc == FK_ENOENT) return imp_seterr(c, rc, "cannot open %s", path);
  if (rc == FK_EIO) return imp_seterr(c, rc, "cannot read %s", path);
  if (rc != FK_OK) return imp_seterr(c, rc, "%s: out of memory or too large", path);
  return FK_OK;
}

static int oom(imp_ctx *c) { return imp_seterr(c, FK_ENOMEM, "out of memory"); }

/* ---- nodes ------------------------------------------------------------------ */

int imp_init(imp_ctx *c, int cap) {
  if (cap <= 0 || cap > (1 << 24)) return imp_seterr(c, FK_EMODEL, "model: %d nodes", cap);
  c->nodes = calloc((size_t)cap, sizeof *c->nodes);
  if (!c->nodes) return oom(c);
  c->cap = cap;
  return FK_OK;
}

int imp_find(const imp_ctx *c, const char *s, size_t len) {
  return (int)fk_map_get(&c->names, s, len);
}

int imp_add(imp_ctx *c, const char *name, const char *label, const char *op,
            const void *src, int out_index) {
  if (c->n >= c->cap) return imp_seterr(c, FK_EMODEL, "model: more values than expected");
  if (!name || !name[0]) return imp_seterr(c, FK_EMODEL, "model: a value has no name");
  size_t len = strlen(name);
  if (imp_find(c, name, len) >= 0)
    return imp_seterr(c, FK_EMODEL, "model: two values are called %s", name);
  imp_node *t = &c->nodes[c->n];
  t->name = name;
  t->label = label && label[0] ? label : name;
  t->op = op;
  t->src = src;
  t->out_index = out_index;
  t->v.t = -1;
  if (fk_map_put(&c->names, name, len, c->n)) return oom(c);
  return c->n++;
}

int imp_eval(imp_ctx *c, int root) {
  if (c->nodes[root].state == 2) return FK_OK;
  int *stack = malloc((size_t)c->n * sizeof *stack);
  int *pos = malloc((size_t)c->n * sizeof *pos);
  int rc = stack && pos ? FK_OK : oom(c);
  int sp = 0;
  if (rc == FK_OK) {
    stack[sp] = root;
    pos[sp++] = 0;
    c->nodes[root].state = 1;
  }
  while (rc == FK_OK && sp > 0) {
    imp_node *n = &c->nodes[stack[sp - 1]];
    if (pos[sp - 1] < n->nin) {
      int k = n->in[pos[sp - 1]++];
      if (k < 0) continue;
      imp_node *m = &c->nodes[k];
      if (m->state == 1) {
        rc = imp_seterr(c, FK_EMODEL, "model node %s: the graph has a cycle through %s",
                        n->label, m->label);
      } else if (m->state == 0) {
        m->state = 1;
        stack[sp] = k;
        pos[sp++] = 0;
      }
      continue;
    }
    rc = c->eval(c, n);
    if (rc == FK_OK && c->g && nn_graph_status(c->g) != FK_OK) rc = imp_graph_err(c, n);
    n->state = 2;
    sp--;
  }
  free(stack);
  free(pos);
  return rc;
}

void imp_free(imp_ctx *c) {
  for (int i = 0; i < c->n; i++) free(c->nodes[i].in);
  free(c->nodes);
  fk_map_free(&c->names);
  for (int i = 0; i < c->nowned; i++) free(c->owned[i]);
  free(c->owned);
  c->nodes = NULL;
  c->owned = NULL;
  c->n = c->cap = c->nowned = 0;
}

/* ---- values ----------------------------------------------------------------- */

size_t imp_count(const imp_val *v) {
  size_t n = 1;
  for (int i = 0; i < v->rank; i++) {
    size_t d = v->dims[i] > 0 ? (size_t)v->dims[i] : 0;
    if (d && n > SIZE_MAX / d) return SIZE_MAX;
    n *= d;
  }
  return n;
}

/* Whether (rank, dims) is a valid value shape: rank <= 4, every dim in
 * 1..IMP_MAX_DIM (0 too if empty_ok), at most IMP_MAX_ELEMS values. */
static int shape_ok(int rank, const int *dims, int empty_ok) {
  if (rank < 0 || rank > IMP_MAX_RANK) return 0;
  size_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dims[i] < (empty_ok ? 0 : 1) || dims[i] > IMP_MAX_DIM) return 0;
    n *= (size_t)dims[i]; /* <= 2^24 * 2^28: no overflow */
    if (n > IMP_MAX_ELEMS) return 0;
  }
  return 1;
}

const imp_val *imp_input(const imp_ctx *c, const imp_node *n, int i) {
  return &c->nodes[n->in[i]].v;
}

int imp_has_input(const imp_node *n, int i) { return i < n->nin && n->in[i] >= 0; }

int imp_need_inputs(imp_ctx *c, const imp_node *n, int lo, int hi) {
  if (n->nin < lo || n->nin > hi)
    return imp_bad(c, n, "%d inputs (expected %d..%d)", n->nin, lo, hi);
  for (int i = 0; i < lo; i++)
    if (n->in[i] < 0) return imp_bad(c, n, "input %d is missing", i);
  return FK_OK;
}

float *imp_new_const(imp_ctx *c, size_t count) {
  float **grown = realloc(c->owned, (size_t)(c->nowned + 1) * sizeof *grown);
  if (!grown) {
    oom(c);
    return NULL;
  }
  c->owned = grown;
  float *p = malloc(count ? count * sizeof(float) : 1);
  if (!p) {
    oom(c);
    return NULL;
  }
  c->owned[c->nowned++] = p;
  return p;
}

int imp_new_folded(imp_ctx *c, const imp_node *n, size_t count, float **out) {
  *out = NULL;
  if (count > IMP_MAX_FOLDED)
    return imp_bad(c, n, "the folded constant is too large (%zu values, at most %zu)", count,
                   IMP_MAX_FOLDED);
  if (count > IMP_MAX_FOLDED_TOTAL - c->folded)
    return imp_bad(c, n, "the folded constants are too large (over %zu values in all)",
                   IMP_MAX_FOLDED_TOTAL);
  if (!(*out = imp_new_const(c, count))) return FK_ENOMEM;
  c->folded += count;
  return FK_OK;
}

int imp_set_const(imp_ctx *c, imp_node *n, int rank, const int *dims, const float *k) {
  if (!shape_ok(rank, dims, 1)) return imp_bad(c, n, "constant of unsupported shape");
  imp_val v = {.rank = rank, .t = -1, .k = k};
  memcpy(v.dims, dims, (size_t)rank * sizeof *dims);
  n->v = v;
  return FK_OK;
}

int imp_const_ints(imp_ctx *c, const imp_node *n, int i, int *out, int max, int clamp) {
  if (!imp_has_input(n, i)) return imp_bad(c, n, "input %d is missing", i);
  const imp_val *v = imp_input(c, n, i);
  if (v->t >= 0) return imp_bad(c, n, "input %d must be a constant", i);
  size_t cnt = imp_count(v);
  if (cnt > (size_t)max) return imp_bad(c, n, "input %d has %zu values (at most %d)", i, cnt, max);
  const float lim = (float)(1 << 30);
  for (size_t k = 0; k < cnt; k++) {
    float f = v->k[k];
    if (!(f == floorf(f))) return imp_bad(c, n, "input %d holds a non-integer %g", i, (double)f);
    if (fabsf(f) > lim) {
      if (!clamp) return imp_bad(c, n, "input %d holds %g, out of range", i, (double)f);
      f = f > 0 ? lim : -lim;
    }
    out[k] = (int)f;
  }
  return (int)cnt;
}

/* The graph shape of a row-major logical shape: right-aligned, 1s before. */
static nn_shape ir_shape(int rank, const int *dims) {
  int d[3] = {1, 1, 1};
  for (int i = 0; i < rank && i < 3; i++) d[2 - i] = dims[rank - 1 - i];
  return (nn_shape){d[0], d[1], d[2]};
}

static int same_shape(nn_shape a, nn_shape b) { return a.h == b.h && a.w == b.w && a.c == b.c; }

/* The graph shape of a consistent CHW value of logical shape dims. */
static nn_shape chw_shape(const int *dims) { return (nn_shape){dims[2], dims[3], dims[1]}; }

static int chw_consistent(const imp_ctx *c, const imp_val *v) {
  return v->t >= 0 && v->lay == IMP_CHW && v->rank == 4 && v->dims[0] == 1 &&
         same_shape(c->g->shapes[v->t], chw_shape(v->dims));
}

/* A tensor result must fit the graph: rank <= 4, batch 1, sizes bounded. */
static int check_tensor_dims(imp_ctx *c, const imp_node *n, int rank, const int *dims) {
  if (rank > IMP_MAX_RANK) return imp_bad(c, n, "rank %d (at most 4 supported)", rank);
  if (!shape_ok(rank, dims, 0)) return imp_bad(c, n, "unsupported or empty shape");
  if (rank == 4 && dims[0] != 1) return imp_bad(c, n, "batch %d (only 1 supported)", dims[0]);
  return FK_OK;
}

int imp_set_tensor(imp_ctx *c, imp_node *n, int t, int rank, const int *dims, imp_layout lay) {
  int rc = check_tensor_dims(c, n, rank, dims);
  if (rc != FK_OK) return rc;
  if (t < 0) return imp_graph_err(c, n);
  imp_val v = {.rank = rank, .t = t, .lay = lay};
  memcpy(v.dims, dims, (size_t)rank * sizeof *dims);
  nn_shape s = c->g->shapes[t];
  if (lay == IMP_CHW) {
    if (imp_count(&v) != nn_shape_size(s)) return imp_bad(c, n, "internal: size mismatch");
    /* A CHW value stored as 1 x 1 x C or H x W x 1 reads the same in
     * either order: call it row-major unless its axes still map. */
    if ((s.h * s.w == 1 || s.c == 1) && !chw_consistent(c, &v)) v.lay = IMP_ROWMAJOR;
  }
  if (v.lay == IMP_ROWMAJOR && !same_shape(ir_shape(rank, dims), s)) {
    v.t = nn_reshape(c->g, t, ir_shape(rank, dims));
    if (v.t < 0) return imp_graph_err(c, n);
  }
  n->v = v;
  return FK_OK;
}

int imp_set_input(imp_ctx *c, imp_node *n, int rank, const int *dims, imp_layout lay) {
  if (c->g) return imp_bad(c, n, "a second input (only one is supported)");
  int rc = check_tensor_dims(c, n, rank, dims);
  if (rc != FK_OK) return rc;
  if (lay == IMP_CHW && rank != 4) return imp_bad(c, n, "internal: CHW input of rank %d", rank);
  nn_shape s = lay == IMP_CHW ? chw_shape(dims) : ir_shape(rank, dims);
  c->g = nn_graph_new(s.h, s.w, s.c);
  if (!c->g) return oom(c);
  if (nn_graph_status(c->g) != FK_OK) return imp_graph_err(c, n);
  return imp_set_tensor(c, n, 0, rank, dims, lay);
}

int imp_axis(const imp_ctx *c, const imp_val *v, int a) {
  if (v->t < 0 || v->lay == IMP_ROWMAJOR) {
    int g = a + 3 - v->rank;
    return g >= 0 ? g : -1;
  }
  if (!chw_consistent(c, v)) return -2;
  static const int map[4] = {-1, 2, 0, 1};
  return map[a];
}

int imp_norm_axis(imp_ctx *c, const imp_node *n, int a, int rank, int *out) {
  if (a < -rank || a >= rank) return imp_bad(c, n, "axis %d out of range for rank %d", a, rank);
  *out = a < 0 ? a + rank : a;
  return FK_OK;
}

/* A value relabelled: same tensor, new logical shape and layout. */
static imp_val relabel(const imp_val *x, int t, imp_layout lay) {
  imp_val v = *x;
  v.t = t;
  v.lay = lay;
  return v;
}

int imp_rowmajor(imp_ctx *c, const imp_node *n, const imp_val *x, imp_val *out) {
  if (x->t < 0 || x->lay == IMP_ROWMAJOR) {
    *out = *x;
    return FK_OK;
  }
  nn_shape s = c->g->shapes[x->t];
  int t = x->t;
  if (s.h * s.w > 1 && s.c > 1) {
    static const int to_chw_order[3] = {2, 0, 1}; /* [H][W][C] -> [C][H][W] */
    t = nn_transpose(c->g, t, to_chw_order);
    if (t < 0) return imp_graph_err(c, n);
  }
  nn_shape want = ir_shape(x->rank, x->dims);
  if (!same_shape(c->g->shapes[t], want)) t = nn_reshape(c->g, t, want);
  if (t < 0) return imp_graph_err(c, n);
  *out = relabel(x, t, IMP_ROWMAJOR);
  return FK_OK;
}

int imp_to_chw(imp_ctx *c, const imp_node *n, const imp_val *x, imp_val *out) {
  if (x->t < 0) return imp_bad(c, n, "folding this op over constants is not supported");
  if (x->rank != 4 || x->dims[0] != 1)
    return imp_bad(c, n, "input of rank %d (expected [1, C, H, W])", x->rank);
  if (chw_consistent(c, x)) {
    *out = *x;
    return FK_OK;
  }
  imp_val r;
  int rc = imp_rowmajor(c, n, x, &r);
  if (rc != FK_OK) return rc;
  int t = r.t;
  nn_shape s = c->g->shapes[t], want = chw_shape(x->dims); /* s = C x H x W */
  if (s.h > 1 && s.w * s.c > 1) {
    static const int to_hwc_order[3] = {1, 2, 0};
    t = nn_transpose(c->g, t, to_hwc_order);
  } else {
    t = nn_reshape(c->g, t, want);
  }
  if (t < 0) return imp_graph_err(c, n);
  *out = relabel(x, t, IMP_CHW);
  return FK_OK;
}

/* x in a layout whose axes map (consistent CHW kept, else row-major). */
static int mapped(imp_ctx *c, const imp_node *n, const imp_val *x, imp_val *out) {
  if (x->t >= 0 && x->lay == IMP_CHW && chw_consistent(c, x)) {
    *out = *x;
    return FK_OK;
  }
  return imp_rowmajor(c, n, x, out);
}

/* ---- folding ---------------------------------------------------------------- */

/* Numpy broadcast of logical shapes; 0 if incompatible. */
static int broadcast(const imp_val *a, const imp_val *b, int *rank, int *dims) {
  *rank = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < *rank; i++) {
    int da = i < a->rank ? a->dims[a->rank - 1 - i] : 1;
    int db = i < b->rank ? b->dims[b->rank - 1 - i] : 1;
    int d = da == db || db == 1 ? da : da == 1 ? db : -1;
    if (d < 0) return 0;
    dims[*rank - 1 - i] = d;
  }
  return 1;
}

/* dims left-padded with 1s to rank 4. */
static void pad4(int rank, const int *dims, int *d4) {
  for (int i = 0; i < 4; i++) d4[i] = 1;
  for (int i = 0; i < rank; i++) d4[4 - rank + i] = dims[i];
}

/* Strides of a rank-4 (left-padded) view of v, 0 along broadcast axes. */
static void bstrides(const imp_val *v, const int *odims, size_t *st) {
  int d[4];
  pad4(v->rank, v->dims, d);
  size_t s = 1;
  for (int i = 3; i >= 0; i--) {
    st[i] = d[i] == odims[i] ? s : 0;
    s *= (size_t)d[i];
  }
}

static int fold_binary(imp_ctx *c, imp_node *n, const imp_val *a, const imp_val *b, int kind) {
  int rank, dims[4];
  if (!broadcast(a, b, &rank, dims)) return imp_bad(c, n, "input shapes do not broadcast");
  imp_val r = {.rank = rank, .t = -1};
  memcpy(r.dims, dims, sizeof dims);
  float *out;
  int rc = imp_new_folded(c, n, imp_count(&r), &out);
  if (rc) return rc;
  int od[4];
  pad4(rank, dims, od);
  size_t sa[4], sb[4], k = 0;
  bstrides(a, od, sa);
  bstrides(b, od, sb);
  for (int i0 = 0; i0 < od[0]; i0++)
    for (int i1 = 0; i1 < od[1]; i1++)
      for (int i2 = 0; i2 < od[2]; i2++)
        for (int i3 = 0; i3 < od[3]; i3++) {
          size_t ia = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3];
          size_t ib = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3];
          out[k++] = nn_binary_apply(kind, a->k[ia], b->k[ib]);
        }
  r.k = out;
  n->v = r;
  return FK_OK;
}

static float unary_apply(imp_unary_kind kind, float v) {
  switch (kind) {
    case IMP_UN_ABS: return fabsf(v);
    case IMP_UN_SQUARE: return v * v;
    case IMP_UN_RSQRT: return 1.0f / sqrtf(v);
    case IMP_UN_SIGMOID: return (float)(1.0 / (1.0 + exp(-(double)v)));
    case IMP_UN_TANH: return tanhf(v);
    case IMP_UN_EXP: return expf(v);
    case IMP_UN_RELU: return v > 0 ? v : 0;
    case IMP_UN_RELU6: return v > 0 ? (v < 6 ? v : 6) : 0;
    default: return v;
  }
}

/* n's value: f applied to every value of constant a. */
static int fold_map(imp_ctx *c, imp_node *n, const imp_val *a, imp_unary_kind kind,
                    float lo, float hi) {
  size_t cnt = imp_count(a);
  float *out;
  int rc = imp_new_folded(c, n, cnt, &out);
  if (rc) return rc;
  for (size_t i = 0; i < cnt; i++) {
    float v = unary_apply(kind, a->k[i]);
    out[i] = v < lo ? lo : v > hi ? hi : v;
  }
  n->v = *a;
  n->v.k = out;
  return FK_OK;
}

/* ---- elementwise ------------------------------------------------------------ */

/* All values of a constant equal: its one value in *v. */
static int uniform(const imp_val *k, float *v) {
  size_t cnt = imp_count(k);
  if (cnt == 0) return 0;
  for (size_t i = 1; i < cnt; i++)
    if (k->k[i] != k->k[0]) return 0;
  *v = k->k[0];
  return 1;
}

/* Constant k laid out for a consistent CHW tensor: [1|C][1|H][1|W] values
 * reordered to [1|H][1|W][1|C]. */
static int chw_const(imp_ctx *c, const imp_node *n, const imp_val *k, const float **out,
                     nn_shape *ks) {
  int d[4];
  pad4(k->rank, k->dims, d);
  if (k->rank > 4 || d[0] != 1) return imp_bad(c, n, "constant operand of unsupported shape");
  *ks = (nn_shape){d[2], d[3], d[1]};
  float *p = imp_new_const(c, imp_count(k));
  if (!p) return FK_ENOMEM;
  for (int ch = 0; ch < d[1]; ch++)
    for (int h = 0; h < d[2]; h++)
      for (int w = 0; w < d[3]; w++)
        p[((size_t)h * d[3] + w) * d[1] + ch] = k->k[((size_t)ch * d[2] + h) * d[3] + w];
  *out = p;
  return FK_OK;
}

static int binary_tensors(imp_ctx *c, imp_node *n, const imp_val *a, const imp_val *b,
                          int kind, int rank, const int *dims) {
  imp_val A, B;
  int rc;
  imp_layout lay = IMP_ROWMAJOR;
  int same_flat = a->lay == IMP_CHW && b->lay == IMP_CHW && a->rank == b->rank &&
                  !memcmp(a->dims, b->dims, (size_t)a->rank * sizeof *a->dims) &&
                  same_shape(c->g->shapes[a->t], c->g->shapes[b->t]);
  if (same_flat) {
    A = *a, B = *b, lay = IMP_CHW; /* same storage: elementwise as is */
  } else if ((a->lay == IMP_CHW || b->lay == IMP_CHW) && rank == 4) {
    /* The same values as rank 4 (leading 1s), then both as CHW. */
    imp_val a4 = *a, b4 = *b;
    pad4(a->rank, a->dims, a4.dims);
    pad4(b->rank, b->dims, b4.dims);
    a4.rank = b4.rank = 4;
    if ((rc = imp_to_chw(c, n, &a4, &A)) || (rc = imp_to_chw(c, n, &b4, &B))) return rc;
    lay = IMP_CHW;
  } else if ((rc = imp_rowmajor(c, n, a, &A)) || (rc = imp_rowmajor(c, n, b, &B))) {
    return rc;
  }
  int t = nn_binary(c->g, A.t, B.t, kind, NN_ACT_NONE);
  return imp_set_tensor(c, n, t, rank, dims, lay);
}

static int binary_const(imp_ctx *c, imp_node *n, const imp_val *x, const imp_val *k,
                        int k_first, int kind, int rank, const int *dims) {
  imp_val X = *x;
  int rc;
  nn_shape ks;
  const float *kd = k->k;
  imp_layout lay = IMP_ROWMAJOR;
  float v;
  int scalar = imp_count(k) == 1 && k->rank <= x->rank;
  if (x->lay == IMP_CHW && scalar) {
    ks = (nn_shape){1, 1, 1}; /* any storage */
    lay = IMP_CHW;
  } else if (x->lay == IMP_CHW && chw_consistent(c, x) && rank == 4) {
    if ((rc = chw_const(c, n, k, &kd, &ks))) return rc;
    lay = IMP_CHW;
  } else {
    if ((rc = imp_rowmajor(c, n, x, &X))) return rc;
    if (k->rank > 4 || (k->rank == 4 && k->dims[0] != 1))
      return imp_bad(c, n, "constant operand of unsupported shape");
    ks = ir_shape(k->rank, k->dims);
  }
  int keeps = X.rank == rank && !memcmp(X.dims, dims, (size_t)rank * sizeof *dims);
  int t;
  if (keeps && (kind == NN_BIN_MAX || kind == NN_BIN_MIN) && uniform(k, &v))
    t = kind == NN_BIN_MAX ? nn_clamp(c->g, X.t, v, INFINITY) : nn_clamp(c->g, X.t, -INFINITY, v);
  else
    t = nn_binary_const(c->g, X.t, kind, kd, ks, k_first, NN_ACT_NONE);
  return imp_set_tensor(c, n, t, rank, dims, lay);
}

int imp_binary(imp_ctx *c, imp_node *n, nn_binary_kind kind) {
  int rc = imp_need_inputs(c, n, 2, 2);
  if (rc) return rc;
  const imp_val *a = imp_input(c, n, 0), *b = imp_input(c, n, 1);
  if (a->t < 0 && b->t < 0) return fold_binary(c, n, a, b, kind);
  int rank, dims[4];
  if (!broadcast(a, b, &rank, dims)) return imp_bad(c, n, "input shapes do not broadcast");
  if ((rc = check_tensor_dims(c, n, rank, dims))) return rc;
  if (a->t >= 0 && b->t >= 0) return binary_tensors(c, n, a, b, kind, rank, dims);
  return a->t >= 0 ? binary_const(c, n, a, b, 0, kind, rank, dims)
                   : binary_const(c, n, b, a, 1, kind, rank, dims);
}

int imp_unary(imp_ctx *c, imp_node *n, imp_unary_kind kind) {
  int rc = imp_need_inputs(c, n, 1, 1);
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  if (x->t < 0) return fold_map(c, n, x, kind, -INFINITY, INFINITY);
  int t;
  switch (kind) {
    case IMP_UN_IDENTITY: n->v = *x; return FK_OK;
    case IMP_UN_RELU: t = nn_clamp(c->g, x->t, 0.0f, INFINITY); break;
    case IMP_UN_RELU6: t = nn_clamp(c->g, x->t, 0.0f, 6.0f); break;
    case IMP_UN_ABS: t = nn_unary(c->g, x->t, NN_UN_ABS); break;
    case IMP_UN_SQUARE: t = nn_unary(c->g, x->t, NN_UN_SQUARE); break;
    case IMP_UN_RSQRT: t = nn_unary(c->g, x->t, NN_UN_RSQRT); break;
    case IMP_UN_SIGMOID: t = nn_unary(c->g, x->t, NN_UN_SIGMOID); break;
    case IMP_UN_TANH: t = nn_unary(c->g, x->t, NN_UN_TANH); break;
    default: t = nn_unary(c->g, x->t, NN_UN_EXP); break;
  }
  return imp_set_tensor(c, n, t, x->rank, x->dims, x->lay);
}

int imp_clamp(imp_ctx *c, imp_node *n, float lo, float hi) {
  if (!(lo <= hi)) return imp_bad(c, n, "empty range [%g, %g]", (double)lo, (double)hi);
  const imp_val *x = imp_input(c, n, 0);
  if (x->t < 0) return fold_map(c, n, x, IMP_UN_IDENTITY, lo, hi);
  int t = nn_clamp(c->g, x->t, lo, hi);
  return imp_set_tensor(c, n, t, x->rank, x->dims, x->lay);
}

/* ---- shape ops -------------------------------------------------------------- */

int imp_reshape(imp_ctx *c, imp_node *n, const imp_val *x, int rank, const int *dims) {
  if (rank > IMP_MAX_RANK) return imp_bad(c, n, "result rank %d (at most 4 supported)", rank);
  imp_val r = {.rank = rank};
  memcpy(r.dims, dims, (size_t)rank * sizeof *dims);
  if (!shape_ok(rank, dims, 1) || imp_count(&r) != imp_count(x))
    return imp_bad(c, n, "new shape holds %zu values, the input %zu", imp_count(&r), imp_count(x));
  if (x->t < 0) return imp_set_const(c, n, rank, dims, x->k);
  return imp_set_tensor(c, n, x->t, rank, dims, x->lay);
}

/* Row-major outer x [axis] x inner split of a rank-r shape. */
static void split_at(int rank, const int *dims, int axis, size_t *outer, size_t *inner) {
  *outer = *inner = 1;
  for (int i = 0; i < axis; i++) *outer *= (size_t)dims[i];
  for (int i = axis + 1; i < rank; i++) *inner *= (size_t)dims[i];
}

static int fold_concat(imp_ctx *c, imp_node *n, int first, int count, int axis) {
  const imp_val *x = imp_input(c, n, first);
  int dims[4];
  memcpy(dims, x->dims, sizeof dims);
  long long total = 0;
  for (int i = 0; i < count; i++) {
    const imp_val *y = imp_input(c, n, first + i);
    if (y->rank != x->rank) return imp_bad(c, n, "inputs of ranks %d and %d", x->rank, y->rank);
    for (int k = 0; k < x->rank; k++)
      if (k != axis && y->dims[k] != x->dims[k]) return imp_bad(c, n, "input %d: shapes differ", i);
    total += y->dims[axis];
  }
  if (total > IMP_MAX_DIM)
    return imp_bad(c, n, "the concatenation is too large along axis %d", axis);
  dims[axis] = (int)total;
  imp_val r = {.rank = x->rank};
  memcpy(r.dims, dims, sizeof dims);
  float *out;
  int rc = imp_new_folded(c, n, imp_count(&r), &out);
  if (rc) return rc;
  size_t outer, inner;
  split_at(x->rank, dims, axis, &outer, &inner);
  float *p = out;
  for (size_t o = 0; o < outer; o++)
    for (int i = 0; i < count; i++) {
      const imp_val *y = imp_input(c, n, first + i);
      size_t run = (size_t)y->dims[axis] * inner;
      memcpy(p, y->k + o * run, run * sizeof *p);
      p += run;
    }
  return imp_set_const(c, n, r.rank, dims, out);
}

int imp_concat(imp_ctx *c, imp_node *n, int first, int count, int axis) {
  if (count < 1) return imp_bad(c, n, "nothing to concatenate");
  const imp_val *x = imp_input(c, n, first);
  if (axis < 0 || axis >= x->rank) return imp_bad(c, n, "axis %d out of range", axis);
  int consts = 0;
  for (int i = 0; i < count; i++) consts += imp_input(c, n, first + i)->t < 0;
  if (consts == count) return fold_concat(c, n, first, count, axis);
  if (consts) return imp_bad(c, n, "concatenating constants with tensors is not supported");
  int chw = x->lay == IMP_CHW && x->rank == 4, rc;
  imp_val acc;
  if ((rc = chw ? imp_to_chw(c, n, x, &acc) : imp_rowmajor(c, n, x, &acc))) return rc;
  int g = imp_axis(c, &acc, axis);
  if (g < 0 && count > 1) return imp_bad(c, n, "concatenating along the batch axis");
  for (int i = 1; i < count; i++) {
    const imp_val *y = imp_input(c, n, first + i);
    imp_val Y;
    if (y->rank != x->rank) return imp_bad(c, n, "inputs of ranks %d and %d", x->rank, y->rank);
    for (int k = 0; k < x->rank; k++)
      if (k != axis && y->dims[k] != x->dims[k]) return imp_bad(c, n, "input %d: shapes differ", i);
    if ((rc = chw ? imp_to_chw(c, n, y, &Y) : imp_rowmajor(c, n, y, &Y))) return rc;
    if ((long long)acc.dims[axis] + Y.dims[axis] > IMP_MAX_DIM)
      return imp_bad(c, n, "the concatenation is too large along axis %d", axis);
    acc.dims[axis] += Y.dims[axis];
    acc.t = nn_concat(c->g, acc.t, Y.t, g);
    if (acc.t < 0) return imp_graph_err(c, n);
  }
  return imp_set_tensor(c, n, acc.t, acc.rank, acc.dims, acc.lay);
}

static int fold_slice(imp_ctx *c, imp_node *n, const imp_val *x, const int *begin,
                      const int *step, const int *size, int rank, const int *dims) {
  int b[4] = {0, 0, 0, 0}, s[4] = {1, 1, 1, 1}, z[4], d[4];
  pad4(x->rank, size, z);
  pad4(x->rank, x->dims, d);
  for (int a = 0; a < x->rank; a++) {
    b[4 - x->rank + a] = begin[a];
    s[4 - x->rank + a] = step[a];
  }
  imp_val r = {.rank = x->rank};
  memcpy(r.dims, size, (size_t)x->rank * sizeof *size);
  float *out, *p;
  int rc = imp_new_folded(c, n, imp_count(&r), &out);
  if (rc) return rc;
  p = out;
  for (int i0 = 0; i0 < z[0]; i0++)
    for (int i1 = 0; i1 < z[1]; i1++)
      for (int i2 = 0; i2 < z[2]; i2++)
        for (int i3 = 0; i3 < z[3]; i3++) {
          size_t j0 = (size_t)(b[0] + i0 * s[0]), j1 = (size_t)(b[1] + i1 * s[1]);
          size_t j2 = (size_t)(b[2] + i2 * s[2]), j3 = (size_t)(b[3] + i3 * s[3]);
          *p++ = x->k[((j0 * d[1] + j1) * d[2] + j2) * d[3] + j3];
        }
  return imp_set_const(c, n, rank, dims, out);
}

int imp_slice(imp_ctx *c, imp_node *n, const imp_val *x, const int *begin, const int *step,
              const int *size, int rank, const int *dims) {
  int identity = 1;
  for (int a = 0; a < x->rank; a++) {
    long long last = begin[a] + (long long)(size[a] - 1) * step[a];
    if (size[a] <= 0 || step[a] == 0 || begin[a] < 0 || begin[a] >= x->dims[a] || last < 0 ||
        last >= x->dims[a])
      return imp_bad(c, n, "axis %d: slice begin %d step %d size %d outside %d", a, begin[a],
                     step[a], size[a], x->dims[a]);
    identity &= begin[a] == 0 && step[a] == 1 && size[a] == x->dims[a];
  }
  if (x->t < 0) return fold_slice(c, n, x, begin, step, size, rank, dims);
  if (identity) return imp_reshape(c, n, x, rank, dims);
  imp_val X;
  int rc = mapped(c, n, x, &X);
  if (rc) return rc;
  int gb[3] = {0, 0, 0}, gs[3] = {1, 1, 1};
  nn_shape out = c->g->shapes[X.t];
  int *od[3] = {&out.h, &out.w, &out.c};
  for (int a = 0; a < X.rank; a++) {
    int g = imp_axis(c, &X, a);
    if (g < 0) continue; /* size 1, begin 0 (checked above) */
    gb[g] = begin[a];
    gs[g] = step[a];
    *od[g] = size[a];
  }
  int t = nn_slice(c->g, X.t, gb, gs, out);
  if (t < 0) return imp_graph_err(c, n);
  /* The sliced values, in X's layout, then relabelled to (rank, dims). */
  if (X.lay == IMP_CHW) return imp_set_tensor(c, n, t, rank, dims, IMP_CHW);
  imp_val full = {.rank = X.rank, .t = t, .lay = IMP_ROWMAJOR};
  memcpy(full.dims, size, (size_t)X.rank * sizeof *size);
  return imp_reshape(c, n, &full, rank, dims);
}

int imp_pad(imp_ctx *c, imp_node *n, const imp_val *x, const int *pads) {
  if (x->t < 0) return imp_bad(c, n, "folding this op over constants is not supported");
  imp_val X;
  int rc = mapped(c, n, x, &X);
  if (rc) return rc;
  int gp[6] = {0}, dims[4], any = 0;
  for (int a = 0; a < X.rank; a++) {
    int lo = pads[2 * a], hi = pads[2 * a + 1], g = imp_axis(c, &X, a);
    if (lo < 0 || hi < 0 || lo > (1 << 20) || hi > (1 << 20))
      return imp_bad(c, n, "padding %d,%d is not supported", lo, hi);
    if (g < 0 && (lo || hi)) return imp_bad(c, n, "padding the batch axis");
    if (g >= 0) {
      gp[2 * g] = lo;
      gp[2 * g + 1] = hi;
    }
    any |= lo | hi;
    dims[a] = X.dims[a] + lo + hi;
  }
  int t = any ? nn_pad(c->g, X.t, gp) : X.t;
  return imp_set_tensor(c, n, t, X.rank, dims, X.lay);
}

int imp_reduce(imp_ctx *c, imp_node *n, const imp_val *x, nn_reduce_kind kind, int mask,
               int keep) {
  if (x->t < 0) return imp_bad(c, n, "folding this op over constants is not supported");
  imp_val X;
  int rc = mapped(c, n, x, &X);
  if (rc) return rc;
  int gmask = 0, rank = 0, dims[4];
  for (int a = 0; a < X.rank; a++) {
    int g = imp_axis(c, &X, a), gone = mask >> a & 1;
    if (gone && g >= 0) gmask |= 1 << g;
    if (!gone) dims[rank++] = X.dims[a];
    else if (keep) dims[rank++] = 1;
  }
  int t = gmask ? nn_reduce(c->g, X.t, kind, gmask) : X.t;
  /* Dropping size-1 axes keeps the values' order, in either layout. */
  return imp_set_tensor(c, n, t, rank, dims, X.lay);
}

int imp_softmax(imp_ctx *c, imp_node *n, const imp_val *x, int axis) {
  if (x->t < 0) return imp_bad(c, n, "folding this op over constants is not supported");
  if (axis < 0 || axis >= x->rank) return imp_bad(c, n, "axis %d out of range", axis);
  imp_val X;
  int rc = imp_rowmajor(c, n, x, &X);
  if (rc) return rc;
  size_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= (size_t)X.dims[i];
  for (int i = axis; i < X.rank; i++) inner *= (size_t)X.dims[i];
  int t = X.t;
  /* nn_softmax runs over c: make the softmax groups the c rows. */
  nn_shape rows = {1, (int)outer, (int)inner};
  if ((size_t)c->g->shapes[t].c != inner) t = nn_reshape(c->g, t, rows);
  t = nn_softmax(c->g, t);
  return imp_set_tensor(c, n, t, X.rank, X.dims, IMP_ROWMAJOR);
}

static int fold_transpose(imp_ctx *c, imp_node *n, const imp_val *x, const int *perm) {
  int r = x->rank, od[4], d4[4], st[4], ost[4] = {0, 0, 0, 0};
  for (int i = 0; i < r; i++) od[i] = x->dims[perm[i]];
  pad4(r, x->dims, d4);
  size_t s = 1;
  for (int i = 3; i >= 0; i--) {
    st[i] = (int)s;
    s *= (size_t)d4[i];
  }
  /* Output axis i (left-padded to 4) steps through input axis perm. */
  for (int i = 0; i < r; i++) ost[4 - r + i] = st[4 - r + perm[i]];
  int o4[4];
  pad4(r, od, o4);
  float *out, *p;
  int rc = imp_new_folded(c, n, imp_count(x), &out);
  if (rc) return rc;
  p = out;
  for (int i0 = 0; i0 < o4[0]; i0++)
    for (int i1 = 0; i1 < o4[1]; i1++)
      for (int i2 = 0; i2 < o4[2]; i2++)
        for (int i3 = 0; i3 < o4[3]; i3++)
          *p++ = x->k[(size_t)i0 * ost[0] + (size_t)i1 * ost[1] + (size_t)i2 * ost[2] +
                      (size_t)i3 * ost[3]];
  return imp_set_const(c, n, r, od, out);
}

/* Whether the stored axes st[] of the listed output axes, skipping size-1
 * ones, appear in increasing order (then the data need not move). */
static int in_order(const int *st, const int *od, const int *axes, int na) {
  int last = -1;
  for (int i = 0; i < na; i++) {
    if (od[axes[i]] == 1) continue;
    if (st[axes[i]] <= last) return 0;
    last = st[axes[i]];
  }
  return 1;
}

int imp_transpose(imp_ctx *c, imp_node *n, const imp_val *x, const int *perm) {
  int r = x->rank, seen = 0, od[4], st[4], rc;
  for (int i = 0; i < r; i++) {
    if (perm[i] < 0 || perm[i] >= r || (seen >> perm[i] & 1))
      return imp_bad(c, n, "perm is not a permutation of the %d axes", r);
    seen |= 1 << perm[i];
    od[i] = x->dims[perm[i]];
  }
  if (x->t < 0) return fold_transpose(c, n, x, perm);
  imp_val X;
  if ((rc = mapped(c, n, x, &X))) return rc;
  for (int i = 0; i < r; i++) st[i] = imp_axis(c, &X, perm[i]);
  static const int all[4] = {0, 1, 2, 3}, chw_order[3] = {2, 3, 1};
  if (in_order(st, od, all, r)) return imp_set_tensor(c, n, X.t, r, od, IMP_ROWMAJOR);
  if (r == 4 && od[0] == 1 && in_order(st, od, chw_order, 3)) {
    int t = X.t;
    if (!same_shape(c->g->shapes[t], chw_shape(od))) t = nn_reshape(c->g, t, chw_shape(od));
    return imp_set_tensor(c, n, t, r, od, IMP_CHW);
  }
  /* The data moves: permute the stored axes into the output's order. */
  int gp[3], k = 0, used = 0;
  for (int i = 0; i < r; i++)
    if (od[i] > 1) used |= 1 << st[i];
  for (int g = 0; g < 3; g++)
    if (!(used >> g & 1)) gp[k++] = g; /* size-1 stored axes go first */
  for (int i = 0; i < r; i++)
    if (od[i] > 1) gp[k++] = st[i];
  int t = nn_transpose(c->g, X.t, gp);
  return imp_set_tensor(c, n, t, r, od, IMP_ROWMAJOR);
}

int imp_fc(imp_ctx *c, imp_node *n, const imp_val *x, const float *w, const float *bias,
           int cout, nn_act act) {
  if (x->t < 0) return imp_bad(c, n, "folding this op over constants is not supported");
  size_t k = imp_count(x);
  nn_shape s = c->g->shapes[x->t];
  const float *wt = w;
  if (x->lay == IMP_CHW && s.h * s.w > 1 && s.c > 1) {
    /* Logical index ch * H * W + h * W + w is stored at (h * W + w) * C + ch. */
    float *p = imp_new_const(c, k * (size_t)cout);
    if (!p) return FK_ENOMEM;
    size_t hw = (size_t)s.h * s.w;
    for (size_t ch = 0; ch < (size_t)s.c; ch++)
      for (size_t q = 0; q < hw; q++)
        memcpy(p + (q * s.c + ch) * cout, w + (ch * hw + q) * cout, (size_t)cout * sizeof *p);
    wt = p;
  }
  int t = nn_fc(c->g, x->t, wt, bias, cout, act);
  int dims[2] = {1, cout};
  return imp_set_tensor(c, n, t, 2, dims, IMP_ROWMAJOR);
}

int imp_channel_affine(imp_ctx *c, imp_node *n, const imp_val *x, const float *scale,
                       const float *shift) {
  imp_val X;
  int rc;
  if (x->rank == 4) rc = imp_to_chw(c, n, x, &X);
  else if (x->rank == 2 && x->dims[0] == 1) rc = imp_rowmajor(c, n, x, &X);
  else return imp_bad(c, n, "per-channel op on a rank-%d value", x->rank);
  if (rc) return rc;
  int ch = X.dims[1], t = X.t;
  nn_shape ks = {1, 1, ch};
  if (scale) t = nn_binary_const(c->g, t, NN_BIN_MUL, scale, ks, 0, NN_ACT_NONE);
  if (shift) t = nn_binary_const(c->g, t, NN_BIN_ADD, shift, ks, 0, NN_ACT_NONE);
  return imp_set_tensor(c, n, t, X.rank, X.dims, X.lay);
}
