/*
 * cliutil.h - helpers shared by the tests that run the facekit command
 * (test_cli.c, test_analyze.c, test_index.c): its exit status, its JSON, and
 * JPEG inputs.
 */
#ifndef FK_CLIUTIL_H
#define FK_CLIUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <cjson/cJSON.h>
#include <jpeglib.h>

/* A wait status as an exit code; killed by signal N gives 128 + N, as in sh. */
static inline int tu_exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* o[k] if it is a string, else "". */
static inline const char *tu_json_str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : "";
}

/* Writes w x h packed pixels as a JPEG: components 3 (RGB) or 4 (CMYK);
 * quality <= 0 keeps libjpeg's default. Returns 0, or -1 if path cannot be
 * created. */
static inline int tu_write_jpeg(const char *path, const unsigned char *px, int w, int h, int components,
                                int quality) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = components;
  c.in_color_space = components == 4 ? JCS_CMYK : JCS_RGB;
  jpeg_set_defaults(&c);
  if (quality > 0) jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * components);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  fclose(f);
  return 0;
}

/* ---- running the facekit command ($FK_CLI); needs testutil.h and golden.h ---- */

typedef struct tu_run_result {
  int code;
  cJSON *json; /* parsed stdout, NULL if not one JSON object */
  char err[4096];
} tu_run_result;

/* Runs `facekit ARGS` through the shell; stdout must be one JSON object. */
static inline tu_run_result tu_run(const char *args) {
  tu_run_result r = {0};
  const char *cli = getenv("FK_CLI");
  char out[4200], err[4200], cmd[16384];
  snprintf(out, sizeof out, "%s", tu_tmp("stdout"));
  snprintf(err, sizeof err, "%s", tu_tmp("stderr"));
  snprintf(cmd, sizeof cmd, "\"%s\" %s >'%s' 2>'%s' </dev/null", cli ? cli : "facekit", args, out, err);
  int st = system(cmd);
  r.code = tu_exit_code(st);
  char *o = tu_read_file(out, NULL), *e = tu_read_file(err, NULL);
  if (o) r.json = cJSON_Parse(o);
  if (e) snprintf(r.err, sizeof r.err, "%s", e);
  free(o);
  free(e);
  remove(out);
  remove(err);
  if (r.code >= 128) fprintf(stderr, "facekit %s: crashed (%d): %s\n", args, r.code, r.err);
  return r;
}

static inline int tu_array_len(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
}

static inline void tu_expect_error(const char *what, const char *args, int code, const char *needle) {
  tu_run_result r = tu_run(args);
  CHECK_EQ_INT(r.code, code);
  CHECK(r.json != NULL);
  const char *e = tu_json_str(r.json, "error");
  if (!strstr(e, needle)) {
    fprintf(stderr, "%s: error '%s' lacks '%s'\n", what, e, needle);
    CHECK(0);
  }
  cJSON_Delete(r.json);
}

/* Lays out a two-person-plus-one LFW-style tree under root (PNG bytes under
 * .jpg names: images are sniffed): George_W_Bush_0001 and _0006,
 * Laura_Bush_0001, Jacques_Chirac_0006. Returns 0 on success. */
static inline int tu_make_lfw_tree(const char *root) {
  static const struct { const char *person, *fixture; int num; } imgs[] = {
      {"George_W_Bush", "face_a1.png", 1}, {"George_W_Bush", "face_a2.png", 6},
      {"Laura_Bush", "face_b1.png", 1},    {"Jacques_Chirac", "face_c1.png", 6}};
  char cmd[13000], path[4400];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/George_W_Bush' '%s/Laura_Bush' '%s/Jacques_Chirac'", root, root, root);
  if (system(cmd) != 0) return -1;
  for (size_t k = 0; k < sizeof imgs / sizeof *imgs; k++) {
    size_t n;
    char *bytes = tu_read_file(tu_fixture(imgs[k].fixture), &n);
    if (!bytes) return -1;
    snprintf(path, sizeof path, "%s/%s/%s_%04d.jpg", root, imgs[k].person, imgs[k].person, imgs[k].num);
    tu_write_file(path, bytes, n);
    free(bytes);
  }
  return 0;
}

#endif /* FK_CLIUTIL_H */
