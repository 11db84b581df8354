/*
 * ann_none.c - the store's ANN entry points in a facekit built without
 * faiss (FK_WITH_FAISS=OFF), in place of ann_cache.c and ann.cpp: no graph
 * is ever loaded, so FK_SEARCH_AUTO always scans (search.c), and asking
 * for an ANN search (fk_store_load_ann, FK_SEARCH_ANN) fails with
 * FK_EUNSUPPORTED and a message naming the build option. A PATH.faiss
 * beside an index is left alone.
 */
#include <stdio.h>

#include "store/store.h"

#define NO_FAISS "ANN search is not available: facekit was built without faiss (FK_WITH_FAISS=OFF); use exact search"

void fk_vectors_ann_apply(fk_vectors *vs, const int64_t *gone, int64_t ngone, const fk_vecs *ch,
                          int64_t generation) {
  (void)vs, (void)gone, (void)ngone, (void)ch, (void)generation;
}

int fk_vectors_ann_sync(fk_store *st) {
  (void)st;
  return FK_OK;
}

void fk_store_ann_close(fk_store *st) { (void)st; }

int fk_vectors_ann_ready(const fk_vectors *vs) {
  (void)vs;
  return 0;
}

const struct fk_ann *fk_vectors_ann_graph(const fk_vectors *vs) {
  (void)vs;
  return NULL;
}

int fk_vectors_ann_search(fk_vectors *vs, const fk_scan *s, int ef, fk_hit *out, int *n, char *err,
                          size_t errsize) {
  (void)vs, (void)s, (void)ef, (void)out;
  *n = 0;
  if (err && errsize) snprintf(err, errsize, "%s", NO_FAISS);
  return FK_EUNSUPPORTED;
}

int fk_scan_ann(const struct fk_ann *a, struct fk_ann_searcher *sr, const fk_scan *s, int ef, fk_hit *out,
                int *n, char *err, size_t errsize) {
  (void)a, (void)sr;
  return fk_vectors_ann_search(NULL, s, ef, out, n, err, errsize);
}

int fk_store_load_ann(fk_store *st, int threads) {
  (void)threads;
  return fk_store_fail(st, FK_EUNSUPPORTED, "%s", NO_FAISS);
}

void fk_store_ann_refresh(fk_store *st, int threads) { (void)st, (void)threads; }
