/* conv1d.cu — CUDA causal depthwise conv1d + SiLU (contract: conv1d.h), K <= CONV_KMAX.
 *
 * Reset rule (as conv1d_ref.c): `lo(t)` is the earliest time step t may read — the last reset
 * s <= t, else -(K-1) with a carried state (times -(K-1)..-1 are the state) or 0 without one.
 * Only resets in (t-(K-1), t] can cut a tap, so lo(t) looks back K-1 steps at most.
 *   forward : one thread per (b, t, e): a = bias + sum_{tau >= lo(t)} w[e,k] x[b,tau,e],
 *             tau = t-(K-1)+k; out = SiLU(a). Then one thread per (b, e) writes the new state
 *             (the last K-1 inputs, 0 before lo(L-1)), after every output has read the old one.
 *             L = 1 with a state (decoding): both in one thread per (b, e), one launch.
 *   backward: dact(t) = dout s (1 + a (1 - s)), s = sigmoid(a), a recomputed.
 *             dx: one thread per (b, tau, e) gathers dact(t) w[e,k] over t = tau+(K-1)-k
 *             with tau >= lo(t). dw, dbias: one thread per (b, chunk of CONV_T steps, e) sums
 *             dact(t) x(tau) and dact(t) into partials, added in order by mk_cuda_colsum.
 */
#include "cuda_common.cuh"

#define CONV_KMAX 8
#define CONV_T 64

struct conv_args {
    const float *x, *state, *w, *bias, *dout;
    const uint8_t *reset;
    int ld_x, B, L, E, K;
};

__device__ __forceinline__ int conv_lo(const conv_args &c, int b, int t)
{
    if (c.reset)
        for (int s = t; s >= 0 && s > t - c.K + 1; s--)
            if (c.reset[(size_t)b * c.L + s])
                return s;
    return c.state ? -(c.K - 1) : 0;
}

/* the input at time tau of (b, e); tau < 0 reads the state [B, E, K-1], oldest first */
__device__ __forceinline__ float conv_in(const conv_args &c, int b, int tau, int e)
{
    return tau >= 0 ? c.x[((size_t)b * c.L + tau) * c.ld_x + e]
                    : c.state[((size_t)b * c.E + e) * (c.K - 1) + (c.K - 1 + tau)];
}

/* pre-activation a(b,t,e); xin[k] receives the taps' inputs (0 where cut) */
__device__ __forceinline__ float conv_preact(const conv_args &c, int b, int t, int e,
                                             float xin[CONV_KMAX])
{
    int lo = conv_lo(c, b, t);
    float a = c.bias ? c.bias[e] : 0.0f;
#pragma unroll
    for (int k = 0; k < CONV_KMAX; k++) {
        int tau = t - (c.K - 1) + k;
        xin[k] = k < c.K && tau >= lo ? conv_in(c, b, tau, e) : 0.0f;
        if (k < c.K)
            a += c.w[(size_t)e * c.K + k] * xin[k];
    }
    return a;
}

__device__ __forceinline__ float conv_dact(const conv_args &c, int b, int t, int e,
                                           float xin[CONV_KMAX])
{
    float a = conv_preact(c, b, t, e, xin), s = mk_sigmoidf(a);
    return c.dout[((size_t)b * c.L + t) * c.E + e] * s * (1.0f + a * (1.0f - s));
}

__global__ void conv1d_fwd_kernel(float *out, conv_args c)
{
    size_t n = (size_t)c.B * c.L * c.E;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        int e = (int)(i % c.E);
        size_t bt = i / c.E;
        int t = (int)(bt % c.L), b = (int)(bt / c.L);
        float xin[CONV_KMAX];
        float a = conv_preact(c, b, t, e, xin);
        out[i] = a * mk_sigmoidf(a);
    }
}

/* new state[b,e,j] = input at time L-(K-1)+j, 0 if before lo(L-1) */
__global__ void conv1d_state_kernel(float *state, conv_args c)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= c.B * c.E)
        return;
    int b = i / c.E, e = i % c.E, lo = conv_lo(c, b, c.L - 1);
    float v[CONV_KMAX];
#pragma unroll
    for (int j = 0; j < CONV_KMAX - 1; j++) {
        int tau = c.L - (c.K - 1) + j;
        v[j] = j < c.K - 1 && tau >= lo ? conv_in(c, b, tau, e) : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < CONV_KMAX - 1; j++)
        if (j < c.K - 1)
            state[(size_t)i * (c.K - 1) + j] = v[j];
}

/* L = 1 with a state (decoding): one thread per (b, e) computes the output from the old
 * window and then shifts the window itself (one launch instead of two). */
__global__ void conv1d_step_kernel(float *out, float *state, conv_args c)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= c.B * c.E)
        return;
    int b = i / c.E, e = i % c.E, lo = conv_lo(c, b, 0);
    float xin[CONV_KMAX], v[CONV_KMAX];
    float a = conv_preact(c, b, 0, e, xin);
#pragma unroll
    for (int j = 0; j < CONV_KMAX - 1; j++) {
        int tau = 1 - (c.K - 1) + j;
        v[j] = j < c.K - 1 && tau >= lo ? conv_in(c, b, tau, e) : 0.0f;
    }
    out[(size_t)b * c.E + e] = a * mk_sigmoidf(a);
#pragma unroll
    for (int j = 0; j < CONV_KMAX - 1; j++)
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

extern "C" void mk_cuda_conv1d_fwd(float *out, float *state, const float *x, int ld_x,
                                   const float *w, const float *bias, const uint8_t *reset,
                                   int B, int L, int E, int K)
{
    if (!conv_k_ok(K) || (size_t)B * L * E == 0)
        return;
    conv_args c = {x, state, w, bias, NULL, reset, ld_x, B, L, E, K};
    cudaStream_t s = mk_cuda_stream();
    if (L == 1 && state && K > 1) {
        conv1d_step_kernel<<<mk_cuda_blocks((size_t)B * E, 128), 128, 0, s>>>(out, state, c);
        MK_LAUNCH_CHECK();
        return;
    }
    conv1d_fwd_kernel<<<mk_cuda_blocks((size_t)B * L * E, 256), 256, 0, s>>>(out, c);
    MK_LAUNCH_CHECK();
    if (state && K > 1) {
        conv1d_state_kernel<<<mk_cuda_blocks((size_t)B * E, 256), 256, 0, s>>>(state, c);
        MK_LAUNCH_CHECK();
    }
}

/* dx[b,tau,e] += sum_k dact(tau+(K-1)-k) w[e,k]  over t < L with tau >= lo(t) */
__global__ void conv1d_dx_kernel(float *dx, int ld_dx, conv_args c)
{
    size_t n = (size_t)c.B * c.L * c.E;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        int e = (int)(i % c.E);
        size_t bt = i / c.E;
        int tau = (int)(bt % c.L), b = (int)(bt / c.L);
        float g = 0.0f, xin[CONV_KMAX];
        for (int k = 0; k < c.K; k++) {
            int t = tau + (c.K - 1) - k;
            if (t >= c.L || tau < conv_lo(c, b, t))
                continue;
            g += conv_dact(c, b, t, e, xin) * c.w[(size_t)e * c.K + k];
        }
        dx[bt * ld_dx + e] += g;
    }
}

/* part[(b * nch + j), e, k] = sum_t dact x(tau_k); part[.., e, K] = sum_t dact */
__global__ void conv1d_dw_kernel(float *part, conv_args c, int nch)
{
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= c.E)
        return;
    int j = blockIdx.y, b = blockIdx.z, t0 = j * CONV_T;
    int t1 = t0 + CONV_T < c.L ? t0 + CONV_T : c.L;
    float sw[CONV_KMAX + 1] = {0};
    for (int t = t0; t < t1; t++) {
        float xin[CONV_KMAX];
        float d = conv_dact(c, b, t, e, xin);
#pragma unroll
        for (int k = 0; k < CONV_KMAX; k++)
            sw[k] += d * xin[k];
        sw[CONV_KMAX] += d;
    }
    float *p = part + (((size_t)b * nch + j) * c.E + e) * (c.K + 1);
#pragma unroll
    for (int k = 0; k < CONV_KMAX; k++)
        if (k < c.K)
            p[k] = sw[k];
    p[c.K] = sw[CONV_KMAX];
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

extern "C" void mk_cuda_conv1d_bwd(float *dx, int ld_dx, float *dw, float *dbias,
                                   const float *dout, const float *state, const float *x,
                                   int ld_x, const float *w, const float *bias,
                                   const uint8_t *reset, int B, int L, int E, int K)
{
    if (!conv_k_ok(K) || (size_t)B * L * E == 0)
        return;
    conv_args c = {x, state, w, bias, dout, reset, ld_x, B, L, E, K};
    cudaStream_t s = mk_cuda_stream();
    conv1d_dx_kernel<<<mk_cuda_blocks((size_t)B * L * E, 256), 256, 0, s>>>(dx, ld_dx, c);
    MK_LAUNCH_CHECK();
    int nch = (L + CONV_T - 1) / CONV_T, rows = B * nch;
    float *part = (float *)mk_cuda_scratch((size_t)rows * E * (K + 1) * sizeof(float));
    if (!part)
        return;
    conv1d_dw_kernel<<<dim3((E + 127) / 128, nch, B), 128, 0, s>>>(part, c, nch);
    MK_LAUNCH_CHECK();
    conv1d_dw_final_kernel<<<mk_cuda_blocks((size_t)E * (K + 1), 256), 256, 0, s>>>(
        dw, dbias, part, rows, E, K);
    MK_LAUNCH_CHECK();
    mk_cuda_scratch_free(part);
}
