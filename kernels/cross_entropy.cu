/* cross_entropy.cu — CUDA softmax cross-entropy fused with its gradient
 * (contract: cross_entropy.h). One block per token row: one read of the row gives each
 * thread an online (max m, sum s of exp(l - m)) pair; the pairs are merged across the block
 * ((m1,s1) + (m2,s2) = (M, s1 e^(m1-M) + s2 e^(m2-M)), M = max(m1, m2)); a second read writes
 *   dlogits[v] = w dscale (exp(l[v] - M) / S - [v == y]),   loss = w (M + log S - l[y]),
 * with w the token's weight (1 without weights).
 * dlogits may alias logits: each element is read and then written by the same thread. With
 * dlogits16 the gradient is written in bf16 there instead.
 * Rows whose length is a multiple of 4 (V = 50280) are read and written as float4, one online
 * update per four values: M4 = max(m, the four); s = s e^(m - M4) + sum e^(l - M4).
 */
#include <math.h>
#include "cuda_common.cuh"

#define CE_THREADS 512

__device__ __forceinline__ void lse_merge(float &m, float &s, float m2, float s2)
{
    float M = fmaxf(m, m2);
    if (M == -INFINITY)
        return;
    s = s * expf(m - M) + s2 * expf(m2 - M);
    m = M;
}

/* the row's online (max, sum) pair of this thread: VEC consecutive values per step */
template <int VEC>
__device__ __forceinline__ void lse_row(const float *row, int V, float &m, float &s)
{
    if (VEC == 4) {
        const float4 *r4 = (const float4 *)row;
        for (int v = threadIdx.x; v < V / 4; v += blockDim.x) {
            const float4 l = r4[v];
            const float M = fmaxf(fmaxf(m, fmaxf(l.x, l.y)), fmaxf(l.z, l.w));
            if (M > m) { /* rescale only when the maximum grows */
                s = m == -INFINITY ? 0.0f : s * expf(m - M);
                m = M;
            }
            s += expf(l.x - m) + expf(l.y - m) + expf(l.z - m) + expf(l.w - m);
        }
    } else {
        for (int v = threadIdx.x; v < V; v += blockDim.x) {
            float l = row[v];
            if (l > m) {
                s = s * expf(m - l) + 1.0f;
                m = l;
            } else {
                s += expf(l - m);
            }
        }
    }
}

/* one gradient value at v in fp32 or bf16 (four at 4 v: mk_st4, cuda_common.cuh) */
__device__ __forceinline__ void store1(float *d, int v, float x)
{
    d[v] = x;
}
__device__ __forceinline__ void store1(__nv_bfloat16 *d, int v, float x)
{
    d[v] = __float2bfloat16(x);
}

/* dlogits[v] = e^(l[v] - m) k - [v == y] ds over the row, VEC values per step */
template <int VEC, typename TD>
__device__ __forceinline__ void grad_row(TD *drow, const float *row, int V, int y, float m,
                                         float k, float ds)
{
    if (VEC == 4) {
        const float4 *r4 = (const float4 *)row;
        for (int v = threadIdx.x; v < V / 4; v += blockDim.x) {
            const float4 l = r4[v];
            float4 d = make_float4(expf(l.x - m) * k, expf(l.y - m) * k, expf(l.z - m) * k,
                                   expf(l.w - m) * k);
            if (y / 4 == v) {
                const int j = y % 4;
                d.x -= j == 0 ? ds : 0.0f;
                d.y -= j == 1 ? ds : 0.0f;
                d.z -= j == 2 ? ds : 0.0f;
                d.w -= j == 3 ? ds : 0.0f;
            }
            mk_st4(drow + 4 * (size_t)v, d);
        }
    } else {
        for (int v = threadIdx.x; v < V; v += blockDim.x)
            store1(drow, v, expf(row[v] - m) * k - (v == y ? ds : 0.0f));
    }
}

template <int VEC, typename TD>
__global__ void cross_entropy_kernel(float *loss, TD *dlogits, const float *logits,
                                     const int32_t *targets, const float *weights, int V,
                                     float dscale)
{
    __shared__ float sm[32], ss[32];
    size_t t = blockIdx.x, o = t * V;
    int y = targets[t];
    if (y < 0) {
        if (threadIdx.x == 0)
            loss[t] = 0.0f;
        if (dlogits)
            for (int v = threadIdx.x; v < V; v += blockDim.x)
                store1(dlogits + o, v, 0.0f);
        return;
    }
    float m = -INFINITY, s = 0.0f;
    lse_row<VEC>(logits + o, V, m, s);
    for (int k = 16; k > 0; k >>= 1)
        lse_merge(m, s, __shfl_xor_sync(0xffffffffu, m, k), __shfl_xor_sync(0xffffffffu, s, k));
    int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    if (lane == 0) {
        sm[wid] = m;
        ss[wid] = s;
    }
    __syncthreads();
    m = -INFINITY;
    s = 0.0f;
    for (int w = 0; w < (int)(blockDim.x >> 5); w++)
        lse_merge(m, s, sm[w], ss[w]);
    float ly = logits[o + y];
    __syncthreads(); /* every thread has read l[y] before any writes dlogits */
    const float w = weights ? weights[t] : 1.0f, ds = w * dscale;
    if (threadIdx.x == 0)
        loss[t] = w * (m + logf(s) - ly);
    if (!dlogits)
        return;
    grad_row<VEC, TD>(dlogits + o, logits + o, V, y, m, ds / s, ds);
}

template <typename TD>
static void cross_entropy_launch(float *loss, TD *dlogits, const float *logits,
                                 const int32_t *targets, const float *weights, size_t T, int V,
                                 float dscale)
{
    const bool vec = V % 4 == 0 && (uintptr_t)logits % 16 == 0 &&
                     (uintptr_t)dlogits % (4 * sizeof(TD)) == 0;
    if (vec)
        cross_entropy_kernel<4, TD><<<(unsigned)T, CE_THREADS, 0, mk_cuda_stream()>>>(
            loss, dlogits, logits, targets, weights, V, dscale);
    else
        cross_entropy_kernel<1, TD><<<(unsigned)T, CE_THREADS, 0, mk_cuda_stream()>>>(
            loss, dlogits, logits, targets, weights, V, dscale);
    MK_LAUNCH_CHECK();
}

extern "C" void mk_cuda_cross_entropy(float *loss, float *dlogits, const float *logits,
                                      const int32_t *targets, const float *weights, size_t T,
                                      int V, float dscale, uint16_t *dlogits16)
{
    if (T == 0)
        return;
    if (dlogits16)
        cross_entropy_launch(loss, (__nv_bfloat16 *)dlogits16, logits, targets, weights, T, V,
                             dscale);
    else
        cross_entropy_launch(loss, dlogits, logits, targets, weights, T, V, dscale);
}
