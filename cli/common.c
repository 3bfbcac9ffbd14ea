/* common.c: what snnctl's commands share: conversion flags, model loading
 * with overrides and calibration, image arguments, one image through the
 * converted network (run, plot), .npy. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "snn/calibrate.h"
#include "snn/dataset.h"
#include "snn/params.h"

void cli_errorf(const char *fmt, ...)
{
    va_list ap;
    fputs("snnctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_is_help(const char *a)
{
    return !strcmp(a, "-h") || !strcmp(a, "--help");
}

double cli_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

void cli_opts_init(cli_opts *o)
{
    memset(o, 0, sizeof *o);
    o->threads = 2;
    o->bias_images = 256;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

int cli_check_value(const char *who, const char *key, const char *val, snn_convert_params *c)
{
    snn_error err;
    snn_convert_params_init(c);
    if (!snn_convert_params_set(c, key, val, &err)) return 0;
    cli_errorf("%s: %s", who, err.msg);
    return 2;
}

int cli_split_list(const char *s, char out[][64], int max)
{
    int n = 0;
    while (*s && n < max) {
        size_t len = strcspn(s, ",");
        if (len == 0 || len >= 64) return -1;
        memcpy(out[n], s, len);
        out[n++][len] = '\0';
        s += len;
        if (*s == ',') s++;
    }
    return *s ? -1 : n;
}

void cli_print_run_options(FILE *f)
{
    fprintf(f, "Run options (the same names in config.json and the daemon's requests):\n");
    for (int i = 0; i < snn_params_count(); i++) {
        const snn_param *r = snn_param_at(i);
        char flag[64];
        if (r->flags & SNN_PARAM_FIELD) continue;
        snprintf(flag, sizeof flag, "--%s", r->name);
        for (char *c = flag + 2; *c; c++)
            if (*c == '_') *c = '-';
        fprintf(f, "  %-22s %-24s %s\n", flag, r->syntax, r->help);
    }
    fprintf(f, "  %-22s %-24s %s\n", "--calibrate", "DATASET[:N]", "calibrate thresholds for --normalize");
    fprintf(f, "  %-22s %-24s %s\n", "--bias-correct", "",
            "measure a bias correction on --calibrate's images (Li et al. 2021)");
    fprintf(f, "  %-22s %-24s %s\n", "--bias-images", "N", "... on the first N of them (256)");
    fprintf(f, "  %-22s %-24s %s\n", "--input-scale", "X", "multiply raw 0..255 pixels by X");
}

/* "--scale-firing-rates" -> its row of the option table, or NULL. */
static const snn_param *flag_param(const char *a)
{
    return !strncmp(a, "--", 2) ? snn_param_find(a + 2) : NULL;
}

int cli_opts_flag(cli_opts *o, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    if (strncmp(a, "--", 2)) return 0;
    if (!strcmp(a, "--bias-correct")) {
        o->bias_correct = 1;
        return 1;
    }
    const snn_param *row = flag_param(a);
    int known = row || !strcmp(a, "--input-scale") || !strcmp(a, "--calibrate") || !strcmp(a, "--threads") ||
                !strcmp(a, "--bias-images");
    if (!known) return 0;
    if (*i + 1 >= argc) {
        cli_errorf("%s needs a value", a);
        return -1;
    }
    const char *v = argv[++*i];
    if (row) {
        /* a run option: parsed by the library's table now, so the error
         * comes before any work; conversion options are applied to the
         * model's parameters once it is loaded (cli_model_load) */
        snn_run_params rp;
        snn_error err;
        snn_run_params_init(&rp);
        rp.early_exit = o->ee;
        if (snn_params_set(&rp, a + 2, v, &err)) {
            cli_errorf("%s: %s", a, err.msg);   /* the flag, then the table's message */
            return -1;
        }
        if (!(row->flags & SNN_PARAM_CONVERSION)) {
            if (!strcmp(row->name, "steps")) {
                o->steps = rp.steps;
            } else {
                o->ee = rp.early_exit;
                o->have_ee = 1;
            }
            return 1;
        }
        if (o->nset >= CLI_MAX_SET) {
            cli_errorf("too many conversion flags");
            return -1;
        }
        snprintf(o->set[o->nset].key, sizeof o->set[0].key, "%s", a + 2);
        snprintf(o->set[o->nset].val, sizeof o->set[0].val, "%s", v);
        o->nset++;
    } else if (!strcmp(a, "--threads")) {
        if (parse_int(v, 1, 256, &o->threads)) {
            cli_errorf("--threads: '%s' is not a whole number in [1, 256]", v);
            return -1;
        }
    } else if (!strcmp(a, "--bias-images")) {
        if (parse_int(v, 1, 1000000, &o->bias_images)) {
            cli_errorf("--bias-images: '%s' is not a whole number in [1, 1000000]", v);
            return -1;
        }
    } else if (!strcmp(a, "--input-scale")) {
        char *end;
        o->input_scale = strtof(v, &end);
        if (*end || !(o->input_scale > 0)) {
            cli_errorf("--input-scale: '%s' is not a positive number", v);
            return -1;
        }
    } else {
        snprintf(o->calibrate, sizeof o->calibrate, "%s", v);
    }
    return 1;
}

snn_model *cli_model_load(const char *path, const cli_opts *o, snn_convert_params *p, int *steps)
{
    snn_error err = {0};
    snn_model *m = snn_model_load(path, &err);
    if (!m) {
        cli_errorf("%s", err.msg);
        return NULL;
    }
    *p = m->cfg.convert;
    int explicit_thresholds = 0;
    for (int i = 0; i < o->nset; i++) {
        if (snn_convert_params_set(p, o->set[i].key, o->set[i].val, &err)) {
            cli_errorf("%s", err.msg);
            snn_model_free(m);
            return NULL;
        }
        explicit_thresholds |= !strcmp(o->set[i].key, "thresholds");
    }
    int T = o->steps ? o->steps : m->cfg.steps;
    if (steps) *steps = T;
    /* ceiling needs data only for layers without a Clip ceiling: the
     * conversion names them if so */
    int need = p->normalize != SNN_NORM_NONE && !explicit_thresholds &&
               (o->calibrate[0] || (p->nthresholds == 0 && p->normalize != SNN_NORM_CEILING));
    /* the stored thresholds were made for the stored normalisation only */
    if (p->normalize != SNN_NORM_NONE && p->normalize != SNN_NORM_CEILING && !o->calibrate[0] &&
        p->nthresholds &&
        (p->normalize != m->cfg.convert.normalize || p->percentile != m->cfg.convert.percentile))
        need = 1;
    if (!need && !o->bias_correct) return m;
    if (!o->calibrate[0]) {
        if (need)
            cli_errorf("normalize=%s needs thresholds: pass --calibrate DATASET[:N] "
                       "(or run snnctl calibrate on the model)",
                       snn_norm_name(p->normalize));
        else
            cli_errorf("--bias-correct needs calibration images: pass --calibrate DATASET[:N]");
        snn_model_free(m);
        return NULL;
    }
    int n;
    float *in = cli_calibration_images(m, o, &n);
    snn_err e = in ? SNN_OK : SNN_EINVALID;
    if (!e && need && (e = snn_calibrate(m, in, n, p, &err))) cli_errorf("calibration failed: %s", err.msg);
    snn_bias_table *bt = NULL;
    if (!e && o->bias_correct &&
        !(e = cli_bias_measure(m, in, n < o->bias_images ? n : o->bias_images, p, T, 1, &bt))) {
        snn_bias_table_free(m->cfg.bias); /* the stored table gives way to the measured one */
        m->cfg.bias = bt;
        p->bias_correction = 1;
    }
    free(in);
    if (e) {
        snn_model_free(m);
        return NULL;
    }
    return m;
}

float *cli_calibration_images(const snn_model *m, const cli_opts *o, int *n)
{
    snn_error err = {0};
    char spec[1024];
    int ncal = 1000;
    snprintf(spec, sizeof spec, "%s", o->calibrate);
    char *colon = strrchr(spec, ':');
    if (colon && colon > strchr(spec, ':')) {
        int nn;
        if (!parse_int(colon + 1, 1, 1000000, &nn)) {
            ncal = nn;
            *colon = '\0';
        }
    }
    snn_dataset *d = snn_dataset_open(spec, "train", 0, ncal, &err);
    if (!d) {
        cli_errorf("--calibrate: %s", err.msg);
        return NULL;
    }
    size_t isz = snn_model_input_size(m);
    float *in = malloc(sizeof(float) * isz * (size_t)(d->n ? d->n : 1));
    snn_err e = in ? SNN_OK : snn_error_set(&err, SNN_ENOMEM, "out of memory");
    if (!e && d->n < 1) e = snn_error_set(&err, SNN_EINVALID, "no calibration images");
    for (int i = 0; !e && i < d->n; i++)
        e = snn_model_preprocess(m, snn_dataset_image(d, i), d->width, d->height, d->channels,
                                 o->input_scale, in + (size_t)i * isz, &err);
    *n = d->n;
    snn_dataset_free(d);
    if (e) {
        cli_errorf("--calibrate: %s", err.msg);
        free(in);
        return NULL;
    }
    return in;
}

snn_err cli_bias_measure(const snn_model *m, const float *in, int n, const snn_convert_params *p,
                         int steps, int verbose, snn_bias_table **out)
{
    snn_error err = {0};
    double gap[SNN_MAX_LAYER_PARAMS];
    snn_bias_table *t = NULL;
    *out = NULL;
    snn_err e = snn_calibrate_bias(m, in, n, p, steps, &t, gap, &err);
    if (e) {
        cli_errorf("bias correction failed: %s", err.msg);
        return e;
    }
    if (verbose) {
        fprintf(stderr, "snnctl: bias correction on %d images at %d steps; mean |ANN - SNN| per channel before:",
                n, steps);
        for (int k = 0; k < t->nlayers; k++) fprintf(stderr, " %s %.4g", t->layers[k].layer, gap[k]);
        fputc('\n', stderr);
    }
    *out = t;
    return SNN_OK;
}

int cli_image_load(const char *spec, snn_image *img, int *label)
{
    snn_error err = {0};
    const char *hash = strrchr(spec, '#');
    *label = -1;
    memset(img, 0, sizeof *img);
    if (hash && strchr(spec, ':')) {
        char ds[2048];
        int idx;
        snprintf(ds, sizeof ds, "%.*s", (int)(hash - spec), spec);
        if (parse_int(hash + 1, 0, 1 << 30, &idx)) {
            cli_errorf("'%s': bad image index", spec);
            return -1;
        }
        snn_dataset *d = snn_dataset_open(ds, "test", idx, 1, &err);
        if (!d) {
            cli_errorf("%s", err.msg);
            return -1;
        }
        if (d->n < 1) {
            cli_errorf("'%s': no image %d", ds, idx);
            snn_dataset_free(d);
            return -1;
        }
        size_t sz = (size_t)d->width * d->height * d->channels;
        img->pixels = malloc(sz);
        if (!img->pixels) {
            snn_dataset_free(d);
            return -1;
        }
        memcpy(img->pixels, d->pixels, sz);
        img->width = d->width;
        img->height = d->height;
        img->channels = d->channels;
        *label = d->labels[0];
        snn_dataset_free(d);
        return 0;
    }
    if (snn_image_load(img, spec, 0, NULL, &err)) {
        cli_errorf("%s", err.msg);
        return -1;
    }
    return 0;
}

int cli_write_npy(const char *path, const float *data, int nd, const int64_t *dims)
{
    char hdr[256];
    char shape[128] = "";
    size_t off = 0;
    int64_t n = 1;
    for (int i = 0; i < nd; i++) {
        off += (size_t)snprintf(shape + off, sizeof shape - off, "%lld,%s", (long long)dims[i],
                                i + 1 < nd ? " " : "");
        n *= dims[i];
    }
    if (nd > 1) shape[strlen(shape) - 1] = '\0'; /* drop the trailing comma */
    int hl = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }",
                      shape);
    int total = 10 + hl + 1;
    int padn = (64 - total % 64) % 64;
    FILE *f = fopen(path, "wb");
    if (!f) {
        cli_errorf("%s: %s", path, strerror(errno));
        return -1;
    }
    uint16_t len = (uint16_t)(hl + padn + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(len & 0xff, f);
    fputc(len >> 8, f);
    fwrite(hdr, 1, (size_t)hl, f);
    for (int i = 0; i < padn; i++) fputc(' ', f);
    fputc('\n', f);
    size_t w = fwrite(data, sizeof(float), (size_t)n, f);
    if (fclose(f) || w != (size_t)n) {
        cli_errorf("%s: write failed", path);
        return -1;
    }
    return 0;
}

/* The class index named by s (a class name or an index), else -1. */
static int find_class(const snn_model *m, const char *s)
{
    for (int k = 0; k < m->cfg.nclasses; k++)
        if (!strcmp(m->cfg.classes[k], s)) return k;
    int v;
    return parse_int(s, 0, m->cfg.nclasses - 1, &v) ? -1 : v;
}

static void list_neuron_layers(const snn_net *net)
{
    fputs("neuron layers:", stderr);
    for (int i = 0; i < snn_net_nlayers(net); i++) {
        const snn_layer_info *li = snn_net_layer(net, i);
        if (li->kind == SNN_LAYER_NEURONS)
            fprintf(stderr, " %s (%lld)", li->name, (long long)li->neurons);
    }
    fputc('\n', stderr);
}

int cli_simulate_one(const cli_sim_req *rq, const cli_opts *o, cli_sim *out)
{
    int steps, rc = 1;
    snn_image img = {0};
    snn_engine *e = NULL;
    float *in = NULL;
    snn_error err = {0};

    memset(out, 0, sizeof *out);
    out->label = out->raster_layer = -1;
    out->model = cli_model_load(rq->model, o, &out->params, &steps);
    if (!out->model) return 1;
    const snn_model *m = out->model;
    if (rq->raster_layer && !snn_neuron_spikes(out->params.neuron)) {
        /* only plot raster records a raster */
        cli_errorf("plot raster: --neuron %s has no spikes to plot",
                   snn_neuron_type_name(out->params.neuron));
        return 2;
    }
    if (cli_image_load(rq->image, &img, &out->label)) goto out;
    if (out->label >= m->cfg.nclasses) out->label = -1;  /* a dataset of another model */
    if (rq->label && (out->label = find_class(m, rq->label)) < 0) {
        cli_errorf("--label: '%s' is neither a class of %s nor an index below %d", rq->label,
                   m->cfg.name, m->cfg.nclasses);
        goto out;
    }
    in = malloc(sizeof(float) * snn_model_input_size(m));
    if (!in || snn_model_preprocess(m, img.pixels, img.width, img.height, img.channels,
                                    o->input_scale, in, &err)) {
        cli_errorf("%s", in ? err.msg : "out of memory");
        goto out;
    }
    if (!(out->net = snn_net_new(m, &out->params, &err))) {
        cli_errorf("%s", err.msg);
        goto out;
    }
    if (rq->raster_layer) {
        int l = snn_net_find_layer(out->net, rq->raster_layer);
        if (l < 0 || snn_net_layer(out->net, l)->kind != SNN_LAYER_NEURONS) {
            cli_errorf("--layer: '%s' is not a neuron layer of %s", rq->raster_layer,
                       m->cfg.name);
            list_neuron_layers(out->net);
            goto out;
        }
        out->raster_layer = l;
    }
    int raster_neurons = rq->raster_layer ? rq->raster_neurons : 0;
    if (!(e = snn_engine_new(out->net, 1, steps, SNN_ENGINE_FAST, &err))) {
        cli_errorf("%s", err.msg);
        goto out;
    }
    if (snn_result_init(&out->res, out->net, 1, steps, raster_neurons)) {
        cli_errorf("out of memory");
        goto out;
    }
    snn_run_opts ro;
    snn_run_opts_init(&ro);
    ro.steps = steps;
    ro.stats = rq->stats;
    if (o->have_ee) ro.early_exit = o->ee;
    ro.raster_layer = out->raster_layer;
    ro.raster_neurons = raster_neurons;
    if (snn_engine_run(e, in, 1, &ro, &out->res, &err)) {
        cli_errorf("%s", err.msg);
        goto out;
    }
    /* the ANN on the same input, for comparison */
    int nc = out->res.nclasses;
    float *ann = malloc(sizeof(float) * (size_t)nc);
    if (!ann || snn_graph_run(m->graph, in, 1, ann, NULL, NULL, &err)) {
        cli_errorf("%s", ann ? err.msg : "out of memory");
        free(ann);
        goto out;
    }
    double sum = 0, mx = ann[0];
    int is_prob = 1;
    for (int c = 0; c < nc; c++) {
        sum += ann[c];
        is_prob &= ann[c] >= 0 && ann[c] <= 1;
        if (ann[c] > mx) mx = ann[c];
    }
    if (!is_prob || fabs(sum - 1) > 1e-3) {   /* logits: the softmax the readout applies too */
        sum = 0;
        for (int c = 0; c < nc; c++) sum += (ann[c] = (float)exp(ann[c] - mx));
        for (int c = 0; c < nc; c++) ann[c] = (float)(ann[c] / sum);
    }
    out->ann_pred = snn_argmax(ann, nc);
    out->ann_prob = ann[out->ann_pred];
    free(ann);
    rc = 0;
out:
    snn_engine_free(e);
    free(in);
    snn_image_deinit(&img);
    return rc;
}

void cli_sim_deinit(cli_sim *s)
{
    snn_result_deinit(&s->res);
    snn_net_free(s->net);
    snn_model_free(s->model);
    memset(s, 0, sizeof *s);
}
