/*
 * fuse.c - nn_graph_fuse(): rewrites a graph into an equivalent one with
 * fewer ops, for the graphs the importers (tfgraph.c, onnx.c) build op by op.
 *
 * Converted graphs spell out what the hand-built face-api nets get for free:
 * batch norm as a per-channel Mul and Add after a conv, ReLU6 as Relu then
 * Minimum then Maximum, PReLU as relu(x) + k * (x - |x|). Each rewrite below
 * is the same function in real arithmetic; the float results may differ in
 * the last bits (a folded scale rounds once instead of twice), which the
 * golden tests bound. The rewrites:
 *   1. relu(x) + (x - |x|) * k          -> prelu(x, 2k)  (bit-exact)
 *      x + (x - |x|) * k, x >= 0 known  -> x             (bit-exact)
 *   2. clamp after conv/depthwise/fc/add/sub/mul/div, or after a clamp,
 *      whose range is relu's or relu6's -> the fused activation;
 *   3. per-channel Mul/Add/Sub by a constant after conv/depthwise/fc
 *      without activation -> folded into its weights and bias;
 *   4. per-channel Mul by a constant followed by a per-channel Add/Sub
 *      -> a 1x1 depthwise conv (then 3 folds the Add into its bias);
 *   5. reshape feeding only an FC (which flattens anyway) -> dropped;
 *   6. a per-channel x * s + t with every s > 0, then max pools, then a conv
 *      without padding or an FC -> folded into that conv or FC (an
 *      increasing function commutes with max; without padding, every conv
 *      tap sees transformed values).
 * An op is only rewritten into its producer when the producer's output has
 * no other consumer and is not a graph output. Dead ops and tensors are then
 * removed and the tensors renumbered (tensor 0 stays the input).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"
#include "nn/nn.h"

typedef struct fuse {
  nn_graph *g;
  int *prod;   /* tensor -> producing op, -1 for none */
  int *uses;   /* tensor -> consumers among live ops (+1 if an output) */
  int *cons;   /* tensor -> its last consumer */
  char *dead;  /* op removed */
} fuse;

static void scan(fuse *f) {
  nn_graph *g = f->g;
  for (int t = 0; t < g->ntensors; t++) {
    f->prod[t] = -1;
    f->uses[t] = 0;
    f->cons[t] = -1;
  }
  for (int i = 0; i < g->noutputs; i++) f->uses[g->outputs[i]]++;
  for (int i = 0; i < g->nops; i++) {
    if (f->dead[i]) continue;
    const nn_op *op = &g->ops[i];
    f->prod[op->out] = i;
    for (int k = 0; k < 2; k++)
      if (op->in[k] >= 0) {
        f->uses[op->in[k]]++;
        f->cons[op->in[k]] = i;
      }
  }
}

static int is_output(const nn_graph *g, int t) {
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] == t) return 1;
  return 0;
}

/* t feeds exactly one op and is not an output. */
static int single(const fuse *f, int t) {
  return f->uses[t] == 1 && !is_output(f->g, t);
}

/* The live op producing t with the given kind, or NULL. */
static nn_op *producer(const fuse *f, int t, nn_op_kind kind) {
  if (t < 0 || f->prod[t] < 0) return NULL;
  nn_op *op = &f->g->ops[f->prod[t]];
  return op->kind == kind ? op : NULL;
}

static void kill(fuse *f, nn_op *op) {
  f->dead[op - f->g->ops] = 1;
  free(op->weights);
  free(op->bias);
  op->weights = op->bias = NULL;
}

static int same(nn_shape a, nn_shape b) { return a.h == b.h && a.w == b.w && a.c == b.c; }

/* A BINARY with a finite per-channel (or scalar) constant over c channels. */
static int per_channel(const nn_op *op, int kind, int c) {
  if (op->kind != NN_OP_BINARY || op->sub != kind || op->in[1] >= 0 || op->act) return 0;
  if (op->bshape.h != 1 || op->bshape.w != 1) return 0;
  if (op->bshape.c != 1 && op->bshape.c != c) return 0;
  for (int i = 0; i < op->bshape.c; i++)
    if (!isfinite(op->weights[i])) return 0;
  return 1;
}

static float chan(const nn_op *op, int i) { return op->weights[op->bshape.c == 1 ? 0 : i]; }

/* act's output range. */
static void act_range(nn_act act, float *lo, float *hi) {
  *lo = act == NN_ACT_NONE ? -INFINITY : 0.0f;
  *hi = act == NN_ACT_RELU6 ? 6.0f : INFINITY;
}

static int range_act(float lo, float hi, nn_act *act) {
  if (lo == -INFINITY && hi == INFINITY) *act = NN_ACT_NONE;
  else if (lo == 0.0f && hi == INFINITY) *act = NN_ACT_RELU;
  else if (lo == 0.0f && hi == 6.0f) *act = NN_ACT_RELU6;
  else return 0;
  return 1;
}

static int has_act(const nn_op *op) {
  return op->kind == NN_OP_CONV || op->kind == NN_OP_DEPTHWISE || op->kind == NN_OP_FC ||
         op->kind == NN_OP_ADD ||
         (op->kind == NN_OP_BINARY && op->sub != NN_BIN_MAX && op->sub != NN_BIN_MIN);
}

/* m = (x - |x|) * k with every intermediate used once: returns the Mul, and
 * the Sub and Abs in *s, *a; x in *x. */
static nn_op *prelu_tail(const fuse *f, int m_t, int c, nn_op **s, nn_op **a, int *x) {
  nn_op *m = f->prod[m_t] >= 0 ? &f->g->ops[f->prod[m_t]] : NULL;
  if (!m || !single(f, m_t) || !per_channel(m, NN_BIN_MUL, c)) return NULL;
  *s = producer(f, m->in[0], NN_OP_BINARY);
  if (!*s || (*s)->sub != NN_BIN_SUB || (*s)->in[1] < 0 || (*s)->act || !single(f, m->in[0]))
    return NULL;
  *a = producer(f, (*s)->in[1], NN_OP_UNARY);
  if (!*a || (*a)->sub != NN_UN_ABS || (*a)->in[0] != (*s)->in[0] || !single(f, (*s)->in[1]))
    return NULL;
  *x = (*s)->in[0];
  return m;
}

/* Rule 1 at op `add`. */
static int fuse_prelu(fuse *f, nn_op *add) {
  nn_graph *g = f->g;
  if (add->kind != NN_OP_BINARY || add->sub != NN_BIN_ADD || add->in[1] < 0 || add->act)
    return 0;
  nn_shape os = g->shapes[add->out];
  for (int side = 0; side < 2; side++) {
    int p = add->in[side], q = add->in[1 - side], x;
    nn_op *s, *a, *m = prelu_tail(f, q, os.c, &s, &a, &x);
    if (!m || !same(g->shapes[x], os)) continue;
    nn_op *r = producer(f, p, NN_OP_CLAMP);
    if (r && r->in[0] == x && r->lo == 0.0f && r->hi == INFINITY && single(f, p)) {
      float *slope = malloc((size_t)os.c * sizeof *slope);
      if (!slope) return -1;
      for (int i = 0; i < os.c; i++) slope[i] = 2.0f * chan(m, i);
      kill(f, r);
      kill(f, m);
      kill(f, s);
      kill(f, a);
      *add = (nn_op){.kind = NN_OP_PRELU, .in = {x, -1}, .out = add->out, .weights = slope};
      return 1;
    }
    /* x already >= 0: x - |x| = 0, so the sum is x itself. */
    nn_op *xp = f->prod[x] >= 0 ? &g->ops[f->prod[x]] : NULL;
    int nonneg = xp && ((has_act(xp) && xp->act != NN_ACT_NONE) ||
                        (xp->kind == NN_OP_CLAMP && xp->lo >= 0.0f));
    if (p == x && nonneg && f->uses[x] == 3 && !is_output(g, x)) {
      xp->out = add->out;
      kill(f, m);
      kill(f, s);
      kill(f, a);
      kill(f, add);
      return 1;
    }
  }
  return 0;
}

/* Rule 2 at clamp op c. */
static int fuse_clamp(fuse *f, nn_op *c) {
  if (c->kind != NN_OP_CLAMP || !single(f, c->in[0]) || f->prod[c->in[0]] < 0) return 0;
  nn_op *x = &f->g->ops[f->prod[c->in[0]]];
  float lo, hi;
  if (x->kind == NN_OP_CLAMP) {
    lo = fmaxf(x->lo, c->lo);
    hi = fminf(x->hi, c->hi);
    if (!(lo <= hi)) return 0;
    x->lo = lo;
    x->hi = hi;
  } else {
    nn_act act;
    if (!has_act(x)) return 0;
    act_range(x->act, &lo, &hi);
    if (!range_act(fmaxf(lo, c->lo), fminf(hi, c->hi), &act)) return 0;
    x->act = act;
  }
  x->out = c->out;
  kill(f, c);
  return 1;
}

/* Rule 3 at binary op b. */
static int fuse_affine(fuse *f, nn_op *b) {
  nn_graph *g = f->g;
  if (b->kind != NN_OP_BINARY || b->in[1] >= 0 || (b->sub == NN_BIN_SUB && b->rev)) return 0;
  nn_shape s = g->shapes[b->out];
  int c = s.c;
  nn_act act = b->act;
  b->act = NN_ACT_NONE; /* per_channel() wants none; restored below */
  int ok = (per_channel(b, NN_BIN_MUL, c) || per_channel(b, NN_BIN_ADD, c) ||
            per_channel(b, NN_BIN_SUB, c)) &&
           same(g->shapes[b->in[0]], s) && single(f, b->in[0]) && f->prod[b->in[0]] >= 0;
  b->act = act;
  if (!ok) return 0;
  nn_op *x = &g->ops[f->prod[b->in[0]]];
  if ((x->kind != NN_OP_CONV && x->kind != NN_OP_DEPTHWISE && x->kind != NN_OP_FC) ||
      x->act != NN_ACT_NONE)
    return 0;
  if (!x->bias && !(x->bias = calloc((size_t)c, sizeof(float)))) return -1;
  if (b->sub == NN_BIN_MUL) {
    /* Output channel o's weights: a row of OHWI / [cout][cin], or every
     * c-th value of the depthwise [kh][kw][c]. */
    size_t per = x->kind == NN_OP_DEPTHWISE ? (size_t)x->kh * x->kw
                 : x->kind == NN_OP_FC      ? nn_shape_size(g->shapes[x->in[0]])
                                            : (size_t)x->kh * x->kw * g->shapes[x->in[0]].c;
    for (int o = 0; o < c; o++) {
      float k = chan(b, o);
      x->bias[o] *= k;
      for (size_t i = 0; i < per; i++) {
        size_t at = x->kind == NN_OP_DEPTHWISE ? i * (size_t)c + o : (size_t)o * per + i;
        x->weights[at] *= k;
      }
    }
  } else {
    for (int o = 0; o < c; o++) x->bias[o] += b->sub == NN_BIN_ADD ? chan(b, o) : -chan(b, o);
  }
  x->act = act;
  x->out = b->out;
  kill(f, b);
  return 1;
}

/* Rule 4 at binary op m. */
static int fuse_scale_shift(fuse *f, nn_op *m) {
  nn_graph *g = f->g;
  nn_shape s = g->shapes[m->out];
  if (!per_channel(m, NN_BIN_MUL, s.c) || !same(g->shapes[m->in[0]], s) ||
      !single(f, m->out))
    return 0;
  if (f->prod[m->in[0]] >= 0 && g->ops[f->prod[m->in[0]]].kind == NN_OP_FC) return 0;
  const nn_op *next = &g->ops[f->cons[m->out]];
  if (next->kind != NN_OP_BINARY || next->in[0] != m->out ||
      !((per_channel(next, NN_BIN_ADD, s.c) ||
         (per_channel(next, NN_BIN_SUB, s.c) && !next->rev))))
    return 0;
  float *w = malloc((size_t)s.c * sizeof *w);
  if (!w) return -1;
  for (int i = 0; i < s.c; i++) w[i] = chan(m, i);
  free(m->weights);
  *m = (nn_op){.kind = NN_OP_DEPTHWISE, .in = {m->in[0], -1}, .out = m->out,
               .kh = 1, .kw = 1, .stride = 1, .dilation = 1, .weights = w};
  return 1;
}

/* Rule 5 at reshape op r. */
static int fuse_reshape(fuse *f, nn_op *r) {
  if (r->kind != NN_OP_RESHAPE || !single(f, r->out)) return 0;
  nn_op *next = &f->g->ops[f->cons[r->out]];
  if (next->kind != NN_OP_FC) return 0;
  next->in[0] = r->in[0];
  kill(f, r);
  return 1;
}

/* Rule 6 at a 1x1 depthwise d (an affine x * s + t per channel, s > 0):
 * max pooling commutes with it exactly (it is increasing), and a conv
 * without padding or an FC after the pools absorbs it into its weights
 * and bias. Moves d past the pools and folds it into that consumer. */
static int fuse_affine_forward(fuse *f, nn_op *d) {
  nn_graph *g = f->g;
  if (d->kind != NN_OP_DEPTHWISE || d->kh != 1 || d->kw != 1 || d->stride != 1 ||
      d->act != NN_ACT_NONE || !single(f, d->out))
    return 0;
  int c = g->shapes[d->out].c;
  for (int i = 0; i < c; i++)
    if (!(d->weights[i] > 0.0f) || !isfinite(d->weights[i]) ||
        (d->bias && !isfinite(d->bias[i])))
      return 0;
  /* Follow single-use max pools to the linear op. */
  int t = d->out;
  nn_op *first = NULL, *next;
  for (;;) {
    next = &g->ops[f->cons[t]];
    int pool = next->kind == NN_OP_MAXPOOL ||
               (next->kind == NN_OP_REDUCE && next->sub == NN_RED_MAX && !(next->axes & NN_AXIS_C));
    if (!pool) break;
    if (!first) first = next;
    t = next->out;
    if (!single(f, t)) return 0;
  }
  int pads = next->pad[0] | next->pad[1] | next->pad[2] | next->pad[3];
  if (!first || next->in[0] != t || !((next->kind == NN_OP_CONV && !pads) || next->kind == NN_OP_FC))
    return 0;
  nn_shape in = g->shapes[t], out = g->shapes[next->out];
  if (in.c != c) return 0;
  if (!next->bias && !(next->bias = calloc((size_t)out.c, sizeof(float)))) return -1;
  /* Both weight layouts end in the input channel: [cout][...][c]. */
  size_t per = next->kind == NN_OP_FC ? nn_shape_size(in) : (size_t)next->kh * next->kw * c;
  for (int o = 0; o < out.c; o++) {
    float *w = next->weights + (size_t)o * per;
    double shift = 0.0;
    for (size_t i = 0; i < per; i++) {
      if (d->bias) shift += (double)w[i] * d->bias[i % (size_t)c];
      w[i] *= d->weights[i % (size_t)c];
    }
    next->bias[o] += (float)shift;
  }
  first->in[0] = d->in[0];
  kill(f, d);
  return 1;
}

/* Drops dead ops and unused tensors, renumbering the rest. */
static int compact(fuse *f) {
  nn_graph *g = f->g;
  int *map = malloc((size_t)g->ntensors * sizeof *map);
  nn_shape *shapes = malloc((size_t)g->ntensors * sizeof *shapes);
  if (!map || !shapes) {
    free(map);
    free(shapes);
    return FK_ENOMEM;
  }
  for (int t = 0; t < g->ntensors; t++) map[t] = -1;
  int nt = 0, no = 0;
  shapes[nt] = g->shapes[0];
  map[0] = nt++;
  for (int i = 0; i < g->nops; i++) {
    if (f->dead[i]) continue;
    nn_op op = g->ops[i];
    shapes[nt] = g->shapes[op.out];
    map[op.out] = nt++;
    for (int k = 0; k < 2; k++)
      if (op.in[k] >= 0) op.in[k] = map[op.in[k]];
    op.out = map[op.out];
    g->ops[no++] = op;
  }
  for (int i = 0; i < g->noutputs; i++) g->outputs[i] = map[g->outputs[i]];
  free(g->shapes);
  g->shapes = shapes;
  g->ntensors = g->cap_tensors = nt;
  g->nops = no;
  free(map);
  return FK_OK;
}

int nn_graph_fuse(nn_graph *g) {
  if (!g || g->failed) return g ? g->failed : FK_EINVAL;
  fuse f = {.g = g};
  f.prod = malloc((size_t)g->ntensors * sizeof *f.prod);
  f.uses = malloc((size_t)g->ntensors * sizeof *f.uses);
  f.cons = malloc((size_t)g->ntensors * sizeof *f.cons);
  f.dead = calloc((size_t)g->nops + 1, 1);
  int rc = f.prod && f.uses && f.cons && f.dead ? FK_OK : FK_ENOMEM;
  if (rc == FK_OK) scan(&f);
  for (int changed = 1; rc == FK_OK && changed;) {
    changed = 0;
    for (int i = 0; i < g->nops && rc == FK_OK; i++) {
      if (f.dead[i]) continue;
      nn_op *op = &g->ops[i];
      int r = fuse_prelu(&f, op);
      if (!r) r = fuse_clamp(&f, op);
      if (!r) r = fuse_affine(&f, op);
      if (!r) r = fuse_scale_shift(&f, op);
      if (!r) r = fuse_reshape(&f, op);
      if (!r) r = fuse_affine_forward(&f, op);
      if (r < 0) rc = FK_ENOMEM;
      if (r > 0) {
        changed = 1;
        scan(&f); /* producers and use counts changed */
      }
    }
  }
  if (rc == FK_OK) rc = compact(&f);
  free(f.prod);
  free(f.uses);
  free(f.cons);
  free(f.dead);
  return rc;
}
