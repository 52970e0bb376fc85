/* cross_entropy_ref.c — CPU reference of softmax cross-entropy and its gradient
 * (contract: cross_entropy.h).
 *
 * Written once over mk_real: float in libmambakit (mk_ref_*), double for the tests (mk_refd_*).
 * One token per task. Numerically stable: with m = max_v l[v],
 *   logsumexp(l) = m + log(sum_v exp(l[v] - m))      (every exponent <= 0, the sum >= 1)
 * The exponentials are computed once: into dlogits when a gradient is wanted, then scaled.
 */
#include <stdlib.h>
#include <string.h>
#include "cross_entropy.h"
#include "ref_util.h"

/* One token: loss = (m - l[y]) + log S with S = sum_v exp(l[v] - m) (the difference first, so
 * large logits do not round log S away); dlogits[v] = dscale (exp(l[v] - m) / S - [v == y]).
 * d may alias l: each element is read before it is written. */
static MK_HOT mk_real ce_row(mk_real *d, const mk_real *l, int32_t y, int V, mk_real dscale)
{
    mk_real m = l[0], ly = l[y], s = 0;
    for (int v = 1; v < V; v++)
        m = l[v] > m ? l[v] : m;
    if (d) {
#pragma omp simd reduction(+ : s)
        for (int v = 0; v < V; v++) {
            mk_real ev = mk_vexp(l[v] - m);
            d[v] = ev;
            s += ev;
        }
        mk_real k = dscale / s;
#pragma omp simd
        for (int v = 0; v < V; v++)
            d[v] *= k;
        d[y] -= dscale;
    } else {
#pragma omp simd reduction(+ : s)
        for (int v = 0; v < V; v++)
            s += mk_vexp(l[v] - m);
    }
    return (m - ly) + MK_LOG(s);
}

void MK_REF(cross_entropy)(mk_real *loss, mk_real *dlogits, const mk_real *logits,
                           const int32_t *targets, const mk_real *weights, size_t T, int V,
                           mk_real dscale, uint16_t *dlogits16)
{
#pragma omp parallel for if (T * (size_t)V >= MK_PAR_MIN) schedule(static)
    for (size_t t = 0; t < T; t++) {
        /* a bf16 gradient goes through an fp32 row of its own (a failure is recorded) */
        mk_real *row = dlogits16 ? MK_REF(scratch_alloc)((size_t)V * sizeof *row, "cross_entropy")
                                 : NULL;
        if (dlogits16 && !row)
            continue;
        mk_real *d = row ? row : dlogits ? dlogits + t * V : NULL;
        if (targets[t] >= 0) {
            const mk_real w = weights ? weights[t] : 1;
            loss[t] = w * ce_row(d, logits + t * V, targets[t], V, w * dscale);
        } else {
            loss[t] = 0;
            if (d)
                memset(d, 0, (size_t)V * sizeof *d);
        }
        for (int v = 0; row && v < V; v++)
            dlogits16[t * V + v] = mk_f32_to_bf16((float)row[v]);
        free(row);
    }
}
