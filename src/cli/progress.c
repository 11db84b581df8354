/*
 * progress.c - how the CLI shows a library evaluation running: a progress
 * bar with the rate and time left on stderr when it is a terminal, and one
 * stderr line per image that could not be used.
 */
#include <stdio.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli/cli.h"

typedef struct bar {
  int tty;
  double t0;
} bar;

static bar the_bar; /* the CLI runs one evaluation per process */

static void show(int done, int total, void *user) {
  bar *b = user;
  if (!b->tty || (done % 25 && done != total)) return;
  double el = (fk_now_ms() - b->t0) / 1000.0, rate = done / (el > 0 ? el : 1);
  double eta = rate > 0 ? (total - done) / rate : 0;
  int w = 30, fill = total ? (int)((double)done / total * w) : w;
  fprintf(stderr, "\r[%.*s%*s] %d/%d images  %.1f img/s  ETA %dm%02ds ", fill,
          "##############################", w - fill, "", done, total, rate, (int)eta / 60, (int)eta % 60);
  if (done == total) fputc('\n', stderr);
}

static void image_error(const char *path, const char *message, void *user) {
  (void)user;
  fprintf(stderr, "facekit: %s: %s\n", path, message);
}

int cli_jobs(const fk_eval_options *eo) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return eo->jobs ? eo->jobs : n > 0 ? (int)n : 1;
}

void cli_eval_options_init(fk_eval_options *eo) {
  fk_eval_options_init(eo);
  the_bar = (bar){.tty = isatty(2), .t0 = fk_now_ms()};
  eo->progress = show;
  eo->on_error = image_error;
  eo->user = &the_bar;
}
