/* device.c — the --device option shared by the commands: "auto" (CUDA when a GPU is found,
 * else CPU), "cpu", "cuda" or "cuda:N". Says on stderr which device it picked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli_util.h"
#include "ops.h"

mk_status mk_cli_parse_device(const char *spec, enum mk_device *dev, int *index)
{
    *index = 0;
    if (!spec || !strcmp(spec, "auto")) {
        *dev = mk_cuda_device_count() > 0 ? MK_DEVICE_CUDA : MK_DEVICE_CPU;
    } else if (!strcmp(spec, "cpu")) {
        *dev = MK_DEVICE_CPU;
    } else if (!strncmp(spec, "cuda", 4) && (spec[4] == 0 || spec[4] == ':')) {
        *dev = MK_DEVICE_CUDA;
        if (spec[4] == ':') {
            char *end;
            long v = strtol(spec + 5, &end, 10);
            if (*end || end == spec + 5 || v < 0)
                return mk_fail(MK_ERR_INVALID, "device '%s': expected cuda:N with N >= 0", spec);
            *index = (int)v;
        }
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
    } else {
        return mk_fail(MK_ERR_INVALID, "device '%s': expected auto, cpu, cuda or cuda:N", spec);
    }
    char name[256] = "CPU";
    if (*dev == MK_DEVICE_CUDA && mk_cuda_device_name(*index, name, sizeof name) != MK_OK)
        snprintf(name, sizeof name, "CUDA device %d", *index);
    fprintf(stderr, "mambakit: using %s%s%s\n", *dev == MK_DEVICE_CUDA ? "cuda: " : "",
            name, *dev == MK_DEVICE_CPU ? " (fp32 reference kernels)" : "");
    return MK_OK;
}
