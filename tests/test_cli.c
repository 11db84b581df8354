/*
 * test_cli.c - end-to-end tests of the facekit command: every subcommand's
 * JSON contract and exit codes, on the committed fixtures and on bad inputs
 * this test writes itself (missing, empty, truncated, non-image, huge
 * header, CMYK, 16-bit + alpha, no face, many faces).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <png.h>

#include "facekit.h"
#include "testutil.h"
#include "golden.h"
#include "cliutil.h"

/* Writes a w x h JPEG of a smooth pattern, RGB or CMYK. */
static void write_jpeg(const char *path, int w, int h, int cmyk) {
  int comps = cmyk ? 4 : 3;
  unsigned char *px = malloc((size_t)w * h * comps);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++)
      for (int k = 0; k < comps; k++)
        px[((size_t)y * w + x) * comps + k] = (unsigned char)((x * 3 + y * 2 + k * 50) & 255);
  CHECK_EQ_INT(tu_write_jpeg(path, px, w, h, comps, 0), 0);
  free(px);
}

/* Converts a fixture PNG to a 16-bit RGBA PNG (opaque alpha). */
static int write_png16_rgba(const fk_image *img, const char *path) {
  FILE *f = fopen(path, "wb");
  png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(p);
  if (setjmp(png_jmpbuf(p))) return -1;
  png_init_io(p, f);
  png_set_IHDR(p, info, (png_uint_32)img->width, (png_uint_32)img->height, 16, PNG_COLOR_TYPE_RGB_ALPHA,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(p, info);
  unsigned char *row = malloc((size_t)img->width * 8);
  for (int y = 0; y < img->height; y++) {
    for (int x = 0; x < img->width; x++) {
      for (int k = 0; k < 3; k++) {
        unsigned char v = img->rgb[((size_t)y * img->width + x) * 3 + k];
        row[x * 8 + k * 2] = v;
        row[x * 8 + k * 2 + 1] = v;
      }
      row[x * 8 + 6] = row[x * 8 + 7] = 255;
    }
    png_write_row(p, row);
  }
  png_write_end(p, NULL);
  png_destroy_write_struct(&p, &info);
  free(row);
  fclose(f);
  return 0;
}

static void test_verify_same_person_is_verified(void) {
  char args[9000];
  snprintf(args, sizeof args, "verify '%s' ", tu_fixture("face_a1.png"));
  snprintf(args + strlen(args), sizeof args - strlen(args), "'%s'", tu_fixture("face_a2.png"));
  tu_run_result r = tu_run(args);
  CHECK_EQ_INT(r.code, 0);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(r.json, "verified")));
  CHECK(!strcmp(tu_json_str(r.json, "metric"), "cosine"));
  CHECK(!strcmp(tu_json_str(r.json, "model"), fk_model_name(tu_default_model())));
  const cJSON *areas = cJSON_GetObjectItem(r.json, "facial_areas");
  CHECK(cJSON_GetObjectItem(areas, "img1") && cJSON_GetObjectItem(areas, "img2"));
  cJSON_Delete(r.json);
}

static void test_verify_different_people_is_not_verified(void) {
  static const char *metrics[] = {"cosine", "euclidean", "euclidean_l2"};
  for (int i = 0; i < 3; i++) {
    char args[9000];
    snprintf(args, sizeof args, "verify '%s' ", tu_fixture("face_a1.png"));
    snprintf(args + strlen(args), sizeof args - strlen(args), "'%s' --metric %s", tu_fixture("face_b1.png"),
             metrics[i]);
    tu_run_result r = tu_run(args);
    CHECK_EQ_INT(r.code, 0);
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "verified")));
    CHECK(!strcmp(tu_json_str(r.json, "metric"), metrics[i]));
    cJSON_Delete(r.json);
  }
}

static void test_detect_finds_every_face_of_a_group(void) {
  char args[9000];
  snprintf(args, sizeof args, "detect '%s'", tu_fixture("group4.png"));
  tu_run_result r = tu_run(args);
  CHECK_EQ_INT(r.code, 0);
  CHECK_EQ_INT(tu_array_len(r.json, "faces"), 4);
  const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0);
  CHECK_EQ_INT(tu_array_len(f0, "landmarks"), 68);
  CHECK_EQ_INT(cJSON_GetObjectItem(r.json, "width")->valueint, 500);
  cJSON_Delete(r.json);
}

static void test_represent_gives_the_models_width_per_face(void) {
  char args[9000];
  snprintf(args, sizeof args, "represent '%s' --normalize l2 --model resnet128", tu_fixture("group4.png"));
  tu_run_result r = tu_run(args);
  CHECK_EQ_INT(r.code, 0);
  CHECK_EQ_INT(tu_array_len(r.json, "faces"), 4);
  CHECK(!strcmp(tu_json_str(r.json, "model"), "resnet128"));
  CHECK_EQ_INT(cJSON_GetObjectItem(r.json, "dim")->valueint, 128);
  const cJSON *emb = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0), "embedding");
  CHECK_EQ_INT(cJSON_GetArraySize(emb), 128);
  double ss = 0;
  for (int i = 0; i < cJSON_GetArraySize(emb); i++) ss += pow(cJSON_GetArrayItem(emb, i)->valuedouble, 2);
  CHECK_NEAR(ss, 1.0, 1e-4);
  cJSON_Delete(r.json);
}

/* Every backend on two threads gives the same faces as the default. */
static void test_represent_agrees_across_backends_and_threads(void) {
  char args[9000];
  snprintf(args, sizeof args, "represent '%s' --normalize l2", tu_fixture("face_b1.png"));
  tu_run_result base = tu_run(args);
  CHECK_EQ_INT(base.code, 0);
  static const char *const backends[] = {"onednn", "xnnpack"};
  for (int b = 0; b < 2; b++) {
    snprintf(args, sizeof args, "represent '%s' --normalize l2 --threads 2 --backend %s",
             tu_fixture("face_b1.png"), backends[b]);
    tu_run_result r = tu_run(args);
    CHECK_EQ_INT(r.code, 0);
    const cJSON *e0 = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(base.json, "faces"), 0), "embedding");
    const cJSON *e1 = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0), "embedding");
    const int dim = fk_model_dim(tu_default_model());
    CHECK(cJSON_GetArraySize(e0) == dim && cJSON_GetArraySize(e1) == dim);
    double dot = 0;
    for (int i = 0; i < cJSON_GetArraySize(e0) && i < cJSON_GetArraySize(e1); i++)
      dot += cJSON_GetArrayItem(e0, i)->valuedouble * cJSON_GetArrayItem(e1, i)->valuedouble;
    CHECK(dot >= 0.99999);
    cJSON_Delete(r.json);
  }
  cJSON_Delete(base.json);
}

static void test_represent_without_face_exits_3(void) {
  char args[9000];
  snprintf(args, sizeof args, "represent '%s'", tu_fixture("noface.png"));
  tu_expect_error("noface", args, 3, "no face detected");
  snprintf(args, sizeof args, "verify '%s' ", tu_fixture("noface.png"));
  snprintf(args + strlen(args), sizeof args - strlen(args), "'%s'", tu_fixture("face_a1.png"));
  tu_expect_error("verify noface", args, 3, "no face detected");
}

static void test_represent_can_embed_whole_image_without_face(void) {
  char args[9000];
  snprintf(args, sizeof args, "represent '%s' --enforce-detection false", tu_fixture("noface.png"));
  tu_run_result r = tu_run(args);
  CHECK_EQ_INT(r.code, 0);
  CHECK(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "face_detected")));
  CHECK_EQ_INT(tu_array_len(r.json, "faces"), 1);
  cJSON_Delete(r.json);
}

static void test_detect_rejects_bad_files(void) {
  char args[9000], path[1024];
  snprintf(path, sizeof path, "%s", tu_tmp("missing.jpg"));
  snprintf(args, sizeof args, "detect '%s'", path);
  tu_expect_error("missing", args, 1, "not found");

  snprintf(path, sizeof path, "%s", tu_tmp("empty.jpg"));
  tu_write_file(path, "", 0);
  snprintf(args, sizeof args, "detect '%s'", path);
  tu_expect_error("empty", args, 1, "empty");
  remove(path);

  snprintf(path, sizeof path, "%s", tu_tmp("text.jpg"));
  tu_write_file(path, "hello, I am not a JPEG\n", 23);
  snprintf(args, sizeof args, "detect '%s'", path);
  tu_expect_error("text", args, 1, "not a supported image");
  remove(path);

  /* A real JPEG cut in half. */
  snprintf(path, sizeof path, "%s", tu_tmp("trunc.jpg"));
  write_jpeg(path, 320, 240, 0);
  size_t n = 0;
  char *bytes = tu_read_file(path, &n);
  CHECK(bytes != NULL);
  tu_write_file(path, bytes, n / 2);
  snprintf(args, sizeof args, "detect '%s'", path);
  tu_expect_error("truncated", args, 1, "truncated");

  /* The same JPEG with its SOF0 dimensions patched to 60000 x 60000. */
  for (size_t i = 0; i + 9 < n; i++) {
    if ((unsigned char)bytes[i] == 0xFF && (unsigned char)bytes[i + 1] == 0xC0) {
      bytes[i + 5] = bytes[i + 7] = (char)0xEA;
      bytes[i + 6] = bytes[i + 8] = 0x60;
      break;
    }
  }
  tu_write_file(path, bytes, n);
  tu_expect_error("huge", args, 1, "pixel limit");
  free(bytes);
  remove(path);
}

static void test_detect_handles_cmyk_and_16bit_alpha(void) {
  char args[9000], path[1024];
  snprintf(path, sizeof path, "%s", tu_tmp("cmyk.jpg"));
  write_jpeg(path, 200, 150, 1);
  snprintf(args, sizeof args, "detect '%s'", path);
  tu_run_result r = tu_run(args);
  CHECK_EQ_INT(r.code, 0);
  CHECK_EQ_INT(tu_array_len(r.json, "faces"), 0);
  cJSON_Delete(r.json);
  remove(path);

  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("face_a1.png"), 0, &img), FK_OK);
  snprintf(path, sizeof path, "%s", tu_tmp("rgba16.png"));
  CHECK_EQ_INT(write_png16_rgba(&img, path), 0);
  fk_image_free(&img);
  snprintf(args, sizeof args, "detect '%s'", path);
  r = tu_run(args);
  CHECK_EQ_INT(r.code, 0);
  CHECK_EQ_INT(tu_array_len(r.json, "faces"), 1);
  cJSON_Delete(r.json);
  remove(path);
}

/* A file name that is not UTF-8 still gives valid JSON: such bytes print
 * in the one reversible escaping (U+10FF00 + the byte, fk_text_escape), so
 * the message names the real file. */
static void test_non_utf8_file_names_give_valid_json(void) {
  char path[4200], args[9000];
  snprintf(path, sizeof path, "%s", tu_tmp("bad\xff\xfename.jpg"));
  tu_write_text(path, "not an image\n");
  snprintf(args, sizeof args, "detect '%s'", path);
  tu_run_result r = tu_run(args);
  CHECK_EQ_INT(r.code, 1);
  const char *e = tu_json_str(r.json, "error");
  CHECK(strstr(e, "bad\xf4\x8f\xbf\xbf\xf4\x8f\xbf\xbename.jpg") != NULL);
  CHECK(!strchr(e, '\xff') && !strchr(e, '\xfe')); /* not the raw bytes */
  char real[4200];
  fk_text_unescape(e, real, sizeof real);
  CHECK(strstr(real, path) != NULL);
  cJSON_Delete(r.json);
  remove(path);
}

/* find's operand and outputs: a folder given as the image, and --sheet /
 * --html into a directory that does not exist, each said as such. */
static void test_find_says_what_is_wrong_with_its_operands(void) {
  char dir[4096], db[4200], args[30000];
  snprintf(dir, sizeof dir, "%s", tu_tmp("find_msgs"));
  snprintf(db, sizeof db, "%s.db", dir);
  snprintf(args, sizeof args, "rm -rf '%s' '%s'* && mkdir -p '%s/alice' && cp '%s' '%s/alice/'", dir, db, dir,
           tu_fixture("face_a1.png"), dir);
  CHECK_EQ_INT(system(args), 0);
  snprintf(args, sizeof args, "index '%s' --db '%s'", dir, db);
  tu_run_result r = tu_run(args);
  CHECK_EQ_INT(r.code, 0);
  cJSON_Delete(r.json);
  snprintf(args, sizeof args, "find '%s' --db '%s'", dir, db);
  tu_expect_error("find DIR", args, 1, "is a directory: give one image file");
  snprintf(args, sizeof args, "find '%s' --db '%s' --sheet /nonexistdir/x.png", tu_fixture("face_a2.png"), db);
  tu_expect_error("--sheet", args, 1, "cannot write the sheet /nonexistdir/x.png: the directory /nonexistdir does not exist");
  snprintf(args, sizeof args, "find '%s' --db '%s' --html /nonexistdir/x.html", tu_fixture("face_a2.png"), db);
  tu_expect_error("--html", args, 1, "cannot write the page /nonexistdir/x.html: the directory /nonexistdir does not exist");
  snprintf(args, sizeof args, "find '%s' --db '%s' --sheet '%s'", tu_fixture("face_a2.png"), db, dir);
  tu_expect_error("--sheet DIR", args, 1, "it is a directory");
  snprintf(args, sizeof args, "rm -rf '%s' '%s'*", dir, db);
  CHECK_EQ_INT(system(args), 0);
}

static void test_missing_models_name_the_fetch_command(void) {
  char args[9000];
  snprintf(args, sizeof args, "detect '%s' --models /nonexistent-facekit-models", tu_fixture("face_a1.png"));
  tu_expect_error("models", args, 1, "make models");
}

static void test_bad_command_lines_exit_2(void) {
  tu_expect_error("no command", "", 2, "no command");
  tu_expect_error("unknown", "frobnicate", 2, "unknown command");
  tu_expect_error("bad option", "detect x.png --bogus", 2, "unknown option");
  tu_expect_error("bad model", "represent x.png --model vgg-face", 2, "--model must be one of");
  tu_expect_error("bad align", "represent x.png --align crooked", 2, "--align must be");
  tu_expect_error("bad metric", "verify a b --metric manhattan", 2, "--metric");
  tu_expect_error("bad size", "detect x.png --input-size 100", 2, "multiple of 32");
  tu_expect_error("bad backend", "detect x.png --backend cuda", 2, "--backend");
  tu_expect_error("verify one", "verify a.png", 2, "two images");
}

/* A two-person LFW-style tree (PNG bytes under .jpg names: images are
 * sniffed) and a 2-fold pairs file: the protocol must run and separate them. */
static void test_eval_lfw_runs_the_protocol_on_a_tiny_tree(void) {
  char root[4200], pairs[4400], cmd[13000], args[16384];
  snprintf(root, sizeof root, "%s", tu_tmp("lfw"));
  CHECK_EQ_INT(tu_make_lfw_tree(root), 0);
  snprintf(pairs, sizeof pairs, "%s/pairs.txt", root);
  tu_write_text(pairs, "2 1\nGeorge_W_Bush 1 6\nGeorge_W_Bush 1 Laura_Bush 1\n"
                      "George_W_Bush 6 1\nLaura_Bush 1 Jacques_Chirac 6\n");
  snprintf(args, sizeof args, "eval lfw --root '%s' --pairs '%s' --jobs 2", root, pairs);
  tu_run_result r = tu_run(args);
  CHECK_EQ_INT(r.code, 0);
  CHECK_EQ_INT(cJSON_GetObjectItem(r.json, "pairs")->valueint, 4);
  CHECK_EQ_INT(cJSON_GetObjectItem(r.json, "images")->valueint, 4);
  CHECK_NEAR(cJSON_GetObjectItem(r.json, "accuracy_mean")->valuedouble, 1.0, 1e-9);
  CHECK_EQ_INT(cJSON_GetObjectItem(r.json, "no_face")->valueint, 0);
  cJSON_Delete(r.json);
  snprintf(args + strlen(args), sizeof args - strlen(args), " --codes int8");
  r = tu_run(args);
  CHECK_EQ_INT(r.code, 0);
  CHECK(!strcmp(tu_json_str(r.json, "codes"), "int8"));
  cJSON_Delete(r.json);
  tu_write_text(pairs, "1 1\nGeorge_W_Bush 1 6\nGeorge_W_Bush 1 Laura_Bush 1\n");
  snprintf(args, sizeof args, "eval lfw --root '%s' --pairs '%s'", root, pairs);
  tu_expect_error("one fold", args, 1, "at least 2 folds");
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK_EQ_INT(system(cmd), 0);
}

static void test_every_subcommand_has_help(void) {
  static const char *cmds[] = {"detect", "represent", "verify", "analyze", "eval", "eval gender",
                               "eval retrieval", "index", "find", "export"};
  for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
    char args[64];
    snprintf(args, sizeof args, "%s --help", cmds[i]);
    tu_run_result r = tu_run(args);
    CHECK_EQ_INT(r.code, 0);
    cJSON_Delete(r.json);
  }
}

#if !defined(FK_WITH_SERVER) || !defined(FK_WITH_VIDEO)
/* serve and stream, in a build without them, say which option left them
 * out. */
static void test_commands_left_out_of_the_build_say_so(void) {
#ifndef FK_WITH_SERVER
  tu_expect_error("serve", "serve --port 0", 1, "FK_WITH_SERVER=OFF");
#endif
#ifndef FK_WITH_VIDEO
  tu_expect_error("stream", "stream x.mp4", 1, "FK_WITH_VIDEO=OFF");
#endif
}
#endif

int main(void) {
  RUN(test_verify_same_person_is_verified);
  RUN(test_verify_different_people_is_not_verified);
  RUN(test_detect_finds_every_face_of_a_group);
  RUN(test_represent_gives_the_models_width_per_face);
  RUN(test_represent_agrees_across_backends_and_threads);
  RUN(test_represent_without_face_exits_3);
  RUN(test_represent_can_embed_whole_image_without_face);
  RUN(test_detect_rejects_bad_files);
  RUN(test_detect_handles_cmyk_and_16bit_alpha);
  RUN(test_non_utf8_file_names_give_valid_json);
  RUN(test_find_says_what_is_wrong_with_its_operands);
  RUN(test_missing_models_name_the_fetch_command);
  RUN(test_bad_command_lines_exit_2);
  RUN(test_eval_lfw_runs_the_protocol_on_a_tiny_tree);
  RUN(test_every_subcommand_has_help);
#if !defined(FK_WITH_SERVER) || !defined(FK_WITH_VIDEO)
  RUN(test_commands_left_out_of_the_build_say_so);
#endif
  return tu_summary();
}
