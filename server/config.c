/* config.c: snnd's options, from ONE table.
 *
 * DESIGN: each row of srv_options names an option once: its spelling
 * (flag --max-batch, env SNND_MAX_BATCH, JSON key "max_batch" or
 * "max-batch"), type, field in srv_config, default, bounds, whether SIGHUP
 * may change it while running, and its help line. Defaults, the JSON config
 * file, environment variables, flags, validation, `--help` and
 * `--print-config` are all loops over that table, so they cannot disagree.
 * Precedence: default < config file < environment < command line.
 */
#include "server.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

srv_config srv_cfg;

typedef enum { OPT_INT, OPT_STR } opt_type;

typedef struct srv_option {
    const char *name;        /* flag spelling without "--" */
    opt_type type;
    size_t off;
    const char *def;         /* default, as text */
    int64_t min, max;        /* bounds of OPT_INT */
    int reloadable;
    int secret;              /* redacted in dumps */
    const char *metavar;
    const char *help;
} srv_option;

#define F(field) offsetof(srv_config, field)
#define MiB (1024LL * 1024)

static const srv_option srv_options[] = {
    {"host", OPT_STR, F(host), "127.0.0.1", 0, 0, 0, 0, "ADDR",
     "address to listen on (IPv4 or IPv6 literal)"},
    {"port", OPT_INT, F(port), "8080", 0, 65535, 0, 0, "N",
     "TCP port (0 picks a free one, logged at startup)"},
    {"models", OPT_STR, F(models), "models", 0, 0, 0, 0, "DIR",
     "model repository: one subfolder per model (model.onnx + config.json, "
     "optional numeric version subfolders)"},
    {"default-model", OPT_STR, F(default_model), "cifar10", 0, 0, 0, 0, "NAME",
     "model served by POST /classify"},
    {"workers", OPT_INT, F(workers), "0", 0, 256, 0, 0, "N",
     "worker threads running the engines (0 = one per CPU)"},
    {"engine-threads", OPT_INT, F(engine_threads), "0", 0, 16, 0, 0, "N",
     "threads of one engine run (0 = one per CPU): a lone image (batch 1, a "
     "stream) keeps every core busy; results are the same for any value"},
    {"max-batch", OPT_INT, F(max_batch), "8", 1, 256, 0, 0, "N",
     "images per engine run (dynamic batching) and per request"},
    {"max-queue-delay-ms", OPT_INT, F(max_queue_delay_ms), "2", 0, 10000, 1, 0,
     "MS", "how long a worker waits to fill a batch"},
    {"queue-size", OPT_INT, F(queue_size), "64", 1, 1000000, 1, 0, "N",
     "queued requests per model before 503"},
    {"request-timeout-ms", OPT_INT, F(request_timeout_ms), "30000", 1,
     3600000, 1, 0, "MS", "deadline of a request, queue wait plus run (504)"},
    {"drain-timeout-ms", OPT_INT, F(drain_timeout_ms), "10000", 0, 3600000, 1,
     0, "MS", "on SIGTERM, how long in-flight work may take to finish"},
    {"max-body-bytes", OPT_INT, F(max_body_bytes), "8388608", 1024,
     1024 * MiB, 1, 0, "N", "largest request body (413)"},
    {"max-steps", OPT_INT, F(max_steps), "1000", 1, 100000, 0, 0, "N",
     "most timesteps a request may ask for (also capped by the model)"},
    {"max-image-pixels", OPT_INT, F(max_image_pixels), "16777216", 1,
     1LL << 31, 1, 0, "N", "largest decoded image, width x height"},
    {"max-image-side", OPT_INT, F(max_image_side), "4096", 1, 65535, 1, 0, "N",
     "largest image width or height"},
    {"max-image-scans", OPT_INT, F(max_image_scans), "64", 1, 10000, 1, 0, "N",
     "most scans of a (progressive) JPEG; each costs a pass over the image (400 beyond)"},
    {"decode-concurrency", OPT_INT, F(decode_concurrency), "2", 1, 256, 1, 0, "N",
     "images decoded at once; others wait (deadline and disconnect checked). Decode "
     "memory <= N x (10 x max-image-pixels + 9 MiB)"},
    {"max-connections", OPT_INT, F(max_connections), "256", 1, 65536, 0, 0,
     "N", "concurrent HTTP connections"},
    {"max-connections-per-ip", OPT_INT, F(max_connections_per_ip), "64", 0, 65536, 0,
     0, "N", "concurrent connections from one client address, beyond them closed at "
     "accept (0 = no limit)"},
    {"header-timeout-ms", OPT_INT, F(header_timeout_ms), "10000", 100, 3600000, 1, 0,
     "MS", "a connection must complete its request headers within this of connecting "
     "or of its previous answer (idle keep-alive too), else it is closed"},
    {"connection-timeout-s", OPT_INT, F(connection_timeout_s), "30", 1, 3600,
     0, 0, "S", "idle connections and slow request bodies are closed after this"},
    {"header-bytes", OPT_INT, F(header_bytes), "32768", 4096, 1048576, 0, 0,
     "N", "per-connection memory for request headers (431 beyond)"},
    {"max-json-depth", OPT_INT, F(max_json_depth), "32", 2, 1024, 1, 0, "N",
     "deepest nesting accepted in JSON bodies"},
    {"max-json-values", OPT_INT, F(max_json_values), "1048576", 1024, 1LL << 30, 1,
     0, "N", "most values in a JSON body, counted before parsing (400 beyond); a parse "
     "holds about 48 bytes per value"},
    {"max-raster-neurons", OPT_INT, F(max_raster_neurons), "256", 1, 65536, 0,
     0, "N", "most neurons a raster request may sample"},
    {"chunk-steps", OPT_INT, F(chunk_steps), "10", 0, 100000, 1, 0, "N",
     "steps per engine chunk (deadline and cancel checks between chunks)"},
    {"net-cache", OPT_INT, F(net_cache), "4", 0, 64, 0, 0, "N",
     "networks cached per model for non-default conversion parameters"},
    {"job-ttl-s", OPT_INT, F(job_ttl_s), "300", 1, 86400, 1, 0, "S",
     "lifetime of a /v1/jobs entry"},
    {"max-jobs", OPT_INT, F(max_jobs), "1024", 1, 1000000, 1, 0, "N",
     "/v1/jobs entries held at once"},
    {"jobs-memory-bytes", OPT_INT, F(jobs_memory_bytes), "67108864", 65536, 1LL << 40, 1,
     0, "N", "event-log bytes all /v1/jobs entries may hold; past it a job's timestep "
     "events are dropped (a 'truncated' event says so) and new jobs are 503"},
    {"keepalive-s", OPT_INT, F(keepalive_s), "15", 1, 3600, 1, 0, "S",
     "SSE keepalive comment interval"},
    {"retry-after-s", OPT_INT, F(retry_after_s), "1", 1, 3600, 1, 0, "S",
     "Retry-After sent with 503"},
    {"admin-token", OPT_STR, F(admin_token), "", 0, 0, 0, 1, "TOKEN",
     "bearer token of the admin endpoints (load/unload, /v1/config); empty: "
     "open on a loopback listener, disabled (403) beyond loopback"},
    {"log-level", OPT_STR, F(log_level), "info", 0, 0, 1, 0, "LEVEL",
     "debug, info, warn or error"},
    {"log-format", OPT_STR, F(log_format), "text", 0, 0, 1, 0, "FMT",
     "text, or json (one object per line: time, level, request_id, and for "
     "each request method, path, status, model, steps, queue and compute ms)"},
    {"cors-origins", OPT_STR, F(cors_origins), "", 0, 0, 0, 0, "LIST",
     "origins allowed to call the API from a browser: comma-separated "
     "http(s)://host[:port] list, * for any, empty = no CORS headers"},
    {"energy-device", OPT_STR, F(energy_device), "loihi", 0, 0, 0, 0, "DEV",
     "device of the snnd_energy_joules_total estimate"},
};
#define NOPTIONS (sizeof srv_options / sizeof srv_options[0])

static _Atomic int64_t *opt_aint(srv_config *c, const srv_option *o)
{
    return (_Atomic int64_t *)((char *)c + o->off);
}
static char **opt_str(srv_config *c, const srv_option *o)
{
    return (char **)((char *)c + o->off);
}

static const srv_option *opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < NOPTIONS; i++) {
        const char *n = srv_options[i].name;
        size_t k;
        if (strlen(n) != len) continue;
        for (k = 0; k < len; k++) {
            char a = name[k] == '_' ? '-' : name[k];
            if (a != n[k]) break;
        }
        if (k == len) return &srv_options[i];
    }
    return NULL;
}

/* Validate and store one value. `src` names where it came from. */
static int opt_set(srv_config *c, const srv_option *o, const char *val,
                   const char *src)
{
    if (o->type == OPT_INT) {
        char *end;
        errno = 0;
        long long v = strtoll(val, &end, 10);
        if (errno || end == val || *end) {
            fprintf(stderr, "snnd: %s: %s: not an integer: '%s'\n", src,
                    o->name, val);
            return -1;
        }
        if (v < o->min || v > o->max) {
            fprintf(stderr, "snnd: %s: %s: %lld is outside %lld..%lld\n", src,
                    o->name, v, (long long)o->min, (long long)o->max);
            return -1;
        }
        atomic_store(opt_aint(c, o), v);
        return 0;
    }
    if (strcmp(o->name, "log-level") == 0 && srv_log_level_parse(val) < 0) {
        fprintf(stderr, "snnd: %s: log-level: '%s' is not debug|info|warn|error\n",
                src, val);
        return -1;
    }
    if (strcmp(o->name, "log-format") == 0 && srv_log_format_parse(val) < 0) {
        fprintf(stderr, "snnd: %s: log-format: '%s' is not text|json\n", src, val);
        return -1;
    }
    if (strcmp(o->name, "cors-origins") == 0 && !srv_cors_origins_valid(val)) {
        fprintf(stderr, "snnd: %s: cors-origins: '%s' is not *, empty, or a comma-separated "
                "list of http(s)://host[:port] origins\n", src, val);
        return -1;
    }
    if (strlen(val) > 4096) {
        fprintf(stderr, "snnd: %s: %s: value too long\n", src, o->name);
        return -1;
    }
    char *dup = strdup(val);
    if (!dup) return -1;
    free(*opt_str(c, o));
    *opt_str(c, o) = dup;
    return 0;
}

static void opt_defaults(srv_config *c)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (opt_set(c, &srv_options[i], srv_options[i].def, "default") != 0)
            abort();   /* the table itself is wrong: programmer error */
}

static void config_free(srv_config *c)
{
    for (size_t i = 0; i < NOPTIONS; i++)
        if (srv_options[i].type == OPT_STR) {
            free(*opt_str(c, &srv_options[i]));
            *opt_str(c, &srv_options[i]) = NULL;
        }
    free(c->config_path);
    c->config_path = NULL;
}

/* Apply a JSON config file. only_reloadable: SIGHUP mode. */
static int config_file(srv_config *c, const char *path, int only_reloadable)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fprintf(stderr, "snnd: %s:%d: %s\n", path, jerr.line, jerr.text);
        return -1;
    }
    if (!json_is_object(root)) {
        fprintf(stderr, "snnd: %s: top level must be an object\n", path);
        json_decref(root);
        return -1;
    }
    const char *key;
    json_t *val;
    int rc = 0;
    json_object_foreach(root, key, val) {
        const srv_option *o = opt_find(key, strlen(key));
        char buf[64];
        const char *s;
        if (!o) {
            fprintf(stderr, "snnd: %s: unknown option '%s'\n", path, key);
            rc = -1;
            continue;
        }
        if (only_reloadable && !o->reloadable) continue;
        if (json_is_string(val)) s = json_string_value(val);
        else if (json_is_integer(val)) {
            snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(val));
            s = buf;
        } else if (json_is_boolean(val)) s = json_is_true(val) ? "1" : "0";
        else {
            fprintf(stderr, "snnd: %s: %s: expected a string or integer\n", path, key);
            rc = -1;
            continue;
        }
        if (opt_set(c, o, s, path) != 0) rc = -1;
    }
    json_decref(root);
    return rc;
}

static void env_name(const srv_option *o, char *buf, size_t len)
{
    size_t k = (size_t)snprintf(buf, len, "SNND_");
    for (const char *p = o->name; *p && k + 1 < len; p++)
        buf[k++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    buf[k] = '\0';
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: snnd [--config FILE] [OPTIONS]\n"
            "       snnd --help | --print-config | --version\n\n"
            "Spiking-neural-network inference server. Every option is also a\n"
            "JSON key of the config file (\"max_batch\": 8) and an environment\n"
            "variable (SNND_MAX_BATCH=8); precedence: default < file < env < flag.\n"
            "Options marked [reload] are re-read from the config file on SIGHUP.\n\n"
            "  --config FILE              JSON config file (env SNND_CONFIG)\n");
    for (size_t i = 0; i < NOPTIONS; i++) {
        const srv_option *o = &srv_options[i];
        char left[64], env[64];
        snprintf(left, sizeof left, "--%s %s", o->name, o->metavar);
        env_name(o, env, sizeof env);
        fprintf(f, "  %-26s %s\n", left, o->help);
        if (o->type == OPT_INT)
            fprintf(f, "  %-26s default %s, %lld..%lld, env %s%s\n", "", o->def,
                    (long long)o->min, (long long)o->max, env,
                    o->reloadable ? " [reload]" : "");
        else
            fprintf(f, "  %-26s default \"%s\", env %s%s\n", "", o->def, env,
                    o->reloadable ? " [reload]" : "");
    }
}

json_t *srv_config_json(void)
{
    json_t *o = json_object();
    for (size_t i = 0; i < NOPTIONS; i++) {
        const srv_option *op = &srv_options[i];
        char key[64];
        size_t k;
        for (k = 0; op->name[k] && k < sizeof key - 1; k++)
            key[k] = op->name[k] == '-' ? '_' : op->name[k];
        key[k] = '\0';
        if (op->type == OPT_INT)
            json_object_set_new(o, key, json_integer(atomic_load(opt_aint(&srv_cfg, op))));
        else {
            const char *s = *opt_str(&srv_cfg, op);
            json_object_set_new(o, key, json_string(op->secret && s && *s ? "<redacted>" : s ? s : ""));
        }
    }
    return o;
}

/* `models` default: ./models, else next to the binary (build/../models). */
static void resolve_models(srv_config *c, int explicit_set)
{
    char exe[4096], cand[4200];
    if (explicit_set || access(c->models, R_OK) == 0) return;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return;
    *slash = '\0';
    snprintf(cand, sizeof cand, "%s/../%s", exe, c->models);
    if (access(cand, R_OK) == 0) {
        char *dup = strdup(cand);
        if (dup) {
            free(c->models);
            c->models = dup;
        }
    }
}

int srv_config_init(int argc, char **argv)
{
    srv_config *c = &srv_cfg;
    int print = 0, models_set = 0;
    const char *cfgpath = getenv("SNND_CONFIG");

    memset(c, 0, sizeof *c);
    opt_defaults(c);
    /* First pass: commands and --config. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            config_free(c);
            return 1;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("snnd %s\n", SRV_VERSION);
            config_free(c);
            return 1;
        }
        if (!strcmp(argv[i], "--print-config")) print = 1;
        else if (!strcmp(argv[i], "--config") && i + 1 < argc) cfgpath = argv[++i];
        else if (!strncmp(argv[i], "--config=", 9)) cfgpath = argv[i] + 9;
    }
    if (cfgpath && *cfgpath) {
        c->config_path = strdup(cfgpath);
        if (config_file(c, cfgpath, 0) != 0) goto fail;
    }
    /* Environment. */
    for (size_t i = 0; i < NOPTIONS; i++) {
        char env[64];
        env_name(&srv_options[i], env, sizeof env);
        const char *v = getenv(env);
        if (!v) continue;
        if (opt_set(c, &srv_options[i], v, env) != 0) goto fail;
        if (srv_options[i].off == F(models)) models_set = 1;
    }
    /* Flags: --name VALUE or --name=VALUE. */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val;
        if (!strcmp(a, "--print-config")) continue;
        if (!strcmp(a, "--config")) { i++; continue; }
        if (!strncmp(a, "--config=", 9)) continue;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "snnd: unexpected argument '%s' (see --help)\n", a);
            goto fail;
        }
        const char *eq = strchr(a + 2, '=');
        size_t nlen = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        const srv_option *o = opt_find(a + 2, nlen);
        if (!o) {
            fprintf(stderr, "snnd: unknown option '%s' (see --help)\n", a);
            goto fail;
        }
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else {
            fprintf(stderr, "snnd: %s needs a value\n", a);
            goto fail;
        }
        if (opt_set(c, o, val, "command line") != 0) goto fail;
        if (o->off == F(models)) models_set = 1;
    }
    if (!snn_energy_device_find(c->energy_device)) {
        fprintf(stderr, "snnd: energy-device: unknown device '%s'\n", c->energy_device);
        goto fail;
    }
    resolve_models(c, models_set);
    srv_log_set_level(srv_log_level_parse(c->log_level));
    srv_log_set_format(srv_log_format_parse(c->log_format));
    if (print) {
        json_t *j = srv_config_json();
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s) printf("%s\n", s);
        free(s);
        json_decref(j);
        config_free(c);
        return 1;
    }
    return 0;
fail:
    config_free(c);
    return -1;
}

void srv_config_reload(void)
{
    if (!srv_cfg.config_path) return;
    /* Parse into a scratch copy first: a bad file changes nothing. */
    srv_config tmp;
    memset(&tmp, 0, sizeof tmp);
    opt_defaults(&tmp);
    if (config_file(&tmp, srv_cfg.config_path, 1) != 0) {
        srv_log(SRV_LOG_WARN, NULL, "config reload: %s unchanged (errors above)",
                srv_cfg.config_path);
        config_free(&tmp);
        return;
    }
    json_error_t jerr;
    json_t *root = json_load_file(srv_cfg.config_path, 0, &jerr);
    for (size_t i = 0; i < NOPTIONS; i++) {
        const srv_option *o = &srv_options[i];
        char key1[64], key2[64];
        size_t k;
        if (!o->reloadable || !root) continue;
        for (k = 0; o->name[k] && k < 63; k++) {
            key1[k] = o->name[k];
            key2[k] = o->name[k] == '-' ? '_' : o->name[k];
        }
        key1[k] = key2[k] = '\0';
        if (!json_object_get(root, key1) && !json_object_get(root, key2)) continue;
        if (o->type == OPT_INT) atomic_store(opt_aint(&srv_cfg, o), atomic_load(opt_aint(&tmp, o)));
        else if (o->off == F(log_level))   /* strings stay: only level and format apply */
            srv_log_set_level(srv_log_level_parse(*opt_str(&tmp, o)));
        else if (o->off == F(log_format))
            srv_log_set_format(srv_log_format_parse(*opt_str(&tmp, o)));
    }
    json_decref(root);
    config_free(&tmp);
    srv_log(SRV_LOG_INFO, NULL, "config reloaded from %s", srv_cfg.config_path);
}

void srv_config_deinit(void) { config_free(&srv_cfg); }
