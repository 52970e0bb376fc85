/* adamw_ref.c — CPU reference of the AdamW update and the squared norm (contract: adamw.h).
 *
 * Written once over mk_real: float in libmambakit (mk_ref_*), double for the tests (mk_refd_*).
 */
#include <math.h>
#include "adamw.h"
#include "ref_util.h"

/* sumsq splits x into SUMSQ_CHUNKS fixed chunks (a function of n only), sums each in double
 * and adds the partials in chunk order: the same result on any number of threads. */
#define SUMSQ_CHUNKS 64

/* As torch.optim.AdamW (step counted from 1), with the scalars formed once as torch does:
 *   g = grad grad_scale;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  p *= 1 - lr wd;
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)                                     */
void MK_REF(adamw)(mk_real *p, mk_real *m, mk_real *v, const mk_real *grad, size_t n,
                   const struct mk_adamw_hp *hp)
{
    const mk_real b1 = hp->beta1, b2 = hp->beta2, eps = hp->eps, gs = hp->grad_scale;
    const mk_real c1 = (mk_real)(1 - (double)hp->beta1), c2 = (mk_real)(1 - (double)hp->beta2);
    const mk_real decay = (mk_real)(1 - (double)hp->lr * hp->weight_decay);
    const mk_real step = (mk_real)((double)hp->lr / hp->bc1);
    const mk_real bc2s = (mk_real)sqrt((double)hp->bc2);
#pragma omp parallel for simd if (n >= MK_PAR_MIN) schedule(static)
    for (size_t i = 0; i < n; i++) {
        mk_real g = grad[i] * gs;
        mk_real mi = b1 * m[i] + c1 * g;
        mk_real vi = b2 * v[i] + c2 * g * g;
        m[i] = mi;
        v[i] = vi;
        p[i] = p[i] * decay - step * (mi / (MK_SQRT(vi) / bc2s + eps));
    }
}

/* sum_i x[i]^2 in double */
double MK_REF(sumsq)(const mk_real *x, size_t n)
{
    double part[SUMSQ_CHUNKS];
#pragma omp parallel for if (n >= MK_PAR_MIN) schedule(static)
    for (int c = 0; c < SUMSQ_CHUNKS; c++) {
        size_t i = n * c / SUMSQ_CHUNKS, i1 = n * (c + 1) / SUMSQ_CHUNKS;
        double l[MK_LANES] = {0}; /* per-lane partial sums (see ref_util.h) */
        for (; i + MK_LANES <= i1; i += MK_LANES)
#pragma omp simd
            for (int j = 0; j < MK_LANES; j++)
                l[j] += (double)x[i + j] * x[i + j];
        for (; i < i1; i++)
            l[0] += (double)x[i] * x[i];
        part[c] = ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
    }
    double s = 0;
    for (int c = 0; c < SUMSQ_CHUNKS; c++)
        s += part[c];
    return s;
}
