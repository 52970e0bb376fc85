/* conv1d.cu — CUDA causal depthwise conv1d + SiLU (contract: conv1d.h), K <= CONV_KMAX.
 *
 * Reset rule (as conv1d_ref.c): `lo(t)` is the earliest time step t may read — the last reset
 * s <= t, else -(K-1) with a carried state (times -(K-1)..-1 are the state) or 0 without one.
 * Only resets in (t-(K-1), t] can cut a tap, so lo(t) looks back K-1 steps at most.
 *
 * Sequences (and L = 1 without a state): one thread per (b, chunk of CONV_T steps, e) walks its
 * chunk in time order, so every input is loaded once (plus a halo of K-1 before the chunk) and
 * the loads of a warp are 32 consecutive channels; the forward walks CONV_V channels a thread
 * by vectors where the rows allow (conv1d_fwd_vec_kernel, chunks of CONV_VT steps). The thread
 * keeps a sliding window of the last KW inputs (KW = 4 when K <= 4, the model's d_conv, else
 * CONV_KMAX; a template parameter, as is the type of x), newest last: tap k of K sits at KW-K+k
 * and the weights are placed to match (zeros in front), so shifts and sums are fixed-size and
 * stay in registers. A reset at s empties the window before x[s] enters, which cuts exactly the
 * taps tau < lo(t).
 *   forward : a(t) = bias + sum_j wpos[j] window[j]; out = SiLU(a). Then one thread per (b, e)
 *             writes the new state (the last K-1 inputs, 0 before lo(L-1)).
 *   backward: dact(t) = dout s (1 + a (1 - s)), s = sigmoid(a), a recomputed by the same
 *             window walk over [t0, t1 + K-1) (the K-1 steps past the chunk feed its dx). The
 *             walk also sums the chunk's dw and dbias partials (dact times each tap, and
 *             dact), added in order by a second kernel, and accumulates dx(tau) = sum_j
 *             dact(tau+j) w[K-1-j] over the t = tau+j that tau reaches forward, in a register
 *             window of the pending dx (conv1d_bwd_kernel).
 * Decoding (L = 1 with a state): one thread per (b, e) computes the output from the old window
 * and shifts the window in place (one launch).
 */
#include <stdlib.h>
#include "cuda_common.cuh"

#define CONV_KMAX 8
#define CONV_T 64         /* steps a thread walks (sequences) */
#define CONV_THREADS 128 /* threads a block (sequences) */

/* TX: the type of x (fp32, or bf16: the bf16 mode's in_proj output; conv1d.h), a template
 * parameter rather than a choice per load (which cost the scan kernels 30%); KW: the window */
template <typename TX, int KW> struct conv_args {
    const TX *x;
    const float *state, *w, *bias, *dout;
    const uint8_t *reset;
    int ld_x, B, L, E, K;
};

template <typename TX, int KW>
__device__ __forceinline__ float conv_x(const conv_args<TX, KW> &c, size_t i)
{
    return ldf(c.x, i); /* inputs are read-only for a kernel's life */
}

template <typename TX, int KW>
__device__ __forceinline__ int conv_lo(const conv_args<TX, KW> &c, int b, int t)
{
    if (c.reset)
        for (int s = t; s >= 0 && s > t - c.K + 1; s--)
            if (c.reset[(size_t)b * c.L + s])
                return s;
    return c.state ? -(c.K - 1) : 0;
}

/* the input at time tau of (b, e); tau < 0 reads the state [B, E, K-1], oldest first */
template <typename TX, int KW>
__device__ __forceinline__ float conv_in(const conv_args<TX, KW> &c, int b, int tau, int e)
{
    return tau >= 0 ? conv_x(c, ((size_t)b * c.L + tau) * c.ld_x + e)
                    : c.state[((size_t)b * c.E + e) * (c.K - 1) + (c.K - 1 + tau)];
}

/* pre-activation a(b,t,e); xin[k] receives the taps' inputs (0 where cut) */
template <typename TX, int KW>
__device__ __forceinline__ float conv_preact(const conv_args<TX, KW> &c, int b, int t, int e,
                                             float xin[KW])
{
    int lo = conv_lo(c, b, t);
    float a = c.bias ? c.bias[e] : 0.0f;
#pragma unroll
    for (int k = 0; k < KW; k++) {
        int tau = t - (c.K - 1) + k;
        xin[k] = k < c.K && tau >= lo ? conv_in(c, b, tau, e) : 0.0f;
        if (k < c.K)
            a += c.w[(size_t)e * c.K + k] * xin[k];
    }
    return a;
}

/* x(tau) enters the window (newest last); a reset at tau first empties it */
template <typename TX, int KW>
__device__ __forceinline__ void conv_push(const conv_args<TX, KW> &c, int b, int tau, int e,
                                          float win[KW])
{
    const float v = conv_x(c, ((size_t)b * c.L + tau) * c.ld_x + e);
    const bool cut = c.reset && __ldg(c.reset + (size_t)b * c.L + tau);
#pragma unroll
    for (int j = 0; j < KW - 1; j++)
        win[j] = cut ? 0.0f : win[j + 1];
    win[KW - 1] = v;
}

/* window, before the first step of a chunk starting at t0: the state (t0 = 0) or the K-1
 * inputs before t0, pushed in order so that resets among them cut as in lo(t) */
template <typename TX, int KW>
__device__ __forceinline__ void conv_window_start(const conv_args<TX, KW> &c, int b, int t0, int e,
                                                  float win[KW])
{
#pragma unroll
    for (int j = 0; j < KW; j++)
        win[j] = 0.0f;
    if (t0 == 0) { /* position p holds time p - KW, state[j] time j - (K-1) */
        if (c.state)
#pragma unroll
            for (int p = 0; p < KW; p++) {
                int j = p - KW + c.K - 1;
                if (j >= 0)
                    win[p] = c.state[((size_t)b * c.E + e) * (c.K - 1) + j];
            }
        return;
    }
    for (int tau = t0 - (c.K - 1); tau < t0; tau++)
        conv_push(c, b, tau, e, win);
}

template <int KW>
__device__ __forceinline__ float conv_window_dot(const float win[KW], const float wpos[KW])
{
    float a = 0.0f;
#pragma unroll
    for (int j = 0; j < KW; j++)
        a += wpos[j] * win[j];
    return a;
}

/* wpos[KW-K+k] = w[e,k], zeros in front */
template <typename TX, int KW>
__device__ __forceinline__ void conv_weights(const conv_args<TX, KW> &c, int e,
                                             float wpos[KW])
{
#pragma unroll
    for (int j = 0; j < KW; j++) {
        int k = j - (KW - c.K);
        wpos[j] = k >= 0 ? c.w[(size_t)e * c.K + k] : 0.0f;
    }
}

/* One thread's walk over time from t0 (forward and backward): the window, the placed weights
 * and the bias in registers; step(t) takes x(t) in and returns the pre-activation a(t). */
template <int KW> struct conv_walk {
    float win[KW], wpos[KW], bias;
    template <typename TX>
    __device__ __forceinline__ void start(const conv_args<TX, KW> &c, int b, int t0, int e)
    {
        conv_weights(c, e, wpos);
        bias = c.bias ? c.bias[e] : 0.0f;
        conv_window_start(c, b, t0, e, win);
    }
    template <typename TX>
    __device__ __forceinline__ float step(const conv_args<TX, KW> &c, int b, int t, int e)
    {
        conv_push(c, b, t, e, win);
        return bias + conv_window_dot<KW>(win, wpos);
    }
    /* the same with x(t) and its reset flag given (the vector walk loads them) */
    __device__ __forceinline__ float step_value(float v, bool cut)
    {
#pragma unroll
        for (int j = 0; j < KW - 1; j++)
            win[j] = cut ? 0.0f : win[j + 1];
        win[KW - 1] = v;
        return bias + conv_window_dot<KW>(win, wpos);
    }
};

template <typename TX, int KW>
__global__ void conv1d_fwd_kernel(float *out, __nv_bfloat16 *out16, conv_args<TX, KW> c)
{
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= c.E)
        return;
    int b = blockIdx.z, t0 = blockIdx.y * CONV_T, t1 = min(t0 + CONV_T, c.L);
    conv_walk<KW> w;
    w.start(c, b, t0, e);
#pragma unroll 4
    for (int t = t0; t < t1; t++) {
        const float a = w.step(c, b, t, e), v = a * mk_sigmoidf(a);
        const size_t o = ((size_t)b * c.L + t) * c.E + e;
        if (out)
            out[o] = v;
        if (out16)
            out16[o] = __float2bfloat16(v);
    }
}

/* The forward over CONV_V consecutive channels a thread (every row of x, out and out16
 * CONV_V-aligned: conv_vec_ok), so a warp's load of a time step is one 8-byte (bf16) or
 * 16-byte (fp32) vector a lane, 256 or 512 bytes a warp, where the scalar walk moved 64 or 128
 * bytes a load instruction: at 8 x 2048 x 1536 bf16 the scalar forward took 86 us a call
 * against the official causal_conv1d's 27 (ncu, eighth session). The same windows and sums
 * as conv1d_fwd_kernel, CONV_V of them; chunks of CONV_VT steps keep the grid large. */
#define CONV_V 4
#define CONV_VT 32
template <typename TX>
__device__ __forceinline__ void conv_ld_vec(float (&v)[CONV_V], const TX *p)
{
    const float4 t = mk_ld4(p);
    v[0] = t.x, v[1] = t.y, v[2] = t.z, v[3] = t.w;
}

template <typename TX, int KW>
__global__ void conv1d_fwd_vec_kernel(float *out, __nv_bfloat16 *out16, conv_args<TX, KW> c)
{
    const int e0 = (blockIdx.x * blockDim.x + threadIdx.x) * CONV_V;
    if (e0 >= c.E)
        return;
    const int b = blockIdx.z, t0 = blockIdx.y * CONV_VT, t1 = min(t0 + CONV_VT, c.L);
    conv_walk<KW> w[CONV_V];
#pragma unroll
    for (int v = 0; v < CONV_V; v++)
        w[v].start(c, b, t0, e0 + v);
#pragma unroll 4
    for (int t = t0; t < t1; t++) {
        const size_t row = (size_t)b * c.L + t, o = row * c.E + e0;
        float x[CONV_V], y[CONV_V];
        conv_ld_vec(x, c.x + row * c.ld_x + e0);
        const bool cut = c.reset && __ldg(c.reset + row);
#pragma unroll
        for (int v = 0; v < CONV_V; v++) {
            const float a = w[v].step_value(x[v], cut);
            y[v] = a * mk_sigmoidf(a);
        }
        const float4 v4 = make_float4(y[0], y[1], y[2], y[3]);
        if (out)
            mk_st4(out + o, v4);
        if (out16)
            mk_st4(out16 + o, v4);
    }
}

/* MK_CONV_SCALAR=1: the scalar walk everywhere (for the bench) */
static bool conv_scalar_env(void)
{
    static int v = -1;
    if (v < 0)
        v = getenv("MK_CONV_SCALAR") && atoi(getenv("MK_CONV_SCALAR")) ? 1 : 0;
    return v;
}

/* whether the vector walk takes these tensors: E and ld_x multiples of CONV_V, every row
 * start aligned to its vector */
template <typename TX, int KW>
static bool conv_vec_ok(const conv_args<TX, KW> &c, const float *out, const void *out16)
{
    return c.E % CONV_V == 0 && c.ld_x % CONV_V == 0 &&
           (uintptr_t)c.x % (CONV_V * sizeof(TX)) == 0 && (uintptr_t)out % 16 == 0 &&
           (uintptr_t)out16 % 8 == 0 && !conv_scalar_env();
}

/* new state[b,e,j] = input at time L-(K-1)+j, 0 if before lo(L-1) */
template <typename TX, int KW>
__global__ void conv1d_state_kernel(float *state, conv_args<TX, KW> c)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= c.B * c.E)
        return;
    int b = i / c.E, e = i % c.E, lo = conv_lo(c, b, c.L - 1);
    float v[KW];
#pragma unroll
    for (int j = 0; j < KW - 1; j++) {
        int tau = c.L - (c.K - 1) + j;
        v[j] = j < c.K - 1 && tau >= lo ? conv_in(c, b, tau, e) : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < KW - 1; j++)
        if (j < c.K - 1)
            state[(size_t)i * (c.K - 1) + j] = v[j];
}

/* L = 1 with a state (decoding): one thread per (b, e) computes the output from the old
 * window and then shifts the window itself (one launch instead of two). */
template <typename TX, int KW>
__global__ void conv1d_step_kernel(float *out, __nv_bfloat16 *out16, float *state,
                                   conv_args<TX, KW> c)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= c.B * c.E)
        return;
    int b = i / c.E, e = i % c.E, lo = conv_lo(c, b, 0);
    float xin[KW], v[KW];
    float a = conv_preact(c, b, 0, e, xin);
#pragma unroll
    for (int j = 0; j < KW - 1; j++) {
        int tau = 1 - (c.K - 1) + j;
        v[j] = j < c.K - 1 && tau >= lo ? conv_in(c, b, tau, e) : 0.0f;
    }
    if (out)
        out[(size_t)b * c.E + e] = a * mk_sigmoidf(a);
    if (out16)
        out16[(size_t)b * c.E + e] = __float2bfloat16(a * mk_sigmoidf(a));
#pragma unroll
    for (int j = 0; j < KW - 1; j++)
        if (j < c.K - 1)
            state[(size_t)i * (c.K - 1) + j] = v[j];
}

static int conv_k_ok(int K)
{
    if (K >= 1 && K <= CONV_KMAX)
        return 1;
    mk_cuda_record("d_conv out of range", "1 <= K <= CONV_KMAX (8)", __func__, __FILE__,
                   __LINE__);
    return 0;
}

/* run(c) with the arguments in a conv_args of x's type (bf16 when x16 is given) and of a
 * window of 4 inputs when K <= 4 (the model's d_conv), else CONV_KMAX: half the registers and
 * window arithmetic of a walk step */
template <typename F>
static void with_conv_args(const float *x, const uint16_t *x16, const float *state,
                           const float *w, const float *bias, const float *dout,
                           const uint8_t *reset, int ld_x, int B, int L, int E, int K, F run)
{
    typedef __nv_bfloat16 bf16;
    const bf16 *xb = (const bf16 *)x16;
    if (x16 && K <= 4)
        run(conv_args<bf16, 4>{xb, state, w, bias, dout, reset, ld_x, B, L, E, K});
    else if (x16)
        run(conv_args<bf16, CONV_KMAX>{xb, state, w, bias, dout, reset, ld_x, B, L, E, K});
    else if (K <= 4)
        run(conv_args<float, 4>{x, state, w, bias, dout, reset, ld_x, B, L, E, K});
    else
        run(conv_args<float, CONV_KMAX>{x, state, w, bias, dout, reset, ld_x, B, L, E, K});
}

template <typename TX, int KW>
static void conv1d_fwd_run(float *out, __nv_bfloat16 *out16, float *state,
                           const conv_args<TX, KW> &c)
{
    cudaStream_t s = mk_cuda_stream();
    const int B = c.B, L = c.L, E = c.E, K = c.K;
    if (L == 1 && state && K > 1) {
        conv1d_step_kernel<<<mk_cuda_blocks((size_t)B * E, 128), 128, 0, s>>>(
            out, out16, state, c);
        MK_LAUNCH_CHECK();
        return;
    }
    if (conv_vec_ok(c, out, out16) && (L + CONV_VT - 1) / CONV_VT <= 65535) { /* grid.y */
        const int lanes = E / CONV_V;
        const dim3 grid((lanes + CONV_THREADS - 1) / CONV_THREADS, (L + CONV_VT - 1) / CONV_VT, B);
        conv1d_fwd_vec_kernel<<<grid, CONV_THREADS, 0, s>>>(out, out16, c);
    } else {
        const dim3 grid((E + CONV_THREADS - 1) / CONV_THREADS, (L + CONV_T - 1) / CONV_T, B);
        conv1d_fwd_kernel<<<grid, CONV_THREADS, 0, s>>>(out, out16, c);
    }
    MK_LAUNCH_CHECK();
    if (state && K > 1) {
        conv1d_state_kernel<<<mk_cuda_blocks((size_t)B * E, 256), 256, 0, s>>>(
            state, c);
        MK_LAUNCH_CHECK();
    }
}

extern "C" void mk_cuda_conv1d_fwd(float *out, float *state, const float *x, int ld_x,
                                   const float *w, const float *bias, const uint8_t *reset,
                                   int B, int L, int E, int K, uint16_t *out16,
                                   const uint16_t *x16)
{
    if (!conv_k_ok(K) || (size_t)B * L * E == 0)
        return;
    __nv_bfloat16 *o16 = (__nv_bfloat16 *)out16;
    with_conv_args(x, x16, state, w, bias, NULL, reset, ld_x, B, L, E, K,
                   [&](auto c) { conv1d_fwd_run(out, o16, state, c); });
}

/* The backward walk of one chunk (header), one pass, nothing in shared memory: dact(t) for t
 * in [t0, top), the dw/dbias partials part[(b * nch + chunk), e, 0..K] over t < t1, and dx by
 * forward accumulation: dact(t) reaches dx(t - q) through tap K-1-q (weight
 * wpos[KW-1-q]) unless a reset in (t - q, t] cuts it, i.e. for q <= t - (the last reset
 * <= t). P[q] holds the partial dx(t - q); P[KW-1] is complete after step t (every
 * t' >= t - (KW-1) + K - 1 has been added) and is written when it is in [t0, t1); the
 * rest is written after the walk. dx is added, or set without reading the old value
 * (MK_GRAD_SET), or set in bf16 into dx16. */
/* One step t of a channel's backward walk (header), a = the pre-activation at t, dy = dout(t):
 * dact = dy s (1 + a (1 - s)); the dw / dbias sums take it when t is in the chunk (in_chunk);
 * the pending dx window P shifts a step and takes dact w on the taps that reach back no
 * further than the last reset (since: steps since it). Returns P[KW-1] = dx(t - (KW-1)),
 * complete. */
template <int KW>
__device__ __forceinline__ float conv_bwd_step(const conv_walk<KW> &w, float a, float dy,
                                               bool in_chunk, int since, float (&sw)[KW + 1],
                                               float (&P)[KW])
{
    const float s = mk_sigmoidf(a), d = dy * s * (1.0f + a * (1.0f - s));
    if (in_chunk) {
#pragma unroll
        for (int p = 0; p < KW; p++)
            sw[p] += d * w.win[p];
        sw[KW] += d;
    }
#pragma unroll
    for (int q = KW - 1; q > 0; q--)
        P[q] = P[q - 1];
    P[0] = 0.0f;
#pragma unroll
    for (int q = 0; q < KW; q++)
        if (q <= since)
            P[q] += d * w.wpos[KW - 1 - q];
    return P[KW - 1];
}

/* a chunk's dw / dbias partials of one channel: window position p is tap k = p - (KW - K) */
template <int KW1> /* KW + 1 */
__device__ __forceinline__ void conv_put_partials(float *pp, const float (&sw)[KW1], int K)
{
    constexpr int KW = KW1 - 1;
#pragma unroll
    for (int p = 0; p < KW; p++)
        if (p - (KW - K) >= 0)
            pp[p - (KW - K)] = sw[p];
    pp[K] = sw[KW];
}

__device__ __forceinline__ void conv_put_dx(float *dx, __nv_bfloat16 *dx16, bool set, size_t o,
                                            float g)
{
    if (dx16)
        dx16[o] = __float2bfloat16(g);
    else
        dx[o] = set ? g : dx[o] + g;
}

template <typename TX, int KW>
__global__ void __launch_bounds__(CONV_THREADS)
conv1d_bwd_kernel(float *dx, __nv_bfloat16 *dx16, int ld_dx, bool set, float *part,
                  conv_args<TX, KW> c, int nch)
{
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= c.E)
        return;
    int b = blockIdx.z, j = blockIdx.y, t0 = j * CONV_T, t1 = min(t0 + CONV_T, c.L);
    int top = min(t1 + c.K - 1, c.L); /* dact is needed on [t0, top) */
    float sw[KW + 1] = {0}, P[KW] = {0};
    int since = KW; /* steps since the last reset (resets before t0 cut only tau < t0) */
    conv_walk<KW> w;
    w.start(c, b, t0, e);
    const size_t row0 = (size_t)b * c.L;
#pragma unroll 4
    for (int t = t0; t < top; t++) {
        const float a = w.step(c, b, t, e), dy = __ldg(c.dout + (row0 + t) * c.E + e);
        since = c.reset && __ldg(c.reset + row0 + t) ? 0 : min(since + 1, KW);
        const float g = conv_bwd_step(w, a, dy, t < t1, since, sw, P);
        const int tau = t - (KW - 1);
        if (tau >= t0 && tau < t1)
            conv_put_dx(dx, dx16, set, (row0 + tau) * ld_dx + e, g);
    }
#pragma unroll
    for (int q = 0; q < KW - 1; q++) { /* P[q] = dx(top - 1 - q), complete, not written */
        const int tau = top - 1 - q;
        if (tau >= t0 && tau < t1)
            conv_put_dx(dx, dx16, set, (row0 + tau) * ld_dx + e, P[q]);
    }
    conv_put_partials(part + (((size_t)b * nch + j) * c.E + e) * (c.K + 1), sw, c.K);
}

/* The same walk over CONV_V consecutive channels a thread (conv_vec_ok, and dout, dx / dx16
 * rows CONV_V-aligned: conv_bwd_vec_ok): x and dout by 8/16-byte vectors, dx stored so; the
 * chunks stay CONV_T steps, so the dw/dbias partials are those of conv1d_bwd_kernel. The
 * scalar walk took 156 us a call at 8 x 2048 x 1536 (bf16 x, fp32 dout) against the official
 * causal_conv1d backward's 49 (eighth session). */
__device__ __forceinline__ void conv_put_dx_vec(float *dx, __nv_bfloat16 *dx16, bool set, size_t o,
                                                const float (&g)[CONV_V])
{
    float4 v = make_float4(g[0], g[1], g[2], g[3]);
    if (dx16) {
        mk_st4(dx16 + o, v);
        return;
    }
    if (!set) { /* dx is also written here: a plain load, not mk_ld4's __ldg */
        const float4 old = *reinterpret_cast<const float4 *>(dx + o);
        v.x += old.x, v.y += old.y, v.z += old.z, v.w += old.w;
    }
    mk_st4(dx + o, v);
}

template <typename TX, int KW>
__global__ void __launch_bounds__(CONV_THREADS)
conv1d_bwd_vec_kernel(float *dx, __nv_bfloat16 *dx16, int ld_dx, bool set, float *part,
                      conv_args<TX, KW> c, int nch)
{
    const int e0 = (blockIdx.x * blockDim.x + threadIdx.x) * CONV_V;
    if (e0 >= c.E)
        return;
    const int b = blockIdx.z, j = blockIdx.y, t0 = j * CONV_T, t1 = min(t0 + CONV_T, c.L);
    const int top = min(t1 + c.K - 1, c.L); /* dact is needed on [t0, top) */
    float sw[CONV_V][KW + 1] = {}, P[CONV_V][KW] = {};
    int since = KW; /* steps since the last reset (resets before t0 cut only tau < t0) */
    conv_walk<KW> w[CONV_V];
#pragma unroll
    for (int v = 0; v < CONV_V; v++)
        w[v].start(c, b, t0, e0 + v);
    const size_t row0 = (size_t)b * c.L;
#pragma unroll 2
    for (int t = t0; t < top; t++) {
        float x[CONV_V], dy[CONV_V], g[CONV_V];
        conv_ld_vec(x, c.x + (row0 + t) * c.ld_x + e0);
        conv_ld_vec(dy, c.dout + (row0 + t) * c.E + e0);
        const bool cut = c.reset && __ldg(c.reset + row0 + t);
        since = cut ? 0 : min(since + 1, KW);
#pragma unroll
        for (int v = 0; v < CONV_V; v++)
            g[v] = conv_bwd_step(w[v], w[v].step_value(x[v], cut), dy[v], t < t1, since, sw[v],
                                 P[v]);
        const int tau = t - (KW - 1);
        if (tau >= t0 && tau < t1)
            conv_put_dx_vec(dx, dx16, set, (row0 + tau) * ld_dx + e0, g);
    }
#pragma unroll
    for (int q = 0; q < KW - 1; q++) { /* P[.][q] = dx(top - 1 - q), complete, not written */
        const int tau = top - 1 - q;
        float g[CONV_V];
#pragma unroll
        for (int v = 0; v < CONV_V; v++)
            g[v] = P[v][q];
        if (tau >= t0 && tau < t1)
            conv_put_dx_vec(dx, dx16, set, (row0 + tau) * ld_dx + e0, g);
    }
#pragma unroll
    for (int v = 0; v < CONV_V; v++)
        conv_put_partials(part + (((size_t)b * nch + j) * c.E + e0 + v) * (c.K + 1), sw[v], c.K);
}

/* dw [E, K] and dbias [E] from the partials [rows, E, K+1] */
__global__ void conv1d_dw_final_kernel(float *dw, float *dbias, const float *part, int rows,
                                       int E, int K)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= E * (K + 1))
        return;
    int e = i / (K + 1), k = i % (K + 1);
    if (k == K && !dbias)
        return;
    float s = 0.0f;
    for (int r = 0; r < rows; r++)
        s += part[(size_t)r * E * (K + 1) + i];
    if (k < K)
        dw[(size_t)e * K + k] += s;
    else
        dbias[e] += s;
}

template <typename TX, int KW>
static void conv1d_bwd_run(float *dx, __nv_bfloat16 *dx16, int ld_dx, bool set, float *dw,
                           float *dbias, const conv_args<TX, KW> &c)
{
    cudaStream_t s = mk_cuda_stream();
    const int nch = (c.L + CONV_T - 1) / CONV_T, rows = c.B * nch, E = c.E, K = c.K;
    float *part = (float *)mk_cuda_scratch((size_t)rows * E * (K + 1) * sizeof(float));
    if (!part)
        return;
    if (conv_vec_ok(c, NULL, NULL) && ld_dx % CONV_V == 0 && (uintptr_t)c.dout % 16 == 0 &&
        (uintptr_t)dx % 16 == 0 && (uintptr_t)dx16 % 8 == 0) {
        const int lanes = E / CONV_V;
        conv1d_bwd_vec_kernel<<<dim3((lanes + CONV_THREADS - 1) / CONV_THREADS, nch, c.B),
                                CONV_THREADS, 0, s>>>(dx, dx16, ld_dx, set, part, c, nch);
    } else {
        conv1d_bwd_kernel<<<dim3((E + CONV_THREADS - 1) / CONV_THREADS, nch, c.B), CONV_THREADS,
                            0, s>>>(dx, dx16, ld_dx, set, part, c, nch);
    }
    MK_LAUNCH_CHECK();
    conv1d_dw_final_kernel<<<mk_cuda_blocks((size_t)E * (K + 1), 256), 256, 0, s>>>(
        dw, dbias, part, rows, E, K);
    MK_LAUNCH_CHECK();
    mk_cuda_scratch_free(part);
}

extern "C" void mk_cuda_conv1d_bwd(float *dx, int ld_dx, float *dw, float *dbias,
                                   const float *dout, const float *state, const float *x,
                                   int ld_x, const float *w, const float *bias,
                                   const uint8_t *reset, int B, int L, int E, int K,
                                   enum mk_grad_write dx_mode, uint16_t *dx16,
                                   const uint16_t *x16)
{
    if (!conv_k_ok(K) || (size_t)B * L * E == 0)
        return;
    const bool set = dx_mode == MK_GRAD_SET;
    __nv_bfloat16 *d16 = (__nv_bfloat16 *)dx16;
    with_conv_args(x, x16, state, w, bias, dout, reset, ld_x, B, L, E, K,
                   [&](auto c) { conv1d_bwd_run(dx, d16, ld_dx, set, dw, dbias, c); });
}
