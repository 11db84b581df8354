/*
 * test_landmarks_descriptor.c - the 68-point landmark net and the face
 * descriptor net (src/models/landmarks.c, descriptor.c): graph building and
 * its failure paths, XNNPACK and oneDNN against the reference kernels, and
 * both nets on both against face-api's own outputs in
 * tests/fixtures/golden.json.
 *
 * Needs the models ($FACEKIT_MODELS, else ./models) and the fixtures
 * ($FK_FIXTURES, else tests/fixtures).
 */
#include <cjson/cJSON.h>

#include "facekit.h"
#include "models/models.h"
#include "nn/nn.h"
#include "nn/weights.h"
#include "testutil.h"
#include "golden.h"

static nn_weights lm_w, desc_w;
static nn_graph *lm_g, *desc_g;
static cJSON *golden;

/* Runs g once on `in` with the given backend; copies output 0 to out. */
static int run_net(const nn_graph *g, nn_backend be, const float *in,
                   float *out, size_t n) {
  nn_runtime *rt = NULL;
  int st = nn_runtime_new(g, be, NULL, &rt);
  if (st != FK_OK) return st;
  memcpy(nn_runtime_input(rt), in, nn_shape_size(g->shapes[0]) * sizeof *in);
  st = nn_runtime_run(rt);
  if (st == FK_OK) memcpy(out, nn_runtime_output(rt, 0), n * sizeof *out);
  nn_runtime_free(rt);
  return st;
}

/* ---- building ------------------------------------------------------------ */

static void test_landmarks_graph_maps_112_input_to_136_outputs(void) {
  CHECK(lm_g != NULL);
  if (!lm_g) return;
  CHECK_EQ_INT(lm_g->noutputs, 1);
  nn_shape in = lm_g->shapes[0], out = lm_g->shapes[lm_g->outputs[0]];
  CHECK(in.h == 112 && in.w == 112 && in.c == 3);
  CHECK_EQ_INT(nn_shape_size(out), 136);
}

static void test_descriptor_graph_maps_150_input_to_128_outputs(void) {
  CHECK(desc_g != NULL);
  if (!desc_g) return;
  CHECK_EQ_INT(desc_g->noutputs, 1);
  nn_shape in = desc_g->shapes[0], out = desc_g->shapes[desc_g->outputs[0]];
  CHECK(in.h == 150 && in.w == 150 && in.c == 3);
  CHECK_EQ_INT(nn_shape_size(out), 128);
}

/* A manifest without its last tensor (fc/bias, resp. fc) must fail with a
 * message naming it, and leave *out NULL. */
static void test_build_rejects_missing_weight(void) {
  char err[256];
  nn_graph *g = (nn_graph *)1;
  nn_weights cut = {lm_w.items, lm_w.n - 1};
  CHECK_EQ_INT(fk_landmarks_build(&cut, &g, err, sizeof err), FK_EMODEL);
  CHECK(g == NULL);
  CHECK(strstr(err, "fc/bias") != NULL);

  g = (nn_graph *)1;
  cut = (nn_weights){desc_w.items, desc_w.n - 1};
  CHECK_EQ_INT(fk_descriptor_build(&cut, &g, err, sizeof err), FK_EMODEL);
  CHECK(g == NULL);
  CHECK(strstr(err, "fc") != NULL);
}

/* A tensor whose size disagrees with the architecture must fail too. */
static void test_build_rejects_missized_weight(void) {
  char err[256];
  nn_weight *items = malloc((size_t)desc_w.n * sizeof *items);
  memcpy(items, desc_w.items, (size_t)desc_w.n * sizeof *items);
  int k = -1;
  for (int i = 0; i < desc_w.n; i++)
    if (!strcmp(items[i].name, "conv128_1/conv2/conv/filters")) k = i;
  CHECK(k >= 0);
  if (k >= 0) items[k].count -= 1;
  nn_weights bad = {items, desc_w.n};
  nn_graph *g = (nn_graph *)1;
  CHECK_EQ_INT(fk_descriptor_build(&bad, &g, err, sizeof err), FK_EMODEL);
  CHECK(g == NULL);
  CHECK(strstr(err, "conv128_1/conv2/conv/filters") != NULL);
  free(items);
}

/* ---- backends ------------------------------------------------------------ */

/* Input in [-0.5, 0.5), like a normalized image. */
static void check_backends_agree(const nn_graph *g, const char *what) {
  double d = tu_backend_diff(g, 7, 0.5f, 0);
  fprintf(stderr, "  %s: max |fast backends - reference| = %.3g\n", what, d);
  CHECK(d >= 0 && d <= 1e-4);
}

static void test_landmarks_fast_backends_match_reference_backend(void) {
  if (lm_g) check_backends_agree(lm_g, "landmarks");
}

static void test_descriptor_fast_backends_match_reference_backend(void) {
  if (desc_g) check_backends_agree(desc_g, "descriptor");
}

/* ---- against face-api ------------------------------------------------------ */

static void check_descriptor_of_chip150_matches_faceapi(nn_backend be) {
  float want[128], got[128];
  CHECK(tu_json_floats(tu_golden_net(golden, "descriptor_chip150", "descriptor"), want, 128));
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("chip150.png"), 0, &img), FK_OK);
  if (!desc_g || !img.rgb) return;
  CHECK(img.width == 150 && img.height == 150);
  float *in = malloc(150 * 150 * 3 * sizeof *in);
  fk_crop_to_square_tensor(&img, (fk_rect){0, 0, img.width, img.height}, 1,
                           150, in);
  fk_descriptor_normalize(in, 150 * 150);
  CHECK_EQ_INT(run_net(desc_g, be, in, got, 128), FK_OK);
  double dot = 0, na = 0, nb = 0, l2 = 0;
  for (int i = 0; i < 128; i++) {
    dot += (double)got[i] * want[i];
    na += (double)got[i] * got[i];
    nb += (double)want[i] * want[i];
    l2 += ((double)got[i] - want[i]) * ((double)got[i] - want[i]);
  }
  double cosine = dot / sqrt(na * nb);
  fprintf(stderr, "  %s descriptor chip150: cosine %.9f, L2 diff %.3g, |d| %.4f\n", nn_backend_name(be), cosine,
         sqrt(l2), sqrt(na));
  CHECK(cosine >= 0.9999);
  free(in);
  fk_image_free(&img);
}

static void test_descriptor_of_chip150_matches_faceapi(void) {
  for (int b = 0; b < TU_NFAST; b++) check_descriptor_of_chip150_matches_faceapi(TU_FAST[b]);
}

static void check_landmark_net_output_on_chip112_matches_faceapi(nn_backend be) {
  float want[136], got[136];
  CHECK(tu_json_floats(tu_golden_net(golden, "landmarks_chip112", "output"), want, 136));
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("chip112.png"), 0, &img), FK_OK);
  if (!lm_g || !img.rgb) return;
  CHECK(img.width == 112 && img.height == 112);
  float *in = malloc(112 * 112 * 3 * sizeof *in);
  fk_landmarks_input(&img, (fk_rect){0, 0, img.width, img.height}, in);
  CHECK_EQ_INT(run_net(lm_g, be, in, got, 136), FK_OK);
  double d = tu_max_abs_diff(got, want, 136);
  fprintf(stderr, "  %s landmarks chip112: max |raw output diff| = %.3g\n", nn_backend_name(be), d);
  CHECK(d <= 1e-3);
  free(in);
  fk_image_free(&img);
}

static void test_landmark_net_output_on_chip112_matches_faceapi(void) {
  for (int b = 0; b < TU_NFAST; b++) check_landmark_net_output_on_chip112_matches_faceapi(TU_FAST[b]);
}

/* Detection from golden "box"/"score", then box (== golden "landmark_crop"),
 * input, net and decode. */
static void check_landmarks_match_faceapi_on_golden_faces(nn_backend be) {
  static const char *names[] = {"face_a1.png", "face_a2.png", "face_b1.png",
                                "face_c1.png", "group4.png"};
  float *in = malloc(112 * 112 * 3 * sizeof *in);
  double worst = 0;
  int nfaces = 0;
  for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
    const cJSON *rec = tu_golden_image(golden, names[k]);
    const cJSON *faces = rec ? cJSON_GetObjectItemCaseSensitive(rec, "faces")
                             : NULL;
    CHECK(cJSON_IsArray(faces) && cJSON_GetArraySize(faces) > 0);
    fk_image img;
    CHECK_EQ_INT(fk_image_load(tu_fixture(names[k]), 0, &img), FK_OK);
    if (!lm_g || !img.rgb || !cJSON_IsArray(faces)) {
      fk_image_free(&img);
      continue;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, faces) {
      float box[4], want[136], out[136];
      const cJSON *lm = cJSON_GetObjectItemCaseSensitive(f, "landmarks");
      int ok = tu_json_floats(cJSON_GetObjectItemCaseSensitive(f, "box"), box, 4) &&
               cJSON_IsArray(lm) && cJSON_GetArraySize(lm) == 68;
      for (int i = 0; ok && i < 68; i++)
        ok = tu_json_floats(cJSON_GetArrayItem(lm, i), want + 2 * i, 2);
      CHECK(ok);
      if (!ok) continue;
      const cJSON *sc = cJSON_GetObjectItemCaseSensitive(f, "score");
      fk_det d = {box[0], box[1], box[2], box[3],
                  cJSON_IsNumber(sc) ? (float)sc->valuedouble : 1.0f};
      fk_rect r;
      float crop[4];
      CHECK(fk_landmarks_box(&d, img.width, img.height, &r));
      CHECK(tu_json_floats(cJSON_GetObjectItemCaseSensitive(f, "landmark_crop"),
                           crop, 4));
      CHECK(r.x == (int)crop[0] && r.y == (int)crop[1] &&
            r.w == (int)crop[2] && r.h == (int)crop[3]);
      fk_landmarks_input(&img, r, in);
      CHECK_EQ_INT(run_net(lm_g, be, in, out, 136), FK_OK);
      fk_point pts[68];
      fk_landmarks_decode(out, &d, r, pts);
      double face_worst = 0;
      for (int i = 0; i < 68; i++) {
        face_worst = fmax(face_worst, fabs(pts[i].x - want[2 * i]));
        face_worst = fmax(face_worst, fabs(pts[i].y - want[2 * i + 1]));
      }
      CHECK(face_worst <= 1.0);
      worst = fmax(worst, face_worst);
      nfaces++;
    }
    fk_image_free(&img);
  }
  fprintf(stderr, "  %s landmarks on %d golden faces: max error %.3g px\n", nn_backend_name(be), nfaces, worst);
  free(in);
}

static void test_landmarks_match_faceapi_on_golden_faces(void) {
  for (int b = 0; b < TU_NFAST; b++) check_landmarks_match_faceapi_on_golden_faces(TU_FAST[b]);
}

/* ---- pre- and post-processing ------------------------------------------- */

static void test_landmarks_box_clips_then_floors(void) {
  fk_rect r;
  fk_det d = {10.7f, 20.2f, 50.9f, 60.5f, 0.9f};
  CHECK(fk_landmarks_box(&d, 200, 200, &r));
  CHECK(r.x == 10 && r.y == 20 && r.w == 50 && r.h == 60);
  /* Left/top edges clip at 0 and the width shrinks by the cut: right =
   * -5.5 + 40 = 34.5 -> w = floor(34.5) = 34. */
  d = (fk_det){-5.5f, -3.0f, 40.0f, 30.0f, 0.9f};
  CHECK(fk_landmarks_box(&d, 200, 200, &r));
  CHECK(r.x == 0 && r.y == 0 && r.w == 34 && r.h == 27);
  /* Right/bottom edges clip at the image. */
  d = (fk_det){180.5f, 190.25f, 40.0f, 30.0f, 0.9f};
  CHECK(fk_landmarks_box(&d, 200, 200, &r));
  CHECK(r.x == 180 && r.y == 190 && r.w == 19 && r.h == 9);
}

static void test_landmarks_box_rejects_empty_clip(void) {
  fk_rect r;
  fk_det d = {250.0f, 10.0f, 40.0f, 30.0f, 0.9f}; /* right of the image */
  CHECK(!fk_landmarks_box(&d, 200, 200, &r));
  d = (fk_det){10.0f, 10.0f, 0.5f, 30.0f, 0.9f}; /* floors to width 0 */
  CHECK(!fk_landmarks_box(&d, 200, 200, &r));
  d = (fk_det){NAN, 10.0f, 10.0f, 30.0f, 0.9f};
  CHECK(!fk_landmarks_box(&d, 200, 200, &r));
}

/* postProcess on a 50x100 crop: scaled to 56x112, 28 px of padding on
 * x. Output (0.5, 0.25) -> rel ((56 - 28) / 56, 28 / 112) = (0.5, 0.25)
 * -> crop (25, 25), shifted by the detection's own x, y. */
static void test_landmarks_decode_removes_padding_and_shifts_by_detection(void) {
  float out[136];
  for (int i = 0; i < 68; i++) {
    out[2 * i] = 0.5f;
    out[2 * i + 1] = 0.25f;
  }
  out[0] = 0.25f; /* (28 - 28) / 56 = 0 */
  fk_det d = {30.6f, 40.2f, 50.3f, 100.1f, 0.9f};
  fk_rect r = {30, 40, 50, 100};
  fk_point p[68];
  fk_landmarks_decode(out, &d, r, p);
  CHECK_NEAR(p[0].x, 30.6, 1e-4);
  CHECK_NEAR(p[1].x, 25 + 30.6, 1e-4);
  CHECK_NEAR(p[1].y, 25 + 40.2, 1e-4);
  /* Wide crop: padding on y instead. 100x50 -> 112x56, pad_y 28. */
  r = (fk_rect){30, 40, 100, 50};
  fk_landmarks_decode(out, &d, r, p);
  CHECK_NEAR(p[1].x, 0.5 * 100 + 30.6, 1e-4);
  CHECK_NEAR(p[1].y, (0.25 * 112 - 28) / 56 * 50 + 40.2, 1e-4);
}

static void test_descriptor_normalize_subtracts_faceapi_mean(void) {
  float px[6] = {122.782f, 117.001f, 104.298f, 255.0f, 0.0f, 127.5f};
  fk_descriptor_normalize(px, 2);
  CHECK_NEAR(px[0], 0, 1e-7);
  CHECK_NEAR(px[1], 0, 1e-7);
  CHECK_NEAR(px[2], 0, 1e-7);
  CHECK_NEAR(px[3], (255 - 122.782) / 255, 1e-6);
  CHECK_NEAR(px[4], -117.001 / 255, 1e-6);
  CHECK_NEAR(px[5], (127.5 - 104.298) / 255, 1e-6);
}

int main(void) {
  char err[256];
  int st = nn_weights_load(tu_model_path(FK_LANDMARKS_FILE), &lm_w, err, sizeof err);
  if (st == FK_OK) st = fk_landmarks_build(&lm_w, &lm_g, err, sizeof err);
  if (st != FK_OK) fprintf(stderr, "landmarks: %s (%s)\n", fk_strerror(st), err);
  CHECK_EQ_INT(st, FK_OK);
  st = nn_weights_load(tu_model_path(FK_DESCRIPTOR_FILE), &desc_w, err, sizeof err);
  if (st == FK_OK) st = fk_descriptor_build(&desc_w, &desc_g, err, sizeof err);
  if (st != FK_OK) fprintf(stderr, "descriptor: %s (%s)\n", fk_strerror(st), err);
  CHECK_EQ_INT(st, FK_OK);
  golden = tu_golden_load();
  CHECK(golden != NULL);

  RUN(test_landmarks_graph_maps_112_input_to_136_outputs);
  RUN(test_descriptor_graph_maps_150_input_to_128_outputs);
  if (lm_w.n > 0 && desc_w.n > 0) {
    RUN(test_build_rejects_missing_weight);
    RUN(test_build_rejects_missized_weight);
  }
  RUN(test_landmarks_fast_backends_match_reference_backend);
  RUN(test_descriptor_fast_backends_match_reference_backend);
  RUN(test_descriptor_of_chip150_matches_faceapi);
  RUN(test_landmark_net_output_on_chip112_matches_faceapi);
  RUN(test_landmarks_match_faceapi_on_golden_faces);
  RUN(test_landmarks_box_clips_then_floors);
  RUN(test_landmarks_box_rejects_empty_clip);
  RUN(test_landmarks_decode_removes_padding_and_shifts_by_detection);
  RUN(test_descriptor_normalize_subtracts_faceapi_mean);

  cJSON_Delete(golden);
  nn_graph_free(lm_g);
  nn_graph_free(desc_g);
  nn_weights_free(&lm_w);
  nn_weights_free(&desc_w);
  return tu_summary();
}
