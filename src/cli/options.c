/*
 * options.c - `facekit options`: the pipeline options every command takes
 * (the library's option table), as help or as the README's Markdown list.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const char help[] =
    "usage: facekit options [--markdown]\n"
    "Prints the pipeline options every command takes, their values and defaults;\n"
    "with --markdown, as the table in the README.\n";

int cmd_options(int argc, char **argv) {
  int markdown = 0, i = 0, code;
  while (cli_next_arg(NULL, argc, argv, &i, help, &code)) {
    if (strcmp(argv[i], "--markdown")) return cli_usage("options ", "unknown argument '%s'", argv[i]);
    markdown = 1;
  }
  if (code != CLI_ARGS_END) return code;
  if (markdown) {
    fk_api_options_markdown(stdout);
  } else {
    cli_common c;
    cli_common_init(&c);
    cli_common_help(&c);
  }
  return fflush(stdout) ? EXIT_FAIL : EXIT_OK;
}
