/*
 * test_threads.c - how many threads runs use (src/nn/runtime.c and the
 * backends): a one-thread runtime starts no thread, an n-thread one at most
 * n - 1 helpers, a session likewise; the core budget of a model context
 * caps the helpers; and the adaptive choice, driven by a stand-in backend
 * whose runs take a set time per thread count, runs on the faster count and
 * spends little time probing the other.
 *
 * Needs the models ($FACEKIT_MODELS, else ./models) and the fixtures
 * ($FK_FIXTURES, else tests/fixtures).
 */
#include <dirent.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "face/face.h"
#include "nn/backend.h"
#include "testutil.h"
#include "golden.h"

static void sleep_ms(double ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)((ms - 1000 * (long)(ms / 1000)) * 1e6)};
  nanosleep(&ts, NULL);
}

/* Threads of this process now. */
static int thread_count(void) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* A small conv net, enough for every backend to parallelize. */
static nn_graph *small_net(void) {
  static float w[3 * 3 * 16 * 16], b[16];
  tu_fill_random(w, sizeof w / sizeof *w, 3);
  tu_fill_random(b, 16, 4);
  nn_graph *g = nn_graph_new(40, 40, 16);
  int x = nn_conv2d(g, 0, w, b, 3, 3, 16, 1, NN_SAME, NN_ACT_RELU);
  x = nn_conv2d(g, x, w, b, 3, 3, 16, 1, NN_SAME, NN_ACT_NONE);
  nn_mark_output(g, nn_add(g, x, 0, NN_ACT_RELU));
  return g;
}

/* Runs a runtime of g on backend be with th a few times; returns the
 * threads the process gained (the workers stay for later runs). */
static int threads_gained(const nn_graph *g, nn_backend be, nn_threads *th, nn_sched sched) {
  int before = thread_count();
  nn_runtime *rt = NULL;
  CHECK_EQ_INT(nn_runtime_new(g, be, th, &rt), FK_OK);
  if (!rt) return -1;
  nn_runtime_set_sched(rt, sched);
  tu_fill_random(nn_runtime_input(rt), nn_shape_size(g->shapes[0]), 5);
  for (int i = 0; i < 4; i++) CHECK_EQ_INT(nn_runtime_run(rt), FK_OK);
  int gained = thread_count() - before;
  nn_runtime_free(rt);
  return gained;
}

static void test_one_thread_runtimes_start_no_thread(void) {
  nn_graph *g = small_net();
  for (int b = 0; b < NN_BACKEND_COUNT; b++) {
    int gained = threads_gained(g, (nn_backend)b, NULL, NN_SCHED_ADAPTIVE);
    fprintf(stderr, "  %s, 1 thread: %d new threads\n", nn_backend_name((nn_backend)b), gained);
    CHECK_EQ_INT(gained, 0);
  }
  nn_graph_free(g);
}

/* Run in a thread of its own, so that the threads it starts are its own:
 * libgomp keeps one pool per calling thread. */
static void *two_thread_runs(void *p) {
  int *gained = p;
  nn_graph *g = small_net();
  for (int b = 0; b < NN_BACKEND_COUNT; b++) {
    nn_threads *th = NULL;
    CHECK_EQ_INT(nn_threads_new(2, NULL, &th), FK_OK);
    gained[b] = threads_gained(g, (nn_backend)b, th, NN_SCHED_PARALLEL);
    nn_threads_free(th);
  }
  nn_graph_free(g);
  return NULL;
}

static void test_two_thread_runtimes_start_at_most_one_helper(void) {
  int gained[NN_BACKEND_COUNT];
  pthread_t t;
  pthread_create(&t, NULL, two_thread_runs, gained);
  pthread_join(t, NULL);
  for (int b = 0; b < NN_BACKEND_COUNT; b++) {
    fprintf(stderr, "  %s, 2 threads: %d new threads\n", nn_backend_name((nn_backend)b), gained[b]);
    CHECK(gained[b] >= 0 && gained[b] <= 1);
  }
}

static void test_budget_of_one_core_keeps_runs_serial(void) {
  nn_graph *g = small_net();
  for (int cores = 1; cores <= 2; cores++) {
    nn_budget *bud = NULL;
    nn_threads *th = NULL;
    nn_runtime *rt = NULL;
    CHECK_EQ_INT(nn_budget_new(cores, &bud), FK_OK);
    CHECK_EQ_INT(nn_threads_new(2, bud, &th), FK_OK);
    CHECK_EQ_INT(nn_runtime_new(g, NN_BACKEND_DNNL, th, &rt), FK_OK);
    if (rt) {
      nn_runtime_set_sched(rt, NN_SCHED_PARALLEL);
      CHECK_EQ_INT(nn_runtime_run(rt), FK_OK);
      CHECK_EQ_INT(nn_runtime_last_threads(rt), cores);
      CHECK_EQ_INT(atomic_load(&bud->busy), 0); /* nothing held after the run */
    }
    nn_runtime_free(rt);
    nn_threads_free(th);
    CHECK_EQ_INT(atomic_load(&bud->sharers), 0);
    nn_budget_free(bud);
  }
  nn_graph_free(g);
}

/* Threads of this process in state R (running or runnable) other than the
 * caller. */
static int busy_others(void) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  char self[32];
  snprintf(self, sizeof self, "%d", (int)gettid());
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.' || !strcmp(e->d_name, self)) continue;
    char path[300], st[512] = "";
    snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (f && fgets(st, sizeof st, f)) {
      const char *p = strrchr(st, ')');
      n += p && p[1] == ' ' && p[2] == 'R';
    }
    if (f) fclose(f);
  }
  if (d) closedir(d);
  return n;
}

/* Between runs no helper keeps a core: XNNPACK's pool is told to yield, and
 * libgomp's workers stop spinning within milliseconds (at once when
 * sessions share the budget). */
static int omp_pool_left; /* oneDNN, shared budget: threads left after the runs */

static void *idle_after_runs(void *p) {
  int *busy = p, base = thread_count(); /* this thread has no pool yet */
  nn_graph *g = small_net();
  nn_budget *bud = NULL;
  nn_budget_new(2, &bud);
  for (int b = 0; b < NN_BACKEND_COUNT; b++) {
    for (int shared = 0; shared < 2; shared++) {
      nn_threads *th = NULL, *other = NULL;
      nn_runtime *rt = NULL;
      nn_threads_new(2, shared ? bud : NULL, &th);
      if (shared) nn_threads_new(2, bud, &other); /* a second session on the budget */
      CHECK_EQ_INT(nn_runtime_new(g, (nn_backend)b, th, &rt), FK_OK);
      if (rt) {
        nn_runtime_set_sched(rt, NN_SCHED_PARALLEL);
        for (int i = 0; i < 3; i++) nn_runtime_run(rt);
        int n = 0;
        for (int wait = 0; wait < 50 && (n = busy_others()) > 0; wait++) sleep_ms(10);
        busy[2 * b + shared] = n;
        if (shared && b == NN_BACKEND_DNNL) {
          for (int wait = 0; wait < 50 && thread_count() > base; wait++) sleep_ms(10);
          omp_pool_left = thread_count() - base;
        }
      }
      nn_runtime_free(rt);
      nn_threads_free(th);
      nn_threads_free(other);
    }
  }
  nn_budget_free(bud);
  nn_graph_free(g);
  return NULL;
}

static void test_helpers_leave_the_cores_between_runs(void) {
  int busy[2 * NN_BACKEND_COUNT];
  pthread_t t;
  pthread_create(&t, NULL, idle_after_runs, busy);
  pthread_join(t, NULL);
  for (int b = 0; b < NN_BACKEND_COUNT; b++) {
    fprintf(stderr, "  %s: %d helpers busy after the runs, %d with a shared budget\n",
            nn_backend_name((nn_backend)b), busy[2 * b], busy[2 * b + 1]);
    CHECK_EQ_INT(busy[2 * b], 0);
    CHECK_EQ_INT(busy[2 * b + 1], 0);
  }
  fprintf(stderr, "  onednn with a shared budget: %d helper threads left\n", omp_pool_left);
  /* The OpenMP pool was ended. Fewer threads than at the start is no
   * leftover: a thread of an earlier test that was still exiting when the
   * count was taken has gone since (seen on a loaded machine). */
  CHECK(omp_pool_left <= 0);
}

/* ---- the adaptive choice, on a stand-in backend --------------------------- */

typedef struct fake {
  double ms[2]; /* a run's time on 1 thread and on n */
  float buf[4];
} fake;

static fake the_fake;

static int fake_create(const nn_graph *g, nn_threads *th, nn_precision prec, void **state) {
  (void)prec;
  (void)g, (void)th;
  *state = &the_fake;
  return FK_OK;
}
static float *fake_input(void *s) { return ((fake *)s)->buf; }
static int fake_run(void *s, int threads) {
  sleep_ms(((fake *)s)->ms[threads > 1]);
  return FK_OK;
}
static const float *fake_output(const void *s, int i) { return ((const fake *)s)->buf + i; }
static void fake_free(void *s) { (void)s; }
static const nn_backend_ops fake_ops = {
    .name = "fake", .create = fake_create, .input = fake_input, .run = fake_run, .output = fake_output,
    .free = fake_free};

/* Runs `runs` times with runs taking ms_serial / ms_parallel; returns how
 * many ran on 2 threads. */
static int parallel_runs(double ms_serial, double ms_parallel, int runs) {
  nn_graph *g = nn_graph_new(1, 1, 4);
  nn_mark_output(g, 0);
  nn_threads *th = NULL;
  nn_runtime *rt = NULL;
  the_fake.ms[0] = ms_serial;
  the_fake.ms[1] = ms_parallel;
  CHECK_EQ_INT(nn_threads_new(2, NULL, &th), FK_OK);
  CHECK_EQ_INT(nn_runtime_new_ops(g, &fake_ops, th, NN_PREC_F32, &rt), FK_OK);
  int par = 0;
  for (int i = 0; rt && i < runs; i++) {
    CHECK_EQ_INT(nn_runtime_run(rt), FK_OK);
    par += nn_runtime_last_threads(rt) == 2;
  }
  nn_runtime_free(rt);
  nn_threads_free(th);
  nn_graph_free(g);
  return par;
}

static void test_adaptive_runs_in_parallel_when_that_is_faster(void) {
  /* 10x apart and long enough that a loaded machine's late wake-ups (a few
   * ms) cannot make the parallel runs look slower */
  int par = parallel_runs(20.0, 2.0, 100);
  fprintf(stderr, "  serial 20 ms, parallel 2 ms: %d of 100 runs parallel\n", par);
  CHECK(par >= 90);
}

/* The collapse: parallel runs 20x slower. After learning, probes of the
 * parallel mode are spaced so that they cost a small share of the time. */
static void test_adaptive_runs_serially_when_parallel_collapses(void) {
  int par = parallel_runs(1.0, 20.0, 300);
  fprintf(stderr, "  serial 1 ms, parallel 20 ms: %d of 300 runs parallel\n", par);
  CHECK(par <= 6);
}

static void test_adaptive_follows_a_change_of_load(void) {
  nn_graph *g = nn_graph_new(1, 1, 4);
  nn_mark_output(g, 0);
  nn_threads *th = NULL;
  nn_runtime *rt = NULL;
  CHECK_EQ_INT(nn_threads_new(2, NULL, &th), FK_OK);
  CHECK_EQ_INT(nn_runtime_new_ops(g, &fake_ops, th, NN_PREC_F32, &rt), FK_OK);
  int par_quiet = 0, par_loaded = 0;
  the_fake.ms[0] = 4.0, the_fake.ms[1] = 1.0; /* quiet */
  for (int i = 0; rt && i < 60; i++) {
    nn_runtime_run(rt);
    par_quiet += i >= 30 && nn_runtime_last_threads(rt) == 2;
  }
  the_fake.ms[0] = 3.0, the_fake.ms[1] = 30.0; /* a competing load starts */
  for (int i = 0; rt && i < 60; i++) {
    nn_runtime_run(rt);
    par_loaded += i >= 10 && nn_runtime_last_threads(rt) == 2;
  }
  fprintf(stderr, "  quiet: %d of the last 30 runs parallel; loaded: %d of the last 50\n", par_quiet,
          par_loaded);
  CHECK(par_quiet >= 26); /* a probe or two, and slack for a loaded machine's sleeps */
  CHECK(par_loaded <= 4);
  nn_runtime_free(rt);
  nn_threads_free(th);
  nn_graph_free(g);
}

/* A second runtime of the same session starts from what the first learned:
 * under the collapse it makes no parallel run at all, and on a quiet
 * machine it skips the one-thread run it would learn from. */
static void test_a_session_learns_the_load_once(void) {
  nn_graph *g = nn_graph_new(1, 1, 4);
  nn_mark_output(g, 0);
  for (int quiet = 0; quiet < 2; quiet++) {
    nn_threads *th = NULL;
    nn_runtime *a = NULL, *b = NULL;
    CHECK_EQ_INT(nn_threads_new(2, NULL, &th), FK_OK);
    CHECK_EQ_INT(nn_runtime_new_ops(g, &fake_ops, th, NN_PREC_F32, &a), FK_OK);
    CHECK_EQ_INT(nn_runtime_new_ops(g, &fake_ops, th, NN_PREC_F32, &b), FK_OK);
    the_fake.ms[0] = quiet ? 8.0 : 1.0; /* wide margins: a's few runs must read */
    the_fake.ms[1] = quiet ? 1.0 : 20.0; /* the same on a loaded machine */
    for (int i = 0; a && i < 6; i++) nn_runtime_run(a);
    int other = 0; /* runs of b on the count that is slower here */
    for (int i = 0; b && i < 25; i++) {
      nn_runtime_run(b);
      other += (nn_runtime_last_threads(b) == 2) != quiet;
    }
    fprintf(stderr, "  %s: the second runtime made %d of 25 runs on the slower count\n",
            quiet ? "quiet" : "collapse", other);
    CHECK_EQ_INT(other, 0);
    nn_runtime_free(a);
    nn_runtime_free(b);
    nn_threads_free(th);
  }
  nn_graph_free(g);
}

/* ---- sessions ---------------------------------------------------------------- */

static void *session_runs(void *p) {
  int *gained = p;
  fk_models *m = NULL;
  fk_options o;
  fk_options_init(&o);
  o.threads = 2;
  *gained = -1;
  if (fk_models_open(NULL, FK_NET_SSD | FK_NET_LANDMARKS | FK_NET_RESNET128, &m) != FK_OK) {
    fk_models_free(m);
    return NULL;
  }
  fk_image img;
  fk_session *s = NULL;
  int before = thread_count();
  if (fk_image_load(tu_fixture("face_a1.png"), 0, &img) == FK_OK) {
    if (fk_session_new(m, &o, &s) == FK_OK) {
      fk_face f;
      int n = 0;
      for (int i = 0; i < 3; i++) fk_faces(s, &img, &f, 1, &n);
      *gained = thread_count() - before;
    }
    fk_image_free(&img);
  }
  fk_session_free(s);
  fk_models_free(m);
  return NULL;
}

static void test_two_thread_session_starts_at_most_one_helper(void) {
  int gained = -1;
  pthread_t t;
  pthread_create(&t, NULL, session_runs, &gained);
  pthread_join(t, NULL);
  fprintf(stderr, "  2-thread session: %d new threads\n", gained);
  CHECK(gained >= 0 && gained <= 1);
}

/* fk_names builds each caller's list in the caller's buffer: the CLI's and
 * the server's messages once shared one static buffer that the first
 * caller filled, unlocked, while other workers read it. */
static void *names_loop(void *p) {
  int *bad = p;
  for (int i = 0; i < 2000; i++) {
    char buf[64];
    size_t n = fk_names(fk_model_name, buf, sizeof buf);
    *bad += n != strlen("resnet128, mbf512, fused") || strcmp(buf, "resnet128, mbf512, fused");
  }
  return NULL;
}

static void test_name_lists_are_the_callers_own(void) {
  pthread_t t[8];
  int bad[8] = {0};
  for (int i = 0; i < 8; i++) pthread_create(&t[i], NULL, names_loop, &bad[i]);
  for (int i = 0; i < 8; i++) {
    pthread_join(t[i], NULL);
    CHECK_EQ_INT(bad[i], 0);
  }
  char small[8];
  CHECK(fk_names(fk_detector_name, small, sizeof small) == strlen("ssd, tiny, rfb320, blazeface"));
  CHECK(!strcmp(small, "ssd, ti")); /* cut to the buffer, NUL-terminated */
}

int main(void) {
  RUN(test_name_lists_are_the_callers_own);
  RUN(test_one_thread_runtimes_start_no_thread);
  RUN(test_two_thread_runtimes_start_at_most_one_helper);
  RUN(test_budget_of_one_core_keeps_runs_serial);
  RUN(test_helpers_leave_the_cores_between_runs);
  RUN(test_adaptive_runs_in_parallel_when_that_is_faster);
  RUN(test_adaptive_runs_serially_when_parallel_collapses);
  RUN(test_adaptive_follows_a_change_of_load);
  RUN(test_a_session_learns_the_load_once);
  RUN(test_two_thread_session_starts_at_most_one_helper);
  return tu_summary();
}
