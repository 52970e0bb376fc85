/* conv1d.h — causal depthwise conv1d followed by SiLU (Mamba's short convolution).
 *
 *   forward : a[b,t,e]   = bias[e] + sum_{k=0}^{K-1} w[e,k] * x[b, t-(K-1)+k, e]
 *             out[b,t,e] = SiLU(a) = a * sigmoid(a)
 *   Tap k = K-1 multiplies the current input. Inputs before t = 0 come from `state`
 *   [B, E, K-1] (state[b,e,j] is x at time j-(K-1), oldest first), or are 0 when state is NULL.
 *   reset [B, L] (or NULL): reset[b,s] = 1 starts a new document at s, so inputs before s are
 *   0 for every t >= s (packed sequences do not leak). After the call, if state is not NULL it
 *   holds the last K-1 inputs of each sequence (taking the reset rule into account).
 *   x [B, L, E] has row stride ld_x (x is the first half of in_proj's output, ld_x = 2E);
 *   out [B, L, E] contiguous; w [E, K] (HF conv1d.weight [E, 1, K]); bias [E] or NULL.
 *   out16 (or NULL): out also written in bf16 there ([B, L, E] contiguous, grad_write.h);
 *   out may then be NULL (written only there).
 *   x16 (or NULL, forward and backward): x read in bf16 from there instead (row stride ld_x;
 *   x may then be NULL): the bf16 mode's activations.
 *
 *   backward (dw, dbias accumulate; dx as dx_mode says, grad_write.h): with s = sigmoid(a), dact = dout * s * (1 + a (1 - s)):
 *             dx[b, t-(K-1)+k, e] += dact[b,t,e] * w[e,k]    (within the sequence only)
 *             dw[e,k] += sum_{b,t} dact * x[b, t-(K-1)+k, e]; dbias[e] += sum dact
 *   `state` here is the initial state the forward used (read only, or NULL); a is recomputed.
 *   dx16 (or NULL): dx written in bf16 there instead (row stride ld_dx, set; dx may be NULL).
 */
#ifndef MK_CONV1D_H
#define MK_CONV1D_H
#include <stdint.h>
#include "real.h"
#include "grad_write.h"

void MK_REF(conv1d_fwd)(mk_real *out, mk_real *state, const mk_real *x, int ld_x,
                        const mk_real *w, const mk_real *bias, const uint8_t *reset,
                        int B, int L, int E, int K, uint16_t *out16, const uint16_t *x16);
void MK_REF(conv1d_bwd)(mk_real *dx, int ld_dx, mk_real *dw, mk_real *dbias,
                        const mk_real *dout, const mk_real *state, const mk_real *x, int ld_x,
                        const mk_real *w, const mk_real *bias, const uint8_t *reset,
                        int B, int L, int E, int K, enum mk_grad_write dx_mode,
                        uint16_t *dx16, const uint16_t *x16);

#endif
