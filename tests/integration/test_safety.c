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

/* A sample "name{labels} value" of the metrics text; -1 when absent. */
static double sf_metric(snnd_proc *d, const char *series)
{
    http_resp r;
    double v = -1;
    if (it_http(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r) == 0 && r.status == 200) {
        size_t n = strlen(series);
        for (const char *p = r.body; (p = strstr(p, series)); p += n)
            if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
                v = strtod(p + n + 1, NULL);
                break;
            }
    }
    it_free(&r);
    return v;
}

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
    CHECK_EQ_INT(sf_status(d, "GET", "/v2/health/ready", NULL), 503);
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
