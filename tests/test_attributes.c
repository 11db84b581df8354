/*
 * test_attributes.c - face-api's age/gender and expression nets
 * (src/models/agegender.c, expression.c): graph building and its failure
 * paths (including corrupt manifests on disk), XNNPACK and oneDNN against the
 * reference kernels, the alignedRect crop, and both nets on both against face-api's own outputs
 * in tests/fixtures/golden.json, at net level on chip112.png and end to end
 * from the golden landmarks of every fixture face.
 *
 * Needs the models ($FACEKIT_MODELS, else ./models) and the fixtures
 * ($FK_FIXTURES, else tests/fixtures).
 */
#include <cjson/cJSON.h>
#include <sys/stat.h>

#include "facekit.h"
#include "models/models.h"
#include "nn/nn.h"
#include "nn/weights.h"
#include "testutil.h"
#include "golden.h"

static nn_weights ag_w, ex_w;
static nn_graph *ag_g, *ex_g;
static cJSON *golden;

/* Runs g once on `in` with the given backend; *rt stays for decoding. */
static int run_net(const nn_graph *g, nn_backend be, const float *in,
                   nn_runtime **rt) {
  *rt = NULL;
  int st = nn_runtime_new(g, be, NULL, rt);
  if (st != FK_OK) return st;
  memcpy(nn_runtime_input(*rt), in, nn_shape_size(g->shapes[0]) * sizeof *in);
  return nn_runtime_run(*rt);
}

/* chip112.png as the nets' input (112x112: no pad, no resize). */
static float *chip112_input(void) {
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("chip112.png"), 0, &img), FK_OK);
  if (!img.rgb) return NULL;
  CHECK(img.width == 112 && img.height == 112);
  float *in = malloc(112 * 112 * 3 * sizeof *in);
  if (in) fk_landmarks_input(&img, (fk_rect){0, 0, img.width, img.height}, in);
  fk_image_free(&img);
  return in;
}

/* ---- building ------------------------------------------------------------ */

static void test_agegender_graph_maps_112_input_to_age_and_gender_logits(void) {
  CHECK(ag_g != NULL);
  if (!ag_g) return;
  nn_shape in = ag_g->shapes[0];
  CHECK(in.h == 112 && in.w == 112 && in.c == 3);
  CHECK_EQ_INT(ag_g->noutputs, 2);
  CHECK_EQ_INT(nn_shape_size(ag_g->shapes[ag_g->outputs[0]]), 1);
  CHECK_EQ_INT(nn_shape_size(ag_g->shapes[ag_g->outputs[1]]), 2);
}

static void test_expression_graph_maps_112_input_to_7_logits(void) {
  CHECK(ex_g != NULL);
  if (!ex_g) return;
  nn_shape in = ex_g->shapes[0];
  CHECK(in.h == 112 && in.w == 112 && in.c == 3);
  CHECK_EQ_INT(ex_g->noutputs, 1);
  CHECK_EQ_INT(nn_shape_size(ex_g->shapes[ex_g->outputs[0]]), FK_NUM_EXPRESSIONS);
}

/* Each manifest without its last tensor must fail naming it, *out NULL. */
static void test_build_rejects_missing_last_weight(void) {
  char err[256];
  nn_graph *g = (nn_graph *)1;
  nn_weights cut = {ag_w.items, ag_w.n - 1};
  CHECK_EQ_INT(fk_agegender_build(&cut, &g, err, sizeof err), FK_EMODEL);
  CHECK(g == NULL);
  CHECK(strstr(err, "fc/gender/bias") != NULL);

  g = (nn_graph *)1;
  cut = (nn_weights){ex_w.items, ex_w.n - 1};
  CHECK_EQ_INT(fk_expression_build(&cut, &g, err, sizeof err), FK_EMODEL);
  CHECK(g == NULL);
  CHECK(strstr(err, "fc/bias") != NULL);
}

/* Copies w with weight `name` renamed (missing) or one value short. */
static void check_bad_weight(const nn_weights *w,
                             int (*build)(const nn_weights *, nn_graph **,
                                          char *, size_t),
                             const char *name, int shorten) {
  nn_weight *items = malloc((size_t)w->n * sizeof *items);
  memcpy(items, w->items, (size_t)w->n * sizeof *items);
  char other[] = "renamed";
  int k = -1;
  for (int i = 0; i < w->n; i++)
    if (!strcmp(items[i].name, name)) k = i;
  CHECK(k >= 0);
  if (k >= 0) {
    if (shorten)
      items[k].count -= 1;
    else
      items[k].name = other;
  }
  nn_weights bad = {items, w->n};
  char err[256];
  nn_graph *g = (nn_graph *)1;
  CHECK_EQ_INT(build(&bad, &g, err, sizeof err), FK_EMODEL);
  CHECK(g == NULL);
  CHECK(strstr(err, name) != NULL);
  free(items);
}

static void test_build_rejects_missing_or_missized_inner_weights(void) {
  check_bad_weight(&ag_w, fk_agegender_build,
                   "middle_flow/main_block_1/separable_conv2/depthwise_filter", 0);
  check_bad_weight(&ag_w, fk_agegender_build,
                   "exit_flow/reduction_block/expansion_conv/filters", 1);
  check_bad_weight(&ag_w, fk_agegender_build, "entry_flow/conv_in/bias", 1);
  check_bad_weight(&ex_w, fk_expression_build, "dense2/conv3/pointwise_filter", 0);
  check_bad_weight(&ex_w, fk_expression_build, "dense0/conv0/filters", 1);
  check_bad_weight(&ex_w, fk_expression_build, "fc/weights", 1);
}

/* A scratch copy of a model directory's manifest + shard, with `from` replaced
 * by `to` in the manifest and the shard cut by `cut` bytes; loads it and
 * builds the net. Returns the first failing status (FK_OK if none). */
static int load_edited(const char *manifest, const char *shard, const char *from,
                       const char *to, size_t cut,
                       int (*build)(const nn_weights *, nn_graph **, char *,
                                    size_t),
                       char *err, size_t errlen) {
  char dir[4096], path[8192];
  snprintf(dir, sizeof dir, "%s", tu_tmp("attr-models"));
  mkdir(dir, 0700);
  char *json = tu_read_file(tu_model_path(manifest), NULL);
  size_t nbin = 0;
  snprintf(path, sizeof path, "%s", tu_model_path(shard));
  char *bin = tu_read_file(path, &nbin);
  CHECK(json && bin && strstr(json, from) && nbin > cut);
  int st = FK_EIO;
  if (json && bin && strstr(json, from) && nbin > cut) {
    char *hit = strstr(json, from);
    size_t head = (size_t)(hit - json), nfrom = strlen(from), nto = strlen(to);
    char *edited = malloc(strlen(json) - nfrom + nto + 1);
    memcpy(edited, json, head);
    memcpy(edited + head, to, nto);
    strcpy(edited + head + nto, hit + nfrom);
    snprintf(path, sizeof path, "%s/%s", dir, manifest);
    tu_write_file(path, edited, strlen(edited));
    char mpath[8192];
    snprintf(mpath, sizeof mpath, "%s", path);
    snprintf(path, sizeof path, "%s/%s", dir, shard);
    tu_write_file(path, bin, nbin - cut);
    free(edited);

    nn_weights w = {0};
    nn_graph *g = NULL;
    st = nn_weights_load(mpath, &w, err, errlen);
    if (st == FK_OK) st = build(&w, &g, err, errlen);
    nn_graph_free(g);
    nn_weights_free(&w);
    remove(mpath);
    remove(path);
  }
  rmdir(dir);
  free(json);
  free(bin);
  return st;
}

/* Corrupt manifests on disk: a renamed tensor loads but does not build; a
 * tensor whose declared shape shrank (with the shard cut to match) loads but
 * is too short for the net; a cut shard does not load. All are FK_EMODEL
 * with a message naming the tensor or the file. */
static void test_corrupt_manifests_fail_cleanly(void) {
  char err[512];
  int st = load_edited(FK_AGEGENDER_FILE, "age_gender_model.bin",
                       "\"fc/age/weights\"", "\"fc/age/weightz\"", 0,
                       fk_agegender_build, err, sizeof err);
  CHECK_EQ_INT(st, FK_EMODEL);
  CHECK(strstr(err, "fc/age/weights") != NULL);

  /* fc/gender/weights is uint8 [512, 2] followed by the 8-byte bias: 1024
   * bytes become 512 and the shard loses 512 bytes. */
  st = load_edited(FK_AGEGENDER_FILE, "age_gender_model.bin",
                   "\"shape\":[512,2]", "\"shape\":[256,2]", 512,
                   fk_agegender_build, err, sizeof err);
  CHECK_EQ_INT(st, FK_EMODEL);
  CHECK(strstr(err, "fc/gender/weights") != NULL);

  st = load_edited(FK_EXPRESSION_FILE, "face_expression_model.bin",
                   "\"dense3/conv2/bias\"", "\"dense3/conv2/biaz\"", 0,
                   fk_expression_build, err, sizeof err);
  CHECK_EQ_INT(st, FK_EMODEL);
  CHECK(strstr(err, "dense3/conv2/bias") != NULL);

  st = load_edited(FK_EXPRESSION_FILE, "face_expression_model.bin",
                   "\"dense3/conv2/bias\"", "\"dense3/conv2/bias\"", 3,
                   fk_expression_build, err, sizeof err);
  CHECK_EQ_INT(st, FK_EMODEL);
  CHECK(strstr(err, "face_expression_model.bin") != NULL);
}

/* ---- backends ------------------------------------------------------------ */

static void test_agegender_fast_backends_match_reference_backend(void) {
  if (!ag_g) return;
  /* Relative to the largest output: the age is tens of years. */
  double d = tu_backend_diff(ag_g, 11, 0.5f, 1);
  fprintf(stderr, "  age/gender: max |fast - reference| / max(1, |ref|) = %.3g\n", d);
  CHECK(d >= 0 && d <= 1e-5);
}

static void test_expression_fast_backends_match_reference_backend(void) {
  if (!ex_g) return;
  double d = tu_backend_diff(ex_g, 12, 0.5f, 0);
  fprintf(stderr, "  expression: max |fast - reference| = %.3g\n", d);
  CHECK(d >= 0 && d <= 1e-4);
}

/* Decoded probabilities agree between the backends on a real face too. */
static void test_backends_agree_on_chip112_decoded(void) {
  float *in = chip112_input();
  if (!in || !ag_g || !ex_g) {
    free(in);
    return;
  }
  float age[3], pm[3], pr[3][FK_NUM_EXPRESSIONS];
  for (int b = 0; b < 3; b++) {
    nn_backend be = b == TU_NFAST ? NN_BACKEND_REFERENCE : TU_FAST[b];
    nn_runtime *rt;
    CHECK_EQ_INT(run_net(ag_g, be, in, &rt), FK_OK);
    if (rt) fk_agegender_decode(rt, &age[b], &pm[b]);
    nn_runtime_free(rt);
    CHECK_EQ_INT(run_net(ex_g, be, in, &rt), FK_OK);
    if (rt) fk_expression_decode(rt, pr[b]);
    nn_runtime_free(rt);
  }
  for (int b = 0; b < TU_NFAST; b++) {
    double dp = fabs((double)pm[b] - pm[2]);
    for (int i = 0; i < FK_NUM_EXPRESSIONS; i++)
      dp = fmax(dp, fabs((double)pr[b][i] - pr[2][i]));
    fprintf(stderr, "  chip112 %s vs reference: age %.3g years, probabilities %.3g\n",
            nn_backend_name(TU_FAST[b]), fabs((double)age[b] - age[2]), dp);
    CHECK(fabs((double)age[b] - age[2]) <= 1e-3);
    CHECK(dp <= 1e-5);
  }
  free(in);
}

/* ---- against face-api: net level ---------------------------------------- */

static void check_agegender_net_on_chip112_matches_faceapi(nn_backend be) {
  float want_age, want_logits[2], want_probs[2];
  CHECK(tu_json_floats(tu_golden_net(golden, "agegender_chip112", "age"), &want_age, 1));
  CHECK(tu_json_floats(tu_golden_net(golden, "agegender_chip112", "gender_logits"), want_logits, 2));
  CHECK(tu_json_floats(tu_golden_net(golden, "agegender_chip112", "gender_probs"), want_probs, 2));
  float *in = chip112_input();
  nn_runtime *rt = NULL;
  if (in && ag_g) {
    CHECK_EQ_INT(run_net(ag_g, be, in, &rt), FK_OK);
  }
  if (rt) {
    const float *age = nn_runtime_output(rt, 0), *logits = nn_runtime_output(rt, 1);
    float a, p_male;
    fk_agegender_decode(rt, &a, &p_male);
    double da = fabs((double)age[0] - want_age);
    double dl = tu_max_abs_diff(logits, want_logits, 2);
    double dp = fabs((double)p_male - want_probs[0]);
    fprintf(stderr, "  %s age/gender chip112: |age diff| %.3g (of %.2f), max |logit diff| %.3g, "
            "|P(male) diff| %.3g\n", nn_backend_name(be), da, want_age, dl, dp);
    CHECK(da <= 1e-4);
    CHECK(dl <= 1e-4);
    CHECK(dp <= 1e-5);
    CHECK(a == age[0]);
  }
  nn_runtime_free(rt);
  free(in);
}

static void test_agegender_net_on_chip112_matches_faceapi(void) {
  for (int b = 0; b < TU_NFAST; b++) check_agegender_net_on_chip112_matches_faceapi(TU_FAST[b]);
}

static void check_expression_net_on_chip112_matches_faceapi(nn_backend be) {
  float want_logits[7], want_probs[7], probs[7];
  CHECK(tu_json_floats(tu_golden_net(golden, "expression_chip112", "logits"), want_logits, 7));
  CHECK(tu_json_floats(tu_golden_net(golden, "expression_chip112", "probs"), want_probs, 7));
  float *in = chip112_input();
  nn_runtime *rt = NULL;
  if (in && ex_g) {
    CHECK_EQ_INT(run_net(ex_g, be, in, &rt), FK_OK);
  }
  if (rt) {
    double dl = tu_max_abs_diff(nn_runtime_output(rt, 0), want_logits, 7);
    fk_expression_decode(rt, probs);
    double dp = tu_max_abs_diff(probs, want_probs, 7);
    fprintf(stderr, "  %s expression chip112: max |logit diff| %.3g, max |probability diff| %.3g\n",
            nn_backend_name(be), dl, dp);
    CHECK(dl <= 1e-4);
    CHECK(dp <= 1e-5);
  }
  nn_runtime_free(rt);
  free(in);
}

static void test_expression_net_on_chip112_matches_faceapi(void) {
  for (int b = 0; b < TU_NFAST; b++) check_expression_net_on_chip112_matches_faceapi(TU_FAST[b]);
}

/* ---- against face-api: whole faces --------------------------------------- */

/* Golden landmarks -> fk_attr_box (== golden attr_crop) -> input -> both
 * nets -> decode, against withFaceExpressions().withAgeAndGender(). */
static void check_attributes_match_faceapi_on_golden_faces(nn_backend be) {
  static const char *names[] = {"face_a1.png", "face_a2.png", "face_b1.png",
                                "face_c1.png", "group4.png"};
  float *in = malloc(112 * 112 * 3 * sizeof *in);
  double worst_age = 0, worst_p = 0;
  int nfaces = 0;
  for (size_t k = 0; k < sizeof names / sizeof *names; k++) {
    const cJSON *faces = cJSON_GetObjectItemCaseSensitive(tu_golden_image(golden, names[k]), "faces");
    CHECK(cJSON_IsArray(faces) && cJSON_GetArraySize(faces) > 0);
    fk_image img;
    CHECK_EQ_INT(fk_image_load(tu_fixture(names[k]), 0, &img), FK_OK);
    if (!ag_g || !ex_g || !img.rgb || !cJSON_IsArray(faces)) {
      fk_image_free(&img);
      continue;
    }
    const cJSON *f;
    cJSON_ArrayForEach(f, faces) {
      fk_point pts[FK_NUM_LANDMARKS];
      float crop[4], want_age, want_gp, want_ex[7];
      const cJSON *lm = cJSON_GetObjectItemCaseSensitive(f, "landmarks");
      const cJSON *gender = cJSON_GetObjectItemCaseSensitive(f, "gender");
      int ok = cJSON_IsArray(lm) && cJSON_GetArraySize(lm) == FK_NUM_LANDMARKS &&
               cJSON_IsString(gender) &&
               tu_json_floats(cJSON_GetObjectItemCaseSensitive(f, "attr_crop"), crop, 4) &&
               cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(f, "age")) &&
               cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(f, "gender_probability")) &&
               tu_json_floats(cJSON_GetObjectItemCaseSensitive(f, "expressions"), want_ex, 7);
      for (int i = 0; ok && i < FK_NUM_LANDMARKS; i++) {
        float xy[2];
        ok = tu_json_floats(cJSON_GetArrayItem(lm, i), xy, 2);
        pts[i] = (fk_point){xy[0], xy[1]};
      }
      CHECK(ok);
      if (!ok) continue;
      want_age = (float)cJSON_GetObjectItemCaseSensitive(f, "age")->valuedouble;
      want_gp = (float)cJSON_GetObjectItemCaseSensitive(f, "gender_probability")->valuedouble;
      int want_male = !strcmp(gender->valuestring, "male");

      fk_rect r;
      CHECK(fk_attr_box(pts, img.width, img.height, &r));
      CHECK(r.x == (int)crop[0] && r.y == (int)crop[1] && r.w == (int)crop[2] &&
            r.h == (int)crop[3]);
      fk_landmarks_input(&img, r, in);

      float age, p_male, ex[7];
      nn_runtime *rt;
      CHECK_EQ_INT(run_net(ag_g, be, in, &rt), FK_OK);
      if (rt) fk_agegender_decode(rt, &age, &p_male);
      nn_runtime_free(rt);
      CHECK_EQ_INT(run_net(ex_g, be, in, &rt), FK_OK);
      if (rt) fk_expression_decode(rt, ex);
      nn_runtime_free(rt);

      CHECK_EQ_INT(p_male > 0.5f, want_male);
      double dp = fabs((want_male ? p_male : 1 - p_male) - (double)want_gp);
      for (int i = 0; i < 7; i++) dp = fmax(dp, fabs((double)ex[i] - want_ex[i]));
      double da = fabs((double)age - want_age);
      CHECK(da <= 0.05);
      CHECK(dp <= 1e-3);
      worst_age = fmax(worst_age, da);
      worst_p = fmax(worst_p, dp);
      nfaces++;
    }
    fk_image_free(&img);
  }
  fprintf(stderr, "  %s attributes on %d golden faces: max |age diff| %.3g years, "
          "max |probability diff| %.3g\n", nn_backend_name(be), nfaces, worst_age, worst_p);
  CHECK_EQ_INT(nfaces, 8);
  free(in);
}

static void test_attributes_match_faceapi_on_golden_faces(void) {
  for (int b = 0; b < TU_NFAST; b++) check_attributes_match_faceapi_on_golden_faces(TU_FAST[b]);
}

/* ---- pre- and post-processing ------------------------------------------- */

/* Points spanning x 100..200, y 50..250 (min from the points, max from 0):
 * padded by 20 and 40 in total -> (90, 30, 120, 240), clipped to the image. */
static void test_attr_box_pads_landmark_bbox_by_20_percent_and_clips(void) {
  fk_point pts[FK_NUM_LANDMARKS];
  for (int i = 0; i < FK_NUM_LANDMARKS; i++)
    pts[i] = (fk_point){150.0f + (float)(i % 7), 100.0f + (float)(i % 5)};
  pts[3] = (fk_point){100.0f, 50.0f};
  pts[40] = (fk_point){200.0f, 250.0f};
  fk_rect r;
  CHECK(fk_attr_box(pts, 640, 480, &r));
  CHECK(r.x == 90 && r.y == 30 && r.w == 120 && r.h == 240);
  /* Clipped at the bottom (480 - 30 = 450 > 240 still fits; 260 does not). */
  CHECK(fk_attr_box(pts, 640, 260, &r));
  CHECK(r.x == 90 && r.y == 30 && r.w == 120 && r.h == 230);
  /* Top-left off the image: x clipped to 0 and the width shrinks. */
  for (int i = 0; i < FK_NUM_LANDMARKS; i++) pts[i].x -= 95.0f;
  CHECK(fk_attr_box(pts, 640, 480, &r));
  CHECK(r.x == 0 && r.w == 115);
}

static void test_attr_box_rejects_a_face_outside_the_image(void) {
  fk_point pts[FK_NUM_LANDMARKS];
  for (int i = 0; i < FK_NUM_LANDMARKS; i++)
    pts[i] = (fk_point){700.0f + (float)i, 10.0f + (float)i};
  fk_rect r;
  CHECK(!fk_attr_box(pts, 640, 480, &r));
  CHECK(!fk_attr_box(pts, 0, 0, &r));
}

static void test_expression_order_and_emotion_map_follow_faceapi(void) {
  static const char *want[7] = {"neutral", "happy",     "sad",      "angry",
                                "fearful", "disgusted", "surprised"};
  for (int i = 0; i < FK_NUM_EXPRESSIONS; i++) CHECK(!strcmp(fk_expression_names[i], want[i]));
  CHECK_EQ_INT(fk_expression_emotion[0], FK_EMOTION_NEUTRAL);
  CHECK_EQ_INT(fk_expression_emotion[3], FK_EMOTION_ANGRY);
  CHECK_EQ_INT(fk_expression_emotion[4], FK_EMOTION_FEAR);
  CHECK_EQ_INT(fk_expression_emotion[5], FK_EMOTION_DISGUST);
  CHECK_EQ_INT(fk_expression_emotion[6], FK_EMOTION_SURPRISE);
  int seen = 0;
  for (int i = 0; i < FK_NUM_EXPRESSIONS; i++) seen |= 1 << fk_expression_emotion[i];
  CHECK_EQ_INT(seen, (1 << FK_NUM_EMOTIONS) - 1);
}

int main(void) {
  char err[256];
  int st = nn_weights_load(tu_model_path(FK_AGEGENDER_FILE), &ag_w, err, sizeof err);
  if (st == FK_OK) st = fk_agegender_build(&ag_w, &ag_g, err, sizeof err);
  if (st != FK_OK) fprintf(stderr, "age/gender: %s (%s)\n", fk_strerror(st), err);
  CHECK_EQ_INT(st, FK_OK);
  st = nn_weights_load(tu_model_path(FK_EXPRESSION_FILE), &ex_w, err, sizeof err);
  if (st == FK_OK) st = fk_expression_build(&ex_w, &ex_g, err, sizeof err);
  if (st != FK_OK) fprintf(stderr, "expression: %s (%s)\n", fk_strerror(st), err);
  CHECK_EQ_INT(st, FK_OK);
  golden = tu_golden_load();
  CHECK(golden != NULL);

  RUN(test_agegender_graph_maps_112_input_to_age_and_gender_logits);
  RUN(test_expression_graph_maps_112_input_to_7_logits);
  if (ag_w.n > 0 && ex_w.n > 0) {
    RUN(test_build_rejects_missing_last_weight);
    RUN(test_build_rejects_missing_or_missized_inner_weights);
  }
  RUN(test_corrupt_manifests_fail_cleanly);
  RUN(test_agegender_fast_backends_match_reference_backend);
  RUN(test_expression_fast_backends_match_reference_backend);
  RUN(test_backends_agree_on_chip112_decoded);
  RUN(test_agegender_net_on_chip112_matches_faceapi);
  RUN(test_expression_net_on_chip112_matches_faceapi);
  RUN(test_attributes_match_faceapi_on_golden_faces);
  RUN(test_attr_box_pads_landmark_bbox_by_20_percent_and_clips);
  RUN(test_attr_box_rejects_a_face_outside_the_image);
  RUN(test_expression_order_and_emotion_map_follow_faceapi);

  cJSON_Delete(golden);
  nn_graph_free(ag_g);
  nn_graph_free(ex_g);
  nn_weights_free(&ag_w);
  nn_weights_free(&ex_w);
  return tu_summary();
}
