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

/* Build, submit and answer one inference job. api: classify or v2;
 * as_job: POST /v1/jobs (answer with the job id, stream later). */
static void infer(srv_req *r, const char *name, srv_api_kind api, int as_job)
{
    srv_model *e;
    srv_version *v = resolve(r, name, &e);
    snn_error err;
    srv_opts o;
    if (!v) return;
    snn_error_clear(&err);
    srv_job *j = srv_job_new(r->id, e, v);
    if (!j) {
        srv_version_release(v);
        srv_reply_error(r, 500, "out of memory");
        return;
    }
    j->api = api;
    j->deadline = r->t0 + (double)srv_cfg.request_timeout_ms / 1e3;
    j->client_fd = srv_req_fd(r);      /* body.c's decode watches it */
    srv_opts_init(&o);
    const char *ct = srv_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (srv_req_query_opts(r, &o, v->m, &err) != 0) {
        srv_reply_error(r, 400, "%s", err.msg);
        goto out;
    }
    if (api == SRV_API_V2) {
        if (ct && *ct && !ctype_is(ct, "application/json")) {
            srv_reply_error(r, 415, "v2 infer takes application/json, not '%.80s'", ct);
            goto out;
        }
        if (srv_body_v2(j, &o, r->body ? r->body : "", r->len, &err) != SNN_OK) {
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
        json_object_set_new(a, "status", json_string(url));
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
    json_object_set_new(o, "status", json_string("ok"));
    srv_reply_json(r, 200, o);
}

static void h_readyz(srv_req *r)
{
    json_t *o = json_object();
    int ready = srv_is_ready();
    json_object_set_new(o, "status", json_string(ready ? "ready" : "not ready"));
    json_object_set_new(o, "models_ready", json_integer(srv_repo_ready_count()));
    if (!ready)
        json_object_set_new(o, "reason", json_string(atomic_load(&srv_draining) ? "draining"
                                                     : !atomic_load(&srv_started) ? "loading models"
                                                                                  : "no model loaded"));
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

/* ---------------------------------------------------------------- v2 */

static void h_v2_server(srv_req *r)
{
    json_t *o = json_object(), *ext = json_array();
    json_array_append_new(ext, json_string("classification"));
    json_object_set_new(o, "name", json_string("snnd"));
    json_object_set_new(o, "version", json_string(SRV_VERSION));
    json_object_set_new(o, "extensions", ext);
    srv_reply_json(r, 200, o);
}

static void h_v2_live(srv_req *r) { srv_reply_empty(r, 200); }
static void h_v2_ready(srv_req *r) { srv_reply_empty(r, srv_is_ready() ? 200 : 503); }

/* {m} and optional {v}: the version must be the one served. */
static srv_version *v2_version(srv_req *r, srv_model **e, int with_version)
{
    srv_version *v = resolve(r, r->arg[0], e);
    if (v && with_version && strcmp(v->version_str, r->arg[1])) {
        srv_reply_error(r, 404, "model '%s' version '%s' is not served (serving %s)", r->arg[0],
                        r->arg[1], v->version_str);
        srv_version_release(v);
        return NULL;
    }
    return v;
}

static json_t *tensor_meta(const char *name, const char *dtype, int n, const int64_t *dims)
{
    json_t *o = json_object(), *s = json_array();
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "datatype", json_string(dtype));
    for (int i = 0; i < n; i++) json_array_append_new(s, json_integer(dims[i]));
    json_object_set_new(o, "shape", s);
    return o;
}

static void v2_meta(srv_req *r, int with_version)
{
    srv_model *e;
    srv_version *v = v2_version(r, &e, with_version);
    if (!v) return;
    const snn_model *m = v->m;
    json_t *o = json_object(), *vers = json_array(), *ins = json_array(), *outs = json_array();
    json_object_set_new(o, "name", json_string(e->name));
    json_array_append_new(vers, json_string(v->version_str));
    json_object_set_new(o, "versions", vers);
    json_object_set_new(o, "platform", json_string("snnd_spiking"));
    int64_t img[4] = {-1, m->cfg.in_h, m->cfg.in_w, m->cfg.in_c};
    if (m->cfg.resize == SNN_RESIZE_BILINEAR) img[1] = img[2] = -1;
    int64_t pre[4] = {-1, m->cfg.in_c, m->cfg.in_h, m->cfg.in_w};
    if (m->cfg.layout == SNN_LAYOUT_NHWC) {
        pre[1] = m->cfg.in_h; pre[2] = m->cfg.in_w; pre[3] = m->cfg.in_c;
    }
    int64_t out[3] = {-1, -1, snn_net_nclasses(v->def->net)};
    json_array_append_new(ins, tensor_meta("image", "UINT8", 4, img));
    json_array_append_new(ins, tensor_meta("input", "FP32", 4, pre));
    json_array_append_new(outs, tensor_meta("probabilities", "FP32", 3, out));
    json_object_set_new(o, "inputs", ins);
    json_object_set_new(o, "outputs", outs);
    json_t *p = json_object();
    json_object_set_new(p, "inputs",
                        json_string("send exactly one: \"image\" = raw pixels 0..255 as [N,H,W,C], [N,H,W] or "
                                    "[H,W,C] (UINT8 or FP32; resized per model config), or \"input\" "
                                    "= the preprocessed model input (FP32, batch dimension optional)"));
    json_object_set_new(p, "outputs",
                        json_string("probabilities: [steps, classes], or [N, steps, classes] for a "
                                    "batched input; parameters.classification=K gives BYTES "
                                    "\"value:index:label\""));
    json_object_set_new(p, "default_steps", json_integer(m->cfg.steps));
    json_object_set_new(p, "max_steps", json_integer(v->max_steps));
    json_object_set_new(p, "max_batch", json_integer(v->max_batch));
    json_object_set_new(o, "parameters", p);
    srv_version_release(v);
    srv_reply_json(r, 200, o);
}

static void h_v2_model(srv_req *r) { v2_meta(r, 0); }
static void h_v2_model_v(srv_req *r) { v2_meta(r, 1); }

static void v2_model_ready(srv_req *r, int with_version)
{
    if (!srv_repo_name_valid(r->arg[0]) || !srv_repo_find(r->arg[0])) {
        srv_reply_empty(r, 404);
        return;
    }
    srv_model *e = srv_repo_find(r->arg[0]);
    srv_version *v = srv_model_acquire(e);
    int ok = v && (!with_version || !strcmp(v->version_str, r->arg[1])) &&
             !atomic_load(&srv_draining);
    srv_version_release(v);
    srv_reply_empty(r, ok ? 200 : 503);
}

static void h_v2_model_ready(srv_req *r) { v2_model_ready(r, 0); }
static void h_v2_model_v_ready(srv_req *r) { v2_model_ready(r, 1); }
static void h_v2_infer(srv_req *r) { infer(r, r->arg[0], SRV_API_V2, 0); }

static void h_v2_infer_v(srv_req *r)
{
    srv_model *e;
    srv_version *v = v2_version(r, &e, 1);
    if (!v) return;
    srv_version_release(v);   /* infer() takes its own reference */
    infer(r, r->arg[0], SRV_API_V2, 0);
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
