/* log.c: one-line log records on stderr:
 *   2026-01-01T12:00:00.123Z INFO  req=ID message...
 * Every record about a request carries its id (X-Request-ID), so one grep
 * follows a request through the HTTP, queue and worker threads. A record is
 * formatted into one buffer and written with one write() call, so lines of
 * concurrent threads never interleave.
 */
#include "server.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int log_level = SRV_LOG_INFO;
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};

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

void srv_log(srv_log_level lvl, const char *reqid, const char *fmt, ...)
{
    char buf[2048];
    struct timespec ts;
    struct tm tm;
    size_t n;
    va_list ap;

    if ((int)lvl < atomic_load(&log_level)) return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, sizeof buf - n, ".%03ldZ %-5s req=%s ",
                          ts.tv_nsec / 1000000, level_names[lvl],
                          reqid && *reqid ? reqid : "-");
    va_start(ap, fmt);
    int k = vsnprintf(buf + n, sizeof buf - n - 1, fmt, ap);
    va_end(ap);
    if (k < 0) k = 0;
    n += (size_t)k;
    if (n > sizeof buf - 2) n = sizeof buf - 2;
    /* Control characters from clients (paths) must not forge lines. */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)buf[i] < 0x20) buf[i] = '?';
    buf[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, n);
    (void)w;
}
