/*
 * test_server.c - `facekit serve` end to end: real servers started here on
 * random free loopback ports, driven with libcurl. Covers every endpoint
 * and every error code of the issue: multipart and base64 (plain and data:
 * URIs), "false" meaning false, unknown parameters, keys (none, wrong, a
 * read key on /register, X-API-Key), a 20 MB body, a truncated JPEG, a
 * photo without a face, a full queue, TLS, a refused non-loopback address
 * without keys, 8 clients registering and finding at once (after which the
 * index holds exactly what was registered, and every find made after a
 * register's answer found its face), and SIGTERM with requests in flight
 * (they complete; every face they registered is in the index).
 *
 * `test_server --pg` (ctest test_server_pg) serves a PostgreSQL index in a
 * server it starts itself (pgutil.h): /find answers from it, a face that
 * another process indexes is served within 1 s through NOTIFY, and a
 * restart of PostgreSQL under load gives 503 index_unavailable or right
 * answers, never a crash or a wrong one, and is recovered from; the crops
 * of an index built with --root need serve --root.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "facekit.h"
#include "testutil.h"
#include "golden.h"
#include "cliutil.h"
#include "pgutil.h"

static char tmp[4096]; /* this run's scratch directory */

/* A fixture's path that stays valid for the next 15 calls (tu_fixture's
 * one buffer would make two parts of one form name the same file). */
static const char *fx(const char *name) {
  static __thread char bufs[16][4200];
  static __thread int next;
  char *b = bufs[next++ % 16];
  snprintf(b, sizeof bufs[0], "%s", tu_fixture(name));
  return b;
}

/* ---- servers ---------------------------------------------------------------- */

typedef struct server {
  pid_t pid;
  int port, tls;
  char base[64], log[4200];
} server;

/* Starts `facekit serve ARGS --port 0` and waits for its ready line. */
static int server_start(server *s, const char *const *args, const char *name) {
  memset(s, 0, sizeof *s);
  snprintf(s->log, sizeof s->log, "%s/%s.log", tmp, name);
  int out[2];
  if (pipe(out)) return -1;
  const char *cli = getenv("FK_CLI");
  const char *argv[48] = {cli ? cli : "facekit", "serve", "--port", "0"};
  int n = 4;
  for (int i = 0; args[i] && n < 46; i++) argv[n++] = args[i];
  argv[n] = NULL;
  fflush(NULL);
  s->pid = fork();
  if (s->pid == 0) {
    int err = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out[1], 1);
    dup2(err, 2);
    close(out[0]);
    execv(argv[0], (char **)argv);
    _exit(127);
  }
  close(out[1]);
  char line[2048];
  size_t len = 0;
  /* Under ASan on a busy machine loading and warming up takes a while. */
  for (int waited = 0; waited < 300000 && len < sizeof line - 1;) {
    struct pollfd p = {out[0], POLLIN, 0};
    if (poll(&p, 1, 100) == 0) {
      waited += 100;
      continue;
    }
    ssize_t r = read(out[0], line + len, 1);
    if (r <= 0) break;
    if (line[len] == '\n') break;
    len++;
  }
  line[len] = '\0';
  close(out[0]);
  cJSON *ready = cJSON_Parse(line);
  const cJSON *port = cJSON_GetObjectItemCaseSensitive(ready, "port");
  const cJSON *tls = cJSON_GetObjectItemCaseSensitive(ready, "tls");
  if (cJSON_IsNumber(port)) {
    s->port = port->valueint;
    s->tls = cJSON_IsTrue(tls);
    snprintf(s->base, sizeof s->base, "%s://127.0.0.1:%d", s->tls ? "https" : "http", s->port);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(ready, "startup_ms");
    fprintf(stderr, "  %s ready on %s after %.0f ms\n", name, s->base, cJSON_IsNumber(ms) ? ms->valuedouble : -1);
  }
  cJSON_Delete(ready);
  if (!s->port) {
    char *log = tu_read_file(s->log, NULL);
    fprintf(stderr, "  %s did not start: %s\n", name, log ? log : "(no log)");
    free(log);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    return -1;
  }
  return 0;
}

/* SIGTERM, then the exit code (128 + signal if it died of one). */
static int server_stop(server *s) {
  kill(s->pid, SIGTERM);
  int st = 0;
  waitpid(s->pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- HTTP ----------------------------------------------------------------------- */

typedef struct resp {
  long status;
  char *body;
  size_t len;
  char type[128], retry_after[32], allow[64], www_auth[64], csp[512];
  cJSON *json;
} resp;

static void resp_free(resp *r) {
  free(r->body);
  cJSON_Delete(r->json);
}

static size_t on_body(char *p, size_t size, size_t n, void *u) {
  resp *r = u;
  char *b = realloc(r->body, r->len + size * n + 1);
  if (!b) return 0;
  memcpy(b + r->len, p, size * n);
  r->body = b;
  r->len += size * n;
  b[r->len] = '\0';
  return size * n;
}

static void header_value(const char *line, size_t n, const char *name, char *out, size_t cap) {
  size_t k = strlen(name);
  if (n <= k || strncasecmp(line, name, k)) return;
  const char *v = line + k;
  while (*v == ' ') v++;
  size_t len = n - (size_t)(v - line);
  while (len && (v[len - 1] == '\r' || v[len - 1] == '\n')) len--;
  snprintf(out, cap, "%.*s", (int)len, v);
}

static size_t on_header(char *p, size_t size, size_t n, void *u) {
  resp *r = u;
  header_value(p, size * n, "Content-Type:", r->type, sizeof r->type);
  header_value(p, size * n, "Retry-After:", r->retry_after, sizeof r->retry_after);
  header_value(p, size * n, "Allow:", r->allow, sizeof r->allow);
  header_value(p, size * n, "WWW-Authenticate:", r->www_auth, sizeof r->www_auth);
  header_value(p, size * n, "Content-Security-Policy:", r->csp, sizeof r->csp);
  return size * n;
}

/* One multipart part: a file from disk, a file from memory, or text. */
typedef struct part {
  const char *name, *file, *text;
  const void *data;
  size_t len;
} part;

typedef struct request {
  const char *method, *path;
  const char *header;          /* e.g. "Authorization: Bearer ..." */
  const char *json;            /* a JSON body */
  const void *raw;             /* or raw bytes with raw_type */
  size_t raw_len;
  const char *raw_type;
  const part *parts;           /* or a multipart form */
  int nparts;
} request;

static char cafile[4400];

static resp http(const server *s, request q) {
  resp r = {0};
  CURL *c = curl_easy_init();
  char url[512];
  snprintf(url, sizeof url, "%s%s", s->base, q.path);
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 600L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (s->tls) curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
  struct curl_slist *h = NULL;
  if (q.header) h = curl_slist_append(h, q.header);
  curl_mime *mime = NULL;
  if (q.json) {
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q.json);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(q.json));
  } else if (q.raw) {
    char ct[128];
    snprintf(ct, sizeof ct, "Content-Type: %s", q.raw_type);
    h = curl_slist_append(h, ct);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, q.raw);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q.raw_len);
  } else if (q.nparts) {
    mime = curl_mime_init(c);
    for (int i = 0; i < q.nparts; i++) {
      curl_mimepart *p = curl_mime_addpart(mime);
      curl_mime_name(p, q.parts[i].name);
      if (q.parts[i].file) curl_mime_filedata(p, q.parts[i].file);
      else if (q.parts[i].data) {
        curl_mime_data(p, q.parts[i].data, q.parts[i].len);
        curl_mime_filename(p, "upload.bin");
      } else curl_mime_data(p, q.parts[i].text, CURL_ZERO_TERMINATED);
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
  }
  if (h) curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q.method);
  if (!strcmp(q.method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  CURLcode rc = curl_easy_perform(c);
  if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  else r.status = -(long)rc;
  curl_slist_free_all(h);
  curl_mime_free(mime);
  curl_easy_cleanup(c);
  if (r.body && !strncmp(r.type, "application/json", 16)) r.json = cJSON_Parse(r.body);
  return r;
}

static const char *jstr(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : "";
}

static double jnum(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static int jlen(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsArray(v) ? cJSON_GetArraySize(v) : -1;
}

/* Checks an error answer: its status, its code, and no internals. */
static void expect_error(const char *what, resp r, long status, const char *code) {
  int ok = r.status == status && r.json && !strcmp(jstr(r.json, "code"), code) && jstr(r.json, "error")[0] &&
           !strstr(r.body, tmp) && !strstr(r.body, "/work/") && !strstr(r.body, ".c:");
  if (!ok) fprintf(stderr, "  %s: want %ld %s, got %ld %s\n", what, status, code, r.status, r.body ? r.body : "");
  CHECK(ok);
  resp_free(&r);
}

static char *file_b64(const char *path) {
  size_t n = 0;
  unsigned char *d = (unsigned char *)tu_read_file(path, &n);
  static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *o = malloc(4 * (n / 3 + 1) + 1), *p = o;
  for (size_t i = 0; d && i < n; i += 3) {
    unsigned v = d[i] << 16 | (i + 1 < n ? d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
    *p++ = al[v >> 18 & 63];
    *p++ = al[v >> 12 & 63];
    *p++ = i + 1 < n ? al[v >> 6 & 63] : '=';
    *p++ = i + 2 < n ? al[v & 63] : '=';
  }
  *p = '\0';
  free(d);
  return o;
}

/* A copy of a fixture with one pixel changed by `seed`, so that every copy
 * is a file of its own (the index keys images by content). */
static void nudged(const char *fixture, int seed, const char *out) {
  fk_image img;
  CHECK_EQ_INT(fk_image_load(fx(fixture), 0, &img), FK_OK);
  img.rgb[3 * (seed % 16)] ^= (uint8_t)(1 + seed / 16);
  CHECK_EQ_INT(fk_image_save_png(&img, out), FK_OK);
  fk_image_free(&img);
}

#define POST_FILE(s, path_, field, file_) \
  http(s, (request){.method = "POST", .path = path_, .parts = (part[]){{.name = field, .file = fx(file_)}}, .nparts = 1})

/* ---- the main server: no keys --------------------------------------------------- */

static server main_srv;
static char db[4200], data_dir[4200];

static void test_health_ready_page_and_metrics_answer(void) {
  resp r = http(&main_srv, (request){.method = "GET", .path = "/health"});
  CHECK(r.status == 200 && !strcmp(jstr(r.json, "status"), "ok"));
  resp_free(&r);
  r = http(&main_srv, (request){.method = "GET", .path = "/ready"});
  CHECK(r.status == 200 && cJSON_IsTrue(cJSON_GetObjectItem(r.json, "ready")));
  resp_free(&r);
  r = http(&main_srv, (request){.method = "GET", .path = "/"});
  CHECK(r.status == 200 && strstr(r.type, "text/html") && r.body && strstr(r.body, "<title>facekit</title>"));
  CHECK(strstr(r.csp, "default-src 'none'") != NULL);
  /* self-contained: nothing fetched from elsewhere */
  CHECK(r.body && !strstr(r.body, "http://") && !strstr(r.body, "https://") && !strstr(r.body, "src=\"//"));
  resp_free(&r);
  r = http(&main_srv, (request){.method = "GET", .path = "/info"});
  CHECK(r.status == 200 && cJSON_IsObject(cJSON_GetObjectItem(r.json, "index")));
  resp_free(&r);
  r = http(&main_srv, (request){.method = "GET", .path = "/metrics"});
  CHECK(r.status == 200 && strstr(r.type, "text/plain") && r.body);
  CHECK(r.body && strstr(r.body, "facekit_requests_total{route=\"/health\",code=\"200\"} 1") &&
        strstr(r.body, "facekit_request_duration_seconds_bucket{route=\"/info\",le=\"+Inf\"} 1") &&
        strstr(r.body, "facekit_queue_depth 0") && strstr(r.body, "process_resident_memory_bytes "));
  resp_free(&r);
}

static void test_represent_takes_multipart_and_base64_alike(void) {
  resp a = POST_FILE(&main_srv, "/represent", "img", "face_a1.png");
  CHECK(a.status == 200 && jlen(a.json, "faces") == 1 && cJSON_IsTrue(cJSON_GetObjectItem(a.json, "face_detected")));
  const cJSON *fa = cJSON_GetArrayItem(cJSON_GetObjectItem(a.json, "faces"), 0);
  const int model = tu_default_model();
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(fa, "embedding")), fk_model_dim(model));
  char *b64 = file_b64(fx("face_a1.png"));
  char *json = malloc(strlen(b64) + 256);
  /* a data: URI, and plain base64 with normalize */
  sprintf(json, "{\"img\":\"data:image/png;base64,%s\"}", b64);
  resp b = http(&main_srv, (request){.method = "POST", .path = "/represent", .json = json});
  sprintf(json, "{\"img\":\"%s\",\"normalize\":true,\"max_faces\":1}", b64);
  resp c = http(&main_srv, (request){.method = "POST", .path = "/represent", .json = json});
  CHECK(b.status == 200 && c.status == 200);
  const cJSON *fb = cJSON_GetArrayItem(cJSON_GetObjectItem(b.json, "faces"), 0);
  const cJSON *fc = cJSON_GetArrayItem(cJSON_GetObjectItem(c.json, "faces"), 0);
  const cJSON *ea = cJSON_GetObjectItem(fa, "embedding"), *eb = cJSON_GetObjectItem(fb, "embedding"),
              *ec = cJSON_GetObjectItem(fc, "embedding");
  double same = 0, norm = 0, raw = 0;
  for (int i = 0; i < cJSON_GetArraySize(ea); i++) {
    double x = cJSON_GetArrayItem(ea, i)->valuedouble, y = cJSON_GetArrayItem(eb, i)->valuedouble;
    double z = cJSON_GetArrayItem(ec, i)->valuedouble;
    same += fabs(x - y);
    norm += z * z;
    raw += x * x;
  }
  CHECK(same == 0);                     /* the same bytes, the same embedding */
  CHECK_NEAR(norm, 1.0, 1e-4);          /* normalize: unit length */
  CHECK(fabs(raw - 1.0) > 0.01);        /* the raw embeddings are not */
  CHECK(!strcmp(jstr(c.json, "normalize"), "l2") && !strcmp(jstr(a.json, "normalize"), "none"));
  /* the same result object as `facekit represent` */
  CHECK(!strcmp(jstr(a.json, "model"), fk_model_name(model)) && jnum(a.json, "dim") == fk_model_dim(model) &&
        jnum(a.json, "time_ms") > 0);
  resp_free(&a);
  resp_free(&b);
  resp_free(&c);
  free(json);
  free(b64);
}

static void test_false_means_false_and_other_words_are_refused(void) {
  /* enforce_detection: the JSON boolean, the JSON string and the form text */
  char *b64 = file_b64(fx("noface.png"));
  char *json = malloc(strlen(b64) + 256);
  const char *forms[] = {"false", "\"false\""};
  for (int i = 0; i < 2; i++) {
    sprintf(json, "{\"img\":\"%s\",\"enforce_detection\":%s}", b64, forms[i]);
    resp r = http(&main_srv, (request){.method = "POST", .path = "/represent", .json = json});
    CHECK(r.status == 200 && !cJSON_IsTrue(cJSON_GetObjectItem(r.json, "face_detected")) && jlen(r.json, "faces") == 1);
    resp_free(&r);
  }
  part p[] = {{.name = "img", .file = fx("noface.png")}, {.name = "enforce_detection", .text = "false"}};
  resp r = http(&main_srv, (request){.method = "POST", .path = "/analyze", .parts = p, .nparts = 2});
  CHECK(r.status == 200 && !cJSON_IsTrue(cJSON_GetObjectItem(r.json, "face_detected")));
  resp_free(&r);
  p[1].text = "true";
  expect_error("enforce true", http(&main_srv, (request){.method = "POST", .path = "/represent", .parts = p, .nparts = 2}), 422,
               "no_face");
  const char *bad[] = {"yes", "0", "False", ""};
  for (int i = 0; i < 4; i++) {
    p[1].text = bad[i];
    expect_error("enforce word", http(&main_srv, (request){.method = "POST", .path = "/represent", .parts = p, .nparts = 2}), 400,
                 "bad_parameter");
  }
  sprintf(json, "{\"img\":\"%s\",\"enforce_detection\":1}", b64);
  expect_error("enforce 1", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = json}), 400, "bad_parameter");
  free(json);
  free(b64);
}

static void test_bad_parameters_are_named(void) {
  part p[] = {{.name = "img", .file = fx("face_a1.png")}, {.name = "colour", .text = "blue"}};
  resp r = http(&main_srv, (request){.method = "POST", .path = "/represent", .parts = p, .nparts = 2});
  CHECK(r.status == 400 && !strcmp(jstr(r.json, "code"), "unknown_parameter") && strstr(jstr(r.json, "error"), "colour"));
  resp_free(&r);
  expect_error("missing img", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = "{}"}), 400, "missing_parameter");
  expect_error("not an object", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = "[1,2]"}), 400, "bad_request");
  expect_error("bad json", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = "{\"img\":"}), 400, "bad_request");
  expect_error("k range", http(&main_srv, (request){.method = "POST", .path = "/find?k=0", .parts = p, .nparts = 1}), 400, "bad_parameter");
  expect_error("k integer", http(&main_srv, (request){.method = "POST", .path = "/find?k=2.5", .parts = p, .nparts = 1}), 400,
               "bad_parameter");
  expect_error("metric", http(&main_srv, (request){.method = "POST", .path = "/verify", .json = "{\"img1\":\"AAAA\",\"img2\":\"AAAA\","
                                                                             "\"metric\":\"manhattan\"}"}),
               400, "bad_parameter");
  expect_error("model", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = "{\"img\":\"AAAA\",\"model\":\"VGG-Face\"}"}),
               400, "bad_parameter");
  expect_error("twice", http(&main_srv, (request){.method = "POST", .path = "/represent?max_faces=1", .json = "{\"img\":\"AAAA\","
                                                                                            "\"max_faces\":2}"}),
               400, "bad_parameter");
  expect_error("find model", http(&main_srv, (request){.method = "POST", .path = "/find", .json = "{\"img\":\"AAAA\",\"model\":\"resnet128\"}"}),
               400, "bad_parameter");
  expect_error("url", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = "{\"img\":\"http://169.254.169.254/x.jpg\"}"}),
               400, "url_refused");
  expect_error("path", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = "{\"img\":\"/etc/passwd\"}"}), 400,
               "path_refused");
  expect_error("identity", http(&main_srv, (request){.method = "POST", .path = "/register", .parts = (part[]){{.name = "img", .file = fx("face_a1.png")},
                                                                                       {.name = "identity", .text = "../etc"}},
                                                 .nparts = 2}),
               400, "bad_parameter");
}

static void test_routes_methods_and_media_types_are_checked(void) {
  expect_error("unknown route", http(&main_srv, (request){.method = "GET", .path = "/nope"}), 404, "not_found");
  resp r = http(&main_srv, (request){.method = "PUT", .path = "/represent"});
  CHECK(r.status == 405 && !strcmp(r.allow, "POST"));
  resp_free(&r);
  expect_error("405", http(&main_srv, (request){.method = "GET", .path = "/register"}), 405, "method_not_allowed");
  expect_error("415 text", http(&main_srv, (request){.method = "POST", .path = "/represent", .raw = "hello", .raw_len = 5,
                                                     .raw_type = "text/plain"}),
               415, "unsupported_media_type");
  /* a real JPEG is read; the same JPEG cut in half is not */
  fk_image img;
  CHECK_EQ_INT(fk_image_load(fx("face_a1.png"), 0, &img), FK_OK);
  char jpg[4300];
  snprintf(jpg, sizeof jpg, "%s/a1.jpg", tmp);
  CHECK_EQ_INT(tu_write_jpeg(jpg, img.rgb, img.width, img.height, 3, 90), 0);
  fk_image_free(&img);
  size_t jn = 0, n = 0;
  char *jb = tu_read_file(jpg, &jn);
  r = http(&main_srv, (request){.method = "POST", .path = "/represent", .parts = (part[]){{.name = "img", .data = jb, .len = jn}},
                                     .nparts = 1});
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  expect_error("truncated jpeg", http(&main_srv, (request){.method = "POST", .path = "/represent",
                                                           .parts = (part[]){{.name = "img", .data = jb, .len = jn / 2}},
                                                           .nparts = 1}),
               415, "bad_image");
  free(jb);
  char *bytes = tu_read_file(fx("group4.png"), &n);
  /* a PNG cut in half */
  expect_error("truncated png", http(&main_srv, (request){.method = "POST", .path = "/represent",
                                                          .parts = (part[]){{.name = "img", .data = bytes, .len = n / 2}},
                                                          .nparts = 1}),
               415, "bad_image");
  expect_error("not an image", http(&main_srv, (request){.method = "POST", .path = "/represent",
                                                         .parts = (part[]){{.name = "img", .data = "GIF89a....", .len = 10}},
                                                         .nparts = 1}),
               415, "bad_image");
  free(bytes);
}

static void test_bodies_over_the_limit_get_413(void) {
  size_t n = (size_t)20 << 20;
  char *big = malloc(n + 1);
  memset(big, 'A', n);
  big[n] = '\0';
  memcpy(big, "{\"img\":\"", 8);
  memcpy(big + n - 2, "\"}", 2);
  expect_error("20 MB JSON", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = big}), 413, "body_too_large");
  expect_error("20 MB file", http(&main_srv, (request){.method = "POST", .path = "/represent",
                                                       .parts = (part[]){{.name = "img", .data = big, .len = n}}, .nparts = 1}),
               413, "body_too_large");
  free(big);
  resp r = http(&main_srv, (request){.method = "GET", .path = "/health"}); /* still serving */
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
}

static void test_verify_and_analyze_give_the_cli_objects(void) {
  part p[] = {{.name = "img1", .file = fx("face_a1.png")}, {.name = "img2", .file = fx("face_a2.png")}};
  resp r = http(&main_srv, (request){.method = "POST", .path = "/verify", .parts = p, .nparts = 2});
  CHECK(r.status == 200 && cJSON_IsTrue(cJSON_GetObjectItem(r.json, "verified")) &&
        jnum(r.json, "distance") < jnum(r.json, "threshold"));
  /* the default model's cosine threshold, as the CLI's */
  CHECK((float)jnum(r.json, "threshold") == fk_model_threshold(tu_default_model(), FK_METRIC_COSINE));
  CHECK(cJSON_IsObject(cJSON_GetObjectItem(cJSON_GetObjectItem(r.json, "facial_areas"), "img2")));
  resp_free(&r);
  p[1].file = fx("face_b1.png");
  r = http(&main_srv, (request){.method = "POST", .path = "/verify", .parts = p, .nparts = 2});
  CHECK(r.status == 200 && !cJSON_IsTrue(cJSON_GetObjectItem(r.json, "verified")));
  resp_free(&r);
  p[1].file = fx("noface.png");
  r = http(&main_srv, (request){.method = "POST", .path = "/verify", .parts = p, .nparts = 2});
  CHECK(r.status == 422 && strstr(jstr(r.json, "error"), "img2"));
  resp_free(&r);
  part a[] = {{.name = "img", .file = fx("group4.png")}, {.name = "actions", .text = "age,emotion"}};
  r = http(&main_srv, (request){.method = "POST", .path = "/analyze", .parts = a, .nparts = 2});
  CHECK(r.status == 200 && jlen(r.json, "faces") == 4);
  const cJSON *f0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0);
  CHECK(jnum(f0, "age") > 0 && cJSON_GetObjectItem(f0, "emotion") && !cJSON_GetObjectItem(f0, "gender"));
  resp_free(&r);
  char *b64 = file_b64(fx("face_b1.png"));
  char *json = malloc(strlen(b64) + 128);
  sprintf(json, "{\"img\":\"%s\",\"actions\":[\"gender\"],\"attribute_model\":\"gear\"}", b64);
  r = http(&main_srv, (request){.method = "POST", .path = "/analyze", .json = json});
  CHECK(r.status == 200 && !strcmp(jstr(r.json, "attribute_model"), "gear"));
  resp_free(&r);
  free(json);
  free(b64);
}

/* Registers one file; returns its first face id (0 on failure). */
static int64_t register_file(const server *s, const char *file, const char *identity, const char *header) {
  part p[] = {{.name = "img", .file = file}, {.name = "identity", .text = identity}};
  resp r = http(s, (request){.method = "POST", .path = "/register", .header = header, .parts = p, .nparts = 2});
  int64_t id = 0;
  if ((r.status == 201 || r.status == 200) && jlen(r.json, "faces") > 0)
    id = (int64_t)jnum(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0), "face_id");
  else fprintf(stderr, "  register %s: %ld %s\n", identity, r.status, r.body ? r.body : "");
  resp_free(&r);
  return id;
}

static void test_register_find_list_crop_and_delete(void) {
  int64_t a1 = register_file(&main_srv, fx("face_a1.png"), "George_W_Bush", NULL);
  int64_t b1 = register_file(&main_srv, fx("face_b1.png"), "Laura_Bush", NULL);
  CHECK(a1 > 0 && b1 > 0);
  /* the same bytes again: 200, the same face */
  part p[] = {{.name = "img", .file = fx("face_a1.png")}, {.name = "identity", .text = "George_W_Bush"}};
  resp r = http(&main_srv, (request){.method = "POST", .path = "/register", .parts = p, .nparts = 2});
  CHECK(r.status == 200 && !cJSON_IsTrue(cJSON_GetObjectItem(r.json, "created")) &&
        jnum(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0), "face_id") == a1);
  resp_free(&r);
  /* the upload is kept as DATA/IDENTITY/<sha256>.png */
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "test $(ls '%s/George_W_Bush' | grep -c '^[0-9a-f]\\{64\\}\\.png$') = 1", data_dir);
  CHECK_EQ_INT(system(cmd), 0);
  expect_error("register no face", POST_FILE(&main_srv, "/register", "img", "noface.png"), 400, "missing_parameter");
  p[0].file = fx("noface.png");
  expect_error("register no face", http(&main_srv, (request){.method = "POST", .path = "/register", .parts = p, .nparts = 2}), 422,
               "no_face");
  /* find, and its alias /search */
  r = POST_FILE(&main_srv, "/find", "img", "face_a2.png");
  const cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "matches"), 0);
  CHECK(r.status == 200 && !strcmp(jstr(m0, "identity"), "George_W_Bush") && jnum(m0, "face_id") == a1 &&
        cJSON_IsTrue(cJSON_GetObjectItem(m0, "same_person")) && jnum(r.json, "searched") >= 2);
  resp_free(&r);
  r = http(&main_srv, (request){.method = "POST", .path = "/search?k=1&codes=int8&metric=euclidean_l2",
                                .parts = (part[]){{.name = "img", .file = fx("face_b1.png")}}, .nparts = 1});
  CHECK(r.status == 200 && jlen(r.json, "matches") == 1 && !strcmp(jstr(r.json, "codes"), "int8"));
  CHECK(!strcmp(jstr(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "matches"), 0), "identity"), "Laura_Bush"));
  resp_free(&r);
  expect_error("find no face", POST_FILE(&main_srv, "/find", "img", "noface.png"), 422, "no_face");
  /* listings, paged */
  r = http(&main_srv, (request){.method = "GET", .path = "/identities?limit=1&offset=1"});
  CHECK(r.status == 200 && jnum(r.json, "total") >= 2 && jlen(r.json, "identities") == 1);
  resp_free(&r);
  expect_error("limit", http(&main_srv, (request){.method = "GET", .path = "/identities?limit=0"}), 400, "bad_parameter");
  expect_error("query param", http(&main_srv, (request){.method = "GET", .path = "/identities?colour=1"}), 400, "unknown_parameter");
  r = http(&main_srv, (request){.method = "GET", .path = "/identities/George_W_Bush/faces"});
  CHECK(r.status == 200 && jlen(r.json, "faces") == 1 && jnum(r.json, "total") == 1);
  resp_free(&r);
  expect_error("no identity", http(&main_srv, (request){.method = "GET", .path = "/identities/Nobody/faces"}), 404, "not_found");
  /* the crop, for the web page */
  char path[64];
  snprintf(path, sizeof path, "/faces/%lld/image?size=96", (long long)a1);
  r = http(&main_srv, (request){.method = "GET", .path = path});
  CHECK(r.status == 200 && !strcmp(r.type, "image/png") && r.len > 8 && !memcmp(r.body, "\x89PNG", 4));
  fk_image crop;
  CHECK(r.body && fk_image_decode(r.body, r.len, 0, &crop) == FK_OK && crop.width == 96);
  fk_image_free(&crop);
  resp_free(&r);
  expect_error("no face", http(&main_srv, (request){.method = "GET", .path = "/faces/999999/image"}), 404, "not_found");
  expect_error("bad id", http(&main_srv, (request){.method = "GET", .path = "/faces/abc/image"}), 404, "not_found");
  /* deletes: committed before the answer, files of uploads removed */
  snprintf(path, sizeof path, "/faces/%lld", (long long)b1);
  r = http(&main_srv, (request){.method = "DELETE", .path = path});
  CHECK(r.status == 200 && jnum(cJSON_GetObjectItem(r.json, "deleted"), "images") == 1);
  resp_free(&r);
  expect_error("deleted twice", http(&main_srv, (request){.method = "DELETE", .path = path}), 404, "not_found");
  snprintf(cmd, sizeof cmd, "test ! -e '%s/Laura_Bush'", data_dir);
  CHECK_EQ_INT(system(cmd), 0);
  r = POST_FILE(&main_srv, "/find", "img", "face_b1.png");
  const cJSON *ms = cJSON_GetObjectItem(r.json, "matches");
  for (int i = 0; i < cJSON_GetArraySize(ms); i++) CHECK(jnum(cJSON_GetArrayItem(ms, i), "face_id") != b1);
  resp_free(&r);
  r = http(&main_srv, (request){.method = "DELETE", .path = "/identities/George_W_Bush"});
  CHECK(r.status == 200 && jnum(cJSON_GetObjectItem(r.json, "deleted"), "faces") == 1);
  resp_free(&r);
  expect_error("identity twice", http(&main_srv, (request){.method = "DELETE", .path = "/identities/George_W_Bush"}), 404, "not_found");
}

/* The box of a face object of an answer. */
static fk_box box_of(const cJSON *f) {
  const cJSON *b = cJSON_GetObjectItem(f, "box");
  return (fk_box){(float)jnum(b, "x"), (float)jnum(b, "y"), (float)jnum(b, "w"), (float)jnum(b, "h")};
}

static double centre_dist2(fk_box b, int w, int h) {
  double dx = b.x + b.w / 2 - w / 2.0, dy = b.y + b.h / 2 - h / 2.0;
  return dx * dx + dy * dy;
}

/* Issue 19 #3: a group photo registers its central face alone (the others
 * are reported as ignored, and never labelled), or the one the client
 * picks by rank (face) or box (face_box). */
static void test_register_labels_one_face_of_a_group_photo(void) {
  fk_image g;
  CHECK_EQ_INT(fk_image_load(fx("group4.png"), 0, &g), FK_OK);
  part p[] = {{.name = "img", .file = fx("group4.png")}, {.name = "identity", .text = "grp"}, {0}};
  resp r = http(&main_srv, (request){.method = "POST", .path = "/register", .parts = p, .nparts = 2});
  const cJSON *faces = cJSON_GetObjectItem(r.json, "faces"), *ign = cJSON_GetObjectItem(r.json, "ignored");
  CHECK(r.status == 201 && cJSON_GetArraySize(faces) == 1 && cJSON_GetArraySize(ign) == 3);
  const cJSON *kept = cJSON_GetArrayItem(faces, 0);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(kept, "central")));
  /* the one kept is the nearest the centre */
  for (int i = 0; i < cJSON_GetArraySize(ign); i++)
    CHECK(centre_dist2(box_of(kept), g.width, g.height) < centre_dist2(box_of(cJSON_GetArrayItem(ign, i)), g.width, g.height));
  fk_box other = box_of(cJSON_GetArrayItem(ign, 0));
  int other_rank = (int)jnum(cJSON_GetArrayItem(ign, 0), "face");
  if (r.status != 201 || cJSON_GetArraySize(ign) != 3) fprintf(stderr, "  register group: %s\n", r.body ? r.body : "");
  resp_free(&r);
  r = http(&main_srv, (request){.method = "GET", .path = "/identities/grp/faces"});
  CHECK(r.status == 200 && jnum(r.json, "total") == 1);
  resp_free(&r);
  /* the bystanders are strangers to /find: one face of the photo is grp */
  r = http(&main_srv, (request){.method = "POST", .path = "/find?all_faces=true&k=1",
                                .parts = (part[]){{.name = "img", .file = fx("group4.png")}}, .nparts = 1});
  const cJSON *qs = cJSON_GetObjectItem(r.json, "queries");
  int grp_same = 0;
  for (int i = 0; i < cJSON_GetArraySize(qs); i++) {
    const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(qs, i), "matches"), 0);
    grp_same += !strcmp(jstr(m, "identity"), "grp") && cJSON_IsTrue(cJSON_GetObjectItem(m, "same_person"));
  }
  CHECK(r.status == 200 && cJSON_GetArraySize(qs) == 4);
  CHECK_EQ_INT(grp_same, 1);
  resp_free(&r);
  /* picked by box: another copy of the photo, the face at one ignored box */
  char copy[4400], text[128];
  snprintf(copy, sizeof copy, "%s/group_copy.png", tmp);
  nudged("group4.png", 3, copy);
  snprintf(text, sizeof text, "%g,%g,%g,%g", other.x, other.y, other.w, other.h);
  p[0].file = copy;
  p[1].text = "grp_box";
  p[2] = (part){.name = "face_box", .text = text};
  r = http(&main_srv, (request){.method = "POST", .path = "/register", .parts = p, .nparts = 3});
  kept = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0);
  CHECK(r.status == 201 && jlen(r.json, "faces") == 1 && jlen(r.json, "ignored") == 3);
  CHECK(fabs(box_of(kept).x - other.x) < 3 && fabs(box_of(kept).y - other.y) < 3);
  resp_free(&r);
  /* picked by rank, in JSON */
  char *b64 = file_b64(copy), *json = malloc(strlen(b64) + 200);
  snprintf(json, strlen(b64) + 200, "{\"img\":\"%s\",\"identity\":\"grp_rank\",\"face\":%d}", b64, other_rank);
  r = http(&main_srv, (request){.method = "POST", .path = "/register", .json = json});
  kept = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0);
  CHECK(r.status == 200 || r.status == 201);
  CHECK(fabs(box_of(kept).x - other.x) < 3 && fabs(box_of(kept).y - other.y) < 3);
  resp_free(&r);
  /* bad choices */
  snprintf(json, strlen(b64) + 200, "{\"img\":\"%s\",\"identity\":\"grp_bad\",\"face\":7}", b64);
  expect_error("face 7 of 4", http(&main_srv, (request){.method = "POST", .path = "/register", .json = json}), 422,
               "face_not_found");
  snprintf(json, strlen(b64) + 200, "{\"img\":\"%s\",\"identity\":\"grp_bad\",\"face_box\":{\"x\":1,\"y\":1,\"w\":2,\"h\":2}}", b64);
  expect_error("box on no face", http(&main_srv, (request){.method = "POST", .path = "/register", .json = json}), 422,
               "face_not_found");
  snprintf(json, strlen(b64) + 200, "{\"img\":\"%s\",\"identity\":\"grp_bad\",\"face\":0,\"face_box\":\"1,1,9,9\"}", b64);
  expect_error("face and box", http(&main_srv, (request){.method = "POST", .path = "/register", .json = json}), 400,
               "bad_parameter");
  snprintf(json, strlen(b64) + 200, "{\"img\":\"%s\",\"identity\":\"grp_bad\",\"face_box\":\"1,2\"}", b64);
  expect_error("half a box", http(&main_srv, (request){.method = "POST", .path = "/register", .json = json}), 400,
               "bad_parameter");
  r = http(&main_srv, (request){.method = "GET", .path = "/identities/grp_bad/faces"});
  CHECK(r.status == 404);
  resp_free(&r);
  free(json);
  free(b64);
  fk_image_free(&g);
}

/* Issue 19 #5: a face deleted through the API stays deleted when `facekit
 * index` runs again over the folder that still holds its file. */
static void test_deleted_faces_stay_deleted_when_their_folder_is_indexed_again(void) {
  char dir[4400], file[4500], args[9000];
  snprintf(dir, sizeof dir, "%s/photos/Kept_Out", tmp);
  snprintf(args, sizeof args, "mkdir -p '%s'", dir);
  CHECK_EQ_INT(system(args), 0);
  snprintf(file, sizeof file, "%s/c.png", dir);
  nudged("face_c1.png", 5, file);
  snprintf(args, sizeof args, "index '%s/photos' --db '%s' --quiet", tmp, db);
  tu_run_result x = tu_run(args);
  CHECK(x.code == 0 && jnum(x.json, "added") == 1);
  cJSON_Delete(x.json);
  resp r = http(&main_srv, (request){.method = "GET", .path = "/identities/Kept_Out/faces"});
  int64_t id = (int64_t)jnum(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0), "face_id");
  CHECK(r.status == 200 && id > 0);
  resp_free(&r);
  char path[64];
  snprintf(path, sizeof path, "/faces/%lld", (long long)id);
  r = http(&main_srv, (request){.method = "DELETE", .path = path});
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  struct stat sb;
  CHECK(stat(file, &sb) == 0); /* not an upload: the file stays */
  x = tu_run(args);
  CHECK(x.code == 0 && jnum(x.json, "added") == 0 && jnum(x.json, "deleted") == 1);
  cJSON_Delete(x.json);
  r = http(&main_srv, (request){.method = "GET", .path = "/identities/Kept_Out/faces"});
  CHECK_EQ_INT(r.status, 404);
  resp_free(&r);
}

/* An upload the server cannot store: a 500 whose message says nothing of
 * where. */
static void test_internal_failures_are_500_without_internals(void) {
  char blocker[4300];
  snprintf(blocker, sizeof blocker, "%s/Blocked", data_dir);
  tu_write_text(blocker, "a file where the identity's folder would go");
  part p[] = {{.name = "img", .file = fx("face_c1.png")}, {.name = "identity", .text = "Blocked"}};
  expect_error("500", http(&main_srv, (request){.method = "POST", .path = "/register", .parts = p, .nparts = 2}), 500, "internal");
  remove(blocker);
}

/* ---- concurrency ------------------------------------------------------------------ */

enum { CLIENTS = 8, PER_CLIENT = 2 };

typedef struct client {
  int id;
  int64_t faces[PER_CLIENT];
  int registered, found;
} client;

static const char *const people[] = {"face_a1.png", "face_a2.png", "face_b1.png", "face_c1.png"};

/* Registers its photos one at a time; after each answer, finds it. */
static void *client_main(void *arg) {
  client *c = arg;
  for (int k = 0; k < PER_CLIENT; k++) {
    char file[4300], ident[32];
    snprintf(file, sizeof file, "%s/c%d_%d.png", tmp, c->id, k);
    snprintf(ident, sizeof ident, "client_%d", c->id);
    int64_t id = register_file(&main_srv, file, ident, NULL);
    if (!id) continue;
    c->faces[k] = id;
    c->registered++;
    part p[] = {{.name = "img", .file = file}};
    resp r = http(&main_srv, (request){.method = "POST", .path = "/find?k=50", .parts = p, .nparts = 1});
    const cJSON *ms = cJSON_GetObjectItem(r.json, "matches");
    for (int i = 0; i < cJSON_GetArraySize(ms); i++) {
      const cJSON *m = cJSON_GetArrayItem(ms, i);
      if (jnum(m, "face_id") == id && jnum(m, "distance") < 1e-4 && !strcmp(jstr(m, "identity"), ident)) c->found++;
    }
    resp_free(&r);
  }
  return NULL;
}

static void test_eight_clients_register_and_find_at_once(void) {
  for (int c = 0; c < CLIENTS; c++)
    for (int k = 0; k < PER_CLIENT; k++) {
      char file[4300];
      snprintf(file, sizeof file, "%s/c%d_%d.png", tmp, c, k);
      nudged(people[(c * PER_CLIENT + k) % 4], c * PER_CLIENT + k + 1, file);
    }
  client cl[CLIENTS] = {{0}};
  pthread_t th[CLIENTS];
  for (int c = 0; c < CLIENTS; c++) {
    cl[c].id = c;
    pthread_create(&th[c], NULL, client_main, &cl[c]);
  }
  int registered = 0, found = 0;
  for (int c = 0; c < CLIENTS; c++) {
    pthread_join(th[c], NULL);
    registered += cl[c].registered;
    found += cl[c].found;
  }
  CHECK_EQ_INT(registered, CLIENTS * PER_CLIENT);
  CHECK_EQ_INT(found, CLIENTS * PER_CLIENT); /* every find after a register saw it */
  /* the index holds exactly that: each client's identity with its faces */
  resp r = http(&main_srv, (request){.method = "GET", .path = "/identities?limit=1000"});
  int clients_seen = 0, exact = 1;
  const cJSON *ids = cJSON_GetObjectItem(r.json, "identities");
  for (int i = 0; i < cJSON_GetArraySize(ids); i++) {
    const cJSON *d = cJSON_GetArrayItem(ids, i);
    if (strncmp(jstr(d, "name"), "client_", 7)) continue;
    clients_seen++;
    exact &= jnum(d, "faces") == PER_CLIENT && jnum(d, "images") == PER_CLIENT;
  }
  CHECK(clients_seen == CLIENTS && exact);
  resp_free(&r);
  for (int c = 0; c < CLIENTS; c++) {
    char path[64];
    snprintf(path, sizeof path, "/identities/client_%d/faces", c);
    r = http(&main_srv, (request){.method = "GET", .path = path});
    const cJSON *fs = cJSON_GetObjectItem(r.json, "faces");
    int match = cJSON_GetArraySize(fs) == PER_CLIENT;
    for (int k = 0; match && k < PER_CLIENT; k++) {
      int64_t id = (int64_t)jnum(cJSON_GetArrayItem(fs, k), "face_id");
      match = id == cl[c].faces[0] || id == cl[c].faces[1];
    }
    CHECK(match);
    resp_free(&r);
  }
}

/* ---- SIGTERM with requests in flight ------------------------------------------------ */

typedef struct inflight {
  int k;
  long status;
  int64_t face;
} inflight;

static void *inflight_main(void *arg) {
  inflight *f = arg;
  char file[4300], ident[32];
  snprintf(file, sizeof file, "%s/term%d.png", tmp, f->k);
  snprintf(ident, sizeof ident, "term_%d", f->k);
  part p[] = {{.name = "img", .file = file}, {.name = "identity", .text = ident}};
  resp r = http(&main_srv, (request){.method = "POST", .path = "/register", .parts = p, .nparts = 2});
  f->status = r.status;
  if (r.status == 201) f->face = (int64_t)jnum(cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0), "face_id");
  resp_free(&r);
  return NULL;
}

/* facekit_inflight_requests from /metrics (the request asking counts). */
static long inflight_now(void) {
  resp r = http(&main_srv, (request){.method = "GET", .path = "/metrics"});
  const char *g = r.body ? strstr(r.body, "\nfacekit_inflight_requests ") : NULL;
  long n = g ? atol(g + 27) : -1;
  resp_free(&r);
  return n;
}

static void test_sigterm_lets_requests_in_flight_finish_and_keeps_them(void) {
  enum { N = 6 };
  inflight f[N];
  pthread_t th[N];
  for (int k = 0; k < N; k++) {
    char file[4300];
    snprintf(file, sizeof file, "%s/term%d.png", tmp, k);
    nudged(people[k % 4], 100 + k, file);
    f[k] = (inflight){.k = k};
    pthread_create(&th[k], NULL, inflight_main, &f[k]);
  }
  /* SIGTERM as soon as two or more are in flight (with the /metrics request
   * itself): a release build may answer all six within half a second */
  long seen = 0;
  for (int i = 0; i < 3000 && (seen = inflight_now()) < 3; i++) usleep(1000);
  kill(main_srv.pid, SIGTERM);
  CHECK(seen >= 3); /* SIGTERM did come with requests in flight */
  fprintf(stderr, "  SIGTERM with %ld requests in flight\n", seen - 1);
  /* every request in flight at the signal is answered and kept (ok counts
   * them); one not yet received is refused with a 503, or its connection
   * is closed unread (a transport error), never given another answer */
  int ok = 0, late = 0;
  for (int k = 0; k < N; k++) {
    pthread_join(th[k], NULL);
    ok += f[k].status == 201 && f[k].face > 0;
    late += f[k].status == 503 || f[k].status < 0;
    if (f[k].status != 201) fprintf(stderr, "  request %d: status %ld (after the signal)\n", k, f[k].status);
  }
  CHECK_EQ_INT(ok + late, N);
  CHECK(ok >= seen - 1);
  int st = 0;
  waitpid(main_srv.pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char *log = tu_read_file(main_srv.log, NULL);
  CHECK(log && strstr(log, "draining") && strstr(log, "stopped"));
  free(log);
  /* after the exit: every face the answers named is in the index */
  fk_store *st_;
  CHECK_EQ_INT(fk_store_open(db, FK_STORE_READ, &st_), FK_OK);
  fk_store_face *face = malloc(sizeof *face);
  for (int k = 0; k < N; k++) {
    if (f[k].status != 201) continue;
    char ident[32];
    snprintf(ident, sizeof ident, "term_%d", k);
    CHECK(fk_store_get_face(st_, f[k].face, face) == FK_OK && !strcmp(face->identity, ident));
  }
  free(face);
  fk_store_close(st_);
}

/* ---- keys, TLS, a full queue, and no index -------------------------------------------- */

enum { BURST = 4 };

typedef struct shot {
  server *s;
  const char *header;
  long status;
  char retry[32];
} shot;

static void *fire(void *arg) {
  shot *sh = arg;
  resp r = http(sh->s, (request){.method = "POST", .path = "/represent", .header = sh->header,
                                 .parts = (part[]){{.name = "img", .file = fx("group4.png")}}, .nparts = 1});
  sh->status = r.status;
  snprintf(sh->retry, sizeof sh->retry, "%s", r.retry_after);
  if (r.status == 503) expect_error("queue full", r, 503, "queue_full");
  else resp_free(&r);
  return NULL;
}

static void test_keys_tls_full_queue_and_no_index(void) {
  char keys[4300], cert[4300], key[4300], cmd[13000];
  snprintf(keys, sizeof keys, "%s/keys.txt", tmp);
  tu_write_text(keys, "# test keys\nread-key-0123456789abcdef read\nwrite-key-0123456789abcdef write\n");
  chmod(keys, 0600);
  snprintf(cert, sizeof cert, "%s/cert.pem", tmp);
  snprintf(key, sizeof key, "%s/key.pem", tmp);
  snprintf(cafile, sizeof cafile, "%s", cert);
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 2 -subj /CN=localhost "
           "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1", key, cert);
  int tls = system(cmd) == 0;
  if (!tls) fprintf(stderr, "  openssl is missing: testing the keys over plain HTTP (tools/deps.sh installs it)\n");
  const char *args[] = {"--keys", keys, "--workers", "1", "--queue", "1", "--quiet",
                        tls ? "--tls-cert" : NULL, cert, "--tls-key", key, NULL};
  server s;
  if (server_start(&s, args, "keyed")) {
    CHECK(0);
    return;
  }
  CHECK_EQ_INT(s.tls, tls);
  const char *rd = "Authorization: Bearer read-key-0123456789abcdef";
  const char *wr = "X-API-Key: write-key-0123456789abcdef";
  resp r = http(&s, (request){.method = "GET", .path = "/health"});
  CHECK_EQ_INT(r.status, 200); /* no key needed */
  resp_free(&r);
  r = POST_FILE(&s, "/represent", "img", "face_a1.png");
  /* answered after the upload, not with a reset while the client sends */
  CHECK(r.status == 401 && !strcmp(r.www_auth, "Bearer") && !strcmp(jstr(r.json, "code"), "unauthorized"));
  resp_free(&r);
  expect_error("wrong key", http(&s, (request){.method = "GET", .path = "/info", .header = "Authorization: Bearer not-a-key-of-ours-at-all"}),
               401, "unauthorized");
  expect_error("metrics key", http(&s, (request){.method = "GET", .path = "/metrics"}), 401, "unauthorized");
  r = http(&s, (request){.method = "POST", .path = "/represent", .header = rd, .parts = (part[]){{.name = "img", .file = fx("face_a1.png")}},
                         .nparts = 1});
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  part reg[] = {{.name = "img", .file = fx("face_a1.png")}, {.name = "identity", .text = "x"}};
  expect_error("read key writes", http(&s, (request){.method = "POST", .path = "/register", .header = rd, .parts = reg, .nparts = 2}),
               403, "forbidden");
  expect_error("read key deletes", http(&s, (request){.method = "DELETE", .path = "/faces/1", .header = rd}), 403, "forbidden");
  /* a write key gets through auth; this server serves no index */
  expect_error("no index", http(&s, (request){.method = "POST", .path = "/register", .header = wr, .parts = reg, .nparts = 2}), 404,
               "no_index");
  expect_error("no index find", http(&s, (request){.method = "POST", .path = "/find", .header = rd, .parts = reg, .nparts = 1}), 404,
               "no_index");
  /* one worker, one place in the queue: four at once leave some 503s */
  shot sh[BURST];
  pthread_t th[BURST];
  for (int i = 0; i < BURST; i++) {
    sh[i] = (shot){&s, rd, 0, ""};
    pthread_create(&th[i], NULL, fire, &sh[i]);
  }
  int ok = 0, full = 0;
  for (int i = 0; i < BURST; i++) {
    pthread_join(th[i], NULL);
    ok += sh[i].status == 200;
    full += sh[i].status == 503 && atoi(sh[i].retry) >= 1;
  }
  CHECK(ok >= 1 && full >= 1 && ok + full == BURST);
  fprintf(stderr, "  burst of %d: %d answered, %d told to retry\n", BURST, ok, full);
  CHECK_EQ_INT(server_stop(&s), 0);
}

/* Without keys the server binds to loopback only, and says why. */
static void test_non_loopback_without_keys_is_refused(void) {
  const char *cli = getenv("FK_CLI");
  char cmd[8300];
  snprintf(cmd, sizeof cmd, "'%s' serve --listen 0.0.0.0 --port 0 2>&1 | grep -q 'refusing to listen on 0.0.0.0'",
           cli ? cli : "facekit");
  CHECK_EQ_INT(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "'%s' serve --listen 0.0.0.0 --port 0 >/dev/null 2>&1", cli ? cli : "facekit");
  int st = system(cmd);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
}

/* ---- a PostgreSQL index (--pg) ----------------------------------------------------- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* facekit_index_faces from /metrics: the faces in the served vectors. */
static long served_faces(const server *s) {
  resp r = http(s, (request){.method = "GET", .path = "/metrics"});
  const char *g = r.body ? strstr(r.body, "\nfacekit_index_faces ") : NULL;
  long n = g ? atol(g + 21) : -1;
  resp_free(&r);
  return n;
}

enum { FOUND = 1, NOT_FOUND = 0, UNAVAILABLE = -1, OTHER = -2 };

/* What /find says of fixture: FOUND when its best match is `identity` and
 * the same person, NOT_FOUND for another 200, UNAVAILABLE for a 503
 * index_unavailable, OTHER (logged) for anything else. */
static int find_says(const server *s, const char *fixture, const char *identity) {
  resp r = POST_FILE(s, "/find", "img", fixture);
  const cJSON *m0 = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "matches"), 0);
  int out = OTHER;
  if (r.status == 200 && r.json)
    out = m0 && !strcmp(jstr(m0, "identity"), identity) && cJSON_IsTrue(cJSON_GetObjectItem(m0, "same_person"))
              ? FOUND : NOT_FOUND;
  else if (r.status == 503 && r.json && !strcmp(jstr(r.json, "code"), "index_unavailable") && jstr(r.json, "error")[0])
    out = UNAVAILABLE;
  if (out == OTHER) fprintf(stderr, "  find %s: %ld %s\n", fixture, r.status, r.body ? r.body : "");
  resp_free(&r);
  return out;
}

/* A client asking /find for George_W_Bush over and over while the
 * database restarts; counts what it was told. */
typedef struct prober {
  const server *s;
  _Atomic int stop;
  _Atomic int n[3]; /* FOUND, UNAVAILABLE, anything else (wrong or broken) */
} prober;

static void *probe_main(void *arg) {
  prober *p = arg;
  while (!p->stop) {
    int r = find_says(p->s, "face_a2.png", "George_W_Bush");
    p->n[r == FOUND ? 0 : r == UNAVAILABLE ? 1 : 2]++;
  }
  return NULL;
}

/* dir/person/person_NNNN.png: a copy of fixture, nudged by seed. */
static void put_face(const char *dir, const char *person, const char *fixture, int seed) {
  char path[4400];
  snprintf(path, sizeof path, "mkdir -p '%s/%s'", dir, person);
  CHECK_EQ_INT(system(path), 0);
  snprintf(path, sizeof path, "%s/%s/%s_%04d.png", dir, person, person, seed + 1);
  nudged(fixture, seed, path);
}

/* `facekit index dir --db uri` (with --root root unless NULL). */
static int index_into(const char *dir, const char *uri, const char *root) {
  char args[6000];
  snprintf(args, sizeof args, "index '%s' --db '%s'%s%s%s", dir, uri, root ? " --root '" : "", root ? root : "",
           root ? "'" : "");
  tu_run_result r = tu_run(args);
  if (r.code) fprintf(stderr, "  index %s: %d %s\n", dir, r.code, r.err);
  cJSON_Delete(r.json);
  return r.code;
}

typedef struct indexer {
  const char *dir, *uri;
  int code;
} indexer;

static void *indexer_main(void *arg) {
  indexer *x = arg;
  x->code = index_into(x->dir, x->uri, NULL);
  return NULL;
}

/* Indexes dir into uri from another process, watching the database and the
 * server every 5 ms: the seconds from the commit being visible in the
 * database (its face count reaching `want`) to the server's vectors
 * holding them, or -1 if that takes over 10 s or the index run fails. */
static double served_after_commit(const server *s, const char *dir, const char *uri, long want) {
  indexer x = {dir, uri, -1};
  pthread_t th;
  if (pthread_create(&th, NULL, indexer_main, &x)) return -1;
  double t_commit = -1, t_served = -1, t0 = now_s();
  while (t_served < 0 && now_s() - t0 < 60) {
    if (t_commit < 0 && tu_pg_int(uri, "SELECT count(*) FROM faces") >= want) t_commit = now_s();
    if (served_faces(s) == want) t_served = now_s();
    if (t_commit < 0 && t_served >= 0) t_commit = t_served; /* both between two looks */
    if (t_commit >= 0 && now_s() - t_commit > 10) break;
    usleep(5000);
  }
  pthread_join(th, NULL);
  return x.code == 0 && t_served >= 0 ? t_served - t_commit : -1;
}

static void test_pg_serve_finds_follows_notify_and_survives_a_restart(void) {
  char first[4300], later[4300], last[4300], dd[4300], uri[1100];
  snprintf(first, sizeof first, "%s/first", tmp);
  snprintf(later, sizeof later, "%s/later", tmp);
  snprintf(last, sizeof last, "%s/last", tmp);
  snprintf(dd, sizeof dd, "%s/uploads", tmp);
  snprintf(uri, sizeof uri, "%s", tu_pg_db("served"));
  put_face(first, "George_W_Bush", "face_a1.png", 0);
  put_face(first, "Laura_Bush", "face_b1.png", 0);
  put_face(later, "Jacques_Chirac", "face_c1.png", 0);
  put_face(last, "Laura_Bush", "face_b1.png", 1);
  CHECK_EQ_INT(index_into(first, uri, NULL), 0);
  /* one worker, so one lookup connection that the restart surely cuts;
   * no periodic refresh, so only NOTIFY can bring the later faces in */
  const char *args[] = {"--db", uri, "--data-dir", dd, "--workers", "1", "--refresh-ms", "3600000", "--quiet", NULL};
  server s;
  if (server_start(&s, args, "pg_server")) {
    CHECK(0);
    return;
  }
  CHECK_EQ_INT(find_says(&s, "face_a2.png", "George_W_Bush"), FOUND);
  CHECK_EQ_INT(find_says(&s, "face_c1.png", "Jacques_Chirac"), NOT_FOUND);
  CHECK_EQ_INT(served_faces(&s), 2);

  /* another process commits a face: served within 1 s, no restart */
  double dt = served_after_commit(&s, later, uri, 3);
  fprintf(stderr, "  a face indexed by another process served %.3f s after its commit\n", dt);
  CHECK(dt >= 0 && dt < 1.0);
  CHECK_EQ_INT(find_says(&s, "face_c1.png", "Jacques_Chirac"), FOUND);

  /* PostgreSQL restarts while a client keeps asking */
  prober p = {.s = &s};
  pthread_t th;
  CHECK_EQ_INT(pthread_create(&th, NULL, probe_main, &p), 0);
  usleep(200000);
  CHECK_EQ_INT(tu_pg_restart(), 0);
  double t0 = now_s();
  int back = 0;
  while (!back && now_s() - t0 < 30) {
    usleep(50000);
    back = p.n[0] > 0 && find_says(&s, "face_a2.png", "George_W_Bush") == FOUND;
  }
  p.stop = 1;
  pthread_join(th, NULL);
  fprintf(stderr, "  during the restart: %d right answers, %d index_unavailable, %d other; back after %.2f s\n",
          p.n[0], p.n[1], p.n[2], now_s() - t0);
  CHECK(back);
  CHECK(p.n[1] >= 1); /* the cut connection was seen, and said so */
  CHECK_EQ_INT(p.n[2], 0);
  CHECK_EQ_INT(kill(s.pid, 0), 0);
  /* the writer listens again: another process's face still comes in */
  dt = served_after_commit(&s, last, uri, 4);
  fprintf(stderr, "  after the restart, served %.3f s after its commit\n", dt);
  CHECK(dt >= 0 && dt < 1.0);
  resp r = http(&s, (request){.method = "GET", .path = "/identities/Laura_Bush/faces"});
  CHECK(r.status == 200 && jnum(r.json, "total") == 2);
  resp_free(&r);
  /* a register commits the face and answers with its id */
  int64_t id = register_file(&s, fx("face_b2.png"), "Laura_Bush", NULL);
  CHECK(id > 0 && id == tu_pg_int(uri, "SELECT max(id) FROM faces"));
  CHECK_EQ_INT(served_faces(&s), 5);
  /* an index built with --root holds relative paths: crops need serve --root
   * (the tests run in the build directory, where they lead nowhere) */
  char rooted[4300], path[64];
  snprintf(rooted, sizeof rooted, "%s/rooted", tmp);
  put_face(rooted, "Jacques_Chirac", "face_c1.png", 2);
  CHECK_EQ_INT(index_into(rooted, uri, tmp), 0);
  long long rid = tu_pg_int(uri, "SELECT f.id FROM faces f JOIN images i ON i.id = f.image_id"
                                 " WHERE i.path = 'rooted/Jacques_Chirac/Jacques_Chirac_0003.png'");
  CHECK(rid > 0);
  snprintf(path, sizeof path, "/faces/%lld/image", rid);
  expect_error("crop without --root", http(&s, (request){.method = "GET", .path = path}), 404, "image_missing");
  CHECK_EQ_INT(server_stop(&s), 0);
  const char *rooted_args[] = {"--db", uri, "--data-dir", dd, "--root", tmp, "--workers", "1", "--quiet", NULL};
  if (server_start(&s, rooted_args, "pg_server_root")) {
    CHECK(0);
    return;
  }
  r = http(&s, (request){.method = "GET", .path = path});
  CHECK(r.status == 200 && !strcmp(r.type, "image/png") && r.len > 8);
  resp_free(&r);
  CHECK_EQ_INT(server_stop(&s), 0);
}

int main(int argc, char **argv) {
  int pg = argc > 1 && !strcmp(argv[1], "--pg");
  curl_global_init(CURL_GLOBAL_ALL);
  snprintf(tmp, sizeof tmp, "%s", tu_tmp(pg ? "server_pg" : "server"));
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", tmp, tmp);
  if (system(cmd)) return 1;
  if (pg) {
    int rc = tu_pg_start();
    if (rc) return rc;
    RUN(test_pg_serve_finds_follows_notify_and_survives_a_restart);
  } else {
    snprintf(db, sizeof db, "%s/index.db", tmp);
    snprintf(data_dir, sizeof data_dir, "%s/uploads", tmp);
    const char *args[] = {"--db", db, "--data-dir", data_dir, "--workers", "2", NULL};
    if (server_start(&main_srv, args, "server")) return 1;
    RUN(test_health_ready_page_and_metrics_answer);
    RUN(test_represent_takes_multipart_and_base64_alike);
    RUN(test_false_means_false_and_other_words_are_refused);
    RUN(test_bad_parameters_are_named);
    RUN(test_routes_methods_and_media_types_are_checked);
    RUN(test_bodies_over_the_limit_get_413);
    RUN(test_verify_and_analyze_give_the_cli_objects);
    RUN(test_register_find_list_crop_and_delete);
    RUN(test_register_labels_one_face_of_a_group_photo);
    RUN(test_deleted_faces_stay_deleted_when_their_folder_is_indexed_again);
    RUN(test_internal_failures_are_500_without_internals);
    RUN(test_eight_clients_register_and_find_at_once);
    RUN(test_sigterm_lets_requests_in_flight_finish_and_keeps_them);
    RUN(test_keys_tls_full_queue_and_no_index);
    RUN(test_non_loopback_without_keys_is_refused);
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (tu_fail == 0 && system(cmd)) fprintf(stderr, "cleanup failed\n");
  curl_global_cleanup();
  return tu_summary();
}
