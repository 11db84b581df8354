/*
 * facekit_track.h - tracking faces across video frames. One part of
 * facekit.h, which includes every part.
 */
#ifndef FACEKIT_TRACK_H
#define FACEKIT_TRACK_H

#include "facekit_core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== tracking faces across video frames ================================== */
/*
 * An fk_tracker gives the faces of a video stable ids. It knows nothing of
 * decoding: the caller brings each frame's detections (from fk_detect or
 * any other detector) with the frame's number and time, and may lend it an
 * appearance embedding per detection on request.
 *
 * Matching, per update: every live track's box is predicted at the frame's
 * time (constant velocity, smoothed); detections are matched to predicted
 * boxes greedily by IoU (at least iou_min). When IoU alone cannot decide,
 * appearance does: a detection overlapping two tracks, a track overlapping
 * two detections, or a match whose IoU is below iou_sure, is compared by
 * cosine distance between the detection's embedding and the track's mean
 * appearance. A detection left over is matched to a lost track (unseen, not
 * yet timed out) whose appearance is within max_distance, wherever it is:
 * a face leaving and coming back, or a cut, keeps its id. Appearance is
 * used only when the caller gave an embed callback and the track has an
 * appearance (fk_tracker_add_appearance, or a callback embedding that
 * matched it).
 *
 * Lifecycle: a track is tentative until it has min_hits detections (a
 * tentative track missed once is dropped without a trace), then confirmed
 * with the next id (1, 2, ...; never reused). A confirmed track unseen for
 * more than `timeout` seconds ends. Each update or predict lists the tracks
 * it started and ended (fk_tracker_started / fk_tracker_ended).
 *
 * Not thread-safe: one tracker per stream. Times must not go backwards
 * (call fk_tracker_end_all at a discontinuity such as a reconnect).
 */
typedef struct fk_tracker fk_tracker;

/* Asks for the appearance embedding of detection `det` of the update in
 * progress: returns `dim` floats (raw or normalized; owned by the caller,
 * valid until the update returns), or NULL if none can be had. */
typedef const float *(*fk_track_embed_fn)(void *user, int det, int *dim);

typedef struct fk_tracker_options {
  size_t size;           /* sizeof the struct, set by fk_tracker_options_init (first, always) */
  double timeout;      /* seconds unseen before a confirmed track ends (1.0) */
  float iou_min;       /* least IoU of a detection and a predicted box (0.3) */
  float iou_sure;      /* a lone match at or above this IoU needs no
                          appearance check (0.5) */
  float max_distance;  /* cosine distance under which two faces are the same
                          (the default model's same-person threshold,
                          fk_model_threshold(fk_options_init's model,
                          FK_METRIC_COSINE); for another model's embeddings
                          give that model's) */
  int min_hits;        /* detections that confirm a track (1) */
  fk_track_embed_fn embed;  /* NULL: boxes only */
  void *user;
} fk_tracker_options;

FK_API void fk_tracker_options_init(fk_tracker_options *o);

enum {
  FK_TRACK_TENTATIVE = 0, /* not yet min_hits detections */
  FK_TRACK_VISIBLE = 1,   /* matched by the last detection frame */
  FK_TRACK_LOST = 2,      /* missed by the last detection frame */
  FK_TRACK_ENDED = 3,     /* timed out, or ended by fk_tracker_end_all */
};

typedef struct fk_track {
  int id;                  /* 1, 2, ... once confirmed; 0 while tentative */
  int state;               /* FK_TRACK_* */
  fk_box box;              /* the last detection's box, or its prediction
                              at the last update's time */
  float score;             /* the last matched detection's score */
  int det;                 /* the detection matched by the last update, or -1 */
  int64_t first_frame, last_frame;  /* first and last frame with a detection */
  double first_time, last_time;
  int hits;                /* detections matched */
  int appearances;         /* embeddings in its mean appearance */
  int reidentified;        /* times it was re-found by appearance alone */
} fk_track;

/* opt NULL: the defaults. */
FK_API int fk_tracker_new(const fk_tracker_options *opt, fk_tracker **out);
FK_API void fk_tracker_free(fk_tracker *t);

/* One frame's detections: n boxes (scores may be NULL). Boxes that are not
 * finite or not positive in size are ignored. `time` in seconds. FK_EINVAL
 * on bad arguments or a time before the last update's; FK_ENOMEM. */
FK_API int fk_tracker_update(fk_tracker *t, int64_t frame, double time, const fk_box *boxes,
                             const float *scores, int n);

/* A frame without detection (e.g. between detections run every Nth frame):
 * visible tracks move to their predicted boxes, and tracks that timed out
 * end. Nothing is matched, so nothing is lost. */
FK_API int fk_tracker_predict(fk_tracker *t, int64_t frame, double time);

/* Ends every track (end of stream, or a discontinuity). */
FK_API void fk_tracker_end_all(fk_tracker *t);

/* The live tracks (tentative, visible and lost), oldest first; valid until
 * the next call on t. Returns their number. */
FK_API int fk_tracker_tracks(const fk_tracker *t, const fk_track **tracks);
/* The tracks the last update, predict or end_all confirmed / ended. */
FK_API int fk_tracker_started(const fk_tracker *t, const fk_track **tracks);
FK_API int fk_tracker_ended(const fk_tracker *t, const fk_track **tracks);
/* The track detection det of the last update went to (confirmed or
 * tentative), or NULL if it started nothing (a box the tracker ignored). */
FK_API const fk_track *fk_tracker_track_of(const fk_tracker *t, int det);

/* Adds an embedding to confirmed track id's mean appearance. Every
 * embedding of a tracker must have the same dim (set by the first);
 * FK_EINVAL otherwise, or for an unknown id or a zero vector. */
FK_API int fk_tracker_add_appearance(fk_tracker *t, int id, const float *emb, int dim);

#ifdef __cplusplus
}
#endif
#endif /* FACEKIT_TRACK_H */
