/* precision.c — mk_model_set_precision: the GEMM precision mode of a model's backend
 * (ops.h, set_gemm_precision). The CPU backend has no such mode: it computes in fp32 only.
 */
#include "model_internal.h"

mk_status mk_model_set_precision(struct mk_model *m, enum mk_precision p)
{
    if (!m)
        return mk_fail(MK_ERR_INVALID, "mk_model_set_precision: no model");
    if (p != MK_PRECISION_FP32 && p != MK_PRECISION_BF16)
        return mk_fail(MK_ERR_INVALID, "mk_model_set_precision: unknown precision %d", (int)p);
    if (!m->ops->set_gemm_precision) {
        if (p == MK_PRECISION_FP32)
            return MK_OK; /* the only mode there is */
        return mk_fail(MK_ERR_UNSUPPORTED, "bf16 needs the CUDA backend "
                       "(the %s backend computes in fp32 only)", m->ops->name);
    }
    return m->ops->set_gemm_precision(p == MK_PRECISION_BF16);
}
