/*
 * metrics.c - what GET /metrics reports, in Prometheus' text format:
 * requests by route and status code, a latency histogram per route (from
 * the first byte of the request to the last of the response), the queue,
 * in-flight requests, workers, connections, the index's size and change
 * sequence, resident memory and uptime. Counters are atomics that the MHD
 * threads bump as requests complete; routes are the fixed templates
 * ("/faces/{id}"), never the paths clients send, so the label set stays
 * small whatever they send.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/server.h"

const char *const srv_route_names[R_COUNT] = {
    [R_PAGE] = "/", [R_HEALTH] = "/health", [R_READY] = "/ready", [R_METRICS] = "/metrics",
    [R_INFO] = "/info", [R_REPRESENT] = "/represent", [R_VERIFY] = "/verify", [R_ANALYZE] = "/analyze",
    [R_FIND] = "/find", [R_REGISTER] = "/register", [R_DELETE_FACE] = "/faces/{id}",
    [R_FACE_IMAGE] = "/faces/{id}/image", [R_DELETE_IDENTITY] = "/identities/{name}",
    [R_IDENTITIES] = "/identities", [R_IDENTITY_FACES] = "/identities/{name}/faces", [R_UNKNOWN] = "other",
};

/* The status codes the service answers with, 499 standing for a client
 * that closed its connection before the answer; the last slot is any other
 * (none is expected). */
static const int codes[SRV_NCODES - 1] = {200, 201, 400, 401, 403, 404, 405, 413, 415, 422, 499, 500, 501, 503};
static const double bounds[SRV_NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

static int code_slot(int status) {
  for (int i = 0; i < SRV_NCODES - 1; i++)
    if (codes[i] == status) return i;
  return SRV_NCODES - 1;
}

void srv_metrics_observe(srv_metrics *m, int route, int status, double seconds) {
  if (route < 0 || route >= R_COUNT) route = R_UNKNOWN;
  atomic_fetch_add(&m->requests[route][code_slot(status)], 1);
  for (int b = 0; b < SRV_NBUCKETS; b++)
    if (seconds <= bounds[b]) atomic_fetch_add(&m->buckets[route][b], 1);
  atomic_fetch_add(&m->count[route], 1);
  atomic_fetch_add(&m->micros[route], (unsigned long long)(seconds * 1e6));
}

long long srv_rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long long pages = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%lld %lld", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  return rss * sysconf(_SC_PAGESIZE);
}

typedef struct buf {
  char *p;
  size_t n, cap;
  int oom;
} buf;

static void put(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(buf *b, const char *fmt, ...) {
  if (b->oom) return;
  for (;;) {
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (w >= 0 && (size_t)w < b->cap - b->n) {
      b->n += (size_t)w;
      return;
    }
    size_t cap = b->cap * 2 + (w > 0 ? (size_t)w : 0) + 1024;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
}

static void gauge(buf *b, const char *name, const char *help, double v) {
  put(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help, name, name, v);
}

char *srv_metrics_text(const srv_metrics *m, const srv_gauges *g, size_t *len) {
  buf b = {malloc(16384), 0, 16384, 0};
  if (!b.p) return NULL;
  put(&b, "# HELP facekit_requests_total HTTP requests by route and status code.\n"
          "# TYPE facekit_requests_total counter\n");
  for (int r = 0; r < R_COUNT; r++)
    for (int c = 0; c < SRV_NCODES; c++) {
      unsigned long n = atomic_load(&m->requests[r][c]);
      if (!n) continue;
      if (c < SRV_NCODES - 1) put(&b, "facekit_requests_total{route=\"%s\",code=\"%d\"} %lu\n", srv_route_names[r], codes[c], n);
      else put(&b, "facekit_requests_total{route=\"%s\",code=\"other\"} %lu\n", srv_route_names[r], n);
    }
  put(&b, "# HELP facekit_request_duration_seconds Time from a request's arrival to its answer.\n"
          "# TYPE facekit_request_duration_seconds histogram\n");
  for (int r = 0; r < R_COUNT; r++) {
    unsigned long count = atomic_load(&m->count[r]);
    if (!count) continue;
    for (int i = 0; i < SRV_NBUCKETS; i++)
      put(&b, "facekit_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %lu\n", srv_route_names[r],
          bounds[i], atomic_load(&m->buckets[r][i]));
    put(&b, "facekit_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %lu\n", srv_route_names[r], count);
    put(&b, "facekit_request_duration_seconds_sum{route=\"%s\"} %.6f\n", srv_route_names[r],
        atomic_load(&m->micros[r]) / 1e6);
    put(&b, "facekit_request_duration_seconds_count{route=\"%s\"} %lu\n", srv_route_names[r], count);
  }
  put(&b, "# HELP facekit_jobs_total Jobs the workers ran.\n# TYPE facekit_jobs_total counter\n"
          "facekit_jobs_total %lu\n", atomic_load(&m->jobs_done));
  gauge(&b, "facekit_queue_depth", "Jobs waiting for a worker.", (double)g->queue_depth);
  gauge(&b, "facekit_queue_capacity", "Jobs that may wait before requests get 503.", (double)g->queue_capacity);
  gauge(&b, "facekit_inflight_requests", "Requests received and not yet answered.", (double)g->inflight);
  gauge(&b, "facekit_workers", "Inference worker threads.", (double)g->workers);
  gauge(&b, "facekit_connections", "Open client connections.", (double)g->connections);
  gauge(&b, "facekit_index_faces", "Faces in the served index.", (double)g->index_faces);
  gauge(&b, "facekit_index_seq", "Change sequence of the served index's vectors.", (double)g->index_seq);
  gauge(&b, "process_resident_memory_bytes", "Resident memory.", (double)srv_rss_bytes());
  gauge(&b, "facekit_uptime_seconds", "Seconds since the port opened.", g->uptime_s);
  if (b.oom) {
    free(b.p);
    return NULL;
  }
  *len = b.n;
  return b.p;
}
