/*
 * tfgraph.c - the TFJS graph-model loader (tfgraph.h): model.json's GraphDef
 * nodes become nn_graph ops (nn.h), its weightsManifest the constants.
 *
 * Loading walks the nodes the outputs depend on in dependency order (an
 * explicit-stack DFS, so a cycle or a deep chain is an error, not a stack
 * overflow) and gives each node a value: a constant (values known at load
 * time, from the manifest or folded from constant inputs) or an nn_graph
 * tensor. TF tensors of rank <= 4 with batch 1 map right-aligned onto the
 * graph's [h][w][c] (see nn.h), so TF axis a of a rank-r tensor is graph
 * axis a + 3 - r, and the batch axis of a rank-4 tensor is -1.
 *
 * Everything in model.json is untrusted: every attribute is checked, and
 * anything unsupported is an FK_EMODEL error naming the node and its op.
 * After loading, nn_graph_fuse() (fuse.c) merges the patterns converters
 * leave behind (batch-norm scales, decomposed PReLU, ReLU6 as min/max).
 */
#include "nn/tfgraph.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"
#include "nn/files.h"
#include "nn/weights.h"

/* A node's value: a constant (t < 0, values in k) or graph tensor t. */
typedef struct tval {
  int rank, dims[4];
  int t;
  const float *k;
} tval;

typedef struct tnode {
  const cJSON *j;
  const char *name, *op;
  const cJSON *attr;
  int *in;        /* data inputs (node indices) */
  int nin;
  int state;      /* 0 new, 1 on the DFS stack, 2 evaluated */
  tval v;
} tnode;

typedef struct loader {
  tnode *nodes;
  int n;
  int *slots;     /* open-addressing name index, -1 = empty */
  size_t nslots;
  nn_weights w;
  nn_graph *g;
  float **owned;  /* folded constants */
  int nowned;
  char *err;
  size_t errlen;
} loader;

#define MAX_RANK 4

/* Constants folded at load time hold at most this many values. Broadcasting
 * multiplies sizes, so three 1 KB constants could otherwise ask for 4 GB;
 * real models fold bias vectors and shape arithmetic, far below this. */
#define MAX_FOLDED ((size_t)1 << 24)

static int seterr(loader *L, int status, const char *fmt, ...) {
  if (L->err && L->errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err, L->errlen, fmt, ap);
    va_end(ap);
  }
  return status;
}

/* An FK_EMODEL error about node n: "node NAME (OP): ...". */
static int bad(loader *L, const tnode *n, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return seterr(L, FK_EMODEL, "model node %s (%s): %s", n->name, n->op, msg);
}

/* ---- names ------------------------------------------------------------------ */

static size_t hash(const char *s, size_t len) {
  size_t h = 1469598103934665603u;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211u;
  return h;
}

/* The node called s[0..len), or -1. */
static int find_node(const loader *L, const char *s, size_t len) {
  for (size_t i = hash(s, len) % L->nslots;; i = (i + 1) % L->nslots) {
    int k = L->slots[i];
    if (k < 0) return -1;
    if (strlen(L->nodes[k].name) == len && !memcmp(L->nodes[k].name, s, len)) return k;
  }
}

/* Resolves an input reference "name", "name:0" or "^name" (control); *ctl
 * says which. Output indices other than 0 are errors (no supported op has
 * two outputs). Returns the node index or a negative FK_ status. */
static int resolve(loader *L, const tnode *n, const char *ref, int *ctl) {
  *ctl = ref[0] == '^';
  const char *s = ref + *ctl;
  size_t len = strlen(s);
  const char *colon = strrchr(s, ':');
  if (colon) {
    char *end;
    errno = 0;
    long k = strtol(colon + 1, &end, 10);
    if (colon[1] && !*end && !errno) {
      if (k != 0) return bad(L, n, "input %s: only output 0 of a node is supported", ref);
      len = (size_t)(colon - s);
    }
  }
  int k = find_node(L, s, len);
  if (k < 0) return bad(L, n, "input %s names no node in the model", ref);
  return k;
}

static int index_nodes(loader *L, const cJSON *jnodes) {
  int n = cJSON_GetArraySize(jnodes);
  if (n <= 0) return seterr(L, FK_EMODEL, "model.json: modelTopology.node is empty");
  L->nodes = calloc((size_t)n, sizeof *L->nodes);
  L->nslots = (size_t)n * 2 + 1;
  L->slots = malloc(L->nslots * sizeof *L->slots);
  if (!L->nodes || !L->slots) return seterr(L, FK_ENOMEM, "out of memory");
  for (size_t i = 0; i < L->nslots; i++) L->slots[i] = -1;
  const cJSON *j;
  cJSON_ArrayForEach(j, jnodes) {
    tnode *t = &L->nodes[L->n];
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, "op");
    if (!cJSON_IsString(name) || !name->valuestring[0] || !cJSON_IsString(op))
      return seterr(L, FK_EMODEL, "model.json: node %d has no name or op", L->n);
    t->j = j;
    t->name = name->valuestring;
    t->op = op->valuestring;
    t->attr = cJSON_GetObjectItemCaseSensitive(j, "attr");
    t->v.t = -1;
    if (find_node(L, t->name, strlen(t->name)) >= 0)
      return seterr(L, FK_EMODEL, "model.json: two nodes are called %s", t->name);
    size_t i = hash(t->name, strlen(t->name)) % L->nslots;
    while (L->slots[i] >= 0) i = (i + 1) % L->nslots;
    L->slots[i] = L->n++;
  }
  /* Inputs, once every name is known. */
  for (int k = 0; k < L->n; k++) {
    tnode *t = &L->nodes[k];
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(t->j, "input");
    if (!ins) continue;
    if (!cJSON_IsArray(ins)) return bad(L, t, "input is not a list");
    t->in = malloc(((size_t)cJSON_GetArraySize(ins) + 1) * sizeof *t->in);
    if (!t->in) return seterr(L, FK_ENOMEM, "out of memory");
    const cJSON *r;
    cJSON_ArrayForEach(r, ins) {
      if (!cJSON_IsString(r)) return bad(L, t, "an input is not a string");
      int ctl, src = resolve(L, t, r->valuestring, &ctl);
      if (src < 0) return src;
      if (!ctl) t->in[t->nin++] = src;
    }
  }
  return FK_OK;
}

/* ---- attributes ------------------------------------------------------------- */

static const cJSON *attr(const tnode *n, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(n->attr, key);
}

/* A TF int64, which TFJS writes as a string or a number. */
static int json_int(const cJSON *v, long long *out) {
  if (cJSON_IsNumber(v)) {
    if (!(v->valuedouble == floor(v->valuedouble)) || fabs(v->valuedouble) > 1e15) return 0;
    *out = (long long)v->valuedouble;
    return 1;
  }
  if (!cJSON_IsString(v) || !v->valuestring[0]) return 0;
  char *end;
  errno = 0;
  *out = strtoll(v->valuestring, &end, 10);
  return !*end && !errno;
}

static int clamp_int(long long v) {
  return v > INT_MAX ? INT_MAX : v < INT_MIN ? INT_MIN : (int)v;
}

/* attr {"list": {"i": [...]}} into out (at most max); count or -1. */
static int attr_ints(const tnode *n, const char *key, int *out, int max) {
  const cJSON *a = attr(n, key);
  if (!a) return -1;
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(a, "list");
  if (!cJSON_IsObject(l)) return -1;
  const cJSON *is = cJSON_GetObjectItemCaseSensitive(l, "i");
  if (!is) return 0;
  if (!cJSON_IsArray(is) || cJSON_GetArraySize(is) > max) return -1;
  int k = 0;
  const cJSON *v;
  cJSON_ArrayForEach(v, is) {
    long long x;
    if (!json_int(v, &x)) return -1;
    out[k++] = clamp_int(x);
  }
  return k;
}

/* attr {"i": "v"}, or dflt when absent; 0 if malformed. */
static int attr_int(const tnode *n, const char *key, long long dflt, long long *out) {
  const cJSON *a = attr(n, key);
  *out = dflt;
  if (!a) return 1;
  const cJSON *i = cJSON_GetObjectItemCaseSensitive(a, "i");
  if (!i) return 1; /* proto3 default 0 is written as {} */
  return json_int(i, out);
}

static int attr_bool(const tnode *n, const char *key) {
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(attr(n, key), "b");
  return cJSON_IsTrue(b);
}

static float attr_float(const tnode *n, const char *key, float dflt) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(attr(n, key), "f");
  return cJSON_IsNumber(f) ? (float)f->valuedouble : dflt;
}

static const char *attr_type(const tnode *n, const char *key) {
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(attr(n, key), "type");
  return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* Decodes base64 src into out (NUL-terminated, at most cap - 1 bytes);
 * 0 on an invalid character or overflow. */
static int unbase64(const char *src, char *out, size_t cap) {
  size_t n = 0;
  unsigned acc = 0;
  int bits = 0;
  for (const char *p = src; *p && *p != '='; p++) {
    const char *tab = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *q = strchr(tab, *p);
    if (!q || !*p) return 0;
    acc = (acc << 6) | (unsigned)(q - tab);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (n + 1 >= cap) return 0;
      out[n++] = (char)((acc >> bits) & 0xff);
    }
  }
  out[n] = '\0';
  return 1;
}

/* attr {"s": base64} decoded into buf; dflt when absent; 0 if malformed. */
static int attr_str(const tnode *n, const char *key, const char *dflt, char *buf, size_t cap) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(attr(n, key), "s");
  if (!s) {
    snprintf(buf, cap, "%s", dflt);
    return 1;
  }
  return cJSON_IsString(s) && unbase64(s->valuestring, buf, cap);
}

/* ---- values ----------------------------------------------------------------- */

/* The number of values, SIZE_MAX if that overflows (a Reshape may declare
 * any dims; a product that wrapped around could match the input's count). */
static size_t val_count(const tval *v) {
  size_t c = 1;
  for (int i = 0; i < v->rank; i++) {
    if (v->dims[i] && c > SIZE_MAX / (size_t)v->dims[i]) return SIZE_MAX;
    c *= (size_t)v->dims[i];
  }
  return c;
}

/* The graph shape of a TF shape: right-aligned, padded with 1s. */
static nn_shape ir_shape(int rank, const int *dims) {
  int d[3] = {1, 1, 1};
  for (int i = 0; i < rank && i < 3; i++) d[2 - i] = dims[rank - 1 - i];
  return (nn_shape){d[0], d[1], d[2]};
}

static int same_shape(nn_shape a, nn_shape b) {
  return a.h == b.h && a.w == b.w && a.c == b.c;
}

/* Checks that a tensor (not constant) result fits the graph: rank <= 4,
 * batch 1, no empty dimension. */
static int check_tensor_dims(loader *L, const tnode *n, int rank, const int *dims) {
  if (rank > MAX_RANK) return bad(L, n, "rank %d (at most 4 supported)", rank);
  for (int i = 0; i < rank; i++)
    if (dims[i] <= 0) return bad(L, n, "dimension %d is %d", i, dims[i]);
  if (rank == 4 && dims[0] != 1) return bad(L, n, "batch %d (only 1 supported)", dims[0]);
  return FK_OK;
}

/* Makes n's value tensor t with TF shape (rank, dims), inserting a reshape
 * when the graph shape of t differs. */
static int set_tensor(loader *L, tnode *n, int t, int rank, const int *dims) {
  int rc = check_tensor_dims(L, n, rank, dims);
  if (rc != FK_OK) return rc;
  if (t >= 0 && !same_shape(ir_shape(rank, dims), L->g->shapes[t]))
    t = nn_reshape(L->g, t, ir_shape(rank, dims));
  if (t < 0) return bad(L, n, "%s", L->g->err);
  n->v.t = t;
  n->v.k = NULL;
  n->v.rank = rank;
  memcpy(n->v.dims, dims, (size_t)rank * sizeof *dims);
  return FK_OK;
}

static float *new_const(loader *L, size_t count) {
  float **grown = realloc(L->owned, (size_t)(L->nowned + 1) * sizeof *grown);
  if (!grown) return NULL;
  L->owned = grown;
  float *p = malloc(count ? count * sizeof(float) : 1);
  if (p) L->owned[L->nowned++] = p;
  return p;
}

static const tval *input(const loader *L, const tnode *n, int i) {
  return &L->nodes[n->in[i]].v;
}

/* Reads constant input i as up to max integers; count or a negative status. */
static int const_ints(loader *L, const tnode *n, int i, int *out, int max) {
  const tval *v = input(L, n, i);
  if (v->t >= 0) return bad(L, n, "input %d must be a constant", i);
  size_t c = val_count(v);
  if (c > (size_t)max) return bad(L, n, "input %d has %zu values (at most %d)", i, c, max);
  for (size_t k = 0; k < c; k++) {
    float f = v->k[k];
    if (!(f == floorf(f)) || fabsf(f) > 1e9f)
      return bad(L, n, "input %d holds a non-integer %g", i, (double)f);
    out[k] = (int)f;
  }
  return (int)c;
}

static int need_inputs(loader *L, const tnode *n, int lo, int hi) {
  if (n->nin < lo || n->nin > hi)
    return bad(L, n, "%d inputs (expected %d..%d)", n->nin, lo, hi);
  return FK_OK;
}

/* ---- constants and folding ---------------------------------------------------- */

static int op_const(loader *L, tnode *n) {
  const char *dt = attr_type(n, "dtype");
  if (dt && strcmp(dt, "DT_FLOAT") && strcmp(dt, "DT_INT32"))
    return bad(L, n, "unsupported dtype %s", dt);
  const nn_weight *w = nn_weights_find(&L->w, n->name);
  if (!w) return bad(L, n, "no weight of this name in the weights manifest");
  if (w->ndim > MAX_RANK) return bad(L, n, "rank %d (at most 4 supported)", w->ndim);
  n->v.rank = w->ndim;
  for (int i = 0; i < w->ndim; i++) n->v.dims[i] = w->shape[i];
  n->v.k = w->data;
  n->v.t = -1;
  return FK_OK;
}

/* Numpy broadcast of TF shapes a and b into out; 0 if incompatible. */
static int tf_broadcast(const tval *a, const tval *b, int *rank, int *dims) {
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

static float apply_unary(const char *op, float v) {
  if (!strcmp(op, "Abs")) return fabsf(v);
  if (!strcmp(op, "Square")) return v * v;
  if (!strcmp(op, "Rsqrt")) return 1.0f / sqrtf(v);
  if (!strcmp(op, "Sigmoid")) return (float)(1.0 / (1.0 + exp(-(double)v)));
  if (!strcmp(op, "Tanh")) return tanhf(v);
  if (!strcmp(op, "Relu")) return v > 0 ? v : 0;
  if (!strcmp(op, "Relu6")) return v > 0 ? (v < 6 ? v : 6) : 0;
  return v; /* Identity */
}

/* Strides of a rank-4 (left-padded) view of v, 0 along broadcast axes. */
static void bstrides(const tval *v, const int *odims, size_t *st) {
  int d[4] = {1, 1, 1, 1};
  for (int i = 0; i < v->rank; i++) d[4 - v->rank + i] = v->dims[i];
  size_t s = 1;
  for (int i = 3; i >= 0; i--) {
    st[i] = d[i] == odims[i] ? s : 0;
    s *= (size_t)d[i];
  }
}

static int fold_binary(loader *L, tnode *n, int kind) {
  const tval *a = input(L, n, 0), *b = input(L, n, 1);
  int rank, dims[4];
  if (!tf_broadcast(a, b, &rank, dims)) return bad(L, n, "input shapes do not broadcast");
  tval r = {.rank = rank, .t = -1};
  memcpy(r.dims, dims, sizeof dims);
  size_t count = val_count(&r);
  if (count > MAX_FOLDED)
    return bad(L, n, "the folded constant is too large (over %zu values)", MAX_FOLDED);
  float *out = new_const(L, count);
  if (!out) return seterr(L, FK_ENOMEM, "out of memory");
  int od[4] = {1, 1, 1, 1};
  for (int i = 0; i < rank; i++) od[4 - rank + i] = dims[i];
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

static int fold_unary(loader *L, tnode *n) {
  const tval *a = input(L, n, 0);
  size_t count = val_count(a);
  float *out = new_const(L, count);
  if (!out) return seterr(L, FK_ENOMEM, "out of memory");
  for (size_t i = 0; i < count; i++) out[i] = apply_unary(n->op, a->k[i]);
  n->v = *a;
  n->v.k = out;
  return FK_OK;
}

/* ---- ops -------------------------------------------------------------------- */

static int op_placeholder(loader *L, tnode *n) {
  const char *dt = attr_type(n, "dtype");
  if (dt && strcmp(dt, "DT_FLOAT")) return bad(L, n, "input dtype %s (only DT_FLOAT)", dt);
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(attr(n, "shape"), "shape");
  const cJSON *dim = cJSON_GetObjectItemCaseSensitive(sh, "dim");
  if (!cJSON_IsArray(dim)) return bad(L, n, "the input has no static shape");
  int rank = cJSON_GetArraySize(dim), dims[4];
  if (rank < 1 || rank > MAX_RANK) return bad(L, n, "input rank %d (1..4 supported)", rank);
  int i = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, dim) {
    long long v;
    if (!json_int(cJSON_GetObjectItemCaseSensitive(d, "size"), &v))
      return bad(L, n, "input dimension %d is not a number", i);
    if (v == -1 && i == 0 && rank == 4) v = 1;
    if (v <= 0 || v > (1 << 20)) return bad(L, n, "input dimension %d is %lld", i, v);
    dims[i++] = (int)v;
  }
  if (L->g) return bad(L, n, "a second input (only one Placeholder is supported)");
  int rc = check_tensor_dims(L, n, rank, dims);
  if (rc != FK_OK) return rc;
  nn_shape s = ir_shape(rank, dims);
  L->g = nn_graph_new(s.h, s.w, s.c);
  if (!L->g) return seterr(L, FK_ENOMEM, "out of memory");
  if (nn_graph_status(L->g) != FK_OK) return bad(L, n, "%s", L->g->err);
  return set_tensor(L, n, 0, rank, dims);
}

static int op_identity(loader *L, tnode *n) {
  int rc = need_inputs(L, n, 1, 1);
  if (rc == FK_OK) n->v = *input(L, n, 0);
  return rc;
}

/* The activation after BiasAdd in fused_ops, as a graph act and/or an extra
 * op applied by finish_fused(). */
typedef enum { FA_NONE, FA_RELU, FA_RELU6, FA_PRELU, FA_LEAKY, FA_SIGMOID, FA_TANH } fused_act;

static int parse_fused(loader *L, const tnode *n, fused_act *fa, int *has_bias) {
  *fa = FA_NONE;
  *has_bias = 0;
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(attr(n, "fused_ops"), "list");
  const cJSON *ss = cJSON_GetObjectItemCaseSensitive(l, "s");
  /* No fused_ops at all is a plain op: its inputs are still counted below. */
  if (ss && !cJSON_IsArray(ss)) return bad(L, n, "malformed fused_ops");
  int k = 0;
  const cJSON *s;
  cJSON_ArrayForEach(s, ss) {
    char name[32];
    if (!cJSON_IsString(s) || !unbase64(s->valuestring, name, sizeof name))
      return bad(L, n, "malformed fused_ops");
    if (k == 0 && !strcmp(name, "BiasAdd")) *has_bias = 1;
    else if (k == 1 && *has_bias && !strcmp(name, "Relu")) *fa = FA_RELU;
    else if (k == 1 && *has_bias && !strcmp(name, "Relu6")) *fa = FA_RELU6;
    else if (k == 1 && *has_bias && !strcmp(name, "Prelu")) *fa = FA_PRELU;
    else if (k == 1 && *has_bias && !strcmp(name, "LeakyRelu")) *fa = FA_LEAKY;
    else if (k == 1 && *has_bias && !strcmp(name, "Sigmoid")) *fa = FA_SIGMOID;
    else if (k == 1 && *has_bias && !strcmp(name, "Tanh")) *fa = FA_TANH;
    else return bad(L, n, "unsupported fused op %s at position %d", name, k);
    k++;
  }
  int want = 2 + *has_bias + (*fa == FA_PRELU);
  if (n->nin != want)
    return bad(L, n, "%d inputs, but fused_ops need %d", n->nin, want);
  return FK_OK;
}

/* Bias (input 2) of a fused op with cout channels, or NULL. */
static int fused_bias(loader *L, const tnode *n, int has_bias, int cout, const float **b) {
  *b = NULL;
  if (!has_bias) return FK_OK;
  const tval *v = input(L, n, 2);
  if (v->t >= 0 || val_count(v) != (size_t)cout)
    return bad(L, n, "bias must be a constant of %d values", cout);
  *b = v->k;
  return FK_OK;
}

static nn_act graph_act(fused_act fa) {
  return fa == FA_RELU ? NN_ACT_RELU : fa == FA_RELU6 ? NN_ACT_RELU6 : NN_ACT_NONE;
}

/* Applies the activations that are ops of their own. */
static int finish_fused(loader *L, const tnode *n, fused_act fa, int t, int cout) {
  if (t < 0) return t;
  switch (fa) {
    case FA_PRELU: {
      const tval *a = input(L, n, 3);
      size_t c = val_count(a);
      if (a->t >= 0 || (c != 1 && c != (size_t)cout)) {
        bad(L, n, "PReLU alpha must be a constant of 1 or %d values", cout);
        return -1;
      }
      float *s = new_const(L, (size_t)cout);
      if (!s) return -1;
      for (int i = 0; i < cout; i++) s[i] = a->k[c == 1 ? 0 : i];
      return nn_prelu(L->g, t, s);
    }
    case FA_LEAKY:
      return nn_leaky_relu(L->g, t, attr_float(n, "leakyrelu_alpha", 0.2f));
    case FA_SIGMOID: return nn_unary(L->g, t, NN_UN_SIGMOID);
    case FA_TANH: return nn_unary(L->g, t, NN_UN_TANH);
    default: return t;
  }
}

/* strides/dilations/ksize [1, a, a, 1] -> a; 0 if not of that form. */
static int square_attr(loader *L, const tnode *n, const char *key, int dflt, int *v) {
  int a[8], k = attr_ints(n, key, a, 8);
  if (k < 0 && !attr(n, key)) {
    *v = dflt;
    return FK_OK;
  }
  if (k != 4 || a[0] != 1 || a[3] != 1 || a[1] != a[2] || a[1] <= 0)
    return bad(L, n, "unsupported %s (only [1, k, k, 1])", key);
  *v = a[1];
  return FK_OK;
}

/* padding and data_format shared by convs and pools. */
static int window_attrs(loader *L, const tnode *n, nn_padding *pad) {
  char s[16];
  if (!attr_str(n, "data_format", "NHWC", s, sizeof s) || strcmp(s, "NHWC"))
    return bad(L, n, "unsupported data_format (only NHWC)");
  if (!attr_str(n, "padding", "", s, sizeof s)) return bad(L, n, "malformed padding");
  if (!strcmp(s, "SAME")) *pad = NN_SAME;
  else if (!strcmp(s, "VALID")) *pad = NN_VALID;
  else return bad(L, n, "unsupported padding \"%s\" (SAME or VALID)", s);
  return FK_OK;
}

/* The data input 0 as a rank-4 tensor. */
static int image_input(loader *L, const tnode *n, const tval **x) {
  *x = input(L, n, 0);
  if ((*x)->t < 0) return bad(L, n, "folding this op over constants is not supported");
  if ((*x)->rank != 4) return bad(L, n, "input of rank %d (expected 4)", (*x)->rank);
  return FK_OK;
}

static int op_conv(loader *L, tnode *n) {
  int depthwise = strstr(n->op, "Depthwise") != NULL;
  int fused = n->op[0] == '_' || !strncmp(n->op, "Fused", 5);
  fused_act fa = FA_NONE;
  int has_bias = 0, rc;
  if (fused) rc = parse_fused(L, n, &fa, &has_bias);
  else rc = need_inputs(L, n, 2, 2);
  const tval *x, *w;
  int stride, dil;
  nn_padding pad;
  if (rc || (rc = image_input(L, n, &x)) || (rc = window_attrs(L, n, &pad)) ||
      (rc = square_attr(L, n, "strides", 1, &stride)) ||
      (rc = square_attr(L, n, "dilations", 1, &dil)))
    return rc;
  w = input(L, n, 1);
  if (w->t >= 0 || w->rank != 4) return bad(L, n, "filter must be a rank-4 constant");
  int kh = w->dims[0], kw = w->dims[1], cin = x->dims[3];
  if (w->dims[2] != cin)
    return bad(L, n, "filter has %d input channels, the input %d", w->dims[2], cin);
  if (depthwise && w->dims[3] != 1)
    return bad(L, n, "depth multiplier %d (only 1 supported)", w->dims[3]);
  int cout = depthwise ? cin : w->dims[3];
  const float *bias;
  if ((rc = fused_bias(L, n, has_bias, cout, &bias))) return rc;
  nn_act act = graph_act(fa);
  int t = depthwise
              ? nn_depthwise_dilated(L->g, x->t, w->k, bias, kh, kw, stride, dil, pad, act)
              : nn_conv2d_dilated(L->g, x->t, w->k, bias, kh, kw, cout, stride, dil, pad, act);
  t = finish_fused(L, n, fa, t, cout);
  if (t < 0) return nn_graph_status(L->g) ? bad(L, n, "%s", L->g->err) : FK_EMODEL;
  nn_shape s = L->g->shapes[t];
  int dims[4] = {1, s.h, s.w, s.c};
  return set_tensor(L, n, t, 4, dims);
}

static int op_matmul(loader *L, tnode *n) {
  int fused = n->op[0] == '_';
  fused_act fa = FA_NONE;
  int has_bias = 0, rc;
  if (fused) rc = parse_fused(L, n, &fa, &has_bias);
  else rc = need_inputs(L, n, 2, 2);
  if (rc) return rc;
  const tval *a = input(L, n, 0), *b = input(L, n, 1);
  if (attr_bool(n, "transpose_a")) return bad(L, n, "transpose_a is not supported");
  if (a->t < 0 || b->t >= 0)
    return bad(L, n, "only a tensor times a constant matrix is supported");
  if (a->rank != 2 || a->dims[0] != 1)
    return bad(L, n, "input must be [1, k] (rank %d)", a->rank);
  if (b->rank != 2) return bad(L, n, "weights must be a matrix");
  int tb = attr_bool(n, "transpose_b");
  int k = tb ? b->dims[1] : b->dims[0], cout = tb ? b->dims[0] : b->dims[1];
  if (k != a->dims[1]) return bad(L, n, "inner dimensions %d and %d differ", a->dims[1], k);
  const float *w = b->k;
  if (tb) { /* [cout][k] -> [k][cout] */
    float *t = new_const(L, val_count(b));
    if (!t) return seterr(L, FK_ENOMEM, "out of memory");
    for (int i = 0; i < k; i++)
      for (int o = 0; o < cout; o++) t[(size_t)i * cout + o] = b->k[(size_t)o * k + i];
    w = t;
  }
  const float *bias;
  if ((rc = fused_bias(L, n, has_bias, cout, &bias))) return rc;
  int t = nn_fc(L->g, a->t, w, bias, cout, graph_act(fa));
  t = finish_fused(L, n, fa, t, cout);
  if (t < 0) return nn_graph_status(L->g) ? bad(L, n, "%s", L->g->err) : FK_EMODEL;
  int dims[2] = {1, cout};
  return set_tensor(L, n, t, 2, dims);
}

static int op_pool(loader *L, tnode *n) {
  const tval *x;
  nn_padding pad;
  int k[8], stride, rc;
  if ((rc = need_inputs(L, n, 1, 1)) || (rc = image_input(L, n, &x)) ||
      (rc = window_attrs(L, n, &pad)) || (rc = square_attr(L, n, "strides", 1, &stride)))
    return rc;
  if (attr_ints(n, "ksize", k, 8) != 4 || k[0] != 1 || k[3] != 1)
    return bad(L, n, "unsupported ksize (only [1, kh, kw, 1])");
  int t = nn_pool2d(L->g, x->t, !strcmp(n->op, "MaxPool"), k[1], k[2], stride, pad);
  if (t < 0) return bad(L, n, "%s", L->g->err);
  nn_shape s = L->g->shapes[t];
  int dims[4] = {1, s.h, s.w, s.c};
  return set_tensor(L, n, t, 4, dims);
}

static int binary_kind(const char *op) {
  if (!strcmp(op, "Add") || !strcmp(op, "AddV2") || !strcmp(op, "BiasAdd")) return NN_BIN_ADD;
  if (!strcmp(op, "Sub")) return NN_BIN_SUB;
  if (!strcmp(op, "Mul")) return NN_BIN_MUL;
  if (!strcmp(op, "RealDiv")) return NN_BIN_DIV;
  if (!strcmp(op, "Maximum")) return NN_BIN_MAX;
  return NN_BIN_MIN;
}

/* All values of a constant equal: its one value in *v. */
static int uniform(const tval *c, float *v) {
  size_t n = val_count(c);
  if (n == 0) return 0;
  for (size_t i = 1; i < n; i++)
    if (c->k[i] != c->k[0]) return 0;
  *v = c->k[0];
  return 1;
}

static int op_binary(loader *L, tnode *n) {
  int rc = need_inputs(L, n, 2, 2);
  if (rc) return rc;
  int kind = binary_kind(n->op);
  const tval *a = input(L, n, 0), *b = input(L, n, 1);
  if (a->t < 0 && b->t < 0) return fold_binary(L, n, kind);
  int rank, dims[4];
  if (!tf_broadcast(a, b, &rank, dims)) return bad(L, n, "input shapes do not broadcast");
  if ((rc = check_tensor_dims(L, n, rank, dims))) return rc;
  int t;
  if (a->t >= 0 && b->t >= 0) {
    t = nn_binary(L->g, a->t, b->t, kind, NN_ACT_NONE);
  } else {
    const tval *x = a->t >= 0 ? a : b, *c = a->t >= 0 ? b : a;
    float v;
    if (c->rank > MAX_RANK || (c->rank == 4 && c->dims[0] != 1))
      return bad(L, n, "constant operand of unsupported shape");
    nn_shape cs = ir_shape(c->rank, c->dims);
    nn_shape xs = L->g->shapes[x->t];
    int keeps = same_shape(ir_shape(rank, dims), xs);
    if (keeps && (kind == NN_BIN_MAX || kind == NN_BIN_MIN) && uniform(c, &v))
      t = kind == NN_BIN_MAX ? nn_clamp(L->g, x->t, v, INFINITY)
                             : nn_clamp(L->g, x->t, -INFINITY, v);
    else
      t = nn_binary_const(L->g, x->t, kind, c->k, cs, c == a, NN_ACT_NONE);
  }
  if (t < 0) return bad(L, n, "%s", L->g->err);
  return set_tensor(L, n, t, rank, dims);
}

static int op_unary(loader *L, tnode *n) {
  int rc = need_inputs(L, n, 1, 1);
  if (rc) return rc;
  const tval *x = input(L, n, 0);
  if (x->t < 0) return fold_unary(L, n);
  const char *op = n->op;
  int t;
  if (!strcmp(op, "Relu")) t = nn_clamp(L->g, x->t, 0.0f, INFINITY);
  else if (!strcmp(op, "Relu6")) t = nn_clamp(L->g, x->t, 0.0f, 6.0f);
  else if (!strcmp(op, "Softmax")) t = nn_softmax(L->g, x->t);
  else {
    nn_unary_kind k = !strcmp(op, "Abs")       ? NN_UN_ABS
                      : !strcmp(op, "Square")  ? NN_UN_SQUARE
                      : !strcmp(op, "Rsqrt")   ? NN_UN_RSQRT
                      : !strcmp(op, "Sigmoid") ? NN_UN_SIGMOID
                                               : NN_UN_TANH;
    t = nn_unary(L->g, x->t, k);
  }
  if (t < 0) return bad(L, n, "%s", L->g->err);
  return set_tensor(L, n, t, x->rank, x->dims);
}

/* Graph axis of TF axis a (already >= 0) of a rank-r tensor; -1 = batch. */
static int graph_axis(int a, int rank) { return a + 3 - rank; }

static int norm_axis(loader *L, const tnode *n, int a, int rank, int *out) {
  if (a < -rank || a >= rank) return bad(L, n, "axis %d out of range for rank %d", a, rank);
  *out = a < 0 ? a + rank : a;
  return FK_OK;
}

static int op_reduce(loader *L, tnode *n) {
  int rc = need_inputs(L, n, 2, 2);
  if (rc) return rc;
  const tval *x = input(L, n, 0);
  if (x->t < 0) return bad(L, n, "folding this op over constants is not supported");
  int ax[8], na = const_ints(L, n, 1, ax, 8);
  if (na < 0) return na;
  int mask = 0, gone[4] = {0};
  for (int i = 0; i < na; i++) {
    int a = 0;
    if ((rc = norm_axis(L, n, ax[i], x->rank, &a))) return rc;
    gone[a] = 1;
    int g = graph_axis(a, x->rank);
    if (g >= 0) mask |= 1 << g;
  }
  int kind = !strcmp(n->op, "Sum") ? NN_RED_SUM : !strcmp(n->op, "Mean") ? NN_RED_MEAN
                                                                          : NN_RED_MAX;
  int keep = attr_bool(n, "keep_dims"), rank = 0, dims[4];
  for (int i = 0; i < x->rank; i++)
    if (!gone[i]) dims[rank++] = x->dims[i];
    else if (keep) dims[rank++] = 1;
  int t = mask ? nn_reduce(L->g, x->t, kind, mask) : x->t;
  if (t < 0) return bad(L, n, "%s", L->g->err);
  return set_tensor(L, n, t, rank, dims);
}

static int op_pad(loader *L, tnode *n) {
  int rc = need_inputs(L, n, 2, 2);
  if (rc) return rc;
  const tval *x = input(L, n, 0);
  if (x->t < 0) return bad(L, n, "folding this op over constants is not supported");
  int p[8], np = const_ints(L, n, 1, p, 8);
  if (np < 0) return np;
  if (np != 2 * x->rank) return bad(L, n, "paddings hold %d values, not %d", np, 2 * x->rank);
  int pads[6] = {0}, dims[4];
  for (int a = 0; a < x->rank; a++) {
    int g = graph_axis(a, x->rank);
    if (p[2 * a] < 0 || p[2 * a + 1] < 0 || p[2 * a] > (1 << 20) || p[2 * a + 1] > (1 << 20))
      return bad(L, n, "padding %d,%d is not supported", p[2 * a], p[2 * a + 1]);
    if (g < 0 && (p[2 * a] || p[2 * a + 1])) return bad(L, n, "padding the batch axis");
    if (g >= 0) {
      pads[2 * g] = p[2 * a];
      pads[2 * g + 1] = p[2 * a + 1];
    }
    dims[a] = x->dims[a] + p[2 * a] + p[2 * a + 1];
  }
  int t = nn_pad(L->g, x->t, pads);
  if (t < 0) return bad(L, n, "%s", L->g->err);
  return set_tensor(L, n, t, x->rank, dims);
}

/* Reshape, Squeeze, ExpandDims: new dims over the same values. */
static int reshaped(loader *L, tnode *n, const tval *x, int rank, const int *dims) {
  if (rank > MAX_RANK) return bad(L, n, "result rank %d (at most 4 supported)", rank);
  tval r = {.rank = rank, .t = -1};
  memcpy(r.dims, dims, (size_t)rank * sizeof *dims);
  if (val_count(&r) != val_count(x))
    return bad(L, n, "new shape holds %zu values, the input %zu", val_count(&r), val_count(x));
  if (x->t < 0) {
    r.k = x->k;
    n->v = r;
    return FK_OK;
  }
  return set_tensor(L, n, x->t, rank, dims);
}

static int op_reshape(loader *L, tnode *n) {
  int rc = need_inputs(L, n, 2, 2);
  if (rc) return rc;
  const tval *x = input(L, n, 0);
  int d[8], nd = const_ints(L, n, 1, d, 8), infer = -1;
  if (nd < 0) return nd;
  if (nd > MAX_RANK) return bad(L, n, "result rank %d (at most 4 supported)", nd);
  size_t known = 1, total = val_count(x);
  for (int i = 0; i < nd; i++) {
    if (d[i] == -1 && infer < 0) infer = i;
    else if (d[i] <= 0) return bad(L, n, "invalid dimension %d", d[i]);
    else known *= (size_t)d[i];
  }
  if (infer >= 0) {
    if (known == 0 || total % known) return bad(L, n, "cannot infer the -1 dimension");
    d[infer] = (int)(total / known);
  }
  return reshaped(L, n, x, nd, d);
}

static int op_squeeze(loader *L, tnode *n) {
  int rc = need_inputs(L, n, 1, 1);
  if (rc) return rc;
  const tval *x = input(L, n, 0);
  int sq[8], ns = attr_ints(n, "squeeze_dims", sq, 8), drop[4] = {0};
  if (ns < 0 && attr(n, "squeeze_dims")) return bad(L, n, "malformed squeeze_dims");
  for (int i = 0; i < ns; i++) {
    int a = 0;
    if ((rc = norm_axis(L, n, sq[i], x->rank, &a))) return rc;
    if (x->dims[a] != 1) return bad(L, n, "axis %d has size %d, not 1", a, x->dims[a]);
    drop[a] = 1;
  }
  int rank = 0, dims[4];
  for (int i = 0; i < x->rank; i++)
    if (!(ns > 0 ? drop[i] : x->dims[i] == 1)) dims[rank++] = x->dims[i];
  return reshaped(L, n, x, rank, dims);
}

static int op_expand_dims(loader *L, tnode *n) {
  int rc = need_inputs(L, n, 2, 2);
  if (rc) return rc;
  const tval *x = input(L, n, 0);
  int ax, na = const_ints(L, n, 1, &ax, 1), a = 0;
  if (na < 0) return na;
  if (na != 1) return bad(L, n, "axis must be one value");
  if (x->rank >= MAX_RANK) return bad(L, n, "result rank %d (at most 4 supported)", x->rank + 1);
  if ((rc = norm_axis(L, n, ax, x->rank + 1, &a))) return rc;
  int dims[4], k = 0;
  for (int i = 0; i <= x->rank; i++) dims[i] = i == a ? 1 : x->dims[k++];
  return reshaped(L, n, x, x->rank + 1, dims);
}

static int op_strided_slice(loader *L, tnode *n) {
  int rc = need_inputs(L, n, 4, 4);
  if (rc) return rc;
  const tval *x = input(L, n, 0);
  if (x->t < 0) return bad(L, n, "folding this op over constants is not supported");
  int b[8], e[8], s[8];
  int nb = const_ints(L, n, 1, b, 8), ne = const_ints(L, n, 2, e, 8);
  int ns = const_ints(L, n, 3, s, 8);
  if (nb < 0 || ne < 0 || ns < 0) return nb < 0 ? nb : ne < 0 ? ne : ns;
  if (nb != ne || nb != ns || nb > x->rank)
    return bad(L, n, "begin/end/strides hold %d/%d/%d values for rank %d", nb, ne, ns, x->rank);
  long long bm, em, sm, elm, nam;
  if (!attr_int(n, "begin_mask", 0, &bm) || !attr_int(n, "end_mask", 0, &em) ||
      !attr_int(n, "shrink_axis_mask", 0, &sm) || !attr_int(n, "ellipsis_mask", 0, &elm) ||
      !attr_int(n, "new_axis_mask", 0, &nam))
    return bad(L, n, "malformed mask attributes");
  if (elm || nam) return bad(L, n, "ellipsis_mask/new_axis_mask are not supported");
  int gb[3] = {0, 0, 0}, gs[3] = {1, 1, 1}, full[4], rank = 0, dims[4];
  for (int a = 0; a < x->rank; a++) {
    int dim = x->dims[a], st = a < nb ? s[a] : 1, lo, size;
    if (st == 0) return bad(L, n, "stride 0 on axis %d", a);
    if (a < nb && (sm >> a & 1)) {
      lo = b[a] < 0 ? b[a] + dim : b[a];
      if (lo < 0 || lo >= dim) return bad(L, n, "index %d out of range on axis %d", b[a], a);
      st = 1;
      size = 1;
    } else {
      /* TF's rules: masked ends run to the edge, negative ends count from
       * the back, and both clamp to the valid range for the direction. */
      long long bb = a >= nb || (bm >> a & 1) ? (st > 0 ? 0 : dim - 1) : b[a];
      long long ee = a >= nb || (em >> a & 1) ? (st > 0 ? dim : -1LL - dim) : e[a];
      if (bb < 0) bb += dim;
      if (ee < 0) ee += dim;
      long long mn = st > 0 ? 0 : -1, mx = st > 0 ? dim : dim - 1;
      bb = bb < mn ? mn : bb > mx ? mx : bb;
      ee = ee < mn ? mn : ee > mx ? mx : ee;
      long long span = st > 0 ? ee - bb : bb - ee, as = st > 0 ? st : -(long long)st;
      size = span <= 0 ? 0 : (int)((span + as - 1) / as);
      lo = (int)bb;
      if (size == 0) return bad(L, n, "empty slice on axis %d", a);
    }
    full[a] = size;
    if (!(a < nb && (sm >> a & 1))) dims[rank++] = size;
    int g = graph_axis(a, x->rank);
    if (g < 0) {
      if (size != 1) return bad(L, n, "slicing the batch axis");
    } else {
      gb[g] = lo;
      gs[g] = st;
    }
  }
  int t = nn_slice(L->g, x->t, gb, gs, ir_shape(x->rank, full));
  if (t < 0) return bad(L, n, "%s", L->g->err);
  return set_tensor(L, n, t, rank, dims);
}

static int op_concat(loader *L, tnode *n) {
  if (n->nin < 2) return bad(L, n, "needs at least one value and an axis");
  int ax, na = const_ints(L, n, n->nin - 1, &ax, 1), a = 0, rc;
  if (na < 0) return na;
  if (na != 1) return bad(L, n, "axis must be one value");
  const tval *x = input(L, n, 0);
  if ((rc = norm_axis(L, n, ax, x->rank, &a))) return rc;
  int dims[4];
  memcpy(dims, x->dims, sizeof dims);
  int t = x->t;
  if (t < 0) return bad(L, n, "concatenating constants is not supported");
  int g = graph_axis(a, x->rank);
  if (g < 0 && n->nin > 2) return bad(L, n, "concatenating along the batch axis");
  for (int i = 1; i < n->nin - 1; i++) {
    const tval *y = input(L, n, i);
    if (y->t < 0) return bad(L, n, "concatenating constants is not supported");
    if (y->rank != x->rank) return bad(L, n, "inputs of ranks %d and %d", x->rank, y->rank);
    for (int k = 0; k < x->rank; k++)
      if (k != a && y->dims[k] != x->dims[k]) return bad(L, n, "input %d: shapes differ", i);
    t = nn_concat(L->g, t, y->t, g);
    if (t < 0) return bad(L, n, "%s", L->g->err);
    dims[a] += y->dims[a]; /* the graph took the sum: no overflow */
  }
  return set_tensor(L, n, t, x->rank, dims);
}

typedef struct op_entry {
  const char *name;
  int (*fn)(loader *, tnode *);
} op_entry;

static const op_entry OPS[] = {
    {"Const", op_const},
    {"Placeholder", op_placeholder},
    {"Identity", op_identity},
    {"Conv2D", op_conv},
    {"_FusedConv2D", op_conv},
    {"DepthwiseConv2dNative", op_conv},
    {"FusedDepthwiseConv2dNative", op_conv},
    {"MatMul", op_matmul},
    {"_FusedMatMul", op_matmul},
    {"MaxPool", op_pool},
    {"AvgPool", op_pool},
    {"Add", op_binary},
    {"AddV2", op_binary},
    {"BiasAdd", op_binary},
    {"Sub", op_binary},
    {"Mul", op_binary},
    {"RealDiv", op_binary},
    {"Maximum", op_binary},
    {"Minimum", op_binary},
    {"Abs", op_unary},
    {"Square", op_unary},
    {"Rsqrt", op_unary},
    {"Relu", op_unary},
    {"Relu6", op_unary},
    {"Sigmoid", op_unary},
    {"Tanh", op_unary},
    {"Softmax", op_unary},
    {"Mean", op_reduce},
    {"Max", op_reduce},
    {"Sum", op_reduce},
    {"Pad", op_pad},
    {"Reshape", op_reshape},
    {"Squeeze", op_squeeze},
    {"ExpandDims", op_expand_dims},
    {"StridedSlice", op_strided_slice},
    {"ConcatV2", op_concat},
};

static int eval_node(loader *L, tnode *n) {
  for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
    if (!strcmp(n->op, OPS[i].name)) {
      const char *T = attr_type(n, "T");
      if (T && strcmp(T, "DT_FLOAT") && strcmp(n->op, "Identity"))
        return bad(L, n, "unsupported type %s (only DT_FLOAT)", T);
      if (strcmp(n->op, "Placeholder") && !L->g && n->nin > 0)
        return bad(L, n, "evaluated before the model input");
      return OPS[i].fn(L, n);
    }
  return seterr(L, FK_EMODEL, "model node %s: unsupported op %s", n->name, n->op);
}

/* Evaluates node root and everything it depends on, inputs first. */
static int eval_from(loader *L, int root, int *stack, int *pos) {
  int sp = 0;
  stack[sp] = root;
  pos[sp++] = 0;
  L->nodes[root].state = 1;
  while (sp > 0) {
    tnode *n = &L->nodes[stack[sp - 1]];
    if (pos[sp - 1] < n->nin) {
      int k = n->in[pos[sp - 1]++];
      tnode *m = &L->nodes[k];
      if (m->state == 1)
        return seterr(L, FK_EMODEL, "model node %s: the graph has a cycle through %s",
                      n->name, m->name);
      if (m->state == 0) {
        m->state = 1;
        stack[sp] = k;
        pos[sp++] = 0;
      }
      continue;
    }
    /* Placeholders first: the graph must exist before any op. */
    int rc = eval_node(L, n);
    if (rc != FK_OK) return rc;
    if (L->g && nn_graph_status(L->g) != FK_OK) return bad(L, n, "%s", L->g->err);
    n->state = 2;
    sp--;
  }
  return FK_OK;
}

/* ---- loading ------------------------------------------------------------------ */

/* Reads model.json through fs: text without NUL bytes. */
static int read_text(loader *L, const nn_files *fs, const char *name, const char *path,
                     char **out) {
  size_t n;
  int rc = fs->read(fs, name, out, &n);
  if (rc == FK_ENOENT) return seterr(L, rc, "cannot open %s", path);
  if (rc == FK_EIO) return seterr(L, rc, "cannot read %s", path);
  if (rc != FK_OK) return seterr(L, rc, "%s: out of memory or too large", path);
  if (strlen(*out) != n) {
    free(*out);
    *out = NULL;
    return seterr(L, FK_EMODEL, "%s is not valid JSON", path);
  }
  return FK_OK;
}

/* The output nodes: named ones, or the nodes nothing consumes. */
static int pick_outputs(loader *L, const char *const *names, int nnames, int **out, int *nout) {
  *out = malloc(((size_t)(nnames > 0 ? nnames : L->n) + 1) * sizeof **out);
  *nout = 0;
  if (!*out) return seterr(L, FK_ENOMEM, "out of memory");
  if (nnames > 0) {
    for (int i = 0; i < nnames; i++) {
      tnode dummy = {.name = "(outputs)", .op = "-"};
      int ctl;
      int k = names[i] ? resolve(L, &dummy, names[i], &ctl) : bad(L, &dummy, "NULL name");
      if (k < 0) return k;
      (*out)[(*nout)++] = k;
    }
    return FK_OK;
  }
  char *used = calloc((size_t)L->n, 1);
  if (!used) return seterr(L, FK_ENOMEM, "out of memory");
  for (int k = 0; k < L->n; k++)
    for (int i = 0; i < L->nodes[k].nin; i++) used[L->nodes[k].in[i]] = 1;
  for (int k = 0; k < L->n; k++)
    if (!used[k] && strcmp(L->nodes[k].op, "Const")) (*out)[(*nout)++] = k;
  free(used);
  if (*nout == 0) return seterr(L, FK_EMODEL, "model.json: the graph has no outputs");
  return FK_OK;
}

static int load(loader *L, const nn_files *fs, const char *name, const char *path,
                const char *const *names, int nnames) {
  char *text;
  int rc = read_text(L, fs, name, path, &text);
  if (rc != FK_OK) return rc;
  cJSON *root = cJSON_Parse(text);
  free(text);
  if (!root) return seterr(L, FK_EMODEL, "%s is not valid JSON", path);
  const cJSON *topo = cJSON_GetObjectItemCaseSensitive(root, "modelTopology");
  const cJSON *jnodes = cJSON_GetObjectItemCaseSensitive(topo, "node");
  const cJSON *man = cJSON_GetObjectItemCaseSensitive(root, "weightsManifest");
  int *outs = NULL, nout = 0, *stack = NULL, *pos = NULL;
  if (!cJSON_IsArray(jnodes) || !cJSON_IsArray(man)) {
    rc = seterr(L, FK_EMODEL, "%s: not a TFJS graph model (no modelTopology.node or "
                "weightsManifest)", path);
    goto done;
  }
  rc = nn_weights_load_cjson(man, fs, &L->w, L->err, L->errlen);
  if (rc != FK_OK) goto done;
  if ((rc = index_nodes(L, jnodes)) != FK_OK) goto done;
  if ((rc = pick_outputs(L, names, nnames, &outs, &nout)) != FK_OK) goto done;
  stack = malloc((size_t)L->n * sizeof *stack);
  pos = malloc((size_t)L->n * sizeof *pos);
  if (!stack || !pos) {
    rc = seterr(L, FK_ENOMEM, "out of memory");
    goto done;
  }
  /* The input first, so that every op finds the graph. */
  for (int k = 0; k < L->n && rc == FK_OK; k++)
    if (!strcmp(L->nodes[k].op, "Placeholder")) rc = eval_from(L, k, stack, pos);
  if (rc == FK_OK && !L->g) rc = seterr(L, FK_EMODEL, "model.json: no Placeholder input");
  for (int i = 0; i < nout && rc == FK_OK; i++)
    if (L->nodes[outs[i]].state != 2) rc = eval_from(L, outs[i], stack, pos);
  for (int i = 0; i < nout && rc == FK_OK; i++) {
    const tnode *o = &L->nodes[outs[i]];
    if (o->v.t < 0) rc = bad(L, o, "an output is a constant");
    else nn_mark_output(L->g, o->v.t);
  }
  if (rc == FK_OK && nn_graph_status(L->g) != FK_OK)
    rc = seterr(L, FK_EMODEL, "model: %s", L->g->err);
  if (rc == FK_OK) rc = nn_graph_fuse(L->g);
  if (rc == FK_ENOMEM) seterr(L, rc, "out of memory");
done:
  free(stack);
  free(pos);
  free(outs);
  cJSON_Delete(root);
  return rc;
}

int nn_tfgraph_load_files(const nn_files *fs, const char *name, const char *const *outputs,
                          int noutputs, nn_graph **out, char *err, size_t errlen) {
  loader L = {.err = err, .errlen = errlen};
  if (err && errlen) err[0] = '\0';
  if (!out || !fs || !name || noutputs < 0 || (noutputs > 0 && !outputs))
    return seterr(&L, FK_EINVAL, "nn_tfgraph_load: invalid arguments");
  *out = NULL;
  char *path = nn_files_path(fs, name);
  int rc = path ? load(&L, fs, name, path, outputs, noutputs)
                : seterr(&L, FK_ENOMEM, "out of memory");
  free(path);
  for (int i = 0; i < L.n; i++) free(L.nodes[i].in);
  free(L.nodes);
  free(L.slots);
  for (int i = 0; i < L.nowned; i++) free(L.owned[i]);
  free(L.owned);
  nn_weights_free(&L.w);
  if (rc != FK_OK) {
    nn_graph_free(L.g);
    return rc;
  }
  *out = L.g;
  return FK_OK;
}

int nn_tfgraph_load(const char *json_path, const char *const *outputs, int noutputs,
                    nn_graph **out, char *err, size_t errlen) {
  /* The shards live next to model.json. */
  char *dir = NULL;
  const char *base = NULL;
  if (json_path && nn_files_split(json_path, &dir, &base) != FK_OK) {
    loader L = {.err = err, .errlen = errlen};
    if (out) *out = NULL;
    return seterr(&L, FK_ENOMEM, "out of memory");
  }
  nn_files fs = nn_files_dir(dir);
  int rc = nn_tfgraph_load_files(json_path ? &fs : NULL, base, outputs, noutputs, out, err,
                                 errlen);
  free(dir);
  return rc;
}
