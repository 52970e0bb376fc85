/* pool.cu — CUDA pooling of a classifier's features (contract: pool.h).
 *
 * Mean, two kernels: pool_runs_kernel sums runs of POOL_RUN steps of one row, a block per
 * (32 columns, run, row) with 8 warps each taking every 8th step of the run (a warp reads 32
 * consecutive floats of a step), the 8 partial sums added in a fixed order in shared memory;
 * pool_mean_kernel adds a row's runs in order, in double, and divides by len_b. Last: one
 * thread per (b, d) copies feat[b, len_b - 1, d]. Backward: one thread per element of dfeat,
 * grid-stride. No atomics: the result does not depend on scheduling.
 */
#include "cuda_common.cuh"

#define POOL_RUN 256  /* steps summed in fp32 before the runs are added in double */
#define POOL_COLS 32  /* columns of a block (one warp wide) */
#define POOL_WARPS 8

__global__ void pool_runs_kernel(float *part, const float *feat, const int32_t *len, int L, int D,
                                 int runs)
{
    __shared__ float acc[POOL_WARPS][POOL_COLS];
    const int d = blockIdx.x * POOL_COLS + threadIdx.x, run = blockIdx.y, b = blockIdx.z;
    const int t0 = run * POOL_RUN, t1 = min(len[b], t0 + POOL_RUN);
    float s = 0.0f;
    if (d < D)
        for (int t = t0 + threadIdx.y; t < t1; t += POOL_WARPS)
            s += feat[((size_t)b * L + t) * D + d];
    acc[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y || d >= D)
        return;
    for (int w = 1; w < POOL_WARPS; w++)
        s += acc[w][threadIdx.x];
    part[((size_t)b * runs + run) * D + d] = s;
}

__global__ void pool_mean_kernel(float *pooled, const float *part, const int32_t *len, int B,
                                 int D, int runs)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)B * D)
        return;
    const int b = (int)(i / D), d = (int)(i % D), n = len[b];
    const int used = (n + POOL_RUN - 1) / POOL_RUN; /* runs past len_b were not written */
    double s = 0.0;
    for (int r = 0; r < used; r++)
        s += part[((size_t)b * runs + r) * D + d];
    pooled[i] = (float)(s / n);
}

__global__ void pool_last_kernel(float *pooled, const float *feat, const int32_t *len, int B,
                                 int L, int D)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= (size_t)B * D)
        return;
    const int b = (int)(i / D), d = (int)(i % D);
    pooled[i] = feat[((size_t)b * L + len[b] - 1) * D + d];
}

__global__ void pool_bwd_kernel(float *dfeat, const float *dpooled, const int32_t *len, int L,
                                int D, size_t n, int last)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t bt = i / D;
        const int d = (int)(i % D), t = (int)(bt % L), b = (int)(bt / L), m = len[b];
        const float scale = last ? 1.0f : 1.0f / (float)m; /* the reference's product */
        dfeat[i] = (last ? t == m - 1 : t < m) ? dpooled[(size_t)b * D + d] * scale : 0.0f;
    }
}

extern "C" void mk_cuda_pool_fwd(float *pooled, const float *feat, const int32_t *len, int B,
                                 int L, int D, int last)
{
    const size_t n = (size_t)B * D;
    if (n == 0 || L == 0)
        return;
    cudaStream_t st = mk_cuda_stream();
    if (last) {
        pool_last_kernel<<<mk_cuda_blocks(n, 256), 256, 0, st>>>(pooled, feat, len, B, L, D);
        MK_LAUNCH_CHECK();
        return;
    }
    const int runs = (L + POOL_RUN - 1) / POOL_RUN;
    float *part = (float *)mk_cuda_scratch((size_t)B * runs * D * sizeof(float));
    if (!part)
        return;
    dim3 grid((D + POOL_COLS - 1) / POOL_COLS, runs, B), block(POOL_COLS, POOL_WARPS);
    pool_runs_kernel<<<grid, block, 0, st>>>(part, feat, len, L, D, runs);
    MK_LAUNCH_CHECK();
    pool_mean_kernel<<<mk_cuda_blocks(n, 256), 256, 0, st>>>(pooled, part, len, B, D, runs);
    MK_LAUNCH_CHECK();
    mk_cuda_scratch_free(part);
}

extern "C" void mk_cuda_pool_bwd(float *dfeat, const float *dpooled, const int32_t *len, int B,
                                 int L, int D, int last)
{
    const size_t n = (size_t)B * L * D;
    if (n == 0)
        return;
    pool_bwd_kernel<<<mk_cuda_blocks(n, 256), 256, 0, mk_cuda_stream()>>>(dfeat, dpooled, len, L,
                                                                          D, n, last);
    MK_LAUNCH_CHECK();
}
