/*
 * json.c - the JSON of the library's results (json.h), shared by the CLI
 * and the HTTP service.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/json.h"

double cli_float(float v) {
  /* 9 significant digits round-trip any float; without this cJSON prints
   * the widened double with 17. */
  char buf[32];
  snprintf(buf, sizeof buf, "%.9g", (double)v);
  return strtod(buf, NULL);
}

void cli_utf8_scrub(char *s) {
  unsigned char *p = (unsigned char *)s;
  while (*p) {
    int n = *p < 0x80 ? 0 : (*p & 0xE0) == 0xC0 && *p >= 0xC2 ? 1 : (*p & 0xF0) == 0xE0 ? 2
            : (*p & 0xF8) == 0xF0 && *p <= 0xF4 ? 3 : -1;
    for (int k = 1; n > 0 && k <= n; k++)
      if ((p[k] & 0xC0) != 0x80) n = -1;
    if (n < 0) *p++ = '?';
    else p += n + 1;
  }
}

char *cli_json_text(char *s) {
  if (!s || !fk_text_needs_escape(s)) return s;
  size_t n = fk_text_escape(s, NULL, 0) + 1;
  char *e = malloc(n);
  if (e) fk_text_escape(s, e, n);
  else cli_utf8_scrub(s); /* out of memory: valid, if lossy */
  if (e) free(s);
  return e ? e : s;
}

cJSON *cli_box_json(fk_box b) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "x", cli_float(b.x));
  cJSON_AddNumberToObject(o, "y", cli_float(b.y));
  cJSON_AddNumberToObject(o, "w", cli_float(b.w));
  cJSON_AddNumberToObject(o, "h", cli_float(b.h));
  return o;
}

cJSON *cli_landmarks_json(const fk_point *p, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) {
    float xy[2] = {p[i].x, p[i].y};
    cJSON_AddItemToArray(a, cli_floats_json(xy, 2));
  }
  return a;
}

cJSON *cli_floats_json(const float *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(cli_float(v[i])));
  return a;
}

void cli_add_pipeline(cJSON *o, const char *model_id, const fk_options *opt, int with_model) {
  if (with_model) {
    cJSON_AddStringToObject(o, "model", model_id ? model_id : fk_model_name(opt->model));
    cJSON_AddNumberToObject(o, "dim", fk_model_dim(opt->model));
  }
  cJSON_AddStringToObject(o, "detector", fk_detector_name(opt->detector));
  int size = opt->detector == FK_DETECTOR_TINY ? opt->tiny_input_size : opt->ssd_input_size;
  char in[16];
  fk_detector_input_name(opt, in, sizeof in);
  if (opt->detector != FK_DETECTOR_RFB320 && size) cJSON_AddNumberToObject(o, "input_size", size);
  else cJSON_AddStringToObject(o, "input_size", in);
  cJSON_AddStringToObject(o, "landmarks", fk_landmarks_name(opt->landmarks));
  if (!with_model) return;
  char align[64];
  fk_model_align_name(opt->model, opt->align, align, sizeof align);
  cJSON_AddStringToObject(o, "align", align);
  cJSON_AddBoolToObject(o, "flip", opt->flip);
}

/* ---- represent, verify, analyze ------------------------------------------ */

static cJSON *embedding_face_json(const fk_face *f, int l2) {
  float e[FK_EMBED_MAX];
  memcpy(e, f->embedding, (size_t)f->dim * sizeof *e);
  if (l2) fk_l2_normalize(e, f->dim);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "box", cli_box_json(f->box));
  cJSON_AddNumberToObject(o, "score", cli_float(f->score));
  cJSON_AddItemToObject(o, "embedding", cli_floats_json(e, f->dim));
  return o;
}

cJSON *cli_represent_json(const fk_face *faces, int n, int face_detected, const fk_options *opt, int l2) {
  cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "faces");
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, embedding_face_json(&faces[i], l2));
  cJSON_AddBoolToObject(o, "face_detected", face_detected);
  cli_add_pipeline(o, NULL, opt, 1);
  cJSON_AddStringToObject(o, "normalize", l2 ? "l2" : "none");
  return o;
}

cJSON *cli_verify_json(const fk_verify_result *r, const fk_options *opt) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "verified", r->verified);
  cJSON_AddNumberToObject(o, "distance", cli_float(r->distance));
  cJSON_AddNumberToObject(o, "threshold", cli_float(r->threshold));
  cJSON_AddStringToObject(o, "metric", fk_metric_name(r->metric));
  cli_add_pipeline(o, NULL, opt, 1);
  cJSON *areas = cJSON_AddObjectToObject(o, "facial_areas");
  cJSON_AddItemToObject(areas, "img1", cli_box_json(r->face1.box));
  cJSON_AddItemToObject(areas, "img2", cli_box_json(r->face2.box));
  return o;
}

/* {"dominant": name, name: p, ...} */
static cJSON *probs_json(const float *p, int n, int dominant, const char *(*name)(int)) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "dominant", name(dominant));
  for (int i = 0; i < n; i++) cJSON_AddNumberToObject(o, name(i), cli_float(p[i]));
  return o;
}

void cli_add_attributes(cJSON *o, const fk_attributes *a) {
  if (a->actions & FK_ACTION_AGE) cJSON_AddNumberToObject(o, "age", cli_float(a->age));
  if (a->actions & FK_ACTION_GENDER)
    cJSON_AddItemToObject(o, "gender", probs_json(a->gender, FK_NUM_GENDERS, a->gender_dominant, fk_gender_name));
  if (a->actions & FK_ACTION_EMOTION)
    cJSON_AddItemToObject(o, "emotion",
                          probs_json(a->emotion, FK_NUM_EMOTIONS, a->emotion_dominant, fk_emotion_name));
  if (a->actions & FK_ACTION_RACE)
    cJSON_AddItemToObject(o, "race", probs_json(a->race, FK_NUM_RACES, a->race_dominant, fk_race_name));
}

static cJSON *attributes_face_json(const fk_face *f, const fk_attributes *a) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "box", cli_box_json(f->box));
  cJSON_AddNumberToObject(o, "score", cli_float(f->score));
  cli_add_attributes(o, a);
  return o;
}

cJSON *cli_analyze_json(const fk_face *faces, const fk_attributes *a, int n, int face_detected,
                        const fk_options *opt) {
  cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "faces");
  for (int k = 0; k < n; k++) cJSON_AddItemToArray(arr, attributes_face_json(&faces[k], &a[k]));
  cJSON_AddBoolToObject(o, "face_detected", face_detected);
  cli_add_pipeline(o, NULL, opt, 0);
  cJSON_AddStringToObject(o, "attribute_model", opt->attribute_model == FK_ATTR_MODEL_GEAR ? "gear" : "face-api");
  return o;
}

/* ---- find ------------------------------------------------------------------ */

int cli_find_search(fk_vectors *v, fk_store *lookup, const fk_search_options *so, float same_thr,
                    find_query *q, char *err, size_t errlen) {
  fk_match *m = malloc((size_t)so->k * sizeof *m);
  q->hits = calloc((size_t)so->k, sizeof *q->hits);
  q->n = 0;
  int n = 0, rc = m && q->hits ? fk_vectors_search(v, q->face.embedding, q->face.dim, so, m, &n, err, errlen)
                               : FK_ENOMEM;
  if (rc == FK_ENOMEM) snprintf(err, errlen, "out of memory");
  for (int i = 0; rc == FK_OK && i < n; i++) {
    find_hit *h = &q->hits[q->n];
    rc = fk_store_get_face(lookup, m[i].face_id, &h->face);
    if (rc == FK_ENOENT) { /* deleted since the search */
      rc = FK_OK;
      continue;
    }
    if (rc) snprintf(err, errlen, "%s", fk_store_errmsg(lookup));
    h->rank = ++q->n;
    h->distance = m[i].distance;
    h->similarity = m[i].similarity;
    h->same = m[i].distance <= same_thr;
  }
  free(m);
  return rc;
}

static cJSON *query_json(const fk_face *f) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "box", cli_box_json(f->box));
  cJSON_AddNumberToObject(o, "score", cli_float(f->score));
  return o;
}

static cJSON *matches_json(const find_query *q) {
  cJSON *arr = cJSON_CreateArray();
  for (int i = 0; i < q->n; i++) {
    const find_hit *h = &q->hits[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rank", h->rank);
    if (h->face.identity[0]) cJSON_AddStringToObject(o, "identity", h->face.identity);
    else cJSON_AddNullToObject(o, "identity");
    cJSON_AddStringToObject(o, "path", h->face.path);
    cJSON_AddItemToObject(o, "box", cli_box_json(h->face.box));
    cJSON_AddNumberToObject(o, "distance", cli_float(h->distance));
    cJSON_AddNumberToObject(o, "similarity", cli_float(h->similarity));
    cJSON_AddBoolToObject(o, "same_person", h->same);
    cJSON_AddNumberToObject(o, "face_id", (double)h->face.id);
    cJSON_AddItemToArray(arr, o);
  }
  return arr;
}

cJSON *cli_find_json(const find_query *q, int nq, int all_faces, int64_t searched,
                     const fk_search_options *so, float same_thr) {
  cJSON *o = cJSON_CreateObject();
  if (all_faces) {
    cJSON *qs = cJSON_AddArrayToObject(o, "queries");
    for (int i = 0; i < nq; i++) {
      cJSON *e = cJSON_CreateObject();
      cJSON_AddItemToObject(e, "query", query_json(&q[i].face));
      cJSON_AddItemToObject(e, "matches", matches_json(&q[i]));
      cJSON_AddItemToArray(qs, e);
    }
  } else {
    cJSON_AddItemToObject(o, "query", query_json(&q[0].face));
    cJSON_AddItemToObject(o, "matches", matches_json(&q[0]));
  }
  cJSON_AddNumberToObject(o, "searched", (double)searched);
  cJSON_AddStringToObject(o, "metric", fk_metric_name(so->metric));
  cJSON_AddNumberToObject(o, "threshold", cli_float(same_thr));
  cJSON_AddStringToObject(o, "codes", so->codes == FK_CODES_INT8 ? "int8" : "f32");
  return o;
}
