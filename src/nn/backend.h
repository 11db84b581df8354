/*
 * backend.h - what an nn_runtime backend implements, and the thread state
 * the runtimes of one session share. Each backend is one file: ref.c (plain
 * C), xnn.c (XNNPACK), dnnl.c (oneDNN); runtime.c holds the table, picks a
 * backend per runtime and decides, run by run, how many threads to use.
 *
 * Lifecycle of a backend's state: create (prepare everything a run needs,
 * on up to th->n threads), then any number of input / run / output calls
 * from one thread at a time, then free. A run is told how many threads it
 * may use: 1 or th->n, never anything in between, so a backend prepares at
 * most those two ways of running.
 */
#ifndef FK_NN_BACKEND_H
#define FK_NN_BACKEND_H

#include <stdatomic.h>

#include "nn/nn.h"

typedef struct nn_backend_ops {
  const char *name;
  int (*create)(const nn_graph *g, nn_threads *th, nn_precision prec, void **state);
  /* 1 if it runs prec natively on this CPU (NULL: f32 only). */
  int (*native)(nn_precision prec);
  float *(*input)(void *state);
  int (*run)(void *state, int threads);
  const float *(*output)(const void *state, int i);
  void (*free)(void *state);
  /* After a run on n threads, when other sessions share the budget: makes
   * the helpers stop using the CPU at once rather than wait for more work
   * (may be NULL: they do already). */
  void (*release)(void *state);
  /* Frees what this backend keeps in nn_threads.shared (may be NULL). */
  void (*shared_free)(void *shared);
  /* Steps a run executes (nn_runtime_steps; may be NULL). */
  int (*steps)(const void *state);
} nn_backend_ops;

extern const nn_backend_ops nn_ref_backend, nn_xnn_backend, nn_dnnl_backend;

/* nn_runtime_new with a backend given by its table (tests use stand-ins
 * to check the thread choice). */
int nn_runtime_new_ops(const nn_graph *g, const nn_backend_ops *ops, nn_threads *th, nn_precision prec,
                       nn_runtime **out);

/* XNNPACK's max pooling for another backend (xnn.c), on the calling
 * thread: op over `batch` images of `channels` interleaved channels each,
 * which is NHWC (batch 1) or a blocked nChwXc layout (a batch of X-channel
 * images, one per block). Create, set up once the buffers are known, run. */
typedef struct nn_xnn_maxpool nn_xnn_maxpool;
int nn_xnn_maxpool_new(const nn_graph *g, const nn_op *op, size_t batch, size_t channels,
                       nn_xnn_maxpool **out);
int nn_xnn_maxpool_setup(nn_xnn_maxpool *p, const float *in, float *out);
int nn_xnn_maxpool_run(nn_xnn_maxpool *p);
void nn_xnn_maxpool_free(nn_xnn_maxpool *p);

/* The cores that the sessions of one model context share (see nn.h). */
struct nn_budget {
  atomic_int busy;    /* threads inside runs right now: callers + helpers */
  atomic_int sharers; /* nn_threads of n > 1 drawing on it */
  int cores;          /* CPUs this process may run on */
};

/* One session's threads: how many a run may use, the budget it draws on,
 * and per backend what its runtimes share (XNNPACK: one pthreadpool),
 * made by the backend on first use and freed with the nn_threads. */
struct nn_threads {
  int n;
  nn_budget *budget; /* NULL: no budget to respect */
  double ratio;      /* a run's time on n threads over its time on 1, as the
                        last runtime to compare them found (0: none yet);
                        the session's other runtimes start from it */
  void *shared[NN_BACKEND_COUNT];
};

#endif /* FK_NN_BACKEND_H */
