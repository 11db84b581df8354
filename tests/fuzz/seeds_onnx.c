/*
 * seeds_onnx.c - the seed corpus of fuzz_onnx (OUT/onnx/corpus), written by
 * `make fuzz-seeds` with make_seeds.c: small ONNX models built with
 * protobuf-c (tests/onnx_builder.h) that together use every op the importer
 * maps (src/nn/onnx.c), the opset variants it tells apart (attributes that
 * became inputs in opsets 10, 11 and 13, Softmax's axis in 13, Shape's
 * start/end in 15, Reshape's allowzero in 14), every tensor storage (raw
 * and typed fields of each dtype, external data), rank-2 and dynamic-batch
 * inputs and named outputs; then near misses, each stopping at one check.
 * Seeds named ok-* must load and run (the replay test checks it).
 *
 * Values come from a fixed pattern, so the output is deterministic.
 */
#include "seeds.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "../onnx_builder.h"

#define F32 ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT
#define I64 ONNX__TENSOR_PROTO__DATA_TYPE__INT64
#define SHAPE(...) (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), (const int[]){__VA_ARGS__}

/* count values in [-1, 1), the same for the same seed. */
static const float *pattern(size_t count, int seed) {
  static float v[4096];
  if (count > sizeof v / sizeof v[0]) die("pattern of %zu values", count);
  unsigned s = 2654435761u * (unsigned)(seed + 1);
  for (size_t i = 0; i < count; i++) {
    s = s * 1103515245u + 12345u;
    v[i] = (float)((s >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
  return v;
}

static size_t count_of(int rank, const int *dims) {
  size_t n = 1;
  for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
  return n;
}

/* A float initializer of the pattern, in raw_data. */
static Onnx__TensorProto *weight(mb *b, const char *name, int seed, int rank, const int *dims) {
  return mb_init_data(b, name, F32, rank, dims, pattern(count_of(rank, dims), seed), 1);
}

/* An int64 vector initializer. */
static void ints(mb *b, const char *name, int n, const long long *v) { mb_int64s(b, name, n, v); }

static Onnx__NodeProto *node(mb *b, const char *op, const char *ins, const char *outs) {
  return mb_node(b, op, ins, outs);
}

static void ints_attr(mb *b, Onnx__NodeProto *n, const char *name, int cnt, ...) {
  long long v[8];
  va_list ap;
  va_start(ap, cnt);
  for (int i = 0; i < cnt; i++) v[i] = va_arg(ap, int);
  va_end(ap);
  mb_attr_ints(b, n, name, cnt, v);
}

/* Writes the model, then the extra sections (external files, @outputs). */
static void emit_model(mb *b, const char *name, const buf *extra) {
  size_t n;
  uint8_t *bytes = mb_pack(b, &n);
  if (!bytes) die("out of memory");
  buf out = {0};
  put(&out, bytes, n);
  if (extra) put(&out, extra->p, extra->n);
  emit("onnx", name, out.p, out.n);
  free(bytes);
  free(out.p);
  mb_free(b);
}

/* ---- valid models --------------------------------------------------------------- */

/* Conv with pads, BatchNormalization, PRelu, depthwise Conv, Relu, MaxPool,
 * GlobalAveragePool, Flatten, Gemm (transB, alpha, beta), Softmax (opset 11:
 * axis 1, flattened). */
static void conv_chain(const char *name, const char *outputs) {
  mb b;
  mb_init(&b, 11);
  mb_value(&b, 0, "x", SHAPE(1, 3, 6, 6));
  weight(&b, "w1", 1, SHAPE(4, 3, 3, 3));
  weight(&b, "b1", 2, SHAPE(4));
  weight(&b, "scale", 3, SHAPE(4));
  weight(&b, "shift", 4, SHAPE(4));
  weight(&b, "mean", 5, SHAPE(4));
  mb_init_data(&b, "var", F32, SHAPE(4), (const float[]){0.5f, 1, 2, 4}, 1);
  weight(&b, "slope", 6, SHAPE(4, 1, 1));
  weight(&b, "w2", 7, SHAPE(4, 1, 3, 3));
  weight(&b, "wg", 8, SHAPE(3, 4));
  weight(&b, "bg", 9, SHAPE(3));
  Onnx__NodeProto *n = node(&b, "Conv", "x,w1,b1", "c1");
  ints_attr(&b, n, "pads", 4, 1, 1, 1, 1);
  ints_attr(&b, n, "kernel_shape", 2, 3, 3);
  ints_attr(&b, n, "strides", 2, 1, 1);
  mb_attr_f(&b, node(&b, "BatchNormalization", "c1,scale,shift,mean,var", "bn"), "epsilon", 1e-3f);
  node(&b, "PRelu", "bn,slope", "pr");
  n = node(&b, "Conv", "pr,w2", "dw");
  mb_attr_i(&b, n, "group", 4);
  ints_attr(&b, n, "strides", 2, 2, 2);
  ints_attr(&b, n, "pads", 4, 1, 1, 1, 1);
  node(&b, "Relu", "dw", "r");
  n = node(&b, "MaxPool", "r", "mp");
  ints_attr(&b, n, "kernel_shape", 2, 2, 2);
  node(&b, "GlobalAveragePool", "mp", "gap");
  mb_attr_i(&b, node(&b, "Flatten", "gap", "f"), "axis", 1);
  n = node(&b, "Gemm", "f,wg,bg", "gm");
  mb_attr_i(&b, n, "transB", 1);
  mb_attr_f(&b, n, "alpha", 0.5f);
  mb_attr_f(&b, n, "beta", 2.0f);
  node(&b, "Softmax", "gm", "y");
  mb_value(&b, 1, "y", 0, NULL);
  buf extra = {0};
  if (outputs) {
    section(&extra, "@outputs");
    put_str(&extra, outputs);
  }
  emit_model(&b, name, outputs ? &extra : NULL);
  free(extra.p);
}

/* Grouped and dilated Conv with SAME_UPPER, SAME_LOWER and VALID,
 * LeakyRelu, Sigmoid, AveragePool counting pads, MaxPool with ceil_mode,
 * Tanh, Clip by inputs (opset 13), GlobalMaxPool; two outputs. */
static void conv_variants(void) {
  mb b;
  mb_init(&b, 13);
  mb_value(&b, 0, "x", SHAPE(1, 4, 7, 7));
  weight(&b, "wg", 1, SHAPE(4, 2, 3, 3));
  weight(&b, "ws", 2, SHAPE(2, 4, 2, 2));
  weight(&b, "wv", 3, SHAPE(3, 2, 1, 1));
  weight(&b, "bv", 4, SHAPE(3));
  mb_init_data(&b, "lo", F32, 0, NULL, (const float[]){-0.25f}, 1);
  mb_init_data(&b, "hi", F32, 0, NULL, (const float[]){0.5f}, 0);
  Onnx__NodeProto *n = node(&b, "Conv", "x,wg", "a");
  mb_attr_i(&b, n, "group", 2);
  ints_attr(&b, n, "dilations", 2, 2, 2);
  mb_attr_s(&b, n, "auto_pad", "SAME_UPPER");
  mb_attr_f(&b, node(&b, "LeakyRelu", "a", "b"), "alpha", 0.1f);
  n = node(&b, "Conv", "b,ws", "c");
  ints_attr(&b, n, "strides", 2, 2, 2);
  mb_attr_s(&b, n, "auto_pad", "SAME_LOWER");
  node(&b, "Sigmoid", "c", "d");
  n = node(&b, "AveragePool", "d", "e");
  ints_attr(&b, n, "kernel_shape", 2, 3, 3);
  ints_attr(&b, n, "pads", 4, 1, 1, 1, 1);
  mb_attr_i(&b, n, "count_include_pad", 1);
  n = node(&b, "MaxPool", "e", "f");
  ints_attr(&b, n, "kernel_shape", 2, 3, 3);
  ints_attr(&b, n, "strides", 2, 2, 2);
  mb_attr_i(&b, n, "ceil_mode", 1);
  mb_attr_s(&b, node(&b, "Conv", "f,wv,bv", "g"), "auto_pad", "VALID");
  node(&b, "Tanh", "g", "h");
  node(&b, "Clip", "h,lo,hi", "y");
  node(&b, "GlobalMaxPool", "d", "y2");
  mb_value(&b, 1, "y", 0, NULL);
  mb_value(&b, 1, "y2", 0, NULL);
  emit_model(&b, "ok-conv-variants", NULL);
}

/* Opset 7: Clip, Pad, Slice, Split, Squeeze and Unsqueeze by attributes;
 * ReduceMean, Concat, Dropout, Identity, Softmax over the trailing axes. */
static void opset7(void) {
  mb b;
  mb_init(&b, 7);
  mb_value(&b, 0, "x", SHAPE(1, 2, 4, 4));
  Onnx__NodeProto *n = node(&b, "Clip", "x", "a");
  mb_attr_f(&b, n, "min", -0.5f);
  mb_attr_f(&b, n, "max", 0.5f);
  n = node(&b, "Pad", "a", "p");
  ints_attr(&b, n, "pads", 8, 0, 0, 1, 1, 0, 0, 1, 1);
  mb_attr_s(&b, n, "mode", "constant");
  n = node(&b, "Slice", "p", "s");
  ints_attr(&b, n, "starts", 2, 1, 1);
  ints_attr(&b, n, "ends", 2, 5, 5);
  ints_attr(&b, n, "axes", 2, 2, 3);
  n = node(&b, "Split", "s", "s0,s1");
  mb_attr_i(&b, n, "axis", 1);
  ints_attr(&b, n, "split", 2, 1, 1);
  node(&b, "Add", "s0,s1", "d");
  n = node(&b, "ReduceMean", "d", "e");
  ints_attr(&b, n, "axes", 1, 3);
  mb_attr_i(&b, n, "keepdims", 0);
  ints_attr(&b, node(&b, "Unsqueeze", "e", "f"), "axes", 1, 3);
  ints_attr(&b, node(&b, "Squeeze", "f", "g"), "axes", 1, 3);
  node(&b, "Dropout", "g", "h");
  node(&b, "Identity", "h", "y");
  mb_attr_i(&b, node(&b, "Concat", "d,d", "cc"), "axis", 1);
  node(&b, "Softmax", "cc", "y2");
  mb_value(&b, 1, "y", 0, NULL);
  mb_value(&b, 1, "y2", 0, NULL);
  emit_model(&b, "ok-opset7", NULL);
}

/* Opset 13: Transpose, Reshape, Slice backwards by inputs with steps,
 * ReduceSum, Split, Squeeze and Unsqueeze by inputs, Pad by inputs with a
 * constant value, Softmax over the channels and over the last axis. */
static void opset13_shapes(void) {
  mb b;
  mb_init(&b, 13);
  mb_value(&b, 0, "x", SHAPE(1, 3, 4, 4));
  ints(&b, "shape", 3, (const long long[]){1, 16, 3});
  ints(&b, "st", 1, (const long long[]){-1});
  ints(&b, "en", 1, (const long long[]){-1000});
  ints(&b, "ax1", 1, (const long long[]){1});
  ints(&b, "step", 1, (const long long[]){-2});
  ints(&b, "split", 2, (const long long[]){1, 2});
  ints(&b, "pads", 8, (const long long[]){0, 0, 1, 0, 0, 0, 0, 1});
  ints(&b, "ax0", 1, (const long long[]){0});
  mb_init_data(&b, "zero", F32, 0, NULL, (const float[]){0}, 1);
  ints_attr(&b, node(&b, "Transpose", "x", "t"), "perm", 4, 0, 2, 3, 1);
  node(&b, "Reshape", "t,shape", "r");
  node(&b, "Slice", "r,st,en,ax1,step", "s");
  mb_attr_i(&b, node(&b, "ReduceSum", "s,ax1", "rs"), "keepdims", 0);
  mb_attr_i(&b, node(&b, "Split", "x,split", "p0,p1"), "axis", 1);
  node(&b, "Pad", "p1,pads,zero", "pd");
  mb_attr_i(&b, node(&b, "Softmax", "pd", "sm"), "axis", 1);
  node(&b, "Squeeze", "p0,ax1", "sq");
  node(&b, "Unsqueeze", "sq,ax0", "us");
  node(&b, "Softmax", "us", "y3");
  mb_value(&b, 1, "rs", 0, NULL);
  mb_value(&b, 1, "sm", 0, NULL);
  mb_value(&b, 1, "y3", 0, NULL);
  emit_model(&b, "ok-opset13-shapes", NULL);
}

/* Opset 15: a Reshape target computed by Shape (start/end), Gather,
 * Unsqueeze, Constant (every value form), Concat and Cast, all folded;
 * Reshape with 0 (copy) dims, Gather of consecutive indices from a tensor,
 * MatMul, Cast of a tensor. */
static void shape_arith(void) {
  mb b;
  mb_init(&b, 15);
  mb_value(&b, 0, "x", SHAPE(1, 2, 3, 4));
  mb_init_data(&b, "i0", I64, 0, NULL, (const float[]){0}, 1);
  ints(&b, "ax0", 1, (const long long[]){0});
  ints(&b, "copy", 3, (const long long[]){0, 0, -1});
  ints(&b, "idx", 3, (const long long[]){3, 4, 5});
  weight(&b, "w", 1, SHAPE(6, 5));
  Onnx__NodeProto *n = node(&b, "Shape", "x", "s");
  mb_attr_i(&b, n, "start", 1);
  mb_attr_i(&b, n, "end", 3);
  mb_attr_i(&b, node(&b, "Gather", "s,i0", "g0"), "axis", 0);
  node(&b, "Unsqueeze", "g0,ax0", "n1");
  mb_attr_ints(&b, node(&b, "Constant", "", "m1"), "value_ints", 1, (const long long[]){-1});
  mb_attr_t(&b, node(&b, "Constant", "", "one"), "value",
            mb_data(&b, "one_t", I64, SHAPE(1), (const float[]){1}, 0));
  mb_attr_i(&b, node(&b, "Concat", "one,n1,m1", "cat"), "axis", 0);
  mb_attr_i(&b, node(&b, "Cast", "cat", "shp"), "to", ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
  node(&b, "Reshape", "x,shp", "r");
  mb_attr_i(&b, node(&b, "Reshape", "r,copy", "r2"), "allowzero", 0);
  mb_attr_i(&b, node(&b, "Gather", "r,idx", "g"), "axis", 2);
  node(&b, "Flatten", "g", "f");
  node(&b, "MatMul", "f,w", "mm");
  mb_attr_f(&b, node(&b, "Constant", "", "two"), "value_float", 2.0f);
  node(&b, "Mul", "mm,two", "m");
  mb_attr_floats(&b, node(&b, "Constant", "", "cf"), "value_floats", 5,
                 (const float[]){0.5f, -0.5f, 1, -1, 0});
  node(&b, "Add", "m,cf", "a");
  mb_attr_i(&b, node(&b, "Cast", "a", "y"), "to", F32);
  mb_value(&b, 1, "y", 0, NULL);
  mb_value(&b, 1, "r2", 0, NULL);
  emit_model(&b, "ok-shape-arith", NULL);
}

/* Add, Sub, Mul, Div, Max, Min against constants of each broadcast shape
 * (per channel, scalar, [1, C, 1, 1], rank 0), constants folded first
 * (binary, unary), Exp, Abs, and tensor-tensor ops. */
static void binary_broadcast(void) {
  mb b;
  mb_init(&b, 13);
  mb_value(&b, 0, "x", SHAPE(1, 3, 2, 2));
  weight(&b, "kc", 1, SHAPE(3, 1, 1));
  weight(&b, "k1", 2, SHAPE(1));
  weight(&b, "k4", 3, SHAPE(1, 3, 1, 1));
  mb_init_data(&b, "two", F32, 0, NULL, (const float[]){2}, 1);
  mb_init_data(&b, "zeros", F32, SHAPE(1), (const float[]){0}, 1);
  mb_init_data(&b, "six", F32, SHAPE(1), (const float[]){6}, 0);
  weight(&b, "fa", 4, SHAPE(3, 1, 1));
  weight(&b, "fb", 5, SHAPE(1, 1, 2));
  node(&b, "Add", "x,kc", "a");
  node(&b, "Sub", "k1,a", "s");
  node(&b, "Mul", "s,k4", "m");
  node(&b, "Div", "m,two", "d");
  node(&b, "Max", "d,zeros", "mx");
  node(&b, "Min", "mx,six", "mn");
  node(&b, "Add", "fa,fb", "fab");
  node(&b, "Relu", "fab", "fr");
  node(&b, "Mul", "mn,fr", "g");
  node(&b, "Exp", "g", "e");
  node(&b, "Abs", "e", "ab");
  node(&b, "Sub", "ab,x", "t");
  node(&b, "Div", "t,e", "y");
  mb_value(&b, 1, "y", 0, NULL);
  emit_model(&b, "ok-binary-broadcast", NULL);
}

/* Every tensor storage the importer decodes: raw float16, double, int8,
 * uint8, int16, uint16, int32, int64, bool; typed float16 (int32_data),
 * double_data, int64_data, int32_data, float_data; a float16 Conv. */
static void dtypes(void) {
  static const struct { int dtype, raw; } kinds[] = {
      {ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, 1}, {ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, 1},
      {ONNX__TENSOR_PROTO__DATA_TYPE__INT8, 1},    {ONNX__TENSOR_PROTO__DATA_TYPE__UINT8, 1},
      {ONNX__TENSOR_PROTO__DATA_TYPE__INT16, 1},   {ONNX__TENSOR_PROTO__DATA_TYPE__UINT16, 1},
      {ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 1},   {I64, 1},
      {ONNX__TENSOR_PROTO__DATA_TYPE__BOOL, 1},    {ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, 0},
      {ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE, 0},  {I64, 0},
      {ONNX__TENSOR_PROTO__DATA_TYPE__INT32, 0},   {F32, 0},
  };
  mb b;
  mb_init(&b, 13);
  mb_value(&b, 0, "x", SHAPE(1, 2, 2, 2));
  const float small[2] = {1, 2};
  /* x -> v0 = x + k0 -> v1 = v0 * k1 -> ... -> v13, then Conv. */
  static const char *k[14] = {"k0", "k1", "k2", "k3", "k4", "k5", "k6",
                              "k7", "k8", "k9", "k10", "k11", "k12", "k13"};
  static const char *ins[15] = {"x,k0",    "v0,k1",   "v1,k2",   "v2,k3",   "v3,k4",
                                "v4,k5",   "v5,k6",   "v6,k7",   "v7,k8",   "v8,k9",
                                "v9,k10",  "v10,k11", "v11,k12", "v12,k13", "v13,wh"};
  static const char *outs[14] = {"v0", "v1", "v2", "v3", "v4",  "v5",  "v6",
                                 "v7", "v8", "v9", "v10", "v11", "v12", "v13"};
  for (int i = 0; i < 14; i++) {
    mb_init_data(&b, k[i], kinds[i].dtype, SHAPE(2, 1, 1), small, kinds[i].raw);
    node(&b, i % 2 ? "Mul" : "Add", ins[i], outs[i]);
  }
  mb_init_data(&b, "wh", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16, SHAPE(2, 2, 1, 1),
               pattern(4, 1), 1);
  node(&b, "Conv", ins[14], "y");
  mb_value(&b, 1, "y", 0, NULL);
  emit_model(&b, "ok-dtypes", NULL);
}

/* A Conv whose weights and bias live in w.data (the bias at an offset,
 * with no length: the rest of the file) and a Mul constant in m.data. */
static void external(const char *name, const char *w_location, int with_files) {
  mb b;
  mb_init(&b, 13);
  mb_value(&b, 0, "x", SHAPE(1, 2, 3, 3));
  Onnx__TensorProto *w = weight(&b, "w", 1, SHAPE(2, 2, 1, 1));
  Onnx__TensorProto *bias = weight(&b, "b", 2, SHAPE(2));
  Onnx__TensorProto *k = weight(&b, "k", 3, SHAPE(2, 1, 1));
  buf extra = {0};
  if (with_files) {
    section(&extra, "w.data");
    put(&extra, w->raw_data.data, w->raw_data.len);
    put(&extra, bias->raw_data.data, bias->raw_data.len);
    section(&extra, "m.data");
    put_str(&extra, "pad!");
    put(&extra, k->raw_data.data, k->raw_data.len);
  }
  mb_external(&b, w, w_location, 0, (long long)w->raw_data.len);
  mb_external(&b, bias, "w.data", (long long)w->raw_data.len, -1);
  mb_external(&b, k, "m.data", 4, (long long)k->raw_data.len);
  node(&b, "Conv", "x,w,b", "c");
  node(&b, "Mul", "c,k", "y");
  mb_value(&b, 1, "y", 0, NULL);
  emit_model(&b, name, &extra);
  free(extra.p);
}

/* A rank-2 input: Gemm (no transB), BatchNormalization and PRelu over
 * [1, C], Relu, Softmax, ReduceMax. */
static void rank2(void) {
  mb b;
  mb_init(&b, 11);
  mb_value(&b, 0, "x", SHAPE(1, 8));
  weight(&b, "w", 1, SHAPE(8, 6));
  weight(&b, "c", 2, SHAPE(6));
  weight(&b, "scale", 3, SHAPE(6));
  weight(&b, "shift", 4, SHAPE(6));
  weight(&b, "mean", 5, SHAPE(6));
  mb_init_data(&b, "var", F32, SHAPE(6), (const float[]){1, 2, 3, 4, 5, 6}, 1);
  weight(&b, "slope", 6, SHAPE(6));
  node(&b, "Gemm", "x,w,c", "a");
  node(&b, "BatchNormalization", "a,scale,shift,mean,var", "bn");
  node(&b, "PRelu", "bn,slope", "p");
  node(&b, "Relu", "p", "r");
  node(&b, "Softmax", "r", "y");
  Onnx__NodeProto *n = node(&b, "ReduceMax", "r", "m");
  ints_attr(&b, n, "axes", 1, 1);
  mb_value(&b, 1, "y", 0, NULL);
  mb_value(&b, 1, "m", 0, NULL);
  emit_model(&b, "ok-rank2", NULL);
}

/* Opset 9, IR 3: a dynamic batch, the initializer also listed as a graph
 * input, the default domain spelled "ai.onnx". */
static void dynamic_batch(void) {
  mb b;
  mb_init(&b, 9);
  b.m.ir_version = 3;
  b.op.domain = "ai.onnx";
  mb_value(&b, 0, "x", SHAPE(0, 1, 3, 3));
  weight(&b, "w", 1, SHAPE(2, 1, 2, 2));
  mb_value(&b, 0, "w", SHAPE(2, 1, 2, 2));
  Onnx__NodeProto *n = node(&b, "Conv", "x,w", "c");
  n->domain = "ai.onnx";
  node(&b, "Relu", "c", "y");
  mb_value(&b, 1, "y", 0, NULL);
  emit_model(&b, "ok-dynamic-batch", NULL);
}

/* ---- near misses ----------------------------------------------------------------- */

/* A one-Conv model with one thing changed. */
typedef enum {
  M_UNKNOWN_OP, M_OPSET6, M_CUSTOM_DOMAIN, M_DYNAMIC_DIM, M_LEGACY_BROADCAST, M_CONST_OUTPUT,
  M_CYCLE, M_RANK5
} miss;

static void near_miss(const char *name, miss what) {
  mb b;
  mb_init(&b, what == M_OPSET6 ? 6 : 13);
  const int dims[4] = {1, 2, what == M_DYNAMIC_DIM ? 0 : 3, 3};
  mb_value(&b, 0, "x", 4, dims);
  weight(&b, "w", 1, SHAPE(2, 2, 1, 1));
  weight(&b, "k", 2, SHAPE(2, 1, 1));
  ints(&b, "r5", 5, (const long long[]){1, 2, 3, 3, 1});
  Onnx__NodeProto *n = node(&b, what == M_UNKNOWN_OP ? "FancyConv" : "Conv",
                            what == M_CYCLE ? "y,w" : "x,w", "c");
  if (what == M_CUSTOM_DOMAIN) n->domain = "com.microsoft";
  n = node(&b, what == M_RANK5 ? "Reshape" : "Add", what == M_RANK5 ? "c,r5" : "c,k", "y");
  if (what == M_LEGACY_BROADCAST) mb_attr_i(&b, n, "broadcast", 1);
  mb_value(&b, 1, what == M_CONST_OUTPUT ? "w" : "y", 0, NULL);
  emit_model(&b, name, NULL);
}

void onnx_seeds(void) {
  mkdirs("onnx");
  conv_chain("ok-conv-chain", NULL);
  conv_chain("ok-named-outputs", "c1\ngap\ny");
  conv_chain("missing-output", "nope");
  conv_variants();
  opset7();
  opset13_shapes();
  shape_arith();
  binary_broadcast();
  dtypes();
  external("ok-external", "w.data", 1);
  external("external-missing-file", "w.data", 0);
  external("external-outside", "../w.data", 1);
  rank2();
  dynamic_batch();
  near_miss("unknown-op", M_UNKNOWN_OP);
  near_miss("opset6", M_OPSET6);
  near_miss("custom-domain", M_CUSTOM_DOMAIN);
  near_miss("dynamic-dim", M_DYNAMIC_DIM);
  near_miss("legacy-broadcast", M_LEGACY_BROADCAST);
  near_miss("constant-output", M_CONST_OUTPUT);
  near_miss("cycle", M_CYCLE);
  near_miss("rank5-reshape", M_RANK5);
}
