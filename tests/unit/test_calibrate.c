/* test_calibrate.c: bias correction (Li et al. 2021; calibrate.h): on the
 * zoo graphs every corrected layer's mean output moves toward the ANN's,
 * the table survives config.json (dump, parse, save), and malformed tables
 * or tables that do not fit the net are refused with errors naming them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snn/calibrate.h"
#include "snn/engine.h"
#include "snn/model.h"
#include "snn/params.h"
#include "test.h"

static float *seeded_inputs(const snn_model *m, int n, unsigned seed)
{
    size_t isz = snn_model_input_size(m);
    float *x = malloc(sizeof(float) * isz * (size_t)n);
    for (size_t i = 0; x && i < isz * (size_t)n; i++) {
        seed = seed * 1103515245u + 12345u;
        x[i] = (float)((seed >> 8) & 0xffff) / 65536.0f;
    }
    return x;
}

/* A coarse conversion (IF neurons, one spike per step at the max
 * activation, 6 steps) whose layers miss the ANN's means by a visible
 * amount: what bias correction exists for. */
static void coarse_params(snn_model *m, const float *x, int n, snn_convert_params *p)
{
    snn_error err = {0};
    *p = m->cfg.convert;
    snn_convert_params_set(p, "neuron", "if", &err);
    snn_convert_params_set(p, "scale_firing_rates", "1", &err);
    snn_convert_params_set(p, "synapse", "none", &err);
    snn_convert_params_set(p, "normalize", "max", &err);
    snn_calibrate(m, x, n, p, &err);
}

TEST(calibrate_bias_moves_each_layer_toward_the_ann)
{
    const char *zoo[] = {"zoo/residual", "zoo/vgg_maxpool", "zoo/nhwc", "zoo/inception"};
    for (size_t z = 0; z < sizeof zoo / sizeof zoo[0]; z++) {
        snn_error err = {0};
        snn_model *m = snn_model_load(test_path(zoo[z]), &err);
        CHECK_MSG(m, "%s: %s", zoo[z], err.msg);
        const int n = 24, steps = 6;
        float *x = seeded_inputs(m, n, 7 + (unsigned)z);
        snn_convert_params p;
        coarse_params(m, x, n, &p);
        double before[SNN_MAX_LAYER_PARAMS], during[SNN_MAX_LAYER_PARAMS], after[SNN_MAX_LAYER_PARAMS];
        int nl = snn_calibrate_bias_gap(m, x, n, &p, steps, before, SNN_MAX_LAYER_PARAMS, &err);
        CHECK_MSG(nl >= 2, "%s: %d layers: %s", zoo[z], nl, err.msg);
        snn_bias_table *t = NULL;
        CHECK_MSG(snn_calibrate_bias(m, x, n, &p, steps, &t, during, &err) == SNN_OK, "%s: %s", zoo[z], err.msg);
        CHECK_EQ_INT(t->nlayers, nl);
        CHECK(t->steps == steps && t->images == n && strstr(t->conversion, "neuron=if"));
        /* the first layer is measured before anything is corrected */
        CHECK_NEAR(during[0], before[0], 1e-12);
        m->cfg.bias = t;
        p.bias_correction = 1;
        CHECK_EQ_INT(snn_calibrate_bias_gap(m, x, n, &p, steps, after, SNN_MAX_LAYER_PARAMS, &err), nl);
        double sb = 0, sa = 0;
        for (int k = 0; k < nl; k++) {
            /* the uncorrected conversion misses the ANN visibly ... */
            CHECK_MSG(before[0] > 1e-3, "%s: no gap to correct (%g)", zoo[z], before[0]);
            /* ... and each corrected layer is closer to it than before its
             * own correction */
            CHECK_MSG(after[k] < during[k], "%s layer %d (%s): gap %g after correction, %g before", zoo[z], k,
                      t->layers[k].layer, after[k], during[k]);
            sb += before[k];
            sa += after[k];
        }
        CHECK_MSG(sa < 0.6 * sb, "%s: total gap %g -> %g", zoo[z], sb, sa);
        /* switched off per run: the plain conversion again */
        p.bias_correction = 0;
        double off[SNN_MAX_LAYER_PARAMS];
        CHECK_EQ_INT(snn_calibrate_bias_gap(m, x, n, &p, steps, off, SNN_MAX_LAYER_PARAMS, &err), nl);
        for (int k = 0; k < nl; k++) CHECK_NEAR(off[k], before[k], 1e-12);
        free(x);
        snn_model_free(m);
    }
}

TEST(calibrate_bias_refuses_rate_neurons)
{
    snn_error err = {0};
    snn_model *m = snn_model_load(test_path("zoo/residual"), &err);
    CHECK_MSG(m, "%s", err.msg);
    float *x = seeded_inputs(m, 2, 1);
    snn_convert_params p = m->cfg.convert;
    p.neuron = SNN_NEURON_RELU;
    snn_bias_table *t = (snn_bias_table *)1;
    CHECK(snn_calibrate_bias(m, x, 2, &p, 4, &t, NULL, &err) == SNN_EINVALID);
    CHECK(t == NULL && strstr(err.msg, "spiking"));
    free(x);
    snn_model_free(m);
}

TEST(calibrate_bias_table_round_trips_through_config)
{
    snn_error err = {0};
    snn_model *m = snn_model_load(test_path("zoo/residual"), &err);
    CHECK_MSG(m, "%s", err.msg);
    float *x = seeded_inputs(m, 8, 3);
    snn_convert_params p;
    coarse_params(m, x, 8, &p);
    snn_bias_table *t = NULL;
    CHECK_OK(snn_calibrate_bias(m, x, 8, &p, 5, &t, NULL, &err));
    snn_model_config cfg = m->cfg;
    cfg.convert = p;
    cfg.convert.bias_correction = 1;
    cfg.bias = t;
    char *text = snn_model_config_dump(&cfg);
    CHECK(text);
    snn_model_config back;
    CHECK_MSG(snn_model_config_parse(&back, text, strlen(text), m->graph, &err) == SNN_OK, "%s", err.msg);
    CHECK(back.bias && back.convert.bias_correction == 1);
    CHECK(snn_convert_params_equal(&back.convert, &cfg.convert));
    CHECK(back.bias->steps == 5 && back.bias->images == 8 && !strcmp(back.bias->conversion, t->conversion));
    CHECK_EQ_INT(back.bias->nlayers, t->nlayers);
    for (int k = 0; k < t->nlayers; k++) {
        CHECK(!strcmp(back.bias->layers[k].layer, t->layers[k].layer));
        CHECK_EQ_INT(back.bias->layers[k].channels, t->layers[k].channels);
        for (int c = 0; c < t->layers[k].channels; c++)
            CHECK(back.bias->layers[k].offset[c] == t->layers[k].offset[c]);
    }
    snn_model_config_deinit(&back);
    /* switched off in the conversion block: the table stays, unused */
    cfg.convert.bias_correction = 0;
    free(text);
    text = snn_model_config_dump(&cfg);
    CHECK(strstr(text, "\"bias_correction\": \"off\""));
    CHECK_OK(snn_model_config_parse(&back, text, strlen(text), m->graph, &err));
    CHECK(back.bias && back.convert.bias_correction == 0);
    snn_model_config_deinit(&back);
    free(text);
    /* snn_model_config_save keeps it, and drops it once the config has none */
    char dir[] = "/tmp/snn_calib_XXXXXX";
    CHECK(mkdtemp(dir));
    CHECK_OK(snn_model_config_save(&cfg, dir, &err));
    char path[256];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "rb");
    CHECK(f);
    char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    CHECK_OK(snn_model_config_parse(&back, buf, len, m->graph, &err));
    CHECK(back.bias && back.bias->nlayers == t->nlayers);
    snn_model_config_deinit(&back);
    cfg.bias = NULL;
    CHECK_OK(snn_model_config_save(&cfg, dir, &err));
    f = fopen(path, "rb");
    CHECK(f);
    len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    CHECK(!strstr(buf, "\"bias_correction\": {") && !strstr(buf, "\"bias_correction\": \""));
    unlink(path);
    rmdir(dir);
    snn_bias_table_free(t);
    free(x);
    snn_model_free(m);
}

TEST(calibrate_bias_bad_tables_are_refused)
{
#define HEAD "{\"classes\":[\"a\",\"b\"],\"input\":{\"channels\":1,\"height\":4,\"width\":4},"
    const char *bad[][2] = {
        {HEAD "\"bias_correction\":[1,2]}", "'bias_correction' must be an object"},
        {HEAD "\"bias_correction\":{\"steps\":4,\"images\":2,\"conversion\":\"\",\"layers\":{}}}",
         "bias_correction.layers"},
        {HEAD "\"bias_correction\":{\"images\":2,\"conversion\":\"\",\"layers\":{\"a\":[1]}}}",
         "bias_correction.steps"},
        {HEAD "\"bias_correction\":{\"steps\":4,\"images\":2,\"conversion\":\"\",\"layers\":{\"a\":[1,\"x\"]}}}",
         "bias_correction.layers.a[1]"},
        {HEAD "\"bias_correction\":{\"steps\":4,\"images\":2,\"conversion\":\"\",\"layers\":{\"a\":3}}}",
         "bias_correction.layers.a"},
        {HEAD "\"bias_correction\":{\"steps\":4,\"images\":2,\"conversion\":\"\",\"layers\":{\"a\":[1]},\"x\":1}}",
         "bias_correction.x"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snn_model_config cfg;
        snn_error err = {0};
        CHECK_MSG(snn_model_config_parse(&cfg, bad[i][0], strlen(bad[i][0]), NULL, &err) == SNN_EINVALID,
                  "accepted %s", bad[i][0]);
        CHECK_MSG(strstr(err.msg, bad[i][1]), "%s: '%s' lacks '%s'", bad[i][0], err.msg, bad[i][1]);
    }
    /* a table that does not fit the net: refused when the net is made */
    snn_error err = {0};
    snn_model *m = snn_model_load(test_path("zoo/residual"), &err);
    CHECK_MSG(m, "%s", err.msg);
    snn_convert_params p = m->cfg.convert;
    p.bias_correction = 1;
    CHECK(snn_net_new(m, &p, &err) == NULL && strstr(err.msg, "no bias correction"));
    snn_net *plain = snn_net_new(m, &m->cfg.convert, &err);
    CHECK(plain);
    const snn_layer_info *li = snn_net_layer(plain, 1);
    float off[1024] = {0};
    m->cfg.bias = snn_bias_table_new();
    CHECK_OK(snn_bias_table_add(m->cfg.bias, "no_such_layer", off, 4, &err));
    CHECK(snn_net_new(m, &p, &err) == NULL && strstr(err.msg, "'no_such_layer' is not a neuron layer"));
    snn_bias_table_free(m->cfg.bias);
    m->cfg.bias = snn_bias_table_new();
    CHECK_OK(snn_bias_table_add(m->cfg.bias, li->name, off, li->c + 1, &err));
    CHECK(snn_net_new(m, &p, &err) == NULL && strstr(err.msg, "channels"));
    snn_net_free(plain);
    snn_model_free(m);
}
