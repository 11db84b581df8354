/*
 * expression.c - face-api's FaceExpressionNet: probabilities of 7 facial
 * expressions.
 *
 * Input   the same as the age/gender net: the fk_attr_box() crop (face-api's
 *         alignedRect), centred zero pad to a square, 112x112 TF legacy
 *         bilinear, (x - fk_faceapi_mean_rgb) / 255, i.e.
 *         fk_landmarks_input(): [112][112][3].
 * Network FaceFeatureExtractor (the landmark net's four dense blocks and
 *         avgPool 7x7 stride 2, fk_face_features(), with this model's own
 *         weights) -> [1][1][256]; fc 256 -> 7 (FaceProcessor.runNet).
 * Output  7 logits in face-api's FACE_EXPRESSION_LABELS order: neutral,
 *         happy, sad, angry, fearful, disgusted, surprised.
 * Decode  softmax (FaceExpressionNet.forwardInput), same order.
 *
 * Weights (face_expression_model): dense{0..3}/conv{0..3}/... as in
 * landmarks.c; fc/weights [256][7], fc/bias [7].
 */
#include <math.h>
#include <stdio.h>

#include "models/models.h"

const char *const fk_expression_names[FK_NUM_EXPRESSIONS] = {
    "neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised"};

const int fk_expression_emotion[FK_NUM_EXPRESSIONS] = {
    FK_EMOTION_NEUTRAL, FK_EMOTION_HAPPY,   FK_EMOTION_SAD,     FK_EMOTION_ANGRY,
    FK_EMOTION_FEAR,    FK_EMOTION_DISGUST, FK_EMOTION_SURPRISE};

int fk_expression_build(const nn_weights *w, nn_graph **out, char *err,
                        size_t errlen) {
  *out = NULL;
  if (err && errlen) err[0] = '\0';
  nn_graph *g = nn_graph_new(FK_LANDMARKS_SIZE, FK_LANDMARKS_SIZE, 3);
  if (!g) return FK_ENOMEM;
  nn_wlookup wl = {w, err, errlen, 0};

  int x = fk_face_features(g, &wl, 0);
  const float *fw =
      nn_wlookup_get(&wl, (size_t)256 * FK_NUM_EXPRESSIONS, "fc/weights");
  const float *fb = nn_wlookup_get(&wl, FK_NUM_EXPRESSIONS, "fc/bias");
  x = fw && fb ? nn_fc(g, x, fw, fb, FK_NUM_EXPRESSIONS, NN_ACT_NONE) : -1;

  int st = FK_OK;
  if (wl.failed) {
    st = FK_EMODEL;
  } else if ((st = nn_graph_status(g)) != FK_OK) {
    if (err && errlen) snprintf(err, errlen, "expression: %s", g->err);
  }
  if (st != FK_OK) {
    nn_graph_free(g);
    return st;
  }
  nn_mark_output(g, x);
  *out = g;
  return FK_OK;
}

void fk_expression_decode(const nn_runtime *rt,
                          float probs[FK_NUM_EXPRESSIONS]) {
  const float *z = nn_runtime_output(rt, 0);
  double m = z[0], e[FK_NUM_EXPRESSIONS], sum = 0;
  for (int i = 1; i < FK_NUM_EXPRESSIONS; i++) m = fmax(m, z[i]);
  for (int i = 0; i < FK_NUM_EXPRESSIONS; i++) sum += e[i] = exp(z[i] - m);
  for (int i = 0; i < FK_NUM_EXPRESSIONS; i++) probs[i] = (float)(e[i] / sum);
}
