/* error.c: messages and statuses for snn_err, from SNN_ERRNO_MAP. */
#include "snn/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    const char *msg;
    int http;
} err_table[] = {
#define XX(name, http, msg) {"SNN_E" #name, msg, http},
    SNN_ERRNO_MAP(XX)
#undef XX
};

const char *snn_strerror(snn_err e)
{
    if ((unsigned)e >= SNN_E_COUNT_) return "unknown error";
    return err_table[e].msg;
}

const char *snn_err_name(snn_err e)
{
    if ((unsigned)e >= SNN_E_COUNT_) return "SNN_EUNKNOWN";
    return err_table[e].name;
}

int snn_err_http_status(snn_err e)
{
    if ((unsigned)e >= SNN_E_COUNT_) return 500;
    return err_table[e].http;
}

snn_err snn_error_set(snn_error *err, snn_err code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

void snn_error_clear(snn_error *err)
{
    if (err) {
        err->code = SNN_OK;
        err->msg[0] = '\0';
    }
}
