/* test_onnx_import.c: the ONNX importer against hostile and malformed
 * models (truncated bytes, oversized dims, raw_data size mismatches,
 * cycles, unknown ops and tensors, limits), data type conversion, and the
 * bind/finalize path the conformance runner uses. */
#include <stdlib.h>
#include <string.h>

#include "onnx_builder.h"
#include "snn/graph.h"
#include "test.h"

static snn_graph *build_lim(ob_model *m, const snn_import_limits *lim,
                            snn_error *err)
{
    size_t len;
    uint8_t *buf = ob_pack(m, &len);
    snn_graph *g = snn_graph_load_onnx_mem(buf, len, lim, err);
    free(buf);
    ob_free(m);
    return g;
}

static snn_graph *build(ob_model *m, snn_error *err) { return build_lim(m, NULL, err); }

/* x [N,1,3,3] -> Conv(w 1x1x2x2) -> Relu -> y */
static ob_model *small_model(void)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 4, (int64_t[]){-1, 1, 3, 3});
    ob_init_f(m, "w", 4, (int64_t[]){1, 1, 2, 2}, (float[]){1, 0, 0, 1});
    ob_node(m, "Conv", "conv", "x,w", "c");
    ob_node(m, "Relu", "relu", "c", "y");
    ob_output(m, "y", -1, NULL);
    return m;
}

TEST(onnx_import_small_model_ok)
{
    snn_error err;
    snn_graph *g = build(small_model(), &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK(g->finalized);
    CHECK_EQ_INT(g->nnodes, 2);
    CHECK_EQ_INT(g->opset, 13);
    CHECK(strcmp(g->producer, "test 1") == 0);
    CHECK(strcmp(g->tensors[g->input].name, "x") == 0);
    CHECK(strcmp(g->tensors[g->output].name, "y") == 0);
    CHECK_EQ_INT(g->tensors[g->input].dims[0], 1);       /* symbolic batch */
    CHECK_EQ_INT(snn_tensor_item_elems(&g->tensors[g->output]), 4);
    CHECK_EQ_INT(snn_tensor_elems(&g->tensors[g->nodes[0].in[1]]), 4);
    snn_graph_free(g);
}

TEST(onnx_import_truncated_and_garbage)
{
    size_t len;
    ob_model *m = small_model();
    uint8_t *buf = ob_pack(m, &len);
    ob_free(m);
    snn_error err;
    /* no prefix may crash; the half and the last-byte-cut ones must fail */
    for (size_t l = 0; l < len; l++) {
        snn_graph *g = snn_graph_load_onnx_mem(buf, l, NULL, &err);
        if (g) snn_graph_free(g);
        else CHECK(err.code != SNN_OK);
    }
    snn_graph *g = snn_graph_load_onnx_mem(buf, len / 2, NULL, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    g = snn_graph_load_onnx_mem(buf, len - 1, NULL, &err);
    CHECK(!g);
    /* flipped bytes: never a crash */
    unsigned seed = 12345;
    for (int trial = 0; trial < 300; trial++) {
        uint8_t *c = malloc(len);
        memcpy(c, buf, len);
        for (int k = 0; k < 4; k++) {
            seed = seed * 1103515245u + 12345u;
            c[(seed >> 8) % len] ^= (uint8_t)(1u << ((seed >> 4) & 7));
        }
        g = snn_graph_load_onnx_mem(c, len, NULL, &err);
        snn_graph_free(g);
        free(c);
    }
    free(buf);
    const char junk[] = "\x0a\xff\xff\xff\xff\x0f garbage";
    g = snn_graph_load_onnx_mem(junk, sizeof junk, NULL, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
}

TEST(onnx_import_oversized_and_negative_dims)
{
    snn_error err;
    ob_model *m = small_model();
    Onnx__TensorProto *t = m->g->initializer[0];
    t->dims[0] = INT64_C(1) << 40;
    t->dims[1] = INT64_C(1) << 40;
    snn_graph *g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_ELIMIT);

    m = small_model();
    m->g->initializer[0]->dims[2] = -2;
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    CHECK(strstr(err.msg, "negative") != NULL);

    /* the graph input too */
    m = small_model();
    m->g->input[0]->type->tensor_type->shape->dim[2]->dim_value = INT64_C(1) << 62;
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_ELIMIT);

    /* a per-tensor limit below the weight size */
    snn_import_limits lim = {0, 3, 0};
    g = build_lim(small_model(), &lim, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_ELIMIT);
}

TEST(onnx_import_raw_data_size_mismatch)
{
    snn_error err;
    ob_model *m = small_model();
    m->g->initializer[0]->raw_data.len -= 2;       /* truncated raw_data */
    snn_graph *g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    CHECK(strstr(err.msg, "raw_data") != NULL);

    m = small_model();
    Onnx__TensorProto *t = ob_init(m, ob_tensor_f("extra", 1, (int64_t[]){3},
                                                  (float[]){1, 2, 3}, 0));
    t->n_float_data = 2;                             /* typed field too short */
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
}

TEST(onnx_import_cycle_refused)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){1, 2});
    ob_node(m, "Add", "a", "x,t2", "t1");
    ob_node(m, "Relu", "b", "t1", "t2");
    ob_node(m, "Relu", "c", "t2", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "cycle") != NULL, "%s", err.msg);

    /* a node reading its own output */
    m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){1, 2});
    ob_node(m, "Add", "self", "x,y", "y");
    ob_output(m, "y", -1, NULL);
    g = build(m, &err);
    CHECK(!g);
    CHECK(strstr(err.msg, "cycle") != NULL);
}

TEST(onnx_import_unknown_op_named)
{
    ob_model *m = ob_new(13, "keras");
    ob_input(m, "x", OB_FLOAT, 3, (int64_t[]){1, 4, 8});
    ob_node(m, "LSTM", "lstm_1", "x", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);
    CHECK_MSG(strcmp(err.msg, "unsupported op 'LSTM' at node 'lstm_1'") == 0, "%s",
              err.msg);

    /* an unnamed node gets "<op>_<index>" */
    m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){1, 4});
    ob_node(m, "Relu", "", "x", "t");
    ob_node(m, "Sigmoid", "", "t", "y");
    ob_output(m, "y", -1, NULL);
    g = build(m, &err);
    CHECK(!g);
    CHECK_MSG(strcmp(err.msg, "unsupported op 'Sigmoid' at node 'Sigmoid_1'") == 0,
              "%s", err.msg);
}

TEST(onnx_import_missing_tensors)
{
    snn_error err;
    ob_model *m = small_model();
    free(m->g->node[1]->input[0]);
    m->g->node[1]->input[0] = strdup("nope");
    snn_graph *g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    CHECK_MSG(strcmp(err.msg, "unknown tensor 'nope' at node 'relu'") == 0, "%s",
              err.msg);

    /* an output nobody produces */
    m = small_model();
    free(m->g->output[0]->name);
    m->g->output[0]->name = strdup("zzz");
    g = build(m, &err);
    CHECK(!g);
    CHECK(strstr(err.msg, "zzz") != NULL);

    /* no output, no input */
    m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){1, 2});
    ob_node(m, "Relu", "r", "x", "y");
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    m = ob_new(13, "test");
    ob_init_f(m, "c", 1, (int64_t[]){2}, (float[]){1, 2});
    ob_node(m, "Relu", "r", "c", "y");
    ob_output(m, "y", -1, NULL);
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);

    /* a tensor defined twice */
    m = small_model();
    ob_node(m, "Relu", "again", "x", "c");
    g = build(m, &err);
    CHECK(!g);
    CHECK(strstr(err.msg, "defined twice") != NULL);

    /* no graph at all */
    m = small_model();
    onnx__graph_proto__free_unpacked(m->m->graph, NULL);
    m->m->graph = NULL;
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
}

TEST(onnx_import_shape_validation)
{
    snn_error err;
    ob_model *m = small_model();
    /* weight expects 2 input channels, the input has 1 */
    Onnx__TensorProto *t = m->g->initializer[0];
    t->dims[0] = 1;
    t->dims[1] = 2;
    t->dims[2] = 1;
    t->dims[3] = 2;
    snn_graph *g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_ESHAPE);
    CHECK(strstr(err.msg, "conv") != NULL);

    /* Reshape to an impossible target */
    m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){1, 6});
    ob_init_i64(m, "s", 1, (int64_t[]){2}, (int64_t[]){-1, 4});
    ob_node(m, "Reshape", "r", "x,s", "y");
    ob_output(m, "y", -1, NULL);
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_ESHAPE);

    /* Gather index out of range in shape arithmetic */
    m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){1, 6});
    ob_init_i64(m, "i", 0, NULL, (int64_t[]){7});
    ob_node(m, "Shape", "sh", "x", "s");
    ob_node(m, "Gather", "ga", "s,i", "n");
    ob_node(m, "Unsqueeze", "un", "n,i0", "n1");
    ob_init_i64(m, "i0", 1, (int64_t[]){1}, (int64_t[]){0});
    ob_node(m, "Reshape", "r", "x,n1", "y");
    ob_output(m, "y", -1, NULL);
    g = build(m, &err);
    CHECK(!g);
    CHECK(strstr(err.msg, "out of range") != NULL);

    /* weights of another rank than the input: refused, not a crash */
    m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 3, (int64_t[]){1, 1, 5});
    ob_init_f(m, "w", 4, (int64_t[]){1, 1, 1, 2}, (float[]){1, 1});
    ob_node(m, "Conv", "c1", "x,w", "y");
    ob_output(m, "y", -1, NULL);
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);
}

TEST(onnx_import_node_limit)
{
    snn_import_limits lim = {0, 0, 1};
    snn_error err;
    snn_graph *g = build_lim(small_model(), &lim, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_ELIMIT);
    lim.max_file_bytes = 10;
    g = build_lim(small_model(), &lim, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_ETOOLARGE);
}

TEST(onnx_import_float64_float16_initializers)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){-1, 2});
    double dd[2] = {0.5, -2.0};
    ob_init(m, ob_tensor_raw("a", OB_DOUBLE, 1, (int64_t[]){2}, dd, sizeof dd));
    uint16_t hh[2] = {0x3c00, 0xc200};   /* 1.0, -3.0 */
    ob_init(m, ob_tensor_raw("h", OB_FLOAT16, 1, (int64_t[]){2}, hh, sizeof hh));
    ob_node(m, "Add", "add", "x,a", "t");
    ob_node(m, "Mul", "mul", "t,h", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    float y[2];
    CHECK_OK(snn_graph_run(g, (float[]){1, 1}, 1, y, NULL, NULL, &err));
    CHECK_NEAR(y[0], 1.5, 1e-6);
    CHECK_NEAR(y[1], 3.0, 1e-6);
    snn_graph_free(g);

    /* strings are refused */
    m = small_model();
    m->g->initializer[0]->data_type = ONNX__TENSOR_PROTO__DATA_TYPE__STRING;
    g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);
}

TEST(onnx_import_input_type_checked)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_INT64, 2, (int64_t[]){1, 2});
    ob_node(m, "Relu", "r", "x", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);
    CHECK(strstr(err.msg, "int64") != NULL);
}

TEST(onnx_import_bind_const_then_finalize)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){2, 2});
    ob_input(m, "w", OB_FLOAT, 2, (int64_t[]){2, 2});
    ob_input(m, "shape", OB_INT64, 1, (int64_t[]){1});
    ob_node(m, "MatMul", "mm", "x,w", "t");
    ob_node(m, "Reshape", "r", "t,shape", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK(!g->finalized);
    CHECK_EQ_INT(g->nunbound, 2);
    float y[4];
    CHECK_EQ_INT(snn_graph_run(g, (float[]){1, 2, 3, 4}, 2, y, NULL, NULL, &err),
                 SNN_EINVALID);
    CHECK_EQ_INT(snn_graph_finalize(g, &err), SNN_EINVALID);   /* not bound yet */
    CHECK_EQ_INT(snn_graph_bind_const(g, "nope", 0, NULL, NULL, &err), SNN_ENOTFOUND);
    CHECK_OK(snn_graph_bind_const(g, "w", 2, (int64_t[]){2, 2},
                                  (float[]){0, 1, 1, 0}, &err));
    CHECK_OK(snn_graph_bind_const(g, "shape", 1, (int64_t[]){1}, (float[]){4}, &err));
    CHECK_OK(snn_graph_finalize(g, &err));
    CHECK(g->finalized);
    CHECK_OK(snn_graph_run(g, (float[]){1, 2, 3, 4}, 2, y, NULL, NULL, &err));
    /* swaps columns, then flattens */
    CHECK_NEAR(y[0], 2, 0);
    CHECK_NEAR(y[1], 1, 0);
    CHECK_NEAR(y[2], 4, 0);
    CHECK_NEAR(y[3], 3, 0);
    CHECK_EQ_INT(snn_graph_bind_const(g, "w", 0, NULL, (float[]){0}, &err),
                 SNN_EINVALID);
    snn_graph_free(g);

    /* freeing an unfinalized graph releases its bound data */
    m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){2, 2});
    ob_input(m, "w", OB_FLOAT, 2, (int64_t[]){2, 2});
    ob_node(m, "MatMul", "mm", "x,w", "y");
    ob_output(m, "y", -1, NULL);
    g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(snn_graph_bind_const(g, "w", 2, (int64_t[]){2, 2},
                                  (float[]){0, 1, 1, 0}, &err));
    snn_graph_free(g);
}

TEST(onnx_import_file_errors)
{
    snn_error err;
    snn_graph *g = snn_graph_load_onnx("/nonexistent/model.onnx", NULL, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_ENOTFOUND);
    g = snn_graph_load_onnx("/", NULL, &err);
    CHECK(!g);
    CHECK(err.code != SNN_OK);
    g = snn_graph_load_onnx_mem(NULL, 10, NULL, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EINVALID);
}

TEST(onnx_import_expensive_constant_fold_refused)
{
    /* Gemm of two constant 1024x1024 matrices: 2^30 multiply-adds at load */
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){1024, 1024});
    float *z = calloc(1024 * 1024, sizeof *z);
    ob_init_f(m, "a", 2, (int64_t[]){1024, 1024}, z);
    ob_init_f(m, "b", 2, (int64_t[]){1024, 1024}, z);
    free(z);
    ob_node(m, "Gemm", "big", "a,b", "c");
    ob_node(m, "Add", "add", "x,c", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK(!g);
    CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "too expensive") != NULL, "%s", err.msg);
}

TEST(onnx_import_failed_finalize_is_final)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){1, 4});
    ob_input(m, "s", OB_INT64, 1, (int64_t[]){2});
    ob_node(m, "Reshape", "r", "x,s", "y");
    ob_output(m, "y", -1, NULL);
    snn_error err;
    snn_graph *g = build(m, &err);
    CHECK_MSG(g, "%s", err.msg);
    CHECK_OK(snn_graph_bind_const(g, "s", 1, (int64_t[]){2}, (float[]){3, -1}, &err));
    CHECK_EQ_INT(snn_graph_finalize(g, &err), SNN_ESHAPE);   /* 4 is not 3*k */
    CHECK_EQ_INT(snn_graph_finalize(g, &err), SNN_EINVALID);
    CHECK(strstr(err.msg, "earlier") != NULL);
    CHECK_EQ_INT(snn_graph_bind_const(g, "s", 1, (int64_t[]){2}, (float[]){2, 2}, &err),
                 SNN_EINVALID);
    float y[4];
    CHECK_EQ_INT(snn_graph_run(g, (float[]){1, 2, 3, 4}, 1, y, NULL, NULL, &err),
                 SNN_EINVALID);
    snn_graph_free(g);
}

TEST(onnx_import_null_error_pointer)
{
    /* every failure path must cope with err == NULL */
    const char junk[] = "\x0a\x03" "abc";
    CHECK(!snn_graph_load_onnx_mem(junk, sizeof junk, NULL, NULL));
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){1, 2});
    ob_node(m, "LSTM", "l", "x", "y");
    ob_output(m, "y", -1, NULL);
    CHECK(!build(m, NULL));
    m = small_model();
    m->g->initializer[0]->raw_data.len = 3;
    CHECK(!build(m, NULL));
    CHECK(!snn_graph_load_onnx("/nonexistent.onnx", NULL, NULL));
    snn_graph *g = build(small_model(), NULL);
    CHECK(g);
    float y[4];
    CHECK_EQ_INT(snn_graph_run(g, (float[9]){0}, 0, y, NULL, NULL, NULL), SNN_EINVALID);
    snn_graph_free(g);
}
