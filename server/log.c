/* log.c: one-line log records on stderr, as text or as JSON (log-format):
 *   2026-01-01T12:00:00.123Z INFO  req=ID message...
 *   {"time":"2026-01-01T12:00:00.123Z","level":"info","request_id":"ID","msg":"..."}
 * Every record about a request carries its id (X-Request-ID), so one grep
 * follows a request through the HTTP, queue and worker threads. A record is
 * formatted into one buffer and written with one write() call, so lines of
 * concurrent threads never interleave. The access record of each request
 * (srv_log_access) has its own fields in JSON: method, path, status, model,
 * steps, duration, queue and compute milliseconds.
 */
#include "server.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = SRV_LOG_INFO;
static atomic_int log_json;
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_json[] = {"debug", "info", "warn", "error"};

double srv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double srv_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

int srv_log_level_parse(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (!s) return -1;
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, names[i])) return i;
    if (!strcasecmp(s, "warning")) return SRV_LOG_WARN;
    return -1;
}

void srv_log_set_level(int level)
{
    if (level >= SRV_LOG_DEBUG && level <= SRV_LOG_ERROR) atomic_store(&log_level, level);
}

int srv_log_format_parse(const char *s)
{
    if (s && !strcmp(s, "text")) return 0;
    if (s && !strcmp(s, "json")) return 1;
    return -1;
}

void srv_log_set_format(int json)
{
    if (json == 0 || json == 1) atomic_store(&log_json, json);
}

/* "2026-01-01T12:00:00.123Z" into t (at least 32 bytes). */
static void timestamp(char *t, size_t len)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(t, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(t + n, len - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* One line out in one write(). Text: control characters from clients
 * (paths) must not forge lines. JSON: jansson escapes them. */
static void emit(char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20) buf[i] = '?';
    buf[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, n);
    (void)w;
}

/* A JSON string of client-influenced text: bytes that are not valid UTF-8
 * become '?', so a record is never lost to a bad path. new. */
static json_t *json_text(const char *s, size_t n)
{
    json_t *j = json_stringn(s, n);
    if (j) return j;
    char *c = malloc(n + 1);
    if (!c) return json_string("");
    for (size_t i = 0; i < n; i++) c[i] = (unsigned char)s[i] < 0x80 && s[i] ? s[i] : '?';
    j = json_stringn(c, n);
    free(c);
    return j;
}

/* A JSON record: fields of o plus time, level and request id first. */
static void emit_json(srv_log_level lvl, const char *reqid, json_t *o)
{
    char t[40], buf[4096];
    timestamp(t, sizeof t);
    json_t *rec = json_object();
    json_object_set_new(rec, "time", json_string(t));
    json_object_set_new(rec, "level", json_string(level_json[lvl]));
    json_object_set_new(rec, "request_id", reqid && *reqid ? json_string(reqid) : json_null());
    json_object_update(rec, o);
    size_t n = json_dumpb(rec, buf, sizeof buf - 1, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
    json_decref(rec);
    if (n == 0 || n > sizeof buf - 1) {
        /* a record too long for one line: say so instead of cutting JSON */
        n = (size_t)snprintf(buf, sizeof buf - 1,
                             "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"(record too long)\"}", t,
                             level_json[lvl]);
    }
    emit(buf, n);
}

void srv_log(srv_log_level lvl, const char *reqid, const char *fmt, ...)
{
    char buf[2048];
    size_t n = 0;
    va_list ap;

    if ((int)lvl < atomic_load(&log_level)) return;
    int json = atomic_load(&log_json);
    if (!json) {
        char t[40];
        timestamp(t, sizeof t);
        n = (size_t)snprintf(buf, sizeof buf, "%s %-5s req=%s ", t, level_names[lvl],
                             reqid && *reqid ? reqid : "-");
    }
    va_start(ap, fmt);
    int k = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0) k = 0;
    n += (size_t)k;
    if (n > sizeof buf - 2) n = sizeof buf - 2;
    if (json) {
        buf[n] = '\0';
        json_t *o = json_object();
        json_object_set_new(o, "msg", json_text(buf, n));
        emit_json(lvl, reqid, o);
        json_decref(o);
        return;
    }
    emit(buf, n);
}

void srv_log_access(const srv_log_access_rec *a)
{
    srv_log_level lvl = a->status >= 500 && a->status != 503 ? SRV_LOG_WARN : SRV_LOG_INFO;
    if ((int)lvl < atomic_load(&log_level)) return;
    if (!atomic_load(&log_json)) {
        char extra[256] = "";
        if (a->steps > 0)
            snprintf(extra, sizeof extra, " model=%s steps=%d queue=%.1fms compute=%.1fms",
                     a->model && *a->model ? a->model : "-", a->steps, a->queue_ms, a->compute_ms);
        srv_log(lvl, a->reqid, "%s %s %d %.1fms%s%s%s%s", a->method, a->path, a->status, a->ms,
                extra, a->note ? " (" : "", a->note ? a->note : "", a->note ? ")" : "");
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "msg", json_string("request"));
    json_object_set_new(o, "method", json_string(a->method));
    json_object_set_new(o, "path", json_text(a->path, strlen(a->path)));
    json_object_set_new(o, "status", json_integer(a->status));
    json_object_set_new(o, "duration_ms", json_real(round(a->ms * 1e3) / 1e3));
    if (a->model && *a->model) json_object_set_new(o, "model", json_string(a->model));
    if (a->steps > 0) {
        json_object_set_new(o, "steps", json_integer(a->steps));
        json_object_set_new(o, "queue_ms", json_real(round(a->queue_ms * 1e3) / 1e3));
        json_object_set_new(o, "compute_ms", json_real(round(a->compute_ms * 1e3) / 1e3));
    }
    if (a->note && *a->note) json_object_set_new(o, "note", json_string(a->note));
    emit_json(lvl, a->reqid, o);
    json_decref(o);
}
