/* linear.h — y = x W^T + b (nn.Linear), through BLAS on the CPU.
 *
 *   forward : out[m, n] = sum_k in[m, k] * W[n, k] + bias[n]
 *             out [M, N] contiguous; in [M, K] with row stride ld_in (>= K); W [N, K]; bias [N] or NULL
 *   in16 (or NULL; forward and backward): in in bf16 ([M, K] contiguous, grad_write.h); in may
 *             then be NULL. A backend in its bf16 GEMM mode multiplies in16 as it is; the CPU
 *             reference multiplies its values when in is NULL.
 *   out16 (or NULL; forward): out written in bf16 there instead ([M, N] contiguous,
 *             grad_write.h; out is not written and may be NULL): the fp32 result rounded once
 *             (a backend in its bf16 GEMM mode may add the product to the bias rounded to bf16).
 *   backward (dW, dbias accumulate; din as din_mode says, grad_write.h):
 *             din[m, k] += sum_n dout[m, n] W[n, k]     (din row stride ld_din; NULL: skipped)
 *             dW[n, k]  += sum_m dout[m, n] in[m, k]
 *             dbias[n]  += sum_m dout[m, n]             (NULL: skipped)
 *   din16 (or NULL; backward): din set in bf16 there instead ([M, K] contiguous, grad_write.h;
 *             din_mode MK_GRAD_SET, din not written and may be NULL): the fp32 din rounded once.
 *   dout16 (or NULL): dout in bf16 ([M, N] contiguous, grad_write.h); dout may then be NULL
 *             (dbias then sums dout16's values). A backend in its bf16 GEMM mode multiplies dout16 as it
 *             is; the CPU reference multiplies its values (exactly representable) in fp32.
 * The strides let x_proj's output be split into dt, B and C without copies.
 */
#ifndef MK_LINEAR_H
#define MK_LINEAR_H
#include <stddef.h>
#include <stdint.h>
#include "real.h"
#include "grad_write.h"

void MK_REF(linear_fwd)(mk_real *out, const mk_real *in, int ld_in, const mk_real *W,
                        const mk_real *bias, size_t M, int K, int N, const uint16_t *in16,
                        uint16_t *out16);
void MK_REF(linear_bwd)(mk_real *din, int ld_din, mk_real *dW, mk_real *dbias,
                        const mk_real *dout, const mk_real *in, int ld_in, const mk_real *W,
                        size_t M, int K, int N, enum mk_grad_write din_mode,
                        const uint16_t *dout16, const uint16_t *in16, uint16_t *din16);

#endif
