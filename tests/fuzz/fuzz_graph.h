/*
 * fuzz_graph.h - what the graph-loader fuzz targets (fuzz_tfgraph.c,
 * fuzz_onnx.c) share after fuzz.h: the optional "@outputs" section, and
 * the checks and runs of whatever the loader returned.
 *
 * "@outputs" lists output names, one a line (at most FUZZ_MAX_OUTPUTS),
 * passed as the loader's `outputs`; without it the loader picks its
 * default outputs. When a graph loads and is small (FUZZ_MAX_FLOATS floats
 * of tensors, FUZZ_MAX_COST inner-loop steps), it is run once on the
 * reference backend with a zero input, so the kernels see whatever shapes
 * the file declares, and once on XNNPACK (xnn.c), the backend production
 * uses. Checked on every input: a failure has a message and returns no
 * graph; a loaded graph is valid, has the outputs asked for, and its
 * outputs are readable after the run.
 */
#ifndef FK_FUZZ_GRAPH_H
#define FK_FUZZ_GRAPH_H

#include "fuzz.h"
#include "nn/nn.h"

#define FUZZ_MAX_FLOATS ((size_t)1 << 20)
#define FUZZ_MAX_COST 4e6
#define FUZZ_MAX_OUTPUTS 4

/* Rough inner-loop steps of one reference run (windows count every cell
 * they visit, padded or not), and the floats its buffers hold. */
static double fuzz_run_cost(const nn_graph *g, size_t *floats) {
  *floats = 0;
  for (int t = 0; t < g->ntensors; t++) *floats += nn_shape_size(g->shapes[t]);
  double cost = nn_graph_macs(g) + (double)*floats;
  for (int i = 0; i < g->nops; i++) {
    const nn_op *op = &g->ops[i];
    double out = (double)nn_shape_size(g->shapes[op->out]);
    if (op->kind == NN_OP_CONV || op->kind == NN_OP_DEPTHWISE ||
        op->kind == NN_OP_MAXPOOL || op->kind == NN_OP_AVGPOOL)
      cost += out * ((double)op->kh * op->kw + op->kh);
    else if (op->kind == NN_OP_REDUCE || op->kind == NN_OP_GLOBAL_AVG ||
             op->kind == NN_OP_SOFTMAX)
      cost += (double)nn_shape_size(g->shapes[op->in[0]]) * 2;
  }
  return cost;
}

/* The "@outputs" section as up to FUZZ_MAX_OUTPUTS names in buf. */
static int fuzz_output_names(const fuzz_archive *a, char *buf, size_t cap, const char **names) {
  const fuzz_file *f = fuzz_lookup(a, "@outputs");
  if (!f || f->len >= cap) return 0;
  memcpy(buf, f->data, f->len);
  buf[f->len] = '\0';
  int n = 0;
  for (char *s = buf; n < FUZZ_MAX_OUTPUTS;) {
    names[n++] = s;
    char *nl = strchr(s, '\n');
    if (!nl) break;
    *nl = '\0';
    s = nl + 1;
  }
  return n;
}

/* Runs g once with a zero input. The reference backend must succeed (its
 * kernels take any valid graph); XNNPACK may refuse a graph (FK_EBACKEND),
 * but must not crash on it. */
static void fuzz_run_once(const nn_graph *g, nn_backend backend) {
  nn_runtime *rt = NULL;
  int rc = nn_runtime_new(g, backend, NULL, &rt);
  if (backend == NN_BACKEND_REFERENCE) FUZZ_CHECK(rc == FK_OK);
  if (rc != FK_OK) return;
  float *in = nn_runtime_input(rt);
  memset(in, 0, nn_shape_size(g->shapes[0]) * sizeof *in);
  rc = nn_runtime_run(rt);
  if (backend == NN_BACKEND_REFERENCE) FUZZ_CHECK(rc == FK_OK);
  for (int i = 0; rc == FK_OK && i < g->noutputs; i++) {
    const float *o = nn_runtime_output(rt, i);
    FUZZ_CHECK(o != NULL);
    fuzz_touch(o, nn_shape_size(g->shapes[g->outputs[i]]) * sizeof *o);
  }
  nn_runtime_free(rt);
}

/* A graph loader reading through nn_files: nn_tfgraph_load_files(),
 * nn_onnx_load_files(). */
typedef int (*fuzz_graph_loader)(const nn_files *fs, const char *name,
                                 const char *const *outputs, int noutputs, nn_graph **out,
                                 char *err, size_t errlen);

/* A target's whole body: splits the input (the main file answers to
 * main_name), loads it with load, checks the result (a failure has a
 * message and no graph; a graph is valid with the outputs asked for) and
 * runs a small graph once on each backend. */
static int fuzz_graph_input(const uint8_t *data, size_t size, const char *main_name,
                            fuzz_graph_loader load) {
  fuzz_accepted = 0;
  fuzz_archive a;
  fuzz_split(data, size, main_name, &a);
  nn_files fs = fuzz_files(&a);
  char names_buf[512], err[256];
  const char *names[FUZZ_MAX_OUTPUTS];
  int nnames = fuzz_output_names(&a, names_buf, sizeof names_buf, names);
  nn_graph *g = NULL;
  int rc = load(&fs, main_name, nnames ? names : NULL, nnames, &g, err, sizeof err);
  if (rc != FK_OK) {
    FUZZ_CHECK(rc < 0 && err[0] != '\0' && g == NULL);
    return 0;
  }
  FUZZ_CHECK(g && nn_graph_status(g) == FK_OK && g->noutputs > 0);
  FUZZ_CHECK(nnames == 0 || g->noutputs == nnames);
  size_t floats;
  if (fuzz_run_cost(g, &floats) <= FUZZ_MAX_COST && floats <= FUZZ_MAX_FLOATS) {
    fuzz_run_once(g, NN_BACKEND_REFERENCE);
    fuzz_run_once(g, NN_BACKEND_XNNPACK);
    fuzz_run_once(g, NN_BACKEND_DNNL);
    fuzz_accepted = 1;
  }
  nn_graph_free(g);
  return 0;
}

#endif /* FK_FUZZ_GRAPH_H */
