/* calibrate.c: per-layer activation thresholds from calibration images
 * (max or robust percentile, Rueckauer et al. 2017). See calibrate.h.
 *
 * A neuron layer's activations are those of its ReLU/Clip node in the
 * graph (the net records which), keyed by the layer's name.
 *
 * Bias correction (Li et al. 2021) compares, per channel, the ANN's mean
 * activation with the spiking layer's mean output. The latter is read from
 * the engine's raster of image 0 (every neuron of the layer when it has at
 * most 65536, else a sample that covers every channel), one image per run:
 * the engine stays untouched, at the price of single-image runs (the
 * tables are computed offline, by snnctl calibrate).
 *
 * Percentiles come from a log-binned histogram of the positive activations
 * (64 bins per octave, about 1% resolution), so memory does not grow with
 * the number of images.
 */
#include "snn/calibrate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"
#include "snn/engine.h"

#define BINS_PER_OCTAVE 64
#define OCT_LO (-40)
#define OCT_HI 40
#define NBINS ((OCT_HI - OCT_LO) * BINS_PER_OCTAVE)
#define CAL_BATCH 32

typedef struct cal_layer {
    char name[SNN_LAYER_NAME_MAX];
    double max;
    double ceiling;             /* the Clip maximum of the layer, 0 = none */
    double npos;
    double *hist;
} cal_layer;

typedef struct cal_state {
    int nlayers;
    cal_layer *layers;
    int *node_layer;     /* graph node -> calibration layer or -1 */
} cal_state;

static void on_act(void *ud, const snn_graph *g, int node, const float *data, int64_t n)
{
    cal_state *s = ud;
    int li = s->node_layer[node];
    if (li < 0) return;
    cal_layer *L = &s->layers[li];
    for (int64_t i = 0; i < n; i++) {
        float a = data[i];
        if (!(a > 0.0f)) continue;
        if (a > L->max) L->max = a;
        L->npos++;
        int b = (int)floor((log2((double)a) - OCT_LO) * BINS_PER_OCTAVE);
        if (b < 0) b = 0;
        if (b >= NBINS) b = NBINS - 1;
        L->hist[b]++;
    }
}

static double percentile(const cal_layer *L, double pc)
{
    if (L->npos <= 0) return 0;
    if (pc >= 100) return L->max;
    double want = L->npos * pc / 100.0, cum = 0;
    for (int b = 0; b < NBINS; b++) {
        cum += L->hist[b];
        if (cum >= want) {
            double hi = exp2((double)(b + 1) / BINS_PER_OCTAVE + OCT_LO);
            return hi < L->max ? hi : L->max;
        }
    }
    return L->max;
}

/* The ANN over n inputs in batches of CAL_BATCH, every activation handed
 * to cb (the graph's activation callback); the outputs are discarded. */
static snn_err ann_pass(const snn_model *m, const float *inputs, int n, snn_graph_act_cb cb, void *ud,
                        snn_error *err)
{
    const snn_graph *g = m->graph;
    size_t isz = snn_model_input_size(m);
    int64_t osz = snn_tensor_item_elems(&g->tensors[g->output]);
    float *out = malloc(sizeof(float) * (size_t)(osz * CAL_BATCH));
    snn_graph_ws *ws = snn_graph_ws_new();
    snn_err e = SNN_OK;
    if (!out || !ws) e = snn_error_set(err, SNN_ENOMEM, "out of memory");
    for (int i = 0; i < n && !e; i += CAL_BATCH) {
        int b = n - i < CAL_BATCH ? n - i : CAL_BATCH;
        e = snn_graph_run_ws(g, ws, inputs + (size_t)i * isz, b, out, cb, ud, err);
    }
    free(out);
    snn_graph_ws_free(ws);
    return e;
}

snn_err snn_calibrate(const snn_model *m, const float *inputs, int n, snn_convert_params *p,
                      snn_error *err)
{
    const snn_graph *g = m->graph;
    if (n < 1) return snn_error_set(err, SNN_EINVALID, "calibration needs at least one image");
    snn_convert_params plain = *p;
    plain.normalize = SNN_NORM_NONE;
    plain.bias_correction = 0;   /* thresholds come from the ANN alone */
    snn_net *net = snn_net_new(m, &plain, err);
    if (!net) return err ? err->code : SNN_EINVALID;
    cal_state s = {0};
    snn_err e = SNN_OK;
    s.node_layer = malloc(sizeof(int) * (size_t)g->nnodes);
    s.layers = calloc((size_t)snn_net_nlayers(net), sizeof *s.layers);
    if (!s.node_layer || !s.layers) {
        e = snn_error_set(err, SNN_ENOMEM, "out of memory");
        goto done;
    }
    /* each neuron layer is a ReLU/Clip node of the graph: its activations */
    for (int i = 0; i < g->nnodes; i++) s.node_layer[i] = -1;
    for (int l = 1; l < snn_net_nlayers(net); l++) {
        const klayer *ly = &net->layers[l];
        if (ly->info.kind != SNN_LAYER_NEURONS || ly->node < 0) continue;
        cal_layer *L = &s.layers[s.nlayers];
        snprintf(L->name, sizeof L->name, "%s", ly->info.name);
        L->ceiling = ly->clip_max;
        if (!(L->hist = calloc(NBINS, sizeof(double)))) {
            e = snn_error_set(err, SNN_ENOMEM, "out of memory");
            goto done;
        }
        s.node_layer[ly->node] = s.nlayers++;
    }
    if (s.nlayers > SNN_MAX_LAYER_PARAMS) {
        e = snn_error_set(err, SNN_ELIMIT, "calibration: more than %d neuron layers",
                          SNN_MAX_LAYER_PARAMS);
        goto done;
    }
    if ((e = ann_pass(m, inputs, n, on_act, &s, err))) goto done;
    p->nthresholds = s.nlayers;
    for (int k = 0; k < s.nlayers; k++) {
        double v = p->normalize == SNN_NORM_PERCENTILE ? percentile(&s.layers[k], p->percentile)
                                                       : s.layers[k].max;
        if (p->normalize == SNN_NORM_CEILING && s.layers[k].ceiling > 0) v = s.layers[k].ceiling;
        if (!(v > 0)) v = 1.0; /* a layer that never fired keeps the nengo scale */
        snprintf(p->thresholds[k].layer, SNN_LAYER_NAME_MAX, "%s", s.layers[k].name);
        p->thresholds[k].value = (float)v;
    }
done:
    if (s.layers)
        for (int k = 0; k < s.nlayers; k++) free(s.layers[k].hist);
    free(s.layers);
    free(s.node_layer);
    snn_net_free(net);
    return e;
}

/* ------------------------------------------------------ bias correction */

#define RASTER_MAX 65536

typedef struct bias_state {
    const snn_net *net;
    int *node_layer;     /* graph node -> net layer index or -1 */
    double **ann_sum;    /* [net layer][channel] sum of activations */
    double **ann_cnt;    /* [net layer][channel] number of activations summed */
} bias_state;

/* The channel (net storage order) of element j of an ANN activation item. */
static int ann_channel(const klayer *ly, int64_t j)
{
    const kshape *s = &ly->shape;
    if (!s->spatial) return (int)(ly->perm ? ly->perm[j] : j);
    return ly->logical_nhwc ? (int)(j % s->c) : (int)(j / ((int64_t)s->h * s->w) % s->c);
}

static void on_act_bias(void *ud, const snn_graph *g, int node, const float *data, int64_t n)
{
    (void)g;
    bias_state *s = ud;
    int l = s->node_layer[node];
    if (l < 0) return;
    const klayer *ly = &s->net->layers[l];
    int64_t item = kshape_size(&ly->shape);
    for (int64_t i = 0; i < n; i++) {
        int c = ann_channel(ly, i % item);
        s->ann_sum[l][c] += data[i];
        s->ann_cnt[l][c] += 1;
    }
}

/* The whole measuring apparatus for one net: the ANN's per-channel means
 * and a single-image engine with a raster of up to RASTER_MAX neurons. */
typedef struct bias_probe {
    snn_net *net;
    snn_engine *eng;
    snn_result res;
    int steps;
    double **ann_mean;   /* [net layer][channel]; NULL for non-neuron layers */
    double *sum, *cnt;   /* scratch [channels] */
} bias_probe;

static void probe_deinit(bias_probe *pb)
{
    if (pb->ann_mean)
        for (int l = 0; pb->net && l < pb->net->nlayers; l++) free(pb->ann_mean[l]);
    free(pb->ann_mean);
    free(pb->sum);
    free(pb->cnt);
    snn_result_deinit(&pb->res);
    snn_engine_free(pb->eng);
    snn_net_free(pb->net);
    memset(pb, 0, sizeof *pb);
}

static snn_err probe_init(bias_probe *pb, const snn_model *m, const float *inputs, int n,
                          const snn_convert_params *p, int steps, snn_error *err)
{
    memset(pb, 0, sizeof *pb);
    pb->steps = steps;
    if (!snn_neuron_spikes(p->neuron))
        return snn_error_set(err, SNN_EINVALID, "bias correction needs spiking neurons (neuron=%s has none)",
                             snn_neuron_type_name(p->neuron));
    if (n < 1 || steps < 1)
        return snn_error_set(err, SNN_EINVALID, "bias correction needs at least one image and one step");
    if (!(pb->net = snn_net_new(m, p, err))) return err ? err->code : SNN_EINVALID;
    const snn_net *net = pb->net;
    const snn_graph *g = m->graph;
    bias_state s = {net, NULL, NULL, NULL};
    snn_err e = SNN_OK;
    int maxc = 1;
    for (int l = 0; l < net->nlayers; l++)
        if (net->layers[l].shape.c > maxc) maxc = net->layers[l].shape.c;
    s.node_layer = malloc(sizeof(int) * (size_t)g->nnodes);
    s.ann_sum = calloc((size_t)net->nlayers, sizeof *s.ann_sum);
    s.ann_cnt = calloc((size_t)net->nlayers, sizeof *s.ann_cnt);
    pb->ann_mean = calloc((size_t)net->nlayers, sizeof *pb->ann_mean);
    pb->sum = malloc(sizeof(double) * (size_t)maxc);
    pb->cnt = malloc(sizeof(double) * (size_t)maxc);
    if (!s.node_layer || !s.ann_sum || !s.ann_cnt || !pb->ann_mean || !pb->sum || !pb->cnt) {
        e = snn_error_set(err, SNN_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < g->nnodes; i++) s.node_layer[i] = -1;
    for (int l = 1; l < net->nlayers; l++) {
        const klayer *ly = &net->layers[l];
        if (ly->info.kind != SNN_LAYER_NEURONS || ly->node < 0) continue;
        int C = ly->shape.c;
        if (!(s.ann_sum[l] = calloc((size_t)C, sizeof(double))) ||
            !(s.ann_cnt[l] = calloc((size_t)C, sizeof(double))) ||
            !(pb->ann_mean[l] = calloc((size_t)C, sizeof(double)))) {
            e = snn_error_set(err, SNN_ENOMEM, "out of memory");
            goto done;
        }
        s.node_layer[ly->node] = l;
    }
    if ((e = ann_pass(m, inputs, n, on_act_bias, &s, err))) goto done;
    for (int l = 1; l < net->nlayers; l++)
        for (int c = 0; pb->ann_mean[l] && c < net->layers[l].shape.c; c++)
            pb->ann_mean[l][c] = s.ann_cnt[l][c] > 0 ? s.ann_sum[l][c] / s.ann_cnt[l][c] : 0;
    int64_t maxn = 1;
    for (int l = 1; l < net->nlayers; l++)
        if (net->layers[l].info.kind == SNN_LAYER_NEURONS && net->layers[l].info.neurons > maxn)
            maxn = net->layers[l].info.neurons;
    int rn = maxn < RASTER_MAX ? (int)maxn : RASTER_MAX;
    if (!(pb->eng = snn_engine_new(net, 1, steps, SNN_ENGINE_FAST, err))) {
        e = err ? err->code : SNN_ENOMEM;
        goto done;
    }
    if (snn_result_init(&pb->res, net, 1, steps, rn)) e = snn_error_set(err, SNN_ENOMEM, "out of memory");
done:
    for (int l = 0; l < net->nlayers; l++) {
        if (s.ann_sum) free(s.ann_sum[l]);
        if (s.ann_cnt) free(s.ann_cnt[l]);
    }
    free(s.ann_sum);
    free(s.ann_cnt);
    free(s.node_layer);
    if (e) probe_deinit(pb);
    return e;
}

/* Layer l's per-channel mean spiking output minus the ANN's, into diff
 * [channels]; returns the channels' mean |diff| (or -1 on error). */
static double probe_layer(bias_probe *pb, int l, const float *inputs, int n, size_t isz, double *diff,
                          snn_error *err)
{
    const klayer *ly = &pb->net->layers[l];
    const int C = ly->shape.c;
    snn_run_opts ro;
    snn_run_opts_init(&ro);
    ro.steps = pb->steps;
    ro.stats = 0;
    ro.raster_layer = l;
    ro.raster_neurons = pb->res.raster.max_neurons;
    memset(pb->sum, 0, sizeof(double) * (size_t)C);
    memset(pb->cnt, 0, sizeof(double) * (size_t)C);
    for (int i = 0; i < n; i++) {
        if (snn_engine_run(pb->eng, inputs + (size_t)i * isz, 1, &ro, &pb->res, err)) return -1;
        const snn_raster *r = &pb->res.raster;
        for (int k = 0; k < r->nneurons; k++) {
            int c = (int)(r->neuron_index[k] % C);
            double spikes = 0;
            for (int t = 0; t < pb->steps; t++) spikes += r->counts[(size_t)t * r->nneurons + k];
            pb->sum[c] += spikes;
            pb->cnt[c] += 1;
        }
    }
    /* a spike carries amplitude / dt of activation; a step lasts dt */
    const double per_spike = ly->amplitude / pb->net->params.dt;
    double gap = 0;
    for (int c = 0; c < C; c++) {
        double snn = pb->cnt[c] > 0 ? pb->sum[c] * per_spike / (pb->cnt[c] * pb->steps) : 0;
        diff[c] = pb->ann_mean[l][c] - snn;
        gap += fabs(diff[c]);
    }
    return gap / C;
}

snn_err snn_calibrate_bias(const snn_model *m, const float *inputs, int n, const snn_convert_params *p,
                           int steps, snn_bias_table **out, double *gap, snn_error *err)
{
    *out = NULL;
    snn_convert_params plain = *p;
    plain.bias_correction = 0;
    bias_probe pb;
    snn_err e = probe_init(&pb, m, inputs, n, &plain, steps, err);
    if (e) return e;
    snn_bias_table *t = snn_bias_table_new();
    double *diff = NULL;
    float *off = NULL;
    int maxc = 1, k = 0;
    for (int l = 0; l < pb.net->nlayers; l++)
        if (pb.net->layers[l].shape.c > maxc) maxc = pb.net->layers[l].shape.c;
    if (!t || !(diff = malloc(sizeof(double) * (size_t)maxc)) || !(off = malloc(sizeof(float) * (size_t)maxc))) {
        e = snn_error_set(err, SNN_ENOMEM, "out of memory");
        goto done;
    }
    t->steps = steps;
    t->images = n;
    snn_convert_params_format(&plain, t->conversion, sizeof t->conversion);
    size_t isz = snn_model_input_size(m);
    /* layers are in topological order: each is measured with the ones
     * before it corrected */
    for (int l = 1; l < pb.net->nlayers; l++) {
        const klayer *ly = &pb.net->layers[l];
        if (ly->info.kind != SNN_LAYER_NEURONS || !pb.ann_mean[l]) continue;
        double g = probe_layer(&pb, l, inputs, n, isz, diff, err);
        if (g < 0) {
            e = err ? err->code : SNN_EINVALID;
            goto done;
        }
        if (gap && k < SNN_MAX_LAYER_PARAMS) gap[k] = g;
        k++;
        for (int c = 0; c < ly->shape.c; c++) off[c] = (float)diff[c];
        net_layer_add_offsets(pb.net, l, off);
        if ((e = snn_bias_table_add(t, ly->info.name, off, ly->shape.c, err))) goto done;
    }
done:
    free(diff);
    free(off);
    probe_deinit(&pb);
    if (e) snn_bias_table_free(t);
    else *out = t;
    return e;
}

int snn_calibrate_bias_gap(const snn_model *m, const float *inputs, int n, const snn_convert_params *p,
                           int steps, double *gap, int max, snn_error *err)
{
    bias_probe pb;
    if (probe_init(&pb, m, inputs, n, p, steps, err)) return -1;
    double *diff = NULL;
    int maxc = 1, k = 0;
    for (int l = 0; l < pb.net->nlayers; l++)
        if (pb.net->layers[l].shape.c > maxc) maxc = pb.net->layers[l].shape.c;
    if (!(diff = malloc(sizeof(double) * (size_t)maxc))) {
        snn_error_set(err, SNN_ENOMEM, "out of memory");
        k = -1;
    }
    size_t isz = snn_model_input_size(m);
    for (int l = 1; k >= 0 && l < pb.net->nlayers; l++) {
        if (pb.net->layers[l].info.kind != SNN_LAYER_NEURONS || !pb.ann_mean[l]) continue;
        double g = probe_layer(&pb, l, inputs, n, isz, diff, err);
        if (g < 0) k = -1;
        else if (k < max) gap[k++] = g;
    }
    free(diff);
    probe_deinit(&pb);
    return k;
}
