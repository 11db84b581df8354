/*
 * tfgraph.c - the TFJS graph-model reader (tfgraph.h): model.json's GraphDef
 * nodes become nn_graph ops (nn.h), its weightsManifest the constants.
 *
 * The format-independent work (the dependency-ordered walk, values,
 * folding, broadcasting, the shared ops) is the import layer's (import.h);
 * this file parses model.json, reads TF attributes and maps TF ops onto it.
 * TF tensors are NHWC already, so every value is stored row-major: TF axis
 * a of a rank-r tensor is graph axis a + 3 - r, the batch axis of a rank-4
 * tensor is -1.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"
#include "nn/files.h"
#include "nn/import.h"
#include "nn/weights.h"

#define MAX_RANK IMP_MAX_RANK

/* The reader's state beside the import context. */
typedef struct tf_reader {
  nn_weights w;
} tf_reader;

#define bad imp_bad

static const cJSON *node_json(const imp_node *n) { return n->src; }

/* ---- names ------------------------------------------------------------------ */

/* Resolves an input reference "name", "name:0" or "^name" (control); *ctl
 * says which. Output indices other than 0 are errors (no supported op has
 * two outputs). Returns the node index or a negative FK_ status. */
static int resolve(imp_ctx *c, const imp_node *n, const char *ref, int *ctl) {
  *ctl = ref[0] == '^';
  const char *s = ref + *ctl;
  size_t len = strlen(s);
  const char *colon = strrchr(s, ':');
  if (colon) {
    char *end;
    errno = 0;
    long k = strtol(colon + 1, &end, 10);
    if (colon[1] && !*end && !errno) {
      if (k != 0) return bad(c, n, "input %s: only output 0 of a node is supported", ref);
      len = (size_t)(colon - s);
    }
  }
  int k = imp_find(c, s, len);
  if (k < 0) return bad(c, n, "input %s names no node in the model", ref);
  return k;
}

static int index_nodes(imp_ctx *c, const cJSON *jnodes) {
  int count = cJSON_GetArraySize(jnodes);
  if (count <= 0) return imp_seterr(c, FK_EMODEL, "model.json: modelTopology.node is empty");
  int rc = imp_init(c, count);
  if (rc != FK_OK) return rc;
  const cJSON *j;
  cJSON_ArrayForEach(j, jnodes) {
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(j, "name");
    const cJSON *op = cJSON_GetObjectItemCaseSensitive(j, "op");
    if (!cJSON_IsString(name) || !name->valuestring[0] || !cJSON_IsString(op))
      return imp_seterr(c, FK_EMODEL, "model.json: node %d has no name or op", c->n);
    int k = imp_add(c, name->valuestring, NULL, op->valuestring, j, 0);
    if (k < 0) return k;
  }
  /* Inputs, once every name is known. */
  for (int k = 0; k < c->n; k++) {
    imp_node *t = &c->nodes[k];
    const cJSON *ins = cJSON_GetObjectItemCaseSensitive(node_json(t), "input");
    if (!ins) continue;
    if (!cJSON_IsArray(ins)) return bad(c, t, "input is not a list");
    t->in = malloc(((size_t)cJSON_GetArraySize(ins) + 1) * sizeof *t->in);
    if (!t->in) return imp_seterr(c, FK_ENOMEM, "out of memory");
    const cJSON *r;
    cJSON_ArrayForEach(r, ins) {
      if (!cJSON_IsString(r)) return bad(c, t, "an input is not a string");
      int ctl, src = resolve(c, t, r->valuestring, &ctl);
      if (src < 0) return src;
      if (!ctl) t->in[t->nin++] = src;
    }
  }
  return FK_OK;
}

/* ---- attributes ------------------------------------------------------------- */

static const cJSON *attr(const imp_node *n, const char *key) {
  return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(node_json(n), "attr"),
                                          key);
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
static int attr_ints(const imp_node *n, const char *key, int *out, int max) {
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
static int attr_int(const imp_node *n, const char *key, long long dflt, long long *out) {
  const cJSON *a = attr(n, key);
  *out = dflt;
  if (!a) return 1;
  const cJSON *i = cJSON_GetObjectItemCaseSensitive(a, "i");
  if (!i) return 1; /* proto3 default 0 is written as {} */
  return json_int(i, out);
}

static int attr_bool(const imp_node *n, const char *key) {
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(attr(n, key), "b");
  return cJSON_IsTrue(b);
}

static float attr_float(const imp_node *n, const char *key, float dflt) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(attr(n, key), "f");
  return cJSON_IsNumber(f) ? (float)f->valuedouble : dflt;
}

static const char *attr_type(const imp_node *n, const char *key) {
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
static int attr_str(const imp_node *n, const char *key, const char *dflt, char *buf, size_t cap) {
  const cJSON *s = cJSON_GetObjectItemCaseSensitive(attr(n, key), "s");
  if (!s) {
    snprintf(buf, cap, "%s", dflt);
    return 1;
  }
  return cJSON_IsString(s) && unbase64(s->valuestring, buf, cap);
}

/* ---- ops -------------------------------------------------------------------- */

static int op_const(imp_ctx *c, imp_node *n) {
  const tf_reader *R = c->user;
  const char *dt = attr_type(n, "dtype");
  if (dt && strcmp(dt, "DT_FLOAT") && strcmp(dt, "DT_INT32"))
    return bad(c, n, "unsupported dtype %s", dt);
  const nn_weight *w = nn_weights_find(&R->w, n->name);
  if (!w) return bad(c, n, "no weight of this name in the weights manifest");
  if (w->ndim > MAX_RANK) return bad(c, n, "rank %d (at most 4 supported)", w->ndim);
  int dims[MAX_RANK];
  for (int i = 0; i < w->ndim; i++) dims[i] = w->shape[i];
  return imp_set_const(c, n, w->ndim, dims, w->data);
}

static int op_placeholder(imp_ctx *c, imp_node *n) {
  const char *dt = attr_type(n, "dtype");
  if (dt && strcmp(dt, "DT_FLOAT")) return bad(c, n, "input dtype %s (only DT_FLOAT)", dt);
  const cJSON *sh = cJSON_GetObjectItemCaseSensitive(attr(n, "shape"), "shape");
  const cJSON *dim = cJSON_GetObjectItemCaseSensitive(sh, "dim");
  if (!cJSON_IsArray(dim)) return bad(c, n, "the input has no static shape");
  int rank = cJSON_GetArraySize(dim), dims[4];
  if (rank < 1 || rank > MAX_RANK) return bad(c, n, "input rank %d (1..4 supported)", rank);
  int i = 0;
  const cJSON *d;
  cJSON_ArrayForEach(d, dim) {
    long long v;
    if (!json_int(cJSON_GetObjectItemCaseSensitive(d, "size"), &v))
      return bad(c, n, "input dimension %d is not a number", i);
    if (v == -1 && i == 0 && rank == 4) v = 1;
    if (v <= 0 || v > (1 << 20)) return bad(c, n, "input dimension %d is %lld", i, v);
    dims[i++] = (int)v;
  }
  return imp_set_input(c, n, rank, dims, IMP_ROWMAJOR);
}

static int op_identity(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 1);
  if (rc == FK_OK) n->v = *imp_input(c, n, 0);
  return rc;
}

/* The activation after BiasAdd in fused_ops, as a graph act and/or an extra
 * op applied by finish_fused(). */
typedef enum { FA_NONE, FA_RELU, FA_RELU6, FA_PRELU, FA_LEAKY, FA_SIGMOID, FA_TANH } fused_act;

static int parse_fused(imp_ctx *c, const imp_node *n, fused_act *fa, int *has_bias) {
  *fa = FA_NONE;
  *has_bias = 0;
  const cJSON *l = cJSON_GetObjectItemCaseSensitive(attr(n, "fused_ops"), "list");
  const cJSON *ss = cJSON_GetObjectItemCaseSensitive(l, "s");
  /* No fused_ops at all is a plain op: its inputs are still counted below. */
  if (ss && !cJSON_IsArray(ss)) return bad(c, n, "malformed fused_ops");
  int k = 0;
  const cJSON *s;
  cJSON_ArrayForEach(s, ss) {
    char name[32];
    if (!cJSON_IsString(s) || !unbase64(s->valuestring, name, sizeof name))
      return bad(c, n, "malformed fused_ops");
    if (k == 0 && !strcmp(name, "BiasAdd")) *has_bias = 1;
    else if (k == 1 && *has_bias && !strcmp(name, "Relu")) *fa = FA_RELU;
    else if (k == 1 && *has_bias && !strcmp(name, "Relu6")) *fa = FA_RELU6;
    else if (k == 1 && *has_bias && !strcmp(name, "Prelu")) *fa = FA_PRELU;
    else if (k == 1 && *has_bias && !strcmp(name, "LeakyRelu")) *fa = FA_LEAKY;
    else if (k == 1 && *has_bias && !strcmp(name, "Sigmoid")) *fa = FA_SIGMOID;
    else if (k == 1 && *has_bias && !strcmp(name, "Tanh")) *fa = FA_TANH;
    else return bad(c, n, "unsupported fused op %s at position %d", name, k);
    k++;
  }
  int want = 2 + *has_bias + (*fa == FA_PRELU);
  if (n->nin != want) return bad(c, n, "%d inputs, but fused_ops need %d", n->nin, want);
  return FK_OK;
}

/* Bias (input 2) of a fused op with cout channels, or NULL. */
static int fused_bias(imp_ctx *c, const imp_node *n, int has_bias, int cout, const float **b) {
  *b = NULL;
  if (!has_bias) return FK_OK;
  const imp_val *v = imp_input(c, n, 2);
  if (v->t >= 0 || imp_count(v) != (size_t)cout)
    return bad(c, n, "bias must be a constant of %d values", cout);
  *b = v->k;
  return FK_OK;
}

static nn_act graph_act(fused_act fa) {
  return fa == FA_RELU ? NN_ACT_RELU : fa == FA_RELU6 ? NN_ACT_RELU6 : NN_ACT_NONE;
}

/* Applies the activations that are ops of their own. */
static int finish_fused(imp_ctx *c, const imp_node *n, fused_act fa, int t, int cout) {
  if (t < 0) return t;
  switch (fa) {
    case FA_PRELU: {
      const imp_val *a = imp_input(c, n, 3);
      size_t k = imp_count(a);
      if (a->t >= 0 || (k != 1 && k != (size_t)cout)) {
        bad(c, n, "PReLU alpha must be a constant of 1 or %d values", cout);
        return -1;
      }
      float *s = imp_new_const(c, (size_t)cout);
      if (!s) return -1;
      for (int i = 0; i < cout; i++) s[i] = a->k[k == 1 ? 0 : i];
      return nn_prelu(c->g, t, s);
    }
    case FA_LEAKY:
      return nn_leaky_relu(c->g, t, attr_float(n, "leakyrelu_alpha", 0.2f));
    case FA_SIGMOID: return nn_unary(c->g, t, NN_UN_SIGMOID);
    case FA_TANH: return nn_unary(c->g, t, NN_UN_TANH);
    default: return t;
  }
}

/* strides/dilations/ksize [1, a, a, 1] -> a; 0 if not of that form. */
static int square_attr(imp_ctx *c, const imp_node *n, const char *key, int dflt, int *v) {
  int a[8], k = attr_ints(n, key, a, 8);
  if (k < 0 && !attr(n, key)) {
    *v = dflt;
    return FK_OK;
  }
  if (k != 4 || a[0] != 1 || a[3] != 1 || a[1] != a[2] || a[1] <= 0)
    return bad(c, n, "unsupported %s (only [1, k, k, 1])", key);
  *v = a[1];
  return FK_OK;
}

/* padding and data_format shared by convs and pools. */
static int window_attrs(imp_ctx *c, const imp_node *n, nn_padding *pad) {
  char s[16];
  if (!attr_str(n, "data_format", "NHWC", s, sizeof s) || strcmp(s, "NHWC"))
    return bad(c, n, "unsupported data_format (only NHWC)");
  if (!attr_str(n, "padding", "", s, sizeof s)) return bad(c, n, "malformed padding");
  if (!strcmp(s, "SAME")) *pad = NN_SAME;
  else if (!strcmp(s, "VALID")) *pad = NN_VALID;
  else return bad(c, n, "unsupported padding \"%s\" (SAME or VALID)", s);
  return FK_OK;
}

/* The data input 0 as a rank-4 tensor. */
static int image_input(imp_ctx *c, const imp_node *n, const imp_val **x) {
  *x = imp_input(c, n, 0);
  if ((*x)->t < 0) return bad(c, n, "folding this op over constants is not supported");
  if ((*x)->rank != 4) return bad(c, n, "input of rank %d (expected 4)", (*x)->rank);
  return FK_OK;
}

/* n's value: the rank-4 NHWC tensor t. */
static int set_image(imp_ctx *c, imp_node *n, int t) {
  if (t < 0) return nn_graph_status(c->g) ? imp_graph_err(c, n) : FK_EMODEL;
  nn_shape s = c->g->shapes[t];
  int dims[4] = {1, s.h, s.w, s.c};
  return imp_set_tensor(c, n, t, 4, dims, IMP_ROWMAJOR);
}

static int op_conv(imp_ctx *c, imp_node *n) {
  int depthwise = strstr(n->op, "Depthwise") != NULL;
  int fused = n->op[0] == '_' || !strncmp(n->op, "Fused", 5);
  fused_act fa = FA_NONE;
  int has_bias = 0, rc;
  if (fused) rc = parse_fused(c, n, &fa, &has_bias);
  else rc = imp_need_inputs(c, n, 2, 2);
  const imp_val *x, *w;
  int stride, dil;
  nn_padding pad;
  if (rc || (rc = image_input(c, n, &x)) || (rc = window_attrs(c, n, &pad)) ||
      (rc = square_attr(c, n, "strides", 1, &stride)) ||
      (rc = square_attr(c, n, "dilations", 1, &dil)))
    return rc;
  w = imp_input(c, n, 1);
  if (w->t >= 0 || w->rank != 4) return bad(c, n, "filter must be a rank-4 constant");
  int kh = w->dims[0], kw = w->dims[1], cin = x->dims[3];
  if (w->dims[2] != cin)
    return bad(c, n, "filter has %d input channels, the input %d", w->dims[2], cin);
  if (depthwise && w->dims[3] != 1)
    return bad(c, n, "depth multiplier %d (only 1 supported)", w->dims[3]);
  int cout = depthwise ? cin : w->dims[3];
  const float *bias;
  if ((rc = fused_bias(c, n, has_bias, cout, &bias))) return rc;
  nn_act act = graph_act(fa);
  int t = depthwise
              ? nn_depthwise_dilated(c->g, x->t, w->k, bias, kh, kw, stride, dil, pad, act)
              : nn_conv2d_dilated(c->g, x->t, w->k, bias, kh, kw, cout, stride, dil, pad, act);
  return set_image(c, n, finish_fused(c, n, fa, t, cout));
}

static int op_matmul(imp_ctx *c, imp_node *n) {
  int fused = n->op[0] == '_';
  fused_act fa = FA_NONE;
  int has_bias = 0, rc;
  if (fused) rc = parse_fused(c, n, &fa, &has_bias);
  else rc = imp_need_inputs(c, n, 2, 2);
  if (rc) return rc;
  const imp_val *a = imp_input(c, n, 0), *b = imp_input(c, n, 1);
  if (attr_bool(n, "transpose_a")) return bad(c, n, "transpose_a is not supported");
  if (a->t < 0 || b->t >= 0)
    return bad(c, n, "only a tensor times a constant matrix is supported");
  if (a->rank != 2 || a->dims[0] != 1)
    return bad(c, n, "input must be [1, k] (rank %d)", a->rank);
  if (b->rank != 2) return bad(c, n, "weights must be a matrix");
  int tb = attr_bool(n, "transpose_b");
  int k = tb ? b->dims[1] : b->dims[0], cout = tb ? b->dims[0] : b->dims[1];
  if (k != a->dims[1]) return bad(c, n, "inner dimensions %d and %d differ", a->dims[1], k);
  const float *w = b->k;
  if (tb) { /* [cout][k] -> [k][cout] */
    float *t = imp_new_const(c, imp_count(b));
    if (!t) return FK_ENOMEM;
    for (int i = 0; i < k; i++)
      for (int o = 0; o < cout; o++) t[(size_t)i * cout + o] = b->k[(size_t)o * k + i];
    w = t;
  }
  const float *bias;
  if ((rc = fused_bias(c, n, has_bias, cout, &bias))) return rc;
  if (fa == FA_NONE || fa == FA_RELU || fa == FA_RELU6)
    return imp_fc(c, n, a, w, bias, cout, graph_act(fa));
  int t = finish_fused(c, n, fa, nn_fc(c->g, a->t, w, bias, cout, NN_ACT_NONE), cout);
  if (t < 0) return nn_graph_status(c->g) ? imp_graph_err(c, n) : FK_EMODEL;
  int dims[2] = {1, cout};
  return imp_set_tensor(c, n, t, 2, dims, IMP_ROWMAJOR);
}

static int op_pool(imp_ctx *c, imp_node *n) {
  const imp_val *x;
  nn_padding pad;
  int k[8], stride, rc;
  if ((rc = imp_need_inputs(c, n, 1, 1)) || (rc = image_input(c, n, &x)) ||
      (rc = window_attrs(c, n, &pad)) || (rc = square_attr(c, n, "strides", 1, &stride)))
    return rc;
  if (attr_ints(n, "ksize", k, 8) != 4 || k[0] != 1 || k[3] != 1)
    return bad(c, n, "unsupported ksize (only [1, kh, kw, 1])");
  return set_image(c, n, nn_pool2d(c->g, x->t, !strcmp(n->op, "MaxPool"), k[1], k[2], stride, pad));
}

static int op_binary(imp_ctx *c, imp_node *n) {
  const char *op = n->op;
  nn_binary_kind kind = !strcmp(op, "Add") || !strcmp(op, "AddV2") || !strcmp(op, "BiasAdd")
                            ? NN_BIN_ADD
                        : !strcmp(op, "Sub")     ? NN_BIN_SUB
                        : !strcmp(op, "Mul")     ? NN_BIN_MUL
                        : !strcmp(op, "RealDiv") ? NN_BIN_DIV
                        : !strcmp(op, "Maximum") ? NN_BIN_MAX
                                                 : NN_BIN_MIN;
  return imp_binary(c, n, kind);
}

static int op_unary(imp_ctx *c, imp_node *n) {
  static const struct { const char *op; imp_unary_kind kind; } map[] = {
      {"Abs", IMP_UN_ABS},         {"Square", IMP_UN_SQUARE}, {"Rsqrt", IMP_UN_RSQRT},
      {"Sigmoid", IMP_UN_SIGMOID}, {"Tanh", IMP_UN_TANH},     {"Relu", IMP_UN_RELU},
      {"Relu6", IMP_UN_RELU6},
  };
  int rc = imp_need_inputs(c, n, 1, 1);
  if (rc) return rc;
  if (!strcmp(n->op, "Softmax")) {
    const imp_val *x = imp_input(c, n, 0);
    return imp_softmax(c, n, x, x->rank - 1);
  }
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(n->op, map[i].op)) return imp_unary(c, n, map[i].kind);
  return bad(c, n, "internal: no unary mapping");
}

/* TF axis values of constant input i (normalized) as a bit mask. */
static int axis_mask(imp_ctx *c, const imp_node *n, int i, int rank, int *mask) {
  int ax[8], na = imp_const_ints(c, n, i, ax, 8, 0), rc;
  if (na < 0) return na;
  *mask = 0;
  for (int k = 0; k < na; k++) {
    int a = 0;
    if ((rc = imp_norm_axis(c, n, ax[k], rank, &a))) return rc;
    *mask |= 1 << a;
  }
  return FK_OK;
}

static int op_reduce(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 2, 2), mask;
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  if (x->t < 0) return bad(c, n, "folding this op over constants is not supported");
  if ((rc = axis_mask(c, n, 1, x->rank, &mask))) return rc;
  nn_reduce_kind kind = !strcmp(n->op, "Sum")    ? NN_RED_SUM
                        : !strcmp(n->op, "Mean") ? NN_RED_MEAN
                                                 : NN_RED_MAX;
  return imp_reduce(c, n, x, kind, mask, attr_bool(n, "keep_dims"));
}

static int op_pad(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 2, 2);
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  if (x->t < 0) return bad(c, n, "folding this op over constants is not supported");
  int p[8], np = imp_const_ints(c, n, 1, p, 8, 0);
  if (np < 0) return np;
  if (np != 2 * x->rank) return bad(c, n, "paddings hold %d values, not %d", np, 2 * x->rank);
  return imp_pad(c, n, x, p);
}

static int op_reshape(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 2, 2);
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  int d[8], nd = imp_const_ints(c, n, 1, d, 8, 0), infer = -1;
  if (nd < 0) return nd;
  if (nd > MAX_RANK) return bad(c, n, "result rank %d (at most 4 supported)", nd);
  size_t known = 1, total = imp_count(x);
  for (int i = 0; i < nd; i++) {
    if (d[i] == -1 && infer < 0) infer = i;
    else if (d[i] <= 0) return bad(c, n, "invalid dimension %d", d[i]);
    else known *= (size_t)d[i];
  }
  if (infer >= 0) {
    if (known == 0 || total % known) return bad(c, n, "cannot infer the -1 dimension");
    d[infer] = (int)(total / known);
  }
  return imp_reshape(c, n, x, nd, d);
}

static int op_squeeze(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 1);
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  int sq[8], ns = attr_ints(n, "squeeze_dims", sq, 8), drop[4] = {0};
  if (ns < 0 && attr(n, "squeeze_dims")) return bad(c, n, "malformed squeeze_dims");
  for (int i = 0; i < ns; i++) {
    int a = 0;
    if ((rc = imp_norm_axis(c, n, sq[i], x->rank, &a))) return rc;
    if (x->dims[a] != 1) return bad(c, n, "axis %d has size %d, not 1", a, x->dims[a]);
    drop[a] = 1;
  }
  int rank = 0, dims[4];
  for (int i = 0; i < x->rank; i++)
    if (!(ns > 0 ? drop[i] : x->dims[i] == 1)) dims[rank++] = x->dims[i];
  return imp_reshape(c, n, x, rank, dims);
}

static int op_expand_dims(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 2, 2);
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  int ax, na = imp_const_ints(c, n, 1, &ax, 1, 0), a = 0;
  if (na < 0) return na;
  if (na != 1) return bad(c, n, "axis must be one value");
  if (x->rank >= MAX_RANK) return bad(c, n, "result rank %d (at most 4 supported)", x->rank + 1);
  if ((rc = imp_norm_axis(c, n, ax, x->rank + 1, &a))) return rc;
  int dims[4], k = 0;
  for (int i = 0; i <= x->rank; i++) dims[i] = i == a ? 1 : x->dims[k++];
  return imp_reshape(c, n, x, x->rank + 1, dims);
}

static int op_strided_slice(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 4, 4);
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  if (x->t < 0) return bad(c, n, "folding this op over constants is not supported");
  int b[8], e[8], s[8];
  int nb = imp_const_ints(c, n, 1, b, 8, 0), ne = imp_const_ints(c, n, 2, e, 8, 0);
  int ns = imp_const_ints(c, n, 3, s, 8, 0);
  if (nb < 0 || ne < 0 || ns < 0) return nb < 0 ? nb : ne < 0 ? ne : ns;
  if (nb != ne || nb != ns || nb > x->rank)
    return bad(c, n, "begin/end/strides hold %d/%d/%d values for rank %d", nb, ne, ns, x->rank);
  long long bm, em, sm, elm, nam;
  if (!attr_int(n, "begin_mask", 0, &bm) || !attr_int(n, "end_mask", 0, &em) ||
      !attr_int(n, "shrink_axis_mask", 0, &sm) || !attr_int(n, "ellipsis_mask", 0, &elm) ||
      !attr_int(n, "new_axis_mask", 0, &nam))
    return bad(c, n, "malformed mask attributes");
  if (elm || nam) return bad(c, n, "ellipsis_mask/new_axis_mask are not supported");
  int begin[4], step[4], size[4], rank = 0, dims[4];
  for (int a = 0; a < x->rank; a++) {
    int dim = x->dims[a], st = a < nb ? s[a] : 1, lo, sz;
    if (st == 0) return bad(c, n, "stride 0 on axis %d", a);
    if (a < nb && (sm >> a & 1)) {
      lo = b[a] < 0 ? b[a] + dim : b[a];
      if (lo < 0 || lo >= dim) return bad(c, n, "index %d out of range on axis %d", b[a], a);
      st = 1;
      sz = 1;
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
      sz = span <= 0 ? 0 : (int)((span + as - 1) / as);
      lo = (int)bb;
      if (sz == 0) return bad(c, n, "empty slice on axis %d", a);
    }
    begin[a] = lo;
    step[a] = st;
    size[a] = sz;
    if (!(a < nb && (sm >> a & 1))) dims[rank++] = sz;
  }
  return imp_slice(c, n, x, begin, step, size, rank, dims);
}

static int op_concat(imp_ctx *c, imp_node *n) {
  if (n->nin < 2) return bad(c, n, "needs at least one value and an axis");
  int ax, na = imp_const_ints(c, n, n->nin - 1, &ax, 1, 0), a = 0, rc;
  if (na < 0) return na;
  if (na != 1) return bad(c, n, "axis must be one value");
  const imp_val *x = imp_input(c, n, 0);
  if ((rc = imp_norm_axis(c, n, ax, x->rank, &a))) return rc;
  for (int i = 0; i < n->nin - 1; i++)
    if (imp_input(c, n, i)->t < 0) return bad(c, n, "concatenating constants is not supported");
  return imp_concat(c, n, 0, n->nin - 1, a);
}

typedef struct op_entry {
  const char *name;
  int (*fn)(imp_ctx *, imp_node *);
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

static int eval_node(imp_ctx *c, imp_node *n) {
  for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
    if (!strcmp(n->op, OPS[i].name)) {
      const char *T = attr_type(n, "T");
      if (T && strcmp(T, "DT_FLOAT") && strcmp(n->op, "Identity"))
        return bad(c, n, "unsupported type %s (only DT_FLOAT)", T);
      if (strcmp(n->op, "Placeholder") && !c->g && n->nin > 0)
        return bad(c, n, "evaluated before the model input");
      return OPS[i].fn(c, n);
    }
  return imp_seterr(c, FK_EMODEL, "model node %s: unsupported op %s", n->label, n->op);
}

/* ---- loading ------------------------------------------------------------------ */

/* Reads model.json through fs: text without NUL bytes. */
static int read_text(imp_ctx *c, const nn_files *fs, const char *name, const char *path,
                     char **out) {
  size_t n;
  int rc = imp_read_model(c, fs, name, path, out, &n);
  if (rc != FK_OK) return rc;
  if (strlen(*out) != n) {
    free(*out);
    *out = NULL;
    return imp_seterr(c, FK_EMODEL, "%s is not valid JSON", path);
  }
  return FK_OK;
}

/* The output nodes: named ones, or the nodes nothing consumes. */
static int pick_outputs(imp_ctx *c, const char *const *names, int nnames, int **out, int *nout) {
  *out = malloc(((size_t)(nnames > 0 ? nnames : c->n) + 1) * sizeof **out);
  *nout = 0;
  if (!*out) return imp_seterr(c, FK_ENOMEM, "out of memory");
  if (nnames > 0) {
    for (int i = 0; i < nnames; i++) {
      imp_node dummy = {.name = "(outputs)", .label = "(outputs)", .op = "-"};
      int ctl;
      int k = names[i] ? resolve(c, &dummy, names[i], &ctl) : bad(c, &dummy, "NULL name");
      if (k < 0) return k;
      (*out)[(*nout)++] = k;
    }
    return FK_OK;
  }
  char *used = calloc((size_t)c->n, 1);
  if (!used) return imp_seterr(c, FK_ENOMEM, "out of memory");
  for (int k = 0; k < c->n; k++)
    for (int i = 0; i < c->nodes[k].nin; i++) used[c->nodes[k].in[i]] = 1;
  for (int k = 0; k < c->n; k++)
    if (!used[k] && strcmp(c->nodes[k].op, "Const")) (*out)[(*nout)++] = k;
  free(used);
  if (*nout == 0) return imp_seterr(c, FK_EMODEL, "model.json: the graph has no outputs");
  return FK_OK;
}

static int load(imp_ctx *c, tf_reader *R, const nn_files *fs, const char *name,
                const char *path, const char *const *names, int nnames) {
  char *text;
  int rc = read_text(c, fs, name, path, &text);
  if (rc != FK_OK) return rc;
  cJSON *root = cJSON_Parse(text);
  free(text);
  if (!root) return imp_seterr(c, FK_EMODEL, "%s is not valid JSON", path);
  const cJSON *topo = cJSON_GetObjectItemCaseSensitive(root, "modelTopology");
  const cJSON *jnodes = cJSON_GetObjectItemCaseSensitive(topo, "node");
  const cJSON *man = cJSON_GetObjectItemCaseSensitive(root, "weightsManifest");
  int *outs = NULL, nout = 0;
  if (!cJSON_IsArray(jnodes) || !cJSON_IsArray(man)) {
    rc = imp_seterr(c, FK_EMODEL, "%s: not a TFJS graph model (no modelTopology.node or "
                    "weightsManifest)", path);
    goto done;
  }
  rc = nn_weights_load_cjson(man, fs, &R->w, c->err, c->errlen);
  if (rc != FK_OK) goto done;
  if ((rc = index_nodes(c, jnodes)) != FK_OK) goto done;
  if ((rc = pick_outputs(c, names, nnames, &outs, &nout)) != FK_OK) goto done;
  /* The input first, so that every op finds the graph. */
  for (int k = 0; k < c->n && rc == FK_OK; k++)
    if (!strcmp(c->nodes[k].op, "Placeholder")) rc = imp_eval(c, k);
  if (rc == FK_OK && !c->g) rc = imp_seterr(c, FK_EMODEL, "model.json: no Placeholder input");
  for (int i = 0; i < nout && rc == FK_OK; i++) rc = imp_eval(c, outs[i]);
  for (int i = 0; i < nout && rc == FK_OK; i++) {
    const imp_node *o = &c->nodes[outs[i]];
    if (o->v.t < 0) rc = bad(c, o, "an output is a constant");
    else nn_mark_output(c->g, o->v.t);
  }
  if (rc == FK_OK && nn_graph_status(c->g) != FK_OK)
    rc = imp_seterr(c, FK_EMODEL, "model: %s", c->g->err);
  if (rc == FK_OK) rc = nn_graph_fuse(c->g);
  if (rc == FK_ENOMEM) imp_seterr(c, rc, "out of memory");
done:
  free(outs);
  cJSON_Delete(root);
  return rc;
}

int nn_tfgraph_load_files(const nn_files *fs, const char *name, const char *const *outputs,
                          int noutputs, nn_graph **out, char *err, size_t errlen) {
  tf_reader R = {0};
  imp_ctx c = {.err = err, .errlen = errlen, .eval = eval_node, .user = &R};
  if (err && errlen) err[0] = '\0';
  if (!out || !fs || !name || noutputs < 0 || (noutputs > 0 && !outputs))
    return imp_seterr(&c, FK_EINVAL, "nn_tfgraph_load: invalid arguments");
  *out = NULL;
  char *path = nn_files_path(fs, name);
  int rc = path ? load(&c, &R, fs, name, path, outputs, noutputs)
                : imp_seterr(&c, FK_ENOMEM, "out of memory");
  free(path);
  imp_free(&c);
  nn_weights_free(&R.w);
  if (rc != FK_OK) {
    nn_graph_free(c.g);
    return rc;
  }
  *out = c.g;
  return FK_OK;
}

int nn_tfgraph_load(const char *json_path, const char *const *outputs, int noutputs,
                    nn_graph **out, char *err, size_t errlen) {
  /* The shards live next to model.json. */
  char *dir = NULL;
  const char *base = NULL;
  if (json_path && nn_files_split(json_path, &dir, &base) != FK_OK) {
    imp_ctx c = {.err = err, .errlen = errlen};
    if (out) *out = NULL;
    return imp_seterr(&c, FK_ENOMEM, "out of memory");
  }
  nn_files fs = nn_files_dir(dir);
  int rc = nn_tfgraph_load_files(json_path ? &fs : NULL, base, outputs, noutputs, out, err,
                                 errlen);
  free(dir);
  return rc;
}
