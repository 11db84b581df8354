/*
 * video.h - facekit's video layer (src/video/, built as the facekit_video
 * library that the CLI, the tests and bench_stream link): sources decoded
 * by FFmpeg, an annotated-video sink, and the stream engine that turns
 * frames into track events.
 *
 *   source.c  fkv_source: files, network streams, webcams, image sequences
 *             and stdin through libavformat/libavcodec, to RGB with
 *             libswscale, on a reader thread; live sources keep only the
 *             newest frame and reconnect with backoff.
 *   sink.c    fkv_sink: RGB frames to H.264 (libx264) or MPEG-4 Part 2.
 *   writer.c  fkv_writer: a sink on a thread of its own, fed through a
 *             bounded queue, frames in order.
 *   engine.c  fkv_engine: per frame detect (every Nth), track (fk_tracker),
 *             and per track embed, search, vote and analyse; emits events.
 *   annotate.c  boxes and labels drawn on a frame.
 *   run.c     fkv_run: source -> engine -> writer with stats, the loop
 *             behind `facekit stream` and bench_stream: decode, analysis
 *             and encoding each on a thread of its own.
 *
 * Only source.c and sink.c include FFmpeg; the engine uses the core library
 * alone. Errors are FK_E* codes with the detail in the object's errmsg, as
 * in the core library.
 */
#ifndef FK_VIDEO_H
#define FK_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "base/clock.h" /* fk_now_ms: the stage times */
#include "facekit.h"

#define FKV_ERRMSG_MAX 1024

/* ---- sources (source.c) ---------------------------------------------------- */

enum {
  FKV_KIND_FILE = 0,  /* a video file */
  FKV_KIND_STDIN,     /* "-" */
  FKV_KIND_SEQUENCE,  /* an image sequence: a printf pattern (%05d) or a glob */
  FKV_KIND_NETWORK,   /* rtsp(s)://, http(s)://, udp://, tcp://, ... */
  FKV_KIND_WEBCAM,    /* /dev/videoN or v4l2:///dev/videoN */
};

typedef struct fkv_source_options {
  const char *url;
  const char *rtsp_transport; /* "tcp" (default) or "udp" */
  int width, height;          /* webcam capture size; 0: the device's own */
  double fps;                 /* webcam or image-sequence rate; 0: default */
  int reconnect;              /* network sources: reconnect when lost (default 1) */
  int realtime;               /* deliver files at their own pace, as if live */
  int live;                   /* force live handling (newest frame only) */
  double timeout;             /* network and webcams: seconds without data
                                 before the source counts as lost (default 5) */
  size_t max_pixels;          /* refuse larger frames; 0 = FK_DEFAULT_MAX_PIXELS */
  const volatile int *cancel; /* once non-zero, reads end (signal-safe) */
} fkv_source_options;

void fkv_source_options_init(fkv_source_options *o);

typedef struct fkv_source_info {
  int kind;             /* FKV_KIND_* */
  int live;             /* newest-frame handling: drops instead of waiting */
  char format[64];      /* the demuxer, e.g. "mov,mp4,m4a,3gp,3g2,mj2" */
  char codec[64];       /* e.g. "h264" */
  int width, height;
  double fps;           /* 0 if unknown */
  double duration;      /* seconds; 0 if unknown (live) */
} fkv_source_info;

/* What a read returns. */
enum {
  FKV_READ_FRAME = 0,
  FKV_READ_LOST,         /* a network source dropped; reconnecting */
  FKV_READ_RECONNECTED,  /* ... and is back */
  FKV_READ_END,          /* end of input, or canceled; `error` says if it failed */
};

typedef struct fkv_read {
  int what;              /* FKV_READ_* */
  fk_image img;          /* FRAME: RGB owned by the source until the next read */
  int64_t frame;         /* the frame's number in the source, from 0, counting
                            frames dropped or damaged before it */
  double pts;            /* seconds from the first frame, from the stream's
                            timestamps; continues across reconnects */
  double decode_ms;      /* decode + RGB conversion of this frame (from
                            its packet's arrival) */
  int error;             /* END: FK_OK, or why the input stopped early */
  int attempts;          /* RECONNECTED: attempts it took */
  double downtime;       /* RECONNECTED: seconds without the source */
  char reason[512];      /* LOST, or END with an error: what happened */
} fkv_read;

typedef struct fkv_source_stats {
  int64_t decoded;     /* frames out of the decoder */
  int64_t dropped;     /* live: replaced by a newer frame before being taken */
  int64_t damaged;     /* frames the decoder flagged corrupt, and packets it
                          rejected: skipped */
  int64_t reconnects;
} fkv_source_stats;

typedef struct fkv_source fkv_source;

/* Opens the source: the first connection is made here, so an unreachable
 * or unreadable source fails now; its reader thread starts with the first
 * read. *out is set even on failure, for fkv_source_errmsg; close it in
 * both cases. */
int fkv_source_open(const fkv_source_options *o, fkv_source **out);
const char *fkv_source_errmsg(const fkv_source *s);
const fkv_source_info *fkv_source_get_info(const fkv_source *s);
/* Blocks until the next frame or event. Never fails: errors arrive as
 * END with r->error set. */
void fkv_source_read(fkv_source *s, fkv_read *r);
void fkv_source_get_stats(fkv_source *s, fkv_source_stats *st);
void fkv_source_close(fkv_source *s);

/* What kind of source a URL names (FKV_KIND_*). */
int fkv_source_kind(const char *url);

/* Routes FFmpeg's log: its errors are remembered, per thread, to explain
 * the next failure, and printed on stderr (with its warnings) only when
 * verbose. Process-wide, so the CLI calls it once. */
void fkv_log_init(int verbose);

/* ---- annotated video (sink.c) --------------------------------------------- */

typedef struct fkv_sink fkv_sink;

/* Creates OUT (container from its extension: .mp4, .mkv, .mov, .avi, ...)
 * for frames of width x height (odd sizes are cropped by one pixel) at fps
 * frames per second (the time base; 0 = 25). *out is set even on failure. */
int fkv_sink_open(const char *path, int width, int height, double fps, fkv_sink **out);
const char *fkv_sink_errmsg(const fkv_sink *s);
const char *fkv_sink_codec(const fkv_sink *s); /* "libx264" or "mpeg4" */
/* Encodes one frame shown at pts seconds (frames of another size are
 * scaled). Timestamps that would not increase are moved up one frame. */
int fkv_sink_write(fkv_sink *s, const fk_image *img, double pts);
int64_t fkv_sink_frames(const fkv_sink *s);
/* Flushes the encoder and finishes the file; then frees. A NULL s is a
 * no-op. Returns the first error of the sink's life, if any, with its
 * message in err (which may be NULL). */
int fkv_sink_close(fkv_sink *s, char *err, size_t errlen);

/* ---- the sink on its own thread (writer.c) ---------------------------------- */

typedef struct fkv_writer fkv_writer;

/* Starts a thread that encodes into sink (which the writer takes over, and
 * closes in finish, even when the start fails) the frames queued, in their
 * order; at most depth (1..16) wait. *out may be NULL on failure, which
 * fkv_writer_errmsg and fkv_writer_finish take. */
int fkv_writer_start(fkv_sink *sink, int depth, fkv_writer **out);
const char *fkv_writer_errmsg(const fkv_writer *w);
/* A free frame buffer of width x height for the next frame, to fill and
 * then push; blocks while depth frames wait. Fails with the sink's first
 * error once it had one. */
int fkv_writer_next(fkv_writer *w, int width, int height, fk_image **img);
/* Queues the frame next handed out, shown at pts seconds. Returns the
 * sink's first error so far (the frame is then not written). */
int fkv_writer_push(fkv_writer *w, double pts);
/* Frames written so far, and the ms spent encoding them. */
void fkv_writer_counts(fkv_writer *w, int64_t *written, double *encode_ms);
/* Encodes what is queued, closes the sink and frees; returns the first
 * error of the writer's life (message in err, which may be NULL) and the
 * final counts (either pointer may be NULL). A NULL w is a no-op. */
int fkv_writer_finish(fkv_writer *w, int64_t *written, double *encode_ms, char *err, size_t errlen);

/* ---- the stream engine (engine.c) ------------------------------------------ */

/* Stages timed per frame. */
enum {
  FKV_STAGE_DECODE = 0, FKV_STAGE_DETECT, FKV_STAGE_TRACK, FKV_STAGE_EMBED, FKV_STAGE_SEARCH,
  FKV_STAGE_ATTRIBUTES, FKV_STAGE_DRAW, FKV_STAGE_ENCODE, FKV_NUM_STAGES
};
extern const char *const fkv_stage_names[FKV_NUM_STAGES];

/* A track as the engine reports it: the tracker's view plus what was
 * learnt about the face. */
typedef struct fkv_track {
  int id;
  fk_box box;
  float score;
  int detected;                 /* matched by a detection on this frame */
  int64_t first_frame, last_frame;
  double first_pts, last_pts;
  /* identity, by vote over the searches of its embeddings */
  int identified;               /* 0: unknown (no vote yet, or no index) */
  char identity[256];           /* the identity (folder) name, or "" */
  char identity_path[4096];     /* the best-matching indexed face's image */
  float distance;               /* best distance to that identity */
  int votes, searches;          /* votes for it / embeddings searched */
  /* attributes, smoothed over the track */
  fk_attributes attr;
  int attr_samples;
  unsigned attr_changed;        /* FK_ACTION_* whose dominant class changed */
  /* appearance */
  int embeddings;
  const float *embedding;       /* mean of the unit embeddings (dim), or NULL */
  int dim;
  char snapshot[4096];          /* PNG written at the end, or "" */
} fkv_track;

enum {
  FKV_EV_SOURCE_OPEN = 0, FKV_EV_SOURCE_LOST, FKV_EV_SOURCE_RECONNECTED, FKV_EV_TRACK_START,
  FKV_EV_IDENTIFIED, FKV_EV_ATTRIBUTES, FKV_EV_TRACK_END, FKV_EV_FRAME, FKV_EV_STATS, FKV_EV_END,
  FKV_NUM_EVENTS
};
extern const char *const fkv_event_names[FKV_NUM_EVENTS];

/* Counters and stage times, over an interval (stats) or the run (end). */
typedef struct fkv_stats {
  double seconds;              /* wall time covered */
  int64_t frames_in;           /* decoded by the source (taken or dropped) */
  int64_t frames_out;          /* processed */
  int64_t dropped, damaged, reconnects;
  int64_t detections;          /* faces detected */
  int64_t embeddings, searches, analyses;
  int64_t frames_written;      /* to the output video */
  int tracks_alive;
  int64_t tracks_total;
  double fps_in, fps_out;
  double ms[FKV_NUM_STAGES];   /* mean ms per processed frame */
} fkv_stats;

typedef struct fkv_event {
  int type;                         /* FKV_EV_* */
  int64_t frame;
  double pts;
  const fkv_track *track;           /* track events */
  const fkv_track *const *tracks;   /* FRAME: the tracks shown on it */
  int ntracks;
  const fk_box *boxes;              /* FRAME: detections that started no */
  int nboxes;                       /* confirmed track (tentative ones) */
  const fkv_source_info *source;    /* SOURCE_OPEN */
  const fkv_read *read;             /* SOURCE_LOST, SOURCE_RECONNECTED, END */
  const fkv_stats *stats;           /* STATS, END */
  const char *end_reason;           /* END */
} fkv_event;

typedef void (*fkv_event_fn)(const fkv_event *e, void *user);

typedef struct fkv_engine_options {
  int detect_every;       /* run the detector on every Nth frame (2) */
  int embed_first;        /* embeddings on a track's first detected frames (3) */
  int embed_every;        /* then one every N frames (30) */
  int min_face;           /* ignore faces whose box's shorter side is below
                             this many pixels (0) */
  unsigned actions;       /* FK_ACTION_* per track, 0 for none */
  fk_tracker_options track; /* timeout, min_hits, IoU and appearance limits;
                             max_distance < 0 (the default): the model's
                             cosine threshold, fk_model_threshold(model,
                             FK_METRIC_COSINE) */
  fk_store *db;           /* identify against this index, or NULL */
  int metric;             /* FK_METRIC_* for the index search (cosine) */
  int model;              /* the session's FK_MODEL_*, for the thresholds
                             (default: fk_options_init's) */
  float threshold;        /* a match votes when distance <= this; < 0:
                             fk_model_threshold(model, metric) */
  const char *snapshots;  /* directory for each track's best face, or NULL */
  int every_frame;        /* emit a FRAME event per frame */
  fkv_event_fn on_event;
  void *user;
} fkv_engine_options;

void fkv_engine_options_init(fkv_engine_options *o);

/* The detector settings video uses unless told otherwise (see engine.c for
 * how they were chosen): sets detector, tiny_input_size and min_score. */
void fkv_default_detector(fk_options *o);

typedef struct fkv_engine fkv_engine;

/* The session must have the detector and landmark nets, the descriptor,
 * and the attribute nets of o->actions. *out is set even on failure. */
int fkv_engine_new(fk_session *s, const fkv_engine_options *o, fkv_engine **out);
const char *fkv_engine_errmsg(const fkv_engine *e);
/* Processes one frame (frames must come in order of pts). */
int fkv_engine_frame(fkv_engine *e, const fk_image *img, int64_t frame, double pts);
/* Draws every shown track's box and labels onto img (annotate.c). */
void fkv_engine_draw(const fkv_engine *e, fk_image *img);
/* Ends every track (track_end events): at the end, or a discontinuity. */
int fkv_engine_end_tracks(fkv_engine *e, int64_t frame, double pts);
/* Adds the engine's counters and stage times (ms summed) to st. */
void fkv_engine_add_stats(const fkv_engine *e, fkv_stats *st, double ms_sum[FKV_NUM_STAGES]);
void fkv_engine_free(fkv_engine *e);

/* Draws one labelled box (annotate.c). lines: up to 3 label lines. */
void fkv_draw_track(fk_image *img, fk_box box, int id, const char *const *lines, int nlines, int detected);

/* ---- the loop (run.c) ----------------------------------------------------------- */

typedef struct fkv_run_options {
  fkv_source_options source;
  fkv_engine_options engine;
  const char *output;        /* annotated video file, or NULL */
  double stats_every;        /* seconds of wall time between STATS events; 0: none */
  int64_t max_frames;        /* stop after this many processed frames; 0: all */
  const volatile int *cancel;/* stop cleanly once non-zero (signal-safe) */
} fkv_run_options;

void fkv_run_options_init(fkv_run_options *o);

/* Streams a source through a new engine on s (and into o->output), with
 * events to o->engine.on_event: src, an opened source the run takes over
 * (closes), or NULL to open o->source. Returns FK_OK when the input ended
 * or was canceled; an error (message in err) when the source, engine or
 * sink failed. *total (may be NULL) gets the whole run's stats. */
int fkv_run(fk_session *s, fkv_source *src, const fkv_run_options *o, fkv_stats *total, char *err,
            size_t errlen);

#endif /* FK_VIDEO_H */
