/*
 * test_pipelines.c - every detector x landmark net x recognition model
 * that `facekit index` accepts, through `serve` and `stream` (issue 19 #9):
 * an index built with each is served as it was built (/find gives the CLI
 * find's distance to the last digit, /register stores), and `stream --db`
 * identifies its face with it. Also `serve --detector rfb320 --landmarks
 * lmk64` answers represent, verify and analyze, a request may pick any
 * detector, and an unknown one is a 400 naming them all.
 *
 * Small on purpose: a two-image gallery, one query, a four-frame image
 * sequence, and a server with one worker per combination. HTTP goes
 * through the curl command.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "facekit.h"
#include "testutil.h"
#include "golden.h"
#include "cliutil.h"
#include "serverutil.h"

static char tmp[4096];

static const char *at(const char *rel) {
  static char buf[8][4300];
  static int i;
  i = (i + 1) % 8;
  snprintf(buf[i], sizeof buf[i], "%s/%s", tmp, rel);
  return buf[i];
}

/* ---- servers ---------------------------------------------------------------- */

typedef tu_server server;

/* `facekit serve --port 0 --workers 1 --quiet ARGS...`. */
static int server_start(server *s, const char *const *args, const char *name) {
  const char *argv[32] = {"--workers", "1", "--quiet"};
  int n = 3;
  for (int i = 0; args[i] && n < 31; i++) argv[n++] = args[i];
  argv[n] = NULL;
  return tu_server_start(s, tmp, argv, name);
}

static int server_stop(server *s) { return tu_server_stop(s); }

/* curl ARGS against the server's PATH; the status, and the JSON body. */
static long http(const server *s, const char *path, const char *args, cJSON **json) {
  char body[4400], cmd[16384];
  snprintf(body, sizeof body, "%s", at("body.json"));
  snprintf(cmd, sizeof cmd, "curl -s -o '%s' -w '%%{http_code}' %s 'http://127.0.0.1:%d%s'", body, args, s->port,
           path);
  FILE *p = popen(cmd, "r");
  long status = 0;
  if (!p || fscanf(p, "%ld", &status) != 1) status = -1;
  if (p) pclose(p);
  char *b = tu_read_file(body, NULL);
  *json = b ? cJSON_Parse(b) : NULL;
  if (status != 200 && status != 201) fprintf(stderr, "  %s %s: %ld %s\n", path, args, status, b ? b : "");
  free(b);
  return status;
}

/* ---- the combinations --------------------------------------------------------- */

/* Each detector, landmark net and model, by name, from the library's
 * lists: a new one is tested without a change here. */
static void one_combination(const char *det, const char *lmk, const char *model) {
  char tag[128], db[4400], args[16384];
  snprintf(tag, sizeof tag, "%s_%s_%s", det, lmk, model);
  snprintf(db, sizeof db, "%s/%s.db", tmp, tag);
  snprintf(args, sizeof args, "index '%s' --db '%s' --detector %s --landmarks %s --model %s", at("gallery"), db, det,
           lmk, model);
  tu_run_result r = tu_run(args);
  CHECK_EQ_INT(r.code, 0);
  cJSON_Delete(r.json);
  /* the CLI's answer, with the index's recorded pipeline */
  snprintf(args, sizeof args, "find '%s' --db '%s' -k 1", tu_fixture("face_a2.png"), db);
  r = tu_run(args);
  const cJSON *m = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "matches"), 0);
  double cli_distance = jnum(m, "distance");
  CHECK(r.code == 0 && !strcmp(jstr(m, "identity"), "alice"));
  cJSON_Delete(r.json);
  /* served: find and register use that pipeline */
  server s;
  const char *sargs[] = {"--db", db, NULL};
  if (server_start(&s, sargs, tag)) {
    CHECK(0);
    return;
  }
  cJSON *j;
  char form[4400];
  snprintf(form, sizeof form, "-F 'img=@%s' -F k=1", tu_fixture("face_a2.png"));
  long st = http(&s, "/find", form, &j);
  m = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "matches"), 0);
  CHECK(st == 200 && !strcmp(jstr(m, "identity"), "alice"));
  CHECK_NEAR(jnum(m, "distance"), cli_distance, 1e-6);
  cJSON_Delete(j);
  snprintf(form, sizeof form, "-F 'img=@%s' -F identity=bob", tu_fixture("face_b2.png"));
  CHECK_EQ_INT(http(&s, "/register", form, &j), 201);
  CHECK_EQ_INT(tu_array_len(j, "faces"), 1);
  cJSON_Delete(j);
  CHECK_EQ_INT(server_stop(&s), 0);
  /* streamed: the index's landmarks and model embed the frames */
  snprintf(args, sizeof args, "stream '%s' --db '%s' --fps 5 --stats-every 0 --detector %s", at("seq/*.png"), db,
           det);
  char cmd[24000], out[4400];
  snprintf(out, sizeof out, "%s", at("events.jsonl"));
  snprintf(cmd, sizeof cmd, "\"%s\" %s >'%s' 2>/dev/null </dev/null", getenv("FK_CLI") ? getenv("FK_CLI") : "facekit",
           args, out);
  CHECK_EQ_INT(tu_exit_code(system(cmd)), 0);
  char *ev = tu_read_file(out, NULL);
  int identified = 0;
  for (char *line = ev ? strtok(ev, "\n") : NULL; line; line = strtok(NULL, "\n")) {
    cJSON *e = cJSON_Parse(line);
    identified |= !strcmp(jstr(e, "type"), "identified") && !strcmp(jstr(e, "identity"), "alice");
    cJSON_Delete(e);
  }
  free(ev);
  CHECK(identified);
  fprintf(stderr, "  %s: %s\n", tag, tu_fail ? "(failures so far)" : "ok");
}

static void test_every_index_pipeline_is_served_and_streamed_as_built(void) {
  for (int d = 0; fk_detector_name(d); d++)
    for (int l = 0; fk_landmarks_name(l); l++)
      for (int k = 0; k < FK_NUM_MODELS; k++) {
        int before = tu_fail;
        one_combination(fk_detector_name(d), fk_landmarks_name(l), fk_model_name(k));
        if (tu_fail != before)
          fprintf(stderr, "  FAILED: %s x %s x %s\n", fk_detector_name(d), fk_landmarks_name(l), fk_model_name(k));
      }
}

/* serve's own defaults, and a request's detector. */
static void test_serve_with_rfb320_and_lmk64_answers_every_endpoint(void) {
  server s;
  const char *args[] = {"--detector", "rfb320", "--landmarks", "lmk64", NULL};
  if (server_start(&s, args, "rfb320")) {
    CHECK(0);
    return;
  }
  cJSON *j;
  char form[9000];
  snprintf(form, sizeof form, "-F 'img=@%s'", tu_fixture("face_a1.png"));
  CHECK_EQ_INT(http(&s, "/represent", form, &j), 200);
  CHECK(!strcmp(jstr(j, "detector"), "rfb320") && !strcmp(jstr(j, "landmarks"), "lmk64"));
  cJSON_Delete(j);
  CHECK_EQ_INT(http(&s, "/analyze", form, &j), 200);
  cJSON_Delete(j);
  snprintf(form, sizeof form, "-F 'img1=@%s' -F 'img2=@%s'", tu_fixture("face_a1.png"), tu_fixture("face_a2.png"));
  CHECK_EQ_INT(http(&s, "/verify", form, &j), 200);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(j, "verified")));
  cJSON_Delete(j);
  /* a request picks any detector; an unknown one is named with the list */
  for (int d = 0; fk_detector_name(d); d++) {
    snprintf(form, sizeof form, "-F 'img=@%s' -F detector=%s", tu_fixture("face_a1.png"), fk_detector_name(d));
    CHECK_EQ_INT(http(&s, "/represent", form, &j), 200);
    CHECK(!strcmp(jstr(j, "detector"), fk_detector_name(d)));
    cJSON_Delete(j);
  }
  snprintf(form, sizeof form, "-F 'img=@%s' -F detector=foo", tu_fixture("face_a1.png"));
  CHECK_EQ_INT(http(&s, "/represent", form, &j), 400);
  char names[128];
  fk_names(fk_detector_name, names, sizeof names); /* the list from the table of nets */
  CHECK(strstr(jstr(j, "error"), names) && strstr(names, "rfb320") && strstr(names, "blazeface"));
  cJSON_Delete(j);
  CHECK_EQ_INT(server_stop(&s), 0);
}

int main(void) {
  snprintf(tmp, sizeof tmp, "%s", tu_tmp("pipelines"));
  char cmd[40000];
  snprintf(cmd, sizeof cmd,
           "rm -rf '%s' && mkdir -p '%s/gallery/alice' '%s/gallery/bob' '%s/seq' && cp '%s' '%s/gallery/alice/a.png'",
           tmp, tmp, tmp, tmp, tu_fixture("face_a1.png"), tmp);
  if (system(cmd)) return 1;
  snprintf(cmd, sizeof cmd, "cp '%s' '%s/gallery/bob/b.png'", tu_fixture("face_b1.png"), tmp);
  if (system(cmd)) return 1;
  for (int f = 0; f < 4; f++) {
    snprintf(cmd, sizeof cmd, "cp '%s' '%s/seq/%03d.png'", tu_fixture("face_a2.png"), tmp, f);
    if (system(cmd)) return 1;
  }
  RUN(test_serve_with_rfb320_and_lmk64_answers_every_endpoint);
  RUN(test_every_index_pipeline_is_served_and_streamed_as_built);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
  if (tu_fail == 0 && system(cmd)) fprintf(stderr, "cleanup failed\n");
  return tu_summary();
}
