/* onnx_import.c: parse an untrusted ONNX ModelProto into the import state
 * of an snn_graph (tensors by name, nodes in topological order), bind
 * extra graph inputs as constants, and list a model's declared inputs and
 * outputs without importing it (snn_onnx_io_load). TensorProto decoding is
 * onnx_tensor.c.
 *
 * DESIGN: this file only reads the protobuf and checks its structure:
 * sizes, data types, names, references and cycles. Lowering the ONNX ops to
 * the snn_op set (constant folding of shape arithmetic, aliasing, fusion,
 * shape inference) is graph_fold() in graph_fold.c, run by
 * snn_graph_finalize(). The unpacked ModelProto stays alive until then,
 * because the nodes keep pointing at their attributes.
 */
#include "../graph/graph_internal.h"

#include <errno.h>
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
                             nm, snn_onnx_dtype_name(dt));
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

snn_import_limits graph_limits(const snn_import_limits *lim)
{
    snn_import_limits l = {0};
    if (lim) l = *lim;
    if (!l.max_file_bytes) l.max_file_bytes = GRAPH_DEF_MAX_FILE_BYTES;
    if (!l.max_tensor_elems) l.max_tensor_elems = GRAPH_DEF_MAX_ELEMS;
    if (!l.max_nodes) l.max_nodes = GRAPH_DEF_MAX_NODES;
    return l;
}

snn_err graph_mem_begin(const void *buf, size_t len, const snn_import_limits *lim,
                        const char *what, snn_import_limits *l, snn_error *err)
{
    snn_error_clear(err);
    *l = graph_limits(lim);
    if (!buf && len) return snn_error_set(err, SNN_EINVALID, "NULL buffer");
    if (len > l->max_file_bytes)
        return snn_error_set(err, SNN_ETOOLARGE, "%s of %zu bytes (limit %zu)",
                             what, len, l->max_file_bytes);
    return SNN_OK;
}

snn_graph *snn_graph_load_onnx_mem(const void *buf, size_t len,
                                   const snn_import_limits *lim, snn_error *err)
{
    snn_import_limits l;
    snn_graph *g;
    snn_err rc;

    if (graph_mem_begin(buf, len, lim, "model", &l, err)) return NULL;
    g = calloc(1, sizeof *g);
    if (!g || !(g->imp = calloc(1, sizeof *g->imp))) {
        free(g);
        snn_error_set(err, SNN_ENOMEM, "graph");
        return NULL;
    }
    g->imp->lim = l;
    g->input = g->output = -1;
    rc = load_model(g, buf, len, err);
    if (!rc && g->nunbound == 0) rc = snn_graph_finalize(g, err);
    if (rc) {
        snn_graph_free(g);
        return NULL;
    }
    return g;
}

void *graph_load_file(const char *path, const snn_import_limits *lim,
                      graph_mem_loader load, snn_error *err)
{
    size_t maxb = graph_limits(lim).max_file_bytes;
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
    void *obj = load(buf, len, lim, err);
    free(buf);
    if (!obj && err) {
        char tmp[sizeof err->msg];
        snprintf(tmp, sizeof tmp, "%s", err->msg);
        snprintf(err->msg, sizeof err->msg, "%s: %s", path, tmp);
    }
    return obj;
}

static void *graph_load_mem(const void *buf, size_t len,
                            const snn_import_limits *lim, snn_error *err)
{
    return snn_graph_load_onnx_mem(buf, len, lim, err);
}

snn_graph *snn_graph_load_onnx(const char *path, const snn_import_limits *lim,
                               snn_error *err)
{
    return graph_load_file(path, lim, graph_load_mem, err);
}

/* ---- declared inputs and outputs, without importing ------------------------ */

static snn_onnx_kind value_kind(const Onnx__TypeProto *tp)
{
    if (!tp) return SNN_ONNX_KIND_UNTYPED;
    switch (tp->value_case) {
    case ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE: return SNN_ONNX_KIND_TENSOR;
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: return SNN_ONNX_KIND_SPARSE_TENSOR;
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: return SNN_ONNX_KIND_SEQUENCE;
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: return SNN_ONNX_KIND_MAP;
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: return SNN_ONNX_KIND_OPTIONAL;
    default: return SNN_ONNX_KIND_OTHER;
    }
}

/* Copy n ValueInfoProtos into a new array *out; 0 or SNN_ENOMEM. */
static snn_err io_values(Onnx__ValueInfoProto *const *vi, size_t n,
                         snn_onnx_value **out, snn_error *err)
{
    snn_onnx_value *v = calloc(n + 1, sizeof *v);
    *out = v;
    if (!v) return snn_error_set(err, SNN_ENOMEM, "graph inputs/outputs");
    for (size_t i = 0; i < n; i++) {
        const Onnx__TypeProto *tp = vi[i]->type;
        v[i].kind = value_kind(tp);
        if (v[i].kind == SNN_ONNX_KIND_TENSOR && tp->tensor_type &&
            tp->tensor_type->has_elem_type)
            v[i].elem_type = (snn_onnx_dtype)tp->tensor_type->elem_type;
        if (v[i].kind == SNN_ONNX_KIND_SPARSE_TENSOR && tp->sparse_tensor_type &&
            tp->sparse_tensor_type->has_elem_type)
            v[i].elem_type = (snn_onnx_dtype)tp->sparse_tensor_type->elem_type;
        v[i].name = strdup(vi[i]->name ? vi[i]->name : "");
        if (!v[i].name) return snn_error_set(err, SNN_ENOMEM, "graph input/output name");
    }
    return SNN_OK;
}

snn_onnx_io *snn_onnx_io_load_mem(const void *buf, size_t len,
                                  const snn_import_limits *lim, snn_error *err)
{
    snn_import_limits l;

    if (graph_mem_begin(buf, len, lim, "model", &l, err)) return NULL;
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, len, (const uint8_t *)buf);
    if (!m) {
        FMT_ERR("not an ONNX model (protobuf parse failed)");
        return NULL;
    }
    if (!m->graph) {
        onnx__model_proto__free_unpacked(m, NULL);
        FMT_ERR("ONNX model has no graph");
        return NULL;
    }
    const Onnx__GraphProto *gp = m->graph;
    snn_onnx_io *io = calloc(1, sizeof *io);
    snn_err rc;
    if (!io) {
        rc = snn_error_set(err, SNN_ENOMEM, "model inputs/outputs");
    } else if (gp->n_input > INT32_MAX || gp->n_output > INT32_MAX) {
        rc = snn_error_set(err, SNN_ELIMIT, "too many graph inputs or outputs");
    } else {
        io->ninputs = (int)gp->n_input;
        io->noutputs = (int)gp->n_output;
        rc = io_values(gp->input, gp->n_input, &io->inputs, err);
        if (!rc) rc = io_values(gp->output, gp->n_output, &io->outputs, err);
    }
    onnx__model_proto__free_unpacked(m, NULL);
    if (rc) {
        snn_onnx_io_free(io);
        return NULL;
    }
    return io;
}

static void *io_load_mem(const void *buf, size_t len, const snn_import_limits *lim,
                         snn_error *err)
{
    return snn_onnx_io_load_mem(buf, len, lim, err);
}

snn_onnx_io *snn_onnx_io_load(const char *path, const snn_import_limits *lim,
                              snn_error *err)
{
    return graph_load_file(path, lim, io_load_mem, err);
}

void snn_onnx_io_free(snn_onnx_io *io)
{
    if (!io) return;
    for (int i = 0; io->inputs && i < io->ninputs; i++) free(io->inputs[i].name);
    for (int i = 0; io->outputs && i < io->noutputs; i++) free(io->outputs[i].name);
    free(io->inputs);
    free(io->outputs);
    free(io);
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
