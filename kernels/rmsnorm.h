/* rmsnorm.h — fused residual add + RMSNorm (weight only, no bias), residual in fp32.
 *
 *   forward : r = resid_in + x            (x may be NULL: r = resid_in; resid_out may alias resid_in)
 *             rstd[t] = 1 / sqrt(mean_d r[t,d]^2 + eps)
 *             normed[t,d] = r[t,d] * rstd[t] * w[d]
 *             resid_out, normed, x, resid_in [T, D]; rstd [T]; w [D]
 *             normed16 (or NULL): normed written in bf16 there instead (grad_write.h;
 *             normed may then be NULL)
 *             x16 (or NULL): x read in bf16 from there instead ([T, D]; x may then be NULL):
 *             the bf16 mode's out_proj output, added to the fp32 residual as autocast does
 *   backward: given dnormed, with r the saved resid_out and g = w * dnormed:
 *             dresid[t,d] += rstd*g[t,d] - r[t,d] * rstd^3 / D * sum_d' g[t,d'] r[t,d']
 *             dw[d]       += sum_t dnormed[t,d] * r[t,d] * rstd[t]
 *             (dresid is also the gradient of resid_in and of x: the add passes it through.)
 *             dresid16 (or NULL): the updated dresid also written in bf16 there ([T, D],
 *             grad_write.h): the bf16 mode's operand of the product that takes it next
 *             (out_proj's backward), made where dresid is written instead of rounded there.
 */
#ifndef MK_RMSNORM_H
#define MK_RMSNORM_H
#include <stddef.h>
#include <stdint.h>
#include "real.h"
#include "grad_write.h"

void MK_REF(add_rmsnorm_fwd)(mk_real *resid_out, mk_real *normed, mk_real *rstd,
                             const mk_real *resid_in, const mk_real *x, const mk_real *w,
                             size_t T, int D, float eps, uint16_t *normed16,
                             const uint16_t *x16);
void MK_REF(rmsnorm_bwd)(mk_real *dresid, mk_real *dw, const mk_real *dnormed,
                         const mk_real *resid, const mk_real *rstd, const mk_real *w,
                         size_t T, int D, uint16_t *dresid16);

#endif
