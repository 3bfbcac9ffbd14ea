/* team.c: the threads one engine run may use for a single batch (the
 * daemon's streaming case is batch 1: without a team one image keeps one
 * core busy). See kteam in net_internal.h.
 *
 * DESIGN: fork-join per kernel call, with the work cut into parts (whole
 * output rows, blocks of neurons or columns, chosen by the kernel) that
 * the caller and the helpers claim one at a time from one atomic word
 * (generation, the first and the last part not yet claimed): the caller
 * from the front, the helpers from the back. Kernels number their parts
 * in memory order (rows, neurons), so with two threads each keeps about
 * the same half of every layer step after step, in its own core's cache
 * (claiming from one end, the parts alternated between the cores and the
 * team ran no faster than one thread), and the meeting point still moves
 * to where the work is. A helper that the scheduler has not run
 * yet (the cores are shared) claims nothing: the caller does the parts
 * itself and never waits for a thread that is not working, only for a
 * part that a helper is running. Jobs are short (a layer's chunk, a
 * frame's gather: microseconds), so helpers spin briefly before they
 * sleep on a condition variable. A part is computed the same way whoever
 * runs it, so the results are the same bit for bit for any team size.
 * Beside the jobs, one side task (kteam_side: the engine's pipeline) is
 * taken by the first helper free, or run by the caller when it waits for
 * it and no helper has started it.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include "../convert/net_internal.h"

#define SPIN_HELPER 20000   /* polls before a helper sleeps */
#define SPIN_MASTER 2000    /* polls between yields of the caller */

struct kteam {
    int nth;
    pthread_t *tids;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* the current job: generation (32 bits), end (16): one past the last
     * part not yet claimed, next (16): the first part not yet claimed */
    _Atomic uint64_t claim;
    int nparts;                 /* of the current job */
    atomic_int done;            /* parts of the current job finished */
    atomic_int sleeping;        /* helpers blocked on cv */
    atomic_int quit;
    kteam_fn fn;
    void *arg;
    /* the side task (kteam_side): SIDE_NONE, _POSTED, _TAKEN or _DONE */
    atomic_int side;
    kteam_fn side_fn;
    void *side_arg;
};

enum { SIDE_NONE, SIDE_POSTED, SIDE_TAKEN, SIDE_DONE };

typedef struct helper_arg {
    kteam *t;
} helper_arg;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* The first (back: the last) unclaimed part of job `gen`, or -1 when it
 * has none left (or is over). */
static int claim_part(kteam *t, uint32_t gen, int back)
{
    uint64_t c = atomic_load(&t->claim);
    for (;;) {
        uint32_t next = (uint32_t)(c & 0xffff), end = (uint32_t)((c >> 16) & 0xffff);
        if ((uint32_t)(c >> 32) != gen || next >= end) return -1;
        uint64_t to = back ? c - ((uint64_t)1 << 16) : c + 1;
        if (atomic_compare_exchange_weak(&t->claim, &c, to)) return (int)(back ? end - 1 : next);
    }
}

/* Run parts of job `gen` until none is left. fn, arg and nparts are read
 * only after a part is claimed: the job cannot end (and be replaced) while
 * one of its parts is unfinished. */
static void work(kteam *t, uint32_t gen, int back)
{
    int part;
    while ((part = claim_part(t, gen, back)) >= 0) {
        t->fn(t->arg, part, t->nparts);
        atomic_fetch_add_explicit(&t->done, 1, memory_order_release);
    }
}

/* Run the side task if it is posted and nobody has taken it. */
static void take_side(kteam *t)
{
    int posted = SIDE_POSTED;
    if (atomic_load(&t->side) != SIDE_POSTED ||
        !atomic_compare_exchange_strong(&t->side, &posted, SIDE_TAKEN))
        return;
    t->side_fn(t->side_arg, 0, 1);
    atomic_store_explicit(&t->side, SIDE_DONE, memory_order_release);
}

static void *helper_main(void *p)
{
    kteam *t = ((helper_arg *)p)->t;
    free(p);
    uint32_t seen = 0; /* the generation at kteam_new: a job may come before we run */
    for (;;) {
        int spins = 0;
        uint32_t g;
        while ((g = (uint32_t)(atomic_load(&t->claim) >> 32)) == seen && !atomic_load(&t->quit)) {
            if (atomic_load(&t->side) == SIDE_POSTED) {
                take_side(t);
                spins = 0;
                continue;
            }
            if (++spins < SPIN_HELPER) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&t->mu);
            atomic_fetch_add(&t->sleeping, 1);
            while ((uint32_t)(atomic_load(&t->claim) >> 32) == seen && !atomic_load(&t->quit) &&
                   atomic_load(&t->side) != SIDE_POSTED)
                pthread_cond_wait(&t->cv, &t->mu);
            atomic_fetch_sub(&t->sleeping, 1);
            pthread_mutex_unlock(&t->mu);
        }
        if (atomic_load(&t->quit)) return NULL;
        /* the side task first: the caller's job can be done without us */
        take_side(t);
        seen = g;
        work(t, g, 1);
    }
}

kteam *kteam_new(int nth)
{
    if (nth < 2 || nth > KTEAM_MAX) return NULL;
    kteam *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->nth = nth;
    if (!(t->tids = calloc((size_t)nth, sizeof *t->tids)) || pthread_mutex_init(&t->mu, NULL)) {
        free(t->tids);
        free(t);
        return NULL;
    }
    pthread_cond_init(&t->cv, NULL);
    for (int i = 1; i < nth; i++) {
        helper_arg *a = malloc(sizeof *a);
        if (a) a->t = t;
        if (!a || pthread_create(&t->tids[i], NULL, helper_main, a)) {
            free(a);
            t->nth = i; /* the helpers started so far */
            kteam_free(t);
            return NULL;
        }
    }
    return t;
}

void kteam_free(kteam *t)
{
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    atomic_store(&t->quit, 1);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    for (int i = 1; i < t->nth; i++) pthread_join(t->tids[i], NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->tids);
    free(t);
}

int kteam_size(const kteam *t) { return t ? t->nth : 1; }

static void wake_helpers(kteam *t)
{
    if (atomic_load(&t->sleeping)) {
        pthread_mutex_lock(&t->mu);
        pthread_cond_broadcast(&t->cv);
        pthread_mutex_unlock(&t->mu);
    }
}

void kteam_side(kteam *t, kteam_fn fn, void *arg)
{
    t->side_fn = fn;
    t->side_arg = arg;
    /* seq_cst: published before the load of sleeping */
    atomic_store(&t->side, SIDE_POSTED);
    wake_helpers(t);
}

void kteam_side_wait(kteam *t)
{
    take_side(t); /* no helper has started it: never wait for one that is not running */
    int spins = 0;
    while (atomic_load_explicit(&t->side, memory_order_acquire) != SIDE_DONE) {
        if (++spins % SPIN_MASTER) cpu_relax();
        else sched_yield();
    }
    atomic_store(&t->side, SIDE_NONE);
}

void kteam_run(kteam *t, kteam_fn fn, void *arg, int nparts)
{
    if (nparts < 1) nparts = 1;
    if (nparts > KTEAM_PARTS) nparts = KTEAM_PARTS;
    if (!t || nparts == 1) {
        for (int i = 0; i < nparts; i++) fn(arg, i, nparts);
        return;
    }
    uint32_t gen = (uint32_t)(atomic_load(&t->claim) >> 32) + 1;
    t->fn = fn;
    t->arg = arg;
    t->nparts = nparts;
    atomic_store(&t->done, 0);
    /* seq_cst: published before the load of sleeping below */
    atomic_store(&t->claim, (uint64_t)gen << 32 | (uint64_t)nparts << 16);
    wake_helpers(t);
    work(t, gen, 0);
    /* every part is claimed: wait for those a helper is still running */
    int spins = 0;
    while (atomic_load_explicit(&t->done, memory_order_acquire) < nparts) {
        if (++spins % SPIN_MASTER) cpu_relax();
        else sched_yield();
    }
}
