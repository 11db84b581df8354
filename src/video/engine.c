/*
 * engine.c - fkv_engine: what `facekit stream` does with each frame, on
 * the core library alone (no FFmpeg here).
 *
 * Per frame:
 *   1. detect (fk_detect_no_landmarks: the detector alone) on every
 *      detect_every-th frame, dropping faces under min_face; other frames
 *      only move the tracks to their predicted boxes;
 *   2. track (fk_tracker), lending it embeddings of detections on request
 *      (ambiguous overlaps, re-entries) - each computed once per frame;
 *   3. per confirmed track whose embedding is near (its first frames, or
 *      the last CANDIDATE_WINDOW detection frames before the next one),
 *      keep the best face seen ("candidate": sharpest, most frontal; a copy
 *      of the pixels around it, so it can be embedded frames later);
 *   4. per track, when due - on its first embed_first detected frames,
 *      then every embed_every frames - embed the candidate, add it to the
 *      track's appearance, search the index and vote (identity = the
 *      identity with most nearest-neighbour matches under the threshold),
 *      and analyse it (attributes smoothed over the track);
 *   5. emit track_start / identified / attributes / track_end events, and
 *      write the best face of an ended track to the snapshot directory.
 * Work per track, not per frame: embeddings, searches and attributes run
 * only on the schedule of step 4 (and for the tracker's rare questions),
 * and the landmark net (1.6 ms a face, as much as the detector for four
 * faces) only on the faces steps 2 to 4 look at.
 *
 * Smoothing: gender and race probabilities are averaged over every sample
 * of the track; emotion over the last EMOTION_WINDOW samples, so that a
 * change of expression shows; age is the running median. An attributes
 * event is emitted with the first sample and whenever a dominant class
 * changes.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "base/clock.h"
#include "image/image.h"
#include "video/video.h"

#define EMOTION_WINDOW 5
/* Detection frames before an embedding is due whose faces compete for it. */
#define CANDIDATE_WINDOW 4
/* Embeddings (with their search) per detection frame. One takes ~14 ms
 * with flip at 1 thread; four faces starting together would otherwise cost
 * ~60 ms on one frame, two frame times of a live 30 fps source, and drop
 * frames. The others stay due and take the next frames, newest tracks
 * first. */
#define MAX_EMBEDS_PER_FRAME 1
/* The candidate copy: the box enlarged by this much of its longer side on
 * each side, enough for every crop the nets take (gear's is the widest,
 * about 1.54x the landmarks' extent). */
#define CANDIDATE_MARGIN 0.75
/* The snapshot: the box enlarged by this fraction on each side. */
#define SNAPSHOT_MARGIN 0.25

const char *const fkv_stage_names[FKV_NUM_STAGES] = {"decode", "detect",     "track", "embed",
                                                     "search", "attributes", "draw",  "encode"};
const char *const fkv_event_names[FKV_NUM_EVENTS] = {
    "source_open", "source_lost", "source_reconnected", "track_start", "identified",
    "attributes",  "track_end",   "frame",              "stats",       "end"};

/* A face's embedding and its width (the session's model's). */
static const float *face_embedding(const fk_face *f, int *dim) {
  *dim = f->dim;
  return f->embedding;
}

/* A face kept for later: its pixels and the face in their coordinates. */
typedef struct candidate {
  int has;
  double quality;
  fk_image crop;
  fk_face face;
  int64_t frame;
  int det;            /* the detection on `frame` it came from */
} candidate;

typedef struct vote {
  char key[4096];     /* the identity, or the image path of faces without one */
  char identity[256];
  char path[4096];
  int count;
  float best;
} vote;

/* Everything the engine knows about one confirmed track. */
typedef struct etrack {
  fkv_track pub;
  candidate cand, best;   /* best since the last embedding / embedded so far */
  int64_t last_embed_frame;
  int embeds;
  float *emb_sum, *emb_mean;
  vote *votes;
  int nvotes, winner;     /* the leading vote, -1 before the first */
  /* attribute samples */
  double gender_sum[FK_NUM_GENDERS], race_sum[FK_NUM_RACES];
  float emotion[EMOTION_WINDOW][FK_NUM_EMOTIONS];
  float *ages;
  int nages, ages_cap;
  int alive;
} etrack;

struct fkv_engine {
  fkv_engine_options o;
  fk_session *s;
  fk_tracker *tr;
  float threshold;
  etrack **tracks;
  int ntracks, tracks_cap;
  /* this frame */
  const fk_image *img;
  int64_t frame, processed;
  double pts;
  fk_face *faces;
  int nfaces, faces_cap;
  fk_box *boxes;
  float *scores;
  int *face_of;          /* box -> face */
  int *lm_state;         /* box: 0 no landmarks yet, 1 done, -1 failed */
  int *emb_state;        /* box: 0 not embedded, 1 embedded, -1 failed */
  int nboxes;
  int status;            /* first error inside the tracker's callback */
  /* what the frame shows */
  const fkv_track **shown;
  int nshown;
  fk_box *tentative;
  int ntentative, shown_cap;
  /* counters */
  double ms[FKV_NUM_STAGES];
  int64_t detections, embeddings, searches, analyses, tracks_total;
  fk_store_face *sf;     /* lookup scratch (large) */
  char err[FKV_ERRMSG_MAX];
};

#define fail(e, ...) fk_fail((e)->err, sizeof (e)->err, __VA_ARGS__)

static int session_fail(fkv_engine *e, int rc, const char *what) {
  return fail(e, rc, "%s: %s", what, fk_session_errmsg(e->s));
}

static void emit(fkv_engine *e, int type, const fkv_track *t) {
  if (!e->o.on_event) return;
  fkv_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = type;
  ev.frame = e->frame;
  ev.pts = e->pts;
  ev.track = t;
  e->o.on_event(&ev, e->o.user);
}

void fkv_engine_options_init(fkv_engine_options *o) {
  memset(o, 0, sizeof *o);
  /* Every 2nd frame: with --output, four faces at 640x480 cost 16 to 17 ms
   * of CPU a frame detecting every frame and 12.5 to 13.5 every 2nd
   * (bench_stream, every identity found either way), where 120 fps on 2
   * cores allows 16.7, the analysis thread's share at most 8.3 (README,
   * "Speed with the stages overlapped"). */
  o->detect_every = 2;
  o->embed_first = 3;
  o->embed_every = 30;
  fk_tracker_options_init(&o->track);
  o->track.min_hits = 2;
  o->track.max_distance = -1;
  fk_options fo;
  fk_options_init(&fo);
  o->model = fo.model;
  o->metric = FK_METRIC_COSINE;
  o->threshold = -1;
}

/* Chosen with bench_stream's recall on its clips (1 and 4 moving faces at
 * 640x480 and 1280x720): Tiny at 416 and 0.2 finds every face SSD at its
 * automatic size (512 for these frames) finds when faces are 18% of the
 * frame height, at about an eighth of the cost; 320 misses some at 720p,
 * 256 a quarter of them, and a 0.5 score loses faces. Faces under ~10% of
 * the height want a larger --input-size (see README). */
void fkv_default_detector(fk_options *o) {
  o->detector = FK_DETECTOR_TINY;
  o->tiny_input_size = 416;
  o->min_score = 0.2f;
}

/* ---- quality of a face: sharp, frontal, big enough ------------------------ */

static fk_point mean_point(const fk_point *p, int from, int to) {
  fk_point m = {0, 0};
  for (int i = from; i <= to; i++) m.x += p[i].x, m.y += p[i].y;
  m.x /= (float)(to - from + 1);
  m.y /= (float)(to - from + 1);
  return m;
}

/* 1 for a frontal face, falling towards 0 as it turns: the nose tip's
 * distances to the two eye centres, shorter over longer. */
static double frontality(const fk_face *f) {
  fk_point l = mean_point(f->landmarks, 36, 41), r = mean_point(f->landmarks, 42, 47), n = f->landmarks[30];
  double dl = hypot(n.x - l.x, n.y - l.y), dr = hypot(n.x - r.x, n.y - r.y);
  double hi = fmax(dl, dr);
  return hi > 0 ? fmin(dl, dr) / hi : 0;
}

/* Sharpness in [0, 1): the variance of the Laplacian of the face box
 * (fk_laplacian_variance, at 32x32 so it compares faces of any size), v /
 * (v + 100). */
static double sharpness(const fk_image *img, fk_box b) {
  double v = fk_laplacian_variance(img, b);
  return v / (v + 100);
}

static double quality(const fk_image *img, const fk_face *f) {
  double size = fmin(1.0, fmin(f->box.w, f->box.h) / 80.0);
  return frontality(f) * sharpness(img, f->box) * size * (0.5 + 0.5 * f->score);
}

/* ---- candidates -------------------------------------------------------------- */

static void candidate_clear(candidate *c) {
  fk_image_free(&c->crop);
  memset(c, 0, sizeof *c);
}

/* Copies face f of the frame, with a margin, into c. */
static int candidate_take(candidate *c, const fk_image *img, const fk_face *f, double q, int64_t frame,
                          int det) {
  double m = CANDIDATE_MARGIN * fmax(f->box.w, f->box.h);
  int x0 = (int)floor(f->box.x - m), y0 = (int)floor(f->box.y - m);
  int x1 = (int)ceil(f->box.x + f->box.w + m), y1 = (int)ceil(f->box.y + f->box.h + m);
  x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
  x1 = x1 > img->width ? img->width : x1, y1 = y1 > img->height ? img->height : y1;
  fk_image crop;
  int rc = fk_image_crop(img, (fk_rect){x0, y0, x1 - x0, y1 - y0}, &crop);
  if (rc) return rc;
  candidate_clear(c);
  c->has = 1;
  c->quality = q;
  c->crop = crop;
  c->face = *f;
  c->face.box.x -= (float)x0, c->face.box.y -= (float)y0;
  for (int i = 0; i < FK_NUM_LANDMARKS; i++) c->face.landmarks[i].x -= (float)x0, c->face.landmarks[i].y -= (float)y0;
  c->frame = frame;
  c->det = det;
  return FK_OK;
}

/* ---- tracks --------------------------------------------------------------------- */

static etrack *find_track(const fkv_engine *e, int id) {
  for (int i = 0; i < e->ntracks; i++)
    if (e->tracks[i]->pub.id == id) return e->tracks[i];
  return NULL;
}

static void etrack_free(etrack *t) {
  if (!t) return;
  candidate_clear(&t->cand);
  candidate_clear(&t->best);
  free(t->emb_sum);
  free(t->emb_mean);
  free(t->votes);
  free(t->ages);
  free(t);
}

static int start_track(fkv_engine *e, const fk_track *k) {
  etrack *t = calloc(1, sizeof *t);
  if (!t) return fail(e, FK_ENOMEM, "out of memory");
  if (e->ntracks == e->tracks_cap) {
    int cap = e->tracks_cap ? 2 * e->tracks_cap : 8;
    etrack **p = realloc(e->tracks, (size_t)cap * sizeof *p);
    if (!p) return free(t), fail(e, FK_ENOMEM, "out of memory");
    e->tracks = p;
    e->tracks_cap = cap;
  }
  e->tracks[e->ntracks++] = t;
  t->pub.id = k->id;
  t->pub.first_frame = k->first_frame;
  t->pub.first_pts = k->first_time;
  t->winner = -1;
  t->alive = 1;
  e->tracks_total++;
  return FK_OK;
}

/* Copies the tracker's view of a track into the engine's. */
static void sync_track(etrack *t, const fk_track *k) {
  t->pub.box = k->box;
  t->pub.score = k->score;
  t->pub.detected = k->det >= 0;
  t->pub.last_frame = k->last_frame;
  t->pub.last_pts = k->last_time;
}

/* The median of the track's ages (sorted insertion keeps it cheap). */
static float median_age(etrack *t, float age) {
  if (t->nages == t->ages_cap) {
    int cap = t->ages_cap ? 2 * t->ages_cap : 16;
    float *p = realloc(t->ages, (size_t)cap * sizeof *p);
    if (!p) return age;
    t->ages = p;
    t->ages_cap = cap;
  }
  int i = t->nages++;
  while (i > 0 && t->ages[i - 1] > age) t->ages[i] = t->ages[i - 1], i--;
  t->ages[i] = age;
  int n = t->nages;
  return n % 2 ? t->ages[n / 2] : 0.5f * (t->ages[n / 2 - 1] + t->ages[n / 2]);
}

static int argmax(const float *p, int n) {
  int b = 0;
  for (int i = 1; i < n; i++)
    if (p[i] > p[b]) b = i;
  return b;
}

/* Folds one analysis into the track's smoothed attributes; returns 1 when
 * an event is due (first sample, or a dominant class changed). */
static int smooth_attributes(etrack *t, const fk_attributes *a) {
  fk_attributes *s = &t->pub.attr;
  int first = t->pub.attr_samples == 0, n = ++t->pub.attr_samples;
  fk_attributes before = *s;
  s->actions = a->actions;
  if (a->actions & FK_ACTION_AGE) s->age = median_age(t, a->age);
  if (a->actions & FK_ACTION_GENDER) {
    for (int i = 0; i < FK_NUM_GENDERS; i++) t->gender_sum[i] += a->gender[i], s->gender[i] = (float)(t->gender_sum[i] / n);
    s->gender_dominant = argmax(s->gender, FK_NUM_GENDERS);
  }
  if (a->actions & FK_ACTION_RACE) {
    for (int i = 0; i < FK_NUM_RACES; i++) t->race_sum[i] += a->race[i], s->race[i] = (float)(t->race_sum[i] / n);
    s->race_dominant = argmax(s->race, FK_NUM_RACES);
  }
  if (a->actions & FK_ACTION_EMOTION) {
    memcpy(t->emotion[(n - 1) % EMOTION_WINDOW], a->emotion, sizeof a->emotion);
    int w = n < EMOTION_WINDOW ? n : EMOTION_WINDOW;
    for (int k = 0; k < FK_NUM_EMOTIONS; k++) {
      double sum = 0;
      for (int j = 0; j < w; j++) sum += t->emotion[j][k];
      s->emotion[k] = (float)(sum / w);
    }
    s->emotion_dominant = argmax(s->emotion, FK_NUM_EMOTIONS);
  }
  unsigned changed = 0;
  if (!first) {
    if ((a->actions & FK_ACTION_GENDER) && s->gender_dominant != before.gender_dominant) changed |= FK_ACTION_GENDER;
    if ((a->actions & FK_ACTION_EMOTION) && s->emotion_dominant != before.emotion_dominant)
      changed |= FK_ACTION_EMOTION;
    if ((a->actions & FK_ACTION_RACE) && s->race_dominant != before.race_dominant) changed |= FK_ACTION_RACE;
  }
  t->pub.attr_changed = changed;
  return first || changed;
}

/* Searches one embedding in the index and counts its vote; emits
 * IDENTIFIED when the winner changes. The only caller of fk_store_search. */
static int identify(fkv_engine *e, etrack *t, const float *emb, int dim) {
  fk_search_options so;
  fk_search_options_init(&so);
  so.k = 1;
  so.metric = e->o.metric;
  so.threshold = e->threshold;
  fk_match m;
  int n = 0;
  double t0 = fk_now_ms();
  int rc = fk_store_search(e->o.db, emb, dim, &so, &m, &n);
  if (rc == FK_OK && n > 0) rc = fk_store_get_face(e->o.db, m.face_id, e->sf);
  e->ms[FKV_STAGE_SEARCH] += fk_now_ms() - t0;
  if (rc) return fail(e, rc, "searching the index: %s", fk_store_errmsg(e->o.db));
  e->searches++;
  t->pub.searches++;
  if (n == 0) return FK_OK;
  const char *key = e->sf->identity[0] ? e->sf->identity : e->sf->path;
  vote *v = NULL;
  for (int i = 0; i < t->nvotes && !v; i++)
    if (!strcmp(t->votes[i].key, key)) v = &t->votes[i];
  if (!v) {
    vote *p = realloc(t->votes, (size_t)(t->nvotes + 1) * sizeof *p);
    if (!p) return fail(e, FK_ENOMEM, "out of memory");
    t->votes = p;
    v = &t->votes[t->nvotes++];
    memset(v, 0, sizeof *v);
    snprintf(v->key, sizeof v->key, "%s", key);
    snprintf(v->identity, sizeof v->identity, "%s", e->sf->identity);
    v->best = INFINITY;
  }
  v->count++;
  if (m.distance < v->best) {
    v->best = m.distance;
    snprintf(v->path, sizeof v->path, "%s", e->sf->path);
  }
  int win = 0;
  for (int i = 1; i < t->nvotes; i++) {
    const vote *a = &t->votes[i], *b = &t->votes[win];
    if (a->count > b->count || (a->count == b->count && a->best < b->best)) win = i;
  }
  int changed = win != t->winner;
  t->winner = win;
  const vote *w = &t->votes[win];
  t->pub.identified = 1;
  snprintf(t->pub.identity, sizeof t->pub.identity, "%s", w->identity);
  snprintf(t->pub.identity_path, sizeof t->pub.identity_path, "%s", w->path);
  t->pub.distance = w->best;
  t->pub.votes = w->count;
  if (changed) emit(e, FKV_EV_IDENTIFIED, &t->pub);
  return FK_OK;
}

/* Adds an embedding to the track's mean appearance, and to the tracker's
 * unless it has it already (an embedding it asked for this frame). */
static void add_embedding(fkv_engine *e, etrack *t, const float *emb, int dim, int tracker_has_it) {
  if (!t->emb_sum) {
    t->emb_sum = calloc((size_t)dim, sizeof *t->emb_sum);
    t->emb_mean = calloc((size_t)dim, sizeof *t->emb_mean);
    if (!t->emb_sum || !t->emb_mean) return;
    t->pub.dim = dim;
  }
  if (dim != t->pub.dim) return;
  double norm = 0, mnorm = 0;
  for (int i = 0; i < dim; i++) norm += (double)emb[i] * emb[i];
  if (!(norm > 0)) return;
  norm = sqrt(norm);
  for (int i = 0; i < dim; i++) t->emb_sum[i] += (float)(emb[i] / norm), mnorm += (double)t->emb_sum[i] * t->emb_sum[i];
  mnorm = sqrt(mnorm);
  for (int i = 0; mnorm > 0 && i < dim; i++) t->emb_mean[i] = (float)(t->emb_sum[i] / mnorm);
  t->pub.embedding = t->emb_mean;
  t->pub.embeddings++;
  if (!tracker_has_it) fk_tracker_add_appearance(e->tr, t->pub.id, emb, dim);
}

/* Embeds, identifies and analyses the track's candidate. */
static int process_candidate(fkv_engine *e, etrack *t) {
  candidate *c = &t->cand;
  int rc, dim;
  const float *emb;
  int asked = c->frame == e->frame && c->det >= 0 && c->det < e->nboxes && e->emb_state[c->det] == 1;
  if (asked) {
    emb = face_embedding(&e->faces[e->face_of[c->det]], &dim); /* the tracker's question */
  } else {
    double t0 = fk_now_ms();
    rc = fk_represent(e->s, &c->crop, &c->face);
    e->ms[FKV_STAGE_EMBED] += fk_now_ms() - t0;
    if (rc == FK_ENOFACE) return candidate_clear(c), FK_OK; /* the chip fell outside the crop */
    if (rc) return session_fail(e, rc, "embedding a face");
    e->embeddings++;
    emb = face_embedding(&c->face, &dim);
  }
  add_embedding(e, t, emb, dim, asked);
  if (e->o.db && (rc = identify(e, t, emb, dim))) return rc;
  if (e->o.actions) {
    fk_attributes a;
    double t0 = fk_now_ms();
    rc = fk_analyze(e->s, &c->crop, &c->face, e->o.actions, &a);
    e->ms[FKV_STAGE_ATTRIBUTES] += fk_now_ms() - t0;
    if (rc && rc != FK_ENOFACE) return session_fail(e, rc, "analysing a face");
    e->analyses += rc == FK_OK;
    if (rc == FK_OK && smooth_attributes(t, &a)) emit(e, FKV_EV_ATTRIBUTES, &t->pub);
  }
  t->embeds++;
  t->last_embed_frame = e->frame;
  if (!t->best.has || c->quality > t->best.quality) {
    candidate_clear(&t->best);
    t->best = *c;
    memset(c, 0, sizeof *c);
  } else {
    candidate_clear(c);
  }
  return FK_OK;
}

static int embed_due(const fkv_engine *e, const etrack *t) {
  if (!t->cand.has) return 0;
  if (t->embeds < e->o.embed_first) return 1;
  return e->frame - t->last_embed_frame >= e->o.embed_every;
}

/* Writes the track's best face as DIR/<id>.png. */
static int write_snapshot(fkv_engine *e, etrack *t) {
  candidate *c = t->cand.has && (!t->best.has || t->cand.quality > t->best.quality) ? &t->cand : &t->best;
  if (!c->has) return FK_OK;
  fk_box b = c->face.box;
  double m = SNAPSHOT_MARGIN * fmax(b.w, b.h);
  fk_rect r = {(int)floor(b.x - m), (int)floor(b.y - m), (int)ceil(b.w + 2 * m), (int)ceil(b.h + 2 * m)};
  fk_image shot;
  int rc = fk_image_crop(&c->crop, r, &shot);
  if (rc) return FK_OK; /* nothing of the face inside the copy */
  snprintf(t->pub.snapshot, sizeof t->pub.snapshot, "%s/%d.png", e->o.snapshots, t->pub.id);
  rc = fk_image_save_png(&shot, t->pub.snapshot);
  fk_image_free(&shot);
  if (rc) return fail(e, rc, "%s: cannot write the snapshot: %s", t->pub.snapshot, fk_strerror(rc));
  return FK_OK;
}

/* Finishes the tracks the tracker just ended: snapshot, event, free. */
static int end_tracks(fkv_engine *e) {
  const fk_track *ended;
  int n = fk_tracker_ended(e->tr, &ended), rc = FK_OK;
  for (int i = 0; i < n; i++) {
    etrack *t = find_track(e, ended[i].id);
    if (!t) continue;
    sync_track(t, &ended[i]);
    t->pub.detected = 0;
    if (e->o.snapshots && !rc) rc = write_snapshot(e, t);
    emit(e, FKV_EV_TRACK_END, &t->pub);
    t->alive = 0;
  }
  int w = 0;
  for (int i = 0; i < e->ntracks; i++) {
    if (e->tracks[i]->alive) e->tracks[w++] = e->tracks[i];
    else etrack_free(e->tracks[i]);
  }
  e->ntracks = w;
  return rc;
}

/* ---- per frame -------------------------------------------------------------------- */

/* The face of box j with its landmarks, computed on first use (timed as
 * detection); NULL when its box gives none. */
static fk_face *with_landmarks(fkv_engine *e, int j) {
  fk_face *f = &e->faces[e->face_of[j]];
  if (e->lm_state[j] == 0) {
    double t0 = fk_now_ms();
    float score = f->score;
    int rc = fk_landmarks(e->s, e->img, f->box, f);
    f->score = score;
    e->ms[FKV_STAGE_DETECT] += fk_now_ms() - t0;
    if (rc && rc != FK_ENOFACE && !e->status) e->status = session_fail(e, rc, "landmarks");
    e->lm_state[j] = rc ? -1 : 1;
  }
  return e->lm_state[j] > 0 ? f : NULL;
}

/* The tracker's question: the embedding of box `det` of this frame. */
static const float *embed_detection(void *user, int det, int *dim) {
  fkv_engine *e = user;
  *dim = 0;
  if (det < 0 || det >= e->nboxes || e->emb_state[det] < 0) return NULL;
  fk_face *f = with_landmarks(e, det);
  if (!f) return NULL;
  if (e->emb_state[det] == 0) {
    double t0 = fk_now_ms();
    int rc = fk_represent(e->s, e->img, f);
    e->ms[FKV_STAGE_EMBED] += fk_now_ms() - t0;
    if (rc && rc != FK_ENOFACE && !e->status) e->status = session_fail(e, rc, "embedding a face");
    e->emb_state[det] = rc ? -1 : 1;
    e->embeddings += rc == FK_OK;
    if (rc) return NULL;
  }
  return face_embedding(f, dim);
}

static int detect(fkv_engine *e) {
  double t0 = fk_now_ms();
  int n = 0, rc = fk_detect_no_landmarks(e->s, e->img, e->faces, e->faces_cap, &n);
  e->ms[FKV_STAGE_DETECT] += fk_now_ms() - t0;
  if (rc) return session_fail(e, rc, "detecting faces");
  e->nfaces = n < e->faces_cap ? n : e->faces_cap;
  e->nboxes = 0;
  for (int i = 0; i < e->nfaces; i++) {
    const fk_face *f = &e->faces[i];
    if (fminf(f->box.w, f->box.h) < (float)e->o.min_face) continue;
    e->boxes[e->nboxes] = f->box;
    e->scores[e->nboxes] = f->score;
    e->emb_state[e->nboxes] = e->lm_state[e->nboxes] = 0;
    e->face_of[e->nboxes++] = i;
  }
  e->detections += e->nboxes;
  return FK_OK;
}

/* Records which tracks the frame shows (visible ones) and which
 * detections belong to no confirmed track yet. */
static int collect_shown(fkv_engine *e) {
  const fk_track *live;
  int n = fk_tracker_tracks(e->tr, &live);
  e->nshown = e->ntentative = 0;
  for (int i = 0; i < n; i++) {
    if (live[i].state == FK_TRACK_TENTATIVE) {
      if (live[i].det >= 0) e->tentative[e->ntentative++] = live[i].box;
      continue;
    }
    etrack *t = find_track(e, live[i].id);
    if (!t) continue;
    sync_track(t, &live[i]);
    if (live[i].state == FK_TRACK_VISIBLE) e->shown[e->nshown++] = &t->pub;
  }
  return FK_OK;
}

/* Whether the track's next embedding is near enough for this frame's face
 * to compete for it. */
static int wants_candidate(const fkv_engine *e, const etrack *t) {
  if (t->embeds < e->o.embed_first) return 1;
  return e->frame >= t->last_embed_frame + e->o.embed_every - (int64_t)CANDIDATE_WINDOW * e->o.detect_every;
}

/* Steps 3 and 4 for every track this frame's detections matched. */
static int per_track(fkv_engine *e) {
  for (int j = 0; j < e->nboxes; j++) {
    const fk_track *k = fk_tracker_track_of(e->tr, j);
    etrack *t = k && k->id ? find_track(e, k->id) : NULL;
    if (!t || !wants_candidate(e, t)) continue;
    const fk_face *f = with_landmarks(e, j);
    if (e->status) return e->status;
    if (!f) continue;
    double q = quality(e->img, f);
    if (!t->cand.has || q > t->cand.quality) {
      int rc = candidate_take(&t->cand, e->img, f, q, e->frame, j);
      if (rc) return fail(e, rc, "copying a face: %s", fk_strerror(rc));
    }
  }
  /* first embeddings before periodic ones, then fewest embeddings first */
  for (int done = 0; done < MAX_EMBEDS_PER_FRAME; done++) {
    etrack *next = NULL;
    for (int i = 0; i < e->ntracks; i++) {
      etrack *t = e->tracks[i];
      if (embed_due(e, t) && (!next || t->embeds < next->embeds)) next = t;
    }
    if (!next) break;
    int rc = process_candidate(e, next);
    if (rc) return rc;
  }
  return FK_OK;
}

static int grow_frame_arrays(fkv_engine *e) {
  const fk_track *live;
  int n = fk_tracker_tracks(e->tr, &live) + 1;
  if (n <= e->shown_cap) return FK_OK;
  const fkv_track **s = realloc(e->shown, (size_t)n * sizeof *s);
  if (s) e->shown = s;
  fk_box *t = realloc(e->tentative, (size_t)n * sizeof *t);
  if (t) e->tentative = t;
  if (!s || !t) return fail(e, FK_ENOMEM, "out of memory");
  e->shown_cap = n;
  return FK_OK;
}

int fkv_engine_frame(fkv_engine *e, const fk_image *img, int64_t frame, double pts) {
  if (!img || !img->rgb || img->width <= 0 || img->height <= 0) return fail(e, FK_EINVAL, "invalid frame");
  e->img = img;
  e->frame = frame;
  e->pts = pts;
  e->status = FK_OK;
  int detecting = e->processed++ % e->o.detect_every == 0, rc;
  if (detecting) {
    if ((rc = detect(e))) return rc;
    double t0 = fk_now_ms(), embed0 = e->ms[FKV_STAGE_EMBED];
    rc = fk_tracker_update(e->tr, frame, pts, e->boxes, e->scores, e->nboxes);
    e->ms[FKV_STAGE_TRACK] += fk_now_ms() - t0 - (e->ms[FKV_STAGE_EMBED] - embed0);
  } else {
    double t0 = fk_now_ms();
    e->nboxes = 0;
    rc = fk_tracker_predict(e->tr, frame, pts);
    e->ms[FKV_STAGE_TRACK] += fk_now_ms() - t0;
  }
  if (rc) return fail(e, rc, "tracking: %s", fk_strerror(rc));
  if (e->status) return e->status;
  const fk_track *started;
  int ns = fk_tracker_started(e->tr, &started);
  for (int i = 0; i < ns; i++) {
    if ((rc = start_track(e, &started[i]))) return rc;
    etrack *t = e->tracks[e->ntracks - 1];
    sync_track(t, &started[i]);
    emit(e, FKV_EV_TRACK_START, &t->pub);
  }
  if ((rc = grow_frame_arrays(e)) || (rc = collect_shown(e))) return rc;
  if ((rc = per_track(e))) return rc;
  if ((rc = end_tracks(e))) return rc;
  if (e->o.every_frame && e->o.on_event) {
    fkv_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = FKV_EV_FRAME;
    ev.frame = frame;
    ev.pts = pts;
    ev.tracks = (const fkv_track *const *)e->shown;
    ev.ntracks = e->nshown;
    ev.boxes = e->tentative;
    ev.nboxes = e->ntentative;
    e->o.on_event(&ev, e->o.user);
  }
  return FK_OK;
}

int fkv_engine_end_tracks(fkv_engine *e, int64_t frame, double pts) {
  e->frame = frame;
  e->pts = pts;
  /* the faces in hand are worth their embedding before the track closes */
  for (int i = 0; i < e->ntracks; i++) {
    etrack *t = e->tracks[i];
    if (t->cand.has && t->embeds == 0) {
      int rc = process_candidate(e, t);
      if (rc) return rc;
    }
  }
  fk_tracker_end_all(e->tr);
  e->nshown = e->ntentative = 0;
  return end_tracks(e);
}

void fkv_engine_draw(const fkv_engine *e, fk_image *img) {
  for (int i = 0; i < e->nshown; i++) {
    const fkv_track *t = e->shown[i];
    char l1[300], l2[160] = "";
    if (t->identified) snprintf(l1, sizeof l1, "#%d %s", t->id, t->identity[0] ? t->identity : "(match)");
    else snprintf(l1, sizeof l1, "#%d", t->id);
    const fk_attributes *a = &t->attr;
    if (t->attr_samples) {
      size_t n = 0;
      if (a->actions & FK_ACTION_GENDER) n += snprintf(l2 + n, sizeof l2 - n, "%s ", fk_gender_name(a->gender_dominant));
      if ((a->actions & FK_ACTION_AGE) && n < sizeof l2) n += snprintf(l2 + n, sizeof l2 - n, "%.0f ", a->age);
      if ((a->actions & FK_ACTION_EMOTION) && n < sizeof l2)
        n += snprintf(l2 + n, sizeof l2 - n, "%s ", fk_emotion_name(a->emotion_dominant));
      if ((a->actions & FK_ACTION_RACE) && n < sizeof l2) snprintf(l2 + n, sizeof l2 - n, "%s", fk_race_name(a->race_dominant));
    }
    const char *lines[2] = {l1, l2};
    fkv_draw_track(img, t->box, t->id, lines, l2[0] ? 2 : 1, t->detected);
  }
}

void fkv_engine_add_stats(const fkv_engine *e, fkv_stats *st, double ms_sum[FKV_NUM_STAGES]) {
  for (int i = 0; i < FKV_NUM_STAGES; i++) ms_sum[i] += e->ms[i];
  st->frames_out += e->processed;
  st->detections += e->detections;
  st->embeddings += e->embeddings;
  st->searches += e->searches;
  st->analyses += e->analyses;
  st->tracks_total += e->tracks_total;
  st->tracks_alive += e->ntracks;
}

/* ---- lifecycle ------------------------------------------------------------------------ */

static int make_dir(fkv_engine *e, const char *dir) {
  struct stat st;
  if (stat(dir, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return fail(e, FK_EINVAL, "%s: not a directory", dir);
    return FK_OK;
  }
  if (mkdir(dir, 0755) != 0) return fail(e, FK_EIO, "%s: cannot create the directory: %s", dir, strerror(errno));
  return FK_OK;
}

int fkv_engine_new(fk_session *s, const fkv_engine_options *o, fkv_engine **out) {
  fkv_engine *e = calloc(1, sizeof *e);
  *out = e;
  if (!e) return FK_ENOMEM;
  e->s = s;
  e->o = *o;
  if (o->detect_every < 1 || o->embed_every < 1 || o->embed_first < 0 || o->min_face < 0)
    return fail(e, FK_EINVAL, "detect_every and embed_every must be >= 1, embed_first and min_face >= 0");
  e->threshold = o->threshold >= 0 ? o->threshold : fk_model_threshold(o->model, o->metric);
  if (!(e->threshold >= 0)) return fail(e, FK_EINVAL, "no threshold for model %d and metric %d", o->model, o->metric);
  fk_tracker_options to = o->track;
  /* The tracker compares embeddings by cosine distance, whose scale is the
   * model's: the fixture photos of one person are 0.04 apart in resnet128
   * and 0.20-0.27 in mbf512, of two people 0.12-0.17 and 0.94-1.04. */
  if (to.max_distance < 0) to.max_distance = fk_model_threshold(o->model, FK_METRIC_COSINE);
  to.embed = embed_detection;
  to.user = e;
  int rc = fk_tracker_new(&to, &e->tr);
  if (rc) return fail(e, rc, "invalid tracker options");
  e->faces_cap = 100; /* fk_options' max_faces default; more is a crowd, not faces */
  e->faces = calloc((size_t)e->faces_cap, sizeof *e->faces);
  e->boxes = calloc((size_t)e->faces_cap, sizeof *e->boxes);
  e->scores = calloc((size_t)e->faces_cap, sizeof *e->scores);
  e->face_of = calloc((size_t)e->faces_cap, sizeof *e->face_of);
  e->lm_state = calloc((size_t)e->faces_cap, sizeof *e->lm_state);
  e->emb_state = calloc((size_t)e->faces_cap, sizeof *e->emb_state);
  e->sf = malloc(sizeof *e->sf);
  if (!e->faces || !e->boxes || !e->scores || !e->face_of || !e->lm_state || !e->emb_state || !e->sf)
    return fail(e, FK_ENOMEM, "out of memory");
  if (o->snapshots && (rc = make_dir(e, o->snapshots))) return rc;
  return FK_OK;
}

const char *fkv_engine_errmsg(const fkv_engine *e) {
  if (!e) return "out of memory";
  return e->err[0] ? e->err : "ok";
}

void fkv_engine_free(fkv_engine *e) {
  if (!e) return;
  for (int i = 0; i < e->ntracks; i++) etrack_free(e->tracks[i]);
  free(e->tracks);
  fk_tracker_free(e->tr);
  free(e->faces);
  free(e->boxes);
  free(e->scores);
  free(e->face_of);
  free(e->lm_state);
  free(e->emb_state);
  free(e->shown);
  free(e->tentative);
  free(e->sf);
  free(e);
}
