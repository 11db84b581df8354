/*
 * json.h - the JSON objects of the library's results, in one place that
 * both the CLI commands (src/cli/) and the HTTP service (src/server/) link,
 * so that `facekit verify` and POST /verify print the same object: faces,
 * boxes, landmarks, embeddings, the pipeline that made a result, and the
 * results of represent, verify, analyze and find. Built with cJSON; every
 * number a float gives is printed as the shortest double that round-trips
 * it. The caller adds what only it knows (time_ms, file names) and frees.
 */
#ifndef FK_CLI_JSON_H
#define FK_CLI_JSON_H

#include <cjson/cJSON.h>

#include "facekit.h"

/* A float as the shortest double that prints it exactly (for JSON). */
double cli_float(float v);

/* Replaces each byte that does not start a valid UTF-8 sequence by '?', so
 * that JSON quoting file names or model contents stays valid (its structure
 * is ASCII, so this never changes it). */
void cli_utf8_scrub(char *s);

/* Printed JSON (s, malloc'd, taken) made valid UTF-8 by the one reversible
 * escaping of file names (fk_text_escape: a byte that is not UTF-8
 * becomes U+10FF00 + the byte), so that a printed path maps back to its
 * file; returns the text to print and free (s itself when it was valid). */
char *cli_json_text(char *s);

/* {"x","y","w","h"}; [[x,y]...]; [v...]. */
cJSON *cli_box_json(fk_box b);
cJSON *cli_landmarks_json(const fk_point *p, int n);
cJSON *cli_floats_json(const float *v, int n);

/* Adds the pipeline that produced a result: with_model, the model (model_id
 * if given, else opt's model name), its width, then the detector, its input
 * size and the landmark net, and with_model the alignment and flip. */
void cli_add_pipeline(cJSON *o, const char *model_id, const fk_options *opt, int with_model);

/* represent: {"faces":[{"box","score","embedding"}...],"face_detected",
 * pipeline,"normalize"}; with l2 the embeddings are scaled to unit length. */
cJSON *cli_represent_json(const fk_face *faces, int n, int face_detected, const fk_options *opt, int l2);

/* verify: {"verified","distance","threshold","metric",pipeline,
 * "facial_areas":{"img1","img2"}}. */
cJSON *cli_verify_json(const fk_verify_result *r, const fk_options *opt);

/* Adds the computed attributes: "age", and "gender", "emotion", "race" as
 * {"dominant": name, name: probability, ...}. */
void cli_add_attributes(cJSON *o, const fk_attributes *a);

/* analyze: {"faces":[{"box","score","age","gender":{...},"emotion":{...},
 * "race":{...}}...],"face_detected",detector,"attribute_model"}, with the
 * attributes a[i] of faces[i]. */
cJSON *cli_analyze_json(const fk_face *faces, const fk_attributes *a, int n, int face_detected,
                        const fk_options *opt);

/* ---- find ---- */

typedef struct find_hit {
  fk_store_face face;
  int rank;
  float distance, similarity;
  int same;  /* distance <= the threshold in use */
} find_hit;

typedef struct find_query {
  fk_face face;  /* the query face, in the query image */
  find_hit *hits;
  int n;
} find_query;

/* Searches shared vectors for q->face and looks each match up through
 * lookup (a store of this thread): rank, distance, similarity and
 * same = distance <= same_thr. A match deleted between the search and its
 * lookup is left out. q->hits is allocated (so->k of them); free it. On
 * failure err gets the reason. */
int cli_find_search(fk_vectors *v, fk_store *lookup, const fk_search_options *so, float same_thr,
                    find_query *q, char *err, size_t errlen);

/* find: {"query":{"box","score"},"matches":[...]} for one query, or
 * {"queries":[{"query","matches"}...]} with all_faces; then "searched",
 * "metric", "threshold" and "codes". */
cJSON *cli_find_json(const find_query *q, int nq, int all_faces, int64_t searched,
                     const fk_search_options *so, float same_thr);

#endif /* FK_CLI_JSON_H */
