/* test_ops.c: operating the daemon: overload (503 + Retry-After),
 * deadlines (504), client disconnects (work cancelled), reload with a
 * broken model (old version keeps serving), admin token (401/403),
 * SIGTERM drain (in-flight completes, new work 503, exit 0), metrics
 * (promtool lint and values), the options table (--help, env,
 * --print-config), slow clients cut off and oversized headers refused. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "it.h"

/* Value of a sample line "name{labels} value" in a metrics text. */
static double metric(const char *text, const char *series)
{
    const char *p = text;
    size_t n = strlen(series);
    while ((p = strstr(p, series))) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') return strtod(p + n + 1, NULL);
        p += n;
    }
    return -1;
}

IT_TEST(it_overload_503, IT_SLOW, "--workers", "1", "--queue-size", "1", "--max-queue-delay-ms", "0",
        "--request-timeout-ms", "300000", NULL)
{
    size_t len;
    char *body = it_batch_body(d, 8, 1000, &len);
    long st[10];
    int ra[10], ok = 0, busy = 0;
    CHECK(body);
    CHECK_OK(it_concurrent(d, "/classify", "application/json", body, len, 10, st, ra));
    free(body);
    for (int i = 0; i < 10; i++) {
        CHECK_MSG(st[i] == 200 || st[i] == 503, "unexpected status %ld", st[i]);
        if (st[i] == 200) ok++;
        if (st[i] == 503) {
            busy++;
            CHECK_MSG(ra[i], "503 without Retry-After");
        }
    }
    CHECK_MSG(ok >= 1 && busy >= 1, "%d ok, %d busy", ok, busy);
    /* Once the queue drains the server answers again. */
    http_resp r;
    HTTP(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
    char series[128];
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"503\"}", d->model);
    CHECK_NEAR(metric(r.body, series), busy, 0);
    it_free(&r);
}

IT_TEST(it_deadline_504, IT_SLOW, "--workers", "1", "--request-timeout-ms", "150", "--chunk-steps", "5", NULL)
{
    size_t len;
    http_resp r;
    char *body = it_batch_body(d, 8, 1000, &len);
    CHECK(body);
    HTTP(d, "POST", "/classify", "application/json", body, len, NULL, &r);
    free(body);
    CHECK_MSG(r.status == 504, "status %ld: %.200s", r.status, r.body);
    CHECK(strstr(r.body, "deadline"));
    it_free(&r);
    /* The worker is free again: a short request fits in the deadline. */
    body = it_batch_body(d, 1, 2, &len);
    HTTP(d, "POST", "/classify", "application/json", body, len, NULL, &r);
    free(body);
    CHECK_MSG(r.status == 200, "status %ld: %.200s", r.status, r.body);
    it_free(&r);
}

IT_TEST(it_client_disconnect_cancels, IT_SLOW, "--workers", "1", "--request-timeout-ms", "300000", NULL)
{
    size_t len;
    char *body = it_batch_body(d, 8, 1000, &len);
    CHECK(body);
    /* Give up after 100 ms: the daemon must notice and cancel. */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/classify", d->port);
    char cmd[512];
    FILE *f = fopen("/tmp/snnd-it-slow.json", "wb");
    CHECK(f);
    fwrite(body, 1, len, f);
    fclose(f);
    free(body);
    snprintf(cmd, sizeof cmd,
             "curl -s -m 0.1 -o /dev/null -H 'Content-Type: application/json' --data-binary @/tmp/snnd-it-slow.json %s",
             url);
    if (system(cmd) == -1) {}
    /* The daemon notices within its 50 ms poll; allow for a loaded machine. */
    http_resp r;
    char series[128];
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"499\"}", d->model);
    double cancelled = -1, inflight = -1;
    for (int i = 0; i < 200 && (cancelled != 1 || inflight != 0); i++) {
        usleep(50000);
        HTTP(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
        cancelled = metric(r.body, series);
        inflight = metric(r.body, "snnd_inflight_requests");
        it_free(&r);
    }
    CHECK_MSG(cancelled == 1, "cancelled requests counted: %g", cancelled);
    CHECK_NEAR(inflight, 0, 0);
    /* The worker is free: a short request is answered at once. */
    size_t slen;
    char *small = it_batch_body(d, 1, 2, &slen);
    HTTP(d, "POST", "/classify", "application/json", small, slen, NULL, &r);
    free(small);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    remove("/tmp/snnd-it-slow.json");
}

IT_TEST(it_reload_broken_model_keeps_serving, IT_COPY, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    char path[512];
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    HTTP(d, "POST", "/classify?steps=2", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    /* Corrupt the model file in the repository, then ask for a reload. */
    snprintf(path, sizeof path, "%s/%s/model.onnx", d->repo, d->model);
    FILE *f = fopen(path, "wb");
    CHECK(f);
    fputs("this is not an onnx model", f);
    fclose(f);
    snprintf(path, sizeof path, "/v1/models/%s/load", d->model);
    HTTP(d, "POST", path, NULL, NULL, 0, NULL, &r);
    CHECK_MSG(r.status >= 400, "broken model loaded? %ld", r.status);
    CHECK(strstr(r.body, "previous version keeps serving"));
    it_free(&r);
    HTTP(d, "POST", "/classify?steps=2", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    /* SIGHUP with the same broken file: still serving. */
    kill(d->pid, SIGHUP);
    usleep(300000);
    HTTP(d, "POST", "/classify?steps=2", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    HTTP(d, "GET", path, NULL, NULL, 0, NULL, &r);
    CHECK(strstr(r.body, "\"READY\"") && strstr(r.body, "last_error"));
    it_free(&r);
    free(png);
}

IT_TEST(it_admin_token, 0, "--admin-token", "s3cret", NULL)
{
    http_resp r;
    char path[256];
    uint8_t *png;
    size_t len;
    const char *good[] = {"Authorization: Bearer s3cret", NULL};
    const char *bad[] = {"Authorization: Bearer s3cres", NULL};
    snprintf(path, sizeof path, "/v1/models/%s/load", d->model);
    HTTP(d, "POST", path, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK(it_header(&r, "WWW-Authenticate"));
    it_free(&r);
    HTTP(d, "POST", path, NULL, NULL, 0, bad, &r);
    CHECK_EQ_INT(r.status, 403);
    it_free(&r);
    HTTP(d, "POST", path, NULL, NULL, 0, good, &r);
    CHECK_MSG(r.status == 200, "status %ld: %s", r.status, r.body);
    it_free(&r);
    snprintf(path, sizeof path, "/v1/models/%s", d->model);
    HTTP(d, "DELETE", path, NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 401);
    it_free(&r);
    HTTP(d, "DELETE", path, NULL, NULL, 0, good, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    HTTP(d, "POST", "/classify?steps=2", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    it_free(&r);
    snprintf(path, sizeof path, "/v1/models/%s/load", d->model);
    HTTP(d, "POST", path, NULL, NULL, 0, good, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    HTTP(d, "POST", "/classify?steps=2", "image/png", png, len, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    /* Names cannot escape the repository. */
    HTTP(d, "POST", "/v1/models/..%2F..%2Fetc/load", NULL, NULL, 0, good, &r);
    CHECK(r.status == 400 || r.status == 404);
    it_free(&r);
    free(png);
}

typedef struct bg_req {
    snnd_proc *d;
    char *body;
    size_t len;
    long status;
} bg_req;

static void *bg_run(void *arg)
{
    bg_req *b = arg;
    http_resp r;
    if (it_http(b->d, "POST", "/classify", "application/json", b->body, b->len, NULL, &r) == 0)
        b->status = r.status;
    it_free(&r);
    return NULL;
}

IT_TEST(it_sigterm_drain, IT_SLOW, "--workers", "1", "--drain-timeout-ms", "300000",
        "--request-timeout-ms", "300000", NULL)
{
    bg_req b = {d, NULL, 0, 0};
    pthread_t t;
    http_resp r;
    b.body = it_batch_body(d, 8, 1000, &b.len);
    CHECK(b.body);
    CHECK_OK(pthread_create(&t, NULL, bg_run, &b));
    /* Wait until the slow request is in flight (polling: the machine may
     * be loaded), then signal and wait for readiness to turn. */
    for (int i = 0; i < 200; i++) {
        double inflight = -1;
        if (it_http(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r) == 0)
            inflight = metric(r.body, "snnd_inflight_requests");
        it_free(&r);
        if (inflight >= 1) break;
        usleep(10000);
    }
    usleep(50000);
    kill(d->pid, SIGTERM);
    int rs = -1;
    long ready = 0;
    for (int i = 0; i < 100; i++) {
        rs = it_http(d, "GET", "/readyz", NULL, NULL, 0, NULL, &r);
        ready = r.status;
        it_free(&r);
        if (rs != 0 || ready == 503) break;
        usleep(20000);
    }
    size_t len;
    char *small = it_batch_body(d, 1, 2, &len);
    int cs = it_http(d, "POST", "/classify", "application/json", small, len, NULL, &r);
    long during = r.status;
    const char *ra = it_header(&r, "Retry-After");
    int has_ra = ra != NULL;
    it_free(&r);
    free(small);
    pthread_join(t, NULL);
    free(b.body);
    int st;
    int rc = -1;
    for (int i = 0; i < 3000; i++) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            d->pid = 0;
            break;
        }
        usleep(10000);
    }
    CHECK_MSG(b.status == 200, "in-flight request got %ld", b.status);
    CHECK_MSG(rs != 0 || ready == 503, "readyz during drain: %ld", ready);
    CHECK_MSG(cs != 0 || (during == 503 && has_ra), "new work during drain: %ld", during);
    CHECK_EQ_INT(rc, 0);
}

IT_TEST(it_metrics_promtool, 0, NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    char series[160];
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    for (int i = 0; i < 2; i++) {
        HTTP(d, "POST", "/classify?steps=3", "image/png", png, len, NULL, &r);
        CHECK_EQ_INT(r.status, 200);
        it_free(&r);
    }
    HTTP(d, "POST", "/classify", "text/plain", "x", 1, NULL, &r);
    it_free(&r);
    HTTP(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strstr(it_header(&r, "Content-Type"), "text/plain; version=0.0.4"));
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"200\"}", d->model);
    CHECK_NEAR(metric(r.body, series), 2, 0);
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"415\"}", d->model);
    CHECK_NEAR(metric(r.body, series), 1, 0);
    snprintf(series, sizeof series, "snnd_timesteps_total{model=\"%s\"}", d->model);
    CHECK(metric(r.body, series) >= 6);
    snprintf(series, sizeof series, "snnd_request_duration_seconds_count{model=\"%s\"}", d->model);
    CHECK_NEAR(metric(r.body, series), 3, 0);
    snprintf(series, sizeof series, "snnd_request_duration_seconds_bucket{model=\"%s\",le=\"+Inf\"}", d->model);
    CHECK_NEAR(metric(r.body, series), 3, 0);
    snprintf(series, sizeof series, "snnd_model_memory_bytes{model=\"%s\"}", d->model);
    CHECK(metric(r.body, series) > 0);
    snprintf(series, sizeof series, "snnd_energy_joules_total{model=\"%s\",device=\"loihi\"}", d->model);
    CHECK(metric(r.body, series) >= 0);
    CHECK(strstr(r.body, "snnd_build_info{version="));
    CHECK(strstr(r.body, "snnd_queue_depth{model="));
    CHECK(strstr(r.body, "snnd_batch_size_bucket{le=\"1\"}"));
    /* promtool lints the exposition. */
    if (system("command -v promtool >/dev/null 2>&1") == 0) {
        FILE *f = fopen("/tmp/snnd-it-metrics.txt", "wb");
        CHECK(f);
        fwrite(r.body, 1, r.len, f);
        fclose(f);
        int st = system("promtool check metrics < /tmp/snnd-it-metrics.txt");
        CHECK_MSG(st == 0, "promtool check metrics failed (status %d)", st);
        remove("/tmp/snnd-it-metrics.txt");
    }
    it_free(&r);
    HTTP(d, "POST", "/classify?steps=3", "image/png", png, len, NULL, &r);
    it_free(&r);
    HTTP(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"200\"}", d->model);
    CHECK_NEAR(metric(r.body, series), 3, 0);
    it_free(&r);
    free(png);
}

/* Run the snnd binary with args and env; output into buf. */
static int run_snnd(const char *env, const char *args, char *buf, size_t cap)
{
    char exe[1024], cmd[2400];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) return -1;
    exe[k] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(cmd, sizeof cmd, "%s %s/snnd %s 2>&1", env, exe, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(buf, 1, cap - 1, p);
    buf[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(it_options_table)
{
    static char out[65536];
    CHECK_EQ_INT(run_snnd("", "--help", out, sizeof out), 0);
    CHECK(strstr(out, "--max-batch") && strstr(out, "SNND_MAX_BATCH") && strstr(out, "--admin-token"));
    CHECK(strstr(out, "--max-queue-delay-ms") && strstr(out, "--drain-timeout-ms"));
    CHECK_EQ_INT(run_snnd("SNND_QUEUE_SIZE=7", "--print-config --max-batch 3", out, sizeof out), 0);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    CHECK_MSG(o, "--print-config is not JSON: %s", out);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "max_batch")), 3);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "queue_size")), 7);
    CHECK_EQ_INT(json_integer_value(json_object_get(o, "port")), 8080);
    CHECK(!strcmp(json_string_value(json_object_get(o, "host")), "127.0.0.1"));
    json_decref(o);
    /* Flags beat env; bounds are enforced; unknown options exit 2. */
    CHECK_EQ_INT(run_snnd("SNND_MAX_BATCH=5", "--print-config --max-batch 4", out, sizeof out), 0);
    CHECK(strstr(out, "\"max_batch\": 4"));
    CHECK_EQ_INT(run_snnd("", "--max-batch 0", out, sizeof out), 2);
    CHECK(strstr(out, "max-batch"));
    CHECK_EQ_INT(run_snnd("", "--no-such-flag 1", out, sizeof out), 2);
    /* The shipped config file parses. */
    char args[1400];
    snprintf(args, sizeof args, "--config %s --print-config", test_path("config/snnd.json"));
    CHECK_EQ_INT(run_snnd("", args, out, sizeof out), 0);
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

IT_TEST(it_slow_clients_cut_off, 0, "--connection-timeout-s", "1", NULL)
{
    /* A body trickled one byte every 200 ms is cut off after about 1 s
     * even though the connection never goes idle. */
    int fd = it_connect(d, 0);
    CHECK(fd >= 0);
    const char *head = "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                       "Content-Length: 1000\r\n\r\n";
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
    double t0 = mono(), closed_at = -1;
    for (int i = 0; i < 40 && closed_at < 0; i++) {
        char c = 'x', buf[256];
        usleep(200000);
        if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) closed_at = mono();
        else if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) == 0) closed_at = mono();
    }
    close(fd);
    CHECK_MSG(closed_at > 0, "trickling client was never cut off");
    CHECK_MSG(closed_at - t0 < 4.0, "cut off only after %.1f s", closed_at - t0);
    /* A client that sends headers and then nothing times out too. */
    fd = it_connect(d, 0);
    CHECK(fd >= 0);
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
    t0 = mono();
    char buf[256];
    ssize_t n;
    do {
        n = recv(fd, buf, sizeof buf, 0);
    } while (n > 0 && mono() - t0 < 10);
    close(fd);
    CHECK_MSG(mono() - t0 < 5.0, "idle client kept for %.1f s", mono() - t0);
    /* The daemon still answers. */
    http_resp r;
    HTTP(d, "GET", "/healthz", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
}

IT_TEST(it_header_limit, 0, "--header-bytes", "8192", NULL)
{
    static char big[20000];
    memset(big, 'a', sizeof big - 1);
    memcpy(big, "X-Big: ", 7);
    const char *hdr[] = {big, NULL};
    http_resp r;
    it_http(d, "GET", "/healthz", NULL, NULL, 0, hdr, &r);
    CHECK_MSG(r.status == 431 || r.status == 413 || r.status == 0 || r.status == 400,
              "oversized header answered %ld", r.status);
    it_free(&r);
    HTTP(d, "GET", "/healthz", NULL, NULL, 0, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
}

IT_TEST(it_dynamic_batching, 0, "--workers", "1", "--max-queue-delay-ms", "300", NULL)
{
    uint8_t *png;
    size_t len;
    long st[6];
    int ra[6];
    char path[64];
    http_resp r;
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    snprintf(path, sizeof path, "/classify?steps=5");
    CHECK_OK(it_concurrent(d, path, "image/png", png, len, 6, st, ra));
    free(png);
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(st[i], 200);
    HTTP(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
    double runs = metric(r.body, "snnd_batch_size_count");
    double images = metric(r.body, "snnd_batch_size_sum");
    it_free(&r);
    /* 6 images, plus the warm-up runs that are not counted: fewer runs
     * than requests means requests shared engine runs. */
    CHECK_NEAR(images, 6, 0);
    CHECK_MSG(runs < 6, "%g runs for 6 requests: no batching", runs);
}

TEST(it_numeric_versions_newest_served)
{
    snnd_proc d_, *d = &d_;
    const char *name;
    const char *dir = it_model_dir(&name, 0);
    char cmd[4000];
    if (!dir) {
        test_skip("no test model");
        return;
    }
    CHECK_OK(it_repo(d, 0));
    /* vm/1 and vm/3 hold the model, vm/2 is empty: version 3 is served. */
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/vm/1' '%s/vm/2' '%s/vm/3' && cp '%s'/* '%s/vm/1/' && cp '%s'/* '%s/vm/3/'",
             d->repo, d->repo, d->repo, dir, d->repo, dir, d->repo);
    CHECK_OK(system(cmd));
    const char *args[] = {NULL};
    if (it_start(d, args, 60)) {
        it_cleanup(d);
        CHECK_MSG(0, "snnd did not become ready");
    }
    http_resp r;
    if (it_http(d, "GET", "/v1/models/vm", NULL, NULL, 0, NULL, &r) == 0) {
        json_t *o = it_json(&r);
        const char *v = json_string_value(json_object_get(o, "version"));
        if (!v || strcmp(v, "3")) test_fail(__FILE__, __LINE__, "served version %s, want 3", v ? v : "(none)");
        json_decref(o);
    } else {
        test_fail(__FILE__, __LINE__, "GET /v1/models/vm failed");
    }
    it_free(&r);
    it_http(d, "GET", "/v2/models/vm/versions/3/ready", NULL, NULL, 0, NULL, &r);
    if (r.status != 200) test_fail(__FILE__, __LINE__, "version 3 not ready: %ld", r.status);
    it_free(&r);
    it_http(d, "GET", "/v2/models/vm/versions/1", NULL, NULL, 0, NULL, &r);
    if (r.status != 404) test_fail(__FILE__, __LINE__, "version 1 metadata: %ld", r.status);
    it_free(&r);
    it_cleanup(d);
}

IT_TEST(it_reload_while_running, IT_SLOW, "--workers", "1", "--request-timeout-ms", "300000", NULL)
{
    /* A request admitted before a reload finishes on the version it started
     * with (reference counted), and the new version serves afterwards. */
    bg_req b = {d, NULL, 0, 0};
    pthread_t t;
    http_resp r;
    char path[128];
    b.body = it_batch_body(d, 8, 1000, &b.len);
    CHECK(b.body);
    CHECK_OK(pthread_create(&t, NULL, bg_run, &b));
    usleep(100000);
    snprintf(path, sizeof path, "/v1/models/%s/load", d->model);
    int rc = it_http(d, "POST", path, NULL, NULL, 0, NULL, &r);
    long load_status = r.status;
    it_free(&r);
    pthread_join(t, NULL);
    free(b.body);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(load_status, 200);
    CHECK_EQ_INT(b.status, 200);
    size_t len;
    char *small = it_batch_body(d, 1, 2, &len);
    HTTP(d, "POST", "/classify", "application/json", small, len, NULL, &r);
    free(small);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    HTTP(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
    char series[128];
    snprintf(series, sizeof series, "snnd_model_loads_total{model=\"%s\",result=\"ok\"}", d->model);
    CHECK_NEAR(metric(r.body, series), 2, 0);
    it_free(&r);
}

TEST(it_sighup_reloads_config)
{
    snnd_proc d_, *d = &d_;
    char cfg[400];
    FILE *f;
    CHECK_OK(it_repo(d, 0));
    snprintf(cfg, sizeof cfg, "%s/snnd.json", d->repo);
    f = fopen(cfg, "w");
    CHECK(f);
    fprintf(f, "{\"queue_size\": 5, \"max_batch\": 4, \"log_level\": \"info\"}\n");
    fclose(f);
    const char *args[] = {"--config", cfg, NULL};
    if (it_start(d, args, 60)) {
        it_cleanup(d);
        CHECK_MSG(0, "snnd did not become ready");
    }
    http_resp r;
    json_t *o = NULL;
    if (it_http(d, "GET", "/v1/config", NULL, NULL, 0, NULL, &r) == 0) o = it_json(&r);
    it_free(&r);
    int q0 = (int)json_integer_value(json_object_get(o, "queue_size"));
    json_decref(o);
    /* Change a reloadable and a non-reloadable option, then SIGHUP. */
    f = fopen(cfg, "w");
    if (f) {
        fprintf(f, "{\"queue_size\": 9, \"max_batch\": 2, \"log_level\": \"info\"}\n");
        fclose(f);
    }
    kill(d->pid, SIGHUP);
    int q1 = -1, b1 = -1;
    for (int i = 0; i < 100 && q1 != 9; i++) {
        usleep(50000);
        o = NULL;
        if (it_http(d, "GET", "/v1/config", NULL, NULL, 0, NULL, &r) == 0) o = it_json(&r);
        it_free(&r);
        q1 = (int)json_integer_value(json_object_get(o, "queue_size"));
        b1 = (int)json_integer_value(json_object_get(o, "max_batch"));
        json_decref(o);
    }
    it_cleanup(d);
    CHECK_EQ_INT(q0, 5);
    CHECK_EQ_INT(q1, 9);
    CHECK_EQ_INT(b1, 4);   /* not reloadable: engines are sized by it */
}

IT_TEST(it_sse_keepalive_while_queued, IT_SLOW, "--workers", "1", "--keepalive-s", "1",
        "--request-timeout-ms", "300000", NULL)
{
    /* Slow requests ahead in the queue (about 0.3-0.7 s each): the stream
     * waits well over a second before its first event and must send
     * keepalive comments meanwhile. */
    enum { NBG = 5 };
    bg_req b[NBG];
    pthread_t t[NBG];
    http_resp r;
    uint8_t *png;
    size_t len;
    for (int i = 0; i < NBG; i++) {
        b[i] = (bg_req){d, NULL, 0, 0};
        b[i].body = it_batch_body(d, 8, 1000, &b[i].len);
        CHECK(b[i].body);
    }
    for (int i = 0; i < NBG; i++) CHECK_OK(pthread_create(&t[i], NULL, bg_run, &b[i]));
    usleep(100000);
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    int rc = it_http(d, "POST", "/classify?steps=3&stream=1", "image/png", png, len, NULL, &r);
    free(png);
    for (int i = 0; i < NBG; i++) {
        pthread_join(t[i], NULL);
        free(b[i].body);
    }
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(r.status, 200);
    CHECK_MSG(strstr(r.body, ": keepalive\n\n") != NULL, "no keepalive comment in:\n%.500s", r.body);
    CHECK(strstr(r.body, "event: result\n"));
    it_free(&r);
}
