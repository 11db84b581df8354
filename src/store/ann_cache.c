/*
 * ann_cache.c - the index's ANN graph (ann.h over faiss's HNSW) and its
 * cache file PATH.faiss. Like the vector sidecar (sidecar.c) it is derived
 * data: the faces table stays the truth, and the file carries the index's
 * uuid and the generation it is current with.
 *
 * Keeping it current without rebuilding. When the index has moved on, the
 * graph is compared with the freshly loaded vectors (both sorted by face
 * id). SQLite may hand the id of a deleted last row to a new face, so a
 * node is kept only when the vectors hold its face id with the same int8
 * code; faces that are new or changed are inserted in one batch, and nodes
 * whose face is gone are marked deleted (HNSW cannot unlink a node: it
 * keeps routing searches and is filtered from the results). Once more than
 * REBUILD_FRACTION of the nodes are deleted the graph is built afresh.
 *
 * Searching. The graph ranks on the int8 codes' cosine; its candidates are
 * then ranked by the exact scan's own code on just those rows (copied into
 * a small fk_vecs), so an ANN match carries the same distance and
 * similarity as the exact search would give it.
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

int fk_store_ann_path(const fk_store *st, char *buf, size_t size) {
  return snprintf(buf, size, "%s.faiss", st->path) < (int)size ? FK_OK : FK_EINVAL;
}

void fk_store_ann_unload(fk_store *st) {
  fk_ann_free(st->ann);
  fk_ann_searcher_free(st->ann_searcher);
  st->ann = NULL;
  st->ann_searcher = NULL;
}

static int threads_or_all(int threads) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return threads > 0 ? threads : n > 0 ? (int)n : 1;
}

/* Reads PATH.faiss when it is this index's at this width; anything else
 * (missing, damaged, foreign) leaves st->ann NULL to be rebuilt. */
static void read_cache(fk_store *st, const char *uuid) {
  char path[4200], err[256];
  fk_ann *a;
  fk_ann_tag tag;
  if (fk_store_ann_path(st, path, sizeof path)) return;
  FILE *f = fopen(path, "rbe");
  if (!f) return;
  int rc = fk_ann_read(f, &a, &tag, err, sizeof err);
  fclose(f);
  if (rc) return;
  if (strncmp(tag.uuid, uuid, sizeof tag.uuid) || fk_ann_dim(a) != st->vecs.dim) {
    fk_ann_free(a);
    return;
  }
  st->ann = a;
  st->ann_generation = tag.generation;
}

/* Writes the graph atomically (tmp, fsync, rename); a cache, so failure
 * (a read-only directory, a full disk) only costs the next process a
 * rebuild. */
static void write_cache(fk_store *st, const char *uuid) {
  char path[4200], tmp[4300], err[256];
  if (fk_store_ann_path(st, path, sizeof path)) return;
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "wbe");
  if (!f) return;
  fk_ann_tag tag = {.generation = st->ann_generation};
  memcpy(tag.uuid, uuid, sizeof tag.uuid);
  int ok = fk_ann_write(st->ann, &tag, f, err, sizeof err) == FK_OK && fflush(f) == 0 && fsync(fileno(f)) == 0;
  ok = fclose(f) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) unlink(tmp);
}

static int build(fk_store *st, int threads) {
  const fk_ann_params p = {.m = ANN_M, .ef_construction = ANN_EF_CONSTRUCTION};
  char err[256];
  fk_ann *a;
  int rc = fk_ann_new(st->vecs.dim, &p, &a, err, sizeof err);
  if (rc == FK_OK) rc = fk_ann_add(a, st->vecs.n, st->vecs.f32, st->vecs.face_id, threads, err, sizeof err);
  if (rc) {
    fk_ann_free(a);
    return fk_store_fail(st, rc, "%s: building the ANN graph: %s", st->path, err);
  }
  st->ann = a;
  return FK_OK;
}

typedef struct node_ref {
  int64_t label, node;
} node_ref;

static int cmp_ref(const void *a, const void *b) {
  const node_ref *x = a, *y = b;
  return x->label != y->label ? (x->label > y->label) - (x->label < y->label) : (x->node > y->node) - (x->node < y->node);
}

/* The live nodes sorted by label (usually already in order: faces are
 * inserted in id order). */
static node_ref *live_nodes(const fk_ann *a, int64_t *count) {
  int64_t n = fk_ann_size(a), m = 0;
  const int64_t *labels = fk_ann_labels(a);
  node_ref *r = malloc((size_t)(n > 0 ? n : 1) * sizeof *r);
  int sorted = 1;
  for (int64_t i = 0; r && i < n; i++) {
    if (fk_ann_is_deleted(a, i)) continue;
    r[m] = (node_ref){labels[i], i};
    sorted &= m == 0 || r[m - 1].label < r[m].label;
    m++;
  }
  if (r && !sorted) qsort(r, (size_t)m, sizeof *r, cmp_ref);
  *count = m;
  return r;
}

/* The changes that bring the graph to the vectors: nodes to delete and
 * rows to insert (see the top of the file). */
typedef struct ann_diff {
  int64_t *gone, ngone;
  int64_t *rows, nrows;
} ann_diff;

static int diff(const fk_ann *a, const fk_vecs *v, ann_diff *d) {
  int64_t live;
  node_ref *refs = live_nodes(a, &live);
  d->gone = malloc((size_t)(live > 0 ? live : 1) * sizeof *d->gone);
  d->rows = malloc((size_t)(v->n > 0 ? v->n : 1) * sizeof *d->rows);
  d->ngone = d->nrows = 0;
  if (!refs || !d->gone || !d->rows) {
    free(refs);
    return FK_ENOMEM;
  }
  int64_t i = 0, j = 0;
  while (i < v->n || j < live) {
    if (j == live || (i < v->n && v->face_id[i] < refs[j].label)) {
      d->rows[d->nrows++] = i++;
    } else if (i == v->n || refs[j].label < v->face_id[i]) {
      d->gone[d->ngone++] = refs[j++].node;
    } else {
      if (memcmp(fk_ann_code(a, refs[j].node), v->i8 + i * v->dim, (size_t)v->dim)) {
        d->gone[d->ngone++] = refs[j].node;
        d->rows[d->nrows++] = i;
      }
      i++, j++;
    }
  }
  free(refs);
  return FK_OK;
}

/* Applies the diff to the graph; 1 when deletions have piled up so far
 * that a rebuild is the better graph. */
static int update(fk_store *st, int threads) {
  const fk_vecs *v = &st->vecs;
  ann_diff d;
  char err[256];
  int rc = diff(st->ann, v, &d);
  if (rc == FK_OK &&
      (double)(fk_ann_deleted(st->ann) + d.ngone) > REBUILD_FRACTION * (double)(fk_ann_size(st->ann) + d.nrows))
    rc = 1;
  float *x = NULL;
  int64_t *labels = NULL;
  if (rc == FK_OK && d.nrows > 0) {
    x = malloc((size_t)d.nrows * (size_t)v->dim * sizeof *x);
    labels = malloc((size_t)d.nrows * sizeof *labels);
    if (!x || !labels) rc = FK_ENOMEM;
  }
  if (rc == FK_OK) {
    for (int64_t i = 0; i < d.ngone; i++) fk_ann_delete(st->ann, d.gone[i]);
    for (int64_t i = 0; i < d.nrows; i++) {
      memcpy(x + i * v->dim, v->f32 + d.rows[i] * v->dim, (size_t)v->dim * sizeof *x);
      labels[i] = v->face_id[d.rows[i]];
    }
    if ((rc = fk_ann_add(st->ann, d.nrows, x, labels, threads, err, sizeof err)))
      fk_store_fail(st, rc, "%s: updating the ANN graph: %s", st->path, err);
  } else if (rc == FK_ENOMEM) {
    fk_store_fail(st, rc, "no memory to update the ANN graph");
  }
  free(x);
  free(labels);
  free(d.gone);
  free(d.rows);
  return rc;
}

int fk_store_load_ann(fk_store *st, int threads) {
  int rc = fk_store_load(st, NULL);
  if (rc) return rc;
  threads = threads_or_all(threads);
  char uuid[40];
  memcpy(uuid, st->vecs.hdr->uuid, sizeof uuid);
  uuid[sizeof uuid - 1] = 0;
  if (!st->ann) read_cache(st, uuid);
  if (!st->ann || st->ann_generation != st->vecs_generation) {
    if (st->ann && (rc = update(st, threads)) != FK_OK) {
      fk_store_ann_unload(st); /* a failed insert leaves the graph unusable */
      if (rc != 1) return rc;
    }
    if (!st->ann && (rc = build(st, threads))) return rc;
    st->ann_generation = st->vecs_generation;
    write_cache(st, uuid);
  }
  if (!st->ann_searcher) {
    char err[256];
    if ((rc = fk_ann_searcher_new(&st->ann_searcher, err, sizeof err))) return fk_store_fail(st, rc, "%s", err);
  }
  return FK_OK;
}

void fk_store_ann_refresh(fk_store *st, int threads) {
  char path[4200];
  struct stat sb;
  int has_file = fk_store_ann_path(st, path, sizeof path) == FK_OK && stat(path, &sb) == 0;
  if (st->ann || has_file || (st->vecs_loaded && st->vecs.n >= FK_ANN_AUTO_MIN)) fk_store_load_ann(st, threads);
}

/* The row of a face id in the vectors (ascending ids), or -1. */
static int64_t row_of(const fk_vecs *v, int64_t face_id) {
  int64_t lo = 0, hi = v->n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (v->face_id[mid] < face_id) lo = mid + 1;
    else hi = mid;
  }
  return lo < v->n && v->face_id[lo] == face_id ? lo : -1;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Copies rows (ascending) of v into t, every array, for an exact scan. */
static int gather(const fk_vecs *v, const int64_t *rows, int64_t m, fk_vecs *t) {
  int rc = fk_vecs_alloc(t, m, v->dim);
  if (rc) return rc;
  const size_t dim = (size_t)v->dim;
  for (int64_t i = 0; i < m; i++) {
    int64_t r = rows[i];
    t->face_id[i] = v->face_id[r];
    t->image_id[i] = v->image_id[r];
    t->identity[i] = v->identity[r];
    t->flags[i] = v->flags[r];
    t->norm[i] = v->norm[r];
    t->i8_inv[i] = v->i8_inv[r];
    memcpy(t->f32 + i * dim, v->f32 + r * dim, dim * sizeof *t->f32);
    memcpy(t->i8 + i * dim, v->i8 + r * dim, dim);
  }
  return FK_OK;
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
    if ((rows[m] = row_of(v, labels[i])) >= 0) m++;
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

int fk_store_ann_search(fk_store *st, const fk_scan *s, int ef, fk_hit *out, int *n) {
  char err[256];
  int rc = fk_scan_ann(st->ann, st->ann_searcher, s, ef, out, n, err, sizeof err);
  return rc ? fk_store_fail(st, rc, "%s: ANN search: %s", st->path, err) : FK_OK;
}
