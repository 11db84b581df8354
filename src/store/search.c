/*
 * search.c - the read side of the face index: k-NN over the loaded vectors
 * (fk_store_search: vectors.c's search, the exact scan or, for a large
 * index or when asked, ann_cache.c's graph), and the lookups that turn a
 * face id into its image, box, landmarks and identity
 * (fk_store_get_face, fk_store_foreach_face for exports), and listings;
 * the queries are the backends' (sqlite/read.c, pg/pg.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "image/compose.h"
#include "store/store.h"

void fk_search_options_init(fk_search_options *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->k = 10;
  o->metric = FK_METRIC_COSINE;
  o->threshold = -1;
  o->codes = FK_CODES_F32;
  o->threads = 1;
  o->search = FK_SEARCH_AUTO;
}

int fk_store_search_method(fk_store *st, const fk_search_options *o) {
  fk_search_options d;
  if (FK_ABI_IMPORT(fk_search_options_init, &d, o))
    return fk_store_fail(st, FK_EINVAL, "search options not filled by fk_search_options_init");
  o = &d;
  if (o->search < FK_SEARCH_EXACT || o->search > FK_SEARCH_AUTO)
    return fk_store_fail(st, FK_EINVAL, "bad search options (search %d)", o->search);
  int64_t n = 0;
  int rc = fk_store_load(st, &n); /* refreshes the vectors */
  if (rc) return rc;
#ifndef FK_WITH_FAISS
  if (o->search == FK_SEARCH_AUTO) return FK_SEARCH_EXACT; /* no graph to walk in this build */
#endif
  return o->search != FK_SEARCH_AUTO ? o->search : n >= FK_ANN_AUTO_MIN ? FK_SEARCH_ANN : FK_SEARCH_EXACT;
}

int fk_store_search(fk_store *st, const float *embedding, int dim, const fk_search_options *o,
                    fk_match *out, int *n) {
  *n = 0;
  int method = fk_store_search_method(st, o);
  if (method < 0) return method;
  /* An ANN search needs the graph, which only the store's thread may load. */
  fk_search_options d;
  FK_ABI_IMPORT(fk_search_options_init, &d, o); /* checked by fk_store_search_method */
  if (method == FK_SEARCH_ANN && (method = fk_store_load_ann(st, d.threads))) return method;
  /* Searched as fk_vectors_search decides: the same method now. */
  char err[512];
  int rc = fk_vectors_search(&st->vs, embedding, dim, o, out, n, err, sizeof err);
  return rc ? fk_store_fail(st, rc, "%s: %s", st->path, err) : FK_OK;
}

int fk_store_get_face(fk_store *st, int64_t face_id, fk_store_face *out) {
  return st->ops->get_face(st, face_id, out);
}

int fk_store_foreach_face(fk_store *st, int (*fn)(const fk_store_face *f, void *user), void *user) {
  return st->ops->foreach_face(st, fn, user);
}

/* ---- listing ---------------------------------------------------------------- */

static int check_page(fk_store *st, int64_t offset, int limit) {
  if (offset < 0 || limit < 1 || limit > 100000)
    return fk_store_fail(st, FK_EINVAL, "bad page (offset %lld, limit %d)", (long long)offset, limit);
  return FK_OK;
}

/* Ends the read transaction of a page and its total (one snapshot). */
static int end_read(fk_store *st, int rc) {
  if (rc) {
    st->ops->rollback(st);
    return rc;
  }
  return st->ops->commit(st);
}

int fk_store_list_identities(fk_store *st, int64_t offset, int limit, fk_identity_info *out, int *n,
                             int64_t *total) {
  *n = 0;
  int rc = check_page(st, offset, limit);
  if (rc || (rc = st->ops->begin(st, FK_TXN_READ))) return rc;
  rc = st->ops->list_identities(st, offset, limit, out, n, total);
  return end_read(st, rc);
}

int fk_store_identity_faces(fk_store *st, const char *identity, int64_t offset, int limit, fk_store_face *out,
                            int *n, int64_t *total) {
  *n = 0;
  if (!identity) return fk_store_fail(st, FK_EINVAL, "fk_store_identity_faces: no name");
  int rc = check_page(st, offset, limit);
  if (rc || (rc = st->ops->begin(st, FK_TXN_READ))) return rc;
  rc = st->ops->identity_faces(st, identity, offset, limit, out, n, total);
  return end_read(st, rc);
}

/* ---- crops ------------------------------------------------------------------- */

int fk_store_path_below(const char *root, const char *path, char *out, size_t size) {
  int n = root && path[0] != '/' ? snprintf(out, size, "%s/%s", root, path) : snprintf(out, size, "%s", path);
  return n < 0 || (size_t)n >= size ? FK_ETOOBIG : FK_OK;
}

int fk_store_face_crop(const fk_store_face *f, int size, size_t max_pixels, fk_image *out) {
  memset(out, 0, sizeof *out);
  if (!f || size < 16 || size > 1024) return FK_EINVAL;
  fk_image img;
  int rc = fk_image_load(f->path, max_pixels, &img);
  if (rc) return rc;
  /* Another picture at the same path: the box would frame nothing. */
  if ((f->image_width || f->image_height) && (img.width != f->image_width || img.height != f->image_height))
    rc = FK_EMISMATCH;
  else
    rc = fk_face_thumbnail(&img, f->box, 0.25f, size, out);
  fk_image_free(&img);
  return rc;
}
