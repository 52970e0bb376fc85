/* dist_bf16.cu — the conversions of the bf16 all-reduce (lib/dist_nccl.c): fp32 gradients
 * rounded to bf16 (round to nearest, ties to even, as __float2bfloat16_rn; NaN stays NaN)
 * before ncclAllReduce(ncclBfloat16), and the bf16 sums widened back to fp32 (exact).
 * Compiled in every CUDA build; only dist_nccl.c calls it (with NCCL).
 */
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>

__global__ static void pack_kernel(__nv_bfloat16 *dst, const float *src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

__global__ static void unpack_kernel(float *dst, const __nv_bfloat16 *src, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __bfloat162float(src[i]);
}

/* enough blocks of 256 threads for n elements, at most 65535 (the loops stride over the rest) */
static unsigned blocks_for(size_t n)
{
    size_t b = (n + 255) / 256;
    return (unsigned)(b < 1 ? 1 : b > 65535 ? 65535 : b);
}

extern "C" int mk_dist_bf16_pack(unsigned short *dst, const float *src, size_t n, void *stream)
{
    pack_kernel<<<blocks_for(n), 256, 0, (cudaStream_t)stream>>>((__nv_bfloat16 *)dst, src, n);
    return (int)cudaGetLastError();
}

extern "C" int mk_dist_bf16_unpack(float *dst, const unsigned short *src, size_t n, void *stream)
{
    unpack_kernel<<<blocks_for(n), 256, 0, (cudaStream_t)stream>>>(
        dst, (const __nv_bfloat16 *)src, n);
    return (int)cudaGetLastError();
}
