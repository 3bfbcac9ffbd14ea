/* test_ops.c: operating the daemon: overload (503 + Retry-After),
 * deadlines (504), client disconnects (work cancelled), reload with a
 * broken model (old version keeps serving), admin token (401/403),
 * SIGTERM drain (in-flight completes, new work 503, exit 0), metrics
 * (promtool lint and values), the options table (--help, env,
 * --print-config), slow clients cut off and oversized headers refused. */
#include <curl/curl.h>
#include <errno.h>
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

/* Work is held in flight by the scheduler's pause gate (POST
 * /v1/admin/pause), not by requests assumed to be slow: while paused no
 * worker takes a job, so the queue holds exactly what the test put there. */
IT_TEST(it_overload_503, 0, "--workers", "1", "--queue-size", "1", "--max-queue-delay-ms", "0",
        "--request-timeout-ms", "300000", NULL)
{
    size_t len;
    char *body = it_batch_body(d, 1, 2, &len);
    long st[9] = {0};
    int ra[9] = {0}, queued, conc, busy = 0;
    CHECK(body);
    it_bg b = {.d = d, .path = "/classify", .ctype = "application/json", .body = body, .len = len};
    queued = it_bg_queue(&b);
    CHECK(queued >= 0);
    /* The queue (queue-size 1) is full: every further request is 503. */
    conc = queued ? it_concurrent(d, "/classify", "application/json", body, len, 9, st, ra) : -1;
    it_admin(d, "resume");
    long first = it_bg_join(&b);
    it_free(&b.resp);
    free(body);
    CHECK_MSG(queued, "the first request never reached the queue");
    CHECK_OK(conc);
    for (int i = 0; i < 9; i++) {
        CHECK_MSG(st[i] == 503, "request %d over a full queue answered %ld", i, st[i]);
        CHECK_MSG(ra[i], "503 without Retry-After");
        busy++;
    }
    /* Once resumed the queued request is served. */
    CHECK_EQ_INT(first, 200);
    char series[128];
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"503\"}", d->model);
    CHECK_NEAR(it_metric(d, series), busy, 0);
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"200\"}", d->model);
    CHECK_NEAR(it_metric(d, series), 1, 0);
}

/* A client deadline (query or JSON field timeout_ms, X-Request-Timeout-Ms,
 * v2 "timeout" in microseconds) that expires in the queue: the workers are paused, so the
 * request cannot have run, whatever the speed of the machine. */
IT_TEST(it_deadline_504, 0, "--workers", "1", "--request-timeout-ms", "300000", NULL)
{
    size_t len;
    http_resp r;
    char *body = it_batch_body(d, 1, 2, &len), path[160], v2[400];
    const char *hdr[] = {"X-Request-Timeout-Ms: 150", NULL};
    const char *bad_hdr[] = {"X-Request-Timeout-Ms: soon", NULL};
    long st[5] = {0};
    char msg[5][200];
    CHECK(body);
    CHECK_EQ_INT(it_admin(d, "pause"), 200);
    CHECK_EQ_INT(it_sched(d, "paused"), 1);
    /* query, header, v2: each answered 504 from the queue */
    it_http(d, "POST", "/classify?timeout_ms=150", "application/json", body, len, NULL, &r);
    st[0] = r.status;
    snprintf(msg[0], sizeof msg[0], "%.199s", r.body ? r.body : "");
    it_free(&r);
    it_http(d, "POST", "/classify", "application/json", body, len, hdr, &r);
    st[1] = r.status;
    snprintf(msg[1], sizeof msg[1], "%.199s", r.body ? r.body : "");
    it_free(&r);
    int k = snprintf(v2, sizeof v2, "{\"parameters\":{\"timeout\":150000},\"inputs\":[{\"name\":\"image\","
                     "\"datatype\":\"UINT8\",\"shape\":[1,%d,%d,%d],\"data\":[", d->in_h, d->in_w, d->in_c);
    (void)k;
    char *v2body = malloc((size_t)d->in_h * d->in_w * d->in_c * 2 + sizeof v2 + 16);
    CHECK(v2body);
    size_t vl = (size_t)sprintf(v2body, "%s", v2);
    for (int i = 0; i < d->in_h * d->in_w * d->in_c; i++) vl += (size_t)sprintf(v2body + vl, "%s0", i ? "," : "");
    vl += (size_t)sprintf(v2body + vl, "]}]}");
    snprintf(path, sizeof path, "/v2/models/%s/infer", d->model);
    it_http(d, "POST", path, "application/json", v2body, vl, NULL, &r);
    st[2] = r.status;
    snprintf(msg[2], sizeof msg[2], "%.199s", r.body ? r.body : "");
    it_free(&r);
    /* the JSON body field */
    char *jbody = malloc(len + 32);
    CHECK(jbody);
    size_t jl = (size_t)sprintf(jbody, "{\"timeout_ms\":150,%s", body + 1);
    it_http(d, "POST", "/classify", "application/json", jbody, jl, NULL, &r);
    free(jbody);
    st[4] = r.status;
    snprintf(msg[4], sizeof msg[4], "%.199s", r.body ? r.body : "");
    it_free(&r);
    /* refused deadlines: 0, not a number, a negative v2 timeout */
    it_http(d, "POST", "/classify?timeout_ms=0", "application/json", body, len, NULL, &r);
    st[3] = r.status;
    it_free(&r);
    long bad_hdr_st = -1, bad_v2_st = -1;
    if (it_http(d, "POST", "/classify", "application/json", body, len, bad_hdr, &r) == 0) bad_hdr_st = r.status;
    it_free(&r);
    char *neg = strstr(v2body, "150000");
    memcpy(neg, "-00001", 6);
    if (it_http(d, "POST", path, "application/json", v2body, vl, NULL, &r) == 0) bad_v2_st = r.status;
    it_free(&r);
    free(v2body);
    long queued_after = it_sched(d, "queued");
    /* The worker never ran: resumed, a request without a deadline is 200. */
    CHECK_EQ_INT(it_admin(d, "resume"), 200);
    HTTP(d, "POST", "/classify", "application/json", body, len, NULL, &r);
    free(body);
    CHECK_MSG(r.status == 200, "status %ld: %.200s", r.status, r.body);
    it_free(&r);
    for (int i = 0; i < 5; i++) {
        if (i == 3) continue;   /* the refused one */
        CHECK_MSG(st[i] == 504, "form %d: status %ld: %s", i, st[i], msg[i]);
        CHECK_MSG(strstr(msg[i], "deadline exceeded in the queue"), "form %d: %s", i, msg[i]);
    }
    CHECK_EQ_INT(st[3], 400);
    CHECK_EQ_INT(bad_hdr_st, 400);
    CHECK_EQ_INT(bad_v2_st, 400);
    CHECK_EQ_INT(queued_after, 0);
    char series[128];
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"504\"}", d->model);
    CHECK_NEAR(it_metric(d, series), 4, 0);
    CHECK_NEAR(it_metric(d, "snnd_batch_size_count"), 1, 0);   /* only the last request ran */
}

/* The server's request-timeout-ms caps what a client asks for. */
IT_TEST(it_deadline_capped_by_server, 0, "--workers", "1", "--request-timeout-ms", "200", NULL)
{
    size_t len;
    http_resp r;
    char *body = it_batch_body(d, 1, 2, &len);
    CHECK(body);
    CHECK_EQ_INT(it_admin(d, "pause"), 200);
    it_http(d, "POST", "/classify?timeout_ms=3600000", "application/json", body, len, NULL, &r);
    long st = r.status;
    int in_queue = r.body && strstr(r.body, "deadline exceeded in the queue") != NULL;
    it_free(&r);
    CHECK_EQ_INT(it_admin(d, "resume"), 200);
    free(body);
    CHECK_EQ_INT(st, 504);
    CHECK(in_queue);
}

/* A client that goes away while its request is queued, and one that goes
 * away while its request runs (held at the gate after its first chunk):
 * both are cancelled (499) and the worker is free. */
IT_TEST(it_client_disconnect_cancels, 0, "--workers", "1", "--request-timeout-ms", "300000",
        "--chunk-steps", "1", NULL)
{
    size_t len;
    char *body = it_batch_body(d, 1, 50, &len), head[256], series[128];
    int seen[2] = {0, 0}, gone[2] = {0, 0};
    CHECK(body);
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"499\"}", d->model);
    CHECK_EQ_INT(it_admin(d, "pause"), 200);
    for (int round = 0; round < 2; round++) {
        int fd = it_connect(d, 0);
        if (fd < 0) break;
        int hn = snprintf(head, sizeof head, "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: "
                          "application/json\r\nContent-Length: %zu\r\n\r\n", len);
        if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) == hn && send(fd, body, len, MSG_NOSIGNAL) == (ssize_t)len) {
            seen[round] = it_wait_sched(d, "queued", 1, 60);
            if (round == 1 && seen[round]) {   /* start it: one chunk, then held */
                it_admin(d, "resume?chunks=1");
                seen[round] = it_wait_sched(d, "held_runs", 1, 60);
            }
        }
        close(fd);
        /* observed: the job left the queue or the run, and counted as 499 */
        gone[round] = it_wait_sched(d, round ? "running" : "queued", 0, 60);
        for (int i = 0; i < 6000 && it_metric(d, series) != round + 1; i++) usleep(10000);
    }
    double cancelled = it_metric(d, series);
    double inflight = it_metric(d, "snnd_inflight_requests");
    CHECK_EQ_INT(it_admin(d, "resume"), 200);
    http_resp r;
    size_t slen;
    char *small = it_batch_body(d, 1, 2, &slen);
    HTTP(d, "POST", "/classify", "application/json", small, slen, NULL, &r);
    free(small);
    free(body);
    CHECK_EQ_INT(r.status, 200);
    it_free(&r);
    CHECK_MSG(seen[0] && seen[1], "queued %d, held %d", seen[0], seen[1]);
    CHECK_MSG(gone[0] && gone[1], "queued job gone %d, running job gone %d", gone[0], gone[1]);
    CHECK_MSG(cancelled == 2, "cancelled requests counted: %g", cancelled);
    CHECK_NEAR(inflight, 0, 0);
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
    /* SIGHUP with the same broken file: the reload fails (observed by its
     * metric), the old version still serves. */
    char errs[160];
    snprintf(errs, sizeof errs, "snnd_model_loads_total{model=\"%s\",result=\"error\"}", d->model);
    double e0 = it_metric(d, errs);
    kill(d->pid, SIGHUP);
    for (int i = 0; i < 6000 && it_metric(d, errs) != e0 + 1; i++) usleep(10000);
    CHECK_MSG(it_metric(d, errs) == e0 + 1, "the SIGHUP reload was not attempted (%g failed loads)",
              it_metric(d, errs));
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

IT_TEST(it_sigterm_drain, 0, "--workers", "1", "--drain-timeout-ms", "300000",
        "--request-timeout-ms", "300000", NULL)
{
    http_resp r;
    size_t len;
    char *small = it_batch_body(d, 1, 2, &len);
    CHECK(small);
    /* A request held in the queue by the pause gate is in flight at
     * SIGTERM, and keeps the drain open until the test resumes. */
    it_bg b = {.d = d, .path = "/classify", .ctype = "application/json", .body = small, .len = len};
    int queued = it_bg_queue(&b);
    CHECK(queued >= 0);
    kill(d->pid, SIGTERM);
    int rs = -1;
    long ready = 0;
    for (int i = 0; i < 6000; i++) {   /* observed: readiness turns */
        rs = it_http(d, "GET", "/readyz", NULL, NULL, 0, NULL, &r);
        ready = r.status;
        it_free(&r);
        if (rs != 0 || ready == 503) break;
        usleep(10000);
    }
    int cs = it_http(d, "POST", "/classify", "application/json", small, len, NULL, &r);
    long during = r.status;
    int has_ra = it_header(&r, "Retry-After") != NULL;
    it_free(&r);
    int resumed = it_admin(d, "resume");
    long first = it_bg_join(&b);
    it_free(&b.resp);
    free(small);
    int st;
    int rc = -1;
    for (int i = 0; i < 6000; i++) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            d->pid = 0;
            break;
        }
        usleep(10000);
    }
    CHECK_MSG(queued, "the request never reached the queue");
    CHECK_MSG(first == 200, "in-flight request got %ld", first);
    CHECK_MSG(rs == 0 && ready == 503, "readyz during drain: %ld (transport %d)", ready, rs);
    CHECK_MSG(cs == 0 && during == 503 && has_ra, "new work during drain: %ld", during);
    CHECK_EQ_INT(resumed, 200);
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
    /* A body trickled one byte every 200 ms is cut off once
     * connection-timeout-s has passed, even though the connection never
     * goes idle: observed as the close and the daemon's log line, never
     * before the timeout (no upper bound in wall-clock time: a loaded
     * machine may be late, the test waits; 60 s only bounds a hang). */
    int fd = it_connect(d, 0);
    CHECK(fd >= 0);
    const char *head = "POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                       "Content-Length: 1000\r\n\r\n";
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head));
    double t0 = mono(), closed_at = -1;
    for (int i = 0; i < 300 && closed_at < 0; i++) {
        char c = 'x', buf[256];
        usleep(200000);
        if (send(fd, &c, 1, MSG_NOSIGNAL) != 1) closed_at = mono();
        else if (recv(fd, buf, sizeof buf, MSG_DONTWAIT) == 0) closed_at = mono();
    }
    close(fd);
    CHECK_MSG(closed_at > 0, "trickling client was never cut off");
    CHECK_MSG(closed_at - t0 >= 0.9, "cut off after %.2f s, before connection-timeout-s 1", closed_at - t0);
    size_t loglen;
    char *log = it_read_file(d->logpath, &loglen);
    int logged = log && strstr(log, "body not received within 1s");
    free(log);
    CHECK_MSG(logged, "no log line about the cut-off body");
    /* A client that sends headers and then nothing is closed too. */
    fd = it_connect(d, 60);
    CHECK(fd >= 0);
    CHECK(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
    char buf[256];
    ssize_t n;
    do {
        n = recv(fd, buf, sizeof buf, 0);
    } while (n > 0);
    int closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    close(fd);
    CHECK_MSG(closed, "an idle client was kept for 60 s");
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

typedef struct conc_req {
    snnd_proc *d;
    const uint8_t *png;
    size_t len;
    long st[6];
    int ra[6];
    int rc;
} conc_req;

static void *conc_run(void *arg)
{
    conc_req *c = arg;
    c->rc = it_concurrent(c->d, "/classify?steps=5", "image/png", c->png, c->len, 6, c->st, c->ra);
    return NULL;
}

/* Six requests queued behind the pause gate share one engine run once
 * the workers resume. */
IT_TEST(it_dynamic_batching, 0, "--workers", "1", "--max-batch", "8", NULL)
{
    uint8_t *png;
    size_t len;
    http_resp r;
    pthread_t t;
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    conc_req c = {d, png, len, {0}, {0}, -1};
    CHECK_EQ_INT(it_admin(d, "pause"), 200);
    CHECK_OK(pthread_create(&t, NULL, conc_run, &c));
    int queued = it_wait_sched(d, "queued", 6, 60);
    it_admin(d, "resume");
    pthread_join(t, NULL);
    free(png);
    CHECK_MSG(queued, "6 requests never queued");
    CHECK_OK(c.rc);
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(c.st[i], 200);
    HTTP(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r);
    double runs = metric(r.body, "snnd_batch_size_count");
    double images = metric(r.body, "snnd_batch_size_sum");
    it_free(&r);
    /* (warm-up runs are not counted) */
    CHECK_NEAR(images, 6, 0);
    CHECK_MSG(runs == 1, "%g runs for 6 queued requests: no batching", runs);
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

IT_TEST(it_reload_while_running, 0, "--workers", "1", "--request-timeout-ms", "300000",
        "--chunk-steps", "1", NULL)
{
    /* A request admitted before a reload finishes on the version it started
     * with (reference counted), and the new version serves afterwards. The
     * request is held at the gate after its first chunk while the reload
     * runs. */
    http_resp r;
    char path[128];
    size_t len;
    char *body = it_batch_body(d, 1, 20, &len);
    CHECK(body);
    it_bg b = {.d = d, .path = "/classify", .ctype = "application/json", .body = body, .len = len};
    int held = it_bg_queue(&b);
    CHECK(held >= 0);
    if (held) {
        it_admin(d, "resume?chunks=1");
        held = it_wait_sched(d, "held_runs", 1, 60);
    }
    snprintf(path, sizeof path, "/v1/models/%s/load", d->model);
    int rc = it_http(d, "POST", path, NULL, NULL, 0, NULL, &r);
    long load_status = r.status;
    it_free(&r);
    it_admin(d, "resume");
    long first = it_bg_join(&b);
    it_free(&b.resp);
    free(body);
    CHECK_MSG(held, "the request was never held running");
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(load_status, 200);
    CHECK_EQ_INT(first, 200);
    size_t slen;
    char *small = it_batch_body(d, 1, 2, &slen);
    HTTP(d, "POST", "/classify", "application/json", small, slen, NULL, &r);
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

/* A stream whose job waits in the queue (held by the pause gate) sends
 * keepalive comments; the test sees the first one, resumes the workers and
 * gets the result on the same stream. */
IT_TEST(it_sse_keepalive_while_queued, 0, "--workers", "1", "--keepalive-s", "1",
        "--request-timeout-ms", "300000", NULL)
{
    uint8_t *png;
    size_t len;
    it_buf b = {NULL, 0};
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &len));
    CHECK_EQ_INT(it_admin(d, "pause"), 200);
    CURLM *m = curl_multi_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: image/png");
    CURL *c = it_easy_post(d, "/classify?steps=3&stream=1", h, png, len, it_buf_write, &b);
    CHECK(m && c);
    curl_multi_add_handle(m, c);
    int running = 1, keepalive = 0, early_event = 0, resumed = 0;
    while (running) {
        curl_multi_perform(m, &running);
        if (!keepalive && b.p && strstr(b.p, ": keepalive\n\n")) {
            /* observed: the first keepalive, with the job still queued */
            keepalive = 1;
            early_event = strstr(b.p, "event:") != NULL;
            resumed = it_admin(d, "resume");
        }
        if (running) curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_multi_remove_handle(m, c);
    curl_easy_cleanup(c);
    curl_multi_cleanup(m);
    curl_slist_free_all(h);
    free(png);
    if (!resumed) it_admin(d, "resume");
    char body[600];
    snprintf(body, sizeof body, "%.500s", b.p ? b.p : "");
    int result = b.p && strstr(b.p, "event: result\n");
    free(b.p);
    CHECK_EQ_INT(status, 200);
    CHECK_MSG(keepalive, "no keepalive comment in:\n%s", body);
    CHECK_MSG(!early_event, "an event before the job ran:\n%s", body);
    CHECK_EQ_INT(resumed, 200);
    CHECK_MSG(result, "no result event after resume:\n%s", body);
}
