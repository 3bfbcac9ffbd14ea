/* main.c: snnd's process lifecycle.
 *
 * DESIGN: the main thread owns a libuv loop that does only control work:
 * signal handlers, a 250 ms timer (expires /v1/jobs entries, cuts slow or
 * idle connections), and model loading handed to libuv's thread pool
 * (uv_queue_work) so that signals stay responsive while a model converts.
 * Startup order: options, metrics, repository scan, workers, HTTP listener
 * (liveness answers at once, readiness says 503 until the first load
 * finishes and then whenever the default model is not loaded), then the
 * load. SIGHUP re-reads reloadable
 * options and reloads models whose files changed (a failure keeps the old
 * version). SIGTERM/SIGINT drain: readiness turns 503 and new inference is
 * refused with 503 at once, queued and running work finishes until the
 * drain timeout, what is left is cancelled (503), then the listener,
 * workers and models are torn down and the process exits 0. A second
 * signal during the drain ends it immediately.
 */
#include "server.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

atomic_int srv_draining;
atomic_int srv_started;

static uv_loop_t *loop;
static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t reap_timer, drain_timer;   /* reap: jobs + connection watchdog */
static uv_work_t load_work;
static int load_running, reload_pending, load_is_startup;
static double drain_deadline;
static int stopping;

int srv_is_ready(void)
{
    if (!atomic_load(&srv_started) || atomic_load(&srv_draining)) return 0;
    /* what /classify serves: a pod whose default model was unloaded would
     * answer all of it 404, so it is not ready */
    if (srv_cfg.default_model[0]) return srv_repo_servable(srv_cfg.default_model);
    return srv_repo_ready_count() > 0;
}

static void load_cb(uv_work_t *w)
{
    if (!load_is_startup) srv_config_reload();
    int ok = srv_repo_load_all(load_is_startup);
    srv_log(SRV_LOG_INFO, NULL, "%s: %d of %d models serving", load_is_startup ? "startup" : "reload",
            ok, srv_repo_count());
    (void)w;
}

static void start_load(int startup);

static void load_done(uv_work_t *w, int status)
{
    (void)w;
    (void)status;
    load_running = 0;
    if (load_is_startup) {
        atomic_store(&srv_started, 1);
        srv_log(SRV_LOG_INFO, NULL, "%s", srv_is_ready() ? "ready" : "not ready: the default model is not loaded");
        if (srv_cfg.default_model[0] && !srv_repo_find(srv_cfg.default_model))
            srv_log(SRV_LOG_WARN, NULL, "default model '%s' is not in %s: POST /classify answers 404",
                    srv_cfg.default_model, srv_cfg.models);
    }
    if (reload_pending && !stopping) {
        reload_pending = 0;
        start_load(0);
    }
}

static void start_load(int startup)
{
    if (load_running) {
        reload_pending = 1;
        return;
    }
    load_running = 1;
    load_is_startup = startup;
    if (uv_queue_work(loop, &load_work, load_cb, load_done) != 0) {
        load_running = 0;
        srv_log(SRV_LOG_ERROR, NULL, "cannot start the model loader");
    }
}

static void close_all(void)
{
    stopping = 1;
    uv_signal_stop(&sig_term);
    uv_signal_stop(&sig_int);
    uv_signal_stop(&sig_hup);
    uv_timer_stop(&reap_timer);
    uv_timer_stop(&drain_timer);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_hup, NULL);
    uv_close((uv_handle_t *)&reap_timer, NULL);
    uv_close((uv_handle_t *)&drain_timer, NULL);
}

/* Drain in two phases: until nothing is queued, running or being answered
 * (or the drain timeout), then with the listener closed a short grace for
 * requests already on open connections; then the loop ends. */
static void drain_tick(uv_timer_t *t)
{
    static int quiesced;
    static double grace_end;
    int busy = srv_sched_busy(), active = srv_http_active();
    (void)t;
    if (!quiesced) {
        if ((busy || active) && srv_now() < drain_deadline) return;
        if (busy || active)
            srv_log(SRV_LOG_WARN, NULL, "drain timeout: cancelling %d jobs (%d requests open)", busy,
                    active);
        else
            srv_log(SRV_LOG_INFO, NULL, "drained");
        srv_sched_cancel_all();
        srv_http_quiesce();
        quiesced = 1;
        grace_end = srv_now() + 1.0;
    }
    /* a connection accepted just before the quiesce may still be sending
     * its request (not yet active): it is answered (503, close) before
     * the loop ends, within the grace */
    if ((srv_http_active() || srv_http_connections()) && srv_now() < grace_end && drain_deadline > 0)
        return;
    close_all();
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)h;
    if (signum == SIGHUP) {
        srv_log(SRV_LOG_INFO, NULL, "SIGHUP: reloading configuration and models");
        start_load(0);
        return;
    }
    if (atomic_load(&srv_draining)) {
        srv_log(SRV_LOG_WARN, NULL, "second %s: stopping now", strsignal(signum));
        drain_deadline = 0;
        drain_tick(&drain_timer);
        return;
    }
    atomic_store(&srv_draining, 1);
    drain_deadline = srv_now() + (double)srv_cfg.drain_timeout_ms / 1e3;
    srv_log(SRV_LOG_INFO, NULL, "%s: draining (readiness 503, up to %lld ms for in-flight work)",
            strsignal(signum), (long long)srv_cfg.drain_timeout_ms);
    uv_timer_start(&drain_timer, drain_tick, 0, 20);
}

static void reap_tick(uv_timer_t *t)
{
    (void)t;
    srv_jobs_reap();
    srv_http_watchdog();
}

int main(int argc, char **argv)
{
    snn_blas_core_fix(argv); /* first: it may re-run the program */
    signal(SIGPIPE, SIG_IGN);
    /* Buffers of 1 MiB and more (decoded images, bodies, big JSON arrays)
     * are mmapped and go back to the system when freed. Without a fixed
     * threshold glibc raises it after each such free (up to 32 MiB), and
     * every connection thread's arena then keeps its last image: peak
     * memory would grow with connections, not with decode-concurrency. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    int rc = srv_config_init(argc, argv);
    if (rc != 0) return rc > 0 ? 0 : 2;
    if (srv_cfg.workers == 0) {
        unsigned n = uv_available_parallelism();
        srv_cfg.workers = n ? n : 1;
    }
    if (srv_cfg.engine_threads == 0) {
        unsigned n = uv_available_parallelism();
        srv_cfg.engine_threads = n < 1 ? 1 : n > 16 ? 16 : n;
    }
    /* the worker pool already uses the cores: BLAS stays single-threaded
     * inside each worker (no oversubscription, no spinning BLAS threads) */
    snn_blas_threads(srv_cfg.workers > 1 ? 1 : (int)uv_available_parallelism());
    srv_metrics_init();
    srv_repo_init();
    if (srv_sched_start() != 0) {
        srv_log(SRV_LOG_ERROR, NULL, "cannot start %lld workers", (long long)srv_cfg.workers);
        return 1;
    }
    if (srv_http_start() != 0) {
        srv_sched_stop();
        return 1;
    }
    srv_log(SRV_LOG_INFO, NULL,
            "snnd %s listening on %s:%u (models %s, default %s, %lld workers, max-batch %lld, "
            "queue-size %lld; kernels: %s)",
            SRV_VERSION, srv_cfg.host, (unsigned)srv_http_port(), srv_cfg.models,
            srv_cfg.default_model, (long long)srv_cfg.workers, (long long)srv_cfg.max_batch,
            (long long)srv_cfg.queue_size, snn_kernels_describe());
    if (srv_http_admin_off())
        srv_log(SRV_LOG_WARN, NULL,
                "admin endpoints disabled (403): listening on %s, beyond loopback, without an "
                "admin-token; set admin-token or SNND_ADMIN_TOKEN to enable model load/unload",
                srv_cfg.host);
    else if (srv_http_admin_open())
        srv_log(SRV_LOG_INFO, NULL, "admin endpoints open without a token (loopback listener only)");
    else
        srv_log(SRV_LOG_INFO, NULL, "admin endpoints need Authorization: Bearer <admin-token>");

    loop = uv_default_loop();
    uv_signal_init(loop, &sig_term);
    uv_signal_init(loop, &sig_int);
    uv_signal_init(loop, &sig_hup);
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_start(&sig_hup, on_signal, SIGHUP);
    uv_timer_init(loop, &reap_timer);
    uv_timer_init(loop, &drain_timer);
    uv_timer_start(&reap_timer, reap_tick, 250, 250);
    start_load(1);

    uv_run(loop, UV_RUN_DEFAULT);

    srv_http_stop();
    srv_sched_stop();
    srv_jobs_deinit();
    srv_repo_deinit();
    uv_loop_close(loop);
    srv_log(SRV_LOG_INFO, NULL, "exit");
    srv_metrics_deinit();
    srv_config_deinit();
    return 0;
}
