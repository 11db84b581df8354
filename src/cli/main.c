/*
 * main.c - the facekit command: dispatches to one subcommand per file.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/fpenv.h"
#include "cli/cli.h"

#ifdef FK_WITH_VIDEO
/* `facekit stream` runs the facekit-stream program installed next to this
 * one (stream.c): only it links FFmpeg, whose two hundred shared libraries
 * would otherwise add a quarter of a second to the start of every command. */
static int exec_stream(int argc, char **argv) {
  (void)argc;
  char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
  char *slash = n > 0 ? memrchr(path, '/', (size_t)n) : NULL;
  if (!slash) return cli_error(EXIT_FAIL, NULL, "cannot find facekit-stream: %s", strerror(errno));
  strcpy(slash + 1, "facekit-stream");
  argv[0] = "facekit-stream";
  execv(path, argv);
  return cli_error(EXIT_FAIL, NULL, "cannot run %s: %s", path, strerror(errno));
}
#else
/* A build without FFmpeg (FK_WITH_VIDEO=OFF) has no facekit-stream. */
static int exec_stream(int argc, char **argv) {
  (void)argc, (void)argv;
  return cli_error(EXIT_FAIL, NULL, "the stream command is not available: this facekit was built without "
                   "video (FFmpeg, FK_WITH_VIDEO=OFF)");
}
#endif

#ifndef FK_WITH_SERVER
/* A build without libmicrohttpd (FK_WITH_SERVER=OFF) has no serve.c. */
int cmd_serve(int argc, char **argv) {
  (void)argc, (void)argv;
  return cli_error(EXIT_FAIL, NULL, "the serve command is not available: this facekit was built without "
                   "the HTTP server (FK_WITH_SERVER=OFF)");
}
#endif

static const struct {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *what;
} commands[] = {
    {"detect", cmd_detect, "find faces and their 68 landmarks"},
    {"represent", cmd_represent, "embeddings of the faces in an image"},
    {"verify", cmd_verify, "are the largest faces of two images the same person?"},
    {"analyze", cmd_analyze, "age, gender, emotion and race of every face"},
    {"eval", cmd_eval, "accuracy on a benchmark (eval lfw, eval retrieval, eval gender)"},
    {"index", cmd_index, "index every face of a photo folder into an index (SQLite or PostgreSQL)"},
    {"find", cmd_find, "search an index for the faces most like the one in an image"},
    {"export", cmd_export, "write an index's embeddings as npy, jsonl or OpenSearch bulk"},
    {"stream", exec_stream, "track and identify the faces of a video, a stream or a webcam"},
    {"serve", cmd_serve, "an HTTP service: represent, verify, analyze, find, register"},
    {"options", cmd_options, "the pipeline options every command takes"},
};

static void usage(FILE *f) {
  fprintf(f, "usage: facekit COMMAND [ARGS]   (facekit COMMAND --help for details)\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
  fprintf(f, "\nOutput is one JSON object on stdout (stream: one per event, JSON Lines).\n"
             "Exit codes: 0 ok, 1 error, 2 bad command line, 3 no face detected.\n");
}

int main(int argc, char **argv) {
  /* The process is ours: its main thread (stream's analysis, and every
   * command's) flushes denormals throughout, as the library's own threads
   * do (base/fpenv.h), and threads it starts inherit the mode. */
  fk_fpenv_set(1);
  if (argc < 2) {
    usage(stderr);
    return cli_error(EXIT_USAGE, NULL, "no command given");
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return EXIT_OK;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("facekit %s\n", FK_VERSION);
    return EXIT_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  usage(stderr);
  return cli_error(EXIT_USAGE, NULL, "unknown command '%s'", argv[1]);
}
