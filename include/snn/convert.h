/* convert.h: the parameters of ANN -> SNN conversion (nengo_dl.Converter's
 * equivalent), and their one parser shared by snnctl flags, model config
 * files and per-request overrides in the daemon.
 *
 * DESIGN: a conversion is fully described by snn_convert_params. Keys and
 * values are strings everywhere they come from outside ("synapse" "0.005",
 * "scale_firing_rates" "20,conv1=10", "v0" "uniform:7"), so the same
 * validation and the same error text apply to a flag, a config key and a
 * JSON override.
 */
#ifndef SNN_CONVERT_H
#define SNN_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "snn/error.h"

#define SNN_MAX_LAYER_PARAMS 32
#define SNN_LAYER_NAME_MAX 64

typedef enum {
    SNN_NEURON_SPIKING_RELU,   /* nengo SpikingRectifiedLinear */
    SNN_NEURON_RELU            /* nengo RectifiedLinear: the rate network */
} snn_neuron_type;

typedef enum {
    SNN_V0_ZERO,
    SNN_V0_HALF,               /* half the threshold: rounding instead of flooring */
    SNN_V0_UNIFORM             /* Uniform(0,1) drawn with v0_seed, one vector for all images */
} snn_v0_mode;

typedef enum {
    SNN_NORM_NONE,             /* nengo: thresholds 1, gain = scale_firing_rates */
    SNN_NORM_MAX,              /* Diehl 2015 / Rueckauer 2017 data-based, max activation */
    SNN_NORM_PERCENTILE        /* Rueckauer 2017 robust normalisation */
} snn_norm_mode;

typedef enum {
    SNN_READOUT_FILTERED,      /* nengo: softmax of the filtered output each step */
    SNN_READOUT_MEAN           /* non-spiking output accumulating its input: mean so far */
} snn_readout;

typedef enum {
    SNN_MAXPOOL_GATED,         /* spiking max-pool: the most active input so far passes */
    SNN_MAXPOOL_AVG            /* nengo_dl max_to_avg_pool: AveragePool (another function) */
} snn_maxpool_mode;

typedef struct snn_layer_value {
    char layer[SNN_LAYER_NAME_MAX];   /* layer name, or "" for the default */
    float value;
} snn_layer_value;

typedef struct snn_convert_params {
    snn_neuron_type neuron;
    double dt;                 /* seconds per step, default 0.001 */
    double synapse;            /* lowpass tau in seconds; <= 0 means none */
    float scale;               /* scale_firing_rates for layers not named */
    int nlayer_scale;
    snn_layer_value layer_scale[SNN_MAX_LAYER_PARAMS];
    snn_v0_mode v0;
    uint64_t v0_seed;
    snn_norm_mode normalize;
    float percentile;          /* for SNN_NORM_PERCENTILE, e.g. 99.9 */
    int nthresholds;           /* calibrated per-layer activation scales */
    snn_layer_value thresholds[SNN_MAX_LAYER_PARAMS];
    int bias_correction;       /* Li et al. 2021 light calibration applied */
    int nbias_corr;            /* per layer offsets live in the model; count only */
    snn_readout readout;
    snn_maxpool_mode maxpool;
} snn_convert_params;

/* The nengo_dl.Converter defaults: spiking-relu, dt 0.001, synapse none...
 * exactly: neuron spiking-relu, dt 0.001, synapse 0.005, scale 1, v0 zero,
 * normalize none, readout filtered; maxpool gated (nengo has none). */
void snn_convert_params_init(snn_convert_params *p);

/* Set one parameter from its string form. Keys (also accepted with '-'):
 *   neuron            spiking-relu | relu
 *   dt                seconds (0 < dt <= 1)
 *   synapse           seconds | none
 *   scale_firing_rates  X | X,layer=X,... | layer=X,...
 *   v0                zero | half | uniform:SEED
 *   normalize         none | max | percentile:P
 *   readout           filtered | mean
 *   maxpool           gated | avg   (also max_pool; avg = nengo's
 *                     max_to_avg_pool, reported by snn_net_note)
 * Returns SNN_EINVALID with a message naming the key on bad input. */
snn_err snn_convert_params_set(snn_convert_params *p, const char *key,
                               const char *value, snn_error *err);

/* Set one parameter as an override of a calibrated conversion (a request
 * on a model's params): snn_convert_params_set plus the rule of calibrated
 * thresholds, which hold for the normalize mode they were calibrated with
 * only. normalize=max or percentile:P other than that mode is SNN_EINVALID
 * (it could not apply); normalize=none drops the thresholds (unused). p is
 * unchanged on error. */
snn_err snn_convert_params_override(snn_convert_params *p, const char *key,
                                    const char *value, snn_error *err);

/* Scale for a layer name (the per-layer value, else the default). */
float snn_convert_params_layer_scale(const snn_convert_params *p,
                                     const char *layer);
/* Calibrated threshold for a layer, or 0 when none is stored. */
float snn_convert_params_layer_threshold(const snn_convert_params *p,
                                         const char *layer);

/* Print the parameters as "key=value key=value" (for logs and --json). */
int snn_convert_params_format(const snn_convert_params *p, char *buf,
                              size_t len);

const char *snn_neuron_type_name(snn_neuron_type t);

#endif
