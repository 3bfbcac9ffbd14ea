/* convert.h: the parameters of ANN -> SNN conversion (nengo_dl.Converter's
 * equivalent), and their one parser shared by snnctl flags, model config
 * files and per-request overrides in the daemon.
 *
 * DESIGN: a conversion is fully described by snn_convert_params. Its
 * fields are read from text by the conversion rows of the one option table
 * (params.h), wherever they come from ("synapse" "0.005",
 * "scale_firing_rates" "20,conv1=10", "v0" "uniform:7"), so the same
 * validation and the same error text apply to a flag, a config key and a
 * request's override.
 */
#ifndef SNN_CONVERT_H
#define SNN_CONVERT_H

#include <stddef.h>
#include <stdint.h>

#include "snn/error.h"

#define SNN_MAX_LAYER_PARAMS 32
#define SNN_LAYER_NAME_MAX 64

typedef enum {
    SNN_NEURON_SPIKING_RELU,   /* nengo SpikingRectifiedLinear: v += max(J,0) dt */
    SNN_NEURON_RELU,           /* nengo RectifiedLinear: the rate network */
    SNN_NEURON_IF              /* integrate-and-fire on the signed current (Rueckauer 2017,
                                * SpikingJelly IF): v += J dt, floor(v) spikes when v >= 1,
                                * subtracted; inhibition cancels excitation */
} snn_neuron_type;

typedef enum {
    SNN_V0_ZERO,
    SNN_V0_HALF,               /* half the threshold: rounding instead of flooring */
    SNN_V0_UNIFORM             /* Uniform(0,1) drawn with v0_seed, one vector for all images */
} snn_v0_mode;

typedef enum {
    SNN_NORM_NONE,             /* nengo: thresholds 1, gain = scale_firing_rates */
    SNN_NORM_MAX,              /* Diehl 2015 / Rueckauer 2017 data-based, max activation */
    SNN_NORM_PERCENTILE,       /* Rueckauer 2017 robust normalisation */
    SNN_NORM_CEILING           /* a Clip layer's ceiling (ReLU6, QCFS training), data-free;
                                * layers without one take a calibrated threshold */
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
    snn_readout readout;
    snn_maxpool_mode maxpool;
    int bias_correction;       /* 1: add the model's stored per-channel offsets to each
                                * neuron layer's input (snnctl calibrate --bias-correct;
                                * snn_model_config.bias) */
} snn_convert_params;

/* The nengo_dl.Converter defaults: spiking-relu, dt 0.001, synapse none...
 * exactly: neuron spiking-relu, dt 0.001, synapse 0.005, scale 1, v0 zero,
 * normalize none, readout filtered; maxpool gated (nengo has none). */
void snn_convert_params_init(snn_convert_params *p);

/* Set one conversion parameter from its text: the conversion rows of the
 * option table (params.h: neuron, dt, synapse, scale_firing_rates, v0,
 * normalize, thresholds, readout, maxpool; '-' accepted for '_'). Returns
 * SNN_EINVALID with a message naming the key on bad input; other option
 * names (steps, early_exit) are refused here: they are not conversion. */
snn_err snn_convert_params_set(snn_convert_params *p, const char *key,
                               const char *value, snn_error *err);

/* 1 when the two describe the same conversion (the identity of a net). */
int snn_convert_params_equal(const snn_convert_params *a, const snn_convert_params *b);

/* Scale for a layer name (the per-layer value, else the default). */
float snn_convert_params_layer_scale(const snn_convert_params *p,
                                     const char *layer);
/* Calibrated threshold for a layer, or 0 when none is stored. */
float snn_convert_params_layer_threshold(const snn_convert_params *p,
                                         const char *layer);

/* The parameters as "key=value key=value" in the option table's order, each
 * value as snn_convert_params_set reads it back (logs, answers, --json). */
int snn_convert_params_format(const snn_convert_params *p, char *buf,
                              size_t len);

const char *snn_neuron_type_name(snn_neuron_type t);
/* "none", "max", "percentile" (without its P) or "ceiling". */
const char *snn_norm_name(snn_norm_mode m);
/* 1 for the neurons that spike (spiking-relu, if), 0 for rate neurons. */
int snn_neuron_spikes(snn_neuron_type t);

#endif
