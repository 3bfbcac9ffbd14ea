/* mktiny.c: write the two small deterministic CNN classifier fixtures
 * tests/data/tiny (torch-style, NCHW) and tests/data/tiny-nhwc
 * (tf2onnx/Keras-style, NHWC) as model.onnx + config.json.
 *
 * Build and run from the repo root (after `make build/gen/onnx.pb-c.h`):
 *   cc -Iinclude -Ibuild/gen tools/mktiny.c tests/unit/onnx_builder.c \
 *      build/gen/onnx.pb-c.c -lprotobuf-c -lm -o build/mktiny && build/mktiny tests/data
 *
 * Weights come from a fixed-seed xorshift PRNG, uniform and He-scaled
 * (limit sqrt(6 / fan_in)), biases small and positive, so that on inputs
 * in [0,1] every ReLU layer has active units and the three classes get
 * different probabilities. The output is byte-for-byte reproducible.
 *
 * tiny:      x[N,1,8,8] -> Conv(4,3x3,pad 1) -> Relu -> AveragePool 2x2 ->
 *            Conv(8,3x3,pad 1) -> Relu -> AveragePool 2x2 ->
 *            Shape/Gather/Unsqueeze/Concat/Reshape (x.view(x.size(0), -1)) ->
 *            Gemm(16) -> Relu -> Gemm(3) -> Softmax          (opset 13)
 * tiny-nhwc: x[N,8,8,1] -> Transpose(0,3,1,2) -> Conv(4, SAME_UPPER) ->
 *            Relu -> MaxPool 2x2 -> Conv(8, SAME_UPPER) -> Relu ->
 *            AveragePool 2x2 -> Transpose(0,2,3,1) -> Reshape(-1,32) ->
 *            MatMul+Add(16) -> Relu -> MatMul+Add(3) -> Softmax (opset 13)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../tests/unit/onnx_builder.h"

static uint32_t rng_state;

static float urand(void)   /* uniform in [-1, 1) */
{
    uint32_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    rng_state = x;
    return (float)(x >> 8) / 8388608.0f - 1.0f;
}

static float *weights(int n, int fan_in)
{
    float *w = malloc((size_t)n * sizeof *w);
    float lim = sqrtf(6.0f / (float)fan_in);
    if (!w) abort();
    for (int i = 0; i < n; i++) w[i] = urand() * lim;
    return w;
}

static float *biases(int n)
{
    float *b = malloc((size_t)n * sizeof *b);
    if (!b) abort();
    for (int i = 0; i < n; i++) b[i] = 0.05f + 0.05f * urand();
    return b;
}

static void init_w(ob_model *m, const char *name, int ndim, const int64_t *dims,
                   int fan_in)
{
    int n = 1;
    for (int i = 0; i < ndim; i++) n *= (int)dims[i];
    float *w = weights(n, fan_in);
    ob_init_f(m, name, ndim, dims, w);
    free(w);
}

static void init_b(ob_model *m, const char *name, int n)
{
    float *b = biases(n);
    ob_init_f(m, name, 1, (int64_t[]){n}, b);
    free(b);
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0) rc = -1;
    return rc;
}

static const char *config_fmt =
    "{\"name\":\"%s\",\"classes\":[\"a\",\"b\",\"c\"],"
    "\"input\":{\"channels\":1,\"height\":8,\"width\":8,\"layout\":\"%s\","
    "\"scale\":0.00392156862745098},\"steps\":20,"
    "\"conversion\":{\"neuron\":\"spiking-relu\",\"synapse\":0.005,"
    "\"scale_firing_rates\":20,\"v0\":\"zero\",\"dt\":0.001}}\n";

static ob_model *tiny_nchw(void)
{
    ob_model *m = ob_new(13, "pytorch");
    free(m->m->producer_version);
    m->m->producer_version = strdup("2.1.0");
    rng_state = 0x5eed0001u;
    ob_input(m, "input", OB_FLOAT, 4, (int64_t[]){-1, 1, 8, 8});
    init_w(m, "conv1.weight", 4, (int64_t[]){4, 1, 3, 3}, 9);
    init_b(m, "conv1.bias", 4);
    init_w(m, "conv2.weight", 4, (int64_t[]){8, 4, 3, 3}, 36);
    init_b(m, "conv2.bias", 8);
    init_w(m, "fc1.weight", 2, (int64_t[]){16, 32}, 32);
    init_b(m, "fc1.bias", 16);
    init_w(m, "fc2.weight", 2, (int64_t[]){3, 16}, 16);
    init_b(m, "fc2.bias", 3);

    Onnx__NodeProto *n;
    n = ob_node(m, "Conv", "/conv1/Conv", "input,conv1.weight,conv1.bias",
                "/conv1/Conv_output_0");
    ob_attr_ints(n, "dilations", 2, (int64_t[]){1, 1});
    ob_attr_i(n, "group", 1);
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){3, 3});
    ob_attr_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    ob_attr_ints(n, "strides", 2, (int64_t[]){1, 1});
    ob_node(m, "Relu", "/relu/Relu", "/conv1/Conv_output_0", "/relu/Relu_output_0");
    n = ob_node(m, "AveragePool", "/pool1/AveragePool", "/relu/Relu_output_0",
                "/pool1/AveragePool_output_0");
    ob_attr_i(n, "ceil_mode", 0);
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    ob_attr_ints(n, "pads", 4, (int64_t[]){0, 0, 0, 0});
    ob_attr_ints(n, "strides", 2, (int64_t[]){2, 2});
    n = ob_node(m, "Conv", "/conv2/Conv",
                "/pool1/AveragePool_output_0,conv2.weight,conv2.bias",
                "/conv2/Conv_output_0");
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){3, 3});
    ob_attr_ints(n, "pads", 4, (int64_t[]){1, 1, 1, 1});
    ob_attr_ints(n, "strides", 2, (int64_t[]){1, 1});
    ob_node(m, "Relu", "/relu_1/Relu", "/conv2/Conv_output_0",
            "/relu_1/Relu_output_0");
    n = ob_node(m, "AveragePool", "/pool2/AveragePool", "/relu_1/Relu_output_0",
                "/pool2/AveragePool_output_0");
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    ob_attr_ints(n, "strides", 2, (int64_t[]){2, 2});
    /* x.view(x.size(0), -1) as torch.onnx.export writes it */
    ob_node(m, "Shape", "/Shape", "/pool2/AveragePool_output_0", "/Shape_output_0");
    n = ob_node(m, "Constant", "/Constant", "", "/Constant_output_0");
    ob_attr_t(n, "value", ob_tensor_i64("", 0, NULL, (int64_t[]){0}));
    n = ob_node(m, "Gather", "/Gather", "/Shape_output_0,/Constant_output_0",
                "/Gather_output_0");
    ob_attr_i(n, "axis", 0);
    n = ob_node(m, "Constant", "/Constant_1", "", "/Constant_1_output_0");
    ob_attr_t(n, "value", ob_tensor_i64("", 1, (int64_t[]){1}, (int64_t[]){0}));
    ob_node(m, "Unsqueeze", "/Unsqueeze", "/Gather_output_0,/Constant_1_output_0",
            "/Unsqueeze_output_0");
    n = ob_node(m, "Constant", "/Constant_2", "", "/Constant_2_output_0");
    ob_attr_t(n, "value", ob_tensor_i64("", 1, (int64_t[]){1}, (int64_t[]){-1}));
    n = ob_node(m, "Concat", "/Concat", "/Unsqueeze_output_0,/Constant_2_output_0",
                "/Concat_output_0");
    ob_attr_i(n, "axis", 0);
    ob_node(m, "Reshape", "/Reshape", "/pool2/AveragePool_output_0,/Concat_output_0",
            "/Reshape_output_0");
    n = ob_node(m, "Gemm", "/fc1/Gemm", "/Reshape_output_0,fc1.weight,fc1.bias",
                "/fc1/Gemm_output_0");
    ob_attr_f(n, "alpha", 1.0f);
    ob_attr_f(n, "beta", 1.0f);
    ob_attr_i(n, "transB", 1);
    ob_node(m, "Relu", "/relu_2/Relu", "/fc1/Gemm_output_0", "/relu_2/Relu_output_0");
    n = ob_node(m, "Gemm", "/fc2/Gemm", "/relu_2/Relu_output_0,fc2.weight,fc2.bias",
                "/fc2/Gemm_output_0");
    ob_attr_i(n, "transB", 1);
    n = ob_node(m, "Softmax", "/softmax/Softmax", "/fc2/Gemm_output_0", "output");
    ob_attr_i(n, "axis", 1);
    ob_output(m, "output", 2, (int64_t[]){-1, 3});
    return m;
}

static ob_model *tiny_nhwc(void)
{
    ob_model *m = ob_new(13, "tf2onnx");
    free(m->m->producer_version);
    m->m->producer_version = strdup("1.9.3");
    rng_state = 0x5eed0002u;
    ob_input(m, "input_1", OB_FLOAT, 4, (int64_t[]){-1, 8, 8, 1});
    init_w(m, "sequential/conv2d/Conv2D/ReadVariableOp:0", 4,
           (int64_t[]){4, 1, 3, 3}, 9);
    init_b(m, "sequential/conv2d/BiasAdd/ReadVariableOp:0", 4);
    init_w(m, "sequential/conv2d_1/Conv2D/ReadVariableOp:0", 4,
           (int64_t[]){8, 4, 3, 3}, 36);
    init_b(m, "sequential/conv2d_1/BiasAdd/ReadVariableOp:0", 8);
    init_w(m, "sequential/dense/MatMul/ReadVariableOp:0", 2, (int64_t[]){32, 16}, 32);
    init_b(m, "sequential/dense/BiasAdd/ReadVariableOp:0", 16);
    init_w(m, "sequential/dense_1/MatMul/ReadVariableOp:0", 2, (int64_t[]){16, 3}, 16);
    init_b(m, "sequential/dense_1/BiasAdd/ReadVariableOp:0", 3);
    ob_init_i64(m, "const_fold_opt__flatten", 1, (int64_t[]){2}, (int64_t[]){-1, 32});

    Onnx__NodeProto *n;
    n = ob_node(m, "Transpose", "sequential/conv2d/BiasAdd__6", "input_1",
                "sequential/conv2d/BiasAdd__6:0");
    ob_attr_ints(n, "perm", 4, (int64_t[]){0, 3, 1, 2});
    n = ob_node(m, "Conv", "sequential/conv2d/BiasAdd",
                "sequential/conv2d/BiasAdd__6:0,"
                "sequential/conv2d/Conv2D/ReadVariableOp:0,"
                "sequential/conv2d/BiasAdd/ReadVariableOp:0",
                "sequential/conv2d/BiasAdd:0");
    ob_attr_s(n, "auto_pad", "SAME_UPPER");
    ob_attr_ints(n, "dilations", 2, (int64_t[]){1, 1});
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){3, 3});
    ob_attr_ints(n, "strides", 2, (int64_t[]){1, 1});
    ob_node(m, "Relu", "sequential/conv2d/Relu", "sequential/conv2d/BiasAdd:0",
            "sequential/conv2d/Relu:0");
    n = ob_node(m, "MaxPool", "sequential/max_pooling2d/MaxPool",
                "sequential/conv2d/Relu:0", "sequential/max_pooling2d/MaxPool:0");
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    ob_attr_ints(n, "strides", 2, (int64_t[]){2, 2});
    n = ob_node(m, "Conv", "sequential/conv2d_1/BiasAdd",
                "sequential/max_pooling2d/MaxPool:0,"
                "sequential/conv2d_1/Conv2D/ReadVariableOp:0,"
                "sequential/conv2d_1/BiasAdd/ReadVariableOp:0",
                "sequential/conv2d_1/BiasAdd:0");
    ob_attr_s(n, "auto_pad", "SAME_UPPER");
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){3, 3});
    ob_attr_ints(n, "strides", 2, (int64_t[]){1, 1});
    ob_node(m, "Relu", "sequential/conv2d_1/Relu", "sequential/conv2d_1/BiasAdd:0",
            "sequential/conv2d_1/Relu:0");
    n = ob_node(m, "AveragePool", "sequential/average_pooling2d/AvgPool",
                "sequential/conv2d_1/Relu:0",
                "sequential/average_pooling2d/AvgPool:0");
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){2, 2});
    ob_attr_ints(n, "strides", 2, (int64_t[]){2, 2});
    n = ob_node(m, "Transpose", "sequential/average_pooling2d/AvgPool__20",
                "sequential/average_pooling2d/AvgPool:0",
                "sequential/average_pooling2d/AvgPool__20:0");
    ob_attr_ints(n, "perm", 4, (int64_t[]){0, 2, 3, 1});
    ob_node(m, "Reshape", "sequential/flatten/Reshape",
            "sequential/average_pooling2d/AvgPool__20:0,const_fold_opt__flatten",
            "sequential/flatten/Reshape:0");
    ob_node(m, "MatMul", "sequential/dense/MatMul",
            "sequential/flatten/Reshape:0,sequential/dense/MatMul/ReadVariableOp:0",
            "sequential/dense/MatMul:0");
    ob_node(m, "Add", "sequential/dense/BiasAdd",
            "sequential/dense/MatMul:0,sequential/dense/BiasAdd/ReadVariableOp:0",
            "sequential/dense/BiasAdd:0");
    ob_node(m, "Relu", "sequential/dense/Relu", "sequential/dense/BiasAdd:0",
            "sequential/dense/Relu:0");
    ob_node(m, "MatMul", "sequential/dense_1/MatMul",
            "sequential/dense/Relu:0,sequential/dense_1/MatMul/ReadVariableOp:0",
            "sequential/dense_1/MatMul:0");
    ob_node(m, "Add", "sequential/dense_1/BiasAdd",
            "sequential/dense_1/MatMul:0,sequential/dense_1/BiasAdd/ReadVariableOp:0",
            "sequential/dense_1/BiasAdd:0");
    ob_node(m, "Softmax", "sequential/dense_1/Softmax", "sequential/dense_1/BiasAdd:0",
            "dense_1");
    ob_output(m, "dense_1", 2, (int64_t[]){-1, 3});
    return m;
}

static int emit(const char *root, const char *name, const char *layout,
                ob_model *m)
{
    char path[1024], cfg[1024];
    snprintf(path, sizeof path, "%s/%s", root, name);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/model.onnx", root, name);
    int rc = ob_save(m, path);
    ob_free(m);
    if (rc) {
        fprintf(stderr, "mktiny: cannot write %s\n", path);
        return 1;
    }
    printf("wrote %s\n", path);
    snprintf(cfg, sizeof cfg, config_fmt, name, layout);
    snprintf(path, sizeof path, "%s/%s/config.json", root, name);
    if (write_text(path, cfg)) {
        fprintf(stderr, "mktiny: cannot write %s\n", path);
        return 1;
    }
    printf("wrote %s\n", path);
    return 0;
}

int main(int argc, char **argv)
{
    const char *root = argc > 1 ? argv[1] : "tests/data";
    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: mktiny [OUTDIR]   (default tests/data)\n");
        return 2;
    }
    mkdir(root, 0755);
    if (emit(root, "tiny", "nchw", tiny_nchw())) return 1;
    if (emit(root, "tiny-nhwc", "nhwc", tiny_nhwc())) return 1;
    return 0;
}
