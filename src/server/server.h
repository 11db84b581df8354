/*
 * server.h - internals of `facekit serve` (src/server/), the HTTP service.
 *
 * Threads and what each may do:
 *   MHD's polling thread(s) (http.c)  accept, read requests, route, check
 *       keys and limits, collect bodies (multipart through MHD's post
 *       processor, JSON as bytes), answer the cheap routes (/, /health,
 *       /ready, /metrics) and queue every other request as a job: the
 *       connection is suspended and resumed when the job is done. They never
 *       run inference or SQLite.
 *   N workers (pool.c)  each with its own fk_sessions over the one shared
 *       fk_models (one inference thread each: parallelism comes from the
 *       workers) and its own read-only fk_store for lookups; they parse the
 *       job's parameters, run the library and write the JSON (handlers.c).
 *   one writer (pool.c)  owns the read-write fk_store: every register and
 *       delete is run there, committed, and applied to the shared vectors
 *       before the worker answers; between writes it picks up other
 *       processes' commits (fk_store_refresh) every --refresh-ms.
 *   the main thread (http.c, srv_run)  loads everything before the port
 *       opens, then waits for SIGTERM / SIGINT and drains.
 *
 * A request's life: http.c makes an srv_job at the first call of MHD's
 * access handler; the job carries the route, the role the key grants, the
 * parameters gathered so far (query, form fields, files) or the raw JSON
 * body, and, once a worker is done, the response (status, body, type).
 */
#ifndef FK_SERVER_H
#define FK_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "facekit.h"

#define SRV_MAX_ALLOW 16

/* Everything `facekit serve` was started with (src/cli/serve.c fills it). */
typedef struct srv_config {
  const char *db;             /* the served index, NULL for none */
  const char *data_dir;       /* where uploads go (default DB.images) */
  const char *root;           /* the index's relative paths are below it (for
                                 crops); NULL: below the working directory */
  const char *models_dir;     /* NULL: $FACEKIT_MODELS or ./models */
  fk_options opt;             /* defaults of represent, verify, analyze; of
                                 a new index's first register too */
  const char *listen;         /* address to bind (default 127.0.0.1) */
  int port;                   /* 0: any free port (the ready line says which) */
  int workers;                /* inference threads (default: the cores) */
  int queue;                  /* jobs waiting beyond those running */
  int io_threads;             /* MHD polling threads */
  const char *keys_file;      /* "KEY ROLE" lines; NULL: no keys */
  const char *allow_path[SRV_MAX_ALLOW]; /* server-side paths allowed in */
  int nallow;
  size_t max_body;            /* bytes of a request body */
  int max_connections, max_per_ip;
  int timeout_s;              /* idle connection timeout */
  size_t conn_memory;         /* MHD's per-connection memory limit */
  const char *tls_cert, *tls_key;
  int drain_s;                /* SIGTERM: wait this long for requests */
  int refresh_ms;             /* writer: pick up other processes' commits */
  int quiet;                  /* no access log */
  const char *host_names[SRV_MAX_ALLOW]; /* --host-name: names Host may carry */
  int nhost_names;
  const char *cors;           /* --cors ORIGIN: the one cross-origin caller */
} srv_config;

void srv_config_init(srv_config *c);

/* Runs the service until SIGTERM or SIGINT; returns the exit code (0 after
 * a clean drain). Prints the ready line on stdout when the port is open. */
int srv_run(const srv_config *c);

/* ---- routes ------------------------------------------------------------- */

enum {
  R_PAGE, R_HEALTH, R_READY, R_METRICS, R_INFO,
  R_REPRESENT, R_VERIFY, R_ANALYZE, R_FIND, R_REGISTER,
  R_DELETE_FACE, R_FACE_IMAGE, R_DELETE_IDENTITY, R_IDENTITIES, R_IDENTITY_FACES,
  R_UNKNOWN, R_COUNT
};
extern const char *const srv_route_names[R_COUNT]; /* "/find", "/faces/{id}", ... */

enum { ROLE_NONE = 0, ROLE_READ = 1, ROLE_WRITE = 2 };

/* ---- parameters (params.c) ---------------------------------------------- */

enum { P_JSON, P_TEXT, P_FILE };

typedef struct srv_param {
  char *name;
  int kind;               /* P_JSON: a member of the JSON body; P_TEXT: a
                             query argument or form field; P_FILE: a
                             multipart file */
  const cJSON *json;      /* P_JSON */
  char *data;             /* P_TEXT, P_FILE: the bytes, NUL-terminated */
  size_t len;
  int used;               /* read by the handler (the rest are unknown) */
} srv_param;

typedef struct srv_params {
  srv_param *p;
  int n, cap;
  cJSON *root;            /* the JSON body, owning the P_JSON values */
} srv_params;

/* The error a request ends with: HTTP status, a code word for clients and a
 * message without internals. */
typedef struct srv_error {
  int status;             /* 0: none */
  const char *code;
  char msg[512];
} srv_error;

/* Fills e and returns -status: negative, as the library's FK_E* codes are,
 * so that a getter's "< 0: failed" carries the HTTP status with it. */
int srv_fail(srv_error *e, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

void srv_params_free(srv_params *ps);
/* Adds a parameter (a copy of data); with append, data continues the last
 * parameter if it has this name (multipart chunks). -1 on OOM. */
int srv_params_add(srv_params *ps, const char *name, int kind, const char *data, size_t len, int append);
/* The members of a JSON object body as parameters. */
int srv_params_from_json(srv_params *ps, const char *body, size_t len, srv_error *e);

/* Strict getters. Each returns 0 when the parameter is absent (the output
 * is left as it is), 1 when it was read, -1 after filling e. Booleans are
 * true/false (JSON, or those words as text); numbers are range-checked. */
int srv_get_bool(srv_params *ps, const char *name, int *out, srv_error *e);
int srv_get_int(srv_params *ps, const char *name, long lo, long hi, long *out, srv_error *e);
int srv_get_float(srv_params *ps, const char *name, double lo, double hi, float *out, srv_error *e);
int srv_get_string(srv_params *ps, const char *name, const char **out, srv_error *e);
/* The parameter of name or of alias (NULL: none; both given is a 400),
 * whatever its kind: *used the name it came by, *text its text (a query or
 * form value, a JSON string; else NULL) and *json its JSON value (NULL for
 * query and form values). 1 found, 0 absent, < 0 with e set. */
int srv_get_value(srv_params *ps, const char *name, const char *alias, const char **used, const char **text,
                  const cJSON **json, srv_error *e);
/* A list of strings: a JSON array, or comma-separated text, into buf as
 * "a,b,c". */
int srv_get_list(srv_params *ps, const char *name, char *buf, size_t size, srv_error *e);

/* A box: a JSON object {"x","y","w","h"} or "x,y,w,h" text, positive
 * size. */
int srv_get_box(srv_params *ps, const char *name, fk_box *out, srv_error *e);

/* An image parameter's bytes: a file part; a data: URI or base64 text; or,
 * only when allow[] names a directory it lies under, a server-side path.
 * URLs are always refused. *data is malloc'd. */
int srv_get_image(srv_params *ps, const char *name, const char *const *allow, int nallow, size_t max_bytes,
                  uint8_t **data, size_t *len, srv_error *e);

/* 400 naming the first parameter no getter read; 0 if none. */
int srv_params_check_unknown(const srv_params *ps, srv_error *e);

/* ---- request checks (guard.c) ------------------------------------------- */

/* Host (NULL: none sent) names this server: a loopback name or address,
 * the listen address (any address when it is a wildcard), or a
 * --host-name. */
int srv_host_allowed(const srv_config *c, const char *host);
/* Origin (NULL: none sent) is this server's own (scheme and the request's
 * Host) or the --cors ORIGIN. */
int srv_origin_allowed(const srv_config *c, const char *origin, const char *host, int tls);
/* Origin is the --cors ORIGIN. */
int srv_origin_is_cors(const srv_config *c, const char *origin);
/* A raw (undecoded) URL holds %00. */
int srv_url_has_nul(const char *raw);
/* A JSON text holds a NUL byte, or the escape backslash-u0000 in a string. */
int srv_json_has_nul(const char *body, size_t len);

/* ---- keys (auth.c) -------------------------------------------------------- */

typedef struct srv_key {
  uint8_t hash[32];       /* SHA-256 of the key: compared in constant time */
  int role;
  int line;               /* of the keys file (a key given twice is refused) */
} srv_key;

typedef struct srv_keys {
  srv_key *k;
  int n;
} srv_keys;

int srv_keys_load(const char *path, srv_keys *keys, char *err, size_t errlen);
void srv_keys_free(srv_keys *keys);
/* The role of a presented key: every configured key is compared, in
 * constant time, whatever matches; ROLE_NONE when none does. */
int srv_keys_role(const srv_keys *keys, const char *key, size_t len);

/* ---- metrics (metrics.c) -------------------------------------------------- */

#define SRV_NBUCKETS 12
#define SRV_NCODES 15                      /* status codes counted apart, and "other" */
typedef struct srv_metrics {
  atomic_ulong requests[R_COUNT][SRV_NCODES]; /* by status code (see metrics.c) */
  atomic_ulong buckets[R_COUNT][SRV_NBUCKETS];
  atomic_ulong count[R_COUNT];
  atomic_ullong micros[R_COUNT];           /* summed latency */
  atomic_ulong jobs_done;
  atomic_ullong job_micros;                /* summed worker time */
} srv_metrics;

void srv_metrics_observe(srv_metrics *m, int route, int status, double seconds);
/* The Prometheus text exposition, with the gauges given; malloc'd. */
typedef struct srv_gauges {
  long queue_depth, queue_capacity, inflight, workers, connections;
  long long index_faces, index_seq;
  double uptime_s;
} srv_gauges;
char *srv_metrics_text(const srv_metrics *m, const srv_gauges *g, size_t *len);
/* Resident memory in bytes, from /proc/self/statm; 0 if unknown. */
long long srv_rss_bytes(void);

/* ---- jobs, workers and the writer (pool.c) ------------------------------- */

struct MHD_Connection;
struct srv;

typedef struct srv_job {
  struct srv *srv;
  struct MHD_Connection *conn;
  int route, role;
  char arg[512];          /* the {id} or {name} of the path */
  srv_params params;
  char *body;             /* a JSON body, parsed by the worker */
  size_t body_len;
  /* the response */
  int status;
  char *out;              /* malloc'd */
  size_t out_len;
  const char *content_type;
  int retry_after;
  struct srv_job *next;
} srv_job;

/* Sets the job's response to JSON (taking obj) or to e's error object. */
void srv_job_json(srv_job *j, int status, cJSON *obj);
void srv_job_error(srv_job *j, const srv_error *e);

/* A session for these options, made on first use (per worker). */
typedef struct srv_session_slot {
  fk_options opt;
  fk_session *s;
  unsigned long last_used;
} srv_session_slot;

#define SRV_SESSIONS 6

typedef struct srv_worker {
  struct srv *srv;
  pthread_t th;
  int id;
  srv_session_slot slots[SRV_SESSIONS];
  unsigned long tick;
  fk_store *lookup;       /* read-only, for match lookups and listings */
} srv_worker;

/* The session of worker w for opt; NULL after filling e. */
fk_session *srv_session(srv_worker *w, const fk_options *opt, srv_error *e);
/* Runs fn(store, arg) on the writer thread and returns its result. */
int srv_write(struct srv *s, int (*fn)(fk_store *st, void *arg), void *arg);

/* ---- handlers (handlers.c) ------------------------------------------------ */

/* Parses the job's parameters and, with a worker, runs it: fills the
 * response. Without a worker (dry runs, the fuzz target) only the
 * parameters are read and checked, and the response says what was read. */
void srv_handle(srv_job *j, srv_worker *w);

/* ---- the service (http.c) -------------------------------------------------- */

typedef struct srv {
  srv_config cfg;
  srv_keys keys;
  fk_models *models;
  fk_options index_opt;   /* the index's recorded pipeline (or cfg.opt) */
  char index_model[64];   /* its model fingerprint ("" before the first face) */
  char data_real[4096];   /* realpath of the data dir ("" until made) */
  char *tls_cert, *tls_key; /* PEM, kept for the daemon's lifetime */
  fk_store *writer;       /* owned by the writer thread once it runs */
  fk_vectors *vectors;
  struct MHD_Daemon *mhd;
  srv_metrics metrics;
  double t0;
  atomic_int draining;
  atomic_long inflight;
  atomic_long pre_drain;  /* requests in flight that arrived before SIGTERM:
                             the drain waits for these, while new arrivals
                             are answered 503 (and /ready says why) */
  atomic_ulong request_ids;
  /* jobs */
  pthread_mutex_t mu;
  pthread_cond_t more;
  srv_job *head, *tail;
  int queued, running, stop_workers;
  srv_worker *workers;
  int nworkers;
  /* the writer */
  pthread_t writer_th;
  pthread_mutex_t wmu;
  pthread_cond_t wmore, wdone;
  struct srv_write_op *ops;
  int stop_writer, writer_running;
  int dry;                /* no workers: jobs are parsed inline (fuzzing) */
  /* MHD's first log line while srv_http_start's thread starts the daemon:
   * why it did not (written and read by that thread only) */
  atomic_int starting;
  pthread_t starter;
  char start_log[256];
} srv;

/* pool.c */
int srv_pool_start(srv *s, char *err, size_t errlen);
/* Queues a job; 0, or -1 when the queue is full (nothing queued). */
int srv_pool_submit(srv *s, srv_job *j);
void srv_pool_stop(srv *s);
int srv_writer_start(srv *s, char *err, size_t errlen);
void srv_writer_stop(srv *s);

/* http.c: the MHD side; exposed for the fuzz target, which drives a daemon
 * without a listening socket and without workers. */
struct MHD_Daemon *srv_http_start(srv *s, unsigned extra_flags, char *err, size_t errlen);
void srv_job_free(srv_job *j);

/* The web page (page.html, embedded at build time). */
extern const char srv_page_html[];
extern const size_t srv_page_html_len;

#endif /* FK_SERVER_H */
