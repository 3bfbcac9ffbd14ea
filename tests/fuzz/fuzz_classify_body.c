/* fuzz_classify_body.c: POST /classify bodies (srv_body_classify) of every
 * content type, then the options they carried (srv_opts_apply).
 * Input: the Content-Type header up to the first newline, then the body. */
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
    const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);
    if (!nl) return 0;
    char *ctype = fz_strndup(data, (size_t)(nl - data));
    size_t blen = size - (size_t)(nl + 1 - data);
    char *body = fz_strndup(nl + 1, blen);     /* http.c NUL-terminates bodies too */
    srv_job *j = fz_job();
    srv_opts o;
    snn_error err;
    srv_opts_init(&o);
    if (srv_body_classify(j, &o, ctype, body, blen, &err) == SNN_OK) {
        fz_check_job(j);
        srv_opts_apply(&o, j, &err);
    }
    srv_job_unref(j);
    free(body);
    free(ctype);
    return 0;
}
