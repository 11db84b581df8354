/*
 * subject.c - which face a command means when an image has several, or
 * none: the subject of a photo centred on one person (LFW's convention,
 * used by the evaluations), and DeepFace's enforce_detection=false fallback
 * of taking the whole image as the face.
 *
 * The subject: the best-scoring detection whose centre lies within a fifth
 * of the image's longer side of the image centre, at the session's min
 * score; failing that, such a detection at a low score (LOW_SCORE); failing
 * that, the detection nearest the centre (at the min score if there is one).
 * The low-score pass runs only when the first finds nothing central: with
 * a detector whose NMS is not greedy by score (RFB-320's), weak boxes could
 * suppress the strong one, so one pass at the low score would not do.
 */
#include <stdlib.h>
#include <string.h>

#include "face/face.h"

#define LOW_SCORE 0.05f

/* d's centre is within r of the image centre. */
static int centred(const fk_det *d, const fk_image *img, double r) {
  double dx = d->x + d->w / 2 - img->width / 2.0, dy = d->y + d->h / 2 - img->height / 2.0;
  return dx * dx + dy * dy <= r * r;
}

static double centre_dist2(const fk_det *d, const fk_image *img) {
  double dx = d->x + d->w / 2 - img->width / 2.0, dy = d->y + d->h / 2 - img->height / 2.0;
  return dx * dx + dy * dy;
}

/* The first of dets[0..n) (sorted by score) for case c that is not
 * dropped[]: the first centred one, or the one nearest the centre; -1. */
static int pick(const fk_det *dets, int n, const char *dropped, const fk_image *img, int c) {
  double r = 0.2 * (img->width > img->height ? img->width : img->height);
  int best = -1;
  for (int i = 0; i < n; i++) {
    if (dropped[i]) continue;
    if (c != FK_SUBJECT_OFF_CENTRE && centred(&dets[i], img, r)) return i;
    if (c == FK_SUBJECT_OFF_CENTRE && (best < 0 || centre_dist2(&dets[i], img) < centre_dist2(&dets[best], img)))
      best = i;
  }
  return best;
}

/* The face of the first detection of case c whose crop is inside the image:
 * 1 found, 0 none, or a negative status. */
static int take(fk_session *s, const fk_image *img, const fk_det *dets, int n, int c, fk_face *face) {
  char *dropped = calloc((size_t)n + 1, 1);
  if (!dropped) return fk_session_fail(s, FK_ENOMEM, "out of memory");
  int i, ok = 0;
  while (!ok && (i = pick(dets, n, dropped, img, c)) >= 0)
    if ((ok = fk_face_from_det(s, img, &dets[i], face)) == 0) dropped[i] = 1; /* crop outside the image */
  free(dropped);
  return ok;
}

int fk_whole_image_face(fk_session *s, const fk_image *img, int embed, fk_face *face) {
  if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || !face)
    return fk_session_fail(s, FK_EINVAL, "fk_whole_image_face: invalid image or face");
  int rc = fk_landmarks(s, img, (fk_box){0, 0, (float)img->width, (float)img->height}, face);
  return rc == FK_OK && embed ? fk_represent_chip(s, img, face) : rc;
}

int fk_subject(fk_session *s, const fk_image *img, int embed, fk_face *face, int *how, int *no_face) {
  *how = -1;
  if (no_face) *no_face = 1;
  if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || !face)
    return fk_session_fail(s, FK_EINVAL, "fk_subject: invalid image or face");
  if (!s->rt[s->lmk_id]) return fk_session_fail(s, FK_EINVAL, "fk_subject needs the landmark net");
  int n1 = 0, n2 = 0, rc = fk_detect_boxes(s, img, s->opt.min_score, &n1), ok = 0;
  if (rc) return rc;
  if (no_face) *no_face = n1 == 0;
  fk_det *first = malloc(((size_t)n1 + 1) * sizeof *first);
  if (!first) return fk_session_fail(s, FK_ENOMEM, "out of memory");
  memcpy(first, s->dets, (size_t)n1 * sizeof *first);
  if ((ok = take(s, img, first, n1, FK_SUBJECT_CENTRED, face))) *how = FK_SUBJECT_CENTRED;
  if (!ok && s->opt.min_score > LOW_SCORE && (rc = fk_detect_boxes(s, img, LOW_SCORE, &n2)) == FK_OK &&
      (ok = take(s, img, s->dets, n2, FK_SUBJECT_LOW_SCORE, face)) > 0)
    *how = FK_SUBJECT_LOW_SCORE;
  if (!ok && !rc) {
    ok = n1 ? take(s, img, first, n1, FK_SUBJECT_OFF_CENTRE, face) : 0;
    if (!ok && n2) ok = take(s, img, s->dets, n2, FK_SUBJECT_OFF_CENTRE, face);
    if (ok > 0) *how = FK_SUBJECT_OFF_CENTRE;
  }
  free(first);
  if (rc) return rc;
  if (ok < 0) return ok;
  if (ok) return embed ? fk_represent(s, img, face) : FK_OK;
  *how = FK_SUBJECT_WHOLE_IMAGE;
  return fk_whole_image_face(s, img, embed, face);
}
