/*
 * bench_quality.c - face quality (fk_analyze's FK_ACTION_POSE and
 * FK_ACTION_QUALITY) measured over the central faces of an index of LFW,
 * and whether gating faces by it helps clustering.
 *
 *   bench_quality --db INDEX [--cache FILE] [--limit N]
 *
 * For each central face of INDEX (its box and landmarks as indexed, its
 * image read from the path the index holds): yaw, pitch, roll, the pose
 * of the mirror image (the image flipped left to right, the box with it),
 * sharpness, size, P(open) of each eye. FILE, when given, keeps these
 * (one line per face) so that a second run only re-scores the gates.
 * Prints:
 *   - the distribution of yaw, pitch, roll (percentiles, |yaw| bands);
 *   - how often yaw's sign flips on the mirror image, by |yaw| band, and
 *     the median of yaw + the mirror's yaw (0 for a symmetric net);
 *   - the clustering of `facekit eval cluster` (cluster.h, its default
 *     link, strict and k) with no gate and with each gate, where a gated
 *     face is left out of the clustering and counts as a cluster of its
 *     own; BCubed and pairwise scores over all the faces.
 * The index is opened read-only; copy it first if another process writes
 * it. One thread.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/hash.h"
#include "facekit.h"
#include "facekit_eval.h"
#include "store/cluster.h"

typedef struct qface {
  int64_t id, image_id;
  int32_t truth;
  float yaw, pitch, roll, myaw, mpitch, mroll, sharp, size, eye[2];
} qface;

typedef struct bench {
  fk_session *s;
  FILE *cache_in;
  qface *f;
  float *v;
  int64_t n, cap, limit, done;
  int dim;
  fk_map names;
  char **keep;
  int64_t persons;
  double t0;
} bench;

static int person_of(bench *b, const char *path, int32_t *out) {
  const char *end = strrchr(path, '/'), *start = end;
  char name[512];
  if (!end) end = start = path;
  while (start > path && start[-1] != '/') start--;
  snprintf(name, sizeof name, "%.*s", (int)(end - start), start);
  int64_t t = fk_map_get_str(&b->names, name);
  if (t < 0) {
    char **k = realloc(b->keep, (size_t)(b->persons + 1) * sizeof *k);
    if (!k) return FK_ENOMEM;
    b->keep = k;
    if (!(k[b->persons] = strdup(name)) || fk_map_put_str(&b->names, k[b->persons], b->persons)) return FK_ENOMEM;
    t = b->persons++;
  }
  *out = (int32_t)t;
  return FK_OK;
}

static int mirror(const fk_image *img, fk_image *out) {
  *out = *img;
  out->rgb = malloc((size_t)img->width * img->height * 3);
  if (!out->rgb) return FK_ENOMEM;
  for (int y = 0; y < img->height; y++)
    for (int x = 0; x < img->width; x++)
      memcpy(out->rgb + ((size_t)y * img->width + x) * 3, img->rgb + ((size_t)y * img->width + img->width - 1 - x) * 3,
             3);
  return FK_OK;
}

/* Pose, mirrored pose and quality of one indexed face. */
static int measure(bench *b, const fk_store_face *sf, qface *q) {
  fk_image img = {0}, mir = {0};
  int rc = fk_image_load(sf->path, 0, &img);
  if (rc) {
    fprintf(stderr, "%s: %s\n", sf->path, fk_strerror(rc));
    return rc;
  }
  fk_face face = {.box = sf->box, .score = sf->score};
  memcpy(face.landmarks, sf->landmarks, sizeof face.landmarks);
  fk_attributes a, m;
  rc = fk_analyze(b->s, &img, &face, FK_ACTION_POSE | FK_ACTION_QUALITY, &a);
  if (rc == FK_OK) rc = mirror(&img, &mir);
  fk_face mface = face;
  mface.box.x = (float)img.width - face.box.x - face.box.w;
  if (rc == FK_OK) rc = fk_analyze(b->s, &mir, &mface, FK_ACTION_POSE, &m);
  if (rc) fprintf(stderr, "%s: %s\n", sf->path, fk_session_errmsg(b->s));
  free(mir.rgb);
  fk_image_free(&img);
  if (rc) return rc;
  q->yaw = a.yaw, q->pitch = a.pitch, q->roll = a.roll;
  q->myaw = m.yaw, q->mpitch = m.pitch, q->mroll = m.roll;
  q->sharp = a.sharpness, q->size = a.size, q->eye[0] = a.eyes_open[0], q->eye[1] = a.eyes_open[1];
  return FK_OK;
}

static int cached(bench *b, qface *q) {
  if (!b->cache_in) return 0;
  int64_t id;
  if (fscanf(b->cache_in, "%ld %f %f %f %f %f %f %f %f %f %f", &id, &q->yaw, &q->pitch, &q->roll, &q->myaw,
             &q->mpitch, &q->mroll, &q->sharp, &q->size, &q->eye[0], &q->eye[1]) != 11 ||
      id != q->id) {
    fclose(b->cache_in);
    b->cache_in = NULL;
    return 0;
  }
  return 1;
}

static int each_face(const fk_store_face *sf, void *user) {
  bench *b = user;
  if (!sf->central || (b->limit && b->n >= b->limit)) return 0;
  if (b->n == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 1024;
    qface *f = realloc(b->f, (size_t)b->cap * sizeof *f);
    float *v = f ? realloc(b->v, (size_t)b->cap * sf->dim * sizeof *v) : NULL;
    if (f) b->f = f;
    if (v) b->v = v;
    if (!f || !v) return FK_ENOMEM;
  }
  b->dim = sf->dim;
  qface *q = &b->f[b->n];
  memset(q, 0, sizeof *q);
  q->id = sf->id, q->image_id = sf->image_id;
  int rc = person_of(b, sf->path, &q->truth);
  if (rc) return rc;
  if (!cached(b, q)) {
    if ((rc = measure(b, sf, q))) return rc;
    b->done++;
  }
  memcpy(b->v + b->n * sf->dim, sf->embedding, (size_t)sf->dim * sizeof *b->v);
  b->n++;
  if (b->n % 1000 == 0) fprintf(stderr, "  %ld faces, %.0f s\n", (long)b->n, fk_now_s() - b->t0);
  return 0;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Percentiles 1, 5, 25, 50, 75, 95, 99 of field `off` of the faces. */
static void percentiles(const bench *b, const char *what, size_t off) {
  float *x = malloc((size_t)b->n * sizeof *x + 1);
  if (!x) return;
  int64_t m = 0;
  for (int64_t i = 0; i < b->n; i++) {
    float v = *(const float *)((const char *)&b->f[i] + off);
    if (!isnan(v)) x[m++] = v;
  }
  qsort(x, (size_t)m, sizeof *x, cmp_float);
  static const double p[] = {1, 5, 25, 50, 75, 95, 99};
  printf("  %-10s", what);
  for (size_t k = 0; k < sizeof p / sizeof *p; k++)
    printf(" p%-2.0f %8.2f", p[k], m ? (double)x[(int64_t)(p[k] / 100 * (double)(m - 1) + 0.5)] : NAN);
  printf("  (%ld faces)\n", (long)m);
  free(x);
}

static void pose_report(const bench *b) {
  printf("pose over %ld central faces (degrees; yaw > 0: turned towards the image's left)\n", (long)b->n);
  percentiles(b, "yaw", offsetof(qface, yaw));
  percentiles(b, "pitch", offsetof(qface, pitch));
  percentiles(b, "roll", offsetof(qface, roll));
  percentiles(b, "sharpness", offsetof(qface, sharp));
  percentiles(b, "size", offsetof(qface, size));
  percentiles(b, "eye left", offsetof(qface, eye[0]));
  percentiles(b, "eye right", offsetof(qface, eye[1]));
  static const float band[] = {0, 5, 15, 30, 45, 60, 1000};
  printf("|yaw| band    faces   share  yaw sign flips on the mirror  median yaw + yaw'  roll + roll'\n");
  for (size_t k = 0; k + 1 < sizeof band / sizeof *band; k++) {
    int64_t c = 0, flip = 0;
    float *d = malloc((size_t)b->n * sizeof *d + 1), *r = malloc((size_t)b->n * sizeof *r + 1);
    for (int64_t i = 0; d && r && i < b->n; i++) {
      const qface *q = &b->f[i];
      if (fabsf(q->yaw) < band[k] || fabsf(q->yaw) >= band[k + 1]) continue;
      flip += (q->yaw > 0) != (q->myaw > 0);
      d[c] = q->yaw + q->myaw;
      r[c] = q->roll + q->mroll;
      c++;
    }
    if (d && r) {
      qsort(d, (size_t)c, sizeof *d, cmp_float);
      qsort(r, (size_t)c, sizeof *r, cmp_float);
    }
    printf("  [%3.0f, %4.0f) %6ld  %5.1f%%  %6.2f%%  %24.2f  %12.2f\n", (double)band[k], (double)band[k + 1],
           (long)c, 100.0 * (double)c / (double)b->n, c ? 100.0 * (double)flip / (double)c : 0.0,
           c && d ? (double)d[c / 2] : 0.0, c && r ? (double)r[c / 2] : 0.0);
    free(d);
    free(r);
  }
  int64_t flip = 0, big = 0, bigflip = 0;
  for (int64_t i = 0; i < b->n; i++) {
    int f = (b->f[i].yaw > 0) != (b->f[i].myaw > 0);
    flip += f;
    if (fabsf(b->f[i].yaw) >= 5) big++, bigflip += f;
  }
  printf("yaw's sign flips on the mirror: %.2f%% of all faces, %.2f%% of those with |yaw| >= 5 (%ld)\n",
         100.0 * (double)flip / (double)b->n, big ? 100.0 * (double)bigflip / (double)big : 0.0, (long)big);
}

/* A gate: 1 when the face is left out. */
typedef struct gate {
  const char *name;
  int (*out)(const qface *q, float t);
  float t;
} gate;

static int no_gate(const qface *q, float t) { return (void)q, (void)t, 0; }
static int yaw_gate(const qface *q, float t) { return fabsf(q->yaw) > t; }
static int pitch_gate(const qface *q, float t) { return fabsf(q->pitch) > t; }
static int eyes_gate(const qface *q, float t) { return !(q->eye[0] >= t) && !(q->eye[1] >= t); }
static int sharp_gate(const qface *q, float t) { return q->sharp < t; }
static int size_gate(const qface *q, float t) { return q->size < t; }

/* Clusters the faces the gate keeps (k-NN graph and average linkage as
 * `facekit eval cluster` runs them); the gated ones get label -1, a
 * cluster of their own. */
static int score_gate(const bench *b, const gate *g, const fk_cluster_eval_options *o, int32_t *label) {
  int64_t kept = 0;
  float *v = malloc((size_t)(b->n * b->dim) * sizeof *v + 1);
  int64_t *image = malloc((size_t)b->n * sizeof *image + 1), *row = malloc((size_t)b->n * sizeof *row + 1);
  int32_t *sub = malloc((size_t)b->n * sizeof *sub + 1);
  int rc = v && image && row && sub ? FK_OK : FK_ENOMEM;
  for (int64_t i = 0; rc == FK_OK && i < b->n; i++) {
    label[i] = -1;
    if (g->out(&b->f[i], g->t)) continue;
    memcpy(v + kept * b->dim, b->v + i * b->dim, (size_t)b->dim * sizeof *v);
    image[kept] = b->f[i].image_id;
    row[kept++] = i;
  }
  fk_knn knn = {0};
  int k = o->k < kept - 1 ? o->k : (int)(kept > 1 ? kept - 1 : 1);
  double t0 = fk_now_s();
  if (rc == FK_OK) rc = fk_knn_exact(v, kept, b->dim, k, 1, NULL, &knn);
  int64_t c = rc == FK_OK ? fk_cluster_link(v, kept, b->dim, &knn, image, NULL, o->link, o->strict, sub) : 0;
  if (c < 0) rc = (int)c;
  for (int64_t j = 0; rc == FK_OK && j < kept; j++) label[row[j]] = sub[j];
  int32_t *truth = malloc((size_t)b->n * sizeof *truth + 1);
  fk_cluster_scores s = {0};
  if (rc == FK_OK && !truth) rc = FK_ENOMEM;
  for (int64_t i = 0; rc == FK_OK && i < b->n; i++) truth[i] = b->f[i].truth;
  if (rc == FK_OK) rc = fk_cluster_score(label, truth, b->n, &s);
  if (rc == FK_OK)
    printf("  %-22s %6ld  %.4f (%.4f / %.4f)  %.4f (%.4f / %.4f)  %6ld  %5.1f s\n", g->name, (long)(b->n - kept),
           s.bcubed_f, s.bcubed_p, s.bcubed_r, s.pair_f, s.pair_p, s.pair_r, (long)s.clusters, fk_now_s() - t0);
  fk_knn_free(&knn);
  free(v), free(image), free(row), free(sub), free(truth);
  return rc;
}

static void gates_report(const bench *b) {
  static const gate gates[] = {
      {"none", no_gate, 0},           {"|yaw| > 60", yaw_gate, 60},      {"|yaw| > 45", yaw_gate, 45},
      {"|yaw| > 30", yaw_gate, 30},   {"|pitch| > 30", pitch_gate, 30},  {"both eyes P(open)<0.5", eyes_gate, 0.5f},
      {"both eyes P(open)<0.1", eyes_gate, 0.1f}, {"sharpness < 100", sharp_gate, 100},
      {"sharpness < 300", sharp_gate, 300},       {"size < 60", size_gate, 60},
      {"size < 80", size_gate, 80},
  };
  fk_cluster_eval_options o;
  fk_cluster_eval_options_init(&o);
  int32_t *label = malloc((size_t)b->n * sizeof *label + 1);
  if (!label) return;
  printf("clustering (link %.2f, strict %.2f, k %d); a gated face is a cluster of its own\n", (double)o.link,
         (double)o.strict, o.k);
  printf("  %-22s %6s  %-24s  %-24s  %6s\n", "gate", "gated", "BCubed F (P / R)", "pairwise F (P / R)", "persons");
  for (size_t i = 0; i < sizeof gates / sizeof *gates; i++)
    if (score_gate(b, &gates[i], &o, label)) fprintf(stderr, "gate %s failed\n", gates[i].name);
  free(label);
}

int main(int argc, char **argv) {
  const char *db = NULL, *cache = NULL;
  bench b = {.t0 = fk_now_s()};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--db") && i + 1 < argc) db = argv[++i];
    else if (!strcmp(argv[i], "--cache") && i + 1 < argc) cache = argv[++i];
    else if (!strcmp(argv[i], "--limit") && i + 1 < argc) b.limit = atol(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_quality --db INDEX [--cache FILE] [--limit N]\n");
      return 2;
    }
  }
  if (!db) {
    fprintf(stderr, "bench_quality: --db INDEX is needed\n");
    return 2;
  }
  fk_store *st = NULL;
  fk_models *m = NULL;
  int rc = fk_store_open(db, FK_STORE_READ, &st);
  if (rc) {
    fprintf(stderr, "%s: %s\n", db, fk_store_errmsg(st));
    fk_store_close(st);
    return 1;
  }
  if ((rc = fk_models_open(NULL, FK_NET_POSE | FK_NET_EYE, &m)) || (rc = fk_session_new(m, NULL, &b.s))) {
    fprintf(stderr, "models: %s\n", fk_models_errmsg(m));
    fk_store_close(st);
    fk_models_free(m);
    return 1;
  }
  if (cache) b.cache_in = fopen(cache, "r");
  rc = fk_store_foreach_face(st, each_face, &b);
  if (b.cache_in) fclose(b.cache_in);
  if (rc == FK_OK && cache && b.done) {
    FILE *out = fopen(cache, "w");
    for (int64_t i = 0; out && i < b.n; i++) {
      const qface *q = &b.f[i];
      fprintf(out, "%ld %.4f %.4f %.4f %.4f %.4f %.4f %.3f %.3f %.5f %.5f\n", (long)q->id, q->yaw, q->pitch, q->roll,
              q->myaw, q->mpitch, q->mroll, q->sharp, q->size, q->eye[0], q->eye[1]);
    }
    if (out) fclose(out);
  }
  if (rc == FK_OK) {
    printf("%ld central faces of %s, %ld persons, %ld measured now in %.0f s\n", (long)b.n, db, (long)b.persons,
           (long)b.done, fk_now_s() - b.t0);
    pose_report(&b);
    gates_report(&b);
  } else {
    fprintf(stderr, "bench_quality: %s\n", fk_strerror(rc));
  }
  for (int64_t p = 0; p < b.persons; p++) free(b.keep[p]);
  free(b.keep);
  fk_map_free(&b.names);
  free(b.f), free(b.v);
  fk_session_free(b.s);
  fk_models_free(m);
  fk_store_close(st);
  return rc ? 1 : 0;
}
