/* harness.h: integration-test helpers: start the real snnd binary on
 * 127.0.0.1 with a temporary model repository, talk HTTP to it with
 * libcurl, make PNG/JPEG bodies, stop it and collect its exit status.
 * Private to tests/integration/. */
#ifndef SNND_IT_HARNESS_H
#define SNND_IT_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curl.h>
#include <jansson.h>

typedef struct snnd_proc {
    pid_t pid;
    int port;
    char repo[256];          /* temporary model repository */
    char logpath[300];
    char model[64];          /* the model the tests use */
    int in_c, in_h, in_w, nclasses;
} snnd_proc;

typedef struct http_resp {
    long status;
    char *body;
    size_t len;
    char *headers;           /* raw response headers */
    size_t hlen;
} http_resp;

/* Name and directory of the small test model: tests/data/tiny when it is
 * there, else models/fashion-mnist; with `fashion`, fashion-mnist first.
 * NULL when neither exists. (No test relies on a request being slow: work
 * is held in flight with the scheduler's pause gate, it_admin.) */
const char *it_model_dir(const char **name, int fashion);
enum { IT_COPY = 1 };
/* Make a repository in a temp dir: the model linked (or copied with
 * IT_COPY) under its name. */
int it_repo(snnd_proc *d, int flags);
/* Start snnd with extra "--flag", "value" arguments (NULL-terminated),
 * wait until /readyz says 200 (timeout_s). 0 on success. */
int it_start(snnd_proc *d, const char *const *args, double timeout_s);
/* SIGTERM, wait, return the exit status (-1 on signal/timeout). */
int it_stop(snnd_proc *d);
void it_cleanup(snnd_proc *d);

/* A growing response buffer and its curl write callback. */
typedef struct it_buf {
    char *p;                 /* NUL-terminated, caller frees */
    size_t len;
} it_buf;
size_t it_buf_write(char *ptr, size_t size, size_t nmemb, void *ud);
/* A POST of `body` to `path` whose answer goes to `cb`/`ud` (for streams
 * read as they come); headers borrowed. Caller cleans up the handle. */
CURL *it_easy_post(const snnd_proc *d, const char *path, struct curl_slist *headers,
                   const void *body, size_t len, curl_write_callback cb, void *ud);

int it_http(snnd_proc *d, const char *method, const char *path, const char *ctype,
            const void *body, size_t len, const char *const *headers, http_resp *out);
void it_free(http_resp *r);
/* Value of a response header (case-insensitive), static buffer; NULL if absent. */
const char *it_header(const http_resp *r, const char *name);
json_t *it_json(const http_resp *r);

/* Test images: a deterministic gradient of the model's input size. */
int it_png(const snnd_proc *d, int w, int h, int c, uint8_t **out, size_t *len);
int it_jpeg(int w, int h, int c, uint8_t **out, size_t *len);
char *it_b64(const uint8_t *buf, size_t len);
/* A JSON classify body of `images` copies of the test PNG at `steps` steps
 * (the slow requests of the overload, drain and fault tests). Caller frees. */
char *it_batch_body(const snnd_proc *d, int images, int steps, size_t *len);
/* The number after "KEY:" in the daemon's /proc/PID/status (VmHWM, VmPeak
 * in KiB; Threads), -1 if unreadable. */
long it_proc_status(const snnd_proc *d, const char *key);
/* VmHWM (peak resident memory) of the daemon in KiB, -1 if unreadable. */
long it_hwm_kb(const snnd_proc *d);
/* A raw TCP connection to the daemon (for hand-written HTTP), with a
 * receive timeout of rcv_timeout_s seconds when > 0; -1 on failure. */
int it_connect(const snnd_proc *d, int rcv_timeout_s);
/* A whole file, NUL-terminated, length in *len; NULL on failure. Caller frees. */
char *it_read_file(const char *path, size_t *len);

/* The scheduler's pause gate (POST /v1/admin/pause, /resume[?chunks=N],
 * GET /v1/admin/scheduler), for tests that hold work in flight instead of
 * hoping it is slow. it_admin returns the HTTP status (op "pause",
 * "resume" or "resume?chunks=N"). */
int it_admin(snnd_proc *d, const char *op);
/* An integer field of GET /v1/admin/scheduler (paused, chunks_left,
 * held_runs, queued, running); -1 when unreadable. */
long it_sched(snnd_proc *d, const char *field);
/* Wait until the field equals `want` (observed state; `safety_s` only
 * bounds a hang). 1 when seen. */
int it_wait_sched(snnd_proc *d, const char *field, long want, double safety_s);
/* A metrics sample "name{labels}" (exact series), -1 when absent. */
double it_metric(snnd_proc *d, const char *series);

/* One request on a thread of its own, so that the test can act while it
 * is in flight. Strings are borrowed until it_bg_join. */
typedef struct it_bg {
    snnd_proc *d;
    const char *method, *path, *ctype;
    const void *body;
    size_t len;
    const char *const *headers;
    http_resp resp;          /* filled by it_bg_join */
    int rc;                  /* it_http's result */
    unsigned long thread;
} it_bg;
int it_bg_start(it_bg *b);
/* Pause the scheduler, start b and wait until it sits in the queue
 * (observed): 1 when it does, 0 when it never got there (b is started in
 * both cases unless the return is -1: pause refused or no thread). */
int it_bg_queue(it_bg *b);
/* Wait for the answer; returns its status (0 on transport failure). The
 * caller frees b->resp with it_free. */
long it_bg_join(it_bg *b);

/* Run `n` requests concurrently (curl multi); statuses[i] and
 * retry_after[i] (1 when the header was present) are filled. */
int it_concurrent(snnd_proc *d, const char *path, const char *ctype, const void *body,
                  size_t len, int n, long *statuses, int *retry_after);

#endif
