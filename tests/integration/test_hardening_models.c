/* test_hardening_models.c: model files are untrusted input too. Hostile
 * models (truncated, garbage, oversized tensors, inconsistent shapes, a
 * cyclic graph, a config that contradicts the graph, a path escape in the
 * name) are put in a copied repository and loaded with
 * POST /v1/models/{name}/load: each must fail with a clear error, load
 * nothing, not move the daemon's peak memory by the size a tensor claims,
 * and leave the old version serving (same version, READY, classify 200).
 *
 * The models are built in memory with tests/unit/onnx_builder.c, compiled
 * into this file (the integration binary does not link tests/unit/). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "it.h"
#include "../unit/onnx_builder.c"

/* A valid model of the test model's input shape: x[N,C,H,W] -> Flatten ->
 * Gemm(nclasses). `mode` makes it hostile. */
enum { HM_VALID, HM_HUGE_TENSOR, HM_SHAPE_MISMATCH, HM_CYCLE, HM_HUGE_DIMS, HM_SELF_LOOP };

static uint8_t *hm_model(snnd_proc *d, int mode, size_t *len)
{
    int64_t item = (int64_t)d->in_c * d->in_h * d->in_w, nc = d->nclasses;
    ob_model *m = ob_new(13, "hardening");
    ob_input(m, "x", OB_FLOAT, 4, (int64_t[]){-1, d->in_c, d->in_h, d->in_w});
    int64_t wd[2] = {nc, mode == HM_SHAPE_MISMATCH ? item - 1 : item};
    float *w = calloc((size_t)(wd[0] * wd[1]), sizeof *w), b[64] = {0};
    for (int64_t i = 0; i < wd[0] * wd[1]; i++) w[i] = (float)((i % 7) - 3) * 0.01f;
    Onnx__TensorProto *wt = ob_init_f(m, "w", 2, wd, w);
    free(w);
    ob_init_f(m, "b", 1, (int64_t[]){nc}, b);
    if (mode == HM_HUGE_TENSOR) {
        /* claims 2^40 floats, carries a handful */
        wt->dims[1] = (int64_t)1 << 40;
    } else if (mode == HM_HUGE_DIMS) {
        /* dims whose product overflows int64 */
        wt->dims[0] = INT64_MAX / 2;
        wt->dims[1] = INT64_MAX / 2;
    }
    if (mode == HM_CYCLE) {
        ob_node(m, "Flatten", "f", "x", "flat");
        ob_node(m, "Add", "a1", "flat,loop2", "loop1");
        ob_node(m, "Relu", "r2", "loop1", "loop2");
        Onnx__NodeProto *g = ob_node(m, "Gemm", "fc", "loop2,w,b", "y");
        ob_attr_i(g, "transB", 1);
    } else if (mode == HM_SELF_LOOP) {
        ob_node(m, "Flatten", "f", "x", "flat");
        ob_node(m, "Add", "self", "flat,s", "s");
        Onnx__NodeProto *g = ob_node(m, "Gemm", "fc", "s,w,b", "y");
        ob_attr_i(g, "transB", 1);
    } else {
        ob_node(m, "Flatten", "f", "x", "flat");
        Onnx__NodeProto *g = ob_node(m, "Gemm", "fc", "flat,w,b", "y");
        ob_attr_i(g, "transB", 1);
    }
    ob_output(m, "y", 2, (int64_t[]){-1, nc});
    uint8_t *buf = ob_pack(m, len);
    ob_free(m);
    return buf;
}

static int hm_write(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = len ? fwrite(buf, 1, len, f) : 0;
    return fclose(f) == 0 && n == len ? 0 : -1;
}

/* The served version string and state of the test model. */
static int hm_version(snnd_proc *d, char *ver, size_t vlen, char *state, size_t slen)
{
    http_resp r;
    char path[128];
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    if (it_http(d, "GET", path, NULL, NULL, 0, NULL, &r) != 0 || r.status != 200) {
        it_free(&r);
        return -1;
    }
    json_t *o = it_json(&r);
    snprintf(ver, vlen, "%s", json_string_value(json_object_get(o, "version")) ?: "?");
    snprintf(state, slen, "%s", json_string_value(json_object_get(o, "state")) ?: "?");
    json_decref(o);
    it_free(&r);
    return 0;
}

IT_TEST(hm_hostile_models_never_load, IT_COPY, NULL)
{
    char onnx[600], cfg[600], path[256], v0[32], s0[32], v[32], s[32];
    uint8_t *png;
    size_t plen, good_len, cfg_len;
    http_resp r;
    snprintf(onnx, sizeof onnx, "%s/%s/model.onnx", d->repo, d->model);
    snprintf(cfg, sizeof cfg, "%s/%s/config.json", d->repo, d->model);
    char *good = it_read_file(onnx, &good_len), *good_cfg = it_read_file(cfg, &cfg_len);
    CHECK(good && good_cfg);
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &plen));
    CHECK_OK(hm_version(d, v0, sizeof v0, s0, sizeof s0));
    long hwm0 = it_hwm_kb(d);

    struct { const char *what; uint8_t *buf; size_t len; } cases[16];
    int n = 0;
    cases[n].what = "empty file";
    cases[n].buf = malloc(1);
    cases[n++].len = 0;
    cases[n].what = "truncated (half)";
    cases[n].buf = malloc(good_len);
    memcpy(cases[n].buf, good, good_len);
    cases[n++].len = good_len / 2;
    cases[n].what = "truncated (all but 3 bytes)";
    cases[n].buf = malloc(good_len);
    memcpy(cases[n].buf, good, good_len);
    cases[n++].len = good_len - 3;
    cases[n].what = "garbage";
    cases[n].buf = malloc(4096);
    for (int i = 0; i < 4096; i++) cases[n].buf[i] = (uint8_t)(i * 2654435761u >> 13);
    cases[n++].len = 4096;
    static const int modes[] = {HM_HUGE_TENSOR, HM_HUGE_DIMS, HM_SHAPE_MISMATCH, HM_CYCLE, HM_SELF_LOOP};
    static const char *const names[] = {"tensor claiming 2^40 elements", "tensor dims overflowing int64",
                                        "Gemm weight of the wrong shape", "cyclic graph",
                                        "node consuming its own output"};
    for (int i = 0; i < 5; i++) {
        cases[n].what = names[i];
        cases[n].buf = hm_model(d, modes[i], &cases[n].len);
        n++;
    }
    /* the builder itself is sound: its valid model loads (checked last) */
    size_t vlen;
    uint8_t *valid = hm_model(d, HM_VALID, &vlen);

    snprintf(path, sizeof path, "/v1/models/%s/load", d->model);
    for (int i = 0; i < n; i++) {
        CHECK_OK(hm_write(onnx, cases[i].buf, cases[i].len));
        HTTP(d, "POST", path, NULL, NULL, 0, NULL, &r);
        long st = r.status;
        json_t *o = it_json(&r);
        const char *msg = json_string_value(json_object_get(o, "error"));
        CHECK_MSG(st >= 400 && st < 600 && st != 503, "%s: load answered %ld: %s", cases[i].what, st,
                  r.body);
        CHECK_MSG(msg && strlen(msg) > 10, "%s: no clear error message: %s", cases[i].what, r.body);
        json_decref(o);
        it_free(&r);
        CHECK_OK(hm_version(d, v, sizeof v, s, sizeof s));
        CHECK_MSG(!strcmp(v, v0) && !strcmp(s, "READY"), "%s: version %s state %s after the failed load",
                  cases[i].what, v, s);
        HTTP(d, "POST", "/classify?steps=2", "image/png", png, plen, NULL, &r);
        CHECK_MSG(r.status == 200, "%s: classify answered %ld after the failed load", cases[i].what,
                  r.status);
        it_free(&r);
    }
    long hwm1 = it_hwm_kb(d);
    CHECK_MSG(hwm1 - hwm0 < 64 * 1024, "peak RSS grew %ld KiB loading hostile models", hwm1 - hwm0);

    /* a config.json that contradicts the graph (class count) or is not JSON */
    CHECK_OK(hm_write(onnx, good, good_len));
    const char *bad_cfgs[] = {
        "{\"name\":\"x\",\"classes\":[\"only\",\"two\"]}",
        "{\"name\":\"x\",\"input\":{\"channels\":3,\"height\":9999,\"width\":9999}}",
        "{\"name\":",
        "{\"name\":\"x\",\"steps\":-4,\"conversion\":{\"dt\":0}}",
    };
    for (int i = 0; i < 4; i++) {
        CHECK_OK(hm_write(cfg, bad_cfgs[i], strlen(bad_cfgs[i])));
        HTTP(d, "POST", path, NULL, NULL, 0, NULL, &r);
        CHECK_MSG(r.status >= 400 && r.status != 503, "config %d: load answered %ld: %s", i, r.status,
                  r.body);
        it_free(&r);
        HTTP(d, "POST", "/classify?steps=2", "image/png", png, plen, NULL, &r);
        CHECK_MSG(r.status == 200, "config %d: classify answered %ld", i, r.status);
        it_free(&r);
    }
    CHECK_OK(hm_write(cfg, good_cfg, cfg_len));

    /* names that try to leave the repository */
    const char *escapes[] = {"/v1/models/../load", "/v1/models/..%2F..%2Fetc/load",
                             "/v1/models/%2Fetc/load", "/v1/models/.hidden/load"};
    for (int i = 0; i < 4; i++) {
        HTTP(d, "POST", escapes[i], NULL, NULL, 0, NULL, &r);
        CHECK_MSG(r.status == 400 || r.status == 404, "%s answered %ld", escapes[i], r.status);
        it_free(&r);
    }

    /* and the builder's valid model does load: the failures above were
     * about the damage, not about the builder */
    CHECK_OK(hm_write(onnx, valid, vlen));
    HTTP(d, "POST", path, NULL, NULL, 0, NULL, &r);
    CHECK_MSG(r.status == 200, "valid rebuilt model: load answered %ld: %s", r.status, r.body);
    it_free(&r);
    HTTP(d, "POST", "/classify?steps=2", "image/png", png, plen, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);

    for (int i = 0; i < n; i++) free(cases[i].buf);
    free(valid);
    free(good);
    free(good_cfg);
    free(png);
}
