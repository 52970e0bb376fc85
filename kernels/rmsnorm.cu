/* rmsnorm.cu — CUDA fused residual add + RMSNorm (contract: rmsnorm.h).
 *
 * Forward and the dresid part of the backward: one block per token row. The weight gradient
 * dw[d] = sum_t dnormed[t,d] r[t,d] rstd[t] is a column sum: partials over RMS_ROWS rows per
 * block, added in order by mk_cuda_colsum (deterministic).
 */
#include "cuda_common.cuh"

#define RMS_THREADS 256
#define RMS_ROWS 64

/* r = resid_in + x;  rstd = 1/sqrt(mean r^2 + eps);  normed = r rstd w (in bf16 into
 * normed16 instead when it is given) */
__global__ void add_rmsnorm_fwd_kernel(float *resid_out, float *normed, __nv_bfloat16 *normed16,
                                       float *rstd, const float *resid_in, const float *x,
                                       const float *w, int D, float eps)
{
    __shared__ float red[32];
    size_t o = (size_t)blockIdx.x * D;
    float ss = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float r = resid_in[o + d] + (x ? x[o + d] : 0.0f);
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

extern "C" void mk_cuda_add_rmsnorm_fwd(float *resid_out, float *normed, float *rstd,
                                        const float *resid_in, const float *x, const float *w,
                                        size_t T, int D, float eps, uint16_t *normed16)
{
    if (T == 0)
        return;
    add_rmsnorm_fwd_kernel<<<(unsigned)T, RMS_THREADS, 0, mk_cuda_stream()>>>(
        resid_out, normed, (__nv_bfloat16 *)normed16, rstd, resid_in, x, w, D, eps);
    MK_LAUNCH_CHECK();
}

/* g = w dnormed;  dresid += rstd g - r rstd^3 / D * sum_d g r */
__global__ void rmsnorm_bwd_kernel(float *dresid, const float *dnormed, const float *resid,
                                   const float *rstd, const float *w, int D)
{
    __shared__ float red[32];
    size_t o = (size_t)blockIdx.x * D;
    float dot = 0.0f;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        dot += w[d] * dnormed[o + d] * resid[o + d];
    dot = mk_block_sum(dot, red);
    float rs = rstd[blockIdx.x], c = rs * rs * rs / D * dot;
    for (int d = threadIdx.x; d < D; d += blockDim.x)
        dresid[o + d] += rs * w[d] * dnormed[o + d] - resid[o + d] * c;
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
                                    size_t T, int D)
{
    if (T == 0)
        return;
    cudaStream_t s = mk_cuda_stream();
    rmsnorm_bwd_kernel<<<(unsigned)T, RMS_THREADS, 0, s>>>(dresid, dnormed, resid, rstd, w, D);
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
