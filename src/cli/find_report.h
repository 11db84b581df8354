/*
 * find_report.h - the visual results of `facekit find`: a self-contained
 * HTML page (--html) and a contact-sheet PNG (--sheet) showing each query
 * face next to its matches with names and distances (find_report.c).
 */
#ifndef FK_FIND_REPORT_H
#define FK_FIND_REPORT_H

#include "api/api.h"
#include "facekit.h"

typedef struct find_report {
  const char *path;          /* the query image */
  const fk_image *img;
  const fk_api_query *q;
  int nq;
  const char *metric, *codes;
  float threshold;           /* what `same` was decided with */
  int64_t searched;
  double time_ms;
  size_t max_pixels;         /* for loading the matched images */
  const char *root;          /* stored relative paths are below it (find --root);
                                NULL: below the working directory */
} find_report;

/* Write the page / the sheet; on failure return an FK_E* code with a
 * message in err. */
int find_write_html(const find_report *r, const char *out, char *err, size_t errn);
int find_write_sheet(const find_report *r, const char *out, char *err, size_t errn);

#endif /* FK_FIND_REPORT_H */
