/* body.c: request bodies and request options, turned into a job.
 *
 * DESIGN: every byte here comes from a client, so every length, count,
 * shape and value is checked before anything is allocated from it, and
 * every failure is a 4xx with a message naming what was wrong. Bodies:
 *   image/png, image/jpeg (or octet-stream, sniffed)  one image
 *   multipart/form-data   parts named "image" (one or more; several make a
 *                         batch), other parts are options
 *   application/json      {"image": base64} | {"images": [base64, ...]} |
 *                         {"pixels": [[..]], "shape": [N?,H,W,C]} raw 0..255 |
 *                         {"tensor": [..], "shape": [N?, model input item]}
 *                         preprocessed, plus options as fields
 * Images and pixel arrays of another size are resized or refused by the
 * model's config (snn_model_preprocess). Options arrive as strings from
 * query strings, multipart fields, JSON fields or v2 "parameters" and all
 * go through srv_opts_set, so one key means one thing everywhere.
 * Expansion is admitted work: image decodes, and JSON trees of more than
 * 4096 values, run inside one of decode-concurrency slots with the
 * request's deadline and socket watched (see "decoding" below), and JSON
 * values are counted against max-json-values before jansson runs.
 */
#include "server.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------- json */

/* Limits before expansion: jansson spends about 45 bytes per value (a
 * json_t and its array slot), 22 times the text of an array of small
 * numbers, so the body is scanned first, without allocating: nesting
 * depth against max-json-depth, and an upper bound of its values (commas
 * and opening brackets outside strings) against max-json-values. *values
 * gets the bound. */
static snn_err json_prescan(const char *body, size_t len, int64_t *values, snn_error *err)
{
    int depth = 0, maxd = (int)srv_cfg.max_json_depth, instr = 0;
    int64_t n = 0, maxv = srv_cfg.max_json_values;
    for (size_t i = 0; i < len; i++) {
        char c = body[i];
        if (instr) {
            if (c == '\\') i++;
            else if (c == '"') instr = 0;
        } else if (c == '"') instr = 1;
        else if (c == ',') n++;
        else if (c == '[' || c == '{') {
            n++;
            if (++depth > maxd)
                return snn_error_set(err, SNN_ELIMIT, "JSON nested deeper than %d levels", maxd);
        } else if (c == ']' || c == '}') depth--;
    }
    if (n > maxv)
        return snn_error_set(err, SNN_ELIMIT,
                             "JSON body of about %lld values exceeds max-json-values %lld "
                             "(send large images as PNG/JPEG)",
                             (long long)n, (long long)maxv);
    *values = n;
    return SNN_OK;
}

/* jansson, after the pre-scan: the body must be an object. */
static json_t *json_load_object(const char *body, size_t len, snn_error *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snn_error_set(err, SNN_EFORMAT, "invalid JSON at line %d column %d: %s",
                      jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        snn_error_set(err, SNN_EFORMAT, "the JSON body must be an object");
        return NULL;
    }
    return root;
}

json_t *srv_json_parse(const char *body, size_t len, snn_error *err)
{
    int64_t values;
    if (json_prescan(body, len, &values, err) != SNN_OK) return NULL;
    return json_load_object(body, len, err);
}

/* -------------------------------------------------------------- base64 */

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
}

/* Standard or URL-safe alphabet, padding optional, whitespace ignored, a
 * "data:...;base64," prefix skipped. 0 on success; *out is malloc'ed. */
int srv_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
    const char *comma;
    if (len > 5 && !strncmp(in, "data:", 5) && (comma = memchr(in, ',', len))) {
        len -= (size_t)(comma + 1 - in);
        in = comma + 1;
    }
    uint8_t *o = malloc(len / 4 * 3 + 3);
    if (!o) return -1;
    uint32_t acc = 0;
    int bits = 0, pad = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') { pad++; continue; }
        int v = b64val(c);
        if (v < 0 || pad) { free(o); return -1; }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[n++] = (uint8_t)(acc >> bits);
        }
    }
    if (pad > 2 || bits >= 6) { free(o); return -1; }
    *out = o;
    *outlen = n;
    return 0;
}

/* ------------------------------------------------------------- options */

void srv_opts_init(srv_opts *o)
{
    memset(o, 0, sizeof *o);
    o->top_k = -1;
    o->raster_neurons = 0;
}

static int parse_bool(const char *v, int *out)
{
    if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "on") || !*v) { *out = 1; return 0; }
    if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
        !strcasecmp(v, "off")) { *out = 0; return 0; }
    return -1;
}

static int parse_int(const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

snn_err srv_opts_set(srv_opts *o, const snn_model *m, const char *key,
                     const char *val, snn_error *err)
{
    char k[40];
    size_t i;
    long n;
    for (i = 0; key[i] && i < sizeof k - 1; i++) k[i] = key[i] == '-' ? '_' : key[i];
    k[i] = '\0';
    if (key[i]) return snn_error_set(err, SNN_EINVALID, "unknown option '%.40s'", key);
    if (strlen(val) > 255) return snn_error_set(err, SNN_EINVALID, "option '%s': value too long", k);

    if (snn_param_find(k)) {
        /* a run option: the library's table parses it, checks the model
         * allows it and that it can apply, on a copy of the model's run */
        if (!o->has_run) {
            snn_run_params_from_model(&o->run, &m->cfg);
            o->has_run = 1;
        }
        snn_error e2;
        if (snn_params_override(&o->run, m->cfg.overridable, k, val, &e2) != SNN_OK)
            return snn_error_set(err, SNN_EINVALID, "%s%s", e2.msg,
                                 strstr(e2.msg, "does not allow") ? " (its config's \"overridable\")" : "");
    } else if (!strcmp(k, "timeout_ms")) {
        if (parse_int(val, 1, SRV_TIMEOUT_MAX_MS, &n))
            return snn_error_set(err, SNN_EINVALID, "timeout_ms: expected milliseconds 1..%d, got '%s'",
                                 SRV_TIMEOUT_MAX_MS, val);
        o->timeout_us = (int64_t)n * 1000;
    } else if (!strcmp(k, "top_k")) {
        if (parse_int(val, 0, 1000000, &n))
            return snn_error_set(err, SNN_EINVALID, "top_k: expected an integer >= 0, got '%s'", val);
        o->top_k = (int)n;
    } else if (!strcmp(k, "spike_stats")) {
        if (parse_bool(val, &o->spike_stats))
            return snn_error_set(err, SNN_EINVALID, "spike_stats: expected a boolean, got '%s'", val);
    } else if (!strcmp(k, "stream")) {
        if (parse_bool(val, &o->stream))
            return snn_error_set(err, SNN_EINVALID, "stream: expected a boolean, got '%s'", val);
    } else if (!strcmp(k, "raster")) {
        const char *colon = strchr(val, ':');
        size_t ln = colon ? (size_t)(colon - val) : strlen(val);
        if (ln == 0 || ln >= sizeof o->raster)
            return snn_error_set(err, SNN_EINVALID, "raster: expected LAYER or LAYER:NEURONS");
        memcpy(o->raster, val, ln);
        o->raster[ln] = '\0';
        if (colon) {
            if (parse_int(colon + 1, 1, 1 << 30, &n))
                return snn_error_set(err, SNN_EINVALID, "raster: bad neuron count '%s'", colon + 1);
            o->raster_neurons = (int)n;
        }
    } else if (!strcmp(k, "raster_neurons")) {
        if (parse_int(val, 1, 1 << 30, &n))
            return snn_error_set(err, SNN_EINVALID, "raster_neurons: expected a positive integer");
        o->raster_neurons = (int)n;
    } else if (!strcmp(k, "energy")) {
        int b;
        o->ndevices = 0;
        if (!strcasecmp(val, "all") || !parse_bool(val, &b)) {
            /* energy=true / energy=all: every device; false: none */
            if (strcasecmp(val, "all") && !b) return SNN_OK;
            for (int q = 0; q < snn_energy_ndevices() && q < SRV_MAX_DEVICES; q++)
                o->devices[o->ndevices++] = snn_energy_device(q);
            return SNN_OK;
        }
        char buf[256];
        snprintf(buf, sizeof buf, "%s", val);
        for (char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
            const snn_device *dev = snn_energy_device_find(t);
            if (!dev) return snn_error_set(err, SNN_EINVALID, "energy: unknown device '%s'", t);
            if (o->ndevices == SRV_MAX_DEVICES)
                return snn_error_set(err, SNN_ELIMIT, "energy: at most %d devices", SRV_MAX_DEVICES);
            o->devices[o->ndevices++] = dev;
        }
    } else {
        return snn_error_set(err, SNN_EINVALID, "unknown option '%s'", k);
    }
    return SNN_OK;
}

snn_err srv_opts_apply(const srv_opts *o, srv_job *j, snn_error *err)
{
    const snn_model *m = j->ver->m;
    const snn_net *def = j->ver->def->net;
    snn_run_params run;
    if (o->has_run) run = o->run;
    else snn_run_params_from_model(&run, &m->cfg);
    if (run.steps > j->ver->max_steps)
        return snn_error_set(err, SNN_ELIMIT,
                             "steps %d exceeds the limit %d (max-steps and the model's max_steps)",
                             run.steps, j->ver->max_steps);
    j->run.steps = run.steps;
    j->run.params = run.convert;
    j->run.custom = !snn_convert_params_equal(&run.convert, &m->cfg.convert);
    j->run.early_exit = run.early_exit;
    j->run.raster_layer = -1;
    j->run.raster_neurons = 0;
    if (o->raster[0]) {
        int li = snn_net_find_layer(def, o->raster);
        if (li < 0 || snn_net_layer(def, li)->kind != SNN_LAYER_NEURONS) {
            char names[512] = "";
            size_t k = 0;
            for (int i = 0; i < snn_net_nlayers(def) && k < sizeof names - 80; i++)
                if (snn_net_layer(def, i)->kind == SNN_LAYER_NEURONS)
                    k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", k ? ", " : "",
                                          snn_net_layer(def, i)->name);
            return snn_error_set(err, SNN_EINVALID,
                                 "raster: '%s' is not a neuron layer (layers: %s)", o->raster, names);
        }
        int nn = o->raster_neurons ? o->raster_neurons : 32;
        if (nn > (int)srv_cfg.max_raster_neurons)
            return snn_error_set(err, SNN_ELIMIT, "raster: %d neurons exceeds the limit %lld", nn,
                                 (long long)srv_cfg.max_raster_neurons);
        if (nn > snn_net_layer(def, li)->neurons) nn = (int)snn_net_layer(def, li)->neurons;
        j->run.raster_layer = li;
        j->run.raster_neurons = nn;
        snprintf(j->raster_name, sizeof j->raster_name, "%s", o->raster);
    }
    j->stream = o->stream;
    j->spike_stats = o->spike_stats;
    j->ndevices = o->ndevices;
    memcpy(j->devices, o->devices, sizeof j->devices);
    int nc = m->cfg.nclasses > 0 ? m->cfg.nclasses : snn_net_nclasses(def);
    j->top_k = o->top_k < 0 ? 5 : o->top_k;
    if (j->top_k > nc) j->top_k = nc;
    j->run.solo = j->stream || j->spike_stats || j->run.raster_layer >= 0 || j->ndevices > 0;
    return SNN_OK;
}

/* -------------------------------------------------------------- inputs */

static snn_err alloc_input(srv_job *j, long n, snn_error *err)
{
    if (n < 1) return snn_error_set(err, SNN_EINVALID, "no image in the request");
    if (n > j->ver->max_batch)
        return snn_error_set(err, SNN_ELIMIT, "%ld images exceed the batch limit %d (max-batch)",
                             n, j->ver->max_batch);
    size_t insz = snn_model_input_size(j->ver->m);
    free(j->input);
    j->input = calloc((size_t)n * insz, sizeof(float));
    if (!j->input) return snn_error_set(err, SNN_ENOMEM, "out of memory");
    j->n = (int)n;
    return SNN_OK;
}

/* Raw 8-bit pixels (any channel count 1..4) into input item idx. */
static snn_err add_pixels(srv_job *j, int idx, const uint8_t *px, int w, int h, int c,
                          snn_error *err)
{
    const snn_model *m = j->ver->m;
    int want = m->cfg.in_c;
    uint8_t *conv = NULL;
    snn_err rc;
    if ((int64_t)w * h > srv_cfg.max_image_pixels || w > srv_cfg.max_image_side ||
        h > srv_cfg.max_image_side)
        return snn_error_set(err, SNN_ELIMIT, "image %dx%d exceeds the limits (max-image-pixels %lld, max-image-side %lld)",
                             w, h, (long long)srv_cfg.max_image_pixels, (long long)srv_cfg.max_image_side);
    if (c != want && (want == 1 || want == 3)) {
        size_t np = (size_t)w * h;
        conv = malloc(np * (size_t)want);
        if (!conv) return snn_error_set(err, SNN_ENOMEM, "out of memory");
        for (size_t p = 0; p < np; p++) {
            const uint8_t *s = px + p * (size_t)c;
            if (want == 1) {
                conv[p] = c >= 3 ? (uint8_t)((299 * s[0] + 587 * s[1] + 114 * s[2] + 500) / 1000)
                                 : s[0];
            } else {
                for (int q = 0; q < 3; q++) conv[p * 3 + q] = c >= 3 ? s[q] : s[0];
            }
        }
        px = conv;
        c = want;
    }
    rc = snn_model_preprocess(m, px, w, h, c, 0.0f,
                              j->input + (size_t)idx * snn_model_input_size(m), err);
    free(conv);
    return rc;
}

/* ------------------------------------------------------------ decoding
 *
 * Image decoding is admitted, budgeted work. At most decode-concurrency
 * images are decoded at once, whichever connection threads they arrive
 * on; the others wait for a slot, and while they wait, and while they
 * decode (libjpeg's progress monitor, libpng's row callback), the job's
 * deadline and its client's socket are checked: a passed deadline stops
 * the decode with 504, a client that closed its end with 499 (the decode
 * stops costing CPU within one row). Each decode is bounded by the limits
 * (max-image-side, max-image-pixels, max-image-scans, and libjpeg's
 * coefficient memory, 6 bytes per pixel), so decoding holds at most
 *   decode-concurrency x snn_image_decode_peak_bytes(limits)
 *   = decode-concurrency x (10 x max-image-pixels + 9 MiB)
 * (338 MiB with the defaults 2 and 16 Mi), whatever the number of
 * connections. */
static uv_mutex_t dec_mu;
static uv_cond_t dec_cv;
static uv_once_t dec_once = UV_ONCE_INIT;
static int dec_active, dec_waiting;
static __thread int dec_held;    /* slots this thread holds: nested enters are free */

static void dec_init(void)
{
    uv_mutex_init(&dec_mu);
    uv_cond_init(&dec_cv);
}

typedef struct decode_watch {
    srv_job *j;
    double next_peek;            /* the socket is peeked every 20 ms at most */
} decode_watch;

static snn_err decode_check(void *ud)
{
    decode_watch *w = ud;
    double now = srv_now();
    if (w->j->deadline > 0 && now > w->j->deadline) return SNN_ETIMEOUT;   /* 0: none set */
    if (atomic_load(&w->j->cancelled)) return SNN_ECANCELLED;
    if (now >= w->next_peek) {
        w->next_peek = now + 0.02;
        if (srv_fd_peer_gone(w->j->client_fd, w->j->client_may_half_close)) return SNN_ECANCELLED;
    }
    return SNN_OK;
}

static void decode_count(const char *result)
{
    srv_metrics_add(SRV_M_DECODES, 1, result, NULL);
}

static const char *decode_result(snn_err rc)
{
    return rc == SNN_OK ? "ok" : rc == SNN_ETIMEOUT ? "timeout" : rc == SNN_ECANCELLED ? "cancelled"
                                                                                      : "refused";
}

/* Wait for a decode slot; SNN_OK holds one (release with decode_leave). */
static snn_err decode_enter(decode_watch *w, snn_error *err)
{
    if (dec_held) {
        dec_held++;
        return SNN_OK;
    }
    uv_once(&dec_once, dec_init);
    uv_mutex_lock(&dec_mu);
    dec_waiting++;
    srv_metrics_set(SRV_M_DECODES_WAITING, dec_waiting, NULL, NULL);
    snn_err rc = SNN_OK;
    while (dec_active >= (int)srv_cfg.decode_concurrency) {
        uv_mutex_unlock(&dec_mu);
        rc = decode_check(w);
        uv_mutex_lock(&dec_mu);
        if (rc != SNN_OK) break;
        if (dec_active >= (int)srv_cfg.decode_concurrency)
            uv_cond_timedwait(&dec_cv, &dec_mu, 20 * 1000 * 1000);
    }
    dec_waiting--;
    srv_metrics_set(SRV_M_DECODES_WAITING, dec_waiting, NULL, NULL);
    if (rc == SNN_OK) {
        dec_active++;
        dec_held = 1;
        srv_metrics_set(SRV_M_DECODES_ACTIVE, dec_active, NULL, NULL);
    }
    uv_mutex_unlock(&dec_mu);
    if (rc != SNN_OK) {
        return snn_error_set(err, rc, rc == SNN_ETIMEOUT
                                          ? "deadline exceeded waiting to decode (request-timeout-ms)"
                                          : "client closed the request");
    }
    return SNN_OK;
}

static void decode_leave(void)
{
    if (--dec_held > 0) return;
    uv_mutex_lock(&dec_mu);
    dec_active--;
    srv_metrics_set(SRV_M_DECODES_ACTIVE, dec_active, NULL, NULL);
    uv_cond_signal(&dec_cv);
    uv_mutex_unlock(&dec_mu);
}

static snn_err add_image(srv_job *j, int idx, const void *buf, size_t len, snn_error *err)
{
    snn_image img;
    snn_image_limits lim;
    int want = j->ver->m->cfg.in_c;
    decode_watch w = {j, 0};
    memset(&lim, 0, sizeof lim);
    lim.max_width = lim.max_height = (int)srv_cfg.max_image_side;
    lim.max_pixels = srv_cfg.max_image_pixels;
    lim.max_scans = (int)srv_cfg.max_image_scans;
    lim.check = decode_check;
    lim.check_ud = &w;
    memset(&img, 0, sizeof img);
    if (snn_image_sniff(buf, len) == SNN_IMAGE_UNKNOWN)
        return snn_error_set(err, SNN_EFORMAT, "image %d is neither PNG nor JPEG", idx);
    snn_err rc = decode_enter(&w, err);
    if (rc != SNN_OK) {
        decode_count(decode_result(rc));
        return rc;
    }
    rc = snn_image_decode(&img, buf, len, want == 1 || want == 3 ? want : 0, &lim, err);
    decode_count(decode_result(rc));
    if (rc == SNN_OK) rc = add_pixels(j, idx, img.pixels, img.width, img.height, img.channels, err);
    snn_image_deinit(&img);
    decode_leave();
    return rc;
}

static snn_err add_b64(srv_job *j, int idx, json_t *s, snn_error *err)
{
    uint8_t *bytes;
    size_t n;
    if (!json_is_string(s))
        return snn_error_set(err, SNN_EINVALID, "image %d: expected a base64 string", idx);
    if (srv_base64_decode(json_string_value(s), json_string_length(s), &bytes, &n))
        return snn_error_set(err, SNN_EFORMAT, "image %d: invalid base64", idx);
    snn_err rc = add_image(j, idx, bytes, n, err);
    free(bytes);
    return rc;
}

/* A JSON body of a job: pre-scanned, and when it holds more than
 * JSON_FREE_VALUES values its tree is built and used inside a decode slot
 * (*slot = 1: release with decode_leave after json_decref), so large
 * expansions count against decode-concurrency like images do. */
#define JSON_FREE_VALUES 4096
static json_t *json_parse_admitted(srv_job *j, const char *body, size_t len, int *slot,
                                   snn_error *err)
{
    int64_t values;
    *slot = 0;
    if (json_prescan(body, len, &values, err) != SNN_OK) return NULL;
    if (values > JSON_FREE_VALUES) {
        decode_watch w = {j, 0};
        if (decode_enter(&w, err) != SNN_OK) return NULL;
        *slot = 1;
    }
    json_t *root = json_load_object(body, len, err);
    if (!root && *slot) {
        decode_leave();
        *slot = 0;
    }
    return root;
}

/* Shape of a nested JSON array (first element of each level). */
static int nested_shape(json_t *a, int64_t *dims, int *nd)
{
    *nd = 0;
    while (json_is_array(a)) {
        if (*nd == SNN_MAX_DIMS) return -1;
        dims[(*nd)++] = (int64_t)json_array_size(a);
        if (json_array_size(a) == 0) return -1;
        a = json_array_get(a, 0);
    }
    return 0;
}

/* 1 when `a` is a rectangular array of numbers of shape dims[d..nd).
 * Walks only what is present, so it costs no more than the body itself:
 * run it before allocating from a shape read off the first elements. */
static int is_rect(json_t *a, int d, const int64_t *dims, int nd)
{
    if (d == nd) return json_is_number(a);
    if (!json_is_array(a) || (int64_t)json_array_size(a) != dims[d]) return 0;
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!is_rect(json_array_get(a, i), d + 1, dims, nd)) return 0;
    return 1;
}

/* Flatten a nested array of numbers of shape dims[d..nd). */
static int flatten(json_t *a, int d, const int64_t *dims, int nd, float *out, size_t *k)
{
    if (d == nd) {
        if (!json_is_number(a)) return -1;
        double v = json_number_value(a);
        if (!isfinite(v) || fabs(v) > 3.4e38) return -1;
        out[(*k)++] = (float)v;
        return 0;
    }
    if (!json_is_array(a) || (int64_t)json_array_size(a) != dims[d]) return -1;
    for (size_t i = 0; i < json_array_size(a); i++)
        if (flatten(json_array_get(a, i), d + 1, dims, nd, out, k)) return -1;
    return 0;
}

/* A numeric array (flat or nested) with an optional explicit shape. On
 * success *vals (malloc'ed) holds the row-major values and dims/nd the
 * shape. `cap` bounds the element count before anything is allocated. */
static snn_err read_array(json_t *data, json_t *shape, int64_t cap, float **vals,
                          int64_t *dims, int *nd, snn_error *err)
{
    int64_t ndims[SNN_MAX_DIMS];
    int nnd;
    if (!json_is_array(data)) return snn_error_set(err, SNN_EINVALID, "data must be an array");
    if (nested_shape(data, ndims, &nnd))
        return snn_error_set(err, SNN_EINVALID, "data: empty or too deeply nested array");
    int64_t total = 1;
    for (int i = 0; i < nnd; i++) {
        if (ndims[i] > cap || __builtin_mul_overflow(total, ndims[i], &total))
            return snn_error_set(err, SNN_ELIMIT, "data: too many elements");
        if (total > cap) return snn_error_set(err, SNN_ELIMIT, "data: %lld+ elements exceed the limit %lld",
                                              (long long)total, (long long)cap);
    }
    if (shape) {
        int64_t st = 1;
        if (!json_is_array(shape) || json_array_size(shape) == 0 ||
            json_array_size(shape) > SNN_MAX_DIMS)
            return snn_error_set(err, SNN_EINVALID, "shape must be an array of 1..%d integers", SNN_MAX_DIMS);
        *nd = (int)json_array_size(shape);
        for (int i = 0; i < *nd; i++) {
            json_t *v = json_array_get(shape, (size_t)i);
            if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > cap)
                return snn_error_set(err, SNN_EINVALID, "shape[%d] must be a positive integer", i);
            dims[i] = json_integer_value(v);
            if (__builtin_mul_overflow(st, dims[i], &st) || st > cap) return snn_error_set(err, SNN_ELIMIT, "shape: too many elements");
        }
        if (st != total)
            return snn_error_set(err, SNN_ESHAPE, "shape has %lld elements but data has %lld",
                                 (long long)st, (long long)total);
    } else {
        *nd = nnd;
        memcpy(dims, ndims, sizeof ndims);
    }
    if (!is_rect(data, 0, ndims, nnd))
        return snn_error_set(err, SNN_EINVALID, "data must be a rectangular array of numbers");
    *vals = malloc((size_t)total * sizeof(float));
    if (!*vals) return snn_error_set(err, SNN_ENOMEM, "out of memory");
    size_t k = 0;
    if (flatten(data, 0, ndims, nnd, *vals, &k) || (int64_t)k != total) {
        free(*vals);
        *vals = NULL;
        return snn_error_set(err, SNN_EINVALID, "data must be a rectangular array of numbers");
    }
    return SNN_OK;
}

/* Preprocessed tensor: item shape [C,H,W] (nchw) or [H,W,C] (nhwc), with
 * an optional batch dimension, or flat with a multiple of the item size. */
static snn_err use_tensor(srv_job *j, json_t *data, json_t *shape, snn_error *err)
{
    const snn_model *m = j->ver->m;
    int64_t item[3], dims[SNN_MAX_DIMS];
    int nd;
    float *vals;
    size_t insz = snn_model_input_size(m);
    if (m->cfg.layout == SNN_LAYOUT_NCHW) {
        item[0] = m->cfg.in_c; item[1] = m->cfg.in_h; item[2] = m->cfg.in_w;
    } else {
        item[0] = m->cfg.in_h; item[1] = m->cfg.in_w; item[2] = m->cfg.in_c;
    }
    snn_err rc = read_array(data, shape, (int64_t)insz * j->ver->max_batch, &vals, dims, &nd, err);
    if (rc != SNN_OK) return rc;
    int64_t total = 1, n;
    for (int i = 0; i < nd; i++) total *= dims[i];
    if (nd == 3 && !memcmp(dims, item, sizeof item)) {
        n = 1;
        j->batch_form = 0;
    } else if (nd == 4 && !memcmp(dims + 1, item, sizeof item)) {
        n = dims[0];
        j->batch_form = 1;
    } else if (nd <= 2 && total % (int64_t)insz == 0) {
        n = total / (int64_t)insz;
        j->batch_form = nd == 2;
    } else {
        free(vals);
        return snn_error_set(err, SNN_ESHAPE,
                             "tensor shape does not match the model input [N,] %lld x %lld x %lld (%s)",
                             (long long)item[0], (long long)item[1], (long long)item[2],
                             m->cfg.layout == SNN_LAYOUT_NCHW ? "C,H,W" : "H,W,C");
    }
    rc = alloc_input(j, (long)n, err);
    if (rc == SNN_OK) memcpy(j->input, vals, (size_t)total * sizeof(float));
    free(vals);
    return rc;
}

/* Raw pixels 0..255: [H,W], [H,W,C] or [N,H,W,C]. */
static snn_err use_pixels(srv_job *j, json_t *data, json_t *shape, int batch_dim_hint,
                          snn_error *err)
{
    int64_t dims[SNN_MAX_DIMS];
    int nd;
    float *vals;
    int64_t cap = (int64_t)j->ver->max_batch * srv_cfg.max_image_pixels * 4;
    snn_err rc = read_array(data, shape, cap, &vals, dims, &nd, err);
    if (rc != SNN_OK) return rc;
    int64_t n = 1, h, w, c;
    if (nd == 4) {
        n = dims[0]; h = dims[1]; w = dims[2]; c = dims[3];
        j->batch_form = 1;
    } else if (nd == 3 && batch_dim_hint && dims[2] > 4) {
        n = dims[0]; h = dims[1]; w = dims[2]; c = 1;   /* v2 [N,H,W] gray */
        j->batch_form = 1;
    } else if (nd == 3) {
        h = dims[0]; w = dims[1]; c = dims[2];
        j->batch_form = 0;
    } else if (nd == 2) {
        h = dims[0]; w = dims[1]; c = 1;
        j->batch_form = 0;
    } else {
        free(vals);
        return snn_error_set(err, SNN_ESHAPE, "pixel shape must be [H,W,C] or [N,H,W,C]");
    }
    if (c < 1 || c > 4) {
        free(vals);
        return snn_error_set(err, SNN_ESHAPE, "pixels must have 1 to 4 channels, got %lld", (long long)c);
    }
    rc = alloc_input(j, (long)n, err);
    size_t per = (size_t)(h * w * c);
    uint8_t *px = rc == SNN_OK ? malloc(per) : NULL;
    if (rc == SNN_OK && !px) rc = snn_error_set(err, SNN_ENOMEM, "out of memory");
    for (int64_t i = 0; rc == SNN_OK && i < n; i++) {
        for (size_t q = 0; q < per; q++) {
            float v = vals[(size_t)i * per + q];
            if (!(v >= 0.0f && v <= 255.0f)) {
                rc = snn_error_set(err, SNN_EINVALID, "pixel values must be within 0..255");
                break;
            }
            px[q] = (uint8_t)lrintf(v);
        }
        if (rc == SNN_OK) rc = add_pixels(j, (int)i, px, (int)w, (int)h, (int)c, err);
    }
    free(px);
    free(vals);
    return rc;
}

/* Options from a JSON value: scalars as text, arrays joined with ','. */
static snn_err json_opt(srv_opts *o, const snn_model *m, const char *key, json_t *v,
                        snn_error *err)
{
    char buf[256];
    if (json_is_object(v)) {
        /* raster: {"layer","neurons"}; early_exit: {"patience",...} */
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            char sub[80];
            if (!strcmp(key, "raster") && !strcmp(k, "layer")) snprintf(sub, sizeof sub, "raster");
            else if (!strcmp(key, "raster") && !strcmp(k, "neurons")) snprintf(sub, sizeof sub, "raster_neurons");
            else if (!strcmp(key, "early_exit")) snprintf(sub, sizeof sub, "%.40s", k);
            else return snn_error_set(err, SNN_EINVALID, "option '%.40s': unexpected key '%.40s'", key, k);
            snn_err rc = json_opt(o, m, sub, x, err);
            if (rc != SNN_OK) return rc;
        }
        return SNN_OK;
    }
    if (json_is_array(v)) {
        size_t k = 0;
        buf[0] = '\0';
        for (size_t i = 0; i < json_array_size(v); i++) {
            json_t *x = json_array_get(v, i);
            if (!json_is_string(x))
                return snn_error_set(err, SNN_EINVALID, "option '%.40s': expected strings", key);
            k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", i ? "," : "", json_string_value(x));
            if (k >= sizeof buf) return snn_error_set(err, SNN_EINVALID, "option '%.40s' too long", key);
        }
        if (!strcmp(key, "energy") && json_array_size(v) == 0) snprintf(buf, sizeof buf, "0");
    } else if (json_is_string(v)) {
        if (json_string_length(v) >= sizeof buf)
            return snn_error_set(err, SNN_EINVALID, "option '%.40s' too long", key);
        snprintf(buf, sizeof buf, "%s", json_string_value(v));
    } else if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        snprintf(buf, sizeof buf, "%.17g", json_real_value(v));
    } else if (json_is_boolean(v)) {
        snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "1" : "0");
    } else if (json_is_null(v)) {
        return SNN_OK;
    } else {
        return snn_error_set(err, SNN_EINVALID, "option '%.40s': unsupported value", key);
    }
    return srv_opts_set(o, m, key, buf, err);
}

static snn_err body_json(srv_job *j, srv_opts *o, const char *body, size_t len, snn_error *err)
{
    int slot;
    json_t *root = json_parse_admitted(j, body, len, &slot, err);
    if (!root) return err->code;
    snn_err rc = SNN_OK;
    json_t *image = json_object_get(root, "image"), *images = json_object_get(root, "images");
    json_t *tensor = json_object_get(root, "tensor"), *pixels = json_object_get(root, "pixels");
    json_t *shape = json_object_get(root, "shape");
    int forms = !!image + !!images + !!tensor + !!pixels;
    if (forms != 1) {
        json_decref(root);
        return snn_error_set(err, SNN_EINVALID,
                             "the JSON body needs exactly one of \"image\", \"images\", \"pixels\", \"tensor\"");
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (!strcmp(key, "image") || !strcmp(key, "images") || !strcmp(key, "tensor") ||
            !strcmp(key, "pixels") || !strcmp(key, "shape"))
            continue;
        if ((rc = json_opt(o, j->ver->m, key, val, err)) != SNN_OK) goto out;
    }
    if (image) {
        if ((rc = alloc_input(j, 1, err)) == SNN_OK) rc = add_b64(j, 0, image, err);
    } else if (images) {
        if (!json_is_array(images)) {
            rc = snn_error_set(err, SNN_EINVALID, "\"images\" must be an array of base64 strings");
            goto out;
        }
        j->batch_form = 1;
        if ((rc = alloc_input(j, (long)json_array_size(images), err)) != SNN_OK) goto out;
        for (size_t i = 0; i < json_array_size(images) && rc == SNN_OK; i++)
            rc = add_b64(j, (int)i, json_array_get(images, i), err);
    } else if (tensor) {
        rc = use_tensor(j, tensor, shape, err);
    } else {
        rc = use_pixels(j, pixels, shape, 0, err);
    }
out:
    json_decref(root);
    if (slot) decode_leave();
    return rc;
}

/* ----------------------------------------------------------- multipart */

static const char *ci_find(const char *hay, size_t hlen, const char *needle)
{
    size_t nl = strlen(needle);
    for (size_t i = 0; i + nl <= hlen; i++)
        if (!strncasecmp(hay + i, needle, nl)) return hay + i;
    return NULL;
}

/* The value of parameter `param` (e.g. name, boundary) in a header. */
static int header_param(const char *h, size_t hlen, const char *param, char *out, size_t outlen)
{
    char pat[32];
    snprintf(pat, sizeof pat, "%s=", param);
    const char *p = h, *end = h + hlen;
    while ((p = ci_find(p, (size_t)(end - p), pat))) {
        if (p == h || p[-1] == ';' || p[-1] == ' ' || p[-1] == '\t') break;
        p += strlen(pat);
    }
    if (!p) return -1;
    p += strlen(pat);
    size_t k = 0;
    if (p < end && *p == '"') {
        p++;
        while (p < end && *p != '"' && k + 1 < outlen) out[k++] = *p++;
        if (p >= end || *p != '"') return -1;
    } else {
        while (p < end && *p != ';' && *p != ' ' && *p != '\r' && k + 1 < outlen) out[k++] = *p++;
    }
    out[k] = '\0';
    return k ? 0 : -1;
}

typedef struct part {
    const char *data;
    size_t len;
    char name[64];
} part;

static snn_err body_multipart(srv_job *j, srv_opts *o, const char *ctype, const char *body,
                              size_t len, snn_error *err)
{
    char boundary[80], delim[90];
    part parts[64];
    int nparts = 0, nimages = 0;
    if (header_param(ctype, strlen(ctype), "boundary", boundary, sizeof boundary))
        return snn_error_set(err, SNN_EINVALID, "multipart/form-data without a boundary");
    int dl = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    /* The first delimiter may start the body without the CRLF. */
    const char *p = body, *end = body + len;
    if (len >= (size_t)dl - 2 && !memcmp(body, delim + 2, (size_t)dl - 2)) p = body + dl - 2;
    else {
        const char *q = memmem(body, len, delim, (size_t)dl);
        if (!q) return snn_error_set(err, SNN_EFORMAT, "multipart body without its boundary");
        p = q + dl;
    }
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') break;   /* closing delimiter */
        while (p < end && (*p == ' ' || *p == '\t')) p++;
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return snn_error_set(err, SNN_EFORMAT, "malformed multipart delimiter line");
        p += 2;
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend) return snn_error_set(err, SNN_EFORMAT, "multipart part without headers end");
        const char *data = hend + 4;
        const char *next = memmem(data, (size_t)(end - data), delim, (size_t)dl);
        if (!next) return snn_error_set(err, SNN_EFORMAT, "multipart body not terminated");
        if (nparts == (int)(sizeof parts / sizeof parts[0]))
            return snn_error_set(err, SNN_ELIMIT, "too many multipart parts");
        part *pt = &parts[nparts];
        const char *cd = ci_find(p, (size_t)(hend - p), "content-disposition:");
        if (!cd || header_param(cd, (size_t)(hend - cd), "name", pt->name, sizeof pt->name))
            return snn_error_set(err, SNN_EFORMAT, "multipart part without a field name");
        pt->data = data;
        pt->len = (size_t)(next - data);
        if (!strcmp(pt->name, "image") || !strcmp(pt->name, "images") || !strcmp(pt->name, "file"))
            nimages++;
        nparts++;
        p = next + dl;
    }
    for (int i = 0; i < nparts; i++) {
        if (!strcmp(parts[i].name, "image") || !strcmp(parts[i].name, "images") ||
            !strcmp(parts[i].name, "file"))
            continue;
        char val[256];
        if (parts[i].len >= sizeof val || memchr(parts[i].data, 0, parts[i].len))
            return snn_error_set(err, SNN_EINVALID, "field '%s' is too long or binary", parts[i].name);
        memcpy(val, parts[i].data, parts[i].len);
        val[parts[i].len] = '\0';
        snn_err rc = srv_opts_set(o, j->ver->m, parts[i].name, val, err);
        if (rc != SNN_OK) return rc;
    }
    if (nimages == 0) return snn_error_set(err, SNN_EINVALID, "multipart body without an \"image\" part");
    snn_err rc = alloc_input(j, nimages, err);
    j->batch_form = nimages > 1;
    for (int i = 0, k = 0; rc == SNN_OK && i < nparts; i++)
        if (!strcmp(parts[i].name, "image") || !strcmp(parts[i].name, "images") ||
            !strcmp(parts[i].name, "file"))
            rc = add_image(j, k++, parts[i].data, parts[i].len, err);
    return rc;
}

/* --------------------------------------------------------------- entry */

static int ctype_is(const char *ct, const char *want)
{
    size_t n = strlen(want);
    return ct && !strncasecmp(ct, want, n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

snn_err srv_body_classify(srv_job *j, srv_opts *o, const char *ctype, const char *body,
                          size_t len, snn_error *err)
{
    if (len == 0) return snn_error_set(err, SNN_EINVALID, "empty request body");
    if (ctype_is(ctype, "application/octet-stream")) {
        ctype = "image/png";   /* an image: the HTTP side refused other bytes (415) */
    } else if (!ctype || !*ctype) {
        ctype = snn_image_sniff(body, len) != SNN_IMAGE_UNKNOWN ? "image/png" : "application/json";
    }
    if (ctype_is(ctype, "image/png") || ctype_is(ctype, "image/jpeg") ||
        ctype_is(ctype, "image/jpg")) {
        snn_err rc = alloc_input(j, 1, err);
        return rc == SNN_OK ? add_image(j, 0, body, len, err) : rc;
    }
    if (ctype_is(ctype, "multipart/form-data")) return body_multipart(j, o, ctype, body, len, err);
    if (ctype_is(ctype, "application/json")) return body_json(j, o, body, len, err);
    return snn_error_set(err, SNN_EUNSUPPORTED, "unsupported content type '%.80s'", ctype);
}

/* ------------------------------------------------------------------ v2 */

/* ------------------------------------------------- for the other APIs */

snn_err srv_body_alloc_input(srv_job *j, long n, snn_error *err) { return alloc_input(j, n, err); }

snn_err srv_body_add_pixels(srv_job *j, int idx, const uint8_t *px, int w, int h, int c,
                            snn_error *err)
{
    return add_pixels(j, idx, px, w, h, c, err);
}

snn_err srv_body_json_array(json_t *data, int64_t cap, float **vals, int64_t *dims, int *nd,
                            snn_error *err)
{
    return read_array(data, NULL, cap, vals, dims, nd, err);
}

snn_err srv_opts_json(srv_opts *o, const snn_model *m, const char *key, json_t *v, snn_error *err)
{
    return json_opt(o, m, key, v, err);
}

json_t *srv_json_parse_admitted(srv_job *j, const char *body, size_t len, int *slot, snn_error *err)
{
    return json_parse_admitted(j, body, len, slot, err);
}

void srv_decode_leave(void)
{
    decode_leave();
}
