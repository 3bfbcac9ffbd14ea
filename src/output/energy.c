/* energy.c: per-image energy estimates from the keras_spiking.ModelEnergy
 * device table (docs/nengo-semantics.md), using measured spike counts.
 *
 * Counting (per image): the ANN pays one synaptic op per connection (the
 * MACs of every Conv/Dense) and one update per non-linear unit. The SNN on
 * a spiking device pays one synaptic op per delivered spike (spikes x
 * fan-out, measured) plus one neuron update per neuron per step; the first
 * stage's input current is computed once per image (the image is constant),
 * so it counts as its MACs once. On a non-spiking device the SNN pays every
 * connection every step (a dense time-stepped simulation).
 */
#include "snn/energy.h"

#include <string.h>

#include "../convert/net_internal.h"

static const snn_device devices[] = {
    {"cpu", 0, 8.6e-9, 8.6e-9},
    {"gpu", 0, 0.3e-9, 0.3e-9},
    {"arm", 0, 0.9e-9, 0.9e-9},
    {"loihi", 1, 27.1e-12, 81e-12},
    {"spinnaker", 1, 13.3e-9, 26e-9},
    {"spinnaker2", 1, 450e-12, 2.19e-9},
};

int snn_energy_ndevices(void) { return (int)(sizeof devices / sizeof devices[0]); }

const snn_device *snn_energy_device(int i)
{
    return i >= 0 && i < snn_energy_ndevices() ? &devices[i] : NULL;
}

const snn_device *snn_energy_device_find(const char *name)
{
    for (int i = 0; i < snn_energy_ndevices(); i++)
        if (!strcmp(devices[i].name, name)) return &devices[i];
    return NULL;
}

static double neuron_units(const snn_net *n)
{
    double u = 0;
    for (int l = 0; l < n->nlayers; l++)
        if (n->layers[l].info.kind == SNN_LAYER_NEURONS) u += (double)n->layers[l].info.neurons;
    return u;
}

static double total_macs(const snn_net *n)
{
    double m = 0;
    for (int s = 0; s < n->nstages; s++) m += (double)n->stages[s].macs;
    return m;
}

void snn_energy_ann(const snn_net *n, const snn_device *d, snn_energy *out)
{
    out->device = d;
    out->synops = total_macs(n);
    out->neuron_updates = neuron_units(n);
    out->joules = out->synops * d->j_per_synop + out->neuron_updates * d->j_per_neuron;
}

void snn_energy_snn_image(const snn_net *n, const snn_result *r, int image, const snn_device *d,
                          snn_energy *out)
{
    double steps = r->stop_step[image] > 0 ? r->stop_step[image] : r->steps;
    out->device = d;
    out->neuron_updates = neuron_units(n) * steps;
    if (d->spiking) {
        double ev = 0;
        for (int l = 1; l < r->nlayers; l++) {
            double neurons = (double)n->layers[l].info.neurons;
            if (neurons > 0)
                ev += r->layers[l].spikes_by_image[image] * (double)n->layers[l].info.fanout_total / neurons;
        }
        out->synops = (double)n->stages[0].macs + ev;
    } else {
        out->synops = total_macs(n) * steps;
    }
    out->joules = out->synops * d->j_per_synop + out->neuron_updates * d->j_per_neuron;
}

void snn_energy_snn(const snn_net *n, const snn_result *r, int nimages, const snn_device *d,
                    snn_energy *out)
{
    double steps = r->steps > 0 ? r->steps : 0;
    double img = nimages > 0 ? nimages : 1;
    out->device = d;
    out->neuron_updates = neuron_units(n) * steps;
    if (d->spiking) {
        double ev = 0;
        for (int l = 1; l < r->nlayers; l++) ev += r->layers[l].syn_events;
        out->synops = (double)n->stages[0].macs + ev / img;
    } else {
        out->synops = total_macs(n) * steps;
    }
    out->joules = out->synops * d->j_per_synop + out->neuron_updates * d->j_per_neuron;
}
