/*
 * bench_kernels.c - the dominant layers of every net, one layer at a time,
 * on XNNPACK, oneDNN and OpenBLAS (im2col + sgemm) in the same run: the
 * ceiling each net's GFLOP/s in bench_nets is held against.
 *
 * Usage: bench_kernels [runs] [threads] [-n NET] [--wall]
 *   (defaults 30 runs, 1 thread, all nets)
 *
 * For each net (the face-api nets, gear, SSD at 512 and Tiny at 416) the
 * conv, depthwise and FC layers are grouped by shape and the largest groups
 * that cover 90% of the net's MACs are timed alone. Each library gets the
 * layer as it would run it: XNNPACK's operator API on NHWC; oneDNN with
 * blocked activations (format_tag_any, as the backend in src/nn/dnnl.c
 * runs it) and with NHWC ones, every implementation oneDNN offers for each
 * (its primitive-descriptor iterator), the fastest shown; OpenBLAS on NHWC
 * through an im2col buffer (not for depthwise). The candidates of a layer
 * run interleaved, one run each in turn, so that a shared machine's load
 * falls on all of them alike; medians of `runs` after 5 warm-up rounds.
 * On one thread the times are the thread's CPU time, which leaves out the
 * time a run waited for a core on a shared machine (--wall: wall time);
 * with more threads they are wall time.
 *
 * Per net it prints the best library's GFLOP/s on each shape and the
 * net-level ceiling: the covered MACs over the sum of each shape's time at
 * its best library's speed. Then it times the whole net on facekit's
 * backends (oneDNN and XNNPACK runtimes, interleaved) right after, and
 * prints the net's GFLOP/s as a share of that ceiling; issue #12's goal is
 * at least 70% on every net. GFLOP/s counts 2 x MACs.
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

#define MAX_SHAPES 64
#define MAX_CAND 24

/* The clock every run is timed with (see the header). */
static double (*clock_ms)(void) = fk_now_ms;

/* One layer shape of a net and the MACs of all its layers of that shape. */
typedef struct shape {
  nn_op_kind kind;
  nn_shape in, out;
  int kh, kw, stride, dil, pad[4];
  double macs, count;
} shape;

/* One way to run a layer: a timed call, its name and its state. */
typedef struct cand {
  char name[96];
  const char *lib;
  void (*run)(struct cand *);
  double *t;
  /* XNNPACK */
  xnn_operator_t xop;
  pthreadpool_t pool;
  /* oneDNN */
  dnnl_primitive_t prim;
  dnnl_stream_t stream;
  dnnl_exec_arg_t args[5];
  int nargs;
  dnnl_memory_t mems[5];
  /* OpenBLAS */
  const shape *s;
  float *in, *col, *w, *out;
  int threads;
} cand;

static float *randf(size_t n) {
  float *p = malloc(n * sizeof *p + 64);
  for (size_t i = 0; p && i < n; i++) p[i] = (float)((i * 7919) % 251) / 251.0f - 0.5f;
  return p;
}

static double layer_macs(const nn_graph *g, const nn_op *op) {
  nn_shape in = g->shapes[op->in[0]], out = g->shapes[op->out];
  double pix = (double)out.h * out.w;
  if (op->kind == NN_OP_CONV) return pix * out.c * op->kh * op->kw * in.c;
  if (op->kind == NN_OP_DEPTHWISE) return pix * out.c * op->kh * op->kw;
  if (op->kind == NN_OP_FC) return (double)nn_shape_size(in) * out.c;
  return 0;
}

static int same(const shape *a, const shape *b) {
  return a->kind == b->kind && !memcmp(&a->in, &b->in, sizeof a->in) &&
         !memcmp(&a->out, &b->out, sizeof a->out) && a->kh == b->kh && a->kw == b->kw &&
         a->stride == b->stride && a->dil == b->dil && !memcmp(a->pad, b->pad, sizeof a->pad);
}

static int by_macs(const void *a, const void *b) {
  double x = ((const shape *)a)->macs, y = ((const shape *)b)->macs;
  return (x < y) - (x > y);
}

/* The net's layer shapes, largest MAC share first; returns how many. */
static int shapes_of(const nn_graph *g, shape *s, double *total) {
  int n = 0;
  *total = 0;
  for (int i = 0; i < g->nops; i++) {
    const nn_op *op = &g->ops[i];
    double m = layer_macs(g, op);
    if (m <= 0) continue;
    *total += m;
    shape k = {op->kind, g->shapes[op->in[0]], g->shapes[op->out], op->kh, op->kw, op->stride,
               op->dilation > 1 ? op->dilation : 1, {0}, 0, 0};
    memcpy(k.pad, op->pad, sizeof k.pad);
    int j = 0;
    while (j < n && !same(&s[j], &k)) j++;
    if (j == n) {
      if (n == MAX_SHAPES) continue;
      s[n++] = k;
    }
    s[j].macs += m;
    s[j].count++;
  }
  qsort(s, (size_t)n, sizeof *s, by_macs);
  return n;
}

/* ---- XNNPACK ---------------------------------------------------------------- */

static void xnn_call(cand *c) { xnn_run_operator(c->xop, c->pool); }

static int xnn_cand(const shape *s, int threads, cand *c) {
  c->pool = threads > 1 ? pthreadpool_create((size_t)threads) : NULL;
  size_t ci = (size_t)s->in.c, co = (size_t)s->out.c;
  c->in = randf(nn_shape_size(s->in));
  c->out = randf(nn_shape_size(s->out));
  float *b = calloc(co, sizeof *b);
  enum xnn_status st;
  if (s->kind == NN_OP_FC) {
    size_t k = nn_shape_size(s->in);
    c->w = randf(k * co);
    st = xnn_create_fully_connected_nc_f32(k, co, k, co, c->w, b, -INFINITY, INFINITY, 0, &c->xop);
    if (st == xnn_status_success) st = xnn_setup_fully_connected_nc_f32(c->xop, 1, c->in, c->out, c->pool);
  } else {
    int dw = s->kind == NN_OP_DEPTHWISE;
    c->w = randf((size_t)s->kh * s->kw * ci * (dw ? 1 : co));
    st = xnn_create_convolution2d_nhwc_f32(
        (uint32_t)s->pad[0], (uint32_t)s->pad[3], (uint32_t)s->pad[1], (uint32_t)s->pad[2],
        (uint32_t)s->kh, (uint32_t)s->kw, (uint32_t)s->stride, (uint32_t)s->stride, (uint32_t)s->dil,
        (uint32_t)s->dil, dw ? (uint32_t)ci : 1, dw ? 1 : ci, dw ? 1 : co, ci, co, c->w, b, -INFINITY,
        INFINITY, dw ? XNN_FLAG_DEPTHWISE_CONVOLUTION : 0, &c->xop);
    if (st == xnn_status_success)
      st = xnn_setup_convolution2d_nhwc_f32(c->xop, 1, (size_t)s->in.h, (size_t)s->in.w, c->in, c->out,
                                            c->pool);
  }
  free(b);
  c->lib = "XNNPACK";
  snprintf(c->name, sizeof c->name, "NHWC operator");
  c->run = xnn_call;
  return st == xnn_status_success;
}

/* ---- oneDNN ----------------------------------------------------------------- */

static void dnnl_call(cand *c) {
  dnnl_primitive_execute(c->prim, c->stream, c->nargs, c->args);
  dnnl_stream_wait(c->stream);
}

static dnnl_memory_t dnnl_mem(const dnnl_memory_desc_t *md, dnnl_engine_t eng) {
  dnnl_memory_t m = NULL;
  dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE);
  size_t n = dnnl_memory_desc_get_size(md) / sizeof(float);
  float *p = NULL;
  dnnl_memory_get_data_handle(m, (void **)&p);
  for (size_t i = 0; p && i < n; i++) p[i] = (float)((i * 7919) % 251) / 251.0f - 0.5f;
  return m;
}

/* The op descriptor of s with activations in `tag` (any or nhwc). */
static int dnnl_desc(const shape *s, dnnl_format_tag_t tag, dnnl_convolution_desc_t *cd,
                     dnnl_inner_product_desc_t *ipd) {
  dnnl_memory_desc_t src, wt, bias, dst;
  dnnl_dims_t sd = {1, s->in.c, s->in.h, s->in.w}, dd = {1, s->out.c, s->out.h, s->out.w};
  dnnl_dims_t bd = {s->out.c};
  dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_f32, tag);
  dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_a);
  if (s->kind == NN_OP_FC) {
    dnnl_dims_t wd = {s->out.c, s->in.c, s->in.h, s->in.w}, d2 = {1, s->out.c};
    dnnl_memory_desc_init_by_tag(&wt, 4, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_memory_desc_init_by_tag(&dst, 2, d2, dnnl_f32, dnnl_nc);
    return dnnl_inner_product_forward_desc_init(ipd, dnnl_forward_inference, &src, &wt, &bias, &dst) ==
           dnnl_success;
  }
  dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_f32, tag);
  if (s->kind == NN_OP_DEPTHWISE) {
    dnnl_dims_t wd = {s->in.c, 1, 1, s->kh, s->kw};
    dnnl_memory_desc_init_by_tag(&wt, 5, wd, dnnl_f32, dnnl_format_tag_any);
  } else {
    dnnl_dims_t wd = {s->out.c, s->in.c, s->kh, s->kw};
    dnnl_memory_desc_init_by_tag(&wt, 4, wd, dnnl_f32, dnnl_format_tag_any);
  }
  dnnl_dims_t st = {s->stride, s->stride}, dl = {s->dil - 1, s->dil - 1};
  dnnl_dims_t pl = {s->pad[0], s->pad[2]}, pr = {s->pad[1], s->pad[3]};
  return dnnl_dilated_convolution_forward_desc_init(cd, dnnl_forward_inference, dnnl_convolution_direct,
                                                    &src, &wt, &bias, &dst, st, dl, pl, pr) == dnnl_success;
}

/* One candidate per implementation oneDNN offers for s with activations
 * in tag; returns how many were added to c. */
static int dnnl_cands(const shape *s, dnnl_format_tag_t tag, dnnl_engine_t eng, dnnl_stream_t stream,
                      cand *c, int room) {
  dnnl_convolution_desc_t cd;
  dnnl_inner_product_desc_t ipd;
  if (!dnnl_desc(s, tag, &cd, &ipd)) return 0;
  const void *desc = s->kind == NN_OP_FC ? (const void *)&ipd : (const void *)&cd;
  dnnl_primitive_desc_iterator_t it;
  if (dnnl_primitive_desc_iterator_create(&it, desc, NULL, eng, NULL) != dnnl_success) return 0;
  int n = 0;
  do {
    dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
    if (!pd) break;
    const char *impl = "?";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    int dup = 0;
    for (int k = 0; k < n; k++) dup |= !strcmp(strchr(c[k].name, ' ') + 1, impl);
    if (dup || n == room || !strncmp(impl, "ref", 3)) { /* ref: far too slow to matter */
      dnnl_primitive_desc_destroy(pd);
      continue;
    }
    cand *x = &c[n++];
    snprintf(x->name, sizeof x->name, "%s %s", tag == dnnl_nhwc ? "nhwc" : "any", impl);
    x->lib = "oneDNN";
    x->run = dnnl_call;
    x->stream = stream;
    dnnl_primitive_create(&x->prim, pd);
    static const int argk[4] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_BIAS, DNNL_ARG_DST};
    static const dnnl_query_t q[4] = {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_weights_md,
                                      dnnl_query_dst_md};
    for (int a = 0; a < 4; a++) {
      const dnnl_memory_desc_t *md = dnnl_primitive_desc_query_md(pd, q[a], a == 2);
      x->mems[a] = dnnl_mem(md, eng);
      x->args[x->nargs++] = (dnnl_exec_arg_t){argk[a], x->mems[a]};
    }
    dnnl_primitive_desc_destroy(pd);
  } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
  dnnl_primitive_desc_iterator_destroy(it);
  return n;
}

/* ---- OpenBLAS: im2col + sgemm ------------------------------------------------- */

#ifdef FK_HAVE_OPENBLAS
static void blas_call(cand *c) {
  const shape *s = c->s;
  int kk = s->kh * s->kw * s->in.c, m = s->out.h * s->out.w;
  const float *a = c->in;
  if (s->kind == NN_OP_FC) {
    int k = (int)nn_shape_size(s->in);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, s->out.c, k, 1.0f, c->w, k, c->in, 1, 0.0f, c->out, 1);
    return;
  }
  if (s->kh * s->kw > 1 || s->stride > 1) { /* rows [oy][ox] x [ky][kx][ci] */
    for (int oy = 0; oy < s->out.h; oy++)
      for (int ox = 0; ox < s->out.w; ox++) {
        float *row = c->col + ((size_t)oy * s->out.w + ox) * kk;
        for (int ky = 0; ky < s->kh; ky++)
          for (int kx = 0; kx < s->kw; kx++, row += s->in.c) {
            int iy = oy * s->stride - s->pad[0] + ky * s->dil, ix = ox * s->stride - s->pad[2] + kx * s->dil;
            if (iy < 0 || ix < 0 || iy >= s->in.h || ix >= s->in.w)
              memset(row, 0, (size_t)s->in.c * sizeof *row);
            else
              memcpy(row, c->in + ((size_t)iy * s->in.w + ix) * s->in.c, (size_t)s->in.c * sizeof *row);
          }
      }
    a = c->col;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, s->out.c, kk, 1.0f, a, kk, c->w, s->out.c, 0.0f,
              c->out, s->out.c);
}

static int blas_cand(const shape *s, int threads, cand *c) {
  if (s->kind == NN_OP_DEPTHWISE) return 0; /* no GEMM worth timing */
  openblas_set_num_threads(threads);
  size_t kk = s->kind == NN_OP_FC ? nn_shape_size(s->in) : (size_t)s->kh * s->kw * s->in.c;
  c->s = s;
  c->in = randf(nn_shape_size(s->in));
  c->col = s->kind != NN_OP_FC ? randf((size_t)s->out.h * s->out.w * kk) : NULL;
  c->w = randf(kk * (size_t)s->out.c);
  c->out = randf(nn_shape_size(s->out));
  c->lib = "OpenBLAS";
  snprintf(c->name, sizeof c->name, "NHWC im2col+sgemm");
  c->run = blas_call;
  return 1;
}
#else
static int blas_cand(const shape *s, int threads, cand *c) {
  (void)s, (void)threads, (void)c;
  return 0; /* built without OpenBLAS */
}
#endif

static void cand_free(cand *c) {
  if (c->xop) xnn_delete_operator(c->xop);
  if (c->pool) pthreadpool_destroy(c->pool);
  if (c->prim) dnnl_primitive_destroy(c->prim);
  for (int a = 0; a < 5; a++)
    if (c->mems[a]) dnnl_memory_destroy(c->mems[a]);
  free(c->in), free(c->col), free(c->w), free(c->out), free(c->t);
}

/* ---- one net ------------------------------------------------------------------ */

static const char *kind_name(nn_op_kind k) {
  return k == NN_OP_CONV ? "conv" : k == NN_OP_DEPTHWISE ? "dwconv" : "fc";
}

/* Times the shape on every candidate; returns the best GFLOP/s, and puts
 * the best of each library in best_lib (XNNPACK, oneDNN, OpenBLAS). */
static double bench_shape(const shape *s, int runs, int threads, dnnl_engine_t eng, dnnl_stream_t stream,
                          double best_lib[3], const char **best_name) {
  cand c[MAX_CAND];
  memset(c, 0, sizeof c);
  int n = 0;
  n += xnn_cand(s, threads, &c[n]);
  n += dnnl_cands(s, dnnl_format_tag_any, eng, stream, &c[n], MAX_CAND - 2 - n);
  n += dnnl_cands(s, dnnl_nhwc, eng, stream, &c[n], MAX_CAND - 1 - n);
  n += blas_cand(s, threads, &c[n]);
  for (int k = 0; k < n; k++) c[k].t = malloc((size_t)runs * sizeof(double));
  for (int r = -5; r < runs; r++)
    for (int k = 0; k < n; k++) {
      double t0 = clock_ms();
      c[k].run(&c[k]);
      if (r >= 0) c[k].t[r] = clock_ms() - t0;
    }
  double best = 0, mac = s->macs / s->count;
  best_lib[0] = best_lib[1] = best_lib[2] = 0;
  for (int k = 0; k < n; k++) {
    double gf = 2 * mac / (median_of(c[k].t, (size_t)runs) * 1e6);
    int l = c[k].lib[0] == 'X' ? 0 : c[k].lib[0] == 'o' ? 1 : 2;
    printf("      %-8s %-40s %7.3f ms %6.1f GFLOP/s\n", c[k].lib, c[k].name, median_of(c[k].t, (size_t)runs),
           gf);
    best_lib[l] = fmax(best_lib[l], gf);
    if (gf > best) {
      best = gf;
      *best_name = c[k].lib;
    }
  }
  for (int k = 0; k < n; k++) cand_free(&c[k]);
  return best;
}

/* The whole net on the oneDNN and XNNPACK backends, interleaved, against
 * the ceiling of its layers. */
static void bench_whole(const char *name, const nn_graph *g, int runs, int threads, double ceiling) {
  const nn_backend be[2] = {NN_BACKEND_DNNL, NN_BACKEND_XNNPACK};
  nn_threads *th[2] = {NULL, NULL};
  nn_runtime *rt[2] = {NULL, NULL};
  double *t[2];
  for (int b = 0; b < 2; b++) {
    t[b] = malloc((size_t)runs * sizeof **t);
    if (nn_threads_new(threads, NULL, &th[b]) != FK_OK || nn_runtime_new(g, be[b], th[b], &rt[b]) != FK_OK) {
      fprintf(stderr, "%s: no %s runtime\n", name, nn_backend_name(be[b]));
      return;
    }
    nn_runtime_set_sched(rt[b], NN_SCHED_PARALLEL);
    float *in = nn_runtime_input(rt[b]);
    for (size_t i = 0, n = nn_shape_size(g->shapes[0]); i < n; i++) in[i] = (float)((i * 7919) % 255) / 255.0f - 0.5f;
  }
  for (int r = -3; r < runs; r++)
    for (int b = 0; b < 2; b++) {
      double t0 = clock_ms();
      nn_runtime_run(rt[b]);
      if (r >= 0) t[b][r] = clock_ms() - t0;
    }
  for (int b = 0; b < 2; b++) {
    double gf = 2 * nn_graph_macs(g) / (median_of(t[b], (size_t)runs) * 1e6);
    printf("  => %s whole net on %-8s %7.3f ms  %6.1f GFLOP/s = %3.0f%% of the ceiling\n", name,
           nn_backend_name(be[b]), median_of(t[b], (size_t)runs), gf, 100 * gf / ceiling);
    nn_runtime_free(rt[b]);
    nn_threads_free(th[b]);
    free(t[b]);
  }
}

static void bench_layers(const char *name, const nn_graph *g, int runs, int threads, dnnl_engine_t eng,
                        dnnl_stream_t stream) {
  shape s[MAX_SHAPES];
  double total, covered = 0, t_best = 0, t_lib[3] = {0, 0, 0};
  int n = shapes_of(g, s, &total);
  printf("%s: %.1f MMAC in %d layer shapes\n", name, total / 1e6, n);
  for (int i = 0; i < n && covered < 0.9 * total; i++) {
    printf("  %s %dx%dx%d -> %dx%dx%d k%dx%d s%d, %g layers, %.1f%% of the MACs\n", kind_name(s[i].kind),
           s[i].in.h, s[i].in.w, s[i].in.c, s[i].out.h, s[i].out.w, s[i].out.c, s[i].kh, s[i].kw,
           s[i].stride, s[i].count, 100 * s[i].macs / total);
    double lib[3];
    const char *who = "";
    double best = bench_shape(&s[i], runs, threads, eng, stream, lib, &who);
    covered += s[i].macs;
    t_best += 2 * s[i].macs / (best * 1e6);
    for (int l = 0; l < 3; l++) t_lib[l] += lib[l] > 0 ? 2 * s[i].macs / (lib[l] * 1e6) : INFINITY;
    /* (a library with no way to run a shape shows 0 over the net) */
  }
  double ceiling = 2 * covered / (t_best * 1e6);
  printf("  => %s ceiling over %.0f%% of the MACs: best library per shape %.1f GFLOP/s; XNNPACK %.1f, "
         "oneDNN %.1f, OpenBLAS %.1f\n",
         name, 100 * covered / total, ceiling, 2 * covered / (t_lib[0] * 1e6),
         2 * covered / (t_lib[1] * 1e6), 2 * covered / (t_lib[2] * 1e6));
  bench_whole(name, g, runs, threads, ceiling);
  printf("\n");
  fflush(stdout);
}

int main(int argc, char **argv) {
  int runs = 30, threads = 1, pos = 0, wall = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n") && i + 1 < argc) only = argv[++i];
    else if (!strcmp(argv[i], "--wall")) wall = 1;
    else if (pos++ == 0) runs = atoi(argv[i]);
    else threads = atoi(argv[i]);
  }
  if (runs < 1) runs = 1;
  if (threads < 1) threads = 1;
  if (xnn_initialize(NULL) != xnn_status_success) {
    fprintf(stderr, "xnn_initialize failed\n");
    return 1;
  }
  omp_set_num_threads(threads);
  dnnl_engine_t eng;
  dnnl_stream_t stream;
  dnnl_engine_create(&eng, dnnl_cpu, 0);
  dnnl_stream_create(&stream, eng, dnnl_stream_default_flags);
  if (threads == 1 && !wall) clock_ms = fk_thread_cpu_ms;
  printf("%d thread%s, median %s of %d interleaved runs\n\n", threads, threads > 1 ? "s" : "",
         clock_ms == fk_now_ms ? "wall time" : "thread CPU time", runs);
  const char *names[] = {"landmarks", "descriptor", "agegender", "expression", "gear", "ssd:512", "tiny:416"};
  for (int i = 0; i < 7; i++) {
    if (only && strcmp(only, names[i])) continue;
    nn_graph *g = bench_graph(names[i]);
    if (g) bench_layers(names[i], g, runs, threads, eng, stream);
    nn_graph_free(g);
  }
  dnnl_stream_destroy(stream);
  dnnl_engine_destroy(eng);
  return 0;
}
