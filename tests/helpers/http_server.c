/*
 * http_server.c - a test helper, built only for the tests: serves one file
 * over HTTP on loopback with libmicrohttpd, honouring Range requests (as
 * any web server does for video), so that FFmpeg can seek in it.
 *
 *   fk_http_server FILE PORT     (PORT 0: any free port)
 *
 * Prints the port, then answers every GET with FILE until killed.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

static const char *path;

/* Parses "bytes=A-" or "bytes=A-B" into [*from, *to]; 0 if it fits. */
static int parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to) {
  unsigned long long a, b;
  if (sscanf(h, "bytes=%llu-%llu", &a, &b) == 2) {
    *from = a, *to = b < size ? b : size - 1;
  } else if (sscanf(h, "bytes=%llu-", &a) == 1) {
    *from = a, *to = size - 1;
  } else {
    return -1;
  }
  return *from <= *to && *from < size ? 0 : -1;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **state) {
  (void)cls, (void)url, (void)version, (void)data, (void)size, (void)state;
  if (strcmp(method, "GET") && strcmp(method, "HEAD")) return MHD_NO;
  int fd = open(path, O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) return MHD_NO;
  uint64_t total = (uint64_t)st.st_size, from = 0, to = total ? total - 1 : 0;
  const char *range = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);
  int partial = range && total && parse_range(range, total, &from, &to) == 0;
  struct MHD_Response *r = MHD_create_response_from_fd_at_offset64(partial ? to - from + 1 : total, fd,
                                                                  partial ? from : 0);
  MHD_add_response_header(r, MHD_HTTP_HEADER_ACCEPT_RANGES, "bytes");
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "video/mp4");
  if (partial) {
    char cr[128];
    snprintf(cr, sizeof cr, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, from, to, total);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_RANGE, cr);
  }
  enum MHD_Result ret = MHD_queue_response(c, partial ? MHD_HTTP_PARTIAL_CONTENT : MHD_HTTP_OK, r);
  MHD_destroy_response(r);
  return ret;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: fk_http_server FILE PORT\n");
    return 2;
  }
  path = argv[1];
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)atoi(argv[2]));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, answer, NULL,
                                          MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
  if (!d) {
    fprintf(stderr, "fk_http_server: cannot listen on 127.0.0.1:%s\n", argv[2]);
    return 1;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  printf("%u\n", info ? (unsigned)info->port : 0u);
  fflush(stdout);
  for (;;) pause();
}
