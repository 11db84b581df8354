/*
 * analyze.c - `facekit analyze IMG`: age, gender, emotion and race of every
 * face, as DeepFace.analyze reports them, and on request its head pose and
 * quality.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "cli/cli.h"

static const char help[] =
    "usage: facekit analyze IMG [--actions LIST] [--enforce-detection true|false] [options]\n"
    "Prints {\"faces\":[{\"box\",\"score\",\"age\",\"gender\":{\"dominant\",\"Woman\",\"Man\"},\n"
    "  \"emotion\":{\"dominant\",\"angry\",...},\"race\":{\"dominant\",\"white\",...},\n"
    "  \"pose\":{\"yaw\",\"pitch\",\"roll\"},\"quality\":{\"sharpness\",\"size\",\n"
    "  \"eyes_open\":{\"left\",\"right\"}}}...],\"time_ms\"}\n"
    "Probabilities are in [0, 1]; angles in degrees (yaw > 0: turned towards the\n"
    "image's left); sharpness is the variance of the Laplacian of the face box at\n"
    "32x32 gray; size the box's shorter side in pixels; eyes_open P(open).\n"
    "  --actions LIST            comma-separated: age, gender, emotion, race, pose,\n"
    "                            quality (default the first four); only these are\n"
    "                            computed\n"
    "  --enforce-detection false with no face found, analyze the whole image as the\n"
    "                            face and report \"face_detected\":false\n"
    "No face with enforcement on: exit 3 and \"error\":\"no face detected\".\n\n";

int cmd_analyze(int argc, char **argv) {
  cli_common c;
  cli_common_init(&c);
  const char *path = NULL;
  int enforce = 1, actions = FK_ACTION_ALL;
  int i = 0, code;
  while (cli_next_arg(&c, argc, argv, &i, help, &code)) {
    const char *a = argv[i];
    if (!strcmp(a, "--actions") || !strcmp(a, "--enforce-detection")) {
      const char *v = i + 1 < argc ? argv[++i] : NULL;
      if (!v) return cli_usage("analyze ", "%s needs a value", a);
      if (!strcmp(a, "--actions")) {
        if ((actions = fk_actions_from_names(v)) <= 0)
          return cli_usage("analyze ", "--actions takes a comma-separated list of age, gender, "
                                       "emotion, race, pose, quality, not '%s'", v);
      } else if (cli_parse_bool(v, &enforce)) {
        return cli_usage("analyze ", "--enforce-detection must be true or false, not '%s'", v);
      }
      continue;
    }
    if (cli_is_option(a)) return cli_usage("analyze ", "unknown option '%s'", a);
    if (path) return cli_usage("analyze ", "one image at a time, got '%s' and '%s'", path, a);
    path = a;
  }
  if (code != CLI_ARGS_END) return code;
  if (!path) return cli_usage("analyze ", "missing IMG");

  fk_image img = {0};
  int rc = cli_load_image(&c, path, &img);
  if (rc) return rc;
  fk_models *m = NULL;
  fk_session *s = NULL;
  unsigned nets = cli_detect_nets(&c.opt) | fk_analyze_nets((unsigned)actions, c.opt.attribute_model);
  fk_face *faces = NULL;
  fk_attributes *attrs = NULL;
  if ((rc = cli_open(&c, nets, &m, &s))) goto out;
  int cap = c.opt.max_faces, n = 0;
  faces = calloc((size_t)cap, sizeof *faces);
  attrs = calloc((size_t)cap, sizeof *attrs);
  if (!faces || !attrs) {
    rc = cli_error(EXIT_FAIL, NULL, "out of memory");
    goto out;
  }
  double t0 = fk_now_ms();
  int detected, st = fk_api_faces(s, &img, enforce, 0, 0, faces, cap, &n, &detected);
  for (int k = 0; st == FK_OK && k < n; k++) st = fk_analyze(s, &img, &faces[k], (unsigned)actions, &attrs[k]);
  double ms = fk_now_ms() - t0;
  if (st) {
    rc = cli_error(EXIT_FAIL, NULL, "%s: %s", path, fk_session_errmsg(s));
  } else if (n == 0) {
    rc = cli_no_face(path);
  } else {
    cJSON *o = fk_json_analyze(faces, attrs, n, detected, &c.opt);
    cJSON_AddNumberToObject(o, "time_ms", ms);
    cli_print(o);
    rc = EXIT_OK;
  }
out:
  free(faces);
  free(attrs);
  fk_session_free(s);
  fk_models_free(m);
  fk_image_free(&img);
  return rc;
}
