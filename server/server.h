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
#include "snn/params.h"
#include "snn/version.h"

#define SRV_VERSION SNN_VERSION
#define SRV_ID_MAX 65          /* request ids: up to 64 printable chars */
#define SRV_MAX_MODELS 64
#define SRV_MAX_DEVICES 16

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
    _Atomic int64_t engine_threads;
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
    char *log_format;
    char *cors_origins;
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
int srv_log_format_parse(const char *s);   /* text 0, json 1, -1 unknown */
void srv_log_set_format(int json);
/* The access record of one request (one line; JSON fields in json format). */
typedef struct srv_log_access_rec {
    const char *reqid, *method, *path, *model, *note;
    int status, steps;                     /* steps 0: no engine run */
    double ms, queue_ms, compute_ms;
} srv_log_access_rec;
void srv_log_access(const srv_log_access_rec *a);

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
    SRV_M_JOBS,              /* counter {model,status}: /v1/jobs by final status */
    SRV_M_MODEL_STATE,       /* gauge {model,state}: 1 for the model's state */
    SRV_M_PROC_CPU,          /* counter {}: process CPU seconds (at scrape) */
    SRV_M_PROC_RSS,          /* gauge {} */
    SRV_M_PROC_VSIZE,        /* gauge {} */
    SRV_M_PROC_FDS,          /* gauge {} */
    SRV_M_PROC_MAX_FDS,      /* gauge {} */
    SRV_M_PROC_START,        /* gauge {} */
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
    snn_convert_params params;     /* what it was converted with (the cache key) */
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
/* 1 when `name` has a version loaded (servable now). */
int srv_repo_servable(const char *name);
/* "ready", "loading", "unavailable" (never loaded or unloaded) or "failed"
 * (the last load failed and no version serves). Static string. */
const char *srv_model_state(srv_model *m);
/* The net converted with p (NULL = the version's default): cached or
 * built now. Pair with srv_version_net_release. Called by workers only. */
srv_net *srv_version_net_acquire(srv_version *v, const snn_convert_params *p, snn_error *err);
void srv_version_net_release(srv_version *v, srv_net *n);
/* The engine and result of worker w for this net, created on first use. */
snn_err srv_net_worker(srv_version *v, srv_net *n, int w, snn_engine **e,
                       snn_result **r, snn_error *err);

/* ----------------------------------------------------------------- job */
typedef enum { SRV_API_CLASSIFY, SRV_API_V2 } srv_api_kind;   /* api.c's request kinds */
struct srv_job;

/* Where a run's steps and outcome go. The scheduler knows no API: it runs
 * a job's version, parameters and input under its deadline and cancel flag,
 * hands each finished step to the sink's step() when there is one (the run
 * then goes step by step), and completes the job with the sink's answer().
 * The handler that made the job picks the sink of its API: render.c's for
 * /classify and its server-sent events, v2.c's for the v2 protocol. Job
 * images are items [off, off + j->n) of the run. */
typedef struct srv_sink {
    void (*step)(struct srv_job *j, const snn_result *r, int off, int s);
    char *(*answer)(const struct srv_job *j, const snn_net *net, const snn_result *r, int off, size_t *len,
                    size_t *json_len);   /* *json_len 0: JSON, else the JSON part before binary data */
} srv_sink;
extern const srv_sink srv_sink_classify, srv_sink_classify_stream, srv_sink_v2;
typedef enum { SRV_JOB_NEW, SRV_JOB_QUEUED, SRV_JOB_RUNNING, SRV_JOB_DONE } srv_job_state;

/* What a v2 infer request asked for (v2.c): its id and the outputs, in
 * request order, each as JSON or binary (the binary tensor extension). */
typedef enum { SRV_V2_PROBS, SRV_V2_PROBS_STEPS, SRV_V2_STEPS, SRV_V2_NOUTPUTS } srv_v2_output;
typedef struct srv_v2_out {
    srv_v2_output which;
    int classification;                 /* > 0: top N as BYTES "value:index:label" */
    int binary;                         /* raw little-endian bytes after the JSON */
} srv_v2_out;
typedef struct srv_v2_req {
    char id[SRV_ID_MAX];
    int nout;
    srv_v2_out out[SRV_V2_NOUTPUTS];
} srv_v2_req;

/* The parameters that must be equal for jobs to share one engine run. */
typedef struct srv_run {
    int steps;
    int custom;                         /* 0 = the version's default net */
    snn_convert_params params;          /* the conversion, when custom */
    snn_early_exit early_exit;
    int raster_layer, raster_neurons;   /* -1 / 0 = none */
    int solo;                           /* never batched with others */
} srv_run;

typedef struct srv_job {
    atomic_int refs;
    char id[SRV_ID_MAX];                /* the request id */
    srv_model *model;
    srv_version *ver;                   /* referenced while the job lives */
    const srv_sink *sink;               /* its API's step and answer (never NULL once queued) */
    /* input */
    int n;                              /* images */
    int batch_form;                     /* answer with a per-image array */
    int client_fd;                      /* the request's socket while its body is
                                           decoded (peeked for a closed peer), -1 */
    int client_may_half_close;          /* its srv_req's may_half_close */
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
    srv_v2_req v2;                      /* api SRV_API_V2 only */
    /* timing (seconds, srv_now) */
    double t_start, t_enqueue, t_run, t_done, deadline;
    /* state: guarded by mu */
    uv_mutex_t mu;
    uv_cond_t cv;
    srv_job_state state;
    atomic_int cancelled;               /* 1 client gone, 2 deadline, 3 shutdown */
    int status;                         /* HTTP status once done */
    char *body;                         /* response once done: JSON, or with */
    size_t body_len;                    /* json_len > 0 a JSON header of json_len */
    size_t json_len;                    /* bytes then binary tensors (v2 binary) */
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
    int async;                          /* held in /v1/jobs: counted by final status */
} srv_job;

srv_job *srv_job_new(const char *reqid, srv_model *m, srv_version *v);
void srv_job_ref(srv_job *j);
void srv_job_unref(srv_job *j);
/* Finish: status plus either a JSON body (stolen) or an error message.
 * Appends the final SSE event; wakes waiters. Idempotent (first wins). */
void srv_job_complete(srv_job *j, int status, char *body, const char *errmsg);
/* The same with a body of `len` bytes: a JSON header of json_len bytes and
 * binary tensor data after it (v2 binary outputs; never streamed). */
void srv_job_complete_n(srv_job *j, int status, char *body, size_t len, size_t json_len);
/* Append one SSE event (data is one line of JSON). */
void srv_job_event(srv_job *j, const char *event, const char *data);
/* Wait up to `seconds` for completion or new log bytes past `offset`. */
int srv_job_wait(srv_job *j, size_t offset, double seconds);
int srv_job_done(srv_job *j);

/* /v1/jobs registry: returns the new job id in id (17 bytes). */
int srv_jobs_add(srv_job *j, char *id, size_t idlen);
srv_job *srv_jobs_get(const char *id);     /* new reference or NULL */
int srv_jobs_id_valid(const char *id);     /* the form srv_jobs_add gives */
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
/* The pause gate (see sched.c): pause holds the workers (no job taken from
 * the queues, running ones held at their next chunk boundary); resume with
 * chunks <= 0 lifts it, with chunks > 0 lets that many more chunks start
 * while staying paused. */
void srv_sched_pause(void);
void srv_sched_resume(long long chunks);
typedef struct srv_sched_info {
    int paused;
    long long passes;                      /* chunks that may still start */
    int held;                              /* runs held at a chunk boundary */
    int queued, running;                   /* jobs */
} srv_sched_info;
void srv_sched_state(srv_sched_info *out);

/* ---------------------------------------------------------------- body */
/* Parsed request options, shared by query strings, multipart fields, JSON
 * fields and v2 parameters. */
typedef struct srv_opts {
    int has_run;                    /* run was copied from the model and overridden */
    snn_run_params run;             /* the model's run with the request's overrides */
    int top_k;
    int spike_stats;
    int stream;
    char raster[SNN_LAYER_NAME_MAX];
    int raster_neurons;
    int ndevices;
    const snn_device *devices[SRV_MAX_DEVICES];
    int64_t timeout_us;             /* the client's deadline, 0 = none */
} srv_opts;

void srv_opts_init(srv_opts *o);
/* Set one option from its string form: a run option of the library's table
 * (params.h; the model must list it as overridable, and it must be able to
 * apply), or one of the API's own (top_k, spike_stats, stream, raster,
 * raster_neurons, energy, timeout_ms). */
snn_err srv_opts_set(srv_opts *o, const snn_model *m, const char *key,
                     const char *val, snn_error *err);
/* The longest deadline a client may ask for (timeout_ms, the
 * X-Request-Timeout-Ms header, v2 "timeout" in microseconds); the server's
 * request-timeout-ms caps it in any case. */
#define SRV_TIMEOUT_MAX_MS 3600000
/* Turn options into the job's run parameters (validation included). */
snn_err srv_opts_apply(const srv_opts *o, srv_job *j, snn_error *err);

/* Classify bodies: by content type; fills j->input/j->n/j->batch_form and
 * options found in the body. */
snn_err srv_body_classify(srv_job *j, srv_opts *o, const char *ctype,
                          const char *body, size_t len, snn_error *err);
/* Building blocks for the other APIs' bodies (v2.c): the job's input for
 * n images; raw 8-bit pixels (1..4 channels, converted, resized and
 * normalised per model config) into item idx; a JSON array of numbers,
 * flat or nested, at most cap elements (new floats in *vals, shape in
 * dims/nd); one option from a JSON value. */
snn_err srv_body_alloc_input(srv_job *j, long n, snn_error *err);
snn_err srv_body_add_pixels(srv_job *j, int idx, const uint8_t *px, int w, int h, int c,
                            snn_error *err);
snn_err srv_body_json_array(json_t *data, int64_t cap, float **vals, int64_t *dims, int *nd,
                            snn_error *err);
snn_err srv_opts_json(srv_opts *o, const snn_model *m, const char *key, json_t *v, snn_error *err);
/* A JSON body of a job, pre-scanned against max-json-values; a large one is
 * parsed inside a decode slot (*slot = 1: srv_decode_leave() after the tree
 * is freed), so its expansion counts against decode-concurrency. */
json_t *srv_json_parse_admitted(srv_job *j, const char *body, size_t len, int *slot, snn_error *err);
void srv_decode_leave(void);
/* JSON parse with the depth limit applied before jansson sees it. */
json_t *srv_json_parse(const char *body, size_t len, snn_error *err);
int srv_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen);

/* -------------------------------------------------------------- render */
/* /classify answers and their server-sent events are the sinks
 * srv_sink_classify and srv_sink_classify_stream (see srv_sink). */
char *srv_render_error(const char *msg, size_t *len);
json_t *srv_render_model(srv_model *m, srv_version *v, int detail);

/* ------------------------------------------------------------------ v2 */
/* The Open Inference Protocol v2 (v2.c): model metadata (the tensors a
 * request may send and the outputs it may ask for), request parsing with
 * the binary tensor extension (hdrlen: the Inference-Header-Content-Length
 * header, NULL when absent) validated against that metadata, and the
 * response. */
json_t *srv_v2_metadata(srv_model *e, srv_version *v);
snn_err srv_v2_parse(srv_job *j, srv_opts *o, const char *body, size_t len, const char *hdrlen,
                     snn_error *err);
/* ... and the response: the sink srv_sink_v2. */

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
    int may_half_close;                 /* HTTP/1.0 or Connection: close: EOF
                                         * on input is not a disconnect */
    void *conn_rec;                     /* http.c's record of the connection */
    char model_label[SNN_MODEL_NAME_MAX]; /* metrics label, "" until resolved */
    int preflight;                      /* OPTIONS: answered with Allow (+ CORS) */
    const char *xh_name;                /* one extra header of a success answer */
    char xh_value[64];                  /* (srv_reply_header) */
    int steps;                          /* of the job answered (access log), 0 = none */
    double queue_ms, compute_ms;
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

/* cors-origins syntax: "", "*", or "http(s)://host[:port],..." */
int srv_cors_origins_valid(const char *list);
int srv_http_start(void);
void srv_http_stop(void);
/* Stop accepting connections (end of drain); open ones keep going. */
void srv_http_quiesce(void);
uint16_t srv_http_port(void);
/* The admin rule (http.c): admin routes open without a token (loopback
 * listener, no admin-token), or off (beyond loopback, no admin-token). */
int srv_http_admin_open(void);
int srv_http_admin_off(void);
int srv_http_active(void);       /* HTTP requests not yet completed */
int srv_http_connections(void);  /* open client connections, requests or not */
/* 1 when the peer of socket fd closed its end (recv MSG_PEEK says 0). */
int srv_fd_peer_gone(int fd, int may_half_close);
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
/* One more header on the answer if it succeeds (name: a static string). */
void srv_reply_header(srv_req *r, const char *name, const char *value);
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
/* Ready: startup load done, not draining, and the default model servable
 * (any model when default-model is empty). */
int srv_is_ready(void);

#endif
