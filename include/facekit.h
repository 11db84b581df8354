/*
 * facekit.h - the one public API of facekit: face detection, alignment,
 * 128-d face descriptors and verification, in C.
 *
 * Objects and their lifecycle:
 *   fk_models   the loaded networks. Read-only after fk_models_open(), so one
 *               instance may be shared by any number of threads.
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

#define FK_VERSION "0.1.0"

/* Marks the exported functions (the library is built with hidden
 * visibility, so nothing else leaks out of libfacekit.so). */
#if defined(__GNUC__)
#define FK_API __attribute__((visibility("default")))
#else
#define FK_API
#endif

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
  FK_EBACKEND = -11,      /* inference backend (XNNPACK) failed */
  FK_ENOFACE = -12,       /* no face detected */
  FK_EUNSUPPORTED = -13,  /* valid input facekit cannot handle */
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

/* Which networks to load; 0 means all the core ones. */
enum {
  FK_NET_SSD = 1 << 0,        /* SSD-MobileNetV1 face detector */
  FK_NET_TINY = 1 << 1,       /* TinyFaceDetector */
  FK_NET_LANDMARKS = 1 << 2,  /* 68-point landmarks */
  FK_NET_DESCRIPTOR = 1 << 3, /* ResNet-34-like 128-d descriptor */
  FK_NET_CORE = 0xF,
};

/* Loads the networks in `nets` from `dir` (NULL: $FACEKIT_MODELS, else
 * ./models). *out is set even on failure, so that fk_models_errmsg() can tell
 * what went wrong; free it with fk_models_free() in both cases. */
FK_API int fk_models_open(const char *dir, unsigned nets, fk_models **out);
FK_API const char *fk_models_errmsg(const fk_models *m);
FK_API void fk_models_free(fk_models *m);

enum { FK_DETECTOR_SSD = 0, FK_DETECTOR_TINY = 1 };
enum { FK_ALIGN_FACEAPI = 0, FK_ALIGN_5POINT = 1, FK_ALIGN_DLIB = 2 };
enum { FK_BACKEND_XNNPACK = 0, FK_BACKEND_REFERENCE = 1 };

typedef struct fk_options {
  int detector;          /* FK_DETECTOR_* */
  int ssd_input_size;    /* SSD input side, multiple of 32 (default 512) */
  int tiny_input_size;   /* Tiny detector input side, multiple of 32 (416) */
  float min_score;       /* detections scoring <= this are dropped */
  int max_faces;         /* detections kept after NMS (default 100) */
  int align;             /* FK_ALIGN_* */
  int threads;           /* inference threads for this session (default 1) */
  int backend;           /* FK_BACKEND_* (reference is for tests) */
  size_t max_pixels;     /* decode limit, 0 = FK_DEFAULT_MAX_PIXELS */
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

#define FK_EMBED_DIM 128
#define FK_NUM_LANDMARKS 68

typedef struct fk_box { float x, y, w, h; } fk_box;
typedef struct fk_point { float x, y; } fk_point;

typedef struct fk_face {
  fk_box box;                            /* in image pixels */
  float score;                           /* detector confidence, 0..1 */
  fk_point landmarks[FK_NUM_LANDMARKS];  /* in image pixels */
  float embedding[FK_EMBED_DIM];         /* set by fk_represent() */
} fk_face;

/* Detects faces and their 68 landmarks, sorted by decreasing score. Writes up
 * to `cap` faces to faces[] and the number found to *n (which may exceed
 * cap). Finding no face is not an error here: *n = 0. */
FK_API int fk_detect(fk_session *s, const fk_image *img, fk_face *faces, int cap,
              int *n);

/* Computes face->embedding (raw, not normalized) from the face's landmarks
 * with the session's alignment mode. */
FK_API int fk_represent(fk_session *s, const fk_image *img, fk_face *face);

/* Computes the embedding of an image used as the face chip as it is:
 * resized to 150x150. This is DeepFace's enforce_detection=false fallback. */
FK_API int fk_represent_chip(fk_session *s, const fk_image *chip, float *embedding);

/* Index of the face with the largest box area, or -1 when n == 0. */
FK_API int fk_largest_face(const fk_face *faces, int n);

/* fk_detect, then fk_represent for each face written to faces[]. */
FK_API int fk_faces(fk_session *s, const fk_image *img, fk_face *faces, int cap,
             int *n);

/* ---- comparing embeddings ------------------------------------------------ */

enum { FK_METRIC_COSINE = 0, FK_METRIC_EUCLIDEAN = 1, FK_METRIC_EUCLIDEAN_L2 = 2 };

/* Scales v to unit L2 norm in place (a zero vector stays zero). */
FK_API void fk_l2_normalize(float *v, int dim);
/* Cosine distance (1 - cos), Euclidean, or Euclidean after L2 normalization. */
FK_API float fk_distance(const float *a, const float *b, int dim, int metric);
/* The default same-person threshold for a metric, fitted on LFW. */
FK_API float fk_default_threshold(int metric);
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
 * threshold means fk_default_threshold(metric)). FK_ENOFACE when either
 * image has no face; fk_session_errmsg() says which. */
FK_API int fk_verify(fk_session *s, const fk_image *img1, const fk_image *img2,
              int metric, float threshold, fk_verify_result *r);

#ifdef __cplusplus
}
#endif
#endif /* FACEKIT_H */
