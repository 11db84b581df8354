/*
 * facekit_core.h - the core API: status codes, images, models and sessions,
 * faces, comparing embeddings, attributes. One part of facekit.h, which
 * includes every part.
 */
#ifndef FACEKIT_CORE_H
#define FACEKIT_CORE_H

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

/* Which networks to load (fk_models_open). Each bit names one row of the
 * table of nets (src/face/nets.c), which carries its bit: the values are
 * fixed (ABI) whatever the order of the rows, and a new net takes the next
 * free bit. */
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
  FK_NET_POSE = 1 << 11,      /* faceplugin's head pose: yaw, pitch, roll */
  FK_NET_EYE = 1 << 12,       /* faceplugin's eye open or closed */
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
/* Every detector's and every landmark net's FK_NET_* bits: what a program
 * that lets each request pick them (serve) loads. */
FK_API unsigned fk_all_detect_nets(void);

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
  size_t max_pixels;     /* decode limit (default FK_DEFAULT_MAX_PIXELS; 0
                            means the same) */
  int attribute_model;   /* FK_ATTR_MODEL_*: the source of age and gender
                            in fk_analyze() (default face-api) */
  int precision;         /* FK_PRECISION_* (default FK_PRECISION_AUTO) */
  float retry_score;     /* fk_detect (so fk_faces, fk_verify, indexing):
                            where no detection scores above min_score, the
                            detector runs again at this lower score and the
                            best face is kept (default 0.2; >= min_score: no
                            second pass). Added after precision. */
} fk_options;

/* Fills *o with the defaults. */
FK_API void fk_options_init(fk_options *o);

/* ---- the options by name --------------------------------------------------
 *
 * One table describes each fk_options field a user sets: its name
 * ("input_size"; a command line spells it --input-size), the name DeepFace
 * gives it, its type, range or values, and its help. The CLI's parser and
 * --help, the HTTP service's parameters, the pipeline an index records and
 * the results report, and the README's option list are all made from it,
 * so they cannot disagree. Enumerate with fk_option_at(0), (1), ... up to
 * NULL. */
enum fk_option_type {
  FK_OPT_INT,   /* int, in [min, max] */
  FK_OPT_FLOAT, /* float, in [min, max] */
  FK_OPT_BOOL,  /* int 0 or 1: "true" or "false" */
  FK_OPT_ENUM,  /* int, one of named values (fk_option_values) */
  FK_OPT_SIZE,  /* size_t, in [min, max] */
  FK_OPT_TEXT,  /* an option with a form of its own (input_size: N or auto) */
};

enum fk_option_flags {
  FK_OPT_DETECT = 1u << 0,  /* part of detection: an index records it, and
                               results report it */
  FK_OPT_EMBED = 1u << 1,   /* part of the embedding: an index records it
                               and refuses other values even to searches */
  FK_OPT_REQUEST = 1u << 2, /* each request or call may set it (serve's
                               requests); the others belong to the program
                               (threads, backend, limits) */
  FK_OPT_LIVE = 1u << 3,    /* a session takes a new value in place
                               (fk_session_set_options): read per run, it
                               needs no runtime of its own */
};

typedef struct fk_option {
  const char *name;  /* "min_score" */
  const char *alias; /* DeepFace's name ("detector_backend"), or NULL */
  int type;          /* FK_OPT_* */
  unsigned flags;    /* FK_OPT_DETECT | ... */
  double min, max;   /* FK_OPT_INT, _FLOAT, _SIZE */
  const char *arg;   /* what help shows for the value: "N", "NAME" */
  const char *help;  /* one sentence, no default (fk_option_get gives it) */
} fk_option;

/* Row i of the table; NULL past the last. */
FK_API const fk_option *fk_option_at(int i);
/* The option of a name or alias; '-' may stand for '_' and a leading "--"
 * is skipped, so "--min-score" finds min_score. NULL if none. */
FK_API const fk_option *fk_option_find(const char *name);
/* An FK_OPT_ENUM option's value names, joined by ", " (as fk_names); for
 * other types their form ("true, false"; "[0, 1]"). */
FK_API size_t fk_option_values(const fk_option *opt, char *buf, size_t size);
/* Sets the option in *o from text, strictly (the whole text, in range).
 * FK_OK, or FK_EINVAL with why set to the reason in words that follow the
 * option's name: "must be one of ssd, tiny, rfb320, blazeface, not 'x'". */
FK_API int fk_option_set(fk_options *o, const fk_option *opt, const char *text, char *why, size_t whylen);
/* The same from a number (JSON's): a whole one for integers, 0 or 1 for
 * booleans; enums and text options take text only. */
FK_API int fk_option_set_number(fk_options *o, const fk_option *opt, double v, char *why, size_t whylen);
/* The option's value in *o as text, the form fk_option_set reads: "ssd",
 * "0.5", "true", "auto". */
FK_API void fk_option_get(const fk_options *o, const fk_option *opt, char *buf, size_t size);
/* The value the pipeline runs with, as results report it and indexes record
 * it: fk_option_get's, but with what auto resolves to where that depends
 * on other options (align "arcface" under mbf512; input_size "320x240"
 * under RFB-320). fk_option_set reads it back as that value or as auto. */
FK_API void fk_option_used(const fk_options *o, const fk_option *opt, char *buf, size_t size);
/* FK_OK if every option of *o holds a valid value, else FK_EINVAL with why
 * naming the first that does not ("min_score must be ..."). */
FK_API int fk_options_check(const fk_options *o, char *why, size_t whylen);
/* Whether a and b hold the same options (every field). */
FK_API int fk_options_equal(const fk_options *a, const fk_options *b);

/* Creates a per-thread session. opt may be NULL for the defaults. *out is set
 * even on failure (see fk_session_errmsg). */
FK_API int fk_session_new(const fk_models *m, const fk_options *opt,
                   fk_session **out);
FK_API const char *fk_session_errmsg(const fk_session *s);
FK_API void fk_session_free(fk_session *s);
/* The options the session runs with (fk_options_init's defaults filled in
 * for fields an older caller's struct lacks). */
FK_API const fk_options *fk_session_options(const fk_session *s);
/* Gives the session new options that differ from its own only in
 * FK_OPT_LIVE ones (min_score, retry_score, align, flip), without
 * rebuilding anything: FK_OK, or FK_EINVAL (the session unchanged) when
 * another option differs or a value is invalid. */
FK_API int fk_session_set_options(fk_session *s, const fk_options *opt);
/* The fingerprint of the session's model ("mbf512-f880515739bc436a"), as
 * an index records it: FK_OK, or FK_EINVAL when its nets are not loaded. */
FK_API int fk_session_model_id(const fk_session *s, char *buf, size_t size);
/* Sets the message fk_session_errmsg() gives, for code that reports
 * through a session (an index entry made with fk_entry_new does); returns
 * status. */
FK_API int fk_session_set_error(fk_session *s, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

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
/* Index of the face whose box overlaps box most (intersection over union,
 * at least 0.3), or -1 when none does: a face a client picked by its box. */
FK_API int fk_face_at(const fk_face *faces, int n, fk_box box);

/* Reorders faces[0..n) so that the k largest boxes (by area) come first,
 * largest first, the rest after them in their order; returns min(k, n).
 * DeepFace's max_faces. */
FK_API int fk_keep_largest_faces(fk_face *faces, int n, int k);

/* fk_detect, then fk_represent for each face written to faces[]. */
FK_API int fk_faces(fk_session *s, const fk_image *img, fk_face *faces, int cap,
                    int *n);
/* The same, also giving the seconds detection (seconds[0]) and embedding
 * (seconds[1]) took: the stages an index run reports. */
FK_API int fk_faces_timed(fk_session *s, const fk_image *img, fk_face *faces, int cap, int *n,
                          double seconds[2]);

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

/* What fk_analyze() computes: DeepFace's "actions" (FK_ACTION_ALL, the
 * default of the CLI and the server, is these four), and a face's head
 * pose and quality. */
enum {
  FK_ACTION_AGE = 1 << 0,
  FK_ACTION_GENDER = 1 << 1,
  FK_ACTION_EMOTION = 1 << 2,
  FK_ACTION_RACE = 1 << 3,
  FK_ACTION_ALL = 0xF,
  FK_ACTION_POSE = 1 << 4,    /* yaw, pitch, roll (FK_NET_POSE) */
  FK_ACTION_QUALITY = 1 << 5, /* sharpness, size, eyes open (FK_NET_EYE) */
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
  /* Added after the fields above. fk_analyze() writes them only when the
   * actions hold FK_ACTION_POSE or FK_ACTION_QUALITY, which a program built
   * against an older header cannot ask for, so its smaller struct is never
   * written past. */
  /* FK_ACTION_POSE: head pose in degrees (faceplugin's fr_pose). Yaw > 0:
   * the face turned towards the image's left; mirroring the image changes
   * the sign of yaw and roll. */
  float yaw, pitch, roll;
  /* FK_ACTION_QUALITY */
  float sharpness;    /* variance of the Laplacian of the face box at 32x32 gray */
  float size;         /* the face box's shorter side, pixels */
  float eyes_open[2]; /* P(open) of the left (in the image; points 36-41) and
                       * right eye (fr_eye); NaN when its square is empty */
} fk_attributes;

/* "Woman"/"Man"; "angry", "disgust", "fear", "happy", "sad", "surprise",
 * "neutral"; "white", "black", "asian", "indian", "other". NULL when out of
 * range. */
FK_API const char *fk_gender_name(int gender);
FK_API const char *fk_emotion_name(int emotion);
FK_API const char *fk_race_name(int race);
/* Parses a comma-separated list of "age", "gender", "emotion", "race",
 * "pose", "quality" into FK_ACTION_* bits; -1 if a name is unknown or the
 * list is empty. */
FK_API int fk_actions_from_names(const char *list);

/* Computes the requested attributes of one detected face (its box and
 * landmarks from fk_detect). face-api's age/gender head is run on the face
 * and its mirror image, averaged, and its gender corrected for the head's
 * bias towards "Man" (fitted on LFW; see src/face/analyze.c). The models must hold the nets the actions
 * need: FK_NET_AGEGENDER (or FK_NET_GEAR with attribute_model gear) for age
 * and gender, FK_NET_EXPRESSION for emotion, FK_NET_GEAR for race,
 * FK_NET_POSE for pose, FK_NET_EYE for quality; else FK_EINVAL naming the
 * missing net. out->actions says what was computed. */
FK_API int fk_analyze(fk_session *s, const fk_image *img, const fk_face *face,
                      unsigned actions, fk_attributes *out);

/* The nets fk_analyze() needs for these actions and attribute model. */
FK_API unsigned fk_analyze_nets(unsigned actions, int attribute_model);

#ifdef __cplusplus
}
#endif
#endif /* FACEKIT_CORE_H */
