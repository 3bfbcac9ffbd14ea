/* params.c: the one table of run options (params.h) and the parsers and
 * formatters behind its rows.
 *
 * DESIGN: a row's parse() is the only code that reads its option's text, so
 * bounds and messages cannot drift between snnctl, config.json and the
 * daemon; its format() writes text that parse() reads back to the same
 * value, which makes the formatted conversion an exact identity of a net
 * (logs, answers, snnctl --json).
 */
#include "snn/params.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

/* Strict number: the whole string, finite. */
static int parse_double(const char *s, double *out)
{
    char *end;
    if (!s || !*s) return -1;
    errno = 0;
    double v = strtod(s, &end);
    while (*end && isspace((unsigned char)*end)) end++;
    if (errno || *end || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !*s) return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

/* "scale-firing-rates" == "scale_firing_rates" */
static int name_is(const char *name, const char *want)
{
    for (; *name && *want; name++, want++)
        if ((*name == '-' ? '_' : *name) != *want) return 0;
    return !*name && !*want;
}

/* "20" | "20,conv1=10,conv2=5" | "conv1=10" into default + per-layer list. */
static snn_err parse_layer_values(const char *value, float *def, int *n, snn_layer_value *list,
                                  const char *key, double lo, double hi, snn_error *err)
{
    char buf[1024];
    int count = 0;
    float d = *def;
    if (strlen(value) >= sizeof buf) return snn_error_set(err, SNN_EINVALID, "%s: value too long", key);
    strcpy(buf, value);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        char *eq = strchr(tok, '=');
        double v;
        if (!eq) {
            if (parse_double(tok, &v) || !(v > lo && v <= hi))
                return snn_error_set(err, SNN_EINVALID, "%s: '%s' is not a number in (%g, %g]", key, tok,
                                     lo, hi);
            d = (float)v;
            continue;
        }
        *eq = '\0';
        if (!*tok || strlen(tok) >= SNN_LAYER_NAME_MAX)
            return snn_error_set(err, SNN_EINVALID, "%s: bad layer name '%s'", key, tok);
        if (parse_double(eq + 1, &v) || !(v > lo && v <= hi))
            return snn_error_set(err, SNN_EINVALID, "%s: layer %s: '%s' is not a number in (%g, %g]", key,
                                 tok, eq + 1, lo, hi);
        if (count >= SNN_MAX_LAYER_PARAMS)
            return snn_error_set(err, SNN_EINVALID, "%s: more than %d layers", key, SNN_MAX_LAYER_PARAMS);
        snprintf(list[count].layer, SNN_LAYER_NAME_MAX, "%s", tok);
        list[count].value = (float)v;
        count++;
    }
    *def = d;
    *n = count;
    return SNN_OK;
}

/* The shortest of %.6g / %.9g that reads back as the same float, and of
 * %g / %.17g for doubles: readable, and exact. */
static const char *num_f(float v, char *b, size_t n)
{
    snprintf(b, n, "%.6g", v);
    if (strtof(b, NULL) != v) snprintf(b, n, "%.9g", v);
    return b;
}
static const char *num_d(double v, char *b, size_t n)
{
    snprintf(b, n, "%g", v);
    if (strtod(b, NULL) != v) snprintf(b, n, "%.17g", v);
    return b;
}

/* "[default,]layer=v,layer=v" into buf. */
static void format_layer_values(char *buf, size_t len, const float *def, int n, const snn_layer_value *l)
{
    char x[32];
    size_t off = 0;
    buf[0] = '\0';
    if (def) off += (size_t)snprintf(buf, len, "%s", num_f(*def, x, sizeof x));
    for (int i = 0; i < n && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s=%s", off ? "," : "", l[i].layer,
                                num_f(l[i].value, x, sizeof x));
}

/* -------------------------------------------------------------- rows */

static snn_err p_steps(snn_run_params *p, const char *v, snn_error *err)
{
    long n;
    if (parse_long(v, 1, 100000, &n))
        return snn_error_set(err, SNN_EINVALID, "steps: '%s' is not a whole number in [1, 100000]", v);
    p->steps = (int)n;
    return SNN_OK;
}
static void f_steps(const snn_run_params *p, char *b, size_t n) { snprintf(b, n, "%d", p->steps); }

static snn_err p_dt(snn_run_params *p, const char *v, snn_error *err)
{
    double d;
    if (parse_double(v, &d) || !(d > 0 && d <= 1))
        return snn_error_set(err, SNN_EINVALID, "dt: '%s' is not in (0, 1] seconds", v);
    p->convert.dt = d;
    return SNN_OK;
}
static void f_dt(const snn_run_params *p, char *b, size_t n) { num_d(p->convert.dt, b, n); }

static snn_err p_neuron(snn_run_params *p, const char *v, snn_error *err)
{
    if (!strcmp(v, "spiking-relu") || !strcmp(v, "spiking_relu")) p->convert.neuron = SNN_NEURON_SPIKING_RELU;
    else if (!strcmp(v, "relu")) p->convert.neuron = SNN_NEURON_RELU;
    else if (!strcmp(v, "if")) p->convert.neuron = SNN_NEURON_IF;
    else return snn_error_set(err, SNN_EINVALID, "neuron: '%s' is not spiking-relu, if or relu", v);
    return SNN_OK;
}
static void f_neuron(const snn_run_params *p, char *b, size_t n)
{
    snprintf(b, n, "%s", snn_neuron_type_name(p->convert.neuron));
}

static snn_err p_synapse(snn_run_params *p, const char *v, snn_error *err)
{
    double d;
    if (!strcmp(v, "none") || !strcmp(v, "null") || !strcmp(v, "0")) {
        p->convert.synapse = 0;
        return SNN_OK;
    }
    if (parse_double(v, &d) || !(d > 0 && d <= 10))
        return snn_error_set(err, SNN_EINVALID, "synapse: '%s' is not none or a time constant in (0, 10] s", v);
    p->convert.synapse = d;
    return SNN_OK;
}
static void f_synapse(const snn_run_params *p, char *b, size_t n)
{
    if (p->convert.synapse > 0) num_d(p->convert.synapse, b, n);
    else snprintf(b, n, "none");
}

static snn_err p_scale(snn_run_params *p, const char *v, snn_error *err)
{
    snn_layer_value list[SNN_MAX_LAYER_PARAMS];
    float def = p->convert.scale;
    int n = 0;
    snn_err e = parse_layer_values(v, &def, &n, list, "scale_firing_rates", 0, 1e6, err);
    if (e) return e;
    p->convert.scale = def;
    p->convert.nlayer_scale = n;
    memcpy(p->convert.layer_scale, list, sizeof list[0] * (size_t)n);
    return SNN_OK;
}
static void f_scale(const snn_run_params *p, char *b, size_t n)
{
    format_layer_values(b, n, &p->convert.scale, p->convert.nlayer_scale, p->convert.layer_scale);
}

static snn_err p_v0(snn_run_params *p, const char *v, snn_error *err)
{
    if (!strcmp(v, "zero")) p->convert.v0 = SNN_V0_ZERO;
    else if (!strcmp(v, "half")) p->convert.v0 = SNN_V0_HALF;
    else if (!strncmp(v, "uniform", 7) && (!v[7] || v[7] == ':')) {
        unsigned long long seed = 0;
        if (v[7] == ':') {
            char *end;
            errno = 0;
            seed = strtoull(v + 8, &end, 10);
            if (errno || end == v + 8 || *end || v[8] == '-')
                return snn_error_set(err, SNN_EINVALID, "v0: '%s': seed must be a whole number", v);
        }
        p->convert.v0 = SNN_V0_UNIFORM;
        p->convert.v0_seed = seed;
    } else {
        return snn_error_set(err, SNN_EINVALID, "v0: '%s' is not zero, half or uniform:SEED", v);
    }
    return SNN_OK;
}
static void f_v0(const snn_run_params *p, char *b, size_t n)
{
    if (p->convert.v0 == SNN_V0_UNIFORM) snprintf(b, n, "uniform:%llu", (unsigned long long)p->convert.v0_seed);
    else snprintf(b, n, "%s", p->convert.v0 == SNN_V0_HALF ? "half" : "zero");
}

static snn_err p_normalize(snn_run_params *p, const char *v, snn_error *err)
{
    if (!strcmp(v, "none")) p->convert.normalize = SNN_NORM_NONE;
    else if (!strcmp(v, "max")) p->convert.normalize = SNN_NORM_MAX;
    else if (!strcmp(v, "ceiling")) p->convert.normalize = SNN_NORM_CEILING;
    else if (!strncmp(v, "percentile", 10) && (!v[10] || v[10] == ':')) {
        double pc = 99.9;
        if (v[10] == ':' && (parse_double(v + 11, &pc) || !(pc > 0 && pc <= 100)))
            return snn_error_set(err, SNN_EINVALID, "normalize: percentile must be in (0, 100]: '%s'", v);
        p->convert.normalize = SNN_NORM_PERCENTILE;
        p->convert.percentile = (float)pc;
    } else {
        return snn_error_set(err, SNN_EINVALID, "normalize: '%s' is not none, max, percentile:P or ceiling", v);
    }
    return SNN_OK;
}
static void f_normalize(const snn_run_params *p, char *b, size_t n)
{
    char x[32];
    if (p->convert.normalize == SNN_NORM_PERCENTILE)
        snprintf(b, n, "percentile:%s", num_f(p->convert.percentile, x, sizeof x));
    else snprintf(b, n, "%s", snn_norm_name(p->convert.normalize));
}

static snn_err p_thresholds(snn_run_params *p, const char *v, snn_error *err)
{
    snn_layer_value list[SNN_MAX_LAYER_PARAMS];
    float def = 0;
    int n = 0;
    snn_err e = parse_layer_values(v, &def, &n, list, "thresholds", 0, 1e9, err);
    if (e) return e;
    if (def != 0)
        return snn_error_set(err, SNN_EINVALID, "thresholds: give LAYER=X pairs, not a default ('%s')", v);
    p->convert.nthresholds = n;
    memcpy(p->convert.thresholds, list, sizeof list[0] * (size_t)n);
    return SNN_OK;
}
static void f_thresholds(const snn_run_params *p, char *b, size_t n)
{
    format_layer_values(b, n, NULL, p->convert.nthresholds, p->convert.thresholds);
}

static snn_err p_readout(snn_run_params *p, const char *v, snn_error *err)
{
    if (!strcmp(v, "filtered")) p->convert.readout = SNN_READOUT_FILTERED;
    else if (!strcmp(v, "mean")) p->convert.readout = SNN_READOUT_MEAN;
    else return snn_error_set(err, SNN_EINVALID, "readout: '%s' is not filtered or mean", v);
    return SNN_OK;
}
static void f_readout(const snn_run_params *p, char *b, size_t n)
{
    snprintf(b, n, "%s", p->convert.readout == SNN_READOUT_MEAN ? "mean" : "filtered");
}

static snn_err p_maxpool(snn_run_params *p, const char *v, snn_error *err)
{
    if (!strcmp(v, "gated")) p->convert.maxpool = SNN_MAXPOOL_GATED;
    else if (!strcmp(v, "avg")) p->convert.maxpool = SNN_MAXPOOL_AVG;
    else return snn_error_set(err, SNN_EINVALID, "maxpool: '%s' is not gated or avg (nengo's max_to_avg_pool)", v);
    return SNN_OK;
}
static void f_maxpool(const snn_run_params *p, char *b, size_t n)
{
    snprintf(b, n, "%s", p->convert.maxpool == SNN_MAXPOOL_AVG ? "avg" : "");
}

static snn_err p_bias_correction(snn_run_params *p, const char *v, snn_error *err)
{
    if (!strcmp(v, "on")) p->convert.bias_correction = 1;
    else if (!strcmp(v, "off")) p->convert.bias_correction = 0;
    else return snn_error_set(err, SNN_EINVALID, "bias_correction: '%s' is not on or off", v);
    return SNN_OK;
}
static void f_bias_correction(const snn_run_params *p, char *b, size_t n)
{
    snprintf(b, n, "%s", p->convert.bias_correction ? "on" : "");
}

snn_err snn_early_exit_parse(const char *s, snn_early_exit *ee, snn_error *err)
{
    char buf[128], *f[4] = {NULL};
    int nf = 0;
    if (!s || strlen(s) >= sizeof buf)
        return snn_error_set(err, SNN_EINVALID, "early_exit: '%.40s' is not K[:P[:M[:S]]] or off", s ? s : "");
    if (!strcmp(s, "off") || !strcmp(s, "none") || !strcmp(s, "0")) {
        memset(ee, 0, sizeof *ee);
        return SNN_OK;
    }
    strcpy(buf, s);
    for (char *p = buf; p && nf < 4; nf++) {
        f[nf] = p;
        p = strchr(p, ':');
        if (p) *p++ = '\0';
        if (nf == 3 && p)
            return snn_error_set(err, SNN_EINVALID, "early_exit: '%s' has more than 4 fields", s);
    }
    snn_early_exit e = {0};
    long n;
    double d;
    if (parse_long(f[0], 1, 100000, &n))
        return snn_error_set(err, SNN_EINVALID,
                             "early_exit: patience '%s' is not a whole number in [1, 100000] (K[:P[:M[:S]]] or off)",
                             f[0]);
    e.patience = (int)n;
    if (f[1]) {
        if (parse_double(f[1], &d) || d < 0 || d > 1)
            return snn_error_set(err, SNN_EINVALID, "early_exit: min_prob '%s' is not in [0, 1]", f[1]);
        e.min_prob = (float)d;
    }
    if (f[2]) {
        if (parse_double(f[2], &d) || d < 0 || d > 1)
            return snn_error_set(err, SNN_EINVALID, "early_exit: min_margin '%s' is not in [0, 1]", f[2]);
        e.min_margin = (float)d;
    }
    if (f[3]) {
        if (parse_long(f[3], 0, 100000, &n))
            return snn_error_set(err, SNN_EINVALID, "early_exit: min_steps '%s' is not a whole number in [0, 100000]",
                                 f[3]);
        e.min_steps = (int)n;
    }
    *ee = e;
    return SNN_OK;
}

static snn_err p_early_exit(snn_run_params *p, const char *v, snn_error *err)
{
    return snn_early_exit_parse(v, &p->early_exit, err);
}
static void f_early_exit(const snn_run_params *p, char *b, size_t n)
{
    const snn_early_exit *e = &p->early_exit;
    char x[32], y[32];
    if (!e->patience) snprintf(b, n, "off");
    else snprintf(b, n, "%d:%s:%s:%d", e->patience, num_f(e->min_prob, x, sizeof x),
                  num_f(e->min_margin, y, sizeof y), e->min_steps);
}

/* early_exit's fields on their own (config.json's early_exit object, and
 * the patience=... query keys). Setting one turns nothing else on. */
static snn_err p_patience(snn_run_params *p, const char *v, snn_error *err)
{
    long n;
    if (parse_long(v, 0, 100000, &n))
        return snn_error_set(err, SNN_EINVALID, "patience: '%s' is not a whole number in [0, 100000]", v);
    p->early_exit.patience = (int)n;
    return SNN_OK;
}
static void f_patience(const snn_run_params *p, char *b, size_t n) { snprintf(b, n, "%d", p->early_exit.patience); }

static snn_err p_min_steps(snn_run_params *p, const char *v, snn_error *err)
{
    long n;
    if (parse_long(v, 0, 100000, &n))
        return snn_error_set(err, SNN_EINVALID, "min_steps: '%s' is not a whole number in [0, 100000]", v);
    p->early_exit.min_steps = (int)n;
    return SNN_OK;
}
static void f_min_steps(const snn_run_params *p, char *b, size_t n) { snprintf(b, n, "%d", p->early_exit.min_steps); }

static snn_err p_prob(float *dst, const char *name, const char *v, snn_error *err)
{
    double d;
    if (parse_double(v, &d) || d < 0 || d > 1)
        return snn_error_set(err, SNN_EINVALID, "%s: '%s' is not a number in [0, 1]", name, v);
    *dst = (float)d;
    return SNN_OK;
}
static snn_err p_min_prob(snn_run_params *p, const char *v, snn_error *err)
{
    return p_prob(&p->early_exit.min_prob, "min_prob", v, err);
}
static void f_min_prob(const snn_run_params *p, char *b, size_t n) { num_f(p->early_exit.min_prob, b, n); }
static snn_err p_min_margin(snn_run_params *p, const char *v, snn_error *err)
{
    return p_prob(&p->early_exit.min_margin, "min_margin", v, err);
}
static void f_min_margin(const snn_run_params *p, char *b, size_t n) { num_f(p->early_exit.min_margin, b, n); }

#define CONV SNN_PARAM_CONVERSION
#define FIELD SNN_PARAM_FIELD

static const snn_param params[] = {
    {"steps", "N", "timesteps to simulate (nengo n_steps)", SNN_OVR_STEPS, 0, p_steps, f_steps},
    {"neuron", "spiking-relu|if|relu",
     "nengo's spiking ReLU, integrate-and-fire on the signed current, or rate neurons", SNN_OVR_NEURON, CONV,
     p_neuron, f_neuron},
    {"dt", "S", "seconds per step (0.001)", SNN_OVR_DT, CONV, p_dt, f_dt},
    {"synapse", "S|none", "low-pass time constant on neuron-to-neuron paths (nengo synapse)", SNN_OVR_SYNAPSE,
     CONV, p_synapse, f_synapse},
    {"scale_firing_rates", "X[,LAYER=X...]", "gain s, amplitude 1/s, per layer optional", SNN_OVR_SCALE, CONV,
     p_scale, f_scale},
    {"v0", "zero|half|uniform:SEED", "initial membrane voltage", SNN_OVR_V0, CONV, p_v0, f_v0},
    {"normalize", "none|max|percentile:P|ceiling", "data-based thresholds (Rueckauer 2017), or Clip ceilings", SNN_OVR_NORMALIZE, CONV,
     p_normalize, f_normalize},
    {"thresholds", "LAYER=X[,...]", "calibrated activation per spike of each neuron layer (snnctl calibrate)",
     0, CONV, p_thresholds, f_thresholds},
    {"readout", "filtered|mean", "softmax of the filtered output, or of its running mean", SNN_OVR_READOUT,
     CONV, p_readout, f_readout},
    {"maxpool", "gated|avg", "MaxPool as a spiking gate, or nengo's max_to_avg_pool (another function)",
     SNN_OVR_MAXPOOL, CONV, p_maxpool, f_maxpool},
    {"bias_correction", "on|off",
     "add the per-channel offsets stored by snnctl calibrate --bias-correct (Li et al. 2021)",
     SNN_OVR_BIAS_CORRECTION, CONV, p_bias_correction, f_bias_correction},
    {"early_exit", "K[:P[:M[:S]]]|off",
     "stop when the top class held K steps (prob >= P, margin >= M, not before step S)", SNN_OVR_EARLY_EXIT, 0,
     p_early_exit, f_early_exit},
    {"patience", "K", "early_exit's K", SNN_OVR_EARLY_EXIT, FIELD, p_patience, f_patience},
    {"min_prob", "P", "early_exit's P", SNN_OVR_EARLY_EXIT, FIELD, p_min_prob, f_min_prob},
    {"min_margin", "M", "early_exit's M", SNN_OVR_EARLY_EXIT, FIELD, p_min_margin, f_min_margin},
    {"min_steps", "S", "early_exit's S", SNN_OVR_EARLY_EXIT, FIELD, p_min_steps, f_min_steps},
};
#define NPARAMS ((int)(sizeof params / sizeof params[0]))

/* Names read as another row's (the spelling of an earlier release). */
static const struct {
    const char *alias, *name;
} aliases[] = {{"max_pool", "maxpool"}};

int snn_params_count(void) { return NPARAMS; }
const snn_param *snn_param_at(int i) { return i >= 0 && i < NPARAMS ? &params[i] : NULL; }

const snn_param *snn_param_find(const char *name)
{
    if (!name) return NULL;
    for (size_t a = 0; a < sizeof aliases / sizeof aliases[0]; a++)
        if (name_is(name, aliases[a].alias)) name = aliases[a].name;
    for (int i = 0; i < NPARAMS; i++)
        if (name_is(name, params[i].name)) return &params[i];
    return NULL;
}

uint32_t snn_override_bit(const char *name)
{
    const snn_param *r = snn_param_find(name);
    return r ? r->override_bit : 0;
}

void snn_run_params_init(snn_run_params *p)
{
    memset(p, 0, sizeof *p);
    snn_convert_params_init(&p->convert);
    p->steps = 30;
}

void snn_run_params_from_model(snn_run_params *p, const snn_model_config *cfg)
{
    snn_run_params_init(p);
    p->convert = cfg->convert;
    if (cfg->steps > 0) p->steps = cfg->steps;
    p->early_exit = cfg->early_exit;
}

snn_err snn_params_set(snn_run_params *p, const char *name, const char *value, snn_error *err)
{
    const snn_param *r = snn_param_find(name);
    if (!r) return snn_error_set(err, SNN_EINVALID, "unknown option '%.60s'", name ? name : "");
    if (!value) return snn_error_set(err, SNN_EINVALID, "%s: missing value", r->name);
    return r->parse(p, value, err);
}

snn_err snn_params_override(snn_run_params *p, uint32_t allowed, const char *name, const char *value,
                            snn_error *err)
{
    const snn_param *r = snn_param_find(name);
    if (!r) return snn_error_set(err, SNN_EINVALID, "unknown option '%.60s'", name ? name : "");
    if (!r->override_bit)
        return snn_error_set(err, SNN_EINVALID, "%s is not a per-request option", r->name);
    if (!(allowed & r->override_bit))
        return snn_error_set(err, SNN_EINVALID, "the model does not allow overriding %s", r->name);
    snn_run_params next = *p;
    snn_err e = snn_params_set(&next, name, value, err);
    if (e) return e;
    const snn_convert_params *was = &p->convert, *now = &next.convert;
    if (r->parse == p_normalize && now->normalize == SNN_NORM_NONE) {
        next.convert.nthresholds = 0;   /* unused by normalize=none: not part of what runs */
    } else if (r->parse == p_normalize && now->normalize == SNN_NORM_CEILING) {
        /* thresholds from the graph's Clip ceilings; a layer without one
         * makes the conversion fail with its name */
    } else if (r->parse == p_normalize &&
               (now->normalize != was->normalize ||
                (now->normalize == SNN_NORM_PERCENTILE && now->percentile != was->percentile) ||
                was->nthresholds == 0)) {
        /* calibrated thresholds hold for the normalisation they were made for */
        char want[32], have[32];
        f_normalize(&next, want, sizeof want);
        f_normalize(p, have, sizeof have);
        if (was->normalize == SNN_NORM_NONE || was->nthresholds == 0)
            return snn_error_set(err, SNN_EINVALID,
                                 "normalize=%s cannot apply: no thresholds are calibrated for it "
                                 "(snnctl calibrate); normalize=none is possible", want);
        return snn_error_set(err, SNN_EINVALID,
                             "normalize=%s cannot apply: the thresholds are calibrated for normalize=%s only "
                             "(snnctl calibrate makes others); send normalize=%s or none", want, have, have);
    }
    *p = next;
    return SNN_OK;
}
