/*
 * serve.c - `facekit serve`: parses the service's command line into an
 * srv_config and runs it (src/server/). The service itself, its routes,
 * threads and limits, is described in src/server/server.h and the README.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "server/server.h"

static const char help[] =
    "usage: facekit serve [--db FILE] [--listen ADDR] [--port N] [--keys FILE] [options]\n"
    "An HTTP service: POST /represent, /verify, /analyze, /find (/search), /register;\n"
    "DELETE /faces/{id}, /identities/{name}; GET /identities, /identities/{name}/faces,\n"
    "/faces/{id}/image, /info, /health, /ready, /metrics, and a web page at /.\n"
    "Prints one JSON line on stdout when it listens; SIGTERM drains and exits 0.\n"
    "  --db FILE            the index /find, /register, the deletes and the listings\n"
    "                       use (made if missing); without it they answer 404\n"
    "  --data-dir DIR       where registered images are kept, as DIR/IDENTITY/SHA256.EXT\n"
    "                       (default FILE.images)\n"
    "  --root DIR           an index built with --root DIR: its relative paths are\n"
    "                       below DIR, for the face crops (default: below the\n"
    "                       working directory)\n"
    "  --listen ADDR        address to bind (default 127.0.0.1; others need --keys)\n"
    "  --port N             port (default 8080; 0 picks a free one)\n"
    "  --keys FILE          API keys, one 'KEY ROLE' a line, role read or write (each\n"
    "                       key once)\n"
    "  --workers N          inference threads, one session each (default: the cores)\n"
    "  --queue N            requests that may wait for a worker (default 64, at least 1);\n"
    "                       more get 503\n"
    "  --io-threads N       HTTP polling threads (default 1)\n"
    "  --max-body BYTES     largest request body (default 16777216)\n"
    "  --max-connections N  open connections (default 1024)\n"
    "  --max-per-ip N       open connections per client address (default 128)\n"
    "  --timeout S          close connections idle for S seconds (default 60)\n"
    "  --conn-memory BYTES  per-connection memory for headers and forms (default 262144)\n"
    "  --allow-path DIR     accept server-side image paths under DIR (repeatable;\n"
    "                       by default paths are refused; URLs always are)\n"
    "  --tls-cert FILE      serve HTTPS with this PEM certificate...\n"
    "  --tls-key FILE       ...and this PEM key\n"
    "  --host-name NAME     a name clients reach the server by, allowed in Host\n"
    "                       (repeatable; loopback names and addresses and the listen\n"
    "                       address always are; any other Host is a 421)\n"
    "  --cors ORIGIN        let web pages of ORIGIN (http://HOST[:PORT]) call the API:\n"
    "                       CORS headers for it; other origins are refused (403)\n"
    "  --drain S            on SIGTERM, wait up to S s for requests (default 30)\n"
    "  --refresh-ms MS      pick up other processes' commits to the index (default 1000)\n"
    "  --quiet              no access log on stderr\n"
    "The pipeline options below are the defaults of represent, verify and analyze,\n"
    "whose requests may set those that `facekit options --markdown` gives a request\n"
    "parameter; /find and /register use the index's.\n\n";

/* A byte count: a positive integer. */
static int parse_size(const char *s, size_t lo, size_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || !*s || s[0] == '-' || v < lo) return -1;
  *out = (size_t)v;
  return 0;
}

int cmd_serve(int argc, char **argv) {
  cli_common c;
  cli_common_init(&c);
  srv_config cfg;
  srv_config_init(&cfg);
  static char allowed[SRV_MAX_ALLOW][PATH_MAX];
  int i = 0, code;
  while (cli_next_arg(&c, argc, argv, &i, help, &code)) {
    const char *a = argv[i];
    if (!strcmp(a, "--quiet")) {
      cfg.quiet = 1;
      continue;
    }
    static const char *const valued[] = {"--db", "--data-dir", "--root", "--listen", "--port", "--keys", "--workers",
                                         "--queue", "--io-threads", "--max-body", "--max-connections", "--max-per-ip",
                                         "--timeout", "--conn-memory", "--allow-path", "--tls-cert", "--tls-key",
                                         "--drain", "--refresh-ms", "--host-name", "--cors"};
    int known = 0;
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) known |= !strcmp(a, valued[k]);
    if (!known) {
      if (cli_is_option(a)) return cli_usage("serve ", "unknown option '%s'", a);
      return cli_usage("serve ", "serve takes no operands, got '%s'", a);
    }
    const char *v = i + 1 < argc ? argv[++i] : NULL;
    if (!v) return cli_usage("serve ", "%s needs a value", a);
    int iv;
    if (!strcmp(a, "--db")) cfg.db = v;
    else if (!strcmp(a, "--data-dir")) cfg.data_dir = v;
    else if (!strcmp(a, "--root")) {
      struct stat sb;
      if (stat(v, &sb) || !S_ISDIR(sb.st_mode)) return cli_usage("serve ", "--root %s is not a directory", v);
      cfg.root = v;
    }
    else if (!strcmp(a, "--listen")) cfg.listen = v;
    else if (!strcmp(a, "--keys")) cfg.keys_file = v;
    else if (!strcmp(a, "--tls-cert")) cfg.tls_cert = v;
    else if (!strcmp(a, "--tls-key")) cfg.tls_key = v;
    else if (!strcmp(a, "--host-name")) {
      size_t n = strlen(v);
      if (cfg.nhost_names == SRV_MAX_ALLOW) return cli_usage("serve ", "at most %d --host-name", SRV_MAX_ALLOW);
      if (n == 0 || n > 253 || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != n)
        return cli_usage("serve ", "--host-name %s is not a host name (letters, digits, '.' and '-')", v);
      cfg.host_names[cfg.nhost_names++] = v;
    } else if (!strcmp(a, "--cors")) {
      const char *h = !strncmp(v, "http://", 7) ? v + 7 : !strncmp(v, "https://", 8) ? v + 8 : NULL;
      size_t n = h ? strlen(h) : 0;
      if (n && h[n - 1] == '/') n--;
      if (!h || n == 0 || memchr(h, '/', n) || strpbrk(v, " \t\r\n*,"))
        return cli_usage("serve ", "--cors %s is not an origin (http://HOST[:PORT] or https://HOST[:PORT])", v);
      cfg.cors = v;
    }
    else if (!strcmp(a, "--allow-path")) {
      struct stat sb;
      if (cfg.nallow == SRV_MAX_ALLOW) return cli_usage("serve ", "at most %d --allow-path", SRV_MAX_ALLOW);
      if (!realpath(v, allowed[cfg.nallow]) || stat(allowed[cfg.nallow], &sb) || !S_ISDIR(sb.st_mode))
        return cli_usage("serve ", "--allow-path %s is not a directory", v);
      cfg.allow_path[cfg.nallow] = allowed[cfg.nallow];
      cfg.nallow++;
    } else if (!strcmp(a, "--max-body")) {
      if (parse_size(v, 1024, &cfg.max_body)) return cli_usage("serve ", "--max-body must be >= 1024 bytes");
    } else if (!strcmp(a, "--conn-memory")) {
      if (parse_size(v, 16384, &cfg.conn_memory)) return cli_usage("serve ", "--conn-memory must be >= 16384");
    } else {
      static const struct { const char *name; int lo, hi; } ints[] = {
          {"--port", 0, 65535}, {"--workers", 1, 256}, {"--queue", 1, 100000}, {"--io-threads", 1, 64},
          {"--max-connections", 1, 1000000}, {"--max-per-ip", 1, 1000000}, {"--timeout", 1, 86400},
          {"--drain", 0, 86400}, {"--refresh-ms", 10, 3600000}};
      int *dst[] = {&cfg.port, &cfg.workers, &cfg.queue, &cfg.io_threads, &cfg.max_connections, &cfg.max_per_ip,
                    &cfg.timeout_s, &cfg.drain_s, &cfg.refresh_ms};
      for (size_t k = 0; k < sizeof ints / sizeof *ints; k++) {
        if (strcmp(a, ints[k].name)) continue;
        if (cli_parse_int(v, ints[k].lo, ints[k].hi, &iv))
          return cli_usage("serve ", "%s must be an integer in [%d, %d], not '%s'", a, ints[k].lo, ints[k].hi, v);
        *dst[k] = iv;
      }
    }
  }
  if (code != CLI_ARGS_END) return code;
  if (!cfg.tls_cert != !cfg.tls_key) return cli_usage("serve ", "--tls-cert and --tls-key go together");
  cfg.models_dir = c.models_dir;
  cfg.opt = c.opt;
  return srv_run(&cfg) ? EXIT_FAIL : EXIT_OK;
}
