/* test_v2.c: the Open Inference Protocol v2 as its clients speak it. The
 * official clients (tritonclient, kserve) cannot be installed here, so the
 * requests are built by hand from the protocol text: JSON, and the binary
 * tensor extension (Inference-Header-Content-Length, binary_data_size,
 * binary_data / binary_data_output), checked against the model metadata.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "it.h"

/* The test image: H x W x C bytes of a fixed pattern. */
static uint8_t *pixels(const snnd_proc *d, size_t *n)
{
    *n = (size_t)d->in_h * d->in_w * d->in_c;
    uint8_t *p = malloc(*n);
    for (size_t i = 0; p && i < *n; i++) p[i] = (uint8_t)((i * 7) % 256);
    return p;
}

/* {"inputs":[{"name":"image","datatype":"UINT8","shape":[1,H,W,C],"data":[..]}] + tail} */
static char *json_request(const snnd_proc *d, const char *params, const char *outputs)
{
    size_t n, k = 0;
    uint8_t *px = pixels(d, &n);
    size_t cap = n * 4 + 1024;
    char *b = malloc(cap);
    k += (size_t)snprintf(b + k, cap - k, "{\"id\":\"json-1\",\"parameters\":{%s},\"inputs\":[{\"name\":\"image\","
                          "\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[",
                          params, d->in_h, d->in_w, d->in_c);
    for (size_t i = 0; i < n; i++) k += (size_t)snprintf(b + k, cap - k, "%s%u", i ? "," : "", px[i]);
    snprintf(b + k, cap - k, "]}]%s%s}", outputs ? ",\"outputs\":" : "", outputs ? outputs : "");
    free(px);
    return b;
}

/* JSON header + the pixels as binary data; *hlen = JSON length. */
static char *binary_request(const snnd_proc *d, const char *params, const char *outputs, size_t *len,
                            size_t *hlen)
{
    size_t n;
    uint8_t *px = pixels(d, &n);
    char head[1024];
    int h = snprintf(head, sizeof head,
                     "{\"id\":\"bin-1\",\"parameters\":{%s},\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\","
                     "\"shape\":[1,%d,%d,%d],\"parameters\":{\"binary_data_size\":%zu}}]%s%s}",
                     params, d->in_h, d->in_w, d->in_c, n, outputs ? ",\"outputs\":" : "", outputs ? outputs : "");
    char *b = malloc((size_t)h + n);
    memcpy(b, head, (size_t)h);
    memcpy(b + h, px, n);
    free(px);
    *hlen = (size_t)h;
    *len = (size_t)h + n;
    return b;
}

static int post(snnd_proc *d, const char *body, size_t len, size_t hlen, http_resp *r)
{
    char path[160], hdr[80];
    snprintf(path, sizeof path, "/v2/models/%s/infer", d->model);
    snprintf(hdr, sizeof hdr, "Inference-Header-Content-Length: %zu", hlen);
    const char *hdrs[] = {hdr, NULL};
    return it_http(d, "POST", path, hlen ? "application/octet-stream" : "application/json", body, len,
                   hlen ? hdrs : NULL, r);
}

static json_t *output(json_t *o, const char *name)
{
    json_t *outs = json_object_get(o, "outputs");
    for (size_t i = 0; i < json_array_size(outs); i++)
        if (!strcmp(json_string_value(json_object_get(json_array_get(outs, i), "name")), name))
            return json_array_get(outs, i);
    return NULL;
}

static float le_f32(const uint8_t *p)
{
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

IT_TEST(it_v2_metadata_declares_what_infer_takes, 0, NULL)
{
    http_resp r;
    char path[160];
    HTTP(d, "GET", "/v2", NULL, NULL, 0, NULL, &r);
    json_t *o = it_json(&r);
    it_free(&r);
    int bin = 0;
    json_t *ext = json_object_get(o, "extensions");
    for (size_t i = 0; i < json_array_size(ext); i++)
        bin |= !strcmp(json_string_value(json_array_get(ext, i)), "binary_tensor_data");
    CHECK(bin);
    json_decref(o);
    snprintf(path, sizeof path, "/v2/models/%s", d->model);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    o = it_json(&r);
    it_free(&r);
    json_t *ins = json_object_get(o, "inputs"), *outs = json_object_get(o, "outputs");
    CHECK_EQ_INT(json_array_size(ins), 2);
    json_t *img = json_array_get(ins, 0);
    CHECK(!strcmp(json_string_value(json_object_get(img, "name")), "image"));
    CHECK(!strcmp(json_string_value(json_object_get(img, "datatype")), "UINT8"));
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(img, "shape"), 3)), d->in_c);
    CHECK_EQ_INT(json_array_size(outs), 3);
    json_t *p = json_array_get(outs, 0);
    CHECK(!strcmp(json_string_value(json_object_get(p, "name")), "probabilities"));
    CHECK_EQ_INT(json_array_size(json_object_get(p, "shape")), 2);
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(p, "shape"), 1)), d->nclasses);
    json_decref(o);
}

IT_TEST(it_v2_binary_matches_json, 0, NULL)
{
    http_resp r;
    /* JSON in, JSON out */
    char *jb = json_request(d, "\"steps\":5", NULL);
    CHECK_OK(post(d, jb, strlen(jb), 0, &r));
    free(jb);
    CHECK_MSG(r.status == 200, "%ld %s", r.status, r.body);
    CHECK(!it_header(&r, "Inference-Header-Content-Length"));
    json_t *oj = it_json(&r);
    it_free(&r);
    json_t *pj = json_object_get(output(oj, "probabilities"), "data");
    json_t *sj = json_object_get(output(oj, "probabilities_per_step"), "data");
    CHECK_EQ_INT(json_array_size(pj), d->nclasses);
    CHECK_EQ_INT(json_array_size(sj), 5 * d->nclasses);
    /* the final probabilities are the last row of the series */
    for (int c = 0; c < d->nclasses; c++)
        CHECK_NEAR(json_real_value(json_array_get(pj, (size_t)c)),
                   json_real_value(json_array_get(sj, (size_t)(4 * d->nclasses + c))), 0);

    /* binary in, binary out for two outputs, JSON for the third */
    size_t len, hlen;
    char *bb = binary_request(d, "\"steps\":5",
                              "[{\"name\":\"probabilities\",\"parameters\":{\"binary_data\":true}},"
                              "{\"name\":\"steps\"},"
                              "{\"name\":\"probabilities_per_step\",\"parameters\":{\"binary_data\":true}}]",
                              &len, &hlen);
    CHECK_OK(post(d, bb, len, hlen, &r));
    free(bb);
    CHECK_MSG(r.status == 200, "%ld %.300s", r.status, r.body);
    const char *h = it_header(&r, "Inference-Header-Content-Length");
    CHECK(h);
    size_t jl = (size_t)strtoull(h, NULL, 10);
    CHECK(strstr(it_header(&r, "Content-Type"), "application/octet-stream"));
    CHECK(jl > 0 && jl < r.len);
    json_error_t e;
    json_t *ob = json_loadb(r.body, jl, 0, &e);
    CHECK(ob);
    CHECK(!strcmp(json_string_value(json_object_get(ob, "id")), "bin-1"));
    json_t *pb = output(ob, "probabilities"), *stb = output(ob, "steps"), *sb = output(ob, "probabilities_per_step");
    CHECK(pb && stb && sb);
    CHECK(!json_object_get(pb, "data"));
    size_t psz = (size_t)json_integer_value(json_object_get(json_object_get(pb, "parameters"), "binary_data_size"));
    size_t ssz = (size_t)json_integer_value(json_object_get(json_object_get(sb, "parameters"), "binary_data_size"));
    CHECK_EQ_INT((int)psz, 4 * d->nclasses);
    CHECK_EQ_INT((int)ssz, 4 * 5 * d->nclasses);
    CHECK_EQ_INT((int)(jl + psz + ssz), (int)r.len);
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(stb, "data"), 0)), 5);
    /* binary outputs in request order after the JSON; same numbers as JSON */
    const uint8_t *bin = (const uint8_t *)r.body + jl;
    for (int c = 0; c < d->nclasses; c++)
        CHECK_NEAR(le_f32(bin + 4 * c), json_real_value(json_array_get(pj, (size_t)c)), 1e-6);
    for (int q = 0; q < 5 * d->nclasses; q++)
        CHECK_NEAR(le_f32(bin + psz + 4 * q), json_real_value(json_array_get(sj, (size_t)q)), 1e-6);
    json_decref(ob);
    json_decref(oj);
    it_free(&r);
}

IT_TEST(it_v2_binary_output_everything_and_classification, 0, NULL)
{
    http_resp r;
    size_t len, hlen;
    char *bb = binary_request(d, "\"steps\":3,\"binary_data_output\":true",
                              "[{\"name\":\"probabilities\",\"parameters\":{\"classification\":2}},{\"name\":\"steps\"}]",
                              &len, &hlen);
    CHECK_OK(post(d, bb, len, hlen, &r));
    free(bb);
    CHECK_MSG(r.status == 200, "%ld %.300s", r.status, r.body);
    size_t jl = (size_t)strtoull(it_header(&r, "Inference-Header-Content-Length"), NULL, 10);
    json_error_t e;
    json_t *o = json_loadb(r.body, jl, 0, &e);
    CHECK(o);
    json_t *cls = output(o, "probabilities"), *st = output(o, "steps");
    CHECK(!strcmp(json_string_value(json_object_get(cls, "datatype")), "BYTES"));
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(cls, "shape"), 1)), 2);
    size_t csz = (size_t)json_integer_value(json_object_get(json_object_get(cls, "parameters"), "binary_data_size"));
    /* BYTES: each element a 4-byte little-endian length, then "value:index:label" */
    const uint8_t *p = (const uint8_t *)r.body + jl, *end = p + csz;
    int elems = 0;
    while (p + 4 <= end) {
        uint32_t n = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        CHECK(p + 4 + n <= end);
        char s[128];
        snprintf(s, sizeof s, "%.*s", (int)n, (const char *)p + 4);
        CHECK_MSG(strchr(s, ':') && strchr(strchr(s, ':') + 1, ':'), "element '%s'", s);
        p += 4 + n;
        elems++;
    }
    CHECK_EQ_INT(elems, 2);
    CHECK(p == end);
    CHECK_EQ_INT((int)json_integer_value(json_object_get(json_object_get(st, "parameters"), "binary_data_size")), 4);
    const uint8_t *sv = end;
    CHECK_EQ_INT((int)sv[0] | sv[1] << 8, 3);
    json_decref(o);
    it_free(&r);
}

IT_TEST(it_v2_binary_fp32_input_tensor, 0, NULL)
{
    http_resp r;
    size_t item = (size_t)d->in_c * d->in_h * d->in_w;
    char head[512];
    int h = snprintf(head, sizeof head,
                     "{\"parameters\":{\"steps\":2},\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\","
                     "\"shape\":[2,%d,%d,%d],\"parameters\":{\"binary_data_size\":%zu}}],"
                     "\"outputs\":[{\"name\":\"probabilities\"}]}",
                     d->in_c, d->in_h, d->in_w, 2 * item * 4);
    char *b = malloc((size_t)h + 2 * item * 4);
    memcpy(b, head, (size_t)h);
    for (size_t i = 0; i < 2 * item; i++) {
        float f = (float)(i % 17) / 17.0f;
        uint32_t u;
        memcpy(&u, &f, 4);
        for (int q = 0; q < 4; q++) b[h + 4 * i + (size_t)q] = (char)(u >> (8 * q));
    }
    CHECK_OK(post(d, b, (size_t)h + 2 * item * 4, (size_t)h, &r));
    free(b);
    CHECK_MSG(r.status == 200, "%ld %.300s", r.status, r.body);
    json_t *o = it_json(&r);
    it_free(&r);
    json_t *p = output(o, "probabilities");
    CHECK_EQ_INT(json_integer_value(json_array_get(json_object_get(p, "shape"), 0)), 2);
    CHECK_EQ_INT(json_array_size(json_object_get(p, "data")), 2 * d->nclasses);
    json_decref(o);
}

/* Every way a request can miss the metadata is a 400 that names it. */
IT_TEST(it_v2_strict_validation, 0, "--max-batch", "2", NULL)
{
    http_resp r;
    char path[160], body[4096];
    snprintf(path, sizeof path, "/v2/models/%s/infer", d->model);
    int H = d->in_h, W = d->in_w, C = d->in_c;
    struct {
        const char *fmt;
        const char *needle;
    } bad[] = {
        {"{\"inputs\":[{\"name\":\"x\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[0]}]}", "unknown input"},
        {"{\"inputs\":[{\"name\":\"image\",\"datatype\":\"FP32\",\"shape\":[1,%d,%d,%d],\"data\":[0]}]}", "datatype"},
        {"{\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[%d,%d,%d],\"data\":[0]}]}", "rank 4"},
        {"{\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[0,1]}]}", "values"},
        {"{\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[3,%d,%d,%d],\"data\":[0]}]}", "batch"},
        {"{\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[0],"
         "\"parameters\":{\"binary_data_size\":1}}]}", "either"},
        {"{\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],"
         "\"parameters\":{\"binary_data_size\":7}}]}", "binary_data_size"},
        {"{\"parameters\":{\"color\":1},\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[0]}]}", "color"},
        {"{\"parameters\":{\"spike_stats\":true},\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[0]}]}", "spike_stats"},
        {"{\"parameters\":{\"priority\":2},\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[0]}]}", "priority"},
        {"{\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[0]}],\"extra\":1}", "unknown field"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int n = snprintf(body, sizeof body, bad[i].fmt, H, W, C);   /* every case has H, W, C */
        HTTP(d, "POST", path, "application/json", body, (size_t)n, NULL, &r);
        CHECK_MSG(r.status == 400 && r.body && strstr(r.body, bad[i].needle), "case %zu (%s): %ld %s", i,
                  bad[i].needle, r.status, r.body);
        it_free(&r);
    }
    /* outputs: only the declared ones, each once, with known parameters */
    const char *outs[][2] = {{"[{\"name\":\"logits\"}]", "unknown output"},
                             {"[{\"name\":\"steps\"},{\"name\":\"steps\"}]", "twice"},
                             {"[{\"name\":\"steps\",\"parameters\":{\"classification\":2}}]", "classification"},
                             {"[]", "non-empty"}};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        char *req = json_request(d, "", outs[i][0]);
        HTTP(d, "POST", path, "application/json", req, strlen(req), NULL, &r);
        free(req);
        CHECK_MSG(r.status == 400 && r.body && strstr(r.body, outs[i][1]), "outputs %s: %ld %s", outs[i][0],
                  r.status, r.body);
        it_free(&r);
    }
    /* UINT8 values are integers 0..255, checked one by one */
    char *ok = json_request(d, "", NULL);
    char *p = strstr(ok, "\"data\":[0,") + 8;   /* the first value, 0, becomes 256 */
    char *big = malloc(strlen(ok) + 3);
    sprintf(big, "%.*s256%s", (int)(p - ok), ok, p + 1);
    HTTP(d, "POST", path, "application/json", big, strlen(big), NULL, &r);
    CHECK_MSG(r.status == 400 && strstr(r.body, "0..255"), "%ld %s", r.status, r.body);
    it_free(&r);
    free(big);
    free(ok);
    /* binary framing: trailing bytes, a header longer than the body, no header */
    size_t len, hlen;
    char *bb = binary_request(d, "", NULL, &len, &hlen);
    char *more = malloc(len + 3);
    memcpy(more, bb, len);
    memcpy(more + len, "xyz", 3);
    CHECK_OK(post(d, more, len + 3, hlen, &r));
    CHECK_MSG(r.status == 400 && strstr(r.body, "after the binary data"), "%ld %s", r.status, r.body);
    it_free(&r);
    CHECK_OK(post(d, bb, len, len + 1, &r));
    CHECK_MSG(r.status == 400 && strstr(r.body, "Inference-Header-Content-Length"), "%ld %s", r.status, r.body);
    it_free(&r);
    HTTP(d, "POST", path, "application/octet-stream", bb, len, NULL, &r);
    CHECK_EQ_INT(r.status, 415);
    it_free(&r);
    free(more);
    free(bb);
}

IT_TEST(it_v2_timeout_parameter_is_the_deadline, 0, NULL)
{
    http_resp r;
    /* 1 microsecond: expired before a worker can take the job */
    char *jb = json_request(d, "\"steps\":3,\"timeout\":1", NULL);
    CHECK_OK(post(d, jb, strlen(jb), 0, &r));
    free(jb);
    CHECK_MSG(r.status == 504, "%ld %s", r.status, r.body);
    it_free(&r);
    jb = json_request(d, "\"steps\":3,\"timeout\":60000000", NULL);
    CHECK_OK(post(d, jb, strlen(jb), 0, &r));
    free(jb);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    jb = json_request(d, "\"timeout\":-5", NULL);
    CHECK_OK(post(d, jb, strlen(jb), 0, &r));
    free(jb);
    CHECK_EQ_INT(r.status, 400);
    it_free(&r);
}
