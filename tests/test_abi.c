/*
 * test_abi.c - the options structs across releases: a program built
 * against an older header passes a struct that ends before the fields
 * added since. Simulated here as such a program would lay it out: a heap
 * block of exactly the older size (so ASan catches any read past it),
 * holding the older fields and its size. The library must take it, give
 * the missing fields their defaults, and read nothing beyond it; a struct
 * never initialized (size 0) or from a newer header (larger) is refused.
 */
#include <stddef.h>

#include "facekit.h"
#include "testutil.h"

/* Writes an int or size_t field at its offset into a block that is
 * shorter than the struct type (as the older program's struct is). */
#define SET(block, type, field, value)                                  \
  do {                                                                  \
    __typeof__(((type *)0)->field) v_ = (value);                        \
    memcpy((unsigned char *)(block) + offsetof(type, field), &v_, sizeof v_); \
  } while (0)

/* An "older" fk_options: the layout before precision (and retry_score),
 * filled as its fk_options_init filled it. */
static void *older_options(void) {
  fk_options full;
  fk_options_init(&full);
  size_t n = offsetof(fk_options, precision);
  void *o = malloc(n);
  memcpy(o, &full, n);
  SET(o, fk_options, size, n);
  return o;
}

static void test_an_older_options_struct_gets_the_new_fields_defaults(void) {
  fk_models *m = NULL;
  CHECK_EQ_INT(fk_models_open(NULL, 0, &m), FK_OK);
  void *old = older_options();
  SET(old, fk_options, max_faces, 3); /* an old field the program set */
  fk_session *s = NULL;
  int rc = fk_session_new(m, old, &s);
  if (rc) fprintf(stderr, "  %s\n", fk_session_errmsg(s));
  CHECK_EQ_INT(rc, FK_OK);
  fk_image img;
  CHECK_EQ_INT(fk_image_load(tu_fixture("group4.png"), 0, &img), FK_OK);
  fk_face f[8];
  int n = 0;
  CHECK_EQ_INT(fk_faces(s, &img, f, 8, &n), FK_OK);
  CHECK_EQ_INT(n, 3); /* its max_faces was read */
  fk_image_free(&img);
  fk_session_free(s);
  /* never initialized, and from a newer header: refused, saying so */
  SET(old, fk_options, size, 0);
  CHECK_EQ_INT(fk_session_new(m, old, &s), FK_EINVAL);
  CHECK(strstr(fk_session_errmsg(s), "fk_options_init") != NULL);
  fk_session_free(s);
  fk_options big;
  fk_options_init(&big);
  big.size += 8;
  CHECK_EQ_INT(fk_session_new(m, &big, &s), FK_EINVAL);
  fk_session_free(s);
  /* the read-only helpers take it too */
  SET(old, fk_options, size, offsetof(fk_options, precision));
  char in[16];
  fk_detector_input_name(old, in, sizeof in);
  CHECK(!strcmp(in, "auto"));
  CHECK(fk_detect_nets(old) != 0);
  free(old);
  fk_models_free(m);
}

static void test_older_tracker_and_search_options_are_taken(void) {
  /* a tracker struct of the layout before its last field */
  fk_tracker_options full;
  fk_tracker_options_init(&full);
  size_t n = offsetof(fk_tracker_options, user);
  void *t = malloc(n);
  memcpy(t, &full, n);
  SET(t, fk_tracker_options, size, n);
  fk_tracker *tr = NULL;
  CHECK_EQ_INT(fk_tracker_new(t, &tr), FK_OK);
  fk_tracker_free(tr);
  SET(t, fk_tracker_options, size, 0);
  CHECK_EQ_INT(fk_tracker_new(t, &tr), FK_EINVAL);
  free(t);
  fk_search_options so;
  fk_search_options_init(&so);
  CHECK(so.size == sizeof so);
  fk_index_options io;
  fk_index_options_init(&io);
  CHECK(io.size == sizeof io);
  fk_eval_options eo;
  fk_eval_options_init(&eo);
  CHECK(eo.size == sizeof eo);
}

int main(void) {
  RUN(test_an_older_options_struct_gets_the_new_fields_defaults);
  RUN(test_older_tracker_and_search_options_are_taken);
  return tu_summary();
}
