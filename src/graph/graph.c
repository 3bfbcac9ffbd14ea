/* graph.c: lifecycle and shape queries of snn_graph: op names, finalize,
 * free, element counts, shapes at a given batch.
 *
 * The ONNX parser is onnx_import.c, the lowering to snn ops graph_fold.c,
 * the kernels graph_kernels.c and the evaluator graph_run.c.
 */
#include "graph_internal.h"

#include <stdlib.h>
#include <string.h>

static const char *const op_names[SNN_OP_COUNT_] = {
    [SNN_OP_CONV] = "Conv",
    [SNN_OP_GEMM] = "Gemm",
    [SNN_OP_MATMUL] = "MatMul",
    [SNN_OP_ADD] = "Add",
    [SNN_OP_MUL] = "Mul",
    [SNN_OP_RELU] = "Relu",
    [SNN_OP_CLIP] = "Clip",
    [SNN_OP_AVGPOOL] = "AveragePool",
    [SNN_OP_MAXPOOL] = "MaxPool",
    [SNN_OP_GLOBALAVGPOOL] = "GlobalAveragePool",
    [SNN_OP_FLATTEN] = "Flatten",
    [SNN_OP_RESHAPE] = "Reshape",
    [SNN_OP_TRANSPOSE] = "Transpose",
    [SNN_OP_BATCHNORM] = "BatchNormalization",
    [SNN_OP_SOFTMAX] = "Softmax",
    [SNN_OP_PAD] = "Pad",
    [SNN_OP_CONCAT] = "Concat",
};

const char *snn_op_name(snn_op op)
{
    if ((unsigned)op >= SNN_OP_COUNT_) return "?";
    return op_names[op];
}

snn_err snn_graph_finalize(snn_graph *g, snn_error *err)
{
    if (!g) return snn_error_set(err, SNN_EINVALID, "finalize: NULL graph");
    if (g->finalized) return SNN_OK;
    if (!g->imp) return snn_error_set(err, SNN_EINVALID, "finalize: no import state");
    if (g->imp->failed)
        return snn_error_set(err, SNN_EINVALID, "finalize: an earlier finalize "
                             "failed; load the model again");
    if (g->nunbound)      /* nothing touched yet: binding may go on */
        return snn_error_set(err, SNN_EINVALID, "graph input '%s' is not bound",
                             g->tensors[g->unbound[0]].name);
    snn_err rc = graph_fold(g, err);
    if (rc) {
        g->imp->failed = 1;
        return rc;
    }
    graph_imp_free(g->imp, 0);       /* tensor data moved into g->tensors */
    g->imp = NULL;
    free(g->unbound);
    g->unbound = NULL;
    g->nunbound = 0;
    g->finalized = 1;
    /* check once that the graph runs at its imported batch */
    gshape *s = malloc(((size_t)g->ntensors + 1) * sizeof *s);
    if (!s) return snn_error_set(err, SNN_ENOMEM, "shapes");
    int64_t b = g->tensors[g->input].ndim ? g->tensors[g->input].dims[0] : 1;
    rc = graph_infer_all(g, b, s, err);
    free(s);
    if (rc) g->finalized = 0;
    return rc;
}

void snn_graph_free(snn_graph *g)
{
    if (!g) return;
    if (g->imp) {
        /* before finalize (or after a failed one) the tensor data lives in imp */
        graph_imp_free(g->imp, g->ntensors);
        g->imp = NULL;
    }
    for (int i = 0; i < g->ntensors; i++) {
        free(g->tensors[i].name);
        free(g->tensors[i].data);
    }
    for (int i = 0; i < g->nnodes; i++) free(g->nodes[i].name);
    free(g->tensors);
    free(g->nodes);
    free(g->producer);
    free(g->unbound);
    free(g);
}

int64_t snn_tensor_elems(const snn_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->dims[i];
    return n;
}

int64_t snn_tensor_item_elems(const snn_tensor *t)
{
    int64_t n = 1;
    for (int i = 1; i < t->ndim; i++) n *= t->dims[i];
    return n;
}

/* Per tensor at run time: every BLAS dimension then fits in an int. */
#define RUN_MAX_ELEMS ((int64_t)INT32_MAX)

snn_err graph_infer_all(const snn_graph *g, int64_t batch, gshape *shapes,
                        snn_error *err)
{
    if (batch < 1 || batch > RUN_MAX_ELEMS)
        return snn_error_set(err, SNN_EINVALID, "batch %lld", (long long)batch);
    for (int t = 0; t < g->ntensors; t++) {
        shapes[t].ndim = g->tensors[t].ndim;
        memcpy(shapes[t].d, g->tensors[t].dims, sizeof shapes[t].d);
    }
    gshape *in = &shapes[g->input];
    if (in->ndim == 0) {
        if (batch != 1)
            return snn_error_set(err, SNN_ESHAPE, "scalar input with batch %lld",
                                 (long long)batch);
    } else {
        int64_t item = snn_tensor_item_elems(&g->tensors[g->input]);
        if (item && batch > RUN_MAX_ELEMS / item)
            return snn_error_set(err, SNN_ELIMIT, "batch %lld too large",
                                 (long long)batch);
        in->d[0] = batch;
    }
    for (int i = 0; i < g->nnodes; i++) {
        const snn_node *n = &g->nodes[i];
        const gshape *ins[SNN_NODE_MAX_IN] = {0};
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0) ins[k] = &shapes[n->in[k]];
        snn_err rc = graph_node_infer(n, ins, &shapes[n->out], RUN_MAX_ELEMS, err);
        if (rc) return rc;
    }
    return SNN_OK;
}

void snn_graph_tensor_shape(const snn_graph *g, int t, int64_t batch, int *ndim,
                            int64_t dims[SNN_MAX_DIMS])
{
    *ndim = -1;
    if (!g || !g->finalized || t < 0 || t >= g->ntensors) return;
    const snn_tensor *x = &g->tensors[t];
    int64_t b0 = g->tensors[g->input].ndim ? g->tensors[g->input].dims[0] : 1;
    if (batch == b0 || x->data) {
        *ndim = x->ndim;
        memcpy(dims, x->dims, sizeof x->dims[0] * SNN_MAX_DIMS);
        return;
    }
    gshape *s = malloc(((size_t)g->ntensors + 1) * sizeof *s);
    if (!s) return;
    if (graph_infer_all(g, batch, s, NULL) == SNN_OK) {
        *ndim = s[t].ndim;
        memcpy(dims, s[t].d, sizeof s[t].d);
    }
    free(s);
}
