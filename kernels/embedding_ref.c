/* embedding_ref.c — CPU reference of the token embedding (contract: embedding.h).
 *
 * Written once over mk_real: float in libmambakit (mk_ref_*), double for the tests (mk_refd_*).
 */
#include <string.h>
#include "embedding.h"
#include "ref_util.h"

/* Columns of dwte one task owns in the backward: tasks split D, never the tokens, so every
 * dwte[v, d] is summed over t in order on one thread (deterministic, no atomics). */
#define EMB_COLS 64

/* out[t, :] = wte[ids[t], :] */
void MK_REF(embedding_fwd)(mk_real *out, const int32_t *ids, const mk_real *wte, size_t T, int D)
{
#pragma omp parallel for if (T * (size_t)D >= MK_PAR_MIN) schedule(static)
    for (size_t t = 0; t < T; t++)
        memcpy(out + t * D, wte + (size_t)ids[t] * D, (size_t)D * sizeof *out);
}

/* dwte[ids[t], d] += dout[t, d], t = 0..T-1 in order for each d */
void MK_REF(embedding_bwd)(mk_real *dwte, const mk_real *dout, const int32_t *ids, size_t T, int D)
{
    int nblk = (D + EMB_COLS - 1) / EMB_COLS;
#pragma omp parallel for if (T * (size_t)D >= MK_PAR_MIN) schedule(static)
    for (int j = 0; j < nblk; j++) {
        int d0 = j * EMB_COLS, d1 = d0 + EMB_COLS < D ? d0 + EMB_COLS : D;
        for (size_t t = 0; t < T; t++) {
            mk_real *row = dwte + (size_t)ids[t] * D;
            const mk_real *g = dout + t * D;
            for (int d = d0; d < d1; d++)
                row[d] += g[d];
        }
    }
}
