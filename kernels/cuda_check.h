/* cuda_check.h — the one check macro of the CUDA backend.
 *
 *   mk_status st = MK_CK(cudaMemcpyAsync(...));     also takes a cublasStatus_t
 *   MK_CK(cudaGetLastError());                        after every kernel launch
 *
 * A failure is recorded through mk_fail with the failing expression, the function, file and
 * line and the CUDA/cuBLAS error text, and returns MK_ERR_DEVICE (MK_OK on success). Kernel
 * launchers return void, like the CPU kernels, so the first failure is also kept (sticky) and
 * reported again by the backend's sync(). C++ only (the CUDA backend is C++ throughout).
 */
#ifndef MK_CUDA_CHECK_H
#define MK_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include "mambakit.h"

/* Records a failure (first one kept until the next sync) and returns MK_ERR_DEVICE. */
mk_status mk_cuda_record(const char *err, const char *expr, const char *func, const char *file,
                         int line);

static inline mk_status mk_cuda_check(cudaError_t e, const char *expr, const char *func,
                                      const char *file, int line)
{
    return e == cudaSuccess ? MK_OK : mk_cuda_record(cudaGetErrorString(e), expr, func, file, line);
}

static inline mk_status mk_cuda_check(cublasStatus_t e, const char *expr, const char *func,
                                      const char *file, int line)
{
    return e == CUBLAS_STATUS_SUCCESS ? MK_OK
                                      : mk_cuda_record(cublasGetStatusString(e), expr, func, file, line);
}

#define MK_CK(expr) mk_cuda_check((expr), #expr, __func__, __FILE__, __LINE__)

#endif /* MK_CUDA_CHECK_H */
