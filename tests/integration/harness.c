/* harness.c: start/stop the real snnd and talk HTTP to it (see harness.h). */
#include "harness.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jpeglib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "snn/image.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

const char *it_model_dir(const char **name, int fashion)
{
    static char path[1200];
    snprintf(path, sizeof path, "%s", test_path("models/fashion-mnist/model.onnx"));
    if (fashion && access(path, R_OK) == 0) {
        snprintf(path, sizeof path, "%s", test_path("models/fashion-mnist"));
        if (name) *name = "fashion-mnist";
        return path;
    }
    snprintf(path, sizeof path, "%s", test_path("tiny/model.onnx"));
    if (access(path, R_OK) == 0) {
        snprintf(path, sizeof path, "%s", test_path("tiny"));
        if (name) *name = "tiny";
        return path;
    }
    snprintf(path, sizeof path, "%s", test_path("models/fashion-mnist/model.onnx"));
    if (access(path, R_OK) == 0) {
        snprintf(path, sizeof path, "%s", test_path("models/fashion-mnist"));
        if (name) *name = "fashion-mnist";
        return path;
    }
    return NULL;
}

int it_repo(snnd_proc *d, int flags)
{
    const char *name;
    const char *dir = it_model_dir(&name, 0);
    int copy = flags & IT_COPY;
    char cmd[3000];
    if (!dir) return -1;
    memset(d, 0, sizeof *d);
    snprintf(d->repo, sizeof d->repo, "/tmp/snnd-it-XXXXXX");
    if (!mkdtemp(d->repo)) return -1;
    snprintf(d->model, sizeof d->model, "%s", name);
    snprintf(d->logpath, sizeof d->logpath, "%s.log", d->repo);
    if (copy) snprintf(cmd, sizeof cmd, "cp -r '%s' '%s/%s'", dir, d->repo, name);
    else snprintf(cmd, sizeof cmd, "ln -s '%s' '%s/%s'", dir, d->repo, name);
    return system(cmd) == 0 ? 0 : -1;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &al) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

static void model_info(snnd_proc *d)
{
    http_resp r;
    char path[128];
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    if (it_http(d, "GET", path, NULL, NULL, 0, NULL, &r) == 0 && r.status == 200) {
        json_t *o = it_json(&r), *in = json_object_get(o, "input");
        d->in_c = (int)json_integer_value(json_object_get(in, "channels"));
        d->in_h = (int)json_integer_value(json_object_get(in, "height"));
        d->in_w = (int)json_integer_value(json_object_get(in, "width"));
        d->nclasses = (int)json_array_size(json_object_get(o, "classes"));
        json_decref(o);
    }
    it_free(&r);
}

int it_start(snnd_proc *d, const char *const *args, double timeout_s)
{
    char exe[1024], bin[1100], port[16];
    const char *argv[64];
    int n = 0;
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) return -1;
    exe[k] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(bin, sizeof bin, "%s/snnd", exe);
    d->port = free_port();
    snprintf(port, sizeof port, "%d", d->port);
    argv[n++] = bin;
    argv[n++] = "--host"; argv[n++] = "127.0.0.1";
    argv[n++] = "--port"; argv[n++] = port;
    argv[n++] = "--models"; argv[n++] = d->repo;
    argv[n++] = "--default-model"; argv[n++] = d->model;
    argv[n++] = "--log-level"; argv[n++] = "debug";
    for (int i = 0; args && args[i] && n < 62; i++) argv[n++] = args[i];
    argv[n] = NULL;
    d->pid = fork();
    if (d->pid < 0) return -1;
    if (d->pid == 0) {
        int fd = open(d->logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    double end = now_s() + timeout_s;
    while (now_s() < end) {
        int st;
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            d->pid = 0;
            return -1;
        }
        http_resp r;
        if (it_http(d, "GET", "/readyz", NULL, NULL, 0, NULL, &r) == 0 && r.status == 200) {
            it_free(&r);
            model_info(d);
            return 0;
        }
        it_free(&r);
        usleep(50000);
    }
    return -1;
}

int it_stop(snnd_proc *d)
{
    int st;
    if (d->pid <= 0) return -1;
    kill(d->pid, SIGTERM);
    double end = now_s() + 60;
    while (now_s() < end) {
        pid_t p = waitpid(d->pid, &st, WNOHANG);
        if (p == d->pid) {
            d->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        }
        usleep(20000);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    d->pid = 0;
    return -1;
}

void it_cleanup(snnd_proc *d)
{
    char cmd[700];
    if (d->pid > 0) {
        /* Every test ends with a graceful stop: exit status 0 also means no
         * sanitizer report (leaks, UB) in the daemon. */
        int rc = it_stop(d);
        if (rc != 0) test_fail(__FILE__, __LINE__, "snnd exited with status %d (see its log)", rc);
    }
    if (d->repo[0] && !strncmp(d->repo, "/tmp/snnd-it-", 13)) {
        /* Keep the daemon log of a failed test for reading. */
        if (!test_failed()) {
            snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", d->repo, d->logpath);
        } else {
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", d->repo);
            printf("  daemon log kept: %s\n", d->logpath);
        }
        if (system(cmd) != 0) {}
        d->repo[0] = '\0';
    }
}

typedef it_buf buf;

size_t it_buf_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    buf *b = ud;
    size_t n = size * nmemb;
    char *p = realloc(b->p, b->len + n + 1);
    if (!p) return 0;
    memcpy(p + b->len, ptr, n);
    b->p = p;
    b->len += n;
    b->p[b->len] = '\0';
    return n;
}

static CURL *make_easy(snnd_proc *d, const char *method, const char *path, const char *ctype,
                       const void *body, size_t len, const char *const *headers,
                       struct curl_slist **hl, buf *bb, buf *hb)
{
    char url[1400];
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", d->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body || !strcmp(method, "POST")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
    }
    *hl = curl_slist_append(NULL, "Expect:");
    if (ctype) {
        char h[256];
        snprintf(h, sizeof h, "Content-Type: %s", ctype);
        *hl = curl_slist_append(*hl, h);
    }
    for (int i = 0; headers && headers[i]; i++) *hl = curl_slist_append(*hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, it_buf_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, bb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, it_buf_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, hb);
    return c;
}

CURL *it_easy_post(const snnd_proc *d, const char *path, struct curl_slist *headers,
                   const void *body, size_t len, curl_write_callback cb, void *ud)
{
    char url[1400];
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", d->port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, ud);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    return c;
}

int it_http(snnd_proc *d, const char *method, const char *path, const char *ctype,
            const void *body, size_t len, const char *const *headers, http_resp *out)
{
    buf bb = {0}, hb = {0};
    struct curl_slist *hl = NULL;
    memset(out, 0, sizeof *out);
    CURL *c = make_easy(d, method, path, ctype, body, len, headers, &hl, &bb, &hb);
    if (!c) return -1;
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
    out->body = bb.p ? bb.p : calloc(1, 1);
    out->len = bb.len;
    out->headers = hb.p ? hb.p : calloc(1, 1);
    out->hlen = hb.len;
    return rc == CURLE_OK ? 0 : -1;
}

void it_free(http_resp *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

const char *it_header(const http_resp *r, const char *name)
{
    static char val[512];
    size_t nl = strlen(name);
    const char *p = r->headers;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol) eol = p + strlen(p);
        if ((size_t)(eol - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ') v++;
            snprintf(val, sizeof val, "%.*s", (int)(eol - v), v);
            return val;
        }
        p = *eol ? eol + 2 : eol;
    }
    return NULL;
}

json_t *it_json(const http_resp *r)
{
    json_error_t e;
    return r->body ? json_loadb(r->body, r->len, 0, &e) : NULL;
}

static uint8_t *gradient(int w, int h, int c)
{
    uint8_t *px = malloc((size_t)w * h * c);
    if (!px) return NULL;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                px[((size_t)y * w + x) * c + k] =
                    (uint8_t)((x * 255 / (w > 1 ? w - 1 : 1) + y * 97 + k * 50) & 255);
    return px;
}

int it_png(const snnd_proc *d, int w, int h, int c, uint8_t **out, size_t *len)
{
    (void)d;
    uint8_t *px = gradient(w, h, c);
    if (!px) return -1;
    int rc = snn_image_encode_png(px, w, h, c, out, len, NULL) == SNN_OK ? 0 : -1;
    free(px);
    return rc;
}

int it_jpeg(int w, int h, int c, uint8_t **out, size_t *len)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    unsigned char *mem = NULL;
    unsigned long memlen = 0;
    uint8_t *px = gradient(w, h, c);
    if (!px) return -1;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &mem, &memlen);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = c;
    cinfo.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = px + (size_t)cinfo.next_scanline * w * c;
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    free(px);
    *out = malloc(memlen);
    if (!*out) {
        free(mem);
        return -1;
    }
    memcpy(*out, mem, memlen);
    *len = memlen;
    free(mem);
    return 0;
}

char *it_b64(const uint8_t *in, size_t len)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *o = malloc((len + 2) / 3 * 4 + 1), *p = o;
    if (!o) return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len) v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len) v |= in[i + 2];
        *p++ = tbl[(v >> 18) & 63];
        *p++ = tbl[(v >> 12) & 63];
        *p++ = i + 1 < len ? tbl[(v >> 6) & 63] : '=';
        *p++ = i + 2 < len ? tbl[v & 63] : '=';
    }
    *p = '\0';
    return o;
}

int it_concurrent(snnd_proc *d, const char *path, const char *ctype, const void *body,
                  size_t len, int n, long *statuses, int *retry_after)
{
    CURLM *m = curl_multi_init();
    CURL **e = calloc((size_t)n, sizeof *e);
    struct curl_slist **hl = calloc((size_t)n, sizeof *hl);
    buf *bb = calloc((size_t)n, sizeof *bb), *hb = calloc((size_t)n, sizeof *hb);
    int running = 0, rc = 0;
    if (!m || !e || !hl || !bb || !hb) rc = -1;
    for (int i = 0; rc == 0 && i < n; i++) {
        e[i] = make_easy(d, "POST", path, ctype, body, len, NULL, &hl[i], &bb[i], &hb[i]);
        curl_multi_add_handle(m, e[i]);
    }
    do {
        if (rc) break;
        curl_multi_perform(m, &running);
        if (running) curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running);
    for (int i = 0; e && i < n; i++) {
        if (!e[i]) continue;
        statuses[i] = 0;
        curl_easy_getinfo(e[i], CURLINFO_RESPONSE_CODE, &statuses[i]);
        http_resp r = {0};
        r.headers = hb[i].p;
        retry_after[i] = hb[i].p && it_header(&r, "Retry-After") != NULL;
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
        curl_slist_free_all(hl[i]);
        free(bb[i].p);
        free(hb[i].p);
    }
    if (m) curl_multi_cleanup(m);
    free(e);
    free(hl);
    free(bb);
    free(hb);
    return rc;
}

char *it_batch_body(const snnd_proc *d, int images, int steps, size_t *len)
{
    uint8_t *png;
    size_t plen;
    if (it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &plen)) return NULL;
    char *b64 = it_b64(png, plen);
    free(png);
    if (!b64) return NULL;
    size_t cap = (strlen(b64) + 4) * (size_t)images + 128, k;
    char *body = malloc(cap);
    if (!body) {
        free(b64);
        return NULL;
    }
    k = (size_t)snprintf(body, cap, "{\"steps\":%d,\"images\":[", steps);
    for (int i = 0; i < images; i++) k += (size_t)snprintf(body + k, cap - k, "%s\"%s\"", i ? "," : "", b64);
    snprintf(body + k, cap - k, "]}");
    free(b64);
    *len = strlen(body);
    return body;
}

long it_proc_status(const snnd_proc *d, const char *key)
{
    char path[64], line[256];
    size_t kl = strlen(key);
    long v = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)d->pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') v = strtol(line + kl + 1, NULL, 10);
    fclose(f);
    return v;
}

long it_hwm_kb(const snnd_proc *d) { return it_proc_status(d, "VmHWM"); }

int it_connect(const snnd_proc *d, int rcv_timeout_s)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)d->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    if (rcv_timeout_s > 0) {
        struct timeval tv = {rcv_timeout_s, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }
    return fd;
}

char *it_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) {
        b[n] = '\0';
        *len = (size_t)n;
    }
    return b;
}

int it_admin(snnd_proc *d, const char *op)
{
    char path[128];
    http_resp r;
    snprintf(path, sizeof path, "/v1/admin/%s", op);
    int rc = it_http(d, "POST", path, NULL, NULL, 0, NULL, &r);
    long st = rc == 0 ? r.status : 0;
    it_free(&r);
    return (int)st;
}

long it_sched(snnd_proc *d, const char *field)
{
    http_resp r;
    long v = -1;
    if (it_http(d, "GET", "/v1/admin/scheduler", NULL, NULL, 0, NULL, &r) == 0 && r.status == 200) {
        json_t *o = it_json(&r), *x = json_object_get(o, field);
        if (json_is_integer(x)) v = (long)json_integer_value(x);
        else if (json_is_boolean(x)) v = json_is_true(x);
        json_decref(o);
    }
    it_free(&r);
    return v;
}

int it_wait_sched(snnd_proc *d, const char *field, long want, double safety_s)
{
    double end = now_s() + safety_s;
    do {
        if (it_sched(d, field) == want) return 1;
        usleep(10000);
    } while (now_s() < end);
    return 0;
}

double it_metric(snnd_proc *d, const char *series)
{
    http_resp r;
    double v = -1;
    if (it_http(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r) == 0 && r.status == 200) {
        size_t n = strlen(series);
        for (const char *p = r.body; (p = strstr(p, series)); p += n)
            if ((p == r.body || p[-1] == '\n') && p[n] == ' ') {
                v = strtod(p + n + 1, NULL);
                break;
            }
    }
    it_free(&r);
    return v;
}

static void *bg_main(void *arg)
{
    it_bg *b = arg;
    b->rc = it_http(b->d, b->method, b->path, b->ctype, b->body, b->len, b->headers, &b->resp);
    return NULL;
}

int it_bg_start(it_bg *b)
{
    pthread_t t;
    memset(&b->resp, 0, sizeof b->resp);
    b->rc = -1;
    if (!b->method) b->method = "POST";
    if (pthread_create(&t, NULL, bg_main, b) != 0) return -1;
    b->thread = (unsigned long)t;
    return 0;
}

long it_bg_join(it_bg *b)
{
    pthread_join((pthread_t)b->thread, NULL);
    return b->rc == 0 ? b->resp.status : 0;
}

int it_bg_queue(it_bg *b)
{
    long before = it_sched(b->d, "queued");
    if (it_admin(b->d, "pause") != 200 || it_bg_start(b) != 0) return -1;
    return it_wait_sched(b->d, "queued", before + 1, 60);
}
