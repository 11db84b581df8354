/*
 * onnx.c - the ONNX reader (onnx.h) on the graph-import layer (import.h).
 *
 * The file is read through nn_files (files.h: a directory in production,
 * memory in the fuzz target) and unpacked by the protobuf-c parser that
 * protoc-c generates from Debian's onnx.proto at build time, through an
 * allocator with a budget (BUDGET below), so a hostile file cannot make it
 * allocate without bound. Tensors with external data are read from the
 * files they name beside the model, through the same nn_files. Every ONNX value (initializer, graph input, node
 * output) becomes one imp_node named after the value; a node with several
 * outputs (Split) gives one imp_node per output, each evaluating its own.
 * Only the values the outputs depend on are evaluated, so unused
 * initializers are never converted.
 *
 * Layout: an ONNX [1, C, H, W] tensor is stored as the graph's [H][W][C]
 * (the import layer's IMP_CHW), so Conv, pooling and per-channel ops take
 * it as it is, and Transpose(0, 2, 3, 1) of it is free. Weights go OIHW ->
 * HWIO here (the builder then makes OHWI). Opset differences are handled
 * by version: Clip, Pad, Slice, Squeeze/Unsqueeze, Split and ReduceSum
 * moved attributes to inputs; Softmax changed its axis semantics in 13.
 */
#include "nn/onnx.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "facekit.h"
#include "nn/files.h"
#include "nn/import.h"
#include "onnx.pb-c.h"

/* The parser may allocate this much plus BUDGET_PER_BYTE per file byte:
 * the unpacked message holds about one copy of the file. */
#define BUDGET_FIXED ((size_t)16 << 20)
#define BUDGET_PER_BYTE 4
#define MIN_OPSET 7

/* An external-data file, read once and kept until the load ends. */
typedef struct ext_file {
  char *name, *data;
  size_t len;
} ext_file;

typedef struct onnx_reader {
  int opset;
  const Onnx__ModelProto *model;
  const nn_files *fs; /* the model's directory: external data */
  ext_file *ext;
  int next, ext_cap;
} onnx_reader;

#define bad imp_bad

/* The op of the nodes made for initializers and graph inputs, told apart
 * by address: a NodeProto may call its op_type anything, "Input" too, and
 * its src is a NodeProto, not a TensorProto or a ValueInfoProto. */
static const char OP_INITIALIZER[] = "Initializer", OP_INPUT[] = "Input";

static const Onnx__NodeProto *node_proto(const imp_node *n) { return n->src; }
static int opset(const imp_ctx *c) { return ((const onnx_reader *)c->user)->opset; }

/* ---- memory-budgeted parsing ---------------------------------------------- */

typedef struct budget {
  size_t left;
} budget;

/* Each block carries its size in front, so that free can return it. */
static void *budget_alloc(void *data, size_t size) {
  budget *b = data;
  if (size > b->left || size > SIZE_MAX - 16) return NULL;
  size_t *p = malloc(size + 16);
  if (!p) return NULL;
  b->left -= size;
  p[0] = size;
  return (char *)p + 16;
}

static void budget_free(void *data, void *ptr) {
  if (!ptr) return;
  budget *b = data;
  size_t *p = (size_t *)((char *)ptr - 16);
  b->left += p[0];
  free(p);
}

/* ---- attributes ------------------------------------------------------------ */

static const Onnx__AttributeProto *attr(const imp_node *n, const char *name) {
  const Onnx__NodeProto *np = node_proto(n);
  for (size_t i = 0; i < np->n_attribute; i++)
    if (np->attribute[i]->name && !strcmp(np->attribute[i]->name, name)) return np->attribute[i];
  return NULL;
}

static int clamp_i64(int64_t v) {
  const int64_t lim = (int64_t)1 << 30;
  return (int)(v > lim ? lim : v < -lim ? -lim : v);
}

/* An INT attribute, dflt when absent. */
static int attr_int(imp_ctx *c, const imp_node *n, const char *name, int dflt, int *out) {
  const Onnx__AttributeProto *a = attr(n, name);
  *out = dflt;
  if (!a) return FK_OK;
  if (!a->has_i) return bad(c, n, "attribute %s is not an integer", name);
  *out = clamp_i64(a->i);
  return FK_OK;
}

static int attr_float(imp_ctx *c, const imp_node *n, const char *name, float dflt, float *out) {
  const Onnx__AttributeProto *a = attr(n, name);
  *out = dflt;
  if (!a) return FK_OK;
  if (!a->has_f) return bad(c, n, "attribute %s is not a float", name);
  *out = a->f;
  return FK_OK;
}

/* An INTS attribute of at most max values: count, -1 when absent, or a
 * negative FK_ status (< -1). */
static int attr_ints(imp_ctx *c, const imp_node *n, const char *name, int *out, int max) {
  const Onnx__AttributeProto *a = attr(n, name);
  if (!a) return -1;
  if (a->n_ints > (size_t)max) return bad(c, n, "attribute %s has %zu values (at most %d)",
                                          name, a->n_ints, max);
  for (size_t i = 0; i < a->n_ints; i++) out[i] = clamp_i64(a->ints[i]);
  return (int)a->n_ints;
}

/* A STRING attribute compared with s (dflt when absent). */
static int attr_is(const imp_node *n, const char *name, const char *dflt, const char *s) {
  const Onnx__AttributeProto *a = attr(n, name);
  if (!a) return !strcmp(dflt, s);
  return a->has_s && a->s.len == strlen(s) && !memcmp(a->s.data, s, a->s.len);
}

/* ---- tensors --------------------------------------------------------------- */

static float half_to_float(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? ldexpf((float)m, -24)
            : e == 31 ? (m ? NAN : INFINITY)
                      : ldexpf((float)(m + 1024), e - 25);
  return h & 0x8000 ? -v : v;
}

/* Little-endian element i of raw bytes p of an element size sz. */
static uint64_t raw_le(const uint8_t *p, size_t i, int sz) {
  uint64_t v = 0;
  for (int b = sz - 1; b >= 0; b--) v = v << 8 | p[i * (size_t)sz + (size_t)b];
  return v;
}

static float raw_value(const uint8_t *p, size_t i, int dtype) {
  switch (dtype) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: {
      uint32_t u = (uint32_t)raw_le(p, i, 4);
      float f;
      memcpy(&f, &u, 4);
      return f;
    }
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
      uint64_t u = raw_le(p, i, 8);
      double d;
      memcpy(&d, &u, 8);
      return (float)d;
    }
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16: return half_to_float((uint16_t)raw_le(p, i, 2));
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return (float)(int64_t)raw_le(p, i, 8);
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return (float)(int32_t)raw_le(p, i, 4);
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: return (float)(int16_t)raw_le(p, i, 2);
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8: return (float)(int8_t)p[i];
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: return (float)(uint16_t)raw_le(p, i, 2);
    default: return (float)p[i]; /* UINT8, BOOL */
  }
}

static int dtype_size(int dtype) {
  switch (dtype) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: return 4;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return 8;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: return 2;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: return 1;
    default: return 0;
  }
}

/* Value i of a tensor stored in its typed field; the field's count was
 * checked against the tensor's. */
static float typed_value(const Onnx__TensorProto *t, size_t i) {
  switch (t->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return t->float_data[i];
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return (float)t->double_data[i];
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return (float)t->int64_data[i];
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
      return half_to_float((uint16_t)t->int32_data[i]);
    default: return (float)t->int32_data[i];
  }
}

static size_t typed_count(const Onnx__TensorProto *t) {
  switch (t->data_type) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: return t->n_float_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: return t->n_double_data;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64: return t->n_int64_data;
    default: return t->n_int32_data;
  }
}

/* ---- external data ------------------------------------------------------------ */

/* A decimal offset or length: 0..2^62; 0 if malformed. */
static int parse_size(const char *s, long long *out) {
  if (!s[0] || strspn(s, "0123456789") != strlen(s) || strlen(s) > 18) return 0;
  *out = strtoll(s, NULL, 10);
  return 1;
}

static void ext_free(onnx_reader *R) {
  for (int i = 0; i < R->next; i++) {
    free(R->ext[i].name);
    free(R->ext[i].data);
  }
  free(R->ext);
  R->ext = NULL;
  R->next = R->ext_cap = 0;
}

/* The file `name` beside the model, read through the reader's nn_files on
 * first use (one data file usually holds every tensor). */
static int ext_file_get(imp_ctx *c, const imp_node *n, const char *name, const ext_file **f) {
  onnx_reader *R = c->user;
  for (int i = 0; i < R->next; i++)
    if (!strcmp(R->ext[i].name, name)) {
      *f = &R->ext[i];
      return FK_OK;
    }
  if (R->next == R->ext_cap) {
    int cap = R->ext_cap ? 2 * R->ext_cap : 4;
    ext_file *grown = realloc(R->ext, (size_t)cap * sizeof *grown);
    if (!grown) return imp_seterr(c, FK_ENOMEM, "out of memory");
    R->ext = grown;
    R->ext_cap = cap;
  }
  ext_file e = {.name = strdup(name)};
  if (!e.name) return imp_seterr(c, FK_ENOMEM, "out of memory");
  int rc = R->fs->read(R->fs, name, &e.data, &e.len);
  if (rc != FK_OK) {
    free(e.name);
    char *path = nn_files_path(R->fs, name);
    imp_bad(c, n, "%s external data file %s", rc == FK_ENOMEM ? "out of memory or too large:"
                                              : "cannot read", path ? path : name);
    free(path);
    return rc;
  }
  R->ext[R->next] = e;
  *f = &R->ext[R->next++];
  return FK_OK;
}

/* The want bytes of a tensor stored outside the model: its external_data
 * name a file beside the model ("location"), where they start ("offset",
 * default 0) and how many there are ("length", default the rest). The
 * optional "checksum" is not verified. */
static int external_bytes(imp_ctx *c, const imp_node *n, const Onnx__TensorProto *t, size_t want,
                          const uint8_t **out) {
  const char *loc = NULL;
  long long off = 0, len = -1;
  for (size_t i = 0; i < t->n_external_data; i++) {
    const Onnx__StringStringEntryProto *e = t->external_data[i];
    if (!e->key || !e->value) continue;
    if (!strcmp(e->key, "location")) loc = e->value;
    else if (!strcmp(e->key, "offset") && !parse_size(e->value, &off))
      return bad(c, n, "external data offset \"%s\" is not a size", e->value);
    else if (!strcmp(e->key, "length") && !parse_size(e->value, &len))
      return bad(c, n, "external data length \"%s\" is not a size", e->value);
  }
  if (!loc) return bad(c, n, "external data without a location");
  if (!nn_files_name_ok(loc))
    return bad(c, n, "external data file %s is not inside the model directory", loc);
  const ext_file *f = NULL;
  int rc = ext_file_get(c, n, loc, &f);
  if (rc) return rc;
  long long size = (long long)f->len; /* <= NN_MAX_FILE_BYTES */
  if (len < 0) len = off <= size ? size - off : 0;
  if (off > size || len > size - off)
    return bad(c, n, "external data [%lld, +%lld) lies outside %s (%lld bytes)", off, len, loc,
               size);
  if ((size_t)len != want)
    return bad(c, n, "external data holds %lld bytes, its dims need %zu", len, want);
  *out = (const uint8_t *)f->data + off;
  return FK_OK;
}

/* n's value: the constant TensorProto t, converted to floats. */
static int set_tensor_proto(imp_ctx *c, imp_node *n, const Onnx__TensorProto *t) {
  if (!t) return bad(c, n, "no tensor");
  if (t->n_dims > IMP_MAX_RANK) return bad(c, n, "constant of rank %zu (at most 4)", t->n_dims);
  int dims[IMP_MAX_RANK];
  size_t count = 1;
  for (size_t i = 0; i < t->n_dims; i++) {
    if (t->dims[i] < 0 || t->dims[i] > IMP_MAX_DIM)
      return bad(c, n, "constant dimension %lld", (long long)t->dims[i]);
    dims[i] = (int)t->dims[i];
    count *= (size_t)dims[i];
    if (count > IMP_MAX_ELEMS) return bad(c, n, "constant too large");
  }
  int sz = dtype_size(t->data_type);
  if (!sz) return bad(c, n, "unsupported data type %d", (int)t->data_type);
  if (t->segment) return bad(c, n, "segmented tensors are not supported");
  size_t bytes = count * (size_t)sz; /* <= 2^28 * 8 */
  const uint8_t *raw = NULL;
  if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
    int rc = external_bytes(c, n, t, bytes, &raw);
    if (rc) return rc;
  } else if (t->has_raw_data) {
    if (t->raw_data.len != bytes)
      return bad(c, n, "raw_data holds %zu bytes, its dims need %zu", t->raw_data.len, bytes);
    raw = t->raw_data.data;
  } else if (typed_count(t) != count) {
    return bad(c, n, "holds %zu values, its dims need %zu", typed_count(t), count);
  }
  float *k = imp_new_const(c, count);
  if (!k) return FK_ENOMEM;
  for (size_t i = 0; i < count; i++)
    k[i] = raw ? raw_value(raw, i, t->data_type) : typed_value(t, i);
  return imp_set_const(c, n, (int)t->n_dims, dims, k);
}

/* ---- helpers ----------------------------------------------------------------- */

/* Input i, which must be a tensor. */
static int tensor_input(imp_ctx *c, const imp_node *n, int i, const imp_val **x) {
  *x = imp_input(c, n, i);
  if ((*x)->t < 0) return bad(c, n, "folding this op over constants is not supported");
  return FK_OK;
}

/* Input i, which must be a constant. */
static int const_input(imp_ctx *c, const imp_node *n, int i, const imp_val **k) {
  if (!imp_has_input(n, i)) return bad(c, n, "input %d is missing", i);
  *k = imp_input(c, n, i);
  if ((*k)->t >= 0) return bad(c, n, "input %d must be a constant", i);
  return FK_OK;
}

/* Integers from attribute `name` before opset `since`, from input `in`
 * from then on; count, -1 if absent, or a negative status (< -1). */
static int ints_arg(imp_ctx *c, const imp_node *n, const char *name, int since, int in,
                    int *out, int max, int clamp) {
  if (opset(c) < since) return attr_ints(c, n, name, out, max);
  if (!imp_has_input(n, in)) return -1;
  return imp_const_ints(c, n, in, out, max, clamp);
}

static int norm_axes(imp_ctx *c, const imp_node *n, const int *ax, int na, int rank, int *mask) {
  *mask = 0;
  for (int i = 0; i < na; i++) {
    int a, rc = imp_norm_axis(c, n, ax[i], rank, &a);
    if (rc) return rc;
    *mask |= 1 << a;
  }
  return FK_OK;
}

/* ---- elementwise --------------------------------------------------------------- */

static int op_binary(imp_ctx *c, imp_node *n) {
  const char *op = n->op;
  nn_binary_kind k = !strcmp(op, "Add")   ? NN_BIN_ADD
                     : !strcmp(op, "Sub") ? NN_BIN_SUB
                     : !strcmp(op, "Mul") ? NN_BIN_MUL
                     : !strcmp(op, "Div") ? NN_BIN_DIV
                     : !strcmp(op, "Max") ? NN_BIN_MAX
                                          : NN_BIN_MIN;
  if (attr(n, "broadcast") || attr(n, "axis")) return bad(c, n, "legacy broadcast attributes");
  return imp_binary(c, n, k);
}

static int op_unary(imp_ctx *c, imp_node *n) {
  static const struct { const char *op; imp_unary_kind kind; } map[] = {
      {"Relu", IMP_UN_RELU}, {"Sigmoid", IMP_UN_SIGMOID}, {"Tanh", IMP_UN_TANH},
      {"Exp", IMP_UN_EXP},   {"Abs", IMP_UN_ABS},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (!strcmp(n->op, map[i].op)) return imp_unary(c, n, map[i].kind);
  return bad(c, n, "internal: no unary mapping");
}

/* Identity, and Dropout at inference (its ratio and mode inputs unused). */
static int op_identity(imp_ctx *c, imp_node *n) {
  if (n->out_index != 0) return bad(c, n, "output %d is not supported", n->out_index);
  int rc = imp_need_inputs(c, n, 1, strcmp(n->op, "Dropout") ? 1 : 3);
  if (rc == FK_OK) n->v = *imp_input(c, n, 0);
  return rc;
}

static int op_leaky_relu(imp_ctx *c, imp_node *n) {
  float alpha;
  const imp_val *x;
  int rc = imp_need_inputs(c, n, 1, 1);
  if (rc || (rc = attr_float(c, n, "alpha", 0.01f, &alpha)) || (rc = tensor_input(c, n, 0, &x)))
    return rc;
  return imp_set_tensor(c, n, nn_leaky_relu(c->g, x->t, alpha), x->rank, x->dims, x->lay);
}

static int op_clip(imp_ctx *c, imp_node *n) {
  float lo = -INFINITY, hi = INFINITY;
  int rc = imp_need_inputs(c, n, 1, 3);
  if (rc) return rc;
  if (opset(c) < 11) {
    if ((rc = attr_float(c, n, "min", -INFINITY, &lo)) || (rc = attr_float(c, n, "max", INFINITY, &hi)))
      return rc;
  } else {
    for (int i = 1; i < 3; i++) {
      if (!imp_has_input(n, i)) continue;
      const imp_val *k;
      if ((rc = const_input(c, n, i, &k))) return rc;
      if (imp_count(k) != 1) return bad(c, n, "input %d must be a scalar", i);
      *(i == 1 ? &lo : &hi) = k->k[0];
    }
  }
  return imp_clamp(c, n, lo, hi);
}

static int op_cast(imp_ctx *c, imp_node *n) {
  int to, rc = imp_need_inputs(c, n, 1, 1);
  if (rc || (rc = attr_int(c, n, "to", 0, &to))) return rc;
  const imp_val *x = imp_input(c, n, 0);
  int to_float = to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
                 to == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
                 to == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16;
  if (x->t >= 0) {
    if (!to_float) return bad(c, n, "casting a tensor to type %d is not supported", to);
    n->v = *x;
    return FK_OK;
  }
  if (!dtype_size(to)) return bad(c, n, "unsupported target type %d", to);
  float *k;
  if ((rc = imp_new_folded(c, n, imp_count(x), &k))) return rc;
  for (size_t i = 0; i < imp_count(x); i++) k[i] = to_float ? x->k[i] : truncf(x->k[i]);
  return imp_set_const(c, n, x->rank, x->dims, k);
}

/* ---- convolution and pooling ---------------------------------------------------- */

/* kernel_shape, strides, dilations, pads and auto_pad of a 2-D window over
 * an input of h x w; kh, kw as given (by the weights for Conv). */
static int window_attrs(imp_ctx *c, const imp_node *n, int h, int w, int kh, int kw,
                        int ceil_mode, nn_window *win) {
  int v[8], k;
  win->kh = kh;
  win->kw = kw;
  if ((k = attr_ints(c, n, "kernel_shape", v, 8)) < -1) return k;
  if (k >= 0 && (k != 2 || (kh && v[0] != kh) || (kw && v[1] != kw)))
    return bad(c, n, "kernel_shape does not match a 2-D kernel %dx%d", kh, kw);
  if (k == 2) win->kh = v[0], win->kw = v[1];
  if (win->kh <= 0 || win->kw <= 0) return bad(c, n, "no kernel_shape");
  int st[2] = {1, 1}, dl[2] = {1, 1};
  if ((k = attr_ints(c, n, "strides", v, 8)) < -1) return k;
  if (k >= 0 && k != 2) return bad(c, n, "strides hold %d values (2 expected)", k);
  if (k == 2) st[0] = v[0], st[1] = v[1];
  if ((k = attr_ints(c, n, "dilations", v, 8)) < -1) return k;
  if (k >= 0 && k != 2) return bad(c, n, "dilations hold %d values (2 expected)", k);
  if (k == 2) dl[0] = v[0], dl[1] = v[1];
  if (st[0] != st[1] || dl[0] != dl[1] || st[0] <= 0 || dl[0] <= 0 || st[0] > 1024 || dl[0] > 1024)
    return bad(c, n, "strides %dx%d / dilations %dx%d (equal, 1..1024 supported)", st[0], st[1],
               dl[0], dl[1]);
  if (win->kh > 4096 || win->kw > 4096) return bad(c, n, "kernel %dx%d too large", win->kh, win->kw);
  win->stride = st[0];
  win->dilation = dl[0];
  long long eh = (long long)(win->kh - 1) * win->dilation + 1;
  long long ew = (long long)(win->kw - 1) * win->dilation + 1;
  int pads[4] = {0, 0, 0, 0}; /* ONNX order: top, left, bottom, right */
  if ((k = attr_ints(c, n, "pads", v, 8)) < -1) return k;
  if (k >= 0 && k != 4) return bad(c, n, "pads hold %d values (4 expected)", k);
  if (k == 4) memcpy(pads, v, sizeof pads);
  int same_upper = attr_is(n, "auto_pad", "NOTSET", "SAME_UPPER");
  int same_lower = attr_is(n, "auto_pad", "NOTSET", "SAME_LOWER");
  if (same_upper || same_lower) {
    const long long in[2] = {h, w}, e[2] = {eh, ew};
    for (int a = 0; a < 2; a++) {
      long long out = (in[a] + win->stride - 1) / win->stride;
      long long total = (out - 1) * win->stride + e[a] - in[a];
      if (total < 0) total = 0;
      pads[a] = (int)(same_upper ? total / 2 : total - total / 2);
      pads[a + 2] = (int)(total - pads[a]);
    }
  } else if (attr_is(n, "auto_pad", "NOTSET", "VALID")) {
    memset(pads, 0, sizeof pads);
  } else if (!attr_is(n, "auto_pad", "NOTSET", "NOTSET")) {
    return bad(c, n, "unsupported auto_pad");
  }
  for (int i = 0; i < 4; i++)
    if (pads[i] < 0 || pads[i] > 4096) return bad(c, n, "padding %d is not supported", pads[i]);
  win->pad[0] = pads[0];
  win->pad[1] = pads[2];
  win->pad[2] = pads[1];
  win->pad[3] = pads[3];
  if (ceil_mode) {
    /* PyTorch's rule: one more output if its window starts inside the
     * input or the leading pad; the pool ignores the extra cells. */
    const long long in[2] = {h, w}, e[2] = {eh, ew};
    for (int a = 0; a < 2; a++) {
      long long span = in[a] + win->pad[2 * a] + win->pad[2 * a + 1] - e[a];
      if (span < 0) continue;
      long long out = (span + win->stride - 1) / win->stride + 1;
      if ((out - 1) * win->stride >= in[a] + win->pad[2 * a]) out--;
      long long extra = (out - 1) * win->stride + e[a] - (in[a] + win->pad[2 * a] + win->pad[2 * a + 1]);
      if (extra > 0) win->pad[2 * a + 1] += (int)extra;
    }
  }
  return FK_OK;
}

/* n's value: the conv or pool output t as [1, C, H, W]. */
static int set_image(imp_ctx *c, imp_node *n, int t) {
  if (t < 0) return imp_graph_err(c, n);
  nn_shape s = c->g->shapes[t];
  int dims[4] = {1, s.c, s.h, s.w};
  return imp_set_tensor(c, n, t, 4, dims, IMP_CHW);
}

static int op_conv(imp_ctx *c, imp_node *n) {
  const imp_val *x0, *w, *b = NULL;
  imp_val x;
  int rc = imp_need_inputs(c, n, 2, 3), group;
  if (rc || (rc = tensor_input(c, n, 0, &x0)) || (rc = const_input(c, n, 1, &w))) return rc;
  if (imp_has_input(n, 2) && (rc = const_input(c, n, 2, &b))) return rc;
  if (x0->rank != 4) return bad(c, n, "input of rank %d (only 2-D convolution)", x0->rank);
  if ((rc = imp_to_chw(c, n, x0, &x)) || (rc = attr_int(c, n, "group", 1, &group))) return rc;
  if (w->rank != 4) return bad(c, n, "weights of rank %d (4 expected)", w->rank);
  int cin = x.dims[1], cout = w->dims[0], kh = w->dims[2], kw = w->dims[3];
  if (group <= 0 || cin % group || cout % group || w->dims[1] != cin / group)
    return bad(c, n, "weights [%d, %d, %d, %d] do not fit %d input channels in %d groups", cout,
               w->dims[1], kh, kw, cin, group);
  if (b && imp_count(b) != (size_t)cout) return bad(c, n, "bias holds %zu values, not %d",
                                                   imp_count(b), cout);
  nn_window win;
  if ((rc = window_attrs(c, n, x.dims[2], x.dims[3], kh, kw, 0, &win))) return rc;
  const float *bias = b ? b->k : NULL;
  size_t taps = (size_t)kh * kw;
  int t;
  if (group == cin && cout == cin) {
    /* Depthwise: [C][1][kh][kw] -> [kh][kw][C]. */
    float *dw = imp_new_const(c, taps * (size_t)cin);
    if (!dw) return FK_ENOMEM;
    for (int ch = 0; ch < cin; ch++)
      for (size_t q = 0; q < taps; q++) dw[q * cin + ch] = w->k[(size_t)ch * taps + q];
    t = nn_depthwise_win(c->g, x.t, dw, bias, &win, NN_ACT_NONE);
  } else {
    /* OIHW -> HWIO; a grouped conv becomes one dense conv whose weights are
     * zero between groups. */
    size_t dense = imp_count(w) * (size_t)group; /* <= 2^28 * 2^24 */
    if (dense > IMP_MAX_FOLDED && group > 1)
      return bad(c, n, "grouped weights too large as one dense conv (%zu values)", dense);
    float *hwio = imp_new_const(c, dense);
    if (!hwio) return FK_ENOMEM;
    memset(hwio, 0, dense * sizeof *hwio);
    int gin = cin / group, gout = cout / group;
    for (int o = 0; o < cout; o++)
      for (int i = 0; i < gin; i++)
        for (size_t q = 0; q < taps; q++) {
          int ci = (o / gout) * gin + i;
          hwio[(q * cin + (size_t)ci) * cout + o] = w->k[((size_t)o * gin + i) * taps + q];
        }
    t = nn_conv2d_win(c->g, x.t, hwio, bias, cout, &win, NN_ACT_NONE);
  }
  return set_image(c, n, t);
}

static int op_pool(imp_ctx *c, imp_node *n) {
  const imp_val *x0;
  imp_val x;
  int is_max = !strcmp(n->op, "MaxPool"), ceil_mode = 0, cip = 0, rc;
  if (n->out_index != 0) return bad(c, n, "the Indices output is not supported");
  if ((rc = imp_need_inputs(c, n, 1, 1)) || (rc = tensor_input(c, n, 0, &x0))) return rc;
  if (x0->rank != 4) return bad(c, n, "input of rank %d (only 2-D pooling)", x0->rank);
  if ((rc = imp_to_chw(c, n, x0, &x))) return rc;
  if (opset(c) >= 10 && (rc = attr_int(c, n, "ceil_mode", 0, &ceil_mode))) return rc;
  if (!is_max && (rc = attr_int(c, n, "count_include_pad", 0, &cip))) return rc;
  nn_window win;
  if ((rc = window_attrs(c, n, x.dims[2], x.dims[3], 0, 0, ceil_mode, &win))) return rc;
  if (win.dilation != 1) return bad(c, n, "dilated pooling is not supported");
  int t = x.t;
  if (cip && (win.pad[0] | win.pad[1] | win.pad[2] | win.pad[3])) {
    /* Padded zeros count: pad for real, then pool without padding. */
    if (ceil_mode) return bad(c, n, "count_include_pad with ceil_mode is not supported");
    const int pads[6] = {win.pad[0], win.pad[1], win.pad[2], win.pad[3], 0, 0};
    t = nn_pad(c->g, t, pads);
    memset(win.pad, 0, sizeof win.pad);
  }
  return set_image(c, n, nn_pool2d_win(c->g, t, is_max, &win));
}

static int op_global_pool(imp_ctx *c, imp_node *n) {
  const imp_val *x0;
  imp_val x;
  int rc = imp_need_inputs(c, n, 1, 1);
  if (rc || (rc = tensor_input(c, n, 0, &x0))) return rc;
  if (x0->rank != 4) return bad(c, n, "input of rank %d (expected 4)", x0->rank);
  if ((rc = imp_to_chw(c, n, x0, &x))) return rc;
  int t = !strcmp(n->op, "GlobalAveragePool")
              ? nn_global_avgpool(c->g, x.t)
              : nn_reduce(c->g, x.t, NN_RED_MAX, NN_AXIS_H | NN_AXIS_W);
  return set_image(c, n, t);
}

static int op_batchnorm(imp_ctx *c, imp_node *n) {
  if (n->out_index != 0) return bad(c, n, "training outputs are not supported");
  int rc = imp_need_inputs(c, n, 5, 5), spatial;
  float eps;
  const imp_val *x, *k[4];
  if (rc || (rc = tensor_input(c, n, 0, &x)) || (rc = attr_float(c, n, "epsilon", 1e-5f, &eps)) ||
      (rc = attr_int(c, n, "spatial", 1, &spatial)))
    return rc;
  if (!spatial) return bad(c, n, "spatial = 0 is not supported");
  if (x->rank != 4 && x->rank != 2) return bad(c, n, "input of rank %d", x->rank);
  size_t ch = (size_t)x->dims[1];
  for (int i = 0; i < 4; i++) {
    if ((rc = const_input(c, n, i + 1, &k[i]))) return rc;
    if (imp_count(k[i]) != ch) return bad(c, n, "input %d holds %zu values, not %zu", i + 1,
                                          imp_count(k[i]), ch);
  }
  float *scale = imp_new_const(c, 2 * ch);
  if (!scale) return FK_ENOMEM;
  float *shift = scale + ch;
  for (size_t i = 0; i < ch; i++) {
    double s = k[0]->k[i] / sqrt((double)k[3]->k[i] + eps);
    scale[i] = (float)s;
    shift[i] = (float)(k[1]->k[i] - k[2]->k[i] * s);
  }
  return imp_channel_affine(c, n, x, scale, shift);
}

static int op_prelu(imp_ctx *c, imp_node *n) {
  const imp_val *x0, *s;
  imp_val x;
  int rc = imp_need_inputs(c, n, 2, 2);
  if (rc || (rc = tensor_input(c, n, 0, &x0)) || (rc = const_input(c, n, 1, &s))) return rc;
  if (x0->rank == 4) rc = imp_to_chw(c, n, x0, &x);
  else if (x0->rank == 2 && x0->dims[0] == 1) rc = imp_rowmajor(c, n, x0, &x);
  else return bad(c, n, "input of rank %d", x0->rank);
  if (rc) return rc;
  int ch = x.dims[1];
  size_t k = imp_count(s);
  /* Per-channel slopes: [C], [C, 1, 1], [1, C, 1, 1] or one for all. */
  int per_ch = k == (size_t)ch && (s->rank <= 1 || s->dims[s->rank - 1] == ch ||
                                  (x.rank == 4 && s->rank >= 3 && s->dims[s->rank - 3] == ch));
  if (k != 1 && !per_ch) return bad(c, n, "slope of %zu values (only per channel)", k);
  float *sl = imp_new_const(c, (size_t)ch);
  if (!sl) return FK_ENOMEM;
  for (int i = 0; i < ch; i++) sl[i] = s->k[k == 1 ? 0 : i];
  return imp_set_tensor(c, n, nn_prelu(c->g, x.t, sl), x.rank, x.dims, x.lay);
}

/* ---- matrices -------------------------------------------------------------------- */

static int op_gemm(imp_ctx *c, imp_node *n) {
  const imp_val *a, *b, *k = NULL;
  float alpha, beta;
  int ta, tb, rc = imp_need_inputs(c, n, 2, 3);
  if (rc || (rc = tensor_input(c, n, 0, &a)) || (rc = const_input(c, n, 1, &b)) ||
      (rc = attr_float(c, n, "alpha", 1.0f, &alpha)) || (rc = attr_float(c, n, "beta", 1.0f, &beta)) ||
      (rc = attr_int(c, n, "transA", 0, &ta)) || (rc = attr_int(c, n, "transB", 0, &tb)))
    return rc;
  if (imp_has_input(n, 2) && (rc = const_input(c, n, 2, &k))) return rc;
  int is_matmul = !strcmp(n->op, "MatMul");
  if (ta) return bad(c, n, "transA is not supported");
  if (b->rank != 2) return bad(c, n, "B must be a matrix");
  int kk = tb ? b->dims[1] : b->dims[0], cout = tb ? b->dims[0] : b->dims[1];
  if (a->rank == 0) return bad(c, n, "A must be one row ([1, k]), not rank 0");
  int last = a->dims[a->rank - 1];
  size_t lead = imp_count(a) / (size_t)(last ? last : 1);
  if (lead != 1 || (!is_matmul && a->rank != 2))
    return bad(c, n, "A must be one row ([1, k]), not rank %d", a->rank);
  if (last != kk) return bad(c, n, "inner dimensions %d and %d differ", last, kk);
  float *w = imp_new_const(c, (size_t)kk * cout), *bias = NULL;
  if (!w) return FK_ENOMEM;
  for (int i = 0; i < kk; i++)
    for (int o = 0; o < cout; o++)
      w[(size_t)i * cout + o] = alpha * b->k[tb ? (size_t)o * kk + i : (size_t)i * cout + o];
  if (k) {
    size_t kc = imp_count(k);
    if (kc != 1 && kc != (size_t)cout) return bad(c, n, "C holds %zu values, not %d", kc, cout);
    if (!(bias = imp_new_const(c, (size_t)cout))) return FK_ENOMEM;
    for (int o = 0; o < cout; o++) bias[o] = beta * k->k[kc == 1 ? 0 : o];
  }
  if ((rc = imp_fc(c, n, a, w, bias, cout, NN_ACT_NONE))) return rc;
  if (a->rank == 2) return FK_OK;
  int dims[4];
  memcpy(dims, a->dims, sizeof dims);
  dims[a->rank - 1] = cout;
  imp_val r = n->v;
  return imp_reshape(c, n, &r, a->rank, dims);
}

/* ---- shapes ---------------------------------------------------------------------- */

/* Whether some node reads node `self`, and every node that does is an `op`. */
static int only_read_by(const imp_ctx *c, const imp_node *self, const char *op) {
  int idx = (int)(self - c->nodes), readers = 0;
  for (int i = 0; i < c->n; i++)
    for (int k = 0; k < c->nodes[i].nin; k++)
      if (c->nodes[i].in[k] == idx) {
        if (strcmp(c->nodes[i].op, op)) return 0;
        readers++;
      }
  return readers > 0;
}

/* Rank 5, which values cannot have, as ShuffleNet's channel shuffle uses
 * it: Reshape [1, C, H, W] -> [1, g, C/g, H, W], Transpose (0, 2, 1, 3, 4),
 * Reshape back to rank 4. A rank-5 shape [1, a, b, H, W] read only by
 * Transposes is held as rank 4 [1, a, b, H * W] (the same row-major values);
 * op_transpose takes a 5-axis perm that keeps the last two axes in place on
 * it, and only when Reshapes alone read the result. */
static int merged_rank5(const imp_ctx *c, const imp_node *n, int nd, int *d) {
  if (nd != 5 || d[0] != 1 || d[3] <= 0 || d[4] <= 0 || (long long)d[3] * d[4] > IMP_MAX_DIM ||
      !only_read_by(c, n, "Transpose"))
    return 0;
  d[3] *= d[4];
  return 1;
}

static int op_reshape(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 2, 2), allowzero = 0;
  if (rc) return rc;
  if (opset(c) >= 14 && (rc = attr_int(c, n, "allowzero", 0, &allowzero))) return rc;
  const imp_val *x = imp_input(c, n, 0);
  int d[8], nd = imp_const_ints(c, n, 1, d, 8, 0), infer = -1;
  if (nd < 0) return nd;
  if (merged_rank5(c, n, nd, d)) nd = 4;
  if (nd > IMP_MAX_RANK) return bad(c, n, "result rank %d (at most 4 supported)", nd);
  size_t known = 1, total = imp_count(x);
  for (int i = 0; i < nd; i++) {
    if (d[i] == 0 && !allowzero) {
      if (i >= x->rank) return bad(c, n, "dimension %d copies a missing input dimension", i);
      d[i] = x->dims[i];
    }
    if (d[i] == -1 && infer < 0) infer = i;
    else if (d[i] <= 0 || d[i] > IMP_MAX_DIM) return bad(c, n, "invalid dimension %d", d[i]);
    else known *= (size_t)d[i];
    if (known > IMP_MAX_ELEMS) return bad(c, n, "new shape too large");
  }
  if (infer >= 0) {
    if (total % known) return bad(c, n, "cannot infer the -1 dimension");
    d[infer] = (int)(total / known);
  }
  return imp_reshape(c, n, x, nd, d);
}

static int op_flatten(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 1), axis, a;
  if (rc || (rc = attr_int(c, n, "axis", 1, &axis))) return rc;
  const imp_val *x = imp_input(c, n, 0);
  if (axis != x->rank && (rc = imp_norm_axis(c, n, axis, x->rank, &a))) return rc;
  if (axis == x->rank) a = axis;
  size_t outer = 1, inner = 1;
  for (int i = 0; i < x->rank; i++) *(i < a ? &outer : &inner) *= (size_t)x->dims[i];
  if (outer > IMP_MAX_DIM || inner > IMP_MAX_DIM) return bad(c, n, "result too large");
  int dims[2] = {(int)outer, (int)inner};
  return imp_reshape(c, n, x, 2, dims);
}

static int op_squeeze(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 2), ax[8], mask = 0;
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  int na = ints_arg(c, n, "axes", 13, 1, ax, 8, 0);
  if (na < -1) return na;
  if (na > 0 && (rc = norm_axes(c, n, ax, na, x->rank, &mask))) return rc;
  int rank = 0, dims[4];
  for (int i = 0; i < x->rank; i++) {
    int drop = na > 0 ? mask >> i & 1 : x->dims[i] == 1;
    if (drop && x->dims[i] != 1) return bad(c, n, "axis %d has size %d, not 1", i, x->dims[i]);
    if (!drop) dims[rank++] = x->dims[i];
  }
  return imp_reshape(c, n, x, rank, dims);
}

static int op_unsqueeze(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 2), ax[8], mask = 0;
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  int na = ints_arg(c, n, "axes", 13, 1, ax, 8, 0);
  if (na < -1) return na;
  if (na <= 0) return bad(c, n, "no axes");
  int rank = x->rank + na;
  if (rank > IMP_MAX_RANK) return bad(c, n, "result rank %d (at most 4 supported)", rank);
  if ((rc = norm_axes(c, n, ax, na, rank, &mask))) return rc;
  if (__builtin_popcount((unsigned)mask) != na) return bad(c, n, "repeated axes");
  int dims[4], k = 0;
  for (int i = 0; i < rank; i++) dims[i] = mask >> i & 1 ? 1 : x->dims[k++];
  return imp_reshape(c, n, x, rank, dims);
}

static int op_concat(imp_ctx *c, imp_node *n) {
  int axis, a, rc = imp_need_inputs(c, n, 1, 64);
  if (rc) return rc;
  if (!attr(n, "axis")) return bad(c, n, "no axis");
  if ((rc = attr_int(c, n, "axis", 0, &axis))) return rc;
  for (int i = 0; i < n->nin; i++)
    if (n->in[i] < 0) return bad(c, n, "input %d is missing", i);
  if ((rc = imp_norm_axis(c, n, axis, imp_input(c, n, 0)->rank, &a))) return rc;
  return imp_concat(c, n, 0, n->nin, a);
}

static int op_transpose(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 1), perm[8];
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  int k = attr_ints(c, n, "perm", perm, 8);
  if (k < -1) return k;
  if (k == -1)
    for (k = 0; k < x->rank; k++) perm[k] = x->rank - 1 - k;
  /* A rank-5 value held merged (merged_rank5): its last two axes stay. */
  int merged = k == 5 && x->rank == 4 && n->in[0] >= 0 && !strcmp(c->nodes[n->in[0]].op, "Reshape");
  if (merged && (perm[3] != 3 || perm[4] != 4 || !only_read_by(c, n, "Reshape")))
    return bad(c, n, "a rank-5 transpose that moves the last two axes or is not reshaped back");
  if (merged) k = 4;
  if (k != x->rank) return bad(c, n, "perm holds %d values for rank %d", k, x->rank);
  return imp_transpose(c, n, x, perm);
}

static int op_shape(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 1), start = 0, end;
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  end = x->rank;
  if (opset(c) >= 15 && ((rc = attr_int(c, n, "start", 0, &start)) ||
                         (rc = attr_int(c, n, "end", x->rank, &end))))
    return rc;
  if (start < 0) start += x->rank;
  if (end < 0) end += x->rank;
  start = start < 0 ? 0 : start > x->rank ? x->rank : start;
  end = end < start ? start : end > x->rank ? x->rank : end;
  float *k = imp_new_const(c, (size_t)(end - start) + 1);
  if (!k) return FK_ENOMEM;
  for (int i = start; i < end; i++) k[i - start] = (float)x->dims[i];
  int dims[1] = {end - start};
  return imp_set_const(c, n, 1, dims, k);
}

/* Gather with constant indices: folded over a constant; over a tensor,
 * one index or a run of consecutive ones (a slice). */
static int op_gather(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 2, 2), axis, a;
  const imp_val *iv;
  if (rc || (rc = attr_int(c, n, "axis", 0, &axis)) || (rc = const_input(c, n, 1, &iv))) return rc;
  const imp_val *x = imp_input(c, n, 0);
  if ((rc = imp_norm_axis(c, n, axis, x->rank, &a))) return rc;
  int rank = x->rank - 1 + iv->rank;
  if (rank > IMP_MAX_RANK) return bad(c, n, "result rank %d (at most 4 supported)", rank);
  size_t ni = imp_count(iv), outer, inner;
  int dim = x->dims[a], idx0 = 0;
  if (ni == 0) return bad(c, n, "no indices");
  size_t total = ni; /* checked before anything is allocated */
  for (int i = 0; i < x->rank && total <= IMP_MAX_ELEMS; i++)
    if (i != a) total *= (size_t)x->dims[i];
  if (ni > IMP_MAX_DIM || total > IMP_MAX_ELEMS) return bad(c, n, "result too large");
  int *idx = malloc(ni * sizeof *idx);
  if (!idx) return imp_seterr(c, FK_ENOMEM, "out of memory");
  for (size_t i = 0; i < ni && rc == FK_OK; i++) {
    float f = iv->k[i];
    if (!(f == floorf(f)) || f < -dim || f >= dim) rc = bad(c, n, "index %g out of range", (double)f);
    else idx[i] = (int)f < 0 ? (int)f + dim : (int)f;
  }
  int dims[4], k = 0;
  for (int i = 0; i < a; i++) dims[k++] = x->dims[i];
  for (int i = 0; i < iv->rank; i++) dims[k++] = iv->dims[i];
  for (int i = a + 1; i < x->rank; i++) dims[k++] = x->dims[i];
  if (rc == FK_OK && x->t < 0) {
    outer = 1, inner = 1;
    for (int i = 0; i < a; i++) outer *= (size_t)x->dims[i];
    for (int i = a + 1; i < x->rank; i++) inner *= (size_t)x->dims[i];
    float *out = NULL, *p;
    rc = imp_new_folded(c, n, outer * ni * inner, &out);
    p = out;
    for (size_t o = 0; rc == FK_OK && o < outer; o++)
      for (size_t i = 0; i < ni; i++, p += inner)
        memcpy(p, x->k + (o * (size_t)dim + (size_t)idx[i]) * inner, inner * sizeof *p);
    if (rc == FK_OK) rc = imp_set_const(c, n, rank, dims, out);
  } else if (rc == FK_OK) {
    idx0 = idx[0];
    for (size_t i = 1; i < ni && rc == FK_OK; i++)
      if (idx[i] != idx0 + (int)i) rc = bad(c, n, "only consecutive indices into a tensor");
    int begin[4] = {0, 0, 0, 0}, step[4] = {1, 1, 1, 1}, size[4];
    memcpy(size, x->dims, sizeof size);
    begin[a] = idx0;
    size[a] = (int)ni;
    if (rc == FK_OK) rc = imp_slice(c, n, x, begin, step, size, rank, dims);
  }
  free(idx);
  return rc;
}

/* ONNX slice bounds of one axis: start, end, step -> begin and size. */
static int slice_axis(imp_ctx *c, const imp_node *n, int dim, long long s, long long e,
                      long long st, int *begin, int *size) {
  if (st == 0) return bad(c, n, "step 0");
  if (s < 0) s += dim;
  if (e < 0) e += dim;
  if (st > 0) {
    s = s < 0 ? 0 : s > dim ? dim : s;
    e = e < 0 ? 0 : e > dim ? dim : e;
  } else {
    s = s < 0 ? -1 : s > dim - 1 ? dim - 1 : s;
    e = e < -1 ? -1 : e > dim - 1 ? dim - 1 : e;
  }
  long long span = st > 0 ? e - s : s - e, as = st > 0 ? st : -st;
  if (span <= 0) return bad(c, n, "empty slice");
  *begin = (int)s;
  *size = (int)((span + as - 1) / as);
  return FK_OK;
}

static int op_slice(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 5);
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  int s[8], e[8], ax[8], st[8], ns, ne, na, nst = -1;
  if (opset(c) < 10) {
    ns = attr_ints(c, n, "starts", s, 8);
    ne = attr_ints(c, n, "ends", e, 8);
    na = attr_ints(c, n, "axes", ax, 8);
  } else {
    if ((rc = imp_need_inputs(c, n, 3, 5))) return rc;
    ns = imp_const_ints(c, n, 1, s, 8, 1);
    ne = imp_const_ints(c, n, 2, e, 8, 1);
    na = imp_has_input(n, 3) ? imp_const_ints(c, n, 3, ax, 8, 0) : -1;
    nst = imp_has_input(n, 4) ? imp_const_ints(c, n, 4, st, 8, 0) : -1;
  }
  if (ns < -1 || ne < -1 || na < -1 || nst < -1) return FK_EMODEL;
  if (ns < 0 || ns != ne || (na >= 0 && na != ns) || (nst >= 0 && nst != ns) || ns > x->rank)
    return bad(c, n, "starts/ends/axes/steps do not match");
  int begin[4] = {0, 0, 0, 0}, step[4] = {1, 1, 1, 1}, size[4], seen = 0;
  memcpy(size, x->dims, sizeof size);
  for (int i = 0; i < ns; i++) {
    int a = i;
    if (na >= 0 && (rc = imp_norm_axis(c, n, ax[i], x->rank, &a))) return rc;
    if (seen >> a & 1) return bad(c, n, "axis %d repeated", a);
    seen |= 1 << a;
    step[a] = nst >= 0 ? st[i] : 1;
    if ((rc = slice_axis(c, n, x->dims[a], s[i], e[i], step[a], &begin[a], &size[a]))) return rc;
  }
  return imp_slice(c, n, x, begin, step, size, x->rank, size);
}

static int op_split(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 2), axis, a, sp[64];
  if (rc || (rc = attr_int(c, n, "axis", 0, &axis))) return rc;
  const imp_val *x = imp_input(c, n, 0);
  if ((rc = imp_norm_axis(c, n, axis, x->rank, &a))) return rc;
  int nout = (int)node_proto(n)->n_output;
  int ns = ints_arg(c, n, "split", 13, 1, sp, 64, 0);
  if (ns < -1) return ns;
  if (ns == -1) {
    if (nout <= 0 || nout > 64 || x->dims[a] % nout) return bad(c, n, "cannot split evenly");
    for (int i = 0; i < nout; i++) sp[i] = x->dims[a] / nout;
    ns = nout;
  }
  long long sum = 0, at = 0;
  for (int i = 0; i < ns; i++) {
    if (sp[i] <= 0) return bad(c, n, "split size %d", sp[i]);
    if (i < n->out_index) at += sp[i];
    sum += sp[i];
  }
  if (ns != nout || sum != x->dims[a]) return bad(c, n, "split sizes do not add up");
  int begin[4] = {0, 0, 0, 0}, step[4] = {1, 1, 1, 1}, size[4];
  memcpy(size, x->dims, sizeof size);
  begin[a] = (int)at;
  size[a] = sp[n->out_index];
  return imp_slice(c, n, x, begin, step, size, x->rank, size);
}

static int op_pad(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 3), p[8], np;
  if (rc) return rc;
  const imp_val *x = imp_input(c, n, 0);
  float value = 0.0f;
  if (!attr_is(n, "mode", "constant", "constant")) return bad(c, n, "only constant padding");
  if (opset(c) < 11) {
    np = attr_ints(c, n, "pads", p, 8);
    if ((rc = attr_float(c, n, "value", 0.0f, &value))) return rc;
  } else {
    np = imp_const_ints(c, n, 1, p, 8, 0);
    if (imp_has_input(n, 2)) {
      const imp_val *v;
      if ((rc = const_input(c, n, 2, &v))) return rc;
      if (imp_count(v) != 1) return bad(c, n, "constant_value must be a scalar");
      value = v->k[0];
    }
  }
  if (np < -1) return np;
  if (np != 2 * x->rank) return bad(c, n, "pads hold %d values, not %d", np, 2 * x->rank);
  if (value != 0.0f) return bad(c, n, "padding with %g (only 0)", (double)value);
  int pairs[8];
  for (int a = 0; a < x->rank; a++) {
    pairs[2 * a] = p[a];
    pairs[2 * a + 1] = p[x->rank + a];
  }
  return imp_pad(c, n, x, pairs);
}

static int op_reduce(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 2), ax[8], keep, mask;
  if (rc || (rc = attr_int(c, n, "keepdims", 1, &keep))) return rc;
  const imp_val *x = imp_input(c, n, 0);
  nn_reduce_kind kind = !strcmp(n->op, "ReduceMean")  ? NN_RED_MEAN
                        : !strcmp(n->op, "ReduceMax") ? NN_RED_MAX
                                                      : NN_RED_SUM;
  int na = kind == NN_RED_SUM ? ints_arg(c, n, "axes", 13, 1, ax, 8, 0)
                              : attr_ints(c, n, "axes", ax, 8);
  if (na < -1) return na;
  if (na <= 0) mask = (1 << x->rank) - 1;
  else if ((rc = norm_axes(c, n, ax, na, x->rank, &mask))) return rc;
  return imp_reduce(c, n, x, kind, mask, keep);
}

static int op_softmax(imp_ctx *c, imp_node *n) {
  int rc = imp_need_inputs(c, n, 1, 1), axis, a;
  const imp_val *x;
  if (rc || (rc = tensor_input(c, n, 0, &x))) return rc;
  if ((rc = attr_int(c, n, "axis", opset(c) < 13 ? 1 : -1, &axis)) ||
      (rc = imp_norm_axis(c, n, axis, x->rank, &a)))
    return rc;
  size_t after = 1;
  for (int i = a + 1; i < x->rank; i++) after *= (size_t)x->dims[i];
  if (opset(c) >= 13 && after > 1) {
    /* One axis, not the trailing ones: only the channels of [1, C, H, W]. */
    if (a != 1 || x->rank != 4)
      return bad(c, n, "softmax over axis %d of a rank-%d value is not supported", a, x->rank);
    imp_val X;
    if ((rc = imp_to_chw(c, n, x, &X))) return rc;
    return imp_set_tensor(c, n, nn_softmax(c->g, X.t), X.rank, X.dims, IMP_CHW);
  }
  return imp_softmax(c, n, x, a);
}

static int op_constant(imp_ctx *c, imp_node *n) {
  const Onnx__AttributeProto *a;
  if ((a = attr(n, "value"))) return set_tensor_proto(c, n, a->t);
  float *k;
  int dims[1];
  if ((a = attr(n, "value_float")) || (a = attr(n, "value_int"))) {
    if (!(k = imp_new_const(c, 1))) return FK_ENOMEM;
    k[0] = a->has_f ? a->f : (float)a->i;
    return imp_set_const(c, n, 0, dims, k);
  }
  if ((a = attr(n, "value_floats")) || (a = attr(n, "value_ints"))) {
    size_t cnt = a->n_floats ? a->n_floats : a->n_ints;
    if (cnt > IMP_MAX_DIM) return bad(c, n, "too many values");
    if (!(k = imp_new_const(c, cnt))) return FK_ENOMEM;
    for (size_t i = 0; i < cnt; i++) k[i] = a->n_floats ? a->floats[i] : (float)a->ints[i];
    dims[0] = (int)cnt;
    return imp_set_const(c, n, 1, dims, k);
  }
  return bad(c, n, "no supported value attribute");
}

typedef struct op_entry {
  const char *name;
  int (*fn)(imp_ctx *, imp_node *);
} op_entry;

static const op_entry OPS[] = {
    {"Conv", op_conv},
    {"BatchNormalization", op_batchnorm},
    {"PRelu", op_prelu},
    {"Relu", op_unary},
    {"Sigmoid", op_unary},
    {"Tanh", op_unary},
    {"Exp", op_unary},
    {"Abs", op_unary},
    {"Identity", op_identity},
    {"Dropout", op_identity},
    {"LeakyRelu", op_leaky_relu},
    {"Clip", op_clip},
    {"Cast", op_cast},
    {"Add", op_binary},
    {"Sub", op_binary},
    {"Mul", op_binary},
    {"Div", op_binary},
    {"Max", op_binary},
    {"Min", op_binary},
    {"Gemm", op_gemm},
    {"MatMul", op_gemm},
    {"MaxPool", op_pool},
    {"AveragePool", op_pool},
    {"GlobalAveragePool", op_global_pool},
    {"GlobalMaxPool", op_global_pool},
    {"Reshape", op_reshape},
    {"Flatten", op_flatten},
    {"Squeeze", op_squeeze},
    {"Unsqueeze", op_unsqueeze},
    {"Concat", op_concat},
    {"Transpose", op_transpose},
    {"Shape", op_shape},
    {"Gather", op_gather},
    {"Slice", op_slice},
    {"Split", op_split},
    {"Pad", op_pad},
    {"ReduceMean", op_reduce},
    {"ReduceMax", op_reduce},
    {"ReduceSum", op_reduce},
    {"Softmax", op_softmax},
    {"Constant", op_constant},
};

/* ---- the model --------------------------------------------------------------------- */

/* The data input: a float tensor of static shape, batch fixed at 1. */
static int op_input(imp_ctx *c, imp_node *n) {
  const Onnx__ValueInfoProto *vi = n->src;
  const Onnx__TypeProto *tp = vi->type;
  if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !tp->tensor_type)
    return bad(c, n, "the input is not a tensor");
  const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
  if (tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
    return bad(c, n, "input type %d (only float)", (int)tt->elem_type);
  if (!tt->shape) return bad(c, n, "the input has no shape");
  size_t rank = tt->shape->n_dim;
  if (rank < 1 || rank > IMP_MAX_RANK) return bad(c, n, "input rank %zu (1..4 supported)", rank);
  int dims[IMP_MAX_RANK];
  for (size_t i = 0; i < rank; i++) {
    const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
    int fixed = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
    long long v = fixed ? (long long)d->dim_value : -1;
    if (i == 0 && rank == 4 && (!fixed || v <= 0)) v = 1; /* a dynamic batch */
    if (v <= 0) return bad(c, n, "input dimension %zu is dynamic (only the batch may be)", i);
    if (v > (1 << 16)) return bad(c, n, "input dimension %zu is %lld", i, v);
    dims[i] = (int)v;
  }
  return imp_set_input(c, n, (int)rank, dims, rank == 4 ? IMP_CHW : IMP_ROWMAJOR);
}

static int eval_node(imp_ctx *c, imp_node *n) {
  if (n->op == OP_INITIALIZER) return set_tensor_proto(c, n, n->src);
  if (n->op == OP_INPUT) return op_input(c, n);
  const Onnx__NodeProto *np = node_proto(n);
  if (np->domain && np->domain[0] && strcmp(np->domain, "ai.onnx"))
    return imp_seterr(c, FK_EMODEL, "model node %s: unsupported op %s:%s", n->label, np->domain,
                      n->op);
  /* The input is evaluated first, so c->g exists for every op. */
  for (size_t i = 0; i < sizeof OPS / sizeof OPS[0]; i++)
    if (!strcmp(n->op, OPS[i].name)) return OPS[i].fn(c, n);
  return imp_seterr(c, FK_EMODEL, "model node %s: unsupported op %s", n->label, n->op);
}

static int is_initializer(const Onnx__GraphProto *g, const char *name) {
  for (size_t i = 0; i < g->n_initializer; i++)
    if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name)) return 1;
  return 0;
}

/* One imp_node per value; then each node output's inputs. */
static int index_values(imp_ctx *c, const Onnx__GraphProto *g) {
  size_t total = g->n_initializer + g->n_input;
  for (size_t i = 0; i < g->n_node; i++) total += g->node[i]->n_output;
  if (total == 0 || total > (1 << 24)) return imp_seterr(c, FK_EMODEL, "model: %zu values", total);
  int rc = imp_init(c, (int)total);
  if (rc != FK_OK) return rc;
  for (size_t i = 0; i < g->n_initializer; i++) {
    const Onnx__TensorProto *t = g->initializer[i];
    if ((rc = imp_add(c, t->name, NULL, OP_INITIALIZER, t, 0)) < 0) return rc;
  }
  for (size_t i = 0; i < g->n_input; i++) {
    const Onnx__ValueInfoProto *vi = g->input[i];
    if (!vi->name || is_initializer(g, vi->name)) continue; /* IR < 4 lists them */
    if ((rc = imp_add(c, vi->name, NULL, OP_INPUT, vi, 0)) < 0) return rc;
  }
  for (size_t i = 0; i < g->n_node; i++) {
    const Onnx__NodeProto *np = g->node[i];
    if (!np->op_type || !np->op_type[0]) return imp_seterr(c, FK_EMODEL, "model: node %zu has no op", i);
    const char *label = np->name && np->name[0] ? np->name : NULL;
    for (size_t o = 0; o < np->n_output; o++) {
      if (!np->output[o] || !np->output[o][0]) continue; /* an unused optional output */
      if ((rc = imp_add(c, np->output[o], label ? label : np->output[o], np->op_type, np, (int)o)) < 0)
        return rc;
    }
  }
  for (int k = 0; k < c->n; k++) {
    imp_node *t = &c->nodes[k];
    if (t->op == OP_INITIALIZER || t->op == OP_INPUT) continue;
    const Onnx__NodeProto *np = node_proto(t);
    if (np->n_input > 64) return bad(c, t, "%zu inputs", np->n_input);
    t->in = malloc((np->n_input + 1) * sizeof *t->in);
    if (!t->in) return imp_seterr(c, FK_ENOMEM, "out of memory");
    for (size_t i = 0; i < np->n_input; i++) {
      const char *ref = np->input[i];
      int src = ref && ref[0] ? imp_find(c, ref, strlen(ref)) : -1;
      if (ref && ref[0] && src < 0) return bad(c, t, "input %s names no value in the model", ref);
      t->in[t->nin++] = src;
    }
  }
  return FK_OK;
}

static int model_opset(imp_ctx *c, const Onnx__ModelProto *m, int *out) {
  *out = 0;
  for (size_t i = 0; i < m->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = m->opset_import[i];
    if (!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx"))
      *out = o->version > 1000 ? 1000 : (int)o->version;
  }
  if (*out < MIN_OPSET)
    return imp_seterr(c, FK_EMODEL, "model: opset %d (%d or later supported)", *out, MIN_OPSET);
  return FK_OK;
}

static int load_graph(imp_ctx *c, const Onnx__ModelProto *m, const char *const *names,
                      int nnames) {
  const Onnx__GraphProto *g = m->graph;
  onnx_reader *R = c->user;
  if (!g) return imp_seterr(c, FK_EMODEL, "model: no graph");
  int rc = model_opset(c, m, &R->opset);
  if (rc == FK_OK) rc = index_values(c, g);
  int nout = nnames > 0 ? nnames : (int)g->n_output;
  if (rc == FK_OK && nout <= 0) rc = imp_seterr(c, FK_EMODEL, "model: the graph has no outputs");
  for (int k = 0; k < c->n && rc == FK_OK; k++)
    if (c->nodes[k].op == OP_INPUT) rc = imp_eval(c, k);
  if (rc == FK_OK && !c->g) rc = imp_seterr(c, FK_EMODEL, "model: no float input");
  int *outs = rc == FK_OK ? malloc((size_t)nout * sizeof *outs) : NULL;
  if (rc == FK_OK && !outs) rc = imp_seterr(c, FK_ENOMEM, "out of memory");
  for (int i = 0; i < nout && rc == FK_OK; i++) {
    const char *name = nnames > 0 ? names[i] : g->output[i]->name;
    int k = name ? imp_find(c, name, strlen(name)) : -1;
    if (k < 0) rc = imp_seterr(c, FK_EMODEL, "model: no value called %s", name ? name : "(null)");
    else rc = imp_eval(c, outs[i] = k);
  }
  for (int i = 0; i < nout && rc == FK_OK; i++) {
    imp_node *o = &c->nodes[outs[i]];
    imp_val r;
    if (o->v.t < 0) rc = bad(c, o, "an output is a constant");
    else if ((rc = imp_rowmajor(c, o, &o->v, &r)) == FK_OK) nn_mark_output(c->g, r.t);
  }
  free(outs);
  if (rc == FK_OK && nn_graph_status(c->g) != FK_OK)
    rc = imp_seterr(c, FK_EMODEL, "model: %s", c->g->err);
  if (rc == FK_OK && (rc = nn_graph_fuse(c->g)) == FK_ENOMEM) imp_seterr(c, rc, "out of memory");
  return rc;
}

/* Parses and imports size bytes at data; what describes them in messages. */
static int load_bytes(imp_ctx *c, const void *data, size_t size, const char *what,
                      const char *const *outputs, int noutputs) {
  if (size == 0) return imp_seterr(c, FK_EMODEL, "%s is empty", what);
  budget b = {BUDGET_FIXED + BUDGET_PER_BYTE * size};
  ProtobufCAllocator alloc = {budget_alloc, budget_free, &b};
  Onnx__ModelProto *m = onnx__model_proto__unpack(&alloc, size, data);
  int rc;
  if (!m) {
    rc = imp_seterr(c, FK_EMODEL, "%s: not a valid ONNX model (protobuf parse failed)", what);
  } else {
    ((onnx_reader *)c->user)->model = m;
    rc = load_graph(c, m, outputs, noutputs);
  }
  imp_free(c);
  if (m) onnx__model_proto__free_unpacked(m, &alloc);
  return rc;
}

int nn_onnx_load_files(const nn_files *fs, const char *name, const char *const *outputs,
                       int noutputs, nn_graph **out, char *err, size_t errlen) {
  onnx_reader R = {.fs = fs};
  imp_ctx c = {.err = err, .errlen = errlen, .eval = eval_node, .user = &R};
  if (err && errlen) err[0] = '\0';
  if (!out || !fs || !name || noutputs < 0 || (noutputs > 0 && !outputs))
    return imp_seterr(&c, FK_EINVAL, "nn_onnx_load: invalid arguments");
  *out = NULL;
  char *path = nn_files_path(fs, name), *data = NULL;
  size_t size = 0;
  int rc = path ? imp_read_model(&c, fs, name, path, &data, &size)
                : imp_seterr(&c, FK_ENOMEM, "out of memory");
  if (rc == FK_OK) rc = load_bytes(&c, data, size, path, outputs, noutputs);
  free(data);
  free(path);
  ext_free(&R);
  if (rc != FK_OK) {
    nn_graph_free(c.g);
    return rc;
  }
  *out = c.g;
  return FK_OK;
}

int nn_onnx_load(const char *path, const char *const *outputs, int noutputs, nn_graph **out,
                 char *err, size_t errlen) {
  /* External data files live next to the model. */
  char *dir = NULL;
  const char *base = NULL;
  if (path && nn_files_split(path, &dir, &base) != FK_OK) {
    imp_ctx c = {.err = err, .errlen = errlen};
    if (out) *out = NULL;
    return imp_seterr(&c, FK_ENOMEM, "out of memory");
  }
  nn_files fs = nn_files_dir(dir);
  int rc = nn_onnx_load_files(path ? &fs : NULL, base, outputs, noutputs, out, err, errlen);
  free(dir);
  return rc;
}
