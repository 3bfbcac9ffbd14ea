/* calibrate.h: data-based firing thresholds (Rueckauer et al. 2017).
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

#endif
