/* scan.cu — the op table's selective scan, fp32 (contract: scan.h); the kernels are in
 * scan_kernels.cuh, shared with the bf16 variant (scan_bf16.cu). With u16 (the bf16 mode's
 * activations) u, delta and z, and the backward's dout16, are read in bf16 by kernels
 * compiled for that type (TU = bf16): a choice made per load inside the kernels made the
 * training step's scan 30% slower (ncu).
 */
#include <type_traits>
#include "scan_kernels.cuh"

typedef __nv_bfloat16 bf16;

template <typename TU>
static scan_args<float, TU> scan_args_of(const struct mk_scan_in *in, const TU *u,
                                         const TU *delta, const TU *z)
{
    scan_args<float, TU> a = {u, delta, z, in->Bm, in->Cm, NULL, in->delta_bias,
                              in->A_log, in->Dskip, in->reset, in->B, in->L, in->E, in->N,
                              in->ld_bc, in->ld_z, 0, 0, 0, NULL, NULL, NULL,
                              in->x_dt, in->W_dt, in->R, (bf16 *)in->out16};
    return a;
}

/* run(a) with the scan arguments of in: u, delta and z in bf16 when u16 is given (delta16 and
 * z16 come with it, scan.h: one element type in the kernels), else in fp32 */
template <typename F> static void with_args(const struct mk_scan_in *in, F run)
{
    const bool delta_read = !in->W_dt; /* the step's dt_proj in the kernel: delta not read */
    if ((in->u16 && in->z && !in->z16) || (in->u16 && delta_read && !in->delta16) ||
        (!in->u16 && (in->delta16 || in->z16)))
        mk_cuda_record("u16 without delta16 / z16, or delta16 without u16",
                       "u16, delta16 and z16 (with a gate) together (scan.h)", __func__,
                       __FILE__, __LINE__);
    else if (in->u16)
        run(scan_args_of(in, (const bf16 *)in->u16, (const bf16 *)in->delta16,
                         (const bf16 *)in->z16));
    else
        run(scan_args_of(in, in->u, in->delta, in->z));
}

extern "C" void mk_cuda_scan_fwd(float *out, float *state, const struct mk_scan_in *in)
{
    with_args(in, [&](auto a) { scan_fwd_launch<float>(out, state, a); });
}

/* dout in the inputs' element type TU: fp32, or the bf16 of dout16 */
template <typename TU> static const TU *dout_as(const float *dout, const uint16_t *dout16);
template <> const float *dout_as<float>(const float *dout, const uint16_t *)
{
    return dout;
}
template <> const bf16 *dout_as<bf16>(const float *, const uint16_t *dout16)
{
    return (const bf16 *)dout16;
}

extern "C" void mk_cuda_scan_bwd(const struct mk_scan_grad *g, const float *dout,
                                 const float *state0, const struct mk_scan_in *in)
{
    if (!in->u16 != !g->dout16) { /* one element type for u, z and dout (scan.h) */
        mk_cuda_record("dout16 and u16 not given together", "dout16 with u16 (scan.h)",
                       __func__, __FILE__, __LINE__);
        return;
    }
    with_args(in, [&](auto a) {
        using TU = std::remove_cv_t<std::remove_pointer_t<decltype(a.u)>>;
        scan_bwd_launch<float>(g->du, g->ddelta, g->dz, g->mode == MK_GRAD_SET,
                               (bf16 *)g->ddelta16, (bf16 *)g->dz16, g->dB, g->dC, g->dA_log,
                               g->dD, g->ddelta_bias, g->dstate0, dout_as<TU>(dout, g->dout16),
                               state0, a);
    });
}
