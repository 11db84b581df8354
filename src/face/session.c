/*
 * session.c - fk_session: one thread's options, threads and inference
 * runtimes over a shared fk_models. A detector whose input size differs from
 * the model context's default gets its own graph here, built from the
 * context's weights, so the context itself never changes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "face/face.h"

void fk_options_init(fk_options *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->detector = FK_DETECTOR_SSD;
  o->ssd_input_size = 0; /* automatic */
  o->tiny_input_size = FK_TINY_DEFAULT_SIZE;
  o->min_score = 0.5f;
  o->max_faces = 100;
  o->model = fk_default_model;
  o->align = FK_ALIGN_AUTO;
  o->flip = 1;
  o->threads = 1;
  o->backend = FK_BACKEND_AUTO;
  o->max_pixels = FK_DEFAULT_MAX_PIXELS;
  o->precision = FK_PRECISION_AUTO;
  o->retry_score = 0.2f; /* see fk_options; README "Indexing speed" */
}

/* The input side the options ask of a sized detector (0: automatic, or a
 * fixed detector, which reads no option). */
static int option_size(const fk_detector_def *det, const fk_options *o) {
  int size = 0;
  if (!det->fixed_w) memcpy(&size, (const char *)o + det->size_option, sizeof size);
  return size;
}

static int check_options(fk_session *s, const fk_options *o) {
  char why[512];
  if (fk_options_check(o, why, sizeof why)) return fk_session_fail(s, FK_EINVAL, "%s", why);
  if (o->precision == FK_PRECISION_BF16 && o->backend != FK_BACKEND_ONEDNN && o->backend != FK_BACKEND_AUTO)
    return fk_session_fail(s, FK_EUNSUPPORTED, "bf16 runs on the oneDNN backend only, not on %s",
                           fk_backend_name(o->backend));
  if (o->precision == FK_PRECISION_BF16 && !nn_precision_native(NN_BACKEND_DNNL, NN_PREC_BF16))
    return fk_session_fail(s, FK_EUNSUPPORTED,
                           "this CPU has no native bf16 (AVX512-BF16 or AMX-BF16): use precision f32 or auto");
  return FK_OK;
}

static const char *const precision_names[] = {"f32", "bf16", "auto"};

const char *fk_precision_name(int p) {
  return p >= 0 && p < (int)(sizeof precision_names / sizeof *precision_names) ? precision_names[p] : NULL;
}

int fk_precision_from_name(const char *name) {
  for (int i = 0; name && fk_precision_name(i); i++)
    if (!strcmp(name, precision_names[i])) return i;
  return -1;
}

/* The nn precision behind an FK_PRECISION_* choice. AUTO is f32 on every
 * CPU: the one lower precision built, bf16, measured 0.65x f32's speed on
 * mbf512 (oneDNN 2.6's brgconv:avx512_core_bf16, an AVX512-BF16 Xeon
 * without AMX; README, Speed), and no CPU with AMX has been measured yet. */
static nn_precision nn_precision_of(int fk_precision) {
  return fk_precision == FK_PRECISION_BF16 ? NN_PREC_BF16 : NN_PREC_F32;
}

static const char *const backend_names[] = {"xnnpack", "reference", "onednn", "auto"};

int fk_backend_from_name(const char *name) {
  for (int i = 0; i <= FK_BACKEND_AUTO; i++)
    if (name && !strcmp(name, backend_names[i])) return i;
  return -1;
}

const char *fk_backend_name(int backend) {
  return backend >= 0 && backend <= FK_BACKEND_AUTO ? backend_names[backend] : "unknown";
}

/* The nn backend behind an FK_BACKEND_* choice. AUTO is oneDNN for every
 * net: measured on the AVX2 machine it is 1.8-2.4x faster than XNNPACK on
 * each of them (README, Speed), its kernels are generated at run time for
 * the CPU at hand, and on AVX-512 the two measured about equal. */
static nn_backend nn_backend_of(int fk_backend) {
  switch (fk_backend) {
    case FK_BACKEND_XNNPACK: return NN_BACKEND_XNNPACK;
    case FK_BACKEND_REFERENCE: return NN_BACKEND_REFERENCE;
    default: return NN_BACKEND_DNNL;
  }
}

/* A runtime for g (none if g is NULL: the net was not loaded). */
static int new_runtime(fk_session *s, const nn_graph *g, nn_runtime **rt, const char *what) {
  if (!g) return FK_OK;
  int rc = nn_runtime_new_prec(g, nn_backend_of(s->opt.backend), s->threads, nn_precision_of(s->opt.precision), rt);
  if (rc == FK_OK) nn_runtime_set_sched(*rt, s->sched);
  return rc == FK_OK ? rc : fk_session_fail(s, rc, "creating the %s runtime: %s", what, fk_strerror(rc));
}

int fk_session_new(const fk_models *m, const fk_options *opt, fk_session **out) {
  *out = NULL;
  fk_session *s = calloc(1, sizeof *s);
  if (!s) return FK_ENOMEM;
  *out = s;
  s->m = m;
  if (FK_ABI_IMPORT(fk_options_init, &s->opt, opt))
    return fk_session_fail(s, FK_EINVAL, "options of %zu bytes: fill them with fk_options_init (this library's are %zu)",
                           fk_abi_size(opt), sizeof s->opt);
  int rc = check_options(s, &s->opt);
  if (rc) return rc;
  if (nn_threads_new(s->opt.threads, m->budget, &s->threads) != FK_OK)
    return fk_session_fail(s, FK_ENOMEM, "out of memory");
  s->dets = calloc((size_t)s->opt.max_faces, sizeof *s->dets);
  if (!s->dets) return fk_session_fail(s, FK_ENOMEM, "out of memory");
  s->det_id = fk_detector_net(s->opt.detector);
  s->lmk_id = fk_landmarks_net(s->opt.landmarks);
  for (int id = 0; id < FK_NUM_NETS; id++)
    if (fk_nets[id].role != FK_ROLE_DETECTOR &&
        (rc = new_runtime(s, m->graph[id], &s->rt[id], fk_nets[id].name)))
      return rc;
  return FK_OK;
}

/* The input size for img: the fixed one, the option, or in automatic mode
 * the first auto size that covers the image's longer side. */
static int detector_size(const fk_session *s, const fk_image *img) {
  const fk_detector_def *det = fk_nets[s->det_id].det;
  if (det->fixed_w) return det->fixed_w;
  int size = option_size(det, &s->opt);
  if (size) return size;
  int side = img->width > img->height ? img->width : img->height;
  for (int i = 0; i < det->nauto - 1; i++)
    if (side <= det->auto_sizes[i] + det->auto_sizes[i] / 8) return det->auto_sizes[i];
  return det->auto_sizes[det->nauto - 1];
}

/* Points slot d at the context's graph for `size`, or builds one from the
 * kept weights. */
static int slot_graph(fk_session *s, fk_det_slot *d, int size) {
  const fk_net_def *net = &fk_nets[s->det_id];
  const fk_det_graph *at = s->m->det[s->det_id];
  char err[256] = "";
  int rc;
  if (!at[0].graph) return fk_session_fail(s, FK_EINVAL, "the %s detector was not loaded", net->name);
  for (int i = 0; i < FK_DET_MAX_SIZES && at[i].graph; i++)
    if (at[i].size == size) {
      d->graph = at[i].graph;
      d->state = at[i].state;
      return FK_OK;
    }
  if (!net->det->build) return fk_session_fail(s, FK_EINVAL, "the %s detector has no size %d", net->name, size);
  if ((rc = net->det->build(&s->m->weights[s->det_id], size, &d->own, err, sizeof err)) ||
      (net->det->state_new && (rc = net->det->state_new(size, &d->own_state))))
    return fk_session_fail(s, rc, "%s detector at %d: %s", net->name, size, err);
  d->graph = d->own;
  d->state = d->own_state;
  return FK_OK;
}

static void slot_free(const fk_session *s, fk_det_slot *d) {
  nn_runtime_free(d->rt);
  nn_graph_free(d->own);
  if (d->own_state) fk_nets[s->det_id].det->state_free(d->own_state);
  memset(d, 0, sizeof *d);
}

int fk_session_detector(fk_session *s, const fk_image *img, fk_det_slot **out) {
  int size = detector_size(s, img), i, rc;
  /* An explicit size uses one slot, the automatic mode at most one per
   * auto size, so a free slot always exists. */
  for (i = 0; i < FK_DET_MAX_SIZES && s->det[i].size; i++)
    if (s->det[i].size == size) {
      *out = &s->det[i];
      return FK_OK;
    }
  fk_det_slot *d = &s->det[i];
  if ((rc = slot_graph(s, d, size)) || (rc = new_runtime(s, d->graph, &d->rt, "detector"))) {
    slot_free(s, d);
    return rc;
  }
  d->size = size;
  *out = d;
  return FK_OK;
}

void fk_session_set_sched(fk_session *s, nn_sched sched) {
  s->sched = sched;
  for (int id = 0; id < FK_NUM_NETS; id++)
    if (s->rt[id]) nn_runtime_set_sched(s->rt[id], sched);
  for (int i = 0; i < FK_DET_MAX_SIZES; i++)
    if (s->det[i].rt) nn_runtime_set_sched(s->det[i].rt, sched);
}

const char *fk_session_errmsg(const fk_session *s) {
  if (!s) return "out of memory";
  return s->err[0] ? s->err : "ok";
}

const fk_options *fk_session_options(const fk_session *s) { return &s->opt; }

int fk_session_set_options(fk_session *s, const fk_options *caller) {
  fk_options o, mixed = s->opt;
  char why[512], v[64], names[256];
  if (FK_ABI_IMPORT(fk_options_init, &o, caller))
    return fk_session_fail(s, FK_EINVAL, "options not filled by fk_options_init");
  if (fk_options_check(&o, why, sizeof why)) return fk_session_fail(s, FK_EINVAL, "%s", why);
  /* the session's options with the new live values: the rest must match */
  const fk_option *d;
  size_t len = 0;
  for (int i = 0; (d = fk_option_at(i)); i++)
    if (d->flags & FK_OPT_LIVE) {
      fk_option_get(&o, d, v, sizeof v);
      fk_option_set(&mixed, d, v, why, sizeof why);
      len += (size_t)snprintf(names + len, len < sizeof names ? sizeof names - len : 0, "%s%s", len ? ", " : "",
                              d->name);
    }
  if (!fk_options_equal(&mixed, &o))
    return fk_session_fail(s, FK_EINVAL, "only %s change in place; other options need a new session", names);
  s->opt = o;
  return FK_OK;
}

int fk_session_model_id(const fk_session *s, char *buf, size_t size) {
  return fk_model_id(s->m, s->opt.model, buf, size);
}

int fk_session_set_error(fk_session *s, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fk_vfail(s->err, sizeof s->err, status, fmt, ap);
  va_end(ap);
  return status;
}

void fk_session_free(fk_session *s) {
  if (!s) return;
  for (int i = 0; i < FK_DET_MAX_SIZES; i++) slot_free(s, &s->det[i]);
  for (int id = 0; id < FK_NUM_NETS; id++) nn_runtime_free(s->rt[id]);
  free(s->dets);
  nn_threads_free(s->threads);
  free(s);
}
