/* snnbench.c: the engine-side measurements of `make bench` (tools/bench.sh)
 * that `snnctl eval` does not make. Built by make as build/snnbench; timing
 * lives only here and in the bench scripts, never in tests.
 *
 *   build/snnbench kernel [--threads N] [--ms MS] [--clock cpu]
 *       the practical peak of the event-driven convolution (the inner loop
 *       of the engine: kop_apply_fast on a sparse spike frame, the gather
 *       path) on this machine, in synaptic events per second, with N
 *       threads each running its own frames (the cores' aggregate).
 *       --clock cpu divides by each thread's CPU time instead of the wall
 *       clock (A/B comparisons of kernels on a shared machine).
 *   build/snnbench stream MODEL --dataset SPEC [--images N] [--threads N] [--set KEY=VALUE ...]
 *       [--rounds R] [--profile chunked|streamed|team]
 *       [--steps S] [--chunk C]
 *       the same images run chunked (batch 16, the engine's default chunk
 *       as `snnctl eval` runs them, or C steps per chunk) and streamed (batch 1, chunk 1: one step
 *       at a time, the daemon's streaming case), N threads each with its
 *       own engine, and streamed by one engine with N threads (one image
 *       keeps N cores busy: snn_engine_set_threads), whose probabilities
 *       of every step must equal the 1-thread stream's bit for bit (exit 2
 *       otherwise). Chunked and streamed agree bit for bit when every frame
 *       takes the event-driven path; a run of dense frames goes through one
 *       GEMM whose rounding may depend on its row count (reported as
 *       identical_chunked_streamed). Also the synaptic events per image.
 *       --profile WAY runs only that way, once, and prints its images/s
 *       (for perf record).
 *
 * Both print one JSON object on stdout.
 *
 * DESIGN: the kernel benchmark counts a synaptic event as each non-zero
 * input of the frame times the kernel taps that reach an output inside the
 * frame times the output channels: the multiply-adds a non-zero input costs
 * the gather. stream reports the engine's count in the same unit
 * (applied_events_per_image, snn_layer_stats.syn_applied: each non-zero
 * input element of a conv or dense op, after a fused pool the pooled value,
 * times its mean in-frame fan-out, the image's dense pass included), and
 * the energy model's count beside it (syn_events_per_image: each layer's
 * spikes times the MACs of the ops its frames reach / its neurons, plus the
 * dense pass; through a 2x2 pool that is a quarter of the fan-out the
 * kernels apply per pooled non-zero). The kernel is the engine's own
 * (net_internal.h), not a copy.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../src/convert/net_internal.h"
#include "snn/dataset.h"
#include "snn/engine.h"
#include "snn/model.h"
#include "snn/params.h"

static clockid_t kclock = CLOCK_MONOTONIC; /* kernel --clock cpu: the thread's CPU time */

static double clock_now(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void) { return clock_now(CLOCK_MONOTONIC); }


static void die(const char *msg)
{
    fprintf(stderr, "snnbench: %s\n", msg);
    exit(1);
}

/* ---- kernel peak ---- */

#define KFRAMES 8

typedef struct kgeom {
    const char *name;
    int h, w, cin, cout;        /* 3x3, stride 1, pad 1 */
} kgeom;

/* The seed's two gathered convolutions (their inputs after the 2x2 pool). */
static const kgeom kgeoms[] = {
    {"conv 3x3 32->64 on 16x16", 16, 16, 32, 64},
    {"conv 3x3 64->128 on 8x8", 8, 8, 64, 128},
};

typedef struct kjob {
    const kop *op;
    const float *in;            /* [KFRAMES x frame] */
    double ms;
    double events_per_frame;
    double events;              /* out: events applied */
    double seconds;             /* out */
    pthread_t tid;
} kjob;

static void *kernel_main(void *arg)
{
    kjob *j = arg;
    const kop *op = j->op;
    float *out = malloc(sizeof(float) * (size_t)(KFRAMES * kshape_size(&op->out)));
    float *scratch = malloc(sizeof(float) * (size_t)kop_scratch_floats(op, KFRAMES));
    if (!out || !scratch) die("out of memory");
    const float *in[KOP_MAX_IN] = {j->in};
    long reps = 0;
    double t0 = clock_now(kclock), t;
    do {
        for (int i = 0; i < 16; i++) kop_apply_fast(op, in, out, KFRAMES, scratch);
        reps += 16;
    } while ((t = clock_now(kclock)) - t0 < j->ms * 1e-3);
    j->seconds = t - t0;
    j->events = (double)reps * KFRAMES * j->events_per_frame;
    free(out);
    free(scratch);
    return NULL;
}

/* Events per second of one geometry at `density`, `nth` threads. */
static double kernel_rate(const kgeom *g, double density, int nth, double ms)
{
    kop op;
    memset(&op, 0, sizeof op);
    op.kind = KOP_CONV;
    op.in = (kshape){g->cin, g->h, g->w, 1};
    op.out = (kshape){g->cout, g->h, g->w, 1};
    op.nin = 1;
    op.src[0] = -1;
    op.kh = op.kw = 3;
    op.sh = op.sw = op.dh = op.dw = 1;
    op.pt = op.pl = op.pb = op.pr = 1;
    op.group = 1;
    op.state = -1;
    op.nweights = 9LL * g->cin * g->cout;
    op.macs = op.nweights * g->h * g->w;
    const int64_t isz = kshape_size(&op.in);
    op.w = malloc(sizeof(float) * (size_t)op.nweights);
    float *in = calloc((size_t)(KFRAMES * isz), sizeof(float));
    if (!op.w || !in) die("out of memory");
    uint64_t s = 42;
    for (int64_t i = 0; i < op.nweights; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        op.w[i] = (float)((s >> 40) & 0xffff) / 65536.0f - 0.5f;
    }
    /* spikes of height 1/dt at random positions; events counted per frame */
    double events = 0;
    for (int f = 0; f < KFRAMES; f++)
        for (int y = 0; y < g->h; y++)
            for (int x = 0; x < g->w; x++)
                for (int c = 0; c < g->cin; c++) {
                    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                    if ((double)(s >> 11) / 9007199254740992.0 >= density) continue;
                    in[f * isz + ((int64_t)y * g->w + x) * g->cin + c] = 1000.0f;
                    int taps = 0;
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++)
                            taps += y + dy >= 0 && y + dy < g->h && x + dx >= 0 && x + dx < g->w;
                    events += (double)taps * g->cout;
                }
    kjob *jobs = calloc((size_t)nth, sizeof *jobs);
    if (!jobs) die("out of memory");
    for (int t = 0; t < nth; t++) {
        jobs[t] = (kjob){.op = &op, .in = in, .ms = ms, .events_per_frame = events / KFRAMES};
        if (pthread_create(&jobs[t].tid, NULL, kernel_main, &jobs[t])) die("pthread_create");
    }
    double rate = 0;
    for (int t = 0; t < nth; t++) {
        pthread_join(jobs[t].tid, NULL);
        rate += jobs[t].events / jobs[t].seconds;
    }
    free(jobs);
    free(in);
    free(op.w);
    return rate;
}

static int cmd_kernel(int argc, char **argv)
{
    int nth = 2;
    double ms = 500;
    for (int i = 0; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--threads")) nth = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--ms")) ms = atof(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--clock") && !strcmp(argv[i + 1], "cpu")) {
            kclock = CLOCK_THREAD_CPUTIME_ID;
            i++;
        } else {
            die("usage: snnbench kernel [--threads N] [--ms MS] [--clock cpu]");
        }
    }
    if (nth < 1 || nth > 256 || !(ms > 0)) die("bad --threads or --ms");
    snn_blas_threads(1);
    static const double dens[] = {0.02, 0.05, 0.10};
    const int ng = (int)(sizeof kgeoms / sizeof kgeoms[0]), nd = (int)(sizeof dens / sizeof dens[0]);
    double best = 0, best1 = 0;
    printf("{\n  \"unit\": \"synaptic events per second\",\n  \"kernels\": \"%s\",\n  \"threads\": %d,\n"
           "  \"runs\": [\n",
           snn_kernels_describe(), nth);
    for (int g = 0; g < ng; g++)
        for (int d = 0; d < nd; d++) {
            double r1 = kernel_rate(&kgeoms[g], dens[d], 1, ms);
            double rn = nth > 1 ? kernel_rate(&kgeoms[g], dens[d], nth, ms) : r1;
            if (r1 > best1) best1 = r1;
            if (rn > best) best = rn;
            printf("    {\"kernel\": \"%s\", \"density\": %.2f, \"one_thread\": %.4g, "
                   "\"threads\": %.4g}%s\n",
                   kgeoms[g].name, dens[d], r1, rn, g == ng - 1 && d == nd - 1 ? "" : ",");
        }
    printf("  ],\n  \"peak_one_thread\": %.4g,\n  \"peak\": %.4g\n}\n", best1, best);
    return 0;
}

/* ---- chunked against streamed ---- */

#define CHUNKED_BATCH 16

typedef struct sjob {
    const snn_net *net;
    const float *inputs;
    int lo, hi, batch, chunk, steps;
    int team;                   /* threads of its engine (snn_engine_set_threads) */
    int *pred;                  /* [images] */
    float *probs;               /* [images x steps x classes] */
    double syn_events;          /* out: spikes x fan-out, all its images */
    double syn_applied;         /* out: events the kernels applied, all its images */
    pthread_t tid;
    int failed;
} sjob;

static void *stream_main(void *arg)
{
    sjob *j = arg;
    snn_error err = {0};
    const size_t isz = snn_net_input_size(j->net);
    snn_engine *e = snn_engine_new(j->net, j->batch, j->steps, SNN_ENGINE_FAST, &err);
    snn_result res;
    if (!e || snn_result_init(&res, j->net, j->batch, j->steps, 0) ||
        snn_engine_set_threads(e, j->team, &err)) {
        snn_engine_free(e);
        j->failed = 1;
        return NULL;
    }
    snn_run_opts o;
    snn_run_opts_init(&o);
    o.steps = j->steps;
    o.chunk = j->chunk;
    const int L = snn_net_nlayers(j->net);
    for (int i = j->lo; i < j->hi; i += j->batch) {
        int b = j->hi - i < j->batch ? j->hi - i : j->batch;
        if (snn_engine_run(e, j->inputs + (size_t)i * isz, b, &o, &res, &err)) {
            j->failed = 1;
            break;
        }
        const int C = snn_net_nclasses(j->net);
        for (int k = 0; k < b; k++) {
            j->pred[i + k] = res.pred[k];
            for (int t = 0; t < j->steps; t++)
                memcpy(j->probs + ((size_t)(i + k) * j->steps + t) * C, snn_result_probs(&res, t, k),
                       sizeof(float) * (size_t)C);
        }
        for (int l = 0; l < L; l++) {
            j->syn_events += res.layers[l].syn_events;
            j->syn_applied += res.layers[l].syn_applied;
        }
    }
    snn_result_deinit(&res);
    snn_engine_free(e);
    return NULL;
}

/* images/s of n images, `nth` engines of `team` threads each, at (batch,
 * chunk); pred and probs filled; ev[0] the spikes x fan-out, ev[1] the
 * events the kernels applied (snn_layer_stats), all images. */
static double stream_run(const snn_net *net, const float *inputs, int n, int nth, int team,
                         int batch, int chunk, int steps, int *pred, float *probs, double ev[2])
{
    sjob *js = calloc((size_t)nth, sizeof *js);
    if (!js) die("out of memory");
    double t0 = now();
    for (int t = 0; t < nth; t++) {
        js[t] = (sjob){.net = net, .inputs = inputs, .lo = (int)((int64_t)n * t / nth),
                       .hi = (int)((int64_t)n * (t + 1) / nth), .batch = batch, .chunk = chunk,
                       .steps = steps, .team = team, .pred = pred, .probs = probs};
        if (pthread_create(&js[t].tid, NULL, stream_main, &js[t])) die("pthread_create");
    }
    int failed = 0;
    ev[0] = ev[1] = 0;
    for (int t = 0; t < nth; t++) {
        pthread_join(js[t].tid, NULL);
        failed |= js[t].failed;
        ev[0] += js[t].syn_events;
        ev[1] += js[t].syn_applied;
    }
    double dt = now() - t0;
    free(js);
    if (failed) die("engine run failed");
    return n / dt;
}

static int cmd_stream(int argc, char **argv)
{
    const char *model = NULL, *spec = NULL;
    int n = 200, nth = 2, steps = 0, chunk = 0, nset = 0, rounds = 3;
    const char *profile = NULL; /* chunked|streamed|team: run that way only, once (for perf) */
    int same_team = 1;
    const char *sets[32];   /* run options over the model's config: KEY=VALUE */
    for (int i = 0; i < argc; i++) {
        if (i + 1 < argc && !strcmp(argv[i], "--dataset")) spec = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--chunk")) chunk = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--images")) n = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--threads")) nth = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--rounds")) rounds = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--profile")) profile = argv[++i];
        else if (i + 1 < argc && !strcmp(argv[i], "--steps")) steps = atoi(argv[++i]);
        else if (i + 1 < argc && !strcmp(argv[i], "--set")) {
            if (nset < (int)(sizeof sets / sizeof sets[0])) sets[nset++] = argv[++i];
            else die("too many --set");
        } else if (argv[i][0] != '-' && !model) model = argv[i];
        else die("usage: snnbench stream MODEL --dataset SPEC [--images N] [--threads N] [--steps S] "
                "[--chunk C] [--rounds R] [--set KEY=VALUE ...]");
    }
    if (!model || !spec || n < 1 || nth < 1 || nth > 256 || steps < 0 || chunk < 0 || rounds < 1 ||
        rounds > 100)
        die("bad arguments");
    snn_error err = {0};
    snn_model *m = snn_model_load(model, &err);
    if (!m) die(err.msg);
    snn_run_params rp;
    snn_run_params_from_model(&rp, &m->cfg);
    for (int k = 0; k < nset; k++) {
        char key[64];
        const char *eq = strchr(sets[k], '=');
        if (!eq || eq == sets[k] || (size_t)(eq - sets[k]) >= sizeof key) die("--set wants KEY=VALUE");
        memcpy(key, sets[k], (size_t)(eq - sets[k]));
        key[eq - sets[k]] = '\0';
        if (snn_params_set(&rp, key, eq + 1, &err)) die(err.msg);
    }
    if (!steps) steps = rp.steps;
    snn_net *net = snn_net_new(m, &rp.convert, &err);
    if (!net) die(err.msg);
    snn_dataset *d = snn_dataset_open(spec, "test", 0, n, &err);
    if (!d) die(err.msg);
    n = d->n;
    const size_t isz = snn_net_input_size(net);
    float *inputs = malloc(sizeof(float) * isz * (size_t)n);
    const size_t np = (size_t)n * steps * snn_net_nclasses(net);
    int *pc = malloc(sizeof(int) * (size_t)n), *ps = malloc(sizeof(int) * (size_t)n);
    int *pt = malloc(sizeof(int) * (size_t)n);
    float *qc = malloc(sizeof(float) * np), *qs = malloc(sizeof(float) * np);
    float *qt = malloc(sizeof(float) * np);
    if (!inputs || !pc || !ps || !pt || !qc || !qs || !qt) die("out of memory");
    for (int i = 0; i < n; i++)
        if (snn_model_preprocess(m, snn_dataset_image(d, i), d->width, d->height, d->channels, 0,
                                 inputs + (size_t)i * isz, &err))
            die(err.msg);
    snn_blas_threads(1);
    if (profile) {
        double ev[2], ips;
        if (!strcmp(profile, "chunked"))
            ips = stream_run(net, inputs, n, nth, 1, CHUNKED_BATCH, chunk, steps, pc, qc, ev);
        else if (!strcmp(profile, "streamed"))
            ips = stream_run(net, inputs, n, nth, 1, 1, 1, steps, ps, qs, ev);
        else if (!strcmp(profile, "team"))
            ips = stream_run(net, inputs, n, 1, nth, 1, 1, steps, pt, qt, ev);
        else
            die("--profile wants chunked, streamed or team");
        printf("{\"%s_images_per_second\": %.4g}\n", profile, ips);
        rounds = 0;
    }
    /* the three ways in turn, `rounds` times, each keeping its best: a
     * noisy neighbour slows single runs, not the best of several */
    double ev_c[2], ev_s[2], ev_t[2], chunked = 0, streamed = 0, team = 0;
    for (int r = 0; r < rounds; r++) {
        double c = stream_run(net, inputs, n, nth, 1, CHUNKED_BATCH, chunk, steps, pc, qc, ev_c);
        double s1 = stream_run(net, inputs, n, nth, 1, 1, 1, steps, ps, qs, ev_s);
        double t = stream_run(net, inputs, n, 1, nth, 1, 1, steps, pt, qt, ev_t);
        chunked = c > chunked ? c : chunked;
        streamed = s1 > streamed ? s1 : streamed;
        team = t > team ? t : team;
    }
    if (profile) goto out;
    int same = 0;
    for (int i = 0; i < n; i++) same += pc[i] == ps[i] && pc[i] == pt[i];
    /* every probability of every step, bit for bit */
    int same_chunk = !memcmp(qc, qs, sizeof(float) * np);
    same_team = !memcmp(qs, qt, sizeof(float) * np);
    if (!same_team) fprintf(stderr, "snnbench: 1 and %d engine threads give different probabilities\n", nth);
    /* the dense pass: stages that read only the image */
    double dense = 0;
    for (int l = 1; l < snn_net_nlayers(net); l++) {
        const snn_layer_info *li = snn_net_layer(net, l);
        if (!strcmp(li->inputs, "input")) dense += (double)li->macs;
    }
    double ev = ev_c[0] / n + dense, applied = ev_c[1] / n;
    printf("{\n  \"model\": \"%s\",\n  \"images\": %d,\n  \"steps\": %d,\n  \"threads\": %d,\n"
           "  \"rounds\": %d,\n",
           model, n, steps, nth, rounds);
    printf("  \"chunked_images_per_second\": %.4g,\n  \"streamed_images_per_second\": %.4g,\n",
           chunked, streamed);
    printf("  \"stream_ratio\": %.3f,\n", streamed / chunked);
    printf("  \"team_images_per_second\": %.4g,\n  \"team_ratio\": %.3f,\n", team, team / chunked);
    printf("  \"same_predictions\": %d,\n", same);
    printf("  \"identical_chunked_streamed\": %s,\n  \"identical_team_streamed\": %s,\n",
           same_chunk ? "true" : "false", same_team ? "true" : "false");
    printf("  \"syn_events_per_image\": %.6g,\n  \"dense_pass_macs_per_image\": %.6g,\n", ev,
           dense);
    printf("  \"applied_events_per_image\": %.6g\n}\n", applied);
out:
    free(inputs);
    free(pc);
    free(ps);
    free(pt);
    free(qc);
    free(qs);
    free(qt);
    snn_dataset_free(d);
    snn_net_free(net);
    snn_model_free(m);
    return same_team ? 0 : 2;
}

int main(int argc, char **argv)
{
    snn_blas_core_fix(argv); /* first: it may re-run the program */
    if (argc >= 2 && !strcmp(argv[1], "kernel")) return cmd_kernel(argc - 2, argv + 2);
    if (argc >= 2 && !strcmp(argv[1], "stream")) return cmd_stream(argc - 2, argv + 2);
    fprintf(stderr, "usage: snnbench kernel|stream ... (see tools/bench/snnbench.c)\n");
    return 1;
}
