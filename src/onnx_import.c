/* onnx_import.c: parse an untrusted ONNX ModelProto into the import state
 * of an snn_graph (tensors by name, nodes in topological order), and bind
 * extra graph inputs as constants.
 *
 * DESIGN: this file only reads the protobuf and checks its structure:
 * sizes, data types, names, references and cycles. Lowering the ONNX ops to
 * the snn_op set (constant folding of shape arithmetic, aliasing, fusion,
 * shape inference) is graph_fold() in graph_fold.c, run by
 * snn_graph_finalize(). The unpacked ModelProto stays alive until then,
 * because the nodes keep pointing at their attributes.
 */
#include "graph_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx.pb-c.h"

#define FMT_ERR(...) snn_error_set(err, SNN_EFORMAT, __VA_ARGS__)

/* ---- name table ---------------------------------------------------------- */

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    while (*s) h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

int graph_imp_find(const snn_graph *g, const char *name)
{
    const struct snn_graph_import *imp = g->imp;
    if (!imp || !imp->nslots) return -1;
    uint32_t m = (uint32_t)imp->nslots - 1;
    for (uint32_t h = hash_str(name) & m;; h = (h + 1) & m) {
        int s = imp->slots[h];
        if (!s) return -1;
        if (strcmp(g->tensors[s - 1].name, name) == 0) return s - 1;
    }
}

static int slot_insert(struct snn_graph_import *imp, const snn_tensor *ts, int idx)
{
    uint32_t m = (uint32_t)imp->nslots - 1;
    uint32_t h = hash_str(ts[idx].name) & m;
    while (imp->slots[h]) h = (h + 1) & m;
    imp->slots[h] = idx + 1;
    return 0;
}

/* Add a tensor named `name` (which must not exist yet). Returns its index
 * or -1 with err set. */
int graph_imp_add(snn_graph *g, const char *name, snn_error *err)
{
    struct snn_graph_import *imp = g->imp;
    if (g->ntensors == imp->cap) {
        int nc = imp->cap ? imp->cap * 2 : 64;
        snn_tensor *nt = realloc(g->tensors, (size_t)nc * sizeof *nt);
        if (!nt) return snn_error_set(err, SNN_ENOMEM, "tensor table"), -1;
        g->tensors = nt;
        itensor *ni = realloc(imp->t, (size_t)nc * sizeof *ni);
        if (!ni) return snn_error_set(err, SNN_ENOMEM, "tensor table"), -1;
        imp->t = ni;
        imp->cap = nc;
    }
    if ((g->ntensors + 1) * 2 > imp->nslots) {
        int ns = imp->nslots ? imp->nslots * 2 : 128;
        while ((g->ntensors + 1) * 2 > ns) ns *= 2;
        int *sl = calloc((size_t)ns, sizeof *sl);
        if (!sl) return snn_error_set(err, SNN_ENOMEM, "name table"), -1;
        free(imp->slots);
        imp->slots = sl;
        imp->nslots = ns;
        for (int i = 0; i < g->ntensors; i++) slot_insert(imp, g->tensors, i);
    }
    int i = g->ntensors;
    snn_tensor *t = &g->tensors[i];
    memset(t, 0, sizeof *t);
    memset(&imp->t[i], 0, sizeof imp->t[i]);
    imp->t[i].alias = -1;
    imp->t[i].bax = -1;
    t->name = strdup(name);
    if (!t->name) return snn_error_set(err, SNN_ENOMEM, "tensor name"), -1;
    g->ntensors++;
    slot_insert(imp, g->tensors, i);
    return i;
}

void graph_imp_free(struct snn_graph_import *imp, int ntensors)
{
    if (!imp) return;
    if (imp->model) onnx__model_proto__free_unpacked(imp->model, NULL);
    for (int i = 0; i < ntensors && imp->t; i++) free(imp->t[i].data);
    free(imp->slots);
    for (int i = 0; i < imp->nnodes; i++) {
        free(imp->nodes[i].in);
        free(imp->nodes[i].out);
        free(imp->nodes[i].owned_name);
    }
    free(imp->nodes);
    free(imp->order);
    free(imp->inputs);
    free(imp->outputs);
    free(imp->t);
    free(imp);
}

/* ---- tensors ------------------------------------------------------------- */

static float half_to_float(uint16_t h)
{
    uint32_t s = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    float f;
    if (e == 0) {
        f = ldexpf((float)m, -24);
        return s ? -f : f;
    }
    if (e == 31) return s ? (m ? -NAN : -INFINITY) : (m ? NAN : INFINITY);
    uint32_t bits = s | ((e + 112) << 23) | (m << 13);
    memcpy(&f, &bits, sizeof f);
    return f;
}

static float bf16_to_float(uint16_t h)
{
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static const char *dtype_name(int dt)
{
    static const char *names[] = {"undefined", "float", "uint8", "int8", "uint16",
                                  "int16", "int32", "int64", "string", "bool",
                                  "float16", "double", "uint32", "uint64",
                                  "complex64", "complex128", "bfloat16"};
    return dt >= 0 && dt < (int)(sizeof names / sizeof *names) ? names[dt]
                                                               : "unknown";
}

snn_err graph_tensor_decode(const Onnx__TensorProto *tp, int64_t max_elems,
                            itensor *t, snn_error *err)
{
    const char *nm = tp->name ? tp->name : "";
    int dt = tp->has_data_type ? tp->data_type : 0;
    size_t esz;
    int64_t n = 1;

    if (tp->has_data_location &&
        tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return snn_error_set(err, SNN_EUNSUPPORTED,
                             "tensor '%s': external data is not supported", nm);
    if (tp->segment)
        return snn_error_set(err, SNN_EUNSUPPORTED,
                             "tensor '%s': segmented tensors are not supported", nm);
    if (tp->n_dims > SNN_MAX_DIMS)
        return snn_error_set(err, SNN_EUNSUPPORTED, "tensor '%s': %zu dims (max %d)",
                             nm, tp->n_dims, SNN_MAX_DIMS);
    for (size_t i = 0; i < tp->n_dims; i++) {
        int64_t d = tp->dims[i];
        if (d < 0) return FMT_ERR("tensor '%s': negative dim %lld", nm, (long long)d);
        if (d > 0 && n > max_elems / d)
            return snn_error_set(err, SNN_ELIMIT, "tensor '%s': more than %lld "
                                 "elements", nm, (long long)max_elems);
        n *= d;
    }
    switch (dt) {
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT: esz = 4; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: esz = 8; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT32:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: esz = 4; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT16:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: esz = 2; break;
    case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__UINT8:
    case ONNX__TENSOR_PROTO__DATA_TYPE__BOOL: esz = 1; break;
    default:
        return snn_error_set(err, SNN_EUNSUPPORTED, "tensor '%s': data type %s",
                             nm, dtype_name(dt));
    }
    int isf = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT ||
              dt == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE ||
              dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ||
              dt == ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16;
    /* where the values are: raw_data or the typed field ONNX assigns */
    size_t have;
    int from_raw = tp->has_raw_data && tp->raw_data.len > 0;
    if (from_raw) {
        have = tp->raw_data.len;
        if (have != (size_t)n * esz)
            return FMT_ERR("tensor '%s': raw_data has %zu bytes, dims want %lld",
                           nm, have, (long long)((size_t)n * esz));
    } else {
        switch (dt) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            have = tp->n_float_data; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE:
            have = tp->n_double_data; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
            have = tp->n_int64_data; break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64:
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32:
            have = tp->n_uint64_data; break;
        default:
            have = tp->n_int32_data; break;
        }
        if (have != (size_t)n)
            return FMT_ERR("tensor '%s': %zu values, dims want %lld", nm, have,
                           (long long)n);
    }
    void *data = malloc((size_t)(n ? n : 1) * (isf ? sizeof(float) : sizeof(int64_t)));
    if (!data) return snn_error_set(err, SNN_ENOMEM, "tensor '%s'", nm);
    float *f = data;
    int64_t *iv = data;
    const unsigned char *raw = from_raw ? tp->raw_data.data : NULL;
    for (int64_t k = 0; k < n; k++) {
        switch (dt) {
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT:
            if (raw) memcpy(&f[k], raw + 4 * k, 4);
            else f[k] = tp->float_data[k];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE: {
            double d;
            if (raw) memcpy(&d, raw + 8 * k, 8);
            else d = tp->double_data[k];
            f[k] = (float)d;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16:
        case ONNX__TENSOR_PROTO__DATA_TYPE__BFLOAT16: {
            uint16_t h;
            if (raw) memcpy(&h, raw + 2 * k, 2);
            else h = (uint16_t)tp->int32_data[k];
            f[k] = dt == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16 ? half_to_float(h)
                                                               : bf16_to_float(h);
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT64:
            if (raw) memcpy(&iv[k], raw + 8 * k, 8);
            else iv[k] = tp->int64_data[k];
            break;
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT64: {
            uint64_t u;
            if (raw) memcpy(&u, raw + 8 * k, 8);
            else u = tp->uint64_data[k];
            iv[k] = u > INT64_MAX ? INT64_MAX : (int64_t)u;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT32: {
            uint32_t u;
            if (raw) memcpy(&u, raw + 4 * k, 4);
            else u = (uint32_t)tp->uint64_data[k];
            iv[k] = u;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT32: {
            int32_t v;
            if (raw) memcpy(&v, raw + 4 * k, 4);
            else v = tp->int32_data[k];
            iv[k] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT16: {
            int16_t v;
            if (raw) memcpy(&v, raw + 2 * k, 2);
            else v = (int16_t)tp->int32_data[k];
            iv[k] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__UINT16: {
            uint16_t v;
            if (raw) memcpy(&v, raw + 2 * k, 2);
            else v = (uint16_t)tp->int32_data[k];
            iv[k] = v;
            break;
        }
        case ONNX__TENSOR_PROTO__DATA_TYPE__INT8:
            iv[k] = raw ? (int8_t)raw[k] : (int8_t)tp->int32_data[k];
            break;
        default: /* UINT8, BOOL */
            iv[k] = raw ? raw[k] : (uint8_t)tp->int32_data[k];
            break;
        }
    }
    t->dtype = isf ? IT_F32 : IT_I64;
    t->is_const = 1;
    t->known = 1;
    t->shape.ndim = (int)tp->n_dims;
    for (size_t i = 0; i < tp->n_dims; i++) t->shape.d[i] = tp->dims[i];
    t->data = data;
    return SNN_OK;
}

/* ---- model --------------------------------------------------------------- */

static int default_domain(const char *d)
{
    return !d || !*d || strcmp(d, "ai.onnx") == 0;
}

/* Shape of a declared graph input. first: symbolic dim 0 becomes 1. */
static snn_err input_shape(const Onnx__ValueInfoProto *vi, int first,
                           int64_t max_elems, itensor *t, snn_error *err)
{
    const char *nm = vi->name;
    const Onnx__TypeProto *tp = vi->type;
    if (!tp || tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !tp->tensor_type) {
        if (!first) return SNN_OK;      /* typed by its binding */
        return snn_error_set(err, SNN_EUNSUPPORTED,
                             "graph input '%s' is not a tensor", nm);
    }
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    int dt = tt->has_elem_type ? tt->elem_type : 0;
    if (first && dt != ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT)
        return snn_error_set(err, SNN_EUNSUPPORTED,
                             "graph input '%s' has data type %s (want float)",
                             nm, dtype_name(dt));
    if (!tt->shape) {
        if (first)
            return snn_error_set(err, SNN_EUNSUPPORTED,
                                 "graph input '%s' has no shape", nm);
        return SNN_OK;
    }
    if (tt->shape->n_dim > SNN_MAX_DIMS)
        return snn_error_set(err, SNN_EUNSUPPORTED, "graph input '%s' has %zu dims",
                             nm, tt->shape->n_dim);
    int64_t n = 1;
    t->shape.ndim = (int)tt->shape->n_dim;
    for (size_t i = 0; i < tt->shape->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
        int64_t v;
        if (d && d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            v = d->dim_value;
            if (v < 0)
                return FMT_ERR("graph input '%s': negative dim %lld", nm,
                               (long long)v);
        } else if (i == 0) {
            v = 1;          /* the batch, symbolic or absent */
        } else {
            if (!first) return SNN_OK;  /* shape comes from the binding */
            return snn_error_set(err, SNN_EUNSUPPORTED,
                                 "graph input '%s': dim %zu is symbolic", nm, i);
        }
        if (v > 0 && n > max_elems / v)
            return snn_error_set(err, SNN_ELIMIT, "graph input '%s' is too large",
                                 nm);
        n *= v;
        t->shape.d[i] = v;
    }
    t->known = 1;
    return SNN_OK;
}

static snn_err load_graph(snn_graph *g, const Onnx__GraphProto *gp, snn_error *err)
{
    struct snn_graph_import *imp = g->imp;
    snn_err rc;

    if ((int64_t)gp->n_node > imp->lim.max_nodes)
        return snn_error_set(err, SNN_ELIMIT, "graph has %zu nodes (limit %d)",
                             gp->n_node, imp->lim.max_nodes);
    if (gp->n_sparse_initializer)
        return snn_error_set(err, SNN_EUNSUPPORTED, "sparse initializers");
    /* initializers */
    for (size_t i = 0; i < gp->n_initializer; i++) {
        const Onnx__TensorProto *tp = gp->initializer[i];
        if (!tp->name || !*tp->name) return FMT_ERR("initializer %zu has no name", i);
        if (graph_imp_find(g, tp->name) >= 0)
            return FMT_ERR("initializer '%s' defined twice", tp->name);
        int t = graph_imp_add(g, tp->name, err);
        if (t < 0) return err ? err->code : SNN_ENOMEM;
        rc = graph_tensor_decode(tp, imp->lim.max_tensor_elems, &imp->t[t], err);
        if (rc) return rc;
    }
    /* declared inputs that are not initializers */
    imp->inputs = calloc(gp->n_input + 1, sizeof *imp->inputs);
    if (!imp->inputs) return snn_error_set(err, SNN_ENOMEM, "inputs");
    for (size_t i = 0; i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *vi = gp->input[i];
        if (!vi->name || !*vi->name) return FMT_ERR("graph input %zu has no name", i);
        int t = graph_imp_find(g, vi->name);
        if (t >= 0) {
            if (imp->t[t].is_const) continue;   /* initializer listed as input */
            return FMT_ERR("graph input '%s' declared twice", vi->name);
        }
        t = graph_imp_add(g, vi->name, err);
        if (t < 0) return err ? err->code : SNN_ENOMEM;
        rc = input_shape(vi, imp->ninputs == 0, imp->lim.max_tensor_elems,
                         &imp->t[t], err);
        if (rc) return rc;
        imp->inputs[imp->ninputs++] = t;
    }
    if (imp->ninputs == 0)
        return snn_error_set(err, SNN_EUNSUPPORTED, "graph has no run-time input");
    /* nodes: register every output first (ONNX lists nodes sorted, but an
     * untrusted file may not), then resolve inputs */
    imp->nodes = calloc(gp->n_node + 1, sizeof *imp->nodes);
    if (!imp->nodes) return snn_error_set(err, SNN_ENOMEM, "nodes");
    int *producer = NULL;
    for (size_t i = 0; i < gp->n_node; i++) {
        const Onnx__NodeProto *np = gp->node[i];
        inode *nd = &imp->nodes[i];
        imp->nnodes++;
        nd->p = np;
        nd->op = np->op_type ? np->op_type : "";
        if (np->name && *np->name) {
            nd->name = np->name;
        } else {
            size_t l = strlen(nd->op) + 24;
            nd->owned_name = malloc(l);
            if (!nd->owned_name) return snn_error_set(err, SNN_ENOMEM, "node name");
            snprintf(nd->owned_name, l, "%s_%zu", nd->op, i);
            nd->name = nd->owned_name;
        }
        if (!*nd->op) return FMT_ERR("node '%s' has no op_type", nd->name);
        if (np->n_output == 0) return FMT_ERR("node '%s' has no output", nd->name);
        if (np->n_input > 64 || np->n_output > 64)
            return FMT_ERR("node '%s' has too many inputs or outputs", nd->name);
        nd->nin = (int)np->n_input;
        nd->nout = (int)np->n_output;
        nd->in = calloc(np->n_input + 1, sizeof *nd->in);
        nd->out = calloc(np->n_output + 1, sizeof *nd->out);
        if (!nd->in || !nd->out) return snn_error_set(err, SNN_ENOMEM, "node");
        for (size_t k = 0; k < np->n_output; k++) {
            const char *o = np->output[k];
            nd->out[k] = -1;
            if (!o || !*o) continue;
            if (graph_imp_find(g, o) >= 0)
                return FMT_ERR("tensor '%s' (output of node '%s') is defined twice",
                               o, nd->name);
            int t = graph_imp_add(g, o, err);
            if (t < 0) return err ? err->code : SNN_ENOMEM;
            nd->out[k] = t;
        }
    }
    producer = malloc((size_t)(g->ntensors + 1) * sizeof *producer);
    if (!producer) return snn_error_set(err, SNN_ENOMEM, "nodes");
    for (int t = 0; t < g->ntensors; t++) producer[t] = -1;
    for (int i = 0; i < imp->nnodes; i++)
        for (int k = 0; k < imp->nodes[i].nout; k++)
            if (imp->nodes[i].out[k] >= 0) producer[imp->nodes[i].out[k]] = i;
    rc = SNN_OK;
    for (int i = 0; i < imp->nnodes && !rc; i++) {
        inode *nd = &imp->nodes[i];
        for (int k = 0; k < nd->nin; k++) {
            const char *s = nd->p->input[k];
            nd->in[k] = -1;
            if (!s || !*s) continue;
            int t = graph_imp_find(g, s);
            if (t < 0) {
                rc = FMT_ERR("unknown tensor '%s' at node '%s'", s, nd->name);
                break;
            }
            nd->in[k] = t;
        }
    }
    /* Kahn's topological sort; a cycle leaves nodes unsorted */
    int *indeg = NULL, *head = NULL, *next = NULL, *edges = NULL;
    if (!rc) {
        int ne = 0;
        for (int i = 0; i < imp->nnodes; i++) ne += imp->nodes[i].nin;
        indeg = calloc((size_t)imp->nnodes + 1, sizeof *indeg);
        head = malloc(((size_t)imp->nnodes + 1) * sizeof *head);
        next = malloc(((size_t)ne + 1) * sizeof *next);
        edges = malloc(((size_t)ne + 1) * sizeof *edges);
        imp->order = malloc(((size_t)imp->nnodes + 1) * sizeof *imp->order);
        if (!indeg || !head || !next || !edges || !imp->order) {
            rc = snn_error_set(err, SNN_ENOMEM, "topological sort");
        } else {
            int e = 0;
            for (int i = 0; i < imp->nnodes; i++) head[i] = -1;
            for (int i = 0; i < imp->nnodes; i++)
                for (int k = 0; k < imp->nodes[i].nin; k++) {
                    int t = imp->nodes[i].in[k];
                    int p = t >= 0 ? producer[t] : -1;
                    if (p < 0) continue;
                    edges[e] = i;          /* edge p -> i */
                    next[e] = head[p];
                    head[p] = e++;
                    indeg[i]++;
                }
            int qh = 0, qt = 0;
            for (int i = 0; i < imp->nnodes; i++)
                if (!indeg[i]) imp->order[qt++] = i;
            while (qh < qt) {
                int p = imp->order[qh++];
                for (int x = head[p]; x >= 0; x = next[x])
                    if (--indeg[edges[x]] == 0) imp->order[qt++] = edges[x];
            }
            if (qt != imp->nnodes) {
                int bad = 0;
                while (bad < imp->nnodes && !indeg[bad]) bad++;
                rc = FMT_ERR("graph has a cycle: node '%s' depends on its own "
                             "output", imp->nodes[bad < imp->nnodes ? bad : 0].name);
            }
        }
    }
    free(indeg);
    free(head);
    free(next);
    free(edges);
    free(producer);
    if (rc) return rc;
    /* outputs */
    if (gp->n_output == 0) return FMT_ERR("graph has no output");
    imp->outputs = calloc(gp->n_output, sizeof *imp->outputs);
    if (!imp->outputs) return snn_error_set(err, SNN_ENOMEM, "outputs");
    for (size_t i = 0; i < gp->n_output; i++) {
        const char *o = gp->output[i]->name;
        int t = o ? graph_imp_find(g, o) : -1;
        if (t < 0) return FMT_ERR("graph output '%s' is not produced", o ? o : "");
        imp->outputs[imp->noutputs++] = t;
    }
    return SNN_OK;
}

static snn_err load_model(snn_graph *g, const void *buf, size_t len,
                          snn_error *err)
{
    struct snn_graph_import *imp = g->imp;
    Onnx__ModelProto *m =
        onnx__model_proto__unpack(NULL, len, (const uint8_t *)buf);
    if (!m) return FMT_ERR("not an ONNX model (protobuf parse failed)");
    imp->model = m;
    if (!m->graph) return FMT_ERR("ONNX model has no graph");
    g->opset = 0;
    for (size_t i = 0; i < m->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *o = m->opset_import[i];
        if (default_domain(o->domain) && o->has_version) g->opset = o->version;
    }
    if (g->opset == 0 && m->n_opset_import == 0) g->opset = 1; /* IR v2 */
    if (g->opset < 1 || g->opset > 21)
        return snn_error_set(err, SNN_EUNSUPPORTED, "ONNX opset %lld",
                             (long long)g->opset);
    size_t pl = strlen(m->producer_name ? m->producer_name : "") +
                strlen(m->producer_version ? m->producer_version : "") + 2;
    g->producer = malloc(pl);
    if (!g->producer) return snn_error_set(err, SNN_ENOMEM, "producer");
    snprintf(g->producer, pl, "%s%s%s", m->producer_name ? m->producer_name : "",
             m->producer_version && *m->producer_version ? " " : "",
             m->producer_version ? m->producer_version : "");
    snn_err rc = load_graph(g, m->graph, err);
    if (rc) return rc;
    g->input = imp->inputs[0];
    g->output = imp->outputs[0];
    g->nunbound = imp->ninputs - 1;
    if (g->nunbound) {
        g->unbound = malloc((size_t)g->nunbound * sizeof *g->unbound);
        if (!g->unbound) return snn_error_set(err, SNN_ENOMEM, "unbound");
        memcpy(g->unbound, imp->inputs + 1, (size_t)g->nunbound * sizeof *g->unbound);
    }
    return SNN_OK;
}

snn_graph *snn_graph_load_onnx_mem(const void *buf, size_t len,
                                   const snn_import_limits *lim, snn_error *err)
{
    snn_graph *g;
    snn_err rc;

    snn_error_clear(err);
    if (!buf && len) {
        snn_error_set(err, SNN_EINVALID, "NULL buffer");
        return NULL;
    }
    g = calloc(1, sizeof *g);
    if (!g || !(g->imp = calloc(1, sizeof *g->imp))) {
        free(g);
        snn_error_set(err, SNN_ENOMEM, "graph");
        return NULL;
    }
    struct snn_graph_import *imp = g->imp;
    if (lim) imp->lim = *lim;
    if (!imp->lim.max_file_bytes) imp->lim.max_file_bytes = GRAPH_DEF_MAX_FILE_BYTES;
    if (!imp->lim.max_tensor_elems) imp->lim.max_tensor_elems = GRAPH_DEF_MAX_ELEMS;
    if (!imp->lim.max_nodes) imp->lim.max_nodes = GRAPH_DEF_MAX_NODES;
    g->input = g->output = -1;
    if (len > imp->lim.max_file_bytes) {
        rc = snn_error_set(err, SNN_ETOOLARGE, "model of %zu bytes (limit %zu)",
                           len, imp->lim.max_file_bytes);
    } else {
        rc = load_model(g, buf, len, err);
    }
    if (!rc && g->nunbound == 0) rc = snn_graph_finalize(g, err);
    if (rc) {
        snn_graph_free(g);
        return NULL;
    }
    return g;
}

snn_graph *snn_graph_load_onnx(const char *path, const snn_import_limits *lim,
                               snn_error *err)
{
    size_t maxb = lim && lim->max_file_bytes ? lim->max_file_bytes
                                             : GRAPH_DEF_MAX_FILE_BYTES;
    FILE *f = fopen(path, "rb");
    struct stat st;

    snn_error_clear(err);
    if (!f) {
        snn_error_set(err, errno == ENOENT ? SNN_ENOTFOUND : SNN_EIO, "%s: %s",
                      path, strerror(errno));
        return NULL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        snn_error_set(err, SNN_EIO, "%s: not a regular file", path);
        fclose(f);
        return NULL;
    }
    if ((uint64_t)st.st_size > maxb) {
        snn_error_set(err, SNN_ETOOLARGE, "%s: %lld bytes (limit %zu)", path,
                      (long long)st.st_size, maxb);
        fclose(f);
        return NULL;
    }
    size_t len = (size_t)st.st_size;
    unsigned char *buf = malloc(len ? len : 1);
    if (!buf) {
        snn_error_set(err, SNN_ENOMEM, "%s: %zu bytes", path, len);
        fclose(f);
        return NULL;
    }
    size_t got = fread(buf, 1, len, f);
    fclose(f);
    if (got != len) {
        snn_error_set(err, SNN_EIO, "%s: short read", path);
        free(buf);
        return NULL;
    }
    snn_graph *g = snn_graph_load_onnx_mem(buf, len, lim, err);
    free(buf);
    if (!g && err) {
        char tmp[sizeof err->msg];
        snprintf(tmp, sizeof tmp, "%s", err->msg);
        snprintf(err->msg, sizeof err->msg, "%s: %s", path, tmp);
    }
    return g;
}

snn_err snn_graph_bind_const(snn_graph *g, const char *name, int ndim,
                             const int64_t *dims, const float *data,
                             snn_error *err)
{
    if (!g || !name || ndim < 0 || ndim > SNN_MAX_DIMS || (ndim && !dims))
        return snn_error_set(err, SNN_EINVALID, "bind_const: bad arguments");
    if (g->finalized || !g->imp || g->imp->failed)
        return snn_error_set(err, SNN_EINVALID, "bind_const: graph is finalized");
    int k = 0;
    while (k < g->nunbound && strcmp(g->tensors[g->unbound[k]].name, name)) k++;
    if (k == g->nunbound)
        return snn_error_set(err, SNN_ENOTFOUND, "'%s' is not an unbound input",
                             name);
    itensor *t = &g->imp->t[g->unbound[k]];
    int64_t n = 1, max = g->imp->lim.max_tensor_elems;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || (dims[i] && n > max / dims[i]))
            return snn_error_set(err, SNN_ELIMIT, "bind_const '%s': bad dims", name);
        n *= dims[i];
    }
    if (n && !data) return snn_error_set(err, SNN_EINVALID, "bind_const: no data");
    float *copy = malloc((size_t)(n ? n : 1) * sizeof *copy);
    if (!copy) return snn_error_set(err, SNN_ENOMEM, "bind_const '%s'", name);
    if (n) memcpy(copy, data, (size_t)n * sizeof *copy);
    free(t->data);
    t->data = copy;
    t->dtype = IT_F32;
    t->is_const = 1;
    t->known = 1;
    t->shape.ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape.d[i] = dims[i];
    g->unbound[k] = g->unbound[--g->nunbound];
    return SNN_OK;
}
