/*
 * runtime.c - nn_runtime: one thread's way of running an nn_graph on one of
 * the backends (backend.h), and the choice, run by run, of how many threads
 * that run uses.
 *
 * Why the choice is made per run: every backend parallelizes layer by layer
 * (fork, compute, join). On idle cores that nearly halves a run on two
 * threads. When other processes keep the cores busy the scheduler parks one
 * of our threads for whole time slices, every join waits for it, and a
 * two-thread run has been measured 10 to 80 times slower than a one-thread
 * run (bench_load). No thread-pool setting avoids the wait for a parked
 * thread, so the runtime measures instead: it keeps an estimate of its run
 * time on one and on n threads, runs the faster, and now and then probes the
 * other, spacing the probes so that they cost a bounded share of the time.
 * Separately, a run takes helpers only while the budget shared by the
 * sessions of one model context has a core free for each (nn_budget), and
 * when several multi-thread sessions share it, a run sends its helpers to
 * sleep as it ends, so that they do not keep spinning on a core another
 * session's run was given.
 *
 * Every run, and every backend's set-up (which may start its worker
 * threads, and new threads take their creator's mode), runs with
 * denormals flushed (base/fpenv.h) unless a bench asked to keep them; the
 * caller's own floating point mode is put back before returning.
 */
#include <sched.h>
#include <stdlib.h>

#include "base/clock.h"
#include "base/fpenv.h"
#include "facekit.h"
#include "nn/backend.h"
#include "nn/nn.h"

static const nn_backend_ops *const backends[NN_BACKEND_COUNT] = {
    [NN_BACKEND_XNNPACK] = &nn_xnn_backend,
    [NN_BACKEND_REFERENCE] = &nn_ref_backend,
    [NN_BACKEND_DNNL] = &nn_dnnl_backend,
};

/* Probe spacing, in multiples of the probed mode's estimated run time: the
 * first probe comes after PROBE_MIN of them, and every probe that confirms
 * the current choice doubles the spacing up to PROBE_MAX, so on a steady
 * machine probing costs at most 1/PROBE_MIN of the time, and soon about
 * 1/PROBE_MAX. */
#define PROBE_MIN 8.0
#define PROBE_MAX 256.0

struct nn_runtime {
  const nn_graph *g;
  const nn_backend_ops *ops;
  void *state;
  nn_threads *th;       /* NULL: one thread */
  nn_sched sched;
  double est[2];        /* ms per run on 1 (index 0) and n threads; 0 unknown */
  int runs;             /* runs made */
  double since;         /* ms spent since the last probe */
  double spacing;       /* current probe spacing */
  int last_threads;
  int keep_denormals;   /* nn_runtime_set_denormals */
};

const char *nn_backend_name(nn_backend b) {
  static const char *const names[NN_BACKEND_COUNT] = {"xnnpack", "reference", "onednn"};
  return (unsigned)b < NN_BACKEND_COUNT ? names[b] : "unknown";
}

/* ---- budget and threads ------------------------------------------------------ */

int nn_budget_new(int cores, nn_budget **out) {
  *out = NULL;
  nn_budget *b = calloc(1, sizeof *b);
  if (!b) return FK_ENOMEM;
  if (cores <= 0) {
    cpu_set_t set;
    cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  }
  b->cores = cores > 0 ? cores : 1;
  atomic_init(&b->busy, 0);
  atomic_init(&b->sharers, 0);
  *out = b;
  return FK_OK;
}

void nn_budget_free(nn_budget *b) { free(b); }

int nn_threads_new(int n, nn_budget *budget, nn_threads **out) {
  *out = NULL;
  if (n < 1) return FK_EINVAL;
  nn_threads *th = calloc(1, sizeof *th);
  if (!th) return FK_ENOMEM;
  th->n = n;
  th->budget = budget;
  if (budget && n > 1) atomic_fetch_add(&budget->sharers, 1);
  *out = th;
  return FK_OK;
}

int nn_threads_count(const nn_threads *th) { return th ? th->n : 1; }

void nn_threads_free(nn_threads *th) {
  if (!th) return;
  if (th->budget && th->n > 1) atomic_fetch_sub(&th->budget->sharers, 1);
  for (int b = 0; b < NN_BACKEND_COUNT; b++)
    if (th->shared[b] && backends[b]->shared_free) backends[b]->shared_free(th->shared[b]);
  free(th);
}

/* Enters a run: counts the caller, and returns how many helpers (0 or
 * want) it may add without the context's runs exceeding its cores. */
static int budget_enter(nn_budget *b, int want) {
  if (!b) return want;
  int cur = atomic_fetch_add(&b->busy, 1) + 1;
  while (want > 0 && cur + want <= b->cores)
    if (atomic_compare_exchange_weak(&b->busy, &cur, cur + want)) return want;
  return 0;
}

static void budget_leave(nn_budget *b, int helpers) {
  if (b) atomic_fetch_sub(&b->busy, 1 + helpers);
}

/* ---- the choice of threads ------------------------------------------------- */

/* The mode the estimates prefer, or -1 before both are known. */
static int preferred(const nn_runtime *rt) {
  return rt->est[0] && rt->est[1] ? rt->est[1] <= rt->est[0] : -1;
}

/* 1 to run on n threads, 0 for one. A runtime learns on n threads, then
 * on 1, unless another runtime of its session found n threads slower:
 * then it starts on 1 and borrows the other estimate (record). */
static int choose_parallel(const nn_runtime *rt) {
  if (rt->sched != NN_SCHED_ADAPTIVE) return rt->sched == NN_SCHED_PARALLEL;
  int cur = preferred(rt);
  if (cur < 0) return rt->th->ratio > 1 ? 0 : !rt->est[1];
  if (rt->since >= rt->spacing * rt->est[!cur]) return !cur; /* probe */
  return cur;
}

/* Records a run of dt ms in mode m. The runtime's first run only warms it
 * up (page faults, thread creation). The preferred mode's estimate moves a
 * quarter of the way to each run, with the run clipped to 4x the estimate
 * so that one preempted run does not flip the choice; a probe of the other
 * mode replaces its (stale) estimate. Probes that confirm the choice space
 * the next one further; a change of choice brings probing back to
 * PROBE_MIN. A mode not yet measured borrows the session's ratio, so that a
 * session learns what the load does once, not once per net. */
static void record(nn_runtime *rt, int m, double dt) {
  if (rt->runs++ == 0) return;
  int before = preferred(rt), probe = before >= 0 && m != before;
  double e = rt->est[m], r = rt->th->ratio;
  if (probe || !e) rt->est[m] = dt;
  else rt->est[m] = e + 0.25 * ((dt < 4 * e ? dt : 4 * e) - e);
  if (!rt->est[!m] && r > 0) /* borrow the session's ratio */
    rt->est[!m] = m ? rt->est[1] / r : rt->est[0] * r;
  if (rt->est[0] && rt->est[1]) rt->th->ratio = rt->est[1] / rt->est[0];
  int after = preferred(rt);
  if (probe) {
    rt->since = 0;
    rt->spacing = after != before ? PROBE_MIN : (rt->spacing * 2 < PROBE_MAX ? rt->spacing * 2 : PROBE_MAX);
  } else if (before >= 0 && after != before) {
    rt->since = 0;
    rt->spacing = PROBE_MIN;
  } else {
    rt->since += dt;
  }
}

/* ---- runtime ---------------------------------------------------------------- */

const char *nn_precision_name(nn_precision p) {
  static const char *const names[NN_PREC_COUNT] = {"f32", "bf16"};
  return (unsigned)p < NN_PREC_COUNT ? names[p] : "unknown";
}

int nn_precision_native(nn_backend backend, nn_precision p) {
  if ((unsigned)backend >= NN_BACKEND_COUNT || (unsigned)p >= NN_PREC_COUNT) return 0;
  if (p == NN_PREC_F32) return 1;
  return backends[backend]->native ? backends[backend]->native(p) : 0;
}

int nn_runtime_new(const nn_graph *g, nn_backend backend, nn_threads *th, nn_runtime **out) {
  return nn_runtime_new_prec(g, backend, th, NN_PREC_F32, out);
}

int nn_runtime_new_prec(const nn_graph *g, nn_backend backend, nn_threads *th, nn_precision prec,
                        nn_runtime **out) {
  *out = NULL;
  if ((unsigned)backend >= NN_BACKEND_COUNT) return FK_EINVAL;
  return nn_runtime_new_ops(g, backends[backend], th, prec, out);
}

int nn_runtime_new_ops(const nn_graph *g, const nn_backend_ops *ops, nn_threads *th, nn_precision prec,
                       nn_runtime **out) {
  *out = NULL;
  if (!g || nn_graph_status(g) != FK_OK || g->noutputs == 0) return FK_EINVAL;
  if ((unsigned)prec >= NN_PREC_COUNT) return FK_EINVAL;
  /* never a silent emulation: a precision the CPU lacks is refused */
  if (prec != NN_PREC_F32 && !(ops->native && ops->native(prec))) return FK_EUNSUPPORTED;
  nn_runtime *rt = calloc(1, sizeof *rt);
  if (!rt) return FK_ENOMEM;
  rt->g = g;
  rt->ops = ops;
  rt->th = th;
  rt->spacing = PROBE_MIN;
  rt->last_threads = 1;
  fk_fpenv saved = fk_fpenv_set(1);
  int rc = rt->ops->create(g, th, prec, &rt->state);
  fk_fpenv_restore(saved);
  if (rc != FK_OK) {
    free(rt);
    return rc;
  }
  *out = rt;
  return FK_OK;
}

float *nn_runtime_input(nn_runtime *rt) { return rt->ops->input(rt->state); }

int nn_runtime_run(nn_runtime *rt) {
  int n = nn_threads_count(rt->th);
  nn_budget *b = rt->th ? rt->th->budget : NULL;
  int par = n > 1 && choose_parallel(rt);
  int helpers = budget_enter(b, par ? n - 1 : 0);
  par = helpers > 0;
  double t0 = n > 1 ? fk_now_ms() : 0;
  fk_fpenv saved = fk_fpenv_set(!rt->keep_denormals);
  int rc = rt->ops->run(rt->state, par ? n : 1);
  fk_fpenv_restore(saved);
  if (n > 1 && rc == FK_OK) record(rt, par, fk_now_ms() - t0);
  budget_leave(b, helpers);
  /* Helpers that linger would take a core from another session's run. */
  if (par && b && atomic_load(&b->sharers) > 1 && rt->ops->release) rt->ops->release(rt->state);
  rt->last_threads = par ? n : 1;
  return rc;
}

const float *nn_runtime_output(const nn_runtime *rt, int i) {
  if (i < 0 || i >= rt->g->noutputs) return NULL;
  return rt->ops->output(rt->state, i);
}

void nn_runtime_set_sched(nn_runtime *rt, nn_sched s) { rt->sched = s; }

void nn_runtime_set_denormals(nn_runtime *rt, int keep) { rt->keep_denormals = keep != 0; }

int nn_runtime_last_threads(const nn_runtime *rt) { return rt->last_threads; }

int nn_runtime_steps(const nn_runtime *rt) { return rt->ops->steps ? rt->ops->steps(rt->state) : -1; }

void nn_runtime_free(nn_runtime *rt) {
  if (!rt) return;
  rt->ops->free(rt->state);
  free(rt);
}
