/*
 * detect.c - fk_detect: the detector, then the 68-point landmarks of every
 * face it keeps; fk_detect_no_landmarks, the detector alone; fk_landmarks,
 * the landmarks of a given box. Results are in image pixels, sorted by
 * decreasing score.
 */
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "face/face.h"

int fk_detect_boxes(fk_session *s, const fk_image *img, float min_score, int *ndet) {
  fk_det_slot *d;
  int rc = fk_session_detector(s, img, &d);
  if (rc) return rc;
  const fk_detector_def *det = fk_nets[s->det_id].det;
  int cap = s->opt.max_faces;
  det->input(img, d->size, nn_runtime_input(d->rt));
  if (!(rc = nn_runtime_run(d->rt)))
    rc = det->decode(d->rt, d->state, d->size, img->width, img->height, min_score, s->dets, cap, ndet);
  if (rc) return fk_session_fail(s, rc, "detector: %s", fk_strerror(rc));
  if (*ndet > cap) *ndet = cap;
  return FK_OK;
}

/* Runs the landmark net on the detection's crop. Returns 1, 0 if the crop
 * is empty, or a negative status. (Averaging with the mirrored crop was
 * measured and dropped: the net is not mirror-symmetric, and LFW accuracy
 * fell from 99.10% to 99.03%.) */
static int run_landmarks(fk_session *s, const fk_image *img, const fk_det *d,
                         fk_point pts[FK_NUM_LANDMARKS]) {
  fk_rect box;
  const fk_landmarker_def *lmk = fk_nets[s->lmk_id].lmk;
  nn_runtime *rt = s->rt[s->lmk_id];
  if (!lmk->crop(d, img->width, img->height, &box)) return 0;
  lmk->input(img, box, nn_runtime_input(rt));
  int rc = nn_runtime_run(rt);
  if (rc) return rc;
  lmk->decode(nn_runtime_output(rt, 0), d, box, pts);
  return 1;
}

int fk_face_from_det(fk_session *s, const fk_image *img, const fk_det *d, fk_face *f) {
  memset(f, 0, offsetof(fk_face, embedding));
  int ok = run_landmarks(s, img, d, f->landmarks);
  if (ok < 0) return fk_session_fail(s, ok, "landmark net: %s", fk_strerror(ok));
  f->box = (fk_box){d->x, d->y, d->w, d->h};
  f->score = d->score;
  return ok;
}

/* The faces of the detections at min_score into faces[0..cap), their
 * number to *kept (at most `most`): those whose crop lies inside the image,
 * with their landmarks. */
static int faces_at(fk_session *s, const fk_image *img, float min_score, int most, fk_face *faces,
                    int cap, int *kept) {
  int ndet = 0, rc = fk_detect_boxes(s, img, min_score, &ndet);
  for (int i = 0; rc == FK_OK && i < ndet && *kept < most; i++) {
    fk_face f;
    int ok = fk_face_from_det(s, img, &s->dets[i], &f);
    if (ok < 0) return ok;
    if (ok == 0) continue; /* box fell outside the image */
    if (*kept < cap) faces[*kept] = f;
    (*kept)++;
  }
  return rc;
}

/* Where nothing scores above min_score, a second pass at retry_score keeps
 * the best face only: at the default 0.2 it gives SSD a face in 28 of its
 * 37 faceless LFW images, while a photo without a face gets at most one
 * weak box rather than every one above the low score. */
int fk_detect(fk_session *s, const fk_image *img, fk_face *faces, int cap, int *n) {
  *n = 0;
  if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || cap < 0 || (cap && !faces))
    return fk_session_fail(s, FK_EINVAL, "fk_detect: invalid image or output array");
  if (!s->rt[s->lmk_id]) return fk_session_fail(s, FK_EINVAL, "fk_detect needs the landmark net");
  int rc = faces_at(s, img, s->opt.min_score, INT_MAX, faces, cap, n);
  if (rc == FK_OK && *n == 0 && s->opt.retry_score < s->opt.min_score)
    rc = faces_at(s, img, s->opt.retry_score, 1, faces, cap, n);
  return rc;
}

int fk_detect_no_landmarks(fk_session *s, const fk_image *img, fk_face *faces, int cap, int *n) {
  *n = 0;
  if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || cap < 0 || (cap && !faces))
    return fk_session_fail(s, FK_EINVAL, "fk_detect_no_landmarks: invalid image or output array");
  int ndet = 0;
  int rc = fk_detect_boxes(s, img, s->opt.min_score, &ndet);
  if (rc) return rc;
  for (int i = 0; i < ndet && i < cap; i++) {
    const fk_det *d = &s->dets[i];
    memset(&faces[i], 0, offsetof(fk_face, embedding));
    faces[i].box = (fk_box){d->x, d->y, d->w, d->h};
    faces[i].score = d->score;
  }
  *n = ndet;
  return FK_OK;
}

int fk_landmarks(fk_session *s, const fk_image *img, fk_box box, fk_face *face) {
  if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || !face)
    return fk_session_fail(s, FK_EINVAL, "fk_landmarks: invalid image or face");
  if (!s->rt[s->lmk_id]) return fk_session_fail(s, FK_EINVAL, "fk_landmarks needs the landmark net");
  if (!(isfinite(box.x) && isfinite(box.y) && box.w > 0 && box.h > 0 && box.w < 1e9f && box.h < 1e9f))
    return fk_session_fail(s, FK_EINVAL, "fk_landmarks: invalid box");
  memset(face, 0, sizeof *face);
  fk_det d = {box.x, box.y, box.w, box.h, 0.0f};
  int ok = run_landmarks(s, img, &d, face->landmarks);
  if (ok < 0) return fk_session_fail(s, ok, "landmark net: %s", fk_strerror(ok));
  if (ok == 0) return fk_session_fail(s, FK_ENOFACE, "the face box lies outside the image");
  face->box = box;
  return FK_OK;
}
