/*
 * vec.h - the vector math of facekit, shared by face/ (verification,
 * evaluation) and store/ (the index's codes and its scan): L2 norms and
 * normalization, the distances of the three metrics (FK_METRIC_*), the int8
 * codes an index stores, and dot-product kernels of one query against many
 * rows. The public fk_l2_normalize, fk_distance and fk_quantize_i8 are these
 * (face/verify.c).
 *
 * Codes: round(127 u) clamped to [-127, 127] for a unit vector u.
 *
 * Kernels: AVX2 (+FMA) when the CPU has it (checked at run time) and dim is
 * a multiple of 8 (f32) or 32 (int8), else plain C. The int8 kernel relies
 * on the codes coming from unit vectors: with |c_i| <= 127 |u_i| + 1/2, the
 * sum of |q_i g_i| is at most 127^2 + 127 sqrt(dim) + dim / 4, below 20500
 * for dim <= 1024 (FK_EMBED_MAX), so it fits int16 lanes.
 */
#ifndef FK_BASE_VEC_H
#define FK_BASE_VEC_H

#include <stdint.h>

/* |v|, summed in double. */
double fk_vec_norm(const float *v, int dim);
/* v /= |v|; a zero vector is left as it is. */
void fk_vec_normalize(float *v, int dim);
/* The FK_METRIC_* distance of a and b (cosine: 1 - cos; euclidean_l2: the
 * euclidean distance of the normalized vectors). */
float fk_vec_distance(const float *a, const float *b, int dim, int metric);

/* The int8 code of a unit vector (see the top). */
void fk_vec_quantize_i8(const float *unit, int8_t *code, int dim);
/* 1 / |code| (0 for a zero code): code dot products times it give the
 * cosine of the quantized vectors. */
float fk_vec_code_inv_norm(const int8_t *code, int dim);

/* out[i] = dot(q, rows[i]) for i < n; rows are [n][dim]. */
void fk_dot_f32(const float *q, const float *rows, int64_t n, int dim, float *out);
/* The same over int8 codes, exactly, in int32. */
void fk_dot_i8(const int8_t *q, const int8_t *rows, int64_t n, int dim, int32_t *out);
/* The plain-C versions (for tests and CPUs without AVX2). */
void fk_dot_f32_scalar(const float *q, const float *rows, int64_t n, int dim, float *out);
void fk_dot_i8_scalar(const int8_t *q, const int8_t *rows, int64_t n, int dim, int32_t *out);
/* 1 when the AVX2 kernels are in use. */
int fk_dot_simd(void);

/* dot(a, b) of one pair of int8 vectors of dim, for callers that visit
 * rows one at a time in no particular order (the ANN graph): the function
 * suits the CPU and dim (AVX2 when it has it and dim % 32 == 0), so the
 * caller picks it once and calls it directly. */
typedef int32_t (*fk_dot_i8_pair_fn)(const int8_t *a, const int8_t *b, int dim);
fk_dot_i8_pair_fn fk_dot_i8_pair(int dim);

#endif /* FK_BASE_VEC_H */
