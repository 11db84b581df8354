/*
 * find_report.c - `facekit find --html / --sheet`: the query face and its
 * ranked matches as a self-contained web page (thumbnails inline as PNG
 * data: URIs, no external files) or as one contact-sheet PNG with labels in
 * the built-in font. A matched image that can no longer be read gets a grey
 * "missing" tile, and a line on stderr, rather than failing the command.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/find_report.h"
#include "image/compose.h"

#define HTML_THUMB 160
#define SHEET_THUMB 112
#define SHEET_COLS 5
#define SHEET_MAX 50 /* tiles per query on a sheet; the JSON has them all */
#define MARGIN 0.25f

static const uint8_t WHITE[3] = {255, 255, 255}, INK[3] = {31, 35, 40}, MUTE[3] = {101, 109, 118},
                     BG[3] = {246, 247, 249}, LINE[3] = {208, 215, 222}, OK[3] = {26, 127, 55},
                     NO[3] = {180, 35, 24}, TRACK[3] = {234, 238, 242}, ACCENT[3] = {9, 105, 218};

/* The thumbnail of one face of the image at the stored path, below
 * r->root when relative and a root was given (loaded again for each call:
 * results rarely share images, and k is small). */
static int thumb_of(const find_report *r, const char *path, fk_box box, int size, fk_image *out) {
  char full[8192];
  fk_image img = {0};
  int rc = fk_store_path_below(r->root, path, full, sizeof full);
  if (rc == FK_OK) path = full, rc = fk_image_load(path, r->max_pixels, &img);
  if (rc == FK_OK) rc = fk_face_thumbnail(&img, box, MARGIN, size, out);
  fk_image_free(&img);
  if (rc == FK_OK) return FK_OK;
  fprintf(stderr, "facekit: %s: %s; its tile says \"missing\"%s\n", path, fk_strerror(rc),
          path[0] != '/' && !r->root ? " (for an index built with --root, give find the same --root)" : "");
  static const uint8_t GREY[3] = {200, 200, 200};
  if ((rc = fk_canvas_new(size, size, GREY, out))) return rc;
  fk_draw_text(out, (size - fk_text_width("missing")) / 2, size / 2 - FK_FONT_H / 2, "missing", MUTE, 0);
  return FK_OK;
}

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

static const char *label_of(const fk_api_hit *h) { return h->face.identity[0] ? h->face.identity : "(no identity)"; }

/* ---- HTML ------------------------------------------------------------------ */

static void html_text(FILE *f, const char *s) {
  for (; *s; s++) {
    switch (*s) {
      case '&': fputs("&amp;", f); break;
      case '<': fputs("&lt;", f); break;
      case '>': fputs("&gt;", f); break;
      case '"': fputs("&quot;", f); break;
      default: fputc(*s, f);
    }
  }
}

static const char css[] =
    ":root{--ok:#1a7f37;--no:#b42318;--ink:#1f2328;--mute:#656d76;--line:#d0d7de}"
    "*{box-sizing:border-box}"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
    "background:#f6f7f9;color:var(--ink)}"
    "section{padding:24px 32px;border-bottom:1px solid var(--line)}"
    ".query{display:flex;gap:24px;align-items:center;background:#fff;padding:20px 32px;"
    "border-bottom:1px solid var(--line)}"
    ".query img{width:160px;height:160px;border-radius:10px;box-shadow:0 0 0 3px #0969da}"
    "h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:0 0 4px}"
    ".meta{color:var(--mute);margin:2px 0}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:16px;margin-top:16px}"
    ".card{position:relative;background:#fff;border:1px solid var(--line);border-radius:10px;overflow:hidden;"
    "box-shadow:0 1px 2px rgba(31,35,40,.06)}"
    ".card img{display:block;width:100%;aspect-ratio:1/1}"
    ".rank{position:absolute;top:8px;left:8px;background:rgba(31,35,40,.8);color:#fff;"
    "font-weight:600;font-size:12px;padding:2px 7px;border-radius:999px}"
    ".info{padding:8px 10px 10px}"
    ".name{font-weight:600;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}"
    ".num{font-variant-numeric:tabular-nums;color:var(--mute);font-size:13px}"
    ".file{font-size:12px;color:var(--mute);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}"
    ".bar{height:5px;background:#eaeef2;border-radius:3px;margin:6px 0 4px;overflow:hidden}"
    ".bar i{display:block;height:100%}"
    ".same .bar i{background:var(--ok)}.diff .bar i{background:var(--no)}"
    ".tag{font-size:11px;font-weight:600;text-transform:uppercase;letter-spacing:.04em}"
    ".same .tag{color:var(--ok)}.diff .tag{color:var(--no)}"
    ".none{color:var(--mute);font-style:italic}";

static int html_card(FILE *f, const find_report *r, const fk_api_hit *h) {
  fk_image t;
  int rc = thumb_of(r, h->face.path, h->face.box, HTML_THUMB, &t);
  if (rc) return rc;
  char *uri = fk_png_data_uri(&t);
  fk_image_free(&t);
  if (!uri) return FK_ENOMEM;
  float sim = h->similarity < 0 ? 0 : h->similarity > 1 ? 1 : h->similarity;
  fprintf(f, "<div class=\"card %s\"><span class=\"rank\">#%d</span><img alt=\"\" src=\"%s\">"
             "<div class=\"info\"><div class=\"name\" title=\"",
          h->same ? "same" : "diff", h->rank, uri);
  free(uri);
  html_text(f, label_of(h));
  fputs("\">", f);
  html_text(f, label_of(h));
  fprintf(f, "</div><div class=\"bar\"><i style=\"width:%.1f%%\"></i></div>"
             "<div class=\"num\">distance %.4f &middot; similarity %.3f</div>"
             "<div class=\"tag\">%s</div><div class=\"file\" title=\"",
          sim * 100, h->distance, h->similarity, h->same ? "same person" : "different");
  html_text(f, h->face.path);
  fputs("\">", f);
  html_text(f, base_name(h->face.path));
  fputs("</div></div></div>\n", f);
  return FK_OK;
}

static int html_query(FILE *f, const find_report *r, int qi) {
  const fk_api_query *q = &r->q[qi];
  fk_image t;
  int rc = fk_face_thumbnail(r->img, q->face.box, MARGIN, HTML_THUMB, &t);
  if (rc) return rc;
  char *uri = fk_png_data_uri(&t);
  fk_image_free(&t);
  if (!uri) return FK_ENOMEM;
  fprintf(f, "<div class=\"query\"><img alt=\"query face\" src=\"%s\"><div><h1>", uri);
  free(uri);
  if (r->nq > 1) fprintf(f, "Face %d of %d in ", qi + 1, r->nq);
  html_text(f, base_name(r->path));
  fprintf(f, "</h1><p class=\"meta\">box %.0f,%.0f %.0f&times;%.0f &middot; detector score %.3f</p>"
             "<p class=\"meta\">%d match%s of %lld faces searched &middot; metric %s (%s) &middot; "
             "same person at distance &le; %.4f &middot; %.2f ms</p></div></div>\n<section>",
          q->face.box.x, q->face.box.y, q->face.box.w, q->face.box.h, q->face.score, q->n, q->n == 1 ? "" : "es",
          (long long)r->searched, r->metric, r->codes, r->threshold, r->time_ms);
  if (q->n == 0) fputs("<p class=\"none\">No face in the index is within the threshold.</p>", f);
  fputs("<div class=\"grid\">\n", f);
  for (int i = 0; rc == FK_OK && i < q->n; i++) rc = html_card(f, r, &q->hits[i]);
  fputs("</div></section>\n", f);
  return rc;
}

/* Why out could not be written (rc from the writing), said of what it is:
 * its directory missing or not one, out itself a directory, no permission,
 * or else the status's message. */
static void write_error(const char *out, const char *what, int rc, char *err, size_t errn) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", out);
  char *slash = strrchr(dir, '/');
  if (slash == dir) slash[1] = '\0';
  else if (slash) *slash = '\0';
  else snprintf(dir, sizeof dir, ".");
  struct stat sb;
  if (stat(dir, &sb)) snprintf(err, errn, "cannot write the %s %s: the directory %s does not exist", what, out, dir);
  else if (!S_ISDIR(sb.st_mode)) snprintf(err, errn, "cannot write the %s %s: %s is not a directory", what, out, dir);
  else if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
    snprintf(err, errn, "cannot write the %s %s: it is a directory", what, out);
  else if (access(dir, W_OK)) snprintf(err, errn, "cannot write the %s %s: permission denied in %s", what, out, dir);
  else snprintf(err, errn, "cannot write the %s %s: %s", what, out, fk_strerror(rc));
}

int find_write_html(const find_report *r, const char *out, char *err, size_t errn) {
  FILE *f = fopen(out, "w");
  if (!f) return write_error(out, "page", FK_EIO, err, errn), FK_EIO;
  fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>facekit find: ", f);
  html_text(f, base_name(r->path));
  fprintf(f, "</title><style>%s</style></head><body>\n", css);
  int rc = FK_OK;
  for (int i = 0; rc == FK_OK && i < r->nq; i++) rc = html_query(f, r, i);
  fputs("</body></html>\n", f);
  if (fclose(f) != 0 && rc == FK_OK) rc = FK_EIO;
  if (rc) {
    remove(out);
    write_error(out, "page", rc, err, errn);
  }
  return rc;
}

/* ---- contact sheet ---------------------------------------------------------- */

#define CELL_W (SHEET_THUMB + 16)
#define CELL_H (SHEET_THUMB + 3 * FK_FONT_H + 20)
#define HEAD_H (FK_FONT_H + 16)

/* One tile: thumbnail, a bar as long as the similarity (green: same person,
 * red: not), the name, the distance and the file. */
static int sheet_tile(fk_image *c, int x, int y, const find_report *r, const fk_api_hit *h) {
  fk_image t;
  int rc = thumb_of(r, h->face.path, h->face.box, SHEET_THUMB, &t);
  if (rc) return rc;
  fk_fill_rect(c, (fk_rect){x - 1, y - 1, SHEET_THUMB + 2, SHEET_THUMB + 2}, LINE);
  fk_blit(c, &t, x, y);
  fk_image_free(&t);
  char s[64];
  snprintf(s, sizeof s, "#%d", h->rank);
  fk_fill_rect(c, (fk_rect){x, y, fk_text_width(s) + 6, FK_FONT_H + 2}, INK);
  fk_draw_text(c, x + 3, y + 1, s, WHITE, 0);
  int by = y + SHEET_THUMB + 3;
  float sim = h->similarity < 0 ? 0 : h->similarity > 1 ? 1 : h->similarity;
  fk_fill_rect(c, (fk_rect){x, by, SHEET_THUMB, 4}, TRACK);
  fk_fill_rect(c, (fk_rect){x, by, (int)(sim * SHEET_THUMB + 0.5f), 4}, h->same ? OK : NO);
  fk_draw_text(c, x, by + 6, label_of(h), INK, SHEET_THUMB);
  snprintf(s, sizeof s, "d=%.3f %s", h->distance, h->same ? "same" : "diff");
  fk_draw_text(c, x, by + 6 + FK_FONT_H, s, h->same ? OK : NO, SHEET_THUMB);
  fk_draw_text(c, x, by + 6 + 2 * FK_FONT_H, base_name(h->face.path), MUTE, SHEET_THUMB);
  return FK_OK;
}

static int tiles_of(const fk_api_query *q) { return q->n < SHEET_MAX ? q->n : SHEET_MAX; }
static int rows_of(const fk_api_query *q) { return q->n ? (tiles_of(q) + SHEET_COLS - 1) / SHEET_COLS : 1; }

/* One query's band: the query face on the left, its matches in a grid. */
static int sheet_band(fk_image *c, int y, const find_report *r, int qi) {
  const fk_api_query *q = &r->q[qi];
  fk_image t;
  int rc = fk_face_thumbnail(r->img, q->face.box, MARGIN, SHEET_THUMB, &t);
  if (rc) return rc;
  int x = 12;
  fk_fill_rect(c, (fk_rect){x - 3, y - 3, SHEET_THUMB + 6, SHEET_THUMB + 6}, ACCENT);
  fk_blit(c, &t, x, y);
  fk_image_free(&t);
  char s[64];
  if (r->nq > 1) snprintf(s, sizeof s, "query %d/%d", qi + 1, r->nq);
  else snprintf(s, sizeof s, "query");
  fk_draw_text(c, x, y + SHEET_THUMB + 9, s, ACCENT, SHEET_THUMB);
  fk_draw_text(c, x, y + SHEET_THUMB + 9 + FK_FONT_H, base_name(r->path), MUTE, SHEET_THUMB);
  if (q->n == 0) fk_draw_text(c, CELL_W + 24, y + SHEET_THUMB / 2, "no match within the threshold", MUTE, 0);
  if (q->n > SHEET_MAX) {
    snprintf(s, sizeof s, "+%d more", q->n - SHEET_MAX);
    fk_draw_text(c, x, y + SHEET_THUMB + 9 + 2 * FK_FONT_H, s, MUTE, SHEET_THUMB);
  }
  for (int i = 0; rc == FK_OK && i < tiles_of(q); i++)
    rc = sheet_tile(c, CELL_W + 24 + (i % SHEET_COLS) * CELL_W, y + (i / SHEET_COLS) * CELL_H, r, &q->hits[i]);
  return rc;
}

int find_write_sheet(const find_report *r, const char *out, char *err, size_t errn) {
  int cols = 0, height = HEAD_H + 12;
  for (int i = 0; i < r->nq; i++) {
    int n = r->q[i].n < SHEET_COLS ? r->q[i].n : SHEET_COLS;
    cols = n > cols ? n : cols;
    height += rows_of(&r->q[i]) * CELL_H + 12;
  }
  int width = CELL_W + 24 + (cols ? cols : 3) * CELL_W + 4;
  fk_image c;
  int rc = fk_canvas_new(width, height, BG, &c);
  if (rc) return snprintf(err, errn, "%s: %s", out, fk_strerror(rc)), rc;
  char title[256];
  snprintf(title, sizeof title, "facekit find - %lld faces searched, metric %s (%s), same if d <= %.3f",
           (long long)r->searched, r->metric, r->codes, r->threshold);
  fk_fill_rect(&c, (fk_rect){0, 0, width, HEAD_H}, WHITE);
  fk_fill_rect(&c, (fk_rect){0, HEAD_H - 1, width, 1}, LINE);
  fk_draw_text(&c, 12, (HEAD_H - FK_FONT_H) / 2, title, INK, width - 24);
  int y = HEAD_H + 12;
  for (int i = 0; rc == FK_OK && i < r->nq; i++) {
    rc = sheet_band(&c, y, r, i);
    y += rows_of(&r->q[i]) * CELL_H + 12;
    if (i + 1 < r->nq) fk_fill_rect(&c, (fk_rect){0, y - 7, width, 1}, LINE);
  }
  int drawn = rc == FK_OK;
  if (rc == FK_OK) rc = fk_image_save_png(&c, out);
  fk_image_free(&c);
  if (rc && drawn) write_error(out, "sheet", rc, err, errn);
  else if (rc) snprintf(err, errn, "%s: %s", out, fk_strerror(rc));
  return rc;
}
