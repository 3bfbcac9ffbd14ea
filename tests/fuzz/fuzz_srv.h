/* fuzz_srv.h: what the daemon's parsers need outside a running server, for
 * the targets that link the server objects without main.c: the globals main.c
 * defines, srv_cfg with its defaults (config.c's table), and one served
 * version of models/fashion-mnist (a model that allows every override)
 * with its default network, so that request bodies and options are checked
 * against a real model exactly as the handlers do it. */
#ifndef SNN_FUZZ_SRV_H
#define SNN_FUZZ_SRV_H

#include "fuzz_common.h"
#include "server.h"

atomic_int srv_draining;
atomic_int srv_started;
atomic_int srv_inflight;
int srv_is_ready(void) { return 0; }

static srv_model fz_model;
static srv_version fz_ver;
static srv_net fz_def;

/* Defaults of every option, quiet logs, small image limits, the model. */
static void fz_srv_init(void)
{
    char *argv[] = {"snnd", "--log-level", "error", NULL};
    snn_error err;
    if (srv_config_init(3, argv) != 0) abort();
    srv_log_set_level(SRV_LOG_ERROR);
    srv_cfg.max_image_side = 128;           /* keep decoding and resizing cheap */
    srv_cfg.max_image_pixels = 128 * 128;
    srv_metrics_init();
    snprintf(fz_model.name, sizeof fz_model.name, "fashion-mnist");
    uv_mutex_init(&fz_model.mu);
    atomic_init(&fz_ver.refs, 1);           /* never released: static */
    fz_ver.model = &fz_model;
    fz_ver.version = 1;
    fz_ver.m = snn_model_load(fz_path("models/fashion-mnist"), &err);
    if (!fz_ver.m) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    fz_def.net = snn_net_new(fz_ver.m, &fz_ver.m->cfg.convert, &err);
    if (!fz_def.net) {
        fprintf(stderr, "fuzz: %s\n", err.msg);
        abort();
    }
    fz_ver.def = &fz_def;
    fz_ver.max_steps = 1000;
    fz_ver.max_batch = 8;
    uv_mutex_init(&fz_ver.mu);
    fz_model.cur = &fz_ver;
}

/* A job on the static version, as api.c's infer() makes one. */
static srv_job *fz_job(void)
{
    atomic_fetch_add(&fz_ver.refs, 1);
    srv_job *j = srv_job_new("fuzz", &fz_model, &fz_ver);
    if (!j) abort();
    return j;
}

/* After a body parsed: inputs must be sized as claimed. */
static void fz_check_job(srv_job *j)
{
    if (j->n < 1 || j->n > fz_ver.max_batch || !j->input) abort();
    size_t n = (size_t)j->n * snn_model_input_size(fz_ver.m);
    float s = 0;
    for (size_t i = 0; i < n; i++) s += j->input[i];
    __asm__ volatile("" : : "r"(s));
}

#endif
