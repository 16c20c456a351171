/*
 * error.c — error code names and the rn_error object (see runnel/error.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runnel/error.h"

const char *rn_strerror(int code)
{
    switch (code) {
    case RN_OK: return "success";
    case RN_ENOMEM: return "out of memory";
    case RN_EINVAL: return "invalid argument or input";
    case RN_ECORRUPT: return "corrupt or truncated data";
    case RN_ERANGE: return "out of range";
    case RN_EIO: return "I/O error";
    case RN_ENOTFOUND: return "not found";
    case RN_ETYPE: return "type error";
    case RN_EEND: return "end of input";
    case RN_ECANCELED: return "cancelled";
    case RN_EAGAIN: return "nothing ready";
    default: return "unknown error";
    }
}

int rn_error_set(struct rn_error *err, int code, int line, int column, const char *fmt, ...)
{
    if (!err) return code;
    err->code = code;
    err->line = line;
    err->column = column;
    err->sys_errno = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

void rn_error_clear(struct rn_error *err)
{
    if (!err) return;
    memset(err, 0, sizeof *err);
}
