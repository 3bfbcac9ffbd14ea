/* v2.c: the Open Inference Protocol v2 (KServe / Triton HTTP): model
 * metadata, infer requests (JSON, or JSON plus binary tensors) and their
 * responses.
 *
 * DESIGN: the metadata is the contract. A model declares two inputs, of
 * which a request sends exactly one, and three outputs:
 *   image                   UINT8 [-1, H, W, C]  raw pixels (H, W are -1 when
 *                                                the model resizes)
 *   input                   FP32  [-1, C, H, W]  the preprocessed tensor, in
 *                                                the ONNX input's layout
 *   probabilities           FP32  [-1, classes]  the answer: class probabilities
 *                                                at each image's last step
 *   probabilities_per_step  FP32  [-1, -1, classes]  the readout at every step
 *   steps                   INT32 [-1]           steps simulated per image (fewer
 *                                                than asked with early exit)
 * and every request is checked against exactly that (names, datatypes,
 * ranks, dimensions, element counts), with a 400 that says which part is
 * off. Request parameters are either the v2 ones (binary_data_output,
 * timeout in microseconds, priority 0) or conversion options the model lists
 * as overridable; anything else is refused, never dropped.
 *
 * Binary tensor extension: with the Inference-Header-Content-Length header
 * the body is that many bytes of JSON followed by the data of every input
 * whose parameters give binary_data_size, in input order, little-endian, no
 * padding. Outputs asked for with binary_data (or all, with
 * binary_data_output) come back the same way: binary_data_size in the
 * output's parameters, the bytes after the JSON, and the header on the
 * answer. The pixels of a binary UINT8 image are used where they lie in the
 * body, without a copy.
 */
#include "server.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define V2_DUMP (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9))

static const struct {
    const char *name, *datatype;
    int rank;
} v2_outputs[SRV_V2_NOUTPUTS] = {
    [SRV_V2_PROBS] = {"probabilities", "FP32", 2},
    [SRV_V2_PROBS_STEPS] = {"probabilities_per_step", "FP32", 3},
    [SRV_V2_STEPS] = {"steps", "INT32", 1},
};

/* The declared shape of input `image` (0) or `input` (1); -1 = any. */
static void input_shape(const snn_model *m, int which, int64_t d[4])
{
    d[0] = -1;
    if (which == 0) {
        d[1] = m->cfg.resize == SNN_RESIZE_BILINEAR ? -1 : m->cfg.in_h;
        d[2] = m->cfg.resize == SNN_RESIZE_BILINEAR ? -1 : m->cfg.in_w;
        d[3] = m->cfg.in_c;
    } else if (m->cfg.layout == SNN_LAYOUT_NHWC) {
        d[1] = m->cfg.in_h;
        d[2] = m->cfg.in_w;
        d[3] = m->cfg.in_c;
    } else {
        d[1] = m->cfg.in_c;
        d[2] = m->cfg.in_h;
        d[3] = m->cfg.in_w;
    }
}

static json_t *shape_json(int n, const int64_t *d)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(d[i]));
    return a;
}

static json_t *tensor_meta(const char *name, const char *dtype, int n, const int64_t *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "datatype", json_string(dtype));
    json_object_set_new(o, "shape", shape_json(n, d));
    return o;
}

static const char *shape_str(int n, const int64_t *d, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s%lld", i ? "," : "", (long long)d[i]);
    if (k < len) snprintf(buf + k, len - k, "]");
    return buf;
}

json_t *srv_v2_metadata(srv_model *e, srv_version *v)
{
    const snn_model *m = v->m;
    int64_t nc = snn_net_nclasses(v->def->net), d[4];
    json_t *o = json_object(), *vers = json_array(), *ins = json_array(), *outs = json_array();
    json_object_set_new(o, "name", json_string(e->name));
    json_array_append_new(vers, json_string(v->version_str));
    json_object_set_new(o, "versions", vers);
    json_object_set_new(o, "platform", json_string("snnd_spiking"));
    input_shape(m, 0, d);
    json_array_append_new(ins, tensor_meta("image", "UINT8", 4, d));
    input_shape(m, 1, d);
    json_array_append_new(ins, tensor_meta("input", "FP32", 4, d));
    int64_t probs[2] = {-1, nc}, steps[3] = {-1, -1, nc}, n1[1] = {-1};
    json_array_append_new(outs, tensor_meta("probabilities", "FP32", 2, probs));
    json_array_append_new(outs, tensor_meta("probabilities_per_step", "FP32", 3, steps));
    json_array_append_new(outs, tensor_meta("steps", "INT32", 1, n1));
    json_object_set_new(o, "inputs", ins);
    json_object_set_new(o, "outputs", outs);
    json_t *p = json_object();
    json_object_set_new(p, "inputs",
                        json_string("send exactly one: \"image\" (raw pixels 0..255, [N,H,W,C]; "
                                    "resized per the model config when H and W are -1) or \"input\" "
                                    "(the preprocessed model input); JSON data or binary_data_size"));
    json_object_set_new(p, "outputs",
                        json_string("probabilities: at each image's last simulated step; "
                                    "probabilities_per_step: every step; steps: steps simulated "
                                    "(early exit). All three by default; parameters.classification=K "
                                    "on probabilities gives BYTES [N,K] \"value:index:label\"; "
                                    "binary_data for raw bytes"));
    json_object_set_new(p, "request_parameters",
                        json_string("binary_data_output, timeout (microseconds), priority (0), and "
                                    "the conversion options GET /v1/models/{name} lists as overridable"));
    json_object_set_new(p, "default_steps", json_integer(m->cfg.steps));
    json_object_set_new(p, "max_steps", json_integer(v->max_steps));
    json_object_set_new(p, "max_batch", json_integer(v->max_batch));
    json_object_set_new(o, "parameters", p);
    return o;
}

/* ------------------------------------------------------------- request */

/* Bytes of the binary section, consumed in input order. */
typedef struct bin_cursor {
    const uint8_t *p;
    size_t left;
} bin_cursor;

static int is_int(json_t *v, long long lo, long long hi)
{
    return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

/* Request-level parameters: the v2 ones, else conversion options. */
static snn_err parse_params(srv_job *j, srv_opts *o, json_t *params, int *binary_all, snn_error *err)
{
    const char *k;
    json_t *v;
    if (!params) return SNN_OK;
    if (!json_is_object(params)) return snn_error_set(err, SNN_EINVALID, "\"parameters\" must be an object");
    json_object_foreach(params, k, v) {
        if (!strcmp(k, "binary_data_output")) {
            if (!json_is_boolean(v))
                return snn_error_set(err, SNN_EINVALID, "parameter binary_data_output must be a boolean");
            *binary_all = json_is_true(v);
        } else if (!strcmp(k, "timeout")) {
            /* Triton's schedule-policy parameter: microseconds, 0 = none; the
             * request's deadline like timeout_ms (capped by request-timeout-ms) */
            if (!is_int(v, 0, (long long)SRV_TIMEOUT_MAX_MS * 1000))
                return snn_error_set(err, SNN_EINVALID, "parameters.timeout: expected microseconds 0..%lld",
                                     (long long)SRV_TIMEOUT_MAX_MS * 1000);
            o->timeout_us = json_integer_value(v);
        } else if (!strcmp(k, "priority")) {
            if (!is_int(v, 0, 0))
                return snn_error_set(err, SNN_EINVALID,
                                     "parameter priority: only 0 (snnd has one FIFO queue per model)");
        } else if (!strcmp(k, "spike_stats") || !strcmp(k, "energy") || !strcmp(k, "raster") ||
                   !strcmp(k, "raster_neurons") || !strcmp(k, "top_k") || !strcmp(k, "stream")) {
            return snn_error_set(err, SNN_EINVALID,
                                 "parameter %s is not part of the v2 API (POST /v1/models/{name}/classify "
                                 "has it; v2 outputs: probabilities, probabilities_per_step, steps)", k);
        } else {
            snn_err rc = srv_opts_json(o, j->ver->m, k, v, err);
            if (rc != SNN_OK) return rc;
        }
    }
    return SNN_OK;
}

/* The input's shape against the declared one (-1 = free, bounded). */
static snn_err check_shape(srv_job *j, int which, json_t *shape, int64_t dims[4], snn_error *err)
{
    int64_t want[4];
    char a[80], b[80];
    input_shape(j->ver->m, which, want);
    const char *nm = which ? "input" : "image";
    if (!json_is_array(shape) || json_array_size(shape) != 4)
        return snn_error_set(err, SNN_ESHAPE, "input %s: shape must have rank 4, %s (model metadata)",
                             nm, shape_str(4, want, a, sizeof a));
    for (int i = 0; i < 4; i++) {
        json_t *v = json_array_get(shape, (size_t)i);
        if (!is_int(v, 1, INT32_MAX))
            return snn_error_set(err, SNN_ESHAPE, "input %s: shape[%d] must be a positive integer", nm, i);
        dims[i] = json_integer_value(v);
    }
    int bad = dims[0] > j->ver->max_batch;
    for (int i = 1; i < 4; i++) bad |= want[i] >= 0 && dims[i] != want[i];
    if (want[1] < 0)   /* resized image: bounded by the image limits */
        bad |= dims[1] > srv_cfg.max_image_side || dims[2] > srv_cfg.max_image_side ||
               dims[1] * dims[2] > srv_cfg.max_image_pixels;
    if (bad)
        return snn_error_set(err, dims[0] > j->ver->max_batch ? SNN_ELIMIT : SNN_ESHAPE,
                             "input %s: shape %s does not fit %s (model metadata; batch at most %d%s)",
                             nm, shape_str(4, dims, a, sizeof a), shape_str(4, want, b, sizeof b),
                             j->ver->max_batch, want[1] < 0 ? ", image within max-image-side/pixels" : "");
    return SNN_OK;
}

/* JSON data: flat or nested with the declared shape, elems values. */
static snn_err json_data(json_t *data, const char *nm, const int64_t dims[4], int64_t elems, float **vals,
                         snn_error *err)
{
    int64_t got[SNN_MAX_DIMS];
    int nd;
    snn_err rc = srv_body_json_array(data, elems, vals, got, &nd, err);
    if (rc != SNN_OK) return rc;
    int64_t total = 1;
    for (int i = 0; i < nd; i++) total *= got[i];
    int shape_ok = nd == 1 || (nd == 4 && !memcmp(got, dims, sizeof(int64_t) * 4));
    if (total != elems || !shape_ok) {
        free(*vals);
        *vals = NULL;
        char a[80];
        return snn_error_set(err, SNN_ESHAPE, "input %s: data has %lld values%s, shape %s needs %lld", nm,
                             (long long)total, shape_ok ? "" : " nested in another shape",
                             shape_str(4, dims, a, sizeof a), (long long)elems);
    }
    return SNN_OK;
}

static snn_err parse_input(srv_job *j, json_t *in, bin_cursor *bin, snn_error *err)
{
    const char *k;
    json_t *v, *name = NULL, *dtype = NULL, *shape = NULL, *data = NULL, *iparams = NULL;
    if (!json_is_object(in)) return snn_error_set(err, SNN_EINVALID, "an input must be an object");
    json_object_foreach(in, k, v) {
        if (!strcmp(k, "name")) name = v;
        else if (!strcmp(k, "datatype")) dtype = v;
        else if (!strcmp(k, "shape")) shape = v;
        else if (!strcmp(k, "data")) data = v;
        else if (!strcmp(k, "parameters")) iparams = v;
        else return snn_error_set(err, SNN_EINVALID, "input: unknown field \"%.40s\"", k);
    }
    if (!json_is_string(name) || !json_is_string(dtype) || !shape)
        return snn_error_set(err, SNN_EINVALID, "an input needs \"name\", \"shape\" and \"datatype\"");
    const char *nm = json_string_value(name), *dt = json_string_value(dtype);
    int which = !strcmp(nm, "image") ? 0 : !strcmp(nm, "input") ? 1 : -1;
    if (which < 0)
        return snn_error_set(err, SNN_EINVALID,
                             "unknown input \"%.40s\": the model takes \"image\" (UINT8) or \"input\" (FP32)", nm);
    const char *want_dt = which ? "FP32" : "UINT8";
    if (strcmp(dt, want_dt))
        return snn_error_set(err, SNN_EINVALID, "input %s: datatype %.20s, the model metadata says %s", nm, dt,
                             want_dt);
    int64_t dims[4];
    snn_err rc = check_shape(j, which, shape, dims, err);
    if (rc != SNN_OK) return rc;
    int64_t elems = dims[0] * dims[1] * dims[2] * dims[3];
    json_t *bsize = NULL;
    if (iparams) {
        if (!json_is_object(iparams)) return snn_error_set(err, SNN_EINVALID, "input %s: parameters must be an object", nm);
        json_object_foreach(iparams, k, v) {
            if (strcmp(k, "binary_data_size"))
                return snn_error_set(err, SNN_EINVALID, "input %s: unknown parameter \"%.40s\"", nm, k);
            bsize = v;
        }
    }
    if (!!bsize == !!data)
        return snn_error_set(err, SNN_EINVALID, "input %s: give either \"data\" or parameters.binary_data_size", nm);
    if ((rc = srv_body_alloc_input(j, (long)dims[0], err)) != SNN_OK) return rc;
    size_t esz = which ? 4 : 1;
    const uint8_t *raw = NULL;
    float *vals = NULL;
    if (bsize) {
        if (!is_int(bsize, 0, INT64_MAX) || (uint64_t)json_integer_value(bsize) != (uint64_t)elems * esz)
            return snn_error_set(err, SNN_EINVALID, "input %s: binary_data_size must be %lld bytes for its shape",
                                 nm, (long long)(elems * (int64_t)esz));
        if (!bin->p || bin->left < (size_t)elems * esz)
            return snn_error_set(err, SNN_EINVALID, "input %s: the body has %zu binary bytes, %lld needed%s", nm,
                                 bin->p ? bin->left : 0, (long long)(elems * (int64_t)esz),
                                 bin->p ? "" : " (no Inference-Header-Content-Length header)");
        raw = bin->p;
        bin->p += (size_t)elems * esz;
        bin->left -= (size_t)elems * esz;
    } else if ((rc = json_data(data, nm, dims, elems, &vals, err)) != SNN_OK) {
        return rc;
    }
    if (which == 1) {   /* the tensor as it is */
        for (int64_t i = 0; i < elems; i++) {
            float f;
            if (raw) {
                uint32_t u = (uint32_t)raw[4 * i] | (uint32_t)raw[4 * i + 1] << 8 |
                             (uint32_t)raw[4 * i + 2] << 16 | (uint32_t)raw[4 * i + 3] << 24;
                memcpy(&f, &u, sizeof f);
            } else {
                f = vals[i];
            }
            if (!isfinite(f)) {
                free(vals);
                return snn_error_set(err, SNN_EINVALID, "input input: value %lld is not finite", (long long)i);
            }
            j->input[i] = f;
        }
        free(vals);
        return SNN_OK;
    }
    /* pixels, image by image */
    size_t per = (size_t)(dims[1] * dims[2] * dims[3]);
    uint8_t *px = raw ? NULL : malloc(per);
    if (!raw && !px) {
        free(vals);
        return snn_error_set(err, SNN_ENOMEM, "out of memory");
    }
    for (int64_t b = 0; b < dims[0] && rc == SNN_OK; b++) {
        const uint8_t *img = raw ? raw + (size_t)b * per : px;
        for (size_t q = 0; !raw && q < per; q++) {
            float f = vals[(size_t)b * per + q];
            if (!(f >= 0.0f && f <= 255.0f) || f != floorf(f)) {
                rc = snn_error_set(err, SNN_EINVALID, "input image: UINT8 values are integers 0..255");
                break;
            }
            px[q] = (uint8_t)f;
        }
        if (rc == SNN_OK)
            rc = srv_body_add_pixels(j, (int)b, img, (int)dims[2], (int)dims[1], (int)dims[3], err);
    }
    free(px);
    free(vals);
    return rc;
}

static snn_err parse_outputs(srv_job *j, json_t *outputs, int binary_all, snn_error *err)
{
    srv_v2_req *q = &j->v2;
    if (!outputs) {   /* all of them, as Triton does */
        for (int i = 0; i < SRV_V2_NOUTPUTS; i++) q->out[q->nout++] = (srv_v2_out){(srv_v2_output)i, 0, binary_all};
        return SNN_OK;
    }
    if (!json_is_array(outputs) || json_array_size(outputs) == 0)
        return snn_error_set(err, SNN_EINVALID, "\"outputs\" must be a non-empty array");
    for (size_t i = 0; i < json_array_size(outputs); i++) {
        json_t *out = json_array_get(outputs, i), *v;
        const char *k;
        if (!json_is_object(out)) return snn_error_set(err, SNN_EINVALID, "an output must be an object");
        json_t *on = json_object_get(out, "name"), *op = json_object_get(out, "parameters");
        json_object_foreach(out, k, v)
            if (strcmp(k, "name") && strcmp(k, "parameters"))
                return snn_error_set(err, SNN_EINVALID, "output: unknown field \"%.40s\"", k);
        int which = -1;
        for (int w = 0; json_is_string(on) && w < SRV_V2_NOUTPUTS; w++)
            if (!strcmp(json_string_value(on), v2_outputs[w].name)) which = w;
        if (which < 0)
            return snn_error_set(err, SNN_EINVALID,
                                 "unknown output \"%.40s\" (the model has probabilities, "
                                 "probabilities_per_step, steps)", json_is_string(on) ? json_string_value(on) : "");
        for (int p = 0; p < q->nout; p++)
            if ((int)q->out[p].which == which)
                return snn_error_set(err, SNN_EINVALID, "output %s requested twice", v2_outputs[which].name);
        int cls = 0, bin = binary_all;
        if (op) {
            if (!json_is_object(op)) return snn_error_set(err, SNN_EINVALID, "output parameters must be an object");
            json_object_foreach(op, k, v) {
                if (!strcmp(k, "binary_data")) {
                    if (!json_is_boolean(v)) return snn_error_set(err, SNN_EINVALID, "binary_data must be a boolean");
                    bin = json_is_true(v);
                } else if (!strcmp(k, "classification") && which == SRV_V2_PROBS) {
                    if (!is_int(v, 1, INT32_MAX))
                        return snn_error_set(err, SNN_EINVALID, "classification must be a positive integer");
                    int nc = j->ver->m->cfg.nclasses;
                    cls = (int)(json_integer_value(v) > nc && nc > 0 ? nc : json_integer_value(v));
                } else {
                    return snn_error_set(err, SNN_EINVALID, "output %s: unknown parameter \"%.40s\"",
                                         v2_outputs[which].name, k);
                }
            }
        }
        q->out[q->nout++] = (srv_v2_out){(srv_v2_output)which, cls, bin};
    }
    return SNN_OK;
}

snn_err srv_v2_parse(srv_job *j, srv_opts *o, const char *body, size_t len, const char *hdrlen,
                     snn_error *err)
{
    bin_cursor bin = {NULL, 0};
    size_t jlen = len;
    if (hdrlen) {
        char *end;
        unsigned long long h = strtoull(hdrlen, &end, 10);
        if (!*hdrlen || *end || hdrlen[0] == '-' || h > len)
            return snn_error_set(err, SNN_EINVALID,
                                 "Inference-Header-Content-Length '%.30s' is not a length within the %zu-byte body",
                                 hdrlen, len);
        jlen = (size_t)h;
        bin.p = (const uint8_t *)body + jlen;
        bin.left = len - jlen;
    }
    int slot;
    json_t *root = srv_json_parse_admitted(j, body, jlen, &slot, err);
    if (!root) return err->code;
    snn_err rc = SNN_OK;
    json_t *inputs = NULL, *outputs = NULL, *params = NULL, *id = NULL, *v;
    const char *k;
    int binary_all = 0;
    if (!json_is_object(root)) {
        rc = snn_error_set(err, SNN_EINVALID, "the request must be a JSON object");
        goto out;
    }
    json_object_foreach(root, k, v) {
        if (!strcmp(k, "inputs")) inputs = v;
        else if (!strcmp(k, "outputs")) outputs = v;
        else if (!strcmp(k, "parameters")) params = v;
        else if (!strcmp(k, "id")) id = v;
        else {
            rc = snn_error_set(err, SNN_EINVALID, "unknown field \"%.40s\" (id, parameters, inputs, outputs)", k);
            goto out;
        }
    }
    if (id) {
        if (!json_is_string(id) || json_string_length(id) >= sizeof j->v2.id) {
            rc = snn_error_set(err, SNN_EINVALID, "\"id\" must be a string of at most 64 characters");
            goto out;
        }
        snprintf(j->v2.id, sizeof j->v2.id, "%s", json_string_value(id));
    }
    if ((rc = parse_params(j, o, params, &binary_all, err)) != SNN_OK) goto out;
    if (!json_is_array(inputs) || json_array_size(inputs) != 1) {
        rc = snn_error_set(err, SNN_EINVALID, "\"inputs\" must be an array with one input (\"image\" or \"input\")");
        goto out;
    }
    if ((rc = parse_input(j, json_array_get(inputs, 0), &bin, err)) != SNN_OK) goto out;
    if (bin.left)
        rc = snn_error_set(err, SNN_EINVALID, "%zu bytes after the binary data of the inputs", bin.left);
    else
        rc = parse_outputs(j, outputs, binary_all, err);
    j->batch_form = 1;
out:
    json_decref(root);
    if (slot) srv_decode_leave();
    return rc;
}

/* ------------------------------------------------------------ response */

/* Growing byte buffer for the binary section. */
typedef struct bytes {
    uint8_t *p;
    size_t len, cap;
    int oom;
} bytes;

static void put(bytes *b, const void *src, size_t n)
{
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
}

static void put_le32(bytes *b, uint32_t u)
{
    uint8_t x[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
    put(b, x, 4);
}

static void put_f32(bytes *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    put_le32(b, u);
}

/* Rows an image has: its stop step (early exit), else every step. */
static int image_rows(const snn_result *r, int img)
{
    int s = r->stop_step[img];
    return s >= 1 && s <= r->steps ? s : r->steps;
}

/* "value:index:label" for the top k of one probability row. */
static void classification(const snn_model *m, const float *p, int nc, int k, json_t *data, bytes *bin)
{
    unsigned char used[4096] = {0};
    int lim = nc < 4096 ? nc : 4096;
    for (int t = 0; t < k && t < lim; t++) {
        int best = -1;
        for (int c = 0; c < lim; c++)
            if (!used[c] && (best < 0 || p[c] > p[best])) best = c;
        used[best] = 1;
        char buf[256], lab[16];
        const char *label = best < m->cfg.nclasses && m->cfg.classes && m->cfg.classes[best]
                                ? m->cfg.classes[best]
                                : (snprintf(lab, sizeof lab, "%d", best), lab);
        int n = snprintf(buf, sizeof buf, "%f:%d:%s", p[best], best, label);
        if (n < 0) n = 0;
        if ((size_t)n >= sizeof buf) n = (int)sizeof buf - 1;
        if (bin) {
            put_le32(bin, (uint32_t)n);
            put(bin, buf, (size_t)n);
        } else {
            json_array_append_new(data, json_stringn(buf, (size_t)n));
        }
    }
}

static char *v2_answer(const srv_job *j, const snn_net *net, const snn_result *r, int off, size_t *len,
                       size_t *json_len)
{
    (void)net;
    const snn_model *m = j->ver->m;
    int nc = r->nclasses, n = j->n;
    json_t *o = json_object(), *outs = json_array();
    bytes bin = {0};
    json_object_set_new(o, "model_name", json_string(j->model->name));
    json_object_set_new(o, "model_version", json_string(j->ver->version_str));
    json_object_set_new(o, "id", json_string(j->v2.id[0] ? j->v2.id : j->id));
    json_t *params = json_object();
    json_object_set_new(params, "steps", json_integer(r->steps));
    json_object_set_new(o, "parameters", params);
    for (int q = 0; q < j->v2.nout; q++) {
        srv_v2_output which = j->v2.out[q].which;
        int cls = j->v2.out[q].classification, is_bin = j->v2.out[q].binary;
        json_t *out = json_object(), *data = is_bin ? NULL : json_array();
        bytes *b = is_bin ? &bin : NULL;
        size_t before = bin.len;
        int64_t shape[3];
        int rank;
        json_object_set_new(out, "name", json_string(v2_outputs[which].name));
        if (which == SRV_V2_PROBS && cls > 0) {
            shape[0] = n;
            shape[1] = cls;
            rank = 2;
            for (int i = 0; i < n; i++)
                classification(m, snn_result_probs(r, image_rows(r, off + i) - 1, off + i), nc, cls, data, b);
            json_object_set_new(out, "datatype", json_string("BYTES"));
        } else {
            json_object_set_new(out, "datatype", json_string(v2_outputs[which].datatype));
            shape[0] = n;
            if (which == SRV_V2_STEPS) {
                rank = 1;
                for (int i = 0; i < n; i++) {
                    int s = image_rows(r, off + i);
                    if (b) put_le32(b, (uint32_t)s);
                    else json_array_append_new(data, json_integer(s));
                }
            } else {
                int per_step = which == SRV_V2_PROBS_STEPS;
                rank = per_step ? 3 : 2;
                shape[1] = per_step ? r->steps : nc;
                shape[2] = nc;
                for (int i = 0; i < n; i++) {
                    int last = image_rows(r, off + i) - 1;
                    for (int s = per_step ? 0 : last; s <= (per_step ? r->steps - 1 : last); s++) {
                        const float *p = snn_result_probs(r, s, off + i);
                        for (int c = 0; c < nc; c++) {
                            if (b) put_f32(b, p[c]);
                            else json_array_append_new(data, json_real(p[c]));
                        }
                    }
                }
            }
        }
        json_object_set_new(out, "shape", shape_json(rank, shape));
        if (is_bin) {
            json_t *op = json_object();
            json_object_set_new(op, "binary_data_size", json_integer((json_int_t)(bin.len - before)));
            json_object_set_new(out, "parameters", op);
        } else {
            json_object_set_new(out, "data", data);
        }
        json_array_append_new(outs, out);
    }
    json_object_set_new(o, "outputs", outs);
    char *s = json_dumps(o, V2_DUMP);
    json_decref(o);
    *json_len = 0;
    if (!s || bin.oom) {
        free(s);
        free(bin.p);
        return NULL;
    }
    *len = strlen(s);
    if (bin.len) {
        char *all = realloc(s, *len + bin.len);
        if (!all) {
            free(s);
            free(bin.p);
            return NULL;
        }
        memcpy(all + *len, bin.p, bin.len);
        *json_len = *len;
        *len += bin.len;
        s = all;
    }
    free(bin.p);
    return s;
}

const srv_sink srv_sink_v2 = {NULL, v2_answer};   /* no stream: one answer */
