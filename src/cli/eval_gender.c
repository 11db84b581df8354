/*
 * eval_gender.c - `facekit eval gender`: gender accuracy on an image list
 * labelled by two files of names (LFW's male_names.txt and
 * female_names.txt: one "Person_Name_0001.jpg" per line, the image at
 * ROOT/Person_Name/Person_Name_0001.jpg).
 *
 * The library runs it (fk_eval_gender, which documents the protocol); this
 * parses the options and prints the result.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char help[] =
    "usage: facekit eval gender --root DIR --male FILE --female FILE\n"
    "                           [--attribute-model face-api|gear|both] [--jobs N] [options]\n"
    "Gender accuracy. Prints {\"images\",\"results\":{MODEL:{\"accuracy\",\"male_recall\",\n"
    "\"female_recall\",\"confusion\",...}},\"no_face\",...}\n"
    "  --root DIR       image folder (Person_Name/Person_Name_0001.jpg)\n"
    "  --male FILE      file names of male images, one per line\n"
    "  --female FILE    file names of female images, one per line\n"
    "  --attribute-model M  face-api (default), gear, or both (scored on the same faces)\n"
    "  --jobs N         worker threads, one session each (default: all cores)\n\n";

/* One model's scores, over every image and over those with a face. */
static cJSON *scores_json(const fk_gender_scores *all, const fk_gender_scores *with_face) {
  cJSON *o = cJSON_CreateObject();
  for (int pass = 0; pass < 2; pass++) {
    const fk_gender_scores *g = pass ? with_face : all;
    cJSON *t = pass ? cJSON_AddObjectToObject(o, "with_face") : o;
    if (pass) cJSON_AddNumberToObject(t, "images", (double)g->images);
    cJSON_AddNumberToObject(t, "accuracy", g->accuracy);
    cJSON_AddNumberToObject(t, "male_recall", g->male_recall);
    cJSON_AddNumberToObject(t, "female_recall", g->female_recall);
    cJSON_AddNumberToObject(t, "balanced_accuracy", g->balanced_accuracy);
    if (pass) continue;
    cJSON *cm = cJSON_AddObjectToObject(t, "confusion");
    static const char *const truth[2] = {[FK_GENDER_MAN] = "male", [FK_GENDER_WOMAN] = "female"};
    for (int r = FK_GENDER_MAN; r >= FK_GENDER_WOMAN; r--) {
      cJSON *row = cJSON_AddObjectToObject(cm, truth[r]);
      for (int p = FK_GENDER_MAN; p >= FK_GENDER_WOMAN; p--)
        cJSON_AddNumberToObject(row, fk_gender_name(p), (double)g->confusion[r][p]);
    }
  }
  return o;
}

int cmd_eval_gender(int argc, char **argv) {
  cli_common c;
  cli_common_init(&c);
  c.own = "--attribute-model";
  const char *root = NULL, *male = NULL, *female = NULL, *model = "face-api";
  fk_eval_options eo;
  cli_eval_options_init(&eo);
  int i = 0, code;
  while (cli_next_arg(&c, argc, argv, &i, help, &code)) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return cli_usage("eval gender ", "unknown or incomplete option '%s'", a);
    i++;
    if (!strcmp(a, "--root")) root = v;
    else if (!strcmp(a, "--male")) male = v;
    else if (!strcmp(a, "--female")) female = v;
    else if (!strcmp(a, "--attribute-model")) model = v;
    else if (!strcmp(a, "--jobs")) {
      if (cli_parse_int(v, 1, 256, &eo.jobs)) return cli_usage("eval gender ", "--jobs must be in [1, 256]");
    } else {
      return cli_usage("eval gender ", "unknown option '%s'", a);
    }
  }
  if (code != CLI_ARGS_END) return code;
  if (!root || !male || !female)
    return cli_usage("eval gender ", "eval gender needs --root DIR, --male FILE and --female FILE");
  int models[2], nmodels = 1;
  if (!strcmp(model, "both")) {
    models[0] = FK_ATTR_MODEL_FACEAPI;
    models[1] = FK_ATTR_MODEL_GEAR;
    nmodels = 2;
  } else {
    fk_options o;
    fk_options_init(&o);
    char why[256];
    if (fk_option_set(&o, fk_option_find("attribute_model"), model, why, sizeof why))
      return cli_usage("eval gender ", "--attribute-model must be face-api, gear or both, not '%s'", model);
    models[0] = o.attribute_model;
  }
  unsigned nets = cli_detect_nets(&c.opt);
  for (int k = 0; k < nmodels; k++) nets |= fk_analyze_nets(FK_ACTION_GENDER, models[k]);
  fk_models *m = NULL;
  if (fk_models_open(c.models_dir, nets, &m) != FK_OK) {
    int rc = cli_error(EXIT_FAIL, NULL, "%s", fk_models_errmsg(m));
    fk_models_free(m);
    return rc;
  }
  fk_gender_result r;
  char err[1024] = "";
  int rc = fk_eval_gender(m, &c.opt, root, male, female, models, nmodels, &eo, &r, err, sizeof err);
  fk_models_free(m);
  if (rc) return cli_error(EXIT_FAIL, NULL, "%s", err);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "images", r.images);
  cJSON_AddNumberToObject(o, "male", r.male);
  cJSON_AddNumberToObject(o, "female", r.female);
  cJSON_AddNumberToObject(o, "ambiguous", r.ambiguous);
  cJSON *res = cJSON_AddObjectToObject(o, "results");
  for (int k = 0; k < r.nmodels; k++)
    cJSON_AddItemToObject(res, r.models[k] == FK_ATTR_MODEL_GEAR ? "gear" : "face-api",
                          scores_json(&r.all[k], &r.with_face[k]));
  cJSON_AddNumberToObject(o, "no_face", r.no_face);
  cJSON_AddNumberToObject(o, "subject_at_low_score", r.subjects[FK_SUBJECT_LOW_SCORE]);
  cJSON_AddNumberToObject(o, "subject_off_centre", r.subjects[FK_SUBJECT_OFF_CENTRE]);
  cJSON_AddNumberToObject(o, "whole_image", r.subjects[FK_SUBJECT_WHOLE_IMAGE]);
  fk_json_add_pipeline(o, NULL, &c.opt, 0);
  cJSON_AddNumberToObject(o, "jobs", cli_jobs(&eo));
  cJSON_AddNumberToObject(o, "seconds", r.seconds);
  cli_print(o);
  return EXIT_OK;
}
