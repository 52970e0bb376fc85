/* linear.cu — CUDA nn.Linear through cuBLAS (contract: linear.h). By default plain fp32:
 * CUBLAS_COMPUTE_32F (no TF32), so it matches the CPU BLAS to fp32 rounding. In the backend's
 * bf16 GEMM mode (set_gemm_precision, ops.h) both operands are rounded to bf16 copies in
 * scratch memory and multiplied on bf16 tensor cores with fp32 accumulation into the fp32
 * outputs, or into a bf16 output (out16, linear.h: a bf16 C in cuBLAS; a bias is broadcast in
 * bf16 first, so it is rounded twice) (relative error ~1e-2 of the output's scale). (cuBLAS's
 * COMPUTE_32F_FAST_16BF on fp32 operands picks TF32 kernels on sm_90, at half the bf16 rate.)
 * A model's weight matrices have bf16 copies kept between products (bf16.cu:
 * weights_bf16_set); any other W is rounded once per call; an operand given in bf16 (in16,
 * dout16: linear.h) is multiplied as it is, in the fp32 mode too when it has no fp32 version.
 * The rows (tokens) go through in chunks whose bf16 copies fit LIN_BF16_BYTES, so the LM
 * head's 16384 x 50280 gradient is never copied whole. Rounding a W
 * without a kept copy costs ~6 bytes of traffic per weight, which the faster product repays
 * only from ~500 rows (the TF32 product saves M x 2.5 fs per weight at ~400 vs ~800 TFLOP/s;
 * the copy costs 6 B / 4.8 TB/s = 1.25 ps): below LIN_BF16_MIN_ROWS rows such a W is
 * multiplied with FAST_16BF on the fp32 operands.
 *
 * Row-major X [M, K] (row stride ld) is column-major X^T [K, M] (leading dimension ld), so with
 * W [N, K] row-major = column-major W^T [K, N]:
 *   out^T [N, M]  = (W^T)^T X^T      gemm(T, N, N, M, K, W, K, in, ld_in, out, N)
 *   din^T [K, M] += W^T dout^T       gemm(N, N, K, M, N, W, K, dout, N, din, ld_din)
 *   dW^T  [K, N] += X^T dout         gemm(N, T, K, N, M, in, ld_in, dout, N, dW, K)
 * The bias is broadcast into out first and the product added (beta = 1); dbias is a column
 * sum of dout, partials per LIN_ROWS rows added in order (deterministic). The forward of at
 * most MK_GEMV_MAX_ROWS rows (the decoding step) with an fp32 input and output goes to gemv.cu
 * instead: one kernel that
 * reads W (its kept bf16 copy in the bf16 mode) once, bias included, and is recorded into the
 * step's graph without a workspace.
 */
#include <limits.h>
#include <cuda_bf16.h>
#include "cuda_common.cuh"

#define LIN_ROWS 64
#define LIN_BF16_BYTES (128u << 20) /* bf16 copies of one chunk of rows */
#define LIN_BF16_MIN_ROWS 512

/* C = A B + beta C in cuBLAS's column-major terms; A and B of type `type` (fp32 or bf16
 * operands), C of type ctype (fp32, or bf16 for bf16 operands), fp32 accumulation */
static void gemm_typed(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                       const void *A, int lda, const void *B, int ldb, cudaDataType type,
                       float beta, void *C, cudaDataType ctype, int ldc)
{
    const float one = 1.0f;
    const cublasComputeType_t ct = type == CUDA_R_32F && mk_cuda_gemm_bf16()
                                       ? CUBLAS_COMPUTE_32F_FAST_16BF : CUBLAS_COMPUTE_32F;
    MK_CK(cublasGemmEx(mk_cuda_blas(), ta, tb, m, n, k, &one, A, type, lda, B, type, ldb, &beta,
                       C, ctype, ldc, ct, CUBLAS_GEMM_DEFAULT));
}

static void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const float *A,
                 int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
    gemm_typed(ta, tb, m, n, k, A, lda, B, ldb, CUDA_R_32F, beta, C, CUDA_R_32F, ldc);
}

/* rows of one chunk in bf16 mode: the copies of in [mc, K] and dout/out [mc, N] fit the budget */
static int bf16_chunk_rows(int K, int N)
{
    size_t mc = LIN_BF16_BYTES / (2 * ((size_t)K + N));
    return mc < 64 ? 64 : mc > INT_MAX ? INT_MAX : (int)mc;
}

/* bf16 mode forward: out [M, N] (+)= in W^T over chunks of rows (into out16, in bf16, when it
 * is given); W's kept copy (bf16.cu) when it has one, else one made for this call; the rows
 * from in16 as they are when it is given (linear.h), else rounded */
static void linear_fwd_bf16(float *out, __nv_bfloat16 *out16, const float *in, int ld_in,
                            const __nv_bfloat16 *in16, const float *W,
                            const __nv_bfloat16 *kept, size_t M, int K, int N, float beta)
{
    __nv_bfloat16 *made = kept ? NULL : mk_cuda_bf16_copy(W, N, K, K);
    const __nv_bfloat16 *w16 = kept ? kept : made;
    const int mc = bf16_chunk_rows(K, 0);
    for (size_t m0 = 0; w16 && m0 < M; m0 += mc) {
        const int rows = M - m0 < (size_t)mc ? (int)(M - m0) : mc;
        const size_t x_bytes = (size_t)rows * K * sizeof(__nv_bfloat16);
        const __nv_bfloat16 *x16 = in16 ? in16 + m0 * K : NULL;
        __nv_bfloat16 *x_kept = x16 ? NULL : (__nv_bfloat16 *)mk_cuda_rows16(x_bytes);
        __nv_bfloat16 *x_made = NULL;
        if (x_kept)
            mk_cuda_to_bf16(x_kept, in + m0 * ld_in, rows, K, ld_in), x16 = x_kept;
        else if (!x16 && !(x16 = x_made = mk_cuda_bf16_copy(in + m0 * ld_in, rows, K, ld_in)))
            break;
        void *C = out16 ? (void *)(out16 + m0 * N) : (void *)(out + m0 * N);
        gemm_typed(CUBLAS_OP_T, CUBLAS_OP_N, N, rows, K, w16, K, x16, K, CUDA_R_16BF, beta, C,
                   out16 ? CUDA_R_16BF : CUDA_R_32F, N);
        mk_cuda_scratch_free(x_made);
    }
    mk_cuda_scratch_free(made);
}

/* bf16 mode backward: din (+)= dout W (or set in bf16 into din16), dW += in^T dout, over
 * chunks of rows; dout's rows from dout16 as they are when it is given (linear.h), else
 * rounded */
static void linear_bwd_bf16(float *din, __nv_bfloat16 *din16, int ld_din, float din_beta,
                            float *dW, const float *dout, const __nv_bfloat16 *dout16,
                            const float *in, int ld_in, const __nv_bfloat16 *in16,
                            const float *W, const __nv_bfloat16 *kept, size_t M, int K, int N)
{
    const bool want_din = din || din16;
    __nv_bfloat16 *made = want_din && !kept ? mk_cuda_bf16_copy(W, N, K, K) : NULL;
    const __nv_bfloat16 *w16 = kept ? kept : made;
    if (want_din && !w16)
        return;
    const int mc = bf16_chunk_rows(K, N);
    for (size_t m0 = 0; m0 < M; m0 += mc) {
        const int rows = M - m0 < (size_t)mc ? (int)(M - m0) : mc;
        __nv_bfloat16 *g_made = dout16 ? NULL : mk_cuda_bf16_copy(dout + m0 * N, rows, N, N);
        const __nv_bfloat16 *g16 = dout16 ? dout16 + m0 * N : g_made;
        __nv_bfloat16 *x_made = g16 && !in16 ? mk_cuda_bf16_copy(in + m0 * ld_in, rows, K, ld_in)
                                             : NULL;
        const __nv_bfloat16 *x16 = !g16 ? NULL : in16 ? in16 + m0 * K : x_made;
        if (x16 && din16) /* set, in bf16 (linear.h: din16 contiguous, din_mode SET) */
            gemm_typed(CUBLAS_OP_N, CUBLAS_OP_N, K, rows, N, w16, K, g16, N, CUDA_R_16BF, 0.0f,
                       din16 + m0 * K, CUDA_R_16BF, K);
        else if (x16 && din)
            gemm_typed(CUBLAS_OP_N, CUBLAS_OP_N, K, rows, N, w16, K, g16, N, CUDA_R_16BF,
                       din_beta, din + m0 * ld_din, CUDA_R_32F, ld_din);
        if (x16)
            gemm_typed(CUBLAS_OP_N, CUBLAS_OP_T, K, N, rows, x16, K, g16, N, CUDA_R_16BF, 1.0f,
                       dW, CUDA_R_32F, K);
        mk_cuda_scratch_free(x_made);
        mk_cuda_scratch_free(g_made);
        if (!x16)
            break;
    }
    mk_cuda_scratch_free(made);
}

/* W's kept bf16 copy in the bf16 mode (NULL: none, or fp32 mode), looked up once a call */
static const __nv_bfloat16 *kept_copy(const float *W)
{
    return mk_cuda_gemm_bf16() ? mk_cuda_weight_bf16(W) : NULL;
}

/* Whether the bf16 mode multiplies M rows by W on bf16 operands: always when W has a kept
 * copy (only the rows are rounded), else from LIN_BF16_MIN_ROWS rows (see the top) */
static bool bf16_products(const __nv_bfloat16 *kept, size_t M)
{
    return mk_cuda_gemm_bf16() && (M >= LIN_BF16_MIN_ROWS || kept);
}

static int rows_fit(size_t M)
{
    if (M <= INT_MAX)
        return 1;
    mk_cuda_record("more than INT_MAX rows", "M <= INT_MAX", __func__, __FILE__, __LINE__);
    return 0;
}

/* out [M, N] = the bias in every row (in bf16 into out16 when it is given) */
__global__ void bias_fill_kernel(float *out, __nv_bfloat16 *out16, const float *bias, size_t M,
                                 int N)
{
    size_t n = M * (size_t)N;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        if (out16)
            out16[i] = __float2bfloat16(bias[i % N]);
        else
            out[i] = bias[i % N];
}

extern "C" void mk_cuda_linear_fwd(float *out, const float *in, int ld_in, const float *W,
                                   const float *bias, size_t M, int K, int N,
                                   const uint16_t *in16, uint16_t *out16)
{
    if (M == 0 || !rows_fit(M))
        return;
    const __nv_bfloat16 *kept = kept_copy(W), *x16 = (const __nv_bfloat16 *)in16;
    /* bf16 products also when in16 is all there is (linear.h), or with in16 in the bf16 mode */
    const bool bf16 = bf16_products(kept, M) || !in || (x16 && mk_cuda_gemm_bf16());
    if (out16 && !bf16) { /* the fp32 result in scratch, rounded once (linear.h) */
        float *tmp = (float *)mk_cuda_scratch(M * N * sizeof(float));
        if (!tmp)
            return;
        mk_cuda_linear_fwd(tmp, in, ld_in, W, bias, M, K, N, in16, NULL);
        mk_cuda_to_bf16((__nv_bfloat16 *)out16, tmp, (int)M, N, N);
        mk_cuda_scratch_free(tmp);
        return;
    }
    if (M <= MK_GEMV_MAX_ROWS && in && !out16) {
        mk_cuda_gemv_fwd(out, in, ld_in, W, kept, bias, (int)M, K, N);
        return;
    }
    if (bias) { /* then the product added (beta = 1); in bf16, the bias rounded first */
        bias_fill_kernel<<<mk_cuda_blocks(M * N, 256), 256, 0, mk_cuda_stream()>>>(
            out, (__nv_bfloat16 *)out16, bias, M, N);
        MK_LAUNCH_CHECK();
    }
    if (bf16)
        linear_fwd_bf16(out, (__nv_bfloat16 *)out16, in, ld_in, x16, W, kept, M, K, N,
                        bias ? 1.0f : 0.0f);
    else
        gemm(CUBLAS_OP_T, CUBLAS_OP_N, N, (int)M, K, W, K, in, ld_in, bias ? 1.0f : 0.0f, out, N);
}

/* part[j, n] = sum over rows j*LIN_ROWS.. of src[m, n] (fp32 or bf16) */
__device__ __forceinline__ float as_float(float v)
{
    return v;
}
__device__ __forceinline__ float as_float(__nv_bfloat16 v)
{
    return __bfloat162float(v);
}
template <typename T> __global__ void colpart_kernel(float *part, const T *src, size_t M, int N)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= N)
        return;
    size_t m0 = (size_t)blockIdx.y * LIN_ROWS, m1 = m0 + LIN_ROWS < M ? m0 + LIN_ROWS : M;
    float s = 0.0f;
    for (size_t m = m0; m < m1; m++)
        s += as_float(src[m * N + c]);
    part[(size_t)blockIdx.y * N + c] = s;
}

extern "C" void mk_cuda_linear_bwd(float *din, int ld_din, float *dW, float *dbias,
                                   const float *dout, const float *in, int ld_in, const float *W,
                                   size_t M, int K, int N, enum mk_grad_write din_mode,
                                   const uint16_t *dout16, const uint16_t *in16,
                                   uint16_t *din16)
{
    if (M == 0 || !rows_fit(M))
        return;
    __nv_bfloat16 *d16 = (__nv_bfloat16 *)din16;
    const float din_beta = din_mode == MK_GRAD_SET ? 0.0f : 1.0f; /* beta 0: din not read */
    const __nv_bfloat16 *kept = kept_copy(W), *g16 = (const __nv_bfloat16 *)dout16;
    const __nv_bfloat16 *x16 = (const __nv_bfloat16 *)in16;
    /* bf16 products also when dout16 or in16 is all there is (linear.h), or in the bf16 mode
     * with either */
    if (bf16_products(kept, M) || !dout || !in || ((g16 || x16) && mk_cuda_gemm_bf16())) {
        linear_bwd_bf16(din16 ? NULL : din, d16, ld_din, din_beta, dW, dout, g16, in, ld_in, x16,
                        W, din || din16 ? kept : NULL, M, K, N);
    } else {
        float *tmp = d16 ? (float *)mk_cuda_scratch(M * K * sizeof(float)) : NULL;
        if (d16 && !tmp)
            return;
        if (tmp) /* the fp32 din in scratch, rounded once (linear.h) */
            gemm(CUBLAS_OP_N, CUBLAS_OP_N, K, (int)M, N, W, K, dout, N, 0.0f, tmp, K);
        else if (din)
            gemm(CUBLAS_OP_N, CUBLAS_OP_N, K, (int)M, N, W, K, dout, N, din_beta, din, ld_din);
        gemm(CUBLAS_OP_N, CUBLAS_OP_T, K, N, (int)M, in, ld_in, dout, N, 1.0f, dW, K);
        if (tmp)
            mk_cuda_to_bf16(d16, tmp, (int)M, K, K);
        mk_cuda_scratch_free(tmp);
    }
    if (!dbias)
        return;
    int rows = (int)((M + LIN_ROWS - 1) / LIN_ROWS);
    float *part = (float *)mk_cuda_scratch((size_t)rows * N * sizeof(float));
    if (!part)
        return;
    const dim3 grid((N + 127) / 128, rows);
    if (dout)
        colpart_kernel<<<grid, 128, 0, mk_cuda_stream()>>>(part, dout, M, N);
    else
        colpart_kernel<<<grid, 128, 0, mk_cuda_stream()>>>(part, g16, M, N);
    MK_LAUNCH_CHECK();
    mk_cuda_colsum(dbias, part, rows, N);
    mk_cuda_scratch_free(part);
}
