/*
 * stream.c - `facekit stream SOURCE`: faces of a video, live. Parses the
 * options, opens the models (and the index), and hands the rest to the
 * video layer's loop (fkv_run in src/video/run.c); this file turns its
 * events into JSON Lines, one object per line, flushed per line. Ctrl-C
 * and SIGTERM stop the run cleanly (tracks closed, output video finished,
 * exit 0).
 *
 * Built as a program of its own, facekit-stream, which `facekit stream`
 * executes (main.c): the one part of the CLI that links FFmpeg.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "video/video.h"

static const char help[] =
    "usage: facekit stream SOURCE [options]\n"
    "Detects, tracks and (with --db) identifies the faces of a video, and prints one\n"
    "JSON object per event on stdout (JSON Lines): source_open, track_start,\n"
    "identified, attributes, track_end, stats, source_lost, source_reconnected, end.\n"
    "SOURCE: a video file (anything FFmpeg decodes: MP4, MKV, WebM, AVI, MOV...);\n"
    "  rtsp://, http(s)://, udp://, tcp:// streams; a webcam (/dev/videoN or\n"
    "  v4l2:///dev/videoN); an image sequence (frames/%05d.jpg, or a glob); - for stdin.\n"
    "Tracking and identity:\n"
    "  --db FILE             identify each track against this index (facekit index);\n"
    "                        the track's identity is the one most of its embeddings\n"
    "                        match, announced again only when it changes\n"
    "  --metric M            cosine (default), euclidean or euclidean_l2\n"
    "  --threshold T         a match votes when its distance is <= T (default: the\n"
    "                        metric's same-person threshold)\n"
    "  --actions LIST        also age, gender, emotion, race per track, smoothed\n"
    "  --detect-every N      run the detector on every Nth frame; the tracker carries\n"
    "                        the boxes in between (default 2)\n"
    "  --embed-every N       embed each track on its first 3 detected frames, then\n"
    "                        every N frames, on its best recent face (default 30)\n"
    "  --track-timeout S     a track ends when unseen for S seconds; a face back within\n"
    "                        S keeps its id (default 1)\n"
    "  --min-face PX         ignore faces whose box is smaller than PX (default 0)\n"
    "  --min-hits N          detections before a track starts (default 2)\n"
    "Output:\n"
    "  --events FILE         JSON Lines to FILE instead of stdout\n"
    "  --every-frame         also a \"frame\" record per frame with every box\n"
    "  --stats-every S       a \"stats\" record every S seconds (default 5; 0: none)\n"
    "  --output OUT.mp4      the video annotated with boxes, ids, identities and\n"
    "                        attributes (H.264, or MPEG-4 without libx264; no audio)\n"
    "  --snapshots DIR       the best face of each track as DIR/<track>.png\n"
    "  --max-frames N        stop after N frames\n"
    "Sources:\n"
    "  --realtime            read a file at its own frame rate, as a live source\n"
    "                        (frames the analysis cannot keep up with are dropped)\n"
    "  --live                treat any source as live (keep only the newest frame)\n"
    "  --reconnect true|false  reconnect a lost network source, with backoff (true)\n"
    "  --timeout S           network and webcams: no data for S seconds is a loss (5)\n"
    "  --rtsp-transport tcp|udp  (default tcp)\n"
    "  --size WxH, --fps N   webcam capture size and rate (--fps also for sequences)\n"
    "  --verbose             pass FFmpeg's warnings to stderr\n"
    "The detector defaults to tiny at 416, min score 0.2 (chosen for video; see README);\n"
    "faces under a tenth of the frame height want a larger --input-size (608).\n"
    "With --db, the embedding options (--model, --landmarks, --align, --flip) come from\n"
    "the index.\n"
    "Keep --threads 1 unless cores are idle: decoding and encoding run on threads of\n"
    "their own alongside, and inference threads spin-wait for busy cores (see README).\n"
    "Exit codes: 0 when the input ended or a signal stopped it, 1 on errors (the last\n"
    "line is then {\"type\":\"error\",\"error\":...}), 2 on a bad command line.\n\n";

typedef struct stream_args {
  fkv_run_options run;
  const char *db, *events, *attribute_model;
  int actions, verbose;
  int given_min_score, given_model, given_align, given_flip, given_landmarks;
  fk_search_options so;
} stream_args;

/* The sink of the events: one JSON object per line. */
typedef struct printer {
  FILE *f;
  const char *url;
  const char *model;
  const fk_options *opt;
  const stream_args *a;
  volatile int *cancel;
  int failed, printed;
  int64_t frame;      /* of the last event */
  double pts;
} printer;

static cJSON *opt_int(int64_t v) { return cJSON_CreateNumber((double)v); }

static void add_wall(cJSON *o) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03ldZ", ts.tv_nsec / 1000000);
  cJSON_AddStringToObject(o, "wall", buf);
}

static cJSON *header(const char *type, int64_t frame, double pts) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", type);
  cJSON_AddItemToObject(o, "frame", opt_int(frame));
  cJSON_AddNumberToObject(o, "pts", fk_json_float((float)pts));
  add_wall(o);
  return o;
}

static const char *kind_name(int kind) {
  static const char *const names[] = {"file", "stdin", "sequence", "network", "webcam"};
  return kind >= 0 && kind < 5 ? names[kind] : "file";
}

static void add_number_or_null(cJSON *o, const char *k, double v) {
  if (v > 0) cJSON_AddNumberToObject(o, k, v);
  else cJSON_AddNullToObject(o, k);
}

static void add_identity(cJSON *o, const fkv_track *t) {
  if (t->identified && t->identity[0]) cJSON_AddStringToObject(o, "identity", t->identity);
  else cJSON_AddNullToObject(o, "identity");
}

static cJSON *stages_json(const double *ms) {
  cJSON *o = cJSON_CreateObject();
  for (int i = 0; i < FKV_NUM_STAGES; i++) cJSON_AddNumberToObject(o, fkv_stage_names[i], fk_json_float((float)ms[i]));
  return o;
}

static void add_stats(cJSON *o, const fkv_stats *s) {
  cJSON_AddNumberToObject(o, "fps_in", fk_json_float((float)s->fps_in));
  cJSON_AddNumberToObject(o, "fps_out", fk_json_float((float)s->fps_out));
  cJSON_AddItemToObject(o, "ms", stages_json(s->ms));
  cJSON_AddItemToObject(o, "frames_in", opt_int(s->frames_in));
  cJSON_AddItemToObject(o, "frames_out", opt_int(s->frames_out));
  cJSON_AddItemToObject(o, "dropped", opt_int(s->dropped));
  cJSON_AddItemToObject(o, "damaged", opt_int(s->damaged));
  cJSON_AddItemToObject(o, "tracks_alive", opt_int(s->tracks_alive));
  cJSON_AddNumberToObject(o, "seconds", fk_json_float((float)s->seconds));
}

static void source_open_json(cJSON *o, const printer *p, const fkv_source_info *in) {
  cJSON_AddStringToObject(o, "source", p->url);
  cJSON_AddStringToObject(o, "kind", kind_name(in->kind));
  cJSON_AddBoolToObject(o, "live", in->live);
  cJSON_AddStringToObject(o, "format", in->format);
  cJSON_AddStringToObject(o, "codec", in->codec);
  cJSON_AddNumberToObject(o, "width", in->width);
  cJSON_AddNumberToObject(o, "height", in->height);
  add_number_or_null(o, "fps", fk_json_float((float)in->fps));
  add_number_or_null(o, "duration", fk_json_float((float)in->duration));
  fk_json_add_pipeline(o, p->model, p->opt, 1);
  cJSON_AddNumberToObject(o, "detect_every", p->a->run.engine.detect_every);
  if (p->a->db) cJSON_AddStringToObject(o, "db", p->a->db);
  if (p->a->run.output) cJSON_AddStringToObject(o, "output", p->a->run.output);
}

static void track_end_json(cJSON *o, const fkv_track *t) {
  cJSON_AddItemToObject(o, "first_frame", opt_int(t->first_frame));
  cJSON_AddItemToObject(o, "last_frame", opt_int(t->last_frame));
  cJSON_AddNumberToObject(o, "first_pts", fk_json_float((float)t->first_pts));
  cJSON_AddNumberToObject(o, "last_pts", fk_json_float((float)t->last_pts));
  cJSON_AddNumberToObject(o, "duration", fk_json_float((float)(t->last_pts - t->first_pts)));
  add_identity(o, t);
  if (t->identified) {
    cJSON_AddNumberToObject(o, "distance", fk_json_float(t->distance));
    cJSON_AddNumberToObject(o, "votes", t->votes);
  }
  cJSON_AddNumberToObject(o, "searches", t->searches);
  if (t->attr_samples) {
    cJSON *a = cJSON_AddObjectToObject(o, "attributes");
    fk_json_add_attributes(a, &t->attr);
  }
  if (t->snapshot[0]) cJSON_AddStringToObject(o, "snapshot", t->snapshot);
  cJSON_AddNumberToObject(o, "embeddings", t->embeddings);
  if (t->embedding) {
    cJSON_AddNumberToObject(o, "dim", t->dim);
    cJSON_AddItemToObject(o, "embedding", fk_json_floats(t->embedding, t->dim));
  }
}

static void attributes_json(cJSON *o, const fkv_track *t) {
  fk_json_add_attributes(o, &t->attr);
  cJSON *ch = cJSON_AddArrayToObject(o, "changed");
  static const struct { unsigned bit; const char *name; } names[] = {
      {FK_ACTION_GENDER, "gender"}, {FK_ACTION_EMOTION, "emotion"}, {FK_ACTION_RACE, "race"}};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    if (t->attr_changed & names[i].bit) cJSON_AddItemToArray(ch, cJSON_CreateString(names[i].name));
  cJSON_AddNumberToObject(o, "samples", t->attr_samples);
}

static cJSON *frame_json(cJSON *o, const fkv_event *e) {
  cJSON *faces = cJSON_AddArrayToObject(o, "faces");
  for (int i = 0; i < e->ntracks; i++) {
    const fkv_track *t = e->tracks[i];
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNumberToObject(f, "track", t->id);
    cJSON_AddItemToObject(f, "box", fk_json_box(t->box));
    cJSON_AddBoolToObject(f, "detected", t->detected);
    cJSON_AddItemToArray(faces, f);
  }
  for (int i = 0; i < e->nboxes; i++) {
    cJSON *f = cJSON_CreateObject();
    cJSON_AddNullToObject(f, "track");
    cJSON_AddItemToObject(f, "box", fk_json_box(e->boxes[i]));
    cJSON_AddBoolToObject(f, "detected", 1);
    cJSON_AddItemToArray(faces, f);
  }
  return o;
}

static void on_event(const fkv_event *e, void *user) {
  printer *p = user;
  if (p->failed) return;
  cJSON *o = header(fkv_event_names[e->type], e->frame, e->pts);
  const fkv_track *t = e->track;
  if (t) cJSON_AddNumberToObject(o, "track", t->id);
  switch (e->type) {
    case FKV_EV_SOURCE_OPEN: source_open_json(o, p, e->source); break;
    case FKV_EV_SOURCE_LOST: cJSON_AddStringToObject(o, "reason", e->read->reason); break;
    case FKV_EV_SOURCE_RECONNECTED:
      cJSON_AddNumberToObject(o, "attempts", e->read->attempts);
      cJSON_AddNumberToObject(o, "downtime", fk_json_float((float)e->read->downtime));
      break;
    case FKV_EV_TRACK_START:
      cJSON_AddItemToObject(o, "box", fk_json_box(t->box));
      cJSON_AddNumberToObject(o, "score", fk_json_float(t->score));
      cJSON_AddItemToObject(o, "first_frame", opt_int(t->first_frame));
      break;
    case FKV_EV_IDENTIFIED:
      add_identity(o, t);
      cJSON_AddNumberToObject(o, "distance", fk_json_float(t->distance));
      cJSON_AddNumberToObject(o, "votes", t->votes);
      cJSON_AddNumberToObject(o, "searches", t->searches);
      cJSON_AddStringToObject(o, "path", t->identity_path);
      break;
    case FKV_EV_ATTRIBUTES: attributes_json(o, t); break;
    case FKV_EV_TRACK_END: track_end_json(o, t); break;
    case FKV_EV_FRAME: frame_json(o, e); break;
    case FKV_EV_STATS: add_stats(o, e->stats); break;
    case FKV_EV_END:
      cJSON_AddStringToObject(o, "reason", e->end_reason);
      add_stats(o, e->stats);
      cJSON_AddItemToObject(o, "reconnects", opt_int(e->stats->reconnects));
      cJSON_AddItemToObject(o, "tracks", opt_int(e->stats->tracks_total));
      cJSON_AddItemToObject(o, "detections", opt_int(e->stats->detections));
      cJSON_AddItemToObject(o, "embeddings", opt_int(e->stats->embeddings));
      cJSON_AddItemToObject(o, "searches", opt_int(e->stats->searches));
      if (p->a->run.output) {
        cJSON_AddStringToObject(o, "output", p->a->run.output);
        cJSON_AddItemToObject(o, "frames_written", opt_int(e->stats->frames_written));
      }
      break;
  }
  p->printed = 1;
  p->frame = e->frame;
  p->pts = e->pts;
  if (cli_fprint(p->f, o)) {
    /* stdout closed (a pipe to head, a full disk): stop, cleanly */
    p->failed = errno ? errno : EIO;
    *p->cancel = 1;
  }
}

/* ---- arguments -------------------------------------------------------------------- */

static int parse_size(const char *v, int *w, int *h) {
  char tail;
  return sscanf(v, "%dx%d%c", w, h, &tail) == 2 && *w >= 16 && *h >= 16 && *w <= 8192 && *h <= 8192 ? 0 : -1;
}

static const char *const valued[] = {
    "--db", "--metric", "--threshold", "--actions", "--detect-every", "--embed-every",
    "--track-timeout", "--min-face", "--min-hits", "--events", "--stats-every", "--output", "--snapshots",
    "--max-frames", "--reconnect", "--timeout", "--rtsp-transport", "--size", "--fps"};

/* One option with a value; returns -1 when fine, else the exit code. */
static int parse_valued(stream_args *a, const char *k, const char *v) {
  fkv_engine_options *e = &a->run.engine;
  fkv_source_options *s = &a->run.source;
  float f;
  int n;
  if (!strcmp(k, "--db")) a->db = v;
  else if (!strcmp(k, "--events")) a->events = v;
  else if (!strcmp(k, "--output")) a->run.output = v;
  else if (!strcmp(k, "--snapshots")) e->snapshots = v;
  else if (!strcmp(k, "--metric")) {
    if ((e->metric = fk_metric_from_name(v)) < 0)
      return cli_usage("stream ", "--metric must be cosine, euclidean or euclidean_l2, not '%s'", v);
  } else if (!strcmp(k, "--threshold")) {
    if (cli_parse_float(v, 0, 1e6, &e->threshold)) return cli_usage("stream ", "--threshold must be a number >= 0, not '%s'", v);
  } else if (!strcmp(k, "--actions")) {
    if ((a->actions = fk_actions_from_names(v)) <= 0)
      return cli_usage("stream ", "--actions takes a comma-separated list of age, gender, emotion, race, not '%s'", v);
    e->actions = (unsigned)a->actions;
  } else if (!strcmp(k, "--detect-every")) {
    if (cli_parse_int(v, 1, 1000, &e->detect_every)) return cli_usage("stream ", "--detect-every must be in [1, 1000], not '%s'", v);
  } else if (!strcmp(k, "--embed-every")) {
    if (cli_parse_int(v, 1, 100000, &e->embed_every)) return cli_usage("stream ", "--embed-every must be in [1, 100000], not '%s'", v);
  } else if (!strcmp(k, "--track-timeout")) {
    if (cli_parse_float(v, 0, 3600, &f)) return cli_usage("stream ", "--track-timeout must be seconds in [0, 3600], not '%s'", v);
    e->track.timeout = f;
  } else if (!strcmp(k, "--min-face")) {
    if (cli_parse_int(v, 0, 100000, &e->min_face)) return cli_usage("stream ", "--min-face must be pixels >= 0, not '%s'", v);
  } else if (!strcmp(k, "--min-hits")) {
    if (cli_parse_int(v, 1, 1000, &e->track.min_hits)) return cli_usage("stream ", "--min-hits must be in [1, 1000], not '%s'", v);
  } else if (!strcmp(k, "--stats-every")) {
    if (cli_parse_float(v, 0, 1e6, &f)) return cli_usage("stream ", "--stats-every must be seconds >= 0, not '%s'", v);
    a->run.stats_every = f;
  } else if (!strcmp(k, "--max-frames")) {
    if (cli_parse_int(v, 1, 2000000000, &n)) return cli_usage("stream ", "--max-frames must be a positive integer, not '%s'", v);
    a->run.max_frames = n;
  } else if (!strcmp(k, "--reconnect")) {
    if (cli_parse_bool(v, &s->reconnect)) return cli_usage("stream ", "--reconnect must be true or false, not '%s'", v);
  } else if (!strcmp(k, "--timeout")) {
    if (cli_parse_float(v, 0.1, 3600, &f)) return cli_usage("stream ", "--timeout must be seconds in [0.1, 3600], not '%s'", v);
    s->timeout = f;
  } else if (!strcmp(k, "--rtsp-transport")) {
    if (strcmp(v, "tcp") && strcmp(v, "udp")) return cli_usage("stream ", "--rtsp-transport must be tcp or udp, not '%s'", v);
    s->rtsp_transport = v;
  } else if (!strcmp(k, "--size")) {
    if (parse_size(v, &s->width, &s->height))
      return cli_usage("stream ", "--size must be WIDTHxHEIGHT (16..8192 each), not '%s'", v);
  } else if (!strcmp(k, "--fps")) {
    if (cli_parse_float(v, 0.1, 1000, &f)) return cli_usage("stream ", "--fps must be in [0.1, 1000], not '%s'", v);
    s->fps = f;
  }
  return -1;
}

/* Checks what only some sources take. */
static int check_source_options(const stream_args *a) {
  const fkv_source_options *s = &a->run.source;
  int kind = fkv_source_kind(s->url);
  if (s->width && kind != FKV_KIND_WEBCAM) return cli_usage("stream ", "--size is for webcams (/dev/videoN)");
  if (s->fps > 0 && kind != FKV_KIND_WEBCAM && kind != FKV_KIND_SEQUENCE)
    return cli_usage("stream ", "--fps is for webcams and image sequences");
  if (s->realtime && (kind == FKV_KIND_NETWORK || kind == FKV_KIND_WEBCAM))
    return cli_usage("stream ", "--realtime is for files: %s is live already", s->url);
  return -1;
}

static int parse(int argc, char **argv, stream_args *a, cli_common *c) {
  int i = 0, code;
  while (cli_next_arg(c, argc, argv, &i, help, &code)) {
    const char *k = argv[i];
    if (!strcmp(k, "--every-frame")) a->run.engine.every_frame = 1;
    else if (!strcmp(k, "--realtime")) a->run.source.realtime = 1;
    else if (!strcmp(k, "--live")) a->run.source.live = 1;
    else if (!strcmp(k, "--verbose")) a->verbose = 1;
    else {
      int known = 0;
      for (size_t j = 0; j < sizeof valued / sizeof *valued; j++) known |= !strcmp(k, valued[j]);
      if (known) {
        if (i + 1 >= argc) return cli_usage("stream ", "%s needs a value", k);
        int rc = parse_valued(a, k, argv[++i]);
        if (rc >= 0) return rc;
      } else if (cli_is_option(k)) {
        return cli_usage("stream ", "unknown option '%s'", k);
      } else if (a->run.source.url) {
        return cli_usage("stream ", "one source at a time, got '%s' and '%s'", a->run.source.url, k);
      } else {
        a->run.source.url = k;
      }
    }
  }
  if (code != CLI_ARGS_END) return code;
  if (!a->run.source.url) return cli_usage("stream ", "missing SOURCE");
  for (int k = 1; k < argc; k++) {
    a->given_min_score |= !strcmp(argv[k], "--min-score");
    a->given_model |= !strcmp(argv[k], "--model");
    a->given_align |= !strcmp(argv[k], "--align");
    a->given_flip |= !strcmp(argv[k], "--flip");
    a->given_landmarks |= !strcmp(argv[k], "--landmarks");
  }
  /* The video default for min score suits tiny; SSD keeps its own. */
  if (c->opt.detector == FK_DETECTOR_SSD && !a->given_min_score) c->opt.min_score = 0.5f;
  return check_source_options(a);
}

/* ---- running ------------------------------------------------------------------------- */

/* An error before the stream starts: {"type":"error","error":...} on
 * stdout (like every command's errors, but a valid event line too). */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
  char msg[FKV_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "type", "error");
  return cli_error(EXIT_FAIL, o, "%s", msg);
}

/* Opens the index and takes its embedding options (unless given). */
static int open_db(const stream_args *a, cli_common *c, fk_store **st) {
  if (fk_store_open(a->db, FK_STORE_READ, st)) return fail("%s", fk_store_errmsg(*st));
  fk_store_info info;
  if (fk_store_get_info(*st, &info)) return fail("%s", fk_store_errmsg(*st));
  if (!info.has_model || info.faces == 0)
    return fail("%s holds no faces yet (run `facekit index DIR --db %s`)", a->db, a->db);
  if (!a->given_model) c->opt.model = info.opt.model;
  if (!a->given_align) c->opt.align = info.opt.align;
  if (!a->given_flip) c->opt.flip = info.opt.flip;
  /* the landmarks place the chip the embedding is made of */
  if (!a->given_landmarks) c->opt.landmarks = info.opt.landmarks;
  return EXIT_OK;
}

static int stream_run(stream_args *a, cli_common *c) {
  fk_store *st = NULL;
  fk_models *m = NULL;
  fk_session *s = NULL;
  FILE *ev = stdout;
  char model[64] = "";
  cli_sigwatch sw;
  cli_sigwatch_start(&sw, "stopping: closing the tracks and the output (Ctrl-C again to quit now)");
  int rc = EXIT_OK;
  /* The source first: a wrong path or an unreachable camera fails before
   * the models load. */
  fkv_source *src = NULL;
  a->run.source.max_pixels = c->opt.max_pixels;
  a->run.source.cancel = &sw.cancel;
  if (fkv_source_open(&a->run.source, &src)) {
    rc = fail("%s", fkv_source_errmsg(src));
    goto out;
  }
  if (a->db && (rc = open_db(a, c, &st))) goto out;
  unsigned nets = cli_embed_nets(&c->opt) | fk_analyze_nets(a->run.engine.actions, c->opt.attribute_model);
  if (fk_models_open(c->models_dir, nets, &m)) {
    rc = fail("%s", fk_models_errmsg(m));
    goto out;
  }
  if (fk_session_new(m, &c->opt, &s)) {
    rc = fail("%s", fk_session_errmsg(s));
    goto out;
  }
  if (st && fk_store_check(st, m, &c->opt, 0)) {
    rc = fail("%s", fk_store_errmsg(st));
    goto out;
  }
  fk_model_id(m, c->opt.model, model, sizeof model);
  a->run.engine.model = c->opt.model;
  if (a->events && !(ev = fopen(a->events, "w"))) {
    rc = fail("%s: cannot write the events: %s", a->events, strerror(errno));
    goto out;
  }
  printer p = {.f = ev, .url = a->run.source.url, .model = model, .opt = &c->opt, .a = a, .cancel = &sw.cancel};
  a->run.engine.db = st;
  a->run.engine.on_event = on_event;
  a->run.engine.user = &p;
  a->run.cancel = &sw.cancel;
  char err[FKV_ERRMSG_MAX];
  int st_rc = fkv_run(s, src, &a->run, NULL, err, sizeof err);
  src = NULL; /* the run closed it */
  if (p.failed) {
    fprintf(stderr, "facekit: writing the events failed: %s\n", strerror(p.failed));
    rc = EXIT_FAIL;
  } else if (st_rc && !p.printed) { /* before the first event (an unwritable output) */
    rc = fail("%s", err);
  } else if (st_rc) { /* the stream broke: the last line of the events */
    fprintf(stderr, "facekit: %s\n", err);
    cJSON *o = header("error", p.frame, p.pts);
    cJSON_AddStringToObject(o, "error", err);
    cli_fprint(ev, o);
    rc = EXIT_FAIL;
  }
out:
  fkv_source_close(src);
  cli_sigwatch_stop(&sw);
  if (ev && ev != stdout) fclose(ev);
  fk_session_free(s);
  fk_models_free(m);
  fk_store_close(st);
  return rc;
}

int cmd_stream(int argc, char **argv) {
  stream_args a;
  memset(&a, 0, sizeof a);
  fkv_run_options_init(&a.run);
  cli_common c;
  cli_common_init(&c);
  fkv_default_detector(&c.opt);
  int rc = parse(argc, argv, &a, &c);
  if (rc >= 0) return rc;
  fkv_log_init(a.verbose);
  return stream_run(&a, &c);
}

int main(int argc, char **argv) { return cmd_stream(argc, argv); }
