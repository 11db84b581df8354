/*
 * http.c - the HTTP side of `facekit serve` on libmicrohttpd, and srv_run:
 * start-up, the ready line, and the drain on SIGTERM.
 *
 * A request starts at MHD's URI log callback (on_uri), which sees the
 * request line's URL before MHD decodes it in place, for %00. MHD's access
 * handler is then called at least three times per request: once with the
 * headers, once per piece of body, once when the body is done.
 *   headers  refuse conflicting framing (400 / 501, then close), a NUL in
 *            the URL, a Host that is not ours (421) and an Origin or
 *            Sec-Fetch-Site from elsewhere (403; guard.c decides), answer
 *            the --cors origin's preflight; route the path (404 / 405),
 *            refuse POST parameters in the query string, check the key
 *            (401 / 403), refuse a Content-Length over the limit (413) and
 *            bodies that are neither JSON nor a form (415) before reading
 *            a byte of them; take the query arguments; answer the cheap
 *            routes at once.
 *   body     multipart and urlencoded forms go through MHD's post
 *            processor into parameters (a NUL in a field is a 400); JSON
 *            is kept as bytes for the worker to parse; past the limit (a
 *            chunked body, which the headers could not refuse) the answer
 *            is 413 at once and the connection is closed (refuse_midway).
 *   done     queue the job and suspend the connection (503 with
 *            Retry-After when the queue is full, or while draining).
 *   resumed  (after the worker's MHD_resume_connection) send what the
 *            worker wrote.
 * MHD's completion callback records metrics and the access log line and
 * frees the request. A suspended connection is never freed under a worker:
 * MHD neither times it out nor notices a disconnect until it is resumed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "base/clock.h"
#include "server/server.h"

void srv_config_init(srv_config *c) {
  memset(c, 0, sizeof *c);
  fk_options_init(&c->opt);
  c->listen = "127.0.0.1";
  c->port = 8080;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  c->workers = cores > 0 ? (int)cores : 1;
  c->queue = 64;
  c->io_threads = 1;
  c->max_body = (size_t)16 << 20;
  c->max_connections = 1024;
  c->max_per_ip = 128;
  c->timeout_s = 60;
  c->conn_memory = (size_t)256 << 10;
  c->drain_s = 30;
  c->refresh_ms = 1000;
}

/* ---- routes ----------------------------------------------------------------- */

enum { M_GET = 1, M_POST = 2, M_DELETE = 4 };

typedef struct route {
  int method;
  const char *path;   /* "{}" stands for one path segment */
  int id, role;
  int inline_;        /* answered on MHD's thread */
} route;

static const route routes[] = {
    {M_GET, "/", R_PAGE, ROLE_NONE, 1},
    {M_GET, "/health", R_HEALTH, ROLE_NONE, 1},
    {M_GET, "/ready", R_READY, ROLE_NONE, 1},
    {M_GET, "/metrics", R_METRICS, ROLE_READ, 1},
    {M_GET, "/info", R_INFO, ROLE_READ, 0},
    {M_POST, "/represent", R_REPRESENT, ROLE_READ, 0},
    {M_POST, "/verify", R_VERIFY, ROLE_READ, 0},
    {M_POST, "/analyze", R_ANALYZE, ROLE_READ, 0},
    {M_POST, "/find", R_FIND, ROLE_READ, 0},
    {M_POST, "/search", R_FIND, ROLE_READ, 0},
    {M_POST, "/register", R_REGISTER, ROLE_WRITE, 0},
    {M_DELETE, "/faces/{}", R_DELETE_FACE, ROLE_WRITE, 0},
    {M_GET, "/faces/{}/image", R_FACE_IMAGE, ROLE_READ, 0},
    {M_DELETE, "/identities/{}", R_DELETE_IDENTITY, ROLE_WRITE, 0},
    {M_GET, "/identities", R_IDENTITIES, ROLE_READ, 0},
    {M_GET, "/identities/{}/faces", R_IDENTITY_FACES, ROLE_READ, 0},
};

/* Does url match pattern? The segment "{}" matches (into arg) one non-empty
 * segment. */
static int match(const char *pattern, const char *url, char *arg, size_t n) {
  const char *hole = strstr(pattern, "{}");
  if (!hole) return !strcmp(pattern, url);
  size_t pre = (size_t)(hole - pattern);
  if (strncmp(pattern, url, pre)) return 0;
  const char *seg = url + pre, *end = strchr(seg, '/');
  size_t len = end ? (size_t)(end - seg) : strlen(seg);
  if (len == 0 || len >= n || strcmp(hole + 2, seg + len)) return 0;
  memcpy(arg, seg, len);
  arg[len] = '\0';
  return 1;
}

static int method_bit(const char *m) {
  if (!strcmp(m, "GET") || !strcmp(m, "HEAD")) return M_GET;
  if (!strcmp(m, "POST")) return M_POST;
  if (!strcmp(m, "DELETE")) return M_DELETE;
  return 0;
}

/* The route of (method, url), or NULL with *allowed the methods the path
 * takes (0: no such path). */
static const route *find_route(const char *method, const char *url, char *arg, size_t n, int *allowed) {
  *allowed = 0;
  int m = method_bit(method);
  for (size_t i = 0; i < sizeof routes / sizeof *routes; i++) {
    if (!match(routes[i].path, url, arg, n)) continue;
    if (routes[i].method == m) return &routes[i];
    *allowed |= routes[i].method;
  }
  return NULL;
}

/* ---- requests ---------------------------------------------------------------- */

enum { ST_HEADERS, ST_BODY, ST_QUEUED };
enum { B_NONE, B_JSON, B_FORM };

typedef struct req {
  srv *srv;
  srv_job *job;
  const route *rt;
  struct MHD_PostProcessor *pp;
  int state, body_kind, too_large, bad_body;
  int allowed;        /* 405: the methods the path takes */
  /* A refusal decided from the headers (401, 403) of a request whose body
   * is on its way: the body is read and dropped first, so that the client,
   * still sending, reads the answer instead of a reset connection. */
  int refuse_status;
  const char *refuse_code, *refuse_msg;
  int started;        /* the access handler has seen it (on_uri made it) */
  int nul_url;        /* the raw URL holds %00, or a NUL byte */
  const char *raw_uri; /* where on_uri saw it, and its length to the first NUL */
  size_t raw_len;
  int nul_body;       /* a form field (urlencoded or multipart text) holds a NUL */
  int nameless;       /* a multipart field without a name (or a NUL in it) */
  int urlencoded, pct; /* an urlencoded body, and how much of "%00" was seen */
  int close_after;    /* framing was wrong: answer, then close */
  int cors;           /* from the --cors origin: CORS headers go on the answer */
  int pre_drain;      /* arrived before SIGTERM: run, and waited for */
  size_t received, body_cap;
  double t0;
  int status;
  unsigned long id;
  char method[8], url[160];
} req;

void srv_job_free(srv_job *j) {
  if (!j) return;
  srv_params_free(&j->params);
  free(j->body);
  free(j->out);
  free(j);
}

static void copy_printable(char *dst, size_t n, const char *src) {
  size_t i = 0;
  for (; src[i] && i + 1 < n; i++) dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
  dst[i] = '\0';
}

/* Queues a response; takes body (malloc'd) when own. */
static enum MHD_Result send_response(struct MHD_Connection *c, req *r, int status, const char *type, char *body,
                                     size_t len, int own) {
  struct MHD_Response *resp =
      own ? MHD_create_response_from_buffer_with_free_callback(len, body, free)
          : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_PERSISTENT);
  if (!resp) {
    if (own) free(body);
    return MHD_NO;
  }
  char id[24];
  snprintf(id, sizeof id, "%lu", r->id);
  MHD_add_response_header(resp, "Content-Type", type);
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "X-Request-Id", id);
  if (r->rt && r->rt->id == R_PAGE) {
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; img-src 'self' blob: data:; style-src 'unsafe-inline'; "
                            "script-src 'unsafe-inline'; connect-src 'self'; form-action 'none'; "
                            "frame-ancestors 'none'; base-uri 'none'");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  } else {
    MHD_add_response_header(resp, "Cache-Control", "no-store");
  }
  if (status == 401) MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
  if (status == 405) {
    char allow[64] = "";
    int m = r->allowed;
    snprintf(allow, sizeof allow, "%s%s%s", m & M_GET ? "GET, HEAD" : "",
             m & M_POST ? (m & M_GET ? ", POST" : "POST") : "",
             m & M_DELETE ? (m & (M_GET | M_POST) ? ", DELETE" : "DELETE") : "");
    MHD_add_response_header(resp, "Allow", allow);
  } else if (status == 503 && r->job && r->job->retry_after > 0) {
    char ra[16];
    snprintf(ra, sizeof ra, "%d", r->job->retry_after);
    MHD_add_response_header(resp, "Retry-After", ra);
  }
  if (r->cors) {
    MHD_add_response_header(resp, "Access-Control-Allow-Origin", r->srv->cfg.cors);
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-Id, Retry-After");
  }
  if (r->srv->cfg.cors) MHD_add_response_header(resp, "Vary", "Origin");
  if (r->rt == NULL && r->cors && status == 204) {
    MHD_add_response_header(resp, "Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE");
    MHD_add_response_header(resp, "Access-Control-Allow-Headers", "Authorization, X-API-Key, Content-Type");
    MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
  }
  if (atomic_load(&r->srv->draining) || r->close_after) MHD_add_response_header(resp, "Connection", "close");
  r->status = status;
  enum MHD_Result rc = MHD_queue_response(c, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return rc;
}

static enum MHD_Result send_job(struct MHD_Connection *c, req *r) {
  srv_job *j = r->job;
  char *out = j->out;
  j->out = NULL;
  return send_response(c, r, j->status, j->content_type, out, j->out_len, 1);
}

static enum MHD_Result send_error(struct MHD_Connection *c, req *r, int status, const char *code, const char *fmt,
                                  ...) __attribute__((format(printf, 5, 6)));
static enum MHD_Result send_error(struct MHD_Connection *c, req *r, int status, const char *code, const char *fmt,
                                  ...) {
  srv_error e = {.status = status, .code = code};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e.msg, sizeof e.msg, fmt, ap);
  va_end(ap);
  srv_job_error(r->job, &e);
  return send_job(c, r);
}

/* How long a client should wait before retrying a full queue: the queue's
 * work at the mean job time so far, over the workers; 1 to 60 s. */
static int retry_after(srv *s) {
  unsigned long jobs = atomic_load(&s->metrics.jobs_done);
  double mean = jobs ? atomic_load(&s->metrics.job_micros) / 1e6 / jobs : 0.1;
  double t = mean * s->cfg.queue / (s->nworkers ? s->nworkers : 1);
  return t < 1 ? 1 : t > 60 ? 60 : (int)(t + 0.999);
}

/* ---- the cheap routes ------------------------------------------------------------ */

static char *json_text(cJSON *o, size_t *len) {
  char *s = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  *len = s ? strlen(s) : 0;
  return s;
}

static enum MHD_Result answer_inline(struct MHD_Connection *c, req *r) {
  srv *s = r->srv;
  size_t len = 0;
  char *body;
  /* none of these takes a parameter: one given is a 400, as on /info */
  srv_error e = {0};
  if (r->rt->id != R_PAGE && srv_params_check_unknown(&r->job->params, &e))
    return send_error(c, r, e.status, e.code, "%s", e.msg);
  switch (r->rt->id) {
    case R_PAGE:
      return send_response(c, r, 200, "text/html; charset=utf-8", (char *)srv_page_html, srv_page_html_len, 0);
    case R_HEALTH: {
      cJSON *o = cJSON_CreateObject();
      cJSON_AddStringToObject(o, "status", "ok");
      body = json_text(o, &len);
      return send_response(c, r, 200, "application/json", body, len, 1);
    }
    case R_READY: {
      int draining = atomic_load(&s->draining);
      cJSON *o = cJSON_CreateObject();
      cJSON_AddBoolToObject(o, "ready", !draining);
      if (draining) cJSON_AddStringToObject(o, "reason", "shutting down");
      cJSON_AddNumberToObject(o, "workers", s->nworkers);
      /* the index's size is for those who may read it */
      if (s->vectors && (s->keys.n == 0 || r->job->role >= ROLE_READ))
        cJSON_AddNumberToObject(o, "faces", (double)fk_vectors_count(s->vectors));
      body = json_text(o, &len);
      return send_response(c, r, draining ? 503 : 200, "application/json", body, len, 1);
    }
    default: { /* metrics */
      srv_gauges g = {.workers = s->nworkers, .queue_capacity = s->cfg.queue,
                      .inflight = atomic_load(&s->inflight), .uptime_s = fk_now_s() - s->t0};
      pthread_mutex_lock(&s->mu);
      g.queue_depth = s->queued;
      pthread_mutex_unlock(&s->mu);
      const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
      g.connections = di ? (long)di->num_connections : 0;
      if (s->vectors) g.index_faces = fk_vectors_count(s->vectors), g.index_seq = fk_vectors_seq(s->vectors);
      body = srv_metrics_text(&s->metrics, &g, &len);
      if (!body) return MHD_NO;
      return send_response(c, r, 200, "text/plain; version=0.0.4; charset=utf-8", body, len, 1);
    }
  }
}

/* ---- the access handler ---------------------------------------------------------- */

static enum MHD_Result add_query_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  req *r = cls;
  const char *v = value ? value : "";
  return srv_params_add(&r->job->params, key ? key : "", P_TEXT, v, strlen(v), 0) ? MHD_NO : MHD_YES;
}

static enum MHD_Result on_field(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                                const char *content_type, const char *transfer_encoding, const char *data,
                                uint64_t off, size_t size) {
  (void)kind, (void)content_type, (void)transfer_encoding;
  req *r = cls;
  if (!filename && size && memchr(data, 0, size)) r->nul_body = 1;
  if (!key || !*key) r->nameless = 1; /* MHD makes name="a\0b" an empty name */
  return srv_params_add(&r->job->params, key ? key : "", filename ? P_FILE : P_TEXT, data, size, off > 0)
             ? MHD_NO
             : MHD_YES;
}

/* The role the request's key grants: Authorization: Bearer KEY, or
 * X-API-Key. -1 when a key was sent and is not one of ours. */
static int role_of(struct MHD_Connection *c, const srv_keys *keys) {
  const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-API-Key");
  if (auth) {
    if (strncasecmp(auth, "Bearer ", 7)) return -1;
    key = auth + 7;
    while (*key == ' ') key++;
  }
  if (!key) return ROLE_NONE;
  int role = srv_keys_role(keys, key, strlen(key));
  return role == ROLE_NONE ? -1 : role;
}

/* What kind of body the headers announce: B_NONE, B_JSON, B_FORM, or -1
 * for one we do not take. */
static int body_kind(struct MHD_Connection *c) {
  const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  int has_body = te || (len && strcmp(len, "0"));
  if (!ct) return has_body ? -1 : B_NONE;
  size_t n = strcspn(ct, "; \t");
  if (n == 16 && !strncasecmp(ct, "application/json", 16)) return B_JSON;
  if ((n == 19 && !strncasecmp(ct, "multipart/form-data", 19)) ||
      (n == 33 && !strncasecmp(ct, "application/x-www-form-urlencoded", 33)))
    return B_FORM;
  return has_body ? -1 : B_NONE;
}

/* The framing headers (RFC 9112 6.3) and Host, counted. */
typedef struct framing {
  int cl, te, te_other, host;
  char te_value[48];
} framing;

static enum MHD_Result count_framing(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  (void)kind;
  framing *f = cls;
  if (!key) return MHD_YES;
  if (!strcasecmp(key, "Content-Length")) {
    f->cl++;
  } else if (!strcasecmp(key, "Host")) {
    f->host++;
  } else if (!strcasecmp(key, "Transfer-Encoding")) {
    const char *v = value ? value : "";
    size_t n = strlen(v);
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) n--;
    if (f->te++ == 0) copy_printable(f->te_value, sizeof f->te_value, v);
    if (!(n == 7 && !strncasecmp(v, "chunked", 7))) f->te_other = 1;
  }
  return MHD_YES;
}

/* Before routing: framing a proxy in front could read otherwise (400 or
 * 501, and the connection is closed), a %00 in the URL, a Host that is not
 * ours (DNS rebinding), an Origin that is not ours (a web page elsewhere),
 * and the CORS preflight of the --cors origin. 1 when answered (*rc). */
static int refused_early(struct MHD_Connection *c, req *r, const char *method, enum MHD_Result *rc) {
  srv *s = r->srv;
  framing f = {0};
  MHD_get_connection_values(c, MHD_HEADER_KIND, count_framing, &f);
  if (f.cl > 1 || f.te > 1 || f.te_other || (f.cl && f.te) || f.host > 1) {
    r->close_after = 1;
    if (f.cl > 1) *rc = send_error(c, r, 400, "bad_request", "the request has more than one Content-Length");
    else if (f.cl && f.te)
      *rc = send_error(c, r, 400, "bad_request", "the request has both Content-Length and Transfer-Encoding");
    else if (f.host > 1) *rc = send_error(c, r, 400, "bad_request", "the request has more than one Host");
    else
      *rc = send_error(c, r, 501, "not_implemented", "Transfer-Encoding '%s' is not supported (only chunked)",
                       f.te_value);
    return 1;
  }
  if (r->nul_url) {
    *rc = send_error(c, r, 400, "bad_request", "the URL holds a NUL byte (%%00)");
    return 1;
  }
  const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
  if (!srv_host_allowed(&s->cfg, host)) {
    char h[80];
    copy_printable(h, sizeof h, host);
    *rc = send_error(c, r, 421, "host_refused",
                     "Host '%s' is not a name of this server (loopback, the address it listens on, or a "
                     "--host-name)", h);
    return 1;
  }
  const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
  r->cors = srv_origin_is_cors(&s->cfg, origin);
  if (!srv_origin_allowed(&s->cfg, origin, host, s->cfg.tls_cert != NULL)) {
    char o[80];
    copy_printable(o, sizeof o, origin);
    *rc = send_error(c, r, 403, "origin_refused", "requests from the origin '%s' are refused: only the server's "
                     "own page%s may call it", o, s->cfg.cors ? " and --cors ORIGIN" : "");
    return 1;
  }
  if (r->cors && !strcmp(method, "OPTIONS")) { /* the preflight */
    *rc = send_response(c, r, 204, "text/plain", (char *)"", 0, 0);
    return 1;
  }
  return 0;
}

/* After routing: a browser's cross-site request that sent no Origin (an
 * image or script tag: Sec-Fetch-Site says where it came from; a link to
 * the page is fine), and POST parameters in the query string (a form
 * elsewhere could send them without a body). */
static int refused_routed(struct MHD_Connection *c, req *r, enum MHD_Result *rc) {
  const char *site = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Site");
  const char *mode = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-Fetch-Mode");
  if (site && strcmp(site, "same-origin") && strcmp(site, "none") && !r->cors &&
      !(r->rt->id == R_PAGE && mode && !strcmp(mode, "navigate"))) {
    char v[32];
    copy_printable(v, sizeof v, site);
    *rc = send_error(c, r, 403, "origin_refused", "requests from other sites are refused (Sec-Fetch-Site: %s)", v);
    return 1;
  }
  if (r->rt->method == M_POST && MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, NULL, NULL) > 0) {
    *rc = send_error(c, r, 400, "bad_request",
                     "POST parameters go in the body (JSON or a form), not in the query string");
    return 1;
  }
  return 0;
}

/* The first call: everything that can be decided from the headers. */
static enum MHD_Result on_headers(struct MHD_Connection *c, req *r, const char *url, const char *method) {
  srv *s = r->srv;
  int allowed;
  srv_job *j = r->job;
  enum MHD_Result rc;
  if (refused_early(c, r, method, &rc)) return rc;
  r->rt = find_route(method, url, j->arg, sizeof j->arg, &allowed);
  if (!r->rt) {
    if (!allowed) return send_error(c, r, 404, "not_found", "no such endpoint");
    r->allowed = allowed;
    return send_error(c, r, 405, "method_not_allowed", "this endpoint does not take %s", method);
  }
  if (refused_routed(c, r, &rc)) return rc;
  j->route = r->rt->id;
  const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
  if (s->keys.n > 0) {
    j->role = role_of(c, &s->keys);
    if (r->rt->role > ROLE_NONE) {
      if (j->role == ROLE_NONE)
        r->refuse_status = 401, r->refuse_code = "unauthorized",
        r->refuse_msg = "this endpoint needs an API key (Authorization: Bearer KEY)";
      else if (j->role < 0)
        r->refuse_status = 401, r->refuse_code = "unauthorized", r->refuse_msg = "the API key is not valid";
      else if (j->role < r->rt->role)
        r->refuse_status = 403, r->refuse_code = "forbidden", r->refuse_msg = "the API key may not write";
    }
  } else {
    j->role = ROLE_WRITE; /* no keys: loopback only, everything allowed */
  }
  if (r->refuse_status) {
    unsigned long long n = len ? strtoull(len, NULL, 10) : 0;
    if (n == 0 || n > s->cfg.max_body)
      return send_error(c, r, r->refuse_status, r->refuse_code, "%s", r->refuse_msg);
    r->state = ST_BODY; /* on_body_done answers once the body is in */
    return MHD_YES;
  }
  if (len && strtoull(len, NULL, 10) > s->cfg.max_body)
    return send_error(c, r, 413, "body_too_large", "the body is larger than %zu bytes", s->cfg.max_body);
  if ((r->body_kind = body_kind(c)) < 0)
    return send_error(c, r, 415, "unsupported_media_type",
                      "send application/json, multipart/form-data or application/x-www-form-urlencoded");
  const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  r->urlencoded = r->body_kind == B_FORM && ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33);
  if (MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_query_arg, r) < 0) return MHD_NO;
  if (r->rt->inline_) return answer_inline(c, r);
  if (r->body_kind == B_FORM && !(r->pp = MHD_create_post_processor(c, 65536, on_field, r)))
    return send_error(c, r, 400, "bad_request", "the form's Content-Type lacks a boundary");
  r->state = ST_BODY;
  return MHD_YES;
}

/* An urlencoded body's NULs: raw, or %00 (MHD's post processor would end
 * the key or value there), across the pieces. */
static void scan_urlencoded(req *r, const char *d, size_t n) {
  for (size_t i = 0; i < n && !r->nul_body; i++) {
    char ch = d[i];
    if (ch == '\0') r->nul_body = 1;
    else if (r->pct == 2 && ch == '0') r->nul_body = 1;
    else r->pct = r->pct == 1 && ch == '0' ? 2 : ch == '%';
  }
}

static void take_body(req *r, const char *data, size_t n) {
  srv_job *j = r->job;
  r->received += n;
  if (r->too_large || r->bad_body || r->refuse_status) return;
  if (r->urlencoded) scan_urlencoded(r, data, n);
  if (r->received > r->srv->cfg.max_body) {
    r->too_large = 1;
    srv_params_free(&j->params);
    free(j->body);
    j->body = NULL;
    return;
  }
  if (r->pp) {
    if (MHD_post_process(r->pp, data, n) != MHD_YES) r->bad_body = 1;
    return;
  }
  if (j->body_len + n + 1 > r->body_cap) {
    size_t cap = r->body_cap ? r->body_cap : 65536;
    while (cap < j->body_len + n + 1) cap *= 2;
    char *b = realloc(j->body, cap);
    if (!b) {
      r->bad_body = 1;
      return;
    }
    j->body = b;
    r->body_cap = cap;
  }
  char *b = j->body;
  memcpy(b + j->body_len, data, n);
  j->body_len += n;
  b[j->body_len] = '\0';
}

/* The body is in: hand the job over. */
static enum MHD_Result on_body_done(struct MHD_Connection *c, req *r) {
  srv *s = r->srv;
  srv_job *j = r->job;
  if (r->pp) MHD_destroy_post_processor(r->pp), r->pp = NULL;
  if (r->refuse_status) return send_error(c, r, r->refuse_status, r->refuse_code, "%s", r->refuse_msg);
  if (r->too_large)
    return send_error(c, r, 413, "body_too_large", "the body is larger than %zu bytes", s->cfg.max_body);
  if (r->bad_body) return send_error(c, r, 400, "bad_request", "the form body is malformed");
  if (r->nul_body) return send_error(c, r, 400, "bad_request", "a form field's name or value holds a NUL byte");
  if (r->nameless)
    return send_error(c, r, 400, "bad_request", "a form field has an empty name, or one holding a NUL byte");
  if (r->body_kind == B_JSON && !j->body)
    return send_error(c, r, 400, "bad_request", "the JSON body is empty");
  /* A request that arrived before SIGTERM is in flight: it is run. */
  if (!r->pre_drain)
    return send_error(c, r, 503, "shutting_down", "the server is shutting down");
  if (s->dry) {
    srv_handle(j, NULL);
    return send_job(c, r);
  }
  j->conn = c;
  r->state = ST_QUEUED;
  if (srv_pool_submit(s, j) == 0) return MHD_YES;
  r->state = ST_BODY;
  j->retry_after = retry_after(s);
  return send_error(c, r, 503, "queue_full", "the server is busy; retry after %d s", j->retry_after);
}

static req *new_req(srv *s) {
  req *r = calloc(1, sizeof *r);
  if (!r || !(r->job = calloc(1, sizeof *r->job))) {
    free(r);
    return NULL;
  }
  r->srv = s;
  r->job->srv = s;
  r->t0 = fk_now_s();
  return r;
}

/* MHD's URI log callback: the request line's URL before any decoding (MHD
 * decodes it in place, and a %00 would end it), so the request starts
 * here; what it returns is the access handler's *con_cls. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  (void)c;
  req *r = new_req(cls);
  if (r && uri) {
    r->nul_url = srv_url_has_nul(uri);
    r->raw_uri = uri;
    r->raw_len = strlen(uri);
  }
  return r;
}

/* A body past the limit that the headers could not refuse (chunked: no
 * Content-Length) is not read to its end, which could be never: the answer
 * is given at once and the connection closed. MHD 0.9.75 takes no response
 * in the middle of a body (MHD_queue_response wants the headers just read
 * or the whole request in), so over plain HTTP the answer, the 413 (or the
 * 401 / 403 a refused request was waiting to give), is written onto the
 * socket here, what the client already sent is drained so that the close
 * sends no reset ahead of it, and MHD is told to close. Over TLS the
 * connection is only closed. */
static enum MHD_Result refuse_midway(struct MHD_Connection *c, req *r) {
  srv *s = r->srv;
  int status = r->refuse_status ? r->refuse_status : 413;
  const char *code = r->refuse_status ? r->refuse_code : "body_too_large";
  char msg[128];
  if (r->refuse_status) snprintf(msg, sizeof msg, "%s", r->refuse_msg);
  else snprintf(msg, sizeof msg, "the body is larger than %zu bytes", s->cfg.max_body);
  r->status = status;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (s->cfg.tls_cert || !ci) return MHD_NO;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", msg);
  cJSON_AddStringToObject(o, "code", code);
  char *body = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (!body) return MHD_NO;
  char head[512];
  int n = snprintf(head, sizeof head,
                   "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                   "X-Content-Type-Options: nosniff\r\nX-Request-Id: %lu\r\nCache-Control: no-store\r\n%s"
                   "Connection: close\r\n\r\n",
                   status, status == 413 ? "Content Too Large" : status == 401 ? "Unauthorized" : "Forbidden",
                   strlen(body), r->id, status == 401 ? "WWW-Authenticate: Bearer\r\n" : "");
  int fd = ci->connect_fd;
  if (send(fd, head, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) == n)
    (void)send(fd, body, strlen(body), MSG_NOSIGNAL | MSG_DONTWAIT);
  free(body);
  shutdown(fd, SHUT_WR);
  char sink[4096];
  while (recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
  }
  return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **con_cls) {
  srv *s = cls;
  req *r = *con_cls;
  if (!r || !r->started) {
    if (!r && !(r = new_req(s))) return MHD_NO;
    *con_cls = r;
    r->started = 1;
    /* A NUL byte in the request line's URL: MHD ends the URL where the
     * version's space was (uri[len] = 0, version right after), so a URL
     * that ends sooner held a NUL. Only compared when MHD handed us the same
     * buffer it logged. */
    if (r->raw_uri == url && version && version[0] && version != url + r->raw_len + 1) r->nul_url = 1;
    r->id = atomic_fetch_add(&s->request_ids, 1) + 1;
    copy_printable(r->method, sizeof r->method, method);
    copy_printable(r->url, sizeof r->url, url);
    atomic_fetch_add(&s->inflight, 1);
    /* counted before looking at draining, which drain() sets before it
     * reads the count: each request is either waited for or refused */
    atomic_fetch_add(&s->pre_drain, 1);
    if (atomic_load(&s->draining)) atomic_fetch_sub(&s->pre_drain, 1);
    else r->pre_drain = 1;
    return on_headers(c, r, url, method);
  }
  if (r->state == ST_QUEUED) return send_job(c, r); /* resumed: the worker is done */
  if (*size) {
    take_body(r, data, *size);
    *size = 0;
    if (r->received > s->cfg.max_body) return refuse_midway(c, r);
    return MHD_YES;
  }
  return on_body_done(c, r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  srv *s = cls;
  req *r = *con_cls;
  if (!r) return;
  if (!r->started) { /* MHD answered it (or it broke off) before our handler saw it */
    srv_job_free(r->job);
    free(r);
    *con_cls = NULL;
    return;
  }
  double dt = fk_now_s() - r->t0;
  int status = r->status ? r->status : 499; /* closed before an answer */
  srv_metrics_observe(&s->metrics, r->rt ? r->rt->id : R_UNKNOWN, status, dt);
  if (!s->cfg.quiet) {
    char addr[INET6_ADDRSTRLEN] = "?";
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
      const struct sockaddr *sa = ci->client_addr;
      if (sa->sa_family == AF_INET) inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, sizeof addr);
      else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, sizeof addr);
    }
    fprintf(stderr, "facekit serve: %s %s %s %d %.1f ms%s\n", addr, r->method, r->url, status, dt * 1e3,
            toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
  }
  if (r->pp) MHD_destroy_post_processor(r->pp);
  if (r->pre_drain) atomic_fetch_sub(&s->pre_drain, 1);
  srv_job_free(r->job);
  free(r);
  *con_cls = NULL;
  atomic_fetch_sub(&s->inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  const srv *s = cls;
  if (s->dry) return; /* the fuzz target: millions of malformed requests */
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  size_t n = strlen(msg);
  while (n && msg[n - 1] == '\n') msg[--n] = '\0';
  srv *sv = cls;
  if (atomic_load(&sv->starting) && pthread_equal(sv->starter, pthread_self()) && !sv->start_log[0])
    snprintf(sv->start_log, sizeof sv->start_log, "%s", msg); /* the cause */
  fprintf(stderr, "facekit serve: http: %s\n", msg);
}

/* ---- start-up -------------------------------------------------------------------- */

typedef struct listen_addr {
  struct sockaddr_storage sa;
  int v6, loopback;
} listen_addr;

static int parse_listen(const char *host, int port, listen_addr *a) {
  memset(a, 0, sizeof *a);
  struct sockaddr_in *v4 = (struct sockaddr_in *)&a->sa;
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&a->sa;
  if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons((uint16_t)port);
    a->loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
    return 0;
  }
  const char *h = host;
  char buf[64];
  if (h[0] == '[') { /* [::1] */
    snprintf(buf, sizeof buf, "%s", h + 1);
    char *close = strchr(buf, ']');
    if (close) *close = '\0';
    h = buf;
  }
  if (inet_pton(AF_INET6, h, &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons((uint16_t)port);
    a->v6 = 1;
    a->loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
    return 0;
  }
  return -1;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      cap = cap ? 2 * cap : 8192;
      char *p = realloc(buf, cap);
      if (!p) break;
      buf = p;
    }
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0) break;
  }
  fclose(f);
  if (buf) buf[n] = '\0';
  *len = n;
  return buf;
}

struct MHD_Daemon *srv_http_start(srv *s, unsigned extra_flags, char *err, size_t errlen) {
  const srv_config *c = &s->cfg;
  unsigned flags = MHD_USE_ERROR_LOG | extra_flags;
  if (!(extra_flags & MHD_USE_NO_LISTEN_SOCKET)) {
    flags |= MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME;
    flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) ? MHD_USE_EPOLL : MHD_USE_POLL;
  }
  listen_addr la;
  if (parse_listen(c->listen, c->port, &la)) {
    snprintf(err, errlen, "--listen %s is not an IPv4 or IPv6 address", c->listen);
    return NULL;
  }
  if (la.v6) flags |= MHD_USE_IPv6;
  struct MHD_OptionItem opts[16];
  int n = 0;
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_log, s};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, s};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_URI_LOG_CALLBACK, (intptr_t)on_uri, s};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_LIMIT, c->max_connections, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_PER_IP_CONNECTION_LIMIT, c->max_per_ip, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, c->timeout_s, NULL};
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)c->conn_memory, NULL};
  if (!(extra_flags & MHD_USE_NO_LISTEN_SOCKET))
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_SOCK_ADDR, 0, &la.sa};
  if (c->io_threads > 1 && (flags & MHD_USE_INTERNAL_POLLING_THREAD))
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, c->io_threads, NULL};
  if (c->tls_cert) {
    size_t len;
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS)) {
      snprintf(err, errlen, "this libmicrohttpd was built without TLS");
      return NULL;
    }
    if (!(s->tls_cert = read_all(c->tls_cert, &len)) || !(s->tls_key = read_all(c->tls_key, &len))) {
      snprintf(err, errlen, "cannot read %s", s->tls_cert ? c->tls_key : c->tls_cert);
      return NULL;
    }
    flags |= MHD_USE_TLS;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
  }
  opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
  s->starter = pthread_self();
  s->start_log[0] = '\0';
  atomic_store(&s->starting, 1);
  struct MHD_Daemon *d = MHD_start_daemon(flags, (uint16_t)c->port, NULL, NULL, on_request, s, MHD_OPTION_ARRAY,
                                          opts, MHD_OPTION_END);
  atomic_store(&s->starting, 0);
  /* MHD's first line says why (a key that does not match the certificate,
   * a port in use): say that */
  if (!d && c->tls_cert && (strstr(s->start_log, "TLS") || strstr(s->start_log, "certificate") ||
                            strstr(s->start_log, "key")))
    snprintf(err, errlen, "cannot start HTTPS with --tls-cert %s and --tls-key %s: %s", c->tls_cert, c->tls_key,
             s->start_log);
  else if (!d && s->start_log[0])
    snprintf(err, errlen, "cannot listen on %s port %d: %s", c->listen, c->port, s->start_log);
  else if (!d)
    snprintf(err, errlen, "cannot listen on %s port %d (in use, or not an address of this host?)", c->listen,
             c->port);
  return d;
}

/* The nets every endpoint may need: every detector and landmark net (a
 * request may pick the detector, and the served index may have been built
 * with any of them), every recognition model's nets, the attribute heads
 * and the pose and eye nets. */
static unsigned all_nets(void) {
  unsigned nets = fk_all_detect_nets() | FK_NET_ATTRIBUTES | FK_NET_POSE | FK_NET_EYE;
  for (int i = 0; i < FK_NUM_MODELS; i++) nets |= fk_model_nets(i);
  return nets;
}

/* Opens the served index for writing, takes its pipeline, checks the
 * models fit it, loads its vectors and makes the data directory. */
static int open_index(srv *s, char *err, size_t errlen) {
  const srv_config *c = &s->cfg;
  if (fk_store_open(c->db, FK_STORE_WRITE, &s->writer)) {
    snprintf(err, errlen, "%s", fk_store_errmsg(s->writer));
    return -1;
  }
  fk_store_info info;
  if (fk_store_get_info(s->writer, &info)) {
    snprintf(err, errlen, "%s", fk_store_errmsg(s->writer));
    return -1;
  }
  s->index_opt = info.has_model ? info.opt : c->opt;
  s->index_opt.threads = c->opt.threads;
  s->index_opt.max_pixels = c->opt.max_pixels;
  /* An index records the alignment by name ("5point"); when that is what
   * the model picks by itself, say auto, so that the index's pipeline and
   * the default one share one session per worker when they agree. */
  char rec[64], own[64];
  fk_model_align_name(s->index_opt.model, s->index_opt.align, rec, sizeof rec);
  fk_model_align_name(s->index_opt.model, FK_ALIGN_AUTO, own, sizeof own);
  if (!strcmp(rec, own)) s->index_opt.align = FK_ALIGN_AUTO;
  if (info.has_model) snprintf(s->index_model, sizeof s->index_model, "%s", info.model);
  fk_search_options so;
  fk_search_options_init(&so);
  if (fk_store_check(s->writer, s->models, &s->index_opt, 1) || fk_store_vectors(s->writer, &s->vectors) ||
      /* a big index is searched by ANN (auto); its graph is loaded here,
       * then follows the writer's changes with the vectors */
      (fk_store_search_method(s->writer, &so) == FK_SEARCH_ANN && fk_store_load_ann(s->writer, 0))) {
    snprintf(err, errlen, "%s", fk_store_errmsg(s->writer));
    return -1;
  }
  char dir[PATH_MAX];
  if (c->data_dir) {
    snprintf(dir, sizeof dir, "%s", c->data_dir);
  } else if (!strncmp(c->db, "postgresql:", 11) || !strncmp(c->db, "postgres:", 9)) {
    snprintf(err, errlen, "serving a PostgreSQL index needs --data-dir DIR (where registered images are kept)");
    return -1;
  } else {
    snprintf(dir, sizeof dir, "%s.images", c->db);
  }
  if (mkdir(dir, 0755) && errno != EEXIST) {
    snprintf(err, errlen, "cannot make the data directory %.900s: %s", dir, strerror(errno));
    return -1;
  }
  if (!realpath(dir, s->data_real)) {
    snprintf(err, errlen, "data directory %.900s: %s", dir, strerror(errno));
    return -1;
  }
  /* the writer's store writes and removes the uploads in step with its
   * commits; what a killed server wrote without a commit goes now */
  int64_t swept = 0;
  if (fk_store_set_data_dir(s->writer, s->data_real) || fk_store_sweep_data_dir(s->writer, &swept)) {
    snprintf(err, errlen, "%s", fk_store_errmsg(s->writer));
    return -1;
  }
  if (swept)
    fprintf(stderr, "facekit serve: removed %lld files from %s that no image row names (uploads never committed)\n",
            (long long)swept, s->data_real);
  return 0;
}

static void print_ready(srv *s, double startup_s) {
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
  int port = di ? di->port : s->cfg.port;
  const char *scheme = s->cfg.tls_cert ? "https" : "http";
  int v6 = strchr(s->cfg.listen, ':') != NULL && s->cfg.listen[0] != '[';
  char url[128];
  snprintf(url, sizeof url, "%s://%s%s%s:%d", scheme, v6 ? "[" : "", s->cfg.listen, v6 ? "]" : "", port);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "listening", url);
  cJSON_AddNumberToObject(o, "port", port);
  cJSON_AddBoolToObject(o, "tls", s->cfg.tls_cert != NULL);
  cJSON_AddNumberToObject(o, "workers", s->nworkers);
  cJSON_AddNumberToObject(o, "queue", s->cfg.queue);
  cJSON_AddNumberToObject(o, "keys", s->keys.n);
  if (s->vectors) cJSON_AddNumberToObject(o, "faces", (double)fk_vectors_count(s->vectors));
  else cJSON_AddNullToObject(o, "faces");
  cJSON_AddNumberToObject(o, "startup_ms", startup_s * 1e3);
  char *line = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  if (line) printf("%s\n", line);
  fflush(stdout);
  free(line);
  fprintf(stderr, "facekit serve: ready on %s%s\n", url,
          s->keys.n ? "" : " (no API keys: loopback only, every endpoint open to local users)");
}

/* SIGTERM / SIGINT: let every request already in finish (up to --drain
 * seconds), then stop. While that lasts the port stays open so that probes
 * see it: /ready answers 503 "shutting down", /health 200, and any other
 * request arriving now a 503 shutting_down, each with Connection: close. A
 * second signal exits at once; whatever was committed is on disk either
 * way. */
static void drain(srv *s, const sigset_t *sigs) {
  atomic_store(&s->draining, 1);
  fprintf(stderr, "facekit serve: draining %ld requests\n", atomic_load(&s->pre_drain));
  double until = fk_now_s() + s->cfg.drain_s;
  struct timespec tick = {0, 20 * 1000000L};
  while (atomic_load(&s->pre_drain) > 0 && fk_now_s() < until) {
    if (sigtimedwait(sigs, NULL, &tick) > 0) {
      fprintf(stderr, "facekit serve: second signal: exiting now\n");
      _exit(1);
    }
  }
  srv_pool_stop(s); /* runs what is queued, resumes every connection */
  MHD_stop_daemon(s->mhd);
  s->mhd = NULL;
  srv_writer_stop(s);
}

static void srv_free(srv *s) {
  if (s->mhd) MHD_stop_daemon(s->mhd);
  fk_store_close(s->writer);
  fk_models_free(s->models);
  srv_keys_free(&s->keys);
  free(s->tls_cert);
  free(s->tls_key);
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->more);
  pthread_mutex_destroy(&s->wmu);
  pthread_cond_destroy(&s->wmore);
  pthread_cond_destroy(&s->wdone);
  free(s);
}

static int start(srv *s, char *err, size_t errlen) {
  const srv_config *c = &s->cfg;
  listen_addr la;
  if (parse_listen(c->listen, c->port, &la)) {
    snprintf(err, errlen, "--listen %s is not an IPv4 or IPv6 address", c->listen);
    return -1;
  }
  if (c->keys_file && srv_keys_load(c->keys_file, &s->keys, err, errlen)) return -1;
  if (!la.loopback && s->keys.n == 0) {
    snprintf(err, errlen, "refusing to listen on %s without API keys: give --keys FILE, or listen on 127.0.0.1",
             c->listen);
    return -1;
  }
  if (fk_models_open(c->models_dir, all_nets(), &s->models)) {
    snprintf(err, errlen, "%s", fk_models_errmsg(s->models));
    return -1;
  }
  if (c->db && open_index(s, err, errlen)) return -1;
  if (srv_pool_start(s, err, errlen) || (c->db && srv_writer_start(s, err, errlen))) return -1;
  s->mhd = srv_http_start(s, 0, err, errlen);
  return s->mhd ? 0 : -1;
}

/* Threads that libraries start before main (OpenBLAS's pool, which faiss
 * brings) leave SIGTERM and SIGINT unblocked, and the kernel gives a
 * process-directed signal to a thread that does not block it: with the
 * default action there, serve was killed mid-request (exit 143) instead of
 * draining, now and then. So the two get a handler, which only hands the
 * signal on to the thread that waits for it (async-signal-safe:
 * pthread_kill), where it is blocked and so waits for sigwait. The target is
 * the one static a signal handler cannot do without; it is set once,
 * before the handler is installed. */
static pthread_t signal_waiter;

static void forward_signal(int sig) { pthread_kill(signal_waiter, sig); }

static void route_signals_to(pthread_t waiter) {
  signal_waiter = waiter;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
}

int srv_run(const srv_config *c) {
  srv *s = calloc(1, sizeof *s);
  if (!s) return 1;
  s->cfg = *c;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->more, NULL);
  pthread_mutex_init(&s->wmu, NULL);
  pthread_cond_init(&s->wmore, NULL);
  pthread_cond_init(&s->wdone, NULL);
  /* Signals go to the main thread's sigtimedwait only: blocked before any
   * thread starts, so every thread inherits the mask. */
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, NULL);
  route_signals_to(pthread_self());
  signal(SIGPIPE, SIG_IGN);
  double t0 = fk_now_s();
  char err[1024] = "";
  int rc = start(s, err, sizeof err);
  if (rc) {
    /* as every command's errors: JSON on stdout, the message on stderr */
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "error", err);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (line) printf("%s\n", line);
    fflush(stdout);
    free(line);
    fprintf(stderr, "facekit serve: %s\n", err);
    srv_pool_stop(s);
    srv_writer_stop(s);
    srv_free(s);
    return 1;
  }
  s->t0 = fk_now_s();
  print_ready(s, s->t0 - t0);
  int sig;
  while (sigwait(&sigs, &sig) != 0) {
  }
  fprintf(stderr, "facekit serve: %s: shutting down\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  drain(s, &sigs);
  srv_free(s);
  fprintf(stderr, "facekit serve: stopped\n");
  return 0;
}
