/*
 * json.c - the JSON of the library's results (api.h), shared by every
 * front end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "base/text.h"

double fk_json_float(float v) {
  /* without this cJSON prints the widened double with 17 digits */
  char buf[32];
  fk_float_text(buf, sizeof buf, v);
  return strtod(buf, NULL);
}

void fk_json_utf8_scrub(char *s) {
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

char *fk_json_text(char *s) {
  if (!s || !fk_text_needs_escape(s)) return s;
  size_t n = fk_text_escape(s, NULL, 0) + 1;
  char *e = malloc(n);
  if (e) fk_text_escape(s, e, n);
  else fk_json_utf8_scrub(s); /* out of memory: valid, if lossy */
  if (e) free(s);
  return e ? e : s;
}

cJSON *fk_json_box(fk_box b) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "x", fk_json_float(b.x));
  cJSON_AddNumberToObject(o, "y", fk_json_float(b.y));
  cJSON_AddNumberToObject(o, "w", fk_json_float(b.w));
  cJSON_AddNumberToObject(o, "h", fk_json_float(b.h));
  return o;
}

cJSON *fk_json_landmarks(const fk_point *p, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) {
    float xy[2] = {p[i].x, p[i].y};
    cJSON_AddItemToArray(a, fk_json_floats(xy, 2));
  }
  return a;
}

cJSON *fk_json_floats(const float *v, int n) {
  cJSON *a = cJSON_CreateArray();
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(fk_json_float(v[i])));
  return a;
}

/* An option's value in results: a JSON number, boolean or string as its
 * type is ("input_size" is a number when it is one, else "auto", "320x240"). */
static void add_option(cJSON *o, const fk_options *opt, const fk_option *d) {
  char v[64];
  fk_option_used(opt, d, v, sizeof v);
  if (d->type == FK_OPT_BOOL) cJSON_AddBoolToObject(o, d->name, !strcmp(v, "true"));
  else if (d->type == FK_OPT_ENUM || (d->type == FK_OPT_TEXT && strspn(v, "0123456789") != strlen(v)))
    cJSON_AddStringToObject(o, d->name, v);
  else cJSON_AddNumberToObject(o, d->name, strtod(v, NULL));
}

void fk_json_add_pipeline(cJSON *o, const char *model_id, const fk_options *opt, int with_model) {
  if (with_model) {
    cJSON_AddStringToObject(o, "model", model_id ? model_id : fk_model_name(opt->model));
    cJSON_AddNumberToObject(o, "dim", fk_model_dim(opt->model));
  }
  const fk_option *d;
  unsigned want = with_model ? FK_OPT_DETECT | FK_OPT_EMBED : FK_OPT_DETECT;
  for (int i = 0; (d = fk_option_at(i)); i++)
    if ((d->flags & want) && strcmp(d->name, "model")) add_option(o, opt, d);
}

/* ---- represent, verify, analyze ------------------------------------------ */

static cJSON *embedding_face_json(const fk_face *f, int l2) {
  float e[FK_EMBED_MAX];
  memcpy(e, f->embedding, (size_t)f->dim * sizeof *e);
  if (l2) fk_l2_normalize(e, f->dim);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "box", fk_json_box(f->box));
  cJSON_AddNumberToObject(o, "score", fk_json_float(f->score));
  cJSON_AddItemToObject(o, "embedding", fk_json_floats(e, f->dim));
  return o;
}

cJSON *fk_json_represent(const fk_face *faces, int n, int face_detected, const fk_options *opt, int l2) {
  cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "faces");
  for (int i = 0; i < n; i++) cJSON_AddItemToArray(arr, embedding_face_json(&faces[i], l2));
  cJSON_AddBoolToObject(o, "face_detected", face_detected);
  fk_json_add_pipeline(o, NULL, opt, 1);
  cJSON_AddStringToObject(o, "normalize", l2 ? "l2" : "none");
  return o;
}

cJSON *fk_json_verify(const fk_verify_result *r, const fk_options *opt) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "verified", r->verified);
  cJSON_AddNumberToObject(o, "distance", fk_json_float(r->distance));
  cJSON_AddNumberToObject(o, "threshold", fk_json_float(r->threshold));
  cJSON_AddStringToObject(o, "metric", fk_metric_name(r->metric));
  fk_json_add_pipeline(o, NULL, opt, 1);
  cJSON *areas = cJSON_AddObjectToObject(o, "facial_areas");
  cJSON_AddItemToObject(areas, "img1", fk_json_box(r->face1.box));
  cJSON_AddItemToObject(areas, "img2", fk_json_box(r->face2.box));
  return o;
}

/* {"dominant": name, name: p, ...} */
static cJSON *probs_json(const float *p, int n, int dominant, const char *(*name)(int)) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "dominant", name(dominant));
  for (int i = 0; i < n; i++) cJSON_AddNumberToObject(o, name(i), fk_json_float(p[i]));
  return o;
}

void fk_json_add_attributes(cJSON *o, const fk_attributes *a) {
  if (a->actions & FK_ACTION_AGE) cJSON_AddNumberToObject(o, "age", fk_json_float(a->age));
  if (a->actions & FK_ACTION_GENDER)
    cJSON_AddItemToObject(o, "gender", probs_json(a->gender, FK_NUM_GENDERS, a->gender_dominant, fk_gender_name));
  if (a->actions & FK_ACTION_EMOTION)
    cJSON_AddItemToObject(o, "emotion",
                          probs_json(a->emotion, FK_NUM_EMOTIONS, a->emotion_dominant, fk_emotion_name));
  if (a->actions & FK_ACTION_RACE)
    cJSON_AddItemToObject(o, "race", probs_json(a->race, FK_NUM_RACES, a->race_dominant, fk_race_name));
  if (a->actions & FK_ACTION_POSE) {
    cJSON *p = cJSON_AddObjectToObject(o, "pose");
    cJSON_AddNumberToObject(p, "yaw", fk_json_float(a->yaw));
    cJSON_AddNumberToObject(p, "pitch", fk_json_float(a->pitch));
    cJSON_AddNumberToObject(p, "roll", fk_json_float(a->roll));
  }
  if (a->actions & FK_ACTION_QUALITY) {
    cJSON *q = cJSON_AddObjectToObject(o, "quality"), *e;
    cJSON_AddNumberToObject(q, "sharpness", fk_json_float(a->sharpness));
    cJSON_AddNumberToObject(q, "size", fk_json_float(a->size));
    cJSON_AddItemToObject(q, "eyes_open", e = cJSON_CreateObject());
    cJSON_AddNumberToObject(e, "left", fk_json_float(a->eyes_open[0]));
    cJSON_AddNumberToObject(e, "right", fk_json_float(a->eyes_open[1]));
  }
}

static cJSON *attributes_face_json(const fk_face *f, const fk_attributes *a) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "box", fk_json_box(f->box));
  cJSON_AddNumberToObject(o, "score", fk_json_float(f->score));
  fk_json_add_attributes(o, a);
  return o;
}

cJSON *fk_json_analyze(const fk_face *faces, const fk_attributes *a, int n, int face_detected,
                        const fk_options *opt) {
  cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "faces");
  for (int k = 0; k < n; k++) cJSON_AddItemToArray(arr, attributes_face_json(&faces[k], &a[k]));
  cJSON_AddBoolToObject(o, "face_detected", face_detected);
  fk_json_add_pipeline(o, NULL, opt, 0);
  add_option(o, opt, fk_option_find("attribute_model"));
  return o;
}

/* ---- find ------------------------------------------------------------------ */

static cJSON *query_json(const fk_face *f) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "box", fk_json_box(f->box));
  cJSON_AddNumberToObject(o, "score", fk_json_float(f->score));
  return o;
}

static cJSON *matches_json(const fk_api_query *q) {
  cJSON *arr = cJSON_CreateArray();
  for (int i = 0; i < q->n; i++) {
    const fk_api_hit *h = &q->hits[i];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rank", h->rank);
    if (h->face.identity[0]) cJSON_AddStringToObject(o, "identity", h->face.identity);
    else cJSON_AddNullToObject(o, "identity");
    cJSON_AddStringToObject(o, "path", h->face.path);
    cJSON_AddItemToObject(o, "box", fk_json_box(h->face.box));
    cJSON_AddNumberToObject(o, "distance", fk_json_float(h->distance));
    cJSON_AddNumberToObject(o, "similarity", fk_json_float(h->similarity));
    cJSON_AddBoolToObject(o, "same_person", h->same);
    cJSON_AddNumberToObject(o, "face_id", (double)h->face.id);
    cJSON_AddItemToArray(arr, o);
  }
  return arr;
}

cJSON *fk_json_find(const fk_api_query *q, int nq, int all_faces, int64_t searched,
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
  cJSON_AddNumberToObject(o, "threshold", fk_json_float(same_thr));
  cJSON_AddStringToObject(o, "codes", so->codes == FK_CODES_INT8 ? "int8" : "f32");
  return o;
}
