/*
 * align.c - the ways facekit turns 68 landmarks into a recognizer's chip.
 *
 * face-api: an unrotated square around the eyes and mouth, exactly as
 *   face-api's FaceLandmarks68.alignDlib + extractFaceTensors compute it
 *   (reproduced for golden-output parity).
 * 5-point: a similarity transform (rotation, uniform scale, translation)
 *   fitted by least squares from five points of dlib's mean face, placed in
 *   the chip with dlib's get_face_chip_details padding, to the same five
 *   points of the detected face. This is the geometry dlib's ResNet was
 *   trained on (150x150, padding 0.25).
 * dlib: the same fit over the 33 points get_face_chip_details uses.
 * ArcFace: the same kind of fit from the five-point template ArcFace-style
 *   recognizers are trained on (insightface's 112x112 reference points),
 *   scaled to the chip, to five points of the face taken as the faceplugin
 *   package takes them from 68 landmarks: the eyes' centres without their
 *   corners, the nose tip, and each mouth corner averaged with the inner
 *   lip corner next to it.
 */
#include <math.h>

#include "face/face.h"

/* Centre of landmarks [from, to]. */
static fk_point mean_point(const fk_point *p, int from, int to) {
  double x = 0, y = 0;
  for (int i = from; i <= to; i++) {
    x += p[i].x;
    y += p[i].y;
  }
  int n = to - from + 1;
  return (fk_point){(float)(x / n), (float)(y / n)};
}

int fk_align_faceapi_rect(const fk_point pts[FK_NUM_LANDMARKS], int img_w,
                          int img_h, fk_rect *crop) {
  fk_point le = mean_point(pts, 36, 41), re = mean_point(pts, 42, 47);
  fk_point mouth = mean_point(pts, 48, 67);
  double dl = hypot(mouth.x - le.x, mouth.y - le.y);
  double dr = hypot(mouth.x - re.x, mouth.y - re.y);
  double size = floor(((dl + dr) / 2) / 0.45);
  double cx = (le.x + re.x + mouth.x) / 3.0, cy = (le.y + re.y + mouth.y) / 3.0;
  double x = floor(fmax(0.0, cx - 0.5 * size));
  double y = floor(fmax(0.0, cy - 0.43 * size));
  double w = fmin(size, img_w + x), h = fmin(size, img_h + y);
  /* Box.clipAtImageBorders, then floor. */
  double cxl = fmax(x, 0.0), cyl = fmax(y, 0.0);
  double cw = fmin(x + w - cxl, img_w - cxl), ch = fmin(y + h - cyl, img_h - cyl);
  crop->x = (int)floor(cxl);
  crop->y = (int)floor(cyl);
  crop->w = (int)floor(cw);
  crop->h = (int)floor(ch);
  return crop->w > 0 && crop->h > 0;
}

/* dlib's mean face (get_face_chip_details), points 17..67, unit square. */
static const double mean_x[51] = {
    0.000213256, 0.0752622, 0.18113,  0.29077,  0.393397, 0.586856, 0.689483, 0.799124,
    0.904991,    0.98004,   0.490127, 0.490127, 0.490127, 0.490127, 0.36688,  0.426036,
    0.490127,    0.554217,  0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743,    0.645647,  0.714428, 0.793132, 0.858516, 0.79751,  0.719335, 0.254149,
    0.340985,    0.428858,  0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127,    0.423532,  0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364,    0.490127,  0.42689};
static const double mean_y[51] = {
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482,
    0.038915, 0.106454, 0.203352,  0.307009,  0.409805,  0.515625,  0.587326,  0.609345,
    0.628106, 0.609345, 0.587326,  0.216423,  0.178758,  0.179852,  0.231733,  0.245099,
    0.244077, 0.231733, 0.179852,  0.178758,  0.216423,  0.244077,  0.245099,  0.780233,
    0.745405, 0.727388, 0.742578,  0.727388,  0.745405,  0.780233,  0.864805,  0.902192,
    0.909281, 0.902192, 0.864805,  0.784792,  0.778746,  0.785343,  0.778746,  0.784792,
    0.824182, 0.831803, 0.824182};

/* The reference points of a 68-point shape given as coordinate arrays
 * whose element 0 is point `offset`. 5-point mode: eye centres, nose tip,
 * mouth corners. dlib mode: the 33 points dlib's get_face_chip_details fits
 * (27..54 and 60..64: nose, eyes, outer lips, inner upper lip). */
static int ref_points(const double *xs, const double *ys, int offset, int mode, double out[][2]) {
  int n = 0;
  if (mode == FK_ALIGN_DLIB) {
    for (int i = 27; i < FK_NUM_LANDMARKS; i++) {
      if ((i >= 55 && i <= 59) || i >= 65) continue;
      out[n][0] = xs[i - offset];
      out[n][1] = ys[i - offset];
      n++;
    }
    return n;
  }
  static const int eyes[2][2] = {{36, 41}, {42, 47}};
  for (int e = 0; e < 2; e++, n++) {
    double x = 0, y = 0;
    for (int i = eyes[e][0]; i <= eyes[e][1]; i++) {
      x += xs[i - offset];
      y += ys[i - offset];
    }
    out[n][0] = x / 6;
    out[n][1] = y / 6;
  }
  static const int single[3] = {30, 48, 54};
  for (int k = 0; k < 3; k++, n++) {
    out[n][0] = xs[single[k] - offset];
    out[n][1] = ys[single[k] - offset];
  }
  return n;
}

/* Least-squares similarity (Umeyama, no reflection) mapping src onto dst:
 * dst ~ [a -b; b a] src + t. */
static void fit_similarity(const double src[][2], const double dst[][2], int n, double m[6]) {
  double sx = 0, sy = 0, dx = 0, dy = 0;
  for (int i = 0; i < n; i++) {
    sx += src[i][0]; sy += src[i][1];
    dx += dst[i][0]; dy += dst[i][1];
  }
  sx /= n; sy /= n; dx /= n; dy /= n;
  double num_a = 0, num_b = 0, den = 0;
  for (int i = 0; i < n; i++) {
    double px = src[i][0] - sx, py = src[i][1] - sy;
    double qx = dst[i][0] - dx, qy = dst[i][1] - dy;
    num_a += px * qx + py * qy;
    num_b += px * qy - py * qx;
    den += px * px + py * py;
  }
  double a = den > 0 ? num_a / den : 1, b = den > 0 ? num_b / den : 0;
  m[0] = a; m[1] = -b; m[2] = dx - (a * sx - b * sy);
  m[3] = b; m[4] = a;  m[5] = dy - (b * sx + a * sy);
}

/* insightface's reference points for a 112x112 chip: left eye, right eye
 * (as seen in the image), nose tip, left and right mouth corners. */
static const double arcface_tmpl[5][2] = {{38.2946, 51.6963}, {73.5318, 51.5014},
                                          {56.0252, 71.7366}, {41.5493, 92.3655},
                                          {70.7299, 92.2041}};

/* The five ArcFace points of a 68-point face (see the top). */
static void arcface_points(const fk_point *p, double out[5][2]) {
  static const int eye[2][4] = {{37, 38, 40, 41}, {43, 44, 46, 47}};
  for (int e = 0; e < 2; e++) {
    out[e][0] = out[e][1] = 0;
    for (int k = 0; k < 4; k++) {
      out[e][0] += p[eye[e][k]].x / 4.0;
      out[e][1] += p[eye[e][k]].y / 4.0;
    }
  }
  out[2][0] = p[30].x;
  out[2][1] = p[30].y;
  out[3][0] = (p[48].x + p[60].x) / 2.0;
  out[3][1] = (p[48].y + p[60].y) / 2.0;
  out[4][0] = (p[54].x + p[64].x) / 2.0;
  out[4][1] = (p[54].y + p[64].y) / 2.0;
}

void fk_align_chip_transform(const fk_point pts[FK_NUM_LANDMARKS], int mode, int size,
                             double padding, double m[6]) {
  if (mode == FK_ALIGN_ARCFACE) {
    double tmpl[5][2], face[5][2];
    for (int i = 0; i < 5; i++)
      for (int k = 0; k < 2; k++) tmpl[i][k] = arcface_tmpl[i][k] * size / 112.0;
    arcface_points(pts, face);
    fit_similarity(tmpl, face, 5, m);
    return;
  }
  double xs[FK_NUM_LANDMARKS], ys[FK_NUM_LANDMARKS];
  for (int i = 0; i < FK_NUM_LANDMARKS; i++) {
    xs[i] = pts[i].x;
    ys[i] = pts[i].y;
  }
  double tmpl[FK_NUM_LANDMARKS][2], face[FK_NUM_LANDMARKS][2];
  int n = ref_points(mean_x, mean_y, 17, mode, tmpl);
  for (int i = 0; i < n; i++)
    for (int k = 0; k < 2; k++) tmpl[i][k] = (padding + tmpl[i][k]) / (2 * padding + 1) * size;
  ref_points(xs, ys, 0, mode, face);
  fit_similarity(tmpl, face, n, m);
}
