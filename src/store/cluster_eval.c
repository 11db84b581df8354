/*
 * cluster_eval.c - fk_store_eval_cluster() (facekit_eval.h): the clustering
 * of an index's central faces scored against the persons its paths name,
 * with Immich's incremental DBSCAN and plain DBSCAN on the same graph, each
 * swept over its parameters, as baselines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "base/clock.h"
#include "store/cluster.h"
#include "store/store.h"

#define EVAL_K 64 /* neighbours: above any baseline's min_faces, and enough
                     that a big person's faces link up */

void fk_cluster_eval_options_init(fk_cluster_eval_options *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  /* fitted on LFW (README, People): clusters merge at a mean cosine of
   * 0.40 when large, 0.52 when both are single faces */
  o->link = 0.40f;
  o->strict = 0.12f;
  o->k = 32;
  o->threads = 1;
  o->baselines = 1;
}

/* The person a path names: its parent folder ("" at the top). */
static void parent_name(const char *path, char *out, size_t size) {
  const char *end = strrchr(path, '/');
  if (!end) {
    out[0] = '\0';
    return;
  }
  const char *start = end;
  while (start > path && start[-1] != '/') start--;
  snprintf(out, size, "%.*s", (int)(end - start), start);
}

/* The central rows' vectors, image ids and true persons. */
static int central_rows(fk_store *st, float **v, int64_t **image, int32_t **truth, int64_t *n) {
  const fk_vecs *a = &st->vs.v;
  int64_t m = 0;
  for (int64_t i = 0; i < a->n; i++) m += (a->flags[i] & (FK_VEC_CENTRAL | FK_VEC_DELETED)) == FK_VEC_CENTRAL;
  *v = malloc((size_t)(m * a->dim) * sizeof **v + 1);
  *image = malloc((size_t)m * sizeof **image + 1);
  *truth = malloc((size_t)m * sizeof **truth + 1);
  fk_store_face *f = malloc(sizeof *f);
  fk_map names = {0}; /* keys: the strings of keep[] */
  char **keep = calloc((size_t)m + 1, sizeof *keep);
  int rc = *v && *image && *truth && f && keep ? FK_OK : FK_ENOMEM;
  int64_t j = 0, persons = 0;
  for (int64_t i = 0; rc == FK_OK && i < a->n; i++) {
    if ((a->flags[i] & (FK_VEC_CENTRAL | FK_VEC_DELETED)) != FK_VEC_CENTRAL) continue;
    if ((rc = fk_store_get_face(st, a->face_id[i], f))) break;
    char name[4096];
    parent_name(f->path, name, sizeof name);
    int64_t t = fk_map_get_str(&names, name);
    if (t < 0) {
      if (!(keep[persons] = strdup(name))) {
        rc = FK_ENOMEM;
        break;
      }
      if ((rc = fk_map_put_str(&names, keep[persons], persons))) break;
      t = persons++;
    }
    memcpy(*v + j * a->dim, a->f32 + i * a->dim, (size_t)a->dim * sizeof **v);
    (*image)[j] = a->image_id[i];
    (*truth)[j] = (int32_t)t;
    j++;
  }
  fk_map_free(&names);
  for (int64_t p = 0; keep && p < persons; p++) free(keep[p]);
  free(keep);
  free(f);
  *n = j;
  return rc;
}

/* The best of a method over its parameter grid, by BCubed F (and, apart,
 * by pairwise F). */
static int sweep(const char *method, const fk_knn *g, const int32_t *truth, int32_t *label, fk_cluster_baseline *best,
                 fk_cluster_baseline *best_pair) {
  static const float dist[] = {0.3f, 0.35f, 0.4f, 0.45f, 0.5f, 0.55f, 0.6f, 0.65f};
  static const int mins[] = {1, 2, 3, 4, 5};
  memset(best, 0, sizeof *best);
  if (best_pair) memset(best_pair, 0, sizeof *best_pair);
  for (size_t d = 0; d < sizeof dist / sizeof *dist; d++)
    for (size_t m = 0; m < sizeof mins / sizeof *mins; m++) {
      int64_t rc = method[0] == 'i' ? fk_cluster_immich(g, dist[d], mins[m], label)
                                    : fk_cluster_dbscan(g, dist[d], mins[m], label);
      if (rc < 0) return (int)rc;
      fk_cluster_baseline b = {.method = method, .distance = dist[d], .min_faces = mins[m]};
      if ((rc = fk_cluster_score(label, truth, g->n, &b.s))) return (int)rc;
      if (b.s.bcubed_f > best->s.bcubed_f) *best = b;
      if (best_pair && b.s.pair_f > best_pair->s.pair_f) *best_pair = b;
    }
  return FK_OK;
}

int fk_store_eval_cluster(fk_store *st, const fk_cluster_eval_options *caller, fk_cluster_eval *r) {
  memset(r, 0, sizeof *r);
  fk_cluster_eval_options o;
  if (FK_ABI_IMPORT(fk_cluster_eval_options_init, &o, caller) || o.k < 1 || o.k > 1024 || o.threads < 1 ||
      o.threads > 256 || !(o.link > -1 && o.link < 1))
    return fk_store_fail(st, FK_EINVAL, "bad clustering options");
  double t0 = fk_now_s();
  int rc = fk_store_load(st, NULL);
  if (rc) return rc;
  float *v = NULL;
  int64_t *image = NULL, n = 0;
  int32_t *truth = NULL, *label = NULL;
  fk_knn g = {0};
  if ((rc = central_rows(st, &v, &image, &truth, &n))) goto out;
  r->faces = n;
  if (!(label = malloc((size_t)n * sizeof *label + 1))) {
    rc = FK_ENOMEM;
    goto out;
  }
  int k = o.baselines && o.k < EVAL_K ? EVAL_K : o.k;
  if (k > n - 1) k = n > 1 ? (int)n - 1 : 1;
  double t1 = fk_now_s();
  pthread_mutex_lock(&st->vs.pool_mu);
  rc = (o.ann ? fk_knn_ann : fk_knn_exact)(v, n, st->vs.v.dim, k, o.threads, fk_vectors_pool(&st->vs, o.threads), &g);
  pthread_mutex_unlock(&st->vs.pool_mu);
  if (rc == FK_EUNSUPPORTED) {
    fk_store_fail(st, rc, "%s", o.ann ? "the ANN graph needs faiss (FK_WITH_FAISS=OFF in this build)"
                                      : "oneDNN's sgemm failed");
    goto out;
  }
  if (rc) goto out;
  r->graph_seconds = fk_now_s() - t1;
  /* the method sees its own k of the graph's neighbours */
  fk_knn own = g;
  if (o.k < k) {
    own.k = o.k;
    own.nbr = malloc((size_t)(n * o.k) * sizeof *own.nbr + 1);
    own.sim = malloc((size_t)(n * o.k) * sizeof *own.sim + 1);
    if (!own.nbr || !own.sim) {
      free(own.nbr), free(own.sim);
      rc = FK_ENOMEM;
      goto out;
    }
    for (int64_t i = 0; i < n; i++) {
      memcpy(own.nbr + i * o.k, g.nbr + i * k, (size_t)o.k * sizeof *own.nbr);
      memcpy(own.sim + i * o.k, g.sim + i * k, (size_t)o.k * sizeof *own.sim);
    }
  }
  t1 = fk_now_s();
  int64_t c = fk_cluster_link(v, n, st->vs.v.dim, &own, image, NULL, o.link, o.strict, label);
  r->cluster_seconds = fk_now_s() - t1;
  if (own.nbr != g.nbr) free(own.nbr), free(own.sim);
  if (c < 0 || (rc = fk_cluster_score(label, truth, n, &r->s))) {
    rc = c < 0 ? (int)c : rc;
    goto out;
  }
  if (o.baselines) {
    r->immich_default = (fk_cluster_baseline){.method = "immich", .distance = 0.5f, .min_faces = 3};
    int64_t p = fk_cluster_immich(&g, 0.5f, 3, label);
    if (p < 0 || (rc = fk_cluster_score(label, truth, n, &r->immich_default.s)) ||
        (rc = sweep("immich", &g, truth, label, &r->immich_best, &r->immich_best_pairwise)) ||
        (rc = sweep("dbscan", &g, truth, label, &r->dbscan_best, NULL))) {
      rc = p < 0 ? (int)p : rc;
      goto out;
    }
  }
out:
  r->seconds = fk_now_s() - t0;
  fk_knn_free(&g);
  free(v), free(image), free(truth), free(label);
  if (rc == FK_ENOMEM) return fk_store_fail(st, rc, "out of memory");
  return rc;
}
