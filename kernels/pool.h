/* pool.h — a classifier's features pooled over each sequence, on the backend.
 *
 *   mean: pooled[b, d] = (1 / len_b) sum_{t < len_b} feat[b, t, d]
 *   last: pooled[b, d] = feat[b, len_b - 1, d]
 *   backward (sets every element of dfeat; what lies past len_b gets 0):
 *   mean: dfeat[b, t, d] = t < len_b ? dpooled[b, d] / len_b : 0
 *   last: dfeat[b, t, d] = t == len_b - 1 ? dpooled[b, d] : 0
 *
 * feat / dfeat [B, L, D], pooled / dpooled [B, D], len [B] int32 in 1..L (backend memory, like
 * every pointer of the op table). The mean is summed in order of t (the CPU reference in
 * double; the CUDA kernel in fp32 runs of 256 steps, then the runs in double), so both
 * backends are deterministic. With it the classifier moves B x D floats between the host and
 * the backend per micro-batch instead of the B x L x D features and their gradient.
 */
#ifndef MK_POOL_H
#define MK_POOL_H
#include <stdint.h>
#include "real.h"

void MK_REF(pool_fwd)(mk_real *pooled, const mk_real *feat, const int32_t *len, int B, int L,
                      int D, int last);
void MK_REF(pool_bwd)(mk_real *dfeat, const mk_real *dpooled, const int32_t *len, int B, int L,
                      int D, int last);

#endif
