/* test_onnx_ops.c: every supported ONNX op, imported from a model built
 * with onnx_builder and run through snn_graph_run(), against values
 * computed by hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_builder.h"
#include "snn/graph.h"
#include "test.h"

static snn_graph *build(ob_model *m, snn_error *err)
{
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    snn_graph *g = snn_graph_load_onnx_mem(buf, len, NULL, err);
    free(buf);
    ob_free(m);
    return g;
}

/* One-node model: input x of shape xd, output y. */
static ob_model *one(int64_t opset, const char *op, const char *ins, int nd,
                     const int64_t *xd, Onnx__NodeProto **node)
{
    ob_model *m = ob_new(opset, "test");
    ob_input(m, "x", OB_FLOAT, nd, xd);
    *node = ob_node(m, op, "n0", ins, "y");
    ob_output(m, "y", -1, NULL);
    return m;
}

static int run(const snn_graph *g, const float *in, int64_t batch, float *out)
{
    snn_error err;
    snn_err rc = snn_graph_run(g, in, batch, out, NULL, NULL, &err);
    if (rc) printf("  run: %s\n", err.msg);
    return rc;
}

#define CHECK_VEC(got, want, n, tol)                                     \
    do {                                                                 \
        for (int i_ = 0; i_ < (n); i_++) CHECK_NEAR((got)[i_], (want)[i_], tol); \
    } while (0)

static const float x9[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

TEST(onnx_op_conv_bias)
{
    Onnx__NodeProto *n;
    ob_model *m = one(13, "Conv", "x,w,b", 4, (int64_t[]){1, 1, 3, 3}, &n);
    ob_init_f(m, "w", 4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 0, 0, 1});
    ob_init_f(m, "b", 1, (int64_t[]){1}, (float[]){0.5f});
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    float y[4];
    CHECK_OK(run(g, x9, 1, y));
    CHECK_VEC(y, ((float[]){6.5f, 8.5f, 12.5f, 14.5f}), 4, 1e-6);
    int nd;
    int64_t d[SNN_MAX_DIMS];
    snn_graph_tensor_shape(g, g->output, 1, &nd, d);
    CHECK_EQ_INT(nd, 4);
    CHECK_EQ_INT(d[2], 2);
    snn_graph_free(g);
}

TEST(onnx_op_conv_pads_strides)
{
    Onnx__NodeProto *n;
    ob_model *m = one(11, "Conv", "x,w,b", 4, (int64_t[]){1, 1, 3, 3}, &n);
    ob_init_f(m, "w", 4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 0, 0, 1});
    ob_init_f(m, "b", 1, (int64_t[]){1}, (float[]){0.5f});
    ob_attr_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    ob_attr_ints(n, "strides", 2, (int64_t[]){2, 2});
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    float y[4];
    CHECK_OK(run(g, x9, 1, y));
    CHECK_VEC(y, ((float[]){1.5f, 3.5f, 7.5f, 14.5f}), 4, 1e-6);
    snn_graph_free(g);
}

TEST(onnx_op_conv_same_upper_and_dilation)
{
    Onnx__NodeProto *n;
    ob_model *m = one(13, "Conv", "x,w", 4, (int64_t[]){1, 1, 3, 3}, &n);
    ob_init_f(m, "w", 4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 1, 1, 1});
    ob_attr_s(n, "auto_pad", "SAME_UPPER");
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nodes[0].a.conv.pads[0], 0);
    CHECK_EQ_INT(g->nodes[0].a.conv.pads[2], 1);
    float y[9];
    CHECK_OK(run(g, x9, 1, y));
    /* windows [i..i+1][j..j+1], zero beyond the bottom/right edge */
    CHECK_VEC(y, ((float[]){12, 16, 9, 24, 28, 15, 15, 17, 9}), 9, 1e-6);
    snn_graph_free(g);

    m = one(13, "Conv", "x,w", 4, (int64_t[]){1, 1, 3, 3}, &n);
    ob_init_f(m, "w", 4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 1, 1, 1});
    ob_attr_ints(n, "dilations", 2, (int64_t[]){2, 2});
    g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, x9, 1, y));
    CHECK_NEAR(y[0], 1 + 3 + 7 + 9, 1e-6);
    snn_graph_free(g);
}

TEST(onnx_op_conv_group)
{
    Onnx__NodeProto *n;
    ob_model *m = one(13, "Conv", "x,w", 4, (int64_t[]){1, 2, 1, 2}, &n);
    ob_init_f(m, "w", 4, (int64_t[]){2, 1, 1, 1}, (float[]){2, 3});
    ob_attr_i(n, "group", 2);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    float y[4];
    CHECK_OK(run(g, (float[]){1, 2, 3, 4}, 1, y));
    CHECK_VEC(y, ((float[]){2, 4, 9, 12}), 4, 1e-6);
    snn_graph_free(g);
}

TEST(onnx_op_gemm_attrs)
{
    Onnx__NodeProto *n;
    ob_model *m = one(13, "Gemm", "x,w,c", 2, (int64_t[]){-1, 3}, &n);
    /* B stored transposed: [[1,0,1],[0,1,1]] */
    ob_init_f(m, "w", 2, (int64_t[]){2, 3}, (float[]){1, 0, 1, 0, 1, 1});
    ob_init_f(m, "c", 1, (int64_t[]){2}, (float[]){0.5f, -1});
    ob_attr_i(n, "transB", 1);
    ob_attr_f(n, "alpha", 2.0f);
    ob_attr_f(n, "beta", 1.0f);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    float y[4];
    /* A.B = [4,5;10,11]; 2*A.B + c */
    CHECK_OK(run(g, (float[]){1, 2, 3, 4, 5, 6}, 2, y));
    CHECK_VEC(y, ((float[]){8.5f, 9, 20.5f, 21}), 4, 1e-5);
    snn_graph_free(g);
}

TEST(onnx_op_matmul_add_fuses_to_gemm)
{
    ob_model *m = ob_new(13, "tf2onnx");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){-1, 3});
    ob_init_f(m, "w", 2, (int64_t[]){3, 2}, (float[]){1, 0, 0, 1, 1, 1});
    ob_init_f(m, "b", 1, (int64_t[]){2}, (float[]){0.5f, -1});
    ob_node(m, "MatMul", "mm", "x,w", "t");
    ob_node(m, "Add", "add", "t,b", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nnodes, 1);
    CHECK_EQ_INT(g->nodes[0].op, SNN_OP_GEMM);
    float y[4];
    CHECK_OK(run(g, (float[]){1, 2, 3, 4, 5, 6}, 2, y));
    CHECK_VEC(y, ((float[]){4.5f, 4, 10.5f, 10}), 4, 1e-5);
    snn_graph_free(g);
}

TEST(onnx_op_matmul_3d)
{
    Onnx__NodeProto *n;
    ob_model *m = one(13, "MatMul", "x,w", 3, (int64_t[]){-1, 2, 2}, &n);
    ob_init_f(m, "w", 2, (int64_t[]){2, 1}, (float[]){1, 10});
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nodes[0].op, SNN_OP_MATMUL);
    float y[4];
    CHECK_OK(run(g, (float[]){1, 2, 3, 4, 5, 6, 7, 8}, 2, y));
    CHECK_VEC(y, ((float[]){21, 43, 65, 87}), 4, 1e-5);
    snn_graph_free(g);
}

TEST(onnx_op_add_mul_broadcast)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 3, (int64_t[]){-1, 2, 3});
    ob_init_f(m, "c", 1, (int64_t[]){3}, (float[]){10, 20, 30});
    ob_init_f(m, "s", 2, (int64_t[]){2, 1}, (float[]){1, -1});
    ob_node(m, "Add", "a", "x,c", "t");
    ob_node(m, "Mul", "m", "t,s", "u");
    ob_node(m, "Add", "a2", "u,x", "y");     /* run-time + run-time */
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    float y[6];
    CHECK_OK(run(g, (float[]){1, 2, 3, 4, 5, 6}, 1, y));
    /* row 0: (x+c)*1 + x, row 1: -(x+c) + x = -c */
    CHECK_VEC(y, ((float[]){12, 24, 36, -10, -20, -30}), 6, 1e-5);
    snn_graph_free(g);
}

TEST(onnx_op_sub_div_by_constant)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){-1, 2});
    ob_init_f(m, "one", 0, NULL, (float[]){1});
    ob_init_f(m, "two", 1, (int64_t[]){2}, (float[]){2, 4});
    ob_node(m, "Sub", "s", "x,one", "t");
    ob_node(m, "Div", "d", "t,two", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nodes[0].op, SNN_OP_ADD);
    CHECK_EQ_INT(g->nodes[1].op, SNN_OP_MUL);
    float y[2];
    CHECK_OK(run(g, (float[]){5, 9}, 1, y));
    CHECK_VEC(y, ((float[]){2, 2}), 2, 1e-6);
    snn_graph_free(g);
}

TEST(onnx_op_relu_clip)
{
    const float in[5] = {-2, -0.5f, 0, 0.5f, 8};
    Onnx__NodeProto *n;
    snn_error err;
    float y[5];
    ob_model *m = one(13, "Relu", "x", 2, (int64_t[]){1, 5}, &n);
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, in, 1, y));
    CHECK_VEC(y, ((float[]){0, 0, 0, 0.5f, 8}), 5, 0);
    snn_graph_free(g);

    m = one(6, "Clip", "x", 2, (int64_t[]){1, 5}, &n);      /* attributes */
    ob_attr_f(n, "min", -1);
    ob_attr_f(n, "max", 6);
    g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, in, 1, y));
    CHECK_VEC(y, ((float[]){-1, -0.5f, 0, 0.5f, 6}), 5, 0);
    snn_graph_free(g);

    m = one(13, "Clip", "x,,hi", 2, (int64_t[]){1, 5}, &n);  /* inputs, no min */
    ob_init_f(m, "hi", 0, NULL, (float[]){0.25f});
    g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, in, 1, y));
    CHECK_VEC(y, ((float[]){-2, -0.5f, 0, 0.25f, 0.25f}), 5, 0);
    snn_graph_free(g);
}

TEST(onnx_op_avgpool)
{
    float x16[16];
    for (int i = 0; i < 16; i++) x16[i] = (float)(i + 1);
    Onnx__NodeProto *n;
    snn_error err;
    float y[9];
    ob_model *m = one(13, "AveragePool", "x", 4, (int64_t[]){-1, 1, 4, 4}, &n);
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    ob_attr_ints(n, "strides", 2, (int64_t[]){2, 2});
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, x16, 1, y));
    CHECK_VEC(y, ((float[]){3.5f, 5.5f, 11.5f, 13.5f}), 4, 1e-6);
    snn_graph_free(g);

    /* pads 1, k 2, s 1 on [1,2;3,4]: corners see one value */
    for (int incl = 0; incl < 2; incl++) {
        m = one(13, "AveragePool", "x", 4, (int64_t[]){1, 1, 2, 2}, &n);
        ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
        ob_attr_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
        ob_attr_i(n, "count_include_pad", incl);
        g = build(m, &err);
        CHECK_MSG(g, "%s", err.msg);
        CHECK_OK(run(g, (float[]){1, 2, 3, 4}, 1, y));
        CHECK_NEAR(y[0], incl ? 0.25 : 1.0, 1e-6);
        CHECK_NEAR(y[1], incl ? 0.75 : 1.5, 1e-6);
        CHECK_NEAR(y[4], 2.5, 1e-6);
        CHECK_NEAR(y[8], incl ? 1.0 : 4.0, 1e-6);
        snn_graph_free(g);
    }

    /* ceil_mode: 3x3, k2 s2 -> 2x2 with partial windows */
    m = one(13, "AveragePool", "x", 4, (int64_t[]){1, 1, 3, 3}, &n);
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    ob_attr_ints(n, "strides", 2, (int64_t[]){2, 2});
    ob_attr_i(n, "ceil_mode", 1);
    g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, x9, 1, y));
    CHECK_VEC(y, ((float[]){3, 4.5f, 7.5f, 9}), 4, 1e-6);
    snn_graph_free(g);
}

TEST(onnx_op_maxpool)
{
    float x16[16];
    for (int i = 0; i < 16; i++) x16[i] = (float)(i + 1);
    Onnx__NodeProto *n;
    snn_error err;
    float y[9];
    ob_model *m = one(13, "MaxPool", "x", 4, (int64_t[]){-1, 1, 4, 4}, &n);
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    ob_attr_ints(n, "strides", 2, (int64_t[]){2, 2});
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, x16, 1, y));
    CHECK_VEC(y, ((float[]){6, 8, 14, 16}), 4, 0);
    snn_graph_free(g);

    /* padding never wins, even against negative values */
    m = one(13, "MaxPool", "x", 4, (int64_t[]){1, 1, 2, 2}, &n);
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    ob_attr_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, (float[]){-1, -2, -3, -4}, 1, y));
    CHECK_VEC(y, ((float[]){-1, -1, -2, -1, -1, -2, -3, -3, -4}), 9, 0);
    snn_graph_free(g);
}

TEST(onnx_op_global_avgpool_flatten)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 4, (int64_t[]){-1, 2, 2, 2});
    ob_node(m, "GlobalAveragePool", "gap", "x", "t");
    ob_node(m, "Flatten", "fl", "t", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    float y[4];
    CHECK_OK(run(g, (float[]){1, 2, 3, 4, 10, 20, 30, 40, 0, 0, 0, 4, 1, 1, 1, 1}, 2, y));
    CHECK_VEC(y, ((float[]){2.5f, 25, 1, 1}), 4, 1e-6);
    int nd;
    int64_t d[SNN_MAX_DIMS];
    snn_graph_tensor_shape(g, g->output, 2, &nd, d);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(d[0], 2);
    CHECK_EQ_INT(d[1], 2);
    snn_graph_free(g);
}

TEST(onnx_op_transpose)
{
    Onnx__NodeProto *n;
    ob_model *m = one(13, "Transpose", "x", 4, (int64_t[]){-1, 2, 2, 3}, &n);
    ob_attr_ints(n, "perm", 4, (int64_t[]){0, 3, 1, 2});
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    float x[12], y[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i;       /* x[h][w][c] = (h*2+w)*3+c */
    CHECK_OK(run(g, x, 1, y));
    /* y[c][h][w] */
    CHECK_VEC(y, ((float[]){0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11}), 12, 0);
    snn_graph_free(g);
}

TEST(onnx_op_batchnorm_standalone)
{
    Onnx__NodeProto *n;
    ob_model *m = one(9, "BatchNormalization", "x,s,b,mu,var", 4,
                      (int64_t[]){-1, 2, 1, 2}, &n);
    ob_init_f(m, "s", 1, (int64_t[]){2}, (float[]){1, 2});
    ob_init_f(m, "b", 1, (int64_t[]){2}, (float[]){0, 1});
    ob_init_f(m, "mu", 1, (int64_t[]){2}, (float[]){1, 0});
    ob_init_f(m, "var", 1, (int64_t[]){2}, (float[]){3, 0});
    ob_attr_f(n, "epsilon", 1.0f);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nodes[0].op, SNN_OP_BATCHNORM);
    float y[4];
    CHECK_OK(run(g, (float[]){3, 5, 1, 2}, 1, y));
    /* ch0: (x-1)/2; ch1: x*2 + 1 */
    CHECK_VEC(y, ((float[]){1, 2, 3, 5}), 4, 1e-6);
    snn_graph_free(g);
}

TEST(onnx_op_batchnorm_folds_into_conv)
{
    ob_model *m = ob_new(13, "pytorch");
    ob_input(m, "x", OB_FLOAT, 4, (int64_t[]){-1, 1, 3, 3});
    ob_init_f(m, "w", 4, (int64_t[]){2, 1, 2, 2}, (float[]){1, 0, 0, 1, 1, 1, 1, 1});
    ob_init_f(m, "cb", 1, (int64_t[]){2}, (float[]){0.5f, 0});
    ob_init_f(m, "s", 1, (int64_t[]){2}, (float[]){1, 2});
    ob_init_f(m, "b", 1, (int64_t[]){2}, (float[]){0, 1});
    ob_init_f(m, "mu", 1, (int64_t[]){2}, (float[]){1, 0});
    ob_init_f(m, "var", 1, (int64_t[]){2}, (float[]){3, 0});
    ob_node(m, "Conv", "/conv/Conv", "x,w,cb", "c");
    Onnx__NodeProto *bn = ob_node(m, "BatchNormalization", "/bn/Bn", "c,s,b,mu,var", "y");
    ob_attr_f(bn, "epsilon", 1.0f);
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nnodes, 1);
    CHECK_EQ_INT(g->nodes[0].op, SNN_OP_CONV);
    float y[8];
    CHECK_OK(run(g, x9, 1, y));
    /* conv ch0 = 6.5 8.5 12.5 14.5 -> (v-1)/2; ch1 = 12 16 24 28 -> 2v+1 */
    CHECK_VEC(y, ((float[]){2.75f, 3.75f, 5.75f, 6.75f, 25, 33, 49, 57}), 8, 1e-5);
    snn_graph_free(g);
}

TEST(onnx_op_softmax_opsets)
{
    Onnx__NodeProto *n;
    snn_error err;
    float y[4];
    ob_model *m = one(13, "Softmax", "x", 2, (int64_t[]){-1, 3}, &n);
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, (float[]){1, 2, 3}, 1, y));
    CHECK_VEC(y, ((float[]){0.09003057f, 0.24472847f, 0.66524096f}), 3, 1e-6);
    snn_graph_free(g);

    /* opset 11, axis 1 of [1,2,2]: one softmax over all four values */
    m = one(11, "Softmax", "x", 3, (int64_t[]){1, 2, 2}, &n);
    g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nodes[0].a.axis.coerce2d, 1);
    CHECK_OK(run(g, (float[]){0, 0, 0, 0}, 1, y));
    CHECK_VEC(y, ((float[]){0.25f, 0.25f, 0.25f, 0.25f}), 4, 1e-6);
    snn_graph_free(g);

    /* opset 13, axis 1 of [1,2,2]: pairs along axis 1 */
    m = one(13, "Softmax", "x", 3, (int64_t[]){1, 2, 2}, &n);
    ob_attr_i(n, "axis", 1);
    g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, (float[]){0, 0, 0, 0}, 1, y));
    CHECK_VEC(y, ((float[]){0.5f, 0.5f, 0.5f, 0.5f}), 4, 1e-6);
    snn_graph_free(g);
}

TEST(onnx_op_pad)
{
    Onnx__NodeProto *n;
    snn_error err;
    float y[16];
    ob_model *m = one(11, "Pad", "x,p,v", 4, (int64_t[]){-1, 1, 2, 2}, &n);
    ob_init_i64(m, "p", 1, (int64_t[]){8}, (int64_t[]){0, 0, 1, 0, 0, 0, 0, 1});
    ob_init_f(m, "v", 0, NULL, (float[]){9});
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, (float[]){1, 2, 3, 4}, 1, y));
    /* one row on top, one column on the right */
    CHECK_VEC(y, ((float[]){9, 9, 9, 1, 2, 9, 3, 4, 9}), 9, 0);
    snn_graph_free(g);

    m = one(2, "Pad", "x", 4, (int64_t[]){1, 1, 2, 2}, &n);   /* attribute */
    ob_attr_ints(n, "pads", 8, (int64_t[]){0, 0, 0, 1, 0, 0, 0, 0});
    g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, (float[]){1, 2, 3, 4}, 1, y));
    CHECK_VEC(y, ((float[]){0, 1, 2, 0, 3, 4}), 6, 0);
    snn_graph_free(g);

    m = one(11, "Pad", "x,p", 4, (int64_t[]){1, 1, 2, 2}, &n);
    ob_init_i64(m, "p", 1, (int64_t[]){8}, (int64_t[]){0, 0, 1, 0, 0, 0, 0, 1});
    ob_attr_s(n, "mode", "reflect");
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);
}

TEST(onnx_op_identity_dropout_alias)
{
    ob_model *m = ob_new(11, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){-1, 2});
    ob_node(m, "Identity", "id", "x", "a");
    ob_node(m, "Dropout", "drop", "a", "b,mask");
    ob_node(m, "Relu", "relu", "b", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nnodes, 1);
    CHECK_EQ_INT(g->nodes[0].op, SNN_OP_RELU);
    CHECK_EQ_INT(g->nodes[0].in[0], g->input);
    CHECK(strcmp(g->nodes[0].name, "relu") == 0);
    float y[2];
    CHECK_OK(run(g, (float[]){-1, 3}, 1, y));
    CHECK_VEC(y, ((float[]){0, 3}), 2, 0);
    snn_graph_free(g);
}

/* torch's x.view(x.size(0), -1): Shape -> Gather -> Unsqueeze -> Concat ->
 * Reshape, folded at import with batch 1 but valid for any batch. */
TEST(onnx_op_reshape_shape_folding_any_batch)
{
    ob_model *m = ob_new(13, "pytorch");
    ob_input(m, "x", OB_FLOAT, 4, (int64_t[]){-1, 2, 1, 2});
    ob_init_i64(m, "zero", 0, NULL, (int64_t[]){0});
    ob_init_i64(m, "ax0", 1, (int64_t[]){1}, (int64_t[]){0});
    ob_node(m, "Shape", "/Shape", "x", "s");
    Onnx__NodeProto *ga = ob_node(m, "Gather", "/Gather", "s,zero", "n");
    ob_attr_i(ga, "axis", 0);
    ob_node(m, "Unsqueeze", "/Unsqueeze", "n,ax0", "n1");
    Onnx__NodeProto *c = ob_node(m, "Constant", "/Constant", "", "m1");
    ob_attr_t(c, "value", ob_tensor_i64("", 1, (int64_t[]){1}, (int64_t[]){-1}));
    Onnx__NodeProto *cat = ob_node(m, "Concat", "/Concat", "n1,m1", "shape");
    ob_attr_i(cat, "axis", 0);
    ob_node(m, "Reshape", "/Reshape", "x,shape", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nnodes, 1);
    CHECK_EQ_INT(g->nodes[0].op, SNN_OP_RESHAPE);
    CHECK_EQ_INT(g->nodes[0].a.reshape.shape[0], 0);    /* follows the batch */
    CHECK_EQ_INT(g->nodes[0].a.reshape.shape[1], -1);
    CHECK_EQ_INT(g->ntensors, 2);                        /* shape math is gone */
    int nd;
    int64_t d[SNN_MAX_DIMS];
    snn_graph_tensor_shape(g, g->output, 3, &nd, d);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(d[0], 3);
    CHECK_EQ_INT(d[1], 4);
    float y[12], x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i;
    CHECK_OK(run(g, x, 3, y));
    CHECK_VEC(y, x, 12, 0);
    snn_graph_free(g);
}

/* A Reshape target that is a literal [1, 4] (batch 1 at export). */
TEST(onnx_op_reshape_literal_batch_rewritten)
{
    Onnx__NodeProto *n;
    ob_model *m = one(13, "Reshape", "x,s", 3, (int64_t[]){1, 2, 2}, &n);
    ob_init_i64(m, "s", 1, (int64_t[]){2}, (int64_t[]){1, 4});
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nodes[0].a.reshape.shape[0], 0);
    int nd;
    int64_t d[SNN_MAX_DIMS];
    snn_graph_tensor_shape(g, g->output, 5, &nd, d);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(d[0], 5);
    CHECK_EQ_INT(d[1], 4);
    snn_graph_free(g);
}

TEST(onnx_op_squeeze_unsqueeze_runtime)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 4, (int64_t[]){-1, 3, 1, 1});
    ob_init_i64(m, "axes", 1, (int64_t[]){2}, (int64_t[]){2, 3});
    ob_init_i64(m, "ax1", 1, (int64_t[]){1}, (int64_t[]){1});
    ob_node(m, "Squeeze", "sq", "x,axes", "t");
    ob_node(m, "Unsqueeze", "unsq", "t,ax1", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    int nd;
    int64_t d[SNN_MAX_DIMS];
    snn_graph_tensor_shape(g, g->output, 2, &nd, d);
    CHECK_EQ_INT(nd, 3);
    CHECK_EQ_INT(d[0], 2);
    CHECK_EQ_INT(d[1], 1);
    CHECK_EQ_INT(d[2], 3);
    snn_graph_free(g);
}

TEST(onnx_op_constant_folding_of_float_ops)
{
    /* Transpose of a constant weight and Cast/Slice of shapes fold away */
    ob_model *m = ob_new(13, "tf2onnx");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){-1, 2});
    ob_init_f(m, "wt", 2, (int64_t[]){2, 2}, (float[]){1, 2, 3, 4});
    Onnx__NodeProto *t = ob_node(m, "Transpose", "wT", "wt", "w");
    ob_attr_ints(t, "perm", 2, (int64_t[]){1, 0});
    ob_node(m, "MatMul", "mm", "x,w", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nnodes, 1);
    float y[2];
    CHECK_OK(run(g, (float[]){1, 1}, 1, y));
    /* w = [[1,3],[2,4]]; [1,1].w = [3, 7] */
    CHECK_VEC(y, ((float[]){3, 7}), 2, 1e-6);
    snn_graph_free(g);
}

static int cb_calls;
static double cb_sum;
static void act_cb(void *ud, const snn_graph *g, int node, const float *d, int64_t n)
{
    (void)g;
    (void)node;
    cb_calls++;
    for (int64_t i = 0; i < n; i++) cb_sum += d[i];
    *(int *)ud += 1;
}

TEST(onnx_run_activation_callback_and_errors)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){-1, 2});
    ob_node(m, "Relu", "r", "x", "t");
    ob_node(m, "Softmax", "s", "t", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    int count = 0;
    float y[2];
    cb_calls = 0;
    cb_sum = 0;
    CHECK_OK(snn_graph_run(g, (float[]){-1, 2}, 1, y, act_cb, &count, &err));
    CHECK_EQ_INT(count, 2);
    CHECK_EQ_INT(cb_calls, 2);
    CHECK_NEAR(cb_sum, 2 + 1, 1e-6);          /* relu [0,2] + softmax sums to 1 */
    CHECK_EQ_INT(snn_graph_run(g, (float[]){1, 2}, 0, y, NULL, NULL, &err),
                 SNN_EINVALID);
    CHECK_EQ_INT(snn_graph_run(g, NULL, 1, y, NULL, NULL, &err), SNN_EINVALID);
    snn_graph_free(g);
    snn_graph_free(NULL);
    CHECK(strcmp(snn_op_name(SNN_OP_AVGPOOL), "AveragePool") == 0);
    CHECK(strcmp(snn_op_name(SNN_OP_GLOBALAVGPOOL), "GlobalAveragePool") == 0);
}

TEST(onnx_op_conv1d_and_pool1d_lifted_to_2d)
{
    Onnx__NodeProto *n;
    snn_error err;
    float y[6];
    ob_model *m = one(13, "Conv", "x,w", 3, (int64_t[]){-1, 1, 5}, &n);
    ob_init_f(m, "w", 3, (int64_t[]){1, 1, 2}, (float[]){1, 2});
    ob_attr_ints(n, "pads", 2, (int64_t[]){1, 0});
    ob_attr_ints(n, "strides", 1, (int64_t[]){2});
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    /* Reshape [N,1,5]->[N,1,1,5], 2-D Conv, Reshape back */
    CHECK_EQ_INT(g->nnodes, 3);
    CHECK_EQ_INT(g->nodes[1].op, SNN_OP_CONV);
    CHECK_EQ_INT(g->nodes[1].a.conv.kernel[0], 1);
    CHECK_EQ_INT(g->nodes[1].a.conv.pads[1], 1);
    CHECK_EQ_INT(g->nodes[1].a.conv.strides[1], 2);
    CHECK_OK(run(g, (float[]){1, 2, 3, 4, 5, 5, 4, 3, 2, 1}, 2, y));
    /* windows (pad,1) (2,3) (4,5) with weights (1,2) */
    CHECK_VEC(y, ((float[]){2, 8, 14, 10, 10, 4}), 6, 1e-6);
    int nd;
    int64_t d[SNN_MAX_DIMS];
    snn_graph_tensor_shape(g, g->output, 2, &nd, d);
    CHECK_EQ_INT(nd, 3);
    CHECK_EQ_INT(d[0], 2);
    CHECK_EQ_INT(d[2], 3);
    snn_graph_free(g);

    m = one(13, "MaxPool", "x", 3, (int64_t[]){1, 1, 5}, &n);
    ob_attr_ints(n, "kernel_shape", 1, (int64_t[]){2});
    ob_attr_ints(n, "strides", 1, (int64_t[]){2});
    ob_attr_i(n, "ceil_mode", 1);
    g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(run(g, (float[]){1, 5, 2, 4, 3}, 1, y));
    CHECK_VEC(y, ((float[]){5, 4, 3}), 3, 0);
    snn_graph_free(g);

    /* 3-D convolution stays out of scope */
    m = one(13, "Conv", "x,w", 5, (int64_t[]){1, 1, 2, 2, 2}, &n);
    ob_init_f(m, "w", 5, (int64_t[]){1, 1, 1, 1, 1}, (float[]){1});
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);
}

/* Older torch exports (opset 9/11): Slice, Cast, integer Mul and attribute
 * axes in the shape arithmetic of x.view(x.size(0), x.size(1)*x.size(2)*x.size(3)). */
TEST(onnx_op_shape_arithmetic_slice_cast_mul)
{
    ob_model *m = ob_new(11, "pytorch");
    ob_input(m, "x", OB_FLOAT, 4, (int64_t[]){-1, 2, 3, 2});
    ob_init_i64(m, "st", 1, (int64_t[]){1}, (int64_t[]){0});
    ob_init_i64(m, "en", 1, (int64_t[]){1}, (int64_t[]){1});
    ob_init_i64(m, "st1", 1, (int64_t[]){1}, (int64_t[]){1});
    ob_init_i64(m, "en1", 1, (int64_t[]){1}, (int64_t[]){INT64_MAX});
    ob_node(m, "Shape", "sh", "x", "s");
    ob_node(m, "Slice", "batch", "s,st,en", "n");            /* [N] */
    ob_node(m, "Slice", "rest", "s,st1,en1", "chw");         /* [C,H,W] */
    Onnx__NodeProto *c = ob_node(m, "Constant", "k1", "", "i1");
    ob_attr_t(c, "value", ob_tensor_i64("", 0, NULL, (int64_t[]){1}));
    Onnx__NodeProto *g1 = ob_node(m, "Gather", "g1", "chw,i1", "h");
    ob_attr_i(g1, "axis", 0);
    c = ob_node(m, "Constant", "k0", "", "i0");
    ob_attr_t(c, "value", ob_tensor_i64("", 0, NULL, (int64_t[]){0}));
    ob_node(m, "Gather", "g0", "chw,i0", "ch");
    c = ob_node(m, "Constant", "k2", "", "i2");
    ob_attr_t(c, "value", ob_tensor_i64("", 0, NULL, (int64_t[]){2}));
    ob_node(m, "Gather", "g2", "chw,i2", "w");
    ob_node(m, "Mul", "m1", "ch,h", "chh");
    ob_node(m, "Mul", "m2", "chh,w", "k");
    Onnx__NodeProto *u = ob_node(m, "Unsqueeze", "u", "k", "k1d");
    ob_attr_ints(u, "axes", 1, (int64_t[]){0});              /* opset < 13 */
    Onnx__NodeProto *cast = ob_node(m, "Cast", "cast", "k1d", "k1dl");
    ob_attr_i(cast, "to", OB_INT64);
    Onnx__NodeProto *cat = ob_node(m, "Concat", "cat", "n,k1dl", "shape");
    ob_attr_i(cat, "axis", 0);
    ob_node(m, "Reshape", "r", "x,shape", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nnodes, 1);
    CHECK_EQ_INT(g->nodes[0].a.reshape.ndim, 2);
    CHECK_EQ_INT(g->nodes[0].a.reshape.shape[0], 0);
    CHECK_EQ_INT(g->nodes[0].a.reshape.shape[1], 12);
    int nd;
    int64_t d[SNN_MAX_DIMS];
    snn_graph_tensor_shape(g, g->output, 4, &nd, d);
    CHECK_EQ_INT(d[0], 4);
    CHECK_EQ_INT(d[1], 12);
    snn_graph_free(g);
}

TEST(onnx_op_batchnorm_not_folded_when_conv_shared)
{
    ob_model *m = ob_new(13, "pytorch");
    ob_input(m, "x", OB_FLOAT, 4, (int64_t[]){-1, 1, 2, 2});
    ob_init_f(m, "w", 4, (int64_t[]){1, 1, 1, 1}, (float[]){2});
    ob_init_f(m, "s", 1, (int64_t[]){1}, (float[]){1});
    ob_init_f(m, "b", 1, (int64_t[]){1}, (float[]){1});
    ob_init_f(m, "mu", 1, (int64_t[]){1}, (float[]){0});
    ob_init_f(m, "var", 1, (int64_t[]){1}, (float[]){1});
    ob_node(m, "Conv", "conv", "x,w", "c");
    Onnx__NodeProto *bn = ob_node(m, "BatchNormalization", "bn", "c,s,b,mu,var", "t");
    ob_attr_f(bn, "epsilon", 0.0f);
    ob_node(m, "Add", "res", "t,c", "y");      /* the Conv output is used twice */
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_EQ_INT(g->nnodes, 3);
    CHECK_EQ_INT(g->nodes[1].op, SNN_OP_BATCHNORM);
    float y[4];
    CHECK_OK(run(g, (float[]){1, 2, 3, 4}, 1, y));
    /* c = 2x; bn = c + 1; y = 4x + 1 */
    CHECK_VEC(y, ((float[]){5, 9, 13, 17}), 4, 1e-6);
    snn_graph_free(g);
}
