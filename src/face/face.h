/*
 * face.h - internals of the face pipeline (src/face/): the model context,
 * the per-thread session, and the alignment geometry they share.
 */
#ifndef FK_FACE_H
#define FK_FACE_H

#include "facekit.h"
#include "image/image.h"
#include "models/models.h"

#define FK_ERRMSG_MAX 512

/* SSD input sizes of the automatic mode: an image is detected at the first
 * size not smaller than its longer side (the largest for bigger images), so
 * faces are never upsampled much. The SSD's box predictors work in pixels
 * (see ssd.c), and on LFW's 250x250 photos 256 finds the subject in all but
 * 50 of 13,233 images where 512 misses hundreds. */
#define FK_SSD_AUTO_SIZES 3
extern const int fk_ssd_auto_sizes[FK_SSD_AUTO_SIZES]; /* 256, 384, 512 */
#define FK_TINY_DEFAULT_SIZE 416

struct fk_models {
  unsigned nets;             /* FK_NET_* loaded */
  nn_weights ssd_w, tiny_w;  /* kept to build detectors of other sizes */
  nn_graph *ssd[FK_SSD_AUTO_SIZES]; /* at fk_ssd_auto_sizes[i] */
  fk_ssd_anchors ssd_anchors[FK_SSD_AUTO_SIZES];
  nn_graph *tiny;            /* at FK_TINY_DEFAULT_SIZE */
  nn_graph *landmarks, *descriptor;
  nn_graph *agegender, *expression, *gear; /* attribute nets (analyze.c) */
  nn_budget *budget;         /* the cores this context's sessions share */
  char err[FK_ERRMSG_MAX];
};

/* A detector at one input size, created on first use: the graph (the model
 * context's, or one built by the session for a size the context lacks), its
 * anchors (SSD) and this session's runtime for it. */
typedef struct fk_det_slot {
  int size;                  /* 0: unused */
  nn_graph *own;
  fk_ssd_anchors own_anchors;
  const nn_graph *graph;
  const fk_ssd_anchors *anchors;
  nn_runtime *rt;
} fk_det_slot;

struct fk_session {
  const fk_models *m;
  fk_options opt;
  nn_threads *threads;       /* opt.threads, drawing on m->budget */
  nn_sched sched;            /* of every runtime (adaptive but in benches) */
  fk_det_slot det[FK_SSD_AUTO_SIZES];
  nn_runtime *lm_rt, *desc_rt;
  nn_runtime *ag_rt, *expr_rt, *gear_rt; /* NULL unless the net is loaded */
  fk_det *dets;              /* detection scratch, opt.max_faces long */
  char err[FK_ERRMSG_MAX];
};

/* The detector slot for an image, created on first use; on failure the
 * session's error says why. */
int fk_session_detector(fk_session *s, const fk_image *img, fk_det_slot **out);

/* Sets how every runtime of s, now and later, picks its thread count
 * (bench_load compares the choices). */
void fk_session_set_sched(fk_session *s, nn_sched sched);

/* Records a formatted message in s->err and returns status. */
int fk_session_fail(fk_session *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* face-api's descriptor crop (FaceLandmarks.alignDlib, then the clip and
 * floor of extractFaceTensors). Returns 0 if the crop is empty. */
int fk_align_faceapi_rect(const fk_point pts[FK_NUM_LANDMARKS], int img_w,
                          int img_h, fk_rect *crop);

/* The similarity transform (chip pixel -> image pixel, as fk_warp_affine's
 * m) that maps dlib's mean face, padded by `padding` in a size x size chip,
 * onto the face's landmarks. mode FK_ALIGN_5POINT fits five points derived
 * from the 68 (eye centres, nose tip, mouth corners); FK_ALIGN_DLIB fits the
 * 33 points dlib's get_face_chip_details uses. */
void fk_align_chip_transform(const fk_point pts[FK_NUM_LANDMARKS], int mode, int size,
                             double padding, double m[6]);

#endif /* FK_FACE_H */
