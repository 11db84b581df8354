/*
 * vectors.c - the loaded vectors of an index (fk_vectors) and how they
 * follow it (store.h, "The change sequence").
 *
 * The first load maps the sidecar when it belongs to this index and is not
 * ahead of it, else builds the vectors from the faces table; either way it
 * then catches up. A catch-up reads, in one read transaction, only what
 * changed since the seq the vectors reflect, then applies it under the
 * write lock: tombstones flag rows deleted, changed faces are updated in
 * place or appended (face ids only grow, so the rows stay in id order and a
 * face is found by binary search). Growing past the spare rows, leaving a
 * read-only mapping and compacting away tombstones copy the block *outside*
 * the lock - only the store's own thread ever changes the vectors, so the
 * copy is consistent while searches go on reading - and swap the copy in
 * under it. Searches from any thread hold the read lock; the lock prefers
 * writers, so a stream of searches cannot starve a refresh.
 *
 * An index of format < 3 has no change sequence: its vectors reload whole
 * when meta.generation moves, as before.
 *
 * A loaded ANN graph (ann_cache.c) follows the same changes: a catch-up
 * hands it the tombstones and new faces under the same write lock, and a
 * whole reload is followed by a comparison of the graph with the vectors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "base/error.h"
#include "store/store.h"

#define GROWTH_MIN 1024  /* spare rows given to a block that has to grow */
#define COMPACT_MIN 256  /* tombstones worth a compaction... */
#define COMPACT_SHARE 4  /* ...once they are also 1 / COMPACT_SHARE of the rows */
#define CHECK_CHUNKS 64  /* sidecar chunks (of 64 KiB) verified at each refresh */

void fk_vectors_init(fk_vectors *vs) {
  memset(vs, 0, sizeof *vs);
  pthread_rwlockattr_t a;
  pthread_rwlockattr_init(&a);
  pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&vs->lock, &a);
  pthread_rwlockattr_destroy(&a);
  pthread_mutex_init(&vs->pool_mu, NULL);
}

void fk_vectors_destroy(fk_vectors *vs) {
  fk_sidecar_unmap(&vs->v);
  if (vs->pool) pthreadpool_destroy(vs->pool);
  pthread_rwlock_destroy(&vs->lock);
  pthread_mutex_destroy(&vs->pool_mu);
}

pthreadpool_t fk_vectors_pool(fk_vectors *vs, int threads) {
  if (threads <= 1) return NULL;
  if (vs->pool && vs->pool_threads != threads) {
    pthreadpool_destroy(vs->pool);
    vs->pool = NULL;
  }
  if (!vs->pool) {
    vs->pool = pthreadpool_create((size_t)threads);
    vs->pool_threads = threads;
  }
  return vs->pool;
}

int64_t fk_vecs_find_row(const fk_vecs *v, int64_t id) {
  int64_t lo = 0, hi = v->n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (v->face_id[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return lo < v->n && v->face_id[lo] == id ? lo : -1;
}

/* Replaces the vectors by nv, fresh from a file or the table, reflecting
 * the index `uuid` at (generation, seq). */
static void swap_in(fk_vectors *vs, fk_vecs *nv, const char *uuid, int64_t generation, int64_t seq) {
  pthread_rwlock_wrlock(&vs->lock);
  fk_vecs old = vs->v;
  vs->v = *nv;
  vs->deleted = 0;
  vs->loaded = 1;
  snprintf(vs->uuid, sizeof vs->uuid, "%s", uuid);
  vs->generation = generation;
  vs->seq = seq;
  pthread_rwlock_unlock(&vs->lock);
  fk_sidecar_unmap(&old);
}

/* A first load: the sidecar if use_sidecar, it belongs to this index and
 * it is not ahead of it (*exact when it is current), else the faces
 * table. */
static int load_base(fk_store *st, const fk_store_state *s, int use_sidecar, int *exact) {
  fk_vecs m;
  *exact = 0;
  if (use_sidecar && fk_sidecar_map(st, s->uuid, &m) == FK_OK) {
    /* Sidecars written for an index without the change sequence carry
     * seq -1: they can never be caught up from. */
    int64_t seq = m.hdr->seq, gen = m.hdr->generation;
    int usable = s->schema >= 3 ? seq >= 0 && seq <= s->seq : gen == s->generation;
    if (usable) {
      *exact = s->schema >= 3 ? seq == s->seq : 1;
      swap_in(&st->vs, &m, s->uuid, gen, s->schema >= 3 ? seq : -1);
      return FK_OK;
    }
    fk_sidecar_unmap(&m);
  }
  int rc = st->ops->vec_rows(st, -1, &m);
  if (rc == FK_OK) swap_in(&st->vs, &m, s->uuid, s->generation, s->seq);
  return rc;
}

/* Applies tombstones and changed rows to vs->v, which has room for every
 * append; the caller holds the write lock. */
static void apply(fk_vectors *vs, const int64_t *gone, int64_t ngone, const fk_vecs *ch) {
  fk_vecs *v = &vs->v;
  for (int64_t i = 0; i < ngone; i++) {
    int64_t r = fk_vecs_find_row(v, gone[i]);
    if (r >= 0 && !(v->flags[r] & FK_VEC_DELETED)) {
      v->flags[r] |= FK_VEC_DELETED;
      vs->deleted++;
    }
  }
  for (int64_t i = 0; i < ch->n; i++) {
    int64_t r = fk_vecs_find_row(v, ch->face_id[i]);
    if (r < 0) {
      r = v->n;
      fk_vecs_set_rows(v, v->n + 1);
    }
    fk_vecs_copy_row(v, r, ch, i);
  }
}

/* Drops tombstones once they are worth it. */
static int compact(fk_vectors *vs) {
  if (vs->deleted < COMPACT_MIN || vs->deleted * COMPACT_SHARE < vs->v.n) return FK_OK;
  fk_vecs nv;
  int64_t live = vs->v.n - vs->deleted;
  int rc = fk_vecs_copy(&vs->v, live + live / 4 + GROWTH_MIN, 1, &nv);
  if (rc == FK_OK) swap_in(vs, &nv, vs->uuid, vs->generation, vs->seq);
  return rc;
}

/* Brings vs up to s from the seq its vectors reflect (see the top).
 * FK_EUNSUPPORTED asks the caller for a full reload: a new face would not
 * sort after the loaded ones. */
static int catch_up(fk_store *st, const fk_store_state *s) {
  fk_vectors *vs = &st->vs;
  int64_t *gone = NULL, ngone = 0;
  fk_vecs ch = {0}, grown = {0};
  int rc = st->ops->tombstones(st, vs->seq, &gone, &ngone);
  if (rc == FK_OK) rc = st->ops->vec_rows(st, vs->seq, &ch);
  int64_t appends = 0, last = vs->v.n ? vs->v.face_id[vs->v.n - 1] : INT64_MIN;
  for (int64_t i = 0; rc == FK_OK && i < ch.n; i++) {
    if (fk_vecs_find_row(&vs->v, ch.face_id[i]) >= 0) continue;
    if (ch.face_id[i] <= last) rc = FK_EUNSUPPORTED;
    last = ch.face_id[i];
    appends++;
  }
  /* A mapped block is read-only; a full one has no room. */
  if (rc == FK_OK && (ngone || ch.n) && (vs->v.mapped || vs->v.n + appends > vs->v.cap)) {
    int64_t live = vs->v.n - vs->deleted + appends;
    if ((rc = fk_vecs_copy(&vs->v, live + live / 2 + GROWTH_MIN, 1, &grown)))
      rc = fk_store_fail(st, rc, "no memory for %lld vectors", (long long)live);
  }
  if (rc == FK_OK) {
    pthread_rwlock_wrlock(&vs->lock);
    fk_vecs old = {0};
    if (grown.hdr) {
      old = vs->v;
      vs->v = grown;
      vs->deleted = 0;
    }
    apply(vs, gone, ngone, &ch);
    fk_vectors_ann_apply(vs, gone, ngone, &ch, s->generation);
    vs->generation = s->generation;
    vs->seq = s->seq;
    pthread_rwlock_unlock(&vs->lock);
    fk_sidecar_unmap(&old);
    if ((rc = compact(vs))) rc = fk_store_fail(st, rc, "out of memory");
  }
  free(gone);
  fk_vecs_free(&ch);
  return rc;
}

/* Loads the vectors whole (from the sidecar or the table) and catches up;
 * saves the sidecar when it was not current. */
static int reload(fk_store *st, const fk_store_state *s, int use_sidecar) {
  int exact;
  int rc = load_base(st, s, use_sidecar, &exact);
  if (rc) return rc;
  fk_vectors *vs = &st->vs;
  if (s->schema >= 3 && vs->seq != s->seq && (rc = catch_up(st, s))) return rc;
  /* A cache: searching works without it, so a failed save is no error. */
  if (!exact) fk_sidecar_save(st, &vs->v, vs->uuid, vs->generation, vs->seq);
  return FK_OK;
}

int fk_store_refresh(fk_store *st) {
  fk_vectors *vs = &st->vs;
  /* One read transaction: the state and the changes read are one snapshot. */
  int rc = st->ops->begin(st, FK_TXN_READ);
  if (rc) return rc;
  fk_store_state s;
  rc = st->ops->read_state(st, &s);
  if (rc == FK_OK) st->dim = s.dim, st->schema = s.schema;
  if (rc == FK_OK) {
    int stale = !vs->loaded || strcmp(vs->uuid, s.uuid) || vs->v.dim != (s.dim ? s.dim : 1) ||
                (s.schema >= 3) != (vs->seq >= 0);
    /* vectors still mapped from the sidecar: a few more of its chunks are
     * verified at each refresh (damage done to the file since it was
     * mapped, sidecar.c), and damaged ones are replaced from the table */
    uint64_t bad = stale ? 0 : fk_sidecar_check(&vs->v, &vs->check_next, CHECK_CHUNKS);
    if (bad) fk_sidecar_damaged(st, &vs->v, bad);
    if (bad) rc = reload(st, &s, 0);
    else if (stale || (s.schema < 3 && vs->generation != s.generation)) rc = reload(st, &s, 1);
    else if (s.schema >= 3 && vs->seq != s.seq && (rc = catch_up(st, &s)) == FK_EUNSUPPORTED)
      rc = reload(st, &s, 0);
  }
  if (rc) st->ops->rollback(st);
  else rc = st->ops->commit(st);
  /* After a whole reload; a graph that cannot follow is dropped, and
   * searches scan until fk_store_load_ann says why. */
  if (rc == FK_OK && st->vs.ann) fk_vectors_ann_sync(st);
  return rc;
}

int fk_store_load(fk_store *st, int64_t *count) {
  int rc = fk_store_refresh(st);
  if (rc == FK_OK && count) *count = fk_vectors_count(&st->vs);
  return rc;
}

int fk_store_vectors(fk_store *st, fk_vectors **out) {
  *out = NULL;
  int rc = fk_store_refresh(st);
  if (rc == FK_OK) *out = &st->vs;
  return rc;
}

int64_t fk_vectors_count(fk_vectors *vs) {
  pthread_rwlock_rdlock(&vs->lock);
  int64_t n = vs->loaded ? vs->v.n - vs->deleted : 0;
  pthread_rwlock_unlock(&vs->lock);
  return n;
}

int64_t fk_vectors_seq(fk_vectors *vs) {
  pthread_rwlock_rdlock(&vs->lock);
  int64_t seq = vs->loaded ? vs->seq : 0;
  pthread_rwlock_unlock(&vs->lock);
  return seq;
}

/* The scan itself, under the read lock. */
static int search_locked(fk_vectors *vs, const float *embedding, int dim, const fk_search_options *o,
                         fk_match *out, int *n, char *err, size_t errlen) {
  const fk_vecs *v = &vs->v;
  if (!vs->loaded || v->n == vs->deleted) return FK_OK;
  if (dim != v->dim)
    return fk_fail(err, errlen, FK_EMISMATCH, "the index holds %d-d embeddings; the query has %d: use the model "
                "the index was built with", v->dim, dim);
  fk_scan s;
  fk_scan_init(&s, v, embedding, o->metric, o->codes, o->k, o->threshold);
  fk_hit *hits = malloc((size_t)o->k * sizeof *hits);
  if (!hits) return fk_fail(err, errlen, FK_ENOMEM, "out of memory");
  int cnt = 0, rc;
  int ann = o->search == FK_SEARCH_ANN ||
            (o->search == FK_SEARCH_AUTO && v->n - vs->deleted >= FK_ANN_AUTO_MIN && fk_vectors_ann_ready(vs));
  if (ann) {
    rc = fk_vectors_ann_search(vs, &s, o->ef > 0 ? o->ef : FK_ANN_EF_DEFAULT, hits, &cnt, err, errlen);
    if (rc) {
      free(hits);
      return rc;
    }
  } else if (o->threads > 1) {
    pthread_mutex_lock(&vs->pool_mu);
    rc = fk_scan_run(&s, fk_vectors_pool(vs, o->threads), hits, &cnt);
    pthread_mutex_unlock(&vs->pool_mu);
  } else {
    rc = fk_scan_run(&s, NULL, hits, &cnt);
  }
  for (int i = 0; rc == FK_OK && i < cnt; i++) {
    out[i].face_id = v->face_id[hits[i].row];
    out[i].distance = fk_scan_distance(&s, &hits[i]);
    out[i].similarity = fk_scan_similarity(&s, &hits[i]);
  }
  free(hits);
  if (rc) return fk_fail(err, errlen, rc, "search: %s", fk_strerror(rc));
  *n = cnt;
  return FK_OK;
}

int fk_vectors_search(fk_vectors *vs, const float *embedding, int dim, const fk_search_options *o,
                      fk_match *out, int *n, char *err, size_t errlen) {
  *n = 0;
  fk_search_options d;
  if (FK_ABI_IMPORT(fk_search_options_init, &d, o)) {
    snprintf(err, errlen, "search options not filled by fk_search_options_init");
    return FK_EINVAL;
  }
  o = &d;
  if (o->k < 1 || o->k > 1000000 || o->metric < FK_METRIC_COSINE || o->metric > FK_METRIC_EUCLIDEAN_L2 ||
      (o->codes != FK_CODES_F32 && o->codes != FK_CODES_INT8) || o->threads < 1 || o->threads > 256 ||
      o->search < FK_SEARCH_EXACT || o->search > FK_SEARCH_AUTO || o->ef < 0 || o->ef > 1000000)
    return fk_fail(err, errlen, FK_EINVAL,
                        "bad search options (k %d, metric %d, codes %d, threads %d, search %d, ef %d)", o->k, o->metric,
                        o->codes, o->threads, o->search, o->ef);
  double ss = 0;
  for (int i = 0; embedding && i < dim && dim <= FK_EMBED_MAX; i++) ss += (double)embedding[i] * embedding[i];
  if (!(ss > 0 && ss < INFINITY))
    return fk_fail(err, errlen, FK_EINVAL, "the query embedding is empty, zero or not finite");
  pthread_rwlock_rdlock(&vs->lock);
  int rc = search_locked(vs, embedding, dim, o, out, n, err, errlen);
  pthread_rwlock_unlock(&vs->lock);
  return rc;
}
