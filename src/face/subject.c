/*
 * subject.c - which face a command means when an image has several, or
 * none: the subject of a photo centred on one person (LFW's convention,
 * used by the evaluations), and DeepFace's enforce_detection=false fallback
 * of taking the whole image as the face.
 *
 * The subject: the best-scoring detection whose centre lies within a fifth
 * of the image's longer side of the image centre, at the session's min
 * score; failing that, such a detection at a low score (LOW_SCORE); failing
 * that, the detection nearest the centre. The detector runs once, at the low
 * score: greedy NMS never lets a weaker box suppress a stronger one, so the
 * detections above the session's min score are exactly those a run at that
 * score gives.
 */
#include <stdlib.h>

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

/* The detection for subject case `c` among dets[0..n) (sorted by score)
 * that are not dropped[], or -1. */
static int pick(const fk_det *dets, int n, const char *dropped, const fk_image *img, float min_score,
                int c) {
  double r = 0.2 * (img->width > img->height ? img->width : img->height);
  int any_default = 0, best = -1;
  for (int i = 0; i < n; i++) any_default |= !dropped[i] && dets[i].score > min_score;
  for (int i = 0; i < n; i++) {
    if (dropped[i]) continue;
    int is_default = dets[i].score > min_score;
    if (c == FK_SUBJECT_CENTRED && is_default && centred(&dets[i], img, r)) return i;
    if (c == FK_SUBJECT_LOW_SCORE && centred(&dets[i], img, r)) return i;
    if (c == FK_SUBJECT_OFF_CENTRE && (is_default || !any_default) &&
        (best < 0 || centre_dist2(&dets[i], img) < centre_dist2(&dets[best], img)))
      best = i;
  }
  return best;
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
  if (!s->rt[FK_NETID_LANDMARKS]) return fk_session_fail(s, FK_EINVAL, "fk_subject needs the landmark net");
  float min_score = s->opt.min_score > LOW_SCORE ? s->opt.min_score : LOW_SCORE;
  int n = 0, rc = fk_detect_boxes(s, img, LOW_SCORE, &n);
  if (rc) return rc;
  char *dropped = calloc((size_t)n + 1, 1);
  if (!dropped) return fk_session_fail(s, FK_ENOMEM, "out of memory");
  for (int c = FK_SUBJECT_CENTRED; c <= FK_SUBJECT_OFF_CENTRE && *how < 0; c++) {
    int i;
    while (*how < 0 && (i = pick(s->dets, n, dropped, img, min_score, c)) >= 0) {
      int ok = fk_face_from_det(s, img, &s->dets[i], face);
      if (ok < 0) {
        free(dropped);
        return ok;
      }
      if (ok) *how = c;
      else dropped[i] = 1; /* its crop lies outside the image */
    }
  }
  for (int k = 0; no_face && k < n; k++) *no_face &= dropped[k] || s->dets[k].score <= min_score;
  free(dropped);
  if (*how >= 0) return embed ? fk_represent(s, img, face) : FK_OK;
  *how = FK_SUBJECT_WHOLE_IMAGE;
  return fk_whole_image_face(s, img, embed, face);
}
