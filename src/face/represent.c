/*
 * represent.c - face descriptors: cut the 150x150 chip the session's
 * alignment mode asks for, normalize it, run the ResNet.
 */
#include <stdlib.h>

#include "face/face.h"

#define CHIP FK_DESCRIPTOR_SIZE
/* dlib's get_face_chip_details padding for this network. */
#define CHIP_PADDING 0.25

/* Runs the net on the chip in its input buffer (raw 0..255); with the flip
 * option, also on the mirrored chip, averaging the two outputs. */
static int run_descriptor(fk_session *s, float *embedding) {
  float *in = nn_runtime_input(s->desc_rt);
  fk_descriptor_normalize(in, (size_t)CHIP * CHIP);
  int passes = s->opt.flip ? 2 : 1;
  for (int p = 0; p < passes; p++) {
    if (p == 1) fk_mirror_tensor(in, CHIP, CHIP);
    int rc = nn_runtime_run(s->desc_rt);
    if (rc) return fk_session_fail(s, rc, "descriptor net: %s", fk_strerror(rc));
    const float *out = nn_runtime_output(s->desc_rt, 0);
    for (int i = 0; i < FK_EMBED_DIM; i++) embedding[i] = p ? (embedding[i] + out[i]) / 2 : out[i];
  }
  return FK_OK;
}

int fk_represent(fk_session *s, const fk_image *img, fk_face *face) {
  if (!img || !img->rgb || !face)
    return fk_session_fail(s, FK_EINVAL, "fk_represent: invalid image or face");
  if (!s->desc_rt) return fk_session_fail(s, FK_EINVAL, "the descriptor net was not loaded");
  float *chip = nn_runtime_input(s->desc_rt);
  if (s->opt.align != FK_ALIGN_FACEAPI) {
    double m[6];
    fk_align_chip_transform(face->landmarks, s->opt.align, CHIP, CHIP_PADDING, m);
    fk_warp_affine(img, m, CHIP, CHIP, chip);
  } else {
    fk_rect crop;
    if (!fk_align_faceapi_rect(face->landmarks, img->width, img->height, &crop))
      return fk_session_fail(s, FK_ENOFACE, "the face-api crop of this face lies outside the image");
    fk_crop_to_square_tensor(img, crop, 1, CHIP, chip);
  }
  return run_descriptor(s, face->embedding);
}

int fk_represent_chip(fk_session *s, const fk_image *chip, float *embedding) {
  if (!chip || !chip->rgb || chip->width <= 0 || chip->height <= 0 || !embedding)
    return fk_session_fail(s, FK_EINVAL, "fk_represent_chip: invalid image");
  if (!s->desc_rt) return fk_session_fail(s, FK_EINVAL, "the descriptor net was not loaded");
  fk_rect all = {0, 0, chip->width, chip->height};
  fk_crop_to_square_tensor(chip, all, 1, CHIP, nn_runtime_input(s->desc_rt));
  return run_descriptor(s, embedding);
}
