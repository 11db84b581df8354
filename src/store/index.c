/*
 * index.c - fk_store_index(): builds or updates a face index from a
 * directory tree.
 *
 * Plan of a run:
 *   1. check the index's recorded model and preprocessing against this run;
 *   2. walk the tree (walk.c) and load the images already indexed;
 *   3. classify: a known path with the same size and mtime is skipped; the
 *      rest becomes a job, and known rows whose file is gone become
 *      candidates for moves (by content hash) and for pruning;
 *   4. worker threads (one fk_session each) read, hash, decode, detect and
 *      embed; they never touch SQLite;
 *   5. the calling thread is the only writer: it applies finished jobs in
 *      batched transactions, each image together with its faces, so a kill
 *      at any moment leaves every image either fully committed or absent,
 *      and UNIQUE(path) / UNIQUE(image_id, idx) rule out duplicates;
 *   6. prune (if asked), bump the generation and rebuild the vector sidecar
 *      (and the ANN graph, for an index big enough to search with it).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "face/face.h"
#include "store/store.h"

#define MAX_FILE_BYTES ((int64_t)1 << 30)
#define MAX_PENDING 512 /* finished jobs waiting for the writer */

enum { R_EMBED, R_NOFACE, R_ERROR, R_MOVE, R_TOUCH };

/* An images row present before this run. */
typedef struct known {
  int64_t id;
  char *path;
  int64_t size, mtime_ns;
  char hash[65];
  int is_error;       /* status 'error': retried every run */
  int gone;           /* its file no longer exists */
  int64_t next_same;  /* next gone row with the same hash, -1 */
  atomic_int claimed; /* taken over by a moved file */
} known;

/* One file to process, and what processing found. */
typedef struct job {
  const fk_walk_entry *e;
  int64_t known;      /* row at this path, or -1 */
  int kind;           /* R_* */
  int64_t size, mtime_ns;
  char hash[65];
  int width, height;
  fk_face *faces;
  int nfaces, central;
  char error[256];
  int64_t move_from;  /* R_MOVE: the known row taken over */
  double t_read, t_decode, t_detect, t_represent;
} job;

typedef struct run {
  fk_store *st;
  const fk_options *opt;
  const fk_index_options *io;
  char model[64];
  known *k;
  int64_t nk;
  fk_strmap gone_by_hash;
  job *jobs;
  int64_t njobs;
  /* worker <-> writer */
  pthread_mutex_t mu;
  pthread_cond_t finished, space;
  atomic_llong next;   /* next job to start */
  int64_t *order;      /* jobs in the order they finished */
  int64_t nfinished, consumed;
  int workers_left;
  atomic_int stop;     /* writer failed or cancel seen */
  fk_index_stats stats;
  double t0;
  /* writer */
  fk_strmap identities;
  char **identity_names;
  size_t nidentity_names;
  sqlite3_stmt *s_upsert, *s_del_faces, *s_ins_face, *s_move, *s_del_image, *s_touch,
      *s_ins_ident, *s_get_ident;
} run;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cancelled(const run *r) {
  return atomic_load(&r->stop) || (r->io->cancel && __atomic_load_n(r->io->cancel, __ATOMIC_RELAXED));
}

/* ---- workers --------------------------------------------------------------- */

/* Reads a whole file into *buf (grown as needed); 0 or an errno. */
static int read_file(const char *path, uint8_t **buf, size_t *cap, size_t *n, struct stat *sb) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  int err = 0;
  if (fstat(fd, sb) != 0) err = errno;
  else if (sb->st_size > MAX_FILE_BYTES) err = EFBIG;
  size_t want = err ? 0 : (size_t)sb->st_size;
  if (!err && want + 1 > *cap) {
    uint8_t *p = realloc(*buf, want + 1);
    if (!p) err = ENOMEM;
    else *buf = p, *cap = want + 1;
  }
  size_t got = 0;
  while (!err && got < want) {
    ssize_t r = read(fd, *buf + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) err = errno;
    else if (r == 0) break; /* shrank while reading: hash what is there */
    else got += (size_t)r;
  }
  close(fd);
  *n = got;
  return err;
}

/* A gone row with this content not yet taken, or -1. */
static int64_t claim_moved(run *r, const char *hash) {
  for (int64_t i = fk_strmap_get(&r->gone_by_hash, hash); i >= 0; i = r->k[i].next_same)
    if (atomic_exchange(&r->k[i].claimed, 1) == 0) return i;
  return -1;
}

typedef struct worker {
  run *r;
  fk_session *s;
  fk_face *scratch;
  uint8_t *buf;
  size_t cap;
} worker;

static void embed(worker *w, job *j, const uint8_t *data, size_t n) {
  fk_session *s = w->s;
  fk_image img = {0};
  double t = now_s();
  int rc = fk_image_decode(data, n, w->r->opt->max_pixels, &img);
  j->t_decode = now_s() - t;
  if (rc) {
    j->kind = R_ERROR;
    snprintf(j->error, sizeof j->error, "%s", fk_strerror(rc));
    return;
  }
  j->width = img.width;
  j->height = img.height;
  int cap = w->r->opt->max_faces, nd = 0;
  t = now_s();
  rc = fk_detect(s, &img, w->scratch, cap, &nd);
  j->t_detect = now_s() - t;
  if (nd > cap) nd = cap;
  t = now_s();
  for (int i = 0; rc == FK_OK && i < nd; i++) rc = fk_represent(s, &img, &w->scratch[i]);
  j->t_represent = now_s() - t;
  if (rc == FK_OK && nd > 0 && !(j->faces = malloc((size_t)nd * sizeof *j->faces))) rc = FK_ENOMEM;
  if (rc) {
    j->kind = R_ERROR;
    snprintf(j->error, sizeof j->error, "%s", rc == FK_ENOMEM ? "out of memory" : fk_session_errmsg(s));
  } else if (nd == 0) {
    j->kind = R_NOFACE;
  } else {
    memcpy(j->faces, w->scratch, (size_t)nd * sizeof *j->faces);
    j->nfaces = nd;
    j->central = fk_central_face(j->faces, nd, img.width, img.height);
    j->kind = R_EMBED;
  }
  fk_image_free(&img);
}

static void process(worker *w, job *j) {
  run *r = w->r;
  size_t n = 0;
  struct stat sb;
  double t = now_s();
  int err = read_file(j->e->path, &w->buf, &w->cap, &n, &sb);
  j->size = j->e->size;
  j->mtime_ns = j->e->mtime_ns;
  if (!err) {
    j->size = (int64_t)n;
    j->mtime_ns = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
    fk_sha256_hex(w->buf, n, j->hash);
  }
  j->t_read = now_s() - t;
  if (err) {
    j->kind = R_ERROR;
    snprintf(j->error, sizeof j->error, "cannot read: %s", err == EFBIG ? "file larger than 1 GiB" : strerror(err));
    return;
  }
  if (j->known >= 0 && !r->k[j->known].is_error && !strcmp(r->k[j->known].hash, j->hash)) {
    j->kind = R_TOUCH;
    return;
  }
  if ((j->move_from = claim_moved(r, j->hash)) >= 0) {
    j->kind = R_MOVE;
    return;
  }
  embed(w, j, w->buf, n);
}

static void *worker_main(void *arg) {
  worker *w = arg;
  run *r = w->r;
  int64_t i;
  while (!cancelled(r) && (i = atomic_fetch_add(&r->next, 1)) < r->njobs) {
    process(w, &r->jobs[i]);
    pthread_mutex_lock(&r->mu);
    r->order[r->nfinished++] = i;
    pthread_cond_signal(&r->finished);
    while (r->nfinished - r->consumed > MAX_PENDING && !atomic_load(&r->stop))
      pthread_cond_wait(&r->space, &r->mu);
    pthread_mutex_unlock(&r->mu);
  }
  pthread_mutex_lock(&r->mu);
  r->workers_left--;
  pthread_cond_signal(&r->finished);
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

/* ---- writer ---------------------------------------------------------------- */

static int prepare_all(run *r) {
  fk_store *st = r->st;
  int rc;
  if ((rc = fk_store_prepare(st,
                             "INSERT INTO images(path, size, mtime_ns, hash, width, height, status, error,"
                             " identity_id, nfaces, indexed_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                             " unixepoch()) ON CONFLICT(path) DO UPDATE SET size = ?2, mtime_ns = ?3,"
                             " hash = ?4, width = ?5, height = ?6, status = ?7, error = ?8,"
                             " identity_id = ?9, nfaces = ?10, indexed_at = unixepoch() RETURNING id",
                             &r->s_upsert)) ||
      (rc = fk_store_prepare(st, "DELETE FROM faces WHERE image_id = ?", &r->s_del_faces)) ||
      (rc = fk_store_prepare(st,
                             "INSERT INTO faces(image_id, idx, x, y, w, h, score, landmarks, model, central,"
                             " norm, emb_f32, emb_i8) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             &r->s_ins_face)) ||
      (rc = fk_store_prepare(st,
                             "UPDATE images SET path = ?, size = ?, mtime_ns = ?, identity_id = ?,"
                             " indexed_at = unixepoch() WHERE id = ?", &r->s_move)) ||
      (rc = fk_store_prepare(st, "DELETE FROM images WHERE id = ?", &r->s_del_image)) ||
      (rc = fk_store_prepare(st, "UPDATE images SET size = ?, mtime_ns = ? WHERE id = ?", &r->s_touch)) ||
      (rc = fk_store_prepare(st, "INSERT OR IGNORE INTO identities(name) VALUES(?)", &r->s_ins_ident)) ||
      (rc = fk_store_prepare(st, "SELECT id FROM identities WHERE name = ?", &r->s_get_ident)))
    return rc;
  return FK_OK;
}

static void finalize_all(run *r) {
  sqlite3_stmt *s[] = {r->s_upsert, r->s_del_faces, r->s_ins_face, r->s_move,
                       r->s_del_image, r->s_touch, r->s_ins_ident, r->s_get_ident};
  for (size_t i = 0; i < sizeof s / sizeof *s; i++) sqlite3_finalize(s[i]);
}

/* Runs a prepared statement with no result rows, then resets it. */
static int step_done(run *r, sqlite3_stmt *q, const char *what) {
  int rc = sqlite3_step(q) == SQLITE_DONE ? FK_OK : fk_store_sqlfail(r->st, what);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  return rc;
}

/* The identities.id for the entry's folder, or 0 (NULL) when it has none. */
static int identity_id(run *r, const fk_walk_entry *e, int64_t *id) {
  *id = 0;
  if (!e->identity) return FK_OK;
  char name[1024];
  snprintf(name, sizeof name, "%.*s", (int)e->identity_len, e->identity);
  if ((*id = fk_strmap_get(&r->identities, name)) >= 0) return FK_OK;
  sqlite3_bind_text(r->s_ins_ident, 1, name, -1, SQLITE_TRANSIENT);
  int rc = step_done(r, r->s_ins_ident, "adding an identity");
  if (rc) return rc;
  sqlite3_bind_text(r->s_get_ident, 1, name, -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(r->s_get_ident) == SQLITE_ROW ? FK_OK : fk_store_sqlfail(r->st, "reading an identity");
  *id = sqlite3_column_int64(r->s_get_ident, 0);
  sqlite3_reset(r->s_get_ident);
  if (rc) return rc;
  char *copy = strdup(name);
  char **names = copy ? realloc(r->identity_names, (r->nidentity_names + 1) * sizeof *names) : NULL;
  if (!names) {
    free(copy);
    return fk_store_fail(r->st, FK_ENOMEM, "out of memory");
  }
  r->identity_names = names;
  names[r->nidentity_names++] = copy;
  return fk_strmap_put(&r->identities, copy, *id);
}

static void bind_id_or_null(sqlite3_stmt *q, int col, int64_t id) {
  if (id > 0) sqlite3_bind_int64(q, col, id);
  else sqlite3_bind_null(q, col);
}

static int insert_face(run *r, int64_t image_id, const job *j, int i) {
  const fk_face *f = &j->faces[i];
  const int dim = f->dim;
  if (dim != r->st->dim)
    return fk_store_fail(r->st, FK_EMISMATCH, "a %d-d embedding for an index of %d-d ones", dim, r->st->dim);
  float unit[FK_EMBED_MAX];
  int8_t code[FK_EMBED_MAX];
  double ss = 0;
  for (int d = 0; d < dim; d++) ss += (double)f->embedding[d] * f->embedding[d];
  memcpy(unit, f->embedding, (size_t)dim * sizeof *unit);
  fk_l2_normalize(unit, dim);
  fk_quantize_i8(unit, code, dim);
  sqlite3_stmt *q = r->s_ins_face;
  sqlite3_bind_int64(q, 1, image_id);
  sqlite3_bind_int(q, 2, i);
  sqlite3_bind_double(q, 3, f->box.x);
  sqlite3_bind_double(q, 4, f->box.y);
  sqlite3_bind_double(q, 5, f->box.w);
  sqlite3_bind_double(q, 6, f->box.h);
  sqlite3_bind_double(q, 7, f->score);
  sqlite3_bind_blob(q, 8, f->landmarks, sizeof f->landmarks, SQLITE_STATIC);
  sqlite3_bind_text(q, 9, r->model, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 10, i == j->central);
  sqlite3_bind_double(q, 11, sqrt(ss));
  sqlite3_bind_blob(q, 12, unit, dim * (int)sizeof *unit, SQLITE_STATIC);
  sqlite3_bind_blob(q, 13, code, dim, SQLITE_STATIC);
  return step_done(r, q, "storing a face");
}

/* New or changed content: the image row and all its faces. */
static int apply_embed(run *r, job *j) {
  static const char *const status[] = {[R_EMBED] = "ok", [R_NOFACE] = "no_face", [R_ERROR] = "error"};
  int64_t ident, image_id;
  int rc = identity_id(r, j->e, &ident);
  if (rc) return rc;
  sqlite3_stmt *q = r->s_upsert;
  sqlite3_bind_text(q, 1, j->e->path, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, j->size);
  sqlite3_bind_int64(q, 3, j->mtime_ns);
  sqlite3_bind_text(q, 4, j->hash, -1, SQLITE_STATIC);
  sqlite3_bind_int(q, 5, j->width);
  sqlite3_bind_int(q, 6, j->height);
  sqlite3_bind_text(q, 7, status[j->kind], -1, SQLITE_STATIC);
  if (j->kind == R_ERROR) sqlite3_bind_text(q, 8, j->error, -1, SQLITE_STATIC);
  else sqlite3_bind_null(q, 8);
  bind_id_or_null(q, 9, ident);
  sqlite3_bind_int(q, 10, j->nfaces);
  rc = sqlite3_step(q) == SQLITE_ROW ? FK_OK : fk_store_sqlfail(r->st, "storing an image");
  image_id = sqlite3_column_int64(q, 0);
  sqlite3_reset(q);
  sqlite3_clear_bindings(q);
  if (rc) return rc;
  /* Always: another indexer may have stored this path since we planned. */
  sqlite3_bind_int64(r->s_del_faces, 1, image_id);
  if ((rc = step_done(r, r->s_del_faces, "replacing faces"))) return rc;
  for (int i = 0; rc == FK_OK && i < j->nfaces; i++) rc = insert_face(r, image_id, j, i);
  return rc;
}

/* Known content at a new path: the old row takes the new path. */
static int apply_move(run *r, job *j) {
  int64_t ident;
  int rc = identity_id(r, j->e, &ident);
  if (rc) return rc;
  if (j->known >= 0) { /* the path had other content: that row goes */
    sqlite3_bind_int64(r->s_del_image, 1, r->k[j->known].id);
    if ((rc = step_done(r, r->s_del_image, "replacing an image"))) return rc;
  }
  sqlite3_stmt *q = r->s_move;
  sqlite3_bind_text(q, 1, j->e->path, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 2, j->size);
  sqlite3_bind_int64(q, 3, j->mtime_ns);
  bind_id_or_null(q, 4, ident);
  sqlite3_bind_int64(q, 5, r->k[j->move_from].id);
  return step_done(r, q, "moving an image");
}

static int apply(run *r, job *j) {
  fk_index_stats *s = &r->stats;
  int rc;
  if (j->kind == R_TOUCH) {
    sqlite3_bind_int64(r->s_touch, 1, j->size);
    sqlite3_bind_int64(r->s_touch, 2, j->mtime_ns);
    sqlite3_bind_int64(r->s_touch, 3, r->k[j->known].id);
    rc = step_done(r, r->s_touch, "updating an image");
    s->touched++;
  } else if (j->kind == R_MOVE) {
    rc = apply_move(r, j);
    s->moved++;
  } else {
    rc = apply_embed(r, j);
    if (j->known < 0) s->added++;
    else if (r->k[j->known].is_error) s->retried++;
    else s->updated++;
    s->faces += j->nfaces;
    s->no_face += j->kind == R_NOFACE;
    if (j->kind == R_ERROR) {
      s->errors++;
      if (r->io->on_error) r->io->on_error(j->e->path, j->error, r->io->user);
    }
  }
  s->t_read += j->t_read;
  s->t_decode += j->t_decode;
  s->t_detect += j->t_detect;
  s->t_represent += j->t_represent;
  free(j->faces);
  j->faces = NULL;
  return rc;
}

/* The writer loop: applies finished jobs in transactions of io->batch
 * images (or io->commit_ms), until every worker is done. */
static int write_results(run *r) {
  const fk_index_options *io = r->io;
  int rc = FK_OK, in_txn = 0, pending = 0;
  double txn_start = 0, last_progress = 0;
  pthread_mutex_lock(&r->mu);
  for (;;) {
    if (r->consumed == r->nfinished && r->workers_left > 0) { /* wake at least every 100 ms */
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_nsec += 100 * 1000000L;
      if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
      pthread_cond_timedwait(&r->finished, &r->mu, &ts);
    }
    int64_t from = r->consumed, to = r->nfinished;
    int all_done = r->workers_left == 0 && from == to;
    pthread_mutex_unlock(&r->mu);
    double t = now_s();
    for (int64_t i = from; rc == FK_OK && i < to; i++) {
      if (!in_txn && (rc = fk_store_exec(r->st, "BEGIN IMMEDIATE")) == FK_OK) in_txn = 1, txn_start = t;
      if (rc == FK_OK) rc = apply(r, &r->jobs[r->order[i]]);
      pending++;
      r->stats.done++;
    }
    if (rc == FK_OK && in_txn &&
        (all_done || pending >= io->batch || (now_s() - txn_start) * 1000 >= io->commit_ms || cancelled(r))) {
      if ((rc = fk_store_bump_generation(r->st)) == FK_OK && (rc = fk_store_exec(r->st, "COMMIT")) == FK_OK)
        in_txn = pending = 0;
    }
    r->stats.t_db += now_s() - t;
    pthread_mutex_lock(&r->mu);
    r->consumed = to;
    pthread_cond_broadcast(&r->space);
    if (rc) {
      atomic_store(&r->stop, 1);
      break;
    }
    r->stats.elapsed = now_s() - r->t0;
    if (io->progress && (r->stats.elapsed - last_progress) * 1000 >= io->progress_ms) {
      last_progress = r->stats.elapsed;
      pthread_mutex_unlock(&r->mu);
      io->progress(&r->stats, io->user);
      pthread_mutex_lock(&r->mu);
    }
    if (all_done && !in_txn) break;
  }
  /* On failure, wait for the workers to notice and leave. */
  while (r->workers_left > 0) {
    r->consumed = r->nfinished;
    pthread_cond_broadcast(&r->space);
    pthread_cond_wait(&r->finished, &r->mu);
  }
  pthread_mutex_unlock(&r->mu);
  if (in_txn) sqlite3_exec(r->st->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* ---- planning -------------------------------------------------------------- */

static int load_known(run *r) {
  sqlite3_stmt *q;
  int rc = fk_store_prepare(r->st, "SELECT count(*) FROM images", &q);
  if (rc) return rc;
  int64_t n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
  sqlite3_finalize(q);
  if (!(r->k = calloc((size_t)n + 1, sizeof *r->k))) return fk_store_fail(r->st, FK_ENOMEM, "out of memory");
  if ((rc = fk_store_prepare(r->st, "SELECT id, path, size, mtime_ns, hash, status FROM images", &q))) return rc;
  while (r->nk < n && sqlite3_step(q) == SQLITE_ROW) {
    known *k = &r->k[r->nk];
    k->id = sqlite3_column_int64(q, 0);
    k->path = strdup((const char *)sqlite3_column_text(q, 1));
    k->size = sqlite3_column_int64(q, 2);
    k->mtime_ns = sqlite3_column_int64(q, 3);
    snprintf(k->hash, sizeof k->hash, "%s", (const char *)sqlite3_column_text(q, 4));
    k->is_error = !strcmp((const char *)sqlite3_column_text(q, 5), "error");
    k->next_same = -1;
    r->nk++;
    if (!k->path) rc = fk_store_fail(r->st, FK_ENOMEM, "out of memory");
  }
  sqlite3_finalize(q);
  return rc;
}

/* Is path below root (root + '/' + ...)? */
static int under(const char *path, const char *root) {
  size_t n = strlen(root);
  if (n == 1 && root[0] == '/') return path[0] == '/';
  return !strncmp(path, root, n) && path[n] == '/';
}

/* Decides what to do with every walked file and every known row. */
static int plan(run *r, const fk_walk *w) {
  fk_strmap by_path = {0};
  int rc = FK_OK;
  for (int64_t i = 0; rc == FK_OK && i < r->nk; i++) rc = fk_strmap_put(&by_path, r->k[i].path, i);
  char *seen = calloc((size_t)r->nk + 1, 1);
  if (!(r->jobs = calloc(w->n + 1, sizeof *r->jobs)) || !(r->order = calloc(w->n + 1, sizeof *r->order)) ||
      !seen)
    rc = FK_ENOMEM;
  for (size_t i = 0; rc == FK_OK && i < w->n; i++) {
    const fk_walk_entry *e = &w->e[i];
    int64_t k = fk_strmap_get(&by_path, e->path);
    if (k >= 0) seen[k] = 1;
    if (k >= 0 && r->k[k].size == e->size && r->k[k].mtime_ns == e->mtime_ns && !r->k[k].is_error) {
      r->stats.unchanged++;
      continue;
    }
    r->jobs[r->njobs++] = (job){.e = e, .known = k, .move_from = -1};
  }
  /* Rows whose file is gone: not seen under the root, or missing elsewhere. */
  for (int64_t i = 0; rc == FK_OK && i < r->nk; i++) {
    struct stat sb;
    known *k = &r->k[i];
    if (seen[i]) continue;
    /* outside the root: gone only if certainly gone (not unmounted, not EACCES) */
    if (!under(k->path, w->root) && (stat(k->path, &sb) == 0 || errno != ENOENT)) continue;
    k->gone = 1;
    if (k->is_error || !k->hash[0]) continue;
    k->next_same = fk_strmap_get(&r->gone_by_hash, k->hash);
    rc = fk_strmap_put(&r->gone_by_hash, k->hash, i);
  }
  free(seen);
  fk_strmap_free(&by_path);
  r->stats.todo = r->njobs;
  return rc ? fk_store_fail(r->st, rc, "out of memory") : FK_OK;
}

/* Deletes (prune) or counts the gone rows no moved file took over. */
static int prune(run *r) {
  int rc = FK_OK, in_txn = 0;
  for (int64_t i = 0; rc == FK_OK && i < r->nk; i++) {
    if (!r->k[i].gone || atomic_load(&r->k[i].claimed)) continue;
    if (!r->io->prune) {
      r->stats.missing++;
      continue;
    }
    if (!in_txn && (rc = fk_store_exec(r->st, "BEGIN IMMEDIATE")) == FK_OK) in_txn = 1;
    sqlite3_bind_int64(r->s_del_image, 1, r->k[i].id);
    if (rc == FK_OK && (rc = step_done(r, r->s_del_image, "pruning")) == FK_OK) r->stats.pruned++;
  }
  if (!in_txn) return rc;
  if (rc == FK_OK &&
      (rc = fk_store_exec(r->st, "DELETE FROM identities WHERE id NOT IN"
                                 " (SELECT identity_id FROM images WHERE identity_id IS NOT NULL)")) == FK_OK &&
      (rc = fk_store_bump_generation(r->st)) == FK_OK)
    return fk_store_exec(r->st, "COMMIT");
  sqlite3_exec(r->st->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* Records the model on first use; refuses another model or preprocessing. */
static int claim_model(run *r, const fk_models *m) {
  fk_store *st = r->st;
  int rc = fk_model_id(m, r->opt->model, r->model, sizeof r->model);
  if (rc)
    return fk_store_fail(st, FK_EINVAL, "indexing with model %s needs its nets loaded",
                         fk_model_name(r->opt->model) ? fk_model_name(r->opt->model) : "?");
  if ((rc = fk_store_exec(st, "BEGIN IMMEDIATE"))) return rc;
  char have[64];
  rc = fk_store_meta_get(st, "model", have, sizeof have);
  if (rc == FK_ENOENT) rc = fk_store_record_model(st, r->model, fk_model_dim(r->opt->model), r->opt);
  else if (rc == FK_OK) rc = fk_store_check(st, m, r->opt, 1);
  if (rc == FK_OK) return fk_store_exec(st, "COMMIT");
  sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

/* ---- the run ----------------------------------------------------------------- */

void fk_index_options_init(fk_index_options *o) {
  memset(o, 0, sizeof *o);
  o->batch = 64;
  o->commit_ms = 1000;
  o->progress_ms = 200;
}

static int run_workers(run *r, const fk_models *m, int jobs) {
  worker *w = calloc((size_t)jobs, sizeof *w);
  pthread_t *th = calloc((size_t)jobs, sizeof *th);
  int rc = w && th ? FK_OK : FK_ENOMEM, started = 0;
  fk_options o = *r->opt;
  for (int i = 0; rc == FK_OK && i < jobs; i++) {
    w[i].r = r;
    if ((rc = fk_session_new(m, &o, &w[i].s)))
      fk_store_fail(r->st, rc, "pipeline session: %s", fk_session_errmsg(w[i].s));
    else if (!(w[i].scratch = calloc((size_t)o.max_faces, sizeof *w[i].scratch)))
      rc = fk_store_fail(r->st, FK_ENOMEM, "out of memory");
  }
  if (rc == FK_OK) {
    r->workers_left = jobs; /* before any starts: a fast worker may finish at once */
    for (int i = 0; i < jobs; i++)
      if (pthread_create(&th[started], NULL, worker_main, &w[i]) == 0) started++;
    pthread_mutex_lock(&r->mu);
    r->workers_left -= jobs - started;
    pthread_mutex_unlock(&r->mu);
    if (started == 0) rc = fk_store_fail(r->st, FK_ENOMEM, "cannot start worker threads");
    else rc = write_results(r);
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
  }
  for (int i = 0; w && i < jobs; i++) {
    fk_session_free(w[i].s);
    free(w[i].scratch);
    free(w[i].buf);
  }
  free(w);
  free(th);
  return rc;
}

static void free_run(run *r) {
  finalize_all(r);
  for (int64_t i = 0; i < r->njobs; i++) free(r->jobs[i].faces);
  free(r->jobs);
  free(r->order);
  for (int64_t i = 0; i < r->nk; i++) free(r->k[i].path);
  free(r->k);
  fk_strmap_free(&r->gone_by_hash);
  fk_strmap_free(&r->identities);
  for (size_t i = 0; i < r->nidentity_names; i++) free(r->identity_names[i]);
  free(r->identity_names);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->finished);
  pthread_cond_destroy(&r->space);
}

int fk_store_index(fk_store *st, const fk_models *m, const fk_options *opt, const char *dir,
                   const fk_index_options *io, fk_index_stats *stats) {
  fk_options defaults;
  fk_index_options iodef;
  if (!opt) fk_options_init(&defaults), opt = &defaults;
  if (!io) fk_index_options_init(&iodef), io = &iodef;
  if (stats) memset(stats, 0, sizeof *stats);
  if (!st->writable) return fk_store_fail(st, FK_EREADONLY, "%s was opened for reading only", st->path);
  if (io->batch < 1 || io->commit_ms < 0 || io->jobs < 0 || io->jobs > 1024)
    return fk_store_fail(st, FK_EINVAL, "bad index options (batch %d, jobs %d)", io->batch, io->jobs);
  run r = {.st = st, .opt = opt, .io = io, .t0 = now_s()};
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.finished, NULL);
  pthread_cond_init(&r.space, NULL);
  fk_walk w = {0};
  int rc = fk_store_check(st, m, opt, 1);
  if (rc == FK_OK) rc = fk_walk_dir(st, dir, &w, io->on_error, io->user);
  r.stats.found = (int64_t)w.n;
  r.stats.skipped = w.skipped;
  if (rc == FK_OK && w.n == 0 && !io->prune)
    rc = fk_store_fail(st, FK_ENOENT, "no images (.jpg, .jpeg, .png, .webp) under %s%s", dir,
                       w.skipped ? " (only other files)" : " (it is empty)");
  if (rc == FK_OK) rc = claim_model(&r, m);
  if (rc == FK_OK) rc = load_known(&r);
  if (rc == FK_OK) rc = plan(&r, &w);
  if (rc == FK_OK) rc = prepare_all(&r);
  int jobs = io->jobs > 0 ? io->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (jobs < 1) jobs = 1;
  if (jobs > r.njobs) jobs = r.njobs > 0 ? (int)r.njobs : 1;
  if (rc == FK_OK && r.njobs > 0) rc = run_workers(&r, m, jobs);
  if (rc == FK_OK && !cancelled(&r)) rc = prune(&r);
  if (rc == FK_OK && !cancelled(&r)) rc = fk_store_load(st, NULL); /* refreshes the sidecar */
  if (rc == FK_OK && !cancelled(&r)) fk_store_ann_refresh(st, io->jobs); /* a cache: search rebuilds it */
  if (rc == FK_OK && cancelled(&r))
    rc = fk_store_fail(st, FK_ECANCELED, "interrupted after %lld of %lld images; run again to continue",
                       (long long)r.stats.done, (long long)r.stats.todo);
  r.stats.elapsed = now_s() - r.t0;
  if (io->progress && (rc == FK_OK || rc == FK_ECANCELED)) io->progress(&r.stats, io->user);
  if (stats) *stats = r.stats;
  free_run(&r);
  fk_walk_free(&w);
  return rc;
}
