/* test_hardening_load.c: the resource-exhaustion and framing fixes of
 * issue 13 against the real daemon, each asserted on what it exists for
 * (status codes, bytes on the wire, metrics, peak memory against a bound
 * computed from the configuration), never on how fast the machine is:
 * libmicrohttpd's own early errors answered exactly once, shape products
 * that would overflow int64 refused as too many elements, an unsupported
 * JPEG layout answered 400. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "it.h"

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

/* libmicrohttpd 0.9.75 wrote the status line and headers of its early
 * error answers twice. Each malformed Content-Length (and headers over
 * header-bytes) gets one status line, one header block, a JSON error. */
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
        CHECK_MSG(atoi(buf + 9) == cases[i].status, "Content-Length %s answered: %.200s",
                  cases[i].cl, buf);
        CHECK_MSG(hld_count(buf, "HTTP/1.") == 1, "Content-Length %s: %d status lines: %.400s",
                  cases[i].cl, hld_count(buf, "HTTP/1."), buf);
        const char *body = strstr(buf, "\r\n\r\n");
        CHECK_MSG(body && !strncmp(body + 4, "{\"error\":", 9), "not a JSON error: %.400s", buf);
    }
    /* headers over header-bytes: 431, once */
    int k = snprintf(req, sizeof req, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(req + k, 'a', 6000);
    memcpy(req + k + 6000, "\r\n\r\n", 5);
    hld_exchange(d, req, buf, sizeof buf);
    CHECK_MSG(atoi(buf + 9) == 431 && hld_count(buf, "HTTP/1.") == 1, "big headers: %.400s", buf);
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
