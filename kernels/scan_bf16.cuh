/* scan_bf16.cuh — the selective scan with bf16 token tensors (u, delta, z, B, C, out and the
 * gradients du, ddelta, dz in bf16; state, A_log, D, delta_bias, dB, dC and the parameter
 * gradients in fp32; fp32 arithmetic). Same math, layouts and accumulate rules as scan.h; used
 * by the benchmark (bench/bench_scan.c) against the official bf16 kernels. Plain C header:
 * bf16 values travel as uint16_t (the bit pattern of __nv_bfloat16).
 */
#ifndef MK_SCAN_BF16_CUH
#define MK_SCAN_BF16_CUH
#include <stdint.h>
#include <cuda_runtime.h>
#include "grad_write.h"

#ifdef __cplusplus
extern "C" {
#endif

struct mk_scan_in_bf16 {
    const uint16_t *u, *delta, *z, *Bm, *Cm; /* as struct mk_scan_in, in bf16 */
    const float *delta_bias, *A_log, *Dskip;
    const uint8_t *reset;
    int B, L, E, N, ld_bc, ld_z;
};

struct mk_scan_grad_bf16 {
    uint16_t *du, *ddelta, *dz;                           /* bf16, as `mode` says */
    float *ddelta_bias, *dA_log, *dB, *dC, *dD, *dstate0; /* fp32, accumulate */
    enum mk_grad_write mode;                              /* of du, ddelta, dz */
};

void mk_cuda_scan_fwd_bf16(uint16_t *out, float *state, const struct mk_scan_in_bf16 *in);
void mk_cuda_scan_bwd_bf16(const struct mk_scan_grad_bf16 *g, const uint16_t *dout,
                           const float *state0, const struct mk_scan_in_bf16 *in);

/* The backend's stream (mk_ops_cuda must have succeeded), for timing with CUDA events. */
cudaStream_t mk_cuda_bench_stream(void);

#ifdef __cplusplus
}
#endif
#endif /* MK_SCAN_BF16_CUH */
