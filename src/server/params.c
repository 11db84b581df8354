/*
 * params.c - a request's parameters and the strict reading of them.
 *
 * Parameters come from the query string, form fields and files (gathered
 * by http.c) or from the members of a JSON object body. Every getter marks
 * what it reads, so that a parameter nobody read is an error naming it,
 * never silently ignored; a name given twice is an error too. Booleans are
 * true or false only (a JSON boolean, or that word as text: "false" is
 * false, unlike bool("false") in Python); numbers must be numbers, whole
 * where an integer is wanted, and in range.
 *
 * Images: a file part as it is; text is a data: URI with base64 data, or
 * plain base64 (nettle decodes both, skipping whitespace). Anything else is
 * a URL, refused always (fetching would let a client make the server reach
 * its own network), or a server-side path, refused unless it lies under a
 * directory given with --allow-path.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nettle/base64.h>

#include "server/server.h"

int srv_fail(srv_error *e, int status, const char *code, const char *fmt, ...) {
  e->status = status;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  return -1;
}

void srv_params_free(srv_params *ps) {
  for (int i = 0; i < ps->n; i++) {
    free(ps->p[i].name);
    free(ps->p[i].data);
  }
  free(ps->p);
  cJSON_Delete(ps->root);
  memset(ps, 0, sizeof *ps);
}

int srv_params_add(srv_params *ps, const char *name, int kind, const char *data, size_t len, int append) {
  srv_param *p = ps->n ? &ps->p[ps->n - 1] : NULL;
  if (!(append && p && p->kind == kind && !strcmp(p->name, name))) {
    if (ps->n == ps->cap) {
      int cap = ps->cap ? 2 * ps->cap : 8;
      srv_param *np = realloc(ps->p, (size_t)cap * sizeof *np);
      if (!np) return -1;
      ps->p = np;
      ps->cap = cap;
    }
    p = &ps->p[ps->n];
    memset(p, 0, sizeof *p);
    if (!(p->name = strdup(name))) return -1;
    p->kind = kind;
    ps->n++;
  }
  char *d = realloc(p->data, p->len + len + 1);
  if (!d) return -1;
  if (len) memcpy(d + p->len, data, len);
  p->data = d;
  p->len += len;
  d[p->len] = '\0';
  return 0;
}

int srv_params_from_json(srv_params *ps, const char *body, size_t len, srv_error *e) {
  const char *end = NULL;
  ps->root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
  if (!ps->root) return srv_fail(e, 400, "bad_request", "the body is not valid JSON");
  /* only whitespace may follow the object */
  while (end && (size_t)(end - body) < len && isspace((unsigned char)*end)) end++;
  if (end && (size_t)(end - body) < len && *end)
    return srv_fail(e, 400, "bad_request", "the body holds more than one JSON value");
  if (!cJSON_IsObject(ps->root)) return srv_fail(e, 400, "bad_request", "the body must be a JSON object");
  for (const cJSON *m = ps->root->child; m; m = m->next) {
    if (!m->string) continue;
    if (srv_params_add(ps, m->string, P_JSON, NULL, 0, 0)) return srv_fail(e, 500, "internal", "out of memory");
    ps->p[ps->n - 1].json = m;
  }
  return 0;
}

/* The one parameter of this name, marked used; NULL when absent or (after
 * filling e, with *bad set) given twice. */
static srv_param *find(srv_params *ps, const char *name, srv_error *e, int *bad) {
  srv_param *hit = NULL;
  *bad = 0;
  for (int i = 0; i < ps->n; i++) {
    if (strcmp(ps->p[i].name, name)) continue;
    ps->p[i].used = 1;
    if (hit) {
      *bad = 1;
      srv_fail(e, 400, "bad_parameter", "parameter '%s' is given more than once", name);
      return NULL;
    }
    hit = &ps->p[i];
  }
  return hit;
}

#define FIND(p, ps, name, e)                   \
  int bad_;                                    \
  srv_param *p = find(ps, name, e, &bad_);     \
  if (bad_) return -1;                         \
  if (!p) return 0

/* The text of a P_TEXT or JSON string parameter; NULL for other kinds. */
static const char *text_of(const srv_param *p) {
  if (p->kind == P_TEXT) return p->data;
  if (p->kind == P_JSON && cJSON_IsString(p->json)) return p->json->valuestring;
  return NULL;
}

int srv_get_bool(srv_params *ps, const char *name, int *out, srv_error *e) {
  FIND(p, ps, name, e);
  if (p->kind == P_JSON && cJSON_IsBool(p->json)) {
    *out = cJSON_IsTrue(p->json);
    return 1;
  }
  const char *t = text_of(p);
  if (t && !strcmp(t, "true")) *out = 1;
  else if (t && !strcmp(t, "false")) *out = 0;
  else return srv_fail(e, 400, "bad_parameter", "%s must be true or false", name);
  return 1;
}

/* A number parameter as a double: a JSON number, or text that is entirely
 * a decimal number. */
static int number_of(const srv_param *p, double *v) {
  if (p->kind == P_JSON && cJSON_IsNumber(p->json)) {
    *v = p->json->valuedouble;
    return isfinite(*v) ? 0 : -1;
  }
  const char *t = text_of(p);
  if (!t || !*t || isspace((unsigned char)*t)) return -1;
  char *end;
  errno = 0;
  *v = strtod(t, &end);
  return errno || *end || !isfinite(*v) ? -1 : 0;
}

int srv_get_int(srv_params *ps, const char *name, long lo, long hi, long *out, srv_error *e) {
  FIND(p, ps, name, e);
  double v;
  if (number_of(p, &v) || v != floor(v) || v < (double)lo || v > (double)hi)
    return srv_fail(e, 400, "bad_parameter", "%s must be an integer in [%ld, %ld]", name, lo, hi);
  *out = (long)v;
  return 1;
}

int srv_get_float(srv_params *ps, const char *name, double lo, double hi, float *out, srv_error *e) {
  FIND(p, ps, name, e);
  double v;
  if (number_of(p, &v) || v < lo || v > hi)
    return srv_fail(e, 400, "bad_parameter", "%s must be a number in [%g, %g]", name, lo, hi);
  *out = (float)v;
  return 1;
}

int srv_get_string(srv_params *ps, const char *name, const char **out, srv_error *e) {
  FIND(p, ps, name, e);
  const char *t = text_of(p);
  if (!t || strlen(t) != (p->kind == P_TEXT ? p->len : strlen(t)))
    return srv_fail(e, 400, "bad_parameter", "%s must be a string", name);
  *out = t;
  return 1;
}

int srv_get_list(srv_params *ps, const char *name, char *buf, size_t size, srv_error *e) {
  FIND(p, ps, name, e);
  const char *t = text_of(p);
  if (t) {
    if (strlen(t) >= size) return srv_fail(e, 400, "bad_parameter", "%s is too long", name);
    snprintf(buf, size, "%s", t);
    return 1;
  }
  if (!(p->kind == P_JSON && cJSON_IsArray(p->json)))
    return srv_fail(e, 400, "bad_parameter", "%s must be a list of strings", name);
  size_t o = 0;
  buf[0] = '\0';
  for (const cJSON *it = p->json->child; it; it = it->next) {
    if (!cJSON_IsString(it)) return srv_fail(e, 400, "bad_parameter", "%s must be a list of strings", name);
    size_t n = strlen(it->valuestring);
    if (o + n + 2 > size) return srv_fail(e, 400, "bad_parameter", "%s is too long", name);
    o += (size_t)snprintf(buf + o, size - o, "%s%s", o ? "," : "", it->valuestring);
  }
  return 1;
}

int srv_get_box(srv_params *ps, const char *name, fk_box *out, srv_error *e) {
  FIND(p, ps, name, e);
  double v[4];
  int ok = 0;
  const char *t = text_of(p);
  if (p->kind == P_JSON && cJSON_IsObject(p->json)) {
    static const char *const keys[4] = {"x", "y", "w", "h"};
    ok = cJSON_GetArraySize(p->json) == 4;
    for (int i = 0; ok && i < 4; i++) {
      const cJSON *x = cJSON_GetObjectItemCaseSensitive(p->json, keys[i]);
      ok = cJSON_IsNumber(x) && isfinite(v[i] = x->valuedouble);
    }
  } else if (t) {
    int used = -1;
    ok = sscanf(t, "%lf,%lf,%lf,%lf%n", &v[0], &v[1], &v[2], &v[3], &used) == 4 && used == (int)strlen(t) &&
         !isspace((unsigned char)t[0]);
    for (int i = 0; ok && i < 4; i++) ok = isfinite(v[i]);
  }
  if (!ok || v[2] <= 0 || v[3] <= 0)
    return srv_fail(e, 400, "bad_parameter", "%s must be a box: {\"x\",\"y\",\"w\",\"h\"} or \"x,y,w,h\", "
                    "in pixels, w and h > 0", name);
  *out = (fk_box){(float)v[0], (float)v[1], (float)v[2], (float)v[3]};
  return 1;
}

/* ---- images ------------------------------------------------------------------ */

/* Decodes base64 text (whitespace skipped); -1 if it is not base64. */
static int base64_of(const char *t, size_t n, uint8_t **out, size_t *len) {
  struct base64_decode_ctx ctx;
  base64_decode_init(&ctx);
  uint8_t *buf = malloc(BASE64_DECODE_LENGTH(n) + 1);
  if (!buf) return -2;
  size_t got = BASE64_DECODE_LENGTH(n) + 1;
  if (!base64_decode_update(&ctx, &got, buf, n, t) || !base64_decode_final(&ctx)) {
    free(buf);
    return -1;
  }
  *out = buf;
  *len = got;
  return 0;
}

/* "scheme:" followed by "//": a URL. */
static int looks_like_url(const char *t) {
  const char *c = t;
  if (!isalpha((unsigned char)*c)) return 0;
  while (isalnum((unsigned char)*c) || *c == '+' || *c == '-' || *c == '.') c++;
  return c[0] == ':' && c[1] == '/' && c[2] == '/';
}

/* Reads a server-side file if it lies under one of allow[] (realpaths). */
static int read_allowed(const char *path, const char *const *allow, int nallow, size_t max_bytes, uint8_t **out,
                        size_t *len, const char *name, srv_error *e) {
  if (nallow == 0)
    return srv_fail(e, 400, "path_refused",
                    "%s looks like a server-side path; paths are refused unless the server is started with "
                    "--allow-path DIR (send the image's bytes instead)", name);
  char real[PATH_MAX];
  int inside = 0;
  if (realpath(path, real)) {
    for (int i = 0; i < nallow && !inside; i++) {
      size_t n = strlen(allow[i]);
      inside = !strncmp(real, allow[i], n) && (real[n] == '/' || (n == 1 && allow[i][0] == '/'));
    }
  }
  /* Not saying whether the file exists outside the allowed directories. */
  if (!inside) return srv_fail(e, 400, "path_refused", "%s is not under a directory the server allows", name);
  int fd = open(real, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    if (fd >= 0) close(fd);
    return srv_fail(e, 404, "not_found", "%s: no such file", name);
  }
  if ((size_t)sb.st_size > max_bytes) {
    close(fd);
    return srv_fail(e, 413, "body_too_large", "%s: the file is larger than %zu bytes", name, max_bytes);
  }
  uint8_t *buf = malloc((size_t)sb.st_size + 1);
  size_t got = 0;
  while (buf && got < (size_t)sb.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  close(fd);
  if (!buf) return srv_fail(e, 500, "internal", "out of memory");
  *out = buf;
  *len = got;
  return 1;
}

int srv_get_image(srv_params *ps, const char *name, const char *const *allow, int nallow, size_t max_bytes,
                  uint8_t **data, size_t *len, srv_error *e) {
  *data = NULL;
  *len = 0;
  FIND(p, ps, name, e);
  if (p->kind == P_FILE) {
    if (!(*data = malloc(p->len + 1))) return srv_fail(e, 500, "internal", "out of memory");
    memcpy(*data, p->data, p->len);
    *len = p->len;
    return 1;
  }
  const char *t = text_of(p);
  if (!t) return srv_fail(e, 400, "bad_parameter", "%s must be a file, a data: URI or base64 text", name);
  if (!*t) return srv_fail(e, 400, "bad_parameter", "%s is empty", name);
  if (!strncmp(t, "data:", 5)) {
    const char *comma = strchr(t, ',');
    if (!comma || comma - t < 12 || strncmp(comma - 7, ";base64", 7))
      return srv_fail(e, 400, "bad_parameter", "%s: only base64 data: URIs are accepted", name);
    t = comma + 1;
  } else if (looks_like_url(t)) {
    return srv_fail(e, 400, "url_refused", "%s is a URL; the server never fetches URLs (send the image's bytes)",
                    name);
  }
  int rc = base64_of(t, strlen(t), data, len);
  if (rc == -2) return srv_fail(e, 500, "internal", "out of memory");
  if (rc == 0) return 1;
  if (t != text_of(p)) return srv_fail(e, 400, "bad_parameter", "%s: the data: URI is not valid base64", name);
  return read_allowed(t, allow, nallow, max_bytes, data, len, name, e);
}

int srv_params_check_unknown(const srv_params *ps, srv_error *e) {
  for (int i = 0; i < ps->n; i++)
    if (!ps->p[i].used) {
      char name[64];
      snprintf(name, sizeof name, "%s", ps->p[i].name);
      for (char *c = name; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == '\'' || (unsigned char)*c >= 0x7f) *c = '?';
      return srv_fail(e, 400, "unknown_parameter", "unknown parameter '%s'", name);
    }
  return 0;
}
