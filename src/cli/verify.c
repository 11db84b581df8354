/*
 * verify.c - `facekit verify IMG1 IMG2`: same person or not.
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "cli/cli.h"

static const char help[] =
    "usage: facekit verify IMG1 IMG2 [--metric cosine|euclidean|euclidean_l2] [--threshold T] [options]\n"
    "Compares the largest face of each image. Prints\n"
    "{\"verified\",\"distance\",\"threshold\",\"metric\",\"model\",\"detector\",\n"
    " \"facial_areas\":{\"img1\":{x,y,w,h},\"img2\":{...}},\"time_ms\"}\n"
    "Default thresholds (fitted on LFW): cosine 0.0872, euclidean 0.593, euclidean_l2 0.418.\n"
    "No face in either image: exit 3 and \"error\":\"no face detected\".\n\n";

int cmd_verify(int argc, char **argv) {
  cli_common c;
  cli_common_init(&c);
  const char *paths[2] = {NULL, NULL};
  int metric = FK_METRIC_COSINE;
  float threshold = -1;
  int i = 0, code;
  while (cli_next_arg(&c, argc, argv, &i, help, &code)) {
    const char *a = argv[i];
    if (!strcmp(a, "--metric")) {
      if (i + 1 >= argc || (metric = fk_metric_from_name(argv[++i])) < 0)
        return cli_usage("verify ", "--metric must be cosine, euclidean or euclidean_l2");
      continue;
    }
    if (!strcmp(a, "--threshold")) {
      if (i + 1 >= argc || cli_parse_float(argv[++i], 0.0, 4.0, &threshold))
        return cli_usage("verify ", "--threshold must be a number in [0, 4]");
      continue;
    }
    if (cli_is_option(a)) return cli_usage("verify ", "unknown option '%s'", a);
    if (paths[1]) return cli_usage("verify ", "verify takes exactly two images");
    paths[paths[0] ? 1 : 0] = a;
  }
  if (code != CLI_ARGS_END) return code;
  if (!paths[1]) return cli_usage("verify ", "verify needs two images");

  fk_image img[2] = {{0}, {0}};
  fk_models *m = NULL;
  fk_session *s = NULL;
  int rc = cli_load_image(&c, paths[0], &img[0]);
  if (rc || (rc = cli_load_image(&c, paths[1], &img[1]))) goto out;
  unsigned nets = cli_embed_nets(&c.opt);
  if ((rc = cli_open(&c, nets, &m, &s))) goto out;

  fk_verify_result r;
  double t0 = fk_now_ms();
  int st = fk_verify(s, &img[0], &img[1], metric, threshold, &r);
  double ms = fk_now_ms() - t0;
  if (st == FK_ENOFACE) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "detail", fk_session_errmsg(s));
    rc = cli_error(EXIT_NOFACE, o, "%s", fk_strerror(FK_ENOFACE));
  } else if (st) {
    rc = cli_error(EXIT_FAIL, NULL, "%s", fk_session_errmsg(s));
  } else {
    cJSON *o = fk_json_verify(&r, &c.opt);
    cJSON_AddNumberToObject(o, "time_ms", ms);
    cli_print(o);
    rc = EXIT_OK;
  }
out:
  fk_session_free(s);
  fk_models_free(m);
  fk_image_free(&img[0]);
  fk_image_free(&img[1]);
  return rc;
}
