/* cmd_eval.c: `snnctl eval` (accuracy, spikes, energy, throughput of one
 * conversion over a dataset) and `snnctl sweep` (the same over a grid of
 * step counts, firing-rate scales, synapses and early-exit rules; one
 * simulation per grid point serves every shorter step count). */
#include <jansson.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evalcore.h"
#include "snn/dataset.h"
#include "snn/energy.h"
#include "snn/engine.h"
#include "snn/params.h"

static const char *EVAL_USAGE =
    "usage: snnctl eval MODEL --dataset cifar10:DIR|fashion-mnist:DIR|folder:DIR\n"
    "         [--split test|train] [--offset N] [--limit N] [--mean-last K]\n"
    "         [RUN OPTIONS] [--threads N] [--no-ann] [--dump FILE.npy] [--json]\n"
    "         [--kernels adaptive|dense|gather|scatter]   (benchmarking)\n";

static json_t *layers_json(const snn_net *net, const eval_acc *a, int steps)
{
    json_t *arr = json_array();
    double dt = snn_net_params(net)->dt;
    for (int l = 1; l < snn_net_nlayers(net); l++) {
        const snn_layer_info *inf = snn_net_layer(net, l);
        if (inf->kind != SNN_LAYER_NEURONS) continue;
        double sp = eval_spikes_per_image(a, l, steps);
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(inf->name));
        json_object_set_new(o, "neurons", json_integer(inf->neurons));
        json_object_set_new(o, "reads", json_string(inf->inputs));
        json_object_set_new(o, "spikes_per_image", json_real(sp));
        json_object_set_new(o, "rate_hz", json_real(inf->neurons ? sp / (inf->neurons * steps * dt) : 0));
        json_object_set_new(o, "fired_fraction",
                            json_real(a->n && inf->neurons ? a->fired[l] / ((double)a->n * inf->neurons) : 0));
        json_object_set_new(o, "syn_events_per_image",
                            json_real(inf->neurons ? sp * (double)inf->fanout_total / inf->neurons : 0));
        json_object_set_new(o, "applied_events_per_image", json_real(a->n ? a->applied[l] / a->n : 0));
        json_array_append_new(arr, o);
    }
    return arr;
}

/* Energy per image on every device, SNN beside ANN; with early exit the
 * per-step terms are paid until each image's stop (eval_point_fill). */
static json_t *energy_json(const snn_net *net, const eval_acc *a, int steps, int early)
{
    json_t *o = json_object();
    eval_point pt;
    eval_point_fill(&pt, net, a, steps, early);
    for (int i = 0; i < pt.ndevices; i++) {
        const snn_device *d = snn_energy_device(i);
        snn_energy es, ea;
        eval_energy(net, a, steps, d, &es);
        snn_energy_ann(net, d, &ea);
        json_t *dv = json_object();
        json_object_set_new(dv, "spiking_device", json_boolean(d->spiking));
        json_object_set_new(dv, "snn_joules", json_real(pt.snn_j[i]));
        json_object_set_new(dv, "ann_joules", json_real(ea.joules));
        json_object_set_new(dv, "snn_synops", json_real(early && !d->spiking ? es.synops * pt.mean_steps / steps
                                                                              : es.synops));
        json_object_set_new(dv, "ann_synops", json_real(ea.synops));
        json_object_set_new(o, d->name, dv);
    }
    return o;
}

int cmd_eval(int argc, char **argv)
{
    cli_opts o;
    cli_opts_init(&o);
    const char *model = NULL, *spec = NULL, *split = "test", *dump = NULL;
    int limit = 0, offset = 0, json = 0, no_ann = 0, mean_k = 0;
    for (int i = 1; i < argc; i++) {
        int r = cli_opts_flag(&o, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-ann")) no_ann = 1;
        else if (cli_is_help(a)) {
            fputs(EVAL_USAGE, stdout);
            cli_print_run_options(stdout);
            return 0;
        } else if (i + 1 < argc && !strcmp(a, "--dataset")) spec = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--split")) split = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--dump")) dump = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--limit")) limit = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(a, "--offset")) offset = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(a, "--mean-last")) mean_k = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(a, "--kernels")) {
            const char *k = argv[++i];
            if (!strcmp(k, "adaptive")) snn_kernels_set(SNN_KERNELS_ADAPTIVE);
            else if (!strcmp(k, "dense")) snn_kernels_set(SNN_KERNELS_DENSE);
            else if (!strcmp(k, "scatter")) snn_kernels_set(SNN_KERNELS_SCATTER);
            else if (!strcmp(k, "gather")) snn_kernels_set(SNN_KERNELS_GATHER);
            else {
                cli_errorf("--kernels: '%s' is not adaptive, dense, gather or scatter", k);
                return 2;
            }
        }
        else if (a[0] != '-' && !model) model = a;
        else {
            cli_errorf("eval: unexpected argument '%s'", a);
            fputs(EVAL_USAGE, stderr);
            return 2;
        }
    }
    if (!model || !spec) {
        fputs(EVAL_USAGE, stderr);
        return 2;
    }
    if (limit < 0 || offset < 0 || mean_k < 0) {
        cli_errorf("--limit, --offset and --mean-last must not be negative");
        return 2;
    }
    snn_convert_params p;
    int steps;
    snn_model *m = cli_model_load(model, &o, &p, &steps);
    if (!m) return 1;
    eval_data d = {0};
    int rc = 1;
    snn_net *net = NULL;
    eval_acc acc = {0};
    if (eval_data_load(m, spec, split, offset, limit, o.input_scale, &d)) goto out;
    if (d.ds->n == 0) {
        cli_errorf("no images selected");
        goto out;
    }
    snn_error err = {0};
    net = snn_net_new(m, &p, &err);
    if (!net) {
        cli_errorf("%s", err.msg);
        goto out;
    }
    double ann = -1, ann_s = 0;
    if (!no_ann) {
        ann = eval_ann(m, d.inputs, d.ds->labels, d.ds->n, o.threads, &ann_s);
        if (ann < 0) goto out;
    }
    snn_run_opts ro;
    snn_run_opts_init(&ro);
    ro.steps = steps;
    ro.mean_last_k = mean_k;
    /* the model's early exit unless --early-exit says otherwise */
    ro.early_exit = o.have_ee ? o.ee : m->cfg.early_exit;
    const int early = ro.early_exit.patience > 0;
    if (eval_acc_init(&acc, net, d.ds->n, steps, dump != NULL)) {
        cli_errorf("out of memory");
        goto out;
    }
    if (!json) {
        char pbuf[1024];
        snn_convert_params_format(&p, pbuf, sizeof pbuf);
        fprintf(stderr, "snnctl: evaluating %s on %d images, %d steps (%s)\n", m->cfg.name,
                d.ds->n, steps, pbuf);
    }
    if (eval_snn(net, d.inputs, d.ds->labels, d.ds->n, &ro, o.threads, 1, &acc)) goto out;
    if (dump) {
        int64_t dims[3] = {steps, d.ds->n, acc.nclasses};
        if (cli_write_npy(dump, acc.dump, 3, dims)) goto out;
    }
    const int n = d.ds->n;
    double snn_acc = (double)acc.correct / n;
    double ips = acc.seconds > 0 ? n / acc.seconds : 0;
    double spikes = 0;
    for (int l = 0; l < acc.nlayers; l++) spikes += eval_spikes_per_image(&acc, l, steps);
    double mean_steps = acc.steps_used / n;
    char pbuf[1024];
    snn_convert_params_format(&p, pbuf, sizeof pbuf);
    if (json) {
        json_t *root = json_object();
        json_object_set_new(root, "model", json_string(m->cfg.name));
        json_object_set_new(root, "dataset", json_string(spec));
        json_object_set_new(root, "split", json_string(split));
        json_object_set_new(root, "n", json_integer(n));
        json_object_set_new(root, "steps", json_integer(steps));
        json_object_set_new(root, "dt", json_real(p.dt));
        json_object_set_new(root, "conversion", json_string(pbuf));
        json_t *notes = json_array();
        for (int i = 0; i < snn_net_nnotes(net); i++)
            json_array_append_new(notes, json_string(snn_net_note(net, i)));
        json_object_set_new(root, "notes", notes);
        json_object_set_new(root, "ann_accuracy", ann >= 0 ? json_real(ann) : json_null());
        json_object_set_new(root, "snn_accuracy", json_real(snn_acc));
        json_t *abs = json_array();
        for (int t = 0; t < steps; t++) json_array_append_new(abs, json_real((double)acc.correct_by_step[t] / n));
        json_object_set_new(root, "accuracy_by_step", abs);
        json_object_set_new(root, "mean_steps", json_real(mean_steps));
        if (early) {
            json_t *ee = json_object();
            json_object_set_new(ee, "patience", json_integer(ro.early_exit.patience));
            json_object_set_new(ee, "min_prob", json_real(ro.early_exit.min_prob));
            json_object_set_new(ee, "min_margin", json_real(ro.early_exit.min_margin));
            json_object_set_new(root, "early_exit", ee);
        }
        json_object_set_new(root, "spikes_per_image", json_real(spikes));
        double applied = 0; /* every layer's, the readout's inputs included */
        for (int l = 0; l < acc.nlayers; l++) applied += acc.applied[l];
        json_object_set_new(root, "applied_events_per_image", json_real(n ? applied / n : 0));
        json_object_set_new(root, "layers", layers_json(net, &acc, steps));
        json_object_set_new(root, "energy", energy_json(net, &acc, steps, early));
        json_object_set_new(root, "images_per_second", json_real(ips));
        json_object_set_new(root, "kernels", json_string(snn_kernels_describe()));
        json_object_set_new(root, "ann_images_per_second",
                            ann >= 0 && ann_s > 0 ? json_real(n / ann_s) : json_null());
        json_object_set_new(root, "threads", json_integer(o.threads));
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        json_object_set_new(root, "peak_rss_bytes", json_integer((json_int_t)ru.ru_maxrss * 1024));
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        puts(s);
        free(s);
        json_decref(root);
    } else {
        printf("model           %s (%s)\n", m->cfg.name, m->path);
        printf("conversion      %s\n", pbuf);
        for (int i = 0; i < snn_net_nnotes(net); i++)
            printf("note            %s\n", snn_net_note(net, i));
        printf("images          %d (%s, %s split)\n", n, spec, split);
        if (ann >= 0) printf("ANN accuracy    %.2f%%\n", 100 * ann);
        printf("SNN accuracy    %.2f%% after %d steps", 100 * snn_acc, steps);
        if (early) printf(" (early exit: mean %.2f steps)", mean_steps);
        printf("\naccuracy by step:");
        for (int t = 0; t < steps; t++) {
            if (t % 10 == 0) printf("\n  %4d:", t + 1);
            printf(" %5.1f", 100.0 * acc.correct_by_step[t] / n);
        }
        printf("\nspikes per image %.0f\n", spikes);
        printf("  %-16s %9s %12s %9s %8s\n", "layer", "neurons", "spikes/img", "rate Hz", "fired");
        double dt = p.dt;
        for (int l = 1; l < acc.nlayers; l++) {
            const snn_layer_info *inf = snn_net_layer(net, l);
            if (inf->kind != SNN_LAYER_NEURONS) continue;
            double sp = eval_spikes_per_image(&acc, l, steps);
            printf("  %-16s %9lld %12.0f %9.2f %7.1f%%\n", inf->name, (long long)inf->neurons, sp,
                   sp / (inf->neurons * steps * dt), 100 * acc.fired[l] / ((double)n * inf->neurons));
        }
        printf("energy per image (J)   %12s %12s\n", "SNN", "ANN");
        eval_point pt;
        eval_point_fill(&pt, net, &acc, steps, early);
        for (int i = 0; i < pt.ndevices; i++)
            printf("  %-20s %12.4g %12.4g\n", snn_energy_device(i)->name, pt.snn_j[i], pt.ann_j[i]);
        printf("throughput      %.1f images/s SNN (%d threads; %s)", ips, o.threads,
               snn_kernels_describe());
        if (ann >= 0 && ann_s > 0) printf(", %.1f images/s ANN", n / ann_s);
        printf("\n");
    }
    rc = 0;
out:
    eval_acc_deinit(&acc);
    snn_net_free(net);
    eval_data_free(&d);
    snn_model_free(m);
    return rc;
}

/* ---- sweep ---- */

static const char *SWEEP_USAGE =
    "usage: snnctl sweep MODEL --dataset SPEC [--split test] [--offset N] [--limit N]\n"
    "         [--steps 10,20,30,50,100] [--neuron spiking-relu,if] [--scale-firing-rates 5,20,50]\n"
    "         [--synapse none,0.005] [--v0 zero,half] [--bias-correction off,on [--bias-correct]]\n"
    "         [--early-exit K[:P],...] [other run options as for eval] [--threads N] [--json]\n"
    "  One simulation per combination of the lists serves every step count. Each row: accuracy,\n"
    "  mean steps (early exit), spikes and energy per image on every device of the energy table\n"
    "  (beside the ANN's, printed once), and '*' on the frontier: no other row is at least as\n"
    "  accurate with no more mean steps and no more loihi energy. bias_correction on uses the\n"
    "  model's stored table, or with --bias-correct one measured per combination at the largest\n"
    "  step count on --calibrate's images (first --bias-images N, 256).\n";

/* The sweep's list axes: conversion options given as comma lists. */
enum { AX_NEURON, AX_SCALE, AX_SYNAPSE, AX_V0, AX_BIAS, NAXES };
static const char *const axis_names[NAXES] = {"neuron", "scale_firing_rates", "synapse", "v0", "bias_correction"};
#define SWEEP_MAX_LIST 32
#define SWEEP_MAX_ROWS 4096

typedef struct sweep_row {
    eval_point pt;
    int idx[NAXES];             /* value of each axis (-1: not swept) */
    snn_early_exit ee;
    char conversion[1024];
} sweep_row;

static void print_row(const sweep_row *r, char vals[NAXES][SWEEP_MAX_LIST][64], const int *given)
{
    const eval_point *p = &r->pt;
    printf("%s", p->pareto ? "*" : " ");
    for (int a = 0; a < NAXES; a++)
        if (given[a]) printf(" %12s", vals[a][r->idx[a]]);
    char ee[32] = "-";
    if (r->ee.patience) snprintf(ee, sizeof ee, "%d:%g", r->ee.patience, r->ee.min_prob);
    printf(" %5d %7s %7.2f %8.2f %11.0f", p->steps, ee, 100 * p->accuracy, p->mean_steps, p->spikes);
    for (int i = 0; i < p->ndevices; i++) printf(" %11.4g", p->snn_j[i]);
    printf(" %8.1f\n", p->images_per_second);
}

static json_t *row_json(const sweep_row *r, char vals[NAXES][SWEEP_MAX_LIST][64], const int *given,
                        const snn_convert_params *p)
{
    const eval_point *pt = &r->pt;
    json_t *row = json_object();
    for (int a = 0; a < NAXES; a++)
        json_object_set_new(row, axis_names[a], json_string(given[a] ? vals[a][r->idx[a]] : "config"));
    json_object_set_new(row, "synapse", json_real(p->synapse));
    json_object_set_new(row, "conversion", json_string(r->conversion));
    json_object_set_new(row, "steps", json_integer(pt->steps));
    if (r->ee.patience) {
        json_object_set_new(row, "early_exit_patience", json_integer(r->ee.patience));
        json_object_set_new(row, "early_exit_min_prob", json_real(r->ee.min_prob));
    }
    json_object_set_new(row, "accuracy", json_real(pt->accuracy));
    json_object_set_new(row, "mean_steps", json_real(pt->mean_steps));
    json_object_set_new(row, "spikes_per_image", json_real(pt->spikes));
    json_object_set_new(row, "loihi_joules", json_real(pt->loihi_j));
    json_t *en = json_object();
    for (int i = 0; i < pt->ndevices; i++) {
        json_t *d = json_object();
        json_object_set_new(d, "snn_joules", json_real(pt->snn_j[i]));
        json_object_set_new(d, "ann_joules", json_real(pt->ann_j[i]));
        json_object_set_new(en, snn_energy_device(i)->name, d);
    }
    json_object_set_new(row, "energy", en);
    json_object_set_new(row, "pareto", json_boolean(pt->pareto));
    json_object_set_new(row, "images_per_second", json_real(pt->images_per_second));
    return row;
}

int cmd_sweep(int argc, char **argv)
{
    cli_opts o;
    cli_opts_init(&o);
    const char *model = NULL, *spec = NULL, *split = "test";
    const char *steps_s = "10,20,30,50,100", *ee_s = NULL, *axis_s[NAXES] = {NULL};
    int limit = 0, offset = 0, json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int ax = -1;
        for (int k = 0; k < NAXES && a[0] == '-' && a[1] == '-'; k++)
            if (snn_param_find(a + 2) == snn_param_find(axis_names[k])) ax = k;
        if (i + 1 < argc && ax >= 0) axis_s[ax] = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--steps")) steps_s = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--early-exit")) ee_s = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--dataset")) spec = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--split")) split = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--limit")) limit = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(a, "--offset")) offset = atoi(argv[++i]);
        else if (!strcmp(a, "--json")) json = 1;
        else if (cli_is_help(a)) {
            fputs(SWEEP_USAGE, stdout);
            cli_print_run_options(stdout);
            return 0;
        } else {
            int r = cli_opts_flag(&o, argc, argv, &i);
            if (r < 0) return 2;
            if (r) continue;
            if (a[0] != '-' && !model) model = a;
            else {
                cli_errorf("sweep: unexpected argument '%s'", a);
                fputs(SWEEP_USAGE, stderr);
                return 2;
            }
        }
    }
    if (!model || !spec) {
        fputs(SWEEP_USAGE, stderr);
        return 2;
    }
    if (limit < 0 || offset < 0) {
        cli_errorf("--limit and --offset must not be negative");
        return 2;
    }
    static char vals[NAXES][SWEEP_MAX_LIST][64];
    char stepv[SWEEP_MAX_LIST][64], eev[SWEEP_MAX_LIST][64];
    int nval[NAXES], given[NAXES];
    int nsteps = cli_split_list(steps_s, stepv, SWEEP_MAX_LIST);
    int nee = ee_s ? cli_split_list(ee_s, eev, SWEEP_MAX_LIST) : 0;
    int bad = nsteps < 1 || nee < 0;
    for (int a = 0; a < NAXES; a++) {
        given[a] = axis_s[a] != NULL;
        nval[a] = given[a] ? cli_split_list(axis_s[a], vals[a], SWEEP_MAX_LIST) : 1;
        bad |= nval[a] < 1;
        /* each value through the option table now: errors before any work */
        for (int k = 0; given[a] && k < nval[a]; k++) {
            snn_convert_params c;
            if (cli_check_value("sweep", axis_names[a], vals[a][k], &c)) return 2;
        }
    }
    if (bad) {
        cli_errorf("sweep: bad list (comma-separated, at most %d values)", SWEEP_MAX_LIST);
        return 2;
    }
    int stepn[SWEEP_MAX_LIST], maxsteps = 0;
    for (int i = 0; i < nsteps; i++) {
        stepn[i] = atoi(stepv[i]);
        if (stepn[i] < 1 || stepn[i] > 100000) {
            cli_errorf("sweep: bad step count '%s'", stepv[i]);
            return 2;
        }
        if (stepn[i] > maxsteps) maxsteps = stepn[i];
    }
    snn_early_exit ees[SWEEP_MAX_LIST];
    for (int i = 0; i < nee; i++) {
        snn_error err;
        if (snn_early_exit_parse(eev[i], &ees[i], &err) || ees[i].patience < 1) {
            cli_errorf("sweep: bad early-exit rule '%s': %s", eev[i],
                       ees[i].patience < 1 ? "off is not a rule" : err.msg);
            return 2;
        }
    }
    int ncomb = 1;
    for (int a = 0; a < NAXES; a++) ncomb *= nval[a];
    if ((size_t)ncomb * (size_t)(nsteps + nee) > SWEEP_MAX_ROWS) {
        cli_errorf("sweep: more than %d rows", SWEEP_MAX_ROWS);
        return 2;
    }
    /* --bias-correct here means per combination, not once for the base */
    int bias_measure = o.bias_correct;
    o.bias_correct = 0;
    snn_convert_params base;
    snn_model *m = cli_model_load(model, &o, &base, NULL);
    if (!m) return 1;
    /* --bias-correct measures a correction for every row unless the
     * bias_correction axis says which rows */
    if (bias_measure && !given[NAXES - 1]) base.bias_correction = 1;
    eval_data d = {0};
    int rc = 1, nrows = 0, ncal = 0;
    float *cal = NULL;
    snn_bias_table *stored = m->cfg.bias;   /* the model's own, restored before the free */
    sweep_row *rows = calloc(SWEEP_MAX_ROWS, sizeof *rows);
    snn_convert_params *rowp = calloc(SWEEP_MAX_ROWS, sizeof *rowp);
    if (!rows || !rowp) {
        cli_errorf("out of memory");
        goto out;
    }
    if (bias_measure && !(cal = cli_calibration_images(m, &o, &ncal))) goto out;
    if (eval_data_load(m, spec, split, offset, limit, o.input_scale, &d)) goto out;
    if (d.ds->n == 0) {
        cli_errorf("no images selected");
        goto out;
    }
    double ann = eval_ann(m, d.inputs, d.ds->labels, d.ds->n, o.threads, NULL);
    if (ann < 0) goto out;
    const int n = d.ds->n;
    if (!json) {
        fprintf(stderr, "snnctl: sweeping %s on %d images, %d combinations\n", m->cfg.name, n, ncomb);
    }
    for (int c = 0; c < ncomb; c++) {
        int idx[NAXES];
        snn_convert_params p = base;
        snn_error err = {0};
        for (int a = 0, r = c; a < NAXES; a++) {
            idx[a] = given[a] ? r % nval[a] : -1;
            r /= nval[a];
            if (given[a] && snn_convert_params_set(&p, axis_names[a], vals[a][idx[a]], &err)) {
                cli_errorf("%s", err.msg);
                goto out;
            }
        }
        if (m->cfg.bias != stored) snn_bias_table_free(m->cfg.bias);
        m->cfg.bias = stored;
        if (p.bias_correction && bias_measure) {
            snn_bias_table *bt; /* this setting's own; freed when the next replaces it */
            if (cli_bias_measure(m, cal, ncal < o.bias_images ? ncal : o.bias_images, &p, maxsteps, !json,
                                 &bt))
                goto out;
            m->cfg.bias = bt;
        }
        snn_net *net = snn_net_new(m, &p, &err);
        if (!net) {
            cli_errorf("%s", err.msg);
            goto out;
        }
        char conv[1024];
        snn_convert_params_format(&p, conv, sizeof conv);
        for (int r = -1; r < nee; r++) {
            snn_run_opts ro;
            snn_run_opts_init(&ro);
            ro.steps = maxsteps;
            if (r >= 0) ro.early_exit = ees[r];
            eval_acc acc;
            if (eval_acc_init(&acc, net, n, maxsteps, 0) ||
                eval_snn(net, d.inputs, d.ds->labels, n, &ro, o.threads, !json, &acc)) {
                snn_net_free(net);
                goto out;
            }
            for (int s = 0; s < (r < 0 ? nsteps : 1); s++) {
                sweep_row *row = &rows[nrows];
                rowp[nrows++] = p;
                eval_point_fill(&row->pt, net, &acc, r < 0 ? stepn[s] : maxsteps, r >= 0);
                memcpy(row->idx, idx, sizeof idx);
                row->ee = r >= 0 ? ees[r] : (snn_early_exit){0};
                snprintf(row->conversion, sizeof row->conversion, "%s", conv);
            }
            eval_acc_deinit(&acc);
        }
        snn_net_free(net);
    }
    {
        eval_point *pts = malloc(sizeof *pts * (size_t)(nrows ? nrows : 1));
        if (!pts) {
            cli_errorf("out of memory");
            goto out;
        }
        for (int i = 0; i < nrows; i++) pts[i] = rows[i].pt;
        eval_pareto(pts, nrows);
        for (int i = 0; i < nrows; i++) rows[i].pt.pareto = pts[i].pareto;
        free(pts);
    }
    if (json) {
        json_t *root = json_object(), *arr = json_array(), *annj = json_object();
        json_object_set_new(root, "model", json_string(m->cfg.name));
        json_object_set_new(root, "dataset", json_string(spec));
        json_object_set_new(root, "split", json_string(split));
        json_object_set_new(root, "offset", json_integer(offset));
        json_object_set_new(root, "n", json_integer(n));
        json_object_set_new(root, "ann_accuracy", json_real(ann));
        for (int i = 0; nrows && i < rows[0].pt.ndevices; i++)
            json_object_set_new(annj, snn_energy_device(i)->name, json_real(rows[0].pt.ann_j[i]));
        json_object_set_new(root, "ann_joules", annj);
        for (int i = 0; i < nrows; i++) json_array_append_new(arr, row_json(&rows[i], vals, given, &rowp[i]));
        json_object_set_new(root, "rows", arr);
        char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        puts(s);
        free(s);
        json_decref(root);
    } else {
        printf("model %s, %d images (%s, %s split), ANN accuracy %.2f%%\n", m->cfg.name, n, spec, split, 100 * ann);
        if (nrows) printf("first row's conversion: %s\n", rows[0].conversion);
        printf("ANN energy per image (J):");
        for (int i = 0; nrows && i < rows[0].pt.ndevices; i++)
            printf(" %s %.4g", snn_energy_device(i)->name, rows[0].pt.ann_j[i]);
        printf("\nSNN energy per image (J) by device below; * = frontier (no row is as accurate with no more\n"
               "mean steps and no more loihi energy)\n ");
        for (int a = 0; a < NAXES; a++)
            if (given[a]) printf(" %12.12s", axis_names[a]);
        printf(" %5s %7s %7s %8s %11s", "steps", "exit", "acc %", "mean stp", "spikes/img");
        for (int i = 0; nrows && i < rows[0].pt.ndevices; i++) printf(" %11s", snn_energy_device(i)->name);
        printf(" %8s\n", "img/s");
        for (int i = 0; i < nrows; i++) print_row(&rows[i], vals, given);
    }
    rc = 0;
out:
    if (m && m->cfg.bias != stored) snn_bias_table_free(m->cfg.bias);
    if (m) m->cfg.bias = stored;
    free(rows);
    free(rowp);
    free(cal);
    eval_data_free(&d);
    snn_model_free(m);
    return rc;
}
