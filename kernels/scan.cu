/* scan.cu — the op table's selective scan, fp32 (contract: scan.h); the kernels are in
 * scan_kernels.cuh, shared with the bf16 variant (scan_bf16.cu).
 */
#include "scan_kernels.cuh"

static scan_args<float> scan_args_of(const struct mk_scan_in *in)
{
    scan_args<float> a = {in->u, in->delta, in->z, in->Bm, in->Cm, NULL, in->delta_bias,
                          in->A_log, in->Dskip, in->reset, in->B, in->L, in->E, in->N,
                          in->ld_bc, in->ld_z, 0, 0, 0, NULL, NULL, NULL,
                          in->x_dt, in->W_dt, in->R, (__nv_bfloat16 *)in->out16};
    return a;
}

extern "C" void mk_cuda_scan_fwd(float *out, float *state, const struct mk_scan_in *in)
{
    scan_fwd_launch<float>(out, state, scan_args_of(in));
}

extern "C" void mk_cuda_scan_bwd(const struct mk_scan_grad *g, const float *dout,
                                 const float *state0, const struct mk_scan_in *in)
{
    scan_bwd_launch<float>(g->du, g->ddelta, g->dz, g->mode == MK_GRAD_SET,
                           (__nv_bfloat16 *)g->ddelta16, (__nv_bfloat16 *)g->dz16, g->dB, g->dC, g->dA_log, g->dD,
                           g->ddelta_bias, g->dstate0, dout, state0, scan_args_of(in));
}
