/* fuzz_model_config.c: config.json of a model directory
 * (snn_model_config_parse) without a graph and against a fixed small graph
 * (tests/data/tiny), then dumped and parsed back. */
#include <stdint.h>

#include "fuzz_common.h"
#include "snn/model.h"

static snn_model *tiny;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    snn_error err;
    (void)argc;
    (void)argv;
    tiny = snn_model_load(fz_path("tests/data/tiny"), &err);
    if (!tiny) {
        fprintf(stderr, "fuzz_model_config: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snn_model_config cfg;
    snn_error err;
    const char *json = (const char *)data;
    for (int pass = 0; pass < 2; pass++) {
        memset(&cfg, 0, sizeof cfg);
        if (snn_model_config_parse(&cfg, json, size, pass ? tiny->graph : NULL, &err) != SNN_OK) {
            snn_model_config_deinit(&cfg);
            continue;
        }
        /* Finding F1 (docs/fuzzing.md) is fixed: a config that parses has
         * every input dimension, so every parsed config must round-trip;
         * tests/regress/fuzz_model_config/dump-width-0.json replays it. */
        char *dump = snn_model_config_dump(&cfg);
        if (dump) {
            snn_model_config back;
            memset(&back, 0, sizeof back);
            /* what we wrote we must read back */
            if (snn_model_config_parse(&back, dump, strlen(dump), pass ? tiny->graph : NULL,
                                       &err) != SNN_OK) {
                fprintf(stderr, "dump does not parse back: %s\n%s\n", err.msg, dump);
                abort();
            }
            snn_model_config_deinit(&back);
            free(dump);
        }
        snn_model_config_deinit(&cfg);
    }
    return 0;
}
