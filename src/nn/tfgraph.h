/*
 * tfgraph.h - loads a TFJS graph model (model.json: a TF GraphDef in JSON
 * plus a weights manifest) into an nn_graph (nn.h), so that it runs on the
 * same XNNPACK and reference backends as the hand-built face-api nets.
 *
 * The model's single Placeholder [-1, H, W, C] becomes tensor 0 of the graph
 * (batch fixed at 1, NHWC). Const nodes are read from the weight shards next
 * to model.json (float32, float16-quantized, uint8/uint16-quantized, int32);
 * nodes whose inputs are all constant are folded at load time.
 */
#ifndef FK_NN_TFGRAPH_H
#define FK_NN_TFGRAPH_H

#include <stddef.h>

#include "nn/files.h"
#include "nn/nn.h"

/* Loads json_path. outputs: names of the nodes to expose as the graph's
 * outputs, in this order (NULL with noutputs = 0: the nodes no other node
 * consumes, in file order). Returns FK_OK, FK_ENOENT (no model.json),
 * FK_EMODEL (malformed JSON, a missing or short weight shard, an unknown
 * dtype, a dangling input, an unsupported op: err names the op and the
 * node) or FK_ENOMEM. */
int nn_tfgraph_load(const char *json_path, const char *const *outputs,
                    int noutputs, nn_graph **out, char *err, size_t errlen);

/* The same, reading model.json (`name`) and its shards through fs
 * (files.h): nn_tfgraph_load() is this over model.json's directory; the
 * fuzz target serves the files from memory. */
int nn_tfgraph_load_files(const nn_files *fs, const char *name,
                          const char *const *outputs, int noutputs,
                          nn_graph **out, char *err, size_t errlen);

#endif /* FK_NN_TFGRAPH_H */
