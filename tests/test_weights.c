/*
 * test_weights.c - the TFJS weights-manifest loader (nn/weights.h): every
 * supported encoding decoded to exact values, shards and groups laid out
 * back to back, and every malformed manifest or shard rejected with the
 * right status. Manifests and shards are written to a scratch directory at
 * test time; if the fetched face-api models are present, the real face
 * recognition manifest is loaded too.
 */
#include "nn/weights.h"

#include <stdint.h>
#include <sys/stat.h>

#include "facekit.h"
#include "testutil.h"
#include "golden.h"

static char dir[4096];
static char written[64][64];
static int nwritten;

static const char *in_dir(const char *name) {
  static char buf[8192];
  snprintf(buf, sizeof buf, "%s/%s", dir, name);
  return buf;
}

static void put_file(const char *name, const void *data, size_t len) {
  FILE *f = fopen(in_dir(name), "wb");
  CHECK(f != NULL);
  if (!f) return;
  CHECK(fwrite(data, 1, len, f) == len);
  fclose(f);
  for (int i = 0; i < nwritten; i++)
    if (!strcmp(written[i], name)) return;
  if (nwritten < 64) snprintf(written[nwritten++], 64, "%s", name);
}

static void put_text(const char *name, const char *text) {
  put_file(name, text, strlen(text));
}

/* n floats as little-endian float32 bytes into b (4 n bytes). */
static void f32_le(unsigned char *b, const float *v, int n) {
  for (int i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    for (int k = 0; k < 4; k++) b[4 * i + k] = (unsigned char)(u >> (8 * k));
  }
}

static void put_f32(const char *name, const float *v, int n) {
  unsigned char b[256];
  f32_le(b, v, n);
  put_file(name, b, (size_t)n * 4);
}

/* Loads manifest `m` (written as m.json) and returns the status. */
static int load(const char *json, nn_weights *w, char *err, size_t errlen) {
  put_text("m.json", json);
  return nn_weights_load(in_dir("m.json"), w, err, errlen);
}

static const nn_weight *must_find(const nn_weights *w, const char *name) {
  const nn_weight *x = nn_weights_find(w, name);
  CHECK(x != NULL);
  return x;
}

static void test_float32_values_and_shapes(void) {
  const float v[7] = {1.5f, -2, 3.25f, 0, 1e-30f, -1e30f, 42};
  put_f32("f32.bin", v, 7);
  nn_weights w;
  char err[256];
  int rc = load("[{\"paths\":[\"f32.bin\"],\"weights\":["
                "{\"name\":\"a\",\"shape\":[2,3],\"dtype\":\"float32\"},"
                "{\"name\":\"b\",\"shape\":[],\"dtype\":\"float32\"}]}]",
                &w, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  CHECK_EQ_INT(w.n, 2);
  const nn_weight *a = must_find(&w, "a"), *b = must_find(&w, "b");
  if (a && b) {
    CHECK_EQ_INT(a->ndim, 2);
    CHECK_EQ_INT(a->shape[0], 2);
    CHECK_EQ_INT(a->shape[1], 3);
    CHECK_EQ_INT(a->count, 6);
    for (int i = 0; i < 6; i++) CHECK(a->data[i] == v[i]);
    CHECK_EQ_INT(b->ndim, 0);
    CHECK_EQ_INT(b->count, 1);
    CHECK(b->data[0] == 42);
  }
  nn_weights_free(&w);
  CHECK(w.items == NULL && w.n == 0);
}

static void test_uint8_quantized_dequantizes_exactly(void) {
  const unsigned char q[7] = {0, 1, 2, 255, 3, 0, 10};
  put_file("u8.bin", q, sizeof q);
  nn_weights w;
  char err[256];
  int rc = load("[{\"paths\":[\"u8.bin\"],\"weights\":["
                "{\"name\":\"x\",\"shape\":[4],\"dtype\":\"float32\","
                "\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,"
                "\"min\":-1}},"
                "{\"name\":\"y\",\"shape\":[3,1],\"dtype\":\"float32\","
                "\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.1,"
                "\"min\":0.2}}]}]",
                &w, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  const nn_weight *x = must_find(&w, "x"), *y = must_find(&w, "y");
  if (x && y) {
    CHECK(x->data[0] == -1.0f);
    CHECK(x->data[1] == -0.5f);
    CHECK(x->data[2] == 0.0f);
    CHECK(x->data[3] == 126.5f);
    /* computed in double, then stored as float */
    CHECK(y->data[0] == (float)(3 * 0.1 + 0.2));
    CHECK(y->data[1] == (float)(0 * 0.1 + 0.2));
    CHECK(y->data[2] == (float)(10 * 0.1 + 0.2));
  }
  nn_weights_free(&w);
}

static void test_uint16_quantized_is_little_endian(void) {
  const unsigned char q[6] = {0, 0, 1, 0, 0xff, 0xff};
  put_file("u16.bin", q, sizeof q);
  nn_weights w;
  char err[256];
  int rc = load("[{\"paths\":[\"u16.bin\"],\"weights\":["
                "{\"name\":\"x\",\"shape\":[3],\"dtype\":\"float32\","
                "\"quantization\":{\"dtype\":\"uint16\",\"scale\":0.25,"
                "\"min\":10}}]}]",
                &w, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  const nn_weight *x = must_find(&w, "x");
  if (x) {
    CHECK(x->data[0] == 10.0f);
    CHECK(x->data[1] == 10.25f);
    CHECK(x->data[2] == 16393.75f);
  }
  nn_weights_free(&w);
}

static const uint16_t halves[10] = {0x3c00, 0xc000, 0x0001, 0x83ff, 0x7bff,
                                    0x7c00, 0xfc00, 0x7e00, 0x0000, 0x8000};

static void check_halves(const nn_weight *x) {
  if (!x) return;
  CHECK_EQ_INT(x->count, 10);
  CHECK(x->data[0] == 1.0f);
  CHECK(x->data[1] == -2.0f);
  CHECK(x->data[2] == ldexpf(1, -24));          /* smallest subnormal */
  CHECK(x->data[3] == -ldexpf(1023, -24));      /* largest negative subnormal */
  CHECK(x->data[4] == 65504.0f);                /* largest finite */
  CHECK(isinf(x->data[5]) && x->data[5] > 0);
  CHECK(isinf(x->data[6]) && x->data[6] < 0);
  CHECK(isnan(x->data[7]));
  CHECK(x->data[8] == 0.0f && !signbit(x->data[8]));
  CHECK(x->data[9] == 0.0f && signbit(x->data[9]));
}

static void test_float16_subnormals_negatives_inf_nan(void) {
  unsigned char b[20];
  for (int i = 0; i < 10; i++) {
    b[2 * i] = (unsigned char)(halves[i] & 0xff);
    b[2 * i + 1] = (unsigned char)(halves[i] >> 8);
  }
  put_file("f16.bin", b, sizeof b);
  nn_weights w;
  char err[256];
  int rc = load("[{\"paths\":[\"f16.bin\"],\"weights\":["
                "{\"name\":\"h\",\"shape\":[2,5],\"dtype\":\"float16\"}]}]",
                &w, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  check_halves(must_find(&w, "h"));
  nn_weights_free(&w);
  /* newer TFJS: float32 stored with float16 "quantization" */
  rc = load("[{\"paths\":[\"f16.bin\"],\"weights\":["
            "{\"name\":\"h\",\"shape\":[10],\"dtype\":\"float32\","
            "\"quantization\":{\"dtype\":\"float16\"}}]}]",
            &w, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  check_halves(must_find(&w, "h"));
  nn_weights_free(&w);
}

static void test_int32_plain_and_quantized_rounding(void) {
  const unsigned char b[8 + 5] = {0xfb, 0xff, 0xff, 0xff, 7, 0, 0, 0, /* -5, 7 */
                                  0, 1, 3, 5, 0};
  put_file("i32.bin", b, sizeof b);
  nn_weights w;
  char err[256];
  int rc = load("[{\"paths\":[\"i32.bin\"],\"weights\":["
                "{\"name\":\"i\",\"shape\":[2],\"dtype\":\"int32\"},"
                "{\"name\":\"q\",\"shape\":[4],\"dtype\":\"int32\","
                "\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.5,"
                "\"min\":-1}},"
                "{\"name\":\"r\",\"shape\":[1],\"dtype\":\"int32\","
                "\"quantization\":{\"dtype\":\"uint8\",\"scale\":1,"
                "\"min\":-2.5}}]}]",
                &w, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  const nn_weight *i = must_find(&w, "i"), *q = must_find(&w, "q"),
                  *r = must_find(&w, "r");
  if (i && q && r) {
    CHECK(i->data[0] == -5.0f && i->data[1] == 7.0f);
    /* -1, -0.5, 0.5, 1.5 rounded like Math.round: -1, -0, 1, 2 */
    CHECK(q->data[0] == -1.0f);
    CHECK(q->data[1] == 0.0f);
    CHECK(q->data[2] == 1.0f);
    CHECK(q->data[3] == 2.0f);
    CHECK(r->data[0] == -2.0f); /* Math.round(-2.5) = -2 */
  }
  nn_weights_free(&w);
}

static void test_group_shards_are_concatenated(void) {
  const float v[5] = {1, 2, 3, 4, 5};
  unsigned char all[20];
  f32_le(all, v, 5);
  /* split in the middle of the second float */
  put_file("part1.bin", all, 6);
  put_file("part2.bin", all + 6, 14);
  nn_weights w;
  char err[256];
  int rc = load("[{\"paths\":[\"part1.bin\",\"part2.bin\"],\"weights\":["
                "{\"name\":\"a\",\"shape\":[3],\"dtype\":\"float32\"},"
                "{\"name\":\"b\",\"shape\":[2],\"dtype\":\"float32\"}]}]",
                &w, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  const nn_weight *a = must_find(&w, "a"), *b = must_find(&w, "b");
  if (a && b) {
    CHECK(a->data[0] == 1 && a->data[1] == 2 && a->data[2] == 3);
    CHECK(b->data[0] == 4 && b->data[1] == 5);
  }
  nn_weights_free(&w);
}

static void test_two_groups_each_with_own_shard(void) {
  const float g1[2] = {10, 20}, g2[1] = {-7};
  put_f32("g1.bin", g1, 2);
  put_f32("g2.bin", g2, 1);
  nn_weights w;
  char err[256];
  int rc = load("[{\"paths\":[\"g1.bin\"],\"weights\":["
                "{\"name\":\"first\",\"shape\":[2],\"dtype\":\"float32\"}]},"
                "{\"paths\":[\"g2.bin\"],\"weights\":["
                "{\"name\":\"second\",\"shape\":[1,1],\"dtype\":\"float32\"}]}]",
                &w, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  CHECK_EQ_INT(w.n, 2);
  const nn_weight *a = must_find(&w, "first"), *b = must_find(&w, "second");
  if (a && b) {
    CHECK(a->data[0] == 10 && a->data[1] == 20);
    CHECK(b->data[0] == -7);
  }
  nn_weights_free(&w);
}

static void test_load_json_reads_shards_from_given_dir(void) {
  const float v[2] = {3, 4};
  put_f32("j.bin", v, 2);
  nn_weights w;
  char err[256];
  int rc = nn_weights_load_json(
      "[{\"paths\":[\"j.bin\"],\"weights\":[{\"name\":\"v\",\"shape\":[2],"
      "\"dtype\":\"float32\"}]}]",
      dir, &w, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  const nn_weight *x = must_find(&w, "v");
  if (x) CHECK(x->data[1] == 4);
  nn_weights_free(&w);
  CHECK_EQ_INT(nn_weights_load_json(NULL, dir, &w, err, sizeof err),
               FK_EINVAL);
  CHECK_EQ_INT(nn_weights_load_json("[]", dir, NULL, err, sizeof err),
               FK_EINVAL);
  CHECK_EQ_INT(nn_weights_load_json("[]", dir, &w, NULL, 0), FK_OK);
  CHECK_EQ_INT(w.n, 0);
  nn_weights_free(&w);
}

static void test_get_checks_presence_and_count(void) {
  const float v[4] = {1, 2, 3, 4};
  put_f32("get.bin", v, 4);
  nn_weights w;
  char err[256];
  int rc = load("[{\"paths\":[\"get.bin\"],\"weights\":["
                "{\"name\":\"k\",\"shape\":[2,2],\"dtype\":\"float32\"}]}]",
                &w, err, sizeof err);
  CHECK_EQ_INT(rc, FK_OK);
  CHECK(nn_weights_get(&w, "k", 4, err, sizeof err) != NULL);
  CHECK(nn_weights_get(&w, "k", 0, err, sizeof err) != NULL);
  err[0] = 0;
  CHECK(nn_weights_get(&w, "k", 5, err, sizeof err) == NULL);
  CHECK(strstr(err, "k") != NULL && strstr(err, "5") != NULL);
  err[0] = 0;
  CHECK(nn_weights_get(&w, "nope", 0, err, sizeof err) == NULL);
  CHECK(strstr(err, "nope") != NULL);
  CHECK(nn_weights_get(&w, "nope", 0, NULL, 0) == NULL);
  CHECK(nn_weights_find(NULL, "k") == NULL);
  nn_weights_free(&w);
  nn_weights_free(NULL);
}

/* Loads a bad manifest: checks the status, that err mentions `needle`, and
 * that *out was left empty. */
static void expect_failure(const char *json, int status, const char *needle) {
  nn_weights w = {(nn_weight *)&w, 99};
  char err[256] = "";
  int rc = load(json, &w, err, sizeof err);
  CHECK_EQ_INT(rc, status);
  CHECK(w.items == NULL && w.n == 0);
  if (needle && !strstr(err, needle)) {
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err, needle);
    CHECK(0);
  }
}

static const char *one_f32(const char *path, const char *shape) {
  static char buf[512];
  snprintf(buf, sizeof buf,
           "[{\"paths\":[\"%s\"],\"weights\":[{\"name\":\"w\",\"shape\":%s,"
           "\"dtype\":\"float32\"}]}]",
           path, shape);
  return buf;
}

static void test_truncated_shard_is_rejected_with_sizes(void) {
  const float v[3] = {1, 2, 3};
  put_f32("short.bin", v, 3);
  expect_failure(one_f32("short.bin", "[4]"), FK_EMODEL, "short.bin");
  expect_failure(one_f32("short.bin", "[4]"), FK_EMODEL, "16");
  expect_failure(one_f32("short.bin", "[4]"), FK_EMODEL, "12");
}

static void test_extra_shard_bytes_are_rejected(void) {
  const float v[3] = {1, 2, 3};
  put_f32("long.bin", v, 3);
  expect_failure(one_f32("long.bin", "[2]"), FK_EMODEL, "long.bin");
  expect_failure(one_f32("long.bin", "[2]"), FK_EMODEL, "8");
}

static void test_missing_shard_is_enoent_naming_it(void) {
  expect_failure(one_f32("absent.bin", "[1]"), FK_ENOENT, "absent.bin");
}

static void test_missing_manifest_is_enoent(void) {
  nn_weights w;
  char err[256];
  CHECK_EQ_INT(nn_weights_load(in_dir("no-such.json"), &w, err, sizeof err),
               FK_ENOENT);
  CHECK(strstr(err, "no-such.json") != NULL);
  CHECK(w.items == NULL && w.n == 0);
  CHECK_EQ_INT(nn_weights_load(NULL, &w, err, sizeof err), FK_EINVAL);
}

static void test_invalid_json_is_emodel(void) {
  expect_failure("[{\"paths\":[\"x.bin\"], \"weights\": [", FK_EMODEL, "JSON");
  expect_failure("", FK_EMODEL, "JSON");
  expect_failure("{\"paths\":[]}", FK_EMODEL, NULL);
  expect_failure("[42]", FK_EMODEL, NULL);
  expect_failure("[{\"paths\":[\"x.bin\"]}]", FK_EMODEL, NULL);
  expect_failure("[{\"weights\":[{\"name\":\"w\",\"shape\":[1],"
                 "\"dtype\":\"float32\"}]}]",
                 FK_EMODEL, NULL);
  expect_failure("[{\"paths\":[7],\"weights\":[]}]", FK_EMODEL, NULL);
  expect_failure("[{\"paths\":[],\"weights\":[{\"shape\":[1],"
                 "\"dtype\":\"float32\"}]}]",
                 FK_EMODEL, "name");
  const char nul[] = "[]\0garbage";
  put_file("m.json", nul, sizeof nul);
  nn_weights w;
  char err[256];
  CHECK_EQ_INT(nn_weights_load(in_dir("m.json"), &w, err, sizeof err),
               FK_EMODEL);
}

static void test_unknown_dtype_names_weight_and_dtype(void) {
  const float v[1] = {1};
  put_f32("one.bin", v, 1);
  expect_failure("[{\"paths\":[\"one.bin\"],\"weights\":[{\"name\":\"odd\","
                 "\"shape\":[1],\"dtype\":\"complex64\"}]}]",
                 FK_EMODEL, "complex64");
  expect_failure("[{\"paths\":[\"one.bin\"],\"weights\":[{\"name\":\"odd\","
                 "\"shape\":[1],\"dtype\":\"complex64\"}]}]",
                 FK_EMODEL, "odd");
  expect_failure("[{\"paths\":[\"one.bin\"],\"weights\":[{\"name\":\"odd\","
                 "\"shape\":[4],\"dtype\":\"float32\",\"quantization\":"
                 "{\"dtype\":\"int4\",\"scale\":1,\"min\":0}}]}]",
                 FK_EMODEL, "int4");
  expect_failure("[{\"paths\":[\"one.bin\"],\"weights\":[{\"name\":\"odd\","
                 "\"shape\":[4],\"dtype\":\"float32\",\"quantization\":"
                 "{\"dtype\":\"uint8\",\"min\":0}}]}]",
                 FK_EMODEL, "odd");
}

static void test_shard_paths_cannot_escape_the_directory(void) {
  const float v[1] = {1};
  put_f32("one.bin", v, 1);
  expect_failure(one_f32("../one.bin", "[1]"), FK_EMODEL, "../one.bin");
  expect_failure(one_f32("/etc/passwd", "[1]"), FK_EMODEL, NULL);
  expect_failure(one_f32("sub/../../x.bin", "[1]"), FK_EMODEL, NULL);
  expect_failure(one_f32("..", "[1]"), FK_EMODEL, NULL);
  expect_failure(one_f32("", "[1]"), FK_EMODEL, NULL);
  /* a harmless "./" is fine */
  nn_weights w;
  char err[256];
  CHECK_EQ_INT(load(one_f32("./one.bin", "[1]"), &w, err, sizeof err), FK_OK);
  nn_weights_free(&w);
}

static void test_huge_or_bad_shapes_are_rejected(void) {
  const float v[1] = {1};
  put_f32("one.bin", v, 1);
  expect_failure(one_f32("one.bin", "[2147483647,2147483647,2147483647]"),
                 FK_EMODEL, NULL);
  expect_failure(one_f32("one.bin", "[1e30]"), FK_EMODEL, NULL);
  /* fits size_t but not the shard: rejected before any allocation */
  expect_failure(one_f32("one.bin", "[1073741824,64]"), FK_EMODEL, "one.bin");
  expect_failure(one_f32("one.bin", "[-1]"), FK_EMODEL, NULL);
  expect_failure(one_f32("one.bin", "[1.5]"), FK_EMODEL, NULL);
  expect_failure(one_f32("one.bin", "[\"1\"]"), FK_EMODEL, NULL);
  expect_failure(one_f32("one.bin", "[1,1,1,1,1,1,1]"), FK_EMODEL, NULL);
  expect_failure(one_f32("one.bin", "7"), FK_EMODEL, NULL);
  /* a zero-sized weight is legal */
  put_file("empty.bin", "", 0);
  nn_weights w;
  char err[256];
  CHECK_EQ_INT(load(one_f32("empty.bin", "[0,3]"), &w, err, sizeof err),
               FK_OK);
  CHECK(w.n == 1 && w.items[0].count == 0);
  nn_weights_free(&w);
}

static void test_failure_in_second_group_frees_first(void) {
  const float v[2] = {1, 2};
  put_f32("g1.bin", v, 2);
  expect_failure("[{\"paths\":[\"g1.bin\"],\"weights\":["
                 "{\"name\":\"a\",\"shape\":[2],\"dtype\":\"float32\"}]},"
                 "{\"paths\":[\"g1.bin\"],\"weights\":["
                 "{\"name\":\"b\",\"shape\":[3],\"dtype\":\"float32\"}]}]",
                 FK_EMODEL, "g1.bin");
}

static void test_faceapi_recognition_manifest_loads(void) {
  char path[4096];
  snprintf(path, sizeof path, "%s",
           tu_model_path("face_recognition_model-weights_manifest.json"));
  if (access(path, R_OK) != 0) {
    fprintf(stderr, "note: %s absent (models not fetched); skipping\n", path);
    return;
  }
  nn_weights w;
  char err[256];
  int rc = nn_weights_load(path, &w, err, sizeof err);
  if (rc != FK_OK) fprintf(stderr, "  %s\n", err);
  CHECK_EQ_INT(rc, FK_OK);
  CHECK_EQ_INT(w.n, 117);
  const nn_weight *fc = nn_weights_get(&w, "fc", 256 * 128, err, sizeof err);
  CHECK(fc != NULL);
  if (fc) {
    CHECK_EQ_INT(fc->ndim, 2);
    CHECK_EQ_INT(fc->shape[0], 256);
    CHECK_EQ_INT(fc->shape[1], 128);
    /* uint8 with min -0.0458, scale 3.58e-4: all values in [min, min+255s] */
    int in_range = 1;
    for (size_t i = 0; i < fc->count; i++)
      if (!(fc->data[i] >= -0.0458f && fc->data[i] <= 0.0455f)) in_range = 0;
    CHECK(in_range);
  }
  const nn_weight *c = nn_weights_get(&w, "conv32_down/conv/filters",
                                      7 * 7 * 3 * 32, err, sizeof err);
  CHECK(c != NULL);
  if (c) CHECK(c->ndim == 4 && c->shape[0] == 7 && c->shape[3] == 32);
  nn_weights_free(&w);

  /* the other face-api manifests next to it load too */
  static const char *others[] = {
      "ssd_mobilenetv1_model", "tiny_face_detector_model",
      "face_landmark_68_model", "face_landmark_68_tiny_model"};
  for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
    char file[256];
    snprintf(file, sizeof file, "%s-weights_manifest.json", others[i]);
    snprintf(path, sizeof path, "%s", tu_model_path(file));
    if (access(path, R_OK) != 0) continue;
    rc = nn_weights_load(path, &w, err, sizeof err);
    if (rc != FK_OK) fprintf(stderr, "  %s: %s\n", others[i], err);
    CHECK_EQ_INT(rc, FK_OK);
    CHECK(w.n > 0);
    nn_weights_free(&w);
  }
}

int main(void) {
  snprintf(dir, sizeof dir, "%s", tu_tmp("weights"));
  if (mkdir(dir, 0700) != 0) {
    perror(dir);
    return 1;
  }
  RUN(test_float32_values_and_shapes);
  RUN(test_uint8_quantized_dequantizes_exactly);
  RUN(test_uint16_quantized_is_little_endian);
  RUN(test_float16_subnormals_negatives_inf_nan);
  RUN(test_int32_plain_and_quantized_rounding);
  RUN(test_group_shards_are_concatenated);
  RUN(test_two_groups_each_with_own_shard);
  RUN(test_load_json_reads_shards_from_given_dir);
  RUN(test_get_checks_presence_and_count);
  RUN(test_truncated_shard_is_rejected_with_sizes);
  RUN(test_extra_shard_bytes_are_rejected);
  RUN(test_missing_shard_is_enoent_naming_it);
  RUN(test_missing_manifest_is_enoent);
  RUN(test_invalid_json_is_emodel);
  RUN(test_unknown_dtype_names_weight_and_dtype);
  RUN(test_shard_paths_cannot_escape_the_directory);
  RUN(test_huge_or_bad_shapes_are_rejected);
  RUN(test_failure_in_second_group_frees_first);
  RUN(test_faceapi_recognition_manifest_loads);
  for (int i = 0; i < nwritten; i++) unlink(in_dir(written[i]));
  rmdir(dir);
  return tu_summary();
}
