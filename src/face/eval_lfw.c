/*
 * eval_lfw.c - fk_eval_lfw: verification accuracy on LFW's 10-fold protocol
 * (pairs.txt: a "FOLDS N" line, then per fold N matched "name i j" and N
 * mismatched "name1 i name2 j" pairs). For each fold the threshold is fitted
 * on the other folds and tested on it. The face compared is each photo's
 * subject (fk_subject), so every pair counts.
 *
 * A fused model's cosine is the weighted sum of its parts' cosines (see
 * represent.c), so the fit of the fusion weight needs only each pair's part
 * cosines: the parts are recovered from the fused vector (each slice
 * normalized), and per fold the first part's share is chosen on a grid to
 * maximize training accuracy, with its own threshold.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/clock.h"
#include "base/abi.h"
#include "base/hash.h"
#include "base/vec.h"
#include "face/eval.h"

typedef struct pair {
  int a, b; /* image indices */
  int same, fold;
} pair;

typedef struct image_job {
  char *path;
  float *emb;   /* dim floats, in lfw.embs */
  int how;      /* FK_SUBJECT_*, -1 when unreadable */
  int no_face;
} image_job;

typedef struct lfw {
  pair *p;
  int npairs, folds;
  image_job *imgs;
  int nimgs;
  int dim;
  float *embs;  /* [nimgs][dim] */
  size_t max_pixels;
  fk_map index; /* image by path (the keys are imgs[].path) */
} lfw;

/* The index of image root/NAME/NAME_%04d.jpg, added on first sight. */
static int image_index(lfw *e, const char *root, const char *name, int num) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s/%s_%04d.jpg", root, name, name, num);
  int64_t i = fk_map_get_str(&e->index, path);
  if (i >= 0) return (int)i;
  char *own = strdup(path);
  if (!own || fk_map_put_str(&e->index, own, e->nimgs)) {
    free(own);
    return -1;
  }
  e->imgs[e->nimgs].path = own;
  return e->nimgs++;
}

static int read_pairs(lfw *e, const char *file, const char *root, char *err, size_t errlen) {
  FILE *f = fopen(file, "r");
  if (!f) return fk_fail(err, errlen, FK_ENOENT, "%s: cannot open the pairs file", file);
  int folds, per, rc = FK_OK;
  if (fscanf(f, "%d %d", &folds, &per) != 2 || folds < 2 || per < 1 || folds > FK_LFW_MAX_FOLDS ||
      per > 100000) {
    fclose(f);
    return fk_fail(err, errlen, FK_EINVAL,
                        "%s: the first line must be 'FOLDS PAIRS_PER_FOLD' with at least 2 folds (at most %d)", file,
                        FK_LFW_MAX_FOLDS);
  }
  int n = folds * per * 2;
  e->folds = folds;
  e->p = calloc((size_t)n, sizeof *e->p);
  e->imgs = calloc((size_t)n * 2, sizeof *e->imgs);
  if (!e->p || !e->imgs) {
    fclose(f);
    return fk_fail(err, errlen, FK_ENOMEM, "out of memory");
  }
  char line[1024];
  int k = 0;
  if (!fgets(line, sizeof line, f)) line[0] = '\0'; /* the rest of the header line */
  while (rc == FK_OK && k < n && fgets(line, sizeof line, f)) {
    char n1[256], n2[256];
    int i1, i2, same = (k % (2 * per)) < per;
    int ok = same ? sscanf(line, "%255s %d %d", n1, &i1, &i2) == 3
                  : sscanf(line, "%255s %d %255s %d", n1, &i1, n2, &i2) == 4;
    if (!ok || i1 < 0 || i2 < 0 || i1 > 9999 || i2 > 9999) {
      line[strcspn(line, "\r\n")] = '\0';
      rc = fk_fail(err, errlen, FK_EINVAL, "%s: malformed pair line %d: '%s'", file, k + 2, line);
      break;
    }
    pair *p = &e->p[k++];
    p->a = image_index(e, root, n1, i1);
    p->b = image_index(e, root, same ? n1 : n2, i2);
    p->same = same;
    p->fold = (k - 1) / (2 * per);
    if (p->a < 0 || p->b < 0) rc = fk_fail(err, errlen, FK_ENOMEM, "out of memory");
  }
  fclose(f);
  if (rc == FK_OK && k != n)
    rc = fk_fail(err, errlen, FK_EINVAL, "%s: expected %d pairs, found %d", file, n, k);
  e->npairs = k;
  return rc;
}

/* Embeds the subject of one image. */
static void embed_one(fk_eval_ctx *c, int i, void *user) {
  lfw *e = user;
  image_job *j = &e->imgs[i];
  fk_session *s = c->s[0];
  fk_image img = {0};
  j->how = -1;
  int rc = fk_image_load(j->path, e->max_pixels, &img);
  if (rc) {
    fk_eval_report(c, j->path, fk_strerror(rc));
    return;
  }
  fk_face *face = malloc(sizeof *face);
  int how;
  rc = face ? fk_subject(s, &img, 1, face, &how, &j->no_face) : FK_ENOMEM;
  if (rc == FK_OK) {
    memcpy(j->emb, face->embedding, (size_t)e->dim * sizeof *j->emb);
    j->how = how;
  } else {
    fk_eval_report(c, j->path, face ? fk_session_errmsg(s) : "out of memory");
  }
  free(face);
  fk_image_free(&img);
}

/* ---- the protocol ----------------------------------------------------------- */

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

/* Area under the ROC curve, by ranks (ties count half); v sorted. */
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

/* True-accept rate at the largest threshold whose false-accept rate <= far;
 * v sorted. */
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

/* Per-fold accuracy with thresholds fitted on the other folds; all[] holds
 * every pair's distance in pair order, train[] is scratch. */
static void folds_accuracy(const lfw *e, const scored *all, scored *train, double *acc, double *mean,
                           double *sd) {
  *mean = *sd = 0;
  for (int f = 0; f < e->folds; f++) {
    int nt = 0, correct = 0, ntest = 0;
    for (int i = 0; i < e->npairs; i++)
      if (e->p[i].fold != f) train[nt++] = all[i];
    qsort(train, (size_t)nt, sizeof *train, cmp_scored);
    float thr;
    best_threshold(train, nt, &thr);
    for (int i = 0; i < e->npairs; i++)
      if (e->p[i].fold == f) {
        ntest++;
        correct += (all[i].d <= thr) == all[i].same;
      }
    acc[f] = (double)correct / ntest;
    *mean += acc[f] / e->folds;
  }
  for (int f = 0; f < e->folds; f++) *sd += (acc[f] - *mean) * (acc[f] - *mean) / e->folds;
  *sd = sqrt(*sd);
}

static void pair_distances(const lfw *e, int metric, scored *v) {
  for (int i = 0; i < e->npairs; i++) {
    v[i].d = fk_distance(e->imgs[e->p[i].a].emb, e->imgs[e->p[i].b].emb, e->dim, metric);
    v[i].same = e->p[i].same;
  }
}

/* Replaces an embedding by its int8 code, as the index stores it: the unit
 * vector quantized, then scaled back to the original norm so that every
 * metric still applies. */
static void quantize_in_place(float *emb, int dim) {
  float unit[FK_EMBED_MAX];
  int8_t code[FK_EMBED_MAX];
  double norm = fk_vec_norm(emb, dim);
  memcpy(unit, emb, (size_t)dim * sizeof *unit);
  fk_vec_normalize(unit, dim);
  fk_vec_quantize_i8(unit, code, dim);
  for (int i = 0; i < dim; i++) emb[i] = (float)(code[i] / 127.0 * norm);
}

#define FUSION_STEPS 100

/* cos[k][i]: pair i's cosine under part k of a two-part fused model. */
static void part_cosines(const lfw *e, const fk_model_def *md, float *cos[2]) {
  int d0 = fk_nets[md->part[0]].rec->dim, d1 = e->dim - d0;
  for (int i = 0; i < e->npairs; i++) {
    const float *a = e->imgs[e->p[i].a].emb, *b = e->imgs[e->p[i].b].emb;
    cos[0][i] = 1 - fk_distance(a, b, d0, FK_METRIC_COSINE);
    cos[1][i] = 1 - fk_distance(a + d0, b + d0, d1, FK_METRIC_COSINE);
  }
}

/* Fits the first part's share of the cosine on each fold's training folds
 * (grid of FUSION_STEPS) and tests it with a threshold fitted alongside. */
static void fit_fusion(const lfw *e, const fk_model_def *md, scored *train, fk_lfw_result *r) {
  float *cos[2] = {malloc((size_t)e->npairs * sizeof(float)), malloc((size_t)e->npairs * sizeof(float))};
  if (!cos[0] || !cos[1]) goto out;
  part_cosines(e, md, cos);
  double mean = 0, var = 0, acc[FK_LFW_MAX_FOLDS];
  for (int k = 0; k < 2; k++) {
    scored *part = malloc((size_t)e->npairs * sizeof *part);
    if (!part) goto out;
    for (int i = 0; i < e->npairs; i++) part[i] = (scored){1 - cos[k][i], e->p[i].same};
    folds_accuracy(e, part, train, acc, &r->part_accuracy_mean[k], &r->part_accuracy_std[k]);
    qsort(part, (size_t)e->npairs, sizeof *part, cmp_scored);
    r->part_auc[k] = auc(part, e->npairs);
    free(part);
  }
  r->fitted_weight_mean = 0;
  for (int f = 0; f < e->folds; f++) {
    double best = -1;
    float best_w = 0, best_thr = 0;
    for (int g = 0; g <= FUSION_STEPS; g++) {
      float w = (float)g / FUSION_STEPS, thr;
      int nt = 0;
      for (int i = 0; i < e->npairs; i++)
        if (e->p[i].fold != f) train[nt++] = (scored){1 - (w * cos[0][i] + (1 - w) * cos[1][i]), e->p[i].same};
      qsort(train, (size_t)nt, sizeof *train, cmp_scored);
      double a = best_threshold(train, nt, &thr);
      if (a > best) best = a, best_w = w, best_thr = thr;
    }
    int correct = 0, ntest = 0;
    for (int i = 0; i < e->npairs; i++)
      if (e->p[i].fold == f) {
        float d = 1 - (best_w * cos[0][i] + (1 - best_w) * cos[1][i]);
        ntest++;
        correct += (d <= best_thr) == e->p[i].same;
      }
    acc[f] = (double)correct / ntest;
    mean += acc[f] / e->folds;
    r->fold_weight[f] = best_w;
    r->fitted_weight_mean += best_w / e->folds;
  }
  for (int f = 0; f < e->folds; f++) var += (acc[f] - mean) * (acc[f] - mean) / e->folds;
  r->fused = 1;
  r->fitted_accuracy_mean = mean;
  r->fitted_accuracy_std = sqrt(var);
out:
  free(cos[0]);
  free(cos[1]);
}

static int protocol(const lfw *e, const fk_options *opt, int metric, fk_lfw_result *r, char *err,
                    size_t errlen) {
  scored *all = malloc((size_t)e->npairs * sizeof *all), *train = malloc((size_t)e->npairs * sizeof *train);
  if (!all || !train) {
    free(all);
    free(train);
    return fk_fail(err, errlen, FK_ENOMEM, "out of memory");
  }
  pair_distances(e, metric, all);
  folds_accuracy(e, all, train, r->fold_accuracy, &r->accuracy_mean, &r->accuracy_std);
  qsort(all, (size_t)e->npairs, sizeof *all, cmp_scored);
  r->auc = auc(all, e->npairs);
  r->tar_at_far_1e3 = tar_at_far(all, e->npairs, 1e-3);
  for (int m = FK_METRIC_COSINE; m <= FK_METRIC_EUCLIDEAN_L2; m++) {
    pair_distances(e, m, train);
    qsort(train, (size_t)e->npairs, sizeof *train, cmp_scored);
    r->threshold_accuracy[m] = best_threshold(train, e->npairs, &r->threshold[m]);
  }
  const fk_model_def *md = &fk_model_defs[opt->model];
  if (md->nparts == 2 && r->codes == FK_CODES_F32) fit_fusion(e, md, train, r);
  free(all);
  free(train);
  return FK_OK;
}

static void lfw_free(lfw *e) {
  for (int i = 0; e->imgs && i < e->nimgs; i++) free(e->imgs[i].path);
  fk_map_free(&e->index);
  free(e->imgs);
  free(e->embs);
  free(e->p);
}

int fk_eval_lfw(const fk_models *m, const fk_options *opt, const char *root, const char *pairs_file, int metric,
                int codes, const fk_eval_options *eo, fk_lfw_result *r, char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  fk_options o;
  fk_eval_options eod;
  if (FK_ABI_IMPORT(fk_options_init, &o, opt) || FK_ABI_IMPORT(fk_eval_options_init, &eod, eo))
    return fk_fail(err, errlen, FK_EINVAL, "fk_eval_lfw: options not filled by their fk_*_init");
  eo = &eod;
  if (!m || !root || !pairs_file || !fk_model_name(o.model) || !fk_metric_name(metric) ||
      (codes != FK_CODES_F32 && codes != FK_CODES_INT8))
    return fk_fail(err, errlen, FK_EINVAL, "fk_eval_lfw: bad arguments");
  r->metric = metric;
  r->codes = codes;
  double t0 = fk_now_s();
  lfw e = {.dim = fk_model_dim(o.model), .max_pixels = o.max_pixels};
  int rc = read_pairs(&e, pairs_file, root, err, errlen);
  if (rc == FK_OK && !(e.embs = calloc((size_t)e.nimgs * (size_t)e.dim, sizeof *e.embs)))
    rc = fk_fail(err, errlen, FK_ENOMEM, "out of memory");
  for (int k = 0; rc == FK_OK && k < e.nimgs; k++) e.imgs[k].emb = e.embs + (size_t)k * e.dim;
  if (rc == FK_OK) rc = fk_eval_images(m, &o, 1, e.nimgs, embed_one, &e, eo, err, errlen);
  int failed = 0;
  for (int k = 0; rc == FK_OK && k < e.nimgs; k++) {
    r->no_face += e.imgs[k].no_face;
    if (e.imgs[k].how < 0) failed++;
    else r->subjects[e.imgs[k].how]++;
  }
  if (rc == FK_OK && failed)
    rc = fk_fail(err, errlen, FK_EIO, "%d of %d images could not be read or embedded", failed, e.nimgs);
  if (rc == FK_OK && codes == FK_CODES_INT8)
    for (int k = 0; k < e.nimgs; k++) quantize_in_place(e.imgs[k].emb, e.dim);
  if (rc == FK_OK) {
    r->pairs = e.npairs;
    r->folds = e.folds;
    r->images = e.nimgs;
    rc = protocol(&e, &o, metric, r, err, errlen);
  }
  r->seconds = fk_now_s() - t0;
  lfw_free(&e);
  return rc;
}
