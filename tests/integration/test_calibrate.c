/* test_calibrate.c: a bias correction stored in a model's config.json
 * (calibrate.h, snnctl calibrate --bias-correct) is what the daemon runs by
 * default, says so in the answer's conversion, and is switched off per
 * request by the option table's bias_correction (query and v2 parameters);
 * a model without a table refuses bias_correction=on with a 400. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "it.h"
#include "snn/calibrate.h"
#include "snn/image.h"
#include "snn/model.h"

/* The repository's model again as "NAME", with a bias correction measured
 * on seeded inputs at 6 steps and scale_firing_rates 200 (the requests'
 * conversion) stored in its config. */
static int add_corrected_model(const snnd_proc *d, const char *name)
{
    const char *src = it_model_dir(NULL, 0);
    snn_error err = {0};
    snn_model *m = snn_model_load(src, &err);
    if (!m) return -1;
    size_t isz = snn_model_input_size(m);
    const int n = 6;
    float *x = malloc(sizeof(float) * isz * n);
    unsigned s = 5;
    for (size_t i = 0; x && i < isz * n; i++) {
        s = s * 1103515245u + 12345u;
        x[i] = (float)((s >> 8) & 0xffff) / 65536.0f;
    }
    snn_bias_table *t = NULL;
    char dir[600], cmd[1400];
    snprintf(dir, sizeof dir, "%s/%s", d->repo, name);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && ln -s '%s/model.onnx' '%s/model.onnx'", dir, src, dir);
    int rc = -1;
    m->cfg.convert.scale = 200; /* the tiny model's 20 barely spikes in 6 steps */
    if (x && !snn_calibrate_bias(m, x, n, &m->cfg.convert, 6, &t, NULL, &err) && system(cmd) == 0) {
        snn_model_config cfg = m->cfg;
        snprintf(cfg.name, sizeof cfg.name, "%s", name);
        cfg.bias = t;
        cfg.convert.bias_correction = 1;
        cfg.overridable = SNN_OVR_ALL;
        rc = snn_model_config_save(&cfg, dir, &err) ? -1 : 0;
    }
    snn_bias_table_free(t);
    free(x);
    snn_model_free(m);
    return rc;
}

/* The last row of probabilities of a v1 answer, into p[nc]. */
static void last_probs(json_t *o, double *p, int nc)
{
    json_t *res = json_array_get(json_object_get(o, "results"), 0);
    json_t *pr = json_object_get(res ? res : o, "probabilities");
    json_t *row = json_array_get(pr, json_array_size(pr) - 1);
    for (int c = 0; c < nc; c++) p[c] = json_number_value(json_array_get(row, (size_t)c));
}

/* A v2 inference of the test PNG's pixels at 6 steps with extra
 * parameters; the probabilities output into p[nc]. Returns the status. */
static long v2_probs(snnd_proc *d, const char *params, double *p, int nc)
{
    uint8_t *png;
    size_t len;
    snn_image img = {0};
    snn_error err = {0};
    if (it_png(d, d->in_w, d->in_h, d->in_c, &png, &len) ||
        snn_image_decode(&img, png, len, 0, NULL, &err)) return -1;
    free(png);
    size_t n = (size_t)img.width * img.height * img.channels, cap = n * 4 + 512, k = 0;
    char *b = malloc(cap);
    if (!b) return -1;
    k += (size_t)snprintf(b + k, cap - k,
                          "{\"parameters\":{\"steps\":6,\"scale_firing_rates\":200%s},\"inputs\":[{\"name\":\"image\","
                          "\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[",
                          params, img.height, img.width, img.channels);
    for (size_t i = 0; i < n; i++) k += (size_t)snprintf(b + k, cap - k, "%s%u", i ? "," : "", img.pixels[i]);
    snprintf(b + k, cap - k, "]}],\"outputs\":[{\"name\":\"probabilities\"}]}");
    snn_image_deinit(&img);
    http_resp r;
    if (it_http(d, "POST", "/v2/models/corrected/infer", "application/json", b, strlen(b), NULL, &r)) {
        free(b);
        return -1;
    }
    free(b);
    long st = r.status;
    json_t *o = it_json(&r);
    json_t *data = json_object_get(json_array_get(json_object_get(o, "outputs"), 0), "data");
    for (int c = 0; c < nc; c++) p[c] = json_number_value(json_array_get(data, (size_t)c));
    json_decref(o);
    it_free(&r);
    return st;
}

IT_TEST(it_bias_correction_stored_default_and_switchable, 0, NULL)
{
    CHECK_OK(add_corrected_model(d, "corrected"));
    http_resp r;
    HTTP(d, "POST", "/v1/models/corrected/load", NULL, NULL, 0, NULL, &r);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, r.body);
    it_free(&r);
    uint8_t *png;
    size_t len;
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c, &png, &len));
    double on[16] = {0}, off[16] = {0};
    int nc = d->nclasses < 16 ? d->nclasses : 16;
    /* default: the stored table runs, and the answer says so */
    HTTP(d, "POST", "/v1/models/corrected/classify?steps=6&scale_firing_rates=200", "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, r.body);
    json_t *o = it_json(&r);
    it_free(&r);
    json_t *conv = json_object_get(o, "conversion");
    CHECK_MSG(json_is_string(json_object_get(conv, "bias_correction")) &&
                  !strcmp(json_string_value(json_object_get(conv, "bias_correction")), "on"),
              "conversion lacks bias_correction=on");
    last_probs(o, on, nc);
    json_decref(o);
    /* off per request: another conversion, other probabilities */
    HTTP(d, "POST", "/v1/models/corrected/classify?steps=6&scale_firing_rates=200&bias_correction=off", "image/png",
         png, len, NULL, &r);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, r.body);
    o = it_json(&r);
    it_free(&r);
    CHECK(!json_object_get(json_object_get(o, "conversion"), "bias_correction"));
    last_probs(o, off, nc);
    json_decref(o);
    double diff = 0;
    for (int c = 0; c < nc; c++) diff += fabs(on[c] - off[c]);
    CHECK_MSG(diff > 1e-6, "bias_correction=off changed nothing (%g)", diff);
    /* the same answer as the model without a table (the plain conversion) */
    double plain[16] = {0};
    char path[160];
    snprintf(path, sizeof path, "/v1/models/%s/classify?steps=6&scale_firing_rates=200", d->model);
    HTTP(d, "POST", path, "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, r.body);
    o = it_json(&r);
    it_free(&r);
    last_probs(o, plain, nc);
    json_decref(o);
    for (int c = 0; c < nc; c++) CHECK_NEAR(plain[c], off[c], 1e-6);
    /* a model without a table cannot turn it on */
    snprintf(path, sizeof path, "/v1/models/%s/classify?steps=6&scale_firing_rates=200&bias_correction=on", d->model);
    HTTP(d, "POST", path, "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 400 && strstr(r.body, "bias correction"), "%ld %s", r.status, r.body);
    it_free(&r);
    HTTP(d, "POST", "/v1/models/corrected/classify?bias_correction=maybe", "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 400 && strstr(r.body, "bias_correction"), "%ld %s", r.status, r.body);
    it_free(&r);
    free(png);
    /* v2: the option as an inference parameter, read by the same table */
    double v2on[16] = {0}, v2off[16] = {0};
    CHECK_EQ_INT(v2_probs(d, "", v2on, nc), 200);
    CHECK_EQ_INT(v2_probs(d, ",\"bias_correction\":\"off\"", v2off, nc), 200);
    for (int c = 0; c < nc; c++) {
        CHECK_NEAR(v2on[c], on[c], 1e-5);
        CHECK_NEAR(v2off[c], off[c], 1e-5);
    }
    CHECK_EQ_INT(v2_probs(d, ",\"bias_correction\":\"maybe\"", v2off, nc), 400);
}
