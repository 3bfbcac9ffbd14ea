/* test_api.c: every endpoint and body type of snnd against the real
 * daemon: health, models, /classify with PNG, JPEG, multipart, JSON base64,
 * JSON tensors and batches, options (spike stats, raster, energy, top-k,
 * overrides), error statuses, and the Open Inference Protocol v2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it.h"

/* A PNG of the model's own input size. */
static int model_png(snnd_proc *d, uint8_t **png, size_t *len)
{
    return it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, png, len);
}

/* Checks shared by single-image answers: rows x classes, rows sum to 1. */
static int check_probs(json_t *probs, int steps, int nclasses)
{
    if (!json_is_array(probs) || (int)json_array_size(probs) != steps) return 0;
    for (int s = 0; s < steps; s++) {
        json_t *row = json_array_get(probs, (size_t)s);
        double sum = 0;
        if ((int)json_array_size(row) != nclasses) return 0;
        for (int c = 0; c < nclasses; c++) sum += json_number_value(json_array_get(row, (size_t)c));
        if (fabs(sum - 1.0) > 1e-3) return 0;
    }
    return 1;
}

IT_TEST(it_health_and_request_id, 0, NULL)
{
    http_resp r;
    const char *hdr[] = {"X-Request-ID: test-id.42", NULL};
    HTTP(d, "GET", "/healthz", NULL, NULL, 0, hdr, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(it_header(&r, "X-Request-ID") && !strcmp(it_header(&r, "X-Request-ID"), "test-id.42"));
    CHECK(strstr(r.body, "\"live\":true") != NULL);
    it_free(&r);
    HTTP(d, "GET", "/readyz", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(it_header(&r, "X-Request-ID") && strlen(it_header(&r, "X-Request-ID")) > 4);
    it_free(&r);
    /* An id with characters that could forge log lines is replaced. */
    const char *bad[] = {"X-Request-ID: a b\tc", NULL};
    HTTP(d, "GET", "/healthz", NULL, NULL, 0, bad, &r);
    CHECK(it_header(&r, "X-Request-ID") && strcmp(it_header(&r, "X-Request-ID"), "a b\tc"));
    it_free(&r);
}

IT_TEST(it_models_endpoints, 0, NULL)
{
    http_resp r;
    char path[128];
    HTTP(d, "GET", "/v1/models", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    json_t *o = it_json(&r);
    it_free(&r);
    CHECK(o);
    json_t *m0 = json_array_get(json_object_get(o, "models"), 0);
    CHECK(m0 && !strcmp(json_string_value(json_object_get(m0, "name")), d->model));
    CHECK(!strcmp(json_string_value(json_object_get(m0, "state")), "READY"));
    json_decref(o);

    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    o = it_json(&r);
    it_free(&r);
    json_t *layers = json_object_get(o, "layers");
    CHECK(json_array_size(layers) >= 2);
    int neurons = 0;
    for (size_t i = 0; i < json_array_size(layers); i++) {
        json_t *l = json_array_get(layers, i);
        CHECK(json_array_size(json_object_get(l, "shape")) == 3);
        if (!strcmp(json_string_value(json_object_get(l, "kind")), "neurons"))
            neurons += json_integer_value(json_object_get(l, "neurons")) > 0;
    }
    CHECK(neurons >= 1);
    json_t *conv = json_object_get(o, "conversion");   /* an object: option -> value */
    CHECK(json_is_object(conv) && json_is_string(json_object_get(conv, "neuron")) &&
          json_is_number(json_object_get(conv, "dt")));
    CHECK_EQ_INT(json_array_size(json_object_get(o, "classes")), d->nclasses);
    json_decref(o);

    HTTP(d, "GET", "/v1/models/no-such-model", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    it_free(&r);
    HTTP(d, "GET", "/v1/models/bad..name", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
}

IT_TEST(it_classify_png, 0, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    CHECK_OK(model_png(d, &png, &len));
    HTTP(d, "POST", "/classify?steps=7", "image/png", png, len, NULL, &r);
    free(png);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    CHECK(strstr(it_header(&r, "Content-Type"), "application/json"));
    json_t *o = it_json(&r);
    it_free(&r);
    CHECK(o);
    CHECK(!strcmp(json_string_value(json_object_get(o, "model")), d->model));
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "steps")), 7);
    CHECK(json_number_value(json_object_get(o, "dt")) > 0);
    CHECK(check_probs(json_object_get(o, "probabilities"), 7, d->nclasses));
    json_t *pred = json_object_get(o, "prediction");
    int idx = (int)json_integer_value(json_object_get(pred, "index"));
    CHECK(idx >= 0 && idx < d->nclasses);
    CHECK(json_is_string(json_object_get(pred, "label")));
    int k = d->nclasses < 5 ? d->nclasses : 5;
    CHECK_EQ_INT(json_array_size(json_object_get(o, "top_k")), k);
    CHECK(json_is_number(json_object_get(o, "queue_ms")));
    CHECK(json_is_number(json_object_get(o, "compute_ms")));
    CHECK(json_is_string(json_object_get(o, "id")));
    json_decref(o);
}

IT_TEST(it_classify_jpeg_other_size, 0, NULL)
{
    uint8_t *jpg;
    size_t len;
    http_resp r;
    char path[128];
    /* The model's resize policy decides: bilinear resizes, reject is a 400
     * that says why. */
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    json_t *m = it_json(&r);
    it_free(&r);
    const char *resize = json_string_value(json_object_get(json_object_get(m, "input"), "resize"));
    int reject = resize && !strcmp(resize, "reject");
    json_decref(m);
    CHECK_OK(it_jpeg(d->in_w * 2 + 3, d->in_h * 2, 3, &jpg, &len));
    snprintf(path, sizeof path, "/v1/models/%s/classify?steps=3", d->model);
    HTTP(d, "POST", path, "image/jpeg", jpg, len, NULL, &r);
    free(jpg);
    json_t *o = it_json(&r);
    CHECK_MSG(r.status == (reject ? 400 : 200), "resize %s: status %ld: %s", resize ? resize : "?",
              r.status, r.body);
    it_free(&r);
    CHECK(o);
    if (reject) CHECK(strlen(json_string_value(json_object_get(o, "error"))) > 5);
    else CHECK(check_probs(json_object_get(o, "probabilities"), 3, d->nclasses));
    json_decref(o);
    /* The model's own size always works. */
    CHECK_OK(it_jpeg(d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &jpg, &len));
    HTTP(d, "POST", path, "image/jpeg", jpg, len, NULL, &r);
    free(jpg);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    it_free(&r);
}

IT_TEST(it_classify_multipart, 0, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    CHECK_OK(model_png(d, &png, &len));
    const char *b = "XyZbOuNdArY42";
    char head[512], tail[512];
    int hn = snprintf(head, sizeof head,
                      "--%s\r\nContent-Disposition: form-data; name=\"steps\"\r\n\r\n4\r\n"
                      "--%s\r\nContent-Disposition: form-data; name=\"image\"; filename=\"x.png\"\r\n"
                      "Content-Type: image/png\r\n\r\n", b, b);
    int tn = snprintf(tail, sizeof tail, "\r\n--%s--\r\n", b);
    size_t total = (size_t)hn + len + (size_t)tn;
    char *body = malloc(total);
    memcpy(body, head, (size_t)hn);
    memcpy(body + hn, png, len);
    memcpy(body + hn + len, tail, (size_t)tn);
    free(png);
    HTTP(d, "POST", "/classify", "multipart/form-data; boundary=XyZbOuNdArY42", body, total, NULL, &r);
    free(body);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    json_t *o = it_json(&r);
    it_free(&r);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "steps")), 4);
    CHECK(check_probs(json_object_get(o, "probabilities"), 4, d->nclasses));
    json_decref(o);
    /* A multipart body without an image part is a 400. */
    const char *noimg = "--B\r\nContent-Disposition: form-data; name=\"steps\"\r\n\r\n4\r\n--B--\r\n";
    HTTP(d, "POST", "/classify", "multipart/form-data; boundary=B", noimg, strlen(noimg), NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
}

IT_TEST(it_classify_json_base64_and_batch, 0, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    CHECK_OK(model_png(d, &png, &len));
    char *b64 = it_b64(png, len);
    free(png);
    size_t cap = strlen(b64) * 3 + 256;
    char *body = malloc(cap);
    snprintf(body, cap, "{\"image\":\"%s\",\"steps\":3,\"top_k\":2}", b64);
    HTTP(d, "POST", "/classify", "application/json", body, strlen(body), NULL, &r);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    json_t *o = it_json(&r);
    it_free(&r);
    CHECK(check_probs(json_object_get(o, "probabilities"), 3, d->nclasses));
    CHECK_EQ_INT(json_array_size(json_object_get(o, "top_k")), 2);
    json_decref(o);

    snprintf(body, cap, "{\"images\":[\"%s\",\"%s\",\"%s\"],\"steps\":2}", b64, b64, b64);
    HTTP(d, "POST", "/classify", "application/json", body, strlen(body), NULL, &r);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    o = it_json(&r);
    it_free(&r);
    json_t *res = json_object_get(o, "results");
    CHECK_EQ_INT(json_array_size(res), 3);
    for (size_t i = 0; i < 3; i++)
        CHECK(check_probs(json_object_get(json_array_get(res, i), "probabilities"), 2, d->nclasses));
    /* Identical images in one batch give identical answers. */
    CHECK(json_equal(json_object_get(json_array_get(res, 0), "prediction"),
                     json_object_get(json_array_get(res, 2), "prediction")));
    json_decref(o);
    free(body);
    free(b64);
}

IT_TEST(it_classify_tensor_and_pixels, 0, NULL)
{
    http_resp r;
    size_t item = (size_t)d->in_c * d->in_h * d->in_w;
    size_t cap = item * 8 + 256, k = 0;
    char *body = malloc(cap);
    k += (size_t)snprintf(body + k, cap - k, "{\"steps\":2,\"tensor\":[");
    for (size_t i = 0; i < item; i++) k += (size_t)snprintf(body + k, cap - k, "%s0.5", i ? "," : "");
    snprintf(body + k, cap - k, "],\"shape\":[%d,%d,%d]}", d->in_c, d->in_h, d->in_w);
    HTTP(d, "POST", "/classify", "application/json", body, strlen(body), NULL, &r);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    it_free(&r);
    /* Raw pixels [H,W,C] (0..255) go through the model's preprocessing. */
    k = (size_t)snprintf(body, cap, "{\"steps\":2,\"pixels\":[");
    for (size_t i = 0; i < item; i++) k += (size_t)snprintf(body + k, cap - k, "%s%zu", i ? "," : "", i % 256);
    snprintf(body + k, cap - k, "],\"shape\":[%d,%d,%d]}", d->in_h, d->in_w, d->in_c);
    HTTP(d, "POST", "/classify", "application/json", body, strlen(body), NULL, &r);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    it_free(&r);
    /* A wrong shape is a 400 that names the expected one. */
    snprintf(body, cap, "{\"tensor\":[1,2,3],\"shape\":[3]}");
    HTTP(d, "POST", "/classify", "application/json", body, strlen(body), NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    CHECK(strstr(r.body, "error"));
    it_free(&r);
    free(body);
}

IT_TEST(it_classify_options, 0, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    char path[256], layer[64] = "";
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    json_t *m = it_json(&r);
    it_free(&r);
    json_t *layers = json_object_get(m, "layers");
    for (size_t i = 0; i < json_array_size(layers) && !layer[0]; i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(layers, i), "kind")), "neurons"))
            snprintf(layer, sizeof layer, "%s",
                     json_string_value(json_object_get(json_array_get(layers, i), "name")));
    json_decref(m);
    CHECK(layer[0]);
    CHECK_OK(model_png(d, &png, &len));
    snprintf(path, sizeof path, "/classify?steps=6&spike_stats=true&energy=loihi,cpu&raster=%s:4&top_k=1",
             layer);
    HTTP(d, "POST", path, "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    json_t *o = it_json(&r);
    it_free(&r);
    json_t *ss = json_object_get(o, "spike_stats");
    CHECK(json_array_size(ss) >= 1);
    json_t *s0 = json_array_get(ss, 0);
    CHECK(json_integer_value(json_object_get(s0, "neurons")) > 0);
    CHECK_EQ_INT(json_array_size(json_object_get(s0, "spikes_per_step")), 6);
    CHECK(json_is_number(json_object_get(s0, "rate_hz")));
    CHECK(json_is_number(json_object_get(s0, "fired_fraction")));
    CHECK(json_is_number(json_object_get(s0, "syn_events")));
    json_t *en = json_object_get(o, "energy");
    CHECK_EQ_INT(json_array_size(en), 2);
    CHECK(json_number_value(json_object_get(json_array_get(en, 0), "ann_joules")) > 0);
    CHECK(json_is_number(json_object_get(json_array_get(en, 0), "snn_joules")));
    json_t *ra = json_object_get(o, "raster");
    CHECK_EQ_INT(json_array_size(json_object_get(ra, "counts")), 6);
    CHECK_EQ_INT(json_array_size(json_array_get(json_object_get(ra, "counts"), 0)), 4);
    CHECK_EQ_INT(json_array_size(json_object_get(o, "top_k")), 1);
    json_decref(o);

    /* A conversion override builds (and caches) another network. */
    HTTP(d, "POST", "/classify?steps=3&synapse=0.01", "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    o = it_json(&r);
    CHECK_NEAR(json_number_value(json_object_get(json_object_get(o, "conversion"), "synapse")), 0.01, 0);
    json_decref(o);
    it_free(&r);
    HTTP(d, "POST", "/classify?steps=3&no_such_option=1", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    CHECK(strstr(r.body, "no_such_option"));
    it_free(&r);
    HTTP(d, "POST", "/classify?steps=100000000", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
    HTTP(d, "POST", "/classify?raster=not_a_layer", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
    HTTP(d, "POST", "/classify?energy=toaster", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
    free(png);
}

IT_TEST(it_error_statuses, 0, "--max-body-bytes", "4096", "--max-json-depth", "8", NULL)
{
    http_resp r;
    const char *garbage = "\x89PNG\r\n\x1a\nthis is not really a png at all";
    HTTP(d, "POST", "/classify", "image/png", garbage, strlen(garbage), NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    json_t *o = it_json(&r);
    CHECK(o && json_is_string(json_object_get(o, "error")));
    json_decref(o);
    it_free(&r);
    HTTP(d, "POST", "/classify", "image/png", "", 0, NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
    HTTP(d, "POST", "/v1/models/nope/classify", "image/png", "x", 1, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    it_free(&r);
    HTTP(d, "GET", "/no/such/route", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    CHECK(strstr(r.body, "error"));
    it_free(&r);
    HTTP(d, "GET", "/classify", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 405);
    CHECK(it_header(&r, "Allow") && strstr(it_header(&r, "Allow"), "POST"));
    it_free(&r);
    char *big = calloc(1, 10000);
    HTTP(d, "POST", "/classify", "image/png", big, 10000, NULL, &r);
    CHECK_EQ_INT(r.status, 413);
    it_free(&r);
    /* Chunked (no Content-Length): refused while receiving. */
    const char *chunked[] = {"Transfer-Encoding: chunked", NULL};
    HTTP(d, "POST", "/classify", "image/png", big, 10000, chunked, &r);
    CHECK_EQ_INT(r.status, 413);
    it_free(&r);
    free(big);
    HTTP(d, "POST", "/classify", "text/plain", "hello", 5, NULL, &r);
    CHECK_EQ_INT(r.status, 415);
    it_free(&r);
    HTTP(d, "POST", "/classify", "application/json", "{\"image\":", 9, NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
    const char *deep = "{\"image\":[[[[[[[[[[[[1]]]]]]]]]]]]}";
    HTTP(d, "POST", "/classify", "application/json", deep, strlen(deep), NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    CHECK(strstr(r.body, "nested"));
    it_free(&r);
    HTTP(d, "POST", "/classify", "application/json", "{\"image\":\"!!notbase64!!\"}", 25, NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
    /* The daemon still serves after all that. */
    HTTP(d, "GET", "/healthz", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
}

IT_TEST(it_decompression_bomb_refused, 0, NULL)
{
    http_resp r;
    FILE *f = fopen(test_path("images/bomb_60000.png"), "rb");
    if (!f) {
        test_skip("tests/data/images/bomb_60000.png missing");
        return;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    HTTP(d, "POST", "/classify", "image/png", buf, n, NULL, &r);
    CHECK_MSG(r.status == 400 || r.status == 413, "status %ld: %s", r.status, r.body);
    it_free(&r);
}

IT_TEST(it_v2_protocol, 0, NULL)
{
    http_resp r;
    char path[256];
    HTTP(d, "GET", "/v2", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    json_t *o = it_json(&r);
    it_free(&r);
    CHECK(!strcmp(json_string_value(json_object_get(o, "name")), "snnd"));
    CHECK(json_array_size(json_object_get(o, "extensions")) >= 1);
    json_decref(o);
    HTTP(d, "GET", "/v2/health/live", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_EQ_INT(r.len, 0);
    it_free(&r);
    HTTP(d, "GET", "/v2/health/ready", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    snprintf(path, sizeof path, "/v2/models/%s/ready", d->model);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    HTTP(d, "GET", "/v2/models/nope/ready", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    it_free(&r);
    snprintf(path, sizeof path, "/v2/models/%s", d->model);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    o = it_json(&r);
    it_free(&r);
    CHECK(json_array_size(json_object_get(o, "inputs")) == 2);
    CHECK(!strcmp(json_string_value(json_object_get(json_array_get(json_object_get(o, "outputs"), 0), "name")),
                  "probabilities"));
    json_decref(o);

    /* Infer: UINT8 [1,H,W,C] with a nested-free flat data array. */
    size_t item = (size_t)d->in_c * d->in_h * d->in_w, cap = item * 5 + 512, k;
    char *body = malloc(cap);
    k = (size_t)snprintf(body, cap,
                         "{\"id\":\"req-1\",\"parameters\":{\"steps\":4},\"inputs\":[{\"name\":\"image\","
                         "\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[",
                         d->in_h, d->in_w, d->in_c);
    for (size_t i = 0; i < item; i++) k += (size_t)snprintf(body + k, cap - k, "%s%zu", i ? "," : "", (i * 7) % 256);
    snprintf(body + k, cap - k, "]}]}");
    snprintf(path, sizeof path, "/v2/models/%s/infer", d->model);
    HTTP(d, "POST", path, "application/json", body, strlen(body), NULL, &r);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    o = it_json(&r);
    it_free(&r);
    CHECK(!strcmp(json_string_value(json_object_get(o, "model_name")), d->model));
    CHECK(!strcmp(json_string_value(json_object_get(o, "id")), "req-1"));
    /* every output by default: final probabilities [1, C], the series [1, 4, C], steps [1] */
    json_t *outs = json_object_get(o, "outputs");
    CHECK_EQ_INT(json_array_size(outs), 3);
    json_t *out = json_array_get(outs, 0);
    CHECK(!strcmp(json_string_value(json_object_get(out, "name")), "probabilities"));
    CHECK(!strcmp(json_string_value(json_object_get(out, "datatype")), "FP32"));
    json_t *shape = json_object_get(out, "shape");
    CHECK_EQ_INT(json_array_size(shape), 2);
    CHECK_EQ_INT(json_integer_value(json_array_get(shape, 0)), 1);
    CHECK_EQ_INT(json_integer_value(json_array_get(shape, 1)), d->nclasses);
    CHECK_EQ_INT(json_array_size(json_object_get(out, "data")), d->nclasses);
    out = json_array_get(outs, 1);
    CHECK(!strcmp(json_string_value(json_object_get(out, "name")), "probabilities_per_step"));
    CHECK_EQ_INT(json_array_size(json_object_get(out, "data")), 4 * d->nclasses);
    json_decref(o);

    /* the classification extension on the final probabilities */
    k = (size_t)snprintf(body, cap,
                         "{\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[",
                         d->in_h, d->in_w, d->in_c);
    for (size_t i = 0; i < item; i++) k += (size_t)snprintf(body + k, cap - k, "%s%zu", i ? "," : "", i % 200);
    snprintf(body + k, cap - k,
             "]}],\"parameters\":{\"steps\":3},\"outputs\":[{\"name\":\"steps\"},"
             "{\"name\":\"probabilities\",\"parameters\":{\"classification\":2}}]}");
    HTTP(d, "POST", path, "application/json", body, strlen(body), NULL, &r);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    o = it_json(&r);
    it_free(&r);
    outs = json_object_get(o, "outputs");
    CHECK_EQ_INT(json_array_size(outs), 2);
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(json_array_get(outs, 0), "data"), 0)), 3);
    json_t *cls = json_array_get(outs, 1);
    CHECK(!strcmp(json_string_value(json_object_get(cls, "datatype")), "BYTES"));
    CHECK_EQ_INT(json_array_size(json_object_get(cls, "data")), 2);
    const char *s0 = json_string_value(json_array_get(json_object_get(cls, "data"), 0));
    CHECK(s0 && strchr(s0, ':') && strchr(strchr(s0, ':') + 1, ':'));
    json_decref(o);

    /* Wrong data count is a 400; unknown model a 404. */
    snprintf(body, cap, "{\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[1,2,3]}]}",
             d->in_h, d->in_w, d->in_c);
    HTTP(d, "POST", path, "application/json", body, strlen(body), NULL, &r);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
    HTTP(d, "POST", "/v2/models/nope/infer", "application/json", body, strlen(body), NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    it_free(&r);
    free(body);
}

/* One vocabulary: a run option of the library's table means the same in
 * the query, a JSON body field and v2 parameters, and what cannot apply is
 * a 400 in each (early_exit as one value was refused before the table).
 * Rate neurons without a synapse give the same output at every step, so
 * early exit stops at the same step for any input. */
IT_TEST(it_run_options_one_vocabulary, 0, NULL)
{
    uint8_t *png;
    size_t len, item = (size_t)d->in_h * d->in_w * d->in_c;
    http_resp r;
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    char *b64 = it_b64(png, len);
    char *json = malloc(strlen(b64) + 256), *v2 = malloc(item * 4 + 512), path[160];
    long stops[3];
    const char *ee[] = {"2:0", "2:7"};
    for (int bad = 0; bad < 2; bad++) {
        char q[160];
        snprintf(q, sizeof q, "/classify?steps=30&neuron=relu&synapse=none&early_exit=%s", ee[bad]);
        HTTP(d, "POST", q, "image/png", png, len, NULL, &r);
        long st0 = r.status;
        json_t *o = it_json(&r);
        stops[0] = json_integer_value(json_object_get(o, "stop_step"));
        json_decref(o);
        it_free(&r);
        sprintf(json, "{\"image\":\"%s\",\"steps\":30,\"neuron\":\"relu\",\"synapse\":\"none\","
                      "\"early_exit\":\"%s\"}", b64, ee[bad]);
        HTTP(d, "POST", "/classify", "application/json", json, strlen(json), NULL, &r);
        long st1 = r.status;
        o = it_json(&r);
        stops[1] = json_integer_value(json_object_get(o, "stop_step"));
        json_decref(o);
        it_free(&r);
        size_t k = (size_t)sprintf(v2, "{\"parameters\":{\"steps\":30,\"neuron\":\"relu\",\"synapse\":\"none\","
                                       "\"early_exit\":\"%s\"},\"inputs\":[{\"name\":"
                                       "\"image\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[",
                                   ee[bad], d->in_h, d->in_w, d->in_c);
        for (size_t i = 0; i < item; i++) k += (size_t)sprintf(v2 + k, "%s0", i ? "," : "");
        sprintf(v2 + k, "]}],\"outputs\":[{\"name\":\"steps\"}]}");
        snprintf(path, sizeof path, "/v2/models/%s/infer", d->model);
        HTTP(d, "POST", path, "application/json", v2, strlen(v2), NULL, &r);
        long st2 = r.status;
        o = it_json(&r);
        stops[2] = json_integer_value(json_array_get(json_object_get(json_array_get(json_object_get(o, "outputs"), 0), "data"), 0));
        json_decref(o);
        it_free(&r);
        if (bad) {
            CHECK_MSG(st0 == 400 && st1 == 400 && st2 == 400, "early_exit=2:7: %ld %ld %ld", st0, st1, st2);
        } else {
            CHECK_MSG(st0 == 200 && st1 == 200 && st2 == 200, "early_exit=2:0: %ld %ld %ld", st0, st1, st2);
            /* it stopped early, at the same step whatever the door */
            CHECK_MSG(stops[0] >= 2 && stops[0] < 30, "stop step %ld", stops[0]);
            CHECK_EQ_INT((int)stops[1], (int)stops[0]);
            CHECK_EQ_INT((int)stops[2], (int)stops[0]);
        }
    }
    /* calibration output is never a request's option */
    HTTP(d, "POST", "/classify?thresholds=conv1%3D2", "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 400 && strstr(r.body, "not a per-request option"), "%ld %s", r.status, r.body);
    it_free(&r);
    /* the answer's conversion says what ran */
    HTTP(d, "POST", "/classify?steps=2&maxpool=avg&synapse=none", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    json_t *o = it_json(&r);
    json_t *conv = json_object_get(o, "conversion");
    CHECK(!strcmp(json_string_value(json_object_get(conv, "maxpool")), "avg"));
    CHECK(!strcmp(json_string_value(json_object_get(conv, "synapse")), "none"));
    json_decref(o);
    it_free(&r);
    free(png);
    free(b64);
    free(json);
    free(v2);
}

/* A batch request's spike statistics and energy, image by image: each
 * result has its own, and they add up to the batch's totals at the top. */
IT_TEST(it_batch_stats_per_image, 0, NULL)
{
    uint8_t *p1, *p2;
    size_t l1, l2;
    http_resp r;
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &p1, &l1));
    CHECK_OK(it_jpeg(d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &p2, &l2));
    char *b1 = it_b64(p1, l1), *b2 = it_b64(p2, l2);
    char *body = malloc(strlen(b1) + strlen(b2) + 256);
    sprintf(body, "{\"images\":[\"%s\",\"%s\"],\"steps\":8,\"spike_stats\":true,\"energy\":\"loihi\","
                  "\"scale_firing_rates\":50}", b1, b2);
    HTTP(d, "POST", "/classify", "application/json", body, strlen(body), NULL, &r);
    CHECK_MSG(r.status == 200, "%ld %.300s", r.status, r.body);
    json_t *o = it_json(&r);
    it_free(&r);
    json_t *res = json_object_get(o, "results"), *tot = json_object_get(o, "spike_stats");
    CHECK_EQ_INT((int)json_array_size(res), 2);
    for (size_t l = 0; l < json_array_size(tot); l++) {
        double sum = 0;
        for (size_t i = 0; i < 2; i++) {
            json_t *per = json_object_get(json_array_get(res, i), "spike_stats");
            CHECK(!strcmp(json_string_value(json_object_get(json_array_get(per, l), "name")),
                          json_string_value(json_object_get(json_array_get(tot, l), "name"))));
            sum += json_number_value(json_object_get(json_array_get(per, l), "spikes"));
        }
        CHECK_NEAR(sum, json_number_value(json_object_get(json_array_get(tot, l), "spikes")), 1e-6);
    }
    json_t *te = json_array_get(json_object_get(o, "energy"), 0);
    CHECK(te != NULL);
    for (size_t i = 0; i < 2; i++) {
        json_t *e = json_array_get(json_object_get(json_array_get(res, i), "energy"), 0);
        CHECK(!strcmp(json_string_value(json_object_get(e, "device")), "loihi"));
        CHECK(json_number_value(json_object_get(e, "snn_joules")) > 0);
        CHECK(json_number_value(json_object_get(e, "ann_joules")) > 0);
        /* an image's row has the request row's fields; the ANN's figures
         * do not depend on the image */
        CHECK_EQ_INT((int)json_object_size(e), (int)json_object_size(te));
        const char *k;
        json_t *v;
        json_object_foreach(te, k, v) CHECK_MSG(json_object_get(e, k) != NULL, "image energy lacks %s", k);
        CHECK(json_number_value(json_object_get(e, "ann_joules")) ==
              json_number_value(json_object_get(te, "ann_joules")));
    }
    json_decref(o);
    free(body);
    free(b1);
    free(b2);
    free(p1);
    free(p2);
}
