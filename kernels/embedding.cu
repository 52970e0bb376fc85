/* embedding.cu — CUDA token embedding (contract: embedding.h).
 *
 * Forward: one thread per output element, out[t, d] = wte[ids[t], d].
 * Backward, deterministic without atomics: the pairs (ids[t], t) are sorted by id with a
 * stable radix sort (cub::DeviceRadixSort, so equal ids keep t ascending); then one block per
 * sorted position that starts a run of equal ids adds that run's rows, in t order, onto
 * dwte[id, :] — the same order of additions as the CPU reference (dwte += dout[t] for t = 0..).
 */
#include <cub/device/device_radix_sort.cuh>
#include "cuda_common.cuh"

__global__ void embedding_fwd_kernel(float *out, const int32_t *ids, const float *wte, size_t T,
                                     int D)
{
    size_t n = T * (size_t)D;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t t = i / D;
        int d = (int)(i - t * D);
        out[i] = wte[(size_t)ids[t] * D + d];
    }
}

extern "C" void mk_cuda_embedding_fwd(float *out, const int32_t *ids, const float *wte, size_t T,
                                      int D)
{
    embedding_fwd_kernel<<<mk_cuda_blocks(T * D, 256), 256, 0, mk_cuda_stream()>>>(out, ids, wte,
                                                                                  T, D);
    MK_LAUNCH_CHECK();
}

__global__ void iota_kernel(int32_t *v, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        v[i] = i;
}

/* Block j: if sorted position j starts a run of id, dwte[id, :] += dout[t, :] over the run. */
__global__ void embedding_runs_kernel(float *dwte, const float *dout, const int32_t *key,
                                      const int32_t *tok, int T, int D)
{
    int j = blockIdx.x;
    int id = key[j];
    if (j > 0 && key[j - 1] == id)
        return;
    int end = j + 1;
    while (end < T && key[end] == id)
        end++;
    for (int d = threadIdx.x; d < D; d += blockDim.x) {
        float s = dwte[(size_t)id * D + d];
        for (int r = j; r < end; r++)
            s += dout[(size_t)tok[r] * D + d];
        dwte[(size_t)id * D + d] = s;
    }
}

extern "C" void mk_cuda_embedding_bwd(float *dwte, const float *dout, const int32_t *ids,
                                      size_t T, int D)
{
    if (T == 0)
        return;
    cudaStream_t s = mk_cuda_stream();
    int n = (int)T;
    size_t tmp_bytes = 0;
    if (MK_CK(cub::DeviceRadixSort::SortPairs(NULL, tmp_bytes, ids, (int32_t *)NULL,
                                              (const int32_t *)NULL, (int32_t *)NULL, n, 0, 32, s)))
        return;
    size_t ints = 3 * (size_t)n;
    char *scr = (char *)mk_cuda_scratch(ints * sizeof(int32_t) + tmp_bytes);
    if (!scr)
        return;
    int32_t *key = (int32_t *)scr, *tok_in = key + n, *tok = tok_in + n;
    void *tmp = scr + ints * sizeof(int32_t);
    iota_kernel<<<mk_cuda_blocks(n, 256), 256, 0, s>>>(tok_in, n);
    MK_LAUNCH_CHECK();
    if (!MK_CK(cub::DeviceRadixSort::SortPairs(tmp, tmp_bytes, ids, key, tok_in, tok, n, 0, 32,
                                               s))) {
        embedding_runs_kernel<<<n, D < 256 ? 128 : 256, 0, s>>>(dwte, dout, key, tok, n, D);
        MK_LAUNCH_CHECK();
    }
    mk_cuda_scratch_free(scr);
}
