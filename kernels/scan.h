/* scan.h — the selective scan (S6) with fused dt bias + softplus, D skip and SiLU(z) gate.
 *
 * Per batch b, channel e, state n, time t (h_{-1} = state0 or 0):
 *   dt_t    = softplus(delta[b,t,e] + delta_bias[e])      softplus(x) = x > 20 ? x : log1p(exp(x))
 *   A[e,n]  = -exp(A_log[e,n])
 *   h_t[n]  = exp(dt_t A[e,n]) * h_{t-1}[n] + dt_t * B[b,t,n] * u[b,t,e]
 *   y_t     = sum_n C[b,t,n] h_t[n] + Dskip[e] * u[b,t,e]
 *   out     = y_t * SiLU(z[b,t,e])            (or y_t when z is NULL)
 * reset[b,t] = 1 (reset may be NULL) zeroes h before step t: a new packed document.
 * `state` [B, E, N]: if not NULL, read as h_{-1} and overwritten with the final h.
 *
 * Layouts (token-major): u, delta, out [B, L, E] contiguous; z [B, L, E] with row stride ld_z
 * (z is the second half of in_proj's output, ld_z = 2E); B and C [B, L, N] with row stride
 * ld_bc (they are columns of x_proj's output, ld_bc = R + 2N).
 *
 * Backward (all accumulate, but du, ddelta and dz as g->mode says (grad_write.h); NULL
 * pointers are skipped, except du, and ddelta unless ddelta16 is given): with dy the
 * gradient of `out`, g = dy * SiLU(z), and the adjoint dh_t = C_t g_t + exp(dt_{t+1} A) dh_{t+1}:
 *   dz      = dy * y * dSiLU(z)               dD[e]  += sum g u
 *   du      = g D + sum_n dh_t[n] dt_t B_t[n]
 *   ddt     = sum_n dh_t[n] (A[n] exp(dt A[n]) h_{t-1}[n] + B_t[n] u_t)
 *   ddelta  = ddt * sigmoid(delta + bias) (1 if > 20);   ddelta_bias[e] += sum ddelta
 *   dA_log  += sum_t dh_t[n] dt_t exp(dt_t A) h_{t-1}[n] * A[n]
 *   dB[b,t,n] += sum_e dh_t[n] dt_t u_t;      dC[b,t,n] += sum_e g_t h_t[n]
 *   dstate0 [B,E,N] += the adjoint reaching h_{-1} (NULL: not wanted)
 * `state0` is the initial state the forward used (or NULL for zeros); h is recomputed.
 */
#ifndef MK_SCAN_H
#define MK_SCAN_H
#include <stdint.h>
#include "real.h"
#include "grad_write.h"

struct mk_scan_in {
    const mk_real *u;          /* [B, L, E]   conv output */
    const mk_real *delta;      /* [B, L, E]   dt_proj output, bias not added */
    const mk_real *delta_bias; /* [E]         dt_proj.bias */
    const mk_real *A_log;      /* [E, N] */
    const mk_real *Bm;         /* [B, L, N]   row stride ld_bc */
    const mk_real *Cm;         /* [B, L, N]   row stride ld_bc */
    const mk_real *Dskip;      /* [E] */
    const mk_real *z;          /* [B, L, E]   row stride ld_z, or NULL (no gate) */
    const uint8_t *reset;      /* [B, L] or NULL */
    int B, L, E, N, ld_bc, ld_z;
    /* The decoding step (L = 1) may leave dt_proj to the scan: with W_dt set, delta is not
     * read but computed, delta[b,t,e] = sum_{r<R} x_dt[b,t,r] W_dt[e,r], from x_dt [B, L, R]
     * with row stride ld_bc (x_proj's first R columns) and W_dt [E, R] (dt_proj.weight).
     * Forward at L = 1 only (the CUDA backend refuses more); W_dt NULL: delta is given. */
    const mk_real *x_dt, *W_dt;
    int R;
    /* Or NULL: the forward's out written in bf16 there instead ([B, L, E], grad_write.h; out
     * may then be NULL). */
    uint16_t *out16;
    /* Or NULL: u / z read in bf16 from there instead (u16 [B, L, E]; z16 with row stride ld_z;
     * u / z may then be NULL, z16 given means the gate is applied): the bf16 mode's
     * activations (grad_write.h). The CUDA kernels read u, z, delta (and the backward's
     * dout) in one element type: there z16 (with a gate) comes with u16 and only with it. */
    const uint16_t *u16, *z16;
    /* Or NULL: delta read in bf16 from here instead ([B, L, E]; delta may then be NULL): the
     * bf16 mode's dt_proj output. CUDA takes it with u16 and only then (in its kernels u, z,
     * delta and the backward's dout share one element type). */
    const uint16_t *delta16;
};

struct mk_scan_grad {
    mk_real *du;          /* [B, L, E] */
    mk_real *ddelta;      /* [B, L, E] */
    mk_real *ddelta_bias; /* [E] */
    mk_real *dA_log;      /* [E, N] */
    mk_real *dB;          /* [B, L, N] row stride ld_bc */
    mk_real *dC;          /* [B, L, N] row stride ld_bc */
    mk_real *dD;          /* [E] */
    mk_real *dz;          /* [B, L, E] row stride ld_z (needed when z is given) */
    mk_real *dstate0;     /* [B, E, N] or NULL */
    enum mk_grad_write mode; /* of du, ddelta, dz (0: MK_GRAD_ADD) */
    /* or NULL: ddelta [B, L, E] / dz (row stride ld_z) written in bf16 there instead, set */
    uint16_t *ddelta16, *dz16;
    /* or NULL: dout read in bf16 from here instead ([B, L, E]; dout may then be NULL): the
     * bf16 mode's gradient of the scan's output. CUDA takes it with the inputs' u16 and only
     * then (as delta16). */
    const uint16_t *dout16;
};

void MK_REF(scan_fwd)(mk_real *out, mk_real *state, const struct mk_scan_in *in);
void MK_REF(scan_bwd)(const struct mk_scan_grad *g, const mk_real *dout,
                      const mk_real *state0, const struct mk_scan_in *in);

#endif
