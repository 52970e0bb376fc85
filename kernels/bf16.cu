/* bf16.cu — rounding fp32 to bf16 for the bf16 GEMM mode, and the bf16 copies of a model's
 * weight matrices (ops.h: weights_bf16_set / _stale / _refresh).
 *
 * Rounding: dst[r, c] = bf16(src[r, c]), round to nearest even (__float2bfloat16_rn), the
 * rows of src with stride ld, dst packed [rows, cols].
 *
 * Weight copies: in the bf16 mode every product rounds its operands; a weight matrix is the
 * same from one product to the next until the parameters change (an optimizer step, a load),
 * so rounding it per call (6 bytes of traffic per weight, for the LM head 12 times a training
 * step in its chunks, and per token when decoding) is wasted. A model registers its matrices
 * once (one allocation for all copies); linear.cu and gemv.cu ask mk_cuda_weight_bf16(W) for
 * the copy of W and get it only while it is fresh: the model marks the copies stale whenever
 * its parameters may have changed and refreshes them (rounds them again, in place, on the
 * stream) before its next product, so a stale copy is never read — a product that finds
 * one rounds W itself, as for a W that is not registered (a classifier head, a test's
 * buffer). One owner at a time: a second model's registration replaces the first's, whose
 * products then round per call. MK_NO_BF16_WEIGHTS=1 (any value but 0) turns the copies off
 * (for comparisons).
 */
#include <stdlib.h>
#include <string.h>
#include <cuda_bf16.h>
#include "cuda_common.cuh"

/* dst [rows, cols] packed = src [rows, cols] with row stride ld, rounded; VEC = 4: four values
 * a thread (cols, ld and both pointers multiples of 4 elements). The rows x cols / VEC items
 * are one flat range over the whole grid (item i: row i / (cols / VEC)), so narrow rows (dt_proj's
 * 48 inputs) keep every thread busy and one long row (a weight matrix) spreads over every
 * block; a block per row with 16 blocks across it left 244 of 256 threads idle on 48-wide rows
 * and a 2^20-value row to 16 blocks (ncu, seventh session: 14.6 us and 10.6 us a call). */
template <int VEC>
__global__ void to_bf16_kernel(__nv_bfloat16 *dst, const float *src, int rows, int cols, int ld)
{
    const int per_row = cols / VEC;
    const size_t n = (size_t)rows * per_row, step = (size_t)gridDim.x * blockDim.x;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += step) {
        const size_t r = i / per_row;
        const int c = (int)(i - r * per_row) * VEC;
        if (VEC == 4) {
            mk_st4(dst + r * cols + c, *(const float4 *)(src + r * ld + c));
        } else {
            dst[r * cols + c] = __float2bfloat16_rn(src[r * ld + c]);
        }
    }
}

void mk_cuda_to_bf16(__nv_bfloat16 *dst, const float *src, int rows, int cols, int ld)
{
    if (rows <= 0 || cols <= 0)
        return;
    const bool vec = cols % 4 == 0 && ld % 4 == 0 && (uintptr_t)src % 16 == 0 &&
                     (uintptr_t)dst % 8 == 0;
    const size_t items = (size_t)rows * (cols / (vec ? 4 : 1));
    /* at most 32 blocks of 256 an SM's worth, each thread then loops */
    const unsigned blocks = mk_cuda_blocks(items, 256);
    const unsigned cap = 32u * (unsigned)mk_cuda_sm_count();
    const unsigned grid = blocks < cap ? blocks : cap;
    if (vec)
        to_bf16_kernel<4><<<grid, 256, 0, mk_cuda_stream()>>>(dst, src, rows, cols, ld);
    else
        to_bf16_kernel<1><<<grid, 256, 0, mk_cuda_stream()>>>(dst, src, rows, cols, ld);
    MK_LAUNCH_CHECK();
}

__nv_bfloat16 *mk_cuda_bf16_copy(const float *src, int rows, int cols, int ld)
{
    __nv_bfloat16 *d = (__nv_bfloat16 *)mk_cuda_scratch((size_t)rows * cols * sizeof *d);
    if (d)
        mk_cuda_to_bf16(d, src, rows, cols, ld);
    return d;
}

/* ---- the registered weight copies ---------------------------------------------------------- */

struct weight_copy {
    const float *W;
    __nv_bfloat16 *W16;
    size_t numel;
};

static struct {
    const void *owner; /* NULL: nothing registered */
    struct weight_copy *tab;
    int n, stale;
    void *block; /* every copy, each 256-byte aligned */
} g_w16;

static void copies_free(void)
{
    if (g_w16.block)
        MK_CK(cudaFree(g_w16.block));
    free(g_w16.tab);
    memset(&g_w16, 0, sizeof g_w16);
}

extern "C" mk_status mk_cuda_weights_bf16_set(const void *owner, const float *const *W,
                                              const size_t *numel, int n)
{
    if (n <= 0) { /* unregister, if it is the owner's */
        if (owner == g_w16.owner)
            copies_free();
        return MK_OK;
    }
    const char *off = getenv("MK_NO_BF16_WEIGHTS");
    if (off && *off && strcmp(off, "0") != 0)
        return MK_OK;
    if (owner == g_w16.owner && n == g_w16.n) { /* the same matrices again: keep the memory */
        int same = 1;
        for (int i = 0; i < n && same; i++)
            same = g_w16.tab[i].W == W[i] && g_w16.tab[i].numel == numel[i];
        if (same) {
            g_w16.stale = 1;
            return MK_OK;
        }
    }
    copies_free();
    size_t bytes = 0;
    for (int i = 0; i < n; i++)
        bytes += (numel[i] * sizeof(__nv_bfloat16) + 255) / 256 * 256;
    if (!(g_w16.tab = (struct weight_copy *)calloc((size_t)n, sizeof *g_w16.tab)))
        return mk_fail(MK_ERR_NOMEM, "out of memory for the bf16 weight table");
    mk_status st = MK_CK(cudaMalloc(&g_w16.block, bytes));
    if (st != MK_OK) {
        copies_free();
        return mk_fail(st, "cannot allocate %.1f MiB of GPU memory for the bf16 weight copies",
                       bytes / 1048576.0);
    }
    char *p = (char *)g_w16.block;
    for (int i = 0; i < n; i++) {
        g_w16.tab[i] = (struct weight_copy){W[i], (__nv_bfloat16 *)p, numel[i]};
        p += (numel[i] * sizeof(__nv_bfloat16) + 255) / 256 * 256;
    }
    g_w16.owner = owner;
    g_w16.n = n;
    g_w16.stale = 1;
    return MK_OK;
}

extern "C" void mk_cuda_weights_bf16_stale(const void *owner)
{
    if (owner == g_w16.owner)
        g_w16.stale = 1;
}

/* A matrix is rounded as one row of numel values (the copy is packed as W is). */
extern "C" void mk_cuda_weights_bf16_refresh(const void *owner)
{
    if (owner != g_w16.owner || !g_w16.owner || !g_w16.stale)
        return;
    for (int i = 0; i < g_w16.n; i++) {
        const struct weight_copy *c = &g_w16.tab[i];
        const size_t row = 1u << 20; /* as rows of 2^20 values (int counts for any numel) */
        const size_t rows = c->numel / row, rest = c->numel - rows * row;
        if (rows)
            mk_cuda_to_bf16(c->W16, c->W, (int)rows, (int)row, (int)row);
        if (rest)
            mk_cuda_to_bf16(c->W16 + rows * row, c->W + rows * row, 1, (int)rest, (int)rest);
    }
    g_w16.stale = 0;
}

const __nv_bfloat16 *mk_cuda_weight_bf16(const float *W)
{
    if (g_w16.stale)
        return NULL;
    for (int i = 0; i < g_w16.n; i++)
        if (g_w16.tab[i].W == W)
            return g_w16.tab[i].W16;
    return NULL;
}
