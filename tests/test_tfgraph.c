/*
 * test_tfgraph.c - the TFJS graph-model runtime: the graph-model ops
 * (src/nn/graph.c, ref.c) on XNNPACK and oneDNN against the reference kernels, the
 * fusions (fuse.c) against the unfused graph, the seven human-models graph
 * models (tfgraph.c) on both backends against tfjs-wasm's outputs in
 * tests/fixtures/golden_graph.json, and the loader's failure paths on
 * corrupted copies of a model.
 *
 * Needs the models ($FACEKIT_MODELS, else ./models) and the fixtures
 * ($FK_FIXTURES, else tests/fixtures).
 */
#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "facekit.h"
#include "image/image.h"
#include "nn/nn.h"
#include "nn/tfgraph.h"
#include "testutil.h"
#include "golden.h"

/* XNNPACK and oneDNN vs reference on random input in [-amp, amp), relative to
 * max(1, |reference|); CHECKs the bound, frees g and returns the difference. */
static double backends_agree(nn_graph *g, float amp, double tol, const char *what) {
  double d = tu_backends_agree(g, 7, amp, tol, what);
  nn_graph_free(g);
  return d;
}

/* ---- single ops ------------------------------------------------------------ */

static const float K8[8] = {0.5f, -1.25f, 2.0f, 0.75f, -0.5f, 1.5f, -2.0f, 0.25f};

static void test_binary_ops_match_reference_with_broadcasting(void) {
  float full[5 * 4 * 8];
  tu_fill_random(full, sizeof full / sizeof full[0], 3);
  for (int kind = NN_BIN_ADD; kind <= NN_BIN_MIN; kind++) {
    nn_act act = kind <= NN_BIN_DIV ? NN_ACT_RELU : NN_ACT_NONE;
    nn_shape sc = {1, 1, 1}, pc = {1, 1, 8}, fs = {5, 4, 8};
    nn_graph *g = nn_graph_new(5, 4, 8);
    int x = nn_unary(g, 0, NN_UN_ABS);
    int y = nn_binary_const(g, 0, NN_BIN_ADD, K8, pc, 0, NN_ACT_NONE);
    /* a second operand kept away from 0, for the divisions */
    int pos = nn_clamp(g, x, 0.5f, 9.0f);
    nn_mark_output(g, nn_binary(g, y, pos, kind, act));           /* same shape */
    int red = nn_reduce(g, pos, NN_RED_MAX, NN_AXIS_H | NN_AXIS_W);
    nn_mark_output(g, nn_binary(g, y, red, kind, act));           /* [1,1,c] tensor */
    int one = nn_reduce(g, pos, NN_RED_MEAN, NN_AXIS_C);
    nn_mark_output(g, nn_binary(g, y, one, kind, NN_ACT_NONE));   /* [h,w,1] tensor */
    nn_mark_output(g, nn_binary_const(g, pos, kind, K8, pc, 1, act));  /* k (op) x */
    nn_mark_output(g, nn_binary_const(g, y, kind, K8, sc, 0, act));    /* scalar */
    nn_mark_output(g, nn_binary_const(g, y, kind, full, fs, 0, NN_ACT_NONE));
    char what[32];
    snprintf(what, sizeof what, "binary %d", kind);
    backends_agree(g, 2.0f, 1e-5, what);
  }
}

static void test_unary_clamp_prelu_softmax_match_reference(void) {
  nn_graph *g = nn_graph_new(6, 5, 8);
  int pos = nn_binary_const(g, nn_unary(g, 0, NN_UN_ABS), NN_BIN_ADD, &K8[7], (nn_shape){1, 1, 1},
                            0, NN_ACT_NONE);
  nn_mark_output(g, nn_unary(g, pos, NN_UN_RSQRT));
  nn_mark_output(g, nn_unary(g, 0, NN_UN_SQUARE));
  nn_mark_output(g, nn_unary(g, 0, NN_UN_SIGMOID));
  nn_mark_output(g, nn_unary(g, 0, NN_UN_TANH));
  nn_mark_output(g, nn_clamp(g, 0, -0.25f, 0.5f));
  nn_mark_output(g, nn_prelu(g, 0, K8));
  nn_mark_output(g, nn_softmax(g, 0));
  nn_mark_output(g, nn_leaky_relu(g, 0, 0.1f));
  backends_agree(g, 3.0f, 1e-5, "unary");
}

static void test_reductions_match_reference(void) {
  nn_graph *g = nn_graph_new(7, 6, 5);
  for (int kind = NN_RED_SUM; kind <= NN_RED_MAX; kind++)
    for (int axes = 1; axes <= 7; axes++) nn_mark_output(g, nn_reduce(g, 0, kind, axes));
  backends_agree(g, 1.0f, 1e-5, "reduce");
}

static void test_shape_ops_match_reference(void) {
  nn_graph *g = nn_graph_new(6, 5, 4);
  int a = nn_unary(g, 0, NN_UN_SQUARE);
  for (int axis = 0; axis < 3; axis++) nn_mark_output(g, nn_concat(g, 0, a, axis));
  const int b1[3] = {1, 0, 3}, s1[3] = {2, 1, -1};
  nn_mark_output(g, nn_slice(g, 0, b1, s1, (nn_shape){3, 5, 4}));
  const int b2[3] = {5, 4, 0}, s2[3] = {-2, -3, 2};
  nn_mark_output(g, nn_slice(g, a, b2, s2, (nn_shape){3, 2, 2}));
  nn_mark_output(g, nn_reshape(g, a, (nn_shape){1, 30, 4}));
  int r = nn_reshape(g, 0, (nn_shape){1, 1, 120});
  nn_mark_output(g, nn_softmax(g, r));
  const int pads[6] = {1, 2, 0, 3, 2, 1};
  nn_mark_output(g, nn_pad(g, a, pads));
  backends_agree(g, 1.0f, 1e-6, "shape ops");
}

static void test_windows_match_reference(void) {
  float w[3 * 3 * 6 * 8], dw[3 * 3 * 6];
  tu_fill_random(w, sizeof w / sizeof w[0], 11);
  tu_fill_random(dw, sizeof dw / sizeof dw[0], 12);
  nn_graph *g = nn_graph_new(13, 11, 6);
  nn_mark_output(g, nn_conv2d_dilated(g, 0, w, K8, 3, 3, 8, 1, 2, NN_SAME, NN_ACT_RELU6));
  nn_mark_output(g, nn_conv2d_dilated(g, 0, w, NULL, 3, 3, 8, 2, 2, NN_VALID, NN_ACT_NONE));
  nn_mark_output(g, nn_depthwise_dilated(g, 0, dw, NULL, 3, 3, 1, 3, NN_SAME, NN_ACT_RELU));
  nn_mark_output(g, nn_pool2d(g, 0, 0, 3, 3, 2, NN_SAME));
  nn_mark_output(g, nn_pool2d(g, 0, 1, 3, 2, 2, NN_SAME));
  nn_mark_output(g, nn_pool2d(g, 0, 1, 1, 1, 2, NN_VALID)); /* 1x1: reference */
  backends_agree(g, 1.0f, 1e-5, "windows");
}

/* ---- fusion ---------------------------------------------------------------- */

/* The patterns converters emit, run unfused and fused on the reference. */
static nn_graph *fusable_graph(void) {
  float w[3 * 3 * 4 * 8], bias[8];
  tu_fill_random(w, sizeof w / sizeof w[0], 21);
  tu_fill_random(bias, 8, 22);
  nn_shape pc = {1, 1, 8};
  nn_graph *g = nn_graph_new(9, 9, 4);
  /* conv, then batch norm as Mul + Add */
  int c = nn_conv2d(g, 0, w, bias, 3, 3, 8, 1, NN_SAME, NN_ACT_NONE);
  c = nn_binary_const(g, c, NN_BIN_MUL, K8, pc, 0, NN_ACT_NONE);
  c = nn_binary_const(g, c, NN_BIN_ADD, bias, pc, 0, NN_ACT_NONE);
  /* PReLU as relu(x) + (x - |x|) * k */
  int r = nn_clamp(g, c, 0.0f, INFINITY);
  int s = nn_binary(g, c, nn_unary(g, c, NN_UN_ABS), NN_BIN_SUB, NN_ACT_NONE);
  int p = nn_binary(g, r, nn_binary_const(g, s, NN_BIN_MUL, K8, pc, 0, NN_ACT_NONE),
                    NN_BIN_ADD, NN_ACT_NONE);
  /* ReLU6 as Relu, Minimum 6, Maximum 0, after a depthwise */
  float dw[9 * 8];
  tu_fill_random(dw, 72, 23);
  int d = nn_depthwise(g, p, dw, NULL, 3, 3, 1, NN_SAME, NN_ACT_NONE);
  d = nn_clamp(g, nn_clamp(g, nn_clamp(g, d, 0.0f, INFINITY), -INFINITY, 6.0f), 0.0f, INFINITY);
  /* affine after a relu: becomes a 1x1 depthwise */
  int a = nn_binary_const(g, d, NN_BIN_MUL, K8, pc, 0, NN_ACT_NONE);
  a = nn_binary_const(g, a, NN_BIN_SUB, bias, pc, 0, NN_ACT_NONE);
  /* flatten then FC */
  float fw[9 * 9 * 8 * 3];
  tu_fill_random(fw, sizeof fw / sizeof fw[0], 24);
  int f = nn_fc(g, nn_reshape(g, a, (nn_shape){1, 1, 9 * 9 * 8}), fw, NULL, 3, NN_ACT_NONE);
  nn_mark_output(g, nn_binary_const(g, f, NN_BIN_MUL, K8, (nn_shape){1, 1, 3}, 0, NN_ACT_NONE));
  nn_mark_output(g, a);
  return g;
}

static void test_fusion_keeps_results_and_removes_ops(void) {
  nn_graph *plain = fusable_graph(), *fused = fusable_graph();
  CHECK_EQ_INT(nn_graph_status(plain), FK_OK);
  CHECK_EQ_INT(nn_graph_fuse(fused), FK_OK);
  fprintf(stderr, "  fusion: %d ops -> %d\n", plain->nops, fused->nops);
  CHECK(fused->nops <= 6); /* conv, prelu, depthwise, depthwise 1x1, fc, mul */
  int prelu = 0;
  for (int i = 0; i < fused->nops; i++) prelu += fused->ops[i].kind == NN_OP_PRELU;
  CHECK_EQ_INT(prelu, 1);
  nn_runtime *a = NULL, *b = NULL;
  CHECK_EQ_INT(nn_runtime_new(plain, NN_BACKEND_REFERENCE, NULL, &a), FK_OK);
  CHECK_EQ_INT(nn_runtime_new(fused, NN_BACKEND_REFERENCE, NULL, &b), FK_OK);
  if (a && b) {
    tu_fill_random(nn_runtime_input(a), 9 * 9 * 4, 5);
    memcpy(nn_runtime_input(b), nn_runtime_input(a), 9 * 9 * 4 * sizeof(float));
    CHECK_EQ_INT(nn_runtime_run(a), FK_OK);
    CHECK_EQ_INT(nn_runtime_run(b), FK_OK);
    for (int o = 0; o < 2; o++) {
      size_t n = nn_shape_size(plain->shapes[plain->outputs[o]]);
      CHECK_EQ_INT(n, nn_shape_size(fused->shapes[fused->outputs[o]]));
      double m = 1;
      const float *x = nn_runtime_output(a, o), *y = nn_runtime_output(b, o);
      for (size_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
      CHECK(tu_max_abs_diff(x, y, n) / m < 1e-5);
    }
  }
  nn_runtime_free(a);
  nn_runtime_free(b);
  nn_graph_free(plain);
  backends_agree(fused, 1.0f, 1e-5, "fused");
}

/* ---- the seven models -------------------------------------------------------- */

typedef struct net_case {
  const char *name;
  int probs; /* outputs are probabilities: absolute tolerance */
} net_case;

static const net_case NETS[] = {
    {"gear", 1},      {"emotion", 1},   {"mobilefacenet", 0}, {"faceres", 1},
    {"blazeface", 0}, {"antispoof", 1}, {"liveness", 1},
};

/* chip150.png resized (TF legacy bilinear) to the input size, / 255; gray
 * for a one-channel input, as golden-graph.js does. */
static int chip_input(nn_shape s, float *out) {
  fk_image img;
  if (fk_image_load(tu_fixture("chip150.png"), 0, &img) != FK_OK) return 0;
  float *rgb = malloc((size_t)s.h * s.w * 3 * sizeof *rgb);
  int ok = rgb && s.h == s.w && (s.c == 3 || s.c == 1);
  if (ok) {
    fk_crop_to_square_tensor(&img, (fk_rect){0, 0, img.width, img.height}, 0, s.h, rgb);
    for (size_t p = 0; p < (size_t)s.h * s.w; p++) {
      float r = rgb[3 * p] / 255.0f, g = rgb[3 * p + 1] / 255.0f, b = rgb[3 * p + 2] / 255.0f;
      if (s.c == 3) {
        out[3 * p] = r;
        out[3 * p + 1] = g;
        out[3 * p + 2] = b;
      } else {
        out[p] = r * 0.2989f + g * 0.587f + b * 0.114f;
      }
    }
  }
  free(rgb);
  fk_image_free(&img);
  return ok;
}

/* Worst difference of output y (n values) from its golden record: absolute
 * for probabilities, else relative to max(1, max |golden|); sampled outputs
 * also compare sum and sum of |x| relative to the abs sum. */
static double golden_diff(const cJSON *rec, const float *y, size_t n, int probs) {
  const cJSON *vals = cJSON_GetObjectItemCaseSensitive(rec, "values");
  const cJSON *cnt = cJSON_GetObjectItemCaseSensitive(rec, "count");
  if (!cJSON_IsNumber(cnt) || (size_t)cnt->valuedouble != n) return INFINITY;
  double worst = 0, scale = 1;
  if (vals) {
    const cJSON *v;
    cJSON_ArrayForEach(v, vals) scale = fmax(scale, fabs(v->valuedouble));
    size_t i = 0;
    cJSON_ArrayForEach(v, vals) {
      if (i >= n) return INFINITY;
      worst = fmax(worst, fabs(y[i++] - v->valuedouble));
    }
    return probs ? worst : worst / scale;
  }
  const cJSON *st = cJSON_GetObjectItemCaseSensitive(rec, "stride");
  const cJSON *smp = cJSON_GetObjectItemCaseSensitive(rec, "samples");
  double sum = 0, asum = 0;
  for (size_t i = 0; i < n; i++) {
    sum += y[i];
    asum += fabs(y[i]);
  }
  const cJSON *v;
  cJSON_ArrayForEach(v, smp) scale = fmax(scale, fabs(v->valuedouble));
  size_t i = 0, stride = (size_t)st->valuedouble;
  cJSON_ArrayForEach(v, smp) {
    if (i * stride >= n) return INFINITY;
    worst = fmax(worst, fabs(y[i * stride] - v->valuedouble) / scale);
    i++;
  }
  double gs = cJSON_GetObjectItemCaseSensitive(rec, "sum")->valuedouble;
  double ga = cJSON_GetObjectItemCaseSensitive(rec, "abs_sum")->valuedouble;
  worst = fmax(worst, fabs(sum - gs) / fmax(1, ga));
  worst = fmax(worst, fabs(asum - ga) / fmax(1, ga));
  return worst;
}

static void test_models_match_tfjs_on_every_backend(void) {
  char *text = tu_read_file(tu_fixture("golden_graph.json"), NULL);
  cJSON *golden = text ? cJSON_Parse(text) : NULL;
  free(text);
  CHECK(golden != NULL);
  if (!golden) return;
  for (size_t m = 0; m < sizeof NETS / sizeof NETS[0]; m++) {
    const net_case *nc = &NETS[m];
    char file[64], err[256];
    snprintf(file, sizeof file, "%s.json", nc->name);
    nn_graph *g = NULL;
    int rc = nn_tfgraph_load(tu_model_path(file), NULL, 0, &g, err, sizeof err);
    if (rc != FK_OK) fprintf(stderr, "%s: %s\n", nc->name, err);
    CHECK_EQ_INT(rc, FK_OK);
    if (rc != FK_OK) continue;
    const cJSON *gm = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(golden, "models"), nc->name);
    const cJSON *outs = cJSON_GetObjectItemCaseSensitive(gm, "outputs");
    CHECK_EQ_INT(g->noutputs, cJSON_GetArraySize(outs));
    nn_runtime *r = NULL;
    CHECK_EQ_INT(nn_runtime_new(g, NN_BACKEND_REFERENCE, NULL, &r), FK_OK);
    if (!r || !chip_input(g->shapes[0], nn_runtime_input(r))) {
      CHECK(0);
      nn_runtime_free(r);
      nn_graph_free(g);
      continue;
    }
    CHECK_EQ_INT(nn_runtime_run(r), FK_OK);
    double gr = 0;
    for (int o = 0; o < g->noutputs && o < cJSON_GetArraySize(outs); o++)
      gr = fmax(gr, golden_diff(cJSON_GetArrayItem(outs, o), nn_runtime_output(r, o),
                                nn_shape_size(g->shapes[g->outputs[o]]), nc->probs));
    double tol = nc->probs ? 1e-3 : 1e-4;
    fprintf(stderr, "  %-13s %s vs tfjs: reference %.3g\n", nc->name, nc->probs ? "abs" : "rel", gr);
    CHECK(gr <= tol);
    for (int b = 0; b < TU_NFAST; b++) {
      nn_runtime *x = NULL;
      CHECK_EQ_INT(nn_runtime_new(g, TU_FAST[b], NULL, &x), FK_OK);
      if (!x) continue;
      memcpy(nn_runtime_input(x), nn_runtime_input(r), nn_shape_size(g->shapes[0]) * sizeof(float));
      CHECK_EQ_INT(nn_runtime_run(x), FK_OK);
      double gx = 0, xr = 0;
      for (int o = 0; o < g->noutputs && o < cJSON_GetArraySize(outs); o++) {
        size_t n = nn_shape_size(g->shapes[g->outputs[o]]);
        const float *a = nn_runtime_output(x, o), *rb = nn_runtime_output(r, o);
        gx = fmax(gx, golden_diff(cJSON_GetArrayItem(outs, o), a, n, nc->probs));
        double scale = 1;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(rb[i]));
        xr = fmax(xr, tu_max_abs_diff(a, rb, n) / (nc->probs ? 1 : scale));
      }
      fprintf(stderr, "  %-13s %s vs tfjs: %s %.3g; %s vs reference %.3g\n", nc->name,
              nc->probs ? "abs" : "rel", nn_backend_name(TU_FAST[b]), gx,
              nn_backend_name(TU_FAST[b]), xr);
      CHECK(gx <= tol);
      CHECK(xr <= 1e-5);
      nn_runtime_free(x);
    }
    nn_runtime_free(r);
    nn_graph_free(g);
  }
  cJSON_Delete(golden);
}

static void test_named_outputs_select_and_order(void) {
  const char *names[] = {"Identity_2:0", "Identity"};
  nn_graph *g = NULL;
  char err[256];
  CHECK_EQ_INT(nn_tfgraph_load(tu_model_path("gear.json"), names, 2, &g, err, sizeof err), FK_OK);
  if (g) {
    CHECK_EQ_INT(g->noutputs, 2);
    CHECK_EQ_INT(g->shapes[g->outputs[0]].c, 5); /* race */
    CHECK_EQ_INT(g->shapes[g->outputs[1]].c, 7); /* age */
  }
  nn_graph_free(g);
  const char *bad[] = {"NoSuchNode"};
  g = NULL;
  CHECK_EQ_INT(nn_tfgraph_load(tu_model_path("gear.json"), bad, 1, &g, err, sizeof err), FK_EMODEL);
  CHECK(g == NULL && strstr(err, "NoSuchNode"));
}

/* ---- corrupt models ------------------------------------------------------------ */

static char *tmp_dir;

/* Writes model.json and its shard `shard_name` (n bytes) into dir and
 * loads it; the status, with the message in err. */
static int load_written(const char *dir, const char *json, const char *shard_name,
                        const void *shard, size_t n, char *err, size_t errlen) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", dir, shard_name);
  tu_write_file(path, shard, n);
  snprintf(path, sizeof path, "%s/model.json", dir);
  tu_write_text(path, json);
  nn_graph *g = NULL;
  int rc = nn_tfgraph_load(path, NULL, 0, &g, err, errlen);
  CHECK((rc == FK_OK) == (g != NULL));
  nn_graph_free(g);
  return rc;
}

/* Writes the liveness model (json text, shard bytes minus `short_by`) into
 * the temp dir and loads it; the status, with the message in err. */
static int load_variant(const char *json, size_t short_by, char *err, size_t errlen) {
  size_t n = 0;
  char *bin = tu_read_file(tu_model_path("liveness.bin"), &n);
  int rc = load_written(tmp_dir, json, "liveness.bin", bin, bin && n >= short_by ? n - short_by : 0,
                        err, errlen);
  free(bin);
  return rc;
}

/* The liveness model.json with `edit` applied to its parsed form. */
static char *edited(void (*edit)(cJSON *root)) {
  char *text = tu_read_file(tu_model_path("liveness.json"), NULL);
  cJSON *root = text ? cJSON_Parse(text) : NULL;
  free(text);
  if (!root) return NULL;
  if (edit) edit(root);
  char *out = cJSON_PrintUnformatted(root);
  cJSON_Delete(root);
  return out;
}

static cJSON *node_named(cJSON *root, const char *op) {
  cJSON *n;
  cJSON_ArrayForEach(n, cJSON_GetObjectItem(cJSON_GetObjectItem(root, "modelTopology"), "node")) {
    if (!strcmp(cJSON_GetObjectItem(n, "op")->valuestring, op)) return n;
  }
  return NULL;
}

static void set_string(cJSON *obj, const char *key, const char *v) {
  cJSON_ReplaceItemInObject(obj, key, cJSON_CreateString(v));
}

static void edit_unknown_op(cJSON *root) { set_string(node_named(root, "Softmax"), "op", "FancyOp"); }
static void edit_dangling(cJSON *root) {
  cJSON *in = cJSON_GetObjectItem(node_named(root, "Softmax"), "input");
  cJSON_ReplaceItemInArray(in, 0, cJSON_CreateString("does_not_exist"));
}
static void edit_cycle(cJSON *root) {
  cJSON *in = cJSON_GetObjectItem(node_named(root, "_FusedConv2D"), "input");
  cJSON_ReplaceItemInArray(in, 0, cJSON_CreateString(cJSON_GetObjectItem(node_named(root, "Softmax"), "name")->valuestring));
}
static void edit_manifest_dtype(cJSON *root) {
  cJSON *w = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(root, "weightsManifest"), 0), "weights"), 0);
  set_string(w, "dtype", "complex64");
}
static void edit_node_dtype(cJSON *root) {
  cJSON *dt = cJSON_GetObjectItem(cJSON_GetObjectItem(node_named(root, "Const"), "attr"), "dtype");
  set_string(dt, "type", "DT_COMPLEX64");
}
static void edit_padding(cJSON *root) {
  cJSON *p = cJSON_GetObjectItem(cJSON_GetObjectItem(node_named(root, "_FusedConv2D"), "attr"), "padding");
  set_string(p, "s", "RVhQTElDSVQ="); /* "EXPLICIT" */
}
/* A fused op without fused_ops is a plain op: an input beyond its two is an
 * error, not silently dropped (and too few inputs are no out-of-bounds read;
 * found by fuzz_tfgraph). */
static void edit_no_fused_ops(cJSON *root) {
  cJSON_DeleteItemFromObject(cJSON_GetObjectItem(node_named(root, "_FusedConv2D"), "attr"),
                             "fused_ops");
}

static void expect_emodel(const char *json, size_t short_by, const char *needle, const char *what) {
  char err[256] = "";
  int rc = load_variant(json ? json : "", short_by, err, sizeof err);
  CHECK_EQ_INT(rc, FK_EMODEL);
  if (!strstr(err, needle)) fprintf(stderr, "%s: message \"%s\" lacks \"%s\"\n", what, err, needle);
  CHECK(strstr(err, needle) != NULL);
}

static void test_corrupt_models_are_clear_model_errors(void) {
  tmp_dir = strdup(tu_tmp("tfgraph"));
  mkdir(tmp_dir, 0700);
  char *good = edited(NULL);
  CHECK(good != NULL);
  if (!good) return;
  char err[256];
  CHECK_EQ_INT(load_variant(good, 0, err, sizeof err), FK_OK);
  /* truncated model.json */
  char *half = strdup(good);
  half[strlen(half) / 2] = '\0';
  expect_emodel(half, 0, "not valid JSON", "truncated");
  free(half);
  expect_emodel("{nope", 0, "not valid JSON", "invalid JSON");
  expect_emodel("{\"modelTopology\":{}}", 0, "not a TFJS graph model", "no nodes");
  expect_emodel(good, 1, "bytes", "short shard");
  void (*edits[])(cJSON *) = {edit_unknown_op, edit_dangling, edit_cycle, edit_manifest_dtype,
                              edit_node_dtype, edit_padding, edit_no_fused_ops};
  const char *needles[] = {"FancyOp", "does_not_exist", "cycle", "complex64", "DT_COMPLEX64",
                           "EXPLICIT", "fused_ops need 2"};
  for (int i = 0; i < 7; i++) {
    char *j = edited(edits[i]);
    expect_emodel(j, 0, needles[i], needles[i]);
    free(j);
  }
  nn_graph *g = NULL;
  CHECK_EQ_INT(nn_tfgraph_load("/nonexistent/model.json", NULL, 0, &g, err, sizeof err), FK_ENOENT);
  free(good);
  char path[4096];
  snprintf(path, sizeof path, "%s/liveness.bin", tmp_dir);
  remove(path);
  snprintf(path, sizeof path, "%s/model.json", tmp_dir);
  remove(path);
  rmdir(tmp_dir);
  free(tmp_dir);
}

/* load_written() in a scratch directory of its own, shard w.bin. */
static int load_tiny(const char *json, const void *shard, size_t n, char *err, size_t errlen) {
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s", tu_tmp("tiny"));
  mkdir(dir, 0700);
  int rc = load_written(dir, json, "w.bin", shard, n, err, errlen);
  snprintf(path, sizeof path, "%s/model.json", dir);
  remove(path);
  snprintf(path, sizeof path, "%s/w.bin", dir);
  remove(path);
  rmdir(dir);
  return rc;
}

/* Three 300-value constants broadcast against each other fold into 27 M
 * values: a 1 KB file must not make the loader allocate 108 MB (or, with
 * bigger constants, any amount). */
static void test_folding_refuses_constants_that_broadcast_huge(void) {
  static const char *json =
      "{\"modelTopology\":{\"node\":["
      "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":"
      "{\"dim\":[{\"size\":\"1\"},{\"size\":\"300\"}]}}}},"
      "{\"name\":\"a\",\"op\":\"Const\"},{\"name\":\"b\",\"op\":\"Const\"},"
      "{\"name\":\"c\",\"op\":\"Const\"},"
      "{\"name\":\"ab\",\"op\":\"Mul\",\"input\":[\"a\",\"b\"]},"
      "{\"name\":\"abc\",\"op\":\"Mul\",\"input\":[\"ab\",\"c\"]},"
      "{\"name\":\"y\",\"op\":\"Mul\",\"input\":[\"x\",\"abc\"]}]},"
      "\"weightsManifest\":[{\"paths\":[\"w.bin\"],\"weights\":["
      "{\"name\":\"a\",\"shape\":[300,1,1],\"dtype\":\"float32\",\"quantization\":"
      "{\"dtype\":\"uint8\",\"scale\":1,\"min\":0}},"
      "{\"name\":\"b\",\"shape\":[1,300,1],\"dtype\":\"float32\",\"quantization\":"
      "{\"dtype\":\"uint8\",\"scale\":1,\"min\":0}},"
      "{\"name\":\"c\",\"shape\":[1,1,300],\"dtype\":\"float32\",\"quantization\":"
      "{\"dtype\":\"uint8\",\"scale\":1,\"min\":0}}]}]}";
  static unsigned char shard[900];
  char err[256] = "";
  CHECK_EQ_INT(load_tiny(json, shard, sizeof shard, err, sizeof err), FK_EMODEL);
  CHECK(strstr(err, "abc") && strstr(err, "too large"));
}

/* A graph of 2^24 input values reshaped to one row and concatenated with
 * itself: the sides are added in 64 bits and the sum refused past the
 * import layer's largest dimension (2^24), so no int can wrap either
 * (2^30 input values are refused at the input already). */
static void test_concat_past_the_largest_dimension_is_an_error(void) {
  static const char *head =
      "{\"modelTopology\":{\"node\":["
      "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":{\"dim\":["
      "{\"size\":\"-1\"},{\"size\":\"1024\"},{\"size\":\"1024\"},{\"size\":\"16\"}]}}}},"
      "{\"name\":\"shape\",\"op\":\"Const\"},{\"name\":\"axis\",\"op\":\"Const\"},"
      "{\"name\":\"r\",\"op\":\"Reshape\",\"input\":[\"x\",\"shape\"]},";
  static const char *tail =
      "]},\"weightsManifest\":[{\"paths\":[\"w.bin\"],\"weights\":["
      "{\"name\":\"shape\",\"shape\":[%d],\"dtype\":\"int32\"},"
      "{\"name\":\"axis\",\"shape\":[],\"dtype\":\"int32\"}]}]}";
  char json[2048], err[256] = "";
  /* [1, -1] and axis 1: concat of two [1, 2^24] rows */
  int32_t w[3] = {1, -1, 1};
  snprintf(json, sizeof json, "%s%s", head,
           "{\"name\":\"c\",\"op\":\"ConcatV2\",\"input\":[\"r\",\"r\",\"axis\"]}");
  snprintf(json + strlen(json), sizeof json - strlen(json), tail, 2);
  CHECK_EQ_INT(load_tiny(json, w, 12, err, sizeof err), FK_EMODEL);
  CHECK(strstr(err, "model node c (ConcatV2)") && strstr(err, "too large along axis 1"));
}

int main(void) {
  RUN(test_binary_ops_match_reference_with_broadcasting);
  RUN(test_unary_clamp_prelu_softmax_match_reference);
  RUN(test_reductions_match_reference);
  RUN(test_shape_ops_match_reference);
  RUN(test_windows_match_reference);
  RUN(test_fusion_keeps_results_and_removes_ops);
  RUN(test_models_match_tfjs_on_every_backend);
  RUN(test_named_outputs_select_and_order);
  RUN(test_corrupt_models_are_clear_model_errors);
  RUN(test_folding_refuses_constants_that_broadcast_huge);
  RUN(test_concat_past_the_largest_dimension_is_an_error);
  return tu_summary();
}
