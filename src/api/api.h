/*
 * api.h - the layer every front end sits on: the CLI (src/cli/), the HTTP
 * service (src/server/), the stream program, and later the Python module
 * and other REST dialects. It holds what they would otherwise each write:
 *   - the JSON of the library's results (json.c), so that `facekit verify`
 *     and POST /verify print the same object: faces, boxes, landmarks,
 *     embeddings, the pipeline that made a result (from the option table),
 *     and the results of represent, verify, analyze and find. Built with
 *     cJSON; every number a float gives is printed with the fewest digits
 *     that round-trips it. The caller adds what only it knows (time_ms,
 *     file names) and frees;
 *   - the policies of a request (policy.c): which faces a single-image
 *     request means when there are none (enforce_detection), and find's
 *     (search, look each hit up, drop the deleted, same-person threshold);
 *   - the option table shown as help and as the README's list (options.c).
 * Front ends keep only their syntax: argv, HTTP parameters, exit codes.
 */
#ifndef FK_API_H
#define FK_API_H

#include <stdio.h>

#include <cjson/cJSON.h>

#include "facekit.h"

/* ---- JSON ---- */

/* A float as the double with the fewest digits that reads back as it (for
 * JSON: 0.6f prints as 0.6). */
double fk_json_float(float v);

/* Replaces each byte that does not start a valid UTF-8 sequence by '?', so
 * that JSON quoting file names or model contents stays valid (its structure
 * is ASCII, so this never changes it). */
void fk_json_utf8_scrub(char *s);

/* Printed JSON (s, malloc'd, taken) made valid UTF-8 by the one reversible
 * escaping of file names (fk_text_escape: a byte that is not UTF-8
 * becomes U+10FF00 + the byte), so that a printed path maps back to its
 * file; returns the text to print and free (s itself when it was valid). */
char *fk_json_text(char *s);

/* {"x","y","w","h"}; [[x,y]...]; [v...]. */
cJSON *fk_json_box(fk_box b);
cJSON *fk_json_landmarks(const fk_point *p, int n);
cJSON *fk_json_floats(const float *v, int n);

/* Adds the pipeline that produced a result: with_model, the model (model_id
 * if given, else opt's model name) and its width; then each detection
 * option of the table (FK_OPT_DETECT: detector, input_size, ...), and
 * with_model each embedding one (FK_OPT_EMBED: align, flip), by name. */
void fk_json_add_pipeline(cJSON *o, const char *model_id, const fk_options *opt, int with_model);

/* represent: {"faces":[{"box","score","embedding"}...],"face_detected",
 * pipeline,"normalize"}; with l2 the embeddings are scaled to unit length. */
cJSON *fk_json_represent(const fk_face *faces, int n, int face_detected, const fk_options *opt, int l2);

/* verify: {"verified","distance","threshold","metric",pipeline,
 * "facial_areas":{"img1","img2"}}. */
cJSON *fk_json_verify(const fk_verify_result *r, const fk_options *opt);

/* Adds the computed attributes: "age", and "gender", "emotion", "race" as
 * {"dominant": name, name: probability, ...}. */
void fk_json_add_attributes(cJSON *o, const fk_attributes *a);

/* analyze: {"faces":[{"box","score","age","gender":{...},"emotion":{...},
 * "race":{...}}...],"face_detected",detector,"attribute_model"}, with the
 * attributes a[i] of faces[i]. */
cJSON *fk_json_analyze(const fk_face *faces, const fk_attributes *a, int n, int face_detected,
                        const fk_options *opt);

/* ---- policies ---- */

/* The faces a single-image request means, under DeepFace's
 * enforce_detection: detects up to cap faces and keeps the `keep` largest
 * (0: all), each represented with embed; *detected 1. With none found:
 * with enforce *n is 0, for the front end's no-face answer (exit 3, HTTP
 * 422); without, the whole image is the one face (represented with embed)
 * and *detected is 0. A failure is the session's status and message. */
int fk_api_faces(fk_session *s, const fk_image *img, int enforce, int embed, int keep, fk_face *faces, int cap,
                 int *n, int *detected);

typedef struct fk_api_hit {
  fk_store_face face;
  int rank;
  float distance, similarity;
  int same;  /* distance <= the threshold in use */
} fk_api_hit;

typedef struct fk_api_query {
  fk_face face;  /* the query face, in the query image */
  fk_api_hit *hits;
  int n;
} fk_api_query;

/* find's policy. Searches shared vectors for q->face and looks each match up through
 * lookup (a store of this thread): rank, distance, similarity and
 * same = distance <= same_thr. A match deleted between the search and its
 * lookup is left out. q->hits is allocated (so->k of them); free it. On
 * failure err gets the reason. */
int fk_api_find(fk_vectors *v, fk_store *lookup, const fk_search_options *so, float same_thr,
                    fk_api_query *q, char *err, size_t errlen);

/* find: {"query":{"box","score"},"matches":[...]} for one query, or
 * {"queries":[{"query","matches"}...]} with all_faces; then "searched",
 * "metric", "threshold" and "codes". */
cJSON *fk_json_find(const fk_api_query *q, int nq, int all_faces, int64_t searched,
                     const fk_search_options *so, float same_thr);

/* Whether s may name an identity, which becomes a folder of an index's data
 * directory (`facekit index` may walk it later): one path component, not
 * hidden, at most 200 bytes of printable UTF-8 without bidirectional
 * controls. FK_OK, or FK_EINVAL with why in words that follow the name
 * ("must not start with '.'"). */
int fk_api_identity_check(const char *s, char *why, size_t whylen);

/* ---- the option table as text ---- */

/* Prints the help of the table's rows with a flag in `any` (0: all), as a
 * command line spells them ("  --min-score S  drop detections ..."), each
 * with its values and its default in d (NULL: fk_options_init's), folded
 * to 79 columns. */
void fk_api_options_help(FILE *f, unsigned any, const fk_options *d);
/* The README's option table (Markdown): name, CLI and HTTP spellings,
 * values, default, what it does, and where it applies. */
void fk_api_options_markdown(FILE *f);

#endif /* FK_API_H */
