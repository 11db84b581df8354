/*
 * ann_faiss.cpp - bench_ann's comparison with faiss's own storages, which
 * the library does not use: IndexHNSWFlat (f32) and IndexHNSWSQ (8-bit
 * scalar quantizer) with inner product, and IndexIVFFlat. They show what
 * Debian's faiss (built for the x86-64 baseline, scalar distance kernels)
 * gives without the library's int8 AVX2 storage. HNSW searches call
 * HNSW::search with a reused visited table, like the library; one variant
 * goes through IndexHNSW::search to show what that entry point costs per
 * query. Built for the bench only; so are the k-means and the assignment
 * that bench_ann's IVF over int8 codes trains and fills its lists with
 * (faiss's Clustering and IndexFlatIP, which run on BLAS).
 */
#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/utils/Heap.h>
#include <omp.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "ann_bench.h"

namespace {

/* faiss ranks inner products by -ip inside HNSW (its own wrapper is
 * private to IndexHNSW.cpp). */
struct Negated final : faiss::DistanceComputer {
  std::unique_ptr<faiss::DistanceComputer> b;
  explicit Negated(faiss::DistanceComputer *b) : b(b) {}
  void set_query(const float *x) override { b->set_query(x); }
  float operator()(idx_t i) override { return -(*b)(i); }
  float symmetric_dis(idx_t i, idx_t j) override { return -b->symmetric_dis(i, j); }
};

}  // namespace

struct nf_index {
  std::unique_ptr<faiss::Index> index;
  faiss::IndexHNSW *hnsw = nullptr;
  std::unique_ptr<faiss::IndexFlatIP> coarse;
  std::unique_ptr<faiss::VisitedTable> visited;
  std::unique_ptr<Negated> dc;
  std::vector<float> dis;
  std::vector<faiss::Index::idx_t> ids;
};

extern "C" {

nf_index *nf_build(const char *kind, int dim, int64_t n, const float *x, int m, int efc, int nlist, int threads) {
  try {
    std::unique_ptr<nf_index> f(new nf_index());
    omp_set_num_threads(threads);
    if (!strcmp(kind, "hnsw-flat")) {
      f->hnsw = new faiss::IndexHNSWFlat(dim, m, faiss::METRIC_INNER_PRODUCT);
    } else if (!strcmp(kind, "hnsw-sq8")) {
      f->hnsw = new faiss::IndexHNSWSQ(dim, faiss::ScalarQuantizer::QT_8bit, m, faiss::METRIC_INNER_PRODUCT);
    } else if (!strcmp(kind, "ivf-flat")) {
      f->coarse.reset(new faiss::IndexFlatIP(dim));
      f->index.reset(new faiss::IndexIVFFlat(f->coarse.get(), dim, (size_t)nlist, faiss::METRIC_INNER_PRODUCT));
    } else {
      return nullptr;
    }
    if (f->hnsw) {
      f->index.reset(f->hnsw);
      f->hnsw->hnsw.efConstruction = efc;
    }
    int64_t sample = n < 64 * (int64_t)nlist ? n : 64 * (int64_t)nlist; /* faiss's kmeans wants <= 256 / list */
    f->index->train(f->hnsw ? (n < 100000 ? n : 100000) : sample, x);
    f->index->add(n, x);
    omp_set_num_threads(1);
    if (f->hnsw) {
      f->visited.reset(new faiss::VisitedTable((int)n));
      f->dc.reset(new Negated(f->hnsw->storage->get_distance_computer()));
    }
    return f.release();
  } catch (const std::exception &e) {
    fprintf(stderr, "faiss %s: %s\n", kind, e.what());
    return nullptr;
  }
}

int nf_search(nf_index *f, const float *q, int k, int knob, int64_t *labels) {
  f->dis.resize((size_t)(k > knob ? k : knob));
  f->ids.resize(f->dis.size());
  if (!f->hnsw) {
    faiss::SearchParametersIVF p;
    p.nprobe = (size_t)knob;
    f->index->search(1, q, k, f->dis.data(), f->ids.data(), &p);
  } else {
    /* As the library does: ask for ef results so the candidate list is ef. */
    int want = k > knob ? k : knob;
    faiss::SearchParametersHNSW p;
    p.efSearch = want;
    f->dc->set_query(q);
    faiss::maxheap_heapify((size_t)want, f->dis.data(), f->ids.data());
    f->hnsw->hnsw.search(*f->dc, want, f->ids.data(), f->dis.data(), *f->visited, &p);
    faiss::maxheap_reorder((size_t)want, f->dis.data(), f->ids.data());
  }
  int n = 0;
  while (n < k && f->ids[(size_t)n] >= 0) labels[n] = f->ids[(size_t)n], n++;
  return n;
}

int nf_search_index_api(nf_index *f, const float *q, int k, int knob, int64_t *labels) {
  if (!f->hnsw) return nf_search(f, q, k, knob, labels);
  f->dis.resize((size_t)k);
  f->ids.resize((size_t)k);
  faiss::SearchParametersHNSW p;
  p.efSearch = knob;
  f->hnsw->hnsw.efSearch = knob;
  f->index->search(1, q, k, f->dis.data(), f->ids.data(), &p);
  int n = 0;
  while (n < k && f->ids[(size_t)n] >= 0) labels[n] = f->ids[(size_t)n], n++;
  return n;
}

int nf_kmeans(int dim, int64_t n, const float *x, int nlist, int niter, int threads, uint64_t seed,
              float *centroids) {
  try {
    omp_set_num_threads(threads);
    faiss::ClusteringParameters cp;
    cp.niter = niter;
    cp.spherical = true; /* unit centroids, ranked by inner product like the rows */
    cp.seed = (int)(seed & 0x7fffffff);
    cp.max_points_per_centroid = (int)(n / nlist + 1); /* the caller samples */
    faiss::Clustering c(dim, (size_t)nlist, cp);
    faiss::IndexFlatIP index(dim);
    c.train((faiss::Index::idx_t)n, x, index);
    memcpy(centroids, c.centroids.data(), (size_t)nlist * dim * sizeof(float));
    omp_set_num_threads(1);
    return 0;
  } catch (const std::exception &e) {
    fprintf(stderr, "faiss k-means: %s\n", e.what());
    return -1;
  }
}

int nf_assign(int dim, int nlist, const float *centroids, int64_t n, const float *x, int threads, int64_t *list) {
  try {
    omp_set_num_threads(threads);
    faiss::IndexFlatIP index(dim);
    index.add(nlist, centroids);
    const int64_t chunk = 65536; /* bounds the distance buffer */
    std::vector<float> dis((size_t)chunk);
    for (int64_t i = 0; i < n; i += chunk) {
      int64_t m = n - i < chunk ? n - i : chunk;
      index.search((faiss::Index::idx_t)m, x + i * dim, 1, dis.data(), list + i);
    }
    omp_set_num_threads(1);
    return 0;
  } catch (const std::exception &e) {
    fprintf(stderr, "faiss assign: %s\n", e.what());
    return -1;
  }
}

size_t nf_memory(const nf_index *f) {
  if (!f->hnsw) {
    const faiss::IndexIVF *ivf = dynamic_cast<const faiss::IndexIVF *>(f->index.get());
    return ivf ? (size_t)ivf->ntotal * (ivf->code_size + 8) + f->coarse->codes.size() : 0;
  }
  const faiss::HNSW &h = f->hnsw->hnsw;
  const faiss::IndexFlatCodes *s = dynamic_cast<const faiss::IndexFlatCodes *>(f->hnsw->storage);
  return (s ? s->codes.size() : 0) + h.levels.size() * 4 + h.offsets.size() * 8 + h.neighbors.size() * 4;
}

void nf_free(nf_index *f) { delete f; }

}  // extern "C"
