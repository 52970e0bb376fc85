/* ops_cuda_none.c — the CUDA entry points of the op table in a build without CUDA
 * (./configure --without-cuda, or no nvcc found): no devices, and asking for the backend is a
 * clear MK_ERR_UNSUPPORTED error that says how to get one.
 */
#include <stddef.h>
#include "ops.h"

mk_status mk_ops_cuda(const struct mk_ops **out, int index)
{
    (void)index;
    *out = NULL;
    return mk_fail(MK_ERR_UNSUPPORTED, "CUDA: this mambakit was built without CUDA "
                   "(reconfigure with --with-cuda on a machine with the CUDA toolkit)");
}

int mk_cuda_device_count(void)
{
    return 0;
}

mk_status mk_cuda_mem_info(int index, size_t *used, size_t *total)
{
    *used = *total = 0;
    return mk_fail(MK_ERR_UNSUPPORTED, "CUDA: no device %d: this mambakit was built without CUDA",
                   index);
}

mk_status mk_cuda_device_name(int index, char *buf, size_t len)
{
    if (len)
        buf[0] = '\0';
    return mk_fail(MK_ERR_UNSUPPORTED, "CUDA: no device %d: this mambakit was built without CUDA",
                   index);
}
