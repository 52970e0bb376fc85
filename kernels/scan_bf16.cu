/* scan_bf16.cu — the bf16 variant of the selective scan (scan_bf16.cuh): the kernels of
 * scan_kernels.cuh instantiated for __nv_bfloat16 token tensors.
 */
#include "scan_kernels.cuh"
#include "scan_bf16.cuh"

typedef __nv_bfloat16 bf16;

static scan_args<bf16> scan_args_bf16(const struct mk_scan_in_bf16 *in)
{
    scan_args<bf16> a = {(const bf16 *)in->u, (const bf16 *)in->delta, (const bf16 *)in->z,
                         (const bf16 *)in->Bm, (const bf16 *)in->Cm, NULL, in->delta_bias,
                         in->A_log, in->Dskip, in->reset, in->B, in->L, in->E, in->N,
                         in->ld_bc, in->ld_z, 0, 0, 0, NULL, NULL, NULL};
    return a;
}

extern "C" void mk_cuda_scan_fwd_bf16(uint16_t *out, float *state,
                                      const struct mk_scan_in_bf16 *in)
{
    scan_fwd_launch<bf16>((bf16 *)out, state, scan_args_bf16(in));
}

extern "C" void mk_cuda_scan_bwd_bf16(const struct mk_scan_grad_bf16 *g, const uint16_t *dout,
                                      const float *state0, const struct mk_scan_in_bf16 *in)
{
    scan_bwd_launch<bf16>((bf16 *)g->du, (bf16 *)g->ddelta, (bf16 *)g->dz,
                          g->mode == MK_GRAD_SET, NULL, NULL, g->dB, g->dC, g->dA_log, g->dD,
                          g->ddelta_bias, g->dstate0, (const bf16 *)dout, state0,
                          scan_args_bf16(in));
}
