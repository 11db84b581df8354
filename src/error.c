/*
 * error.c - messages for facekit's status codes (facekit.h), and the
 * library's version.
 */
#include "facekit.h"

int fk_version(void) { return FK_VERSION_NUMBER; }

const char *fk_version_string(void) { return FK_VERSION; }

const char *fk_strerror(int status) {
  switch (status) {
    case FK_OK: return "ok";
    case FK_ENOMEM: return "out of memory";
    case FK_EINVAL: return "invalid argument";
    case FK_ENOENT: return "file not found";
    case FK_EIO: return "read or write error";
    case FK_EEMPTY: return "file is empty";
    case FK_EFORMAT: return "not a supported image (JPEG, PNG or WebP)";
    case FK_ECORRUPT: return "image data is truncated or corrupt";
    case FK_ETOOBIG: return "image dimensions exceed the pixel limit";
    case FK_EMODEL_MISSING:
      return "model files not found; fetch them with `make models` "
             "(tools/fetch-models.sh) or set FACEKIT_MODELS";
    case FK_EMODEL: return "model files are corrupt or inconsistent";
    case FK_EBACKEND: return "inference backend (oneDNN or XNNPACK) failed";
    case FK_ENOFACE: return "no face detected";
    case FK_EUNSUPPORTED: return "unsupported input";
    case FK_ENOTINDEX: return "not a facekit index";
    case FK_EMISMATCH:
      return "the index was built with another model or preprocessing";
    case FK_EREADONLY: return "the index cannot be written (read-only)";
    case FK_EDB: return "database error";
    case FK_ECANCELED: return "interrupted";
    case FK_EAUTH: return "the database server refused the credentials";
    default: return "unknown error";
  }
}
