/*
 * represent.c - `facekit represent IMG`: an embedding per face.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli/cli.h"

static const char help[] =
    "usage: facekit represent IMG [--normalize none|l2] [--enforce-detection true|false] [options]\n"
    "Prints {\"faces\":[{\"box\",\"score\",\"embedding\":[dim floats]}...],\"model\",\"dim\",...}\n"
    "  --normalize l2            scale each embedding to unit length (default none)\n"
    "  --enforce-detection false with no face found, embed the whole image instead\n"
    "                            (as DeepFace does) and report \"face_detected\":false\n"
    "No face with enforcement on: exit 3 and \"error\":\"no face detected\".\n\n";

int cmd_represent(int argc, char **argv) {
  cli_common c;
  cli_common_init(&c);
  const char *path = NULL;
  int l2 = 0, enforce = 1;
  int i = 0, code;
  while (cli_next_arg(&c, argc, argv, &i, help, &code)) {
    const char *a = argv[i];
    if (!strcmp(a, "--normalize") || !strcmp(a, "--enforce-detection")) {
      const char *v = i + 1 < argc ? argv[++i] : NULL;
      if (!v) return cli_usage("represent ", "%s needs a value", a);
      if (!strcmp(a, "--normalize")) {
        if (!strcmp(v, "l2")) l2 = 1;
        else if (!strcmp(v, "none")) l2 = 0;
        else return cli_usage("represent ", "--normalize must be none or l2, not '%s'", v);
      } else if (cli_parse_bool(v, &enforce)) {
        return cli_usage("represent ", "--enforce-detection must be true or false, not '%s'", v);
      }
      continue;
    }
    if (cli_is_option(a)) return cli_usage("represent ", "unknown option '%s'", a);
    if (path) return cli_usage("represent ", "one image at a time, got '%s' and '%s'", path, a);
    path = a;
  }
  if (code != CLI_ARGS_END) return code;
  if (!path) return cli_usage("represent ", "missing IMG");

  fk_image img = {0};
  int rc = cli_load_image(&c, path, &img);
  if (rc) return rc;
  fk_models *m = NULL;
  fk_session *s = NULL;
  unsigned nets = cli_embed_nets(&c.opt);
  fk_face *faces = NULL;
  if ((rc = cli_open(&c, nets, &m, &s))) goto out;
  int cap = c.opt.max_faces, n = 0;
  if (!(faces = calloc((size_t)cap, sizeof *faces))) {
    rc = cli_error(EXIT_FAIL, NULL, "out of memory");
    goto out;
  }
  double t0 = fk_now_ms();
  int detected, st = fk_api_faces(s, &img, enforce, 1, 0, faces, cap, &n, &detected);
  double ms = fk_now_ms() - t0;
  if (st) {
    rc = cli_error(EXIT_FAIL, NULL, "%s: %s", path, fk_session_errmsg(s));
  } else if (n == 0) {
    rc = cli_no_face(path);
  } else {
    cJSON *o = fk_json_represent(faces, n, detected, &c.opt, l2);
    cJSON_AddNumberToObject(o, "time_ms", ms);
    cli_print(o);
    rc = EXIT_OK;
  }
out:
  free(faces);
  fk_session_free(s);
  fk_models_free(m);
  fk_image_free(&img);
  return rc;
}
