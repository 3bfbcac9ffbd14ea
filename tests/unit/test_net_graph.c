/* test_net_graph.c: the spiking net as a DAG planned from the graph IR.
 * A zoo of small graphs built with onnx_builder (residual with identity and
 * projection shortcuts and BatchNormalization, depthwise + ReLU6 + Dropout,
 * Inception-style Concat with a MaxPool 3x3 stride-1 branch, BN after a
 * pool, MaxPool before and after a ReLU), the committed tests/data fixtures
 * (tiny, tiny-nhwc) and the zoo exported from PyTorch (tests/data/zoo, when
 * present): rate mode equals the ANN interpreter, the spiking run is
 * deterministic and independent of the chunk size, every kernel variant
 * equals its scalar reference twin, maxpool=avg is reported, the max-pool
 * gate passes the most active input, and calibration is keyed by the
 * graph's neuron layers. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/graph/graph_internal.h"
#include "../../src/convert/net_internal.h"
#include "net_helpers.h"
#include "onnx_builder.h"
#include "snn/calibrate.h"
#include "snn/engine.h"
#include "snn/model.h"
#include "snn/params.h"
#include "test.h"

extern int snn_simd_fast;

/* ---- building the zoo ---- */

static unsigned rng_state;
static float urand(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return (float)((rng_state >> 8) & 0xffff) / 65535.0f;
}

/* Conv weights (and bias) with fan-in scaling; a positive bias mean keeps
 * units active. */
static void conv_init(ob_model *m, const char *name, int co, int cig, int k, float bias)
{
    char wn[64], bn[64];
    int64_t n = (int64_t)co * cig * k * k;
    float *w = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)co);
    float sc = 2.0f / sqrtf((float)(cig * k * k));
    for (int64_t i = 0; i < n; i++) w[i] = (urand() - 0.4f) * sc;
    for (int i = 0; i < co; i++) b[i] = bias + 0.1f * (urand() - 0.5f);
    snprintf(wn, sizeof wn, "%s.w", name);
    snprintf(bn, sizeof bn, "%s.b", name);
    ob_init_f(m, wn, 4, (int64_t[]){co, cig, k, k}, w);
    ob_init_f(m, bn, 1, (int64_t[]){co}, b);
    free(w);
    free(b);
}

static Onnx__NodeProto *conv(ob_model *m, const char *name, const char *in, const char *out,
                             int co, int ci, int k, int stride, int pad, int group, float bias)
{
    char ins[200], nn[80];
    conv_init(m, name, co, ci / group, k, bias);
    snprintf(ins, sizeof ins, "%s,%s.w,%s.b", in, name, name);
    snprintf(nn, sizeof nn, "/%s/Conv", name);
    Onnx__NodeProto *n = ob_node(m, "Conv", nn, ins, out);
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
    ob_attr_ints(n, "strides", 2, (int64_t[]){stride, stride});
    if (pad >= 0) ob_attr_ints(n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
    if (group > 1) ob_attr_i(n, "group", group);
    return n;
}

static void bn(ob_model *m, const char *name, const char *in, const char *out, int c)
{
    float g[64], b[64], mu[64], var[64];
    for (int i = 0; i < c; i++) {
        g[i] = 0.6f + 0.8f * urand();
        b[i] = 0.2f * (urand() - 0.3f);
        mu[i] = 0.3f * (urand() - 0.5f);
        var[i] = 0.5f + urand();
    }
    char nm[5][64], ins[400], nn[80];
    const char *suf[4] = {"g", "b", "m", "v"};
    const float *d[4] = {g, b, mu, var};
    for (int k = 0; k < 4; k++) {
        snprintf(nm[k], sizeof nm[k], "%s.%s", name, suf[k]);
        ob_init_f(m, nm[k], 1, (int64_t[]){c}, d[k]);
    }
    snprintf(ins, sizeof ins, "%s,%s,%s,%s,%s", in, nm[0], nm[1], nm[2], nm[3]);
    snprintf(nn, sizeof nn, "/%s/BatchNormalization", name);
    ob_node(m, "BatchNormalization", nn, ins, out);
}

static void relu(ob_model *m, const char *name, const char *in, const char *out)
{
    char nn[80];
    snprintf(nn, sizeof nn, "/%s/Relu", name);
    ob_node(m, "Relu", nn, in, out);
}

static void pool(ob_model *m, const char *op, const char *name, const char *in, const char *out,
                 int k, int s, int pad)
{
    char nn[80];
    snprintf(nn, sizeof nn, "/%s/%s", name, op);
    Onnx__NodeProto *n = ob_node(m, op, nn, in, out);
    ob_attr_ints(n, "kernel_shape", 2, (int64_t[]){k, k});
    ob_attr_ints(n, "strides", 2, (int64_t[]){s, s});
    if (pad) ob_attr_ints(n, "pads", 4, (int64_t[]){pad, pad, pad, pad});
}

/* GlobalAveragePool or Flatten, then Gemm to 5 classes and Softmax. */
static void head(ob_model *m, const char *in, int feat, int gap, int softmax)
{
    float w[5 * 256], b[5];
    for (int i = 0; i < 5 * feat; i++) w[i] = (urand() - 0.5f) * 2.0f / sqrtf((float)feat);
    for (int i = 0; i < 5; i++) b[i] = 0.1f * (urand() - 0.5f);
    ob_init_f(m, "fc.w", 2, (int64_t[]){5, feat}, w);
    ob_init_f(m, "fc.b", 1, (int64_t[]){5}, b);
    if (gap) {
        ob_node(m, "GlobalAveragePool", "/gap/GlobalAveragePool", in, "gap");
        in = "gap";
    }
    ob_node(m, "Flatten", "/Flatten", in, "flat");
    Onnx__NodeProto *g = ob_node(m, "Gemm", "/fc/Gemm", "flat,fc.w,fc.b", softmax ? "logits" : "out");
    ob_attr_i(g, "transB", 1);
    if (softmax) {
        Onnx__NodeProto *s = ob_node(m, "Softmax", "/Softmax", "logits", "out");
        ob_attr_i(s, "axis", 1);
    }
    ob_output(m, "out", 2, (int64_t[]){-1, 5});
}

static ob_model *zoo_begin(void)
{
    ob_model *m = ob_new(13, "pytorch 1.13.1");
    ob_input(m, "x", OB_FLOAT, 4, (int64_t[]){-1, 3, 8, 8});
    return m;
}

/* Residual: identity shortcut, then a stride-2 block with a 1x1
 * projection shortcut; BN after every conv (folded), an unfoldable BN
 * after the second join. */
static ob_model *zoo_resnet(void)
{
    ob_model *m = zoo_begin();
    conv(m, "c1", "x", "c1", 8, 3, 3, 1, 1, 1, 0.1f);
    bn(m, "bn1", "c1", "b1", 8);
    relu(m, "r1", "b1", "r1");
    conv(m, "l1/c2", "r1", "c2", 8, 8, 3, 1, 1, 1, 0.0f);
    bn(m, "l1/bn2", "c2", "b2", 8);
    ob_node(m, "Add", "/l1/Add", "b2,r1", "s1");
    relu(m, "l1/r2", "s1", "r2");
    conv(m, "l2/c3", "r2", "c3", 16, 8, 3, 2, 1, 1, 0.05f);
    bn(m, "l2/bn3", "c3", "b3", 16);
    relu(m, "l2/r3", "b3", "r3");
    conv(m, "l2/c4", "r3", "c4", 16, 16, 3, 1, 1, 1, 0.0f);
    bn(m, "l2/bn4", "c4", "b4", 16);
    conv(m, "l2/proj", "r2", "p", 16, 8, 1, 2, 0, 1, 0.0f);
    bn(m, "l2/bnp", "p", "bp", 16);
    ob_node(m, "Add", "/l2/Add", "b4,bp", "s2");
    bn(m, "l2/bnj", "s2", "bj", 16);
    relu(m, "l2/r4", "bj", "r4");
    head(m, "r4", 16, 1, 1);
    return m;
}

static void clip6(ob_model *m, const char *name, const char *in, const char *out)
{
    char lo[64], hi[64], ins[200], nn[80];
    snprintf(lo, sizeof lo, "%s.lo", name);
    snprintf(hi, sizeof hi, "%s.hi", name);
    ob_init_f(m, lo, 0, NULL, (float[]){0.0f});
    ob_init_f(m, hi, 0, NULL, (float[]){6.0f});
    snprintf(ins, sizeof ins, "%s,%s,%s", in, lo, hi);
    snprintf(nn, sizeof nn, "/%s/Clip", name);
    ob_node(m, "Clip", nn, ins, out);
}

/* MobileNet-style: ReLU6, depthwise 3x3, Dropout, pointwise, a grouped
 * stride-2 conv (group 4). The inputs are scaled up so ReLU6 clips. */
static ob_model *zoo_mobilenet(void)
{
    ob_model *m = zoo_begin();
    ob_init_f(m, "gain", 0, NULL, (float[]){6.0f});
    ob_node(m, "Mul", "/in/Mul", "x,gain", "xs");
    conv(m, "stem", "xs", "c1", 8, 3, 3, 1, 1, 1, 0.2f);
    bn(m, "stem/bn", "c1", "b1", 8);
    clip6(m, "stem/act", "b1", "a1");
    conv(m, "dw", "a1", "c2", 8, 8, 3, 1, 1, 8, 0.1f);
    bn(m, "dw/bn", "c2", "b2", 8);
    clip6(m, "dw/act", "b2", "a2");
    ob_node(m, "Dropout", "/drop/Dropout", "a2", "d2");
    conv(m, "pw", "d2", "c3", 16, 8, 1, 1, 0, 1, 0.0f);
    relu(m, "pw/act", "c3", "a3");
    conv(m, "gc", "a3", "c4", 16, 16, 3, 2, 1, 4, 0.05f);
    relu(m, "gc/act", "c4", "a4");
    head(m, "a4", 16, 1, 1);
    return m;
}

/* Inception-style: input normalisation (Sub, Div), three branches (1x1,
 * 3x3, MaxPool 3x3 stride 1 + 1x1) joined by Concat into a neuron layer's
 * input, a Concat of two convs before a ReLU, MaxPool 2x2 on neurons. */
static ob_model *zoo_inception(void)
{
    ob_model *m = zoo_begin();
    ob_init_f(m, "mean", 4, (int64_t[]){1, 3, 1, 1}, (float[]){0.4f, 0.5f, 0.3f});
    ob_init_f(m, "std", 4, (int64_t[]){1, 3, 1, 1}, (float[]){0.25f, 0.3f, 0.2f});
    ob_node(m, "Sub", "/norm/Sub", "x,mean", "xc");
    ob_node(m, "Div", "/norm/Div", "xc,std", "xn");
    conv(m, "stem", "xn", "c0", 8, 3, 3, 1, 1, 1, 0.1f);
    relu(m, "stem", "c0", "r0");
    conv(m, "b1", "r0", "c1", 4, 8, 1, 1, 0, 1, 0.05f);
    relu(m, "b1", "c1", "r1");
    conv(m, "b2", "r0", "c2", 6, 8, 3, 1, 1, 1, 0.05f);
    relu(m, "b2", "c2", "r2");
    pool(m, "MaxPool", "b3/pool", "r0", "mp", 3, 1, 1);
    conv(m, "b3", "mp", "c3", 4, 8, 1, 1, 0, 1, 0.0f);
    relu(m, "b3", "c3", "r3");
    Onnx__NodeProto *cat = ob_node(m, "Concat", "/mix/Concat", "r1,r2,r3", "cat");
    ob_attr_i(cat, "axis", 1);
    conv(m, "mixa", "cat", "ca", 6, 14, 1, 1, 0, 1, 0.05f);
    conv(m, "mixb", "cat", "cb", 4, 14, 3, 1, 1, 1, 0.05f);
    Onnx__NodeProto *cat2 = ob_node(m, "Concat", "/mix2/Concat", "ca,cb", "cat2");
    ob_attr_i(cat2, "axis", -3);
    relu(m, "mix2", "cat2", "r4");
    pool(m, "MaxPool", "pool", "r4", "p4", 2, 2, 0);
    head(m, "p4", 10 * 16, 0, 1);
    return m;
}

/* BN after a pool (not foldable), MaxPool between a Conv and its ReLU
 * (the gate on currents), a Pad, logits without Softmax. */
static ob_model *zoo_bnpool(void)
{
    ob_model *m = zoo_begin();
    conv(m, "c1", "x", "c1", 8, 3, 3, 1, 1, 1, 0.1f);
    relu(m, "c1", "c1", "r1");
    pool(m, "AveragePool", "p1", "r1", "p1", 2, 2, 0);
    bn(m, "p1/bn", "p1", "b1", 8);
    ob_init_i64(m, "pads", 1, (int64_t[]){8}, (int64_t[]){0, 0, 1, 1, 0, 0, 1, 1});
    ob_node(m, "Pad", "/pad/Pad", "b1,pads", "pd");
    conv(m, "c2", "pd", "c2", 8, 8, 3, 1, 0, 1, 0.05f);
    pool(m, "MaxPool", "c2/pool", "c2", "mp", 2, 2, 0);
    relu(m, "c2", "mp", "r2");
    head(m, "r2", 8 * 4, 0, 0);
    return m;
}

/* Geometry corners: a dilated grouped conv (group 2, dilation 2,
 * asymmetric pads: 8x8 stays 8x8), AveragePool counting its pads with ceil_mode, a padded
 * MaxPool with ceil_mode before a ReLU, a Flatten to a Gemm with alpha and
 * beta, an Add of a constant and a Mul by a per-channel constant. */
static ob_model *zoo_corners(void)
{
    ob_model *m = zoo_begin();
    conv(m, "c1", "x", "c1", 6, 3, 3, 1, 1, 1, 0.1f);
    relu(m, "c1", "c1", "r1");
    Onnx__NodeProto *g = conv(m, "g2", "r1", "c2", 8, 6, 3, 1, -1, 2, 0.05f);
    ob_attr_ints(g, "dilations", 2, (int64_t[]){2, 2});
    ob_attr_ints(g, "pads", 4, (int64_t[]){2, 1, 2, 3});
    relu(m, "g2", "c2", "r2");
    Onnx__NodeProto *ap = ob_node(m, "AveragePool", "/ap/AveragePool", "r2", "ap");
    ob_attr_ints(ap, "kernel_shape", 2, (int64_t[]){3, 3});
    ob_attr_ints(ap, "strides", 2, (int64_t[]){2, 2});
    ob_attr_ints(ap, "pads", 4, (int64_t[]){1, 1, 1, 1});
    ob_attr_i(ap, "count_include_pad", 1);
    ob_attr_i(ap, "ceil_mode", 1);
    float sc[8];
    for (int i = 0; i < 8; i++) sc[i] = 0.5f + 0.2f * (float)i;
    ob_init_f(m, "sc", 4, (int64_t[]){1, 8, 1, 1}, sc);
    ob_init_f(m, "sh", 0, NULL, (float[]){0.05f});
    ob_node(m, "Mul", "/sc/Mul", "ap,sc", "aps");
    ob_node(m, "Add", "/sh/Add", "aps,sh", "apt");
    conv(m, "c3", "apt", "c3", 8, 8, 3, 1, 1, 1, 0.02f);
    Onnx__NodeProto *mp = ob_node(m, "MaxPool", "/mp/MaxPool", "c3", "mp");
    ob_attr_ints(mp, "kernel_shape", 2, (int64_t[]){2, 2});
    ob_attr_ints(mp, "strides", 2, (int64_t[]){2, 2});
    ob_attr_ints(mp, "pads", 4, (int64_t[]){0, 0, 1, 1});
    ob_attr_i(mp, "ceil_mode", 1);
    relu(m, "c3", "mp", "r3");
    float w[5 * 72], b[5]; /* AveragePool 8 -> 5 (ceil), MaxPool 5 -> 3 (ceil): 8x3x3 */
    for (int i = 0; i < 5 * 72; i++) w[i] = urand() - 0.5f;
    for (int i = 0; i < 5; i++) b[i] = urand() - 0.5f;
    ob_init_f(m, "fc.w", 2, (int64_t[]){72, 5}, w);
    ob_init_f(m, "fc.b", 2, (int64_t[]){1, 5}, b);
    ob_node(m, "Flatten", "/Flatten", "r3", "flat");
    Onnx__NodeProto *gm = ob_node(m, "Gemm", "/fc/Gemm", "flat,fc.w,fc.b", "out");
    ob_attr_f(gm, "alpha", 0.7f);
    ob_attr_f(gm, "beta", 1.3f);
    ob_output(m, "out", 2, (int64_t[]){-1, 5});
    return m;
}

typedef struct zoo_entry {
    const char *name;
    ob_model *(*build)(void);
} zoo_entry;

static const zoo_entry ZOO[] = {
    {"resnet", zoo_resnet},
    {"mobilenet", zoo_mobilenet},
    {"inception", zoo_inception},
    {"bnpool", zoo_bnpool},
    {"corners", zoo_corners},
};
#define NZOO ((int)(sizeof ZOO / sizeof ZOO[0]))

/* Pack and import a built model (freed here); NULL after a test failure. */
static snn_graph *graph_of(ob_model *om, const char *what)
{
    size_t len;
    uint8_t *buf = ob_pack(om, &len);
    ob_free(om);
    snn_error err = {0};
    snn_graph *g = snn_graph_load_onnx_mem(buf, len, NULL, &err);
    free(buf);
    if (!g) test_fail(__FILE__, __LINE__, "%s: %s", what, err.msg);
    return g;
}

static snn_model *model_from(snn_graph *g, const char *cfg_json)
{
    snn_error err = {0};
    snn_model *m = calloc(1, sizeof *m);
    m->graph = g;
    if (snn_model_config_parse(&m->cfg, cfg_json, strlen(cfg_json), g, &err)) {
        test_fail(__FILE__, __LINE__, "config: %s", err.msg);
        snn_model_free(m);
        return NULL;
    }
    m->path = strdup("(test)");
    return m;
}

static snn_model *zoo_model(int i)
{
    rng_state = 1234u + 77u * (unsigned)i;
    snn_graph *g = graph_of(ZOO[i].build(), ZOO[i].name);
    if (!g) return NULL;
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "{\"name\":\"%s\",\"classes\":[\"a\",\"b\",\"c\",\"d\",\"e\"],"
             "\"input\":{\"channels\":3,\"height\":8,\"width\":8}}",
             ZOO[i].name);
    return model_from(g, cfg);
}

/* Every test model: the builder zoo, tiny, tiny-nhwc and the PyTorch zoo. */
#define MAX_MODELS 24
static int all_models(snn_model **ms, char names[][64])
{
    int n = 0;
    for (int i = 0; i < NZOO; i++) {
        ms[n] = zoo_model(i);
        snprintf(names[n], 64, "%s", ZOO[i].name);
        if (ms[n]) n++;
    }
    const char *fixtures[] = {"tiny", "tiny-nhwc"};
    for (int i = 0; i < 2; i++) {
        snn_error err = {0};
        ms[n] = snn_model_load(test_path(fixtures[i]), &err);
        if (!ms[n]) test_fail(__FILE__, __LINE__, "%s: %s", fixtures[i], err.msg);
        snprintf(names[n], 64, "%s", fixtures[i]);
        if (ms[n]) n++;
    }
    DIR *d = opendir(test_path("zoo"));
    struct dirent *de;
    while (d && (de = readdir(d)) && n < MAX_MODELS) {
        char rel[300];
        if (de->d_name[0] == '.') continue;
        snprintf(rel, sizeof rel, "zoo/%s/config.json", de->d_name);
        FILE *f = fopen(test_path(rel), "r");
        if (!f) continue;
        fclose(f);
        snprintf(rel, sizeof rel, "zoo/%s", de->d_name);
        snn_error err = {0};
        ms[n] = snn_model_load(test_path(rel), &err);
        if (!ms[n]) test_fail(__FILE__, __LINE__, "%s: %s", rel, err.msg);
        snprintf(names[n], 64, "zoo/%.50s", de->d_name);
        if (ms[n]) n++;
    }
    if (d) closedir(d);
    return n;
}

static void free_models(snn_model **ms, int n)
{
    for (int i = 0; i < n; i++) snn_model_free(ms[i]);
}

static float *inputs_for(const snn_model *m, int n, unsigned seed)
{
    size_t isz = snn_model_input_size(m);
    float *x = malloc(sizeof(float) * isz * (size_t)n);
    rng_state = seed;
    for (size_t i = 0; i < isz * (size_t)n; i++) x[i] = urand();
    return x;
}

/* The ANN's class probabilities (softmax applied when the graph has none). */
static void ann_probs(const snn_model *m, const snn_net *net, const float *x, int B, float *p)
{
    CHECK_OK(snn_graph_run(m->graph, x, B, p, NULL, NULL, NULL));
    const int C = snn_net_nclasses(net);
    if (net->softmax) return;
    for (int b = 0; b < B; b++) {
        float *z = p + b * C, mx = z[0];
        double s = 0;
        for (int c = 1; c < C; c++) mx = z[c] > mx ? z[c] : mx;
        for (int c = 0; c < C; c++) s += (z[c] = expf(z[c] - mx));
        for (int c = 0; c < C; c++) z[c] = (float)(z[c] / s);
    }
}

/* ---- tests ---- */

TEST(net_graph_zoo_plans_as_dags)
{
    snn_model *m = zoo_model(0);
    CHECK(m);
    snn_net *net = tnet_new(m, NULL, 0);
    CHECK(net);
    /* input, 4 neuron layers (r1, r2, r3, r4), readout */
    CHECK_EQ_INT(snn_net_nlayers(net), 6);
    CHECK_MSG(!strcmp(net->layers[2].info.ops, "Conv+Add"), "%s", net->layers[2].info.ops);
    CHECK_MSG(!strcmp(net->layers[4].info.ops, "Conv+Conv+Add+Affine"), "%s",
              net->layers[4].info.ops);
    CHECK_EQ_INT(net->stages[1].nsrc, 1);  /* the identity shortcut reads r1 itself */
    CHECK_EQ_INT(net->stages[3].nsrc, 2);  /* c4 reads r3, the projection r2 */
    /* a join layer is named by the join's scope; others by their conv */
    const char *names[] = {"input", "c1", "l1", "c3", "l2", "fc"};
    for (int l = 0; l < 6; l++)
        CHECK_MSG(!strcmp(net->layers[l].info.name, names[l]), "%d: %s", l, net->layers[l].info.name);
    CHECK(!strcmp(net->layers[4].info.inputs, "c3,l1") && !strcmp(net->layers[5].info.inputs, "l2"));
    CHECK(net->layers[1].info.synapse_in == 0 && net->layers[2].info.synapse_in == 1);
    CHECK(net->stages[0].constant && !net->stages[1].constant);
    /* r2's fan-out: its share of l2/c3 (all) and of the projection (all) */
    CHECK(net->layers[2].info.fanout_total == net->stages[2].ops[0].macs + net->stages[3].ops[1].macs);
    CHECK_EQ_INT(snn_net_nnotes(net), 0);
    snn_net_free(net);
    snn_model_free(m);

    m = zoo_model(1);
    net = tnet_new(m, NULL, 0);
    CHECK(net);
    CHECK(!strcmp(net->layers[2].info.ops, "DepthwiseConv"));
    CHECK(!strcmp(net->layers[4].info.ops, "GroupConv"));
    CHECK_NEAR(net->layers[1].clip_max, 6.0, 0);
    snn_net_free(net);
    snn_model_free(m);

    m = zoo_model(2);
    net = tnet_new(m, NULL, 0);
    CHECK(net);
    /* stem, b1, b2, b3, mix2 neurons; the readout gates mix2 */
    CHECK_EQ_INT(snn_net_nlayers(net), 7);
    CHECK_MSG(!strcmp(net->layers[4].info.ops, "MaxPool+Conv"), "%s", net->layers[4].info.ops);
    CHECK_MSG(!strcmp(net->layers[5].info.ops, "Concat+Conv+Conv+Concat"), "%s",
              net->layers[5].info.ops);
    CHECK_EQ_INT(net->stages[4].nsrc, 3);
    CHECK_MSG(!strcmp(net->layers[5].info.name, "mix2") &&
              !strcmp(net->layers[5].info.inputs, "b1,b2,b3"), "%s reads %s",
              net->layers[5].info.name, net->layers[5].info.inputs);
    CHECK_EQ_INT(net->nstates, 2);
    snn_net_free(net);
    snn_model_free(m);

    /* corners: the MaxPool after a padded conv of an offset input sees an
     * offset that varies at the borders, and keeps it */
    m = zoo_model(4);
    net = tnet_new(m, NULL, 0);
    CHECK(net);
    const kstage *st = &net->stages[2];
    /* Mul then Add of constants: one affine op */
    CHECK_MSG(!strcmp(net->layers[3].info.ops, "AveragePool+Affine+Conv+MaxPool"), "%s",
              net->layers[3].info.ops);
    CHECK(st->ops[3].kind == KOP_MAXPOOL && st->ops[3].w && st->ops[3].b && st->ops[3].state >= 0);
    CHECK(!strcmp(net->layers[2].info.ops, "GroupConv"));
    snn_net_free(net);
    snn_model_free(m);
}

TEST(net_graph_zoo_rate_equals_ann)
{
    snn_model *ms[MAX_MODELS];
    char names[MAX_MODELS][64];
    int n = all_models(ms, names);
    CHECK(n >= NZOO + 2);
    const char *kv[][2] = {{"neuron", "relu"}, {"synapse", "none"}};
    const snn_kernel_mode km[] = {SNN_KERNELS_ADAPTIVE, SNN_KERNELS_DENSE, SNN_KERNELS_SCATTER};
    for (int i = 0; i < n; i++) {
        snn_net *net = tnet_new(ms[i], kv, 2);
        CHECK(net);
        const int B = 3, T = 2, C = snn_net_nclasses(net);
        float *x = inputs_for(ms[i], B, 99u + (unsigned)i);
        float ann[3 * 64];
        ann_probs(ms[i], net, x, B, ann);
        for (int mode = 0; mode < 4; mode++) {
            snn_result r;
            snn_kernels_set(km[mode % 3]);
            CHECK_OK(tnet_run(net, x, B, T, 0, mode == 3 ? SNN_ENGINE_REFERENCE : SNN_ENGINE_FAST, &r));
            double maxd = 0;
            for (int t = 0; t < T; t++)
                for (int b = 0; b < B; b++)
                    for (int c = 0; c < C; c++)
                        maxd = fmax(maxd, fabs(snn_result_probs(&r, t, b)[c] - ann[b * C + c]));
            CHECK_MSG(maxd < 1e-5, "%s mode %d: rate differs from the ANN by %g", names[i], mode,
                      maxd);
            snn_result_deinit(&r);
        }
        snn_kernels_set(SNN_KERNELS_ADAPTIVE);
        free(x);
        snn_net_free(net);
    }
    free_models(ms, n);
}

/* One workspace reused across runs of every zoo graph, with batches that
 * grow and shrink and a poisoned arena between them: every output equals a
 * fresh snn_graph_run's bit for bit (a node that read memory it had not
 * written, or a stale table entry, would differ). */
TEST(net_graph_ws_reuse_equals_fresh)
{
    snn_model *ms[MAX_MODELS];
    char names[MAX_MODELS][64];
    int n = all_models(ms, names);
    CHECK(n >= NZOO + 2);
    snn_graph_ws *ws = snn_graph_ws_new();
    CHECK(ws);
    const int batches[] = {3, 1, 5, 2};
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < n; i++)
            for (int k = 0; k < 4; k++) {
                const int B = batches[k];
                const snn_graph *g = ms[i]->graph;
                const int64_t C = snn_tensor_item_elems(&g->tensors[g->output]);
                float *x = inputs_for(ms[i], B, 7u + (unsigned)(31 * i + k + 100 * round));
                float *a = malloc(sizeof(float) * (size_t)(C * B)), *b = malloc(sizeof(float) * (size_t)(C * B));
                CHECK(x && a && b);
                CHECK_OK(snn_graph_run(g, x, B, a, NULL, NULL, NULL));
                CHECK_OK(snn_graph_run_ws(g, ws, x, B, b, NULL, NULL, NULL));
                CHECK_MSG(!memcmp(a, b, sizeof(float) * (size_t)(C * B)),
                          "%s batch %d round %d: workspace run differs from a fresh run", names[i], B,
                          round);
                snn_graph_ws_poison(ws);
                free(x);
                free(a);
                free(b);
            }
    snn_graph_ws_free(ws);
    free_models(ms, n);
}

TEST(net_graph_zoo_spiking_is_deterministic)
{
    snn_model *ms[MAX_MODELS];
    char names[MAX_MODELS][64];
    int n = all_models(ms, names);
    const char *kv[][2] = {{"scale_firing_rates", "40"}, {"v0", "uniform:5"}};
    for (int i = 0; i < n; i++) {
        snn_net *net = tnet_new(ms[i], kv, 2);
        CHECK(net);
        const int B = 2, T = 13, C = snn_net_nclasses(net);
        float *x = inputs_for(ms[i], B, 7u + (unsigned)i);
        snn_result a, b;
        CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_FAST, &a));
        double spikes = 0;
        for (int l = 0; l < a.nlayers; l++) spikes += a.layers[l].spikes;
        CHECK_MSG(spikes > 50, "%s: only %g spikes", names[i], spikes);
        int chunks[] = {0, 1, 5};
        for (int k = 0; k < 3; k++) {
            CHECK_OK(tnet_run(net, x, B, T, chunks[k], SNN_ENGINE_FAST, &b));
            double maxd = 0;
            for (int j = 0; j < T * B * C; j++) maxd = fmax(maxd, fabs(a.probs[j] - b.probs[j]));
            /* bit for bit: every frame is computed alone, whatever its chunk */
            CHECK_MSG(maxd == 0, "%s chunk %d: differs by %g", names[i], chunks[k], maxd);
            for (int l = 0; l < a.nlayers; l++)
                CHECK_MSG(a.layers[l].spikes == b.layers[l].spikes,
                          "%s chunk %d layer %d: %g vs %g spikes", names[i], chunks[k], l,
                          a.layers[l].spikes, b.layers[l].spikes);
            snn_result_deinit(&b);
        }
        /* the reference engine spikes alike (summation order aside) */
        CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_REFERENCE, &b));
        double sb = 0;
        for (int l = 0; l < b.nlayers; l++) sb += b.layers[l].spikes;
        CHECK_MSG(fabs(sb / spikes - 1.0) < 0.02, "%s: reference %g vs fast %g spikes", names[i],
                  sb, spikes);
        snn_result_deinit(&b);
        snn_result_deinit(&a);
        free(x);
        snn_net_free(net);
    }
    free_models(ms, n);
}

/* The streaming case, one image on a team of 2, runs pipelined (engine.c:
 * the layers after a cut a chunk behind, on the helper): for every cut,
 * the cut the engine places itself after its probe runs, and no pipeline,
 * the probabilities, spike statistics and raster equal the 1-thread run's
 * bit for bit, with and without synapses (each path one step late, or
 * none: joins of layers on both sides of a cut); the step callback sees
 * the chunks in order and can cancel. */
typedef struct cb_log {
    int next, calls, cancel_at;
} cb_log;

static int cb_check(void *ud, const snn_result *res, int first, int last)
{
    cb_log *lg = ud;
    if (first != lg->next || last <= first) lg->next = -1000000;
    else lg->next = last;
    return ++lg->calls == lg->cancel_at;
}

static void run_team(const snn_net *net, const float *x, int T, int chunk, int threads, int cut,
                     int runs, int early, snn_result *r, cb_log *lg)
{
    snn_error err = {0};
    snn_engine *e = snn_engine_new(net, 1, T, SNN_ENGINE_FAST, &err);
    CHECK(e);
    CHECK_OK(snn_engine_set_threads(e, threads, &err));
    engine_pipe_cut(e, cut);
    CHECK_OK(snn_result_init(r, net, 1, T, 16));
    snn_run_opts o;
    snn_run_opts_init(&o);
    o.steps = T;
    o.chunk = chunk;
    o.raster_layer = 1;
    o.cb = cb_check;
    o.cb_ud = lg;
    if (early) /* stops once the readout has had input for 2 steps */
        o.early_exit = (snn_early_exit){.patience = 2, .min_steps = 3};
    for (int i = 0; i < runs; i++) { /* the last run's results are kept */
        *lg = (cb_log){0};
        CHECK_OK(snn_engine_run(e, x, 1, &o, r, &err));
    }
    snn_engine_free(e);
}

TEST(net_graph_pipeline_equals_one_thread)
{
    snn_model *ms[MAX_MODELS];
    char names[MAX_MODELS][64];
    int n = all_models(ms, names);
    const char *kvs[2][3][2] = {{{"scale_firing_rates", "40"}, {"v0", "uniform:5"}, {"synapse", "0.005"}},
                               {{"scale_firing_rates", "40"}, {"v0", "uniform:5"}, {"synapse", "none"}}};
    int pipelined_cuts = 0, stopped_early = 0;
    for (int i = 0; i < n; i++)
        for (int syn = 0; syn < 2; syn++) {
            snn_net *net = tnet_new(ms[i], kvs[syn], 3);
            CHECK(net);
            const int T = 11, C = snn_net_nclasses(net), L = snn_net_nlayers(net);
            const int S = L - 1;
            float *x = inputs_for(ms[i], 1, 31u + (unsigned)i);
            /* chunks 1, 3 and the default; then an early exit */
            const int chunks[] = {1, 3, 0, 1}, early[] = {0, 0, 0, 1};
            for (int k = 0; k < 4; k++) {
                snn_result a, b;
                cb_log la, lb;
                run_team(net, x, T, chunks[k], 1, 0, 1, early[k], &a, &la);
                CHECK_MSG(early[k] || la.next == T, "%s: one thread's callbacks end at %d",
                          names[i], la.next);
                stopped_early += a.steps < T;
                /* cut -1: probe runs, then pipelined at the engine's own cut */
                for (int cut = -1; cut < S; cut++) {
                    run_team(net, x, T, chunks[k], 2, cut, cut < 0 ? 3 : 1, early[k], &b, &lb);
                    pipelined_cuts += cut > 0;
                    CHECK_MSG(lb.next == la.next && lb.calls == la.calls && a.steps == b.steps,
                              "%s chunk %d cut %d: callbacks end at %d after %d calls", names[i],
                              chunks[k], cut, lb.next, lb.calls);
                    CHECK_MSG(!memcmp(a.probs, b.probs, sizeof(float) * (size_t)(T * C)),
                              "%s synapse %d chunk %d cut %d: probabilities differ", names[i], syn,
                              chunks[k], cut);
                    CHECK(!memcmp(a.raster.counts, b.raster.counts, sizeof(uint16_t) * 16 * T));
                    for (int l = 1; l < L; l++) {
                        CHECK_MSG(a.layers[l].spikes == b.layers[l].spikes &&
                                      a.layers[l].fired_neurons == b.layers[l].fired_neurons &&
                                      a.layers[l].spikes_by_image[0] == b.layers[l].spikes_by_image[0] &&
                                      a.layers[l].syn_applied == b.layers[l].syn_applied,
                                  "%s chunk %d cut %d layer %d: statistics differ", names[i],
                                  chunks[k], cut, l);
                        CHECK(!memcmp(a.layers[l].spikes_per_step, b.layers[l].spikes_per_step,
                                      sizeof(double) * T));
                    }
                    snn_result_deinit(&b);
                }
                snn_result_deinit(&a);
            }
            /* a callback that cancels stops a pipelined run after its first chunk */
            snn_error err = {0};
            snn_engine *e = snn_engine_new(net, 1, T, SNN_ENGINE_FAST, &err);
            CHECK(e);
            CHECK_OK(snn_engine_set_threads(e, 2, &err));
            engine_pipe_cut(e, S > 1 ? 1 : 0);
            snn_result r;
            CHECK_OK(snn_result_init(&r, net, 1, T, 0));
            snn_run_opts o;
            snn_run_opts_init(&o);
            o.steps = T;
            o.chunk = 2;
            cb_log lg = {.cancel_at = 1};
            o.cb = cb_check;
            o.cb_ud = &lg;
            CHECK(snn_engine_run(e, x, 1, &o, &r, &err) == SNN_ECANCELLED);
            CHECK(lg.calls == 1 && lg.next == 2);
            snn_result_deinit(&r);
            snn_engine_free(e);
            free(x);
            snn_net_free(net);
        }
    CHECK(pipelined_cuts > 0 && stopped_early > 0);
    free_models(ms, n);
}

/* Random frames at a given density (values like spikes: 0 or a height). */
static void random_frames(float *x, int64_t n, double density, int spiky)
{
    for (int64_t i = 0; i < n; i++) {
        float u = urand();
        x[i] = u < density ? (spiky ? 20.0f * (1 + (int)(urand() * 2)) : urand() * 2 - 0.5f) : 0.0f;
    }
}

static int64_t operand_size(const kop *op, int k)
{
    return op->kind == KOP_CONCAT ? (int64_t)op->in.h * op->in.w * op->cin[k] : kshape_size(&op->in);
}

TEST(net_graph_kernels_match_reference)
{
    snn_model *ms[MAX_MODELS];
    char names[MAX_MODELS][64];
    int n = all_models(ms, names);
    snn_error err = {0};
    ms[n] = snn_model_load(test_path("models/fashion-mnist"), &err);
    if (ms[n]) snprintf(names[n++], 64, "fashion-mnist");
    const snn_kernel_mode km[] = {SNN_KERNELS_ADAPTIVE, SNN_KERNELS_DENSE, SNN_KERNELS_SCATTER,
                                  SNN_KERNELS_GATHER};
    const double dens[] = {0.03, 0.3, 1.0};
    const int NF = 3;
    int nops = 0, kinds = 0;
    kteam *teams[2] = {kteam_new(2), kteam_new(3)};
    CHECK(teams[0] && teams[1]);
    for (int i = 0; i < n; i++) {
        snn_net *net = tnet_new(ms[i], NULL, 0);
        CHECK(net);
        for (int s = 0; s < net->nstages; s++)
            for (int o = 0; o < net->stages[s].nops; o++) {
                const kop *op = &net->stages[s].ops[o];
                nops++;
                kinds |= 1 << op->kind;
                int64_t osz = kshape_size(&op->out);
                float *in[KOP_MAX_IN];
                for (int k = 0; k < op->nin; k++) in[k] = malloc(sizeof(float) * (size_t)(NF * operand_size(op, k)));
                float *want = malloc(sizeof(float) * (size_t)(NF * osz));
                float *got = malloc(sizeof(float) * (size_t)(NF * osz));
                float *split = malloc(sizeof(float) * (size_t)(NF * osz));
                float *sc = malloc(sizeof(float) * (size_t)(NF * osz));
                float *fm = malloc(sizeof(float) * (size_t)(NF * osz));
                float *scratch = malloc(sizeof(float) * (size_t)(kop_scratch_floats(op, NF) + 1));
                for (int d = 0; d < 3; d++) {
                    for (int k = 0; k < op->nin; k++) random_frames(in[k], NF * operand_size(op, k), dens[d], s > 0);
                    for (int f = 0; f < NF; f++) {
                        const float *fin[KOP_MAX_IN];
                        for (int k = 0; k < op->nin; k++) fin[k] = in[k] + f * operand_size(op, k);
                        kop_apply_ref(op, fin, want + f * osz, 0);
                    }
                    double scale = 1e-6;
                    for (int64_t j = 0; j < NF * osz; j++) scale = fmax(scale, fabs(want[j]));
                    /* every CPU tier up to this machine's (plain, AVX2, AVX-512) */
                    const int top = snn_simd_fast;
                    for (int simd = 0; simd <= top; simd++)
                        for (int mode = 0; mode < 4; mode++) {
                            int keep = snn_simd_fast;
                            snn_simd_fast = simd;
                            snn_kernels_set(km[mode]);
                            kop_apply_fast(op, (const float *const *)in, got, NF, scratch);
                            snn_simd_fast = keep;
                            /* conv: the scatter gives the gather's floats exactly, and
                             * the FMA tiers agree with each other exactly */
                            if (op->kind == KOP_CONV && op->group == 1 && mode >= 2) {
                                if (mode == 2) memcpy(sc, got, sizeof(float) * (size_t)(NF * osz));
                                else
                                    CHECK_MSG(!memcmp(sc, got, sizeof(float) * (size_t)(NF * osz)),
                                              "%s stage %d op %d density %g simd %d: scatter != gather",
                                              names[i], s, o, dens[d], simd);
                                if (simd == 1) memcpy(fm, got, sizeof(float) * (size_t)(NF * osz));
                                if (simd == 2)
                                    CHECK_MSG(!memcmp(fm, got, sizeof(float) * (size_t)(NF * osz)),
                                              "%s stage %d op %d density %g mode %d: AVX-512 != AVX2",
                                              names[i], s, o, dens[d], mode);
                            }
                            double maxd = 0;
                            for (int64_t j = 0; j < NF * osz; j++) maxd = fmax(maxd, fabs(got[j] - want[j]));
                            CHECK_MSG(maxd <= 2e-5 * scale, "%s stage %d op %d kind %d density %g "
                                      "simd %d mode %d: %g (scale %g)", names[i], s, o, op->kind,
                                      dens[d], simd, mode, maxd, scale);
                            /* a team's parts give the serial kernel's floats exactly */
                            for (int t = 0; t < 2 && simd; t++) {
                                memset(split, 0xff, sizeof(float) * (size_t)(NF * osz));
                                snn_simd_fast = simd; /* the tier picks the GEMM's break-even */
                                kop_apply_team(op, (const float *const *)in, split, NF, scratch, teams[t]);
                                snn_simd_fast = keep;
                                CHECK_MSG(!memcmp(split, got, sizeof(float) * (size_t)(NF * osz)),
                                          "%s stage %d op %d kind %d density %g mode %d: team of %d",
                                          names[i], s, o, op->kind, dens[d], mode, t + 2);
                            }
                        }
                    if (op->kind == KOP_MAXPOOL) {
                        /* the gate: fast and reference twins over the frames */
                        int64_t ssz = kshape_size(&op->in) + kshape_size(&op->out);
                        float *g1 = calloc((size_t)ssz, sizeof(float)), *g2 = calloc((size_t)ssz, sizeof(float));
                        for (int simd = 0; simd <= top; simd++) {
                            int keep = snn_simd_fast;
                            snn_simd_fast = simd;
                            memset(g1, 0, sizeof(float) * (size_t)ssz);
                            memset(g2, 0, sizeof(float) * (size_t)ssz);
                            kop_maxpool_gate(op, in[0], got, NF, g1, 0);
                            kop_maxpool_gate(op, in[0], want, NF, g2, 1);
                            snn_simd_fast = keep;
                            CHECK(!memcmp(got, want, sizeof(float) * (size_t)(NF * osz)));
                        }
                        free(g1);
                        free(g2);
                    }
                }
                snn_kernels_set(SNN_KERNELS_ADAPTIVE);
                for (int k = 0; k < op->nin; k++) free(in[k]);
                free(want);
                free(got);
                free(split);
                free(sc);
                free(fm);
                free(scratch);
            }
        snn_net_free(net);
    }
    kteam_free(teams[0]);
    kteam_free(teams[1]);
    /* every op kind was exercised */
    CHECK_MSG(kinds == (1 << (KOP_CONCAT + 1)) - 1, "kinds %x", kinds);
    CHECK(nops > 30);
    free_models(ms, n);
}

/* A 2x2 average pool read only by a conv runs fused with it (the events
 * listed from the pool computed on the fly): the floats of the pool and
 * the conv run one after the other, in every kernel mode, tier and team,
 * with channel counts that exercise the partial vectors (40) and the
 * listing in blocks of channels (300), odd input sizes (the pool drops the
 * last row and column) and dense frames (pooled for the GEMM). */
TEST(net_graph_pool_conv_fused_equals_unfused)
{
    const snn_kernel_mode km[] = {SNN_KERNELS_ADAPTIVE, SNN_KERNELS_DENSE, SNN_KERNELS_SCATTER,
                                  SNN_KERNELS_GATHER};
    const double dens[] = {0.03, 0.3, 1.0};
    const int chans[] = {40, 300}, NF = 3;
    kteam *team = kteam_new(2);
    CHECK(team);
    for (int ci = 0; ci < 2; ci++) {
        const int C = chans[ci], H = ci ? 5 : 9, W = ci ? 7 : 11, Co = 24;
        kop pool, conv;
        memset(&pool, 0, sizeof pool);
        memset(&conv, 0, sizeof conv);
        pool.kind = KOP_AVGPOOL;
        pool.in = (kshape){C, H, W, 1};
        pool.out = (kshape){C, H / 2, W / 2, 1};
        pool.nin = 1;
        pool.src[0] = -1;
        pool.kh = pool.kw = pool.sh = pool.sw = 2;
        pool.dh = pool.dw = 1;
        pool.group = 1;
        pool.state = -1;
        conv.kind = KOP_CONV;
        conv.in = pool.out;
        conv.out = (kshape){Co, H / 2, W / 2, 1};
        conv.nin = 1;
        conv.src[0] = 0;
        conv.kh = conv.kw = 3;
        conv.sh = conv.sw = conv.dh = conv.dw = 1;
        conv.pt = conv.pl = conv.pb = conv.pr = 1;
        conv.group = 1;
        conv.state = -1;
        conv.nweights = 9LL * C * Co;
        CHECK(kop_pool_fuses(&pool, &conv));
        conv.w = malloc(sizeof(float) * (size_t)conv.nweights);
        for (int64_t i = 0; i < conv.nweights; i++) conv.w[i] = urand() - 0.5f;
        const int64_t isz = kshape_size(&pool.in), psz = kshape_size(&pool.out),
                      osz = kshape_size(&conv.out);
        float *in = malloc(sizeof(float) * (size_t)(NF * isz));
        float *pooled = malloc(sizeof(float) * (size_t)(NF * psz));
        float *want = malloc(sizeof(float) * (size_t)(NF * osz));
        float *got = malloc(sizeof(float) * (size_t)(NF * osz));
        int64_t nsc = kop_scratch_floats(&conv, NF);
        float *scratch = malloc(sizeof(float) * (size_t)(nsc + 1));
        for (int d = 0; d < 3; d++) {
            random_frames(in, NF * isz, dens[d], 1);
            for (int simd = 0; simd <= snn_simd_fast; simd++)
                for (int mode = 0; mode < 4; mode++)
                    for (int t = 0; t < 1 + (simd == snn_simd_fast); t++) { /* a team: top tier */
                        int keep = snn_simd_fast;
                        snn_simd_fast = simd;
                        snn_kernels_set(km[mode]);
                        kteam *tm = t ? team : NULL;
                        const float *pin[KOP_MAX_IN] = {in}, *cin[KOP_MAX_IN] = {pooled};
                        kop_apply_team(&pool, pin, pooled, NF, scratch, tm);
                        kop_apply_team(&conv, cin, want, NF, scratch, tm);
                        memset(pooled, 0, sizeof(float) * (size_t)(NF * psz));
                        memset(got, 0xff, sizeof(float) * (size_t)(NF * osz));
                        kop_apply_pool_conv(&pool, &conv, in, pooled, got, NF, scratch, tm);
                        snn_simd_fast = keep;
                        CHECK_MSG(!memcmp(want, got, sizeof(float) * (size_t)(NF * osz)),
                                  "C %d density %g simd %d mode %d team %d: fused != unfused", C,
                                  dens[d], simd, mode, t);
                    }
        }
        snn_kernels_set(SNN_KERNELS_ADAPTIVE);
        free(conv.w);
        free(in);
        free(pooled);
        free(want);
        free(got);
        free(scratch);
    }
    /* not fused: a pool with a stride of 1, or a grouped conv */
    kop a = {.kind = KOP_AVGPOOL, .kh = 2, .kw = 2, .sh = 1, .sw = 1, .in = {8, 4, 4, 1},
             .out = {8, 3, 3, 1}},
        c = {.kind = KOP_CONV, .group = 1, .nin = 1, .in = {8, 3, 3, 1}};
    CHECK(!kop_pool_fuses(&a, &c));
    a.sh = a.sw = 2;
    a.out = (kshape){8, 2, 2, 1};
    c.in = a.out;
    CHECK(kop_pool_fuses(&a, &c));
    c.group = 2;
    CHECK(!kop_pool_fuses(&a, &c));
    kteam_free(team);
}

TEST(net_graph_maxpool_gate_passes_the_most_active_input)
{
    /* one 2x1 window, one channel: input 1 leads from step 0; input 0
     * catches up at steps 1 and 3 but never overtakes, so the output is
     * input 1's train and counts max(3, 3) = 3 spikes, not 5 */
    kop op = {0};
    op.kind = KOP_MAXPOOL;
    op.in = (kshape){1, 2, 1, 1};
    op.out = (kshape){1, 1, 1, 1};
    op.kh = 2;
    op.kw = 1;
    op.sh = op.sw = 1;
    op.nin = 1;
    const float in[7][2] = {{0, 1}, {1, 0}, {0, 1}, {1, 0}, {1, 1}, {1, 0}, {1, 0}};
    /* accumulated (0,1) (1,1) (1,2) (2,2) (3,3) (4,3): input 0 leads at step 5 */
    const float want[7] = {1, 0, 1, 0, 1, 1, 1};
    for (int ref = 0; ref < 2; ref++) {
        float acc[3] = {0}, out[7];
        kop_maxpool_gate(&op, &in[0][0], out, 4, acc, ref);  /* chunks of 4 and 3 */
        kop_maxpool_gate(&op, &in[4][0], out + 4, 3, acc, ref);
        for (int t = 0; t < 7; t++) CHECK_MSG(out[t] == want[t], "ref %d step %d: %g", ref, t, out[t]);
    }
}

TEST(net_graph_maxpool_avg_is_reported)
{
    snn_model *m = zoo_model(2);
    CHECK(m);
    const char *kv[][2] = {{"neuron", "relu"}, {"synapse", "none"}, {"maxpool", "avg"}};
    snn_net *net = tnet_new(m, kv, 3);
    CHECK(net);
    CHECK_EQ_INT(snn_net_nnotes(net), 2);
    CHECK(strstr(snn_net_note(net, 0), "/b3/pool/MaxPool") && strstr(snn_net_note(net, 0), "AveragePool"));
    CHECK(snn_net_note(net, 2) == NULL);
    CHECK(strstr(net->layers[4].info.ops, "AveragePool"));
    /* the function changed: rate mode no longer equals the ANN */
    float *x = inputs_for(m, 2, 3);
    float ann[10];
    ann_probs(m, net, x, 2, ann);
    snn_result r;
    CHECK_OK(tnet_run(net, x, 2, 1, 0, SNN_ENGINE_FAST, &r));
    double maxd = 0;
    for (int j = 0; j < 10; j++) maxd = fmax(maxd, fabs(r.probs[j] - ann[j]));
    CHECK(maxd > 1e-4);
    snn_result_deinit(&r);
    snn_net_free(net);
    /* max_pool=avg is the same key; anything else is refused */
    snn_convert_params p;
    snn_error err = {0};
    snn_convert_params_init(&p);
    CHECK_OK(snn_convert_params_set(&p, "max_pool", "avg", &err));
    CHECK(p.maxpool == SNN_MAXPOOL_AVG);
    char buf[512];
    snn_convert_params_format(&p, buf, sizeof buf);
    CHECK(strstr(buf, "maxpool=avg"));
    CHECK(snn_convert_params_set(&p, "maxpool", "max", &err) == SNN_EINVALID);
    CHECK_OK(snn_convert_params_set(&p, "maxpool", "gated", &err));
    CHECK(p.maxpool == SNN_MAXPOOL_GATED);
    free(x);
    snn_model_free(m);
}

/* Builds x -> Conv -> Relu -> (op of the activation) -> Gemm. */
static snn_model *one_join(const char *what)
{
    rng_state = 5;
    ob_model *om = zoo_begin();
    conv(om, "c1", "x", "c1", 4, 3, 3, 1, 1, 1, 0.1f);
    relu(om, "c1", "c1", "r1");
    if (!strcmp(what, "mul")) {
        ob_node(om, "Mul", "/sq/Mul", "r1,r1", "j");
    } else if (!strcmp(what, "input")) {
        conv(om, "c2", "x", "c2", 4, 3, 1, 1, 0, 1, 0.0f);
        ob_node(om, "Add", "/skip/Add", "r1,c2", "j");
    } else {
        Onnx__NodeProto *c = ob_node(om, "Concat", "/cat/Concat", "r1,r1", "j");
        ob_attr_i(c, "axis", 2);
    }
    float w[5 * 512];
    int feat = !strcmp(what, "concat") ? 512 : 256;
    for (int i = 0; i < 5 * feat; i++) w[i] = urand() - 0.5f;
    ob_init_f(om, "fc.w", 2, (int64_t[]){5, feat}, w);
    ob_node(om, "Flatten", "/Flatten", "j", "flat");
    Onnx__NodeProto *g = ob_node(om, "Gemm", "/fc/Gemm", "flat,fc.w", "out");
    ob_attr_i(g, "transB", 1);
    ob_output(om, "out", 2, (int64_t[]){-1, 5});
    snn_graph *gr = graph_of(om, what);
    if (!gr) return NULL;
    return model_from(gr, "{\"name\":\"j\",\"classes\":[\"a\",\"b\",\"c\",\"d\",\"e\"],"
                          "\"input\":{\"channels\":3,\"height\":8,\"width\":8}}");
}

TEST(net_graph_refuses_nonlinear_joins_by_name)
{
    const char *what[] = {"mul", "concat"};
    const char *want[] = {"Mul node '/sq/Mul': multiplies two activations",
                          "Concat node '/cat/Concat': concatenates along an axis other than the channels"};
    for (int i = 0; i < 2; i++) {
        snn_model *m = one_join(what[i]);
        CHECK(m);
        snn_convert_params p = m->cfg.convert;
        snn_error err = {0};
        CHECK(snn_net_new(m, &p, &err) == NULL);
        CHECK_EQ_INT(err.code, SNN_EUNSUPPORTED);
        CHECK_MSG(strstr(err.msg, want[i]), "%s: %s", what[i], err.msg);
        snn_model_free(m);
    }
    /* the image joining a neuron path is planned (see the next test); its
     * spiking run does not depend on the chunk size either */
    snn_model *m = one_join("input");
    CHECK(m);
    const char *kv[][2] = {{"scale_firing_rates", "300"}};
    snn_net *net = tnet_new(m, kv, 1);
    CHECK(net && net->stages[1].mixed && net->layers[2].synapse);
    float *x = inputs_for(m, 2, 9);
    snn_result a, b;
    CHECK_OK(tnet_run(net, x, 2, 12, 0, SNN_ENGINE_FAST, &a));
    CHECK_MSG(a.layers[1].spikes > 20, "%g", a.layers[1].spikes);
    CHECK(fabs(a.probs[0] - a.probs[1]) > 1e-4); /* the readout sees something */
    for (int chunk = 1; chunk <= 5; chunk += 4) {
        CHECK_OK(tnet_run(net, x, 2, 12, chunk, SNN_ENGINE_FAST, &b));
        for (int j = 0; j < 12 * 2 * 5; j++) CHECK_NEAR(a.probs[j], b.probs[j], 1e-6);
        snn_result_deinit(&b);
    }
    snn_result_deinit(&a);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

/* The image joins a neuron path: x -> W1 -> Relu A; out = Wa.A + Wx.x.
 * nengo filters the connection from A and not the one from the input
 * node: z[k] = filt(Wa.A)[k-1] + Wx.x + ba + bx. */
TEST(net_graph_image_joins_a_neuron_path)
{
    const float W1[2 * 3] = {0.8f, -0.3f, 0.5f, 0.2f, 0.9f, -0.4f};
    const float b1[3] = {0.1f, 0.2f, 0.3f};
    const float Wa[3 * 2] = {0.7f, -0.5f, 0.2f, 0.3f, -0.4f, 0.6f};
    const float Wx[2 * 2] = {0.4f, -0.9f, 0.3f, 0.6f};
    const float ba[2] = {0.2f, -0.1f}, bx[2] = {-0.05f, 0.25f};
    ob_model *om = ob_new(13, "test");
    ob_input(om, "x", OB_FLOAT, 2, (int64_t[]){-1, 2});
    ob_init_f(om, "W1", 2, (int64_t[]){2, 3}, W1);
    ob_init_f(om, "b1", 1, (int64_t[]){3}, b1);
    ob_init_f(om, "Wa", 2, (int64_t[]){3, 2}, Wa);
    ob_init_f(om, "ba", 1, (int64_t[]){2}, ba);
    ob_init_f(om, "Wx", 2, (int64_t[]){2, 2}, Wx);
    ob_init_f(om, "bx", 1, (int64_t[]){2}, bx);
    ob_node(om, "Gemm", "/l1/Gemm", "x,W1,b1", "h1");
    ob_node(om, "Relu", "/l1/Relu", "h1", "A");
    ob_node(om, "Gemm", "/ra/Gemm", "A,Wa,ba", "ya");
    ob_node(om, "Gemm", "/skip/Gemm", "x,Wx,bx", "yx");
    ob_node(om, "Add", "/join/Add", "ya,yx", "out");
    ob_output(om, "out", 2, (int64_t[]){-1, 2});
    snn_graph *g = graph_of(om, "skip");
    CHECK(g);
    snn_model *m = model_from(g, "{\"name\":\"skip\",\"classes\":[\"a\",\"b\"],"
                                 "\"input\":{\"channels\":1,\"height\":1,\"width\":2}}");
    CHECK(m);
    const float x[2] = {0.7f, 0.4f};
    /* rate mode without a synapse is the ANN */
    const char *kv0[][2] = {{"neuron", "relu"}, {"synapse", "none"}};
    snn_net *net = tnet_new(m, kv0, 2);
    CHECK(net && net->stages[1].mixed && !strcmp(net->layers[2].info.inputs, "l1,input"));
    float ann[2];
    ann_probs(m, net, x, 1, ann);
    snn_result r;
    for (int mode = 0; mode < 2; mode++) {
        CHECK_OK(tnet_run(net, x, 1, 3, 0, mode ? SNN_ENGINE_REFERENCE : SNN_ENGINE_FAST, &r));
        for (int t = 0; t < 3; t++)
            for (int c = 0; c < 2; c++) CHECK_NEAR(snn_result_probs(&r, t, 0)[c], ann[c], 1e-6);
        snn_result_deinit(&r);
    }
    snn_net_free(net);
    /* with the synapse, by hand */
    const char *kv[][2] = {{"neuron", "relu"}, {"synapse", "0.005"}};
    net = tnet_new(m, kv, 2);
    CHECK(net);
    const int T = 5;
    CHECK_OK(tnet_run(net, x, 1, T, 0, SNN_ENGINE_FAST, &r));
    const double a = exp(-0.001 / 0.005), bf = 1 - a;
    double A[3], ya[2] = {0}, zx[2];
    for (int j = 0; j < 3; j++) A[j] = fmax(0.0, b1[j] + x[0] * W1[j] + x[1] * W1[3 + j]);
    for (int c = 0; c < 2; c++) zx[c] = bx[c] + x[0] * Wx[c] + x[1] * Wx[2 + c];
    for (int t = 0; t < T; t++) {
        double z[2];
        for (int c = 0; c < 2; c++) z[c] = ya[c] + zx[c] + ba[c];
        double mx = fmax(z[0], z[1]), s = exp(z[0] - mx) + exp(z[1] - mx);
        for (int c = 0; c < 2; c++)
            CHECK_MSG(fabs(snn_result_probs(&r, t, 0)[c] - exp(z[c] - mx) / s) < 1e-5,
                      "step %d class %d: %g vs %g", t, c, snn_result_probs(&r, t, 0)[c],
                      exp(z[c] - mx) / s);
        for (int c = 0; c < 2; c++) {
            double u = 0;
            for (int i = 0; i < 3; i++) u += A[i] * Wa[i * 2 + c];
            ya[c] = a * ya[c] + bf * u;
        }
    }
    snn_result_deinit(&r);
    snn_net_free(net);
    snn_model_free(m);
}

static void max_act(void *ud, const snn_graph *g, int node, const float *d, int64_t n)
{
    double *mx = ud;
    if (g->nodes[node].op != SNN_OP_RELU && g->nodes[node].op != SNN_OP_CLIP) return;
    for (int64_t i = 0; i < n; i++) mx[node] = fmax(mx[node], d[i]);
}

TEST(net_graph_calibration_keyed_by_neuron_layers)
{
    for (int z = 0; z < NZOO; z++) {
        snn_model *m = zoo_model(z);
        CHECK(m);
        float *x = inputs_for(m, 6, 11);
        snn_convert_params p = m->cfg.convert;
        snn_error err = {0};
        CHECK_OK(snn_convert_params_set(&p, "normalize", "max", &err));
        CHECK_OK(snn_calibrate(m, x, 6, &p, &err));
        double mx[256] = {0};
        CHECK_OK(snn_graph_run(m->graph, x, 6, (float[6 * 5]){0}, max_act, mx, NULL));
        snn_net *net = snn_net_new(m, &p, &err);
        CHECK_MSG(net, "%s", err.msg);
        int nn = 0;
        for (int l = 1; l < snn_net_nlayers(net); l++) {
            const klayer *ly = &net->layers[l];
            if (ly->info.kind != SNN_LAYER_NEURONS) continue;
            nn++;
            double want = mx[ly->node] > 0 ? mx[ly->node] : 1.0;
            CHECK_MSG(fabs(snn_convert_params_layer_threshold(&p, ly->info.name) - want) <= 1e-5 * want,
                      "%s %s: %g vs %g", ZOO[z].name, ly->info.name,
                      snn_convert_params_layer_threshold(&p, ly->info.name), want);
        }
        CHECK_EQ_INT(p.nthresholds, nn);
        snn_net_free(net);
        free(x);
        snn_model_free(m);
    }
}

TEST(net_graph_nhwc_fixture_converts_and_spikes)
{
    snn_error err = {0};
    snn_model *m = snn_model_load(test_path("tiny-nhwc"), &err);
    CHECK_MSG(m, "%s", err.msg);
    const char *kv[][2] = {{"scale_firing_rates", "500"}};
    snn_net *net = tnet_new(m, kv, 1);
    CHECK(net);
    CHECK(!net->input_nchw);
    CHECK(net->layers[2].logical_nhwc == 0 && !strcmp(net->layers[2].info.ops, "MaxPool+Conv"));
    float *x = inputs_for(m, 2, 21);
    snn_result r;
    CHECK_OK(tnet_run(net, x, 2, 20, 0, SNN_ENGINE_FAST, &r));
    for (int l = 1; l < 4; l++) CHECK_MSG(r.layers[l].spikes > 10, "layer %d: %g", l, r.layers[l].spikes);
    CHECK_EQ_INT(r.steps, 20);
    snn_result_deinit(&r);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

TEST(net_graph_raster_capacity_survives_a_small_raster)
{
    /* issue 13: a raster of 7 neurons made every later raster 7 neurons */
    snn_model *m = zoo_model(0);
    CHECK(m);
    snn_net *net = tnet_new(m, NULL, 0);
    snn_error err = {0};
    snn_engine *e = snn_engine_new(net, 1, 5, SNN_ENGINE_FAST, &err);
    snn_result r;
    CHECK_OK(snn_result_init(&r, net, 1, 5, 96));
    float *x = inputs_for(m, 1, 1);
    snn_run_opts o;
    snn_run_opts_init(&o);
    o.steps = 5;
    o.raster_layer = 1;
    o.raster_neurons = 7;
    CHECK_OK(snn_engine_run(e, x, 1, &o, &r, &err));
    CHECK_EQ_INT(r.raster.nneurons, 7);
    o.raster_layer = 2;
    o.raster_neurons = 96;
    CHECK_OK(snn_engine_run(e, x, 1, &o, &r, &err));
    CHECK_EQ_INT(r.raster.nneurons, 96);
    CHECK_EQ_INT(r.raster.max_neurons, 96);
    o.raster_layer = -1;
    CHECK_OK(snn_engine_run(e, x, 1, &o, &r, &err));
    CHECK_EQ_INT(r.raster.nneurons, 0);
    o.raster_layer = 1;
    o.raster_neurons = 0; /* 0 = all the result holds */
    CHECK_OK(snn_engine_run(e, x, 1, &o, &r, &err));
    CHECK_EQ_INT(r.raster.nneurons, 96);
    snn_result_deinit(&r);
    snn_engine_free(e);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

/* tests/data/zoo/NAME/ref.json: torch's logits for two fixed inputs. The
 * ANN interpreter reproduces them, and rate mode reproduces the ANN. */
#include <jansson.h>

static float *json_floats(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    float *v = malloc(sizeof(float) * (*n + 1));
    for (size_t i = 0; i < *n; i++) v[i] = (float)json_number_value(json_array_get(a, i));
    return v;
}

TEST(net_graph_torch_zoo_matches_torch)
{
    DIR *d = opendir(test_path("zoo"));
    if (!d) {
        test_skip("tests/data/zoo not present");
        return;
    }
    struct dirent *de;
    int checked = 0;
    while ((de = readdir(d))) {
        char rel[300];
        if (de->d_name[0] == '.') continue;
        snprintf(rel, sizeof rel, "zoo/%s/ref.json", de->d_name);
        json_error_t je;
        json_t *ref = json_load_file(test_path(rel), 0, &je);
        if (!ref) continue;
        snprintf(rel, sizeof rel, "zoo/%s", de->d_name);
        snn_error err = {0};
        snn_model *m = snn_model_load(test_path(rel), &err);
        CHECK_MSG(m, "%s: %s", rel, err.msg);
        size_t nin, nout;
        float *x = json_floats(json_object_get(ref, "input"), &nin);
        float *want = json_floats(json_object_get(ref, "output"), &nout);
        const int B = 2, C = (int)(nout / 2);
        CHECK(m && nin == B * snn_model_input_size(m) && C == m->cfg.nclasses);
        float got[2 * 16];
        CHECK_OK(snn_graph_run(m->graph, x, B, got, NULL, NULL, NULL));
        double maxd = 0, scale = 0;
        for (size_t i = 0; i < nout; i++) {
            maxd = fmax(maxd, fabs(got[i] - want[i]));
            scale = fmax(scale, fabs(want[i]));
        }
        CHECK_MSG(maxd <= 1e-5 * (1 + scale), "%s: ANN differs from torch by %g", rel, maxd);
        const char *kv[][2] = {{"neuron", "relu"}, {"synapse", "none"}};
        snn_net *net = tnet_new(m, kv, 2);
        CHECK(net);
        float ann[2 * 16];
        ann_probs(m, net, x, B, ann);
        snn_result r;
        CHECK_OK(tnet_run(net, x, B, 1, 0, SNN_ENGINE_FAST, &r));
        maxd = 0;
        for (int i = 0; i < B * C; i++) maxd = fmax(maxd, fabs(r.probs[i] - ann[i]));
        CHECK_MSG(maxd < 1e-5, "%s: rate mode differs from the ANN by %g", rel, maxd);
        snn_result_deinit(&r);
        snn_net_free(net);
        free(x);
        free(want);
        snn_model_free(m);
        json_decref(ref);
        checked++;
    }
    closedir(d);
    CHECK(checked >= 8);
}

/* Sum of three activations (two Adds in the IR) and a Concat of seven
 * inputs (nested Concats of at most SNN_NODE_MAX_IN): the ANN computes the
 * formula, and rate mode the ANN. a = Relu(x), s = a + 2a + (a + 1) = 4a + 1,
 * cat = [a s a s a s a] (14 channels), y = GAP(conv1x1(cat)). */
TEST(net_graph_sum_and_wide_concat)
{
    ob_model *om = ob_new(13, "test");
    ob_input(om, "x", OB_FLOAT, 4, (int64_t[]){-1, 2, 4, 4});
    ob_node(om, "Relu", "/a/Relu", "x", "a");
    ob_init_f(om, "two", 0, NULL, (float[]){2.0f});
    ob_init_f(om, "one", 0, NULL, (float[]){1.0f});
    ob_node(om, "Mul", "/m/Mul", "a,two", "a2");
    ob_node(om, "Add", "/p/Add", "a,one", "a1");
    ob_node(om, "Sum", "/s/Sum", "a,a2,a1", "s");
    Onnx__NodeProto *c = ob_node(om, "Concat", "/cat/Concat", "a,s,a,s,a,s,a", "cat");
    ob_attr_i(c, "axis", 1);
    float w[3 * 14];
    for (int o = 0; o < 3; o++)
        for (int k = 0; k < 14; k++) w[o * 14 + k] = 0.1f * (float)(o + 1) * (float)(k % 5 - 2);
    ob_init_f(om, "w", 4, (int64_t[]){3, 14, 1, 1}, w);
    ob_node(om, "Conv", "/c/Conv", "cat,w", "y4");
    ob_node(om, "GlobalAveragePool", "/gap/GlobalAveragePool", "y4", "g");
    ob_node(om, "Flatten", "/f/Flatten", "g", "out");
    ob_output(om, "out", 2, (int64_t[]){-1, 3});
    snn_graph *g = graph_of(om, "sum");
    CHECK(g);
    int nadd = 0, ncat = 0;
    for (int i = 0; i < g->nnodes; i++) {
        nadd += g->nodes[i].op == SNN_OP_ADD && !g->tensors[g->nodes[i].in[1]].data;
        ncat += g->nodes[i].op == SNN_OP_CONCAT;
    }
    CHECK_EQ_INT(nadd, 2);
    CHECK_EQ_INT(ncat, 2);
    snn_model *m = model_from(g, "{\"name\":\"sum\",\"classes\":[\"a\",\"b\",\"c\"],"
                                 "\"input\":{\"channels\":2,\"height\":4,\"width\":4}}");
    CHECK(m);
    float *x = inputs_for(m, 2, 17);
    for (int i = 0; i < 64; i++) x[i] -= 0.3f; /* some negative inputs */
    float y[6];
    CHECK_OK(snn_graph_run(m->graph, x, 2, y, NULL, NULL, NULL));
    for (int b = 0; b < 2; b++)
        for (int o = 0; o < 3; o++) {
            /* cat channel k: input k/2 of [a s a s a s a], channel k%2 */
            double want = 0;
            for (int k = 0; k < 14; k++) {
                int which = k / 2, ch = k % 2;
                double mean = 0;
                for (int p = 0; p < 16; p++) {
                    double a = fmax(0.0, x[b * 32 + ch * 16 + p]);
                    mean += (which % 2 ? 4 * a + 1 : a) / 16.0;
                }
                want += w[o * 14 + k] * mean;
            }
            CHECK_NEAR(y[b * 3 + o], want, 1e-5);
        }
    const char *kv[][2] = {{"neuron", "relu"}, {"synapse", "none"}};
    snn_net *net = tnet_new(m, kv, 2);
    CHECK(net);
    float ann[6];
    ann_probs(m, net, x, 2, ann);
    snn_result r;
    CHECK_OK(tnet_run(net, x, 2, 1, 0, SNN_ENGINE_FAST, &r));
    for (int i = 0; i < 6; i++) CHECK_NEAR(r.probs[i], ann[i], 1e-6);
    snn_result_deinit(&r);
    snn_net_free(net);
    free(x);
    snn_model_free(m);
}

/* nengo's graph semantics by hand: x -> W1 -> Relu A -> W2 -> Relu B, and
 * the readout Wa.A + Wb.B (an Add of two paths of different depth). Rate
 * neurons with Lowpass(5 ms): every connection from neurons is filtered
 * once and read one step late (nengo-semantics.md), the input connection
 * is not, and the join sums the filtered paths before the readout. */
TEST(net_graph_join_follows_nengo_synapses)
{
    const float W1[2 * 3] = {0.8f, -0.3f, 0.5f, 0.2f, 0.9f, -0.4f}; /* [in][out] */
    const float b1[3] = {0.1f, 0.2f, 0.3f};
    const float W2[3 * 3] = {0.5f, -0.2f, 0.3f, 0.1f, 0.4f, -0.3f, -0.2f, 0.3f, 0.6f};
    const float b2[3] = {0.05f, 0.1f, 0.4f};
    const float Wa[3 * 2] = {0.7f, -0.5f, 0.2f, 0.3f, -0.4f, 0.6f};
    const float Wb[3 * 2] = {-0.3f, 0.8f, 0.5f, -0.2f, 0.4f, 0.1f};
    const float ba[2] = {0.2f, -0.1f}, bb[2] = {0.05f, 0.15f};
    ob_model *om = ob_new(13, "test");
    ob_input(om, "x", OB_FLOAT, 2, (int64_t[]){-1, 2});
    ob_init_f(om, "W1", 2, (int64_t[]){2, 3}, W1);
    ob_init_f(om, "b1", 1, (int64_t[]){3}, b1);
    ob_init_f(om, "W2", 2, (int64_t[]){3, 3}, W2);
    ob_init_f(om, "b2", 1, (int64_t[]){3}, b2);
    ob_init_f(om, "Wa", 2, (int64_t[]){3, 2}, Wa);
    ob_init_f(om, "ba", 1, (int64_t[]){2}, ba);
    ob_init_f(om, "Wb", 2, (int64_t[]){3, 2}, Wb);
    ob_init_f(om, "bb", 1, (int64_t[]){2}, bb);
    ob_node(om, "Gemm", "/l1/Gemm", "x,W1,b1", "h1");
    ob_node(om, "Relu", "/l1/Relu", "h1", "A");
    ob_node(om, "Gemm", "/l2/Gemm", "A,W2,b2", "h2");
    ob_node(om, "Relu", "/l2/Relu", "h2", "B");
    ob_node(om, "Gemm", "/ra/Gemm", "A,Wa,ba", "ya");
    ob_node(om, "Gemm", "/rb/Gemm", "B,Wb,bb", "yb");
    ob_node(om, "Add", "/join/Add", "ya,yb", "out");
    ob_output(om, "out", 2, (int64_t[]){-1, 2});
    snn_graph *g = graph_of(om, "join");
    CHECK(g);
    snn_model *m = model_from(g, "{\"name\":\"join\",\"classes\":[\"a\",\"b\"],"
                                 "\"input\":{\"channels\":1,\"height\":1,\"width\":2}}");
    CHECK(m);
    const char *kv[][2] = {{"neuron", "relu"}, {"synapse", "0.005"}};
    snn_net *net = tnet_new(m, kv, 2);
    CHECK(net);
    CHECK_EQ_INT(snn_net_nlayers(net), 4); /* input, l1, l2, readout */
    CHECK_EQ_INT(net->stages[2].nsrc, 2);
    const float x[2] = {0.7f, 0.4f};
    const int T = 6;
    snn_result r;
    CHECK_OK(tnet_run(net, x, 1, T, 0, SNN_ENGINE_FAST, &r));
    const double a = exp(-0.001 / 0.005), bf = 1 - a;
    double A[3], yA2[3] = {0}, yAa[2] = {0}, yBb[2] = {0};
    for (int j = 0; j < 3; j++) A[j] = fmax(0.0, b1[j] + x[0] * W1[j] + x[1] * W1[3 + j]);
    for (int t = 0; t < T; t++) {
        double B[3], z[2];
        for (int j = 0; j < 3; j++) B[j] = fmax(0.0, yA2[j] + b2[j]); /* reads y[k-1] */
        for (int c = 0; c < 2; c++) z[c] = yAa[c] + yBb[c] + ba[c] + bb[c];
        double mx = fmax(z[0], z[1]), s = exp(z[0] - mx) + exp(z[1] - mx);
        for (int c = 0; c < 2; c++)
            CHECK_MSG(fabs(snn_result_probs(&r, t, 0)[c] - exp(z[c] - mx) / s) < 1e-5,
                      "step %d class %d: %g vs %g", t, c, snn_result_probs(&r, t, 0)[c],
                      exp(z[c] - mx) / s);
        /* the per-connection filters update after being read */
        for (int j = 0; j < 3; j++) {
            double u = 0;
            for (int i = 0; i < 3; i++) u += A[i] * W2[i * 3 + j];
            yA2[j] = a * yA2[j] + bf * u;
        }
        for (int c = 0; c < 2; c++) {
            double ua = 0, ub = 0;
            for (int i = 0; i < 3; i++) {
                ua += A[i] * Wa[i * 2 + c];
                ub += B[i] * Wb[i * 2 + c];
            }
            yAa[c] = a * yAa[c] + bf * ua;
            yBb[c] = a * yBb[c] + bf * ub;
        }
    }
    snn_result_deinit(&r);
    snn_net_free(net);
    snn_model_free(m);
}

/* The spiking max-pool gate converges to the ANN's max: on the zoo's VGG
 * graph (two Conv-ReLU-MaxPool blocks), the time-averaged spiking readout
 * approaches the rate network's (= the ANN with the same synapse), while
 * nengo's max_to_avg_pool computes another function. */
TEST(net_graph_gated_maxpool_converges_to_max)
{
    snn_error err = {0};
    snn_model *m = snn_model_load(test_path("zoo/vgg_maxpool"), &err);
    if (!m) {
        test_skip("tests/data/zoo/vgg_maxpool not present");
        return;
    }
    const int B = 4, T = 400, C = m->cfg.nclasses;
    float *x = inputs_for(m, B, 31);
    double lp[3][4][16]; /* rate, gated, avg: centred log-probabilities */
    for (int k = 0; k < 3; k++) {
        const char *kv[][2] = {{"scale_firing_rates", "1000"}, {"synapse", "0.005"},
                               {"v0", "half"}, {"readout", "mean"},
                               {"maxpool", k == 2 ? "avg" : "gated"},
                               {"neuron", k == 0 ? "relu" : "spiking-relu"}};
        snn_net *net = tnet_new(m, kv, 6);
        CHECK(net);
        snn_result r;
        CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_FAST, &r));
        if (k) CHECK(r.layers[1].spikes > 1000 && r.layers[2].spikes > 1000);
        for (int b = 0; b < B; b++) {
            const float *p = snn_result_probs(&r, T - 1, b);
            double mean = 0;
            for (int c = 0; c < C; c++) mean += log(p[c]) / C;
            for (int c = 0; c < C; c++) lp[k][b][c] = log(p[c]) - mean;
        }
        snn_result_deinit(&r);
        snn_net_free(net);
    }
    double eg = 0, ea = 0;
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            eg = fmax(eg, fabs(lp[1][b][c] - lp[0][b][c]));
            ea = fmax(ea, fabs(lp[2][b][c] - lp[0][b][c]));
        }
    CHECK_MSG(eg < 0.05 && ea > 0.5, "gated %g, avg %g from the rate network", eg, ea);
    free(x);
    snn_model_free(m);
}

/* A Clip (ReLU6) layer spikes at most at its maximum rate: the current is
 * clamped to jmax = max / amplitude, so the output averages to the clipped
 * activation. */
TEST(net_graph_clip_neurons_cap_their_rate)
{
    /* amplitude 0.05 (scale 20), clip 6: jmax = 120/s; J = 1000/s drives
     * 120 spikes per second, 12 in 100 steps of 1 ms */
    float v = 0, J = 1000, out;
    double spikes = 0, sum = 0;
    for (int t = 0; t < 100; t++) {
        spikes += snn_neuron_spiking_relu_max(&v, &J, &out, 1, 0.001f, 0.05f, 6.0f / 0.05f, NULL);
        sum += out;
    }
    CHECK_NEAR(spikes, 12, 0.5);
    CHECK_NEAR(sum / 100, 6.0, 0.1);
    /* below the cap it is the plain spiking ReLU */
    v = 0;
    J = 50;
    spikes = 0;
    for (int t = 0; t < 100; t++)
        spikes += snn_neuron_spiking_relu_max(&v, &J, &out, 1, 0.001f, 0.05f, 6.0f / 0.05f, NULL);
    CHECK_NEAR(spikes, 5, 0.5);
    /* in a net: the zoo's ReLU6 layers never exceed the clipped rate */
    snn_model *m = zoo_model(1);
    CHECK(m);
    const char *kv[][2] = {{"scale_firing_rates", "20"}};
    snn_net *net = tnet_new(m, kv, 1);
    CHECK(net);
    float *x = inputs_for(m, 1, 3);
    for (size_t i = 0; i < snn_model_input_size(m); i++) x[i] *= 3; /* past the cap */
    snn_result r;
    CHECK_OK(tnet_run(net, x, 1, 50, 0, SNN_ENGINE_FAST, &r));
    for (int l = 1; l <= 2; l++) {
        /* at most 6 / amplitude spikes per second per neuron: 6 in 50 steps */
        CHECK(net->layers[l].clip_max == 6.0f);
        CHECK_MSG(r.layers[l].spikes <= net->layers[l].info.neurons * 6.0 + 0.5, "layer %d: %g", l,
                  r.layers[l].spikes);
        CHECK(r.layers[l].spikes > 0);
    }
    /* the cap binds: without it the same layers fire more */
    snn_result u;
    for (int l = 1; l <= 2; l++) net->layers[l].clip_max = 0;
    CHECK_OK(tnet_run(net, x, 1, 50, 0, SNN_ENGINE_FAST, &u));
    CHECK_MSG(u.layers[1].spikes > r.layers[1].spikes * 1.5, "%g vs %g", u.layers[1].spikes,
              r.layers[1].spikes);
    snn_result_deinit(&u);
    snn_result_deinit(&r);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

/* maxpool is a config key (conversion.maxpool), a per-request override key
 * (its own overridable bit) and survives a config dump. */
TEST(net_graph_maxpool_config_key)
{
    snn_error err = {0};
    const char *js = "{\"name\":\"m\",\"classes\":[\"a\",\"b\"],"
                     "\"input\":{\"channels\":1,\"height\":4,\"width\":4},"
                     "\"conversion\":{\"maxpool\":\"avg\"},\"overridable\":[\"maxpool\",\"steps\"]}";
    snn_model_config cfg;
    CHECK_OK(snn_model_config_parse(&cfg, js, strlen(js), NULL, &err));
    CHECK(cfg.convert.maxpool == SNN_MAXPOOL_AVG);
    CHECK(snn_override_bit("maxpool") == SNN_OVR_MAXPOOL && SNN_OVR_MAXPOOL != 0);
    CHECK(cfg.overridable == (SNN_OVR_MAXPOOL | SNN_OVR_STEPS));
    char *dump = snn_model_config_dump(&cfg);
    CHECK(dump && strstr(dump, "\"maxpool\": \"avg\"") && strstr(dump, "\"overridable\""));
    free(dump);
    snn_model_config_deinit(&cfg);
    const char *bad = "{\"name\":\"m\",\"classes\":[\"a\",\"b\"],"
                      "\"input\":{\"channels\":1,\"height\":4,\"width\":4},"
                      "\"conversion\":{\"maxpool\":\"max\"}}";
    CHECK(snn_model_config_parse(&cfg, bad, strlen(bad), NULL, &err) == SNN_EINVALID);
    CHECK_MSG(strstr(err.msg, "maxpool: 'max' is not gated or avg"), "%s", err.msg);
}

/* An activation on an activation that has other readers is a neuron layer
 * fed through an identity stage (one with a single reader merges into it:
 * see the zoo's ReLU6). x -> Gemm -> Relu A -> Relu B; out = Wa.A + Wb.B. */
TEST(net_graph_activation_on_a_shared_activation)
{
    ob_model *om = ob_new(13, "test");
    ob_input(om, "x", OB_FLOAT, 2, (int64_t[]){-1, 4});
    float w1[4 * 3], wa[3 * 2], wb[3 * 2];
    rng_state = 77;
    for (int i = 0; i < 12; i++) w1[i] = urand() - 0.3f;
    for (int i = 0; i < 6; i++) {
        wa[i] = urand() - 0.5f;
        wb[i] = urand() - 0.5f;
    }
    ob_init_f(om, "W1", 2, (int64_t[]){4, 3}, w1);
    ob_init_f(om, "Wa", 2, (int64_t[]){3, 2}, wa);
    ob_init_f(om, "Wb", 2, (int64_t[]){3, 2}, wb);
    ob_node(om, "MatMul", "/l1/MatMul", "x,W1", "h");
    ob_node(om, "Relu", "/a/Relu", "h", "A");
    ob_node(om, "Relu", "/b/Relu", "A", "B");
    ob_node(om, "MatMul", "/ra/MatMul", "A,Wa", "ya");
    ob_node(om, "MatMul", "/rb/MatMul", "B,Wb", "yb");
    ob_node(om, "Add", "/out/Add", "ya,yb", "out");
    ob_output(om, "out", 2, (int64_t[]){-1, 2});
    snn_graph *g = graph_of(om, "relu-relu");
    CHECK(g);
    snn_model *m = model_from(g, "{\"name\":\"rr\",\"classes\":[\"a\",\"b\"],"
                                 "\"input\":{\"channels\":1,\"height\":1,\"width\":4}}");
    CHECK(m);
    const char *kv[][2] = {{"neuron", "relu"}, {"synapse", "none"}};
    snn_net *net = tnet_new(m, kv, 2);
    CHECK(net);
    CHECK_EQ_INT(snn_net_nlayers(net), 4);
    CHECK_MSG(!strcmp(net->layers[2].info.ops, "Identity") && !strcmp(net->layers[2].info.inputs, "l1"),
              "%s reads %s", net->layers[2].info.ops, net->layers[2].info.inputs);
    float *x = inputs_for(m, 3, 5);
    float ann[6];
    ann_probs(m, net, x, 3, ann);
    snn_result r;
    CHECK_OK(tnet_run(net, x, 3, 1, 0, SNN_ENGINE_FAST, &r));
    for (int i = 0; i < 6; i++) CHECK_NEAR(r.probs[i], ann[i], 1e-6);
    snn_result_deinit(&r);
    snn_net_free(net);
    free(x);
    snn_model_free(m);
}

/* normalize=ceiling: a Clip layer's threshold is its ceiling, without data
 * (a QCFS- or ReLU6-trained network); a layer without a ceiling needs a
 * calibrated threshold and is named when it has none. */
TEST(net_graph_ceiling_thresholds)
{
    snn_model *m = zoo_model(1); /* stem, dw: ReLU6; pw, gc: ReLU */
    CHECK(m);
    snn_convert_params p;
    snn_convert_params_init(&p);
    snn_error err = {0};
    CHECK_OK(snn_convert_params_set(&p, "normalize", "ceiling", &err));
    snn_net *net = snn_net_new(m, &p, &err);
    CHECK(!net);
    CHECK_MSG(strstr(err.msg, "normalize=ceiling: layer 'pw' has no Clip ceiling"), "%s", err.msg);
    CHECK_OK(snn_convert_params_set(&p, "thresholds", "pw=2,gc=3,stem=1", &err));
    net = snn_net_new(m, &p, &err);
    CHECK_MSG(net, "%s", err.msg);
    const float want[] = {0, 6, 6, 2, 3};
    for (int l = 1; l <= 4; l++)
        CHECK_MSG(net->layers[l].info.threshold == want[l], "%s: %g", net->layers[l].info.name,
                  net->layers[l].info.threshold);
    snn_net_free(net);
    char buf[512];
    snn_convert_params_format(&p, buf, sizeof buf);
    CHECK_MSG(strstr(buf, "normalize=ceiling"), "%s", buf);
    snn_model_free(m);
}

/* Layers whose local names collide (every residual block has a "conv1")
 * take their enclosing scope, as torch's module path; what still collides
 * is numbered once. */
TEST(net_graph_layer_names_qualified_on_collision)
{
    rng_state = 5;
    ob_model *om = zoo_begin();
    conv(om, "stem", "x", "c0", 4, 3, 3, 1, 1, 1, 0.1f);
    relu(om, "stem", "c0", "r0");
    conv(om, "layers/layers.0/conv1", "r0", "c1", 4, 4, 3, 1, 1, 1, 0.1f);
    relu(om, "layers/layers.0/act1", "c1", "r1");
    conv(om, "layers/layers.1/conv1", "r1", "c2", 4, 4, 3, 1, 1, 1, 0.1f);
    relu(om, "layers/layers.1/act1", "c2", "r2");
    conv(om, "x/a/conv1", "r2", "c3", 4, 4, 3, 1, 1, 1, 0.1f);
    relu(om, "a/act", "c3", "r3");
    conv(om, "y/a/conv1", "r3", "c4", 4, 4, 3, 1, 1, 1, 0.1f);
    relu(om, "a/act2", "c4", "r4");
    head(om, "r4", 4, 1, 1);
    snn_graph *g = graph_of(om, "names");
    CHECK(g);
    snn_model *m = model_from(g, "{\"name\":\"n\",\"classes\":[\"a\",\"b\",\"c\",\"d\",\"e\"],"
                                 "\"input\":{\"channels\":3,\"height\":8,\"width\":8}}");
    CHECK(m);
    snn_net *net = tnet_new(m, NULL, 0);
    CHECK(net);
    const char *names[] = {"input", "stem", "layers.0.conv1", "layers.1.conv1", "a.conv1", "a.conv1_2"};
    for (int l = 0; l < 6; l++)
        CHECK_MSG(!strcmp(net->layers[l].info.name, names[l]), "%d: %s", l, net->layers[l].info.name);
    snn_net_free(net);
    snn_model_free(m);
}

/* neuron if on a Clip layer caps its spikes per step at the ceiling (one
 * per step when the threshold is the ceiling and the scale 1) and keeps
 * the excess charge: driven past the ceiling, every neuron of the ReLU6
 * layers fires at most once a step, and the most driven fire every step. */
TEST(net_graph_if_clip_caps_spikes_per_step)
{
    snn_model *m = zoo_model(1);
    CHECK(m);
    const char *kv[][2] = {{"neuron", "if"}, {"scale_firing_rates", "1"}, {"normalize", "ceiling"},
                           {"thresholds", "pw=2,gc=3"}, {"v0", "zero"}};
    snn_net *net = tnet_new(m, kv, 5);
    CHECK(net);
    float *x = inputs_for(m, 1, 3);
    for (size_t i = 0; i < snn_model_input_size(m); i++) x[i] *= 3; /* past the cap */
    const int T = 40;
    snn_result r;
    CHECK_OK(tnet_run(net, x, 1, T, 0, SNN_ENGINE_FAST, &r));
    for (int l = 1; l <= 2; l++) {
        CHECK(net->layers[l].clip_max == 6.0f && net->layers[l].info.threshold == 6.0f);
        for (int t = 0; t < T; t++)
            CHECK_MSG(r.layers[l].spikes_per_step[t] <= (double)net->layers[l].info.neurons,
                      "layer %d step %d: %g spikes for %lld neurons", l, t, r.layers[l].spikes_per_step[t],
                      (long long)net->layers[l].info.neurons);
        CHECK(r.layers[l].spikes > 0);
    }
    /* the reference engine agrees */
    snn_result q;
    CHECK_OK(tnet_run(net, x, 1, T, 0, SNN_ENGINE_REFERENCE, &q));
    for (int l = 1; l <= 2; l++) CHECK_NEAR(q.layers[l].spikes, r.layers[l].spikes, 0.5);
    snn_result_deinit(&q);
    snn_result_deinit(&r);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}
