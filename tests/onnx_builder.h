/*
 * onnx_builder.h - writes small ONNX models with protobuf-c, for the tests
 * (test_onnx.c) and the fuzz seeds (fuzz/seeds_onnx.c): a ModelProto with
 * one graph, its inputs and outputs, initializers of any stored form,
 * nodes and their attributes. Every allocation is kept in the builder and
 * freed by mb_free; strings passed in are not copied.
 */
#ifndef FK_ONNX_BUILDER_H
#define FK_ONNX_BUILDER_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

#define MB_MAX_MEM 1024

/* A model under construction; every allocation is kept for mb_free. */
typedef struct mb {
  Onnx__ModelProto m;
  Onnx__GraphProto g;
  Onnx__OperatorSetIdProto op;
  Onnx__OperatorSetIdProto *ops[1];
  void *mem[MB_MAX_MEM];
  int nmem;
} mb;

static inline void *mb_alloc(mb *b, size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (b->nmem < MB_MAX_MEM) b->mem[b->nmem++] = p;
  return p;
}

static inline void mb_init(mb *b, int opset) {
  memset(b, 0, sizeof *b);
  onnx__model_proto__init(&b->m);
  onnx__graph_proto__init(&b->g);
  onnx__operator_set_id_proto__init(&b->op);
  b->op.has_version = 1;
  b->op.version = opset;
  b->ops[0] = &b->op;
  b->m.n_opset_import = 1;
  b->m.opset_import = b->ops;
  b->m.has_ir_version = 1;
  b->m.ir_version = 7;
  b->m.graph = &b->g;
  b->g.node = mb_alloc(b, 64 * sizeof *b->g.node);
  b->g.initializer = mb_alloc(b, 64 * sizeof *b->g.initializer);
  b->g.input = mb_alloc(b, 4 * sizeof *b->g.input);
  b->g.output = mb_alloc(b, 8 * sizeof *b->g.output);
}

static inline void mb_free(mb *b) {
  for (int i = 0; i < b->nmem; i++) free(b->mem[i]);
}

/* A graph input or output of type float with the given dims (0 = dynamic). */
static inline void mb_value(mb *b, int output, const char *name, int rank, const int *dims) {
  Onnx__ValueInfoProto *v = mb_alloc(b, sizeof *v);
  onnx__value_info_proto__init(v);
  v->name = (char *)name;
  if (!output) {
    Onnx__TypeProto *t = mb_alloc(b, sizeof *t);
    Onnx__TypeProto__Tensor *tt = mb_alloc(b, sizeof *tt);
    Onnx__TensorShapeProto *sh = mb_alloc(b, sizeof *sh);
    onnx__type_proto__init(t);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    sh->n_dim = (size_t)rank;
    sh->dim = mb_alloc(b, (size_t)rank * sizeof *sh->dim);
    for (int i = 0; i < rank; i++) {
      Onnx__TensorShapeProto__Dimension *d = mb_alloc(b, sizeof *d);
      onnx__tensor_shape_proto__dimension__init(d);
      if (dims[i] > 0) {
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = dims[i];
      } else {
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        d->dim_param = "N";
      }
      sh->dim[i] = d;
    }
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = sh;
    t->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    t->tensor_type = tt;
    v->type = t;
    b->g.input[b->g.n_input++] = v;
  } else {
    b->g.output[b->g.n_output++] = v;
  }
}

static inline Onnx__TensorProto *mb_tensor(mb *b, const char *name, int rank, const int *dims) {
  Onnx__TensorProto *t = mb_alloc(b, sizeof *t);
  onnx__tensor_proto__init(t);
  t->name = (char *)name;
  t->n_dims = (size_t)rank;
  t->dims = mb_alloc(b, (size_t)rank * sizeof *t->dims);
  for (int i = 0; i < rank; i++) t->dims[i] = dims[i];
  t->has_data_type = 1;
  return t;
}

/* A float initializer in float_data. */
static inline Onnx__TensorProto *mb_floats(mb *b, const char *name, int rank, const int *dims,
                                    const float *v) {
  Onnx__TensorProto *t = mb_tensor(b, name, rank, dims);
  size_t n = 1;
  for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
  t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
  t->n_float_data = n;
  t->float_data = mb_alloc(b, n * sizeof(float));
  memcpy(t->float_data, v, n * sizeof(float));
  b->g.initializer[b->g.n_initializer++] = t;
  return t;
}

/* An int64 vector initializer in raw_data (little-endian). */
static inline void mb_int64s(mb *b, const char *name, int n, const long long *v) {
  int dims[1] = {n};
  Onnx__TensorProto *t = mb_tensor(b, name, 1, dims);
  t->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__INT64;
  t->has_raw_data = 1;
  t->raw_data.len = (size_t)n * 8;
  t->raw_data.data = mb_alloc(b, t->raw_data.len);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 8; k++) t->raw_data.data[8 * i + k] = (uint8_t)((uint64_t)v[i] >> (8 * k));
  b->g.initializer[b->g.n_initializer++] = t;
}

/* Splits "a,b" into a string array. */
static inline char **mb_names(mb *b, const char *list, size_t *n) {
  *n = 0;
  if (!list || !*list) return NULL;
  char *s = mb_alloc(b, strlen(list) + 1);
  strcpy(s, list);
  char **v = mb_alloc(b, 16 * sizeof *v);
  for (char *tok = strtok(s, ","); tok && *n < 16; tok = strtok(NULL, ",")) v[(*n)++] = tok;
  return v;
}

static inline Onnx__NodeProto *mb_node(mb *b, const char *op, const char *ins, const char *outs) {
  Onnx__NodeProto *n = mb_alloc(b, sizeof *n);
  onnx__node_proto__init(n);
  n->op_type = (char *)op;
  n->input = mb_names(b, ins, &n->n_input);
  n->output = mb_names(b, outs, &n->n_output);
  char *name = mb_alloc(b, 32);
  snprintf(name, 32, "%s_%zu", op, b->g.n_node);
  n->name = name;
  n->attribute = mb_alloc(b, 8 * sizeof *n->attribute);
  b->g.node[b->g.n_node++] = n;
  return n;
}

static inline Onnx__AttributeProto *mb_attr(mb *b, Onnx__NodeProto *n, const char *name) {
  Onnx__AttributeProto *a = mb_alloc(b, sizeof *a);
  onnx__attribute_proto__init(a);
  a->name = (char *)name;
  n->attribute[n->n_attribute++] = a;
  return a;
}

static inline void mb_attr_i(mb *b, Onnx__NodeProto *n, const char *name, long long v) {
  Onnx__AttributeProto *a = mb_attr(b, n, name);
  a->has_type = 1;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
  a->has_i = 1;
  a->i = v;
}

static inline void mb_attr_ints(mb *b, Onnx__NodeProto *n, const char *name, int cnt, const long long *v) {
  Onnx__AttributeProto *a = mb_attr(b, n, name);
  a->has_type = 1;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
  a->n_ints = (size_t)cnt;
  a->ints = mb_alloc(b, (size_t)cnt * sizeof *a->ints);
  for (int i = 0; i < cnt; i++) a->ints[i] = v[i];
}

/* A tensor of dtype holding v (count = product of dims), not yet placed:
 * in raw_data (little-endian) when raw, else in the dtype's typed field
 * (float16 bits and 8/16-bit ints in int32_data, as ONNX stores them). */
static inline uint16_t mb_half(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  uint32_t sign = (u >> 16) & 0x8000, e = (u >> 23) & 255, m = u & 0x7fffff;
  if (e < 103) return (uint16_t)sign; /* to zero (no subnormals here) */
  if (e > 142) return (uint16_t)(sign | 0x7c00);
  if (e < 113) return (uint16_t)(sign | ((m | 0x800000) >> (126 - e)));
  return (uint16_t)(sign | (e - 112) << 10 | m >> 13);
}

static inline Onnx__TensorProto *mb_data(mb *b, const char *name, int dtype, int rank,
                                          const int *dims, const float *v, int raw) {
  Onnx__TensorProto *t = mb_tensor(b, name, rank, dims);
  size_t n = 1;
  for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
  t->data_type = dtype;
  int sz = dtype == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE || dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8
           : dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT || dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT32 ? 4
           : dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 || dtype == ONNX__TENSOR_PROTO__DATA_TYPE__INT16 ||
                   dtype == ONNX__TENSOR_PROTO__DATA_TYPE__UINT16 ? 2
                                                                 : 1;
  if (raw) {
    t->has_raw_data = 1;
    t->raw_data.len = n * (size_t)sz;
    t->raw_data.data = mb_alloc(b, t->raw_data.len);
  }
  for (size_t i = 0; i < n; i++) {
    uint64_t bits;
    if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
      uint32_t u;
      memcpy(&u, &v[i], 4);
      bits = u;
    } else if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
      double d = v[i];
      memcpy(&bits, &d, 8);
    } else if (dtype == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16) {
      bits = mb_half(v[i]);
    } else {
      bits = (uint64_t)(int64_t)v[i];
    }
    if (raw) {
      for (int k = 0; k < sz; k++) t->raw_data.data[i * (size_t)sz + (size_t)k] = (uint8_t)(bits >> (8 * k));
      continue;
    }
    switch (dtype) {
      case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
        if (!t->float_data) t->float_data = mb_alloc(b, n * sizeof *t->float_data);
        t->float_data[t->n_float_data++] = v[i];
        break;
      case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
        if (!t->double_data) t->double_data = mb_alloc(b, n * sizeof *t->double_data);
        t->double_data[t->n_double_data++] = v[i];
        break;
      case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
        if (!t->int64_data) t->int64_data = mb_alloc(b, n * sizeof *t->int64_data);
        t->int64_data[t->n_int64_data++] = (int64_t)v[i];
        break;
      default:
        if (!t->int32_data) t->int32_data = mb_alloc(b, n * sizeof *t->int32_data);
        t->int32_data[t->n_int32_data++] = (int32_t)bits;
    }
  }
  return t;
}

/* mb_data() as a graph initializer. */
static inline Onnx__TensorProto *mb_init_data(mb *b, const char *name, int dtype, int rank,
                                               const int *dims, const float *v, int raw) {
  Onnx__TensorProto *t = mb_data(b, name, dtype, rank, dims, v, raw);
  b->g.initializer[b->g.n_initializer++] = t;
  return t;
}

/* Marks t's data as external: in file loc at offset off, len bytes (len
 * < 0: no length entry, the rest of the file). Its raw_data is dropped. */
static inline void mb_external(mb *b, Onnx__TensorProto *t, const char *loc, long long off,
                               long long len) {
  t->has_raw_data = 0;
  t->external_data = mb_alloc(b, 3 * sizeof *t->external_data);
  const char *keys[3] = {"location", "offset", "length"};
  for (int k = 0; k < 3; k++) {
    if (k == 2 && len < 0) break;
    Onnx__StringStringEntryProto *e = mb_alloc(b, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = (char *)keys[k];
    if (k == 0) {
      e->value = (char *)loc;
    } else {
      e->value = mb_alloc(b, 24);
      snprintf(e->value, 24, "%lld", k == 1 ? off : len);
    }
    t->external_data[t->n_external_data++] = e;
  }
  t->has_data_location = 1;
  t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

static inline void mb_attr_f(mb *b, Onnx__NodeProto *n, const char *name, float v) {
  Onnx__AttributeProto *a = mb_attr(b, n, name);
  a->has_type = 1;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
  a->has_f = 1;
  a->f = v;
}

static inline void mb_attr_s(mb *b, Onnx__NodeProto *n, const char *name, const char *v) {
  Onnx__AttributeProto *a = mb_attr(b, n, name);
  a->has_type = 1;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
  a->has_s = 1;
  a->s.len = strlen(v);
  a->s.data = (uint8_t *)v;
}

static inline void mb_attr_floats(mb *b, Onnx__NodeProto *n, const char *name, int cnt,
                                  const float *v) {
  Onnx__AttributeProto *a = mb_attr(b, n, name);
  a->has_type = 1;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
  a->n_floats = (size_t)cnt;
  a->floats = mb_alloc(b, (size_t)cnt * sizeof *a->floats);
  memcpy(a->floats, v, (size_t)cnt * sizeof *v);
}

static inline void mb_attr_t(mb *b, Onnx__NodeProto *n, const char *name, Onnx__TensorProto *t) {
  Onnx__AttributeProto *a = mb_attr(b, n, name);
  a->has_type = 1;
  a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
  a->t = t;
}

/* The packed model, malloc'd; its size in *n. */
static inline uint8_t *mb_pack(mb *b, size_t *n) {
  *n = onnx__model_proto__get_packed_size(&b->m);
  uint8_t *buf = malloc(*n ? *n : 1);
  if (buf) onnx__model_proto__pack(&b->m, buf);
  return buf;
}

#endif /* FK_ONNX_BUILDER_H */
