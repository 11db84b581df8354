/*
 * facekit.h - the one public API of facekit: face detection, alignment,
 * face embeddings, verification, attributes and reverse face search, in C.
 *
 * Objects and their lifecycle:
 *   fk_models   the loaded networks. Read-only after fk_models_open() but for
 *               an atomic count of the cores its sessions' runs occupy (so
 *               that sessions sharing it never oversubscribe the machine):
 *               one instance may be shared by any number of threads.
 *   fk_session  scratch buffers and inference runtimes for one thread. Create
 *               one per thread from a shared fk_models.
 *   fk_image    a decoded 8-bit RGB image owned by the caller.
 *
 * Every fallible function returns an int status: FK_OK (0) or one of the
 * negative FK_E* codes below. fk_strerror() turns a code into a message;
 * fk_models_errmsg() and fk_session_errmsg() give the detail of the last
 * failure on that handle (which file, which tensor, ...).
 *
 * Nothing in facekit downloads anything. Models are fetched once by the
 * set-up step (`make models`, i.e. tools/fetch-models.sh).
 */
#ifndef FACEKIT_H
#define FACEKIT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "facekit_version.h" /* FK_VERSION_MAJOR, ..., FK_VERSION_NUMBER, FK_VERSION */

/* Marks the exported functions (the library is built with hidden
 * visibility, so nothing else leaks out of libfacekit.so). */
#if defined(__GNUC__)
#define FK_API __attribute__((visibility("default")))
#else
#define FK_API
#endif

/* Options structs. Each struct the caller allocates and the library reads
 * (fk_options, fk_index_options, fk_search_options, fk_tracker_options,
 * fk_eval_options) begins with its size, which its fk_*_init sets: fill it
 * with that, then change fields. Fields are only ever added at the end, and
 * the library gives a program built against an older header the defaults
 * for the fields that header lacks; a struct that was never initialized
 * (size 0) is refused with FK_EINVAL. */

/* The version of the library this program runs with, as FK_VERSION_NUMBER
 * (which gives the header's it was compiled with), and as text. */
FK_API int fk_version(void);
FK_API const char *fk_version_string(void);

/* ---- status codes ------------------------------------------------------ */
enum {
  FK_OK = 0,
  FK_ENOMEM = -1,         /* out of memory */
  FK_EINVAL = -2,         /* invalid argument */
  FK_ENOENT = -3,         /* file not found */
  FK_EIO = -4,            /* read or write error */
  FK_EEMPTY = -5,         /* file is empty */
  FK_EFORMAT = -6,        /* not a supported image format */
  FK_ECORRUPT = -7,       /* image data truncated or corrupt */
  FK_ETOOBIG = -8,        /* image dimensions exceed the pixel limit */
  FK_EMODEL_MISSING = -9, /* model files not found: run the fetch step */
  FK_EMODEL = -10,        /* model files corrupt or inconsistent */
  FK_EBACKEND = -11,      /* inference backend (oneDNN, XNNPACK) failed */
  FK_ENOFACE = -12,       /* no face detected */
  FK_EUNSUPPORTED = -13,  /* valid input facekit cannot handle */
  FK_ENOTINDEX = -14,     /* file is not a facekit index (fk_store_*) */
  FK_EMISMATCH = -15,     /* index built with another model or preprocessing */
  FK_EREADONLY = -16,     /* index cannot be written (read-only file or dir) */
  FK_EDB = -17,           /* database error (disk full, locked, SQL error, ...) */
  FK_ECANCELED = -18,     /* stopped on request; committed work is kept */
  FK_EAUTH = -19,         /* the database server refused the credentials */
};

/* A static message for a status code; never NULL. */
FK_API const char *fk_strerror(int status);

/* ---- images -------------------------------------------------------------- */

/* Interleaved 8-bit RGB, rows packed (stride = 3 * width). */
typedef struct fk_image {
  int width, height;
  uint8_t *rgb;
} fk_image;

/* Default ceiling on decoded pixels (width * height), against
 * decompression bombs. */
#define FK_DEFAULT_MAX_PIXELS (64u * 1024u * 1024u)

/* Decodes a JPEG, PNG or WebP file (sniffed from its bytes, not its name),
 * applies the EXIF orientation, converts grayscale, CMYK, 16-bit and alpha
 * to 8-bit RGB (alpha is composited over white). max_pixels = 0 means
 * FK_DEFAULT_MAX_PIXELS. On failure *img is zeroed. */
FK_API int fk_image_load(const char *path, size_t max_pixels, fk_image *img);
FK_API int fk_image_decode(const void *data, size_t size, size_t max_pixels,
                    fk_image *img);
/* Writes an 8-bit RGB PNG. */
FK_API int fk_image_save_png(const fk_image *img, const char *path);
FK_API void fk_image_free(fk_image *img);

/* ---- models and sessions --------------------------------------------------- */

typedef struct fk_models fk_models;
typedef struct fk_session fk_session;

/* Which networks to load (fk_models_open). Each bit is one row of the
 * table of nets (src/face/nets.c). */
enum {
  FK_NET_SSD = 1 << 0,        /* SSD-MobileNetV1 face detector */
  FK_NET_TINY = 1 << 1,       /* TinyFaceDetector */
  FK_NET_LANDMARKS = 1 << 2,  /* 68-point landmarks */
  FK_NET_RESNET128 = 1 << 3,  /* dlib's ResNet-34-like 128-d recognizer */
  FK_NET_AGEGENDER = 1 << 4,  /* face-api age/gender head */
  FK_NET_EXPRESSION = 1 << 5, /* face-api expression head */
  FK_NET_GEAR = 1 << 6,       /* human-models gear: race, age, gender */
  FK_NET_ATTRIBUTES = 0x70,
  FK_NET_MBF512 = 1 << 7,     /* faceplugin's MobileFaceNet, 512-d recognizer */
  FK_NET_RFB320 = 1 << 8,     /* faceplugin's RFB-320 face detector */
  FK_NET_LMK64 = 1 << 9,      /* faceplugin's 68 landmarks from a 64x64 crop */
  FK_NET_BLAZEFACE = 1 << 10, /* human's BlazeFace face detector */
};
/* What fk_models_open(dir, 0) loads: the default detector, the landmarks
 * and the nets of the default recognition model. */
FK_API unsigned fk_default_nets(void);

/* Loads the networks in `nets` (0: fk_default_nets()) from `dir` (NULL:
 * $FACEKIT_MODELS, else ./models). *out is set even on failure, so that fk_models_errmsg() can tell
 * what went wrong; free it with fk_models_free() in both cases. */
FK_API int fk_models_open(const char *dir, unsigned nets, fk_models **out);
FK_API const char *fk_models_errmsg(const fk_models *m);
FK_API void fk_models_free(fk_models *m);

/* Face detectors: face-api's SSD-MobileNetV1 and TinyFaceDetector,
 * faceplugin's RFB-320 (a fixed 320x240 input) and human's BlazeFace (a
 * fixed 256x256 input). */
enum { FK_DETECTOR_SSD = 0, FK_DETECTOR_TINY = 1, FK_DETECTOR_RFB320 = 2, FK_DETECTOR_BLAZEFACE = 3 };
/* Where the 68 landmarks come from: face-api's net (112x112 crop of the
 * detection) or faceplugin's (64x64 gray crop). */
enum { FK_LANDMARKS_FACEAPI = 0, FK_LANDMARKS_LMK64 = 1 };
/* Recognizer chip alignment. FK_ALIGN_AUTO (the default) gives each
 * recognizer the alignment it was trained with (see fk_model_*):
 *   face-api  face-api's unrotated square crop;
 *   5point    a similarity warp fitting dlib's mean face (padded 0.25) to 5
 *             points: eye centres, nose tip, mouth corners;
 *   dlib      the same over the 33 points dlib's get_face_chip_details uses;
 *   arcface   a similarity warp fitting the same 5 points to the ArcFace
 *             112x112 template (scaled to the recognizer's input). */
enum {
  FK_ALIGN_AUTO = -1,
  FK_ALIGN_FACEAPI = 0,
  FK_ALIGN_5POINT = 1,
  FK_ALIGN_DLIB = 2,
  FK_ALIGN_ARCFACE = 3,
};
/* Inference backends. AUTO (the default) is oneDNN for every network: it
 * measured fastest on each (README, Speed). REFERENCE is plain C, for
 * tests. */
enum {
  FK_BACKEND_XNNPACK = 0,
  FK_BACKEND_REFERENCE = 1,
  FK_BACKEND_ONEDNN = 2,
  FK_BACKEND_AUTO = 3,
};
/* The number type the nets compute in. BF16 needs the oneDNN backend and a
 * CPU with native bf16 (AVX512-BF16 or AMX-BF16): elsewhere a session
 * refuses it (FK_EUNSUPPORTED) rather than emulate it. AUTO (the default)
 * takes, per CPU, the fastest precision measured to keep LFW accuracy
 * (README, Speed): f32 on every CPU measured so far, since bf16 on
 * AVX512-BF16 without AMX ran slower than f32 there. */
enum {
  FK_PRECISION_F32 = 0,
  FK_PRECISION_BF16 = 1,
  FK_PRECISION_AUTO = 2,
};
/* "f32", "bf16", "auto"; NULL when unknown. */
FK_API const char *fk_precision_name(int precision);
/* The FK_PRECISION_* of a name; -1 if unknown. */
FK_API int fk_precision_from_name(const char *name);

/* Parses "xnnpack" | "reference" | "onednn" | "auto"; -1 if unknown. */
FK_API int fk_backend_from_name(const char *name);
FK_API const char *fk_backend_name(int backend);

/* Recognition models, DeepFace's model_name: which net (or nets) turn a face
 * into an embedding. Each has its own width (fk_model_dim) and thresholds. */
enum {
  FK_MODEL_RESNET128 = 0, /* dlib's ResNet as ported by face-api, 128-d */
  FK_MODEL_MBF512 = 1,    /* faceplugin's MobileFaceNet (ArcFace-style), 512-d */
  FK_MODEL_FUSED = 2,     /* both, unit vectors weighted and joined, 640-d */
  FK_NUM_MODELS
};

typedef struct fk_options fk_options; /* below */

/* Widest embedding any model gives: the size of fk_face.embedding. */
#define FK_EMBED_MAX 1024

/* "resnet128", ...; NULL when out of range. */
FK_API const char *fk_model_name(int model);
/* The FK_MODEL_* of a name; -1 if unknown. */
FK_API int fk_model_from_name(const char *name);
/* Width of the model's embeddings; 0 when out of range. */
FK_API int fk_model_dim(int model);
/* The name of part k of a model: the model's own name for single-net
 * models (k = 0), each recognizer's for fused ones; NULL when out of
 * range. */
FK_API const char *fk_model_part_name(int model, int part);
/* The share of the cosine part k has in a fused model's cosine (1 for a
 * single-net model); NAN when out of range. */
FK_API float fk_model_fusion_weight(int model, int part);
/* The FK_NET_* bits the model needs. */
FK_API unsigned fk_model_nets(int model);
/* The alignment each part of a model gets under the option `align`, as
 * results and indexes record it: one name when every part gets the same
 * ("5point"), else the parts' names joined by '+' ("arcface+5point"). */
FK_API void fk_model_align_name(int model, int align, char *buf, size_t size);
/* "face-api", "5point", "dlib", "arcface", "auto"; NULL when unknown. */
FK_API const char *fk_align_name(int align);
/* The FK_ALIGN_* of a name; -2 if unknown (FK_ALIGN_AUTO is -1). */
FK_API int fk_align_from_name(const char *name);
/* "ssd", "tiny", "rfb320", "blazeface"; NULL when unknown. */
FK_API const char *fk_detector_name(int detector);
/* Writes name(0), name(1), ... up to the first NULL, joined by ", ", into
 * buf (NUL-terminated, cut to size), for messages and help: e.g.
 * fk_names(fk_model_name, buf, sizeof buf) gives "resnet128, mbf512,
 * fused". Returns the length of the whole list (as snprintf does). */
FK_API size_t fk_names(const char *(*name)(int), char *buf, size_t size);
/* The FK_DETECTOR_* of a name; -1 if unknown. */
FK_API int fk_detector_from_name(const char *name);
/* The detector's input size under these options as results and indexes
 * record it: "256", "auto" (SSD's automatic size), "320x240" (RFB-320) or
 * "256x256" (BlazeFace). */
FK_API void fk_detector_input_name(const fk_options *opt, char *buf, size_t size);
/* "face-api", "lmk64"; NULL when unknown. */
FK_API const char *fk_landmarks_name(int landmarks);
/* The FK_LANDMARKS_* of a name; -1 if unknown. */
FK_API int fk_landmarks_from_name(const char *name);
/* The FK_NET_* bits detection needs with these options: the detector and
 * the landmark net. */
FK_API unsigned fk_detect_nets(const fk_options *opt);

typedef struct fk_options {
  size_t size;           /* sizeof the struct, set by fk_options_init (first, always) */
  int detector;          /* FK_DETECTOR_* */
  int landmarks;         /* FK_LANDMARKS_*: the 68-point net */
  int ssd_input_size;    /* SSD input side, a multiple of 32; 0 (the default)
                            picks 256, 384 or 512, the first not much smaller
                            than the image's longer side. face-api uses 512. */
  int tiny_input_size;   /* Tiny detector input side, multiple of 32 (416) */
  float min_score;       /* detections scoring <= this are dropped */
  int max_faces;         /* detections kept after NMS (default 100) */
  int model;             /* FK_MODEL_*: the recognition model (default: the
                            most accurate on LFW retrieval, see README) */
  int align;             /* FK_ALIGN_* (default FK_ALIGN_AUTO: each
                            recognizer's own) */
  int flip;              /* 1 (default): also embed the mirrored chip and
                            average the two (test-time augmentation; doubles
                            the recognizer's cost, +0.3% on LFW) */
  int threads;           /* inference threads for this session (default 1):
                            a run uses that many only while it measures
                            faster than one thread (it is not under a
                            competing load) and the sessions of the same
                            fk_models leave a core free for each helper */
  int backend;           /* FK_BACKEND_* (default FK_BACKEND_AUTO) */
  size_t max_pixels;     /* decode limit, 0 = FK_DEFAULT_MAX_PIXELS */
  int attribute_model;   /* FK_ATTR_MODEL_*: the source of age and gender
                            in fk_analyze() (default face-api) */
  int precision;         /* FK_PRECISION_* (default FK_PRECISION_AUTO) */
} fk_options;

/* Fills *o with the defaults. */
FK_API void fk_options_init(fk_options *o);

/* Creates a per-thread session. opt may be NULL for the defaults. *out is set
 * even on failure (see fk_session_errmsg). */
FK_API int fk_session_new(const fk_models *m, const fk_options *opt,
                   fk_session **out);
FK_API const char *fk_session_errmsg(const fk_session *s);
FK_API void fk_session_free(fk_session *s);

/* ---- faces ----------------------------------------------------------------- */

#define FK_NUM_LANDMARKS 68

typedef struct fk_box { float x, y, w, h; } fk_box;
typedef struct fk_point { float x, y; } fk_point;

typedef struct fk_face {
  fk_box box;                            /* in image pixels */
  float score;                           /* detector confidence, 0..1 */
  fk_point landmarks[FK_NUM_LANDMARKS];  /* in image pixels */
  int model;                             /* FK_MODEL_* of the embedding */
  int dim;                               /* its width; 0 until fk_represent() */
  float embedding[FK_EMBED_MAX];         /* embedding[0..dim), set by
                                            fk_represent(); raw (not
                                            normalized) for single-net
                                            models */
} fk_face;

/* Detects faces and their 68 landmarks, sorted by decreasing score. Writes up
 * to `cap` faces to faces[] and the number found to *n (which may exceed
 * cap). Finding no face is not an error here: *n = 0. */
FK_API int fk_detect(fk_session *s, const fk_image *img, fk_face *faces, int cap,
              int *n);

/* The detector alone: boxes and scores as fk_detect gives them, without the
 * landmark net (landmarks are left zero). For callers that need landmarks
 * of only some faces, e.g. a tracker following boxes between the frames it
 * embeds; fk_landmarks then adds them to the faces that need them. */
FK_API int fk_detect_no_landmarks(fk_session *s, const fk_image *img, fk_face *faces, int cap, int *n);

/* Fills *face from a face box found some other way (another detector, or
 * the whole image when none was found): the box, score 0 and the 68
 * landmarks the landmark net places in it. FK_ENOFACE if the box lies
 * outside the image. */
FK_API int fk_landmarks(fk_session *s, const fk_image *img, fk_box box, fk_face *face);

/* Computes face->embedding, ->dim and ->model from the face's landmarks
 * with the session's recognition model and alignment. */
FK_API int fk_represent(fk_session *s, const fk_image *img, fk_face *face);

/* Sets face->embedding, ->dim and ->model from an image used as the face
 * chip as it is, resized to each recognizer's input (other fields are left
 * as they are). */
FK_API int fk_represent_chip(fk_session *s, const fk_image *chip, fk_face *face);

/* DeepFace's enforce_detection=false: the whole image taken as the one face
 * of an image without one. The box is the image, score 0, the landmarks
 * those the landmark net places in it, and with embed the embedding of the
 * image as the chip (fk_represent_chip). */
FK_API int fk_whole_image_face(fk_session *s, const fk_image *img, int embed, fk_face *face);

/* How fk_subject() found a photo's subject. */
enum {
  FK_SUBJECT_CENTRED = 0,     /* a detection near the centre, at the session's
                                 min score */
  FK_SUBJECT_LOW_SCORE = 1,   /* one near the centre at a low score (0.05) */
  FK_SUBJECT_OFF_CENTRE = 2,  /* none near the centre: the one nearest it */
  FK_SUBJECT_WHOLE_IMAGE = 3, /* no face: fk_whole_image_face() */
};

/* The subject of a photo centred on one person, as LFW's are (the face the
 * evaluations compare): the best-scoring detection whose centre lies within
 * a fifth of the longer side of the image centre; else such a detection at a
 * low score; else the detection nearest the centre; else the whole image.
 * *how gets the FK_SUBJECT_* case, *no_face (may be NULL) whether no face
 * was found at the session's min score; with embed, the face is embedded
 * too. */
FK_API int fk_subject(fk_session *s, const fk_image *img, int embed, fk_face *face, int *how,
                      int *no_face);

/* Index of the face with the largest box area, or -1 when n == 0. */
FK_API int fk_largest_face(const fk_face *faces, int n);
/* Index of the face whose box centre is nearest the image centre (LFW's
 * convention for the subject of a photo), or -1 when n == 0. */
FK_API int fk_central_face(const fk_face *faces, int n, int width, int height);

/* Reorders faces[0..n) so that the k largest boxes (by area) come first,
 * largest first, the rest after them in their order; returns min(k, n).
 * DeepFace's max_faces. */
FK_API int fk_keep_largest_faces(fk_face *faces, int n, int k);

/* fk_detect, then fk_represent for each face written to faces[]. */
FK_API int fk_faces(fk_session *s, const fk_image *img, fk_face *faces, int cap,
                    int *n);

/* ---- comparing embeddings ------------------------------------------------ */

enum { FK_METRIC_COSINE = 0, FK_METRIC_EUCLIDEAN = 1, FK_METRIC_EUCLIDEAN_L2 = 2 };

/* Scales v to unit L2 norm in place (a zero vector stays zero). */
FK_API void fk_l2_normalize(float *v, int dim);
/* Cosine distance (1 - cos), Euclidean, or Euclidean after L2 normalization. */
FK_API float fk_distance(const float *a, const float *b, int dim, int metric);
/* The default same-person threshold of a model's embeddings under a metric,
 * fitted on LFW (README); NAN when either is out of range. */
FK_API float fk_model_threshold(int model, int metric);
/* Parses "cosine" | "euclidean" | "euclidean_l2"; -1 if unknown. */
FK_API int fk_metric_from_name(const char *name);
FK_API const char *fk_metric_name(int metric);

typedef struct fk_verify_result {
  int verified;         /* distance <= threshold */
  float distance;
  float threshold;
  int metric;           /* FK_METRIC_* */
  fk_face face1, face2; /* the largest face of each image */
} fk_verify_result;

/* Verification as DeepFace does it: the largest face of each image, their
 * embeddings, the distance under `metric` against `threshold` (a negative
 * threshold means fk_model_threshold(the session's model, metric)). FK_ENOFACE when either
 * image has no face; fk_session_errmsg() says which. */
FK_API int fk_verify(fk_session *s, const fk_image *img1, const fk_image *img2,
              int metric, float threshold, fk_verify_result *r);

/* ---- attributes: age, gender, emotion, race ------------------------------ */

/* What fk_analyze() computes (DeepFace's "actions"). */
enum {
  FK_ACTION_AGE = 1 << 0,
  FK_ACTION_GENDER = 1 << 1,
  FK_ACTION_EMOTION = 1 << 2,
  FK_ACTION_RACE = 1 << 3,
  FK_ACTION_ALL = 0xF,
};

/* The net age and gender come from: face-api's age/gender head, or gear
 * (which also gives race; emotion always comes from face-api's expression
 * head). */
enum { FK_ATTR_MODEL_FACEAPI = 0, FK_ATTR_MODEL_GEAR = 1 };

/* Class orders, named as DeepFace names them (see fk_*_name()). */
enum { FK_GENDER_WOMAN = 0, FK_GENDER_MAN = 1, FK_NUM_GENDERS = 2 };
enum {
  FK_EMOTION_ANGRY, FK_EMOTION_DISGUST, FK_EMOTION_FEAR, FK_EMOTION_HAPPY,
  FK_EMOTION_SAD, FK_EMOTION_SURPRISE, FK_EMOTION_NEUTRAL, FK_NUM_EMOTIONS
};
enum {
  FK_RACE_WHITE, FK_RACE_BLACK, FK_RACE_ASIAN, FK_RACE_INDIAN, FK_RACE_OTHER,
  FK_NUM_RACES
};

typedef struct fk_attributes {
  unsigned actions;               /* FK_ACTION_* that were computed */
  float age;                      /* years */
  float gender[FK_NUM_GENDERS];   /* probabilities, summing to 1 */
  int gender_dominant;            /* FK_GENDER_* */
  float emotion[FK_NUM_EMOTIONS]; /* probabilities, summing to 1 */
  int emotion_dominant;           /* FK_EMOTION_* */
  float race[FK_NUM_RACES];       /* probabilities, summing to 1 */
  int race_dominant;              /* FK_RACE_* */
} fk_attributes;

/* "Woman"/"Man"; "angry", "disgust", "fear", "happy", "sad", "surprise",
 * "neutral"; "white", "black", "asian", "indian", "other". NULL when out of
 * range. */
FK_API const char *fk_gender_name(int gender);
FK_API const char *fk_emotion_name(int emotion);
FK_API const char *fk_race_name(int race);
/* Parses a comma-separated list of "age", "gender", "emotion", "race" into
 * FK_ACTION_* bits; -1 if a name is unknown or the list is empty. */
FK_API int fk_actions_from_names(const char *list);

/* Computes the requested attributes of one detected face (its box and
 * landmarks from fk_detect). face-api's age/gender head is run on the face
 * and its mirror image, averaged, and its gender corrected for the head's
 * bias towards "Man" (fitted on LFW; see src/face/analyze.c). The models must hold the nets the actions
 * need: FK_NET_AGEGENDER (or FK_NET_GEAR with attribute_model gear) for age
 * and gender, FK_NET_EXPRESSION for emotion, FK_NET_GEAR for race; else
 * FK_EINVAL naming the missing net. out->actions says what was computed. */
FK_API int fk_analyze(fk_session *s, const fk_image *img, const fk_face *face,
                      unsigned actions, fk_attributes *out);

/* The nets fk_analyze() needs for these actions and attribute model. */
FK_API unsigned fk_analyze_nets(unsigned actions, int attribute_model);

/* ==== face index: reverse face search over SQLite or PostgreSQL ========== */
/*
 * An fk_store is one index - a SQLite file (WAL mode), or a PostgreSQL
 * database that many processes on many machines index into and search at
 * once - holding every face of a photo collection: tables images (path, size, mtime, SHA-256, size, status),
 * faces (box, landmarks, score, model, L2-normalized embedding as f32 and
 * int8 BLOBs of the model's width), identities (the parent folder's name) and meta (the model
 * fingerprint and the preprocessing the embeddings were made with).
 *
 * Searching does not read the faces table row by row: the vectors live in a
 * sidecar file next to a SQLite index (PATH.vec: one contiguous f32 matrix,
 * one int8 matrix and per-face ids), memory-mapped on load. It is a cache:
 * it carries the index's uuid and generation and is rebuilt from the faces
 * table whenever it is missing or stale. A PostgreSQL index has no files:
 * its vectors load into the same layout with one binary COPY. Either way
 * they then follow the index by its change sequence, reading only what
 * changed.
 *
 * Codes: a unit vector v quantizes to int8 as round(127 * v[i]) (never
 * -128); the cosine of two codes, dot / (|a| |b|), estimates the cosine of
 * the vectors. An int8 scan reads dim bytes + a 4-byte scale per face.
 *
 * Threads: an fk_store serves one thread at a time; other threads open
 * their own on the same index (the database serializes writers). The one thing
 * threads share is the loaded vectors (fk_store_vectors below): any thread
 * may search them while the store's own thread writes.
 */
typedef struct fk_store fk_store;

enum {
  FK_STORE_READ = 0,   /* open an existing index for searching */
  FK_STORE_WRITE = 1,  /* open or create an index for writing */
};

/* Opens (or with FK_STORE_WRITE creates) the index at path: a SQLite file,
 * or, for a locator that starts with "postgresql:" or "postgres:", a
 * PostgreSQL database (any libpq URI, e.g. postgresql://user@host/db, or
 * "postgresql:" alone to take every parameter from the PG* environment
 * variables); the database must exist, and its schema is made on the first
 * FK_STORE_WRITE. *out is set even on failure so that fk_store_errmsg() can
 * explain; close it in both cases. FK_ENOENT: no such file or database
 * (FK_STORE_READ); FK_ENOTINDEX: not SQLite, a SQLite or PostgreSQL
 * database of something else, or an empty one (FK_STORE_READ);
 * FK_EREADONLY: FK_STORE_WRITE on a file or directory that cannot be
 * written; FK_EUNSUPPORTED: made by a newer facekit, or a PostgreSQL
 * locator in a build without it (FK_WITH_POSTGRES=OFF); FK_EAUTH: the server
 * refused the credentials; FK_EIO: the server cannot be reached. Messages
 * never show a password. */
FK_API int fk_store_open(const char *path, int mode, fk_store **out);
FK_API const char *fk_store_errmsg(const fk_store *st);
FK_API void fk_store_close(fk_store *st);

/* What an index holds and how it was made. */
typedef struct fk_store_info {
  int has_model;            /* 0 until the first fk_store_index() */
  char model[64];           /* "resnet128-<fingerprint of the weights>" */
  int dim;                  /* embedding width (0 until has_model) */
  fk_options opt;           /* detector, input sizes, min score, max faces,
                               align and flip recorded at creation; the
                               other fields are the defaults */
  int64_t images, faces, identities;
  int64_t no_face, errors;  /* images without a face / unreadable */
  int64_t generation;       /* bumped by every commit that changes faces */
  int64_t seq;              /* change sequence: bumped by every face added,
                               deleted or relabelled (0 before format 3) */
} fk_store_info;

FK_API int fk_store_get_info(fk_store *st, fk_store_info *info);

/* The fingerprint of a recognition model as loaded in m (its name, "-",
 * and 16 hex digits of a hash over its nets' weights), as recorded in
 * indexes. buf holds >= 64 bytes. FK_EINVAL if a net it needs is not
 * loaded. */
FK_API int fk_model_id(const fk_models *m, int model, char *buf, size_t size);

/* FK_OK if embeddings made with (m, opt) belong in this index: the same
 * model (opt->model), alignment and flip (what defines the embedding space) and, when
 * strict, the same detector settings too. Otherwise FK_EMISMATCH and
 * fk_store_errmsg() names the difference. An index with no model yet
 * accepts anything. */
FK_API int fk_store_check(fk_store *st, const fk_models *m, const fk_options *opt,
                          int strict);

/* ---- building an index ---- */

/* Counters of one fk_store_index() run (seconds are wall time, except the
 * stage times, which are summed over the worker threads). */
typedef struct fk_index_stats {
  int64_t found;      /* image files found under the directory */
  int64_t skipped;    /* other files seen and ignored */
  int64_t todo;       /* new or changed files this run must process (less
                         those another run had claimed) */
  int64_t done;       /* of those, processed so far (all committed when the run returns) */
  int64_t unchanged;  /* same path, size and mtime: not read */
  int64_t added, updated;  /* embedded: new paths / changed contents */
  int64_t retried;    /* unreadable last time, read again (and counted here only) */
  int64_t moved;      /* known content at a new path: row moved, not re-embedded */
  int64_t touched;    /* new mtime, same content: only the mtime is updated */
  int64_t missing;    /* rows whose file is gone (kept unless pruned) */
  int64_t pruned;     /* of those, deleted (prune option) */
  int64_t faces;      /* faces stored by this run */
  int64_t no_face, errors;  /* images of this run with no face / unreadable */
  int64_t other_shards;     /* files left to the other shards (shards > 1) */
  int64_t elsewhere;        /* files another process was indexing, or had
                               just indexed (claims, PostgreSQL) */
  int64_t taken_over;       /* files whose claim had expired: a worker that
                               stopped without finishing them */
  double elapsed;
  double t_read, t_decode, t_detect, t_represent;  /* worker stages */
  double t_db;        /* the writer thread's database time */
} fk_index_stats;

typedef struct fk_index_options {
  size_t size;           /* sizeof the struct, set by fk_index_options_init (first, always) */
  int jobs;          /* worker threads, one fk_session each; 0 = all cores */
  int prune;         /* delete rows of files under the directory that are gone */
  int batch;         /* images per transaction (default 64) */
  int commit_ms;     /* ... or commit at least this often (default 1000) */
  int progress_ms;   /* minimum interval between progress calls (200) */
  /* Called on the calling thread after commits, at most every progress_ms,
   * and once at the end. */
  void (*progress)(const fk_index_stats *s, void *user);
  /* Called on the calling thread for each unreadable image. */
  void (*on_error)(const char *path, const char *message, void *user);
  void *user;
  /* If set, the run stops once *cancel != 0: work in flight is committed and
   * fk_store_index() returns FK_ECANCELED. Safe to set from a signal
   * handler or another thread. */
  const volatile int *cancel;
  /* Many processes on one index (issue 11). shards > 1: this run takes only
   * the files whose stored path hashes (FNV-1a 64, mixed) to shard in [0, shards),
   * so N runs with shard 0..N-1 split a folder deterministically. */
  int shard, shards;
  /* If set, paths are stored relative to this directory (which must contain
   * the indexed one), so workers that mount the photos elsewhere agree. */
  const char *root;
  /* PostgreSQL: every file is claimed before it is read, so concurrent runs
   * never embed one twice; a claim not renewed for lease_s seconds (a
   * worker killed) may be taken over (default 60). */
  int lease_s;
} fk_index_options;

FK_API void fk_index_options_init(fk_index_options *o);

/* Indexes every .jpg/.jpeg/.png/.webp (any case) under dir, recursively.
 * Incremental: files with a known path, size and mtime are skipped; a file
 * whose content (SHA-256) is that of a row whose file is gone moves the row;
 * changed files are re-embedded. Every image is committed together with its
 * faces, so a crash or kill at any moment loses at most the uncommitted
 * batch and never duplicates a row. opt: the pipeline options (NULL for
 * the defaults); opt->threads is per session. FK_EMISMATCH if the index was
 * made with another model or preprocessing; FK_ENOENT if dir holds no image
 * (unless prune). stats may be NULL. */
FK_API int fk_store_index(fk_store *st, const fk_models *m, const fk_options *opt,
                          const char *dir, const fk_index_options *io,
                          fk_index_stats *stats);

/* ---- searching ---- */

enum { FK_CODES_F32 = 0, FK_CODES_INT8 = 1 };

/* How a search finds its candidates:
 *   FK_SEARCH_EXACT  scans every vector;
 *   FK_SEARCH_ANN    walks an HNSW graph over the int8 codes (faiss), kept
 *                    in a cache file beside the index (PATH.faiss, rebuilt
 *                    or updated when stale, like PATH.vec), then ranks its
 *                    candidates exactly: the matches are the exact scan's
 *                    when the graph finds them, with the same distances;
 *   FK_SEARCH_AUTO   exact below FK_ANN_AUTO_MIN faces, ANN from there.
 * A build without faiss (FK_WITH_FAISS=OFF) has no graph: FK_SEARCH_AUTO
 * always scans, and FK_SEARCH_ANN fails with FK_EUNSUPPORTED. */
enum { FK_SEARCH_EXACT = 0, FK_SEARCH_ANN = 1, FK_SEARCH_AUTO = 2 };

/* Where the ANN search starts to beat the exact scan at recall@10 >= 0.99
 * (README, "Searching millions of faces"). */
#define FK_ANN_AUTO_MIN 50000
/* Candidates an ANN search explores unless told (fk_search_options.ef):
 * recall@10 >= 0.99 on face-like vectors at 100k (README). */
#define FK_ANN_EF_DEFAULT 384

typedef struct fk_search_options {
  size_t size;           /* sizeof the struct, set by fk_search_options_init (first, always) */
  int k;            /* matches wanted (default 10) */
  int metric;       /* FK_METRIC_* (default cosine) */
  float threshold;  /* keep only distance <= threshold; < 0: no limit */
  int codes;        /* FK_CODES_F32 (default) or FK_CODES_INT8 */
  int threads;      /* scan threads (default 1); an ANN search uses one,
                       and this many to build its graph */
  int search;       /* FK_SEARCH_* (default FK_SEARCH_AUTO) */
  int ef;           /* ANN candidates explored, >= k (0: FK_ANN_EF_DEFAULT);
                       more is slower and nearer to exact */
} fk_search_options;

FK_API void fk_search_options_init(fk_search_options *o);

typedef struct fk_match {
  int64_t face_id;
  float distance;    /* under the metric */
  float similarity;  /* cosine similarity of the unit vectors */
} fk_match;

/* Loads the vectors (maps the sidecar, catching up with the index's later
 * changes or rebuilding it from the faces table, and saving it again when
 * it had to); searching does this on first use, so calling it is only
 * needed to time it. *count (may be NULL) gets the number of faces. */
FK_API int fk_store_load(fk_store *st, int64_t *count);

/* Brings loaded vectors up to date with every commit to the index, this
 * handle's and other processes', incrementally: only the faces added,
 * deleted or relabelled since are read (the change sequence, see
 * src/store/store.h). Loads them when not loaded. */
FK_API int fk_store_refresh(fk_store *st);

/* Waits up to timeout_ms (0: just looks) for a commit to the index by any
 * process: 1 when there may be one (call fk_store_refresh), 0 when none
 * came, or a negative FK_E* (fk_store_errmsg says why; a PostgreSQL
 * connection lost is made again by the next call or refresh). PostgreSQL:
 * LISTEN for the writers' NOTIFY, woken as the commit lands; SQLite:
 * polls the file's data version every 20 ms. The first call starts
 * listening and returns 1, so that what came before it is not missed.
 * Call it on the store's thread, outside any other call on it. */
FK_API int fk_store_wait_change(fk_store *st, int timeout_ms);

/* k-nearest search for a raw (not necessarily normalized) embedding of dim
 * floats, which must be the index's width (FK_EMISMATCH otherwise): exact,
 * or approximate as o->search says. Writes up to o->k matches, best first,
 * to out and their number to *n. */
FK_API int fk_store_search(fk_store *st, const float *embedding, int dim,
                           const fk_search_options *o, fk_match *out, int *n);

/* FK_SEARCH_EXACT or FK_SEARCH_ANN: what a search with o would do now (it
 * loads the vectors to count them). Negative on error. */
FK_API int fk_store_search_method(fk_store *st, const fk_search_options *o);

/* Loads the ANN graph over the loaded vectors: reads PATH.faiss, applies
 * the faces added or deleted since it was written, or builds it (with
 * `threads` threads, 0 for all; minutes for millions of faces) and writes
 * it back when the directory is writable. From then on the graph follows
 * the vectors (fk_store_refresh, single-image writes) incrementally, and
 * fk_store_close saves it again if faces came or went. fk_store_search
 * does this on first ANN use; indexing does it at the end of a run once
 * the index holds FK_ANN_AUTO_MIN faces or has a graph. Call it on the
 * store's thread before other threads search shared vectors by ANN.
 * FK_EUNSUPPORTED in a build without faiss (FK_WITH_FAISS=OFF). */
FK_API int fk_store_load_ann(fk_store *st, int threads);

/* ---- sharing the vectors between threads ---- */

/* The loaded vectors of one fk_store, searchable from any thread. */
typedef struct fk_vectors fk_vectors;

/* Loads st's vectors (fk_store_load) and gives a handle on them that any
 * number of threads may search at once with fk_vectors_search(), while the
 * thread that owns st writes through it (fk_store_add_entry,
 * fk_store_delete_face, fk_store_delete_identity) or calls
 * fk_store_refresh(): each of those applies its changes to the vectors
 * incrementally, under a reader-writer lock, before it returns, so a search
 * that starts after a write returns sees it. Valid until fk_store_close(st). */
FK_API int fk_store_vectors(fk_store *st, fk_vectors **out);

/* fk_store_search on shared vectors: thread-safe, no SQLite. Matches are
 * face ids; look them up with each thread's own fk_store, where a face
 * deleted since the search gives FK_ENOENT. An ANN search walks the graph
 * fk_store_load_ann loaded: without one, FK_SEARCH_AUTO scans and
 * FK_SEARCH_ANN fails with FK_EINVAL. On failure err (errlen bytes, may be
 * NULL) gets the reason. */
FK_API int fk_vectors_search(fk_vectors *v, const float *embedding, int dim, const fk_search_options *o,
                             fk_match *out, int *n, char *err, size_t errlen);
/* Faces searchable, and the change sequence they reflect. Thread-safe. */
FK_API int64_t fk_vectors_count(fk_vectors *v);
FK_API int64_t fk_vectors_seq(fk_vectors *v);

/* One stored face with its image and identity. */
typedef struct fk_store_face {
  int64_t id, image_id;
  char path[4096];
  char identity[256];   /* "" when the image has none */
  int image_width, image_height;
  int index;            /* rank of the face in its image, by detector score */
  int central;          /* the face nearest the image centre */
  char model[64];       /* fingerprint of the model that embedded it */
  fk_box box;
  float score;
  fk_point landmarks[FK_NUM_LANDMARKS];
  int dim;                        /* the index's embedding width */
  float embedding[FK_EMBED_MAX];  /* [0..dim), L2-normalized */
  int8_t code[FK_EMBED_MAX];      /* [0..dim), its int8 code */
  float norm;                     /* L2 norm of the raw embedding */
} fk_store_face;

FK_API int fk_store_get_face(fk_store *st, int64_t face_id, fk_store_face *out);

/* Calls fn for every face, in id order; a non-zero return from fn stops the
 * walk and is returned. */
FK_API int fk_store_foreach_face(fk_store *st,
                                 int (*fn)(const fk_store_face *f, void *user),
                                 void *user);

/* The identities of the index, by name, with their counts. */
typedef struct fk_identity_info {
  int64_t id;
  char name[256];
  int64_t images, faces;
} fk_identity_info;

/* Identities in name order (byte order), from `offset`, at most `limit`
 * (1..100000) into out[]; *n gets how many were written, *total (may be
 * NULL) how many there are. */
FK_API int fk_store_list_identities(fk_store *st, int64_t offset, int limit, fk_identity_info *out, int *n,
                                    int64_t *total);

/* The faces of one identity in id order, paged the same way. FK_ENOENT
 * when the index has no identity of that name. */
FK_API int fk_store_identity_faces(fk_store *st, const char *identity, int64_t offset, int limit,
                                   fk_store_face *out, int *n, int64_t *total);

/* A size x size thumbnail (16..1024) of a stored face read from its image
 * file: the square around the box, enlarged by a quarter on each side (as
 * `facekit find --html` shows matches). The file's decode error when it
 * can no longer be read. */
FK_API int fk_store_face_crop(const fk_store_face *f, int size, size_t max_pixels, fk_image *out);
/* The file of a stored path: below root when the path is relative and root
 * is not NULL (an index built with fk_index_options.root), else the path
 * itself. FK_ETOOBIG if it does not fit in size bytes. */
FK_API int fk_store_path_below(const char *root, const char *path, char *out, size_t size);

/* ---- adding and removing single images ---- */

/* One image file read, hashed, decoded, and its faces detected and embedded
 * by a session: what fk_store_add_entry() commits. Made on any thread (with
 * that thread's session) so that a single writer only commits. */
typedef struct fk_entry fk_entry;

/* Makes the entry of the image file at path with session s (whose options
 * the index must accept, strictly: see fk_store_check). Finding no face is
 * not an error here. On failure *out is NULL: FK_ENOENT / FK_EIO for the
 * file, the decode errors (FK_EFORMAT, FK_ECORRUPT, FK_ETOOBIG...), and
 * fk_session_errmsg(s) says more. */
FK_API int fk_entry_new(fk_session *s, const char *path, fk_entry **out);
/* The entry's faces (by detector score) and which of them is nearest the
 * image centre (-1 when none); returns their number. */
FK_API int fk_entry_faces(const fk_entry *e, const fk_face **faces, int *central);
FK_API void fk_entry_free(fk_entry *e);

typedef struct fk_added {
  int64_t image_id;
  int created;  /* 0: the path already held this content, nothing was stored */
  int nfaces;   /* the image's faces in the index */
} fk_added;

/* Commits one entry: its image row under `identity` (NULL or "": none) and
 * all its faces, in one transaction, as fk_store_index() stores an image
 * (a later index run over the same file sees it unchanged). The first
 * entry of an index without a model records the entry's model and options;
 * after that FK_EMISMATCH refuses an entry made another way. A path the
 * index holds with other content is replaced; with the same content it is
 * left as it is (relabelled if the identity differs) and out->created = 0.
 * The image's face ids, in detector order, go to face_ids[0..min(n, cap))
 * (may be NULL when cap = 0). FK_ENOFACE (nothing stored) when the entry
 * has no face. Loaded vectors are updated before it returns. */
FK_API int fk_store_add_entry(fk_store *st, const fk_entry *e, const char *identity, int64_t *face_ids, int cap,
                              fk_added *out);
/* fk_entry_new, then fk_store_add_entry. */
FK_API int fk_store_add_image(fk_store *st, fk_session *s, const char *path, const char *identity,
                              int64_t *face_ids, int cap, fk_added *out);

/* Called after the commit of a delete for each image row it removed (an
 * image loses its row with its last face), e.g. to delete the file. */
typedef void (*fk_removed_fn)(const char *path, void *user);

/* Deletes one face; when it was its image's last, the image row too, and
 * the identity when that was its last image. Committed, and loaded vectors
 * updated, before it returns. FK_ENOENT when there is no such face.
 * removed may be NULL. */
FK_API int fk_store_delete_face(fk_store *st, int64_t face_id, fk_removed_fn removed, void *user);
/* Deletes an identity with all its images and faces; *faces (may be NULL)
 * gets how many faces went. FK_ENOENT when there is no such identity. */
FK_API int fk_store_delete_identity(fk_store *st, const char *identity, int64_t *faces, fk_removed_fn removed,
                                    void *user);

/* Quantizes a unit vector to int8 codes: round(127 * v), clamped. */
FK_API void fk_quantize_i8(const float *unit, int8_t *code, int dim);

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

/* ==== tracking faces across video frames ================================== */
/*
 * An fk_tracker gives the faces of a video stable ids. It knows nothing of
 * decoding: the caller brings each frame's detections (from fk_detect or
 * any other detector) with the frame's number and time, and may lend it an
 * appearance embedding per detection on request.
 *
 * Matching, per update: every live track's box is predicted at the frame's
 * time (constant velocity, smoothed); detections are matched to predicted
 * boxes greedily by IoU (at least iou_min). When IoU alone cannot decide,
 * appearance does: a detection overlapping two tracks, a track overlapping
 * two detections, or a match whose IoU is below iou_sure, is compared by
 * cosine distance between the detection's embedding and the track's mean
 * appearance. A detection left over is matched to a lost track (unseen, not
 * yet timed out) whose appearance is within max_distance, wherever it is:
 * a face leaving and coming back, or a cut, keeps its id. Appearance is
 * used only when the caller gave an embed callback and the track has an
 * appearance (fk_tracker_add_appearance, or a callback embedding that
 * matched it).
 *
 * Lifecycle: a track is tentative until it has min_hits detections (a
 * tentative track missed once is dropped without a trace), then confirmed
 * with the next id (1, 2, ...; never reused). A confirmed track unseen for
 * more than `timeout` seconds ends. Each update or predict lists the tracks
 * it started and ended (fk_tracker_started / fk_tracker_ended).
 *
 * Not thread-safe: one tracker per stream. Times must not go backwards
 * (call fk_tracker_end_all at a discontinuity such as a reconnect).
 */
typedef struct fk_tracker fk_tracker;

/* Asks for the appearance embedding of detection `det` of the update in
 * progress: returns `dim` floats (raw or normalized; owned by the caller,
 * valid until the update returns), or NULL if none can be had. */
typedef const float *(*fk_track_embed_fn)(void *user, int det, int *dim);

typedef struct fk_tracker_options {
  size_t size;           /* sizeof the struct, set by fk_tracker_options_init (first, always) */
  double timeout;      /* seconds unseen before a confirmed track ends (1.0) */
  float iou_min;       /* least IoU of a detection and a predicted box (0.3) */
  float iou_sure;      /* a lone match at or above this IoU needs no
                          appearance check (0.5) */
  float max_distance;  /* cosine distance under which two faces are the same
                          (the default model's same-person threshold,
                          fk_model_threshold(fk_options_init's model,
                          FK_METRIC_COSINE); for another model's embeddings
                          give that model's) */
  int min_hits;        /* detections that confirm a track (1) */
  fk_track_embed_fn embed;  /* NULL: boxes only */
  void *user;
} fk_tracker_options;

FK_API void fk_tracker_options_init(fk_tracker_options *o);

enum {
  FK_TRACK_TENTATIVE = 0, /* not yet min_hits detections */
  FK_TRACK_VISIBLE = 1,   /* matched by the last detection frame */
  FK_TRACK_LOST = 2,      /* missed by the last detection frame */
  FK_TRACK_ENDED = 3,     /* timed out, or ended by fk_tracker_end_all */
};

typedef struct fk_track {
  int id;                  /* 1, 2, ... once confirmed; 0 while tentative */
  int state;               /* FK_TRACK_* */
  fk_box box;              /* the last detection's box, or its prediction
                              at the last update's time */
  float score;             /* the last matched detection's score */
  int det;                 /* the detection matched by the last update, or -1 */
  int64_t first_frame, last_frame;  /* first and last frame with a detection */
  double first_time, last_time;
  int hits;                /* detections matched */
  int appearances;         /* embeddings in its mean appearance */
  int reidentified;        /* times it was re-found by appearance alone */
} fk_track;

/* opt NULL: the defaults. */
FK_API int fk_tracker_new(const fk_tracker_options *opt, fk_tracker **out);
FK_API void fk_tracker_free(fk_tracker *t);

/* One frame's detections: n boxes (scores may be NULL). Boxes that are not
 * finite or not positive in size are ignored. `time` in seconds. FK_EINVAL
 * on bad arguments or a time before the last update's; FK_ENOMEM. */
FK_API int fk_tracker_update(fk_tracker *t, int64_t frame, double time, const fk_box *boxes,
                             const float *scores, int n);

/* A frame without detection (e.g. between detections run every Nth frame):
 * visible tracks move to their predicted boxes, and tracks that timed out
 * end. Nothing is matched, so nothing is lost. */
FK_API int fk_tracker_predict(fk_tracker *t, int64_t frame, double time);

/* Ends every track (end of stream, or a discontinuity). */
FK_API void fk_tracker_end_all(fk_tracker *t);

/* The live tracks (tentative, visible and lost), oldest first; valid until
 * the next call on t. Returns their number. */
FK_API int fk_tracker_tracks(const fk_tracker *t, const fk_track **tracks);
/* The tracks the last update, predict or end_all confirmed / ended. */
FK_API int fk_tracker_started(const fk_tracker *t, const fk_track **tracks);
FK_API int fk_tracker_ended(const fk_tracker *t, const fk_track **tracks);
/* The track detection det of the last update went to (confirmed or
 * tentative), or NULL if it started nothing (a box the tracker ignored). */
FK_API const fk_track *fk_tracker_track_of(const fk_tracker *t, int det);

/* Adds an embedding to confirmed track id's mean appearance. Every
 * embedding of a tracker must have the same dim (set by the first);
 * FK_EINVAL otherwise, or for an unknown id or a zero vector. */
FK_API int fk_tracker_add_appearance(fk_tracker *t, int id, const float *emb, int dim);

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

#ifdef __cplusplus
}
#endif
#endif /* FACEKIT_H */
