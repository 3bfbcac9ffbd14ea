/* convert.c: conversion parameters: defaults, per-layer lookups, equality,
 * and the conversion rows of the option table (params.c) applied to or
 * formatted from an snn_convert_params alone. */
#include "snn/convert.h"

#include <stdio.h>
#include <string.h>

#include "snn/params.h"

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
    return t == SNN_NEURON_RELU ? "relu" : t == SNN_NEURON_IF ? "if" : "spiking-relu";
}

const char *snn_norm_name(snn_norm_mode m)
{
    return m == SNN_NORM_MAX ? "max" : m == SNN_NORM_PERCENTILE ? "percentile"
           : m == SNN_NORM_CEILING ? "ceiling" : "none";
}

int snn_neuron_spikes(snn_neuron_type t) { return t != SNN_NEURON_RELU; }

snn_err snn_convert_params_set(snn_convert_params *p, const char *key, const char *value,
                               snn_error *err)
{
    const snn_param *r = snn_param_find(key);
    if (!r || !(r->flags & SNN_PARAM_CONVERSION))
        return snn_error_set(err, SNN_EINVALID, "unknown conversion parameter '%.60s'", key ? key : "");
    snn_run_params rp;
    snn_run_params_init(&rp);
    rp.convert = *p;
    snn_err e = snn_params_set(&rp, key, value, err);
    if (!e) *p = rp.convert;
    return e;
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
    snn_run_params rp;
    snn_run_params_init(&rp);
    rp.convert = *p;
    size_t off = 0;
    if (len) buf[0] = '\0';
    for (int i = 0; i < snn_params_count(); i++) {
        const snn_param *r = snn_param_at(i);
        char v[1024];
        if (!(r->flags & SNN_PARAM_CONVERSION)) continue;
        r->format(&rp, v, sizeof v);
        if (!v[0]) continue;   /* at a default formats omit */
        int n = snprintf(buf + off, off < len ? len - off : 0, "%s%s=%s", off ? " " : "", r->name, v);
        if (n > 0) off += (size_t)n;
    }
    return (int)off;
}

static int layer_values_equal(int n, const snn_layer_value *a, const snn_layer_value *b)
{
    for (int i = 0; i < n; i++)
        if (strcmp(a[i].layer, b[i].layer) || a[i].value != b[i].value) return 0;
    return 1;
}

int snn_convert_params_equal(const snn_convert_params *a, const snn_convert_params *b)
{
    return a->neuron == b->neuron && a->dt == b->dt && a->synapse == b->synapse && a->scale == b->scale &&
           a->nlayer_scale == b->nlayer_scale &&
           layer_values_equal(a->nlayer_scale, a->layer_scale, b->layer_scale) && a->v0 == b->v0 &&
           a->v0_seed == b->v0_seed && a->normalize == b->normalize &&
           (a->normalize != SNN_NORM_PERCENTILE || a->percentile == b->percentile) &&
           a->nthresholds == b->nthresholds &&
           layer_values_equal(a->nthresholds, a->thresholds, b->thresholds) &&
           a->readout == b->readout && a->maxpool == b->maxpool && a->bias_correction == b->bias_correction;
}
