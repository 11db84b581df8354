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
 *      embed; they never touch the database;
 *   5. the calling thread is the only writer: it applies finished jobs in
 *      batched transactions, each image together with its faces, so a kill
 *      at any moment leaves every image either fully committed or absent,
 *      and UNIQUE(path) / UNIQUE(image_id, idx) rule out duplicates;
 *   6. prune (if asked), bump the generation and rebuild the vector sidecar
 *      (and the ANN graph, for an index big enough to search with it).
 *
 * Many runs at once (PostgreSQL): with shards, a run keeps the files whose
 * stored path hashes to its shard; and the writer claims the jobs, a chunk
 * at a time, before workers may start them (fk_store_ops.claim): a file
 * another run holds, or has just committed, is left to it. A claim is
 * dropped in the transaction that commits its image, renewed while the run
 * goes on, and expires lease_s after a kill, when another run takes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "base/abi.h"
#include "base/fpenv.h"
#include "store/store.h"

#define MAX_PENDING 512 /* finished jobs waiting for the writer */
#define CLAIM_CHUNK 16  /* jobs claimed in one transaction, at most */

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
  const char *key;    /* the path stored: e->path, or relative to the root */
  int elsewhere;      /* another run has it: not started here */
  int64_t known;      /* row at this path, or -1 */
  int kind;           /* R_* */
  fk_entry en;        /* en.path points into the walk */
  int64_t move_from;  /* R_MOVE: the known row taken over */
  double t_read;
} job;

typedef struct run {
  fk_store *st;
  const fk_options *opt;
  const fk_index_options *io;
  char model[64];
  known *k;
  int64_t nk, kcap;
  fk_map gone_by_hash;
  fk_map deleted;   /* tombstoned paths (deleted_files) -> 1 */
  char **dpaths;       /* their strings */
  int64_t ndp, dpcap;
  job *jobs;
  int64_t njobs;
  char **keys;         /* stored path of each walked file, with a root */
  const char *root;    /* realpath of io->root, or NULL */
  /* claims: jobs [0, claimed) are decided (claimed here, or elsewhere) */
  int claims;
  char worker[128];
  int64_t claimed;
  int ahead;           /* jobs kept claimed ahead of the workers: few, so
                          that a killed run holds few files until its lease
                          expires */
  double last_renew;
  /* worker <-> writer */
  pthread_mutex_t mu;
  pthread_cond_t finished, space, more;
  int64_t next;        /* next job to start (under mu) */
  int64_t *order;      /* jobs in the order they finished */
  int64_t nfinished, consumed;
  int workers_left;
  atomic_int stop;     /* writer failed or cancel seen */
  fk_index_stats stats;
  double t0;
  /* writer */
  fk_writer w;
} run;

static int cancelled(const run *r) {
  return atomic_load(&r->stop) || (r->io->cancel && __atomic_load_n(r->io->cancel, __ATOMIC_RELAXED));
}

/* ---- workers --------------------------------------------------------------- */

/* A gone row with this content not yet taken, or -1. */
static int64_t claim_moved(run *r, const char *hash) {
  for (int64_t i = fk_map_get_str(&r->gone_by_hash, hash); i >= 0; i = r->k[i].next_same)
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

static void process(worker *w, job *j) {
  run *r = w->r;
  size_t n = 0;
  double t = fk_now_s();
  j->en.path = (char *)j->key;
  j->en.size = j->e->size;
  j->en.mtime_ns = j->e->mtime_ns;
  int err = fk_entry_read(j->e->path, &w->buf, &w->cap, &n, &j->en);
  j->t_read = fk_now_s() - t;
  if (err) {
    j->kind = R_ERROR;
    j->en.status = FK_ENTRY_ERROR;
    snprintf(j->en.error, sizeof j->en.error, "cannot read: %s",
             err == EFBIG ? "file larger than 1 GiB" : strerror(err));
    return;
  }
  if (j->known >= 0 && !r->k[j->known].is_error && !strcmp(r->k[j->known].hash, j->en.hash)) {
    j->kind = R_TOUCH;
    return;
  }
  if ((j->move_from = claim_moved(r, j->en.hash)) >= 0) {
    j->kind = R_MOVE;
    return;
  }
  fk_entry_embed(w->s, w->buf, n, w->scratch, &j->en);
  j->kind = j->en.status == FK_ENTRY_OK ? R_EMBED : j->en.status == FK_ENTRY_NOFACE ? R_NOFACE : R_ERROR;
}

/* The next job a worker may start (claimed, or needing no claim); njobs
 * when there is none left. Waits while the writer claims more. */
static int64_t take_job(run *r) {
  pthread_mutex_lock(&r->mu);
  int64_t i = r->njobs;
  while (!cancelled(r) && r->next < r->njobs) {
    if (r->next < r->claimed) {
      int64_t j = r->next++;
      if (r->jobs[j].elsewhere) continue;
      i = j;
      break;
    }
    pthread_cond_signal(&r->finished); /* the writer claims when woken */
    pthread_cond_wait(&r->more, &r->mu);
  }
  pthread_mutex_unlock(&r->mu);
  return i;
}

static void *worker_main(void *arg) {
  worker *w = arg;
  run *r = w->r;
  int64_t i;
  fk_fpenv_set(1); /* a thread of ours: it flushes denormals throughout */
  while ((i = take_job(r)) < r->njobs) {
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

/* The identities.id for the entry's folder, or 0 (NULL) when it has none. */
static int identity_id(run *r, const fk_walk_entry *e, int64_t *id) {
  return fk_writer_identity(&r->w, e->identity, e->identity ? e->identity_len : 0, id);
}

/* New or changed content: the image row and all its faces. */
static int apply_embed(run *r, job *j) {
  int64_t ident, image_id;
  int rc = identity_id(r, j->e, &ident);
  return rc ? rc : fk_writer_put(&r->w, &j->en, ident, r->model, &image_id);
}

/* Known content at a new path: the old row takes the new path. */
static int apply_move(run *r, job *j) {
  int64_t ident;
  int rc = identity_id(r, j->e, &ident);
  if (rc) return rc;
  const fk_store_ops *ops = r->st->ops;
  /* the path had other content: that row goes */
  if (j->known >= 0 && (rc = ops->delete_image(&r->w, r->k[j->known].id))) return rc;
  return ops->move(&r->w, r->k[j->move_from].id, &j->en, ident);
}

static int apply(run *r, job *j) {
  fk_index_stats *s = &r->stats;
  int rc = r->claims ? r->st->ops->release(r->st, r->worker, j->key) : FK_OK;
  if (rc) return rc;
  if (j->kind == R_TOUCH) {
    rc = r->st->ops->touch(&r->w, r->k[j->known].id, j->en.size, j->en.mtime_ns);
    s->touched++;
  } else if (j->kind == R_MOVE) {
    rc = apply_move(r, j);
    s->moved++;
  } else {
    rc = apply_embed(r, j);
    if (j->known < 0) s->added++;
    else if (r->k[j->known].is_error) s->retried++;
    else s->updated++;
    s->faces += j->en.nfaces;
    s->no_face += j->kind == R_NOFACE;
    if (j->kind == R_ERROR) {
      s->errors++;
      if (r->io->on_error) r->io->on_error(j->e->path, j->en.error, r->io->user);
    }
  }
  s->t_read += j->t_read;
  s->t_decode += j->en.t_decode;
  s->t_detect += j->en.t_detect;
  s->t_represent += j->en.t_represent;
  free(j->en.faces);
  j->en.faces = NULL;
  return rc;
}

/* Claims the next chunk of jobs, and renews this run's claims when a third
 * of the lease has passed; outside any write transaction. */
static int claim_more(run *r) {
  fk_store *st = r->st;
  int rc = FK_OK;
  if (fk_now_s() - r->last_renew > r->io->lease_s / 3.0) {
    if ((rc = st->ops->renew(st, r->worker, r->io->lease_s))) return rc;
    r->last_renew = fk_now_s();
  }
  pthread_mutex_lock(&r->mu);
  int64_t from = r->claimed, ahead = r->claimed - r->next;
  pthread_mutex_unlock(&r->mu);
  if (from >= r->njobs || ahead >= r->ahead) return FK_OK;
  int n = (int)(r->njobs - from < r->ahead ? r->njobs - from : r->ahead);
  const char *paths[CLAIM_CHUNK];
  int64_t size[CLAIM_CHUNK], mtime[CLAIM_CHUNK];
  uint8_t got[CLAIM_CHUNK];
  for (int i = 0; i < n; i++) {
    const job *j = &r->jobs[from + i];
    paths[i] = j->key, size[i] = j->e->size, mtime[i] = j->e->mtime_ns;
  }
  if ((rc = st->ops->claim(st, r->worker, r->io->lease_s, paths, size, mtime, n, got))) return rc;
  for (int i = 0; i < n; i++) {
    r->jobs[from + i].elsewhere = got[i] == 0;
    r->stats.elsewhere += got[i] == 0;
    r->stats.todo -= got[i] == 0; /* another run's to do */
    r->stats.taken_over += got[i] == 2;
  }
  pthread_mutex_lock(&r->mu);
  r->claimed = from + n;
  pthread_cond_broadcast(&r->more);
  pthread_mutex_unlock(&r->mu);
  return FK_OK;
}

/* Does the writer owe the claims work (more jobs, or a renewal)? */
static int claims_due(run *r) {
  if (!r->claims) return 0;
  pthread_mutex_lock(&r->mu);
  int more = r->claimed < r->njobs && r->claimed - r->next < r->ahead;
  pthread_mutex_unlock(&r->mu);
  return more || fk_now_s() - r->last_renew > r->io->lease_s / 3.0;
}

/* The writer loop: applies finished jobs in transactions of io->batch
 * images (or io->commit_ms), until every worker is done; claims jobs
 * ahead of the workers between transactions. */
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
    double t = fk_now_s();
    for (int64_t i = from; rc == FK_OK && i < to; i++) {
      if (!in_txn && (rc = r->st->ops->begin(r->st, FK_TXN_WRITE)) == FK_OK) in_txn = 1, txn_start = t;
      if (rc == FK_OK) rc = apply(r, &r->jobs[r->order[i]]);
      pending++;
      r->stats.done++;
    }
    int claim = rc == FK_OK && claims_due(r);
    if (rc == FK_OK && in_txn &&
        (all_done || claim || pending >= io->batch || (fk_now_s() - txn_start) * 1000 >= io->commit_ms || cancelled(r))) {
      if ((rc = fk_store_bump_generation(r->st)) == FK_OK && (rc = r->st->ops->commit(r->st)) == FK_OK)
        in_txn = pending = 0;
    }
    if (claim && rc == FK_OK && !cancelled(r)) rc = claim_more(r);
    r->stats.t_db += fk_now_s() - t;
    pthread_mutex_lock(&r->mu);
    r->consumed = to;
    pthread_cond_broadcast(&r->space);
    if (cancelled(r)) pthread_cond_broadcast(&r->more); /* workers waiting for claims leave */
    if (rc) {
      atomic_store(&r->stop, 1);
      break;
    }
    r->stats.elapsed = fk_now_s() - r->t0;
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
    pthread_cond_broadcast(&r->more);
    pthread_cond_wait(&r->finished, &r->mu);
  }
  pthread_mutex_unlock(&r->mu);
  if (in_txn) r->st->ops->rollback(r->st);
  return rc;
}

/* ---- planning -------------------------------------------------------------- */

/* Adds one images row to r->k. */
static int add_known(const fk_image_row *row, void *user) {
  run *r = user;
  if (r->nk == r->kcap) {
    int64_t cap = r->kcap ? 2 * r->kcap : 1024;
    known *k = realloc(r->k, (size_t)cap * sizeof *k);
    if (!k) return fk_store_fail(r->st, FK_ENOMEM, "out of memory");
    r->k = k;
    r->kcap = cap;
  }
  known *k = &r->k[r->nk];
  memset(k, 0, sizeof *k);
  k->id = row->id;
  k->size = row->size;
  k->mtime_ns = row->mtime_ns;
  snprintf(k->hash, sizeof k->hash, "%s", row->hash);
  k->is_error = row->is_error;
  k->next_same = -1;
  if (!(k->path = strdup(row->path))) return fk_store_fail(r->st, FK_ENOMEM, "out of memory");
  r->nk++;
  return FK_OK;
}

static int load_known(run *r) {
  return r->st->ops->foreach_image(r->st, add_known, r);
}

/* Adds one tombstoned path to r->deleted. */
static int add_deleted(const char *path, void *user) {
  run *r = user;
  if (r->ndp == r->dpcap) {
    int64_t cap = r->dpcap ? 2 * r->dpcap : 64;
    char **p = realloc(r->dpaths, (size_t)cap * sizeof *p);
    if (!p) return fk_store_fail(r->st, FK_ENOMEM, "out of memory");
    r->dpaths = p;
    r->dpcap = cap;
  }
  if (!(r->dpaths[r->ndp] = strdup(path))) return fk_store_fail(r->st, FK_ENOMEM, "out of memory");
  return fk_map_put_str(&r->deleted, r->dpaths[r->ndp++], 1) ? fk_store_fail(r->st, FK_ENOMEM, "out of memory")
                                                              : FK_OK;
}

/* The paths whose images were deleted one by one: left out of the run
 * (stats.deleted) unless it forgets the deletions. */
static int load_deleted(run *r) {
  if (r->io->forget_deletions) return FK_OK;
  return r->st->ops->foreach_deleted_file(r->st, add_deleted, r);
}

/* Is path below root (root + '/' + ...)? */
static int under(const char *path, const char *root) {
  size_t n = strlen(root);
  if (n == 1 && root[0] == '/') return path[0] == '/';
  return !strncmp(path, root, n) && path[n] == '/';
}

/* Which of `shards` shards the stored path key belongs to: FNV-1a 64 of
 * its bytes, then murmur3's 64-bit finalizer, modulo shards; the same
 * answer on every machine. The finalizer matters: FNV-1a's low bit is the
 * parity of the bytes' low bits, so without it paths that repeat a name
 * (LFW's Name/Name_0001.jpg) split 32/68 between two shards. */
int fk_store_shard_of(const char *key, int shards) {
  uint64_t h = fk_hash_mix(fk_fnv1a_str(key));
  return shards > 1 ? (int)(h % (uint64_t)shards) : 0;
}

static int in_shard(const run *r, const char *key) {
  return r->io->shards <= 1 || fk_store_shard_of(key, r->io->shards) == r->io->shard;
}

/* With a root, the walked paths relative to it (the walk must lie inside). */
static int make_keys(run *r, const fk_walk *w) {
  if (!r->root) return FK_OK;
  if (strcmp(w->root, r->root) && !under(w->root, r->root))
    return fk_store_fail(r->st, FK_EINVAL, "%s is not inside the root %s", w->root, r->root);
  size_t skip = strcmp(r->root, "/") ? strlen(r->root) + 1 : 1;
  if (!(r->keys = calloc(w->n + 1, sizeof *r->keys))) return fk_store_fail(r->st, FK_ENOMEM, "out of memory");
  for (size_t i = 0; i < w->n; i++)
    if (!(r->keys[i] = strdup(w->e[i].path + skip))) return fk_store_fail(r->st, FK_ENOMEM, "out of memory");
  return FK_OK;
}

/* Decides what to do with every walked file and every known row. */
static int plan(run *r, const fk_walk *w) {
  fk_map by_path = {0};
  int rc = make_keys(r, w);
  if (rc) return rc;
  for (int64_t i = 0; rc == FK_OK && i < r->nk; i++) rc = fk_map_put_str(&by_path, r->k[i].path, i);
  char *seen = calloc((size_t)r->nk + 1, 1);
  if (!(r->jobs = calloc(w->n + 1, sizeof *r->jobs)) || !(r->order = calloc(w->n + 1, sizeof *r->order)) ||
      !seen)
    rc = FK_ENOMEM;
  for (size_t i = 0; rc == FK_OK && i < w->n; i++) {
    const fk_walk_entry *e = &w->e[i];
    const char *key = r->keys ? r->keys[i] : e->path;
    int64_t k = fk_map_get_str(&by_path, key);
    if (k >= 0) seen[k] = 1;
    if (!in_shard(r, key)) {
      r->stats.other_shards++;
      continue;
    }
    if (k < 0 && fk_map_get_str(&r->deleted, key) >= 0) {
      r->stats.deleted++;
      continue;
    }
    if (k >= 0 && r->k[k].size == e->size && r->k[k].mtime_ns == e->mtime_ns && !r->k[k].is_error) {
      r->stats.unchanged++;
      continue;
    }
    r->jobs[r->njobs++] = (job){.e = e, .key = key, .known = k, .move_from = -1};
  }
  /* Rows whose file is gone: not seen under the root, or missing elsewhere;
   * each shard judges its own. */
  for (int64_t i = 0; rc == FK_OK && i < r->nk; i++) {
    struct stat sb;
    known *k = &r->k[i];
    if (seen[i] || !in_shard(r, k->path)) continue;
    char abs[8192];
    if (r->root && k->path[0] != '/') snprintf(abs, sizeof abs, "%s/%s", r->root, k->path);
    else snprintf(abs, sizeof abs, "%s", k->path);
    /* outside the root: gone only if certainly gone (not unmounted, not EACCES) */
    if (!under(abs, w->root) && (stat(abs, &sb) == 0 || errno != ENOENT)) continue;
    k->gone = 1;
    if (k->is_error || !k->hash[0]) continue;
    k->next_same = fk_map_get_str(&r->gone_by_hash, k->hash);
    rc = fk_map_put_str(&r->gone_by_hash, k->hash, i);
  }
  free(seen);
  fk_map_free(&by_path);
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
    if (!in_txn && (rc = r->st->ops->begin(r->st, FK_TXN_WRITE)) == FK_OK) in_txn = 1;
    if (rc == FK_OK && (rc = r->st->ops->delete_image(&r->w, r->k[i].id)) == FK_OK) r->stats.pruned++;
  }
  if (!in_txn) return rc;
  if (rc == FK_OK && (rc = r->st->ops->drop_orphans(r->st)) == FK_OK &&
      (rc = fk_store_bump_generation(r->st)) == FK_OK)
    return r->st->ops->commit(r->st);
  r->st->ops->rollback(r->st);
  return rc;
}

/* Records the model on first use; refuses another model or preprocessing. */
static int claim_model(run *r, const fk_models *m) {
  fk_store *st = r->st;
  int rc = fk_model_id(m, r->opt->model, r->model, sizeof r->model);
  if (rc)
    return fk_store_fail(st, FK_EINVAL, "indexing with model %s needs its nets loaded",
                         fk_model_name(r->opt->model) ? fk_model_name(r->opt->model) : "?");
  if ((rc = st->ops->begin(st, FK_TXN_WRITE))) return rc;
  char have[64];
  rc = fk_store_meta_get(st, "model", have, sizeof have);
  if (rc == FK_ENOENT) rc = fk_store_record_model(st, r->model, fk_model_dim(r->opt->model), r->opt);
  else if (rc == FK_OK) rc = fk_store_check(st, m, r->opt, 1);
  if (rc == FK_OK) return st->ops->commit(st);
  st->ops->rollback(st);
  return rc;
}

/* ---- the run ----------------------------------------------------------------- */

void fk_index_options_init(fk_index_options *o) {
  memset(o, 0, sizeof *o);
  o->size = sizeof *o;
  o->batch = 64;
  o->commit_ms = 1000;
  o->progress_ms = 200;
  o->lease_s = 60;
}

/* Claims are taken only where the backend has them: concurrent runs. */
static void start_claims(run *r) {
  r->claims = r->st->ops->claim && r->njobs > 0;
  if (!r->claims) {
    r->claimed = r->njobs;
    return;
  }
  char host[64] = "?";
  gethostname(host, sizeof host);
  host[sizeof host - 1] = '\0';
  unsigned nonce = 0;
  if (getrandom(&nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) nonce = (unsigned)time(NULL);
  snprintf(r->worker, sizeof r->worker, "%s:%d:%08x", host, (int)getpid(), nonce);
  r->last_renew = fk_now_s();
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
  fk_writer_free(&r->w);
  for (int64_t i = 0; i < r->njobs; i++) free(r->jobs[i].en.faces);
  free(r->jobs);
  free(r->order);
  for (int64_t i = 0; i < r->nk; i++) free(r->k[i].path);
  free(r->k);
  fk_map_free(&r->gone_by_hash);
  fk_map_free(&r->deleted);
  for (int64_t i = 0; i < r->ndp; i++) free(r->dpaths[i]);
  free(r->dpaths);
  for (size_t i = 0; r->keys && r->keys[i]; i++) free(r->keys[i]);
  free(r->keys);
  free((char *)r->root);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->finished);
  pthread_cond_destroy(&r->space);
  pthread_cond_destroy(&r->more);
}

int fk_store_index(fk_store *st, const fk_models *m, const fk_options *opt, const char *dir,
                   const fk_index_options *io, fk_index_stats *stats) {
  fk_options defaults;
  fk_index_options iodef;
  if (FK_ABI_IMPORT(fk_options_init, &defaults, opt) || FK_ABI_IMPORT(fk_index_options_init, &iodef, io))
    return fk_store_fail(st, FK_EINVAL, "options not filled by fk_options_init and fk_index_options_init");
  opt = &defaults;
  io = &iodef;
  if (stats) memset(stats, 0, sizeof *stats);
  if (!st->writable) return fk_store_fail(st, FK_EREADONLY, "%s was opened for reading only", st->path);
  if (io->batch < 1 || io->commit_ms < 0 || io->jobs < 0 || io->jobs > 1024 || io->lease_s < 1 ||
      (io->shards > 1 && (io->shard < 0 || io->shard >= io->shards)))
    return fk_store_fail(st, FK_EINVAL, "bad index options (batch %d, jobs %d, lease %d s, shard %d of %d)",
                         io->batch, io->jobs, io->lease_s, io->shard, io->shards);
  run r = {.st = st, .opt = opt, .io = io, .t0 = fk_now_s()};
  pthread_mutex_init(&r.mu, NULL);
  pthread_cond_init(&r.finished, NULL);
  pthread_cond_init(&r.space, NULL);
  pthread_cond_init(&r.more, NULL);
  fk_walk w = {0};
  int rc = fk_store_check(st, m, opt, 1);
  if (rc == FK_OK && io->root && !(r.root = realpath(io->root, NULL)))
    rc = fk_store_fail(st, FK_ENOENT, "--root %s: %s", io->root, strerror(errno));
  if (rc == FK_OK) rc = fk_walk_dir(st, dir, &w, io->on_error, io->user);
  r.stats.found = (int64_t)w.n;
  r.stats.skipped = w.skipped;
  r.stats.errors = w.errors;
  if (rc == FK_OK && w.n == 0 && !io->prune)
    rc = fk_store_fail(st, FK_ENOENT, "no images (.jpg, .jpeg, .png, .webp) under %s%s", dir,
                       w.skipped ? " (only other files)" : " (it is empty)");
  if (rc == FK_OK) rc = claim_model(&r, m);
  if (rc == FK_OK) rc = load_known(&r);
  if (rc == FK_OK) rc = load_deleted(&r);
  if (rc == FK_OK) rc = plan(&r, &w);
  if (rc == FK_OK) rc = fk_writer_init(&r.w, st);
  int jobs = io->jobs > 0 ? io->jobs : (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (jobs < 1) jobs = 1;
  if (jobs > r.njobs) jobs = r.njobs > 0 ? (int)r.njobs : 1;
  r.ahead = 2 * jobs + 2 < CLAIM_CHUNK ? 2 * jobs + 2 : CLAIM_CHUNK;
  if (rc == FK_OK) start_claims(&r);
  if (rc == FK_OK && r.claims) rc = claim_more(&r);
  if (rc == FK_OK && r.njobs > 0) rc = run_workers(&r, m, jobs);
  if (r.claims) st->ops->release(st, r.worker, NULL); /* what a failure left claimed */
  if (rc == FK_OK && !cancelled(&r)) rc = prune(&r);
  if (rc == FK_OK && !cancelled(&r)) rc = fk_store_load(st, NULL); /* refreshes the sidecar */
  if (rc == FK_OK && !cancelled(&r)) fk_store_ann_refresh(st, io->jobs); /* a cache: search rebuilds it */
  if (rc == FK_OK && cancelled(&r))
    rc = fk_store_fail(st, FK_ECANCELED, "interrupted after %lld of %lld images; run again to continue",
                       (long long)r.stats.done, (long long)r.stats.todo);
  r.stats.elapsed = fk_now_s() - r.t0;
  if (io->progress && (rc == FK_OK || rc == FK_ECANCELED)) io->progress(&r.stats, io->user);
  if (stats) *stats = r.stats;
  free_run(&r);
  fk_walk_free(&w);
  return rc;
}
