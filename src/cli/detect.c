/*
 * detect.c - `facekit detect IMG`: faces, scores and 68 landmarks as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli/cli.h"

static const char help[] =
    "usage: facekit detect IMG [options]\n"
    "Detects faces and their 68 landmarks. Prints\n"
    "{\"faces\":[{\"box\":{x,y,w,h},\"score\",\"landmarks\":[[x,y]...]}...],\"width\",\"height\",\"time_ms\"}\n"
    "An image without faces gives \"faces\":[] and exit code 0.\n\n";

int cmd_detect(int argc, char **argv) {
  cli_common c;
  cli_common_init(&c);
  const char *path = NULL;
  int i = 0, code;
  while (cli_next_arg(&c, argc, argv, &i, help, &code)) {
    if (cli_is_option(argv[i])) return cli_usage("detect ", "unknown option '%s'", argv[i]);
    if (path) return cli_usage("detect ", "one image at a time, got '%s' and '%s'", path, argv[i]);
    path = argv[i];
  }
  if (code != CLI_ARGS_END) return code;
  if (!path) return cli_usage("detect ", "missing IMG");

  fk_image img = {0};
  int rc = cli_load_image(&c, path, &img);
  if (rc) return rc;
  fk_models *m = NULL;
  fk_session *s = NULL;
  unsigned nets = cli_detect_nets(&c.opt);
  if ((rc = cli_open(&c, nets, &m, &s))) goto out;

  int cap = c.opt.max_faces, n = 0;
  fk_face *faces = calloc((size_t)cap, sizeof *faces);
  if (!faces) {
    rc = cli_error(EXIT_FAIL, NULL, "out of memory");
    goto out;
  }
  double t0 = fk_now_ms();
  int st = fk_detect(s, &img, faces, cap, &n);
  double ms = fk_now_ms() - t0;
  if (st) {
    rc = cli_error(EXIT_FAIL, NULL, "%s: %s", path, fk_session_errmsg(s));
  } else {
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "faces");
    for (int i = 0; i < n && i < cap; i++) {
      cJSON *f = cJSON_CreateObject();
      cJSON_AddItemToObject(f, "box", fk_json_box(faces[i].box));
      cJSON_AddNumberToObject(f, "score", fk_json_float(faces[i].score));
      cJSON_AddItemToObject(f, "landmarks", fk_json_landmarks(faces[i].landmarks, FK_NUM_LANDMARKS));
      cJSON_AddItemToArray(arr, f);
    }
    cJSON_AddNumberToObject(o, "width", img.width);
    cJSON_AddNumberToObject(o, "height", img.height);
    cJSON_AddStringToObject(o, "detector", fk_detector_name(c.opt.detector));
    cJSON_AddNumberToObject(o, "time_ms", ms);
    cli_print(o);
    rc = EXIT_OK;
  }
  free(faces);
out:
  fk_session_free(s);
  fk_models_free(m);
  fk_image_free(&img);
  return rc;
}
