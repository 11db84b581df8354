/*
 * guard.c - the service's checks of what a request is and where it comes
 * from, decided before any work (http.c calls them from the headers):
 *
 *   Host     a browser that a web page's DNS rebinding points at this port
 *            sends the page's own name in Host; so Host must be a loopback
 *            name or address, the address listened on (any IP address when
 *            that is a wildcard), or a name given with --host-name. An IP
 *            address can never be rebound, a name can.
 *   Origin   a browser sends Origin on every cross-origin request that can
 *            write (fetch, including mode 'no-cors', and form posts), and
 *            Sec-Fetch-Site on every request; anything other than this
 *            server's own origin (or the --cors ORIGIN) is refused.
 *   NULs     a %00 in the URL, a NUL in a JSON string, an urlencoded %00;
 *            C strings would otherwise end there.
 *
 * Pure functions of their arguments: no state.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "server/server.h"

/* ---- Host ----------------------------------------------------------------------- */

/* Splits "name[:port]" or "[v6][:port]" into its host part (without
 * brackets, into out). -1 for a malformed one. */
static int host_part(const char *host, char *out, size_t n) {
  const char *h = host, *end;
  if (*h == '[') {
    h++;
    if (!(end = strchr(h, ']'))) return -1;
    if (end[1] && end[1] != ':') return -1;
    if (end[1] == ':') {
      const char *p = end + 2;
      if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p)) return -1;
    }
  } else {
    end = strchr(h, ':');
    if (end) {
      const char *p = end + 1;
      if (!*p || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p)) return -1;
    } else {
      end = h + strlen(h);
    }
  }
  size_t len = (size_t)(end - h);
  if (len == 0 || len >= n) return -1;
  memcpy(out, h, len);
  out[len] = '\0';
  if (len > 1 && out[len - 1] == '.') out[len - 1] = '\0'; /* "localhost." */
  return 0;
}

/* 4 or 6 for an IPv4 or IPv6 literal, 0 otherwise; *loopback set. */
static int ip_literal(const char *h, int *loopback, struct in6_addr *a6, struct in_addr *a4) {
  if (inet_pton(AF_INET, h, a4) == 1) {
    *loopback = (ntohl(a4->s_addr) >> 24) == 127;
    return 4;
  }
  if (inet_pton(AF_INET6, h, a6) == 1) {
    *loopback = IN6_IS_ADDR_LOOPBACK(a6);
    return 6;
  }
  return 0;
}

int srv_host_allowed(const srv_config *c, const char *host) {
  if (!host) return 1; /* HTTP/1.0 without Host: no browser sends that */
  char h[256];
  if (host_part(host, h, sizeof h)) return 0;
  if (!strcasecmp(h, "localhost")) return 1;
  for (int i = 0; i < c->nhost_names; i++)
    if (!strcasecmp(h, c->host_names[i])) return 1;
  int loop;
  struct in6_addr a6, l6;
  struct in_addr a4, l4;
  int kind = ip_literal(h, &loop, &a6, &a4);
  if (!kind) return 0;
  if (loop) return 1;
  /* the listen address ("::", "[::1]" or "0.0.0.0", no port), or any
   * address of a wildcard listen */
  char lh[64];
  int lloop;
  const char *l = c->listen ? c->listen : "";
  snprintf(lh, sizeof lh, "%s", l[0] == '[' ? l + 1 : l);
  if (l[0] == '[' && strchr(lh, ']')) *strchr(lh, ']') = '\0';
  int lkind = ip_literal(lh, &lloop, &l6, &l4);
  if (lkind == 4 && l4.s_addr == htonl(INADDR_ANY)) return 1;
  if (lkind == 6 && IN6_IS_ADDR_UNSPECIFIED(&l6)) return 1;
  if (lkind == 4 && kind == 4) return l4.s_addr == a4.s_addr;
  if (lkind == 6 && kind == 6) return !memcmp(&l6, &a6, sizeof a6);
  return 0;
}

/* ---- Origin ---------------------------------------------------------------------- */

/* "scheme://host[:port]" with the scheme's default port dropped, lower
 * case, into out; -1 if it is not one. */
static int origin_norm(const char *o, char *out, size_t n) {
  const char *scheme_end = strstr(o, "://");
  if (!scheme_end) return -1;
  size_t sl = (size_t)(scheme_end - o);
  const char *host = scheme_end + 3;
  size_t hl = strlen(host);
  if (hl && host[hl - 1] == '/') hl--; /* a configured "http://x/" */
  if (sl + 3 + hl >= n || hl == 0) return -1;
  size_t k = 0;
  for (size_t i = 0; i < sl + 3 + hl; i++) out[k++] = (char)tolower((unsigned char)o[i]);
  out[k] = '\0';
  int http = sl == 4 && !strncasecmp(o, "http", 4), https = sl == 5 && !strncasecmp(o, "https", 5);
  if (http && k > 3 && !strcmp(out + k - 3, ":80")) out[k - 3] = '\0';
  if (https && k > 4 && !strcmp(out + k - 4, ":443")) out[k - 4] = '\0';
  return 0;
}

int srv_origin_is_cors(const srv_config *c, const char *origin) {
  char a[300], b[300];
  return origin && c->cors && !origin_norm(origin, a, sizeof a) && !origin_norm(c->cors, b, sizeof b) &&
         !strcmp(a, b);
}

int srv_origin_allowed(const srv_config *c, const char *origin, const char *host, int tls) {
  if (!origin) return 1;
  if (srv_origin_is_cors(c, origin)) return 1;
  if (!host) return 0;
  char url[300], own[300], got[300];
  snprintf(url, sizeof url, "%s://%s", tls ? "https" : "http", host);
  return !origin_norm(url, own, sizeof own) && !origin_norm(origin, got, sizeof got) && !strcmp(own, got);
}

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
