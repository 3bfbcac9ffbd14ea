/* test_safety.c: safe by default (issue 13): the admin rule (off beyond
 * loopback without a token, bearer token otherwise), readiness tied to the
 * default model, names with control bytes refused, half-closed clients
 * answered, abandoned streams counted as cancelled, a versioned v2 infer
 * served by that version, and per-request normalize refused where the
 * model's thresholds cannot apply. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "it.h"

/* 1 when the daemon log holds `needle`. */
static int sf_log_has(snnd_proc *d, const char *needle)
{
    size_t len;
    char *log = it_read_file(d->logpath, &len);
    int found = log && strstr(log, needle) != NULL;
    free(log);
    return found;
}

static long sf_status(snnd_proc *d, const char *method, const char *path, const char *const *hdrs)
{
    http_resp r;
    if (it_http(d, method, path, NULL, NULL, 0, hdrs, &r) != 0) return -1;
    long st = r.status;
    it_free(&r);
    return st;
}

static long sf_classify(snnd_proc *d, const char *path, http_resp *r)
{
    uint8_t *png;
    size_t len;
    if (it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len)) return -1;
    int rc = it_http(d, "POST", path, "image/png", png, len, NULL, r);
    free(png);
    return rc ? -1 : r->status;
}

/* ------------------------------------------------------ 1. admin rule */

/* Listening on 0.0.0.0 with the shipped empty token: the admin endpoints
 * are off (403 saying why), the model keeps serving, the log says so. */
IT_TEST(it_safety_admin_off_beyond_loopback, 0, "--host", "0.0.0.0", NULL)
{
    http_resp r;
    char path[256];
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    HTTP(d, "DELETE", path, NULL, NULL, 0, NULL, &r);
    CHECK_MSG(r.status == 403, "anonymous DELETE on 0.0.0.0 answered %ld: %s", r.status, r.body);
    CHECK_MSG(strstr(r.body, "\"error\"") && strstr(r.body, "admin-token") &&
                  strstr(r.body, "beyond loopback"),
              "403 without the reason: %s", r.body);
    it_free(&r);
    snprintf(path, sizeof path, "/v1/models/%s/load", d->model);
    CHECK_EQ_INT(sf_status(d, "POST", path, NULL), 403);
    CHECK_EQ_INT(sf_status(d, "GET", "/v1/config", NULL), 403);
    /* a token someone guessed does not open them either */
    const char *guess[] = {"Authorization: Bearer ", NULL};
    CHECK_EQ_INT(sf_status(d, "POST", path, guess), 403);
    CHECK_EQ_INT(sf_classify(d, "/classify?steps=2", &r), 200);
    it_free(&r);
    CHECK_EQ_INT(sf_status(d, "GET", "/readyz", NULL), 200);
    CHECK_MSG(sf_log_has(d, "admin endpoints disabled"), "no startup log line about the admin rule");
}

/* With a token, beyond loopback: bearer token required, then it works. */
IT_TEST(it_safety_admin_token_beyond_loopback, 0, "--host", "0.0.0.0", "--admin-token",
        "0123456789abcdef0123", NULL)
{
    char path[256];
    const char *good[] = {"Authorization: Bearer 0123456789abcdef0123", NULL};
    const char *prefix[] = {"Authorization: Bearer 0123456789abcdef012", NULL};
    const char *longer[] = {"Authorization: Bearer 0123456789abcdef01234", NULL};
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    CHECK_EQ_INT(sf_status(d, "DELETE", path, NULL), 401);
    CHECK_EQ_INT(sf_status(d, "DELETE", path, prefix), 403);
    CHECK_EQ_INT(sf_status(d, "DELETE", path, longer), 403);
    CHECK_EQ_INT(sf_status(d, "GET", "/v1/config", good), 200);
    CHECK_EQ_INT(sf_status(d, "DELETE", path, good), 200);
    snprintf(path, sizeof path, "/v1/models/%s/load", d->model);
    CHECK_EQ_INT(sf_status(d, "POST", path, good), 200);
    CHECK_MSG(sf_log_has(d, "admin endpoints need Authorization"), "no startup log line about the admin rule");
}

/* ------------------------------------------ 2. readiness, default model */

/* Another model loaded is not enough: /classify serves the default one. */
IT_TEST(it_safety_ready_needs_default_model, 0, NULL)
{
    http_resp r;
    char cmd[1200], path[256];
    const char *dir = it_model_dir(NULL, 0);
    CHECK(dir);
    snprintf(cmd, sizeof cmd, "ln -s '%s' '%s/other'", dir, d->repo);
    CHECK_OK(system(cmd));
    CHECK_EQ_INT(sf_status(d, "POST", "/v1/models/other/load", NULL), 200);
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    CHECK_EQ_INT(sf_status(d, "DELETE", path, NULL), 200);
    CHECK_EQ_INT(sf_classify(d, "/classify?steps=2", &r), 404);
    it_free(&r);
    HTTP(d, "GET", "/readyz", NULL, NULL, 0, NULL, &r);
    CHECK_MSG(r.status == 503, "/readyz %ld with the default model unloaded: %s", r.status, r.body);
    CHECK_MSG(strstr(r.body, "default model"), "no reason: %s", r.body);
    it_free(&r);
    CHECK_EQ_INT(sf_status(d, "GET", "/v2/health/ready", NULL), 400);   /* v2: 200 true, 4xx false */
    CHECK_EQ_INT(sf_status(d, "GET", "/v2/models/other/ready", NULL), 200);
    /* loaded again: ready again */
    snprintf(path, sizeof path, "/v1/models/%s/load", d->model);
    CHECK_EQ_INT(sf_status(d, "POST", path, NULL), 200);
    CHECK_EQ_INT(sf_status(d, "GET", "/readyz", NULL), 200);
    CHECK_EQ_INT(sf_status(d, "GET", "/v2/health/ready", NULL), 200);
}

/* ------------------------------- 3. names with control bytes refused */

IT_TEST(it_safety_control_bytes_in_names, 0, NULL)
{
    http_resp r;
    char path[256];
    uint8_t *png;
    size_t len;
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    /* a job for "NAME%00" was created for NAME */
    snprintf(path, sizeof path, "/v1/jobs?model=%s%%00&steps=2", d->model);
    HTTP(d, "POST", path, "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 400, "POST %s: %ld %s", path, r.status, r.body);
    CHECK(strstr(r.body, "invalid model name"));
    it_free(&r);
    snprintf(path, sizeof path, "/v1/jobs?model=%s%%1f&steps=2", d->model);
    HTTP(d, "POST", path, "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 400, "POST %s: %ld", path, r.status);
    it_free(&r);
    /* names in the path: no truncation to a real model */
    snprintf(path, sizeof path, "/v1/models/%s%%00", d->model);
    CHECK_EQ_INT(sf_status(d, "DELETE", path, NULL), 400);
    CHECK_EQ_INT(sf_status(d, "GET", path, NULL), 400);
    snprintf(path, sizeof path, "/v1/models/%s%%00/load", d->model);
    CHECK_EQ_INT(sf_status(d, "POST", path, NULL), 400);
    snprintf(path, sizeof path, "/v1/models/%s%%7f/classify?steps=2", d->model);
    HTTP(d, "POST", path, "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 400, "POST %s: %ld %s", path, r.status, r.body);
    it_free(&r);
    snprintf(path, sizeof path, "/v2/models/%s%%00/ready", d->model);
    CHECK_EQ_INT(sf_status(d, "GET", path, NULL), 400);
    snprintf(path, sizeof path, "/v2/models/%s/versions/1%%00", d->model);
    CHECK_EQ_INT(sf_status(d, "GET", path, NULL), 400);
    /* option values too: steps=2%00 is not steps=2 */
    HTTP(d, "POST", "/classify?steps=2%00", "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 400, "steps=2%%00: %ld %s", r.status, r.body);
    it_free(&r);
    /* the model is still served, and ordinary escapes still decode */
    snprintf(path, sizeof path, "/v1/models/%%%02x%s/classify?steps=2", d->model[0], d->model + 1);
    HTTP(d, "POST", path, "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 200, "POST %s: %ld %s", path, r.status, r.body);
    it_free(&r);
    /* job ids: "ID%00" is not ID */
    snprintf(path, sizeof path, "/v1/jobs?model=%s&steps=2", d->model);
    HTTP(d, "POST", path, "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 202);
    json_t *o = it_json(&r);
    const char *id = json_string_value(json_object_get(o, "job"));
    CHECK(id);
    if (id) {
        snprintf(path, sizeof path, "/v1/jobs/%s", id);
        CHECK_EQ_INT(sf_status(d, "GET", path, NULL), 200);
        snprintf(path, sizeof path, "/v1/jobs/%s%%00", id);
        CHECK_EQ_INT(sf_status(d, "GET", path, NULL), 400);
        snprintf(path, sizeof path, "/v1/jobs/%s%%00/events", id);
        CHECK_EQ_INT(sf_status(d, "GET", path, NULL), 400);
    }
    json_decref(o);
    it_free(&r);
    free(png);
}

/* ------------------------------------ 7. per-request normalize honest */

/* The test model with normalize overridable and, when `calibrated`,
 * thresholds calibrated for percentile:99.9 (as `snnctl calibrate` writes
 * them), else normalize none and no thresholds. */
static int sf_calibrated_model(snnd_proc *d, const char *name, int calibrated)
{
    char cmd[1400], path[512];
    const char *dir = it_model_dir(NULL, 0);
    if (!dir) return -1;
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s' && ln -s '%s/model.onnx' '%s/%s/model.onnx'", d->repo,
             name, dir, d->repo, name);
    if (system(cmd) != 0) return -1;
    snprintf(path, sizeof path, "%s/%s/config.json", d->repo, name);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"name\":\"%s\",\"classes\":[\"a\",\"b\",\"c\"],"
               "\"input\":{\"channels\":1,\"height\":8,\"width\":8,\"layout\":\"nchw\","
               "\"scale\":0.00392156862745098},\"steps\":20,"
               "\"conversion\":{\"neuron\":\"spiking-relu\",\"synapse\":0.005,"
               "\"scale_firing_rates\":20,\"v0\":\"zero\",\"dt\":0.001,"
               "%s},\"overridable\":[\"steps\",\"normalize\"]}\n", name,
            calibrated ? "\"normalize\":\"percentile:99.9\","
                         "\"thresholds\":{\"conv1\":2.5,\"conv2\":0.75,\"fc1\":0.4}"
                       : "\"normalize\":\"none\"");
    return fclose(f);
}

static json_t *sf_classify_json(snnd_proc *d, const char *path, long *status)
{
    http_resp r;
    *status = sf_classify(d, path, &r);
    json_t *o = it_json(&r);
    it_free(&r);
    return o;
}

IT_TEST(it_safety_normalize_override_applies_or_400, 0, NULL)
{
    if (strcmp(d->model, "tiny")) {
        test_skip("needs tests/data/tiny (its layer names are in the calibrated config)");
        return;
    }
    long st;
    CHECK_OK(sf_calibrated_model(d, "cal", 1));
    CHECK_OK(sf_calibrated_model(d, "nocal", 0));
    CHECK_EQ_INT(sf_status(d, "POST", "/v1/models/cal/load", NULL), 200);
    CHECK_EQ_INT(sf_status(d, "POST", "/v1/models/nocal/load", NULL), 200);
    json_t *def = sf_classify_json(d, "/v1/models/cal/classify", &st);
    CHECK_EQ_INT(st, 200);
    json_t *defconv = json_object_get(def, "conversion");
    const char *norm = json_string_value(json_object_get(defconv, "normalize"));
    CHECK(norm && !strcmp(norm, "percentile:99.9") && json_is_string(json_object_get(defconv, "thresholds")));
    /* modes the thresholds were not calibrated for cannot apply: 400 */
    const char *bad[] = {"max", "percentile:99", "percentile:50"};
    for (int i = 0; i < 3; i++) {
        char path[128];
        http_resp r;
        snprintf(path, sizeof path, "/v1/models/cal/classify?normalize=%s", bad[i]);
        CHECK_MSG(sf_classify(d, path, &r) == 400, "normalize=%s answered %ld: %.300s", bad[i],
                  r.status, r.body);
        CHECK_MSG(strstr(r.body, "calibrated for normalize=percentile:99.9"), "no reason: %s", r.body);
        it_free(&r);
    }
    /* the calibrated mode itself is the default conversion */
    json_t *same = sf_classify_json(d, "/v1/models/cal/classify?normalize=percentile:99.9", &st);
    CHECK_EQ_INT(st, 200);
    CHECK(defconv && json_equal(json_object_get(same, "conversion"), json_object_get(def, "conversion")));
    CHECK(json_equal(json_object_get(same, "probabilities"), json_object_get(def, "probabilities")));
    /* none applies (thresholds 1): the answer says so and differs */
    json_t *none = sf_classify_json(d, "/v1/models/cal/classify?normalize=none", &st);
    CHECK_EQ_INT(st, 200);
    json_t *conv = json_object_get(none, "conversion");
    const char *nn = json_string_value(json_object_get(conv, "normalize"));
    CHECK_MSG(nn && !strcmp(nn, "none") && !json_object_get(conv, "thresholds"), "conversion of normalize=none: %s",
              nn ? nn : "(none)");
    CHECK_MSG(!json_equal(json_object_get(none, "probabilities"), json_object_get(def, "probabilities")),
              "normalize=none gave the default probabilities");
    /* a model without thresholds: max cannot apply either */
    http_resp r;
    st = sf_classify(d, "/v1/models/nocal/classify?normalize=max", &r);
    CHECK_MSG(st == 400 && strstr(r.body, "no thresholds are calibrated"),
              "normalize=max without thresholds: %ld %.200s", st, r.body);
    it_free(&r);
    json_decref(def);
    json_decref(same);
    json_decref(none);
}

/* ------------------------------------------ 4. half-closed clients */

/* Send all of `len` bytes; 0 on success. */
static int sf_send(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n <= 0) return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Read until EOF (or the receive timeout); new, NUL-terminated. */
static char *sf_read_all(int fd, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    for (ssize_t k; b; n += (size_t)k) {
        if (n + 1024 > cap && !(b = realloc(b, cap *= 2))) break;
        k = recv(fd, b + n, cap - n - 1, 0);
        if (k <= 0) break;
    }
    if (b) b[n] = '\0';
    *len = n;
    return b;
}

/* A raw request with a body; the body's first `send_bytes` bytes only. */
static int sf_raw_request(snnd_proc *d, const char *head_fmt, const char *path, const char *body,
                          size_t len, size_t send_bytes)
{
    char head[1024];
    int fd = it_connect(d, 60);
    if (fd < 0) return -1;
    int hn = snprintf(head, sizeof head, head_fmt, path, len);
    if (sf_send(fd, head, (size_t)hn) || sf_send(fd, body, send_bytes)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Wait (bounded) until a metric sample has the value; 1 when it did. */
static int sf_wait_metric(snnd_proc *d, const char *series, double want)
{
    for (int i = 0; i < 1200; i++) {
        if (it_metric(d, series) == want) return 1;
        usleep(25000);
    }
    return 0;
}

/* A POST of a JSON body that asks for the connection to be closed after. */
static const char sf_post_close[] = "POST %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                                    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n";

/* The gate: an inference request whose body has not all arrived holds the
 * queue (a worker waits max-queue-delay-ms for requests still arriving).
 * Open once it is counted in flight; sf_gate_release sends the rest. */
static int sf_gate_open(snnd_proc *d, const char *path, const char *body, size_t len)
{
    int fd = sf_raw_request(d, sf_post_close, path, body, len, 10);
    if (fd >= 0 && !sf_wait_metric(d, "snnd_inflight_requests", 1)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int sf_gate_release(int fd, const char *body, size_t len)
{
    return fd >= 0 ? sf_send(fd, body + 10, len - 10) : -1;
}

/* The whole answer on a connection the daemon closes after it; closes fd.
 * new, NUL-terminated, or NULL. */
static char *sf_answer(int fd)
{
    size_t n;
    if (fd < 0) return NULL;
    char *a = sf_read_all(fd, &n);
    close(fd);
    return a;
}

/* Two half-closed clients, HTTP/1.0 and HTTP/1.1 with Connection: close,
 * held in the queue by a third request whose body the test sends later (a
 * worker waits max-queue-delay-ms for requests still arriving): both are
 * answered once it runs. The old daemon took the end of input for a
 * disconnect and closed them with 0 bytes within its 50 ms poll. */
IT_TEST(it_safety_half_closed_client_answered, 0, "--max-queue-delay-ms", "5000",
        "--request-timeout-ms", "120000", NULL)
{
    size_t len;
    char series[160];
    char *body = it_batch_body(d, 1, 2, &len);
    CHECK(body);
    if (!body) return;
    static const char h10[] = "POST %s HTTP/1.0\r\nContent-Type: application/json\r\n"
                              "Content-Length: %zu\r\n\r\n";
    int gate = sf_gate_open(d, "/classify", body, len);
    CHECK(gate >= 0);
    int fd[2] = {sf_raw_request(d, h10, "/classify", body, len, len),
                 sf_raw_request(d, sf_post_close, "/classify", body, len, len)};
    CHECK(fd[0] >= 0 && fd[1] >= 0);
    for (int i = 0; i < 2; i++)
        if (fd[i] >= 0) shutdown(fd[i], SHUT_WR);
    snprintf(series, sizeof series, "snnd_queue_depth{model=\"%s\"}", d->model);
    CHECK_MSG(sf_wait_metric(d, series, 2), "the two requests were not queued");
    /* Give the daemon's disconnect poll (every 50 ms) time to look at them
     * while they wait: the old daemon closed them here with 0 bytes. An
     * answer arriving meanwhile is fine (read below). */
    struct pollfd p[2] = {{fd[0], POLLIN, 0}, {fd[1], POLLIN, 0}};
    (void)poll(p, 2, 1000);
    /* release the gate: all three run and are answered */
    CHECK_OK(sf_gate_release(gate, body, len));
    for (int i = 0; i < 2; i++) {
        char *a = sf_answer(fd[i]);
        CHECK_MSG(a && !strncmp(a, "HTTP/1.", 7) && !strncmp(a + 8, " 200", 4) &&
                      strstr(a, "\"probabilities\""),
                  "half-closed client %d got: %.200s", i, a ? a : "(nothing)");
        free(a);
    }
    char *a = sf_answer(gate);
    CHECK_MSG(a && !strncmp(a + 8, " 200", 4), "gate request: %.200s", a ? a : "");
    free(a);
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"200\"}", d->model);
    CHECK(sf_wait_metric(d, series, 3));
    free(body);
}

/* -------------------------------- 5. abandoned streams count as 499 */

/* A direct stream closed by the client after its first timestep event.
 * The pause gate lets one chunk (5 of 1000 steps) run and holds the rest,
 * so the stream cannot have ended before the close, whatever the speed of
 * the machine. */
IT_TEST(it_safety_abandoned_stream_counted_499, 0, "--workers", "1", "--chunk-steps", "5", NULL)
{
    size_t len;
    char series[160];
    char *body = it_batch_body(d, 1, 1000, &len);
    CHECK(body);
    if (!body) return;
    static const char head[] = "POST %s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
                               "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n";
    CHECK_EQ_INT(it_admin(d, "pause"), 200);
    int fd = sf_raw_request(d, head, "/classify", body, len, len);
    CHECK(fd >= 0);
    if (fd < 0) {
        free(body);
        return;
    }
    CHECK(it_wait_sched(d, "queued", 1, 60));
    CHECK_EQ_INT(it_admin(d, "resume?chunks=1"), 200);
    char buf[2048];
    size_t n = 0;
    while (n + 1 < sizeof buf) {
        ssize_t k = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = '\0';
        if (strstr(buf, "event: timestep")) break;
    }
    buf[n] = '\0';
    CHECK_MSG(strstr(buf, " 200 ") && strstr(buf, "event: timestep"), "stream began: %.300s", buf);
    close(fd);
    CHECK_EQ_INT(it_admin(d, "resume"), 200);
    CHECK_MSG(sf_wait_metric(d, "snnd_inflight_requests", 0), "the stream never ended");
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"499\"}", d->model);
    CHECK_MSG(it_metric(d, series) == 1, "abandoned stream counted as 499: %g", it_metric(d, series));
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"200\"}", d->model);
    CHECK_MSG(it_metric(d, series) == -1, "abandoned stream counted as 200: %g", it_metric(d, series));
    free(body);
}

/* ----------------------- 6. a versioned v2 infer runs on that version */

/* Version folder `ver` of model "vers" made of the test model's files. */
static int sf_version(snnd_proc *d, int ver)
{
    char cmd[1600];
    const char *dir = it_model_dir(NULL, 0);
    if (!dir) return -1;
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/vers/%d' && ln -s '%s/model.onnx' '%s/vers/%d/' && "
             "ln -s '%s/config.json' '%s/vers/%d/'",
             d->repo, ver, dir, d->repo, ver, dir, d->repo, ver);
    return system(cmd) == 0 ? 0 : -1;
}

static char *sf_v2_body(snnd_proc *d, size_t *len)
{
    size_t item = (size_t)d->in_h * d->in_w * d->in_c, cap = item * 5 + 256, k;
    char *b = malloc(cap);
    if (!b) return NULL;
    k = (size_t)snprintf(b, cap,
                         "{\"parameters\":{\"steps\":2},\"inputs\":[{\"name\":\"image\",\"datatype\":"
                         "\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[",
                         d->in_h, d->in_w, d->in_c);
    for (size_t i = 0; i < item; i++) k += (size_t)snprintf(b + k, cap - k, "%s%zu", i ? "," : "", (i * 7) % 256);
    snprintf(b + k, cap - k, "]}]}");
    *len = strlen(b);
    return b;
}

/* Requests for versions/1/infer held in the queue (gate as above) while
 * version 2 replaces version 1 are answered by version 1; once 2 is
 * served, versions/1 is 404 and versions/2 answers as 2. */
IT_TEST(it_safety_v2_version_pinned, 0, "--max-queue-delay-ms", "5000", "--request-timeout-ms",
        "120000", NULL)
{
    size_t len;
    http_resp r;
    CHECK_OK(sf_version(d, 1));
    CHECK_EQ_INT(sf_status(d, "POST", "/v1/models/vers/load", NULL), 200);
    char *body = sf_v2_body(d, &len);
    CHECK(body);
    if (!body) return;
    HTTP(d, "POST", "/v2/models/vers/versions/2/infer", "application/json", body, len, NULL, &r);
    CHECK_MSG(r.status == 404 && strstr(r.body, "serving 1"), "versions/2 before its load: %ld %s",
              r.status, r.body);
    it_free(&r);
    /* the gate: unversioned, on the same model (its submit wakes the worker) */
    int gate = sf_gate_open(d, "/v2/models/vers/infer", body, len);
    CHECK(gate >= 0);
    int fd[2];
    for (int i = 0; i < 2; i++)
        fd[i] = sf_raw_request(d, sf_post_close, "/v2/models/vers/versions/1/infer", body, len, len);
    CHECK(fd[0] >= 0 && fd[1] >= 0);
    CHECK_MSG(sf_wait_metric(d, "snnd_queue_depth{model=\"vers\"}", 2), "versioned requests not queued");
    /* version 2 replaces 1 while they wait */
    CHECK_OK(sf_version(d, 2));
    HTTP(d, "POST", "/v1/models/vers/load", NULL, NULL, 0, NULL, &r);
    CHECK_MSG(r.status == 200 && strstr(r.body, "\"version\":\"2\""), "load of version 2: %s", r.body);
    it_free(&r);
    HTTP(d, "POST", "/v2/models/vers/versions/1/infer", "application/json", body, len, NULL, &r);
    CHECK_MSG(r.status == 404, "versions/1 after version 2 loaded: %ld %s", r.status, r.body);
    it_free(&r);
    CHECK_OK(sf_gate_release(gate, body, len));
    for (int i = 0; i < 2; i++) {
        char *a = sf_answer(fd[i]);
        CHECK_MSG(a && !strncmp(a + 8, " 200", 4) && strstr(a, "\"model_version\":\"1\""),
                  "held versions/1 request %d: %.300s", i, a ? a : "");
        free(a);
    }
    char *a = sf_answer(gate);
    CHECK_MSG(a && strstr(a, "\"model_version\":\"2\""), "gate request: %.300s", a ? a : "");
    free(a);
    HTTP(d, "POST", "/v2/models/vers/versions/2/infer", "application/json", body, len, NULL, &r);
    CHECK_MSG(r.status == 200 && strstr(r.body, "\"model_version\":\"2\""), "versions/2: %ld %s", r.status,
              r.body);
    it_free(&r);
    free(body);
}
