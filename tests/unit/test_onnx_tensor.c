/* test_onnx_tensor.c: the public ONNX file readers `snnctl conform` uses:
 * snn_onnx_tensor_load (serialized TensorProto to float: every accepted
 * type from raw_data and from its typed field, truncated and garbage bytes,
 * dims/value-count mismatches, unsupported types, limits, the file variant)
 * and snn_onnx_io_load (declared inputs/outputs and their kinds, read back
 * from a saved model file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx_builder.h"
#include "snn/graph.h"
#include "test.h"

/* Pack tp (then free it) and decode the bytes. */
static snn_onnx_tensor *decode_lim(Onnx__TensorProto *tp,
                                   const snn_import_limits *lim, snn_error *err)
{
    size_t len = onnx__tensor_proto__get_packed_size(tp);
    uint8_t *buf = malloc(len ? len : 1);
    onnx__tensor_proto__pack(tp, buf);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    snn_onnx_tensor *t = snn_onnx_tensor_load_mem(buf, len, lim, err);
    free(buf);
    return t;
}

static snn_onnx_tensor *decode(Onnx__TensorProto *tp, snn_error *err)
{
    return decode_lim(tp, NULL, err);
}

/* A tensor with only a data type and dims, for filling a typed field. */
static Onnx__TensorProto *bare(const char *name, int dtype, int ndim,
                               const int64_t *dims)
{
    Onnx__TensorProto *tp = ob_tensor_raw(name, dtype, ndim, dims, NULL, 0);
    tp->has_raw_data = 0;
    return tp;
}

TEST(onnx_tensor_float_typed_and_raw)
{
    const float v[6] = {1.5f, -2, 0, 3.25f, 1e-7f, -1e30f};
    for (int raw = 0; raw <= 1; raw++) {
        snn_error err;
        snn_onnx_tensor *t =
            decode(ob_tensor_f("x", 2, (int64_t[]){2, 3}, v, raw), &err);
        CHECK_MSG(t, "raw=%d: %s", raw, err.msg);
        CHECK(strcmp(t->name, "x") == 0);
        CHECK_EQ_INT(t->dtype, SNN_ONNX_DTYPE_FLOAT);
        CHECK_EQ_INT(t->ndim, 2);
        CHECK_EQ_INT(t->dims[0], 2);
        CHECK_EQ_INT(t->dims[1], 3);
        CHECK_EQ_INT(t->n, 6);
        CHECK(memcmp(t->data, v, sizeof v) == 0);
        snn_onnx_tensor_free(t);
    }
}

TEST(onnx_tensor_int64_typed_and_raw)
{
    const int64_t v[4] = {-3, 0, 7, (int64_t)1 << 40};
    snn_error err;
    snn_onnx_tensor *t = decode(ob_tensor_i64("i", 1, (int64_t[]){4}, v), &err);
    CHECK_MSG(t, "%s", err.msg);
    CHECK_EQ_INT(t->dtype, SNN_ONNX_DTYPE_INT64);
    CHECK_EQ_INT(t->n, 4);
    for (int k = 0; k < 4; k++) CHECK_NEAR(t->data[k], (double)v[k], 0);
    snn_onnx_tensor_free(t);

    t = decode(ob_tensor_raw("i", OB_INT64, 2, (int64_t[]){2, 2}, v, sizeof v), &err);
    CHECK_MSG(t, "%s", err.msg);
    CHECK_EQ_INT(t->ndim, 2);
    for (int k = 0; k < 4; k++) CHECK_NEAR(t->data[k], (double)v[k], 0);
    snn_onnx_tensor_free(t);
}

TEST(onnx_tensor_double_typed_and_raw)
{
    const double v[3] = {0.1, -1e10, 2.5};
    Onnx__TensorProto *tp = bare("d", OB_DOUBLE, 1, (int64_t[]){3});
    tp->n_double_data = 3;
    tp->double_data = malloc(sizeof v);
    memcpy(tp->double_data, v, sizeof v);
    snn_error err;
    snn_onnx_tensor *t = decode(tp, &err);
    CHECK_MSG(t, "%s", err.msg);
    CHECK_EQ_INT(t->dtype, SNN_ONNX_DTYPE_DOUBLE);
    for (int k = 0; k < 3; k++) CHECK(t->data[k] == (float)v[k]);
    snn_onnx_tensor_free(t);

    t = decode(ob_tensor_raw("d", OB_DOUBLE, 1, (int64_t[]){3}, v, sizeof v), &err);
    CHECK_MSG(t, "%s", err.msg);
    for (int k = 0; k < 3; k++) CHECK(t->data[k] == (float)v[k]);
    snn_onnx_tensor_free(t);
}

TEST(onnx_tensor_int32_and_bool)
{
    const int32_t v[3] = {-5, 0, 123456};
    snn_error err;
    snn_onnx_tensor *t =
        decode(ob_tensor_raw("a", OB_INT32, 1, (int64_t[]){3}, v, sizeof v), &err);
    CHECK_MSG(t, "%s", err.msg);
    CHECK_EQ_INT(t->dtype, SNN_ONNX_DTYPE_INT32);
    for (int k = 0; k < 3; k++) CHECK(t->data[k] == (float)v[k]);
    snn_onnx_tensor_free(t);

    /* bool: any nonzero byte is true (1), raw or in int32_data */
    const uint8_t b[4] = {0, 1, 2, 255};
    t = decode(ob_tensor_raw("b", SNN_ONNX_DTYPE_BOOL, 1, (int64_t[]){4}, b, 4), &err);
    CHECK_MSG(t, "%s", err.msg);
    CHECK_EQ_INT(t->dtype, SNN_ONNX_DTYPE_BOOL);
    CHECK(t->data[0] == 0 && t->data[1] == 1 && t->data[2] == 1 && t->data[3] == 1);
    snn_onnx_tensor_free(t);

    Onnx__TensorProto *tp = bare("b", SNN_ONNX_DTYPE_BOOL, 1, (int64_t[]){2});
    tp->n_int32_data = 2;
    tp->int32_data = malloc(2 * sizeof *tp->int32_data);
    tp->int32_data[0] = 0;
    tp->int32_data[1] = 256;
    t = decode(tp, &err);
    CHECK_MSG(t, "%s", err.msg);
    CHECK(t->data[0] == 0 && t->data[1] == 1);
    snn_onnx_tensor_free(t);
}

TEST(onnx_tensor_scalar_and_empty)
{
    snn_error err;
    snn_onnx_tensor *t = decode(ob_tensor_f("s", 0, NULL, (float[]){4.5f}, 1), &err);
    CHECK_MSG(t, "%s", err.msg);
    CHECK_EQ_INT(t->ndim, 0);
    CHECK_EQ_INT(t->n, 1);
    CHECK(t->data[0] == 4.5f);
    snn_onnx_tensor_free(t);

    t = decode(ob_tensor_f("e", 2, (int64_t[]){3, 0}, NULL, 0), &err);
    CHECK_MSG(t, "%s", err.msg);
    CHECK_EQ_INT(t->n, 0);
    CHECK(t->data != NULL);
    snn_onnx_tensor_free(t);

    /* no name in the proto: "" */
    Onnx__TensorProto *tp = ob_tensor_f("", 1, (int64_t[]){1}, (float[]){1}, 0);
    free(tp->name);
    tp->name = NULL;
    t = decode(tp, &err);
    CHECK_MSG(t, "%s", err.msg);
    CHECK(t->name && !*t->name);
    snn_onnx_tensor_free(t);
}

TEST(onnx_tensor_truncated_and_garbage)
{
    const float v[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    Onnx__TensorProto *tp = ob_tensor_f("x", 2, (int64_t[]){2, 4}, v, 1);
    size_t len = onnx__tensor_proto__get_packed_size(tp);
    uint8_t *buf = malloc(len);
    onnx__tensor_proto__pack(tp, buf);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    snn_error err;
    /* every prefix fails: bytes cut mid-field do not parse; a cut between
     * fields leaves no data type (unsupported) or too few values */
    for (size_t l = 0; l < len; l++) {
        snn_onnx_tensor *t = snn_onnx_tensor_load_mem(buf, l, NULL, &err);
        snn_onnx_tensor_free(t);
        CHECK_MSG(!t, "prefix of %zu bytes decoded", l);
        CHECK(err.code == SNN_EFORMAT || err.code == SNN_EUNSUPPORTED);
    }
    /* cut inside raw_data (the last field): not a TensorProto */
    snn_onnx_tensor *t = snn_onnx_tensor_load_mem(buf, len - 1, NULL, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    CHECK(strstr(err.msg, "TensorProto"));
    free(buf);

    t = snn_onnx_tensor_load_mem("\xff\xff\xff\xff", 4, NULL, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    t = snn_onnx_tensor_load_mem(NULL, 4, NULL, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EINVALID);
}

TEST(onnx_tensor_dims_do_not_fit_values)
{
    const float v[4] = {1, 2, 3, 4};
    snn_error err;
    /* raw_data of 3 floats, dims want 4 */
    snn_onnx_tensor *t =
        decode(ob_tensor_raw("r", OB_FLOAT, 1, (int64_t[]){4}, v, 12), &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "raw_data has 12 bytes"), "%s", err.msg);
    /* raw_data not a whole number of elements */
    t = decode(ob_tensor_raw("r", OB_INT64, 1, (int64_t[]){1}, v, 7), &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    /* typed field: 4 floats for dims [5] */
    Onnx__TensorProto *tp = ob_tensor_f("f", 1, (int64_t[]){4}, v, 0);
    tp->dims[0] = 5;
    t = decode(tp, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "4 values, dims want 5"), "%s", err.msg);
    /* values of the wrong typed field: int64 data under data type float */
    tp = ob_tensor_i64("w", 1, (int64_t[]){2}, (int64_t[]){1, 2});
    tp->data_type = OB_FLOAT;
    t = decode(tp, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    /* negative dim */
    tp = ob_tensor_f("n", 1, (int64_t[]){1}, v, 1);
    tp->dims[0] = -1;
    t = decode(tp, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
}

TEST(onnx_tensor_unsupported_types_are_named)
{
    static const struct { int dtype; const char *name; } cases[] = {
        {SNN_ONNX_DTYPE_UINT8, "data type uint8"},
        {SNN_ONNX_DTYPE_INT8, "data type int8"},
        {SNN_ONNX_DTYPE_FLOAT16, "data type float16"},
        {SNN_ONNX_DTYPE_STRING, "data type string"},
        {SNN_ONNX_DTYPE_COMPLEX64, "data type complex64"},
        {SNN_ONNX_DTYPE_UNDEFINED, "data type undefined"},
        {99, "data type unknown"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snn_error err;
        snn_onnx_tensor *t = decode(
            ob_tensor_raw("u", cases[i].dtype, 1, (int64_t[]){2}, "\1\2", 2), &err);
        CHECK(!t);
        CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);
        CHECK_MSG(strstr(err.msg, "tensor 'u'") && strstr(err.msg, cases[i].name),
                  "%s", err.msg);
    }
    /* more dims than SNN_MAX_DIMS */
    int64_t d[SNN_MAX_DIMS + 1];
    for (int i = 0; i <= SNN_MAX_DIMS; i++) d[i] = 1;
    snn_error err;
    snn_onnx_tensor *t =
        decode(ob_tensor_f("big", SNN_MAX_DIMS + 1, d, (float[]){1}, 1), &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);
    CHECK_EQ_INT(strcmp(snn_onnx_dtype_name(SNN_ONNX_DTYPE_BFLOAT16), "bfloat16"), 0);
    CHECK_EQ_INT(strcmp(snn_onnx_dtype_name(-1), "unknown"), 0);
}

TEST(onnx_tensor_limits)
{
    const float v[6] = {0};
    snn_import_limits lim = {.max_tensor_elems = 5};
    snn_error err;
    snn_onnx_tensor *t =
        decode_lim(ob_tensor_f("x", 2, (int64_t[]){2, 3}, v, 1), &lim, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_ELIMIT);
    /* dims whose product overflows int64 */
    Onnx__TensorProto *tp = ob_tensor_f("o", 2, (int64_t[]){1, 1}, v, 1);
    tp->dims[0] = tp->dims[1] = (int64_t)1 << 40;
    t = decode(tp, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_ELIMIT);
    lim = (snn_import_limits){.max_file_bytes = 8};
    t = decode_lim(ob_tensor_f("x", 2, (int64_t[]){2, 3}, v, 1), &lim, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_ETOOLARGE);
}

TEST(onnx_tensor_file)
{
    char path[] = "/tmp/snn_tensor_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    Onnx__TensorProto *tp =
        ob_tensor_i64("k", 1, (int64_t[]){3}, (int64_t[]){4, 5, 6});
    size_t len = onnx__tensor_proto__get_packed_size(tp);
    uint8_t *buf = malloc(len);
    onnx__tensor_proto__pack(tp, buf);
    onnx__tensor_proto__free_unpacked(tp, NULL);
    int wrote = write(fd, buf, len) == (ssize_t)len;
    close(fd);
    free(buf);
    snn_error err;
    snn_onnx_tensor *t = wrote ? snn_onnx_tensor_load(path, NULL, &err) : NULL;
    CHECK_MSG(t, "%s", wrote ? err.msg : "write failed");
    CHECK(strcmp(t->name, "k") == 0);
    CHECK(t->n == 3 && t->data[0] == 4 && t->data[2] == 6);
    snn_onnx_tensor_free(t);

    /* errors name the file */
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("\xff\xff", f);
        fclose(f);
    }
    t = snn_onnx_tensor_load(path, NULL, &err);
    unlink(path);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    CHECK_MSG(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);
    t = snn_onnx_tensor_load(path, NULL, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_ENOTFOUND);
    t = snn_onnx_tensor_load("/tmp", NULL, &err);
    CHECK(!t);
    CHECK_EQ_INT(err.code, SNN_EIO);
    snn_onnx_tensor_free(NULL);
}

/* ---- snn_onnx_io_load ---------------------------------------------------- */

/* Save m to a temporary file (then free it) and read it back by path. */
static snn_onnx_io *io_of(ob_model *m, snn_error *err)
{
    char path[] = "/tmp/snn_io_XXXXXX";
    int fd = mkstemp(path);
    snn_onnx_io *io = NULL;
    if (fd >= 0) {
        close(fd);
        if (ob_save(m, path) == 0) io = snn_onnx_io_load(path, NULL, err);
        else snn_error_set(err, SNN_EIO, "ob_save %s failed", path);
        unlink(path);
    } else {
        snn_error_set(err, SNN_EIO, "mkstemp failed");
    }
    ob_free(m);
    return io;
}

TEST(onnx_io_inputs_outputs_and_kinds)
{
    ob_model *m = ob_new(13, "test");
    ob_input(m, "x", OB_FLOAT, 2, (int64_t[]){-1, 4});
    ob_input(m, "idx", OB_INT64, 1, (int64_t[]){2});
    ob_input(m, "seq", OB_FLOAT, 1, (int64_t[]){2});
    ob_init_f(m, "idx", 1, (int64_t[]){2}, (float[]){0, 1});
    ob_node(m, "Relu", "r", "x", "y");
    ob_output(m, "y", -1, NULL);
    ob_output(m, "raw", -1, NULL);
    /* "seq" becomes a sequence of tensors, output "raw" untyped */
    Onnx__TypeProto *ty = m->g->input[2]->type;
    protobuf_c_message_free_unpacked(&ty->tensor_type->base, NULL);
    Onnx__TypeProto__Sequence *sq = malloc(sizeof *sq);
    onnx__type_proto__sequence__init(sq);
    ty->value_case = ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE;
    ty->sequence_type = sq;
    onnx__type_proto__free_unpacked(m->g->output[1]->type, NULL);
    m->g->output[1]->type = NULL;

    snn_error err;
    snn_onnx_io *io = io_of(m, &err);
    CHECK_MSG(io, "%s", err.msg);
    CHECK_EQ_INT(io->ninputs, 3);
    CHECK_EQ_INT(io->noutputs, 2);
    CHECK(strcmp(io->inputs[0].name, "x") == 0);
    CHECK_EQ_INT(io->inputs[0].kind, SNN_ONNX_KIND_TENSOR);
    CHECK_EQ_INT(io->inputs[0].elem_type, SNN_ONNX_DTYPE_FLOAT);
    CHECK(strcmp(io->inputs[1].name, "idx") == 0);   /* initializer, listed */
    CHECK_EQ_INT(io->inputs[1].elem_type, SNN_ONNX_DTYPE_INT64);
    CHECK_EQ_INT(io->inputs[2].kind, SNN_ONNX_KIND_SEQUENCE);
    CHECK_EQ_INT(io->inputs[2].elem_type, SNN_ONNX_DTYPE_UNDEFINED);
    CHECK(strcmp(io->outputs[0].name, "y") == 0);
    CHECK_EQ_INT(io->outputs[0].kind, SNN_ONNX_KIND_TENSOR);
    CHECK(strcmp(io->outputs[1].name, "raw") == 0);
    CHECK_EQ_INT(io->outputs[1].kind, SNN_ONNX_KIND_UNTYPED);
    snn_onnx_io_free(io);
    snn_onnx_io_free(NULL);
}

TEST(onnx_io_not_a_model)
{
    snn_error err;
    snn_onnx_io *io = snn_onnx_io_load_mem("\xff\xff\xff", 3, NULL, &err);
    CHECK(!io);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    io = snn_onnx_io_load_mem(NULL, 3, NULL, &err);
    CHECK(!io);
    CHECK_EQ_INT(err.code, SNN_EINVALID);
    snn_import_limits lim = {.max_file_bytes = 2};
    io = snn_onnx_io_load_mem("\xff\xff\xff", 3, &lim, &err);
    CHECK(!io);
    CHECK_EQ_INT(err.code, SNN_ETOOLARGE);
    /* a ModelProto without a graph */
    ob_model *m = ob_new(13, "test");
    onnx__graph_proto__free_unpacked(m->m->graph, NULL);
    m->m->graph = m->g = NULL;
    io = io_of(m, &err);
    CHECK(!io);
    CHECK_EQ_INT(err.code, SNN_EFORMAT);
    CHECK_MSG(strstr(err.msg, "no graph"), "%s", err.msg);
    io = snn_onnx_io_load("/nonexistent/model.onnx", NULL, &err);
    CHECK(!io);
    CHECK_EQ_INT(err.code, SNN_ENOTFOUND);
    CHECK(strstr(err.msg, "/nonexistent/model.onnx"));
}
