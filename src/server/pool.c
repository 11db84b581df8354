/*
 * pool.c - the threads behind the HTTP side: the bounded job queue and its
 * workers, each worker's sessions, and the single writer.
 *
 * Workers take jobs in arrival order. Each keeps a few sessions, one per
 * set of pipeline options asked for (options a session takes in place,
 * fk_session_set_options, reuse one) (made on first use, the least recently
 * used dropped past SRV_SESSIONS); the server's default options and the
 * index's are made, and run once on blank images, before the port opens,
 * so that no request pays for creating runtimes or first-run allocations.
 * A worker hands the connection back to MHD (MHD_resume_connection) as the
 * very last thing it does with a job: from then on MHD's thread owns it.
 *
 * The writer owns the read-write store. Workers hand it a function to run
 * (srv_write) and wait for it: a register or delete is committed, and the
 * shared vectors updated, before the worker answers. Between operations it
 * watches for commits by other processes (`facekit index` on the same
 * file or PostgreSQL database) and refreshes the vectors within ~50 ms of
 * one, and every --refresh-ms anyway.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "base/fpenv.h"
#include "server/server.h"

/* ---- sessions ------------------------------------------------------------ */

fk_session *srv_session(srv_worker *w, const fk_options *opt, srv_error *e) {
  srv_session_slot *lru = &w->slots[0];
  for (int i = 0; i < SRV_SESSIONS; i++) {
    srv_session_slot *sl = &w->slots[i];
    if (sl->s && fk_options_equal(&sl->opt, opt)) {
      sl->last_used = ++w->tick;
      return sl->s;
    }
    if (!sl->s || (lru->s && sl->last_used < lru->last_used)) lru = sl;
  }
  /* options a session takes in place (FK_OPT_LIVE: min_score, flip, ...)
   * need no new one, however many values clients send */
  for (int i = 0; i < SRV_SESSIONS; i++) {
    srv_session_slot *sl = &w->slots[i];
    if (sl->s && fk_session_set_options(sl->s, opt) == FK_OK) {
      sl->opt = *opt;
      sl->last_used = ++w->tick;
      return sl->s;
    }
  }
  fk_session_free(lru->s);
  lru->s = NULL;
  fk_session *s;
  if (fk_session_new(w->srv->models, opt, &s)) {
    fprintf(stderr, "facekit serve: worker %d: session: %s\n", w->id, fk_session_errmsg(s));
    fk_session_free(s);
    srv_fail(e, 500, "internal", "cannot create an inference session");
    return NULL;
  }
  lru->s = s;
  lru->opt = *opt;
  lru->last_used = ++w->tick;
  return s;
}

/* Runs every net of s once, on blank images at each automatic detector
 * size, so that its runtimes exist and have made their first allocations. */
static void warm_up(fk_session *s) {
  static const int sides[] = {256, 384, 512};
  fk_face *faces = calloc(8, sizeof *faces);
  for (size_t i = 0; faces && i < sizeof sides / sizeof *sides; i++) {
    fk_image img = {sides[i], sides[i], malloc((size_t)sides[i] * sides[i] * 3)};
    if (!img.rgb) break;
    memset(img.rgb, 128, (size_t)sides[i] * sides[i] * 3);
    int n = 0;
    fk_detect(s, &img, faces, 8, &n);
    if (i == 0 && fk_whole_image_face(s, &img, 1, &faces[0]) == FK_OK) {
      fk_attributes a;
      fk_analyze(s, &img, &faces[0], FK_ACTION_ALL, &a);
    }
    free(img.rgb);
  }
  free(faces);
}

/* ---- workers -------------------------------------------------------------- */

static void *worker_main(void *arg) {
  srv_worker *w = arg;
  srv *s = w->srv;
  fk_fpenv_set(1); /* a thread of ours: it flushes denormals throughout */
  for (;;) {
    pthread_mutex_lock(&s->mu);
    while (!s->head && !s->stop_workers) pthread_cond_wait(&s->more, &s->mu);
    srv_job *j = s->head;
    if (!j) {
      pthread_mutex_unlock(&s->mu);
      break;
    }
    s->head = j->next;
    if (!s->head) s->tail = NULL;
    s->queued--;
    s->running++;
    pthread_mutex_unlock(&s->mu);
    double t = fk_now_s();
    srv_handle(j, w);
    atomic_fetch_add(&s->metrics.jobs_done, 1);
    atomic_fetch_add(&s->metrics.job_micros, (unsigned long long)((fk_now_s() - t) * 1e6));
    pthread_mutex_lock(&s->mu);
    s->running--;
    pthread_mutex_unlock(&s->mu);
    MHD_resume_connection(j->conn);
  }
  return NULL;
}

static int worker_init(srv *s, srv_worker *w, int id, char *err, size_t errlen) {
  w->srv = s;
  w->id = id;
  srv_error e = {0};
  fk_session *a = srv_session(w, &s->cfg.opt, &e), *b = s->cfg.db ? srv_session(w, &s->index_opt, &e) : a;
  if (!a || !b) {
    snprintf(err, errlen, "worker %d: cannot create its sessions", id);
    return -1;
  }
  warm_up(a);
  if (b != a) warm_up(b);
  if (s->cfg.db && fk_store_open(s->cfg.db, FK_STORE_READ, &w->lookup)) {
    snprintf(err, errlen, "%s", fk_store_errmsg(w->lookup));
    return -1;
  }
  return 0;
}

static void worker_free(srv_worker *w) {
  for (int i = 0; i < SRV_SESSIONS; i++) fk_session_free(w->slots[i].s);
  fk_store_close(w->lookup);
  memset(w, 0, sizeof *w);
}

int srv_pool_start(srv *s, char *err, size_t errlen) {
  s->workers = calloc((size_t)s->cfg.workers, sizeof *s->workers);
  if (!s->workers) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  /* Sessions are made one worker after another: creating them in parallel
   * would only fight over the cores. */
  for (int i = 0; i < s->cfg.workers; i++)
    if (worker_init(s, &s->workers[i], i, err, errlen)) return -1;
  for (int i = 0; i < s->cfg.workers; i++, s->nworkers++)
    if (pthread_create(&s->workers[i].th, NULL, worker_main, &s->workers[i])) {
      snprintf(err, errlen, "cannot start worker threads");
      return -1;
    }
  return 0;
}

int srv_pool_submit(srv *s, srv_job *j) {
  pthread_mutex_lock(&s->mu);
  if (s->queued >= s->cfg.queue || s->stop_workers) {
    pthread_mutex_unlock(&s->mu);
    return -1;
  }
  /* Suspended before any worker can see it, so its resume never comes
   * first. */
  MHD_suspend_connection(j->conn);
  j->next = NULL;
  if (s->tail) s->tail->next = j;
  else s->head = j;
  s->tail = j;
  s->queued++;
  pthread_cond_signal(&s->more);
  pthread_mutex_unlock(&s->mu);
  return 0;
}

void srv_pool_stop(srv *s) {
  pthread_mutex_lock(&s->mu);
  s->stop_workers = 1;
  pthread_cond_broadcast(&s->more);
  pthread_mutex_unlock(&s->mu);
  for (int i = 0; i < s->nworkers; i++) pthread_join(s->workers[i].th, NULL);
  for (int i = 0; s->workers && i < s->cfg.workers; i++) worker_free(&s->workers[i]); /* made or not */
  free(s->workers);
  s->workers = NULL;
  s->nworkers = 0;
}

/* ---- the writer ----------------------------------------------------------------- */

typedef struct srv_write_op {
  int (*fn)(fk_store *st, void *arg);
  void *arg;
  int rc, done;
  struct srv_write_op *next;
} srv_write_op;

int srv_write(srv *s, int (*fn)(fk_store *st, void *arg), void *arg) {
  srv_write_op op = {fn, arg, 0, 0, NULL};
  pthread_mutex_lock(&s->wmu);
  srv_write_op **tail = &s->ops;
  while (*tail) tail = &(*tail)->next;
  *tail = &op;
  pthread_cond_signal(&s->wmore);
  while (!op.done) pthread_cond_wait(&s->wdone, &s->wmu);
  pthread_mutex_unlock(&s->wmu);
  return op.rc;
}

/* Every WATCH_MS idle, the writer looks for other processes' commits
 * (fk_store_wait_change: PostgreSQL's NOTIFY, SQLite's data version) and
 * refreshes at once when there is one, and every --refresh-ms anyway. */
#define WATCH_MS 50

static void *writer_main(void *arg) {
  srv *s = arg;
  fk_fpenv_set(1); /* a thread of ours: it flushes denormals throughout */
  int reported = 0;
  double last_refresh = fk_now_s();
  pthread_mutex_lock(&s->wmu);
  for (;;) {
    if (!s->ops && !s->stop_writer) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += WATCH_MS * 1000000L;
      if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
      if (pthread_cond_timedwait(&s->wmore, &s->wmu, &ts) == ETIMEDOUT && !s->ops) {
        pthread_mutex_unlock(&s->wmu);
        int changed = fk_store_wait_change(s->writer, 0);
        if (changed != 0 || (fk_now_s() - last_refresh) * 1000 >= s->cfg.refresh_ms) {
          int rc = changed < 0 ? changed : fk_store_refresh(s->writer);
          if (rc && !reported) fprintf(stderr, "facekit serve: refreshing the index: %s\n", fk_store_errmsg(s->writer));
          reported = rc != 0;
          last_refresh = fk_now_s();
        }
        pthread_mutex_lock(&s->wmu);
        continue;
      }
    }
    srv_write_op *op = s->ops;
    if (!op) {
      if (s->stop_writer) break;
      continue;
    }
    s->ops = op->next;
    pthread_mutex_unlock(&s->wmu);
    int rc = op->fn(s->writer, op->arg);
    pthread_mutex_lock(&s->wmu);
    op->rc = rc;
    op->done = 1;
    pthread_cond_broadcast(&s->wdone);
  }
  pthread_mutex_unlock(&s->wmu);
  return NULL;
}

int srv_writer_start(srv *s, char *err, size_t errlen) {
  if (pthread_create(&s->writer_th, NULL, writer_main, s)) {
    snprintf(err, errlen, "cannot start the writer thread");
    return -1;
  }
  s->writer_running = 1;
  return 0;
}

void srv_writer_stop(srv *s) {
  if (!s->writer_running) return;
  pthread_mutex_lock(&s->wmu);
  s->stop_writer = 1;
  pthread_cond_signal(&s->wmore);
  pthread_mutex_unlock(&s->wmu);
  pthread_join(s->writer_th, NULL);
  s->writer_running = 0;
}
