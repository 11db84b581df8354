/*
 * detect.c - fk_detect: the detector, then the 68-point landmarks of every
 * face it keeps. Results are in image pixels, sorted by decreasing score.
 */
#include <string.h>

#include "face/face.h"

static int run_detector(fk_session *s, const fk_image *img, int *ndet) {
  float *in = nn_runtime_input(s->det_rt);
  int rc, cap = s->opt.max_faces;
  if (s->opt.detector == FK_DETECTOR_SSD) {
    int size = s->opt.ssd_input_size;
    fk_ssd_input(img, size, in);
    if ((rc = nn_runtime_run(s->det_rt))) return rc;
    return fk_ssd_decode(s->det_rt, s->anchors, size, img->width, img->height,
                         s->opt.min_score, cap, s->dets, cap, ndet);
  }
  int size = s->opt.tiny_input_size;
  fk_tiny_input(img, size, in);
  if ((rc = nn_runtime_run(s->det_rt))) return rc;
  return fk_tiny_decode(s->det_rt, size, img->width, img->height,
                        s->opt.min_score, s->dets, cap, ndet);
}

static int run_landmarks(fk_session *s, const fk_image *img, const fk_det *d,
                         fk_point pts[FK_NUM_LANDMARKS]) {
  fk_rect box;
  if (!fk_landmarks_box(d, img->width, img->height, &box)) return 0;
  fk_landmarks_input(img, box, nn_runtime_input(s->lm_rt));
  if (nn_runtime_run(s->lm_rt) != FK_OK) return -1;
  fk_landmarks_decode(nn_runtime_output(s->lm_rt, 0), d, box, pts);
  return 1;
}

int fk_detect(fk_session *s, const fk_image *img, fk_face *faces, int cap, int *n) {
  *n = 0;
  if (!img || !img->rgb || img->width <= 0 || img->height <= 0 || cap < 0 || (cap && !faces))
    return fk_session_fail(s, FK_EINVAL, "fk_detect: invalid image or output array");
  if (!s->det_rt || !s->lm_rt)
    return fk_session_fail(s, FK_EINVAL, "fk_detect needs a detector and the landmark net");
  int ndet = 0;
  int rc = run_detector(s, img, &ndet);
  if (rc) return fk_session_fail(s, rc, "detector: %s", fk_strerror(rc));
  if (ndet > s->opt.max_faces) ndet = s->opt.max_faces;
  int kept = 0;
  for (int i = 0; i < ndet; i++) {
    fk_face f;
    memset(&f, 0, sizeof f);
    const fk_det *d = &s->dets[i];
    int ok = run_landmarks(s, img, d, f.landmarks);
    if (ok < 0) return fk_session_fail(s, FK_EBACKEND, "landmark net failed");
    if (ok == 0) continue; /* box fell outside the image */
    f.box = (fk_box){d->x, d->y, d->w, d->h};
    f.score = d->score;
    if (kept < cap) faces[kept] = f;
    kept++;
  }
  *n = kept;
  return FK_OK;
}
