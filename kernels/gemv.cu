/* gemv.cu — nn.Linear forward for a few rows (M <= MK_GEMV_MAX_ROWS: the decoding step), in
 * place of cuBLAS (contract: linear.h, forward):
 *   out[m, n] = bias[n] + sum_k W[n, k] in[m, k]
 * Decoding is bound by reading W once per token, so each weight row is read once for all M
 * inputs: `split` warps share row n, each summing every split-th 32-lane stretch of k (as
 * float4 when the strides and pointers allow), then one warp adds the split partials in
 * order. split grows when N is small (x_proj: 80 rows) so that enough warps read at once.
 * W is fp32, or in the bf16 mode the model's kept bf16 copy of it (bf16.cu: half the bytes
 * of the read that bounds the step); the products and sums are fp32 in both modes (the bf16
 * mode allows bf16 error in both operands; this rounds only W). One kernel, no bias pass, no
 * workspace: it is recorded into the step's graph.
 */
#include <stdint.h>
#include "cuda_common.cuh"

#define GEMV_WARPS 8

/* one weight at k (four from k = 4 k4: mk_ld4, cuda_common.cuh) */
__device__ __forceinline__ float load1(const float *w, int k)
{
    return __ldg(w + k);
}
__device__ __forceinline__ float load1(const __nv_bfloat16 *w, int k)
{
    return __bfloat162float(w[k]);
}

template <int M, typename TW>
__global__ void __launch_bounds__(GEMV_WARPS * 32)
gemv_kernel(float *out, const float *in, int ld_in, const TW *W, const float *bias, int K,
            int N, int split, int vec)
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int n = blockIdx.x * (GEMV_WARPS / split) + warp / split, part = warp % split;
    float acc[M];
#pragma unroll
    for (int m = 0; m < M; m++)
        acc[m] = 0.0f;
    if (n < N) {
        const TW *w = W + (size_t)n * K;
        if (vec) {
#pragma unroll 4
            for (int k4 = part * 32 + lane; k4 < K / 4; k4 += 32 * split) {
                const float4 a = mk_ld4(w + 4 * (size_t)k4);
#pragma unroll
                for (int m = 0; m < M; m++) {
                    const float4 x = __ldg((const float4 *)(in + (size_t)m * ld_in) + k4);
                    acc[m] += a.x * x.x + a.y * x.y + a.z * x.z + a.w * x.w;
                }
            }
        } else {
#pragma unroll 4
            for (int k = part * 32 + lane; k < K; k += 32 * split) {
                const float a = load1(w, k);
#pragma unroll
                for (int m = 0; m < M; m++)
                    acc[m] += a * __ldg(in + (size_t)m * ld_in + k);
            }
        }
    }
    __shared__ float partial[GEMV_WARPS][M];
#pragma unroll
    for (int m = 0; m < M; m++) {
        const float s = mk_warp_sum(acc[m]);
        if (lane == 0)
            partial[warp][m] = s;
    }
    __syncthreads();
    if (n < N && part == 0 && lane < M) {
        float s = bias ? bias[n] : 0.0f;
        for (int p = 0; p < split; p++)
            s += partial[warp + p][lane];
        out[(size_t)lane * N + n] = s;
    }
}

/* warps per output row: enough rows in flight to cover the GPU (~32 warps per SM), never more
 * warps than 32-lane stretches of k */
static int gemv_split(int K, int N)
{
    const int want_warps = 32 * mk_cuda_sm_count();
    int split = 1;
    while (split < GEMV_WARPS && (long)N * split < want_warps && 32 * 2 * split <= K)
        split *= 2;
    return split;
}

template <int M, typename TW>
static void gemv_launch(float *out, const float *in, int ld_in, const TW *W, const float *bias,
                        int K, int N)
{
    const int split = gemv_split(K, N), rows = GEMV_WARPS / split;
    const int vec = K % 4 == 0 && ld_in % 4 == 0 && (uintptr_t)W % (4 * sizeof(TW)) == 0 &&
                    (uintptr_t)in % 16 == 0;
    gemv_kernel<M, TW><<<(N + rows - 1) / rows, GEMV_WARPS * 32, 0, mk_cuda_stream()>>>(
        out, in, ld_in, W, bias, K, N, split, vec);
    MK_LAUNCH_CHECK();
}

template <typename TW>
static void gemv_rows(float *out, const float *in, int ld_in, const TW *W, const float *bias,
                      int M, int K, int N)
{
    switch (M) {
    case 1: gemv_launch<1>(out, in, ld_in, W, bias, K, N); break;
    case 2: gemv_launch<2>(out, in, ld_in, W, bias, K, N); break;
    case 3: gemv_launch<3>(out, in, ld_in, W, bias, K, N); break;
    case 4: gemv_launch<4>(out, in, ld_in, W, bias, K, N); break;
    case 5: gemv_launch<5>(out, in, ld_in, W, bias, K, N); break;
    case 6: gemv_launch<6>(out, in, ld_in, W, bias, K, N); break;
    case 7: gemv_launch<7>(out, in, ld_in, W, bias, K, N); break;
    default: gemv_launch<8>(out, in, ld_in, W, bias, K, N); break;
    }
}

extern "C" void mk_cuda_gemv_fwd(float *out, const float *in, int ld_in, const float *W,
                                 const __nv_bfloat16 *W16, const float *bias, int M, int K, int N)
{
    if (W16)
        gemv_rows(out, in, ld_in, W16, bias, M, K, N);
    else
        gemv_rows(out, in, ld_in, W, bias, M, K, N);
}
