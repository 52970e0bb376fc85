/* cross_entropy.cu — CUDA softmax cross-entropy fused with its gradient
 * (contract: cross_entropy.h). One block per token row: one read of the row gives each
 * thread an online (max m, sum s of exp(l - m)) pair; the pairs are merged across the block
 * ((m1,s1) + (m2,s2) = (M, s1 e^(m1-M) + s2 e^(m2-M)), M = max(m1, m2)); a second read writes
 *   dlogits[v] = w dscale (exp(l[v] - M) / S - [v == y]),   loss = w (M + log S - l[y]),
 * with w the token's weight (1 without weights).
 * dlogits may alias logits: each element is read and then written by the same thread.
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

__global__ void cross_entropy_kernel(float *loss, float *dlogits, const float *logits,
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
                dlogits[o + v] = 0.0f;
        return;
    }
    float m = -INFINITY, s = 0.0f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float l = logits[o + v];
        if (l > m) {
            s = s * expf(m - l) + 1.0f;
            m = l;
        } else {
            s += expf(l - m);
        }
    }
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
    float k = ds / s;
    for (int v = threadIdx.x; v < V; v += blockDim.x)
        dlogits[o + v] = expf(logits[o + v] - m) * k - (v == y ? ds : 0.0f);
}

extern "C" void mk_cuda_cross_entropy(float *loss, float *dlogits, const float *logits,
                                      const int32_t *targets, const float *weights, size_t T,
                                      int V, float dscale)
{
    if (T == 0)
        return;
    cross_entropy_kernel<<<(unsigned)T, CE_THREADS, 0, mk_cuda_stream()>>>(
        loss, dlogits, logits, targets, weights, V, dscale);
    MK_LAUNCH_CHECK();
}
