/*
 * policy.c - what a request means where the library offers choices (api.h):
 * the faces of a single-image request when none is found, find's search
 * with the lookup of its hits, and which names an identity may have.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

int fk_api_faces(fk_session *s, const fk_image *img, int enforce, int embed, int keep, fk_face *faces, int cap,
                 int *n, int *detected) {
  *n = 0;
  *detected = 0;
  int found = 0, rc = fk_detect(s, img, faces, cap, &found);
  if (rc) return rc;
  if (found > cap) found = cap;
  if (found == 0) {
    if (enforce) return FK_OK; /* *n 0: the caller's no-face answer */
    /* DeepFace's enforce_detection=False: the whole image is the face */
    if ((rc = fk_whole_image_face(s, img, embed, &faces[0]))) return rc;
    *n = 1;
    return FK_OK;
  }
  if (keep > 0) found = fk_keep_largest_faces(faces, found, keep);
  for (int i = 0; embed && rc == FK_OK && i < found; i++) rc = fk_represent(s, img, &faces[i]);
  if (rc) return rc;
  *n = found;
  *detected = 1;
  return FK_OK;
}

int fk_api_find(fk_vectors *v, fk_store *lookup, const fk_search_options *so, float same_thr,
                    fk_api_query *q, char *err, size_t errlen) {
  fk_match *m = malloc((size_t)so->k * sizeof *m);
  q->hits = calloc((size_t)so->k, sizeof *q->hits);
  q->n = 0;
  int n = 0, rc = m && q->hits ? fk_vectors_search(v, q->face.embedding, q->face.dim, so, m, &n, err, errlen)
                               : FK_ENOMEM;
  if (rc == FK_ENOMEM) snprintf(err, errlen, "out of memory");
  for (int i = 0; rc == FK_OK && i < n; i++) {
    fk_api_hit *h = &q->hits[q->n];
    rc = fk_store_get_face(lookup, m[i].face_id, &h->face);
    if (rc == FK_ENOENT) { /* deleted since the search */
      rc = FK_OK;
      continue;
    }
    if (rc) snprintf(err, errlen, "%s", fk_store_errmsg(lookup));
    h->rank = ++q->n;
    h->distance = m[i].distance;
    h->similarity = m[i].similarity;
    h->same = m[i].distance <= same_thr;
  }
  free(m);
  return rc;
}

/* ---- identity names ------------------------------------------------------------ */

/* A C0 or C1 control, a bidirectional override (U+202A to U+202E) or
 * isolate (U+2066 to U+2069) in s: 1 with *cp that code point. */
static int name_unsafe(const char *s, size_t n, unsigned *cp) {
  for (size_t i = 0; i < n;) {
    unsigned char b = (unsigned char)s[i];
    unsigned c;
    size_t k;
    if (b < 0x80) c = b, k = 1;
    else if ((b & 0xe0) == 0xc0 && i + 1 < n) c = (b & 0x1fu) << 6 | ((unsigned char)s[i + 1] & 0x3fu), k = 2;
    else if ((b & 0xf0) == 0xe0 && i + 2 < n)
      c = (b & 0x0fu) << 12 | ((unsigned char)s[i + 1] & 0x3fu) << 6 | ((unsigned char)s[i + 2] & 0x3fu), k = 3;
    else if ((b & 0xf8) == 0xf0 && i + 3 < n) c = 0x10000, k = 4; /* beyond the BMP: none of ours */
    else c = b, k = 1; /* invalid UTF-8: the caller's UTF-8 check names it */
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) {
      if (k > 1 || b < 0x80) {
        *cp = c;
        return 1;
      }
    }
    i += k;
  }
  return 0;
}

int fk_api_identity_check(const char *s, char *why, size_t whylen) {
  size_t n = strlen(s);
  const char *bad = NULL;
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s", s);
  fk_json_utf8_scrub(tmp);
  unsigned cp = 0;
  if (n == 0 || n > 200) bad = "must have 1 to 200 bytes";
  else if (s[0] == '.' || s[0] == ' ' || s[n - 1] == ' ')
    bad = "must not start with '.' or start or end with a space";
  else if (strpbrk(s, "/\\") || strcmp(tmp, s) || name_unsafe(s, n, &cp))
    bad = cp ? "must not hold control characters or bidirectional overrides"
             : "must be UTF-8 text without '/', '\\' or control characters";
  if (!bad) return FK_OK;
  if (cp) snprintf(why, whylen, "%s (U+%04X)", bad, cp);
  else snprintf(why, whylen, "%s", bad);
  return FK_EINVAL;
}
