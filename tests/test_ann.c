/*
 * test_ann.c - the approximate search (src/store/ann.cpp, ann_cache.c): the
 * faiss shim's graph (add, delete, write/read, damaged files), the index's
 * ANN cache PATH.faiss (recall against the exact scan on 50k faces, reuse,
 * the graph following the index while a handle stays open and after it
 * closed, rebuild after many deletions or a damaged or foreign file), the
 * search-mode options and ANN searches of the shared vectors from other
 * threads.
 * Indexes are filled with synthetic faces through SQLite; nothing is
 * committed but this file.
 */
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "facekit.h"
#include "store/ann.h"
#include "store/sqlite/sqlite.h" /* the SQL helpers: tests build indexes directly */
#include "store/store.h"
#include "testutil.h"
#include "golden.h"

#define DIM 128
#define BIG 50000 /* faces of the recall fixture */

/* ---- face-like vectors ------------------------------------------------------ */

/* Identities are spread over a 24-d subspace and their faces around them
 * over another (real face embeddings have a local intrinsic dimension of
 * about 15), plus a little noise in every direction; identity p has
 * 1 + p % 9 faces. Face f of identity p is the same vector every call. */
static void face_vector(int64_t p, int64_t f, float *e) {
  static float basis[48][DIM];
  static int ready;
  if (!ready) {
    for (int j = 0; j < 48; j++) tu_fill_random(basis[j], DIM, 9000u + (unsigned)j);
    ready = 1;
  }
  float w[48], noise[DIM];
  tu_fill_random(w, 24, (unsigned)(p * 2 + 1));
  tu_fill_random(w + 24, 24, (unsigned)(p * 7919 + f * 104729 + 3));
  tu_fill_random(noise, DIM, (unsigned)(p * 31 + f * 131 + 5));
  for (int i = 0; i < DIM; i++) {
    float x = 0.02f * noise[i];
    for (int j = 0; j < 24; j++) x += w[j] * basis[j][i] + 0.45f * w[24 + j] * basis[24 + j][i];
    e[i] = x;
  }
  fk_l2_normalize(e, DIM);
}

static int faces_of(int64_t p) { return 1 + (int)(p % 9); }

static void sql_on(const char *path, const char *sql) {
  sqlite3 *db;
  sqlite3_open(path, &db);
  CHECK_EQ_INT(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

/* Adds the faces of identities [p0, p1) to the index at path (created if
 * needed), one image a face, in one transaction. */
static void add_identities(const char *path, int64_t p0, int64_t p1) {
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(path, FK_STORE_WRITE, &st), FK_OK);
  fk_options o;
  fk_options_init(&o);
  fk_store_exec(st, "BEGIN");
  char model[64];
  if (fk_store_meta_get(st, "model", model, sizeof model) == FK_ENOENT)
    CHECK_EQ_INT(fk_store_record_model(st, "resnet128-test", DIM, &o), FK_OK);
  sqlite3_stmt *img, *face;
  fk_store_prepare(st, "INSERT INTO images(path, size, mtime_ns, hash, status, nfaces, indexed_at)"
                       " VALUES(?, 1, 1, 'h', 'ok', 1, 0) RETURNING id", &img);
  fk_store_prepare(st, "INSERT INTO faces(image_id, idx, x, y, w, h, score, landmarks, model, central, norm,"
                       " emb_f32, emb_i8) VALUES(?, 0, 1, 2, 3, 4, 0.9, zeroblob(544), 'resnet128-test', 1, 1, ?, ?)",
                   &face);
  for (int64_t p = p0; p < p1; p++)
    for (int f = 0; f < faces_of(p); f++) {
      char name[64];
      snprintf(name, sizeof name, "/x/p%lld/%d.jpg", (long long)p, f);
      sqlite3_bind_text(img, 1, name, -1, SQLITE_TRANSIENT);
      sqlite3_step(img);
      int64_t id = sqlite3_column_int64(img, 0);
      sqlite3_reset(img);
      float e[DIM];
      int8_t c[DIM];
      face_vector(p, f, e);
      fk_quantize_i8(e, c, DIM);
      sqlite3_bind_int64(face, 1, id);
      sqlite3_bind_blob(face, 2, e, (int)sizeof e, SQLITE_TRANSIENT);
      sqlite3_bind_blob(face, 3, c, DIM, SQLITE_TRANSIENT);
      CHECK_EQ_INT(sqlite3_step(face), SQLITE_DONE);
      sqlite3_reset(face);
    }
  sqlite3_finalize(img);
  sqlite3_finalize(face);
  fk_store_bump_generation(st);
  CHECK_EQ_INT(fk_store_exec(st, "COMMIT"), FK_OK);
  fk_store_close(st);
}

/* Identities whose faces add up to at least n. */
static int64_t identities_for(int64_t n) {
  int64_t p = 0, faces = 0;
  while (faces < n) faces += faces_of(p++);
  return p;
}

static int64_t face_count(const char *path) {
  fk_store *st;
  fk_store_info info = {0};
  fk_store_open(path, FK_STORE_READ, &st);
  fk_store_get_info(st, &info);
  fk_store_close(st);
  return info.faces;
}

static void options(fk_search_options *o, int search, int k) {
  fk_search_options_init(o);
  o->search = search;
  o->k = k;
}

static const fk_ann *graph_of(fk_store *st) { return fk_vectors_ann_graph(&st->vs); }

/* The ANN path of path's index. */
static const char *faiss_path(const char *path) {
  static char buf[4300];
  snprintf(buf, sizeof buf, "%s.faiss", path);
  return buf;
}

static ino_t inode_of(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? sb.st_ino : 0;
}

/* ---- the shim ---------------------------------------------------------------- */

static void test_graph_never_returns_deleted_nodes_and_survives_a_round_trip(void) {
  char err[256];
  fk_ann *a = NULL;
  fk_ann_params bad = {.m = 1, .ef_construction = 10}, p = {.m = 16, .ef_construction = 64};
  CHECK_EQ_INT(fk_ann_new(DIM, &bad, &a, err, sizeof err), FK_EINVAL);
  CHECK(a == NULL && strstr(err, "bad parameters") != NULL);
  CHECK_EQ_INT(fk_ann_new(0, &p, &a, err, sizeof err), FK_EINVAL);
  CHECK_EQ_INT(fk_ann_new(DIM, &p, &a, err, sizeof err), FK_OK);
  fk_ann_searcher *s;
  CHECK_EQ_INT(fk_ann_searcher_new(&s, err, sizeof err), FK_OK);
  int64_t labels[20];
  float sims[20], q[DIM];
  int n = -1;
  face_vector(3, 0, q);
  CHECK_EQ_INT(fk_ann_search(a, s, q, 5, 32, labels, sims, &n, err, sizeof err), FK_OK);
  CHECK_EQ_INT(n, 0); /* empty graph */
  enum { N = 2000 };
  float *x = malloc((size_t)N * DIM * sizeof *x);
  int64_t *ids = malloc(N * sizeof *ids);
  for (int i = 0; i < N; i++) face_vector(i / 4, i % 4, x + (size_t)i * DIM), ids[i] = 1000 + i;
  CHECK_EQ_INT(fk_ann_add(a, N, x, ids, 2, err, sizeof err), FK_OK);
  CHECK_EQ_INT(fk_ann_size(a), N);
  CHECK_EQ_INT(fk_ann_search(a, s, x + 12 * DIM, 5, 32, labels, sims, &n, err, sizeof err), FK_OK);
  CHECK_EQ_INT(n, 5);
  CHECK_EQ_INT(labels[0], 1012);
  CHECK(sims[0] > 0.999f && sims[0] <= 1.0001f);
  for (int i = 1; i < n; i++) CHECK(sims[i] <= sims[i - 1]);
  /* Node 12 and its neighbours of the same identity are deleted. */
  for (int i = 12; i < 16; i++) fk_ann_delete(a, i);
  fk_ann_delete(a, 12);      /* idempotent */
  fk_ann_delete(a, N + 5);   /* out of range: ignored */
  CHECK_EQ_INT(fk_ann_deleted(a), 4);
  CHECK_EQ_INT(fk_ann_search(a, s, x + 12 * DIM, 20, 64, labels, sims, &n, err, sizeof err), FK_OK);
  CHECK_EQ_INT(n, 20);
  for (int i = 0; i < n; i++) CHECK(labels[i] < 1012 || labels[i] > 1015);
  /* Written and read back, it answers the same. */
  const char *path = tu_tmp("g.faiss");
  FILE *f = fopen(path, "wb");
  fk_ann_tag tag = {.uuid = "test-uuid", .generation = 7}, back_tag;
  CHECK_EQ_INT(fk_ann_write(a, &tag, f, err, sizeof err), FK_OK);
  fclose(f);
  fk_ann *b = NULL;
  f = fopen(path, "rb");
  CHECK_EQ_INT(fk_ann_read(f, &b, &back_tag, err, sizeof err), FK_OK);
  fclose(f);
  CHECK(b != NULL && !strcmp(back_tag.uuid, "test-uuid") && back_tag.generation == 7);
  if (b) {
    int64_t l2[20];
    float s2[20];
    int n2 = 0;
    CHECK_EQ_INT(fk_ann_search(b, s, x + 12 * DIM, 20, 64, l2, s2, &n2, err, sizeof err), FK_OK);
    CHECK_EQ_INT(n2, n);
    CHECK(!memcmp(l2, labels, sizeof l2) && fk_ann_deleted(b) == 4 && fk_ann_memory(b) == fk_ann_memory(a));
    /* More nodes after a read. */
    CHECK_EQ_INT(fk_ann_add(b, 1, x, ids, 1, err, sizeof err), FK_OK);
    CHECK_EQ_INT(fk_ann_size(b), N + 1);
  }
  fk_ann_free(b);
  remove(path);
  fk_ann_searcher_free(s);
  fk_ann_free(a);
  free(x);
  free(ids);
}

/* Writes a small graph to path and returns its size. */
static long write_small_graph(const char *path) {
  char err[256];
  fk_ann *a;
  fk_ann_params p = {.m = 8, .ef_construction = 32};
  fk_ann_new(DIM, &p, &a, err, sizeof err);
  float x[300 * DIM];
  int64_t ids[300];
  for (int i = 0; i < 300; i++) face_vector(i / 3, i % 3, x + i * DIM), ids[i] = i;
  fk_ann_add(a, 300, x, ids, 1, err, sizeof err);
  fk_ann_delete(a, 7);
  FILE *f = fopen(path, "wb");
  fk_ann_tag tag = {.uuid = "u", .generation = 1};
  CHECK_EQ_INT(fk_ann_write(a, &tag, f, err, sizeof err), FK_OK);
  long size = ftell(f);
  fclose(f);
  fk_ann_free(a);
  return size;
}

static int read_status(const char *path, char *err, size_t errsize) {
  fk_ann *a = NULL;
  fk_ann_tag tag;
  FILE *f = fopen(path, "rb");
  int rc = f ? fk_ann_read(f, &a, &tag, err, errsize) : FK_EIO;
  if (f) fclose(f);
  CHECK(rc == FK_OK || a == NULL);
  fk_ann_free(a);
  return rc;
}

static void patch(const char *path, long off, const void *bytes, size_t n) {
  int fd = open(path, O_WRONLY);
  CHECK(fd >= 0 && pwrite(fd, bytes, n, off) == (ssize_t)n);
  close(fd);
}

/* Recomputes the header's CRC (bytes 108..111) over what follows it, as
 * a file damaged with care would have. */
static void fix_crc(const char *path, long size) {
  unsigned char *b = malloc((size_t)size);
  FILE *f = fopen(path, "rb");
  CHECK(fread(b, 1, (size_t)size, f) == (size_t)size);
  fclose(f);
  uint32_t crc = (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), b + 112, (size_t)size - 112);
  patch(path, 108, &crc, 4);
  free(b);
}

static void test_damaged_graph_files_are_refused(void) {
  const char *path = tu_tmp("bad.faiss");
  char err[256];
  long size = write_small_graph(path);
  CHECK_EQ_INT(read_status(path, err, sizeof err), FK_OK);
  /* truncated anywhere */
  long cuts[] = {0, 50, 112, size / 2, size - 1};
  for (int i = 0; i < 5; i++) {
    write_small_graph(path);
    CHECK_EQ_INT(truncate(path, cuts[i]), 0);
    CHECK_EQ_INT(read_status(path, err, sizeof err), FK_ECORRUPT);
  }
  /* one byte changed: in the header, the codes, the links */
  long offs[] = {3, 20, 112 + 300 * 8 + 50, size - 9};
  for (int i = 0; i < 4; i++) {
    write_small_graph(path);
    unsigned char x = 0x5a;
    patch(path, offs[i], &x, 1);
    CHECK_EQ_INT(read_status(path, err, sizeof err), FK_ECORRUPT);
  }
  /* a link out of range with a matching CRC: the graph check catches it */
  write_small_graph(path);
  int32_t link = 1 << 30;
  patch(path, size - 4, &link, 4);
  fix_crc(path, size);
  CHECK_EQ_INT(read_status(path, err, sizeof err), FK_ECORRUPT);
  CHECK(strstr(err, "inconsistent") != NULL);
  /* a header claiming a huge graph: refused before any allocation */
  write_small_graph(path);
  uint64_t huge = (uint64_t)1 << 40;
  patch(path, 16, &huge, 8);
  CHECK_EQ_INT(read_status(path, err, sizeof err), FK_ECORRUPT);
  tu_write_text(path, "not a graph at all");
  CHECK_EQ_INT(read_status(path, err, sizeof err), FK_ECORRUPT);
  remove(path);
}

/* ---- the index's cache ------------------------------------------------------ */

static char big_db[4200];

static void test_ann_finds_what_the_exact_scan_finds_on_50k_faces(void) {
  snprintf(big_db, sizeof big_db, "%s", tu_tmp("big.db"));
  tu_remove_index(big_db);
  int64_t ids = identities_for(BIG);
  add_identities(big_db, 0, ids);
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(big_db, FK_STORE_READ, &st), FK_OK);
  fk_search_options ex, ann, aut;
  options(&ex, FK_SEARCH_EXACT, 10);
  options(&ann, FK_SEARCH_ANN, 10);
  options(&aut, FK_SEARCH_AUTO, 10);
  CHECK_EQ_INT(fk_store_search_method(st, &aut), BIG >= FK_ANN_AUTO_MIN ? FK_SEARCH_ANN : FK_SEARCH_EXACT);
  CHECK_EQ_INT(fk_store_search_method(st, &ex), FK_SEARCH_EXACT);
  int found = 0, total = 0, same_distance = 1;
  for (int q = 0; q < 200; q++) {
    float e[DIM];
    face_vector((int64_t)q * 37 % ids, 100 + q, e); /* a new photo of a known person */
    fk_match me[10], ma[10];
    int ne = 0, na = 0;
    CHECK_EQ_INT(fk_store_search(st, e, DIM, &ex, me, &ne), FK_OK);
    CHECK_EQ_INT(fk_store_search(st, e, DIM, &ann, ma, &na), FK_OK);
    CHECK_EQ_INT(na, 10);
    total += ne;
    for (int i = 0; i < ne; i++)
      for (int j = 0; j < na; j++)
        if (me[i].face_id == ma[j].face_id) {
          found++;
          same_distance &= fabsf(me[i].distance - ma[j].distance) < 1e-6f &&
                           fabsf(me[i].similarity - ma[j].similarity) < 1e-6f;
        }
    for (int j = 1; j < na; j++) CHECK(ma[j].distance >= ma[j - 1].distance);
  }
  double recall = (double)found / total;
  fprintf(stderr, "  recall@10 of ANN against the exact scan over %d faces: %.4f\n", BIG, recall);
  CHECK(recall >= 0.98);
  CHECK(same_distance);
  CHECK(graph_of(st) != NULL && fk_ann_size(graph_of(st)) == face_count(big_db));
  fk_store_close(st);
  CHECK(inode_of(faiss_path(big_db)) != 0);
}

/* Searches path for face f of identity p; returns the best face id (or -1)
 * and its distance. */
static int64_t best_match(fk_store *st, int64_t p, int f, float *distance) {
  float e[DIM];
  face_vector(p, f, e);
  fk_search_options o;
  options(&o, FK_SEARCH_ANN, 5);
  fk_match m[5];
  int n = 0;
  CHECK_EQ_INT(fk_store_search(st, e, DIM, &o, m, &n), FK_OK);
  *distance = n ? m[0].distance : 9;
  return n ? m[0].face_id : -1;
}

static int64_t face_id_of(const char *path, const char *image) {
  sqlite3 *db;
  sqlite3_stmt *q;
  int64_t id = -1;
  sqlite3_open(path, &db);
  sqlite3_prepare_v2(db, "SELECT f.id FROM faces f JOIN images i ON i.id = f.image_id WHERE i.path = ?", -1, &q, NULL);
  sqlite3_bind_text(q, 1, image, -1, SQLITE_STATIC);
  if (sqlite3_step(q) == SQLITE_ROW) id = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return id;
}

static void delete_identity_rows(const char *db, int64_t p) {
  char sql[256];
  snprintf(sql, sizeof sql, "PRAGMA foreign_keys = ON; DELETE FROM images WHERE path LIKE '/x/p%lld/%%';", (long long)p);
  sql_on(db, sql);
}

static void test_ann_cache_is_reused_then_follows_the_index(void) {
  const char *db = big_db;
  ino_t ino = inode_of(faiss_path(db));
  fk_store *st;
  /* Unchanged index: the file is read, not rebuilt or rewritten. */
  CHECK_EQ_INT(fk_store_open(db, FK_STORE_READ, &st), FK_OK);
  CHECK_EQ_INT(fk_store_load_ann(st, 2), FK_OK);
  const fk_ann *g = graph_of(st);
  CHECK(g != NULL && fk_ann_size(g) == face_count(db));
  CHECK(inode_of(faiss_path(db)) == ino);
  int64_t before = face_count(db), ids = identities_for(BIG);
  /* While st stays open, another writer deletes identity 5's photos and
   * the last face, and 40 new people arrive; a refresh hands the changes
   * to the graph itself (the same graph, one node more per new face). */
  int64_t gone = face_id_of(db, "/x/p5/0.jpg");
  int64_t last_p = ids - 1;
  int64_t last_id = face_id_of(db, "/x/p0/0.jpg");
  for (int f = 0; f < faces_of(last_p); f++) {
    char path[64];
    snprintf(path, sizeof path, "/x/p%lld/%d.jpg", (long long)last_p, f);
    int64_t id = face_id_of(db, path);
    if (id > last_id) last_id = id;
  }
  delete_identity_rows(db, 5);
  delete_identity_rows(db, last_p);
  add_identities(db, ids, ids + 40);
  int64_t added = face_count(db) - before + faces_of(5) + faces_of(last_p);
  CHECK_EQ_INT(fk_store_refresh(st), FK_OK);
  CHECK(graph_of(st) == g);
  CHECK_EQ_INT(fk_ann_size(g), before + added);
  CHECK_EQ_INT(fk_ann_deleted(g), faces_of(5) + faces_of(last_p));
  float d;
  char path[64];
  snprintf(path, sizeof path, "/x/p%lld/0.jpg", (long long)(ids + 3));
  CHECK_EQ_INT(best_match(st, ids + 3, 0, &d), face_id_of(db, path)); /* a new face is found */
  CHECK(d < 1e-5);
  CHECK(best_match(st, 5, 0, &d) != gone && d > 1e-3); /* deleted: never returned */
  snprintf(path, sizeof path, "/x/p%lld/0.jpg", (long long)ids);
  CHECK(face_id_of(db, path) > last_id); /* ids are not reused (format 3) */
  CHECK(graph_of(st) == g);
  fk_store_close(st); /* saves the graph that moved on */
  CHECK(inode_of(faiss_path(db)) != ino);
  ino = inode_of(faiss_path(db));
  CHECK_EQ_INT(fk_store_open(db, FK_STORE_READ, &st), FK_OK);
  CHECK_EQ_INT(fk_store_load_ann(st, 2), FK_OK);
  CHECK_EQ_INT(fk_ann_size(graph_of(st)), before + added); /* read back, as saved */
  fk_store_close(st);
  CHECK(inode_of(faiss_path(db)) == ino);
  /* Changes made while no handle had the graph: a stale file is compared
   * with the vectors and updated, not rebuilt. */
  int64_t c0 = face_count(db);
  delete_identity_rows(db, 6);
  add_identities(db, ids + 40, ids + 45);
  int64_t more = face_count(db) - c0 + faces_of(6);
  CHECK_EQ_INT(fk_store_open(db, FK_STORE_READ, &st), FK_OK);
  CHECK_EQ_INT(fk_store_load_ann(st, 2), FK_OK);
  CHECK_EQ_INT(fk_ann_size(graph_of(st)), before + added + more);
  CHECK_EQ_INT(fk_ann_deleted(graph_of(st)), faces_of(5) + faces_of(last_p) + faces_of(6));
  CHECK(best_match(st, 6, 0, &d) >= 0 && d > 1e-3);
  fk_store_close(st);
  CHECK(inode_of(faiss_path(db)) != ino); /* and saved */
  tu_remove_index(db);
}

static void test_ann_is_rebuilt_when_deletions_pile_up(void) {
  const char *db = tu_tmp("del.db");
  tu_remove_index(db);
  add_identities(db, 0, 600);
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(db, FK_STORE_READ, &st), FK_OK);
  CHECK_EQ_INT(fk_store_load_ann(st, 1), FK_OK);
  fk_store_close(st);
  /* A third of the people leave: past the 20% the graph tolerates. */
  sql_on(db, "PRAGMA foreign_keys = ON; DELETE FROM images WHERE id % 3 = 0;"
             "UPDATE meta SET value = value + 1 WHERE key = 'generation'");
  CHECK_EQ_INT(fk_store_open(db, FK_STORE_READ, &st), FK_OK);
  CHECK_EQ_INT(fk_store_load_ann(st, 1), FK_OK);
  CHECK_EQ_INT(fk_ann_deleted(graph_of(st)), 0);
  CHECK_EQ_INT(fk_ann_size(graph_of(st)), face_count(db));
  fk_store_close(st);
  tu_remove_index(db);
}

/* Opens db, searches by ANN once; the number of matches. */
static int ann_matches(const char *db) {
  fk_store *st;
  float d;
  int64_t best = -1;
  if (fk_store_open(db, FK_STORE_READ, &st) == FK_OK) best = best_match(st, 17, 1, &d);
  fk_store_close(st);
  return best >= 0 && d < 1e-5;
}

static void test_damaged_or_foreign_cache_is_rebuilt(void) {
  char db[4200], other[4200], err[256], cache[4300];
  snprintf(db, sizeof db, "%s", tu_tmp("dmg.db"));
  snprintf(other, sizeof other, "%s", tu_tmp("other.db"));
  tu_remove_index(db);
  tu_remove_index(other);
  add_identities(db, 0, 300);
  add_identities(other, 0, 300);
  CHECK(ann_matches(db) && ann_matches(other));
  snprintf(cache, sizeof cache, "%s", faiss_path(db));
  struct stat sb;
  stat(cache, &sb);
  long size = (long)sb.st_size;
  /* truncated, a byte flipped mid-file, garbage */
  CHECK_EQ_INT(truncate(cache, size / 3), 0);
  CHECK(ann_matches(db));
  CHECK_EQ_INT(read_status(cache, err, sizeof err), FK_OK);
  unsigned char x = 0xff;
  patch(cache, size / 2, &x, 1);
  CHECK(ann_matches(db));
  CHECK_EQ_INT(read_status(cache, err, sizeof err), FK_OK);
  tu_write_text(cache, "garbage");
  CHECK(ann_matches(db));
  CHECK_EQ_INT(read_status(cache, err, sizeof err), FK_OK);
  /* another index's graph (same faces, another uuid) is not taken */
  char copy[8700];
  snprintf(copy, sizeof copy, "cp '%s' '%s'", faiss_path(other), cache);
  CHECK_EQ_INT(system(copy), 0);
  ino_t foreign = inode_of(cache);
  CHECK(ann_matches(db));
  CHECK(inode_of(cache) != foreign);
  tu_remove_index(db);
  tu_remove_index(other);
}

static void test_search_options_choose_exact_or_ann(void) {
  const char *db = tu_tmp("opt.db");
  tu_remove_index(db);
  add_identities(db, 0, 500);
  fk_store *st;
  CHECK_EQ_INT(fk_store_open(db, FK_STORE_READ, &st), FK_OK);
  fk_search_options o;
  fk_search_options_init(&o);
  CHECK_EQ_INT(o.search, FK_SEARCH_AUTO);
  CHECK_EQ_INT(o.ef, 0);
  CHECK_EQ_INT(fk_store_search_method(st, &o), FK_SEARCH_EXACT); /* small: exact */
  float e[DIM];
  face_vector(42, 0, e);
  fk_match m[20], x[20];
  int n = 0, nx = 0;
  CHECK_EQ_INT(fk_store_search(st, e, DIM, &o, m, &n), FK_OK);
  CHECK(graph_of(st) == NULL && inode_of(faiss_path(db)) == 0); /* no graph made for it */
  o.search = 7;
  CHECK_EQ_INT(fk_store_search(st, e, DIM, &o, m, &n), FK_EINVAL);
  CHECK(strstr(fk_store_errmsg(st), "search 7") != NULL);
  o.search = FK_SEARCH_ANN;
  o.ef = -1;
  CHECK_EQ_INT(fk_store_search(st, e, DIM, &o, m, &n), FK_EINVAL);
  /* Every metric, codes and a threshold: ANN gives the exact scan's
   * matches and numbers on this small index. */
  for (int metric = FK_METRIC_COSINE; metric <= FK_METRIC_EUCLIDEAN_L2; metric++)
    for (int codes = 0; codes < 2; codes++) {
      fk_search_options a, b;
      options(&a, FK_SEARCH_ANN, 20);
      a.metric = metric, a.codes = codes, a.ef = 100;
      options(&b, FK_SEARCH_EXACT, 20);
      b.metric = metric, b.codes = codes;
      CHECK_EQ_INT(fk_store_search(st, e, DIM, &a, m, &n), FK_OK);
      CHECK_EQ_INT(fk_store_search(st, e, DIM, &b, x, &nx), FK_OK);
      CHECK_EQ_INT(n, nx);
      for (int i = 0; i < n && i < nx; i++) {
        CHECK_EQ_INT(m[i].face_id, x[i].face_id);
        CHECK_NEAR(m[i].distance, x[i].distance, 1e-6);
      }
      a.threshold = b.threshold = x[3].distance; /* keeps 4 (barring ties) */
      CHECK_EQ_INT(fk_store_search(st, e, DIM, &a, m, &n), FK_OK);
      CHECK_EQ_INT(fk_store_search(st, e, DIM, &b, x, &nx), FK_OK);
      CHECK_EQ_INT(n, nx);
      for (int i = 0; i < n; i++) CHECK(m[i].distance <= a.threshold);
    }
  /* A query of another width is refused as by the exact scan. */
  CHECK_EQ_INT(fk_store_search(st, e, 64, &o, m, &n), FK_EINVAL);
  o.ef = 0;
  CHECK_EQ_INT(fk_store_search(st, e, 64, &o, m, &n), FK_EMISMATCH);
  fk_store_close(st);
  tu_remove_index(db);
}

/* A search on another thread, through the shared vectors. */
typedef struct thread_search {
  fk_vectors *vs;
  fk_search_options o;
  float e[DIM];
  fk_match m[10];
  int n, rc;
  char err[256];
} thread_search;

static void *search_thread(void *arg) {
  thread_search *t = arg;
  t->rc = fk_vectors_search(t->vs, t->e, DIM, &t->o, t->m, &t->n, t->err, sizeof t->err);
  return NULL;
}

static int search_on_a_thread(thread_search *t) {
  pthread_t th;
  pthread_create(&th, NULL, search_thread, t);
  pthread_join(th, NULL);
  return t->rc;
}

static void test_shared_vectors_are_searched_by_ann_from_other_threads(void) {
  const char *db = tu_tmp("shared.db");
  tu_remove_index(db);
  add_identities(db, 0, 500);
  fk_store *st;
  fk_vectors *vs;
  CHECK_EQ_INT(fk_store_open(db, FK_STORE_READ, &st), FK_OK);
  CHECK_EQ_INT(fk_store_vectors(st, &vs), FK_OK);
  thread_search t = {.vs = vs};
  options(&t.o, FK_SEARCH_ANN, 10);
  face_vector(42, 0, t.e);
  /* Only the store's thread may build the graph. */
  CHECK_EQ_INT(search_on_a_thread(&t), FK_EINVAL);
  CHECK(strstr(t.err, "fk_store_load_ann") != NULL);
  t.o.search = FK_SEARCH_AUTO; /* small and no graph: scans */
  CHECK_EQ_INT(search_on_a_thread(&t), FK_OK);
  CHECK_EQ_INT(t.n, 10);
  int64_t first = t.m[0].face_id;
  CHECK_EQ_INT(fk_store_load_ann(st, 1), FK_OK);
  t.o.search = FK_SEARCH_ANN;
  CHECK_EQ_INT(search_on_a_thread(&t), FK_OK);
  CHECK_EQ_INT(t.n, 10);
  CHECK_EQ_INT(t.m[0].face_id, first);
  CHECK(t.m[0].distance < 1e-5f);
  /* Another process deletes that person; after a refresh on the store's
   * thread, an ANN search anywhere no longer finds the face. */
  const fk_ann *g = graph_of(st);
  delete_identity_rows(db, 42);
  CHECK_EQ_INT(fk_store_refresh(st), FK_OK);
  CHECK(graph_of(st) == g && fk_ann_deleted(g) == faces_of(42));
  CHECK_EQ_INT(search_on_a_thread(&t), FK_OK);
  CHECK_EQ_INT(t.n, 10);
  for (int i = 0; i < t.n; i++) CHECK(t.m[i].face_id != first);
  fk_store_close(st);
  tu_remove_index(db);
}

int main(void) {
  RUN(test_graph_never_returns_deleted_nodes_and_survives_a_round_trip);
  RUN(test_damaged_graph_files_are_refused);
  RUN(test_search_options_choose_exact_or_ann);
  RUN(test_shared_vectors_are_searched_by_ann_from_other_threads);
  RUN(test_ann_is_rebuilt_when_deletions_pile_up);
  RUN(test_damaged_or_foreign_cache_is_rebuilt);
  RUN(test_ann_finds_what_the_exact_scan_finds_on_50k_faces);
  RUN(test_ann_cache_is_reused_then_follows_the_index);
  return tu_summary();
}
