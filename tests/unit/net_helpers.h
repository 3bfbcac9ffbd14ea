/* net_helpers.h: test helpers shared by the engine and net unit tests:
 * convert a model with "key=value" overrides, and run a net once. */
#ifndef SNN_TEST_NET_HELPERS_H
#define SNN_TEST_NET_HELPERS_H

#include "snn/engine.h"
#include "snn/model.h"

/* m's conversion with kv[i] = {key, value} set; NULL after a test failure
 * (naming the model). new, caller frees with snn_net_free. */
snn_net *tnet_new(const snn_model *m, const char *kv[][2], int n);
/* One run of `steps` steps (chunk 0 = all) into r, which it initialises
 * (raster capacity 16; caller deinits). Returns the run's status. */
/* models/fashion-mnist with the nengo reference conversion the engine and
 * model tests are written for (spiking-relu, synapse 0.005, scale 20, v0
 * uniform:0, 30 steps, no early exit, no bias correction), whatever
 * conversion it ships calibrated. NULL after a test failure. */
snn_model *tnet_load_fashion_reference(void);
int tnet_run(const snn_net *net, const float *x, int batch, int steps, int chunk,
             snn_engine_mode mode, snn_result *r);

#endif
