/*
 * handlers.c - the endpoints that run on the workers: each reads its
 * parameters strictly (params.c), calls the library as the CLI command of
 * the same name does, and answers with the same result object the CLI
 * prints (src/cli/json.c) plus time_ms. Parsing is separate from running so
 * that a dry run (the fuzz target) exercises all of the input handling
 * without models.
 *
 * Errors never carry internals: library messages that may hold file paths
 * go to the server's log, the client gets a fixed message and a code.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "base/clock.h"
#include "api/api.h"
#include "image/compose.h"
#include "server/server.h"

#define MAX_K 1000
#define MAX_PAGE 1000
#define MAX_REGISTER_FACES 100

/* ---- responses ----------------------------------------------------------------- */

void srv_job_json(srv_job *j, int status, cJSON *obj) {
  free(j->out);
  j->out = obj ? fk_json_text(cJSON_PrintUnformatted(obj)) : NULL;
  cJSON_Delete(obj);
  if (!j->out) {
    j->status = 500;
    j->out = strdup("{\"error\":\"out of memory\",\"code\":\"internal\"}");
  } else {
    j->status = status;
  }
  j->out_len = j->out ? strlen(j->out) : 0;
  j->content_type = "application/json";
}

void srv_job_error(srv_job *j, const srv_error *e) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", e->msg);
  cJSON_AddStringToObject(o, "code", e->code ? e->code : "internal");
  srv_job_json(j, e->status ? e->status : 500, o);
}

/* The HTTP error of a library status, `what` naming the input. Messages
 * that could carry paths go to the log only. */
static int fail_status(srv_error *e, int rc, const char *what, const char *detail) {
  switch (rc) {
    case FK_ENOFACE: return srv_fail(e, 422, "no_face", "no face detected in %s", what);
    case FK_EFORMAT: return srv_fail(e, 415, "bad_image", "%s is not a JPEG, PNG or WebP image", what);
    case FK_EEMPTY: return srv_fail(e, 415, "bad_image", "%s is empty", what);
    case FK_ECORRUPT: return srv_fail(e, 415, "bad_image", "%s is truncated or corrupt", what);
    case FK_ETOOBIG: return srv_fail(e, 413, "image_too_large", "%s has more pixels than the server allows", what);
    case FK_ENOMEM: return srv_fail(e, 503, "overloaded", "out of memory; try again later");
    default:
      fprintf(stderr, "facekit serve: %s: %s (%s)\n", what, fk_strerror(rc), detail ? detail : "");
      return srv_fail(e, 500, "internal", "internal error (%s)", fk_strerror(rc));
  }
}

/* A failed index operation. A lost connection to the database (FK_EIO: a
 * PostgreSQL restart, say) is a 503 worth retrying, since the next request
 * connects again; anything else is as fail_status. */
static int index_fail(srv_error *e, int rc, const char *detail) {
  if (rc != FK_EIO) return fail_status(e, rc, "the index", detail);
  fprintf(stderr, "facekit serve: the index: %s\n", detail ? detail : "");
  return srv_fail(e, 503, "index_unavailable", "the index cannot be reached now; try again");
}

/* ---- shared parameters ------------------------------------------------------------ */

/* A parameter that DeepFace spells differently: either name, not both. */
static int get_alias(srv_params *ps, const char *name, const char *alias, const char **out, srv_error *e) {
  const char *a = NULL, *b = NULL;
  int ra = srv_get_string(ps, name, &a, e);
  if (ra < 0) return -1;
  int rb = srv_get_string(ps, alias, &b, e);
  if (rb < 0) return -1;
  if (ra && rb) return srv_fail(e, 400, "bad_parameter", "give %s or %s, not both", name, alias);
  if (ra || rb) *out = ra ? a : b;
  return ra || rb;
}

/* The pipeline options a request may set (the table's FK_OPT_REQUEST rows,
 * by name or DeepFace's alias) over base. A JSON number or boolean, or
 * text. */
static int pipeline_params(srv_params *ps, const fk_options *base, fk_options *o, srv_error *e) {
  *o = *base;
  const fk_option *d;
  for (int i = 0; (d = fk_option_at(i)); i++) {
    if (!(d->flags & FK_OPT_REQUEST)) continue;
    const cJSON *json;
    const char *text, *name;
    int r = srv_get_value(ps, d->name, d->alias, &name, &text, &json, e);
    if (r <= 0) {
      if (r < 0) return -1;
      continue;
    }
    char why[512] = "";
    int numeric = d->type == FK_OPT_INT || d->type == FK_OPT_FLOAT || d->type == FK_OPT_SIZE, rc = FK_EINVAL;
    if (d->type == FK_OPT_BOOL && !(json && cJSON_IsBool(json)) && !(text && (!strcmp(text, "true") ||
                                                                              !strcmp(text, "false"))))
      snprintf(why, sizeof why, "must be true or false");
    else if (numeric && json && cJSON_IsString(json))
      snprintf(why, sizeof why, "must be a JSON number, not a string");
    else if (json && (cJSON_IsBool(json) || cJSON_IsNumber(json)))
      rc = fk_option_set_number(o, d, cJSON_IsBool(json) ? cJSON_IsTrue(json) : json->valuedouble, why, sizeof why);
    else if (text)
      rc = fk_option_set(o, d, text, why, sizeof why);
    else
      snprintf(why, sizeof why, "must be text, a number or a boolean");
    if (rc) return srv_fail(e, 400, "bad_parameter", "%s %s", name, why);
  }
  return 0;
}

static int enforce_param(srv_params *ps, int *enforce, srv_error *e) {
  *enforce = 1;
  return srv_get_bool(ps, "enforce_detection", enforce, e) < 0 ? -1 : 0;
}

/* The bytes of an image parameter (required). */
typedef struct upload {
  uint8_t *data;
  size_t len;
} upload;

static int image_param(srv_job *j, const char *name, upload *u, srv_error *e) {
  const srv_config *c = &j->srv->cfg;
  int r = srv_get_image(&j->params, name, c->allow_path, c->nallow, c->max_body, &u->data, &u->len, e);
  if (r == 0) return srv_fail(e, 400, "missing_parameter", "%s is required (a file, a data: URI or base64)", name);
  return r < 0 ? -1 : 0;
}

static int decode(srv_job *j, const upload *u, const char *name, fk_image *img, srv_error *e) {
  int rc = fk_image_decode(u->data, u->len, j->srv->cfg.opt.max_pixels, img);
  return rc ? fail_status(e, rc, name, NULL) : 0;
}

/* Dry runs parse as if an index were served. */
static int need_index(srv_job *j, srv_error *e) {
  if (j->srv->vectors || j->srv->dry) return 0;
  return srv_fail(e, 404, "no_index", "this server serves no index (start it with --db FILE)");
}

/* The index fixes the pipeline of find and register: the options it
 * records are refused. */
static int refuse_pipeline(srv_params *ps, srv_error *e) {
  const fk_option *d;
  for (int i = 0; (d = fk_option_at(i)); i++) {
    if (!(d->flags & FK_OPT_REQUEST) || !(d->flags & (FK_OPT_DETECT | FK_OPT_EMBED))) continue;
    for (int k = 0; k < ps->n; k++)
      if (!strcmp(ps->p[k].name, d->name) || (d->alias && !strcmp(ps->p[k].name, d->alias)))
        return srv_fail(e, 400, "bad_parameter", "%s is fixed by the served index for this endpoint", ps->p[k].name);
  }
  return 0;
}

/* An image decoded and its faces (fk_api_faces) with the session for opt. */
typedef struct detected {
  fk_image img;
  fk_session *s;
  fk_face *faces;  /* opt.max_faces of them */
  int n, found;    /* n: to report (found 0: the whole image) */
} detected;

static void detected_free(detected *d) {
  free(d->faces);
  fk_image_free(&d->img);
}

/* 0, or -1 with e set (422 when enforce and no face). */
static int detect(srv_job *j, srv_worker *w, const upload *u, const fk_options *opt, int enforce, int embed, int keep,
                  detected *d, srv_error *e) {
  memset(d, 0, sizeof *d);
  if (decode(j, u, "img", &d->img, e) || !(d->s = srv_session(w, opt, e))) return -1;
  int cap = opt->max_faces;
  if (!(d->faces = calloc((size_t)cap, sizeof *d->faces))) return fail_status(e, FK_ENOMEM, "img", NULL);
  int rc = fk_api_faces(d->s, &d->img, enforce, embed, keep, d->faces, cap, &d->n, &d->found);
  if (rc == FK_OK && d->n == 0) rc = FK_ENOFACE;
  return rc ? fail_status(e, rc, "img", fk_session_errmsg(d->s)) : 0;
}

/* ---- represent ------------------------------------------------------------------ */

typedef struct represent_req {
  upload img;
  fk_options opt;
  int enforce, l2;
  long max_faces;
} represent_req;

static int parse_represent(srv_job *j, represent_req *r, srv_error *e) {
  srv_params *ps = &j->params;
  r->max_faces = 0;
  if (image_param(j, "img", &r->img, e) || pipeline_params(ps, &j->srv->cfg.opt, &r->opt, e) ||
      enforce_param(ps, &r->enforce, e) || srv_get_int(ps, "max_faces", 1, r->opt.max_faces, &r->max_faces, e) < 0)
    return -1;
  /* normalize: a boolean, or the CLI's words */
  const char *v = NULL;
  srv_error not_bool = {0};
  if (srv_get_bool(ps, "normalize", &r->l2, &not_bool) >= 0) return 0;
  if (strstr(not_bool.msg, "more than once")) return *e = not_bool, -1;
  if (srv_get_string(ps, "normalize", &v, &not_bool) > 0 && (!strcmp(v, "l2") || !strcmp(v, "none"))) {
    r->l2 = v[0] == 'l';
    return 0;
  }
  return srv_fail(e, 400, "bad_parameter", "normalize must be true, false, \"l2\" or \"none\"");
}

static void run_represent(srv_job *j, srv_worker *w, represent_req *r, srv_error *e) {
  detected d;
  double t0 = fk_now_ms();
  if (detect(j, w, &r->img, &r->opt, r->enforce, 1, (int)r->max_faces, &d, e) == 0) {
    cJSON *o = fk_json_represent(d.faces, d.n, d.found, &r->opt, r->l2);
    cJSON_AddNumberToObject(o, "time_ms", fk_now_ms() - t0);
    srv_job_json(j, 200, o);
  }
  detected_free(&d);
}

/* ---- verify ----------------------------------------------------------------------- */

typedef struct verify_req {
  upload img[2];
  fk_options opt;
  int metric;
  float threshold;
} verify_req;

static int parse_verify(srv_job *j, verify_req *r, srv_error *e) {
  srv_params *ps = &j->params;
  r->metric = FK_METRIC_COSINE;
  r->threshold = -1;
  const char *m = NULL;
  int enforce, got;
  if (image_param(j, "img1", &r->img[0], e) || image_param(j, "img2", &r->img[1], e) ||
      pipeline_params(ps, &j->srv->cfg.opt, &r->opt, e) || enforce_param(ps, &enforce, e) ||
      srv_get_float(ps, "threshold", 0, 4, &r->threshold, e) < 0 ||
      (got = get_alias(ps, "metric", "distance_metric", &m, e)) < 0)
    return -1;
  if (got && (r->metric = fk_metric_from_name(m)) < 0)
    return srv_fail(e, 400, "bad_parameter", "metric must be cosine, euclidean or euclidean_l2");
  if (!enforce) return srv_fail(e, 400, "bad_parameter", "verify needs a face in each image: enforce_detection "
                                "must be true");
  return 0;
}

static void run_verify(srv_job *j, srv_worker *w, verify_req *r, srv_error *e) {
  fk_image img[2] = {{0}, {0}};
  fk_session *s;
  double t0 = fk_now_ms();
  if (!decode(j, &r->img[0], "img1", &img[0], e) && !decode(j, &r->img[1], "img2", &img[1], e) &&
      (s = srv_session(w, &r->opt, e))) {
    fk_verify_result v;
    int rc = fk_verify(s, &img[0], &img[1], r->metric, r->threshold, &v);
    if (rc == FK_ENOFACE) {
      srv_fail(e, 422, "no_face", "%s", fk_session_errmsg(s)); /* "no face detected in img1" */
    } else if (rc) {
      fail_status(e, rc, "the images", fk_session_errmsg(s));
    } else {
      cJSON *o = fk_json_verify(&v, &r->opt);
      cJSON_AddNumberToObject(o, "time_ms", fk_now_ms() - t0);
      srv_job_json(j, 200, o);
    }
  }
  fk_image_free(&img[0]);
  fk_image_free(&img[1]);
}

/* ---- analyze ---------------------------------------------------------------------- */

typedef struct analyze_req {
  upload img;
  fk_options opt;
  int enforce, actions;
} analyze_req;

static int parse_analyze(srv_job *j, analyze_req *r, srv_error *e) {
  srv_params *ps = &j->params;
  char list[256];
  int got;
  r->actions = FK_ACTION_ALL;
  if (image_param(j, "img", &r->img, e) || pipeline_params(ps, &j->srv->cfg.opt, &r->opt, e) ||
      enforce_param(ps, &r->enforce, e) || (got = srv_get_list(ps, "actions", list, sizeof list, e)) < 0)
    return -1;
  if (got && (r->actions = fk_actions_from_names(list)) <= 0)
    return srv_fail(e, 400, "bad_parameter", "actions must list age, gender, emotion, race, pose, quality");
  return 0;
}

static void run_analyze(srv_job *j, srv_worker *w, analyze_req *r, srv_error *e) {
  detected d;
  fk_attributes *attrs = NULL;
  double t0 = fk_now_ms();
  if (detect(j, w, &r->img, &r->opt, r->enforce, 0, 0, &d, e) == 0) {
    int rc = (attrs = calloc((size_t)d.n, sizeof *attrs)) ? FK_OK : FK_ENOMEM;
    for (int k = 0; rc == FK_OK && k < d.n; k++)
      rc = fk_analyze(d.s, &d.img, &d.faces[k], (unsigned)r->actions, &attrs[k]);
    if (rc) {
      fail_status(e, rc, "img", fk_session_errmsg(d.s));
    } else {
      cJSON *o = fk_json_analyze(d.faces, attrs, d.n, d.found, &r->opt);
      cJSON_AddNumberToObject(o, "time_ms", fk_now_ms() - t0);
      srv_job_json(j, 200, o);
    }
  }
  free(attrs);
  detected_free(&d);
}

/* ---- find ----------------------------------------------------------------------------- */

typedef struct find_req {
  upload img;
  fk_search_options so;
  int threshold_given, all_faces;
} find_req;

static int parse_find(srv_job *j, find_req *r, srv_error *e) {
  srv_params *ps = &j->params;
  fk_search_options_init(&r->so);
  long k = r->so.k;
  const char *m = NULL, *codes = NULL;
  int gm, gc, gt;
  if (refuse_pipeline(ps, e) || image_param(j, "img", &r->img, e) || srv_get_int(ps, "k", 1, MAX_K, &k, e) < 0 ||
      (gt = srv_get_float(ps, "threshold", 0, 1e6, &r->so.threshold, e)) < 0 ||
      (gm = get_alias(ps, "metric", "distance_metric", &m, e)) < 0 ||
      (gc = srv_get_string(ps, "codes", &codes, e)) < 0 || srv_get_bool(ps, "all_faces", &r->all_faces, e) < 0)
    return -1;
  r->so.k = (int)k;
  r->threshold_given = gt;
  if (gm && (r->so.metric = fk_metric_from_name(m)) < 0)
    return srv_fail(e, 400, "bad_parameter", "metric must be cosine, euclidean or euclidean_l2");
  if (gc && strcmp(codes, "f32") && strcmp(codes, "int8"))
    return srv_fail(e, 400, "bad_parameter", "codes must be f32 or int8");
  if (gc) r->so.codes = codes[0] == 'i' ? FK_CODES_INT8 : FK_CODES_F32;
  return need_index(j, e);
}

static void run_find(srv_job *j, srv_worker *w, find_req *r, srv_error *e) {
  srv *sv = j->srv;
  detected d;
  fk_api_query *q = NULL;
  int nq = 0;
  double t0 = fk_now_ms();
  if (detect(j, w, &r->img, &sv->index_opt, 1, 1, r->all_faces ? 0 : 1, &d, e)) goto out;
  int rc = FK_OK;
  nq = d.n;
  if (!(q = calloc((size_t)nq, sizeof *q))) {
    fail_status(e, FK_ENOMEM, "img", NULL);
    goto out;
  }
  for (int i = 0; i < nq; i++) q[i].face = d.faces[i];
  float same = r->threshold_given ? r->so.threshold : fk_model_threshold(sv->index_opt.model, r->so.metric);
  if (!r->threshold_given) r->so.threshold = -1;
  char err[1024];
  for (int i = 0; i < nq; i++)
    if ((rc = fk_api_find(sv->vectors, w->lookup, &r->so, same, &q[i], err, sizeof err))) {
      index_fail(e, rc, err);
      goto out;
    }
  cJSON *o = fk_json_find(q, nq, r->all_faces, fk_vectors_count(sv->vectors), &r->so, same);
  cJSON_AddNumberToObject(o, "time_ms", fk_now_ms() - t0);
  srv_job_json(j, 200, o);
out:
  for (int i = 0; q && i < nq; i++) free(q[i].hits);
  free(q);
  detected_free(&d);
}

/* ---- register ---------------------------------------------------------------------------- */

typedef struct register_req {
  upload img;
  const char *identity;
  long face;        /* the face to register, by rank (-1: the central one) */
  int by_box;       /* ... or the one at box */
  fk_box box;
} register_req;

static int valid_identity(const char *s, srv_error *e) {
  char why[160];
  return fk_api_identity_check(s, why, sizeof why) ? srv_fail(e, 400, "bad_parameter", "identity %s", why) : 0;
}

static int parse_register(srv_job *j, register_req *r, srv_error *e) {
  srv_params *ps = &j->params;
  int got;
  if (refuse_pipeline(ps, e) || image_param(j, "img", &r->img, e) ||
      (got = srv_get_string(ps, "identity", &r->identity, e)) < 0)
    return -1;
  if (!got) return srv_fail(e, 400, "missing_parameter", "identity is required");
  if (valid_identity(r->identity, e)) return -1;
  r->face = -1;
  int gi = srv_get_int(ps, "face", 0, MAX_REGISTER_FACES - 1, &r->face, e), gb;
  if (gi < 0 || (gb = srv_get_box(ps, "face_box", &r->box, e)) < 0) return -1;
  if (gi && gb) return srv_fail(e, 400, "bad_parameter", "give face or face_box, not both");
  r->by_box = gb;
  return need_index(j, e);
}

/* Picks the face a register labels (fk_entry_keep_face: the central one
 * unless the client chose) and lists the others as ignored; 0, or -1 with
 * e set. */
static int pick_face(fk_entry *entry, const register_req *r, cJSON **ignored, srv_error *e) {
  const fk_face *faces;
  int central, n = fk_entry_faces(entry, &faces, &central), k = (int)r->face;
  if (r->by_box && (k = fk_face_at(faces, n, r->box)) < 0)
    return srv_fail(e, 422, "face_not_found", "no face of img overlaps face_box (it has %d)", n);
  if (k >= n) return srv_fail(e, 422, "face_not_found", "img has %d faces: face must be below %d", n, n);
  if (!(*ignored = cJSON_CreateArray())) return fail_status(e, FK_ENOMEM, "img", NULL);
  for (int i = 0; i < n; i++) {
    if (i == (k < 0 ? central : k)) continue;
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "face", i);
    cJSON_AddItemToObject(f, "box", fk_json_box(faces[i].box));
    cJSON_AddNumberToObject(f, "score", fk_json_float(faces[i].score));
    cJSON_AddItemToArray(*ignored, f);
  }
  int kept = fk_entry_keep_face(entry, k);
  if (kept >= 0) return 0;
  cJSON_Delete(*ignored);
  *ignored = NULL;
  return fail_status(e, kept, "img", NULL);
}

typedef struct add_op {
  fk_entry *entry;
  const upload *img;
  const char *identity;
  int64_t ids[MAX_REGISTER_FACES];
  fk_added out;
  char err[1024];
} add_op;

static int do_add(fk_store *st, void *arg) {
  add_op *a = arg;
  /* the file is written and committed in one step of the one writer, in
   * step with deletes (fk_store_set_data_dir) */
  int rc = fk_store_add_upload(st, a->entry, a->img->data, a->img->len, a->identity, a->ids, MAX_REGISTER_FACES,
                               &a->out);
  if (rc) snprintf(a->err, sizeof a->err, "%s", fk_store_errmsg(st));
  return rc;
}

static void run_register(srv_job *j, srv_worker *w, register_req *r, srv_error *e) {
  srv *sv = j->srv;
  fk_entry *entry = NULL;
  fk_session *s;
  double t0 = fk_now_ms();
  if (!(s = srv_session(w, &sv->index_opt, e))) goto fail;
  int rc = fk_entry_new_bytes(s, r->img.data, r->img.len, "img", &entry);
  const fk_face *faces;
  int central;
  cJSON *ignored = NULL;
  if (rc == FK_OK && fk_entry_faces(entry, &faces, &central) == 0) rc = FK_ENOFACE;
  if (rc) {
    fail_status(e, rc, "img", fk_session_errmsg(s));
    goto fail;
  }
  if (pick_face(entry, r, &ignored, e)) goto fail;
  add_op a = {.entry = entry, .img = &r->img, .identity = r->identity};
  if ((rc = srv_write(sv, do_add, &a))) {
    cJSON_Delete(ignored);
    index_fail(e, rc, a.err);
    goto fail;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "identity", r->identity);
  cJSON_AddNumberToObject(o, "image_id", (double)a.out.image_id);
  cJSON_AddBoolToObject(o, "created", a.out.created);
  cJSON *arr = cJSON_AddArrayToObject(o, "faces");
  int nf = fk_entry_faces(entry, &faces, &central);
  for (int i = 0; i < a.out.nfaces && i < MAX_REGISTER_FACES; i++) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "face_id", (double)a.ids[i]);
    if (a.out.created && i < nf) {
      cJSON_AddItemToObject(f, "box", fk_json_box(faces[i].box));
      cJSON_AddNumberToObject(f, "score", fk_json_float(faces[i].score));
      cJSON_AddBoolToObject(f, "central", i == central);
    }
    cJSON_AddItemToArray(arr, f);
  }
  /* the other faces of the image, not stored (unless the image was there) */
  if (a.out.created) cJSON_AddItemToObject(o, "ignored", ignored);
  else cJSON_Delete(ignored);
  cJSON_AddNumberToObject(o, "time_ms", fk_now_ms() - t0);
  fk_entry_free(entry);
  srv_job_json(j, a.out.created ? 201 : 200, o);
  return;
fail:
  fk_entry_free(entry);
}

/* ---- deleting ------------------------------------------------------------------------------- */

typedef struct delete_op {
  srv *sv;
  int64_t id;
  const char *name;
  int64_t faces;
  int images;
  char err[1024];
} delete_op;

/* The library has removed the files of uploads (fk_store_set_data_dir). */
static void count_removed(const char *path, void *user) {
  delete_op *d = user;
  (void)path;
  d->images++;
}

static int do_delete(fk_store *st, void *arg) {
  delete_op *d = arg;
  int rc = d->name ? fk_store_delete_identity(st, d->name, &d->faces, count_removed, d)
                   : fk_store_delete_face(st, d->id, count_removed, d);
  if (rc) snprintf(d->err, sizeof d->err, "%s", fk_store_errmsg(st));
  else if (!d->name) d->faces = 1;
  return rc;
}

/* {name} of the path as the index keeps it. Names that are not UTF-8 are
 * printed escaped (the JSON output escapes every string: fk_text_escape),
 * so a client sends that form back: unescaping gives the bytes (escaped
 * text never lengthens when undone). */
static void identity_arg(const srv_job *j, char *name, size_t size) { fk_text_unescape(j->arg, name, size); }

/* {id} of the path: a positive integer. */
static int face_id_arg(srv_job *j, int64_t *id, srv_error *e) {
  char *end;
  errno = 0;
  long long v = strtoll(j->arg, &end, 10);
  if (!j->arg[0] || *end || errno || v <= 0 || j->arg[0] == '+' || j->arg[0] == ' ')
    return srv_fail(e, 404, "not_found", "no such face");
  *id = v;
  return 0;
}

typedef struct delete_req {
  int64_t id;
} delete_req;

static int parse_delete(srv_job *j, delete_req *r, srv_error *e) {
  if (j->route == R_DELETE_FACE && face_id_arg(j, &r->id, e)) return -1;
  return need_index(j, e);
}

static void run_delete(srv_job *j, delete_req *r, srv_error *e) {
  char name[sizeof j->arg];
  identity_arg(j, name, sizeof name);
  delete_op d = {.sv = j->srv, .id = r->id, .name = j->route == R_DELETE_IDENTITY ? name : NULL};
  int rc = srv_write(j->srv, do_delete, &d);
  if (rc == FK_ENOENT) {
    if (d.name) srv_fail(e, 404, "not_found", "no such identity");
    else srv_fail(e, 404, "not_found", "no such face");
    return;
  }
  if (rc) {
    index_fail(e, rc, d.err);
    return;
  }
  cJSON *o = cJSON_CreateObject(), *del = cJSON_AddObjectToObject(o, "deleted");
  if (d.name) cJSON_AddStringToObject(del, "identity", d.name);
  else cJSON_AddNumberToObject(del, "face_id", (double)d.id);
  cJSON_AddNumberToObject(del, "faces", (double)d.faces);
  cJSON_AddNumberToObject(del, "images", d.images);
  srv_job_json(j, 200, o);
}

/* ---- listing, crops, info ------------------------------------------------------------------------ */

typedef struct list_req {
  long limit, offset, size;
  int64_t id;
} list_req;

static int parse_list(srv_job *j, list_req *r, srv_error *e) {
  srv_params *ps = &j->params;
  r->limit = 100;
  r->offset = 0;
  r->size = 160;
  if (j->route == R_FACE_IMAGE) {
    if (face_id_arg(j, &r->id, e) || srv_get_int(ps, "size", 16, 512, &r->size, e) < 0) return -1;
  } else if (j->route != R_INFO) {
    if (srv_get_int(ps, "limit", 1, MAX_PAGE, &r->limit, e) < 0 ||
        srv_get_int(ps, "offset", 0, LONG_MAX / 2, &r->offset, e) < 0)
      return -1;
  }
  return j->route == R_INFO ? 0 : need_index(j, e);
}

static cJSON *stored_face_json(const fk_store_face *f) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "face_id", (double)f->id);
  cJSON_AddNumberToObject(o, "image_id", (double)f->image_id);
  cJSON_AddStringToObject(o, "path", f->path);
  cJSON_AddItemToObject(o, "box", fk_json_box(f->box));
  cJSON_AddNumberToObject(o, "score", fk_json_float(f->score));
  cJSON_AddBoolToObject(o, "central", f->central);
  return o;
}

static void page_fields(cJSON *o, int64_t total, const list_req *r) {
  cJSON_AddNumberToObject(o, "total", (double)total);
  cJSON_AddNumberToObject(o, "offset", (double)r->offset);
  cJSON_AddNumberToObject(o, "limit", (double)r->limit);
}

static void run_identities(srv_job *j, srv_worker *w, list_req *r, srv_error *e) {
  fk_identity_info *d = calloc((size_t)r->limit, sizeof *d);
  int n = 0;
  int64_t total = 0;
  int rc = d ? fk_store_list_identities(w->lookup, r->offset, (int)r->limit, d, &n, &total) : FK_ENOMEM;
  if (rc) {
    index_fail(e, rc, fk_store_errmsg(w->lookup));
  } else {
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "identities");
    for (int i = 0; i < n; i++) {
      cJSON *x = cJSON_CreateObject();
      cJSON_AddStringToObject(x, "name", d[i].name);
      cJSON_AddNumberToObject(x, "images", (double)d[i].images);
      cJSON_AddNumberToObject(x, "faces", (double)d[i].faces);
      cJSON_AddItemToArray(arr, x);
    }
    page_fields(o, total, r);
    srv_job_json(j, 200, o);
  }
  free(d);
}

static void run_identity_faces(srv_job *j, srv_worker *w, list_req *r, srv_error *e) {
  fk_store_face *f = calloc((size_t)r->limit, sizeof *f);
  int n = 0;
  int64_t total = 0;
  char name[sizeof j->arg];
  identity_arg(j, name, sizeof name);
  int rc = f ? fk_store_identity_faces(w->lookup, name, r->offset, (int)r->limit, f, &n, &total) : FK_ENOMEM;
  if (rc == FK_ENOENT) {
    srv_fail(e, 404, "not_found", "no such identity");
  } else if (rc) {
    index_fail(e, rc, fk_store_errmsg(w->lookup));
  } else {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "identity", name);
    cJSON *arr = cJSON_AddArrayToObject(o, "faces");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, stored_face_json(&f[i]));
    page_fields(o, total, r);
    srv_job_json(j, 200, o);
  }
  free(f);
}

/* A relative stored path made one below --root, when it was given. */
static int below_root(const char *root, fk_store_face *f) {
  char full[sizeof f->path];
  int rc = fk_store_path_below(root, f->path, full, sizeof full);
  if (rc == FK_OK) memcpy(f->path, full, sizeof full);
  return rc;
}

static void run_face_image(srv_job *j, srv_worker *w, list_req *r, srv_error *e) {
  fk_store_face *f = malloc(sizeof *f);
  fk_image crop = {0};
  uint8_t *png = NULL;
  size_t len = 0;
  int rc = f ? fk_store_get_face(w->lookup, r->id, f) : FK_ENOMEM;
  if (rc == FK_ENOENT) {
    srv_fail(e, 404, "not_found", "no such face");
  } else if (rc) {
    index_fail(e, rc, fk_store_errmsg(w->lookup));
  } else if ((rc = below_root(j->srv->cfg.root, f)) ||
             (rc = fk_store_face_crop(f, (int)r->size, j->srv->cfg.opt.max_pixels, &crop))) {
    fprintf(stderr, "facekit serve: face %lld: %s: %s\n", (long long)r->id, f->path, fk_strerror(rc));
    srv_fail(e, 404, "image_missing", "the image of face %lld can no longer be read", (long long)r->id);
  } else if ((rc = fk_png_encode_mem(&crop, &png, &len))) {
    fail_status(e, rc, "the crop", NULL);
  } else {
    free(j->out);
    j->out = (char *)png;
    j->out_len = len;
    j->status = 200;
    j->content_type = "image/png";
  }
  fk_image_free(&crop);
  free(f);
}

static void run_info(srv_job *j, srv_worker *w, srv_error *e) {
  srv *sv = j->srv;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "version", FK_VERSION);
  cJSON_AddNumberToObject(o, "workers", sv->nworkers);
  cJSON_AddBoolToObject(o, "keys", sv->keys.n > 0);
  char names[256];
  fk_names(fk_model_name, names, sizeof names);
  cJSON_AddStringToObject(o, "models", names);
  fk_json_add_pipeline(cJSON_AddObjectToObject(o, "defaults"), NULL, &sv->cfg.opt, 1);
  if (sv->vectors) {
    fk_store_info info;
    int rc = fk_store_get_info(w->lookup, &info);
    if (rc) {
      cJSON_Delete(o);
      index_fail(e, rc, fk_store_errmsg(w->lookup));
      return;
    }
    cJSON *x = cJSON_AddObjectToObject(o, "index");
    fk_json_add_pipeline(x, info.has_model ? info.model : NULL, &sv->index_opt, 1);
    cJSON_AddNumberToObject(x, "faces", (double)info.faces);
    cJSON_AddNumberToObject(x, "images", (double)info.images);
    cJSON_AddNumberToObject(x, "identities", (double)info.identities);
    cJSON_AddNumberToObject(x, "seq", (double)info.seq);
  } else {
    cJSON_AddNullToObject(o, "index");
  }
  srv_job_json(j, 200, o);
}

/* ---- dispatch ---------------------------------------------------------------------------------- */

/* The dry-run answer: which parameters were read. */
static void dry_answer(srv_job *j) {
  cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "read");
  cJSON_AddStringToObject(o, "route", srv_route_names[j->route]);
  for (int i = 0; i < j->params.n; i++) cJSON_AddItemToArray(arr, cJSON_CreateString(j->params.p[i].name));
  srv_job_json(j, 200, o);
}

void srv_handle(srv_job *j, srv_worker *w) {
  srv_error e = {0};
  union {
    represent_req rep;
    verify_req ver;
    analyze_req ana;
    find_req find;
    register_req reg;
    delete_req del;
    list_req list;
  } r;
  memset(&r, 0, sizeof r);
  int bad = 0;
  if (j->body && srv_params_from_json(&j->params, j->body, j->body_len, &e)) bad = 1;
  if (!bad) switch (j->route) {
      case R_REPRESENT: bad = parse_represent(j, &r.rep, &e); break;
      case R_VERIFY: bad = parse_verify(j, &r.ver, &e); break;
      case R_ANALYZE: bad = parse_analyze(j, &r.ana, &e); break;
      case R_FIND: bad = parse_find(j, &r.find, &e); break;
      case R_REGISTER: bad = parse_register(j, &r.reg, &e); break;
      case R_DELETE_FACE: case R_DELETE_IDENTITY: bad = parse_delete(j, &r.del, &e); break;
      default: bad = parse_list(j, &r.list, &e); break;
    }
  if (!bad) bad = srv_params_check_unknown(&j->params, &e);
  if (!bad && !w) dry_answer(j);
  if (!bad && w) switch (j->route) {
      case R_REPRESENT: run_represent(j, w, &r.rep, &e); break;
      case R_VERIFY: run_verify(j, w, &r.ver, &e); break;
      case R_ANALYZE: run_analyze(j, w, &r.ana, &e); break;
      case R_FIND: run_find(j, w, &r.find, &e); break;
      case R_REGISTER: run_register(j, w, &r.reg, &e); break;
      case R_DELETE_FACE: case R_DELETE_IDENTITY: run_delete(j, &r.del, &e); break;
      case R_IDENTITIES: run_identities(j, w, &r.list, &e); break;
      case R_IDENTITY_FACES: run_identity_faces(j, w, &r.list, &e); break;
      case R_FACE_IMAGE: run_face_image(j, w, &r.list, &e); break;
      case R_INFO: run_info(j, w, &e); break;
      default: srv_fail(&e, 404, "not_found", "no such endpoint"); break;
    }
  if (e.status) srv_job_error(j, &e);
  switch (j->route) { /* the uploads read */
    case R_REPRESENT: free(r.rep.img.data); break;
    case R_VERIFY: free(r.ver.img[0].data), free(r.ver.img[1].data); break;
    case R_ANALYZE: free(r.ana.img.data); break;
    case R_FIND: free(r.find.img.data); break;
    case R_REGISTER: free(r.reg.img.data); break;
    default: break;
  }
}
