/* rmsnorm_ref.c — CPU reference of the fused residual add + RMSNorm (contract: rmsnorm.h).
 *
 * Written once over mk_real: float in libmambakit (mk_ref_*), double for the tests (mk_refd_*).
 */
#include <stdlib.h>
#include "rmsnorm.h"
#include "ref_util.h"

/* The backward's dw is a sum over tokens: the tokens are cut into at most RMS_CHUNKS fixed
 * chunks (a function of T only, not of the thread count), each chunk sums its own partial dw,
 * and the partials are added in chunk order: deterministic on any number of threads. */
#define RMS_CHUNKS 32

/*   r = resid_in + x;  rstd = 1 / sqrt(mean_d r^2 + eps);  normed = r * rstd * w */
void MK_REF(add_rmsnorm_fwd)(mk_real *resid_out, mk_real *normed, mk_real *rstd,
                             const mk_real *resid_in, const mk_real *x, const mk_real *w,
                             size_t T, int D, float eps, uint16_t *normed16,
                             const uint16_t *x16)
{
    mk_real *from16 = NULL; /* x's values when it is given in bf16 only */
    if (!x && x16 && !(x = from16 = mk_values_of_bf16(x16, T, D, D, "add_rmsnorm_fwd (bf16 x)")))
        return;
#pragma omp parallel for if (T * (size_t)D >= MK_PAR_MIN) schedule(static)
    for (size_t t = 0; t < T; t++) {
        const mk_real *ri = resid_in + t * D;
        mk_real *ro = resid_out + t * D;
        mk_real ss = 0;
        if (x) {
            const mk_real *xi = x + t * D;
#pragma omp simd reduction(+ : ss)
            for (int d = 0; d < D; d++) {
                mk_real r = ri[d] + xi[d];
                ro[d] = r;
                ss += r * r;
            }
        } else {
#pragma omp simd reduction(+ : ss)
            for (int d = 0; d < D; d++) {
                mk_real r = ri[d];
                ro[d] = r;
                ss += r * r;
            }
        }
        mk_real rs = 1 / MK_SQRT(ss / D + eps);
        rstd[t] = rs;
        for (int d = 0; d < D; d++) {
            const mk_real v = ro[d] * rs * w[d];
            if (normed16)
                normed16[t * D + d] = mk_f32_to_bf16((float)v);
            else
                normed[t * D + d] = v;
        }
    }
    free(from16);
}

/* With g = w * dnormed and rstd' = d rstd / d r[d] = -rstd^3 r[d] / D:
 *   dresid[t,d] += rstd g[d] - r[d] rstd^3 / D * sum_d' g[d'] r[d']
 *   dw[d]       += sum_t dnormed[t,d] r[t,d] rstd[t]                                       */
void MK_REF(rmsnorm_bwd)(mk_real *dresid, mk_real *dw, const mk_real *dnormed,
                         const mk_real *resid, const mk_real *rstd, const mk_real *w,
                         size_t T, int D, uint16_t *dresid16)
{
    size_t nch = T < RMS_CHUNKS ? T : RMS_CHUNKS;
    if (nch == 0)
        return;
    mk_real *part = MK_REF(scratch_alloc)(nch * (size_t)D * sizeof *part, "rmsnorm_bwd");
    if (!part)
        return;
    int par = T * (size_t)D >= MK_PAR_MIN;
#pragma omp parallel for if (par) schedule(static)
    for (size_t c = 0; c < nch; c++) {
        mk_real *pw = part + c * D;
        for (int d = 0; d < D; d++)
            pw[d] = 0;
        for (size_t t = c * T / nch; t < (c + 1) * T / nch; t++) {
            const mk_real *r = resid + t * D, *dn = dnormed + t * D;
            mk_real *dr = dresid + t * D;
            mk_real rs = rstd[t], gr = 0;
#pragma omp simd reduction(+ : gr)
            for (int d = 0; d < D; d++)
                gr += w[d] * dn[d] * r[d];
            mk_real k = rs * rs * rs * gr / D;
#pragma omp simd
            for (int d = 0; d < D; d++) {
                dr[d] += rs * w[d] * dn[d] - r[d] * k;
                pw[d] += dn[d] * r[d] * rs;
            }
            for (int d = 0; dresid16 && d < D; d++)
                dresid16[t * D + d] = mk_f32_to_bf16((float)dr[d]);
        }
    }
#pragma omp parallel for if (par) schedule(static)
    for (int d = 0; d < D; d++) {
        mk_real s = 0;
        for (size_t c = 0; c < nch; c++)
            s += part[c * D + d];
        dw[d] += s;
    }
    free(part);
}
