/* graph_fold.c: lower the imported ONNX nodes to the snn_op graph
 * (snn_graph_finalize): constant folding, aliasing, fusion, shape
 * inference, dead-node removal and compaction.
 *
 * DESIGN: nodes are visited once in topological order. Every tensor is
 * either a constant (float or int64 data known at import) or an activation
 * (float, shape known at the imported batch). Shape arithmetic (Shape,
 * Gather, Unsqueeze, Concat, Cast, Slice, integer Add/Mul...) only ever
 * sees constants and is evaluated here; a runtime op whose inputs are all
 * constant is evaluated with the same kernels the evaluator uses. What is
 * left is emitted as snn_node with checked attributes. Then MatMul+Add
 * becomes Gemm, Conv+BatchNormalization becomes one Conv, nodes that do not
 * reach the output are dropped and the tensor table is compacted.
 *
 * The batch: dim 0 of the input. Each activation records which of its dims
 * carries the batch (bax). A Reshape target folded at import holds the
 * imported batch as a number; when that number sits where the batch is, it
 * is rewritten to 0 ("copy the input dim") so any run-time batch works.
 */
#include "graph_internal.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"

typedef struct fold {
    snn_graph *g;
    struct snn_graph_import *imp;
    snn_error *err;
    snn_node *nodes;
    int nnodes, cap;
    int64_t max_elems;
} fold;

#define UNSUP(...) snn_error_set(f->err, SNN_EUNSUPPORTED, __VA_ARGS__)
#define BAD(...) snn_error_set(f->err, SNN_EFORMAT, __VA_ARGS__)
#define MAX_ATTR_INTS 64

static itensor *T(fold *f, int t) { return &f->imp->t[t]; }

static int resolve(fold *f, int t)
{
    int hops = 0;
    while (t >= 0 && f->imp->t[t].alias >= 0 && hops++ < f->g->ntensors)
        t = f->imp->t[t].alias;
    return t;
}

static const char *tname(fold *f, int t) { return f->g->tensors[t].name; }

/* ---- attributes ---------------------------------------------------------- */

static const Onnx__AttributeProto *attr(const inode *n, const char *name)
{
    for (size_t i = 0; i < n->p->n_attribute; i++)
        if (n->p->attribute[i]->name && !strcmp(n->p->attribute[i]->name, name))
            return n->p->attribute[i];
    return NULL;
}

static snn_err attr_int(fold *f, const inode *n, const char *name, int64_t def,
                        int64_t *v)
{
    const Onnx__AttributeProto *a = attr(n, name);
    *v = def;
    if (!a) return SNN_OK;
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
        return BAD("node '%s': attribute '%s' is not an int", n->name, name);
    *v = a->i;
    return SNN_OK;
}

static snn_err attr_float(fold *f, const inode *n, const char *name, float def,
                          float *v)
{
    const Onnx__AttributeProto *a = attr(n, name);
    *v = def;
    if (!a) return SNN_OK;
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
        return BAD("node '%s': attribute '%s' is not a float", n->name, name);
    *v = a->f;
    return SNN_OK;
}

/* *cnt = -1 when absent. */
static snn_err attr_ints(fold *f, const inode *n, const char *name, int64_t *v,
                         int *cnt)
{
    const Onnx__AttributeProto *a = attr(n, name);
    *cnt = -1;
    if (!a) return SNN_OK;
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
        return BAD("node '%s': attribute '%s' is not a list of ints", n->name, name);
    if (a->n_ints > MAX_ATTR_INTS)
        return BAD("node '%s': attribute '%s' has %zu values", n->name, name,
                   a->n_ints);
    for (size_t i = 0; i < a->n_ints; i++) v[i] = a->ints[i];
    *cnt = (int)a->n_ints;
    return SNN_OK;
}

static snn_err attr_str(fold *f, const inode *n, const char *name,
                        const char *def, char *buf, size_t len)
{
    const Onnx__AttributeProto *a = attr(n, name);
    snprintf(buf, len, "%s", def);
    if (!a) return SNN_OK;
    if (a->has_type && a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
        return BAD("node '%s': attribute '%s' is not a string", n->name, name);
    size_t l = a->s.len < len - 1 ? a->s.len : len - 1;
    if (l) memcpy(buf, a->s.data, l);
    buf[l] = 0;
    return SNN_OK;
}

/* ---- tensor access ------------------------------------------------------- */

/* Input k of node n, resolved through aliases; -1 when omitted. */
static int in_of(fold *f, const inode *n, int k)
{
    return k < n->nin ? resolve(f, n->in[k]) : -1;
}

static int is_const(fold *f, int t) { return t >= 0 && T(f, t)->is_const; }

/* Data of constant t as float (converting int64 in place). */
static float *cfloats(fold *f, int t)
{
    itensor *x = T(f, t);
    if (x->dtype == IT_I64) {
        int64_t n = gshape_elems(&x->shape);
        float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
        if (!d) return NULL;
        for (int64_t i = 0; i < n; i++) d[i] = (float)((int64_t *)x->data)[i];
        free(x->data);
        x->data = d;
        x->dtype = IT_F32;
    }
    return x->data;
}

/* Up to `max` values of constant t as int64. */
static snn_err cints(fold *f, const inode *n, int t, int64_t *v, int max, int *cnt)
{
    itensor *x = T(f, t);
    int64_t e = gshape_elems(&x->shape);
    if (e > max)
        return UNSUP("node '%s': '%s' has %lld values (max %d)", n->name,
                     tname(f, t), (long long)e, max);
    for (int64_t i = 0; i < e; i++) {
        if (x->dtype == IT_I64) {
            v[i] = ((int64_t *)x->data)[i];
        } else {
            float fv = ((float *)x->data)[i];
            if (!(fv >= -9.2e18f && fv <= 9.2e18f))
                return BAD("node '%s': '%s' is not an integer", n->name, tname(f, t));
            v[i] = (int64_t)fv;
        }
    }
    *cnt = (int)e;
    return SNN_OK;
}

static size_t esize(int dtype) { return dtype == IT_I64 ? 8 : 4; }

/* Make t a constant of the given dtype and shape; data is allocated
 * (returned) or stolen when `data` is not NULL. */
static void *set_const(fold *f, int t, int dtype, const gshape *s, void *data)
{
    itensor *x = T(f, t);
    int64_t n = gshape_elems(s);
    if (!data) data = calloc((size_t)(n ? n : 1), esize(dtype));
    if (!data) {
        snn_error_set(f->err, SNN_ENOMEM, "constant '%s'", tname(f, t));
        return NULL;
    }
    free(x->data);
    x->data = data;
    x->dtype = dtype;
    x->is_const = 1;
    x->known = 1;
    x->shape = *s;
    return data;
}

static int shape_ok(fold *f, const gshape *s)
{
    int64_t n = 1;
    if (s->ndim < 0 || s->ndim > SNN_MAX_DIMS) return 0;
    for (int i = 0; i < s->ndim; i++) {
        if (s->d[i] < 0) return 0;
        if (s->d[i] && n > f->max_elems / s->d[i]) return 0;
        n *= s->d[i];
    }
    return 1;
}

static snn_err check_shape(fold *f, const inode *n, const gshape *s)
{
    char b[128];
    if (s->ndim > SNN_MAX_DIMS)
        return UNSUP("node '%s': more than %d dims", n->name, SNN_MAX_DIMS);
    if (!shape_ok(f, s))
        return snn_error_set(f->err, SNN_ELIMIT, "node '%s': shape %s exceeds "
                             "the limits", n->name, gshape_str(s, b, sizeof b));
    return SNN_OK;
}

static int norm_axis(int64_t ax, int nd, int *out)
{
    if (ax < 0) ax += nd;
    if (ax < 0 || ax >= (nd ? nd : 1)) return 0;
    *out = (int)ax;
    return 1;
}

/* ---- emit ---------------------------------------------------------------- */

static int batch_axis(fold *f, const snn_node *sn, const gshape *os)
{
    int x = sn->in[0];
    int b = x >= 0 && !is_const(f, x) ? T(f, x)->bax : -1;
    const gshape *xs = x >= 0 ? &T(f, x)->shape : NULL;
    switch (sn->op) {
    case SNN_OP_ADD:
    case SNN_OP_MUL:
        if (b < 0 && sn->in[1] >= 0 && !is_const(f, sn->in[1])) {
            x = sn->in[1];
            b = T(f, x)->bax;
            xs = &T(f, x)->shape;
        }
        return b < 0 ? -1 : b + os->ndim - xs->ndim;
    case SNN_OP_GEMM:
        return sn->a.gemm.trans_a || b != 0 ? -1 : 0;
    case SNN_OP_MATMUL:
        return b >= 0 && b < xs->ndim - 1 ? b : -1;
    case SNN_OP_FLATTEN:
        return b == 0 && sn->a.axis.axis >= 1 ? 0 : -1;
    case SNN_OP_RESHAPE:
        return b == 0 && sn->a.reshape.shape[0] == 0 ? 0 : -1;
    case SNN_OP_TRANSPOSE:
        for (int i = 0; i < sn->a.transpose.nperm; i++)
            if (sn->a.transpose.perm[i] == b) return i;
        return -1;
    case SNN_OP_CONCAT:
        return b == sn->a.axis.axis ? -1 : b;
    case SNN_OP_PAD:
        if (b >= 0 && (sn->a.pad.pads[b] || sn->a.pad.pads[xs->ndim + b])) return -1;
        return b;
    default:
        return b;
    }
}

/* Import-time folding of a constant subgraph must stay cheap: an
 * untrusted file could otherwise ask for a huge Conv at load time. */
#define FOLD_MAX_MACS ((double)(1 << 28))

static double fold_cost(const snn_node *sn, const gshape *const *in,
                        const gshape *out)
{
    double o = (double)gshape_elems(out);
    switch (sn->op) {
    case SNN_OP_CONV:
        return o * (double)(in[1]->d[1] * in[1]->d[2] * in[1]->d[3]);
    case SNN_OP_GEMM:
        return o * (double)(sn->a.gemm.trans_a ? in[0]->d[0] : in[0]->d[1]);
    case SNN_OP_MATMUL:
        return o * (double)in[1]->d[0];
    case SNN_OP_AVGPOOL:
    case SNN_OP_MAXPOOL:
        return o * sn->a.pool.kernel[0] * sn->a.pool.kernel[1];
    default:
        return o + (double)gshape_elems(in[0]);
    }
}

/* Emit sn (inputs resolved) producing tensor `out`; folds it when every
 * input is a constant. */
static snn_err emit(fold *f, const inode *n, snn_node *sn, int out)
{
    const gshape *ins[SNN_NODE_MAX_IN] = {0};
    const float *xs[SNN_NODE_MAX_IN] = {0};
    gshape os;
    int all_const = 1;
    snn_err rc;

    sn->name = (char *)n->name;
    sn->out = out;
    for (int k = 0; k < sn->nin; k++) {
        int t = sn->in[k];
        if (t < 0) continue;
        if (!T(f, t)->known)
            return snn_error_set(f->err, SNN_EINTERNAL, "node '%s': shape of '%s' "
                                 "unknown", n->name, tname(f, t));
        ins[k] = &T(f, t)->shape;
        if (is_const(f, t)) {
            if (!(xs[k] = cfloats(f, t)))
                return snn_error_set(f->err, SNN_ENOMEM, "constant");
        } else {
            all_const = 0;
        }
    }
    rc = graph_node_infer(sn, ins, &os, f->max_elems, f->err);
    if (rc) return rc;
    if (all_const && fold_cost(sn, ins, &os) > FOLD_MAX_MACS)
        return UNSUP("node '%s': constant %s too expensive to fold at import",
                     n->name, snn_op_name(sn->op));
    if (all_const) {
        float *y = set_const(f, out, IT_F32, &os, NULL);
        if (!y) return SNN_ENOMEM;
        size_t ns = graph_node_scratch(sn, ins, &os);
        float *scratch = ns ? malloc(ns * sizeof *scratch) : NULL;
        if (ns && !scratch) return snn_error_set(f->err, SNN_ENOMEM, "scratch");
        graph_node_exec(sn, ins, xs, &os, y, scratch, 0);
        free(scratch);
        return SNN_OK;
    }
    if (f->nnodes == f->cap) {
        int nc = f->cap ? f->cap * 2 : 32;
        snn_node *nn = realloc(f->nodes, (size_t)nc * sizeof *nn);
        if (!nn) return snn_error_set(f->err, SNN_ENOMEM, "nodes");
        f->nodes = nn;
        f->cap = nc;
    }
    itensor *o = T(f, out);
    o->known = 1;
    o->shape = os;
    o->bax = batch_axis(f, sn, &os);
    f->nodes[f->nnodes++] = *sn;
    return SNN_OK;
}

static void node_init(snn_node *sn, snn_op op, int nin, int a, int b, int c)
{
    memset(sn, 0, sizeof *sn);
    sn->op = op;
    sn->nin = nin;
    for (int k = 0; k < SNN_NODE_MAX_IN; k++) sn->in[k] = -1;
    sn->in[0] = a;
    if (nin > 1) sn->in[1] = b;
    if (nin > 2) sn->in[2] = c;
}

/* ---- constant folding of shape arithmetic -------------------------------- */

/* Elementwise Add/Sub/Mul/Div of constants with broadcasting. */
static snn_err fold_binary(fold *f, const inode *n, char opc, int a, int b, int out)
{
    itensor *A = T(f, a), *B = T(f, b);
    gshape os;
    int nd = A->shape.ndim > B->shape.ndim ? A->shape.ndim : B->shape.ndim;
    int64_t sa[SNN_MAX_DIMS], sb[SNN_MAX_DIMS], idx[SNN_MAX_DIMS] = {0};
    int64_t ra = 1, rb = 1;
    os.ndim = nd;
    for (int i = nd - 1; i >= 0; i--) {
        int ia = A->shape.ndim - nd + i, ib = B->shape.ndim - nd + i;
        int64_t da = ia >= 0 ? A->shape.d[ia] : 1, db = ib >= 0 ? B->shape.d[ib] : 1;
        if (da != db && da != 1 && db != 1)
            return snn_error_set(f->err, SNN_ESHAPE, "node '%s': cannot broadcast "
                                 "constants", n->name);
        os.d[i] = da == 1 ? db : da;
        sa[i] = da == 1 ? 0 : ra;
        sb[i] = db == 1 ? 0 : rb;
        ra *= da;
        rb *= db;
    }
    snn_err rc = check_shape(f, n, &os);
    if (rc) return rc;
    int isint = A->dtype == IT_I64 && B->dtype == IT_I64;
    if (!isint && (!cfloats(f, a) || !cfloats(f, b)))
        return snn_error_set(f->err, SNN_ENOMEM, "constant");
    /* set_const may reallocate out's data; A or B are distinct from out */
    void *y = set_const(f, out, isint ? IT_I64 : IT_F32, &os, NULL);
    if (!y) return SNN_ENOMEM;
    int64_t total = gshape_elems(&os);
    for (int64_t o = 0; o < total; o++) {
        int64_t oa = 0, ob = 0;
        for (int i = 0; i < nd; i++) {
            oa += idx[i] * sa[i];
            ob += idx[i] * sb[i];
        }
        if (isint) {
            int64_t x = ((int64_t *)A->data)[oa], z = ((int64_t *)B->data)[ob], r;
            switch (opc) {
            case '+': r = (int64_t)((uint64_t)x + (uint64_t)z); break;
            case '-': r = (int64_t)((uint64_t)x - (uint64_t)z); break;
            case '*': r = (int64_t)((uint64_t)x * (uint64_t)z); break;
            default:
                if (z == 0 || (x == INT64_MIN && z == -1))
                    return BAD("node '%s': integer division by zero", n->name);
                r = x / z;
                if ((x % z != 0) && ((x < 0) != (z < 0))) r--;   /* floor */
                break;
            }
            ((int64_t *)y)[o] = r;
        } else {
            float x = ((float *)A->data)[oa], z = ((float *)B->data)[ob];
            ((float *)y)[o] = opc == '+' ? x + z : opc == '-' ? x - z
                            : opc == '*' ? x * z : x / z;
        }
        for (int i = nd - 1; i >= 0; i--) {
            if (++idx[i] < os.d[i]) break;
            idx[i] = 0;
        }
    }
    return SNN_OK;
}

static snn_err fold_gather(fold *f, const inode *n, int data, int ind, int out)
{
    itensor *D = T(f, data), *I = T(f, ind);
    int64_t axis;
    int ax;
    snn_err rc = attr_int(f, n, "axis", 0, &axis);
    if (rc) return rc;
    if (!norm_axis(axis, D->shape.ndim, &ax) || D->shape.ndim == 0)
        return BAD("node '%s': Gather axis %lld", n->name, (long long)axis);
    if (I->dtype != IT_I64 && !I->data)
        return BAD("node '%s': Gather indices", n->name);
    gshape os;
    os.ndim = D->shape.ndim - 1 + I->shape.ndim;
    if (os.ndim > SNN_MAX_DIMS) return UNSUP("node '%s': Gather rank", n->name);
    int o = 0;
    for (int i = 0; i < ax; i++) os.d[o++] = D->shape.d[i];
    for (int i = 0; i < I->shape.ndim; i++) os.d[o++] = I->shape.d[i];
    for (int i = ax + 1; i < D->shape.ndim; i++) os.d[o++] = D->shape.d[i];
    if ((rc = check_shape(f, n, &os))) return rc;
    int64_t outer = 1, inner = 1, len = D->shape.d[ax], ni = gshape_elems(&I->shape);
    for (int i = 0; i < ax; i++) outer *= D->shape.d[i];
    for (int i = ax + 1; i < D->shape.ndim; i++) inner *= D->shape.d[i];
    size_t es = esize(D->dtype);
    char *y = set_const(f, out, D->dtype, &os, NULL);
    if (!y) return SNN_ENOMEM;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t k = 0; k < ni; k++) {
            int64_t i = I->dtype == IT_I64 ? ((int64_t *)I->data)[k]
                                           : (int64_t)((float *)I->data)[k];
            if (i < 0) i += len;
            if (i < 0 || i >= len)
                return BAD("node '%s': Gather index out of range", n->name);
            memcpy(y + ((a * ni + k) * inner) * es,
                   (char *)D->data + ((a * len + i) * inner) * es,
                   (size_t)inner * es);
        }
    return SNN_OK;
}

static snn_err fold_concat(fold *f, const inode *n, int out)
{
    int64_t axis;
    int ax = 0, first = -1, dtype = IT_F32;
    snn_err rc = attr_int(f, n, "axis", 0, &axis);
    if (rc) return rc;
    gshape os;
    for (int k = 0; k < n->nin; k++) {
        int t = in_of(f, n, k);
        if (t < 0) continue;
        if (first < 0) {
            first = t;
            os = T(f, t)->shape;
            if (!norm_axis(axis, os.ndim, &ax) || os.ndim == 0)
                return BAD("node '%s': Concat axis %lld", n->name, (long long)axis);
            os.d[ax] = 0;
            dtype = T(f, t)->dtype;
        }
        const gshape *s = &T(f, t)->shape;
        if (s->ndim != os.ndim)
            return snn_error_set(f->err, SNN_ESHAPE, "node '%s': Concat ranks",
                                 n->name);
        for (int i = 0; i < s->ndim; i++)
            if (i != ax && s->d[i] != os.d[i])
                return snn_error_set(f->err, SNN_ESHAPE, "node '%s': Concat dims",
                                     n->name);
        if (s->d[ax] > f->max_elems || os.d[ax] > f->max_elems)
            return snn_error_set(f->err, SNN_ELIMIT, "node '%s'", n->name);
        os.d[ax] += s->d[ax];
        if (T(f, t)->dtype != dtype) dtype = IT_F32;
    }
    if (first < 0) return BAD("node '%s': Concat without inputs", n->name);
    if ((rc = check_shape(f, n, &os))) return rc;
    if (dtype == IT_F32)
        for (int k = 0; k < n->nin; k++)
            if (in_of(f, n, k) >= 0 && !cfloats(f, in_of(f, n, k)))
                return snn_error_set(f->err, SNN_ENOMEM, "constant");
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < ax; i++) outer *= os.d[i];
    for (int i = ax + 1; i < os.ndim; i++) inner *= os.d[i];
    size_t es = esize(dtype);
    char *y = set_const(f, out, dtype, &os, NULL);
    if (!y) return SNN_ENOMEM;
    int64_t off = 0;
    for (int64_t a = 0; a < outer; a++)
        for (int k = 0; k < n->nin; k++) {
            int t = in_of(f, n, k);
            if (t < 0) continue;
            int64_t blk = T(f, t)->shape.d[ax] * inner;
            memcpy(y + off * es, (char *)T(f, t)->data + a * blk * es,
                   (size_t)blk * es);
            off += blk;
        }
    return SNN_OK;
}

static snn_err fold_slice(fold *f, const inode *n, int data, int out)
{
    itensor *D = T(f, data);
    int nd = D->shape.ndim;
    int64_t st[MAX_ATTR_INTS], en[MAX_ATTR_INTS], axs[MAX_ATTR_INTS],
        steps[MAX_ATTR_INTS];
    int ns, ne, na = -1, nst = -1;
    snn_err rc;
    if (f->g->opset < 10) {
        if ((rc = attr_ints(f, n, "starts", st, &ns)) ||
            (rc = attr_ints(f, n, "ends", en, &ne)) ||
            (rc = attr_ints(f, n, "axes", axs, &na)))
            return rc;
    } else {
        int ts = in_of(f, n, 1), te = in_of(f, n, 2), ta = in_of(f, n, 3),
            tt = in_of(f, n, 4);
        if (!is_const(f, ts) || !is_const(f, te) || (ta >= 0 && !is_const(f, ta)) ||
            (tt >= 0 && !is_const(f, tt)))
            return UNSUP("node '%s': Slice with run-time bounds", n->name);
        if ((rc = cints(f, n, ts, st, MAX_ATTR_INTS, &ns)) ||
            (rc = cints(f, n, te, en, MAX_ATTR_INTS, &ne)))
            return rc;
        if (ta >= 0 && (rc = cints(f, n, ta, axs, MAX_ATTR_INTS, &na))) return rc;
        if (tt >= 0 && (rc = cints(f, n, tt, steps, MAX_ATTR_INTS, &nst))) return rc;
    }
    if (ns < 0 || ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
        return BAD("node '%s': Slice starts/ends/axes/steps disagree", n->name);
    int64_t b[SNN_MAX_DIMS], s[SNN_MAX_DIMS];
    gshape os = D->shape;
    for (int i = 0; i < nd; i++) {
        b[i] = 0;
        s[i] = 1;
    }
    for (int k = 0; k < ns; k++) {
        int ax;
        if (!norm_axis(na >= 0 ? axs[k] : k, nd, &ax) || nd == 0)
            return BAD("node '%s': Slice axis", n->name);
        int64_t dim = D->shape.d[ax], step = nst >= 0 ? steps[k] : 1;
        int64_t lo = st[k], hi = en[k];
        if (step == 0) return BAD("node '%s': Slice step 0", n->name);
        /* a step beyond the dim selects one element either way; clamping
         * keeps the arithmetic below from overflowing */
        if (step > dim) step = dim > 0 ? dim : 1;
        if (step < -dim) step = dim > 0 ? -dim : -1;
        if (lo < 0) lo = lo < -dim ? 0 : lo + dim;
        if (hi < 0) hi = hi < -dim ? -1 : hi + dim;
        int64_t cnt;
        if (step > 0) {
            if (lo > dim) lo = dim;
            if (hi > dim) hi = dim;
            if (hi < 0) hi = 0;
            cnt = hi > lo ? (hi - lo + step - 1) / step : 0;
        } else {
            if (lo > dim - 1) lo = dim - 1;
            if (hi > dim - 1) hi = dim - 1;
            if (st[k] < -dim) lo = -1;
            cnt = lo > hi ? (lo - hi + (-step) - 1) / (-step) : 0;
        }
        b[ax] = lo;
        s[ax] = step;
        os.d[ax] = cnt;
    }
    size_t es = esize(D->dtype);
    char *y = set_const(f, out, D->dtype, &os, NULL);
    if (!y) return SNN_ENOMEM;
    int64_t str[SNN_MAX_DIMS], idx[SNN_MAX_DIMS] = {0}, r = 1;
    for (int i = nd - 1; i >= 0; i--) {
        str[i] = r;
        r *= D->shape.d[i];
    }
    int64_t total = gshape_elems(&os);
    for (int64_t o = 0; o < total; o++) {
        int64_t off = 0;
        for (int i = 0; i < nd; i++) off += (b[i] + idx[i] * s[i]) * str[i];
        memcpy(y + o * es, (char *)D->data + off * es, es);
        for (int i = nd - 1; i >= 0; i--) {
            if (++idx[i] < os.d[i]) break;
            idx[i] = 0;
        }
    }
    return SNN_OK;
}

/* Copy constant `src` into `out` with a new shape (same element count). */
static snn_err fold_reshape_const(fold *f, int src, const gshape *os, int out)
{
    itensor *S = T(f, src);
    size_t bytes = (size_t)gshape_elems(os) * esize(S->dtype);
    void *d = malloc(bytes ? bytes : 1);
    if (!d) return snn_error_set(f->err, SNN_ENOMEM, "constant");
    if (bytes) memcpy(d, S->data, bytes);
    return set_const(f, out, S->dtype, os, d) ? SNN_OK : SNN_ENOMEM;
}

/* ---- ONNX op lowering ---------------------------------------------------- */

/* Axes of Squeeze/Unsqueeze from the attribute or (opset >= 13) input 1. */
static snn_err get_axes(fold *f, const inode *n, int64_t *axes, int *cnt)
{
    if (f->g->opset >= 13) {
        int t = in_of(f, n, 1);
        *cnt = -1;
        if (t < 0) return SNN_OK;
        if (!is_const(f, t))
            return UNSUP("node '%s': run-time axes", n->name);
        return cints(f, n, t, axes, MAX_ATTR_INTS, cnt);
    }
    return attr_ints(f, n, "axes", axes, cnt);
}

/* Reshape the activation or constant x to os: a constant is copied, an
 * activation gets a Reshape node whose dim 0 follows the run-time batch
 * when `keep_batch`. */
static snn_err reshape_to(fold *f, const inode *n, int x, const gshape *os,
                          int keep_batch, int out)
{
    if (is_const(f, x)) return fold_reshape_const(f, x, os, out);
    snn_node sn;
    node_init(&sn, SNN_OP_RESHAPE, 1, x, -1, -1);
    sn.a.reshape.ndim = os->ndim;
    for (int i = 0; i < os->ndim; i++) sn.a.reshape.shape[i] = os->d[i];
    if (keep_batch && os->ndim > 0 && T(f, x)->bax == 0) sn.a.reshape.shape[0] = 0;
    return emit(f, n, &sn, out);
}

static snn_err lower_squeeze(fold *f, const inode *n, int unsq, int x, int out)
{
    int64_t axes[MAX_ATTR_INTS];
    int cnt, mark[SNN_MAX_DIMS * 2] = {0};
    const gshape *xs = &T(f, x)->shape;
    gshape os;
    snn_err rc = get_axes(f, n, axes, &cnt);
    if (rc) return rc;
    int ond = unsq ? xs->ndim + (cnt > 0 ? cnt : 0) : xs->ndim;
    if (unsq && cnt < 0) return BAD("node '%s': Unsqueeze without axes", n->name);
    if (ond > SNN_MAX_DIMS) return UNSUP("node '%s': more than %d dims", n->name,
                                         SNN_MAX_DIMS);
    for (int k = 0; k < cnt; k++) {
        int ax;
        if (!norm_axis(axes[k], ond, &ax) || mark[ax])
            return BAD("node '%s': axis %lld", n->name, (long long)axes[k]);
        mark[ax] = 1;
    }
    int keep = !mark[0];
    os.ndim = 0;
    if (unsq) {
        for (int i = 0, j = 0; i < ond; i++) os.d[os.ndim++] = mark[i] ? 1 : xs->d[j++];
    } else {
        for (int i = 0; i < xs->ndim; i++) {
            if (cnt < 0 ? xs->d[i] == 1 : mark[i]) {
                if (xs->d[i] != 1)
                    return snn_error_set(f->err, SNN_ESHAPE, "node '%s': squeezing "
                                         "dim %d of size %lld", n->name, i,
                                         (long long)xs->d[i]);
                if (i == 0) keep = 0;
                continue;
            }
            os.d[os.ndim++] = xs->d[i];
        }
    }
    return reshape_to(f, n, x, &os, keep, out);
}

static snn_err lower_cast(fold *f, const inode *n, int x, int out)
{
    int64_t to;
    snn_err rc = attr_int(f, n, "to", 0, &to);
    if (rc) return rc;
    int tofloat = to == 1 || to == 10 || to == 11 || to == 16;
    int toint = (to >= 2 && to <= 7) || to == 9 || to == 12 || to == 13;
    if (!tofloat && !toint) return UNSUP("node '%s': Cast to type %lld", n->name,
                                         (long long)to);
    if (!is_const(f, x)) {
        if (!tofloat) return UNSUP("node '%s': Cast of run-time data to an integer "
                                   "type", n->name);
        T(f, out)->alias = x;
        return SNN_OK;
    }
    itensor *X = T(f, x);
    int64_t e = gshape_elems(&X->shape);
    void *d = malloc((size_t)(e ? e : 1) * 8);
    if (!d) return snn_error_set(f->err, SNN_ENOMEM, "constant");
    for (int64_t i = 0; i < e; i++) {
        if (tofloat) {
            ((float *)d)[i] = X->dtype == IT_I64 ? (float)((int64_t *)X->data)[i]
                                                 : ((float *)X->data)[i];
        } else {
            int64_t v;
            if (X->dtype == IT_I64) {
                v = ((int64_t *)X->data)[i];
            } else {
                float fv = ((float *)X->data)[i];
                v = fv != fv ? 0 : fv >= 9.2e18f ? INT64_MAX : fv <= -9.2e18f
                                                    ? INT64_MIN : (int64_t)fv;
            }
            ((int64_t *)d)[i] = to == 9 ? v != 0 : v;
        }
    }
    gshape s = X->shape;
    return set_const(f, out, tofloat ? IT_F32 : IT_I64, &s, d) ? SNN_OK : SNN_ENOMEM;
}

static snn_err lower_constant(fold *f, const inode *n, int out)
{
    const Onnx__AttributeProto *a;
    gshape s = {0, {0}};
    if ((a = attr(n, "value")) && a->t) {
        itensor tmp = {0};
        snn_err rc = graph_tensor_decode(a->t, f->max_elems, &tmp, f->err);
        if (rc) return rc;
        return set_const(f, out, tmp.dtype, &tmp.shape, tmp.data) ? SNN_OK
                                                                  : SNN_ENOMEM;
    }
    if ((a = attr(n, "value_float"))) {
        float *d = set_const(f, out, IT_F32, &s, NULL);
        if (!d) return SNN_ENOMEM;
        d[0] = a->f;
        return SNN_OK;
    }
    if ((a = attr(n, "value_int"))) {
        int64_t *d = set_const(f, out, IT_I64, &s, NULL);
        if (!d) return SNN_ENOMEM;
        d[0] = a->i;
        return SNN_OK;
    }
    if ((a = attr(n, "value_floats"))) {
        s.ndim = 1;
        s.d[0] = (int64_t)a->n_floats;
        float *d = set_const(f, out, IT_F32, &s, NULL);
        if (!d) return SNN_ENOMEM;
        for (size_t i = 0; i < a->n_floats; i++) d[i] = a->floats[i];
        return SNN_OK;
    }
    if ((a = attr(n, "value_ints"))) {
        s.ndim = 1;
        s.d[0] = (int64_t)a->n_ints;
        int64_t *d = set_const(f, out, IT_I64, &s, NULL);
        if (!d) return SNN_ENOMEM;
        for (size_t i = 0; i < a->n_ints; i++) d[i] = a->ints[i];
        return SNN_OK;
    }
    return UNSUP("node '%s': Constant of this kind", n->name);
}

/* auto_pad / pads of Conv and pooling into top,left,bottom,right. xs is
 * the (lifted) 4-D input; nsp the op's own spatial rank (1 or 2). */
static snn_err spatial_pads(fold *f, const inode *n, const gshape *xs, int nsp,
                            const int *k, const int *s, const int *dil, int *pads)
{
    char ap[32];
    int64_t p[MAX_ATTR_INTS];
    int np;
    snn_err rc = attr_str(f, n, "auto_pad", "NOTSET", ap, sizeof ap);
    if (rc) return rc;
    if ((rc = attr_ints(f, n, "pads", p, &np))) return rc;
    if (!strcmp(ap, "NOTSET") || !*ap) {
        if (np >= 0 && np != 2 * nsp)
            return BAD("node '%s': %d pads for %d spatial dims", n->name, np, nsp);
        memset(pads, 0, 4 * sizeof *pads);
        for (int i = 0; i < nsp; i++)
            for (int e = 0; e < 2; e++) {
                int64_t v = np < 0 ? 0 : p[e * nsp + i];
                if (v < 0 || v > 65536)
                    return BAD("node '%s': pad %lld", n->name, (long long)v);
                /* ONNX order x1_begin, x2_begin, x1_end, x2_end */
                pads[e * 2 + (2 - nsp) + i] = (int)v;
            }
        return SNN_OK;
    }
    if (!strcmp(ap, "VALID")) {
        memset(pads, 0, 4 * sizeof *pads);
        return SNN_OK;
    }
    int lower = !strcmp(ap, "SAME_LOWER");
    if (!lower && strcmp(ap, "SAME_UPPER"))
        return BAD("node '%s': auto_pad '%s'", n->name, ap);
    for (int i = 0; i < 2; i++) {
        int64_t in = xs->d[2 + i], o = (in + s[i] - 1) / s[i];
        int64_t tot = (o - 1) * s[i] + (int64_t)(k[i] - 1) * dil[i] + 1 - in;
        if (tot < 0) tot = 0;
        if (tot > 65536) return BAD("node '%s': auto_pad", n->name);
        pads[i] = (int)(lower ? tot - tot / 2 : tot / 2);
        pads[2 + i] = (int)(tot - pads[i]);
    }
    return SNN_OK;
}

/* An ints attribute with one value per spatial dim, in 2-D form [H, W];
 * a 1-D op (nsp 1) gets `h` for H. */
static snn_err ints_sp(fold *f, const inode *n, const char *name, int nsp,
                       int def, int lo, int h, int *v)
{
    int64_t a[MAX_ATTR_INTS];
    int c;
    snn_err rc = attr_ints(f, n, name, a, &c);
    if (rc) return rc;
    if (c >= 0 && c != nsp)
        return BAD("node '%s': %s has %d values for %d spatial dims", n->name,
                   name, c, nsp);
    v[0] = h;
    for (int i = 0; i < nsp; i++) {
        int64_t x = c < 0 ? def : a[i];
        if (x < lo || x > 65536)
            return BAD("node '%s': %s = %lld", n->name, name, (long long)x);
        v[2 - nsp + i] = (int)x;
    }
    return SNN_OK;
}

/* A new tensor for the lifted form of a 1-D op: "<node>#<what>". */
static int lift_tensor(fold *f, const inode *n, const char *what)
{
    char nm[512];
    snprintf(nm, sizeof nm, "%s#%s%d", n->name, what, f->g->ntensors);
    return graph_imp_add(f->g, nm, f->err);
}

/* The spatial rank of a Conv/pool input: 2 runs as is, 1 is lifted to 2-D
 * ([N,C,L] -> [N,C,1,L]) with Reshapes around the op; others are refused. */
static snn_err spatial_rank(fold *f, const inode *n, const char *op, int xnd,
                            int nsp)
{
    if (xnd != nsp + 2 || (nsp != 1 && nsp != 2))
        return UNSUP("node '%s': %s with %d spatial dims (1-D and 2-D only)",
                     n->name, op, xnd - 2);
    return SNN_OK;
}

/* Lift x [N,C,L] to a new [N,C,1,L] tensor (*x4); nsp 2 leaves x. */
static snn_err lift_input(fold *f, const inode *n, int nsp, int x, int *x4)
{
    *x4 = x;
    if (nsp == 2) return SNN_OK;
    gshape xs = T(f, x)->shape, s4 = {4, {xs.d[0], xs.d[1], 1, xs.d[2]}};
    int t = lift_tensor(f, n, "in2d");
    if (t < 0) return f->err ? f->err->code : SNN_ENOMEM;
    *x4 = t;
    return reshape_to(f, n, x, &s4, 1, t);
}

/* Emit sn into out, through a 4-D temporary when the op was lifted. */
static snn_err emit_lifted(fold *f, const inode *n, int nsp, snn_node *sn, int out)
{
    if (nsp == 2) return emit(f, n, sn, out);
    int y4 = lift_tensor(f, n, "out2d");
    if (y4 < 0) return f->err ? f->err->code : SNN_ENOMEM;
    snn_err rc = emit(f, n, sn, y4);
    if (rc) return rc;
    gshape ys = T(f, y4)->shape, s3 = {3, {ys.d[0], ys.d[1], ys.d[3]}};
    return reshape_to(f, n, y4, &s3, 1, out);
}

static snn_err lower_conv(fold *f, const inode *n, int x, int out)
{
    int w = in_of(f, n, 1), b = in_of(f, n, 2);
    snn_node sn;
    snn_conv_attr *a = &sn.a.conv;
    int64_t grp;
    snn_err rc;
    if (w < 0) return BAD("node '%s': Conv without weights", n->name);
    if (!is_const(f, w) || (b >= 0 && !is_const(f, b)))
        return UNSUP("node '%s': Conv with run-time weights", n->name);
    gshape ws = T(f, w)->shape;
    int nsp = ws.ndim - 2;
    if ((rc = spatial_rank(f, n, "Conv", T(f, x)->shape.ndim, nsp))) return rc;
    for (int i = 2; i < ws.ndim; i++)
        if (ws.d[i] < 1 || ws.d[i] > 65536)
            return BAD("node '%s': kernel size %lld", n->name, (long long)ws.d[i]);
    int64_t ks[MAX_ATTR_INTS];
    int nk;
    if ((rc = attr_ints(f, n, "kernel_shape", ks, &nk))) return rc;
    if (nk >= 0 && (nk != nsp || ks[0] != ws.d[2] || ks[nsp - 1] != ws.d[nsp + 1]))
        return BAD("node '%s': kernel_shape disagrees with the weights", n->name);
    int x4 = x, w4 = w;
    if ((rc = lift_input(f, n, nsp, x, &x4))) return rc;
    if (nsp == 1) {
        gshape s4 = {4, {ws.d[0], ws.d[1], 1, ws.d[2]}};
        if ((w4 = lift_tensor(f, n, "w2d")) < 0) return f->err ? f->err->code : SNN_ENOMEM;
        if ((rc = fold_reshape_const(f, w, &s4, w4))) return rc;
    }
    node_init(&sn, SNN_OP_CONV, b >= 0 ? 3 : 2, x4, w4, b);
    a->kernel[0] = nsp == 2 ? (int)ws.d[2] : 1;
    a->kernel[1] = (int)ws.d[nsp + 1];
    if ((rc = ints_sp(f, n, "strides", nsp, 1, 1, 1, a->strides)) ||
        (rc = ints_sp(f, n, "dilations", nsp, 1, 1, 1, a->dilations)) ||
        (rc = attr_int(f, n, "group", 1, &grp)))
        return rc;
    if (grp < 1 || grp > 65536) return BAD("node '%s': group %lld", n->name,
                                           (long long)grp);
    a->group = (int)grp;
    gshape xs4 = T(f, x4)->shape;
    if ((rc = spatial_pads(f, n, &xs4, nsp, a->kernel, a->strides, a->dilations,
                           a->pads)))
        return rc;
    return emit_lifted(f, n, nsp, &sn, out);
}

static snn_err lower_pool(fold *f, const inode *n, snn_op op, int x, int out)
{
    snn_node sn;
    snn_pool_attr *a = &sn.a.pool;
    int64_t v;
    int dil[2];
    snn_err rc;
    int64_t ks[MAX_ATTR_INTS];
    int nk;
    if ((rc = attr_ints(f, n, "kernel_shape", ks, &nk))) return rc;
    if (nk < 0) return BAD("node '%s': pooling without kernel_shape", n->name);
    if ((rc = spatial_rank(f, n, snn_op_name(op), T(f, x)->shape.ndim, nk))) return rc;
    node_init(&sn, op, 1, x, -1, -1);
    if ((rc = ints_sp(f, n, "kernel_shape", nk, 1, 1, 1, a->kernel)) ||
        (rc = ints_sp(f, n, "strides", nk, 1, 1, 1, a->strides)) ||
        (rc = ints_sp(f, n, "dilations", nk, 1, 1, 1, dil)))
        return rc;
    if (dil[0] != 1 || dil[1] != 1)
        return UNSUP("node '%s': pooling with dilations", n->name);
    if ((rc = attr_int(f, n, "ceil_mode", 0, &v))) return rc;
    a->ceil_mode = v != 0;
    if ((rc = attr_int(f, n, "count_include_pad", 0, &v))) return rc;
    a->count_include_pad = v != 0;
    if ((rc = attr_int(f, n, "storage_order", 0, &v))) return rc;
    int x4;
    if ((rc = lift_input(f, n, nk, x, &x4))) return rc;
    sn.in[0] = x4;
    gshape xs4 = T(f, x4)->shape;
    int one[2] = {1, 1};
    if ((rc = spatial_pads(f, n, &xs4, nk, a->kernel, a->strides, one, a->pads)))
        return rc;
    return emit_lifted(f, n, nk, &sn, out);
}

static snn_err lower_reshape(fold *f, const inode *n, int x, int out)
{
    int64_t shp[MAX_ATTR_INTS], az;
    int ns;
    snn_err rc;
    if (f->g->opset < 5) {
        if ((rc = attr_ints(f, n, "shape", shp, &ns))) return rc;
        if (ns < 0) return BAD("node '%s': Reshape without shape", n->name);
    } else {
        int s = in_of(f, n, 1);
        if (s < 0) return BAD("node '%s': Reshape without shape", n->name);
        if (!is_const(f, s))
            return UNSUP("node '%s': Reshape to a run-time shape", n->name);
        if ((rc = cints(f, n, s, shp, MAX_ATTR_INTS, &ns))) return rc;
    }
    if (ns > SNN_MAX_DIMS) return UNSUP("node '%s': more than %d dims", n->name,
                                        SNN_MAX_DIMS);
    if ((rc = attr_int(f, n, "allowzero", 0, &az))) return rc;
    int neg = 0;
    for (int i = 0; i < ns; i++) {
        if (shp[i] == 0 && az) return UNSUP("node '%s': Reshape with allowzero",
                                            n->name);
        if (shp[i] < -1) return BAD("node '%s': Reshape dim %lld", n->name,
                                    (long long)shp[i]);
        if (shp[i] == -1 && neg++) return BAD("node '%s': two -1 dims", n->name);
    }
    const gshape *xs = &T(f, x)->shape;
    snn_node sn;
    node_init(&sn, SNN_OP_RESHAPE, 1, x, -1, -1);
    sn.a.reshape.ndim = ns;
    for (int i = 0; i < ns; i++) sn.a.reshape.shape[i] = shp[i];
    /* the batch folded as a number: make it follow the run-time batch */
    if (!is_const(f, x) && T(f, x)->bax == 0 && ns > 0 && xs->ndim > 0 &&
        shp[0] > 0 && shp[0] == xs->d[0])
        sn.a.reshape.shape[0] = 0;
    if (is_const(f, x)) {
        const gshape *ins[1] = {xs};
        gshape os;
        if ((rc = graph_node_infer(&sn, ins, &os, f->max_elems, f->err))) return rc;
        return fold_reshape_const(f, x, &os, out);
    }
    return emit(f, n, &sn, out);
}

static snn_err lower_pad(fold *f, const inode *n, int x, int out)
{
    char mode[32];
    int64_t p[MAX_ATTR_INTS], axes[MAX_ATTR_INTS];
    int np, na = -1;
    float value = 0.0f;
    snn_err rc;
    const gshape *xs = &T(f, x)->shape;
    if ((rc = attr_str(f, n, "mode", "constant", mode, sizeof mode))) return rc;
    if (strcmp(mode, "constant"))
        return UNSUP("node '%s': Pad mode '%s'", n->name, mode);
    if (f->g->opset < 11) {
        if ((rc = attr_ints(f, n, f->g->opset < 2 ? "paddings" : "pads", p, &np)))
            return rc;
        if ((rc = attr_float(f, n, "value", 0.0f, &value))) return rc;
    } else {
        int tp = in_of(f, n, 1), tv = in_of(f, n, 2), ta = in_of(f, n, 3);
        if (tp < 0) return BAD("node '%s': Pad without pads", n->name);
        if (!is_const(f, tp) || (tv >= 0 && !is_const(f, tv)) ||
            (ta >= 0 && !is_const(f, ta)))
            return UNSUP("node '%s': Pad with run-time pads", n->name);
        if ((rc = cints(f, n, tp, p, MAX_ATTR_INTS, &np))) return rc;
        if (tv >= 0) {
            if (gshape_elems(&T(f, tv)->shape) != 1)
                return BAD("node '%s': Pad value is not a scalar", n->name);
            const float *vp = cfloats(f, tv);
            if (!vp) return snn_error_set(f->err, SNN_ENOMEM, "constant");
            value = vp[0];
        }
        if (ta >= 0 && (rc = cints(f, n, ta, axes, MAX_ATTR_INTS, &na))) return rc;
    }
    snn_node sn;
    node_init(&sn, SNN_OP_PAD, 1, x, -1, -1);
    int nd = xs->ndim;
    sn.a.pad.npads = 2 * nd;
    sn.a.pad.value = value;
    if (na >= 0) {
        if (np != 2 * na) return BAD("node '%s': Pad pads/axes disagree", n->name);
        for (int k = 0; k < na; k++) {
            int ax;
            if (!norm_axis(axes[k], nd, &ax)) return BAD("node '%s': axis", n->name);
            sn.a.pad.pads[ax] = p[k];
            sn.a.pad.pads[nd + ax] = p[na + k];
        }
    } else {
        if (np != 2 * nd) return BAD("node '%s': %d pads for %d dims", n->name, np, nd);
        for (int i = 0; i < np; i++) sn.a.pad.pads[i] = p[i];
    }
    for (int i = 0; i < 2 * nd; i++)
        if (sn.a.pad.pads[i] > f->max_elems || sn.a.pad.pads[i] < -f->max_elems)
            return BAD("node '%s': pad %lld", n->name, (long long)sn.a.pad.pads[i]);
    return emit(f, n, &sn, out);
}

/* Sub/Div by a constant become Add/Mul of its negation/reciprocal. */
static snn_err lower_binary(fold *f, const inode *n, char opc, int a, int b, int out)
{
    if (b < 0) return BAD("node '%s': missing input", n->name);
    if (is_const(f, a) && is_const(f, b)) return fold_binary(f, n, opc, a, b, out);
    snn_node sn;
    if (opc == '+' || opc == '*') {
        node_init(&sn, opc == '+' ? SNN_OP_ADD : SNN_OP_MUL, 2, a, b, -1);
        return emit(f, n, &sn, out);
    }
    if (!is_const(f, b))
        return UNSUP("unsupported op '%s' with a run-time divisor or subtrahend at "
                     "node '%s'", n->op, n->name);
    /* a new constant tensor holding -b or 1/b */
    char nm[64];
    snprintf(nm, sizeof nm, "%s#%d", opc == '-' ? "neg" : "recip", f->g->ntensors);
    int c = graph_imp_add(f->g, nm, f->err);
    if (c < 0) return f->err ? f->err->code : SNN_ENOMEM;
    const float *src = cfloats(f, b);
    if (!src) return snn_error_set(f->err, SNN_ENOMEM, "constant");
    gshape s = T(f, b)->shape;
    float *d = set_const(f, c, IT_F32, &s, NULL);
    if (!d) return SNN_ENOMEM;
    src = T(f, b)->data;
    for (int64_t i = 0; i < gshape_elems(&s); i++)
        d[i] = opc == '-' ? -src[i] : 1.0f / src[i];
    node_init(&sn, opc == '-' ? SNN_OP_ADD : SNN_OP_MUL, 2, a, c, -1);
    return emit(f, n, &sn, out);
}

/* Concat (op CONCAT, axis ax) or Sum (op ADD) of any number of inputs as
 * nodes of at most SNN_NODE_MAX_IN (Concat) or 2 (Add) inputs: the first
 * inputs are joined into a new tensor until the rest fits one node. */
static snn_err lower_join(fold *f, const inode *n, snn_op op, int ax, int out)
{
    int ins[64], cnt = 0, maxin = op == SNN_OP_CONCAT ? SNN_NODE_MAX_IN : 2;
    snn_node sn;
    snn_err rc;
    for (int k = 0; k < n->nin; k++) {
        int t = in_of(f, n, k);
        if (t < 0) continue;
        if (cnt == (int)(sizeof ins / sizeof *ins))
            return UNSUP("node '%s': %s of more than %d inputs", n->name, n->op, cnt);
        ins[cnt++] = t;
    }
    if (cnt == 0) return BAD("node '%s': %s without inputs", n->name, n->op);
    if (cnt == 1) {
        T(f, out)->alias = ins[0];
        return SNN_OK;
    }
    for (int part = 0; cnt > 1; part++) {
        int take = cnt < maxin ? cnt : maxin, dst = out;
        if (take < cnt) {
            char nm[64];
            snprintf(nm, sizeof nm, "%s#join%d", n->name, part);
            if ((dst = graph_imp_add(f->g, nm, f->err)) < 0)
                return f->err ? f->err->code : SNN_ENOMEM;
        }
        memset(&sn, 0, sizeof sn);
        sn.op = op;
        sn.nin = take;
        for (int k = 0; k < SNN_NODE_MAX_IN; k++) sn.in[k] = k < take ? ins[k] : -1;
        sn.a.axis.axis = ax;
        if (op == SNN_OP_ADD && is_const(f, ins[0]) && is_const(f, ins[1]))
            rc = fold_binary(f, n, '+', ins[0], ins[1], dst);
        else
            rc = emit(f, n, &sn, dst);
        if (rc) return rc;
        ins[0] = dst;
        memmove(ins + 1, ins + take, sizeof *ins * (size_t)(cnt - take));
        cnt -= take - 1;
    }
    return SNN_OK;
}

static snn_err lower_node(fold *f, const inode *n)
{
    const char *op = n->op;
    int x = in_of(f, n, 0), out = n->out[0];
    snn_node sn;
    snn_err rc;

    if (!(!n->p->domain || !*n->p->domain || !strcmp(n->p->domain, "ai.onnx")))
        return UNSUP("unsupported op '%s.%s' at node '%s'", n->p->domain, op,
                     n->name);
    for (int k = 0; k < n->nin; k++) {
        int t = in_of(f, n, k);
        if (t >= 0 && T(f, t)->unavailable)
            return UNSUP("node '%s' uses '%s' (%s)", n->name, tname(f, t),
                         T(f, t)->why);
    }
    /* secondary outputs are unavailable unless an op defines them below */
    for (int k = 1; k < n->nout; k++)
        if (n->out[k] >= 0) {
            T(f, n->out[k])->unavailable = 1;
            T(f, n->out[k])->why = "secondary output of a node";
        }
    if (out < 0) return SNN_OK;   /* nothing anyone can read */

    if (!strcmp(op, "Constant")) return lower_constant(f, n, out);
    if (!strcmp(op, "ConstantOfShape")) {
        int64_t shp[MAX_ATTR_INTS];
        int ns = 0;
        gshape s;
        if (x < 0 || !is_const(f, x))
            return UNSUP("node '%s': ConstantOfShape of a run-time shape", n->name);
        if ((rc = cints(f, n, x, shp, SNN_MAX_DIMS, &ns))) return rc;
        s.ndim = ns;
        for (int i = 0; i < ns; i++) s.d[i] = shp[i];
        if ((rc = check_shape(f, n, &s))) return rc;
        const Onnx__AttributeProto *a = attr(n, "value");
        itensor v = {0};
        if (a && a->t && (rc = graph_tensor_decode(a->t, 1, &v, f->err))) return rc;
        int dt = a && a->t ? v.dtype : IT_F32;
        void *d = set_const(f, out, dt, &s, NULL);
        if (!d) {
            free(v.data);
            return SNN_ENOMEM;
        }
        if (v.data && gshape_elems(&v.shape) == 1)
            for (int64_t i = 0; i < gshape_elems(&s); i++)
                memcpy((char *)d + i * esize(dt), v.data, esize(dt));
        free(v.data);
        return SNN_OK;
    }
    if (x < 0 && n->nin > 0 && strcmp(op, "Concat"))
        return BAD("node '%s' (%s): first input omitted", n->name, op);
    if (n->nin == 0) return UNSUP("unsupported op '%s' at node '%s'", op, n->name);

    if (!strcmp(op, "Identity")) {
        T(f, out)->alias = x;
        return SNN_OK;
    }
    if (!strcmp(op, "Dropout")) {
        int tm = in_of(f, n, 2);
        if (tm >= 0) {
            int64_t v[1];
            int c;
            if (!is_const(f, tm))
                return UNSUP("node '%s': Dropout with run-time training_mode",
                             n->name);
            if ((rc = cints(f, n, tm, v, 1, &c))) return rc;
            if (c == 1 && v[0])
                return UNSUP("node '%s': Dropout in training mode", n->name);
        }
        if (n->nout > 1 && n->out[1] >= 0) T(f, n->out[1])->why = "Dropout mask";
        T(f, out)->alias = x;
        return SNN_OK;
    }
    if (!strcmp(op, "Shape") || !strcmp(op, "Size")) {
        const gshape *xs = &T(f, x)->shape;
        gshape s = {1, {xs->ndim}};
        int64_t lo = 0, hi = xs->ndim;
        if (!strcmp(op, "Size")) {
            s.ndim = 0;
            int64_t *d = set_const(f, out, IT_I64, &s, NULL);
            if (!d) return SNN_ENOMEM;
            d[0] = gshape_elems(xs);
            return SNN_OK;
        }
        if ((rc = attr_int(f, n, "start", 0, &lo)) ||
            (rc = attr_int(f, n, "end", xs->ndim, &hi)))
            return rc;
        if (lo < 0) lo += xs->ndim;
        if (hi < 0) hi += xs->ndim;
        lo = lo < 0 ? 0 : lo > xs->ndim ? xs->ndim : lo;
        hi = hi < 0 ? 0 : hi > xs->ndim ? xs->ndim : hi;
        s.d[0] = hi > lo ? hi - lo : 0;
        int64_t *d = set_const(f, out, IT_I64, &s, NULL);
        if (!d) return SNN_ENOMEM;
        for (int64_t i = lo; i < hi; i++) d[i - lo] = xs->d[i];
        return SNN_OK;
    }
    if (!strcmp(op, "Gather")) {
        int ind = in_of(f, n, 1);
        if (ind < 0) return BAD("node '%s': Gather without indices", n->name);
        if (!is_const(f, x) || !is_const(f, ind))
            return UNSUP("unsupported op 'Gather' on run-time data at node '%s'",
                         n->name);
        return fold_gather(f, n, x, ind, out);
    }
    if (!strcmp(op, "Unsqueeze") || !strcmp(op, "Squeeze"))
        return lower_squeeze(f, n, op[0] == 'U', x, out);
    if (!strcmp(op, "Concat")) {
        int dyn = -1;
        for (int k = 0; k < n->nin && dyn < 0; k++)
            if (in_of(f, n, k) >= 0 && !is_const(f, in_of(f, n, k))) dyn = in_of(f, n, k);
        if (dyn < 0) return fold_concat(f, n, out);
        int64_t axis;
        int ax;
        if ((rc = attr_int(f, n, "axis", 0, &axis))) return rc;
        if (!norm_axis(axis, T(f, dyn)->shape.ndim, &ax))
            return BAD("node '%s': Concat axis %lld", n->name, (long long)axis);
        return lower_join(f, n, SNN_OP_CONCAT, ax, out);
    }
    if (!strcmp(op, "Sum")) return lower_join(f, n, SNN_OP_ADD, 0, out);
    if (!strcmp(op, "Cast")) return lower_cast(f, n, x, out);
    if (!strcmp(op, "Slice")) {
        if (!is_const(f, x))
            return UNSUP("unsupported op 'Slice' on run-time data at node '%s'",
                         n->name);
        return fold_slice(f, n, x, out);
    }
    if (!strcmp(op, "Add")) return lower_binary(f, n, '+', x, in_of(f, n, 1), out);
    if (!strcmp(op, "Sub")) return lower_binary(f, n, '-', x, in_of(f, n, 1), out);
    if (!strcmp(op, "Mul")) return lower_binary(f, n, '*', x, in_of(f, n, 1), out);
    if (!strcmp(op, "Div")) return lower_binary(f, n, '/', x, in_of(f, n, 1), out);
    if (!strcmp(op, "Relu")) {
        node_init(&sn, SNN_OP_RELU, 1, x, -1, -1);
        return emit(f, n, &sn, out);
    }
    if (!strcmp(op, "Clip")) {
        node_init(&sn, SNN_OP_CLIP, 1, x, -1, -1);
        sn.a.clip.min = -INFINITY;
        sn.a.clip.max = INFINITY;
        if (f->g->opset < 11) {
            if ((rc = attr_float(f, n, "min", -INFINITY, &sn.a.clip.min)) ||
                (rc = attr_float(f, n, "max", INFINITY, &sn.a.clip.max)))
                return rc;
        } else {
            for (int k = 1; k <= 2; k++) {
                int t = in_of(f, n, k);
                if (t < 0) continue;
                if (!is_const(f, t))
                    return UNSUP("node '%s': Clip with run-time bounds", n->name);
                if (gshape_elems(&T(f, t)->shape) != 1)
                    return BAD("node '%s': Clip bound is not a scalar", n->name);
                const float *v = cfloats(f, t);
                if (!v) return snn_error_set(f->err, SNN_ENOMEM, "constant");
                if (k == 1) sn.a.clip.min = v[0];
                else sn.a.clip.max = v[0];
            }
        }
        return emit(f, n, &sn, out);
    }
    if (!strcmp(op, "Conv")) return lower_conv(f, n, x, out);
    if (!strcmp(op, "Gemm")) {
        int b = in_of(f, n, 1), c = in_of(f, n, 2);
        int64_t ta, tb;
        if (b < 0) return BAD("node '%s': Gemm without B", n->name);
        if (!is_const(f, b) || (c >= 0 && !is_const(f, c)))
            return UNSUP("node '%s': Gemm with run-time B or C", n->name);
        node_init(&sn, SNN_OP_GEMM, c >= 0 ? 3 : 2, x, b, c);
        if ((rc = attr_float(f, n, "alpha", 1.0f, &sn.a.gemm.alpha)) ||
            (rc = attr_float(f, n, "beta", 1.0f, &sn.a.gemm.beta)) ||
            (rc = attr_int(f, n, "transA", 0, &ta)) ||
            (rc = attr_int(f, n, "transB", 0, &tb)))
            return rc;
        sn.a.gemm.trans_a = ta != 0;
        sn.a.gemm.trans_b = tb != 0;
        return emit(f, n, &sn, out);
    }
    if (!strcmp(op, "MatMul")) {
        int b = in_of(f, n, 1);
        if (b < 0) return BAD("node '%s': MatMul without B", n->name);
        if (!is_const(f, b))
            return UNSUP("node '%s': MatMul with a run-time B", n->name);
        if (T(f, b)->shape.ndim != 2 && !is_const(f, x))
            return UNSUP("node '%s': MatMul with a %d-D B (2-D only)", n->name,
                         T(f, b)->shape.ndim);
        if (T(f, x)->shape.ndim < 1)
            return BAD("node '%s': MatMul of a scalar", n->name);
        if (is_const(f, x) && T(f, b)->shape.ndim != 2)
            return UNSUP("node '%s': MatMul of N-D constants", n->name);
        node_init(&sn, SNN_OP_MATMUL, 2, x, b, -1);
        return emit(f, n, &sn, out);
    }
    if (!strcmp(op, "AveragePool")) return lower_pool(f, n, SNN_OP_AVGPOOL, x, out);
    if (!strcmp(op, "MaxPool")) {
        if (n->nout > 1 && n->out[1] >= 0) T(f, n->out[1])->why = "MaxPool indices";
        return lower_pool(f, n, SNN_OP_MAXPOOL, x, out);
    }
    if (!strcmp(op, "GlobalAveragePool")) {
        if (T(f, x)->shape.ndim < 3)
            return BAD("node '%s': GlobalAveragePool of a %d-D tensor", n->name,
                       T(f, x)->shape.ndim);
        node_init(&sn, SNN_OP_GLOBALAVGPOOL, 1, x, -1, -1);
        return emit(f, n, &sn, out);
    }
    if (!strcmp(op, "Flatten")) {
        int64_t ax;
        int nd = T(f, x)->shape.ndim;
        if ((rc = attr_int(f, n, "axis", 1, &ax))) return rc;
        if (ax < 0) ax += nd;
        if (ax < 0 || ax > nd) return BAD("node '%s': Flatten axis", n->name);
        node_init(&sn, SNN_OP_FLATTEN, 1, x, -1, -1);
        sn.a.axis.axis = (int)ax;
        return emit(f, n, &sn, out);
    }
    if (!strcmp(op, "Reshape")) return lower_reshape(f, n, x, out);
    if (!strcmp(op, "Transpose")) {
        int64_t p[MAX_ATTR_INTS];
        int np, nd = T(f, x)->shape.ndim, seen[SNN_MAX_DIMS] = {0};
        if ((rc = attr_ints(f, n, "perm", p, &np))) return rc;
        node_init(&sn, SNN_OP_TRANSPOSE, 1, x, -1, -1);
        if (np < 0)
            for (int i = 0; i < nd; i++) p[i] = nd - 1 - i;
        else if (np != nd)
            return BAD("node '%s': perm of %d for %d dims", n->name, np, nd);
        sn.a.transpose.nperm = nd;
        for (int i = 0; i < nd; i++) {
            if (p[i] < 0 || p[i] >= nd || seen[p[i]]++)
                return BAD("node '%s': perm is not a permutation", n->name);
            sn.a.transpose.perm[i] = (int)p[i];
        }
        return emit(f, n, &sn, out);
    }
    if (!strcmp(op, "BatchNormalization")) {
        int64_t v;
        for (int k = 1; k <= 4; k++) {
            int t = in_of(f, n, k);
            if (t < 0) return BAD("node '%s': BatchNormalization input %d", n->name, k);
            if (!is_const(f, t))
                return UNSUP("node '%s': BatchNormalization with run-time "
                             "parameters", n->name);
        }
        if ((rc = attr_int(f, n, "training_mode", 0, &v))) return rc;
        if (v) return UNSUP("node '%s': BatchNormalization in training mode",
                            n->name);
        if ((rc = attr_int(f, n, "spatial", 1, &v))) return rc;
        if (!v) return UNSUP("node '%s': BatchNormalization with spatial=0", n->name);
        node_init(&sn, SNN_OP_BATCHNORM, 5, x, in_of(f, n, 1), in_of(f, n, 2));
        sn.in[3] = in_of(f, n, 3);
        sn.in[4] = in_of(f, n, 4);
        if ((rc = attr_float(f, n, "epsilon", 1e-5f, &sn.a.bn.eps))) return rc;
        return emit(f, n, &sn, out);
    }
    if (!strcmp(op, "Softmax")) {
        int64_t ax;
        int nd = T(f, x)->shape.ndim, a;
        if ((rc = attr_int(f, n, "axis", f->g->opset < 13 ? 1 : -1, &ax))) return rc;
        if (!norm_axis(ax, nd, &a)) return BAD("node '%s': Softmax axis %lld",
                                               n->name, (long long)ax);
        node_init(&sn, SNN_OP_SOFTMAX, 1, x, -1, -1);
        sn.a.axis.axis = a;
        sn.a.axis.coerce2d = f->g->opset < 13 && a < nd - 1;
        return emit(f, n, &sn, out);
    }
    if (!strcmp(op, "Pad")) return lower_pad(f, n, x, out);
    return UNSUP("unsupported op '%s' at node '%s'", op, n->name);
}

/* ---- fusion -------------------------------------------------------------- */

/* The only consumer node of tensor t after node i, or -1. */
static int sole_consumer(fold *f, const int *uses, int t, int i)
{
    if (uses[t] != 1 || t == f->g->output) return -1;
    for (int j = i + 1; j < f->nnodes; j++)
        for (int k = 0; k < f->nodes[j].nin; k++)
            if (f->nodes[j].in[k] == t) return j;
    return -1;
}

static snn_err fuse(fold *f)
{
    int *uses = calloc((size_t)f->g->ntensors + 1, sizeof *uses);
    if (!uses) return snn_error_set(f->err, SNN_ENOMEM, "fusion");
    for (int i = 0; i < f->nnodes; i++)
        for (int k = 0; k < f->nodes[i].nin; k++)
            if (f->nodes[i].in[k] >= 0) uses[f->nodes[i].in[k]]++;
    for (int i = 0; i < f->nnodes; i++) {
        snn_node *n = &f->nodes[i];
        int j = sole_consumer(f, uses, n->out, i);
        if (j < 0) continue;
        snn_node *c = &f->nodes[j];
        if (n->op == SNN_OP_MATMUL && c->op == SNN_OP_ADD &&
            T(f, n->in[0])->shape.ndim == 2) {
            int bias = c->in[0] == n->out ? c->in[1] : c->in[0];
            int64_t N = T(f, n->in[1])->shape.d[1];
            const gshape *bs = &T(f, bias)->shape;
            if (bias == n->out || !is_const(f, bias) || gshape_elems(bs) != N ||
                bs->ndim < 1 || bs->ndim > 2 || bs->d[bs->ndim - 1] != N)
                continue;
            n->op = SNN_OP_GEMM;
            n->a.gemm = (snn_gemm_attr){1.0f, 1.0f, 0, 0};
            n->nin = 3;
            n->in[2] = bias;
            n->out = c->out;
            c->op = SNN_OP_COUNT_;          /* deleted */
            c->nin = 0;
        } else if (n->op == SNN_OP_CONV && c->op == SNN_OP_BATCHNORM &&
                   c->in[0] == n->out) {
            gshape wsh = T(f, n->in[1])->shape;   /* copy: graph_imp_add moves T */
            const gshape *ws = &wsh;
            int64_t M = ws->d[0], per = ws->d[1] * ws->d[2] * ws->d[3];
            char nm[64];
            snprintf(nm, sizeof nm, "%s#bnw%d", n->name, i);
            int w2 = graph_imp_add(f->g, nm, f->err);
            snprintf(nm, sizeof nm, "%s#bnb%d", n->name, i);
            int b2 = w2 >= 0 ? graph_imp_add(f->g, nm, f->err) : -1;
            if (b2 < 0) {
                free(uses);
                return f->err ? f->err->code : SNN_ENOMEM;
            }
            uses = realloc(uses, ((size_t)f->g->ntensors + 1) * sizeof *uses);
            if (!uses) return snn_error_set(f->err, SNN_ENOMEM, "fusion");
            uses[w2] = uses[b2] = 1;
            gshape bsh = {1, {M}};
            float *w = set_const(f, w2, IT_F32, ws, NULL);
            float *b = w ? set_const(f, b2, IT_F32, &bsh, NULL) : NULL;
            if (!b) {
                free(uses);
                return SNN_ENOMEM;
            }
            const float *W = T(f, n->in[1])->data;
            const float *B = n->nin > 2 ? T(f, n->in[2])->data : NULL;
            const float *sc = T(f, c->in[1])->data, *sh = T(f, c->in[2])->data,
                        *mu = T(f, c->in[3])->data, *var = T(f, c->in[4])->data;
            for (int64_t m = 0; m < M; m++) {
                float s = sc[m] / sqrtf(var[m] + c->a.bn.eps);
                for (int64_t k = 0; k < per; k++) w[m * per + k] = W[m * per + k] * s;
                b[m] = ((B ? B[m] : 0.0f) - mu[m]) * s + sh[m];
            }
            n->in[1] = w2;
            n->in[2] = b2;
            n->nin = 3;
            n->out = c->out;
            c->op = SNN_OP_COUNT_;
            c->nin = 0;
        }
    }
    free(uses);
    return SNN_OK;
}

/* ---- compaction ---------------------------------------------------------- */

static snn_err compact(fold *f)
{
    snn_graph *g = f->g;
    int *live = calloc((size_t)f->nnodes + 1, sizeof *live);
    int *need = calloc((size_t)g->ntensors + 1, sizeof *need);
    int *map = malloc(((size_t)g->ntensors + 1) * sizeof *map);
    snn_tensor *nt = NULL;
    snn_node *nn = NULL;
    if (!live || !need || !map) goto nomem;
    need[g->output] = 1;
    for (int i = f->nnodes - 1; i >= 0; i--) {
        snn_node *n = &f->nodes[i];
        if (n->op == SNN_OP_COUNT_ || !need[n->out]) continue;
        live[i] = 1;
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0) need[n->in[k]] = 1;
    }
    need[g->input] = 1;
    int nten = 0, nnod = 0;
    for (int t = 0; t < g->ntensors; t++) map[t] = need[t] ? nten++ : -1;
    for (int i = 0; i < f->nnodes; i++) nnod += live[i];
    nt = calloc((size_t)nten + 1, sizeof *nt);
    nn = calloc((size_t)nnod + 1, sizeof *nn);
    if (!nt || !nn) goto nomem;
    for (int i = 0, o = 0; i < f->nnodes; i++) {
        if (!live[i]) continue;
        nn[o] = f->nodes[i];
        nn[o].name = strdup(f->nodes[i].name);
        if (!nn[o].name) {
            for (int k = 0; k < o; k++) free(nn[k].name);
            goto nomem;
        }
        for (int k = 0; k < nn[o].nin; k++)
            if (nn[o].in[k] >= 0) nn[o].in[k] = map[nn[o].in[k]];
        nn[o].out = map[nn[o].out];
        o++;
    }
    for (int t = 0; t < g->ntensors; t++) {
        if (map[t] < 0) {
            free(g->tensors[t].name);
            free(T(f, t)->data);
            T(f, t)->data = NULL;
            continue;
        }
        snn_tensor *d = &nt[map[t]];
        itensor *x = T(f, t);
        d->name = g->tensors[t].name;
        d->ndim = x->shape.ndim;
        memcpy(d->dims, x->shape.d, sizeof d->dims);
        if (x->is_const) {
            d->data = x->data;     /* float: every constant a node reads */
            x->data = NULL;
        }
    }
    g->input = map[g->input];
    g->output = map[g->output];
    free(g->tensors);
    g->tensors = nt;
    g->ntensors = nten;
    g->nodes = nn;
    g->nnodes = nnod;
    free(live);
    free(need);
    free(map);
    return SNN_OK;
nomem:
    free(live);
    free(need);
    free(map);
    free(nt);
    free(nn);
    return snn_error_set(f->err, SNN_ENOMEM, "compaction");
}

snn_err graph_fold(snn_graph *g, snn_error *err)
{
    struct snn_graph_import *imp = g->imp;
    fold fs = {g, imp, err, NULL, 0, 0, imp->lim.max_tensor_elems};
    fold *f = &fs;
    snn_err rc = SNN_OK;

    if (g->nunbound)
        return snn_error_set(err, SNN_EINVALID, "graph input '%s' is not bound",
                             g->tensors[g->unbound[0]].name);
    if (imp->noutputs != 1)
        return UNSUP("model has %d outputs (one supported)", imp->noutputs);
    T(f, g->input)->bax = 0;
    for (int i = 0; i < imp->nnodes && !rc; i++)
        rc = lower_node(f, &imp->nodes[imp->order[i]]);
    if (!rc) {
        int o = resolve(f, g->output);
        if (T(f, o)->unavailable)
            rc = UNSUP("graph output '%s' is a %s", tname(f, o), T(f, o)->why);
        else if (T(f, o)->is_const)
            rc = UNSUP("graph output '%s' does not depend on the input",
                       tname(f, o));
        else if (!T(f, o)->known)
            rc = BAD("graph output '%s' is not computed", tname(f, o));
        g->output = o;
    }
    if (!rc) rc = fuse(f);
    if (!rc) rc = compact(f);
    free(f->nodes);
    return rc;
}
