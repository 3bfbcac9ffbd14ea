/* calibrate.h: data-based firing thresholds (Rueckauer et al. 2017) and
 * bias correction (Li et al. 2021, "light calibration").
 *
 * Runs the ANN on calibration images, collects every ReLU layer's positive
 * activations and stores, per neuron layer, the maximum or the P-th
 * percentile as that layer's threshold in the conversion parameters
 * (thresholds[] by layer name). With normalize=max|percentile, the
 * converter then sets each layer's gain so that an activation equal to the
 * threshold fires `scale_firing_rates` spikes per step.
 */
#ifndef SNN_CALIBRATE_H
#define SNN_CALIBRATE_H

#include "snn/convert.h"
#include "snn/model.h"

/* `inputs`: n preprocessed images (n x snn_model_input_size floats).
 * Uses p->normalize and p->percentile (max when normalize is none) and
 * writes p->thresholds. */
snn_err snn_calibrate(const snn_model *m, const float *inputs, int n, snn_convert_params *p,
                      snn_error *err);

/* Bias correction of the conversion p at `steps` steps, measured on n
 * preprocessed images (spiking neurons only). Layer by layer in
 * topological order, each neuron layer's per-channel mean output (spikes
 * times the activation a spike carries, over images, steps and positions)
 * is compared with the ANN's mean activation of that channel, and the
 * difference is added to the layer's input as an offset, before the next
 * layer is measured with it in place (the next layer sees the corrected
 * one). The offsets are in activation units (J = gain * (x + bias +
 * offset)), recorded with steps, n and p's text. p->bias_correction is
 * ignored: the table is measured from the uncorrected net. `gap`, when
 * not NULL, receives per neuron layer in net order (at most
 * SNN_MAX_LAYER_PARAMS) the channels' mean |ANN - SNN| before that layer
 * was corrected. *out: new, caller frees with snn_bias_table_free. */
snn_err snn_calibrate_bias(const snn_model *m, const float *inputs, int n, const snn_convert_params *p,
                           int steps, snn_bias_table **out, double *gap, snn_error *err);

/* Per neuron layer (net order), the channels' mean |ANN mean activation -
 * SNN mean output| of the conversion p as it is (with the model's bias
 * correction when p->bias_correction), on n images at `steps` steps: what
 * snn_calibrate_bias reduces. Returns the number of layers written to gap
 * (at most max) or -1 with err set. */
int snn_calibrate_bias_gap(const snn_model *m, const float *inputs, int n, const snn_convert_params *p,
                           int steps, double *gap, int max, snn_error *err);

#endif
