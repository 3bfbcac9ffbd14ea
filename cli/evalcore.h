/* evalcore.h: private to snnctl. Running a converted network over many
 * images on several threads and accumulating what eval and sweep report. */
#ifndef SNNCTL_EVALCORE_H
#define SNNCTL_EVALCORE_H

#include <stdint.h>

#include "snn/dataset.h"
#include "snn/energy.h"
#include "snn/engine.h"

typedef struct eval_acc {
    int n, steps, nlayers, nclasses;
    int64_t *correct_by_step;   /* [steps] */
    int64_t correct;            /* prediction at the stop step (early exit / mean of last K) */
    double steps_used;          /* sum over images of steps simulated */
    double *spikes_by_step;     /* [nlayers x steps], all images */
    double *fired;              /* [nlayers] neurons that fired, summed over images */
    double *applied;            /* [nlayers] synaptic events the kernels applied
                                 * (snn_layer_stats.syn_applied), summed over images */
    float *dump;                /* optional [steps x n x classes] */
    double seconds;             /* wall time of the simulation */
} eval_acc;

/* A dataset window preprocessed for a model. */
typedef struct eval_data {
    snn_dataset *ds;
    float *inputs;              /* ds->n x snn_model_input_size floats */
} eval_data;

/* Open SPEC's split from offset (limit 0 = to the end), refuse a dataset of
 * another task, preprocess. Prints and returns -1 on error; d needs
 * eval_data_free either way. */
int eval_data_load(const snn_model *m, const char *spec, const char *split, int offset, int limit,
                   float input_scale, eval_data *d);
void eval_data_free(eval_data *d);

int eval_acc_init(eval_acc *a, const snn_net *net, int n, int steps, int want_dump);
void eval_acc_deinit(eval_acc *a);

/* Simulate n inputs (preprocessed) with labels; progress on stderr when
 * it is a terminal and `progress` is set. Returns 0 or prints and -1. */
int eval_snn(const snn_net *net, const float *inputs, const uint8_t *labels, int n,
             const snn_run_opts *ro, int threads, int progress, eval_acc *acc);
/* ANN accuracy (graph forward pass) on n inputs, threads workers. -1 on error. */
double eval_ann(const snn_model *m, const float *inputs, const uint8_t *labels, int n,
                int threads, double *seconds);
/* Energy per image on device d after `steps` steps, from the accumulated spikes. */
void eval_energy(const snn_net *net, const eval_acc *a, int steps, const snn_device *d,
                 snn_energy *out);
double eval_spikes_per_image(const eval_acc *a, int layer, int steps);

/* ---- one setting of a grid (sweep, calibrate --target) ---- */
#define EVAL_MAX_DEVICES 16

typedef struct eval_point {
    int steps;                  /* steps it may run */
    int early;                  /* early exit on: figures at each image's stop */
    double accuracy, mean_steps, spikes;
    int ndevices;               /* snn_energy_device(i) order */
    double snn_j[EVAL_MAX_DEVICES], ann_j[EVAL_MAX_DEVICES];
    double loihi_j, ann_loihi_j;
    double images_per_second;
    int pareto;                 /* no other point beats it on accuracy, steps and loihi energy */
} eval_point;

/* The figures of a run accumulated in a (eval_snn) read at T steps: the
 * accuracy at step T, or with `early` at each image's stop, whose mean step
 * count also scales the per-step energy terms. */
void eval_point_fill(eval_point *pt, const snn_net *net, const eval_acc *a, int T, int early);
/* Mark the points no other point beats: at least as accurate, no more mean
 * steps and no more loihi energy, better in one. */
void eval_pareto(eval_point *pts, int n);

#endif
