/*
 * fuzz_onnx.c - fuzz target for the ONNX loader, nn_onnx_load_files()
 * (src/nn/onnx.c on the import layer import.c, the code behind
 * nn_onnx_load()): the budgeted protobuf-c parse, tensor decoding,
 * external data, every op mapping and its opset variants, then the graph
 * builder (graph.c), the fusion pass (fuse.c) and both backends.
 *
 * Input: a multi-file input (fuzz.h): model.onnx (the ModelProto bytes),
 * then the external data files its tensors name, and optionally "@outputs"
 * (fuzz_graph.h). Seeds (written by seeds_onnx.c) and dictionary: onnx/.
 * A loaded small graph runs once on each backend (fuzz_graph.h).
 */
#include "fuzz_graph.h"
#include "nn/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_graph_input(data, size, "model.onnx", nn_onnx_load_files);
}
