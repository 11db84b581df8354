/*
 * run.c - fkv_run: the loop behind `facekit stream` and bench_stream.
 * Three stages on three threads: the source's reader thread decodes ahead
 * (source.c), this thread feeds every frame to the engine and draws it into
 * a copy when there is an output video, and the writer's thread encodes
 * the copies in order (writer.c). Between them, bounded queues: a file
 * waits for the slowest stage and loses no frame; a live source keeps only
 * its newest frame, as before, and counts the others dropped. Events (source events, periodic
 * stats, the end) are all emitted from this thread.
 *
 * A lost source ends every open track (time restarts after a reconnect,
 * so nothing can be matched across the gap). Canceling (a signal) ends
 * the tracks, finishes the output video and reports "interrupted": a
 * clean end, not an error.
 */
#include <stdio.h>
#include <string.h>

#include "base/clock.h"
#include "video/video.h"

/* Annotated frames that may wait for the encoder: enough to ride out an
 * expensive analysis frame (a detection with embeddings) while the encoder
 * keeps going (0.9 MB a frame at 640x480) */
#define WRITER_DEPTH 6

void fkv_run_options_init(fkv_run_options *o) {
  memset(o, 0, sizeof *o);
  fkv_source_options_init(&o->source);
  fkv_engine_options_init(&o->engine);
  o->stats_every = 5;
}

/* The run's state: what it owns and the counters of the stats interval. */
typedef struct runner {
  const fkv_run_options *o;
  fkv_source *src;
  fkv_engine *eng;
  fkv_writer *writer;
  double t0, last_stats;
  double ms_own[FKV_NUM_STAGES];    /* decode, draw: timed here; encode:
                                       the writer's */
  fkv_stats prev;                   /* totals at the last STATS */
  double prev_ms[FKV_NUM_STAGES];
  int64_t frame, frames_written;
  double pts;
} runner;

static void emit(runner *r, fkv_event *ev) {
  ev->frame = r->frame;
  ev->pts = r->pts;
  if (r->o->engine.on_event) r->o->engine.on_event(ev, r->o->engine.user);
}

/* The totals so far; ms_sum gets the summed stage times. */
static void totals(runner *r, fkv_stats *st, double ms_sum[FKV_NUM_STAGES]) {
  memset(st, 0, sizeof *st);
  memset(ms_sum, 0, FKV_NUM_STAGES * sizeof *ms_sum);
  fkv_source_stats ss;
  fkv_source_get_stats(r->src, &ss);
  st->frames_in = ss.decoded;
  st->dropped = ss.dropped;
  st->damaged = ss.damaged;
  st->reconnects = ss.reconnects;
  if (r->writer) fkv_writer_counts(r->writer, &r->frames_written, &r->ms_own[FKV_STAGE_ENCODE]);
  for (int i = 0; i < FKV_NUM_STAGES; i++) ms_sum[i] = r->ms_own[i];
  fkv_engine_add_stats(r->eng, st, ms_sum);
  st->frames_written = r->frames_written;
  st->seconds = (fk_now_ms() - r->t0) / 1e3;
}

/* The stats over an interval: b minus a (tracks_alive is b's). */
static void difference(const fkv_stats *a, const double *ams, const fkv_stats *b, const double *bms,
                       fkv_stats *d) {
  *d = *b;
  d->seconds = b->seconds - a->seconds;
  d->frames_in = b->frames_in - a->frames_in;
  d->frames_out = b->frames_out - a->frames_out;
  d->dropped = b->dropped - a->dropped;
  d->damaged = b->damaged - a->damaged;
  d->reconnects = b->reconnects - a->reconnects;
  d->detections = b->detections - a->detections;
  d->embeddings = b->embeddings - a->embeddings;
  d->searches = b->searches - a->searches;
  d->analyses = b->analyses - a->analyses;
  d->tracks_total = b->tracks_total - a->tracks_total;
  d->frames_written = b->frames_written - a->frames_written;
  d->fps_in = d->seconds > 0 ? d->frames_in / d->seconds : 0;
  d->fps_out = d->seconds > 0 ? d->frames_out / d->seconds : 0;
  for (int i = 0; i < FKV_NUM_STAGES; i++) d->ms[i] = d->frames_out ? (bms[i] - ams[i]) / d->frames_out : 0;
}

static void maybe_stats(runner *r) {
  if (r->o->stats_every <= 0 || fk_now_ms() - r->last_stats < r->o->stats_every * 1e3) return;
  r->last_stats = fk_now_ms();
  fkv_stats now, d;
  double ms[FKV_NUM_STAGES];
  totals(r, &now, ms);
  difference(&r->prev, r->prev_ms, &now, ms, &d);
  r->prev = now;
  memcpy(r->prev_ms, ms, sizeof ms);
  fkv_event ev = {.type = FKV_EV_STATS, .stats = &d};
  emit(r, &ev);
}

/* Analyses one frame and queues its annotated copy for the encoder (the
 * source's buffer is the source's again at the next read). */
static int frame(runner *r, fkv_read *rd, char *err, size_t errlen) {
  r->frame = rd->frame;
  r->pts = rd->pts;
  r->ms_own[FKV_STAGE_DECODE] += rd->decode_ms;
  int rc = fkv_engine_frame(r->eng, &rd->img, rd->frame, rd->pts);
  if (rc) return snprintf(err, errlen, "%s", fkv_engine_errmsg(r->eng)), rc;
  if (r->writer) {
    fk_image *copy;
    if (!(rc = fkv_writer_next(r->writer, rd->img.width, rd->img.height, &copy))) {
      double t0 = fk_now_ms(); /* after the wait for a free buffer */
      memcpy(copy->rgb, rd->img.rgb, (size_t)rd->img.width * rd->img.height * 3);
      fkv_engine_draw(r->eng, copy);
      r->ms_own[FKV_STAGE_DRAW] += fk_now_ms() - t0;
      rc = fkv_writer_push(r->writer, rd->pts);
    }
    if (rc) return snprintf(err, errlen, "%s: %s", r->o->output, fkv_writer_errmsg(r->writer)), rc;
  }
  maybe_stats(r);
  return FK_OK;
}

/* Reads until the end; returns the status and sets *why. */
static int loop(runner *r, const char **why, char *err, size_t errlen) {
  const fkv_run_options *o = r->o;
  int64_t processed = 0;
  for (;;) {
    if (o->cancel && *o->cancel) return *why = "interrupted", FK_OK;
    if (o->max_frames > 0 && processed >= o->max_frames) return *why = "max frames", FK_OK;
    fkv_read rd;
    fkv_source_read(r->src, &rd);
    int rc;
    switch (rd.what) {
      case FKV_READ_FRAME:
        if ((rc = frame(r, &rd, err, errlen))) return *why = "error", rc;
        processed++;
        break;
      case FKV_READ_LOST: {
        if ((rc = fkv_engine_end_tracks(r->eng, r->frame, r->pts)))
          return snprintf(err, errlen, "%s", fkv_engine_errmsg(r->eng)), *why = "error", rc;
        fkv_event ev = {.type = FKV_EV_SOURCE_LOST, .read = &rd};
        emit(r, &ev);
        break;
      }
      case FKV_READ_RECONNECTED: {
        fkv_event ev = {.type = FKV_EV_SOURCE_RECONNECTED, .read = &rd};
        emit(r, &ev);
        break;
      }
      default:
        if (rd.error) {
          snprintf(err, errlen, "%s: %s", o->source.url, rd.reason);
          *why = "error";
          return rd.error;
        }
        *why = o->cancel && *o->cancel ? "interrupted" : "end of stream";
        return FK_OK;
    }
  }
}

int fkv_run(fk_session *s, fkv_source *src, const fkv_run_options *o, fkv_stats *total, char *err,
            size_t errlen) {
  runner r;
  memset(&r, 0, sizeof r);
  r.o = o;
  r.t0 = r.last_stats = fk_now_ms();
  err[0] = '\0';
  int rc = FK_OK;
  if (!(r.src = src)) {
    fkv_source_options so = o->source;
    if (!so.cancel) so.cancel = o->cancel;
    if ((rc = fkv_source_open(&so, &r.src))) {
      snprintf(err, errlen, "%s", fkv_source_errmsg(r.src));
      fkv_source_close(r.src);
      return rc;
    }
  }
  const fkv_source_info *info = fkv_source_get_info(r.src);
  if ((rc = fkv_engine_new(s, &o->engine, &r.eng))) {
    snprintf(err, errlen, "%s", fkv_engine_errmsg(r.eng));
    goto out;
  }
  if (o->output) {
    fkv_sink *sink;
    if ((rc = fkv_sink_open(o->output, info->width, info->height, info->fps, &sink))) {
      snprintf(err, errlen, "%s", fkv_sink_errmsg(sink));
      fkv_sink_close(sink, NULL, 0);
      goto out;
    }
    if ((rc = fkv_writer_start(sink, WRITER_DEPTH, &r.writer))) {
      snprintf(err, errlen, "%s: %s", o->output, fkv_writer_errmsg(r.writer));
      goto out;
    }
  }
  fkv_event open_ev = {.type = FKV_EV_SOURCE_OPEN, .source = info};
  emit(&r, &open_ev);
  const char *why = "end of stream";
  char loop_err[FKV_ERRMSG_MAX] = "";
  rc = loop(&r, &why, loop_err, sizeof loop_err);
  /* Whatever stopped the loop, close what is open so the output plays. */
  int rc2 = fkv_engine_end_tracks(r.eng, r.frame, r.pts);
  if (!rc && rc2) rc = rc2, snprintf(loop_err, sizeof loop_err, "%s", fkv_engine_errmsg(r.eng));
  if (r.writer) {
    char sink_err[FKV_ERRMSG_MAX] = "";
    rc2 = fkv_writer_finish(r.writer, &r.frames_written, &r.ms_own[FKV_STAGE_ENCODE], sink_err, sizeof sink_err);
    if (!rc && rc2) rc = rc2, snprintf(loop_err, sizeof loop_err, "%s", sink_err);
    r.writer = NULL;
  }
  fkv_stats sum, zero, st;
  double ms[FKV_NUM_STAGES], zero_ms[FKV_NUM_STAGES];
  memset(&zero, 0, sizeof zero);
  memset(zero_ms, 0, sizeof zero_ms);
  totals(&r, &sum, ms);
  difference(&zero, zero_ms, &sum, ms, &st); /* means over the whole run */
  if (total) *total = st;
  fkv_event end = {.type = FKV_EV_END, .stats = &st, .end_reason = why};
  emit(&r, &end);
  if (rc) snprintf(err, errlen, "%s", loop_err);
out:
  fkv_writer_finish(r.writer, NULL, NULL, NULL, 0);
  fkv_engine_free(r.eng);
  fkv_source_close(r.src);
  return rc;
}
