/*
 * test_stream.c - `facekit stream` end to end. The clips are made here:
 * frames composed from the fixture faces (a face entering, panning and
 * zooming, leaving and coming back from the other side; two faces crossing
 * and a cut; an unknown face) and encoded to H.264 by the ffmpeg command,
 * so every ground-truth position is known. Then:
 *   - tracks, ids across motion, occlusion and the cut, and track_start /
 *     track_end frames within 2 frames of where the face enters and leaves;
 *   - identities against a small index of other photos of the same people;
 *     an unknown face stays unknown; attributes per track;
 *   - the JSON Lines schema, line by line, and the order of events;
 *   - --output decodes with the source's frame count and size, every frame
 *     once, in order and at its time (numbers stamped into the clip's
 *     frames, read back), though it is encoded on a thread of its own, whose
 *     errors still reach the run; --snapshots;
 *   - a real RTSP server (tests/helpers/rtsp_server.c) killed mid-stream and
 *     restarted: source_lost then source_reconnected; an HTTP source
 *     (tests/helpers/http_server.c); stdin; an image sequence;
 *   - SIGINT ends cleanly with a playable output; --realtime keeps the pace;
 *   - bad input: missing, empty, truncated and text files, a corrupt packet
 *     (skipped and counted), an unreachable RTSP URL, webcams that are not
 *     there, an index of another model, bad command lines.
 *
 * `test_stream --pg` (ctest test_stream_pg) identifies the crossing faces
 * against the same gallery indexed into a PostgreSQL database, in a real
 * server it starts itself (pgutil.h), and refuses an empty database.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "facekit.h"
#include "image/compose.h"
#include "video/video.h"
#include "testutil.h"
#include "golden.h"
#include "pgutil.h"

#define W 320
#define H 240
#define FPS 10

static char root[4096];
static char gallery[4300]; /* the index of make_index: a file, or a PostgreSQL database with --pg */

static const char *at(const char *rel) {
  static char buf[8][4300];
  static int i;
  i = (i + 1) % 8;
  snprintf(buf[i], sizeof buf[i], "%s/%s", root, rel);
  return buf[i];
}

#define PATH(var, rel)  \
  char var[4300];       \
  snprintf(var, sizeof var, "%s", at(rel))

/* ---- processes ------------------------------------------------------------------- */

/* Starts argv with stdout and stderr to files (NULL: /dev/null), stdin
 * from in (NULL: /dev/null). */
static pid_t spawn(const char *const *argv, const char *out, const char *err, const char *in) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    int fo = open(out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fe = open(err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int fi = open(in ? in : "/dev/null", O_RDONLY);
    dup2(fo, 1), dup2(fe, 2), dup2(fi, 0);
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  return pid;
}

static int wait_code(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

typedef struct result {
  int code;
  char *out, *err;
} result;

static void result_free(result *r) {
  free(r->out);
  free(r->err);
}

/* facekit ARG... NULL, stdin from `in`; stdout and stderr kept. */
static result fk_in(const char *in, const char *first, ...) {
  const char *argv[64] = {getenv("FK_CLI") ? getenv("FK_CLI") : "facekit", first};
  va_list ap;
  va_start(ap, first);
  int n = 2;
  while (n < 63 && (argv[n] = va_arg(ap, const char *))) n++;
  va_end(ap);
  argv[n] = NULL;
  PATH(out, "stdout");
  PATH(err, "stderr");
  result r = {wait_code(spawn(argv, out, err, in)), NULL, NULL};
  r.out = tu_read_file(out, NULL);
  r.err = tu_read_file(err, NULL);
  if (!r.out) r.out = strdup("");
  if (!r.err) r.err = strdup("");
  if (r.code >= 128) fprintf(stderr, "facekit %s crashed (%d): %s\n", first, r.code, r.err);
  return r;
}

#define fk(...) fk_in(NULL, __VA_ARGS__)

/* ---- events -------------------------------------------------------------------- */

typedef struct events {
  cJSON *ev[4096];
  int n;
  int bad_lines; /* lines that are not one JSON object */
} events;

static void events_parse(events *e, const char *text) {
  memset(e, 0, sizeof *e);
  const char *p = text;
  while (p && *p) {
    const char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p);
    char *line = strndup(p, len);
    cJSON *o = cJSON_Parse(line);
    free(line);
    if (cJSON_IsObject(o) && e->n < 4096) e->ev[e->n++] = o;
    else e->bad_lines++, cJSON_Delete(o);
    p = nl ? nl + 1 : NULL;
  }
}

static void events_load(events *e, const char *path) {
  char *t = tu_read_file(path, NULL);
  events_parse(e, t ? t : "");
  free(t);
}

static void events_free(events *e) {
  for (int i = 0; i < e->n; i++) cJSON_Delete(e->ev[i]);
  e->n = 0;
}

static const char *str(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double num(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Whether o[k] is the string v. */
static int str_is(const cJSON *o, const char *k, const char *v) {
  const char *s = str(o, k);
  return s && !strcmp(s, v);
}

static int is_type(const cJSON *o, const char *t) { return str_is(o, "type", t); }

static int count(const events *e, const char *type) {
  int n = 0;
  for (int i = 0; i < e->n; i++) n += is_type(e->ev[i], type);
  return n;
}

/* The k-th event of a type (from 0), or NULL. */
static const cJSON *nth(const events *e, const char *type, int k) {
  for (int i = 0; i < e->n; i++)
    if (is_type(e->ev[i], type) && k-- == 0) return e->ev[i];
  return NULL;
}

/* The event of a type about track id, or NULL. */
static const cJSON *of_track(const events *e, const char *type, int id) {
  for (int i = 0; i < e->n; i++)
    if (is_type(e->ev[i], type) && num(e->ev[i], "track") == id) return e->ev[i];
  return NULL;
}

static const cJSON *last(const events *e) { return e->n ? e->ev[e->n - 1] : NULL; }

/* ---- the schema ----------------------------------------------------------------- */

static int has_number(const cJSON *o, const char *k) { return cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, k)); }
static int has_int(const cJSON *o, const char *k, double lo) {
  double v = num(o, k);
  return v == v && v >= lo && v == floor(v);
}
static int has_string(const cJSON *o, const char *k) { return str(o, k) != NULL; }
static int has_string_or_null(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsString(v) || cJSON_IsNull(v);
}
static int has_number_or_null(const cJSON *o, const char *k) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsNumber(v) || cJSON_IsNull(v);
}
static int has_box(const cJSON *o, const char *k) {
  const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, k);
  return cJSON_IsObject(b) && has_number(b, "x") && has_number(b, "y") && num(b, "w") > 0 && num(b, "h") > 0;
}

static int wall_ok(const char *s) {
  int y, mo, d, h, mi, se, ms;
  char z;
  return s && strlen(s) == 24 && sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &se, &ms, &z) == 8 &&
         z == 'Z' && y >= 2000 && mo >= 1 && mo <= 12;
}

static int stats_ok(const cJSON *o) {
  const cJSON *ms = cJSON_GetObjectItemCaseSensitive(o, "ms");
  static const char *const stages[] = {"decode", "detect", "track", "embed", "search", "attributes", "draw", "encode"};
  int ok = cJSON_IsObject(ms) && has_number(o, "fps_in") && has_number(o, "fps_out") && has_int(o, "frames_in", 0) &&
           has_int(o, "frames_out", 0) && has_int(o, "dropped", 0) && has_int(o, "damaged", 0) &&
           has_int(o, "tracks_alive", 0) && has_number(o, "seconds");
  for (int i = 0; ok && i < 8; i++) ok = num(ms, stages[i]) >= 0;
  return ok;
}

/* Whether one event line has its type's fields with their types. */
static int line_ok(const cJSON *o) {
  const char *t = str(o, "type");
  if (!t || !has_int(o, "frame", 0) || !(num(o, "pts") >= 0) || !wall_ok(str(o, "wall"))) return 0;
  if (!strcmp(t, "source_open"))
    return has_string(o, "source") && has_string(o, "kind") && cJSON_IsBool(cJSON_GetObjectItem(o, "live")) &&
           has_string(o, "format") && has_string(o, "codec") && num(o, "width") > 0 && num(o, "height") > 0 &&
           has_number_or_null(o, "fps") && has_number_or_null(o, "duration") && has_string(o, "detector");
  if (!strcmp(t, "track_start"))
    return has_int(o, "track", 1) && has_box(o, "box") && has_number(o, "score") && has_int(o, "first_frame", 0);
  if (!strcmp(t, "identified"))
    return has_int(o, "track", 1) && has_string_or_null(o, "identity") && has_number(o, "distance") &&
           has_int(o, "votes", 1) && num(o, "searches") >= num(o, "votes") && has_string(o, "path");
  if (!strcmp(t, "attributes"))
    return has_int(o, "track", 1) && has_int(o, "samples", 1) && cJSON_IsArray(cJSON_GetObjectItem(o, "changed")) &&
           (has_number(o, "age") || cJSON_IsObject(cJSON_GetObjectItem(o, "gender")) ||
            cJSON_IsObject(cJSON_GetObjectItem(o, "emotion")) || cJSON_IsObject(cJSON_GetObjectItem(o, "race")));
  if (!strcmp(t, "track_end")) {
    const cJSON *emb = cJSON_GetObjectItemCaseSensitive(o, "embedding");
    return has_int(o, "track", 1) && has_int(o, "first_frame", 0) && num(o, "last_frame") >= num(o, "first_frame") &&
           num(o, "duration") >= 0 && has_number(o, "first_pts") && has_number(o, "last_pts") &&
           has_string_or_null(o, "identity") && has_int(o, "searches", 0) && has_int(o, "embeddings", 0) &&
           (num(o, "embeddings") == 0 || (cJSON_IsArray(emb) && cJSON_GetArraySize(emb) == num(o, "dim")));
  }
  if (!strcmp(t, "frame")) {
    const cJSON *faces = cJSON_GetObjectItemCaseSensitive(o, "faces"), *f;
    if (!cJSON_IsArray(faces)) return 0;
    cJSON_ArrayForEach(f, faces) {
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(f, "track");
      if (!(cJSON_IsNull(id) || (cJSON_IsNumber(id) && id->valuedouble >= 1)) || !has_box(f, "box") ||
          !cJSON_IsBool(cJSON_GetObjectItem(f, "detected")))
        return 0;
    }
    return 1;
  }
  if (!strcmp(t, "stats")) return stats_ok(o);
  if (!strcmp(t, "end"))
    return has_string(o, "reason") && stats_ok(o) && has_int(o, "reconnects", 0) && has_int(o, "tracks", 0) &&
           has_int(o, "detections", 0) && has_int(o, "embeddings", 0) && has_int(o, "searches", 0);
  if (!strcmp(t, "source_lost")) return has_string(o, "reason");
  if (!strcmp(t, "source_reconnected")) return has_int(o, "attempts", 1) && num(o, "downtime") >= 0;
  if (!strcmp(t, "error")) return has_string(o, "error");
  return 0;
}

/* Every line well formed; source_open first, end last; frames never go
 * back; every track starts once before anything else about it, and ends
 * once, after its other events. Prints what is wrong. */
static int schema_ok(const events *e) {
  int ok = e->bad_lines == 0 && e->n >= 2 && is_type(e->ev[0], "source_open") && is_type(last(e), "end");
  if (!ok) fprintf(stderr, "  schema: %d bad lines, %d events\n", e->bad_lines, e->n);
  double frame = 0;
  for (int i = 0; i < e->n; i++) {
    const cJSON *o = e->ev[i];
    if (!line_ok(o)) {
      char *s = cJSON_PrintUnformatted(o);
      fprintf(stderr, "  schema: bad line %d: %.300s\n", i, s);
      free(s);
      ok = 0;
    }
    if (num(o, "frame") < frame) ok = 0, fprintf(stderr, "  schema: frame goes back at line %d\n", i);
    frame = num(o, "frame");
    double id = num(o, "track");
    if (id != id) continue;
    int started = 0, ended = 0;
    for (int j = 0; j < i; j++)
      if (num(e->ev[j], "track") == id) started += is_type(e->ev[j], "track_start"), ended += is_type(e->ev[j], "track_end");
    int is_start = is_type(o, "track_start"), is_end = is_type(o, "track_end");
    if ((is_start && (started || ended)) || (!is_start && started != 1) || ended || (is_end && started != 1))
      ok = 0, fprintf(stderr, "  schema: track %g out of order at line %d\n", id, i);
  }
  for (int i = 0; i < e->n; i++)
    if (is_type(e->ev[i], "track_start") && !of_track(e, "track_end", (int)num(e->ev[i], "track")))
      ok = 0, fprintf(stderr, "  schema: track %g never ends\n", num(e->ev[i], "track"));
  return ok;
}

/* ---- clips ------------------------------------------------------------------------ */

/* One face on one frame: fixture `who`, top-left (x, y), side s. */
typedef struct place {
  int who, x, y, s;
} place;

/* A scene: the faces of frame f (in drawing order) and its background. */
typedef int (*scene_fn)(int f, place *p, int *bg);

static fk_image faces[3]; /* face_a1, face_b1, face_c1 */

static int load_faces(void) {
  static const char *const names[3] = {"face_a1.png", "face_b1.png", "face_c1.png"};
  for (int i = 0; i < 3; i++)
    if (fk_image_load(tu_fixture(names[i]), 0, &faces[i]) != FK_OK) return -1;
  return 0;
}

/* The head and shoulders of a 250x250 LFW fixture, as an s x s sprite. */
static void sprite(int who, int s, fk_image *out) {
  fk_face_thumbnail(&faces[who], (fk_box){45, 35, 160, 160}, 0, s, out);
}

static void background(fk_image *img, int f, int style) {
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++) {
      uint8_t *p = img->rgb + ((size_t)y * img->width + x) * 3;
      int u = x + 3 * f; /* the camera pans */
      if (style == 0) {
        p[0] = (uint8_t)(90 + 60 * sin(u / 23.0)), p[1] = (uint8_t)(110 + y / 4), p[2] = (uint8_t)(140 + 50 * cos(u / 41.0));
      } else {
        p[0] = (uint8_t)(180 - y / 3), p[1] = (uint8_t)(150 + 40 * sin(u / 13.0)), p[2] = (uint8_t)(70 + ((u / 16 + y / 16) % 2) * 40);
      }
    }
}

/* The frame number as STAMP_BITS black or white blocks along the bottom
 * edge (most significant first), below every face of the scenes; coarse
 * enough to survive two H.264 encodings. */
#define STAMP_BITS 10
#define STAMP_W 16
#define STAMP_H 12
static void stamp(fk_image *img, int f) {
  for (int b = 0; b < STAMP_BITS; b++) {
    uint8_t v = (f >> (STAMP_BITS - 1 - b)) & 1 ? 255 : 0;
    for (int y = img->height - STAMP_H; y < img->height; y++)
      memset(img->rgb + ((size_t)y * img->width + (size_t)b * STAMP_W) * 3, v, STAMP_W * 3);
  }
}

/* The number stamp() wrote, read at each block's centre. */
static int read_stamp(const fk_image *img) {
  int f = 0, y = img->height - STAMP_H / 2;
  for (int b = 0; b < STAMP_BITS; b++) {
    const uint8_t *p = img->rgb + ((size_t)y * img->width + (size_t)b * STAMP_W + STAMP_W / 2) * 3;
    f = 2 * f + (p[0] + p[1] + p[2] > 3 * 128);
  }
  return f;
}

/* Encodes `frames` frames of the scene to path with the ffmpeg command
 * (H.264, a keyframe every second), each stamped with its number if
 * stamped. Returns 0 on success. */
static int make_clip(const char *path, scene_fn scene, int frames, const char *extra, int stamped) {
  char cmd[9000];
  snprintf(cmd, sizeof cmd,
           "ffmpeg -v error -y -f rawvideo -pix_fmt rgb24 -s %dx%d -r %d -i - -c:v libx264 -preset veryfast "
           "-crf 18 -g %d -pix_fmt yuv420p %s '%s'",
           W, H, FPS, FPS, extra ? extra : "", path);
  FILE *p = popen(cmd, "w");
  if (!p) return -1;
  fk_image frame;
  uint8_t grey[3] = {0, 0, 0};
  fk_canvas_new(W, H, grey, &frame);
  for (int f = 0; f < frames; f++) {
    place pl[4];
    int bg = 0, n = scene(f, pl, &bg);
    background(&frame, f, bg);
    for (int i = 0; i < n; i++) {
      fk_image s;
      sprite(pl[i].who, pl[i].s, &s);
      fk_blit(&frame, &s, pl[i].x, pl[i].y);
      fk_image_free(&s);
    }
    if (stamped) stamp(&frame, f);
    fwrite(frame.rgb, 1, (size_t)W * H * 3, p);
  }
  fk_image_free(&frame);
  return pclose(p) == 0 ? 0 : -1;
}

/* Share of a placed face inside the frame. */
static double visible(const place *p) {
  double x0 = fmax(p->x, 0), x1 = fmin(p->x + p->s, W), y0 = fmax(p->y, 0), y1 = fmin(p->y + p->s, H);
  return x1 > x0 && y1 > y0 ? (x1 - x0) * (y1 - y0) / ((double)p->s * p->s) : 0;
}

/* SOLO, 70 frames: face A enters from the left (4-6), pans right and grows
 * while the camera pans (7-25), leaves to the right (26-29), is away 0.3 s,
 * comes back from the LEFT (32-34, so only its appearance can keep its
 * id), moves (35-47), leaves left (48-50) and stays away. */
#define SOLO_FRAMES 70
static int solo(int f, place *p, int *bg) {
  *bg = 0;
  if (f >= 4 && f <= 6) return p[0] = (place){0, -100 + 34 * (f - 4), 60, 100}, 1;
  if (f >= 7 && f <= 25) return p[0] = (place){0, 2 + 7 * (f - 7), 50, 100 + 2 * (f - 7)}, 1;
  if (f >= 26 && f <= 29) return p[0] = (place){0, 128 + 48 * (f - 25), 50, 136}, 1;
  if (f >= 32 && f <= 34) return p[0] = (place){0, -100 + 40 * (f - 32), 70, 100}, 1;
  if (f >= 35 && f <= 47) return p[0] = (place){0, 20 + 5 * (f - 35), 70, 100}, 1;
  if (f >= 48 && f <= 50) return p[0] = (place){0, 80 - 50 * (f - 47), 70, 100}, 1;
  return 0;
}

/* PAIR, 60 frames: A walks right and B left, B passing in front of A
 * (0-29); a cut at 30: another background, A and B elsewhere and at other
 * sizes (30-59); C, whom the index does not know, appears at 42. */
#define PAIR_FRAMES 60
#define PAIR_CUT 30
#define PAIR_C_ENTERS 42
static int pair(int f, place *p, int *bg) {
  if (f < PAIR_CUT) {
    *bg = 0;
    p[0] = (place){0, 10 + 7 * f, 50, 90};
    p[1] = (place){1, 220 - 7 * f, 75, 90};
    return 2;
  }
  *bg = 1;
  p[0] = (place){0, 205 + (f - PAIR_CUT), 110, 100};
  p[1] = (place){1, 15 + (f - PAIR_CUT) / 2, 15, 80};
  if (f < PAIR_C_ENTERS) return 2;
  p[2] = (place){2, 110, 150, 80};
  return 3;
}

/* The first and last frames where a face is at least half in view. */
static void in_view(scene_fn scene, int frames, int who, int *first, int *last_) {
  *first = *last_ = -1;
  for (int f = 0; f < frames; f++) {
    place pl[4];
    int bg, n = scene(f, pl, &bg);
    for (int i = 0; i < n; i++)
      if (pl[i].who == who && visible(&pl[i]) >= 0.5) {
        if (*first < 0) *first = f;
        *last_ = f;
      }
  }
}

static int ffprobe_frames(const char *path, int *w, int *h) {
  char cmd[4600];
  snprintf(cmd, sizeof cmd,
           "ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=width,height,nb_read_frames "
           "-of csv=p=0 '%s'",
           path);
  FILE *p = popen(cmd, "r");
  int n = -1;
  *w = *h = 0;
  if (p && fscanf(p, "%d,%d,%d", w, h, &n) != 3) n = -1;
  if (p) pclose(p);
  return n;
}

/* ---- tracks on files ------------------------------------------------------------------ */

static void test_stream_tracks_one_face_through_pan_zoom_and_return(void) {
  PATH(clip, "solo.mp4");
  PATH(out, "solo-out.mp4");
  PATH(ev, "solo.jsonl");
  PATH(snaps, "snaps");
  result r = fk("stream", clip, "--events", ev, "--output", out, "--snapshots", snaps, "--every-frame",
                "--stats-every", "0.2", NULL);
  CHECK_EQ_INT(r.code, 0);
  CHECK_EQ_INT(strlen(r.out), 0); /* events went to the file */
  events e;
  events_load(&e, ev);
  CHECK(schema_ok(&e));
  /* one track: the face that came back from the other side kept its id */
  CHECK_EQ_INT(count(&e, "track_start"), 1);
  CHECK_EQ_INT(count(&e, "track_end"), 1);
  int enter, leave;
  in_view(solo, SOLO_FRAMES, 0, &enter, &leave);
  const cJSON *s = nth(&e, "track_start", 0), *end = nth(&e, "track_end", 0);
  CHECK(fabs(num(s, "first_frame") - enter) <= 2);
  CHECK(fabs(num(s, "frame") - enter) <= 2);
  CHECK(fabs(num(end, "last_frame") - leave) <= 2);
  CHECK_EQ_INT(num(end, "track"), 1);
  CHECK(num(end, "embeddings") >= 3);
  if (fabs(num(s, "first_frame") - enter) > 2 || fabs(num(end, "last_frame") - leave) > 2)
    fprintf(stderr, "  entered %d left %d; track %g-%g\n", enter, leave, num(s, "first_frame"), num(end, "last_frame"));
  /* no index: anonymous */
  CHECK_EQ_INT(count(&e, "identified"), 0);
  CHECK(cJSON_IsNull(cJSON_GetObjectItem(end, "identity")));
  /* one frame record per frame, with the track's box while in view */
  CHECK_EQ_INT(count(&e, "frame"), SOLO_FRAMES);
  const cJSON *mid = nth(&e, "frame", 15);
  CHECK_EQ_INT(cJSON_GetArraySize(cJSON_GetObjectItem(mid, "faces")), 1);
  CHECK(count(&e, "stats") >= 1);
  const cJSON *fin = last(&e);
  CHECK_EQ_INT(num(fin, "frames_out"), SOLO_FRAMES);
  CHECK_EQ_INT(num(fin, "dropped"), 0);
  CHECK_EQ_INT(num(fin, "damaged"), 0);
  CHECK(str_is(fin, "reason", "end of stream"));
  /* the annotated video: same frames, same size */
  int w, h;
  CHECK_EQ_INT(ffprobe_frames(out, &w, &h), SOLO_FRAMES);
  CHECK_EQ_INT(w, W);
  CHECK_EQ_INT(h, H);
  CHECK_EQ_INT(num(fin, "frames_written"), SOLO_FRAMES);
  /* the snapshot: the best face, named by track id */
  fk_image shot;
  char shot_path[4400];
  snprintf(shot_path, sizeof shot_path, "%s/1.png", snaps);
  CHECK(str_is(end, "snapshot", shot_path));
  CHECK_EQ_INT(fk_image_load(shot_path, 0, &shot), FK_OK);
  CHECK(shot.width >= 80 && shot.height >= 80);
  fk_image_free(&shot);
  events_free(&e);
  result_free(&r);
}

/* The frames of a video as decoded by the ffmpeg command, into frames[]
 * (at most max, W x H); returns how many, or -1. */
static int decode_frames(const char *path, fk_image *frames, int max) {
  char cmd[4600];
  snprintf(cmd, sizeof cmd, "ffmpeg -v error -i '%s' -f rawvideo -pix_fmt rgb24 -", path);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  int n = 0;
  uint8_t black[3] = {0, 0, 0};
  while (n < max && fk_canvas_new(W, H, black, &frames[n]) == FK_OK) {
    if (fread(frames[n].rgb, 1, (size_t)W * H * 3, p) != (size_t)W * H * 3) {
      fk_image_free(&frames[n]);
      break;
    }
    n++;
  }
  return pclose(p) == 0 ? n : -1;
}

/* The presentation times of a video's frames, in seconds, into pts[]
 * (at most max); returns how many, or -1. */
static int frame_times(const char *path, double *pts, int max) {
  char cmd[4600];
  snprintf(cmd, sizeof cmd,
           "ffprobe -v error -select_streams v:0 -show_entries frame=best_effort_timestamp_time -of csv=p=0 '%s'",
           path);
  FILE *p = popen(cmd, "r");
  if (!p) return -1;
  int n = 0;
  while (n < max && fscanf(p, "%lf%*[^\n]", &pts[n]) == 1) n++;
  return pclose(p) == 0 ? n : -1;
}

/* --output encodes on a thread of its own, behind a queue: every frame of
 * the file must still come out, once, in order, at its own time. */
static void test_stream_output_keeps_every_frame_in_order(void) {
  PATH(clip, "stamped.mp4");
  PATH(out, "stamped-out.mp4");
  PATH(ev, "stamped.jsonl");
  CHECK_EQ_INT(make_clip(clip, solo, SOLO_FRAMES, NULL, 1), 0);
  result r = fk("stream", clip, "--events", ev, "--output", out, "--stats-every", "0", NULL);
  CHECK_EQ_INT(r.code, 0);
  events e;
  events_load(&e, ev);
  CHECK_EQ_INT(num(last(&e), "frames_written"), SOLO_FRAMES);
  CHECK_EQ_INT(num(last(&e), "dropped"), 0);
  static fk_image frames[SOLO_FRAMES + 1];
  CHECK_EQ_INT(decode_frames(out, frames, SOLO_FRAMES + 1), SOLO_FRAMES);
  int in_order = 1;
  for (int f = 0; f < SOLO_FRAMES; f++) {
    if (frames[f].rgb && read_stamp(&frames[f]) != f) {
      if (in_order) fprintf(stderr, "  output frame %d shows frame %d\n", f, read_stamp(&frames[f]));
      in_order = 0;
    }
    fk_image_free(&frames[f]);
  }
  CHECK(in_order);
  /* a track was drawn: the output is the annotated video, not a copy */
  CHECK_EQ_INT(count(&e, "track_start"), 1);
  double pts[SOLO_FRAMES + 1];
  CHECK_EQ_INT(frame_times(out, pts, SOLO_FRAMES + 1), SOLO_FRAMES);
  int on_time = 1;
  for (int f = 0; f < SOLO_FRAMES; f++) on_time &= fabs(pts[f] - pts[0] - (double)f / FPS) < 0.5 / FPS;
  CHECK(on_time);
  events_free(&e);
  result_free(&r);
}

/* The writer thread's failure reaches the analysis: the push after a frame
 * the sink rejects fails with the sink's message, later frames are
 * refused, and finish returns the error; the frames before it are kept. */
static void test_stream_writer_reports_the_sinks_error(void) {
  PATH(out, "writer-error.mp4");
  fkv_sink *sink;
  CHECK_EQ_INT(fkv_sink_open(out, W, H, FPS, &sink), FK_OK);
  fkv_writer *w;
  CHECK_EQ_INT(fkv_writer_start(sink, 2, &w), FK_OK);
  fk_image *img;
  for (int f = 0; f < 3; f++) {
    CHECK_EQ_INT(fkv_writer_next(w, W, H, &img), FK_OK);
    memset(img->rgb, 40 * f, (size_t)W * H * 3);
    CHECK_EQ_INT(fkv_writer_push(w, (double)f / FPS), FK_OK);
  }
  CHECK_EQ_INT(fkv_writer_next(w, W, H, &img), FK_OK);
  free(img->rgb); /* a frame without pixels: the sink's "invalid frame" */
  img->rgb = NULL;
  fkv_writer_push(w, 3.0 / FPS);
  int rc = FK_OK;
  for (int f = 4; f < 40 && rc == FK_OK; f++) /* at most the queue's depth goes on */
    if ((rc = fkv_writer_next(w, W, H, &img)) == FK_OK) rc = fkv_writer_push(w, (double)f / FPS);
  CHECK_EQ_INT(rc, FK_EINVAL);
  CHECK(strstr(fkv_writer_errmsg(w), "invalid frame") != NULL);
  int64_t written = -1;
  char err[FKV_ERRMSG_MAX] = "";
  CHECK_EQ_INT(fkv_writer_finish(w, &written, NULL, err, sizeof err), FK_EINVAL);
  CHECK(strstr(err, "invalid frame") != NULL);
  CHECK_EQ_INT(written, 3);
  int ww, hh;
  CHECK_EQ_INT(ffprobe_frames(out, &ww, &hh), 3);
}

static void test_stream_detecting_every_other_frame_keeps_the_track(void) {
  PATH(clip, "solo.mp4");
  result r = fk("stream", clip, "--detect-every", "2", "--stats-every", "0", NULL);
  CHECK_EQ_INT(r.code, 0);
  events e;
  events_parse(&e, r.out);
  CHECK(schema_ok(&e));
  CHECK_EQ_INT(count(&e, "track_start"), 1);
  int enter, leave;
  in_view(solo, SOLO_FRAMES, 0, &enter, &leave);
  const cJSON *end = nth(&e, "track_end", 0);
  CHECK(fabs(num(nth(&e, "track_start", 0), "first_frame") - enter) <= 2);
  CHECK(fabs(num(end, "last_frame") - leave) <= 2);
  CHECK(num(last(&e), "detections") <= SOLO_FRAMES / 2 + 1);
  events_free(&e);
  result_free(&r);
}

/* The index: other photos of A and B, in LFW's Person/ layout. */
static void make_index(void) {
  char cmd[20000];
  snprintf(cmd, sizeof cmd, "mkdir -p '%s/gallery/George_W_Bush' '%s/gallery/Laura_Bush' && cp '%s' '%s/gallery/George_W_Bush/gwb.png'",
           root, root, tu_fixture("face_a2.png"), root);
  CHECK_EQ_INT(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "cp '%s' '%s/gallery/Laura_Bush/lb.png'", tu_fixture("face_b2.png"), root);
  CHECK_EQ_INT(system(cmd), 0);
  result r = fk("index", at("gallery"), "--db", gallery, NULL);
  CHECK_EQ_INT(r.code, 0);
  result_free(&r);
}

/* The track whose events name this identity (NULL if none). */
static const cJSON *end_of(const events *e, const char *identity) {
  for (int i = 0; i < e->n; i++) {
    const char *id = str(e->ev[i], "identity");
    if (is_type(e->ev[i], "track_end") && id && !strcmp(id, identity)) return e->ev[i];
  }
  return NULL;
}

static void test_stream_identifies_crossing_faces_across_a_cut(void) {
  PATH(clip, "pair.mp4");
  result r = fk("stream", clip, "--db", gallery, "--actions", "gender,emotion", "--stats-every", "0", NULL);
  CHECK_EQ_INT(r.code, 0);
  events e;
  events_parse(&e, r.out);
  CHECK(schema_ok(&e));
  CHECK_EQ_INT(count(&e, "track_start"), 3); /* A and B through the crossing and the cut, then C */
  const cJSON *a = end_of(&e, "George_W_Bush"), *b = end_of(&e, "Laura_Bush");
  CHECK(a && b);
  if (a && b) {
    /* each spans the whole clip: one id across the occlusion and the cut */
    CHECK(num(a, "first_frame") <= 2 && num(a, "last_frame") >= PAIR_FRAMES - 3);
    CHECK(num(b, "first_frame") <= 2 && num(b, "last_frame") >= PAIR_FRAMES - 3);
    /* the gallery was indexed with the default model: its threshold decides */
    CHECK(num(a, "votes") >= 3 && num(a, "distance") < fk_model_threshold(tu_default_model(), FK_METRIC_COSINE));
    const cJSON *ga = cJSON_GetObjectItem(cJSON_GetObjectItem(a, "attributes"), "gender");
    const cJSON *gb = cJSON_GetObjectItem(cJSON_GetObjectItem(b, "attributes"), "gender");
    CHECK(str_is(ga, "dominant", "Man"));
    CHECK(str_is(gb, "dominant", "Woman"));
    /* announced once each: the identity never changed */
    CHECK(of_track(&e, "identified", (int)num(a, "track")) != NULL);
    CHECK_EQ_INT(count(&e, "identified"), 2);
    const cJSON *ia = of_track(&e, "identified", (int)num(a, "track"));
    CHECK(strstr(str(ia, "path") ? str(ia, "path") : "", "gwb.png") != NULL);
  }
  /* C: a track of its own, from where it appears, and unknown */
  const cJSON *c = nth(&e, "track_start", 2);
  CHECK(c && fabs(num(c, "first_frame") - PAIR_C_ENTERS) <= 2);
  const cJSON *ce = c ? of_track(&e, "track_end", (int)num(c, "track")) : NULL;
  CHECK(ce && cJSON_IsNull(cJSON_GetObjectItem(ce, "identity")) && num(ce, "searches") >= 1);
  CHECK(count(&e, "attributes") >= 3);
  if (!a || !b || count(&e, "track_start") != 3) fprintf(stderr, "  events:\n%s\n", r.out);
  events_free(&e);
  result_free(&r);
}

/* ---- other inputs ----------------------------------------------------------------------- */

static void test_stream_reads_stdin_and_an_image_sequence(void) {
  PATH(mkv, "pair.mkv");
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -i '%s' -c copy '%s'", at("pair.mp4"), mkv);
  CHECK_EQ_INT(system(cmd), 0);
  result r = fk_in(mkv, "stream", "-", "--max-frames", "20", "--stats-every", "0", NULL);
  CHECK_EQ_INT(r.code, 0);
  events e;
  events_parse(&e, r.out);
  CHECK(schema_ok(&e));
  CHECK(str_is(e.ev[0], "kind", "stdin"));
  CHECK_EQ_INT(num(last(&e), "frames_out"), 20);
  CHECK(str_is(last(&e), "reason", "max frames"));
  CHECK_EQ_INT(count(&e, "track_start"), 2);
  events_free(&e);
  result_free(&r);
  /* frames 0..11 of the pair clip as PNG files */
  mkdir(at("seq"), 0755);
  snprintf(cmd, sizeof cmd, "ffmpeg -v error -y -i '%s' -frames:v 12 '%s/%%03d.png'", at("pair.mp4"), at("seq"));
  CHECK_EQ_INT(system(cmd), 0);
  const char *patterns[2] = {at("seq/%03d.png"), at("seq/*.png")};
  for (int k = 0; k < 2; k++) {
    char pat[4400];
    snprintf(pat, sizeof pat, "%s", patterns[k]);
    /* detecting on every frame: the track's last frame is the sequence's last */
    r = fk("stream", pat, "--fps", "5", "--detect-every", "1", "--stats-every", "0", NULL);
    CHECK_EQ_INT(r.code, 0);
    events_parse(&e, r.out);
    CHECK(schema_ok(&e));
    CHECK(str_is(e.ev[0], "kind", "sequence"));
    CHECK_NEAR(num(e.ev[0], "fps"), 5, 1e-6);
    CHECK_EQ_INT(num(last(&e), "frames_out"), 12);
    CHECK_EQ_INT(count(&e, "track_start"), 2);
    CHECK_NEAR(num(nth(&e, "track_end", 0), "last_pts"), 11 / 5.0, 1e-3);
    events_free(&e);
    result_free(&r);
  }
}

/* A helper server: started with FILE and PORT; returns its pid and the port
 * it printed (0 on failure). */
static pid_t start_server(const char *env, const char *file, int port, int *bound) {
  const char *bin = getenv(env);
  *bound = 0;
  if (!bin) return -1;
  char ports[16], out[4400];
  snprintf(ports, sizeof ports, "%d", port);
  snprintf(out, sizeof out, "%s.port", file);
  unlink(out);
  const char *argv[] = {bin, file, ports, NULL};
  pid_t pid = spawn(argv, out, NULL, NULL);
  for (double t0 = tu_now_s(); tu_now_s() - t0 < 30 && !*bound; usleep(50000)) {
    char *s = tu_read_file(out, NULL);
    if (s && strchr(s, '\n')) *bound = atoi(s);
    free(s);
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) return -1;
  }
  return pid;
}

static void stop(pid_t pid, int sig) {
  if (pid <= 0) return;
  kill(pid, sig);
  waitpid(pid, NULL, 0);
}

/* Waits until the events file has n events of a type; 0 if in time. */
static int await_event(const char *path, const char *type, int n, double seconds) {
  for (double t0 = tu_now_s(); tu_now_s() - t0 < seconds; usleep(50000)) {
    events e;
    events_load(&e, path);
    int c = count(&e, type);
    events_free(&e);
    if (c >= n) return 0;
  }
  fprintf(stderr, "  no %d x %s in %s within %g s\n", n, type, path, seconds);
  return -1;
}

static void test_stream_http_source_is_read_to_its_end(void) {
  int port;
  pid_t srv = start_server("FK_HTTP_SERVER", at("solo.mp4"), 0, &port);
  CHECK(port > 0);
  char url[128];
  snprintf(url, sizeof url, "http://127.0.0.1:%d/solo.mp4", port);
  result r = fk("stream", url, "--stats-every", "0", NULL);
  stop(srv, SIGTERM);
  CHECK_EQ_INT(r.code, 0);
  events e;
  events_parse(&e, r.out);
  CHECK(schema_ok(&e));
  CHECK(str_is(e.ev[0], "kind", "network"));
  CHECK(cJSON_IsFalse(cJSON_GetObjectItem(e.ev[0], "live"))); /* a served file, not a live stream */
  CHECK_EQ_INT(num(last(&e), "frames_out"), SOLO_FRAMES);
  CHECK_EQ_INT(count(&e, "track_start"), 1);
  CHECK(str_is(last(&e), "reason", "end of stream"));
  events_free(&e);
  result_free(&r);
}

static void test_stream_rtsp_source_lost_and_reconnected(void) {
  PATH(clip, "solo.mp4");
  PATH(ev, "rtsp.jsonl");
  PATH(out, "rtsp-out.mp4");
  int port;
  pid_t srv = start_server("FK_RTSP_SERVER", clip, 0, &port);
  CHECK(port > 0);
  if (port <= 0) return;
  char url[128], ports[16];
  snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/clip", port);
  snprintf(ports, sizeof ports, "%d", port);
  const char *argv[] = {getenv("FK_CLI"), "stream", url, "--events", ev, "--output", out, "--timeout", "3",
                        "--stats-every", "0", NULL};
  pid_t fkp = spawn(argv, NULL, at("rtsp.err"), NULL);
  CHECK_EQ_INT(await_event(ev, "track_start", 1, 30), 0);
  stop(srv, SIGKILL); /* the camera dies mid-stream */
  CHECK_EQ_INT(await_event(ev, "source_lost", 1, 15), 0);
  int port2;
  srv = start_server("FK_RTSP_SERVER", clip, port, &port2);
  CHECK_EQ_INT(port2, port);
  CHECK_EQ_INT(await_event(ev, "source_reconnected", 1, 30), 0);
  CHECK_EQ_INT(await_event(ev, "track_start", 2, 20), 0); /* the face again, after the reconnect */
  kill(fkp, SIGTERM);
  int code = wait_code(fkp);
  stop(srv, SIGKILL);
  CHECK_EQ_INT(code, 0);
  events e;
  events_load(&e, ev);
  CHECK(schema_ok(&e));
  const cJSON *o = e.ev[0];
  CHECK(str_is(o, "kind", "network") && cJSON_IsTrue(cJSON_GetObjectItem(o, "live")));
  /* the order: first track, lost (closing it), reconnected, second track, end */
  int i_start1 = -1, i_end1 = -1, i_lost = -1, i_back = -1, i_start2 = -1;
  for (int i = 0; i < e.n; i++) {
    if (is_type(e.ev[i], "track_start") && i_start1 < 0) i_start1 = i;
    else if (is_type(e.ev[i], "track_start") && i_start2 < 0) i_start2 = i;
    if (is_type(e.ev[i], "track_end") && i_end1 < 0) i_end1 = i;
    if (is_type(e.ev[i], "source_lost") && i_lost < 0) i_lost = i;
    if (is_type(e.ev[i], "source_reconnected") && i_back < 0) i_back = i;
  }
  CHECK(i_start1 >= 0 && i_start1 < i_lost && i_end1 < i_back && i_lost < i_back && i_back < i_start2);
  CHECK(i_back >= 0 && num(e.ev[i_back], "attempts") >= 1);
  CHECK(str_is(last(&e), "reason", "interrupted"));
  CHECK_EQ_INT(num(last(&e), "reconnects"), 1);
  int w, h;
  CHECK_EQ_INT(ffprobe_frames(out, &w, &h), (int)num(last(&e), "frames_written"));
  CHECK_EQ_INT(w, W);
  events_free(&e);
}

static void test_stream_rtsp_over_udp_reads_frames(void) {
  int port;
  pid_t srv = start_server("FK_RTSP_SERVER", at("solo.mp4"), 0, &port);
  CHECK(port > 0);
  char url[128];
  snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/clip", port);
  result r = fk("stream", url, "--rtsp-transport", "udp", "--max-frames", "15", "--stats-every", "0", NULL);
  stop(srv, SIGKILL);
  CHECK_EQ_INT(r.code, 0);
  events e;
  events_parse(&e, r.out);
  CHECK(schema_ok(&e));
  /* live: how many frames the analysis takes depends on its speed */
  CHECK(num(last(&e), "frames_out") >= 5);
  CHECK(num(last(&e), "frames_in") >= 15);
  events_free(&e);
  result_free(&r);
}

static void test_stream_sigint_closes_tracks_and_finishes_the_output(void) {
  PATH(ev, "sig.jsonl");
  PATH(out, "sig-out.mp4");
  const char *argv[] = {getenv("FK_CLI"), "stream", at("solo.mp4"), "--realtime", "--events", ev, "--output", out,
                        "--stats-every", "0", NULL};
  double t0 = tu_now_s();
  pid_t p = spawn(argv, NULL, NULL, NULL);
  CHECK_EQ_INT(await_event(ev, "track_start", 1, 30), 0);
  kill(p, SIGINT);
  int code = wait_code(p);
  double took = tu_now_s() - t0;
  CHECK_EQ_INT(code, 0);
  CHECK(took < SOLO_FRAMES / (double)FPS); /* stopped before the clip's end */
  events e;
  events_load(&e, ev);
  CHECK(schema_ok(&e));
  CHECK_EQ_INT(count(&e, "track_end"), 1);
  CHECK(str_is(last(&e), "reason", "interrupted"));
  int n = (int)num(last(&e), "frames_written"), w, h;
  CHECK(n > 0 && n < SOLO_FRAMES);
  CHECK_EQ_INT(ffprobe_frames(out, &w, &h), n); /* it plays, every frame */
  events_free(&e);
}

static void test_stream_realtime_keeps_the_clip_pace(void) {
  double t0 = tu_now_s();
  result r = fk("stream", at("solo.mp4"), "--realtime", "--max-frames", "15", "--stats-every", "0", NULL);
  double took = tu_now_s() - t0;
  CHECK_EQ_INT(r.code, 0);
  events e;
  events_parse(&e, r.out);
  CHECK(cJSON_IsTrue(cJSON_GetObjectItem(e.ev[0], "live")));
  /* 15 frames at 10 fps are 1.4 s from the first to the last */
  CHECK(took >= 1.4);
  CHECK(num(last(&e), "frames_in") >= 15);
  events_free(&e);
  result_free(&r);
}

/* ---- bad input ---------------------------------------------------------------------------- */

static void expect_error(result r, int code, const char *needle) {
  CHECK_EQ_INT(r.code, code);
  events e;
  events_parse(&e, r.out);
  const char *msg = e.n ? str(last(&e), "error") : NULL;
  if (!msg || !strstr(msg, needle)) {
    fprintf(stderr, "  error '%s' lacks '%s' (stdout: %.300s, stderr: %.300s)\n", msg ? msg : "", needle, r.out, r.err);
    CHECK(0);
  }
  events_free(&e);
  result_free(&r);
}

static void test_stream_corrupt_packet_is_skipped_and_counted(void) {
  PATH(bad, "corrupt.mp4");
  size_t n;
  char *data = tu_read_file(at("solo.mp4"), &n);
  CHECK(data != NULL);
  if (!data) return;
  /* the packet of frame 15 (mid-GOP): find it with ffprobe, garble it */
  char cmd[4600];
  snprintf(cmd, sizeof cmd, "ffprobe -v error -select_streams v -show_entries packet=pos,size -of csv=p=0 '%s'", at("solo.mp4"));
  FILE *p = popen(cmd, "r");
  long size = 0, pos = 0;
  for (int k = 0; p && k <= 15; k++)
    if (fscanf(p, "%ld,%ld", &size, &pos) != 2) size = 0;
  if (p) pclose(p);
  CHECK(size > 8 && pos > 0 && (size_t)(pos + size) <= n);
  for (long i = pos + 4; i < pos + size && (size_t)i < n; i++) data[i] = (char)(i * 7919);
  tu_write_file(bad, data, n);
  free(data);
  result r = fk("stream", bad, "--stats-every", "0", NULL);
  CHECK_EQ_INT(r.code, 0);
  events e;
  events_parse(&e, r.out);
  CHECK(schema_ok(&e));
  const cJSON *fin = last(&e);
  CHECK(num(fin, "damaged") >= 1);
  CHECK(num(fin, "frames_out") + num(fin, "damaged") >= SOLO_FRAMES - 1);
  CHECK(num(fin, "frames_out") >= SOLO_FRAMES - 10); /* the rest analysed */
  CHECK(count(&e, "track_start") >= 1);
  events_free(&e);
  result_free(&r);
}

static void test_stream_bad_sources_fail_clearly(void) {
  PATH(empty, "empty.mp4");
  PATH(text, "text.mp4");
  PATH(trunc, "truncated.mp4");
  tu_write_file(empty, "", 0);
  tu_write_text(text, "this is not a video\n");
  size_t n;
  char *data = tu_read_file(at("solo.mp4"), &n);
  if (data) tu_write_file(trunc, data, n * 2 / 3); /* the index (moov) is at the end */
  free(data);
  expect_error(fk("stream", at("missing.mp4"), NULL), 1, "No such file");
  expect_error(fk("stream", empty, NULL), 1, "empty");
  expect_error(fk("stream", text, NULL), 1, "not a video");
  expect_error(fk("stream", trunc, NULL), 1, "truncated");
  expect_error(fk("stream", root, NULL), 1, "directory");
  double t0 = tu_now_s();
  expect_error(fk("stream", "rtsp://127.0.0.1:1/x", NULL), 1, "cannot open the stream");
  CHECK(tu_now_s() - t0 < 5);
  expect_error(fk("stream", "/dev/video99", NULL), 1, "no such video device");
  expect_error(fk("stream", "v4l2:///dev/video99", "--size", "640x480", "--fps", "30", NULL), 1, "no such video device");
  expect_error(fk("stream", "v4l2:///dev/null", NULL), 1, "not a video capture device");
  expect_error(fk("stream", at("solo.mp4"), "--output", at("nodir/out.mp4"), NULL), 1, "out.mp4");
  expect_error(fk("stream", at("solo.mp4"), "--output", at("out.xyz"), NULL), 1, "no video container");
  expect_error(fk("stream", at("solo.mp4"), "--snapshots", at("solo.mp4"), NULL), 1, "not a directory");
  expect_error(fk("stream", at("solo.mp4"), "--events", at("nodir/ev.jsonl"), NULL), 1, "cannot write the events");
  expect_error(fk("stream", at("solo.mp4"), "--db", at("missing.db"), NULL), 1, "no index at");
}

/* An RTSP server that accepts and never answers: the stream says it timed
 * out after --timeout, not what FFmpeg makes of no data. */
static void test_stream_silent_rtsp_server_times_out(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t n = sizeof a;
  CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && listen(fd, 4) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &n) == 0);
  char url[64];
  snprintf(url, sizeof url, "rtsp://127.0.0.1:%d/x", ntohs(a.sin_port));
  double t0 = tu_now_s();
  expect_error(fk("stream", url, "--timeout", "2", NULL), 1, "no answer in 2 s");
  double dt = tu_now_s() - t0;
  CHECK(dt >= 1.9 && dt < 15);
  close(fd);
}

static void test_stream_index_of_another_model_is_refused(void) {
  PATH(db, "other.db");
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s'", gallery, db);
  CHECK_EQ_INT(system(cmd), 0);
  sqlite3 *h;
  sqlite3_open(db, &h);
  /* the index's model by name, with other weights' fingerprint */
  snprintf(cmd, sizeof cmd, "UPDATE meta SET value = '%s-0123456789abcdef' WHERE key = 'model'",
           fk_model_name(tu_default_model()));
  sqlite3_exec(h, cmd, NULL, NULL, NULL);
  sqlite3_close(h);
  expect_error(fk("stream", at("solo.mp4"), "--db", db, NULL), 1, "refusing to mix embedding spaces");
}

static void test_stream_bad_command_lines_exit_2(void) {
  PATH(clip, "solo.mp4");
  expect_error(fk("stream", NULL), 2, "missing SOURCE");
  expect_error(fk("stream", clip, clip, NULL), 2, "one source at a time");
  expect_error(fk("stream", clip, "--bogus", NULL), 2, "unknown option");
  expect_error(fk("stream", clip, "--detect-every", "0", NULL), 2, "--detect-every");
  expect_error(fk("stream", clip, "--actions", "mood", NULL), 2, "--actions");
  expect_error(fk("stream", clip, "--track-timeout", "-1", NULL), 2, "--track-timeout");
  expect_error(fk("stream", clip, "--rtsp-transport", "sctp", NULL), 2, "--rtsp-transport");
  expect_error(fk("stream", clip, "--reconnect", "maybe", NULL), 2, "--reconnect");
  expect_error(fk("stream", "/dev/video0", "--size", "640", NULL), 2, "--size must be");
  expect_error(fk("stream", "/dev/video0", "--size", "10x10", NULL), 2, "--size must be");
  expect_error(fk("stream", clip, "--size", "640x480", NULL), 2, "--size is for webcams");
  expect_error(fk("stream", clip, "--fps", "30", NULL), 2, "--fps is for webcams");
  expect_error(fk("stream", "rtsp://127.0.0.1:1/x", "--realtime", NULL), 2, "--realtime is for files");
  expect_error(fk("stream", clip, "--output", NULL), 2, "needs a value");
  result r = fk("stream", "--help", NULL);
  CHECK_EQ_INT(r.code, 0);
  CHECK(strstr(r.out, "--detect-every") && strstr(r.out, "--reconnect") && strstr(r.out, "Pipeline options"));
  result_free(&r);
}

static void test_stream_empty_pg_database_is_refused(void) {
  const char *empty = tu_pg_db("empty");
  expect_error(fk("stream", at("pair.mp4"), "--db", empty, NULL), 1, "is an empty database, not a facekit index");
}

int main(int argc, char **argv) {
  int pg = argc > 1 && !strcmp(argv[1], "--pg");
  snprintf(root, sizeof root, "%s", tu_tmp(pg ? "stream_pg" : "stream"));
  mkdir(root, 0755);
  if (pg) {
    int rc = tu_pg_start();
    if (rc) return rc;
  }
  snprintf(gallery, sizeof gallery, "%s", pg ? tu_pg_db("gallery") : at("gallery.db"));
  if (load_faces() || (!pg && make_clip(at("solo.mp4"), solo, SOLO_FRAMES, NULL, 0)) ||
      make_clip(at("pair.mp4"), pair, PAIR_FRAMES, NULL, 0)) {
    fprintf(stderr, "cannot make the test clips (fixtures, ffmpeg)\n");
    return 1;
  }
  make_index();
  if (pg) {
    RUN(test_stream_identifies_crossing_faces_across_a_cut);
    RUN(test_stream_empty_pg_database_is_refused);
  } else {
    RUN(test_stream_tracks_one_face_through_pan_zoom_and_return);
    RUN(test_stream_output_keeps_every_frame_in_order);
    RUN(test_stream_writer_reports_the_sinks_error);
    RUN(test_stream_detecting_every_other_frame_keeps_the_track);
    RUN(test_stream_identifies_crossing_faces_across_a_cut);
    RUN(test_stream_reads_stdin_and_an_image_sequence);
    RUN(test_stream_http_source_is_read_to_its_end);
    RUN(test_stream_rtsp_source_lost_and_reconnected);
    RUN(test_stream_rtsp_over_udp_reads_frames);
    RUN(test_stream_sigint_closes_tracks_and_finishes_the_output);
    RUN(test_stream_realtime_keeps_the_clip_pace);
    RUN(test_stream_corrupt_packet_is_skipped_and_counted);
    RUN(test_stream_bad_sources_fail_clearly);
    RUN(test_stream_silent_rtsp_server_times_out);
    RUN(test_stream_index_of_another_model_is_refused);
    RUN(test_stream_bad_command_lines_exit_2);
  }
  for (int i = 0; i < 3; i++) fk_image_free(&faces[i]);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  if (!tu_fail) system(cmd);
  return tu_summary();
}
