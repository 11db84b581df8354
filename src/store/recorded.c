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

/* The options an index records: the table's rows of detection and of the
 * embedding, but the model, whose fingerprint is recorded on its own. */
static int recorded(const fk_option *d, unsigned want) { return (d->flags & want) && strcmp(d->name, "model"); }

/* "detector ssd, input_size auto, ..., flip true": the options of the
 * rows with a flag in want, as they run (fk_option_used). */
static void describe(const fk_options *o, unsigned want, char *buf, size_t size) {
  const fk_option *d;
  size_t len = 0;
  buf[0] = '\0';
  for (int i = 0; (d = fk_option_at(i)) && len < size; i++) {
    if (!recorded(d, want)) continue;
    char v[64];
    fk_option_used(o, d, v, sizeof v);
    len += (size_t)snprintf(buf + len, size - len, "%s%s %s", len ? ", " : "", d->name, v);
  }
}

/* The FK_MODEL_* of a recorded fingerprint ("NAME-hash"); -1 if none. */
static int model_of_id(const char *id) {
  for (int i = 0; i < FK_NUM_MODELS; i++) {
    size_t n = strlen(fk_model_name(i));
    if (!strncmp(id, fk_model_name(i), n) && id[n] == '-') return i;
  }
  return -1;
}

/* Reads the recorded options into *o (defaults for what is absent, or not
 * understood: a recorded "arcface+5point" is a fused model's automatic
 * alignment, a recorded "320x240" RFB-320's fixed size). */
static int read_options(fk_store *st, fk_options *o) {
  fk_options_init(o);
  const fk_option *d;
  char v[64], why[256];
  for (int i = 0; (d = fk_option_at(i)); i++) {
    if (!recorded(d, FK_OPT_DETECT | FK_OPT_EMBED)) continue;
    int rc = fk_store_meta_get(st, d->name, v, sizeof v);
    if (rc == FK_ENOENT) continue;
    if (rc) return rc;
    fk_options before = *o;
    if (fk_option_set(o, d, v, why, sizeof why)) *o = before;
  }
  if (fk_store_meta_get(st, "model", v, sizeof v) == FK_OK && model_of_id(v) >= 0) o->model = model_of_id(v);
  return FK_OK;
}

int fk_store_record_model(fk_store *st, const char *model, int dim, const fk_options *o) {
  char dims[16], v[64];
  snprintf(dims, sizeof dims, "%d", dim);
  int rc;
  if ((rc = fk_store_meta_set(st, "model", model)) || (rc = fk_store_meta_set(st, "dim", dims))) return rc;
  const fk_option *d;
  for (int i = 0; (d = fk_option_at(i)); i++) {
    if (!recorded(d, FK_OPT_DETECT | FK_OPT_EMBED)) continue;
    fk_option_used(o, d, v, sizeof v);
    if ((rc = fk_store_meta_set(st, d->name, v))) return rc;
  }
  if ((rc = fk_store_meta_set(st, "normalization", "l2; int8 = round(127 v) clamped to [-127, 127]"))) return rc;
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
  /* not strict: only what defines the embedding space */
  unsigned want = strict ? FK_OPT_DETECT | FK_OPT_EMBED : FK_OPT_EMBED;
  describe(&rec, want, a, sizeof a);
  describe(&o, want, b, sizeof b);
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
