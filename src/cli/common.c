/*
 * common.c - the pieces every facekit subcommand shares (see cli.h).
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"

void cli_common_init(cli_common *c) {
  memset(c, 0, sizeof *c);
  fk_options_init(&c->opt);
}

int cli_parse_int(const char *s, int lo, int hi, int *out) {
  if (!s || !*s) return -1;
  errno = 0;
  char *end;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return -1;
  *out = (int)v;
  return 0;
}

int cli_parse_float(const char *s, double lo, double hi, float *out) {
  if (!s || !*s) return -1;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
  *out = (float)v;
  return 0;
}

int cli_parse_bool(const char *s, int *out) {
  if (!s) return -1;
  if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes")) *out = 1;
  else if (!strcmp(s, "false") || !strcmp(s, "0") || !strcmp(s, "no")) *out = 0;
  else return -1;
  return 0;
}

/* The table's option that a spells: --NAME with '-' for '_' (DeepFace's
 * aliases are for requests); NULL if none. */
static const fk_option *table_flag(const char *a) {
  const fk_option *o = strncmp(a, "--", 2) || strchr(a, '_') ? NULL : fk_option_find(a);
  char name[64];
  snprintf(name, sizeof name, "%s", a + 2);
  for (char *ch = name; *ch; ch++)
    if (*ch == '-') *ch = '_';
  return o && !strcmp(name, o->name) ? o : NULL;
}

int cli_common_parse(cli_common *c, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  const fk_option *o = NULL;
  if (c->own && !strcmp(a, c->own)) return 0;
  if (strcmp(a, "--models") && !(o = table_flag(a))) return 0;
  if (*i + 1 >= argc) return cli_usage(NULL, "%s needs a value", a), -1;
  const char *v = argv[++*i];
  char why[512];
  if (!o) c->models_dir = v;
  else if (fk_option_set(&c->opt, o, v, why, sizeof why)) return cli_usage(NULL, "%s %s", a, why), -1;
  return 1;
}

void cli_common_help(const cli_common *c) {
  fputs("Pipeline options:\n"
        "  --models DIR              models directory (default $FACEKIT_MODELS or ./models)\n", stdout);
  fk_api_options_help(stdout, 0, &c->opt);
}

int cli_next_arg(cli_common *c, int argc, char **argv, int *i, const char *help, int *exit_code) {
  *exit_code = CLI_ARGS_END;
  while (++*i < argc) {
    const char *a = argv[*i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(help, stdout);
      if (c) cli_common_help(c);
      *exit_code = EXIT_OK;
      return 0;
    }
    int r = c ? cli_common_parse(c, argc, argv, i) : 0;
    if (r < 0) {
      *exit_code = EXIT_USAGE;
      return 0;
    }
    if (r == 0) return 1;
  }
  return 0;
}

int cli_fprint(FILE *f, cJSON *obj) {
  char *s = fk_json_text(cJSON_PrintUnformatted(obj));
  int rc = -1;
  if (s) {
    rc = fputs(s, f) < 0 || fputc('\n', f) == EOF || fflush(f) != 0 ? -1 : 0;
  }
  cJSON_free(s);
  cJSON_Delete(obj);
  return rc;
}

void cli_print(cJSON *obj) { cli_fprint(stdout, obj); }

static int verror(int code, cJSON *extra, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  fprintf(stderr, "facekit: %s\n", msg);
  cJSON *o = extra ? extra : cJSON_CreateObject();
  cJSON_AddStringToObject(o, "error", msg);
  cli_print(o);
  return code;
}

int cli_error(int code, cJSON *extra, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = verror(code, extra, fmt, ap);
  va_end(ap);
  return rc;
}

int cli_no_face(const char *path) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "path", path);
  return cli_error(EXIT_NOFACE, o, "%s", fk_strerror(FK_ENOFACE));
}

int cli_usage(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(EXIT_USAGE, NULL, fmt, ap);
  va_end(ap);
  fprintf(stderr, "Try 'facekit %s--help'.\n", cmd ? cmd : "");
  return EXIT_USAGE;
}

unsigned cli_detect_nets(const fk_options *opt) {
  return fk_detect_nets(opt);
}

unsigned cli_embed_nets(const fk_options *opt) { return cli_detect_nets(opt) | fk_model_nets(opt->model); }

int cli_open(const cli_common *c, unsigned nets, fk_models **m, fk_session **s) {
  *s = NULL;
  int rc = fk_models_open(c->models_dir, nets, m);
  if (rc) return cli_error(EXIT_FAIL, NULL, "%s", fk_models_errmsg(*m));
  rc = fk_session_new(*m, &c->opt, s);
  if (rc) return cli_error(EXIT_FAIL, NULL, "%s", fk_session_errmsg(*s));
  return EXIT_OK;
}

int cli_load_image(const cli_common *c, const char *path, fk_image *img) {
  int rc = fk_image_load(path, c->opt.max_pixels, img);
  if (rc == FK_OK) return EXIT_OK;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "path", path);
  struct stat sb;
  if (rc == FK_EIO && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
    return cli_error(EXIT_FAIL, o, "%s is a directory: give one image file (`facekit index DIR` takes a folder)", path);
  return cli_error(EXIT_FAIL, o, "%s: %s", path, fk_strerror(rc));
}

static cli_sigwatch *watched;

static void on_signal(int sig) {
  (void)sig;
  cli_sigwatch *w = watched;
  if (!w) return;
  if (w->cancel) _exit(130);
  w->cancel = 1;
  ssize_t n = write(2, w->line, w->len); /* async-signal-safe, unlike stdio */
  (void)n;
}

void cli_sigwatch_start(cli_sigwatch *w, const char *message) {
  memset(w, 0, sizeof *w);
  snprintf(w->line, sizeof w->line, "\nfacekit: %s\n", message);
  w->len = strlen(w->line);
  watched = w;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, &w->old_int);
  sigaction(SIGTERM, &sa, &w->old_term);
}

void cli_sigwatch_stop(cli_sigwatch *w) {
  sigaction(SIGINT, &w->old_int, NULL);
  sigaction(SIGTERM, &w->old_term, NULL);
  watched = NULL;
}

int cli_parse_codes(const char *s) {
  return !strcmp(s, "f32") ? FK_CODES_F32 : !strcmp(s, "int8") ? FK_CODES_INT8 : -1;
}

int cli_search_method(const char *s) {
  return !strcmp(s, "exact") ? FK_SEARCH_EXACT : !strcmp(s, "ann") ? FK_SEARCH_ANN : !strcmp(s, "auto") ? FK_SEARCH_AUTO : -1;
}
