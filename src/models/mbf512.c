/*
 * mbf512.c - MobileFaceNet-512, the face recognizer of
 * faceplugin-face-recognition-js@0.0.1 (model/fr_feature.onnx, MIT),
 * loaded with the ONNX importer (nn/onnx.h).
 *
 * Network  a MobileFaceNet (PyTorch export, opset 9): 50 convolutions (17 of
 *          them depthwise), 33 PReLU, 12 residual adds, a 7x7 linear
 *          depthwise "GDConv" and a 1x1 conv to 512; 1.19 M parameters,
 *          221 M multiply-adds per face.
 * Input    a 112x112 chip aligned to the ArcFace template (the five points
 *          [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
 *          [41.5493, 92.3655], [70.7299, 92.2041]]; aligning is the
 *          caller's), channels in B, G, R order, (x - 127) / 128, NHWC
 *          [112][112][3]. The package's JavaScript feeds R, G, B, but the
 *          net was trained on OpenCV's BGR and scores better so on LFW
 *          (P@1 0.9905 against 0.987, issue #8).
 * Output   512 raw floats, not normalized (compare them as unit vectors).
 */
#include <stdio.h>

#include "models/models.h"
#include "nn/onnx.h"

int fk_mbf512_load(const char *path, nn_graph **out, char *err, size_t errlen) {
  *out = NULL;
  nn_graph *g = NULL;
  int st = nn_onnx_load(path, NULL, 0, &g, err, errlen);
  if (st != FK_OK) return st;
  nn_shape in = g->shapes[0];
  if (in.h != FK_MBF512_SIZE || in.w != FK_MBF512_SIZE || in.c != 3 || g->noutputs != 1 ||
      nn_shape_size(g->shapes[g->outputs[0]]) != FK_MBF512_DIM) {
    if (err && errlen) snprintf(err, errlen, "%s: not a 112x112x3 -> 512 recognizer", path);
    nn_graph_free(g);
    return FK_EMODEL;
  }
  *out = g;
  return FK_OK;
}

void fk_mbf512_normalize(float *chip, size_t npix) {
  for (size_t i = 0; i < npix; i++) {
    float *p = chip + 3 * i, r = p[0];
    p[0] = (p[2] - 127.0f) / 128.0f;
    p[1] = (p[1] - 127.0f) / 128.0f;
    p[2] = (r - 127.0f) / 128.0f;
  }
}
