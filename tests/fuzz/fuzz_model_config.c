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
        /* Known (docs/fuzzing.md, finding F1): without a graph, an input
         * dimension the file leaves out stays 0 and the dump writes
         * "width": 0, which the parser refuses. Round-trip only complete
         * configs until snn_model_config_dump leaves unset dimensions out;
         * tests/regress/fuzz_model_config/dump-width-0.json replays it. */
        int complete = cfg.in_c > 0 && cfg.in_h > 0 && cfg.in_w > 0;
        char *dump = complete || getenv("FUZZ_STRICT") ? snn_model_config_dump(&cfg) : NULL;
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
