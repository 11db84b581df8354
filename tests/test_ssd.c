/*
 * test_ssd.c - the two face detectors (src/models/ssd.c, tiny.c): SSD anchor
 * generation against the stored Output/extra_dim, graph shapes, XNNPACK
 * against the reference backend, and detections against face-api's goldens
 * (tests/fixtures/golden.json, made by tools/reference/golden.js).
 */
#include <cjson/cJSON.h>

#include "models/models.h"
#include "testutil.h"
#include "golden.h"

static nn_weights ssd_w, tiny_w;
static int have_ssd, have_tiny;
static cJSON *golden;

static int load_weights(const char *file, nn_weights *w) {
  char err[256] = "";
  int rc = nn_weights_load(tu_model_path(file), w, err, sizeof err);
  if (rc != FK_OK) fprintf(stderr, "cannot load %s: %s\n", file, err);
  return rc == FK_OK;
}

/* ---- helpers --------------------------------------------------------------- */

/* Independent statement of the grid sizes: stride 16 and 32, then TF 'same'
 * stride-2 convs, ceil(g / 2). */
static int expected_anchor_count(int size) {
  int g = size / 32, n = 3 * (size / 16) * (size / 16);
  for (int l = 1; l < 6; l++) {
    n += 6 * g * g;
    g = (g + 1) / 2;
  }
  return n;
}

/* ---- anchors ----------------------------------------------------------------- */

static void test_ssd_anchors_at_512_equal_stored_extra_dim(void) {
  if (!have_ssd) return;
  const nn_weight *ed = nn_weights_find(&ssd_w, "Output/extra_dim");
  CHECK(ed != NULL);
  if (!ed) return;
  CHECK_EQ_INT(ed->count, 5118 * 4);
  fk_ssd_anchors a;
  CHECK_EQ_INT(fk_ssd_anchors_make(512, &a), FK_OK);
  CHECK_EQ_INT(a.n, 5118);
  if (a.n != 5118 || ed->count != 5118 * 4) {
    fk_ssd_anchors_free(&a);
    return;
  }
  /* extra_dim holds corners [ymin, xmin, ymax, xmax] (face-api's outputLayer
   * derives the sizes and centres from it); compare both forms. */
  double dcorner = 0, dcenter = 0;
  for (int i = 0; i < a.n; i++) {
    const float *e = ed->data + 4 * i, *m = a.yxhw + 4 * i;
    float h = e[2] - e[0], w = e[3] - e[1];
    float ref[4] = {e[0] + h / 2, e[1] + w / 2, h, w};
    float corners[4] = {m[0] - m[2] / 2, m[1] - m[3] / 2, m[0] + m[2] / 2,
                        m[1] + m[3] / 2};
    for (int k = 0; k < 4; k++) {
      dcenter = fmax(dcenter, fabs((double)ref[k] - m[k]));
      dcorner = fmax(dcorner, fabs((double)e[k] - corners[k]));
    }
  }
  fprintf(stderr, "  anchors vs extra_dim: max diff %.3g (yxhw), %.3g (corners)\n",
          dcenter, dcorner);
  CHECK(dcenter <= 1e-5);
  CHECK(dcorner <= 1e-5);
  fk_ssd_anchors_free(&a);
}

static void test_ssd_anchor_count_follows_grid_sizes(void) {
  for (int size = 64; size <= 2048; size += 32) {
    fk_ssd_anchors a;
    int rc = fk_ssd_anchors_make(size, &a);
    CHECK_EQ_INT(rc, FK_OK);
    CHECK_EQ_INT(a.n, expected_anchor_count(size));
    fk_ssd_anchors_free(&a);
  }
  fk_ssd_anchors a;
  CHECK_EQ_INT(fk_ssd_anchors_make(500, &a), FK_EINVAL);
  CHECK_EQ_INT(fk_ssd_anchors_make(32, &a), FK_EINVAL);
}

/* The anchor count must also equal what the built graph predicts: box outputs
 * have 4 values per anchor, class outputs 3. */
static void test_ssd_graph_outputs_match_anchor_count(void) {
  if (!have_ssd) return;
  const int sizes[] = {128, 320, 352, 512, 608};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    nn_graph *g = NULL;
    char err[256] = "";
    int rc = fk_ssd_build(&ssd_w, sizes[s], &g, err, sizeof err);
    CHECK_EQ_INT(rc, FK_OK);
    if (rc != FK_OK) {
      fprintf(stderr, "  build %d: %s\n", sizes[s], err);
      continue;
    }
    CHECK_EQ_INT(g->noutputs, 12);
    size_t nbox = 0, ncls = 0;
    for (int o = 0; o < g->noutputs; o++) {
      nn_shape sh = g->shapes[g->outputs[o]];
      if (o % 2 == 0) nbox += nn_shape_size(sh) / 4;
      else ncls += nn_shape_size(sh) / 3;
    }
    fk_ssd_anchors a;
    CHECK_EQ_INT(fk_ssd_anchors_make(sizes[s], &a), FK_OK);
    CHECK_EQ_INT(nbox, a.n);
    CHECK_EQ_INT(ncls, a.n);
    fk_ssd_anchors_free(&a);
    nn_graph_free(g);
  }
}

static void test_ssd_build_rejects_bad_size_and_missing_weight(void) {
  if (!have_ssd) return;
  nn_graph *g = (nn_graph *)1;
  char err[256] = "";
  CHECK_EQ_INT(fk_ssd_build(&ssd_w, 500, &g, err, sizeof err), FK_EINVAL);
  CHECK(g == NULL);
  nn_weights empty = {0};
  CHECK_EQ_INT(fk_ssd_build(&empty, 512, &g, err, sizeof err), FK_EMODEL);
  CHECK(g == NULL);
  CHECK(strstr(err, "MobilenetV1") != NULL);
  CHECK_EQ_INT(fk_tiny_build(&empty, 416, &g, err, sizeof err), FK_EMODEL);
  CHECK(strstr(err, "conv0") != NULL);
  CHECK_EQ_INT(fk_tiny_build(&empty, 400, &g, err, sizeof err), FK_EINVAL);
}

/* ---- XNNPACK and oneDNN vs reference ---------------------------------------------------- */

static void check_backends(const nn_weights *w, int tiny, int size) {
  nn_graph *g = NULL;
  char err[256] = "";
  int rc = tiny ? fk_tiny_build(w, size, &g, err, sizeof err)
                : fk_ssd_build(w, size, &g, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  if (rc != FK_OK) {
    fprintf(stderr, "  build: %s\n", err);
    return;
  }
  double d = tu_backend_diff(g, 12345u + (unsigned)size, 1.0f, 1);
  fprintf(stderr, "  %s-%d fast backends vs reference: max rel diff %.3g\n",
          tiny ? "tiny" : "ssd", size, d);
  CHECK(d >= 0 && d <= 1e-3);
  nn_graph_free(g);
}

static void test_ssd_fast_backends_match_reference_at_128(void) {
  if (have_ssd) check_backends(&ssd_w, 0, 128);
}

static void test_ssd_fast_backends_match_reference_at_512(void) {
  if (have_ssd) check_backends(&ssd_w, 0, 512);
}

static void test_tiny_fast_backends_match_reference_at_416(void) {
  if (have_tiny) check_backends(&tiny_w, 1, 416);
}

static void test_tiny_graph_output_is_cells_by_25(void) {
  if (!have_tiny) return;
  const int sizes[] = {128, 320, 416, 608};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    nn_graph *g = NULL;
    char err[256] = "";
    CHECK_EQ_INT(fk_tiny_build(&tiny_w, sizes[s], &g, err, sizeof err), FK_OK);
    if (!g) continue;
    CHECK_EQ_INT(g->noutputs, 1);
    nn_shape sh = g->shapes[g->outputs[0]];
    CHECK_EQ_INT(sh.h, sizes[s] / 32);
    CHECK_EQ_INT(sh.w, sizes[s] / 32);
    CHECK_EQ_INT(sh.c, 25);
    nn_graph_free(g);
  }
}

/* ---- decoding on synthetic outputs -------------------------------------------- */

/* With all-zero net outputs every SSD box is its anchor and every score
 * sigmoid(0) = 0.5: min_score 0.5 keeps nothing (strict >), min_score 0.4
 * keeps a set of anchors no two of which overlap by more than 0.5. */
static void test_ssd_decode_threshold_is_strict_and_nms_limits_overlap(void) {
  if (!have_ssd) return;
  nn_graph *g = NULL;
  char err[256];
  if (fk_ssd_build(&ssd_w, 128, &g, err, sizeof err) != FK_OK) return;
  nn_runtime *rt = NULL;
  CHECK_EQ_INT(nn_runtime_new(g, NN_BACKEND_REFERENCE, NULL, &rt), FK_OK);
  fk_ssd_anchors a;
  CHECK_EQ_INT(fk_ssd_anchors_make(128, &a), FK_OK);
  if (rt && a.yxhw) {
    for (int o = 0; o < g->noutputs; o++)
      memset((float *)nn_runtime_output(rt, o), 0,
             nn_shape_size(g->shapes[g->outputs[o]]) * sizeof(float));
    fk_det d[200];
    int n = -1;
    CHECK_EQ_INT(fk_ssd_decode(rt, &a, 128, 100, 100, 0.5f, 100, d, 200, &n), FK_OK);
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(fk_ssd_decode(rt, &a, 128, 100, 100, 0.4f, 100, d, 200, &n), FK_OK);
    CHECK(n > 0 && n <= 100);
    CHECK_EQ_INT(fk_ssd_decode(rt, &a, 128, 100, 100, 0.4f, 5, d, 200, &n), FK_OK);
    CHECK_EQ_INT(n, 5);
    int n2 = -1;
    CHECK_EQ_INT(fk_ssd_decode(rt, &a, 128, 100, 100, 0.4f, 100, d, 3, &n2), FK_OK);
    CHECK(n2 > 3);
    CHECK_EQ_INT(fk_ssd_decode(rt, &a, 320, 100, 100, 0.4f, 100, d, 3, &n2),
                 FK_EINVAL);
  }
  fk_ssd_anchors_free(&a);
  nn_runtime_free(rt);
  nn_graph_free(g);
}

/* ---- against face-api --------------------------------------------------------- */

static double iou(const float *a, const float *b) {
  double w = fmin(a[0] + a[2], b[0] + b[2]) - fmax(a[0], b[0]);
  double h = fmin(a[1] + a[3], b[1] + b[3]) - fmax(a[1], b[1]);
  double inter = fmax(w, 0) * fmax(h, 0);
  return inter / ((double)a[2] * a[3] + (double)b[2] * b[3] - inter);
}

typedef struct detector {
  const char *name;
  int tiny, size;
  nn_graph *g;
  nn_runtime *rt;
  fk_ssd_anchors anchors;
  float *input;
} detector;

static int detector_open(detector *d, int tiny, int size, nn_backend be) {
  memset(d, 0, sizeof *d);
  d->tiny = tiny;
  d->size = size;
  char err[256] = "";
  int rc = tiny ? fk_tiny_build(&tiny_w, size, &d->g, err, sizeof err)
                : fk_ssd_build(&ssd_w, size, &d->g, err, sizeof err);
  if (rc == FK_OK) rc = nn_runtime_new(d->g, be, NULL, &d->rt);
  d->name = nn_backend_name(be);
  if (rc == FK_OK && !tiny) rc = fk_ssd_anchors_make(size, &d->anchors);
  CHECK_EQ_INT(rc, FK_OK);
  return rc == FK_OK;
}

static void detector_close(detector *d) {
  fk_ssd_anchors_free(&d->anchors);
  nn_runtime_free(d->rt);
  nn_graph_free(d->g);
}

static int detect(detector *d, const fk_image *img, float min_score, fk_det *dets,
                  int cap, int *n) {
  float *in = nn_runtime_input(d->rt);
  if (d->tiny) fk_tiny_input(img, d->size, in);
  else fk_ssd_input(img, d->size, in);
  int rc = nn_runtime_run(d->rt);
  if (rc != FK_OK) return rc;
  return d->tiny ? fk_tiny_decode(d->rt, d->size, img->width, img->height,
                                  min_score, dets, cap, n)
                 : fk_ssd_decode(d->rt, &d->anchors, d->size, img->width,
                                 img->height, min_score, 100, dets, cap, n);
}

/* Same count; each golden detection matched to ours by best IoU. */
static void compare_dets(const char *what, const char *img, const cJSON *gold,
                         const fk_det *dets, int n) {
  int ng = cJSON_GetArraySize(gold);
  CHECK_EQ_INT(n, ng);
  double worst_iou = 1, worst_score = 0, worst_px = 0;
  int used[64] = {0};
  for (int i = 0; i < ng; i++) {
    const cJSON *gd = cJSON_GetArrayItem(gold, i);
    const cJSON *gb = cJSON_GetObjectItem(gd, "box");
    float box[4];
    for (int k = 0; k < 4; k++)
      box[k] = (float)cJSON_GetArrayItem(gb, k)->valuedouble;
    double gs = cJSON_GetObjectItem(gd, "score")->valuedouble;
    int best = -1;
    double best_iou = -1;
    for (int j = 0; j < n && j < 64; j++) {
      if (used[j]) continue;
      double v = iou(box, &dets[j].x);
      if (v > best_iou) best_iou = v, best = j;
    }
    if (best < 0) {
      worst_iou = 0;
      continue;
    }
    used[best] = 1;
    worst_iou = fmin(worst_iou, best_iou);
    worst_score = fmax(worst_score, fabs(gs - dets[best].score));
    for (int k = 0; k < 4; k++)
      worst_px = fmax(worst_px, fabs(box[k] - (&dets[best].x)[k]));
  }
  fprintf(stderr,
          "  %-12s %-19s n=%d/%d  min IoU %.7f  max |dbox| %.2g px  "
          "max |dscore| %.2g\n",
          img, what, n, ng, ng ? worst_iou : 1.0, worst_px, worst_score);
  CHECK(worst_iou >= 0.98);
  CHECK(worst_score <= 1e-3);
}

static const char *images[] = {"face_a1.png", "face_a2.png", "face_b1.png",
                               "face_c1.png", "group4.png",  "noface.png"};

static void check_detector_goldens(int tiny, nn_backend be) {
  if (!golden || !(tiny ? have_tiny : have_ssd)) return;
  detector d;
  if (!detector_open(&d, tiny, tiny ? 416 : 512, be)) return;
  for (size_t i = 0; i < sizeof images / sizeof *images; i++) {
    const cJSON *gi = tu_golden_image(golden, images[i]);
    CHECK(gi != NULL);
    fk_image img = {0};
    int rc = fk_image_load(tu_fixture(images[i]), 0, &img);
    CHECK_EQ_INT(rc, FK_OK);
    if (!gi || rc != FK_OK) continue;
    const char *keys[2] = {tiny ? "tiny416" : "ssd512",
                           tiny ? "tiny416_low" : "ssd512_low"};
    const float thr[2] = {0.5f, 0.1f};
    for (int k = 0; k < 2; k++) {
      const cJSON *gold = cJSON_GetObjectItem(gi, keys[k]);
      if (!gold) continue;
      fk_det dets[64];
      int n = -1;
      CHECK_EQ_INT(detect(&d, &img, thr[k], dets, 64, &n), FK_OK);
      char what[64];
      snprintf(what, sizeof what, "%s %s", keys[k], d.name);
      compare_dets(what, images[i], gold, dets, n);
    }
    fk_image_free(&img);
  }
  detector_close(&d);
}

static void test_ssd512_detections_match_faceapi(void) {
  for (int b = 0; b < TU_NFAST; b++) check_detector_goldens(0, TU_FAST[b]);
}

static void test_tiny416_detections_match_faceapi(void) {
  for (int b = 0; b < TU_NFAST; b++) check_detector_goldens(1, TU_FAST[b]);
}

static void check_raw_scores_and_boxes(nn_backend be) {
  if (!golden || !have_ssd) return;
  const cJSON *raw =
      cJSON_GetObjectItem(cJSON_GetObjectItem(golden, "nets"), "ssd_raw_face_a1");
  CHECK(raw != NULL);
  if (!raw) return;
  detector d;
  if (!detector_open(&d, 0, 512, be)) return;
  fk_image img = {0};
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_a1.png"), 0, &img), FK_OK);
  if (img.rgb) {
    fk_ssd_input(&img, 512, nn_runtime_input(d.rt));
    CHECK_EQ_INT(nn_runtime_run(d.rt), FK_OK);
    CHECK_EQ_INT(cJSON_GetObjectItem(raw, "num_anchors")->valueint, d.anchors.n);
    /* Flatten the outputs in anchor order. */
    float *score = malloc((size_t)d.anchors.n * sizeof *score);
    float *enc = malloc((size_t)d.anchors.n * 4 * sizeof *enc);
    int k = 0;
    for (int o = 0; o < 6 && score && enc; o++) {
      const float *b = nn_runtime_output(d.rt, 2 * o), *c = nn_runtime_output(d.rt, 2 * o + 1);
      size_t m = nn_shape_size(d.g->shapes[d.g->outputs[2 * o]]) / 4;
      for (size_t i = 0; i < m; i++, k++) {
        score[k] = 1.0f / (1.0f + expf(-c[3 * i + 1]));
        memcpy(enc + 4 * k, b + 4 * i, 4 * sizeof(float));
      }
    }
    const cJSON *idx = cJSON_GetObjectItem(raw, "top_indices");
    const cJSON *sc = cJSON_GetObjectItem(raw, "top_scores");
    const cJSON *bx = cJSON_GetObjectItem(raw, "top_boxes");
    double ds = 0, db = 0;
    int nt = cJSON_GetArraySize(idx);
    for (int t = 0; t < nt && score && enc; t++) {
      int i = cJSON_GetArrayItem(idx, t)->valueint;
      ds = fmax(ds, fabs(score[i] - cJSON_GetArrayItem(sc, t)->valuedouble));
      /* face-api's outputLayer decode (variances 10, 10, 5, 5). */
      const float *an = d.anchors.yxhw + 4 * i, *e = enc + 4 * i;
      float hh = expf(e[2] / 5) * an[2] / 2, cy = e[0] / 10 * an[2] + an[0];
      float hw = expf(e[3] / 5) * an[3] / 2, cx = e[1] / 10 * an[3] + an[1];
      float box[4] = {cy - hh, cx - hw, cy + hh, cx + hw};
      const cJSON *gb = cJSON_GetArrayItem(bx, t);
      for (int j = 0; j < 4; j++)
        db = fmax(db, fabs(box[j] - cJSON_GetArrayItem(gb, j)->valuedouble));
    }
    fprintf(stderr, "  face_a1 %s raw top-%d: max |dscore| %.3g, max |dbox| %.3g\n",
            d.name, nt, ds, db);
    CHECK(nt == 20);
    CHECK(ds <= 1e-3);
    CHECK(db <= 1e-3);
    free(score);
    free(enc);
  }
  fk_image_free(&img);
  detector_close(&d);
}

static void test_ssd_raw_scores_and_boxes_match_faceapi_on_face_a1(void) {
  for (int b = 0; b < TU_NFAST; b++) check_raw_scores_and_boxes(TU_FAST[b]);
}

static void test_group4_finds_all_faces_and_noface_none(void) {
  if (!have_ssd || !have_tiny) return;
  for (int k = 0; k < 2 * TU_NFAST; k++) {
    int t = k % 2;
    detector d;
    if (!detector_open(&d, t, t ? 416 : 512, TU_FAST[k / 2])) continue;
    fk_image img = {0};
    fk_det dets[16];
    int n = -1;
    if (fk_image_load(tu_fixture("group4.png"), 0, &img) == FK_OK) {
      CHECK_EQ_INT(detect(&d, &img, 0.5f, dets, 16, &n), FK_OK);
      CHECK_EQ_INT(n, 4);
      fk_image_free(&img);
    } else {
      CHECK(0);
    }
    if (fk_image_load(tu_fixture("noface.png"), 0, &img) == FK_OK) {
      CHECK_EQ_INT(detect(&d, &img, 0.5f, dets, 16, &n), FK_OK);
      CHECK_EQ_INT(n, 0);
      fk_image_free(&img);
    } else {
      CHECK(0);
    }
    detector_close(&d);
  }
}

int main(void) {
  have_ssd = load_weights(FK_SSD_FILE, &ssd_w);
  have_tiny = load_weights(FK_TINY_FILE, &tiny_w);
  CHECK(have_ssd);
  CHECK(have_tiny);
  golden = tu_golden_load();
  if (!golden) fprintf(stderr, "note: golden tests skipped\n");

  RUN(test_ssd_anchors_at_512_equal_stored_extra_dim);
  RUN(test_ssd_anchor_count_follows_grid_sizes);
  RUN(test_ssd_graph_outputs_match_anchor_count);
  RUN(test_ssd_build_rejects_bad_size_and_missing_weight);
  RUN(test_tiny_graph_output_is_cells_by_25);
  RUN(test_ssd_decode_threshold_is_strict_and_nms_limits_overlap);
  RUN(test_ssd_fast_backends_match_reference_at_128);
  RUN(test_ssd_fast_backends_match_reference_at_512);
  RUN(test_tiny_fast_backends_match_reference_at_416);
  RUN(test_ssd_raw_scores_and_boxes_match_faceapi_on_face_a1);
  RUN(test_ssd512_detections_match_faceapi);
  RUN(test_tiny416_detections_match_faceapi);
  RUN(test_group4_finds_all_faces_and_noface_none);

  cJSON_Delete(golden);
  nn_weights_free(&ssd_w);
  nn_weights_free(&tiny_w);
  return tu_summary();
}
