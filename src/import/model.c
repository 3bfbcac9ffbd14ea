/* model.c: model directories (model.onnx + config.json): loading, the
 * config schema (documented in include/snn/model.h), saving calibrated
 * configs, and pixel preprocessing into the model's input tensor. */
#include "snn/model.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snn/image.h"
#include "snn/params.h"

#define CONFIG_MAX_BYTES (1 << 20)


static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

snn_bias_table *snn_bias_table_new(void) { return calloc(1, sizeof(snn_bias_table)); }

void snn_bias_table_free(snn_bias_table *t)
{
    if (!t) return;
    for (int i = 0; i < t->nlayers; i++) free(t->layers[i].offset);
    free(t);
}

snn_err snn_bias_table_add(snn_bias_table *t, const char *layer, const float *offset, int channels,
                           snn_error *err)
{
    if (t->nlayers >= SNN_MAX_LAYER_PARAMS)
        return snn_error_set(err, SNN_ELIMIT, "bias_correction: more than %d layers", SNN_MAX_LAYER_PARAMS);
    if (!layer[0] || strlen(layer) >= SNN_LAYER_NAME_MAX || channels < 1)
        return snn_error_set(err, SNN_EINVALID, "bias_correction: bad layer '%.60s'", layer);
    if (snn_bias_table_find(t, layer))
        return snn_error_set(err, SNN_EINVALID, "bias_correction: layer '%s' twice", layer);
    snn_bias_layer *L = &t->layers[t->nlayers];
    if (!(L->offset = malloc(sizeof(float) * (size_t)channels)))
        return snn_error_set(err, SNN_ENOMEM, "out of memory");
    memcpy(L->offset, offset, sizeof(float) * (size_t)channels);
    snprintf(L->layer, sizeof L->layer, "%s", layer);
    L->channels = channels;
    t->nlayers++;
    return SNN_OK;
}

snn_bias_table *snn_bias_table_copy(const snn_bias_table *t)
{
    snn_bias_table *c = snn_bias_table_new();
    if (!c) return NULL;
    c->steps = t->steps;
    c->images = t->images;
    memcpy(c->conversion, t->conversion, sizeof c->conversion);
    for (int i = 0; i < t->nlayers; i++)
        if (snn_bias_table_add(c, t->layers[i].layer, t->layers[i].offset, t->layers[i].channels, NULL)) {
            snn_bias_table_free(c);
            return NULL;
        }
    return c;
}

const snn_bias_layer *snn_bias_table_find(const snn_bias_table *t, const char *layer)
{
    for (int i = 0; t && i < t->nlayers; i++)
        if (!strcmp(t->layers[i].layer, layer)) return &t->layers[i];
    return NULL;
}

/* config.json's "bias_correction" block: {"steps", "images", "conversion",
 * "layers": {name: [offsets]}}, every key required. */
static snn_err parse_bias_table(snn_model_config *cfg, json_t *v, snn_error *err)
{
    static const char *const keys[] = {"steps", "images", "conversion", "layers", NULL};
    if (!json_is_object(v))
        return snn_error_set(err, SNN_EINVALID, "config: 'bias_correction' must be an object "
                             "(snnctl calibrate --bias-correct writes it)");
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        int ok = 0;
        for (const char *const *w = keys; *w && !ok; w++) ok = !strcmp(k, *w);
        if (!ok) return snn_error_set(err, SNN_EINVALID, "config: unknown key 'bias_correction.%.100s'", k);
    }
    json_t *steps = json_object_get(v, "steps"), *images = json_object_get(v, "images");
    json_t *conv = json_object_get(v, "conversion"), *layers = json_object_get(v, "layers");
    if (!json_is_integer(steps) || json_integer_value(steps) < 1 || json_integer_value(steps) > 100000 ||
        !json_is_integer(images) || json_integer_value(images) < 1)
        return snn_error_set(err, SNN_EINVALID,
                             "config: bias_correction.steps and .images must be positive whole numbers");
    if (!json_is_string(conv) || json_string_length(conv) >= sizeof cfg->bias->conversion)
        return snn_error_set(err, SNN_EINVALID, "config: bias_correction.conversion must be a string");
    if (!json_is_object(layers) || !json_object_size(layers))
        return snn_error_set(err, SNN_EINVALID,
                             "config: bias_correction.layers must be an object of per-channel offset arrays");
    snn_bias_table *t = snn_bias_table_new();
    if (!t) return snn_error_set(err, SNN_ENOMEM, "out of memory");
    t->steps = (int)json_integer_value(steps);
    t->images = (int)json_integer_value(images);
    snprintf(t->conversion, sizeof t->conversion, "%s", json_string_value(conv));
    snn_err e = SNN_OK;
    json_object_foreach(layers, k, x) {
        size_t n = json_is_array(x) ? json_array_size(x) : 0;
        if (!n || n > (1u << 24)) {
            e = snn_error_set(err, SNN_EINVALID, "config: bias_correction.layers.%.60s must be a non-empty "
                              "array of numbers", k);
            break;
        }
        float *off = malloc(sizeof(float) * n);
        if (!off) {
            e = snn_error_set(err, SNN_ENOMEM, "out of memory");
            break;
        }
        for (size_t i = 0; i < n && !e; i++) {
            json_t *y = json_array_get(x, i);
            if (!json_is_number(y) || !isfinite(json_number_value(y)))
                e = snn_error_set(err, SNN_EINVALID, "config: bias_correction.layers.%.60s[%zu] is not a number",
                                  k, i);
            else off[i] = (float)json_number_value(y);
        }
        snn_error e2;
        if (!e && snn_bias_table_add(t, k, off, (int)n, &e2))
            e = snn_error_set(err, e2.code, "config: %s", e2.msg);
        free(off);
        if (e) break;
    }
    if (e) {
        snn_bias_table_free(t);
        return e;
    }
    snn_bias_table_free(cfg->bias);
    cfg->bias = t;
    return SNN_OK;
}

static json_t *dump_bias_table(const snn_bias_table *t)
{
    json_t *o = json_object(), *layers = json_object();
    json_object_set_new(o, "steps", json_integer(t->steps));
    json_object_set_new(o, "images", json_integer(t->images));
    json_object_set_new(o, "conversion", json_string(t->conversion));
    for (int i = 0; i < t->nlayers; i++) {
        json_t *a = json_array();
        for (int c = 0; c < t->layers[i].channels; c++) json_array_append_new(a, json_real(t->layers[i].offset[c]));
        json_object_set_new(layers, t->layers[i].layer, a);
    }
    json_object_set_new(o, "layers", layers);
    return o;
}

void snn_model_config_deinit(snn_model_config *cfg)
{
    if (!cfg) return;
    snn_bias_table_free(cfg->bias);
    free(cfg->calibration);
    if (cfg->classes) {
        for (int i = 0; i < cfg->nclasses; i++) free(cfg->classes[i]);
        free(cfg->classes);
    }
    free(cfg->description);
    memset(cfg, 0, sizeof *cfg);
}

/* Defaults derived from the graph: input shape, classes "0".."N-1". */
static snn_err config_defaults(snn_model_config *cfg, const snn_graph *g, snn_error *err)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->name, sizeof cfg->name, "model");
    cfg->input_scale = 1.0f;
    for (int i = 0; i < 4; i++) cfg->std[i] = 1.0f;
    cfg->resize = SNN_RESIZE_BILINEAR;
    cfg->steps = 30;
    cfg->max_steps = 1000;
    cfg->layout = SNN_LAYOUT_NCHW;
    cfg->overridable = SNN_OVR_ALL;
    snn_convert_params_init(&cfg->convert);
    if (!g) return SNN_OK;
    const snn_tensor *in = &g->tensors[g->input];
    const snn_tensor *out = &g->tensors[g->output];
    if (in->ndim == 4) {
        cfg->in_c = (int)in->dims[1];
        cfg->in_h = (int)in->dims[2];
        cfg->in_w = (int)in->dims[3];
        /* A last dimension of 1 or 3 with a larger second one: NHWC. */
        if ((in->dims[3] == 1 || in->dims[3] == 3) && in->dims[1] > 4) {
            cfg->layout = SNN_LAYOUT_NHWC;
            cfg->in_h = (int)in->dims[1];
            cfg->in_w = (int)in->dims[2];
            cfg->in_c = (int)in->dims[3];
        }
    } else if (in->ndim == 3) {
        cfg->in_c = 1;
        cfg->in_h = (int)in->dims[1];
        cfg->in_w = (int)in->dims[2];
    } else if (in->ndim == 2) {
        cfg->in_c = 1;
        cfg->in_h = 1;
        cfg->in_w = (int)in->dims[1];
    } else {
        return snn_error_set(err, SNN_EUNSUPPORTED,
                             "input '%s' has %d dimensions; expected an image batch", in->name,
                             in->ndim);
    }
    int64_t nc = snn_tensor_item_elems(out);
    if (nc < 1 || nc > 100000)
        return snn_error_set(err, SNN_EUNSUPPORTED, "output '%s' has %lld classes", out->name,
                             (long long)nc);
    cfg->nclasses = (int)nc;
    cfg->classes = calloc((size_t)nc, sizeof *cfg->classes);
    if (!cfg->classes) return snn_error_set(err, SNN_ENOMEM, "out of memory");
    for (int i = 0; i < nc; i++) {
        char b[16];
        snprintf(b, sizeof b, "%d", i);
        if (!(cfg->classes[i] = xstrdup(b))) return snn_error_set(err, SNN_ENOMEM, "out of memory");
    }
    return SNN_OK;
}

/* Read a JSON value as a conversion-parameter string. */
static int json_param_string(json_t *v, char *buf, size_t len)
{
    if (json_is_string(v)) snprintf(buf, len, "%s", json_string_value(v));
    else if (json_is_integer(v)) snprintf(buf, len, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(buf, len, "%.17g", json_real_value(v));
    else if (json_is_null(v)) snprintf(buf, len, "none");
    else return -1;
    return 0;
}

static snn_err parse_conversion(snn_convert_params *p, json_t *conv, snn_error *err)
{
    const char *key;
    json_t *v;
    json_object_foreach(conv, key, v) {
        char buf[1024];
        if (!strcmp(key, "scale_firing_rates") && json_is_object(v)) {
            /* {"default": 20, "conv1": 10} */
            size_t off = 0;
            const char *lk;
            json_t *lv;
            buf[0] = '\0';
            json_object_foreach(v, lk, lv) {
                if (!json_is_number(lv))
                    return snn_error_set(err, SNN_EINVALID,
                                         "config: scale_firing_rates.%s must be a number", lk);
                int n = !strcmp(lk, "default")
                            ? snprintf(buf + off, sizeof buf - off, "%s%.9g", off ? "," : "",
                                       json_number_value(lv))
                            : snprintf(buf + off, sizeof buf - off, "%s%s=%.9g", off ? "," : "",
                                       lk, json_number_value(lv));
                if (n < 0 || (size_t)n >= sizeof buf - off)
                    return snn_error_set(err, SNN_EINVALID, "config: scale_firing_rates too long");
                off += (size_t)n;
            }
        } else if (!strcmp(key, "thresholds") && json_is_object(v)) {
            size_t off = 0;
            const char *lk;
            json_t *lv;
            buf[0] = '\0';
            json_object_foreach(v, lk, lv) {
                if (!json_is_number(lv))
                    return snn_error_set(err, SNN_EINVALID, "config: thresholds.%s must be a number",
                                         lk);
                int n = snprintf(buf + off, sizeof buf - off, "%s%s=%.9g", off ? "," : "", lk,
                                 json_number_value(lv));
                if (n < 0 || (size_t)n >= sizeof buf - off)
                    return snn_error_set(err, SNN_EINVALID, "config: thresholds too long");
                off += (size_t)n;
            }
            if (!off) continue;
        } else if (json_param_string(v, buf, sizeof buf)) {
            return snn_error_set(err, SNN_EINVALID, "config: conversion.%s has the wrong type", key);
        }
        snn_error e2;
        if (snn_convert_params_set(p, key, buf, &e2))
            return snn_error_set(err, SNN_EINVALID, "config: conversion: %s", e2.msg);
    }
    return SNN_OK;
}

static int get_int(json_t *o, const char *k, int lo, int hi, int *out, snn_error *err)
{
    json_t *v = json_object_get(o, k);
    if (!v) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snn_error_set(err, SNN_EINVALID, "config: '%s' must be a whole number in [%d, %d]", k, lo,
                      hi);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_float(json_t *o, const char *k, double lo, double hi, float *out, snn_error *err)
{
    json_t *v = json_object_get(o, k);
    if (!v) return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        snn_error_set(err, SNN_EINVALID, "config: '%s' must be a number in [%g, %g]", k, lo, hi);
        return -1;
    }
    *out = (float)json_number_value(v);
    return 0;
}

/* Unknown keys are refused: a misspelt key would otherwise silently keep
 * its default. `keys` is NULL-terminated. */
static snn_err check_keys(json_t *obj, const char *where, const char *const *keys, snn_error *err)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int ok = 0;
        for (const char *const *w = keys; *w && !ok; w++) ok = !strcmp(k, *w);
        if (!ok) return snn_error_set(err, SNN_EINVALID, "config: unknown key '%s%s%.100s'", where,
                                      *where ? "." : "", k);
    }
    return SNN_OK;
}

static const char *const root_keys[] = {"name", "description", "version", "classes", "input",
                                        "steps", "max_steps", "conversion", "early_exit",
                                        "overridable", "training", "bias_correction", "calibration",
                                        NULL};
static const char *const input_keys[] = {"channels", "height", "width", "layout", "scale",
                                         "mean", "std", "resize", NULL};
static const char *const early_keys[] = {"patience", "min_prob", "min_margin", "min_steps", NULL};

static snn_err parse_config_json(snn_model_config *cfg, json_t *root, const snn_graph *g,
                                 snn_error *err)
{
    json_t *v;
    if (!json_is_object(root)) return snn_error_set(err, SNN_EFORMAT, "config: not a JSON object");
    if (check_keys(root, "", root_keys, err)) return SNN_EINVALID;
    v = json_object_get(root, "name");
    if (v) {
        if (!json_is_string(v) || !json_string_length(v) ||
            json_string_length(v) >= SNN_MODEL_NAME_MAX)
            return snn_error_set(err, SNN_EINVALID, "config: 'name' must be a string of 1-%d chars",
                                 SNN_MODEL_NAME_MAX - 1);
        snprintf(cfg->name, sizeof cfg->name, "%s", json_string_value(v));
    }
    v = json_object_get(root, "description");
    if (json_is_string(v)) {
        free(cfg->description);
        if (!(cfg->description = xstrdup(json_string_value(v))))
            return snn_error_set(err, SNN_ENOMEM, "out of memory");
    }
    v = json_object_get(root, "classes");
    if (v) {
        if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 100000)
            return snn_error_set(err, SNN_EINVALID, "config: 'classes' must be a non-empty array");
        int n = (int)json_array_size(v);
        if (g && cfg->nclasses && n != cfg->nclasses)
            return snn_error_set(err, SNN_ESHAPE,
                                 "config: %d class names but the model outputs %d classes", n,
                                 cfg->nclasses);
        char **names = calloc((size_t)n, sizeof *names);
        if (!names) return snn_error_set(err, SNN_ENOMEM, "out of memory");
        for (int i = 0; i < n; i++) {
            json_t *s = json_array_get(v, (size_t)i);
            if (!json_is_string(s) || !(names[i] = xstrdup(json_string_value(s)))) {
                for (int j = 0; j < i; j++) free(names[j]);
                free(names);
                return snn_error_set(err, SNN_EINVALID, "config: classes[%d] must be a string", i);
            }
        }
        if (cfg->classes) {
            for (int i = 0; i < cfg->nclasses; i++) free(cfg->classes[i]);
            free(cfg->classes);
        }
        cfg->classes = names;
        cfg->nclasses = n;
    }
    json_t *in = json_object_get(root, "input");
    if (in) {
        if (!json_is_object(in)) return snn_error_set(err, SNN_EINVALID, "config: 'input' must be an object");
        if (check_keys(in, "input", input_keys, err)) return SNN_EINVALID;
        int c = cfg->in_c, h = cfg->in_h, w = cfg->in_w;
        if (get_int(in, "channels", 1, 4, &c, err) || get_int(in, "height", 1, 65536, &h, err) ||
            get_int(in, "width", 1, 65536, &w, err) ||
            get_float(in, "scale", -1e9, 1e9, &cfg->input_scale, err))
            return err ? err->code : SNN_EINVALID;
        if (g && cfg->in_c && (c != cfg->in_c || h != cfg->in_h || w != cfg->in_w))
            return snn_error_set(err, SNN_ESHAPE,
                                 "config: input %dx%dx%d (CxHxW) but the model takes %dx%dx%d", c,
                                 h, w, cfg->in_c, cfg->in_h, cfg->in_w);
        cfg->in_c = c;
        cfg->in_h = h;
        cfg->in_w = w;
        v = json_object_get(in, "layout");
        if (v) {
            if (json_is_string(v) && !strcmp(json_string_value(v), "nchw")) cfg->layout = SNN_LAYOUT_NCHW;
            else if (json_is_string(v) && !strcmp(json_string_value(v), "nhwc")) cfg->layout = SNN_LAYOUT_NHWC;
            else return snn_error_set(err, SNN_EINVALID, "config: input.layout must be nchw or nhwc");
        }
        const char *ms[2] = {"mean", "std"};
        for (int k = 0; k < 2; k++) {
            float *dst = k ? cfg->std : cfg->mean;
            v = json_object_get(in, ms[k]);
            if (!v) continue;
            if (json_is_number(v)) {
                for (int i = 0; i < 4; i++) dst[i] = (float)json_number_value(v);
            } else if (json_is_array(v) && (int)json_array_size(v) == cfg->in_c) {
                for (int i = 0; i < cfg->in_c; i++) {
                    json_t *x = json_array_get(v, (size_t)i);
                    if (!json_is_number(x))
                        return snn_error_set(err, SNN_EINVALID, "config: input.%s must hold numbers", ms[k]);
                    dst[i] = (float)json_number_value(x);
                }
            } else {
                return snn_error_set(err, SNN_EINVALID,
                                     "config: input.%s must be a number or %d numbers", ms[k], cfg->in_c);
            }
            if (k == 1)
                for (int i = 0; i < 4; i++)
                    if (!(dst[i] != 0 && isfinite(dst[i])))
                        return snn_error_set(err, SNN_EINVALID, "config: input.std must be non-zero");
        }
        v = json_object_get(in, "resize");
        if (v) {
            if (json_is_string(v) && !strcmp(json_string_value(v), "bilinear")) cfg->resize = SNN_RESIZE_BILINEAR;
            else if (json_is_string(v) && !strcmp(json_string_value(v), "reject")) cfg->resize = SNN_RESIZE_REJECT;
            else return snn_error_set(err, SNN_EINVALID, "config: input.resize must be bilinear or reject");
        }
    }
    if (get_int(root, "max_steps", 1, 100000, &cfg->max_steps, err) ||
        get_int(root, "steps", 1, 100000, &cfg->steps, err))
        return err ? err->code : SNN_EINVALID;
    if (cfg->steps > cfg->max_steps)
        return snn_error_set(err, SNN_EINVALID, "config: steps %d exceeds max_steps %d", cfg->steps,
                             cfg->max_steps);
    v = json_object_get(root, "bias_correction");
    if (v) {
        snn_err e = parse_bias_table(cfg, v, err);
        if (e) return e;
    }
    v = json_object_get(root, "calibration");
    if (v) {
        if (!json_is_object(v)) return snn_error_set(err, SNN_EINVALID, "config: 'calibration' must be an object");
        free(cfg->calibration);
        if (!(cfg->calibration = json_dumps(v, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9))))
            return snn_error_set(err, SNN_ENOMEM, "out of memory");
    }
    v = json_object_get(root, "conversion");
    /* a stored table is used unless the conversion turns it off */
    cfg->convert.bias_correction = cfg->bias != NULL;
    if (v) {
        if (!json_is_object(v)) return snn_error_set(err, SNN_EINVALID, "config: 'conversion' must be an object");
        snn_err e = parse_conversion(&cfg->convert, v, err);
        if (e) return e;
    }
    if (cfg->convert.bias_correction && !cfg->bias)
        return snn_error_set(err, SNN_EINVALID,
                             "config: conversion.bias_correction is on but there is no bias_correction table "
                             "(snnctl calibrate --bias-correct makes one)");
    v = json_object_get(root, "early_exit");
    if (v) {
        if (!json_is_object(v)) return snn_error_set(err, SNN_EINVALID, "config: 'early_exit' must be an object");
        if (check_keys(v, "early_exit", early_keys, err)) return SNN_EINVALID;
        /* its fields are rows of the option table: the same parsers as
         * --early-exit and a request's early_exit */
        snn_run_params rp;
        snn_run_params_init(&rp);
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            char buf[64];
            snn_error e2;
            if (json_param_string(x, buf, sizeof buf) || json_is_null(x) || snn_params_set(&rp, k, buf, &e2))
                return snn_error_set(err, SNN_EINVALID, "config: early_exit.%s: %s", k,
                                     json_is_number(x) ? e2.msg : "must be a number");
        }
        cfg->early_exit = rp.early_exit;
    }
    v = json_object_get(root, "overridable");
    if (v) {
        if (!json_is_array(v)) return snn_error_set(err, SNN_EINVALID, "config: 'overridable' must be an array");
        uint32_t bits = 0;
        size_t i;
        json_t *s;
        json_array_foreach(v, i, s) {
            uint32_t b = json_is_string(s) ? snn_override_bit(json_string_value(s)) : 0;
            if (!b)
                return snn_error_set(err, SNN_EINVALID, "config: overridable[%zu] is not a known key", i);
            bits |= b;
        }
        cfg->overridable = bits;
    }
    if (!cfg->in_c || !cfg->in_h || !cfg->in_w || !cfg->nclasses)
        return snn_error_set(err, SNN_EINVALID,
                             "config: input channels, height, width and classes are required");
    return SNN_OK;
}

snn_err snn_model_config_parse(snn_model_config *cfg, const char *text, size_t len,
                               const snn_graph *g, snn_error *err)
{
    json_error_t jerr;
    snn_err e = config_defaults(cfg, g, err);
    if (e) {
        snn_model_config_deinit(cfg);
        return e;
    }
    if (len > CONFIG_MAX_BYTES) {
        snn_model_config_deinit(cfg);
        return snn_error_set(err, SNN_ETOOLARGE, "config: larger than %d bytes", CONFIG_MAX_BYTES);
    }
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snn_model_config_deinit(cfg);
        return snn_error_set(err, SNN_EFORMAT, "config: JSON error at line %d: %s", jerr.line,
                             jerr.text);
    }
    e = parse_config_json(cfg, root, g, err);
    json_decref(root);
    if (e) snn_model_config_deinit(cfg);
    return e;
}

static char *read_file(const char *path, size_t max, size_t *len, snn_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snn_error_set(err, errno == ENOENT ? SNN_ENOTFOUND : SNN_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) || st.st_size < 0 || (size_t)st.st_size > max) {
        fclose(f);
        snn_error_set(err, SNN_ETOOLARGE, "%s: larger than %zu bytes", path, max);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        snn_error_set(err, SNN_ENOMEM, "out of memory");
        return NULL;
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    fclose(f);
    if (n != (size_t)st.st_size) {
        free(buf);
        snn_error_set(err, SNN_EIO, "%s: short read", path);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

snn_model *snn_model_load(const char *path, snn_error *err)
{
    struct stat st;
    char onnx[4096], cfgpath[4096];
    if (!path || stat(path, &st)) {
        snn_error_set(err, SNN_ENOTFOUND, "model '%s': %s", path ? path : "(null)",
                      strerror(errno));
        return NULL;
    }
    int isdir = S_ISDIR(st.st_mode);
    if (isdir) {
        snprintf(onnx, sizeof onnx, "%s/model.onnx", path);
        snprintf(cfgpath, sizeof cfgpath, "%s/config.json", path);
    } else {
        snprintf(onnx, sizeof onnx, "%s", path);
        cfgpath[0] = '\0';
    }
    snn_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = xstrdup(path))) {
        free(m);
        snn_error_set(err, SNN_ENOMEM, "out of memory");
        return NULL;
    }
    m->graph = snn_graph_load_onnx(onnx, NULL, err);
    if (!m->graph) goto fail;
    if (!m->graph->finalized) {
        snn_error_set(err, SNN_EUNSUPPORTED, "%s: graph input '%s' has no value (only one input is fed)",
                      onnx, m->graph->tensors[m->graph->unbound[0]].name);
        goto fail;
    }
    if (isdir && access(cfgpath, F_OK) == 0) {
        size_t len;
        char *text = read_file(cfgpath, CONFIG_MAX_BYTES, &len, err);
        if (!text) goto fail;
        snn_err e = snn_model_config_parse(&m->cfg, text, len, m->graph, err);
        free(text);
        if (e) {
            if (err) {
                char tmp[sizeof err->msg + 208];
                snprintf(tmp, sizeof tmp, "%.200s: %s", cfgpath, err->msg);
                snprintf(err->msg, sizeof err->msg, "%s", tmp);
            }
            goto fail;
        }
    } else {
        if (config_defaults(&m->cfg, m->graph, err)) goto fail;
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        snprintf(m->cfg.name, sizeof m->cfg.name, "%.*s", (int)strcspn(base, "."), base);
        if (!m->cfg.name[0]) snprintf(m->cfg.name, sizeof m->cfg.name, "model");
    }
    for (int i = 0; i < m->graph->ntensors; i++)
        if (m->graph->tensors[i].data)
            m->weight_bytes += (size_t)snn_tensor_elems(&m->graph->tensors[i]) * sizeof(float);
    return m;
fail:
    snn_model_free(m);
    return NULL;
}

void snn_model_free(snn_model *m)
{
    if (!m) return;
    snn_graph_free(m->graph);
    snn_model_config_deinit(&m->cfg);
    free(m->path);
    free(m);
}

size_t snn_model_input_size(const snn_model *m)
{
    return (size_t)m->cfg.in_c * (size_t)m->cfg.in_h * (size_t)m->cfg.in_w;
}

snn_err snn_model_preprocess(const snn_model *m, const uint8_t *pixels, int width, int height,
                             int channels, float scale_override, float *out, snn_error *err)
{
    const snn_model_config *c = &m->cfg;
    snn_image resized = {0};
    if (!pixels || width < 1 || height < 1 || channels < 1 || channels > 4)
        return snn_error_set(err, SNN_EINVALID, "bad image (%dx%dx%d)", width, height, channels);
    if (channels != c->in_c && !(channels == 3 && c->in_c == 1) && !(channels == 1 && c->in_c == 3) &&
        !(channels == 4 && (c->in_c == 3 || c->in_c == 1)))
        return snn_error_set(err, SNN_ESHAPE, "image has %d channels, model '%s' takes %d",
                             channels, c->name, c->in_c);
    if (width != c->in_w || height != c->in_h) {
        if (c->resize == SNN_RESIZE_REJECT)
            return snn_error_set(err, SNN_ESHAPE,
                                 "image is %dx%d, model '%s' takes %dx%d (resizing disabled)",
                                 width, height, c->name, c->in_w, c->in_h);
        snn_image src = {width, height, channels, (uint8_t *)pixels};
        snn_err e = snn_image_resize(&src, c->in_w, c->in_h, &resized, err);
        if (e) return e;
        pixels = resized.pixels;
    }
    float scale = scale_override > 0 ? scale_override : c->input_scale;
    const int H = c->in_h, W = c->in_w, C = c->in_c;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            const uint8_t *p = pixels + ((size_t)y * W + x) * channels;
            for (int ch = 0; ch < C; ch++) {
                float v;
                if (channels == C || (channels == 4 && C == 3)) v = p[ch];
                else if (C == 1) v = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
                else v = p[0]; /* gray to RGB */
                v = (v * scale - c->mean[ch]) / c->std[ch];
                size_t idx = c->layout == SNN_LAYOUT_NCHW ? ((size_t)ch * H + y) * W + x
                                                          : ((size_t)y * W + x) * C + ch;
                out[idx] = v;
            }
        }
    snn_image_deinit(&resized);
    return SNN_OK;
}

char *snn_model_config_dump(const snn_model_config *cfg)
{
    json_t *root = json_object();
    json_object_set_new(root, "name", json_string(cfg->name));
    if (cfg->description) json_object_set_new(root, "description", json_string(cfg->description));
    json_t *cl = json_array();
    for (int i = 0; i < cfg->nclasses; i++) json_array_append_new(cl, json_string(cfg->classes[i]));
    json_object_set_new(root, "classes", cl);
    json_t *in = json_object();
    json_object_set_new(in, "channels", json_integer(cfg->in_c));
    json_object_set_new(in, "height", json_integer(cfg->in_h));
    json_object_set_new(in, "width", json_integer(cfg->in_w));
    json_object_set_new(in, "layout", json_string(cfg->layout == SNN_LAYOUT_NHWC ? "nhwc" : "nchw"));
    json_object_set_new(in, "scale", json_real(cfg->input_scale));
    json_t *mean = json_array(), *std = json_array();
    for (int i = 0; i < cfg->in_c; i++) {
        json_array_append_new(mean, json_real(cfg->mean[i]));
        json_array_append_new(std, json_real(cfg->std[i]));
    }
    json_object_set_new(in, "mean", mean);
    json_object_set_new(in, "std", std);
    json_object_set_new(in, "resize", json_string(cfg->resize == SNN_RESIZE_REJECT ? "reject" : "bilinear"));
    json_object_set_new(root, "input", in);
    json_object_set_new(root, "steps", json_integer(cfg->steps));
    json_object_set_new(root, "max_steps", json_integer(cfg->max_steps));
    const snn_convert_params *p = &cfg->convert;
    json_t *conv = json_object();
    json_object_set_new(conv, "neuron", json_string(snn_neuron_type_name(p->neuron)));
    json_object_set_new(conv, "dt", json_real(p->dt));
    if (p->synapse > 0) json_object_set_new(conv, "synapse", json_real(p->synapse));
    else json_object_set_new(conv, "synapse", json_string("none"));
    if (p->nlayer_scale) {
        json_t *s = json_object();
        json_object_set_new(s, "default", json_real(p->scale));
        for (int i = 0; i < p->nlayer_scale; i++)
            json_object_set_new(s, p->layer_scale[i].layer, json_real(p->layer_scale[i].value));
        json_object_set_new(conv, "scale_firing_rates", s);
    } else {
        json_object_set_new(conv, "scale_firing_rates", json_real(p->scale));
    }
    char buf[64];
    if (p->v0 == SNN_V0_UNIFORM) snprintf(buf, sizeof buf, "uniform:%llu", (unsigned long long)p->v0_seed);
    else snprintf(buf, sizeof buf, "%s", p->v0 == SNN_V0_HALF ? "half" : "zero");
    json_object_set_new(conv, "v0", json_string(buf));
    if (p->normalize == SNN_NORM_PERCENTILE) snprintf(buf, sizeof buf, "percentile:%g", p->percentile);
    else snprintf(buf, sizeof buf, "%s", snn_norm_name(p->normalize));
    json_object_set_new(conv, "normalize", json_string(buf));
    if (p->nthresholds) {
        json_t *t = json_object();
        for (int i = 0; i < p->nthresholds; i++)
            json_object_set_new(t, p->thresholds[i].layer, json_real(p->thresholds[i].value));
        json_object_set_new(conv, "thresholds", t);
    }
    json_object_set_new(conv, "readout", json_string(p->readout == SNN_READOUT_MEAN ? "mean" : "filtered"));
    if (p->maxpool == SNN_MAXPOOL_AVG) json_object_set_new(conv, "maxpool", json_string("avg"));
    if (cfg->bias) json_object_set_new(conv, "bias_correction", json_string(p->bias_correction ? "on" : "off"));
    json_object_set_new(root, "conversion", conv);
    if (cfg->bias) json_object_set_new(root, "bias_correction", dump_bias_table(cfg->bias));
    if (cfg->calibration) {
        json_t *c = json_loads(cfg->calibration, 0, NULL);
        if (c) json_object_set_new(root, "calibration", c);
    }
    if (cfg->early_exit.patience) {
        json_t *ee = json_object();
        json_object_set_new(ee, "patience", json_integer(cfg->early_exit.patience));
        json_object_set_new(ee, "min_prob", json_real(cfg->early_exit.min_prob));
        json_object_set_new(ee, "min_margin", json_real(cfg->early_exit.min_margin));
        json_object_set_new(ee, "min_steps", json_integer(cfg->early_exit.min_steps));
        json_object_set_new(root, "early_exit", ee);
    }
    json_t *ov = json_array();
    for (int i = 0; i < snn_params_count(); i++) {
        const snn_param *r = snn_param_at(i);
        if (r->override_bit && !(r->flags & SNN_PARAM_FIELD) && (cfg->overridable & r->override_bit))
            json_array_append_new(ov, json_string(r->name));
    }
    json_object_set_new(root, "overridable", ov);
    char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(root);
    return s;
}

snn_err snn_model_config_save(const snn_model_config *cfg, const char *dir, snn_error *err)
{
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    snprintf(tmp, sizeof tmp, "%s/.config.json.%ld.tmp", dir, (long)getpid());
    char *s = snn_model_config_dump(cfg);
    if (!s) return snn_error_set(err, SNN_ENOMEM, "out of memory");
    /* keep what the schema does not model (e.g. "training" provenance) */
    json_t *old = json_load_file(path, 0, NULL);
    if (json_is_object(old)) {
        json_t *cur = json_loads(s, 0, NULL);
        const char *k;
        json_t *v;
        if (cur) {
            /* ... but not a table or provenance the config no longer has */
            json_object_foreach(old, k, v) if (!json_object_get(cur, k) && strcmp(k, "bias_correction") &&
                                               strcmp(k, "calibration")) json_object_set(cur, k, v);
            char *merged = json_dumps(cur, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
            if (merged) {
                free(s);
                s = merged;
            }
            json_decref(cur);
        }
    }
    json_decref(old);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(s);
        return snn_error_set(err, SNN_EIO, "%s: %s", tmp, strerror(errno));
    }
    int ok = fputs(s, f) >= 0 && fputc('\n', f) != EOF;
    ok = (fflush(f) == 0) && ok && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    free(s);
    if (!ok || rename(tmp, path)) {
        unlink(tmp);
        return snn_error_set(err, SNN_EIO, "%s: write failed: %s", path, strerror(errno));
    }
    return SNN_OK;
}
