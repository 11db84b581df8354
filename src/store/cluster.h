/*
 * cluster.h - grouping faces into persons (cluster.c): the k-nearest-
 * neighbour graph of unit vectors, the clustering over it, the methods it
 * is compared with, and the scores of a clustering against true labels.
 *
 * The method (fk_cluster_link) is average-linkage agglomeration: clusters
 * merge, the closest pair first, while the mean cosine similarity over all
 * pairs of their faces is at least `link`. For unit vectors that mean is
 * the dot product of the clusters' mean vectors, so it is exact however
 * large the clusters grow, and costs one dot product. Which pairs are
 * candidates comes from the k-NN graph: two clusters are compared when a
 * face of one has a face of the other among its k nearest, so the work
 * grows with n k, not n^2. Cannot-link constraints (faces of one image,
 * corrections) stop a merge whatever the similarity.
 */
#ifndef FK_STORE_CLUSTER_H
#define FK_STORE_CLUSTER_H

#include <pthreadpool.h>
#include <stdint.h>

#include "facekit.h"

/* Each row's k nearest other rows, most similar first: nbr[i*k + j] (-1
 * past the last when there are fewer) with cosine similarity sim[...]. */
typedef struct fk_knn {
  int64_t n;
  int k;
  int32_t *nbr;
  float *sim;
} fk_knn;

/* Exact k-NN of n unit rows (row-major, dim wide): the dot products of
 * blocks of rows against all rows by oneDNN's sgemm on `threads` threads,
 * the k best of each row picked on pool (NULL: this thread). FK_OK,
 * FK_ENOMEM or FK_EUNSUPPORTED. */
int fk_knn_exact(const float *v, int64_t n, int dim, int k, int threads, pthreadpool_t pool, fk_knn *g);
/* The same through an HNSW graph (faiss, ann.h) built over the rows, for
 * millions of faces: each row's k + 1 nearest by the graph, re-scored on
 * the exact vectors. Approximate: a true neighbour may be missed. FK_OK,
 * FK_ENOMEM, or FK_EUNSUPPORTED without faiss (FK_WITH_FAISS=OFF). */
int fk_knn_ann(const float *v, int64_t n, int dim, int k, int threads, pthreadpool_t pool, fk_knn *g);
void fk_knn_free(fk_knn *g);

/* What an earlier run and the user have said of the faces. */
typedef struct fk_cluster_prior {
  const int32_t *person;     /* each face's person (-1: none), NULL: none
                                has one; ids are below persons */
  int32_t persons;
  const uint8_t *named;      /* by person id: named by a user (NULL: none) */
  const int64_t *not_face;   /* nnot corrections: face not_face[j] is not */
  const int32_t *not_person; /* person not_person[j] */
  int64_t nnot;
} fk_cluster_prior;

/* Average-linkage agglomeration over g (above): clusters of a and b faces
 * merge while their linkage is at least link + strict / sqrt(a b), the
 * best pair first. A pair of single faces has one similarity to go by, two
 * big clusters a mean over many: the bar falls as the evidence grows.
 * Constraints:
 *   - the faces of each earlier person start as one cluster (must-link);
 *   - faces of one image (image[i], NULL: none) never share a cluster,
 *     a face corrected out of a person never rejoins it, and two named
 *     persons never merge (cannot-link).
 * label[i] gets row i's person: earlier persons keep their ids (a cluster
 * holding several takes the named one's, else its biggest's) and new ones
 * are numbered from prior->persons (0 without a prior) in order of their
 * first row. Returns the number of persons, or FK_ENOMEM. */
int64_t fk_cluster_link(const float *v, int64_t n, int dim, const fk_knn *g, const int64_t *image,
                        const fk_cluster_prior *prior, float link, float strict, int32_t *label);

/* Baselines, on the same graph. Immich's incremental DBSCAN: rows in
 * order; a row with at least min_faces rows (itself included) within
 * cosine distance max_distance among its nearest is a core and joins the
 * person of the first such neighbour that has one, or starts one; the
 * others are retried once after all rows, joining the nearest person
 * within max_distance, or are left out (label -1). */
int64_t fk_cluster_immich(const fk_knn *g, float max_distance, int min_faces, int32_t *label);
/* DBSCAN: clusters are the rows density-reachable from cores (rows with at
 * least min_pts rows, itself included, within eps); others are noise (-1). */
int64_t fk_cluster_dbscan(const fk_knn *g, float eps, int min_pts, int32_t *label);

/* A clustering scored against true labels (fk_cluster_scores in
 * facekit_eval.h). A row with label -1 is a cluster of its own. */
int fk_cluster_score(const int32_t *label, const int32_t *truth, int64_t n, fk_cluster_scores *s);

#endif /* FK_STORE_CLUSTER_H */
