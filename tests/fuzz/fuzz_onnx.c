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
  fuzz_accepted = 0;
  fuzz_archive a;
  fuzz_split(data, size, "model.onnx", &a);
  nn_files fs = fuzz_files(&a);
  char names_buf[512], err[256];
  const char *names[FUZZ_MAX_OUTPUTS];
  int nnames = fuzz_output_names(&a, names_buf, sizeof names_buf, names);
  nn_graph *g = NULL;
  int rc = nn_onnx_load_files(&fs, "model.onnx", nnames ? names : NULL, nnames, &g, err,
                              sizeof err);
  fuzz_check_loaded(rc, g, err, nnames);
  return 0;
}
