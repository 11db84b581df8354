/*
 * test_gear.c - human's GEAR model (src/models/gear.c): the face box and its
 * composed crop, the TF cropAndResize sampling, gear.ts's decoding, the
 * graph loaded by nn_tfgraph_load on every backend, and the net against
 * tfjs-wasm's outputs in tests/fixtures/golden_gear.json (written by
 * tools/reference/golden-gear.js).
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

static nn_graph *gear_g;
static cJSON *golden, *gear_golden;

/* Runs g once on `in`; decodes into o. */
static int run_gear(const nn_graph *g, nn_backend be, const float *in,
                    fk_gear_out *o) {
  nn_runtime *rt = NULL;
  int st = nn_runtime_new(g, be, NULL, &rt);
  if (st != FK_OK) return st;
  memcpy(nn_runtime_input(rt), in, nn_shape_size(g->shapes[0]) * sizeof *in);
  st = nn_runtime_run(rt);
  if (st == FK_OK) fk_gear_decode(rt, o);
  nn_runtime_free(rt);
  return st;
}

static const cJSON *item(const cJSON *o, const char *k) {
  return cJSON_GetObjectItemCaseSensitive(o, k);
}

/* The golden record's raw outputs and age; 0 if malformed. */
static int golden_outputs(const cJSON *rec, fk_gear_out *want) {
  const cJSON *age = item(rec, "age");
  float gender[2];
  if (!tu_json_floats(item(rec, "age_dist"), want->age_p, FK_GEAR_NUM_AGES) ||
      !tu_json_floats(item(rec, "gender"), gender, 2) ||
      !tu_json_floats(item(rec, "race"), want->race, FK_GEAR_NUM_RACES) ||
      !cJSON_IsNumber(age))
    return 0;
  want->p_male = gender[0];
  want->p_female = gender[1];
  want->age = (float)age->valuedouble;
  return 1;
}

/* Worst probability difference; the age difference goes to *dage. */
static double out_diff(const fk_gear_out *a, const fk_gear_out *b,
                       double *dage) {
  double d = tu_max_abs_diff(a->age_p, b->age_p, FK_GEAR_NUM_AGES);
  d = fmax(d, tu_max_abs_diff(a->race, b->race, FK_GEAR_NUM_RACES));
  d = fmax(d, fabs((double)a->p_male - b->p_male));
  d = fmax(d, fabs((double)a->p_female - b->p_female));
  *dage = fabs((double)a->age - b->age);
  return d;
}

/* golden.json's landmarks of images[image].faces[index]. */
static int golden_landmarks(const char *image, int index,
                            fk_point pts[FK_NUM_LANDMARKS]) {
  const cJSON *faces = item(tu_golden_image(golden, image), "faces");
  const cJSON *lm = item(cJSON_GetArrayItem(faces, index), "landmarks");
  if (!cJSON_IsArray(lm) || cJSON_GetArraySize(lm) != FK_NUM_LANDMARKS)
    return 0;
  for (int i = 0; i < FK_NUM_LANDMARKS; i++) {
    float p[2];
    if (!tu_json_floats(cJSON_GetArrayItem(lm, i), p, 2)) return 0;
    pts[i] = (fk_point){p[0], p[1]};
  }
  return 1;
}

/* ---- box and crop -------------------------------------------------------- */

/* TF cropAndResize's source coordinate of output index i (fractional: to
 * chain two crops), for box edges lo, hi (normalized) on an axis of n
 * pixels resized to out. */
static double crop_coord(double lo, double hi, int n, int out, double i) {
  return lo * (n - 1) + i * (hi - lo) * (n - 1) / (out - 1);
}

/* A face whose landmark bbox is 100 x 80 at (50, 60): side 1.54 * 90. */
static void test_gear_box_scales_and_shifts_landmark_bbox(void) {
  fk_point pts[FK_NUM_LANDMARKS];
  for (int i = 0; i < FK_NUM_LANDMARKS; i++)
    pts[i] = (fk_point){50.0f + (float)(i % 11) * 10.0f,
                        60.0f + (float)(i % 9) * 10.0f};
  fk_gear_crop b;
  CHECK(fk_gear_box(pts, 400, 300, &b));
  const double side = 1.54 * 90;
  CHECK_NEAR(b.side, side, 1e-9);
  CHECK_NEAR(b.x + side / 2, 100 + 0.016 * side, 1e-9);
  CHECK_NEAR(b.y + side / 2, 100 - 0.024 * side, 1e-9);
}

static void test_gear_box_rejects_degenerate_faces(void) {
  fk_point pts[FK_NUM_LANDMARKS];
  fk_gear_crop b;
  for (int i = 0; i < FK_NUM_LANDMARKS; i++) pts[i] = (fk_point){20, 30};
  CHECK(!fk_gear_box(pts, 100, 100, &b)); /* zero size */
  CHECK(b.side == 0);
  for (int i = 0; i < FK_NUM_LANDMARKS; i++)
    pts[i] = (fk_point){20.0f + (float)i, 30.0f + (float)i};
  CHECK(fk_gear_box(pts, 100, 100, &b));
  pts[7].y = NAN;
  CHECK(!fk_gear_box(pts, 100, 100, &b));
  pts[7].y = 37.0f;
  CHECK(!fk_gear_box(pts, 0, 100, &b));
  /* Entirely left of / below the image. */
  for (int i = 0; i < FK_NUM_LANDMARKS; i++)
    pts[i] = (fk_point){-500.0f + (float)i, 30.0f + (float)i};
  CHECK(!fk_gear_box(pts, 100, 100, &b));
  for (int i = 0; i < FK_NUM_LANDMARKS; i++)
    pts[i] = (fk_point){20.0f + (float)i, 400.0f + (float)i};
  CHECK(!fk_gear_box(pts, 100, 100, &b));
}

/* human cuts the face box to an S x S tensor, then gear crops [0, .1, .9, .9]
 * of that; both are TF cropAndResize maps, in = y1 * (n - 1) + i * (y2 - y1)
 * * (n - 1) / (out - 1). Their composition must equal the one crop
 * fk_gear_tf_box() gives, for any S. */
static void test_gear_crop_composes_human_two_crops(void) {
  const int W = 640, H = 480, out = FK_GEAR_SIZE;
  const fk_gear_crop b = {101.3, 57.9, 211.7};
  float c[4];
  fk_gear_tf_box(&b, W, H, c);
  const double face[4] = {b.y / H, b.x / W, (b.y + b.side) / H,
                          (b.x + b.side) / W};
  const double sub[4] = {0, 0.1, 0.9, 0.9};
  double worst = 0;
  for (int S = 128; S <= 256; S += 64) {
    for (int i = 0; i < out; i += 7) {
      /* Row i of the gear input in face-tensor rows, then in image rows. */
      double r = crop_coord(sub[0], sub[2], S, out, i);
      double y = crop_coord(face[0], face[2], H, S, r);
      double q = crop_coord(sub[1], sub[3], S, out, i);
      double x = crop_coord(face[1], face[3], W, S, q);
      double y1 = crop_coord(c[0], c[2], H, out, i);
      double x1 = crop_coord(c[1], c[3], W, out, i);
      worst = fmax(worst, fmax(fabs(y - y1), fabs(x - x1)));
    }
  }
  fprintf(stderr, "  composed crop vs two crops: max %.3g px\n", worst);
  CHECK(worst < 1e-3);
  CHECK_NEAR(c[0], 57.9 / 480, 1e-7);
  CHECK_NEAR(c[1], (101.3 + 21.17) / 640, 1e-7);
  CHECK_NEAR(c[2], (57.9 + 0.9 * 211.7) / 480, 1e-7);
  CHECK_NEAR(c[3], (101.3 + 0.9 * 211.7) / 640, 1e-7);
}

/* Bilinear sampling reproduces a linear ramp exactly, and reads 0 outside
 * the image: R = 2x, G = 3y, B = 200 on a 101 x 81 image. */
static void test_gear_input_samples_like_crop_and_resize(void) {
  const int W = 101, H = 81;
  fk_image img = {W, H, malloc((size_t)W * H * 3)};
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint8_t *p = img.rgb + ((size_t)y * W + x) * 3;
      p[0] = (uint8_t)(2 * x);
      p[1] = (uint8_t)(3 * y);
      p[2] = 200;
    }
  /* The crop starts above the image: rows with in_y < 0 are zeros. */
  const fk_gear_crop b = {-20.0, -30.0, 100.0};
  float c[4];
  fk_gear_tf_box(&b, W, H, c);
  float *in = malloc((size_t)FK_GEAR_SIZE * FK_GEAR_SIZE * 3 * sizeof *in);
  fk_gear_input(&img, &b, in);
  double worst = 0;
  int zeros = 0, inside = 0;
  for (int i = 0; i < FK_GEAR_SIZE; i++)
    for (int j = 0; j < FK_GEAR_SIZE; j++) {
      const float *px = in + ((size_t)i * FK_GEAR_SIZE + j) * 3;
      double yy = crop_coord(c[0], c[2], H, FK_GEAR_SIZE, i);
      double xx = crop_coord(c[1], c[3], W, FK_GEAR_SIZE, j);
      if (yy < -1e-4 || xx < -1e-4) { /* left of or above the image */
        zeros += px[0] == 0 && px[1] == 0 && px[2] == 0;
        continue;
      }
      if (yy > H - 1 + 1e-4 || xx > W - 1 + 1e-4) continue;
      inside++;
      worst = fmax(worst, fabs(px[0] - 2 * xx / 255));
      worst = fmax(worst, fabs(px[1] - 3 * yy / 255));
      worst = fmax(worst, fabs(px[2] - 200.0 / 255));
    }
  fprintf(stderr, "  ramp: %d samples inside, max error %.3g; %d zeros\n",
          inside, worst, zeros);
  CHECK(inside > 1000);
  CHECK(zeros > 1000);
  CHECK(worst < 1e-4);
  free(in);
  fk_image_free(&img);
}

/* golden-gear.js recomputed the box from face-api's landmarks. */
static void test_gear_box_matches_reference_script(void) {
  const cJSON *faces = item(gear_golden, "faces"), *rec;
  int n = 0;
  double worst_box = 0, worst_crop = 0;
  cJSON_ArrayForEach(rec, faces) {
    const cJSON *img = item(rec, "image"), *idx = item(rec, "index"),
                *wh = tu_golden_image(golden, cJSON_GetStringValue(img));
    float want[3], crop[4], c[4];
    fk_point pts[FK_NUM_LANDMARKS];
    int ok = cJSON_IsString(img) && cJSON_IsNumber(idx) &&
             tu_json_floats(item(rec, "box"), want, 3) &&
             tu_json_floats(item(rec, "crop"), crop, 4) &&
             golden_landmarks(img->valuestring, idx->valueint, pts) &&
             cJSON_IsNumber(item(wh, "width")) &&
             cJSON_IsNumber(item(wh, "height"));
    CHECK(ok);
    if (!ok) continue;
    int W = item(wh, "width")->valueint, H = item(wh, "height")->valueint;
    fk_gear_crop b;
    CHECK(fk_gear_box(pts, W, H, &b));
    worst_box = fmax(worst_box, fabs(b.x - want[0]));
    worst_box = fmax(worst_box, fabs(b.y - want[1]));
    worst_box = fmax(worst_box, fabs(b.side - want[2]));
    fk_gear_tf_box(&b, W, H, c);
    worst_crop = fmax(worst_crop, tu_max_abs_diff(c, crop, 4));
    n++;
  }
  fprintf(stderr, "  %d boxes: max %.3g px, crops max %.3g\n", n, worst_box,
          worst_crop);
  CHECK_EQ_INT(n, 8);
  CHECK(worst_box < 1e-3);
  CHECK(worst_crop < 1e-6);
}

/* ---- decoding ------------------------------------------------------------ */

/* Bins sorted by probability, ties in index order (JS's stable sort): 1, then
 * 0, 2, 3, 4 (0.1 each), then 5, 6 (0). */
static void test_gear_decode_weights_sorted_bins_like_gear_ts(void) {
  const float age[7] = {0.1f, 0.6f, 0.1f, 0.1f, 0.1f, 0, 0};
  const float gender[2] = {0.25f, 0.75f};
  const float race[5] = {0.1f, 0.2f, 0.3f, 0.15f, 0.25f};
  fk_gear_out o;
  fk_gear_decode_raw(age, gender, race, &o);
  double a = 23;
  a += 0.1f * (15 - a);
  a += 0.1f * (28 - a);
  a += 0.1f * (35.5 - a);
  a += 0.1f * (45.5 - a);
  CHECK_NEAR(o.age, a, 1e-5);
  CHECK_NEAR(o.age, 26.1968, 1e-4);
  CHECK(o.p_male == 0.25f && o.p_female == 0.75f);
  CHECK(o.race[2] == 0.3f && o.age_p[1] == 0.6f);
  CHECK(!strcmp(fk_gear_race_names[2], "asian"));
}

static void test_gear_decode_matches_reference_ages(void) {
  const cJSON *faces = item(gear_golden, "faces"), *rec;
  double worst = 0;
  int n = 0;
  cJSON_ArrayForEach(rec, faces) {
    fk_gear_out want, got;
    CHECK(golden_outputs(rec, &want));
    float g[2] = {want.p_male, want.p_female};
    fk_gear_decode_raw(want.age_p, g, want.race, &got);
    worst = fmax(worst, fabs((double)got.age - want.age));
    n++;
  }
  fprintf(stderr, "  %d ages from the reference's bins: max diff %.3g\n", n,
          worst);
  CHECK(n == 8);
  CHECK(worst < 1e-4);
}

/* ---- the net ------------------------------------------------------------- */

static void test_gear_graph_maps_198_input_to_three_heads(void) {
  CHECK(gear_g != NULL);
  if (!gear_g) return;
  nn_shape in = gear_g->shapes[0];
  CHECK(in.h == 198 && in.w == 198 && in.c == 3);
  CHECK_EQ_INT(gear_g->noutputs, 3);
}

static void test_gear_load_reports_missing_file(void) {
  char err[256];
  nn_graph *g = (nn_graph *)1;
  int st = fk_gear_load(tu_tmp("no-such-gear.json"), &g, err, sizeof err);
  CHECK_EQ_INT(st, FK_ENOENT);
  CHECK(g == NULL);
}

/* Another graph (human's emotion net: 64x64x1 input, one output) is not
 * gear: refused, whether the loader or the shape check catches it. */
static void test_gear_load_rejects_other_graph(void) {
  char err[256] = "";
  nn_graph *g = (nn_graph *)1;
  int st = fk_gear_load(tu_model_path("emotion.json"), &g, err, sizeof err);
  fprintf(stderr, "  emotion.json as gear: %s (%s)\n", fk_strerror(st), err);
  CHECK_EQ_INT(st, FK_EMODEL);
  CHECK(g == NULL);
  CHECK(err[0] != '\0');
}

static void test_gear_fast_backends_match_reference_backend(void) {
  if (!gear_g) return;
  double d = tu_backend_diff(gear_g, 11, 1.0f, 0);
  fprintf(stderr, "  gear: max |fast - reference| = %.3g\n", d);
  CHECK(d >= 0 && d <= 1e-4);
}

/* chip150.png, resized to 198 with TF legacy bilinear, / 255. */
static void test_gear_on_chip150_matches_tfjs(void) {
  fk_gear_out want, got;
  CHECK(golden_outputs(item(item(gear_golden, "nets"), "gear_chip150"), &want));
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("chip150.png"), 0, &img), FK_OK);
  if (!gear_g || !img.rgb) return;
  const size_t n = (size_t)FK_GEAR_SIZE * FK_GEAR_SIZE * 3;
  float *in = malloc(n * sizeof *in);
  fk_crop_to_square_tensor(&img, (fk_rect){0, 0, img.width, img.height}, 1,
                           FK_GEAR_SIZE, in);
  for (size_t i = 0; i < n; i++) in[i] /= 255.0f;
  for (int be = 0; be < NN_BACKEND_COUNT; be++) {
    CHECK_EQ_INT(run_gear(gear_g, (nn_backend)be, in, &got), FK_OK);
    double dage, d = out_diff(&got, &want, &dage);
    fprintf(stderr, "  chip150 (%s): max |p diff| %.3g, age %.4f vs %.4f\n",
            nn_backend_name((nn_backend)be), d, got.age, want.age);
    CHECK(d <= 1e-3);
    CHECK(dage <= 0.05);
  }
  free(in);
  fk_image_free(&img);
}

/* The whole facekit path per golden face: landmarks -> box -> crop -> net,
 * on XNNPACK and oneDNN for every face and, as the plain-C kernels are slow
 * under the sanitizers, on the reference backend for the first and the
 * fifth. */
static void test_gear_on_golden_faces_matches_tfjs(void) {
  if (!gear_g) return;
  const cJSON *faces = item(gear_golden, "faces"), *rec;
  float *in = malloc((size_t)FK_GEAR_SIZE * FK_GEAR_SIZE * 3 * sizeof *in);
  double worst[NN_BACKEND_COUNT] = {0}, worst_age[NN_BACKEND_COUNT] = {0};
  int n = 0, nref = 0;
  cJSON_ArrayForEach(rec, faces) {
    const cJSON *img_name = item(rec, "image"), *idx = item(rec, "index");
    fk_gear_out want, got;
    fk_point pts[FK_NUM_LANDMARKS];
    fk_image img = {0, 0, NULL};
    int ok = golden_outputs(rec, &want) && cJSON_IsString(img_name) &&
             cJSON_IsNumber(idx) &&
             golden_landmarks(img_name->valuestring, idx->valueint, pts) &&
             fk_image_load(tu_fixture(img_name->valuestring), 0, &img) == FK_OK;
    CHECK(ok);
    fk_gear_crop b;
    if (ok && fk_gear_box(pts, img.width, img.height, &b)) {
      fk_gear_input(&img, &b, in);
      const int ref = n % 4 == 0;
      for (int be = 0; be < NN_BACKEND_COUNT; be++) {
        if (be == NN_BACKEND_REFERENCE && !ref) continue;
        CHECK_EQ_INT(run_gear(gear_g, (nn_backend)be, in, &got), FK_OK);
        double dage, d = out_diff(&got, &want, &dage);
        worst[be] = fmax(worst[be], d);
        worst_age[be] = fmax(worst_age[be], dage);
      }
      nref += ref;
      n++;
    }
    fk_image_free(&img);
  }
  for (int be = 0; be < NN_BACKEND_COUNT; be++) {
    fprintf(stderr, "  %d faces (%s): max |p diff| %.3g, max |age diff| %.3g\n",
            be == NN_BACKEND_REFERENCE ? nref : n, nn_backend_name((nn_backend)be), worst[be],
            worst_age[be]);
    CHECK(worst[be] <= 1e-3);
    CHECK(worst_age[be] <= 0.05);
  }
  CHECK_EQ_INT(n, 8);
  CHECK_EQ_INT(nref, 2);
  free(in);
}

int main(void) {
  char err[256];
  int st = fk_gear_load(tu_model_path(FK_GEAR_FILE), &gear_g, err, sizeof err);
  if (st != FK_OK) fprintf(stderr, "gear: %s (%s)\n", fk_strerror(st), err);
  CHECK_EQ_INT(st, FK_OK);
  golden = tu_golden_load();
  CHECK(golden != NULL);
  char *text = tu_read_file(tu_fixture("golden_gear.json"), NULL);
  gear_golden = text ? cJSON_Parse(text) : NULL;
  free(text);
  CHECK(gear_golden != NULL);

  RUN(test_gear_box_scales_and_shifts_landmark_bbox);
  RUN(test_gear_box_rejects_degenerate_faces);
  RUN(test_gear_crop_composes_human_two_crops);
  RUN(test_gear_input_samples_like_crop_and_resize);
  RUN(test_gear_decode_weights_sorted_bins_like_gear_ts);
  if (golden && gear_golden) {
    RUN(test_gear_box_matches_reference_script);
    RUN(test_gear_decode_matches_reference_ages);
  }
  RUN(test_gear_graph_maps_198_input_to_three_heads);
  RUN(test_gear_load_reports_missing_file);
  RUN(test_gear_load_rejects_other_graph);
  RUN(test_gear_fast_backends_match_reference_backend);
  if (gear_golden) {
    RUN(test_gear_on_chip150_matches_tfjs);
    if (golden) RUN(test_gear_on_golden_faces_matches_tfjs);
  }

  cJSON_Delete(golden);
  cJSON_Delete(gear_golden);
  nn_graph_free(gear_g);
  return tu_summary();
}
