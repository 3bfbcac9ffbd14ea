/* graph_kernels.c: shape inference and float kernels of the graph ops
 * (NCHW, ONNX semantics), shared by import-time constant folding and the
 * rate evaluator snn_graph_run().
 *
 * DESIGN: graph_node_infer() is the only place that knows each op's shape
 * rule, so the importer, snn_graph_tensor_shape() and the evaluator cannot
 * disagree. Conv runs as im2col + cblas_sgemm, Gemm/MatMul as cblas_sgemm;
 * each has a direct-loop reference twin (graph_conv_ref, graph_gemm_ref)
 * that the unit tests compare with. Every other op is a plain C loop.
 * Kernels trust their shapes: graph_node_infer() has checked them.
 */
#include "graph_internal.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int64_t gshape_elems(const gshape *s)
{
    int64_t n = 1;
    for (int i = 0; i < s->ndim; i++) n *= s->d[i];
    return n;
}

int gshape_eq(const gshape *a, const gshape *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->d[i] != b->d[i]) return 0;
    return 1;
}

const char *gshape_str(const gshape *s, char *buf, size_t len)
{
    size_t o = 0;
    if (len == 0) return buf;
    buf[0] = 0;
    o += (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < s->ndim && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%lld", i ? "," : "",
                              (long long)s->d[i]);
    if (o < len) snprintf(buf + o, len - o, "]");
    return buf;
}

/* 1 when every dim is >= 0 and the element count stays <= max. */
static int shape_fits(const gshape *s, int64_t max)
{
    int64_t n = 1;
    if (s->ndim < 0 || s->ndim > SNN_MAX_DIMS) return 0;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] < 0) return 0;
        if (s->d[i] == 0) return 1;
        if (s->d[i] > max / n) return 0;
        n *= s->d[i];
    }
    return 1;
}

/* Numpy broadcast of a and b into out; 0 when incompatible. */
static int broadcast_shape(const gshape *a, const gshape *b, gshape *out)
{
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    out->ndim = nd;
    for (int i = 0; i < nd; i++) {
        int ia = a->ndim - nd + i, ib = b->ndim - nd + i;
        int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da != db && da != 1 && db != 1) return 0;
        out->d[i] = da == 1 ? db : da;
    }
    return 1;
}

static int64_t pool_out(int64_t in, int k, int s, int pb, int pe, int dil,
                        int ceil_mode)
{
    int64_t span = in + pb + pe - ((int64_t)dil * (k - 1) + 1);
    if (span < 0) return 0;
    int64_t o = ceil_mode ? (span + s - 1) / s + 1 : span / s + 1;
    /* the last window must start inside the input or the begin padding */
    if (ceil_mode && (o - 1) * s >= in + pb) o--;
    return o;
}

#define SHAPE_ERR(...) snn_error_set(err, SNN_ESHAPE, __VA_ARGS__)

snn_err graph_node_infer(const snn_node *n, const gshape *const *in,
                         gshape *out, int64_t max_elems, snn_error *err)
{
    const gshape *x = in[0];
    char b1[128], b2[128];
    const char *nm = n->name ? n->name : "?";

    if (!x) return SHAPE_ERR("node '%s': missing input", nm);
    *out = *x;
    switch (n->op) {
    case SNN_OP_CONV: {
        const snn_conv_attr *a = &n->a.conv;
        const gshape *w = in[1], *b = n->nin > 2 ? in[2] : NULL;
        if (x->ndim != 4 || !w || w->ndim != 4)
            return SHAPE_ERR("node '%s': Conv needs 4-D X and W, got %s and %s",
                             nm, gshape_str(x, b1, sizeof b1),
                             w ? gshape_str(w, b2, sizeof b2) : "none");
        if (a->group < 1 || x->d[1] != w->d[1] * a->group ||
            w->d[0] % a->group != 0)
            return SHAPE_ERR("node '%s': Conv weight %s does not fit input %s "
                             "with group %d", nm, gshape_str(w, b1, sizeof b1),
                             gshape_str(x, b2, sizeof b2), a->group);
        if (w->d[2] != a->kernel[0] || w->d[3] != a->kernel[1])
            return SHAPE_ERR("node '%s': kernel_shape disagrees with weight %s",
                             nm, gshape_str(w, b1, sizeof b1));
        if (b && (b->ndim != 1 || b->d[0] != w->d[0]))
            return SHAPE_ERR("node '%s': Conv bias %s, want [%lld]", nm,
                             gshape_str(b, b1, sizeof b1), (long long)w->d[0]);
        out->d[1] = w->d[0];
        for (int i = 0; i < 2; i++) {
            out->d[2 + i] = pool_out(x->d[2 + i], a->kernel[i], a->strides[i],
                                     a->pads[i], a->pads[2 + i],
                                     a->dilations[i], 0);
            if (out->d[2 + i] < 1)
                return SHAPE_ERR("node '%s': Conv kernel larger than padded "
                                 "input %s", nm, gshape_str(x, b1, sizeof b1));
        }
        break;
    }
    case SNN_OP_GEMM: {
        const gshape *bb = in[1], *c = n->nin > 2 ? in[2] : NULL;
        if (x->ndim != 2 || !bb || bb->ndim != 2)
            return SHAPE_ERR("node '%s': Gemm needs 2-D A and B", nm);
        int64_t M = n->a.gemm.trans_a ? x->d[1] : x->d[0];
        int64_t K = n->a.gemm.trans_a ? x->d[0] : x->d[1];
        int64_t K2 = n->a.gemm.trans_b ? bb->d[1] : bb->d[0];
        int64_t N = n->a.gemm.trans_b ? bb->d[0] : bb->d[1];
        if (K != K2)
            return SHAPE_ERR("node '%s': Gemm inner dims %lld vs %lld (A %s, B %s)",
                             nm, (long long)K, (long long)K2,
                             gshape_str(x, b1, sizeof b1),
                             gshape_str(bb, b2, sizeof b2));
        out->ndim = 2;
        out->d[0] = M;
        out->d[1] = N;
        if (c) {
            gshape t;
            if (c->ndim > 2 || !broadcast_shape(out, c, &t) || !gshape_eq(&t, out))
                return SHAPE_ERR("node '%s': Gemm C %s does not broadcast to "
                                 "[%lld,%lld]", nm, gshape_str(c, b1, sizeof b1),
                                 (long long)M, (long long)N);
        }
        break;
    }
    case SNN_OP_MATMUL: {
        const gshape *bb = in[1];
        if (x->ndim < 1 || !bb || bb->ndim != 2 || x->d[x->ndim - 1] != bb->d[0])
            return SHAPE_ERR("node '%s': MatMul %s x %s", nm,
                             gshape_str(x, b1, sizeof b1),
                             bb ? gshape_str(bb, b2, sizeof b2) : "none");
        out->d[out->ndim - 1] = bb->d[1];
        break;
    }
    case SNN_OP_ADD:
    case SNN_OP_MUL:
        if (!in[1] || !broadcast_shape(x, in[1], out))
            return SHAPE_ERR("node '%s': cannot broadcast %s with %s", nm,
                             gshape_str(x, b1, sizeof b1),
                             in[1] ? gshape_str(in[1], b2, sizeof b2) : "none");
        break;
    case SNN_OP_RELU:
    case SNN_OP_CLIP:
        break;
    case SNN_OP_BATCHNORM:
        if (x->ndim < 2)
            return SHAPE_ERR("node '%s': BatchNormalization needs N,C,...", nm);
        for (int i = 1; i < 5; i++)
            if (!in[i] || gshape_elems(in[i]) != x->d[1] || in[i]->ndim != 1)
                return SHAPE_ERR("node '%s': BatchNormalization parameter %d "
                                 "is not [%lld]", nm, i, (long long)x->d[1]);
        break;
    case SNN_OP_AVGPOOL:
    case SNN_OP_MAXPOOL: {
        const snn_pool_attr *a = &n->a.pool;
        if (x->ndim != 4)
            return SHAPE_ERR("node '%s': pooling needs a 4-D input, got %s", nm,
                             gshape_str(x, b1, sizeof b1));
        for (int i = 0; i < 2; i++) {
            out->d[2 + i] = pool_out(x->d[2 + i], a->kernel[i], a->strides[i],
                                     a->pads[i], a->pads[2 + i], 1, a->ceil_mode);
            if (out->d[2 + i] < 1)
                return SHAPE_ERR("node '%s': pool window larger than input %s",
                                 nm, gshape_str(x, b1, sizeof b1));
        }
        break;
    }
    case SNN_OP_GLOBALAVGPOOL:
        if (x->ndim < 3)
            return SHAPE_ERR("node '%s': GlobalAveragePool needs N,C,spatial", nm);
        for (int i = 2; i < x->ndim; i++) out->d[i] = 1;
        break;
    case SNN_OP_FLATTEN: {
        int ax = n->a.axis.axis;
        if (ax < 0 || ax > x->ndim)
            return SHAPE_ERR("node '%s': Flatten axis %d of %s", nm, ax,
                             gshape_str(x, b1, sizeof b1));
        int64_t l = 1, r = 1;
        for (int i = 0; i < x->ndim; i++) {
            if (i < ax) l *= x->d[i];
            else r *= x->d[i];
        }
        out->ndim = 2;
        out->d[0] = l;
        out->d[1] = r;
        break;
    }
    case SNN_OP_RESHAPE: {
        int neg = -1;
        int64_t known = 1, total = gshape_elems(x);
        out->ndim = n->a.reshape.ndim;
        for (int i = 0; i < out->ndim; i++) {
            int64_t v = n->a.reshape.shape[i];
            if (v == 0) {
                if (i >= x->ndim)
                    return SHAPE_ERR("node '%s': Reshape copies dim %d of %s",
                                     nm, i, gshape_str(x, b1, sizeof b1));
                v = x->d[i];
            } else if (v == -1) {
                neg = i;
                continue;
            } else if (v < 0) {
                return SHAPE_ERR("node '%s': Reshape dim %lld", nm, (long long)v);
            }
            out->d[i] = v;
            if (v && known > INT64_MAX / v)
                return SHAPE_ERR("node '%s': Reshape target overflows", nm);
            known *= v;
        }
        if (neg >= 0) {
            if (known == 0 || total % known)
                return SHAPE_ERR("node '%s': cannot reshape %s (%lld elements) "
                                 "with -1", nm, gshape_str(x, b1, sizeof b1),
                                 (long long)total);
            out->d[neg] = total / known;
        } else if (known != total) {
            return SHAPE_ERR("node '%s': cannot reshape %s to %s", nm,
                             gshape_str(x, b1, sizeof b1),
                             gshape_str(out, b2, sizeof b2));
        }
        break;
    }
    case SNN_OP_TRANSPOSE: {
        const int *p = n->a.transpose.perm;
        if (n->a.transpose.nperm != x->ndim)
            return SHAPE_ERR("node '%s': Transpose perm of %d dims for %s", nm,
                             n->a.transpose.nperm, gshape_str(x, b1, sizeof b1));
        for (int i = 0; i < x->ndim; i++) out->d[i] = x->d[p[i]];
        break;
    }
    case SNN_OP_SOFTMAX:
        if (n->a.axis.axis < 0 || n->a.axis.axis >= (x->ndim ? x->ndim : 1))
            return SHAPE_ERR("node '%s': Softmax axis %d of %s", nm,
                             n->a.axis.axis, gshape_str(x, b1, sizeof b1));
        break;
    case SNN_OP_PAD:
        if (n->a.pad.npads != 2 * x->ndim)
            return SHAPE_ERR("node '%s': Pad has %d pads for %s", nm,
                             n->a.pad.npads, gshape_str(x, b1, sizeof b1));
        for (int i = 0; i < x->ndim; i++) {
            out->d[i] = x->d[i] + n->a.pad.pads[i] + n->a.pad.pads[x->ndim + i];
            if (out->d[i] < 0)
                return SHAPE_ERR("node '%s': Pad crops %s below zero", nm,
                                 gshape_str(x, b1, sizeof b1));
        }
        break;
    case SNN_OP_CONCAT: {
        int ax = n->a.axis.axis;
        if (ax < 0 || ax >= x->ndim)
            return SHAPE_ERR("node '%s': Concat axis %d of %s", nm, ax,
                             gshape_str(x, b1, sizeof b1));
        for (int k = 1; k < n->nin; k++) {
            const gshape *s = in[k];
            if (!s) return SHAPE_ERR("node '%s': Concat input %d omitted", nm, k);
            int ok = s->ndim == x->ndim;
            for (int i = 0; ok && i < x->ndim; i++) ok = i == ax || s->d[i] == x->d[i];
            if (!ok)
                return SHAPE_ERR("node '%s': Concat of %s and %s on axis %d", nm,
                                 gshape_str(x, b1, sizeof b1),
                                 gshape_str(s, b2, sizeof b2), ax);
            if (s->d[ax] > max_elems || out->d[ax] > max_elems)
                return snn_error_set(err, SNN_ELIMIT, "node '%s': Concat too large", nm);
            out->d[ax] += s->d[ax];
        }
        break;
    }
    default:
        return snn_error_set(err, SNN_EINTERNAL, "node '%s': unknown op %d", nm,
                             (int)n->op);
    }
    if (!shape_fits(out, max_elems))
        return snn_error_set(err, SNN_ELIMIT, "node '%s': output %s exceeds %lld "
                             "elements", nm, gshape_str(out, b1, sizeof b1),
                             (long long)max_elems);
    return SNN_OK;
}

size_t graph_node_scratch(const snn_node *n, const gshape *const *in,
                          const gshape *out)
{
    if (n->op != SNN_OP_CONV) return 0;
    const gshape *w = in[1];
    return (size_t)(w->d[1] * w->d[2] * w->d[3] * out->d[2] * out->d[3]);
}

/* ---- Conv ---------------------------------------------------------------- */

static void im2col(const snn_conv_attr *a, const float *x, int64_t C,
                   int64_t H, int64_t W, int64_t OH, int64_t OW, float *col)
{
    int kh = a->kernel[0], kw = a->kernel[1];
    for (int64_t c = 0; c < C; c++)
        for (int i = 0; i < kh; i++)
            for (int j = 0; j < kw; j++) {
                float *dst = col + ((c * kh + i) * kw + j) * OH * OW;
                const float *src = x + c * H * W;
                for (int64_t oh = 0; oh < OH; oh++) {
                    int64_t ih = oh * a->strides[0] - a->pads[0] +
                                 (int64_t)i * a->dilations[0];
                    float *d = dst + oh * OW;
                    if (ih < 0 || ih >= H) {
                        memset(d, 0, (size_t)OW * sizeof *d);
                        continue;
                    }
                    for (int64_t ow = 0; ow < OW; ow++) {
                        int64_t iw = ow * a->strides[1] - a->pads[1] +
                                     (int64_t)j * a->dilations[1];
                        d[ow] = (iw >= 0 && iw < W) ? src[ih * W + iw] : 0.0f;
                    }
                }
            }
}

void graph_conv_blas(const snn_conv_attr *a, const gshape *xs, const float *x,
                     const gshape *ws, const float *w, const float *b,
                     const gshape *ys, float *y, float *col)
{
    int64_t N = xs->d[0], C = xs->d[1], H = xs->d[2], W = xs->d[3];
    int64_t M = ws->d[0], G = a->group, Cg = C / G, Mg = M / G;
    int64_t OH = ys->d[2], OW = ys->d[3], P = OH * OW;
    int64_t K = Cg * a->kernel[0] * a->kernel[1];
    int direct = a->kernel[0] == 1 && a->kernel[1] == 1 && a->strides[0] == 1 &&
                 a->strides[1] == 1 && !a->pads[0] && !a->pads[1] &&
                 !a->pads[2] && !a->pads[3];

    for (int64_t n = 0; n < N; n++)
        for (int64_t g = 0; g < G; g++) {
            const float *xg = x + (n * C + g * Cg) * H * W;
            const float *bm = xg;
            if (!direct) {
                im2col(a, xg, Cg, H, W, OH, OW, col);
                bm = col;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)Mg,
                        (int)P, (int)K, 1.0f, w + g * Mg * K, (int)K, bm, (int)P,
                        0.0f, y + (n * M + g * Mg) * P, (int)P);
        }
    if (b)
        for (int64_t n = 0; n < N; n++)
            for (int64_t m = 0; m < M; m++) {
                float *d = y + (n * M + m) * P;
                for (int64_t p = 0; p < P; p++) d[p] += b[m];
            }
}

void graph_conv_ref(const snn_conv_attr *a, const gshape *xs, const float *x,
                    const gshape *ws, const float *w, const float *b,
                    const gshape *ys, float *y)
{
    int64_t N = xs->d[0], C = xs->d[1], H = xs->d[2], W = xs->d[3];
    int64_t M = ws->d[0], Cg = C / a->group, Mg = M / a->group;
    int64_t OH = ys->d[2], OW = ys->d[3];
    int kh = a->kernel[0], kw = a->kernel[1];

    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++) {
            int64_t g = m / Mg;
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double s = b ? b[m] : 0.0;
                    for (int64_t c = 0; c < Cg; c++)
                        for (int i = 0; i < kh; i++) {
                            int64_t ih = oh * a->strides[0] - a->pads[0] +
                                         (int64_t)i * a->dilations[0];
                            if (ih < 0 || ih >= H) continue;
                            for (int j = 0; j < kw; j++) {
                                int64_t iw = ow * a->strides[1] - a->pads[1] +
                                             (int64_t)j * a->dilations[1];
                                if (iw < 0 || iw >= W) continue;
                                s += (double)x[((n * C + g * Cg + c) * H + ih) * W + iw] *
                                     w[((m * Cg + c) * kh + i) * kw + j];
                            }
                        }
                    y[((n * M + m) * OH + oh) * OW + ow] = (float)s;
                }
        }
}

/* ---- Gemm ---------------------------------------------------------------- */

static float c_at(const gshape *cs, const float *C, int64_t m, int64_t n)
{
    if (cs->ndim == 0) return C[0];
    if (cs->ndim == 1) return C[cs->d[0] == 1 ? 0 : n];
    int64_t r = cs->d[0] == 1 ? 0 : m, c = cs->d[1] == 1 ? 0 : n;
    return C[r * cs->d[1] + c];
}

void graph_gemm_blas(const snn_gemm_attr *a, int64_t M, int64_t N, int64_t K,
                     const float *A, const float *B, const gshape *cs,
                     const float *C, float *Y)
{
    float beta = 0.0f;
    if (C && a->beta != 0.0f) {
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++)
                Y[m * N + n] = a->beta * c_at(cs, C, m, n);
        beta = 1.0f;
    }
    if (K == 0) {
        if (beta == 0.0f) memset(Y, 0, (size_t)(M * N) * sizeof *Y);
        return;
    }
    cblas_sgemm(CblasRowMajor, a->trans_a ? CblasTrans : CblasNoTrans,
                a->trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                a->alpha, A, a->trans_a ? (int)M : (int)K, B,
                a->trans_b ? (int)K : (int)N, beta, Y, (int)N);
}

void graph_gemm_ref(const snn_gemm_attr *a, int64_t M, int64_t N, int64_t K,
                    const float *A, const float *B, const gshape *cs,
                    const float *C, float *Y)
{
    for (int64_t m = 0; m < M; m++)
        for (int64_t n = 0; n < N; n++) {
            double s = 0.0;
            for (int64_t k = 0; k < K; k++) {
                float av = a->trans_a ? A[k * M + m] : A[m * K + k];
                float bv = a->trans_b ? B[n * K + k] : B[k * N + n];
                s += (double)av * bv;
            }
            s *= a->alpha;
            if (C && a->beta != 0.0f) s += (double)a->beta * c_at(cs, C, m, n);
            Y[m * N + n] = (float)s;
        }
}

/* ---- Elementwise with broadcasting --------------------------------------- */

static void binary_op(int mul, const gshape *as, const float *A,
                      const gshape *bs, const float *B, const gshape *os,
                      float *Y)
{
    int nd = os->ndim;
    int64_t sa[SNN_MAX_DIMS] = {0}, sb[SNN_MAX_DIMS] = {0}, idx[SNN_MAX_DIMS] = {0};
    int64_t total = gshape_elems(os);

    if (gshape_eq(as, bs) || nd == 0 || total == 0) {
        for (int64_t i = 0; i < total; i++) Y[i] = mul ? A[i] * B[i] : A[i] + B[i];
        return;
    }
    /* strides of A and B in output coordinates (0 where broadcast) */
    int64_t ra = 1, rb = 1;
    for (int i = nd - 1; i >= 0; i--) {
        int ia = as->ndim - nd + i, ib = bs->ndim - nd + i;
        int64_t da = ia >= 0 ? as->d[ia] : 1, db = ib >= 0 ? bs->d[ib] : 1;
        sa[i] = da == 1 ? 0 : ra;
        sb[i] = db == 1 ? 0 : rb;
        ra *= da;
        rb *= db;
    }
    int64_t inner = os->d[nd - 1], ia = sa[nd - 1], ib = sb[nd - 1];
    for (int64_t o = 0; o < total; o += inner) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < nd - 1; i++) {
            oa += idx[i] * sa[i];
            ob += idx[i] * sb[i];
        }
        float *y = Y + o;
        const float *a = A + oa, *b = B + ob;
        if (mul)
            for (int64_t j = 0; j < inner; j++) y[j] = a[j * ia] * b[j * ib];
        else
            for (int64_t j = 0; j < inner; j++) y[j] = a[j * ia] + b[j * ib];
        for (int i = nd - 2; i >= 0; i--) {
            if (++idx[i] < os->d[i]) break;
            idx[i] = 0;
        }
    }
}

/* ---- Pooling ------------------------------------------------------------- */

static void pool2d(int is_max, const snn_pool_attr *a, const gshape *xs,
                   const float *x, const gshape *ys, float *y)
{
    int64_t NC = xs->d[0] * xs->d[1], H = xs->d[2], W = xs->d[3];
    int64_t OH = ys->d[2], OW = ys->d[3];
    for (int64_t c = 0; c < NC; c++) {
        const float *src = x + c * H * W;
        float *dst = y + c * OH * OW;
        for (int64_t oh = 0; oh < OH; oh++) {
            int64_t h0 = oh * a->strides[0] - a->pads[0];
            int64_t h1 = h0 + a->kernel[0];
            int64_t hp = h1 < H + a->pads[2] ? h1 : H + a->pads[2];
            int64_t hs = h0 < 0 ? 0 : h0, he = h1 < H ? h1 : H;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t w0 = ow * a->strides[1] - a->pads[1];
                int64_t w1 = w0 + a->kernel[1];
                int64_t wp = w1 < W + a->pads[3] ? w1 : W + a->pads[3];
                int64_t ws = w0 < 0 ? 0 : w0, we = w1 < W ? w1 : W;
                if (is_max) {
                    float m = -INFINITY;
                    for (int64_t h = hs; h < he; h++)
                        for (int64_t w = ws; w < we; w++)
                            if (src[h * W + w] > m || isnan(src[h * W + w]))
                                m = src[h * W + w];
                    dst[oh * OW + ow] = m;
                } else {
                    double s = 0.0;
                    for (int64_t h = hs; h < he; h++)
                        for (int64_t w = ws; w < we; w++) s += src[h * W + w];
                    int64_t cnt = a->count_include_pad ? (hp - h0) * (wp - w0)
                                                       : (he - hs) * (we - ws);
                    dst[oh * OW + ow] = cnt > 0 ? (float)(s / (double)cnt) : 0.0f;
                }
            }
        }
    }
}

/* ---- Layout ops ---------------------------------------------------------- */

static void transpose(const int *perm, const gshape *xs, const float *x,
                      const gshape *ys, float *y)
{
    int nd = xs->ndim;
    int64_t xstr[SNN_MAX_DIMS], st[SNN_MAX_DIMS], idx[SNN_MAX_DIMS] = {0};
    int64_t total = gshape_elems(ys);
    if (nd == 0 || total == 0) {
        if (total) y[0] = x[0];
        return;
    }
    int64_t r = 1;
    for (int i = nd - 1; i >= 0; i--) {
        xstr[i] = r;
        r *= xs->d[i];
    }
    for (int i = 0; i < nd; i++) st[i] = xstr[perm[i]];
    int64_t off = 0;
    for (int64_t o = 0; o < total; o++) {
        y[o] = x[off];
        for (int i = nd - 1; i >= 0; i--) {
            off += st[i];
            if (++idx[i] < ys->d[i]) break;
            off -= st[i] * ys->d[i];
            idx[i] = 0;
        }
    }
}

static void pad_nd(const snn_node *n, const gshape *xs, const float *x,
                   const gshape *ys, float *y)
{
    int nd = xs->ndim;
    int64_t xstr[SNN_MAX_DIMS], idx[SNN_MAX_DIMS] = {0};
    int64_t total = gshape_elems(ys);
    const int64_t *pads = n->a.pad.pads;
    int64_t r = 1;
    for (int i = nd - 1; i >= 0; i--) {
        xstr[i] = r;
        r *= xs->d[i];
    }
    for (int64_t o = 0; o < total; o++) {
        int64_t off = 0;
        int inside = 1;
        for (int i = 0; i < nd; i++) {
            int64_t xi = idx[i] - pads[i];
            if (xi < 0 || xi >= xs->d[i]) {
                inside = 0;
                break;
            }
            off += xi * xstr[i];
        }
        y[o] = inside ? x[off] : n->a.pad.value;
        for (int i = nd - 1; i >= 0; i--) {
            if (++idx[i] < ys->d[i]) break;
            idx[i] = 0;
        }
    }
}

static void softmax(const snn_node *n, const gshape *xs, const float *x, float *y)
{
    int ax = n->a.axis.axis;
    int64_t outer = 1, len = 1, inner = 1;
    for (int i = 0; i < xs->ndim; i++) {
        if (i < ax) outer *= xs->d[i];
        else if (i == ax || n->a.axis.coerce2d) len *= xs->d[i];
        else inner *= xs->d[i];
    }
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const float *a = x + o * len * inner + in;
            float *b = y + o * len * inner + in;
            float m = -INFINITY;
            for (int64_t k = 0; k < len; k++)
                if (a[k * inner] > m) m = a[k * inner];
            double s = 0.0;
            for (int64_t k = 0; k < len; k++) {
                float e = expf(a[k * inner] - m);
                b[k * inner] = e;
                s += e;
            }
            for (int64_t k = 0; k < len; k++) b[k * inner] = (float)(b[k * inner] / s);
        }
}

/* Inputs one after another along the axis: per outer index, each input's
 * block of d[axis] x inner values. */
static void concat(const snn_node *n, const gshape *const *in, const float *const *x,
                   const gshape *os, float *y)
{
    int ax = n->a.axis.axis;
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < ax; i++) outer *= os->d[i];
    for (int i = ax + 1; i < os->ndim; i++) inner *= os->d[i];
    for (int64_t o = 0; o < outer; o++)
        for (int k = 0; k < n->nin; k++) {
            int64_t blk = in[k]->d[ax] * inner;
            memcpy(y, x[k] + o * blk, (size_t)blk * sizeof *y);
            y += blk;
        }
}

static void batchnorm(const gshape *xs, const float *const *x, float eps, float *y)
{
    int64_t N = xs->d[0], C = xs->d[1], inner = 1;
    for (int i = 2; i < xs->ndim; i++) inner *= xs->d[i];
    for (int64_t c = 0; c < C; c++) {
        float s = x[1][c] / sqrtf(x[4][c] + eps);
        float t = x[2][c] - s * x[3][c];
        for (int64_t n = 0; n < N; n++) {
            const float *a = x[0] + (n * C + c) * inner;
            float *b = y + (n * C + c) * inner;
            for (int64_t i = 0; i < inner; i++) b[i] = a[i] * s + t;
        }
    }
}

void graph_node_exec(const snn_node *n, const gshape *const *in,
                     const float *const *x, const gshape *out, float *y,
                     float *scratch, int ref)
{
    int64_t total = gshape_elems(out);
    switch (n->op) {
    case SNN_OP_CONV:
        if (ref)
            graph_conv_ref(&n->a.conv, in[0], x[0], in[1], x[1],
                           n->nin > 2 ? x[2] : NULL, out, y);
        else
            graph_conv_blas(&n->a.conv, in[0], x[0], in[1], x[1],
                            n->nin > 2 ? x[2] : NULL, out, y, scratch);
        break;
    case SNN_OP_GEMM: {
        int64_t K = n->a.gemm.trans_a ? in[0]->d[0] : in[0]->d[1];
        const float *C = n->nin > 2 ? x[2] : NULL;
        (ref ? graph_gemm_ref : graph_gemm_blas)(&n->a.gemm, out->d[0],
                                                 out->d[1], K, x[0], x[1],
                                                 C ? in[2] : NULL, C, y);
        break;
    }
    case SNN_OP_MATMUL: {
        snn_gemm_attr a = {1.0f, 0.0f, 0, 0};
        int64_t K = in[1]->d[0], N = in[1]->d[1];
        int64_t M = N ? total / N : 0;
        (ref ? graph_gemm_ref : graph_gemm_blas)(&a, M, N, K, x[0], x[1], NULL,
                                                 NULL, y);
        break;
    }
    case SNN_OP_ADD:
    case SNN_OP_MUL:
        binary_op(n->op == SNN_OP_MUL, in[0], x[0], in[1], x[1], out, y);
        break;
    case SNN_OP_RELU:
        for (int64_t i = 0; i < total; i++) y[i] = x[0][i] > 0.0f ? x[0][i] : 0.0f;
        break;
    case SNN_OP_CLIP: {
        float lo = n->a.clip.min, hi = n->a.clip.max;
        for (int64_t i = 0; i < total; i++) {
            float v = x[0][i];
            y[i] = v < lo ? lo : v > hi ? hi : v;
        }
        break;
    }
    case SNN_OP_AVGPOOL:
    case SNN_OP_MAXPOOL:
        pool2d(n->op == SNN_OP_MAXPOOL, &n->a.pool, in[0], x[0], out, y);
        break;
    case SNN_OP_GLOBALAVGPOOL: {
        int64_t NC = in[0]->d[0] * in[0]->d[1];
        int64_t sp = NC ? gshape_elems(in[0]) / NC : 0;
        for (int64_t c = 0; c < NC; c++) {
            double s = 0.0;
            for (int64_t i = 0; i < sp; i++) s += x[0][c * sp + i];
            y[c] = sp ? (float)(s / (double)sp) : 0.0f;
        }
        break;
    }
    case SNN_OP_FLATTEN:
    case SNN_OP_RESHAPE:
        if (y != x[0]) memmove(y, x[0], (size_t)total * sizeof *y);
        break;
    case SNN_OP_TRANSPOSE:
        transpose(n->a.transpose.perm, in[0], x[0], out, y);
        break;
    case SNN_OP_BATCHNORM:
        batchnorm(in[0], x, n->a.bn.eps, y);
        break;
    case SNN_OP_SOFTMAX:
        softmax(n, in[0], x[0], y);
        break;
    case SNN_OP_PAD:
        pad_nd(n, in[0], x[0], out, y);
        break;
    case SNN_OP_CONCAT:
        concat(n, in, x, out, y);
        break;
    default:
        break;
    }
}
