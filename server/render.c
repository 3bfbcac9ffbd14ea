/* render.c: results and models as JSON.
 *
 * DESIGN: the shape of /classify answers (single image or "results" per
 * image for batch requests), their SSE `timestep` event data and model
 * descriptions (v2.c has the v2 protocol's). The scheduler reaches the
 * answers only through a job's sink (srv_sink_classify, and
 * srv_sink_classify_stream for streams): a worker calls it right after the
 * engine run, or after each step, while its snn_result still holds the
 * run, so nothing is copied out of it first. Floats are printed with 6
 * significant digits.
 */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DUMP_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6))

char *srv_render_error(const char *msg, size_t *len)
{
    json_t *o = json_object();
    json_object_set_new(o, "error", json_string(msg ? msg : "error"));
    char *s = json_dumps(o, DUMP_FLAGS);
    json_decref(o);
    if (!s) {
        s = strdup("{\"error\":\"invalid error message\"}");
    }
    if (len && s) *len = strlen(s);
    return s;
}

static const char *class_name(const snn_model *m, int i, char *buf, size_t len)
{
    if (m->cfg.classes && i >= 0 && i < m->cfg.nclasses && m->cfg.classes[i])
        return m->cfg.classes[i];
    snprintf(buf, len, "%d", i);
    return buf;
}

static json_t *probs_row(const float *p, int nc)
{
    json_t *a = json_array();
    for (int c = 0; c < nc; c++) json_array_append_new(a, json_real(p[c]));
    return a;
}

static json_t *class_entry(const snn_model *m, int idx, double prob)
{
    char buf[16];
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(idx));
    json_object_set_new(o, "label", json_string(class_name(m, idx, buf, sizeof buf)));
    json_object_set_new(o, "probability", json_real(prob));
    return o;
}

static int stop_rows(const snn_result *r, int img)
{
    int s = r->stop_step ? r->stop_step[img] : r->steps;
    if (s < 1 || s > r->steps) s = r->steps;
    return s;
}

/* Top k of one probability row, highest first (ties: lower index). */
static json_t *top_k(const snn_model *m, const float *p, int nc, int k)
{
    json_t *a = json_array();
    int used[4096];
    int lim = nc < 4096 ? nc : 4096;
    memset(used, 0, sizeof(int) * (size_t)lim);
    for (int t = 0; t < k && t < lim; t++) {
        int best = -1;
        for (int c = 0; c < lim; c++)
            if (!used[c] && (best < 0 || p[c] > p[best])) best = c;
        used[best] = 1;
        json_array_append_new(a, class_entry(m, best, p[best]));
    }
    return a;
}

static json_t *image_result(const srv_job *j, const snn_result *r, int img)
{
    const snn_model *m = j->ver->m;
    int nc = r->nclasses, rows = stop_rows(r, img);
    json_t *o = json_object(), *pr = json_array();
    for (int s = 0; s < rows; s++) json_array_append_new(pr, probs_row(snn_result_probs(r, s, img), nc));
    json_object_set_new(o, "probabilities", pr);
    json_object_set_new(o, "prediction", class_entry(m, r->pred[img], r->pred_prob[img]));
    if (j->top_k > 0)
        json_object_set_new(o, "top_k", top_k(m, snn_result_probs(r, rows - 1, img), nc, j->top_k));
    json_object_set_new(o, "stop_step", json_integer(rows));
    return o;
}

static json_t *classes_json(const snn_model *m, int nc)
{
    char buf[16];
    json_t *a = json_array();
    for (int c = 0; c < nc; c++) json_array_append_new(a, json_string(class_name(m, c, buf, sizeof buf)));
    return a;
}

static json_t *spike_stats(const srv_job *j, const snn_net *net, const snn_result *r)
{
    json_t *a = json_array();
    double dt = snn_net_params(net)->dt;
    for (int l = 0; l < r->nlayers && l < snn_net_nlayers(net); l++) {
        const snn_layer_info *li = snn_net_layer(net, l);
        const snn_layer_stats *st = &r->layers[l];
        if (li->kind != SNN_LAYER_NEURONS) continue;
        json_t *o = json_object(), *ps = json_array();
        double denom = (double)st->neurons * j->n;
        json_object_set_new(o, "name", json_string(li->name));
        json_object_set_new(o, "neurons", json_integer(st->neurons));
        json_object_set_new(o, "spikes", json_real(st->spikes));
        for (int s = 0; s < r->steps && st->spikes_per_step; s++)
            json_array_append_new(ps, json_real(st->spikes_per_step[s]));
        json_object_set_new(o, "spikes_per_step", ps);
        json_object_set_new(o, "rate_hz", json_real(denom > 0 && r->steps > 0 && dt > 0
                                                        ? st->spikes / (denom * r->steps * dt) : 0));
        json_object_set_new(o, "fired_fraction", json_real(denom > 0 ? st->fired_neurons / denom : 0));
        json_object_set_new(o, "syn_events", json_real(st->syn_events));
        json_array_append_new(a, o);
    }
    return a;
}

static json_t *raster(const srv_job *j, const snn_result *r)
{
    const snn_raster *ra = &r->raster;
    json_t *o = json_object(), *idx = json_array(), *counts = json_array();
    json_object_set_new(o, "layer", json_string(j->raster_name));
    json_object_set_new(o, "image", json_integer(0));
    for (int k = 0; k < ra->nneurons && ra->neuron_index; k++)
        json_array_append_new(idx, json_integer(ra->neuron_index[k]));
    for (int s = 0; s < r->steps && ra->counts; s++) {
        json_t *row = json_array();
        for (int k = 0; k < ra->nneurons; k++)
            json_array_append_new(row, json_integer(ra->counts[(size_t)s * ra->nneurons + k]));
        json_array_append_new(counts, row);
    }
    json_object_set_new(o, "neurons", idx);
    json_object_set_new(o, "counts", counts);
    return o;
}

/* The energy of one image (img >= 0) or of the request's mean image
 * (img < 0) on each requested device, beside the ANN's: one row shape for
 * both. */
static json_t *energy(const srv_job *j, const snn_net *net, const snn_result *r, int img)
{
    json_t *a = json_array();
    for (int d = 0; d < j->ndevices; d++) {
        snn_energy es, ea;
        if (img >= 0) snn_energy_snn_image(net, r, img, j->devices[d], &es);
        else snn_energy_snn(net, r, j->n, j->devices[d], &es);
        snn_energy_ann(net, j->devices[d], &ea);
        json_t *o = json_object();
        json_object_set_new(o, "device", json_string(j->devices[d]->name));
        json_object_set_new(o, "spiking", json_boolean(j->devices[d]->spiking));
        json_object_set_new(o, "snn_joules", json_real(es.joules));
        json_object_set_new(o, "ann_joules", json_real(ea.joules));
        json_object_set_new(o, "snn_synops", json_real(es.synops));
        json_object_set_new(o, "ann_synops", json_real(ea.synops));
        json_object_set_new(o, "snn_neuron_updates", json_real(es.neuron_updates));
        json_object_set_new(o, "ann_neuron_updates", json_real(ea.neuron_updates));
        json_object_set_new(o, "snn_to_ann", json_real(ea.joules > 0 ? es.joules / ea.joules : 0));
        json_array_append_new(a, o);
    }
    return a;
}

/* What the conversion changed in the network's function (snn_net_note):
 * an array, empty when nothing. */
static json_t *notes_json(const snn_net *net)
{
    json_t *a = json_array();
    for (int i = 0; i < snn_net_nnotes(net); i++) json_array_append_new(a, json_string(snn_net_note(net, i)));
    return a;
}

/* The conversion as an object: the conversion rows of the option table,
 * each value as its option text reads it (numbers as numbers); rows at a
 * default that formats omit (thresholds none, maxpool gated) are absent. */
static json_t *conversion_json(const snn_convert_params *p)
{
    json_t *o = json_object();
    snn_run_params rp;
    snn_run_params_init(&rp);
    rp.convert = *p;
    for (int i = 0; i < snn_params_count(); i++) {
        const snn_param *row = snn_param_at(i);
        char v[1024], *end;
        if (!(row->flags & SNN_PARAM_CONVERSION)) continue;
        row->format(&rp, v, sizeof v);
        if (!v[0]) continue;
        double d = strtod(v, &end);
        json_object_set_new(o, row->name, *end || end == v ? json_string(v) : json_real(d));
    }
    return o;
}

/* One image's spikes per neuron layer (batch items: the run's totals are
 * spike_stats at the top level). */
static json_t *image_spike_stats(const snn_net *net, const snn_result *r, int img)
{
    json_t *a = json_array();
    double dt = snn_net_params(net)->dt;
    int steps = r->stop_step[img] > 0 ? r->stop_step[img] : r->steps;
    for (int l = 0; l < r->nlayers && l < snn_net_nlayers(net); l++) {
        const snn_layer_info *li = snn_net_layer(net, l);
        const snn_layer_stats *st = &r->layers[l];
        if (li->kind != SNN_LAYER_NEURONS) continue;
        double n = (double)st->neurons, sp = st->spikes_by_image[img];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(li->name));
        json_object_set_new(o, "spikes", json_real(sp));
        json_object_set_new(o, "rate_hz", json_real(n > 0 && steps > 0 && dt > 0 ? sp / (n * steps * dt) : 0));
        json_object_set_new(o, "fired_fraction", json_real(n > 0 ? st->fired_by_image[img] / n : 0));
        json_object_set_new(o, "syn_events", json_real(n > 0 ? sp * (double)li->fanout_total / n : 0));
        json_array_append_new(a, o);
    }
    return a;
}

static char *classify_answer(const srv_job *j, const snn_net *net, const snn_result *r, int off,
                             size_t *len, size_t *json_len)
{
    *json_len = 0;
    const snn_model *m = j->ver->m;
    double now = srv_now();
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(j->id));
    json_object_set_new(o, "model", json_string(j->model->name));
    json_object_set_new(o, "version", json_string(j->ver->version_str));
    json_object_set_new(o, "steps", json_integer(r->steps));
    json_object_set_new(o, "dt", json_real(snn_net_params(net)->dt));
    json_object_set_new(o, "conversion", conversion_json(snn_net_params(net)));
    json_object_set_new(o, "notes", notes_json(net));
    json_object_set_new(o, "classes", classes_json(m, r->nclasses));
    if (j->batch_form) {
        json_t *a = json_array();
        for (int b = 0; b < j->n; b++) {
            json_t *x = image_result(j, r, off + b);
            /* a batch's statistics image by image (the top level has the totals) */
            if (j->spike_stats) json_object_set_new(x, "spike_stats", image_spike_stats(net, r, off + b));
            if (j->ndevices) json_object_set_new(x, "energy", energy(j, net, r, off + b));
            json_array_append_new(a, x);
        }
        json_object_set_new(o, "results", a);
    } else {
        json_t *one = image_result(j, r, off);
        json_object_update(o, one);
        json_decref(one);
    }
    if (j->spike_stats) json_object_set_new(o, "spike_stats", spike_stats(j, net, r));
    if (j->run.raster_layer >= 0) json_object_set_new(o, "raster", raster(j, r));
    if (j->ndevices) json_object_set_new(o, "energy", energy(j, net, r, -1));
    json_object_set_new(o, "batch_size", json_integer(j->batch_size));
    json_object_set_new(o, "queue_ms", json_real((j->t_run - j->t_enqueue) * 1e3));
    json_object_set_new(o, "compute_ms", json_real((now - j->t_run) * 1e3));
    char *s = json_dumps(o, DUMP_FLAGS);
    json_decref(o);
    if (s) *len = strlen(s);
    return s;
}

/* SSE data of one timestep (step index s, 0-based). new. */
static char *render_step(const srv_job *j, const snn_result *r, int off, int s)
{
    const snn_model *m = j->ver->m;
    int nc = r->nclasses;
    json_t *o = json_object();
    json_object_set_new(o, "step", json_integer(s + 1));
    json_t *imgs = j->batch_form ? json_array() : NULL;
    for (int b = 0; b < j->n; b++) {
        const float *p = snn_result_probs(r, s, off + b);
        int best = snn_argmax(p, nc);
        json_t *x = imgs ? json_object() : o;
        json_object_set_new(x, "probabilities", probs_row(p, nc));
        json_object_set_new(x, "prediction", class_entry(m, best, p[best]));
        if (imgs) json_array_append_new(imgs, x);
        else break;
    }
    if (imgs) json_object_set_new(o, "images", imgs);
    char *str = json_dumps(o, DUMP_FLAGS);
    json_decref(o);
    return str;
}

/* A finished step of a streamed /classify run: one `timestep` event. */
static void classify_step(srv_job *j, const snn_result *r, int off, int s)
{
    char *data = render_step(j, r, off, s);
    if (data) srv_job_event(j, "timestep", data);
    free(data);
}

const srv_sink srv_sink_classify = {NULL, classify_answer};
const srv_sink srv_sink_classify_stream = {classify_step, classify_answer};

json_t *srv_render_model(srv_model *e, srv_version *v, int detail)
{
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(e->name));
    uv_mutex_lock(&e->mu);
    json_object_set_new(o, "state", json_string(v ? "READY" : e->loading ? "LOADING" : "UNAVAILABLE"));
    if (e->last_error[0]) json_object_set_new(o, "last_error", json_string(e->last_error));
    uv_mutex_unlock(&e->mu);
    if (!v) return o;
    const snn_model *m = v->m;
    const snn_net *net = v->def->net;
    json_object_set_new(o, "version", json_string(v->version_str));
    if (m->cfg.description) json_object_set_new(o, "description", json_string(m->cfg.description));
    json_object_set_new(o, "classes", classes_json(m, snn_net_nclasses(net)));
    json_t *in = json_object();
    json_object_set_new(in, "channels", json_integer(m->cfg.in_c));
    json_object_set_new(in, "height", json_integer(m->cfg.in_h));
    json_object_set_new(in, "width", json_integer(m->cfg.in_w));
    json_object_set_new(in, "layout", json_string(m->cfg.layout == SNN_LAYOUT_NCHW ? "nchw" : "nhwc"));
    json_object_set_new(in, "resize", json_string(m->cfg.resize == SNN_RESIZE_BILINEAR ? "bilinear" : "reject"));
    json_object_set_new(o, "input", in);
    json_object_set_new(o, "steps", json_integer(m->cfg.steps));
    json_object_set_new(o, "max_steps", json_integer(v->max_steps));
    json_object_set_new(o, "max_batch", json_integer(v->max_batch));
    json_object_set_new(o, "conversion", conversion_json(&m->cfg.convert));
    json_object_set_new(o, "dt", json_real(m->cfg.convert.dt));
    json_object_set_new(o, "neuron", json_string(snn_neuron_type_name(m->cfg.convert.neuron)));
    json_t *ov = json_array();
    for (int i = 0; i < snn_params_count(); i++) {   /* the option table's names */
        const snn_param *row = snn_param_at(i);
        if (row->override_bit && !(row->flags & SNN_PARAM_FIELD) && (m->cfg.overridable & row->override_bit))
            json_array_append_new(ov, json_string(row->name));
    }
    json_object_set_new(o, "overridable", ov);
    json_object_set_new(o, "notes", notes_json(net));
    json_t *ee = json_object();
    json_object_set_new(ee, "patience", json_integer(m->cfg.early_exit.patience));
    json_object_set_new(ee, "min_prob", json_real(m->cfg.early_exit.min_prob));
    json_object_set_new(ee, "min_margin", json_real(m->cfg.early_exit.min_margin));
    json_object_set_new(ee, "min_steps", json_integer(m->cfg.early_exit.min_steps));
    json_object_set_new(o, "early_exit", ee);
    json_object_set_new(o, "memory_bytes", json_integer((json_int_t)v->memory_bytes));
    json_object_set_new(o, "loaded_at", json_real(v->loaded_at));
    if (!detail) return o;
    json_t *layers = json_array();
    int64_t tn = 0, tp = 0, tm = 0;
    static const char *const kinds[] = {"input", "neurons", "output"};
    for (int l = 0; l < snn_net_nlayers(net); l++) {
        const snn_layer_info *li = snn_net_layer(net, l);
        json_t *x = json_object(), *shape = json_array();
        json_object_set_new(x, "name", json_string(li->name));
        json_object_set_new(x, "kind", json_string((unsigned)li->kind < 3 ? kinds[li->kind] : "?"));
        json_object_set_new(x, "ops", json_string(li->ops));
        json_array_append_new(shape, json_integer(li->c));
        json_array_append_new(shape, json_integer(li->h));
        json_array_append_new(shape, json_integer(li->w));
        json_object_set_new(x, "shape", shape);
        json_object_set_new(x, "neurons", json_integer(li->neurons));
        json_object_set_new(x, "params", json_integer(li->params));
        json_object_set_new(x, "macs", json_integer(li->macs));
        json_object_set_new(x, "fanout", json_integer(li->fanout_total));
        json_object_set_new(x, "scale", json_real(li->scale));
        json_object_set_new(x, "threshold", json_real(li->threshold));
        json_object_set_new(x, "synapse_in", json_boolean(li->synapse_in));
        json_array_append_new(layers, x);
        if (li->kind == SNN_LAYER_NEURONS) tn += li->neurons;
        tp += li->params;
        tm += li->macs;
    }
    json_object_set_new(o, "layers", layers);
    json_t *tot = json_object();
    json_object_set_new(tot, "neurons", json_integer(tn));
    json_object_set_new(tot, "params", json_integer(tp));
    json_object_set_new(tot, "macs", json_integer(tm));
    json_object_set_new(o, "totals", tot);
    return o;
}
