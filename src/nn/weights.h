/*
 * weights.h - loader for TFJS weights manifests (the `*-weights_manifest.json`
 * files of face-api and the `weightsManifest` of TFJS graph models).
 *
 * A manifest is a JSON array of groups, each {"paths": [shard files],
 * "weights": [{name, shape, dtype, quantization?}]}. A group's shards are
 * concatenated and its weights laid out back to back in the listed order.
 * Supported encodings, all returned as float32:
 *   float32;
 *   float16 (IEEE half, little endian);
 *   int32 (converted to float);
 *   uint8 / uint16 quantized: value = q * scale + min ("quantization":
 *   {"dtype":"uint8","scale":s,"min":m}), computed in double and rounded
 *   like TFJS's Math.round when the dtype is int32;
 *   "quantization": {"dtype":"float16"} (newer TFJS): read as float16.
 * Any other dtype or quantization is an FK_EMODEL error naming the weight.
 * Shard paths must be relative and may not contain "..".
 * Every size is checked against the shard bytes: a short or long shard is an
 * FK_EMODEL error naming the file, never an out-of-bounds read.
 *
 * Also nn_wlookup, the sticky checked lookup the model builders share.
 */
#ifndef FK_WEIGHTS_H
#define FK_WEIGHTS_H

#include <stddef.h>

#include "nn/files.h"

typedef struct nn_weight {
  char *name;
  int ndim;
  int shape[6];
  size_t count;  /* product of shape */
  float *data;   /* count floats */
} nn_weight;

typedef struct nn_weights {
  nn_weight *items;
  int n;
} nn_weights;

/* Loads the manifest at `path`; shard paths are relative to its directory.
 * On failure returns FK_ENOENT (the manifest or one of its shards does not
 * exist), FK_EMODEL, FK_EIO or FK_ENOMEM with a message in err (if
 * errlen > 0), and leaves *out empty. */
int nn_weights_load(const char *path, nn_weights *out, char *err, size_t errlen);

/* The same, reading the manifest `name` and its shards through fs (files.h):
 * nn_weights_load() is this over a directory; the fuzz target serves the
 * files from memory. */
int nn_weights_load_files(const nn_files *fs, const char *name,
                          nn_weights *out, char *err, size_t errlen);

/* Parses an already-read manifest JSON array (`json`, NUL-terminated), reading
 * shards from dir. */
int nn_weights_load_json(const char *json, const char *dir, nn_weights *out,
                         char *err, size_t errlen);

/* The same from an already-parsed manifest array (a cJSON node), reading the
 * shards through fs. Used by the graph-model loader, whose model.json embeds
 * the manifest. */
struct cJSON;
int nn_weights_load_cjson(const struct cJSON *manifest, const nn_files *fs,
                          nn_weights *out, char *err, size_t errlen);

/* The weight called `name`, or NULL. */
const nn_weight *nn_weights_find(const nn_weights *w, const char *name);

/* Like nn_weights_find, but also checks the element count; on a miss or a
 * mismatch writes a message to err and returns NULL. */
const nn_weight *nn_weights_get(const nn_weights *w, const char *name,
                                size_t expect_count, char *err, size_t errlen);

void nn_weights_free(nn_weights *w);

/* Sticky weight lookup for the model builders (models/), so a net is
 * described in one go and checked once: nn_wlookup_get() formats the
 * weight's name from fmt (at most 127 characters) and returns its data if it
 * exists and holds `count` values (any count when 0). The first missing or
 * mis-sized weight sets `failed` and writes nn_weights_get()'s message to err
 * (if errlen > 0); from then on every lookup returns NULL at once. A builder
 * may also set `failed` itself (with its own message) to stop the lookups. */
typedef struct nn_wlookup {
  const nn_weights *w;
  char *err;
  size_t errlen;
  int failed;
} nn_wlookup;

const float *nn_wlookup_get(nn_wlookup *l, size_t count, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif /* FK_WEIGHTS_H */
