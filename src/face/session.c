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
  o->max_pixels = 0;
  o->precision = FK_PRECISION_AUTO;
}

static int check_options(fk_session *s, const fk_options *o) {
  if (!fk_detector_name(o->detector))
    return fk_session_fail(s, FK_EINVAL, "unknown detector %d", o->detector);
  if (!fk_landmarks_name(o->landmarks))
    return fk_session_fail(s, FK_EINVAL, "unknown landmark net %d", o->landmarks);
  int size = o->detector == FK_DETECTOR_SSD ? o->ssd_input_size : o->tiny_input_size;
  if (o->detector == FK_DETECTOR_SSD && size == 0) size = 256; /* automatic */
  if (o->detector != FK_DETECTOR_RFB320 && (size < 64 || size > 2048 || size % 32))
    return fk_session_fail(s, FK_EINVAL,
                           "detector input size %d must be a multiple of 32 in [64, 2048]", size);
  if (!(o->min_score >= 0.0f && o->min_score < 1.0f))
    return fk_session_fail(s, FK_EINVAL, "min score %g must be in [0, 1)", o->min_score);
  if (o->max_faces < 1 || o->max_faces > 10000)
    return fk_session_fail(s, FK_EINVAL, "max faces %d must be in [1, 10000]", o->max_faces);
  if (!fk_model_name(o->model))
    return fk_session_fail(s, FK_EINVAL, "unknown recognition model %d", o->model);
  if (!fk_align_name(o->align))
    return fk_session_fail(s, FK_EINVAL, "unknown alignment mode %d", o->align);
  if (o->threads < 1 || o->threads > 256)
    return fk_session_fail(s, FK_EINVAL, "threads %d must be in [1, 256]", o->threads);
  if (o->backend < FK_BACKEND_XNNPACK || o->backend > FK_BACKEND_AUTO)
    return fk_session_fail(s, FK_EINVAL, "unknown backend %d", o->backend);
  if (o->attribute_model != FK_ATTR_MODEL_FACEAPI && o->attribute_model != FK_ATTR_MODEL_GEAR)
    return fk_session_fail(s, FK_EINVAL, "unknown attribute model %d", o->attribute_model);
  if (!fk_precision_name(o->precision))
    return fk_session_fail(s, FK_EINVAL, "unknown precision %d", o->precision);
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
  for (int id = 0; id < FK_NUM_NETS; id++)
    if (fk_nets[id].role != FK_ROLE_DETECTOR &&
        (rc = new_runtime(s, m->graph[id], &s->rt[id], fk_nets[id].name)))
      return rc;
  return FK_OK;
}

/* The input size for img: the option, or in automatic mode the first auto
 * size that covers the image's longer side. */
static int detector_size(const fk_session *s, const fk_image *img) {
  if (s->opt.detector == FK_DETECTOR_RFB320) return FK_RFB320_W;
  if (s->opt.detector == FK_DETECTOR_TINY) return s->opt.tiny_input_size;
  if (s->opt.ssd_input_size) return s->opt.ssd_input_size;
  int side = img->width > img->height ? img->width : img->height;
  for (int i = 0; i < FK_SSD_AUTO_SIZES - 1; i++)
    if (side <= fk_ssd_auto_sizes[i] + fk_ssd_auto_sizes[i] / 8) return fk_ssd_auto_sizes[i];
  return fk_ssd_auto_sizes[FK_SSD_AUTO_SIZES - 1];
}

/* Points slot d at the context's graph for `size`, or builds one. */
static int slot_graph(fk_session *s, fk_det_slot *d, int size) {
  const fk_models *m = s->m;
  char err[256] = "";
  int rc;
  if (s->opt.detector == FK_DETECTOR_RFB320) { /* one fixed input size */
    if (!(d->graph = m->graph[FK_NETID_RFB320]))
      return fk_session_fail(s, FK_EINVAL, "the RFB-320 detector was not loaded");
    return FK_OK;
  }
  if (s->opt.detector == FK_DETECTOR_TINY) {
    if (!m->graph[FK_NETID_TINY]) return fk_session_fail(s, FK_EINVAL, "the Tiny detector was not loaded");
    if (size == FK_TINY_DEFAULT_SIZE) {
      d->graph = m->graph[FK_NETID_TINY];
      return FK_OK;
    }
    if ((rc = fk_tiny_build(&m->tiny_w, size, &d->own, err, sizeof err)))
      return fk_session_fail(s, rc, "Tiny detector at %d: %s", size, err);
    d->graph = d->own;
    return FK_OK;
  }
  if (!m->ssd[0]) return fk_session_fail(s, FK_EINVAL, "the SSD detector was not loaded");
  for (int i = 0; i < FK_SSD_AUTO_SIZES; i++)
    if (fk_ssd_auto_sizes[i] == size) {
      d->graph = m->ssd[i];
      d->anchors = &m->ssd_anchors[i];
      return FK_OK;
    }
  if ((rc = fk_ssd_build(&m->ssd_w, size, &d->own, err, sizeof err)) ||
      (rc = fk_ssd_anchors_make(size, &d->own_anchors)))
    return fk_session_fail(s, rc, "SSD at %d: %s", size, err);
  d->graph = d->own;
  d->anchors = &d->own_anchors;
  return FK_OK;
}

int fk_session_detector(fk_session *s, const fk_image *img, fk_det_slot **out) {
  int size = detector_size(s, img), i, rc;
  /* An explicit size uses one slot, the automatic mode at most one per
   * auto size, so a free slot always exists. */
  for (i = 0; i < FK_SSD_AUTO_SIZES && s->det[i].size; i++)
    if (s->det[i].size == size) {
      *out = &s->det[i];
      return FK_OK;
    }
  fk_det_slot *d = &s->det[i];
  if ((rc = slot_graph(s, d, size)) || (rc = new_runtime(s, d->graph, &d->rt, "detector"))) {
    nn_graph_free(d->own);
    fk_ssd_anchors_free(&d->own_anchors);
    memset(d, 0, sizeof *d);
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
  for (int i = 0; i < FK_SSD_AUTO_SIZES; i++)
    if (s->det[i].rt) nn_runtime_set_sched(s->det[i].rt, sched);
}

const char *fk_session_errmsg(const fk_session *s) {
  if (!s) return "out of memory";
  return s->err[0] ? s->err : "ok";
}

void fk_session_free(fk_session *s) {
  if (!s) return;
  for (int i = 0; i < FK_SSD_AUTO_SIZES; i++) {
    nn_runtime_free(s->det[i].rt);
    nn_graph_free(s->det[i].own);
    fk_ssd_anchors_free(&s->det[i].own_anchors);
  }
  for (int id = 0; id < FK_NUM_NETS; id++) nn_runtime_free(s->rt[id]);
  free(s->dets);
  nn_threads_free(s->threads);
  free(s);
}
