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

#include <jansson.h>
#include <time.h>

#include "cli.h"
#include "evalcore.h"
#include "snn/calibrate.h"
#include "snn/dataset.h"
#include "snn/energy.h"

static const char *CALIBRATE_USAGE =
    "usage: snnctl calibrate MODEL_DIR --dataset SPEC [--limit N] [--normalize max|percentile:P|ceiling]\n"
    "         [--bias-correct [--bias-images N]] [conversion flags] [--steps N] [--dry-run]\n"
    "  Computes each layer's firing threshold from the ANN activations of the first N training\n"
    "  images of SPEC (default 1000) and stores thresholds and normalisation (default\n"
    "  percentile:99.9), the conversion flags given and --steps in MODEL_DIR/config.json.\n"
    "  --bias-correct also measures and stores a per-channel bias correction (Li et al. 2021) on\n"
    "  the first 256 (--bias-images) of those images at that conversion and step count, used by\n"
    "  default (run option bias_correction on|off); without it a stored correction is dropped,\n"
    "  since it was measured for other thresholds. --dry-run prints without writing.\n"
    "\n"
    "usage: snnctl calibrate MODEL_DIR --dataset SPEC --target LOSS [--select N] [--limit N]\n"
    "         [--neuron if,spiking-relu] [--normalize percentile:99.9,...] [--scale-firing-rates 1,2,4,8,16]\n"
    "         [--steps 1,2,3,4,6,8,12,16,24,32] [--early-exit 4,...] [--exit-steps 8,16,32]\n"
    "         [--bias-tries 8] [--bias-images 64] [conversion flags] [--threads N] [--dry-run]\n"
    "  Picks the cheapest setting (lowest loihi energy per image, then fewest mean steps) whose\n"
    "  accuracy is within LOSS points of the ANN's, and writes it (conversion with thresholds,\n"
    "  steps, early exit, bias correction) and a 'calibration' record of the command and figures\n"
    "  into MODEL_DIR/config.json. Thresholds (and bias corrections) come from the first --limit\n"
    "  training images (1000), the selection from the LAST --select training images (500), never\n"
    "  the test split. The grid: every neuron x normalize x scale_firing_rates of the lists at\n"
    "  every step count without early exit, and each early-exit rule (patience K[:P...]) capped\n"
    "  at each --exit-steps; conversion flags not swept are fixed (defaults: synapse none, v0\n"
    "  half, readout mean). Then bias correction (measured at the setting's steps on\n"
    "  --bias-images images) is tried on up to --bias-tries of the uncorrected settings without\n"
    "  early exit that are cheaper than the pick and within LOSS + 2 points, cheapest first, each\n"
    "  with and without the early-exit rules capped at its steps.\n";

/* ---- --target: the cheapest setting within an accuracy loss ---- */

#define TGT_MAX_LIST 16
#define TGT_MAX_CANDS 4096

typedef struct cand {
    snn_convert_params p;       /* thresholds included; bias_correction set when corrected */
    int steps;
    snn_early_exit ee;
    eval_point pt;
    snn_bias_table *bias;       /* owned; the correction it ran with, else NULL */
    int tried;                  /* bias correction was tried on it */
} cand;

typedef struct target_run {
    snn_model *m;
    const eval_data *sel;
    cli_opts *o;
    int nexit, exit_steps[TGT_MAX_LIST];
    int nee;
    snn_early_exit ee[TGT_MAX_LIST];
    cand *c;
    int nc;
} target_run;

/* Images of a split: the first offset that does not open, found by
 * doubling and bisection on one-image windows (only windows are read). */
static int dataset_count(const char *spec, const char *split)
{
    snn_error err;
    int lo = 0, hi = 1;
    for (;;) {
        snn_dataset *d = snn_dataset_open(spec, split, hi, 1, &err);
        if (!d || d->n < 1) {
            snn_dataset_free(d);
            break;
        }
        snn_dataset_free(d);
        lo = hi;
        if (hi > (1 << 28)) return -1;
        hi *= 2;
    }
    while (hi - lo > 1) {   /* image lo exists, image hi does not */
        int mid = lo + (hi - lo) / 2;
        snn_dataset *d = snn_dataset_open(spec, split, mid, 1, &err);
        int ok = d && d->n >= 1;
        snn_dataset_free(d);
        if (ok) lo = mid;
        else hi = mid;
    }
    return hi;
}

/* Simulate one conversion on the selection images up to `steps`: without
 * early exit a candidate per step count of `steps_at` (nat of them), and
 * one per early-exit rule capped at each exit step count <= steps that is
 * also in `steps_at`. The net's bias table (if any) is copied to each. */
static int target_eval(target_run *t, const snn_convert_params *p, const int *steps_at, int nat)
{
    snn_error err = {0};
    int maxs = 0;
    for (int i = 0; i < nat; i++)
        if (steps_at[i] > maxs) maxs = steps_at[i];
    snn_net *net = snn_net_new(t->m, p, &err);
    if (!net) {
        cli_errorf("%s", err.msg);
        return -1;
    }
    const int n = t->sel->ds->n;
    int rc = 0;
    for (int r = -1; r < t->nee && !rc; r++)
        for (int x = 0; x < (r < 0 ? 1 : t->nexit) && !rc; x++) {
            int cap = r < 0 ? maxs : t->exit_steps[x], listed = r < 0;
            for (int i = 0; i < nat; i++) listed |= steps_at[i] == cap;
            if (!listed || cap > maxs) continue;
            snn_run_opts ro;
            snn_run_opts_init(&ro);
            ro.steps = cap;
            if (r >= 0) ro.early_exit = t->ee[r];
            eval_acc acc;
            if (eval_acc_init(&acc, net, n, cap, 0) ||
                eval_snn(net, t->sel->inputs, t->sel->ds->labels, n, &ro, t->o->threads, 0, &acc)) {
                rc = -1;
                break;
            }
            for (int i = 0; i < (r < 0 ? nat : 1) && !rc; i++) {
                if (t->nc >= TGT_MAX_CANDS) {
                    cli_errorf("calibrate: more than %d settings", TGT_MAX_CANDS);
                    rc = -1;
                    break;
                }
                cand *c = &t->c[t->nc];
                memset(c, 0, sizeof *c);
                c->p = *p;
                c->steps = r < 0 ? steps_at[i] : cap;
                if (r >= 0) c->ee = t->ee[r];
                eval_point_fill(&c->pt, net, &acc, c->steps, r >= 0);
                if (p->bias_correction && !(c->bias = snn_bias_table_copy(t->m->cfg.bias))) {
                    cli_errorf("out of memory");
                    rc = -1;
                }
                t->nc++;
            }
            eval_acc_deinit(&acc);
        }
    snn_net_free(net);
    return rc;
}

/* a cheaper than b: lower loihi energy, then fewer mean steps */
static int cheaper(const cand *a, const cand *b)
{
    if (a->pt.loihi_j != b->pt.loihi_j) return a->pt.loihi_j < b->pt.loihi_j;
    return a->pt.mean_steps < b->pt.mean_steps;
}

static int pick(const target_run *t, double floor_acc)
{
    int best = -1;
    for (int i = 0; i < t->nc; i++)
        if (t->c[i].pt.accuracy >= floor_acc && (best < 0 || cheaper(&t->c[i], &t->c[best]))) best = i;
    return best;
}

static void print_cand(const char *what, const cand *c, double ann)
{
    char conv[1024];
    snn_convert_params_format(&c->p, conv, sizeof conv);
    printf("%s: %s steps=%d", what, conv, c->steps);
    if (c->ee.patience) printf(" early_exit=%d:%g:%g:%d", c->ee.patience, c->ee.min_prob, c->ee.min_margin,
                               c->ee.min_steps);
    printf("\n  accuracy %.2f%% (ANN %.2f%%, %+.2f points), mean steps %.2f, spikes/image %.0f,\n"
           "  loihi energy/image %.4g J (ANN %.4g J, ratio %.3f)\n",
           100 * c->pt.accuracy, 100 * ann, 100 * (c->pt.accuracy - ann), c->pt.mean_steps, c->pt.spikes,
           c->pt.loihi_j, c->pt.ann_loihi_j, c->pt.ann_loihi_j > 0 ? c->pt.loihi_j / c->pt.ann_loihi_j : 0);
}

static int parse_steps_list(const char *s, int *out, int *n)
{
    char v[TGT_MAX_LIST][64];
    *n = cli_split_list(s, v, TGT_MAX_LIST);
    if (*n < 1) return -1;
    for (int i = 0; i < *n; i++) {
        char *end;
        long x = strtol(v[i], &end, 10);
        if (*end || x < 1 || x > 100000) return -1;
        out[i] = (int)x;
    }
    return 0;
}

static int calibrate_target(const char *model, const char *spec, int ncal, int nsel, double loss, cli_opts *o,
                            const char *lists[4], const char *ee_s, const char *exit_s, int bias_tries, int dry,
                            int argc, char **argv)
{
    /* the swept axes, each value checked by the option table */
    static const char *const axes[3] = {"neuron", "normalize", "scale_firing_rates"};
    static const char *const defaults[3] = {"if,spiking-relu", "percentile:99.9", "1,2,4,8,16"};
    char vals[3][TGT_MAX_LIST][64];
    int nval[3], steps[TGT_MAX_LIST], nsteps;
    for (int a = 0; a < 3; a++) {
        nval[a] = cli_split_list(lists[a] ? lists[a] : defaults[a], vals[a], TGT_MAX_LIST);
        if (nval[a] < 1) {
            cli_errorf("calibrate: bad --%s list", axes[a]);
            return 2;
        }
        for (int k = 0; k < nval[a]; k++) {
            snn_convert_params c;
            if (cli_check_value("calibrate", axes[a], vals[a][k], &c)) return 2;
            if (a == 0 && !snn_neuron_spikes(c.neuron)) {
                cli_errorf("calibrate: --target searches spiking neurons, not %s", vals[a][k]);
                return 2;
            }
            if (a == 1 && c.normalize == SNN_NORM_NONE) {
                cli_errorf("calibrate: --target calibrates thresholds: normalize max or percentile:P, not none");
                return 2;
            }
        }
    }
    target_run t = {0};
    t.o = o;
    char eev[TGT_MAX_LIST][64];
    if (parse_steps_list(lists[3] ? lists[3] : "1,2,3,4,6,8,12,16,24,32", steps, &nsteps) ||
        parse_steps_list(exit_s ? exit_s : "8,16,32", t.exit_steps, &t.nexit)) {
        cli_errorf("calibrate: bad --steps or --exit-steps list (whole numbers, at most %d)", TGT_MAX_LIST);
        return 2;
    }
    t.nee = strcmp(ee_s, "off") ? cli_split_list(ee_s, eev, TGT_MAX_LIST) : 0;
    for (int i = 0; i < t.nee; i++) {
        snn_error err;
        if (snn_early_exit_parse(eev[i], &t.ee[i], &err) || t.ee[i].patience < 1) {
            cli_errorf("calibrate: bad early-exit rule '%s'", eev[i]);
            return 2;
        }
    }
    if (t.nee < 0) {
        cli_errorf("calibrate: bad --early-exit list");
        return 2;
    }
    /* fixed parts of the conversion: the flags, else the best mode's */
    static const char *const fixed[][2] = {{"synapse", "none"}, {"v0", "half"}, {"readout", "mean"}};
    for (size_t f = 0; f < sizeof fixed / sizeof fixed[0]; f++) {
        int has = 0;
        for (int i = 0; i < o->nset; i++) has |= snn_param_find(o->set[i].key) == snn_param_find(fixed[f][0]);
        if (!has && o->nset < CLI_MAX_SET) {
            snprintf(o->set[o->nset].key, sizeof o->set[0].key, "%s", fixed[f][0]);
            snprintf(o->set[o->nset].val, sizeof o->set[0].val, "%s", fixed[f][1]);
            o->nset++;
        }
    }
    int total = dataset_count(spec, "train");
    if (total < 2) {
        cli_errorf("calibrate: cannot read the training split of %s", spec);
        return 1;
    }
    if (nsel >= total || total - nsel < ncal) {
        cli_errorf("calibrate: %d training images cannot hold %d calibration and %d selection images apart",
                   total, ncal, nsel);
        return 2;
    }
    o->bias_correct = 0;   /* the grid decides where bias correction is measured */
    snn_convert_params base;
    snn_model *m = cli_model_load(model, o, &base, NULL);
    if (!m) return 1;
    t.m = m;
    snn_bias_table *stored = m->cfg.bias;
    m->cfg.bias = NULL;
    base.bias_correction = 0;
    eval_data sel = {0};
    int rc = 1, ncalimg = 0;
    float *cal = cli_calibration_images(m, o, &ncalimg);
    t.c = calloc(TGT_MAX_CANDS, sizeof *t.c);
    if (!cal || !t.c) goto out;
    int off = total - nsel;
    if (eval_data_load(m, spec, "train", off, nsel, o->input_scale, &sel)) goto out;
    t.sel = &sel;
    double ann = eval_ann(m, sel.inputs, sel.ds->labels, sel.ds->n, o->threads, NULL);
    if (ann < 0) goto out;
    double floor_acc = ann - loss / 100 - 1e-12;
    fprintf(stderr, "snnctl: thresholds from training images 0..%d, selection on training images %d..%d "
                    "(ANN %.2f%%), accuracy floor %.2f%%\n",
            ncalimg - 1, off, total - 1, 100 * ann, 100 * floor_acc);
    /* phase 1: the grid without bias correction */
    for (int a = 0; a < nval[0]; a++)
        for (int b = 0; b < nval[1]; b++) {
            snn_convert_params pn = base;
            snn_error err = {0};
            snn_convert_params_set(&pn, axes[1], vals[1][b], &err);
            if (snn_calibrate(m, cal, ncalimg, &pn, &err)) {
                cli_errorf("calibration failed: %s", err.msg);
                goto out;
            }
            snn_convert_params_set(&pn, axes[0], vals[0][a], &err);
            for (int c = 0; c < nval[2]; c++) {
                snn_convert_params p = pn;
                snn_convert_params_set(&p, axes[2], vals[2][c], &err);
                int before = t.nc;
                if (target_eval(&t, &p, steps, nsteps)) goto out;
                int bi = pick(&t, floor_acc);
                fprintf(stderr, "snnctl: %s %s scale %s: %d settings, best so far %s\n", vals[0][a], vals[1][b],
                        vals[2][c], t.nc - before, bi >= 0 ? "found" : "none");
            }
        }
    int nphase1 = t.nc;
    /* phase 2: bias correction on the promising cheaper uncorrected ones */
    int tries = 0;
    for (; tries < bias_tries;) {
        int best = pick(&t, floor_acc), k = -1;
        for (int i = 0; i < nphase1; i++) {
            cand *c = &t.c[i];
            if (c->ee.patience || c->pt.accuracy < floor_acc - 0.02 || c->tried) continue;
            if (best >= 0 && !cheaper(c, &t.c[best])) continue;
            if (k < 0 || cheaper(c, &t.c[k])) k = i;
        }
        if (k < 0) break;
        t.c[k].tried = 1;
        tries++;
        snn_convert_params p = t.c[k].p;
        int T = t.c[k].steps, before = t.nc;
        snn_bias_table *bt;
        if (cli_bias_measure(m, cal, ncalimg < o->bias_images ? ncalimg : o->bias_images, &p, T, 0, &bt))
            goto out;
        m->cfg.bias = bt; /* this candidate's, freed below (m's own is detached above) */
        p.bias_correction = 1;
        if (target_eval(&t, &p, &T, 1)) goto out;
        char conv[1024];
        snn_convert_params_format(&t.c[k].p, conv, sizeof conv);
        fprintf(stderr, "snnctl: bias correction at %d steps (%s): %.2f%% -> %.2f%%\n", T, conv,
                100 * t.c[k].pt.accuracy, 100 * t.c[before].pt.accuracy);
        snn_bias_table_free(m->cfg.bias);
        m->cfg.bias = NULL;
    }
    int best = pick(&t, floor_acc);
    printf("model %s: %d settings evaluated (%d with bias correction) on %d held-out training images\n",
           m->cfg.name, t.nc, t.nc - nphase1, sel.ds->n);
    if (best < 0) {
        int top = 0;
        for (int i = 1; i < t.nc; i++)
            if (t.c[i].pt.accuracy > t.c[top].pt.accuracy) top = i;
        print_cand("most accurate", &t.c[top], ann);
        cli_errorf("calibrate: no setting of the grid is within %g points of the ANN (%.2f%%); nothing written",
                   loss, 100 * ann);
        goto out;
    }
    cand *c = &t.c[best];
    print_cand("chosen", c, ann);
    if (!(c->pt.loihi_j < c->pt.ann_loihi_j))
        printf("note: the chosen setting is not cheaper than the ANN on loihi\n");
    rc = 0;
    if (dry) goto out;
    /* the record of how it was chosen */
    json_t *rec = json_object(), *fig = json_object();
    char cmd[4096];
    size_t k = (size_t)snprintf(cmd, sizeof cmd, "snnctl");
    for (int i = 0; i < argc && k < sizeof cmd; i++)
        k += (size_t)snprintf(cmd + k, sizeof cmd - k, " %s", argv[i]);
    char date[32];
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    json_object_set_new(rec, "command", json_string(cmd));
    json_object_set_new(rec, "date", json_string(date));
    json_object_set_new(rec, "target_loss_points", json_real(loss));
    json_object_set_new(rec, "threshold_images", json_integer(ncalimg));
    json_object_set_new(rec, "selection", json_pack("{s:s, s:s, s:i, s:i}", "dataset", spec, "split", "train",
                                                    "offset", off, "images", sel.ds->n));
    json_object_set_new(rec, "settings_evaluated", json_integer(t.nc));
    json_object_set_new(fig, "ann_accuracy", json_real(ann));
    json_object_set_new(fig, "snn_accuracy", json_real(c->pt.accuracy));
    json_object_set_new(fig, "mean_steps", json_real(c->pt.mean_steps));
    json_object_set_new(fig, "spikes_per_image", json_real(c->pt.spikes));
    json_object_set_new(fig, "loihi_joules", json_real(c->pt.loihi_j));
    json_object_set_new(fig, "ann_loihi_joules", json_real(c->pt.ann_loihi_j));
    json_object_set_new(rec, "selection_figures", fig);
    char *rtext = json_dumps(rec, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    json_decref(rec);
    snn_model_config cfg = m->cfg;
    cfg.convert = c->p;
    cfg.steps = c->steps;
    if (cfg.max_steps < c->steps) cfg.max_steps = c->steps;
    cfg.early_exit = c->ee;
    cfg.bias = c->bias;
    if (c->bias) cfg.overridable |= SNN_OVR_BIAS_CORRECTION;
    cfg.calibration = rtext;
    snn_error err = {0};
    if (!rtext || snn_model_config_save(&cfg, model, &err)) {
        cli_errorf("%s", rtext ? err.msg : "out of memory");
        rc = 1;
    } else {
        printf("written to %s/config.json\n", model);
    }
    free(rtext);
out:
    for (int i = 0; t.c && i < t.nc; i++) snn_bias_table_free(t.c[i].bias);
    free(t.c);
    free(cal);
    eval_data_free(&sel);
    snn_bias_table_free(m->cfg.bias);
    m->cfg.bias = stored;
    snn_model_free(m);
    return rc;
}

int cmd_calibrate(int argc, char **argv)
{
    cli_opts o;
    cli_opts_init(&o);
    const char *model = NULL, *spec = NULL, *target = NULL, *ee_s = "4", *exit_s = NULL;
    const char *lists[4] = {NULL};   /* --target's neuron, normalize, scale_firing_rates, steps */
    static const char *const list_flags[4] = {"--neuron", "--normalize", "--scale-firing-rates", "--steps"};
    int n = 1000, dry = 0, nsel = 500, bias_tries = 8;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--target")) o.bias_images = 64;   /* per tried setting: fewer */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--target")) target = argv[i + 1];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int lf = -1;
        for (int k = 0; k < 4 && target; k++)
            if (!strcmp(a, list_flags[k])) lf = k;
        if (cli_is_help(a)) {
            fputs(CALIBRATE_USAGE, stdout);
            return 0;
        } else if (i + 1 < argc && lf >= 0) lists[lf] = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--dataset")) spec = argv[++i];
        else if (i + 1 < argc && !strcmp(a, "--limit")) n = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(a, "--target")) i++;
        else if (i + 1 < argc && target && !strcmp(a, "--select")) nsel = atoi(argv[++i]);
        else if (i + 1 < argc && target && !strcmp(a, "--bias-tries")) bias_tries = atoi(argv[++i]);
        else if (i + 1 < argc && target && !strcmp(a, "--early-exit")) ee_s = argv[++i];
        else if (i + 1 < argc && target && !strcmp(a, "--exit-steps")) exit_s = argv[++i];
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
    if (target) {
        char *end;
        double loss = strtod(target, &end);
        if (*end || !(loss >= 0 && loss <= 100) || nsel < 1 || bias_tries < 0) {
            cli_errorf("calibrate: --target LOSS is accuracy points in [0, 100]; --select N >= 1; "
                       "--bias-tries N >= 0");
            return 2;
        }
        return calibrate_target(model, spec, n, nsel, loss, &o, lists, ee_s, exit_s, bias_tries, dry, argc, argv);
    }
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
