/*
 * bench_ann.c - approximate search at collection scale: the library's ANN
 * (faiss HNSW over int8 codes, candidates ranked exactly: fk_scan_ann)
 * against the exact scan and against hnswlib, on the same vectors in the
 * same run. Prints one JSON object a line (JSONL) as results come, so a
 * long run keeps what it measured.
 *
 * Data (--data):
 *   faces    (default) face-like unit vectors fitted to a real index
 *            (--lfw DB, e.g. LFW indexed by `facekit index`): synthetic
 *            identities whose centres spread like LFW's identity means and
 *            whose faces spread around them like LFW's faces around theirs
 *            (sums of --mix randomly weighted LFW deviations: the same
 *            covariances, near-Gaussian), as many faces per identity as a
 *            random LFW identity has (or 1 + geometric, --faces-per-id mean),
 *            and the real LFW faces mixed in at random rows. Queries: half are LFW faces left out of the base (of
 *            people with >= 2 faces), half new faces of synthetic identities.
 *   synthetic  the same generator without the real faces (queries all
 *            synthetic), and lfw the real faces alone (queries real): run
 *            at LFW's size, they check the generator against the real
 *            thing (recall, and the local intrinsic dimensionality printed
 *            with the data).
 *   uniform  unit vectors uniform on the sphere, queries too: the worst
 *            case, a space without structure.
 *
 * Measured: recall@k of each method against the exact f32 top k; QPS with
 * 1 and 2 query threads (each its own searcher), for the library's walk of
 * the graph and for faiss's HNSW::search on the same graph; build time,
 * memory (the index's own arrays, and the change in RSS); the cost of deleting 10% of
 * the rows (recall and QPS after) and of adding rows (one batch of
 * --add vectors, and one vector alone); writing and reading PATH.faiss.
 * (with --mmap the synthetic identities' faces sit in consecutive rows, so
 * that the file is written in order; the real faces at random rows still).
 * --native adds faiss's own storages (IndexHNSWFlat, IndexHNSWSQ 8-bit)
 * and IndexIVFFlat, searched on one thread. facekit-ivf is an inverted file
 * over the library's int8 codes and kernels (--nlist, swept over --nprobe,
 * the best --rerank ranked exactly), measured as a candidate for sizes
 * where the graph takes hours to build. --mmap keeps the base (f32 rows
 * and codes, the sidecar's layout) in a mapped file under --tmp, for bases
 * larger than memory; --no-facekit and --no-hnswlib skip the graphs.
 *
 * Usage: bench_ann [--n N] [--data faces|synthetic|lfw|uniform] [--lfw DB] [--queries Q]
 *                  [--k K] [--m M] [--efc EFC] [--ef 16,32,...] [--threads T]
 *                  [--exact-queries Q] [--add N] [--tmp DIR] [--native]
 *                  [--no-hnswlib] [--no-facekit] [--no-ivf] [--nlist L] [--nprobe 8,16,...]
 *                  [--rerank R] [--mmap] [--seed S] [--qps2 all|none|EF]
 * --qps2 says where 2-thread QPS is measured: at every ef and nprobe
 * (default), at none, or at one value only (the IVF's nprobe is matched
 * against it too): a short figure on a shared machine.
 */
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ann_bench.h"
#include "bench_util.h"
#include "facekit.h"
#include "store/ann.h"
#include "store/store.h"
#include "store/vecs.h"

#define KGT 50      /* exact neighbours kept per query (deletions pick from them) */
#define MAX_EFS 32

typedef struct args {
  int64_t n;
  const char *data, *lfw, *tmp;
  int nq, k, m, efc, threads, exact_q, add, native, hnswlib, facekit, ivf, mmap, mix, nefs, efs[MAX_EFS];
  int nlist, rerank, nprobes, nprobe[MAX_EFS];
  int qps2;  /* 2-thread QPS: 0 at every ef, E > 0 at ef E only, -1 never */
  double faces_per_id;
  uint64_t seed;
} args;

/* ---- small helpers ------------------------------------------------------ */

static uint64_t rnd(uint64_t *s) {
  *s ^= *s >> 12, *s ^= *s << 25, *s ^= *s >> 27;
  return *s * 2685821657736338717ull;
}

static double uniform01(uint64_t *s) { return (rnd(s) >> 11) * (1.0 / 9007199254740992.0); }

static double gauss(uint64_t *s) {
  double u = uniform01(s), v = uniform01(s);
  return sqrt(-2 * log(u + 1e-300)) * cos(2 * M_PI * v);
}

static double rss_mb(void) { return status_kb("VmRSS") / 1024.0; }

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "bench_ann: out of memory (%zu bytes)\n", n);
    exit(1);
  }
  return p;
}

/* ---- data ----------------------------------------------------------------- */

typedef struct dataset {
  fk_vecs base;     /* rows: face_id = row, unit f32 and their codes */
  int dim;
  float *q;         /* [nq][dim] unit queries */
  int nq, nq_real;  /* the first nq_real are real LFW faces */
  int64_t n_real;   /* LFW rows in the base */
} dataset;

/* Sets row r of the base from a unit vector. */
static void put_row(fk_vecs *v, int64_t r, const float *x) {
  memcpy(v->f32 + r * v->dim, x, (size_t)v->dim * sizeof *x);
  fk_quantize_i8(x, v->i8 + r * v->dim, v->dim);
  fk_vecs_code_norm(v, r);
  v->norm[r] = 1;
  v->face_id[r] = v->image_id[r] = r;
  v->identity[r] = -1;
  v->flags[r] = FK_VEC_CENTRAL;
}

/* The base block: in memory, or with --mmap in a file under --tmp, mapped
 * shared and unlinked at once, so that the page cache holds what fits of a
 * base larger than memory, as it holds an index's mapped sidecar. */
static void base_alloc(const args *a, fk_vecs *v, int64_t n, int dim) {
  if (!a->mmap) {
    if (fk_vecs_alloc(v, n, dim)) exit(1);
    return;
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/bench_ann.%d.vec", a->tmp, (int)getpid());
  size_t size = fk_vecs_block_size(n, dim);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  void *p = fd >= 0 && size && ftruncate(fd, (off_t)size) == 0
                ? mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
                : MAP_FAILED;
  if (p == MAP_FAILED) {
    fprintf(stderr, "bench_ann: %s: cannot map %zu bytes\n", path, size);
    exit(1);
  }
  unlink(path);
  close(fd);
  fk_vecs_format(v, p, n, dim, 1);
  fk_vecs_set_rows(v, n);
}

static void base_free(fk_vecs *v) {
  if (v->mapped) munmap(v->hdr, v->size);
  fk_vecs_free(v);
}

static void random_unit(float *x, int dim, uint64_t *s) {
  for (int i = 0; i < dim; i++) x[i] = (float)gauss(s);
  fk_l2_normalize(x, dim);
}

/* A random permutation of [0, n). */
static int64_t *permutation(int64_t n, uint64_t *s) {
  int64_t *p = xmalloc((size_t)n * sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)(rnd(s) % (uint64_t)(i + 1)), t = p[i];
    p[i] = p[j], p[j] = t;
  }
  return p;
}

/* The slots of a base written in order, for --mmap: the first nreal (the
 * real faces) a random ascending subset of [0, n), the rest the other slots
 * ascending. Real faces land where a permutation would put them, synthetic
 * identities' faces stay together, and the mapped file is written
 * front to back (at random slots its pages fault in and out many times a
 * row once the base outgrows the page cache). */
static int64_t *in_order(int64_t n, int64_t nreal, uint64_t *s) {
  int64_t *p = xmalloc((size_t)n * sizeof *p), a = 0, b = nreal;
  for (int64_t i = 0; i < n; i++)
    if (a < nreal && uniform01(s) * (double)(n - i) < (double)(nreal - a)) p[a++] = i;
    else p[b++] = i;
  return p;
}

static void make_uniform(const args *a, dataset *d) {
  uint64_t s = a->seed;
  d->dim = 128;
  base_alloc(a, &d->base, a->n, d->dim);
  float x[FK_EMBED_MAX];
  for (int64_t r = 0; r < a->n; r++) random_unit(x, d->dim, &s), put_row(&d->base, r, x);
  d->nq = a->nq;
  d->q = xmalloc((size_t)d->nq * d->dim * sizeof *d->q);
  for (int i = 0; i < d->nq; i++) random_unit(d->q + (size_t)i * d->dim, d->dim, &s);
}

/* The real faces: unit vectors and identities, from an index. */
typedef struct lfw {
  int dim;
  int64_t n;
  float *x;
  int32_t *id;
} lfw;

static void read_lfw(const char *path, lfw *l) {
  fk_store *st;
  if (fk_store_open(path, FK_STORE_READ, &st) || fk_store_load(st, &l->n) || l->n < 100) {
    fprintf(stderr, "bench_ann: %s: %s (need an index of real faces: --lfw DB)\n", path, fk_store_errmsg(st));
    exit(1);
  }
  const fk_vecs *v = &st->vs.v;
  l->dim = v->dim;
  l->x = xmalloc((size_t)l->n * l->dim * sizeof *l->x);
  l->id = xmalloc((size_t)l->n * sizeof *l->id);
  int64_t m = 0;
  for (int64_t r = 0; r < v->n && m < l->n; r++)
    if (!(v->flags[r] & FK_VEC_DELETED)) {
      memcpy(l->x + m * l->dim, v->f32 + r * l->dim, (size_t)l->dim * sizeof *l->x);
      l->id[m++] = v->identity[r];
    }
  l->n = m;
  fk_store_close(st);
}

/* What the generator draws from: LFW's mean, its identities' deviations
 * from it (between) and its faces' deviations from their identity's mean
 * (within, scaled by sqrt(n / (n - 1)) so they are unbiased). */
typedef struct model {
  int dim;
  float mu[FK_EMBED_MAX];
  float *between, *within;
  int64_t nb, nw;
  int64_t *sizes, nsizes; /* faces of each identity */
} model;

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

static void fit(const lfw *l, model *md) {
  const int dim = md->dim = l->dim;
  int32_t maxid = 0;
  for (int64_t i = 0; i < l->n; i++) maxid = l->id[i] > maxid ? l->id[i] : maxid;
  double *sum = calloc((size_t)(maxid + 1) * dim, sizeof *sum), mu[FK_EMBED_MAX] = {0};
  int64_t *cnt = calloc((size_t)maxid + 1, sizeof *cnt);
  if (!sum || !cnt) exit(1);
  for (int64_t i = 0; i < l->n; i++)
    for (int j = 0; j < dim; j++) {
      mu[j] += l->x[i * dim + j] / l->n;
      if (l->id[i] >= 0) sum[(size_t)l->id[i] * dim + j] += l->x[i * dim + j];
    }
  for (int64_t i = 0; i < l->n; i++)
    if (l->id[i] >= 0) cnt[l->id[i]] += 1;
  for (int j = 0; j < dim; j++) md->mu[j] = (float)mu[j];
  md->between = xmalloc((size_t)(maxid + 1) * dim * sizeof(float));
  md->within = xmalloc((size_t)l->n * dim * sizeof(float));
  md->nb = md->nw = md->nsizes = 0;
  md->sizes = xmalloc((size_t)(maxid + 1) * sizeof *md->sizes);
  for (int32_t p = 0; p <= maxid; p++)
    if (cnt[p] > 0) md->sizes[md->nsizes++] = cnt[p];
  for (int32_t p = 0; p <= maxid; p++) {
    if (cnt[p] < 2) continue;
    for (int j = 0; j < dim; j++) md->between[md->nb * dim + j] = (float)(sum[(size_t)p * dim + j] / cnt[p] - mu[j]);
    md->nb++;
  }
  for (int64_t i = 0; i < l->n; i++) {
    int32_t p = l->id[i];
    if (p < 0 || cnt[p] < 2) continue;
    double scale = sqrt((double)cnt[p] / (cnt[p] - 1));
    for (int j = 0; j < dim; j++)
      md->within[md->nw * dim + j] = (float)((l->x[i * dim + j] - sum[(size_t)p * dim + j] / cnt[p]) * scale);
    md->nw++;
  }
  free(sum);
  free(cnt);
}

/* base + sum of mix Gaussian-weighted random rows of dev, / sqrt(mix). */
static void spread(const float *base, const float *dev, int64_t ndev, int dim, int mix, uint64_t *s, float *out) {
  for (int i = 0; i < dim; i++) out[i] = base[i];
  for (int j = 0; j < mix; j++) {
    const float *r = dev + (int64_t)(rnd(s) % (uint64_t)ndev) * dim;
    float g = (float)(gauss(s) / sqrt((double)mix));
    for (int i = 0; i < dim; i++) out[i] += g * r[i];
  }
}

static void make_faces(args *a, dataset *d) {
  lfw l;
  model md;
  read_lfw(a->lfw, &l);
  fit(&l, &md);
  uint64_t s = a->seed;
  const int dim = d->dim = l.dim;
  /* Real queries: LFW faces of people with >= 2 faces, left out of the base. */
  int32_t *ids = xmalloc((size_t)l.n * sizeof *ids);
  memcpy(ids, l.id, (size_t)l.n * sizeof *ids);
  qsort(ids, (size_t)l.n, sizeof *ids, cmp_i32);
  char *held = calloc((size_t)l.n, 1);
  d->nq = a->nq;
  d->q = xmalloc((size_t)d->nq * dim * sizeof *d->q);
  int64_t *order = permutation(l.n, &s);
  const int synthetic_only = !strcmp(a->data, "synthetic"), real_only = !strcmp(a->data, "lfw");
  const int nq_real = synthetic_only ? 0 : real_only ? d->nq : d->nq / 2;
  d->nq_real = 0;
  for (int64_t t = 0; t < l.n && d->nq_real < nq_real; t++) {
    int64_t i = order[t];
    int32_t *hit = l.id[i] >= 0 ? bsearch(&l.id[i], ids, (size_t)l.n, sizeof *ids, cmp_i32) : NULL;
    int64_t lo = hit ? hit - ids : 0, c = 0;
    while (hit && lo > 0 && ids[lo - 1] == l.id[i]) lo--;
    while (hit && lo + c < l.n && ids[lo + c] == l.id[i]) c++;
    if (c < 2) continue;
    held[i] = 1;
    memcpy(d->q + (size_t)d->nq_real++ * dim, l.x + i * dim, (size_t)dim * sizeof(float));
  }
  d->n_real = synthetic_only ? 0 : l.n - d->nq_real;
  if (a->n < d->n_real) d->n_real = a->n;
  if (real_only) d->nq = d->nq_real, a->n = d->n_real;
  base_alloc(a, &d->base, a->n, dim);
  int64_t *slot = a->mmap ? in_order(a->n, d->n_real, &s) : permutation(a->n, &s), r = 0;
  for (int64_t i = 0; i < l.n && r < d->n_real; i++)
    if (!held[i]) put_row(&d->base, slot[r++], l.x + i * dim);
  /* Synthetic identities, as many faces as a random LFW identity (or
   * 1 + geometric with --faces-per-id); each face of the base has the same
   * chance to make its identity get one more face, as a query, so queries
   * fall on identities by their size, as LFW's real queries do. */
  const double p_more = a->faces_per_id > 0 ? 1 - 1 / a->faces_per_id : 0;
  const int nsyn_q = d->nq - d->nq_real;
  const double q_rate = 1.2 * nsyn_q / (double)(a->n - r + 1);
  int qs = 0;
  float c[FK_EMBED_MAX], x[FK_EMBED_MAX];
  while (r < a->n) {
    spread(md.mu, md.between, md.nb, dim, a->mix, &s, c);
    int64_t faces = 1;
    if (p_more > 0)
      while (uniform01(&s) < p_more) faces++;
    else
      faces = md.sizes[rnd(&s) % (uint64_t)md.nsizes];
    for (int64_t f = 0; f < faces && r < a->n; f++) {
      spread(c, md.within, md.nw, dim, a->mix, &s, x);
      fk_l2_normalize(x, dim);
      put_row(&d->base, slot[r++], x);
    }
    if (qs < nsyn_q && uniform01(&s) < q_rate * (double)faces) {
      spread(c, md.within, md.nw, dim, a->mix, &s, x);
      fk_l2_normalize(x, dim);
      memcpy(d->q + (size_t)(d->nq_real + qs++) * dim, x, (size_t)dim * sizeof *x);
    }
  }
  d->nq = d->nq_real + qs;
  free(slot);
  free(order);
  free(held);
  free(ids);
  free(md.between);
  free(md.within);
  free(md.sizes);
  free(l.x);
  free(l.id);
}

/* ---- exact ground truth ------------------------------------------------- */

/* Bounded max-heap on key (smaller is better), heap[0] the worst kept. */
static void heap_push(fk_hit *h, int *cnt, int k, fk_hit x) {
  int i;
  if (*cnt < k) {
    for (i = (*cnt)++; i > 0 && h[(i - 1) / 2].key < x.key; i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
  } else {
    if (x.key >= h[0].key) return;
    for (i = 0;;) {
      int c = 2 * i + 1;
      if (c >= k) break;
      if (c + 1 < k && h[c + 1].key > h[c].key) c++;
      if (h[c].key <= x.key) break;
      h[i] = h[c];
      i = c;
    }
  }
  h[i] = x;
}

static int cmp_hit(const void *a, const void *b) {
  const fk_hit *x = a, *y = b;
  return x->key != y->key ? (x->key > y->key) - (x->key < y->key) : (x->row > y->row) - (x->row < y->row);
}

typedef struct gt_job {
  const dataset *d;
  int q0, q1;
  int64_t *gt; /* [nq][KGT] rows, best first */
} gt_job;

/* Every query of the job against blocks of rows that stay in cache. */
static void *gt_thread(void *arg) {
  gt_job *j = arg;
  const fk_vecs *v = &j->d->base;
  const int dim = j->d->dim, nq = j->q1 - j->q0;
  enum { B = 1024 };
  fk_hit *heaps = xmalloc((size_t)nq * KGT * sizeof *heaps);
  int *cnt = calloc((size_t)nq, sizeof *cnt);
  float dots[B];
  for (int64_t r0 = 0; r0 < v->n; r0 += B) {
    int64_t nb = v->n - r0 < B ? v->n - r0 : B;
    for (int q = 0; q < nq; q++) {
      fk_hit *h = heaps + (size_t)q * KGT;
      fk_dot_f32(j->d->q + (size_t)(j->q0 + q) * dim, v->f32 + r0 * dim, nb, dim, dots);
      for (int64_t i = 0; i < nb; i++)
        if (cnt[q] < KGT || -dots[i] < h[0].key) heap_push(h, &cnt[q], KGT, (fk_hit){-dots[i], r0 + i});
    }
  }
  for (int q = 0; q < nq; q++) {
    fk_hit *h = heaps + (size_t)q * KGT;
    qsort(h, (size_t)cnt[q], sizeof *h, cmp_hit);
    for (int i = 0; i < KGT; i++) j->gt[(size_t)(j->q0 + q) * KGT + i] = i < cnt[q] ? h[i].row : -1;
  }
  free(heaps);
  free(cnt);
  return NULL;
}

static int64_t *ground_truth(const dataset *d, int threads) {
  int64_t *gt = xmalloc((size_t)d->nq * KGT * sizeof *gt);
  pthread_t th[16];
  gt_job jobs[16];
  if (threads > 16) threads = 16;
  for (int t = 0; t < threads; t++) {
    jobs[t] = (gt_job){d, d->nq * t / threads, d->nq * (t + 1) / threads, gt};
    pthread_create(&th[t], NULL, gt_thread, &jobs[t]);
  }
  for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
  return gt;
}

/* The mean maximum-likelihood local intrinsic dimensionality of queries
 * [q0, q1) from their KGT nearest distances (Levina and Bickel): how hard
 * their neighbourhoods are to search; uniform vectors in D dimensions give
 * about D. */
static double mean_lid(const dataset *d, const int64_t *gt, int q0, int q1) {
  double sum = 0;
  int n = 0;
  for (int q = q0; q < q1; q++) {
    double dist[KGT], acc = 0;
    int m = 0;
    for (int i = 0; i < KGT && gt[(size_t)q * KGT + i] >= 0; i++) {
      float dot;
      fk_dot_f32(d->q + (size_t)q * d->dim, d->base.f32 + gt[(size_t)q * KGT + i] * d->dim, 1, d->dim, &dot);
      dist[m++] = sqrt(fmax(1e-12, 2 - 2 * (double)dot));
    }
    for (int i = 0; i < m - 1; i++) acc += log(dist[i] / dist[m - 1]);
    if (m > 2 && acc < 0) sum += -(m - 1) / acc, n++;
  }
  return n ? sum / n : 0;
}

/* ---- one method, timed over the queries ------------------------------- */

typedef struct method {
  const char *name;
  void *ctx;
  void (*set_ef)(void *ctx, int ef);  /* before the queries; may be NULL */
  int (*search)(void *ctx, int thread, const float *q, int k, int64_t *rows);
  const char *knob;                   /* what set_ef sets, for the output: "ef", "nprobe" */
} method;

typedef struct query_job {
  const method *m;
  const dataset *d;
  int thread, q0, q1, k;
  int64_t *rows; /* [nq][k] */
} query_job;

static void *query_thread(void *arg) {
  query_job *j = arg;
  for (int q = j->q0; q < j->q1; q++) {
    int64_t *out = j->rows + (size_t)q * j->k;
    int n = j->m->search(j->m->ctx, j->thread, j->d->q + (size_t)q * j->d->dim, j->k, out);
    for (int i = n; i < j->k; i++) out[i] = -1;
  }
  return NULL;
}

/* Runs queries [0, nq) on `threads` threads; returns the wall time. */
static double run_queries(const method *m, const dataset *d, int nq, int k, int threads, int64_t *rows) {
  pthread_t th[2];
  query_job jobs[2];
  double t0 = fk_now_s();
  for (int t = 0; t < threads; t++) {
    jobs[t] = (query_job){m, d, t, nq * t / threads, nq * (t + 1) / threads, k, rows};
    if (threads > 1) pthread_create(&th[t], NULL, query_thread, &jobs[t]);
    else query_thread(&jobs[t]);
  }
  for (int t = 0; threads > 1 && t < threads; t++) pthread_join(th[t], NULL);
  return fk_now_s() - t0;
}

/* recall@k over queries [q0, q1): the exact k (skipping deleted rows) found. */
static double recall(const int64_t *gt, const int64_t *rows, int q0, int q1, int k, const uint8_t *dead) {
  int64_t found = 0, want = 0;
  for (int q = q0; q < q1; q++) {
    int64_t truth[KGT];
    int nt = 0;
    for (int i = 0; i < KGT && nt < k; i++) {
      int64_t r = gt[(size_t)q * KGT + i];
      if (r >= 0 && !(dead && dead[r])) truth[nt++] = r;
    }
    want += nt;
    for (int i = 0; i < nt; i++)
      for (int j = 0; j < k; j++) found += rows[(size_t)q * k + j] == truth[i];
  }
  return want ? (double)found / want : 0;
}

/* Sweeps ef: recall (all, real, synthetic queries) and QPS at 1 and 2 threads. */
static void sweep(const args *a, const method *m, const dataset *d, const int64_t *gt, const uint8_t *dead,
                  const char *phase, int nefs, const int *efs) {
  int64_t *rows = xmalloc((size_t)d->nq * a->k * sizeof *rows);
  for (int e = 0; e < nefs; e++) {
    if (m->set_ef) m->set_ef(m->ctx, efs[e]);
    double t1 = run_queries(m, d, d->nq, a->k, 1, rows);
    double r = recall(gt, rows, 0, d->nq, a->k, dead), rr = recall(gt, rows, 0, d->nq_real, a->k, dead),
           rs = recall(gt, rows, d->nq_real, d->nq, a->k, dead);
    char qps2[32] = "null";
    if (a->qps2 == 0 || a->qps2 == efs[e])
      snprintf(qps2, sizeof qps2, "%.0f", d->nq / run_queries(m, d, d->nq, a->k, 2, rows));
    printf("{\"method\":\"%s\",\"phase\":\"%s\",\"n\":%lld,\"%s\":%d,\"recall\":%.4f,\"recall_real\":%.4f,"
           "\"recall_synthetic\":%.4f,\"qps_1\":%.0f,\"qps_2\":%s}\n",
           m->name, phase, (long long)d->base.n, m->knob, efs[e], r, rr, rs, d->nq / t1, qps2);
    fflush(stdout);
  }
  free(rows);
}

/* ---- methods ----------------------------------------------------------- */

typedef struct exact_ctx {
  const fk_vecs *v;
  int codes;
} exact_ctx;

static int exact_search(void *ctx, int thread, const float *q, int k, int64_t *rows) {
  exact_ctx *c = ctx;
  fk_scan s;
  fk_hit h[KGT];
  int n = 0;
  (void)thread;
  fk_scan_init(&s, c->v, q, FK_METRIC_COSINE, c->codes, k, -1);
  fk_scan_run(&s, NULL, h, &n);
  for (int i = 0; i < n; i++) rows[i] = h[i].row;
  return n;
}

typedef struct facekit_ctx {
  const fk_vecs *v;
  fk_ann *ann;
  fk_ann_searcher *sr[2];
  int ef;
} facekit_ctx;

static void facekit_set_ef(void *ctx, int ef) { ((facekit_ctx *)ctx)->ef = ef; }

static int facekit_search(void *ctx, int thread, const float *q, int k, int64_t *rows) {
  facekit_ctx *c = ctx;
  fk_scan s;
  fk_hit h[KGT];
  int n = 0;
  char err[256];
  fk_scan_init(&s, c->v, q, FK_METRIC_COSINE, FK_CODES_F32, k, -1);
  if (fk_scan_ann(c->ann, c->sr[thread], &s, c->ef, h, &n, err, sizeof err)) {
    fprintf(stderr, "bench_ann: %s\n", err);
    exit(1);
  }
  for (int i = 0; i < n; i++) rows[i] = h[i].row;
  return n;
}

static void hnswlib_set_ef(void *ctx, int ef) { hb_set_ef(ctx, ef); }

static int hnswlib_search(void *ctx, int thread, const float *q, int k, int64_t *rows) {
  (void)thread;
  return hb_search(ctx, q, k, rows);
}

typedef struct native_ctx {
  nf_index *f;
  int knob, index_api;
} native_ctx;

static void native_set_ef(void *ctx, int ef) { ((native_ctx *)ctx)->knob = ef; }

static int native_search(void *ctx, int thread, const float *q, int k, int64_t *rows) {
  native_ctx *c = ctx;
  (void)thread;
  return c->index_api ? nf_search_index_api(c->f, q, k, c->knob, rows) : nf_search(c->f, q, k, c->knob, rows);
}

/* ---- phases --------------------------------------------------------------- */

static void bench_exact(const args *a, const dataset *d, const int64_t *gt) {
  int nq = a->exact_q < d->nq ? a->exact_q : d->nq;
  int64_t *rows = xmalloc((size_t)nq * a->k * sizeof *rows);
  for (int codes = 0; codes < 2; codes++) {
    exact_ctx c = {&d->base, codes ? FK_CODES_INT8 : FK_CODES_F32};
    method m = {codes ? "exact-int8" : "exact-f32", &c, NULL, exact_search, NULL};
    double t1 = run_queries(&m, d, nq, a->k, 1, rows);
    double r = recall(gt, rows, 0, nq, a->k, NULL);
    char qps2[32] = "null";
    if (a->qps2 >= 0) snprintf(qps2, sizeof qps2, "%.1f", nq / run_queries(&m, d, nq, a->k, 2, rows));
    printf("{\"method\":\"%s\",\"phase\":\"search\",\"n\":%lld,\"queries\":%d,\"recall\":%.4f,\"qps_1\":%.1f,"
           "\"qps_2\":%s,\"memory_mb\":%.1f}\n",
           m.name, (long long)d->base.n, nq, r, nq / t1, qps2,
           (double)d->base.n * d->dim * (codes ? 1 : 4) / 1048576.0);
    fflush(stdout);
  }
  free(rows);
}

/* Marks a fixed random 10% of the rows dead (the same rows for every
 * method). */
static uint8_t *dead_rows(int64_t n, uint64_t seed) {
  uint8_t *dead = calloc((size_t)n, 1);
  uint64_t s = seed ^ 0xdeadull;
  for (int64_t i = 0; i < n; i++) dead[i] = rnd(&s) % 10 == 0;
  return dead;
}

/* Extra rows to insert, like the base's (uniform, or perturbed base rows). */
static float *extra_rows(const dataset *d, int n, uint64_t seed) {
  float *x = xmalloc((size_t)n * d->dim * sizeof *x);
  uint64_t s = seed ^ 0xadd5ull;
  for (int i = 0; i < n; i++) {
    float *e = x + (size_t)i * d->dim;
    random_unit(e, d->dim, &s);
    const float *r = d->base.f32 + (int64_t)(rnd(&s) % (uint64_t)d->base.n) * d->dim;
    for (int j = 0; j < d->dim; j++) e[j] = r[j] + 0.2f * e[j];
    fk_l2_normalize(e, d->dim);
  }
  return x;
}

static int default_ef(const args *a) { return a->nefs ? a->efs[a->nefs / 2] : FK_ANN_EF_DEFAULT; }

static void bench_facekit(const args *a, const dataset *d, const int64_t *gt, const uint8_t *dead) {
  char err[256];
  fk_ann_params p = {.m = a->m, .ef_construction = a->efc};
  facekit_ctx c = {.v = &d->base};
  double rss0 = rss_mb(), t0 = fk_now_s();
  if (fk_ann_new(d->dim, &p, &c.ann, err, sizeof err) ||
      fk_ann_add(c.ann, d->base.n, d->base.f32, d->base.face_id, a->threads, err, sizeof err) ||
      fk_ann_searcher_new(&c.sr[0], err, sizeof err) || fk_ann_searcher_new(&c.sr[1], err, sizeof err)) {
    fprintf(stderr, "bench_ann: %s\n", err);
    exit(1);
  }
  double build = fk_now_s() - t0;
  printf("{\"method\":\"facekit\",\"phase\":\"build\",\"n\":%lld,\"m\":%d,\"efc\":%d,\"threads\":%d,\"build_s\":%.1f,"
         "\"memory_mb\":%.1f,\"rss_delta_mb\":%.1f}\n",
         (long long)d->base.n, a->m, a->efc, a->threads, build, fk_ann_memory(c.ann) / 1048576.0, rss_mb() - rss0);
  fflush(stdout);
  method m = {"facekit", &c, facekit_set_ef, facekit_search, "ef"};
  sweep(a, &m, d, gt, NULL, "search", a->nefs, a->efs);
  /* The same graph walked by faiss's own HNSW::search. */
  method mf = {"facekit-faiss-search", &c, facekit_set_ef, facekit_search, "ef"};
  fk_ann_searcher_use_faiss(c.sr[0], 1);
  fk_ann_searcher_use_faiss(c.sr[1], 1);
  sweep(a, &mf, d, gt, NULL, "search", a->nefs, a->efs);
  fk_ann_searcher_use_faiss(c.sr[0], 0);
  fk_ann_searcher_use_faiss(c.sr[1], 0);
  /* The cache file: write and read back. */
  if (a->tmp) {
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_ann.faiss", a->tmp);
    fk_ann_tag tag = {.uuid = "bench", .generation = 1};
    FILE *f = fopen(path, "wb");
    t0 = fk_now_s();
    int ok = f && fk_ann_write(c.ann, &tag, f, err, sizeof err) == FK_OK;
    if (f) ok = fclose(f) == 0 && ok;
    double tw = fk_now_s() - t0;
    fk_ann *back = NULL;
    f = ok ? fopen(path, "rb") : NULL;
    t0 = fk_now_s();
    ok = f && fk_ann_read(f, &back, &tag, err, sizeof err) == FK_OK;
    double tr = fk_now_s() - t0;
    if (f) fclose(f);
    printf("{\"method\":\"facekit\",\"phase\":\"file\",\"ok\":%s,\"write_s\":%.2f,\"read_s\":%.2f,\"mb\":%.1f}\n",
           ok ? "true" : "false", tw, tr, fk_ann_memory(c.ann) / 1048576.0);
    fflush(stdout);
    fk_ann_free(back);
    remove(path);
  }
  /* Delete 10%, search again, then add. */
  t0 = fk_now_s();
  for (int64_t i = 0; i < d->base.n; i++)
    if (dead[i]) fk_ann_delete(c.ann, i);
  double tdel = fk_now_s() - t0;
  int ef = default_ef(a);
  sweep(a, &m, d, gt, dead, "after_delete_10pct", 1, &ef);
  float *x = extra_rows(d, a->add + 1, a->seed);
  int64_t *labels = xmalloc((size_t)(a->add + 1) * sizeof *labels);
  for (int i = 0; i <= a->add; i++) labels[i] = d->base.n + i;
  t0 = fk_now_s();
  fk_ann_add(c.ann, a->add, x, labels, a->threads, err, sizeof err);
  double tadd = fk_now_s() - t0;
  t0 = fk_now_s();
  fk_ann_add(c.ann, 1, x + (size_t)a->add * d->dim, labels + a->add, 1, err, sizeof err);
  double tone = fk_now_s() - t0;
  printf("{\"method\":\"facekit\",\"phase\":\"update\",\"delete_us_per_row\":%.3f,\"add_batch\":%d,"
         "\"add_us_per_row\":%.1f,\"add_one_ms\":%.2f}\n",
         tdel * 1e6 / (d->base.n / 10.0), a->add, tadd * 1e6 / a->add, tone * 1e3);
  fflush(stdout);
  free(x);
  free(labels);
  fk_ann_searcher_free(c.sr[0]);
  fk_ann_searcher_free(c.sr[1]);
  fk_ann_free(c.ann);
}

typedef struct add_job {
  hb_index *h;
  const float *x;
  int64_t n, first_label;
  int dim, t, threads;
} add_job;

static void *hnswlib_add_thread(void *arg) {
  add_job *j = arg;
  for (int64_t i = j->t; i < j->n; i += j->threads)
    if (hb_add(j->h, j->x + i * j->dim, j->first_label + i)) exit(1);
  return NULL;
}

static void hnswlib_add(hb_index *h, const float *x, int64_t n, int64_t first, int dim, int threads) {
  pthread_t th[16];
  add_job jobs[16];
  if (threads > 16) threads = 16;
  for (int t = 0; t < threads; t++) {
    jobs[t] = (add_job){h, x, n, first, dim, t, threads};
    pthread_create(&th[t], NULL, hnswlib_add_thread, &jobs[t]);
  }
  for (int t = 0; t < threads; t++) pthread_join(th[t], NULL);
}

static void bench_hnswlib(const args *a, const dataset *d, const int64_t *gt, const uint8_t *dead) {
  double rss0 = rss_mb(), t0 = fk_now_s();
  hb_index *h = hb_new(d->dim, d->base.n + a->add + 1, a->m, a->efc);
  if (!h) exit(1);
  hnswlib_add(h, d->base.f32, d->base.n, 0, d->dim, a->threads);
  double build = fk_now_s() - t0;
  printf("{\"method\":\"hnswlib\",\"phase\":\"build\",\"n\":%lld,\"m\":%d,\"efc\":%d,\"threads\":%d,\"build_s\":%.1f,"
         "\"rss_delta_mb\":%.1f}\n",
         (long long)d->base.n, a->m, a->efc, a->threads, build, rss_mb() - rss0);
  fflush(stdout);
  method m = {"hnswlib", h, hnswlib_set_ef, hnswlib_search, "ef"};
  sweep(a, &m, d, gt, NULL, "search", a->nefs, a->efs);
  t0 = fk_now_s();
  for (int64_t i = 0; i < d->base.n; i++)
    if (dead[i]) hb_delete(h, i);
  double tdel = fk_now_s() - t0;
  int ef = default_ef(a);
  sweep(a, &m, d, gt, dead, "after_delete_10pct", 1, &ef);
  float *x = extra_rows(d, a->add + 1, a->seed);
  t0 = fk_now_s();
  hnswlib_add(h, x, a->add, d->base.n, d->dim, a->threads);
  double tadd = fk_now_s() - t0;
  t0 = fk_now_s();
  hb_add(h, x + (size_t)a->add * d->dim, d->base.n + a->add);
  double tone = fk_now_s() - t0;
  printf("{\"method\":\"hnswlib\",\"phase\":\"update\",\"delete_us_per_row\":%.3f,\"add_batch\":%d,"
         "\"add_us_per_row\":%.1f,\"add_one_ms\":%.3f}\n",
         tdel * 1e6 / (d->base.n / 10.0), a->add, tadd * 1e6 / a->add, tone * 1e3);
  fflush(stdout);
  free(x);
  hb_free(h);
}

static void bench_native(const args *a, const dataset *d, const int64_t *gt) {
  const char *kinds[] = {"hnsw-flat", "hnsw-sq8", "ivf-flat"};
  for (int i = 0; i < 3; i++) {
    int nlist = (int)(4 * sqrt((double)d->base.n));
    double rss0 = rss_mb(), t0 = fk_now_s();
    nf_index *f = nf_build(kinds[i], d->dim, d->base.n, d->base.f32, a->m, a->efc, nlist, a->threads);
    if (!f) continue;
    printf("{\"method\":\"faiss-%s\",\"phase\":\"build\",\"n\":%lld,\"m\":%d,\"efc\":%d,\"nlist\":%d,\"build_s\":%.1f,"
           "\"memory_mb\":%.1f,\"rss_delta_mb\":%.1f}\n",
           kinds[i], (long long)d->base.n, a->m, a->efc, nlist, fk_now_s() - t0, nf_memory(f) / 1048576.0,
           rss_mb() - rss0);
    fflush(stdout);
    char name[64];
    snprintf(name, sizeof name, "faiss-%s", kinds[i]);
    native_ctx c = {f, 0, 0};
    method m = {name, &c, native_set_ef, native_search, i == 2 ? "nprobe" : "ef"};
    int64_t *rows = xmalloc((size_t)d->nq * a->k * sizeof *rows);
    const int probes[] = {4, 8, 16, 32, 64, 128};
    int nknobs = i == 2 ? 6 : a->nefs;
    for (int e = 0; e < nknobs; e++) {
      c.knob = i == 2 ? probes[e] : a->efs[e];
      double t = run_queries(&m, d, d->nq, a->k, 1, rows);
      printf("{\"method\":\"%s\",\"phase\":\"search\",\"n\":%lld,\"%s\":%d,\"recall\":%.4f,\"qps_1\":%.0f}\n", name,
             (long long)d->base.n, i == 2 ? "nprobe" : "ef", c.knob, recall(gt, rows, 0, d->nq, a->k, NULL),
             d->nq / t);
      fflush(stdout);
    }
    if (i == 0) { /* the per-call cost of IndexHNSW::search */
      c.knob = default_ef(a);
      c.index_api = 1;
      int nq = d->nq < 200 ? d->nq : 200;
      double t = run_queries(&m, d, nq, a->k, 1, rows);
      printf("{\"method\":\"%s-IndexHNSW::search\",\"phase\":\"search\",\"n\":%lld,\"ef\":%d,\"recall\":%.4f,"
             "\"qps_1\":%.0f}\n",
             name, (long long)d->base.n, c.knob, recall(gt, rows, 0, nq, a->k, NULL), nq / t);
      fflush(stdout);
    }
    free(rows);
    nf_free(f);
  }
}

/* ---- IVF over int8 codes -------------------------------------------------- */

/* An inverted file over the same int8 codes the library scans: nlist
 * spherical k-means centroids (faiss's Clustering, trained on the first
 * 64 * nlist rows, a random sample since rows sit at random slots), each
 * row in the list of its nearest centroid, the lists' codes copied out
 * contiguously. A query ranks the centroids (f32), scans the codes of the
 * nprobe best lists with the int8 kernel, and ranks the best `rerank` of
 * those exactly on the base's f32 rows, as the library ranks the graph's
 * candidates. Deleting a row is a byte in `dead`; adding one costs ranking
 * the centroids (the append is a copy). */
typedef struct ivf_scratch {
  float *cs;     /* [nlist] centroid similarities */
  int32_t *dots; /* [longest list] */
  fk_hit *probe, *cand;
} ivf_scratch;

typedef struct ivf_index {
  const fk_vecs *v;
  int dim, nlist, nprobe, rerank;
  float *cent;   /* [nlist][dim] */
  int64_t *start; /* [nlist + 1]: list l is entries [start[l], start[l + 1]) */
  int64_t *rows;  /* [n] base row of each entry */
  int8_t *codes;  /* [n][dim] */
  float *inv;     /* [n] their i8_inv */
  int64_t longest;
  const uint8_t *dead; /* deleted base rows, or NULL */
  ivf_scratch sc[2];
} ivf_index;

static double ivf_build(ivf_index *f, const fk_vecs *v, int nlist, int threads, uint64_t seed, double *train_s) {
  const int dim = f->dim = v->dim;
  const int64_t n = v->n, sample = (int64_t)nlist * 64 < n ? (int64_t)nlist * 64 : n;
  f->v = v, f->nlist = nlist;
  f->cent = xmalloc((size_t)nlist * dim * sizeof *f->cent);
  double t0 = fk_now_s();
  if (nf_kmeans(dim, sample, v->f32, nlist, 20, threads, seed, f->cent)) exit(1);
  *train_s = fk_now_s() - t0;
  int64_t *list = xmalloc((size_t)n * sizeof *list);
  if (nf_assign(dim, nlist, f->cent, n, v->f32, threads, list)) exit(1);
  f->start = calloc((size_t)nlist + 1, sizeof *f->start);
  f->rows = xmalloc((size_t)n * sizeof *f->rows);
  f->codes = xmalloc((size_t)n * dim);
  f->inv = xmalloc((size_t)n * sizeof *f->inv);
  int64_t *pos = xmalloc((size_t)nlist * sizeof *pos);
  for (int64_t i = 0; i < n; i++) f->start[list[i] + 1]++;
  for (int l = 0; l < nlist; l++) {
    f->longest = f->start[l + 1] > f->longest ? f->start[l + 1] : f->longest;
    f->start[l + 1] += f->start[l];
    pos[l] = f->start[l];
  }
  for (int64_t i = 0; i < n; i++) {
    int64_t j = pos[list[i]]++;
    f->rows[j] = i;
    memcpy(f->codes + j * dim, v->i8 + i * dim, (size_t)dim);
    f->inv[j] = v->i8_inv[i];
  }
  for (int t = 0; t < 2; t++)
    f->sc[t] = (ivf_scratch){xmalloc((size_t)nlist * sizeof(float)), xmalloc((size_t)(f->longest + 1) * sizeof(int32_t)),
                             xmalloc((size_t)nlist * sizeof(fk_hit)), xmalloc((size_t)f->rerank * sizeof(fk_hit))};
  free(pos);
  free(list);
  return fk_now_s() - t0;
}

static void ivf_free(ivf_index *f) {
  for (int t = 0; t < 2; t++) free(f->sc[t].cs), free(f->sc[t].dots), free(f->sc[t].probe), free(f->sc[t].cand);
  free(f->cent), free(f->start), free(f->rows), free(f->codes), free(f->inv);
}

static size_t ivf_memory(const ivf_index *f) {
  return (size_t)f->v->n * (f->dim + sizeof *f->rows + sizeof *f->inv) + (size_t)f->nlist * f->dim * sizeof(float);
}

static void ivf_set_nprobe(void *ctx, int nprobe) {
  ivf_index *f = ctx;
  f->nprobe = nprobe < f->nlist ? nprobe : f->nlist;
}

static int ivf_search(void *ctx, int thread, const float *q, int k, int64_t *rows) {
  ivf_index *f = ctx;
  ivf_scratch *sc = &f->sc[thread];
  const int dim = f->dim;
  fk_scan s;
  fk_scan_init(&s, f->v, q, FK_METRIC_COSINE, FK_CODES_INT8, k, -1);
  fk_dot_f32(s.q, f->cent, f->nlist, dim, sc->cs);
  int np = 0, nc = 0, nt = 0;
  for (int l = 0; l < f->nlist; l++) heap_push(sc->probe, &np, f->nprobe, (fk_hit){-sc->cs[l], l});
  for (int p = 0; p < np; p++) {
    const int64_t b = f->start[sc->probe[p].row], e = f->start[sc->probe[p].row + 1];
    fk_dot_i8(s.qc, f->codes + b * dim, e - b, dim, sc->dots);
    for (int64_t i = b; i < e; i++)
      if (!f->dead || !f->dead[f->rows[i]])
        heap_push(sc->cand, &nc, f->rerank, (fk_hit){-(float)sc->dots[i - b] * f->inv[i], i});
  }
  fk_hit top[KGT];
  for (int c = 0; c < nc; c++) {
    int64_t r = f->rows[sc->cand[c].row];
    float dot;
    fk_dot_f32(s.q, f->v->f32 + r * dim, 1, dim, &dot);
    heap_push(top, &nt, k, (fk_hit){-dot, r});
  }
  qsort(top, (size_t)nt, sizeof *top, cmp_hit);
  for (int i = 0; i < nt; i++) rows[i] = top[i].row;
  return nt;
}

static void bench_ivf(const args *a, const dataset *d, const int64_t *gt, const uint8_t *dead) {
  ivf_index f = {.rerank = a->rerank > a->k ? a->rerank : a->k};
  int nlist = a->nlist ? a->nlist : (int)(4 * sqrt((double)d->base.n));
  double rss0 = rss_mb(), train_s;
  double build = ivf_build(&f, &d->base, nlist, a->threads, a->seed, &train_s);
  printf("{\"method\":\"facekit-ivf\",\"phase\":\"build\",\"n\":%lld,\"nlist\":%d,\"longest_list\":%lld,"
         "\"rerank\":%d,\"threads\":%d,\"build_s\":%.1f,\"train_s\":%.1f,\"memory_mb\":%.1f,"
         "\"rss_delta_mb\":%.1f}\n",
         (long long)d->base.n, nlist, (long long)f.longest, f.rerank, a->threads, build, train_s,
         ivf_memory(&f) / 1048576.0, rss_mb() - rss0);
  fflush(stdout);
  method m = {"facekit-ivf", &f, ivf_set_nprobe, ivf_search, "nprobe"};
  sweep(a, &m, d, gt, NULL, "search", a->nprobes, a->nprobe);
  f.dead = dead;
  int np = a->nprobe[a->nprobes / 2];
  sweep(a, &m, d, gt, dead, "after_delete_10pct", 1, &np);
  /* Adding: the nearest centroid of each new row. */
  float *x = extra_rows(d, a->add, a->seed), *sims = xmalloc((size_t)nlist * sizeof *sims);
  double t0 = fk_now_s(), best = 0;
  for (int i = 0; i < a->add; i++) {
    fk_dot_f32(x + (size_t)i * d->dim, f.cent, nlist, d->dim, sims);
    float top = sims[0];
    for (int l = 1; l < nlist; l++) top = sims[l] > top ? sims[l] : top;
    best += top;
  }
  printf("{\"method\":\"facekit-ivf\",\"phase\":\"update\",\"delete_us_per_row\":0,\"add_batch\":%d,"
         "\"add_us_per_row\":%.1f,\"mean_best_centroid\":%.3f}\n",
         a->add, (fk_now_s() - t0) * 1e6 / a->add, best / a->add);
  fflush(stdout);
  free(sims);
  free(x);
  ivf_free(&f);
}

/* ---- main ------------------------------------------------------------------ */

static int parse(int argc, char **argv, args *a) {
  *a = (args){.n = 1000000, .data = "faces", .nq = 1000, .k = 10, .m = 32, .efc = 100, .threads = 2,
              .exact_q = 50, .add = 10000, .hnswlib = 1, .facekit = 1, .ivf = 1, .rerank = 100, .mix = 8, .faces_per_id = 0, .seed = 0x9e3779b97f4a7c15ull};
  const char *efs = "32,64,128,192,256,384,512,768,1024", *nprobes = "8,16,32,64,128,256";
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(s, "--native")) a->native = 1;
    else if (!strcmp(s, "--no-hnswlib")) a->hnswlib = 0;
    else if (!strcmp(s, "--no-facekit")) a->facekit = 0;
    else if (!strcmp(s, "--no-ivf")) a->ivf = 0;
    else if (!strcmp(s, "--mmap")) a->mmap = 1;
    else if (!v) return -1;
    else if (i++, !strcmp(s, "--n")) a->n = atoll(v);
    else if (!strcmp(s, "--data")) a->data = v;
    else if (!strcmp(s, "--lfw")) a->lfw = v;
    else if (!strcmp(s, "--tmp")) a->tmp = v;
    else if (!strcmp(s, "--queries")) a->nq = atoi(v);
    else if (!strcmp(s, "--k")) a->k = atoi(v);
    else if (!strcmp(s, "--m")) a->m = atoi(v);
    else if (!strcmp(s, "--efc")) a->efc = atoi(v);
    else if (!strcmp(s, "--threads")) a->threads = atoi(v);
    else if (!strcmp(s, "--exact-queries")) a->exact_q = atoi(v);
    else if (!strcmp(s, "--add")) a->add = atoi(v);
    else if (!strcmp(s, "--faces-per-id")) a->faces_per_id = atof(v);
    else if (!strcmp(s, "--mix")) a->mix = atoi(v);
    else if (!strcmp(s, "--seed")) a->seed = strtoull(v, NULL, 0);
    else if (!strcmp(s, "--ef")) efs = v;
    else if (!strcmp(s, "--nprobe")) nprobes = v;
    else if (!strcmp(s, "--nlist")) a->nlist = atoi(v);
    else if (!strcmp(s, "--rerank")) a->rerank = atoi(v);
    else if (!strcmp(s, "--qps2")) a->qps2 = !strcmp(v, "all") ? 0 : !strcmp(v, "none") ? -1 : atoi(v);
    else return -1;
  }
  for (const char *p = efs; *p && a->nefs < MAX_EFS; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
    a->efs[a->nefs++] = atoi(p);
  for (const char *p = nprobes; *p && a->nprobes < MAX_EFS; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
    a->nprobe[a->nprobes++] = atoi(p);
  if (a->n < 1000 || a->nq < 2 || a->k < 1 || a->k > KGT || a->threads < 1 || a->add < 1 || a->nlist < 0 || a->rerank < 1 || a->nprobes < 1 || (a->mmap && !a->tmp) || (a->faces_per_id != 0 && a->faces_per_id < 1) || a->mix < 1 ||
      (strcmp(a->data, "faces") && strcmp(a->data, "synthetic") && strcmp(a->data, "lfw") &&
       strcmp(a->data, "uniform")) ||
      (strcmp(a->data, "uniform") && !a->lfw))
    return -1;
  return 0;
}

int main(int argc, char **argv) {
  args a;
  if (parse(argc, argv, &a)) {
    fprintf(stderr, "usage: bench_ann [--n N] [--data faces|synthetic|lfw|uniform] [--lfw DB] [--queries Q] [--k K<=%d] [--m M]\n"
                    "  [--efc EFC] [--ef 16,32,...] [--threads T] [--exact-queries Q] [--add N] [--tmp DIR]\n"
                    "  [--faces-per-id F] [--native] [--no-hnswlib] [--no-facekit] [--no-ivf] [--nlist L]\n"
                    "  [--nprobe 8,16,...] [--rerank R] [--mmap] [--seed S] [--qps2 all|none|EF]\n"
                    "(--mmap keeps the base in a file under --tmp)\n"
                    "(--data faces, the default, needs --lfw: an index of real faces)\n", KGT);
    return 2;
  }
  dataset d = {0};
  double t0 = fk_now_s();
  if (!strcmp(a.data, "uniform")) make_uniform(&a, &d);
  else make_faces(&a, &d);
  double tgen = fk_now_s() - t0;
  t0 = fk_now_s();
  int64_t *gt = ground_truth(&d, a.threads);
  printf("{\"phase\":\"data\",\"data\":\"%s\",\"n\":%lld,\"dim\":%d,\"real_rows\":%lld,\"queries\":%d,"
         "\"real_queries\":%d,\"k\":%d,\"kernels\":\"%s\",\"generate_s\":%.1f,\"ground_truth_s\":%.1f,"
         "\"lid_real\":%.1f,\"lid_synthetic\":%.1f}\n",
         a.data, (long long)d.base.n, d.dim, (long long)d.n_real, d.nq, d.nq_real, a.k,
         fk_dot_simd() ? "avx2" : "plain C", tgen, fk_now_s() - t0, mean_lid(&d, gt, 0, d.nq_real),
         mean_lid(&d, gt, d.nq_real, d.nq));
  fflush(stdout);
  bench_exact(&a, &d, gt);
  uint8_t *dead = dead_rows(d.base.n, a.seed);
  if (a.ivf) bench_ivf(&a, &d, gt, dead);
  if (a.facekit) bench_facekit(&a, &d, gt, dead);
  if (a.hnswlib) bench_hnswlib(&a, &d, gt, dead);
  if (a.native) bench_native(&a, &d, gt);
  printf("{\"phase\":\"end\",\"peak_rss_mb\":%.1f}\n", status_kb("VmHWM") / 1024.0);
  free(dead);
  free(gt);
  free(d.q);
  base_free(&d.base);
  return 0;
}
