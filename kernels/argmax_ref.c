/* argmax_ref.c — CPU reference of argmax.h: a plain scan per row with a strict '>', so the
 * first maximum wins and NaN (never greater) never does. */
#include "argmax.h"

void MK_REF(argmax_rows)(int32_t *ids, const mk_real *x, size_t rows, int n)
{
    for (size_t r = 0; r < rows; r++) {
        const mk_real *row = x + r * (size_t)n;
        int best = 0;
        for (int i = 1; i < n; i++)
            if (row[i] > row[best] || (row[best] != row[best] && row[i] == row[i]))
                best = i;
        ids[r] = best;
    }
}
