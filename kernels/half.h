/* half.h — 16-bit floats on the host: exact widening of bf16 and IEEE binary16 to float, and
 * round-to-nearest-even narrowing (NaN kept quiet), as the GPU's conversions round. Shared by
 * the checkpoint code (lib/safetensors.h) and the CPU reference's bf16 outputs (grad_write.h).
 */
#ifndef MK_HALF_H
#define MK_HALF_H
#include <stdint.h>
#include <string.h>

static inline uint32_t mk_f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline float mk_f32_from_bits(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static inline float mk_bf16_to_f32(uint16_t h)
{
    return mk_f32_from_bits((uint32_t)h << 16);
}

/* bf16 is the top half of a float: add 0x7fff plus the lowest kept bit, then truncate, which
 * rounds to nearest with ties to even (and overflows to infinity correctly). A NaN keeps its
 * sign and top payload bits and is made quiet so truncation cannot turn it into infinity. */
static inline uint16_t mk_f32_to_bf16(float x)
{
    uint32_t u = mk_f32_bits(x);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x0040u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. Subnormals are m * 2^-24. */
static inline float mk_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0) {
        float v = (float)m * 0x1p-24f; /* exact: m < 2^10 */
        return sign ? -v : v;
    }
    if (e == 31)
        return mk_f32_from_bits(sign | 0x7f800000u | (m << 13));
    return mk_f32_from_bits(sign | ((e + 112u) << 23) | (m << 13));
}

static inline uint16_t mk_f32_to_f16(float x)
{
    uint32_t u = mk_f32_bits(x), a = u & 0x7fffffffu;
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    if (a > 0x7f800000u) /* NaN: quiet, keep the top payload bits */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* >= 65520 = halfway above the largest half 65504: infinity */
        return (uint16_t)(sign | 0x7c00u);
    if (a >= 0x38800000u) { /* normal half (>= 2^-14): rebias 127 -> 15, round 13 bits away */
        uint32_t r = a - 0x38000000u;
        return (uint16_t)(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
    }
    if (a <= 0x33000000u) /* <= 2^-25, half the smallest subnormal: the tie goes to even 0 */
        return sign;
    /* subnormal: the value in units of 2^-24 is the 24-bit significand shifted right */
    uint32_t m = (a & 0x7fffffu) | 0x800000u;
    int shift = 126 - (int)(a >> 23); /* 14 ... 24 */
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1u), half = 1u << (shift - 1);
    q += rem > half || (rem == half && (q & 1u));
    return (uint16_t)(sign | q);
}

#endif /* MK_HALF_H */
