/* repo.c: the model repository: which models exist, which version of each
 * is served, and the converted networks and engines behind it.
 *
 * DESIGN: the repository is a folder with one subfolder per model; a model
 * folder holds model.onnx + config.json, or numeric version subfolders
 * holding them (the highest number is served). A model name maps to a
 * srv_model entry that lives until shutdown (its queue and metrics stay
 * valid across reloads); the entry points to the current srv_version.
 *
 * Loading a version does everything that can fail or take long before it is
 * published: snn_model_load, snn_net_new with the model's conversion
 * parameters, one engine and result per worker, one warm-up run of each
 * engine on a zero image. Only then is `cur` swapped under the entry's
 * mutex; a failure leaves the previous version serving. Versions are
 * reference counted: the entry holds one reference, every queued or running
 * job another, so requests admitted before a reload finish on the version
 * they started with and the old version is freed by whoever drops the last
 * reference.
 *
 * Requests with conversion overrides need a different snn_net. Each version
 * keeps a small LRU of them keyed by their conversion parameters (compared
 * with snn_convert_params_equal);
 * workers build a missing one on first use (outside the lock), an entry in
 * use is never evicted, and when every slot is busy the extra net is
 * transient and freed after its run.
 */
#include "server.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static srv_model *models[SRV_MAX_MODELS];
static int nmodels;                       /* guarded by repo_mu */
static uv_mutex_t repo_mu;                /* models[] / nmodels */
static uv_mutex_t load_mu;                /* one load at a time */

int srv_repo_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= SNN_MODEL_NAME_MAX) return 0;
    if (name[0] == '.' || name[0] == '-') return 0;   /* no ".", "..", hidden, flags */
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return strstr(name, "..") == NULL;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Entry for `name`, created when missing and `create`. */
static srv_model *entry(const char *name, int create)
{
    srv_model *m = NULL;
    uv_mutex_lock(&repo_mu);
    for (int i = 0; i < nmodels; i++)
        if (!strcmp(models[i]->name, name)) {
            m = models[i];
            break;
        }
    if (!m && create && nmodels < SRV_MAX_MODELS) {
        m = calloc(1, sizeof *m);
        if (m) {
            snprintf(m->name, sizeof m->name, "%s", name);
            uv_mutex_init(&m->mu);
            models[nmodels++] = m;
        }
    }
    uv_mutex_unlock(&repo_mu);
    return m;
}

srv_model *srv_repo_find(const char *name)
{
    if (!srv_repo_name_valid(name)) return NULL;
    return entry(name, 0);
}

int srv_repo_count(void)
{
    uv_mutex_lock(&repo_mu);
    int n = nmodels;
    uv_mutex_unlock(&repo_mu);
    return n;
}

srv_model *srv_repo_at(int i)
{
    srv_model *m = NULL;
    uv_mutex_lock(&repo_mu);
    if (i >= 0 && i < nmodels) m = models[i];
    uv_mutex_unlock(&repo_mu);
    return m;
}

/* Model folders of the repository become entries (not loaded yet). */
static void scan(void)
{
    DIR *d = opendir(srv_cfg.models);
    struct dirent *e;
    if (!d) {
        srv_log(SRV_LOG_WARN, NULL, "model repository %s: %s", srv_cfg.models,
                strerror(errno));
        return;
    }
    while ((e = readdir(d))) {
        char p[PATH_MAX];
        if (!srv_repo_name_valid(e->d_name)) continue;
        snprintf(p, sizeof p, "%s/%s", srv_cfg.models, e->d_name);
        if (is_dir(p)) entry(e->d_name, 1);
    }
    closedir(d);
}

int srv_repo_init(void)
{
    uv_mutex_init(&repo_mu);
    uv_mutex_init(&load_mu);
    scan();
    return 0;
}

/* The folder to load for `name`: the highest numeric version subfolder with
 * a model.onnx, else the model folder itself (version 1). */
static int resolve(const char *name, char *dir, size_t dirlen, int64_t *version,
                   snn_error *err)
{
    char base[PATH_MAX], p[PATH_MAX + 32];
    int64_t best = -1;
    snprintf(base, sizeof base, "%s/%s", srv_cfg.models, name);
    if (!is_dir(base)) {
        snn_error_set(err, SNN_ENOTFOUND, "model '%s' is not in the repository %s",
                      name, srv_cfg.models);
        return -1;
    }
    DIR *d = opendir(base);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char *end;
        if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
        errno = 0;
        long long v = strtoll(e->d_name, &end, 10);
        if (*end || errno || v < 0) continue;
        snprintf(p, sizeof p, "%s/%s/model.onnx", base, e->d_name);
        if (v > best && is_file(p)) best = v;
    }
    if (d) closedir(d);
    if (best >= 0) {
        snprintf(dir, dirlen, "%s/%lld", base, (long long)best);
        *version = best;
        return 0;
    }
    snprintf(p, sizeof p, "%s/model.onnx", base);
    if (!is_file(p)) {
        snn_error_set(err, SNN_ENOTFOUND, "model '%s': no model.onnx in %s", name, base);
        return -1;
    }
    snprintf(dir, dirlen, "%s", base);
    *version = 1;
    return 0;
}

static void signature(const char *dir, char *sig, size_t len)
{
    char p[PATH_MAX + 16];
    struct stat a = {0}, b = {0};
    snprintf(p, sizeof p, "%s/model.onnx", dir);
    stat(p, &a);
    snprintf(p, sizeof p, "%s/config.json", dir);
    stat(p, &b);
    snprintf(sig, len, "%s|%lld.%09ld|%lld|%lld.%09ld|%lld", dir,
             (long long)a.st_mtim.tv_sec, a.st_mtim.tv_nsec, (long long)a.st_size,
             (long long)b.st_mtim.tv_sec, b.st_mtim.tv_nsec, (long long)b.st_size);
}

static void net_free(srv_net *n)
{
    if (!n) return;
    for (int w = 0; w < n->nworkers; w++) {
        snn_engine_free(n->engines[w]);
        if (n->result_ready[w]) snn_result_deinit(&n->results[w]);
    }
    free(n->engines);
    free(n->results);
    free(n->result_ready);
    snn_net_free(n->net);
    free(n);
}

static srv_net *net_new(srv_version *v, const snn_convert_params *p, snn_error *err)
{
    int nw = (int)srv_cfg.workers;
    srv_net *n = calloc(1, sizeof *n);
    if (!n) goto oom;
    n->nworkers = nw;
    n->engines = calloc((size_t)nw, sizeof *n->engines);
    n->results = calloc((size_t)nw, sizeof *n->results);
    n->result_ready = calloc((size_t)nw, sizeof *n->result_ready);
    if (!n->engines || !n->results || !n->result_ready) goto oom;
    n->params = *p;
    n->net = snn_net_new(v->m, p, err);
    if (!n->net) {
        net_free(n);
        return NULL;
    }
    n->last_used = srv_now();
    return n;
oom:
    net_free(n);
    snn_error_set(err, SNN_ENOMEM, "out of memory building a network");
    return NULL;
}

snn_err srv_net_worker(srv_version *v, srv_net *n, int w, snn_engine **e,
                       snn_result **r, snn_error *err)
{
    if (w < 0 || w >= n->nworkers)
        return snn_error_set(err, SNN_EINTERNAL, "worker %d out of range", w);
    if (!n->engines[w]) {
        n->engines[w] = snn_engine_new(n->net, v->max_batch, v->max_steps,
                                       SNN_ENGINE_FAST, err);
        if (!n->engines[w]) return err ? err->code : SNN_EINTERNAL;
        /* a team per engine: a lone image uses every core; when every
         * worker is busy the helpers find no part left and cost little */
        snn_err rc = snn_engine_set_threads(n->engines[w], (int)srv_cfg.engine_threads, err);
        if (rc != SNN_OK) return rc;
    }
    if (!n->result_ready[w]) {
        snn_err rc = snn_result_init(&n->results[w], n->net, v->max_batch,
                                     v->max_steps, (int)srv_cfg.max_raster_neurons);
        if (rc != SNN_OK) return snn_error_set(err, rc, "result buffers: %s", snn_strerror(rc));
        n->result_ready[w] = 1;
    }
    *e = n->engines[w];
    *r = &n->results[w];
    return SNN_OK;
}

static void version_free(srv_version *v)
{
    if (!v) return;
    for (int i = 0; i < v->ncache; i++) net_free(v->cache[i]);
    free(v->cache);
    net_free(v->def);
    snn_model_free(v->m);
    free(v->path);
    uv_mutex_destroy(&v->mu);
    free(v);
}

void srv_version_release(srv_version *v)
{
    if (v && atomic_fetch_sub(&v->refs, 1) == 1) version_free(v);
}

srv_version *srv_model_acquire(srv_model *m)
{
    uv_mutex_lock(&m->mu);
    srv_version *v = m->cur;
    if (v) atomic_fetch_add(&v->refs, 1);
    uv_mutex_unlock(&m->mu);
    return v;
}

srv_net *srv_version_net_acquire(srv_version *v, const snn_convert_params *p, snn_error *err)
{
    srv_net *n = NULL;
    uv_mutex_lock(&v->mu);
    if (!p || snn_convert_params_equal(p, &v->def->params)) n = v->def;
    for (int i = 0; !n && i < v->ncache; i++)
        if (snn_convert_params_equal(&v->cache[i]->params, p)) n = v->cache[i];
    if (n) {
        n->inuse++;
        n->last_used = srv_now();
        uv_mutex_unlock(&v->mu);
        return n;
    }
    uv_mutex_unlock(&v->mu);

    srv_net *fresh = net_new(v, p, err);   /* slow: conversion and planning */
    if (!fresh) return NULL;
    srv_net *evict = NULL;
    uv_mutex_lock(&v->mu);
    for (int i = 0; i < v->ncache; i++)
        if (snn_convert_params_equal(&v->cache[i]->params, p)) n = v->cache[i];   /* lost a race */
    if (n) {
        n->inuse++;
        uv_mutex_unlock(&v->mu);
        net_free(fresh);
        return n;
    }
    n = fresh;
    if (v->ncache < v->cache_cap) {
        v->cache[v->ncache++] = n;
    } else {
        int lru = -1;
        for (int i = 0; i < v->ncache; i++)
            if (v->cache[i]->inuse == 0 &&
                (lru < 0 || v->cache[i]->last_used < v->cache[lru]->last_used))
                lru = i;
        if (lru >= 0) {
            evict = v->cache[lru];
            v->cache[lru] = n;
        } else {
            n->transient = 1;
        }
    }
    n->inuse++;
    uv_mutex_unlock(&v->mu);
    net_free(evict);
    return n;
}

void srv_version_net_release(srv_version *v, srv_net *n)
{
    int drop;
    uv_mutex_lock(&v->mu);
    n->inuse--;
    drop = n->transient && n->inuse == 0;
    uv_mutex_unlock(&v->mu);
    if (drop) net_free(n);
}

/* Build, plan and warm a version; NULL with err on failure. */
static srv_version *version_load(srv_model *e, const char *dir, int64_t version,
                                 snn_error *err)
{
    srv_version *v = calloc(1, sizeof *v);
    if (!v) {
        snn_error_set(err, SNN_ENOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&v->refs, 1);
    uv_mutex_init(&v->mu);
    v->model = e;
    v->version = version;
    snprintf(v->version_str, sizeof v->version_str, "%lld", (long long)version);
    v->path = strdup(dir);
    signature(dir, v->signature, sizeof v->signature);
    v->cache_cap = (int)srv_cfg.net_cache;
    v->cache = calloc((size_t)(v->cache_cap ? v->cache_cap : 1), sizeof *v->cache);
    if (!v->path || !v->cache) {
        snn_error_set(err, SNN_ENOMEM, "out of memory");
        goto fail;
    }
    v->m = snn_model_load(dir, err);
    if (!v->m) goto fail;
    v->max_batch = (int)srv_cfg.max_batch;
    v->max_steps = (int)srv_cfg.max_steps;
    if (v->m->cfg.max_steps > 0 && v->m->cfg.max_steps < v->max_steps)
        v->max_steps = v->m->cfg.max_steps;
    v->def = net_new(v, &v->m->cfg.convert, err);
    if (!v->def) goto fail;

    /* One engine per worker, each warmed by one run on a zero image. */
    size_t insz = snn_model_input_size(v->m);
    float *zero = calloc(insz ? insz : 1, sizeof *zero);
    if (!zero) {
        snn_error_set(err, SNN_ENOMEM, "out of memory");
        goto fail;
    }
    v->memory_bytes = v->m->weight_bytes + snn_net_memory_bytes(v->def->net);
    for (int w = 0; w < v->def->nworkers; w++) {
        snn_engine *eng;
        snn_result *res;
        snn_run_opts o;
        if (srv_net_worker(v, v->def, w, &eng, &res, err) != SNN_OK) {
            free(zero);
            goto fail;
        }
        snn_run_opts_init(&o);
        o.steps = v->m->cfg.steps > 0 && v->m->cfg.steps <= v->max_steps ? v->m->cfg.steps
                                                                         : v->max_steps;
        if (snn_engine_run(eng, zero, 1, &o, res, err) != SNN_OK) {
            free(zero);
            goto fail;
        }
        v->memory_bytes += snn_engine_memory_bytes(eng);
    }
    free(zero);
    v->loaded_at = srv_wall();
    return v;
fail:
    version_free(v);
    return NULL;
}

const char *srv_model_state(srv_model *e)
{
    uv_mutex_lock(&e->mu);
    const char *st = e->cur ? "ready"
                     : e->loading ? "loading"
                     : e->last_error[0] && strcmp(e->last_error, "unloaded") ? "failed"
                                                                              : "unavailable";
    uv_mutex_unlock(&e->mu);
    return st;
}

static snn_err load_locked(srv_model *e, int force, snn_error *err)
{
    char dir[PATH_MAX];
    int64_t version;
    char sig[512];
    if (resolve(e->name, dir, sizeof dir, &version, err) != 0) {
        uv_mutex_lock(&e->mu);
        snprintf(e->last_error, sizeof e->last_error, "%s", err ? err->msg : "");
        uv_mutex_unlock(&e->mu);
        return err ? err->code : SNN_ENOTFOUND;
    }
    if (!force) {
        signature(dir, sig, sizeof sig);
        srv_version *cur = srv_model_acquire(e);
        int same = cur && !strcmp(cur->signature, sig);
        srv_version_release(cur);
        if (same) return SNN_OK;
    }
    double t0 = srv_now();
    uv_mutex_lock(&e->mu);
    e->loading = 1;
    uv_mutex_unlock(&e->mu);
    srv_version *v = version_load(e, dir, version, err);
    uv_mutex_lock(&e->mu);
    e->loading = 0;
    srv_version *old = NULL;
    int serving = e->cur != NULL;
    if (v) {
        old = e->cur;
        e->cur = v;
        e->last_error[0] = '\0';
    } else {
        snprintf(e->last_error, sizeof e->last_error, "%s", err ? err->msg : "load failed");
    }
    uv_mutex_unlock(&e->mu);
    if (!v) {
        srv_metrics_add(SRV_M_MODEL_LOADS, 1, e->name, "error");
        srv_log(SRV_LOG_ERROR, NULL, "model %s: load of %s failed: %s%s", e->name, dir,
                err ? err->msg : "",
                serving ? " (the previous version keeps serving)" : "");
        return err && err->code != SNN_OK ? err->code : SNN_EINTERNAL;
    }
    srv_metrics_add(SRV_M_MODEL_LOADS, 1, e->name, "ok");
    srv_metrics_set(SRV_M_MODEL_MEMORY, (double)v->memory_bytes, e->name, NULL);
    srv_log(SRV_LOG_INFO, NULL,
            "model %s: version %s loaded from %s in %.0f ms (%d layers, %zu bytes%s)",
            e->name, v->version_str, dir, (srv_now() - t0) * 1e3,
            snn_net_nlayers(v->def->net), v->memory_bytes,
            old ? ", replaces the previous version" : "");
    for (int i = 0; i < snn_net_nnotes(v->def->net); i++)   /* never a silent change of function */
        srv_log(SRV_LOG_WARN, NULL, "model %s: %s", e->name, snn_net_note(v->def->net, i));
    srv_version_release(old);
    return SNN_OK;
}

snn_err srv_repo_load(const char *name, snn_error *err)
{
    if (!srv_repo_name_valid(name))
        return snn_error_set(err, SNN_EINVALID, "invalid model name");
    char base[PATH_MAX];
    snprintf(base, sizeof base, "%s/%s", srv_cfg.models, name);
    if (!is_dir(base))
        return snn_error_set(err, SNN_ENOTFOUND, "model '%s' is not in the repository", name);
    srv_model *e = entry(name, 1);
    if (!e) return snn_error_set(err, SNN_ELIMIT, "too many models (%d)", SRV_MAX_MODELS);
    uv_mutex_lock(&load_mu);
    snn_err rc = load_locked(e, 1, err);
    uv_mutex_unlock(&load_mu);
    return rc;
}

int srv_repo_load_all(int force)
{
    int ok = 0;
    uv_mutex_lock(&load_mu);
    scan();
    for (int i = 0; i < srv_repo_count(); i++) {
        snn_error err;
        snn_error_clear(&err);
        srv_model *e = srv_repo_at(i);
        if (load_locked(e, force, &err) == SNN_OK) ok++;
    }
    uv_mutex_unlock(&load_mu);
    return ok;
}

snn_err srv_repo_unload(const char *name, snn_error *err)
{
    srv_model *e = srv_repo_find(name);
    if (!e) return snn_error_set(err, SNN_ENOTFOUND, "unknown model '%s'", name ? name : "");
    uv_mutex_lock(&load_mu);
    uv_mutex_lock(&e->mu);
    srv_version *old = e->cur;
    e->cur = NULL;
    snprintf(e->last_error, sizeof e->last_error, "unloaded");
    uv_mutex_unlock(&e->mu);
    uv_mutex_unlock(&load_mu);
    if (!old) return snn_error_set(err, SNN_ENOTFOUND, "model '%s' is not loaded", name);
    srv_metrics_remove(SRV_M_MODEL_MEMORY, name);
    srv_log(SRV_LOG_INFO, NULL, "model %s: version %s unloaded", name, old->version_str);
    srv_version_release(old);   /* in-flight jobs keep their own references */
    return SNN_OK;
}

int srv_repo_ready_count(void)
{
    int n = 0;
    for (int i = 0; i < srv_repo_count(); i++) {
        srv_model *e = srv_repo_at(i);
        uv_mutex_lock(&e->mu);
        n += e->cur != NULL;
        uv_mutex_unlock(&e->mu);
    }
    return n;
}

int srv_repo_servable(const char *name)
{
    srv_model *e = srv_repo_find(name);
    if (!e) return 0;
    uv_mutex_lock(&e->mu);
    int ok = e->cur != NULL;
    uv_mutex_unlock(&e->mu);
    return ok;
}

void srv_repo_deinit(void)
{
    for (int i = 0; i < nmodels; i++) {
        srv_version_release(models[i]->cur);
        uv_mutex_destroy(&models[i]->mu);
        free(models[i]);
    }
    nmodels = 0;
    uv_mutex_destroy(&load_mu);
    uv_mutex_destroy(&repo_mu);
}
