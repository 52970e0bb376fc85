/* cuda_common.cuh — what the CUDA kernels of the op table share: the backend's stream and
 * cuBLAS handle, stream-ordered scratch memory, the deterministic column sum, small device
 * math, and the extern "C" launchers (one per table entry, same arguments as the CPU
 * reference, see each op's contract header) that ops_cuda.cu puts into the table.
 *
 * Determinism: no kernel of the backend uses floating-point atomics. Sums over tokens (weight
 * and bias gradients) are written as per-block partials [rows, cols] and added in row order by
 * mk_cuda_colsum, so a result is bit-identical from run to run.
 */
#ifndef MK_CUDA_COMMON_CUH
#define MK_CUDA_COMMON_CUH

#include <stddef.h>
#include <stdint.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
extern "C" { /* ops.h and the contract headers are plain C */
#include "ops.h"
}
#include "cuda_check.h"

/* ---- backend state (ops_cuda.cu) --------------------------------------------------------- */
cudaStream_t mk_cuda_stream(void);
cublasHandle_t mk_cuda_blas(void);
int mk_cuda_sm_count(void);
/* The GEMM precision mode (set_gemm_precision): 1 for bf16 products, 0 for plain fp32. */
int mk_cuda_gemm_bf16(void);
/* Stream-ordered scratch (cudaMallocAsync on the backend stream); NULL on failure, recorded. */
void *mk_cuda_scratch(size_t bytes);
void mk_cuda_scratch_free(void *p);
/* A buffer the backend keeps for the bf16 copy of the rows of a small product (the decoding
 * step's: its graph then has no allocation nodes), when bytes <= MK_CUDA_ROWS16_BYTES, else
 * NULL. One buffer: what a product writes there is gone at the next product on the stream. */
#define MK_CUDA_ROWS16_BYTES ((size_t)1 << 20)
void *mk_cuda_rows16(size_t bytes);
/* dst[c] += sum_{r = 0..rows-1} part[r * cols + c], summed in row order. */
void mk_cuda_colsum(float *dst, const float *part, int rows, int cols);

#define MK_LAUNCH_CHECK() MK_CK(cudaGetLastError())

/* Blocks of `threads` covering n items, capped (kernels loop grid-stride past the cap). */
static inline unsigned mk_cuda_blocks(size_t n, int threads)
{
    size_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > (1u << 30) ? (1u << 30) : b);
}

/* ---- device math ------------------------------------------------------------------------ */
#ifdef __CUDACC__
/* x[i] of an input that is read-only for the kernel's life, as fp32, through the
 * non-coherent path (__ldg); fp32 or bf16 storage */
__device__ __forceinline__ float ldf(const float *p, size_t i)
{
    return __ldg(p + i);
}
__device__ __forceinline__ float ldf(const __nv_bfloat16 *p, size_t i)
{
    return __bfloat162float(__ldg(p + i));
}

/* p[0..3] as fp32 in one 16-byte (fp32) or 8-byte (bf16) load through __ldg (p aligned to it),
 * and v stored to p[0..3] (fp32: one 16-byte store; bf16: rounded to nearest even, two 4-byte
 * stores, p 4-byte aligned) */
__device__ __forceinline__ float4 mk_ld4(const float *p)
{
    return __ldg(reinterpret_cast<const float4 *>(p));
}
__device__ __forceinline__ float4 mk_ld4(const __nv_bfloat16 *p)
{
    const uint2 t = __ldg(reinterpret_cast<const uint2 *>(p));
    const float2 lo = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&t.x));
    const float2 hi = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162 *>(&t.y));
    return make_float4(lo.x, lo.y, hi.x, hi.y);
}
__device__ __forceinline__ void mk_st4(float *p, float4 v)
{
    *reinterpret_cast<float4 *>(p) = v;
}
__device__ __forceinline__ void mk_st4(__nv_bfloat16 *p, float4 v)
{
    __nv_bfloat162 *h = reinterpret_cast<__nv_bfloat162 *>(p);
    h[0] = __floats2bfloat162_rn(v.x, v.y);
    h[1] = __floats2bfloat162_rn(v.z, v.w);
}

__device__ __forceinline__ float mk_sigmoidf(float x)
{
    return 1.0f / (1.0f + expf(-x));
}
/* softplus(x) = log(1 + e^x), x itself above 20 (the official threshold) */
__device__ __forceinline__ float mk_softplusf(float x)
{
    return x > 20.0f ? x : log1pf(expf(x));
}
__device__ __forceinline__ float mk_warp_sum(float v)
{
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
/* Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
 * `red` is __shared__ float[32]. */
__device__ __forceinline__ float mk_block_sum(float v, float *red)
{
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = mk_warp_sum(v);
    __syncthreads();
    if (lane == 0)
        red[wid] = v;
    __syncthreads();
    v = lane < nw ? red[lane] : 0.0f;
    return mk_warp_sum(v);
}
#endif

/* ---- bf16 (bf16.cu) ----------------------------------------------------------------------- */
/* dst [rows, cols] packed = src [rows, cols] (row stride ld) rounded to bf16, on the stream */
void mk_cuda_to_bf16(__nv_bfloat16 *dst, const float *src, int rows, int cols, int ld);
/* the same into scratch memory (mk_cuda_scratch_free it); NULL on failure, recorded */
__nv_bfloat16 *mk_cuda_bf16_copy(const float *src, int rows, int cols, int ld);
/* the fresh bf16 copy of the registered weight matrix W (weights_bf16_set), else NULL */
const __nv_bfloat16 *mk_cuda_weight_bf16(const float *W);

/* ---- launchers (the table's kernels) ---------------------------------------------------- */
#ifdef __cplusplus
extern "C" {
#endif
void mk_cuda_embedding_fwd(float *out, const int32_t *ids, const float *wte, size_t T, int D);
void mk_cuda_embedding_bwd(float *dwte, const float *dout, const int32_t *ids, size_t T, int D);
void mk_cuda_add_rmsnorm_fwd(float *resid_out, float *normed, float *rstd, const float *resid_in,
                             const float *x, const float *w, size_t T, int D, float eps,
                             uint16_t *normed16, const uint16_t *x16);
void mk_cuda_rmsnorm_bwd(float *dresid, float *dw, const float *dnormed, const float *resid,
                         const float *rstd, const float *w, size_t T, int D, uint16_t *dresid16);
void mk_cuda_linear_fwd(float *out, const float *in, int ld_in, const float *W, const float *bias,
                        size_t M, int K, int N, const uint16_t *in16, uint16_t *out16);
void mk_cuda_linear_bwd(float *din, int ld_din, float *dW, float *dbias, const float *dout,
                        const float *in, int ld_in, const float *W, size_t M, int K, int N,
                        enum mk_grad_write din_mode, const uint16_t *dout16,
                        const uint16_t *in16, uint16_t *din16);
void mk_cuda_conv1d_fwd(float *out, float *state, const float *x, int ld_x, const float *w,
                        const float *bias, const uint8_t *reset, int B, int L, int E, int K,
                        uint16_t *out16, const uint16_t *x16);
void mk_cuda_conv1d_bwd(float *dx, int ld_dx, float *dw, float *dbias, const float *dout,
                        const float *state, const float *x, int ld_x, const float *w,
                        const float *bias, const uint8_t *reset, int B, int L, int E, int K,
                        enum mk_grad_write dx_mode, uint16_t *dx16, const uint16_t *x16);
void mk_cuda_scan_fwd(float *out, float *state, const struct mk_scan_in *in);
void mk_cuda_scan_bwd(const struct mk_scan_grad *g, const float *dout, const float *state0,
                      const struct mk_scan_in *in);
void mk_cuda_cross_entropy(float *loss, float *dlogits, const float *logits,
                           const int32_t *targets, const float *weights, size_t T, int V,
                           float dscale, uint16_t *dlogits16);
void mk_cuda_adamw(float *p, float *m, float *v, const float *grad, size_t n,
                   const struct mk_adamw_hp *hp);
double mk_cuda_sumsq(const float *x, size_t n);
void mk_cuda_argmax_rows(int32_t *ids, const float *x, size_t rows, int n);
void mk_cuda_pool_fwd(float *pooled, const float *feat, const int32_t *len, int B, int L, int D,
                      int last);
void mk_cuda_pool_bwd(float *dfeat, const float *dpooled, const int32_t *len, int B, int L, int D,
                      int last);
mk_status mk_cuda_weights_bf16_set(const void *owner, const float *const *W, const size_t *numel,
                                   int n);
void mk_cuda_weights_bf16_stale(const void *owner);
void mk_cuda_weights_bf16_refresh(const void *owner);
/* linear_fwd for M <= MK_GEMV_MAX_ROWS rows (gemv.cu), which mk_cuda_linear_fwd hands it */
#define MK_GEMV_MAX_ROWS 8 /* lib/model_internal.h MK_STEP_FP32_ROWS is the same number */
/* (W16: W's bf16 copy, read instead of W, or NULL) */
void mk_cuda_gemv_fwd(float *out, const float *in, int ld_in, const float *W,
                      const __nv_bfloat16 *W16, const float *bias, int M, int K, int N);
#ifdef __cplusplus
}
#endif

#endif /* MK_CUDA_COMMON_CUH */
