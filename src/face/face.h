/*
 * face.h - internals of the face pipeline (src/face/): the model context,
 * the per-thread session, and the alignment geometry they share.
 */
#ifndef FK_FACE_H
#define FK_FACE_H

#include <pthreadpool.h>

#include "facekit.h"
#include "image/image.h"
#include "models/models.h"

#define FK_ERRMSG_MAX 512

struct fk_models {
  unsigned nets;             /* FK_NET_* loaded */
  nn_weights ssd_w, tiny_w;  /* kept to build detectors of other sizes */
  nn_graph *ssd;             /* at FK_SSD_DEFAULT_SIZE */
  fk_ssd_anchors ssd_anchors;
  nn_graph *tiny;            /* at FK_TINY_DEFAULT_SIZE */
  nn_graph *landmarks, *descriptor;
  char err[FK_ERRMSG_MAX];
};

#define FK_SSD_DEFAULT_SIZE 512
#define FK_TINY_DEFAULT_SIZE 416

struct fk_session {
  const fk_models *m;
  fk_options opt;
  pthreadpool_t pool;        /* NULL when threads == 1 */
  nn_graph *own_detector;    /* detector built for a non-default size */
  fk_ssd_anchors own_anchors;
  const nn_graph *detector;  /* the one in use: m's or own_detector */
  const fk_ssd_anchors *anchors;
  nn_runtime *det_rt, *lm_rt, *desc_rt;
  fk_det *dets;              /* detection scratch, opt.max_faces long */
  char err[FK_ERRMSG_MAX];
};

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
