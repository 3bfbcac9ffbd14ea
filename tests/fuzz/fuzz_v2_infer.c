/* fuzz_v2_infer.c: Open Inference Protocol v2 infer bodies (srv_v2_parse),
 * JSON alone or with the binary tensor extension, then the options from
 * "parameters" (srv_opts_apply). Input: byte 0 even = a JSON body (the
 * rest); odd = bytes 1..2 (little-endian) give the
 * Inference-Header-Content-Length of the body that follows them. */
#include "fuzz_srv.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_srv_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char hl[16];
    const char *hdr = NULL;
    size_t skip = 1;
    if (size < 1) return 0;
    if (data[0] & 1) {
        if (size < 3) return 0;
        snprintf(hl, sizeof hl, "%u", (unsigned)(data[1] | data[2] << 8));
        hdr = hl;
        skip = 3;
    }
    char *body = fz_strndup(data + skip, size - skip);
    srv_job *j = fz_job();
    srv_opts o;
    snn_error err;
    srv_opts_init(&o);
    if (srv_v2_parse(j, &o, body, size - skip, hdr, &err) == SNN_OK) {
        fz_check_job(j);
        srv_opts_apply(&o, j, &err);
    }
    srv_job_unref(j);
    free(body);
    return 0;
}
