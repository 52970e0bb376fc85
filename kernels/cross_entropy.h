/* cross_entropy.h — softmax cross-entropy fused with its gradient.
 *
 * For each token t with target y = targets[t] (-1 = ignored) and weight w = weights[t] (1 when
 * weights is NULL; e.g. soft-masked DNA bases weigh less):
 *   loss[t]       = w * (logsumexp(logits[t, :]) - logits[t, y])        (0 when ignored)
 *   dlogits[t, v] = w * dscale * (softmax(logits[t, :])[v] - [v == y])  (0 when ignored)
 * logits, dlogits [T, V]; dlogits may alias logits, or be NULL (no gradient); dlogits16 (or
 * NULL): the gradient written in bf16 there instead ([T, V], grad_write.h). The caller
 * sums loss in order and passes dscale = 1 / (sum of the weights of non-ignored targets) for
 * a weighted mean.
 * Targets must be in [0, V) or -1.
 */
#ifndef MK_CROSS_ENTROPY_H
#define MK_CROSS_ENTROPY_H
#include <stddef.h>
#include <stdint.h>
#include "real.h"
#include "grad_write.h"

void MK_REF(cross_entropy)(mk_real *loss, mk_real *dlogits, const mk_real *logits,
                           const int32_t *targets, const mk_real *weights, size_t T, int V,
                           mk_real dscale, uint16_t *dlogits16);

#endif
