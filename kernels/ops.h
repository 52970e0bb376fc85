/* ops.h — the op table: one set of kernels per backend (CPU reference, CUDA), chosen once when
 * a model is created. Each op's contract (shapes, strides, the formula) is in its own header
 * (embedding.h, rmsnorm.h, linear.h, conv1d.h, scan.h, cross_entropy.h, adamw.h, argmax.h,
 * pool.h); the table entries take the same arguments in the same order, as float, with every
 * pointer in the backend's memory (host memory for the CPU, device memory for CUDA). Kernels
 * run in order on the backend's one stream; `sync` waits for them and reports the first error.
 */
#ifndef MK_OPS_H
#define MK_OPS_H

#include <stddef.h>
#include <stdint.h>
#include "mambakit.h"
#include "real.h"
#include "embedding.h"
#include "rmsnorm.h"
#include "linear.h"
#include "conv1d.h"
#include "scan.h"
#include "cross_entropy.h"
#include "adamw.h"
#include "argmax.h"
#include "pool.h"

#ifdef MK_REAL_DOUBLE
#error "ops.h is the float op table; the double kernels are for tests only"
#endif

struct mk_ops {
    const char *name; /* "cpu" or "cuda" */

    /* memory of the backend */
    mk_status (*alloc)(void **p, size_t bytes);
    void (*free)(void *p);
    mk_status (*upload)(void *dst, const void *host_src, size_t bytes);
    mk_status (*download)(void *host_dst, const void *src, size_t bytes);
    mk_status (*zero)(void *p, size_t bytes);
    mk_status (*copy)(void *dst, const void *src, size_t bytes); /* backend to backend */
    mk_status (*sync)(void);

    /* kernels: see each contract header */
    void (*embedding_fwd)(float *out, const int32_t *ids, const float *wte, size_t T, int D);
    void (*embedding_bwd)(float *dwte, const float *dout, const int32_t *ids, size_t T, int D);
    void (*add_rmsnorm_fwd)(float *resid_out, float *normed, float *rstd, const float *resid_in,
                            const float *x, const float *w, size_t T, int D, float eps,
                            uint16_t *normed16, const uint16_t *x16);
    void (*rmsnorm_bwd)(float *dresid, float *dw, const float *dnormed, const float *resid,
                        const float *rstd, const float *w, size_t T, int D, uint16_t *dresid16);
    void (*linear_fwd)(float *out, const float *in, int ld_in, const float *W, const float *bias,
                       size_t M, int K, int N, const uint16_t *in16, uint16_t *out16);
    void (*linear_bwd)(float *din, int ld_din, float *dW, float *dbias, const float *dout,
                       const float *in, int ld_in, const float *W, size_t M, int K, int N,
                       enum mk_grad_write din_mode, const uint16_t *dout16,
                       const uint16_t *in16, uint16_t *din16);
    void (*conv1d_fwd)(float *out, float *state, const float *x, int ld_x, const float *w,
                       const float *bias, const uint8_t *reset, int B, int L, int E, int K,
                       uint16_t *out16, const uint16_t *x16);
    void (*conv1d_bwd)(float *dx, int ld_dx, float *dw, float *dbias, const float *dout,
                       const float *state, const float *x, int ld_x, const float *w,
                       const float *bias, const uint8_t *reset, int B, int L, int E, int K,
                       enum mk_grad_write dx_mode, uint16_t *dx16, const uint16_t *x16);
    void (*scan_fwd)(float *out, float *state, const struct mk_scan_in *in);
    void (*scan_bwd)(const struct mk_scan_grad *g, const float *dout, const float *state0,
                     const struct mk_scan_in *in);
    void (*cross_entropy)(float *loss, float *dlogits, const float *logits,
                          const int32_t *targets, const float *weights, size_t T, int V,
                          float dscale, uint16_t *dlogits16);
    void (*adamw)(float *p, float *m, float *v, const float *grad, size_t n,
                  const struct mk_adamw_hp *hp);
    double (*sumsq)(const float *x, size_t n);

    /* CUDA graphs (NULL on the CPU): graph_begin starts recording the kernels issued on the
     * backend's stream instead of running them; graph_end stops and instantiates what was
     * recorded into *graph (on failure *graph is NULL, nothing is kept and the backend works as
     * before); graph_launch replays it on the stream, with the pointers it was recorded with;
     * graph_free destroys it. No memory allocation, upload or download may be recorded. */
    mk_status (*graph_begin)(void);
    mk_status (*graph_end)(void **graph);
    mk_status (*graph_launch)(void *graph);
    void (*graph_free)(void *graph);

    /* GEMM precision of the backend (NULL on the CPU, which has no such mode): 0 plain fp32
     * (CUBLAS_COMPUTE_32F, the default, matches the CPU to fp32 rounding), 1 bf16 tensor-core
     * products (CUBLAS_COMPUTE_32F_FAST_16BF: fp32 storage and accumulation, the inputs of each
     * product rounded to bf16, as torch.autocast does to matmuls). Backend-wide: it applies to
     * every linear_fwd / linear_bwd issued afterwards; a CUDA graph keeps the mode it was
     * recorded with. */
    mk_status (*set_gemm_precision)(int bf16);

    /* Greedy decoding's pick per row of logits (argmax.h), so a greedy step reads back ids
     * instead of logits. */
    void (*argmax_rows)(int32_t *ids, const float *x, size_t rows, int n);

    /* bf16 copies of a model's weight matrices for the bf16 GEMM mode (NULL on the CPU):
     * weights_bf16_set registers the n fp32 matrices W[i] (numel[i] floats each, backend
     * memory) of `owner` and allocates their copies, stale (n = 0: frees the owner's copies;
     * another owner's registration replaces them); weights_bf16_stale marks them stale (the
     * parameters may have changed); weights_bf16_refresh rounds stale copies again, on the
     * stream. linear_fwd / linear_bwd in the bf16 mode read the fresh copy of a registered W
     * instead of rounding W per call; a stale copy is never read. */
    mk_status (*weights_bf16_set)(const void *owner, const float *const *W, const size_t *numel,
                                  int n);
    void (*weights_bf16_stale)(const void *owner);
    void (*weights_bf16_refresh)(const void *owner);
    /* A classifier's pooling of its features over each sequence and its backward (pool.h). */
    void (*pool_fwd)(float *pooled, const float *feat, const int32_t *len, int B, int L, int D,
                     int last);
    void (*pool_bwd)(float *dfeat, const float *dpooled, const int32_t *len, int B, int L, int D,
                     int last);
};

/* The CPU reference backend (always available). */
const struct mk_ops *mk_ops_cpu(void);
/* The CUDA backend on device `index`; fails with MK_ERR_UNSUPPORTED in a build without CUDA
 * and MK_ERR_DEVICE when there is no such device. */
mk_status mk_ops_cuda(const struct mk_ops **out, int index);
/* Number of CUDA devices (0 without CUDA or without a device), and a one-line description. */
int mk_cuda_device_count(void);
mk_status mk_cuda_device_name(int index, char *buf, size_t len);
/* Device memory in use and in all on device `index` (cudaMemGetInfo: every allocation of the
 * process, the CUDA context and library workspaces included), in bytes. */
mk_status mk_cuda_mem_info(int index, size_t *used, size_t *total);

#endif /* MK_OPS_H */
