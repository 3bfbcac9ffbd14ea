/* test_hardening_limits.c: every request limit of snnd (issue 7), each at
 * its boundary against the real daemon with a small setting: body size
 * (by Content-Length before the body is sent, and at the exact boundary),
 * image side and decoded pixels, decompression bombs in PNG and JPEG
 * refused without the daemon's peak memory moving, batch size in every
 * body form, steps, raster size, JSON depth and length, header and URL
 * size, concurrent connections, and slow clients trickling the headers.
 * test_api.c and test_ops.c cover the plain cases; these are the edges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "it.h"

static double hl_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Read what the server sends until it closes or `secs` pass; returns the
 * HTTP status of the first status line (0 if none). */
static int hl_read_status(int fd, double secs, char *buf, size_t cap)
{
    size_t k = 0;
    double end = hl_now() + secs;
    struct timeval tv = {0, 200000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    while (hl_now() < end && k + 1 < cap) {
        ssize_t n = recv(fd, buf + k, cap - 1 - k, 0);
        if (n == 0) break;
        if (n < 0) {
            if (k > 12) break;
            continue;
        }
        k += (size_t)n;
        if (strstr(buf, "\r\n\r\n")) break;
    }
    buf[k] = '\0';
    return !strncmp(buf, "HTTP/1.", 7) ? atoi(buf + 9) : 0;
}

static int hl_status(snnd_proc *d, const char *method, const char *path, const char *ctype,
                     const void *body, size_t len, char *err, size_t errlen)
{
    http_resp r;
    if (it_http(d, method, path, ctype, body, len, NULL, &r) != 0) {
        it_free(&r);
        return -1;
    }
    if (err) snprintf(err, errlen, "%s", r.body ? r.body : "");
    int s = (int)r.status;
    it_free(&r);
    return s;
}

/* A Content-Length over the limit is answered 413 before any body byte is
 * sent; bodies at the limit pass the size check, one byte more does not. */
IT_TEST(hl_body_size_limits, 0, "--max-body-bytes", "4096", NULL)
{
    char buf[2048];
    int fd = it_connect(d, 10);
    CHECK(fd >= 0);
    const char *head = "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                       "Content-Length: 10000000000\r\n\r\n";
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
    /* no body byte is ever sent: an answer at all is an answer before it */
    int st = hl_read_status(fd, 60, buf, sizeof buf);
    close(fd);
    CHECK_MSG(st == 413, "10 GB Content-Length answered %d: %.200s", st, buf);
    /* A Content-Length that is not a number is not a huge allocation either. */
    fd = it_connect(d, 10);
    CHECK(fd >= 0);
    head = "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n";
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
    st = hl_read_status(fd, 60, buf, sizeof buf);
    close(fd);
    CHECK_MSG(st == 413 || st == 400, "overflowing Content-Length answered %d", st);

    char *body = calloc(1, 4097);
    CHECK(body);
    char err[512];
    st = hl_status(d, "POST", "/classify", "image/png", body, 4096, err, sizeof err);
    CHECK_MSG(st == 400, "4096-byte body (at the limit) answered %d: %s", st, err);
    st = hl_status(d, "POST", "/classify", "image/png", body, 4097, err, sizeof err);
    CHECK_MSG(st == 413, "4097-byte body answered %d: %s", st, err);
    free(body);
    /* Endpoints without a body refuse one. */
    st = hl_status(d, "GET", "/healthz", "text/plain", "abc", 3, err, sizeof err);
    CHECK_MSG(st == 200 || st == 400, "GET with a body answered %d", st);
    CHECK_EQ_INT(hl_status(d, "GET", "/healthz", NULL, NULL, 0, NULL, 0), 200);
}

IT_TEST(hl_image_side_and_pixels, 0, "--max-image-side", "64", "--max-image-pixels", "2048", NULL)
{
    uint8_t *png;
    size_t len;
    char err[512];
    int st;
    /* side: 64 passes (64x10 = 640 px), 65 does not */
    CHECK_OK(it_png(d, 64, 10, 1, &png, &len));
    st = hl_status(d, "POST", "/classify?steps=2", "image/png", png, len, err, sizeof err);
    free(png);
    CHECK_MSG(st == 200, "64x10 answered %d: %s", st, err);
    CHECK_OK(it_png(d, 65, 10, 1, &png, &len));
    st = hl_status(d, "POST", "/classify?steps=2", "image/png", png, len, err, sizeof err);
    free(png);
    CHECK_MSG(st == 413 || st == 400, "65x10 answered %d: %s", st, err);
    CHECK_MSG(strstr(err, "65") || strstr(err, "limit") || strstr(err, "large"),
              "the 4xx does not say what is too large: %s", err);
    /* pixels: 45x45 = 2025 passes, 46x46 = 2116 does not */
    CHECK_OK(it_png(d, 45, 45, 3, &png, &len));
    st = hl_status(d, "POST", "/classify?steps=2", "image/png", png, len, err, sizeof err);
    free(png);
    CHECK_MSG(st == 200, "45x45 answered %d: %s", st, err);
    CHECK_OK(it_png(d, 46, 46, 3, &png, &len));
    st = hl_status(d, "POST", "/classify?steps=2", "image/png", png, len, err, sizeof err);
    free(png);
    CHECK_MSG(st == 413 || st == 400, "46x46 answered %d: %s", st, err);
    /* the same limits hold for JPEG and for raw pixel arrays */
    CHECK_OK(it_jpeg(65, 8, 1, &png, &len));
    st = hl_status(d, "POST", "/classify?steps=2", "image/jpeg", png, len, err, sizeof err);
    free(png);
    CHECK_MSG(st == 413 || st == 400, "65x8 JPEG answered %d: %s", st, err);
    char json[256];
    snprintf(json, sizeof json, "{\"pixels\":[[%s0]],\"steps\":2}",
             "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
             "0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,");
    st = hl_status(d, "POST", "/classify", "application/json", json, strlen(json), err, sizeof err);
    CHECK_MSG(st == 413 || st == 400, "1x65 pixel array answered %d: %s", st, err);
}

/* Rewrite the width and height of a JPEG's SOF marker. */
static int hl_jpeg_claim(uint8_t *j, size_t len, int w, int h)
{
    for (size_t i = 2; i + 9 < len; i++)
        if (j[i] == 0xFF && (j[i + 1] == 0xC0 || j[i + 1] == 0xC1 || j[i + 1] == 0xC2)) {
            j[i + 5] = (uint8_t)(h >> 8);
            j[i + 6] = (uint8_t)h;
            j[i + 7] = (uint8_t)(w >> 8);
            j[i + 8] = (uint8_t)w;
            return 0;
        }
    return -1;
}

/* Decompression bombs: small files that claim 60000x60000 are refused from
 * their header. Twenty of each must not move the daemon's peak RSS by more
 * than a few MiB (one 60000x60000 RGB buffer would be 10 GB; one row, 180 KB). */
IT_TEST(hl_decompression_bombs_no_alloc, 0, NULL)
{
    char err[512];
    uint8_t bomb[4096], *jpg;
    size_t blen = 0, jlen;
    FILE *f = fopen(test_path("images/bomb_60000.png"), "rb");
    if (f) {
        blen = fread(bomb, 1, sizeof bomb, f);
        fclose(f);
    }
    CHECK_OK(it_jpeg(16, 16, 3, &jpg, &jlen));
    CHECK_OK(hl_jpeg_claim(jpg, jlen, 60000, 60000));
    /* warm the paths once, then measure */
    CHECK_EQ_INT(hl_status(d, "GET", "/metrics", NULL, NULL, 0, NULL, 0), 200);
    long hwm0 = it_hwm_kb(d);
    CHECK(hwm0 > 0);
    for (int i = 0; i < 20; i++) {
        int st;
        if (blen) {
            st = hl_status(d, "POST", "/classify", "image/png", bomb, blen, err, sizeof err);
            CHECK_MSG(st == 413 || st == 400, "PNG bomb answered %d: %s", st, err);
        }
        st = hl_status(d, "POST", "/classify", "image/jpeg", jpg, jlen, err, sizeof err);
        CHECK_MSG(st == 413 || st == 400, "JPEG bomb answered %d: %s", st, err);
        char *b64 = it_b64(jpg, jlen), *json = malloc(strlen(b64) + 32);
        sprintf(json, "{\"images\":[\"%s\"]}", b64);
        st = hl_status(d, "POST", "/classify", "application/json", json, strlen(json), err, sizeof err);
        free(b64);
        free(json);
        CHECK_MSG(st == 413 || st == 400, "base64 JPEG bomb answered %d: %s", st, err);
    }
    free(jpg);
    long hwm1 = it_hwm_kb(d);
    CHECK_MSG(hwm1 - hwm0 < 16 * 1024, "peak RSS grew %ld KiB on bombs", hwm1 - hwm0);
    CHECK_EQ_INT(hl_status(d, "GET", "/healthz", NULL, NULL, 0, NULL, 0), 200);
}

static char *hl_b64_image(snnd_proc *d)
{
    uint8_t *png;
    size_t len;
    if (it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len)) return NULL;
    char *b = it_b64(png, len);
    free(png);
    return b;
}

/* max-batch 2: three images are refused in every body form. */
IT_TEST(hl_batch_limit_every_form, 0, "--max-batch", "2", NULL)
{
    char err[512], *json, *b64 = hl_b64_image(d);
    int st;
    CHECK(b64);
    size_t cap = 3 * strlen(b64) + 4096;
    json = malloc(cap);
    snprintf(json, cap, "{\"steps\":2,\"images\":[\"%s\",\"%s\"]}", b64, b64);
    st = hl_status(d, "POST", "/classify", "application/json", json, strlen(json), err, sizeof err);
    CHECK_MSG(st == 200, "2 images answered %d: %s", st, err);
    snprintf(json, cap, "{\"steps\":2,\"images\":[\"%s\",\"%s\",\"%s\"]}", b64, b64, b64);
    st = hl_status(d, "POST", "/classify", "application/json", json, strlen(json), err, sizeof err);
    CHECK_MSG(st == 400 && strstr(err, "batch"), "3 base64 images answered %d: %s", st, err);
    /* multipart with three image parts */
    uint8_t *png;
    size_t plen, k = 0;
    CHECK_OK(it_png(d, d->in_w, d->in_h, 1, &png, &plen));
    char *mp = malloc(3 * plen + 1024);
    for (int i = 0; i < 3; i++) {
        k += (size_t)sprintf(mp + k, "--bnd\r\nContent-Disposition: form-data; name=\"image\"; "
                                     "filename=\"%d.png\"\r\nContent-Type: image/png\r\n\r\n", i);
        memcpy(mp + k, png, plen);
        k += plen;
        k += (size_t)sprintf(mp + k, "\r\n");
    }
    k += (size_t)sprintf(mp + k, "--bnd--\r\n");
    st = hl_status(d, "POST", "/classify", "multipart/form-data; boundary=bnd", mp, k, err, sizeof err);
    CHECK_MSG(st == 400 && strstr(err, "batch"), "3 multipart images answered %d: %s", st, err);
    free(mp);
    free(png);
    /* a tensor batch of 3 (flat, N x item) and a v2 batch of 3 */
    size_t item = (size_t)d->in_c * d->in_h * d->in_w;
    char *t = malloc(item * 3 * 2 + 256);
    k = (size_t)sprintf(t, "{\"steps\":2,\"tensor\":[");
    for (size_t i = 0; i < 3 * item; i++) k += (size_t)sprintf(t + k, i ? ",0" : "0");
    k += (size_t)sprintf(t + k, "],\"shape\":[3,%zu]}", item);
    st = hl_status(d, "POST", "/classify", "application/json", t, k, err, sizeof err);
    CHECK_MSG(st == 400, "tensor batch of 3 answered %d: %s", st, err);
    k = (size_t)sprintf(t, "{\"inputs\":[{\"name\":\"input\",\"datatype\":\"FP32\",\"shape\":[3,%d,%d,%d],\"data\":[",
                        d->in_c, d->in_h, d->in_w);
    for (size_t i = 0; i < 3 * item; i++) k += (size_t)sprintf(t + k, i ? ",0" : "0");
    k += (size_t)sprintf(t + k, "]}]}");
    char path[128];
    snprintf(path, sizeof path, "/v2/models/%s/infer", d->model);
    st = hl_status(d, "POST", path, "application/json", t, k, err, sizeof err);
    CHECK_MSG(st == 400, "v2 batch of 3 answered %d: %s", st, err);
    free(t);
    free(json);
    free(b64);
}

IT_TEST(hl_steps_and_raster_limits, 0, "--max-steps", "50", "--max-raster-neurons", "4", NULL)
{
    uint8_t *png;
    size_t len;
    char err[512], path[256];
    int st;
    CHECK_OK(it_png(d, d->in_w, d->in_h, 1, &png, &len));
    st = hl_status(d, "POST", "/classify?steps=50", "image/png", png, len, err, sizeof err);
    CHECK_MSG(st == 200, "steps=50 (the limit) answered %d: %s", st, err);
    st = hl_status(d, "POST", "/classify?steps=51", "image/png", png, len, err, sizeof err);
    CHECK_MSG(st == 400 && strstr(err, "51"), "steps=51 answered %d: %s", st, err);
    st = hl_status(d, "POST", "/classify?steps=0", "image/png", png, len, err, sizeof err);
    CHECK_MSG(st == 400, "steps=0 answered %d: %s", st, err);
    st = hl_status(d, "POST", "/classify?steps=99999999999999999999", "image/png", png, len, err, sizeof err);
    CHECK_MSG(st == 400, "steps overflowing answered %d: %s", st, err);
    /* the limit holds in JSON bodies and v2 parameters too */
    char *b64 = it_b64(png, len), *json = malloc(strlen(b64) + 64);
    sprintf(json, "{\"image\":\"%s\",\"steps\":51}", b64);
    st = hl_status(d, "POST", "/classify", "application/json", json, strlen(json), err, sizeof err);
    CHECK_MSG(st == 400, "JSON steps 51 answered %d: %s", st, err);
    free(json);
    free(b64);
    snprintf(path, sizeof path, "/v2/models/%s/infer", d->model);
    const char *v2 = "{\"parameters\":{\"steps\":51},\"inputs\":[{\"name\":\"image\",\"datatype\":\"UINT8\","
                     "\"shape\":[1,2,2,1],\"data\":[0,1,2,3]}]}";
    st = hl_status(d, "POST", path, "application/json", v2, strlen(v2), err, sizeof err);
    CHECK_MSG(st == 400 && strstr(err, "51"), "v2 steps 51 answered %d: %s", st, err);
    /* raster: the first neuron layer, 4 neurons pass, 5 do not */
    http_resp r;
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    json_t *o = it_json(&r), *layers = json_object_get(o, "layers");
    it_free(&r);
    const char *layer = NULL;
    for (size_t i = 0; i < json_array_size(layers) && !layer; i++) {
        json_t *l = json_array_get(layers, i);
        if (!strcmp(json_string_value(json_object_get(l, "kind")) ?: "", "neurons"))
            layer = json_string_value(json_object_get(l, "name"));
    }
    CHECK_MSG(layer, "no neuron layer in /v1/models/%s", d->model);
    snprintf(path, sizeof path, "/classify?steps=2&raster=%s:4", layer);
    st = hl_status(d, "POST", path, "image/png", png, len, err, sizeof err);
    CHECK_MSG(st == 200, "raster of 4 answered %d: %s", st, err);
    snprintf(path, sizeof path, "/classify?steps=2&raster=%s:5", layer);
    st = hl_status(d, "POST", path, "image/png", png, len, err, sizeof err);
    CHECK_MSG(st == 400 && strstr(err, "raster"), "raster of 5 answered %d: %s", st, err);
    snprintf(path, sizeof path, "/classify?steps=2&raster=%s&raster_neurons=2147483647", layer);
    st = hl_status(d, "POST", path, "image/png", png, len, err, sizeof err);
    CHECK_MSG(st == 400, "raster_neurons 2^31-1 answered %d: %s", st, err);
    json_decref(o);
    free(png);
}

IT_TEST(hl_json_depth_and_length, 0, "--max-json-depth", "6", "--max-body-bytes", "2000000", NULL)
{
    char err[512];
    int st;
    /* depth 6 is parsed (and refused for its content), depth 7 for its depth */
    const char *d6 = "{\"a\":[[[[[1]]]]],\"image\":\"x\"}";
    st = hl_status(d, "POST", "/classify", "application/json", d6, strlen(d6), err, sizeof err);
    CHECK_MSG(st == 400 && !strstr(err, "nested"), "depth 6 answered %d: %s", st, err);
    const char *d7 = "{\"a\":[[[[[[1]]]]]],\"image\":\"x\"}";
    st = hl_status(d, "POST", "/classify", "application/json", d7, strlen(d7), err, sizeof err);
    CHECK_MSG(st == 400 && strstr(err, "nested"), "depth 7 answered %d: %s", st, err);
    /* brackets inside strings do not count; escaped quotes do not end strings */
    const char *instr = "{\"image\":\"[[[[[[[[[[\\\"[[[[[[[[\"}";
    st = hl_status(d, "POST", "/classify", "application/json", instr, strlen(instr), err, sizeof err);
    CHECK_MSG(st == 400 && !strstr(err, "nested"), "brackets in a string answered %d: %s", st, err);
    /* a 100000-deep body is refused by depth, not by a stack overflow */
    size_t n = 100000;
    char *deep = malloc(2 * n + 16);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    st = hl_status(d, "POST", "/classify", "application/json", deep, 2 * n, err, sizeof err);
    CHECK_MSG(st == 400, "100000-deep JSON answered %d: %s", st, err);
    free(deep);
    /* long strings: a 1 MB option value, a 1 MB key, 100000 keys */
    size_t big = 1000000;
    char *s = malloc(big + 64);
    size_t k = (size_t)sprintf(s, "{\"image\":\"x\",\"raster\":\"");
    memset(s + k, 'a', big - 64);
    k += big - 64;
    k += (size_t)sprintf(s + k, "\"}");
    st = hl_status(d, "POST", "/classify", "application/json", s, k, err, sizeof err);
    CHECK_MSG(st == 400, "1 MB option value answered %d: %s", st, err);
    k = (size_t)sprintf(s, "{\"image\":\"x\",\"");
    memset(s + k, 'k', big - 64);
    k += big - 64;
    k += (size_t)sprintf(s + k, "\":1}");
    st = hl_status(d, "POST", "/classify", "application/json", s, k, err, sizeof err);
    CHECK_MSG(st == 400, "1 MB key answered %d: %s", st, err);
    free(s);
    /* numbers: a pixel array claiming more elements than any limit */
    const char *shape = "{\"pixels\":[1],\"shape\":[100000,100000,100000,3]}";
    st = hl_status(d, "POST", "/classify", "application/json", shape, strlen(shape), err, sizeof err);
    CHECK_MSG(st == 400, "huge shape answered %d: %s", st, err);
    const char *nan = "{\"tensor\":[NaN],\"shape\":[1]}";
    st = hl_status(d, "POST", "/classify", "application/json", nan, strlen(nan), err, sizeof err);
    CHECK_MSG(st == 400, "NaN answered %d: %s", st, err);
    CHECK_EQ_INT(hl_status(d, "GET", "/healthz", NULL, NULL, 0, NULL, 0), 200);
}

IT_TEST(hl_header_and_url_limits, 0, "--header-bytes", "8192", NULL)
{
    char buf[2048];
    /* many small headers adding up past header-bytes */
    int fd = it_connect(d, 10);
    CHECK(fd >= 0);
    char *req = malloc(64 * 1024);
    size_t k = (size_t)sprintf(req, "GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 400; i++) k += (size_t)sprintf(req + k, "X-H%d: %040d\r\n", i, i);
    k += (size_t)sprintf(req + k, "\r\n");
    ssize_t sent = send(fd, req, k, MSG_NOSIGNAL);
    int st = hl_read_status(fd, 60, buf, sizeof buf);
    close(fd);
    CHECK_MSG(sent <= 0 || st == 431 || st == 413 || st == 400 || st == 0,
              "400 headers answered %d", st);
    /* a 20 KB URL */
    fd = it_connect(d, 10);
    CHECK(fd >= 0);
    k = (size_t)sprintf(req, "GET /");
    memset(req + k, 'u', 20000);
    k += 20000;
    k += (size_t)sprintf(req + k, " HTTP/1.1\r\nHost: x\r\n\r\n");
    sent = send(fd, req, k, MSG_NOSIGNAL);
    st = hl_read_status(fd, 60, buf, sizeof buf);
    close(fd);
    CHECK_MSG(sent <= 0 || st == 414 || st == 431 || st == 400 || st == 0, "20 KB URL answered %d", st);
    /* a URL just over the router's 1024 bytes (within header-bytes) */
    k = (size_t)sprintf(req, "/v1/models/");
    memset(req + k, 'm', 1100);
    req[k + 1100] = '\0';
    st = hl_status(d, "GET", req, NULL, NULL, 0, buf, sizeof buf);
    CHECK_MSG(st == 414 || st == 404 || st == 400, "1100-byte URL answered %d", st);
    free(req);
    CHECK_EQ_INT(hl_status(d, "GET", "/healthz", NULL, NULL, 0, NULL, 0), 200);
}

/* max-connections 4: a fifth connection is closed at once; once the idle
 * ones are gone the daemon serves again. Each of the four is known to be
 * accepted because it was served (keep-alive); one refused while the
 * harness's own connections wind down is retried (observed, no sleep). */
static int hl_keepalive_healthz(snnd_proc *d)
{
    char buf[512];
    int fd = it_connect(d, 10);
    if (fd < 0) return -1;
    const char *get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    if (send(fd, get, strlen(get), MSG_NOSIGNAL) != (ssize_t)strlen(get) ||
        hl_read_status(fd, 60, buf, sizeof buf) != 200) {
        close(fd);
        return -1;
    }
    return fd;
}

IT_TEST(hl_connection_limit, 0, "--max-connections", "4", "--connection-timeout-s", "30", NULL)
{
    int fds[4], extra;
    char buf[512];
    for (int i = 0; i < 4; i++) {
        fds[i] = -1;
        for (int k = 0; k < 600 && fds[i] < 0; k++) {
            fds[i] = hl_keepalive_healthz(d);
            if (fds[i] < 0) usleep(10000);
        }
        if (fds[i] < 0) {
            for (int j = 0; j < i; j++) close(fds[j]);
            CHECK_MSG(0, "connection %d was never served", i);
        }
    }
    extra = it_connect(d, 10);
    int refused = extra < 0;
    if (!refused) {
        const char *get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
        send(extra, get, strlen(get), MSG_NOSIGNAL);
        int st = hl_read_status(extra, 10, buf, sizeof buf);
        refused = st == 0 || st == 503;
        close(extra);
    }
    for (int i = 0; i < 4; i++) close(fds[i]);
    CHECK_MSG(refused, "a fifth connection was served over max-connections 4");
    int st = 0;
    for (int k = 0; k < 600 && st != 200; k++) {   /* observed: served again */
        st = hl_status(d, "GET", "/healthz", NULL, NULL, 0, NULL, 0);
        if (st != 200) usleep(10000);
    }
    CHECK_EQ_INT(st, 200);
}

/* Slowloris: headers trickled one byte every 250 ms never leave the
 * connection idle for connection-timeout-s, yet the client must be cut
 * off once that much time has passed, like a trickled body (test_ops.c):
 * observed as the close, never before the timeout. */
IT_TEST(hl_slow_headers_cut_off, 0, "--connection-timeout-s", "1", NULL)
{
    int fd = it_connect(d, 10);
    CHECK(fd >= 0);
    const char *head = "POST /classify HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    double t0 = hl_now(), closed_at = -1;
    for (size_t i = 0; i < strlen(head) && closed_at < 0; i++) {
        char c;
        if (send(fd, head + i, 1, MSG_NOSIGNAL) != 1) closed_at = hl_now();
        else if (recv(fd, &c, 1, MSG_DONTWAIT) == 0) closed_at = hl_now();
        usleep(250000);
    }
    close(fd);
    CHECK_EQ_INT(hl_status(d, "GET", "/healthz", NULL, NULL, 0, NULL, 0), 200);
    /* Finding H1 (docs/hardening.md), fixed by the connection watchdog. */
    CHECK_MSG(closed_at > 0, "a client trickling its headers was never cut off (connection-timeout-s 1)");
    CHECK_MSG(closed_at - t0 >= 0.9, "cut off after %.2f s, before connection-timeout-s 1", closed_at - t0);
}

/* Allocation amplification: a 1.2 KB "pixels" array whose first element
 * at each of 4 levels has 150 entries claims 150^4 = 506 M values (under
 * the max-batch x max-image-pixels x 4 cap), and the daemon allocates
 * 2 GB for it before finding that the rest is not rectangular. Sizes must
 * be checked against the data actually present before allocating (the
 * same holds for v2 "data"). Finding H2 in docs/hardening.md. */
IT_TEST(hl_pixel_array_amplification, 0, NULL)
{
    char err[512];
    size_t cap = 8192, k = 0;
    char *j = malloc(cap);
    k += (size_t)sprintf(j + k, "{\"pixels\":");
    for (int lvl = 0; lvl < 4; lvl++) j[k++] = '[';
    for (int lvl = 3; lvl >= 0; lvl--) {
        for (int i = lvl == 3 ? 0 : 1; i < 150; i++) k += (size_t)sprintf(j + k, "%s0", i ? "," : "");
        j[k++] = ']';
    }
    k += (size_t)sprintf(j + k, "}");
    CHECK(k < cap);
    long peak0 = it_proc_status(d, "VmPeak");
    for (int i = 0; i < 4; i++) {
        int st = hl_status(d, "POST", "/classify", "application/json", j, k, err, sizeof err);
        CHECK_MSG(st == 400, "non-rectangular 150^4 claim answered %d: %s", st, err);
    }
    free(j);
    /* Trusting the claim would reserve 150^4 floats (1.9 GiB). A connection
     * thread's first allocation may reserve a new glibc arena (64 MiB of
     * address space each) and its stack (8 MiB): growth of that kind is
     * noise, so the bound sits between the two (finding H2, fixed in body.c). */
    long grown = it_proc_status(d, "VmPeak") - peak0;
    CHECK_MSG(grown < 1024 * 1024, "a 1.2 KB body made the daemon's peak virtual size grow %ld MiB",
              grown / 1024);
}
