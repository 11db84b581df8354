/*
 * bench_stream.c - the speed of `facekit stream`: the same loop (fkv_run in
 * src/video/run.c) on clips it makes itself, at 640x480 and 1280x720 with
 * 1 and 4 moving faces (30 fps, H.264), identities on (a 1,000-identity
 * index) and attributes off, at 1 and 2 inference threads. Per row:
 *   - as a file, as fast as it goes: fps (and x real time), and the mean ms
 *     per frame of each stage (decode and encode run on threads of their own,
 *     alongside);
 *   - the same with --output: the draw and encode ms, that fps, and cpu:
 *     the process's CPU ms (user + system, every thread) per frame, which
 *     the load of a shared machine does not inflate as it does wall times:
 *     two free cores run up to 2000 / cpu frames a second;
 *   - as a live 30 fps source (--realtime, with --output unless
 *     --no-output): frames dropped;
 *   - recall: the share of the faces in view (on detection frames) that
 *     the pipeline's boxes cover; tracks: how many it made (the clip has 1
 *     or 4 faces, always in view: more is a false face or a lost id);
 *     ids: the clip's people identified by name in the --output run, out of
 *     the clip's faces, and wrong: identified events naming anyone else.
 *
 *   bench_stream [--frames N] [--detect-every N] [--threads 1,2] [--db FILE]
 *                [--lfw DIR] [--detector ssd|tiny] [--input-size N]
 *                [--min-score S] [--no-live] [--no-output] [--face-size F]
 *                [--faceapi-ms MS1,MS4] [--save-frames DIR] [--clips DIR]
 *                [--size WxH]
 *
 * --face-size: each face's sprite (head and shoulders) as a share of the
 * frame height (0.3; the face itself is about 60% of it).
 * The index: --db, else build/bench-stream.db, made on first use from the
 * first photo of 1,000 LFW identities (--lfw, default the shared copy).
 * The clips' faces are other photos of four of them, so searches find
 * them. Without LFW the clips use the test fixtures and the index is
 * skipped. --faceapi-ms adds the ratio to face-api's time per frame with 1
 * and 4 faces (image_ms of tools/reference/bench.js on the 640x480 frames
 * --save-frames writes; measure them in the same session).
 * --size: only the clips of that size (640x480 or 1280x720).
 * Timings on a shared machine are noisy: compare rows of one run.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench_util.h"
#include "image/compose.h"
#include "video/video.h"

#define FPS 30
#define MAX_FACES 4

typedef struct clip {
  int w, h, nfaces, frames;
  double face_size; /* sprite side / frame height */
  char path[4096];
  fk_box *truth;   /* frames x nfaces: each face's sprite on each frame */
} clip;

typedef struct bench {
  const char *lfw, *db_path, *save_frames, *clips_dir;
  int frames, detect_every, live, output;
  int only_w, only_h;
  double face_size;
  int threads[4], nthreads;
  double faceapi_ms[2]; /* face-api's ms per frame with 1 and 4 faces */
  fk_options opt;
  fk_image faces[MAX_FACES];
  fk_models *m;
  fk_store *db;
} bench;

/* The clip's people: an indexed identity each, shown in another photo. */
static const char *const people[MAX_FACES] = {"George_W_Bush", "Laura_Bush", "Colin_Powell", "Serena_Williams"};

static int load_faces(bench *b) {
  static const char *const fixtures[MAX_FACES] = {"tests/fixtures/face_a2.png", "tests/fixtures/face_b2.png",
                                                  "tests/fixtures/face_c1.png", "tests/fixtures/face_a1.png"};
  for (int i = 0; i < MAX_FACES; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s/%s_0010.jpg", b->lfw, people[i], people[i]);
    if (fk_image_load(path, 0, &b->faces[i]) && fk_image_load(fixtures[i], 0, &b->faces[i])) {
      fprintf(stderr, "bench_stream: cannot read %s nor %s\n", path, fixtures[i]);
      return -1;
    }
  }
  return 0;
}

/* Face i's sprite on frame f: a slow Lissajous path in its quadrant (the
 * whole frame for one face) and a gentle zoom. */
static fk_box place(const clip *c, int i, int f) {
  double t = (double)f / FPS, s = c->face_size * c->h * (1 + 0.1 * sin(t * 1.3 + i));
  int cols = c->nfaces > 1 ? 2 : 1, rows = c->nfaces > 2 ? 2 : 1;
  double cw = (double)c->w / cols, ch = (double)c->h / rows;
  double cx = (i % cols + 0.5) * cw + 0.25 * (cw - s) * sin(t * 0.9 + 2 * i);
  double cy = (i / cols + 0.5) * ch + 0.25 * (ch - s) * cos(t * 0.7 + i);
  return (fk_box){(float)(cx - s / 2), (float)(cy - s / 2), (float)s, (float)s};
}

static void draw_frame(const bench *b, const clip *c, int f, fk_image *img) {
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++) {
      uint8_t *p = img->rgb + ((size_t)y * img->width + x) * 3;
      int u = x + 2 * f;
      p[0] = (uint8_t)(100 + 50 * sin(u / 37.0)), p[1] = (uint8_t)(90 + 80 * y / img->height);
      p[2] = (uint8_t)(120 + 40 * cos(u / 53.0 + y / 71.0));
    }
  for (int i = 0; i < c->nfaces; i++) {
    fk_box at = place(c, i, f);
    fk_image s;
    /* head and shoulders of a 250x250 LFW photo */
    if (fk_face_thumbnail(&b->faces[i], (fk_box){45, 35, 160, 160}, 0, (int)at.w, &s)) continue;
    fk_blit(img, &s, (int)at.x, (int)at.y);
    fk_image_free(&s);
    c->truth[(size_t)f * c->nfaces + i] = at;
  }
}

/* Writes the clip with the project's own sink (H.264 at 30 fps). */
static int make_clip(const bench *b, clip *c) {
  snprintf(c->path, sizeof c->path, "%s/bench-%dx%d-%d.mp4", b->clips_dir, c->w, c->h, c->nfaces);
  c->truth = calloc((size_t)c->frames * c->nfaces, sizeof *c->truth);
  fkv_sink *sink;
  fk_image img;
  uint8_t black[3] = {0, 0, 0};
  if (!c->truth || fk_canvas_new(c->w, c->h, black, &img)) return -1;
  int rc = fkv_sink_open(c->path, c->w, c->h, FPS, &sink);
  for (int f = 0; rc == FK_OK && f < c->frames; f++) {
    draw_frame(b, c, f, &img);
    rc = fkv_sink_write(sink, &img, (double)f / FPS);
    if (rc == FK_OK && b->save_frames && f == c->frames / 2) {
      char png[4200];
      snprintf(png, sizeof png, "%s/frame-%dx%d-%d.png", b->save_frames, c->w, c->h, c->nfaces);
      fk_image_save_png(&img, png);
    }
  }
  if (rc) fprintf(stderr, "bench_stream: %s\n", fkv_sink_errmsg(sink));
  int rc2 = fkv_sink_close(sink, NULL, 0);
  fk_image_free(&img);
  return rc || rc2 ? -1 : 0;
}

/* ---- the index -------------------------------------------------------------------- */

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* A tree of symlinks to the first photo of n LFW identities (always
 * including the clip's people). Returns the number linked. */
static int link_gallery(const char *lfw, const char *dir, int n) {
  DIR *d = opendir(lfw);
  if (!d) return 0;
  char **names = NULL;
  int count = 0, cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    if (count == cap) {
      cap = cap ? 2 * cap : 1024;
      char **p = realloc(names, (size_t)cap * sizeof *p);
      if (!p) break;
      names = p;
    }
    names[count++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, (size_t)count, sizeof *names, by_name);
  mkdir(dir, 0755);
  int linked = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < count && linked < n; i++) {
      int ours = 0;
      for (int k = 0; k < MAX_FACES; k++) ours |= !strcmp(names[i], people[k]);
      if (ours != (pass == 0)) continue;
      char src[4096], sub[8300], dst[8600];
      snprintf(src, sizeof src, "%s/%s/%s_0001.jpg", lfw, names[i], names[i]);
      snprintf(sub, sizeof sub, "%s/%s", dir, names[i]);
      snprintf(dst, sizeof dst, "%s/%s_0001.jpg", sub, names[i]);
      if (access(src, R_OK)) continue;
      mkdir(sub, 0755);
      if (symlink(src, dst) == 0 || errno == EEXIST) linked++;
    }
  for (int i = 0; i < count; i++) free(names[i]);
  free(names);
  return linked;
}

static int open_index(bench *b) {
  char path[4096];
  snprintf(path, sizeof path, "%s", b->db_path ? b->db_path : "build/bench-stream.db");
  int exists = access(path, R_OK) == 0;
  if (!exists && b->db_path) return fprintf(stderr, "bench_stream: no index at %s\n", path), -1;
  if (!exists) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s.gallery", path);
    int n = link_gallery(b->lfw, dir, 1000);
    if (n < 1000) {
      fprintf(stderr, "bench_stream: LFW not found at %s: no index, identities off\n", b->lfw);
      return 0;
    }
    fprintf(stderr, "bench_stream: indexing %d LFW identities into %s (once)...\n", n, path);
    fk_store *st;
    fk_options o;
    fk_options_init(&o);
    o.detector = FK_DETECTOR_TINY, o.tiny_input_size = 256, o.min_score = 0.2f; /* README: fast on LFW */
    fk_index_options io;
    fk_index_options_init(&io);
    int rc = fk_store_open(path, FK_STORE_WRITE, &st);
    if (!rc) rc = fk_store_index(st, b->m, &o, dir, &io, NULL);
    if (rc) fprintf(stderr, "bench_stream: %s\n", fk_store_errmsg(st));
    fk_store_close(st);
    if (rc) return -1;
  }
  if (fk_store_open(path, FK_STORE_READ, &b->db) || fk_store_load(b->db, NULL)) {
    fprintf(stderr, "bench_stream: %s\n", fk_store_errmsg(b->db));
    return -1;
  }
  fk_store_info info;
  fk_store_get_info(b->db, &info);
  fprintf(stderr, "bench_stream: index %s: %lld identities, %lld faces\n", path, (long long)info.identities,
          (long long)info.faces);
  return 0;
}

/* ---- runs --------------------------------------------------------------------------- */

typedef struct tally {
  const clip *c;
  int detect_every;
  int64_t in_view, covered, detection_frames;
  unsigned found;      /* bit i: people[i] identified */
  int64_t wrong;       /* identified as someone not in the clip */
  double cpu_ms;       /* process CPU per frame */
} tally;

/* Recall on detection frames: a face in view counts as covered when a
 * detected box's centre lies in the middle half of its sprite. */
static void on_event(const fkv_event *e, void *user) {
  tally *t = user;
  if (e->type == FKV_EV_IDENTIFIED && e->track->identity[0]) {
    int who = -1;
    for (int i = 0; i < t->c->nfaces; i++)
      if (!strcmp(e->track->identity, people[i])) who = i;
    if (who >= 0) t->found |= 1u << who;
    else t->wrong++;
  }
  /* files drop nothing, so frame numbers are the engine's own count */
  if (e->type != FKV_EV_FRAME || e->frame >= t->c->frames || e->frame % t->detect_every) return;
  t->detection_frames++;
  for (int i = 0; i < t->c->nfaces; i++) {
    fk_box g = t->c->truth[(size_t)e->frame * t->c->nfaces + i];
    if (g.x < 0 || g.y < 0 || g.x + g.w > t->c->w || g.y + g.h > t->c->h) continue;
    t->in_view++;
    int hit = 0;
    for (int k = 0; k < e->ntracks + e->nboxes && !hit; k++) {
      fk_box d = k < e->ntracks ? e->tracks[k]->box : e->boxes[k - e->ntracks];
      if (k < e->ntracks && !e->tracks[k]->detected) continue;
      float cx = d.x + d.w / 2, cy = d.y + d.h / 2;
      hit = fabsf(cx - (g.x + g.w / 2)) < g.w / 4 && fabsf(cy - (g.y + g.h / 2)) < g.h / 4;
    }
    t->covered += hit;
  }
}

/* CPU time of the whole process so far, ms. */
static double process_cpu_ms(void) {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}

static int run(const bench *b, const clip *c, int threads, int realtime, int output, fkv_stats *st, tally *t) {
  fk_options o = b->opt;
  o.threads = threads;
  fk_session *s;
  if (fk_session_new(b->m, &o, &s)) {
    fprintf(stderr, "bench_stream: %s\n", fk_session_errmsg(s));
    fk_session_free(s);
    return -1;
  }
  fkv_run_options r;
  fkv_run_options_init(&r);
  char out[4200];
  snprintf(out, sizeof out, "%s/bench-out.mp4", b->clips_dir);
  r.source.url = c->path;
  r.source.realtime = realtime;
  r.engine.detect_every = b->detect_every;
  r.engine.db = b->db;
  r.engine.model = b->opt.model;
  r.engine.every_frame = 1;
  r.engine.on_event = on_event;
  memset(t, 0, sizeof *t);
  t->c = c;
  t->detect_every = b->detect_every;
  r.engine.user = t;
  r.output = output ? out : NULL;
  r.stats_every = 0;
  char err[1024];
  double cpu0 = process_cpu_ms();
  int rc = fkv_run(s, NULL, &r, st, err, sizeof err);
  t->cpu_ms = st->frames_out ? (process_cpu_ms() - cpu0) / st->frames_out : 0;
  if (rc) fprintf(stderr, "bench_stream: %s\n", err);
  fk_session_free(s);
  return rc ? -1 : 0;
}

static void row(const bench *b, const clip *c, int threads) {
  fkv_stats file, out, live;
  tally tf, to, tl;
  if (run(b, c, threads, 0, 0, &file, &tf)) return;
  int have_out = b->output && run(b, c, threads, 0, 1, &out, &to) == 0;
  int have_live = b->live && run(b, c, threads, 1, b->output, &live, &tl) == 0;
  printf("%4dx%-4d %5d %7d %7.1f %6.1fx", c->w, c->h, c->nfaces, threads, file.fps_out, file.fps_out / FPS);
  for (int i = FKV_STAGE_DECODE; i <= FKV_STAGE_ATTRIBUTES; i++) printf(" %7.2f", file.ms[i]);
  if (have_out) printf(" %7.2f %7.2f %7.1f %6.2f", out.ms[FKV_STAGE_DRAW], out.ms[FKV_STAGE_ENCODE], out.fps_out, to.cpu_ms);
  else printf(" %7s %7s %7s %6s", "-", "-", "-", "-");
  if (have_live) printf("  %4lld/%-4lld", (long long)live.dropped, (long long)live.frames_in);
  else printf("  %9s", "-");
  printf(" %6.1f%% %6lld", tf.in_view ? 100.0 * tf.covered / tf.in_view : 0, (long long)file.tracks_total);
  if (have_out && b->db) printf("   %d/%d %5lld", __builtin_popcount(to.found), c->nfaces, (long long)to.wrong);
  else printf("   %3s %5s", "-", "-");
  double fa = b->faceapi_ms[c->nfaces > 1];
  if (fa > 0) printf(" %6.1fx", fa * file.fps_out / 1000);
  printf("\n");
  fflush(stdout);
}

static int parse(int argc, char **argv, bench *b) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    int used = 1;
    if (!strcmp(a, "--no-live")) b->live = 0, used = 0;
    else if (!strcmp(a, "--no-output")) b->output = 0, used = 0;
    else if (!v) return fprintf(stderr, "bench_stream: %s needs a value\n", a), -1;
    else if (!strcmp(a, "--frames")) b->frames = atoi(v);
    else if (!strcmp(a, "--detect-every")) b->detect_every = atoi(v);
    else if (!strcmp(a, "--db")) b->db_path = v;
    else if (!strcmp(a, "--lfw")) b->lfw = v;
    else if (!strcmp(a, "--save-frames")) b->save_frames = v;
    else if (!strcmp(a, "--clips")) b->clips_dir = v;
    else if (!strcmp(a, "--faceapi-ms")) {
      if (sscanf(v, "%lf,%lf", &b->faceapi_ms[0], &b->faceapi_ms[1]) != 2)
        return fprintf(stderr, "bench_stream: --faceapi-ms takes MS1,MS4\n"), -1;
    }
    else if (!strcmp(a, "--face-size")) b->face_size = atof(v);
    else if (!strcmp(a, "--size")) {
      if (sscanf(v, "%dx%d", &b->only_w, &b->only_h) != 2) return fprintf(stderr, "bench_stream: --size takes WxH\n"), -1;
    }
    else if (!strcmp(a, "--input-size")) b->opt.tiny_input_size = b->opt.ssd_input_size = atoi(v);
    else if (!strcmp(a, "--min-score")) b->opt.min_score = (float)atof(v);
    else if (!strcmp(a, "--detector")) b->opt.detector = !strcmp(v, "ssd") ? FK_DETECTOR_SSD : FK_DETECTOR_TINY;
    else if (!strcmp(a, "--threads")) {
      b->nthreads = 0;
      for (const char *p = v; *p && b->nthreads < 4; p = strchr(p, ',') ? strchr(p, ',') + 1 : "")
        b->threads[b->nthreads++] = atoi(p);
    } else return fprintf(stderr, "bench_stream: unknown option %s\n", a), -1;
    i += used;
  }
  if (b->frames < 10 || b->detect_every < 1 || !(b->face_size > 0.05 && b->face_size <= 0.9))
    return fprintf(stderr, "bench_stream: bad --frames, --detect-every or --face-size\n"), -1;
  return 0;
}

int main(int argc, char **argv) {
  bench b = {.lfw = "/work/shared/data/lfw/lfw-deepfunneled", .clips_dir = "build", .frames = 150,
             .detect_every = 2, .live = 1, .output = 1, .threads = {1, 2}, .nthreads = 2, .face_size = 0.3};
  fk_options_init(&b.opt);
  fkv_default_detector(&b.opt);
  if (parse(argc, argv, &b)) return 2;
  fkv_log_init(0);
  unsigned nets = (b.opt.detector == FK_DETECTOR_TINY ? FK_NET_TINY : FK_NET_SSD) | FK_NET_LANDMARKS |
                  fk_model_nets(b.opt.model);
  if (fk_models_open(NULL, nets, &b.m)) {
    fprintf(stderr, "bench_stream: %s\n", fk_models_errmsg(b.m));
    return 1;
  }
  if (load_faces(&b) || open_index(&b)) return 1;
  clip clips[4] = {{640, 480, 1, b.frames, b.face_size, "", NULL}, {640, 480, 4, b.frames, b.face_size, "", NULL},
                   {1280, 720, 1, b.frames, b.face_size, "", NULL}, {1280, 720, 4, b.frames, b.face_size, "", NULL}};
  int nclips = 0;
  for (int i = 0; i < 4; i++)
    if (!b.only_w || (clips[i].w == b.only_w && clips[i].h == b.only_h)) clips[nclips++] = clips[i];
  if (!nclips) return fprintf(stderr, "bench_stream: no clip of that --size (640x480, 1280x720)\n"), 2;
  for (int i = 0; i < nclips; i++)
    if (make_clip(&b, &clips[i])) return 1;
  int size = b.opt.detector == FK_DETECTOR_TINY ? b.opt.tiny_input_size : b.opt.ssd_input_size;
  printf("bench_stream: %d frames at %d fps per clip, faces %.0f%% of the height; detector %s at %d, min score %.2f, "
         "detect every %d; identities %s; attributes off\n",
         b.frames, FPS, 100 * 0.6 * b.face_size, b.opt.detector == FK_DETECTOR_TINY ? "tiny" : "ssd", size, b.opt.min_score, b.detect_every,
         b.db ? "on" : "off (no index)");
  printf("%-9s %5s %7s %7s %7s", "clip", "faces", "threads", "fps", "x-real");
  for (int i = FKV_STAGE_DECODE; i <= FKV_STAGE_ATTRIBUTES; i++) printf(" %7s", fkv_stage_names[i]);
  printf(" %7s %7s %7s %6s  %9s %7s %6s %5s %5s%s\n", "draw", "encode", "fps-out", "cpu", "live-drop", "recall", "tracks", "ids",
         "wrong",
         b.faceapi_ms[0] > 0 ? "  vs-face-api" : "");
  for (int i = 0; i < nclips; i++)
    for (int k = 0; k < b.nthreads; k++) row(&b, &clips[i], b.threads[k]);
  printf("(ms: mean per frame of each stage; decode and encode run on threads of their own; draw/encode/fps-out:\n"
         " the same run with --output; live-drop: frames dropped / decoded as a live 30 fps source, with --output)\n");
  for (int i = 0; i < nclips; i++) free(clips[i].truth);
  for (int i = 0; i < MAX_FACES; i++) fk_image_free(&b.faces[i]);
  fk_store_close(b.db);
  fk_models_free(b.m);
  return 0;
}
