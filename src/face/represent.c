/*
 * represent.c - face embeddings: for each recognizer of the session's
 * model, cut the chip its alignment asks for at its input size, normalize
 * it its way, run it (and, with flip, its mirror image). A fused model
 * joins its parts' unit vectors u_p, each scaled by sqrt(w_p) with the
 * weights summing to 1, into one unit vector: the cosine of two such vectors
 * is then sum_p w_p cos(u_p, u'_p).
 */
#include <math.h>
#include <stdlib.h>

#include "face/face.h"

/* The alignment a recognizer gets under the session's options. */
static int part_align(const fk_session *s, const fk_recognizer *r) {
  return s->opt.align == FK_ALIGN_AUTO ? r->align : s->opt.align;
}

/* Runs net id on the raw 0..255 chip already in its input buffer; with the
 * flip option also on the mirrored chip, averaging the two outputs. */
static int run_part(fk_session *s, int id, float *out) {
  const fk_recognizer *r = fk_nets[id].rec;
  nn_runtime *rt = s->rt[id];
  float *in = nn_runtime_input(rt);
  r->normalize(in, (size_t)r->size * r->size);
  int passes = s->opt.flip ? 2 : 1;
  for (int p = 0; p < passes; p++) {
    if (p == 1) fk_mirror_tensor(in, r->size, r->size);
    int rc = nn_runtime_run(rt);
    if (rc) return fk_session_fail(s, rc, "%s net: %s", fk_nets[id].name, fk_strerror(rc));
    const float *o = nn_runtime_output(rt, 0);
    for (int i = 0; i < r->dim; i++) out[i] = p ? (out[i] + o[i]) / 2 : o[i];
  }
  return FK_OK;
}

/* Cuts the chip of net id for a detected face into its input buffer. */
static int face_chip(fk_session *s, int id, const fk_image *img, const fk_face *face) {
  const fk_recognizer *r = fk_nets[id].rec;
  float *chip = nn_runtime_input(s->rt[id]);
  int align = part_align(s, r);
  if (align == FK_ALIGN_FACEAPI) {
    fk_rect crop;
    if (!fk_align_faceapi_rect(face->landmarks, img->width, img->height, &crop))
      return fk_session_fail(s, FK_ENOFACE, "the face-api crop of this face lies outside the image");
    fk_crop_to_square_tensor(img, crop, 1, r->size, chip);
    return FK_OK;
  }
  double m[6];
  fk_align_chip_transform(face->landmarks, align, r->size, r->padding, m);
  fk_warp_affine(img, m, r->size, r->size, chip);
  return FK_OK;
}

/* The whole image as the chip of net id. */
static int image_chip(fk_session *s, int id, const fk_image *img, const fk_face *face) {
  (void)face;
  fk_rect all = {0, 0, img->width, img->height};
  fk_crop_to_square_tensor(img, all, 1, fk_nets[id].rec->size, nn_runtime_input(s->rt[id]));
  return FK_OK;
}

typedef int (*chip_fn)(fk_session *s, int id, const fk_image *img, const fk_face *face);

/* Every part of the session's model; a single part's output is the
 * embedding as it is, parts of a fused model are joined (see the top). */
static int embed(fk_session *s, const fk_image *img, fk_face *face, chip_fn chip) {
  const fk_model_def *md = &fk_model_defs[s->opt.model];
  for (int p = 0; p < md->nparts; p++)
    if (!s->rt[md->part[p]])
      return fk_session_fail(s, FK_EINVAL, "model %s needs the %s net, which was not loaded",
                             md->name, fk_nets[md->part[p]].name);
  float *out = face->embedding;
  for (int p = 0; p < md->nparts; p++) {
    int id = md->part[p], dim = fk_nets[id].rec->dim, rc;
    if ((rc = chip(s, id, img, face)) || (rc = run_part(s, id, out))) return rc;
    if (md->nparts > 1) { /* unit, scaled so that cosines add with the part's weight */
      fk_l2_normalize(out, dim);
      float scale = sqrtf(md->weight[p]);
      for (int i = 0; i < dim; i++) out[i] *= scale;
    }
    out += dim;
  }
  face->model = s->opt.model;
  face->dim = (int)(out - face->embedding);
  if (md->nparts > 1) fk_l2_normalize(face->embedding, face->dim);
  return FK_OK;
}

int fk_represent(fk_session *s, const fk_image *img, fk_face *face) {
  if (!img || !img->rgb || !face)
    return fk_session_fail(s, FK_EINVAL, "fk_represent: invalid image or face");
  return embed(s, img, face, face_chip);
}

int fk_represent_chip(fk_session *s, const fk_image *chip, fk_face *face) {
  if (!chip || !chip->rgb || chip->width <= 0 || chip->height <= 0 || !face)
    return fk_session_fail(s, FK_EINVAL, "fk_represent_chip: invalid image");
  return embed(s, chip, face, image_chip);
}
