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
    const char *defconv = json_string_value(json_object_get(def, "conversion"));
    CHECK(defconv && strstr(defconv, "normalize=percentile:99.9") && strstr(defconv, "thresholds="));
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
    const char *conv = json_string_value(json_object_get(none, "conversion"));
    CHECK_MSG(conv && strstr(conv, "normalize=none") && !strstr(conv, "thresholds"),
              "conversion of normalize=none: %s", conv ? conv : "(none)");
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
