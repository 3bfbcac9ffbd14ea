/* net.c: conversion. Turns a model's operator graph into the planned DAG of
 * stages and neuron layers described in net_internal.h, applying the
 * conversion parameters (nengo_dl.Converter semantics: ReLU -> spiking ReLU,
 * gain and amplitude from scale_firing_rates or calibrated thresholds,
 * lowpass synapses on neuron-to-neuron paths; MaxPool -> the spiking gate, or
 * AveragePool with maxpool=avg, which is reported as a note).
 *
 * DESIGN: the graph's shapes come from graph_infer_all (the ANN
 * interpreter's shape rules). Layers are the graph input, its ReLU/Clip
 * nodes and the readout. The stage of each layer is planned by a walk back
 * from the layer's input tensor to the layers it reads, emitting one op per
 * linear node (memoised per stage, so a value read twice is computed once),
 * in topological order. Each tensor of the walk carries its layout: spatial
 * frames are stored HWC whatever the ONNX layout (logical_nhwc remembers
 * a tf2onnx NHWC tensor), a flat tensor remembers the permutation from its
 * ONNX order to storage order, folded into the next Dense weights. A
 * per-channel affine (BatchNormalization, Add/Mul by a constant) is folded
 * into the Conv/Dense that produces its input when that op has no other
 * reader. Anything outside this (a product of two activations, Concat off
 * the channel axis, ...) is refused with the op and node named.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../graph/graph_internal.h"
#include "net_internal.h"

/* A tensor as the stage being planned sees it. */
typedef struct tinfo {
    int ref;            /* operand: >= 0 op index, < 0 source -1-k */
    int spatial, logical_nhwc, c, h, w;
    int64_t *perm;      /* flat: storage index of ONNX index i; NULL = identity (owned) */
} tinfo;

typedef struct plan {
    snn_net *net;
    const snn_graph *g;
    gshape *shapes;     /* every tensor at batch 1 */
    int *producer;      /* tensor -> node, -1 */
    int *uses;          /* tensor -> readers (+1 for the graph output) */
    int *layer_of;      /* tensor -> layer whose frames it is, -1 */
    int *stamp;         /* tensor -> stage that planned it, -1 */
    int *stage_in;      /* neuron layer -> its input tensor */
    tinfo *ti;          /* tensor -> its value in that stage */
    int *nodes;         /* nodes of the stage being planned (for its name) */
    int nnodes;
    kstage *st;         /* the stage being planned */
    int stage;
    kop *ops;           /* ops of the stage being built */
    int nops, capops;
    int fold_ok;        /* the op about to be built may fold into ops[nops-1] */
    int node;           /* node being built */
    int spatial, logical_nhwc;
    int c, h, w;        /* spatial shape, or c = flat size */
    int64_t *perm;      /* flat: storage index of ONNX index i; NULL = identity */
    snn_error *err;
} plan;

static int is_const(const snn_graph *g, int t) { return t >= 0 && g->tensors[t].data != NULL; }

static kshape cur_shape(const plan *p)
{
    kshape s = {p->c, p->spatial ? p->h : 1, p->spatial ? p->w : 1, p->spatial};
    return s;
}

static kop *push_op(plan *p, kop_kind kind)
{
    if (p->nops == p->capops) {
        int cap = p->capops ? p->capops * 2 : 8;
        kop *n = realloc(p->ops, sizeof *n * (size_t)cap);
        if (!n) return NULL;
        p->ops = n;
        p->capops = cap;
    }
    kop *op = &p->ops[p->nops++];
    memset(op, 0, sizeof *op);
    op->kind = kind;
    op->in = cur_shape(p);
    op->sh = op->sw = op->dh = op->dw = 1;
    op->group = 1;
    op->state = -1;
    op->nin = 1;
    op->node = p->node;
    return op;
}

static void free_ops(kop *ops, int n)
{
    for (int i = 0; i < n; i++) {
        free(ops[i].w);
        free(ops[i].b);
    }
    free(ops);
}

/* "/conv1/Conv" -> "conv1"; "sequential/dense_1/MatMul" -> "dense_1"; with
 * qualified set, the enclosing scope too, joined by '.': torch's module
 * path ("/layers/layers.0/conv1/Conv" -> "layers.0.conv1"). */
static void layer_name_from(const char *node, int qualified, char *out, size_t len)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", node[0] == '/' ? node + 1 : node);
    char *last = strrchr(buf, '/');
    if (last) {
        *last = '\0';
        char *prev = strrchr(buf, '/');
        if (qualified && prev) {
            *prev = '\0';
            char *pp = strrchr(buf, '/');
            snprintf(out, len, "%s.%s", pp ? pp + 1 : buf, prev + 1);
        } else {
            snprintf(out, len, "%s", prev ? prev + 1 : buf);
        }
    } else {
        snprintf(out, len, "%s", buf);
    }
    if (!out[0]) snprintf(out, len, "layer");
}

static snn_err unsupported(plan *p, const snn_node *n, const char *why)
{
    return snn_error_set(p->err, SNN_EUNSUPPORTED, "cannot convert %s node '%s': %s",
                         snn_op_name(n->op), n->name, why);
}

/* Broadcast a constant of shape dims to a per-channel vector (spatial:
 * [C,1,1], [1,C,1,1], [1]; flat: [K], [1,K], [1]). Returns a new array in
 * storage order, or NULL. */
static float *per_channel(plan *p, const snn_tensor *t)
{
    int64_t n = snn_tensor_elems(t);
    int C = p->c;
    float *v = malloc(sizeof(float) * (size_t)C);
    if (!v) return NULL;
    if (n == 1) {
        for (int i = 0; i < C; i++) v[i] = t->data[0];
        return v;
    }
    if (n != C) {
        free(v);
        return NULL;
    }
    if (p->spatial) {
        /* only the channel dim may be > 1, and it must sit where C sits */
        int cdim = -1;
        for (int d = 0; d < t->ndim; d++)
            if (t->dims[d] != 1) cdim = d;
        int want = p->logical_nhwc ? t->ndim - 1 : t->ndim - 3;
        if (cdim != want) {
            free(v);
            return NULL;
        }
        memcpy(v, t->data, sizeof(float) * (size_t)C);
    } else {
        for (int i = 0; i < C; i++) v[p->perm ? p->perm[i] : i] = t->data[i];
    }
    return v;
}

/* Taps of one axis inside the frame, summed over the outputs: output o,
 * tap k reads input o * stride - pad + k * dil. */
static int64_t inframe_taps(int nout, int stride, int pad, int k, int dil, int nin)
{
    int64_t taps = 0;
    for (int o = 0; o < nout; o++)
        for (int t = 0; t < k; t++) {
            int i = o * stride - pad + t * dil;
            taps += i >= 0 && i < nin;
        }
    return taps;
}

static snn_err add_conv(plan *p, const snn_graph *g, const snn_node *n)
{
    const snn_tensor *W = &g->tensors[n->in[1]];
    if (!p->spatial || p->logical_nhwc) return unsupported(p, n, "input is not an NCHW image tensor");
    if (!is_const(g, n->in[1])) return unsupported(p, n, "weights are not constant");
    const int G = n->a.conv.group;
    if (W->ndim != 4 || G < 1 || W->dims[1] * G != p->c || W->dims[0] % G)
        return unsupported(p, n, "weight shape does not match input");
    const gshape *os = &p->shapes[n->out];
    int Co = (int)W->dims[0], kh = (int)W->dims[2], kw = (int)W->dims[3], Cg = p->c / G;
    kop *op = push_op(p, KOP_CONV);
    if (!op) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    op->kh = kh;
    op->kw = kw;
    op->group = G;
    op->sh = n->a.conv.strides[0];
    op->sw = n->a.conv.strides[1];
    op->dh = n->a.conv.dilations[0];
    op->dw = n->a.conv.dilations[1];
    op->pt = n->a.conv.pads[0];
    op->pl = n->a.conv.pads[1];
    op->pb = n->a.conv.pads[2];
    op->pr = n->a.conv.pads[3];
    if (op->sh < 1 || op->sw < 1 || op->dh < 1 || op->dw < 1)
        return unsupported(p, n, "bad strides or dilations");
    /* the output shape is the graph's (graph_node_infer) */
    int Ho = (int)os->d[2], Wo = (int)os->d[3];
    op->out = (kshape){Co, Ho, Wo, 1};
    op->nweights = (int64_t)Co * Cg * kh * kw;
    op->w = malloc(sizeof(float) * (size_t)op->nweights);
    if (!op->w) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    for (int co = 0; co < Co; co++)
        for (int ci = 0; ci < Cg; ci++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++)
                    op->w[(((size_t)y * kw + x) * Cg + ci) * Co + co] =
                        W->data[(((size_t)co * Cg + ci) * kh + y) * kw + x];
    if (n->nin > 2 && n->in[2] >= 0) {
        const snn_tensor *B = &g->tensors[n->in[2]];
        if (!is_const(g, n->in[2]) || snn_tensor_elems(B) != Co) return unsupported(p, n, "bad bias");
        op->b = malloc(sizeof(float) * (size_t)Co);
        if (!op->b) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        memcpy(op->b, B->data, sizeof(float) * (size_t)Co);
    }
    op->macs = (int64_t)Ho * Wo * Co * kh * kw * Cg;
    op->fanout = (double)inframe_taps(Ho, op->sh, op->pt, kh, op->dh, op->in.h) *
                 (double)inframe_taps(Wo, op->sw, op->pl, kw, op->dw, op->in.w) * Cg * Co /
                 (double)kshape_size(&op->in);
    p->c = Co;
    p->h = Ho;
    p->w = Wo;
    return SNN_OK;
}

static snn_err add_dense(plan *p, const snn_graph *g, const snn_node *n)
{
    int bi = n->in[1];
    const snn_tensor *B = &g->tensors[bi];
    if (p->spatial && (p->h != 1 || p->w != 1))
        return unsupported(p, n, "input is a 4-D tensor (Flatten it first)");
    if (!is_const(g, bi) || B->ndim != 2) return unsupported(p, n, "weights are not a constant matrix");
    int trans_b = n->op == SNN_OP_GEMM && n->a.gemm.trans_b;
    if (n->op == SNN_OP_GEMM && n->a.gemm.trans_a) return unsupported(p, n, "transA=1");
    float alpha = n->op == SNN_OP_GEMM ? n->a.gemm.alpha : 1.0f;
    float beta = n->op == SNN_OP_GEMM ? n->a.gemm.beta : 1.0f;
    int64_t K = trans_b ? B->dims[1] : B->dims[0], M = trans_b ? B->dims[0] : B->dims[1];
    if (K != p->c) return unsupported(p, n, "weight rows do not match the input size");
    kop *op = push_op(p, KOP_DENSE);
    if (!op) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    op->in = (kshape){p->c, 1, 1, 0};
    op->out = (kshape){(int)M, 1, 1, 0};
    op->nweights = K * M;
    op->w = malloc(sizeof(float) * (size_t)(K * M));
    if (!op->w) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    for (int64_t i = 0; i < K; i++) {
        int64_t row = p->perm ? p->perm[i] : i;
        for (int64_t j = 0; j < M; j++)
            op->w[row * M + j] = alpha * (trans_b ? B->data[j * K + i] : B->data[i * M + j]);
    }
    if (n->op == SNN_OP_GEMM && n->nin > 2 && n->in[2] >= 0) {
        const snn_tensor *C = &g->tensors[n->in[2]];
        int64_t cn = snn_tensor_elems(C);
        if (!is_const(g, n->in[2]) || (cn != M && cn != 1)) return unsupported(p, n, "bad bias");
        op->b = malloc(sizeof(float) * (size_t)M);
        if (!op->b) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        for (int64_t j = 0; j < M; j++) op->b[j] = beta * C->data[cn == 1 ? 0 : j];
    }
    op->macs = K * M;
    op->fanout = (double)M;
    free(p->perm);
    p->perm = NULL;
    p->spatial = 0;
    p->c = (int)M;
    p->h = p->w = 1;
    return SNN_OK;
}

/* Add/Mul with a constant, BatchNormalization: a per-channel affine op,
 * folded into the previous Conv/Dense of the stage when there is one. */
static snn_err add_affine(plan *p, const snn_graph *g, const snn_node *n)
{
    float *scale = NULL, *shift = NULL;
    int C = p->c;
    if (n->op == SNN_OP_BATCHNORM) {
        for (int i = 1; i <= 4; i++)
            if (!is_const(g, n->in[i]) || snn_tensor_elems(&g->tensors[n->in[i]]) != C)
                return unsupported(p, n, "parameters are not constant per-channel vectors");
        if (p->spatial && p->logical_nhwc) return unsupported(p, n, "input is not NCHW");
        scale = malloc(sizeof(float) * (size_t)C);
        shift = malloc(sizeof(float) * (size_t)C);
        if (!scale || !shift) {
            free(scale);
            free(shift);
            return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        }
        const float *gm = g->tensors[n->in[1]].data, *bt = g->tensors[n->in[2]].data;
        const float *mu = g->tensors[n->in[3]].data, *var = g->tensors[n->in[4]].data;
        for (int i = 0; i < C; i++) {
            int d = p->spatial || !p->perm ? i : (int)p->perm[i];
            float s = gm[i] / sqrtf(var[i] + n->a.bn.eps);
            scale[d] = s;
            shift[d] = bt[i] - s * mu[i];
        }
    } else {
        int ci = is_const(g, n->in[0]) ? 0 : 1;
        if (!is_const(g, n->in[ci])) return unsupported(p, n, "both operands are activations (residual connections are not supported)");
        float *v = per_channel(p, &g->tensors[n->in[ci]]);
        if (!v) return unsupported(p, n, "constant operand is not a scalar or per-channel vector");
        if (n->op == SNN_OP_ADD) {
            shift = v;
        } else {
            scale = v;
        }
    }
    /* fold into the weighted or affine op that produces the input, when
     * nothing else reads it (an affine op's weights are one row) */
    kop *prev = p->fold_ok && p->nops ? &p->ops[p->nops - 1] : NULL;
    if (prev && (prev->kind == KOP_CONV || prev->kind == KOP_DENSE || prev->kind == KOP_CHAFFINE)) {
        int Co = prev->out.c;
        if (scale) {
            int64_t rows = prev->nweights / Co;
            for (int64_t r = 0; r < rows; r++)
                for (int j = 0; j < Co; j++) prev->w[r * Co + j] *= scale[j];
            if (prev->b)
                for (int j = 0; j < Co; j++) prev->b[j] *= scale[j];
        }
        if (shift) {
            if (!prev->b && !(prev->b = calloc((size_t)Co, sizeof(float)))) {
                free(scale);
                free(shift);
                return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
            }
            for (int j = 0; j < Co; j++) prev->b[j] += shift[j];
        }
        free(scale);
        free(shift);
        return SNN_OK;
    }
    kop *op = push_op(p, KOP_CHAFFINE);
    if (!op) {
        free(scale);
        free(shift);
        return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    }
    op->out = op->in;
    if (!scale) {
        scale = malloc(sizeof(float) * (size_t)C);
        if (!scale) {
            free(shift);
            return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        }
        for (int i = 0; i < C; i++) scale[i] = 1.0f;
    }
    op->w = scale;
    op->b = shift;
    op->nweights = C;
    return SNN_OK;
}

/* AveragePool, GlobalAveragePool, MaxPool (the gate; AveragePool with
 * maxpool=avg, noted). */
static snn_err add_pool(plan *p, const snn_node *n)
{
    if (!p->spatial || p->logical_nhwc) return unsupported(p, n, "input is not an NCHW image tensor");
    int as_avg = n->op == SNN_OP_MAXPOOL && p->net->params.maxpool == SNN_MAXPOOL_AVG;
    kop *op = push_op(p, n->op == SNN_OP_MAXPOOL && !as_avg ? KOP_MAXPOOL : KOP_AVGPOOL);
    if (!op) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    if (n->op == SNN_OP_GLOBALAVGPOOL) {
        op->kh = p->h;
        op->kw = p->w;
        op->sh = p->h;
        op->sw = p->w;
    } else {
        const snn_pool_attr *a = &n->a.pool;
        op->kh = a->kernel[0];
        op->kw = a->kernel[1];
        op->sh = a->strides[0];
        op->sw = a->strides[1];
        op->pt = a->pads[0];
        op->pl = a->pads[1];
        op->pb = a->pads[2];
        op->pr = a->pads[3];
        op->count_include_pad = n->op == SNN_OP_AVGPOOL && a->count_include_pad;
        if (op->kh < 1 || op->kw < 1 || op->sh < 1 || op->sw < 1) return unsupported(p, n, "bad kernel or strides");
    }
    /* the output shape is the graph's (graph_node_infer) */
    const gshape *os = &p->shapes[n->out];
    op->out = (kshape){p->c, (int)os->d[2], (int)os->d[3], 1};
    if (op->kind == KOP_MAXPOOL) op->gated = snn_neuron_spikes(p->net->params.neuron);
    if (as_avg && p->net->nnotes < NET_MAX_NOTES)
        snprintf(p->net->notes[p->net->nnotes++], sizeof p->net->notes[0],
                 "MaxPool '%.80s' converted to AveragePool (maxpool=avg, nengo_dl "
                 "max_to_avg_pool): the network computes another function", n->name);
    p->h = op->out.h;
    p->w = op->out.w;
    return SNN_OK;
}

static snn_err add_pad(plan *p, const snn_graph *g, const snn_node *n)
{
    if (!p->spatial || p->logical_nhwc) return unsupported(p, n, "input is not an NCHW image tensor");
    if (n->a.pad.value != 0.0f) return unsupported(p, n, "non-zero pad value");
    if (n->a.pad.npads != 8) return unsupported(p, n, "pads for a 4-D tensor expected");
    const int64_t *pd = n->a.pad.pads;
    if (pd[0] || pd[1] || pd[4] || pd[5]) return unsupported(p, n, "padding of batch or channels");
    for (int i = 0; i < 8; i++)
        if (pd[i] < 0 || pd[i] > 4096) return unsupported(p, n, "negative or huge pads");
    kop *op = push_op(p, KOP_PAD);
    if (!op) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    op->pt = (int)pd[2];
    op->pl = (int)pd[3];
    op->pb = (int)pd[6];
    op->pr = (int)pd[7];
    op->out = (kshape){p->c, (int)p->shapes[n->out].d[2], (int)p->shapes[n->out].d[3], 1};
    p->h = op->out.h;
    p->w = op->out.w;
    return SNN_OK;
}

static snn_err to_flat(plan *p, const snn_node *n)
{
    if (!p->spatial) return SNN_OK;
    int64_t K = (int64_t)p->c * p->h * p->w;
    if (!p->logical_nhwc && p->h * p->w > 1) {
        p->perm = malloc(sizeof(int64_t) * (size_t)K);
        if (!p->perm) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        for (int c = 0; c < p->c; c++)
            for (int y = 0; y < p->h; y++)
                for (int x = 0; x < p->w; x++)
                    p->perm[((int64_t)c * p->h + y) * p->w + x] = ((int64_t)y * p->w + x) * p->c + c;
    }
    p->spatial = 0;
    p->c = (int)K;
    p->h = p->w = 1;
    (void)n;
    return SNN_OK;
}

static snn_err add_reshape(plan *p, const snn_graph *g, const snn_node *n)
{
    const snn_tensor *out = &g->tensors[n->out];
    int64_t K = (int64_t)p->c * (p->spatial ? (int64_t)p->h * p->w : 1);
    if (n->op == SNN_OP_FLATTEN) {
        if (n->a.axis.axis != 1) return unsupported(p, n, "Flatten with axis other than 1");
        return to_flat(p, n);
    }
    if (out->ndim == 2 && snn_tensor_item_elems(out) == K) return to_flat(p, n);
    if (out->ndim == 4 && p->spatial && out->dims[1] == (p->logical_nhwc ? p->h : p->c) &&
        snn_tensor_item_elems(out) == K)
        return SNN_OK; /* a no-op reshape */
    return unsupported(p, n, "only flattening reshapes are supported");
}

static snn_err add_transpose(plan *p, const snn_node *n)
{
    const int *pm = n->a.transpose.perm;
    if (!p->spatial) {
        if (n->a.transpose.nperm == 2 && pm[0] == 0 && pm[1] == 1) return SNN_OK;
        return unsupported(p, n, "transpose of a flat tensor");
    }
    if (n->a.transpose.nperm != 4 || pm[0] != 0) return unsupported(p, n, "transposes the batch");
    if (pm[1] == 1 && pm[2] == 2 && pm[3] == 3) return SNN_OK;
    if (!p->logical_nhwc && pm[1] == 2 && pm[2] == 3 && pm[3] == 1) {
        p->logical_nhwc = 1;
        return SNN_OK;
    }
    if (p->logical_nhwc && pm[1] == 3 && pm[2] == 1 && pm[3] == 2) {
        p->logical_nhwc = 0;
        return SNN_OK;
    }
    return unsupported(p, n, "only NCHW<->NHWC transposes are supported");
}

/* ---- the stage planner ---- */

/* A copy of a flat tensor's permutation (NULL stays NULL). */
static int perm_dup(const int64_t *perm, int n, int64_t **out)
{
    *out = NULL;
    if (!perm) return 0;
    if (!(*out = malloc(sizeof(int64_t) * (size_t)n))) return -1;
    memcpy(*out, perm, sizeof(int64_t) * (size_t)n);
    return 0;
}

static void load_state(plan *p, const tinfo *t)
{
    p->spatial = t->spatial;
    p->logical_nhwc = t->logical_nhwc;
    p->c = t->c;
    p->h = t->h;
    p->w = t->w;
    free(p->perm);
    perm_dup(t->perm, t->c, &p->perm); /* NULL on failure: callers check */
}

static void store_state(plan *p, tinfo *t, int ref)
{
    t->ref = ref;
    t->spatial = p->spatial;
    t->logical_nhwc = p->logical_nhwc;
    t->c = p->c;
    t->h = p->h;
    t->w = p->w;
    free(t->perm);
    t->perm = p->perm;
    p->perm = NULL;
}

static int same_layout(const tinfo *a, const tinfo *b)
{
    if (a->spatial != b->spatial || a->c != b->c || a->h != b->h || a->w != b->w) return 0;
    if (a->spatial) return a->logical_nhwc == b->logical_nhwc;
    if (!a->perm || !b->perm) return a->perm == b->perm;
    return !memcmp(a->perm, b->perm, sizeof(int64_t) * (size_t)a->c);
}

static snn_err plan_tensor(plan *p, int t);

/* Operand reference of activation tensor t (planning it first). */
static snn_err operand(plan *p, int t, const tinfo **out)
{
    snn_err e = plan_tensor(p, t);
    *out = &p->ti[t];
    return e;
}

/* Add/Sum of two activations, Concat on the channel axis. */
static snn_err add_join(plan *p, const snn_node *n)
{
    const tinfo *x[SNN_NODE_MAX_IN];
    snn_err e;
    for (int k = 0; k < n->nin; k++) {
        if (n->in[k] < 0 || is_const(p->g, n->in[k]))
            return unsupported(p, n, "joins an activation with a constant");
        if ((e = operand(p, n->in[k], &x[k]))) return e;
    }
    kop_kind kind = n->op == SNN_OP_CONCAT ? KOP_CONCAT : KOP_ADD;
    if (kind == KOP_ADD && !same_layout(x[0], x[1]))
        return unsupported(p, n, "its operands differ in shape or layout (broadcasting)");
    int64_t *perm = NULL;
    int C = 0;
    if (kind == KOP_CONCAT) {
        int ax = n->a.axis.axis;
        for (int k = 0; k < n->nin; k++) {
            if (x[k]->spatial != x[0]->spatial || x[k]->h != x[0]->h || x[k]->w != x[0]->w ||
                x[k]->logical_nhwc != x[0]->logical_nhwc)
                return unsupported(p, n, "its operands differ in layout");
            C += x[k]->c;
        }
        int chan_ax = !x[0]->spatial ? 1 : x[0]->logical_nhwc ? 3 : 1;
        if (ax != chan_ax || (!x[0]->spatial && p->shapes[n->out].ndim != 2))
            return unsupported(p, n, "concatenates along an axis other than the channels");
        if (!x[0]->spatial) {
            int any = 0;
            for (int k = 0; k < n->nin; k++) any |= x[k]->perm != NULL;
            if (any) {
                if (!(perm = malloc(sizeof(int64_t) * (size_t)C)))
                    return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
                for (int k = 0, off = 0; k < n->nin; off += x[k]->c, k++)
                    for (int i = 0; i < x[k]->c; i++)
                        perm[off + i] = off + (x[k]->perm ? x[k]->perm[i] : i);
            }
        }
    }
    load_state(p, x[0]);
    if (x[0]->perm && !p->perm) {
        free(perm);
        return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    }
    p->node = (int)(n - p->g->nodes);
    kop *op = push_op(p, kind);
    if (!op) {
        free(perm);
        return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    }
    op->nin = n->nin;
    for (int k = 0, off = 0; k < n->nin; k++) {
        op->src[k] = x[k]->ref;
        op->cin[k] = x[k]->c;
        op->coff[k] = off;
        off += x[k]->c;
    }
    if (kind == KOP_CONCAT) {
        p->c = C;
        free(p->perm);
        p->perm = perm;
    }
    op->out = cur_shape(p);
    return SNN_OK;
}

/* Plan tensor t into the current stage: a layer's frames become a source;
 * anything else is the output of its node, planned after its inputs. */
static snn_err plan_tensor(plan *p, int t)
{
    const snn_graph *g = p->g;
    if (p->stamp[t] == p->stage) return SNN_OK;
    tinfo *ti = &p->ti[t];
    int L = p->layer_of[t];
    if (L >= 0) {
        kstage *st = p->st;
        int k = 0;
        while (k < st->nsrc && st->src[k] != L) k++;
        if (k == st->nsrc) {
            if (st->nsrc == KOP_MAX_IN)
                return snn_error_set(p->err, SNN_EUNSUPPORTED,
                                     "layer input '%s' reads more than %d layers",
                                     g->tensors[t].name, KOP_MAX_IN);
            st->src[st->nsrc++] = L;
        }
        const klayer *ly = &p->net->layers[L];
        free(ti->perm);
        *ti = (tinfo){-1 - k, ly->shape.spatial, ly->logical_nhwc, ly->shape.c, ly->shape.h,
                      ly->shape.w, NULL};
        if (perm_dup(ly->perm, ly->shape.c, &ti->perm))
            return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        p->stamp[t] = p->stage;
        return SNN_OK;
    }
    int ni = p->producer[t];
    if (ni < 0)
        return snn_error_set(p->err, SNN_EUNSUPPORTED, "tensor '%s' is not computed by the graph",
                             g->tensors[t].name);
    const snn_node *n = &g->nodes[ni];
    snn_err e = SNN_OK;
    int x = n->in[0];
    int joins = (n->op == SNN_OP_ADD && !is_const(g, n->in[0]) && !is_const(g, n->in[1])) ||
                n->op == SNN_OP_CONCAT;
    if (!joins) {
        if (n->op == SNN_OP_ADD || n->op == SNN_OP_MUL) {
            x = is_const(g, n->in[0]) ? n->in[1] : n->in[0];
            if (is_const(g, x)) return unsupported(p, n, "no activation operand");
            if (n->op == SNN_OP_MUL && !is_const(g, n->in[0]) && !is_const(g, n->in[1]))
                return unsupported(p, n, "multiplies two activations (not a linear op)");
        }
        const tinfo *xi;
        if ((e = operand(p, x, &xi))) return e;
        load_state(p, xi);
        if (!p->perm && xi->perm) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        p->fold_ok = xi->ref >= 0 && xi->ref == p->nops - 1 && p->uses[x] == 1;
    }
    int nops0 = p->nops;
    p->node = ni;
    switch (n->op) {
    case SNN_OP_CONV: e = add_conv(p, g, n); break;
    case SNN_OP_GEMM:
    case SNN_OP_MATMUL: e = add_dense(p, g, n); break;
    case SNN_OP_ADD:
    case SNN_OP_CONCAT:
        if (joins) {
            e = add_join(p, n);
            break;
        }
        /* Add of a constant: */
        /* fall through */
    case SNN_OP_MUL:
    case SNN_OP_BATCHNORM: e = add_affine(p, g, n); break;
    case SNN_OP_AVGPOOL:
    case SNN_OP_MAXPOOL:
    case SNN_OP_GLOBALAVGPOOL: e = add_pool(p, n); break;
    case SNN_OP_PAD: e = add_pad(p, g, n); break;
    case SNN_OP_FLATTEN:
    case SNN_OP_RESHAPE: e = add_reshape(p, g, n); break;
    case SNN_OP_TRANSPOSE: e = add_transpose(p, n); break;
    case SNN_OP_SOFTMAX: e = unsupported(p, n, "Softmax inside the network (only as the output)"); break;
    default: e = unsupported(p, n, "op not supported by the spiking converter");
    }
    if (e) return e;
    int ref = p->ti[x].ref;
    if (p->nops > nops0) {
        kop *op = &p->ops[p->nops - 1];
        if (!joins) op->src[0] = p->ti[x].ref;
        ref = p->nops - 1;
    }
    /* an affine op folded into ops[nops-1] leaves ref = that op */
    store_state(p, ti, ref);
    if ((int64_t)ti->c * (ti->spatial ? (int64_t)ti->h * ti->w : 1) != gshape_elems(&p->shapes[t]))
        return snn_error_set(p->err, SNN_EINTERNAL, "node '%s': planned size disagrees with the graph",
                             n->name);
    p->stamp[t] = p->stage;
    if (p->nnodes < g->nnodes) p->nodes[p->nnodes++] = ni;
    return SNN_OK;
}

static const char *kop_name(const kop *op)
{
    static const char *names[] = {"Conv", "AveragePool", "MaxPool", "Pad", "Dense", "Affine",
                                  "Add", "Concat"};
    if (op->kind == KOP_CONV && op->group > 1)
        return op->group == op->in.c && op->group == op->out.c ? "DepthwiseConv" : "GroupConv";
    if (op->kind == KOP_ADD && op->nin == 1) return "Identity";
    return names[op->kind];
}

/* Close the stage built in p->ops: names, sizes, buffer slots by liveness,
 * the offset vector stage(0), and the max-pool gates' offset check. */
static snn_err close_stage(plan *p, kstage *st)
{
    const int nops = p->nops;
    st->ops = p->ops;
    st->nops = nops;
    p->ops = NULL;
    p->nops = p->capops = 0;
    st->out = st->ops[nops - 1].out;
    st->constant = st->nsrc > 0;
    for (int k = 0; k < st->nsrc; k++) st->constant &= st->src[k] == 0;
    for (int k = 0; k < st->nsrc && !st->constant; k++) st->mixed |= st->src[k] == 0;
    for (int i = 0; i < nops && st->mixed; i++)
        if (st->ops[i].kind == KOP_MAXPOOL)
            return unsupported(p, &p->g->nodes[st->ops[i].node],
                               "a MaxPool where the input image joins a neuron path (not supported)");
    size_t off = 0;
    int *last = malloc(sizeof(int) * (size_t)nops), *busy = calloc((size_t)nops + 1, sizeof(int));
    float **val = calloc((size_t)nops, sizeof *val);
    if (!last || !busy || !val) {
        free(last);
        free(busy);
        free(val);
        return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    }
    for (int i = 0; i < nops; i++) {
        const kop *op = &st->ops[i];
        int nn = snprintf(st->opnames + off, sizeof st->opnames - off, "%s%s", i ? "+" : "",
                          kop_name(op));
        if (nn > 0 && (size_t)nn < sizeof st->opnames - off) off += (size_t)nn;
        st->macs += op->macs;
        st->params += op->nweights + ((op->b && op->kind != KOP_CHAFFINE) ? op->out.c : 0);
        last[i] = i == nops - 1 ? nops : i;
        for (int k = 0; k < op->nin; k++)
            if (op->src[k] >= 0) last[op->src[k]] = i;
    }
    /* slots: an op's output takes a slot no live value holds */
    for (int i = 0; i < nops; i++) {
        kop *op = &st->ops[i];
        int s = 0;
        while (busy[s]) s++;
        busy[s] = 1;
        op->slot = s;
        if (s + 1 > st->nslots) st->nslots = s + 1;
        for (int j = 0; j < i; j++)
            if (last[j] == i) busy[st->ops[j].slot] = 0;
    }
    /* offset = stage(0) with biases; sources are zero */
    int64_t zmax = 1;
    for (int k = 0; k < st->nsrc; k++)
        if (kshape_size(&p->net->layers[st->src[k]].shape) > zmax)
            zmax = kshape_size(&p->net->layers[st->src[k]].shape);
    float *zero = calloc((size_t)zmax, sizeof(float));
    snn_err e = zero ? SNN_OK : snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    for (int i = 0; i < nops && !e; i++) {
        const kop *op = &st->ops[i];
        const float *in[KOP_MAX_IN];
        for (int k = 0; k < op->nin; k++) in[k] = op->src[k] >= 0 ? val[op->src[k]] : zero;
        if (!(val[i] = calloc((size_t)kshape_size(&op->out), sizeof(float)))) {
            e = snn_error_set(p->err, SNN_ENOMEM, "out of memory");
            break;
        }
        kop_apply_ref(op, in, val[i], 1);
        if (op->kind == KOP_MAXPOOL) {
            /* max(x + o) = max(x) + o when the offset o at the input is
             * constant over each channel; otherwise the op keeps both
             * offsets and takes max(x + o_in) - o_out (net_internal.h) */
            const float *o = in[0];
            const int C = op->in.c;
            int varies = 0;
            for (int64_t j = C; j < kshape_size(&op->in) && !varies; j++)
                varies = fabsf(o[j] - o[j % C]) > 1e-6f * (1.0f + fabsf(o[j % C]));
            if (varies) {
                kop *mop = &st->ops[i];
                int64_t isz = kshape_size(&op->in), osz = kshape_size(&op->out);
                mop->w = malloc(sizeof(float) * (size_t)isz);
                mop->b = malloc(sizeof(float) * (size_t)osz);
                if (!mop->w || !mop->b) {
                    e = snn_error_set(p->err, SNN_ENOMEM, "out of memory");
                    break;
                }
                memcpy(mop->w, o, sizeof(float) * (size_t)isz);
                memcpy(mop->b, val[i], sizeof(float) * (size_t)osz);
            }
        }
    }
    if (!e) {
        st->bias = val[nops - 1];
        val[nops - 1] = NULL;
    }
    for (int i = 0; i < nops; i++) free(val[i]);
    free(val);
    free(zero);
    free(last);
    free(busy);
    return e;
}

/* The layer's name: from the last join (Add of activations, Concat) of
 * its stage when the join sits in a named scope, which names the block in
 * residual and Inception exports ("/layer1/layer1.0/Add" -> "layer1.0");
 * else from the first weighted node (in node order); else from its own
 * node. */
static int stage_name_node(const plan *p, int own)
{
    int best = -1, join = -1, maxn = own;
    for (int i = 0; i < p->nnodes; i++) {
        int ni = p->nodes[i];
        const snn_node *n = &p->g->nodes[ni];
        if ((n->op == SNN_OP_CONV || n->op == SNN_OP_GEMM || n->op == SNN_OP_MATMUL) &&
            (best < 0 || ni < best))
            best = ni;
        const char *scope = strchr(n->name + (n->name[0] == '/'), '/');
        if ((n->op == SNN_OP_CONCAT || (n->op == SNN_OP_ADD && !is_const(p->g, n->in[0]) &&
                                        !is_const(p->g, n->in[1]))) && scope && ni > join)
            join = ni;
        if (ni > maxn) maxn = ni;
    }
    return join >= 0 ? join : best >= 0 ? best : maxn;
}

/* Plan the stage feeding layer L from tensor t. `own` is the layer's node
 * (ReLU/Clip/Softmax) or -1. */
static snn_err plan_stage(plan *p, int L, int t, int own)
{
    snn_net *net = p->net;
    kstage *st = &net->stages[L - 1];
    memset(st, 0, sizeof *st);
    p->st = st;
    p->stage = L;
    p->nnodes = 0;
    snn_err e = plan_tensor(p, t);
    if (e) return e;
    klayer *ly = &net->layers[L];
    if (p->ti[t].ref < 0) {
        /* a layer read as is (neurons on the image or on another layer that
         * has other readers, a readout of neurons): an identity stage */
        if (st->src[0] == 0 && ly->info.kind != SNN_LAYER_NEURONS)
            return snn_error_set(p->err, SNN_EUNSUPPORTED, "the graph has no weighted layer");
        load_state(p, &p->ti[t]);
        if (p->ti[t].perm && !p->perm) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        kop *op = push_op(p, KOP_ADD);
        if (!op) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        op->src[0] = p->ti[t].ref;
        op->out = op->in;
        op->node = own >= 0 ? own : p->g->nnodes - 1;
    }
    const tinfo *x = &p->ti[t];
    ly->shape = (kshape){x->c, x->spatial ? x->h : 1, x->spatial ? x->w : 1, x->spatial};
    ly->logical_nhwc = x->logical_nhwc;
    if (perm_dup(x->perm, x->c, &ly->perm)) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    if ((e = close_stage(p, st))) return e;
    ly->name_node = stage_name_node(p, own >= 0 ? own : p->g->nnodes - 1);
    layer_name_from(p->g->nodes[ly->name_node].name, 0, ly->info.name, sizeof ly->info.name);
    for (int i = 0; i < st->nops; i++)
        if (st->ops[i].kind == KOP_MAXPOOL && st->ops[i].gated && !st->constant) {
            int64_t *ns = realloc(net->state_size, sizeof(int64_t) * (size_t)(net->nstates + 1));
            if (!ns) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
            net->state_size = ns;
            ns[net->nstates] = kshape_size(&st->ops[i].in) + kshape_size(&st->ops[i].out);
            st->ops[i].state = net->nstates++;
        }
    return SNN_OK;
}

void snn_net_free(snn_net *n)
{
    if (!n) return;
    for (int i = 0; i < n->nstages; i++) {
        free_ops(n->stages[i].ops, n->stages[i].nops);
        free(n->stages[i].bias);
    }
    if (n->layers)
        for (int i = 0; i < n->nlayers; i++) free(n->layers[i].perm);
    free(n->stages);
    free(n->layers);
    free(n->state_size);
    free(n->out_perm);
    free(n);
}

static void plan_deinit(plan *p)
{
    if (p->ti)
        for (int t = 0; t < p->g->ntensors; t++) free(p->ti[t].perm);
    free(p->ti);
    free(p->shapes);
    free(p->producer);
    free(p->uses);
    free(p->layer_of);
    free(p->stamp);
    free(p->nodes);
    free(p->stage_in);
    free_ops(p->ops, p->nops);
    free(p->perm);
}

/* Layers: the input, every ReLU/Clip node, the readout; then their stages. */
static snn_err plan_net(plan *p, const snn_model *m)
{
    const snn_graph *g = p->g;
    snn_net *net = p->net;
    const int NT = g->ntensors;
    snn_err e;
    if (!(p->shapes = malloc(sizeof *p->shapes * (size_t)NT)) ||
        !(p->producer = malloc(sizeof(int) * (size_t)NT)) ||
        !(p->uses = calloc((size_t)NT, sizeof(int))) ||
        !(p->layer_of = malloc(sizeof(int) * (size_t)NT)) ||
        !(p->stamp = malloc(sizeof(int) * (size_t)NT)) ||
        !(p->ti = calloc((size_t)NT, sizeof *p->ti)) ||
        !(p->nodes = malloc(sizeof(int) * (size_t)(g->nnodes + 1))) ||
        !(p->stage_in = malloc(sizeof(int) * (size_t)(g->nnodes + 2))))
        return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    if ((e = graph_infer_all(g, 1, p->shapes, p->err))) return e;
    for (int t = 0; t < NT; t++) p->producer[t] = p->layer_of[t] = p->stamp[t] = -1;
    p->uses[g->output]++;
    for (int i = 0; i < g->nnodes; i++) {
        const snn_node *n = &g->nodes[i];
        p->producer[n->out] = i;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0) p->uses[n->in[k]]++;
    }
    /* input layer */
    const snn_tensor *in = &g->tensors[g->input];
    klayer *L0 = &net->layers[0];
    if (in->ndim == 4) {
        L0->shape = (kshape){m->cfg.in_c, m->cfg.in_h, m->cfg.in_w, 1};
        L0->logical_nhwc = m->cfg.layout == SNN_LAYOUT_NHWC;
        net->input_nchw = !L0->logical_nhwc;
    } else {
        L0->shape = (kshape){(int)snn_tensor_item_elems(in), 1, 1, 0};
    }
    if (kshape_size(&L0->shape) != snn_tensor_item_elems(in))
        return snn_error_set(p->err, SNN_ESHAPE, "the config's input shape does not match the graph");
    net->input_shape = L0->shape;
    snprintf(L0->info.name, sizeof L0->info.name, "input");
    L0->info.kind = SNN_LAYER_INPUT;
    L0->info.neurons = kshape_size(&L0->shape);
    L0->node = -1;
    p->layer_of[g->input] = 0;
    /* the readout tensor */
    int tro = g->output, own_ro = -1;
    if (p->producer[tro] >= 0 && g->nodes[p->producer[tro]].op == SNN_OP_SOFTMAX) {
        const snn_node *n = &g->nodes[p->producer[tro]];
        const gshape *xs = &p->shapes[n->in[0]];
        if (n->a.axis.axis != xs->ndim - 1 && n->a.axis.axis != 1)
            return unsupported(p, n, "softmax not over the class axis");
        if (gshape_elems(xs) != xs->d[1]) return unsupported(p, n, "softmax over a 4-D tensor");
        net->softmax = 1;
        own_ro = p->producer[tro];
        tro = n->in[0];
    }
    /* neuron layers in node order; an activation whose only reader is
     * another (torch's ReLU6: Relu then Clip 0..6) is one layer with it */
    int nl = 1;
    for (int i = 0; i < g->nnodes; i++) {
        const snn_node *n = &g->nodes[i];
        if (n->op != SNN_OP_RELU && n->op != SNN_OP_CLIP) continue;
        if (n->op == SNN_OP_CLIP && n->a.clip.min != 0.0f)
            return unsupported(p, n, "Clip with a minimum other than 0 is not a ReLU");
        if (n->op == SNN_OP_CLIP && !(n->a.clip.max > 0))
            return unsupported(p, n, "Clip with a maximum <= 0");
        int merged = 0;
        if (p->uses[n->out] == 1)
            for (int j = i + 1; j < g->nnodes && !merged; j++)
                merged = (g->nodes[j].op == SNN_OP_RELU || g->nodes[j].op == SNN_OP_CLIP) &&
                         g->nodes[j].in[0] == n->out;
        if (merged) continue;
        klayer *L = &net->layers[nl];
        L->info.kind = SNN_LAYER_NEURONS;
        L->node = i;
        /* the layer's input: before the activations merged into it */
        int t = n->in[0];
        float mx = n->op == SNN_OP_CLIP ? n->a.clip.max : INFINITY;
        while (p->producer[t] >= 0 && p->layer_of[t] < 0 && /* merged, not a layer */
               (g->nodes[p->producer[t]].op == SNN_OP_RELU ||
                g->nodes[p->producer[t]].op == SNN_OP_CLIP)) {
            const snn_node *a = &g->nodes[p->producer[t]];
            if (a->op == SNN_OP_CLIP && a->a.clip.max < mx) mx = a->a.clip.max;
            t = a->in[0];
        }
        L->clip_max = isfinite(mx) ? mx : 0;
        p->stage_in[nl] = t;
        p->layer_of[n->out] = nl++;
    }
    net->nlayers = nl + 1;
    net->nstages = nl;
    net->layers[nl].info.kind = SNN_LAYER_OUTPUT;
    net->layers[nl].node = -1;
    for (int l = 1; l < nl; l++)
        if ((e = plan_stage(p, l, p->stage_in[l], net->layers[l].node))) return e;
    if ((e = plan_stage(p, nl, tro, own_ro))) return e;
    /* the classes in the output tensor's ONNX order: a readout stored HWC
     * (or as a permuted flat vector) is read through out_perm */
    const klayer *ro = &net->layers[nl];
    const kshape *rs = &ro->shape;
    int64_t K = kshape_size(rs);
    if ((rs->spatial && !ro->logical_nhwc && rs->h * rs->w > 1) || (!rs->spatial && ro->perm)) {
        if (!(net->out_perm = malloc(sizeof(int64_t) * (size_t)K)))
            return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        if (!rs->spatial)
            memcpy(net->out_perm, ro->perm, sizeof(int64_t) * (size_t)K);
        else
            for (int c = 0; c < rs->c; c++)
                for (int y = 0; y < rs->h; y++)
                    for (int x = 0; x < rs->w; x++)
                        net->out_perm[((int64_t)c * rs->h + y) * rs->w + x] =
                            ((int64_t)y * rs->w + x) * rs->c + c;
    }
    return SNN_OK;
}

/* Fan-out of each layer: the MACs of the ops its frames reach, an op read
 * by several layers' paths counted in equal shares. */
static void layer_fanout(snn_net *net)
{
    for (int s = 0; s < net->nstages; s++) {
        const kstage *st = &net->stages[s];
        unsigned mask[64] = {0};
        unsigned *m = st->nops <= 64 ? mask : calloc((size_t)st->nops, sizeof *m);
        if (!m) continue;
        for (int i = 0; i < st->nops; i++) {
            const kop *op = &st->ops[i];
            for (int k = 0; k < op->nin; k++)
                m[i] |= op->src[k] >= 0 ? m[op->src[k]] : 1u << (-1 - op->src[k]);
            int cnt = __builtin_popcount(m[i]);
            for (int k = 0; k < st->nsrc && cnt; k++)
                if (m[i] >> k & 1) net->layers[st->src[k]].info.fanout_total += op->macs / cnt;
        }
        if (m != mask) free(m);
    }
}

void net_layer_add_offsets(snn_net *net, int l, const float *offset)
{
    kstage *st = &net->stages[l - 1];
    int C = net->layers[l].shape.c;
    int64_t n = kshape_size(&st->out);
    for (int64_t i = 0; i < n; i++) st->bias[i] += offset[i % C];
}

/* bias_correction=on: the model's stored offsets, each naming a neuron
 * layer of this net with its channel count. */
static snn_err apply_bias_table(snn_net *net, const snn_bias_table *t, snn_error *err)
{
    if (!t)
        return snn_error_set(err, SNN_EINVALID, "bias_correction=on: model '%s' has no bias correction "
                             "(snnctl calibrate --bias-correct makes one)", net->model->cfg.name);
    for (int k = 0; k < t->nlayers; k++) {
        const snn_bias_layer *b = &t->layers[k];
        int l = snn_net_find_layer(net, b->layer);
        if (l < 0 || net->layers[l].info.kind != SNN_LAYER_NEURONS)
            return snn_error_set(err, SNN_EINVALID, "bias_correction: '%s' is not a neuron layer of the model",
                                 b->layer);
        if (b->channels != net->layers[l].shape.c)
            return snn_error_set(err, SNN_EINVALID, "bias_correction: layer '%s' has %d channels, not %d",
                                 b->layer, net->layers[l].shape.c, b->channels);
        net_layer_add_offsets(net, l, b->offset);
    }
    return SNN_OK;
}

snn_net *snn_net_new(const snn_model *m, const snn_convert_params *prm, snn_error *err)
{
    const snn_graph *g = m->graph;
    plan p = {0};
    p.err = err;
    p.g = g;
    snn_net *net = calloc(1, sizeof *net);
    int maxst = g->nnodes + 2;
    if (!net || !(net->stages = calloc((size_t)maxst, sizeof *net->stages)) ||
        !(net->layers = calloc((size_t)maxst + 1, sizeof *net->layers))) {
        snn_error_set(err, SNN_ENOMEM, "out of memory");
        snn_net_free(net);
        return NULL;
    }
    net->model = m;
    net->params = *prm;
    p.net = net;
    if (!g->finalized) {
        snn_error_set(err, SNN_EINVALID, "graph is not finalized");
        snn_net_free(net);
        return NULL;
    }
    snn_err e = plan_net(&p, m);
    plan_deinit(&p);
    if (e) {
        /* stages planned so far own their ops; count them for the free */
        int ns = 0;
        while (ns < maxst && net->stages[ns].ops) ns++;
        net->nstages = ns;
        if (!net->nlayers) net->nlayers = 1;
        snn_net_free(net);
        return NULL;
    }
    net->nclasses = (int)kshape_size(&net->stages[net->nstages - 1].out);
    if (net->nclasses != m->cfg.nclasses) {
        snn_error_set(err, SNN_ESHAPE, "network outputs %d values but the config names %d classes",
                      net->nclasses, m->cfg.nclasses);
        snn_net_free(net);
        return NULL;
    }
    /* unique names: layers whose names collide ("conv1" in every residual
     * block) take their enclosing scope ("layers.0.conv1"); what still
     * collides is numbered */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 1; i < net->nlayers; i++) {
            int dup = 0;
            for (int j = 1; j < net->nlayers && !dup; j++)
                dup = j != i && !strcmp(net->layers[i].info.name, net->layers[j].info.name);
            if (!dup) continue;
            if (pass == 0) {
                for (int j = net->nlayers - 1; j >= i; j--) {
                    klayer *L = &net->layers[j];
                    char b[SNN_LAYER_NAME_MAX];
                    if (j != i && strcmp(L->info.name, net->layers[i].info.name)) continue;
                    layer_name_from(g->nodes[L->name_node].name, 1, b, sizeof b);
                    memcpy(L->info.name, b, sizeof b);
                }
            } else {
                for (int j = i + 1, k = 2; j < net->nlayers; j++)
                    if (!strcmp(net->layers[j].info.name, net->layers[i].info.name)) {
                        char b[SNN_LAYER_NAME_MAX];
                        snprintf(b, sizeof b, "%.50s_%d", net->layers[j].info.name, k++);
                        memcpy(net->layers[j].info.name, b, sizeof b);
                    }
            }
        }
    for (int i = 1; i < net->nlayers; i++) {
        const kstage *st = &net->stages[i - 1];
        char *o = net->layers[i].info.inputs;
        size_t off = 0, cap = sizeof net->layers[i].info.inputs;
        for (int k = 0; k < st->nsrc && off < cap; k++) {
            int nn = snprintf(o + off, cap - off, "%s%s", k ? "," : "", net->layers[st->src[k]].info.name);
            if (nn > 0) off += (size_t)nn;
        }
    }
    layer_fanout(net);
    /* gains, amplitudes, synapses, infos */
    net->filt_a = prm->synapse > 0 ? exp(-prm->dt / prm->synapse) : 0.0;
    net->filt_b = prm->synapse > 0 ? 1.0 - net->filt_a : 1.0;
    for (int i = 0; i < net->nlayers; i++) {
        klayer *L = &net->layers[i];
        snn_layer_info *inf = &L->info;
        kshape s = i == 0 ? net->input_shape : net->stages[i - 1].out;
        inf->c = s.c;
        inf->h = s.h;
        inf->w = s.w;
        inf->neurons = kshape_size(&s);
        if (i > 0) {
            const kstage *st = &net->stages[i - 1];
            snprintf(inf->ops, sizeof inf->ops, "%s", st->opnames);
            inf->params = st->params;
            inf->macs = st->macs;
            inf->synapse_in = L->synapse = !st->constant && prm->synapse > 0;
        }
        if (inf->kind == SNN_LAYER_NEURONS) {
            float s_l = snn_convert_params_layer_scale(prm, inf->name);
            float thr = 1.0f;
            if (prm->normalize != SNN_NORM_NONE) {
                thr = prm->normalize == SNN_NORM_CEILING && L->clip_max > 0
                          ? L->clip_max
                          : snn_convert_params_layer_threshold(prm, inf->name);
                if (!(thr > 0)) {
                    snn_error_set(err, SNN_EINVALID,
                                  prm->normalize == SNN_NORM_CEILING
                                      ? "normalize=%s: layer '%s' has no Clip ceiling and no "
                                        "calibrated threshold (run snnctl calibrate, or pass "
                                        "--calibrate DATASET)"
                                      : "normalize=%s needs a calibrated threshold for layer '%s' "
                                        "(run snnctl calibrate, or pass --calibrate DATASET)",
                                  snn_norm_name(prm->normalize), inf->name);
                    snn_net_free(net);
                    return NULL;
                }
                s_l = s_l / (float)(thr * prm->dt);
            }
            L->gain = s_l;
            L->amplitude = 1.0f / s_l;
            inf->scale = s_l;
            inf->threshold = thr;
        } else {
            L->gain = 1.0f;
            L->amplitude = 1.0f;
            inf->scale = 1.0f;
            inf->threshold = 1.0f;
        }
        net->memory_bytes += sizeof(float) * (size_t)inf->params;
    }
    net->memory_bytes += sizeof *net + sizeof(kstage) * (size_t)net->nstages +
                         sizeof(klayer) * (size_t)net->nlayers;
    if (prm->bias_correction && apply_bias_table(net, m->cfg.bias, err)) {
        snn_net_free(net);
        return NULL;
    }
    return net;
}

int snn_net_nlayers(const snn_net *n) { return n->nlayers; }
const snn_layer_info *snn_net_layer(const snn_net *n, int i)
{
    return i >= 0 && i < n->nlayers ? &n->layers[i].info : NULL;
}
int snn_net_find_layer(const snn_net *n, const char *name)
{
    for (int i = 0; i < n->nlayers; i++)
        if (!strcmp(n->layers[i].info.name, name)) return i;
    /* also accept an index: "1", "L1" */
    char *end;
    long v = strtol(name[0] == 'L' ? name + 1 : name, &end, 10);
    if (*name && !*end && v >= 0 && v < n->nlayers) return (int)v;
    return -1;
}
int snn_net_nclasses(const snn_net *n) { return n->nclasses; }
size_t snn_net_input_size(const snn_net *n) { return (size_t)kshape_size(&n->input_shape); }
const snn_convert_params *snn_net_params(const snn_net *n) { return &n->params; }
const snn_model *snn_net_model(const snn_net *n) { return n->model; }
size_t snn_net_memory_bytes(const snn_net *n) { return n->memory_bytes; }
int snn_net_nnotes(const snn_net *n) { return n->nnotes; }
const char *snn_net_note(const snn_net *n, int i)
{
    return i >= 0 && i < n->nnotes ? n->notes[i] : NULL;
}
