/*
 * weights.c - loader for TFJS weights manifests (weights.h): parses the JSON
 * with cJSON, reads and concatenates each group's shard files, and decodes
 * every tensor (float32, int32, float16, uint8/uint16-quantized) to float32.
 *
 * Everything in a manifest is untrusted: shard names may not leave the
 * manifest's directory, shapes are checked for overflow, and the bytes the
 * weights need are compared with the bytes the shards hold before anything is
 * decoded, so a bad file is an FK_EMODEL message rather than a bad read.
 *
 * Also nn_wlookup_get(), the sticky by-name lookup the model builders share.
 */
#include "base/error.h"
#include "nn/weights.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "facekit.h"
#include "nn/files.h"

#define MAX_NDIM ((int)(sizeof(((nn_weight *)0)->shape) / sizeof(int)))

/* How one weight is stored in its group's bytes. */
typedef enum { ENC_F32, ENC_I32, ENC_F16, ENC_U8, ENC_U16 } encoding;

typedef struct wspec {
  const char *name;
  int ndim, shape[MAX_NDIM];
  size_t count, bytes;
  encoding enc;
  double scale, min;
  int round; /* int32 dtype: round dequantized values like Math.round */
} wspec;

static uint16_t rd16(const unsigned char *p) {
  return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

/* IEEE half to float, exact for every value: subnormals, inf and NaN. */
static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31;
  int exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0x1f) {
    uint32_t bits = sign | 0x7f800000u | (mant << 13);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
  }
  /* normal: (1024 + mant) * 2^(exp - 25); subnormal: mant * 2^-24 */
  float v = exp ? ldexpf((float)(mant | 0x400), exp - 25)
                : ldexpf((float)mant, -24);
  return sign ? -v : v;
}

static void decode(const wspec *s, const unsigned char *p, float *out) {
  for (size_t i = 0; i < s->count; i++) {
    double v;
    switch (s->enc) {
      case ENC_F32: {
        uint32_t bits = rd32(p + 4 * i);
        memcpy(&out[i], &bits, sizeof(float));
        continue;
      }
      case ENC_I32:
        out[i] = (float)(int32_t)rd32(p + 4 * i);
        continue;
      case ENC_F16:
        out[i] = half_to_float(rd16(p + 2 * i));
        if (s->round) out[i] = floorf(out[i] + 0.5f);
        continue;
      case ENC_U8:
        v = p[i] * s->scale + s->min;
        break;
      case ENC_U16:
      default:
        v = rd16(p + 2 * i) * s->scale + s->min;
        break;
    }
    out[i] = (float)(s->round ? floor(v + 0.5) : v);
  }
}

static int get_number(const cJSON *obj, const char *key, double *v) {
  const cJSON *n = cJSON_GetObjectItemCaseSensitive(obj, key);
  if (!cJSON_IsNumber(n) || !isfinite(n->valuedouble)) return 0;
  *v = n->valuedouble;
  return 1;
}

/* Validates one manifest weight entry into *s (name points into the JSON). */
static int parse_spec(const cJSON *jw, int gi, int wi, wspec *s, char *err,
                      size_t errlen) {
  memset(s, 0, sizeof *s);
  const cJSON *jn = cJSON_GetObjectItemCaseSensitive(jw, "name");
  if (!cJSON_IsString(jn) || !jn->valuestring[0])
    return fk_fail(err, errlen, FK_EMODEL,
                  "weights manifest: group %d weight %d has no name", gi, wi);
  s->name = jn->valuestring;

  const cJSON *jshape = cJSON_GetObjectItemCaseSensitive(jw, "shape");
  if (!cJSON_IsArray(jshape))
    return fk_fail(err, errlen, FK_EMODEL, "weight %s: missing shape", s->name);
  int nd = cJSON_GetArraySize(jshape);
  if (nd > MAX_NDIM)
    return fk_fail(err, errlen, FK_EMODEL,
                  "weight %s: %d dimensions (at most %d supported)", s->name,
                  nd, MAX_NDIM);
  size_t count = 1;
  const cJSON *d;
  int k = 0;
  cJSON_ArrayForEach(d, jshape) {
    double v = cJSON_IsNumber(d) ? d->valuedouble : -1;
    if (!(v >= 0 && v <= INT_MAX && v == floor(v)))
      return fk_fail(err, errlen, FK_EMODEL, "weight %s: invalid shape",
                    s->name);
    s->shape[k++] = (int)v;
    if (v != 0 && count > SIZE_MAX / 8 / (size_t)v)
      return fk_fail(err, errlen, FK_EMODEL, "weight %s: shape too large",
                    s->name);
    count *= (size_t)v;
  }
  s->ndim = nd;
  s->count = count;

  const cJSON *jdt = cJSON_GetObjectItemCaseSensitive(jw, "dtype");
  const char *dt = cJSON_IsString(jdt) ? jdt->valuestring : "(none)";
  int is_f32 = !strcmp(dt, "float32"), is_i32 = !strcmp(dt, "int32");
  const cJSON *q = cJSON_GetObjectItemCaseSensitive(jw, "quantization");
  size_t esize;
  if (q && !cJSON_IsNull(q)) {
    const cJSON *jqd = cJSON_GetObjectItemCaseSensitive(q, "dtype");
    const char *qd = cJSON_IsString(jqd) ? jqd->valuestring : "(none)";
    if (!is_f32 && !is_i32)
      return fk_fail(err, errlen, FK_EMODEL,
                    "weight %s: unsupported dtype %s with quantization",
                    s->name, dt);
    s->round = is_i32;
    if (!strcmp(qd, "float16")) {
      s->enc = ENC_F16;
      esize = 2;
    } else if (!strcmp(qd, "uint8") || !strcmp(qd, "uint16")) {
      s->enc = qd[4] == '8' ? ENC_U8 : ENC_U16;
      esize = s->enc == ENC_U8 ? 1 : 2;
      if (!get_number(q, "scale", &s->scale) || !get_number(q, "min", &s->min))
        return fk_fail(err, errlen, FK_EMODEL,
                      "weight %s: quantization lacks scale/min", s->name);
    } else {
      return fk_fail(err, errlen, FK_EMODEL,
                    "weight %s: unsupported quantization dtype %s", s->name,
                    qd);
    }
  } else if (is_f32 || is_i32) {
    s->enc = is_f32 ? ENC_F32 : ENC_I32;
    esize = 4;
  } else if (!strcmp(dt, "float16")) {
    s->enc = ENC_F16;
    esize = 2;
  } else {
    return fk_fail(err, errlen, FK_EMODEL, "weight %s: unsupported dtype %s",
                  s->name, dt);
  }
  s->bytes = count * esize; /* count <= SIZE_MAX / 8: no overflow */
  return FK_OK;
}

/* Reads and concatenates a group's shards into *buf. */
static int read_group(const cJSON *paths, int gi, const nn_files *fs,
                      unsigned char **buf, size_t *len, char *err,
                      size_t errlen) {
  *buf = NULL;
  *len = 0;
  if (!cJSON_IsArray(paths))
    return fk_fail(err, errlen, FK_EMODEL,
                  "weights manifest: group %d has no paths", gi);
  int rc = FK_OK;
  unsigned char *all = NULL;
  size_t n = 0;
  const cJSON *jp;
  cJSON_ArrayForEach(jp, paths) {
    if (!cJSON_IsString(jp) || !nn_files_name_ok(jp->valuestring)) {
      rc = fk_fail(err, errlen, FK_EMODEL,
                  "weights manifest: shard path %s is not inside the model "
                  "directory",
                  cJSON_IsString(jp) ? jp->valuestring : "(not a string)");
      break;
    }
    char *data = NULL;
    size_t dlen = 0;
    rc = fs->read(fs, jp->valuestring, &data, &dlen);
    if (rc != FK_OK) {
      char *full = nn_files_path(fs, jp->valuestring);
      if (rc == FK_ENOMEM)
        fk_fail(err, errlen, rc, "out of memory reading weights shard %s",
               full ? full : jp->valuestring);
      else
        fk_fail(err, errlen, rc, "cannot read weights shard %s",
               full ? full : jp->valuestring);
      free(full);
      break;
    }
    if (dlen > 0) {
      unsigned char *na = realloc(all, n + dlen);
      if (!na) {
        free(data);
        rc = fk_fail(err, errlen, FK_ENOMEM, "out of memory reading weights");
        break;
      }
      memcpy(na + n, data, dlen);
      all = na;
      n += dlen;
    }
    free(data);
  }
  if (rc != FK_OK) {
    free(all);
    return rc;
  }
  *buf = all;
  *len = n;
  return FK_OK;
}

/* Appends the decoded weights of group gi to out. */
static int load_group(const cJSON *g, int gi, const nn_files *fs,
                      nn_weights *out, char *err, size_t errlen) {
  if (!cJSON_IsObject(g))
    return fk_fail(err, errlen, FK_EMODEL,
                  "weights manifest: group %d is not an object", gi);
  const cJSON *paths = cJSON_GetObjectItemCaseSensitive(g, "paths");
  const cJSON *jws = cJSON_GetObjectItemCaseSensitive(g, "weights");
  if (!cJSON_IsArray(jws))
    return fk_fail(err, errlen, FK_EMODEL,
                  "weights manifest: group %d has no weights list", gi);
  int nw = cJSON_GetArraySize(jws);
  wspec *specs = calloc((size_t)nw + 1, sizeof *specs);
  if (!specs) return fk_fail(err, errlen, FK_ENOMEM, "out of memory");

  /* Pass 1: validate every entry and total the bytes it needs. */
  int rc = FK_OK, wi = 0;
  size_t need = 0;
  const cJSON *jw;
  cJSON_ArrayForEach(jw, jws) {
    rc = parse_spec(jw, gi, wi, &specs[wi], err, errlen);
    if (rc != FK_OK) break;
    if (specs[wi].bytes > SIZE_MAX - need) {
      rc = fk_fail(err, errlen, FK_EMODEL, "weight %s: shape too large",
                  specs[wi].name);
      break;
    }
    need += specs[wi].bytes;
    wi++;
  }
  unsigned char *buf = NULL;
  size_t have = 0;
  if (rc == FK_OK) rc = read_group(paths, gi, fs, &buf, &have, err, errlen);
  if (rc == FK_OK && have != need) {
    int np = cJSON_GetArraySize(paths);
    const cJSON *first = cJSON_GetArrayItem(paths, 0);
    char *full = first ? nn_files_path(fs, first->valuestring) : NULL;
    rc = fk_fail(err, errlen, FK_EMODEL,
                "weights shard %s%s: the manifest needs %zu bytes, the "
                "file%s %s %zu",
                full ? full : "(none)",
                np > 1 ? " (and the rest of its group)" : "", need,
                np > 1 ? "s" : "", np > 1 ? "hold" : "holds", have);
    free(full);
  }
  /* Pass 2: decode. */
  if (rc == FK_OK && nw > 0) {
    nn_weight *items =
        realloc(out->items, (size_t)(out->n + nw) * sizeof *items);
    if (!items) rc = fk_fail(err, errlen, FK_ENOMEM, "out of memory");
    else out->items = items;
  }
  size_t off = 0;
  for (int i = 0; rc == FK_OK && i < nw; i++) {
    const wspec *s = &specs[i];
    nn_weight *w = &out->items[out->n];
    memset(w, 0, sizeof *w);
    w->name = strdup(s->name);
    w->data = malloc(s->count ? s->count * sizeof(float) : 1);
    if (!w->name || !w->data) {
      free(w->name);
      free(w->data);
      rc = fk_fail(err, errlen, FK_ENOMEM, "out of memory");
      break;
    }
    w->ndim = s->ndim;
    memcpy(w->shape, s->shape, sizeof w->shape);
    w->count = s->count;
    if (s->count) decode(s, buf + off, w->data); /* buf is NULL when every weight is empty */
    off += s->bytes;
    out->n++;
  }
  free(buf);
  free(specs);
  return rc;
}

/* Loads every group of a parsed manifest array. */
static int load_groups(const cJSON *root, const char *label, const nn_files *fs,
                       nn_weights *out, char *err, size_t errlen) {
  if (!cJSON_IsArray(root))
    return fk_fail(err, errlen, FK_EMODEL, "%s is not a JSON array of groups",
                  label);
  int rc = FK_OK, gi = 0;
  const cJSON *g;
  cJSON_ArrayForEach(g, root) {
    rc = load_group(g, gi++, fs, out, err, errlen);
    if (rc != FK_OK) break;
  }
  if (rc != FK_OK) nn_weights_free(out);
  return rc;
}

/* Parses a manifest; `label` names it in the invalid-JSON message. */
static int load_manifest(const char *json, const char *label,
                         const nn_files *fs, nn_weights *out, char *err,
                         size_t errlen) {
  cJSON *root = cJSON_Parse(json);
  if (!root)
    return fk_fail(err, errlen, FK_EMODEL, "%s is not valid JSON", label);
  int rc = load_groups(root, label, fs, out, err, errlen);
  cJSON_Delete(root);
  return rc;
}

/* Clears err and *out; FK_OK when the output can be written. */
static int begin(nn_weights *out, char *err, size_t errlen) {
  if (err && errlen > 0) err[0] = '\0';
  if (!out) return fk_fail(err, errlen, FK_EINVAL, "no output");
  out->items = NULL;
  out->n = 0;
  return FK_OK;
}

int nn_weights_load_cjson(const struct cJSON *manifest, const nn_files *fs,
                          nn_weights *out, char *err, size_t errlen) {
  int rc = begin(out, err, errlen);
  if (rc != FK_OK) return rc;
  if (!manifest) return fk_fail(err, errlen, FK_EMODEL, "no weights manifest");
  return load_groups(manifest, "weights manifest", fs, out, err, errlen);
}

int nn_weights_load_json(const char *json, const char *dir, nn_weights *out,
                         char *err, size_t errlen) {
  int rc = begin(out, err, errlen);
  if (rc != FK_OK) return rc;
  if (!json) return fk_fail(err, errlen, FK_EINVAL, "no manifest");
  nn_files fs = nn_files_dir(dir);
  return load_manifest(json, "weights manifest", &fs, out, err, errlen);
}

int nn_weights_load_files(const nn_files *fs, const char *name,
                          nn_weights *out, char *err, size_t errlen) {
  int rc = begin(out, err, errlen);
  if (rc != FK_OK) return rc;
  if (!fs || !name) return fk_fail(err, errlen, FK_EINVAL, "no manifest path");
  char *path = nn_files_path(fs, name), *json = NULL;
  size_t len = 0;
  if (!path) return fk_fail(err, errlen, FK_ENOMEM, "out of memory");
  rc = fs->read(fs, name, &json, &len);
  if (rc == FK_ENOENT)
    fk_fail(err, errlen, rc, "weights manifest %s not found", path);
  else if (rc != FK_OK)
    fk_fail(err, errlen, rc, "cannot read weights manifest %s", path);
  else if (strlen(json) != len) /* an embedded NUL: not text */
    rc = fk_fail(err, errlen, FK_EMODEL, "%s is not valid JSON", path);
  else
    rc = load_manifest(json, path, fs, out, err, errlen);
  free(json);
  free(path);
  return rc;
}

int nn_weights_load(const char *path, nn_weights *out, char *err,
                    size_t errlen) {
  int rc = begin(out, err, errlen);
  if (rc != FK_OK) return rc;
  if (!path) return fk_fail(err, errlen, FK_EINVAL, "no manifest path");
  /* The shards live next to the manifest. */
  char *dir;
  const char *base;
  if (nn_files_split(path, &dir, &base) != FK_OK)
    return fk_fail(err, errlen, FK_ENOMEM, "out of memory");
  nn_files fs = nn_files_dir(dir);
  rc = nn_weights_load_files(&fs, base, out, err, errlen);
  free(dir);
  return rc;
}

const nn_weight *nn_weights_find(const nn_weights *w, const char *name) {
  if (!w || !name) return NULL;
  for (int i = 0; i < w->n; i++)
    if (!strcmp(w->items[i].name, name)) return &w->items[i];
  return NULL;
}

const nn_weight *nn_weights_get(const nn_weights *w, const char *name,
                                size_t expect_count, char *err,
                                size_t errlen) {
  const nn_weight *x = nn_weights_find(w, name);
  if (!x) {
    fk_fail(err, errlen, FK_EMODEL, "weight %s not found in the manifest",
           name ? name : "(null)");
    return NULL;
  }
  if (expect_count && x->count != expect_count) {
    fk_fail(err, errlen, FK_EMODEL, "weight %s has %zu values, expected %zu",
           name, x->count, expect_count);
    return NULL;
  }
  return x;
}

void nn_weights_free(nn_weights *w) {
  if (!w) return;
  for (int i = 0; i < w->n; i++) {
    free(w->items[i].name);
    free(w->items[i].data);
  }
  free(w->items);
  w->items = NULL;
  w->n = 0;
}

const float *nn_wlookup_get(nn_wlookup *l, size_t count, const char *fmt,
                            ...) {
  if (l->failed) return NULL;
  char name[128];
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(name, sizeof name, fmt, ap);
  va_end(ap);
  const nn_weight *t = NULL;
  if (len < 0 || (size_t)len >= sizeof name)
    fk_fail(l->err, l->errlen, FK_EMODEL, "weight name %s... is too long",
           name);
  else
    t = nn_weights_get(l->w, name, count, l->err, l->errlen);
  if (!t) {
    l->failed = 1;
    return NULL;
  }
  return t->data;
}
