/* metrics.c: the daemon's Prometheus metrics, declared in ONE table.
 *
 * DESIGN: srv_metric_defs below is the only place a metric is named: its
 * type, help text, label names and (for histograms) buckets. The rest of
 * the daemon updates series by enum id with label values; /metrics is
 * rendered by walking the table, so the exposition (text format 0.0.4: one
 * HELP and one TYPE per family, cumulative buckets ending in le="+Inf"
 * equal to _count, then _sum) always matches what the code records. Label
 * values come only from the server's own vocabulary (model names that are
 * loaded, status codes, device names), never from raw client input, so
 * cardinality stays bounded. One mutex guards everything: updates are a
 * few per request.
 */
#include "server.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

typedef enum { MT_COUNTER, MT_GAUGE, MT_HISTOGRAM } metric_type;

static const double dur_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                     0.1,   0.25,   0.5,   1,    2.5,   5,
                                     10,    30};
static const double batch_buckets[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
#define NB(a) (int)(sizeof a / sizeof a[0])

typedef struct metric_def {
    srv_metric_id id;
    const char *name;
    metric_type type;
    const char *help;
    int nlabels;
    const char *labels[2];
    const double *buckets;
    int nbuckets;
} metric_def;

static const metric_def srv_metric_defs[SRV_M_COUNT_] = {
    {SRV_M_REQUESTS, "snnd_requests_total", MT_COUNTER,
     "Inference requests by model and HTTP status code (499: the client left, "
     "streams abandoned before their end included).", 2,
     {"model", "code"}, NULL, 0},
    {SRV_M_REQUEST_SECONDS, "snnd_request_duration_seconds", MT_HISTOGRAM,
     "Inference request latency from first byte to answer.", 1, {"model"},
     dur_buckets, NB(dur_buckets)},
    {SRV_M_QUEUE_SECONDS, "snnd_queue_duration_seconds", MT_HISTOGRAM,
     "Time requests waited in the model queue.", 1, {"model"}, dur_buckets,
     NB(dur_buckets)},
    {SRV_M_COMPUTE_SECONDS, "snnd_compute_duration_seconds", MT_HISTOGRAM,
     "Engine run time of the batch a request was part of.", 1, {"model"},
     dur_buckets, NB(dur_buckets)},
    {SRV_M_QUEUE_DEPTH, "snnd_queue_depth", MT_GAUGE,
     "Requests waiting in the model queue.", 1, {"model"}, NULL, 0},
    {SRV_M_BATCH_SIZE, "snnd_batch_size", MT_HISTOGRAM,
     "Images per engine run (dynamic batching).", 0, {NULL, NULL},
     batch_buckets, NB(batch_buckets)},
    {SRV_M_INFLIGHT, "snnd_inflight_requests", MT_GAUGE,
     "Inference requests being processed.", 0, {NULL, NULL}, NULL, 0},
    {SRV_M_TIMESTEPS, "snnd_timesteps_total", MT_COUNTER,
     "Image timesteps simulated (steps times images).", 1, {"model"}, NULL, 0},
    {SRV_M_SPIKES, "snnd_spikes_total", MT_COUNTER,
     "Spikes emitted by all neuron layers.", 1, {"model"}, NULL, 0},
    {SRV_M_ENERGY, "snnd_energy_joules_total", MT_COUNTER,
     "Estimated energy of the simulated spiking runs on the device.", 2,
     {"model", "device"}, NULL, 0},
    {SRV_M_MODEL_MEMORY, "snnd_model_memory_bytes", MT_GAUGE,
     "Memory held by the served version of a model (weights, plans, engines).",
     1, {"model"}, NULL, 0},
    {SRV_M_MODEL_LOADS, "snnd_model_loads_total", MT_COUNTER,
     "Model load attempts, by result (ok or error).", 2, {"model", "result"},
     NULL, 0},
    {SRV_M_BUILD_INFO, "snnd_build_info", MT_GAUGE,
     "Build information; the value is always 1.", 1, {"version"}, NULL, 0},
    {SRV_M_JOBS, "snnd_jobs_total", MT_COUNTER,
     "Asynchronous /v1/jobs requests by final status (200 done, 4xx/5xx failed, "
     "499 cancelled, 504 deadline).", 2, {"model", "status"}, NULL, 0},
    {SRV_M_MODEL_STATE, "snnd_model_state", MT_GAUGE,
     "1 for the state a model is in (ready, loading, unavailable, failed), 0 for the others.",
     2, {"model", "state"}, NULL, 0},
    {SRV_M_PROC_CPU, "process_cpu_seconds_total", MT_COUNTER,
     "User and system CPU time spent by the process, in seconds.", 0, {NULL, NULL}, NULL, 0},
    {SRV_M_PROC_RSS, "process_resident_memory_bytes", MT_GAUGE,
     "Resident memory size of the process, in bytes.", 0, {NULL, NULL}, NULL, 0},
    {SRV_M_PROC_VSIZE, "process_virtual_memory_bytes", MT_GAUGE,
     "Virtual memory size of the process, in bytes.", 0, {NULL, NULL}, NULL, 0},
    {SRV_M_PROC_FDS, "process_open_fds", MT_GAUGE,
     "Open file descriptors of the process.", 0, {NULL, NULL}, NULL, 0},
    {SRV_M_PROC_MAX_FDS, "process_max_fds", MT_GAUGE,
     "Limit on open file descriptors of the process.", 0, {NULL, NULL}, NULL, 0},
    {SRV_M_PROC_START, "process_start_time_seconds", MT_GAUGE,
     "Start time of the process since the Unix epoch, in seconds.", 0, {NULL, NULL}, NULL, 0},
    {SRV_M_DECODES, "snnd_image_decodes_total", MT_COUNTER,
     "Image decodes by result (ok, refused, timeout, cancelled).", 1, {"result"},
     NULL, 0},
    {SRV_M_DECODES_ACTIVE, "snnd_image_decodes_active", MT_GAUGE,
     "Images being decoded (at most decode-concurrency).", 0, {NULL, NULL}, NULL, 0},
    {SRV_M_DECODES_WAITING, "snnd_image_decodes_waiting", MT_GAUGE,
     "Requests waiting for a decode slot.", 0, {NULL, NULL}, NULL, 0},
    {SRV_M_JOBS_BYTES, "snnd_jobs_memory_bytes", MT_GAUGE,
     "Event-log bytes held by /v1/jobs entries (bounded by jobs-memory-bytes).", 0,
     {NULL, NULL}, NULL, 0},
};

typedef struct series {
    char lv[2][SNN_MODEL_NAME_MAX];
    double value;               /* counter / gauge */
    double sum;                 /* histogram */
    uint64_t count;
    uint64_t *buckets;          /* per bucket, not cumulative */
} series;

typedef struct family {
    series *s;
    int n, cap;
} family;

static family families[SRV_M_COUNT_];
static double start_wall;   /* wall-clock time of srv_metrics_init, at startup */
static uv_mutex_t metrics_mu;

void srv_metrics_init(void)
{
    uv_mutex_init(&metrics_mu);
    for (int i = 0; i < SRV_M_COUNT_; i++)
        if (srv_metric_defs[i].id != (srv_metric_id)i) abort();   /* table order */
    start_wall = srv_wall();
    srv_metrics_set(SRV_M_BUILD_INFO, 1, SRV_VERSION, NULL);
    srv_metrics_set(SRV_M_INFLIGHT, 0, NULL, NULL);
}

void srv_metrics_deinit(void)
{
    for (int i = 0; i < SRV_M_COUNT_; i++) {
        for (int k = 0; k < families[i].n; k++) free(families[i].s[k].buckets);
        free(families[i].s);
        families[i].s = NULL;
        families[i].n = families[i].cap = 0;
    }
    uv_mutex_destroy(&metrics_mu);
}

/* Caller holds metrics_mu. NULL on allocation failure. */
static series *find(srv_metric_id m, const char *l1, const char *l2, int create)
{
    family *f = &families[m];
    const metric_def *d = &srv_metric_defs[m];
    const char *lv[2] = {l1 ? l1 : "", l2 ? l2 : ""};
    for (int i = 0; i < f->n; i++) {
        int k;
        for (k = 0; k < d->nlabels; k++)
            if (strcmp(f->s[i].lv[k], lv[k])) break;
        if (k == d->nlabels) return &f->s[i];
    }
    if (!create) return NULL;
    if (f->n == f->cap) {
        int cap = f->cap ? f->cap * 2 : 8;
        series *ns = realloc(f->s, (size_t)cap * sizeof *ns);
        if (!ns) return NULL;
        f->s = ns;
        f->cap = cap;
    }
    series *s = &f->s[f->n];
    memset(s, 0, sizeof *s);
    for (int k = 0; k < d->nlabels; k++)
        snprintf(s->lv[k], sizeof s->lv[k], "%s", lv[k]);
    if (d->type == MT_HISTOGRAM) {
        s->buckets = calloc((size_t)d->nbuckets, sizeof *s->buckets);
        if (!s->buckets) return NULL;
    }
    f->n++;
    return s;
}

void srv_metrics_add(srv_metric_id m, double v, const char *l1, const char *l2)
{
    uv_mutex_lock(&metrics_mu);
    series *s = find(m, l1, l2, 1);
    if (s) s->value += v;
    uv_mutex_unlock(&metrics_mu);
}

void srv_metrics_set(srv_metric_id m, double v, const char *l1, const char *l2)
{
    uv_mutex_lock(&metrics_mu);
    series *s = find(m, l1, l2, 1);
    if (s) s->value = v;
    uv_mutex_unlock(&metrics_mu);
}

void srv_metrics_observe(srv_metric_id m, double v, const char *l1)
{
    const metric_def *d = &srv_metric_defs[m];
    if (!isfinite(v)) return;
    uv_mutex_lock(&metrics_mu);
    series *s = find(m, l1, NULL, 1);
    if (s) {
        int b;
        for (b = 0; b < d->nbuckets && v > d->buckets[b]; b++) {}
        if (b < d->nbuckets) s->buckets[b]++;
        s->count++;
        s->sum += v;
    }
    uv_mutex_unlock(&metrics_mu);
}

void srv_metrics_remove(srv_metric_id m, const char *l1)
{
    family *f = &families[m];
    uv_mutex_lock(&metrics_mu);
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->s[i].lv[0], l1 ? l1 : "")) {
            free(f->s[i].buckets);
            f->s[i] = f->s[--f->n];
            i--;
        }
    uv_mutex_unlock(&metrics_mu);
}

typedef struct strbuf {
    char *p;
    size_t len, cap;
    int oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        if (b->oom) return;
        size_t room = b->cap - b->len;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) { b->oom = 1; return; }
        if ((size_t)n < room) { b->len += (size_t)n; return; }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *np = realloc(b->p, cap);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = cap;
    }
}

/* Label values are escaped as the text format requires (\\, \", \n). */
static void sb_labels(strbuf *b, const metric_def *d, const series *s,
                      const char *extra_name, const char *extra_val)
{
    int any = 0;
    if (d->nlabels == 0 && !extra_name) return;
    sb_printf(b, "{");
    for (int k = 0; k < d->nlabels; k++) {
        sb_printf(b, "%s%s=\"", any ? "," : "", d->labels[k]);
        for (const char *p = s->lv[k]; *p; p++) {
            if (*p == '\\' || *p == '"') sb_printf(b, "\\%c", *p);
            else if (*p == '\n') sb_printf(b, "\\n");
            else sb_printf(b, "%c", *p);
        }
        sb_printf(b, "\"");
        any = 1;
    }
    if (extra_name) sb_printf(b, "%s%s=\"%s\"", any ? "," : "", extra_name, extra_val);
    sb_printf(b, "}");
}

static void sb_num(strbuf *b, double v)
{
    char x[40];
    if (v == floor(v) && fabs(v) < 1e15) {
        sb_printf(b, " %.0f\n", v);
        return;
    }
    /* short when that is exact; full precision for timestamps and sums */
    snprintf(x, sizeof x, "%.9g", v);
    if (strtod(x, NULL) != v) snprintf(x, sizeof x, "%.17g", v);
    sb_printf(b, " %s\n", x);
}

/* Gauges read at scrape time: the process (from /proc, as the Prometheus
 * client libraries do) and the state of every model in the repository. */
static void refresh_process(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        /* fields after the ")" of comm: state(3) ... utime(14) stime(15)
         * ... vsize(23) rss(24) */
        char *p = strrchr(buf, ')');
        unsigned long long ut = 0, stt = 0, vsize = 0;
        long long rss = 0;
        if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d "
                               "%*d %*d %*u %llu %lld", &ut, &stt, &vsize, &rss) == 4) {
            double hz = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
            srv_metrics_set(SRV_M_PROC_CPU, (double)(ut + stt) / hz, NULL, NULL);
            srv_metrics_set(SRV_M_PROC_VSIZE, (double)vsize, NULL, NULL);
            srv_metrics_set(SRV_M_PROC_RSS, (double)rss * page, NULL, NULL);
        }
    }
    /* The start time is taken from the wall clock at startup, not from
     * /proc's boot time plus start ticks: those drift apart on machines
     * whose clock was adjusted or suspended since boot. */
    srv_metrics_set(SRV_M_PROC_START, start_wall, NULL, NULL);
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        int n = 0;
        struct dirent *e;
        while ((e = readdir(d)))
            if (e->d_name[0] != '.') n++;
        closedir(d);
        srv_metrics_set(SRV_M_PROC_FDS, n - 1, NULL, NULL);   /* less the one reading the dir */
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        srv_metrics_set(SRV_M_PROC_MAX_FDS, rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur,
                        NULL, NULL);
}

static void refresh_models(void)
{
    static const char *const states[] = {"ready", "loading", "unavailable", "failed"};
    for (int i = 0; i < srv_repo_count(); i++) {
        srv_model *m = srv_repo_at(i);
        const char *st = srv_model_state(m);
        for (int k = 0; k < 4; k++) srv_metrics_set(SRV_M_MODEL_STATE, !strcmp(st, states[k]), m->name, states[k]);
    }
}

char *srv_metrics_render(size_t *len)
{
    refresh_process();
    refresh_models();
    static const char *const tnames[] = {"counter", "gauge", "histogram"};
    strbuf b = {0};
    uv_mutex_lock(&metrics_mu);
    for (int i = 0; i < SRV_M_COUNT_; i++) {
        const metric_def *d = &srv_metric_defs[i];
        family *f = &families[i];
        sb_printf(&b, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
                  tnames[d->type]);
        for (int k = 0; k < f->n; k++) {
            const series *s = &f->s[k];
            if (d->type != MT_HISTOGRAM) {
                sb_printf(&b, "%s", d->name);
                sb_labels(&b, d, s, NULL, NULL);
                sb_num(&b, s->value);
                continue;
            }
            uint64_t cum = 0;
            for (int q = 0; q < d->nbuckets; q++) {
                char le[32];
                cum += s->buckets[q];
                snprintf(le, sizeof le, "%g", d->buckets[q]);
                sb_printf(&b, "%s_bucket", d->name);
                sb_labels(&b, d, s, "le", le);
                sb_num(&b, (double)cum);
            }
            sb_printf(&b, "%s_bucket", d->name);
            sb_labels(&b, d, s, "le", "+Inf");
            sb_num(&b, (double)s->count);
            sb_printf(&b, "%s_sum", d->name);
            sb_labels(&b, d, s, NULL, NULL);
            sb_num(&b, s->sum);
            sb_printf(&b, "%s_count", d->name);
            sb_labels(&b, d, s, NULL, NULL);
            sb_num(&b, (double)s->count);
        }
    }
    uv_mutex_unlock(&metrics_mu);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}
