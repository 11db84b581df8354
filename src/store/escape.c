/*
 * escape.c - the one reversible escaping of byte strings that are not
 * UTF-8 (file names are bytes on Linux), for what must be text: a
 * PostgreSQL text column (pg/pg.c, pg/pg_write.c) and JSON output (src/cli/json.c).
 *
 * Every byte b (0x80..0xFF) that is not part of a well-formed UTF-8
 * sequence (RFC 3629: no overlong forms, no surrogates, nothing past
 * U+10FFFF) becomes the character U+10FF00 + b, from the last 128 code
 * points of plane 16's private use area (UTF-8 F4 8F BE 80 .. F4 8F BF BF).
 * A name that already holds one of those characters has each of its four
 * bytes escaped the same way, so unescaping (each U+10FF80..U+10FFFF back
 * to its byte) always gives the original bytes. Valid UTF-8 without those
 * characters, i.e. every ordinary name, is left as it is.
 */
#include <string.h>

#include "facekit.h"

/* The length of the well-formed UTF-8 sequence at p (1..4), or 0. */
static int utf8_len(const unsigned char *p) {
  unsigned c = p[0];
  if (c < 0x80) return 1;
  int n;
  unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
  if (c >= 0xC2 && c <= 0xDF) n = 2;
  else if (c == 0xE0) n = 3, lo = 0xA0;
  else if (c == 0xED) n = 3, hi = 0x9F; /* no surrogates */
  else if (c >= 0xE1 && c <= 0xEF) n = 3;
  else if (c == 0xF0) n = 4, lo = 0x90;
  else if (c >= 0xF1 && c <= 0xF3) n = 4;
  else if (c == 0xF4) n = 4, hi = 0x8F;
  else return 0;
  if (p[1] < lo || p[1] > hi) return 0;
  for (int k = 2; k < n; k++)
    if ((p[k] & 0xC0) != 0x80) return 0;
  return n;
}

/* Is the 4-byte sequence at p one of the escape characters? */
static int is_escape(const unsigned char *p) {
  return p[0] == 0xF4 && p[1] == 0x8F && (p[2] == 0xBE || p[2] == 0xBF) && (p[3] & 0xC0) == 0x80;
}

static void put(char *out, size_t size, size_t *o, unsigned char c) {
  if (*o + 1 < size) out[*o] = (char)c;
  (*o)++;
}

size_t fk_text_escape(const char *s, char *out, size_t size) {
  const unsigned char *p = (const unsigned char *)s;
  size_t o = 0;
  while (*p) {
    int n = utf8_len(p);
    if (n == 4 && is_escape(p)) n = 0;
    if (n > 0) {
      for (int k = 0; k < n; k++) put(out, size, &o, p[k]);
      p += n;
      continue;
    }
    unsigned cp = 0x10FF00u + *p++;
    put(out, size, &o, 0xF4);
    put(out, size, &o, (unsigned char)(0x80 | ((cp >> 12) & 0x3F)));
    put(out, size, &o, (unsigned char)(0x80 | ((cp >> 6) & 0x3F)));
    put(out, size, &o, (unsigned char)(0x80 | (cp & 0x3F)));
  }
  if (size) out[o < size ? o : size - 1] = '\0';
  return o;
}

size_t fk_text_unescape(const char *s, char *out, size_t size) {
  const unsigned char *p = (const unsigned char *)s;
  size_t o = 0;
  while (*p) {
    if (is_escape(p)) {
      unsigned cp = (unsigned)(p[1] & 0x3F) << 12 | (unsigned)(p[2] & 0x3F) << 6 | (p[3] & 0x3F);
      put(out, size, &o, (unsigned char)(0x80 | (cp & 0x7F)));
      p += 4;
    } else {
      put(out, size, &o, *p++);
    }
  }
  if (size) out[o < size ? o : size - 1] = '\0';
  return o;
}

int fk_text_needs_escape(const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    int n = utf8_len(p);
    if (n == 0 || (n == 4 && is_escape(p))) return 1;
    p += n;
  }
  return 0;
}
