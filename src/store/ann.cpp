/*
 * ann.cpp - the C interface of ann.h over faiss's C++ HNSW, and the only
 * C++ file in facekit. faiss builds and walks the graph; this file gives it
 * a storage of int8 codes with AVX2 distances (Codes / CodeDistance), keeps
 * the labels and the deleted bitmap beside it, reads and writes the file
 * layout documented in ann.h, and turns every C++ exception into an FK_E*
 * status.
 *
 * Distances handed to faiss are -cos of the codes, so "smaller is nearer"
 * holds without faiss's inner-product wrapper (IndexHNSW negates inner
 * products itself only for METRIC_INNER_PRODUCT storages).
 *
 * Searches walk the graph with walk() below, faiss's level-0 search plus
 * prefetching and binary heaps (see there and README for the measured
 * difference); fk_ann_searcher_use_faiss switches to faiss::HNSW::search
 * itself, for comparison. Neither goes through IndexHNSW::search, which
 * allocates and clears a visited table the size of the graph (10 MB at 10M
 * nodes) for every call; each fk_ann_searcher keeps its own table.
 */
#include <faiss/IndexHNSW.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/DistanceComputer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/utils/Heap.h>
#include <omp.h>
#include <sys/stat.h>
#include <zlib.h>

#include <climits>
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <algorithm>
#include <memory>
#include <new>
#include <vector>

#include <pthreadpool.h> /* before vecs.h's C linkage block: it has C++ templates */

#include "base/error.h"
#include "facekit.h"
#include "store/ann.h"
extern "C" {
#include "store/vecs.h"
}

namespace {

using idx_t = faiss::Index::idx_t;

float inverse_norm(const int8_t *c, int dim) {
  int32_t ss = 0;
  for (int i = 0; i < dim; i++) ss += (int32_t)c[i] * c[i];
  return ss > 0 ? (float)(1.0 / std::sqrt((double)ss)) : 0.0f;
}

/* The graph's storage: int8 codes of unit vectors and 1/|code|, the same
 * codes as the index's emb_i8 column. */
struct Codes final : faiss::Index {
  std::vector<int8_t> codes;  /* [ntotal][d] */
  std::vector<float> inv;     /* [ntotal] */
  fk_dot_i8_pair_fn dot;

  explicit Codes(int dim) : faiss::Index(dim, faiss::METRIC_L2), dot(fk_dot_i8_pair(dim)) { is_trained = true; }

  void encode(const float *x, int8_t *c, float *ci) const {
    fk_vec_quantize_i8(x, c, (int)d);
    *ci = inverse_norm(c, (int)d);
  }
  const int8_t *code(idx_t i) const { return codes.data() + (size_t)i * d; }

  void add(idx_t n, const float *x) override {
    size_t n0 = (size_t)ntotal;
    codes.resize((n0 + (size_t)n) * d);
    inv.resize(n0 + (size_t)n);
    for (idx_t i = 0; i < n; i++) encode(x + (size_t)i * d, &codes[(n0 + (size_t)i) * d], &inv[n0 + (size_t)i]);
    ntotal += n;
  }
  void reset() override {
    codes.clear();
    inv.clear();
    ntotal = 0;
  }
  void search(idx_t, const float *, idx_t, float *, idx_t *, const faiss::SearchParameters *) const override {
    FAISS_THROW_MSG("the codes are searched through the graph");
  }
  faiss::DistanceComputer *get_distance_computer() const override;
};

/* -cos between the query's codes and a node's (or two nodes'). */
struct CodeDistance final : faiss::DistanceComputer {
  const Codes &s;
  int8_t q[FK_EMBED_MAX];
  float qinv = 0;

  explicit CodeDistance(const Codes &s) : s(s) {}
  void set_query(const float *x) override { s.encode(x, q, &qinv); }
  float operator()(idx_t i) override { return -(float)s.dot(q, s.code(i), (int)s.d) * qinv * s.inv[i]; }
  float symmetric_dis(idx_t i, idx_t j) override {
    return -(float)s.dot(s.code(i), s.code(j), (int)s.d) * s.inv[i] * s.inv[j];
  }
};

faiss::DistanceComputer *Codes::get_distance_computer() const { return new CodeDistance(*this); }

#define fail fk_fail

/* Runs f, turning any exception into a status and a message. */
template <class F>
int guard(char *err, size_t size, F &&f) {
  try {
    return f();
  } catch (const std::bad_alloc &) {
    return fail(err, size, FK_ENOMEM, "ann: out of memory");
  } catch (const std::exception &e) {
    return fail(err, size, FK_EBACKEND, "ann: faiss: %s", e.what());
  } catch (...) {
    return fail(err, size, FK_EBACKEND, "ann: unknown C++ exception");
  }
}

/* The file header (ann.h's layout). */
struct Header {
  char magic[8];
  uint32_t version, dim;
  uint64_t n, deleted;
  uint32_t m, ef_construction;
  char uuid[40];
  int64_t generation;
  uint64_t n_links;
  int32_t entry_point, max_level;
  uint32_t levels, crc;
};
static_assert(sizeof(Header) == 112, "the header has no padding");
static_assert(sizeof(size_t) == 8, "offsets are stored as 64-bit");

const char MAGIC[8] = {'F', 'K', 'A', 'N', 'N', 0, 0, 0};
const uint32_t VERSION = 1;
const uint32_t MAX_LEVELS = 64;      /* faiss draws ~log(n)/log(m) levels */
const int64_t MAX_LINKS = 1 << 16;   /* per node, all levels */

}  // namespace

struct fk_ann {
  std::unique_ptr<Codes> codes;
  faiss::IndexHNSW index;
  std::vector<int64_t> labels;
  std::vector<uint8_t> deleted;  /* bit i % 8 of byte i / 8 */
  int64_t ndeleted = 0;
  int m;

  fk_ann(int dim, int m) : codes(new Codes(dim)), index(codes.get(), m), m(m) {}
};

struct fk_ann_searcher {
  std::unique_ptr<faiss::VisitedTable> visited;
  std::vector<float> dis;
  std::vector<idx_t> ids;
  /* walk()'s heaps and neighbour list */
  std::vector<std::pair<float, int>> candidates, results;
  std::vector<int> fresh;
  bool faiss_walk = false;
};

namespace {

/* Greedy descent through the upper levels to the node nearest the query. */
int descend(const faiss::HNSW &h, CodeDistance &dc, float *d) {
  int cur = h.entry_point;
  *d = dc(cur);
  for (int level = h.max_level; level >= 1; level--)
    for (bool moved = true; moved;) {
      moved = false;
      size_t begin, end;
      h.neighbor_range(cur, level, &begin, &end);
      for (size_t j = begin; j < end && h.neighbors[j] >= 0; j++) {
        float dv = dc(h.neighbors[j]);
        if (dv < *d) *d = dv, cur = h.neighbors[j], moved = true;
      }
    }
  return cur;
}

/* The level-0 beam search of HNSW (Malkov and Yashunin's SEARCH-LAYER with
 * ef results) over faiss's graph, as HNSW::search does but with what
 * Debian's faiss 1.7.3 lacks: the codes and visited flags of a node's
 * neighbours are prefetched before any is scored (at millions of nodes each
 * is a cache miss), and both queues are binary heaps (faiss's candidate
 * list scans all ef entries per step). Deleted nodes are walked through but
 * never kept. Leaves the results in s.ids / s.dis, nearest first. */
int walk(const fk_ann &a, fk_ann_searcher &s, CodeDistance &dc, int ef) {
  const faiss::HNSW &h = a.index.hnsw;
  faiss::VisitedTable &vt = *s.visited;
  auto &cand = s.candidates, &res = s.results;
  auto nearer = [](const std::pair<float, int> &x, const std::pair<float, int> &y) { return x.first > y.first; };
  auto live = [&](int v) { return !a.ndeleted || !((a.deleted[(size_t)v / 8] >> (v % 8)) & 1); };
  cand.clear();
  res.clear();
  float d0;
  int ep = descend(h, dc, &d0);
  vt.set(ep);
  cand.push_back({d0, ep});
  if (live(ep)) res.push_back({d0, ep});
  float bound = res.empty() ? INFINITY : d0;
  while (!cand.empty()) {
    std::pair<float, int> c = cand.front();
    if (c.first > bound && (int)res.size() == ef) break;
    std::pop_heap(cand.begin(), cand.end(), nearer);
    cand.pop_back();
    size_t begin, end;
    h.neighbor_range(c.second, 0, &begin, &end);
    const int *nb = h.neighbors.data() + begin;
    const size_t nn = end - begin;
    for (size_t j = 0; j < nn && nb[j] >= 0; j++) __builtin_prefetch(&vt.visited[(size_t)nb[j]]);
    s.fresh.clear();
    for (size_t j = 0; j < nn && nb[j] >= 0; j++) {
      int v = nb[j];
      if (vt.get(v)) continue;
      vt.set(v);
      s.fresh.push_back(v);
      __builtin_prefetch(a.codes->code(v));
      __builtin_prefetch(&a.codes->inv[(size_t)v]);
    }
    for (int v : s.fresh) {
      float dv = dc(v);
      if ((int)res.size() == ef && dv >= bound) continue;
      cand.push_back({dv, v});
      std::push_heap(cand.begin(), cand.end(), nearer);
      if (!live(v)) continue;
      res.push_back({dv, v});
      std::push_heap(res.begin(), res.end());
      if ((int)res.size() > ef) std::pop_heap(res.begin(), res.end()), res.pop_back();
      bound = res.front().first;
    }
  }
  vt.advance();
  std::sort_heap(res.begin(), res.end());
  s.dis.resize(res.size());
  s.ids.resize(res.size());
  for (size_t i = 0; i < res.size(); i++) s.dis[i] = res[i].first, s.ids[i] = res[i].second;
  return (int)res.size();
}

/* The sections after the header, in file order, as (pointer, bytes). */
struct Section {
  void *p;
  size_t bytes;
};

std::vector<Section> sections(fk_ann *a) {
  faiss::HNSW &h = a->index.hnsw;
  auto sec = [](auto &v) { return Section{(void *)v.data(), v.size() * sizeof v[0]}; };
  return {sec(a->labels), sec(a->deleted), sec(a->codes->inv), sec(a->codes->codes), sec(h.assign_probas),
          sec(h.cum_nneighbor_per_level), sec(h.levels), sec(h.offsets), sec(h.neighbors)};
}

uint32_t crc_of(const std::vector<Section> &secs) {
  uLong crc = crc32_z(0, Z_NULL, 0);
  for (const Section &s : secs) crc = crc32_z(crc, (const Bytef *)s.p, s.bytes);
  return (uint32_t)crc;
}

/* Checks what search and add rely on: every link names a node, a node's
 * slots match its level, upper-level links lead to nodes that have that
 * level, the entry point is a node on the top level, and the bitmap
 * counts what the header says. */
bool graph_is_sound(const fk_ann &a, const Header &hd) {
  const faiss::HNSW &h = a.index.hnsw;
  const int64_t n = (int64_t)hd.n;
  const std::vector<int> &cum = h.cum_nneighbor_per_level;
  if (cum[0] != 0) return false;
  for (size_t l = 1; l < cum.size(); l++)
    if (cum[l] < cum[l - 1] || cum[l] > MAX_LINKS) return false;
  for (double p : h.assign_probas)
    if (!(p >= 0 && p <= 1)) return false;
  if (h.offsets[0] != 0) return false;
  for (int64_t i = 0; i < n; i++) {
    int lv = h.levels[i];
    if (lv < 1 || lv >= (int)cum.size() || h.offsets[i + 1] - h.offsets[i] != (size_t)cum[lv]) return false;
  }
  if (h.offsets[n] != h.neighbors.size()) return false;
  for (int64_t i = 0; i < n; i++)
    for (int level = 0; level < h.levels[i]; level++)
      for (int j = cum[level]; j < cum[level + 1]; j++) {
        int v = h.neighbors[h.offsets[i] + (size_t)j];
        if (v < -1 || v >= n || (v >= 0 && h.levels[v] <= level)) return false;
      }
  if (n == 0) {
    if (hd.entry_point != -1) return false;
  } else if (hd.entry_point < 0 || hd.entry_point >= n || hd.max_level != h.levels[hd.entry_point] - 1) {
    return false;
  }
  int64_t marked = 0;
  for (size_t i = 0; i < a.deleted.size(); i++) marked += __builtin_popcount(a.deleted[i]);
  if (n % 8 && (a.deleted.back() >> (n % 8))) return false;
  return marked == (int64_t)hd.deleted;
}

/* Allocates a's arrays to the sizes hd gives. */
void size_arrays(fk_ann *a, const Header &hd) {
  const size_t n = (size_t)hd.n;
  faiss::HNSW &h = a->index.hnsw;
  a->labels.resize(n);
  a->deleted.resize((n + 7) / 8);
  a->codes->inv.resize(n);
  a->codes->codes.resize(n * hd.dim);
  h.assign_probas.resize(hd.levels - 1);
  h.cum_nneighbor_per_level.resize(hd.levels);
  h.levels.resize(n);
  h.offsets.resize(n + 1);
  h.neighbors.resize((size_t)hd.n_links);
}

/* The header's sizes are plausible and add up to the file's length. */
bool header_fits(const Header &hd, uint64_t remaining) {
  if (memcmp(hd.magic, MAGIC, sizeof MAGIC) || hd.version != VERSION || hd.dim < 1 || hd.dim > FK_EMBED_MAX ||
      hd.n >= (uint64_t)INT_MAX || hd.deleted > hd.n || hd.levels < 2 || hd.levels > MAX_LEVELS ||
      hd.m < 2 || hd.m > 1024 || hd.n_links > hd.n * (uint64_t)MAX_LINKS)
    return false;
  const uint64_t n = hd.n;
  uint64_t bytes = n * 8 + (n + 7) / 8 + n * 4 + n * hd.dim + (hd.levels - 1) * 8ull + hd.levels * 4ull +
                   n * 4 + (n + 1) * 8 + hd.n_links * 4;
  return bytes == remaining;
}

int read_file(FILE *f, fk_ann **out, fk_ann_tag *tag, char *err, size_t errsize) {
  Header hd;
  struct stat sb;
  long pos = ftell(f);
  if (pos < 0 || fstat(fileno(f), &sb) != 0) return fail(err, errsize, FK_EIO, "ann: cannot stat the file");
  if (fread(&hd, sizeof hd, 1, f) != 1)
    return fail(err, errsize, FK_ECORRUPT, "ann: the file is shorter than its header");
  if (!header_fits(hd, (uint64_t)sb.st_size - (uint64_t)pos - sizeof hd))
    return fail(err, errsize, FK_ECORRUPT, "ann: not a facekit ANN file of this version, or truncated");
  std::unique_ptr<fk_ann> a(new fk_ann((int)hd.dim, (int)hd.m));
  size_arrays(a.get(), hd);
  std::vector<Section> secs = sections(a.get());
  for (const Section &s : secs)
    if (s.bytes && fread(s.p, 1, s.bytes, f) != s.bytes) return fail(err, errsize, FK_EIO, "ann: read error");
  if (crc_of(secs) != hd.crc) return fail(err, errsize, FK_ECORRUPT, "ann: checksum mismatch");
  if (!graph_is_sound(*a, hd)) return fail(err, errsize, FK_ECORRUPT, "ann: the graph is inconsistent");
  faiss::HNSW &h = a->index.hnsw;
  h.entry_point = hd.entry_point;
  h.max_level = hd.max_level;
  h.efConstruction = (int)hd.ef_construction;
  a->codes->ntotal = a->index.ntotal = (idx_t)hd.n;
  a->ndeleted = (int64_t)hd.deleted;
  memcpy(tag->uuid, hd.uuid, sizeof tag->uuid);
  tag->uuid[sizeof tag->uuid - 1] = 0;
  tag->generation = hd.generation;
  *out = a.release();
  return FK_OK;
}

}  // namespace

extern "C" {

int fk_ann_new(int dim, const fk_ann_params *p, fk_ann **out, char *err, size_t errsize) {
  *out = nullptr;
  if (dim < 1 || dim > FK_EMBED_MAX || p->m < 2 || p->m > 1024 || p->ef_construction < 1)
    return fail(err, errsize, FK_EINVAL, "ann: bad parameters (dim %d, m %d, ef_construction %d)", dim, p->m,
                p->ef_construction);
  return guard(err, errsize, [&] {
    std::unique_ptr<fk_ann> a(new fk_ann(dim, p->m));
    a->index.hnsw.efConstruction = p->ef_construction;
    *out = a.release();
    return FK_OK;
  });
}

void fk_ann_free(fk_ann *a) { delete a; }

int fk_ann_add(fk_ann *a, int64_t n, const float *unit, const int64_t *labels, int threads, char *err,
               size_t errsize) {
  if (n <= 0) return FK_OK;
  if (a->index.ntotal + n >= INT_MAX)
    return fail(err, errsize, FK_EUNSUPPORTED, "ann: more than %d nodes", INT_MAX - 1);
  return guard(err, errsize, [&] {
    size_t total = (size_t)(a->index.ntotal + n);
    a->labels.insert(a->labels.end(), labels, labels + n);
    a->deleted.resize((total + 7) / 8, 0);
    int before = omp_get_max_threads();
    omp_set_num_threads(threads > 0 ? threads : 1);
    try {
      a->index.add((idx_t)n, unit);
    } catch (...) {
      omp_set_num_threads(before);
      throw;
    }
    omp_set_num_threads(before);
    return FK_OK;
  });
}

void fk_ann_delete(fk_ann *a, int64_t node) {
  if (node < 0 || node >= a->index.ntotal || fk_ann_is_deleted(a, node)) return;
  a->deleted[(size_t)node / 8] |= (uint8_t)(1u << (node % 8));
  a->ndeleted++;
}

int fk_ann_dim(const fk_ann *a) { return (int)a->index.d; }
int64_t fk_ann_size(const fk_ann *a) { return a->index.ntotal; }
int64_t fk_ann_deleted(const fk_ann *a) { return a->ndeleted; }
int fk_ann_is_deleted(const fk_ann *a, int64_t node) { return (a->deleted[(size_t)node / 8] >> (node % 8)) & 1; }
const int64_t *fk_ann_labels(const fk_ann *a) { return a->labels.data(); }
const int8_t *fk_ann_code(const fk_ann *a, int64_t node) { return a->codes->code(node); }

void fk_ann_get_params(const fk_ann *a, fk_ann_params *p) {
  p->m = a->m;
  p->ef_construction = a->index.hnsw.efConstruction;
}

size_t fk_ann_memory(const fk_ann *a) {
  const faiss::HNSW &h = a->index.hnsw;
  return a->codes->codes.size() + a->codes->inv.size() * 4 + a->labels.size() * 8 + a->deleted.size() +
         h.levels.size() * 4 + h.offsets.size() * 8 + h.neighbors.size() * 4;
}

int fk_ann_write(const fk_ann *ca, const fk_ann_tag *tag, FILE *f, char *err, size_t errsize) {
  return guard(err, errsize, [&] {
    fk_ann *a = const_cast<fk_ann *>(ca); /* sections() only reads through the pointers */
    const faiss::HNSW &h = a->index.hnsw;
    Header hd;
    memset(&hd, 0, sizeof hd);
    memcpy(hd.magic, MAGIC, sizeof MAGIC);
    hd.version = VERSION;
    hd.dim = (uint32_t)a->index.d;
    hd.n = (uint64_t)a->index.ntotal;
    hd.deleted = (uint64_t)a->ndeleted;
    fk_ann_params p;
    fk_ann_get_params(a, &p);
    hd.m = (uint32_t)p.m;
    hd.ef_construction = (uint32_t)p.ef_construction;
    memcpy(hd.uuid, tag->uuid, sizeof hd.uuid);
    hd.generation = tag->generation;
    hd.n_links = h.neighbors.size();
    hd.entry_point = h.entry_point;
    hd.max_level = h.max_level;
    hd.levels = (uint32_t)h.cum_nneighbor_per_level.size();
    std::vector<Section> secs = sections(a);
    hd.crc = crc_of(secs);
    bool ok = fwrite(&hd, sizeof hd, 1, f) == 1;
    for (const Section &s : secs) ok = ok && (!s.bytes || fwrite(s.p, 1, s.bytes, f) == s.bytes);
    return ok ? FK_OK : fail(err, errsize, FK_EIO, "ann: write error");
  });
}

int fk_ann_read(FILE *f, fk_ann **out, fk_ann_tag *tag, char *err, size_t errsize) {
  *out = nullptr;
  return guard(err, errsize, [&] { return read_file(f, out, tag, err, errsize); });
}

int fk_ann_searcher_new(fk_ann_searcher **out, char *err, size_t errsize) {
  *out = nullptr;
  return guard(err, errsize, [&] {
    *out = new fk_ann_searcher();
    return FK_OK;
  });
}

void fk_ann_searcher_free(fk_ann_searcher *s) { delete s; }

void fk_ann_searcher_use_faiss(fk_ann_searcher *s, int on) { s->faiss_walk = on != 0; }

int fk_ann_search(const fk_ann *a, fk_ann_searcher *s, const float *q, int k, int ef, int64_t *labels,
                  float *sims, int *n, char *err, size_t errsize) {
  *n = 0;
  const idx_t total = a->index.ntotal;
  if (total == 0 || k < 1) return FK_OK;
  return guard(err, errsize, [&] {
    if (!s->visited || (idx_t)s->visited->visited.size() < total) {
      s->visited.reset();
      s->visited.reset(new faiss::VisitedTable((int)total));
    }
    const int want = ef > k ? ef : k;
    CodeDistance dc(*a->codes);
    dc.set_query(q);
    int found = 0;
    if (!s->faiss_walk) {
      found = walk(*a, *s, dc, want);
    } else {
      /* faiss keeps the candidate list as long as the results wanted (its
       * own efSearch, 16, is the floor), so ask for ef results, keep k. */
      s->dis.resize((size_t)want);
      s->ids.resize((size_t)want);
      faiss::SearchParametersHNSW p;
      p.efSearch = want;
      faiss::IDSelectorBitmap dead(a->deleted.size(), a->deleted.data());
      faiss::IDSelectorNot live(&dead);
      if (a->ndeleted) p.sel = &live;
      faiss::maxheap_heapify((size_t)want, s->dis.data(), s->ids.data());
      a->index.hnsw.search(dc, want, s->ids.data(), s->dis.data(), *s->visited, &p);
      faiss::maxheap_reorder((size_t)want, s->dis.data(), s->ids.data());
      found = want;
    }
    int got = 0;
    for (int i = 0; i < found && got < k && s->ids[i] >= 0; i++, got++) {
      labels[got] = a->labels[(size_t)s->ids[i]];
      sims[got] = -s->dis[i];
    }
    *n = got;
    return FK_OK;
  });
}

}  // extern "C"
