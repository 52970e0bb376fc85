/* step_cpu.c — the kernels of the CPU's fast one-token step (contract: step_cpu.h).
 *
 * Decoding one token reads every weight once and does two flops with it: it is bound by memory
 * bandwidth, so what matters is reading each weight byte once, in long sequential streams,
 * with as few bytes per weight as the caller chose (fp32, f16 or 8-bit). The matrix-vector
 * products walk whole rows in order (one stream per thread) and convert 16- and 8-bit weights
 * to fp32 in registers (vcvtph2ps; vpmovsxbd + vcvtdq2ps); sums are always fp32.
 *
 * The AVX2+FMA+F16C versions are compiled with a target attribute and picked at run time
 * (__builtin_cpu_supports), so the library still runs on an x86-64 without AVX2, and on other
 * architectures only the portable C versions exist. The conv and scan steps are plain C with
 * `omp simd`, written as the reference kernels (conv1d_ref.c, scan_ref.c) write one time step,
 * and compiled twice as those are (MK_HOT: baseline and x86-64-v3, chosen by the loader).
 */
#include <math.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include "step_cpu.h"
#include "ref_util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define MK_X86_SIMD 1
#include <immintrin.h>
#define TGT __attribute__((target("avx2,fma,f16c")))
#else
#define MK_X86_SIMD 0
#endif

/* ---- scalar conversions (exact; round to nearest even) ------------------------------------ */

static inline float f16_to_f32(uint16_t h)
{
    const uint32_t shifted_exp = 0x7c00u << 13;
    uint32_t o = (uint32_t)(h & 0x7fff) << 13, e = o & shifted_exp;
    float f;
    o += (uint32_t)(127 - 15) << 23;
    if (e == shifted_exp) { /* inf, NaN */
        o += (uint32_t)(128 - 16) << 23;
    } else if (e == 0) { /* zero, subnormal: renormalise through a float subtraction */
        const uint32_t magic_bits = 113u << 23;
        float magic;
        memcpy(&magic, &magic_bits, sizeof magic);
        o += 1u << 23;
        memcpy(&f, &o, sizeof f);
        f -= magic;
        memcpy(&o, &f, sizeof o);
    }
    o |= (uint32_t)(h & 0x8000) << 16;
    memcpy(&f, &o, sizeof f);
    return f;
}

static inline uint16_t f32_to_f16(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    const uint32_t sign = u & 0x80000000u;
    u ^= sign;
    uint16_t o;
    if (u >= (127u + 16) << 23) { /* >= 65536: inf, NaN */
        o = u > 0x7f800000u ? 0x7e00 : 0x7c00;
    } else if (u < 113u << 23) { /* below 2^-14: subnormal or zero, rounded by a float add */
        const uint32_t magic_bits = ((127u - 15) + (23 - 10) + 1) << 23;
        float f, magic;
        memcpy(&f, &u, sizeof f);
        memcpy(&magic, &magic_bits, sizeof magic);
        f += magic;
        memcpy(&u, &f, sizeof u);
        o = (uint16_t)(u - magic_bits);
    } else { /* normal: rebias, round to nearest even (a carry may reach inf: right) */
        uint32_t odd = (u >> 13) & 1;
        u += ((uint32_t)(15 - 127) << 23) + 0xfff + odd;
        o = (uint16_t)(u >> 13);
    }
    return (uint16_t)(o | (sign >> 16));
}

size_t mk_cpu_pack16(void *dst, const float *src, size_t n, int fmt)
{
    uint16_t *d = dst;
    size_t over = 0;
    for (size_t i = 0; i < n; i++) {
        if (fmt == MK_WFMT_BF16) {
            uint32_t u;
            memcpy(&u, &src[i], sizeof u);
            d[i] = (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((u >> 16) | 0x40)
                                                    : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
        } else {
            d[i] = f32_to_f16(src[i]);
            over += isfinite(src[i]) && (d[i] & 0x7c00) == 0x7c00;
        }
    }
    return over;
}

void mk_cpu_pack_q8(int8_t *q, float *scale, const float *src, int rows, int cols, size_t ld)
{
    const size_t nb = ld / MK_Q8_BLOCK;
    for (int r = 0; r < rows; r++) {
        const float *w = src + (size_t)r * cols;
        for (size_t b = 0; b < nb; b++) {
            int c0 = (int)(b * MK_Q8_BLOCK), c1 = c0 + MK_Q8_BLOCK < cols ? c0 + MK_Q8_BLOCK : cols;
            float amax = 0;
            for (int c = c0; c < c1; c++)
                amax = fmaxf(amax, fabsf(w[c]));
            float s = amax / 127, inv = amax > 0 ? 127 / amax : 0;
            int8_t *qb = q + (size_t)r * ld + c0;
            for (int c = c0; c < c0 + MK_Q8_BLOCK; c++) {
                float v = c < c1 ? w[c] * inv : 0;
                long k = lrintf(v);
                qb[c - c0] = (int8_t)(k > 127 ? 127 : k < -127 ? -127 : k);
            }
            scale[(size_t)r * nb + b] = s;
        }
    }
}

/* ---- dispatch ----------------------------------------------------------------------------- */

static int cpu_has_simd(void)
{
#if MK_X86_SIMD
    static int has = -1;
    if (has < 0) {
        __builtin_cpu_init();
        has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
              __builtin_cpu_supports("f16c");
    }
    return has;
#else
    return 0;
#endif
}

int mk_cpu_simd(void)
{
    const char *e = getenv("MK_CPU_SIMD");
    if (e && !strcmp(e, "0"))
        return 0;
    return cpu_has_simd();
}

/* ---- portable matrix-vector products ------------------------------------------------------ */

static inline float load1(const void *W, size_t i, int fmt)
{
    switch (fmt) {
    case MK_WFMT_F16:
        return f16_to_f32(((const uint16_t *)W)[i]);
    case MK_WFMT_BF16: {
        uint32_t u = (uint32_t)((const uint16_t *)W)[i] << 16;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    default:
        return ((const float *)W)[i];
    }
}

static void gemv_plain(float *y, const struct mk_wmat *W, int r0, int nr, int c0, int n,
                       const float *x)
{
    for (int i = 0; i < nr; i++) {
        const size_t row = (size_t)(r0 + i) * W->ld + c0;
        float acc = 0;
        if (W->fmt == MK_WFMT_Q8) {
            const int8_t *q = (const int8_t *)W->data + row;
            const float *s = W->scale + row / MK_Q8_BLOCK;
            for (int k0 = 0; k0 < n; k0 += MK_Q8_BLOCK) {
                int k1 = k0 + MK_Q8_BLOCK < n ? k0 + MK_Q8_BLOCK : n;
                float part = 0;
                for (int k = k0; k < k1; k++)
                    part += (float)q[k] * x[k];
                acc += part * s[k0 / MK_Q8_BLOCK];
            }
        } else {
            for (int k = 0; k < n; k++)
                acc += load1(W->data, row + k, W->fmt) * x[k];
        }
        y[i] = acc;
    }
}

float mk_cpu_wmat_get(const struct mk_wmat *W, int r, int c)
{
    const size_t i = (size_t)r * W->ld + c;
    if (W->fmt == MK_WFMT_Q8)
        return (float)((const int8_t *)W->data)[i] * W->scale[i / MK_Q8_BLOCK];
    return load1(W->data, i, W->fmt);
}

/* ---- AVX2 matrix-vector products ---------------------------------------------------------- */

#if MK_X86_SIMD
TGT static inline __m256 ld8_f32(const float *p)
{
    return _mm256_loadu_ps(p);
}

TGT static inline __m256 ld8_f16(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

TGT static inline __m256 ld8_bf16(const uint16_t *p)
{
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static inline float ld1_f32(const float *p)
{
    return *p;
}

static inline float ld1_f16(const uint16_t *p)
{
    return f16_to_f32(*p);
}

static inline float ld1_bf16(const uint16_t *p)
{
    return load1(p, 0, MK_WFMT_BF16);
}

TGT static inline float hsum1(__m256 a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* y[i] = W[i, :n] . x for i < nr, W with row stride ld, element type T. One row at a time,
 * so that the rows of a block are read as one sequential stream (a block of whole rows is
 * contiguous): interleaving four rows, each a separate stream of a few KiB, halved the memory
 * bandwidth reached on the 2-core machine. Four accumulators cover the FMA latency. */
#define GEMV_AVX2(NAME, T, LD8, LD1)                                                          \
    TGT static void NAME(float *y, const T *W, size_t ld, int nr, int n, const float *x)    \
    {                                                                                         \
        for (int i = 0; i < nr; i++) {                                                        \
            const T *w = W + (size_t)i * ld;                                                  \
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;                       \
            int k = 0;                                                                        \
            for (; k + 32 <= n; k += 32) {                                                    \
                a0 = _mm256_fmadd_ps(LD8(w + k), _mm256_loadu_ps(x + k), a0);                 \
                a1 = _mm256_fmadd_ps(LD8(w + k + 8), _mm256_loadu_ps(x + k + 8), a1);         \
                a2 = _mm256_fmadd_ps(LD8(w + k + 16), _mm256_loadu_ps(x + k + 16), a2);       \
                a3 = _mm256_fmadd_ps(LD8(w + k + 24), _mm256_loadu_ps(x + k + 24), a3);       \
            }                                                                                 \
            for (; k + 8 <= n; k += 8)                                                        \
                a0 = _mm256_fmadd_ps(LD8(w + k), _mm256_loadu_ps(x + k), a0);                 \
            float t = hsum1(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));     \
            for (; k < n; k++)                                                                \
                t += LD1(w + k) * x[k];                                                       \
            y[i] = t;                                                                         \
        }                                                                                     \
    }

GEMV_AVX2(gemv_f32_avx2, float, ld8_f32, ld1_f32)
GEMV_AVX2(gemv_f16_avx2, uint16_t, ld8_f16, ld1_f16)
GEMV_AVX2(gemv_bf16_avx2, uint16_t, ld8_bf16, ld1_bf16)

/* 32 int8 of one block times x, as 8 partial sums */
TGT static inline __m256 q8_block(const int8_t *q, const float *x)
{
#define Q8(o) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(q + (o)))))
    __m256 p = _mm256_mul_ps(Q8(0), _mm256_loadu_ps(x));
    p = _mm256_fmadd_ps(Q8(8), _mm256_loadu_ps(x + 8), p);
    p = _mm256_fmadd_ps(Q8(16), _mm256_loadu_ps(x + 16), p);
    return _mm256_fmadd_ps(Q8(24), _mm256_loadu_ps(x + 24), p);
#undef Q8
}

/* Q8 with x rounded to int16 per block of 32 (scale max |x| / 32767: a relative error of at
 * most 1.5e-5 of the block's largest |x|, small beside the weights' 8 bits), so that a block
 * is two vpmaddwd on integers and one conversion, instead of four conversions and four FMAs:
 * the fp32 version below ran at ~30 GB/s of weights in cache on 2 cores, under the memory
 * bandwidth. Columns up to Q8_XMAX (x quantised on the stack); wider rows take the fp32
 * version. */
#define Q8_XMAX 8192

TGT static void gemv_q8i_avx2(float *y, const struct mk_wmat *W, int r0, int nr, int c0, int n,
                              const float *x)
{
    const int nb = (n + MK_Q8_BLOCK - 1) / MK_Q8_BLOCK;
    _Alignas(32) int16_t xq[Q8_XMAX];
    float sx[Q8_XMAX / MK_Q8_BLOCK];
    for (int b = 0; b < nb; b++) {
        float xb[MK_Q8_BLOCK] = {0};
        const int k0 = b * MK_Q8_BLOCK, m = n - k0 < MK_Q8_BLOCK ? n - k0 : MK_Q8_BLOCK;
        memcpy(xb, x + k0, (size_t)m * sizeof *xb);
        __m256 v[4], amax = _mm256_setzero_ps();
        const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
        for (int i = 0; i < 4; i++) {
            v[i] = _mm256_loadu_ps(xb + 8 * i);
            amax = _mm256_max_ps(amax, _mm256_and_ps(v[i], abs_mask));
        }
        __m128 a4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        a4 = _mm_max_ps(a4, _mm_movehl_ps(a4, a4));
        a4 = _mm_max_ss(a4, _mm_movehdup_ps(a4));
        const float am = _mm_cvtss_f32(a4);
        sx[b] = am / 32767;
        const __m256 inv = _mm256_set1_ps(am > 0 ? 32767 / am : 0);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_mul_ps(v[0], inv));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_mul_ps(v[1], inv));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_mul_ps(v[2], inv));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_mul_ps(v[3], inv));
        /* packs works per 128-bit lane: put the quarters back in order */
        _mm256_store_si256((__m256i *)(xq + k0),
                           _mm256_permute4x64_epi64(_mm256_packs_epi32(i0, i1), 0xd8));
        _mm256_store_si256((__m256i *)(xq + k0 + 16),
                           _mm256_permute4x64_epi64(_mm256_packs_epi32(i2, i3), 0xd8));
    }
    for (int i = 0; i < nr; i++) {
        const size_t row = (size_t)(r0 + i) * W->ld + c0;
        const int8_t *q = (const int8_t *)W->data + row;
        const float *s = W->scale + row / MK_Q8_BLOCK;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        int b = 0;
        for (; b < nb; b++) {
            const int8_t *qb = q + b * MK_Q8_BLOCK;
            const int16_t *xb = xq + b * MK_Q8_BLOCK;
            __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)qb));
            __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(qb + 16)));
            __m256i p = _mm256_add_epi32(_mm256_madd_epi16(w0, _mm256_load_si256((const __m256i *)xb)),
                                         _mm256_madd_epi16(w1, _mm256_load_si256((const __m256i *)(xb + 16))));
            __m256 sc = _mm256_set1_ps(s[b] * sx[b]);
            if (b & 1)
                a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sc, a1);
            else
                a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), sc, a0);
        }
        y[i] = hsum1(_mm256_add_ps(a0, a1));
    }
}

/* Q8, one row at a time, x in fp32. n may end inside a block only at the end of the row,
 * where the padding is zero; x is read only below n, so that last block takes x from a
 * zero-padded copy. */
TGT static void gemv_q8_avx2(float *y, const struct mk_wmat *W, int r0, int nr, int c0, int n,
                             const float *x)
{
    const int nfull = n / MK_Q8_BLOCK, rest = n - nfull * MK_Q8_BLOCK;
    float xt[MK_Q8_BLOCK] = {0};
    memcpy(xt, x + nfull * MK_Q8_BLOCK, (size_t)rest * sizeof *xt);
    for (int i = 0; i < nr; i++) {
        const size_t row = (size_t)(r0 + i) * W->ld + c0;
        const int8_t *q = (const int8_t *)W->data + row;
        const float *s = W->scale + row / MK_Q8_BLOCK;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0;
        int b = 0;
        for (; b + 2 <= nfull; b += 2) {
            a0 = _mm256_fmadd_ps(q8_block(q + b * MK_Q8_BLOCK, x + b * MK_Q8_BLOCK),
                                 _mm256_broadcast_ss(s + b), a0);
            a1 = _mm256_fmadd_ps(q8_block(q + (b + 1) * MK_Q8_BLOCK, x + (b + 1) * MK_Q8_BLOCK),
                                 _mm256_broadcast_ss(s + b + 1), a1);
        }
        for (; b < nfull; b++)
            a0 = _mm256_fmadd_ps(q8_block(q + b * MK_Q8_BLOCK, x + b * MK_Q8_BLOCK),
                                 _mm256_broadcast_ss(s + b), a0);
        if (rest)
            a1 = _mm256_fmadd_ps(q8_block(q + b * MK_Q8_BLOCK, xt), _mm256_broadcast_ss(s + b), a1);
        y[i] = hsum1(_mm256_add_ps(a0, a1));
    }
}
#endif /* MK_X86_SIMD */

void mk_cpu_gemv(float *y, const struct mk_wmat *W, int r0, int nr, int c0, int n,
                 const float *x, int simd)
{
    if (nr <= 0)
        return;
    if (n <= 0) {
        memset(y, 0, (size_t)nr * sizeof *y);
        return;
    }
#if MK_X86_SIMD
    if (simd) {
        const size_t off = (size_t)r0 * W->ld + c0;
        switch (W->fmt) {
        case MK_WFMT_F32:
            gemv_f32_avx2(y, (const float *)W->data + off, W->ld, nr, n, x);
            return;
        case MK_WFMT_F16:
            gemv_f16_avx2(y, (const uint16_t *)W->data + off, W->ld, nr, n, x);
            return;
        case MK_WFMT_BF16:
            gemv_bf16_avx2(y, (const uint16_t *)W->data + off, W->ld, nr, n, x);
            return;
        case MK_WFMT_Q8:
            if (n <= Q8_XMAX)
                gemv_q8i_avx2(y, W, r0, nr, c0, n, x);
            else
                gemv_q8_avx2(y, W, r0, nr, c0, n, x);
            return;
        }
    }
#else
    (void)simd;
#endif
    gemv_plain(y, W, r0, nr, c0, n, x);
}

/* ---- the per-channel parts of a layer ----------------------------------------------------- */

#define STEP_EB 32     /* channels per chunk (stack arrays) */
#define SCAN_NMAX 1024 /* d_state at most (config.c's MAX_STATE): A on the stack */

MK_HOT void mk_cpu_conv_step(float *u, float *win, const float *x, const float *w,
                             const float *bias, int ne, int K)
{
    float a[STEP_EB];
    for (int i0 = 0; i0 < ne; i0 += STEP_EB) {
        const int nc = ne - i0 < STEP_EB ? ne - i0 : STEP_EB;
        for (int i = 0; i < nc; i++) {
            const int e = i0 + i;
            const float *we = w + (size_t)e * K;
            float *st = win + (size_t)e * (K - 1);
            float s = bias ? bias[e] : 0;
            for (int k = 0; k < K - 1; k++)
                s += we[k] * st[k];
            s += we[K - 1] * x[e];
            for (int k = 0; k + 1 < K - 1; k++)
                st[k] = st[k + 1];
            if (K > 1)
                st[K - 2] = x[e];
            a[i] = s;
        }
#pragma omp simd
        for (int i = 0; i < nc; i++)
            u[i0 + i] = a[i] * mk_sigmoid(a[i]);
    }
}

MK_HOT void mk_cpu_scan_A(float *A, const float *A_log, size_t n)
{
#pragma omp simd
    for (size_t i = 0; i < n; i++)
        A[i] = -mk_vexp(A_log[i]);
}

MK_HOT void mk_cpu_scan_step(float *y, float *h, const float *u, const float *delta,
                             const float *dt_bias, const float *A_log, const float *Ain,
                             const float *Bv, const float *Cv, const float *Dskip, const float *z,
                             int ne, int N)
{
    float dt[STEP_EB], yv[STEP_EB];
    for (int i0 = 0; i0 < ne; i0 += STEP_EB) {
        const int nc = ne - i0 < STEP_EB ? ne - i0 : STEP_EB;
#pragma omp simd
        for (int i = 0; i < nc; i++)
            dt[i] = mk_softplus(delta[i0 + i] + dt_bias[i0 + i]);
        for (int i = 0; i < nc; i++) {
            const int e = i0 + i;
            float *he = h + (size_t)e * N, dte = dt[i], dtu = dt[i] * u[e];
            float Ae[SCAN_NMAX];
            const float *Al = A_log + (size_t)e * N, *Ac = Ae;
            if (Ain)
                Ac = Ain + (size_t)e * N;
            else
                mk_cpu_scan_A(Ae, Al, (size_t)N);
            float acc[MK_LANES] = {0};
            int n = 0;
            for (; n + MK_LANES <= N; n += MK_LANES) {
#pragma omp simd
                for (int j = 0; j < MK_LANES; j++) {
                    float hn = mk_vexp(dte * Ac[n + j]) * he[n + j] + dtu * Bv[n + j];
                    he[n + j] = hn;
                    acc[j] += Cv[n + j] * hn;
                }
            }
            for (; n < N; n++) {
                float hn = mk_vexp(dte * Ac[n]) * he[n] + dtu * Bv[n];
                he[n] = hn;
                acc[0] += Cv[n] * hn;
            }
            yv[i] = mk_lanes_sum(acc) + Dskip[e] * u[e];
        }
        if (z) {
#pragma omp simd
            for (int i = 0; i < nc; i++)
                y[i0 + i] = yv[i] * z[i0 + i] * mk_sigmoid(z[i0 + i]);
        } else {
            memcpy(y + i0, yv, (size_t)nc * sizeof *y);
        }
    }
}

MK_HOT void mk_cpu_add_rmsnorm(float *r, float *normed, const float *a, const float *w, int n,
                               float eps)
{
    float ss = 0;
    if (a) {
#pragma omp simd reduction(+ : ss)
        for (int d = 0; d < n; d++) {
            float v = r[d] + a[d];
            r[d] = v;
            ss += v * v;
        }
    } else {
#pragma omp simd reduction(+ : ss)
        for (int d = 0; d < n; d++)
            ss += r[d] * r[d];
    }
    float rs = 1 / sqrtf(ss / n + eps);
    for (int d = 0; d < n; d++)
        normed[d] = r[d] * rs * w[d];
}

/* ---- barrier ------------------------------------------------------------------------------ */

#define BARRIER_SPIN 4000 /* pause instructions (tens of microseconds) before yielding */

static inline void cpu_relax(void)
{
#if MK_X86_SIMD
    __builtin_ia32_pause();
#endif
}

void mk_cpu_barrier_wait(struct mk_cpu_barrier *b, int nthreads)
{
    if (nthreads <= 1)
        return;
    const unsigned gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
    if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == (unsigned)nthreads) {
        __atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->gen, gen + 1, __ATOMIC_RELEASE);
        return;
    }
    for (unsigned i = 0; __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen; i++) {
        if (i < BARRIER_SPIN)
            cpu_relax();
        else
            sched_yield();
    }
}
