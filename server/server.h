/* server.h: PRIVATE header of snnd, the inference daemon. Shared by the
 * files of server/ only; the daemon sees the library through include/snn/
 * public headers and nothing else.
 *
 * DESIGN: one file per subsystem, read in this order:
 *   main.c     process lifecycle: options, signals (libuv loop), startup
 *              load, graceful drain, exit status.
 *   config.c   the ONE options table: defaults, bounds, flags, env vars,
 *              JSON config file, --help and --print-config.
 *   log.c      one-line structured log records carrying the request id.
 *   metrics.c  the ONE metrics table and the Prometheus text exposition.
 *   repo.c     the model repository: versions loaded, converted, planned,
 *              warmed, reference counted; the per-version LRU of nets built
 *              for non-default conversion parameters.
 *   job.c      the per-request job object (input, run parameters, result,
 *              SSE event log) and the /v1/jobs registry with expiry.
 *   sched.c    bounded per-model queues, the worker pool, dynamic batching,
 *              deadlines and cancellation.
 *   body.c     request bodies (PNG, JPEG, multipart, JSON base64, tensors)
 *              and request options, turned into a job.
 *   render.c   results to JSON: /classify answers, SSE events, v2 infer.
 *   http.c     libmicrohttpd glue: routing table, bodies with limits,
 *              waiting for jobs with disconnect detection, SSE streaming.
 *   api.c      the route table and its handlers.
 *   web.c      the embedded web page (/ and /static/..., files generated into
 *              web_assets.c by tools/embed-web.sh; own header web.h).
 *
 * Threads: the main thread runs the libuv loop (signals, timers, model
 * loading through uv_queue_work); libmicrohttpd runs one thread per
 * connection (handlers may block while their job runs); the worker pool runs
 * jobs. Shared state is guarded by the mutex named next to it.
 */
#ifndef SNND_SERVER_H
#define SNND_SERVER_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "snn/convert.h"
#include "snn/energy.h"
#include "snn/engine.h"
#include "snn/error.h"
#include "snn/image.h"
#include "snn/model.h"

#define SRV_VERSION "0.1.0"
#define SRV_ID_MAX 65          /* request ids: up to 64 printable chars */
#define SRV_MAX_MODELS 64
#define SRV_MAX_DEVICES 16
#define SRV_NET_KEY_MAX 1024

/* ---------------------------------------------------------------- time */
double srv_now(void);          /* monotonic seconds */
double srv_wall(void);         /* wall clock seconds since the epoch */

/* -------------------------------------------------------------- config */
/* Every field comes from the options table in config.c. Integer options are
 * atomics because reloadable ones change under running threads (SIGHUP). */
typedef struct srv_config {
    char *config_path;
    char *host;
    _Atomic int64_t port;
    char *models;
    char *default_model;
    _Atomic int64_t workers;
    _Atomic int64_t max_batch;
    _Atomic int64_t max_queue_delay_ms;
    _Atomic int64_t queue_size;
    _Atomic int64_t request_timeout_ms;
    _Atomic int64_t drain_timeout_ms;
    _Atomic int64_t max_body_bytes;
    _Atomic int64_t max_steps;
    _Atomic int64_t max_image_pixels;
    _Atomic int64_t max_image_side;
    _Atomic int64_t max_connections;
    _Atomic int64_t connection_timeout_s;
    _Atomic int64_t max_json_depth;
    _Atomic int64_t max_raster_neurons;
    _Atomic int64_t chunk_steps;
    _Atomic int64_t net_cache;
    _Atomic int64_t job_ttl_s;
    _Atomic int64_t max_jobs;
    _Atomic int64_t keepalive_s;
    _Atomic int64_t retry_after_s;
    _Atomic int64_t header_bytes;
    _Atomic int64_t decode_concurrency;
    _Atomic int64_t max_image_scans;
    _Atomic int64_t max_json_values;
    _Atomic int64_t max_connections_per_ip;
    _Atomic int64_t header_timeout_ms;
    _Atomic int64_t jobs_memory_bytes;
    char *admin_token;
    char *log_level;
    char *energy_device;
} srv_config;

extern srv_config srv_cfg;

/* Parse defaults < config file < SNND_* env < flags into srv_cfg. Returns
 * 0 to run, 1 when the process should exit 0 (--help, --print-config,
 * --version), -1 on error (message printed). */
int srv_config_init(int argc, char **argv);
/* Re-read the config file and apply reloadable options (SIGHUP). */
void srv_config_reload(void);
void srv_config_deinit(void);
/* The effective configuration as JSON (admin token redacted). new. */
json_t *srv_config_json(void);

/* ----------------------------------------------------------------- log */
typedef enum { SRV_LOG_DEBUG, SRV_LOG_INFO, SRV_LOG_WARN, SRV_LOG_ERROR } srv_log_level;
int srv_log_level_parse(const char *s);    /* -1 when unknown */
void srv_log_set_level(int level);
void srv_log(srv_log_level lvl, const char *reqid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ------------------------------------------------------------- metrics */
/* The metric families, declared once (metrics.c holds the table). */
typedef enum {
    SRV_M_REQUESTS,          /* counter {model,code} */
    SRV_M_REQUEST_SECONDS,   /* histogram {model} */
    SRV_M_QUEUE_SECONDS,     /* histogram {model} */
    SRV_M_COMPUTE_SECONDS,   /* histogram {model} */
    SRV_M_QUEUE_DEPTH,       /* gauge {model} */
    SRV_M_BATCH_SIZE,        /* histogram {} */
    SRV_M_INFLIGHT,          /* gauge {} */
    SRV_M_TIMESTEPS,         /* counter {model} */
    SRV_M_SPIKES,            /* counter {model} */
    SRV_M_ENERGY,            /* counter {model,device} */
    SRV_M_MODEL_MEMORY,      /* gauge {model} */
    SRV_M_MODEL_LOADS,       /* counter {model,result} */
    SRV_M_BUILD_INFO,        /* gauge {version} */
    SRV_M_DECODES,           /* counter {result} */
    SRV_M_DECODES_ACTIVE,    /* gauge {} */
    SRV_M_DECODES_WAITING,   /* gauge {} */
    SRV_M_JOBS_BYTES,        /* gauge {} */
    SRV_M_COUNT_
} srv_metric_id;

void srv_metrics_init(void);
void srv_metrics_deinit(void);
/* Label values in the family's declared order; missing ones are "". */
void srv_metrics_add(srv_metric_id m, double v, const char *l1, const char *l2);
void srv_metrics_set(srv_metric_id m, double v, const char *l1, const char *l2);
void srv_metrics_observe(srv_metric_id m, double v, const char *l1);
void srv_metrics_remove(srv_metric_id m, const char *l1);
/* Prometheus text format 0.0.4. new, caller frees with free(). */
char *srv_metrics_render(size_t *len);

/* ---------------------------------------------------------------- repo */
/* One converted network plus one engine and result per worker (lazily). */
typedef struct srv_net {
    char key[SRV_NET_KEY_MAX];     /* snn_convert_params_format() text */
    snn_net *net;
    int nworkers;
    snn_engine **engines;          /* [nworkers], created by each worker */
    snn_result *results;           /* [nworkers] */
    int *result_ready;             /* [nworkers] */
    int inuse;                     /* runs in progress (version mutex) */
    double last_used;
    int transient;                 /* not cached: freed after its run */
} srv_net;

typedef struct srv_model srv_model;

/* One loaded version of a model. Immutable except the net cache (mutex).
 * Reference counted: the repository holds one while it is current, each
 * job one while it is queued or running. */
typedef struct srv_version {
    atomic_int refs;
    srv_model *model;
    int64_t version;               /* numeric subfolder, or 1 */
    char version_str[24];
    char *path;                    /* directory loaded */
    snn_model *m;
    srv_net *def;                  /* the model's own conversion params */
    int max_steps;                 /* engines are sized for this */
    int max_batch;
    uv_mutex_t mu;                 /* guards cache[] and net inuse counts */
    int ncache;
    srv_net **cache;               /* [cache_cap] nets for overrides, LRU */
    int cache_cap;
    double loaded_at;
    size_t memory_bytes;
    char signature[512];           /* files and mtimes, to skip no-op reloads */
} srv_version;

/* A model name in the repository; entries live until shutdown so that
 * queues and metrics stay valid across unload/reload. */
struct srv_model {
    char name[SNN_MODEL_NAME_MAX];
    uv_mutex_t mu;                 /* guards cur and last_error */
    srv_version *cur;              /* NULL when unloaded / never loaded */
    char last_error[384];
    int loading;
    /* queue (scheduler mutex) */
    struct srv_job *qhead, *qtail;
    int qlen;                      /* jobs queued */
};

int srv_repo_init(void);                 /* scan srv_cfg.models, no loading */
void srv_repo_deinit(void);
/* Load every model in the repository (startup and SIGHUP). force 0 skips
 * models whose files did not change. Returns the number loaded OK. */
int srv_repo_load_all(int force);
/* Load (or reload) one model by name. On failure the old version keeps
 * serving and err says why. */
snn_err srv_repo_load(const char *name, snn_error *err);
snn_err srv_repo_unload(const char *name, snn_error *err);
int srv_repo_name_valid(const char *name);
/* The entry for a name (NULL if the repository has none). */
srv_model *srv_repo_find(const char *name);
int srv_repo_count(void);
srv_model *srv_repo_at(int i);
/* Current version with a new reference (NULL when not loaded). */
srv_version *srv_model_acquire(srv_model *m);
void srv_version_release(srv_version *v);
int srv_repo_ready_count(void);
/* The net for a key ("" = default): cached or built now. Pair with
 * srv_version_net_release. Called by workers only. */
srv_net *srv_version_net_acquire(srv_version *v, const char *key,
                                 const snn_convert_params *p, snn_error *err);
void srv_version_net_release(srv_version *v, srv_net *n);
/* The engine and result of worker w for this net, created on first use. */
snn_err srv_net_worker(srv_version *v, srv_net *n, int w, snn_engine **e,
                       snn_result **r, snn_error *err);

/* ----------------------------------------------------------------- job */
typedef enum { SRV_API_CLASSIFY, SRV_API_V2 } srv_api_kind;
typedef enum { SRV_JOB_NEW, SRV_JOB_QUEUED, SRV_JOB_RUNNING, SRV_JOB_DONE } srv_job_state;

/* The parameters that must be equal for jobs to share one engine run. */
typedef struct srv_run {
    int steps;
    char net_key[SRV_NET_KEY_MAX];     /* "" = the version's default net */
    snn_convert_params params;          /* valid when net_key[0] */
    snn_early_exit early_exit;
    int raster_layer, raster_neurons;   /* -1 / 0 = none */
    int solo;                           /* never batched with others */
} srv_run;

typedef struct srv_job {
    atomic_int refs;
    char id[SRV_ID_MAX];                /* the request id */
    srv_model *model;
    srv_version *ver;                   /* referenced while the job lives */
    srv_api_kind api;
    /* input */
    int n;                              /* images */
    int batch_form;                     /* answer with a per-image array */
    int client_fd;                      /* the request's socket while its body is
                                           decoded (peeked for a closed peer), -1 */
    float *input;                       /* n x snn_model_input_size */
    /* run */
    srv_run run;
    char raster_name[SNN_LAYER_NAME_MAX];
    int stream;                         /* SSE timestep events */
    /* output options */
    int top_k;
    int spike_stats;
    int ndevices;
    const snn_device *devices[SRV_MAX_DEVICES];
    int v2_classification;              /* 0 = off, else top N strings */
    int v2_want_probs;
    char v2_id[SRV_ID_MAX];
    /* timing (seconds, srv_now) */
    double t_start, t_enqueue, t_run, t_done, deadline;
    /* state: guarded by mu */
    uv_mutex_t mu;
    uv_cond_t cv;
    srv_job_state state;
    atomic_int cancelled;               /* 1 client gone, 2 deadline, 3 shutdown */
    int status;                         /* HTTP status once done */
    char *body;                         /* response JSON once done */
    size_t body_len;
    int batch_size;                     /* images in the engine run */
    /* SSE event log: all events appended, readers keep offsets */
    char *log;
    size_t log_len, log_cap;
    int64_t next_event_id;
    int registered;                     /* held by /v1/jobs: its log counts
                                           against jobs-memory-bytes (mu) */
    int log_truncated;                  /* timesteps dropped past the budget */
    int64_t reserved;                   /* budget held for the answer until done */
    /* queue links (scheduler mutex) */
    struct srv_job *prev, *next;
    int queued;
} srv_job;

srv_job *srv_job_new(const char *reqid, srv_model *m, srv_version *v);
void srv_job_ref(srv_job *j);
void srv_job_unref(srv_job *j);
/* Finish: status plus either a JSON body (stolen) or an error message.
 * Appends the final SSE event; wakes waiters. Idempotent (first wins). */
void srv_job_complete(srv_job *j, int status, char *body, const char *errmsg);
/* Append one SSE event (data is one line of JSON). */
void srv_job_event(srv_job *j, const char *event, const char *data);
/* Wait up to `seconds` for completion or new log bytes past `offset`. */
int srv_job_wait(srv_job *j, size_t offset, double seconds);
int srv_job_done(srv_job *j);

/* /v1/jobs registry: returns the new job id in id (17 bytes). */
int srv_jobs_add(srv_job *j, char *id, size_t idlen);
srv_job *srv_jobs_get(const char *id);     /* new reference or NULL */
void srv_jobs_reap(void);                  /* drop expired entries */
void srv_jobs_deinit(void);

/* --------------------------------------------------------------- sched */
int srv_sched_start(void);
void srv_sched_stop(void);
/* Queue a job: SNN_OK, or SNN_EBUSY when the model's queue is full (or
 * the workers are stopping). Takes a reference of its own. */
snn_err srv_sched_submit(srv_job *j);
/* 1 when the model's queue holds queue-size jobs: http.c refuses new
 * requests for it at their headers, before reading or decoding a body. */
int srv_sched_full(srv_model *m);
/* Withdraw a job (client gone or deadline): out of the queue if waiting,
 * flagged for the step callback if running. */
void srv_sched_cancel(srv_job *j, int why);
/* Fail every queued job and cancel running ones (end of drain). */
void srv_sched_cancel_all(void);
int srv_sched_busy(void);                  /* jobs queued or running */

/* ---------------------------------------------------------------- body */
/* Parsed request options, shared by query strings, multipart fields, JSON
 * fields and v2 parameters. */
typedef struct srv_opts {
    int steps;                      /* 0 = model default */
    int top_k;
    int spike_stats;
    int stream;
    char raster[SNN_LAYER_NAME_MAX];
    int raster_neurons;
    int ndevices;
    const snn_device *devices[SRV_MAX_DEVICES];
    int nconv;
    char conv_key[8][32];
    char conv_val[8][256];
    int has_ee;
    snn_early_exit ee;
} srv_opts;

void srv_opts_init(srv_opts *o);
/* Set one option from its string form; checks the model allows it. */
snn_err srv_opts_set(srv_opts *o, const snn_model *m, const char *key,
                     const char *val, snn_error *err);
/* Turn options into the job's run parameters (validation included). */
snn_err srv_opts_apply(const srv_opts *o, srv_job *j, snn_error *err);

/* Classify bodies: by content type; fills j->input/j->n/j->batch_form and
 * options found in the body. */
snn_err srv_body_classify(srv_job *j, srv_opts *o, const char *ctype,
                          const char *body, size_t len, snn_error *err);
/* v2 infer JSON body. */
snn_err srv_body_v2(srv_job *j, srv_opts *o, const char *body, size_t len,
                    snn_error *err);
/* JSON parse with the depth limit applied before jansson sees it. */
json_t *srv_json_parse(const char *body, size_t len, snn_error *err);
int srv_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen);

/* -------------------------------------------------------------- render */
/* Called by a worker after a successful run: fills the job's body. Job
 * images are items [off, off + j->n) of the run. */
char *srv_render_result(const srv_job *j, const snn_net *net,
                        const snn_result *r, int off, size_t *len);
/* SSE data of one timestep (step index s, 0-based). new. */
char *srv_render_step(const srv_job *j, const snn_result *r, int off, int s);
char *srv_render_error(const char *msg, size_t *len);
json_t *srv_render_model(srv_model *m, srv_version *v, int detail);

/* ---------------------------------------------------------------- http */
struct MHD_Connection;

/* One HTTP request: the connection's state from the first header to the
 * completion callback (http.c owns it). */
typedef struct srv_req {
    char id[SRV_ID_MAX];                /* X-Request-ID, echoed or generated */
    char method[16];
    char path[1024];
    double t0;
    struct MHD_Connection *conn;
    const struct srv_route *route;
    char arg[2][128];                   /* {} captures of the route pattern */
    char *body;
    size_t len, cap;
    int too_large;
    int busy;                           /* refused at its headers: queue full */
    size_t discarded;
    int status;                         /* answered status (0 = none yet) */
    int infer;                          /* counted as an inference request */
    int counted;                        /* request metrics recorded */
    int streaming;                      /* SSE: metrics when the stream ends */
    void *conn_rec;                     /* http.c's record of the connection */
    char model_label[SNN_MODEL_NAME_MAX]; /* metrics label, "" until resolved */
} srv_req;

typedef void (*srv_handler)(srv_req *r);
enum { SRV_R_BODY = 1, SRV_R_ADMIN = 2, SRV_R_INFER = 4 };
typedef struct srv_route {
    const char *method;
    const char *pattern;                /* "/v1/models/{}/classify" */
    srv_handler fn;
    int flags;
} srv_route;

extern const srv_route srv_routes[];
extern const int srv_nroutes;

int srv_http_start(void);
void srv_http_stop(void);
/* Stop accepting connections (end of drain); open ones keep going. */
void srv_http_quiesce(void);
uint16_t srv_http_port(void);
int srv_http_active(void);       /* HTTP requests not yet completed */
/* 1 when the peer of socket fd closed its end (recv MSG_PEEK says 0). */
int srv_fd_peer_gone(int fd);
/* Inference requests from their first header to their answer: more of
 * them than jobs queued or running means requests are still arriving. */
extern atomic_int srv_infer_open;
/* Cut connections idle or stuck in their headers past connection-timeout-s
 * (called periodically by main.c's loop). */
void srv_http_watchdog(void);

const char *srv_req_header(srv_req *r, const char *name);
int srv_req_fd(srv_req *r);      /* the connection's socket, -1 if unknown */
/* Query arguments into options; 0, or -1 with err set. On POST /v1/jobs
 * the "model" argument selects the model and is skipped here. */
int srv_req_query_opts(srv_req *r, srv_opts *o, const snn_model *m, snn_error *err);
const char *srv_req_query(srv_req *r, const char *key);
void srv_reply(srv_req *r, int status, const char *ctype, const char *body, size_t len);
void srv_reply_json(srv_req *r, int status, json_t *o);      /* steals o */
void srv_reply_error(srv_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void srv_reply_empty(srv_req *r, int status);
/* Wait for a job (disconnect detection, deadline) and answer with it. */
void srv_reply_job(srv_req *r, srv_job *j);
/* Answer with the job's SSE event log from event `after_id` on. */
void srv_reply_stream(srv_req *r, srv_job *j, int64_t after_id, int cancel_on_close);

/* --------------------------------------------------------------- state */
extern atomic_int srv_draining;       /* SIGTERM received */
extern atomic_int srv_started;        /* startup load finished */
int srv_is_ready(void);

#endif
