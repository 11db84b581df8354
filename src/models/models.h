/*
 * models.h - the networks ported from face-api, one file each:
 *   ssd.c         SSD-MobileNetV1 face detector
 *   tiny.c        TinyFaceDetector (a Tiny-YOLOv2 with separable convs)
 *   landmarks.c   68-point landmark net (dense blocks, 112x112 input)
 *   descriptor.c  the ResNet face descriptor (150x150 input, 128-d output)
 *
 * Every net follows the same shape:
 *   FILE          the weights manifest in the models directory;
 *   *_build()     turns loaded weights (weights.h) into an immutable nn_graph
 *                 (nn.h), checking every tensor's presence and size;
 *   *_input()     preprocessing: image -> the graph's input tensor;
 *   *_decode()    postprocessing: the graph's outputs -> results.
 * Runtimes (one per thread) are created by the caller from the graph.
 */
#ifndef FK_MODELS_H
#define FK_MODELS_H

#include <stddef.h>

#include "facekit.h"
#include "image/image.h"
#include "nn/nn.h"
#include "nn/weights.h"

/* A detection in image pixels. */
typedef struct fk_det {
  float x, y, w, h;
  float score;
} fk_det;

/* ---- SSD-MobileNetV1 (ssd.c) ---------------------------------------------
 * Input: the image zero-padded bottom/right to a square, resized to
 * size x size (TF legacy bilinear), scaled to x / 127.5 - 1.
 * Outputs: box encodings and class logits of each of the 6 prediction
 * layers (12 outputs: box0, cls0, box1, cls1, ...). */
#define FK_SSD_FILE "ssd_mobilenetv1_model-weights_manifest.json"

typedef struct fk_ssd_anchors {
  int n;          /* number of anchors for this input size */
  float *yxhw;    /* n x [ycenter, xcenter, h, w], normalized */
} fk_ssd_anchors;

/* size must be a multiple of 32 in [64, 2048]. */
int fk_ssd_build(const nn_weights *w, int size, nn_graph **out, char *err,
                 size_t errlen);
/* Anchors for an input size (TF's MultipleGridAnchorGenerator with the
 * model's config; equal to the stored Output/extra_dim at 512, which holds
 * the same anchors as corners [ymin, xmin, ymax, xmax]). */
int fk_ssd_anchors_make(int size, fk_ssd_anchors *a);
void fk_ssd_anchors_free(fk_ssd_anchors *a);
void fk_ssd_input(const fk_image *img, int size, float *input);
/* Decodes, applies sigmoid scores > min_score, greedy NMS at IoU 0.5 and
 * face-api's box scaling; writes up to cap detections sorted by score and
 * the total to *n. */
int fk_ssd_decode(const nn_runtime *rt, const fk_ssd_anchors *a, int size,
                  int img_w, int img_h, float min_score, int max_results,
                  fk_det *dets, int cap, int *n);

/* ---- TinyFaceDetector (tiny.c) -------------------------------------------
 * Input: zero-padded bottom/right to a square, resized to size x size,
 * (x - [117.001, 114.697, 97.404]) / 255. Output: [size/32][size/32][5*5]
 * (5 anchors x [tx, ty, tw, th, objectness]). */
#define FK_TINY_FILE "tiny_face_detector_model-weights_manifest.json"

int fk_tiny_build(const nn_weights *w, int size, nn_graph **out, char *err,
                  size_t errlen);
void fk_tiny_input(const fk_image *img, int size, float *input);
int fk_tiny_decode(const nn_runtime *rt, int size, int img_w, int img_h,
                   float min_score, fk_det *dets, int cap, int *n);

/* ---- 68-point landmarks (landmarks.c) -------------------------------------
 * Input: the detection box (clipped, floored) zero-padded centred to a square,
 * resized to 112, (x - mean) / 255. Output: 136 values in [0, 1]. */
#define FK_LANDMARKS_FILE "face_landmark_68_model-weights_manifest.json"
#define FK_LANDMARKS_SIZE 112

int fk_landmarks_build(const nn_weights *w, nn_graph **out, char *err,
                       size_t errlen);
/* Clips the detection to the image the way face-api does; returns 0 if the
 * clipped box is empty. */
int fk_landmarks_box(const fk_det *d, int img_w, int img_h, fk_rect *box);
void fk_landmarks_input(const fk_image *img, fk_rect box, float *input);
/* Maps the 136 outputs back to image pixels exactly as face-api does: box is
 * the fk_landmarks_box() crop, det the detection it came from (face-api
 * shifts the points by the detection's unfloored x, y, not the crop's). */
void fk_landmarks_decode(const float *out136, const fk_det *det, fk_rect box,
                         fk_point pts[FK_NUM_LANDMARKS]);

/* ---- face descriptor (descriptor.c) ---------------------------------------
 * Input: a 150x150 RGB chip, (x - [122.782, 117.001, 104.298]) / 255.
 * Output: 128 floats, not normalized. */
#define FK_DESCRIPTOR_FILE "face_recognition_model-weights_manifest.json"
#define FK_DESCRIPTOR_SIZE 150

int fk_descriptor_build(const nn_weights *w, nn_graph **out, char *err,
                        size_t errlen);
/* In place: raw 0..255 RGB chip -> the net's normalized input. */
void fk_descriptor_normalize(float *chip, size_t npix);

/* Shared by the nets that normalize with face-api's mean RGB. */
extern const float fk_faceapi_mean_rgb[3];

#endif /* FK_MODELS_H */
