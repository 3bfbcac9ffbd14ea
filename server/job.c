/* job.c: the per-request job, and the /v1/jobs registry.
 *
 * DESIGN: a job is all the state of one inference request: the
 * preprocessed input, the run parameters, the deadline, the answer once
 * done, and an append-only log of SSE events (`timestep`... then `result`
 * or `error`). It is the only allocation on the request path and it is
 * reference counted: the HTTP connection, the queue/worker and the /v1/jobs
 * registry each hold a reference, so whichever finishes last frees it.
 * Readers of the event log keep their own offset, which is how one stream
 * (direct SSE) or several (EventSource reconnects with Last-Event-ID on a
 * /v1/jobs entry) read the same job.
 *
 * Retained memory: a job held by the registry keeps its answer and its
 * event log for job-ttl-s; a 1000-step job of 10 classes logs about 230 KB
 * of timestep events and answers with 123 KB of per-step probabilities,
 * kept twice (the body and the `result` event): 450 KB. Registered jobs
 * are counted (jobs_bytes) against jobs-memory-bytes:
 *   - admission reserves the answer's worst size, twice (2 x (images x
 *     steps x classes x RESULT_BYTES_PER_VALUE + 8 KiB)), and refuses the
 *     job (503) when the reservation does not fit;
 *   - the log is counted in allocated capacity; a timestep event that
 *     would pass the budget is dropped, the first drop replaced by one
 *     small `truncated` event, the final event is always kept, grown
 *     exactly (no doubling);
 *   - at completion the reservation is replaced by the answer's real size.
 * The input is freed when a job completes (a job never runs twice). So the
 * registry's logs and answers stay within jobs-memory-bytes (64 MiB by
 * default) plus the job structs (max-jobs x ~2 KiB), whatever the steps.
 */
#include "server.h"

#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Atomic int64_t jobs_bytes;    /* logs, answers and reservations of registered jobs */
#define RESULT_BYTES_PER_VALUE 16     /* a probability as JSON text (observed 12.3) */

static void jobs_bytes_add(int64_t n)
{
    int64_t now = atomic_fetch_add(&jobs_bytes, n) + n;
    srv_metrics_set(SRV_M_JOBS_BYTES, (double)now, NULL, NULL);
}

srv_job *srv_job_new(const char *reqid, srv_model *m, srv_version *v)
{
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    atomic_init(&j->refs, 1);
    atomic_init(&j->cancelled, 0);
    snprintf(j->id, sizeof j->id, "%s", reqid ? reqid : "");
    j->model = m;
    j->ver = v;                 /* reference handed over by the caller */
    j->run.raster_layer = -1;
    j->top_k = 5;
    j->next_event_id = 1;
    j->client_fd = -1;
    j->t_start = srv_now();
    uv_mutex_init(&j->mu);
    uv_cond_init(&j->cv);
    return j;
}

void srv_job_ref(srv_job *j) { atomic_fetch_add(&j->refs, 1); }

void srv_job_unref(srv_job *j)
{
    if (!j || atomic_fetch_sub(&j->refs, 1) != 1) return;
    if (j->registered)
        jobs_bytes_add(-(int64_t)j->log_cap - (int64_t)j->body_len - j->reserved);
    srv_version_release(j->ver);
    free(j->input);
    free(j->body);
    free(j->log);
    uv_cond_destroy(&j->cv);
    uv_mutex_destroy(&j->mu);
    free(j);
}

/* Caller holds j->mu. */
static void log_append(srv_job *j, const char *event, const char *data)
{
    char head[96];
    int timestep = !strcmp(event, "timestep");
    if (timestep && j->log_truncated) return;
    size_t dn = strlen(data), need = j->log_len + sizeof head + dn + 3;
    size_t cap = j->log_cap;
    if (need > cap) {
        cap = cap ? cap : 4096;
        while (cap < need) cap *= 2;
    }
    if (j->registered && timestep && cap > j->log_cap &&
        atomic_load(&jobs_bytes) + (int64_t)(cap - j->log_cap) > srv_cfg.jobs_memory_bytes) {
        j->log_truncated = 1;
        event = "truncated";
        data = "{\"reason\":\"jobs-memory-bytes: further timestep events of this job are not kept\"}";
        dn = strlen(data);
        need = j->log_len + sizeof head + dn + 3;
        timestep = 0;
    }
    /* Registered jobs grow their log exactly for their last events (the
     * truncation note, the result): no doubling past the budget. */
    if (j->registered && !timestep) cap = need > j->log_cap ? need : j->log_cap;
    int hn = snprintf(head, sizeof head, "event: %s\nid: %lld\ndata: ", event,
                      (long long)j->next_event_id++);
    if (cap > j->log_cap) {
        char *p = realloc(j->log, cap);
        if (!p) return;   /* the event is lost; the final one still wakes readers */
        if (j->registered) jobs_bytes_add((int64_t)(cap - j->log_cap));
        j->log = p;
        j->log_cap = cap;
    }
    memcpy(j->log + j->log_len, head, (size_t)hn);
    j->log_len += (size_t)hn;
    memcpy(j->log + j->log_len, data, dn);
    j->log_len += dn;
    memcpy(j->log + j->log_len, "\n\n", 2);
    j->log_len += 2;
    j->log[j->log_len] = '\0';
}

void srv_job_event(srv_job *j, const char *event, const char *data)
{
    uv_mutex_lock(&j->mu);
    log_append(j, event, data);
    uv_cond_broadcast(&j->cv);
    uv_mutex_unlock(&j->mu);
}

void srv_job_complete(srv_job *j, int status, char *body, const char *errmsg)
{
    size_t len = 0;
    if (!body) body = srv_render_error(errmsg ? errmsg : "internal error", &len);
    else len = strlen(body);
    srv_job_complete_n(j, status, body, body ? len : 0, 0);
}

void srv_job_complete_n(srv_job *j, int status, char *body, size_t len, size_t json_len)
{
    uv_mutex_lock(&j->mu);
    if (j->state == SRV_JOB_DONE) {
        uv_mutex_unlock(&j->mu);
        free(body);
        return;
    }
    if (j->async) {   /* counted before anyone can see the job done */
        char code[8];
        snprintf(code, sizeof code, "%d", status);
        srv_metrics_add(SRV_M_JOBS, 1, j->model->name, code);
    }
    j->state = SRV_JOB_DONE;
    j->status = status;
    j->t_done = srv_now();
    free(j->input);               /* never run again: the registry keeps only the answer */
    j->input = NULL;
    j->body = body;
    j->body_len = body ? len : 0;
    j->json_len = json_len;
    if (j->registered) {          /* the real answer replaces its reservation */
        jobs_bytes_add((int64_t)j->body_len - j->reserved);
        j->reserved = 0;
    }
    if (body && !json_len) {   /* binary answers (v2) are never streamed */
        if (status == 200) {
            log_append(j, "result", body);
        } else {
            /* Failure events carry the status too: {"error":..,"status":N}.
             * Not named "error": EventSource fires its own "error" event for
             * connection problems, and a listener could not tell them apart. */
            json_error_t jerr;
            json_t *o = json_loads(body, 0, &jerr);
            char *s = NULL;
            if (o) {
                json_object_set_new(o, "status", json_integer(status));
                s = json_dumps(o, JSON_COMPACT);
                json_decref(o);
            }
            log_append(j, "failure", s ? s : body);
            free(s);
        }
    }
    uv_cond_broadcast(&j->cv);
    uv_mutex_unlock(&j->mu);
}

int srv_job_done(srv_job *j)
{
    uv_mutex_lock(&j->mu);
    int d = j->state == SRV_JOB_DONE;
    uv_mutex_unlock(&j->mu);
    return d;
}

int srv_job_wait(srv_job *j, size_t offset, double seconds)
{
    uv_mutex_lock(&j->mu);
    if (j->state != SRV_JOB_DONE && j->log_len <= offset && seconds > 0)
        uv_cond_timedwait(&j->cv, &j->mu, (uint64_t)(seconds * 1e9));
    int d = j->state == SRV_JOB_DONE;
    uv_mutex_unlock(&j->mu);
    return d;
}

/* ------------------------------------------------------------ registry */

typedef struct job_entry {
    char id[33];
    srv_job *job;
    double expires;
} job_entry;

static job_entry *entries;
static int nentries, capentries;
static uv_mutex_t reg_mu;
static uv_once_t reg_once = UV_ONCE_INIT;

static void reg_init(void) { uv_mutex_init(&reg_mu); }

static void random_id(char *out, size_t len)
{
    unsigned char b[16];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, b, sizeof b) : -1;
    if (fd >= 0) close(fd);
    if (n != (ssize_t)sizeof b) {
        /* No urandom: time and address mixing is enough for an id that is
         * also protected by being unguessable only loosely. */
        uint64_t x = (uint64_t)(srv_wall() * 1e9) ^ (uint64_t)(uintptr_t)out;
        for (int i = 0; i < 16; i++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;
            b[i] = (unsigned char)x;
        }
    }
    for (size_t i = 0; i < 16 && 2 * i + 2 < len; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

int srv_jobs_add(srv_job *j, char *id, size_t idlen)
{
    uv_once(&reg_once, reg_init);
    uv_mutex_lock(&reg_mu);
    const snn_model *m = j->ver->m;
    int64_t nc = m->cfg.nclasses > 0 ? m->cfg.nclasses : snn_net_nclasses(j->ver->def->net);
    int64_t reserve = 2 * ((int64_t)j->n * j->run.steps * nc * RESULT_BYTES_PER_VALUE + 8192);
    if (nentries >= (int)srv_cfg.max_jobs ||
        atomic_load(&jobs_bytes) + reserve > srv_cfg.jobs_memory_bytes) {
        uv_mutex_unlock(&reg_mu);
        return -1;
    }
    if (nentries == capentries) {
        int cap = capentries ? capentries * 2 : 16;
        job_entry *p = realloc(entries, (size_t)cap * sizeof *p);
        if (!p) {
            uv_mutex_unlock(&reg_mu);
            return -1;
        }
        entries = p;
        capentries = cap;
    }
    job_entry *e = &entries[nentries++];
    j->async = 1;
    random_id(e->id, sizeof e->id);
    srv_job_ref(j);
    e->job = j;
    e->expires = srv_now() + (double)srv_cfg.job_ttl_s;
    uv_mutex_lock(&j->mu);
    j->registered = 1;
    j->reserved = reserve;
    jobs_bytes_add((int64_t)j->log_cap + reserve);
    uv_mutex_unlock(&j->mu);
    snprintf(id, idlen, "%s", e->id);
    uv_mutex_unlock(&reg_mu);
    return 0;
}

int srv_jobs_id_valid(const char *id)
{
    size_t n = strspn(id, "0123456789abcdef");
    return n > 0 && n < 40 && id[n] == '\0';
}

srv_job *srv_jobs_get(const char *id)
{
    srv_job *j = NULL;
    uv_once(&reg_once, reg_init);
    uv_mutex_lock(&reg_mu);
    for (int i = 0; i < nentries; i++)
        if (!strcmp(entries[i].id, id)) {
            j = entries[i].job;
            srv_job_ref(j);
            break;
        }
    uv_mutex_unlock(&reg_mu);
    return j;
}

void srv_jobs_reap(void)
{
    double now = srv_now();
    uv_once(&reg_once, reg_init);
    uv_mutex_lock(&reg_mu);
    for (int i = 0; i < nentries; i++) {
        if (entries[i].expires > now) continue;
        srv_job *j = entries[i].job;
        entries[i] = entries[--nentries];
        i--;
        srv_sched_cancel(j, 2);   /* an expired job that still runs stops */
        srv_job_unref(j);
    }
    uv_mutex_unlock(&reg_mu);
}

void srv_jobs_deinit(void)
{
    uv_once(&reg_once, reg_init);
    uv_mutex_lock(&reg_mu);
    for (int i = 0; i < nentries; i++) srv_job_unref(entries[i].job);
    free(entries);
    entries = NULL;
    nentries = capentries = 0;
    uv_mutex_unlock(&reg_mu);
}
