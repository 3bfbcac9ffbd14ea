/* test_model.c: conversion parameter parsing, model config schema, model
 * directories and bare .onnx files, preprocessing, config save/reload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "net_helpers.h"
#include "snn/engine.h"
#include "snn/model.h"
#include "test.h"

TEST(convert_params_defaults_and_parse)
{
    snn_convert_params p;
    snn_error err = {0};
    snn_convert_params_init(&p);
    CHECK(p.neuron == SNN_NEURON_SPIKING_RELU);
    CHECK_NEAR(p.dt, 0.001, 0);
    CHECK_NEAR(p.synapse, 0.005, 0);
    CHECK_OK(snn_convert_params_set(&p, "scale-firing-rates", "20,conv1=10,dense=5", &err));
    CHECK_NEAR(p.scale, 20, 0);
    CHECK_NEAR(snn_convert_params_layer_scale(&p, "conv1"), 10, 0);
    CHECK_NEAR(snn_convert_params_layer_scale(&p, "dense"), 5, 0);
    CHECK_NEAR(snn_convert_params_layer_scale(&p, "conv2"), 20, 0);
    CHECK_OK(snn_convert_params_set(&p, "synapse", "none", &err));
    CHECK(p.synapse == 0);
    CHECK_OK(snn_convert_params_set(&p, "v0", "uniform:42", &err));
    CHECK(p.v0 == SNN_V0_UNIFORM && p.v0_seed == 42);
    CHECK_OK(snn_convert_params_set(&p, "normalize", "percentile:99.5", &err));
    CHECK(p.normalize == SNN_NORM_PERCENTILE);
    CHECK_NEAR(p.percentile, 99.5, 1e-5);
    CHECK_OK(snn_convert_params_set(&p, "readout", "mean", &err));
    char buf[512];
    snn_convert_params_format(&p, buf, sizeof buf);
    CHECK(strstr(buf, "synapse=none") && strstr(buf, "conv1=10") && strstr(buf, "v0=uniform:42") &&
          strstr(buf, "readout=mean"));
    /* errors name the key and keep the old value */
    CHECK(snn_convert_params_set(&p, "synapse", "-1", &err) == SNN_EINVALID);
    CHECK(strstr(err.msg, "synapse") != NULL);
    CHECK(snn_convert_params_set(&p, "scale_firing_rates", "abc", &err) == SNN_EINVALID);
    CHECK(snn_convert_params_set(&p, "scale_firing_rates", "0", &err) == SNN_EINVALID);
    CHECK(snn_convert_params_set(&p, "neuron", "lif", &err) == SNN_EINVALID);
    CHECK(snn_convert_params_set(&p, "v0", "uniform:x", &err) == SNN_EINVALID);
    CHECK(snn_convert_params_set(&p, "dt", "2", &err) == SNN_EINVALID);
    CHECK(snn_convert_params_set(&p, "normalize", "percentile:101", &err) == SNN_EINVALID);
    CHECK(snn_convert_params_set(&p, "bogus", "1", &err) == SNN_EINVALID);
    CHECK(strstr(err.msg, "bogus") != NULL);
    CHECK_NEAR(p.scale, 20, 0);
}

TEST(model_load_directory_and_bare_onnx)
{
    snn_error err = {0};
    snn_model *m = snn_model_load(test_path("models/fashion-mnist"), &err);
    CHECK_MSG(m, "%s", err.msg);
    CHECK(!strcmp(m->cfg.name, "fashion-mnist"));
    CHECK_EQ_INT(m->cfg.nclasses, 10);
    CHECK(!strcmp(m->cfg.classes[9], "Ankle boot"));
    CHECK_EQ_INT(m->cfg.in_c * 100 + m->cfg.in_h, 128);
    /* the conversion as config.json has it */
    json_t *cj = json_load_file(test_path("models/fashion-mnist/config.json"), 0, NULL);
    CHECK(cj);
    json_t *sv = json_object_get(json_object_get(cj, "conversion"), "scale_firing_rates");
    CHECK(json_is_number(sv) && m->cfg.convert.scale == (float)json_number_value(sv) &&
          m->cfg.steps == json_integer_value(json_object_get(cj, "steps")));
    json_decref(cj);
    snn_model_free(m);
    m = snn_model_load(test_path("models/fashion-mnist/model.onnx"), &err);
    CHECK_MSG(m, "%s", err.msg);
    CHECK(!strcmp(m->cfg.name, "model"));
    CHECK(!strcmp(m->cfg.classes[3], "3"));
    CHECK_EQ_INT(m->cfg.in_w, 28);
    CHECK_NEAR(m->cfg.convert.scale, 1, 0); /* nengo defaults */
    snn_model_free(m);
    CHECK(snn_model_load("/nonexistent/model", &err) == NULL);
    CHECK(err.code == SNN_ENOTFOUND);
}

static snn_model *fashion_graph(void)
{
    return snn_model_load(test_path("models/fashion-mnist/model.onnx"), NULL);
}

TEST(model_config_validation)
{
    snn_model *m = fashion_graph();
    CHECK(m);
    snn_model_config c;
    snn_error err = {0};
    const char *ok = "{\"name\":\"x\",\"classes\":[\"0\",\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\"],"
                     "\"input\":{\"channels\":1,\"height\":28,\"width\":28,\"scale\":0.5,\"mean\":0.1,\"std\":[2]},"
                     "\"steps\":12,\"conversion\":{\"synapse\":null,\"scale_firing_rates\":{\"default\":3,\"conv1\":4},"
                     "\"thresholds\":{\"conv1\":1.5}},\"early_exit\":{\"patience\":4,\"min_prob\":0.5},"
                     "\"overridable\":[\"steps\",\"synapse\"]}";
    CHECK_OK(snn_model_config_parse(&c, ok, strlen(ok), m->graph, &err));
    CHECK_EQ_INT(c.steps, 12);
    CHECK(c.convert.synapse == 0);
    CHECK_NEAR(snn_convert_params_layer_scale(&c.convert, "conv1"), 4, 0);
    CHECK_NEAR(snn_convert_params_layer_threshold(&c.convert, "conv1"), 1.5, 0);
    CHECK_EQ_INT(c.early_exit.patience, 4);
    CHECK(c.overridable == (SNN_OVR_STEPS | SNN_OVR_SYNAPSE));
    CHECK_NEAR(c.std[0], 2, 0);
    /* dump -> parse round trip */
    char *s = snn_model_config_dump(&c);
    snn_model_config c2;
    CHECK_OK(snn_model_config_parse(&c2, s, strlen(s), m->graph, &err));
    CHECK_EQ_INT(c2.steps, 12);
    CHECK_NEAR(c2.input_scale, 0.5, 1e-7);
    CHECK_NEAR(snn_convert_params_layer_threshold(&c2.convert, "conv1"), 1.5, 1e-6);
    CHECK(c2.overridable == c.overridable);
    free(s);
    snn_model_config_deinit(&c2);
    snn_model_config_deinit(&c);
    static const struct {
        const char *json, *needle;
    } bad[] = {
        {"{\"classes\":[\"a\",\"b\"]}", "2 class names"},
        {"{\"input\":{\"channels\":3,\"height\":28,\"width\":28}}", "input 3x28x28"},
        {"{\"steps\":0}", "steps"},
        {"{\"steps\":50,\"max_steps\":10}", "exceeds"},
        {"{\"conversion\":{\"synapse\":\"soon\"}}", "synapse"},
        {"{\"conversion\":{\"neuron\":3}}", "neuron"},
        {"{\"input\":{\"std\":0}}", "std"},
        {"{\"overridable\":[\"everything\"]}", "overridable"},
        {"{\"name\":\"a\",\"name\":\"b\"}", "JSON"},
        {"[1,2]", "object"},
        {"{\"name\":", "JSON"},
        {"{\"input\":{\"w_dth\":8}}", "input.w_dth"},
        {"{\"stepz\":3}", "stepz"},
        {"{\"early_exit\":{\"patient\":3}}", "early_exit.patient"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snn_err e = snn_model_config_parse(&c, bad[i].json, strlen(bad[i].json), m->graph, &err);
        CHECK_MSG(e != SNN_OK, "accepted %s", bad[i].json);
        CHECK_MSG(strstr(err.msg, bad[i].needle), "'%s' -> '%s'", bad[i].json, err.msg);
    }
    snn_model_free(m);
    /* without a graph every input dimension is required (what we dump we read back) */
    const char *nodim = "{\"name\":\"t\",\"classes\":[\"a\"],\"input\":{\"channels\":1,\"height\":8}}";
    CHECK(snn_model_config_parse(&c, nodim, strlen(nodim), NULL, &err) == SNN_EINVALID);
    CHECK(strstr(err.msg, "width") != NULL);
}

TEST(model_preprocess_layout_scale_resize)
{
    snn_model *m = fashion_graph();
    CHECK(m);
    snn_error err = {0};
    m->cfg.input_scale = 1.0f / 255;
    uint8_t px[28 * 28];
    for (int i = 0; i < 28 * 28; i++) px[i] = (uint8_t)(i % 256);
    float out[28 * 28];
    CHECK_OK(snn_model_preprocess(m, px, 28, 28, 1, 0, out, &err));
    CHECK_NEAR(out[100], 100 / 255.0, 1e-6);
    CHECK_OK(snn_model_preprocess(m, px, 28, 28, 1, 2.0f, out, &err));
    CHECK_NEAR(out[100], 200, 1e-4);
    /* RGB to gray with luma weights */
    uint8_t rgb[28 * 28 * 3];
    for (int i = 0; i < 28 * 28; i++) {
        rgb[3 * i] = 255;
        rgb[3 * i + 1] = 0;
        rgb[3 * i + 2] = 0;
    }
    CHECK_OK(snn_model_preprocess(m, rgb, 28, 28, 3, 0, out, &err));
    CHECK_NEAR(out[5], 0.299, 1e-4);
    /* another size is resized, or refused when the config says so */
    uint8_t big[56 * 56];
    memset(big, 255, sizeof big);
    CHECK_OK(snn_model_preprocess(m, big, 56, 56, 1, 0, out, &err));
    CHECK_NEAR(out[300], 1.0, 1e-5);
    m->cfg.resize = SNN_RESIZE_REJECT;
    CHECK(snn_model_preprocess(m, big, 56, 56, 1, 0, out, &err) == SNN_ESHAPE);
    CHECK(strstr(err.msg, "56x56") != NULL);
    snn_model_free(m);
}

TEST(model_config_save_atomic)
{
    char dir[] = "/tmp/snn-test-XXXXXX";
    CHECK(mkdtemp(dir));
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp %s %s/model.onnx", test_path("models/fashion-mnist/model.onnx"), dir);
    CHECK(system(cmd) == 0);
    snn_error err = {0};
    snn_model *m = snn_model_load(dir, &err);
    CHECK_MSG(m, "%s", err.msg);
    /* a key the schema does not model survives the rewrite */
    FILE *f = fopen(test_path("models/fashion-mnist/config.json"), "rb");
    CHECK(f);
    char text[8192];
    size_t tn = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[tn] = 0;
    char cfgp[600];
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    f = fopen(cfgp, "wb");
    CHECK(f && fwrite(text, 1, tn, f) == tn);
    fclose(f);
    snn_model_free(m);
    m = snn_model_load(dir, &err);
    CHECK_MSG(m, "%s", err.msg);
    snn_model_config c = m->cfg;
    c.steps = 17;
    CHECK_OK(snn_convert_params_set(&c.convert, "thresholds", "conv1=2.5,conv2=3", &err));
    CHECK_OK(snn_model_config_save(&c, dir, &err));
    snn_model_free(m);
    m = snn_model_load(dir, &err);
    CHECK_MSG(m, "%s", err.msg);
    CHECK_EQ_INT(m->cfg.steps, 17);
    CHECK_NEAR(snn_convert_params_layer_threshold(&m->cfg.convert, "conv2"), 3, 1e-6);
    f = fopen(cfgp, "rb");
    CHECK(f);
    tn = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[tn] = 0;
    CHECK(strstr(text, "\"training\"") != NULL);
    snn_model_free(m);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

TEST(model_net_layer_names_and_info)
{
    snn_model *m = tnet_load_fashion_reference();
    CHECK(m);
    snn_error err = {0};
    snn_net *net = snn_net_new(m, &m->cfg.convert, &err);
    CHECK_MSG(net, "%s", err.msg);
    CHECK_EQ_INT(snn_net_nlayers(net), 5);
    CHECK(!strcmp(snn_net_layer(net, 1)->name, "conv1"));
    CHECK(!strcmp(snn_net_layer(net, 3)->name, "dense1"));
    CHECK(snn_net_layer(net, 4)->kind == SNN_LAYER_OUTPUT);
    CHECK_EQ_INT(snn_net_layer(net, 1)->neurons, 8 * 28 * 28);
    CHECK_EQ_INT(snn_net_layer(net, 2)->macs, 14 * 14 * 16 * 9 * 8);
    CHECK(!strcmp(snn_net_layer(net, 2)->ops, "AveragePool+Conv"));
    CHECK_EQ_INT(snn_net_find_layer(net, "conv2"), 2);
    CHECK_EQ_INT(snn_net_find_layer(net, "L3"), 3);
    CHECK_EQ_INT(snn_net_find_layer(net, "nope"), -1);
    CHECK(snn_net_layer(net, 2)->synapse_in == 1 && snn_net_layer(net, 1)->synapse_in == 0);
    snn_net_free(net);
    snn_model_free(m);
}
