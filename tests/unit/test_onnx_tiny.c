/* test_onnx_tiny.c: the committed fixtures tests/data/tiny (torch-style
 * NCHW, shape arithmetic before the Reshape) and tests/data/tiny-nhwc
 * (tf2onnx-style NHWC with Transposes and MatMul+Add) import to the
 * expected op sequence, run with any batch, keep their ReLUs active and
 * give distinct class probabilities; the BLAS run matches a node-by-node
 * run on the scalar reference kernels. */
#include <stdlib.h>
#include <string.h>

#include "../../src/graph/graph_internal.h"
#include "snn/graph.h"
#include "test.h"

/* A deterministic 8x8 image in [0,1], different per `k`. */
static void image(int k, float *x)
{
    for (int i = 0; i < 64; i++) {
        int r = i / 8, c = i % 8;
        x[i] = (float)(((r * (k + 1) + c * (3 + k)) % 17)) / 16.0f;
    }
}

typedef struct relu_stats {
    int relu_nodes, active_nodes;
    int64_t pos, total;
} relu_stats;

static void count_relu(void *ud, const snn_graph *g, int node, const float *d,
                       int64_t n)
{
    relu_stats *s = ud;
    if (g->nodes[node].op != SNN_OP_RELU) return;
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) pos += d[i] > 0;
    s->relu_nodes++;
    s->active_nodes += pos > 0 && pos < n;
    s->pos += pos;
    s->total += n;
}

/* Node-by-node run with the scalar reference kernels (batch 1). */
static int run_reference(const snn_graph *g, const float *in, float *out)
{
    gshape *s = malloc((size_t)g->ntensors * sizeof *s);
    float **buf = calloc((size_t)g->ntensors, sizeof *buf);
    snn_error err;
    int rc = graph_infer_all(g, 1, s, &err);
    for (int t = 0; t < g->ntensors; t++) buf[t] = g->tensors[t].data;
    buf[g->input] = (float *)in;
    for (int i = 0; i < g->nnodes && !rc; i++) {
        const snn_node *n = &g->nodes[i];
        const gshape *ins[SNN_NODE_MAX_IN] = {0};
        const float *xs[SNN_NODE_MAX_IN] = {0};
        for (int k = 0; k < n->nin; k++)
            if (n->in[k] >= 0) {
                ins[k] = &s[n->in[k]];
                xs[k] = buf[n->in[k]];
            }
        buf[n->out] = malloc((size_t)gshape_elems(&s[n->out]) * sizeof(float));
        float *scratch = malloc((graph_node_scratch(n, ins, &s[n->out]) + 1) *
                                sizeof(float));
        graph_node_exec(n, ins, xs, &s[n->out], buf[n->out], scratch, 1);
        free(scratch);
    }
    if (!rc) memcpy(out, buf[g->output], 3 * sizeof(float));
    for (int i = 0; i < g->nnodes; i++) free(buf[g->nodes[i].out]);
    free(buf);
    free(s);
    return rc;
}

static void check_fixture(const char *dir, const snn_op *ops, int nops,
                          const char *first_name)
{
    char path[256];
    snn_error err;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    snn_graph *g = snn_graph_load_onnx(test_path(path), NULL, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nnodes, nops);
    for (int i = 0; i < nops; i++)
        CHECK_MSG(g->nodes[i].op == ops[i], "node %d is %s, want %s", i,
                  snn_op_name(g->nodes[i].op), snn_op_name(ops[i]));
    CHECK(strcmp(g->nodes[0].name, first_name) == 0);
    CHECK_EQ_INT(g->tensors[g->input].ndim, 4);
    CHECK_EQ_INT(snn_tensor_item_elems(&g->tensors[g->input]), 64);
    CHECK_EQ_INT(g->tensors[g->output].dims[1], 3);

    int nd;
    int64_t d[SNN_MAX_DIMS];
    snn_graph_tensor_shape(g, g->output, 7, &nd, d);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(d[0], 7);
    CHECK_EQ_INT(d[1], 3);

    /* three images, one batch; each must equal its own batch-1 run */
    float x[3 * 64], y[3 * 3], y1[3], yr[3];
    for (int k = 0; k < 3; k++) image(k, x + 64 * k);
    relu_stats st = {0};
    CHECK_OK(snn_graph_run(g, x, 3, y, count_relu, &st, &err));
    CHECK_EQ_INT(st.relu_nodes, 3);
    CHECK_EQ_INT(st.active_nodes, 3);           /* neither dead nor saturated */
    CHECK(st.pos * 5 > st.total);               /* > 20% of units fire */
    for (int k = 0; k < 3; k++) {
        CHECK_OK(snn_graph_run(g, x + 64 * k, 1, y1, NULL, NULL, &err));
        double sum = 0;
        for (int c = 0; c < 3; c++) {
            CHECK_NEAR(y1[c], y[3 * k + c], 1e-6);
            sum += y1[c];
        }
        CHECK_NEAR(sum, 1.0, 1e-5);
        /* distinct class probabilities */
        CHECK(fabsf(y1[0] - y1[1]) > 1e-3f);
        CHECK(fabsf(y1[0] - y1[2]) > 1e-3f);
        CHECK(fabsf(y1[1] - y1[2]) > 1e-3f);
        CHECK_OK(run_reference(g, x + 64 * k, yr));
        for (int c = 0; c < 3; c++) CHECK_NEAR(yr[c], y1[c], 1e-5);
    }
    /* different images, different outputs */
    CHECK(fabsf(y[0] - y[3]) + fabsf(y[1] - y[4]) > 1e-4f);
    snn_graph_free(g);
}

TEST(onnx_tiny_nchw_fixture)
{
    static const snn_op ops[] = {SNN_OP_CONV, SNN_OP_RELU, SNN_OP_AVGPOOL,
                                 SNN_OP_CONV, SNN_OP_RELU, SNN_OP_AVGPOOL,
                                 SNN_OP_RESHAPE, SNN_OP_GEMM, SNN_OP_RELU,
                                 SNN_OP_GEMM, SNN_OP_SOFTMAX};
    check_fixture("tiny", ops, 11, "/conv1/Conv");
    if (test_failed()) return;
    snn_error err;
    snn_graph *g = snn_graph_load_onnx(test_path("tiny/model.onnx"), NULL, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK(strncmp(g->producer, "pytorch", 7) == 0);
    CHECK(strcmp(g->nodes[7].name, "/fc1/Gemm") == 0);
    CHECK_EQ_INT(g->nodes[6].a.reshape.shape[0], 0);   /* batch follows */
    CHECK_EQ_INT(g->tensors[g->input].dims[1], 1);
    CHECK_EQ_INT(g->tensors[g->input].dims[2], 8);
    snn_graph_free(g);
}

TEST(onnx_tiny_nhwc_fixture)
{
    static const snn_op ops[] = {SNN_OP_TRANSPOSE, SNN_OP_CONV, SNN_OP_RELU,
                                 SNN_OP_MAXPOOL, SNN_OP_CONV, SNN_OP_RELU,
                                 SNN_OP_AVGPOOL, SNN_OP_TRANSPOSE,
                                 SNN_OP_RESHAPE, SNN_OP_GEMM, SNN_OP_RELU,
                                 SNN_OP_GEMM, SNN_OP_SOFTMAX};
    check_fixture("tiny-nhwc", ops, 13, "sequential/conv2d/BiasAdd__6");
    if (test_failed()) return;
    snn_error err;
    snn_graph *g = snn_graph_load_onnx(test_path("tiny-nhwc/model.onnx"), NULL, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->tensors[g->input].dims[3], 1);       /* NHWC */
    CHECK_EQ_INT(g->nodes[1].a.conv.pads[0], 1);         /* SAME_UPPER resolved */
    CHECK_EQ_INT(g->nodes[1].a.conv.pads[3], 1);
    CHECK_EQ_INT(g->nodes[9].nin, 3);                    /* MatMul+Add fused */
    snn_graph_free(g);
}
