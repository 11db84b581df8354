/*
 * test_cluster.c - grouping faces into persons (src/store/cluster.c) on
 * synthetic embeddings: persons are noisy copies of random directions, so
 * the truth is known. The k-NN graph against a brute-force one, the
 * clustering recovering the persons, cannot-link groups held, the
 * baselines' rules, and the scores against hand-computed values.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/cluster.h"
#include "testutil.h"

#define DIM 64

static uint64_t rng = 88172645463325252ull;
static double uniform(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(uniform() + 1e-300)) * cos(6.283185307179586 * uniform()); }

static void unit(float *v) {
  double n = 0;
  for (int i = 0; i < DIM; i++) n += (double)v[i] * v[i];
  for (int i = 0; i < DIM; i++) v[i] = (float)(v[i] / sqrt(n));
}

/* persons[p] faces each around a random direction, noise sd per dimension;
 * truth[i] their person. Returns the face count. */
static int64_t make_faces(const int *sizes, int npersons, double sd, float *v, int32_t *truth) {
  int64_t n = 0;
  float centre[DIM];
  for (int p = 0; p < npersons; p++) {
    for (int d = 0; d < DIM; d++) centre[d] = (float)gauss();
    unit(centre);
    for (int k = 0; k < sizes[p]; k++, n++) {
      for (int d = 0; d < DIM; d++) v[n * DIM + d] = centre[d] + (float)(sd * gauss());
      unit(v + n * DIM);
      truth[n] = p;
    }
  }
  return n;
}

static void test_the_graph_is_the_exact_nearest_neighbours(void) {
  static float v[300 * DIM];
  static int32_t truth[300];
  int sizes[30];
  for (int i = 0; i < 30; i++) sizes[i] = 10;
  int64_t n = make_faces(sizes, 30, 0.08, v, truth);
  fk_knn g;
  CHECK_EQ_INT(fk_knn_exact(v, n, DIM, 5, 1, NULL, &g), FK_OK);
  int bad = 0;
  for (int64_t i = 0; i < n; i++) {
    /* brute force: the 5th best similarity to others */
    float best[5] = {-2, -2, -2, -2, -2};
    for (int64_t j = 0; j < n; j++) {
      if (j == i) continue;
      double d = 0;
      for (int k = 0; k < DIM; k++) d += (double)v[i * DIM + k] * v[j * DIM + k];
      for (int a = 0; a < 5; a++)
        if (d > best[a]) {
          memmove(best + a + 1, best + a, (size_t)(4 - a) * sizeof *best);
          best[a] = (float)d;
          break;
        }
    }
    for (int a = 0; a < 5; a++) {
      bad += fabsf(g.sim[i * 5 + a] - best[a]) > 1e-4f || g.nbr[i * 5 + a] == i;
      if (a) bad += g.sim[i * 5 + a] > g.sim[i * 5 + a - 1];
    }
  }
  CHECK_EQ_INT(bad, 0);
  fk_knn_free(&g);
}

/* Persons of 1 to 40 faces, well apart: recovered exactly. */
static void test_persons_are_recovered(void) {
  enum { P = 60 };
  int sizes[P], total = 0;
  for (int p = 0; p < P; p++) total += sizes[p] = p % 6 == 0 ? 1 : p % 5 == 0 ? 40 : 2 + p % 7;
  float *v = malloc((size_t)total * DIM * sizeof *v);
  int32_t *truth = malloc((size_t)total * sizeof *truth), *label = malloc((size_t)total * sizeof *label);
  int64_t n = make_faces(sizes, P, 0.09, v, truth);
  fk_knn g;
  CHECK_EQ_INT(fk_knn_exact(v, n, DIM, 16, 2, NULL, &g), FK_OK);
  int64_t persons = fk_cluster_link(v, n, DIM, &g, NULL, NULL, 0.40f, 0.12f, label);
  CHECK_EQ_INT(persons, P);
  fk_cluster_scores s;
  CHECK_EQ_INT(fk_cluster_score(label, truth, n, &s), FK_OK);
  CHECK(s.bcubed_f == 1 && s.pair_f == 1 && s.true_clusters == P && s.unclustered == 0);
  /* numbered by first row */
  CHECK_EQ_INT(label[0], 0);
  for (int64_t i = 1; i < n; i++) CHECK(label[i] <= label[i - 1] + 1);
  fk_knn_free(&g);
  free(v), free(truth), free(label);
}

/* Faces of one image (a group) never share a person, however alike. */
static void test_faces_of_one_image_stay_apart(void) {
  int sizes[2] = {8, 8};
  static float v[16 * DIM];
  static int32_t truth[16], label[16];
  int64_t n = make_faces(sizes, 2, 0.05, v, truth);
  int64_t group[16];
  for (int i = 0; i < 16; i++) group[i] = 100 + i;
  group[3] = group[5] = 7; /* one photo holding two faces of person 0 */
  memcpy(v + 5 * DIM, v + 3 * DIM, DIM * sizeof *v); /* even identical ones */
  fk_knn g;
  CHECK_EQ_INT(fk_knn_exact(v, n, DIM, 15, 1, NULL, &g), FK_OK);
  CHECK(fk_cluster_link(v, n, DIM, &g, group, NULL, 0.40f, 0.12f, label) >= 2);
  CHECK(label[3] != label[5]);
  /* without the constraint they are one person */
  CHECK_EQ_INT(fk_cluster_link(v, n, DIM, &g, NULL, NULL, 0.40f, 0.12f, label), 2);
  CHECK(label[3] == label[5]);
  fk_knn_free(&g);
}

/* What a rerun is told of the faces holds: persons keep their ids, new
 * faces join them or start new persons, a correction keeps a face out,
 * named persons never merge. */
static void test_earlier_persons_and_corrections_hold(void) {
  enum { P = 12, EACH = 6 };
  int sizes[P + 1];
  for (int p = 0; p <= P; p++) sizes[p] = EACH;
  static float v[(P + 1) * EACH * DIM];
  static int32_t truth[(P + 1) * EACH], first[(P + 1) * EACH], again[(P + 1) * EACH];
  int64_t all = make_faces(sizes, P + 1, 0.09, v, truth), n = all - EACH; /* the last person comes later */
  fk_knn g;
  CHECK_EQ_INT(fk_knn_exact(v, n, DIM, 10, 1, NULL, &g), FK_OK);
  CHECK_EQ_INT(fk_cluster_link(v, n, DIM, &g, NULL, NULL, 0.40f, 0.12f, first), P);
  fk_knn_free(&g);
  /* a rerun over the same faces gives the same ids */
  fk_cluster_prior pr = {.person = first, .persons = P};
  CHECK_EQ_INT(fk_knn_exact(v, n, DIM, 10, 1, NULL, &g), FK_OK);
  CHECK_EQ_INT(fk_cluster_link(v, n, DIM, &g, NULL, &pr, 0.40f, 0.12f, again), P);
  CHECK(!memcmp(first, again, (size_t)n * sizeof *first));
  fk_knn_free(&g);
  /* new faces: one of person 3, then a whole new person */
  static int32_t prior[(P + 1) * EACH];
  memcpy(prior, first, (size_t)n * sizeof *prior);
  memcpy(v + n * DIM, v + 3 * EACH * DIM, DIM * sizeof *v); /* a copy of one of person 3's faces */
  v[n * DIM] += 0.01f;
  unit(v + n * DIM);
  for (int64_t i = n; i < all; i++) prior[i] = -1;
  pr.person = prior;
  CHECK_EQ_INT(fk_knn_exact(v, all, DIM, 10, 1, NULL, &g), FK_OK);
  int64_t persons = fk_cluster_link(v, all, DIM, &g, NULL, &pr, 0.40f, 0.12f, again);
  CHECK_EQ_INT(persons, P + 1);
  CHECK_EQ_INT(again[n], first[3 * EACH]);
  for (int64_t i = n + 1; i < all; i++) CHECK_EQ_INT(again[i], P); /* the new person's id */
  for (int64_t i = 0; i < n; i++) CHECK_EQ_INT(again[i], first[i]);
  /* "face 2 is not person first[2]": it leaves, and stays out */
  int64_t nf = 2;
  int32_t np = first[2];
  pr.not_face = &nf;
  pr.not_person = &np;
  pr.nnot = 1;
  memcpy(prior, first, (size_t)n * sizeof *prior);
  prior[2] = -1;
  CHECK(fk_cluster_link(v, all, DIM, &g, NULL, &pr, 0.40f, 0.12f, again) >= P + 1);
  CHECK(again[2] != np && again[0] == np);
  /* two named persons with the same faces stay two; unnamed they merge */
  memcpy(v + 1 * EACH * DIM, v, (size_t)EACH * DIM * sizeof *v); /* person 1 := person 0's faces */
  fk_knn_free(&g);
  CHECK_EQ_INT(fk_knn_exact(v, n, DIM, 10, 1, NULL, &g), FK_OK);
  for (int64_t i = 0; i < n; i++) prior[i] = i < 2 * EACH ? (int32_t)(i / EACH) : -1;
  uint8_t named[P] = {1, 1};
  fk_cluster_prior two = {.person = prior, .persons = P, .named = named};
  fk_cluster_link(v, n, DIM, &g, NULL, &two, 0.40f, 0.12f, again);
  CHECK(again[0] == 0 && again[EACH] == 1);
  named[0] = 0; /* one named: they merge, under the named one's id */
  fk_cluster_link(v, n, DIM, &g, NULL, &two, 0.40f, 0.12f, again);
  CHECK(again[0] == 1 && again[EACH] == 1);
  fk_knn_free(&g);
}

/* A hand-made graph: the baselines' rules, row by row. */
static void test_the_baselines_follow_their_rules(void) {
  /* rows 0-2 close together, 3 near 2 only, 4 alone */
  static int32_t nbr[5 * 2] = {1, 2, 0, 2, 1, 0, 2, -1, -1, -1};
  static float sim[5 * 2] = {0.9f, 0.8f, 0.9f, 0.85f, 0.85f, 0.8f, 0.6f, -INFINITY, -INFINITY, -INFINITY};
  fk_knn g = {5, 2, nbr, sim};
  int32_t label[5];
  /* Immich, min_faces 3 within 0.5: 0, 1, 2 are cores of one person; 3 has
   * one match (2): deferred, then joins 2's person; 4 only matches itself */
  CHECK_EQ_INT(fk_cluster_immich(&g, 0.5f, 3, label), 1);
  CHECK(label[0] == 0 && label[1] == 0 && label[2] == 0 && label[3] == 0 && label[4] == -1);
  /* DBSCAN, min_pts 3 within 0.5: 3 is a border point of the cluster */
  CHECK_EQ_INT(fk_cluster_dbscan(&g, 0.5f, 3, label), 1);
  CHECK(label[0] == 0 && label[2] == 0 && label[3] == 0 && label[4] == -1);
  /* within 0.3 only 0-1 (0.9) and 1-2, 0-2 (0.85, 0.8): 3 is noise */
  CHECK_EQ_INT(fk_cluster_dbscan(&g, 0.3f, 2, label), 1);
  CHECK(label[3] == -1);
}

static void test_scores_match_hand_computed_ones(void) {
  /* truth AAAB B, clusters {0,1} {2,3} {4} */
  const int32_t truth[5] = {0, 0, 0, 1, 1}, label[5] = {0, 0, 1, 1, -1};
  fk_cluster_scores s;
  CHECK_EQ_INT(fk_cluster_score(label, truth, 5, &s), FK_OK);
  /* BCubed precision: 1, 1, 1/2, 1/2, 1 -> 0.8; recall: 2/3, 2/3, 1/3, 1/2, 1/2 -> 8/15 */
  CHECK_NEAR(s.bcubed_p, 0.8, 1e-12);
  CHECK_NEAR(s.bcubed_r, 8.0 / 15, 1e-12);
  CHECK_NEAR(s.bcubed_f, 2 * 0.8 * (8.0 / 15) / (0.8 + 8.0 / 15), 1e-12);
  /* pairs put together: (0,1) right, (2,3) wrong; true pairs: 3 + 1 */
  CHECK_NEAR(s.pair_p, 0.5, 1e-12);
  CHECK_NEAR(s.pair_r, 0.25, 1e-12);
  CHECK_EQ_INT(s.clusters, 3);
  CHECK_EQ_INT(s.true_clusters, 2);
  CHECK_EQ_INT(s.unclustered, 1);
}

int main(void) {
  RUN(test_the_graph_is_the_exact_nearest_neighbours);
  RUN(test_persons_are_recovered);
  RUN(test_faces_of_one_image_stay_apart);
  RUN(test_earlier_persons_and_corrections_hold);
  RUN(test_the_baselines_follow_their_rules);
  RUN(test_scores_match_hand_computed_ones);
  return tu_summary();
}
