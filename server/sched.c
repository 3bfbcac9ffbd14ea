/* sched.c: bounded per-model queues, the worker pool and dynamic batching.
 *
 * DESIGN: admission is the only place a request can be refused for load:
 * srv_sched_submit() appends to the model's queue or fails at once with
 * SNN_EBUSY (503 + Retry-After) when the queue holds queue-size jobs.
 * srv_sched_full() answers the same question earlier: http.c asks it when
 * an inference request's headers arrive and, when the queue is full,
 * discards the body and answers 503 without a job, a body buffer or a
 * decode (the connection stays open), so a flood of refused requests
 * costs little CPU and the workers keep theirs.
 * (Requests that start while the server drains are refused by http.c at
 * their first header; those that started before still run.)
 *
 * Workers (plain threads, one engine per net each) take the oldest job of
 * a model (models served round-robin) together with the following queued
 * jobs that can share its engine run: same version, same net (conversion
 * parameters), same steps and early exit, none asking for per-request
 * spike statistics, raster, energy or a stream (those run alone), up to
 * max-batch images. If fewer are waiting and more requests
 * are still arriving (open inference requests outnumber jobs), the worker
 * waits up to max-queue-delay-ms from the head job's arrival for them; a
 * lone client never waits.
 *
 * The scheduler knows no API: a job brings its version, run parameters,
 * input, deadline and cancel flag, and a sink (srv_sink) chosen by the
 * handler that made it; finished steps go to the sink's step(), when it has
 * one (the run then goes step by step), and the outcome to its answer().
 *
 * Deadlines cover queue wait and run: an expired job at the head of a queue
 * is answered 504 without running; during a run the engine's step callback
 * (every chunk-steps steps, every step for streams) checks each job's
 * deadline and cancel flag (set when the client disconnects) and stops the
 * run when no job in it still wants the answer. A request's deadline is the
 * server's request-timeout-ms, or sooner when the client sets one
 * (timeout_ms, X-Request-Timeout-Ms, the v2 "timeout" parameter).
 *
 * The pause gate (POST /v1/admin/pause, /resume) holds the workers: while
 * paused they take no job from the queues and hold a running job at its
 * next chunk boundary. Work only waits there: deadlines and disconnects
 * still cut held and queued jobs (the paused workers sweep the queues).
 * A drain (SIGTERM) waits for held work like for any other, up to
 * drain-timeout-ms, after which srv_sched_cancel_all() ends it.
 * resume?chunks=N lets N more chunks start (taking a job from the queue
 * starts its first chunk) and then holds again: the way to stop a job
 * exactly after it started, for tests and for looking at one request in
 * isolation.
 */
#include "server.h"

#include <assert.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uv_mutex_t mu;             /* queues (srv_model q*), running[], counters */
static uv_cond_t cv;
static int stopping;
static int nqueued, nrunning;
static int rr;                    /* round-robin cursor over models */
static int nworkers;
static uv_thread_t *threads;
/* the pause gate (mu) */
static int paused;                /* admin pause */
static long long passes;          /* chunks that may still start while paused */
static int nheld;                 /* runs held at a chunk boundary */

typedef struct worker {
    int id;
    srv_job **cur;                /* jobs of the current run (mu) */
    int ncur;
    float *stage;                 /* batch input staging, grow-only */
    size_t stage_cap;
} worker;
static worker *workers;

static void q_unlink(srv_model *m, srv_job *j)
{
    if (j->prev) j->prev->next = j->next;
    else m->qhead = j->next;
    if (j->next) j->next->prev = j->prev;
    else m->qtail = j->prev;
    j->prev = j->next = NULL;
    j->queued = 0;
    m->qlen--;
    nqueued--;
    srv_metrics_set(SRV_M_QUEUE_DEPTH, m->qlen, m->name, NULL);
}

snn_err srv_sched_submit(srv_job *j)
{
    srv_model *m = j->model;
    assert(j->sink && j->sink->answer);   /* the handler's job: every job has its API's sink */
    uv_mutex_lock(&mu);
    /* No draining check here: a request whose headers arrived before
     * SIGTERM is in flight and finishes; http.c refuses the ones that
     * start during the drain. */
    if (stopping) {
        uv_mutex_unlock(&mu);
        return SNN_EBUSY;
    }
    if (m->qlen >= (int)srv_cfg.queue_size) {
        uv_mutex_unlock(&mu);
        return SNN_EBUSY;
    }
    srv_job_ref(j);
    uv_mutex_lock(&j->mu);
    j->state = SRV_JOB_QUEUED;
    uv_mutex_unlock(&j->mu);
    j->t_enqueue = srv_now();
    j->prev = m->qtail;
    j->next = NULL;
    if (m->qtail) m->qtail->next = j;
    else m->qhead = j;
    m->qtail = j;
    j->queued = 1;
    m->qlen++;
    nqueued++;
    srv_metrics_set(SRV_M_QUEUE_DEPTH, m->qlen, m->name, NULL);
    uv_cond_broadcast(&cv);
    uv_mutex_unlock(&mu);
    return SNN_OK;
}

int srv_sched_full(srv_model *m)
{
    uv_mutex_lock(&mu);
    int full = m->qlen >= (int)srv_cfg.queue_size;
    uv_mutex_unlock(&mu);
    return full;
}

/* running: 0 when the job never left the queue. */
static void cancel_status(int why, int running, int *status, const char **msg)
{
    switch (why) {
    case 2:
        *status = 504;
        *msg = running ? "deadline exceeded while running (request timeout)"
                       : "deadline exceeded in the queue (request timeout)";
        break;
    case 3: *status = 503; *msg = "server is shutting down"; break;
    default: *status = 499; *msg = "client closed the request"; break;
    }
}

void srv_sched_cancel(srv_job *j, int why)
{
    int expected = 0;
    atomic_compare_exchange_strong(&j->cancelled, &expected, why);
    uv_mutex_lock(&mu);
    if (!j->queued) {
        uv_cond_broadcast(&cv);   /* a run held at the gate re-checks its jobs */
        uv_mutex_unlock(&mu);
        return;   /* running (the step callback sees the flag) or done */
    }
    q_unlink(j->model, j);
    uv_cond_broadcast(&cv);
    uv_mutex_unlock(&mu);
    int status;
    const char *msg;
    cancel_status(atomic_load(&j->cancelled), 0, &status, &msg);
    srv_job_complete(j, status, NULL, msg);
    srv_job_unref(j);
}

void srv_sched_cancel_all(void)
{
    uv_mutex_lock(&mu);
    for (int i = 0; i < srv_repo_count(); i++) {
        srv_model *m = srv_repo_at(i);
        while (m->qhead) {
            srv_job *j = m->qhead;
            q_unlink(m, j);
            int expected = 0;
            atomic_compare_exchange_strong(&j->cancelled, &expected, 3);
            srv_job_complete(j, 503, NULL, "server is shutting down");
            srv_job_unref(j);
        }
    }
    for (int w = 0; w < nworkers; w++)
        for (int k = 0; k < workers[w].ncur; k++) {
            int expected = 0;
            atomic_compare_exchange_strong(&workers[w].cur[k]->cancelled, &expected, 3);
        }
    uv_cond_broadcast(&cv);
    uv_mutex_unlock(&mu);
}

int srv_sched_busy(void)
{
    uv_mutex_lock(&mu);
    int n = nqueued + nrunning;
    uv_mutex_unlock(&mu);
    return n;
}

static int compatible(const srv_job *a, const srv_job *b)
{
    return a->ver == b->ver && !a->run.solo && !b->run.solo &&
           a->run.steps == b->run.steps && a->run.custom == b->run.custom &&
           (!a->run.custom || snn_convert_params_equal(&a->run.params, &b->run.params)) &&
           !memcmp(&a->run.early_exit, &b->run.early_exit, sizeof a->run.early_exit);
}

typedef struct run_ctx {
    srv_job **jobs;
    int *off;
    int n;
    int steps;                    /* of the run: no gate after the last chunk */
} run_ctx;

/* Jobs of the run that still want the answer; those past their deadline
 * are flagged (2) on the way. */
static int run_alive(run_ctx *c, double now)
{
    int alive = 0;
    for (int i = 0; i < c->n; i++) {
        srv_job *j = c->jobs[i];
        if (atomic_load(&j->cancelled)) continue;
        if (now > j->deadline) {
            int expected = 0;
            atomic_compare_exchange_strong(&j->cancelled, &expected, 2);
            continue;
        }
        alive++;
    }
    return alive;
}

/* Should gated work wait? (mu) */
static int gate_closed(void)
{
    return paused && passes == 0 && !stopping;
}

/* Pass one gate (mu): consumes a pass while paused. */
static void gate_pass(void)
{
    if (paused && passes > 0 && --passes == 0)
        srv_log(SRV_LOG_INFO, NULL, "scheduler: resume?chunks used up, paused again");
}

/* Hold a run at a chunk boundary while the gate is closed, until it opens
 * or no job of the run wants the answer any more (deadline, disconnect,
 * shutdown). Returns the jobs still alive. */
static int gate_hold(run_ctx *c)
{
    int alive = run_alive(c, srv_now());
    uv_mutex_lock(&mu);
    if (gate_closed() && alive) {
        nheld++;
        while (gate_closed() && (alive = run_alive(c, srv_now())) > 0) {
            double now = srv_now(), wake = HUGE_VAL;   /* an alive job has a deadline */
            for (int i = 0; i < c->n; i++)
                if (!atomic_load(&c->jobs[i]->cancelled) && c->jobs[i]->deadline < wake)
                    wake = c->jobs[i]->deadline;
            if (wake < now) wake = now;
            uv_cond_timedwait(&cv, &mu, (uint64_t)((wake - now) * 1e9) + 1000);
        }
        nheld--;
    }
    if (alive) gate_pass();
    uv_mutex_unlock(&mu);
    return alive;
}

static int step_cb(void *ud, const snn_result *res, int first, int last)
{
    run_ctx *c = ud;
    int alive = run_alive(c, srv_now());
    for (int i = 0; i < c->n; i++) {
        srv_job *j = c->jobs[i];
        if (!j->sink->step || atomic_load(&j->cancelled)) continue;
        for (int s = first; s < last; s++) j->sink->step(j, res, c->off[i], s);
    }
    if (alive && last < c->steps) alive = gate_hold(c);
    return alive == 0;
}

/* Run-level metrics: batch size, image-steps, spikes, estimated energy. */
static void account(srv_version *v, const srv_net *n, const snn_result *r, int nimg)
{
    const char *name = v->model->name;
    double spikes = 0;
    srv_metrics_observe(SRV_M_BATCH_SIZE, nimg, NULL);
    srv_metrics_add(SRV_M_TIMESTEPS, (double)r->steps * nimg, name, NULL);
    for (int l = 0; l < r->nlayers; l++)
        if (snn_net_layer(n->net, l)->kind == SNN_LAYER_NEURONS) spikes += r->layers[l].spikes;
    srv_metrics_add(SRV_M_SPIKES, spikes, name, NULL);
    const snn_device *d = snn_energy_device_find(srv_cfg.energy_device);
    if (d) {
        snn_energy e;
        snn_energy_snn(n->net, r, nimg, d, &e);
        srv_metrics_add(SRV_M_ENERGY, e.joules * nimg, name, d->name);
    }
}

static void run_batch(worker *w, srv_job **jobs, int njobs, int nimg)
{
    srv_version *v = jobs[0]->ver;
    srv_run *run = &jobs[0]->run;
    snn_error err;
    snn_engine *eng;
    snn_result *res;
    int off[256];
    double now = srv_now();

    snn_error_clear(&err);
    for (int i = 0; i < njobs; i++) {
        uv_mutex_lock(&jobs[i]->mu);
        jobs[i]->state = SRV_JOB_RUNNING;
        jobs[i]->batch_size = nimg;
        uv_mutex_unlock(&jobs[i]->mu);
        jobs[i]->t_run = now;
        srv_metrics_observe(SRV_M_QUEUE_SECONDS, now - jobs[i]->t_enqueue, v->model->name);
    }
    srv_net *net = srv_version_net_acquire(v, run->custom ? &run->params : NULL, &err);
    if (!net) {
        for (int i = 0; i < njobs; i++)
            srv_job_complete(jobs[i], snn_err_http_status(err.code), NULL, err.msg);
        return;
    }
    if (srv_net_worker(v, net, w->id, &eng, &res, &err) != SNN_OK) {
        for (int i = 0; i < njobs; i++)
            srv_job_complete(jobs[i], snn_err_http_status(err.code), NULL, err.msg);
        srv_version_net_release(v, net);
        return;
    }
    size_t insz = snn_model_input_size(v->m);
    const float *input = jobs[0]->input;
    int o = 0;
    for (int i = 0; i < njobs; i++) {
        off[i] = o;
        o += jobs[i]->n;
    }
    if (njobs > 1) {
        size_t need = (size_t)nimg * insz;
        if (need > w->stage_cap) {
            float *p = realloc(w->stage, need * sizeof *p);
            if (!p) {
                for (int i = 0; i < njobs; i++)
                    srv_job_complete(jobs[i], 500, NULL, "out of memory");
                srv_version_net_release(v, net);
                return;
            }
            w->stage = p;
            w->stage_cap = need;
        }
        for (int i = 0; i < njobs; i++)
            memcpy(w->stage + (size_t)off[i] * insz, jobs[i]->input,
                   (size_t)jobs[i]->n * insz * sizeof(float));
        input = w->stage;
    }

    snn_run_opts opts;
    snn_run_opts_init(&opts);
    opts.steps = run->steps;
    opts.chunk = jobs[0]->sink->step ? 1 : (int)srv_cfg.chunk_steps;   /* a step sink: step by step */
    opts.early_exit = run->early_exit;
    opts.stats = 1;
    opts.raster_layer = run->raster_layer;
    opts.raster_neurons = run->raster_layer >= 0 ? run->raster_neurons : 0;
    run_ctx ctx = {jobs, off, njobs, run->steps};
    opts.cb = step_cb;
    opts.cb_ud = &ctx;

    double t0 = srv_now();
    snn_err rc = snn_engine_run(eng, input, nimg, &opts, res, &err);
    double t1 = srv_now();
    if (rc == SNN_OK) account(v, net, res, nimg);
    for (int i = 0; i < njobs; i++) {
        srv_job *j = jobs[i];
        int why = atomic_load(&j->cancelled);
        srv_metrics_observe(SRV_M_COMPUTE_SECONDS, t1 - t0, v->model->name);
        if (why || rc == SNN_ECANCELLED) {
            int status;
            const char *msg;
            cancel_status(why ? why : 2, 1, &status, &msg);
            srv_job_complete(j, status, NULL, msg);
        } else if (rc != SNN_OK) {
            srv_log(SRV_LOG_ERROR, j->id, "engine run failed: %s", err.msg);
            srv_job_complete(j, snn_err_http_status(rc), NULL,
                             err.msg[0] ? err.msg : snn_strerror(rc));
        } else {
            size_t len;
            size_t json_len;
            char *body = j->sink->answer(j, net->net, res, off[i], &len, &json_len);
            if (body) srv_job_complete_n(j, 200, body, len, json_len);
            else srv_job_complete(j, 500, NULL, "out of memory rendering the result");
        }
    }
    srv_version_net_release(v, net);
}

/* Take a queued job out and answer it: cancelled (why) or past its
 * deadline (why 0). mu held. */
static void queue_drop(srv_model *m, srv_job *j, int why)
{
    int status;
    const char *msg;
    q_unlink(m, j);
    cancel_status(why ? why : 2, 0, &status, &msg);
    srv_job_complete(j, status, NULL, msg);
    srv_job_unref(j);
}

/* Answer queued jobs past their deadline or cancelled (mu). Returns the
 * earliest deadline still pending in the queues (or `until`). */
static double queue_sweep(double now, double until)
{
    for (int i = 0; i < srv_repo_count(); i++) {
        srv_model *m = srv_repo_at(i);
        srv_job *j = m ? m->qhead : NULL;
        while (j) {
            srv_job *next = j->next;
            int why = atomic_load(&j->cancelled);
            if (why || now > j->deadline)
                queue_drop(m, j, why);
            else if (j->deadline < until) {
                until = j->deadline;
            }
            j = next;
        }
    }
    return until;
}

static void worker_main(void *arg)
{
    worker *w = arg;
    srv_job *sel[256];
    uv_mutex_lock(&mu);
    while (!stopping) {
        if (gate_closed()) {
            /* Paused: take nothing, but deadlines still answer queued jobs.
             * Woken by submit, cancel, resume and stop. */
            double now = srv_now(), wake = queue_sweep(now, HUGE_VAL);
            if (wake == HUGE_VAL) uv_cond_wait(&cv, &mu);
            else uv_cond_timedwait(&cv, &mu, (uint64_t)((wake - now) * 1e9) + 1000);
            continue;
        }
        srv_model *m = NULL;
        int nm = srv_repo_count();
        for (int k = 0; k < nm && !m; k++) {
            srv_model *c = srv_repo_at((rr + k) % nm);
            if (c && c->qlen > 0) {
                m = c;
                rr = (rr + k + 1) % nm;
            }
        }
        if (!m) {
            uv_cond_wait(&cv, &mu);
            continue;
        }
        srv_job *head = m->qhead;
        double now = srv_now();
        int why = atomic_load(&head->cancelled);
        if (why || now > head->deadline) {
            queue_drop(m, head, why);
            continue;
        }
        int maxb = head->ver->max_batch, nsel = 0, nimg = 0;
        for (srv_job *j = head; j && nsel < 256; j = j->next) {
            if (j != head && !compatible(head, j)) continue;
            if (atomic_load(&j->cancelled) || now > j->deadline) continue;
            if (nimg + j->n > maxb) {
                if (j == head) { sel[nsel++] = j; nimg += j->n; }
                break;
            }
            sel[nsel++] = j;
            nimg += j->n;
            if (head->run.solo) break;
        }
        /* Wait for a fuller batch only while other requests are on their
         * way (headers or body still arriving): a lone client pays no
         * queue delay. */
        double wait = head->t_enqueue + (double)srv_cfg.max_queue_delay_ms / 1e3 - now;
        int arriving = atomic_load(&srv_infer_open) - nqueued - nrunning;
        if (nimg < maxb && !head->run.solo && wait > 0 && m->qlen == nsel && arriving > 0) {
            uv_cond_timedwait(&cv, &mu, (uint64_t)(wait * 1e9) + 1);
            continue;
        }
        for (int i = 0; i < nsel; i++) q_unlink(m, sel[i]);
        gate_pass();   /* the run's first chunk */
        nrunning += nsel;
        w->cur = sel;
        w->ncur = nsel;
        uv_mutex_unlock(&mu);

        run_batch(w, sel, nsel, nimg);

        uv_mutex_lock(&mu);
        w->cur = NULL;
        w->ncur = 0;
        nrunning -= nsel;
        uv_mutex_unlock(&mu);
        for (int i = 0; i < nsel; i++) srv_job_unref(sel[i]);   /* the queue's reference */
        uv_mutex_lock(&mu);
    }
    uv_mutex_unlock(&mu);
}

void srv_sched_pause(void)
{
    uv_mutex_lock(&mu);
    if (!paused) srv_log(SRV_LOG_INFO, NULL, "scheduler paused (POST /v1/admin/pause)");
    paused = 1;
    passes = 0;
    uv_cond_broadcast(&cv);
    uv_mutex_unlock(&mu);
}

void srv_sched_resume(long long chunks)
{
    uv_mutex_lock(&mu);
    if (chunks > 0 && paused) {
        passes += chunks;
        srv_log(SRV_LOG_INFO, NULL, "scheduler: %lld more chunks may start, then paused again", chunks);
    } else if (chunks <= 0) {
        if (paused) srv_log(SRV_LOG_INFO, NULL, "scheduler resumed");
        paused = 0;
        passes = 0;
    }
    uv_cond_broadcast(&cv);
    uv_mutex_unlock(&mu);
}

void srv_sched_state(srv_sched_info *out)
{
    uv_mutex_lock(&mu);
    out->paused = paused;
    out->passes = passes;
    out->held = nheld;
    out->queued = nqueued;
    out->running = nrunning;
    uv_mutex_unlock(&mu);
}

int srv_sched_start(void)
{
    uv_mutex_init(&mu);
    uv_cond_init(&cv);
    nworkers = (int)srv_cfg.workers;
    paused = 0;
    passes = 0;
    nheld = 0;
    threads = calloc((size_t)nworkers, sizeof *threads);
    workers = calloc((size_t)nworkers, sizeof *workers);
    if (!threads || !workers) return -1;
    for (int i = 0; i < nworkers; i++) {
        workers[i].id = i;
        if (uv_thread_create(&threads[i], worker_main, &workers[i]) != 0) {
            nworkers = i;
            return -1;
        }
    }
    return 0;
}

void srv_sched_stop(void)
{
    uv_mutex_lock(&mu);
    stopping = 1;
    uv_cond_broadcast(&cv);
    uv_mutex_unlock(&mu);
    for (int i = 0; i < nworkers; i++) uv_thread_join(&threads[i]);
    srv_sched_cancel_all();
    for (int i = 0; i < nworkers; i++) free(workers[i].stage);
    free(threads);
    free(workers);
    threads = NULL;
    workers = NULL;
    nworkers = 0;
    uv_cond_destroy(&cv);
    uv_mutex_destroy(&mu);
}
