/* pool_ref.c — CPU reference of pool.h: the mean of each column over the row's real steps,
 * summed in double in order of t (the rows' steps are contiguous runs of D values, so the
 * sum walks them in memory order). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "pool.h"
#include "ref_util.h"

void MK_REF(pool_fwd)(mk_real *pooled, const mk_real *feat, const int32_t *len, int B, int L,
                      int D, int last)
{
    double *acc = last ? NULL : MK_REF(scratch_alloc)((size_t)D * sizeof *acc, "pool_fwd");
    if (!last && !acc)
        return; /* reported by the backend's sync() */
    for (int b = 0; b < B; b++) {
        const mk_real *h = feat + (size_t)b * L * D;
        mk_real *out = pooled + (size_t)b * D;
        if (last) {
            memcpy(out, h + (size_t)(len[b] - 1) * D, (size_t)D * sizeof *out);
            continue;
        }
        memset(acc, 0, (size_t)D * sizeof *acc);
        for (int t = 0; t < len[b]; t++)
            for (int d = 0; d < D; d++)
                acc[d] += h[(size_t)t * D + d];
        for (int d = 0; d < D; d++)
            out[d] = (mk_real)(acc[d] / len[b]);
    }
    free(acc);
}

void MK_REF(pool_bwd)(mk_real *dfeat, const mk_real *dpooled, const int32_t *len, int B, int L,
                      int D, int last)
{
    memset(dfeat, 0, (size_t)B * L * D * sizeof *dfeat);
    for (int b = 0; b < B; b++) {
        const mk_real *dp = dpooled + (size_t)b * D;
        mk_real *dh = dfeat + (size_t)b * L * D;
        const int first = last ? len[b] - 1 : 0;
        const mk_real scale = last ? (mk_real)1 : (mk_real)1 / (mk_real)len[b];
        for (int t = first; t < len[b]; t++)
            for (int d = 0; d < D; d++)
                dh[(size_t)t * D + d] = dp[d] * scale;
    }
}
