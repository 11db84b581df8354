/*
 * ann_hnswlib.cpp - bench_ann's baseline: hnswlib (Debian libhnswlib-dev,
 * header-only) behind a few C functions, built for the bench only and
 * with AVX2 (hnswlib picks its SIMD at compile time). Inner-product space
 * on unit vectors, so its distances are 1 - cos, exact in f32.
 */
#include <hnswlib/hnswlib.h>

#include <cstdint>
#include <cstdio>

#include "ann_bench.h"

struct hb_index {
  hnswlib::InnerProductSpace space;
  hnswlib::HierarchicalNSW<float> h;
  hb_index(int dim, int64_t cap, int m, int efc) : space((size_t)dim), h(&space, (size_t)cap, (size_t)m, (size_t)efc) {}
};

extern "C" {

hb_index *hb_new(int dim, int64_t capacity, int m, int ef_construction) {
  try {
    return new hb_index(dim, capacity, m, ef_construction);
  } catch (const std::exception &e) {
    fprintf(stderr, "hnswlib: %s\n", e.what());
    return nullptr;
  }
}

void hb_free(hb_index *h) { delete h; }

int hb_add(hb_index *h, const float *x, int64_t label) {
  try {
    h->h.addPoint(x, (hnswlib::labeltype)label);
    return 0;
  } catch (const std::exception &e) {
    fprintf(stderr, "hnswlib: %s\n", e.what());
    return -1;
  }
}

void hb_set_ef(hb_index *h, int ef) { h->h.setEf((size_t)ef); }

int hb_search(const hb_index *h, const float *q, int k, int64_t *labels) {
  auto r = h->h.searchKnn(q, (size_t)k);
  int n = (int)r.size();
  for (int i = n - 1; i >= 0; i--) {
    labels[i] = (int64_t)r.top().second;
    r.pop();
  }
  return n;
}

void hb_delete(hb_index *h, int64_t label) { h->h.markDelete((hnswlib::labeltype)label); }

}  // extern "C"
