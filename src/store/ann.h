/*
 * ann.h - approximate nearest-neighbour search for the face index: a C
 * interface over faiss's HNSW graph (ann.cpp, the only C++ in facekit).
 * Debian's libfaiss.a has no C API compiled in, so this shim is it; every
 * C++ exception stops at its boundary and comes back as an FK_E* status
 * with a message in err.
 *
 * What it holds (an fk_ann):
 *   - faiss::HNSW, the graph: faiss builds it (IndexHNSW::add, OpenMP);
 *     searches walk it with its level-0 algorithm plus prefetching (ann.cpp
 *     says why). Nodes are numbered 0..n-1 in insertion order.
 *   - its own storage of int8 codes (round(127 v), as fk_quantize_i8) and
 *     1/|code| per node, 1 byte a dimension: the graph is navigated on the
 *     codes' cosine, with AVX2 dot products (Debian builds faiss for the
 *     x86-64 baseline, so its own kernels are scalar). Callers re-rank the
 *     candidates on exact vectors.
 *   - labels int64[n]: the caller's id of each node (faces.id).
 *   - a deleted bitmap: HNSW cannot remove a node, so a deleted node keeps
 *     routing searches but is never returned (faiss's IDSelector at search
 *     time). The caller rebuilds when too many are deleted.
 *
 * Lifecycle: fk_ann_new or fk_ann_read, then fk_ann_add / fk_ann_delete,
 * then any number of threads search it, each with its own
 * fk_ann_searcher; fk_ann_add and fk_ann_delete must not run during a
 * search.
 *
 * File layout written by fk_ann_write (little-endian, no padding between
 * sections; the caller makes it atomic):
 *   fk_ann_header                 magic, version, dim, n, deleted, m,
 *                                 ef_construction, the caller's tag, graph
 *                                 sizes, CRC-32 of everything after it
 *   labels       int64[n]
 *   deleted      uint8[(n + 7) / 8]   bit i % 8 of byte i / 8
 *   inv          float[n]             1 / |code|
 *   codes        int8[n][dim]
 *   probas       double[levels - 1]   faiss HNSW::assign_probas
 *   cum_links    int32[levels]        HNSW::cum_nneighbor_per_level
 *   node_levels  int32[n]             HNSW::levels (1 + top level of a node)
 *   offsets      uint64[n + 1]        HNSW::offsets into links
 *   links        int32[n_links]       HNSW::neighbors, -1 = empty slot
 * fk_ann_read checks the sizes against the file before allocating, the
 * CRC, and the graph's invariants (every link in range, offsets agreeing
 * with levels), so a damaged file is refused, never searched.
 */
#ifndef FK_ANN_H
#define FK_ANN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fk_ann fk_ann;
typedef struct fk_ann_searcher fk_ann_searcher;

/* How the graph is built. */
typedef struct fk_ann_params {
  int m;                /* links per node on upper levels (2 m on level 0) */
  int ef_construction;  /* candidate list while inserting */
} fk_ann_params;

/* What a saved graph was made from; stored and returned, never
 * interpreted here. */
typedef struct fk_ann_tag {
  char uuid[40];       /* the index's meta.uuid */
  int64_t generation;  /* the index's meta.generation it is current with */
} fk_ann_tag;

/* An empty graph for vectors of dim (1..FK_EMBED_MAX). */
int fk_ann_new(int dim, const fk_ann_params *p, fk_ann **out, char *err, size_t errsize);
void fk_ann_free(fk_ann *a);

/* Inserts n unit vectors (rows of dim floats) with their labels, using up
 * to `threads` OpenMP threads. One call for many vectors is much cheaper
 * than many calls: faiss allocates per-call tables of the graph's size. */
int fk_ann_add(fk_ann *a, int64_t n, const float *unit, const int64_t *labels, int threads, char *err,
               size_t errsize);

/* Marks a node deleted (idempotent; out-of-range nodes are ignored). */
void fk_ann_delete(fk_ann *a, int64_t node);

int fk_ann_dim(const fk_ann *a);
int64_t fk_ann_size(const fk_ann *a);     /* nodes, deleted ones included */
int64_t fk_ann_deleted(const fk_ann *a);  /* nodes marked deleted */
int fk_ann_is_deleted(const fk_ann *a, int64_t node);
const int64_t *fk_ann_labels(const fk_ann *a);          /* [size] */
const int8_t *fk_ann_code(const fk_ann *a, int64_t node); /* [dim] */
void fk_ann_get_params(const fk_ann *a, fk_ann_params *p);
/* Bytes held: codes, norms, labels, bitmap and graph. */
size_t fk_ann_memory(const fk_ann *a);

/* Writes the graph and tag to f (see the layout above). */
int fk_ann_write(const fk_ann *a, const fk_ann_tag *tag, FILE *f, char *err, size_t errsize);
/* Reads a graph written by fk_ann_write; FK_ECORRUPT for a damaged or
 * foreign file, FK_EIO for a read error, FK_ENOMEM. */
int fk_ann_read(FILE *f, fk_ann **out, fk_ann_tag *tag, char *err, size_t errsize);

int fk_ann_searcher_new(fk_ann_searcher **out, char *err, size_t errsize);
void fk_ann_searcher_free(fk_ann_searcher *s);
/* For measurement: walk with faiss's HNSW::search rather than the shim's
 * prefetching walk (same graph, same answers up to ties). */
void fk_ann_searcher_use_faiss(fk_ann_searcher *s, int on);

/* The k live nodes nearest to the unit query q by the codes' cosine, best
 * first, exploring ef candidates (ef < k means k): their labels and
 * estimated cosine similarities. *n < k when fewer are found. */
int fk_ann_search(const fk_ann *a, fk_ann_searcher *s, const float *q, int k, int ef, int64_t *labels,
                  float *sims, int *n, char *err, size_t errsize);

#ifdef __cplusplus
}
#endif

#endif /* FK_ANN_H */
