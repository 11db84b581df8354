/*
 * dnnl.c - the oneDNN backend (backend.h): runs an nn_graph as a sequence of
 * oneDNN primitives, with the reference kernels (ref.c) for what oneDNN
 * lacks and XNNPACK's max pooling (xnn.c), 5 to 8 times faster than
 * oneDNN 2.6's. The only file that includes oneDNN (Debian's 2.6, C API,
 * OpenMP runtime).
 *
 * Why oneDNN: its kernels are generated at run time for the CPU at hand
 * (jit:avx2 here, avx512_core on AVX-512), so they do not depend on how a
 * compiler allocated registers; Debian's XNNPACK build spills an accumulator
 * of its f32 GEMM kernels and runs at a third of the core's peak on AVX2.
 *
 * Layouts. Convolutions choose their own activation layout (format_tag_any;
 * blocked nChw8c on AVX2, nChw16c on AVX-512) and every tensor keeps the
 * layout of the primitive that produced it, its "native" version. A consumer
 * that wants another layout gets a converted copy made by a reorder right
 * before it, kept as a further version of the tensor for later consumers.
 * Plain NHWC versions serve what needs the nn.h layout: the reference
 * fallbacks, RESHAPE (which then only aliases), PAD's output when its
 * channel offsets are not whole blocks, and the graph's input and outputs.
 * A conv whose padding is too wide for oneDNN's direct kernels reads a
 * zero-bordered copy of its input instead (try_prepad).
 *
 * Fusion. A CONV or DEPTHWISE absorbs the ops after it whose input has no
 * other use: activations and clamps become eltwise post-ops, and an ADD of
 * another tensor b becomes a sum post-op (the conv adds its result to a
 * destination that already holds b). Such a conv runs at the position of
 * the last op it absorbed. Its destination is b's own buffer when nothing
 * reads b later, else a copy of b. A fusion is kept only if oneDNN keeps the
 * implementation it picks for the bare conv.
 *
 * Everything is prepared in create: primitives, packed weights, every
 * buffer, one scratchpad shared by all primitives (user scratchpad mode).
 * A run only executes. Activations share one arena: each buffer lives from
 * the first to the last step that touches it, and buffers alive at the
 * same time never overlap (place_buffers), as XNNPACK does with its own.
 *
 * Threads. Primitives are created for the session's n threads (oneDNN reads
 * the OpenMP thread count when it creates them). A run on n threads sets
 * the calling thread's OpenMP thread count to n; a run on one thread also
 * sets its max-active-levels to 0, which makes every OpenMP region inactive
 * (a team of one). Both are per-thread ICVs and are restored after the run,
 * so nothing leaks to the caller's own OpenMP code. The one thing a run may
 * do to the caller's OpenMP state is dnn_release: when several sessions
 * share the cores it ends the calling thread's OpenMP pool after a parallel
 * run (libgomp makes a new one on the next parallel region, the caller's
 * own included).
 *
 * Profile. FACEKIT_DNNL_PROFILE=1 in the environment times every step and
 * lists them when the runtime is freed (see print_profile).
 */
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "base/clock.h"
#include "base/fpenv.h"
#include "facekit.h"
#include "nn/backend.h"

#define MAX_VERSIONS 8  /* layouts of one tensor: native + converted copies */
#define MAX_ARGS 16     /* execution arguments of one primitive */
#define MAX_CHAIN 8     /* ops one conv may absorb */
#define SLACK 64        /* bytes after every buffer (XNN_EXTRA_BYTES and more) */

typedef struct dver {
  dnnl_memory_desc_t md;
  dnnl_memory_t mem;
  int buf;            /* index into dnn.bufs */
} dver;

typedef struct dtensor {
  dver v[MAX_VERSIONS]; /* v[0] native; nv == 0: not produced (yet) */
  int nv;
} dtensor;

/* A buffer: an activation's place in the arena, or a constant's own
 * allocation (packed weights, converted constants), made at once because
 * it is filled at creation. */
typedef struct dbuf {
  size_t bytes;       /* with SLACK, a multiple of 64 */
  void *own;          /* constants: their memory; NULL for arena buffers */
  int pinned;         /* neither shared nor overwritten by a sum: the graph
                         input, and PAD outputs, whose zero border is
                         written once */
  int first, last;    /* steps that touch it (arena buffers) */
  size_t off;         /* its offset in the arena, once placed */
} dbuf;

/* A memory object and the buffer it views (-1: data the graph owns). */
typedef struct dmem {
  dnnl_memory_t m;
  int buf;
} dmem;

typedef struct dstep {
  dnnl_primitive_t prim;      /* NULL: a borrowed XNNPACK max pooling, or */
  nn_xnn_maxpool *xpool;      /* (neither) the op's reference kernel */
  dnnl_exec_arg_t args[MAX_ARGS];
  int nargs;
  dnnl_memory_desc_t scratch; /* its scratchpad, if has_scratch */
  int has_scratch;
  const nn_op *op;            /* reference, XNNPACK: the op and its buffers */
  int a, b, out;              /* (b -1 if none), then resolved into: */
  const float *pa, *pb;
  float *pout;
  int opi;                    /* the op it serves (FACEKIT_DNNL_PROFILE) */
  double ms;                  /* its time summed over the runs, if profiled */
} dstep;

/* The part of a conv's kernel that ever meets the input: taps that only
 * ever fall into the padding are dropped (a 3x3 SAME conv on a 1x1 input
 * is a 1x1 conv), with the padding shrunk to match. */
typedef struct dwin {
  int ky0, kx0, kh, kw;
  int pad[4];                 /* top, bottom, left, right */
} dwin;

/* What a conv or an ADD absorbs, planned when the loop over the ops
 * reaches it. A conv's first absorbed ADD is a sum post-op; every other
 * absorbed ADD is a binary post-op reading its other operand. */
typedef struct dchain {
  dwin win;                   /* conv */
  int prepad;                 /* conv: reads a zero-bordered copy of its
                                 input, with no padding of its own */
  int n;                      /* absorbed ops */
  int ops[MAX_CHAIN];
  int sum_b;                  /* the tensor the sum adds, or -1 */
  int nbin;                   /* binary post-ops: their index in the */
  int bin_po[MAX_CHAIN];      /* post-op list and the tensor they add */
  int bin_t[MAX_CHAIN];
  dnnl_primitive_desc_t pd;   /* the op with its post-ops */
} dchain;

typedef struct dnn {
  const nn_graph *g;
  int nthr;
  dnnl_data_type_t dt;        /* what the convs compute in (f32, bf16) */
  dnnl_engine_t eng;
  dnnl_stream_t stream;
  dtensor *t;
  dstep *steps;
  int nsteps, cap_steps;
  dbuf *bufs;
  int nbufs, cap_bufs;
  dmem *mems;                 /* every memory object, for freeing */
  int nmems, cap_mems;
  char *arena;                /* every activation buffer */
  int *uses;                  /* per tensor: ops reading it (+1 if an output) */
  int *reader;                /* per tensor: one op reading it */
  char *done;                 /* per op: its step exists */
  int *emit_at;               /* per op index: the op whose step comes here */
  dchain *chain;              /* per op (CONV/DEPTHWISE) */
  int *out_bufs;              /* per output: its NHWC buffer */
  const float **outs;         /* and where that is */
  float *input;
  void *scratch;
  int cur_op;                 /* the op being emitted, for dstep.opi */
  int profile;                /* FACEKIT_DNNL_PROFILE set: time every step */
  int nruns;                  /* runs so far (profiled) */
} dnn;

/* ---- statuses, growth, memory ------------------------------------------------ */

static int status(dnnl_status_t s) {
  switch (s) {
    case dnnl_success: return FK_OK;
    case dnnl_out_of_memory: return FK_ENOMEM;
    case dnnl_unimplemented: return FK_EUNSUPPORTED;
    default: return FK_EBACKEND;
  }
}

#define TRY(expr)                    \
  do {                               \
    int try_rc_ = (expr);            \
    if (try_rc_ != FK_OK) return try_rc_; \
  } while (0)
#define DNNL(expr) TRY(status(expr))

/* Makes room for one more element in *arr (n used, *cap allocated). */
static int grow(void **arr, int n, int *cap, size_t elem) {
  if (n < *cap) return FK_OK;
  int c = *cap ? 2 * *cap : 16;
  void *p = realloc(*arr, (size_t)c * elem);
  if (!p) return FK_ENOMEM;
  *arr = p;
  *cap = c;
  return FK_OK;
}

/* A new buffer of `bytes` (placed in the arena at the end of creation, or
 * allocated now if cnst); its index in *id. */
static int new_buf(dnn *d, size_t bytes, int pinned, int cnst, int *id) {
  TRY(grow((void **)&d->bufs, d->nbufs, &d->cap_bufs, sizeof *d->bufs));
  dbuf b = {(bytes + SLACK + 63) / 64 * 64, NULL, pinned, -1, -1, 0};
  if (cnst && !(b.own = aligned_alloc(64, b.bytes))) return FK_ENOMEM;
  d->bufs[d->nbufs] = b;
  *id = d->nbufs++;
  return FK_OK;
}

static void *buf_ptr(const dnn *d, int id) {
  return d->bufs[id].own ? d->bufs[id].own : d->arena + d->bufs[id].off;
}

/* A memory object for md over buffer buf (its handle set once the arena
 * exists), or over graph data when buf < 0; freed with d. */
static int new_mem(dnn *d, const dnnl_memory_desc_t *md, int buf, const float *data, dnnl_memory_t *out) {
  TRY(grow((void **)&d->mems, d->nmems, &d->cap_mems, sizeof *d->mems));
  void *h = buf < 0 ? (void *)data : d->bufs[buf].own ? d->bufs[buf].own : DNNL_MEMORY_NONE;
  DNNL(dnnl_memory_create(out, md, d->eng, h));
  d->mems[d->nmems++] = (dmem){*out, buf};
  return FK_OK;
}

/* Step `step` reads or writes buffer buf: it lives at least that long. */
static void touch(dnn *d, int buf, int step) {
  if (buf < 0) return;
  dbuf *b = &d->bufs[buf];
  if (b->first < 0 || step < b->first) b->first = step;
  if (step > b->last) b->last = step;
}

static int buf_of(const dnn *d, dnnl_memory_t m) {
  for (int i = d->nmems - 1; i >= 0; i--)
    if (d->mems[i].m == m) return d->mems[i].buf;
  return -1;
}

static void dims_of(nn_shape s, dnnl_dims_t dims) {
  dims[0] = 1;
  dims[1] = s.c;
  dims[2] = s.h;
  dims[3] = s.w;
}

static int md_tag_dt(dnnl_memory_desc_t *md, nn_shape s, dnnl_format_tag_t tag, dnnl_data_type_t dt) {
  dnnl_dims_t dims;
  dims_of(s, dims);
  return status(dnnl_memory_desc_init_by_tag(md, 4, dims, dt, tag));
}

static int md_tag(dnnl_memory_desc_t *md, nn_shape s, dnnl_format_tag_t tag) {
  return md_tag_dt(md, s, tag, dnnl_f32);
}

/* Which of the layouts this backend knows md is (in md's own number type),
 * or dnnl_format_tag_undef. */
static dnnl_format_tag_t tag_of(const dnnl_memory_desc_t *md, nn_shape s) {
  static const dnnl_format_tag_t tags[] = {dnnl_nhwc, dnnl_nChw8c, dnnl_nChw16c, dnnl_nchw,
                                           dnnl_nChw4c};
  for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
    dnnl_memory_desc_t m;
    if (md_tag_dt(&m, s, tags[i], md->data_type) == FK_OK && dnnl_memory_desc_equal(&m, md)) return tags[i];
  }
  return dnnl_format_tag_undef;
}

static int block_of(dnnl_format_tag_t tag) {
  return tag == dnnl_nChw16c ? 16 : tag == dnnl_nChw8c ? 8 : tag == dnnl_nChw4c ? 4 : 1;
}

/* Gives tensor t its native version: md over buffer buf (a new buffer when
 * buf < 0), and returns it. */
static int set_native(dnn *d, int t, const dnnl_memory_desc_t *md, int buf, int pinned,
                      dver **out) {
  dtensor *T = &d->t[t];
  if (buf < 0) TRY(new_buf(d, dnnl_memory_desc_get_size(md), pinned, 0, &buf));
  T->v[0].md = *md;
  T->v[0].buf = buf;
  TRY(new_mem(d, md, buf, NULL, &T->v[0].mem));
  T->nv = 1;
  *out = &T->v[0];
  return FK_OK;
}

/* ---- steps ------------------------------------------------------------------ */

static dnnl_primitive_attr_t new_attr(void) {
  dnnl_primitive_attr_t a = NULL;
  if (dnnl_primitive_attr_create(&a) != dnnl_success) return NULL;
  if (dnnl_primitive_attr_set_scratchpad_mode(a, dnnl_scratchpad_mode_user) != dnnl_success) {
    dnnl_primitive_attr_destroy(a);
    return NULL;
  }
  return a;
}

/* Appends a step running the primitive of pd with args; takes pd. */
static int add_prim(dnn *d, dnnl_primitive_desc_t pd, const dnnl_exec_arg_t *args, int nargs) {
  int rc = grow((void **)&d->steps, d->nsteps, &d->cap_steps, sizeof *d->steps);
  dstep *st = &d->steps[d->nsteps];
  memset(st, 0, sizeof *st);
  st->opi = d->cur_op;
  if (rc == FK_OK) rc = status(dnnl_primitive_create(&st->prim, pd));
  if (rc == FK_OK) {
    const dnnl_memory_desc_t *sm = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (sm && dnnl_memory_desc_get_size(sm) > 0) {
      st->scratch = *sm;
      st->has_scratch = 1;
    }
    memcpy(st->args, args, (size_t)nargs * sizeof *args);
    st->nargs = nargs;
    for (int k = 0; k < nargs; k++) touch(d, buf_of(d, args[k].memory), d->nsteps);
    d->nsteps++;
  }
  dnnl_primitive_desc_destroy(pd);
  return rc;
}

/* Creates a primitive descriptor for op_desc with attr (NULL: a plain one
 * in user scratchpad mode). */
static int make_pd(dnn *d, const void *op_desc, dnnl_primitive_attr_t attr,
                   dnnl_primitive_desc_t *pd) {
  dnnl_primitive_attr_t own = attr ? NULL : new_attr();
  if (!attr && !own) return FK_ENOMEM;
  int rc = status(dnnl_primitive_desc_create(pd, op_desc, attr ? attr : own, d->eng, NULL));
  if (own) dnnl_primitive_attr_destroy(own);
  return rc;
}

static int reorder_pd(dnn *d, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                      dnnl_primitive_desc_t *pd) {
  dnnl_primitive_attr_t a = new_attr();
  if (!a) return FK_ENOMEM;
  int rc = status(dnnl_reorder_primitive_desc_create(pd, from, d->eng, to, d->eng, a));
  dnnl_primitive_attr_destroy(a);
  return rc;
}

/* Copies constant data (layout from) into a new buffer of layout to, once,
 * at creation (packed weights, constants in an activation's layout). */
static int reorder_once(dnn *d, const dnnl_memory_desc_t *from, const float *data,
                        const dnnl_memory_desc_t *to, dnnl_memory_t *out) {
  dnnl_memory_t src;
  int buf;
  TRY(new_mem(d, from, -1, data, &src));
  TRY(new_buf(d, dnnl_memory_desc_get_size(to), 0, 1, &buf));
  TRY(new_mem(d, to, buf, NULL, out));
  dnnl_primitive_desc_t pd; /* library scratchpad: it runs only here */
  DNNL(dnnl_reorder_primitive_desc_create(&pd, from, d->eng, to, d->eng, NULL));
  dnnl_primitive_t r;
  int rc = status(dnnl_primitive_create(&r, pd));
  dnnl_primitive_desc_destroy(pd);
  TRY(rc);
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, *out}};
  rc = status(dnnl_primitive_execute(r, d->stream, 2, args));
  if (rc == FK_OK) rc = status(dnnl_stream_wait(d->stream));
  dnnl_primitive_destroy(r);
  return rc;
}

/* Appends a step copying memory from into memory to (their layouts). */
static int add_reorder(dnn *d, dnnl_memory_t from, const dnnl_memory_desc_t *from_md,
                       dnnl_memory_t to, const dnnl_memory_desc_t *to_md) {
  dnnl_primitive_desc_t pd;
  TRY(reorder_pd(d, from_md, to_md, &pd));
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  return add_prim(d, pd, args, 2);
}

/* Appends the reorder step filling the window of buffer buf (layout
 * whole) at offset off with tensor t's native version. */
static int fill_window(dnn *d, int t, const dnnl_memory_desc_t *whole, int buf, const dnnl_dims_t off) {
  const dver *src = &d->t[t].v[0];
  dnnl_memory_desc_t sub;
  dnnl_dims_t dims;
  dnnl_memory_t view;
  dims_of(d->g->shapes[t], dims);
  DNNL(dnnl_memory_desc_init_submemory(&sub, whole, dims, off));
  TRY(new_mem(d, &sub, buf, NULL, &view));
  return add_reorder(d, src->mem, &src->md, view, &sub);
}

/* Tensor t in layout md: its version in that layout, made (by a reorder
 * step from the native version) if it has none. */
static int version(dnn *d, int t, const dnnl_memory_desc_t *md, dver **out) {
  dtensor *T = &d->t[t];
  for (int i = 0; i < T->nv; i++)
    if (dnnl_memory_desc_equal(&T->v[i].md, md)) {
      *out = &T->v[i];
      return FK_OK;
    }
  if (T->nv == MAX_VERSIONS || T->nv == 0) return FK_EBACKEND;
  dver *v = &T->v[T->nv];
  TRY(new_buf(d, dnnl_memory_desc_get_size(md), 0, 0, &v->buf));
  v->md = *md;
  TRY(new_mem(d, md, v->buf, NULL, &v->mem));
  TRY(add_reorder(d, T->v[0].mem, &T->v[0].md, v->mem, md));
  T->nv++;
  *out = v;
  return FK_OK;
}

/* Tensor t as NHWC. */
static int plain(dnn *d, int t, dver **out) {
  dnnl_memory_desc_t md;
  TRY(md_tag(&md, d->g->shapes[t], dnnl_nhwc));
  return version(d, t, &md, out);
}

/* An output md "like src" for a tensor of shape s: src's layout if this
 * backend knows it, else NHWC; src's number type. */
static int md_like(const dnnl_memory_desc_t *src, nn_shape src_shape, nn_shape s,
                   dnnl_memory_desc_t *md) {
  dnnl_format_tag_t tag = tag_of(src, src_shape);
  return md_tag_dt(md, s, tag == dnnl_format_tag_undef ? dnnl_nhwc : tag, src->data_type);
}

/* Appends the step of a primitive whose only output is tensor `out`, made
 * from op_desc (dst md queried from the pd), with the inputs in args. */
static int add_simple(dnn *d, const void *op_desc, dnnl_primitive_attr_t attr,
                      dnnl_exec_arg_t *args, int nargs, int out) {
  dnnl_primitive_desc_t pd;
  TRY(make_pd(d, op_desc, attr, &pd));
  const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  dver *v;
  int rc = set_native(d, out, dst, -1, 0, &v);
  if (rc != FK_OK) {
    dnnl_primitive_desc_destroy(pd);
    return rc;
  }
  args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DST, v->mem};
  return add_prim(d, pd, args, nargs);
}

/* ---- post-ops --------------------------------------------------------------- */

/* The eltwise post-op (or primitive) an op is, if it is one. */
static int eltwise_of(const nn_op *op, dnnl_alg_kind_t *alg, float *alpha, float *beta) {
  *alpha = 0;
  *beta = 0;
  switch (op->kind) {
    case NN_OP_LEAKY_RELU:
      *alg = dnnl_eltwise_relu;
      *alpha = op->alpha;
      return 1;
    case NN_OP_CLAMP:
      *alg = dnnl_eltwise_clip_v2;
      *alpha = op->lo;
      *beta = op->hi;
      return 1;
    case NN_OP_UNARY:
      switch (op->sub) {
        case NN_UN_ABS: *alg = dnnl_eltwise_abs; return 1;
        case NN_UN_SQUARE: *alg = dnnl_eltwise_square; return 1;
        case NN_UN_SIGMOID: *alg = dnnl_eltwise_logistic; return 1;
        case NN_UN_TANH: *alg = dnnl_eltwise_tanh; return 1;
        case NN_UN_RSQRT:
          *alg = dnnl_eltwise_pow;
          *alpha = 1;
          *beta = -0.5f;
          return 1;
        default: return 0;
      }
    default: return 0;
  }
}

/* Appends a fused activation to po. */
static int append_act(dnnl_post_ops_t po, nn_act act) {
  if (act == NN_ACT_RELU) return status(dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_relu, 0, 0));
  if (act == NN_ACT_RELU6) return status(dnnl_post_ops_append_eltwise(po, 1, dnnl_eltwise_clip_v2, 0, 6));
  return FK_OK;
}

static int is_add(const nn_op *op) {
  return op->kind == NN_OP_ADD || (op->kind == NN_OP_BINARY && op->sub == NN_BIN_ADD && op->in[1] >= 0);
}

/* An attr with op's own activation and the first `n` ops of chain c (NULL:
 * none) as post-ops; binary post-ops read a tensor in layout dst (the op's
 * output layout). Records the binary post-ops in c. NULL on failure. */
static dnnl_primitive_attr_t chain_attr(const nn_graph *g, const nn_op *op, dchain *c, int n,
                                        const dnnl_memory_desc_t *dst) {
  dnnl_primitive_attr_t a = new_attr();
  dnnl_post_ops_t po = NULL;
  int rc = a && dnnl_post_ops_create(&po) == dnnl_success ? FK_OK : FK_ENOMEM;
  if (rc == FK_OK) rc = append_act(po, op->act);
  int sum_done = 0;
  if (c) c->nbin = 0;
  for (int i = 0; rc == FK_OK && c && i < n; i++) {
    const nn_op *k = &g->ops[c->ops[i]];
    dnnl_alg_kind_t alg;
    float al, be;
    if (is_add(k)) {
      int t = k->in[0] == (i ? g->ops[c->ops[i - 1]].out : op->out) ? k->in[1] : k->in[0];
      if (c->sum_b == t && !sum_done) {
        sum_done = 1;
        rc = status(dnnl_post_ops_append_sum(po, 1.0f));
      } else {
        c->bin_po[c->nbin] = dnnl_post_ops_len(po);
        c->bin_t[c->nbin++] = t;
        rc = status(dnnl_post_ops_append_binary(po, dnnl_binary_add, dst));
      }
      if (rc == FK_OK) rc = append_act(po, k->act);
    } else if (eltwise_of(k, &alg, &al, &be)) {
      rc = status(dnnl_post_ops_append_eltwise(po, 1, alg, al, be));
    }
  }
  if (rc == FK_OK) rc = status(dnnl_primitive_attr_set_post_ops(a, po));
  if (po) dnnl_post_ops_destroy(po);
  if (rc != FK_OK && a) {
    dnnl_primitive_attr_destroy(a);
    a = NULL;
  }
  return a;
}

/* ---- planning: what each conv absorbs --------------------------------------- */

/* One axis of conv_window: the first and count of the kernel taps k
 * (dilation d, stride s, padding p0 before) that meet an input of n for an
 * output of o, and the paddings that keep o. */
static void window_axis(int n, int o, int k, int s, int d, int p0, int *first, int *len, int *pb,
                        int *pa) {
  int lo = 0, hi = k - 1;
  while (lo < k && (o - 1) * s - p0 + lo * d < 0) lo++; /* only ever above the input */
  while (hi > lo && -p0 + hi * d >= n) hi--;            /* only ever below it */
  *first = lo;
  *len = hi - lo + 1;
  *pb = p0 - lo * d;
  *pa = (o - 1) * s + (*len - 1) * d + 1 - n - *pb;
}

static void conv_window(const nn_graph *g, const nn_op *op, dwin *w) {
  nn_shape in = g->shapes[op->in[0]], out = g->shapes[op->out];
  int d = op->dilation > 1 ? op->dilation : 1;
  window_axis(in.h, out.h, op->kh, op->stride, d, op->pad[0], &w->ky0, &w->kh, &w->pad[0], &w->pad[1]);
  window_axis(in.w, out.w, op->kw, op->stride, d, op->pad[2], &w->kx0, &w->kw, &w->pad[2], &w->pad[3]);
  if (w->pad[0] < 0 || w->pad[1] < 0 || w->pad[2] < 0 || w->pad[3] < 0) /* keep the whole kernel */
    *w = (dwin){0, 0, op->kh, op->kw, {op->pad[0], op->pad[1], op->pad[2], op->pad[3]}};
}

/* The conv over window w, with src and dst in the layouts given (NULL:
 * any, in number types dt and odt; the weights are dt, the bias f32). */
static int conv_desc(const nn_graph *g, const nn_op *op, const dwin *w, const dnnl_memory_desc_t *src_md,
                     const dnnl_memory_desc_t *dst_md, dnnl_data_type_t dt, dnnl_data_type_t odt,
                     dnnl_convolution_desc_t *cd) {
  nn_shape in = g->shapes[op->in[0]], out = g->shapes[op->out];
  int dw = op->kind == NN_OP_DEPTHWISE;
  dnnl_dims_t sd, dd, wd = {0}, bd = {out.c};
  dims_of(in, sd);
  dims_of(out, dd);
  dnnl_memory_desc_t src, wt, bias, dst;
  int nw = 4;
  if (dw) {
    nw = 5;
    wd[0] = in.c, wd[1] = 1, wd[2] = 1, wd[3] = w->kh, wd[4] = w->kw;
  } else {
    wd[0] = out.c, wd[1] = in.c, wd[2] = w->kh, wd[3] = w->kw;
  }
  if (src_md) src = *src_md;
  else DNNL(dnnl_memory_desc_init_by_tag(&src, 4, sd, dt, dnnl_format_tag_any));
  if (dst_md) dst = *dst_md;
  else DNNL(dnnl_memory_desc_init_by_tag(&dst, 4, dd, odt, dnnl_format_tag_any));
  DNNL(dnnl_memory_desc_init_by_tag(&wt, nw, wd, dt, dnnl_format_tag_any));
  DNNL(dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_a));
  int dl = op->dilation > 1 ? op->dilation - 1 : 0;
  dnnl_dims_t strides = {op->stride, op->stride}, dil = {dl, dl};
  dnnl_dims_t pl = {w->pad[0], w->pad[2]}, pr = {w->pad[1], w->pad[3]};
  return status(dnnl_dilated_convolution_forward_desc_init(
      cd, dnnl_forward_inference, dnnl_convolution_direct, &src, &wt, op->bias ? &bias : NULL,
      &dst, strides, dil, pl, pr));
}

static const char *impl_of(const_dnnl_primitive_desc_t pd) {
  const char *s = NULL;
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
  return s ? s : "";
}

/* The ops op i could absorb: while its value has one reader that is an
 * eltwise op or an ADD of another tensor of the same shape, and is no
 * output. With sum, the first such ADD becomes the sum. */
static void chain_candidates(dnn *d, int i, int sum, dchain *c) {
  const nn_graph *g = d->g;
  int t = g->ops[i].out;
  c->n = 0;
  c->sum_b = -1;
  while (c->n < MAX_CHAIN && d->uses[t] == 1) {
    int k = d->reader[t];
    if (k < 0 || d->emit_at[k] != k) break; /* an output, or absorbed elsewhere */
    const nn_op *op = &g->ops[k];
    dnnl_alg_kind_t alg;
    float al, be;
    if (is_add(op)) {
      int b = op->in[0] == t ? op->in[1] : op->in[0];
      nn_shape sb = g->shapes[b], st = g->shapes[t];
      if (b == t || sb.h != st.h || sb.w != st.w || sb.c != st.c) break;
      if (sum && c->sum_b < 0) c->sum_b = b;
    } else if (op->in[0] != t || !eltwise_of(op, &alg, &al, &be)) {
      break;
    }
    c->ops[c->n++] = k;
    t = op->out;
  }
}

/* The longest prefix of chain c whose post-ops keep bare's implementation:
 * its pd into c->pd (bare itself, and an empty chain, if none), the
 * absorbed ops marked, op i moved to where the last of them was. */
static int fuse_chain(dnn *d, int i, dchain *c, const void *desc, dnnl_primitive_desc_t bare) {
  const nn_graph *g = d->g;
  const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(bare, dnnl_query_dst_md, 0);
  for (; c->n > 0; c->n--) {
    dnnl_primitive_attr_t a = chain_attr(g, &g->ops[i], c, c->n, dst);
    if (!a) break;
    dnnl_primitive_desc_t pd;
    int rc = make_pd(d, desc, a, &pd);
    dnnl_primitive_attr_destroy(a);
    if (rc != FK_OK) continue;
    if (!strcmp(impl_of(pd), impl_of(bare))) {
      c->pd = pd;
      break;
    }
    dnnl_primitive_desc_destroy(pd);
  }
  if (c->n == 0) {
    c->pd = bare;
    c->sum_b = -1;
    c->nbin = 0;
    return FK_OK;
  }
  dnnl_primitive_desc_destroy(bare);
  int has_sum = 0;
  for (int k = 0; k < c->n; k++) {
    d->emit_at[c->ops[k]] = -1;
    has_sum |= is_add(&g->ops[c->ops[k]]) && c->sum_b >= 0;
  }
  if (!has_sum) c->sum_b = -1;
  d->emit_at[i] = -1;
  d->emit_at[c->ops[c->n - 1]] = i; /* runs where its last absorbed op was */
  return FK_OK;
}

/* The number type of conv op's output: f32 when it, or the end of the
 * chain it may absorb, is an output of the graph (a bf16 result would lose
 * precision the graph's caller keeps), else the backend's. */
static dnnl_data_type_t out_dt(const dnn *d, const nn_op *op, const dchain *c) {
  int last = c->n ? d->g->ops[c->ops[c->n - 1]].out : op->out;
  for (int o = 0; o < d->g->noutputs; o++)
    if (d->g->outputs[o] == last || d->g->outputs[o] == op->out) return dnnl_f32;
  return d->dt;
}

/* The bare conv's pd over c->win into *pd and its descriptor into *cd:
 * with the input in the layout it already has when oneDNN takes it with the
 * same implementation and output layout as it picks for a layout of its
 * choice (this spares a reorder, e.g. of the NHWC graph input), else the
 * latter. */
static int bare_conv(dnn *d, const nn_op *op, dchain *c, dnnl_convolution_desc_t *cd,
                     dnnl_primitive_desc_t *pd) {
  dnnl_primitive_attr_t a = chain_attr(d->g, op, NULL, 0, NULL);
  if (!a) return FK_ENOMEM;
  int rc = conv_desc(d->g, op, &c->win, NULL, NULL, d->dt, out_dt(d, op, c), cd);
  if (rc == FK_OK) rc = make_pd(d, cd, a, pd);
  dnnl_convolution_desc_t nd;
  dnnl_primitive_desc_t npd;
  const dver *v = &d->t[op->in[0]].v[0];
  const dnnl_memory_desc_t *da = rc == FK_OK ? dnnl_primitive_desc_query_md(*pd, dnnl_query_dst_md, 0) : NULL;
  if (rc == FK_OK && conv_desc(d->g, op, &c->win, &v->md, da, d->dt, da->data_type, &nd) == FK_OK &&
      make_pd(d, &nd, a, &npd) == FK_OK) {
    if (!strcmp(impl_of(npd), impl_of(*pd))) {
      dnnl_primitive_desc_destroy(*pd);
      *pd = npd;
      *cd = nd;
    } else {
      dnnl_primitive_desc_destroy(npd);
    }
  }
  dnnl_primitive_attr_destroy(a);
  return rc;
}

/* A GEMM (im2col) or reference implementation, as against a direct one
 * (jit:..., and brg:... on AVX-512). */
static int is_fallback(const_dnnl_primitive_desc_t pd) {
  const char *s = impl_of(pd);
  return strstr(s, "gemm") || !strncmp(s, "ref", 3);
}

/* When oneDNN takes conv op i on a GEMM or reference kernel only, the same
 * conv over a zero-bordered copy of its input with no padding of its own,
 * if that gets a direct kernel: oneDNN 2.6's AVX2 direct conv
 * refuses a padding wider than its register block, e.g. rfb320's 3x3
 * dilation 5 conv (padding 5): gemm:jit ran it in 0.20 ms, plus two
 * reorders between NCHW and blocked, jit:avx2 padded in 0.09 ms. The copy
 * costs a reorder of the input, which also brings it into the layout the
 * conv wants. */
static int try_prepad(dnn *d, int i, dnnl_convolution_desc_t *cd, dnnl_primitive_desc_t *bare) {
  dchain *c = &d->chain[i];
  const nn_op *op = &d->g->ops[i];
  dwin w = c->win;
  if (!is_fallback(*bare) || !(w.pad[0] | w.pad[1] | w.pad[2] | w.pad[3])) return FK_OK;
  nn_shape in = d->g->shapes[op->in[0]];
  dnnl_memory_desc_t src; /* the copy's layout: oneDNN's choice */
  TRY(md_tag_dt(&src, (nn_shape){in.h + w.pad[0] + w.pad[1], in.w + w.pad[2] + w.pad[3], in.c},
                dnnl_format_tag_any, d->dt));
  w.pad[0] = w.pad[1] = w.pad[2] = w.pad[3] = 0;
  dnnl_convolution_desc_t pcd;
  dnnl_primitive_desc_t pd;
  dnnl_primitive_attr_t a = chain_attr(d->g, op, NULL, 0, NULL);
  if (!a) return FK_ENOMEM;
  int rc = conv_desc(d->g, op, &w, &src, NULL, d->dt, out_dt(d, op, c), &pcd);
  if (rc == FK_OK) rc = make_pd(d, &pcd, a, &pd);
  dnnl_primitive_attr_destroy(a);
  if (rc == FK_ENOMEM) return rc;
  if (rc != FK_OK) return FK_OK;
  if (is_fallback(pd)) {
    dnnl_primitive_desc_destroy(pd);
    return FK_OK;
  }
  dnnl_primitive_desc_destroy(*bare);
  *bare = pd;
  *cd = pcd;
  c->prepad = 1;
  return FK_OK;
}

/* Plans conv op i: its pd with the longest chain it can absorb. */
static int plan_conv(dnn *d, int i) {
  dchain *c = &d->chain[i];
  dnnl_convolution_desc_t cd;
  conv_window(d->g, &d->g->ops[i], &c->win);
  chain_candidates(d, i, 1, c);
  dnnl_primitive_desc_t bare;
  int rc = bare_conv(d, &d->g->ops[i], c, &cd, &bare);
  if (rc == FK_EUNSUPPORTED) { /* runs on the reference kernel */
    c->n = 0;
    c->sum_b = -1;
    return FK_OK;
  }
  TRY(rc);
  if ((rc = try_prepad(d, i, &cd, &bare))) {
    dnnl_primitive_desc_destroy(bare);
    return rc;
  }
  return fuse_chain(d, i, c, &cd, bare);
}

/* The binary desc of ADD op i over tensors of one shape: the first operand
 * as it is, the second in the same layout. */
static int add_desc(dnn *d, const nn_op *op, dnnl_binary_desc_t *bd) {
  const dnnl_memory_desc_t *x = &d->t[op->in[0]].v[0].md;
  return status(dnnl_binary_desc_init(bd, dnnl_binary_add, x, x, x));
}

/* Plans an ADD of two tensors of one shape that has something to absorb
 * (further ADDs, activations): its pd with the longest chain. */
static int plan_add(dnn *d, int i) {
  const nn_graph *g = d->g;
  const nn_op *op = &g->ops[i];
  dchain *c = &d->chain[i];
  nn_shape sa = g->shapes[op->in[0]], sb = g->shapes[op->in[1]];
  if (sa.h != sb.h || sa.w != sb.w || sa.c != sb.c) return FK_OK;
  chain_candidates(d, i, 0, c);
  if (!c->n) return FK_OK;
  dnnl_binary_desc_t bd;
  dnnl_primitive_desc_t bare;
  dnnl_primitive_attr_t a = chain_attr(g, op, NULL, 0, NULL);
  if (!a) return FK_ENOMEM;
  int rc = add_desc(d, op, &bd);
  if (rc == FK_OK) rc = make_pd(d, &bd, a, &bare);
  dnnl_primitive_attr_destroy(a);
  if (rc != FK_OK) { /* emit_binary decides alone */
    c->n = 0;
    return rc == FK_ENOMEM ? rc : FK_OK;
  }
  TRY(fuse_chain(d, i, c, &bd, bare));
  if (!c->n) { /* nothing fused: emit_binary makes its own */
    dnnl_primitive_desc_destroy(c->pd);
    c->pd = NULL;
  }
  return FK_OK;
}

static int plan(dnn *d) {
  const nn_graph *g = d->g;
  for (int i = 0; i < g->nops; i++) {
    d->emit_at[i] = i;
    for (int k = 0; k < 2; k++) {
      int t = g->ops[i].in[k];
      if (t < 0) continue;
      d->uses[t]++;
      d->reader[t] = i;
    }
  }
  for (int o = 0; o < g->noutputs; o++) { /* an output is a use no op fuses */
    d->uses[g->outputs[o]]++;
    d->reader[g->outputs[o]] = -1;
  }
  return FK_OK;
}

/* ---- ops ----------------------------------------------------------------------- */

static int lives_in(const dnn *d, int t, int buf) {
  for (int v = 0; v < d->t[t].nv; v++)
    if (d->t[t].v[v].buf == buf) return 1;
  return 0;
}

/* Whether chain c's sum may write into buffer buf now: no graph input or
 * output lives in it, nor a tensor a binary post-op of c reads, and every
 * op outside c that reads a value living in it already has its step. */
static int overwritable(const dnn *d, int buf, const dchain *c) {
  const nn_graph *g = d->g;
  if (d->bufs[buf].pinned) return 0;
  for (int k = 0; k < c->nbin; k++)
    if (lives_in(d, c->bin_t[k], buf)) return 0;
  for (int t = 0; t < g->ntensors; t++) {
    if (!lives_in(d, t, buf)) continue;
    for (int o = 0; o < g->noutputs; o++)
      if (g->outputs[o] == t) return 0;
    for (int i = 0; i < g->nops; i++) {
      const nn_op *op = &g->ops[i];
      int in_chain = 0;
      for (int k = 0; k < c->n; k++) in_chain |= c->ops[k] == i;
      if (!in_chain && !d->done[i] && (op->in[0] == t || op->in[1] == t)) return 0;
    }
  }
  return 1;
}

/* User memory over constant graph data (oneDNN only reads it). */
static int const_mem(dnn *d, const dnnl_memory_desc_t *md, const float *data, dnnl_memory_t *m) {
  return new_mem(d, md, -1, data, m);
}

/* The weights of a conv (window w) or FC (w NULL) packed into the layout
 * pd wants, once, now. The window is a strided view of the stored kernel. */
static int pack_weights(dnn *d, const nn_op *op, const dwin *w, const_dnnl_primitive_desc_t pd,
                        dnnl_memory_t *out) {
  const nn_graph *g = d->g;
  nn_shape in = g->shapes[op->in[0]], os = g->shapes[op->out];
  dnnl_memory_desc_t user;
  const float *data = op->weights;
  if (op->kind == NN_OP_FC) { /* [cout][h][w][c] as (o, c, h, w) */
    dnnl_dims_t wd = {os.c, in.c, in.h, in.w};
    DNNL(dnnl_memory_desc_init_by_tag(&user, 4, wd, dnnl_f32, dnnl_ohwi));
  } else if (op->kind == NN_OP_DEPTHWISE) { /* [kh][kw][c] as (g, 1, 1, kh, kw) */
    dnnl_dims_t wd = {in.c, 1, 1, w->kh, w->kw};
    dnnl_dims_t ws = {1, 1, 1, (dnnl_dim_t)op->kw * in.c, in.c};
    DNNL(dnnl_memory_desc_init_by_strides(&user, 5, wd, dnnl_f32, ws));
    data += ((size_t)w->ky0 * op->kw + w->kx0) * in.c;
  } else { /* OHWI [cout][kh][kw][cin] */
    dnnl_dims_t wd = {os.c, in.c, w->kh, w->kw};
    dnnl_dims_t ws = {(dnnl_dim_t)op->kh * op->kw * in.c, 1, (dnnl_dim_t)op->kw * in.c, in.c};
    DNNL(dnnl_memory_desc_init_by_strides(&user, 4, wd, dnnl_f32, ws));
    data += ((size_t)w->ky0 * op->kw + w->kx0) * in.c;
  }
  const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  return reorder_once(d, &user, data, want, out);
}

/* The execution arguments of chain c's binary post-ops: each added tensor
 * in layout md. */
static int bin_args(dnn *d, const dchain *c, const dnnl_memory_desc_t *md, dnnl_exec_arg_t *args, int *nargs) {
  for (int k = 0; k < c->nbin; k++) {
    dver *v;
    TRY(version(d, c->bin_t[k], md, &v));
    args[(*nargs)++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(c->bin_po[k]) | DNNL_ARG_SRC_1, v->mem};
  }
  return FK_OK;
}

static int emit_conv(dnn *d, int i) {
  const nn_graph *g = d->g;
  const nn_op *op = &g->ops[i];
  dchain *c = &d->chain[i];
  dnnl_primitive_desc_t pd = c->pd;
  if (!pd) return FK_EUNSUPPORTED;
  c->pd = NULL;
  int rc, nargs = 0, last = c->n ? g->ops[c->ops[c->n - 1]].out : op->out;
  dnnl_exec_arg_t args[MAX_ARGS];
  const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *dmd = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  dver *src = NULL, *dst;
  dnnl_memory_t w, bias = NULL, sm;
  if (c->prepad) { /* a pinned buffer: its zero border is written once */
    int buf;
    dnnl_dims_t off = {0, 0, c->win.pad[0], c->win.pad[2]};
    if ((rc = new_buf(d, dnnl_memory_desc_get_size(smd), 1, 0, &buf)) ||
        (rc = new_mem(d, smd, buf, NULL, &sm)) || (rc = fill_window(d, op->in[0], smd, buf, off)))
      goto fail;
  } else if ((rc = version(d, op->in[0], smd, &src))) {
    goto fail;
  } else {
    sm = src->mem;
  }
  if ((rc = pack_weights(d, op, &c->win, pd, &w))) goto fail;
  if (op->bias) {
    const dnnl_memory_desc_t *bmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 1);
    if ((rc = const_mem(d, bmd, op->bias, &bias))) goto fail;
  }
  if (c->sum_b >= 0) {
    /* The destination must hold b: b's own buffer if nothing reads it
     * later, else a copy. */
    dver *b0 = &d->t[c->sum_b].v[0];
    if (dnnl_memory_desc_equal(&b0->md, dmd) && overwritable(d, b0->buf, c)) {
      rc = set_native(d, last, dmd, b0->buf, 0, &dst);
    } else if (!(rc = set_native(d, last, dmd, -1, 0, &dst))) {
      rc = add_reorder(d, b0->mem, &b0->md, dst->mem, dmd);
    }
    if (rc) goto fail;
  } else if ((rc = set_native(d, last, dmd, -1, 0, &dst))) {
    goto fail;
  }
  args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SRC, sm};
  args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, w};
  if (bias) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, bias};
  args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_DST, dst->mem};
  if ((rc = bin_args(d, c, dmd, args, &nargs))) goto fail;
  for (int k = 0; k < c->n; k++) d->done[c->ops[k]] = 1;
  return add_prim(d, pd, args, nargs);
fail:
  dnnl_primitive_desc_destroy(pd);
  return rc;
}

/* Max pooling on XNNPACK's kernel, in the input's layout when that is NHWC
 * or blocked by channels (see nn_xnn_maxpool_new). */
static int emit_xnn_maxpool(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  nn_shape in = d->g->shapes[op->in[0]];
  dver *src = &d->t[op->in[0]].v[0], *v;
  dnnl_format_tag_t tag = tag_of(&src->md, in);
  if (src->md.data_type != dnnl_f32 || (tag != dnnl_nhwc && block_of(tag) == 1)) return FK_EUNSUPPORTED;
  size_t ch = tag == dnnl_nhwc ? (size_t)in.c : (size_t)block_of(tag);
  nn_xnn_maxpool *p;
  TRY(nn_xnn_maxpool_new(d->g, op, ((size_t)in.c + ch - 1) / ch, ch, &p));
  dnnl_memory_desc_t md;
  int rc = grow((void **)&d->steps, d->nsteps, &d->cap_steps, sizeof *d->steps);
  if (rc == FK_OK) rc = md_tag(&md, d->g->shapes[op->out], tag);
  if (rc == FK_OK) rc = set_native(d, op->out, &md, -1, 0, &v);
  if (rc != FK_OK) {
    nn_xnn_maxpool_free(p);
    return rc;
  }
  dstep *st = &d->steps[d->nsteps++];
  memset(st, 0, sizeof *st);
  st->opi = d->cur_op;
  st->xpool = p;
  st->op = op;
  st->a = src->buf;
  st->b = -1;
  st->out = v->buf;
  touch(d, st->a, d->nsteps - 1);
  touch(d, st->out, d->nsteps - 1);
  return FK_OK;
}

static int emit_pool(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  nn_shape in = d->g->shapes[op->in[0]], out = d->g->shapes[op->out];
  dver *src = &d->t[op->in[0]].v[0];
  if (op->kind == NN_OP_MAXPOOL) {
    int rc = emit_xnn_maxpool(d, i);
    if (rc != FK_EUNSUPPORTED) return rc;
  }
  dnnl_memory_desc_t dst;
  dnnl_dims_t dd;
  dims_of(out, dd);
  DNNL(dnnl_memory_desc_init_by_tag(&dst, 4, dd, src->md.data_type, dnnl_format_tag_any));
  dnnl_dims_t st = {op->stride, op->stride}, k = {op->kh, op->kw}, dil = {0, 0};
  dnnl_dims_t pl = {op->pad[0], op->pad[2]}, pr = {op->pad[1], op->pad[3]};
  if (op->kind == NN_OP_GLOBAL_AVG) {
    st[0] = st[1] = 1;
    k[0] = in.h, k[1] = in.w;
    pl[0] = pl[1] = pr[0] = pr[1] = 0;
  }
  dnnl_alg_kind_t alg = op->kind == NN_OP_MAXPOOL ? dnnl_pooling_max : dnnl_pooling_avg_exclude_padding;
  dnnl_pooling_v2_desc_t pdsc;
  DNNL(dnnl_pooling_v2_forward_desc_init(&pdsc, dnnl_forward_inference, alg, &src->md, &dst, st, k,
                                         dil, pl, pr));
  dnnl_exec_arg_t args[MAX_ARGS] = {{DNNL_ARG_SRC, src->mem}};
  return add_simple(d, &pdsc, NULL, args, 1, op->out);
}

static int emit_reduce(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  dver *src = &d->t[op->in[0]].v[0];
  static const dnnl_alg_kind_t algs[] = {dnnl_reduction_sum, dnnl_reduction_mean, dnnl_reduction_max};
  if ((unsigned)op->sub > NN_RED_MAX) return FK_EUNSUPPORTED;
  dnnl_memory_desc_t dst;
  TRY(md_like(&src->md, d->g->shapes[op->in[0]], d->g->shapes[op->out], &dst));
  dnnl_reduction_desc_t rd;
  DNNL(dnnl_reduction_desc_init(&rd, algs[op->sub], &src->md, &dst, 0, 0));
  dnnl_exec_arg_t args[MAX_ARGS] = {{DNNL_ARG_SRC, src->mem}};
  return add_simple(d, &rd, NULL, args, 1, op->out);
}

static int emit_fc(dnn *d, int i) {
  const nn_graph *g = d->g;
  const nn_op *op = &g->ops[i];
  nn_shape in = g->shapes[op->in[0]], out = g->shapes[op->out];
  dver *src = &d->t[op->in[0]].v[0];
  dnnl_dims_t wd = {out.c, in.c, in.h, in.w}, bd = {out.c}, dd = {1, out.c};
  dnnl_memory_desc_t wt, bias, dst2, dst4;
  DNNL(dnnl_memory_desc_init_by_tag(&wt, 4, wd, src->md.data_type, dnnl_format_tag_any));
  DNNL(dnnl_memory_desc_init_by_tag(&bias, 1, bd, dnnl_f32, dnnl_a));
  DNNL(dnnl_memory_desc_init_by_tag(&dst2, 2, dd, dnnl_f32, dnnl_nc)); /* f32 out, as the graph's */
  TRY(md_tag(&dst4, out, dnnl_nhwc));
  dnnl_inner_product_desc_t ipd;
  DNNL(dnnl_inner_product_forward_desc_init(&ipd, dnnl_forward_inference, &src->md, &wt,
                                            op->bias ? &bias : NULL, &dst2));
  dnnl_primitive_attr_t a = chain_attr(g, op, NULL, 0, NULL);
  if (!a) return FK_ENOMEM;
  dnnl_primitive_desc_t pd;
  int rc = make_pd(d, &ipd, a, &pd);
  dnnl_primitive_attr_destroy(a);
  TRY(rc);
  /* The [1, cout] result is the [1][1][cout] NHWC tensor: one buffer, two
   * memory objects. */
  dnnl_memory_t w, b = NULL, m2;
  dver *v;
  if ((rc = pack_weights(d, op, NULL, pd, &w)) || (op->bias && (rc = const_mem(d, &bias, op->bias, &b))) ||
      (rc = set_native(d, op->out, &dst4, -1, 0, &v)) ||
      (rc = new_mem(d, &dst2, v->buf, NULL, &m2))) {
    dnnl_primitive_desc_destroy(pd);
    return rc;
  }
  dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, src->mem}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, m2}};
  int nargs = 3;
  if (b) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_BIAS, b};
  return add_prim(d, pd, args, nargs);
}

static int emit_eltwise(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  dnnl_alg_kind_t alg;
  float al, be;
  if (!eltwise_of(op, &alg, &al, &be)) return FK_EUNSUPPORTED;
  dver *src = &d->t[op->in[0]].v[0];
  dnnl_eltwise_desc_t ed;
  DNNL(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, alg, &src->md, al, be));
  dnnl_exec_arg_t args[MAX_ARGS] = {{DNNL_ARG_SRC, src->mem}};
  return add_simple(d, &ed, NULL, args, 1, op->out);
}

static int same_shape(nn_shape a, nn_shape b) { return a.h == b.h && a.w == b.w && a.c == b.c; }

/* An ADD planned with a chain (plan_add): its pd, the second operand and
 * every added tensor in the first one's layout. */
static int emit_planned_add(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  dchain *c = &d->chain[i];
  dnnl_primitive_desc_t pd = c->pd;
  c->pd = NULL;
  dver *a = &d->t[op->in[0]].v[0], *b, *v;
  int last = d->g->ops[c->ops[c->n - 1]].out, nargs = 3, rc;
  dnnl_exec_arg_t args[MAX_ARGS];
  if ((rc = version(d, op->in[1], &a->md, &b)) || (rc = set_native(d, last, &a->md, -1, 0, &v))) {
    dnnl_primitive_desc_destroy(pd);
    return rc;
  }
  args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC_0, a->mem};
  args[1] = (dnnl_exec_arg_t){DNNL_ARG_SRC_1, b->mem};
  args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, v->mem};
  if ((rc = bin_args(d, c, &a->md, args, &nargs))) {
    dnnl_primitive_desc_destroy(pd);
    return rc;
  }
  for (int k = 0; k < c->n; k++) d->done[c->ops[k]] = 1;
  return add_prim(d, pd, args, nargs);
}

/* ADD and BINARY. oneDNN broadcasts only its second operand, so the full
 * shape goes first (swapping commutative operands), and a constant first
 * operand needs the full shape. */
static int emit_binary(dnn *d, int i) {
  const nn_graph *g = d->g;
  const nn_op *op = &g->ops[i];
  if (d->chain[i].pd) return emit_planned_add(d, i);
  static const dnnl_alg_kind_t algs[] = {dnnl_binary_add, dnnl_binary_sub, dnnl_binary_mul,
                                         dnnl_binary_div, dnnl_binary_max, dnnl_binary_min};
  int kind = op->kind == NN_OP_ADD ? NN_BIN_ADD : op->sub;
  if ((unsigned)kind > NN_BIN_MIN) return FK_EUNSUPPORTED;
  int commutes = kind != NN_BIN_SUB && kind != NN_BIN_DIV;
  nn_shape out = g->shapes[op->out], sa = g->shapes[op->in[0]];
  dnnl_memory_desc_t kmd;
  dnnl_memory_t kmem = NULL;
  nn_shape sb = op->in[1] >= 0 ? g->shapes[op->in[1]] : op->bshape;
  if (op->in[1] < 0) {
    TRY(md_tag(&kmd, sb, dnnl_nhwc));
    TRY(const_mem(d, &kmd, op->weights, &kmem));
  }
  /* x: the operand given first to oneDNN (full shape); y: the other. */
  int a_first = !(op->in[1] < 0 && op->rev);
  if (!same_shape(a_first ? sa : sb, out)) {
    if (!commutes) return FK_EUNSUPPORTED;
    a_first = !a_first;
  }
  if (!same_shape(a_first ? sa : sb, out)) return FK_EUNSUPPORTED;
  const dnnl_memory_desc_t *xmd, *ymd;
  dnnl_memory_t xm, ym;
  dver *va = &d->t[op->in[0]].v[0];
  if (a_first) {
    xmd = &va->md, xm = va->mem;
    if (kmem && same_shape(sb, out) && !dnnl_memory_desc_equal(&kmd, xmd)) {
      TRY(reorder_once(d, &kmd, op->weights, xmd, &kmem));
      ymd = xmd, ym = kmem;
    } else if (kmem) {
      ymd = &kmd, ym = kmem;
    } else {
      /* A full-shape second operand in the first one's layout, a
       * broadcast one as NHWC. */
      dver *vb;
      if (same_shape(sb, out)) TRY(version(d, op->in[1], &va->md, &vb));
      else TRY(plain(d, op->in[1], &vb));
      ymd = &vb->md, ym = vb->mem;
    }
  } else {
    if (kmem) {
      xmd = &kmd, xm = kmem;
    } else {
      dver *vb = &d->t[op->in[1]].v[0];
      xmd = &vb->md, xm = vb->mem;
    }
    dver *pa;
    TRY(plain(d, op->in[0], &pa));
    ymd = &pa->md, ym = pa->mem;
  }
  /* b op a when the operands were swapped or the constant comes first */
  dnnl_binary_desc_t bd;
  DNNL(dnnl_binary_desc_init(&bd, algs[kind], xmd, ymd, xmd));
  dnnl_primitive_attr_t a = chain_attr(g, op, NULL, 0, NULL);
  if (!a) return FK_ENOMEM;
  dnnl_exec_arg_t args[MAX_ARGS] = {{DNNL_ARG_SRC_0, xm}, {DNNL_ARG_SRC_1, ym}};
  int rc = add_simple(d, &bd, a, args, 2, op->out);
  dnnl_primitive_attr_destroy(a);
  return rc;
}

/* PReLU with its slopes in the layout the primitive asks for: given as
 * NHWC, they send oneDNN 2.6 to its reference kernel on a blocked input
 * (ref:any, some 100 times slower than jit_uni on mbf512's 56x56x64
 * PReLUs, and 93% of that net's time). It stays a step of its own:
 * oneDNN 2.6's AVX2 convolutions take no prelu post-op (with one, they
 * fall to ref:any). */
static int emit_prelu(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  nn_shape in = d->g->shapes[op->in[0]];
  dver *src = &d->t[op->in[0]].v[0];
  dnnl_memory_desc_t wmd, any;
  TRY(md_tag(&wmd, (nn_shape){1, 1, in.c}, dnnl_nhwc));
  TRY(md_tag_dt(&any, (nn_shape){1, 1, in.c}, dnnl_format_tag_any, src->md.data_type));
  dnnl_prelu_desc_t pdsc;
  DNNL(dnnl_prelu_forward_desc_init(&pdsc, dnnl_forward_inference, &src->md, &any));
  dnnl_primitive_desc_t pd;
  TRY(make_pd(d, &pdsc, NULL, &pd));
  const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  dnnl_memory_t w;
  int rc = reorder_once(d, &wmd, op->weights, want, &w);
  if (rc == FK_OK) rc = status(dnnl_prelu_forward_desc_init(&pdsc, dnnl_forward_inference, &src->md, want));
  dnnl_primitive_desc_destroy(pd);
  TRY(rc);
  dnnl_exec_arg_t args[MAX_ARGS] = {{DNNL_ARG_SRC, src->mem}, {DNNL_ARG_WEIGHTS, w}};
  return add_simple(d, &pdsc, NULL, args, 2, op->out);
}

static int emit_softmax(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  dver *src = &d->t[op->in[0]].v[0];
  dnnl_softmax_v2_desc_t sd;
  DNNL(dnnl_softmax_v2_forward_desc_init(&sd, dnnl_forward_inference, dnnl_softmax_accurate,
                                         &src->md, &src->md, 1));
  dnnl_exec_arg_t args[MAX_ARGS] = {{DNNL_ARG_SRC, src->mem}};
  return add_simple(d, &sd, NULL, args, 1, op->out);
}

static int emit_concat(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  static const int axis[3] = {2, 3, 1}; /* h, w, c as oneDNN dims */
  if ((unsigned)op->axes > 2) return FK_EUNSUPPORTED;
  dver *a = &d->t[op->in[0]].v[0], *b;
  /* Both inputs in one layout: a's, which b takes if it is a known one. */
  dnnl_memory_desc_t bmd;
  TRY(md_like(&a->md, d->g->shapes[op->in[0]], d->g->shapes[op->in[1]], &bmd));
  TRY(version(d, op->in[1], &bmd, &b));
  dnnl_memory_desc_t srcs[2] = {a->md, b->md};
  dnnl_primitive_attr_t attr = new_attr();
  if (!attr) return FK_ENOMEM;
  dnnl_primitive_desc_t pd;
  int rc = status(dnnl_concat_primitive_desc_create(&pd, NULL, 2, axis[op->axes], srcs, attr, d->eng));
  dnnl_primitive_attr_destroy(attr);
  TRY(rc);
  dver *v;
  const dnnl_memory_desc_t *dst = dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0);
  if ((rc = set_native(d, op->out, dst, -1, 0, &v))) {
    dnnl_primitive_desc_destroy(pd);
    return rc;
  }
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_MULTIPLE_SRC, a->mem}, {DNNL_ARG_MULTIPLE_SRC + 1, b->mem},
                             {DNNL_ARG_DST, v->mem}};
  return add_prim(d, pd, args, 3);
}

/* Zero padding: the output is zeroed once and never written but for the
 * input's window, which a reorder fills into a sub-memory view. */
static int emit_pad(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  nn_shape in = d->g->shapes[op->in[0]], out = d->g->shapes[op->out];
  dver *src = &d->t[op->in[0]].v[0];
  dnnl_format_tag_t tag = tag_of(&src->md, in);
  int blk = block_of(tag);
  if (tag == dnnl_format_tag_undef || tag == dnnl_nchw || in.c % blk || op->pad_c0 % blk ||
      out.c % blk)
    tag = dnnl_nhwc;
  dnnl_memory_desc_t omd;
  TRY(md_tag_dt(&omd, out, tag, tag == dnnl_nhwc ? dnnl_f32 : src->md.data_type));
  dnnl_dims_t off = {0, op->pad_c0, op->pad[0], op->pad[2]};
  dver *v;
  TRY(set_native(d, op->out, &omd, -1, 1, &v));
  return fill_window(d, op->in[0], &omd, v->buf, off);
}

/* Same values, new shape: the NHWC version of the input, viewed anew. */
static int emit_reshape(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  dver *p, *v;
  TRY(plain(d, op->in[0], &p));
  dnnl_memory_desc_t md;
  TRY(md_tag(&md, d->g->shapes[op->out], dnnl_nhwc));
  return set_native(d, op->out, &md, p->buf, 0, &v);
}

/* Any op on its reference kernel, over NHWC versions. */
static int emit_ref(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  dver *a, *b = NULL, *o;
  dnnl_memory_desc_t md;
  TRY(plain(d, op->in[0], &a));
  if (op->in[1] >= 0) TRY(plain(d, op->in[1], &b));
  TRY(md_tag(&md, d->g->shapes[op->out], dnnl_nhwc));
  TRY(set_native(d, op->out, &md, -1, 0, &o));
  TRY(grow((void **)&d->steps, d->nsteps, &d->cap_steps, sizeof *d->steps));
  dstep *st = &d->steps[d->nsteps++];
  memset(st, 0, sizeof *st);
  st->opi = d->cur_op;
  st->op = op;
  st->a = a->buf;
  st->b = b ? b->buf : -1;
  st->out = o->buf;
  touch(d, st->a, d->nsteps - 1);
  touch(d, st->b, d->nsteps - 1);
  touch(d, st->out, d->nsteps - 1);
  return FK_OK;
}

typedef int (*emit_fn)(dnn *d, int i);

/* How each op kind runs; kinds missing here (or added to nn.h later) run
 * on the reference kernel, as does any op oneDNN rejects. SLICE has no
 * oneDNN primitive worth its reorders. */
static const emit_fn emitters[] = {
    [NN_OP_CONV] = emit_conv,       [NN_OP_DEPTHWISE] = emit_conv,
    [NN_OP_ADD] = emit_binary,      [NN_OP_MAXPOOL] = emit_pool,
    [NN_OP_AVGPOOL] = emit_pool,    [NN_OP_GLOBAL_AVG] = emit_pool,
    [NN_OP_FC] = emit_fc,           [NN_OP_LEAKY_RELU] = emit_eltwise,
    [NN_OP_PAD] = emit_pad,         [NN_OP_BINARY] = emit_binary,
    [NN_OP_UNARY] = emit_eltwise,   [NN_OP_CLAMP] = emit_eltwise,
    [NN_OP_PRELU] = emit_prelu,     [NN_OP_REDUCE] = emit_reduce,
    [NN_OP_SOFTMAX] = emit_softmax, [NN_OP_CONCAT] = emit_concat,
    [NN_OP_RESHAPE] = emit_reshape,
};

/* Emits op i's step; whatever oneDNN will not take (an unimplemented or
 * invalid case, e.g. a REDUCE over no axis) runs on the reference kernel,
 * provided the emitter gave up before producing the output and the op
 * absorbed nothing (the reference kernel would not run what it absorbed). */
static int emit(dnn *d, int i) {
  const nn_op *op = &d->g->ops[i];
  emit_fn f = (unsigned)op->kind < sizeof emitters / sizeof *emitters ? emitters[op->kind] : NULL;
  d->cur_op = i;
  int rc = f ? f(d, i) : FK_EUNSUPPORTED;
  if (rc != FK_OK && rc != FK_ENOMEM && d->t[op->out].nv == 0 && d->chain[i].n == 0) rc = emit_ref(d, i);
  d->done[i] = 1;
  return rc;
}

/* ---- threads ------------------------------------------------------------------ */

typedef struct omp_icv { int threads, levels; } omp_icv;

/* Sets the calling thread's OpenMP ICVs for a run on `threads` threads and
 * returns the previous ones. */
static omp_icv omp_enter(int threads) {
  omp_icv old = {omp_get_max_threads(), omp_get_max_active_levels()};
  omp_set_num_threads(threads);
  if (threads == 1) omp_set_max_active_levels(0);
  return old;
}

static void omp_leave(omp_icv old) {
  omp_set_num_threads(old.threads);
  omp_set_max_active_levels(old.levels);
}

/* libgomp's entry point for a parallel region: what GCC compiles `#pragma
 * omp parallel` into. It is called directly because no file here is built
 * with -fopenmp (see CMakeLists.txt: the runtime must be libgomp, whatever
 * the compiler). fn runs once on each thread of a team of num_threads. */
void GOMP_parallel(void (*fn)(void *), void *data, unsigned num_threads, unsigned flags);

static void follow_fpenv(void *caller_flushes) { fk_fpenv_set(*(const int *)caller_flushes); }

/* Brings the calling thread's OpenMP workers (the ones a region of
 * `threads` threads uses, oneDNN's primitives' among them) to its own
 * denormal mode (base/fpenv.h). A worker keeps the mode until told
 * otherwise, so this writes a worker's register only when the mode
 * changes; it is a check, in a region of its own, in every run, because
 * the workers may have been made by anyone: a region of the host's own, or
 * faiss's, on this thread, before its first run. */
static void workers_follow_fpenv(int threads) {
  int flush = fk_fpenv_flushing();
  GOMP_parallel(follow_fpenv, &flush, (unsigned)threads, 0);
}

int nn_sgemm_abt(int64_t m, int64_t n, int k, const float *a, const float *b, float *c, int threads) {
  fk_fpenv saved = fk_fpenv_set(1);
  omp_icv old = omp_enter(threads);
  workers_follow_fpenv(threads);
  dnnl_status_t st = dnnl_sgemm('N', 'T', m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
  omp_leave(old);
  fk_fpenv_restore(saved);
  return st == dnnl_success ? FK_OK : FK_EUNSUPPORTED;
}

/* ---- profile (FACEKIT_DNNL_PROFILE) ------------------------------------------ */

/* With FACEKIT_DNNL_PROFILE set in the environment when a runtime is made,
 * every run but the first (which includes oneDNN's lazy set-up, e.g. 17 ms
 * of gemm:jit's for one conv) times each step (thread CPU time on one
 * thread, wall time on more), and freeing the runtime prints one line per
 * step to stderr: its mean ms per run, the op it serves with its shapes,
 * and what runs it (the oneDNN primitive and implementation with its
 * source and destination layouts, "xnnpack maxpool" or "reference"). It
 * shows the ops that fall back to reference kernels and the reorders
 * between layouts, which oneDNN's own ONEDNN_VERBOSE does not tie to the
 * graph. E.g. FACEKIT_DNNL_PROFILE=1 bench_nets 20 -n mbf512 -b onednn -t 1. */

static const char *const op_names[] = {
    [NN_OP_CONV] = "conv",         [NN_OP_DEPTHWISE] = "depthwise", [NN_OP_ADD] = "add",
    [NN_OP_MAXPOOL] = "maxpool",   [NN_OP_AVGPOOL] = "avgpool",     [NN_OP_GLOBAL_AVG] = "global_avg",
    [NN_OP_FC] = "fc",             [NN_OP_LEAKY_RELU] = "leaky_relu", [NN_OP_PAD] = "pad",
    [NN_OP_BINARY] = "binary",     [NN_OP_UNARY] = "unary",         [NN_OP_CLAMP] = "clamp",
    [NN_OP_PRELU] = "prelu",       [NN_OP_REDUCE] = "reduce",       [NN_OP_SOFTMAX] = "softmax",
    [NN_OP_CONCAT] = "concat",     [NN_OP_SLICE] = "slice",         [NN_OP_RESHAPE] = "reshape",
    [NN_OP_TRANSPOSE] = "transpose",
};

static const char *op_name(const nn_op *op) {
  unsigned k = op->kind;
  return k < sizeof op_names / sizeof *op_names && op_names[k] ? op_names[k] : "?";
}

/* md's layout by name, if it is one this backend makes. */
static const char *layout_name(const dnnl_memory_desc_t *md) {
  static const dnnl_format_tag_t tags4[] = {dnnl_nhwc, dnnl_nChw8c, dnnl_nChw16c, dnnl_nchw,
                                            dnnl_nChw4c};
  if (!md || md->ndims == 0) return "-";
  if (md->ndims == 2) return "nc";
  for (size_t i = 0; md->ndims == 4 && i < sizeof tags4 / sizeof *tags4; i++) {
    dnnl_memory_desc_t m;
    if (dnnl_memory_desc_init_by_tag(&m, 4, md->dims, dnnl_f32, tags4[i]) == dnnl_success &&
        dnnl_memory_desc_equal(&m, md))
      return dnnl_fmt_tag2str(tags4[i]);
  }
  return "view";
}

static double step_clock_ms(int threads) { return threads > 1 ? fk_now_ms() : fk_thread_cpu_ms(); }

static void print_profile(const dnn *d) {
  double total = 0;
  for (int i = 0; i < d->nsteps; i++) total += d->steps[i].ms;
  int runs = d->nruns > 1 ? d->nruns - 1 : 1;
  fprintf(stderr, "onednn profile: %d steps, %d timed runs, %.3f ms per run\n", d->nsteps, d->nruns - 1,
          total / runs);
  for (int i = 0; i < d->nsteps; i++) {
    const dstep *st = &d->steps[i];
    const nn_op *op = st->opi >= 0 ? &d->g->ops[st->opi] : NULL;
    fprintf(stderr, "%4d %8.3f ms  op %4d %-10s ", i, st->ms / runs, st->opi, op ? op_name(op) : "output");
    if (op) {
      nn_shape a = d->g->shapes[op->in[0]], o = d->g->shapes[op->out];
      char k[32] = "";
      if (op->kind == NN_OP_CONV || op->kind == NN_OP_DEPTHWISE)
        snprintf(k, sizeof k, " %dx%d/%d d%d", op->kh, op->kw, op->stride, op->dilation > 1 ? op->dilation : 1);
      fprintf(stderr, "%dx%dx%d -> %dx%dx%d%s  ", a.h, a.w, a.c, o.h, o.w, o.c, k);
    }
    const_dnnl_primitive_desc_t pd = NULL;
    if (st->prim && dnnl_primitive_get_primitive_desc(st->prim, &pd) == dnnl_success) {
      dnnl_primitive_kind_t kind = dnnl_undefined_primitive;
      dnnl_primitive_desc_query(pd, dnnl_query_primitive_kind, 0, &kind);
      fprintf(stderr, "%s %s %s -> %s\n", dnnl_prim_kind2str(kind), impl_of(pd),
              layout_name(dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)),
              layout_name(dnnl_primitive_desc_query_md(pd, dnnl_query_dst_md, 0)));
    } else {
      fprintf(stderr, "%s\n", st->xpool ? "xnnpack maxpool" : "reference");
    }
  }
}

/* ---- the backend ------------------------------------------------------------- */

static void dnn_free(void *state) {
  dnn *d = state;
  if (!d) return;
  if (d->profile && d->nruns > 1) print_profile(d);
  for (int i = 0; i < d->nsteps; i++) {
    if (d->steps[i].prim) dnnl_primitive_destroy(d->steps[i].prim);
    nn_xnn_maxpool_free(d->steps[i].xpool);
  }
  for (int i = 0; d->chain && i < d->g->nops; i++)
    if (d->chain[i].pd) dnnl_primitive_desc_destroy(d->chain[i].pd);
  for (int i = 0; i < d->nmems; i++) dnnl_memory_destroy(d->mems[i].m);
  for (int i = 0; i < d->nbufs; i++) free(d->bufs[i].own);
  if (d->stream) dnnl_stream_destroy(d->stream);
  if (d->eng) dnnl_engine_destroy(d->eng);
  free(d->steps), free(d->bufs), free(d->mems), free(d->t), free(d->arena);
  free(d->uses), free(d->reader), free(d->done), free(d->emit_at), free(d->chain);
  free(d->out_bufs), free(d->outs), free(d->scratch);
  free(d);
}

/* One scratchpad, as large as the largest primitive's, for all of them. */
static int share_scratchpad(dnn *d) {
  size_t most = 0;
  for (int i = 0; i < d->nsteps; i++)
    if (d->steps[i].has_scratch) {
      size_t n = dnnl_memory_desc_get_size(&d->steps[i].scratch);
      most = n > most ? n : most;
    }
  if (!most) return FK_OK;
  d->scratch = aligned_alloc(64, (most + 63) / 64 * 64);
  if (!d->scratch) return FK_ENOMEM;
  for (int i = 0; i < d->nsteps; i++) {
    dstep *st = &d->steps[i];
    if (!st->has_scratch) continue;
    dnnl_memory_t m;
    TRY(new_mem(d, &st->scratch, -1, d->scratch, &m));
    st->args[st->nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, m};
  }
  return FK_OK;
}

static int by_size(const void *a, const void *b, void *arg) {
  const dbuf *bufs = arg;
  size_t x = bufs[*(const int *)a].bytes, y = bufs[*(const int *)b].bytes;
  return (x < y) - (x > y);
}

static int live_together(const dbuf *a, const dbuf *b) {
  return !(a->last < b->first || b->last < a->first);
}

/* Places every activation buffer in one arena: largest first, each at the
 * lowest offset where it overlaps no placed buffer that is alive at the
 * same time (both touched by a step between their first and last steps).
 * The graph input, PAD outputs and the outputs live throughout. Then every
 * memory object, reference step, input and output learns its address. */
static int place_buffers(dnn *d) {
  int n = d->nbufs, *order = malloc((size_t)(n ? n : 1) * sizeof *order), k = 0;
  if (!order) return FK_ENOMEM;
  for (int o = 0; o < d->g->noutputs; o++) d->bufs[d->out_bufs[o]].last = INT_MAX;
  for (int i = 0; i < n; i++) {
    dbuf *b = &d->bufs[i];
    if (b->own) continue;
    if (b->pinned) b->first = 0, b->last = INT_MAX;
    if (b->first >= 0) order[k++] = i; /* else never used: no room */
  }
  qsort_r(order, (size_t)k, sizeof *order, by_size, d->bufs);
  size_t total = 0;
  for (int i = 0; i < k; i++) {
    dbuf *b = &d->bufs[order[i]];
    size_t off = 0;
    for (int moved = 1; moved;) { /* first fit below the placed ones in the way */
      moved = 0;
      for (int j = 0; j < i; j++) {
        const dbuf *p = &d->bufs[order[j]];
        if (live_together(b, p) && off < p->off + p->bytes && p->off < off + b->bytes) {
          off = p->off + p->bytes;
          moved = 1;
        }
      }
    }
    b->off = off;
    total = off + b->bytes > total ? off + b->bytes : total;
  }
  free(order);
  if (!(d->arena = aligned_alloc(64, total ? total : 64))) return FK_ENOMEM;
  memset(d->arena, 0, total); /* the zero borders of pinned PAD outputs */
  for (int i = 0; i < d->nmems; i++)
    if (d->mems[i].buf >= 0 && !d->bufs[d->mems[i].buf].own)
      DNNL(dnnl_memory_set_data_handle(d->mems[i].m, buf_ptr(d, d->mems[i].buf)));
  for (int i = 0; i < d->nsteps; i++) {
    dstep *st = &d->steps[i];
    if (st->prim) continue;
    st->pa = buf_ptr(d, st->a);
    st->pb = st->b >= 0 ? buf_ptr(d, st->b) : NULL;
    st->pout = buf_ptr(d, st->out);
    if (st->xpool) TRY(nn_xnn_maxpool_setup(st->xpool, st->pa, st->pout));
  }
  for (int o = 0; o < d->g->noutputs; o++) d->outs[o] = buf_ptr(d, d->out_bufs[o]);
  d->input = buf_ptr(d, d->t[0].v[0].buf);
  return FK_OK;
}

static int build(dnn *d) {
  const nn_graph *g = d->g;
  int nt = g->ntensors, no = g->nops;
  d->t = calloc((size_t)nt, sizeof *d->t);
  d->uses = calloc((size_t)nt, sizeof *d->uses);
  d->reader = calloc((size_t)nt, sizeof *d->reader);
  d->done = calloc((size_t)no, 1);
  d->emit_at = calloc((size_t)no, sizeof *d->emit_at);
  d->chain = calloc((size_t)no, sizeof *d->chain);
  d->outs = calloc((size_t)g->noutputs, sizeof *d->outs);
  d->out_bufs = calloc((size_t)g->noutputs, sizeof *d->out_bufs);
  if (!d->t || !d->uses || !d->reader || !d->done || !d->emit_at || !d->chain || !d->outs ||
      !d->out_bufs)
    return FK_ENOMEM;
  DNNL(dnnl_engine_create(&d->eng, dnnl_cpu, 0));
  DNNL(dnnl_stream_create(&d->stream, d->eng, dnnl_stream_default_flags));
  TRY(plan(d));
  dnnl_memory_desc_t md;
  dver *v;
  TRY(md_tag(&md, g->shapes[0], dnnl_nhwc));
  TRY(set_native(d, 0, &md, -1, 1, &v));
  for (int i = 0; i < no; i++) {
    /* A conv is planned when its input exists (its layout matters), and
     * before the ops it may absorb, which come later. */
    if (g->ops[i].kind == NN_OP_CONV || g->ops[i].kind == NN_OP_DEPTHWISE) TRY(plan_conv(d, i));
    else if (d->emit_at[i] == i && is_add(&g->ops[i])) TRY(plan_add(d, i));
    if (d->emit_at[i] >= 0) TRY(emit(d, d->emit_at[i]));
  }
  d->cur_op = -1;
  for (int o = 0; o < g->noutputs; o++) {
    TRY(plain(d, g->outputs[o], &v));
    d->out_bufs[o] = v->buf;
  }
  TRY(share_scratchpad(d));
  return place_buffers(d);
}

/* bf16 natively: AVX512-BF16's dot products, or AMX (oneDNN 2.6 emulates
 * bf16 on plain AVX-512, several times slower than f32: refused). */
static int dnn_native(nn_precision p) {
  dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
  if (p == NN_PREC_BF16) return (isa & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
  return p == NN_PREC_F32;
}

static int dnn_create(const nn_graph *g, nn_threads *th, nn_precision prec, void **state) {
  if (!dnn_native(prec)) return FK_EUNSUPPORTED;
  dnn *d = calloc(1, sizeof *d);
  if (!d) return FK_ENOMEM;
  d->g = g;
  d->dt = prec == NN_PREC_BF16 ? dnnl_bf16 : dnnl_f32;
  d->nthr = th ? th->n : 1;
  d->cur_op = -1;
  d->profile = getenv("FACEKIT_DNNL_PROFILE") != NULL;
  omp_icv old = omp_enter(d->nthr);
  int rc = build(d);
  omp_leave(old);
  if (rc != FK_OK) {
    dnn_free(d);
    return rc == FK_EUNSUPPORTED ? FK_EBACKEND : rc;
  }
  *state = d;
  return FK_OK;
}

static float *dnn_input(void *state) { return ((dnn *)state)->input; }

static int dnn_run(void *state, int threads) {
  dnn *d = state;
  omp_icv old = omp_enter(threads > 1 ? d->nthr : 1);
  if (threads > 1) workers_follow_fpenv(d->nthr);
  int rc = FK_OK;
  int timed = d->profile && d->nruns++ > 0;
  for (int i = 0; i < d->nsteps && rc == FK_OK; i++) {
    dstep *st = &d->steps[i];
    double t0 = timed ? step_clock_ms(threads) : 0;
    if (st->prim)
      rc = status(dnnl_primitive_execute(st->prim, d->stream, st->nargs, st->args));
    else if (st->xpool)
      rc = nn_xnn_maxpool_run(st->xpool);
    else
      rc = nn_ref_run_op(d->g, st->op, st->pa, st->pb, st->pout);
    if (timed) st->ms += step_clock_ms(threads) - t0;
  }
  if (rc == FK_OK) rc = status(dnnl_stream_wait(d->stream));
  omp_leave(old);
  return rc;
}

static const float *dnn_output(const void *state, int i) { return ((const dnn *)state)->outs[i]; }

static int dnn_steps(const void *state) { return ((const dnn *)state)->nsteps; }

/* libgomp's idle workers spin for milliseconds (about 300,000 polls
 * unless OMP_WAIT_POLICY says otherwise, read once at start-up) before
 * they sleep; pausing ends the calling thread's pool now. Its next
 * parallel region makes the workers anew (tens of microseconds). */
static void dnn_release(void *state) {
  (void)state;
  omp_pause_resource(omp_pause_soft, omp_get_initial_device());
}

const nn_backend_ops nn_dnnl_backend = {
    .name = "onednn",
    .create = dnn_create,
    .native = dnn_native,
    .input = dnn_input,
    .run = dnn_run,
    .output = dnn_output,
    .free = dnn_free,
    .release = dnn_release,
    .steps = dnn_steps,
};
