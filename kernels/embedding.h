/* embedding.h — token embedding lookup.
 *
 *   forward : out[t, :] = wte[ids[t], :]                 out [T, D], wte [V, D], ids [T]
 *   backward: dwte[ids[t], :] += dout[t, :]   (accumulates; tokens summed in order t = 0..T-1
 *             so the result is deterministic)
 * T = B*L tokens. ids must be in [0, V) (the model checks before calling).
 */
#ifndef MK_EMBEDDING_H
#define MK_EMBEDDING_H
#include <stddef.h>
#include <stdint.h>
#include "real.h"

void MK_REF(embedding_fwd)(mk_real *out, const int32_t *ids, const mk_real *wte, size_t T, int D);
void MK_REF(embedding_bwd)(mk_real *dwte, const mk_real *dout, const int32_t *ids, size_t T, int D);

#endif
