/*
 * guard.c - the service's checks of what a request is and where it comes
 * from, decided before any work (http.c calls them from the headers):
 *
 *   NULs     a %00 in the URL, a NUL in a JSON string, an urlencoded %00;
 *            C strings would otherwise end there.
 *   names    identity names: no C0 or C1 controls, no bidirectional
 *            overrides or isolates.
 *
 * Pure functions of their arguments: no state.
 */
#include <string.h>

#include "server/server.h"

/* ---- NULs ------------------------------------------------------------------------- */

int srv_url_has_nul(const char *raw) {
  for (const char *p = raw; (p = strchr(p, '%')); p++)
    if (p[1] == '0' && p[2] == '0') return 1;
  return 0;
}

int srv_json_has_nul(const char *body, size_t len) {
  int in_str = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = body[i];
    if (ch == '\0') return 1;
    if (!in_str) {
      if (ch == '"') in_str = 1;
      continue;
    }
    if (ch == '"') {
      in_str = 0;
    } else if (ch == '\\' && i + 1 < len) {
      if (body[i + 1] == 'u' && i + 5 < len && !strncmp(body + i + 2, "0000", 4)) return 1;
      i++; /* the escaped character: \" does not end the string */
    }
  }
  return 0;
}

/* ---- names ------------------------------------------------------------------------ */

int srv_name_unsafe(const char *s, size_t n, unsigned *cp) {
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
