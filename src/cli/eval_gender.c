/*
 * eval_gender.c - `facekit eval gender`: gender accuracy on an image list
 * labelled by two files of names (LFW's male_names.txt and
 * female_names.txt: one "Person_Name_0001.jpg" per line, the image at
 * ROOT/Person_Name/Person_Name_0001.jpg).
 *
 * Every listed image counts. The face analyzed is the photo's subject
 * (cli_lfw_subject); with no face found, the whole image is analyzed as the
 * face (DeepFace's enforce_detection=false). A name listed in both files is
 * ambiguous and left out; the counts of each case are reported. One pass can
 * score both attribute models on the same faces.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char help[] =
    "usage: facekit eval gender --root DIR --male FILE --female FILE\n"
    "                           [--attribute-model face-api|gear|both] [--jobs N] [options]\n"
    "Gender accuracy. Prints {\"images\",\"results\":{MODEL:{\"accuracy\",\"male_recall\",\n"
    "\"female_recall\",\"confusion\",...}},\"no_face\",...}\n"
    "  --root DIR       image folder (Person_Name/Person_Name_0001.jpg)\n"
    "  --male FILE      file names of male images, one per line\n"
    "  --female FILE    file names of female images, one per line\n"
    "  --attribute-model M  face-api (default), gear, or both (scored on the same faces)\n"
    "  --jobs N         worker threads, one session each (default: all cores)\n\n";

enum { MALE = 0, FEMALE = 1 };
#define NMODELS 2

typedef struct item {
  char *name;      /* Person_Name_0001.jpg */
  int label;       /* MALE / FEMALE */
  int how;         /* cli_lfw_subject's case, 3 whole image, -1 unreadable */
  int no_face;
  float p_man[NMODELS];
} item;

typedef struct gender_ctx {
  const cli_common *c;
  const char *root;
  int models[NMODELS], nmodels;  /* FK_ATTR_MODEL_* to score */
  item *items;
  int n;
} gender_ctx;

static int cmp_name(const void *a, const void *b) {
  return strcmp(((const item *)a)->name, ((const item *)b)->name);
}

/* Appends the names in file to *items with label; returns 0 or -1 (printed). */
static int read_names(const char *file, int label, item **items, int *n, int *cap) {
  FILE *f = fopen(file, "r");
  if (!f) return cli_error(EXIT_FAIL, NULL, "%s: cannot open name list", file), -1;
  char line[1024];
  int lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = 0;
    if (!line[0]) continue;
    const char *us = strrchr(line, '_');
    if (!us || us == line || strchr(line, '/')) {
      fclose(f);
      return cli_error(EXIT_FAIL, NULL, "%s:%d: expected Person_Name_NNNN.jpg, got '%s'", file,
                       lineno, line), -1;
    }
    if (*n == *cap) {
      int nc = *cap ? *cap * 2 : 4096;
      item *grown = realloc(*items, (size_t)nc * sizeof *grown);
      if (!grown) {
        fclose(f);
        return cli_error(EXIT_FAIL, NULL, "out of memory"), -1;
      }
      *items = grown;
      *cap = nc;
    }
    item *it = &(*items)[(*n)++];
    memset(it, 0, sizeof *it);
    it->label = label;
    if (!(it->name = strdup(line))) {
      fclose(f);
      return cli_error(EXIT_FAIL, NULL, "out of memory"), -1;
    }
  }
  fclose(f);
  return 0;
}

/* Sorts by name and drops every name listed more than once with different
 * labels (and duplicates of the same label); returns the ambiguous count. */
static int drop_ambiguous(item *items, int *n) {
  qsort(items, (size_t)*n, sizeof *items, cmp_name);
  int w = 0, ambiguous = 0;
  for (int r = 0; r < *n;) {
    int e = r + 1, mixed = 0;
    while (e < *n && !strcmp(items[e].name, items[r].name)) mixed |= items[e++].label != items[r].label;
    if (mixed) ambiguous++;
    else items[w++] = items[r];
    for (int k = r + (mixed ? 0 : 1); k < e; k++) free(items[k].name);
    r = e;
  }
  *n = w;
  return ambiguous;
}

/* Sessions: s[0], s[1] find the subject (cli_lfw_subject); s[2 + k]
 * scores models[k]. */
static void analyze_one(void *user, fk_session **s, int i) {
  gender_ctx *g = user;
  item *it = &g->items[i];
  it->how = -1;
  char path[4096];
  int plen = (int)(strrchr(it->name, '_') - it->name);
  snprintf(path, sizeof path, "%s/%.*s/%s", g->root, plen, it->name, it->name);
  fk_image img = {0};
  if (fk_image_load(path, g->c->opt.max_pixels, &img) != FK_OK) {
    fprintf(stderr, "facekit: %s: cannot read\n", path);
    return;
  }
  fk_face face;
  int how = cli_lfw_subject(s[0], s[1], &img, &face, &it->no_face);
  fk_session *failed = NULL;
  if (how < 0) {
    how = 3;
    if (fk_landmarks(s[0], &img, (fk_box){0, 0, (float)img.width, (float)img.height}, &face))
      failed = s[0];
  }
  for (int k = 0; !failed && k < g->nmodels; k++) {
    fk_attributes a;
    if (fk_analyze(s[2 + k], &img, &face, FK_ACTION_GENDER, &a)) failed = s[2 + k];
    it->p_man[k] = a.gender[FK_GENDER_MAN];
  }
  if (failed) fprintf(stderr, "facekit: %s: %s\n", path, fk_session_errmsg(failed));
  else it->how = how;
  fk_image_free(&img);
}

static cJSON *score(const gender_ctx *g, int k) {
  /* confusion[truth][predicted], over all images and over those with a face
   * found at the default score */
  long conf[2][2] = {{0, 0}, {0, 0}}, conf_face[2][2] = {{0, 0}, {0, 0}};
  for (int i = 0; i < g->n; i++) {
    const item *it = &g->items[i];
    int pred = it->p_man[k] > 0.5f ? MALE : FEMALE;
    conf[it->label][pred]++;
    if (!it->no_face) conf_face[it->label][pred]++;
  }
  cJSON *o = cJSON_CreateObject();
  long (*c)[2] = conf;
  for (int pass = 0; pass < 2; pass++, c = conf_face) {
    long total = c[0][0] + c[0][1] + c[1][0] + c[1][1];
    double acc = total ? (double)(c[0][0] + c[1][1]) / total : 0;
    double rm = c[0][0] + c[0][1] ? (double)c[0][0] / (c[0][0] + c[0][1]) : 0;
    double rf = c[1][0] + c[1][1] ? (double)c[1][1] / (c[1][0] + c[1][1]) : 0;
    cJSON *t = pass ? cJSON_AddObjectToObject(o, "with_face") : o;
    if (pass) cJSON_AddNumberToObject(t, "images", (double)total);
    cJSON_AddNumberToObject(t, "accuracy", acc);
    cJSON_AddNumberToObject(t, "male_recall", rm);
    cJSON_AddNumberToObject(t, "female_recall", rf);
    cJSON_AddNumberToObject(t, "balanced_accuracy", (rm + rf) / 2);
    if (!pass) {
      cJSON *cm = cJSON_AddObjectToObject(t, "confusion");
      const char *truth[2] = {"male", "female"};
      for (int r = 0; r < 2; r++) {
        cJSON *row = cJSON_AddObjectToObject(cm, truth[r]);
        cJSON_AddNumberToObject(row, "Man", (double)c[r][MALE]);
        cJSON_AddNumberToObject(row, "Woman", (double)c[r][FEMALE]);
      }
    }
  }
  return o;
}

int cmd_eval_gender(int argc, char **argv) {
  cli_common c;
  cli_common_init(&c);
  const char *root = NULL, *male = NULL, *female = NULL, *model = "face-api";
  int jobs = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (jobs < 1) jobs = 1;
  int i = 0, code;
  while (cli_next_arg(&c, argc, argv, &i, help, &code)) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) return cli_usage("eval gender ", "unknown or incomplete option '%s'", a);
    i++;
    if (!strcmp(a, "--root")) root = v;
    else if (!strcmp(a, "--male")) male = v;
    else if (!strcmp(a, "--female")) female = v;
    else if (!strcmp(a, "--attribute-model")) model = v;
    else if (!strcmp(a, "--jobs")) {
      if (cli_parse_int(v, 1, 256, &jobs)) return cli_usage("eval gender ", "--jobs must be in [1, 256]");
    } else {
      return cli_usage("eval gender ", "unknown option '%s'", a);
    }
  }
  if (code != CLI_ARGS_END) return code;
  if (!root || !male || !female)
    return cli_usage("eval gender ", "eval gender needs --root DIR, --male FILE and --female FILE");
  gender_ctx g = {.c = &c, .root = root};
  if (!strcmp(model, "both")) {
    g.models[0] = FK_ATTR_MODEL_FACEAPI;
    g.models[1] = FK_ATTR_MODEL_GEAR;
    g.nmodels = 2;
  } else if (!cli_parse_attribute_model(model, &g.models[0])) {
    g.nmodels = 1;
  } else {
    return cli_usage("eval gender ", "--attribute-model must be face-api, gear or both, not '%s'", model);
  }
  int cap = 0, rc = EXIT_FAIL;
  fk_models *m = NULL;
  if (read_names(male, MALE, &g.items, &g.n, &cap) || read_names(female, FEMALE, &g.items, &g.n, &cap))
    goto out;
  int ambiguous = drop_ambiguous(g.items, &g.n);
  if (g.n == 0) {
    rc = cli_error(EXIT_FAIL, NULL, "the name lists are empty");
    goto out;
  }
  unsigned nets = cli_detect_nets(&c.opt);
  for (int k = 0; k < g.nmodels; k++) nets |= fk_analyze_nets(FK_ACTION_GENDER, g.models[k]);
  if (fk_models_open(c.models_dir, nets, &m) != FK_OK) {
    rc = cli_error(EXIT_FAIL, NULL, "%s", fk_models_errmsg(m));
    goto out;
  }
  double t0 = cli_now_ms();
  fk_options opts[2 + NMODELS];
  cli_lfw_sessions(&c.opt, opts);
  for (int k = 0; k < g.nmodels; k++) {
    opts[2 + k] = c.opt;
    opts[2 + k].attribute_model = g.models[k];
  }
  if (cli_for_each_image(m, opts, 2 + g.nmodels, g.n, jobs, analyze_one, &g)) goto out;
  double secs = (cli_now_ms() - t0) / 1000.0;

  int count[4] = {0, 0, 0, 0}, errors = 0, no_face = 0, per_label[2] = {0, 0};
  for (int k = 0; k < g.n; k++) {
    no_face += g.items[k].no_face;
    per_label[g.items[k].label]++;
    if (g.items[k].how < 0) errors++;
    else count[g.items[k].how]++;
  }
  if (errors) {
    rc = cli_error(EXIT_FAIL, NULL, "%d images could not be read or analyzed", errors);
    goto out;
  }
  cJSON *o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "images", g.n);
  cJSON_AddNumberToObject(o, "male", per_label[MALE]);
  cJSON_AddNumberToObject(o, "female", per_label[FEMALE]);
  cJSON_AddNumberToObject(o, "ambiguous", ambiguous);
  cJSON *res = cJSON_AddObjectToObject(o, "results");
  for (int k = 0; k < g.nmodels; k++)
    cJSON_AddItemToObject(res, g.models[k] == FK_ATTR_MODEL_GEAR ? "gear" : "face-api", score(&g, k));
  cJSON_AddNumberToObject(o, "no_face", no_face);
  cJSON_AddNumberToObject(o, "subject_at_low_score", count[1]);
  cJSON_AddNumberToObject(o, "subject_off_centre", count[2]);
  cJSON_AddNumberToObject(o, "whole_image", count[3]);
  cli_add_pipeline(o, NULL, &c.opt, 0);
  cJSON_AddNumberToObject(o, "jobs", jobs);
  cJSON_AddNumberToObject(o, "seconds", secs);
  cli_print(o);
  rc = EXIT_OK;
out:
  for (int k = 0; k < g.n; k++) free(g.items[k].name);
  free(g.items);
  fk_models_free(m);
  return rc;
}
