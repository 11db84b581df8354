/*
 * export.c - `facekit export --db INDEX --format npy|jsonl|opensearch`: the
 * index's embeddings with their paths, boxes and identities, for numpy /
 * faiss (npy: the matrix, plus a .meta.jsonl with one line per row) or for
 * OpenSearch's _bulk API. Rows are in face-id order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char help[] =
    "usage: facekit export [--db INDEX] --format npy|jsonl|opensearch [--out FILE] [--dtype f32|int8]\n"
    "Writes every face of the index, in face-id order; embeddings are L2-normalized\n"
    "(\"norm\" holds the raw length), or their int8 codes with --dtype int8.\n"
    "  --format npy         OUT gets a [faces, dim] float32 (or int8) matrix and\n"
    "                       OUT without .npy + .meta.jsonl one JSON line per row\n"
    "                       (id, path, identity, box, ...); needs --out\n"
    "  --format jsonl       one JSON object per face, embedding included\n"
    "  --format opensearch  the same as _bulk API lines (an index action per face)\n"
    "  --index-name NAME    the OpenSearch index (default faces)\n"
    "  --out FILE           where to write (default: stdout for jsonl / opensearch;\n"
    "                       the summary then goes to stderr)\n"
    "  --db INDEX           the index: a SQLite file (default facekit.db) or postgresql://...\n\n";

enum { F_NPY, F_JSONL, F_BULK };

typedef struct exporter {
  FILE *data, *meta;  /* meta: npy's .meta.jsonl */
  int format, int8;
  int dim;            /* the index's embedding width */
  const char *index_name;
  int64_t rows;
} exporter;

/* A JSON string; bytes that are not valid UTF-8 are escaped as
 * fk_text_escape says (a path maps back to its file). */
static void json_str(FILE *f, const char *str) {
  char s[4 * 4096 + 1];
  fk_text_escape(str, s, sizeof s);
  fputc('"', f);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
    else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
    else fputc(*p, f);
  }
  fputc('"', f);
}

/* The fields every format shares, without the braces. */
static void face_fields(FILE *f, const fk_store_face *x) {
  fprintf(f, "\"id\":%lld,\"image_id\":%lld,\"path\":", (long long)x->id, (long long)x->image_id);
  json_str(f, x->path);
  fputs(",\"identity\":", f);
  if (x->identity[0]) json_str(f, x->identity);
  else fputs("null", f);
  fprintf(f, ",\"box\":{\"x\":%.9g,\"y\":%.9g,\"w\":%.9g,\"h\":%.9g},\"score\":%.9g,\"index\":%d,"
             "\"central\":%s,\"norm\":%.9g,\"model\":",
          x->box.x, x->box.y, x->box.w, x->box.h, x->score, x->index, x->central ? "true" : "false", x->norm);
  json_str(f, x->model);
  fprintf(f, ",\"dim\":%d", x->dim);
}

static void embedding(FILE *f, const fk_store_face *x, int int8) {
  fputs(",\"embedding\":[", f);
  for (int i = 0; i < x->dim; i++) {
    if (int8) fprintf(f, i ? ",%d" : "%d", x->code[i]);
    else fprintf(f, i ? ",%.9g" : "%.9g", x->embedding[i]);
  }
  fputc(']', f);
}

static int write_face(const fk_store_face *x, void *user) {
  exporter *e = user;
  if (e->format == F_NPY) {
    if (x->dim != e->dim) return FK_ECORRUPT;
    size_t n = e->int8 ? fwrite(x->code, 1, (size_t)x->dim, e->data)
                       : fwrite(x->embedding, sizeof(float), (size_t)x->dim, e->data);
    if (n != (size_t)x->dim) return FK_EIO;
    fputc('{', e->meta);
    fprintf(e->meta, "\"row\":%lld,", (long long)e->rows);
    face_fields(e->meta, x);
    fputs("}\n", e->meta);
  } else {
    if (e->format == F_BULK) {
      fputs("{\"index\":{\"_index\":", e->data);
      json_str(e->data, e->index_name);
      fprintf(e->data, ",\"_id\":\"%lld\"}}\n", (long long)x->id);
    }
    fputc('{', e->data);
    face_fields(e->data, x);
    embedding(e->data, x, e->int8);
    fputs("}\n", e->data);
  }
  e->rows++;
  return ferror(e->data) || (e->meta && ferror(e->meta)) ? FK_EIO : FK_OK;
}

/* npy v1.0 header for a [rows, dim] matrix, padded to 128 bytes so it can
 * be rewritten in place once the row count is known. */
static int npy_header(FILE *f, int64_t rows, int dim, int int8) {
  char h[128], dict[118];
  int dn = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%lld, %d), }",
                    int8 ? "|i1" : "<f4", (long long)rows, dim);
  if (dn < 0 || dn >= (int)sizeof dict) return FK_EINVAL;
  memcpy(h, "\x93NUMPY\x01\x00", 8); /* magic, version 1.0 */
  h[8] = (char)(sizeof h - 10);        /* header length, little-endian u16 */
  h[9] = 0;
  memset(h + 10, ' ', sizeof h - 10);
  memcpy(h + 10, dict, (size_t)dn);
  h[sizeof h - 1] = '\n';
  return fwrite(h, 1, sizeof h, f) == sizeof h ? FK_OK : FK_EIO;
}

/* OUT.npy -> OUT.meta.jsonl */
static void meta_path(const char *out, char *buf, size_t n) {
  size_t len = strlen(out);
  if (len > 4 && !strcmp(out + len - 4, ".npy")) len -= 4;
  snprintf(buf, n, "%.*s.meta.jsonl", (int)len, out);
}

static int run_export(fk_store *st, exporter *e, const char *out, char *meta_file, size_t meta_n) {
  if (e->format == F_NPY) {
    meta_path(out, meta_file, meta_n);
    if (!(e->meta = fopen(meta_file, "w"))) return cli_error(EXIT_FAIL, NULL, "%s: cannot write", meta_file);
    if (npy_header(e->data, 0, e->dim, e->int8)) return cli_error(EXIT_FAIL, NULL, "%s: write failed", out);
  }
  int rc = fk_store_foreach_face(st, write_face, e);
  if (rc == FK_EIO) return cli_error(EXIT_FAIL, NULL, "%s: write failed", out ? out : "stdout");
  if (rc == FK_ECORRUPT) return cli_error(EXIT_FAIL, NULL, "the index holds embeddings of another width than %d", e->dim);
  if (rc) return cli_error(EXIT_FAIL, NULL, "%s", fk_store_errmsg(st));
  if (e->format == F_NPY && (fseek(e->data, 0, SEEK_SET) || npy_header(e->data, e->rows, e->dim, e->int8)))
    return cli_error(EXIT_FAIL, NULL, "%s: write failed", out);
  return EXIT_OK;
}

int cmd_export(int argc, char **argv) {
  const char *db = "facekit.db", *out = NULL, *format = NULL;
  exporter e = {.index_name = "faces"};
  int i = 0, code;
  while (cli_next_arg(NULL, argc, argv, &i, help, &code)) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strncmp(a, "--", 2)) return cli_usage("export ", "unexpected argument '%s'", a);
    if (!v) return cli_usage("export ", "%s needs a value", a);
    i++;
    if (!strcmp(a, "--db")) db = v;
    else if (!strcmp(a, "--out")) out = v;
    else if (!strcmp(a, "--index-name")) e.index_name = v;
    else if (!strcmp(a, "--format")) format = v;
    else if (!strcmp(a, "--dtype")) {
      if (strcmp(v, "f32") && strcmp(v, "int8")) return cli_usage("export ", "--dtype must be f32 or int8");
      e.int8 = !strcmp(v, "int8");
    } else {
      return cli_usage("export ", "unknown option '%s'", a);
    }
  }
  if (code != CLI_ARGS_END) return code;
  if (!format) return cli_usage("export ", "--format npy|jsonl|opensearch is required");
  if (!strcmp(format, "npy")) e.format = F_NPY;
  else if (!strcmp(format, "jsonl")) e.format = F_JSONL;
  else if (!strcmp(format, "opensearch")) e.format = F_BULK;
  else return cli_usage("export ", "--format must be npy, jsonl or opensearch, not '%s'", format);
  if (e.format == F_NPY && !out) return cli_usage("export ", "--format npy needs --out FILE.npy");
  fk_store *st = NULL;
  int rc = EXIT_FAIL;
  char meta_file[4200] = "";
  fk_store_info info;
  if (fk_store_open(db, FK_STORE_READ, &st) || fk_store_get_info(st, &info)) {
    rc = cli_error(EXIT_FAIL, NULL, "%s", fk_store_errmsg(st));
    goto out;
  }
  e.dim = info.dim;
  e.data = out ? fopen(out, e.format == F_NPY ? "wb" : "w") : stdout;
  if (!e.data) {
    rc = cli_error(EXIT_FAIL, NULL, "%s: cannot write", out);
    goto out;
  }
  rc = run_export(st, &e, out, meta_file, sizeof meta_file);
  if (out && fclose(e.data) != 0 && rc == EXIT_OK) rc = cli_error(EXIT_FAIL, NULL, "%s: write failed", out);
  if (!out) fflush(stdout);
  if (e.meta && fclose(e.meta) != 0 && rc == EXIT_OK) rc = cli_error(EXIT_FAIL, NULL, "%s: write failed", meta_file);
  if (rc == EXIT_OK) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "format", format);
    cJSON_AddStringToObject(o, "dtype", e.int8 ? "int8" : "f32");
    cJSON_AddNumberToObject(o, "faces", (double)e.rows);
    cJSON_AddNumberToObject(o, "dim", e.dim);
    cJSON_AddStringToObject(o, "model", info.has_model ? info.model : "");
    cJSON_AddStringToObject(o, "out", out ? out : "-");
    if (meta_file[0]) cJSON_AddStringToObject(o, "meta", meta_file);
    if (out) {
      cli_print(o);
    } else { /* stdout holds the data */
      char *s = cJSON_PrintUnformatted(o);
      if (s) fprintf(stderr, "%s\n", s);
      cJSON_free(s);
      cJSON_Delete(o);
    }
  } else if (out) {
    remove(out);
    if (meta_file[0]) remove(meta_file);
  }
out:
  fk_store_close(st);
  return rc;
}
