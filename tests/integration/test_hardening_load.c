/* test_hardening_load.c: the resource-exhaustion and framing fixes of
 * issue 13 against the real daemon, each asserted on what it exists for
 * (status codes, bytes on the wire, metrics, peak memory against a bound
 * computed from the configuration), never on how fast the machine is:
 * libmicrohttpd's own early errors answered exactly once; shape products
 * that would overflow int64 refused as too many elements; image decoding
 * bounded by decode-concurrency and max-image-scans, stopped by the
 * deadline and by the client leaving; JSON bodies counted before jansson
 * expands them. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <jpeglib.h>

#include "it.h"
#include "snn/image.h"

/* The value of one exact series line of /metrics ("name{labels}" or
 * "name"), -1 if absent. */
static double hld_metric(snnd_proc *d, const char *series)
{
    http_resp r;
    double v = -1;
    size_t n = strlen(series);
    if (it_http(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r) == 0 && r.status == 200)
        for (const char *p = r.body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
            if (!strncmp(p, series, n) && p[n] == ' ') {
                v = strtod(p + n + 1, NULL);
                break;
            }
    it_free(&r);
    return v;
}

/* Poll a series until it equals want (the daemon's observed state), at
 * most `secs` seconds; returns the last value. */
static double hld_wait_metric(snnd_proc *d, const char *series, double want, double secs)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    double v = -1;
    for (int i = 0; i < (int)(secs * 50); i++) {
        if ((v = hld_metric(d, series)) == want) break;
        nanosleep(&ts, NULL);
    }
    return v;
}

/* A progressive gray JPEG of exactly nscans (64..694) scans: one DC scan,
 * one band per AC coefficient, successive-approximation refinements. */
static uint8_t *hld_jpeg_scans(int w, int h, int nscans, size_t *outlen)
{
    jpeg_scan_info scans[1 + 63 * 11];
    int n = 0, extra = nscans - 64;
    if (nscans < 64 || nscans > 1 + 63 * 11) return NULL;
    scans[n++] = (jpeg_scan_info){1, {0}, 0, 0, 0, 0};
    for (int k = 1; k <= 63; k++) {
        int al = extra > 10 ? 10 : extra;
        extra -= al;
        scans[n++] = (jpeg_scan_info){1, {0}, k, k, 0, al};
        for (int a = al; a > 0; a--) scans[n++] = (jpeg_scan_info){1, {0}, k, k, a, a - 1};
    }
    struct jpeg_compress_struct ci;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long len = 0;
    uint8_t *row = malloc((size_t)w);
    for (int x = 0; x < w; x++) row[x] = (uint8_t)(x * 7);
    ci.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&ci);
    jpeg_mem_dest(&ci, &out, &len);
    ci.image_width = (JDIMENSION)w;
    ci.image_height = (JDIMENSION)h;
    ci.input_components = 1;
    ci.in_color_space = JCS_GRAYSCALE;
    jpeg_set_defaults(&ci);
    ci.scan_info = scans;
    ci.num_scans = n;
    ci.optimize_coding = TRUE;
    jpeg_start_compress(&ci, TRUE);
    while (ci.next_scanline < ci.image_height) jpeg_write_scanlines(&ci, &row, 1);
    jpeg_finish_compress(&ci);
    jpeg_destroy_compress(&ci);
    free(row);
    *outlen = len;
    return out;
}

/* Everything the server sends on a fresh connection for one raw request,
 * until it closes (receive timeout 10 s). Returns the byte count. */
static size_t hld_exchange(snnd_proc *d, const char *req, char *buf, size_t cap)
{
    size_t k = 0;
    int fd = it_connect(d, 10);
    if (fd < 0) return 0;
    if (send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
        for (;;) {
            ssize_t n = recv(fd, buf + k, cap - 1 - k, 0);
            if (n <= 0 || (k += (size_t)n) + 1 >= cap) break;
        }
    }
    close(fd);
    buf[k] = '\0';
    return k;
}

static int hld_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* The answer a client reads from the start of a stream: one status line,
 * one header block with Connection: close and a Content-Length, and exactly
 * that many bytes of JSON error; what the connection carries after it is
 * never read as an answer. 0 when the answer is not of that form. */
static int hld_one_answer(const char *buf, int status)
{
    const char *end = strstr(buf, "\r\n\r\n"), *cl = strstr(buf, "Content-Length: ");
    if (atoi(buf + 9) != status || !end || !cl || cl > end || !strstr(buf, "Connection: close")) return 0;
    int n = atoi(cl + 16);
    const char *body = end + 4;
    if (hld_count(body, "HTTP/1.") && strstr(body, "HTTP/1.") < body + n) return 0;   /* a 2nd head inside */
    return n > 9 && (int)strlen(body) >= n && !strncmp(body, "{\"error\":", 9) && body[n - 1] == '}';
}

/* libmicrohttpd 0.9.75 writes the status line and headers of its early
 * error answers twice. Each malformed Content-Length (and headers over
 * header-bytes) is answered first by snnd: one status line, one header
 * block, a JSON error, Connection: close. */
IT_TEST(hld_bad_content_length_answered_once, 0, "--header-bytes", "4096", NULL)
{
    static const struct { const char *cl; int status; } cases[] = {
        {"-1", 400}, {"abc", 400}, {"1 2", 400}, {"99999999999999999999999", 413},
    };
    char req[8192], buf[16384];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(req, sizeof req,
                 "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n\r\n", cases[i].cl);
        size_t n = hld_exchange(d, req, buf, sizeof buf);
        CHECK_MSG(n > 12, "Content-Length %s: no answer", cases[i].cl);
        CHECK_MSG(hld_one_answer(buf, cases[i].status), "Content-Length %s answered: %.400s", cases[i].cl, buf);
    }
    /* headers over header-bytes: 431, once */
    int k = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + k, 'a', 6000);
    memcpy(req + k + 6000, "\r\n\r\n", 5);
    hld_exchange(d, req, buf, sizeof buf);
    CHECK_MSG(hld_one_answer(buf, 431), "big headers: %.400s", buf);
    /* the daemon goes on serving */
    http_resp r;
    HTTP(d, "GET", "/healthz", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
}
/* shape [2^41, 2^41] under a cap of 2^41 elements (max-batch 256 x
 * max-image-pixels 2^31 x 4): the product overflows int64 and wrapped to
 * 0 before the check was made with checked arithmetic. */
IT_TEST(hld_shape_product_overflow_refused, 0, "--max-batch", "256", "--max-image-pixels",
        "2147483648", NULL)
{
    static const char *bodies[] = {
        "{\"pixels\":[1,2,3,4],\"shape\":[2199023255552,2199023255552]}",
        "{\"pixels\":[1,2,3,4],\"shape\":[2,2199023255552,2199023255552,1]}",
    };
    for (int i = 0; i < 2; i++) {
        http_resp r;
        HTTP(d, "POST", "/classify", "application/json", bodies[i], strlen(bodies[i]), NULL, &r);
        CHECK_MSG(r.status == 400 && r.body && strstr(r.body, "too many elements"),
                  "body %d answered %ld: %s", i, r.status, r.body ? r.body : "");
        it_free(&r);
    }
}

/* Scans: max-image-scans passes, one more is 400 (the decode counters say
 * which); concurrency: 12 flat 1024x1024 RGBA PNGs at once with
 * decode-concurrency 1 all answer 200 and the daemon's peak memory grows
 * by less than one PNG decode's bound (4 bytes per pixel of RGBA output
 * plus 1 MiB; the coefficient term of snn_image_decode_peak_bytes is
 * JPEG's) plus 4 MiB; twelve decodes at once would hold up to 48 MiB
 * (measured without the gate: 26 MiB more, with it: 2.4 MiB). */
IT_TEST(hld_decode_scans_and_concurrency, 0, "--decode-concurrency", "1", "--max-image-scans", "70",
        "--max-image-pixels", "1048576", "--max-image-side", "1024", NULL)
{
    size_t len;
    uint8_t *j = hld_jpeg_scans(64, 48, 70, &len);
    http_resp r;
    HTTP(d, "POST", "/classify", "image/jpeg", j, len, NULL, &r);
    CHECK_MSG(r.status == 200, "70 scans under 70: %ld %s", r.status, r.body ? r.body : "");
    it_free(&r);
    free(j);
    j = hld_jpeg_scans(64, 48, 71, &len);
    HTTP(d, "POST", "/classify", "image/jpeg", j, len, NULL, &r);
    CHECK_MSG(r.status == 400 && r.body && strstr(r.body, "more than 70 scans"), "71 scans: %ld %s",
              r.status, r.body ? r.body : "");
    it_free(&r);
    free(j);
    CHECK_EQ_INT((long)hld_metric(d, "snnd_image_decodes_total{result=\"refused\"}"), 1);
    CHECK_EQ_INT((long)hld_metric(d, "snnd_image_decodes_total{result=\"ok\"}"), 1);

    size_t npx = 1024 * 1024;
    uint8_t *px = malloc(npx * 4), *png;
    for (size_t i = 0; i < npx * 4; i++) px[i] = (uint8_t)(i % 4 == 3 ? 255 : 90 + i % 4);
    CHECK_OK(snn_image_encode_png(px, 1024, 1024, 4, &png, &len, NULL) == SNN_OK ? 0 : -1);
    free(px);
    long hwm0 = it_hwm_kb(d);
    long st[12];
    int ra[12];
    CHECK_OK(it_concurrent(d, "/classify", "image/png", png, len, 12, st, ra));
    free(png);
    for (int i = 0; i < 12; i++) CHECK_MSG(st[i] == 200, "request %d answered %ld", i, st[i]);
    long grew = it_hwm_kb(d) - hwm0;
    long bound = (long)(4 * npx + (1 << 20)) / 1024 + 4 * 1024;   /* PNG: no coefficient term */
#ifndef __SANITIZE_ADDRESS__   /* ASan's quarantine keeps freed images resident */
    CHECK_MSG(grew < bound, "peak RSS grew by %ld KiB, bound %ld KiB", grew, bound);
#else
    (void)grew;
    (void)bound;
#endif
    CHECK_EQ_INT((long)hld_metric(d, "snnd_image_decodes_total{result=\"ok\"}"), 13);
    CHECK_EQ_INT((long)hld_metric(d, "snnd_image_decodes_active"), 0);
}

/* A client that sends a slow-to-decode progressive JPEG and closes its
 * socket: the decode stops (counted "cancelled"), the slot is free again
 * (the next image is decoded at once with decode-concurrency 1). */
IT_TEST(hld_decode_stops_when_client_leaves, 0, "--decode-concurrency", "1", "--max-image-scans",
        "500", NULL)
{
    size_t len;
    uint8_t *j = hld_jpeg_scans(2048, 2048, 300, &len);
    CHECK(j != NULL);
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                      "Content-Length: %zu\r\n\r\n", len);
    int fd = it_connect(d, 10);
    CHECK(fd >= 0);
    CHECK(send(fd, head, (size_t)hn, MSG_NOSIGNAL) == hn);
    CHECK(send(fd, j, len, MSG_NOSIGNAL) == (ssize_t)len);
    free(j);
    CHECK_EQ_INT((long)hld_wait_metric(d, "snnd_image_decodes_active", 1, 30), 1);
    close(fd);
    double v = hld_wait_metric(d, "snnd_image_decodes_total{result=\"cancelled\"}", 1, 30);
    CHECK_MSG(v == 1, "cancelled decodes: %g", v);
    CHECK_EQ_INT((long)hld_metric(d, "snnd_image_decodes_total{result=\"ok\"}"), -1);
    CHECK_EQ_INT((long)hld_wait_metric(d, "snnd_image_decodes_active", 0, 5), 0);
    uint8_t *png;
    CHECK_OK(it_png(d, 16, 16, 3, &png, &len));
    http_resp r;
    HTTP(d, "POST", "/classify?steps=2", "image/png", png, len, NULL, &r);
    free(png);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
}

/* The deadline is checked inside decoding: a body that arrives after the
 * request's deadline (the headers were sent 400 ms before, the timeout is
 * 200 ms: the deadline has passed whatever the machine's speed) is
 * answered 504 from the decoder, counted "timeout". */
IT_TEST(hld_decode_deadline, 0, "--request-timeout-ms", "200", NULL)
{
    uint8_t *png;
    size_t len;
    CHECK_OK(it_png(d, 64, 64, 3, &png, &len));
    char head[256], buf[4096];
    int hn = snprintf(head, sizeof head,
                      "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                      "Content-Length: %zu\r\n\r\n", len);
    int fd = it_connect(d, 10);
    CHECK(fd >= 0);
    CHECK(send(fd, head, (size_t)hn, MSG_NOSIGNAL) == hn);
    struct timespec ts = {0, 400 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK(send(fd, png, len, MSG_NOSIGNAL) == (ssize_t)len);
    free(png);
    ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    CHECK_MSG(n > 12 && atoi(buf + 9) == 504, "answered: %.300s", buf);
    CHECK_EQ_INT((long)hld_metric(d, "snnd_image_decodes_total{result=\"timeout\"}"), 1);
}

/* JSON values are counted before jansson builds its tree: over
 * max-json-values is 400 without the tree (peak memory moves by less than
 * the body's own buffers), at most passes. */
IT_TEST(hld_json_values_counted_before_parse, 0, "--max-json-values", "4096", "--max-body-bytes",
        "4194304", NULL)
{
    size_t cap = 4000000;
    char *b = malloc(cap);
    size_t k = (size_t)snprintf(b, cap, "{\"steps\":2,\"pixels\":[0");
    while (k + 8 < cap) k += (size_t)snprintf(b + k, cap - k, ",0");
    k += (size_t)snprintf(b + k, cap - k, "]}");
    long hwm0 = it_hwm_kb(d);
    http_resp r;
    HTTP(d, "POST", "/classify", "application/json", b, k, NULL, &r);
    CHECK_MSG(r.status == 400 && r.body && strstr(r.body, "max-json-values 4096"), "%ld %.200s",
              r.status, r.body ? r.body : "");
    it_free(&r);
    long grew = it_hwm_kb(d) - hwm0;
    CHECK_MSG(grew < 3 * 4096 + 8192, "peak RSS grew by %ld KiB for a refused 4 MB body", grew);
    /* 16 x 16 x 3 = 768 values + brackets: under the limit */
    k = (size_t)snprintf(b, cap, "{\"steps\":2,\"shape\":[16,16,3],\"pixels\":[7");
    for (int i = 1; i < 768; i++) k += (size_t)snprintf(b + k, cap - k, ",7");
    k += (size_t)snprintf(b + k, cap - k, "]}");
    HTTP(d, "POST", "/classify", "application/json", b, k, NULL, &r);
    CHECK_MSG(r.status == 200, "%ld %.200s", r.status, r.body ? r.body : "");
    it_free(&r);
    free(b);
}

/* Send a whole raw POST on a new connection (the answer is not read). */
static int hld_post_raw(snnd_proc *d, const char *path, const char *ctype, const char *body,
                        size_t len)
{
    char head[512];
    int fd = it_connect(d, 30);
    if (fd < 0) return -1;
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                      path, ctype, len);
    if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) != hn ||
        send(fd, body, len, MSG_NOSIGNAL) != (ssize_t)len) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Overload is refused at the headers. The queue is held full without
 * depending on compute speed: one request stays "arriving" (headers sent,
 * body not), so the worker waits max-queue-delay-ms (3 s) for a fuller
 * batch while three one-image jobs fill queue-size 3 (observed on
 * /metrics). Then a request whose body is not even an image is answered
 * 503 with Retry-After (the old path read and decoded the body first and
 * answered 400), and the connection stays open for the next request (no
 * new connection, no new thread per 503). */
IT_TEST(hld_overload_refused_at_headers, 0, "--workers", "1", "--queue-size", "3",
        "--max-queue-delay-ms", "3000", "--request-timeout-ms", "300000", NULL)
{
    size_t len;
    char *small = it_batch_body(d, 1, 2, &len);
    CHECK(small);
    char head[256];
    int hold = it_connect(d, 30);
    CHECK(hold >= 0);
    int hn = snprintf(head, sizeof head, "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      "application/json\r\nContent-Length: %zu\r\n\r\n", len);
    CHECK(send(hold, head, (size_t)hn, MSG_NOSIGNAL) == hn);
    CHECK_EQ_INT((long)hld_wait_metric(d, "snnd_inflight_requests", 1, 30), 1);
    int fds[3], n = 0;
    for (int i = 0; i < 3; i++)
        if ((fds[n] = hld_post_raw(d, "/classify", "application/json", small, len)) >= 0) n++;
    CHECK_EQ_INT(n, 3);
    char series[128];
    snprintf(series, sizeof series, "snnd_queue_depth{model=\"%s\"}", d->model);
    double q = hld_wait_metric(d, series, 3, 30);
    CHECK_MSG(q == 3, "queue depth %g, want 3", q);
    char buf[4096];
    int fd = it_connect(d, 10);
    CHECK(fd >= 0);
    const char *req = "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                      "Content-Length: 10\r\n\r\nnot a png!";
    CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
    ssize_t k = recv(fd, buf, sizeof buf - 1, 0);
    buf[k > 0 ? k : 0] = '\0';
    CHECK_MSG(k > 12 && atoi(buf + 9) == 503, "answered: %.300s", buf);
    CHECK_MSG(strstr(buf, "Retry-After:") != NULL, "503 without Retry-After: %.300s", buf);
    CHECK_MSG(strstr(buf, "is full") != NULL, "not the queue-full answer: %.300s", buf);
    req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK(send(fd, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
    k = recv(fd, buf, sizeof buf - 1, 0);
    buf[k > 0 ? k : 0] = '\0';
    CHECK_MSG(k > 12 && atoi(buf + 9) == 200, "the same connection then answered: %.300s", buf);
    close(fd);
    /* the held request goes away: the three queued run (once the batch
     * wait ends) and are answered */
    close(hold);
    free(small);
    for (int i = 0; i < n; i++) {
        k = recv(fds[i], buf, sizeof buf - 1, 0);
        buf[k > 0 ? k : 0] = '\0';
        CHECK_MSG(k > 12 && atoi(buf + 9) == 200, "queued request %d: %.200s", i, buf);
        close(fds[i]);
    }
}

/* A connection from source address `from` (127.0.0.2: another client
 * than the test's own 127.0.0.1), receive timeout 10 s; -1 on failure. */
static int hld_connect_from(snnd_proc *d, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in me = {0}, to = {0};
    struct timeval tv = {10, 0};
    me.sin_family = to.sin_family = AF_INET;
    inet_pton(AF_INET, from, &me.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    to.sin_port = htons((uint16_t)d->port);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof me) ||
        connect(fd, (struct sockaddr *)&to, sizeof to)) {
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* max-connections-per-ip 3: a fourth connection from 127.0.0.2 is closed
 * at once while 127.0.0.1 is served; header-timeout-ms 500: sockets that
 * trickle their headers are cut (well before connection-timeout-s 30). */
IT_TEST(hld_per_ip_limit_and_header_cut, 0, "--max-connections-per-ip", "3", "--header-timeout-ms",
        "500", "--connection-timeout-s", "30", NULL)
{
    int fds[3];
    char c;
    for (int i = 0; i < 3; i++) {
        fds[i] = hld_connect_from(d, "127.0.0.2");
        CHECK(fds[i] >= 0);
        CHECK(send(fds[i], "GET /healthz HTTP/1.1\r\nX-Slow: a", 32, MSG_NOSIGNAL) == 32);
    }
    int fourth = hld_connect_from(d, "127.0.0.2");
    CHECK(fourth >= 0);
    send(fourth, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 35, MSG_NOSIGNAL);
    ssize_t n = recv(fourth, &c, 1, 0);
    CHECK_MSG(n == 0 || (n < 0 && errno == ECONNRESET), "a 4th connection from one address: recv %zd", n);
    close(fourth);
    http_resp r;
    HTTP(d, "GET", "/healthz", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    /* the three trickling sockets are cut: recv sees the close within its
     * 10 s timeout (the watchdog runs every 250 ms) */
    for (int i = 0; i < 3; i++) {
        n = recv(fds[i], &c, 1, 0);
        CHECK_MSG(n == 0 || (n < 0 && errno == ECONNRESET), "slow socket %d: recv %zd errno %d", i, n,
                  errno);
        close(fds[i]);
    }
    /* and the address is served again once the daemon has closed them
     * (the watchdog shuts the sockets down; their threads then end) */
    const char *req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    char buf[1024];
    int served = 0;
    struct timespec ts = {0, 50 * 1000 * 1000};
    for (int attempt = 0; attempt < 200 && !served; attempt++) {
        int again = hld_connect_from(d, "127.0.0.2");
        CHECK(again >= 0);
        if (send(again, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req)) {
            n = recv(again, buf, sizeof buf - 1, 0);
            served = n > 12 && !strncmp(buf, "HTTP/1.1 200", 12);
        }
        close(again);
        if (!served) nanosleep(&ts, NULL);
    }
    CHECK_MSG(served, "127.0.0.2 never served again after its slow sockets were cut");
}

/* jobs-memory-bytes: admission reserves twice the answer's worst size
 * (2 x (steps x classes x 16 + 8 KiB)); the log may use what is left.
 * With a budget of one 300-step reservation plus 40 KiB: a 1000-step job
 * is refused 503 at once; a 300-step job keeps its first timesteps, one
 * `truncated` event and its result; the registry's bytes (a gauge) stay
 * within the budget; the next job no longer fits (503). */
static void hld_jobs_memory_body(snnd_proc *d, long budget);

TEST(hld_jobs_memory_budget)   /* IT_TEST by hand: the flag depends on the model */
{
    snnd_proc d_;
    char arg[32];
    if (it_repo(&d_, 0)) {
        test_skip("no test model (tests/data/tiny or models/fashion-mnist)");
        return;
    }
    const char *none[] = {NULL};
    if (it_start(&d_, none, 60) || it_stop(&d_) != 0) {   /* learns the class count */
        test_fail(__FILE__, __LINE__, "snnd did not start and stop");
        it_cleanup(&d_);
        return;
    }
    long budget = 2L * (300L * d_.nclasses * 16 + 8192) + 40960;
    snprintf(arg, sizeof arg, "%ld", budget);
    const char *args[] = {"--jobs-memory-bytes", arg, NULL};
    if (it_start(&d_, args, 60)) {
        test_fail(__FILE__, __LINE__, "snnd did not become ready");
        it_cleanup(&d_);
        return;
    }
    hld_jobs_memory_body(&d_, budget);
    it_cleanup(&d_);
}

static void hld_jobs_memory_body(snnd_proc *d, long budget)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    HTTP(d, "POST", "/v1/jobs?steps=1000", "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 503 && strstr(r.body, "jobs-memory-bytes"), "1000 steps: %ld %s", r.status,
              r.body ? r.body : "");
    it_free(&r);
    HTTP(d, "POST", "/v1/jobs?steps=300", "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 202, "300 steps: %ld %s", r.status, r.body ? r.body : "");
    json_t *o = it_json(&r);
    it_free(&r);
    char path[256];
    snprintf(path, sizeof path, "%s", json_string_value(json_object_get(o, "events")));
    json_decref(o);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);   /* streams until the job is done */
    CHECK_EQ_INT(r.status, 200);
    int steps = hld_count(r.body, "event: timestep");
    CHECK_MSG(steps > 0 && steps < 300, "kept %d of 300 timestep events", steps);
    CHECK_EQ_INT(hld_count(r.body, "event: truncated"), 1);
    CHECK_EQ_INT(hld_count(r.body, "event: result"), 1);
    it_free(&r);
    double held = hld_metric(d, "snnd_jobs_memory_bytes");
    CHECK_MSG(held > 0 && held <= budget, "registry holds %g bytes, budget %ld", held, budget);
    HTTP(d, "POST", "/v1/jobs?steps=300", "image/png", png, len, NULL, &r);
    CHECK_MSG(r.status == 503, "a second 300-step job: %ld %s", r.status, r.body ? r.body : "");
    it_free(&r);
    free(png);
}
