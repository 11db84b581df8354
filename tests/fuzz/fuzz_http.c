/*
 * fuzz_http.c - fuzz target for the service's request handling: the bytes
 * of one client connection (one or more HTTP requests) through
 * libmicrohttpd into `facekit serve`'s access handler, as in production:
 * routing, API keys, body limits, content types, query arguments,
 * multipart and urlencoded forms (MHD's post processor), JSON bodies,
 * base64 and data: URIs, server-side path refusal, and every endpoint's
 * strict parameter parsing (src/server/http.c, params.c, auth.c,
 * handlers.c). The server runs dry (no models, no index: jobs are parsed on
 * the spot and answered with what was read) on a daemon without a
 * listening socket, handed one end of a socketpair per input
 * (MHD_add_connection, posing as a loopback TCP peer) and driven by MHD_run
 * on this thread, so each input is deterministic. (Real TCP pairs would
 * leave a TIME_WAIT entry per input and run out of ports within a minute.)
 *
 * Input: raw request bytes. Seeds and dictionary: http/. Keys known to the
 * server: "Bearer fuzz-read-key-0123456789" (read) and
 * "X-API-Key: fuzz-write-key-0123456789" (write). Bodies over 64 KiB get
 * 413. Host must be loopback or "facekit.test"; "http://127.0.0.1:9" is
 * the --cors origin. The client always half-closes after its bytes (as
 * shutdown(SHUT_WR) does); the seeds also hold NULs in URLs, JSON and
 * forms, two Content-Lengths, Content-Length with Transfer-Encoding,
 * unknown transfer codings, foreign Hosts and Origins.
 *
 * Checked on every input: the server answers or closes, never crashes;
 * every JSON answer is a JSON object, an error one with both "error" and
 * "code"; once the client has closed, no connection is left. An input is
 * accepted (fuzz_accepted, which the ok-* seeds must
 * reach) when some answer is a 200.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <microhttpd.h>

#include "fuzz.h"
#include "server/server.h"

static srv *S;
static struct MHD_Daemon *D;
static void setup(void) {
  signal(SIGPIPE, SIG_IGN);
  S = calloc(1, sizeof *S);
  FUZZ_CHECK(S);
  srv_config_init(&S->cfg);
  S->cfg.max_body = 65536;
  S->cfg.quiet = 1;
  S->cfg.allow_path[0] = "/nonexistent-fuzz-dir";
  S->cfg.nallow = 1;
  S->cfg.cors = "http://127.0.0.1:9"; /* the CORS paths, and a --host-name */
  S->cfg.host_names[0] = "facekit.test";
  S->cfg.nhost_names = 1;
  S->dry = 1;
  pthread_mutex_init(&S->mu, NULL);
  /* the keys go through the loader, as --keys FILE does */
  char path[] = "/tmp/fuzz-http-keys-XXXXXX", err[256];
  int fd = mkstemp(path);
  FUZZ_CHECK(fd >= 0);
  dprintf(fd, "# fuzz keys\nfuzz-read-key-0123456789 read\nfuzz-write-key-0123456789 write\n");
  close(fd);
  int rc = srv_keys_load(path, &S->keys, err, sizeof err);
  unlink(path);
  FUZZ_CHECK(rc == 0 && S->keys.n == 2);
  D = srv_http_start(S, MHD_USE_NO_LISTEN_SOCKET, err, sizeof err);
  if (!D) fprintf(stderr, "fuzz_http: %s\n", err);
  FUZZ_CHECK(D);
  S->mhd = D;
}

/* Checks each response in out[0..n) and notes a 200. */
static void check_responses(const char *out, size_t n) {
  const char *p = out, *end = out + n;
  while (p < end) {
    const char *line = memmem(p, (size_t)(end - p), "HTTP/1.", 7);
    if (!line) break;
    int status = atoi(line + 9);
    if (status == 200) fuzz_accepted = 1;
    const char *hdr_end = memmem(line, (size_t)(end - line), "\r\n\r\n", 4);
    if (!hdr_end) break;
    const char *len = memmem(line, (size_t)(hdr_end - line), "Content-Length: ", 16);
    size_t body_len = len ? strtoul(len + 16, NULL, 10) : 0;
    const char *body = hdr_end + 4;
    int json = memmem(line, (size_t)(hdr_end - line), "Content-Type: application/json", 30) != NULL;
    if (json && body + body_len <= end) {
      cJSON *o = cJSON_ParseWithLength(body, body_len);
      FUZZ_CHECK(cJSON_IsObject(o));
      if (status >= 400)
        FUZZ_CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "error")) && cJSON_IsString(cJSON_GetObjectItem(o, "code")));
      cJSON_Delete(o);
    }
    p = body + body_len > end ? end : body + body_len;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!D) setup();
  fuzz_accepted = 0;
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return 0;
  struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
  peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (MHD_add_connection(D, sv[1], (struct sockaddr *)&peer, sizeof peer) != MHD_YES) {
    close(sv[0]);
    return 0;
  }
  static char out[1 << 20];
  size_t off = 0, got = 0;
  int writing = 1;
  for (int round = 0; round < 20000; round++) {
    if (writing && off < size) {
      ssize_t w = send(sv[0], data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) off += (size_t)w;
      else if (w < 0 && errno != EAGAIN) writing = 0; /* the server hung up */
    }
    if (writing && off == size) {
      shutdown(sv[0], SHUT_WR);
      writing = 0;
    }
    MHD_run(D);
    ssize_t r = recv(sv[0], out + got, sizeof out - got - 1, MSG_DONTWAIT);
    if (r == 0) break;
    if (r > 0) got += (size_t)r;
    if (got == sizeof out - 1) got = 0; /* keep reading, checks are per response */
  }
  close(sv[0]);
  check_responses(out, got);
  /* Once its client is gone a connection ends, whatever it sent: nothing
   * is left waiting on the handler. */
  const union MHD_DaemonInfo *di = NULL;
  for (int i = 0; i < 100; i++) {
    MHD_run(D);
    di = MHD_get_daemon_info(D, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    if (di && di->num_connections == 0) break;
  }
  FUZZ_CHECK(di && di->num_connections == 0);
  return 0;
}
