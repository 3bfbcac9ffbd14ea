/* test_engine.c: conversion and simulation semantics (nengo-semantics.md):
 * hand-computed neuron and synapse sequences, the rate network equals the
 * ANN, fast equals reference, chunking and engine threads do not change
 * results, bias-only first step, seeded initial voltages, early exit,
 * energy arithmetic. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/convert/net_internal.h"
#include "snn/calibrate.h"
#include "snn/energy.h"
#include "snn/engine.h"
#include "net_helpers.h"
#include "test.h"

TEST(engine_spiking_relu_hand_sequence)
{
    /* J=3400, amplitude 0.5, v0=0, dt=1ms: 3.4 per step -> 3, 3, 4 spikes */
    float v = 0, J = 3400, out;
    float want[3] = {1500, 1500, 2000};
    for (int t = 0; t < 3; t++) {
        double k = snn_neuron_spiking_relu(&v, &J, &out, 1, 0.001f, 0.5f, NULL);
        CHECK_NEAR(out, want[t], 1e-3);
        CHECK_NEAR(k, want[t] / 500, 1e-9);
    }
    CHECK_NEAR(v, 0.2, 1e-5); /* 10.2 - 10 */
    /* negative current never lowers the voltage */
    v = 0.7f;
    J = -100;
    snn_neuron_spiking_relu(&v, &J, &out, 1, 0.001f, 0.5f, NULL);
    CHECK_NEAR(v, 0.7, 1e-7);
    CHECK(out == 0);
}

TEST(engine_lowpass_hand_sequence)
{
    /* the spike train above through Lowpass(0.005), read with the delay */
    const float a = (float)exp(-0.001 / 0.005), b = 1 - a;
    CHECK_NEAR(a, 0.8187307530779818, 1e-7);
    float y = 0, u[4] = {1500, 1500, 2000, 0}, out;
    float want[4] = {0, 271.90387f, 494.51993f, 767.41717f};
    for (int t = 0; t < 4; t++) {
        snn_lowpass_delay(&y, &u[t], &out, 1, a, b);
        CHECK_NEAR(out, want[t], 2e-3);
    }
}

static snn_model *load_fashion(void) { return tnet_load_fashion_reference(); }

static float *synthetic_inputs(const snn_model *m, int n, unsigned seed)
{
    size_t isz = snn_model_input_size(m);
    float *x = malloc(sizeof(float) * isz * (size_t)n);
    for (size_t i = 0; i < isz * (size_t)n; i++) {
        seed = seed * 1103515245u + 12345u;
        /* blobs of brightness, like a garment on black */
        size_t p = i % isz;
        int yy = (int)(p / 28), xx = (int)(p % 28);
        float base = (yy > 4 && yy < 24 && xx > 6 && xx < 22) ? 0.6f : 0.0f;
        x[i] = base + 0.4f * (float)((seed >> 16) & 0x7fff) / 32767.0f * (base > 0);
    }
    return x;
}

TEST(engine_rate_network_equals_ann)
{
    snn_model *m = load_fashion();
    CHECK(m);
    const char *kv[][2] = {{"neuron", "relu"}, {"synapse", "none"}};
    snn_net *net = tnet_new(m, kv, 2);
    CHECK(net);
    const int B = 6, T = 3;
    float *x = synthetic_inputs(m, B, 1);
    float ann[6 * 10];
    CHECK_OK(snn_graph_run(m->graph, x, B, ann, NULL, NULL, NULL));
    snn_result r;
    CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_FAST, &r));
    double maxd = 0;
    for (int t = 0; t < T; t++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < 10; c++) {
                double d = fabs(snn_result_probs(&r, t, b)[c] - ann[b * 10 + c]);
                if (d > maxd) maxd = d;
            }
    CHECK_NEAR(maxd, 0, 1e-5);
    snn_result_deinit(&r);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

TEST(engine_first_step_is_bias_only)
{
    /* three synapses on the way to the readout: p[0] = softmax(b_out) */
    snn_model *m = load_fashion();
    CHECK(m);
    snn_net *net = tnet_new(m, NULL, 0);
    CHECK(net);
    float *x = synthetic_inputs(m, 2, 2);
    snn_result r;
    CHECK_OK(tnet_run(net, x, 2, 2, 0, SNN_ENGINE_FAST, &r));
    const kstage *last = &net->stages[net->nstages - 1];
    float want[10], mx = -1e30f;
    double s = 0;
    for (int c = 0; c < 10; c++) mx = fmaxf(mx, last->bias[c]);
    for (int c = 0; c < 10; c++) s += want[c] = expf(last->bias[c] - mx);
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 10; c++) CHECK_NEAR(snn_result_probs(&r, 0, b)[c], want[c] / s, 1e-6);
    snn_result_deinit(&r);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

TEST(engine_fast_matches_reference)
{
    snn_model *m = load_fashion();
    CHECK(m);
    const char *kv[][2] = {{"scale_firing_rates", "200"}, {"v0", "uniform:3"}};
    snn_net *net = tnet_new(m, kv, 2);
    CHECK(net);
    const int B = 3, T = 15;
    float *x = synthetic_inputs(m, B, 3);
    snn_result fast, ref;
    CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_FAST, &fast));
    CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_REFERENCE, &ref));
    double maxd = 0, sf = 0, sr = 0;
    for (int i = 0; i < T * B * 10; i++) maxd = fmax(maxd, fabs(fast.probs[i] - ref.probs[i]));
    for (int l = 0; l < fast.nlayers; l++) {
        sf += fast.layers[l].spikes;
        sr += ref.layers[l].spikes;
    }
    CHECK(sr > 100); /* the network really spikes */
    CHECK_NEAR(sf / sr, 1.0, 0.01);
    CHECK_NEAR(maxd, 0, 2e-3);
    snn_result_deinit(&fast);
    snn_result_deinit(&ref);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

/* syn_applied counts what the kernels apply: each non-zero input element
 * of a conv or dense op times its fan-out. The image's dense pass by
 * hand (conv1: 1 -> 8 channels, 3x3, pad 1, on 28x28: 82 in-frame taps
 * per axis over the 28 outputs); the later layers' counts from the fast
 * kernels (listed events, the pool fused into conv2, the dense scatter)
 * against the reference engine's plain count of its frames' non-zeros. */
TEST(engine_applied_events)
{
    snn_model *m = load_fashion();
    CHECK(m);
    const char *kv[][2] = {{"scale_firing_rates", "200"}};
    snn_net *net = tnet_new(m, kv, 1);
    CHECK(net);
    const int B = 3, T = 15;
    const size_t isz = snn_model_input_size(m);
    float *x = synthetic_inputs(m, B, 3);
    const double fanout1 = 82.0 * 82.0 * 8.0 / (28.0 * 28.0);
    CHECK_NEAR(net->stages[0].ops[0].fanout, fanout1, 1e-9);
    double nnz = 0;
    for (size_t i = 0; i < isz * B; i++) nnz += x[i] != 0.0f;
    CHECK(nnz > 0 && nnz < (double)(isz * B)); /* zeros to skip, and pixels to count */
    snn_result fast, ref;
    CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_FAST, &fast));
    CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_REFERENCE, &ref));
    CHECK_NEAR(fast.layers[1].syn_applied, nnz * fanout1, 1e-6 * nnz * fanout1);
    CHECK_NEAR(ref.layers[1].syn_applied, nnz * fanout1, 1e-6 * nnz * fanout1);
    for (int l = 2; l < fast.nlayers; l++) {
        CHECK(ref.layers[l].syn_applied > 0);
        CHECK_NEAR(fast.layers[l].syn_applied / ref.layers[l].syn_applied, 1.0, 0.02);
    }
    snn_result_deinit(&fast);
    snn_result_deinit(&ref);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

TEST(engine_chunking_does_not_change_results)
{
    snn_model *m = load_fashion();
    CHECK(m);
    const char *kv[][2] = {{"scale_firing_rates", "100"}};
    snn_net *net = tnet_new(m, kv, 1);
    CHECK(net);
    const int B = 2, T = 20;
    float *x = synthetic_inputs(m, B, 4);
    snn_result a, b;
    CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_FAST, &a));
    for (int chunk = 1; chunk <= 7; chunk += 3) {
        CHECK_OK(tnet_run(net, x, B, T, chunk, SNN_ENGINE_FAST, &b));
        double maxd = 0;
        for (int i = 0; i < T * B * 10; i++) maxd = fmax(maxd, fabs(a.probs[i] - b.probs[i]));
        CHECK_NEAR(maxd, 0, 1e-4);
        CHECK_NEAR(a.layers[1].spikes, b.layers[1].spikes, 0.5);
        snn_result_deinit(&b);
    }
    snn_result_deinit(&a);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

/* An engine with a team of threads (snn_engine_set_threads) gives the
 * 1-thread run's probabilities, spike counts and raster bit for bit, per
 * step (chunk 1, the streaming case) and chunked. */
TEST(engine_threads_do_not_change_results)
{
    snn_model *m = load_fashion();
    CHECK(m);
    const char *kv[][2] = {{"scale_firing_rates", "100"}, {"v0", "uniform:5"}};
    snn_net *net = tnet_new(m, kv, 2);
    CHECK(net);
    const int B = 2, T = 12, C = snn_net_nclasses(net);
    float *x = synthetic_inputs(m, B, 6);
    snn_error err = {0};
    snn_result r[3];
    for (int chunk = 0; chunk <= 1; chunk++) {
        for (int k = 0; k < 3; k++) {
            snn_engine *e = snn_engine_new(net, B, T, SNN_ENGINE_FAST, &err);
            CHECK(e);
            CHECK_OK(snn_engine_set_threads(e, k + 1, &err));
            CHECK_OK(snn_result_init(&r[k], net, B, T, 16));
            snn_run_opts o;
            snn_run_opts_init(&o);
            o.steps = T;
            o.chunk = chunk;
            o.raster_layer = 1;
            CHECK_OK(snn_engine_run(e, x, B, &o, &r[k], &err));
            snn_engine_free(e);
        }
        double spikes = 0;
        for (int l = 1; l < r[0].nlayers; l++) spikes += r[0].layers[l].spikes;
        CHECK(spikes > 100); /* the network really spikes */
        for (int k = 1; k < 3; k++) {
            CHECK(!memcmp(r[k].probs, r[0].probs, sizeof(float) * (size_t)(T * B * C)));
            CHECK(!memcmp(r[k].raster.counts, r[0].raster.counts, sizeof(uint16_t) * 16 * T));
            for (int l = 1; l < r[0].nlayers; l++) {
                CHECK(r[k].layers[l].spikes == r[0].layers[l].spikes);
                CHECK(r[k].layers[l].fired_neurons == r[0].layers[l].fired_neurons);
                CHECK(r[k].layers[l].syn_applied == r[0].layers[l].syn_applied);
                CHECK(!memcmp(r[k].layers[l].spikes_per_step, r[0].layers[l].spikes_per_step,
                              sizeof(double) * T));
            }
        }
        for (int k = 0; k < 3; k++) snn_result_deinit(&r[k]);
    }
    /* bad thread counts are refused */
    snn_engine *e = snn_engine_new(net, 1, T, SNN_ENGINE_FAST, &err);
    CHECK(e);
    CHECK(snn_engine_set_threads(e, 0, &err) == SNN_EINVALID);
    CHECK(snn_engine_set_threads(e, 17, &err) == SNN_EINVALID);
    snn_engine_free(e);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

TEST(engine_same_image_same_answer_in_batch)
{
    /* uniform:SEED draws one voltage vector shared by every image */
    snn_model *m = load_fashion();
    CHECK(m);
    const char *kv[][2] = {{"v0", "uniform:11"}, {"scale_firing_rates", "50"}};
    snn_net *net = tnet_new(m, kv, 2);
    CHECK(net);
    size_t isz = snn_model_input_size(m);
    float *x = synthetic_inputs(m, 2, 5);
    memcpy(x + isz, x, sizeof(float) * isz);
    snn_result r;
    CHECK_OK(tnet_run(net, x, 2, 12, 0, SNN_ENGINE_FAST, &r));
    for (int t = 0; t < 12; t++)
        for (int c = 0; c < 10; c++)
            CHECK(snn_result_probs(&r, t, 0)[c] == snn_result_probs(&r, t, 1)[c]);
    /* a different seed gives a different run */
    snn_result r2;
    const char *kv2[][2] = {{"v0", "uniform:12"}, {"scale_firing_rates", "50"}};
    snn_net *net2 = tnet_new(m, kv2, 2);
    CHECK_OK(tnet_run(net2, x, 2, 12, 0, SNN_ENGINE_FAST, &r2));
    double d = 0;
    for (int i = 0; i < 12 * 2 * 10; i++) d += fabs(r.probs[i] - r2.probs[i]);
    CHECK(d > 1e-4);
    snn_result_deinit(&r);
    snn_result_deinit(&r2);
    snn_net_free(net2);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

TEST(engine_early_exit_stops_and_holds)
{
    snn_model *m = load_fashion();
    CHECK(m);
    /* a gain at which the output settles: the model is trained for sparse
     * activity, and at 300 its few dense1 spikes per step leave the top
     * class changing every step for all 50 */
    const char *kv[][2] = {{"scale_firing_rates", "3000"}, {"synapse", "none"}};
    snn_net *net = tnet_new(m, kv, 2);
    CHECK(net);
    float *x = synthetic_inputs(m, 1, 6);
    snn_error err = {0};
    snn_engine *e = snn_engine_new(net, 1, 50, SNN_ENGINE_FAST, &err);
    snn_result r;
    CHECK(e && !snn_result_init(&r, net, 1, 50, 0));
    snn_run_opts o;
    snn_run_opts_init(&o);
    o.steps = 50;
    o.early_exit.patience = 3;
    CHECK_OK(snn_engine_run(e, x, 1, &o, &r, &err));
    CHECK(r.stop_step[0] >= 3 && r.stop_step[0] < 50);
    CHECK_EQ_INT(r.steps, r.stop_step[0]);
    /* the top class held for the last 3 steps before the stop */
    int top = r.pred[0];
    for (int t = r.stop_step[0] - 3; t < r.stop_step[0]; t++)
        CHECK_EQ_INT(snn_argmax(snn_result_probs(&r, t, 0), 10), top);
    snn_result_deinit(&r);
    snn_engine_free(e);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

TEST(engine_raster_and_stats)
{
    snn_model *m = load_fashion();
    CHECK(m);
    /* at 100 the 32 sampled conv1 neurons of this sparse model stay
     * silent for the 10 steps; at 1000 they fire (the checks need spikes) */
    const char *kv[][2] = {{"scale_firing_rates", "1000"}};
    snn_net *net = tnet_new(m, kv, 1);
    CHECK(net);
    float *x = synthetic_inputs(m, 1, 7);
    snn_error err = {0};
    snn_engine *e = snn_engine_new(net, 1, 10, SNN_ENGINE_FAST, &err);
    snn_result r;
    CHECK(e && !snn_result_init(&r, net, 1, 10, 64));
    snn_run_opts o;
    snn_run_opts_init(&o);
    o.steps = 10;
    o.raster_layer = 1;
    o.raster_neurons = 32;
    CHECK_OK(snn_engine_run(e, x, 1, &o, &r, &err));
    CHECK_EQ_INT(r.raster.nneurons, 32);
    {
        /* the sample covers every channel and the whole image, ascending */
        const snn_layer_info *li = snn_net_layer(net, 1);
        CHECK(li->c > 1 && li->neurons / li->c >= 32);
        int seen[64] = {0}, nch = 0;
        int64_t P = li->neurons / li->c;
        for (int k = 0; k < 32; k++) {
            int64_t ix = r.raster.neuron_index[k];
            CHECK(ix >= 0 && ix < li->neurons);
            if (k) CHECK(ix > r.raster.neuron_index[k - 1]);
            if (li->c <= 64 && !seen[ix % li->c]++) nch++;
        }
        CHECK_EQ_INT(nch, li->c < 32 ? li->c : 32);
        CHECK(r.raster.neuron_index[31] / li->c - r.raster.neuron_index[0] / li->c > P / 2);
    }
    double rs = 0, per_step = 0;
    for (int i = 0; i < 10 * 32; i++) rs += r.raster.counts[i];
    for (int t = 0; t < 10; t++) per_step += r.layers[1].spikes_per_step[t];
    CHECK_NEAR(per_step, r.layers[1].spikes, 1e-6);
    CHECK(rs > 0 && rs <= r.layers[1].spikes);
    CHECK(r.layers[1].fired_neurons > 0 && r.layers[1].fired_neurons <= r.layers[1].neurons);
    const snn_layer_info *inf = snn_net_layer(net, 1);
    CHECK_NEAR(r.layers[1].syn_events, r.layers[1].spikes * inf->fanout_total / inf->neurons, 1e-3);
    /* a non-neuron raster layer is refused */
    o.raster_layer = 0;
    CHECK(snn_engine_run(e, x, 1, &o, &r, &err) == SNN_EINVALID);
    snn_result_deinit(&r);
    snn_engine_free(e);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

TEST(engine_energy_arithmetic)
{
    snn_model *m = load_fashion();
    CHECK(m);
    snn_net *net = tnet_new(m, NULL, 0);
    CHECK(net);
    const snn_device *cpu = snn_energy_device_find("cpu"), *loihi = snn_energy_device_find("loihi");
    CHECK(cpu && loihi && !snn_energy_device_find("abacus"));
    double macs = 0, neurons = 0;
    for (int l = 1; l < snn_net_nlayers(net); l++) {
        macs += snn_net_layer(net, l)->macs;
        if (snn_net_layer(net, l)->kind == SNN_LAYER_NEURONS) neurons += snn_net_layer(net, l)->neurons;
    }
    CHECK_NEAR(macs, 333056, 0.5);
    snn_energy e;
    snn_energy_ann(net, cpu, &e);
    CHECK_NEAR(e.joules, (macs + neurons) * 8.6e-9, 1e-12);
    float *x = synthetic_inputs(m, 1, 8);
    snn_result r;
    CHECK_OK(tnet_run(net, x, 1, 10, 0, SNN_ENGINE_FAST, &r));
    double ev = 0;
    for (int l = 1; l < r.nlayers; l++) ev += r.layers[l].syn_events;
    snn_energy_snn(net, &r, 1, loihi, &e);
    CHECK_NEAR(e.joules, (snn_net_layer(net, 0)->fanout_total + ev) * 27.1e-12 + neurons * 10 * 81e-12, 1e-15);
    snn_result_deinit(&r);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

TEST(engine_calibrated_gain)
{
    snn_model *m = load_fashion();
    CHECK(m);
    float *x = synthetic_inputs(m, 20, 9);
    snn_convert_params p = m->cfg.convert;
    snn_error err = {0};
    CHECK_OK(snn_convert_params_set(&p, "normalize", "percentile:99", &err));
    CHECK_OK(snn_convert_params_set(&p, "scale_firing_rates", "2", &err));
    /* without thresholds the converter refuses and names the layer */
    CHECK(snn_net_new(m, &p, &err) == NULL);
    CHECK(strstr(err.msg, "conv1") != NULL);
    CHECK_OK(snn_calibrate(m, x, 20, &p, &err));
    CHECK_EQ_INT(p.nthresholds, 3);
    snn_net *net = snn_net_new(m, &p, &err);
    CHECK(net);
    for (int l = 1; l <= 3; l++) {
        const snn_layer_info *inf = snn_net_layer(net, l);
        float thr = snn_convert_params_layer_threshold(&p, inf->name);
        CHECK(thr > 0);
        CHECK_NEAR(inf->scale, 2.0 / (thr * 0.001), inf->scale * 1e-5);
    }
    /* max >= the 99th percentile */
    snn_convert_params q = p;
    CHECK_OK(snn_convert_params_set(&q, "normalize", "max", &err));
    CHECK_OK(snn_calibrate(m, x, 20, &q, &err));
    for (int i = 0; i < 3; i++) CHECK(q.thresholds[i].value >= p.thresholds[i].value * 0.99);
    snn_net_free(net);
    free(x);
    snn_model_free(m);
}

TEST(engine_refuses_bad_runs)
{
    snn_model *m = load_fashion();
    CHECK(m);
    snn_net *net = tnet_new(m, NULL, 0);
    snn_error err = {0};
    snn_engine *e = snn_engine_new(net, 2, 10, SNN_ENGINE_FAST, &err);
    snn_result r;
    CHECK(e && !snn_result_init(&r, net, 2, 10, 0));
    float *x = synthetic_inputs(m, 3, 10);
    snn_run_opts o;
    snn_run_opts_init(&o);
    o.steps = 11;
    CHECK(snn_engine_run(e, x, 1, &o, &r, &err) == SNN_ELIMIT);
    o.steps = 5;
    CHECK(snn_engine_run(e, x, 3, &o, &r, &err) == SNN_ELIMIT);
    CHECK(snn_engine_new(net, 0, 10, SNN_ENGINE_FAST, &err) == NULL);
    snn_result_deinit(&r);
    snn_engine_free(e);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

TEST(engine_readout_mean_and_v0_modes)
{
    snn_model *m = load_fashion();
    CHECK(m);
    float *x = synthetic_inputs(m, 2, 12);
    /* the running mean of a constant rate network is the ANN itself */
    const char *kv[][2] = {{"neuron", "relu"}, {"synapse", "none"}, {"readout", "mean"}};
    snn_net *net = tnet_new(m, kv, 3);
    CHECK(net);
    float ann[2 * 10];
    CHECK_OK(snn_graph_run(m->graph, x, 2, ann, NULL, NULL, NULL));
    snn_result r;
    CHECK_OK(tnet_run(net, x, 2, 4, 0, SNN_ENGINE_FAST, &r));
    for (int b = 0; b < 2; b++)
        for (int c = 0; c < 10; c++) CHECK_NEAR(snn_result_probs(&r, 3, b)[c], ann[b * 10 + c], 1e-5);
    snn_result_deinit(&r);
    snn_net_free(net);
    /* v0=half fires earlier than v0=zero: more first-step spikes in conv1 */
    double first[2];
    const char *modes[2] = {"zero", "half"};
    for (int k = 0; k < 2; k++) {
        const char *kv2[][2] = {{"v0", modes[k]}, {"scale_firing_rates", "2000"}};
        net = tnet_new(m, kv2, 2);
        CHECK(net);
        CHECK_OK(tnet_run(net, x, 2, 3, 0, SNN_ENGINE_FAST, &r));
        first[k] = r.layers[1].spikes_per_step[0];
        snn_result_deinit(&r);
        snn_net_free(net);
    }
    CHECK_MSG(first[1] > first[0], "half %g zero %g", first[1], first[0]);
    /* the mean readout of a spiking run converges towards the ANN's class */
    const char *kv3[][2] = {{"synapse", "none"}, {"readout", "mean"}, {"scale_firing_rates", "500"}};
    net = tnet_new(m, kv3, 3);
    CHECK(net);
    CHECK_OK(tnet_run(net, x, 2, 60, 0, SNN_ENGINE_FAST, &r));
    for (int b = 0; b < 2; b++) CHECK_EQ_INT(r.pred[b], snn_argmax(ann + b * 10, 10));
    snn_result_deinit(&r);
    snn_net_free(net);
    free(x);
    snn_model_free(m);
}

TEST(engine_early_exit_waits_for_input)
{
    /* with three synapses the first steps show only the readout bias: a
     * patience of 1 must not stop there */
    snn_model *m = load_fashion();
    CHECK(m);
    const char *kv[][2] = {{"scale_firing_rates", "300"}};
    snn_net *net = tnet_new(m, kv, 1);
    CHECK(net);
    float *x = synthetic_inputs(m, 1, 13);
    snn_error err = {0};
    snn_engine *e = snn_engine_new(net, 1, 40, SNN_ENGINE_FAST, &err);
    snn_result r;
    CHECK(e && !snn_result_init(&r, net, 1, 40, 0));
    snn_run_opts o;
    snn_run_opts_init(&o);
    o.steps = 40;
    o.chunk = 1;
    o.early_exit.patience = 1;
    CHECK_OK(snn_engine_run(e, x, 1, &o, &r, &err));
    CHECK_MSG(r.stop_step[0] > 3, "stopped after %d steps", r.stop_step[0]);
    /* the prediction differs from the bias-only answer of step 1 or it is
     * backed by input: probabilities at the stop are not the step-1 ones */
    const float *p0 = snn_result_probs(&r, 0, 0), *ps = snn_result_probs(&r, r.stop_step[0] - 1, 0);
    double d = 0;
    for (int c = 0; c < 10; c++) d += fabs(p0[c] - ps[c]);
    CHECK(d > 1e-6);
    snn_result_deinit(&r);
    snn_engine_free(e);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

/* In a batch every image has its own spike counts and energy: equal to the
 * same image run alone, and summing to the batch's totals. */
TEST(engine_per_image_stats_and_energy)
{
    snn_model *m = load_fashion();
    CHECK(m);
    const char *kv[][2] = {{"scale_firing_rates", "50"}};
    snn_net *net = tnet_new(m, kv, 1);
    CHECK(net);
    size_t isz = snn_model_input_size(m);
    float *x = synthetic_inputs(m, 2, 7);   /* two different images */
    snn_result both, one[2];
    CHECK_OK(tnet_run(net, x, 2, 10, 0, SNN_ENGINE_FAST, &both));
    for (int b = 0; b < 2; b++) CHECK_OK(tnet_run(net, x + (size_t)b * isz, 1, 10, 0, SNN_ENGINE_FAST, &one[b]));
    const snn_device *loihi = snn_energy_device_find("loihi");
    int differ = 0;
    for (int l = 0; l < both.nlayers; l++) {
        const snn_layer_stats *s = &both.layers[l];
        if (snn_net_layer(net, l)->kind != SNN_LAYER_NEURONS) continue;
        CHECK_NEAR(s->spikes_by_image[0] + s->spikes_by_image[1], s->spikes, 0);
        CHECK_NEAR(s->fired_by_image[0] + s->fired_by_image[1], s->fired_neurons, 0);
        for (int b = 0; b < 2; b++) {
            CHECK_NEAR(s->spikes_by_image[b], one[b].layers[l].spikes, 0);
            CHECK_NEAR(s->fired_by_image[b], one[b].layers[l].fired_neurons, 0);
        }
        differ |= s->spikes_by_image[0] != s->spikes_by_image[1];
    }
    CHECK(differ);
    for (int b = 0; b < 2; b++) {
        snn_energy ei, ea;
        snn_energy_snn_image(net, &both, b, loihi, &ei);
        snn_energy_snn(net, &one[b], 1, loihi, &ea);
        CHECK_NEAR(ei.joules, ea.joules, 1e-12 * ea.joules);
        CHECK_NEAR(ei.synops, ea.synops, 1e-9 * ea.synops);
    }
    snn_result_deinit(&both);
    snn_result_deinit(&one[0]);
    snn_result_deinit(&one[1]);
    free(x);
    snn_net_free(net);
    snn_model_free(m);
}

/* neuron "if": the membrane integrates the signed current, so inhibition
 * cancels excitation (the spiking ReLU rectifies every step and keeps
 * firing); spikes are floor(v), subtracted. */
TEST(engine_if_neuron_hand_sequence)
{
    /* J = +1500, -1500, +1500, ... at dt 1 ms: v 1.5 -> spike, 0.5 -> -1.0 ->
     * 0.5 -> -1.0: one spike in all; the spiking ReLU fires on every + step */
    float vi = 0, vr = 0, out;
    double ki = 0, kr = 0;
    for (int t = 0; t < 6; t++) {
        float J = t % 2 ? -1500.0f : 1500.0f;
        ki += snn_neuron_if(&vi, &J, &out, 1, 0.001f, 0.5f, NULL);
        kr += snn_neuron_spiking_relu(&vr, &J, &out, 1, 0.001f, 0.5f, NULL);
    }
    CHECK_NEAR(ki, 1, 0);
    CHECK_NEAR(kr, 4, 0);   /* 1.5, 3.0, 4.5: floor sums 1 + 2 + 1 */
    CHECK_NEAR(vi, -1.0, 1e-5);
    /* several spikes in one step, the remainder kept; never a negative spike */
    float v = 0.25f, J = 3100, o2;
    CHECK_NEAR(snn_neuron_if(&v, &J, &o2, 1, 0.001f, 0.5f, NULL), 3, 0);
    CHECK_NEAR(o2, 1500, 1e-3);
    CHECK_NEAR(v, 0.35, 1e-5);
    J = -5000;
    CHECK_NEAR(snn_neuron_if(&v, &J, &o2, 1, 0.001f, 0.5f, NULL), 0, 0);
    CHECK(o2 == 0 && v < 0);
}

/* The fast engine and the reference agree with neuron "if" too, and its
 * rate equals the ANN in the limit the spiking ReLU's does not reach: on a
 * net with negative currents, "if" fires fewer spikes. */
TEST(engine_if_fast_matches_reference)
{
    snn_model *m = load_fashion();
    CHECK(m);
    const char *kv[][2] = {{"scale_firing_rates", "200"}, {"v0", "half"}, {"neuron", "if"}};
    snn_net *net = tnet_new(m, kv, 3);
    const char *kv2[][2] = {{"scale_firing_rates", "200"}, {"v0", "half"}};
    snn_net *relu = tnet_new(m, kv2, 2);
    CHECK(net && relu);
    const int B = 3, T = 15;
    float *x = synthetic_inputs(m, B, 3);
    snn_result fast, ref, sr;
    CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_FAST, &fast));
    CHECK_OK(tnet_run(net, x, B, T, 0, SNN_ENGINE_REFERENCE, &ref));
    CHECK_OK(tnet_run(relu, x, B, T, 0, SNN_ENGINE_FAST, &sr));
    double maxd = 0, sf = 0, sref = 0, srelu = 0;
    for (int i = 0; i < T * B * 10; i++) maxd = fmax(maxd, fabs(fast.probs[i] - ref.probs[i]));
    for (int l = 0; l < fast.nlayers; l++) {
        sf += fast.layers[l].spikes;
        sref += ref.layers[l].spikes;
        srelu += sr.layers[l].spikes;
    }
    CHECK(sref > 100);
    CHECK_NEAR(sf / sref, 1.0, 0.01);
    CHECK_NEAR(maxd, 0, 2e-3);
    CHECK_MSG(sf < srelu, "if fired %g spikes, spiking-relu %g", sf, srelu);
    snn_result_deinit(&fast);
    snn_result_deinit(&ref);
    snn_result_deinit(&sr);
    free(x);
    snn_net_free(net);
    snn_net_free(relu);
    snn_model_free(m);
}
