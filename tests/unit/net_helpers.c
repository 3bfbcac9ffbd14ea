/* net_helpers.c: see net_helpers.h. */
#include "net_helpers.h"

#include <string.h>

#include "test.h"

snn_net *tnet_new(const snn_model *m, const char *kv[][2], int n)
{
    snn_convert_params p = m->cfg.convert;
    snn_error err = {0};
    for (int i = 0; i < n; i++)
        if (snn_convert_params_set(&p, kv[i][0], kv[i][1], &err)) {
            test_fail(__FILE__, __LINE__, "%s", err.msg);
            return NULL;
        }
    snn_net *net = snn_net_new(m, &p, &err);
    if (!net) test_fail(__FILE__, __LINE__, "%s: net: %s", m->cfg.name, err.msg);
    return net;
}

int tnet_run(const snn_net *net, const float *x, int batch, int steps, int chunk,
             snn_engine_mode mode, snn_result *r)
{
    snn_error err = {0};
    snn_engine *e = snn_engine_new(net, batch, steps, mode, &err);
    if (!e || snn_result_init(r, net, batch, steps, 16)) {
        snn_engine_free(e);
        return -1;
    }
    snn_run_opts o;
    snn_run_opts_init(&o);
    o.steps = steps;
    o.chunk = chunk;
    int rc = snn_engine_run(e, x, batch, &o, r, &err);
    if (rc) test_fail(__FILE__, __LINE__, "run: %s", err.msg);
    snn_engine_free(e);
    return rc;
}

snn_model *tnet_load_fashion_reference(void)
{
    snn_error err = {0};
    snn_model *m = snn_model_load(test_path("models/fashion-mnist"), &err);
    if (!m) {
        test_fail(__FILE__, __LINE__, "load models/fashion-mnist: %s", err.msg);
        return NULL;
    }
    snn_convert_params *p = &m->cfg.convert;
    snn_convert_params_init(p);
    p->scale = 20;
    p->v0 = SNN_V0_UNIFORM;
    p->v0_seed = 0;
    m->cfg.steps = 30;
    memset(&m->cfg.early_exit, 0, sizeof m->cfg.early_exit);
    snn_bias_table_free(m->cfg.bias);
    m->cfg.bias = NULL;
    return m;
}
