/* test_ops_kit.c: what operators rely on: the JSON access log, process and
 * model-state metrics, /v1/jobs counted by final status, CORS. Every wait
 * is on observed state (a log line, a finished stream), never on time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "it.h"

/* The JSON log record whose request_id is `id` and msg "request", waiting
 * until the daemon has written it (the access record follows the answer);
 * gives up after 20 s of polling. Every line read must be one JSON object. */
static json_t *access_record(snnd_proc *d, const char *id, int *bad_lines)
{
    for (int tries = 0; tries < 2000; tries++) {
        size_t len;
        char *text = it_read_file(d->logpath, &len);
        json_t *found = NULL;
        *bad_lines = 0;
        for (char *line = text, *nl; line && *line; line = nl + 1) {
            nl = strchr(line, '\n');
            if (!nl) break;   /* a line still being written */
            *nl = '\0';
            json_error_t e;
            json_t *o = json_loads(line, 0, &e);
            if (!json_is_object(o)) (*bad_lines)++;
            const char *rid = json_string_value(json_object_get(o, "request_id"));
            const char *msg = json_string_value(json_object_get(o, "msg"));
            if (!found && rid && msg && !strcmp(rid, id) && !strcmp(msg, "request")) found = json_incref(o);
            json_decref(o);
        }
        free(text);
        if (found) return found;
        usleep(10000);
    }
    return NULL;
}

IT_TEST(it_log_json_access_record, 0, "--log-format", "json", NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    const char *hdr[] = {"X-Request-ID: logjson-1", NULL};
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    HTTP(d, "POST", "/classify?steps=4", "image/png", png, len, hdr, &r);
    free(png);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    int bad = 0;
    json_t *o = access_record(d, "logjson-1", &bad);
    CHECK_MSG(o, "no access record for logjson-1 in %s", d->logpath);
    CHECK_EQ_INT(bad, 0);
    CHECK(!strcmp(json_string_value(json_object_get(o, "level")), "info"));
    CHECK(json_is_string(json_object_get(o, "time")));
    CHECK(!strcmp(json_string_value(json_object_get(o, "method")), "POST"));
    CHECK(!strcmp(json_string_value(json_object_get(o, "path")), "/classify"));
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "status")), 200);
    CHECK(!strcmp(json_string_value(json_object_get(o, "model")), d->model));
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "steps")), 4);
    CHECK(json_real_value(json_object_get(o, "queue_ms")) >= 0);
    CHECK(json_real_value(json_object_get(o, "compute_ms")) >= 0);
    CHECK(json_real_value(json_object_get(o, "duration_ms")) >=
          json_real_value(json_object_get(o, "compute_ms")));
    json_decref(o);
    /* Client bytes in the path stay inside the JSON string. */
    const char *hdr2[] = {"X-Request-ID: logjson-2", NULL};
    HTTP(d, "GET", "/no%0Awhere\"x", NULL, NULL, 0, hdr2, &r);
    CHECK_EQ_INT(r.status, 404);
    it_free(&r);
    o = access_record(d, "logjson-2", &bad);
    CHECK(o);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "status")), 404);
    json_decref(o);
}

IT_TEST(it_log_format_refused, 0, NULL)
{
    char cmd[1400];
    char exe[1024];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0);
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    CHECK(slash);
    *slash = '\0';
    snprintf(cmd, sizeof cmd, "%s/snnd --log-format yaml --print-config >/dev/null 2>&1", exe);
    CHECK(system(cmd) != 0);
    snprintf(cmd, sizeof cmd, "%s/snnd --cors-origins 'ftp://a.example' --print-config >/dev/null 2>&1", exe);
    CHECK(system(cmd) != 0);
    snprintf(cmd, sizeof cmd, "%s/snnd --cors-origins 'https://a.example,http://b.example:8080' "
                              "--log-format json --print-config >/dev/null 2>&1", exe);
    CHECK_EQ_INT(system(cmd), 0);
}

IT_TEST(it_process_and_model_state_metrics, 0, NULL)
{
    double now = (double)time(NULL);
    CHECK(it_metric(d, "process_resident_memory_bytes") > 1e6);
    CHECK(it_metric(d, "process_virtual_memory_bytes") > 1e6);
    CHECK(it_metric(d, "process_open_fds") >= 3);
    CHECK(it_metric(d, "process_max_fds") >= it_metric(d, "process_open_fds"));
    CHECK(it_metric(d, "process_cpu_seconds_total") >= 0);
    double start = it_metric(d, "process_start_time_seconds");
    CHECK_MSG(start > now - 600 && start <= now + 1, "start time %.0f, now %.0f", start, now);
    char ready[160], unavail[160], path[160];
    snprintf(ready, sizeof ready, "snnd_model_state{model=\"%s\",state=\"ready\"}", d->model);
    snprintf(unavail, sizeof unavail, "snnd_model_state{model=\"%s\",state=\"unavailable\"}", d->model);
    CHECK_NEAR(it_metric(d, ready), 1, 0);
    CHECK_NEAR(it_metric(d, unavail), 0, 0);
    http_resp r;
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    HTTP(d, "DELETE", path, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    CHECK_NEAR(it_metric(d, ready), 0, 0);
    CHECK_NEAR(it_metric(d, unavail), 1, 0);
}

IT_TEST(it_jobs_counted_by_final_status, 0, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    char ok[160], bad[160];
    snprintf(ok, sizeof ok, "snnd_jobs_total{model=\"%s\",status=\"200\"}", d->model);
    snprintf(bad, sizeof bad, "snnd_jobs_total{model=\"%s\",status=\"400\"}", d->model);
    CHECK(it_metric(d, ok) < 0);
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    for (int i = 0; i < 2; i++) {
        HTTP(d, "POST", "/v1/jobs?steps=3", "image/png", png, len, NULL, &r);
        CHECK_EQ_INT(r.status, 202);
        json_t *o = it_json(&r);
        it_free(&r);
        /* the events stream ends when the job is done */
        HTTP(d, "GET", json_string_value(json_object_get(o, "events")), NULL, NULL, 0, NULL, &r);
        json_decref(o);
        CHECK_EQ_INT(r.status, 200);
        CHECK(strstr(r.body, "event: result"));
        it_free(&r);
    }
    free(png);
    CHECK_NEAR(it_metric(d, ok), 2, 0);
    CHECK(it_metric(d, bad) < 0);
}

IT_TEST(it_cors_preflight_and_origins, 0, "--cors-origins", "http://a.example,https://b.example:8443", NULL)
{
    http_resp r;
    const char *pre[] = {"Origin: http://a.example", "Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: content-type", NULL};
    HTTP(d, "OPTIONS", "/classify", NULL, NULL, 0, pre, &r);
    CHECK_EQ_INT(r.status, 204);
    CHECK(it_header(&r, "Access-Control-Allow-Origin") &&
          !strcmp(it_header(&r, "Access-Control-Allow-Origin"), "http://a.example"));
    CHECK(it_header(&r, "Access-Control-Allow-Methods") &&
          strstr(it_header(&r, "Access-Control-Allow-Methods"), "POST"));
    CHECK(it_header(&r, "Access-Control-Allow-Headers") &&
          strstr(it_header(&r, "Access-Control-Allow-Headers"), "Content-Type"));
    it_free(&r);
    /* an allowed origin on a real request; Vary tells caches it depends on Origin */
    const char *allowed[] = {"Origin: https://b.example:8443", NULL};
    HTTP(d, "GET", "/healthz", NULL, NULL, 0, allowed, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(it_header(&r, "Access-Control-Allow-Origin") &&
          !strcmp(it_header(&r, "Access-Control-Allow-Origin"), "https://b.example:8443"));
    CHECK(it_header(&r, "Vary") && strstr(it_header(&r, "Vary"), "Origin"));
    it_free(&r);
    /* any other origin, or a prefix of an allowed one, gets no CORS header */
    const char *others[] = {"Origin: http://c.example", "Origin: http://a.example.evil", "Origin: https://b.example", NULL};
    for (int i = 0; others[i]; i++) {
        const char *one[] = {others[i], NULL};
        HTTP(d, "GET", "/healthz", NULL, NULL, 0, one, &r);
        CHECK_EQ_INT(r.status, 200);
        CHECK_MSG(!it_header(&r, "Access-Control-Allow-Origin"), "%s allowed", others[i]);
        it_free(&r);
    }
    /* OPTIONS on a path with no route stays 404 */
    HTTP(d, "OPTIONS", "/nowhere", NULL, NULL, 0, pre, &r);
    CHECK_EQ_INT(r.status, 404);
    it_free(&r);
}

IT_TEST(it_cors_off_by_default, 0, NULL)
{
    http_resp r;
    const char *origin[] = {"Origin: http://a.example", NULL};
    HTTP(d, "GET", "/healthz", NULL, NULL, 0, origin, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(!it_header(&r, "Access-Control-Allow-Origin"));
    it_free(&r);
    /* OPTIONS still says which methods a path takes */
    HTTP(d, "OPTIONS", "/classify", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 204);
    CHECK(it_header(&r, "Allow") && !strcmp(it_header(&r, "Allow"), "POST"));
    CHECK(!it_header(&r, "Access-Control-Allow-Origin"));
    it_free(&r);
}

/* No silent change of function: a model whose config plans its MaxPool as
 * AveragePool (maxpool avg) says so in its metadata, its answers and the
 * log; the default (gated) has no note, and a request's maxpool=avg gets
 * the note in its answer. tests/data/tiny-nhwc has a MaxPool. */
IT_TEST(it_conversion_notes_everywhere, 0, NULL)
{
    char cmd[1600], path[160];
    const char *root = getenv("SNN_ROOT");
    snprintf(cmd, sizeof cmd,
             "set -e; r='%s'; s=\"$(cd '%s' && pwd)/tests/data/tiny-nhwc\"; mkdir -p \"$r/nhwc\" \"$r/nhwcavg\";"
             "ln -s \"$s/model.onnx\" \"$r/nhwc/model.onnx\"; cp \"$s/config.json\" \"$r/nhwc/config.json\";"
             "ln -s \"$s/model.onnx\" \"$r/nhwcavg/model.onnx\";"
             "sed 's/\"dt\":0.001}/\"dt\":0.001,\"maxpool\":\"avg\"}/' \"$s/config.json\" > \"$r/nhwcavg/config.json\"",
             d->repo, root ? root : ".");
    CHECK_OK(system(cmd));
    http_resp r;
    HTTP(d, "POST", "/v1/models/nhwc/load", NULL, NULL, 0, NULL, &r);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, r.body);
    it_free(&r);
    HTTP(d, "POST", "/v1/models/nhwcavg/load", NULL, NULL, 0, NULL, &r);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, r.body);
    it_free(&r);
    const char *names[] = {"nhwc", "nhwcavg"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/v1/models/%s", names[i]);
        HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
        json_t *o = it_json(&r);
        it_free(&r);
        json_t *notes = json_object_get(o, "notes");
        CHECK(json_is_array(notes));
        CHECK_EQ_INT((int)json_array_size(notes), i);
        if (i) CHECK(strstr(json_string_value(json_array_get(notes, 0)), "AveragePool"));
        json_decref(o);
    }
    /* a request's override: the answer carries the note */
    uint8_t *png;
    size_t len;
    CHECK_OK(it_png(d, 8, 8, 1, &png, &len));
    HTTP(d, "POST", "/v1/models/nhwc/classify?steps=2&maxpool=avg", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    json_t *o = it_json(&r);
    it_free(&r);
    CHECK_EQ_INT((int)json_array_size(json_object_get(o, "notes")), 1);
    json_decref(o);
    HTTP(d, "POST", "/v1/models/nhwc/classify?steps=2", "image/png", png, len, NULL, &r);
    o = it_json(&r);
    it_free(&r);
    CHECK_EQ_INT((int)json_array_size(json_object_get(o, "notes")), 0);
    json_decref(o);
    free(png);
    /* and the log said it when the model was loaded */
    size_t ll;
    char *log = it_read_file(d->logpath, &ll);
    CHECK_MSG(log && strstr(log, "WARN  req=- model nhwcavg: ") && strstr(log, "AveragePool"), "no note logged");
    free(log);
}

/* Raw bytes must be an image (415 naming the image, not a JSON parse
 * error), and "status" is an HTTP code wherever an answer has one. */
IT_TEST(it_octet_stream_not_image_and_status_vocabulary, 0, NULL)
{
    http_resp r;
    const char junk[] = "{\"pixels\":[1,2,3]}  not an image";
    HTTP(d, "POST", "/classify", "application/octet-stream", junk, sizeof junk - 1, NULL, &r);
    CHECK_MSG(r.status == 415 && strstr(r.body, "not an image"), "%ld %s", r.status, r.body);
    it_free(&r);
    HTTP(d, "GET", "/healthz", NULL, NULL, 0, NULL, &r);
    json_t *o = it_json(&r);
    it_free(&r);
    CHECK(json_is_true(json_object_get(o, "live")) && !json_object_get(o, "status"));
    json_decref(o);
    HTTP(d, "GET", "/readyz", NULL, NULL, 0, NULL, &r);
    o = it_json(&r);
    it_free(&r);
    CHECK(json_is_true(json_object_get(o, "ready")) && !json_object_get(o, "status"));
    json_decref(o);
    uint8_t *png;
    size_t len;
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    HTTP(d, "POST", "/v1/jobs?steps=2", "application/octet-stream", png, len, NULL, &r);
    free(png);
    CHECK_EQ_INT(r.status, 202);
    o = it_json(&r);
    it_free(&r);
    const char *url = json_string_value(json_object_get(o, "url"));
    CHECK(url && !strncmp(url, "/v1/jobs/", 9) && !json_object_get(o, "status"));
    /* once done, the job's status is the HTTP code of its answer */
    HTTP(d, "GET", json_string_value(json_object_get(o, "events")), NULL, NULL, 0, NULL, &r);
    it_free(&r);
    HTTP(d, "GET", url, NULL, NULL, 0, NULL, &r);
    json_t *job = it_json(&r);
    it_free(&r);
    CHECK(json_is_integer(json_object_get(job, "status")) && json_integer_value(json_object_get(job, "status")) == 200);
    json_decref(job);
    json_decref(o);
}
