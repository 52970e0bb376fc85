/* scan_kernels.cuh — the selective scan kernels (contract: scan.h), templated on the storage
 * type T of the token tensors (float for the op table, __nv_bfloat16 for the bf16 variant)
 * and TU of u, delta, z and dout (T, or bf16 for the op table's bf16 activations: scan_args);
 * state and arithmetic are fp32. Included by scan.cu and scan_bf16.cu only.
 *
 * Token-major layout [B, L, E]: a warp's lanes walk consecutive channels of one token row, so
 * every load of u, delta, z, dout is coalesced. The time axis is cut into chunks of Tc steps so
 * that B = 1 with long L still fills the GPU; a chunk's block holds 128/TPC channels, each
 * channel's N states split over TPC lanes (NS states per lane, in registers). B_t and C_t rows
 * are staged in shared memory once per block for all its channels.
 *
 * The recurrence per (b, e, n) is affine, h_t = alpha_t h_{t-1} + beta_t with
 *   alpha_t = reset_t ? 0 : exp(dt_t A),   beta_t = dt_t u_t B_t[n],   dt_t = softplus(delta+bias),
 * so a chunk composes to h_end = P h_start + S with P = prod alpha = exp(A sum dt) (0 if the
 * chunk holds a reset) and S = the chunk's own scan from 0. Three passes:
 *   1 summary  (one thread per chunk lane): S and sum dt per chunk          [B, nch, E, N], [B, nch, E]
 *   2 carry    (one thread per (b,e,n)):   h_in of every chunk, in place of S; the final state
 *   3 output   (as 1): rescan each chunk from its h_in, y = C.h + D u, gate, store.
 * exp(dt A) is exp2(dt A log2 e) with A log2 e formed once (MUFU ex2).
 *
 * Backward (recompute, never stores h): the adjoint carry k_t (what reaches h_{t-1} from the
 * right) obeys k_t = alpha_t (C_t g_t + k_{t+1}), g = dout SiLU(z): the same affine form run
 * backwards with the same P, so pass 1 also gives each chunk's Sr = sum_t (prod_{s<=t} alpha_s)
 * C_t g_t and pass 2 the k entering each chunk from the right (and dstate0 = k_0). Pass 3 per
 * chunk: a forward sweep keeps h at every SUB-th step in shared memory; then, sub-block by
 * sub-block from the end, h is recomputed into registers (q = alpha h_{t-1} and alpha) and the
 * adjoint runs backwards: dh = C g + k, k = alpha dh,
 *   du += g D + dt sum_n dh B;   ddt = sum_n dh (A q + B u);   dA_log[n] += A sum dt dh q
 *   dB_t[n] += sum_e dh dt u;    dC_t[n] += sum_e g h_t;      dz += dout y dSiLU(z).
 * Sums over channels (dB, dC) go through shared memory in channel order to per-block partials;
 * sums over tokens (dA_log, dD, ddelta_bias) to per-chunk partials; all are added in a fixed
 * order (no atomics): the backward is deterministic.
 * For N <= 16 the backward's pass 3 is scan_bwd16_kernel (one lane per channel, chunks of 32,
 * checkpoints every 4 steps, dB/dC by warp butterfly; see there), pass 1 with NS = 8, two
 * lanes a channel (scan_bwd_summary16).
 * L = 1 (decoding) skips the passes: scan_step_kernel, a group of lanes per (b, e), or from
 * MK_SCAN_STEP_ROW_MIN rows up (N = 16) scan_step_row_kernel, a thread per (b, e).
 */
#ifndef MK_SCAN_KERNELS_CUH
#define MK_SCAN_KERNELS_CUH

#include <stdlib.h>
#include <cuda_bf16.h>
#include "cuda_common.cuh"

#define SCAN_THREADS 128
#define SCAN_TT 32     /* time steps of B/C staged per tile (passes 1 and 3 forward) */
#define SCAN_BWD_TC 64 /* chunk of the backward */
#define SCAN_SUB 8     /* sub-block of the backward's reverse sweep */
#define SCAN_LOG2E 1.4426950408889634f

/* Fast special functions (MUFU forms), accurate to a few ulp where the scan needs them:
 * ex2.approx (2 ulp); softplus from one ex2 with a log1p series below e^x = 1/16 and
 * log(1 + e) * e / ((1 + e) - 1) above (the rounding of 1 + e cancels; log by lg2.approx,
 * within 6e-6 relative from 1 + 1/16 up); sigmoid through
 * ex2 and the approximate divide (1 / inf = 0 for x << 0). */
__device__ __forceinline__ float scan_ex2(float x)
{
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
}
__device__ __forceinline__ float scan_softplus(float x)
{
    float e = scan_ex2(x * SCAN_LOG2E), u = 1.0f + e;
    float ser = e * (1.0f - e * (0.5f - e * (0.33333334f - e * (0.25f - e * 0.2f))));
    float lg = __logf(u) * __fdividef(e, u - 1.0f);
    return x > 20.0f ? x : e < 0.0625f ? ser : lg;
}
__device__ __forceinline__ float scan_sigmoid(float x)
{
    return __fdividef(1.0f, 1.0f + scan_ex2(-x * SCAN_LOG2E));
}

/* Inputs are read-only for a kernel's life: loads through ldf (cuda_common.cuh), the
 * non-coherent path, which also lets the compiler issue them ahead of the gradient stores. */
/* plain loads of memory the kernel also writes (not __ldg) */
__device__ __forceinline__ float ldg(const float *p, size_t i)
{
    return p[i];
}
__device__ __forceinline__ float ldg(const __nv_bfloat16 *p, size_t i)
{
    return __bfloat162float(p[i]);
}
__device__ __forceinline__ void addf(float *p, size_t i, float v)
{
    p[i] += v;
}
__device__ __forceinline__ void addf(__nv_bfloat16 *p, size_t i, float v)
{
    p[i] = __float2bfloat16(__bfloat162float(p[i]) + v);
}
__device__ __forceinline__ void stf(float *p, size_t i, float v)
{
    p[i] = v;
}
__device__ __forceinline__ void stf(__nv_bfloat16 *p, size_t i, float v)
{
    p[i] = __float2bfloat16(v);
}
/* the forward's output: into out, or in bf16 into out16 when it is given */
template <typename T>
__device__ __forceinline__ void put_out(T *out, __nv_bfloat16 *out16, size_t i, float v)
{
    if (out16)
        out16[i] = __float2bfloat16(v);
    else
        stf(out, i, v);
}
/* an activation gradient: set (MK_GRAD_SET) or added; with p16, set in bf16 there instead;
 * neither (p16 and p NULL): not wanted */
template <typename T> __device__ __forceinline__ void put_grad(T *p, size_t i, float v, bool set)
{
    if (set)
        stf(p, i, v);
    else
        addf(p, i, v);
}
template <typename T>
__device__ __forceinline__ void put_grad16(T *p, __nv_bfloat16 *p16, size_t i, float v, bool set)
{
    if (p16)
        p16[i] = __float2bfloat16(v);
    else if (p)
        put_grad(p, i, v, set);
}

/* T: the type of B and C; TU: that of u, delta, z and the backward's dout (bf16 in the bf16
 * mode of the model, whose u, delta, xz and the output's gradient are bf16, with fp32 B, C) */
template <typename T, typename TU = T> struct scan_args {
    const TU *u;
    const TU *delta;
    const TU *z;
    const T *Bm, *Cm;
    const TU *dout;
    const float *delta_bias, *A_log, *Dskip;
    const uint8_t *reset;
    int B, L, E, N, ld_bc, ld_z;
    int Tc, nch, TPC;
    float *S, *Sr, *sdt; /* chunk summaries, then carries */
    const float *x_dt, *W_dt; /* the step's dt_proj (scan.h), or NULL */
    int R;
    __nv_bfloat16 *out16;     /* the forward's output in bf16 instead (scan.h), or NULL */
};

/* This thread's place: channel e (clamped for loads; act = e < E), lane g of TPC, b, chunk. */
struct scan_lane {
    int e, g, b, c, t0, t1, cl;
    bool act;
};

__device__ __forceinline__ scan_lane scan_place(int TPC, int E, int L, int Tc)
{
    scan_lane p;
    int chb = SCAN_THREADS / TPC;
    p.cl = threadIdx.x / TPC;
    p.g = threadIdx.x % TPC;
    int e = blockIdx.y * chb + p.cl;
    p.act = e < E;
    p.e = p.act ? e : E - 1;
    p.b = blockIdx.z;
    p.c = blockIdx.x;
    p.t0 = p.c * Tc;
    p.t1 = min(p.t0 + Tc, L);
    return p;
}

/* Sum over the TPC lanes of a channel (TPC a power of two <= 32). */
__device__ __forceinline__ float lane_sum(float v, int TPC)
{
    for (int o = 1; o < TPC; o <<= 1)
        v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Stage rows t0..t0+nt-1 of B and C (and the reset flags) into shared memory, padded to
 * npad states with zeros: sB[t * npad + n]. */
template <typename T, typename TU>
__device__ __forceinline__ void stage_bc(float *sB, float *sC, uint8_t *sR,
                                         const scan_args<T, TU> &a, int b, int t0, int nt,
                                         int ntile, int npad)
{
    for (int i = threadIdx.x; i < ntile * npad; i += SCAN_THREADS) {
        int t = i / npad, n = i % npad;
        bool ok = t < nt && n < a.N;
        size_t r = ((size_t)b * a.L + t0 + t) * a.ld_bc + n;
        sB[i] = ok ? ldf(a.Bm, r) : 0.0f;
        sC[i] = ok ? ldf(a.Cm, r) : 0.0f;
    }
    for (int t = threadIdx.x; t < ntile; t += SCAN_THREADS)
        sR[t] = t < nt && a.reset ? a.reset[(size_t)b * a.L + t0 + t] : 0;
}

/* Row of NS (a multiple of 4) staged B or C values, 16-byte aligned, by 16-byte loads */
template <int NS> __device__ __forceinline__ void ld_row(float (&v)[NS], const float *p)
{
    static_assert(NS % 4 == 0, "rows of 4-float vectors");
#pragma unroll
    for (int i = 0; i < NS / 4; i++) {
        float4 t = reinterpret_cast<const float4 *>(p)[i];
        v[4 * i] = t.x, v[4 * i + 1] = t.y, v[4 * i + 2] = t.z, v[4 * i + 3] = t.w;
    }
}

/* A log2(e) for this lane's states (-1 for padding states: negative like every A, so that a
 * reset's exp below is 0 for them too; their h stays 0, B being 0) */
template <int NS>
__device__ __forceinline__ void load_A2(float A2[NS], const float *A_log, int e, int g, int N)
{
#pragma unroll
    for (int i = 0; i < NS; i++) {
        int n = g * NS + i;
        A2[i] = n < N ? -expf(A_log[(size_t)e * N + n]) * SCAN_LOG2E : -1.0f;
    }
}

/* The dt that the step's decay exp(dt A) is taken at: at a reset step +inf, so that
 * exp2(dt A log2 e) = ex2(-inf) = 0 drops what came before (h, and the backward's products and
 * adjoint) in the same multiply: one select a step instead of one a state. */
__device__ __forceinline__ float scan_decay_dt(float dt, bool reset)
{
    return reset ? INFINITY : dt;
}

/* The per-step inputs of a lane (u, delta + bias, and dout, z where wanted) two steps ahead
 * of use: the summary and output passes would otherwise wait on each step's loads. */
template <typename T> struct scan_pf {
    float u[2], x[2], dy[2], z[2];
};
template <typename T, typename TU>
__device__ __forceinline__ void scan_pf_load(scan_pf<T> &f, int slot, const scan_args<T, TU> &a,
                                             const scan_lane &p, int t, float bias, bool dy,
                                             bool z)
{
    bool ok = t < p.t1;
    size_t row = (size_t)p.b * a.L + (ok ? t : p.t0), o = row * a.E + p.e;
    f.u[slot] = ldf(a.u, o);
    f.x[slot] = ldf(a.delta, o) + bias;
    f.dy[slot] = dy ? ldf(a.dout, o) : 0.0f;
    f.z[slot] = z && a.z ? ldf(a.z, row * a.ld_z + p.e) : 0.0f;
}
/* take step t's inputs (slot 0) and load step t + 2's */
template <typename T, typename TU>
__device__ __forceinline__ void scan_pf_next(scan_pf<T> &f, float &u, float &x, float &dy,
                                             float &z, const scan_args<T, TU> &a,
                                             const scan_lane &p, int t, float bias, bool wdy,
                                             bool wz)
{
    u = f.u[0], x = f.x[0], dy = f.dy[0], z = f.z[0];
    f.u[0] = f.u[1], f.x[0] = f.x[1], f.dy[0] = f.dy[1], f.z[0] = f.z[1];
    scan_pf_load(f, 1, a, p, t + 2, bias, wdy, wz);
}

/* Pass 1: per chunk lane, S (and for the backward Sr) and sum dt (-1 when the chunk resets). */
template <typename T, typename TU, int NS, bool BWD>
__global__ void scan_summary_kernel(scan_args<T, TU> a)
{
    extern __shared__ float smem[];
    int npad = a.TPC * NS;
    float *sB = smem, *sC = sB + SCAN_TT * npad;
    uint8_t *sR = (uint8_t *)(sC + SCAN_TT * npad);
    scan_lane p = scan_place(a.TPC, a.E, a.L, a.Tc);
    float A2[NS], h[NS], pi[NS], sr[NS];
    load_A2<NS>(A2, a.A_log, p.e, p.g, a.N);
#pragma unroll
    for (int i = 0; i < NS; i++) {
        h[i] = 0.0f;
        pi[i] = 1.0f;
        sr[i] = 0.0f;
    }
    float bias = a.delta_bias[p.e], sdt = 0.0f;
    bool rs = false;
    scan_pf<T> pf;
    scan_pf_load(pf, 0, a, p, p.t0, bias, BWD, BWD);
    scan_pf_load(pf, 1, a, p, p.t0 + 1, bias, BWD, BWD);
    for (int tt = p.t0; tt < p.t1; tt += SCAN_TT) {
        int nt = min(SCAN_TT, p.t1 - tt);
        __syncthreads();
        stage_bc(sB, sC, sR, a, p.b, tt, nt, SCAN_TT, npad);
        __syncthreads();
        for (int s = 0; s < nt; s++) {
            float u, x, dy, zv;
            scan_pf_next(pf, u, x, dy, zv, a, p, tt + s, bias, BWD, BWD);
            float dt = scan_softplus(x);
            float gt = BWD ? (a.z ? dy * zv * scan_sigmoid(zv) : dy) : 0.0f;
            const bool r = sR[s];
            const float dtA = scan_decay_dt(dt, r);
            rs = rs || r;
            sdt += dt;
            float Bt[NS], Ct[NS];
            ld_row<NS>(Bt, sB + s * npad + p.g * NS);
            ld_row<NS>(Ct, sC + s * npad + p.g * NS);
#pragma unroll
            for (int i = 0; i < NS; i++) {
                float al = scan_ex2(dtA * A2[i]);
                h[i] = al * h[i] + dt * u * Bt[i];
                if (BWD) {
                    pi[i] *= al;
                    sr[i] += pi[i] * Ct[i] * gt;
                }
            }
        }
    }
    if (!p.act)
        return;
    size_t o = (((size_t)p.b * a.nch + p.c) * a.E + p.e) * a.N;
#pragma unroll
    for (int i = 0; i < NS; i++) {
        int n = p.g * NS + i;
        if (n < a.N) {
            a.S[o + n] = h[i];
            if (BWD)
                a.Sr[o + n] = sr[i];
        }
    }
    if (p.g == 0)
        a.sdt[((size_t)p.b * a.nch + p.c) * a.E + p.e] = rs ? -1.0f : sdt;
}

/* Pass 2: one thread per (b, e, n). Forward carry h_in of each chunk (in place of S) from
 * state (or 0); the final state to `state`. Backward (Sr != NULL): the carry from the right
 * k_in of each chunk (in place of Sr), and dstate0 += k_0. Loads are issued SCAN_P2 chunks
 * ahead of the serial chain. */
#define SCAN_P2 16
template <typename T, typename TU>
__global__ void scan_carry_kernel(scan_args<T, TU> a, const float *state0, float *state_out,
                                  float *dstate0)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, EN = (size_t)a.E * a.N;
    if (i >= (size_t)a.B * EN)
        return;
    int b = (int)(i / EN), en = (int)(i % EN), e = en / a.N;
    float A2 = -expf(a.A_log[en]) * SCAN_LOG2E;
    size_t base = (size_t)b * a.nch * EN + en, sbase = (size_t)b * a.nch * a.E + e;
    float h = state0 ? state0[i] : 0.0f;
    /* chunks whose summary is read: without state_out not the last (h after it is unused,
     * and the forward does not make that summary) */
    const int nsum = state_out ? a.nch : a.nch - 1;
    for (int c0 = 0; c0 < a.nch; c0 += SCAN_P2) {
        float P[SCAN_P2], S[SCAN_P2];
#pragma unroll
        for (int j = 0; j < SCAN_P2; j++) {
            int c = c0 + j;
            float sd = c < nsum ? a.sdt[sbase + (size_t)c * a.E] : -1.0f;
            P[j] = sd < 0.0f ? 0.0f : exp2f(A2 * sd);
            S[j] = c < nsum ? a.S[base + (size_t)c * EN] : 0.0f;
        }
#pragma unroll
        for (int j = 0; j < SCAN_P2; j++)
            if (c0 + j < a.nch) {
                a.S[base + (size_t)(c0 + j) * EN] = h;
                h = P[j] * h + S[j];
            }
    }
    if (state_out)
        state_out[i] = h;
    if (!a.Sr)
        return;
    float k = 0.0f;
    for (int c0 = a.nch - 1; c0 >= 0; c0 -= SCAN_P2) {
        float P[SCAN_P2], S[SCAN_P2];
#pragma unroll
        for (int j = 0; j < SCAN_P2; j++) {
            int c = c0 - j;
            float sd = c >= 0 ? a.sdt[sbase + (size_t)c * a.E] : -1.0f;
            P[j] = sd < 0.0f ? 0.0f : exp2f(A2 * sd);
            S[j] = c >= 0 ? a.Sr[base + (size_t)c * EN] : 0.0f;
        }
#pragma unroll
        for (int j = 0; j < SCAN_P2; j++)
            if (c0 - j >= 0) {
                a.Sr[base + (size_t)(c0 - j) * EN] = k;
                k = P[j] * k + S[j];
            }
    }
    if (dstate0)
        dstate0[i] += k;
}

/* Load this lane's part of a per-chunk [.., E, N] carry. */
template <int NS>
__device__ __forceinline__ void load_carry(float v[NS], const float *X, const scan_lane &p,
                                           int nch, int E, int N)
{
    size_t o = (((size_t)p.b * nch + p.c) * E + p.e) * N;
#pragma unroll
    for (int i = 0; i < NS; i++) {
        int n = p.g * NS + i;
        v[i] = n < N ? X[o + n] : 0.0f;
    }
}

/* Pass 3 forward: rescan each chunk from h_in; out = (C.h + D u) SiLU(z). */
template <typename T, typename TU, int NS>
__global__ void scan_out_kernel(T *out, scan_args<T, TU> a)
{
    extern __shared__ float smem[];
    int npad = a.TPC * NS;
    float *sB = smem, *sC = sB + SCAN_TT * npad;
    uint8_t *sR = (uint8_t *)(sC + SCAN_TT * npad);
    scan_lane p = scan_place(a.TPC, a.E, a.L, a.Tc);
    float A2[NS], h[NS];
    load_A2<NS>(A2, a.A_log, p.e, p.g, a.N);
    load_carry<NS>(h, a.S, p, a.nch, a.E, a.N);
    float bias = a.delta_bias[p.e], Dsk = a.Dskip[p.e];
    scan_pf<T> pf;
    scan_pf_load(pf, 0, a, p, p.t0, bias, false, true);
    scan_pf_load(pf, 1, a, p, p.t0 + 1, bias, false, true);
    for (int tt = p.t0; tt < p.t1; tt += SCAN_TT) {
        int nt = min(SCAN_TT, p.t1 - tt);
        __syncthreads();
        stage_bc(sB, sC, sR, a, p.b, tt, nt, SCAN_TT, npad);
        __syncthreads();
        for (int s = 0; s < nt; s++) {
            size_t row = (size_t)p.b * a.L + tt + s;
            float u, x, dy, zv;
            scan_pf_next(pf, u, x, dy, zv, a, p, tt + s, bias, false, true);
            float dt = scan_softplus(x), dtA = scan_decay_dt(dt, sR[s]);
            float Bt[NS], Ct[NS];
            ld_row<NS>(Bt, sB + s * npad + p.g * NS);
            ld_row<NS>(Ct, sC + s * npad + p.g * NS);
            float y = 0.0f;
#pragma unroll
            for (int i = 0; i < NS; i++) {
                h[i] = scan_ex2(dtA * A2[i]) * h[i] + dt * u * Bt[i];
                y += Ct[i] * h[i];
            }
            y = lane_sum(y, a.TPC) + Dsk * u;
            if (a.z)
                y *= zv * scan_sigmoid(zv);
            if (p.act && p.g == 0)
                put_out(out, a.out16, row * a.E + p.e, y);
        }
    }
}

/* The per-step inputs of steps s0..s0+SUB-1 of this lane's chunk, loaded together ahead of
 * use (steps past nt read as 0, which the callers treat as identity steps): u, delta + bias,
 * and for the adjoint dout and z (dy, z may be NULL: not wanted). */
template <typename T, typename TU>
__device__ __forceinline__ void scan_steps(float *su, float *sx, float *sdy, float *sz,
                                           const scan_args<T, TU> &a, const scan_lane &p, int s0,
                                           int nt, float bias)
{
#pragma unroll
    for (int s = 0; s < SCAN_SUB; s++) {
        bool ok = s0 + s < nt;
        size_t row = (size_t)p.b * a.L + p.t0 + s0 + s;
        su[s] = ok ? ldf(a.u, row * a.E + p.e) : 0.0f;
        sx[s] = ok ? ldf(a.delta, row * a.E + p.e) + bias : 0.0f;
        if (sdy)
            sdy[s] = ok ? ldf(a.dout, row * a.E + p.e) : 0.0f;
        if (sz)
            sz[s] = ok && a.z ? ldf(a.z, row * a.ld_z + p.e) : 0.0f;
    }
}

/* Pass 3 backward. Shared memory: B, C, reset of the chunk; checkpoints h every SCAN_SUB
 * steps [Tc/SUB][NS][threads]; the dB/dC exchange [2][channels][SUB*npad + 1]. */
template <typename T> struct scan_grads {
    T *du, *ddelta, *dz;
    bool set;               /* MK_GRAD_SET: du, ddelta, dz written, never read */
    __nv_bfloat16 *ddelta16, *dz16; /* or NULL: ddelta / dz set in bf16 there instead */
    float *pdB, *pdC;       /* [nEblk, B*L, N] per-block partials */
    float *pdA, *pdD, *pdb; /* [B*nch, E*N], [B*nch, E], [B*nch, E] */
};

template <typename T, typename TU, int NS>
__global__ void __launch_bounds__(SCAN_THREADS)
    scan_bwd_kernel(scan_args<T, TU> a, scan_grads<T> gr)
{
    extern __shared__ float smem[];
    const int npad = a.TPC * NS, chb = SCAN_THREADS / a.TPC, rw = SCAN_SUB * npad + 1;
    float *sB = smem, *sC = sB + SCAN_BWD_TC * npad;
    float *ck = sC + SCAN_BWD_TC * npad;                   /* [TC/SUB][NS][threads] */
    float *xB = ck + (SCAN_BWD_TC / SCAN_SUB) * NS * SCAN_THREADS, *xC = xB + chb * rw;
    uint8_t *sR = (uint8_t *)(xC + chb * rw);
    scan_lane p = scan_place(a.TPC, a.E, a.L, a.Tc);
    float A2[NS], h[NS], k[NS], dA[NS];
    load_A2<NS>(A2, a.A_log, p.e, p.g, a.N);
    load_carry<NS>(h, a.S, p, a.nch, a.E, a.N);
    load_carry<NS>(k, a.Sr, p, a.nch, a.E, a.N);
    const float bias = a.delta_bias[p.e], Dsk = a.Dskip[p.e];
    int nt = p.t1 - p.t0;
    stage_bc(sB, sC, sR, a, p.b, p.t0, nt, SCAN_BWD_TC, npad);
    __syncthreads();

    /* forward sweep: checkpoint h at the start of every sub-block */
    float su[SCAN_SUB], sx[SCAN_SUB], sdy[SCAN_SUB], sz[SCAN_SUB];
    for (int s0 = 0; s0 < nt; s0 += SCAN_SUB) {
        scan_steps(su, sx, NULL, NULL, a, p, s0, nt, bias);
#pragma unroll
        for (int i = 0; i < NS; i++)
            ck[((s0 / SCAN_SUB) * NS + i) * SCAN_THREADS + threadIdx.x] = h[i];
#pragma unroll
        for (int s = 0; s < SCAN_SUB; s++) {
            if (s0 + s >= nt)
                break;
            float dt = scan_softplus(sx[s]);
            float Bt[NS];
            ld_row<NS>(Bt, sB + (s0 + s) * npad + p.g * NS);
            bool r = sR[s0 + s];
#pragma unroll
            for (int i = 0; i < NS; i++)
                h[i] = scan_ex2(dt * A2[i]) * (r ? 0.0f : h[i]) + dt * su[s] * Bt[i];
        }
    }

    float sD = 0.0f, sdb = 0.0f;
#pragma unroll
    for (int i = 0; i < NS; i++)
        dA[i] = 0.0f;
    for (int j = (nt - 1) / SCAN_SUB; j >= 0; j--) {
        int s0 = j * SCAN_SUB;
        float q[SCAN_SUB][NS], al[SCAN_SUB][NS], rdu[SCAN_SUB], rdd[SCAN_SUB], rdz[SCAN_SUB];
        scan_steps(su, sx, sdy, sz, a, p, s0, nt, bias);
#pragma unroll
        for (int i = 0; i < NS; i++)
            h[i] = ck[(j * NS + i) * SCAN_THREADS + threadIdx.x];
#pragma unroll
        for (int s = 0; s < SCAN_SUB; s++) {
            float dt = scan_softplus(sx[s]);
            float Bt[NS];
            ld_row<NS>(Bt, sB + (s0 + s) * npad + p.g * NS);
            bool r = sR[s0 + s];
#pragma unroll
            for (int i = 0; i < NS; i++) {
                al[s][i] = scan_ex2(dt * A2[i]);
                q[s][i] = al[s][i] * (r ? 0.0f : h[i]);
                h[i] = q[s][i] + dt * su[s] * Bt[i];
            }
        }
#pragma unroll
        for (int s = SCAN_SUB - 1; s >= 0; s--) {
            float *xb = xB + p.cl * rw + s * npad + p.g * NS, *xc = xC + p.cl * rw + s * npad + p.g * NS;
            float u = su[s], x = sx[s], dt = scan_softplus(x), dy = sdy[s];
            float sg = a.z ? scan_sigmoid(sz[s]) : 1.0f, gt = a.z ? dy * sz[s] * sg : dy;
            float Bt[NS], Ct[NS];
            ld_row<NS>(Bt, sB + (s0 + s) * npad + p.g * NS);
            ld_row<NS>(Ct, sC + (s0 + s) * npad + p.g * NS);
            bool r = sR[s0 + s], valid = s0 + s < nt;
            float dtu = dt * u, sB_ = 0.0f, ddt = 0.0f, y = 0.0f;
#pragma unroll
            for (int i = 0; i < NS; i++) {
                float hc = q[s][i] + dtu * Bt[i];
                float dh = valid ? Ct[i] * gt + k[i] : 0.0f;
                float A = A2[i] * (1.0f / SCAN_LOG2E);
                sB_ += dh * Bt[i];
                ddt += A * dh * q[s][i] + dh * Bt[i] * u;
                dA[i] += dt * dh * q[s][i];
                y += Ct[i] * hc;
                xb[i] = p.act ? dh * dtu : 0.0f;
                xc[i] = p.act && valid ? gt * hc : 0.0f;
                k[i] = !valid ? k[i] : r ? 0.0f : al[s][i] * dh;
            }
            sB_ = lane_sum(sB_, a.TPC);
            ddt = lane_sum(ddt, a.TPC);
            y = lane_sum(y, a.TPC);
            rdu[s] = gt * Dsk + dt * sB_;
            rdd[s] = valid ? ddt * (x > 20.0f ? 1.0f : scan_sigmoid(x)) : 0.0f;
            rdz[s] = dy * (y + Dsk * u) * sg * (1.0f + sz[s] * (1.0f - sg));
            sdb += rdd[s];
            sD += valid ? gt * u : 0.0f;
        }
        if (p.act && p.g == 0) {
#pragma unroll
            for (int s = 0; s < SCAN_SUB; s++) {
                if (s0 + s >= nt)
                    break;
                size_t row = (size_t)p.b * a.L + p.t0 + s0 + s, o = row * a.E + p.e;
                put_grad(gr.du, o, rdu[s], gr.set);
                put_grad16(gr.ddelta, gr.ddelta16, o, rdd[s], gr.set);
                if (a.z)
                    put_grad16(gr.dz, gr.dz16, row * a.ld_z + p.e, rdz[s], gr.set);
            }
        }
        __syncthreads();
        /* dB, dC of this sub-block: sum over the block's channels in order */
        for (int o = threadIdx.x; o < SCAN_SUB * npad; o += SCAN_THREADS) {
            int s = o / npad, n = o % npad;
            if (s0 + s >= nt || n >= a.N)
                continue;
            float vb = 0.0f, vc = 0.0f;
            for (int cl = 0; cl < chb; cl++) {
                vb += xB[cl * rw + o];
                vc += xC[cl * rw + o];
            }
            size_t r = ((size_t)blockIdx.y * a.B * a.L + (size_t)p.b * a.L + p.t0 + s0 + s) * a.N + n;
            if (gr.pdB)
                gr.pdB[r] = vb;
            if (gr.pdC)
                gr.pdC[r] = vc;
        }
        __syncthreads();
    }
    if (!p.act)
        return;
    size_t prow = (size_t)p.b * a.nch + p.c;
#pragma unroll
    for (int i = 0; i < NS; i++) {
        int n = p.g * NS + i;
        if (n < a.N)
            gr.pdA[prow * a.E * a.N + (size_t)p.e * a.N + n] = A2[i] * (1.0f / SCAN_LOG2E) * dA[i];
    }
    if (p.g == 0) {
        gr.pdD[prow * a.E + p.e] = sD;
        gr.pdb[prow * a.E + p.e] = sdb;
    }
}

/* Pass 3 backward, one lane per channel (N <= 16: NS = 16, no shuffles for the per-channel
 * sums, and softplus, SiLU(z) computed once per (t, e)). Chunks of SCAN_B16_TC steps; the
 * forward sweep checkpoints h every SCAN_B16_SUB steps in shared memory; each sub-block is
 * recomputed into registers as q_s = alpha_s h_{s-1} (h_s = q_s + dt u B_s), then reversed.
 * dB/dC: each warp sums its 32 channels by a butterfly (lane l ends with value l >> 1 of 16),
 * the 4 warps through shared memory, one partial row per block: deterministic, no atomics.
 * Steps past the chunk's end are identity steps (dt = u = dy = 0); channels past E carry
 * u = dy = 0, so they add nothing to dB, dC. */
#define SCAN_B16_TC 32
#define SCAN_B16_SUB 4
#define SCAN_LN2 0.6931471805599453f

/* One butterfly level: lanes with bit M keep the upper M/2 of the first M values, the others
 * the lower, each adding its partner's (lane ^ M) copy of the half it keeps. */
template <int M> __device__ __forceinline__ void scan_bfly_level(float (&v)[16], int lane)
{
    const bool up = lane & M;
#pragma unroll
    for (int i = 0; i < M / 2; i++) {
        float send = up ? v[i] : v[i + M / 2];
        float keep = up ? v[i + M / 2] : v[i];
        v[i] = keep + __shfl_xor_sync(0xffffffffu, send, M);
    }
}
/* v[0] of lane l := sum over the warp of v[l >> 1] (16 values, 32 lanes) */
__device__ __forceinline__ void scan_bfly16(float (&v)[16], int lane)
{
    scan_bfly_level<16>(v, lane);
    scan_bfly_level<8>(v, lane);
    scan_bfly_level<4>(v, lane);
    scan_bfly_level<2>(v, lane);
    v[0] += __shfl_xor_sync(0xffffffffu, v[0], 1);
}

template <typename T, typename TU>
__device__ __forceinline__ void scan_ld_step(const scan_args<T, TU> &a, const scan_lane &p, int s,
                                             int nt, float bias, float &u, float &x)
{
    bool ok = s < nt;
    size_t o = ((size_t)p.b * a.L + p.t0 + (ok ? s : 0)) * a.E + p.e;
    float uu = ldf(a.u, o), xx = ldf(a.delta, o) + bias;
    u = ok && p.act ? uu : 0.0f;
    x = ok ? xx : -1e30f; /* softplus -> 0: identity step */
}

/* the reverse sweep's inputs of sub-block s0.. (u, delta + bias, dout, z; steps past the
 * chunk are identity steps) */
template <typename T, typename TU>
__device__ __forceinline__ void scan_ld_sub(const scan_args<T, TU> &a, const scan_lane &p,
                                            int s0, int nt, float bias, float (&u)[SCAN_B16_SUB],
                                            float (&x)[SCAN_B16_SUB], float (&dy)[SCAN_B16_SUB],
                                            float (&z)[SCAN_B16_SUB])
{
#pragma unroll
    for (int s = 0; s < SCAN_B16_SUB; s++) {
        scan_ld_step(a, p, s0 + s, nt, bias, u[s], x[s]);
        bool ok = s0 + s < nt;
        size_t row = (size_t)p.b * a.L + p.t0 + (ok ? s0 + s : 0);
        float d = ldf(a.dout, row * a.E + p.e);
        dy[s] = ok && p.act ? d : 0.0f;
        z[s] = a.z ? ldf(a.z, row * a.ld_z + p.e) : 0.0f;
    }
}

template <typename T, typename TU, int MINB, bool PF>
__global__ void __launch_bounds__(SCAN_THREADS, MINB)
    scan_bwd16_kernel(scan_args<T, TU> a, scan_grads<T> gr)
{
    constexpr int TC = SCAN_B16_TC, SUB = SCAN_B16_SUB, NS = 16, NW = SCAN_THREADS / 32;
    static_assert(SUB * 32 == SCAN_THREADS, "one dB/dC output per thread per sub-block");
    extern __shared__ float smem[];
    float *sB = smem, *sC = sB + TC * NS;
    float *ck = sC + TC * NS;                     /* [TC/SUB][NS][threads] */
    float *red = ck + (TC / SUB) * NS * SCAN_THREADS; /* [2][SUB][NW][32] */
    uint8_t *sR = (uint8_t *)(red + 2 * SUB * NW * 32);
    scan_lane p = scan_place(1, a.E, a.L, a.Tc);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    float A2[NS], h[NS], k[NS], dA[NS];
    load_A2<NS>(A2, a.A_log, p.e, 0, a.N);
    load_carry<NS>(h, a.S, p, a.nch, a.E, a.N);
    load_carry<NS>(k, a.Sr, p, a.nch, a.E, a.N);
    const float bias = a.delta_bias[p.e], Dsk = a.Dskip[p.e];
    const int nt = p.t1 - p.t0;
    stage_bc(sB, sC, sR, a, p.b, p.t0, nt, TC, NS);
    __syncthreads();

    /* forward sweep: checkpoint h at the start of every sub-block (inputs one sub-block ahead) */
    float nu[SUB], nx[SUB];
#pragma unroll
    for (int s = 0; s < SUB; s++)
        scan_ld_step(a, p, s, nt, bias, nu[s], nx[s]);
    for (int s0 = 0; s0 < nt; s0 += SUB) {
        float su[SUB], sx[SUB];
#pragma unroll
        for (int s = 0; s < SUB; s++) {
            su[s] = nu[s];
            sx[s] = nx[s];
            scan_ld_step(a, p, s0 + SUB + s, nt, bias, nu[s], nx[s]);
        }
#pragma unroll
        for (int i = 0; i < NS; i++)
            ck[((s0 / SUB) * NS + i) * SCAN_THREADS + threadIdx.x] = h[i];
#pragma unroll
        for (int s = 0; s < SUB; s++) {
            float dt = scan_softplus(sx[s]), dtu = dt * su[s];
            float Bt[NS];
            ld_row<NS>(Bt, sB + (s0 + s) * NS);
            const float dtA = scan_decay_dt(dt, sR[s0 + s]);
#pragma unroll
            for (int i = 0; i < NS; i++)
                h[i] = fmaf(dtu, Bt[i], scan_ex2(dtA * A2[i]) * h[i]);
        }
    }

    float sD = 0.0f, sdb = 0.0f;
#pragma unroll
    for (int i = 0; i < NS; i++)
        dA[i] = 0.0f;
    float pu[SUB], px[SUB], pdy[SUB], pz[SUB]; /* the next sub-block's inputs (PF) */
    if (PF)
        scan_ld_sub(a, p, (nt - 1) / SUB * SUB, nt, bias, pu, px, pdy, pz);
    for (int j = (nt - 1) / SUB; j >= 0; j--) {
        const int s0 = j * SUB;
        float su[SUB], sx[SUB], sdy[SUB], sz[SUB], dts[SUB], q[SUB][NS];
        if (PF) { /* this sub-block's inputs came a sub-block ahead; the next's are issued */
#pragma unroll
            for (int s = 0; s < SUB; s++)
                su[s] = pu[s], sx[s] = px[s], sdy[s] = pdy[s], sz[s] = pz[s];
            if (j > 0)
                scan_ld_sub(a, p, s0 - SUB, nt, bias, pu, px, pdy, pz);
        } else {
            scan_ld_sub(a, p, s0, nt, bias, su, sx, sdy, sz);
        }
        /* the gradients this sub-block adds to, read now (each (t, e) belongs to this lane
         * alone), so that no load waits behind a store in the reverse steps; 0 when they are
         * set (MK_GRAD_SET), not added to */
        float odu[SUB], odd[SUB], odz[SUB];
        const bool wz = a.z && (gr.dz || gr.dz16);
#pragma unroll
        for (int s = 0; s < SUB; s++) {
            bool ok = s0 + s < nt && p.act && !gr.set;
            size_t row = (size_t)p.b * a.L + p.t0 + s0 + s;
            odu[s] = ok ? ldg(gr.du, row * a.E + p.e) : 0.0f;
            odd[s] = ok && !gr.ddelta16 ? ldg(gr.ddelta, row * a.E + p.e) : 0.0f;
            odz[s] = ok && wz && !gr.dz16 ? ldg(gr.dz, row * a.ld_z + p.e) : 0.0f;
        }
#pragma unroll
        for (int i = 0; i < NS; i++)
            h[i] = ck[(j * NS + i) * SCAN_THREADS + threadIdx.x];
#pragma unroll
        for (int s = 0; s < SUB; s++) {
            float dt = scan_softplus(sx[s]), dtu = dt * su[s];
            dts[s] = dt;
            float Bt[NS];
            ld_row<NS>(Bt, sB + (s0 + s) * NS);
            const float dtA = scan_decay_dt(dt, sR[s0 + s]);
#pragma unroll
            for (int i = 0; i < NS; i++) {
                q[s][i] = scan_ex2(dtA * A2[i]) * h[i];
                h[i] = fmaf(dtu, Bt[i], q[s][i]);
            }
        }
        float *rd = red + (j & 1) * SUB * NW * 32;
#pragma unroll
        for (int s = SUB - 1; s >= 0; s--) {
            const float u = su[s], dt = dts[s], dtu = dt * u, dy = sdy[s], zv = sz[s];
            const float sg = a.z ? scan_sigmoid(zv) : 1.0f, g = a.z ? dy * zv * sg : dy;
            float Bt[NS], Ct[NS];
            ld_row<NS>(Bt, sB + (s0 + s) * NS);
            ld_row<NS>(Ct, sC + (s0 + s) * NS);
            const float dtA = scan_decay_dt(dt, sR[s0 + s]);
            float vb[NS], vc[NS], sdhB = 0.0f, sAq = 0.0f, y = 0.0f;
#pragma unroll
            for (int i = 0; i < NS; i++) {
                float hc = fmaf(dtu, Bt[i], q[s][i]);
                float dh = fmaf(Ct[i], g, k[i]);
                float w = dh * q[s][i];
                sdhB = fmaf(dh, Bt[i], sdhB);
                sAq = fmaf(A2[i], w, sAq);
                dA[i] = fmaf(dt, w, dA[i]);
                y = fmaf(Ct[i], hc, y);
                vb[i] = dh * dtu;
                vc[i] = g * hc;
                k[i] = scan_ex2(dtA * A2[i]) * dh;
            }
            scan_bfly16(vb, lane);
            scan_bfly16(vc, lane);
            rd[(s * NW + warp) * 32 + (lane & 1) * 16 + (lane >> 1)] = (lane & 1) ? vc[0] : vb[0];
            const float x = sx[s];
            const float ddt = sAq * SCAN_LN2 + u * sdhB;
            const float rdd = ddt * (x > 20.0f ? 1.0f : scan_sigmoid(x));
            odu[s] += g * Dsk + dt * sdhB;
            odd[s] += rdd;
            odz[s] += dy * fmaf(Dsk, u, y) * sg * (1.0f + zv * (1.0f - sg));
            sdb += p.act && s0 + s < nt ? rdd : 0.0f;
            sD += g * u;
        }
        if (p.act) {
#pragma unroll
            for (int s = 0; s < SUB; s++)
                if (s0 + s < nt) {
                    size_t row = (size_t)p.b * a.L + p.t0 + s0 + s;
                    stf(gr.du, row * a.E + p.e, odu[s]);
                    put_grad16(gr.ddelta, gr.ddelta16, row * a.E + p.e, odd[s], true);
                    if (wz)
                        put_grad16(gr.dz, gr.dz16, row * a.ld_z + p.e, odz[s], true);
                }
        }
        __syncthreads();
        {
            const int s = threadIdx.x >> 5, vi = threadIdx.x & 31, n = vi & 15;
            float *dst = vi < 16 ? gr.pdB : gr.pdC;
            if (s0 + s < nt && n < a.N && dst) {
                float v = 0.0f;
#pragma unroll
                for (int w = 0; w < NW; w++)
                    v += rd[(s * NW + w) * 32 + vi];
                dst[((size_t)blockIdx.y * a.B * a.L + (size_t)p.b * a.L + p.t0 + s0 + s) * a.N + n] = v;
            }
        }
    }
    if (!p.act)
        return;
    size_t prow = (size_t)p.b * a.nch + p.c;
#pragma unroll
    for (int i = 0; i < NS; i++)
        if (i < a.N)
            gr.pdA[prow * a.E * a.N + (size_t)p.e * a.N + i] = A2[i] * SCAN_LN2 * dA[i];
    gr.pdD[prow * a.E + p.e] = sD;
    gr.pdb[prow * a.E + p.e] = sdb;
}

/* dB[b,t,n] += sum over channel blocks in order of the partials (likewise dC) */
static __global__ void scan_dbc_kernel(float *dB, float *dC, const float *pdB, const float *pdC,
                                int nblk, size_t rows, int N, int ld_bc)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (i >= rows * N)
        return;
    size_t r = i / N;
    int n = (int)(i % N);
    float sb = 0.0f, sc = 0.0f;
    for (int k = 0; k < nblk; k++) {
        if (dB)
            sb += pdB[(size_t)k * rows * N + i];
        if (dC)
            sc += pdC[(size_t)k * rows * N + i];
    }
    if (dB)
        dB[r * ld_bc + n] += sb;
    if (dC)
        dC[r * ld_bc + n] += sc;
}

/* ---- launchers ------------------------------------------------------------------------- */

/* TPC lanes per channel: the power of two covering N with ns states per lane (<= 32). */
static inline int scan_tpc(int N, int ns)
{
    int t = 1;
    while (t * ns < N)
        t <<= 1;
    return t;
}

static inline int scan_check_n(int N, int ns)
{
    if (N >= 1 && scan_tpc(N, ns) <= 32)
        return 1;
    mk_cuda_record("d_state out of range", "1 <= N <= 32 * states per lane", __func__, __FILE__,
                   __LINE__);
    return 0;
}

/* Chunk length of the forward, a power of two in [SCAN_TT, 16 SCAN_TT]: 4 SCAN_TT = 128 steps,
 * shorter while that leaves fewer than ~1024 chunk lanes an SM (B*E*TPC*nch lanes), longer
 * while more than ~8192 (fewer carries). H200, B=8 E=1536 N=16 L=2048 (bf16; eighth session):
 * Tc 32 / 64 / 128 / 256 / 512 took 0.517 / 0.468 / 0.457 / 0.486 / 0.611 ms (at 32, the
 * earlier choice, the carry pass walked 64 chunks and the summaries took 50 MB each way);
 * B=1 L=65536: Tc 64 / 128 1.787 / 1.641 ms. MK_SCAN_FWD_TC overrides (for the bench). */
static inline int scan_fwd_chunk(int B, int L, int E, int TPC)
{
    static int tc_env = -1;
    if (tc_env < 0) {
        const char *v = getenv("MK_SCAN_FWD_TC");
        const int t = v ? atoi(v) : 0;
        tc_env = t >= SCAN_TT && t <= 16 * SCAN_TT && !(t & (t - 1)) ? t : 0;
    }
    if (tc_env)
        return tc_env;
    const double lanes = (double)B * E * TPC, sm = mk_cuda_sm_count();
    int tc = 4 * SCAN_TT;
    while (tc > SCAN_TT && lanes * ((L + tc - 1) / tc) < sm * 1024)
        tc >>= 1;
    while (tc < 16 * SCAN_TT && lanes * ((L + tc - 1) / tc) > sm * 8192)
        tc <<= 1;
    return tc;
}

template <typename T, typename TU, int NS>
static void scan_fwd_ns(T *out, float *state, scan_args<T, TU> a)
{
    cudaStream_t st = mk_cuda_stream();
    a.TPC = scan_tpc(a.N, NS);
    a.Tc = scan_fwd_chunk(a.B, a.L, a.E, a.TPC);
    a.nch = (a.L + a.Tc - 1) / a.Tc;
    size_t nsum = (size_t)a.B * a.nch * a.E;
    float *scr = (float *)mk_cuda_scratch(nsum * (a.N + 1) * sizeof(float));
    if (!scr)
        return;
    a.S = scr;
    a.sdt = scr + nsum * a.N;
    a.Sr = NULL;
    int chb = SCAN_THREADS / a.TPC;
    dim3 grid(a.nch, (a.E + chb - 1) / chb, a.B);
    size_t sm = 2 * SCAN_TT * a.TPC * NS * sizeof(float) + SCAN_TT;
    /* the last chunk's summary only makes the final state: without `state` it is not made
     * (1/nch of the pass; the carry pass then stops at the last chunk's h_in) */
    const dim3 sgrid(state ? a.nch : a.nch - 1, grid.y, grid.z);
    if (sgrid.x > 0) {
        scan_summary_kernel<T, TU, NS, false><<<sgrid, SCAN_THREADS, sm, st>>>(a);
        MK_LAUNCH_CHECK();
    }
    size_t ben = (size_t)a.B * a.E * a.N;
    scan_carry_kernel<T, TU><<<mk_cuda_blocks(ben, 128), 128, 0, st>>>(a, state, state, NULL);
    MK_LAUNCH_CHECK();
    scan_out_kernel<T, TU, NS><<<grid, SCAN_THREADS, sm, st>>>(out, a);
    MK_LAUNCH_CHECK();
    mk_cuda_scratch_free(scr);
}

/* L = 1 (decoding): a group of G lanes per (channel e, RB rows b) (G = N rounded up to a power
 * of two, at most 32; lane j owns states n = j, j + G, ...), so the state [B, E, N] is read and
 * written in whole rows and the N exps run in parallel; each lane walks RB rows of the batch
 * (RB = 4 for batches of 32 or more, 2 from 16), so what depends only on e (A, the row of
 * W_dt) is loaded once for them and their chains of loads and exps overlap:
 *   h_n = exp(dt A_n) h_n + dt u B_n,  y = sum_n C_n h_n  (shuffle sum over the group),
 *   out = (y + D u) SiLU(z)
 * With W_dt, the group first takes delta = x_dt . W_dt[e] (lane j: r = j, j + G, ...; shuffle
 * sum), so dt_proj is no kernel of its own. exp, softplus and SiLU are the scan's fast forms
 * (scan_ex2: 2 ulp), as in the chunked kernels. */
template <typename T, typename TU, int RB>
__global__ void scan_step_kernel(T *out, float *state, scan_args<T, TU> a, int G)
{
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    const int j = (int)(i & (G - 1));
    const size_t o = i >> (__ffs(G) - 1); /* (row group, e) */
    const int groups = (a.B + RB - 1) / RB;
    const bool live = o < (size_t)groups * a.E;
    const int b0 = live ? (int)(o / a.E) * RB : 0, e = live ? (int)(o % a.E) : 0;
    float y[RB], dtp[RB];
    for (int k = 0; k < RB; k++)
        y[k] = dtp[k] = 0.0f;
    if (a.W_dt) { /* the same for the whole grid: every lane reaches the shuffles */
        for (int r = j; live && r < a.R; r += G) {
            const float w = a.W_dt[(size_t)e * a.R + r];
            for (int k = 0; k < RB; k++)
                if (b0 + k < a.B)
                    dtp[k] += a.x_dt[(size_t)(b0 + k) * a.ld_bc + r] * w;
        }
        for (int k = 0; k < RB; k++)
            for (int m = G >> 1; m > 0; m >>= 1)
                dtp[k] += __shfl_xor_sync(0xffffffffu, dtp[k], m, G);
    }
    float u[RB];
    for (int k = 0; k < RB; k++) {
        const int b = b0 + k;
        u[k] = 0.0f;
        if (!live || b >= a.B)
            continue;
        const size_t be = (size_t)b * a.E + e;
        u[k] = ldf(a.u, be);
        const float x = (a.W_dt ? dtp[k] : ldf(a.delta, be)) + a.delta_bias[e];
        const float dt = scan_softplus(x), dtu = dt * u[k];
        const bool keep = state && !(a.reset && a.reset[b]);
        for (int n = j; n < a.N; n += G) {
            const float A2 = -expf(a.A_log[(size_t)e * a.N + n]) * SCAN_LOG2E;
            const size_t r = (size_t)b * a.ld_bc + n, si = be * a.N + n;
            const float h = scan_ex2(dt * A2) * (keep ? state[si] : 0.0f) + dtu * ldf(a.Bm, r);
            y[k] += ldf(a.Cm, r) * h;
            if (state)
                state[si] = h;
        }
    }
    for (int k = 0; k < RB; k++) /* groups are aligned runs of G lanes of one warp */
        for (int m = G >> 1; m > 0; m >>= 1)
            y[k] += __shfl_xor_sync(0xffffffffu, y[k], m, G);
    for (int k = 0; k < RB; k++) { /* lane k writes row k (spread over the group's lanes) */
        const int b = b0 + k;
        if (!live || b >= a.B || j != k % G)
            continue;
        const size_t be = (size_t)b * a.E + e;
        float v = y[k] + a.Dskip[e] * u[k];
        if (a.z) {
            const float zv = ldf(a.z, (size_t)b * a.ld_z + e);
            v *= zv * scan_sigmoid(zv);
        }
        put_out(out, a.out16, be, v);
    }
}

/* L = 1 for larger batches: one thread per (b, e) with the whole state row of N = 16 in
 * registers, as the official decoder's kernel does. Everything a thread needs is loaded up
 * front and independent (the state row as float4 when aligned), so the thread waits about one
 * memory latency; no shuffles. A block is a tile of SCAN_STEP_ROW_E channels x SCAN_STEP_ROW_B
 * rows (a warp: 32 consecutive channels of one row). What the tile's threads share goes
 * through shared memory once: A2 = -exp(A_log) log2(e) of its channels, the B and C rows of its
 * rows, and its W_dt rows and x_dt rows (coalesced; R + 1 floats a W_dt row, so that the
 * lanes' reads of their own rows do not conflict; x_dt, B and C read as float4 broadcasts) when
 * they fit (48 KB with the rest: R <= 284). The same formulas as scan_step_kernel:
 *   delta = x_dt . W_dt[e] (or given), dt = softplus(delta + bias),
 *   h_n = exp(dt A_n) h_n + dt u B_n,  y = sum_n C_n h_n,  out = (y + D u) SiLU(z)
 * (y summed in the order n = 0..15 here, as a tree there). */
#define SCAN_STEP_ROW_E 32
#define SCAN_STEP_ROW_B 8
#define SCAN_STEP_ROW_THREADS (SCAN_STEP_ROW_E * SCAN_STEP_ROW_B)

/* dst[r][c] (row stride ld_dst) = src[r][c] (row stride ld_src) for c < cols, r < rows, 0 for
 * r >= valid; the block's threads take consecutive elements (coalesced), advancing (r, c) by
 * the block size without a division per element */
__device__ __forceinline__ void stage_rows(float *dst, int ld_dst, const float *src,
                                           size_t ld_src, int rows, int cols, int valid)
{
    const int tid = threadIdx.y * blockDim.x + threadIdx.x, nt = blockDim.x * blockDim.y;
    const int qs = nt / cols, rs = nt % cols;
    int r = tid / cols, c = tid % cols;
    for (int i = tid; i < rows * cols; i += nt) {
        dst[r * ld_dst + c] = r < valid ? __ldg(src + r * ld_src + c) : 0.0f;
        r += qs, c += rs;
        if (c >= cols)
            c -= cols, r++;
    }
}

template <typename T, typename TU>
__global__ void __launch_bounds__(SCAN_STEP_ROW_THREADS)
    scan_step_row_kernel(T *out, float *state, scan_args<T, TU> a, bool vec, bool stage)
{
    constexpr int N = 16;
    const int e0 = blockIdx.x * SCAN_STEP_ROW_E, b0 = blockIdx.y * SCAN_STEP_ROW_B;
    const int e = e0 + threadIdx.x, b = b0 + threadIdx.y;
    const size_t row = (size_t)b * a.ld_bc;
    /* shared: A2 = -exp(A_log) log2(e) of the tile's channels [SCAN_STEP_ROW_E][N + 4] (the
     * same for its SCAN_STEP_ROW_B rows: 2 expf a thread instead of 16; rows padded to 20
     * floats, so that the float4 reads of 8 lanes fall in distinct banks), the B and C rows
     * of its rows [2][SCAN_STEP_ROW_B][N] (read as float4 broadcasts: 8 loads instead of 32);
     * with stage, then the W_dt rows [SCAN_STEP_ROW_E][R + 1] and the x_dt rows
     * [SCAN_STEP_ROW_B][R] */
    extern __shared__ float sdt_rows[];
    constexpr int NA = N + 4;
    float *sA = sdt_rows, *sB = sA + SCAN_STEP_ROW_E * NA, *sC = sB + SCAN_STEP_ROW_B * N;
    float *sW = sC + SCAN_STEP_ROW_B * N, *sx = sW + SCAN_STEP_ROW_E * (a.R + 1);
    const int tid = threadIdx.y * SCAN_STEP_ROW_E + threadIdx.x;
    for (int i = tid; i < SCAN_STEP_ROW_E * N; i += SCAN_STEP_ROW_THREADS) {
        const int el = i / N, n = i % N;
        sA[el * NA + n] =
            e0 + el < a.E ? -expf(__ldg(a.A_log + (size_t)(e0 + el) * N + n)) * SCAN_LOG2E : 0.0f;
    }
    for (int i = tid; i < SCAN_STEP_ROW_B * N; i += SCAN_STEP_ROW_THREADS) {
        const int bl = i / N, n = i % N;
        const size_t o = (size_t)(b0 + bl) * a.ld_bc + n;
        sB[i] = b0 + bl < a.B ? ldf(a.Bm, o) : 0.0f;
        sC[i] = b0 + bl < a.B ? ldf(a.Cm, o) : 0.0f;
    }
    if (stage) {
        stage_rows(sW, a.R + 1, a.W_dt + (size_t)e0 * a.R, a.R, SCAN_STEP_ROW_E, a.R, a.E - e0);
        stage_rows(sx, a.R, a.x_dt + (size_t)b0 * a.ld_bc, a.ld_bc, SCAN_STEP_ROW_B, a.R,
                   a.B - b0);
    }
    __syncthreads();
    if (e >= a.E || b >= a.B)
        return;
    const size_t be = (size_t)b * a.E + e;
    const bool keep = state && !(a.reset && a.reset[b]);
    float h[N];
    float *st = state ? state + be * N : NULL;
    if (vec) {
        for (int q = 0; q < N / 4; q++) {
            const float4 s4 = keep ? reinterpret_cast<const float4 *>(st)[q]
                                   : make_float4(0.f, 0.f, 0.f, 0.f);
            h[4 * q] = s4.x, h[4 * q + 1] = s4.y, h[4 * q + 2] = s4.z, h[4 * q + 3] = s4.w;
        }
    } else {
        for (int n = 0; n < N; n++)
            h[n] = keep ? st[n] : 0.0f;
    }
    const float uv = ldf(a.u, be), zv = a.z ? ldf(a.z, (size_t)b * a.ld_z + e) : 0.0f;
    float dtp = 0.0f;
    if (stage) { /* x_dt as float4 broadcasts when its rows allow (the same sums, in order) */
        const float *w = sW + threadIdx.x * (a.R + 1), *x = sx + threadIdx.y * a.R;
        int r = 0;
        if (a.R % 4 == 0)
            for (; r < a.R; r += 4) {
                const float4 x4 = *reinterpret_cast<const float4 *>(x + r);
                dtp += x4.x * w[r];
                dtp += x4.y * w[r + 1];
                dtp += x4.z * w[r + 2];
                dtp += x4.w * w[r + 3];
            }
        for (; r < a.R; r++)
            dtp += x[r] * w[r];
    } else if (a.W_dt) {
        const float *w = a.W_dt + (size_t)e * a.R;
        for (int r = 0; r < a.R; r++)
            dtp += __ldg(a.x_dt + row + r) * __ldg(w + r);
    } else {
        dtp = ldf(a.delta, be);
    }
    float A2[N];
#pragma unroll
    for (int q = 0; q < N / 4; q++) {
        const float4 a4 = reinterpret_cast<const float4 *>(sA + threadIdx.x * NA)[q];
        A2[4 * q] = a4.x, A2[4 * q + 1] = a4.y, A2[4 * q + 2] = a4.z, A2[4 * q + 3] = a4.w;
    }
    const float dt = scan_softplus(dtp + a.delta_bias[e]), dtu = dt * uv;
    float Bt[N], Ct[N];
    ld_row<N>(Bt, sB + threadIdx.y * N);
    ld_row<N>(Ct, sC + threadIdx.y * N);
    float y = 0.0f;
#pragma unroll
    for (int n = 0; n < N; n++) {
        h[n] = scan_ex2(dt * A2[n]) * h[n] + dtu * Bt[n];
        y += Ct[n] * h[n];
    }
    if (state) {
        if (vec)
            for (int q = 0; q < N / 4; q++)
                reinterpret_cast<float4 *>(st)[q] =
                    make_float4(h[4 * q], h[4 * q + 1], h[4 * q + 2], h[4 * q + 3]);
        else
            for (int n = 0; n < N; n++)
                st[n] = h[n];
    }
    float v = y + a.Dskip[e] * uv;
    if (a.z)
        v *= zv * scan_sigmoid(zv);
    put_out(out, a.out16, be, v);
}

/* lanes per (b, e) of the step: N rounded up to a power of two, at most a warp */
static inline int scan_step_lanes(int N)
{
    int G = 1;
    while (G < N && G < 32)
        G <<= 1;
    return G;
}

template <typename T, typename TU>
static void scan_fwd_launch(T *out, float *state, const scan_args<T, TU> &a)
{
    if ((size_t)a.B * a.L * a.E == 0)
        return;
    if (a.W_dt && a.L != 1) {
        mk_cuda_record("dt_proj in the scan (W_dt) with L > 1", "L == 1", __func__, __FILE__,
                       __LINE__);
        return;
    }
    if (a.L == 1) {
        /* rows a lane group: 4 from 32 rows up, 2 from 16, else 1 (measured, NOTES-cuda.md);
         * MK_SCAN_STEP_RB=1|2|4|8 overrides (for the bench) */
        static int rb_env = -1;
        if (rb_env < 0) {
            const char *v = getenv("MK_SCAN_STEP_RB");
            rb_env = v ? atoi(v) : 0;
        }
        /* N = 16 from MK_SCAN_STEP_ROW_MIN rows up (default 32): a thread per (b, e) */
        static int row_min = -1;
        if (row_min < 0) {
            const char *v = getenv("MK_SCAN_STEP_ROW_MIN");
            row_min = v && atoi(v) > 0 ? atoi(v) : 32;
        }
        if (a.N == 16 && a.B >= row_min) {
            const bool vec = ((uintptr_t)state & 15) == 0;
            const dim3 grid((a.E + SCAN_STEP_ROW_E - 1) / SCAN_STEP_ROW_E,
                            (a.B + SCAN_STEP_ROW_B - 1) / SCAN_STEP_ROW_B);
            const dim3 block(SCAN_STEP_ROW_E, SCAN_STEP_ROW_B);
            const size_t smem_A = (SCAN_STEP_ROW_E * (16 + 4) + 2 * SCAN_STEP_ROW_B * 16) * 4;
            const size_t smem_dt = (SCAN_STEP_ROW_E * (a.R + 1) + SCAN_STEP_ROW_B * a.R) * 4;
            const bool stage = a.W_dt && smem_A + smem_dt <= 48 * 1024;
            scan_step_row_kernel<T, TU><<<grid, block, smem_A + (stage ? smem_dt : 0),
                                          mk_cuda_stream()>>>(out, state, a, vec, stage);
            MK_LAUNCH_CHECK();
            return;
        }
        const int G = scan_step_lanes(a.N);
        const int RB = rb_env == 1 || rb_env == 2 || rb_env == 4 || rb_env == 8 ? rb_env
                       : a.B >= 32                                            ? 4
                       : a.B >= 16                                            ? 2
                                                                              : 1;
        const size_t threads = (size_t)((a.B + RB - 1) / RB) * a.E * G;
        const unsigned blocks = (unsigned)((threads + 127) / 128);
        cudaStream_t st = mk_cuda_stream();
        if (RB == 8)
            scan_step_kernel<T, TU, 8><<<blocks, 128, 0, st>>>(out, state, a, G);
        else if (RB == 4)
            scan_step_kernel<T, TU, 4><<<blocks, 128, 0, st>>>(out, state, a, G);
        else if (RB == 2)
            scan_step_kernel<T, TU, 2><<<blocks, 128, 0, st>>>(out, state, a, G);
        else
            scan_step_kernel<T, TU, 1><<<blocks, 128, 0, st>>>(out, state, a, G);
        MK_LAUNCH_CHECK();
        return;
    }
    if (!scan_check_n(a.N, a.N <= 4 ? 4 : 16))
        return;
    if (a.N <= 4)
        scan_fwd_ns<T, TU, 4>(out, state, a);
    else
        scan_fwd_ns<T, TU, 16>(out, state, a);
}

template <typename T, typename TU, int MINB, bool PF>
static void scan_bwd16_launch(const scan_args<T, TU> &a, const scan_grads<T> &gr, dim3 grid,
                              size_t sm3, cudaStream_t st)
{
    MK_CK(cudaFuncSetAttribute(scan_bwd16_kernel<T, TU, MINB, PF>,
                               cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm3));
    scan_bwd16_kernel<T, TU, MINB, PF><<<grid, SCAN_THREADS, sm3, st>>>(a, gr);
}

/* The backward's summary pass for N <= 16: two lanes a channel, 8 states each (a.TPC = 2;
 * the pass 3 kernel keeps one lane a channel). With 16 states a lane it took 124 registers, 4
 * blocks an SM: H200, bf16 B=8 E=1536 L=2048, the backward 1.730 -> 1.684 ms, the training step
 * 177.6K -> 180.5K tokens/s (ninth session); 4 lanes a channel was slower (1.772 ms), as was
 * the 16-state pass held to 96 or 80 registers (spills: 1.86 ms). MK_SCAN_BWD_SUM_NS=16 keeps
 * 16 states a lane (for the bench). */
template <typename T, typename TU>
static void scan_bwd_summary16(scan_args<T, TU> a, dim3 grid, cudaStream_t st)
{
    static int ns_env = -1;
    if (ns_env < 0) {
        const char *v = getenv("MK_SCAN_BWD_SUM_NS");
        ns_env = v ? atoi(v) : 8;
    }
    const int ns = ns_env == 16 ? 16 : 8;
    a.TPC = scan_tpc(a.N, ns);
    grid.y = (a.E + SCAN_THREADS / a.TPC - 1) / (SCAN_THREADS / a.TPC);
    const size_t sm = 2 * SCAN_TT * a.TPC * ns * sizeof(float) + SCAN_TT;
    if (ns == 8)
        scan_summary_kernel<T, TU, 8, true><<<grid, SCAN_THREADS, sm, st>>>(a);
    else
        scan_summary_kernel<T, TU, 16, true><<<grid, SCAN_THREADS, sm, st>>>(a);
}

/* Backward: N <= 16: one lane per channel, chunks of SCAN_B16_TC (scan_bwd16_kernel); larger N:
 * NS = 4 states per lane, chunks of SCAN_BWD_TC (scan_bwd_kernel). dB, dC, dA_log, dD, ddelta_bias,
 * dstate0 are fp32 (NULL: not wanted); du, ddelta, dz in T. All accumulate, except du, ddelta
 * and dz with `set` (MK_GRAD_SET); ddelta16 / dz16 (or NULL): ddelta / dz set in bf16 there
 * instead. */
template <typename T, typename TU>
static void scan_bwd_launch(T *du, T *ddelta, T *dz, bool set, __nv_bfloat16 *ddelta16,
                            __nv_bfloat16 *dz16, float *dB, float *dC, float *dA_log,
                            float *dD, float *ddelta_bias, float *dstate0, const TU *dout,
                            const float *state0, scan_args<T, TU> a)
{
    const bool one = a.N <= 16; /* one lane per channel (scan_bwd16_kernel) */
    const int NS = one ? 16 : 4;
    if ((size_t)a.B * a.L * a.E == 0 || !scan_check_n(a.N, NS))
        return;
    cudaStream_t st = mk_cuda_stream();
    a.dout = dout;
    a.TPC = scan_tpc(a.N, NS);
    a.Tc = one ? SCAN_B16_TC : SCAN_BWD_TC;
    a.nch = (a.L + a.Tc - 1) / a.Tc;
    int chb = SCAN_THREADS / a.TPC, nblk = (a.E + chb - 1) / chb, npad = a.TPC * NS;
    size_t nsum = (size_t)a.B * a.nch * a.E, EN = (size_t)a.E * a.N;
    size_t nbc = (size_t)nblk * a.B * a.L * a.N;
    size_t total = nsum * (2 * a.N + 1) + nsum * (a.N + 2) + (dB ? nbc : 0) + (dC ? nbc : 0);
    float *scr = (float *)mk_cuda_scratch(total * sizeof(float));
    if (!scr)
        return;
    a.S = scr;
    a.Sr = a.S + nsum * a.N;
    a.sdt = a.Sr + nsum * a.N;
    scan_grads<T> gr = {du, ddelta, dz, set, ddelta16, dz16, NULL, NULL, a.sdt + nsum, NULL, NULL};
    gr.pdD = gr.pdA + nsum * a.N;
    gr.pdb = gr.pdD + nsum;
    float *next = gr.pdb + nsum;
    if (dB) {
        gr.pdB = next;
        next += nbc;
    }
    if (dC)
        gr.pdC = next;
    dim3 grid(a.nch, nblk, a.B);
    size_t sm1 = 2 * SCAN_TT * npad * sizeof(float) + SCAN_TT;
    if (one)
        scan_bwd_summary16(a, grid, st);
    else
        scan_summary_kernel<T, TU, 4, true><<<grid, SCAN_THREADS, sm1, st>>>(a);
    MK_LAUNCH_CHECK();
    scan_carry_kernel<T, TU><<<mk_cuda_blocks((size_t)a.B * EN, 128), 128, 0, st>>>(
        a, state0, NULL, dstate0);
    MK_LAUNCH_CHECK();
    if (one) {
        size_t sm3 = (2 * SCAN_B16_TC * 16 + (SCAN_B16_TC / SCAN_B16_SUB) * 16 * SCAN_THREADS +
                      2 * SCAN_B16_SUB * SCAN_THREADS) * sizeof(float) + SCAN_B16_TC;
        /* two register budgets: 168 (3 blocks per SM, some spills) or 255 (2 blocks); the
         * faster measured (NOTES-cuda.md): 255 for fp32 B and C (the model's, either
         * precision), 168 for bf16 ones. With 255 the reverse sweep's inputs are loaded a
         * sub-block ahead (PF): H200, the training step 179.6K -> 182.1K tokens/s, fp32
         * B=8 L=2048 1.716 -> 1.70 ms; with 168 it spills more and is slower (bf16 1.68 ->
         * 1.75 ms). MK_SCAN_BWD_MINB=2|3 and MK_SCAN_BWD_PF=0|1 override (for the bench). */
        static int minb_env = -1, pf_env = -1;
        if (minb_env < 0) {
            const char *v = getenv("MK_SCAN_BWD_MINB"), *f = getenv("MK_SCAN_BWD_PF");
            minb_env = v ? atoi(v) : 0;
            pf_env = f ? atoi(f) != 0 : -1;
        }
        const int minb = minb_env == 2 || minb_env == 3 ? minb_env : sizeof(T) == 4 ? 2 : 3;
        const bool pf = pf_env >= 0 ? pf_env : minb == 2;
        if (minb == 2 && pf)
            scan_bwd16_launch<T, TU, 2, true>(a, gr, grid, sm3, st);
        else if (minb == 2)
            scan_bwd16_launch<T, TU, 2, false>(a, gr, grid, sm3, st);
        else if (pf)
            scan_bwd16_launch<T, TU, 3, true>(a, gr, grid, sm3, st);
        else
            scan_bwd16_launch<T, TU, 3, false>(a, gr, grid, sm3, st);
    } else {
        int rw = SCAN_SUB * npad + 1;
        size_t sm3 = (2 * SCAN_BWD_TC * npad + (SCAN_BWD_TC / SCAN_SUB) * 4 * SCAN_THREADS +
                      2 * chb * rw) * sizeof(float) + SCAN_BWD_TC;
        MK_CK(cudaFuncSetAttribute(scan_bwd_kernel<T, TU, 4>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm3));
        scan_bwd_kernel<T, TU, 4><<<grid, SCAN_THREADS, sm3, st>>>(a, gr);
    }
    MK_LAUNCH_CHECK();
    int rows = a.B * a.nch;
    if (dA_log)
        mk_cuda_colsum(dA_log, gr.pdA, rows, (int)EN);
    if (dD)
        mk_cuda_colsum(dD, gr.pdD, rows, a.E);
    if (ddelta_bias)
        mk_cuda_colsum(ddelta_bias, gr.pdb, rows, a.E);
    if (dB || dC) {
        size_t nrows = (size_t)a.B * a.L;
        scan_dbc_kernel<<<mk_cuda_blocks(nrows * a.N, 256), 256, 0, st>>>(
            dB, dC, gr.pdB, gr.pdC, nblk, nrows, a.N, a.ld_bc);
        MK_LAUNCH_CHECK();
    }
    mk_cuda_scratch_free(scr);
}

#endif /* MK_SCAN_KERNELS_CUH */
