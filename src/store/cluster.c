/*
 * cluster.c - the k-NN graph, average-linkage clustering over it, the
 * baselines and the scores (cluster.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"
#include "store/cluster.h"
#include "nn/nn.h"
#include "store/ann.h"
#include "base/vec.h" /* fk_dot_f32 */

/* ---- the k-NN graph -------------------------------------------------------------- */

#define KNN_BLOCK 256 /* query rows per product: 256 x n similarities at a time */

typedef struct knn_job {
  const float *dots; /* this block's rows of similarities, n wide */
  int64_t first, rows, n;
  int k;
  fk_knn *g;
} knn_job;

/* Puts (j, s) into a list kept most similar first. */
static void knn_insert(int32_t *nbr, float *sim, int k, int32_t j, float s) {
  int at = k - 1;
  while (at > 0 && sim[at - 1] < s) {
    sim[at] = sim[at - 1];
    nbr[at] = nbr[at - 1];
    at--;
  }
  sim[at] = s;
  nbr[at] = j;
}

/* The k best of one row of the block. */
static void knn_select(void *arg, size_t r) {
  const knn_job *J = arg;
  int64_t q = J->first + (int64_t)r;
  const float *d = J->dots + (int64_t)r * J->n;
  int32_t *nbr = J->g->nbr + q * J->k;
  float *sim = J->g->sim + q * J->k;
  for (int j = 0; j < J->k; j++) nbr[j] = -1, sim[j] = -INFINITY;
  float worst = -INFINITY;
  for (int64_t j = 0; j < J->n; j++)
    if (d[j] > worst && j != q) {
      knn_insert(nbr, sim, J->k, (int32_t)j, d[j]);
      worst = sim[J->k - 1];
    }
}

int fk_knn_exact(const float *v, int64_t n, int dim, int k, int threads, pthreadpool_t pool, fk_knn *g) {
  memset(g, 0, sizeof *g);
  if (n > INT32_MAX || k < 1) return FK_EINVAL;
  g->n = n;
  g->k = k;
  g->nbr = malloc((size_t)(n * k) * sizeof *g->nbr + 1);
  g->sim = malloc((size_t)(n * k) * sizeof *g->sim + 1);
  float *dots = malloc((size_t)(KNN_BLOCK * n) * sizeof *dots + 1);
  int rc = g->nbr && g->sim && dots ? FK_OK : FK_ENOMEM;
  for (int64_t first = 0; rc == FK_OK && first < n; first += KNN_BLOCK) {
    int64_t rows = n - first < KNN_BLOCK ? n - first : KNN_BLOCK;
    if ((rc = nn_sgemm_abt(rows, n, dim, v + first * dim, v, dots, threads))) break;
    knn_job J = {dots, first, rows, n, k, g};
    if (pool) pthreadpool_parallelize_1d(pool, knn_select, &J, (size_t)rows, 0);
    else
      for (int64_t r = 0; r < rows; r++) knn_select(&J, (size_t)r);
  }
  free(dots);
  if (rc) fk_knn_free(g);
  return rc;
}

#ifdef FK_WITH_FAISS
#define ANN_CHUNK 512 /* rows a task searches with one searcher */

typedef struct ann_job {
  const fk_ann *a;
  const float *v;
  int64_t n;
  int dim, k, ef;
  fk_knn *g;
  volatile int failed;
} ann_job;

/* Rows [t * ANN_CHUNK, ...): each one's k + 1 nearest by the graph's codes,
 * itself dropped, the rest re-scored on the exact vectors and sorted. */
static void ann_task(void *arg, size_t t) {
  ann_job *J = arg;
  int64_t from = (int64_t)t * ANN_CHUNK, to = from + ANN_CHUNK < J->n ? from + ANN_CHUNK : J->n;
  fk_ann_searcher *sr = NULL;
  int64_t *lab = malloc((size_t)(J->k + 1) * sizeof *lab);
  float *sims = malloc((size_t)(J->k + 1) * sizeof *sims);
  char err[256];
  if (!lab || !sims || fk_ann_searcher_new(&sr, err, sizeof err)) {
    J->failed = 1;
    goto out;
  }
  for (int64_t q = from; q < to; q++) {
    int32_t *nbr = J->g->nbr + q * J->k;
    float *sim = J->g->sim + q * J->k;
    for (int j = 0; j < J->k; j++) nbr[j] = -1, sim[j] = -INFINITY;
    int got = 0;
    if (fk_ann_search(J->a, sr, J->v + q * J->dim, J->k + 1, J->ef, lab, sims, &got, err, sizeof err)) {
      J->failed = 1;
      break;
    }
    for (int i = 0; i < got; i++) {
      if (lab[i] == q) continue;
      const float *x = J->v + q * J->dim, *y = J->v + lab[i] * J->dim;
      float d = 0;
      for (int c = 0; c < J->dim; c++) d += x[c] * y[c];
      if (d > sim[J->k - 1]) knn_insert(nbr, sim, J->k, (int32_t)lab[i], d);
    }
  }
out:
  fk_ann_searcher_free(sr);
  free(lab), free(sims);
}

int fk_knn_ann(const float *v, int64_t n, int dim, int k, int threads, pthreadpool_t pool, fk_knn *g) {
  memset(g, 0, sizeof *g);
  if (n > INT32_MAX || k < 1) return FK_EINVAL;
  int64_t *labels = malloc((size_t)n * sizeof *labels + 1);
  g->n = n;
  g->k = k;
  g->nbr = malloc((size_t)(n * k) * sizeof *g->nbr + 1);
  g->sim = malloc((size_t)(n * k) * sizeof *g->sim + 1);
  fk_ann *a = NULL;
  char err[256];
  /* the index's own graph parameters (ann_cache.c) */
  const fk_ann_params p = {.m = 32, .ef_construction = 100};
  int rc = labels && g->nbr && g->sim ? FK_OK : FK_ENOMEM;
  for (int64_t i = 0; rc == FK_OK && i < n; i++) labels[i] = i;
  if (rc == FK_OK) rc = fk_ann_new(dim, &p, &a, err, sizeof err);
  if (rc == FK_OK) rc = fk_ann_add(a, n, v, labels, threads, err, sizeof err);
  if (rc == FK_OK) {
    ann_job J = {a, v, n, dim, k, 2 * k > 64 ? 2 * k : 64, g, 0};
    size_t tasks = (size_t)((n + ANN_CHUNK - 1) / ANN_CHUNK);
    if (pool) pthreadpool_parallelize_1d(pool, ann_task, &J, tasks, 0);
    else
      for (size_t t = 0; t < tasks; t++) ann_task(&J, t);
    if (J.failed) rc = FK_ENOMEM;
  }
  fk_ann_free(a);
  free(labels);
  if (rc) fk_knn_free(g);
  return rc;
}
#else
int fk_knn_ann(const float *v, int64_t n, int dim, int k, int threads, pthreadpool_t pool, fk_knn *g) {
  (void)v, (void)n, (void)dim, (void)k, (void)threads, (void)pool;
  memset(g, 0, sizeof *g);
  return FK_EUNSUPPORTED;
}
#endif

void fk_knn_free(fk_knn *g) {
  free(g->nbr);
  free(g->sim);
  memset(g, 0, sizeof *g);
}

/* ---- average linkage --------------------------------------------------------------- */

typedef struct cand {
  float s; /* the margin: linkage above what the pair's sizes need */
  int32_t a, b;
  uint32_t va, vb; /* the clusters' versions when s was computed */
} cand;

typedef struct heap {
  cand *c;
  size_t n, cap;
} heap;

static int heap_push(heap *h, cand x) {
  if (h->n == h->cap) {
    size_t cap = h->cap ? 2 * h->cap : 1024;
    cand *p = realloc(h->c, cap * sizeof *p);
    if (!p) return -1;
    h->c = p;
    h->cap = cap;
  }
  size_t i = h->n++;
  while (i > 0 && h->c[(i - 1) / 2].s < x.s) {
    h->c[i] = h->c[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h->c[i] = x;
  return 0;
}

static cand heap_pop(heap *h) {
  cand top = h->c[0], x = h->c[--h->n];
  size_t i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    float ms = x.s;
    if (l < h->n && h->c[l].s > ms) m = l, ms = h->c[l].s;
    if (r < h->n && h->c[r].s > ms) m = r;
    if (m == i) break;
    h->c[i] = h->c[m];
    i = m;
  }
  if (h->n) h->c[i] = x;
  return top;
}

/* A growable list of int32. */
typedef struct ilist {
  int32_t *v;
  int32_t n, cap;
} ilist;

static int ilist_add(ilist *l, int32_t x) {
  if (l->n == l->cap) {
    int32_t cap = l->cap ? 2 * l->cap : 4;
    int32_t *p = realloc(l->v, (size_t)cap * sizeof *p);
    if (!p) return -1;
    l->v = p;
    l->cap = cap;
  }
  l->v[l->n++] = x;
  return 0;
}

typedef struct linker {
  int64_t n;
  int dim;
  int32_t *parent, *size;
  uint32_t *ver;
  float *sum;      /* each root's sum of unit vectors, dim wide */
  ilist *adj;      /* each root's neighbouring rows (any, resolved to roots when read) */
  ilist *groups;   /* each root's dense cannot-link groups, or NULL */
  uint32_t *stamp; /* scratch marks, by row (adjacency) */
  uint32_t *gstamp;/* and by group (conflicts) */
  uint32_t tick;
  float link, strict; /* clusters of sizes a, b merge at link + strict / sqrt(a b) */

  heap h;
} linker;

static int32_t root(linker *L, int32_t i) {
  while (L->parent[i] != i) i = L->parent[i] = L->parent[L->parent[i]];
  return i;
}

static float linkage(const linker *L, int32_t a, int32_t b) {
  float d;
  fk_dot_f32(L->sum + (size_t)a * L->dim, L->sum + (size_t)b * L->dim, 1, L->dim, &d);
  return (float)(d / ((double)L->size[a] * L->size[b]));
}

/* Do clusters a and b hold rows of one group? */
static int conflict(linker *L, int32_t a, int32_t b) {
  if (!L->groups) return 0;
  ilist *x = &L->groups[a], *y = &L->groups[b];
  if (x->n > y->n) {
    ilist *t = x;
    x = y, y = t;
  }
  L->tick++;
  for (int32_t i = 0; i < x->n; i++) L->gstamp[x->v[i]] = L->tick;
  for (int32_t i = 0; i < y->n; i++)
    if (L->gstamp[y->v[i]] == L->tick) return 1;
  return 0;
}

/* How far a linkage s of roots a and b is above what merging them needs. */
static float margin(const linker *L, int32_t a, int32_t b, float s) {
  return s - L->link - L->strict / sqrtf((float)L->size[a] * (float)L->size[b]);
}

/* Merges root o into root r and queues r's new candidates. */
static int merge(linker *L, int32_t r, int32_t o) {
  L->parent[o] = r;
  L->size[r] += L->size[o];
  float *sr = L->sum + (size_t)r * L->dim, *so = L->sum + (size_t)o * L->dim;
  for (int i = 0; i < L->dim; i++) sr[i] += so[i];
  L->ver[r]++, L->ver[o]++;
  if (L->groups) {
    for (int32_t i = 0; i < L->groups[o].n; i++)
      if (ilist_add(&L->groups[r], L->groups[o].v[i])) return -1;
    free(L->groups[o].v);
    memset(&L->groups[o], 0, sizeof L->groups[o]);
  }
  /* the union of the neighbour lists, as distinct roots other than r */
  ilist merged = {0};
  L->tick++;
  L->stamp[r] = L->tick;
  for (int side = 0; side < 2; side++) {
    ilist *l = &L->adj[side ? o : r];
    for (int32_t i = 0; i < l->n; i++) {
      int32_t u = root(L, l->v[i]);
      if (L->stamp[u] == L->tick) continue;
      L->stamp[u] = L->tick;
      if (ilist_add(&merged, u)) return free(merged.v), -1;
    }
    free(l->v);
    memset(l, 0, sizeof *l);
  }
  L->adj[r] = merged;
  for (int32_t i = 0; i < merged.n; i++) {
    int32_t u = merged.v[i];
    float m = margin(L, r, u, linkage(L, r, u));
    if (m >= 0 && heap_push(&L->h, (cand){m, r, u, L->ver[r], L->ver[u]})) return -1;
  }
  return 0;
}

static void linker_free(linker *L) {
  for (int64_t i = 0; L->adj && i < L->n; i++) free(L->adj[i].v);
  for (int64_t i = 0; L->groups && i < L->n; i++) free(L->groups[i].v);
  free(L->parent), free(L->size), free(L->ver), free(L->sum), free(L->adj), free(L->groups);
  free(L->stamp), free(L->gstamp), free(L->h.c);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Dense numbers 0.. for ids[]; NULL when out of memory. */
static int32_t *dense_ids(const int64_t *ids, int64_t n, int64_t *count) {
  int64_t *sorted = malloc((size_t)n * sizeof *sorted + 1);
  int32_t *dense = malloc((size_t)n * sizeof *dense + 1);
  if (!sorted || !dense) return free(sorted), free(dense), NULL;
  memcpy(sorted, ids, (size_t)n * sizeof *sorted);
  qsort(sorted, (size_t)n, sizeof *sorted, cmp_i64);
  int64_t u = 0;
  for (int64_t i = 0; i < n; i++)
    if (i == 0 || sorted[i] != sorted[i - 1]) sorted[u++] = sorted[i];
  for (int64_t i = 0; i < n; i++) {
    const int64_t *at = bsearch(&ids[i], sorted, (size_t)u, sizeof *sorted, cmp_i64);
    dense[i] = (int32_t)(at - sorted);
  }
  free(sorted);
  *count = u;
  return dense;
}

/* The cannot-link tokens of each face (linker.groups): its image's; "not
 * person P" for a face corrected out of P and for every face of P; "named"
 * for the faces of named persons, so that two named persons never merge.
 * Clusters sharing a token never merge. */
static int add_tokens(linker *L, const int64_t *image, const fk_cluster_prior *pr) {
  int64_t nimages = 0, persons = pr ? pr->persons : 0;
  int32_t *dense = NULL;
  if (image && !(dense = dense_ids(image, L->n, &nimages))) return -1;
  int64_t ntokens = nimages + persons + 1, named = nimages + persons;
  if (!(L->groups = calloc((size_t)L->n + 1, sizeof *L->groups)) ||
      !(L->gstamp = calloc((size_t)ntokens + 1, sizeof *L->gstamp)))
    return free(dense), -1;
  int rc = 0;
  for (int64_t i = 0; rc == 0 && i < L->n; i++) {
    int32_t p = pr && pr->person ? pr->person[i] : -1;
    if (dense) rc = ilist_add(&L->groups[i], dense[i]);
    if (rc == 0 && p >= 0 && pr->named && pr->named[p]) rc = ilist_add(&L->groups[i], (int32_t)named);
  }
  for (int64_t j = 0; rc == 0 && pr && j < pr->nnot; j++) {
    int32_t tok = (int32_t)(nimages + pr->not_person[j]);
    rc = ilist_add(&L->groups[pr->not_face[j]], tok);
    for (int64_t i = 0; rc == 0 && pr->person && i < L->n; i++)
      if (pr->person[i] == pr->not_person[j]) rc = ilist_add(&L->groups[i], tok);
  }
  free(dense);
  return rc;
}

/* Each face's person: a cluster holding faces of earlier persons keeps the
 * named one's id, else the id of the one it holds most faces of (the
 * lowest on a tie); other clusters take new ids from persons up, in order
 * of their first face. Returns how many persons there are. */
static int64_t person_ids(linker *L, const fk_cluster_prior *pr, int32_t *label) {
  int64_t n = L->n, persons = pr ? pr->persons : 0, next = persons, count = 0;
  int32_t *id = malloc((size_t)n * sizeof *id + 1);
  int64_t *votes = calloc((size_t)persons + 1, sizeof *votes);
  ilist *held = calloc((size_t)n + 1, sizeof *held);
  int rc = id && votes && held ? 0 : -1;
  for (int64_t i = 0; rc == 0 && i < n; i++) id[i] = -1;
  /* each root's earlier persons, then its pick */
  for (int64_t i = 0; rc == 0 && pr && pr->person && i < n; i++)
    if (pr->person[i] >= 0) rc = ilist_add(&held[root(L, (int32_t)i)], pr->person[i]);
  for (int64_t r = 0; rc == 0 && r < n; r++) {
    if (L->parent[r] != r) continue;
    count++;
    int32_t best = -1;
    for (int32_t j = 0; j < held[r].n; j++) votes[held[r].v[j]]++;
    for (int32_t j = 0; j < held[r].n; j++) {
      int32_t p = held[r].v[j];
      int named = pr->named && pr->named[p], best_named = best >= 0 && pr->named && pr->named[best];
      if (best < 0 || (named && !best_named) ||
          (named == best_named && (votes[p] > votes[best] || (votes[p] == votes[best] && p < best))))
        best = p;
    }
    for (int32_t j = 0; j < held[r].n; j++) votes[held[r].v[j]] = 0;
    id[r] = best;
  }
  for (int64_t i = 0; rc == 0 && i < n; i++) {
    int32_t r = root(L, (int32_t)i);
    if (id[r] < 0) id[r] = (int32_t)next++;
    label[i] = id[r];
  }
  for (int64_t r = 0; held && r < n; r++) free(held[r].v);
  free(held), free(id), free(votes);
  return rc ? FK_ENOMEM : count;
}

int64_t fk_cluster_link(const float *v, int64_t n, int dim, const fk_knn *g, const int64_t *image,
                        const fk_cluster_prior *prior, float link, float strict, int32_t *label) {
  linker L = {.n = n, .dim = dim, .link = link, .strict = strict};
  int64_t rc = FK_ENOMEM;
  int32_t *first = NULL; /* each earlier person's first face */
  L.parent = malloc((size_t)n * sizeof *L.parent + 1);
  L.size = malloc((size_t)n * sizeof *L.size + 1);
  L.ver = calloc((size_t)n + 1, sizeof *L.ver);
  L.sum = malloc((size_t)n * dim * sizeof *L.sum + 1);
  L.adj = calloc((size_t)n + 1, sizeof *L.adj);
  L.stamp = calloc((size_t)n + 1, sizeof *L.stamp);
  if (!L.parent || !L.size || !L.ver || !L.sum || !L.adj || !L.stamp) goto out;
  if ((image || prior) && add_tokens(&L, image, prior)) goto out;
  memcpy(L.sum, v, (size_t)n * dim * sizeof *L.sum);
  for (int64_t i = 0; i < n; i++) {
    L.parent[i] = (int32_t)i;
    L.size[i] = 1;
  }
  for (int64_t i = 0; i < n; i++)
    for (int j = 0; j < g->k; j++) {
      int32_t u = g->nbr[i * g->k + j];
      if (u < 0) break;
      if (ilist_add(&L.adj[i], u) || ilist_add(&L.adj[u], (int32_t)i)) goto out;
    }
  /* the faces of each earlier person start as one cluster (must-link:
   * a user's naming or moving, or an earlier run's grouping, holds) */
  if (prior && prior->person) {
    if (!(first = malloc((size_t)prior->persons * sizeof *first + 1))) goto out;
    for (int32_t p = 0; p < prior->persons; p++) first[p] = -1;
    for (int64_t i = 0; i < n; i++) {
      int32_t p = prior->person[i];
      if (p < 0) continue;
      if (first[p] < 0) {
        first[p] = (int32_t)i;
        continue;
      }
      int32_t a = root(&L, first[p]), b = root(&L, (int32_t)i);
      if (a != b && merge(&L, L.size[a] >= L.size[b] ? a : b, L.size[a] >= L.size[b] ? b : a)) goto out;
    }
  }
  /* the candidates between single faces (merge() queued those of clusters);
   * an edge listed both ways is queued twice: the second is stale by then */
  for (int64_t i = 0; i < n; i++)
    for (int j = 0; j < g->k; j++) {
      int32_t u = g->nbr[i * g->k + j];
      if (u < 0) break;
      if (L.parent[i] != i || L.size[i] != 1 || L.parent[u] != u || L.size[u] != 1) continue;
      float m = margin(&L, (int32_t)i, u, g->sim[i * g->k + j]);
      if (m >= 0 && heap_push(&L.h, (cand){m, (int32_t)i, u, 0, 0})) goto out;
    }
  while (L.h.n) {
    cand c = heap_pop(&L.h);
    if (c.s < 0) break;
    if (L.parent[c.a] != c.a || L.parent[c.b] != c.b || L.ver[c.a] != c.va || L.ver[c.b] != c.vb) continue;
    if (conflict(&L, c.a, c.b)) continue;
    int32_t r = L.size[c.a] >= L.size[c.b] ? c.a : c.b, o = r == c.a ? c.b : c.a;
    if (merge(&L, r, o)) goto out;
  }
  rc = person_ids(&L, prior, label);
out:
  free(first);
  linker_free(&L);
  return rc;
}

/* ---- baselines ------------------------------------------------------------------------- */

int64_t fk_cluster_immich(const fk_knn *g, float max_distance, int min_faces, int32_t *label) {
  const int k = g->k;
  int64_t persons = 0, ndeferred = 0;
  int64_t *deferred = malloc((size_t)g->n * sizeof *deferred + 1);
  if (!deferred) return FK_ENOMEM;
  for (int64_t i = 0; i < g->n; i++) label[i] = -1;
  for (int pass = 0; pass < 2; pass++) {
    int64_t todo = pass ? ndeferred : g->n;
    for (int64_t t = 0; t < todo; t++) {
      int64_t i = pass ? deferred[t] : t;
      const int32_t *nbr = g->nbr + i * k;
      const float *sim = g->sim + i * k;
      /* the nearest min_faces within max_distance, the face itself first */
      int matches = 1, person = -1;
      for (int j = 0; j < k && matches < min_faces && nbr[j] >= 0 && 1 - sim[j] <= max_distance; j++) {
        matches++;
        if (person < 0 && label[nbr[j]] >= 0) person = label[nbr[j]];
      }
      if (min_faces > 1 && matches <= 1) continue; /* only itself: skipped for good */
      int core = matches >= min_faces;
      if (!core && !pass) {
        deferred[ndeferred++] = i;
        continue;
      }
      /* else the nearest face with a person, within max_distance */
      for (int j = 0; person < 0 && j < k && nbr[j] >= 0 && 1 - sim[j] <= max_distance; j++)
        if (label[nbr[j]] >= 0) person = label[nbr[j]];
      if (core && person < 0) person = (int32_t)persons++;
      label[i] = person;
    }
  }
  free(deferred);
  return persons;
}

int64_t fk_cluster_dbscan(const fk_knn *g, float eps, int min_pts, int32_t *label) {
  /* the eps-neighbourhoods, made symmetric (the graph's lists are not):
   * CSR rows of both ends of every edge within eps */
  const int k = g->k;
  int64_t n = g->n, *start = calloc((size_t)n + 2, sizeof *start), *stack = malloc((size_t)n * sizeof *stack + 1);
  int32_t *adj = NULL;
  int64_t clusters = FK_ENOMEM, *deg = NULL;
  if (!start || !stack) goto out;
  for (int pass = 0; pass < 2; pass++) {
    for (int64_t i = 0; i < n; i++)
      for (int j = 0; j < k && g->nbr[i * k + j] >= 0 && 1 - g->sim[i * k + j] <= eps; j++) {
        int32_t u = g->nbr[i * k + j];
        if (pass == 0) {
          start[i + 2]++, start[u + 2]++;
        } else {
          adj[start[i + 1]++] = u;
          adj[start[u + 1]++] = (int32_t)i;
        }
      }
    if (pass == 0) {
      for (int64_t i = 0; i < n; i++) start[i + 2] += start[i + 1];
      if (!(adj = malloc((size_t)start[n + 1] * sizeof *adj + 1))) goto out;
    }
  }
  /* row i's neighbours: adj[start[i] .. start[i + 1]), where an edge both
   * rows list comes twice: sorted and made distinct, its count in deg[i] */
  if (!(deg = malloc((size_t)n * sizeof *deg + 1))) goto out;
  for (int64_t i = 0; i < n; i++) {
    int32_t *a = adj + start[i];
    int64_t m = start[i + 1] - start[i], u = 0;
    qsort(a, (size_t)m, sizeof *a, cmp_i32);
    for (int64_t e = 0; e < m; e++)
      if (e == 0 || a[e] != a[e - 1]) a[u++] = a[e];
    deg[i] = u;
  }
  clusters = 0;
  for (int64_t i = 0; i < n; i++) label[i] = -1;
  for (int64_t s = 0; s < n; s++) {
    if (label[s] >= 0 || deg[s] + 1 < min_pts) continue;
    int64_t top = 0;
    label[s] = (int32_t)clusters;
    stack[top++] = s;
    while (top) {
      int64_t i = stack[--top];
      if (deg[i] + 1 < min_pts) continue; /* a border row joins, and spreads no further */
      for (int64_t e = start[i]; e < start[i] + deg[i]; e++) {
        int32_t u = adj[e];
        if (label[u] >= 0) continue;
        label[u] = (int32_t)clusters;
        stack[top++] = u;
      }
    }
    clusters++;
  }
out:
  free(start), free(stack), free(adj), free(deg);
  return clusters;
}

/* ---- scores ----------------------------------------------------------------------------- */

static int cmp_pair(const void *a, const void *b) { return cmp_i64(a, b); }

int fk_cluster_score(const int32_t *label, const int32_t *truth, int64_t n, fk_cluster_scores *s) {
  memset(s, 0, sizeof *s);
  if (n <= 0) return FK_OK;
  /* a row left out is a cluster of its own: number those after the rest */
  int64_t *pairs = malloc((size_t)n * sizeof *pairs), *csize = NULL, *tsize = NULL;
  int32_t maxl = -1, maxt = -1;
  for (int64_t i = 0; i < n; i++) {
    maxl = label[i] > maxl ? label[i] : maxl;
    maxt = truth[i] > maxt ? truth[i] : maxt;
  }
  int64_t nl = (int64_t)maxl + 1, extra = nl;
  csize = calloc((size_t)(nl + n) + 1, sizeof *csize);
  tsize = calloc((size_t)maxt + 2, sizeof *tsize);
  if (!pairs || !csize || !tsize) return free(pairs), free(csize), free(tsize), FK_ENOMEM;
  for (int64_t i = 0; i < n; i++) {
    int64_t c = label[i] >= 0 ? label[i] : extra++;
    s->unclustered += label[i] < 0;
    csize[c]++;
    tsize[truth[i]]++;
    pairs[i] = c << 32 | (uint32_t)truth[i];
  }
  qsort(pairs, (size_t)n, sizeof *pairs, cmp_pair);
  double bp = 0, br = 0, tp = 0, pred = 0, real = 0;
  for (int64_t i = 0, j; i < n; i = j) {
    for (j = i; j < n && pairs[j] == pairs[i]; j++) {}
    double m = (double)(j - i);
    int64_t c = pairs[i] >> 32, t = (int32_t)(pairs[i] & 0xffffffff);
    bp += m * m / (double)csize[c];
    br += m * m / (double)tsize[t];
    tp += m * (m - 1) / 2;
  }
  for (int64_t c = 0; c < extra; c++) {
    pred += (double)csize[c] * (double)(csize[c] - 1) / 2;
    s->clusters += csize[c] > 0;
  }
  for (int64_t t = 0; t <= maxt; t++) {
    real += (double)tsize[t] * (double)(tsize[t] - 1) / 2;
    s->true_clusters += tsize[t] > 0;
  }
  s->bcubed_p = bp / (double)n;
  s->bcubed_r = br / (double)n;
  s->bcubed_f = 2 * s->bcubed_p * s->bcubed_r / (s->bcubed_p + s->bcubed_r);
  s->pair_p = pred > 0 ? tp / pred : 1;
  s->pair_r = real > 0 ? tp / real : 1;
  s->pair_f = s->pair_p + s->pair_r > 0 ? 2 * s->pair_p * s->pair_r / (s->pair_p + s->pair_r) : 0;
  free(pairs);
  free(csize);
  free(tsize);
  return FK_OK;
}
