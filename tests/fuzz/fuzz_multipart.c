/* fuzz_multipart.c: multipart/form-data bodies (srv_body_classify's
 * multipart parser) with a fixed boundary "XyZ", so that the fuzzer
 * spends its time on part framing, headers and fields. */
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
    char *body = fz_strndup(data, size);
    srv_job *j = fz_job();
    srv_opts o;
    snn_error err;
    srv_opts_init(&o);
    if (srv_body_classify(j, &o, "multipart/form-data; boundary=XyZ", body, size, &err) == SNN_OK) {
        fz_check_job(j);
        srv_opts_apply(&o, j, &err);
    }
    srv_job_unref(j);
    free(body);
    return 0;
}
