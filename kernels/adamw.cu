/* adamw.cu — CUDA AdamW update and squared norm (contract: adamw.h).
 *
 * AdamW: one thread per element, with the scalars formed once on the host exactly as the CPU
 * reference forms them (so both round alike). sumsq: fixed SUMSQ_BLOCKS blocks, each sums
 * a grid-stride share in double and reduces it in a fixed tree; one thread then adds the block
 * partials in order — the same result on every run.
 */
#include <math.h>
#include "cuda_common.cuh"

#define SUMSQ_BLOCKS 264
#define SUMSQ_THREADS 256

__global__ void adamw_kernel(float *p, float *m, float *v, const float *grad, size_t n, float b1,
                             float b2, float c1, float c2, float eps, float gs, float decay,
                             float step, float bc2s)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float g = grad[i] * gs;
        float mi = b1 * m[i] + c1 * g;
        float vi = b2 * v[i] + c2 * g * g;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * (mi / (sqrtf(vi) / bc2s + eps));
    }
}

extern "C" void mk_cuda_adamw(float *p, float *m, float *v, const float *grad, size_t n,
                              const struct mk_adamw_hp *hp)
{
    if (n == 0)
        return;
    float c1 = (float)(1 - (double)hp->beta1), c2 = (float)(1 - (double)hp->beta2);
    float decay = (float)(1 - (double)hp->lr * hp->weight_decay);
    float step = (float)((double)hp->lr / hp->bc1), bc2s = (float)sqrt((double)hp->bc2);
    adamw_kernel<<<mk_cuda_blocks(n, 256), 256, 0, mk_cuda_stream()>>>(
        p, m, v, grad, n, hp->beta1, hp->beta2, c1, c2, hp->eps, hp->grad_scale, decay, step,
        bc2s);
    MK_LAUNCH_CHECK();
}

__global__ void sumsq_kernel(double *part, const float *x, size_t n)
{
    __shared__ double red[SUMSQ_THREADS];
    double s = 0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        s += (double)x[i] * x[i];
    red[threadIdx.x] = s;
    __syncthreads();
    for (int k = SUMSQ_THREADS / 2; k > 0; k >>= 1) {
        if ((int)threadIdx.x < k)
            red[threadIdx.x] += red[threadIdx.x + k];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        part[blockIdx.x] = red[0];
}

__global__ void sumsq_final_kernel(double *part, int nb)
{
    double s = 0;
    for (int b = 0; b < nb; b++)
        s += part[b];
    part[nb] = s;
}

extern "C" double mk_cuda_sumsq(const float *x, size_t n)
{
    double *part = (double *)mk_cuda_scratch((SUMSQ_BLOCKS + 1) * sizeof(double)), s = 0;
    if (!part)
        return NAN;
    cudaStream_t st = mk_cuda_stream();
    sumsq_kernel<<<SUMSQ_BLOCKS, SUMSQ_THREADS, 0, st>>>(part, x, n);
    MK_LAUNCH_CHECK();
    sumsq_final_kernel<<<1, 1, 0, st>>>(part, SUMSQ_BLOCKS);
    MK_LAUNCH_CHECK();
    if (MK_CK(cudaMemcpyAsync(&s, part + SUMSQ_BLOCKS, sizeof s, cudaMemcpyDeviceToHost, st)) ||
        MK_CK(cudaStreamSynchronize(st)))
        s = NAN;
    mk_cuda_scratch_free(part);
    return s;
}
