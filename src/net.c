/* net.c: conversion. Turns a model's operator graph into the planned chain
 * of stages and neuron layers described in net_internal.h, applying the
 * conversion parameters (nengo_dl.Converter semantics: ReLU -> spiking ReLU,
 * gain and amplitude from scale_firing_rates or calibrated thresholds,
 * lowpass synapses on neuron-to-neuron paths, MaxPool -> AveragePool).
 *
 * DESIGN: planning walks the graph once, tracking the layout of the one
 * activation tensor (spatial frames are stored HWC whatever the ONNX layout;
 * a flat tensor remembers the permutation from its ONNX order to storage
 * order, which is folded into the next Dense weights). Anything outside the
 * chain model (a residual Add of two activations, grouped convolution, ...)
 * is refused with the op and node named.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net_internal.h"

typedef struct plan {
    snn_net *net;
    kop *ops;           /* ops of the stage being built */
    int nops, capops;
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

/* "/conv1/Conv" -> "conv1"; "sequential/dense_1/MatMul" -> "dense_1". */
static void layer_name_from(const char *node, char *out, size_t len)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", node[0] == '/' ? node + 1 : node);
    char *last = strrchr(buf, '/');
    if (last) {
        *last = '\0';
        char *prev = strrchr(buf, '/');
        snprintf(out, len, "%s", prev ? prev + 1 : buf);
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

static snn_err add_conv(plan *p, const snn_graph *g, const snn_node *n)
{
    const snn_tensor *W = &g->tensors[n->in[1]];
    if (!p->spatial || p->logical_nhwc) return unsupported(p, n, "input is not an NCHW image tensor");
    if (!is_const(g, n->in[1])) return unsupported(p, n, "weights are not constant");
    if (n->a.conv.group != 1) return unsupported(p, n, "grouped convolution (group > 1)");
    if (W->ndim != 4 || W->dims[1] != p->c) return unsupported(p, n, "weight shape does not match input");
    int Co = (int)W->dims[0], kh = (int)W->dims[2], kw = (int)W->dims[3];
    kop *op = push_op(p, KOP_CONV);
    if (!op) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    op->kh = kh;
    op->kw = kw;
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
    int Ho = (p->h + op->pt + op->pb - op->dh * (kh - 1) - 1) / op->sh + 1;
    int Wo = (p->w + op->pl + op->pr - op->dw * (kw - 1) - 1) / op->sw + 1;
    if (Ho < 1 || Wo < 1) return unsupported(p, n, "output would be empty");
    op->out = (kshape){Co, Ho, Wo, 1};
    op->nweights = (int64_t)Co * p->c * kh * kw;
    op->w = malloc(sizeof(float) * (size_t)op->nweights);
    if (!op->w) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    for (int co = 0; co < Co; co++)
        for (int ci = 0; ci < p->c; ci++)
            for (int y = 0; y < kh; y++)
                for (int x = 0; x < kw; x++)
                    op->w[(((size_t)y * kw + x) * p->c + ci) * Co + co] =
                        W->data[(((size_t)co * p->c + ci) * kh + y) * kw + x];
    if (n->nin > 2 && n->in[2] >= 0) {
        const snn_tensor *B = &g->tensors[n->in[2]];
        if (!is_const(g, n->in[2]) || snn_tensor_elems(B) != Co) return unsupported(p, n, "bad bias");
        op->b = malloc(sizeof(float) * (size_t)Co);
        if (!op->b) return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
        memcpy(op->b, B->data, sizeof(float) * (size_t)Co);
    }
    op->macs = (int64_t)Ho * Wo * Co * kh * kw * p->c;
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
    /* fold into the previous weighted op when it is the last op */
    kop *prev = p->nops ? &p->ops[p->nops - 1] : NULL;
    if (prev && (prev->kind == KOP_CONV || prev->kind == KOP_DENSE)) {
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

static snn_err add_pool(plan *p, const snn_node *n)
{
    if (!p->spatial || p->logical_nhwc) return unsupported(p, n, "input is not an NCHW image tensor");
    kop *op = push_op(p, KOP_AVGPOOL);
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
        int ho = p->h + op->pt + op->pb - op->kh, wo = p->w + op->pl + op->pr - op->kw;
        if (ho < 0 || wo < 0) return unsupported(p, n, "kernel larger than input");
        if (a->ceil_mode) {
            ho = (ho + op->sh - 1) / op->sh + 1;
            wo = (wo + op->sw - 1) / op->sw + 1;
            /* the last window must start inside the input or left padding */
            if ((ho - 1) * op->sh >= p->h + op->pt) ho--;
            if ((wo - 1) * op->sw >= p->w + op->pl) wo--;
        } else {
            ho = ho / op->sh + 1;
            wo = wo / op->sw + 1;
        }
        op->out = (kshape){p->c, ho, wo, 1};
    }
    if (n->op == SNN_OP_GLOBALAVGPOOL) op->out = (kshape){p->c, 1, 1, 1};
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
    op->out = (kshape){p->c, p->h + op->pt + op->pb, p->w + op->pl + op->pr, 1};
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

/* Close the stage being built into net->stages[net->nstages]. */
static snn_err close_stage(plan *p, kshape in)
{
    snn_net *net = p->net;
    kstage *st = &net->stages[net->nstages];
    memset(st, 0, sizeof *st);
    st->ops = p->ops;
    st->nops = p->nops;
    p->ops = NULL;
    p->nops = p->capops = 0;
    st->in = in;
    st->out = st->nops ? st->ops[st->nops - 1].out : in;
    net->nstages++;
    size_t off = 0;
    for (int i = 0; i < st->nops; i++) {
        const kop *op = &st->ops[i];
        static const char *names[] = {"Conv", "AveragePool", "MaxPool", "Pad", "Dense", "Affine"};
        int nn = snprintf(st->opnames + off, sizeof st->opnames - off, "%s%s", i ? "+" : "",
                          names[op->kind]);
        if (nn > 0 && (size_t)nn < sizeof st->opnames - off) off += (size_t)nn;
        st->macs += op->macs;
        st->params += op->nweights + ((op->b && op->kind != KOP_CHAFFINE) ? op->out.c : 0);
    }
    if (!st->nops) snprintf(st->opnames, sizeof st->opnames, "Identity");
    /* offset = stage(0) */
    int64_t maxsz = kshape_size(&in);
    for (int i = 0; i < st->nops; i++)
        if (kshape_size(&st->ops[i].out) > maxsz) maxsz = kshape_size(&st->ops[i].out);
    float *a = calloc((size_t)maxsz, sizeof(float)), *b = calloc((size_t)maxsz, sizeof(float));
    st->bias = calloc((size_t)kshape_size(&st->out), sizeof(float));
    if (!a || !b || !st->bias) {
        free(a);
        free(b);
        return snn_error_set(p->err, SNN_ENOMEM, "out of memory");
    }
    for (int i = 0; i < st->nops; i++) {
        kop_apply_ref(&st->ops[i], a, b, 1);
        float *t = a;
        a = b;
        b = t;
    }
    memcpy(st->bias, a, sizeof(float) * (size_t)kshape_size(&st->out));
    free(a);
    free(b);
    return SNN_OK;
}

static void stage_name(const snn_graph *g, int first_node, int last_node, char *out, size_t len)
{
    for (int i = first_node; i <= last_node; i++) {
        snn_op op = g->nodes[i].op;
        if (op == SNN_OP_CONV || op == SNN_OP_GEMM || op == SNN_OP_MATMUL) {
            layer_name_from(g->nodes[i].name, out, len);
            return;
        }
    }
    layer_name_from(g->nodes[last_node > first_node ? last_node : first_node].name, out, len);
}

void snn_net_free(snn_net *n)
{
    if (!n) return;
    for (int i = 0; i < n->nstages; i++) {
        free_ops(n->stages[i].ops, n->stages[i].nops);
        free(n->stages[i].bias);
    }
    free(n->stages);
    free(n->layers);
    free(n);
}

snn_net *snn_net_new(const snn_model *m, const snn_convert_params *prm, snn_error *err)
{
    const snn_graph *g = m->graph;
    plan p = {0};
    p.err = err;
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
    const snn_tensor *in = &g->tensors[g->input];
    if (in->ndim == 4) {
        p.spatial = 1;
        p.c = m->cfg.in_c;
        p.h = m->cfg.in_h;
        p.w = m->cfg.in_w;
        p.logical_nhwc = m->cfg.layout == SNN_LAYOUT_NHWC;
        net->input_nchw = !p.logical_nhwc;
    } else {
        p.spatial = 0;
        p.c = (int)snn_tensor_item_elems(in);
        p.h = p.w = 1;
    }
    net->input_shape = cur_shape(&p);
    klayer *L0 = &net->layers[0];
    snprintf(L0->info.name, sizeof L0->info.name, "input");
    L0->info.kind = SNN_LAYER_INPUT;

    int cur = g->input, stage_first = 0;
    kshape stage_in = cur_shape(&p);
    snn_err e = SNN_OK;
    int nclip_pending = 0;
    float clip_max = 0;
    for (int i = 0; i < g->nnodes && !e; i++) {
        const snn_node *n = &g->nodes[i];
        int ndyn = 0, uses_cur = 0;
        for (int k = 0; k < n->nin; k++) {
            int t = n->in[k];
            if (t < 0 || is_const(g, t)) continue;
            ndyn++;
            if (t == cur) uses_cur = 1;
        }
        if (!ndyn) continue; /* constant subgraph, folded by the importer */
        if (!uses_cur || ndyn > 1) {
            e = unsupported(&p, n, ndyn > 1 ? "it joins two activations (residual/branching networks are not supported)"
                                             : "the network is not a chain");
            break;
        }
        if (net->softmax) {
            e = unsupported(&p, n, "ops after the output Softmax");
            break;
        }
        switch (n->op) {
        case SNN_OP_CONV: e = add_conv(&p, g, n); break;
        case SNN_OP_GEMM:
        case SNN_OP_MATMUL: e = add_dense(&p, g, n); break;
        case SNN_OP_ADD:
        case SNN_OP_MUL:
        case SNN_OP_BATCHNORM: e = add_affine(&p, g, n); break;
        case SNN_OP_AVGPOOL:
        case SNN_OP_MAXPOOL:
        case SNN_OP_GLOBALAVGPOOL: e = add_pool(&p, n); break;
        case SNN_OP_PAD: e = add_pad(&p, g, n); break;
        case SNN_OP_FLATTEN:
        case SNN_OP_RESHAPE: e = add_reshape(&p, g, n); break;
        case SNN_OP_TRANSPOSE: e = add_transpose(&p, n); break;
        case SNN_OP_SOFTMAX:
            if (n->a.axis.axis != 1 && n->a.axis.axis != -1) {
                e = unsupported(&p, n, "softmax not over the class axis");
                break;
            }
            if (p.spatial && (p.h != 1 || p.w != 1)) {
                e = unsupported(&p, n, "softmax over a 4-D tensor");
                break;
            }
            net->softmax = 1;
            break;
        case SNN_OP_CLIP:
            if (n->a.clip.min != 0.0f) {
                e = unsupported(&p, n, "Clip with a minimum other than 0 is not a ReLU");
                break;
            }
            nclip_pending = 1;
            clip_max = n->a.clip.max;
            /* fall through */
        case SNN_OP_RELU: {
            if (!p.nops) {
                e = unsupported(&p, n, "two activations in a row");
                break;
            }
            e = close_stage(&p, stage_in);
            if (e) break;
            klayer *L = &net->layers[net->nstages];
            L->info.kind = SNN_LAYER_NEURONS;
            stage_name(g, stage_first, i, L->info.name, sizeof L->info.name);
            L->clip_max = nclip_pending && isfinite(clip_max) ? clip_max : 0;
            nclip_pending = 0;
            stage_first = i + 1;
            stage_in = cur_shape(&p);
            break;
        }
        default:
            e = unsupported(&p, n, "op not supported by the spiking converter");
        }
        cur = n->out;
    }
    if (!e && cur != g->output)
        e = snn_error_set(err, SNN_EUNSUPPORTED, "graph output '%s' is not at the end of the chain",
                          g->tensors[g->output].name);
    if (!e && !p.nops && net->nstages == 0)
        e = snn_error_set(err, SNN_EUNSUPPORTED, "the graph has no weighted layer");
    if (!e) e = close_stage(&p, stage_in);
    free_ops(p.ops, p.nops);
    free(p.perm);
    if (e) {
        snn_net_free(net);
        return NULL;
    }
    /* readout layer */
    klayer *out = &net->layers[net->nstages];
    out->info.kind = SNN_LAYER_OUTPUT;
    stage_name(g, stage_first, g->nnodes - 1, out->info.name, sizeof out->info.name);
    net->nlayers = net->nstages + 1;
    net->nclasses = (int)kshape_size(&net->stages[net->nstages - 1].out);
    if (net->nclasses != m->cfg.nclasses) {
        snn_error_set(err, SNN_ESHAPE, "network outputs %d values but the config names %d classes",
                      net->nclasses, m->cfg.nclasses);
        snn_net_free(net);
        return NULL;
    }
    /* unique names */
    for (int i = 1; i < net->nlayers; i++)
        for (int j = 1, k = 2; j < i; j++)
            if (!strcmp(net->layers[i].info.name, net->layers[j].info.name)) {
                char b[SNN_LAYER_NAME_MAX];
                snprintf(b, sizeof b, "%.50s_%d", net->layers[i].info.name, k++);
                memcpy(net->layers[i].info.name, b, sizeof b);
                j = 0;
            }
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
            inf->synapse_in = L->synapse = i > 1 && prm->synapse > 0;
        }
        if (i < net->nstages) inf->fanout_total = net->stages[i].macs;
        if (inf->kind == SNN_LAYER_NEURONS) {
            float s_l = snn_convert_params_layer_scale(prm, inf->name);
            float thr = 1.0f;
            if (prm->normalize != SNN_NORM_NONE) {
                thr = snn_convert_params_layer_threshold(prm, inf->name);
                if (!(thr > 0)) {
                    snn_error_set(err, SNN_EINVALID,
                                  "normalize=%s needs a calibrated threshold for layer '%s' "
                                  "(run snnctl calibrate, or pass --calibrate DATASET)",
                                  prm->normalize == SNN_NORM_MAX ? "max" : "percentile",
                                  inf->name);
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
