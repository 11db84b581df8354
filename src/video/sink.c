/*
 * sink.c - fkv_sink: the annotated video of `facekit stream --output`.
 * RGB frames are converted to YUV 4:2:0 with libswscale and encoded with
 * libavcodec: H.264 through libx264 when this FFmpeg has it, else MPEG-4
 * Part 2; the container follows the file's extension.
 *
 * Timing: the encoder's time base is one frame of the source's rate, and
 * each frame's timestamp is its source pts rounded to that grid, so a file
 * keeps every frame at its own rate and a live source that dropped frames
 * leaves gaps instead of running fast.
 *
 * MP4 and MOV are written fragmented (a fragment per keyframe), so that a
 * recording cut short by a crash or power loss still plays up to its last
 * fragment; a clean close also writes the index of fragments.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#include "base/error.h"
#include "video/video.h"

#define KEYFRAME_SECONDS 2 /* GOP length, hence the fragment length */

struct fkv_sink {
  AVFormatContext *fmt;
  AVCodecContext *enc;
  AVStream *st;
  struct SwsContext *sws;
  AVFrame *frame;
  AVPacket *pkt;
  int width, height;
  int64_t last_pts, frames;
  int header, status;
  char codec[16];
  char path[1024];
  char err[FKV_ERRMSG_MAX];
};

#define fail(s, ...) fk_fail((s)->err, sizeof (s)->err, __VA_ARGS__)

static int averr(fkv_sink *s, int rc, const char *what) {
  char e[AV_ERROR_MAX_STRING_SIZE];
  av_strerror(rc, e, sizeof e);
  return fail(s, rc == AVERROR(ENOMEM) ? FK_ENOMEM : FK_EIO, "%s: %s: %s", s->path, what, e);
}

/* The encoder: libx264 if present, else MPEG-4 Part 2. */
static int open_encoder(fkv_sink *s, AVRational rate) {
  const AVCodec *c = avcodec_find_encoder_by_name("libx264");
  if (!c) c = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  if (!c) return fail(s, FK_EUNSUPPORTED, "%s: this FFmpeg has neither a libx264 nor an MPEG-4 encoder", s->path);
  snprintf(s->codec, sizeof s->codec, "%s", c->name);
  if (!(s->enc = avcodec_alloc_context3(c))) return fail(s, FK_ENOMEM, "out of memory");
  AVCodecContext *e = s->enc;
  e->width = s->width;
  e->height = s->height;
  e->pix_fmt = AV_PIX_FMT_YUV420P;
  e->time_base = av_inv_q(rate);
  e->framerate = rate;
  e->gop_size = (int)(av_q2d(rate) * KEYFRAME_SECONDS + 0.5);
  if (e->gop_size < 1) e->gop_size = 1;
  /* One thread: the writer's (writer.c), beside the analysis. On 2 cores
   * decoding and encoding (about 5 ms a 640x480 frame) fit on the core the
   * analysis leaves; thread_count 2 measured the same CPU a frame (13.4
   * against 13.5 ms, bench_stream, 4 faces) and no more frames a second. */
  e->thread_count = 1;
  if (s->fmt->oformat->flags & AVFMT_GLOBALHEADER) e->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  if (c->id == AV_CODEC_ID_H264) {
    av_opt_set(e->priv_data, "preset", "veryfast", 0);
    av_opt_set(e->priv_data, "crf", "23", 0);
  } else {
    e->flags |= AV_CODEC_FLAG_QSCALE;
    e->global_quality = FF_QP2LAMBDA * 4;
    e->max_b_frames = 0;
  }
  int rc = avcodec_open2(e, c, NULL);
  return rc < 0 ? averr(s, rc, "opening the encoder") : FK_OK;
}

int fkv_sink_open(const char *path, int width, int height, double fps, fkv_sink **out) {
  fkv_sink *s = calloc(1, sizeof *s);
  *out = s;
  if (!s) return FK_ENOMEM;
  s->last_pts = -1;
  snprintf(s->path, sizeof s->path, "%s", path);
  s->width = width & ~1;
  s->height = height & ~1;
  if (s->width < 2 || s->height < 2) return fail(s, FK_EINVAL, "%s: frame size %dx%d is too small", path, width, height);
  int rc = avformat_alloc_output_context2(&s->fmt, NULL, NULL, path);
  if (rc < 0 || !s->fmt)
    return fail(s, FK_EINVAL, "%s: no video container for this file name (use .mp4, .mkv, .mov or .avi)", path);
  AVRational rate = av_d2q(fps > 0 && fps < 1000 ? fps : 25, 100000);
  if ((rc = open_encoder(s, rate))) return rc;
  if (!(s->st = avformat_new_stream(s->fmt, NULL))) return fail(s, FK_ENOMEM, "out of memory");
  s->st->time_base = s->enc->time_base;
  s->st->avg_frame_rate = rate;
  if ((rc = avcodec_parameters_from_context(s->st->codecpar, s->enc)) < 0) return averr(s, rc, "stream parameters");
  if (!(s->fmt->oformat->flags & AVFMT_NOFILE) && (rc = avio_open(&s->fmt->pb, path, AVIO_FLAG_WRITE)) < 0)
    return averr(s, rc, "creating the file");
  AVDictionary *opts = NULL;
  if (!strcmp(s->fmt->oformat->name, "mp4") || !strcmp(s->fmt->oformat->name, "mov"))
    av_dict_set(&opts, "movflags", "frag_keyframe+empty_moov+default_base_moof", 0);
  s->fmt->flush_packets = 1; /* each fragment reaches the file when written */
  rc = avformat_write_header(s->fmt, &opts);
  av_dict_free(&opts);
  if (rc < 0) return averr(s, rc, "writing the header");
  s->header = 1;
  s->frame = av_frame_alloc();
  s->pkt = av_packet_alloc();
  if (!s->frame || !s->pkt) return fail(s, FK_ENOMEM, "out of memory");
  s->frame->format = AV_PIX_FMT_YUV420P;
  s->frame->width = s->width;
  s->frame->height = s->height;
  if ((rc = av_frame_get_buffer(s->frame, 0)) < 0) return averr(s, rc, "frame buffer");
  return FK_OK;
}

const char *fkv_sink_errmsg(const fkv_sink *s) {
  if (!s) return "out of memory";
  return s->err[0] ? s->err : "ok";
}

const char *fkv_sink_codec(const fkv_sink *s) { return s->codec; }

int64_t fkv_sink_frames(const fkv_sink *s) { return s ? s->frames : 0; }

/* Writes every packet the encoder has ready. */
static int write_packets(fkv_sink *s) {
  for (;;) {
    int rc = avcodec_receive_packet(s->enc, s->pkt);
    if (rc == AVERROR(EAGAIN) || rc == AVERROR_EOF) return FK_OK;
    if (rc < 0) return averr(s, rc, "encoding");
    av_packet_rescale_ts(s->pkt, s->enc->time_base, s->st->time_base);
    s->pkt->stream_index = s->st->index;
    rc = av_interleaved_write_frame(s->fmt, s->pkt);
    if (rc < 0) return averr(s, rc, "writing the video");
  }
}

int fkv_sink_write(fkv_sink *s, const fk_image *img, double pts) {
  if (s->status) return s->status;
  if (!img || !img->rgb || img->width <= 0 || img->height <= 0) return fail(s, FK_EINVAL, "invalid frame");
  s->sws = sws_getCachedContext(s->sws, img->width, img->height, AV_PIX_FMT_RGB24, s->width, s->height,
                                AV_PIX_FMT_YUV420P, SWS_BILINEAR, NULL, NULL, NULL);
  if (!s->sws) return fail(s, FK_ENOMEM, "cannot set up the RGB to YUV conversion");
  int rc = av_frame_make_writable(s->frame);
  if (rc < 0) return averr(s, rc, "frame buffer");
  const uint8_t *src[4] = {img->rgb, NULL, NULL, NULL};
  int stride[4] = {img->width * 3, 0, 0, 0};
  /* Odd sizes: the encoder's even size crops the last row or column. */
  sws_scale(s->sws, src, stride, 0, img->height, s->frame->data, s->frame->linesize);
  int64_t t = (int64_t)(pts / av_q2d(s->enc->time_base) + 0.5);
  if (t <= s->last_pts) t = s->last_pts + 1;
  s->frame->pts = s->last_pts = t;
  if ((rc = avcodec_send_frame(s->enc, s->frame)) < 0) return averr(s, rc, "encoding");
  s->frames++;
  return write_packets(s);
}

int fkv_sink_close(fkv_sink *s, char *err, size_t errlen) {
  if (!s) return FK_OK;
  if (s->header) {
    if (!s->status && avcodec_send_frame(s->enc, NULL) >= 0) write_packets(s);
    int rc = av_write_trailer(s->fmt);
    if (rc < 0) averr(s, rc, "finishing the video");
  }
  if (s->fmt && !(s->fmt->oformat->flags & AVFMT_NOFILE)) avio_closep(&s->fmt->pb);
  int status = s->status;
  if (status && err) snprintf(err, errlen, "%s", s->err);
  avcodec_free_context(&s->enc);
  avformat_free_context(s->fmt);
  sws_freeContext(s->sws);
  av_frame_free(&s->frame);
  av_packet_free(&s->pkt);
  free(s);
  return status;
}
