/*
 * test_blazeface.c - human's BlazeFace detector (src/models/blazeface.c):
 * the net on every backend against tfjs-wasm's raw outputs, the decoding
 * against human's (tests/fixtures/golden_blazeface.json, written by
 * tools/reference/golden-blazeface.js), the anchors, NMS and score
 * threshold on made-up outputs, and the detector as a row of the table of
 * nets (named, loaded, run by fk_detect).
 *
 * Needs the models ($FACEKIT_MODELS, else ./models) and the fixtures
 * ($FK_FIXTURES, else tests/fixtures).
 */
#include <cjson/cJSON.h>

#include "facekit.h"
#include "models/models.h"
#include "nn/nn.h"
#include "testutil.h"
#include "golden.h"

#define ROWS 896

static cJSON *golden;
static nn_graph *bf;

static const cJSON *item(const cJSON *o, const char *k) { return cJSON_GetObjectItemCaseSensitive(o, k); }

/* The case's image: the fixture, cut to its first `rows` rows. */
static int case_image(const cJSON *c, fk_image *img) {
  if (fk_image_load(tu_fixture(item(c, "image")->valuestring), 0, img) != FK_OK) return 0;
  img->height = item(c, "rows")->valueint;
  return img->width == item(c, "width")->valueint && img->height == item(c, "height")->valueint;
}

/* Worst difference of out[i] from the golden output record o: all values,
 * or the samples (then the sum's relative difference goes to *dsum). */
static double output_diff(const float *out, const cJSON *o, double *dsum) {
  int count = item(o, "count")->valueint;
  double d = 0;
  const cJSON *v;
  int i = 0;
  if (item(o, "values")) {
    cJSON_ArrayForEach(v, item(o, "values")) d = fmax(d, fabs(out[i++] - v->valuedouble));
    return d;
  }
  int stride = item(o, "stride")->valueint;
  cJSON_ArrayForEach(v, item(o, "samples")) d = fmax(d, fabs(out[(i++) * stride] - v->valuedouble));
  double sum = 0;
  for (int k = 0; k < count; k++) sum += out[k];
  *dsum = fmax(*dsum, fabs(sum - item(o, "sum")->valuedouble) / item(o, "abs_sum")->valuedouble);
  return d;
}

/* The detections of one decoded run against the case's golden ones. */
static void check_detections(const fk_det *d, int n, const cJSON *c, const char *what) {
  const cJSON *want = item(c, "detections");
  CHECK_EQ_INT(n, cJSON_GetArraySize(want));
  double db = 0, ds = 0;
  int i = 0;
  const cJSON *w;
  cJSON_ArrayForEach(w, want) {
    if (i >= n) break;
    float b[4];
    tu_json_floats(item(w, "box"), b, 4);
    db = fmax(db, fmax(fmax(fabs(d[i].x - b[0]), fabs(d[i].y - b[1])),
                       fmax(fabs(d[i].x + d[i].w - b[2]), fabs(d[i].y + d[i].h - b[3]))));
    ds = fmax(ds, fabs(d[i].score - item(w, "score")->valuedouble));
    i++;
  }
  fprintf(stderr, "  %s %s: %d faces, box max |d| %.3g px, score %.3g\n", item(c, "image")->valuestring, what, n,
          db, ds);
  CHECK(db < 0.01 && ds < 1e-4);
}

/* Every set-up's runtime on each case: the four outputs against tfjs, then
 * human's decoding of them against human's. */
static void test_net_and_decoding_match_tfjs_on_every_backend(void) {
  static float in[FK_BLAZEFACE_SIZE * FK_BLAZEFACE_SIZE * 3];
  const cJSON *c;
  cJSON_ArrayForEach(c, item(golden, "cases")) {
    fk_image img;
    if (!case_image(c, &img)) {
      CHECK(0);
      continue;
    }
    fk_blazeface_input(&img, in);
    for (int su = 0; su < TU_NSETUPS; su++) {
      nn_threads *th;
      nn_runtime *rt = tu_runtime(bf, su, &th);
      if (!rt) continue;
      memcpy(nn_runtime_input(rt), in, sizeof in);
      CHECK_EQ_INT(nn_runtime_run(rt), FK_OK);
      double dl = 0, dr = 0, dsum = 0;
      const float *out[4];
      for (int k = 0; k < 4; k++) {
        out[k] = nn_runtime_output(rt, k);
        double d = output_diff(out[k], cJSON_GetArrayItem(item(c, "outputs"), k), &dsum);
        if (k % 2) dr = fmax(dr, d);
        else dl = fmax(dl, d);
      }
      fprintf(stderr, "  %s %-17s vs tfjs: logits max |d| %.3g, regressors %.3g px, sums (relative) %.3g\n",
              item(c, "image")->valuestring, TU_SETUPS[su].name, dl, dr, dsum);
      CHECK(dl < 2e-3 && dr < 2e-3 && dsum < 1e-4);
      fk_det dets[16];
      int n = -1;
      CHECK_EQ_INT(fk_blazeface_decode(out, img.width, img.height, 0.5f, dets, 16, &n), FK_OK);
      check_detections(dets, n, c, TU_SETUPS[su].name);
      tu_runtime_free(rt, th);
    }
    fk_image_free(&img);
  }
}

/* The whole detector through the library: FK_DETECTOR_BLAZEFACE picks the
 * row, which fk_detect_nets asks to load, and fk_detect_no_landmarks gives
 * the golden boxes. */
static void test_detector_row_runs_through_the_session(void) {
  fk_options o;
  fk_options_init(&o);
  CHECK_EQ_INT(fk_detector_from_name("blazeface"), FK_DETECTOR_BLAZEFACE);
  CHECK(!strcmp(fk_detector_name(FK_DETECTOR_BLAZEFACE), "blazeface"));
  CHECK(fk_detector_name(FK_DETECTOR_BLAZEFACE + 1) == NULL);
  o.detector = FK_DETECTOR_BLAZEFACE;
  o.min_score = 0.5f;
  CHECK_EQ_INT(fk_detect_nets(&o), FK_NET_BLAZEFACE | FK_NET_LANDMARKS);
  char name[32];
  fk_detector_input_name(&o, name, sizeof name);
  CHECK(!strcmp(name, "256x256"));
  fk_models *m = NULL;
  CHECK_EQ_INT(fk_models_open(NULL, fk_detect_nets(&o), &m), FK_OK);
  fk_session *s = NULL;
  CHECK_EQ_INT(fk_session_new(m, &o, &s), FK_OK);
  const cJSON *c;
  cJSON_ArrayForEach(c, item(golden, "cases")) {
    fk_image img;
    if (!case_image(c, &img)) {
      CHECK(0);
      continue;
    }
    fk_face f[16];
    int n = -1;
    CHECK_EQ_INT(fk_detect_no_landmarks(s, &img, f, 16, &n), FK_OK);
    fk_det d[16];
    for (int i = 0; i < n && i < 16; i++) d[i] = (fk_det){f[i].box.x, f[i].box.y, f[i].box.w, f[i].box.h, f[i].score};
    check_detections(d, n, c, "session");
    int nl = -1;
    CHECK_EQ_INT(fk_detect(s, &img, f, 16, &nl), FK_OK);
    CHECK_EQ_INT(nl, n); /* every box gets its landmarks */
    fk_image_free(&img);
  }
  fk_session_free(s);
  fk_models_free(m);
  /* Without its net loaded, a session says which detector is missing. */
  CHECK_EQ_INT(fk_models_open(NULL, FK_NET_LANDMARKS, &m), FK_OK);
  CHECK_EQ_INT(fk_session_new(m, &o, &s), FK_OK);
  fk_image img = {64, 64, NULL};
  fk_face f;
  int n;
  static uint8_t px[64 * 64 * 3];
  img.rgb = px;
  CHECK_EQ_INT(fk_detect_no_landmarks(s, &img, &f, 1, &n), FK_EINVAL);
  CHECK(strstr(fk_session_errmsg(s), "blazeface") != NULL);
  fk_session_free(s);
  fk_models_free(m);
}

/* Cell centres in input pixels: 16x16 cells of 16 px, two anchors each,
 * then 8x8 cells of 32 px, six each. */
static void test_anchors_are_the_cell_centres(void) {
  static const struct { int row; float x, y; } cases[] = {
      {0, 8, 8}, {1, 8, 8}, {2, 24, 8}, {31, 248, 8}, {32, 8, 24}, {511, 248, 248},
      {512, 16, 16}, {517, 16, 16}, {518, 48, 16}, {512 + 6 * 8, 16, 48}, {895, 240, 240}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    float x, y;
    fk_blazeface_anchor(cases[i].row, &x, &y);
    CHECK(x == cases[i].x && y == cases[i].y);
  }
}

/* Made-up outputs: a box is its anchor plus the offsets, -/+ half the size;
 * scores must exceed min_score; IoU >= 0.1 suppresses the weaker box, a
 * smaller overlap does not; boxes scale by image / 256 on each axis; the
 * count is the total even past cap. */
static void test_decoding_thresholds_suppresses_and_scales(void) {
  static float l0[512], r0[512 * 16], l1[384], r1[384 * 16];
  for (int i = 0; i < 512; i++) l0[i] = -20;
  for (int i = 0; i < 384; i++) l1[i] = -20;
  const float *out[4] = {l0, r0, l1, r1};
  /* Row 0 (anchor 8, 8): a 20x10 box shifted by (2, 4), score sigmoid(3). */
  l0[0] = 3;
  r0[0] = 2, r0[1] = 4, r0[2] = 20, r0[3] = 10;
  fk_det d[4];
  int n = -1;
  CHECK_EQ_INT(fk_blazeface_decode(out, 512, 128, 0.5f, d, 4, &n), FK_OK);
  CHECK_EQ_INT(n, 1);
  CHECK_NEAR(d[0].x, 0 * 2, 1e-5);         /* (8 + 2 - 10) * 512 / 256 */
  CHECK_NEAR(d[0].y, (12 - 5) * 0.5, 1e-5); /* (8 + 4 - 5) * 128 / 256 */
  CHECK_NEAR(d[0].w, 20 * 2, 1e-5);
  CHECK_NEAR(d[0].h, 10 * 0.5, 1e-5);
  CHECK_NEAR(d[0].score, 1 / (1 + exp(-3.0)), 1e-6);
  /* min_score is exclusive. */
  CHECK_EQ_INT(fk_blazeface_decode(out, 512, 128, d[0].score, d, 4, &n), FK_OK);
  CHECK_EQ_INT(n, 0);
  /* Row 1 (same anchor), a weaker copy: suppressed. Row 2 (anchor 24, 8),
   * the same box 14 px right: IoU 6/34 >= 0.1, suppressed too. */
  l0[1] = 2;
  r0[16] = 2, r0[17] = 4, r0[18] = 20, r0[19] = 10;
  l0[2] = 1;
  r0[32] = 2 - 16 + 14, r0[33] = 4, r0[34] = 20, r0[35] = 10;
  CHECK_EQ_INT(fk_blazeface_decode(out, 256, 256, 0.5f, d, 4, &n), FK_OK);
  CHECK_EQ_INT(n, 1);
  /* 19 px right: IoU 1/39 < 0.1, kept, after the first by score. */
  r0[32] = 2 - 16 + 19;
  CHECK_EQ_INT(fk_blazeface_decode(out, 256, 256, 0.5f, d, 4, &n), FK_OK);
  CHECK_EQ_INT(n, 2);
  CHECK(d[0].score > d[1].score);
  CHECK_NEAR(d[1].x, 0 + 19, 1e-5);
  /* cap 1 writes one and still counts two. */
  CHECK_EQ_INT(fk_blazeface_decode(out, 256, 256, 0.5f, d, 1, &n), FK_OK);
  CHECK_EQ_INT(n, 2);
  CHECK_EQ_INT(fk_blazeface_decode(out, 0, 256, 0.5f, d, 1, &n), FK_EINVAL);
}

int main(void) {
  char *text = tu_read_file(tu_fixture("golden_blazeface.json"), NULL);
  golden = text ? cJSON_Parse(text) : NULL;
  free(text);
  CHECK(golden != NULL);
  char err[256] = "";
  CHECK_EQ_INT(fk_blazeface_load(tu_model_path(FK_BLAZEFACE_FILE), &bf, err, sizeof err), FK_OK);
  if (golden && bf) {
    RUN(test_net_and_decoding_match_tfjs_on_every_backend);
    RUN(test_detector_row_runs_through_the_session);
  }
  RUN(test_anchors_are_the_cell_centres);
  RUN(test_decoding_thresholds_suppresses_and_scales);
  nn_graph_free(bf);
  cJSON_Delete(golden);
  return tu_summary();
}
