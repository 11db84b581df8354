/*
 * eval.c - `facekit eval lfw`: LFW's 10-fold verification protocol, run by
 * the library (fk_eval_lfw); this parses the options and prints the result.
 * `eval retrieval` and `eval gender` are dispatched from here.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char help[] =
    "usage: facekit eval lfw --root DIR --pairs FILE [--metric M] [--codes C] [--jobs N] [options]\n"
    "LFW verification, standard 10-fold protocol. Prints\n"
    "{\"accuracy_mean\",\"accuracy_std\",\"auc\",\"tar_at_far_1e-3\",\"pairs\",\"no_face\",...}\n"
    "Each image is represented by its subject, the face at its centre; an image\n"
    "without one by the whole image, so every pair counts. With a fused --model,\n"
    "\"fusion\" gives the weight of the first net fitted on each fold's training folds.\n"
    "  --root DIR    the LFW image folder (PERSON/PERSON_NNNN.jpg)\n"
    "  --pairs FILE  pairs.txt\n"
    "  --metric M    cosine (default), euclidean or euclidean_l2\n"
    "  --codes C     f32 (default), or int8: compare the dim-byte codes an index\n"
    "                stores (each unit vector quantized, scaled back to its norm)\n"
    "  --jobs N      worker threads, one session each (default: all cores)\n\n";

static cJSON *doubles_json(const double *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
  return a;
}

static cJSON *lfw_json(const fk_lfw_result *r, const cli_common *c, int jobs) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "accuracy_mean", r->accuracy_mean);
  cJSON_AddNumberToObject(o, "accuracy_std", r->accuracy_std);
  cJSON_AddItemToObject(o, "fold_accuracy", doubles_json(r->fold_accuracy, r->folds));
  cJSON_AddNumberToObject(o, "auc", r->auc);
  cJSON_AddNumberToObject(o, "tar_at_far_1e-3", r->tar_at_far_1e3);
  cJSON *fits = cJSON_AddObjectToObject(o, "thresholds_all_pairs");
  for (int m = FK_METRIC_COSINE; m <= FK_METRIC_EUCLIDEAN_L2; m++) {
    cJSON *f = cJSON_AddObjectToObject(fits, fk_metric_name(m));
    cJSON_AddNumberToObject(f, "threshold", fk_json_float(r->threshold[m]));
    cJSON_AddNumberToObject(f, "accuracy", r->threshold_accuracy[m]);
  }
  if (r->fused) {
    cJSON *f = cJSON_AddObjectToObject(o, "fusion");
    cJSON_AddNumberToObject(f, "accuracy_mean", r->fitted_accuracy_mean);
    cJSON_AddNumberToObject(f, "accuracy_std", r->fitted_accuracy_std);
    cJSON_AddNumberToObject(f, "weight_mean", fk_json_float(r->fitted_weight_mean));
    cJSON_AddItemToObject(f, "fold_weight", fk_json_floats(r->fold_weight, r->folds));
    cJSON *parts = cJSON_AddObjectToObject(f, "parts");
    for (int k = 0; k < 2; k++) {
      cJSON *p = cJSON_AddObjectToObject(parts, fk_model_part_name(c->opt.model, k));
      cJSON_AddNumberToObject(p, "accuracy_mean", r->part_accuracy_mean[k]);
      cJSON_AddNumberToObject(p, "accuracy_std", r->part_accuracy_std[k]);
      cJSON_AddNumberToObject(p, "auc", r->part_auc[k]);
    }
  }
  cJSON_AddNumberToObject(o, "pairs", r->pairs);
  cJSON_AddNumberToObject(o, "images", r->images);
  cJSON_AddNumberToObject(o, "no_face", r->no_face);
  cJSON_AddNumberToObject(o, "subject_at_low_score", r->subjects[FK_SUBJECT_LOW_SCORE]);
  cJSON_AddNumberToObject(o, "subject_off_centre", r->subjects[FK_SUBJECT_OFF_CENTRE]);
  cJSON_AddNumberToObject(o, "embedded_whole_image", r->subjects[FK_SUBJECT_WHOLE_IMAGE]);
  cJSON_AddStringToObject(o, "metric", fk_metric_name(r->metric));
  cJSON_AddStringToObject(o, "codes", r->codes == FK_CODES_INT8 ? "int8" : "f32");
  fk_json_add_pipeline(o, NULL, &c->opt, 1);
  cJSON_AddNumberToObject(o, "jobs", jobs);
  cJSON_AddNumberToObject(o, "seconds", r->seconds);
  return o;
}

int cmd_eval(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    cli_common c;
    cli_common_init(&c);
    fputs(help, stdout);
    cli_common_help(&c);
    return argc < 2 ? EXIT_USAGE : EXIT_OK;
  }
  if (!strcmp(argv[1], "retrieval")) return cmd_eval_retrieval(argc - 1, argv + 1);
  if (!strcmp(argv[1], "cluster")) return cmd_eval_cluster(argc - 1, argv + 1);
  if (!strcmp(argv[1], "gender")) return cmd_eval_gender(argc - 1, argv + 1);
  if (strcmp(argv[1], "lfw"))
    return cli_usage("eval ", "unknown benchmark '%s' (try: lfw, retrieval, cluster, gender)", argv[1]);
  cli_common c;
  cli_common_init(&c);
  const char *root = NULL, *pairs_file = NULL;
  int metric = FK_METRIC_COSINE, codes = FK_CODES_F32;
  fk_eval_options eo;
  cli_eval_options_init(&eo);
  int i = 1, code;
  while (cli_next_arg(&c, argc, argv, &i, help, &code)) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--root") && v) root = argv[++i];
    else if (!strcmp(a, "--pairs") && v) pairs_file = argv[++i];
    else if (!strcmp(a, "--metric") && v) {
      if ((metric = fk_metric_from_name(argv[++i])) < 0)
        return cli_usage("eval ", "--metric must be cosine, euclidean or euclidean_l2");
    } else if (!strcmp(a, "--codes") && v) {
      if ((codes = cli_parse_codes(argv[++i])) < 0) return cli_usage("eval ", "--codes must be f32 or int8");
    } else if (!strcmp(a, "--jobs") && v) {
      if (cli_parse_int(argv[++i], 1, 256, &eo.jobs)) return cli_usage("eval ", "--jobs must be in [1, 256]");
    } else {
      return cli_usage("eval ", "unknown or incomplete option '%s'", a);
    }
  }
  if (code != CLI_ARGS_END) return code;
  if (!root || !pairs_file) return cli_usage("eval ", "eval lfw needs --root DIR and --pairs FILE");
  fk_models *m = NULL;
  if (fk_models_open(c.models_dir, cli_embed_nets(&c.opt), &m) != FK_OK) {
    int rc = cli_error(EXIT_FAIL, NULL, "%s", fk_models_errmsg(m));
    fk_models_free(m);
    return rc;
  }
  fk_lfw_result r;
  char err[1024] = "";
  int rc = fk_eval_lfw(m, &c.opt, root, pairs_file, metric, codes, &eo, &r, err, sizeof err);
  fk_models_free(m);
  if (rc) return cli_error(EXIT_FAIL, NULL, "%s", err);
  cli_print(lfw_json(&r, &c, cli_jobs(&eo)));
  return EXIT_OK;
}
