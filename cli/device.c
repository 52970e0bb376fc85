/* device.c — the --device option shared by the commands (rules in lib/task_device.c:
 * auto, cpu, cuda, cuda:N); says on stderr which device it picked.
 */
#include <stdio.h>
#include "cli_util.h"
#include "ops.h"

mk_status mk_cli_parse_device(const char *spec, enum mk_device *dev, int *index)
{
    mk_status st = mk_device_parse(spec, dev, index);
    if (st != MK_OK)
        return st;
    char name[256] = "CPU";
    if (*dev == MK_DEVICE_CUDA && mk_cuda_device_name(*index, name, sizeof name) != MK_OK)
        snprintf(name, sizeof name, "CUDA device %d", *index);
    fprintf(stderr, "mambakit: using %s%s%s\n", *dev == MK_DEVICE_CUDA ? "cuda: " : "", name,
            *dev == MK_DEVICE_CPU ? " (fp32 reference kernels)" : "");
    return MK_OK;
}
