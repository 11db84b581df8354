/*
 * vecs.h - the face index's in-memory vector matrix and the exact k-NN scan
 * over it (vecs.c). The same block layout is the sidecar file (sidecar.c),
 * so loading an index is one mmap.
 *
 * Layout of the block (all arrays 64-byte aligned, offsets in the header),
 * laid out for cap rows of which the first n are in use:
 *   fk_vecs_header   magic, version, dim, n, cap, the index's uuid, and the
 *                    generation and change sequence the rows reflect
 *   face_id   int64[cap]   faces.id, ascending
 *   image_id  int64[cap]
 *   identity  int32[cap]   identities.id, -1 when none
 *   flags     uint8[cap]   FK_VEC_CENTRAL, FK_VEC_DELETED
 *   norm      float[cap]   L2 norm of the raw embedding
 *   f32       float[cap][dim]  unit rows (row-major)
 *   i8        int8[cap][dim]   their codes, round(127 * v) clamped to +-127
 *   i8_inv    float[cap]       1 / |code|, so that code dot products give the
 *                              cosine of the quantized vectors (a face's code
 *                              matches itself at similarity 1)
 *
 * dim is the index's embedding width (fk_model_dim), at most FK_EMBED_MAX.
 * A sidecar file (sidecar.c) is such a block followed by its checksums:
 * one CRC-32C per sum_chunk bytes of the block, the first chunk covering
 * the header; in memory sum_chunk is 0 and there are none.
 * A sidecar file has cap == n and no deleted rows; a block in memory that
 * follows an index's changes (vectors.c) grows into spare rows and marks
 * deleted faces with FK_VEC_DELETED until it is compacted.
 *
 * The scan runs on the dot-product kernels of base/vec.h.
 */
#ifndef FK_VECS_H
#define FK_VECS_H

#include <pthreadpool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/vec.h"
#include "facekit.h"

#define FK_VEC_CENTRAL 1u
#define FK_VEC_DELETED 2u  /* a tombstone: the face is gone, the row not yet compacted away */
#define FK_VECS_MAGIC "FKVECS1"
#define FK_VECS_VERSION 4 /* 4: sidecars carry per-chunk checksums */

typedef struct fk_vecs_header {
  char magic[8];          /* FK_VECS_MAGIC */
  uint32_t version, dim;
  uint64_t n, cap;
  char uuid[40];          /* the index's meta.uuid */
  int64_t generation;     /* the index's meta.generation */
  int64_t seq;            /* the index's meta.seq (change sequence) */
  uint64_t off_face_id, off_image_id, off_identity, off_flags, off_norm,
      off_f32, off_i8, off_i8_inv;
  uint64_t size;          /* whole block, bytes */
  uint32_t sum_chunk;     /* a sidecar file: bytes per checksum; 0 in memory */
  uint32_t reserved;      /* 0 */
} fk_vecs_header;

typedef struct fk_vecs {
  int64_t n, cap;         /* rows in use, rows laid out */
  int dim;
  int64_t *face_id, *image_id;
  int32_t *identity;
  uint8_t *flags;
  float *norm;
  float *f32;
  int8_t *i8;
  float *i8_inv;
  fk_vecs_header *hdr;    /* start of the block */
  size_t size;
  int mapped;             /* block is an mmap (read-only) rather than malloc */
  size_t map_size;        /* a mapped sidecar: the whole file (block and sums) */
  const uint32_t *sums;   /* and its checksums, one per hdr->sum_chunk bytes */
} fk_vecs;

/* Allocates a zeroed block for n rows of dim (1..FK_EMBED_MAX) and points
 * v's arrays into it; fk_vecs_reserve makes one with room for cap rows and
 * none in use. */
int fk_vecs_alloc(fk_vecs *v, int64_t n, int dim);
int fk_vecs_reserve(fk_vecs *v, int64_t cap, int dim);
/* The bytes of a block for cap rows of dim, 0 if out of range; and
 * fk_vecs_format lays such a block out in zeroed memory the caller owns (a
 * mapped file, say: `mapped` says fk_vecs_free leaves it alone), with no
 * rows in use. */
size_t fk_vecs_block_size(int64_t cap, int dim);
void fk_vecs_format(fk_vecs *v, void *block, int64_t cap, int dim, int mapped);
/* Points v's arrays into an existing block (e.g. a mapped file) after
 * checking its header against `size`; FK_ECORRUPT if inconsistent. */
int fk_vecs_attach(fk_vecs *v, void *block, size_t size, int mapped);
void fk_vecs_free(fk_vecs *v);
/* Sets the rows in use (n <= cap), in v and its header. */
void fk_vecs_set_rows(fk_vecs *v, int64_t n);
/* Copies row i of src to row j of dst (same dim). */
void fk_vecs_copy_row(fk_vecs *dst, int64_t j, const fk_vecs *src, int64_t i);
/* A new block with room for cap rows holding src's rows, without the
 * deleted ones when drop_deleted; the header's uuid, generation and seq are
 * copied. FK_ENOMEM, or FK_EINVAL if cap is too small. */
int fk_vecs_copy(const fk_vecs *src, int64_t cap, int drop_deleted, fk_vecs *dst);

/* Sets row r's i8_inv from its codes. */
void fk_vecs_code_norm(fk_vecs *v, int64_t r);

typedef struct fk_hit {
  float key;    /* smaller is better; see fk_scan_distance() */
  int64_t row;
} fk_hit;

/* One exact search: a query against every row (or the central ones). */
typedef struct fk_scan {
  const fk_vecs *v;
  float q[FK_EMBED_MAX];       /* unit query, [0..v->dim) */
  int8_t qc[FK_EMBED_MAX];     /* its codes */
  float qc_inv;                /* 1 / |qc| */
  float qnorm;                 /* raw query norm (for FK_METRIC_EUCLIDEAN) */
  int metric, codes, k;
  float threshold;             /* distance limit, < 0 for none */
  int64_t exclude_image;       /* skip rows of this image; -1 for none */
  int central_only;            /* skip rows without FK_VEC_CENTRAL */
} fk_scan;
/* Rows flagged FK_VEC_DELETED are never returned. */

/* Prepares s for the raw embedding e of v->dim floats (normalizes,
 * quantizes). */
void fk_scan_init(fk_scan *s, const fk_vecs *v, const float *e, int metric,
                  int codes, int k, float threshold);

/* Runs the scan, with pool's threads if pool is not NULL. Writes up to s->k
 * hits, best first (ties by row), to out and their number to *n. */
int fk_scan_run(const fk_scan *s, pthreadpool_t pool, fk_hit *out, int *n);

/* A hit's distance under the scan's metric, and the cosine similarity. */
float fk_scan_distance(const fk_scan *s, const fk_hit *h);
float fk_scan_similarity(const fk_scan *s, const fk_hit *h);

/* Keys of every row (no selection), for evaluation: keys[i] for row i;
 * the cosine similarity estimates go to sims[i] when sims is not NULL. */
void fk_scan_all(const fk_scan *s, float *keys);

#endif /* FK_VECS_H */
