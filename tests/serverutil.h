/*
 * serverutil.h - `facekit serve` as the tests start it: a child process on
 * a free loopback port (--port 0), its ready line read from stdout, its log
 * in a file, stopped with SIGTERM. Include after testutil.h and golden.h.
 */
#ifndef FK_SERVERUTIL_H
#define FK_SERVERUTIL_H

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

typedef struct tu_server {
  pid_t pid;
  int port, tls;
  char base[64], log[4200];
} tu_server;

/* Starts `facekit serve --port 0 ARGS` ($FK_CLI) with its log in
 * DIR/NAME.log and waits for its ready line: 0, or -1 (the log shown). */
static inline int tu_server_start(tu_server *s, const char *dir, const char *const *args, const char *name) {
  memset(s, 0, sizeof *s);
  snprintf(s->log, sizeof s->log, "%s/%s.log", dir, name);
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
static inline int tu_server_stop(tu_server *s) {
  kill(s->pid, SIGTERM);
  int st = 0;
  waitpid(s->pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#endif /* FK_SERVERUTIL_H */
