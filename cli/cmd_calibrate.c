/* cmd_calibrate.c: `snnctl calibrate MODEL --dataset SPEC`: computes the
 * data-based firing thresholds on training images and stores them (and
 * the chosen normalisation) in MODEL/config.json, so the daemon loads a
 * calibrated model without data; with --bias-correct, also the per-channel
 * bias correction (Li et al. 2021) measured at the model's steps and the
 * new conversion. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static const char *CALIBRATE_USAGE =
    "usage: snnctl calibrate MODEL_DIR --dataset SPEC [--limit N] [--normalize max|percentile:P]\n"
    "         [--bias-correct [--bias-images N]] [conversion flags] [--steps N] [--dry-run]\n"
    "  Computes each layer's firing threshold from the ANN activations of the first N training\n"
    "  images of SPEC (default 1000) and stores thresholds and normalisation (default\n"
    "  percentile:99.9), the conversion flags given and --steps in MODEL_DIR/config.json.\n"
    "  --bias-correct also measures and stores a per-channel bias correction (Li et al. 2021) on\n"
    "  the first 256 (--bias-images) of those images at that conversion and step count, used by\n"
    "  default (run option bias_correction on|off); without it a stored correction is dropped,\n"
    "  since it was measured for other thresholds. --dry-run prints without writing.\n";

int cmd_calibrate(int argc, char **argv)
{
    cli_opts o;
    cli_opts_init(&o);
    const char *model = NULL, *spec = NULL;
    int n = 1000, dry = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            fputs(CALIBRATE_USAGE, stdout);
            return 0;
        } else if (i + 1 < argc && !strcmp(a, "--dataset")) spec = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--limit")) n = atoi(argv[++i]);
        else if (!strcmp(a, "--dry-run")) dry = 1;
        else {
            int r = cli_opts_flag(&o, argc, argv, &i);
            if (r < 0) return 2;
            if (r) continue;
            if (a[0] != '-' && !model) model = a;
            else {
                cli_errorf("calibrate: unexpected argument '%s'", a);
                fputs(CALIBRATE_USAGE, stderr);
                return 2;
            }
        }
    }
    struct stat st;
    if (!model || !spec || n < 1) {
        fputs(CALIBRATE_USAGE, stderr);
        return 2;
    }
    if (stat(model, &st) || !S_ISDIR(st.st_mode)) {
        cli_errorf("calibrate: '%s' is not a model directory", model);
        return 2;
    }
    snprintf(o.calibrate, sizeof o.calibrate, "%s:%d", spec, n);
    /* default normalisation: robust 99.9th percentile */
    int has_norm = 0;
    for (int i = 0; i < o.nset; i++) has_norm |= !strcmp(o.set[i].key, "normalize");
    if (!has_norm && o.nset < CLI_MAX_SET) {
        snprintf(o.set[o.nset].key, sizeof o.set[0].key, "normalize");
        snprintf(o.set[o.nset].val, sizeof o.set[0].val, "percentile:99.9");
        o.nset++;
    }
    snn_convert_params p;
    snn_model *m = cli_model_load(model, &o, &p, NULL);
    if (!m) return 1;
    for (int i = 0; i < p.nthresholds; i++)
        printf("%-20s %.6g\n", p.thresholds[i].layer, p.thresholds[i].value);
    if (!o.bias_correct && m->cfg.bias) {
        printf("the stored bias correction is dropped (measured for other thresholds; --bias-correct remakes it)\n");
        snn_bias_table_free(m->cfg.bias);
        m->cfg.bias = NULL;
        p.bias_correction = 0;
    }
    for (int k = 0; m->cfg.bias && k < m->cfg.bias->nlayers; k++) {
        const snn_bias_layer *b = &m->cfg.bias->layers[k];
        double lo = b->offset[0], hi = b->offset[0], sum = 0;
        for (int c = 0; c < b->channels; c++) {
            sum += b->offset[c];
            if (b->offset[c] < lo) lo = b->offset[c];
            if (b->offset[c] > hi) hi = b->offset[c];
        }
        printf("%-20s bias correction over %d channels: mean %.4g, range [%.4g, %.4g]\n", b->layer, b->channels,
               sum / b->channels, lo, hi);
    }
    int rc = 0;
    if (!dry) {
        snn_error err = {0};
        snn_model_config cfg = m->cfg;
        cfg.convert = p;
        if (o.steps) {
            cfg.steps = o.steps;
            if (cfg.max_steps < o.steps) cfg.max_steps = o.steps;
        }
        if (snn_model_config_save(&cfg, model, &err)) {
            cli_errorf("%s", err.msg);
            rc = 1;
        } else {
            printf("%s written to %s/config.json\n", cfg.bias ? "thresholds and bias correction" : "thresholds",
                   model);
        }
    }
    snn_model_free(m);
    return rc;
}
