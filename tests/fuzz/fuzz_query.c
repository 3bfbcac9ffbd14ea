/* fuzz_query.c: query-string options. libmicrohttpd splits and
 * percent-decodes the query and http.c hands each key/value to
 * srv_opts_set (srv_req_query_opts needs a live MHD connection, so this
 * target does the splitting itself the way MHD does: '&' between pairs,
 * '=' between key and value, '+' is a space, %XX decoded), then
 * srv_opts_apply validates the set against the model, as api.c does. */
#include <ctype.h>

#include "fuzz_srv.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fz_srv_init();
    return 0;
}

static void unescape(char *s)
{
    char *o = s;
    for (; *s; s++) {
        if (*s == '+') *o++ = ' ';
        else if (*s == '%' && isxdigit((unsigned char)s[1]) && isxdigit((unsigned char)s[2])) {
            char h[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(h, NULL, 16);
            s += 2;
        } else *o++ = *s;
    }
    *o = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *q = fz_strndup(data, size), *save = NULL;
    srv_job *j = fz_job();
    srv_opts o;
    snn_error err;
    int ok = 1;
    srv_opts_init(&o);
    for (char *kv = strtok_r(q, "&", &save); kv && ok; kv = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(kv, '=');
        const char *val = "";
        if (eq) {
            *eq = '\0';
            val = eq + 1;
            unescape(eq + 1);
        }
        unescape(kv);
        ok = srv_opts_set(&o, fz_ver.m, kv, val, &err) == SNN_OK;
    }
    if (ok) srv_opts_apply(&o, j, &err);
    srv_job_unref(j);
    free(q);
    return 0;
}
