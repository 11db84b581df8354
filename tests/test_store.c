/*
 * test_store.c - unit tests of the face index library (src/store/): int8
 * quantization, the SIMD kernels against plain C, exact top-k against a
 * brute-force sort for every metric and code, threads, the SQLite schema
 * and how fk_store_open() tells an index from other files, the vector
 * sidecar going stale, corrupt or damaged (checksums), model / preprocessing checks, SHA-256
 * and the directory walk. Indexes here are filled with synthetic rows
 * through SQLite; test_index.c runs the real pipeline.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "facekit.h"
#include "store/sqlite/sqlite.h" /* the SQL helpers: tests build indexes directly */
#include "store/store.h"
#include "store/vecs.h"
#include "testutil.h"
#include "golden.h"
#include "pgutil.h"

/* The width of the vectors the tests make: 128 (resnet128) unless a test
 * runs again at another (512, and 100 for the kernels' plain-C path). */
static int DIM = 128;
static int pg; /* test_store --pg: the backend-generic cases on PostgreSQL */

/* A random unit-ish vector scaled to a raw norm in [1, 2). */
static void random_raw(float *v, unsigned seed) {
  tu_fill_random(v, DIM, seed);
  fk_l2_normalize(v, DIM);
  float norm = 1.0f + (float)(seed % 97) / 97.0f;
  for (int i = 0; i < DIM; i++) v[i] *= norm;
}

/* n random rows: row i has image i / 2 (two faces an image), identity i % 7,
 * every even row central. raw gets the raw vectors if not NULL. */
static void fill_vecs(fk_vecs *v, int64_t n, float *raw) {
  CHECK_EQ_INT(fk_vecs_alloc(v, n, DIM), FK_OK);
  for (int64_t i = 0; i < n; i++) {
    float e[FK_EMBED_MAX];
    random_raw(e, (unsigned)i + 1);
    if (raw) memcpy(raw + i * DIM, e, (size_t)DIM * sizeof *e);
    double ss = 0;
    for (int d = 0; d < DIM; d++) ss += (double)e[d] * e[d];
    v->norm[i] = (float)sqrt(ss);
    fk_l2_normalize(e, DIM);
    memcpy(v->f32 + i * DIM, e, (size_t)DIM * sizeof *e);
    fk_quantize_i8(e, v->i8 + i * DIM, DIM);
    fk_vecs_code_norm(v, i);
    v->face_id[i] = i + 100;
    v->image_id[i] = i / 2;
    v->identity[i] = (int32_t)(i % 7);
    v->flags[i] = i % 2 == 0 ? FK_VEC_CENTRAL : 0;
  }
}

static void test_quantize_rounds_and_clamps(void) {
  float v[8] = {1.0f, -1.0f, 0.5f, -0.5f, 0.5f / 127, -0.49f / 127, 1.2f, -3.0f};
  int8_t c[8];
  fk_quantize_i8(v, c, 8);
  int8_t want[8] = {127, -127, 64, -64, 1, 0, 127, -127};
  for (int i = 0; i < 8; i++) CHECK_EQ_INT(c[i], want[i]);
}

static void test_simd_kernels_match_plain_c(void) {
  enum { N = 1037 }; /* not a multiple of the 4- and 8-row steps */
  fk_vecs v;
  fill_vecs(&v, N, NULL);
  /* extreme codes of unit vectors: one-hot rows (code 127) and flat rows
   * (127 / sqrt(dim): 11 at 128) */
  memset(v.i8, 0, (size_t)DIM);
  v.i8[5] = 127;
  memset(v.i8 + DIM, (int)lround(127 / sqrt(DIM)), (size_t)DIM);
  float fa[N], fb[N];
  int32_t ia[N], ib[N];
  const float *q = v.f32 + 17 * DIM;
  int8_t qc[FK_EMBED_MAX] = {0};
  qc[5] = 127;
  fk_dot_f32(q, v.f32, N, DIM, fa);
  fk_dot_f32_scalar(q, v.f32, N, DIM, fb);
  fk_dot_i8(qc, v.i8, N, DIM, ia);
  fk_dot_i8_scalar(qc, v.i8, N, DIM, ib);
  double worst = 0;
  int same = 1;
  for (int i = 0; i < N; i++) {
    worst = fmax(worst, fabs(fa[i] - fb[i]));
    same &= ia[i] == ib[i];
  }
  CHECK(worst < 1e-5);
  CHECK(same);
  CHECK_EQ_INT(ia[0], 127 * 127);
  memcpy(qc, v.i8 + 17 * DIM, DIM);
  fk_dot_i8(qc, v.i8, N, DIM, ia);
  fk_dot_i8_scalar(qc, v.i8, N, DIM, ib);
  same = 1;
  for (int i = 0; i < N; i++) same &= ia[i] == ib[i];
  CHECK(same);
  CHECK_NEAR(fa[17], 1.0, 1e-5);
  fprintf(stderr, "  kernels: %s\n", fk_dot_simd() ? "AVX2" : "plain C");
  fk_vecs_free(&v);
}

typedef struct ref_hit { float d; int64_t row; } ref_hit;

static int cmp_ref(const void *a, const void *b) {
  const ref_hit *x = a, *y = b;
  return x->d < y->d ? -1 : x->d > y->d ? 1 : (x->row > y->row) - (x->row < y->row);
}

static void test_scan_matches_brute_force_for_every_metric(void) {
  enum { N = 3001, K = 12 };
  fk_vecs v;
  float *raw = malloc((size_t)N * DIM * sizeof *raw);
  ref_hit *ref = malloc(N * sizeof *ref);
  fill_vecs(&v, N, raw);
  for (int metric = 0; metric < 3; metric++) {
    for (int trial = 0; trial < 3; trial++) {
      float q[FK_EMBED_MAX];
      random_raw(q, 5000u + (unsigned)trial * 7 + (unsigned)metric);
      for (int i = 0; i < N; i++) ref[i] = (ref_hit){fk_distance(q, raw + (size_t)i * DIM, DIM, metric), i};
      qsort(ref, N, sizeof *ref, cmp_ref);
      fk_scan s;
      fk_scan_init(&s, &v, q, metric, FK_CODES_F32, K, -1);
      fk_hit hits[K];
      int n = 0;
      CHECK_EQ_INT(fk_scan_run(&s, NULL, hits, &n), FK_OK);
      CHECK_EQ_INT(n, K);
      int agree = 1;
      double dd = 0;
      for (int i = 0; i < n; i++) {
        agree &= hits[i].row == ref[i].row;
        dd = fmax(dd, fabs(fk_scan_distance(&s, &hits[i]) - ref[i].d));
      }
      if (!agree) fprintf(stderr, "  metric %d trial %d: ranking differs\n", metric, trial);
      CHECK(agree);
      CHECK(dd < 1e-4);
      /* int8 codes keep the nearest neighbour of a slightly perturbed row */
      float near[FK_EMBED_MAX];
      memcpy(near, raw + (size_t)(trial * 101) * DIM, (size_t)DIM * sizeof *near);
      for (int i = 0; i < DIM; i += 9) near[i] += 0.01f;
      fk_scan_init(&s, &v, near, metric, FK_CODES_INT8, 1, -1);
      CHECK_EQ_INT(fk_scan_run(&s, NULL, hits, &n), FK_OK);
      CHECK_EQ_INT(hits[0].row, trial * 101);
    }
  }
  free(raw);
  free(ref);
  fk_vecs_free(&v);
}

static void test_int8_code_matches_itself_exactly(void) {
  enum { N = 300 };
  fk_vecs v;
  float *raw = malloc((size_t)N * DIM * sizeof *raw);
  fill_vecs(&v, N, raw);
  for (int metric = 0; metric < 3; metric++) {
    fk_scan s;
    fk_hit h;
    int n;
    fk_scan_init(&s, &v, raw + 123 * DIM, metric, FK_CODES_INT8, 1, -1);
    fk_scan_run(&s, NULL, &h, &n);
    CHECK_EQ_INT(h.row, 123);
    CHECK(fk_scan_distance(&s, &h) < 2e-3);
    CHECK_NEAR(fk_scan_similarity(&s, &h), 1.0, 1e-6);
  }
  free(raw);
  fk_vecs_free(&v);
}

static void test_scan_threads_give_the_same_answer(void) {
  enum { N = 20000, K = 25 };
  fk_vecs v;
  fill_vecs(&v, N, NULL);
  pthreadpool_t pool = pthreadpool_create(2);
  for (int codes = 0; codes < 2; codes++) {
    float q[FK_EMBED_MAX];
    random_raw(q, 777u + (unsigned)codes);
    fk_scan s;
    fk_scan_init(&s, &v, q, FK_METRIC_COSINE, codes, K, -1);
    fk_hit a[K], b[K];
    int na = 0, nb = 0;
    fk_scan_run(&s, NULL, a, &na);
    fk_scan_run(&s, pool, b, &nb);
    CHECK_EQ_INT(na, nb);
    int same = na == nb;
    for (int i = 0; same && i < na; i++) same = a[i].row == b[i].row && a[i].key == b[i].key;
    CHECK(same);
    for (int i = 1; i < na; i++) CHECK(a[i - 1].key <= a[i].key);
  }
  pthreadpool_destroy(pool);
  fk_vecs_free(&v);
}

static void test_scan_filters_threshold_image_and_central(void) {
  enum { N = 500 };
  fk_vecs v;
  fill_vecs(&v, N, NULL);
  float q[FK_EMBED_MAX];
  memcpy(q, v.f32 + 40 * DIM, (size_t)DIM * sizeof *q); /* row 40: image 20, central */
  fk_scan s;
  fk_hit hits[N];
  int n;
  fk_scan_init(&s, &v, q, FK_METRIC_COSINE, FK_CODES_F32, N + 50, 0.05f);
  fk_scan_run(&s, NULL, hits, &n);
  CHECK_EQ_INT(n, 1); /* only itself is that close */
  CHECK_EQ_INT(hits[0].row, 40);
  fk_scan_init(&s, &v, q, FK_METRIC_COSINE, FK_CODES_F32, N + 50, -1);
  fk_scan_run(&s, NULL, hits, &n);
  CHECK_EQ_INT(n, N); /* k > n gives everything */
  s.exclude_image = 20;
  s.central_only = 1;
  fk_scan_run(&s, NULL, hits, &n);
  CHECK_EQ_INT(n, N / 2 - 1);
  int ok = 1;
  for (int i = 0; i < n; i++) ok &= v.image_id[hits[i].row] != 20 && (v.flags[hits[i].row] & FK_VEC_CENTRAL);
  CHECK(ok);
  fk_vecs_free(&v);
}

static void test_sha256_matches_known_digests(void) {
  static const struct { size_t n; const char *hex; } cases[] = {
      {0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"},
      {56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a"},
      {64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"},
      {1000, "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3"}};
  char a[1000], hex[65];
  memset(a, 'a', sizeof a);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    fk_sha256_hex(a, cases[i].n, hex);
    CHECK(!strcmp(hex, cases[i].hex));
  }
  fk_sha256_hex("abc", 3, hex);
  CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

static void test_map_grows_and_finds_everything(void) {
  fk_map m = {0};
  static char keys[3000][16];
  static int64_t ids[3000];
  for (int i = 0; i < 3000; i++) {
    snprintf(keys[i], sizeof keys[i], "k%d", i);
    CHECK_EQ_INT(fk_map_put_str(&m, keys[i], i), FK_OK);
  }
  int ok = 1;
  for (int i = 0; i < 3000; i++) ok &= fk_map_get_str(&m, keys[i]) == i;
  CHECK(ok);
  CHECK_EQ_INT(fk_map_get_str(&m, "absent"), -1);
  CHECK_EQ_INT(fk_map_put_str(&m, keys[7], 70), FK_OK); /* a key set again: its value replaced */
  CHECK_EQ_INT(fk_map_get_str(&m, keys[7]), 70);
  CHECK_EQ_INT((int64_t)m.n, 3000);
  fk_map_free(&m);
  /* keys of any bytes: ids by their 8 bytes, zero bytes and all */
  for (int i = 0; i < 3000; i++) {
    ids[i] = (int64_t)i << 32;
    CHECK_EQ_INT(fk_map_put(&m, &ids[i], sizeof ids[i], i), FK_OK);
  }
  ok = 1;
  for (int i = 0; i < 3000; i++) ok &= fk_map_get(&m, &ids[i], sizeof ids[i]) == i;
  CHECK(ok);
  int64_t other = 5;
  CHECK_EQ_INT(fk_map_get(&m, &other, sizeof other), -1);
  fk_map_free(&m);
  /* FNV-1a 64 as published (the offset basis 14695981039346656037) */
  CHECK(fk_fnv1a("", 0) == 14695981039346656037ull);
  CHECK(fk_fnv1a_str("a") == 0xaf63dc4c8601ec8cull);
  CHECK(fk_fnv1a_str("foobar") == 0x85944171f73967e8ull);
}

/* ---- files and databases ------------------------------------------------ */

/* Runs sql on the database file at path, behind the library's back. */
static void sql_on(const char *path, const char *sql) {
  sqlite3 *db;
  sqlite3_open(path, &db);
  CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

/* Opens path in mode; returns the status and copies the message. */
static int try_open(const char *path, int mode, char *msg, size_t n) {
  fk_store *st;
  int rc = fk_store_open(path, mode, &st);
  snprintf(msg, n, "%s", fk_store_errmsg(st));
  fk_store_close(st);
  return rc;
}

static void test_open_tells_an_index_from_other_files(void) {
  char path[4200], msg[1024];
  snprintf(path, sizeof path, "%s", tu_tmp("other.db"));
  CHECK_EQ_INT(try_open(path, FK_STORE_READ, msg, sizeof msg), FK_ENOENT);
  CHECK(strstr(msg, "no index at") != NULL);
  tu_write_text(path, "this is a text file, not a database at all, just words\n");
  CHECK_EQ_INT(try_open(path, FK_STORE_WRITE, msg, sizeof msg), FK_ENOTINDEX);
  CHECK(strstr(msg, "not a facekit index") != NULL);
  tu_remove_index(path);
  sql_on(path, "CREATE TABLE photos(x); CREATE TABLE people(y)");
  CHECK_EQ_INT(try_open(path, FK_STORE_WRITE, msg, sizeof msg), FK_ENOTINDEX);
  CHECK(strstr(msg, "people, photos") != NULL);
  tu_remove_index(path);
  /* an empty file is an empty database: readable as nothing, writable */
  tu_write_text(path, "");
  CHECK_EQ_INT(try_open(path, FK_STORE_READ, msg, sizeof msg), FK_ENOTINDEX);
  CHECK_EQ_INT(try_open(path, FK_STORE_WRITE, msg, sizeof msg), FK_OK);
  CHECK_EQ_INT(try_open(path, FK_STORE_READ, msg, sizeof msg), FK_OK);
  sql_on(path, "PRAGMA user_version = 99");
  CHECK_EQ_INT(try_open(path, FK_STORE_READ, msg, sizeof msg), FK_EUNSUPPORTED);
  CHECK(strstr(msg, "upgrade") != NULL);
  tu_remove_index(path);
  CHECK_EQ_INT(try_open("/tmp", FK_STORE_WRITE, msg, sizeof msg), FK_ENOTINDEX); /* a directory */
  CHECK_EQ_INT(try_open("/nonexistent-dir/x.db", FK_STORE_WRITE, msg, sizeof msg), FK_ENOENT);
  CHECK(strstr(msg, "/nonexistent-dir") != NULL);
}

#if !defined(FK_WITH_POSTGRES) || !defined(FK_WITH_FAISS)
/* A build without PostgreSQL or faiss refuses them with FK_EUNSUPPORTED,
 * naming the build option; without faiss, auto searches scan. */
static void test_parts_left_out_of_the_build_are_refused_clearly(void) {
  char msg[1024];
  (void)msg;
#ifndef FK_WITH_POSTGRES
  CHECK_EQ_INT(try_open("postgresql://facekit@127.0.0.1:1/a_db", FK_STORE_WRITE, msg, sizeof msg), FK_EUNSUPPORTED);
  CHECK(strstr(msg, "FK_WITH_POSTGRES=OFF") != NULL);
  CHECK_EQ_INT(try_open("postgres:", FK_STORE_READ, msg, sizeof msg), FK_EUNSUPPORTED);
#endif
#ifndef FK_WITH_FAISS
  char path[4200];
  snprintf(path, sizeof path, "%s", tu_tmp("no_faiss.db"));
  tu_remove_index(path);
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_WRITE, &st), FK_OK);
  CHECK_EQ_INT(fk_store_load_ann(st, 1), FK_EUNSUPPORTED);
  CHECK(strstr(fk_store_errmsg(st), "FK_WITH_FAISS=OFF") != NULL);
  fk_search_options so;
  fk_search_options_init(&so);
  CHECK_EQ_INT(fk_store_search_method(st, &so), FK_SEARCH_EXACT);
  so.search = FK_SEARCH_ANN;
  float q[128] = {1};
  fk_match m[10];
  int n = -1;
  CHECK_EQ_INT(fk_store_search(st, q, 128, &so, m, &n), FK_EUNSUPPORTED);
  CHECK_EQ_INT(n, 0);
  fk_store_close(st);
  tu_remove_index(path);
#endif
}
#endif

/* Runs fn(arg) in a child without root's right to write anything (as
 * nobody when the tests run as root); returns its exit status. */
static int as_unprivileged(int (*fn)(const char *), const char *arg) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(99);
    _exit(fn(arg));
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

static int open_for_write(const char *path) {
  char msg[1024];
  int rc = try_open(path, FK_STORE_WRITE, msg, sizeof msg);
  if (!strstr(msg, "cannot write")) fprintf(stderr, "  unexpected message: %s\n", msg);
  return -rc;
}

static int open_and_search(const char *path) {
  fk_store *st;
  float q[FK_EMBED_MAX];
  fk_match m[3];
  int n = 0;
  fk_search_options o;
  fk_search_options_init(&o);
  o.k = 3;
  random_raw(q, 3);
  int rc = fk_store_open(path, FK_STORE_READ, &st);
  if (rc == FK_OK) rc = fk_store_search(st, q, DIM, &o, m, &n);
  if (rc) fprintf(stderr, "  read-only search: %s\n", fk_store_errmsg(st));
  fk_store_close(st);
  return rc == FK_OK && n == 3 ? 0 : 1;
}

/* Makes an index at path with model "resnet128-test" and n synthetic faces
 * (one image each; identity i % 3). */
static void make_synthetic(const char *path, int n) {
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_WRITE, &st), FK_OK);
  fk_options o;
  fk_options_init(&o);
  o.model = FK_MODEL_RESNET128; /* the options recorded (its alignment) are the named model's */
  fk_store_exec(st, "BEGIN");
  CHECK_EQ_INT(fk_store_record_model(st, "resnet128-test", DIM, &o), FK_OK);
  fk_store_exec(st, "INSERT INTO identities(name) VALUES('p0'), ('p1'), ('p2')");
  sqlite3_stmt *img, *face;
  fk_store_prepare(st, "INSERT INTO images(path, size, mtime_ns, hash, status, identity_id, nfaces, indexed_at)"
                       " VALUES(?, 1, 1, 'h', 'ok', ?, 1, 0) RETURNING id", &img);
  fk_store_prepare(st, "INSERT INTO faces(image_id, idx, x, y, w, h, score, landmarks, model, central, norm,"
                       " emb_f32, emb_i8) VALUES(?, 0, 1, 2, 3, 4, 0.9, zeroblob(544), 'resnet128-test', 1, ?, ?, ?)",
                   &face);
  for (int i = 0; i < n; i++) {
    char p[64];
    snprintf(p, sizeof p, "/x/p%d/img%d.jpg", i % 3, i);
    sqlite3_bind_text(img, 1, p, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(img, 2, i % 3 + 1);
    sqlite3_step(img);
    int64_t id = sqlite3_column_int64(img, 0);
    sqlite3_reset(img);
    float e[FK_EMBED_MAX];
    int8_t c[FK_EMBED_MAX];
    random_raw(e, (unsigned)i + 1);
    fk_l2_normalize(e, DIM);
    fk_quantize_i8(e, c, DIM);
    sqlite3_bind_int64(face, 1, id);
    sqlite3_bind_double(face, 2, 1.5);
    sqlite3_bind_blob(face, 3, e, DIM * (int)sizeof *e, SQLITE_TRANSIENT);
    sqlite3_bind_blob(face, 4, c, DIM, SQLITE_TRANSIENT);
    CHECK_EQ_INT(sqlite3_step(face), SQLITE_DONE);
    sqlite3_reset(face);
  }
  sqlite3_finalize(img);
  sqlite3_finalize(face);
  fk_store_bump_generation(st);
  CHECK_EQ_INT(fk_store_exec(st, "COMMIT"), FK_OK);
  fk_store_close(st);
}

static void test_open_refuses_to_write_a_read_only_index(void) {
  char dir[4200], path[4300];
  snprintf(dir, sizeof dir, "%s", tu_tmp("rodir"));
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/ro.db", dir);
  make_synthetic(path, 10);
  chmod(path, 0444);
  CHECK_EQ_INT(as_unprivileged(open_for_write, path), -FK_EREADONLY);
  /* a directory nobody may write to: reading still works (immutable) */
  chmod(path, 0644);
  tu_remove_index(path);
  make_synthetic(path, 10);
  chmod(dir, 0555);
  CHECK_EQ_INT(as_unprivileged(open_for_write, path), -FK_EREADONLY);
  CHECK_EQ_INT(as_unprivileged(open_and_search, path), 0);
  chmod(dir, 0755);
  tu_remove_index(path);
  rmdir(dir);
}

static void test_new_index_has_the_schema_and_wal(void) {
  const char *path = tu_tmp("schema.db");
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_WRITE, &st), FK_OK);
  sqlite3_stmt *q;
  fk_store_prepare(st, "SELECT (SELECT application_id FROM pragma_application_id),"
                       " (SELECT journal_mode FROM pragma_journal_mode),"
                       " (SELECT group_concat(name) FROM (SELECT name FROM sqlite_schema WHERE type = 'table'"
                       " ORDER BY name))", &q);
  CHECK_EQ_INT(sqlite3_step(q), SQLITE_ROW);
  CHECK_EQ_INT(sqlite3_column_int64(q, 0), FK_STORE_APP_ID);
  CHECK(!strcmp((const char *)sqlite3_column_text(q, 1), "wal"));
  CHECK(!strcmp((const char *)sqlite3_column_text(q, 2),
                "deleted,deleted_files,faces,identities,images,meta,sqlite_sequence"));
  sqlite3_finalize(q);
  fk_store_info info;
  CHECK_EQ_INT(fk_store_get_info(st, &info), FK_OK);
  CHECK_EQ_INT(info.has_model, 0);
  CHECK_EQ_INT(info.faces, 0);
  fk_store_close(st);
  tu_remove_index(path);
}

static void test_sidecar_is_rebuilt_when_stale_or_corrupt(void) {
  char path[4200], vec[4300];
  snprintf(path, sizeof path, "%s", tu_tmp("side.db"));
  snprintf(vec, sizeof vec, "%s.vec", path);
  make_synthetic(path, 50);
  float q[FK_EMBED_MAX];
  random_raw(q, 7); /* face of image 6 */
  fk_match m[5];
  int n = 0;
  fk_search_options o;
  fk_search_options_init(&o);
  o.k = 5;
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_READ, &st), FK_OK);
  int64_t count = 0;
  CHECK_EQ_INT(fk_store_load(st, &count), FK_OK);
  CHECK_EQ_INT(count, 50);
  CHECK_EQ_INT(fk_store_search(st, q, DIM, &o, m, &n), FK_OK);
  CHECK_EQ_INT(n, 5);
  CHECK(m[0].distance < 1e-5);
  int64_t best = m[0].face_id;
  fk_store_face f;
  CHECK_EQ_INT(fk_store_get_face(st, best, &f), FK_OK);
  CHECK(!strcmp(f.path, "/x/p0/img6.jpg"));
  CHECK(!strcmp(f.identity, "p0"));
  fk_store_close(st);
  struct stat sb;
  CHECK(stat(vec, &sb) == 0 && sb.st_size > 50 * (DIM * 5));
  /* the index changes behind the sidecar's back: it must not be trusted */
  sql_on(path, "DELETE FROM faces WHERE id = (SELECT id FROM faces WHERE image_id = 7);"
               "UPDATE meta SET value = value + 1 WHERE key = 'generation'");
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_READ, &st), FK_OK);
  CHECK_EQ_INT(fk_store_load(st, &count), FK_OK);
  CHECK_EQ_INT(count, 49);
  CHECK_EQ_INT(fk_store_search(st, q, DIM, &o, m, &n), FK_OK);
  CHECK(m[0].face_id != best && m[0].distance > 0.01);
  fk_store_close(st);
  /* garbage in the sidecar: rebuilt, no crash */
  int fd = open(vec, O_WRONLY);
  CHECK(fd >= 0 && pwrite(fd, "garbage!", 8, 0) == 8 && ftruncate(fd, 1000) == 0);
  close(fd);
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_READ, &st), FK_OK);
  CHECK_EQ_INT(fk_store_load(st, &count), FK_OK);
  CHECK_EQ_INT(count, 49);
  fk_store_close(st);
  CHECK(stat(vec, &sb) == 0 && sb.st_size > 1000);
  tu_remove_index(path);
}

/* ---- a damaged sidecar (issue 19) ---------------------------------------------- */

/* stderr goes to a file until stderr_back, which returns what was said. */
static int stderr_to(const char *file) {
  fflush(stderr);
  int saved = dup(2), fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(fd, 2);
  close(fd);
  return saved;
}

static char *stderr_back(int saved, const char *file) {
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  char *said = tu_read_file(file, NULL);
  return said ? said : strdup("");
}

/* Each of the 3 faces' own raw vector finds it first at distance 0. */
static int finds_every_face(fk_store *st) {
  int right = 0;
  for (int i = 0; i < 3; i++) {
    float q[FK_EMBED_MAX];
    random_raw(q, (unsigned)i + 1);
    fk_match m[3];
    int n = 0;
    fk_search_options o;
    fk_search_options_init(&o);
    o.k = 3;
    if (fk_store_search(st, q, DIM, &o, m, &n) == FK_OK && n == 3 && m[0].face_id == i + 1 &&
        m[0].distance < 1e-5 && m[1].distance > 0.01)
      right++;
    else
      fprintf(stderr, "  face %d: found %lld at %g\n", i + 1, n ? (long long)m[0].face_id : -1LL,
              n ? m[0].distance : -1.0);
  }
  return right;
}

/* Writes row `from`'s vector, codes and norm over row `to` of the sidecar
 * file: the face of `to` now looks exactly like that of `from`. */
static void copy_row_in_file(const char *vec, int from, int to) {
  int fd = open(vec, O_RDWR);
  fk_vecs_header h;
  CHECK(fd >= 0 && pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
  float f[FK_EMBED_MAX], x;
  int8_t c[FK_EMBED_MAX];
  size_t fb = (size_t)DIM * sizeof(float);
  CHECK(pread(fd, f, fb, (off_t)(h.off_f32 + (uint64_t)from * fb)) == (ssize_t)fb &&
        pwrite(fd, f, fb, (off_t)(h.off_f32 + (uint64_t)to * fb)) == (ssize_t)fb);
  CHECK(pread(fd, c, (size_t)DIM, (off_t)(h.off_i8 + (uint64_t)from * DIM)) == DIM &&
        pwrite(fd, c, (size_t)DIM, (off_t)(h.off_i8 + (uint64_t)to * DIM)) == DIM);
  CHECK(pread(fd, &x, 4, (off_t)(h.off_i8_inv + 4u * from)) == 4 && pwrite(fd, &x, 4, (off_t)(h.off_i8_inv + 4u * to)) == 4);
  CHECK(pread(fd, &x, 4, (off_t)(h.off_norm + 4u * from)) == 4 && pwrite(fd, &x, 4, (off_t)(h.off_norm + 4u * to)) == 4);
  close(fd);
}

/* Opens, loads and searches the index with stderr captured: the faces it
 * found right, and what it said (caller frees). */
static int search_saying(const char *path, char **said) {
  char log[4300];
  snprintf(log, sizeof log, "%s.stderr", path);
  int saved = stderr_to(log);
  fk_store *st;
  int right = -1;
  if (fk_store_open(path, FK_STORE_READ, &st) == FK_OK && fk_store_load(st, NULL) == FK_OK) right = finds_every_face(st);
  fk_store_close(st);
  *said = stderr_back(saved, log);
  remove(log);
  return right;
}

static uint32_t file_version(const char *vec) {
  fk_vecs_header h = {0};
  int fd = open(vec, O_RDONLY);
  if (fd < 0 || pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) h.version = 0;
  if (fd >= 0) close(fd);
  return h.version;
}

/* issue 19: 16 bytes flipped at offset 1600 of a 3-face index's sidecar
 * made find answer another person at distance 0. The sidecar's checksums
 * catch damage when it is mapped and while it stays mapped; its vectors
 * come from the database instead, stderr says so, and the file is
 * rewritten. (A PostgreSQL index has no sidecar: its vectors are read from
 * the database at each start.) */
static void test_damaged_sidecar_is_rebuilt_and_never_searched(void) {
  char path[4200], vec[4300];
  snprintf(path, sizeof path, "%s", tu_tmp("damaged.db"));
  snprintf(vec, sizeof vec, "%s.vec", path);
  tu_remove_index(path);
  make_synthetic(path, 3);
  char *said;
  CHECK_EQ_INT(search_saying(path, &said), 3); /* writes the sidecar */
  free(said);
  CHECK_EQ_INT(file_version(vec), FK_VECS_VERSION);
  /* the damage */
  int fd = open(vec, O_RDWR);
  uint8_t b[16];
  CHECK(fd >= 0 && pread(fd, b, 16, 1600) == 16);
  for (int i = 0; i < 16; i++) b[i] ^= 0xff;
  CHECK(pwrite(fd, b, 16, 1600) == 16);
  close(fd);
  CHECK_EQ_INT(search_saying(path, &said), 3);
  CHECK(strstr(said, vec) && strstr(said, "damaged") && strstr(said, "rebuilt from the database"));
  fprintf(stderr, "  said: %s", said);
  free(said);
  /* rewritten: the next open says nothing */
  CHECK_EQ_INT(search_saying(path, &said), 3);
  CHECK_EQ_INT((int)strlen(said), 0);
  free(said);
  /* face 1's row made a copy of face 2's: face 2's photo would be face 1 at
   * distance 0 */
  copy_row_in_file(vec, 1, 0);
  CHECK_EQ_INT(search_saying(path, &said), 3);
  CHECK(strstr(said, "damaged"));
  free(said);
  /* an older format (no checksums) is rebuilt, and rewritten as this one */
  fd = open(vec, O_RDWR);
  uint32_t three = 3;
  CHECK(fd >= 0 && pwrite(fd, &three, 4, offsetof(fk_vecs_header, version)) == 4);
  close(fd);
  CHECK_EQ_INT(search_saying(path, &said), 3);
  CHECK(strstr(said, "format 3"));
  free(said);
  CHECK_EQ_INT(file_version(vec), FK_VECS_VERSION);
  /* damage done to the file while a reader has it mapped: found by the
   * checks of the next refreshes, before a search uses it */
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_READ, &st), FK_OK);
  CHECK_EQ_INT(fk_store_load(st, NULL), FK_OK);
  CHECK_EQ_INT(finds_every_face(st), 3);
  copy_row_in_file(vec, 1, 0); /* in place: the mapping sees it */
  char log[4300];
  snprintf(log, sizeof log, "%s.stderr", path);
  int saved = stderr_to(log);
  CHECK_EQ_INT(fk_store_refresh(st), FK_OK);
  int right = finds_every_face(st);
  said = stderr_back(saved, log);
  CHECK_EQ_INT(right, 3);
  CHECK(strstr(said, "damaged (block 1 of 1"));
  free(said);
  remove(log);
  fk_store_close(st);
  tu_remove_index(path);
}

typedef struct visit_acc {
  int64_t n, last;
  int ordered, unit;
} visit_acc;

static int visit(const fk_store_face *f, void *u) {
  visit_acc *acc = u;
  double ss = 0;
  for (int i = 0; i < DIM; i++) ss += (double)f->embedding[i] * f->embedding[i];
  acc->unit &= fabs(ss - 1) < 1e-4 && f->box.w == 3;
  acc->ordered &= f->id > acc->last;
  acc->last = f->id;
  acc->n++;
  return FK_OK;
}

static void test_foreach_visits_every_face_in_order(void) {
  const char *path = tu_tmp("each.db");
  make_synthetic(path, 20);
  fk_store *st;
  fk_store_open(path, FK_STORE_READ, &st);
  visit_acc acc = {0, 0, 1, 1};
  CHECK_EQ_INT(fk_store_foreach_face(st, visit, &acc), FK_OK);
  CHECK_EQ_INT(acc.n, 20);
  CHECK(acc.ordered && acc.unit);
  fk_store_close(st);
  tu_remove_index(path);
}

static void test_check_refuses_another_model_or_preprocessing(void) {
  const char *path = tu_tmp("model.db");
  make_synthetic(path, 3);
  fk_models *m;
  int rc = fk_models_open(NULL, FK_NET_RESNET128, &m);
  CHECK_EQ_INT(rc, FK_OK);
  if (rc) {
    fprintf(stderr, "  models: %s\n", fk_models_errmsg(m));
    fk_models_free(m);
    return;
  }
  char id[64], id2[64];
  CHECK_EQ_INT(fk_model_id(m, FK_MODEL_RESNET128, id, sizeof id), FK_OK);
  CHECK_EQ_INT(fk_model_id(m, FK_MODEL_RESNET128, id2, sizeof id2), FK_OK);
  CHECK(!strcmp(id, id2) && !strncmp(id, "resnet128-", 10) && strlen(id) == 26);
  CHECK_EQ_INT(fk_model_id(m, FK_NUM_MODELS, id2, sizeof id2), FK_EINVAL);
  fk_store *st;
  fk_store_open(path, FK_STORE_WRITE, &st);
  fk_options o;
  fk_options_init(&o);
  o.model = FK_MODEL_RESNET128;
  CHECK_EQ_INT(fk_store_check(st, m, &o, 0), FK_EMISMATCH);
  CHECK(strstr(fk_store_errmsg(st), "another model") && strstr(fk_store_errmsg(st), "model files it was built"));
  fk_store_meta_set(st, "model", id);
  CHECK_EQ_INT(fk_store_check(st, m, &o, 1), FK_OK);
  o.align = FK_ALIGN_5POINT; /* resnet128's own: the same space as auto */
  CHECK_EQ_INT(fk_store_check(st, m, &o, 1), FK_OK);
  o.align = FK_ALIGN_AUTO;
  o.ssd_input_size = 320; /* detector settings: only strict checks refuse */
  CHECK_EQ_INT(fk_store_check(st, m, &o, 0), FK_OK);
  CHECK_EQ_INT(fk_store_check(st, m, &o, 1), FK_EMISMATCH);
  CHECK(strstr(fk_store_errmsg(st), "input_size auto") && strstr(fk_store_errmsg(st), "input_size 320"));
  o.ssd_input_size = 0;
  o.align = FK_ALIGN_DLIB; /* the embedding space: always refused */
  CHECK_EQ_INT(fk_store_check(st, m, &o, 0), FK_EMISMATCH);
  CHECK(strstr(fk_store_errmsg(st), "align dlib") != NULL);
  fk_store_close(st);
  fk_models_free(m);
  tu_remove_index(path);
}

/* The kernels and the scan at every width a model may have: 512
 * (multiples of 32 take the AVX2 paths) and 100 (plain C). */
static void test_kernels_and_scan_work_at_other_widths(void) {
  static const int widths[] = {512, 100, 1024};
  for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
    DIM = widths[w];
    test_simd_kernels_match_plain_c();
    test_scan_matches_brute_force_for_every_metric();
    test_int8_code_matches_itself_exactly();
  }
  DIM = 128;
  fk_vecs v;
  CHECK_EQ_INT(fk_vecs_alloc(&v, 4, 0), FK_EINVAL);
  CHECK_EQ_INT(fk_vecs_alloc(&v, 4, FK_EMBED_MAX + 1), FK_EINVAL);
}

/* An index of 512-d embeddings: recorded, searched, its faces read back at
 * their width; a query of another width is refused, not misread. */
static void test_index_of_another_width_searches_and_refuses_mixed_queries(void) {
  const char *path = tu_tmp("w512.db");
  DIM = 512;
  make_synthetic(path, 30);
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_READ, &st), FK_OK);
  fk_store_info info;
  CHECK_EQ_INT(fk_store_get_info(st, &info), FK_OK);
  CHECK_EQ_INT(info.dim, 512);
  float q[FK_EMBED_MAX];
  random_raw(q, 5);
  fk_match m[3];
  int n = 0;
  fk_search_options o;
  fk_search_options_init(&o);
  o.k = 3;
  CHECK_EQ_INT(fk_store_search(st, q, 512, &o, m, &n), FK_OK);
  CHECK_EQ_INT(n, 3);
  CHECK(m[0].distance < 1e-5);
  fk_store_face f;
  CHECK_EQ_INT(fk_store_get_face(st, m[0].face_id, &f), FK_OK);
  CHECK_EQ_INT(f.dim, 512);
  CHECK(!strcmp(f.model, "resnet128-test"));
  CHECK_EQ_INT(fk_store_search(st, q, 128, &o, m, &n), FK_EMISMATCH);
  CHECK(strstr(fk_store_errmsg(st), "512-d") != NULL);
  CHECK_EQ_INT(fk_store_search(st, q, 0, &o, m, &n), FK_EINVAL);
  fk_store_close(st);
  DIM = 128;
  tu_remove_index(path);
}

/* Turns the index at path into what an older facekit made: format 2 (no
 * change sequence, plain INTEGER PRIMARY KEY, no deleted_files) or format 1
 * (also 128-d CHECK constraints and no meta.dim). */
static void downgrade(const char *path, int format) {
  char sql[4096];
  snprintf(sql, sizeof sql,
           "DROP TRIGGER images_relabelled;"
           "CREATE TABLE f_old(id INTEGER PRIMARY KEY, image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
           " idx INTEGER NOT NULL, x REAL NOT NULL, y REAL NOT NULL, w REAL NOT NULL, h REAL NOT NULL,"
           " score REAL NOT NULL, landmarks BLOB NOT NULL CHECK(length(landmarks) = 544), model TEXT NOT NULL,"
           " central INTEGER NOT NULL, norm REAL NOT NULL, emb_f32 BLOB NOT NULL %s,"
           " emb_i8 BLOB NOT NULL %s, UNIQUE(image_id, idx));"
           "INSERT INTO f_old SELECT id, image_id, idx, x, y, w, h, score, landmarks, model, central, norm, emb_f32,"
           " emb_i8 FROM faces; DROP TABLE faces; ALTER TABLE f_old RENAME TO faces; DROP TABLE deleted;"
           "DROP TABLE deleted_files;"
           "DELETE FROM meta WHERE key IN ('seq'%s); PRAGMA user_version = %d",
           format == 1 ? "CHECK(length(emb_f32) = 512)" : "",
           format == 1 ? "CHECK(length(emb_i8) = 128)" : "CHECK(length(emb_f32) = 4 * length(emb_i8))",
           format == 1 ? ", 'dim'" : "", format);
  sql_on(path, sql);
}

/* Indexes as facekit 0.1 made them (format 1: 128-d CHECK constraints) and
 * as format 2 did (no change sequence): read as they are, upgraded in
 * place when opened for writing, rows and ids kept, and from then on every
 * change to faces is sequenced. */
static void test_older_formats_read_and_upgrade_on_write(void) {
  for (int format = 1; format <= 2; format++) {
    const char *path = tu_tmp("old.db");
    make_synthetic(path, 12);
    downgrade(path, format);
    fk_store *st;
    float q[FK_EMBED_MAX];
    random_raw(q, 4);
    fk_match m[2];
    int n = 0;
    fk_search_options o;
    fk_search_options_init(&o);
    o.k = 2;
    CHECK_EQ_INT(fk_store_open(path, FK_STORE_READ, &st), FK_OK);
    CHECK_EQ_INT(fk_store_search(st, q, 128, &o, m, &n), FK_OK);
    CHECK(n == 2 && m[0].distance < 1e-5);
    int64_t best = m[0].face_id;
    fk_store_info info;
    CHECK_EQ_INT(fk_store_get_info(st, &info), FK_OK);
    CHECK_EQ_INT(info.seq, 0);
    fk_store_close(st);
    CHECK_EQ_INT(fk_store_open(path, FK_STORE_WRITE, &st), FK_OK);
    sqlite3_stmt *qv;
    fk_store_prepare(st, "SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM faces),"
                         " (SELECT value FROM meta WHERE key = 'dim'),"
                         " (SELECT sql FROM sqlite_schema WHERE name = 'faces'),"
                         " (SELECT value FROM meta WHERE key = 'seq'),"
                         " (SELECT count(*) FROM sqlite_schema WHERE type = 'trigger')", &qv);
    CHECK_EQ_INT(sqlite3_step(qv), SQLITE_ROW);
    CHECK_EQ_INT(sqlite3_column_int64(qv, 0), FK_STORE_SCHEMA);
    CHECK_EQ_INT(sqlite3_column_int64(qv, 1), 12);
    CHECK_EQ_INT(sqlite3_column_int(qv, 2), 128);
    const char *faces_sql = (const char *)sqlite3_column_text(qv, 3);
    CHECK(strstr(faces_sql, "= 512") == NULL && strstr(faces_sql, "AUTOINCREMENT") != NULL);
    CHECK_EQ_INT(sqlite3_column_int(qv, 4), 0);
    CHECK_EQ_INT(sqlite3_column_int(qv, 5), 3);
    sqlite3_finalize(qv);
    /* a delete after the upgrade leaves a tombstone the next reader sees */
    CHECK_EQ_INT(fk_store_delete_face(st, best, NULL, NULL), FK_OK);
    CHECK_EQ_INT(fk_store_get_info(st, &info), FK_OK);
    CHECK_EQ_INT(info.seq, 1);
    CHECK_EQ_INT(info.faces, 11);
    fk_store_close(st);
    CHECK_EQ_INT(fk_store_open(path, FK_STORE_READ, &st), FK_OK);
    CHECK_EQ_INT(fk_store_search(st, q, 128, &o, m, &n), FK_OK);
    CHECK(n == 2 && m[0].face_id != best && m[0].distance > 1e-3);
    fk_store_close(st);
    tu_remove_index(path);
  }
}

/* A reader at an older seq catches up with another handle's commits by
 * reading only what changed: inserts, deletes (directly or by cascade),
 * and relabelled images, whoever wrote them. */
static void test_loaded_vectors_follow_other_writers(void) {
  const char *path = tu_tmp("follow.db");
  make_synthetic(path, 30);
  fk_store *rd;
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_READ, &rd), FK_OK);
  fk_vectors *v;
  CHECK_EQ_INT(fk_store_vectors(rd, &v), FK_OK);
  CHECK_EQ_INT(fk_vectors_count(v), 30);
  int64_t seq0 = fk_vectors_seq(v);
  /* behind the library's back: a raw delete, a cascade, a new face and a
   * relabelling, in one transaction */
  sql_on(path, "PRAGMA foreign_keys = ON; BEGIN; DELETE FROM faces WHERE image_id = 3; DELETE FROM images WHERE id = 4;"
               "INSERT INTO images(path, size, mtime_ns, hash, status, identity_id, nfaces, indexed_at)"
               " VALUES('/x/new.jpg', 1, 1, 'n', 'ok', 1, 1, 0);"
               "INSERT INTO faces(image_id, idx, x, y, w, h, score, landmarks, model, central, norm, emb_f32, emb_i8)"
               " SELECT (SELECT id FROM images WHERE path = '/x/new.jpg'), 0, 1, 2, 3, 4, 0.9, landmarks, model, 1,"
               " norm, emb_f32, emb_i8 FROM faces WHERE image_id = 9;"
               "UPDATE images SET identity_id = 3 WHERE id = 10; COMMIT");
  CHECK_EQ_INT(fk_store_refresh(rd), FK_OK);
  CHECK_EQ_INT(fk_vectors_count(v), 29);
  CHECK(fk_vectors_seq(v) > seq0);
  /* the same as a fresh load, row for row */
  fk_store *fresh;
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_READ, &fresh), FK_OK);
  char vec[4300];
  snprintf(vec, sizeof vec, "%s.vec", path);
  remove(vec); /* from the table, not from the reader's saved sidecar */
  CHECK_EQ_INT(fk_store_load(fresh, NULL), FK_OK);
  const fk_vecs *a = &rd->vs.v, *b = &fresh->vs.v;
  int64_t j = 0, same = 1;
  for (int64_t i = 0; i < a->n; i++) {
    if (a->flags[i] & FK_VEC_DELETED) continue;
    same &= j < b->n && a->face_id[i] == b->face_id[j] && a->identity[i] == b->identity[j] &&
            !memcmp(a->f32 + i * DIM, b->f32 + j * DIM, (size_t)DIM * sizeof(float));
    j++;
  }
  CHECK(same && j == b->n);
  fk_store_close(fresh);
  fk_store_close(rd);
  tu_remove_index(path);
}

static void test_walk_finds_images_by_extension_in_any_case(void) {
  char root[4200], p[4400];
  snprintf(root, sizeof root, "%s", tu_tmp("walk"));
  const char *dirs[] = {"", "/Ann", "/Ann/.cache", "/Bob", "/Bob/deep"};
  for (int i = 0; i < 5; i++) {
    snprintf(p, sizeof p, "%s%s", root, dirs[i]);
    mkdir(p, 0755);
  }
  const char *files[] = {"/top.JPG", "/Ann/a.jpeg", "/Ann/b.PnG", "/Ann/.hidden.jpg", "/Ann/.cache/c.jpg",
                         "/Ann/notes.txt", "/Bob/deep/d.webp", "/Bob/e.gif", "/Bob/noext"};
  for (int i = 0; i < 9; i++) {
    snprintf(p, sizeof p, "%s%s", root, files[i]);
    tu_write_text(p, "x");
  }
  fk_store st = {.path = "test"};
  fk_walk w;
  CHECK_EQ_INT(fk_walk_dir(&st, root, &w, NULL, NULL), FK_OK);
  CHECK_EQ_INT(w.n, 4);
  CHECK_EQ_INT(w.skipped, 3);
  if (w.n == 4) {
    CHECK(strstr(w.e[0].path, "/Ann/a.jpeg") && w.e[0].identity_len == 3 && !strncmp(w.e[0].identity, "Ann", 3));
    CHECK(strstr(w.e[2].path, "/Bob/deep/d.webp") && !strncmp(w.e[2].identity, "deep", w.e[2].identity_len));
    CHECK(strstr(w.e[3].path, "/top.JPG") && w.e[3].identity == NULL);
    CHECK(w.e[0].path[0] == '/');
  }
  fk_walk_free(&w);
  CHECK_EQ_INT(fk_walk_dir(&st, "/nonexistent-dir-xyz", &w, NULL, NULL), FK_ENOENT);
  fk_walk_free(&w);
  for (int i = 8; i >= 0; i--) {
    snprintf(p, sizeof p, "%s%s", root, files[i]);
    remove(p);
  }
  for (int i = 4; i >= 0; i--) {
    snprintf(p, sizeof p, "%s%s", root, dirs[i]);
    rmdir(p);
  }
}

/* index --shard splits by a hash of the stored path: LFW-like paths, which
 * repeat their folder's name in the file's, must still split evenly (plain
 * FNV-1a modulo 2 put 32% of LFW in one shard and 68% in the other). */
static void test_shards_split_paths_that_repeat_a_name_evenly(void) {
  static const char *const first[] = {"George", "Laura", "Jacques", "Ann", "Tony", "Serena", "Li", "Gloria"};
  static const char *const last[] = {"Bush", "Chirac", "Blair", "Williams", "Peng", "Macapagal_Arroyo", "Ho"};
  const int shards[] = {2, 3, 4, 8};
  for (size_t s = 0; s < sizeof shards / sizeof *shards; s++) {
    int count[8] = {0}, n = 0;
    for (int a = 0; a < 8; a++)
      for (int b = 0; b < 7; b++)
        for (int k = 1; k <= 250; k++, n++) {
          char path[128];
          snprintf(path, sizeof path, "lfw/%s_%s/%s_%s_%04d.jpg", first[a], last[b], first[a], last[b], k);
          int i = fk_store_shard_of(path, shards[s]);
          CHECK(i >= 0 && i < shards[s]);
          count[i]++;
        }
    for (int i = 0; i < shards[s]; i++) {
      double share = (double)count[i] * shards[s] / n;
      if (share < 0.9 || share > 1.1) fprintf(stderr, "shard %d of %d holds %d of %d paths\n", i, shards[s], count[i], n);
      CHECK(share >= 0.9 && share <= 1.1);
    }
  }
  CHECK_EQ_INT(fk_store_shard_of("any/path.jpg", 1), 0);
}

/* A path put twice in one write transaction keeps only its second faces,
 * on both backends. Index runs never do it, but the writer allows it; on
 * PostgreSQL the first faces are still waiting in the writer for their
 * COPY when the second put deletes the image's old faces, so they must be
 * sent first, or the image would end with all three. */
static void test_a_path_put_twice_in_one_transaction_keeps_its_second_faces(void) {
  char loc[1100];
  snprintf(loc, sizeof loc, "%s", pg ? tu_pg_db("put_twice") : tu_tmp("put_twice.db"));
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(loc, FK_STORE_WRITE, &st), FK_OK);
  fk_options o;
  fk_options_init(&o);
  o.model = FK_MODEL_RESNET128;
  fk_face faces[3];
  memset(faces, 0, sizeof faces);
  for (int i = 0; i < 3; i++) {
    faces[i].dim = DIM, faces[i].score = 0.9f;
    faces[i].box = (fk_box){10.0f * i, 0, 10, 10};
    random_raw(faces[i].embedding, 100u + (unsigned)i);
  }
  fk_entry en = {.path = "p/twice.jpg", .size = 1, .mtime_ns = 1, .width = 40, .height = 10,
                 .status = FK_ENTRY_OK, .faces = faces, .nfaces = 2, .central = 0, .opt = o};
  memset(en.hash, 'a', 64);
  snprintf(en.model, sizeof en.model, "resnet128-test");
  fk_writer w;
  int64_t ident = 0, first = 0, second = 0;
  CHECK_EQ_INT(st->ops->begin(st, FK_TXN_WRITE), FK_OK);
  CHECK_EQ_INT(fk_store_record_model(st, en.model, DIM, &o), FK_OK);
  CHECK_EQ_INT(fk_writer_init(&w, st), FK_OK);
  CHECK_EQ_INT(fk_writer_identity(&w, "p", 1, &ident), FK_OK);
  CHECK_EQ_INT(fk_writer_put(&w, &en, ident, en.model, &first), FK_OK);
  en.faces = faces + 2, en.nfaces = 1;
  CHECK_EQ_INT(fk_writer_put(&w, &en, ident, en.model, &second), FK_OK);
  fk_writer_free(&w);
  CHECK_EQ_INT(fk_store_bump_generation(st), FK_OK);
  CHECK_EQ_INT(st->ops->commit(st), FK_OK);
  CHECK_EQ_INT(second, first);
  fk_store_info info;
  CHECK_EQ_INT(fk_store_get_info(st, &info), FK_OK);
  CHECK_EQ_INT(info.images, 1);
  CHECK_EQ_INT(info.faces, 1);
  int64_t count = 0;
  CHECK_EQ_INT(fk_store_load(st, &count), FK_OK);
  CHECK_EQ_INT(count, 1);
  fk_search_options so;
  fk_search_options_init(&so);
  fk_match m[3];
  int n = 0;
  CHECK_EQ_INT(fk_store_search(st, faces[2].embedding, DIM, &so, m, &n), FK_OK);
  CHECK_EQ_INT(n, 1);
  CHECK(n == 1 && m[0].distance < 1e-5); /* the second put's face */
  fk_store_close(st);
  if (!pg) tu_remove_index(loc);
}

int main(int argc, char **argv) {
  pg = argc > 1 && !strcmp(argv[1], "--pg");
  if (pg) { /* the cases that are not SQLite's own, on PostgreSQL */
    int rc = tu_pg_start();
    if (rc) return rc;
    RUN(test_a_path_put_twice_in_one_transaction_keeps_its_second_faces);
    return tu_summary();
  }
  RUN(test_quantize_rounds_and_clamps);
  RUN(test_simd_kernels_match_plain_c);
  RUN(test_scan_matches_brute_force_for_every_metric);
  RUN(test_int8_code_matches_itself_exactly);
  RUN(test_scan_threads_give_the_same_answer);
  RUN(test_scan_filters_threshold_image_and_central);
  RUN(test_sha256_matches_known_digests);
  RUN(test_map_grows_and_finds_everything);
  RUN(test_open_tells_an_index_from_other_files);
  RUN(test_open_refuses_to_write_a_read_only_index);
  RUN(test_new_index_has_the_schema_and_wal);
  RUN(test_sidecar_is_rebuilt_when_stale_or_corrupt);
  RUN(test_damaged_sidecar_is_rebuilt_and_never_searched);
  RUN(test_foreach_visits_every_face_in_order);
  RUN(test_check_refuses_another_model_or_preprocessing);
  RUN(test_walk_finds_images_by_extension_in_any_case);
  RUN(test_kernels_and_scan_work_at_other_widths);
  RUN(test_index_of_another_width_searches_and_refuses_mixed_queries);
  RUN(test_older_formats_read_and_upgrade_on_write);
  RUN(test_loaded_vectors_follow_other_writers);
  RUN(test_shards_split_paths_that_repeat_a_name_evenly);
  RUN(test_a_path_put_twice_in_one_transaction_keeps_its_second_faces);
#if !defined(FK_WITH_POSTGRES) || !defined(FK_WITH_FAISS)
  RUN(test_parts_left_out_of_the_build_are_refused_clearly);
#endif
  return tu_summary();
}
