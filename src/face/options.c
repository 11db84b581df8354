/*
 * options.c - the table of pipeline options (facekit_core.h, "the options
 * by name"), in the manner of FFmpeg's AVOption: a row per fk_options field
 * a user sets, with where it lives, its type, range or value names, and
 * help. Everything that reads or shows options by name goes through it:
 * the CLI (src/api/cli_options.c), serve's parameters, the pipeline an
 * index records (src/store) and results report (src/api/json.c), the
 * session's check of its options, and the README's list.
 *
 * Adding an option: the field in fk_options (at the end: src/base/abi.h),
 * its default in fk_options_init, one row here. A row's order is the order
 * of --help, of the README's list and of recorded pipelines.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/abi.h"
#include "base/text.h"
#include "face/face.h"

typedef struct opt_row {
  fk_option pub; /* first: fk_option_at hands out &row->pub */
  size_t offset; /* the fk_options field */
  /* FK_OPT_ENUM: the name of a value (NULL for none); values are scanned
   * from first upwards until names run out past the last valid one. */
  const char *(*name_of)(int v);
  int first;
  /* FK_OPT_TEXT: parse (0, or -1 with why), format and check of its own. */
  int (*parse)(fk_options *o, const char *text, char *why, size_t whylen);
  void (*format)(const fk_options *o, char *buf, size_t size);
  int (*check)(const fk_options *o, char *why, size_t whylen);
  /* The value the pipeline runs with, where it differs from the one set
   * (fk_option_used); NULL: the same. */
  void (*used)(const fk_options *o, char *buf, size_t size);
} opt_row;

#define ENUM_SCAN 64 /* enum values tried past first */

/* ---- options with forms of their own -------------------------------------- */

/* input_size: one side for every sized detector (SSD, Tiny), or auto. */
static int input_size_parse(fk_options *o, const char *t, char *why, size_t whylen) {
  if (!strcmp(t, "auto")) {
    o->ssd_input_size = 0;
    o->tiny_input_size = FK_TINY_DEFAULT_SIZE;
    return 0;
  }
  char *end;
  errno = 0;
  long v = strtol(t, &end, 10);
  if (!*t || errno || *end || v < 64 || v > 2048 || v % 32) {
    snprintf(why, whylen, "must be auto or a multiple of 32 in [64, 2048], not '%s'", t);
    return -1;
  }
  o->ssd_input_size = o->tiny_input_size = (int)v;
  return 0;
}

/* The side set for the detector (SSD's for a fixed one), or auto. */
static void input_size_format(const fk_options *o, char *buf, size_t size) {
  int id = fk_detector_net(o->detector), side = o->ssd_input_size;
  if (id >= 0 && !fk_nets[id].det->fixed_w) memcpy(&side, (const char *)o + fk_nets[id].det->size_option, sizeof side);
  if (side) snprintf(buf, size, "%d", side);
  else snprintf(buf, size, "auto");
}

/* As it runs: "320x240" for a fixed detector. */
static void input_size_used(const fk_options *o, char *buf, size_t size) { fk_detector_input_name(o, buf, size); }

static int input_size_check(const fk_options *o, char *why, size_t whylen) {
  int id = fk_detector_net(o->detector);
  if (id < 0) return 0; /* the detector's row says so */
  const fk_detector_def *det = fk_nets[id].det;
  if (det->fixed_w) return 0;
  int size;
  memcpy(&size, (const char *)o + det->size_option, sizeof size);
  if ((size == 0 && det->nauto) || (size >= 64 && size <= 2048 && size % 32 == 0)) return 0;
  snprintf(why, whylen, "must be a multiple of 32 in [64, 2048]%s, not %d", det->nauto ? " or auto" : "", size);
  return -1;
}

/* align as it runs: what each part of the model gets under the option
 * ("arcface", or "arcface+5point" for a fused model with AUTO), which reads
 * back as that mode, or as AUTO. */
static void align_used(const fk_options *o, char *buf, size_t size) {
  fk_model_align_name(o->model, o->align, buf, size);
}

static const char *backend_name(int b) {
  return b < FK_BACKEND_XNNPACK || b > FK_BACKEND_AUTO ? NULL : fk_backend_name(b);
}

static const char *attribute_model_name(int m) {
  return m == FK_ATTR_MODEL_FACEAPI ? "face-api" : m == FK_ATTR_MODEL_GEAR ? "gear" : NULL;
}

/* ---- the table --------------------------------------------------------------------- */

#define AT(field) offsetof(fk_options, field)
#define DET FK_OPT_DETECT
#define EMB FK_OPT_EMBED
#define REQ FK_OPT_REQUEST
#define LIVE FK_OPT_LIVE

static const opt_row rows[] = {
    {{"detector", "detector_backend", FK_OPT_ENUM, DET | REQ, 0, 0, "NAME", "face detector"},
     .offset = AT(detector), .name_of = fk_detector_name},
    {{"input_size", NULL, FK_OPT_TEXT, DET | REQ, 0, 0, "N",
      "detector input side; auto gives SSD 256, 384 or 512 by the image's size and Tiny 416, and RFB-320 "
      "and BlazeFace have fixed sizes"},
     .parse = input_size_parse, .format = input_size_format, .check = input_size_check, .used = input_size_used},
    {{"min_score", NULL, FK_OPT_FLOAT, DET | REQ | LIVE, 0, 0.999999, "S", "drop detections scoring <= S"},
     .offset = AT(min_score)},
    {{"retry_score", NULL, FK_OPT_FLOAT, DET | REQ | LIVE, 0, 0.999999, "S",
      "where no detection scores above min_score, detect again at S and keep the best face; S >= min_score "
      "turns the second pass off"},
     .offset = AT(retry_score)},
    {{"max_faces", NULL, FK_OPT_INT, DET, 1, 10000, "N", "detections kept per image, the best-scoring"},
     .offset = AT(max_faces)},
    {{"landmarks", NULL, FK_OPT_ENUM, DET | EMB | REQ, 0, 0, "NAME", "the 68-point landmark net"},
     .offset = AT(landmarks), .name_of = fk_landmarks_name},
    {{"model", "model_name", FK_OPT_ENUM, EMB | REQ, 0, 0, "NAME", "recognition model"},
     .offset = AT(model), .name_of = fk_model_name},
    {{"align", NULL, FK_OPT_ENUM, EMB | REQ | LIVE, 0, 0, "MODE", "recognizer chip alignment; auto gives each model its own"},
     .offset = AT(align), .name_of = fk_align_name, .first = FK_ALIGN_AUTO, .used = align_used},
    {{"flip", NULL, FK_OPT_BOOL, EMB | REQ | LIVE, 0, 1, "BOOL", "also embed the mirrored face and average the two"},
     .offset = AT(flip)},
    {{"attribute_model", NULL, FK_OPT_ENUM, REQ, 0, 0, "NAME",
      "the net for age and gender in analyze; emotion always comes from face-api's expression head, race "
      "from gear"},
     .offset = AT(attribute_model), .name_of = attribute_model_name},
    {{"threads", NULL, FK_OPT_INT, 0, 1, 256, "N", "inference threads; runs use fewer while other work keeps the "
      "cores busy"},
     .offset = AT(threads)},
    {{"backend", NULL, FK_OPT_ENUM, 0, 0, 0, "NAME", "inference backend; auto is oneDNN, reference the plain C kernels the others are tested against"},
     .offset = AT(backend), .name_of = backend_name},
    {{"precision", NULL, FK_OPT_ENUM, 0, 0, 0, "NAME",
      "number type of the nets; auto is the fastest this CPU runs natively that keeps LFW accuracy, f32 on "
      "every CPU measured so far"},
     .offset = AT(precision), .name_of = fk_precision_name},
    {{"max_pixels", NULL, FK_OPT_SIZE, 0, 1, (double)SIZE_MAX, "N", "refuse images with more pixels"},
     .offset = AT(max_pixels)},
};

#define NROWS ((int)(sizeof rows / sizeof *rows))

static const opt_row *row_of(const fk_option *opt) { return (const opt_row *)opt; }

const fk_option *fk_option_at(int i) { return i >= 0 && i < NROWS ? &rows[i].pub : NULL; }

/* name == want, with '-' for '_'. */
static int same_name(const char *name, const char *want) {
  if (!want) return 0;
  for (; *name && *want; name++, want++)
    if (*name != *want && !(*name == '-' && *want == '_')) return 0;
  return *name == *want;
}

const fk_option *fk_option_find(const char *name) {
  if (!name) return NULL;
  if (!strncmp(name, "--", 2)) name += 2;
  for (int i = 0; i < NROWS; i++)
    if (same_name(name, rows[i].pub.name) || same_name(name, rows[i].pub.alias)) return &rows[i].pub;
  return NULL;
}

/* ---- values ----------------------------------------------------------------------- */

static int *int_field(fk_options *o, const opt_row *r) { return (int *)((char *)o + r->offset); }
static int int_value(const fk_options *o, const opt_row *r) {
  int v;
  memcpy(&v, (const char *)o + r->offset, sizeof v);
  return v;
}

/* Calls f(name, value, arg) on each value of an enum until it returns nonzero. */
static int each_value(const opt_row *r, int (*f)(const char *, int, void *), void *arg) {
  for (int v = r->first; v < r->first + ENUM_SCAN; v++) {
    const char *n = r->name_of(v);
    if (n && f(n, v, arg)) return 1;
  }
  return 0;
}

typedef struct joined {
  char *buf;
  size_t size, len;
} joined;

static int join_one(const char *name, int v, void *arg) {
  (void)v;
  joined *j = arg;
  int w = snprintf(j->buf + (j->len < j->size ? j->len : j->size), j->len < j->size ? j->size - j->len : 0,
                   "%s%s", j->len ? ", " : "", name);
  j->len += (size_t)(w > 0 ? w : 0);
  return 0;
}

static void range_text(const fk_option *p, char *buf, size_t size) {
  if (p->type == FK_OPT_SIZE && p->max >= (double)SIZE_MAX) snprintf(buf, size, "a positive integer");
  else snprintf(buf, size, "%s in [%.15g, %.15g]", p->type == FK_OPT_FLOAT ? "a number" : "an integer", p->min,
                p->max);
}

size_t fk_option_values(const fk_option *opt, char *buf, size_t size) {
  const opt_row *r = row_of(opt);
  char tmp[96];
  if (size) buf[0] = '\0';
  switch (opt->type) {
    case FK_OPT_ENUM: {
      joined j = {buf, size, 0};
      each_value(r, join_one, &j);
      return j.len;
    }
    case FK_OPT_BOOL: return (size_t)snprintf(buf, size, "true, false");
    case FK_OPT_TEXT: return (size_t)snprintf(buf, size, "auto, or a multiple of 32 in [64, 2048]");
    default: range_text(opt, tmp, sizeof tmp); return (size_t)snprintf(buf, size, "%s", tmp);
  }
}

typedef struct lookup {
  const char *name;
  int value, found;
} lookup;

static int match_one(const char *name, int v, void *arg) {
  lookup *l = arg;
  if (strcmp(name, l->name)) return 0;
  l->value = v;
  l->found = 1;
  return 1;
}

/* Stores v (checked against the row's range). */
static int set_number(fk_options *o, const opt_row *r, double v, const char *text, char *why, size_t whylen) {
  const fk_option *p = &r->pub;
  int whole = p->type != FK_OPT_FLOAT;
  if (!isfinite(v) || v < p->min || v > p->max || (whole && v != floor(v))) {
    char range[96];
    if (p->type == FK_OPT_BOOL) snprintf(range, sizeof range, "true or false");
    else range_text(p, range, sizeof range);
    if (text) snprintf(why, whylen, "must be %s, not '%s'", range, text);
    else snprintf(why, whylen, "must be %s, not %.15g", range, v);
    return FK_EINVAL;
  }
  char *f = (char *)o + r->offset;
  if (p->type == FK_OPT_FLOAT) {
    float x = (float)v;
    memcpy(f, &x, sizeof x);
  } else if (p->type == FK_OPT_SIZE) {
    size_t x = (size_t)v;
    memcpy(f, &x, sizeof x);
  } else {
    int x = (int)v;
    memcpy(f, &x, sizeof x);
  }
  return FK_OK;
}

int fk_option_set(fk_options *o, const fk_option *opt, const char *text, char *why, size_t whylen) {
  const opt_row *r = row_of(opt);
  if (!o || !opt || !text) {
    snprintf(why, whylen, "is missing its value");
    return FK_EINVAL;
  }
  switch (opt->type) {
    case FK_OPT_TEXT: return r->parse(o, text, why, whylen) ? FK_EINVAL : FK_OK;
    case FK_OPT_ENUM: {
      lookup l = {text, 0, 0};
      each_value(r, match_one, &l);
      if (l.found) {
        *int_field(o, r) = l.value;
        return FK_OK;
      }
      char names[256];
      fk_option_values(opt, names, sizeof names);
      snprintf(why, whylen, "must be one of %s, not '%s'", names, text);
      return FK_EINVAL;
    }
    case FK_OPT_BOOL: {
      /* the words of JSON, plus those of shells and config files */
      static const char *const yes[] = {"true", "1", "yes"}, *const no[] = {"false", "0", "no"};
      for (int i = 0; i < 3; i++)
        if (!strcmp(text, yes[i]) || !strcmp(text, no[i])) {
          *int_field(o, r) = !strcmp(text, yes[i]);
          return FK_OK;
        }
      snprintf(why, whylen, "must be true or false, not '%s'", text);
      return FK_EINVAL;
    }
    default: {
      /* integers are digits only (no 0x10, 1e2); strtod reads them too.
       * Counts near SIZE_MAX are not exact in a double, but no limit needs
       * that precision. */
      char *end;
      errno = 0;
      int digits = strspn(text, "0123456789") == strlen(text);
      double v = *text && (opt->type == FK_OPT_FLOAT ? !strchr(" \t\n", text[0]) : digits) ? strtod(text, &end) : NAN;
      if (errno || (isfinite(v) && *end)) v = NAN;
      return set_number(o, r, v, text, why, whylen);
    }
  }
}

int fk_option_set_number(fk_options *o, const fk_option *opt, double v, char *why, size_t whylen) {
  if (!o || !opt) return FK_EINVAL;
  if (opt->type == FK_OPT_TEXT && isfinite(v) && v == floor(v) && fabs(v) < 1e9) {
    char text[32];
    snprintf(text, sizeof text, "%.0f", v);
    return fk_option_set(o, opt, text, why, whylen);
  }
  if (opt->type == FK_OPT_ENUM || opt->type == FK_OPT_TEXT) {
    char names[256];
    fk_option_values(opt, names, sizeof names);
    snprintf(why, whylen, "must be %s%s, as text", opt->type == FK_OPT_ENUM ? "one of " : "", names);
    return FK_EINVAL;
  }
  return set_number(o, row_of(opt), v, NULL, why, whylen);
}

void fk_option_used(const fk_options *o, const fk_option *opt, char *buf, size_t size) {
  const opt_row *r = row_of(opt);
  if (r->used) r->used(o, buf, size);
  else fk_option_get(o, opt, buf, size);
}

void fk_option_get(const fk_options *o, const fk_option *opt, char *buf, size_t size) {
  const opt_row *r = row_of(opt);
  const char *f = (const char *)o + r->offset;
  if (r->format) {
    r->format(o, buf, size);
    return;
  }
  switch (opt->type) {
    case FK_OPT_ENUM: {
      const char *n = r->name_of(int_value(o, r));
      snprintf(buf, size, "%s", n ? n : "?");
      break;
    }
    case FK_OPT_BOOL: snprintf(buf, size, "%s", int_value(o, r) ? "true" : "false"); break;
    case FK_OPT_FLOAT: {
      float x;
      memcpy(&x, f, sizeof x);
      fk_float_text(buf, size, x); /* reads back as the same float */
      break;
    }
    case FK_OPT_SIZE: {
      size_t x;
      memcpy(&x, f, sizeof x);
      if (r->offset == offsetof(fk_options, max_pixels) && x == 0) x = FK_DEFAULT_MAX_PIXELS;
      snprintf(buf, size, "%zu", x);
      break;
    }
    default: snprintf(buf, size, "%d", int_value(o, r)); break;
  }
}

int fk_options_check(const fk_options *o, char *why, size_t whylen) {
  char reason[256], text[64];
  for (int i = 0; i < NROWS; i++) {
    const opt_row *r = &rows[i];
    int bad = 0;
    if (r->check) {
      bad = r->check(o, reason, sizeof reason);
    } else if (r->pub.type == FK_OPT_ENUM) {
      if ((bad = !r->name_of(int_value(o, r)))) {
        char names[256];
        fk_option_values(&r->pub, names, sizeof names);
        snprintf(reason, sizeof reason, "must be one of %.200s, not %d", names, int_value(o, r));
      }
    } else if (r->pub.type != FK_OPT_TEXT) {
      fk_options tmp = *o;
      fk_option_get(o, &r->pub, text, sizeof text);
      bad = fk_option_set(&tmp, &r->pub, text, reason, sizeof reason) != FK_OK;
    }
    if (bad) {
      snprintf(why, whylen, "%s %s", r->pub.name, reason);
      return FK_EINVAL;
    }
  }
  return FK_OK;
}

int fk_options_equal(const fk_options *a, const fk_options *b) {
  /* field by field: padding need not match */
  return a->detector == b->detector && a->landmarks == b->landmarks && a->ssd_input_size == b->ssd_input_size &&
         a->tiny_input_size == b->tiny_input_size && a->min_score == b->min_score &&
         a->max_faces == b->max_faces && a->model == b->model && a->align == b->align && a->flip == b->flip &&
         a->threads == b->threads && a->backend == b->backend && a->max_pixels == b->max_pixels &&
         a->attribute_model == b->attribute_model && a->precision == b->precision &&
         a->retry_score == b->retry_score;
}
