/* test_error.c: the error table's codes, names, messages and statuses. */
#include <string.h>

#include "snn/error.h"
#include "test.h"

TEST(error_table)
{
    CHECK_EQ_INT(snn_err_http_status(SNN_EFORMAT), 400);
    CHECK_EQ_INT(snn_err_http_status(SNN_ENOTFOUND), 404);
    CHECK_EQ_INT(snn_err_http_status(SNN_ETOOLARGE), 413);
    CHECK_EQ_INT(snn_err_http_status(SNN_EBUSY), 503);
    CHECK_EQ_INT(snn_err_http_status(SNN_ETIMEOUT), 504);
    CHECK(!strcmp(snn_err_name(SNN_EUNSUPPORTED), "SNN_EUNSUPPORTED"));
    CHECK(!strcmp(snn_strerror((snn_err)999), "unknown error"));
    snn_error e;
    CHECK(snn_error_set(&e, SNN_ESHAPE, "bad %d", 7) == SNN_ESHAPE);
    CHECK(!strcmp(e.msg, "bad 7") && e.code == SNN_ESHAPE);
    CHECK(snn_error_set(NULL, SNN_EIO, "x") == SNN_EIO);
    snn_error_clear(&e);
    CHECK(e.code == SNN_OK && !e.msg[0]);
}
