/*
 * recorded.c - the pipeline an index records: the model fingerprint, its
 * embedding width and the preprocessing options in the meta table, read back
 * for fk_store_get_info, and the checks that keep one index to one embedding
 * space (fk_store_check, fk_store_check_id, fk_store_claim_entry_model).
 * Backend-neutral: it reaches the database only through the meta helpers
 * and st->ops.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "facekit.h"
#include "store/store.h"

void fk_store_opt_describe(const fk_options *o, char *buf, size_t size) {
  char in[16], align[64];
  fk_detector_input_name(o, in, sizeof in);
  fk_model_align_name(o->model, o->align, align, sizeof align);
  snprintf(buf, size, "detector %s, input size %s, min score %g, max faces %d, landmarks %s, align %s, flip %s",
           fk_detector_name(o->detector), in, o->min_score, o->max_faces, fk_landmarks_name(o->landmarks),
           align, o->flip ? "true" : "false");
}

/* The FK_MODEL_* of a recorded fingerprint ("NAME-hash"); -1 if none. */
static int model_of_id(const char *id) {
  for (int i = 0; i < FK_NUM_MODELS; i++) {
    size_t n = strlen(fk_model_name(i));
    if (!strncmp(id, fk_model_name(i), n) && id[n] == '-') return i;
  }
  return -1;
}

/* Reads the recorded options into *o (defaults for what is absent). A
 * recorded alignment that names no single mode is a model's automatic
 * choice (see fk_model_align_name). */
static int read_options(fk_store *st, fk_options *o) {
  static const char *const keys[] = {"detector", "input_size", "min_score", "max_faces", "align", "flip",
                                     "model", "landmarks"};
  fk_options_init(o);
  char v[64];
  for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
    int rc = fk_store_meta_get(st, keys[i], v, sizeof v);
    if (rc == FK_ENOENT) continue;
    if (rc) return rc;
    long n = strtol(v, NULL, 10);
    switch (i) {
      case 0: o->detector = fk_detector_from_name(v) < 0 ? FK_DETECTOR_SSD : fk_detector_from_name(v); break;
      case 1:
        if (o->detector != FK_DETECTOR_RFB320)
          *(o->detector == FK_DETECTOR_TINY ? &o->tiny_input_size : &o->ssd_input_size) = (int)n;
        break;
      case 2: o->min_score = strtof(v, NULL); break;
      case 3: o->max_faces = (int)n; break;
      case 4: o->align = fk_align_from_name(v) < FK_ALIGN_AUTO ? FK_ALIGN_AUTO : fk_align_from_name(v); break;
      case 5: o->flip = !strcmp(v, "true"); break;
      case 6: o->model = model_of_id(v) < 0 ? o->model : model_of_id(v); break;
      default: o->landmarks = fk_landmarks_from_name(v) < 0 ? o->landmarks : fk_landmarks_from_name(v); break;
    }
  }
  return FK_OK;
}

int fk_store_record_model(fk_store *st, const char *model, int dim, const fk_options *o) {
  char size[16], score[32], maxf[16], dims[16], align[64];
  fk_detector_input_name(o, size, sizeof size);
  snprintf(score, sizeof score, "%.9g", o->min_score);
  snprintf(maxf, sizeof maxf, "%d", o->max_faces);
  snprintf(dims, sizeof dims, "%d", dim);
  fk_model_align_name(o->model, o->align, align, sizeof align);
  const char *kv[][2] = {
      {"model", model}, {"dim", dims},
      {"detector", fk_detector_name(o->detector)},
      {"input_size", size}, {"min_score", score}, {"max_faces", maxf},
      {"landmarks", fk_landmarks_name(o->landmarks)},
      {"align", align},
      {"flip", o->flip ? "true" : "false"},
      {"normalization", "l2; int8 = round(127 v) clamped to [-127, 127]"},
  };
  for (size_t i = 0; i < sizeof kv / sizeof *kv; i++) {
    int rc = fk_store_meta_set(st, kv[i][0], kv[i][1]);
    if (rc) return rc;
  }
  st->dim = dim;
  return FK_OK;
}

int fk_store_get_info(fk_store *st, fk_store_info *info) {
  memset(info, 0, sizeof *info);
  int rc = fk_store_meta_get(st, "model", info->model, sizeof info->model);
  if (rc && rc != FK_ENOENT) return rc;
  info->has_model = rc == FK_OK;
  info->dim = st->dim;
  if ((rc = read_options(st, &info->opt))) return rc;
  if ((rc = fk_store_meta_get_int(st, "generation", &info->generation))) return rc;
  if (st->schema >= 3 && (rc = fk_store_meta_get_int(st, "seq", &info->seq))) return rc;
  return st->ops->counts(st, info);
}

int fk_store_check_id(fk_store *st, const char *id, const fk_options *opt, int strict) {
  char have[64], a[256], b[256];
  fk_options rec, o;
  if (opt) o = *opt;
  else fk_options_init(&o);
  int rc = fk_store_meta_get(st, "model", have, sizeof have);
  if (rc == FK_ENOENT) return FK_OK;
  if (rc) return rc;
  if (strcmp(id, have)) {
    int other = model_of_id(have);
    char hint[96];
    if (other >= 0 && other != o.model) snprintf(hint, sizeof hint, "--model %s", fk_model_name(other));
    else snprintf(hint, sizeof hint, "the model files it was built with");
    return fk_store_fail(st, FK_EMISMATCH,
                         "%s holds %d-d embeddings of another model (%s; this run computes %d-d %s): "
                         "refusing to mix embedding spaces; use %s, or another --db",
                         st->path, st->dim, have, fk_model_dim(o.model), id, hint);
  }
  /* another process may have recorded the model since this one opened */
  int64_t dim = 0;
  if (!st->dim && fk_store_meta_get_int(st, "dim", &dim) == FK_OK && dim > 0 && dim <= FK_EMBED_MAX)
    st->dim = (int)dim;
  if ((rc = read_options(st, &rec))) return rc;
  if (!strict) { /* only what defines the embedding space */
    o.detector = rec.detector;
    o.ssd_input_size = rec.ssd_input_size;
    o.tiny_input_size = rec.tiny_input_size;
    o.min_score = rec.min_score;
    o.max_faces = rec.max_faces;
  }
  fk_store_opt_describe(&rec, a, sizeof a);
  fk_store_opt_describe(&o, b, sizeof b);
  if (strcmp(a, b))
    return fk_store_fail(st, FK_EMISMATCH,
                         "%s was built with %s; this run asks for %s: use the same options, "
                         "or another --db", st->path, a, b);
  return FK_OK;
}

int fk_store_check(fk_store *st, const fk_models *m, const fk_options *caller, int strict) {
  char id[64];
  fk_options o, *opt = &o;
  if (FK_ABI_IMPORT(fk_options_init, &o, caller))
    return fk_store_fail(st, FK_EINVAL, "options not filled by fk_options_init");
  int model = o.model;
  int rc = fk_model_id(m, model, id, sizeof id);
  if (rc)
    return fk_store_fail(st, rc, "the nets of model %s are not loaded",
                         fk_model_name(model) ? fk_model_name(model) : "?");
  return fk_store_check_id(st, id, opt, strict);
}

int fk_store_claim_entry_model(fk_store *st, const fk_entry *e) {
  char have[64];
  int rc = fk_store_meta_get(st, "model", have, sizeof have);
  if (rc == FK_ENOENT) return fk_store_record_model(st, e->model, fk_model_dim(e->opt.model), &e->opt);
  return rc ? rc : fk_store_check_id(st, e->model, &e->opt, 1);
}
