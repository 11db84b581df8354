/*
 * eval_gender.c - fk_eval_gender: gender accuracy on images labelled by two
 * lists of file names (LFW's male_names.txt and female_names.txt: one
 * "Person_Name_0001.jpg" per line, the image at
 * ROOT/Person_Name/Person_Name_0001.jpg).
 *
 * Every listed image counts. The face analyzed is the photo's subject
 * (fk_subject, which falls back on the whole image). A name listed in both
 * files is ambiguous and left out, and a name listed twice with one label
 * counts once. One pass scores both attribute models on the same faces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "base/clock.h"
#include "base/abi.h"
#include "face/eval.h"

enum { MALE = 0, FEMALE = 1 };

typedef struct item {
  const char *name;
  int label;       /* MALE / FEMALE */
  int how;         /* FK_SUBJECT_*, -1 when unreadable */
  int no_face;
  float p_man[2];
} item;

typedef struct gender {
  const char *root;
  size_t max_pixels;
  int nmodels;
  item *items;
  int n;
} gender;

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const item *)a)->name, ((const item *)b)->name);
}

/* Appends the names of a list with a label; checks their form. */
static int add_names(gender *g, char **lines, int n, int label, const char *file, char *err, size_t errlen) {
  for (int i = 0; i < n; i++) {
    const char *us = strrchr(lines[i], '_');
    if (!lines[i][0]) continue;
    if (!us || us == lines[i] || strchr(lines[i], '/'))
      return fk_fail(err, errlen, FK_EINVAL, "%s:%d: expected Person_Name_NNNN.jpg, got '%s'", file,
                          i + 1, lines[i]);
    g->items[g->n++] = (item){.name = lines[i], .label = label};
  }
  return FK_OK;
}

/* Sorts by name and drops every name listed with both labels (and repeats
 * of one label); returns the count of ambiguous names. */
static int drop_ambiguous(gender *g) {
  qsort(g->items, (size_t)g->n, sizeof *g->items, cmp_name);
  int w = 0, ambiguous = 0;
  for (int r = 0; r < g->n;) {
    int e = r + 1, mixed = 0;
    while (e < g->n && !strcmp(g->items[e].name, g->items[r].name)) mixed |= g->items[e++].label != g->items[r].label;
    if (mixed) ambiguous++;
    else g->items[w++] = g->items[r];
    r = e;
  }
  g->n = w;
  return ambiguous;
}

/* Sessions: s[k] analyzes with attribute model k; s[0] also finds the
 * subject. */
static void analyze_one(fk_eval_ctx *c, int i, void *user) {
  gender *g = user;
  item *it = &g->items[i];
  it->how = -1;
  char path[4096];
  int plen = (int)(strrchr(it->name, '_') - it->name);
  snprintf(path, sizeof path, "%s/%.*s/%s", g->root, plen, it->name, it->name);
  fk_image img = {0};
  int rc = fk_image_load(path, g->max_pixels, &img);
  if (rc) {
    fk_eval_report(c, path, fk_strerror(rc));
    return;
  }
  fk_face *face = malloc(sizeof *face);
  int how = -1;
  fk_session *failed = NULL;
  if (!face) {
    fk_eval_report(c, path, "out of memory");
  } else if (fk_subject(c->s[0], &img, 0, face, &how, &it->no_face)) {
    failed = c->s[0];
  }
  for (int k = 0; face && !failed && k < g->nmodels; k++) {
    fk_attributes a;
    if (fk_analyze(c->s[k], &img, face, FK_ACTION_GENDER, &a)) failed = c->s[k];
    it->p_man[k] = a.gender[FK_GENDER_MAN];
  }
  if (failed) fk_eval_report(c, path, fk_session_errmsg(failed));
  else if (face) it->how = how;
  free(face);
  fk_image_free(&img);
}

/* Scores of model k over every image, or those with a face at the min score. */
static void score(const gender *g, int k, int with_face, fk_gender_scores *o) {
  memset(o, 0, sizeof *o);
  for (int i = 0; i < g->n; i++) {
    const item *it = &g->items[i];
    if (with_face && it->no_face) continue;
    int truth = it->label == MALE ? FK_GENDER_MAN : FK_GENDER_WOMAN;
    o->confusion[truth][it->p_man[k] > 0.5f ? FK_GENDER_MAN : FK_GENDER_WOMAN]++;
    o->images++;
  }
  const int64_t(*c)[FK_NUM_GENDERS] = o->confusion;
  int64_t men = c[FK_GENDER_MAN][0] + c[FK_GENDER_MAN][1], women = c[FK_GENDER_WOMAN][0] + c[FK_GENDER_WOMAN][1];
  o->accuracy = o->images ? (double)(c[FK_GENDER_MAN][FK_GENDER_MAN] + c[FK_GENDER_WOMAN][FK_GENDER_WOMAN]) / o->images : 0;
  o->male_recall = men ? (double)c[FK_GENDER_MAN][FK_GENDER_MAN] / men : 0;
  o->female_recall = women ? (double)c[FK_GENDER_WOMAN][FK_GENDER_WOMAN] / women : 0;
  o->balanced_accuracy = (o->male_recall + o->female_recall) / 2;
}

int fk_eval_gender(const fk_models *m, const fk_options *opt, const char *root, const char *male_list,
                   const char *female_list, const int *attribute_models, int nmodels, const fk_eval_options *eo,
                   fk_gender_result *r, char *err, size_t errlen) {
  memset(r, 0, sizeof *r);
  if (!m || !root || !male_list || !female_list || !attribute_models || nmodels < 1 || nmodels > 2)
    return fk_fail(err, errlen, FK_EINVAL, "fk_eval_gender: bad arguments");
  fk_options o[2];
  fk_eval_options eod;
  if (FK_ABI_IMPORT(fk_eval_options_init, &eod, eo))
    return fk_fail(err, errlen, FK_EINVAL, "fk_eval_gender: options not filled by fk_eval_options_init");
  eo = &eod;
  for (int k = 0; k < nmodels; k++) {
    if (FK_ABI_IMPORT(fk_options_init, &o[k], opt))
      return fk_fail(err, errlen, FK_EINVAL, "fk_eval_gender: options not filled by fk_options_init");
    o[k].attribute_model = attribute_models[k];
    r->models[k] = attribute_models[k];
  }
  r->nmodels = nmodels;
  double t0 = fk_now_s();
  char **lines[2] = {NULL, NULL};
  int nlines[2] = {0, 0};
  gender g = {.root = root, .max_pixels = o[0].max_pixels, .nmodels = nmodels};
  int rc = fk_eval_read_lines(male_list, &lines[0], &nlines[0], err, errlen);
  if (rc == FK_OK) rc = fk_eval_read_lines(female_list, &lines[1], &nlines[1], err, errlen);
  if (rc == FK_OK && !(g.items = calloc((size_t)(nlines[0] + nlines[1]) + 1, sizeof *g.items)))
    rc = fk_fail(err, errlen, FK_ENOMEM, "out of memory");
  if (rc == FK_OK) rc = add_names(&g, lines[0], nlines[0], MALE, male_list, err, errlen);
  if (rc == FK_OK) rc = add_names(&g, lines[1], nlines[1], FEMALE, female_list, err, errlen);
  if (rc == FK_OK) r->ambiguous = drop_ambiguous(&g);
  if (rc == FK_OK && g.n == 0) rc = fk_fail(err, errlen, FK_EINVAL, "the name lists are empty");
  if (rc == FK_OK) rc = fk_eval_images(m, o, nmodels, g.n, analyze_one, &g, eo, err, errlen);
  int failed = 0;
  for (int k = 0; rc == FK_OK && k < g.n; k++) {
    r->no_face += g.items[k].no_face;
    g.items[k].label == MALE ? r->male++ : r->female++;
    if (g.items[k].how < 0) failed++;
    else r->subjects[g.items[k].how]++;
  }
  if (rc == FK_OK && failed)
    rc = fk_fail(err, errlen, FK_EIO, "%d of %d images could not be read or analyzed", failed, g.n);
  if (rc == FK_OK) {
    r->images = g.n;
    for (int k = 0; k < nmodels; k++) {
      score(&g, k, 0, &r->all[k]);
      score(&g, k, 1, &r->with_face[k]);
    }
  }
  r->seconds = fk_now_s() - t0;
  free(g.items);
  for (int k = 0; k < 2; k++) fk_eval_free_lines(lines[k], nlines[k]);
  return rc;
}
