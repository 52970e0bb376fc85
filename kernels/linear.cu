/* linear.cu — CUDA nn.Linear through cuBLAS (contract: linear.h). By default plain fp32:
 * CUBLAS_COMPUTE_32F (no TF32), so it matches the CPU BLAS to fp32 rounding. In the backend's
 * bf16 GEMM mode (set_gemm_precision, ops.h) CUBLAS_COMPUTE_32F_FAST_16BF: same fp32 storage
 * and accumulation, bf16 tensor-core products (relative error ~1e-2 of the output's scale).
 *
 * Row-major X [M, K] (row stride ld) is column-major X^T [K, M] (leading dimension ld), so with
 * W [N, K] row-major = column-major W^T [K, N]:
 *   out^T [N, M]  = (W^T)^T X^T      gemm(T, N, N, M, K, W, K, in, ld_in, out, N)
 *   din^T [K, M] += W^T dout^T       gemm(N, N, K, M, N, W, K, dout, N, din, ld_din)
 *   dW^T  [K, N] += X^T dout         gemm(N, T, K, N, M, in, ld_in, dout, N, dW, K)
 * The bias is broadcast into out first and the product added (beta = 1); dbias is a column
 * sum of dout, partials per LIN_ROWS rows added in order (deterministic). The forward of at
 * most MK_GEMV_MAX_ROWS rows (the decoding step) goes to gemv.cu instead: one kernel that
 * reads W once, bias included, and is recorded into the step's graph without a workspace.
 */
#include <limits.h>
#include "cuda_common.cuh"

#define LIN_ROWS 64

static void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    const float one = 1.0f;
    MK_CK(cublasGemmEx(mk_cuda_blas(), ta, tb, m, n, k, &one, A, CUDA_R_32F, lda, B, CUDA_R_32F,
                       ldb, &beta, C, CUDA_R_32F, ldc,
                       mk_cuda_gemm_bf16() ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT));
}

static int rows_fit(size_t M)
{
    if (M <= INT_MAX)
        return 1;
    mk_cuda_record("more than INT_MAX rows", "M <= INT_MAX", __func__, __FILE__, __LINE__);
    return 0;
}

__global__ void bias_fill_kernel(float *out, const float *bias, size_t M, int N)
{
    size_t n = M * (size_t)N;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = bias[i % N];
}

extern "C" void mk_cuda_linear_fwd(float *out, const float *in, int ld_in, const float *W,
                                   const float *bias, size_t M, int K, int N)
{
    if (M == 0 || !rows_fit(M))
        return;
    if (M <= MK_GEMV_MAX_ROWS) {
        mk_cuda_gemv_fwd(out, in, ld_in, W, bias, (int)M, K, N);
        return;
    }
    if (bias) {
        bias_fill_kernel<<<mk_cuda_blocks(M * N, 256), 256, 0, mk_cuda_stream()>>>(out, bias, M,
                                                                                  N);
        MK_LAUNCH_CHECK();
    }
    gemm(CUBLAS_OP_T, CUBLAS_OP_N, N, (int)M, K, W, K, in, ld_in, bias ? 1.0f : 0.0f, out, N);
}

/* part[j, n] = sum over rows j*LIN_ROWS.. of src[m, n] */
__global__ void colpart_kernel(float *part, const float *src, size_t M, int N)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= N)
        return;
    size_t m0 = (size_t)blockIdx.y * LIN_ROWS, m1 = m0 + LIN_ROWS < M ? m0 + LIN_ROWS : M;
    float s = 0.0f;
    for (size_t m = m0; m < m1; m++)
        s += src[m * N + c];
    part[(size_t)blockIdx.y * N + c] = s;
}

extern "C" void mk_cuda_linear_bwd(float *din, int ld_din, float *dW, float *dbias,
                                   const float *dout, const float *in, int ld_in, const float *W,
                                   size_t M, int K, int N)
{
    if (M == 0 || !rows_fit(M))
        return;
    if (din)
        gemm(CUBLAS_OP_N, CUBLAS_OP_N, K, (int)M, N, W, K, dout, N, 1.0f, din, ld_din);
    gemm(CUBLAS_OP_N, CUBLAS_OP_T, K, N, (int)M, in, ld_in, dout, N, 1.0f, dW, K);
    if (!dbias)
        return;
    int rows = (int)((M + LIN_ROWS - 1) / LIN_ROWS);
    float *part = (float *)mk_cuda_scratch((size_t)rows * N * sizeof(float));
    if (!part)
        return;
    colpart_kernel<<<dim3((N + 127) / 128, rows), 128, 0, mk_cuda_stream()>>>(part, dout, M, N);
    MK_LAUNCH_CHECK();
    mk_cuda_colsum(dbias, part, rows, N);
    mk_cuda_scratch_free(part);
}
