/* conv1d_ref.c — CPU reference of the causal depthwise conv1d + SiLU (contract: conv1d.h).
 *
 * Written once over mk_real: float in libmambakit (mk_ref_*), double for the tests (mk_refd_*).
 * Tasks own up to CONV_EB consecutive channels, with their taps transposed into a tile, so the
 * inner loops run over contiguous channels of a token row and vectorise; the backward splits
 * channels only, so dw and dbias (sums over b and t) are each summed on one thread in a fixed
 * order. A task walks the tokens of its channels with the stride of a token row, so the wider
 * its run of channels the more of each row it reads at once (128 channels instead of 32: conv
 * forward 8.3% -> 4.5% and backward 4.9% -> 3.0% of a small CPU training step); the width is
 * cut (down to 32) where that leaves fewer than two tasks a thread. Every output is computed
 * the same way whatever the width, so the results do not depend on it.
 *
 * Reset rule, in one variable: `lo` is the earliest time whose input step t may read. It
 * starts at -(K-1) with a carried state (times -(K-1)..-1 are the state) or 0 without one, and
 * becomes s at a reset at s; inputs before lo read as 0. The same lo at the end of the sequence
 * decides what the new state holds.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "conv1d.h"
#include "ref_util.h"

#define CONV_EB 128      /* channels per task (at most) */
#define CONV_EB_MIN 32   /* ... and the least it is cut to for more tasks */
#define CONV_TILE 1024   /* elements of a task's weight tiles: eb * K <= CONV_TILE */

struct conv_args {
    const mk_real *x, *state, *w, *bias; /* state may be NULL, bias may be NULL */
    int ld_x, L, E, K;
};

/* Channels per task: CONV_EB, halved (not below CONV_EB_MIN) while rows x ceil(E / eb) tasks
 * would leave a thread fewer than two; fewer when K is so large that the tiles would not fit. */
static int conv_eb(int K, int E, int rows)
{
    int eb = CONV_EB;
#ifdef _OPENMP
    const long want = 2L * omp_get_max_threads();
    while (eb > CONV_EB_MIN && (long)rows * ((E + eb - 1) / eb) < want)
        eb /= 2;
#else
    (void)E, (void)rows;
#endif
    int fit = CONV_TILE / K;
    fit = fit < 1 ? 1 : fit;
    return eb < fit ? eb : fit;
}

/* wT[k][i] = w[e0 + i, k]: the task's taps, channel-contiguous for the vector loops */
static inline void conv_tile(mk_real *wT, const mk_real *w, int e0, int ne, int K)
{
    for (int i = 0; i < ne; i++)
        for (int k = 0; k < K; k++)
            wT[(size_t)k * ne + i] = w[(size_t)(e0 + i) * K + k];
}

/* The input at time tau of sequence b, channels e0..: x[b, tau, e0 + i] = p[i * s];
 * tau < 0 reads the state [B, E, K-1] (oldest first). */
static const mk_real *conv_input(const struct conv_args *c, int b, int tau, int e0, ptrdiff_t *s)
{
    if (tau >= 0) {
        *s = 1;
        return c->x + ((size_t)b * c->L + tau) * c->ld_x + e0;
    }
    *s = c->K - 1;
    return c->state + ((size_t)b * c->E + e0) * (c->K - 1) + (c->K - 1 + tau);
}

/* a[i] = bias[e] + sum_{k: t-(K-1)+k >= lo} w[e,k] x[b, t-(K-1)+k, e],  e = e0 + i, i < ne */
static inline void conv_preact(mk_real *a, const struct conv_args *c, const mk_real *wT, int b, int t,
                        int lo, int e0, int ne)
{
    const int K = c->K;
    for (int i = 0; i < ne; i++)
        a[i] = c->bias ? c->bias[e0 + i] : 0;
    for (int k = 0; k < K; k++) {
        int tau = t - (K - 1) + k;
        if (tau < lo)
            continue;
        ptrdiff_t s;
        const mk_real *p = conv_input(c, b, tau, e0, &s), *wk = wT + (size_t)k * ne;
        if (s == 1) {
#pragma omp simd
            for (int i = 0; i < ne; i++)
                a[i] += wk[i] * p[i];
        } else {
            for (int i = 0; i < ne; i++)
                a[i] += wk[i] * p[i * s];
        }
    }
}

/* Tiles of one task: stack, or heap when K > CONV_TILE (never in Mamba: K = 4). */
static mk_real *conv_tiles(mk_real *stack, mk_real *heap, int j, int K)
{
    return heap ? heap + (size_t)j * 2 * K : stack;
}

/* One forward task: sequence b, channels e0..e0+ne-1; wT: a tile of ne * K. */
static MK_HOT void conv_fwd_task(mk_real *out, mk_real *state, const struct conv_args *c,
                                 const uint8_t *reset, int b, int e0, int ne, mk_real *wT)
{
    const int L = c->L, E = c->E, K = c->K;
    int lo = state ? -(K - 1) : 0;
    mk_real a[CONV_EB];
    conv_tile(wT, c->w, e0, ne, K);
    for (int t = 0; t < L; t++) {
        if (reset && reset[(size_t)b * L + t])
            lo = t;
        conv_preact(a, c, wT, b, t, lo, e0, ne);
        mk_real *o = out + ((size_t)b * L + t) * E + e0;
#pragma omp simd
        for (int i = 0; i < ne; i++)
            o[i] = a[i] * mk_sigmoid(a[i]);
    }
    if (!state)
        return;
    /* In place, oldest first: slot j reads old slot L+j (> j) before it is overwritten. */
    for (int i = 0; i < ne; i++) {
        int e = e0 + i;
        mk_real *st = state + ((size_t)b * E + e) * (K - 1);
        for (int j = 0; j < K - 1; j++) {
            int tau = L - (K - 1) + j;
            st[j] = tau < lo ? 0 : tau >= 0 ? c->x[((size_t)b * L + tau) * c->ld_x + e]
                                            : st[K - 1 + tau];
        }
    }
}

/* out[b,t,e] = SiLU(a[b,t,e]); then state[b,e,j] = input at time L-(K-1)+j (0 if before lo) */
void MK_REF(conv1d_fwd)(mk_real *out, mk_real *state, const mk_real *x, int ld_x,
                        const mk_real *w, const mk_real *bias, const uint8_t *reset,
                        int B, int L, int E, int K, uint16_t *out16, const uint16_t *x16)
{
    mk_real *x32 = x16 ? mk_values_of_bf16(x16, (size_t)B * L, E, ld_x, "conv1d_fwd") : NULL;
    mk_real *out32 = out ? NULL : MK_REF(scratch_alloc)((size_t)B * L * E * sizeof *out32,
                                                          "conv1d_fwd");
    if ((x16 && !x32) || (!out && !out32)) {
        free(x32);
        free(out32);
        return;
    }
    if (x32)
        x = x32, ld_x = E;
    if (out32)
        out = out32;
    const struct conv_args c = {x, state, w, bias, ld_x, L, E, K};
    int eb = conv_eb(K, E, B), nblk = (E + eb - 1) / eb;
    mk_real *heap = NULL;
    if (K > CONV_TILE) {
        heap = MK_REF(scratch_alloc)((size_t)B * nblk * 2 * K * sizeof *heap, "conv1d_fwd");
        if (!heap) {
            free(x32);
            free(out32);
            return;
        }
    }
#pragma omp parallel for if ((size_t)B * L * E * K >= MK_PAR_MIN) schedule(static)
    for (int j = 0; j < B * nblk; j++) {
        mk_real stack[2 * CONV_TILE];
        int e0 = j % nblk * eb, ne = E - e0 < eb ? E - e0 : eb;
        conv_fwd_task(out, state, &c, reset, j / nblk, e0, ne, conv_tiles(stack, heap, j, K));
    }
    free(heap);
    for (size_t i = 0; out16 && i < (size_t)B * L * E; i++)
        out16[i] = mk_f32_to_bf16((float)out[i]);
    free(x32);
    free(out32);
}

/* One backward task: channels e0..e0+ne-1 of every sequence; wT: tiles of 2 * ne * K.
 * dx[tau] takes its taps from t = tau .. tau+K-1, so with MK_GRAD_SET row t is cleared when
 * step t begins, before anything adds to it. */
static MK_HOT void conv_bwd_task(mk_real *dx, int ld_dx, mk_real *dw, mk_real *dbias,
                                 const mk_real *dout, const struct conv_args *c,
                                 const uint8_t *reset, int B, int e0, int ne, mk_real *wT,
                                 enum mk_grad_write dx_mode)
{
    const int L = c->L, E = c->E, K = c->K;
    mk_real a[CONV_EB], da[CONV_EB], db[CONV_EB] = {0}, *dwT = wT + (size_t)ne * K;
    conv_tile(wT, c->w, e0, ne, K);
    memset(dwT, 0, (size_t)ne * K * sizeof *dwT);
    for (int b = 0; b < B; b++) {
        int lo = c->state ? -(K - 1) : 0;
        for (int t = 0; t < L; t++) {
            if (reset && reset[(size_t)b * L + t])
                lo = t;
            if (dx_mode == MK_GRAD_SET)
                memset(dx + ((size_t)b * L + t) * ld_dx + e0, 0, (size_t)ne * sizeof *dx);
            conv_preact(a, c, wT, b, t, lo, e0, ne);
            const mk_real *go = dout + ((size_t)b * L + t) * E + e0;
#pragma omp simd
            for (int i = 0; i < ne; i++) {
                mk_real s = mk_sigmoid(a[i]);
                da[i] = go[i] * s * (1 + a[i] * (1 - s));
                db[i] += da[i];
            }
            for (int k = 0; k < K; k++) {
                int tau = t - (K - 1) + k;
                if (tau < lo)
                    continue;
                ptrdiff_t s;
                const mk_real *p = conv_input(c, b, tau, e0, &s), *wk = wT + (size_t)k * ne;
                mk_real *dwk = dwT + (size_t)k * ne;
                if (tau < 0) { /* the state: no dx */
                    for (int i = 0; i < ne; i++)
                        dwk[i] += da[i] * p[i * s];
                    continue;
                }
                mk_real *dxr = dx + ((size_t)b * L + tau) * ld_dx + e0;
#pragma omp simd
                for (int i = 0; i < ne; i++) {
                    dwk[i] += da[i] * p[i];
                    dxr[i] += da[i] * wk[i];
                }
            }
        }
    }
    for (int i = 0; i < ne; i++) {
        for (int k = 0; k < K; k++)
            dw[(size_t)(e0 + i) * K + k] += dwT[(size_t)k * ne + i];
        if (dbias)
            dbias[e0 + i] += db[i];
    }
}

/* With s = sigmoid(a): dact = dout * s * (1 + a (1 - s))   (d SiLU / da)
 *   dx[b, tau, e] += dact[b,t,e] w[e,k]     tau = t-(K-1)+k, lo <= tau, tau >= 0
 *   dw[e,k]       += dact[b,t,e] x[b, tau, e]   (tau < 0: the state)
 *   dbias[e]      += dact[b,t,e]
 * dw and dbias are summed over (b, t) in the task's tiles, then added once. */
void MK_REF(conv1d_bwd)(mk_real *dx, int ld_dx, mk_real *dw, mk_real *dbias,
                        const mk_real *dout, const mk_real *state, const mk_real *x, int ld_x,
                        const mk_real *w, const mk_real *bias, const uint8_t *reset,
                        int B, int L, int E, int K, enum mk_grad_write dx_mode,
                        uint16_t *dx16, const uint16_t *x16)
{
    mk_real *x32 = x16 ? mk_values_of_bf16(x16, (size_t)B * L, E, ld_x, "conv1d_bwd") : NULL;
    if (x16 && !x32)
        return;
    if (x32)
        x = x32, ld_x = E;
    const struct conv_args c = {x, state, w, bias, ld_x, L, E, K};
    int eb = conv_eb(K, E, 1), nblk = (E + eb - 1) / eb;
    mk_real *heap = NULL, *dx32 = NULL;
    const size_t rows = (size_t)B * L;
    const int ld_dx16 = ld_dx;
    if (dx16) { /* dx set in fp32 scratch [B*L, E], then rounded into dx16 */
        if (!(dx32 = MK_REF(scratch_alloc)(rows * E * sizeof *dx32, "conv1d_bwd"))) {
            free(x32);
            return;
        }
        dx = dx32, ld_dx = E, dx_mode = MK_GRAD_SET;
    }
    if (K > CONV_TILE) {
        heap = MK_REF(scratch_alloc)((size_t)nblk * 2 * K * sizeof *heap, "conv1d_bwd");
        if (!heap) {
            free(dx32);
            free(x32);
            return;
        }
    }
#pragma omp parallel for if ((size_t)B * L * E * K >= MK_PAR_MIN) schedule(static)
    for (int j = 0; j < nblk; j++) {
        mk_real stack[2 * CONV_TILE];
        int e0 = j * eb, ne = E - e0 < eb ? E - e0 : eb;
        conv_bwd_task(dx, ld_dx, dw, dbias, dout, &c, reset, B, e0, ne,
                      conv_tiles(stack, heap, j, K), dx_mode);
    }
    free(heap);
    for (size_t r = 0; dx32 && r < rows; r++)
        for (int e = 0; e < E; e++)
            dx16[r * ld_dx16 + e] = mk_f32_to_bf16((float)dx32[r * E + e]);
    free(dx32);
    free(x32);
}
