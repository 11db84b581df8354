/*
 * ann_bench.h - the C side of bench_ann's C++ comparisons, built for the
 * bench only: hnswlib (ann_hnswlib.cpp) and faiss's own storages and IVF
 * (ann_faiss.cpp). All indexes take unit vectors and rank by inner
 * product; labels are row numbers.
 */
#ifndef FK_ANN_BENCH_H
#define FK_ANN_BENCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* hnswlib: hb_add is thread-safe; set ef before searching from threads. */
typedef struct hb_index hb_index;
hb_index *hb_new(int dim, int64_t capacity, int m, int ef_construction);
void hb_free(hb_index *h);
int hb_add(hb_index *h, const float *x, int64_t label);
void hb_set_ef(hb_index *h, int ef);
int hb_search(const hb_index *h, const float *q, int k, int64_t *labels); /* best first */
void hb_delete(hb_index *h, int64_t label);

/* faiss with its own storage: "hnsw-flat" (f32), "hnsw-sq8" (8-bit scalar
 * quantizer), "ivf-flat" (nlist lists, trained on a sample). Searches are
 * single-threaded; `knob` is efSearch (HNSW) or nprobe (IVF). */
typedef struct nf_index nf_index;
nf_index *nf_build(const char *kind, int dim, int64_t n, const float *x, int m, int ef_construction, int nlist,
                   int threads);
int nf_search(nf_index *f, const float *q, int k, int knob, int64_t *labels);
/* The same through IndexHNSW::search, one query a call (HNSW kinds). */
int nf_search_index_api(nf_index *f, const float *q, int k, int knob, int64_t *labels);
size_t nf_memory(const nf_index *f);
void nf_free(nf_index *f);

/* Spherical k-means of n unit rows (all of them: the caller samples) into
 * nlist unit centroids [nlist][dim]; then the nearest centroid (largest
 * inner product) of each of n rows. 0, or -1 with a message on stderr. */
int nf_kmeans(int dim, int64_t n, const float *x, int nlist, int niter, int threads, uint64_t seed,
              float *centroids);
int nf_assign(int dim, int nlist, const float *centroids, int64_t n, const float *x, int threads, int64_t *list);

#ifdef __cplusplus
}
#endif

#endif /* FK_ANN_BENCH_H */
