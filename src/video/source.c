/*
 * source.c - fkv_source: every kind of video input through FFmpeg's
 * libraries (libavformat demuxes, libavcodec decodes, libswscale converts
 * to packed RGB), read on a thread of its own so that decoding overlaps
 * the analysis of the previous frame.
 *
 * The reader thread hands frames over through a small queue:
 *   - files (and stdin, image sequences, HTTP downloads of a file) are
 *     processed frame by frame: the reader waits while FILE_QUEUE frames
 *     are pending, so nothing is ever dropped;
 *   - live sources (network streams, webcams, --realtime files) keep only
 *     the newest frame: a frame not yet taken when the next one is decoded
 *     is replaced and counted as dropped, so latency stays one frame.
 * Control items (lost, reconnected, end) are queued in order with the
 * frames and never dropped.
 *
 * Network sources: every blocking FFmpeg call is bounded by a deadline
 * checked in the interrupt callback (the first open, then `timeout`
 * seconds without a packet), which also makes cancellation prompt. A
 * source that fails or ends early is reported lost, closed and reopened
 * with exponential backoff until it comes back or the run is canceled.
 * "Ends early": a stream with a known duration (a served file) ends when
 * its timestamps reach that duration; anything else ending is a loss.
 *
 * Damaged input: packets the decoder rejects and frames it flags as
 * corrupt (decode_error_flags, AV_FRAME_FLAG_CORRUPT) are skipped and
 * counted; the frame numbers of what follows still count them.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libavcodec/avcodec.h>
#include <libavdevice/version.h>
#include <libavformat/avformat.h>
#include <libavutil/imgutils.h>
#include <libswscale/swscale.h>

#include "base/error.h"
#include "base/clock.h"
#include "base/fpenv.h"
#include "video/video.h"

#define FILE_QUEUE 4       /* frames decoded ahead of the analysis (files) */
#define QUEUE_CAP 16       /* items: frames plus control items */
#define BACKOFF_FIRST 0.25 /* seconds before the first reconnect attempt */
#define BACKOFF_MAX 8.0
#define OPEN_TIMEOUT_MIN 5.0

typedef struct item {
  fkv_read r;    /* r.img.rgb is a buffer from the pool */
} item;

struct fkv_source {
  fkv_source_options o;
  char url[4096];         /* what FFmpeg opens */
  fkv_source_info info;
  char err[FKV_ERRMSG_MAX];

  /* FFmpeg state: the opening thread's until the reader starts, then the
   * reader's alone. */
  AVFormatContext *fmt;
  AVCodecContext *dec;
  int vstream;
  AVRational tb;
  struct SwsContext *sws;
  AVFrame *frm;
  AVPacket *pkt;
  double deadline_ms;     /* interrupt FFmpeg after this (0 = none) */
  double fps, duration;   /* of the current connection (info: the first's) */
  double conn_first_pts;  /* the first pts of this connection */
  int conn_has_pts;
  double pts_offset;      /* where this connection's pts 0 lands */
  double last_pts;
  int64_t next_frame;
  double wall0_ms;        /* realtime pacing: wall time of pts 0 */
  double pace_pts0;

  /* the queue, under mu */
  pthread_t thread;
  int thread_started;
  pthread_mutex_t mu;
  pthread_cond_t have_item, have_space;
  item q[QUEUE_CAP];
  int qhead, qn, qframes;
  atomic_int stop;        /* the consumer closed */
  fkv_source_stats st;
  uint8_t *pool[QUEUE_CAP + 2];
  size_t pool_size[QUEUE_CAP + 2];
  int npool;

  item cur;               /* the item the consumer holds */
};

/* ---- logging ---------------------------------------------------------------- */

static int log_level = AV_LOG_QUIET;
static _Thread_local char last_log[512];

static void log_cb(void *avcl, int level, const char *fmt, va_list ap) {
  if (level > AV_LOG_WARNING) return;
  char line[512];
  int print = 0; /* no "[h264 @ 0x...]" prefix */
  av_log_format_line(avcl, level, fmt, ap, line, sizeof line, &print);
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
  if (level <= AV_LOG_ERROR && n) snprintf(last_log, sizeof last_log, "%s", line);
  if (level <= log_level) fprintf(stderr, "ffmpeg: %s\n", line);
}

void fkv_log_init(int verbose) {
  log_level = verbose ? AV_LOG_WARNING : AV_LOG_QUIET;
  av_log_set_callback(log_cb);
}

/* ---- helpers ---------------------------------------------------------------- */

#define fail(s, ...) fk_fail((s)->err, sizeof (s)->err, __VA_ARGS__)

/* FFmpeg's message for an error code, with the last logged error line
 * when it says more. */
static void av_reason(int averr, char *buf, size_t n) {
  char e[AV_ERROR_MAX_STRING_SIZE];
  av_strerror(averr, e, sizeof e);
  if (last_log[0] && !strstr(last_log, e)) snprintf(buf, n, "%s (%.300s)", e, last_log);
  else snprintf(buf, n, "%s", e);
  last_log[0] = '\0';
}

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

int fkv_source_kind(const char *url) {
  if (!strcmp(url, "-")) return FKV_KIND_STDIN;
  if (has_prefix(url, "v4l2://") || has_prefix(url, "/dev/video")) return FKV_KIND_WEBCAM;
  const char *colon = strstr(url, "://");
  if (colon && colon > url) {
    if (has_prefix(url, "file://")) return FKV_KIND_FILE;
    return FKV_KIND_NETWORK;
  }
  /* an image2 pattern: %d with optional flags and width, or a glob */
  for (const char *p = strchr(url, '%'); p; p = strchr(p + 1, '%')) {
    const char *q = p + 1;
    while (*q >= '0' && *q <= '9') q++;
    if (*q == 'd') return FKV_KIND_SEQUENCE;
  }
  if (strpbrk(url, "*?")) return FKV_KIND_SEQUENCE;
  return FKV_KIND_FILE;
}

static int interrupt_cb(void *p) {
  fkv_source *s = p;
  if (atomic_load(&s->stop)) return 1;
  if (s->o.cancel && *s->o.cancel) return 1;
  return s->deadline_ms > 0 && fk_now_ms() > s->deadline_ms;
}

static int timed(const fkv_source *s) {
  return s->info.kind == FKV_KIND_NETWORK || s->info.kind == FKV_KIND_WEBCAM;
}

static void arm(fkv_source *s, double seconds) {
  s->deadline_ms = timed(s) ? fk_now_ms() + seconds * 1e3 : 0;
}

static int canceled(const fkv_source *s) {
  return atomic_load(&s->stop) || (s->o.cancel && *s->o.cancel);
}

/* ---- opening ------------------------------------------------------------------ */

static void close_input(fkv_source *s) {
  avcodec_free_context(&s->dec);
  avformat_close_input(&s->fmt);
}

/* The demuxer options for the source's kind. */
static const AVInputFormat *input_options(fkv_source *s, AVDictionary **opts) {
  char v[64];
  const AVInputFormat *ifmt = NULL;
  switch (s->info.kind) {
    case FKV_KIND_NETWORK:
      if (has_prefix(s->url, "rtsp")) av_dict_set(opts, "rtsp_transport", s->o.rtsp_transport, 0);
      /* socket-level timeouts in microseconds, under the interrupt's deadline */
      snprintf(v, sizeof v, "%lld", (long long)(s->o.timeout * 1e6));
      av_dict_set(opts, has_prefix(s->url, "rtsp") ? "timeout" : "rw_timeout", v, 0);
      break;
    case FKV_KIND_WEBCAM:
      ifmt = av_find_input_format("video4linux2");
      if (s->o.width > 0) {
        snprintf(v, sizeof v, "%dx%d", s->o.width, s->o.height);
        av_dict_set(opts, "video_size", v, 0);
      }
      if (s->o.fps > 0) {
        snprintf(v, sizeof v, "%g", s->o.fps);
        av_dict_set(opts, "framerate", v, 0);
      }
      break;
    case FKV_KIND_SEQUENCE:
      ifmt = av_find_input_format("image2");
      if (!strchr(s->url, '%')) av_dict_set(opts, "pattern_type", "glob", 0);
      if (s->o.fps > 0) {
        snprintf(v, sizeof v, "%g", s->o.fps);
        av_dict_set(opts, "framerate", v, 0);
      }
      break;
    default:
      break;
  }
  return ifmt;
}

/* Did a network call begun at t0 fail because the server said nothing for
 * --timeout seconds? The socket-level timeout (input_options) fires then,
 * and FFmpeg reports it as whatever the demuxer makes of no data (RTSP:
 * "Invalid data found when processing input"), not as a timeout. */
static int silent(const fkv_source *s, double t0) {
  if (s->info.kind != FKV_KIND_NETWORK || canceled(s)) return 0;
  double now = fk_now_ms();
  return (s->deadline_ms > 0 && now > s->deadline_ms) || now - t0 >= s->o.timeout * 1e3 - 1;
}

/* Opens the demuxer and the decoder of the best video stream. On failure
 * *status and a message; FFmpeg's state is closed. */
static int open_input(fkv_source *s, double seconds, char *why, size_t whylen) {
  AVDictionary *opts = NULL;
  const AVInputFormat *ifmt = input_options(s, &opts);
  if (s->info.kind == FKV_KIND_WEBCAM && !ifmt) {
    av_dict_free(&opts);
    snprintf(why, whylen, "this FFmpeg has no video4linux2 input");
    return FK_EUNSUPPORTED;
  }
  s->fmt = avformat_alloc_context();
  if (!s->fmt) return av_dict_free(&opts), snprintf(why, whylen, "out of memory"), FK_ENOMEM;
  s->fmt->interrupt_callback = (AVIOInterruptCB){interrupt_cb, s};
  arm(s, seconds);
  last_log[0] = '\0';
  double t0 = fk_now_ms();
  int rc = avformat_open_input(&s->fmt, s->url, ifmt, &opts);
  av_dict_free(&opts);
  if (rc < 0) {
    av_reason(rc, why, whylen);
    if (rc == AVERROR(ENOTTY)) snprintf(why, whylen, "not a video capture device");
    if (silent(s, t0)) return snprintf(why, whylen, "no answer in %g s", s->o.timeout), FK_EIO;
    return rc == AVERROR(ENOENT) ? FK_ENOENT : rc == AVERROR_INVALIDDATA ? FK_EFORMAT : FK_EIO;
  }
  arm(s, seconds);
  t0 = fk_now_ms();
  if ((rc = avformat_find_stream_info(s->fmt, NULL)) < 0) {
    av_reason(rc, why, whylen);
    close_input(s);
    if (silent(s, t0)) return snprintf(why, whylen, "no answer in %g s", s->o.timeout), FK_EIO;
    return FK_EFORMAT;
  }
  const AVCodec *codec = NULL;
  s->vstream = av_find_best_stream(s->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
  if (s->vstream < 0) {
    snprintf(why, whylen, s->vstream == AVERROR_DECODER_NOT_FOUND ? "no decoder for its video codec"
                                                                  : "no video stream");
    close_input(s);
    return s->vstream == AVERROR_DECODER_NOT_FOUND ? FK_EUNSUPPORTED : FK_EFORMAT;
  }
  for (unsigned i = 0; i < s->fmt->nb_streams; i++)
    if ((int)i != s->vstream) s->fmt->streams[i]->discard = AVDISCARD_ALL;
  AVStream *st = s->fmt->streams[s->vstream];
  s->dec = avcodec_alloc_context3(codec);
  if (!s->dec || avcodec_parameters_to_context(s->dec, st->codecpar) < 0) {
    close_input(s);
    return snprintf(why, whylen, "out of memory"), FK_ENOMEM;
  }
  /* One decoding thread: frame threading would add a frame of latency per
   * thread, and decoding (under 1 ms a 640x480 frame) shares the core the
   * analysis leaves with the encoder (writer.c). */
  s->dec->thread_count = 1;
  if ((rc = avcodec_open2(s->dec, codec, NULL)) < 0) {
    av_reason(rc, why, whylen);
    close_input(s);
    return FK_EUNSUPPORTED;
  }
  s->tb = st->time_base;
  s->conn_has_pts = 0;
  AVRational fr = st->avg_frame_rate.num ? st->avg_frame_rate : st->r_frame_rate;
  s->fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0;
  s->duration = s->fmt->duration > 0 && s->fmt->duration != AV_NOPTS_VALUE ? s->fmt->duration / 1e6 : 0;
  return FK_OK;
}

/* ---- the queue --------------------------------------------------------------- */

/* A buffer of at least n bytes, recycled when one is free. Under mu. */
static uint8_t *pool_get(fkv_source *s, size_t n) {
  for (int i = 0; i < s->npool; i++)
    if (s->pool_size[i] >= n) {
      uint8_t *p = s->pool[i];
      s->pool[i] = s->pool[--s->npool];
      s->pool_size[i] = s->pool_size[s->npool];
      return p;
    }
  return malloc(n);
}

static void pool_put(fkv_source *s, uint8_t *p, size_t n) {
  if (!p) return;
  if (s->npool < (int)(sizeof s->pool / sizeof *s->pool)) {
    s->pool[s->npool] = p;
    s->pool_size[s->npool++] = n;
  } else {
    free(p);
  }
}

static size_t img_bytes(const fk_image *img) { return (size_t)img->width * img->height * 3; }

/* Queues it (taking its buffer). A live frame replaces a frame still
 * pending at the tail (dropped); anything else waits for room: files wait
 * while FILE_QUEUE frames are pending, and control items are never lost.
 * Returns 0, or -1 if the consumer left. */
static int push(fkv_source *s, item *it) {
  pthread_mutex_lock(&s->mu);
  int is_frame = it->r.what == FKV_READ_FRAME, live_frame = is_frame && s->info.live;
  item *tail = s->qn ? &s->q[(s->qhead + s->qn - 1) % QUEUE_CAP] : NULL;
  if (live_frame && tail && tail->r.what == FKV_READ_FRAME) {
    pool_put(s, tail->r.img.rgb, img_bytes(&tail->r.img));
    *tail = *it;
    s->st.dropped++;
  } else {
    while (!atomic_load(&s->stop) &&
           (s->qn >= QUEUE_CAP || (is_frame && !live_frame && s->qframes >= FILE_QUEUE)))
      pthread_cond_wait(&s->have_space, &s->mu);
    if (atomic_load(&s->stop)) {
      pool_put(s, it->r.img.rgb, img_bytes(&it->r.img));
      pthread_mutex_unlock(&s->mu);
      return -1;
    }
    s->q[(s->qhead + s->qn++) % QUEUE_CAP] = *it;
    s->qframes += is_frame;
  }
  pthread_cond_signal(&s->have_item);
  pthread_mutex_unlock(&s->mu);
  return 0;
}

static int push_control(fkv_source *s, int what, int error, const char *reason) {
  item it;
  memset(&it, 0, sizeof it);
  it.r.what = what;
  it.r.error = error;
  it.r.frame = s->next_frame;
  it.r.pts = s->last_pts;
  if (reason) snprintf(it.r.reason, sizeof it.r.reason, "%s", reason);
  return push(s, &it);
}

/* ---- decoding ------------------------------------------------------------------ */

/* Seconds of this frame on the output clock: relative to the connection's
 * first frame, after the offset of earlier connections; never backwards. */
static double frame_pts(fkv_source *s, const AVFrame *f) {
  double step = s->fps > 0 ? 1.0 / s->fps : 1.0 / 25;
  int64_t ts = f->best_effort_timestamp;
  double pts;
  if (ts == AV_NOPTS_VALUE) {
    pts = s->next_frame ? s->last_pts + step : 0;
  } else {
    double t = ts * av_q2d(s->tb);
    if (!s->conn_has_pts) s->conn_first_pts = t, s->conn_has_pts = 1;
    pts = s->pts_offset + (t - s->conn_first_pts);
  }
  if (s->next_frame && pts < s->last_pts) pts = s->last_pts + step;
  return pts;
}

/* Sleeps until `pts` is due on the wall clock (realtime files); returns -1
 * if canceled meanwhile. */
static int pace(fkv_source *s, double pts) {
  if (s->wall0_ms == 0) s->wall0_ms = fk_now_ms(), s->pace_pts0 = pts;
  for (;;) {
    double wait = s->wall0_ms + (pts - s->pace_pts0) * 1e3 - fk_now_ms();
    if (wait <= 0) return 0;
    if (canceled(s)) return -1;
    struct timespec ts = {0, (long)((wait > 50 ? 50 : wait) * 1e6)};
    nanosleep(&ts, NULL);
  }
}

static int frame_damaged(const AVFrame *f) {
  return f->decode_error_flags != 0 || (f->flags & AV_FRAME_FLAG_CORRUPT);
}

/* Converts and queues one decoded frame. Returns 0, -1 if the consumer
 * left, or FK_E* on a fatal error (message in why). */
static int deliver(fkv_source *s, AVFrame *f, double t0, char *why, size_t whylen) {
  int64_t number = s->next_frame;
  double pts = frame_pts(s, f);
  s->next_frame++;
  s->last_pts = pts;
  pthread_mutex_lock(&s->mu);
  s->st.decoded++;
  int damaged = frame_damaged(f);
  s->st.damaged += damaged;
  pthread_mutex_unlock(&s->mu);
  if (damaged) return 0;
  size_t limit = s->o.max_pixels ? s->o.max_pixels : FK_DEFAULT_MAX_PIXELS;
  if (f->width <= 0 || f->height <= 0 || (size_t)f->width * f->height > limit) {
    snprintf(why, whylen, "frame of %dx%d exceeds the pixel limit (%zu)", f->width, f->height, limit);
    return FK_ETOOBIG;
  }
  s->sws = sws_getCachedContext(s->sws, f->width, f->height, f->format, f->width, f->height,
                                AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
  if (!s->sws) return snprintf(why, whylen, "cannot convert pixel format %d to RGB", f->format), FK_EUNSUPPORTED;
  item it;
  memset(&it, 0, sizeof it);
  it.r.img.width = f->width;
  it.r.img.height = f->height;
  pthread_mutex_lock(&s->mu);
  it.r.img.rgb = pool_get(s, img_bytes(&it.r.img));
  pthread_mutex_unlock(&s->mu);
  if (!it.r.img.rgb) return snprintf(why, whylen, "out of memory"), FK_ENOMEM;
  uint8_t *dst[4] = {it.r.img.rgb, NULL, NULL, NULL};
  int stride[4] = {f->width * 3, 0, 0, 0};
  sws_scale(s->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, stride);
  it.r.what = FKV_READ_FRAME;
  it.r.frame = number;
  it.r.pts = pts;
  it.r.decode_ms = fk_now_ms() - t0;
  if (s->o.realtime && pace(s, pts)) {
    pthread_mutex_lock(&s->mu);
    pool_put(s, it.r.img.rgb, img_bytes(&it.r.img));
    pthread_mutex_unlock(&s->mu);
    return -1;
  }
  return push(s, &it);
}

/* Counts a frame lost to damage; it keeps its number. */
static void skip_damaged(fkv_source *s) {
  s->next_frame++;
  pthread_mutex_lock(&s->mu);
  s->st.damaged++;
  pthread_mutex_unlock(&s->mu);
}

/* Receives every frame the decoder has ready. */
static int drain(fkv_source *s, double t0, char *why, size_t whylen) {
  for (;;) {
    int rc = avcodec_receive_frame(s->dec, s->frm);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return 0;
    if (rc < 0) { /* a frame the decoder gave up on */
      skip_damaged(s);
      continue;
    }
    rc = deliver(s, s->frm, t0, why, whylen);
    av_frame_unref(s->frm);
    if (rc) return rc;
  }
}

/* Outcomes of reading one connection to its end. */
enum { CONN_END = 0, CONN_LOST, CONN_LEFT, CONN_FATAL };

/* Reads and decodes until the input ends or fails. */
static int read_connection(fkv_source *s, char *why, size_t whylen) {
  for (;;) {
    if (canceled(s)) return CONN_LEFT;
    arm(s, s->o.timeout);
    int rc = av_read_frame(s->fmt, s->pkt);
    /* decode time starts when the packet is in: a live source's wait for
     * its next frame is not work */
    double t0 = fk_now_ms();
    if (rc < 0) {
      int eof = rc == AVERROR_EOF || (s->fmt->pb && avio_feof(s->fmt->pb));
      if (canceled(s)) return CONN_LEFT;
      if (eof) snprintf(why, whylen, "end of stream");
      else if (s->deadline_ms && fk_now_ms() > s->deadline_ms)
        snprintf(why, whylen, "no data for %g s", s->o.timeout);
      else av_reason(rc, why, whylen);
      /* the decoder's delayed frames come out before the end */
      char late[512];
      avcodec_send_packet(s->dec, NULL);
      int d = drain(s, t0, late, sizeof late);
      if (d < 0) return CONN_LEFT;
      if (d > 0) return snprintf(why, whylen, "%s", late), CONN_FATAL;
      if (s->info.kind != FKV_KIND_NETWORK) return eof ? CONN_END : CONN_FATAL;
      /* A served file that reached its duration has ended; any other
       * network input that stops was lost. */
      int at_end = s->duration > 0 && s->last_pts - s->pts_offset >= s->duration - 1.0;
      return eof && (at_end || !s->o.reconnect) ? CONN_END : CONN_LOST;
    }
    if (s->pkt->stream_index != s->vstream) {
      av_packet_unref(s->pkt);
      continue;
    }
    rc = avcodec_send_packet(s->dec, s->pkt);
    av_packet_unref(s->pkt);
    if (rc < 0 && rc != AVERROR(EAGAIN)) { /* a packet the decoder rejected */
      skip_damaged(s);
      continue;
    }
    int d = drain(s, t0, why, whylen);
    if (d < 0) return CONN_LEFT;
    if (d > 0) return CONN_FATAL;
  }
}

/* Sleeps `seconds` unless canceled first; returns -1 if canceled. */
static int nap(const fkv_source *s, double seconds) {
  double until = fk_now_ms() + seconds * 1e3;
  while (fk_now_ms() < until) {
    if (canceled(s)) return -1;
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
  }
  return 0;
}

/* After a loss: reopens with backoff until it works or the run stops.
 * Returns 0 when reconnected. */
static int reconnect(fkv_source *s) {
  double t0 = fk_now_ms(), backoff = BACKOFF_FIRST;
  double step = s->fps > 0 ? 1.0 / s->fps : 1.0 / 25;
  close_input(s);
  for (int attempt = 1;; attempt++) {
    if (nap(s, backoff)) return -1;
    char why[512] = "";
    if (open_input(s, s->o.timeout > OPEN_TIMEOUT_MIN ? s->o.timeout : OPEN_TIMEOUT_MIN, why, sizeof why) ==
        FK_OK) {
      s->pts_offset = s->last_pts + step;
      item it;
      memset(&it, 0, sizeof it);
      it.r.what = FKV_READ_RECONNECTED;
      it.r.frame = s->next_frame;
      it.r.pts = s->last_pts;
      it.r.attempts = attempt;
      it.r.downtime = (fk_now_ms() - t0) / 1e3;
      pthread_mutex_lock(&s->mu);
      s->st.reconnects++;
      pthread_mutex_unlock(&s->mu);
      return push(s, &it);
    }
    if (canceled(s)) return -1;
    backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
  }
}

static void *reader(void *p) {
  fkv_source *s = p;
  fk_fpenv_set(1); /* a thread of ours: it flushes denormals throughout */
  for (;;) {
    char why[512] = "";
    int out = read_connection(s, why, sizeof why);
    if (out == CONN_LOST && s->o.reconnect) {
      if (push_control(s, FKV_READ_LOST, FK_OK, why) || reconnect(s)) break;
      continue;
    }
    if (out == CONN_LEFT) break;
    int error = out == CONN_FATAL || out == CONN_LOST ? FK_EIO : FK_OK;
    push_control(s, FKV_READ_END, error, error ? why : NULL);
    return NULL;
  }
  push_control(s, FKV_READ_END, FK_OK, NULL);
  return NULL;
}

/* ---- the public side ------------------------------------------------------------ */

void fkv_source_options_init(fkv_source_options *o) {
  memset(o, 0, sizeof *o);
  o->rtsp_transport = "tcp";
  o->reconnect = 1;
  o->timeout = 5;
}

/* Registers FFmpeg's capture devices (video4linux2). libavdevice is
 * loaded only for webcams: it pulls in some hundred and fifty more shared
 * libraries (libavfilter and what it links), a quarter of a second at
 * every start otherwise. */
static int load_devices(fkv_source *s) {
  const char *lib = "libavdevice.so." AV_STRINGIFY(LIBAVDEVICE_VERSION_MAJOR);
  void *h = dlopen(lib, RTLD_NOW | RTLD_GLOBAL);
  void (*register_all)(void) = h ? (void (*)(void))dlsym(h, "avdevice_register_all") : NULL;
  if (!register_all) return fail(s, FK_EUNSUPPORTED, "%s: webcams need %s: %s", s->o.url, lib, dlerror());
  register_all(); /* the library stays loaded: FFmpeg keeps its devices */
  return FK_OK;
}

/* Checks a local path before FFmpeg sees it, for a clear message. */
static int check_path(fkv_source *s, const char *path, int device) {
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    return fail(s, FK_ENOENT, "%s: %s%s", path, device ? "no such video device: " : "", strerror(e));
  }
  if (S_ISDIR(st.st_mode)) return fail(s, FK_EFORMAT, "%s: is a directory, not a video", path);
  if (device && !S_ISCHR(st.st_mode)) return fail(s, FK_EFORMAT, "%s: not a video device", path);
  if (!device && S_ISREG(st.st_mode) && st.st_size == 0) return fail(s, FK_EEMPTY, "%s: the file is empty", path);
  return FK_OK;
}

static const char *kind_noun(int kind) {
  switch (kind) {
    case FKV_KIND_NETWORK: return "cannot open the stream";
    case FKV_KIND_WEBCAM: return "cannot open the webcam";
    case FKV_KIND_SEQUENCE: return "cannot read the image sequence";
    case FKV_KIND_STDIN: return "cannot read a video from stdin";
    default: return "not a video FFmpeg can read (or truncated)";
  }
}

int fkv_source_open(const fkv_source_options *o, fkv_source **out) {
  fkv_source *s = calloc(1, sizeof *s);
  *out = s;
  if (!s) return FK_ENOMEM;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->have_item, NULL);
  pthread_cond_init(&s->have_space, NULL);
  s->o = *o;
  if (!o->url || !*o->url) return fail(s, FK_EINVAL, "no source given");
  if (!s->o.rtsp_transport) s->o.rtsp_transport = "tcp";
  if (!(s->o.timeout > 0)) s->o.timeout = 5;
  s->info.kind = fkv_source_kind(o->url);
  const char *url = o->url;
  if (has_prefix(url, "v4l2://")) url += strlen("v4l2://");
  if (has_prefix(url, "file://")) url += strlen("file://");
  snprintf(s->url, sizeof s->url, "%s", s->info.kind == FKV_KIND_STDIN ? "pipe:0" : url);
  int rc = FK_OK;
  if (s->info.kind == FKV_KIND_FILE || s->info.kind == FKV_KIND_WEBCAM)
    rc = check_path(s, s->url, s->info.kind == FKV_KIND_WEBCAM);
  if (rc) return rc;
  if (s->info.kind == FKV_KIND_WEBCAM && (rc = load_devices(s))) return rc;
  s->frm = av_frame_alloc();
  s->pkt = av_packet_alloc();
  if (!s->frm || !s->pkt) return fail(s, FK_ENOMEM, "out of memory");
  char why[512] = "";
  double first = s->o.timeout > OPEN_TIMEOUT_MIN ? s->o.timeout : OPEN_TIMEOUT_MIN;
  if ((rc = open_input(s, first, why, sizeof why))) {
    if (s->o.cancel && *s->o.cancel) return fail(s, FK_ECANCELED, "%s: interrupted while opening", o->url);
    if (s->deadline_ms && fk_now_ms() > s->deadline_ms) snprintf(why, sizeof why, "no answer in %g s", first);
    return fail(s, rc, "%s: %s: %s", o->url, kind_noun(s->info.kind), why);
  }
  if (s->dec->width <= 0 || s->dec->height <= 0)
    return fail(s, FK_EFORMAT, "%s: the video stream has no frame size", o->url);
  fkv_source_info *in = &s->info;
  snprintf(in->format, sizeof in->format, "%s", s->fmt->iformat->name);
  snprintf(in->codec, sizeof in->codec, "%s", s->dec->codec->name);
  in->width = s->dec->width;
  in->height = s->dec->height;
  in->fps = s->fps;
  in->duration = s->duration;
  s->info.live = s->o.live || s->o.realtime || s->info.kind == FKV_KIND_WEBCAM ||
                 (s->info.kind == FKV_KIND_NETWORK && (s->duration == 0 || has_prefix(s->url, "rtsp") ||
                                                       has_prefix(s->url, "udp") || has_prefix(s->url, "rtp")));
  if (s->info.kind != FKV_KIND_NETWORK) s->o.reconnect = 0;
  return FK_OK;
}

const char *fkv_source_errmsg(const fkv_source *s) {
  if (!s) return "out of memory";
  return s->err[0] ? s->err : "ok";
}

const fkv_source_info *fkv_source_get_info(const fkv_source *s) { return &s->info; }

void fkv_source_read(fkv_source *s, fkv_read *r) {
  /* The reader starts with the first read, so that a live source drops
   * nothing while the caller is still loading its models. */
  if (!s->thread_started) {
    if (pthread_create(&s->thread, NULL, reader, s)) {
      memset(r, 0, sizeof *r);
      r->what = FKV_READ_END;
      r->error = FK_ENOMEM;
      snprintf(r->reason, sizeof r->reason, "cannot start the reader thread");
      return;
    }
    s->thread_started = 1;
  }
  pthread_mutex_lock(&s->mu);
  if (s->cur.r.img.rgb) pool_put(s, s->cur.r.img.rgb, img_bytes(&s->cur.r.img));
  memset(&s->cur, 0, sizeof s->cur);
  while (s->qn == 0) pthread_cond_wait(&s->have_item, &s->mu);
  s->cur = s->q[s->qhead];
  s->qhead = (s->qhead + 1) % QUEUE_CAP;
  s->qn--;
  if (s->cur.r.what == FKV_READ_FRAME) s->qframes--;
  pthread_cond_signal(&s->have_space);
  pthread_mutex_unlock(&s->mu);
  *r = s->cur.r;
  if (r->what == FKV_READ_END) {
    /* the reader has stopped: later reads end again */
    pthread_mutex_lock(&s->mu);
    if (s->qn < QUEUE_CAP) {
      s->q[(s->qhead + s->qn++) % QUEUE_CAP] = s->cur;
      memset(&s->cur, 0, sizeof s->cur);
    }
    pthread_mutex_unlock(&s->mu);
  }
}

void fkv_source_get_stats(fkv_source *s, fkv_source_stats *st) {
  pthread_mutex_lock(&s->mu);
  *st = s->st;
  pthread_mutex_unlock(&s->mu);
}

void fkv_source_close(fkv_source *s) {
  if (!s) return;
  if (s->thread_started) {
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop, 1);
    pthread_cond_broadcast(&s->have_space);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
  }
  for (int i = 0; i < s->qn; i++) free(s->q[(s->qhead + i) % QUEUE_CAP].r.img.rgb);
  free(s->cur.r.img.rgb);
  for (int i = 0; i < s->npool; i++) free(s->pool[i]);
  close_input(s);
  sws_freeContext(s->sws);
  av_frame_free(&s->frm);
  av_packet_free(&s->pkt);
  pthread_cond_destroy(&s->have_item);
  pthread_cond_destroy(&s->have_space);
  pthread_mutex_destroy(&s->mu);
  free(s);
}
