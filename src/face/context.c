/*
 * context.c - fk_models: loads the networks' weights from the models
 * directory and builds their graphs once. After fk_models_open() returns,
 * nothing in it changes but the atomic count of the cores its sessions' runs
 * occupy (nn_budget), so every thread's session can share it.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "face/face.h"

const int fk_ssd_auto_sizes[FK_SSD_AUTO_SIZES] = {256, 384, 512};

#define FETCH_HINT \
  "fetch the models with `make models` (runs tools/fetch-models.sh) or point FACEKIT_MODELS at them"

static int fail(fk_models *m, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(fk_models *m, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(m->err, sizeof m->err, fmt, ap);
  va_end(ap);
  return status;
}

static const char *models_dir(const char *dir) {
  if (dir && *dir) return dir;
  const char *env = getenv("FACEKIT_MODELS");
  return env && *env ? env : "models";
}

/* Loads one manifest; a missing file names the fetch command. */
static int load_weights(fk_models *m, const char *dir, const char *file,
                        nn_weights *w) {
  char path[PATH_MAX], err[256] = "";
  if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
    return fail(m, FK_EINVAL, "models directory path too long: %s", dir);
  int rc = nn_weights_load(path, w, err, sizeof err);
  if (rc == FK_ENOENT)
    return fail(m, FK_EMODEL_MISSING,
                "model file %s not found; " FETCH_HINT, path);
  return rc == FK_OK ? rc : fail(m, rc, "%s: %s", path, err);
}

typedef int (*build_fn)(const nn_weights *w, nn_graph **out, char *err, size_t n);

/* Loads a manifest, builds its graph and drops the weights (the graph holds
 * its own copies). */
static int load_fixed(fk_models *m, const char *dir, const char *file,
                      build_fn build, nn_graph **g) {
  nn_weights w = {0};
  int rc = load_weights(m, dir, file, &w);
  if (rc == FK_OK) {
    char err[256] = "";
    rc = build(&w, g, err, sizeof err);
    if (rc != FK_OK) fail(m, rc, "%s: %s", file, err);
  }
  nn_weights_free(&w);
  return rc;
}

static int open_all(fk_models *m, const char *dir, unsigned nets) {
  char err[256] = "";
  int rc;
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return fail(m, FK_EMODEL_MISSING, "models directory %s not found; " FETCH_HINT, dir);
  if (nets & FK_NET_SSD) {
    if ((rc = load_weights(m, dir, FK_SSD_FILE, &m->ssd_w)) != FK_OK) return rc;
    for (int i = 0; i < FK_SSD_AUTO_SIZES; i++) {
      int size = fk_ssd_auto_sizes[i];
      if ((rc = fk_ssd_build(&m->ssd_w, size, &m->ssd[i], err, sizeof err)) != FK_OK ||
          (rc = fk_ssd_anchors_make(size, &m->ssd_anchors[i])) != FK_OK)
        return fail(m, rc, "%s: %s", FK_SSD_FILE, err);
    }
  }
  if (nets & FK_NET_TINY) {
    if ((rc = load_weights(m, dir, FK_TINY_FILE, &m->tiny_w)) != FK_OK) return rc;
    if ((rc = fk_tiny_build(&m->tiny_w, FK_TINY_DEFAULT_SIZE, &m->tiny, err, sizeof err)) != FK_OK)
      return fail(m, rc, "%s: %s", FK_TINY_FILE, err);
  }
  if ((nets & FK_NET_LANDMARKS) &&
      (rc = load_fixed(m, dir, FK_LANDMARKS_FILE, fk_landmarks_build, &m->landmarks)) != FK_OK)
    return rc;
  if ((nets & FK_NET_DESCRIPTOR) &&
      (rc = load_fixed(m, dir, FK_DESCRIPTOR_FILE, fk_descriptor_build, &m->descriptor)) != FK_OK)
    return rc;
  if ((nets & FK_NET_AGEGENDER) &&
      (rc = load_fixed(m, dir, FK_AGEGENDER_FILE, fk_agegender_build, &m->agegender)) != FK_OK)
    return rc;
  if ((nets & FK_NET_EXPRESSION) &&
      (rc = load_fixed(m, dir, FK_EXPRESSION_FILE, fk_expression_build, &m->expression)) != FK_OK)
    return rc;
  if (nets & FK_NET_GEAR) {
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", dir, FK_GEAR_FILE) >= (int)sizeof path)
      return fail(m, FK_EINVAL, "models directory path too long: %s", dir);
    rc = fk_gear_load(path, &m->gear, err, sizeof err);
    if (rc == FK_ENOENT)
      return fail(m, FK_EMODEL_MISSING, "model file %s not found; " FETCH_HINT, path);
    if (rc != FK_OK) return fail(m, rc, "%s: %s", path, err);
  }
  return FK_OK;
}

int fk_models_open(const char *dir, unsigned nets, fk_models **out) {
  *out = NULL;
  fk_models *m = calloc(1, sizeof *m);
  if (!m) return FK_ENOMEM;
  *out = m;
  if (nets == 0) nets = FK_NET_CORE;
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
  nn_weights_free(&m->ssd_w);
  nn_weights_free(&m->tiny_w);
  for (int i = 0; i < FK_SSD_AUTO_SIZES; i++) {
    nn_graph_free(m->ssd[i]);
    fk_ssd_anchors_free(&m->ssd_anchors[i]);
  }
  nn_graph_free(m->tiny);
  nn_graph_free(m->landmarks);
  nn_graph_free(m->descriptor);
  nn_graph_free(m->agegender);
  nn_graph_free(m->expression);
  nn_graph_free(m->gear);
  nn_budget_free(m->budget);
  free(m);
}
