/* fuzz_convert_params.c: snn_convert_params_set, the one parser of
 * conversion parameters (flags, config keys, per-request overrides).
 * Input: lines "key=value" (or key NUL value), applied in order, then the
 * parameters are formatted and the text is parsed back. */
#include <stdint.h>

#include "fuzz_common.h"
#include "snn/convert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    snn_convert_params p;
    snn_error err;
    char *s = fz_strndup(data, size), *save = NULL;
    snn_convert_params_init(&p);
    /* a NUL inside the input separates key and value too */
    for (size_t i = 0; i < size; i++)
        if (s[i] == '\0') s[i] = '=';
    for (char *line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *eq = strchr(line, '=');
        const char *val = "";
        if (eq) {
            *eq = '\0';
            val = eq + 1;
        }
        snn_convert_params_set(&p, line, val, &err);
    }
    char buf[4096];
    snn_convert_params_format(&p, buf, sizeof buf);
    (void)snn_convert_params_layer_scale(&p, "conv1");
    (void)snn_convert_params_layer_threshold(&p, "conv1");
    free(s);
    return 0;
}
