/*
 * test_edit.c - changing an index one image at a time (src/store/edit.c,
 * write.c, vectors.c): adding an image under an identity as indexing would
 * store it, adding the same content again, refusing images without a face,
 * unreadable files and other models; deleting faces and identities with
 * the removed files reported; listing with pages; face crops; and the
 * shared vectors searched by several threads while one thread writes,
 * through growth, tombstones and compaction. Real models embed the fixture
 * photos; the concurrency test writes synthetic entries so that it can make
 * hundreds of changes quickly.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "facekit.h"
#include "store/store.h"
#include "testutil.h"
#include "golden.h"

static fk_models *models;
static fk_session *sess;

static char dir[4096], db[4200];

/* A fresh tree (dir/Ann, dir/Bob) and no index. */
static void fresh(void) {
  char cmd[13000];
  snprintf(dir, sizeof dir, "%s", tu_tmp("edit"));
  snprintf(db, sizeof db, "%s/index.db", dir);
  snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s/Ann' '%s/Bob'", dir, dir, dir);
  CHECK_EQ_INT(system(cmd), 0);
}

/* Copies a fixture to dir/rel; returns the path. */
static const char *place(const char *fixture, const char *rel) {
  static char path[4400];
  size_t n = 0;
  char *bytes = tu_read_file(tu_fixture(fixture), &n);
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  tu_write_file(path, bytes, n);
  free(bytes);
  return path;
}

static fk_store *open_write(void) {
  fk_store *st;
  int rc = fk_store_open(db, FK_STORE_WRITE, &st);
  CHECK_EQ_INT(rc, FK_OK);
  if (rc) fprintf(stderr, "  %s\n", fk_store_errmsg(st));
  return st;
}

static void test_added_image_is_stored_as_indexing_would_store_it(void) {
  fresh();
  fk_store *st = open_write();
  int64_t ids[8];
  fk_added a;
  const char *p = place("face_a1.png", "Ann/a1.png");
  CHECK_EQ_INT(fk_store_add_image(st, sess, p, "Ann", ids, 8, &a), FK_OK);
  CHECK(a.created == 1 && a.nfaces == 1 && a.image_id > 0 && ids[0] > 0);
  fk_store_face f;
  CHECK_EQ_INT(fk_store_get_face(st, ids[0], &f), FK_OK);
  CHECK(!strcmp(f.identity, "Ann") && !strcmp(f.path, p) && f.central == 1 &&
        f.dim == fk_model_dim(tu_default_model()));
  fk_store_info info;
  CHECK_EQ_INT(fk_store_get_info(st, &info), FK_OK);
  CHECK(info.has_model && info.images == 1 && info.faces == 1 && info.identities == 1 && info.seq == 1);
  /* indexing the tree afterwards finds the image unchanged */
  place("face_b1.png", "Bob/b1.png");
  fk_index_stats s;
  CHECK_EQ_INT(fk_store_index(st, models, NULL, dir, NULL, &s), FK_OK);
  CHECK_EQ_INT(s.unchanged, 1);
  CHECK_EQ_INT(s.added, 1);
  CHECK_EQ_INT(fk_store_get_face(st, ids[0], &f), FK_OK);
  fk_store_close(st);
}

static void test_adding_the_same_content_again_changes_nothing(void) {
  fresh();
  fk_store *st = open_write();
  int64_t a_ids[4], b_ids[4];
  fk_added a, b;
  const char *p = place("face_a1.png", "Ann/a1.png");
  CHECK_EQ_INT(fk_store_add_image(st, sess, p, "Ann", a_ids, 4, &a), FK_OK);
  fk_store_info before, after;
  fk_store_get_info(st, &before);
  CHECK_EQ_INT(fk_store_add_image(st, sess, p, "Ann", b_ids, 4, &b), FK_OK);
  fk_store_get_info(st, &after);
  CHECK(b.created == 0 && b.nfaces == 1 && b_ids[0] == a_ids[0] && b.image_id == a.image_id);
  CHECK_EQ_INT(after.seq, before.seq);
  /* the same file under another identity: relabelled, the old one gone */
  CHECK_EQ_INT(fk_store_add_image(st, sess, p, "Annie", b_ids, 4, &b), FK_OK);
  fk_store_get_info(st, &after);
  CHECK(b.created == 0 && b_ids[0] == a_ids[0] && after.identities == 1 && after.seq == before.seq + 1);
  fk_store_face f;
  CHECK_EQ_INT(fk_store_get_face(st, a_ids[0], &f), FK_OK);
  CHECK(!strcmp(f.identity, "Annie"));
  fk_store_close(st);
}

static void test_add_refuses_no_face_unreadable_files_and_other_models(void) {
  fresh();
  fk_store *st = open_write();
  fk_added a;
  int64_t id;
  CHECK_EQ_INT(fk_store_add_image(st, sess, place("noface.png", "Ann/none.png"), "Ann", &id, 1, &a), FK_ENOFACE);
  char trunc[4400];
  size_t n = 0;
  char *bytes = tu_read_file(tu_fixture("face_a1.png"), &n);
  snprintf(trunc, sizeof trunc, "%s/Ann/cut.png", dir);
  tu_write_file(trunc, bytes, n / 3);
  free(bytes);
  int rc = fk_store_add_image(st, sess, trunc, "Ann", &id, 1, &a);
  CHECK(rc == FK_ECORRUPT || rc == FK_EFORMAT);
  CHECK_EQ_INT(fk_store_add_image(st, sess, "/nonexistent/x.png", "Ann", &id, 1, &a), FK_ENOENT);
  fk_store_info info;
  fk_store_get_info(st, &info);
  CHECK(info.images == 0 && info.faces == 0 && info.identities == 0 && !info.has_model);
  /* an index made with the Tiny detector refuses an SSD entry */
  fk_options o;
  fk_options_init(&o);
  o.detector = FK_DETECTOR_TINY;
  fk_session *tiny;
  CHECK_EQ_INT(fk_session_new(models, &o, &tiny), FK_OK);
  CHECK_EQ_INT(fk_store_add_image(st, tiny, place("face_a1.png", "Ann/a1.png"), "Ann", &id, 1, &a), FK_OK);
  fk_entry *e;
  CHECK_EQ_INT(fk_entry_new(sess, place("face_b1.png", "Bob/b1.png"), &e), FK_OK);
  CHECK_EQ_INT(fk_store_add_entry(st, e, "Bob", &id, 1, &a), FK_EMISMATCH);
  CHECK(strstr(fk_store_errmsg(st), "detector tiny") != NULL);
  fk_entry_free(e);
  fk_session_free(tiny);
  fk_store_get_info(st, &info);
  CHECK(info.images == 1 && info.faces == 1);
  fk_store_close(st);
}

typedef struct removed_acc {
  int n;
  char last[4096];
} removed_acc;

static void on_removed(const char *path, void *user) {
  removed_acc *r = user;
  r->n++;
  snprintf(r->last, sizeof r->last, "%s", path);
}

static void test_deletes_remove_faces_images_and_identities(void) {
  fresh();
  fk_store *st = open_write();
  int64_t a1, a2, b1, four[4];
  fk_added a;
  CHECK_EQ_INT(fk_store_add_image(st, sess, place("face_a1.png", "Ann/a1.png"), "Ann", &a1, 1, &a), FK_OK);
  CHECK_EQ_INT(fk_store_add_image(st, sess, place("face_a2.png", "Ann/a2.png"), "Ann", &a2, 1, &a), FK_OK);
  const char *group = place("group4.png", "Bob/group.png");
  CHECK_EQ_INT(fk_store_add_image(st, sess, group, "Bob", four, 4, &a), FK_OK);
  CHECK_EQ_INT(a.nfaces, 4);
  CHECK_EQ_INT(fk_store_add_image(st, sess, place("face_b1.png", "Bob/b1.png"), "Bob", &b1, 1, &a), FK_OK);
  fk_vectors *v;
  CHECK_EQ_INT(fk_store_vectors(st, &v), FK_OK);
  CHECK_EQ_INT(fk_vectors_count(v), 7);
  removed_acc r = {0};
  /* one face of four: the image stays */
  CHECK_EQ_INT(fk_store_delete_face(st, four[1], on_removed, &r), FK_OK);
  CHECK_EQ_INT(r.n, 0);
  CHECK_EQ_INT(fk_vectors_count(v), 6);
  /* an image's last face: the image goes, and is reported */
  CHECK_EQ_INT(fk_store_delete_face(st, a1, on_removed, &r), FK_OK);
  CHECK(r.n == 1 && strstr(r.last, "Ann/a1.png"));
  CHECK_EQ_INT(fk_store_delete_face(st, a1, on_removed, &r), FK_ENOENT);
  fk_store_face f;
  CHECK_EQ_INT(fk_store_get_face(st, a1, &f), FK_ENOENT);
  /* a search never returns a deleted face */
  fk_entry *e;
  CHECK_EQ_INT(fk_entry_new(sess, tu_fixture("face_a1.png"), &e), FK_OK);
  const fk_face *qf;
  fk_entry_faces(e, &qf, NULL);
  fk_match m[10];
  int n;
  CHECK_EQ_INT(fk_vectors_search(v, qf[0].embedding, qf[0].dim, NULL, m, &n, NULL, 0), FK_OK);
  CHECK_EQ_INT(n, 5);
  for (int i = 0; i < n; i++) CHECK(m[i].face_id != a1 && m[i].face_id != four[1]);
  CHECK_EQ_INT(m[0].face_id, a2); /* the other photo of the same person */
  fk_entry_free(e);
  /* a whole identity: every image reported, the faces counted */
  int64_t gone = 0;
  r.n = 0;
  CHECK_EQ_INT(fk_store_delete_identity(st, "Bob", &gone, on_removed, &r), FK_OK);
  CHECK_EQ_INT(gone, 4);
  CHECK_EQ_INT(r.n, 2);
  CHECK_EQ_INT(fk_vectors_count(v), 1);
  CHECK_EQ_INT(fk_store_delete_identity(st, "Bob", &gone, NULL, NULL), FK_ENOENT);
  CHECK(strstr(fk_store_errmsg(st), "no identity 'Bob'") != NULL);
  fk_store_info info;
  fk_store_get_info(st, &info);
  CHECK(info.images == 1 && info.faces == 1 && info.identities == 1);
  fk_store_close(st);
  /* a read-only handle refuses to delete */
  CHECK_EQ_INT(fk_store_open(db, FK_STORE_READ, &st), FK_OK);
  CHECK_EQ_INT(fk_store_delete_face(st, a2, NULL, NULL), FK_EREADONLY);
  fk_store_close(st);
}

static void test_listing_pages_identities_and_faces(void) {
  fresh();
  fk_store *st = open_write();
  fk_added a;
  int64_t id;
  const char *names[] = {"Carol", "Ann", "Bob"};
  const char *files[] = {"face_a1.png", "face_a2.png", "face_b1.png"};
  for (int i = 0; i < 3; i++) {
    char rel[64];
    snprintf(rel, sizeof rel, "%s.png", names[i]);
    CHECK_EQ_INT(fk_store_add_image(st, sess, place(files[i], rel), names[i], &id, 1, &a), FK_OK);
  }
  CHECK_EQ_INT(fk_store_add_image(st, sess, place("face_c1.png", "Ann2.png"), "Ann", &id, 1, &a), FK_OK);
  fk_identity_info d[4];
  int n;
  int64_t total;
  CHECK_EQ_INT(fk_store_list_identities(st, 0, 2, d, &n, &total), FK_OK);
  CHECK(n == 2 && total == 3 && !strcmp(d[0].name, "Ann") && !strcmp(d[1].name, "Bob"));
  CHECK(d[0].images == 2 && d[0].faces == 2 && d[1].faces == 1);
  CHECK_EQ_INT(fk_store_list_identities(st, 2, 2, d, &n, &total), FK_OK);
  CHECK(n == 1 && !strcmp(d[0].name, "Carol"));
  CHECK_EQ_INT(fk_store_list_identities(st, 9, 2, d, &n, &total), FK_OK);
  CHECK_EQ_INT(n, 0);
  CHECK_EQ_INT(fk_store_list_identities(st, -1, 2, d, &n, &total), FK_EINVAL);
  CHECK_EQ_INT(fk_store_list_identities(st, 0, 0, d, &n, &total), FK_EINVAL);
  fk_store_face *f = calloc(2, sizeof *f);
  CHECK_EQ_INT(fk_store_identity_faces(st, "Ann", 1, 2, f, &n, &total), FK_OK);
  CHECK(n == 1 && total == 2 && strstr(f[0].path, "Ann2.png") && !strcmp(f[0].identity, "Ann"));
  CHECK_EQ_INT(fk_store_identity_faces(st, "Nobody", 0, 2, f, &n, &total), FK_ENOENT);
  /* crops come from the files */
  fk_image crop;
  CHECK_EQ_INT(fk_store_face_crop(&f[0], 64, 0, &crop), FK_OK);
  CHECK(crop.width == 64 && crop.height == 64);
  fk_image_free(&crop);
  CHECK_EQ_INT(fk_store_face_crop(&f[0], 8, 0, &crop), FK_EINVAL);
  place("group4.png", "Ann2.png"); /* another picture at that path */
  CHECK_EQ_INT(fk_store_face_crop(&f[0], 64, 0, &crop), FK_EMISMATCH);
  remove(f[0].path);
  CHECK_EQ_INT(fk_store_face_crop(&f[0], 64, 0, &crop), FK_ENOENT);
  free(f);
  fk_store_close(st);
}

/* ---- many readers, one writer ------------------------------------------------ */

enum { DIM = 128, READERS = 3, ADDS = 600, DELETES = 450 };

/* A synthetic entry: one face whose embedding is a random unit vector. */
static fk_entry *synthetic(int i) {
  fk_entry *e = calloc(1, sizeof *e);
  char p[64];
  snprintf(p, sizeof p, "/synthetic/p%d/%d.png", i % 5, i);
  e->path = strdup(p);
  e->size = e->mtime_ns = 1;
  snprintf(e->hash, sizeof e->hash, "%064d", i);
  e->width = e->height = 100;
  e->faces = calloc(1, sizeof *e->faces);
  e->nfaces = 1;
  e->central = 0;
  e->faces[0].dim = DIM;
  e->faces[0].box = (fk_box){10, 10, 50, 50};
  tu_fill_random(e->faces[0].embedding, DIM, (unsigned)i + 7);
  snprintf(e->model, sizeof e->model, "resnet128-synthetic");
  fk_options_init(&e->opt);
  e->opt.model = FK_MODEL_RESNET128; /* the index's width comes from the model: 128, as DIM */
  return e;
}

typedef struct shared {
  fk_vectors *v;
  atomic_int stop;
  atomic_long searches, bad;
} shared;

/* Searches in a loop; every answer must be sorted, within k, and only name
 * faces its own store either finds or reports deleted. */
static void *reader(void *arg) {
  shared *sh = arg;
  fk_store *st;
  if (fk_store_open(db, FK_STORE_READ, &st)) {
    atomic_fetch_add(&sh->bad, 1);
    fk_store_close(st);
    return NULL;
  }
  float q[DIM];
  fk_match m[8];
  fk_search_options o;
  fk_search_options_init(&o);
  o.k = 8;
  fk_store_face *f = malloc(sizeof *f);
  for (unsigned i = 1; !atomic_load(&sh->stop); i++) {
    tu_fill_random(q, DIM, i * 31u);
    int n = 0;
    if (fk_vectors_search(sh->v, q, DIM, &o, m, &n, NULL, 0) != FK_OK || n > 8) atomic_fetch_add(&sh->bad, 1);
    for (int k = 1; k < n; k++)
      if (m[k].distance < m[k - 1].distance) atomic_fetch_add(&sh->bad, 1);
    if (n > 0) {
      int rc = fk_store_get_face(st, m[0].face_id, f);
      if (rc != FK_OK && rc != FK_ENOENT) atomic_fetch_add(&sh->bad, 1);
    }
    atomic_fetch_add(&sh->searches, 1);
  }
  free(f);
  fk_store_close(st);
  return NULL;
}

static void test_searches_run_while_one_thread_writes(void) {
  fresh();
  fk_store *st = open_write();
  fk_entry *first = synthetic(0);
  int64_t ids[ADDS];
  fk_added a;
  CHECK_EQ_INT(fk_store_add_entry(st, first, "p0", &ids[0], 1, &a), FK_OK);
  fk_entry_free(first);
  shared sh = {0};
  CHECK_EQ_INT(fk_store_vectors(st, &sh.v), FK_OK);
  pthread_t th[READERS];
  for (int i = 0; i < READERS; i++) pthread_create(&th[i], NULL, reader, &sh);
  int visible = 1;
  for (int i = 1; i < ADDS; i++) {
    fk_entry *e = synthetic(i);
    char ident[16];
    snprintf(ident, sizeof ident, "p%d", i % 5);
    CHECK_EQ_INT(fk_store_add_entry(st, e, ident, &ids[i], 1, &a), FK_OK);
    /* a search that starts after the add returns finds the new face */
    fk_match m;
    int n = 0;
    fk_search_options o;
    fk_search_options_init(&o);
    o.k = 1;
    fk_vectors_search(sh.v, e->faces[0].embedding, DIM, &o, &m, &n, NULL, 0);
    visible &= n == 1 && m.face_id == ids[i] && m.distance < 1e-5;
    fk_entry_free(e);
  }
  CHECK(visible);
  for (int i = 0; i < DELETES; i++) CHECK_EQ_INT(fk_store_delete_face(st, ids[i], NULL, NULL), FK_OK);
  atomic_store(&sh.stop, 1);
  for (int i = 0; i < READERS; i++) pthread_join(th[i], NULL);
  CHECK_EQ_INT(atomic_load(&sh.bad), 0);
  CHECK(atomic_load(&sh.searches) > 0);
  fprintf(stderr, "  %ld searches during %d adds and %d deletes\n", atomic_load(&sh.searches), ADDS, DELETES);
  CHECK_EQ_INT(fk_vectors_count(sh.v), ADDS - DELETES);
  /* the tombstones were compacted away along the way */
  CHECK(st->vs.deleted < 256 && st->vs.v.n < ADDS);
  /* and the result is what a fresh load of the index gives */
  fk_store *other;
  CHECK_EQ_INT(fk_store_open(db, FK_STORE_READ, &other), FK_OK);
  int64_t count = 0;
  CHECK_EQ_INT(fk_store_load(other, &count), FK_OK);
  CHECK_EQ_INT(count, ADDS - DELETES);
  fk_store_close(other);
  fk_store_close(st);
}

int main(void) {
  int rc = fk_models_open(NULL, fk_default_nets() | FK_NET_TINY, &models);
  if (rc) {
    fprintf(stderr, "models: %s\n", fk_models_errmsg(models));
    return 1;
  }
  if (fk_session_new(models, NULL, &sess)) {
    fprintf(stderr, "session: %s\n", fk_session_errmsg(sess));
    return 1;
  }
  RUN(test_added_image_is_stored_as_indexing_would_store_it);
  RUN(test_adding_the_same_content_again_changes_nothing);
  RUN(test_add_refuses_no_face_unreadable_files_and_other_models);
  RUN(test_deletes_remove_faces_images_and_identities);
  RUN(test_listing_pages_identities_and_faces);
  RUN(test_searches_run_while_one_thread_writes);
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cleanup failed\n");
  fk_session_free(sess);
  fk_models_free(models);
  return tu_summary();
}
