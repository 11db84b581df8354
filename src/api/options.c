/*
 * options.c - the option table (facekit_core.h, "the options by name") as
 * text: the pipeline part of every command's --help, and the README's
 * option list (`facekit options --markdown`; test_api checks that the
 * README holds what this prints).
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"

/* "(VALUES; default D)" of a row. */
static void values_and_default(const fk_option *d, const fk_options *o, char *buf, size_t size) {
  char values[256], def[64];
  fk_option_values(d, values, sizeof values);
  fk_option_get(o, d, def, sizeof def);
  snprintf(buf, size, "(%.200s; default %.60s)", values, def);
}

/* Writes text to f from column col, folding at word boundaries before 80
 * columns onto lines indented by indent. */
static void fold(FILE *f, const char *text, int col, int indent) {
  const char *w = text;
  while (*w) {
    size_t n = strcspn(w, " ");
    if (col > indent && col + 1 + (int)n > 79) {
      fprintf(f, "\n%*s", indent, "");
      col = indent;
    } else if (col > indent) {
      fputc(' ', f);
      col++;
    }
    fprintf(f, "%.*s", (int)n, w);
    col += (int)n;
    w += n;
    while (*w == ' ') w++;
  }
  fputc('\n', f);
}

void fk_api_options_help(FILE *f, unsigned any, const fk_options *d) {
  fk_options defaults;
  if (!d) fk_options_init(&defaults), d = &defaults;
  const fk_option *o;
  for (int i = 0; (o = fk_option_at(i)); i++) {
    if (any && !(o->flags & any)) continue;
    char flag[64], text[768], vd[320];
    snprintf(flag, sizeof flag, "--%s", o->name);
    for (char *c = flag; *c; c++)
      if (*c == '_') *c = '-';
    values_and_default(o, d, vd, sizeof vd);
    snprintf(text, sizeof text, "%s %s", o->help, vd);
    int col = fprintf(f, "  %s %s", flag, o->arg);
    if (col > 24) fprintf(f, "\n%*s", 26, ""), col = 26;
    else col += fprintf(f, "%*s", 26 - col, "");
    fold(f, text, col, 26);
  }
}

void fk_api_options_markdown(FILE *f) {
  fk_options d;
  fk_options_init(&d);
  fputs("| command line | request parameter | values | default | recorded by an index | what it sets |\n"
        "|---|---|---|---|---|---|\n", f);
  const fk_option *o;
  for (int i = 0; (o = fk_option_at(i)); i++) {
    char flag[64], values[256], def[64], req[96];
    snprintf(flag, sizeof flag, "--%s", o->name);
    for (char *c = flag; *c; c++)
      if (*c == '_') *c = '-';
    fk_option_values(o, values, sizeof values);
    fk_option_get(&d, o, def, sizeof def);
    if (!(o->flags & FK_OPT_REQUEST)) snprintf(req, sizeof req, "(serve's command line)");
    else if (o->alias) snprintf(req, sizeof req, "`%s` or `%s`", o->name, o->alias);
    else snprintf(req, sizeof req, "`%s`", o->name);
    fprintf(f, "| `%s %s` | %s | %s | %s | %s | %s |\n", flag, o->arg, req, values, def,
            o->flags & FK_OPT_EMBED ? "yes, checked by find" : o->flags & FK_OPT_DETECT ? "yes" : "no", o->help);
  }
}
