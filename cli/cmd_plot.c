/* cmd_plot.c: `snnctl plot raster|probs MODEL IMAGE ... -o OUT.svg|OUT.png`:
 * runs one image through the converted network and draws the spike raster
 * of one layer or the class probabilities over time (snn/plot.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snn/engine.h"
#include "snn/plot.h"

static const char *PLOT_USAGE =
    "usage: snnctl plot raster MODEL IMAGE --layer NAME [--neurons 512] [--steps N]\n"
    "                   [conversion flags] [--size WxH] -o OUT.svg|OUT.png\n"
    "       snnctl plot probs MODEL IMAGE [--steps N] [--label TRUE_CLASS]\n"
    "                   [conversion flags] [--size WxH] -o OUT.svg|OUT.png\n"
    "  IMAGE: a PNG/JPEG file or DATASET_SPEC#INDEX (test split), e.g.\n"
    "         cifar10:../shared/datasets/cifar10#19 (the true class then comes from it)\n"
    "  TRUE_CLASS: a class name of the model or its index\n";

typedef struct plot_args {
    int raster;                 /* 1 = raster, 0 = probs */
    const char *model, *image, *out, *layer, *label;
    int neurons, width, height;
    snn_plot_format fmt;
    cli_opts o;
} plot_args;

static int parse_args(plot_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    cli_opts_init(&a->o);
    a->neurons = 512;
    if (argc < 2 || (strcmp(argv[1], "raster") && strcmp(argv[1], "probs"))) {
        if (argc >= 2 && cli_is_help(argv[1])) {
            fputs(PLOT_USAGE, stdout);
            return 1;
        }
        cli_errorf("plot: the first argument is 'raster' or 'probs'");
        fputs(PLOT_USAGE, stderr);
        return 2;
    }
    a->raster = !strcmp(argv[1], "raster");
    for (int i = 2; i < argc; i++) {
        int r = cli_opts_flag(&a->o, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        const char *s = argv[i];
        int has_val = i + 1 < argc;
        if (cli_is_help(s)) {
            fputs(PLOT_USAGE, stdout);
            return 1;
        } else if (has_val && (!strcmp(s, "-o") || !strcmp(s, "--output"))) {
            a->out = argv[++i];
        } else if (has_val && a->raster && !strcmp(s, "--layer")) {
            a->layer = argv[++i];
        } else if (has_val && a->raster && !strcmp(s, "--neurons")) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 65536) {
                cli_errorf("--neurons: '%s' is not a whole number in [1, 65536]", argv[i]);
                return 2;
            }
            a->neurons = (int)v;
        } else if (has_val && !a->raster && !strcmp(s, "--label")) {
            a->label = argv[++i];
        } else if (has_val && !strcmp(s, "--size")) {
            if (sscanf(argv[++i], "%dx%d", &a->width, &a->height) != 2 ||
                a->width < SNN_PLOT_MIN_SIDE || a->height < SNN_PLOT_MIN_SIDE ||
                a->width > SNN_PLOT_MAX_SIDE || a->height > SNN_PLOT_MAX_SIDE) {
                cli_errorf("--size: '%s' is not WxH with sides in [%d, %d]", argv[i],
                           SNN_PLOT_MIN_SIDE, SNN_PLOT_MAX_SIDE);
                return 2;
            }
        } else if (s[0] != '-' && !a->model) {
            a->model = s;
        } else if (s[0] != '-' && !a->image) {
            a->image = s;
        } else {
            cli_errorf("plot: unexpected argument '%s'", s);
            fputs(PLOT_USAGE, stderr);
            return 2;
        }
    }
    if (!a->model || !a->image || !a->out || (a->raster && !a->layer)) {
        cli_errorf("plot: MODEL, IMAGE, -o OUT%s are required", a->raster ? " and --layer" : "");
        fputs(PLOT_USAGE, stderr);
        return 2;
    }
    snn_error err;
    if (snn_plot_format_from_path(a->out, &a->fmt, &err)) {
        cli_errorf("%s", err.msg);
        return 2;
    }
    return 0;
}

static int write_out(const char *path, const uint8_t *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        cli_errorf("%s: %s", path, strerror(errno));
        return -1;
    }
    size_t w = fwrite(buf, 1, len, f);
    if (fclose(f) != 0 || w != len) {
        cli_errorf("%s: write failed", path);
        return -1;
    }
    return 0;
}

/* Draw the finished run as a raster or probability plot into *plot. */
static int draw(const plot_args *a, const cli_sim *sim, char *title, size_t tl, uint8_t **plot,
                size_t *plot_len)
{
    const snn_model *m = sim->model;
    const snn_result *res = &sim->res;
    const char *pred = m->cfg.classes[res->pred[0]];
    snn_error err = {0};
    snn_err e;
    if (a->raster) {
        const snn_layer_info *li = snn_net_layer(sim->net, sim->raster_layer);
        const snn_raster *ras = &res->raster;
        long long spikes = 0;
        for (size_t k = 0; k < (size_t)res->steps * ras->nneurons; k++) spikes += ras->counts[k];
        snprintf(title, tl, "%s: %s, %d of %lld neurons, %lld spikes (predicted: %s)",
                 m->cfg.name, li->name, ras->nneurons, (long long)li->neurons, spikes, pred);
        char ylabel[96];
        snprintf(ylabel, sizeof ylabel, "%s neuron index", li->name);
        snn_plot_raster_data d = {.steps = res->steps, .nneurons = ras->nneurons,
                                  .counts = ras->counts, .neuron_index = ras->neuron_index,
                                  .dt = sim->params.dt, .title = title, .ylabel = ylabel,
                                  .width = a->width, .height = a->height};
        e = snn_plot_raster(&d, a->fmt, plot, plot_len, &err);
    } else {
        if (sim->label >= 0)
            snprintf(title, tl, "true: %s, predicted: %s", m->cfg.classes[sim->label], pred);
        else
            snprintf(title, tl, "predicted: %s", pred);
        snn_plot_probs_data d = {.steps = res->steps, .nclasses = res->nclasses,
                                 .probs = res->probs, .stride = res->nclasses,
                                 .class_names = (const char *const *)m->cfg.classes,
                                 .dt = sim->params.dt, .title = title,
                                 .width = a->width, .height = a->height};
        e = snn_plot_probs(&d, a->fmt, plot, plot_len, &err);
    }
    if (e) cli_errorf("%s", err.msg);
    return e ? -1 : 0;
}

int cmd_plot(int argc, char **argv)
{
    plot_args a;
    int r = parse_args(&a, argc, argv);
    if (r) return r == 1 ? 0 : r;

    cli_sim sim;
    /* the raster and probabilities are enough: no statistics */
    cli_sim_req rq = {.model = a.model, .image = a.image, .label = a.label,
                      .raster_layer = a.raster ? a.layer : NULL,
                      .raster_neurons = a.neurons, .stats = 0};
    int rc = cli_simulate_one(&rq, &a.o, &sim);
    if (!rc) {
        char title[256];
        uint8_t *plot = NULL;
        size_t plot_len = 0;
        rc = 1;
        if (!draw(&a, &sim, title, sizeof title, &plot, &plot_len) &&
            !write_out(a.out, plot, plot_len)) {
            printf("%s: %s, %d steps, %zu bytes\n", a.out, title, sim.res.steps, plot_len);
            rc = 0;
        }
        free(plot);
    }
    cli_sim_deinit(&sim);
    return rc;
}
