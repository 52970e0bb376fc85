/* argmax.cu — CUDA argmax per row (contract: argmax.h). One block per row: each thread keeps
 * the first maximum of its strided slice, then the block reduces the (value, index) pairs,
 * preferring the larger value and, between equal values, the smaller index; NaN loses to any
 * number, so the result is the reference's first maximum whatever the reduction order.
 * A thread loads ARGMAX_UNROLL values of its slice before comparing any of them: with one load
 * per comparison the loop waited on every load in turn (a row of 50280 logits took ~90 us).
 */
#include "cuda_common.cuh"

#define ARGMAX_THREADS 1024
#define ARGMAX_UNROLL 8

/* does (v, i) beat (bv, bi)? */
__device__ __forceinline__ bool argmax_better(float v, int i, float bv, int bi)
{
    if (v != v)
        return false;
    if (bv != bv)
        return true;
    return v > bv || (v == bv && i < bi);
}

__global__ void argmax_rows_kernel(int32_t *ids, const float *x, int n)
{
    const float *row = x + (size_t)blockIdx.x * n;
    float bv = __int_as_float(0x7fc00000); /* NaN: anything real beats it */
    int bi = 0;
    for (int i0 = threadIdx.x; i0 < n; i0 += ARGMAX_UNROLL * ARGMAX_THREADS) {
        float v[ARGMAX_UNROLL];
        for (int u = 0; u < ARGMAX_UNROLL; u++) {
            const int i = i0 + u * ARGMAX_THREADS;
            v[u] = i < n ? __ldg(row + i) : __int_as_float(0x7fc00000); /* NaN never wins */
        }
        for (int u = 0; u < ARGMAX_UNROLL; u++)
            if (argmax_better(v[u], i0 + u * ARGMAX_THREADS, bv, bi)) {
                bv = v[u];
                bi = i0 + u * ARGMAX_THREADS;
            }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float v = __shfl_xor_sync(0xffffffffu, bv, o);
        int i = __shfl_xor_sync(0xffffffffu, bi, o);
        if (argmax_better(v, i, bv, bi)) {
            bv = v;
            bi = i;
        }
    }
    __shared__ float warp_v[ARGMAX_THREADS / 32];
    __shared__ int warp_i[ARGMAX_THREADS / 32];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    if (lane == 0) {
        warp_v[warp] = bv;
        warp_i[warp] = bi;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < ARGMAX_THREADS / 32; w++)
            if (argmax_better(warp_v[w], warp_i[w], bv, bi)) {
                bv = warp_v[w];
                bi = warp_i[w];
            }
        ids[blockIdx.x] = bi;
    }
}

extern "C" void mk_cuda_argmax_rows(int32_t *ids, const float *x, size_t rows, int n)
{
    if (rows == 0)
        return;
    argmax_rows_kernel<<<(unsigned)rows, ARGMAX_THREADS, 0, mk_cuda_stream()>>>(ids, x, n);
    MK_LAUNCH_CHECK();
}
