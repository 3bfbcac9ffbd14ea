/* loadgen.c: a closed-loop HTTP load generator on libcurl's multi interface,
 * for snnd's load, soak and fault tests (loopback only, bounded in time
 * and in requests).
 *
 * Build:
 *   cc -O2 tools/loadgen.c -o build/loadgen $(pkg-config --cflags --libs libcurl) -lm
 *
 *   build/loadgen --url http://127.0.0.1:8080/classify --body cat.png \
 *       --ctype image/png -c 32 -d 60 [--max-requests N] [--metrics URL]
 *
 * DESIGN: -c connections each keep exactly one request in flight: when one
 * finishes the same handle is re-armed at once (keep-alive reuses the
 * connection), so the offered load is "as fast as the server answers" at
 * that concurrency. Every answer is counted by status; 503s are checked
 * for a Retry-After header (with --honor-retry-after the connection then
 * waits that long before its next request, as a polite client does);
 * transport failures (connection refused or
 * reset, timeouts) are counted apart as status 0 with curl's error name.
 * Latencies are kept in full (one double per request) for exact
 * percentiles. "compute_ms" and "queue_ms" of 200 answers are averaged when
 * the body carries them (snnd's /classify does). With --metrics, the
 * Prometheus endpoint is scraped every second and the largest
 * snnd_queue_depth (summed over models) and snnd_inflight_requests seen are
 * reported. Output: one JSON object on stdout; progress on stderr.
 *
 * --no-reuse opens a new connection per request (probes that measure
 * whether the server still accepts); --interval S paces each connection
 * (a probe every S seconds instead of closed loop).
 *
 * --slow-headers N [--bind ADDR]: the slow-header attack of issue 13
 * instead of requests: N raw sockets (from source address ADDR, e.g.
 * 127.0.0.2, so that probes from 127.0.0.1 are another client) each send
 * a request line and then one header byte per second, reconnecting when
 * the server closes them, for -d seconds. Reports the most sockets held
 * open at once, the cuts by the server and the refused connects.
 *
 * The URL must be loopback (127.0.0.1, ::1 or localhost) unless
 * --allow-remote is given: this is a test tool, not a stress weapon.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_CODES 600

typedef struct conn {
    CURL *h;
    struct curl_slist *hdrs;
    double t0;
    int retry_after;          /* header seen in this answer */
    double retry_secs;        /* its value */
    double next_start;        /* > 0: parked until then (--honor-retry-after) */
    char *body;               /* response body (bounded) */
    size_t blen;
} conn;

typedef struct stats {
    long codes[MAX_CODES];
    long retry_after_503;     /* 503s that carried Retry-After */
    long transport_errors;
    long curl_errors[128];    /* by CURLcode */
    char last_error[128];
    double *lat;              /* seconds, per completed request */
    size_t nlat, caplat;
    double compute_ms_sum, queue_ms_sum;
    long compute_n;
    double max_queue_depth, max_inflight;
    long scrapes;
} stats;

static volatile sig_atomic_t stop_flag;
static void on_sigint(int s) { (void)s; stop_flag = 1; }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    conn *c = ud;
    size_t len = size * n;
    if (len >= 12 && !strncasecmp(p, "Retry-After:", 12)) {
        c->retry_after = 1;
        c->retry_secs = strtod(p + 12, NULL);
    }
    return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    conn *c = ud;
    size_t len = size * n, keep = len;
    if (c->blen + keep > 65536) keep = c->blen < 65536 ? 65536 - c->blen : 0;
    if (keep) {
        char *q = realloc(c->body, c->blen + keep + 1);
        if (!q) return 0;
        memcpy(q + c->blen, p, keep);
        c->body = q;
        c->blen += keep;
        c->body[c->blen] = '\0';
    }
    return len;
}

static int loopback(const char *url)
{
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    return !strncmp(h, "127.", 4) || !strncmp(h, "[::1]", 5) || !strncmp(h, "localhost", 9);
}

static double json_num(const char *body, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = body ? strstr(body, pat) : NULL;
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

/* Sum of the samples of a metric family in Prometheus text. */
static double prom_sum(const char *text, const char *name)
{
    double sum = 0;
    size_t nl = strlen(name);
    for (const char *p = text; p && *p;) {
        if (!strncmp(p, name, nl) && (p[nl] == '{' || p[nl] == ' ')) {
            const char *sp = strchr(p, ' ');
            const char *brace = strchr(p, '}');
            const char *eol = strchr(p, '\n');
            if (brace && eol && brace < eol) sp = strchr(brace, ' ');
            if (sp && (!eol || sp < eol)) sum += strtod(sp + 1, NULL);
        }
        p = strchr(p, '\n');
        if (p) p++;
    }
    return sum;
}

/* --slow-headers: host and port of an http://IPV4:PORT/ URL. */
static int url_addr(const char *url, struct sockaddr_in *sa)
{
    char host[64];
    int port = 80;
    const char *h = strstr(url, "://");
    h = h ? h + 3 : url;
    size_t k = 0;
    while (h[k] && h[k] != ':' && h[k] != '/' && k + 1 < sizeof host) {
        host[k] = h[k];
        k++;
    }
    host[k] = '\0';
    if (h[k] == ':') port = atoi(h + k + 1);
    if (!strcmp(host, "localhost")) snprintf(host, sizeof host, "127.0.0.1");
    memset(sa, 0, sizeof *sa);
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int slow_connect(const struct sockaddr_in *to, const char *bind_addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (bind_addr) {
        struct sockaddr_in me = {0};
        me.sin_family = AF_INET;
        if (inet_pton(AF_INET, bind_addr, &me.sin_addr) != 1 ||
            bind(fd, (struct sockaddr *)&me, sizeof me) != 0) {
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (const struct sockaddr *)to, sizeof *to) != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* N sockets trickling one header byte per second each, reconnected when
 * the server closes them. */
static int slow_headers(const char *url, int n, const char *bind_addr, double dur)
{
    struct sockaddr_in to;
    if (url_addr(url, &to)) {
        fprintf(stderr, "loadgen: --slow-headers needs an http://IPV4:PORT URL\n");
        return 2;
    }
    int *fd = malloc((size_t)n * sizeof *fd);
    double *retry = calloc((size_t)n, sizeof *retry);   /* a cut socket reconnects after 1 s */
    struct pollfd *pf = malloc((size_t)n * sizeof *pf);
    if (!fd || !pf || !retry) return 2;
    long cuts = 0, refused = 0, bytes = 0;
    int held_max = 0;
    static const char line[] = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    double t_end = now_s() + dur, next_tick = now_s();
    for (int i = 0; i < n; i++) fd[i] = -1;
    while (now_s() < t_end && !stop_flag) {
        int held = 0;
        for (int i = 0; i < n; i++) {
            if (fd[i] < 0) {
                if (now_s() < retry[i]) continue;
                retry[i] = now_s() + 1.0;
                fd[i] = slow_connect(&to, bind_addr);
                if (fd[i] < 0) {
                    refused++;
                    continue;
                }
                if (send(fd[i], line, sizeof line - 1, MSG_NOSIGNAL) < 0) {
                    close(fd[i]);
                    fd[i] = -1;
                    refused++;
                    continue;
                }
            }
            held++;
        }
        if (held > held_max) held_max = held;
        if (now_s() >= next_tick) {           /* one byte per socket per second */
            for (int i = 0; i < n; i++)
                if (fd[i] >= 0) {
                    if (send(fd[i], "a", 1, MSG_NOSIGNAL) == 1) bytes++;
                    else {
                        close(fd[i]);
                        fd[i] = -1;
                        cuts++;
                    }
                }
            next_tick += 1.0;
        }
        /* a server close shows as readable with 0 bytes (or an error) */
        int np = 0;
        for (int i = 0; i < n; i++)
            if (fd[i] >= 0) pf[np++] = (struct pollfd){fd[i], POLLIN, 0};
        poll(pf, (nfds_t)np, 100);
        for (int k = 0; k < np; k++) {
            if (!pf[k].revents) continue;
            char buf[512];
            ssize_t r = recv(pf[k].fd, buf, sizeof buf, 0);
            if (r > 0 || (r < 0 && errno == EAGAIN)) continue;
            for (int i = 0; i < n; i++)
                if (fd[i] == pf[k].fd) {
                    close(fd[i]);
                    fd[i] = -1;
                    cuts++;
                }
        }
        if (refused > 0 && held == 0) {
            struct timespec ts = {0, 50000000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < n; i++)
        if (fd[i] >= 0) close(fd[i]);
    printf("{\"slow_sockets\": %d, \"bind\": \"%s\", \"duration_s\": %.1f, \"held_max\": %d, "
           "\"cut_by_server\": %ld, \"refused_connects\": %ld, \"header_bytes_sent\": %ld}\n",
           n, bind_addr ? bind_addr : "", dur, held_max, cuts, refused, bytes);
    free(fd);
    free(retry);
    free(pf);
    return 0;
}

/* A JSON number, or null for NaN (no samples): the output stays JSON. */
static void json_num_out(char *buf, size_t len, double v, int prec)
{
    if (isfinite(v)) snprintf(buf, len, "%.*f", prec, v);
    else snprintf(buf, len, "null");
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *v, size_t n, double q)
{
    if (!n) return NAN;
    size_t i = (size_t)ceil(q * (double)n) - 1;
    if (i >= n) i = n - 1;
    return v[i];
}

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen --url URL [-c CONNS] [-d SECONDS] [--body FILE] [--ctype TYPE]\n"
            "               [-H 'Header: v']... [--method M] [--max-requests N]\n"
            "               [--timeout S] [--metrics URL] [--honor-retry-after]\n"
            "               [--quiet] [--allow-remote] [--no-reuse] [--interval S]\n"
            "       loadgen --url URL --slow-headers N [--bind ADDR] [-d SECONDS]\n");
}

int main(int argc, char **argv)
{
    const char *url = NULL, *body_path = NULL, *ctype = NULL, *method = NULL, *murl = NULL;
    const char *hdrs[16];
    const char *bind_addr = NULL;
    int nh = 0, conc = 8, quiet = 0, remote = 0, honor = 0, no_reuse = 0, slow = 0;
    double dur = 10, timeout = 60, interval = 0;
    long max_req = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quiet")) { quiet = 1; continue; }
        if (!strcmp(a, "--allow-remote")) { remote = 1; continue; }
        if (!strcmp(a, "--honor-retry-after")) { honor = 1; continue; }
        if (!strcmp(a, "--no-reuse")) { no_reuse = 1; continue; }
        if (!v) { usage(); return 2; }
        if (!strcmp(a, "--url")) url = v;
        else if (!strcmp(a, "-c")) conc = atoi(v);
        else if (!strcmp(a, "-d")) dur = atof(v);
        else if (!strcmp(a, "--body")) body_path = v;
        else if (!strcmp(a, "--ctype")) ctype = v;
        else if (!strcmp(a, "--method")) method = v;
        else if (!strcmp(a, "--max-requests")) max_req = atol(v);
        else if (!strcmp(a, "--timeout")) timeout = atof(v);
        else if (!strcmp(a, "--metrics")) murl = v;
        else if (!strcmp(a, "-H") && nh < 16) hdrs[nh++] = v;
        else if (!strcmp(a, "--interval")) interval = atof(v);
        else if (!strcmp(a, "--slow-headers")) slow = atoi(v);
        else if (!strcmp(a, "--bind")) bind_addr = v;
        else { usage(); return 2; }
        i++;
    }
    if (!url || conc < 1 || conc > 4096 || dur <= 0 || dur > 86400) { usage(); return 2; }
    if (!remote && (!loopback(url) || (murl && !loopback(murl)))) {
        fprintf(stderr, "loadgen: %s is not loopback (--allow-remote)\n", url);
        return 2;
    }
    if (slow) {
        if (slow < 1 || slow > 4096) { usage(); return 2; }
        signal(SIGINT, on_sigint);
        signal(SIGPIPE, SIG_IGN);
        return slow_headers(url, slow, bind_addr, dur);
    }

    char *body = NULL;
    long blen = 0;
    if (body_path) {
        FILE *f = fopen(body_path, "rb");
        if (!f || fseek(f, 0, SEEK_END) || (blen = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
            fprintf(stderr, "loadgen: cannot read %s\n", body_path);
            return 2;
        }
        body = malloc((size_t)blen + 1);
        if (!body || fread(body, 1, (size_t)blen, f) != (size_t)blen) return 2;
        fclose(f);
    }
    signal(SIGINT, on_sigint);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conc + 4);
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc + 1);

    static stats st;
    conn *cs = calloc((size_t)conc, sizeof *cs);
    if (!cs) return 2;
    st.caplat = 1 << 16;
    st.lat = malloc(st.caplat * sizeof *st.lat);

    double t_start = now_s(), t_end = t_start + dur, next_scrape = t_start, next_report = t_start + 5;
    long started = 0;
    for (int i = 0; i < conc; i++) {
        conn *c = &cs[i];
        c->h = curl_easy_init();
        curl_easy_setopt(c->h, CURLOPT_URL, url);
        curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
        curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c->h, CURLOPT_HEADERDATA, c);
        curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
        if (no_reuse) {
            curl_easy_setopt(c->h, CURLOPT_FORBID_REUSE, 1L);
            curl_easy_setopt(c->h, CURLOPT_FRESH_CONNECT, 1L);
        }
        c->hdrs = curl_slist_append(NULL, "Expect:");
        if (ctype) {
            char h[256];
            snprintf(h, sizeof h, "Content-Type: %s", ctype);
            c->hdrs = curl_slist_append(c->hdrs, h);
        }
        for (int k = 0; k < nh; k++) c->hdrs = curl_slist_append(c->hdrs, hdrs[k]);
        curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
        if (body) {
            curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
            curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
        }
        if (method) curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, method);
        if (max_req && started >= max_req) continue;
        c->t0 = now_s();
        curl_multi_add_handle(m, c->h);
        started++;
    }
    /* the metrics scraper: its own handle, re-armed every second */
    conn sc = {0};
    int scraping = 0;
    if (murl) {
        sc.h = curl_easy_init();
        curl_easy_setopt(sc.h, CURLOPT_URL, murl);
        curl_easy_setopt(sc.h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(sc.h, CURLOPT_TIMEOUT_MS, 5000L);
        curl_easy_setopt(sc.h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(sc.h, CURLOPT_WRITEDATA, &sc);
        curl_easy_setopt(sc.h, CURLOPT_PRIVATE, &sc);
    }

    int running = 1;
    long done = 0, prev_done = 0;
    int parked = 0;
    while (running || scraping || parked) {
        double t = now_s();
        /* connections told to come back later (--honor-retry-after) */
        for (int i = 0; parked && i < conc; i++)
            if (cs[i].next_start > 0 && (t >= cs[i].next_start || t >= t_end || stop_flag)) {
                cs[i].next_start = 0;
                parked--;
                if (t < t_end && !stop_flag) {
                    cs[i].t0 = t;
                    curl_multi_add_handle(m, cs[i].h);
                    started++;
                    running = 1;
                }
            }
        if (murl && !scraping && t >= next_scrape && t < t_end && !stop_flag) {
            sc.blen = 0;
            curl_multi_add_handle(m, sc.h);
            scraping = 1;
            next_scrape = t + 1.0;
        }
        if (!quiet && t >= next_report) {
            fprintf(stderr, "loadgen: %.0fs %ld done (%.0f/s)\n", t - t_start, done,
                    (double)(done - prev_done) / 5.0);
            prev_done = done;
            next_report += 5;
        }
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            conn *c;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_multi_remove_handle(m, msg->easy_handle);
            if (c == &sc) {
                scraping = 0;
                if (msg->data.result == CURLE_OK && sc.body) {
                    double q = prom_sum(sc.body, "snnd_queue_depth");
                    double f = prom_sum(sc.body, "snnd_inflight_requests");
                    if (q > st.max_queue_depth) st.max_queue_depth = q;
                    if (f > st.max_inflight) st.max_inflight = f;
                    st.scrapes++;
                }
                continue;
            }
            double lat = now_s() - c->t0;
            long code = 0;
            if (msg->data.result == CURLE_OK) {
                curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
            } else {
                st.transport_errors++;
                if ((int)msg->data.result < 128) st.curl_errors[msg->data.result]++;
                snprintf(st.last_error, sizeof st.last_error, "%s", curl_easy_strerror(msg->data.result));
            }
            if (code < 0 || code >= MAX_CODES) code = 0;
            st.codes[code]++;
            if (code == 503 && c->retry_after) st.retry_after_503++;
            if (code == 200) {
                double cm = json_num(c->body, "compute_ms"), qm = json_num(c->body, "queue_ms");
                if (isfinite(cm)) {
                    st.compute_ms_sum += cm;
                    st.queue_ms_sum += isfinite(qm) ? qm : 0;
                    st.compute_n++;
                }
            }
            if (st.nlat == st.caplat) {
                double *p = realloc(st.lat, 2 * st.caplat * sizeof *p);
                if (p) {
                    st.lat = p;
                    st.caplat *= 2;
                }
            }
            if (st.nlat < st.caplat) st.lat[st.nlat++] = lat;
            done++;
            int back_off = (honor && code == 503 && c->retry_after) || interval > 0;
            double wait = interval > 0 ? interval : c->retry_secs > 0 ? c->retry_secs : 1;
            c->retry_after = 0;
            c->retry_secs = 0;
            c->blen = 0;
            if (back_off && now_s() + wait < t_end && !stop_flag && (!max_req || started < max_req)) {
                c->next_start = now_s() + wait;
                parked++;
            } else if (now_s() < t_end && !stop_flag && (!max_req || started < max_req)) {
                c->t0 = now_s();
                curl_multi_add_handle(m, c->h);
                started++;
                running = 1;
            }
        }
        if (running || scraping) curl_multi_poll(m, NULL, 0, 50, NULL);
        else if (parked) {
            struct timespec ts = {0, 20000000};
            nanosleep(&ts, NULL);
        }
        if (now_s() > t_end + timeout + 5) break;   /* hard bound */
    }
    double elapsed = now_s() - t_start;

    qsort(st.lat, st.nlat, sizeof *st.lat, cmp_dbl);
    long ok = st.codes[200];
    printf("{\"url\": \"%s\", \"concurrency\": %d, \"duration_s\": %.3f, \"requests\": %ld,\n", url,
           conc, elapsed, done);
    printf(" \"status\": {");
    int first = 1;
    for (int i = 0; i < MAX_CODES; i++)
        if (st.codes[i]) {
            printf("%s\"%d\": %ld", first ? "" : ", ", i, st.codes[i]);
            first = 0;
        }
    printf("},\n \"ok\": %ld, \"rejected_503\": %ld, \"retry_after_503\": %ld,"
           " \"transport_errors\": %ld, \"last_error\": \"%s\",\n",
           ok, st.codes[503], st.retry_after_503, st.transport_errors, st.last_error);
    printf(" \"transport\": {");
    first = 1;
    for (int i = 0; i < 128; i++)
        if (st.curl_errors[i]) {
            printf("%s\"%s\": %ld", first ? "" : ", ", curl_easy_strerror((CURLcode)i), st.curl_errors[i]);
            first = 0;
        }
    printf("},\n");
    printf(" \"throughput_rps\": %.2f, \"ok_rps\": %.2f,\n", done / elapsed, ok / elapsed);
    char p50[32], p90[32], p99[32], pmax[32], cm[32], qm[32];
    json_num_out(p50, sizeof p50, pct(st.lat, st.nlat, 0.50) * 1e3, 2);
    json_num_out(p90, sizeof p90, pct(st.lat, st.nlat, 0.90) * 1e3, 2);
    json_num_out(p99, sizeof p99, pct(st.lat, st.nlat, 0.99) * 1e3, 2);
    json_num_out(pmax, sizeof pmax, st.nlat ? st.lat[st.nlat - 1] * 1e3 : NAN, 2);
    json_num_out(cm, sizeof cm, st.compute_n ? st.compute_ms_sum / st.compute_n : NAN, 3);
    json_num_out(qm, sizeof qm, st.compute_n ? st.queue_ms_sum / st.compute_n : NAN, 3);
    printf(" \"latency_ms\": {\"p50\": %s, \"p90\": %s, \"p99\": %s, \"max\": %s},\n", p50, p90,
           p99, pmax);
    printf(" \"compute_ms_mean\": %s, \"queue_ms_mean\": %s,\n", cm, qm);
    printf(" \"metrics_scrapes\": %ld, \"max_queue_depth\": %.0f, \"max_inflight\": %.0f}\n",
           st.scrapes, st.max_queue_depth, st.max_inflight);

    for (int i = 0; i < conc; i++) {
        curl_multi_remove_handle(m, cs[i].h);
        curl_easy_cleanup(cs[i].h);
        curl_slist_free_all(cs[i].hdrs);
        free(cs[i].body);
    }
    if (sc.h) {
        curl_multi_remove_handle(m, sc.h);
        curl_easy_cleanup(sc.h);
        free(sc.body);
    }
    curl_multi_cleanup(m);
    curl_global_cleanup();
    free(cs);
    free(st.lat);
    free(body);
    return 0;
}
