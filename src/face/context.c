/*
 * context.c - fk_models: loads the networks the caller asks for, each
 * through the loader its row of the table of nets (nets.c) names, and
 * builds their graphs once. After fk_models_open() returns, nothing in it
 * changes but the atomic count of the cores its sessions' runs occupy
 * (nn_budget), so every thread's session can share it.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "face/face.h"

#define FETCH_HINT \
  "fetch the models with `make models` (runs tools/fetch-models.sh) or point FACEKIT_MODELS at them"

#define fail(m, ...) fk_fail((m)->err, sizeof (m)->err, __VA_ARGS__)

static const char *models_dir(const char *dir) {
  if (dir && *dir) return dir;
  const char *env = getenv("FACEKIT_MODELS");
  return env && *env ? env : "models";
}

/* A detector's graphs at load: every size of its automatic mode, else its
 * default or fixed size, each with its per-size state. */
int fk_load_detector(fk_models *m, int id, const char *path, char *err, size_t errlen) {
  const fk_detector_def *det = fk_nets[id].det;
  fk_det_graph *at = m->det[id];
  if (!det->build) {
    at[0].size = det->fixed_w;
    return det->open(path, &at[0].graph, err, errlen);
  }
  int rc = nn_weights_load(path, &m->weights[id], err, errlen);
  int n = det->nauto ? det->nauto : 1;
  for (int i = 0; rc == FK_OK && i < n; i++) {
    int size = det->nauto ? det->auto_sizes[i] : det->fixed_w ? det->fixed_w : det->default_size;
    if ((rc = det->build(&m->weights[id], size, &at[i].graph, err, errlen)) == FK_OK && det->state_new)
      rc = det->state_new(size, &at[i].state);
    at[i].size = size;
  }
  return rc;
}

/* The graph holds its own copies of the weights: they are dropped here. */
int fk_load_manifest(fk_models *m, int id, const char *path, char *err, size_t errlen) {
  nn_weights w = {0};
  int rc = nn_weights_load(path, &w, err, errlen);
  if (rc == FK_OK) rc = fk_nets[id].build(&w, &m->graph[id], err, errlen);
  nn_weights_free(&w);
  return rc;
}

int fk_load_graph(fk_models *m, int id, const char *path, char *err, size_t errlen) {
  return fk_nets[id].open(path, &m->graph[id], err, errlen);
}

static int open_all(fk_models *m, const char *dir, unsigned nets) {
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return fail(m, FK_EMODEL_MISSING, "models directory %s not found; " FETCH_HINT, dir);
  for (int id = 0; id < FK_NUM_NETS; id++) {
    if (!(nets & fk_nets[id].bit)) continue;
    const fk_net_def *d = &fk_nets[id];
    char path[PATH_MAX], err[256] = "";
    if (snprintf(path, sizeof path, "%s/%s", dir, d->file) >= (int)sizeof path)
      return fail(m, FK_EINVAL, "models directory path too long: %s", dir);
    int rc = d->load(m, id, path, err, sizeof err);
    if (rc == FK_ENOENT)
      return fail(m, FK_EMODEL_MISSING, "model file %s not found; " FETCH_HINT, path);
    if (rc != FK_OK) return fail(m, rc, "%s (%s net): %s", path, d->name, err);
  }
  return FK_OK;
}

int fk_models_open(const char *dir, unsigned nets, fk_models **out) {
  *out = NULL;
  fk_models *m = calloc(1, sizeof *m);
  if (!m) return FK_ENOMEM;
  *out = m;
  if (nets == 0) nets = fk_default_nets();
  if (nets & ~fk_known_nets()) return fail(m, FK_EINVAL, "unknown net bits 0x%x", nets & ~fk_known_nets());
  m->nets = nets;
  if (nn_budget_new(0, &m->budget) != FK_OK) return fail(m, FK_ENOMEM, "out of memory");
  return open_all(m, models_dir(dir), nets);
}

const char *fk_models_errmsg(const fk_models *m) {
  if (!m) return "out of memory";
  return m->err[0] ? m->err : "ok";
}

void fk_models_free(fk_models *m) {
  if (!m) return;
  for (int id = 0; id < FK_NUM_NETS; id++) {
    nn_graph_free(m->graph[id]);
    nn_weights_free(&m->weights[id]);
    for (int i = 0; i < FK_DET_MAX_SIZES; i++) {
      nn_graph_free(m->det[id][i].graph);
      if (m->det[id][i].state) fk_nets[id].det->state_free(m->det[id][i].state);
    }
  }
  nn_budget_free(m->budget);
  free(m);
}
