/*
 * fuzz_tfgraph.c - fuzz target for the TFJS graph-model loader,
 * nn_tfgraph_load_files() (src/nn/tfgraph.c on the import layer import.c,
 * the code behind nn_tfgraph_load()), the graph builder (graph.c), the
 * fusion pass (fuse.c) and the reference kernels (ref.c).
 *
 * Input: a multi-file input (fuzz.h): model.json, then the shards its
 * weightsManifest names, and optionally "@outputs" (fuzz_graph.h). Seeds
 * and dictionary: tfgraph/. A loaded small graph runs once on each backend
 * (fuzz_graph.h).
 */
#include "fuzz_graph.h"
#include "nn/tfgraph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return fuzz_graph_input(data, size, "model.json", nn_tfgraph_load_files);
}
