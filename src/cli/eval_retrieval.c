/*
 * eval_retrieval.c - `facekit eval retrieval --db FILE`: retrieval quality
 * of an identity-labelled index (fk_store_eval_retrieval): P@1, P@5 and mAP
 * when every image of an identity with >= 2 images queries all the others.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char help[] =
    "usage: facekit eval retrieval [--db INDEX] [--metric M] [--codes f32|int8] [--jobs N]\n"
    "Retrieval on an index whose images are labelled by folder (facekit index on LFW).\n"
    "Each image is represented by the face nearest its centre (LFW centres every photo\n"
    "on its subject); every image of an identity with >= 2 images is a query against\n"
    "all other images. Images without a face count: as queries they score 0, as\n"
    "relevant items they are never found. Prints\n"
    "{\"queries\",\"p_at_1\",\"p_at_5\",\"map\",\"identities\",\"gallery\",\"no_face_queries\",\n"
    "\"p_at_1_with_face\",\"map_with_face\",\"metric\",\"codes\",\"seconds\"}\n"
    "  --db INDEX         the index: a SQLite file (default facekit.db) or postgresql://...\n"
    "  --metric M         cosine (default), euclidean or euclidean_l2\n"
    "  --codes f32|int8   rank with the float vectors (default) or the int8 codes\n"
    "  --jobs N           threads (default: all cores)\n\n";

int cmd_eval_retrieval(int argc, char **argv) {
  const char *db = "facekit.db";
  int metric = FK_METRIC_COSINE, codes = FK_CODES_F32, jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (jobs < 1) jobs = 1;
  int i = 0, code;
  while (cli_next_arg(NULL, argc, argv, &i, help, &code)) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v || strncmp(a, "--", 2)) return cli_usage("eval retrieval ", "unknown or incomplete option '%s'", a);
    if (!strcmp(a, "--db")) {
      db = v;
    } else if (!strcmp(a, "--metric")) {
      if ((metric = fk_metric_from_name(v)) < 0)
        return cli_usage("eval retrieval ", "--metric must be cosine, euclidean or euclidean_l2");
    } else if (!strcmp(a, "--codes")) {
      if (strcmp(v, "f32") && strcmp(v, "int8")) return cli_usage("eval retrieval ", "--codes must be f32 or int8");
      codes = !strcmp(v, "int8") ? FK_CODES_INT8 : FK_CODES_F32;
    } else if (!strcmp(a, "--jobs")) {
      if (cli_parse_int(v, 1, 256, &jobs)) return cli_usage("eval retrieval ", "--jobs must be in [1, 256]");
    } else {
      return cli_usage("eval retrieval ", "unknown option '%s'", a);
    }
  }
  if (code != CLI_ARGS_END) return code;
  fk_store *st = NULL;
  fk_retrieval r;
  int rc;
  if (fk_store_open(db, FK_STORE_READ, &st) || fk_store_eval_retrieval(st, metric, codes, jobs, &r)) {
    rc = cli_error(EXIT_FAIL, NULL, "%s", fk_store_errmsg(st));
  } else if (r.queries == 0) {
    rc = cli_error(EXIT_FAIL, NULL, "%s has no identity with two or more images: nothing to query "
                   "(index a tree of PERSON/IMAGE folders)", db);
  } else {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "queries", (double)r.queries);
    cJSON_AddNumberToObject(o, "p_at_1", r.p_at_1);
    cJSON_AddNumberToObject(o, "p_at_5", r.p_at_5);
    cJSON_AddNumberToObject(o, "map", r.map);
    cJSON_AddNumberToObject(o, "identities", (double)r.identities);
    cJSON_AddNumberToObject(o, "gallery", (double)r.gallery);
    cJSON_AddNumberToObject(o, "no_face_queries", (double)r.no_face_queries);
    cJSON_AddNumberToObject(o, "p_at_1_with_face", r.p_at_1_with_face);
    cJSON_AddNumberToObject(o, "map_with_face", r.map_with_face);
    cJSON_AddStringToObject(o, "metric", fk_metric_name(metric));
    cJSON_AddStringToObject(o, "codes", codes == FK_CODES_INT8 ? "int8" : "f32");
    cJSON_AddNumberToObject(o, "jobs", jobs);
    cJSON_AddNumberToObject(o, "seconds", r.seconds);
    cli_print(o);
    rc = EXIT_OK;
  }
  fk_store_close(st);
  return rc;
}
