/* http.c: the libmicrohttpd glue: routing, bodies with limits, answers,
 * waiting for jobs and streaming server-sent events.
 *
 * DESIGN: libmicrohttpd runs one thread per connection
 * (MHD_USE_THREAD_PER_CONNECTION), bounded by max-connections. That makes
 * the request path plain blocking code: a handler submits its job and
 * waits on the job's condition variable, and an SSE content reader blocks
 * until the next event or the keepalive interval. While a handler waits it
 * polls its socket every 50 ms (a reset or error, or end of input from a
 * client that keeps its connection, means gone; a half-closed HTTP/1.0 or
 * Connection: close client is answered: peer_gone()),
 * so work for a client that went away is withdrawn from the queue or
 * cancelled at the engine's next chunk; an SSE stream notices through the
 * response's free callback. Limits are applied as early as the protocol
 * allows: a Content-Length over max-body-bytes is answered 413 before the
 * body is read; a chunked body is counted while it arrives; a body trickled
 * slower than connection-timeout-s in total is cut off; headers beyond
 * header-bytes are refused by libmicrohttpd itself (431); a connection
 * without a complete request within header-timeout-ms is cut by the
 * watchdog, and one client address holds at most max-connections-per-ip
 * connections. An inference request whose model queue is full is refused
 * at its headers (503 + Retry-After, body dropped, connection kept), so
 * overload costs neither a job nor a decode.
 *
 * Routing is table driven (api.c's srv_routes): a path that matches a
 * pattern with another method is 405 with an Allow header, no match is 404.
 * Every answer carries X-Request-ID, every 503 a Retry-After, and the
 * completion callback writes the one access-log line and the request
 * metrics.
 */
#include "server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

static struct MHD_Daemon *daemon_;
static uint16_t bound_port;
static int listen_loopback;      /* the listener accepts loopback peers only */
static char id_prefix[9];
static atomic_ulong id_counter;
static atomic_int active;        /* requests between first header and completion */
atomic_int srv_infer_open;       /* inference requests not answered yet */

/* Every open connection, for the slow-header watchdog. libmicrohttpd's
 * connection timeout is an idle timeout, so a client that trickles its
 * headers one byte at a time would hold a connection (and its thread)
 * forever; srv_http_watchdog() cuts connections that spent longer than
 * header-timeout-ms (or connection-timeout-s, if shorter) outside a
 * request (headers not complete yet, or idle keep-alive). Together with
 * max-connections-per-ip (libmicrohttpd refuses a client's connection
 * over it at accept) one address holds at most that many threads, each
 * for at most header-timeout-ms without sending a whole request. It shuts down a dup() of the socket, so it can never
 * hit a descriptor number the kernel already gave to someone else. */
typedef struct conn_rec {
    struct conn_rec *prev, *next;
    int fd;                      /* our own dup of the connection's socket */
    double since;                /* accepted, or last request completed */
    int in_request;
    int cut;
} conn_rec;
static conn_rec *conns;
static uv_mutex_t conns_mu;

int srv_http_active(void) { return atomic_load(&active); }

int srv_http_connections(void)
{
    if (!daemon_) return 0;
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return di ? (int)di->num_connections : 0;
}

/* ------------------------------------------------------------- helpers */

const char *srv_req_header(srv_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *srv_req_query(srv_req *r, const char *key)
{
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

typedef struct qctx {
    srv_opts *o;
    const snn_model *m;
    snn_error *err;
    int rc;
    int skip_model;     /* POST /v1/jobs?model=NAME selects the model */
} qctx;

static enum MHD_Result query_it(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    qctx *q = cls;
    (void)kind;
    if (!key || (q->skip_model && !strcmp(key, "model"))) return MHD_YES;
    if (srv_opts_set(q->o, q->m, key, value ? value : "", q->err) != SNN_OK) {
        q->rc = -1;
        return MHD_NO;
    }
    return MHD_YES;
}

int srv_req_query_opts(srv_req *r, srv_opts *o, const snn_model *m, snn_error *err)
{
    qctx q = {o, m, err, 0, !strcmp(r->route->pattern, "/v1/jobs")};
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, query_it, &q);
    return q.rc;
}

/* The methods of the routes matching r->path, "GET, POST" style. */
static void allowed_methods(const srv_req *r, char *allow, size_t len)
{
    size_t k = 0;
    allow[0] = '\0';
    for (int i = 0; i < srv_nroutes; i++) {
        const char *p = srv_routes[i].pattern, *u = r->path;
        int ok = 1;
        while (*p && ok) {
            if (p[0] == '*' && !p[1]) {
                u += strlen(u);
                break;
            }
            if (p[0] == '{' && p[1] == '}') {
                p += 2;
                while (*u && *u != '/') u++;
            } else if (*p++ != *u++) ok = 0;
        }
        if (ok && !*u && !strstr(allow, srv_routes[i].method) && k < len)
            k += (size_t)snprintf(allow + k, len - k, "%s%s", k ? ", " : "", srv_routes[i].method);
    }
}

int srv_cors_origins_valid(const char *list)
{
    if (!list || !*list || !strcmp(list, "*")) return 1;
    const char *p = list;
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *host = !strncmp(p, "http://", 7) ? p + 7 : !strncmp(p, "https://", 8) ? p + 8 : NULL;
        if (!host || host >= p + n) return 0;
        for (const char *c = host; c < p + n; c++)
            if (!(isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == ':' || *c == '[' ||
                  *c == ']'))
                return 0;
        p += n;
        if (*p == ',') p++;
    }
    return 1;
}

/* The Access-Control-Allow-Origin value for a request's Origin header, or
 * NULL when cors-origins does not allow it (origins match exactly). */
static const char *cors_origin(srv_req *r)
{
    const char *list = srv_cfg.cors_origins;
    if (!list || !*list || !r->conn) return NULL;
    const char *origin = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Origin");
    if (!origin) return NULL;
    if (!strcmp(list, "*")) return "*";
    size_t ol = strlen(origin);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        if (n == ol && !strncmp(p, origin, n)) return origin;
        p += n;
        if (*p == ',') p++;
    }
    return NULL;
}

static void add_common_headers(srv_req *r, struct MHD_Response *resp, int status)
{
    char buf[32];
    MHD_add_response_header(resp, "X-Request-ID", r->id);
    /* While draining, no connection is kept for a next request: clients
     * reconnect (to another instance) instead of racing the shutdown. */
    if (atomic_load(&srv_draining)) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (status == 503) {
        snprintf(buf, sizeof buf, "%lld", (long long)srv_cfg.retry_after_s);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, buf);
    }
    if (status == 401) MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"snnd\"");
    if (status == 405 || r->preflight) {
        char allow[64];
        allowed_methods(r, allow, sizeof allow);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
        const char *origin = r->preflight ? cors_origin(r) : NULL;
        if (origin) {
            MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow);
            MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                    "Content-Type, Authorization, Accept, X-Request-ID, "
                                    "X-Request-Timeout-Ms, Last-Event-ID, "
                                    "Inference-Header-Content-Length");
            MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
        }
    }
    const char *origin = cors_origin(r);
    if (origin) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", origin);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "X-Request-ID, Retry-After, Location");
        if (strcmp(origin, "*")) MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    }
}

/* Request metrics, once per inference request: when the answer is queued
 * (so a client that reads /metrics right after its answer sees it), or at
 * completion for streams and requests that got no answer. */
static void count_request(srv_req *r, int status)
{
    char code[8];
    if (!r->infer || r->counted) return;
    r->counted = 1;
    atomic_fetch_sub(&srv_infer_open, 1);
    snprintf(code, sizeof code, "%d", status);
    srv_metrics_add(SRV_M_REQUESTS, 1, r->model_label, code);
    srv_metrics_observe(SRV_M_REQUEST_SECONDS, srv_now() - r->t0, r->model_label);
    srv_metrics_add(SRV_M_INFLIGHT, -1, NULL, NULL);
}

void srv_reply(srv_req *r, int status, const char *ctype, const char *body, size_t len)
{
    if (r->status) return;   /* one answer per request */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)(body ? body : ""), MHD_RESPMEM_MUST_COPY);
    if (!resp) {
        r->status = -1;
        return;
    }
    if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (r->xh_name && status < 400) MHD_add_response_header(resp, r->xh_name, r->xh_value);
    add_common_headers(r, resp, status);
    if (MHD_queue_response(r->conn, (unsigned)status, resp) == MHD_YES) r->status = status;
    else r->status = -1;
    MHD_destroy_response(resp);
    if (r->status > 0) count_request(r, status);
}

void srv_reply_header(srv_req *r, const char *name, const char *value)
{
    r->xh_name = name;
    snprintf(r->xh_value, sizeof r->xh_value, "%s", value);
}

void srv_reply_json(srv_req *r, int status, json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(o);
    if (!s) {
        srv_reply(r, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
        return;
    }
    srv_reply(r, status, "application/json", s, strlen(s));
    free(s);
}

void srv_reply_error(srv_req *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    size_t len;
    char *s = srv_render_error(msg, &len);
    if (status >= 500 && status != 503)
        srv_log(SRV_LOG_ERROR, r->id, "%s %s: %d %s", r->method, r->path, status, msg);
    else
        srv_log(SRV_LOG_DEBUG, r->id, "%s %s: %d %s", r->method, r->path, status, msg);
    srv_reply(r, status, "application/json", s, s ? len : 0);
    free(s);
}

void srv_reply_empty(srv_req *r, int status) { srv_reply(r, status, NULL, "", 0); }

int srv_req_fd(srv_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* 1 when the client is gone (nothing left to answer to). A reset or an
 * error on the socket (POLLHUP, POLLERR) is always gone. End of input
 * (recv 0) is gone only on a connection the client means to keep: a client
 * that may half-close (HTTP/1.0, or "Connection: close") sends
 * shutdown(SHUT_WR) after its request and still reads the answer. A client
 * of that kind that closed both ways is found when the answer is written. */
int srv_fd_peer_gone(int fd, int may_half_close)
{
    char c;
    if (fd < 0) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, 0) < 0) return 0;
    if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) return 1;
    if (!(p.revents & POLLIN)) return 0;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return !may_half_close;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static int peer_gone(srv_req *r) { return srv_fd_peer_gone(srv_req_fd(r), r->may_half_close); }

void srv_reply_job(srv_req *r, srv_job *j)
{
    double hard = j->deadline + 1.0;   /* engine chunks end sooner than this */
    while (!srv_job_wait(j, SIZE_MAX, 0.05)) {
        double now = srv_now();
        if (peer_gone(r)) {
            srv_log(SRV_LOG_INFO, r->id, "client disconnected, request cancelled");
            srv_sched_cancel(j, 1);
            r->status = -1;
            return;
        }
        if (now > j->deadline) srv_sched_cancel(j, 2);
        if (now > hard) {
            srv_reply_error(r, 504, "deadline exceeded (request-timeout-ms)");
            return;
        }
    }
    uv_mutex_lock(&j->mu);
    int status = j->status;
    uv_mutex_unlock(&j->mu);
    if (status == 499) {   /* cancelled because the client went away */
        r->status = -1;
        return;
    }
    if (status >= 500 && status != 503 && status != 504)
        srv_log(SRV_LOG_ERROR, r->id, "answered %d: %.300s", status, j->body ? j->body : "");
    if (j->json_len) {   /* v2 binary tensors: the JSON header's length goes in a header */
        char hl[24];
        snprintf(hl, sizeof hl, "%zu", j->json_len);
        srv_reply_header(r, "Inference-Header-Content-Length", hl);
    }
    if (j->t_run > 0) {   /* it ran: the access record names its steps and times */
        r->steps = j->run.steps;
        r->queue_ms = (j->t_run - j->t_enqueue) * 1e3;
        r->compute_ms = (j->t_done - j->t_run) * 1e3;
    }
    srv_reply(r, status, j->json_len ? "application/octet-stream" : "application/json", j->body,
              j->body_len);
}

/* ----------------------------------------------------------------- SSE */

typedef struct sse_ctx {
    srv_job *job;
    size_t off;
    int cancel_on_close;
    int retry_sent;                     /* the stream's "retry:" line went out */
    double last_write;
} sse_ctx;

/* EventSource reconnects after this many milliseconds when a stream breaks
 * before its final event (sent first on every stream). */
#define SSE_RETRY_MS 2000

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    sse_ctx *s = cls;
    srv_job *j = s->job;
    (void)pos;
    if (!s->retry_sent) {
        int n = snprintf(buf, max, "retry: %d\n\n", SSE_RETRY_MS);
        if (n < 0 || (size_t)n >= max) return 0;
        s->retry_sent = 1;
        return n;
    }
    for (;;) {
        uv_mutex_lock(&j->mu);
        if (s->off < j->log_len) {
            size_t n = j->log_len - s->off;
            if (n > max) n = max;
            memcpy(buf, j->log + s->off, n);
            s->off += n;
            uv_mutex_unlock(&j->mu);
            s->last_write = srv_now();
            return (ssize_t)n;
        }
        int done = j->state == SRV_JOB_DONE;
        uv_mutex_unlock(&j->mu);
        if (done) return MHD_CONTENT_READER_END_OF_STREAM;
        double ka = (double)srv_cfg.keepalive_s, left = s->last_write + ka - srv_now();
        if (left <= 0) {
            static const char ping[] = ": keepalive\n\n";
            if (max < sizeof ping - 1) return 0;
            memcpy(buf, ping, sizeof ping - 1);
            s->last_write = srv_now();
            return (ssize_t)(sizeof ping - 1);
        }
        srv_job_wait(j, s->off, left);
    }
}

static void sse_free(void *cls)
{
    sse_ctx *s = cls;
    if (s->cancel_on_close && !srv_job_done(s->job)) {
        srv_log(SRV_LOG_INFO, s->job->id, "stream closed by the client, request cancelled");
        srv_sched_cancel(s->job, 1);
    }
    srv_job_unref(s->job);
    free(s);
}

void srv_reply_stream(srv_req *r, srv_job *j, int64_t after_id, int cancel_on_close)
{
    sse_ctx *s = calloc(1, sizeof *s);
    if (!s) {
        srv_reply_error(r, 500, "out of memory");
        return;
    }
    uv_mutex_lock(&j->mu);
    int complete = j->state == SRV_JOB_DONE && after_id >= j->next_event_id - 1;
    uv_mutex_unlock(&j->mu);
    if (complete) {
        /* The client has every event, the final one included: 204 tells
         * EventSource not to reconnect (a 200 with an empty body would make
         * it retry until the job expires). */
        free(s);
        srv_reply_empty(r, 204);
        return;
    }
    srv_job_ref(j);
    s->job = j;
    s->cancel_on_close = cancel_on_close;
    s->last_write = srv_now();
    if (after_id > 0) {
        /* Resume after event `after_id` (Last-Event-ID): events are
         * separated by blank lines and JSON data never holds a newline. */
        uv_mutex_lock(&j->mu);
        int64_t seen = 0;
        size_t p = 0;
        while (seen < after_id && p + 1 < j->log_len) {
            char *q = memmem(j->log + p, j->log_len - p, "\n\n", 2);
            if (!q) break;
            p = (size_t)(q - j->log) + 2;
            seen++;
        }
        s->off = p;
        uv_mutex_unlock(&j->mu);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, sse_read, s, sse_free);
    if (!resp) {
        sse_free(s);
        srv_reply_error(r, 500, "out of memory");
        return;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    add_common_headers(r, resp, 200);
    r->streaming = 1;
    r->status = MHD_queue_response(r->conn, 200, resp) == MHD_YES ? 200 : -1;
    MHD_destroy_response(resp);
}

/* ------------------------------------------------------------- routing */

/* Match `path` against `pattern`; {} captures one segment, a final *
 * matches any non-empty rest. */
static int match(const char *pattern, const char *path, char cap[2][128])
{
    int ncap = 0;
    const char *p = pattern, *u = path;
    while (*p) {
        if (p[0] == '*' && !p[1]) return *u != '\0';
        if (p[0] == '{' && p[1] == '}') {
            size_t k = 0;
            while (*u && *u != '/') {
                if (k + 1 >= 128 || ncap >= 2) return 0;
                cap[ncap][k++] = *u++;
            }
            if (k == 0) return 0;
            cap[ncap++][k] = '\0';
            p += 2;
        } else if (*p++ != *u++) {
            return 0;
        }
    }
    return *u == '\0';
}

static const srv_route *route_find(srv_req *r, const char *method, int *status)
{
    int path_seen = 0;
    const char *m = strcmp(method, "HEAD") ? method : "GET";
    for (int i = 0; i < srv_nroutes; i++) {
        char cap[2][128] = {{0}};
        if (!match(srv_routes[i].pattern, r->path, cap)) continue;
        path_seen = 1;
        if (strcmp(srv_routes[i].method, m)) continue;
        memcpy(r->arg, cap, sizeof cap);
        return &srv_routes[i];
    }
    *status = path_seen ? 405 : 404;
    return NULL;
}

static int id_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= SRV_ID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

/* Constant-time comparison of the bearer token. */
static int token_ok(const char *hdr)
{
    const char *want = srv_cfg.admin_token;
    if (!hdr || strncasecmp(hdr, "Bearer ", 7)) return 0;
    const char *got = hdr + 7;
    size_t gl = strlen(got), wl = strlen(want);
    unsigned char diff = (unsigned char)(gl != wl);
    for (size_t i = 0; i < wl; i++) diff |= (unsigned char)(want[i] ^ (i < gl ? got[i] : 0));
    return diff == 0;
}

/* The admin rule (SRV_R_ADMIN routes: model load/unload, /v1/config).
 * With admin-token set they need "Authorization: Bearer TOKEN" (401
 * without it, 403 with another). Without a token they are open only while
 * the listener is loopback; beyond loopback they are off (403 saying why),
 * as main.c logs at startup. 1 when refused (answered). */
static int admin_refused(srv_req *r)
{
    if (srv_cfg.admin_token[0]) {
        const char *auth = srv_req_header(r, MHD_HTTP_HEADER_AUTHORIZATION);
        if (!auth) {
            srv_reply_error(r, 401, "this endpoint needs Authorization: Bearer TOKEN");
            return 1;
        }
        if (!token_ok(auth)) {
            srv_reply_error(r, 403, "invalid admin token");
            return 1;
        }
        return 0;
    }
    if (listen_loopback) return 0;
    srv_reply_error(r, 403,
                    "admin endpoints are disabled: snnd listens on %s, beyond loopback, and no "
                    "admin-token is set (set admin-token or SNND_ADMIN_TOKEN to enable them)",
                    srv_cfg.host);
    return 1;
}

int srv_http_admin_open(void) { return !srv_cfg.admin_token[0] && listen_loopback; }
int srv_http_admin_off(void) { return !srv_cfg.admin_token[0] && !listen_loopback; }

/* 1 when the address only takes connections from this host. */
static int addr_is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    srv_req *r = *con_cls;
    (void)cls;
    if (!r) {
        int status = 0;
        r = calloc(1, sizeof *r);
        if (!r) return MHD_NO;
        *con_cls = r;
        atomic_fetch_add(&active, 1);
        const union MHD_ConnectionInfo *sci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        r->conn_rec = sci ? sci->socket_context : NULL;
        if (r->conn_rec) {
            uv_mutex_lock(&conns_mu);
            ((conn_rec *)r->conn_rec)->in_request = 1;
            uv_mutex_unlock(&conns_mu);
        }
        r->conn = conn;
        r->t0 = srv_now();
        const char *connhdr = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONNECTION);
        r->may_half_close = !strcmp(version, MHD_HTTP_VERSION_1_0) ||
                            (connhdr && strcasestr(connhdr, "close"));
        snprintf(r->method, sizeof r->method, "%s", method);
        const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-ID");
        if (id_valid(rid)) snprintf(r->id, sizeof r->id, "%s", rid);
        else snprintf(r->id, sizeof r->id, "%s-%06lx", id_prefix,
                      (unsigned long)atomic_fetch_add(&id_counter, 1));
        if (strlen(url) >= sizeof r->path) {
            snprintf(r->path, sizeof r->path, "%.64s...", url);
            srv_reply_error(r, 414, "URI too long");
            return MHD_YES;
        }
        snprintf(r->path, sizeof r->path, "%s", url);
        r->route = route_find(r, method, &status);
        if (!r->route) {
            if (status == 405 && !strcmp(method, "OPTIONS")) {
                /* OPTIONS (CORS preflight included): the methods this path takes */
                r->preflight = 1;
                srv_reply_empty(r, 204);
                return MHD_YES;
            }
            if (status == 405) srv_reply_error(r, 405, "method %s not allowed on %s", method, url);
            else srv_reply_error(r, 404, "no route for %s %s", method, url);
            return MHD_YES;
        }
        if (r->route->flags & SRV_R_INFER) {
            /* Counted from here on, early refusals (413, 503 draining) too,
             * under the model the path names when the repository has it. */
            const char *name = r->arg[0][0] ? r->arg[0] : srv_cfg.default_model;
            if (srv_repo_find(name)) snprintf(r->model_label, sizeof r->model_label, "%s", name);
            r->infer = 1;
            atomic_fetch_add(&srv_infer_open, 1);
            srv_metrics_add(SRV_M_INFLIGHT, 1, NULL, NULL);
        }
        if ((r->route->flags & SRV_R_ADMIN) && admin_refused(r)) return MHD_YES;
        if ((r->route->flags & SRV_R_INFER) && atomic_load(&srv_draining)) {
            srv_reply_error(r, 503, "server is shutting down");
            return MHD_YES;
        }
        if (r->route->flags & SRV_R_INFER) {
            /* Overload is refused here, at the headers: the body is read
             * and dropped as it arrives, then 503 (keep-alive kept). */
            const char *qm = !strcmp(r->route->pattern, "/v1/jobs") ? srv_req_query(r, "model") : NULL;
            const char *name = r->arg[0][0] ? r->arg[0] : qm && *qm ? qm : srv_cfg.default_model;
            srv_model *m = srv_repo_name_valid(name) ? srv_repo_find(name) : NULL;
            if (m && srv_sched_full(m)) {
                r->busy = 1;
                return MHD_YES;
            }
        }
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                     MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            if (n > (unsigned long long)srv_cfg.max_body_bytes) {
                srv_reply_error(r, 413, "request body of %llu bytes exceeds max-body-bytes %lld", n,
                                (long long)srv_cfg.max_body_bytes);
                return MHD_YES;
            }
            if ((r->route->flags & SRV_R_BODY) && n > 0) {
                /* Trust the claim only up to 1 MiB: the rest grows as it arrives. */
                size_t first = n < (1u << 20) ? (size_t)n + 1 : (1u << 20);
                r->body = malloc(first);
                if (r->body) r->cap = first;
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (r->status) return MHD_YES;   /* already answered: drain quietly */
        if (srv_now() - r->t0 > (double)srv_cfg.connection_timeout_s) {
            srv_log(SRV_LOG_WARN, r->id, "%s %s: body not received within %llds, connection closed",
                    r->method, r->path, (long long)srv_cfg.connection_timeout_s);
            return MHD_NO;
        }
        if (r->busy) {   /* refused at the headers: dropped as it arrives */
            r->discarded += n;
            return r->discarded > (size_t)srv_cfg.max_body_bytes ? MHD_NO : MHD_YES;
        }
        if (r->too_large || r->len + n > (size_t)srv_cfg.max_body_bytes ||
            !(r->route->flags & SRV_R_BODY)) {
            r->too_large = 1;
            r->discarded += n;
            if (r->discarded > (size_t)srv_cfg.max_body_bytes + (16u << 20)) return MHD_NO;
            return MHD_YES;
        }
        if (r->len + n + 1 > r->cap) {
            size_t cap = r->cap ? r->cap : 65536;
            while (cap < r->len + n + 1) cap *= 2;
            char *p = realloc(r->body, cap);
            if (!p) return MHD_NO;
            r->body = p;
            r->cap = cap;
        }
        memcpy(r->body + r->len, upload_data, n);
        r->len += n;
        r->body[r->len] = '\0';
        return MHD_YES;
    }
    if (r->status > 0) return MHD_YES;
    if (r->status < 0) return MHD_NO;
    if (r->busy) {
        srv_reply_error(r, 503, "queue of model '%s' is full (queue-size %lld)", r->model_label,
                        (long long)srv_cfg.queue_size);
        return MHD_YES;
    }
    if (r->too_large) {
        if (!(r->route->flags & SRV_R_BODY)) srv_reply_error(r, 400, "this endpoint takes no body");
        else srv_reply_error(r, 413, "request body exceeds max-body-bytes %lld",
                             (long long)srv_cfg.max_body_bytes);
        return MHD_YES;
    }
    r->route->fn(r);
    if (r->status == 0) srv_reply_error(r, 500, "handler gave no answer");
    return r->status > 0 ? MHD_YES : MHD_NO;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    srv_req *r = *con_cls;
    (void)cls;
    (void)conn;
    if (!r) return;
    *con_cls = NULL;
    double secs = srv_now() - r->t0;
    int status = r->status > 0 ? r->status : 499;
    int clean = toe == MHD_REQUEST_TERMINATED_COMPLETED_OK;
    /* A stream's 200 went out with its headers; one that did not run to its
     * end was abandoned by the client (499, as a disconnect before the
     * answer is) or cut by the shutdown (503). */
    if (r->streaming && status == 200 && !clean)
        status = toe == MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN ? 503 : 499;
    srv_log_access(&(srv_log_access_rec){
        .reqid = r->id, .method = r->method, .path = r->path, .model = r->model_label,
        .note = clean || status == 499 ? NULL : "connection ended early", .status = status,
        .steps = r->steps, .ms = secs * 1e3, .queue_ms = r->queue_ms, .compute_ms = r->compute_ms});
    count_request(r, status);
    if (r->conn_rec) {
        uv_mutex_lock(&conns_mu);
        ((conn_rec *)r->conn_rec)->in_request = 0;
        ((conn_rec *)r->conn_rec)->since = srv_now();
        uv_mutex_unlock(&conns_mu);
    }
    free(r->body);
    free(r);
    atomic_fetch_sub(&active, 1);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    (void)cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        conn_rec *c = calloc(1, sizeof *c);
        if (!c) return;
        c->fd = ci ? fcntl(ci->connect_fd, F_DUPFD_CLOEXEC, 0) : -1;
        c->since = srv_now();
        uv_mutex_lock(&conns_mu);
        c->next = conns;
        if (conns) conns->prev = c;
        conns = c;
        uv_mutex_unlock(&conns_mu);
        *socket_context = c;
    } else if (*socket_context) {
        conn_rec *c = *socket_context;
        uv_mutex_lock(&conns_mu);
        if (c->prev) c->prev->next = c->next;
        else conns = c->next;
        if (c->next) c->next->prev = c->prev;
        uv_mutex_unlock(&conns_mu);
        if (c->fd >= 0) close(c->fd);
        free(c);
        *socket_context = NULL;
    }
}

void srv_http_watchdog(void)
{
    double now = srv_now(), limit = (double)srv_cfg.header_timeout_ms / 1e3;
    if (limit > (double)srv_cfg.connection_timeout_s) limit = (double)srv_cfg.connection_timeout_s;
    uv_mutex_lock(&conns_mu);
    for (conn_rec *c = conns; c; c = c->next)
        if (!c->in_request && !c->cut && c->fd >= 0 && now - c->since > limit) {
            shutdown(c->fd, SHUT_RDWR);
            c->cut = 1;
        }
    uv_mutex_unlock(&conns_mu);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* URI unescaping of paths and query arguments (MHD_OPTION_UNESCAPE_CALLBACK):
 * %HH is decoded except for control bytes (%00-%1F, %7F), which stay
 * escaped. Decoded, a NUL would end the C string early ("cifar10%00" read
 * as "cifar10"); left as text, they reach the handlers as a name or value
 * that nothing accepts, so the request is 400. */
static size_t unescape_uri(void *cls, struct MHD_Connection *c, char *s)
{
    char *w = s;
    (void)cls;
    (void)c;
    for (const char *p = s; *p;) {
        int hi = p[0] == '%' ? hexval(p[1]) : -1, lo = hi >= 0 ? hexval(p[2]) : -1;
        if (lo >= 0 && hi * 16 + lo >= 0x20 && hi * 16 + lo != 0x7f) {
            *w++ = (char)(hi * 16 + lo);
            p += 3;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* libmicrohttpd 0.9.75 writes the status line and headers of its own
 * early error answers (a Content-Length of -1, of letters or over 2^64,
 * headers over header-bytes) twice, then the body once: a client reads a
 * garbled answer. Those answers are the ones it announces with the log
 * line "Error processing request (HTTP response code is N ...)" before it
 * queues them, on the connection's own thread (thread per connection), and
 * the request line has been parsed by then (on_uri keeps the connection in
 * a thread-local). So the log hook answers first, once, with the same
 * status, a JSON error and "Connection: close": a client reads that answer
 * (its Content-Length ends it) and nothing after it. The socket is left to
 * libmicrohttpd, whose garbled copy follows and is never read as an answer:
 * making that copy fail instead (shutting the socket's write side) sent
 * libmicrohttpd 0.9.75 down an error path that crashed it now and then when
 * the daemon stopped (a NULL response in its header builder). */
static __thread struct MHD_Connection *tl_conn;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)uri;
    tl_conn = conn;
    return NULL;               /* *con_cls stays NULL until on_request */
}

static void answer_mhd_error(const char *line)
{
    static const char pre[] = "Error processing request (HTTP response code is ";
    char text[256], msg[320], head[512];
    if (!tl_conn || strncmp(line, pre, sizeof pre - 1)) return;
    int status = atoi(line + sizeof pre - 1);
    if (status < 400 || status > 599) return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(tl_conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return;
    /* The sentence of libmicrohttpd's HTML page, without the tags. */
    const char *b = strstr(line, "<body>");
    size_t k = 0;
    for (b = b ? b + 6 : ""; *b && strncmp(b, "</body>", 7) && k + 1 < sizeof text; b++) {
        if (*b == '<') {
            while (*b && *b != '>') b++;
            if (!*b) break;
            continue;
        }
        text[k++] = *b == '"' || *b == '\\' ? '\'' : *b;
    }
    text[k] = '\0';
    int mn = snprintf(msg, sizeof msg, "{\"error\":\"%s\"}", k ? text : "malformed request");
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                      "Content-Length: %d\r\n\r\n",
                      status, MHD_get_reason_phrase_for((unsigned)status), mn);
    ssize_t w = send(ci->connect_fd, head, (size_t)hn, MSG_NOSIGNAL);
    if (w == hn) w = send(ci->connect_fd, msg, (size_t)mn, MSG_NOSIGNAL);
    (void)w;
    tl_conn = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char buf[512];
    (void)cls;
    vsnprintf(buf, sizeof buf, fmt, ap);
    size_t n = strlen(buf);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) buf[--n] = '\0';
    srv_log(SRV_LOG_DEBUG, NULL, "libmicrohttpd: %s", buf);
    answer_mhd_error(buf);
}

int srv_http_start(void)
{
    struct addrinfo hints, *ai = NULL;
    char port[8];
    unsigned char rnd[4] = {0};
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, rnd, sizeof rnd);
        (void)n;
        close(fd);
    }
    snprintf(id_prefix, sizeof id_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);

    uv_mutex_init(&conns_mu);
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(port, sizeof port, "%lld", (long long)srv_cfg.port);
    int gai = getaddrinfo(srv_cfg.host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        srv_log(SRV_LOG_ERROR, NULL, "cannot resolve host '%s': %s", srv_cfg.host, gai_strerror(gai));
        return -1;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    listen_loopback = addr_is_loopback(ai->ai_addr);
    daemon_ = MHD_start_daemon(
        flags, (uint16_t)srv_cfg.port, NULL, NULL, on_request, NULL,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, unescape_uri, NULL,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)srv_cfg.max_connections,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)srv_cfg.max_connections_per_ip,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)srv_cfg.connection_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)srv_cfg.header_bytes,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)1024,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!daemon_) {
        srv_log(SRV_LOG_ERROR, NULL, "cannot listen on %s:%lld: %s", srv_cfg.host,
                (long long)srv_cfg.port, strerror(errno));
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    bound_port = di ? di->port : (uint16_t)srv_cfg.port;
    return 0;
}

uint16_t srv_http_port(void) { return bound_port; }

/* Stop accepting. Connections already waiting in the listen backlog have
 * completed their handshake and sent a request: closing the listener would
 * reset them, so they get a 503 first, and what they sent is read before
 * their socket is closed (closing with unread data also sends a reset). */
void srv_http_quiesce(void)
{
    static const char msg[] = "{\"error\":\"server is shutting down\"}";
    char head[256], buf[4096];
    int pending[64], npending = 0;
    if (!daemon_) return;
    MHD_socket fd = MHD_quiesce_daemon(daemon_);
    if (fd == MHD_INVALID_SOCKET) return;
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                      "Retry-After: %lld\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                      (long long)srv_cfg.retry_after_s, sizeof msg - 1, msg);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (;;) {
        int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) break;
        ssize_t w = send(c, head, (size_t)hn, MSG_NOSIGNAL);
        (void)w;
        shutdown(c, SHUT_WR);
        if (npending < (int)(sizeof pending / sizeof pending[0])) pending[npending++] = c;
        else close(c);
    }
    close(fd);   /* from here on, connections are refused */
    double end = srv_now() + 0.2;
    while (npending > 0 && srv_now() < end) {
        struct pollfd pfd[64];
        for (int i = 0; i < npending; i++) pfd[i] = (struct pollfd){pending[i], POLLIN, 0};
        if (poll(pfd, (nfds_t)npending, 20) < 0 && errno != EINTR) break;
        for (int i = npending - 1; i >= 0; i--) {
            if (!pfd[i].revents) continue;
            ssize_t n = recv(pending[i], buf, sizeof buf, 0);
            if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) continue;
            close(pending[i]);   /* the client closed its end: a clean close */
            pending[i] = pending[--npending];
        }
    }
    for (int i = 0; i < npending; i++) close(pending[i]);
    if (npending) srv_log(SRV_LOG_DEBUG, NULL, "%d backlog connections closed unread", npending);
}

void srv_http_stop(void)
{
    if (daemon_) MHD_stop_daemon(daemon_);
    daemon_ = NULL;
}
