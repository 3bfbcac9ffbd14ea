/* evalcore.c: multi-threaded evaluation used by `snnctl eval` and `sweep`.
 * Each thread owns one engine and one result; OpenBLAS runs single-threaded
 * inside them so threads and BLAS do not fight over the cores. */
#include "evalcore.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "snn/dataset.h"

#define EVAL_BATCH 16

int eval_acc_init(eval_acc *a, const snn_net *net, int n, int steps, int want_dump)
{
    memset(a, 0, sizeof *a);
    a->n = n;
    a->steps = steps;
    a->nlayers = snn_net_nlayers(net);
    a->nclasses = snn_net_nclasses(net);
    a->correct_by_step = calloc((size_t)steps, sizeof(int64_t));
    a->spikes_by_step = calloc((size_t)steps * a->nlayers, sizeof(double));
    a->fired = calloc((size_t)a->nlayers, sizeof(double));
    a->applied = calloc((size_t)a->nlayers, sizeof(double));
    if (want_dump) a->dump = calloc((size_t)steps * n * a->nclasses, sizeof(float));
    if (!a->correct_by_step || !a->spikes_by_step || !a->fired || !a->applied ||
        (want_dump && !a->dump)) {
        eval_acc_deinit(a);
        return -1;
    }
    return 0;
}

void eval_acc_deinit(eval_acc *a)
{
    free(a->correct_by_step);
    free(a->spikes_by_step);
    free(a->fired);
    free(a->applied);
    free(a->dump);
    memset(a, 0, sizeof *a);
}

typedef struct worker {
    pthread_t tid;
    const snn_net *net;
    const float *inputs;
    const uint8_t *labels;
    int n, threads;
    atomic_int *next;           /* the first image no worker has claimed */
    const snn_run_opts *ro;
    eval_acc local;
    eval_acc *global;
    atomic_int *done;
    atomic_int *finished;
    int failed;
    snn_error err;
} worker;

/* The workers claim the images in batches from one counter (a worker on
 * a core that another process slows takes fewer), smaller batches towards
 * the end so that the workers finish together: at most EVAL_BATCH, at
 * least 1, about the remainder / (2 x threads). Each image's result does
 * not depend on the batch it runs in. Returns the batch size, 0 at the end. */
static int claim_batch(atomic_int *next, int n, int threads, int *first)
{
    int cur = atomic_load(next);
    for (;;) {
        if (cur >= n) return 0;
        int b = (n - cur + 2 * threads - 1) / (2 * threads);
        b = b > EVAL_BATCH ? EVAL_BATCH : b < 1 ? 1 : b;
        if (atomic_compare_exchange_weak(next, &cur, cur + b)) {
            *first = cur;
            return b;
        }
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    const snn_net *net = w->net;
    const int steps = w->ro->steps, C = snn_net_nclasses(net), L = snn_net_nlayers(net);
    const size_t isz = snn_net_input_size(net);
    snn_result res;
    snn_engine *e = snn_engine_new(net, EVAL_BATCH, steps, SNN_ENGINE_FAST, &w->err);
    if (!e || snn_result_init(&res, net, EVAL_BATCH, steps, 0)) {
        if (e) snn_error_set(&w->err, SNN_ENOMEM, "out of memory");
        snn_engine_free(e);
        w->failed = 1;
        atomic_fetch_add(w->finished, 1);
        return NULL;
    }
    int i, b;
    while ((b = claim_batch(w->next, w->n, w->threads, &i)) > 0) {
        if (snn_engine_run(e, w->inputs + (size_t)i * isz, b, w->ro, &res, &w->err)) {
            w->failed = 1;
            break;
        }
        for (int k = 0; k < b; k++) {
            int label = w->labels[i + k];
            for (int t = 0; t < steps; t++) {
                /* after an early stop the probabilities are held */
                int tt = t < res.steps ? t : res.steps - 1;
                const float *p = snn_result_probs(&res, tt, k);
                if (snn_argmax(p, C) == label) w->local.correct_by_step[t]++;
                if (w->global->dump)
                    memcpy(w->global->dump + ((size_t)t * w->global->n + i + k) * C, p,
                           sizeof(float) * C);
            }
            w->local.correct += res.pred[k] == label;
            w->local.steps_used += res.stop_step[k];
        }
        for (int l = 0; l < L; l++) {
            for (int t = 0; t < res.steps; t++)
                w->local.spikes_by_step[(size_t)l * steps + t] += res.layers[l].spikes_per_step[t];
            w->local.fired[l] += res.layers[l].fired_neurons;
            w->local.applied[l] += res.layers[l].syn_applied;
        }
        atomic_fetch_add(w->done, b);
    }
    snn_result_deinit(&res);
    snn_engine_free(e);
    atomic_fetch_add(w->finished, 1);
    return NULL;
}

int eval_snn(const snn_net *net, const float *inputs, const uint8_t *labels, int n,
             const snn_run_opts *ro, int threads, int progress, eval_acc *acc)
{
    if (threads < 1) threads = 1;
    if (threads > n) threads = n > 0 ? n : 1;
    worker *ws = calloc((size_t)threads, sizeof *ws);
    atomic_int done = 0, finished = 0, next = 0;
    int rc = 0;
    if (!ws) return -1;
    snn_blas_threads(1);
    double t0 = cli_now();
    for (int k = 0; k < threads; k++) {
        worker *w = &ws[k];
        w->net = net;
        w->inputs = inputs;
        w->labels = labels;
        w->n = n;
        w->threads = threads;
        w->next = &next;
        w->ro = ro;
        w->global = acc;
        w->done = &done;
        w->finished = &finished;
        if (eval_acc_init(&w->local, net, n, ro->steps, 0) ||
            pthread_create(&w->tid, NULL, worker_main, w)) {
            cli_errorf("cannot start worker %d", k);
            w->failed = 2;
            atomic_fetch_add(&finished, 1);
            rc = -1;
        }
    }
    int tty = progress && isatty(2);
    while (tty) {
        int d = atomic_load(&done), fin = atomic_load(&finished);
        int width = 40, fill = n ? (int)((int64_t)d * width / n) : width;
        fprintf(stderr, "\r  [%.*s%*s] %d/%d images", fill,
                "########################################", width - fill, "", d, n);
        if (fin >= threads) break;
        usleep(200000);
    }
    for (int k = 0; k < threads; k++)
        if (ws[k].failed != 2) pthread_join(ws[k].tid, NULL);
    if (tty) fputc('\n', stderr);
    acc->seconds = cli_now() - t0;
    for (int k = 0; k < threads; k++) {
        worker *w = &ws[k];
        if (w->failed == 1) {
            cli_errorf("simulation failed: %s", w->err.msg);
            rc = -1;
        }
        if (w->failed != 2) {
            for (int t = 0; t < acc->steps; t++) acc->correct_by_step[t] += w->local.correct_by_step[t];
            for (int i = 0; i < acc->steps * acc->nlayers; i++)
                acc->spikes_by_step[i] += w->local.spikes_by_step[i];
            for (int l = 0; l < acc->nlayers; l++) {
                acc->fired[l] += w->local.fired[l];
                acc->applied[l] += w->local.applied[l];
            }
            acc->correct += w->local.correct;
            acc->steps_used += w->local.steps_used;
        }
        eval_acc_deinit(&w->local);
    }
    free(ws);
    return rc;
}

typedef struct ann_worker {
    pthread_t tid;
    const snn_model *m;
    const float *inputs;
    const uint8_t *labels;
    int lo, hi;
    int64_t correct;
    int failed;
    snn_error err;
} ann_worker;

static void *ann_main(void *arg)
{
    ann_worker *w = arg;
    const snn_graph *g = w->m->graph;
    const size_t isz = snn_model_input_size(w->m);
    const int C = (int)snn_tensor_item_elems(&g->tensors[g->output]);
    float *out = malloc(sizeof(float) * (size_t)C * 64);
    snn_graph_ws *ws = snn_graph_ws_new(); /* memory kept from batch to batch */
    if (!out || !ws) {
        free(out);
        snn_graph_ws_free(ws);
        w->failed = 1;
        return NULL;
    }
    for (int i = w->lo; i < w->hi; i += 64) {
        int b = w->hi - i < 64 ? w->hi - i : 64;
        if (snn_graph_run_ws(g, ws, w->inputs + (size_t)i * isz, b, out, NULL, NULL, &w->err)) {
            w->failed = 1;
            break;
        }
        for (int k = 0; k < b; k++) w->correct += snn_argmax(out + (size_t)k * C, C) == w->labels[i + k];
    }
    free(out);
    snn_graph_ws_free(ws);
    return NULL;
}

double eval_ann(const snn_model *m, const float *inputs, const uint8_t *labels, int n, int threads,
                double *seconds)
{
    if (threads < 1) threads = 1;
    if (threads > n) threads = n > 0 ? n : 1;
    ann_worker ws[64];
    if (threads > 64) threads = 64;
    memset(ws, 0, sizeof ws);
    snn_blas_threads(1);
    double t0 = cli_now();
    for (int k = 0; k < threads; k++) {
        ws[k].m = m;
        ws[k].inputs = inputs;
        ws[k].labels = labels;
        ws[k].lo = (int)((int64_t)n * k / threads);
        ws[k].hi = (int)((int64_t)n * (k + 1) / threads);
        if (pthread_create(&ws[k].tid, NULL, ann_main, &ws[k])) ws[k].failed = 2;
    }
    int64_t correct = 0;
    int failed = 0;
    for (int k = 0; k < threads; k++) {
        if (ws[k].failed != 2) pthread_join(ws[k].tid, NULL);
        if (ws[k].failed) {
            cli_errorf("ANN pass failed: %s", ws[k].failed == 2 ? "cannot start thread" : ws[k].err.msg);
            failed = 1;
        }
        correct += ws[k].correct;
    }
    if (seconds) *seconds = cli_now() - t0;
    return failed ? -1 : (n ? (double)correct / n : 0);
}

double eval_spikes_per_image(const eval_acc *a, int layer, int steps)
{
    double s = 0;
    for (int t = 0; t < steps && t < a->steps; t++) s += a->spikes_by_step[(size_t)layer * a->steps + t];
    return a->n ? s / a->n : 0;
}

void eval_energy(const snn_net *net, const eval_acc *a, int steps, const snn_device *d,
                 snn_energy *out)
{
    snn_result r;
    snn_layer_stats ls[256];
    memset(&r, 0, sizeof r);
    r.steps = steps;
    r.nlayers = a->nlayers < 256 ? a->nlayers : 256;
    r.layers = ls;
    for (int l = 0; l < r.nlayers; l++) {
        const snn_layer_info *inf = snn_net_layer(net, l);
        memset(&ls[l], 0, sizeof ls[l]);
        double spikes = eval_spikes_per_image(a, l, steps) * a->n;
        ls[l].spikes = spikes;
        ls[l].syn_events = inf->neurons ? spikes * (double)inf->fanout_total / (double)inf->neurons : 0;
    }
    snn_energy_snn(net, &r, a->n, d, out);
}

void eval_point_fill(eval_point *pt, const snn_net *net, const eval_acc *a, int T, int early)
{
    const int n = a->n > 0 ? a->n : 1;
    pt->steps = T;
    pt->early = early;
    pt->accuracy = early ? (double)a->correct / n : (double)a->correct_by_step[T - 1] / n;
    pt->mean_steps = early ? a->steps_used / n : T;
    pt->spikes = 0;
    for (int l = 0; l < a->nlayers; l++) pt->spikes += eval_spikes_per_image(a, l, T);
    pt->images_per_second = a->seconds > 0 ? a->n / a->seconds : 0;
    pt->ndevices = snn_energy_ndevices() < EVAL_MAX_DEVICES ? snn_energy_ndevices() : EVAL_MAX_DEVICES;
    for (int i = 0; i < pt->ndevices; i++) {
        const snn_device *d = snn_energy_device(i);
        snn_energy es, ea;
        eval_energy(net, a, T, d, &es);
        if (early) {
            /* per-step terms are paid only until each image's stop */
            double f = pt->mean_steps / T;
            es.neuron_updates *= f;
            if (!d->spiking) es.synops *= f;
            es.joules = es.synops * d->j_per_synop + es.neuron_updates * d->j_per_neuron;
        }
        snn_energy_ann(net, d, &ea);
        pt->snn_j[i] = es.joules;
        pt->ann_j[i] = ea.joules;
        if (!strcmp(d->name, "loihi")) {
            pt->loihi_j = es.joules;
            pt->ann_loihi_j = ea.joules;
        }
    }
}

void eval_pareto(eval_point *pts, int n)
{
    for (int i = 0; i < n; i++) {
        const eval_point *p = &pts[i];
        pts[i].pareto = 1;
        for (int k = 0; k < n && pts[i].pareto; k++) {
            const eval_point *q = &pts[k];
            if (k == i) continue;
            int no_worse = q->accuracy >= p->accuracy && q->mean_steps <= p->mean_steps && q->loihi_j <= p->loihi_j;
            int better = q->accuracy > p->accuracy || q->mean_steps < p->mean_steps || q->loihi_j < p->loihi_j;
            if (no_worse && better) pts[i].pareto = 0;
        }
    }
}

int eval_data_load(const snn_model *m, const char *spec, const char *split, int offset, int limit,
                   float input_scale, eval_data *d)
{
    snn_error err = {0};
    d->ds = snn_dataset_open(spec, split, offset, limit, &err);
    if (!d->ds) {
        cli_errorf("%s", err.msg);
        return -1;
    }
    /* A dataset of another task would score as if the network were wrong:
     * labels beyond the model's classes, or (for datasets whose classes have
     * names, not folders, which are labelled by order) no class name in
     * common with a model whose classes are named. */
    int named_model = 0, common = 0;
    for (int c = 0; c < m->cfg.nclasses; c++) {
        char idx[16];
        snprintf(idx, sizeof idx, "%d", c);
        named_model |= strcmp(m->cfg.classes[c], idx) != 0;
        for (int k = 0; d->ds->class_names && k < d->ds->nclasses; k++)
            common |= d->ds->class_names[k] && !strcmp(d->ds->class_names[k], m->cfg.classes[c]);
    }
    int by_name = strncmp(spec, "folder:", 7) && d->ds->class_names && named_model;
    if (d->ds->nclasses > m->cfg.nclasses || (by_name && !common)) {
        cli_errorf("%s does not fit %s: %d classes of %dx%dx%d images (%s, ...), the model takes %d classes "
                   "(%s, ...) of %dx%dx%d", spec, m->cfg.name, d->ds->nclasses, d->ds->width, d->ds->height,
                   d->ds->channels, d->ds->class_names && d->ds->class_names[0] ? d->ds->class_names[0] : "?",
                   m->cfg.nclasses, m->cfg.classes[0], m->cfg.in_w, m->cfg.in_h, m->cfg.in_c);
        return -1;
    }
    size_t isz = snn_model_input_size(m);
    d->inputs = malloc(sizeof(float) * isz * (size_t)(d->ds->n ? d->ds->n : 1));
    if (!d->inputs) {
        cli_errorf("out of memory for %d images", d->ds->n);
        return -1;
    }
    for (int i = 0; i < d->ds->n; i++)
        if (snn_model_preprocess(m, snn_dataset_image(d->ds, i), d->ds->width, d->ds->height,
                                 d->ds->channels, input_scale, d->inputs + (size_t)i * isz, &err)) {
            cli_errorf("image %d: %s", i, err.msg);
            return -1;
        }
    return 0;
}

void eval_data_free(eval_data *d)
{
    snn_dataset_free(d->ds);
    free(d->inputs);
}

