/*
 * verify.c - comparing embeddings: the three DeepFace metrics (the
 * thresholds are per model, in nets.c; the math is base/vec.c's), and
 * picking the largest or the central face.
 */
#include <math.h>
#include <string.h>

#include "base/vec.h"
#include "facekit.h"

/* The public vector math is base's. */
void fk_l2_normalize(float *v, int dim) { fk_vec_normalize(v, dim); }

float fk_distance(const float *a, const float *b, int dim, int metric) {
  return fk_vec_distance(a, b, dim, metric);
}

void fk_quantize_i8(const float *unit, int8_t *code, int dim) { fk_vec_quantize_i8(unit, code, dim); }

static const char *const metric_names[] = {"cosine", "euclidean", "euclidean_l2"};

int fk_metric_from_name(const char *name) {
  for (int i = 0; i < 3; i++)
    if (name && strcmp(name, metric_names[i]) == 0) return i;
  return -1;
}

const char *fk_metric_name(int metric) {
  return metric >= 0 && metric < 3 ? metric_names[metric] : "unknown";
}

int fk_largest_face(const fk_face *faces, int n) {
  int best = -1;
  float area = -1;
  for (int i = 0; i < n; i++) {
    float a = faces[i].box.w * faces[i].box.h;
    if (a > area) {
      area = a;
      best = i;
    }
  }
  return best;
}

int fk_keep_largest_faces(fk_face *faces, int n, int k) {
  if (k > n) k = n;
  if (k < 0) k = 0;
  fk_face tmp;
  for (int i = 0; i < k; i++) {
    int best = i;
    for (int j = i + 1; j < n; j++)
      if (faces[j].box.w * faces[j].box.h > faces[best].box.w * faces[best].box.h) best = j;
    if (best == i) continue;
    /* a rotation, not a swap: the faces not chosen keep their order */
    tmp = faces[best];
    memmove(&faces[i + 1], &faces[i], (size_t)(best - i) * sizeof *faces);
    faces[i] = tmp;
  }
  return k;
}

int fk_central_face(const fk_face *faces, int n, int width, int height) {
  int best = -1;
  double dist = INFINITY;
  for (int i = 0; i < n; i++) {
    double dx = faces[i].box.x + faces[i].box.w / 2 - width / 2.0;
    double dy = faces[i].box.y + faces[i].box.h / 2 - height / 2.0;
    if (dx * dx + dy * dy < dist) {
      dist = dx * dx + dy * dy;
      best = i;
    }
  }
  return best;
}

int fk_face_at(const fk_face *faces, int n, fk_box box) {
  int best = -1;
  double best_iou = 0.3; /* at least this much overlap */
  for (int i = 0; i < n; i++) {
    const fk_box *b = &faces[i].box;
    double x0 = fmax(b->x, box.x), y0 = fmax(b->y, box.y);
    double x1 = fmin(b->x + b->w, box.x + box.w), y1 = fmin(b->y + b->h, box.y + box.h);
    double inter = x1 > x0 && y1 > y0 ? (x1 - x0) * (y1 - y0) : 0;
    double uni = (double)b->w * b->h + (double)box.w * box.h - inter;
    double iou = uni > 0 ? inter / uni : 0;
    if (iou >= best_iou) best_iou = iou, best = i;
  }
  return best;
}
