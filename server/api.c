/* api.c: the HTTP API: the route table and one handler per route.
 *
 * DESIGN: srv_routes is the whole surface (openapi.yaml documents the same
 * list). Handlers run on the connection's thread and may block: an
 * inference handler resolves the model (taking a reference on the served
 * version), builds a job from query options and the body, submits it and
 * either waits for it (srv_reply_job) or streams its events
 * (srv_reply_stream). Status codes: 400 bad input, 401/403 admin auth,
 * 404 unknown model or route, 405, 413 body too large, 415 content type,
 * 503 + Retry-After when overloaded, draining or a model is loading, 504
 * past the deadline, 500 otherwise.
 */
#include "server.h"
#include "web.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int ctype_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return ct && !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* The served version of `name` with a reference, or NULL after answering. */
static srv_version *resolve(srv_req *r, const char *name, srv_model **out)
{
    if (!srv_repo_name_valid(name)) {
        srv_reply_error(r, 400, "invalid model name");
        return NULL;
    }
    srv_model *e = srv_repo_find(name);
    if (!e) {
        srv_reply_error(r, 404, "unknown model '%s'", name);
        return NULL;
    }
    snprintf(r->model_label, sizeof r->model_label, "%s", e->name);
    srv_version *v = srv_model_acquire(e);
    if (!v) {
        uv_mutex_lock(&e->mu);
        int loading = e->loading;
        uv_mutex_unlock(&e->mu);
        if (loading) srv_reply_error(r, 503, "model '%s' is loading", name);
        else srv_reply_error(r, 404, "model '%s' is not loaded", name);
        return NULL;
    }
    *out = e;
    return v;
}

static int status_of(snn_err e)
{
    int s = snn_err_http_status(e);
    return s == 200 ? 500 : s == 499 ? 400 : s;
}

/* Build, submit and answer one inference job on version v of model e (the
 * reference is handed over: the job runs on v whatever is loaded
 * meanwhile). api: classify or v2; as_job: POST /v1/jobs (answer with the
 * job id, stream later). */
static void infer_on(srv_req *r, srv_model *e, srv_version *v, srv_api_kind api, int as_job)
{
    snn_error err;
    srv_opts o;
    snn_error_clear(&err);
    srv_job *j = srv_job_new(r->id, e, v);
    if (!j) {
        srv_version_release(v);
        srv_reply_error(r, 500, "out of memory");
        return;
    }
    j->deadline = r->t0 + (double)srv_cfg.request_timeout_ms / 1e3;
    j->client_fd = srv_req_fd(r);      /* body.c's decode watches it */
    j->client_may_half_close = r->may_half_close;
    srv_opts_init(&o);
    const char *ct = srv_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (srv_req_query_opts(r, &o, v->m, &err) != 0) {
        srv_reply_error(r, 400, "%s", err.msg);
        goto out;
    }
    const char *tmo = srv_req_header(r, "X-Request-Timeout-Ms");
    if (tmo && srv_opts_set(&o, v->m, "timeout_ms", tmo, &err) != SNN_OK) {
        srv_reply_error(r, 400, "X-Request-Timeout-Ms: %s", err.msg);
        goto out;
    }
    if (api == SRV_API_V2) {
        /* JSON, or with Inference-Header-Content-Length JSON + binary tensors */
        const char *hl = srv_req_header(r, "Inference-Header-Content-Length");
        if (ct && *ct && !ctype_is(ct, "application/json") && !(hl && ctype_is(ct, "application/octet-stream"))) {
            srv_reply_error(r, 415, "v2 infer takes application/json%s, not '%.80s'",
                            hl ? " or application/octet-stream" : " (or binary tensors with "
                                 "Inference-Header-Content-Length)", ct);
            goto out;
        }
        if (srv_v2_parse(j, &o, r->body ? r->body : "", r->len, hl, &err) != SNN_OK) {
            srv_reply_error(r, status_of(err.code), "%s", err.msg);
            goto out;
        }
    } else {
        if (ct && *ct && !ctype_is(ct, "image/png") && !ctype_is(ct, "image/jpeg") &&
            !ctype_is(ct, "image/jpg") && !ctype_is(ct, "multipart/form-data") &&
            !ctype_is(ct, "application/json") && !ctype_is(ct, "application/octet-stream")) {
            srv_reply_error(r, 415,
                            "unsupported content type '%.80s' (image/png, image/jpeg, "
                            "multipart/form-data, application/json)", ct);
            goto out;
        }
        if (ctype_is(ct, "application/octet-stream") && r->len &&
            snn_image_sniff(r->body, r->len) == SNN_IMAGE_UNKNOWN) {
            /* raw bytes must say what they are: an image's signature */
            srv_reply_error(r, 415, "the application/octet-stream body is not an image: its first bytes "
                                    "are neither a PNG nor a JPEG signature");
            goto out;
        }
        if (srv_body_classify(j, &o, ct, r->body ? r->body : "", r->len, &err) != SNN_OK) {
            srv_reply_error(r, status_of(err.code), "%s", err.msg);
            goto out;
        }
    }
    const char *accept = srv_req_header(r, MHD_HTTP_HEADER_ACCEPT);
    if (api == SRV_API_CLASSIFY && accept && strstr(accept, "text/event-stream")) o.stream = 1;
    if (as_job) o.stream = 1;
    if (api == SRV_API_V2) o.stream = 0;
    if (srv_opts_apply(&o, j, &err) != SNN_OK) {
        srv_reply_error(r, status_of(err.code), "%s", err.msg);
        goto out;
    }
    /* where the run's steps and answer go: this API's renderers */
    j->sink = api == SRV_API_V2 ? &srv_sink_v2 : j->stream ? &srv_sink_classify_stream : &srv_sink_classify;
    /* the client's deadline, within the server's */
    if (o.timeout_us > 0 && r->t0 + (double)o.timeout_us / 1e6 < j->deadline)
        j->deadline = r->t0 + (double)o.timeout_us / 1e6;
    char jid[40];
    if (as_job && srv_jobs_add(j, jid, sizeof jid) != 0) {
        srv_reply_error(r, 503, "too many jobs held (max-jobs, jobs-memory-bytes)");
        goto out;
    }
    if (srv_sched_submit(j) != SNN_OK) {
        if (atomic_load(&srv_draining)) srv_reply_error(r, 503, "server is shutting down");
        else srv_reply_error(r, 503, "queue of model '%s' is full (queue-size %lld)", e->name,
                             (long long)srv_cfg.queue_size);
        if (as_job) srv_job_complete(j, 503, NULL, "queue full");
        goto out;
    }
    if (as_job) {
        json_t *a = json_object();
        char url[96];
        json_object_set_new(a, "job", json_string(jid));
        snprintf(url, sizeof url, "/v1/jobs/%s/events", jid);
        json_object_set_new(a, "events", json_string(url));
        snprintf(url, sizeof url, "/v1/jobs/%s", jid);
        json_object_set_new(a, "url", json_string(url));   /* "status" is an HTTP code everywhere */
        json_object_set_new(a, "model", json_string(e->name));
        json_object_set_new(a, "expires_in_s", json_integer(srv_cfg.job_ttl_s));
        srv_reply_json(r, 202, a);
    } else if (j->stream) {
        srv_reply_stream(r, j, 0, 1);
    } else {
        srv_reply_job(r, j);
    }
out:
    srv_job_unref(j);
}

/* Inference on the version of `name` served now. */
static void infer(srv_req *r, const char *name, srv_api_kind api, int as_job)
{
    srv_model *e;
    srv_version *v = resolve(r, name, &e);
    if (v) infer_on(r, e, v, api, as_job);
}

/* ---------------------------------------------------------------- v1 */

/* The web page (/) and its static files (/static/...), embedded by web.c. */
static void h_web(srv_req *r)
{
    const char *ct;
    const unsigned char *body;
    size_t len;
    if (!srv_web_lookup(r->path, &ct, &body, &len)) {
        srv_reply_error(r, 404, "no such file %s", r->path);
        return;
    }
    srv_reply(r, 200, ct, (const char *)body, len);
}

static void h_healthz(srv_req *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "live", json_true());
    srv_reply_json(r, 200, o);
}

static void h_readyz(srv_req *r)
{
    json_t *o = json_object();
    int ready = srv_is_ready();
    json_object_set_new(o, "ready", json_boolean(ready));
    json_object_set_new(o, "models_ready", json_integer(srv_repo_ready_count()));
    if (!ready) {
        char why[SNN_MODEL_NAME_MAX + 64];
        if (atomic_load(&srv_draining)) snprintf(why, sizeof why, "draining");
        else if (!atomic_load(&srv_started)) snprintf(why, sizeof why, "loading models");
        else if (srv_cfg.default_model[0])
            snprintf(why, sizeof why, "default model '%s' is not loaded", srv_cfg.default_model);
        else snprintf(why, sizeof why, "no model loaded");
        json_object_set_new(o, "reason", json_string(why));
    }
    srv_reply_json(r, ready ? 200 : 503, o);
}

static void h_metrics(srv_req *r)
{
    size_t len;
    char *s = srv_metrics_render(&len);
    if (!s) {
        srv_reply_error(r, 500, "out of memory");
        return;
    }
    srv_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", s, len);
    free(s);
}

static void h_config(srv_req *r)
{
    srv_reply_json(r, 200, srv_config_json());   /* admin token redacted */
}

static void h_models(srv_req *r)
{
    json_t *o = json_object(), *a = json_array();
    for (int i = 0; i < srv_repo_count(); i++) {
        srv_model *e = srv_repo_at(i);
        srv_version *v = srv_model_acquire(e);
        json_array_append_new(a, srv_render_model(e, v, 0));
        srv_version_release(v);
    }
    json_object_set_new(o, "default_model", json_string(srv_cfg.default_model));
    json_object_set_new(o, "models", a);
    srv_reply_json(r, 200, o);
}

static void h_model(srv_req *r)
{
    if (!srv_repo_name_valid(r->arg[0])) {
        srv_reply_error(r, 400, "invalid model name");
        return;
    }
    srv_model *e = srv_repo_find(r->arg[0]);
    if (!e) {
        srv_reply_error(r, 404, "unknown model '%s'", r->arg[0]);
        return;
    }
    srv_version *v = srv_model_acquire(e);
    srv_reply_json(r, 200, srv_render_model(e, v, 1));
    srv_version_release(v);
}

static void h_model_load(srv_req *r)
{
    snn_error err;
    snn_error_clear(&err);
    if (!srv_repo_name_valid(r->arg[0])) {
        srv_reply_error(r, 400, "invalid model name");
        return;
    }
    snn_err rc = srv_repo_load(r->arg[0], &err);
    if (rc == SNN_ENOTFOUND) {
        srv_reply_error(r, 404, "%s", err.msg);
        return;
    }
    srv_model *e = srv_repo_find(r->arg[0]);
    srv_version *v = e ? srv_model_acquire(e) : NULL;
    if (rc != SNN_OK) {
        /* a bad model file is bad input (422), not a server fault */
        int st = rc == SNN_ENOMEM || rc == SNN_EIO || rc == SNN_EINTERNAL ? 500 : 422;
        srv_reply_error(r, st, "model '%s' failed to load: %s%s", r->arg[0], err.msg,
                        v ? "; the previous version keeps serving" : "");
    } else {
        srv_reply_json(r, 200, srv_render_model(e, v, 0));
    }
    srv_version_release(v);
}

static void h_model_unload(srv_req *r)
{
    snn_error err;
    snn_error_clear(&err);
    if (!srv_repo_name_valid(r->arg[0])) {
        srv_reply_error(r, 400, "invalid model name");
        return;
    }
    if (srv_repo_unload(r->arg[0], &err) != SNN_OK) {
        srv_reply_error(r, 404, "%s", err.msg);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(r->arg[0]));
    json_object_set_new(o, "state", json_string("UNAVAILABLE"));
    srv_reply_json(r, 200, o);
}

static void h_classify_default(srv_req *r) { infer(r, srv_cfg.default_model, SRV_API_CLASSIFY, 0); }
static void h_classify(srv_req *r) { infer(r, r->arg[0], SRV_API_CLASSIFY, 0); }

static void h_jobs_create(srv_req *r)
{
    const char *m = srv_req_query(r, "model");
    infer(r, m && *m ? m : srv_cfg.default_model, SRV_API_CLASSIFY, 1);
}

static void h_job(srv_req *r)
{
    if (!srv_jobs_id_valid(r->arg[0])) {
        srv_reply_error(r, 400, "invalid job id");
        return;
    }
    srv_job *j = srv_jobs_get(r->arg[0]);
    static const char *const states[] = {"new", "queued", "running", "done"};
    if (!j) {
        srv_reply_error(r, 404, "unknown or expired job '%s'", r->arg[0]);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "job", json_string(r->arg[0]));
    json_object_set_new(o, "request_id", json_string(j->id));
    uv_mutex_lock(&j->mu);
    json_object_set_new(o, "state", json_string(states[j->state]));
    if (j->state == SRV_JOB_DONE) {
        json_error_t jerr;
        json_object_set_new(o, "status", json_integer(j->status));
        json_t *res = j->body ? json_loads(j->body, 0, &jerr) : NULL;
        if (res) json_object_set_new(o, j->status == 200 ? "result" : "error_body", res);
    }
    json_object_set_new(o, "events", json_integer(j->next_event_id - 1));
    uv_mutex_unlock(&j->mu);
    srv_job_unref(j);
    srv_reply_json(r, 200, o);
}

static void h_job_events(srv_req *r)
{
    if (!srv_jobs_id_valid(r->arg[0])) {
        srv_reply_error(r, 400, "invalid job id");
        return;
    }
    srv_job *j = srv_jobs_get(r->arg[0]);
    if (!j) {
        srv_reply_error(r, 404, "unknown or expired job '%s'", r->arg[0]);
        return;
    }
    const char *last = srv_req_header(r, "Last-Event-ID");
    if (!last) last = srv_req_query(r, "last_event_id");
    long long after = last ? strtoll(last, NULL, 10) : 0;
    srv_reply_stream(r, j, after > 0 ? after : 0, 0);
    srv_job_unref(j);
}

/* ------------------------------------------------------------- admin */

/* The pause gate of the scheduler (sched.c): pause, resume[?chunks=N] and
 * its state. */
static void reply_sched_state(srv_req *r)
{
    srv_sched_info s;
    srv_sched_state(&s);
    json_t *o = json_object();
    json_object_set_new(o, "paused", json_boolean(s.paused));
    json_object_set_new(o, "chunks_left", json_integer(s.passes));
    json_object_set_new(o, "held_runs", json_integer(s.held));
    json_object_set_new(o, "queued", json_integer(s.queued));
    json_object_set_new(o, "running", json_integer(s.running));
    srv_reply_json(r, 200, o);
}

static void h_admin_pause(srv_req *r)
{
    srv_sched_pause();
    reply_sched_state(r);
}

static void h_admin_resume(srv_req *r)
{
    const char *c = srv_req_query(r, "chunks");
    long long chunks = 0;
    if (c) {
        char *end;
        chunks = strtoll(c, &end, 10);
        if (end == c || *end || chunks < 1 || chunks > 1000000000) {
            srv_reply_error(r, 400, "chunks: expected an integer 1..1000000000, got '%.40s'", c);
            return;
        }
    }
    srv_sched_resume(chunks);
    reply_sched_state(r);
}

/* ---------------------------------------------------------------- v2 */

static void h_v2_server(srv_req *r)
{
    json_t *o = json_object(), *ext = json_array();
    json_array_append_new(ext, json_string("classification"));
    json_array_append_new(ext, json_string("binary_tensor_data"));
    json_object_set_new(o, "name", json_string("snnd"));
    json_object_set_new(o, "version", json_string(SRV_VERSION));
    json_object_set_new(o, "extensions", ext);
    srv_reply_json(r, 200, o);
}

static void h_v2_live(srv_req *r) { srv_reply_empty(r, 200); }
/* Readiness answers 200 for true and a 4xx for false (the protocol's rule). */
static void h_v2_ready(srv_req *r) { srv_reply_empty(r, srv_is_ready() ? 200 : 400); }

/* A {v} of the v2 paths: the decimal number of a version folder. */
static int version_valid(const char *v)
{
    size_t n = strspn(v, "0123456789");
    return n > 0 && n < 20 && v[n] == '\0';
}

/* {m} and optional {v}: the version must be the one served. */
static srv_version *v2_version(srv_req *r, srv_model **e, int with_version)
{
    if (with_version && !version_valid(r->arg[1])) {
        srv_reply_error(r, 400, "invalid model version '%.40s'", r->arg[1]);
        return NULL;
    }
    srv_version *v = resolve(r, r->arg[0], e);
    if (v && with_version && strcmp(v->version_str, r->arg[1])) {
        srv_reply_error(r, 404, "model '%s' version '%s' is not served (serving %s)", r->arg[0],
                        r->arg[1], v->version_str);
        srv_version_release(v);
        return NULL;
    }
    return v;
}

static void v2_meta(srv_req *r, int with_version)
{
    srv_model *e;
    srv_version *v = v2_version(r, &e, with_version);
    if (!v) return;
    json_t *o = srv_v2_metadata(e, v);
    srv_version_release(v);
    srv_reply_json(r, 200, o);
}

static void h_v2_model(srv_req *r) { v2_meta(r, 0); }
static void h_v2_model_v(srv_req *r) { v2_meta(r, 1); }

static void v2_model_ready(srv_req *r, int with_version)
{
    if (!srv_repo_name_valid(r->arg[0]) || (with_version && !version_valid(r->arg[1]))) {
        srv_reply_empty(r, 400);
        return;
    }
    if (!srv_repo_find(r->arg[0])) {
        srv_reply_empty(r, 404);
        return;
    }
    srv_model *e = srv_repo_find(r->arg[0]);
    srv_version *v = srv_model_acquire(e);
    int ok = v && (!with_version || !strcmp(v->version_str, r->arg[1])) &&
             !atomic_load(&srv_draining);
    srv_version_release(v);
    srv_reply_empty(r, ok ? 200 : 400);
}

static void h_v2_model_ready(srv_req *r) { v2_model_ready(r, 0); }
static void h_v2_model_v_ready(srv_req *r) { v2_model_ready(r, 1); }
static void h_v2_infer(srv_req *r) { infer(r, r->arg[0], SRV_API_V2, 0); }

static void h_v2_infer_v(srv_req *r)
{
    srv_model *e;
    srv_version *v = v2_version(r, &e, 1);
    if (v) infer_on(r, e, v, SRV_API_V2, 0);   /* the version checked is the one run */
}

const srv_route srv_routes[] = {
    {"GET", "/", h_web, 0},
    {"GET", "/static/*", h_web, 0},
    {"GET", "/healthz", h_healthz, 0},
    {"GET", "/readyz", h_readyz, 0},
    {"GET", "/metrics", h_metrics, 0},
    {"POST", "/classify", h_classify_default, SRV_R_BODY | SRV_R_INFER},
    {"GET", "/v1/config", h_config, SRV_R_ADMIN},
    {"GET", "/v1/models", h_models, 0},
    {"GET", "/v1/models/{}", h_model, 0},
    {"DELETE", "/v1/models/{}", h_model_unload, SRV_R_ADMIN},
    {"POST", "/v1/models/{}/load", h_model_load, SRV_R_ADMIN},
    {"POST", "/v1/models/{}/classify", h_classify, SRV_R_BODY | SRV_R_INFER},
    {"POST", "/v1/jobs", h_jobs_create, SRV_R_BODY | SRV_R_INFER},
    {"GET", "/v1/jobs/{}", h_job, 0},
    {"GET", "/v1/jobs/{}/events", h_job_events, 0},
    {"POST", "/v1/admin/pause", h_admin_pause, SRV_R_ADMIN},
    {"POST", "/v1/admin/resume", h_admin_resume, SRV_R_ADMIN},
    {"GET", "/v1/admin/scheduler", reply_sched_state, SRV_R_ADMIN},
    {"GET", "/v2", h_v2_server, 0},
    {"GET", "/v2/health/live", h_v2_live, 0},
    {"GET", "/v2/health/ready", h_v2_ready, 0},
    {"GET", "/v2/models/{}", h_v2_model, 0},
    {"GET", "/v2/models/{}/ready", h_v2_model_ready, 0},
    {"POST", "/v2/models/{}/infer", h_v2_infer, SRV_R_BODY | SRV_R_INFER},
    {"GET", "/v2/models/{}/versions/{}", h_v2_model_v, 0},
    {"GET", "/v2/models/{}/versions/{}/ready", h_v2_model_v_ready, 0},
    {"POST", "/v2/models/{}/versions/{}/infer", h_v2_infer_v, SRV_R_BODY | SRV_R_INFER},
};
const int srv_nroutes = (int)(sizeof srv_routes / sizeof srv_routes[0]);
