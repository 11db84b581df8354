/*
 * retrieval.c - fk_store_eval_retrieval(): face retrieval quality of an
 * identity-labelled index (P@1, P@5, mAP), the protocol face-api's numbers
 * in issue 3 were measured with.
 *
 * Each image is represented by its central face (nearest the image centre:
 * LFW centres every photo on its subject, and group photos there show other
 * people too). The gallery is those faces; every image whose identity has
 * at least two readable images is a query against the gallery minus itself.
 * The relevant items are the other images of its identity, counting those
 * without a face, which are never retrieved; a query image without a face
 * scores 0. Ties rank pessimistically (a non-relevant item at the same
 * distance ranks first).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "store/store.h"

typedef struct query {
  int64_t image_id;
  int32_t identity;
  int64_t row;       /* gallery row of its face, -1 when it has none */
  int relevant;      /* other images of the identity */
  double p1, p5, ap; /* results */
} query;

typedef struct eval {
  const fk_vecs *g;  /* the gallery: central faces only */
  query *q;
  int64_t nq;
  int metric, codes;
  int64_t chunk;
  int failed;
} eval;

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Index of the first element >= x in sorted a[n]. */
static int lower_bound(const float *a, int n, float x) {
  int lo = 0, hi = n;
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/* Scores one query with a face; keys and rel are scratch of gallery size,
 * ahead[] of relevant-count + 1. */
static void score(const eval *e, query *q, float *keys, float *rel, int *ahead) {
  const fk_vecs *g = e->g;
  fk_scan s;
  fk_scan_init(&s, g, g->f32 + q->row * g->dim, e->metric, e->codes, 1, -1);
  s.qnorm = g->norm[q->row];
  fk_scan_all(&s, keys);
  int nrel = 0;
  for (int64_t i = 0; i < g->n; i++)
    if (i != q->row && g->identity[i] == q->identity) rel[nrel++] = keys[i];
  qsort(rel, (size_t)nrel, sizeof *rel, cmp_float);
  memset(ahead, 0, (size_t)(nrel + 1) * sizeof *ahead);
  for (int64_t i = 0; i < g->n; i++)
    if (i != q->row && g->identity[i] != q->identity) ahead[lower_bound(rel, nrel, keys[i])]++;
  double ap = 0;
  int hits5 = 0, before = 0;
  for (int j = 0; j < nrel; j++) {
    before += ahead[j];
    int rank = j + 1 + before; /* 1-based */
    ap += (double)(j + 1) / rank;
    hits5 += rank <= 5;
    if (j == 0) q->p1 = rank == 1;
  }
  q->p5 = hits5 / 5.0;
  q->ap = q->relevant ? ap / q->relevant : 0;
}

static void eval_chunk(void *arg, size_t c) {
  eval *e = arg;
  int64_t from = (int64_t)c * e->chunk, to = from + e->chunk < e->nq ? from + e->chunk : e->nq;
  int max_rel = 0;
  for (int64_t i = from; i < to; i++) max_rel = e->q[i].relevant > max_rel ? e->q[i].relevant : max_rel;
  float *keys = malloc((size_t)e->g->n * sizeof *keys), *rel = malloc(((size_t)e->g->n + 1) * sizeof *rel);
  int *ahead = malloc(((size_t)e->g->n + 2) * sizeof *ahead);
  if (!keys || !rel || !ahead) e->failed = 1;
  for (int64_t i = from; keys && rel && ahead && i < to; i++)
    if (e->q[i].row >= 0) score(e, &e->q[i], keys, rel, ahead);
  free(keys);
  free(rel);
  free(ahead);
}

/* The gallery: a copy of the central rows. */
static int gallery(const fk_vecs *v, fk_vecs *g) {
  int64_t n = 0;
  for (int64_t i = 0; i < v->n; i++) n += (v->flags[i] & (FK_VEC_CENTRAL | FK_VEC_DELETED)) == FK_VEC_CENTRAL;
  int rc = fk_vecs_alloc(g, n, v->dim);
  if (rc) return rc;
  for (int64_t i = 0, j = 0; i < v->n; i++)
    if ((v->flags[i] & (FK_VEC_CENTRAL | FK_VEC_DELETED)) == FK_VEC_CENTRAL) fk_vecs_copy_row(g, j++, v, i);
  return FK_OK;
}

typedef struct query_load {
  eval *e;
  fk_map row_of;  /* gallery row by image id (the id's bytes: g->image_id) */
  int64_t cap, identities;
  int64_t last_identity;
} query_load;

static int add_query(int64_t image, int64_t identity, int64_t n, void *user) {
  query_load *l = user;
  eval *e = l->e;
  if (e->nq == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 1024;
    query *p = realloc(e->q, (size_t)l->cap * sizeof *p);
    if (!p) return FK_ENOMEM;
    e->q = p;
  }
  query *x = &e->q[e->nq++];
  memset(x, 0, sizeof *x);
  x->image_id = image;
  x->identity = (int32_t)identity;
  x->relevant = (int)n - 1;
  x->row = fk_map_get(&l->row_of, &image, sizeof image);
  if (identity != l->last_identity) l->identities++; /* rows come grouped by identity */
  l->last_identity = identity;
  return FK_OK;
}

/* Queries: readable images of identities with >= 2 readable images. */
static int load_queries(fk_store *st, const fk_vecs *g, eval *e, int64_t *identities) {
  query_load l = {.e = e, .last_identity = -1};
  int rc = FK_OK;
  for (int64_t i = 0; rc == FK_OK && i < g->n; i++)
    rc = fk_map_put(&l.row_of, &g->image_id[i], sizeof g->image_id[i], i);
  if (rc == FK_OK) rc = st->ops->foreach_query(st, add_query, &l);
  *identities = l.identities;
  fk_map_free(&l.row_of);
  return rc == FK_ENOMEM ? fk_store_fail(st, rc, "out of memory") : rc;
}

int fk_store_eval_retrieval(fk_store *st, int metric, int codes, int threads, fk_retrieval *r) {
  memset(r, 0, sizeof *r);
  if (metric < FK_METRIC_COSINE || metric > FK_METRIC_EUCLIDEAN_L2 || (codes != FK_CODES_F32 && codes != FK_CODES_INT8) ||
      threads < 1 || threads > 256)
    return fk_store_fail(st, FK_EINVAL, "bad retrieval options");
  double t0 = fk_now_s();
  int rc = fk_store_load(st, NULL);
  if (rc) return rc;
  fk_vecs g;
  if ((rc = gallery(&st->vs.v, &g))) return fk_store_fail(st, rc, "out of memory");
  eval e = {.g = &g, .metric = metric, .codes = codes};
  if ((rc = load_queries(st, &g, &e, &r->identities)) == FK_OK && e.nq > 0) {
    int64_t tasks = threads > 1 ? threads * 16 : 1;
    e.chunk = (e.nq + tasks - 1) / tasks;
    tasks = (e.nq + e.chunk - 1) / e.chunk;
    pthread_mutex_lock(&st->vs.pool_mu);
    pthreadpool_t pool = fk_vectors_pool(&st->vs, threads);
    if (pool) pthreadpool_parallelize_1d(pool, eval_chunk, &e, (size_t)tasks, 0);
    else
      for (int64_t c = 0; c < tasks; c++) eval_chunk(&e, (size_t)c);
    pthread_mutex_unlock(&st->vs.pool_mu);
    if (e.failed) rc = fk_store_fail(st, FK_ENOMEM, "out of memory");
  }
  if (rc == FK_OK) {
    int64_t with_face = 0;
    double p1 = 0, p5 = 0, ap = 0;
    for (int64_t i = 0; i < e.nq; i++) {
      p1 += e.q[i].p1, p5 += e.q[i].p5, ap += e.q[i].ap;
      with_face += e.q[i].row >= 0;
    }
    r->queries = e.nq;
    r->gallery = g.n;
    r->no_face_queries = e.nq - with_face;
    if (e.nq) r->p_at_1 = p1 / e.nq, r->p_at_5 = p5 / e.nq, r->map = ap / e.nq;
    if (with_face) r->p_at_1_with_face = p1 / with_face, r->map_with_face = ap / with_face;
  }
  r->seconds = fk_now_s() - t0;
  free(e.q);
  fk_vecs_free(&g);
  return rc;
}
