/*
 * pipeline.c - the one-call operations built from detect and represent:
 * all faces with embeddings, and verification of two images.
 */
#include <stdlib.h>

#include "base/clock.h"
#include "face/face.h"

int fk_faces_timed(fk_session *s, const fk_image *img, fk_face *faces, int cap, int *n, double t[2]) {
  double t0 = fk_now_s();
  int rc = fk_detect(s, img, faces, cap, n);
  double t1 = fk_now_s();
  for (int i = 0; rc == FK_OK && i < *n && i < cap; i++) rc = fk_represent(s, img, &faces[i]);
  if (t) t[0] = t1 - t0, t[1] = fk_now_s() - t1;
  return rc;
}

int fk_faces(fk_session *s, const fk_image *img, fk_face *faces, int cap, int *n) {
  return fk_faces_timed(s, img, faces, cap, n, NULL);
}

/* The largest face of img with its embedding, into *out. */
static int largest(fk_session *s, const fk_image *img, const char *which, fk_face *out) {
  int cap = s->opt.max_faces, n = 0;
  fk_face *faces = calloc((size_t)cap, sizeof *faces);
  if (!faces) return fk_session_fail(s, FK_ENOMEM, "out of memory");
  int rc = fk_detect(s, img, faces, cap, &n);
  if (rc == FK_OK && n == 0) rc = fk_session_fail(s, FK_ENOFACE, "no face detected in %s", which);
  if (rc == FK_OK) {
    *out = faces[fk_largest_face(faces, n < cap ? n : cap)];
    rc = fk_represent(s, img, out);
  }
  free(faces);
  return rc;
}

int fk_verify(fk_session *s, const fk_image *img1, const fk_image *img2, int metric,
              float threshold, fk_verify_result *r) {
  if (metric < FK_METRIC_COSINE || metric > FK_METRIC_EUCLIDEAN_L2)
    return fk_session_fail(s, FK_EINVAL, "unknown metric %d", metric);
  int rc = largest(s, img1, "img1", &r->face1);
  if (rc == FK_OK) rc = largest(s, img2, "img2", &r->face2);
  if (rc) return rc;
  r->metric = metric;
  r->threshold = threshold < 0 ? fk_model_threshold(s->opt.model, metric) : threshold;
  r->distance = fk_distance(r->face1.embedding, r->face2.embedding, r->face1.dim, metric);
  r->verified = r->distance <= r->threshold;
  return FK_OK;
}
