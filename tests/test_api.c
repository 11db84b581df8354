/*
 * test_api.c - the option table (facekit_core.h, "the options by name")
 * and the API layer over it (src/api/): every row reads back what it
 * writes, refuses bad values with a reason, is found by each of its
 * spellings; results and the README show the table; identity names.
 * No models needed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "testutil.h"


static void test_every_option_is_found_by_each_spelling(void) {
  const fk_option *d;
  int n = 0;
  for (int i = 0; (d = fk_option_at(i)); i++, n++) {
    char flag[64];
    snprintf(flag, sizeof flag, "--%s", d->name);
    for (char *c = flag; *c; c++)
      if (*c == '_') *c = '-';
    CHECK(fk_option_find(d->name) == d);
    CHECK(fk_option_find(flag) == d);
    if (d->alias) CHECK(fk_option_find(d->alias) == d);
    CHECK(d->help && d->help[0] && d->arg && d->arg[0]);
  }
  CHECK(n >= 13);
  CHECK(fk_option_at(-1) == NULL && fk_option_at(n) == NULL);
  CHECK(fk_option_find("no_such_option") == NULL && fk_option_find(NULL) == NULL);
  CHECK(fk_option_find("detector_backend") == fk_option_find("detector"));
  CHECK(fk_option_find("model_name") == fk_option_find("model"));
}

/* Each row's default, as text, sets the same options again; and another
 * valid value makes options that differ (so fk_options_equal sees it). */
static void test_values_read_back_and_differ(void) {
  fk_options def;
  fk_options_init(&def);
  static const char *const other[][2] = {
      {"detector", "tiny"},  {"input_size", "320"}, {"min_score", "0.25"}, {"retry_score", "0.1"}, {"max_faces", "7"},
      {"landmarks", "lmk64"}, {"model", "resnet128"}, {"align", "5point"}, {"flip", "false"},
      {"attribute_model", "gear"}, {"threads", "2"}, {"backend", "xnnpack"}, {"precision", "f32"},
      {"max_pixels", "1000"}};
  const fk_option *d;
  for (int i = 0; (d = fk_option_at(i)); i++) {
    char v[64], why[256] = "";
    fk_options o = def;
    fk_option_get(&def, d, v, sizeof v);
    CHECK_EQ_INT(fk_option_set(&o, d, v, why, sizeof why), FK_OK);
    CHECK(fk_options_equal(&o, &def));
    int tried = 0;
    for (size_t k = 0; k < sizeof other / sizeof *other; k++) {
      if (strcmp(other[k][0], d->name)) continue;
      tried = 1;
      CHECK_EQ_INT(fk_option_set(&o, d, other[k][1], why, sizeof why), FK_OK);
      CHECK(!fk_options_equal(&o, &def));
      fk_option_get(&o, d, v, sizeof v);
      if (strcmp(v, other[k][1])) fprintf(stderr, "%s: set %s, got %s\n", d->name, other[k][1], v);
      CHECK(!strcmp(v, other[k][1]));
      CHECK_EQ_INT(fk_options_check(&o, why, sizeof why), FK_OK);
    }
    if (!tried) fprintf(stderr, "option %s: no other value in this test\n", d->name);
    CHECK(tried); /* a new row needs a line in other[] */
  }
}

static void test_bad_values_are_refused_with_a_reason(void) {
  fk_options o, before;
  fk_options_init(&o);
  before = o;
  char why[256];
  static const char *const bad[][3] = {
      {"detector", "yolo", "must be one of ssd, tiny, rfb320, blazeface, not 'yolo'"},
      {"input_size", "33", "multiple of 32"},
      {"input_size", "4096", "multiple of 32"},
      {"min_score", "1", "[0, 0.999999]"},
      {"min_score", "nan", "a number"},
      {"min_score", " 0.5", "a number"},
      {"max_faces", "0x10", "an integer"},
      {"max_faces", "1e2", "an integer"},
      {"threads", "0", "[1, 256]"},
      {"threads", "", "an integer"},
      {"flip", "maybe", "true or false"},
      {"backend", "cuda", "xnnpack, reference, onednn, auto"},
      {"max_pixels", "-5", "a positive integer"},
      {"align", "none", "auto, face-api, 5point, dlib, arcface"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    const fk_option *d = fk_option_find(bad[k][0]);
    why[0] = '\0';
    CHECK_EQ_INT(fk_option_set(&o, d, bad[k][1], why, sizeof why), FK_EINVAL);
    if (!strstr(why, bad[k][2])) fprintf(stderr, "%s '%s': %s\n", bad[k][0], bad[k][1], why);
    CHECK(strstr(why, bad[k][2]) != NULL);
    CHECK(fk_options_equal(&o, &before)); /* nothing changed */
  }
  /* numbers: whole for integers, 0 or 1 for booleans, none for enums */
  CHECK_EQ_INT(fk_option_set_number(&o, fk_option_find("threads"), 2.5, why, sizeof why), FK_EINVAL);
  CHECK_EQ_INT(fk_option_set_number(&o, fk_option_find("flip"), 2, why, sizeof why), FK_EINVAL);
  CHECK_EQ_INT(fk_option_set_number(&o, fk_option_find("detector"), 1, why, sizeof why), FK_EINVAL);
  CHECK(strstr(why, "as text") != NULL);
  CHECK_EQ_INT(fk_option_set_number(&o, fk_option_find("min_score"), 0.3, why, sizeof why), FK_OK);
  CHECK_NEAR(o.min_score, 0.3, 1e-7);
  CHECK_EQ_INT(fk_option_set_number(&o, fk_option_find("flip"), 0, why, sizeof why), FK_OK);
  CHECK_EQ_INT(o.flip, 0);
}

static void test_the_check_names_the_bad_option(void) {
  fk_options o;
  fk_options_init(&o);
  char why[256] = "";
  CHECK_EQ_INT(fk_options_check(&o, why, sizeof why), FK_OK);
  o.min_score = 1.5f;
  CHECK_EQ_INT(fk_options_check(&o, why, sizeof why), FK_EINVAL);
  CHECK(!strncmp(why, "min_score ", 10));
  fk_options_init(&o);
  o.ssd_input_size = 100;
  CHECK_EQ_INT(fk_options_check(&o, why, sizeof why), FK_EINVAL);
  CHECK(!strncmp(why, "input_size ", 11));
  o.detector = FK_DETECTOR_RFB320; /* a fixed size reads no option */
  CHECK_EQ_INT(fk_options_check(&o, why, sizeof why), FK_OK);
  fk_options_init(&o);
  o.backend = 99;
  CHECK_EQ_INT(fk_options_check(&o, why, sizeof why), FK_EINVAL);
  CHECK(!strncmp(why, "backend ", 8));
}

/* What the pipeline runs with: auto resolved where it depends on others. */
static void test_used_values_resolve_auto(void) {
  fk_options o;
  fk_options_init(&o);
  char v[64];
  fk_option_get(&o, fk_option_find("align"), v, sizeof v);
  CHECK(!strcmp(v, "auto"));
  fk_option_used(&o, fk_option_find("align"), v, sizeof v);
  CHECK(!strcmp(v, "arcface")); /* mbf512's own */
  o.detector = FK_DETECTOR_RFB320;
  fk_option_used(&o, fk_option_find("input_size"), v, sizeof v);
  CHECK(!strcmp(v, "320x240"));
  /* what results report reads back: a model's own mode, a fixed size left */
  fk_options back;
  fk_options_init(&back);
  char why[256];
  CHECK_EQ_INT(fk_option_set(&back, fk_option_find("align"), "arcface", why, sizeof why), FK_OK);
  CHECK_EQ_INT(fk_option_set(&back, fk_option_find("input_size"), "320x240", why, sizeof why), FK_EINVAL);
}

/* Results carry every detection option (and with the model, each of the
 * embedding's) by the table's names. */
static void test_results_report_the_table(void) {
  fk_options o;
  fk_options_init(&o);
  cJSON *with = cJSON_CreateObject(), *without = cJSON_CreateObject();
  fk_json_add_pipeline(with, NULL, &o, 1);
  fk_json_add_pipeline(without, NULL, &o, 0);
  const fk_option *d;
  for (int i = 0; (d = fk_option_at(i)); i++) {
    int det = (d->flags & FK_OPT_DETECT) != 0, emb = (d->flags & FK_OPT_EMBED) != 0;
    CHECK((cJSON_GetObjectItem(with, d->name) != NULL) == (det || emb));
    CHECK((cJSON_GetObjectItem(without, d->name) != NULL) == det);
  }
  CHECK(cJSON_IsNumber(cJSON_GetObjectItem(with, "dim")));
  CHECK(cJSON_IsString(cJSON_GetObjectItem(with, "input_size"))); /* "auto" */
  CHECK(cJSON_IsBool(cJSON_GetObjectItem(with, "flip")));
  CHECK(cJSON_IsNumber(cJSON_GetObjectItem(with, "min_score")));
  cJSON_Delete(with);
  cJSON_Delete(without);
  o.ssd_input_size = 384;
  with = cJSON_CreateObject();
  fk_json_add_pipeline(with, NULL, &o, 0);
  CHECK(cJSON_IsNumber(cJSON_GetObjectItem(with, "input_size")));
  cJSON_Delete(with);
}

/* The README's list is what `facekit options --markdown` prints. */
static void test_the_readme_lists_the_table(void) {
  const char *fixtures = getenv("FK_FIXTURES");
  char path[4096];
  snprintf(path, sizeof path, "%s/../../README.md", fixtures ? fixtures : "tests/fixtures");
  FILE *f = fopen(path, "rb");
  CHECK(f != NULL);
  if (!f) return;
  static char readme[1 << 20];
  size_t n = fread(readme, 1, sizeof readme - 1, f);
  readme[n] = '\0';
  fclose(f);
  char *md = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&md, &len);
  fk_api_options_markdown(m);
  fclose(m);
  const char *start = strstr(readme, "<!-- options:"), *end = strstr(readme, "<!-- end of options -->");
  CHECK(start && end && end > start);
  const char *body = start ? strchr(start, '\n') : NULL;
  int same = body && end && (size_t)(end - body - 1) == len && !memcmp(body + 1, md, len);
  if (!same) fprintf(stderr, "README.md's option list differs from `facekit options --markdown`:\n%s", md);
  CHECK(same);
  free(md);
}

static void test_identity_names(void) {
  char why[160];
  static const char *const good[] = {"Ada Lovelace", "José", "李小龍", "a.b", "x"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++) CHECK_EQ_INT(fk_api_identity_check(good[i], why, sizeof why), FK_OK);
  static const char *const bad[][2] = {
      {"", "1 to 200 bytes"},        {".hidden", "'.'"},       {" pad", "space"},
      {"a/b", "'/'"},                {"a\\b", "'/'"},          {"\xff\xfe", "UTF-8"},
      {"tab\there", "U+0009"},       {"evil\xe2\x80\xaeright", "U+202E"}, {"\xc2\x85next", "U+0085"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    why[0] = '\0';
    CHECK_EQ_INT(fk_api_identity_check(bad[i][0], why, sizeof why), FK_EINVAL);
    if (!strstr(why, bad[i][1])) fprintf(stderr, "identity %zu: %s\n", i, why);
    CHECK(strstr(why, bad[i][1]) != NULL);
  }
  char longname[202];
  memset(longname, 'a', 201);
  longname[201] = '\0';
  CHECK_EQ_INT(fk_api_identity_check(longname, why, sizeof why), FK_EINVAL);
}

int main(void) {
  RUN(test_every_option_is_found_by_each_spelling);
  RUN(test_values_read_back_and_differ);
  RUN(test_bad_values_are_refused_with_a_reason);
  RUN(test_the_check_names_the_bad_option);
  RUN(test_used_values_resolve_auto);
  RUN(test_results_report_the_table);
  RUN(test_the_readme_lists_the_table);
  RUN(test_identity_names);
  return tu_summary();
}
