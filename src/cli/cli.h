/*
 * cli.h - what the facekit subcommands share: the pipeline options every
 * command accepts, JSON output (one object on stdout), exit codes and error
 * reporting. Each subcommand lives in its own file and only parses its
 * arguments, calls the library and prints.
 */
#ifndef FK_CLI_H
#define FK_CLI_H

#include <signal.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "api/api.h"
#include "facekit.h"

/* Exit codes. */
enum {
  EXIT_OK = 0,
  EXIT_FAIL = 1,    /* bad input file, missing models, internal error */
  EXIT_USAGE = 2,   /* bad command line */
  EXIT_NOFACE = 3,  /* no face detected where one was required */
};

/* Options shared by every command that runs the pipeline. */
typedef struct cli_common {
  const char *models_dir; /* NULL: $FACEKIT_MODELS or ./models */
  fk_options opt;
  const char *own;        /* a table option's flag the command reads itself
                             (eval gender's --attribute-model, which takes
                             "both"), or NULL */
} cli_common;

void cli_common_init(cli_common *c);

/* If argv[*i] is a shared option, consumes it (and its value) and returns 1;
 * returns 0 if it is not one; returns -1 after printing a usage error. */
int cli_common_parse(cli_common *c, int argc, char **argv, int *i);

/* Prints the shared options' help, with c's values as the defaults. */
void cli_common_help(const cli_common *c);

/* Walks a subcommand's arguments, doing what every subcommand does: --help
 * or -h prints help (followed, with c, by cli_common_help) and exits 0; with
 * c, shared options are parsed into c (a bad one exits 2). With c NULL the
 * shared options are left to the command, which rejects them.
 * *i is the index of the argument last dealt with: start at 0 (the command's
 * name). Returns 1 with *i at the next argument the command parses itself
 * (it may consume values with argv[++*i]); returns 0 when parsing is over,
 * with *exit_code CLI_ARGS_END if the arguments are used up, else the code
 * the command must exit with. The loop:
 *   int i = 0, code;
 *   while (cli_next_arg(&c, argc, argv, &i, help, &code)) { ...argv[i]... }
 *   if (code != CLI_ARGS_END) return code;
 */
enum { CLI_ARGS_END = -1 };
int cli_next_arg(cli_common *c, int argc, char **argv, int *i, const char *help, int *exit_code);

/* Whether a is an option ("-x"); "-" alone is an operand. */
static inline int cli_is_option(const char *a) { return a[0] == '-' && a[1]; }

/* The nets detection needs with these options: the detector and landmarks;
 * and those embedding needs as well: the model's recognizers. */
unsigned cli_detect_nets(const fk_options *opt);
unsigned cli_embed_nets(const fk_options *opt);

/* Opens the models and one session; on failure prints the error JSON and
 * returns the exit code (else EXIT_OK). */
int cli_open(const cli_common *c, unsigned nets, fk_models **m, fk_session **s);

/* Loads an image with the session's pixel limit; on failure prints the error
 * and returns the exit code. */
int cli_load_image(const cli_common *c, const char *path, fk_image *img);

/* Prints {"error": msg, ...extra} to stdout and msg to stderr; returns code. */
int cli_error(int code, cJSON *extra, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The no-face result every single-image command gives: {"error":"no face
 * detected","path":path}; returns EXIT_NOFACE. */
int cli_no_face(const char *path);
/* Usage error: message on stderr plus the JSON error; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints obj as one line of JSON to stdout and frees it. */
void cli_print(cJSON *obj);
/* The same to f, flushed; -1 if the write failed. */
int cli_fprint(FILE *f, cJSON *obj);

/* Parses numbers and choices strictly; return 0 on success. */
int cli_parse_int(const char *s, int lo, int hi, int *out);
int cli_parse_float(const char *s, double lo, double hi, float *out);
int cli_parse_bool(const char *s, int *out);

/* Ctrl-C and SIGTERM while a long command runs: the first sets `cancel`
 * (for fk_index_options.cancel and the like) and prints message on stderr;
 * a second exits at once with status 130. A handler, not a blocked mask,
 * so that it works whichever thread the signal lands on (libraries start
 * threads of their own, e.g. OpenBLAS under FFmpeg). One at a time. */
typedef struct cli_sigwatch {
  volatile int cancel;
  char line[256];
  size_t len;
  struct sigaction old_int, old_term;
} cli_sigwatch;

void cli_sigwatch_start(cli_sigwatch *w, const char *message);
void cli_sigwatch_stop(cli_sigwatch *w);

/* Monotonic milliseconds. */
double fk_now_ms(void);

/* Evaluation options with the CLI's progress bar (on a TTY) and per-image
 * error lines on stderr; jobs 0 (all cores). */
void cli_eval_options_init(fk_eval_options *eo);
/* The worker threads such options run: jobs, or the core count. */
int cli_jobs(const fk_eval_options *eo);

/* "f32" | "int8" -> FK_CODES_*; -1 if neither. */
int cli_parse_codes(const char *s);
/* "exact" | "ann" | "auto" -> FK_SEARCH_*; -1 if none. */
int cli_search_method(const char *s);

/* Subcommands. */
int cmd_detect(int argc, char **argv);
int cmd_represent(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_eval_retrieval(int argc, char **argv); /* `eval retrieval`, from cmd_eval */
int cmd_eval_cluster(int argc, char **argv);   /* `eval cluster`, from cmd_eval */
int cmd_index(int argc, char **argv);
int cmd_find(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_eval_gender(int argc, char **argv);  /* `eval gender`, from cmd_eval */
int cmd_stream(int argc, char **argv);  /* the facekit-stream program (stream.c) */
int cmd_serve(int argc, char **argv);
int cmd_options(int argc, char **argv);

#endif /* FK_CLI_H */
