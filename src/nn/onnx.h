/*
 * onnx.h - loads an ONNX model (ModelProto, opset 7 or later, default
 * domain) into an nn_graph (nn.h), so that it runs on the same XNNPACK and
 * reference backends as every other facekit net.
 *
 * Layouts. The model's one float input [1, C, H, W] (NCHW; a dynamic batch
 * is fixed at 1) becomes tensor 0 of the graph as [H][W][C] (NHWC): callers
 * fill nn_runtime_input() in HWC order. An input of rank <= 3 is taken in
 * its own row-major order. Conv weights are converted from OIHW once, here.
 * The outputs are in ONNX's own row-major order of their shapes (a [1, 4420,
 * 2] output is 4420 rows of 2; a [1, C, H, W] output is C planes).
 *
 * Initializers and Constant nodes are the constants (float, float16,
 * double, int8..int64, in raw_data, the typed fields or external data: a
 * file beside the model, named relative to its directory and never outside
 * it, with an offset and a length; the checksum is not verified); nodes whose inputs
 * are all constant are folded at load time, so shape arithmetic (Shape,
 * Gather, Unsqueeze, Concat into Reshape) costs nothing at run time.
 * Supported ops: Conv (any group; depthwise when group = channels), PRelu,
 * Relu, LeakyRelu, Sigmoid, Tanh, Exp, Clip, Add, Sub, Mul, Div, Max, Min,
 * BatchNormalization (folded), Gemm, MatMul, Reshape, Flatten, Squeeze,
 * Unsqueeze, Concat, Transpose, Slice, Split, Gather, Shape, Pad, MaxPool,
 * AveragePool, GlobalAveragePool, GlobalMaxPool, ReduceMean/Max/Sum,
 * Softmax, Constant, Identity, Dropout, Cast.
 *
 * Everything in the file is untrusted: the file is parsed by protobuf-c
 * under a memory budget proportional to its size, and every count, dim,
 * index and data length is checked before it is used. Anything unsupported
 * (an op, an attribute value, a dtype, a shape that cannot be fixed at
 * batch 1) is FK_EMODEL naming the node and its op.
 */
#ifndef FK_NN_ONNX_H
#define FK_NN_ONNX_H

#include <stddef.h>

#include "nn/files.h"
#include "nn/nn.h"

/* Loads path. outputs: names of the values to expose as the graph's
 * outputs, in this order (NULL with noutputs = 0: the graph's declared
 * outputs, in order). Returns FK_OK, FK_ENOENT (no such file), FK_EIO,
 * FK_EMODEL (err says why, naming the node and op) or FK_ENOMEM. */
int nn_onnx_load(const char *path, const char *const *outputs, int noutputs,
                 nn_graph **out, char *err, size_t errlen);
/* The same, reading the model (`name`) and its external data files
 * through fs (files.h): nn_onnx_load() is this over the model's directory;
 * the fuzz target serves the files from memory. FK_ENOENT and FK_EIO also
 * stand for a missing or unreadable external data file. */
int nn_onnx_load_files(const nn_files *fs, const char *name,
                       const char *const *outputs, int noutputs,
                       nn_graph **out, char *err, size_t errlen);

#endif /* FK_NN_ONNX_H */
