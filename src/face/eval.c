/*
 * eval.c - what the per-image evaluations (eval_lfw.c, eval_gender.c)
 * share: a loop over images on worker threads, each with its own sessions
 * over the shared models, with serialized progress and error callbacks and
 * cancellation; and reading a text file of lines.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "base/fpenv.h"
#include "face/eval.h"

void fk_eval_options_init(fk_eval_options *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
}

typedef struct loop {
  const fk_models *m;
  const fk_options *opts;
  int nopts, n;
  fk_image_fn fn;
  void *user;
  const fk_eval_options *eo;
  atomic_int next, done, failed;
  pthread_mutex_t mu;  /* serializes the callbacks */
  char *err;
  size_t errlen;
} loop;

void fk_eval_report(fk_eval_ctx *c, const char *path, const char *message) {
  loop *l = c->loop;
  if (!l->eo || !l->eo->on_error) return;
  pthread_mutex_lock(&l->mu);
  l->eo->on_error(path, message, l->eo->user);
  pthread_mutex_unlock(&l->mu);
}

static int canceled(const loop *l) { return l->eo && l->eo->cancel && *l->eo->cancel; }

static void *worker(void *arg) {
  loop *l = arg;
  fk_fpenv_set(1); /* a thread of ours: it flushes denormals throughout */
  fk_eval_ctx c = {.loop = l};
  int rc = FK_OK, k;
  for (k = 0; k < l->nopts && rc == FK_OK; k++) {
    fk_options o = l->opts[k];
    o.threads = 1;
    rc = fk_session_new(l->m, &o, &c.s[k]);
  }
  if (rc != FK_OK) {
    pthread_mutex_lock(&l->mu);
    if (!atomic_exchange(&l->failed, 1))
      fk_fail(l->err, l->errlen, rc, "%s", fk_session_errmsg(c.s[k - 1]));
    pthread_mutex_unlock(&l->mu);
  }
  int i;
  while (rc == FK_OK && !atomic_load(&l->failed) && !canceled(l) && (i = atomic_fetch_add(&l->next, 1)) < l->n) {
    l->fn(&c, i, l->user);
    int d = atomic_fetch_add(&l->done, 1) + 1;
    if (l->eo && l->eo->progress) {
      pthread_mutex_lock(&l->mu);
      l->eo->progress(d, l->n, l->eo->user);
      pthread_mutex_unlock(&l->mu);
    }
  }
  for (k = 0; k < l->nopts; k++) fk_session_free(c.s[k]);
  return NULL;
}

int fk_eval_images(const fk_models *m, const fk_options *opts, int nopts, int n, fk_image_fn fn, void *user,
                   const fk_eval_options *eo, char *err, size_t errlen) {
  if (nopts < 1 || nopts > FK_EVAL_MAX_SESSIONS || n < 0)
    return fk_fail(err, errlen, FK_EINVAL, "bad evaluation loop arguments");
  int jobs = eo && eo->jobs > 0 ? eo->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (jobs < 1) jobs = 1;
  if (jobs > 256) jobs = 256;
  if (jobs > n) jobs = n > 0 ? n : 1;
  loop l = {.m = m, .opts = opts, .nopts = nopts, .n = n, .fn = fn, .user = user, .eo = eo,
            .err = err, .errlen = errlen};
  pthread_mutex_init(&l.mu, NULL);
  pthread_t th[256];
  int started = 0;
  for (int j = 0; j < jobs; j++)
    if (pthread_create(&th[started], NULL, worker, &l) == 0) started++;
  for (int j = 0; j < started; j++) pthread_join(th[j], NULL);
  pthread_mutex_destroy(&l.mu);
  if (!started) return fk_fail(err, errlen, FK_ENOMEM, "cannot start worker threads");
  if (atomic_load(&l.failed)) return FK_EBACKEND;
  if (atomic_load(&l.done) != n) return fk_fail(err, errlen, FK_ECANCELED, "stopped on request");
  return FK_OK;
}

int fk_eval_read_lines(const char *path, char ***lines, int *n, char *err, size_t errlen) {
  *lines = NULL;
  *n = 0;
  FILE *f = fopen(path, "r");
  if (!f) return fk_fail(err, errlen, FK_ENOENT, "%s: cannot open", path);
  char buf[4096];
  int cap = 0, rc = FK_OK;
  while (rc == FK_OK && fgets(buf, sizeof buf, f)) {
    buf[strcspn(buf, "\r\n")] = '\0';
    if (*n == cap) {
      int nc = cap ? cap * 2 : 1024;
      char **grown = realloc(*lines, (size_t)nc * sizeof *grown);
      if (!grown) {
        rc = fk_fail(err, errlen, FK_ENOMEM, "out of memory");
        break;
      }
      *lines = grown;
      cap = nc;
    }
    if (!((*lines)[*n] = strdup(buf))) rc = fk_fail(err, errlen, FK_ENOMEM, "out of memory");
    else (*n)++;
  }
  if (rc == FK_OK && ferror(f)) rc = fk_fail(err, errlen, FK_EIO, "%s: read error", path);
  fclose(f);
  if (rc) fk_eval_free_lines(*lines, *n), *lines = NULL, *n = 0;
  return rc;
}

void fk_eval_free_lines(char **lines, int n) {
  for (int i = 0; i < n; i++) free(lines[i]);
  free(lines);
}
