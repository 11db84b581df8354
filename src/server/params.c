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
 * Images: a file part as it is; text is a data: URI with base64 data
 * ("data:" and ";base64" in any case, as RFC 2397 has it), or plain base64,
 * in the standard or the URL-safe alphabet, padded or not, whitespace
 * skipped; malformed base64 is a 400 saying where. Other text is a URL,
 * refused always (fetching would let a client make the server reach its
 * own network), or a server-side path (it starts with '/', '.' or '~', or
 * holds a '.'; one made only of base64 characters is a path when its
 * decoding is not an image), refused unless it lies under a directory
 * given with --allow-path.
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
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"
#include "server/server.h"

int srv_fail(srv_error *e, int status, const char *code, const char *fmt, ...) {
  e->status = status;
  e->code = code;
  va_list ap;
  va_start(ap, fmt);
  fk_vfail(e->msg, sizeof e->msg, 0, fmt, ap);
  va_end(ap);
  return -status;
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
  /* cJSON would end a key or value at a NUL: "bob", NUL, "evil" would be bob */
  if (srv_json_has_nul(body, len))
    return srv_fail(e, 400, "bad_request", "the JSON body holds a NUL character (\\u0000) in a key or value");
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

int srv_get_value(srv_params *ps, const char *name, const char *alias, const char **used, const char **text,
                  const cJSON **json, srv_error *e) {
  int bad;
  srv_param *p = find(ps, name, e, &bad), *q = NULL;
  if (bad) return -1;
  if (alias && ((q = find(ps, alias, e, &bad)), bad)) return -1;
  if (p && q) return srv_fail(e, 400, "bad_parameter", "give %s or %s, not both", name, alias);
  if (!p && !(p = q)) return 0;
  *used = p == q ? alias : name;
  *json = p->kind == P_JSON ? p->json : NULL;
  *text = text_of(p);
  if (*text && p->kind == P_TEXT && strlen(*text) != p->len)
    return srv_fail(e, 400, "bad_parameter", "%s must not hold a NUL byte", *used);
  return 1;
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

/* A number parameter as a double: a JSON number, or text (of a query or a
 * form, which has nothing else) that is entirely a decimal number. A JSON
 * string is not a number, "5" no more than "five". */
static int number_of(const srv_param *p, double *v) {
  if (p->kind == P_JSON) {
    *v = cJSON_IsNumber(p->json) ? p->json->valuedouble : NAN;
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
    return srv_fail(e, 400, "bad_parameter", "%s must be an integer in [%ld, %ld]%s", name, lo, hi,
                    p->kind == P_JSON && cJSON_IsString(p->json) ? ", a JSON number, not a string" : "");
  *out = (long)v;
  return 1;
}

int srv_get_float(srv_params *ps, const char *name, double lo, double hi, float *out, srv_error *e) {
  FIND(p, ps, name, e);
  double v;
  if (number_of(p, &v) || v < lo || v > hi)
    return srv_fail(e, 400, "bad_parameter", "%s must be a number in [%g, %g]%s", name, lo, hi,
                    p->kind == P_JSON && cJSON_IsString(p->json) ? ", a JSON number, not a string" : "");
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

/* Decodes base64 text: the standard alphabet (+/) or the URL-safe one (-_),
 * not both mixed; whitespace (line breaks of MIME text) skipped anywhere;
 * '=' padding optional, but where it is given it only ends the data and
 * makes a multiple of four. 0 with *out malloc'd; -1 with why saying what
 * is wrong (where, and with which character); -2 out of memory. */
static int base64_of(const char *t, size_t n, uint8_t **out, size_t *len, char *why, size_t whylen) {
  uint8_t *buf = malloc(n / 4 * 3 + 4);
  if (!buf) return -2;
  size_t got = 0, chars = 0, pads = 0;
  int std = 0, url = 0;
  uint32_t acc = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    int v;
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') continue;
    if (c == '=') {
      pads++;
      continue;
    }
    if (pads) {
      snprintf(why, whylen, "has '=' inside the data (before offset %zu); '=' may only pad its end", i);
      goto bad;
    }
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+' || c == '/') v = c == '+' ? 62 : 63, std = 1;
    else if (c == '-' || c == '_') v = c == '-' ? 62 : 63, url = 1;
    else {
      if (c > 0x20 && c < 0x7f) snprintf(why, whylen, "has a character base64 does not use: '%c' at offset %zu", c, i);
      else snprintf(why, whylen, "has a character base64 does not use: byte 0x%02x at offset %zu", c, i);
      goto bad;
    }
    if (std && url) {
      snprintf(why, whylen, "mixes the standard (+/) and the URL-safe (-_) alphabets (at offset %zu)", i);
      goto bad;
    }
    acc = acc << 6 | (uint32_t)v;
    if (++chars % 4 == 0) {
      buf[got++] = (uint8_t)(acc >> 16);
      buf[got++] = (uint8_t)(acc >> 8);
      buf[got++] = (uint8_t)acc;
      acc = 0;
    }
  }
  if (chars == 0) {
    snprintf(why, whylen, "holds no base64 data");
    goto bad;
  }
  if (chars % 4 == 1) {
    snprintf(why, whylen, "is cut short: %zu base64 characters leave one over (a group of four needs at least two)",
             chars);
    goto bad;
  }
  if (pads > 2 || (pads && (chars + pads) % 4)) {
    snprintf(why, whylen, "has %zu '=' at its end where %zu would pad it", pads, (4 - chars % 4) % 4);
    goto bad;
  }
  if (chars % 4 == 2) buf[got++] = (uint8_t)(acc >> 4);
  else if (chars % 4 == 3) buf[got++] = (uint8_t)(acc >> 10), buf[got++] = (uint8_t)(acc >> 2);
  *out = buf;
  *len = got;
  return 0;
bad:
  free(buf);
  return -1;
}

/* Do the bytes begin as a JPEG, PNG or WebP file does? */
static int image_magic(const uint8_t *d, size_t n) {
  return (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) || (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) ||
         (n >= 12 && !memcmp(d, "RIFF", 4) && !memcmp(d + 8, "WEBP", 4));
}

/* "scheme:" followed by "//": a URL. */
static int looks_like_url(const char *t) {
  const char *c = t;
  if (!isalpha((unsigned char)*c)) return 0;
  while (isalnum((unsigned char)*c) || *c == '+' || *c == '-' || *c == '.') c++;
  return c[0] == ':' && c[1] == '/' && c[2] == '/';
}

/* Text that is a server-side path rather than base64: one line, short
 * enough, starting with '/', '.' or '~' or holding a '.' (base64 has none). */
static int looks_like_path(const char *t) {
  size_t n = strlen(t);
  return n < PATH_MAX && !strpbrk(t, "\r\n") && (t[0] == '/' || t[0] == '.' || t[0] == '~' || strchr(t, '.'));
}

/* Is real (a realpath) one of allow[] or below one? */
static int allowed_dir(const char *real, const char *const *allow, int nallow) {
  for (int i = 0; i < nallow; i++) {
    size_t n = strlen(allow[i]);
    if (!strncmp(real, allow[i], n) && (real[n] == '/' || real[n] == '\0' || (n == 1 && allow[i][0] == '/')))
      return 1;
  }
  return 0;
}

/* For a path that does not resolve: does its nearest existing ancestor lie
 * in an allowed directory? (Then saying it is missing tells nothing about
 * anything outside them.) */
static int missing_inside(const char *path, const char *const *allow, int nallow) {
  char dir[PATH_MAX], real[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  for (;;) {
    char *slash = strrchr(dir, '/');
    if (!slash) return realpath(".", real) && allowed_dir(real, allow, nallow);
    if (slash == dir) return allowed_dir("/", allow, nallow);
    *slash = '\0';
    if (realpath(dir, real)) return allowed_dir(real, allow, nallow);
    if (errno != ENOENT && errno != ENOTDIR) return 0;
  }
}

/* Reads a server-side file if it lies under one of allow[] (realpaths). */
static int read_allowed(const char *path, const char *const *allow, int nallow, size_t max_bytes, uint8_t **out,
                        size_t *len, const char *name, srv_error *e) {
  if (nallow == 0)
    return srv_fail(e, 400, "path_refused",
                    "%s looks like a server-side path; paths are refused unless the server is started with "
                    "--allow-path DIR (send the image's bytes instead)", name);
  char real[PATH_MAX];
  if (!realpath(path, real)) {
    if ((errno == ENOENT || errno == ENOTDIR) && missing_inside(path, allow, nallow))
      return srv_fail(e, 404, "not_found", "%s: no such file in the allowed directories", name);
    /* Not saying whether the file exists outside the allowed directories. */
    return srv_fail(e, 400, "path_refused", "%s is not under a directory the server allows", name);
  }
  if (!allowed_dir(real, allow, nallow))
    return srv_fail(e, 400, "path_refused", "%s is not under a directory the server allows", name);
  int fd = open(real, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    int dir = fd >= 0 && S_ISDIR(sb.st_mode);
    if (fd >= 0) close(fd);
    if (dir) return srv_fail(e, 400, "bad_parameter", "%s names a directory, not an image file", name);
    return srv_fail(e, 404, "not_found", "%s: no such file in the allowed directories", name);
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
  char why[160];
  int rc;
  /* RFC 2397: the scheme and the ";base64" are case-insensitive */
  if (!strncasecmp(t, "data:", 5)) {
    const char *comma = strchr(t, ',');
    if (!comma) return srv_fail(e, 400, "bad_parameter", "%s: the data: URI has no ',' before its data", name);
    if (comma - t < 12 || strncasecmp(comma - 7, ";base64", 7))
      return srv_fail(e, 400, "bad_parameter",
                      "%s: only base64 data: URIs are accepted (data:image/jpeg;base64,...)", name);
    rc = base64_of(comma + 1, strlen(comma + 1), data, len, why, sizeof why);
    if (rc == -2) return srv_fail(e, 500, "internal", "out of memory");
    if (rc) return srv_fail(e, 400, "bad_parameter", "%s: the data: URI's base64 %s", name, why);
    return 1;
  }
  if (looks_like_url(t))
    return srv_fail(e, 400, "url_refused", "%s is a URL; the server never fetches URLs (send the image's bytes)",
                    name);
  rc = base64_of(t, strlen(t), data, len, why, sizeof why);
  if (rc == -2) return srv_fail(e, 500, "internal", "out of memory");
  /* An image's base64 is that; "/srv/in/x1" is base64 too, and a path. */
  if (rc == 0 && image_magic(*data, *len)) return 1;
  if (looks_like_path(t)) {
    free(*data);
    *data = NULL;
    *len = 0;
    return read_allowed(t, allow, nallow, max_bytes, data, len, name, e);
  }
  if (rc == 0) return 1; /* decoded, and decoding the image will say what it is not */
  return srv_fail(e, 400, "bad_parameter", "%s is not valid base64: it %s", name, why);
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
