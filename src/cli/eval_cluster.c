/*
 * eval_cluster.c - `facekit eval cluster --db INDEX`: how well the central
 * faces of an index group into persons (fk_store_eval_cluster), against the
 * persons the paths' folders name, with Immich's and DBSCAN's clusterings
 * of the same faces as baselines.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char help[] =
    "usage: facekit eval cluster [--db INDEX] [--link S] [--strict S] [-k N] [--ann] [--jobs N] [--no-baselines]\n"
    "Clusters the face nearest each image's centre into persons and scores the result\n"
    "against the persons the images' parent folders name (LFW's layout; the method\n"
    "never sees them). Prints {\"bcubed\":{\"precision\",\"recall\",\"f\"},\"pairwise\":{...},\n"
    "\"persons\",\"true_persons\",\"unclustered\",\"faces\",\"seconds\",\"baselines\":{...}}\n"
    "  --db INDEX      the index (default facekit.db)\n"
    "  --link S        mean cosine similarity at which large persons merge (0.40)\n"
    "  --strict S      how much more two small ones need: link + S / sqrt(a b) (0.12)\n"
    "  -k N            neighbours per face in the graph (32)\n"
    "  --jobs N        threads (default: all cores)\n"
    "  --no-baselines  leave out Immich's and DBSCAN's sweeps\n"
    "  --ann           find the neighbours through an HNSW graph (faiss), as for\n"
    "                  millions of faces, instead of exactly\n\n";

static cJSON *scores_json(cJSON *o, const fk_cluster_scores *s) {
  cJSON *b = cJSON_AddObjectToObject(o, "bcubed"), *p = cJSON_AddObjectToObject(o, "pairwise");
  cJSON_AddNumberToObject(b, "precision", s->bcubed_p);
  cJSON_AddNumberToObject(b, "recall", s->bcubed_r);
  cJSON_AddNumberToObject(b, "f", s->bcubed_f);
  cJSON_AddNumberToObject(p, "precision", s->pair_p);
  cJSON_AddNumberToObject(p, "recall", s->pair_r);
  cJSON_AddNumberToObject(p, "f", s->pair_f);
  cJSON_AddNumberToObject(o, "persons", (double)s->clusters);
  cJSON_AddNumberToObject(o, "true_persons", (double)s->true_clusters);
  cJSON_AddNumberToObject(o, "unclustered", (double)s->unclustered);
  return o;
}

static void baseline_json(cJSON *o, const char *key, const fk_cluster_baseline *b) {
  cJSON *x = scores_json(cJSON_AddObjectToObject(o, key), &b->s);
  cJSON_AddNumberToObject(x, "max_distance", fk_json_float(b->distance));
  cJSON_AddNumberToObject(x, "min_faces", b->min_faces);
}

int cmd_eval_cluster(int argc, char **argv) {
  const char *db = "facekit.db";
  fk_cluster_eval_options o;
  fk_cluster_eval_options_init(&o);
  o.threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (o.threads < 1) o.threads = 1;
  int i = 0, code;
  while (cli_next_arg(NULL, argc, argv, &i, help, &code)) {
    const char *a = argv[i];
    if (!strcmp(a, "--no-baselines")) {
      o.baselines = 0;
      continue;
    }
    if (!strcmp(a, "--ann")) {
      o.ann = 1;
      continue;
    }
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v || a[0] != '-') return cli_usage("eval cluster ", "unknown or incomplete option '%s'", a);
    if (!strcmp(a, "--db")) db = v;
    else if (!strcmp(a, "--link")) {
      if (cli_parse_float(v, -0.999, 0.999, &o.link)) return cli_usage("eval cluster ", "--link must be in (-1, 1)");
    } else if (!strcmp(a, "--strict")) {
      if (cli_parse_float(v, 0, 1, &o.strict)) return cli_usage("eval cluster ", "--strict must be in [0, 1]");
    } else if (!strcmp(a, "-k")) {
      if (cli_parse_int(v, 1, 1024, &o.k)) return cli_usage("eval cluster ", "-k must be in [1, 1024]");
    } else if (!strcmp(a, "--jobs")) {
      if (cli_parse_int(v, 1, 256, &o.threads)) return cli_usage("eval cluster ", "--jobs must be in [1, 256]");
    } else {
      return cli_usage("eval cluster ", "unknown option '%s'", a);
    }
  }
  if (code != CLI_ARGS_END) return code;
  fk_store *st = NULL;
  fk_cluster_eval r;
  int rc;
  if (fk_store_open(db, FK_STORE_READ, &st) || fk_store_eval_cluster(st, &o, &r)) {
    rc = cli_error(EXIT_FAIL, NULL, "%s", fk_store_errmsg(st));
  } else {
    cJSON *x = scores_json(cJSON_CreateObject(), &r.s);
    cJSON_AddNumberToObject(x, "faces", (double)r.faces);
    cJSON_AddNumberToObject(x, "link", fk_json_float(o.link));
    cJSON_AddNumberToObject(x, "strict", fk_json_float(o.strict));
    cJSON_AddNumberToObject(x, "k", o.k);
    cJSON_AddStringToObject(x, "graph", o.ann ? "ann" : "exact");
    cJSON_AddNumberToObject(x, "graph_seconds", r.graph_seconds);
    cJSON_AddNumberToObject(x, "cluster_seconds", r.cluster_seconds);
    if (o.baselines) {
      cJSON *b = cJSON_AddObjectToObject(x, "baselines");
      baseline_json(b, "immich_defaults", &r.immich_default);
      baseline_json(b, "immich_best", &r.immich_best);
      baseline_json(b, "immich_best_pairwise", &r.immich_best_pairwise);
      baseline_json(b, "dbscan_best", &r.dbscan_best);
    }
    cJSON_AddNumberToObject(x, "jobs", o.threads);
    cJSON_AddNumberToObject(x, "seconds", r.seconds);
    cli_print(x);
    rc = EXIT_OK;
  }
  fk_store_close(st);
  return rc;
}
