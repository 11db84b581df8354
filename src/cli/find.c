/*
 * find.c - `facekit find IMG --db FILE`: who in an index looks like the
 * face in IMG. Embeds the query with the index's own preprocessing, runs
 * the library's search (exact, or ANN for a big index) over the shared
 * vectors (fk_vectors_search) and prints the matches as
 * JSON; --html / --sheet hand the same results to find_report.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/clock.h"
#include "cli/cli.h"
#include "cli/find_report.h"

static const char help[] =
    "usage: facekit find IMG [--db INDEX] [-k N] [--metric M] [--threshold T] [options]\n"
    "Searches the index for the faces nearest to the largest face in IMG. Prints\n"
    "{\"query\":{\"box\",\"score\"},\"matches\":[{\"rank\",\"identity\",\"path\",\"box\",\"distance\",\n"
    "\"similarity\",\"same_person\"}...],\"searched\",\"time_ms\",\"timings_ms\":{...}}\n"
    "(time_ms: search and result lookup, once the index is open and loaded).\n"
    "  --db INDEX          the index: a SQLite file (default facekit.db) or postgresql://...\n"
    "  -k N                matches wanted (default 10)\n"
    "  --metric M          cosine (default), euclidean or euclidean_l2\n"
    "  --threshold T       keep only matches with distance <= T (default: keep k);\n"
    "                      same_person uses T, else the metric's default threshold\n"
    "  --all-faces         search every face of IMG: prints {\"queries\":[{\"query\",\"matches\"}...]}\n"
    "  --codes f32|int8    search the float vectors (default) or the int8 codes\n"
    "  --search-threads N  threads for the scan (default 1)\n"
    "  --search M          exact, ann (HNSW graph, cached in FILE.faiss, candidates\n"
    "                      ranked exactly) or auto (default: ann from 50000 faces)\n"
    "  --ef N              ann: candidates explored (default 384); more is slower\n"
    "                      and nearer to exact\n"
    "  --html OUT.html     also write a self-contained page with the thumbnails\n"
    "  --sheet OUT.png     also write the results as one contact-sheet image\n"
    "                      (at most 50 tiles a query face)\n"
    "  --root DIR          the photos of an index built with --root DIR: its stored\n"
    "                      relative paths are below DIR, for --html and --sheet\n"
    "                      (default: below the working directory)\n"
    "The query is embedded with the index's recorded pipeline options; --align or\n"
    "--flip different from the index's are refused, detector options may differ.\n"
    "No face in IMG: exit 3.\n\n";

typedef struct find_args {
  const char *img, *db, *html, *sheet, *root;
  fk_search_options so;
  int all_faces, threshold_given;
} find_args;

/* Parses find's own options; shared ones are skipped here (parsed later
 * over the index's recorded options). Returns -1 to go on, else an exit. */
static int parse(int argc, char **argv, find_args *a) {
  cli_common scratch;
  cli_common_init(&scratch);
  int i = 0, code;
  while (cli_next_arg(&scratch, argc, argv, &i, help, &code)) {
    const char *s = argv[i];
    if (!strcmp(s, "--all-faces")) {
      a->all_faces = 1;
      continue;
    }
    static const char *const valued[] = {"--db", "-k", "--k", "--metric", "--threshold", "--codes",
                                         "--search-threads", "--search", "--ef", "--html", "--sheet", "--root"};
    int known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= !strcmp(s, valued[k]);
    if (!known) {
      if (cli_is_option(s)) return cli_usage("find ", "unknown option '%s'", s);
      if (a->img) return cli_usage("find ", "one query image at a time, got '%s' and '%s'", a->img, s);
      a->img = s;
      continue;
    }
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v) return cli_usage("find ", "%s needs a value", s);
    if (!strcmp(s, "--db")) a->db = v;
    else if (!strcmp(s, "--html")) a->html = v;
    else if (!strcmp(s, "--sheet")) a->sheet = v;
    else if (!strcmp(s, "--root")) {
      struct stat sb;
      if (stat(v, &sb) || !S_ISDIR(sb.st_mode)) return cli_usage("find ", "--root %s is not a directory", v);
      a->root = v;
    }
    else if (!strcmp(s, "-k") || !strcmp(s, "--k")) {
      if (cli_parse_int(v, 1, 10000, &a->so.k)) return cli_usage("find ", "-k must be in [1, 10000], not '%s'", v);
    } else if (!strcmp(s, "--metric")) {
      if ((a->so.metric = fk_metric_from_name(v)) < 0)
        return cli_usage("find ", "--metric must be cosine, euclidean or euclidean_l2, not '%s'", v);
    } else if (!strcmp(s, "--threshold")) {
      if (cli_parse_float(v, 0, 1e6, &a->so.threshold))
        return cli_usage("find ", "--threshold must be a number >= 0, not '%s'", v);
      a->threshold_given = 1;
    } else if (!strcmp(s, "--codes")) {
      if (!strcmp(v, "f32")) a->so.codes = FK_CODES_F32;
      else if (!strcmp(v, "int8")) a->so.codes = FK_CODES_INT8;
      else return cli_usage("find ", "--codes must be f32 or int8, not '%s'", v);
    } else if (!strcmp(s, "--search")) {
      if ((a->so.search = cli_search_method(v)) < 0)
        return cli_usage("find ", "--search must be exact, ann or auto, not '%s'", v);
    } else if (!strcmp(s, "--ef")) {
      if (cli_parse_int(v, 1, 100000, &a->so.ef)) return cli_usage("find ", "--ef must be in [1, 100000], not '%s'", v);
    } else if (cli_parse_int(v, 1, 256, &a->so.threads)) {
      return cli_usage("find ", "--search-threads must be in [1, 256], not '%s'", v);
    }
  }
  if (code != CLI_ARGS_END) return code;
  if (!a->img) return cli_usage("find ", "missing IMG");
  return -1;
}

typedef struct find_state {
  fk_store *st;
  fk_models *m;
  fk_session *s;
  fk_image img;
  fk_face *faces;
  fk_api_query *q;
  int nq;
} find_state;

static void find_free(find_state *f) {
  for (int i = 0; i < f->nq; i++) free(f->q[i].hits);
  free(f->q);
  free(f->faces);
  fk_session_free(f->s);
  fk_models_free(f->m);
  fk_image_free(&f->img);
  fk_store_close(f->st);
}

/* Opens the index, and the pipeline with the index's options overridden by
 * the shared options given on the command line. */
static int open_all(find_state *f, const find_args *a, int argc, char **argv, cli_common *c) {
  if (fk_store_open(a->db, FK_STORE_READ, &f->st))
    return cli_error(EXIT_FAIL, NULL, "%s", fk_store_errmsg(f->st));
  fk_store_info info;
  if (fk_store_get_info(f->st, &info)) return cli_error(EXIT_FAIL, NULL, "%s", fk_store_errmsg(f->st));
  if (!info.has_model || info.faces == 0)
    return cli_error(EXIT_FAIL, NULL, "%s holds no faces yet (run `facekit index DIR --db %s`)", a->db, a->db);
  cli_common_init(c);
  c->opt = info.opt;
  for (int i = 1; i < argc; i++) cli_common_parse(c, argc, argv, &i);
  unsigned nets = cli_embed_nets(&c->opt);
  if (fk_models_open(c->models_dir, nets, &f->m)) return cli_error(EXIT_FAIL, NULL, "%s", fk_models_errmsg(f->m));
  if (fk_store_check(f->st, f->m, &c->opt, 0)) return cli_error(EXIT_FAIL, NULL, "%s", fk_store_errmsg(f->st));
  if (fk_session_new(f->m, &c->opt, &f->s)) return cli_error(EXIT_FAIL, NULL, "%s", fk_session_errmsg(f->s));
  return EXIT_OK;
}

/* Detects and embeds the query faces: the largest, or all. */
static int embed_query(find_state *f, const find_args *a, const cli_common *c) {
  int rc = cli_load_image(c, a->img, &f->img);
  if (rc) return rc;
  int cap = c->opt.max_faces, n = 0;
  if (!(f->faces = calloc((size_t)cap, sizeof *f->faces))) return cli_error(EXIT_FAIL, NULL, "out of memory");
  if (fk_detect(f->s, &f->img, f->faces, cap, &n))
    return cli_error(EXIT_FAIL, NULL, "%s: %s", a->img, fk_session_errmsg(f->s));
  if (n > cap) n = cap;
  if (n == 0) return cli_no_face(a->img);
  int first = a->all_faces ? 0 : fk_largest_face(f->faces, n);
  f->nq = a->all_faces ? n : 1;
  if (!(f->q = calloc((size_t)f->nq, sizeof *f->q))) return cli_error(EXIT_FAIL, NULL, "out of memory");
  for (int i = 0; i < f->nq; i++) {
    f->q[i].face = f->faces[first + i];
    if (fk_represent(f->s, &f->img, &f->q[i].face))
      return cli_error(EXIT_FAIL, NULL, "%s: %s", a->img, fk_session_errmsg(f->s));
  }
  return EXIT_OK;
}

static int write_reports(const find_state *f, const find_args *a, const find_report *rep) {
  char err[512];
  if (a->html && find_write_html(rep, a->html, err, sizeof err)) return cli_error(EXIT_FAIL, NULL, "%s", err);
  if (a->sheet && find_write_sheet(rep, a->sheet, err, sizeof err)) return cli_error(EXIT_FAIL, NULL, "%s", err);
  (void)f;
  return EXIT_OK;
}

int cmd_find(int argc, char **argv) {
  find_args a = {.db = "facekit.db"};
  fk_search_options_init(&a.so);
  int rc = parse(argc, argv, &a);
  if (rc >= 0) return rc;
  find_state f = {0};
  cli_common c;
  cli_common_init(&c);
  double t0 = fk_now_ms();
  if ((rc = open_all(&f, &a, argc, argv, &c)) || (rc = embed_query(&f, &a, &c))) goto out;
  double t1 = fk_now_ms();
  int64_t searched = 0;
  if (fk_store_load(f.st, &searched)) {
    rc = cli_error(EXIT_FAIL, NULL, "%s", fk_store_errmsg(f.st));
    goto out;
  }
  int method = fk_store_search_method(f.st, &a.so);
  if (method < 0 || (method == FK_SEARCH_ANN && fk_store_load_ann(f.st, 0))) {
    rc = cli_error(EXIT_FAIL, NULL, "%s", fk_store_errmsg(f.st));
    goto out;
  }
  double t2 = fk_now_ms();
  float same_thr = a.threshold_given ? a.so.threshold : fk_model_threshold(c.opt.model, a.so.metric);
  if (!a.threshold_given) a.so.threshold = -1;
  fk_vectors *vecs;
  char err[1024];
  if (fk_store_vectors(f.st, &vecs)) {
    rc = cli_error(EXIT_FAIL, NULL, "%s", fk_store_errmsg(f.st));
    goto out;
  }
  for (int i = 0; i < f.nq; i++)
    if (fk_api_find(vecs, f.st, &a.so, same_thr, &f.q[i], err, sizeof err)) {
      rc = cli_error(EXIT_FAIL, NULL, "%s: %s", a.db, err);
      goto out;
    }
  double t3 = fk_now_ms();
  cJSON *o = fk_json_find(f.q, f.nq, a.all_faces, searched, &a.so, same_thr);
  cJSON_AddStringToObject(o, "search", method == FK_SEARCH_ANN ? "ann" : "exact");
  if (method == FK_SEARCH_ANN) cJSON_AddNumberToObject(o, "ef", a.so.ef > 0 ? a.so.ef : FK_ANN_EF_DEFAULT);
  cJSON_AddNumberToObject(o, "time_ms", t3 - t2);
  cJSON *t = cJSON_AddObjectToObject(o, "timings_ms");
  cJSON_AddNumberToObject(t, "open_and_embed", t1 - t0);
  cJSON_AddNumberToObject(t, "load_vectors", t2 - t1); /* and the ANN graph, for ann */
  cJSON_AddNumberToObject(t, "search_and_lookup", t3 - t2);
  find_report rep = {.path = a.img, .img = &f.img, .q = f.q, .nq = f.nq, .metric = fk_metric_name(a.so.metric),
                     .codes = a.so.codes == FK_CODES_INT8 ? "int8" : "f32", .threshold = same_thr,
                     .searched = searched, .time_ms = t3 - t2, .max_pixels = c.opt.max_pixels,
                     .root = a.root};
  if ((rc = write_reports(&f, &a, &rep))) {
    cJSON_Delete(o);
    goto out;
  }
  if (a.html) cJSON_AddStringToObject(o, "html", a.html);
  if (a.sheet) cJSON_AddStringToObject(o, "sheet", a.sheet);
  cli_print(o);
  rc = EXIT_OK;
out:
  find_free(&f);
  return rc;
}
