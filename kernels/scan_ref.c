/* scan_ref.c — CPU reference of the selective scan (contract: scan.h).
 *
 * Written once over mk_real: float in libmambakit (mk_ref_*), double for the tests (mk_refd_*).
 *
 * Forward: a task owns one sequence b and up to SCAN_EB consecutive channels; it keeps their
 * state h [ne, N] and A = -exp(A_log) [ne, N] in a stack tile and walks t. The loop over the
 * N states is innermost and contiguous and vectorises (mk_vexp). One token (decode) allocates
 * nothing.
 * Sums over n (y = C.h, and the adjoint's sums) are kept in MK_LANES partial sums.
 *
 * Backward: channels are cut into at most SCAN_GROUPS fixed groups (a function of E only).
 * For each (b, e) of its group a task recomputes h_t and exp(dt_t A) for the whole sequence
 * into its scratch ([L, N] each: h is never stored by the forward), then runs the adjoint
 * backward in time. Everything indexed by e (du, ddelta, dz, dD, ddelta_bias, dA_log,
 * dstate0) is owned by one group; dB and dC, sums over all channels, go to per-group partial
 * buffers added in group order at the end. So the result is the same on any number of threads.
 */
#include <stdlib.h>
#include <string.h>
#include "scan.h"
#include "ref_util.h"

#define SCAN_EB 16     /* channels per forward task */
#define SCAN_TILE 1024 /* elements of the forward's stack tiles (A and h) */
#define SCAN_GROUPS 16 /* channel groups of the backward */
#define SCAN_COST 8    /* work of one (t, e, n) step in MK_PAR_MIN's units (an exp and ~10 flops) */

/* u and z at element i, from their bf16 versions when given (scan.h) */
static inline mk_real scan_u(const struct mk_scan_in *in, size_t i)
{
    return in->u16 ? mk_bf16_to_f32(in->u16[i]) : in->u[i];
}
static inline mk_real scan_z(const struct mk_scan_in *in, size_t i)
{
    return in->z16 ? mk_bf16_to_f32(in->z16[i]) : in->z[i];
}
/* delta at element i, from its bf16 version when given (scan.h) */
static inline mk_real scan_delta(const struct mk_scan_in *in, size_t i)
{
    return in->delta16 ? mk_bf16_to_f32(in->delta16[i]) : in->delta[i];
}
/* n consecutive values from f + i, or from their bf16 versions h + i when h is given */
static inline void scan_run(mk_real *dst, const mk_real *f, const uint16_t *h, size_t i, int n)
{
    if (h)
        for (int k = 0; k < n; k++)
            dst[k] = mk_bf16_to_f32(h[i + k]);
    else
        memcpy(dst, f + i, (size_t)n * sizeof *dst);
}

/* A[n] = -exp(A_log[n]) */
static inline void scan_A(mk_real *A, const mk_real *A_log, int N)
{
#pragma omp simd
    for (int n = 0; n < N; n++)
        A[n] = -mk_vexp(A_log[n]);
}

/* Forward step of state n: h[n] <- exp(dt A[n]) h[n] + dtu B[n]; returns C[n] h[n]. */
static inline mk_real fwd_step(mk_real *h, const mk_real *A, const mk_real *Bt,
                               const mk_real *Ct, mk_real dt, mk_real dtu, int n)
{
    mk_real hn = mk_vexp(dt * A[n]) * h[n] + dtu * Bt[n];
    h[n] = hn;
    return Ct[n] * hn;
}

/* One forward task: sequence b, channels e0..e0+ne-1 (ne <= SCAN_EB); A and h are [ne, N].
 *   dt = softplus(delta + delta_bias);  h[n] = exp(dt A[n]) h[n] + dt u B_t[n]
 *   y  = sum_n C_t[n] h[n] + D u;       out = y SiLU(z)  (or y)
 * dt and the gate are computed for the task's channels at once (contiguous, vectorised). */
static MK_HOT void scan_fwd_task(mk_real *out, mk_real *state, const struct mk_scan_in *in,
                                 int b, int e0, int ne, mk_real *A, mk_real *h)
{
    const int L = in->L, E = in->E, N = in->N;
    mk_real *st = state ? state + ((size_t)b * E + e0) * N : NULL;
    mk_real dt[SCAN_EB], y[SCAN_EB], u[SCAN_EB], z[SCAN_EB];
    for (int i = 0; i < ne; i++)
        scan_A(A + (size_t)i * N, in->A_log + (size_t)(e0 + i) * N, N);
    if (st)
        memcpy(h, st, (size_t)ne * N * sizeof *h);
    else
        memset(h, 0, (size_t)ne * N * sizeof *h);
    for (int t = 0; t < L; t++) {
        size_t row = (size_t)b * L + t;
        if (in->reset && in->reset[row])
            memset(h, 0, (size_t)ne * N * sizeof *h);
        const mk_real *Bt = in->Bm + row * in->ld_bc, *Ct = in->Cm + row * in->ld_bc;
        const mk_real *dbias = in->delta_bias + e0;
        scan_run(u, in->u, in->u16, row * E + e0, ne);
        const mk_real *Dskip = in->Dskip + e0;
        if (in->W_dt) { /* dt_proj here (the decoding step): delta = x_dt . W_dt[e] */
            const mk_real *x = in->x_dt + row * in->ld_bc;
            for (int i = 0; i < ne; i++) {
                const mk_real *w = in->W_dt + (size_t)(e0 + i) * in->R;
                mk_real d = 0;
                for (int r = 0; r < in->R; r++)
                    d += x[r] * w[r];
                dt[i] = mk_softplus(d + dbias[i]);
            }
        } else {
            scan_run(dt, in->delta, in->delta16, row * E + e0, ne);
#pragma omp simd
            for (int i = 0; i < ne; i++)
                dt[i] = mk_softplus(dt[i] + dbias[i]);
        }
        for (int i = 0; i < ne; i++) {
            mk_real *hi = h + (size_t)i * N, dti = dt[i], dtu = dt[i] * u[i];
            const mk_real *Ai = A + (size_t)i * N;
            mk_real acc[MK_LANES] = {0};
            int n = 0;
            for (; n + MK_LANES <= N; n += MK_LANES)
#pragma omp simd
                for (int j = 0; j < MK_LANES; j++)
                    acc[j] += fwd_step(hi, Ai, Bt, Ct, dti, dtu, n + j);
            for (; n < N; n++)
                acc[0] += fwd_step(hi, Ai, Bt, Ct, dti, dtu, n);
            y[i] = mk_lanes_sum(acc) + Dskip[i] * u[i];
        }
        if (in->z || in->z16) {
            scan_run(z, in->z, in->z16, row * in->ld_z + e0, ne);
#pragma omp simd
            for (int i = 0; i < ne; i++)
                y[i] *= z[i] * mk_sigmoid(z[i]);
        }
        if (in->out16)
            for (int i = 0; i < ne; i++)
                in->out16[row * E + e0 + i] = mk_f32_to_bf16((float)y[i]);
        else
            memcpy(out + row * E + e0, y, (size_t)ne * sizeof *out);
    }
    if (st)
        memcpy(st, h, (size_t)ne * N * sizeof *h);
}

void MK_REF(scan_fwd)(mk_real *out, mk_real *state, const struct mk_scan_in *in)
{
    const int B = in->B, E = in->E, N = in->N;
    int eb = N >= SCAN_TILE ? 1 : SCAN_TILE / N;
    if (eb > SCAN_EB)
        eb = SCAN_EB;
    int nblk = (E + eb - 1) / eb;
    /* States wider than a tile (N > SCAN_TILE, never in Mamba) take their tiles from the heap. */
    mk_real *heap = NULL;
    if (N > SCAN_TILE) {
        heap = MK_REF(scratch_alloc)((size_t)B * nblk * 2 * N * sizeof *heap, "scan_fwd");
        if (!heap)
            return;
    }
#pragma omp parallel for if ((size_t)B * in->L * E * N * SCAN_COST >= MK_PAR_MIN) schedule(static)
    for (int j = 0; j < B * nblk; j++) {
        mk_real tile[2 * SCAN_TILE];
        mk_real *A = heap ? heap + (size_t)j * 2 * N : tile;
        int e0 = j % nblk * eb, ne = E - e0 < eb ? E - e0 : eb;
        scan_fwd_task(out, state, in, j / nblk, e0, ne, A, A + (size_t)ne * N);
    }
    free(heap);
}

/* Scratch of one backward group, in elements: h and a = exp(dt A) [L, N]; dt and the
 * pre-gate y [L]; A, h_{-1}, zeros, the adjoint dh and the dA_log sum [N]. */
static size_t scan_bwd_scratch(int L, int N)
{
    return 2 * (size_t)L * N + 2 * (size_t)L + 5 * (size_t)N;
}

/* Recomputed forward step of state n, keeping a = exp(dt A[n]) and h_t; returns C[n] h_t[n]. */
static inline mk_real re_step(mk_real *a, mk_real *h, const mk_real *hp, const mk_real *A,
                              const mk_real *Bt, const mk_real *Ct, mk_real dt, mk_real dtu,
                              int n)
{
    mk_real an = mk_vexp(dt * A[n]), hn = an * hp[n] + dtu * Bt[n];
    a[n] = an;
    h[n] = hn;
    return Ct[n] * hn;
}

/* What the adjoint of one step t reads and writes, state by state. */
struct adj_step {
    const mk_real *A, *a, *hp, *Bt, *Ct; /* a = exp(dt A), hp = h_{t-1} (0 after a reset) */
    mk_real *dh, *dA;                    /* in: the carry from t+1; out: dh_t. dA_log sum */
    mk_real g, dt;
};

/* dh = C g + carry;  q = dh a h_prev;  sums: dh B and A q;  dA += dt q */
static inline void adj_state(const struct adj_step *s, int n, mk_real *sdhB, mk_real *sAq)
{
    mk_real dhn = s->Ct[n] * s->g + s->dh[n], q = dhn * s->a[n] * s->hp[n];
    *sdhB += dhn * s->Bt[n];
    *sAq += s->A[n] * q;
    s->dA[n] += s->dt * q;
    s->dh[n] = dhn;
}

/* An activation gradient: *p = v (MK_GRAD_SET) or *p += v */
static inline void put_grad(mk_real *p, mk_real v, enum mk_grad_write mode)
{
    *p = mode == MK_GRAD_SET ? v : *p + v;
}

/* The backward of sequence b, channels e0..e1-1 (one group). pB, pC: this group's [B, L, N]
 * partial dB, dC (NULL when not wanted), zeroed by the caller.
 * Recompute, t = 0..L-1 (h_prev = h_{t-1}, or 0 after a reset at t, or state0 at t = 0):
 *   a_t = exp(dt_t A);  h_t = a_t h_prev + dt_t u_t B_t;  y_t = C_t . h_t + D u_t
 * Adjoint, t = L-1..0, with g = dy SiLU(z) and the carry c (c = 0 at t = L-1):
 *   dh_t = C_t g + c;   c <- a_t dh_t  (0 if a reset at t: nothing reaches t-1)
 *   du  += g D + dt sum_n dh B;       ddt = sum_n A a h_prev dh + u sum_n dh B
 *   dA_log[n] += A[n] sum_t dt dh a h_prev;   dB += dh dt u;   dC += g h_t
 *   dz += dy y dSiLU(z);  ddelta += ddt dsoftplus;  dstate0 += c after t = 0              */
static MK_HOT void scan_bwd_group(const struct mk_scan_grad *g, const mk_real *dout,
                                  const mk_real *state0, const struct mk_scan_in *in, int b,
                                  int e0, int e1, mk_real *scr, mk_real *pB, mk_real *pC)
{
    const int L = in->L, E = in->E, N = in->N;
    mk_real *hs = scr, *as = hs + (size_t)L * N, *dts = as + (size_t)L * N, *ys = dts + L;
    mk_real *A = ys + L, *h0 = A + N, *zero = h0 + N, *dh = zero + N, *dA = dh + N;
    memset(zero, 0, (size_t)N * sizeof *zero);
    for (int e = e0; e < e1; e++) {
        scan_A(A, in->A_log + (size_t)e * N, N);
        if (state0)
            memcpy(h0, state0 + ((size_t)b * E + e) * N, (size_t)N * sizeof *h0);
        else
            memset(h0, 0, (size_t)N * sizeof *h0);

        for (int t = 0; t < L; t++)
            dts[t] = mk_softplus(scan_delta(in, ((size_t)b * L + t) * E + e) + in->delta_bias[e]);
        const mk_real *hp = h0;
        for (int t = 0; t < L; t++) {
            size_t row = (size_t)b * L + t;
            if (in->reset && in->reset[row])
                hp = zero;
            const mk_real *Bt = in->Bm + row * in->ld_bc, *Ct = in->Cm + row * in->ld_bc;
            mk_real u = scan_u(in, row * E + e), dt = dts[t], dtu = dt * u;
            mk_real *a = as + (size_t)t * N, *h = hs + (size_t)t * N, acc[MK_LANES] = {0};
            int n = 0;
            for (; n + MK_LANES <= N; n += MK_LANES)
#pragma omp simd
                for (int j = 0; j < MK_LANES; j++)
                    acc[j] += re_step(a, h, hp, A, Bt, Ct, dt, dtu, n + j);
            for (; n < N; n++)
                acc[0] += re_step(a, h, hp, A, Bt, Ct, dt, dtu, n);
            ys[t] = mk_lanes_sum(acc) + in->Dskip[e] * u;
            hp = h;
        }

        memset(dh, 0, (size_t)N * sizeof *dh);
        memset(dA, 0, (size_t)N * sizeof *dA);
        mk_real sD = 0, sdb = 0;
        for (int t = L - 1; t >= 0; t--) {
            size_t row = (size_t)b * L + t;
            int rst = in->reset && in->reset[row];
            const mk_real *h = hs + (size_t)t * N;
            mk_real u = scan_u(in, row * E + e), dt = dts[t], gv;
            const mk_real dy = g->dout16 ? mk_bf16_to_f32(g->dout16[row * E + e])
                                         : dout[row * E + e];
            gv = dy;
            if (in->z || in->z16) {
                mk_real zv = scan_z(in, row * in->ld_z + e), s = mk_sigmoid(zv);
                gv = dy * zv * s;
                const mk_real dzv = dy * ys[t] * s * (1 + zv * (1 - s));
                if (g->dz16)
                    g->dz16[row * in->ld_z + e] = mk_f32_to_bf16((float)dzv);
                else if (g->dz)
                    put_grad(&g->dz[row * in->ld_z + e], dzv, g->mode);
            }
            sD += gv * u;
            struct adj_step st = {A, as + (size_t)t * N, rst ? zero : t > 0 ? h - N : h0,
                                  in->Bm + row * in->ld_bc, in->Cm + row * in->ld_bc, dh, dA,
                                  gv, dt};
            mk_real lB[MK_LANES] = {0}, lA[MK_LANES] = {0};
            int n = 0;
            for (; n + MK_LANES <= N; n += MK_LANES)
#pragma omp simd
                for (int j = 0; j < MK_LANES; j++)
                    adj_state(&st, n + j, &lB[j], &lA[j]);
            for (; n < N; n++)
                adj_state(&st, n, &lB[0], &lA[0]);
            mk_real sdhB = mk_lanes_sum(lB), ddt = mk_lanes_sum(lA) + u * sdhB;
            if (pB) {
                mk_real *pb = pB + row * N, dtu = dt * u;
#pragma omp simd
                for (int k = 0; k < N; k++)
                    pb[k] += dh[k] * dtu;
            }
            if (pC) {
                mk_real *pc = pC + row * N;
#pragma omp simd
                for (int k = 0; k < N; k++)
                    pc[k] += gv * h[k];
            }
            if (rst)
                memset(dh, 0, (size_t)N * sizeof *dh);
            else
#pragma omp simd
                for (int k = 0; k < N; k++)
                    dh[k] *= st.a[k];
            put_grad(&g->du[row * E + e], gv * in->Dskip[e] + dt * sdhB, g->mode);
            mk_real x = scan_delta(in, row * E + e) + in->delta_bias[e];
            mk_real dd = ddt * (x > 20 ? 1 : mk_sigmoid(x));
            if (g->ddelta16)
                g->ddelta16[row * E + e] = mk_f32_to_bf16((float)dd);
            else
                put_grad(&g->ddelta[row * E + e], dd, g->mode);
            sdb += dd;
        }
        if (g->dstate0) {
            mk_real *ds = g->dstate0 + ((size_t)b * E + e) * N;
            for (int n = 0; n < N; n++)
                ds[n] += dh[n];
        }
        if (g->dD)
            g->dD[e] += sD;
        if (g->ddelta_bias)
            g->ddelta_bias[e] += sdb;
        if (g->dA_log)
            for (int n = 0; n < N; n++)
                g->dA_log[(size_t)e * N + n] += A[n] * dA[n];
    }
}

void MK_REF(scan_bwd)(const struct mk_scan_grad *g, const mk_real *dout, const mk_real *state0,
                      const struct mk_scan_in *in)
{
    const int B = in->B, L = in->L, E = in->E, N = in->N;
    int G = E < SCAN_GROUPS ? E : SCAN_GROUPS;
    size_t per = scan_bwd_scratch(L, N), nbc = (size_t)B * L * N;
    size_t total = G * per + (g->dB ? G * nbc : 0) + (g->dC ? G * nbc : 0);
    mk_real *scr = MK_REF(scratch_alloc)(total * sizeof *scr, "scan_bwd");
    if (!scr)
        return;
    mk_real *pB = g->dB ? scr + G * per : NULL;
    mk_real *pC = g->dC ? scr + G * per + (pB ? G * nbc : 0) : NULL;
    int par = (size_t)B * L * E * N * SCAN_COST >= MK_PAR_MIN;
#pragma omp parallel for if (par) schedule(static)
    for (int k = 0; k < G; k++) {
        mk_real *pb = pB ? pB + k * nbc : NULL, *pc = pC ? pC + k * nbc : NULL;
        if (pb)
            memset(pb, 0, nbc * sizeof *pb);
        if (pc)
            memset(pc, 0, nbc * sizeof *pc);
        for (int b = 0; b < B; b++)
            scan_bwd_group(g, dout, state0, in, b, (int)((size_t)k * E / G),
                           (int)((size_t)(k + 1) * E / G), scr + k * per, pb, pc);
    }
    /* dB[b,t,n] += sum over groups in order (likewise dC) */
    if (pB || pC) {
#pragma omp parallel for if (par) schedule(static)
        for (size_t r = 0; r < (size_t)B * L; r++)
            for (int n = 0; n < N; n++) {
                mk_real sb = 0, sc = 0;
                for (int k = 0; k < G; k++) {
                    if (pB)
                        sb += pB[k * nbc + r * N + n];
                    if (pC)
                        sc += pC[k * nbc + r * N + n];
                }
                if (pB)
                    g->dB[r * in->ld_bc + n] += sb;
                if (pC)
                    g->dC[r * in->ld_bc + n] += sc;
            }
    }
    free(scr);
}
