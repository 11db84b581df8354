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
 * (they complete; every face they registered is in the index). Registers
 * racing deletes of their identity keep their files (issue 19, on both
 * backends), and uploads a killed server never committed are swept at the
 * next start.
 *
 * `test_server --pg` (ctest test_server_pg) serves a PostgreSQL index in a
 * server it starts itself (pgutil.h): /find answers from it, a face that
 * another process indexes is served within 1 s through NOTIFY, and a
 * restart of PostgreSQL under load gives 503 index_unavailable or right
 * answers, never a crash or a wrong one, and is recovered from; the crops
 * of an index built with --root need serve --root.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
#include "serverutil.h"

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

typedef tu_server server;

static int server_start(server *s, const char *const *args, const char *name) {
  return tu_server_start(s, tmp, args, name);
}

static int server_stop(server *s) { return tu_server_stop(s); }

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

/* The option table's per-request rows (FK_OPT_REQUEST) are request
 * parameters, read as strictly as the others; the rest are not. */
static void test_requests_set_the_table_options(void) {
  part p[] = {{.name = "img", .file = fx("face_a1.png")}, {.name = "min_score", .text = "0.75"},
              {.name = "flip", .text = "false"}, {.name = "landmarks", .text = "lmk64"}};
  resp r = http(&main_srv, (request){.method = "POST", .path = "/represent", .parts = p, .nparts = 4});
  CHECK(r.status == 200 && jlen(r.json, "faces") == 1);
  CHECK(r.json && jnum(r.json, "min_score") == 0.75 && cJSON_IsFalse(cJSON_GetObjectItem(r.json, "flip")) &&
        !strcmp(jstr(r.json, "landmarks"), "lmk64"));
  resp_free(&r);
  char *b64 = file_b64(fx("face_a1.png"));
  char *json = malloc(strlen(b64) + 256);
  sprintf(json, "{\"img\":\"%s\",\"min_score\":0.6,\"input_size\":384,\"detector_backend\":\"ssd\"}", b64);
  r = http(&main_srv, (request){.method = "POST", .path = "/analyze", .json = json});
  CHECK(r.status == 200 && r.json && jnum(r.json, "min_score") == 0.6 && jnum(r.json, "input_size") == 384);
  resp_free(&r);
  static const char *const bad[][2] = {
      {"\"min_score\":\"0.6\"", "a JSON number, not a string"},
      {"\"min_score\":2", "min_score must be a number in [0, 0.999999]"},
      {"\"input_size\":100", "input_size must be auto or a multiple of 32"},
      {"\"flip\":1", "flip must be true or false"},
      {"\"detector\":\"ssd\",\"detector_backend\":\"tiny\"", "not both"},
      {"\"model_name\":\"vgg\"", "model_name must be one of"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    sprintf(json, "{\"img\":\"%s\",%s}", b64, bad[i][0]);
    r = http(&main_srv, (request){.method = "POST", .path = "/represent", .json = json});
    int ok = r.status == 400 && r.json && strstr(jstr(r.json, "error"), bad[i][1]);
    if (!ok) fprintf(stderr, "  %s: got %ld %s\n", bad[i][0], r.status, r.body ? r.body : "");
    CHECK(ok);
    resp_free(&r);
  }
  /* the program's options are not the request's */
  sprintf(json, "{\"img\":\"%s\",\"threads\":2}", b64);
  expect_error("threads", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = json}), 400,
               "unknown_parameter");
  /* the index fixes its pipeline for find */
  sprintf(json, "{\"img\":\"%s\",\"min_score\":0.6}", b64);
  r = http(&main_srv, (request){.method = "POST", .path = "/find", .json = json});
  CHECK(r.status == 400 && r.json && strstr(jstr(r.json, "error"), "min_score is fixed by the served index"));
  resp_free(&r);
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
  part k0[] = {p[0], {.name = "k", .text = "0"}}, k25[] = {p[0], {.name = "k", .text = "2.5"}};
  expect_error("k range", http(&main_srv, (request){.method = "POST", .path = "/find", .parts = k0, .nparts = 2}), 400, "bad_parameter");
  expect_error("k integer", http(&main_srv, (request){.method = "POST", .path = "/find", .parts = k25, .nparts = 2}), 400,
               "bad_parameter");
  expect_error("metric", http(&main_srv, (request){.method = "POST", .path = "/verify", .json = "{\"img1\":\"AAAA\",\"img2\":\"AAAA\","
                                                                             "\"metric\":\"manhattan\"}"}),
               400, "bad_parameter");
  expect_error("model", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = "{\"img\":\"AAAA\",\"model\":\"VGG-Face\"}"}),
               400, "bad_parameter");
  expect_error("twice", http(&main_srv, (request){.method = "POST", .path = "/represent", .json = "{\"img\":\"AAAA\","
                                                                                            "\"max_faces\":1,\"max_faces\":2}"}),
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
  sprintf(json, "{\"img\":\"%s\",\"actions\":[\"pose\",\"quality\"]}", b64);
  r = http(&main_srv, (request){.method = "POST", .path = "/analyze", .json = json});
  f0 = r.json ? cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "faces"), 0) : NULL;
  const cJSON *po = cJSON_GetObjectItem(f0, "pose"), *q = cJSON_GetObjectItem(f0, "quality");
  CHECK(r.status == 200 && cJSON_IsNumber(cJSON_GetObjectItem(po, "yaw")) &&
        cJSON_IsNumber(cJSON_GetObjectItem(po, "roll")) && jnum(q, "size") > 50 &&
        cJSON_IsNumber(cJSON_GetObjectItem(cJSON_GetObjectItem(q, "eyes_open"), "left")) &&
        !cJSON_GetObjectItem(f0, "age"));
  resp_free(&r);
  sprintf(json, "{\"img\":\"%s\",\"actions\":[\"pose\",\"height\"]}", b64);
  r = http(&main_srv, (request){.method = "POST", .path = "/analyze", .json = json});
  CHECK(r.status == 400 && strstr(jstr(r.json, "error"), "pose, quality"));
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
  r = http(&main_srv, (request){.method = "POST", .path = "/search",
                                .parts = (part[]){{.name = "img", .file = fx("face_b1.png")}, {.name = "k", .text = "1"},
                                                  {.name = "codes", .text = "int8"},
                                                  {.name = "metric", .text = "euclidean_l2"}},
                                .nparts = 4});
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
  r = http(&main_srv, (request){.method = "POST", .path = "/find",
                                .parts = (part[]){{.name = "img", .file = fx("group4.png")},
                                                  {.name = "all_faces", .text = "true"}, {.name = "k", .text = "1"}},
                                .nparts = 3});
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

/* Puts a nudged copy of fixture at TMP/TREE/PERSON/NAME (into file) and
 * indexes TMP/TREE into the served index (its `facekit index` command into
 * args, to run again), CHECKing that it added one image. */
static void index_one_photo(const char *tree, const char *person, const char *name, const char *fixture, int seed,
                            char *file, size_t file_size, char *args, size_t args_size) {
  snprintf(args, args_size, "mkdir -p '%s/%s/%s'", tmp, tree, person);
  CHECK_EQ_INT(system(args), 0);
  snprintf(file, file_size, "%s/%s/%s/%s", tmp, tree, person, name);
  nudged(fixture, seed, file);
  snprintf(args, args_size, "index '%s/%s' --db '%s' --quiet", tmp, tree, db);
  tu_run_result x = tu_run(args);
  CHECK(x.code == 0 && jnum(x.json, "added") == 1);
  cJSON_Delete(x.json);
}

/* Issue 19 #5: a face deleted through the API stays deleted when `facekit
 * index` runs again over the folder that still holds its file. */
static void test_deleted_faces_stay_deleted_when_their_folder_is_indexed_again(void) {
  char file[4500], args[9000];
  index_one_photo("photos", "Kept_Out", "c.png", "face_c1.png", 5, file, sizeof file, args, sizeof args);
  tu_run_result x;
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

/* An identity whose folder name is not UTF-8 (Latin-1 "Caf\xe9") is
 * listed escaped (byte 0xE9 as U+10FFE9), and that form, sent back in the
 * path, names it: its faces are listed and it is deleted. */
static void test_identities_that_are_not_utf8_are_addressed_escaped(void) {
  char file[4500], args[9000];
  index_one_photo("latin1", "Caf\xe9", "a.png", "face_b1.png", 7, file, sizeof file, args, sizeof args);
  const char *escaped = "Caf\xf4\x8f\xbf\xa9", *in_url = "Caf%F4%8F%BF%A9";
  char path[256];
  snprintf(path, sizeof path, "/identities/%s/faces", in_url);
  resp r = http(&main_srv, (request){.method = "GET", .path = path});
  CHECK(r.status == 200 && jnum(r.json, "total") == 1);
  CHECK(!strcmp(jstr(r.json, "identity"), escaped));
  resp_free(&r);
  snprintf(path, sizeof path, "/identities/%s", in_url);
  r = http(&main_srv, (request){.method = "DELETE", .path = path});
  CHECK(r.status == 200 && !strcmp(jstr(cJSON_GetObjectItem(r.json, "deleted"), "identity"), escaped));
  resp_free(&r);
  snprintf(path, sizeof path, "/identities/%s/faces", in_url);
  r = http(&main_srv, (request){.method = "GET", .path = path});
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
    part p[] = {{.name = "img", .file = file}, {.name = "k", .text = "50"}};
    resp r = http(&main_srv, (request){.method = "POST", .path = "/find", .parts = p, .nparts = 2});
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

/* facekit_inflight_requests from s's /metrics (the request asking counts). */
static long inflight_of(const server *s) {
  resp r = http(s, (request){.method = "GET", .path = "/metrics"});
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
  tu_wait_until((seen = inflight_of(&main_srv)) >= 3, 30, "two requests in flight");
  kill(main_srv.pid, SIGTERM); /* SIGTERM did come with requests in flight */
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

/* A commit being watched for: when the database first showed `want`
 * faces, and when the server first served them. */
typedef struct commit_watch {
  const server *s;
  const char *uri;
  long want;
  double t_commit, t_served;
} commit_watch;

/* One look at the database and the server; 1 once the server serves. */
static int served_yet(commit_watch *w) {
  if (w->t_commit < 0 && tu_pg_int(w->uri, "SELECT count(*) FROM faces") >= w->want) w->t_commit = tu_now_s();
  if (served_faces(w->s) == w->want) w->t_served = tu_now_s();
  if (w->t_commit < 0 && w->t_served >= 0) w->t_commit = w->t_served; /* both between two looks */
  return w->t_served >= 0;
}

/* Indexes dir into uri from another process, watching the database and the
 * server: the seconds from the commit being visible in the database (its
 * face count reaching `want`) to the server's vectors holding them, or -1
 * if they are not served within 60 s or the index run fails. */
static double served_after_commit(const server *s, const char *dir, const char *uri, long want) {
  indexer x = {dir, uri, -1};
  pthread_t th;
  if (pthread_create(&th, NULL, indexer_main, &x)) return -1;
  commit_watch w = {s, uri, want, -1, -1};
  tu_wait_until(served_yet(&w), 60, "the other process's faces to be served");
  pthread_join(th, NULL);
  return x.code == 0 && w.t_served >= 0 ? w.t_served - w.t_commit : -1;
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

  /* another process commits a face: served, no restart. The goal is 1 s
   * (bench_pg_sync measures the reader's part); the bound here is one a
   * loaded test machine cannot break, since with refresh off only NOTIFY
   * brings the face in at all. */
  double dt = served_after_commit(&s, later, uri, 3);
  fprintf(stderr, "  a face indexed by another process served %.3f s after its commit\n", dt);
  CHECK(dt >= 0 && dt < 10.0);
  CHECK_EQ_INT(find_says(&s, "face_c1.png", "Jacques_Chirac"), FOUND);

  /* PostgreSQL restarts while a client keeps asking */
  prober p = {.s = &s};
  pthread_t th;
  CHECK_EQ_INT(pthread_create(&th, NULL, probe_main, &p), 0);
  tu_wait_until(p.n[0] > 0, 30, "the client's first right answer");
  CHECK_EQ_INT(tu_pg_restart(), 0);
  double t0 = tu_now_s();
  tu_wait_until(find_says(&s, "face_a2.png", "George_W_Bush") == FOUND, 30, "a right answer after the restart");
  p.stop = 1;
  pthread_join(th, NULL);
  fprintf(stderr, "  during the restart: %d right answers, %d index_unavailable, %d other; back after %.2f s\n",
          p.n[0], p.n[1], p.n[2], tu_now_s() - t0);
  CHECK(p.n[1] >= 1); /* the cut connection was seen, and said so */
  CHECK_EQ_INT(p.n[2], 0);
  CHECK_EQ_INT(kill(s.pid, 0), 0);
  /* the writer listens again: another process's face still comes in */
  dt = served_after_commit(&s, last, uri, 4);
  fprintf(stderr, "  after the restart, served %.3f s after its commit\n", dt);
  CHECK(dt >= 0 && dt < 10.0);
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

/* ---- what a request is and where it comes from (issue 19, items 6-8) ------------------------ */

/* A server of its own (main_srv is stopped by the SIGTERM case): --cors
 * names a second origin and --host-name a name. */
static server guard_srv;
#define GUARD_CORS "http://127.0.0.1:9"

static int guard_start(void) {
  static char gdb[4200];
  snprintf(gdb, sizeof gdb, "%s/guard.db", tmp);
  const char *args[] = {"--db", gdb, "--workers", "1", "--cors", GUARD_CORS, "--host-name", "facekit.test", NULL};
  return server_start(&guard_srv, args, "guard");
}

/* Sends len bytes on a new loopback connection (half-closing it after them
 * when asked) and reads until the server closes or timeout_ms pass: the
 * bytes read, NUL-terminated in out; *closed when the server closed. */
static size_t raw_http(int port, const void *req, size_t len, int half_close, char *out, size_t cap, int timeout_ms,
                       int *closed) {
  *closed = 0;
  out[0] = '\0';
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a)) {
    if (fd >= 0) close(fd);
    return 0;
  }
  for (size_t off = 0; off < len;) {
    ssize_t w = send(fd, (const char *)req + off, len - off, MSG_NOSIGNAL);
    if (w <= 0) break;
    off += (size_t)w;
  }
  if (half_close) shutdown(fd, SHUT_WR);
  size_t got = 0;
  double until = tu_now_s() + timeout_ms / 1e3;
  while (got + 1 < cap) {
    int left = (int)((until - tu_now_s()) * 1e3);
    struct pollfd p = {fd, POLLIN, 0};
    if (left <= 0 || poll(&p, 1, left) <= 0) break;
    ssize_t r = recv(fd, out + got, cap - 1 - got, 0);
    if (r <= 0) {
      *closed = 1;
      break;
    }
    got += (size_t)r;
  }
  out[got] = '\0';
  close(fd);
  return got;
}

/* Status lines in a raw answer (a body may end right before the next). */
static int status_lines(const char *out) {
  int n = 0;
  for (const char *p = out; (p = strstr(p, "HTTP/1.1 ")); p++) n += p[9] >= '1' && p[9] <= '5';
  return n;
}

/* One raw request: the answer starts with want (e.g. "HTTP/1.1 400"), is
 * the only one, and (with must_close) the server then closes, well before
 * its 60 s idle timeout. */
static void expect_raw(const char *what, const char *req, size_t len, int half_close, const char *want,
                       int must_close) {
  static char out[65536];
  int closed;
  double t0 = tu_now_s();
  raw_http(guard_srv.port, req, len, half_close, out, sizeof out, 20000, &closed);
  int ok = !strncmp(out, want, strlen(want)) && status_lines(out) == 1 && (!must_close || closed) &&
           tu_now_s() - t0 < 20;
  if (!ok) fprintf(stderr, "  %s: want '%s'%s, got (%s, %.1f s) %.300s\n", what, want, must_close ? " and a close" : "",
                   closed ? "closed" : "open", tu_now_s() - t0, out);
  CHECK(ok);
}
#define RAW(s) s, sizeof s - 1

static void test_conflicting_framing_gets_400_or_501_and_a_close(void) {
  expect_raw("two Content-Lengths",
             RAW("POST /represent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 2\r\nContent-Length: 5\r\n\r\n{}"), 0, "HTTP/1.1 400", 1);
  expect_raw("the same Content-Length twice",
             RAW("POST /represent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}"), 0, "HTTP/1.1 400", 1);
  expect_raw("Content-Length and Transfer-Encoding",
             RAW("POST /represent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"), 0, "HTTP/1.1 400", 1);
  expect_raw("Transfer-Encoding gzip",
             RAW("POST /represent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: gzip\r\n\r\n{}"), 0, "HTTP/1.1 501", 1);
  expect_raw("Transfer-Encoding gzip, chunked",
             RAW("POST /represent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"), 0, "HTTP/1.1 501", 1);
  expect_raw("two Hosts", RAW("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n"), 0,
             "HTTP/1.1 400", 1);
  /* chunked alone is fine, and the connection stays for the next request */
  static char out[65536];
  int closed;
  raw_http(guard_srv.port,
           RAW("POST /represent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
               "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
           0, out, sizeof out, 60000, &closed);
  int ok = strstr(out, "missing_parameter") && strstr(out, "\"status\":\"ok\"") && status_lines(out) == 2;
  if (!ok) fprintf(stderr, "  chunked, then a second request: %.600s\n", out);
  CHECK(ok);
  /* garbage is answered (or the connection dropped) at once, not after the
   * idle timeout */
  expect_raw("garbage request line", RAW("hello world\r\n\r\n"), 0, "HTTP/1.1 400", 1);
  raw_http(guard_srv.port, RAW("GARBAGE\r\n\r\n"), 0, out, sizeof out, 20000, &closed);
  CHECK(closed);
}

static void test_a_half_closed_request_is_still_answered(void) {
  char *b64 = file_b64(fx("face_a1.png"));
  size_t cap = strlen(b64) + 512;
  char *body = malloc(cap), *req = malloc(cap + 512);
  int n = snprintf(body, cap, "{\"identity\":\"half_closed\",\"img\":\"%s\"}", b64);
  int m = snprintf(req, cap + 512, "POST /register HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                   "Content-Length: %d\r\n\r\n%s", n, body);
  expect_raw("register, then shutdown(SHUT_WR)", req, (size_t)m, 1, "HTTP/1.1 201", 1);
  expect_raw("info, then shutdown(SHUT_WR)", RAW("GET /info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 1,
             "HTTP/1.1 200", 1);
  resp r = http(&guard_srv, (request){.method = "GET", .path = "/identities/half_closed/faces"});
  CHECK(r.status == 200 && jnum(r.json, "total") == 1);
  resp_free(&r);
  free(b64);
  free(body);
  free(req);
}

static void test_nul_bytes_in_paths_keys_and_values_are_400(void) {
  CHECK(register_file(&guard_srv, fx("face_b1.png"), "CON", NULL) > 0);
  expect_error("%00 in a path segment", http(&guard_srv, (request){.method = "DELETE", .path = "/identities/CON%00zzz"}),
               400, "bad_request");
  resp r = http(&guard_srv, (request){.method = "GET", .path = "/identities/CON/faces"});
  CHECK(r.status == 200 && jnum(r.json, "total") == 1); /* not deleted */
  resp_free(&r);
  /* raw: curl would resolve the dot segments itself */
  expect_raw("%00 before ..", RAW("GET /info%00/../x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"), 1, "HTTP/1.1 400", 1);
  expect_error("%00 in a query", http(&guard_srv, (request){.method = "GET", .path = "/identities?limit=1%00"}), 400,
               "bad_request");
  static const char nul_line[] = "GET /info\0/../x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  expect_raw("a NUL byte in the request line", nul_line, sizeof nul_line - 1, 1, "HTTP/1.1 400", 1);
  char *b64 = file_b64(fx("face_a1.png"));
  char *json = malloc(strlen(b64) + 256);
  sprintf(json, "{\"identity\":\"bob\\u0000evil\",\"img\":\"%s\"}", b64);
  expect_error("\\u0000 in a JSON value", http(&guard_srv, (request){.method = "POST", .path = "/register", .json = json}),
               400, "bad_request");
  sprintf(json, "{\"identity\":\"bob\",\"img\\u0000x\":\"%s\"}", b64);
  expect_error("\\u0000 in a JSON key", http(&guard_srv, (request){.method = "POST", .path = "/register", .json = json}),
               400, "bad_request");
  /* an escaped backslash before u0000 is text, not a NUL */
  r = http(&guard_srv, (request){.method = "POST", .path = "/represent", .json = "{\"x\\\\u0000\":1}"});
  CHECK(r.status == 400 && r.body && !strstr(r.body, "NUL"));
  resp_free(&r);
  r = http(&guard_srv, (request){.method = "GET", .path = "/identities/bob/faces"});
  CHECK(r.status == 404); /* nothing was filed under bob */
  resp_free(&r);
  const char form[] = "identity=bob%00evil&img=AAAA";
  expect_error("%00 in an urlencoded value",
               http(&guard_srv, (request){.method = "POST", .path = "/register", .raw = form, .raw_len = sizeof form - 1,
                                          .raw_type = "application/x-www-form-urlencoded"}),
               400, "bad_request");
  const char form2[] = "img%00x=AAAA&identity=bob";
  expect_error("%00 in an urlencoded key",
               http(&guard_srv, (request){.method = "POST", .path = "/register", .raw = form2, .raw_len = sizeof form2 - 1,
                                          .raw_type = "application/x-www-form-urlencoded"}),
               400, "bad_request");
  const char mp[] = "--XyZ\r\nContent-Disposition: form-data; name=\"identity\"\r\n\r\nbob\0evil\r\n--XyZ--\r\n";
  expect_error("a NUL in a multipart field",
               http(&guard_srv, (request){.method = "POST", .path = "/register", .raw = mp, .raw_len = sizeof mp - 1,
                                          .raw_type = "multipart/form-data; boundary=XyZ"}),
               400, "bad_request");
  const char mp2[] = "--XyZ\r\nContent-Disposition: form-data; name=\"max_faces\0zz\"\r\n\r\n1\r\n--XyZ--\r\n";
  r = http(&guard_srv, (request){.method = "POST", .path = "/represent", .raw = mp2, .raw_len = sizeof mp2 - 1,
                                 .raw_type = "multipart/form-data; boundary=XyZ"});
  CHECK(r.status == 400 && strstr(jstr(r.json, "error"), "NUL")); /* named, not "unknown parameter ''" */
  resp_free(&r);
  free(json);
  free(b64);
}

static void test_identity_names_refuse_controls_and_bidi_overrides(void) {
  static const char *const bad[] = {"a\x01" "b", "a\x7f" "b", "a\xc2\x85" "b", "a\xc2\x9f" "b",
                                    "evil\xe2\x80\xae" "gpj.exe", "a\xe2\x80\xaa" "b", "a\xe2\x81\xa6" "b",
                                    "a\xe2\x81\xa9" "b"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    part p[] = {{.name = "img", .file = fx("face_c1.png")}, {.name = "identity", .text = bad[i]}};
    resp r = http(&guard_srv, (request){.method = "POST", .path = "/register", .parts = p, .nparts = 2});
    int ok = r.status == 400 && !strcmp(jstr(r.json, "code"), "bad_parameter") &&
             strstr(jstr(r.json, "error"), "control");
    if (!ok) fprintf(stderr, "  identity #%zu: %ld %s\n", i, r.status, r.body ? r.body : "");
    CHECK(ok);
    resp_free(&r);
  }
  /* other text is stored as given (not NFC-normalised): e + U+0301 */
  CHECK(register_file(&guard_srv, fx("face_a2.png"), "Jose\xcc\x81", NULL) > 0);
  resp r = http(&guard_srv, (request){.method = "GET", .path = "/identities/Jose%CC%81/faces"});
  CHECK(r.status == 200 && jnum(r.json, "total") >= 1);
  resp_free(&r);
  r = http(&guard_srv, (request){.method = "GET", .path = "/identities/Jos%C3%A9/faces"});
  CHECK(r.status == 404); /* the NFC spelling is another name */
  resp_free(&r);
}

/* A raw GET with extra header lines ("Name: value\r\n" each). */
static void expect_get(const char *what, const char *path, const char *headers, const char *want) {
  char req[2048];
  int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\n%s\r\n", path, headers);
  expect_raw(what, req, (size_t)n, 1, want, 1);
}

static void test_foreign_hosts_origins_and_query_posts_are_refused(void) {
  char own[128], hdr[512];
  snprintf(own, sizeof own, "Host: 127.0.0.1:%d\r\n", guard_srv.port);
  /* DNS rebinding: a name that is not ours */
  expect_get("rebound Host", "/identities", "Host: rebind.evil.example\r\n", "HTTP/1.1 421");
  snprintf(hdr, sizeof hdr, "Host: rebind.evil.example:%d\r\nOrigin: http://rebind.evil.example:%d\r\n",
           guard_srv.port, guard_srv.port);
  expect_get("rebound Host and its Origin", "/identities", hdr, "HTTP/1.1 421");
  expect_get("rebound Host, the page", "/", "Host: rebind.evil.example\r\n", "HTTP/1.1 421");
  expect_get("Host 10.1.2.3", "/health", "Host: 10.1.2.3\r\n", "HTTP/1.1 421");
  expect_get("Host localhost", "/identities", "Host: localhost\r\n", "HTTP/1.1 200");
  expect_get("Host [::1]:port", "/identities", "Host: [::1]:8080\r\n", "HTTP/1.1 200");
  expect_get("Host 127.0.0.1", "/identities", own, "HTTP/1.1 200");
  snprintf(hdr, sizeof hdr, "Host: FaceKit.test:%d\r\n", guard_srv.port);
  expect_get("--host-name", "/identities", hdr, "HTTP/1.1 200");
  /* an Origin that is not ours, on reads and writes */
  snprintf(hdr, sizeof hdr, "%sOrigin: http://evil.example\r\n", own);
  expect_get("foreign Origin", "/identities", hdr, "HTTP/1.1 403");
  snprintf(hdr, sizeof hdr, "%sOrigin: null\r\n", own);
  expect_get("Origin null", "/identities", hdr, "HTTP/1.1 403");
  snprintf(hdr, sizeof hdr, "%sOrigin: http://127.0.0.1:%d\r\n", own, guard_srv.port + 1);
  expect_get("Origin on another port", "/identities", hdr, "HTTP/1.1 403");
  snprintf(hdr, sizeof hdr, "%sOrigin: http://127.0.0.1:%d\r\n", own, guard_srv.port);
  expect_get("our own Origin", "/identities", hdr, "HTTP/1.1 200");
  /* an image tag elsewhere sends no Origin, but Sec-Fetch-Site; a link to
   * the page is fine */
  snprintf(hdr, sizeof hdr, "%sSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\n", own);
  expect_get("cross-site image", "/identities", hdr, "HTTP/1.1 403");
  snprintf(hdr, sizeof hdr, "%sSec-Fetch-Site: same-site\r\nSec-Fetch-Mode: no-cors\r\n", own);
  expect_get("same-site, other port", "/identities", hdr, "HTTP/1.1 403");
  snprintf(hdr, sizeof hdr, "%sSec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate\r\n", own);
  expect_get("a link to the page", "/", hdr, "HTTP/1.1 200");
  snprintf(hdr, sizeof hdr, "%sSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\n", own);
  expect_get("the page's own fetch", "/identities", hdr, "HTTP/1.1 200");
  /* a write from elsewhere does nothing */
  char *b64 = file_b64(fx("face_a1.png"));
  size_t cap = strlen(b64) + 1024;
  char *req = malloc(cap + 512);
  char *body = malloc(cap);
  int bn = snprintf(body, cap, "--XyZ\r\nContent-Disposition: form-data; name=\"identity\"\r\n\r\ncsrf\r\n--XyZ\r\n"
                    "Content-Disposition: form-data; name=\"img\"\r\n\r\n%s\r\n--XyZ--\r\n", b64);
  int n = snprintf(req, cap + 512, "POST /register HTTP/1.1\r\n%sOrigin: http://127.0.0.1:%d\r\n"
                   "Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: %d\r\n\r\n%s",
                   own, guard_srv.port + 1, bn, body);
  free(body);
  expect_raw("register from another origin", req, (size_t)n, 1, "HTTP/1.1 403", 1);
  /* POST parameters only from the body: a form's action URL could carry
   * them without one */
  expect_error("query parameters on POST",
               http(&guard_srv, (request){.method = "POST", .path = "/register?identity=csrf&img=AAAA", .raw = "", .raw_len = 0,
                                          .raw_type = "application/x-www-form-urlencoded"}),
               400, "bad_request");
  expect_error("query parameters on POST /find",
               http(&guard_srv, (request){.method = "POST", .path = "/find?k=1", .parts = (part[]){{.name = "img",
                                          .file = fx("face_a1.png")}}, .nparts = 1}),
               400, "bad_request");
  resp r = http(&guard_srv, (request){.method = "GET", .path = "/identities/csrf/faces"});
  CHECK(r.status == 404);
  resp_free(&r);
  free(req);
  free(b64);
}

static void test_cors_headers_only_for_the_cors_origin(void) {
  static char out[65536];
  int closed;
  char req[1024];
  /* the --cors origin's preflight and request */
  int n = snprintf(req, sizeof req, "OPTIONS /register HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: " GUARD_CORS "\r\n"
                   "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\r\n",
                   guard_srv.port);
  raw_http(guard_srv.port, req, (size_t)n, 1, out, sizeof out, 20000, &closed);
  CHECK(!strncmp(out, "HTTP/1.1 204", 12) && strstr(out, "Access-Control-Allow-Origin: " GUARD_CORS "\r\n") &&
        strstr(out, "Access-Control-Allow-Methods: ") && strstr(out, "Content-Type"));
  n = snprintf(req, sizeof req, "GET /identities HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: " GUARD_CORS "\r\n"
               "Sec-Fetch-Site: same-site\r\n\r\n", guard_srv.port);
  raw_http(guard_srv.port, req, (size_t)n, 1, out, sizeof out, 20000, &closed);
  CHECK(!strncmp(out, "HTTP/1.1 200", 12) && strstr(out, "Access-Control-Allow-Origin: " GUARD_CORS "\r\n"));
  /* another origin's preflight is refused, and no CORS header goes to it */
  n = snprintf(req, sizeof req, "OPTIONS /register HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://evil.example\r\n"
               "Access-Control-Request-Method: POST\r\n\r\n", guard_srv.port);
  raw_http(guard_srv.port, req, (size_t)n, 1, out, sizeof out, 20000, &closed);
  CHECK(!strncmp(out, "HTTP/1.1 403", 12) && !strstr(out, "Access-Control-"));
  /* without --cors: never a CORS header, an OPTIONS is a 405 */
  n = snprintf(req, sizeof req, "GET /health HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nOrigin: http://127.0.0.1:%d\r\n\r\n",
               main_srv.port, main_srv.port);
  raw_http(main_srv.port, req, (size_t)n, 1, out, sizeof out, 20000, &closed);
  CHECK(!strncmp(out, "HTTP/1.1 200", 12) && !strstr(out, "Access-Control-"));
  n = snprintf(req, sizeof req, "OPTIONS /register HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1:%d\r\n"
               "Access-Control-Request-Method: POST\r\n\r\n", main_srv.port + 1);
  raw_http(main_srv.port, req, (size_t)n, 1, out, sizeof out, 20000, &closed);
  CHECK(!strncmp(out, "HTTP/1.1 403", 12) && !strstr(out, "Access-Control-"));
}

/* Listening on a wildcard ("::", with keys), any IP address is a Host of
 * the server (none can be rebound); a name still needs --host-name. */
static void test_a_wildcard_listen_takes_any_address_as_host(void) {
  char keys[4300];
  snprintf(keys, sizeof keys, "%s/wild-keys.txt", tmp);
  tu_write_text(keys, "wild-read-key-0123456789 read\n");
  chmod(keys, 0600);
  const char *args[] = {"--listen", "::", "--keys", keys, "--workers", "1", "--quiet", NULL};
  server w;
  if (server_start(&w, args, "wildcard")) {
    CHECK(0);
    return;
  }
  snprintf(w.base, sizeof w.base, "http://[::1]:%d", w.port);
  resp r = http(&w, (request){.method = "GET", .path = "/health", .header = "Host: [2001:db8::1]:8080"});
  CHECK(r.status == 200);
  resp_free(&r);
  r = http(&w, (request){.method = "GET", .path = "/health", .header = "Host: 192.0.2.7"});
  CHECK(r.status == 200);
  resp_free(&r);
  expect_error("a name on a wildcard listen",
               http(&w, (request){.method = "GET", .path = "/health", .header = "Host: rebind.evil.example"}), 421,
               "host_refused");
  CHECK_EQ_INT(server_stop(&w), 0);
}

/* --cors and --host-name refuse what is not an origin or a name. */
static void test_bad_cors_and_host_name_values_are_refused(void) {
  const char *cli = getenv("FK_CLI");
  static const char *const bad[] = {"--cors evil", "--cors http://x.example/path", "--cors '*'",
                                    "--host-name 'a b'", "--host-name ''"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "'%s' serve %s --port 0 2>&1 | grep -q 'is not a\\(n origin\\| host name\\)'",
             cli ? cli : "facekit", bad[i]);
    int st = system(cmd);
    if (st) fprintf(stderr, "  serve %s: not refused with its message\n", bad[i]);
    CHECK_EQ_INT(st, 0);
    snprintf(cmd, sizeof cmd, "'%s' serve %s --port 0 >/dev/null 2>&1", cli ? cli : "facekit", bad[i]);
    st = system(cmd);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 2);
  }
}

/* ---- clear errors and foot-guns ------------------------------------------------------ */

/* A TCP connection to s (plain HTTP), or -1. */
static int raw_connect(const server *s) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
  if (fd >= 0) close(fd);
  return -1;
}

static int raw_send(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

/* What arrives on fd within `seconds` (until the peer closes, or the
 * answer's headers and Content-Length bytes are in): malloc'd, "" if none. */
static char *raw_answer(int fd, double seconds) {
  size_t len = 0, cap = 65536;
  char *b = calloc(1, cap + 1);
  double t0 = tu_now_s();
  while (b && len < cap && tu_now_s() - t0 < seconds) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    ssize_t r = recv(fd, b + len, cap - len, 0);
    if (r <= 0) break;
    len += (size_t)r;
    b[len] = '\0';
    const char *end = strstr(b, "\r\n\r\n"), *cl = strcasestr(b, "\r\nContent-Length:");
    if (end && cl && cl < end && (size_t)(end + 4 - b) + strtoul(cl + 17, NULL, 10) <= len) break;
  }
  return b;
}

/* The status of a raw HTTP answer, 0 if none. */
static int raw_status(const char *a) { return a && !strncmp(a, "HTTP/1.1 ", 9) ? atoi(a + 9) : 0; }

static void test_malformed_base64_is_told_what_is_wrong(void) {
  /* each wrong its own way; none is told it looks like a path */
  static const struct { const char *img, *says; } bad[] = {
      {"notb64!!", "'!' at offset 6"},
      {"QUJD=RA==", "'=' inside"},
      {"QUJDRA===", "3 '='"},
      {"QUJDRA=", "1 '='"},
      {"QUJDR", "cut short"},
      {"QU+D-A==", "URL-safe"},
      {"data:image/png;base64,QU!D", "data: URI's base64"},
      {"DATA:IMAGE/PNG;BASE64,QUJD=RA==", "data: URI's base64"},
      {"data:image/png,QUJD", "only base64 data: URIs"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char json[256];
    snprintf(json, sizeof json, "{\"img\":\"%s\"}", bad[i].img);
    resp r = http(&main_srv, (request){.method = "POST", .path = "/represent", .json = json});
    const char *msg = jstr(r.json, "error");
    int ok = strstr(msg, bad[i].says) && !strstr(msg, "path") && strstr(msg, "base64");
    if (!ok) fprintf(stderr, "  img %s: %s\n", bad[i].img, r.body ? r.body : "");
    CHECK(ok);
    expect_error(bad[i].img, r, 400, "bad_parameter");
  }
  /* accepted: an upper-case data: URI (RFC 2397: case-insensitive), the
   * URL-safe alphabet without padding, and base64 broken into lines */
  char *b64 = file_b64(fx("face_a1.png"));
  size_t n = strlen(b64);
  char *json = malloc(2 * n + 256), *u = malloc(n + 1), *lines = malloc(n + n / 76 + 2);
  size_t k = 0, l = 0;
  for (size_t i = 0; i < n; i++) {
    if (b64[i] != '=') u[k++] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
    lines[l++] = b64[i];
    if (i % 76 == 75) lines[l++] = '\n';
  }
  u[k] = lines[l] = '\0';
  CHECK(strpbrk(b64, "+/") != NULL); /* the URL-safe case differs */
  const char *fmts[] = {"{\"img\":\"DATA:IMAGE/PNG;BASE64,%s\"}", "{\"img\":\"%s\"}", "{\"img\":\"data:image/png;base64,%s\"}"};
  const char *texts[] = {b64, u, NULL};
  for (int i = 0; i < 3; i++) {
    if (texts[i]) {
      sprintf(json, fmts[i], texts[i]);
    } else { /* JSON escapes the line breaks */
      size_t o = (size_t)sprintf(json, "{\"img\":\"data:image/png;base64,");
      for (size_t c = 0; lines[c]; c++) o += (size_t)(lines[c] == '\n' ? sprintf(json + o, "\\n") : sprintf(json + o, "%c", lines[c]));
      sprintf(json + o, "\"}");
    }
    resp r = http(&main_srv, (request){.method = "POST", .path = "/represent", .json = json});
    if (r.status != 200) fprintf(stderr, "  accepted form %d: %ld %.200s\n", i, r.status, r.body ? r.body : "");
    CHECK(r.status == 200 && jlen(r.json, "faces") == 1);
    resp_free(&r);
  }
  free(json);
  free(u);
  free(lines);
  free(b64);
}

static void test_numbers_in_json_must_be_numbers(void) {
  static const char *const bad[] = {"{\"img\":\"AAAA\",\"k\":\"5\"}", "{\"img\":\"AAAA\",\"threshold\":\"0.5\"}",
                                    "{\"img\":\"AAAA\",\"k\":true}"};
  for (int i = 0; i < 3; i++) {
    resp r = http(&main_srv, (request){.method = "POST", .path = "/find", .json = bad[i]});
    CHECK(strstr(jstr(r.json, "error"), i == 1 ? "threshold must be a number" : "k must be an integer") != NULL);
    if (i < 2) CHECK(strstr(jstr(r.json, "error"), "not a string") != NULL);
    expect_error(bad[i], r, 400, "bad_parameter");
  }
  /* a form has only text: its k=5 is a number (POST parameters come from
   * the body only, so not from the query) */
  resp r = http(&main_srv, (request){.method = "POST", .path = "/find",
                                     .parts = (part[]){{.name = "img", .file = fx("face_a1.png")}, {.name = "k", .text = "5"}},
                                     .nparts = 2});
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
}

static void test_cheap_routes_refuse_unknown_parameters(void) {
  static const char *const paths[] = {"/health?x=1", "/ready?x=1", "/metrics?verbose", "/info?x=1"};
  for (int i = 0; i < 4; i++) {
    resp r = http(&main_srv, (request){.method = "GET", .path = paths[i]});
    CHECK(strstr(jstr(r.json, "error"), "unknown parameter") != NULL);
    expect_error(paths[i], r, 400, "unknown_parameter");
  }
  resp r = http(&main_srv, (request){.method = "GET", .path = "/health"});
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
}

/* facekit_requests_total of route and code from s's /metrics; -1 if absent. */
static long requests_of(const server *s, const char *route, const char *code) {
  resp r = http(s, (request){.method = "GET", .path = "/metrics"});
  char line[128];
  snprintf(line, sizeof line, "facekit_requests_total{route=\"%s\",code=\"%s\"} ", route, code);
  const char *g = r.body ? strstr(r.body, line) : NULL;
  long n = g ? atol(g + strlen(line)) : -1;
  resp_free(&r);
  return n;
}

/* After test_internal_failures_are_500_without_internals: its 500 counted
 * as a 500, and a client gone before its answer as a 499. */
static void test_metrics_count_500_and_499_apart(void) {
  CHECK(requests_of(&main_srv, "/register", "500") >= 1);
  long before = requests_of(&main_srv, "/represent", "499");
  int fd = raw_connect(&main_srv);
  CHECK(fd >= 0);
  if (fd < 0) return;
  const char req[] = "POST /represent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     "Content-Length: 100\r\n\r\n{\"img\":";
  CHECK_EQ_INT(raw_send(fd, req, sizeof req - 1), 0);
  /* wait until the server has the request (it is in flight), then hang up */
  tu_wait_until(inflight_of(&main_srv) >= 2, 30, "the half-sent request to be in flight");
  close(fd);
  long after = before;
  tu_wait_until((after = requests_of(&main_srv, "/represent", "499")) > before, 30, "the hang-up counted");
  CHECK_EQ_INT(after, (before < 0 ? 0 : before) + 1);
  CHECK(requests_of(&main_srv, "/register", "other") == -1 && requests_of(&main_srv, "/represent", "other") == -1);
}

/* Server-side paths under --allow-path, in a directory named with base64
 * characters only. */
static void test_allow_path_tells_paths_from_base64(void) {
  char allow_dir[64];
  snprintf(allow_dir, sizeof allow_dir, "/tmp/fkmsg%d", (int)getpid());
  char cmd[256], file[128], missing[128], deep[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s/inbox", allow_dir, allow_dir);
  CHECK_EQ_INT(system(cmd), 0);
  /* names padded to a multiple of four characters: valid base64 as they are */
  snprintf(file, sizeof file, "%s/inbox/face", allow_dir);
  while (strlen(file) % 4) strcat(file, "1");
  snprintf(missing, sizeof missing, "%s/inbox/gone", allow_dir);
  while (strlen(missing) % 4) strcat(missing, "2");
  snprintf(deep, sizeof deep, "%s/inbox/not/here/x.jpg", allow_dir);
  size_t n;
  char *png = tu_read_file(fx("face_a1.png"), &n);
  tu_write_file(file, png, n);
  free(png);
  const char *args[] = {"--allow-path", allow_dir, "--workers", "1", "--quiet", NULL};
  server allow_srv;
  if (server_start(&allow_srv, args, "allow_path")) {
    CHECK(0);
    return;
  }
  char json[512];
  snprintf(json, sizeof json, "{\"img\":\"%s\"}", file);
  resp r = http(&allow_srv, (request){.method = "POST", .path = "/represent", .json = json});
  if (r.status != 200) fprintf(stderr, "  %s: %ld %s\n", file, r.status, r.body ? r.body : "");
  CHECK(r.status == 200 && jlen(r.json, "faces") == 1);
  resp_free(&r);
  /* missing inside the allowed directory: a 404 saying so */
  const char *gone[] = {missing, deep};
  for (int i = 0; i < 2; i++) {
    snprintf(json, sizeof json, "{\"img\":\"%s\"}", gone[i]);
    r = http(&allow_srv, (request){.method = "POST", .path = "/represent", .json = json});
    CHECK(strstr(jstr(r.json, "error"), "no such file") != NULL);
    expect_error(gone[i], r, 404, "not_found");
  }
  /* the directory itself, and a path outside */
  snprintf(json, sizeof json, "{\"img\":\"%s/inbox/\"}", allow_dir);
  r = http(&allow_srv, (request){.method = "POST", .path = "/represent", .json = json});
  CHECK(strstr(jstr(r.json, "error"), "directory") != NULL);
  expect_error("a directory", r, 400, "bad_parameter");
  const char *outside[] = {"{\"img\":\"/etc/passwd\"}", "{\"img\":\"/nonexistent/dir/x.png\"}"};
  for (int i = 0; i < 2; i++) {
    r = http(&allow_srv, (request){.method = "POST", .path = "/represent", .json = outside[i]});
    CHECK(strstr(jstr(r.json, "error"), "not under a directory the server allows") != NULL);
    expect_error(outside[i], r, 400, "path_refused");
  }
  CHECK_EQ_INT(server_stop(&allow_srv), 0);
  snprintf(cmd, sizeof cmd, "rm -rf %s", allow_dir);
  if (system(cmd)) fprintf(stderr, "  cannot remove %s\n", allow_dir);
}

/* A server of its own with args, and a raw connection to it: the socket,
 * or -1 (CHECKed, the server stopped). */
static int start_and_connect(server *s, const char *const *args, const char *name) {
  if (server_start(s, args, name)) {
    CHECK(0);
    return -1;
  }
  int fd = raw_connect(s);
  CHECK(fd >= 0);
  if (fd < 0) server_stop(s);
  return fd;
}

/* A chunked body past --max-body is answered 413 at once, before its end. */
static void test_chunked_body_over_the_limit_is_answered_at_once(void) {
  const char *args[] = {"--workers", "1", "--max-body", "1048576", "--quiet", NULL};
  server s;
  int fd = start_and_connect(&s, args, "max_body");
  if (fd < 0) return;
  const char head[] = "POST /represent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n";
  CHECK_EQ_INT(raw_send(fd, head, sizeof head - 1), 0);
  enum { CHUNK = 65536 };
  char *chunk = malloc(CHUNK + 32);
  int o = sprintf(chunk, "%x\r\n", CHUNK);
  memset(chunk + o, ' ', CHUNK);
  memcpy(chunk + o + CHUNK, "\r\n", 2);
  /* 1.25 MB against a 1 MB limit, and never the last chunk */
  int sent = 0;
  for (int i = 0; i < 20 && raw_send(fd, chunk, (size_t)o + CHUNK + 2) == 0; i++) sent++;
  free(chunk);
  CHECK(sent >= 16);
  char *a = raw_answer(fd, 30);
  CHECK_EQ_INT(raw_status(a), 413);
  CHECK(a && strstr(a, "body_too_large"));
  free(a);
  close(fd);
  resp r = http(&s, (request){.method = "GET", .path = "/health"}); /* still serving */
  CHECK_EQ_INT(r.status, 200);
  resp_free(&r);
  CHECK_EQ_INT(server_stop(&s), 0);
}

/* GET /ready on a new connection: 1 with the answer in *r if it is a 503,
 * else 0 with *r freed and zeroed. */
static int ready_says_503(const server *s, resp *r) {
  *r = http(s, (request){.method = "GET", .path = "/ready"});
  if (r->status == 503) return 1;
  resp_free(r);
  memset(r, 0, sizeof *r);
  return 0;
}

/* SIGTERM with a request in flight: until it is done /ready answers 503,
 * to new connections too; then the request is answered and the server
 * exits 0. */
static void test_ready_says_503_while_draining(void) {
  const char *args[] = {"--workers", "1", "--drain", "60", NULL};
  server s;
  /* a request held in flight: its headers and half its body */
  int fd = start_and_connect(&s, args, "draining");
  if (fd < 0) return;
  char body[200];
  int bn = snprintf(body, sizeof body, "{\"img\":\"AAAA\"}");
  while (bn < (int)sizeof body - 1) body[bn++] = ' ';
  body[bn] = '\0';
  char head[256];
  int hn = snprintf(head, sizeof head, "POST /represent HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                                       "Content-Length: %d\r\n\r\n", bn);
  CHECK_EQ_INT(raw_send(fd, head, (size_t)hn), 0);
  CHECK_EQ_INT(raw_send(fd, body, 50), 0);
  tu_wait_until(inflight_of(&s) >= 2, 30, "the half-sent request to be in flight");
  kill(s.pid, SIGTERM);
  /* a probe sees it, on a new connection, while the request is unfinished */
  resp r = {0};
  tu_wait_until(ready_says_503(&s, &r), 30, "/ready to say 503");
  CHECK(r.status == 503 && r.json && !cJSON_IsTrue(cJSON_GetObjectItem(r.json, "ready")) &&
        !strcmp(jstr(r.json, "reason"), "shutting down"));
  resp_free(&r);
  /* a new request is turned away; the one from before is run */
  expect_error("after SIGTERM", http(&s, (request){.method = "POST", .path = "/represent", .json = "{\"img\":\"AAAA\"}"}),
               503, "shutting_down");
  CHECK_EQ_INT(raw_send(fd, body + 50, (size_t)bn - 50), 0);
  char *a = raw_answer(fd, 60);
  CHECK_EQ_INT(raw_status(a), 415); /* AAAA is no image: its answer, not a 503 */
  free(a);
  close(fd);
  int st = 0;
  waitpid(s.pid, &st, 0);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  char *log = tu_read_file(s.log, NULL);
  CHECK(log && strstr(log, "GET /ready 503") && strstr(log, "stopped"));
  free(log);
}

/* `facekit serve ARGS`, which should fail at start: its exit code (124 if
 * it was still running after 120 s), and the "error" of the JSON line on
 * its stdout into msg ("" if none). */
static int serve_fails(const char *args, char *msg, size_t n) {
  char out[4300], cmd[16384];
  snprintf(out, sizeof out, "%s/serve_fails.out", tmp);
  const char *cli = getenv("FK_CLI");
  snprintf(cmd, sizeof cmd, "timeout 120 '%s' serve --port 0 --workers 1 --quiet %s >'%s' 2>/dev/null </dev/null",
           cli ? cli : "facekit", args, out);
  int code = tu_exit_code(system(cmd));
  char *o = tu_read_file(out, NULL);
  cJSON *j = o ? cJSON_Parse(o) : NULL;
  snprintf(msg, n, "%s", tu_json_str(j, "error"));
  if (!msg[0]) fprintf(stderr, "  serve %s: exit %d, no JSON error; stdout: %s\n", args, code, o ? o : "");
  cJSON_Delete(j);
  free(o);
  return code;
}

static void test_start_up_errors_are_json_and_say_what_is_wrong(void) {
  char msg[1024], args[9000];
  CHECK_EQ_INT(serve_fails("--listen 999.1.1.1", msg, sizeof msg), 1);
  CHECK(strstr(msg, "999.1.1.1 is not an IPv4 or IPv6 address") != NULL);
  CHECK_EQ_INT(serve_fails("--db /nonexistdir/x.db", msg, sizeof msg), 1);
  CHECK(strstr(msg, "/nonexistdir") != NULL);
  /* a TLS key that is not the certificate's: said so, not "in use?" */
  char cert[4300], key[4300], other[4300], cmd[13400];
  snprintf(cert, sizeof cert, "%s/mism_cert.pem", tmp);
  snprintf(key, sizeof key, "%s/mism_key.pem", tmp);
  snprintf(other, sizeof other, "%s/mism_other.pem", tmp);
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey rsa:2048 -nodes -keyout '%s' -out '%s' -days 2 -subj /CN=localhost >/dev/null 2>&1 && "
           "openssl genrsa -out '%s' 2048 >/dev/null 2>&1", key, cert, other);
  if (system(cmd) != 0) {
    fprintf(stderr, "  openssl is missing: the TLS key case is not run\n");
    return;
  }
  snprintf(args, sizeof args, "--tls-cert '%s' --tls-key '%s'", cert, other);
  CHECK_EQ_INT(serve_fails(args, msg, sizeof msg), 1);
  CHECK(strstr(msg, "cannot start HTTPS") && strstr(msg, "do not match") && !strstr(msg, "in use"));
}

/* Settings that would start a server that cannot work, or one whose
 * meaning is a guess, are refused at start. */
static void test_foot_gun_settings_are_refused_at_start(void) {
  char msg[1024], args[9000];
  /* --queue 0 would start and then answer everything 503 */
  CHECK_EQ_INT(serve_fails("--queue 0", msg, sizeof msg), 2);
  CHECK(strstr(msg, "--queue must be an integer in [1,") != NULL);
  /* one key as both read and write */
  char keys[4300];
  snprintf(keys, sizeof keys, "%s/dup_keys.txt", tmp);
  tu_write_text(keys, "same-key-0123456789abcdef read\nother-key-0123456789abcdef read\nsame-key-0123456789abcdef write\n");
  chmod(keys, 0600);
  snprintf(args, sizeof args, "--keys '%s'", keys);
  CHECK_EQ_INT(serve_fails(args, msg, sizeof msg), 1);
  CHECK(strstr(msg, "line 3: this key is listed already (line 1)") != NULL);
}

/* With keys, /ready tells the index's size only to a key's holder. */
static void test_ready_hides_the_face_count_without_a_key(void) {
  char keys[4300], kdb[4300];
  snprintf(keys, sizeof keys, "%s/ready_keys.txt", tmp);
  snprintf(kdb, sizeof kdb, "%s/ready.db", tmp);
  tu_write_text(keys, "ready-read-0123456789abcdef read\n");
  chmod(keys, 0600);
  const char *args[] = {"--keys", keys, "--db", kdb, "--workers", "1", "--quiet", NULL};
  server s;
  if (server_start(&s, args, "ready_keyed")) {
    CHECK(0);
    return;
  }
  resp r = http(&s, (request){.method = "GET", .path = "/ready"});
  CHECK(r.status == 200 && cJSON_IsTrue(cJSON_GetObjectItem(r.json, "ready")) && !cJSON_GetObjectItem(r.json, "faces"));
  resp_free(&r);
  r = http(&s, (request){.method = "GET", .path = "/ready", .header = "Authorization: Bearer not-a-key-of-ours-at-all"});
  CHECK(r.status == 200 && !cJSON_GetObjectItem(r.json, "faces"));
  resp_free(&r);
  r = http(&s, (request){.method = "GET", .path = "/ready", .header = "Authorization: Bearer ready-read-0123456789abcdef"});
  CHECK(r.status == 200 && cJSON_IsNumber(cJSON_GetObjectItem(r.json, "faces")));
  resp_free(&r);
  CHECK_EQ_INT(server_stop(&s), 0);
}

/* ---- registers racing deletes ------------------------------------------------------- */

typedef struct racer {
  const server *s;
  const char *file;
  long status;
  int64_t face;
} racer;

static void *race_register(void *arg) {
  racer *r = arg;
  part p[] = {{.name = "img", .file = r->file}, {.name = "identity", .text = "race"}};
  resp a = http(r->s, (request){.method = "POST", .path = "/register", .parts = p, .nparts = 2});
  r->status = a.status;
  if ((a.status == 201 || a.status == 200) && jlen(a.json, "faces") > 0)
    r->face = (int64_t)jnum(cJSON_GetArrayItem(cJSON_GetObjectItem(a.json, "faces"), 0), "face_id");
  resp_free(&a);
  return NULL;
}

/* The files below dir (not hidden; one level of identity folders), as
 * "IDENTITY/NAME" lines into out; hidden ones counted in *hidden. */
static int list_uploads(const char *dir, char out[][160], int cap, int *hidden) {
  char cmd[4400];
  snprintf(cmd, sizeof cmd, "cd '%s' && find . -mindepth 1 -type f | sed 's|^\\./||' | sort", dir);
  FILE *f = popen(cmd, "r");
  int n = 0;
  char line[150];
  *hidden = 0;
  while (f && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    const char *base = strrchr(line, '/');
    if (line[0] == '.' || (base && base[1] == '.')) {
      if (strcmp(line, ".lock")) (*hidden)++; /* the directory's lock file is no leftover */
      continue;
    }
    if (n < cap) snprintf(out[n++], sizeof out[0], "%s", line);
  }
  if (f) pclose(f);
  return n;
}

typedef struct row_paths {
  char (*p)[160];
  int n, cap;
} row_paths;

/* The last two components of each stored face's image path, once each. */
static int collect_path(const fk_store_face *f, void *user) {
  row_paths *r = user;
  const char *end = f->path + strlen(f->path), *a = end;
  for (int slashes = 0; a > f->path; a--)
    if (a[-1] == '/' && ++slashes == 2) break;
  for (int i = 0; i < r->n; i++)
    if (!strcmp(r->p[i], a)) return 0;
  if (r->n < r->cap) snprintf(r->p[r->n++], sizeof r->p[0], "%.150s", a);
  return 0;
}

static int cmp_line(const void *a, const void *b) { return strcmp(a, b); }

/* The image files of a data directory are exactly those the rows name. */
static void check_files_match_rows(const char *dbfile, const char *dir) {
  static char files[256][160], rows[256][160];
  int hidden, nf = list_uploads(dir, files, 256, &hidden);
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(dbfile, FK_STORE_READ, &st), FK_OK);
  row_paths rp = {rows, 0, 256};
  CHECK_EQ_INT(fk_store_foreach_face(st, collect_path, &rp), FK_OK);
  fk_store_close(st);
  qsort(rows, (size_t)rp.n, sizeof rows[0], cmp_line);
  int same = nf == rp.n;
  for (int i = 0; same && i < nf; i++) same = !strcmp(files[i], rows[i]);
  if (!same || hidden) {
    fprintf(stderr, "  %d files (%d hidden leftovers) for %d image rows:\n", nf, hidden, rp.n);
    for (int i = 0; i < nf; i++) fprintf(stderr, "    file %s\n", files[i]);
    for (int i = 0; i < rp.n; i++) fprintf(stderr, "    row  %s\n", rows[i]);
  }
  CHECK(same);
  CHECK_EQ_INT(hidden, 0);
}

/* issue 19: a register racing a delete of its identity answered 201 while
 * the delete removed the photo it had just stored (the same bytes' path,
 * or the identity's folder). Every acknowledged register keeps its file:
 * its face is either there with its crop, or deleted by a later delete. */
static void race_registers_and_deletes(const char *dbfile, const char *name) {
  enum { ITER = 40 };
  char dir[4300], file[4300];
  snprintf(dir, sizeof dir, "%s/%s_uploads", tmp, name);
  const char *args[] = {"--db", dbfile, "--data-dir", dir, "--workers", "2", "--quiet", NULL};
  server s;
  if (server_start(&s, args, name)) {
    CHECK(0);
    return;
  }
  unsigned seed = 19;
  int acked = 0, kept = 0, deleted_later = 0, missing = 0, deletes = 0;
  for (int i = 0; i < ITER; i++) {
    /* mostly the same bytes (one path, deleted and stored again), now and
     * then a new photo (a file in a folder that is being removed) */
    if (i % 4 == 3) {
      snprintf(file, sizeof file, "%s/race%d.png", tmp, i);
      nudged("face_a1.png", 200 + i, file);
    } else {
      snprintf(file, sizeof file, "%s", fx("face_a1.png"));
    }
    racer r = {.s = &s, .file = file};
    pthread_t th;
    pthread_create(&th, NULL, race_register, &r);
    seed = seed * 1103515245u + 12345u;
    /* the delete 0-250 ms later: the race under test, so a fixed sleep */
    struct timespec d = {0, (long)((seed >> 8) % 251) * 1000000L};
    nanosleep(&d, NULL);
    resp del = http(&s, (request){.method = "DELETE", .path = "/identities/race"});
    CHECK(del.status == 200 || del.status == 404);
    deletes += del.status == 200;
    resp_free(&del);
    pthread_join(th, NULL);
    CHECK(r.status == 201 || r.status == 200);
    if (!r.face) continue;
    acked++;
    char path[64];
    snprintf(path, sizeof path, "/faces/%lld/image", (long long)r.face);
    resp img = http(&s, (request){.method = "GET", .path = path});
    if (img.status == 200) kept++;
    else if (img.status == 404 && !strcmp(jstr(img.json, "code"), "not_found")) deleted_later++;
    else {
      missing++;
      fprintf(stderr, "  iteration %d: face %lld answered %ld, its crop %ld %s\n", i, (long long)r.face, r.status,
              img.status, img.body ? img.body : "");
    }
    resp_free(&img);
  }
  fprintf(stderr, "  %d registers acknowledged: %d kept with their file, %d deleted after; %d files lost; %d deletes\n",
          acked, kept, deleted_later, missing, deletes);
  CHECK_EQ_INT(acked, ITER);
  CHECK_EQ_INT(missing, 0);
  /* a last register, answered with its file */
  int64_t last = register_file(&s, fx("face_a1.png"), "race", NULL);
  char path[64];
  snprintf(path, sizeof path, "/faces/%lld/image", (long long)last);
  resp img = http(&s, (request){.method = "GET", .path = path});
  CHECK(last > 0 && img.status == 200);
  resp_free(&img);
  CHECK_EQ_INT(server_stop(&s), 0);
  check_files_match_rows(dbfile, dir);
}

static void test_registers_racing_deletes_keep_their_files(void) {
  char dbfile[4300];
  snprintf(dbfile, sizeof dbfile, "%s/race.db", tmp);
  race_registers_and_deletes(dbfile, "race_server");
}

/* The same on PostgreSQL (the writer and the data directory are the same
 * code; the database is another). */
static void test_pg_registers_racing_deletes_keep_their_files(void) {
  race_registers_and_deletes(tu_pg_db("race"), "pg_race_server");
}

/* Files a killed server wrote without ever committing their rows (an
 * upload named like one, a temporary file) are removed at the next start,
 * never registered behind the client's back; files with rows, and files
 * not named like uploads, are kept. */
static void test_uploads_without_a_row_are_swept_at_start(void) {
  char dbfile[4300], dir[4300], ghost[4400], tmpf[4400], mine[4400], cmd[30000];
  snprintf(dbfile, sizeof dbfile, "%s/sweep.db", tmp);
  snprintf(dir, sizeof dir, "%s/sweep_uploads", tmp);
  const char *args[] = {"--db", dbfile, "--data-dir", dir, "--workers", "1", "--quiet", NULL};
  server s;
  if (server_start(&s, args, "sweep_server")) {
    CHECK(0);
    return;
  }
  int64_t kept = register_file(&s, fx("face_b1.png"), "kept", NULL);
  CHECK(kept > 0);
  CHECK_EQ_INT(server_stop(&s), 0);
  /* what a kill -9 between the file and the commit leaves */
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/ghost' && cp '%s' '%s/ghost/%s.png' && cp '%s' '%s/kept/%s.png' &&"
           " cp '%s' '%s/ghost/.upload-Ab12Cd' && cp '%s' '%s/ghost/holiday.png'", dir, fx("face_a1.png"), dir,
           "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", fx("face_a2.png"), dir,
           "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210", fx("face_a1.png"), dir,
           fx("face_c1.png"), dir);
  CHECK_EQ_INT(system(cmd), 0);
  snprintf(ghost, sizeof ghost, "%s/ghost/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.png", dir);
  snprintf(tmpf, sizeof tmpf, "%s/ghost/.upload-Ab12Cd", dir);
  snprintf(mine, sizeof mine, "%s/ghost/holiday.png", dir);
  if (server_start(&s, args, "sweep_server2")) {
    CHECK(0);
    return;
  }
  struct stat sb;
  CHECK(stat(ghost, &sb) != 0 && errno == ENOENT);
  CHECK(stat(tmpf, &sb) != 0 && errno == ENOENT);
  CHECK(stat(mine, &sb) == 0); /* not an upload's name: the user's */
  char *log = tu_read_file(s.log, NULL);
  CHECK(log && strstr(log, "3 files"));
  if (log && !strstr(log, "3 files")) fprintf(stderr, "  log: %s\n", log);
  free(log);
  char path[64];
  snprintf(path, sizeof path, "/faces/%lld/image", (long long)kept);
  resp img = http(&s, (request){.method = "GET", .path = path});
  CHECK(img.status == 200);
  resp_free(&img);
  resp ids = http(&s, (request){.method = "GET", .path = "/identities"});
  CHECK(ids.status == 200 && jlen(ids.json, "identities") == 1);
  resp_free(&ids);
  CHECK_EQ_INT(server_stop(&s), 0);
  remove(mine);
  check_files_match_rows(dbfile, dir);
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
    RUN(test_pg_registers_racing_deletes_keep_their_files);
  } else {
    snprintf(db, sizeof db, "%s/index.db", tmp);
    snprintf(data_dir, sizeof data_dir, "%s/uploads", tmp);
    const char *args[] = {"--db", db, "--data-dir", data_dir, "--workers", "2", NULL};
    if (server_start(&main_srv, args, "server")) return 1;
    RUN(test_health_ready_page_and_metrics_answer);
    RUN(test_represent_takes_multipart_and_base64_alike);
    RUN(test_false_means_false_and_other_words_are_refused);
    RUN(test_requests_set_the_table_options);
    RUN(test_bad_parameters_are_named);
    RUN(test_routes_methods_and_media_types_are_checked);
    RUN(test_bodies_over_the_limit_get_413);
    RUN(test_verify_and_analyze_give_the_cli_objects);
    RUN(test_register_find_list_crop_and_delete);
    RUN(test_register_labels_one_face_of_a_group_photo);
    RUN(test_deleted_faces_stay_deleted_when_their_folder_is_indexed_again);
    RUN(test_identities_that_are_not_utf8_are_addressed_escaped);
    RUN(test_internal_failures_are_500_without_internals);
    if (guard_start()) return 1;
    RUN(test_conflicting_framing_gets_400_or_501_and_a_close);
    RUN(test_a_half_closed_request_is_still_answered);
    RUN(test_nul_bytes_in_paths_keys_and_values_are_400);
    RUN(test_identity_names_refuse_controls_and_bidi_overrides);
    RUN(test_foreign_hosts_origins_and_query_posts_are_refused);
    RUN(test_cors_headers_only_for_the_cors_origin);
    RUN(test_a_wildcard_listen_takes_any_address_as_host);
    CHECK_EQ_INT(server_stop(&guard_srv), 0);
    RUN(test_metrics_count_500_and_499_apart);
    RUN(test_malformed_base64_is_told_what_is_wrong);
    RUN(test_numbers_in_json_must_be_numbers);
    RUN(test_cheap_routes_refuse_unknown_parameters);
    RUN(test_eight_clients_register_and_find_at_once);
    RUN(test_sigterm_lets_requests_in_flight_finish_and_keeps_them);
    RUN(test_keys_tls_full_queue_and_no_index);
    RUN(test_non_loopback_without_keys_is_refused);
    RUN(test_bad_cors_and_host_name_values_are_refused);
    RUN(test_allow_path_tells_paths_from_base64);
    RUN(test_chunked_body_over_the_limit_is_answered_at_once);
    RUN(test_ready_says_503_while_draining);
    RUN(test_start_up_errors_are_json_and_say_what_is_wrong);
    RUN(test_foot_gun_settings_are_refused_at_start);
    RUN(test_ready_hides_the_face_count_without_a_key);
    RUN(test_registers_racing_deletes_keep_their_files);
    RUN(test_uploads_without_a_row_are_swept_at_start);
  }
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (tu_fail == 0 && system(cmd)) fprintf(stderr, "cleanup failed\n");
  curl_global_cleanup();
  return tu_summary();
}
