/*
 * bench_kernels.c - single convolutions and GEMMs on XNNPACK, oneDNN and
 * OpenBLAS (im2col + sgemm), in one run, so that the libraries can be
 * compared on this machine without the rest of the pipeline in the way.
 *
 * Usage: bench_kernels [runs] [threads]   (defaults 100 and 1)
 *
 * Every case runs `runs` times after 5 warm-up runs on each library and
 * prints the median ms and GFLOP/s (2 x MACs). oneDNN gets its activations in
 * NHWC, as facekit's graphs hold them, and chooses its own weight layout
 * (packed once, outside the timing), as XNNPACK packs its own. The shapes are
 * the dominant layers of facekit's nets: the ResNet descriptor's 3x3 convs,
 * a MobileNet pointwise and depthwise conv, and plain GEMMs.
 */
#include <math.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <pthreadpool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xnnpack.h>

#include "bench_util.h"

#ifdef FK_HAVE_OPENBLAS
#include <cblas.h>
#endif

typedef struct kcase {
  const char *name;
  int h, w, cin, cout, k, stride, depthwise; /* conv: NHWC in, SAME pad */
  int gemm_m, gemm_k, gemm_n;                /* gemm when gemm_m > 0 */
} kcase;

static const kcase cases[] = {
    {"conv3x3 75x75x32->32", 75, 75, 32, 32, 3, 1, 0, 0, 0, 0},
    {"conv3x3 38x38x64->64", 38, 38, 64, 64, 3, 1, 0, 0, 0, 0},
    {"conv3x3 19x19x128->128", 19, 19, 128, 128, 3, 1, 0, 0, 0, 0},
    {"conv1x1 56x56x128->128", 56, 56, 128, 128, 1, 1, 0, 0, 0, 0},
    {"dwconv3x3 56x56x128", 56, 56, 128, 128, 3, 1, 1, 0, 0, 0},
    {"gemm 1444x576x64", 0, 0, 0, 0, 0, 0, 0, 1444, 576, 64},
    {"gemm 512x512x512", 0, 0, 0, 0, 0, 0, 0, 512, 512, 512},
};

static double macs_of(const kcase *c) {
  if (c->gemm_m) return (double)c->gemm_m * c->gemm_k * c->gemm_n;
  int oh = (c->h + c->stride - 1) / c->stride, ow = (c->w + c->stride - 1) / c->stride;
  double per = c->depthwise ? c->k * c->k : (double)c->k * c->k * c->cin;
  return (double)oh * ow * c->cout * per;
}

static float *randf(size_t n) {
  float *p = malloc(n * sizeof *p + 64);
  for (size_t i = 0; p && i < n; i++) p[i] = (float)((i * 7919) % 251) / 251.0f - 0.5f;
  return p;
}

typedef void (*run_fn)(void *);

static double time_fn(run_fn f, void *arg, int runs) {
  double *t = malloc((size_t)runs * sizeof *t);
  for (int i = 0; i < 5; i++) f(arg);
  for (int i = 0; i < runs; i++) {
    double t0 = now_ms();
    f(arg);
    t[i] = now_ms() - t0;
  }
  double med = median_of(t, (size_t)runs);
  free(t);
  return med;
}

/* ---- XNNPACK (operator API) ----------------------------------------------- */

typedef struct { xnn_operator_t op; pthreadpool_t pool; } xnn_arg;
static void xnn_call(void *p) { xnn_arg *a = p; xnn_run_operator(a->op, a->pool); }

static double bench_xnn(const kcase *c, int threads, int runs) {
  pthreadpool_t pool = threads > 1 ? pthreadpool_create((size_t)threads) : NULL;
  xnn_operator_t op = NULL;
  float *in, *out, *w, *b;
  enum xnn_status s;
  if (c->gemm_m) {
    in = randf((size_t)c->gemm_m * c->gemm_k);
    w = randf((size_t)c->gemm_k * c->gemm_n);
    b = calloc((size_t)c->gemm_n, sizeof *b);
    out = randf((size_t)c->gemm_m * c->gemm_n);
    s = xnn_create_fully_connected_nc_f32((size_t)c->gemm_k, (size_t)c->gemm_n,
                                          (size_t)c->gemm_k, (size_t)c->gemm_n, w, b,
                                          -INFINITY, INFINITY, 0, &op);
    if (s == xnn_status_success)
      s = xnn_setup_fully_connected_nc_f32(op, (size_t)c->gemm_m, in, out, pool);
  } else {
    int p = c->k / 2, g = c->depthwise ? c->cin : 1;
    size_t gi = c->depthwise ? 1 : (size_t)c->cin, go = c->depthwise ? 1 : (size_t)c->cout;
    in = randf((size_t)c->h * c->w * c->cin);
    w = randf((size_t)c->cout * c->k * c->k * gi);
    b = calloc((size_t)c->cout, sizeof *b);
    out = randf((size_t)c->h * c->w * c->cout);
    s = xnn_create_convolution2d_nhwc_f32(p, p, p, p, c->k, c->k, c->stride, c->stride, 1, 1,
                                          g, gi, go, (size_t)c->cin, (size_t)c->cout, w, b,
                                          -INFINITY, INFINITY, 0, &op);
    if (s == xnn_status_success)
      s = xnn_setup_convolution2d_nhwc_f32(op, 1, c->h, c->w, in, out, pool);
  }
  double ms = -1;
  if (s == xnn_status_success) {
    xnn_arg a = {op, pool};
    ms = time_fn(xnn_call, &a, runs);
  }
  if (op) xnn_delete_operator(op);
  if (pool) pthreadpool_destroy(pool);
  free(in), free(out), free(w), free(b);
  return ms;
}

/* ---- oneDNN (C API, OpenMP runtime) --------------------------------------- */

typedef struct {
  dnnl_primitive_t p;
  dnnl_stream_t s;
  dnnl_exec_arg_t args[4];
  int nargs;
} dnnl_arg;
static void dnnl_call(void *p) {
  dnnl_arg *a = p;
  dnnl_primitive_execute(a->p, a->s, a->nargs, a->args);
  dnnl_stream_wait(a->s);
}

static dnnl_memory_t dnnl_mem(const dnnl_memory_desc_t *md, dnnl_engine_t eng) {
  dnnl_memory_t m = NULL;
  dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE);
  size_t n = dnnl_memory_desc_get_size(md) / sizeof(float);
  float *p = NULL;
  dnnl_memory_get_data_handle(m, (void **)&p);
  for (size_t i = 0; i < n; i++) p[i] = (float)((i * 7919) % 251) / 251.0f - 0.5f;
  return m;
}

static double bench_dnnl(const kcase *c, int threads, int runs, char *impl, size_t implsz) {
  omp_set_num_threads(threads);
  dnnl_engine_t eng;
  dnnl_stream_t st;
  dnnl_engine_create(&eng, dnnl_cpu, 0);
  dnnl_stream_create(&st, eng, dnnl_stream_default_flags);
  dnnl_memory_desc_t src, wt, bias, dst;
  dnnl_primitive_desc_t pd = NULL;
  dnnl_status_t s;
  if (c->gemm_m) {
    dnnl_dims_t a = {c->gemm_m, c->gemm_k}, bw = {c->gemm_k, c->gemm_n}, o = {c->gemm_m, c->gemm_n};
    dnnl_memory_desc_init_by_tag(&src, 2, a, dnnl_f32, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&wt, 2, bw, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst, 2, o, dnnl_f32, dnnl_ab);
    dnnl_matmul_desc_t md;
    s = dnnl_matmul_desc_init(&md, &src, &wt, NULL, &dst);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL);
  } else {
    int p = c->k / 2, g = c->depthwise ? c->cin : 1;
    dnnl_dims_t sd = {1, c->cin, c->h, c->w}, dd = {1, c->cout, c->h, c->w};
    dnnl_dims_t bd = {c->cout};
    dnnl_dims_t strides = {c->stride, c->stride}, pad = {p, p};
    dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, dnnl_nhwc);
    dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, dnnl_nhwc);
    dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_a);
    if (c->depthwise) {
      dnnl_dims_t wd = {g, 1, 1, c->k, c->k};
      dnnl_memory_desc_init_by_tag(&wt, 5, wd, dnnl_f32, dnnl_format_tag_any);
    } else {
      dnnl_dims_t wd = {c->cout, c->cin, c->k, c->k};
      dnnl_memory_desc_init_by_tag(&wt, 4, wd, dnnl_f32, dnnl_format_tag_any);
    }
    dnnl_convolution_desc_t cd;
    s = dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                           dnnl_convolution_direct, &src, &wt, &bias,
                                           &dst, strides, pad, pad);
    if (s == dnnl_success) s = dnnl_primitive_desc_create(&pd, &cd, NULL, eng, NULL);
  }
  double ms = -1;
  if (s == dnnl_success) {
    const char *name = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name);
    snprintf(impl, implsz, "%s", name ? name : "?");
    dnnl_arg a = {.s = st};
    dnnl_primitive_create(&a.p, pd);
    const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_memory_t ms_[4] = {dnnl_mem(&src, eng), dnnl_mem(wq, eng), dnnl_mem(&dst, eng), NULL};
    a.args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, ms_[0]};
    a.args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, ms_[1]};
    a.args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, ms_[2]};
    a.nargs = 3;
    if (!c->gemm_m) {
      ms_[3] = dnnl_mem(&bias, eng);
      a.args[a.nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, ms_[3]};
    }
    ms = time_fn(dnnl_call, &a, runs);
    for (int i = 0; i < 4; i++)
      if (ms_[i]) dnnl_memory_destroy(ms_[i]);
    dnnl_primitive_destroy(a.p);
    dnnl_primitive_desc_destroy(pd);
  }
  dnnl_stream_destroy(st);
  dnnl_engine_destroy(eng);
  return ms;
}

#ifdef FK_HAVE_OPENBLAS
/* ---- OpenBLAS: im2col + sgemm --------------------------------------------- */

typedef struct {
  const kcase *c;
  float *in, *col, *w, *out;
} blas_arg;

static void blas_call(void *arg) {
  blas_arg *a = arg;
  const kcase *c = a->c;
  if (c->gemm_m) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->gemm_m, c->gemm_n, c->gemm_k,
                1.0f, a->in, c->gemm_k, a->w, c->gemm_n, 0.0f, a->out, c->gemm_n);
    return;
  }
  int p = c->k / 2, kk = c->k * c->k * c->cin;
  const float *src = a->in;
  if (c->k > 1) { /* im2col rows: [y][x] x [ky][kx][ci] */
    for (int y = 0; y < c->h; y++)
      for (int x = 0; x < c->w; x++) {
        float *row = a->col + ((size_t)y * c->w + x) * kk;
        for (int ky = 0; ky < c->k; ky++)
          for (int kx = 0; kx < c->k; kx++, row += c->cin) {
            int iy = y + ky - p, ix = x + kx - p;
            if (iy < 0 || ix < 0 || iy >= c->h || ix >= c->w)
              memset(row, 0, (size_t)c->cin * sizeof *row);
            else
              memcpy(row, a->in + ((size_t)iy * c->w + ix) * c->cin,
                     (size_t)c->cin * sizeof *row);
          }
      }
    src = a->col;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->h * c->w, c->cout, kk, 1.0f,
              src, kk, a->w, c->cout, 0.0f, a->out, c->cout);
}

static double bench_blas(const kcase *c, int threads, int runs) {
  if (c->depthwise) return -1; /* no GEMM formulation worth timing */
  openblas_set_num_threads(threads);
  blas_arg a = {.c = c};
  if (c->gemm_m) {
    a.in = randf((size_t)c->gemm_m * c->gemm_k);
    a.w = randf((size_t)c->gemm_k * c->gemm_n);
    a.out = randf((size_t)c->gemm_m * c->gemm_n);
  } else {
    size_t kk = (size_t)c->k * c->k * c->cin;
    a.in = randf((size_t)c->h * c->w * c->cin);
    a.col = c->k > 1 ? randf((size_t)c->h * c->w * kk) : NULL;
    a.w = randf(kk * c->cout);
    a.out = randf((size_t)c->h * c->w * c->cout);
  }
  double ms = time_fn(blas_call, &a, runs);
  free(a.in), free(a.col), free(a.w), free(a.out);
  return ms;
}

#else
static double bench_blas(const kcase *c, int threads, int runs) {
  (void)c, (void)threads, (void)runs;
  return -1; /* built without OpenBLAS */
}
#endif

static void print_lib(const char *lib, double ms, double macs, const char *impl) {
  if (ms < 0) {
    printf("    %-9s     -\n", lib);
    return;
  }
  printf("    %-9s %8.3f ms  %6.1f GFLOP/s  %s\n", lib, ms, 2 * macs / (ms * 1e6), impl);
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 100;
  int threads = argc > 2 ? atoi(argv[2]) : 1;
  if (runs < 1) runs = 1;
  if (threads < 1) threads = 1;
  if (xnn_initialize(NULL) != xnn_status_success) {
    fprintf(stderr, "xnn_initialize failed\n");
    return 1;
  }
  printf("%d thread%s, median of %d runs\n", threads, threads > 1 ? "s" : "", runs);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const kcase *c = &cases[i];
    double macs = macs_of(c);
    char impl[128] = "";
    printf("%s  (%.1f MMAC)\n", c->name, macs / 1e6);
    print_lib("XNNPACK", bench_xnn(c, threads, runs), macs, "");
    double d = bench_dnnl(c, threads, runs, impl, sizeof impl);
    print_lib("oneDNN", d, macs, impl);
    print_lib("OpenBLAS", bench_blas(c, threads, runs), macs, "im2col+sgemm");
  }
  return 0;
}
