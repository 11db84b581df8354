/*
 * eval.c - `facekit eval lfw`: verification accuracy on LFW's standard
 * 10-fold protocol (pairs.txt: 10 folds of 300 matched + 300 mismatched
 * pairs). For each fold the threshold is fitted on the other nine and tested
 * on it. The face compared is the photo's subject, the one at its centre
 * (LFW centres each photo on its subject). Every pair counts: when the
 * default detector finds no face there, detection is retried with a low score
 * threshold, then the face nearest the centre is used, then the whole image
 * (DeepFace's enforce_detection=false); the count of each case is reported.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char help[] =
    "usage: facekit eval lfw --root DIR --pairs FILE [--metric M] [--codes C] [--jobs N] [options]\n"
    "LFW verification, standard 10-fold protocol. Prints\n"
    "{\"accuracy_mean\",\"accuracy_std\",\"auc\",\"tar_at_far_1e-3\",\"pairs\",\"no_face\",...}\n"
    "  --root DIR    the LFW image folder (PERSON/PERSON_NNNN.jpg)\n"
    "  --pairs FILE  pairs.txt\n"
    "  --metric M    cosine (default), euclidean or euclidean_l2\n"
    "  --codes C     f32 (default), or int8: compare the dim-byte codes an index\n"
    "                stores (each unit vector quantized, scaled back to its norm)\n"
    "  --jobs N      worker threads, one session each (default: all cores)\n\n";

typedef struct pair {
  int a, b;   /* image indices */
  int same;
  int fold;
} pair;

typedef struct image_job {
  char *path;
  float *emb;   /* dim floats, in eval_ctx.embs */
  int how;      /* 0 subject found at the default score, 1 only at a low
                   score, 2 no central face (nearest one used), 3 whole
                   image, -1 error */
  int no_face;  /* no face at all at the default score */
} image_job;

typedef struct eval_ctx {
  const cli_common *c;
  image_job *imgs;
  int nimgs;
  int dim;      /* the model's embedding width */
  float *embs;  /* [nimgs][dim] */
} eval_ctx;

/* Finds or adds the image NAME/NAME_%04d.jpg. Linear probing on a small
 * open-addressing table keyed by path. */
typedef struct path_table {
  char **keys;
  int *vals;
  size_t cap;
} path_table;

static size_t hash_str(const char *s) {
  size_t h = 1469598103934665603ull;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
  return h;
}

static int image_index(path_table *t, eval_ctx *e, const char *root, const char *name, int num) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s/%s_%04d.jpg", root, name, name, num);
  size_t i = hash_str(path) & (t->cap - 1);
  while (t->keys[i]) {
    if (!strcmp(t->keys[i], path)) return t->vals[i];
    i = (i + 1) & (t->cap - 1);
  }
  char *dup = strdup(path);
  if (!dup) return -1;
  t->keys[i] = dup;
  t->vals[i] = e->nimgs;
  e->imgs[e->nimgs].path = dup;
  return e->nimgs++;
}

/* Reads pairs.txt; returns the number of pairs or -1 (message printed). */
static int read_pairs(const char *file, const char *root, eval_ctx *e, path_table *t, pair **out) {
  FILE *f = fopen(file, "r");
  if (!f) return cli_error(EXIT_FAIL, NULL, "%s: cannot open pairs file", file), -1;
  int folds, per;
  if (fscanf(f, "%d %d", &folds, &per) != 2 || folds < 2 || per < 1 || folds > 100 || per > 100000) {
    fclose(f);
    return cli_error(EXIT_FAIL, NULL,
                     "%s: first line must be 'FOLDS PAIRS_PER_FOLD' with at least 2 folds", file), -1;
  }
  int n = folds * per * 2;
  pair *p = calloc((size_t)n, sizeof *p);
  e->imgs = calloc((size_t)n * 2, sizeof *e->imgs);
  t->cap = 1;
  while (t->cap < (size_t)n * 4) t->cap <<= 1;
  t->keys = calloc(t->cap, sizeof *t->keys);
  t->vals = calloc(t->cap, sizeof *t->vals);
  if (!p || !e->imgs || !t->keys || !t->vals) {
    fclose(f);
    free(p);
    return cli_error(EXIT_FAIL, NULL, "out of memory"), -1;
  }
  char line[1024];
  int k = 0;
  fgets(line, sizeof line, f); /* rest of the header line */
  while (k < n && fgets(line, sizeof line, f)) {
    char n1[256], n2[256];
    int i1, i2;
    int fold = k / (2 * per), same = (k % (2 * per)) < per;
    int ok = same ? sscanf(line, "%255s %d %d", n1, &i1, &i2) == 3
                  : sscanf(line, "%255s %d %255s %d", n1, &i1, n2, &i2) == 4;
    if (!ok) {
      fclose(f);
      free(p);
      return cli_error(EXIT_FAIL, NULL, "%s: malformed pair line %d: %s", file, k + 2, line), -1;
    }
    p[k].a = image_index(t, e, root, n1, i1);
    p[k].b = image_index(t, e, root, same ? n1 : n2, i2);
    p[k].same = same;
    p[k].fold = fold;
    if (p[k].a < 0 || p[k].b < 0) {
      fclose(f);
      free(p);
      return cli_error(EXIT_FAIL, NULL, "out of memory"), -1;
    }
    k++;
  }
  fclose(f);
  if (k != n) {
    free(p);
    return cli_error(EXIT_FAIL, NULL, "%s: expected %d pairs, found %d", file, n, k), -1;
  }
  *out = p;
  return n;
}

/* Embeds the subject of one image (cli_lfw_subject), else the whole image. */
static void embed_one(void *user, fk_session **ss, int i) {
  eval_ctx *e = user;
  fk_session *s = ss[0];
  image_job *j = &e->imgs[i];
  fk_image img = {0};
  j->how = -1;
  if (fk_image_load(j->path, e->c->opt.max_pixels, &img) != FK_OK) return;
  fk_face *face = malloc(sizeof *face);
  int how = face ? cli_lfw_subject(s, ss[1], &img, face, &j->no_face) : -1;
  if (how >= 0 && fk_represent(s, &img, face) == FK_OK) j->how = how;
  else if (face && fk_represent_chip(s, &img, face) == FK_OK) j->how = 3;
  if (j->how >= 0) memcpy(j->emb, face->embedding, (size_t)e->dim * sizeof *j->emb);
  free(face);
  fk_image_free(&img);
}

typedef struct scored { float d; int same; } scored;

static int cmp_scored(const void *a, const void *b) {
  float x = ((const scored *)a)->d, y = ((const scored *)b)->d;
  return (x > y) - (x < y);
}

/* The threshold that maximizes accuracy on v (sorted by distance), with
 * "same" predicted for d <= threshold; returns the accuracy. */
static double best_threshold(const scored *v, int n, float *thr) {
  int pos = 0;
  for (int i = 0; i < n; i++) pos += v[i].same;
  /* Predicting nothing "same": correct = negatives. Walk thresholds up. */
  int correct = n - pos, best = correct;
  *thr = v[0].d - 1e-6f;
  for (int i = 0; i < n; i++) {
    correct += v[i].same ? 1 : -1;
    if ((i + 1 == n || v[i + 1].d > v[i].d) && correct > best) {
      best = correct;
      *thr = i + 1 < n ? 0.5f * (v[i].d + v[i + 1].d) : v[i].d + 1e-6f;
    }
  }
  return (double)best / n;
}

/* Area under the ROC curve, by ranks (ties count half). */
static double auc(const scored *v, int n) {
  double pos = 0, neg = 0, sum_ranks = 0;
  for (int i = 0; i < n;) {
    int j = i;
    while (j < n && v[j].d == v[i].d) j++;
    double rank = (i + j + 1) / 2.0; /* 1-based average rank, ascending distance */
    for (int k = i; k < j; k++)
      if (v[k].same) sum_ranks += rank;
    i = j;
  }
  for (int i = 0; i < n; i++) v[i].same ? pos++ : neg++;
  /* Positives should have small distances: AUC = P(d_pos < d_neg). */
  double u = sum_ranks - pos * (pos + 1) / 2.0;
  return 1.0 - u / (pos * neg);
}

/* True-accept rate at the largest threshold whose false-accept rate <= far. */
static double tar_at_far(const scored *v, int n, double far) {
  int neg = 0, pos = 0;
  for (int i = 0; i < n; i++) v[i].same ? pos++ : neg++;
  int allowed = (int)floor(far * neg), fa = 0, ta = 0, best_ta = 0;
  for (int i = 0; i < n;) {
    int j = i, dfa = 0, dta = 0;
    while (j < n && v[j].d == v[i].d) {
      v[j].same ? dta++ : dfa++;
      j++;
    }
    if (fa + dfa > allowed) break;
    fa += dfa;
    ta += dta;
    best_ta = ta;
    i = j;
  }
  return pos ? (double)best_ta / pos : 0;
}

/* Distances of every pair under `metric`, into v. */
static void pair_distances(const pair *p, int n, const image_job *imgs, int dim, int metric, scored *v) {
  for (int i = 0; i < n; i++) {
    v[i].d = fk_distance(imgs[p[i].a].emb, imgs[p[i].b].emb, dim, metric);
    v[i].same = p[i].same;
  }
}

/* The protocol's figures under `metric`, plus the best threshold of every
 * metric fitted on all pairs (how the library's defaults were chosen). */
static cJSON *protocol(const pair *p, int n, const image_job *imgs, int dim, int metric) {
  scored *all = malloc((size_t)n * sizeof *all), *train = malloc((size_t)n * sizeof *train);
  int folds = p[n - 1].fold + 1;
  double *acc = calloc((size_t)folds, sizeof *acc);
  cJSON *o = cJSON_CreateObject();
  if (!all || !train || !acc) goto out;
  pair_distances(p, n, imgs, dim, metric, all);
  double mean = 0, var = 0;
  for (int f = 0; f < folds; f++) {
    int nt = 0, correct = 0, ntest = 0;
    for (int i = 0; i < n; i++)
      if (p[i].fold != f) train[nt++] = all[i];
    qsort(train, (size_t)nt, sizeof *train, cmp_scored);
    float thr;
    best_threshold(train, nt, &thr);
    for (int i = 0; i < n; i++)
      if (p[i].fold == f) {
        ntest++;
        correct += (all[i].d <= thr) == all[i].same;
      }
    acc[f] = (double)correct / ntest;
    mean += acc[f] / folds;
  }
  for (int f = 0; f < folds; f++) var += (acc[f] - mean) * (acc[f] - mean) / folds;
  qsort(all, (size_t)n, sizeof *all, cmp_scored);
  cJSON_AddNumberToObject(o, "accuracy_mean", mean);
  cJSON_AddNumberToObject(o, "accuracy_std", sqrt(var));
  cJSON_AddNumberToObject(o, "auc", auc(all, n));
  cJSON_AddNumberToObject(o, "tar_at_far_1e-3", tar_at_far(all, n, 1e-3));
  cJSON *fits = cJSON_AddObjectToObject(o, "thresholds_all_pairs");
  for (int m = FK_METRIC_COSINE; m <= FK_METRIC_EUCLIDEAN_L2; m++) {
    float thr;
    pair_distances(p, n, imgs, dim, m, train);
    qsort(train, (size_t)n, sizeof *train, cmp_scored);
    double a = best_threshold(train, n, &thr);
    cJSON *f = cJSON_AddObjectToObject(fits, fk_metric_name(m));
    cJSON_AddNumberToObject(f, "threshold", thr);
    cJSON_AddNumberToObject(f, "accuracy", a);
  }
out:
  free(all);
  free(train);
  free(acc);
  return o;
}

/* Replaces an embedding by its int8 code, as the index stores it: the unit
 * vector quantized, then scaled back to the original norm so that every
 * metric still applies. */
static void quantize_in_place(float *emb, int dim) {
  float unit[FK_EMBED_MAX];
  int8_t code[FK_EMBED_MAX];
  double norm = 0;
  for (int i = 0; i < dim; i++) norm += (double)emb[i] * emb[i];
  norm = sqrt(norm);
  memcpy(unit, emb, (size_t)dim * sizeof *unit);
  fk_l2_normalize(unit, dim);
  fk_quantize_i8(unit, code, dim);
  for (int i = 0; i < dim; i++) emb[i] = (float)(code[i] / 127.0 * norm);
}

int cmd_eval(int argc, char **argv) {
  if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("%s%s", help, cli_common_help);
    return argc < 2 ? EXIT_USAGE : EXIT_OK;
  }
  if (!strcmp(argv[1], "retrieval")) return cmd_eval_retrieval(argc - 1, argv + 1);
  if (!strcmp(argv[1], "gender")) return cmd_eval_gender(argc - 1, argv + 1);
  if (strcmp(argv[1], "lfw"))
    return cli_usage("eval ", "unknown benchmark '%s' (try: lfw, retrieval, gender)", argv[1]);
  cli_common c;
  cli_common_init(&c);
  const char *root = NULL, *pairs_file = NULL;
  int metric = FK_METRIC_COSINE, jobs = (int)sysconf(_SC_NPROCESSORS_ONLN), int8 = 0;
  if (jobs < 1) jobs = 1;
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
      const char *cv = argv[++i];
      if (strcmp(cv, "f32") && strcmp(cv, "int8")) return cli_usage("eval ", "--codes must be f32 or int8");
      int8 = !strcmp(cv, "int8");
    } else if (!strcmp(a, "--jobs") && v) {
      if (cli_parse_int(argv[++i], 1, 256, &jobs)) return cli_usage("eval ", "--jobs must be in [1, 256]");
    } else {
      return cli_usage("eval ", "unknown or incomplete option '%s'", a);
    }
  }
  if (code != CLI_ARGS_END) return code;
  if (!root || !pairs_file) return cli_usage("eval ", "eval lfw needs --root DIR and --pairs FILE");

  eval_ctx e = {.c = &c};
  path_table t = {0};
  pair *p = NULL;
  fk_models *m = NULL;
  int rc = EXIT_FAIL;
  int n = read_pairs(pairs_file, root, &e, &t, &p);
  if (n < 0) goto out;
  e.dim = fk_model_dim(c.opt.model);
  if (!(e.embs = calloc((size_t)e.nimgs * (size_t)e.dim, sizeof *e.embs))) {
    rc = cli_error(EXIT_FAIL, NULL, "out of memory");
    goto out;
  }
  for (int k = 0; k < e.nimgs; k++) e.imgs[k].emb = e.embs + (size_t)k * e.dim;
  if (fk_models_open(c.models_dir, cli_embed_nets(&c.opt), &m) != FK_OK) {
    rc = cli_error(EXIT_FAIL, NULL, "%s", fk_models_errmsg(m));
    goto out;
  }
  double t0 = cli_now_ms();
  fk_options opts[2];
  cli_lfw_sessions(&c.opt, opts);
  if (cli_for_each_image(m, opts, 2, e.nimgs, jobs, embed_one, &e)) goto out;
  double secs = (cli_now_ms() - t0) / 1000.0;

  int count[4] = {0, 0, 0, 0}, errors = 0, no_face = 0;
  for (int i = 0; i < e.nimgs; i++) {
    no_face += e.imgs[i].no_face;
    if (e.imgs[i].how < 0) {
      errors++;
      fprintf(stderr, "facekit: %s: could not be embedded\n", e.imgs[i].path);
    } else {
      count[e.imgs[i].how]++;
    }
  }
  if (errors) {
    rc = cli_error(EXIT_FAIL, NULL, "%d images could not be read or embedded", errors);
    goto out;
  }
  if (int8)
    for (int k = 0; k < e.nimgs; k++) quantize_in_place(e.imgs[k].emb, e.dim);
  cJSON *o = protocol(p, n, e.imgs, e.dim, metric);
  cJSON_AddNumberToObject(o, "pairs", n);
  cJSON_AddNumberToObject(o, "images", e.nimgs);
  cJSON_AddNumberToObject(o, "no_face", no_face);
  cJSON_AddNumberToObject(o, "subject_at_low_score", count[1]);
  cJSON_AddNumberToObject(o, "subject_off_centre", count[2]);
  cJSON_AddNumberToObject(o, "embedded_whole_image", count[3]);
  cJSON_AddStringToObject(o, "metric", fk_metric_name(metric));
  cJSON_AddStringToObject(o, "codes", int8 ? "int8" : "f32");
  cli_add_pipeline(o, NULL, &c.opt, 1);
  cJSON_AddNumberToObject(o, "jobs", jobs);
  cJSON_AddNumberToObject(o, "seconds", secs);
  cli_print(o);
  rc = EXIT_OK;
out:
  for (size_t i = 0; i < t.cap; i++) free(t.keys[i]);
  free(t.keys);
  free(t.vals);
  free(e.imgs);
  free(e.embs);
  free(p);
  fk_models_free(m);
  return rc;
}
