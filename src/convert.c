/* convert.c: conversion parameters: defaults, the one string parser shared
 * by flags, config files and request overrides, and formatting. */
#include "snn/convert.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void snn_convert_params_init(snn_convert_params *p)
{
    memset(p, 0, sizeof *p);
    p->neuron = SNN_NEURON_SPIKING_RELU;
    p->dt = 0.001;
    p->synapse = 0.005;
    p->scale = 1.0f;
    p->v0 = SNN_V0_ZERO;
    p->normalize = SNN_NORM_NONE;
    p->percentile = 99.9f;
    p->readout = SNN_READOUT_FILTERED;
    p->maxpool = SNN_MAXPOOL_GATED;
}

const char *snn_neuron_type_name(snn_neuron_type t)
{
    return t == SNN_NEURON_RELU ? "relu" : "spiking-relu";
}

/* Strict number parsing: the whole string, finite. */
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

static int key_is(const char *key, const char *want)
{
    /* "scale-firing-rates" == "scale_firing_rates" */
    for (; *key && *want; key++, want++) {
        char a = *key == '-' ? '_' : *key;
        if (a != *want) return 0;
    }
    return *key == '\0' && *want == '\0';
}

/* "20" | "20,conv1=10,conv2=5" | "conv1=10" into default + per layer list. */
static snn_err parse_layer_values(const char *value, float *def, int *n,
                                  snn_layer_value *list, const char *key,
                                  double lo, double hi, snn_error *err)
{
    char buf[1024];
    int count = 0;
    float d = *def;
    if (strlen(value) >= sizeof buf)
        return snn_error_set(err, SNN_EINVALID, "%s: value too long", key);
    strcpy(buf, value);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        while (isspace((unsigned char)*tok)) tok++;
        char *eq = strchr(tok, '=');
        double v;
        if (!eq) {
            if (parse_double(tok, &v) || !(v > lo && v <= hi))
                return snn_error_set(err, SNN_EINVALID,
                                     "%s: '%s' is not a number in (%g, %g]", key, tok, lo, hi);
            d = (float)v;
            continue;
        }
        *eq = '\0';
        if (!*tok || strlen(tok) >= SNN_LAYER_NAME_MAX)
            return snn_error_set(err, SNN_EINVALID, "%s: bad layer name '%s'", key, tok);
        if (parse_double(eq + 1, &v) || !(v > lo && v <= hi))
            return snn_error_set(err, SNN_EINVALID,
                                 "%s: layer %s: '%s' is not a number in (%g, %g]", key, tok,
                                 eq + 1, lo, hi);
        if (count >= SNN_MAX_LAYER_PARAMS)
            return snn_error_set(err, SNN_EINVALID, "%s: more than %d layers", key,
                                 SNN_MAX_LAYER_PARAMS);
        snprintf(list[count].layer, SNN_LAYER_NAME_MAX, "%s", tok);
        list[count].value = (float)v;
        count++;
    }
    *def = d;
    *n = count;
    return SNN_OK;
}

snn_err snn_convert_params_set(snn_convert_params *p, const char *key,
                               const char *value, snn_error *err)
{
    double v;
    if (!key || !value) return snn_error_set(err, SNN_EINVALID, "missing key or value");
    if (key_is(key, "neuron")) {
        if (!strcmp(value, "spiking-relu") || !strcmp(value, "spiking_relu"))
            p->neuron = SNN_NEURON_SPIKING_RELU;
        else if (!strcmp(value, "relu"))
            p->neuron = SNN_NEURON_RELU;
        else
            return snn_error_set(err, SNN_EINVALID,
                                 "neuron: '%s' is not spiking-relu or relu", value);
        return SNN_OK;
    }
    if (key_is(key, "dt")) {
        if (parse_double(value, &v) || !(v > 0 && v <= 1))
            return snn_error_set(err, SNN_EINVALID, "dt: '%s' is not in (0, 1] seconds", value);
        p->dt = v;
        return SNN_OK;
    }
    if (key_is(key, "synapse")) {
        if (!strcmp(value, "none") || !strcmp(value, "null") || !strcmp(value, "0")) {
            p->synapse = 0;
            return SNN_OK;
        }
        if (parse_double(value, &v) || !(v > 0 && v <= 10))
            return snn_error_set(err, SNN_EINVALID,
                                 "synapse: '%s' is not none or a time constant in (0, 10] s",
                                 value);
        p->synapse = v;
        return SNN_OK;
    }
    if (key_is(key, "scale_firing_rates")) {
        snn_layer_value list[SNN_MAX_LAYER_PARAMS];
        float def = p->scale;
        int n = 0;
        snn_err e = parse_layer_values(value, &def, &n, list, "scale_firing_rates", 0, 1e6, err);
        if (e) return e;
        p->scale = def;
        p->nlayer_scale = n;
        memcpy(p->layer_scale, list, sizeof list[0] * (size_t)n);
        return SNN_OK;
    }
    if (key_is(key, "thresholds")) {
        snn_layer_value list[SNN_MAX_LAYER_PARAMS];
        float def = 0;
        int n = 0;
        snn_err e = parse_layer_values(value, &def, &n, list, "thresholds", 0, 1e9, err);
        if (e) return e;
        p->nthresholds = n;
        memcpy(p->thresholds, list, sizeof list[0] * (size_t)n);
        return SNN_OK;
    }
    if (key_is(key, "v0")) {
        if (!strcmp(value, "zero")) p->v0 = SNN_V0_ZERO;
        else if (!strcmp(value, "half")) p->v0 = SNN_V0_HALF;
        else if (!strncmp(value, "uniform", 7)) {
            unsigned long long seed = 0;
            if (value[7] == ':') {
                char *end;
                errno = 0;
                seed = strtoull(value + 8, &end, 10);
                if (errno || end == value + 8 || *end)
                    return snn_error_set(err, SNN_EINVALID,
                                         "v0: '%s': seed must be a whole number", value);
            } else if (value[7]) {
                return snn_error_set(err, SNN_EINVALID,
                                     "v0: '%s' is not zero, half or uniform:SEED", value);
            }
            p->v0 = SNN_V0_UNIFORM;
            p->v0_seed = seed;
        } else {
            return snn_error_set(err, SNN_EINVALID,
                                 "v0: '%s' is not zero, half or uniform:SEED", value);
        }
        return SNN_OK;
    }
    if (key_is(key, "normalize")) {
        if (!strcmp(value, "none")) p->normalize = SNN_NORM_NONE;
        else if (!strcmp(value, "max")) p->normalize = SNN_NORM_MAX;
        else if (!strncmp(value, "percentile", 10)) {
            double pc = 99.9;
            if (value[10] == ':' && (parse_double(value + 11, &pc) || !(pc > 0 && pc <= 100)))
                return snn_error_set(err, SNN_EINVALID,
                                     "normalize: percentile must be in (0, 100]: '%s'", value);
            if (value[10] && value[10] != ':')
                return snn_error_set(err, SNN_EINVALID,
                                     "normalize: '%s' is not none, max or percentile:P", value);
            p->normalize = SNN_NORM_PERCENTILE;
            p->percentile = (float)pc;
        } else {
            return snn_error_set(err, SNN_EINVALID,
                                 "normalize: '%s' is not none, max or percentile:P", value);
        }
        return SNN_OK;
    }
    if (key_is(key, "readout")) {
        if (!strcmp(value, "filtered")) p->readout = SNN_READOUT_FILTERED;
        else if (!strcmp(value, "mean")) p->readout = SNN_READOUT_MEAN;
        else
            return snn_error_set(err, SNN_EINVALID, "readout: '%s' is not filtered or mean",
                                 value);
        return SNN_OK;
    }
    if (key_is(key, "maxpool") || key_is(key, "max_pool")) {
        if (!strcmp(value, "gated")) p->maxpool = SNN_MAXPOOL_GATED;
        else if (!strcmp(value, "avg")) p->maxpool = SNN_MAXPOOL_AVG;
        else
            return snn_error_set(err, SNN_EINVALID,
                                 "maxpool: '%s' is not gated or avg (nengo's max_to_avg_pool)",
                                 value);
        return SNN_OK;
    }
    return snn_error_set(err, SNN_EINVALID, "unknown conversion parameter '%s'", key);
}

/* The normalize mode as its option text ("none", "max", "percentile:P") in buf. */
static const char *norm_text(const snn_convert_params *p, char *buf, size_t len)
{
    if (p->normalize == SNN_NORM_PERCENTILE) snprintf(buf, len, "percentile:%g", p->percentile);
    else snprintf(buf, len, "%s", p->normalize == SNN_NORM_MAX ? "max" : "none");
    return buf;
}

snn_err snn_convert_params_override(snn_convert_params *p, const char *key, const char *value,
                                    snn_error *err)
{
    snn_convert_params next = *p;
    snn_err e = snn_convert_params_set(&next, key, value, err);
    if (e || !key_is(key, "normalize")) {
        if (!e) *p = next;
        return e;
    }
    if (next.normalize == SNN_NORM_NONE) {
        next.nthresholds = 0;   /* unused by normalize=none: not part of what runs */
    } else if (next.normalize != p->normalize ||
               (next.normalize == SNN_NORM_PERCENTILE && next.percentile != p->percentile) ||
               p->nthresholds == 0) {
        char want[32], have[32];
        norm_text(&next, want, sizeof want);
        if (p->normalize == SNN_NORM_NONE || p->nthresholds == 0)
            return snn_error_set(err, SNN_EINVALID,
                                 "normalize=%s cannot apply: no thresholds are calibrated for it "
                                 "(snnctl calibrate); normalize=none is possible",
                                 want);
        return snn_error_set(err, SNN_EINVALID,
                             "normalize=%s cannot apply: the thresholds are calibrated for "
                             "normalize=%s only (snnctl calibrate makes others); send "
                             "normalize=%s or none",
                             want, norm_text(p, have, sizeof have), have);
    }
    *p = next;
    return SNN_OK;
}

float snn_convert_params_layer_scale(const snn_convert_params *p, const char *layer)
{
    for (int i = 0; i < p->nlayer_scale; i++)
        if (!strcmp(p->layer_scale[i].layer, layer)) return p->layer_scale[i].value;
    return p->scale;
}

float snn_convert_params_layer_threshold(const snn_convert_params *p, const char *layer)
{
    for (int i = 0; i < p->nthresholds; i++)
        if (!strcmp(p->thresholds[i].layer, layer)) return p->thresholds[i].value;
    return 0;
}

int snn_convert_params_format(const snn_convert_params *p, char *buf, size_t len)
{
    size_t off = 0;
#define APPEND(...)                                                        \
    do {                                                                   \
        int n_ = snprintf(buf + off, off < len ? len - off : 0, __VA_ARGS__); \
        if (n_ > 0) off += (size_t)n_;                                     \
    } while (0)
    APPEND("neuron=%s dt=%g", snn_neuron_type_name(p->neuron), p->dt);
    if (p->synapse > 0) APPEND(" synapse=%g", p->synapse);
    else APPEND(" synapse=none");
    APPEND(" scale_firing_rates=%g", p->scale);
    for (int i = 0; i < p->nlayer_scale; i++)
        APPEND(",%s=%g", p->layer_scale[i].layer, p->layer_scale[i].value);
    if (p->v0 == SNN_V0_UNIFORM) APPEND(" v0=uniform:%llu", (unsigned long long)p->v0_seed);
    else APPEND(" v0=%s", p->v0 == SNN_V0_HALF ? "half" : "zero");
    if (p->normalize == SNN_NORM_MAX) APPEND(" normalize=max");
    else if (p->normalize == SNN_NORM_PERCENTILE) APPEND(" normalize=percentile:%g", p->percentile);
    else APPEND(" normalize=none");
    if (p->nthresholds) {
        APPEND(" thresholds=");
        for (int i = 0; i < p->nthresholds; i++)
            APPEND("%s%s=%.6g", i ? "," : "", p->thresholds[i].layer, p->thresholds[i].value);
    }
    APPEND(" readout=%s", p->readout == SNN_READOUT_MEAN ? "mean" : "filtered");
    if (p->maxpool == SNN_MAXPOOL_AVG) APPEND(" maxpool=avg");
#undef APPEND
    return (int)off;
}
