/* status.c — status codes and the thread-local last-error message.
 *
 * Library functions return mk_status; the detail ("model.safetensors: tensor
 * backbone.norm_f.weight: shape [63], expected [64]") is recorded with mk_fail() and read
 * back with mk_last_error(). Programs turn both into a message and an exit code.
 */
#include <stdarg.h>
#include <stdio.h>
#include "mambakit.h"

static _Thread_local char last_error[1024];

const char *mk_strerror(mk_status st)
{
    switch (st) {
    case MK_OK: return "success";
    case MK_ERR_NOMEM: return "out of memory";
    case MK_ERR_IO: return "input/output error";
    case MK_ERR_FORMAT: return "malformed input";
    case MK_ERR_INVALID: return "invalid argument";
    case MK_ERR_UNSUPPORTED: return "not supported";
    case MK_ERR_DEVICE: return "device error";
    case MK_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown status";
}

const char *mk_last_error(void)
{
    return last_error;
}

mk_status mk_fail(mk_status st, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}
