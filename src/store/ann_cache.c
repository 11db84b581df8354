/*
 * ann_cache.c - the ANN graph over an index's loaded vectors (ann.h, over
 * faiss's HNSW) and its cache file PATH.faiss. Like the vector sidecar it
 * is derived data: the faces table stays the truth, and the file carries
 * the index's uuid and the generation it mirrors.
 *
 * The graph belongs to the shared vectors (fk_vectors.ann) and follows
 * them. Nodes are labelled by face id, in ascending order (face ids only
 * grow, store.h), so a face's node is found by binary search and
 * compacting the vectors never touches the graph.
 *   - A catch-up (vectors.c) hands over its tombstones and changed faces
 *     under the write lock: the nodes of deleted faces are marked deleted
 *     (HNSW cannot unlink a node: it keeps routing searches and is
 *     filtered from the results) and the new faces are inserted, in one
 *     batch. Inserting costs about a millisecond a face at 1M nodes, and
 *     searches wait for it. A relabelled face keeps its vector, so its node
 *     stays.
 *   - After a whole reload of the vectors, or when PATH.faiss is older
 *     than them, the graph is compared with the vectors (both in id
 *     order): a node is kept only while the vectors hold its face with the
 *     same int8 code; faces that are new or changed are inserted, nodes
 *     whose face is gone are marked deleted.
 *   - It is built afresh instead when more than REBUILD_FRACTION of its
 *     nodes would be deleted, or when a face to insert sorts before an
 *     existing node (an older index's SQLite may reuse the largest id).
 * Only the store's thread changes the graph; building happens outside the
 * lock and the new graph is swapped in under it.
 *
 * Searching. The graph ranks on the int8 codes' cosine; its candidates are
 * then ranked by the exact scan's own code on just those rows (copied into
 * a small fk_vecs), so an ANN match carries the same distance and
 * similarity as the exact search would give it. Each search borrows a
 * searcher (the walk's visited table, a byte a node) from a free list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/ann.h"
#include "store/store.h"

/* Graph parameters, chosen on face-like vectors with bench_ann (README,
 * "Searching millions of faces"). */
#define ANN_M 32
#define ANN_EF_CONSTRUCTION 100
#define REBUILD_FRACTION 0.2

struct fk_vectors_ann {
  fk_ann *graph;            /* NULL until read or built */
  char uuid[40];            /* the index it mirrors, at... */
  int64_t generation;       /* ...this generation of the vectors */
  int64_t file_generation;  /* what PATH.faiss holds (-1: unknown) */
  int threads;              /* for inserting */
  pthread_mutex_t mu;       /* guards the idle searchers */
  fk_ann_searcher **idle;
  int nidle, cap;
};

/* The cache path: PATH.faiss. A PostgreSQL index has no files beside it:
 * its graph is built in memory at each start. */
static int ann_path(const fk_store *st, char *buf, size_t size) {
  if (st->ops != &fk_sqlite_ops) return FK_EINVAL;
  return snprintf(buf, size, "%s.faiss", st->path) < (int)size ? FK_OK : FK_EINVAL;
}

const fk_ann *fk_vectors_ann_graph(const fk_vectors *vs) { return vs->ann ? vs->ann->graph : NULL; }

int fk_vectors_ann_ready(const fk_vectors *vs) {
  const struct fk_vectors_ann *A = vs->ann;
  return A && A->graph && A->generation == vs->generation && !strcmp(A->uuid, vs->uuid);
}

static int threads_or_all(int threads) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return threads > 0 ? threads : n > 0 ? (int)n : 1;
}

/* Puts graph g (may be NULL) in place, mirroring generation `generation`
 * of the vectors, under the write lock; frees the graph it replaces. */
static void install(fk_vectors *vs, fk_ann *g, int64_t generation) {
  struct fk_vectors_ann *A = vs->ann;
  pthread_rwlock_wrlock(&vs->lock);
  fk_ann *old = A->graph;
  A->graph = g;
  A->generation = generation;
  snprintf(A->uuid, sizeof A->uuid, "%s", vs->uuid);
  pthread_rwlock_unlock(&vs->lock);
  if (old != g) fk_ann_free(old);
}

/* ---- the file -------------------------------------------------------------- */

/* Reads PATH.faiss when it is this index's at this width; anything else
 * (missing, damaged, foreign) leaves no graph, to be built. */
static void read_cache(fk_store *st) {
  fk_vectors *vs = &st->vs;
  char path[4200], err[256];
  fk_ann *a;
  fk_ann_tag tag;
  if (ann_path(st, path, sizeof path)) return;
  FILE *f = fopen(path, "rbe");
  if (!f) return;
  int rc = fk_ann_read(f, &a, &tag, err, sizeof err);
  fclose(f);
  if (rc) return;
  if (strcmp(tag.uuid, vs->uuid) || fk_ann_dim(a) != vs->v.dim) {
    fk_ann_free(a);
    return;
  }
  install(vs, a, tag.generation); /* maybe behind: synced next */
  vs->ann->file_generation = tag.generation;
}

/* Writes the graph atomically (tmp, fsync, rename); a cache, so failure
 * (a read-only directory, a full disk) only costs the next process a
 * rebuild. */
static void write_cache(fk_store *st) {
  struct fk_vectors_ann *A = st->vs.ann;
  char path[4200], tmp[4300], err[256];
  if (!fk_vectors_ann_ready(&st->vs) || ann_path(st, path, sizeof path)) return;
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "wbe");
  if (!f) return;
  fk_ann_tag tag = {.generation = A->generation};
  memcpy(tag.uuid, A->uuid, sizeof tag.uuid);
  int ok = fk_ann_write(A->graph, &tag, f, err, sizeof err) == FK_OK && fflush(f) == 0 && fsync(fileno(f)) == 0;
  ok = fclose(f) == 0 && ok;
  if (ok && rename(tmp, path) == 0) A->file_generation = A->generation;
  else unlink(tmp);
}

/* ---- building and updating ------------------------------------------------ */

/* A new graph of the live rows of v. */
static int build(fk_store *st, fk_ann **out) {
  const fk_vecs *v = &st->vs.v;
  const fk_ann_params p = {.m = ANN_M, .ef_construction = ANN_EF_CONSTRUCTION};
  char err[256];
  fk_ann *a;
  int rc = fk_ann_new(v->dim, &p, &a, err, sizeof err);
  const float *x = v->f32;
  const int64_t *ids = v->face_id;
  float *xs = NULL;
  int64_t *is = NULL, m = v->n;
  if (rc == FK_OK && st->vs.deleted) { /* flagged rows stay out */
    xs = malloc((size_t)(v->n - st->vs.deleted) * (size_t)v->dim * sizeof *xs + 1);
    is = malloc((size_t)(v->n - st->vs.deleted) * sizeof *is + 1);
    if (!xs || !is) rc = FK_ENOMEM, snprintf(err, sizeof err, "out of memory");
    m = 0;
    for (int64_t r = 0; rc == FK_OK && r < v->n; r++)
      if (!(v->flags[r] & FK_VEC_DELETED)) {
        memcpy(xs + m * v->dim, v->f32 + r * v->dim, (size_t)v->dim * sizeof *xs);
        is[m++] = v->face_id[r];
      }
    x = xs, ids = is;
  }
  if (rc == FK_OK) rc = fk_ann_add(a, m, x, ids, st->vs.ann->threads, err, sizeof err);
  free(xs);
  free(is);
  if (rc) {
    fk_ann_free(a);
    return fk_store_fail(st, rc, "%s: building the ANN graph: %s", st->path, err);
  }
  *out = a;
  return FK_OK;
}

/* The node labelled id (labels ascending), or -1. */
static int64_t node_of(const fk_ann *a, int64_t id) {
  const int64_t *l = fk_ann_labels(a);
  int64_t lo = 0, hi = fk_ann_size(a);
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (l[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < fk_ann_size(a) && l[lo] == id ? lo : -1;
}

void fk_vectors_ann_apply(fk_vectors *vs, const int64_t *gone, int64_t ngone, const fk_vecs *ch,
                          int64_t generation) {
  struct fk_vectors_ann *A = vs->ann;
  if (!fk_vectors_ann_ready(vs)) return; /* behind already: fk_vectors_ann_sync */
  fk_ann *a = A->graph;
  for (int64_t i = 0; i < ngone; i++) fk_ann_delete(a, node_of(a, gone[i]));
  /* ch is in id order: the faces new to the graph are its tail. */
  int64_t n = fk_ann_size(a), last = n ? fk_ann_labels(a)[n - 1] : INT64_MIN, first = ch->n;
  while (first > 0 && ch->face_id[first - 1] > last) first--;
  char err[256];
  if (first < ch->n && fk_ann_add(a, ch->n - first, ch->f32 + first * ch->dim, ch->face_id + first, A->threads, err,
                                  sizeof err)) {
    A->graph = NULL; /* a failed insert leaves it unusable: rebuilt by the next fk_store_load_ann */
    fk_ann_free(a);
  }
  A->generation = generation;
}

/* The changes that bring graph a to the vectors v: nodes to delete and
 * rows to insert (see the top of the file); *rebuild when a rebuild is
 * the better graph. */
typedef struct ann_diff {
  int64_t *gone, ngone;
  int64_t *rows, nrows;
  int rebuild;
} ann_diff;

static int diff(const fk_ann *a, const fk_vecs *v, ann_diff *d) {
  const int64_t n = fk_ann_size(a), *labels = fk_ann_labels(a);
  memset(d, 0, sizeof *d);
  d->gone = malloc((size_t)n * sizeof *d->gone + 1);
  d->rows = malloc((size_t)v->n * sizeof *d->rows + 1);
  if (!d->gone || !d->rows) return FK_ENOMEM;
  int64_t i = 0, j = 0, last = n ? labels[n - 1] : INT64_MIN;
  while (i < v->n || j < n) {
    if (j < n && fk_ann_is_deleted(a, j)) {
      j++;
    } else if (i < v->n && (v->flags[i] & FK_VEC_DELETED)) {
      i++;
    } else if (j == n || (i < v->n && v->face_id[i] < labels[j])) {
      d->rebuild |= v->face_id[i] <= last; /* would break the label order */
      d->rows[d->nrows++] = i++;
    } else if (i == v->n || labels[j] < v->face_id[i]) {
      d->gone[d->ngone++] = j++;
    } else {
      if (memcmp(fk_ann_code(a, j), v->i8 + i * v->dim, (size_t)v->dim)) {
        d->gone[d->ngone++] = j;
        d->rows[d->nrows++] = i;
        d->rebuild = 1;
      }
      i++, j++;
    }
  }
  d->rebuild |= (double)(fk_ann_deleted(a) + d->ngone) > REBUILD_FRACTION * (double)(n + d->nrows);
  return FK_OK;
}

/* Applies d to the graph (write lock: searches may be walking it). */
static int apply_diff(fk_store *st, const ann_diff *d) {
  fk_vectors *vs = &st->vs;
  const fk_vecs *v = &vs->v;
  float *x = malloc((size_t)d->nrows * (size_t)v->dim * sizeof *x + 1);
  int64_t *labels = malloc((size_t)d->nrows * sizeof *labels + 1);
  int rc = x && labels ? FK_OK : fk_store_fail(st, FK_ENOMEM, "no memory to update the ANN graph");
  for (int64_t i = 0; rc == FK_OK && i < d->nrows; i++) {
    memcpy(x + i * v->dim, v->f32 + d->rows[i] * v->dim, (size_t)v->dim * sizeof *x);
    labels[i] = v->face_id[d->rows[i]];
  }
  if (rc == FK_OK) {
    char err[256];
    pthread_rwlock_wrlock(&vs->lock);
    fk_ann *a = vs->ann->graph;
    for (int64_t i = 0; i < d->ngone; i++) fk_ann_delete(a, d->gone[i]);
    rc = fk_ann_add(a, d->nrows, x, labels, vs->ann->threads, err, sizeof err);
    if (rc) {
      vs->ann->graph = NULL;  /* unusable after a failed insert */
      fk_ann_free(a);
    }
    vs->ann->generation = vs->generation;
    pthread_rwlock_unlock(&vs->lock);
    if (rc) fk_store_fail(st, rc, "%s: updating the ANN graph: %s", st->path, err);
  }
  free(x);
  free(labels);
  return rc;
}

int fk_vectors_ann_sync(fk_store *st) {
  fk_vectors *vs = &st->vs;
  struct fk_vectors_ann *A = vs->ann;
  if (!A || !A->graph || fk_vectors_ann_ready(vs)) return FK_OK;
  /* Only this thread changes the graph and the vectors: reading them
   * without the lock is safe. */
  ann_diff d = {0};
  int rc = FK_OK;
  if (!strcmp(A->uuid, vs->uuid) && fk_ann_dim(A->graph) == vs->v.dim) {
    if ((rc = diff(A->graph, &vs->v, &d))) rc = fk_store_fail(st, rc, "no memory to compare the ANN graph");
    else if (!d.rebuild) rc = apply_diff(st, &d);
  } else {
    d.rebuild = 1;
  }
  free(d.gone);
  free(d.rows);
  fk_ann *g = NULL;
  if (rc == FK_OK && d.rebuild) {
    install(vs, NULL, vs->generation); /* searches scan meanwhile */
    if (vs->v.n - vs->deleted > 0 && (rc = build(st, &g)) == FK_OK) install(vs, g, vs->generation);
  }
  return rc;
}

/* ---- the public side ----------------------------------------------------- */

int fk_store_load_ann(fk_store *st, int threads) {
  int rc = fk_store_refresh(st); /* syncs a loaded graph */
  if (rc) return rc;
  fk_vectors *vs = &st->vs;
  if (!vs->ann) {
    struct fk_vectors_ann *a = calloc(1, sizeof *a);
    if (!a) return fk_store_fail(st, FK_ENOMEM, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    a->file_generation = -1;
    pthread_rwlock_wrlock(&vs->lock); /* searches on other threads look at vs->ann */
    vs->ann = a;
    pthread_rwlock_unlock(&vs->lock);
  }
  struct fk_vectors_ann *A = vs->ann;
  A->threads = threads_or_all(threads);
  if (fk_vectors_ann_ready(vs) || vs->v.n - vs->deleted == 0) return FK_OK; /* nothing to walk yet */
  if (!A->graph) read_cache(st);
  if ((rc = fk_vectors_ann_sync(st))) return rc;
  fk_ann *g;
  if (!A->graph && (rc = build(st, &g)) == FK_OK) install(vs, g, vs->generation);
  if (rc == FK_OK && A->file_generation != A->generation) write_cache(st);
  return rc;
}

void fk_store_ann_refresh(fk_store *st, int threads) {
  char path[4200];
  struct stat sb;
  int has_file = ann_path(st, path, sizeof path) == FK_OK && stat(path, &sb) == 0;
  if (st->vs.ann || has_file || fk_vectors_count(&st->vs) >= FK_ANN_AUTO_MIN) fk_store_load_ann(st, threads);
}

void fk_store_ann_close(fk_store *st) {
  struct fk_vectors_ann *A = st->vs.ann;
  if (!A) return;
  if (A->file_generation != A->generation) write_cache(st); /* faces came and went since */
  fk_ann_free(A->graph);
  for (int i = 0; i < A->nidle; i++) fk_ann_searcher_free(A->idle[i]);
  free(A->idle);
  pthread_mutex_destroy(&A->mu);
  free(A);
  st->vs.ann = NULL;
}

/* ---- searching ----------------------------------------------------------- */

/* Copies rows (ascending) of v into t, for an exact scan of just those. */
static int gather(const fk_vecs *v, const int64_t *rows, int64_t m, fk_vecs *t) {
  int rc = fk_vecs_alloc(t, m, v->dim);
  for (int64_t i = 0; rc == FK_OK && i < m; i++) fk_vecs_copy_row(t, i, v, rows[i]);
  return rc;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

int fk_scan_ann(const fk_ann *a, fk_ann_searcher *sr, const fk_scan *s, int ef, fk_hit *out, int *n, char *err,
                size_t errsize) {
  *n = 0;
  const fk_vecs *v = s->v;
  const int want = s->k > ef ? s->k : ef;
  int64_t *labels = malloc((size_t)want * sizeof *labels), *rows = malloc((size_t)want * sizeof *rows);
  float *sims = malloc((size_t)want * sizeof *sims);
  int got = 0, rc = labels && rows && sims ? FK_OK : FK_ENOMEM;
  if (rc == FK_OK) rc = fk_ann_search(a, sr, s->q, want, ef, labels, sims, &got, err, errsize);
  int64_t m = 0;
  for (int i = 0; rc == FK_OK && i < got; i++)
    if ((rows[m] = fk_vecs_find_row(v, labels[i])) >= 0) m++;
  if (m > 1) qsort(rows, (size_t)m, sizeof *rows, cmp_i64);
  fk_vecs t;
  if (rc == FK_OK && m > 0 && (rc = gather(v, rows, m, &t)) == FK_OK) {
    fk_scan ts = *s;
    ts.v = &t;
    rc = fk_scan_run(&ts, NULL, out, n);
    for (int i = 0; i < *n; i++) out[i].row = rows[out[i].row];
    fk_vecs_free(&t);
  }
  if (rc == FK_ENOMEM) snprintf(err, errsize, "out of memory");
  free(labels);
  free(rows);
  free(sims);
  return rc;
}

int fk_vectors_ann_search(fk_vectors *vs, const fk_scan *s, int ef, fk_hit *out, int *n, char *err,
                          size_t errsize) {
  *n = 0;
  struct fk_vectors_ann *A = vs->ann;
  if (!fk_vectors_ann_ready(vs))
    return snprintf(err, errsize, "no ANN graph is loaded for these vectors (fk_store_load_ann)"), FK_EINVAL;
  fk_ann_searcher *sr = NULL;
  pthread_mutex_lock(&A->mu);
  if (A->nidle) sr = A->idle[--A->nidle];
  pthread_mutex_unlock(&A->mu);
  int rc = sr ? FK_OK : fk_ann_searcher_new(&sr, err, errsize);
  if (rc == FK_OK) rc = fk_scan_ann(A->graph, sr, s, ef, out, n, err, errsize);
  if (!sr) return rc;
  pthread_mutex_lock(&A->mu);
  if (A->nidle == A->cap) {
    fk_ann_searcher **p = realloc(A->idle, (size_t)(A->cap * 2 + 4) * sizeof *p);
    if (p) A->idle = p, A->cap = A->cap * 2 + 4;
  }
  if (A->nidle < A->cap) A->idle[A->nidle++] = sr, sr = NULL;
  pthread_mutex_unlock(&A->mu);
  fk_ann_searcher_free(sr); /* no room to keep it */
  return rc;
}
