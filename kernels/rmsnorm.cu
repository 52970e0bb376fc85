/* rmsnorm.cu — CUDA fused residual add + RMSNorm (contract: rmsnorm.h).
 *
 * Forward and the dresid part of the backward: one block per token row (the forward of a
 * decoding step's few rows: a warp per row). The weight gradient
 * dw[d] = sum_t dnormed[t,d] r[t,d] rstd[t] is a column sum: partials over RMS_ROWS rows per
 * block, added in order by mk_cuda_colsum (deterministic).
 */
#include "cuda_common.cuh"

#define RMS_THREADS 256
#define RMS_ROWS 64

/* r = resid_in + x;  rstd = 1/sqrt(mean r^2 + eps);  normed = r rstd w (in bf16 into
 * normed16 instead when it is given). TX: x's type (fp32, or bf16: the bf16 mode's out_proj
 * output), a template parameter as in the conv and scan kernels. */
template <typename TX>
__global__ void add_rmsnorm_fwd_kernel(float *resid_out, float *normed, __nv_bfloat16 *normed16,
                                       float *rstd, const float *resid_in, const TX *x,
                                       const float *w, int D, float eps)
{
    __shared__ float red[32];
    size_t o = (size_t)blockIdx.x * D;
    float ss = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float r = resid_in[o + d] + (x ? ldf(x, o + d) : 0.0f);
        resid_out[o + d] = r;
        ss += r * r;
    }
    float rs = 1.0f / sqrtf(mk_block_sum(ss, red) / D + eps);
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        const float v = resid_out[o + d] * rs * w[d];
        if (normed16)
            normed16[o + d] = __float2bfloat16(v);
        else
            normed[o + d] = v;
    }
    if (threadIdx.x == 0)
        rstd[blockIdx.x] = rs;
}

/* The same for the few rows of a decoding step (T <= RMS_WARP_MAX_ROWS, D a multiple of 4 up
 * to 32 x 4 x RMS_WARP_VEC, rows 16-byte aligned): a warp a row, its values in registers as
 * float4, the sum of squares reduced by shuffles, so no block barrier and no shared memory (a
 * decoding step's norm took 3.7-4.0 us with one block a row against the official fused
 * add + norm's 1.7; ncu, sixth and seventh sessions). The squares are summed in another
 * order than the block kernel's: the two agree to fp32 rounding. */
#define RMS_WARP_VEC 8         /* float4 a lane: D <= 1024 */
#define RMS_WARP_MAX_ROWS 256
#define RMS_WARP_ROWS_A_BLOCK 4
template <typename TX>
__global__ void add_rmsnorm_fwd_warp_kernel(float *resid_out, float *normed,
                                            __nv_bfloat16 *normed16, float *rstd,
                                            const float *resid_in, const TX *x, const float *w,
                                            int T, int D, float eps)
{
    const int lane = threadIdx.x & 31, t = blockIdx.x * RMS_WARP_ROWS_A_BLOCK + threadIdx.x / 32;
    if (t >= T)
        return;
    const size_t o = (size_t)t * D;
    /* every load is issued before any is used: an early exit from the loop (a break at d >= D)
     * made each float4's load wait for the one before it, six round trips to memory a phase */
    float4 r[RMS_WARP_VEC], u[RMS_WARP_VEC], g[RMS_WARP_VEC];
#pragma unroll
    for (int k = 0; k < RMS_WARP_VEC; k++) {
        const int d = (k * 32 + lane) * 4;
        const bool in = d < D;
        r[k] = in ? *reinterpret_cast<const float4 *>(resid_in + o + d) : make_float4(0, 0, 0, 0);
        u[k] = in && x ? mk_ld4(x + o + d) : make_float4(0, 0, 0, 0);
        g[k] = in ? *reinterpret_cast<const float4 *>(w + d) : make_float4(0, 0, 0, 0);
    }
    float ss = 0.0f;
#pragma unroll
    for (int k = 0; k < RMS_WARP_VEC; k++) {
        float4 v = r[k];
        v.x += u[k].x, v.y += u[k].y, v.z += u[k].z, v.w += u[k].w;
        r[k] = v;
        ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        const int d = (k * 32 + lane) * 4;
        if (d < D)
            *reinterpret_cast<float4 *>(resid_out + o + d) = v;
    }
    const float rs = 1.0f / sqrtf(mk_warp_sum(ss) / D + eps);
#pragma unroll
    for (int k = 0; k < RMS_WARP_VEC; k++) {
        const int d = (k * 32 + lane) * 4;
        if (d >= D)
            continue;
        const float4 v = make_float4(r[k].x * rs * g[k].x, r[k].y * rs * g[k].y,
                                     r[k].z * rs * g[k].z, r[k].w * rs * g[k].w);
        if (normed16)
            mk_st4(normed16 + o + d, v);
        else
            mk_st4(normed + o + d, v);
    }
    if (lane == 0)
        rstd[t] = rs;
}

/* whether the warp kernel takes these rows (above): p 16-byte aligned, x (of x_size bytes a
 * value) to 4 values */
static bool rms_warp_rows(const void *const *p, int np, const void *x, size_t x_size, size_t T,
                          int D)
{
    if (T > RMS_WARP_MAX_ROWS || D % 4 || D > 32 * 4 * RMS_WARP_VEC ||
        (uintptr_t)x % (4 * x_size))
        return false;
    for (int i = 0; i < np; i++)
        if ((uintptr_t)p[i] % 16)
            return false;
    return true;
}

template <typename TX>
static void add_rmsnorm_fwd_run(float *resid_out, float *normed, float *rstd,
                                const float *resid_in, const TX *x, const float *w, size_t T,
                                int D, float eps, __nv_bfloat16 *normed16)
{
    cudaStream_t s = mk_cuda_stream();
    const void *p[] = {resid_out, resid_in, w, normed16 ? (const void *)normed16 : normed};
    if (rms_warp_rows(p, 4, x, sizeof(TX), T, D)) {
        const unsigned blocks = (unsigned)((T + RMS_WARP_ROWS_A_BLOCK - 1) / RMS_WARP_ROWS_A_BLOCK);
        add_rmsnorm_fwd_warp_kernel<<<blocks, 32 * RMS_WARP_ROWS_A_BLOCK, 0, s>>>(
            resid_out, normed, normed16, rstd, resid_in, x, w, (int)T, D, eps);
    } else {
        add_rmsnorm_fwd_kernel<<<(unsigned)T, RMS_THREADS, 0, s>>>(resid_out, normed, normed16,
                                                                   rstd, resid_in, x, w, D, eps);
    }
    MK_LAUNCH_CHECK();
}

extern "C" void mk_cuda_add_rmsnorm_fwd(float *resid_out, float *normed, float *rstd,
                                        const float *resid_in, const float *x, const float *w,
                                        size_t T, int D, float eps, uint16_t *normed16,
                                        const uint16_t *x16)
{
    if (T == 0)
        return;
    __nv_bfloat16 *n16 = (__nv_bfloat16 *)normed16;
    if (x16)
        add_rmsnorm_fwd_run(resid_out, normed, rstd, resid_in, (const __nv_bfloat16 *)x16, w, T,
                            D, eps, n16);
    else
        add_rmsnorm_fwd_run(resid_out, normed, rstd, resid_in, x, w, T, D, eps, n16);
}

/* g = w dnormed;  dresid += rstd g - r rstd^3 / D * sum_d g r  (and dresid16 = bf16(dresid)) */
__global__ void rmsnorm_bwd_kernel(float *dresid, __nv_bfloat16 *dresid16, const float *dnormed,
                                   const float *resid, const float *rstd, const float *w, int D)
{
    __shared__ float red[32];
    size_t o = (size_t)blockIdx.x * D;
    float dot = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        dot += w[d] * dnormed[o + d] * resid[o + d];
    dot = mk_block_sum(dot, red);
    float rs = rstd[blockIdx.x], c = rs * rs * rs / D * dot;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        const float v = dresid[o + d] + (rs * w[d] * dnormed[o + d] - resid[o + d] * c);
        dresid[o + d] = v;
        if (dresid16)
            dresid16[o + d] = __float2bfloat16_rn(v);
    }
}

/* part[j, d] = sum over rows j*RMS_ROWS.. of dnormed r rstd */
__global__ void rmsnorm_dw_kernel(float *part, const float *dnormed, const float *resid,
                                  const float *rstd, size_t T, int D)
{
    int d = blockIdx.x * blockDim.x + threadIdx.x;
    if (d >= D)
        return;
    size_t t0 = (size_t)blockIdx.y * RMS_ROWS, t1 = t0 + RMS_ROWS < T ? t0 + RMS_ROWS : T;
    float s = 0.0f;
    for (size_t t = t0; t < t1; t++)
        s += dnormed[t * D + d] * resid[t * D + d] * rstd[t];
    part[(size_t)blockIdx.y * D + d] = s;
}

extern "C" void mk_cuda_rmsnorm_bwd(float *dresid, float *dw, const float *dnormed,
                                    const float *resid, const float *rstd, const float *w,
                                    size_t T, int D, uint16_t *dresid16)
{
    if (T == 0)
        return;
    cudaStream_t s = mk_cuda_stream();
    rmsnorm_bwd_kernel<<<(unsigned)T, RMS_THREADS, 0, s>>>(
        dresid, (__nv_bfloat16 *)dresid16, dnormed, resid, rstd, w, D);
    MK_LAUNCH_CHECK();
    if (!dw)
        return;
    int rows = (int)((T + RMS_ROWS - 1) / RMS_ROWS);
    float *part = (float *)mk_cuda_scratch((size_t)rows * D * sizeof(float));
    if (!part)
        return;
    rmsnorm_dw_kernel<<<dim3((D + 127) / 128, rows), 128, 0, s>>>(part, dnormed, resid, rstd, T,
                                                                   D);
    MK_LAUNCH_CHECK();
    mk_cuda_colsum(dw, part, rows, D);
    mk_cuda_scratch_free(part);
}
