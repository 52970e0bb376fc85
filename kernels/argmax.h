/* argmax.h — greedy decoding's pick, on the backend: for each row r of x [rows, n],
 *   ids[r] = the smallest i with x[r, i] = max_j x[r, i]
 * (the first maximum, as mk_sample's temperature-0 path). NaN never wins: a row of NaN only
 * gives 0. With it a greedy step reads back `rows` ids instead of `rows` x n logits.
 */
#ifndef MK_ARGMAX_H
#define MK_ARGMAX_H
#include <stddef.h>
#include <stdint.h>
#include "real.h"

void MK_REF(argmax_rows)(int32_t *ids, const mk_real *x, size_t rows, int n);

#endif
