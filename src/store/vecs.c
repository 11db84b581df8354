/*
 * vecs.c - the vector matrix of the face index and its exact k-NN scan
 * (see vecs.h): block allocation and top-k selection with a bounded
 * max-heap, optionally split over a pthreadpool, on base/vec.h's kernels.
 *
 * Ranking works on a "key" that is monotone in the distance and cheap to get
 * from a dot product of unit vectors: -dot for cosine and euclidean_l2, and
 * |g|^2 - 2|q||g| dot (the squared distance minus |q|^2) for raw euclidean.
 * Distances are computed only for the k survivors.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/vecs.h"

#define ALIGN 64
#define BLOCK 512 /* rows per kernel call in the scan */

/* ---- the block ------------------------------------------------------------ */

static uint64_t align_up(uint64_t x) { return (x + ALIGN - 1) & ~(uint64_t)(ALIGN - 1); }

/* Fills the header's offsets for n rows of h->dim. */
static void layout(fk_vecs_header *h, uint64_t n) {
  const uint64_t dim = h->dim;
  uint64_t off = align_up(sizeof *h);
  h->off_face_id = off, off = align_up(off + n * sizeof(int64_t));
  h->off_image_id = off, off = align_up(off + n * sizeof(int64_t));
  h->off_identity = off, off = align_up(off + n * sizeof(int32_t));
  h->off_flags = off, off = align_up(off + n);
  h->off_norm = off, off = align_up(off + n * sizeof(float));
  h->off_f32 = off, off = align_up(off + n * dim * sizeof(float));
  h->off_i8 = off, off = align_up(off + n * dim);
  h->off_i8_inv = off, off = align_up(off + n * sizeof(float));
  h->size = off;
}

static void point(fk_vecs *v, fk_vecs_header *h) {
  char *b = (char *)h;
  v->hdr = h;
  v->n = (int64_t)h->n;
  v->cap = (int64_t)h->cap;
  v->dim = (int)h->dim;
  v->face_id = (int64_t *)(b + h->off_face_id);
  v->image_id = (int64_t *)(b + h->off_image_id);
  v->identity = (int32_t *)(b + h->off_identity);
  v->flags = (uint8_t *)(b + h->off_flags);
  v->norm = (float *)(b + h->off_norm);
  v->f32 = (float *)(b + h->off_f32);
  v->i8 = (int8_t *)(b + h->off_i8);
  v->i8_inv = (float *)(b + h->off_i8_inv);
}

/* Rows that keep a block under 1 TiB. */
static uint64_t max_rows(uint64_t dim) { return ((uint64_t)1 << 40) / (dim * 5 + 64); }

size_t fk_vecs_block_size(int64_t cap, int dim) {
  if (dim < 1 || dim > FK_EMBED_MAX || cap < 0 || (uint64_t)cap > max_rows((uint64_t)dim)) return 0;
  fk_vecs_header h = {.dim = (uint32_t)dim};
  layout(&h, (uint64_t)cap);
  return h.size;
}

void fk_vecs_format(fk_vecs *v, void *block, int64_t cap, int dim, int mapped) {
  fk_vecs_header h = {.dim = (uint32_t)dim, .version = FK_VECS_VERSION, .cap = (uint64_t)cap};
  memcpy(h.magic, FK_VECS_MAGIC, sizeof h.magic);
  layout(&h, (uint64_t)cap);
  memcpy(block, &h, sizeof h);
  memset(v, 0, sizeof *v);
  point(v, block);
  v->size = h.size;
  v->mapped = mapped;
}

int fk_vecs_reserve(fk_vecs *v, int64_t cap, int dim) {
  memset(v, 0, sizeof *v);
  if (dim < 1 || dim > FK_EMBED_MAX) return FK_EINVAL;
  size_t size = fk_vecs_block_size(cap, dim);
  void *block = NULL;
  if (!size || posix_memalign(&block, ALIGN, size)) return FK_ENOMEM;
  memset(block, 0, size);
  fk_vecs_format(v, block, cap, dim, 0);
  return FK_OK;
}

int fk_vecs_alloc(fk_vecs *v, int64_t n, int dim) {
  int rc = fk_vecs_reserve(v, n, dim);
  if (rc == FK_OK) fk_vecs_set_rows(v, n);
  return rc;
}

void fk_vecs_set_rows(fk_vecs *v, int64_t n) {
  v->n = n;
  v->hdr->n = (uint64_t)n;
}

int fk_vecs_attach(fk_vecs *v, void *block, size_t size, int mapped) {
  memset(v, 0, sizeof *v);
  fk_vecs_header *h = block, want = {0};
  if (size < sizeof *h || memcmp(h->magic, FK_VECS_MAGIC, sizeof h->magic) ||
      h->version != FK_VECS_VERSION || h->dim < 1 || h->dim > FK_EMBED_MAX || h->cap > max_rows(h->dim) ||
      h->n > h->cap)
    return FK_ECORRUPT;
  want.dim = h->dim;
  layout(&want, h->cap);
  if (h->size != size || want.size != size || h->off_f32 != want.off_f32 ||
      h->off_i8 != want.off_i8 || h->off_face_id != want.off_face_id ||
      h->off_image_id != want.off_image_id || h->off_identity != want.off_identity ||
      h->off_flags != want.off_flags || h->off_norm != want.off_norm || h->off_i8_inv != want.off_i8_inv)
    return FK_ECORRUPT;
  point(v, h);
  v->size = size;
  v->mapped = mapped;
  return FK_OK;
}

void fk_vecs_copy_row(fk_vecs *dst, int64_t j, const fk_vecs *src, int64_t i) {
  const int dim = src->dim;
  dst->face_id[j] = src->face_id[i];
  dst->image_id[j] = src->image_id[i];
  dst->identity[j] = src->identity[i];
  dst->flags[j] = src->flags[i];
  dst->norm[j] = src->norm[i];
  memcpy(dst->f32 + j * dim, src->f32 + i * dim, (size_t)dim * sizeof(float));
  memcpy(dst->i8 + j * dim, src->i8 + i * dim, (size_t)dim);
  dst->i8_inv[j] = src->i8_inv[i];
}

int fk_vecs_copy(const fk_vecs *src, int64_t cap, int drop_deleted, fk_vecs *dst) {
  int64_t keep = 0;
  for (int64_t i = 0; i < src->n; i++) keep += !(drop_deleted && (src->flags[i] & FK_VEC_DELETED));
  if (cap < keep) return FK_EINVAL;
  int rc = fk_vecs_reserve(dst, cap, src->dim);
  if (rc) return rc;
  int64_t j = 0;
  for (int64_t i = 0; i < src->n; i++)
    if (!(drop_deleted && (src->flags[i] & FK_VEC_DELETED))) fk_vecs_copy_row(dst, j++, src, i);
  fk_vecs_set_rows(dst, j);
  memcpy(dst->hdr->uuid, src->hdr->uuid, sizeof dst->hdr->uuid);
  dst->hdr->generation = src->hdr->generation;
  dst->hdr->seq = src->hdr->seq;
  return FK_OK;
}

void fk_vecs_free(fk_vecs *v) {
  if (!v->mapped) free(v->hdr);
  memset(v, 0, sizeof *v);
}

void fk_vecs_code_norm(fk_vecs *v, int64_t r) { v->i8_inv[r] = fk_vec_code_inv_norm(v->i8 + r * v->dim, v->dim); }

/* ---- scan ---------------------------------------------------------------- */

void fk_scan_init(fk_scan *s, const fk_vecs *v, const float *e, int metric, int codes, int k,
                  float threshold) {
  memset(s, 0, sizeof *s);
  s->v = v;
  int dim = v->dim;
  s->qnorm = (float)fk_vec_norm(e, dim);
  memcpy(s->q, e, (size_t)dim * sizeof *s->q);
  fk_vec_normalize(s->q, dim);
  fk_vec_quantize_i8(s->q, s->qc, dim);
  s->qc_inv = fk_vec_code_inv_norm(s->qc, dim);
  s->metric = metric;
  s->codes = codes;
  s->k = k;
  s->threshold = threshold;
  s->exclude_image = -1;
}

/* The key limit equivalent to the distance threshold (see the top). */
static float key_limit(const fk_scan *s) {
  float t = s->threshold;
  if (t < 0) return INFINITY;
  switch (s->metric) {
    case FK_METRIC_EUCLIDEAN: return t * t - s->qnorm * s->qnorm;
    case FK_METRIC_EUCLIDEAN_L2: return t * t / 2 - 1;
    default: return t - 1;
  }
}

/* Keys of rows [r0, r0 + n), n <= BLOCK. */
static void block_keys(const fk_scan *s, int64_t r0, int64_t n, float *keys) {
  const fk_vecs *v = s->v;
  if (s->codes == FK_CODES_INT8) {
    int32_t d[BLOCK];
    fk_dot_i8(s->qc, v->i8 + r0 * v->dim, n, v->dim, d);
    const float *inv = v->i8_inv + r0;
    for (int64_t i = 0; i < n; i++) keys[i] = (float)d[i] * s->qc_inv * inv[i];
  } else {
    fk_dot_f32(s->q, v->f32 + r0 * v->dim, n, v->dim, keys);
  }
  if (s->metric == FK_METRIC_EUCLIDEAN) {
    float qn2 = 2 * s->qnorm;
    for (int64_t i = 0; i < n; i++) {
      float g = v->norm[r0 + i];
      keys[i] = g * g - qn2 * g * keys[i];
    }
  } else {
    for (int64_t i = 0; i < n; i++) keys[i] = -keys[i];
  }
}

void fk_scan_all(const fk_scan *s, float *keys) {
  for (int64_t r = 0; r < s->v->n; r += BLOCK) {
    int64_t n = s->v->n - r < BLOCK ? s->v->n - r : BLOCK;
    block_keys(s, r, n, keys + r);
  }
}

/* a ranks after b: larger key, or equal key and larger row. */
static int worse(const fk_hit *a, const fk_hit *b) {
  return a->key > b->key || (a->key == b->key && a->row > b->row);
}

/* Bounded max-heap of the k best hits: heap[0] is the worst kept. */
static void heap_push(fk_hit *heap, int *cnt, int k, fk_hit h) {
  int i;
  if (*cnt < k) {
    i = (*cnt)++;
    while (i > 0 && worse(&h, &heap[(i - 1) / 2])) {
      heap[i] = heap[(i - 1) / 2];
      i = (i - 1) / 2;
    }
  } else {
    if (!worse(&heap[0], &h)) return;
    i = 0;
    for (;;) {
      int c = 2 * i + 1;
      if (c >= k) break;
      if (c + 1 < k && worse(&heap[c + 1], &heap[c])) c++;
      if (!worse(&heap[c], &h)) break;
      heap[i] = heap[c];
      i = c;
    }
  }
  heap[i] = h;
}

static void scan_range(const fk_scan *s, int64_t r0, int64_t r1, fk_hit *heap, int *cnt) {
  const fk_vecs *v = s->v;
  float limit = key_limit(s), keys[BLOCK];
  for (int64_t r = r0; r < r1; r += BLOCK) {
    int64_t n = r1 - r < BLOCK ? r1 - r : BLOCK;
    block_keys(s, r, n, keys);
    for (int64_t i = 0; i < n; i++) {
      float key = keys[i];
      if (!(key <= limit) || (*cnt == s->k && key > heap[0].key)) continue;
      int64_t row = r + i;
      if (s->exclude_image >= 0 && v->image_id[row] == s->exclude_image) continue;
      if ((v->flags[row] & FK_VEC_DELETED) || (s->central_only && !(v->flags[row] & FK_VEC_CENTRAL))) continue;
      heap_push(heap, cnt, s->k, (fk_hit){key, row});
    }
  }
}

typedef struct scan_job {
  const fk_scan *s;
  int64_t per;   /* rows per task, a multiple of BLOCK */
  fk_hit *heaps; /* [tasks][k] */
  int *counts;
} scan_job;

static void scan_task(void *arg, size_t t) {
  scan_job *j = arg;
  int64_t r0 = (int64_t)t * j->per, r1 = r0 + j->per;
  if (r1 > j->s->v->n) r1 = j->s->v->n;
  if (r0 < r1) scan_range(j->s, r0, r1, j->heaps + t * (size_t)j->s->k, &j->counts[t]);
}

static int cmp_hit(const void *a, const void *b) {
  const fk_hit *x = a, *y = b;
  return worse(x, y) ? 1 : worse(y, x) ? -1 : 0;
}

int fk_scan_run(const fk_scan *s, pthreadpool_t pool, fk_hit *out, int *n) {
  *n = 0;
  if (s->k <= 0 || s->v->n == 0) return FK_OK;
  size_t threads = pool ? pthreadpool_get_threads_count(pool) : 1;
  int64_t blocks = (s->v->n + BLOCK - 1) / BLOCK;
  int64_t tasks = threads > 1 ? (int64_t)threads * 4 : 1;
  if (tasks > blocks) tasks = blocks;
  scan_job j = {.s = s, .per = (blocks + tasks - 1) / tasks * BLOCK};
  tasks = (s->v->n + j.per - 1) / j.per;
  j.heaps = malloc((size_t)tasks * (size_t)s->k * sizeof *j.heaps);
  j.counts = calloc((size_t)tasks, sizeof *j.counts);
  if (!j.heaps || !j.counts) {
    free(j.heaps);
    free(j.counts);
    return FK_ENOMEM;
  }
  if (tasks > 1) pthreadpool_parallelize_1d(pool, scan_task, &j, (size_t)tasks, 0);
  else scan_task(&j, 0);
  /* Merge: the first task's heap absorbs the others'. */
  int cnt = j.counts[0];
  for (int64_t t = 1; t < tasks; t++)
    for (int i = 0; i < j.counts[t]; i++) heap_push(j.heaps, &cnt, s->k, j.heaps[t * s->k + i]);
  qsort(j.heaps, (size_t)cnt, sizeof *j.heaps, cmp_hit);
  memcpy(out, j.heaps, (size_t)cnt * sizeof *out);
  *n = cnt;
  free(j.heaps);
  free(j.counts);
  return FK_OK;
}

/* Rounding can put a dot product of unit vectors a hair beyond 1. */
static float clamp_cos(float c) { return c > 1 ? 1 : c < -1 ? -1 : c; }

float fk_scan_similarity(const fk_scan *s, const fk_hit *h) {
  if (s->metric != FK_METRIC_EUCLIDEAN) return clamp_cos(-h->key);
  float g = s->v->norm[h->row];
  return clamp_cos(g > 0 && s->qnorm > 0 ? (g * g - h->key) / (2 * s->qnorm * g) : 0);
}

float fk_scan_distance(const fk_scan *s, const fk_hit *h) {
  float dot = clamp_cos(-h->key);
  switch (s->metric) {
    case FK_METRIC_EUCLIDEAN: return sqrtf(fmaxf(0.0f, h->key + s->qnorm * s->qnorm));
    case FK_METRIC_EUCLIDEAN_L2: return sqrtf(fmaxf(0.0f, 2 - 2 * dot));
    default: return 1 - dot;
  }
}
