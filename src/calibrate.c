/* calibrate.c: per-layer activation thresholds from calibration images
 * (max or robust percentile, Rueckauer et al. 2017). See calibrate.h.
 *
 * A neuron layer's activations are those of its ReLU/Clip node in the
 * graph (the net records which), keyed by the layer's name.
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

snn_err snn_calibrate(const snn_model *m, const float *inputs, int n, snn_convert_params *p,
                      snn_error *err)
{
    const snn_graph *g = m->graph;
    if (n < 1) return snn_error_set(err, SNN_EINVALID, "calibration needs at least one image");
    snn_convert_params plain = *p;
    plain.normalize = SNN_NORM_NONE;
    snn_net *net = snn_net_new(m, &plain, err);
    if (!net) return err ? err->code : SNN_EINVALID;
    cal_state s = {0};
    snn_err e = SNN_OK;
    float *out = NULL;
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
    size_t isz = snn_model_input_size(m);
    int64_t osz = snn_tensor_item_elems(&g->tensors[g->output]);
    out = malloc(sizeof(float) * (size_t)(osz * CAL_BATCH));
    if (!out) {
        e = snn_error_set(err, SNN_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < n && !e; i += CAL_BATCH) {
        int b = n - i < CAL_BATCH ? n - i : CAL_BATCH;
        e = snn_graph_run(g, inputs + (size_t)i * isz, b, out, on_act, &s, err);
    }
    if (e) goto done;
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
    free(out);
    snn_net_free(net);
    return e;
}
