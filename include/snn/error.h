/* error.h: the one error enum of libsnn, its messages and its HTTP mapping.
 *
 * DESIGN: every code comes from SNN_ERRNO_MAP, which also carries the
 * message and the HTTP status a server should answer with (the library
 * itself never speaks HTTP; the status column is for its callers). Functions
 * that can fail return snn_err, or NULL plus an optional snn_error out
 * parameter that carries a human-readable detail ("unsupported op Foo at
 * node bar"). Passing NULL for the snn_error is always allowed.
 */
#ifndef SNN_ERROR_H
#define SNN_ERROR_H

#include <stddef.h>

#define SNN_ERRNO_MAP(XX)                                                   \
    XX(OK,          200, "success")                                         \
    XX(NOMEM,       500, "out of memory")                                   \
    XX(IO,          500, "input/output error")                              \
    XX(INVALID,     400, "invalid argument")                                \
    XX(FORMAT,      400, "malformed data")                                  \
    XX(SHAPE,       400, "shape mismatch")                                  \
    XX(UNSUPPORTED, 501, "unsupported")                                     \
    XX(NOTFOUND,    404, "not found")                                       \
    XX(TOOLARGE,    413, "too large")                                       \
    XX(LIMIT,       400, "limit exceeded")                                  \
    XX(CANCELLED,   499, "cancelled")                                       \
    XX(TIMEOUT,     504, "deadline exceeded")                               \
    XX(BUSY,        503, "overloaded")                                      \
    XX(INTERNAL,    500, "internal error")

typedef enum {
#define SNN_ERR_ENUM_(name, http, msg) SNN_E##name,
    SNN_ERRNO_MAP(SNN_ERR_ENUM_)
#undef SNN_ERR_ENUM_
    SNN_E_COUNT_
} snn_err;

#define SNN_OK SNN_EOK

/* A code plus a detail message. Owned by the caller (usually on the stack). */
typedef struct snn_error {
    snn_err code;
    char msg[384];
} snn_error;

const char *snn_strerror(snn_err e);   /* static string, never NULL */
const char *snn_err_name(snn_err e);   /* "SNN_EFORMAT" */
int snn_err_http_status(snn_err e);    /* 400, 404, ... */

/* Fill err (if not NULL) and return code. printf-style detail. */
snn_err snn_error_set(snn_error *err, snn_err code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void snn_error_clear(snn_error *err);

#endif
