/*
 * bench_nets.c - per-face latency of the landmark, descriptor, age/gender,
 * expression and gear graphs and of the faceplugin ONNX nets (mbf512,
 * rfb320, lmk64, pose, eye) on every fast backend (oneDNN, XNNPACK), at 1 and 2
 * threads, all in one run so that the figures compare.
 *
 * Usage: bench_nets [runs] [-b onednn|xnnpack|reference] [-n NET] [-t THREADS] [-D] [-p f32]
 *   (models from $FACEKIT_MODELS, else ./models)
 * For each net, the runtimes of every backend and thread count run
 * interleaved, one run each in turn, so that a shared machine's load falls
 * on all of them alike. Prints the median ms of `runs` timed rounds after 3
 * warm-up rounds, GFLOP/s = 2 * nn_graph_macs / time, and each row's speed
 * relative to XNNPACK on one thread; for one thread also the median thread
 * CPU time ("cpu"), which leaves out the time a run waited for a core on a
 * shared machine. The 2-thread runs are forced onto two
 * threads (NN_SCHED_PARALLEL), so they show the raw parallel speed;
 * bench_load shows what the adaptive default does under a competing load.
 *
 * Denormal sensitivity: every backend but XNNPACK (which flushes in every
 * operator, whatever is asked) also runs on one thread with flushing
 * forced off (nn_runtime_set_denormals), in the same interleaved rounds,
 * and a "denormals" line gives its median CPU time against the flushed
 * row's: what flushing saves on this CPU (about 13x for mbf512 on oneDNN
 * on a Sapphire Rapids, nothing on a Zen 3). -D leaves those rows out.
 *
 * Precisions: where this CPU runs bf16 natively (nn_precision_native), the
 * oneDNN rows come again in bf16 ("onednn-bf16"), with their speed against
 * the f32 row of the same thread count; -p f32 leaves them out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "facekit.h"
#include "models/models.h"

#define MAX_RT 12

typedef struct row {
  nn_backend be;
  int threads;
  int keep; /* denormals computed, not flushed */
  nn_precision prec;
  nn_threads *th;
  nn_runtime *rt;
  double *t, *cpu;
} row;

static void bench(const char *name, const nn_graph *g, row *r, int nr, int runs) {
  int ok = 1;
  for (int k = 0; k < nr; k++) {
    r[k].th = NULL;
    r[k].rt = NULL;
    r[k].t = malloc((size_t)runs * sizeof *r[k].t);
    r[k].cpu = malloc((size_t)runs * sizeof *r[k].cpu);
    int st = r[k].t && r[k].cpu ? nn_threads_new(r[k].threads, NULL, &r[k].th) : FK_ENOMEM;
    if (st == FK_OK) st = nn_runtime_new_prec(g, r[k].be, r[k].th, r[k].prec, &r[k].rt);
    if (st != FK_OK) {
      fprintf(stderr, "%s on %s: %s\n", name, nn_backend_name(r[k].be), fk_strerror(st));
      ok = 0;
      continue;
    }
    nn_runtime_set_sched(r[k].rt, NN_SCHED_PARALLEL);
    nn_runtime_set_denormals(r[k].rt, r[k].keep);
    float *in = nn_runtime_input(r[k].rt);
    size_t n = nn_shape_size(g->shapes[0]);
    for (size_t i = 0; i < n; i++) in[i] = (float)((i * 7919) % 255) / 255.0f - 0.5f;
  }
  for (int i = -3; ok && i < runs; i++)
    for (int k = 0; k < nr; k++) {
      double t0 = fk_now_ms(), c0 = fk_thread_cpu_ms();
      nn_runtime_run(r[k].rt);
      if (i >= 0) r[k].t[i] = fk_now_ms() - t0, r[k].cpu[i] = fk_thread_cpu_ms() - c0;
    }
  double base = 0;
  for (int k = 0; ok && k < nr; k++) {
    if (r[k].keep) continue;
    double med = median_of(r[k].t, (size_t)runs);
    if (r[k].be == NN_BACKEND_XNNPACK && r[k].threads == 1) base = med;
    char be[32];
    snprintf(be, sizeof be, "%s%s%s", nn_backend_name(r[k].be), r[k].prec ? "-" : "",
             r[k].prec ? nn_precision_name(r[k].prec) : "");
    printf("%-10s %-11s %d thread%s  median %8.3f ms  (min %8.3f)  %6.1f GFLOP/s", name, be, r[k].threads,
           r[k].threads > 1 ? "s" : " ", med, r[k].t[0], 2 * nn_graph_macs(g) / (med * 1e6));
    if (base > 0) printf("  %5.2fx xnnpack-1T", base / med);
    for (int f = 0; r[k].prec && f < nr; f++)
      if (!r[f].keep && !r[f].prec && r[f].be == r[k].be && r[f].threads == r[k].threads)
        printf("  %5.2fx f32", median_of(r[f].t, (size_t)runs) / med);
    if (r[k].threads == 1) {
      double cpu = median_of(r[k].cpu, (size_t)runs);
      printf("  cpu %8.3f ms %6.1f GFLOP/s", cpu, 2 * nn_graph_macs(g) / (cpu * 1e6));
    }
    printf("  (%.1f MMAC)\n", nn_graph_macs(g) / 1e6);
  }
  for (int k = 0; ok && k < nr; k++) {
    if (!r[k].keep) continue;
    for (int f = 0; f < nr; f++)
      if (!r[f].keep && !r[f].prec && r[f].be == r[k].be && r[f].threads == r[k].threads) {
        double kept = median_of(r[k].cpu, (size_t)runs), flushed = median_of(r[f].cpu, (size_t)runs);
        printf("%-10s %-9s %d thread   denormals kept %8.3f ms, flushed %8.3f ms: %6.2fx\n", name,
               nn_backend_name(r[k].be), r[k].threads, kept, flushed, kept / flushed);
      }
  }
  fflush(stdout);
  for (int k = 0; k < nr; k++) {
    nn_runtime_free(r[k].rt);
    nn_threads_free(r[k].th);
    free(r[k].t);
    free(r[k].cpu);
  }
}

int main(int argc, char **argv) {
  int runs = 50, only = -1, threads = 0, denormals = 1, lower = 1;
  const char *net = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "-n") && i + 1 < argc) {
      net = argv[++i];
    } else if (!strcmp(argv[i], "-t") && i + 1 < argc) {
      threads = atoi(argv[++i]);
    } else if (!strcmp(argv[i], "-D")) {
      denormals = 0;
    } else if (!strcmp(argv[i], "-p") && i + 1 < argc) {
      lower = strcmp(argv[++i], "f32") != 0;
    } else if (!strcmp(argv[i], "-b") && i + 1 < argc) {
      only = bench_backend(argv[++i]);
      if (only < 0) return 2;
    } else {
      runs = atoi(argv[i]);
    }
  }
  if (runs < 1) runs = 1;
  /* XNNPACK first: the baseline of the ratio column. */
  const nn_backend order[3] = {NN_BACKEND_XNNPACK, NN_BACKEND_DNNL, NN_BACKEND_REFERENCE};
  row rows[MAX_RT];
  int nr = 0;
  for (int t = 1; t <= 2; t++)
    for (int b = 0; b < 3; b++) {
      if (threads && t != threads) continue;
      if (only < 0 ? order[b] == NN_BACKEND_REFERENCE : (int)order[b] != only) continue;
      if (order[b] == NN_BACKEND_REFERENCE && t > 1) continue;
      rows[nr++] = (row){.be = order[b], .threads = t};
    }
  for (int k = 0, n = nr; lower && k < n; k++) /* oneDNN in each precision the CPU has */
    for (int p = NN_PREC_F32 + 1; p < NN_PREC_COUNT; p++)
      if (rows[k].be == NN_BACKEND_DNNL && nn_precision_native(NN_BACKEND_DNNL, p) && nr < MAX_RT)
        rows[nr++] = (row){.be = NN_BACKEND_DNNL, .threads = rows[k].threads, .prec = p};
  for (int k = 0, n = nr; denormals && k < n; k++) /* the same on one thread, keeping denormals */
    if (rows[k].threads == 1 && rows[k].be != NN_BACKEND_XNNPACK && !rows[k].prec && nr < MAX_RT)
      rows[nr++] = (row){.be = rows[k].be, .threads = 1, .keep = 1};
  const char *names[] = {"landmarks", "descriptor", "agegender", "expression", "gear",
                         "mbf512",    "rfb320",     "lmk64",     "pose",       "eye"};
  int rc = 0;
  printf("median of %d interleaved runs\n", runs);
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    if (net && strcmp(net, names[i])) continue;
    nn_graph *g = bench_graph(names[i]);
    if (g) bench(names[i], g, rows, nr, runs);
    rc |= !g;
    nn_graph_free(g);
  }
  return rc;
}
