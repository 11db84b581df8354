/*
 * track.c - fk_tracker: stable ids for the faces of a video (see facekit.h
 * for the contract). Works on boxes and, when the caller lends them,
 * appearance embeddings; it never decodes, detects or embeds by itself, so
 * a caller with its own frames and detector can use it alone.
 *
 * Per update, in this order (each stage only sees what the one before left):
 *   A. confirmed tracks (visible or lost) against detections by IoU with the
 *      predicted boxes, appearance consulted where IoU cannot decide;
 *   B. tentative tracks against what is left, by IoU only;
 *   C. re-identification: detections still free against confirmed tracks
 *      still free, by appearance alone (a face back in view, or a cut);
 *   D. every detection still free starts a tentative track.
 * Matching in A and C is greedy on a pair score, best first: with a handful
 * of faces per frame an optimal assignment (Hungarian) changes nothing
 * measurable, and greedy keeps the appearance rules easy to state.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "facekit.h"

/* Appearance outweighs overlap once consulted: a pair's score is
 * IoU - APPEARANCE_WEIGHT * distance / max_distance, distance counted in
 * units of the same-person threshold because each model has its own scale
 * of cosine distance. At resnet128's 0.09, for example, 0.05 of distance
 * (about the gap between the same face and a look-alike) beats 0.2 of IoU. */
#define APPEARANCE_WEIGHT 0.36
/* The velocity after a match blends the old one and the observed one. */
#define VELOCITY_KEEP 0.5
/* Predicted sizes stay within this factor of the last detected size. */
#define MAX_SIZE_CHANGE 2.0

/* One track: its public view plus the motion and appearance state. */
typedef struct trk {
  fk_track pub;
  double cx, cy, w, h;     /* the last detected box, centre form */
  double vx, vy, vw, vh;   /* smoothed velocity, pixels per second */
  float *app;              /* sum of unit embeddings (dim floats), or NULL */
  int matched;             /* a detection of this update, or -1 */
} trk;

struct fk_tracker {
  fk_tracker_options o;
  trk *tr;
  int n, cap;
  int next_id, dim;
  double last_time;
  int64_t last_frame;
  int has_time;
  /* the outputs of the last call */
  fk_track *live, *started, *ended;
  int nlive, nstarted, nended, live_cap, started_cap, ended_cap;
  int *det_track;          /* per detection of the last update: index into live, or -1 */
  int det_cap, ndet;
  /* per update scratch */
  const float **emb;       /* the callback's answer per detection */
  int *emb_asked;          /* 0 not yet, 1 asked */
  int *det_used;
  fk_box *pred;
  int scratch_dets, scratch_tracks;
};

void fk_tracker_options_init(fk_tracker_options *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->timeout = 1.0;
  o->iou_min = 0.3f;
  o->iou_sure = 0.5f;
  fk_options d;
  fk_options_init(&d); /* the default model's same-person distance */
  o->max_distance = fk_model_threshold(d.model, FK_METRIC_COSINE);
  o->min_hits = 1;
}

int fk_tracker_new(const fk_tracker_options *opt, fk_tracker **out) {
  if (!out) return FK_EINVAL;
  *out = NULL;
  fk_tracker_options d;
  if (FK_ABI_IMPORT(fk_tracker_options_init, &d, opt)) return FK_EINVAL;
  opt = &d;
  if (!(opt->timeout >= 0 && opt->timeout < 1e6) || !(opt->iou_min > 0 && opt->iou_min <= 1) ||
      !(opt->iou_sure >= opt->iou_min && opt->iou_sure <= 1) ||
      !(opt->max_distance >= 0 && opt->max_distance <= 2) || opt->min_hits < 1 || opt->min_hits > 1000)
    return FK_EINVAL;
  fk_tracker *t = calloc(1, sizeof *t);
  if (!t) return FK_ENOMEM;
  t->o = *opt;
  t->next_id = 1;
  *out = t;
  return FK_OK;
}

void fk_tracker_free(fk_tracker *t) {
  if (!t) return;
  for (int i = 0; i < t->n; i++) free(t->tr[i].app);
  free(t->tr);
  free(t->live);
  free(t->started);
  free(t->ended);
  free(t->det_track);
  free(t->emb);
  free(t->emb_asked);
  free(t->det_used);
  free(t->pred);
  free(t);
}

/* Grows *p (of *cap elements of size sz) to hold n; 0 on success. */
static int reserve(void **p, int *cap, int n, size_t sz) {
  if (n <= *cap) return 0;
  int c = *cap ? *cap : 8;
  while (c < n) c *= 2;
  void *q = realloc(*p, (size_t)c * sz);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

static int box_ok(fk_box b) {
  return isfinite(b.x) && isfinite(b.y) && isfinite(b.w) && isfinite(b.h) && b.w > 0 && b.h > 0 &&
         b.w < 1e7f && b.h < 1e7f && fabsf(b.x) < 1e7f && fabsf(b.y) < 1e7f;
}

static float iou(fk_box a, fk_box b) {
  float x0 = fmaxf(a.x, b.x), y0 = fmaxf(a.y, b.y);
  float x1 = fminf(a.x + a.w, b.x + b.w), y1 = fminf(a.y + a.h, b.y + b.h);
  if (x1 <= x0 || y1 <= y0) return 0;
  float inter = (x1 - x0) * (y1 - y0);
  return inter / (a.w * a.h + b.w * b.h - inter);
}

/* Where track r should be at `time`: constant velocity from its last
 * detection, extrapolated at most `timeout` seconds, size kept within
 * MAX_SIZE_CHANGE of the last one. */
static fk_box predict_box(const fk_tracker *t, const trk *r, double time) {
  double dt = time - r->pub.last_time;
  if (dt < 0) dt = 0;
  if (dt > t->o.timeout) dt = t->o.timeout;
  double w = r->w + r->vw * dt, h = r->h + r->vh * dt;
  w = fmin(fmax(w, r->w / MAX_SIZE_CHANGE), r->w * MAX_SIZE_CHANGE);
  h = fmin(fmax(h, r->h / MAX_SIZE_CHANGE), r->h * MAX_SIZE_CHANGE);
  double cx = r->cx + r->vx * dt, cy = r->cy + r->vy * dt;
  return (fk_box){(float)(cx - w / 2), (float)(cy - h / 2), (float)w, (float)h};
}

static double dot(const float *a, const float *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

/* Adds a unit copy of emb to r's appearance; FK_EINVAL for a zero or
 * non-finite vector. */
static int add_appearance(fk_tracker *t, trk *r, const float *emb) {
  double norm = sqrt(dot(emb, emb, t->dim));
  if (!(norm > 0) || !isfinite(norm)) return FK_EINVAL;
  if (!r->app && !(r->app = calloc((size_t)t->dim, sizeof *r->app))) return FK_ENOMEM;
  for (int i = 0; i < t->dim; i++) r->app[i] += (float)(emb[i] / norm);
  r->pub.appearances++;
  return FK_OK;
}

/* The embedding of detection j from the callback (asked once per update),
 * or NULL. Fixes the tracker's dim on first use; an embedding of another
 * width is ignored. */
static const float *det_embedding(fk_tracker *t, int j) {
  if (!t->o.embed) return NULL;
  if (!t->emb_asked[j]) {
    t->emb_asked[j] = 1;
    int dim = 0;
    const float *e = t->o.embed(t->o.user, j, &dim);
    if (e && dim > 0 && !t->dim) t->dim = dim;
    t->emb[j] = e && dim == t->dim && dot(e, e, dim) > 0 ? e : NULL;
  }
  return t->emb[j];
}

/* Cosine distance between r's mean appearance and detection j, or -1 when
 * either is unknown. */
static double appearance_distance(fk_tracker *t, const trk *r, int j) {
  if (!r->app || !t->o.embed) return -1;
  const float *e = det_embedding(t, j);
  if (!e) return -1;
  double na = sqrt(dot(r->app, r->app, t->dim)), ne = sqrt(dot(e, e, t->dim));
  if (!(na > 0 && ne > 0)) return -1;
  return 1 - dot(r->app, e, t->dim) / (na * ne);
}

/* Moves track r onto detection j at `time`. */
static void take(fk_tracker *t, trk *r, int j, const fk_box *boxes, const float *scores, int64_t frame,
                 double time, int by_appearance) {
  fk_box b = boxes[j];
  double cx = b.x + b.w / 2.0, cy = b.y + b.h / 2.0, dt = time - r->pub.last_time;
  if (by_appearance || dt <= 0) {
    /* a jump: the old motion says nothing about the new place */
    r->vx = r->vy = r->vw = r->vh = 0;
  } else {
    double k = r->pub.hits > 1 ? VELOCITY_KEEP : 0;
    r->vx = k * r->vx + (1 - k) * (cx - r->cx) / dt;
    r->vy = k * r->vy + (1 - k) * (cy - r->cy) / dt;
    r->vw = k * r->vw + (1 - k) * (b.w - r->w) / dt;
    r->vh = k * r->vh + (1 - k) * (b.h - r->h) / dt;
  }
  r->cx = cx, r->cy = cy, r->w = b.w, r->h = b.h;
  r->pub.box = b;
  r->pub.score = scores ? scores[j] : 0;
  r->pub.det = j;
  r->pub.last_frame = frame;
  r->pub.last_time = time;
  r->pub.hits++;
  r->pub.reidentified += by_appearance;
  r->matched = j;
  t->det_used[j] = 1;
  /* The embedding that proved the match also describes the track. */
  const float *e = t->emb_asked[j] ? t->emb[j] : NULL;
  if (e && r->pub.id) add_appearance(t, r, e);
}

/* Stage A or B: greedy matching by score of the tracks whose state passes
 * `want` (tentative or confirmed) to free detections. */
static int match_by_iou(fk_tracker *t, int confirmed, const fk_box *boxes, const float *scores, int n,
                        int64_t frame, double time) {
  typedef struct pair { int i, j; double s; } pair;
  int np = 0, cap = 0;
  pair *p = NULL;
  int *cand_t = calloc((size_t)t->n + 1, sizeof *cand_t), *cand_d = calloc((size_t)n + 1, sizeof *cand_d);
  if (!cand_t || !cand_d) goto oom;
  /* How many candidates each side has: two or more is ambiguous. */
  for (int i = 0; i < t->n; i++) {
    trk *r = &t->tr[i];
    if ((r->pub.id != 0) != confirmed || r->matched >= 0) continue;
    for (int j = 0; j < n; j++)
      if (!t->det_used[j] && iou(t->pred[i], boxes[j]) >= t->o.iou_min) cand_t[i]++, cand_d[j]++;
  }
  for (int i = 0; i < t->n; i++) {
    trk *r = &t->tr[i];
    if ((r->pub.id != 0) != confirmed || r->matched >= 0) continue;
    for (int j = 0; j < n; j++) {
      if (t->det_used[j]) continue;
      double o = iou(t->pred[i], boxes[j]), s = o;
      if (o < t->o.iou_min) continue;
      if (confirmed && (cand_t[i] > 1 || cand_d[j] > 1 || o < t->o.iou_sure)) {
        double d = appearance_distance(t, r, j);
        if (d > t->o.max_distance) continue; /* another face */
        if (d > 0) s = o - APPEARANCE_WEIGHT * d / t->o.max_distance; /* d > 0: max_distance > 0 */
      }
      if (np == cap) {
        cap = cap ? 2 * cap : 16;
        pair *q = realloc(p, (size_t)cap * sizeof *p);
        if (!q) goto oom;
        p = q;
      }
      p[np++] = (pair){i, j, s};
    }
  }
  /* Greedy, best score first (n is small: selection, not sorting). */
  for (;;) {
    int best = -1;
    for (int k = 0; k < np; k++)
      if (t->tr[p[k].i].matched < 0 && !t->det_used[p[k].j] && (best < 0 || p[k].s > p[best].s)) best = k;
    if (best < 0) break;
    take(t, &t->tr[p[best].i], p[best].j, boxes, scores, frame, time, 0);
  }
  free(p);
  free(cand_t);
  free(cand_d);
  return FK_OK;
oom:
  free(p);
  free(cand_t);
  free(cand_d);
  return FK_ENOMEM;
}

/* Stage C: free detections against free confirmed tracks with an
 * appearance, nearest first, within max_distance. */
static void reidentify(fk_tracker *t, const fk_box *boxes, const float *scores, int n, int64_t frame,
                       double time) {
  if (!t->o.embed) return;
  for (;;) {
    int bi = -1, bj = -1;
    double bd = 0;
    for (int i = 0; i < t->n; i++) {
      trk *r = &t->tr[i];
      if (!r->pub.id || r->matched >= 0 || !r->app) continue;
      for (int j = 0; j < n; j++) {
        if (t->det_used[j]) continue;
        double d = appearance_distance(t, r, j);
        if (d >= 0 && d <= t->o.max_distance && (bi < 0 || d < bd)) bi = i, bj = j, bd = d;
      }
    }
    if (bi < 0) return;
    take(t, &t->tr[bi], bj, boxes, scores, frame, time, 1);
  }
}

static int start_track(fk_tracker *t, int j, const fk_box *boxes, const float *scores, int64_t frame,
                       double time) {
  if (reserve((void **)&t->tr, &t->cap, t->n + 1, sizeof *t->tr)) return FK_ENOMEM;
  trk *r = &t->tr[t->n++];
  memset(r, 0, sizeof *r);
  r->matched = -1;
  r->pub.state = FK_TRACK_TENTATIVE;
  r->pub.first_frame = frame;
  r->pub.first_time = time;
  r->pub.last_time = time;
  take(t, r, j, boxes, scores, frame, time, 0);
  return FK_OK;
}

static int push(fk_track **arr, int *n, int *cap, const fk_track *tr) {
  if (reserve((void **)arr, cap, *n + 1, sizeof **arr)) return FK_ENOMEM;
  (*arr)[(*n)++] = *tr;
  return FK_OK;
}

/* After matching: confirms, loses, drops and ends tracks, then rebuilds
 * the public lists. detection_frame: whether this was an update. */
static int settle(fk_tracker *t, double time, int detection_frame, int ndet) {
  int w = 0, rc = FK_OK;
  for (int i = 0; i < t->n; i++) {
    trk *r = &t->tr[i];
    int keep = 1;
    if (r->matched >= 0) {
      int confirm = !r->pub.id && r->pub.hits >= t->o.min_hits;
      if (confirm) r->pub.id = t->next_id++;
      if (r->pub.id) r->pub.state = FK_TRACK_VISIBLE;
      if (confirm && !rc) rc = push(&t->started, &t->nstarted, &t->started_cap, &r->pub);
    } else if (!r->pub.id) {
      keep = !detection_frame; /* a tentative track missed once is noise */
    } else {
      if (detection_frame) r->pub.state = FK_TRACK_LOST, r->pub.det = -1;
      if (time - r->pub.last_time > t->o.timeout) {
        r->pub.state = FK_TRACK_ENDED;
        r->pub.det = -1;
        if (!rc) rc = push(&t->ended, &t->nended, &t->ended_cap, &r->pub);
        keep = 0;
      }
    }
    if (!keep) {
      free(r->app);
      continue;
    }
    t->tr[w++] = *r;
  }
  t->n = w;
  t->nlive = 0;
  if (reserve((void **)&t->det_track, &t->det_cap, ndet + 1, sizeof *t->det_track)) return FK_ENOMEM;
  for (int j = 0; j < ndet; j++) t->det_track[j] = -1;
  t->ndet = ndet;
  for (int i = 0; !rc && i < t->n; i++) {
    trk *r = &t->tr[i];
    if (r->matched >= 0 && detection_frame) t->det_track[r->matched] = t->nlive;
    rc = push(&t->live, &t->nlive, &t->live_cap, &r->pub);
  }
  return rc;
}

static int begin(fk_tracker *t, int64_t frame, double time) {
  if (!isfinite(time) || (t->has_time && (time < t->last_time || frame < t->last_frame))) return FK_EINVAL;
  t->has_time = 1;
  t->last_time = time;
  t->last_frame = frame;
  t->nstarted = t->nended = 0;
  for (int i = 0; i < t->n; i++) t->tr[i].matched = -1;
  return FK_OK;
}

static int scratch(fk_tracker *t, int n) {
  if (n + 1 > t->scratch_dets) {
    int c = n + 1;
    const float **e = realloc(t->emb, (size_t)c * sizeof *e);
    if (e) t->emb = e;
    int *a = realloc(t->emb_asked, (size_t)c * sizeof *a);
    if (a) t->emb_asked = a;
    int *u = realloc(t->det_used, (size_t)c * sizeof *u);
    if (u) t->det_used = u;
    if (!e || !a || !u) return FK_ENOMEM;
    t->scratch_dets = c;
  }
  if (t->n + 1 > t->scratch_tracks) {
    fk_box *p = realloc(t->pred, (size_t)(t->n + 1) * sizeof *p);
    if (!p) return FK_ENOMEM;
    t->pred = p;
    t->scratch_tracks = t->n + 1;
  }
  memset(t->emb_asked, 0, (size_t)(n + 1) * sizeof *t->emb_asked);
  memset(t->det_used, 0, (size_t)(n + 1) * sizeof *t->det_used);
  return FK_OK;
}

int fk_tracker_update(fk_tracker *t, int64_t frame, double time, const fk_box *boxes, const float *scores,
                      int n) {
  if (!t || n < 0 || (n && !boxes)) return FK_EINVAL;
  int rc = begin(t, frame, time);
  if (rc || (rc = scratch(t, n))) return rc;
  for (int j = 0; j < n; j++) t->det_used[j] = !box_ok(boxes[j]);
  for (int i = 0; i < t->n; i++) t->pred[i] = predict_box(t, &t->tr[i], time);
  if ((rc = match_by_iou(t, 1, boxes, scores, n, frame, time))) return rc;
  if ((rc = match_by_iou(t, 0, boxes, scores, n, frame, time))) return rc;
  reidentify(t, boxes, scores, n, frame, time);
  for (int j = 0; j < n; j++)
    if (!t->det_used[j] && (rc = start_track(t, j, boxes, scores, frame, time))) return rc;
  return settle(t, time, 1, n);
}

int fk_tracker_predict(fk_tracker *t, int64_t frame, double time) {
  if (!t) return FK_EINVAL;
  int rc = begin(t, frame, time);
  if (rc) return rc;
  for (int i = 0; i < t->n; i++) {
    trk *r = &t->tr[i];
    r->pub.det = -1;
    if (r->pub.state == FK_TRACK_VISIBLE) r->pub.box = predict_box(t, r, time);
  }
  return settle(t, time, 0, 0);
}

void fk_tracker_end_all(fk_tracker *t) {
  if (!t) return;
  t->nstarted = t->nended = 0;
  for (int i = 0; i < t->n; i++) {
    trk *r = &t->tr[i];
    if (r->pub.id) {
      r->pub.state = FK_TRACK_ENDED;
      r->pub.det = -1;
      push(&t->ended, &t->nended, &t->ended_cap, &r->pub);
    }
    free(r->app);
  }
  t->n = t->nlive = t->ndet = 0;
}

int fk_tracker_tracks(const fk_tracker *t, const fk_track **tracks) {
  *tracks = t->live;
  return t->nlive;
}

int fk_tracker_started(const fk_tracker *t, const fk_track **tracks) {
  *tracks = t->started;
  return t->nstarted;
}

int fk_tracker_ended(const fk_tracker *t, const fk_track **tracks) {
  *tracks = t->ended;
  return t->nended;
}

const fk_track *fk_tracker_track_of(const fk_tracker *t, int det) {
  if (!t || det < 0 || det >= t->ndet || t->det_track[det] < 0) return NULL;
  return &t->live[t->det_track[det]];
}

int fk_tracker_add_appearance(fk_tracker *t, int id, const float *emb, int dim) {
  if (!t || !emb || dim <= 0 || id <= 0 || (t->dim && dim != t->dim)) return FK_EINVAL;
  for (int i = 0; i < t->n; i++)
    if (t->tr[i].pub.id == id) {
      int had = t->dim;
      t->dim = dim;
      int rc = add_appearance(t, &t->tr[i], emb);
      if (rc) t->dim = had;
      else if (t->nlive > 0)
        for (int k = 0; k < t->nlive; k++)
          if (t->live[k].id == id) t->live[k].appearances = t->tr[i].pub.appearances;
      return rc;
    }
  return FK_EINVAL;
}
