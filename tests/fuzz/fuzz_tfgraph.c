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
  fuzz_accepted = 0;
  fuzz_archive a;
  fuzz_split(data, size, "model.json", &a);
  nn_files fs = fuzz_files(&a);
  char names_buf[512], err[256];
  const char *names[FUZZ_MAX_OUTPUTS];
  int nnames = fuzz_output_names(&a, names_buf, sizeof names_buf, names);
  nn_graph *g = NULL;
  int rc = nn_tfgraph_load_files(&fs, "model.json", nnames ? names : NULL, nnames, &g, err,
                                 sizeof err);
  fuzz_check_loaded(rc, g, err, nnames);
  return 0;
}
