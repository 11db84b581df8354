/*
 * facekit_eval.h - the evaluation harness: LFW verification, gender,
 * retrieval on an index, and the int8 codes the evaluations compare. One
 * part of facekit.h, which includes every part.
 */
#ifndef FACEKIT_EVAL_H
#define FACEKIT_EVAL_H

#include "facekit_index.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== evaluations on LFW-style data ======================================= */
/*
 * Each image is represented by its subject (fk_subject: the face at the
 * centre, else the whole image), so every image counts. The runs use one
 * session per worker thread over the shared models. Errors come back as a
 * status and a message in the caller's err buffer.
 */

typedef struct fk_eval_options {
  size_t size;           /* sizeof the struct, set by fk_eval_options_init (first, always) */
  int jobs;  /* worker threads, one session each; 0 = all cores */
  /* Called after every image with the count done so far (from the worker
   * threads, one call at a time). */
  void (*progress)(int done, int total, void *user);
  /* Called for each image that cannot be read or analyzed. */
  void (*on_error)(const char *path, const char *message, void *user);
  void *user;
  /* If set, the run stops once *cancel != 0 and returns FK_ECANCELED. */
  const volatile int *cancel;
} fk_eval_options;

FK_API void fk_eval_options_init(fk_eval_options *o);

#define FK_LFW_MAX_FOLDS 100

/* LFW's verification protocol (pairs.txt: FOLDS x (N matched + N
 * mismatched pairs)): per fold, the threshold that maximizes accuracy on
 * the other folds, tested on it. */
typedef struct fk_lfw_result {
  int pairs, folds, images;
  int no_face;              /* images without a face at the min score */
  int subjects[4];          /* images per FK_SUBJECT_* case */
  int metric, codes;        /* as asked: FK_METRIC_*, FK_CODES_* */
  double accuracy_mean, accuracy_std;
  double fold_accuracy[FK_LFW_MAX_FOLDS];
  double auc;               /* of the ROC over all pairs */
  double tar_at_far_1e3;    /* true accepts at 0.1% false accepts */
  float threshold[3];       /* per FK_METRIC_*: the best over all pairs */
  double threshold_accuracy[3];
  /* A fused model of two recognizers (cosine): the share of the first
   * part's cosine fitted on each fold's training folds, and the protocol's
   * accuracy with those fits. */
  int fused;
  float fold_weight[FK_LFW_MAX_FOLDS];
  float fitted_weight_mean;
  double fitted_accuracy_mean, fitted_accuracy_std;
  /* ... and each part alone (cosine), from the same embeddings. */
  double part_accuracy_mean[2], part_accuracy_std[2], part_auc[2];
  double seconds;
} fk_lfw_result;

/* Runs the protocol on the images under root (PERSON/PERSON_NNNN.jpg) with
 * the pipeline of opt (NULL: defaults), comparing under metric, on the raw
 * embeddings (FK_CODES_F32) or on the int8 codes an index stores
 * (FK_CODES_INT8, scaled back to each embedding's norm). m must hold the
 * detector, landmarks and the model's recognizers. */
FK_API int fk_eval_lfw(const fk_models *m, const fk_options *opt, const char *root, const char *pairs_file,
                       int metric, int codes, const fk_eval_options *eo, fk_lfw_result *r, char *err,
                       size_t errlen);

/* Gender accuracy of one attribute model. confusion[truth][predicted],
 * index FK_GENDER_*. */
typedef struct fk_gender_scores {
  int64_t images;
  double accuracy, male_recall, female_recall, balanced_accuracy;
  int64_t confusion[FK_NUM_GENDERS][FK_NUM_GENDERS];
} fk_gender_scores;

typedef struct fk_gender_result {
  int images, male, female;
  int ambiguous;            /* names in both lists, left out */
  int no_face, subjects[4];
  int nmodels, models[2];   /* FK_ATTR_MODEL_* scored */
  fk_gender_scores all[2];  /* per model, over every image */
  fk_gender_scores with_face[2];  /* over images with a face at the min score */
  double seconds;
} fk_gender_result;

/* Gender of the images named in two lists (one "Person_Name_0001.jpg" per
 * line, at root/Person_Name/Person_Name_0001.jpg; LFW's male_names.txt and
 * female_names.txt), by each of the nmodels (1 or 2) attribute models, on
 * the same faces. */
FK_API int fk_eval_gender(const fk_models *m, const fk_options *opt, const char *root, const char *male_list,
                          const char *female_list, const int *attribute_models, int nmodels,
                          const fk_eval_options *eo, fk_gender_result *r, char *err, size_t errlen);

/* ---- evaluating retrieval ---- */

/* Retrieval on an identity-labelled index. Each image is represented by its
 * central face (nearest the image centre, LFW's convention); every image of
 * an identity with >= 2 images is a query, against all other images. An
 * image without a face still counts as a query (scoring 0) and as a
 * relevant item that is never retrieved. */
typedef struct fk_retrieval {
  int64_t queries;          /* images of identities with >= 2 images */
  int64_t identities;       /* such identities */
  int64_t gallery;          /* images with a face searched per query */
  int64_t no_face_queries;  /* queries whose image has no face */
  double p_at_1, p_at_5, map;   /* over all queries */
  double p_at_1_with_face, map_with_face;  /* over queries with a face */
  double seconds;
} fk_retrieval;

FK_API int fk_store_eval_retrieval(fk_store *st, int metric, int codes, int threads,
                                   fk_retrieval *r);

/* ---- clustering ----
 *
 * fk_store_eval_cluster(): how well faces group into persons, over the
 * central face of each image of an index (as eval retrieval takes them),
 * against true persons read from the paths: an image's parent folder (LFW's
 * layout) names its person. The method never sees those names. Scores:
 * BCubed (per face: the share of its cluster that is its person, and of
 * its person that is in its cluster, averaged) and pairwise (over pairs of
 * faces put together, and pairs of one person) precision, recall and F. */
typedef struct fk_cluster_scores {
  double bcubed_p, bcubed_r, bcubed_f;
  double pair_p, pair_r, pair_f;
  int64_t clusters, true_clusters, unclustered;
} fk_cluster_scores;

typedef struct fk_cluster_eval_options {
  size_t size;    /* sizeof, set by fk_cluster_eval_options_init */
  float link;     /* average-linkage similarity at which big clusters merge */
  float strict;   /* what small ones need more: link + strict / sqrt(a b) */
  int k;          /* neighbours per face in the graph */
  int threads;
  int baselines;  /* also Immich's and DBSCAN's, their parameters swept */
  int ann;        /* the neighbours through an HNSW graph, not exactly */
} fk_cluster_eval_options;

FK_API void fk_cluster_eval_options_init(fk_cluster_eval_options *o);

/* A baseline at its best parameters (by BCubed F). */
typedef struct fk_cluster_baseline {
  const char *method; /* "immich", "dbscan" */
  float distance;     /* maxDistance / eps: cosine distance */
  int min_faces;      /* minFaces / minPts */
  fk_cluster_scores s;
} fk_cluster_baseline;

typedef struct fk_cluster_eval {
  int64_t faces;
  fk_cluster_scores s;
  double seconds, graph_seconds, cluster_seconds;
  fk_cluster_baseline immich_default; /* 0.5, 3 */
  fk_cluster_baseline immich_best, immich_best_pairwise, dbscan_best;
} fk_cluster_eval;

FK_API int fk_store_eval_cluster(fk_store *st, const fk_cluster_eval_options *o, fk_cluster_eval *r);

/* Quantizes a unit vector to int8 codes: round(127 * v), clamped. */
FK_API void fk_quantize_i8(const float *unit, int8_t *code, int dim);

#ifdef __cplusplus
}
#endif
#endif /* FACEKIT_EVAL_H */
