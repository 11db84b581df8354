/*
 * test_track.c - the tracker alone (fk_tracker in facekit.h), as a caller
 * with its own detector would use it: synthetic boxes moving, crossing,
 * jumping at a cut, leaving and coming back, with and without appearance
 * embeddings lent through the callback. No models, no video.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"
#include "testutil.h"

#define DIM 8

/* Each synthetic person has a unit "embedding" of its own; the callback
 * lends the one of whoever detection j is this frame. */
typedef struct world {
  int who[16];          /* person behind each detection of the frame */
  float emb[4][DIM];
  int asked;            /* callback calls */
} world;

static const float *lend(void *user, int det, int *dim) {
  world *w = user;
  w->asked++;
  *dim = DIM;
  return w->emb[w->who[det]];
}

static void world_init(world *w) {
  memset(w, 0, sizeof *w);
  for (int p = 0; p < 4; p++) w->emb[p][p] = 1, w->emb[p][7] = 0.2f; /* orthogonal-ish people */
}

static fk_tracker *tracker(world *w, int min_hits) {
  fk_tracker_options o;
  fk_tracker_options_init(&o);
  o.min_hits = min_hits;
  if (w) o.embed = lend, o.user = w;
  fk_tracker *t = NULL;
  CHECK_EQ_INT(fk_tracker_new(&o, &t), FK_OK);
  return t;
}

static fk_box box_at(float x, float y, float s) { return (fk_box){x, y, s, s}; }

/* The id of the track detection j went to, 0 if none or tentative. */
static int id_of(const fk_tracker *t, int j) {
  const fk_track *k = fk_tracker_track_of(t, j);
  return k ? k->id : 0;
}

static void test_tracker_keeps_one_id_through_smooth_motion(void) {
  fk_tracker *t = tracker(NULL, 1);
  int ids_seen = 0, first_id = 0;
  for (int f = 0; f < 60; f++) {
    fk_box b = box_at(10 + 6.0f * f, 50 + 2.0f * f, 80 + 0.5f * f); /* pan and zoom */
    CHECK_EQ_INT(fk_tracker_update(t, f, f / 30.0, &b, NULL, 1), FK_OK);
    const fk_track *s;
    ids_seen += fk_tracker_started(t, &s);
    if (f == 0) first_id = id_of(t, 0);
    CHECK_EQ_INT(id_of(t, 0), first_id);
  }
  CHECK_EQ_INT(ids_seen, 1);
  CHECK_EQ_INT(first_id, 1);
  fk_tracker_free(t);
}

static void test_tracker_needs_min_hits_and_drops_one_frame_noise(void) {
  fk_tracker *t = tracker(NULL, 3);
  fk_box noise = box_at(300, 300, 40), face = box_at(10, 10, 60);
  fk_box both[2] = {face, noise};
  const fk_track *s;
  CHECK_EQ_INT(fk_tracker_update(t, 0, 0.0, both, NULL, 2), FK_OK);
  CHECK_EQ_INT(fk_tracker_started(t, &s), 0);
  CHECK_EQ_INT(id_of(t, 0), 0); /* tentative */
  CHECK(fk_tracker_track_of(t, 0) != NULL);
  CHECK_EQ_INT(fk_tracker_update(t, 1, 0.1, &face, NULL, 1), FK_OK);
  CHECK_EQ_INT(fk_tracker_started(t, &s), 0);
  CHECK_EQ_INT(fk_tracker_update(t, 2, 0.2, &face, NULL, 1), FK_OK);
  CHECK_EQ_INT(fk_tracker_started(t, &s), 1);
  CHECK_EQ_INT(s[0].id, 1); /* the noise box never took an id */
  CHECK_EQ_INT(s[0].first_frame, 0);
  const fk_track *live;
  CHECK_EQ_INT(fk_tracker_tracks(t, &live), 1);
  fk_tracker_free(t);
}

static void test_tracker_ends_a_track_unseen_for_the_timeout(void) {
  fk_tracker *t = tracker(NULL, 1);
  fk_box b = box_at(100, 100, 50);
  for (int f = 0; f < 10; f++) fk_tracker_update(t, f, f * 0.1, &b, NULL, 1);
  const fk_track *e;
  int ended_at = -1;
  for (int f = 10; f < 40; f++) {
    fk_tracker_update(t, f, f * 0.1, NULL, NULL, 0);
    if (fk_tracker_ended(t, &e) && ended_at < 0) {
      ended_at = f;
      CHECK_EQ_INT(e[0].last_frame, 9);
      CHECK_EQ_INT(e[0].state, FK_TRACK_ENDED);
    }
  }
  CHECK_EQ_INT(ended_at, 20); /* 1.1 s after frame 9, the first time over 1 s */
  fk_tracker_free(t);
}

/* A face walks past another that stands still, hiding it for a few
 * frames. While it covers the standing face, its (jittery) box overlaps the
 * standing face's box better than its own prediction: by IoU alone it takes
 * the other's id. Appearance must keep each id on its person. */
static void crossing(int with_appearance, int *a_ok, int *b_ok) {
  world w;
  world_init(&w);
  fk_tracker *t = tracker(with_appearance ? &w : NULL, 1);
  int id_a = 0, id_b = 0;
  *a_ok = *b_ok = 1;
  for (int f = 0; f < 40; f++) {
    float xa = 150, xb = 350 - 8.0f * f + (f % 2 ? 4.0f : -4.0f); /* B jitters, covers A at f = 25 */
    fk_box b[2];
    int n = 0;
    if (fabsf(xa - xb) > 25) b[n] = box_at(xa, 100, 60), w.who[n++] = 0; /* A hidden when close */
    b[n] = box_at(xb, 100, 60), w.who[n++] = 1;
    CHECK_EQ_INT(fk_tracker_update(t, f, f / 25.0, b, NULL, n), FK_OK);
    for (int j = 0; with_appearance && f == 0 && j < n; j++) /* as the caller's first embeddings */
      fk_tracker_add_appearance(t, id_of(t, j), w.emb[w.who[j]], DIM);
    for (int j = 0; j < n; j++) {
      int id = id_of(t, j);
      int *mine = w.who[j] == 0 ? &id_a : &id_b;
      if (!*mine) *mine = id;
      if (id != *mine) *(w.who[j] == 0 ? a_ok : b_ok) = 0;
    }
  }
  fk_tracker_free(t);
}

static void test_tracker_keeps_ids_of_crossing_faces_by_appearance(void) {
  int a_ok, b_ok;
  crossing(0, &a_ok, &b_ok);
  CHECK(!a_ok || !b_ok); /* the case is hard: IoU alone swaps */
  crossing(1, &a_ok, &b_ok);
  CHECK(a_ok);
  CHECK(b_ok);
}

static void test_tracker_reidentifies_faces_after_a_cut(void) {
  world w;
  world_init(&w);
  fk_tracker *t = tracker(&w, 1);
  fk_box before[2] = {box_at(20, 20, 60), box_at(200, 40, 60)};
  w.who[0] = 0, w.who[1] = 1;
  for (int f = 0; f < 10; f++) {
    CHECK_EQ_INT(fk_tracker_update(t, f, f * 0.04, before, NULL, 2), FK_OK);
    if (f == 0) { /* appearance comes from the caller's embeddings */
      CHECK_EQ_INT(fk_tracker_add_appearance(t, id_of(t, 0), w.emb[0], DIM), FK_OK);
      CHECK_EQ_INT(fk_tracker_add_appearance(t, id_of(t, 1), w.emb[1], DIM), FK_OK);
    }
  }
  int a = id_of(t, 0), b = id_of(t, 1);
  /* the cut: the two swap sides and change size, nothing overlaps */
  fk_box after[2] = {box_at(400, 200, 90), box_at(100, 300, 40)};
  w.who[0] = 1, w.who[1] = 0;
  CHECK_EQ_INT(fk_tracker_update(t, 10, 0.4, after, NULL, 2), FK_OK);
  CHECK_EQ_INT(id_of(t, 0), b);
  CHECK_EQ_INT(id_of(t, 1), a);
  const fk_track *s;
  CHECK_EQ_INT(fk_tracker_started(t, &s), 0);
  CHECK_EQ_INT(fk_tracker_track_of(t, 0)->reidentified, 1);
  fk_tracker_free(t);
}

static void test_tracker_without_appearance_starts_new_ids_after_a_cut(void) {
  fk_tracker *t = tracker(NULL, 1);
  fk_box b = box_at(20, 20, 60), c = box_at(400, 300, 60);
  for (int f = 0; f < 5; f++) fk_tracker_update(t, f, f * 0.04, &b, NULL, 1);
  fk_tracker_update(t, 5, 0.2, &c, NULL, 1);
  CHECK_EQ_INT(id_of(t, 0), 2);
  fk_tracker_free(t);
}

/* A face leaves and comes back elsewhere: within the timeout it keeps its
 * id, after it gets a new one. */
static int comes_back_as(double gap_s) {
  world w;
  world_init(&w);
  fk_tracker *t = tracker(&w, 1);
  fk_box b = box_at(50, 50, 60), back = box_at(500, 80, 60);
  for (int f = 0; f < 5; f++) fk_tracker_update(t, f, f * 0.1, &b, NULL, 1);
  fk_tracker_add_appearance(t, 1, w.emb[0], DIM);
  double t_back = 0.4 + gap_s;
  for (int f = 5; f * 0.1 < t_back - 1e-9; f++) fk_tracker_update(t, f, f * 0.1, NULL, NULL, 0);
  fk_tracker_update(t, 100, t_back, &back, NULL, 1);
  int id = id_of(t, 0);
  fk_tracker_free(t);
  return id;
}

static void test_tracker_face_back_within_timeout_keeps_its_id(void) {
  CHECK_EQ_INT(comes_back_as(0.6), 1);
  CHECK_EQ_INT(comes_back_as(1.5), 2);
}

static void test_tracker_predict_moves_visible_tracks_only(void) {
  fk_tracker *t = tracker(NULL, 1);
  for (int f = 0; f < 5; f++) {
    fk_box b = box_at(100 + 10.0f * f, 100, 50);
    fk_tracker_update(t, f, f * 0.1, &b, NULL, 1);
  }
  CHECK_EQ_INT(fk_tracker_predict(t, 5, 0.5), FK_OK);
  const fk_track *live;
  CHECK_EQ_INT(fk_tracker_tracks(t, &live), 1);
  CHECK_NEAR(live[0].box.x, 150, 2.0); /* 10 px per frame, carried on */
  CHECK_EQ_INT(live[0].det, -1);
  CHECK_EQ_INT(live[0].state, FK_TRACK_VISIBLE);
  CHECK_EQ_INT(live[0].last_frame, 4);
  fk_tracker_free(t);
}

static void test_tracker_end_all_lists_every_confirmed_track(void) {
  fk_tracker *t = tracker(NULL, 2);
  fk_box b[3] = {box_at(0, 0, 50), box_at(100, 0, 50), box_at(300, 0, 50)};
  fk_tracker_update(t, 0, 0, b, NULL, 3);
  fk_tracker_update(t, 1, 0.1, b, NULL, 2); /* the third stays tentative */
  fk_tracker_end_all(t);
  const fk_track *e, *live;
  CHECK_EQ_INT(fk_tracker_ended(t, &e), 2);
  CHECK_EQ_INT(fk_tracker_tracks(t, &live), 0);
  CHECK(fk_tracker_track_of(t, 0) == NULL);
  fk_tracker_free(t);
}

static void test_tracker_rejects_bad_arguments(void) {
  fk_tracker *t = NULL;
  fk_tracker_options o;
  fk_tracker_options_init(&o);
  o.iou_min = 0;
  CHECK_EQ_INT(fk_tracker_new(&o, &t), FK_EINVAL);
  CHECK(t == NULL);
  fk_tracker_options_init(&o);
  o.timeout = NAN;
  CHECK_EQ_INT(fk_tracker_new(&o, &t), FK_EINVAL);
  CHECK_EQ_INT(fk_tracker_new(NULL, NULL), FK_EINVAL);
  t = tracker(NULL, 1);
  fk_box b = box_at(10, 10, 20);
  CHECK_EQ_INT(fk_tracker_update(t, 0, 1.0, NULL, NULL, 1), FK_EINVAL);
  CHECK_EQ_INT(fk_tracker_update(t, 0, 1.0, &b, NULL, -1), FK_EINVAL);
  CHECK_EQ_INT(fk_tracker_update(t, 0, 1.0, &b, NULL, 1), FK_OK);
  CHECK_EQ_INT(fk_tracker_update(t, 1, 0.5, &b, NULL, 1), FK_EINVAL); /* time backwards */
  CHECK_EQ_INT(fk_tracker_update(t, 1, NAN, &b, NULL, 1), FK_EINVAL);
  /* boxes that are not boxes are ignored, not tracked */
  fk_box bad[3] = {{NAN, 0, 10, 10}, {0, 0, -5, 10}, {0, 0, INFINITY, 1}};
  CHECK_EQ_INT(fk_tracker_update(t, 2, 1.1, bad, NULL, 3), FK_OK);
  for (int j = 0; j < 3; j++) CHECK(fk_tracker_track_of(t, j) == NULL);
  float v[4] = {1, 0, 0, 0}, zero[4] = {0};
  CHECK_EQ_INT(fk_tracker_add_appearance(t, 1, v, 4), FK_OK);
  CHECK_EQ_INT(fk_tracker_add_appearance(t, 1, v, 3), FK_EINVAL); /* another width */
  CHECK_EQ_INT(fk_tracker_add_appearance(t, 1, zero, 4), FK_EINVAL);
  CHECK_EQ_INT(fk_tracker_add_appearance(t, 99, v, 4), FK_EINVAL);
  CHECK_EQ_INT(fk_tracker_add_appearance(t, 1, NULL, 4), FK_EINVAL);
  fk_tracker_free(t);
  fk_tracker_free(NULL);
}

static void test_tracker_asks_for_embeddings_only_when_iou_cannot_decide(void) {
  world w;
  world_init(&w);
  fk_tracker *t = tracker(&w, 1);
  for (int f = 0; f < 30; f++) {
    fk_box b[2] = {box_at(10 + 2.0f * f, 10, 60), box_at(300, 200 + 1.0f * f, 60)};
    w.who[0] = 0, w.who[1] = 1;
    fk_tracker_update(t, f, f / 30.0, b, NULL, 2);
    if (f == 0) fk_tracker_add_appearance(t, 1, w.emb[0], DIM), fk_tracker_add_appearance(t, 2, w.emb[1], DIM);
  }
  CHECK_EQ_INT(w.asked, 0); /* two well separated, slowly moving faces */
  fk_tracker_free(t);
}

int main(void) {
  RUN(test_tracker_keeps_one_id_through_smooth_motion);
  RUN(test_tracker_needs_min_hits_and_drops_one_frame_noise);
  RUN(test_tracker_ends_a_track_unseen_for_the_timeout);
  RUN(test_tracker_keeps_ids_of_crossing_faces_by_appearance);
  RUN(test_tracker_reidentifies_faces_after_a_cut);
  RUN(test_tracker_without_appearance_starts_new_ids_after_a_cut);
  RUN(test_tracker_face_back_within_timeout_keeps_its_id);
  RUN(test_tracker_predict_moves_visible_tracks_only);
  RUN(test_tracker_end_all_lists_every_confirmed_track);
  RUN(test_tracker_rejects_bad_arguments);
  RUN(test_tracker_asks_for_embeddings_only_when_iou_cannot_decide);
  return tu_summary();
}
