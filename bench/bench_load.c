/*
 * bench_load.c - 1 against 2 threads while other processes keep the cores
 * busy: the case where fork-join inference collapses (issue #12).
 *
 *   bench_load [--runs N] [--busy N] [--scenario NAME]... [--net NAME]...
 *              [--backend onednn|xnnpack] [IMAGE]
 *
 * The bench starts the competing load itself: N (default: one per core)
 * child processes that spin, at nice 0. Scenarios (default: all but
 * passive):
 *   quiet     no busy processes;
 *   busy      N busy processes at the bench's own priority;
 *   yield     N busy processes while the bench runs at nice 10, so the load
 *             has priority (other engineers' jobs, a server's real work);
 *   passive   as yield, with OMP_WAIT_POLICY=passive in the bench's
 *             environment: what libgomp's wait policy alone changes;
 *   sessions  no busy processes; two threads of one process each run its
 *             own 2-thread descriptor runtime, with and without a shared
 *             nn_budget, against two 1-thread runtimes.
 * Each scenario runs in a child process (exec'd, so that its nice level and
 * OpenMP environment are its own). In it, every net runs on 1 thread, on 2
 * threads forced (NN_SCHED_PARALLEL: what a plain thread pool does) and on
 * 2 threads adaptive (the library's default), interleaved round by round;
 * then the same for the whole pipeline on IMAGE (default
 * tests/fixtures/group4.png, 4 faces: decode, detect, landmarks,
 * descriptors), through fk_faces on 1- and 2-thread sessions. Before every
 * timed run the bench sleeps 10 ms, so that helpers a previous run left
 * spinning (libgomp's) have stopped, and so that every run starts alike
 * after a sleep (the scheduler favours a thread that just woke). Prints
 * medians; a configuration that has used 20 s stops early (n shows how many
 * runs it got).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "face/face.h"

#define MAX_BUSY 64
#define CAP_MS 20000.0
#define SETTLE_US 10000 /* before every timed run */

typedef struct series {
  double *t;
  int n;
  double sum;
} series;

static void add(series *s, double ms) {
  s->t[s->n++] = ms;
  s->sum += ms;
}

static double med(series *s) { return median_of(s->t, (size_t)s->n); }

/* ---- the competing load ------------------------------------------------------ */

static pid_t busy[MAX_BUSY];
static int nbusy;

static void start_busy(int n) {
  for (nbusy = 0; nbusy < n && nbusy < MAX_BUSY; nbusy++) {
    pid_t p = fork();
    if (p == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      for (volatile unsigned long x = 0;; x++) {
      }
    }
    busy[nbusy] = p;
  }
}

static void stop_busy(void) {
  for (int i = 0; i < nbusy; i++)
    if (busy[i] > 0) {
      kill(busy[i], SIGKILL);
      waitpid(busy[i], NULL, 0);
    }
  nbusy = 0;
}

/* ---- one scenario (the child) ---------------------------------------------------- */

static const char *const mode_name[3] = {"1 thread", "2 threads forced", "2 threads adaptive"};

/* One net on its three configurations, interleaved. */
static void bench_net_modes(const char *name, const nn_graph *g, nn_backend be, int runs) {
  nn_threads *th1 = NULL, *th2a = NULL, *th2b = NULL;
  nn_runtime *rt[3] = {NULL, NULL, NULL};
  series s[3];
  int ok = nn_threads_new(1, NULL, &th1) == FK_OK && nn_threads_new(2, NULL, &th2a) == FK_OK &&
           nn_threads_new(2, NULL, &th2b) == FK_OK && nn_runtime_new(g, be, th1, &rt[0]) == FK_OK &&
           nn_runtime_new(g, be, th2a, &rt[1]) == FK_OK && nn_runtime_new(g, be, th2b, &rt[2]) == FK_OK;
  if (!ok) fprintf(stderr, "%s: cannot create the runtimes\n", name);
  for (int m = 0; ok && m < 3; m++) {
    s[m] = (series){malloc((size_t)runs * sizeof(double)), 0, 0};
    float *in = nn_runtime_input(rt[m]);
    size_t n = nn_shape_size(g->shapes[0]);
    for (size_t i = 0; i < n; i++) in[i] = (float)((i * 7919) % 255) / 255.0f - 0.5f;
    nn_runtime_run(rt[m]); /* warm-up */
  }
  if (ok) nn_runtime_set_sched(rt[1], NN_SCHED_PARALLEL);
  int used = 0;
  for (int r = 0; ok && r < runs; r++)
    for (int m = 0; m < 3; m++) {
      if (s[m].sum > CAP_MS) continue;
      usleep(SETTLE_US);
      double t0 = fk_now_ms();
      nn_runtime_run(rt[m]);
      add(&s[m], fk_now_ms() - t0);
      used += m == 2 && nn_runtime_last_threads(rt[2]) > 1;
    }
  for (int m = 0; ok && m < 3; m++) {
    printf("  %-10s %-8s %-19s median %9.3f ms  (n=%d)", name, nn_backend_name(be), mode_name[m],
           med(&s[m]), s[m].n);
    if (m) printf("  %5.2fx the 1-thread median", med(&s[0]) / med(&s[m]));
    if (m == 2) printf(", ran %d of %d on 2", used, s[m].n);
    printf("\n");
  }
  for (int m = 0; ok && m < 3; m++) free(s[m].t);
  fflush(stdout);
  for (int m = 0; m < 3; m++) nn_runtime_free(rt[m]);
  nn_threads_free(th1);
  nn_threads_free(th2a);
  nn_threads_free(th2b);
}

/* The whole image through fk_faces (with the decode) on three sessions. */
static void bench_pipeline_modes(const fk_models *m, const char *image, int backend, int runs) {
  fk_session *s[3] = {NULL, NULL, NULL};
  series t[3];
  for (int k = 0; k < 3; k++) {
    fk_options o;
    fk_options_init(&o);
    o.threads = k ? 2 : 1;
    o.backend = backend;
    if (fk_session_new(m, &o, &s[k]) != FK_OK) {
      fprintf(stderr, "session: %s\n", fk_session_errmsg(s[k]));
      return;
    }
    t[k] = (series){malloc((size_t)runs * sizeof(double)), 0, 0};
  }
  fk_session_set_sched(s[1], NN_SCHED_PARALLEL);
  fk_face faces[16];
  int nf = 0;
  for (int r = -1; r < runs; r++)
    for (int k = 0; k < 3; k++) {
      if (t[k].sum > CAP_MS) continue;
      usleep(SETTLE_US);
      double t0 = fk_now_ms();
      fk_image img;
      if (fk_image_load(image, 0, &img) != FK_OK) {
        fprintf(stderr, "cannot read %s\n", image);
        return;
      }
      fk_faces(s[k], &img, faces, 16, &nf);
      fk_image_free(&img);
      if (r >= 0) add(&t[k], fk_now_ms() - t0);
    }
  for (int k = 0; k < 3; k++) {
    printf("  %-10s %-8s %-19s median %9.3f ms  (n=%d, %d faces)", "image", fk_backend_name(backend),
           mode_name[k], med(&t[k]), t[k].n, nf);
    if (k) printf("  %5.2fx the 1-thread median", med(&t[0]) / med(&t[k]));
    printf("\n");
  }
  for (int k = 0; k < 3; k++) {
    free(t[k].t);
    fk_session_free(s[k]);
  }
  fflush(stdout);
}

/* ---- the sessions scenario ---------------------------------------------------- */

typedef struct worker {
  const nn_graph *g;
  nn_threads *th;
  nn_sched sched;
  int runs;
  series s;
} worker;

static void *worker_main(void *p) {
  worker *w = p;
  nn_runtime *rt = NULL;
  if (nn_runtime_new(w->g, NN_BACKEND_DNNL, w->th, &rt) != FK_OK) return NULL;
  nn_runtime_set_sched(rt, w->sched);
  nn_runtime_run(rt);
  for (int r = 0; r < w->runs; r++) {
    double t0 = fk_now_ms();
    nn_runtime_run(rt);
    add(&w->s, fk_now_ms() - t0);
  }
  nn_runtime_free(rt);
  return NULL;
}

/* Two threads each run a descriptor runtime: on 1 thread each; on 2 forced,
 * without and with a shared budget (only the budget can then say 1); and as
 * the library does by default, adaptive with the budget fk_models gives. */
static void bench_sessions(const nn_graph *g, int runs) {
  static const char *const what[4] = {"2 x 1 thread", "2 x 2 forced, no budget", "2 x 2 forced, one budget",
                                      "2 x 2 adaptive, one budget"};
  for (int k = 0; k < 4; k++) {
    nn_budget *b = NULL;
    if (k >= 2) nn_budget_new(0, &b);
    worker w[2];
    pthread_t t[2];
    double t0 = fk_now_ms();
    for (int i = 0; i < 2; i++) {
      w[i] = (worker){g, NULL, k == 3 ? NN_SCHED_ADAPTIVE : NN_SCHED_PARALLEL, runs,
                      {malloc((size_t)runs * sizeof(double)), 0, 0}};
      nn_threads_new(k ? 2 : 1, b, &w[i].th);
      pthread_create(&t[i], NULL, worker_main, &w[i]);
    }
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    double wall = fk_now_ms() - t0;
    series all = {malloc(2 * (size_t)runs * sizeof(double)), 0, 0};
    for (int i = 0; i < 2; i++)
      for (int r = 0; r < w[i].s.n; r++) add(&all, w[i].s.t[r]);
    printf("  descriptor onednn %-27s median %8.3f ms per run, %6.1f runs/s together\n", what[k], med(&all),
           all.n / (wall / 1000));
    for (int i = 0; i < 2; i++) {
      free(w[i].s.t);
      nn_threads_free(w[i].th);
    }
    free(all.t);
    nn_budget_free(b);
  }
  fflush(stdout);
}

static int child(const char *scenario, int runs, char **nets, int nnets, int backend, const char *image) {
  if (!strcmp(scenario, "yield") || !strcmp(scenario, "passive")) {
    errno = 0;
    if (nice(10) == -1 && errno) perror("nice");
  }
  if (!strcmp(scenario, "sessions")) {
    nn_graph *g = bench_graph("descriptor");
    if (g) bench_sessions(g, runs);
    nn_graph_free(g);
    return g ? 0 : 1;
  }
  const nn_backend bes[2] = {NN_BACKEND_DNNL, NN_BACKEND_XNNPACK};
  for (int i = 0; i < nnets; i++) {
    nn_graph *g = bench_graph(nets[i]);
    for (int b = 0; g && b < 2; b++)
      if (backend < 0 || (backend == FK_BACKEND_XNNPACK) == (bes[b] == NN_BACKEND_XNNPACK))
        bench_net_modes(nets[i], g, bes[b], runs);
    nn_graph_free(g);
  }
  fk_models *m = NULL;
  if (fk_models_open(NULL, FK_NET_SSD | FK_NET_LANDMARKS | FK_NET_RESNET128, &m) != FK_OK) {
    fprintf(stderr, "bench_load: %s\n", fk_models_errmsg(m));
    fk_models_free(m);
    return 1;
  }
  for (int b = 0; b < 2; b++) {
    int fb = b ? FK_BACKEND_XNNPACK : FK_BACKEND_AUTO;
    if (backend < 0 || backend == (b ? FK_BACKEND_XNNPACK : FK_BACKEND_ONEDNN))
      bench_pipeline_modes(m, image, fb, runs / 2 > 3 ? runs / 2 : 3);
  }
  fk_models_free(m);
  return 0;
}

/* ---- the controller ----------------------------------------------------------- */

static const char *const scenario_info[][2] = {
    {"quiet", "no competing load"},
    {"busy", "busy processes at the bench's priority"},
    {"yield", "busy processes, the bench at nice 10"},
    {"passive", "as yield, with OMP_WAIT_POLICY=passive"},
    {"sessions", "two sessions in one process, no competing load"},
};

/* Runs one scenario in a child: exec's this program with --child. */
static int run_scenario(char *self, const char *sc, int nbusy_want, char **child_args) {
  const char *info = "";
  for (size_t i = 0; i < sizeof scenario_info / sizeof *scenario_info; i++)
    if (!strcmp(sc, scenario_info[i][0])) info = scenario_info[i][1];
  int loaded = strcmp(sc, "quiet") && strcmp(sc, "sessions");
  printf("\n== %s: %s\n", sc, info);
  if (loaded) printf("   (%d busy processes)\n", nbusy_want);
  fflush(stdout);
  if (loaded) start_busy(nbusy_want);
  pid_t p = fork();
  if (p == 0) {
    if (!strcmp(sc, "passive")) setenv("OMP_WAIT_POLICY", "passive", 1);
    child_args[0] = self;
    child_args[2] = (char *)sc;
    execv("/proc/self/exe", child_args);
    perror("execv");
    _exit(127);
  }
  int st = 0;
  waitpid(p, &st, 0);
  stop_busy();
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

int main(int argc, char **argv) {
  int runs = 20, nb = 0, backend = -1, is_child = 0, nnets = 0, nsc = 0;
  const char *image = "tests/fixtures/group4.png", *scenario = NULL;
  char *nets[8], *scs[8];
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--child") && i + 1 < argc) is_child = 1, scenario = argv[++i];
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--busy") && i + 1 < argc) nb = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--net") && i + 1 < argc && nnets < 8) nets[nnets++] = argv[++i];
    else if (!strcmp(argv[i], "--scenario") && i + 1 < argc && nsc < 8) scs[nsc++] = argv[++i];
    else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
      backend = fk_backend_from_name(argv[++i]);
      if (backend != FK_BACKEND_XNNPACK && backend != FK_BACKEND_ONEDNN) {
        fprintf(stderr, "bench_load: unknown backend %s (onednn, xnnpack)\n", argv[i]);
        return 2;
      }
    } else image = argv[i];
  }
  if (runs < 1) runs = 1;
  if (!nnets) nets[nnets++] = "landmarks", nets[nnets++] = "descriptor";
  if (is_child) return child(scenario, runs, nets, nnets, backend, image);

  if (nb <= 0) nb = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (!nsc) scs[nsc++] = "quiet", scs[nsc++] = "busy", scs[nsc++] = "yield", scs[nsc++] = "sessions";
  char runs_s[16];
  snprintf(runs_s, sizeof runs_s, "%d", runs);
  /* argv of the children: self --child SCENARIO --runs N [--backend B] [--net X]... IMAGE */
  char *args[32];
  int na = 0;
  args[na++] = argv[0];
  args[na++] = "--child";
  args[na++] = "";
  args[na++] = "--runs";
  args[na++] = runs_s;
  if (backend >= 0) {
    args[na++] = "--backend";
    args[na++] = (char *)fk_backend_name(backend);
  }
  for (int i = 0; i < nnets; i++) args[na++] = "--net", args[na++] = nets[i];
  args[na++] = (char *)image;
  args[na] = NULL;
  printf("bench_load: %d runs per configuration, %ld cores, medians\n", runs, sysconf(_SC_NPROCESSORS_ONLN));
  int rc = 0;
  for (int i = 0; i < nsc; i++) rc |= run_scenario(argv[0], scs[i], nb, args);
  return rc;
}
