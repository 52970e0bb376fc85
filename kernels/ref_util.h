/* ref_util.h — private helpers of the CPU reference kernels (*_ref.c); not part of any contract.
 *
 *   mk_vexp(x)           exp without a libm call, so loops over it vectorise (float build);
 *                        plain exp() in the double build
 *   mk_vlog1p(y)         log(1 + y) for y >= 0, likewise (log1p() in the double build)
 *   mk_sigmoid(x)        1 / (1 + exp(-x)) through mk_vexp
 *   mk_softplus(x)       x > 20 ? x : log(1 + exp(x)), the scan's dt (threshold as scan.h)
 *   MK_PAR_MIN           work below which a kernel stays on the calling thread
 *   MK_HOT               on a function: compile it for AVX2+FMA too, picked at load time
 *   MK_LANES, mk_lanes_sum  partial sums kept per SIMD lane and added as a tree: inside
 *                        `omp simd`, `acc[j] += ...` over j < MK_LANES vectorises, where an
 *                        `omp simd reduction` makes GCC finish with a serial loop over a lane
 *                        array (a quarter of the scan's time)
 *   MK_REF(scratch_alloc) malloc for a kernel's scratch; a failure is remembered for this
 *                        thread and reported by the backend's sync() (the kernels return void,
 *                        like CUDA launches, so errors surface at the next sync)
 *   MK_REF(scratch_failed) reads and clears that record
 *   mk_values_of_bf16    an operand given only in bf16 (grad_write.h), as values in scratch
 */
#ifndef MK_REF_UTIL_H
#define MK_REF_UTIL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "half.h"
#include "real.h"

/* Work (about one multiply-add per unit) below which a kernel runs on the calling thread:
 * waking an OpenMP team costs microseconds, more than a decode step's small ops take. */
#define MK_PAR_MIN 32768

/* With GCC on x86-64 (ELF), a hot kernel body is compiled twice, for the x86-64 baseline (SSE2)
 * and for x86-64-v3 (AVX2, FMA), and the dynamic loader picks the one the CPU runs (an ifunc):
 * twice the SIMD width for the exp-bound loops without giving up portable binaries. */
#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__) && !defined(__clang__) && \
    __GNUC__ >= 11
#define MK_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define MK_HOT
#endif

#ifdef MK_REAL_DOUBLE
static inline double mk_vexp(double x)
{
    return exp(x);
}

static inline double mk_vlog1p(double y)
{
    return log1p(y);
}

static inline double mk_softplus(double x)
{
    return x > 20 ? x : log1p(exp(x));
}
#else
/* exp(x) = 2^n exp(r), x = n ln2 + r, |r| <= ln2/2.
 * x is first clamped to [-104, 104] (below, exp underflows to 0; above, it overflows to inf
 * either way; +-inf included) by comparing the bit patterns as integers: a float comparison
 * would be a branch GCC does not if-convert under -ftrapping-math, and the loop would not
 * vectorise. NaN keeps its bits and gives NaN.
 * n = round(x log2 e) by adding 1.5*2^23: the sum's low mantissa bits are then n. r = x - n ln2
 * with ln2 split into a 16-bit head (n ln2_hi is exact) and a tail; exp(r) by its Taylor
 * polynomial to degree 7 (truncation < 6e-9 relative, well under an ulp); 2^n is put into the
 * exponent bits as 2^(n/2) 2^(n-n/2), both normal for |n| <= 150, so subnormal results and
 * overflow come out as IEEE multiplication rounds them. About 1 ulp (tests/test_ops_ref.c
 * measures it). Vectorises inside `#pragma omp simd` loops. */
static inline float mk_vexp(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23, bits 0x4B400000 */
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723212e-6f;
    const uint32_t bits104 = 0x42d00000u, bits_inf = 0x7f800000u;
    uint32_t xb;
    memcpy(&xb, &x, sizeof xb);
    uint32_t ab = xb & 0x7fffffffu;
    xb = (ab > bits104 && ab <= bits_inf) ? (xb & 0x80000000u) | bits104 : xb;
    memcpy(&x, &xb, sizeof x);
    float t = x * 1.44269504088896341f + magic;
    float nf = t - magic;
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    int32_t n = (int32_t)(tb - 0x4B400000u);
    float r = (x - nf * ln2_hi) - nf * ln2_lo;
    float p = 1.0f + r * (1.0f + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 +
              r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    int32_t n1 = n / 2, n2 = n - n1;
    uint32_t b1 = (uint32_t)(n1 + 127) << 23, b2 = (uint32_t)(n2 + 127) << 23;
    float s1, s2;
    memcpy(&s1, &b1, sizeof s1);
    memcpy(&s2, &b2, sizeof s2);
    return p * s1 * s2;
}

/* log(1 + y), y >= 0 (NaN gives NaN). u = 1 + y rounded is split as 2^k m with m in
 * [sqrt(1/2), sqrt(2)) by offsetting its bits (so k rounds up past sqrt(2)); with f = m - 1 and
 * s = f / (2 + f), log m = 2 atanh(s) = 2 (s + s^3/3 + s^5/5 + s^7/7 + s^9/9), |s| <= 0.1716
 * (truncation < 4e-10). The rounding of 1 + y is put back to first order:
 * log(1 + y) = log u + (y - (u - 1)) / u, which keeps log1p's accuracy for tiny y. */
static inline float mk_vlog1p(float y)
{
    const float ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723212e-6f;
    const uint32_t sqrt_half = 0x3f3504f3u; /* bits of sqrt(1/2) */
    float u = 1.0f + y;
    uint32_t ub;
    memcpy(&ub, &u, sizeof ub);
    uint32_t ix = ub + (0x3f800000u - sqrt_half);
    float k = (float)((int32_t)(ix >> 23) - 127);
    uint32_t mb = (ix & 0x007fffffu) + sqrt_half;
    float m;
    memcpy(&m, &mb, sizeof m);
    float f = m - 1.0f, s = f / (2.0f + f), s2 = s * s;
    float logm = 2 * s + 2 * s * s2 * (1.0f / 3 + s2 * (1.0f / 5 + s2 * (1.0f / 7 + s2 * (1.0f / 9))));
    float c = (y - (u - 1.0f)) / u;
    return k * ln2_hi + (logm + (k * ln2_lo + c));
}

/* x > 20 ? x : log1p(exp(x)). The choice is made on bit patterns (as in mk_vexp): as int32,
 * floats above 20 (and NaN) are exactly those with bits above 20's, and the result is blended
 * with a mask; a select GCC could turn back into a branch around the log would stop the
 * vectorisation. */
static inline float mk_softplus(float x)
{
    int32_t xb;
    uint32_t xu, su;
    float sp = mk_vlog1p(mk_vexp(x));
    memcpy(&xb, &x, sizeof xb);
    memcpy(&xu, &x, sizeof xu);
    memcpy(&su, &sp, sizeof su);
    uint32_t big = (uint32_t)0 - (uint32_t)(xb > 0x41a00000);
    uint32_t r = (xu & big) | (su & ~big);
    memcpy(&sp, &r, sizeof sp);
    return sp;
}
#endif

#define MK_LANES 8 /* AVX2 floats; mk_lanes_sum adds exactly 8 */

static inline mk_real mk_lanes_sum(const mk_real *l)
{
    return ((l[0] + l[4]) + (l[1] + l[5])) + ((l[2] + l[6]) + (l[3] + l[7]));
}

static inline mk_real mk_sigmoid(mk_real x)
{
    return 1 / (1 + mk_vexp(-x));
}

void *MK_REF(scratch_alloc)(size_t bytes, const char *op);
/* 1 (and the op name and size of the first failed request) if a scratch allocation failed in
 * this thread since the last call; the record is cleared. */
int MK_REF(scratch_failed)(const char **op, size_t *bytes);

/* The values of a bf16 [rows, cols] tensor with row stride ld, packed [rows, cols] in scratch
 * (NULL on failure, recorded as op's) */
static inline mk_real *mk_values_of_bf16(const uint16_t *x16, size_t rows, int cols, int ld,
                                         const char *op)
{
    mk_real *x = MK_REF(scratch_alloc)(rows * cols * sizeof *x, op);
    for (size_t r = 0; x && r < rows; r++)
        for (int c = 0; c < cols; c++)
            x[r * cols + c] = mk_bf16_to_f32(x16[r * ld + c]);
    return x;
}

#endif /* MK_REF_UTIL_H */
