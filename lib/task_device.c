/* task_device.c — the device names of recipes and the command line: "auto" (the first CUDA
 * device when there is one, else the CPU), "cpu", "cuda" (= cuda:0) or "cuda:N".
 *
 *     enum mk_device dev; int index;
 *     if (mk_device_parse("cuda:1", &dev, &index) != MK_OK) ... mk_last_error() says why
 *
 * A name that asks for CUDA where there is none fails with MK_ERR_DEVICE (saying whether the
 * build lacks CUDA or the machine lacks a GPU), so a recipe fails before anything runs.
 */
#include "config.h"
#include <stdlib.h>
#include <string.h>
#include "mambakit.h"
#include "ops.h"

mk_status mk_device_parse(const char *spec, enum mk_device *dev, int *index)
{
    *index = 0;
    *dev = MK_DEVICE_CPU;
    if (!spec || !strcmp(spec, "auto")) {
        *dev = mk_cuda_device_count() > 0 ? MK_DEVICE_CUDA : MK_DEVICE_CPU;
        return MK_OK;
    }
    if (!strcmp(spec, "cpu"))
        return MK_OK;
    if (strncmp(spec, "cuda", 4) != 0 || (spec[4] != 0 && spec[4] != ':'))
        return mk_fail(MK_ERR_INVALID, "device '%s': expected auto, cpu, cuda or cuda:N", spec);
    if (spec[4] == ':') {
        char *end;
        long v = strtol(spec + 5, &end, 10);
        if (*end || end == spec + 5 || v < 0 || v > 1024)
            return mk_fail(MK_ERR_INVALID, "device '%s': expected cuda:N with N >= 0", spec);
        *index = (int)v;
    }
    *dev = MK_DEVICE_CUDA;
    int n = mk_cuda_device_count();
    if (n == 0)
        return mk_fail(MK_ERR_DEVICE, "device '%s' asked for, but %s", spec,
#ifdef MK_HAVE_CUDA
                       "no CUDA device was found");
#else
                       "this mambakit was built without CUDA (configure --with-cuda)");
#endif
    if (*index >= n)
        return mk_fail(MK_ERR_DEVICE, "device '%s' asked for, but only %d CUDA device(s) exist",
                       spec, n);
    return MK_OK;
}
