/*
 * vec.c - vector math (see vec.h): norms, distances, int8 codes and the
 * dot-product kernels (AVX2 + FMA behind a run-time CPU check, plain C
 * otherwise).
 */
#include <math.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FK_X86 1
#endif

#include "base/vec.h"
#include "facekit.h" /* FK_METRIC_*, FK_EMBED_MAX */

double fk_vec_norm(const float *v, int dim) {
  double ss = 0;
  for (int i = 0; i < dim; i++) ss += (double)v[i] * v[i];
  return sqrt(ss);
}

void fk_vec_normalize(float *v, int dim) {
  double ss = 0;
  for (int i = 0; i < dim; i++) ss += (double)v[i] * v[i];
  if (ss <= 0) return;
  float inv = (float)(1.0 / sqrt(ss));
  for (int i = 0; i < dim; i++) v[i] *= inv;
}

float fk_vec_distance(const float *a, const float *b, int dim, int metric) {
  double dot = 0, na = 0, nb = 0, d2 = 0;
  for (int i = 0; i < dim; i++) {
    dot += (double)a[i] * b[i];
    na += (double)a[i] * a[i];
    nb += (double)b[i] * b[i];
    double d = (double)a[i] - b[i];
    d2 += d * d;
  }
  if (metric == FK_METRIC_EUCLIDEAN) return (float)sqrt(d2);
  double denom = sqrt(na) * sqrt(nb);
  double cos = denom > 0 ? dot / denom : 0;
  if (metric == FK_METRIC_EUCLIDEAN_L2) return (float)sqrt(fmax(0.0, 2.0 - 2.0 * cos));
  return (float)(1.0 - cos);
}

/* ---- int8 codes ---------------------------------------------------------- */

void fk_vec_quantize_i8(const float *unit, int8_t *code, int dim) {
  for (int i = 0; i < dim; i++) {
    float c = roundf(unit[i] * 127.0f);
    code[i] = (int8_t)(c > 127.0f ? 127 : c < -127.0f ? -127 : c);
  }
}

float fk_vec_code_inv_norm(const int8_t *c, int dim) {
  int32_t ss = 0;
  for (int i = 0; i < dim; i++) ss += (int32_t)c[i] * c[i];
  return ss > 0 ? (float)(1.0 / sqrt((double)ss)) : 0.0f;
}

/* ---- kernels ------------------------------------------------------------- */

/* Eight partial sums, lane i % 8, as the AVX2 kernel keeps them. */
void fk_dot_f32_scalar(const float *q, const float *rows, int64_t n, int dim, float *out) {
  for (int64_t r = 0; r < n; r++) {
    const float *g = rows + r * dim;
    float acc[8] = {0};
    for (int i = 0; i < dim; i++) acc[i % 8] += q[i] * g[i];
    out[r] = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  }
}

void fk_dot_i8_scalar(const int8_t *q, const int8_t *rows, int64_t n, int dim, int32_t *out) {
  for (int64_t r = 0; r < n; r++) {
    const int8_t *g = rows + r * dim;
    int32_t acc = 0;
    for (int i = 0; i < dim; i++) acc += (int32_t)q[i] * g[i];
    out[r] = acc;
  }
}

#ifdef FK_X86
/* Sums each of eight vectors: out[j] = sum of the lanes of a[j]. */
#define HSUM8(T, hadd, perm, store, out, a)                                   \
  do {                                                                        \
    T h01 = hadd(a[0], a[1]), h23 = hadd(a[2], a[3]);                         \
    T h45 = hadd(a[4], a[5]), h67 = hadd(a[6], a[7]);                         \
    T h0123 = hadd(h01, h23), h4567 = hadd(h45, h67);                         \
    store(out, T##_add(perm(h0123, h4567, 0x20), perm(h0123, h4567, 0x31)));  \
  } while (0)
#define __m256_add _mm256_add_ps
#define __m256i_add _mm256_add_epi32
#define STORE_PS(p, v) _mm256_storeu_ps(p, v)
#define STORE_SI(p, v) _mm256_storeu_si256((__m256i *)(p), v)

/* Eight rows per step, one accumulator each (eight independent FMA chains
 * hide the FMA latency); the query chunk is loaded once for the eight.
 * dim is a multiple of 8. */
__attribute__((target("avx2,fma"))) static void dot_f32_avx2(const float *q, const float *rows,
                                                             int64_t n, int dim, float *out) {
  int64_t r = 0;
  for (; r + 8 <= n; r += 8) {
    const float *g = rows + r * dim;
    __m256 a[8];
    for (int j = 0; j < 8; j++) a[j] = _mm256_setzero_ps();
    for (int i = 0; i < dim; i += 8) {
      __m256 x = _mm256_loadu_ps(q + i);
      for (int j = 0; j < 8; j++) a[j] = _mm256_fmadd_ps(x, _mm256_loadu_ps(g + j * dim + i), a[j]);
    }
    HSUM8(__m256, _mm256_hadd_ps, _mm256_permute2f128_ps, STORE_PS, out + r, a);
  }
  if (r < n) fk_dot_f32_scalar(q, rows + r * dim, n - r, dim, out + r);
}

#define I8_CHUNKS (FK_EMBED_MAX / 32)

/* q . g over dim int8 (a multiple of 32) as |q| (unsigned) times
 * sign(q) * g (signed) with maddubs; for codes of unit vectors the 16-bit
 * lane sums cannot overflow (see vec.h), so the chunks add in int16 before
 * one widening madd. */
__attribute__((target("avx2"))) static __m256i dot_row_i8(const __m256i *qa, const __m256i *qs,
                                                          int chunks, const int8_t *g) {
  __m256i acc = _mm256_setzero_si256();
  for (int c = 0; c < chunks; c++) {
    __m256i v = _mm256_loadu_si256((const __m256i *)(g + 32 * c));
    acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(qa[c], _mm256_sign_epi8(v, qs[c])));
  }
  return _mm256_madd_epi16(acc, _mm256_set1_epi16(1));
}

/* Eight rows per step, reduced together like the f32 kernel's. */
__attribute__((target("avx2"))) static void dot_i8_avx2(const int8_t *q, const int8_t *rows, int64_t n,
                                                        int dim, int32_t *out) {
  __m256i qa[I8_CHUNKS], qs[I8_CHUNKS];
  int chunks = dim / 32;
  for (int c = 0; c < chunks; c++) {
    qs[c] = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
    qa[c] = _mm256_abs_epi8(qs[c]);
  }
  int64_t r = 0;
  for (; r + 8 <= n; r += 8) {
    const int8_t *g = rows + r * dim;
    __m256i a[8];
    for (int j = 0; j < 8; j++) a[j] = dot_row_i8(qa, qs, chunks, g + j * dim);
    HSUM8(__m256i, _mm256_hadd_epi32, _mm256_permute2x128_si256, STORE_SI, out + r, a);
  }
  if (r < n) fk_dot_i8_scalar(q, rows + r * dim, n - r, dim, out + r);
}

/* One pair, reduced to a scalar; see dot_row_i8 for the lanes. */
__attribute__((target("avx2"))) static int32_t dot_pair_i8_avx2(const int8_t *a, const int8_t *b, int dim) {
  __m256i acc = _mm256_setzero_si256();
  for (int i = 0; i < dim; i += 32) {
    __m256i s = _mm256_loadu_si256((const __m256i *)(a + i)), v = _mm256_loadu_si256((const __m256i *)(b + i));
    acc = _mm256_add_epi16(acc, _mm256_maddubs_epi16(_mm256_abs_epi8(s), _mm256_sign_epi8(v, s)));
  }
  __m256i w = _mm256_madd_epi16(acc, _mm256_set1_epi16(1));
  __m128i x = _mm_add_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4e));
  x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xb1));
  return _mm_cvtsi128_si32(x);
}

int fk_dot_simd(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
int fk_dot_simd(void) { return 0; }
#endif

void fk_dot_f32(const float *q, const float *rows, int64_t n, int dim, float *out) {
#ifdef FK_X86
  if (dim % 8 == 0 && fk_dot_simd()) {
    dot_f32_avx2(q, rows, n, dim, out);
    return;
  }
#endif
  fk_dot_f32_scalar(q, rows, n, dim, out);
}

static int32_t dot_pair_i8_scalar(const int8_t *a, const int8_t *b, int dim) {
  int32_t acc;
  fk_dot_i8_scalar(a, b, 1, dim, &acc);
  return acc;
}

fk_dot_i8_pair_fn fk_dot_i8_pair(int dim) {
#ifdef FK_X86
  if (dim % 32 == 0 && dim <= FK_EMBED_MAX && fk_dot_simd()) return dot_pair_i8_avx2;
#endif
  (void)dim;
  return dot_pair_i8_scalar;
}

void fk_dot_i8(const int8_t *q, const int8_t *rows, int64_t n, int dim, int32_t *out) {
#ifdef FK_X86
  if (dim % 32 == 0 && dim <= FK_EMBED_MAX && fk_dot_simd()) {
    dot_i8_avx2(q, rows, n, dim, out);
    return;
  }
#endif
  fk_dot_i8_scalar(q, rows, n, dim, out);
}
