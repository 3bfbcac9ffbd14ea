/* energy.h: per-image energy estimates for spiking and non-spiking devices.
 *
 * DESIGN: the device table of keras_spiking.ModelEnergy (documented in
 * docs/nengo-semantics.md): joules per synaptic operation and per neuron
 * update. A spiking device pays per synaptic event (measured spike counts
 * times fan-out) and per neuron update per step; a non-spiking device pays
 * one op per connection (the ANN's MACs) and one neuron update per unit.
 */
#ifndef SNN_ENERGY_H
#define SNN_ENERGY_H

#include "snn/engine.h"

typedef struct snn_device {
    const char *name;
    int spiking;
    double j_per_synop;
    double j_per_neuron;
} snn_device;

int snn_energy_ndevices(void);
const snn_device *snn_energy_device(int i);
const snn_device *snn_energy_device_find(const char *name);  /* NULL if unknown */

typedef struct snn_energy {
    const snn_device *device;
    double synops;          /* per image: synaptic events (SNN) or MACs (ANN) */
    double neuron_updates;  /* per image */
    double joules;          /* per image */
} snn_energy;

/* The spiking run's cost per image on device d, from measured stats
 * (nimages images of `steps` steps). On a non-spiking device the SNN still
 * pays every connection every step (synops = MACs x steps). */
void snn_energy_snn(const snn_net *n, const snn_result *r, int nimages,
                    const snn_device *d, snn_energy *out);
/* The same for one image of the run (a batch item), from its own spikes and
 * its own step count (early exit stops images at different steps). */
void snn_energy_snn_image(const snn_net *n, const snn_result *r, int image,
                          const snn_device *d, snn_energy *out);
/* The ANN's cost per image on device d: MACs plus one update per neuron. */
void snn_energy_ann(const snn_net *n, const snn_device *d, snn_energy *out);

#endif
