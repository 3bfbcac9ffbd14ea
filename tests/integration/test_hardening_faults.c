/* test_hardening_faults.c: faults under load (issue 7). Many clients
 * disconnecting mid-request and mid-stream (work cancelled, in-flight and
 * queue gauges back to 0, no fd or thread leaked, the worker free again at
 * once); a reload with a corrupt model while requests keep coming (no
 * request fails, the old version serves until a good one loads); SIGTERM
 * with several requests in flight (all complete with 200, new ones get 503
 * with Retry-After or a refused connection, exit 0); deadlines hit again
 * and again (504 each time, the worker free for the next request).
 * test_ops.c has the single-request versions of these. Work is held in
 * flight by the scheduler's pause gate (POST /v1/admin/pause,
 * resume?chunks=N), never by requests assumed to be slow, and every wait
 * is on observed state (queue depth, held runs, metrics). */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "it.h"

static double hf_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Sum of the samples of a metric family (all label sets); -1 if absent. */
static double hf_metric(snnd_proc *d, const char *name)
{
    http_resp r;
    double sum = -1;
    if (it_http(d, "GET", "/metrics", NULL, NULL, 0, NULL, &r) == 0 && r.status == 200) {
        size_t n = strlen(name);
        for (const char *p = r.body; p && *p;) {
            if (!strncmp(p, name, n) && (p[n] == ' ' || p[n] == '{')) {
                const char *v = p[n] == '{' ? strchr(p, '}') : p + n;
                if (v) {
                    sum = (sum < 0 ? 0 : sum) + strtod(v + 1, NULL);
                }
            }
            p = strchr(p, '\n');
            if (p) p++;
        }
    }
    it_free(&r);
    return sum;
}

static int hf_count_fds(snnd_proc *d)
{
    char cmd[96], out[32] = "";
    snprintf(cmd, sizeof cmd, "ls /proc/%d/fd 2>/dev/null | wc -l", (int)d->pid);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    if (!fgets(out, sizeof out, p)) out[0] = '\0';
    pclose(p);
    return atoi(out);
}

/* Wait up to `secs` until the in-flight gauge and queue depth are 0. */
static int hf_settled(snnd_proc *d, double secs)
{
    double end = hf_now() + secs;
    do {
        if (hf_metric(d, "snnd_inflight_requests") == 0 && hf_metric(d, "snnd_queue_depth") <= 0) return 1;
        usleep(50000);
    } while (hf_now() < end);
    return 0;
}

/* Start n POSTs at once with curl multi, wait until all n are queued
 * (the scheduler is paused by the caller), then abandon them all. Returns
 * 1 when all n were seen queued. */
static int hf_abandon_queued(snnd_proc *d, const char *path, const char *ctype, const char *body,
                             size_t len, int n)
{
    CURLM *m = curl_multi_init();
    CURL *e[64];
    struct curl_slist *h = NULL;
    char url[256], hb[160];
    int seen = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", d->port, path);
    snprintf(hb, sizeof hb, "Content-Type: %s", ctype);
    h = curl_slist_append(h, hb);
    h = curl_slist_append(h, "Expect:");
    for (int i = 0; i < n && i < 64; i++) {
        e[i] = curl_easy_init();
        curl_easy_setopt(e[i], CURLOPT_URL, url);
        curl_easy_setopt(e[i], CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(e[i], CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e[i], CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(e[i], CURLOPT_FORBID_REUSE, 1L);
        curl_multi_add_handle(m, e[i]);
    }
    int running = 1;
    double end = hf_now() + 60;   /* bounds a hang only */
    while (running && hf_now() < end) {
        curl_multi_perform(m, &running);
        if (it_sched(d, "queued") == n) {
            seen = 1;
            break;
        }
        if (running) curl_multi_poll(m, NULL, 0, 20, NULL);
    }
    for (int i = 0; i < n && i < 64; i++) {
        curl_multi_remove_handle(m, e[i]);
        curl_easy_cleanup(e[i]);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(h);
    return seen;
}

static void hf_small(snnd_proc *d, long *status)
{
    size_t len;
    http_resp r;
    char *b = it_batch_body(d, 1, 2, &len);
    *status = 0;
    if (b && it_http(d, "POST", "/classify", "application/json", b, len, NULL, &r) == 0) *status = r.status;
    it_free(&r);
    free(b);
}

IT_TEST(hf_disconnect_storm_no_leak, 0, "--workers", "1", "--queue-size", "64", NULL)
{
    long st;
    size_t len;
    /* warm up: the worker's engine exists, connections come and go */
    hf_small(d, &st);
    CHECK_EQ_INT(st, 200);
    CHECK(hf_settled(d, 60));
    int fds0 = -1, thr0 = -1;
    for (int i = 0; i < 100; i++) {   /* the harness's connection threads wind down */
        int f = hf_count_fds(d), t = (int)it_proc_status(d, "Threads");
        if (f == fds0 && t == thr0) break;
        fds0 = f;
        thr0 = t;
        usleep(100000);
    }
    char *body = it_batch_body(d, 1, 2, &len);
    CHECK(body);
    /* 16 requests held in the queue by the pause gate, all abandoned */
    CHECK_EQ_INT(it_admin(d, "pause"), 200);
    int seen = hf_abandon_queued(d, "/classify", "application/json", body, len, 16);
    free(body);
    int settled = hf_settled(d, 60);
    double depth = hf_metric(d, "snnd_queue_depth");
    CHECK_EQ_INT(it_admin(d, "resume"), 200);
    CHECK_MSG(seen, "16 requests were never queued together");
    CHECK_MSG(settled, "in-flight %g, queue depth %g after 16 clients left",
              hf_metric(d, "snnd_inflight_requests"), depth);
    /* the cancelled work is gone: nothing queued or running, the next
     * request is served */
    CHECK_EQ_INT(it_sched(d, "queued"), 0);
    CHECK_EQ_INT(it_sched(d, "running"), 0);
    hf_small(d, &st);
    CHECK_EQ_INT(st, 200);
    int fds1 = -1, thr1 = -1;
    for (int i = 0; i < 600; i++) {   /* connection threads wind down (observed) */
        fds1 = hf_count_fds(d);
        thr1 = (int)it_proc_status(d, "Threads");
        if (fds1 <= fds0 && thr1 <= thr0) break;
        usleep(100000);
    }
    CHECK_MSG(fds1 <= fds0, "fds %d before, %d after the disconnect storm", fds0, fds1);
    CHECK_MSG(thr1 <= thr0, "threads %d before, %d after the disconnect storm", thr0, thr1);
    char series[128];
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"499\"}", d->model);
    CHECK_MSG(hf_metric(d, series) == 16, "499 counted %g times for 16 abandoned requests",
              hf_metric(d, series));
}

/* An SSE client that reads the first timestep and goes away. */
typedef struct hf_sse {
    int events;
    size_t bytes;
} hf_sse;

static size_t hf_sse_write(char *p, size_t size, size_t n, void *ud)
{
    hf_sse *s = ud;
    size_t len = size * n;
    s->bytes += len;
    for (size_t i = 0; i + 15 <= len; i++)
        if (!memcmp(p + i, "event: timestep", 15)) s->events++;
    return s->events > 0 ? 0 : len;   /* 0: curl aborts the transfer */
}

/* Each round: the gate lets exactly one chunk start (resume?chunks=1), so
 * the stream's job runs one step, sends its first timestep and is held;
 * the client leaves on that event, and the held run must be cancelled,
 * not finished (a finished run adds its steps to snnd_timesteps_total).
 * keepalive-s 1: the daemon notices the closed stream at its next write. */
IT_TEST(hf_stream_disconnect_cancels, 0, "--workers", "1", "--keepalive-s", "1",
        "--request-timeout-ms", "300000", NULL)
{
    size_t len;
    long st;
    char series[128];
    char *body = it_batch_body(d, 1, 2, &len);
    CHECK(body);
    CHECK(hf_settled(d, 60));
    snprintf(series, sizeof series, "snnd_timesteps_total{model=\"%s\"}", d->model);
    for (int round = 0; round < 4; round++) {
        hf_sse s = {0, 0};
        double steps0 = hf_metric(d, series);
        CHECK_EQ_INT(it_admin(d, "pause"), 200);
        CHECK_EQ_INT(it_admin(d, "resume?chunks=1"), 200);
        struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
        h = curl_slist_append(h, "Accept: text/event-stream");
        CURL *c = it_easy_post(d, "/classify?steps=50", h, body, len, hf_sse_write, &s);
        CURLcode rc = c ? curl_easy_perform(c) : CURLE_FAILED_INIT;
        curl_easy_cleanup(c);
        curl_slist_free_all(h);
        CHECK_MSG(rc == CURLE_WRITE_ERROR && s.events >= 1, "round %d: stream gave %d events (%s)", round,
                  s.events, curl_easy_strerror(rc));
        /* observed: the held run ends, cancelled */
        CHECK_MSG(it_wait_sched(d, "running", 0, 60), "round %d: the run was not cancelled", round);
        CHECK_MSG(hf_settled(d, 60), "round %d: in-flight %g after the stream was closed", round,
                  hf_metric(d, "snnd_inflight_requests"));
        CHECK_MSG(hf_metric(d, series) == steps0, "round %d: the cancelled run counted %g steps", round,
                  hf_metric(d, series) - steps0);
        CHECK_EQ_INT(it_admin(d, "resume"), 200);
        hf_small(d, &st);
        CHECK_EQ_INT(st, 200);
    }
    free(body);
    /* (A /v1/jobs stream may be re-attached with Last-Event-ID, so closing
     * it does not cancel the job: only direct streams are checked here.) */
}

/* Background clients: classify in a loop until told to stop. */
typedef struct hf_bg {
    snnd_proc *d;
    const uint8_t *png;
    size_t len;
    atomic_int stop;
    long ok, bad, last_bad;
    pthread_mutex_t mu;
} hf_bg;

static void *hf_bg_run(void *arg)
{
    hf_bg *b = arg;
    while (!atomic_load(&b->stop)) {
        http_resp r;
        int rc = it_http(b->d, "POST", "/classify?steps=5", "image/png", b->png, b->len, NULL, &r);
        pthread_mutex_lock(&b->mu);
        if (rc == 0 && r.status == 200) b->ok++;
        else {
            b->bad++;
            b->last_bad = rc == 0 ? r.status : -1;
        }
        pthread_mutex_unlock(&b->mu);
        it_free(&r);
    }
    return NULL;
}

/* Wait until the background clients got k more answers (observed). */
static int hf_progress(hf_bg *b, long k)
{
    pthread_mutex_lock(&b->mu);
    long want = b->ok + b->bad + k;
    pthread_mutex_unlock(&b->mu);
    for (int i = 0; i < 6000; i++) {
        pthread_mutex_lock(&b->mu);
        long got = b->ok + b->bad;
        pthread_mutex_unlock(&b->mu);
        if (got >= want) return 1;
        usleep(10000);
    }
    return 0;
}

IT_TEST(hf_reload_corrupt_under_load, IT_COPY, "--queue-size", "256", NULL)
{
    char onnx[600], path[256];
    uint8_t *png;
    size_t plen;
    http_resp r;
    CHECK_OK(it_png(d, d->in_w, d->in_h, d->in_c == 3 ? 3 : 1, &png, &plen));
    snprintf(onnx, sizeof onnx, "%s/%s/model.onnx", d->repo, d->model);
    FILE *f = fopen(onnx, "rb");
    CHECK(f);
    static char good[1 << 20];
    size_t glen = fread(good, 1, sizeof good, f);
    fclose(f);
    CHECK(glen > 0 && glen < sizeof good);

    hf_bg b = {d, png, plen, 0, 0, 0, 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t t[3];
    char errs[160];
    snprintf(errs, sizeof errs, "snnd_model_loads_total{model=\"%s\",result=\"error\"}", d->model);
    for (int i = 0; i < 3; i++) CHECK_OK(pthread_create(&t[i], NULL, hf_bg_run, &b));
    int progressed = hf_progress(&b, 3);
    snprintf(path, sizeof path, "/v1/models/%s/load", d->model);
    int failed_loads = 0, good_loads = 0, sighup_seen = 0;
    for (int round = 0; round < 6 && progressed; round++) {
        f = fopen(onnx, "wb");
        if (round % 3 == 0) fwrite(good, 1, glen / 2, f);                  /* truncated */
        else if (round % 3 == 1) fputs("not an onnx model at all", f);      /* garbage */
        else fwrite(good, 1, glen - 1, f);                                  /* one byte short */
        fclose(f);
        if (round == 4) {
            double e0 = hf_metric(d, errs);
            kill(d->pid, SIGHUP);   /* the reload the operator does; observed by its metric */
            for (int i = 0; i < 6000 && !sighup_seen; i++) {
                sighup_seen = hf_metric(d, errs) == e0 + 1;
                if (!sighup_seen) usleep(10000);
            }
        } else if (it_http(d, "POST", path, NULL, NULL, 0, NULL, &r) == 0) {
            if (r.status >= 400) failed_loads++;
            it_free(&r);
        }
        /* requests keep being served by the old version */
        progressed = hf_progress(&b, 3);
        /* and a good reload in between: the swap must not fail requests either */
        f = fopen(onnx, "wb");
        fwrite(good, 1, glen, f);
        fclose(f);
        if (it_http(d, "POST", path, NULL, NULL, 0, NULL, &r) == 0) {
            if (r.status == 200) good_loads++;
            it_free(&r);
        }
        progressed = progressed && hf_progress(&b, 3);
    }
    atomic_store(&b.stop, 1);
    for (int i = 0; i < 3; i++) pthread_join(t[i], NULL);
    free(png);
    CHECK_MSG(progressed, "requests stopped being answered during the reloads (%ld ok)", b.ok);
    CHECK_MSG(failed_loads == 5, "%d of 5 corrupt loads refused", failed_loads);
    CHECK_MSG(sighup_seen, "the SIGHUP reload of the corrupt file was not counted as a failed load");
    CHECK_MSG(good_loads == 6, "%d of 6 good reloads succeeded", good_loads);
    CHECK_MSG(b.bad == 0, "%ld requests failed during reloads (last status %ld), %ld ok", b.bad, b.last_bad,
              b.ok);
}

typedef struct hf_req {
    snnd_proc *d;
    const char *body;
    size_t len;
    long status;
} hf_req;

static void *hf_req_run(void *arg)
{
    hf_req *q = arg;
    http_resp r;
    if (it_http(q->d, "POST", "/classify", "application/json", q->body, q->len, NULL, &r) == 0)
        q->status = r.status;
    else
        q->status = -1;
    it_free(&r);
    return NULL;
}

IT_TEST(hf_sigterm_under_load, 0, "--workers", "2", "--drain-timeout-ms", "120000", "--max-batch", "8",
        "--max-queue-delay-ms", "0", "--request-timeout-ms", "120000", NULL)
{
    size_t len;
    char *body = it_batch_body(d, 1, 5, &len);
    CHECK(body);
    /* six requests held in the queue by the pause gate: in flight at
     * SIGTERM, and the drain stays open until the test resumes */
    CHECK_EQ_INT(it_admin(d, "pause"), 200);
    hf_req q[6];
    pthread_t t[6];
    for (int i = 0; i < 6; i++) {
        q[i] = (hf_req){d, body, len, 0};
        CHECK_OK(pthread_create(&t[i], NULL, hf_req_run, &q[i]));
    }
    int queued = it_wait_sched(d, "queued", 6, 60);
    kill(d->pid, SIGTERM);
    int turned = 0;
    for (int i = 0; i < 6000 && !turned; i++) {   /* observed: readiness turns */
        http_resp r;
        turned = it_http(d, "GET", "/readyz", NULL, NULL, 0, NULL, &r) == 0 && r.status == 503;
        it_free(&r);
        if (!turned) usleep(10000);
    }
    /* new work during the drain: 503 + Retry-After */
    int refused = 0, accepted = 0;
    for (int i = 0; i < 3; i++) {
        http_resp r;
        size_t sl;
        char *small = it_batch_body(d, 1, 2, &sl);
        int rc = it_http(d, "POST", "/classify", "application/json", small, sl, NULL, &r);
        if (rc == 0 && r.status == 503 && it_header(&r, "Retry-After")) refused++;
        else accepted++;
        it_free(&r);
        free(small);
    }
    int resumed = it_admin(d, "resume");
    for (int i = 0; i < 6; i++) pthread_join(t[i], NULL);
    free(body);
    int st, rc = -1;
    for (int i = 0; i < 6000 && d->pid > 0; i++) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            d->pid = 0;
            break;
        }
        usleep(10000);
    }
    CHECK_MSG(queued, "6 requests were never queued together");
    CHECK_MSG(turned, "readiness did not turn 503 after SIGTERM");
    for (int i = 0; i < 6; i++) CHECK_MSG(q[i].status == 200, "in-flight request %d got %ld", i, q[i].status);
    CHECK_MSG(refused == 3, "%d new requests accepted during the drain", accepted);
    CHECK_EQ_INT(resumed, 200);
    CHECK_EQ_INT(rc, 0);
}

/* Each round: the gate lets one chunk start (resume?chunks=1), so the job
 * runs its first step and is held; its deadline (X-Request-Timeout-Ms)
 * cuts it there: 504 "while running", whatever the speed of the machine
 * (without the cut the 50 steps would simply finish: 200). Then the worker
 * must be free: nothing running or held, and the next request is served. */
IT_TEST(hf_deadlines_free_the_worker, 0, "--workers", "1", "--request-timeout-ms", "300000",
        "--chunk-steps", "1", NULL)
{
    size_t len;
    long st = 0, big = 0;
    char *slow = it_batch_body(d, 1, 50, &len);
    const char *hdr[] = {"X-Request-Timeout-Ms: 1000", NULL};
    char why[400] = "";
    CHECK(slow);
    for (int i = 0; i < 3 && !why[0]; i++) {
        http_resp r;
        if (it_admin(d, "pause") != 200 || it_admin(d, "resume?chunks=1") != 200) {
            snprintf(why, sizeof why, "round %d: pause/resume refused", i);
            break;
        }
        if (it_http(d, "POST", "/classify", "application/json", slow, len, hdr, &r) != 0) {
            snprintf(why, sizeof why, "round %d: transport error", i);
            it_free(&r);
            break;
        }
        big = r.status;
        if (big != 504 || !strstr(r.body, "deadline exceeded while running"))
            snprintf(why, sizeof why, "round %d: held request answered %ld: %.200s", i, big, r.body);
        it_free(&r);
        if (why[0]) break;
        if (!it_wait_sched(d, "running", 0, 60) || it_sched(d, "held_runs") != 0)
            snprintf(why, sizeof why, "round %d: the worker is still busy after the 504", i);
        else if (it_sched(d, "chunks_left") != 0)
            snprintf(why, sizeof why, "round %d: the job did not start its first chunk", i);
        else if (it_admin(d, "resume") != 200)
            snprintf(why, sizeof why, "round %d: resume refused", i);
        else {
            hf_small(d, &st);
            if (st != 200) snprintf(why, sizeof why, "round %d: request after the 504 got %ld", i, st);
        }
    }
    it_admin(d, "resume");
    free(slow);
    CHECK_MSG(!why[0], "%s", why);
    char series[128];
    snprintf(series, sizeof series, "snnd_requests_total{model=\"%s\",code=\"504\"}", d->model);
    CHECK_NEAR(hf_metric(d, series), 3, 0);
    CHECK(hf_settled(d, 60));
}
