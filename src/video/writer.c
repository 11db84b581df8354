/*
 * writer.c - fkv_writer: the annotated-video sink on a thread of its own,
 * so that encoding (RGB to YUV, then H.264) overlaps the analysis of the
 * next frames instead of following it.
 *
 * The analysis thread takes a free frame buffer (fkv_writer_next), copies
 * and draws into it, and queues it (fkv_writer_push); the writer thread
 * encodes the queued frames one by one in the order they were queued. At
 * most `depth` frames wait: a full queue blocks the analysis (files lose
 * nothing; a live source drops at the source, as it did before, because
 * the analysis takes its frames later). The sink's first error stops the
 * encoding; the next push returns it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/error.h"
#include "video/video.h"

#define MAX_DEPTH 16

typedef struct slot {
  fk_image img;   /* owned: reused for the next frames */
  double pts;
} slot;

struct fkv_writer {
  fkv_sink *sink;
  pthread_t thread;
  int started;
  pthread_mutex_t mu;
  pthread_cond_t have_frame, have_room;
  slot q[MAX_DEPTH];
  int depth, head, n;  /* q[head] .. q[head + n - 1] wait; q[head] may be encoding */
  int filling;         /* a slot handed out by next, not yet pushed */
  int done;            /* no more frames */
  int status;          /* the sink's first error */
  int64_t written;
  double encode_ms;
  char err[FKV_ERRMSG_MAX];
};

/* Encodes the queued frames until finish says done and the queue is empty. */
static void *encode_loop(void *p) {
  fkv_writer *w = p;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (w->n == 0 && !w->done) pthread_cond_wait(&w->have_frame, &w->mu);
    if (w->n == 0) break;
    slot *s = &w->q[w->head];
    int failed = w->status != FK_OK;
    pthread_mutex_unlock(&w->mu);
    /* the slot stays queued while it is read: next cannot hand it out */
    double t0 = fk_now_ms();
    int rc = failed ? FK_OK : fkv_sink_write(w->sink, &s->img, s->pts);
    double ms = fk_now_ms() - t0;
    pthread_mutex_lock(&w->mu);
    w->encode_ms += ms;
    if (rc && !w->status) {
      w->status = rc;
      snprintf(w->err, sizeof w->err, "%s", fkv_sink_errmsg(w->sink));
    }
    w->written = fkv_sink_frames(w->sink);
    w->head = (w->head + 1) % w->depth;
    w->n--;
    pthread_cond_signal(&w->have_room);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

int fkv_writer_start(fkv_sink *sink, int depth, fkv_writer **out) {
  fkv_writer *w = calloc(1, sizeof *w);
  *out = w;
  if (!w) return fkv_sink_close(sink, NULL, 0), FK_ENOMEM;
  w->sink = sink;
  w->depth = depth < 1 ? 1 : depth > MAX_DEPTH ? MAX_DEPTH : depth;
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->have_frame, NULL);
  pthread_cond_init(&w->have_room, NULL);
  if (pthread_create(&w->thread, NULL, encode_loop, w))
    return fk_fail(w->err, sizeof w->err, FK_ENOMEM, "cannot start the encoder thread");
  w->started = 1;
  return FK_OK;
}

const char *fkv_writer_errmsg(const fkv_writer *w) {
  if (!w) return "out of memory";
  return w->err[0] ? w->err : "ok";
}

int fkv_writer_next(fkv_writer *w, int width, int height, fk_image **img) {
  *img = NULL;
  pthread_mutex_lock(&w->mu);
  while (w->n == w->depth && !w->status) pthread_cond_wait(&w->have_room, &w->mu);
  int rc = w->status;
  slot *s = &w->q[(w->head + w->n) % w->depth];
  pthread_mutex_unlock(&w->mu);
  if (rc) return rc;
  /* the free slot is the producer's alone until it is pushed */
  if (s->img.width != width || s->img.height != height || !s->img.rgb) {
    fk_image_free(&s->img);
    uint8_t *p = malloc((size_t)width * height * 3);
    if (!p) {
      pthread_mutex_lock(&w->mu); /* the writer thread may be failing too */
      if (!w->status) w->status = fk_fail(w->err, sizeof w->err, FK_ENOMEM, "out of memory");
      rc = w->status;
      pthread_mutex_unlock(&w->mu);
      return rc;
    }
    s->img = (fk_image){width, height, p};
  }
  w->filling = 1;
  *img = &s->img;
  return FK_OK;
}

int fkv_writer_push(fkv_writer *w, double pts) {
  pthread_mutex_lock(&w->mu);
  if (w->filling) {
    w->q[(w->head + w->n) % w->depth].pts = pts;
    w->n++;
    w->filling = 0;
    pthread_cond_signal(&w->have_frame);
  }
  int rc = w->status;
  pthread_mutex_unlock(&w->mu);
  return rc;
}

void fkv_writer_counts(fkv_writer *w, int64_t *written, double *encode_ms) {
  pthread_mutex_lock(&w->mu);
  *written = w->written;
  *encode_ms = w->encode_ms;
  pthread_mutex_unlock(&w->mu);
}

int fkv_writer_finish(fkv_writer *w, int64_t *written, double *encode_ms, char *err, size_t errlen) {
  if (!w) return FK_OK;
  if (w->started) {
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->have_frame);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
  }
  double t0 = fk_now_ms();
  char sink_err[FKV_ERRMSG_MAX] = "";
  int rc = fkv_sink_close(w->sink, sink_err, sizeof sink_err);
  w->encode_ms += fk_now_ms() - t0;
  if (!w->status && rc) w->status = rc, snprintf(w->err, sizeof w->err, "%s", sink_err);
  int status = w->status;
  if (status && err) snprintf(err, errlen, "%s", w->err);
  if (written) *written = w->written;
  if (encode_ms) *encode_ms = w->encode_ms;
  for (int i = 0; i < MAX_DEPTH; i++) fk_image_free(&w->q[i].img);
  pthread_cond_destroy(&w->have_frame);
  pthread_cond_destroy(&w->have_room);
  pthread_mutex_destroy(&w->mu);
  free(w);
  return status;
}
