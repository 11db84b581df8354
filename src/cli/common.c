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

const char cli_common_help[] =
    "Pipeline options:\n"
    "  --models DIR           models directory (default $FACEKIT_MODELS or ./models)\n"
    "  --detector ssd|tiny|rfb320|blazeface  face detector (default ssd)\n"
    "  --landmarks face-api|lmk64  the 68-point landmark net (default face-api)\n"
    "  --input-size N         detector input side, a multiple of 32; for ssd the\n"
    "                         default picks 256, 384 or 512 from the image size;\n"
    "                         tiny defaults to 416\n"
    "  --min-score S          drop detections scoring <= S (default 0.5)\n"
    "  --retry-score S        where none scores above the min score, detect again\n"
    "                         at S and keep the best face (default 0.2; S >= the\n"
    "                         min score: no second pass)\n"
    "  --model NAME           recognition model: %s (default %s)\n"
    "  --align auto|5point|dlib|arcface|face-api  recognizer chip alignment\n"
    "                         (default auto: each model's own)\n"
    "  --flip true|false      also embed the mirrored face and average (default true)\n"
    "  --threads N            inference threads (default 1); runs use fewer while\n"
    "                         other work keeps the cores busy\n"
    "  --backend auto|onednn|xnnpack  inference backend (default auto: oneDNN)\n"
    "  --precision auto|f32|bf16  number type of the nets (default auto: the\n"
    "                         fastest this CPU runs natively that keeps LFW\n"
    "                         accuracy; f32 on every CPU measured so far)\n"
    "  --max-pixels N         refuse images with more pixels (default 67108864)\n";

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

int cli_common_parse(cli_common *c, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  static const char *const with_value[] = {"--models", "--detector", "--landmarks", "--input-size",
                                           "--min-score", "--retry-score", "--model", "--align", "--flip",
                                           "--threads", "--max-pixels", "--backend", "--precision"};
  int known = 0;
  for (size_t k = 0; k < sizeof with_value / sizeof *with_value; k++)
    if (!strcmp(a, with_value[k])) known = 1;
  if (!known) return 0;
  if (*i + 1 >= argc) return cli_usage(NULL, "%s needs a value", a), -1;
  const char *v = argv[++*i];
  int iv;
  if (!strcmp(a, "--models")) {
    c->models_dir = v;
  } else if (!strcmp(a, "--detector")) {
    char names[128];
    if ((c->opt.detector = fk_detector_from_name(v)) < 0)
      return fk_names(fk_detector_name, names, sizeof names),
             cli_usage(NULL, "--detector must be one of %s, not '%s'", names, v), -1;
  } else if (!strcmp(a, "--landmarks")) {
    char names[128];
    if ((c->opt.landmarks = fk_landmarks_from_name(v)) < 0)
      return fk_names(fk_landmarks_name, names, sizeof names),
             cli_usage(NULL, "--landmarks must be one of %s, not '%s'", names, v), -1;
  } else if (!strcmp(a, "--model")) {
    if ((c->opt.model = fk_model_from_name(v)) < 0) {
      char names[256];
      fk_names(fk_model_name, names, sizeof names);
      return cli_usage(NULL, "--model must be one of %s, not '%s'", names, v), -1;
    }
  } else if (!strcmp(a, "--input-size")) {
    if (cli_parse_int(v, 64, 2048, &iv) || iv % 32)
      return cli_usage(NULL, "--input-size must be a multiple of 32 in [64, 2048], not '%s'", v), -1;
    c->opt.ssd_input_size = c->opt.tiny_input_size = iv;
  } else if (!strcmp(a, "--min-score")) {
    if (cli_parse_float(v, 0.0, 0.999999, &c->opt.min_score))
      return cli_usage(NULL, "--min-score must be a number in [0, 1), not '%s'", v), -1;
  } else if (!strcmp(a, "--retry-score")) {
    if (cli_parse_float(v, 0.0, 0.999999, &c->opt.retry_score))
      return cli_usage(NULL, "--retry-score must be a number in [0, 1), not '%s'", v), -1;
  } else if (!strcmp(a, "--align")) {
    if ((c->opt.align = fk_align_from_name(v)) < FK_ALIGN_AUTO)
      return cli_usage(NULL, "--align must be auto, 5point, dlib, arcface or face-api, not '%s'", v), -1;
  } else if (!strcmp(a, "--flip")) {
    if (cli_parse_bool(v, &c->opt.flip))
      return cli_usage(NULL, "--flip must be true or false, not '%s'", v), -1;
  } else if (!strcmp(a, "--threads")) {
    if (cli_parse_int(v, 1, 256, &c->opt.threads))
      return cli_usage(NULL, "--threads must be an integer in [1, 256], not '%s'", v), -1;
  } else if (!strcmp(a, "--backend")) {
    int b = fk_backend_from_name(v);
    if (b != FK_BACKEND_AUTO && b != FK_BACKEND_ONEDNN && b != FK_BACKEND_XNNPACK)
      return cli_usage(NULL, "--backend must be auto, onednn or xnnpack, not '%s'", v), -1;
    c->opt.backend = b;
  } else if (!strcmp(a, "--precision")) {
    if ((c->opt.precision = fk_precision_from_name(v)) < 0)
      return cli_usage(NULL, "--precision must be auto, f32 or bf16, not '%s'", v), -1;
  } else if (!strcmp(a, "--max-pixels")) {
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || !*v || n == 0)
      return cli_usage(NULL, "--max-pixels must be a positive integer, not '%s'", v), -1;
    c->opt.max_pixels = (size_t)n;
  }
  return 1;
}

int cli_next_arg(cli_common *c, int argc, char **argv, int *i, const char *help, int *exit_code) {
  *exit_code = CLI_ARGS_END;
  while (++*i < argc) {
    const char *a = argv[*i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(help, stdout);
      char names[256];
      fk_names(fk_model_name, names, sizeof names);
      if (c) printf(cli_common_help, names, fk_model_name(c->opt.model));
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
  char *s = cli_json_text(cJSON_PrintUnformatted(obj));
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

int cli_parse_attribute_model(const char *s, int *out) {
  if (!strcmp(s, "face-api")) *out = FK_ATTR_MODEL_FACEAPI;
  else if (!strcmp(s, "gear")) *out = FK_ATTR_MODEL_GEAR;
  else return -1;
  return 0;
}
