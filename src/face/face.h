/*
 * face.h - internals of the face pipeline (src/face/): the model context,
 * the per-thread session, and the alignment geometry they share.
 */
#ifndef FK_FACE_H
#define FK_FACE_H

#include "base/error.h"
#include "facekit.h"
#include "image/image.h"
#include "models/models.h"

#define FK_ERRMSG_MAX 512

/* ---- the table of nets (nets.c) -------------------------------------------
 * Every network facekit can load is one row of fk_nets[]: its role, file,
 * loader and its role's operations: a detector's fk_detector_def (input
 * geometry, graphs per size, preprocessing, decoding), a landmark net's
 * fk_landmarker_def (crop, input, decoding), a recognizer's fk_recognizer
 * (chip geometry, normalization). Detectors and landmark nets also carry
 * the FK_DETECTOR_* / FK_LANDMARKS_* value and name the options choose
 * them by. Rows are indexed by FK_NETID_* (internal, free to reorder) and
 * each names its public FK_NET_* bit (ABI: never renumbered), so nothing
 * may take a bit position for a row index. Adding a net is one file in
 * src/models/ and one row in nets.c (with its FK_NETID_*, FK_NET_* bit and, for
 * a detector or landmark net, its public FK_DETECTOR_* / FK_LANDMARKS_*). */
enum {
  FK_NETID_SSD, FK_NETID_TINY, FK_NETID_LANDMARKS, FK_NETID_RESNET128,
  FK_NETID_AGEGENDER, FK_NETID_EXPRESSION, FK_NETID_GEAR,
  FK_NETID_MBF512, FK_NETID_RFB320, FK_NETID_LMK64, FK_NETID_BLAZEFACE,
  FK_NETID_POSE, FK_NETID_EYE,
  FK_NUM_NETS
};

typedef enum { FK_ROLE_DETECTOR, FK_ROLE_LANDMARKS, FK_ROLE_RECOGNIZER, FK_ROLE_ATTRIBUTE } fk_role;

/* How a recognizer wants its face chip. */
typedef struct fk_recognizer {
  int size;          /* square input side, pixels */
  int align;         /* the FK_ALIGN_* it was trained with (FK_ALIGN_AUTO) */
  double padding;    /* dlib-template modes: get_face_chip_details padding */
  int dim;           /* output width */
  /* In place: a raw 0..255 RGB chip ([size][size][3]) -> the net's input. */
  void (*normalize)(float *chip, size_t npix);
} fk_recognizer;

typedef struct fk_net_def {
  const char *name;  /* "ssd", "resnet128", ...: for messages and ids */
  unsigned bit;      /* its FK_NET_* (facekit_core.h) */
  fk_role role;
  const char *file;  /* in the models directory */
  /* Loads path into m (graph[id], or a detector's det[id]). */
  int (*load)(fk_models *m, int id, const char *path, char *err, size_t errlen);
  /* What fk_load_manifest and fk_load_graph call: a builder over a TFJS
   * weights manifest, or a loader of a whole graph file (TFJS graph model,
   * ONNX). Detectors name theirs in det. */
  int (*build)(const nn_weights *w, nn_graph **out, char *err, size_t errlen);
  int (*open)(const char *path, nn_graph **out, char *err, size_t errlen);
  const fk_recognizer *rec;     /* recognizers only */
  const fk_detector_def *det;   /* detectors only */
  const fk_landmarker_def *lmk; /* landmark nets only */
  /* Detectors and landmark nets: the FK_DETECTOR_* / FK_LANDMARKS_* that
   * selects the row, and its name in options (NULL: name). */
  int option;
  const char *option_name;
} fk_net_def;

extern const fk_net_def fk_nets[FK_NUM_NETS];

/* Every row's FK_NET_* bit: the bits fk_models_open() knows. */
unsigned fk_known_nets(void);

/* The row of a detector (FK_DETECTOR_*) and of a landmark net
 * (FK_LANDMARKS_*); -1 if there is none. */
int fk_detector_net(int detector);
int fk_landmarks_net(int landmarks);

/* The kinds of loader a row can name (context.c): a detector through its
 * fk_detector_def (its prebuilt sizes, with their state; built ones keep
 * their weights to build other sizes); a TFJS weights manifest through the
 * row's build(); a whole graph file through the row's open(). */
int fk_load_detector(fk_models *m, int id, const char *path, char *err, size_t errlen);
int fk_load_manifest(fk_models *m, int id, const char *path, char *err, size_t errlen);
int fk_load_graph(fk_models *m, int id, const char *path, char *err, size_t errlen);

/* A recognition model (FK_MODEL_*): one recognizer, or several whose unit
 * embeddings are weighted and concatenated into one unit vector
 * (represent.c). */
#define FK_MODEL_MAX_PARTS 2
typedef struct fk_model_def {
  const char *name;
  int nparts;
  int part[FK_MODEL_MAX_PARTS];     /* FK_NETID_* */
  float weight[FK_MODEL_MAX_PARTS]; /* fused: each part's share of the
                                       cosine, summing to 1 */
  float threshold[3];               /* per FK_METRIC_*, fitted on LFW */
} fk_model_def;

extern const fk_model_def fk_model_defs[FK_NUM_MODELS];
/* The recognition model fk_options_init() picks. */
extern const int fk_default_model;



/* A detector's graph at one input size, with the state its decoding needs
 * there (fk_detector_def.state_new). */
typedef struct fk_det_graph {
  int size;                  /* square side, or the fixed width; 0: unused */
  nn_graph *graph;
  void *state;
} fk_det_graph;

struct fk_models {
  unsigned nets;             /* FK_NET_* loaded */
  nn_graph *graph[FK_NUM_NETS]; /* per row but the detectors, NULL unless loaded */
  /* Per detector row: the sizes built at load (det[id][0].graph is NULL
   * unless loaded) and, for built ones, the weights kept to build others. */
  fk_det_graph det[FK_NUM_NETS][FK_DET_MAX_SIZES];
  nn_weights weights[FK_NUM_NETS];
  nn_budget *budget;         /* the cores this context's sessions share */
  char err[FK_ERRMSG_MAX];
};

/* The detector at one input size, created on first use: the graph and
 * state (the model context's, or built by the session for a size the
 * context lacks) and this session's runtime for it. */
typedef struct fk_det_slot {
  int size;                  /* 0: unused */
  nn_graph *own;             /* built here, with own_state */
  void *own_state;
  const nn_graph *graph;
  const void *state;
  nn_runtime *rt;
} fk_det_slot;

struct fk_session {
  const fk_models *m;
  fk_options opt;
  nn_threads *threads;       /* opt.threads, drawing on m->budget */
  nn_sched sched;            /* of every runtime (adaptive but in benches) */
  int det_id, lmk_id;        /* the rows of opt.detector, opt.landmarks */
  fk_det_slot det[FK_DET_MAX_SIZES];
  nn_runtime *rt[FK_NUM_NETS]; /* every loaded net but the detectors */
  fk_det *dets;              /* detection scratch, opt.max_faces long */
  char err[FK_ERRMSG_MAX];
};

/* The detector slot for an image, created on first use; on failure the
 * session's error says why. */
int fk_session_detector(fk_session *s, const fk_image *img, fk_det_slot **out);

/* Sets how every runtime of s, now and later, picks its thread count
 * (bench_load compares the choices). */
void fk_session_set_sched(fk_session *s, nn_sched sched);
/* Runs the detector at min_score into s->dets (sorted by score, at most
 * opt.max_faces) and their number to *ndet; no landmarks. */
int fk_detect_boxes(fk_session *s, const fk_image *img, float min_score, int *ndet);
/* A face from one detection: its box, score and landmarks (the embedding is
 * left alone). 1, 0 if its crop lies outside the image, or a negative
 * status (the session's error says why). */
int fk_face_from_det(fk_session *s, const fk_image *img, const fk_det *d, fk_face *f);

/* Records a formatted message in s->err and returns status. */
#define fk_session_fail(s, ...) fk_fail((s)->err, sizeof (s)->err, __VA_ARGS__)

/* face-api's descriptor crop (FaceLandmarks.alignDlib, then the clip and
 * floor of extractFaceTensors). Returns 0 if the crop is empty. */
int fk_align_faceapi_rect(const fk_point pts[FK_NUM_LANDMARKS], int img_w,
                          int img_h, fk_rect *crop);

/* The similarity transform (chip pixel -> image pixel, as fk_warp_affine's
 * m) that maps a template face in a size x size chip onto the face's
 * landmarks. FK_ALIGN_5POINT fits five points derived from the 68 (eye
 * centres, nose tip, mouth corners) to dlib's mean face padded by
 * `padding`; FK_ALIGN_DLIB the 33 points dlib's get_face_chip_details uses;
 * FK_ALIGN_ARCFACE five points to the ArcFace 112x112 template scaled to
 * size (padding unused). */
void fk_align_chip_transform(const fk_point pts[FK_NUM_LANDMARKS], int mode, int size,
                             double padding, double m[6]);

#endif /* FK_FACE_H */
